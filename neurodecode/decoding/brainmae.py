"""BrainMAE as a scikit-learn classifier of fMRI block time courses (registered as ``brainmae``).

Every step that learns from data is fitted in :meth:`BrainMAEClassifier.fit`, i.e. on the training
fold only when it goes through :func:`neurodecode.decoding.cross_validate`:

1. **ROIs**: ``n_rois`` Ward parcels of the training blocks' voxel time series (of the
   unlabelled ``X_pretrain`` windows when given)
   (:class:`sklearn.cluster.FeatureAgglomeration`; spatially contiguous under the voxel grid's
   6-neighbour adjacency when ``ijk``/``grid_shape`` are known); each ROI's signal is the mean of
   its voxels, z-scored with the training statistics.
2. **Windows**: ``window`` TRs cut at ``window_offsets`` inside every block.
3. **BrainMAE** (:class:`~neurodecode.encoders.brainmae.BrainMAE`): masked-autoencoder pretraining
   on every ``window``-TR window (hop ``pretrain_step``) of the training blocks, or of the unlabelled
   ``X_pretrain`` samples when given (e.g. windows over every volume of the training runs, rest
   included: ``cross_validate(..., pretrain=run_windows(bold))``), then the readout:
   ``"finetune"`` (the whole network, early-stopped on ``val_fraction`` of the training blocks),
   ``"probe_roi"`` / ``"probe_mean"`` (logistic regression on the frozen tokens pooled per ROI /
   over everything).

A block's prediction averages the class probabilities of its windows.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ..errors import BadInputError
from .parcels import ParcelMeans, ward_parcels  # noqa: F401 - re-exported

__all__ = ["BrainMAEClassifier", "ward_parcels"]  # ward_parcels lives in .parcels

READOUTS = ("finetune", "probe_roi", "probe_mean")


class BrainMAEClassifier(ClassifierMixin, BaseEstimator):
    """Classify fMRI block time courses ``(n_blocks, n_voxels, n_volumes)`` with BrainMAE.

    Parameters
    ----------
    n_rois : int
        Ward parcels of the training blocks.
    window : int
        TRs per BrainMAE window (a multiple of ``encoder_params["segment_len"]``).
    window_offsets : list of int
        Where the labelled windows start inside a block (TRs); windows must fit in the block.
    pretrain_step : int
        Hop of the pretraining windows inside each training block.
    readout : {"finetune", "probe_roi", "probe_mean"}
    encoder_params : dict, optional
        Size arguments of :class:`~neurodecode.encoders.brainmae.BrainMAE`.
    pretrain_epochs, pretrain_lr, pretrain_warmup_epochs
        Masked-autoencoder pretraining (AdamW, warm-up then cosine decay); ``pretrain_epochs=0``
        skips it (the randomly initialised control).
    finetune_epochs, lr, weight_decay, patience, batch_size, val_fraction
        Fine-tuning (early stopping on ``val_fraction`` of the training blocks).
    probe_C : float
        Inverse regularisation of the probe's logistic regression.
    sfreq : float
        1 / TR.
    ijk, grid_shape : optional
        Voxel grid indices and shape (contiguous parcels).
    random_state : int or None
        Seed of the initialisation, masks, batches and validation split (None: a fresh draw).
    device, threads
    """

    def __init__(self, *, n_rois: int = 48, window: int = 8, window_offsets: tuple[int, ...] = (0, 1),
                 pretrain_step: int = 1, readout: str = "finetune", encoder_params: dict | None = None,
                 pretrain_epochs: int = 10, pretrain_lr: float = 1e-2, pretrain_warmup_epochs: float = 1.0,
                 finetune_epochs: int = 40, lr: float = 1e-3, weight_decay: float = 0.05, patience: int | None = 8,
                 batch_size: int = 64, val_fraction: float = 0.15, probe_C: float = 1.0, sfreq: float = 0.4,
                 ijk: Any = None, grid_shape: Any = None, random_state: int | None = 0, device: str = "auto",
                 threads: int | None = 1) -> None:
        self.n_rois = n_rois
        self.window = window
        self.window_offsets = window_offsets
        self.pretrain_step = pretrain_step
        self.readout = readout
        self.encoder_params = encoder_params
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.pretrain_warmup_epochs = pretrain_warmup_epochs
        self.finetune_epochs = finetune_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.probe_C = probe_C
        self.sfreq = sfreq
        self.ijk = ijk
        self.grid_shape = grid_shape
        self.random_state = random_state
        self.device = device
        self.threads = threads

    # -- helpers -------------------------------------------------------------------------------
    def _rois(self, X: np.ndarray) -> np.ndarray:
        """(n, voxel, T) -> z-scored ROI series (n, roi, T)."""
        roi = self.parcels_.transform(X)
        return ((roi - self.roi_mean_[None, :, None]) / self.roi_std_[None, :, None]).astype(np.float32)

    def _cut(self, R: np.ndarray, offsets: list[int]) -> tuple[np.ndarray, np.ndarray]:
        w = int(self.window)
        wins = np.concatenate([R[:, :, o:o + w] for o in offsets])
        block = np.concatenate([np.arange(len(R))] * len(offsets))
        return np.ascontiguousarray(wins, dtype=np.float32), block

    def _offsets(self, n_times: int) -> list[int]:
        offs = [int(o) for o in self.window_offsets if 0 <= int(o) and int(o) + int(self.window) <= n_times]
        if not offs:
            raise BadInputError(f"no window of {self.window} TRs fits in blocks of {n_times} volumes at offsets "
                                f"{list(self.window_offsets)}; use a shorter window or smaller offsets.")
        return offs

    def _common(self) -> dict[str, Any]:
        return dict(batch_size=int(self.batch_size), weight_decay=float(self.weight_decay), seed=self.seed_,
                    device=self.device, progress=False, amp=False)

    # -- API -----------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, X_pretrain: Any = None, groups: Any = None) -> BrainMAEClassifier:
        """Parcels, scaling, pretraining and the readout from the training data only.

        Parameters
        ----------
        X : array (n_blocks, n_voxels, n_volumes)
            Labelled training blocks.
        y : array (n_blocks,)
        X_pretrain : array (n_samples, n_voxels, n_volumes_pre), optional
            Unlabelled samples of the training side (``n_volumes_pre >= window``): the parcels,
            the ROI scaling and the masked-autoencoder pretraining use them instead of ``X``.
        groups : array (n_blocks,), optional
            Group (run) of each training block: fine-tuning then holds out whole groups for early
            stopping (blocks of one run share its noise, so a random block split flatters the
            validation score).
        """
        import torch

        from .._threads import torch_threads
        from ..encoders.brainmae import BrainMAE
        from ..encoders.estimators import seed_from
        from ..train.trainer import Trainer, seed_everything, train_val_split

        self.seed_ = seed_from(self.random_state)
        if int(self.pretrain_epochs) < 0:
            raise BadInputError(f"pretrain_epochs must be >= 0 (0: no pretraining), got {self.pretrain_epochs}.")
        if self.readout not in READOUTS:
            raise BadInputError(f"readout must be one of {READOUTS}, got {self.readout!r}.")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3:
            raise BadInputError(f"BrainMAE needs block time courses (block, voxel, volume), got shape {X.shape}.")
        self.classes_, yi = np.unique(np.asarray(y), return_inverse=True)
        n, n_vox, n_t = X.shape
        offsets = self._offsets(n_t)
        U = X
        if X_pretrain is not None:
            U = np.asarray(X_pretrain, dtype=np.float32)
            if U.ndim != 3 or U.shape[1] != n_vox or U.shape[2] < int(self.window):
                raise BadInputError(f"X_pretrain must be (sample, {n_vox} voxels, >= {self.window} volumes), got "
                                    f"shape {U.shape}.")
        # 1. ROIs from the training side only
        self.parcels_ = ParcelMeans(int(self.n_rois), self.ijk, self.grid_shape).fit(U)
        self.parcel_ = self.parcels_.parcel_
        roi = self.parcels_.transform(U).transpose(0, 2, 1).reshape(-1, int(self.n_rois))
        self.roi_mean_, self.roi_std_ = roi.mean(axis=0), roi.std(axis=0) + 1e-6
        R = self._rois(X)
        # 2. windows
        pre_offsets = list(range(0, U.shape[2] - int(self.window) + 1, int(self.pretrain_step)))
        x_pre, _ = self._cut(R if X_pretrain is None else self._rois(U), pre_offsets)
        self.n_pretrain_windows_ = len(x_pre)
        x_tr, blk = self._cut(R, offsets)
        y_tr = yi[blk]
        params = dict(self.encoder_params or {})
        with torch_threads(self.threads, "threads"):
            seed_everything(self.seed_)
            model = BrainMAE(int(self.n_rois), int(self.window), float(self.sfreq), self.classes_.size, **params)
            common = self._common()
            self.pretrain_history_ = []
            if int(self.pretrain_epochs) > 0:  # 0: no pretraining (the random-init control)
                pre = Trainer(max_epochs=int(self.pretrain_epochs), lr=float(self.pretrain_lr),
                              warmup_epochs=float(self.pretrain_warmup_epochs), patience=None, drop_last=True,
                              **common).fit(model, (x_pre,), step_fn=lambda m, b: m.pretrain_loss(b))
                self.pretrain_history_ = pre.history
            self.encoder_ = model
            if self.readout == "finetune":
                if groups is not None and len(np.unique(np.asarray(groups))) > 1:
                    g = np.asarray(groups)
                    if g.shape != (n,):
                        raise BadInputError(f"groups must give one group per block ({n}), got shape {g.shape}.")
                    tr_b, va_b = train_val_split(groups=g, val_fraction=float(self.val_fraction), seed=self.seed_)
                else:
                    tr_b, va_b = train_val_split(n, val_fraction=float(self.val_fraction), seed=self.seed_)
                self.val_blocks_ = va_b
                tr_i, va_i = np.flatnonzero(np.isin(blk, tr_b)), np.flatnonzero(np.isin(blk, va_b))
                tuned = copy.deepcopy(model)
                yt = torch.as_tensor(y_tr, dtype=torch.int64)
                ft = Trainer(max_epochs=int(self.finetune_epochs), lr=float(self.lr), patience=self.patience,
                             **common).fit(tuned, (x_tr[tr_i], yt[tr_i]), (x_tr[va_i], yt[va_i]))
                self.model_ = tuned
                self.best_epoch_ = ft.best_epoch
                self.history_ = ft.history
            else:
                from sklearn.linear_model import LogisticRegression
                from sklearn.pipeline import make_pipeline
                from sklearn.preprocessing import StandardScaler

                self.model_ = model
                emb = self._embed(x_tr)
                self.probe_ = make_pipeline(StandardScaler(), LogisticRegression(C=float(self.probe_C), max_iter=5000))
                self.probe_.fit(emb, y_tr)
        return self

    def _embed(self, x: np.ndarray) -> np.ndarray:
        from ..train.trainer import Trainer

        tok = Trainer(**self._common()).predict(self.model_, x, fn=lambda m, b: m.tokens(b))  # (n, R, S, d)
        pool = (1, 2) if self.readout == "probe_mean" else (2,)
        return tok.mean(axis=pool).reshape(len(tok), -1)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities per block (mean over its windows), in the order of ``classes_``."""
        from scipy.special import softmax

        from .._threads import torch_threads
        from ..encoders.estimators import require_fitted
        from ..train.trainer import Trainer

        require_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float32)
        R = self._rois(X)
        x, blk = self._cut(R, self._offsets(X.shape[2]))
        with torch_threads(self.threads, "threads"):
            if self.readout == "finetune":
                p = softmax(Trainer(**self._common()).predict(self.model_, x), axis=1)
            else:
                p = np.zeros((len(x), self.classes_.size))
                p[:, self.probe_.classes_] = self.probe_.predict_proba(self._embed(x))
        out = np.zeros((len(X), p.shape[1]))
        np.add.at(out, blk, p)
        return out / np.bincount(blk, minlength=len(X))[:, None]

    def decision_function(self, X: Any) -> np.ndarray:
        p = self.predict_proba(X)
        return p[:, 1] - p[:, 0] if p.shape[1] == 2 else p

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
