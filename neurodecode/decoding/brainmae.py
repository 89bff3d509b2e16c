"""BrainMAE as a scikit-learn classifier of fMRI block time courses (registered as ``brainmae``).

Every step that learns from data is fitted in :meth:`BrainMAEClassifier.fit`, i.e. on the training
fold only when it goes through :func:`neurodecode.decoding.cross_validate`:

1. **ROIs**: ``n_rois`` Ward parcels of the training blocks' voxel time series
   (:class:`sklearn.cluster.FeatureAgglomeration`; spatially contiguous under the voxel grid's
   6-neighbour adjacency when ``ijk``/``grid_shape`` are known); each ROI's signal is the mean of
   its voxels, z-scored with the training statistics.
2. **Windows**: ``window`` TRs cut at ``window_offsets`` inside every block.
3. **BrainMAE** (:class:`~neurodecode.encoders.brainmae.BrainMAE`): masked-autoencoder pretraining
   on every ``window``-TR window of the training blocks (hop ``pretrain_step``), then the readout:
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

__all__ = ["BrainMAEClassifier", "ward_parcels"]

READOUTS = ("finetune", "probe_roi", "probe_mean")


def ward_parcels(values: np.ndarray, n_rois: int, ijk: np.ndarray | None = None,
                 grid_shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Parcel index (0 .. n_rois - 1) of each voxel: Ward clustering of the voxel time series.

    Parameters
    ----------
    values : array (n_times, n_voxels)
        Time series of the voxels (training data only).
    n_rois : int
    ijk : int array (n_voxels, 3), optional
        Voxel indices on the grid: with ``grid_shape``, parcels are spatially contiguous.
    grid_shape : tuple of 3 int, optional

    Returns
    -------
    numpy.ndarray
        Parcel of each voxel, numbered by increasing mean ``i`` then ``j`` of the parcel's voxels
        (unstructured parcels: by first appearance).
    """
    from sklearn.cluster import FeatureAgglomeration

    n_vox = values.shape[1]
    if not 2 <= n_rois <= n_vox:
        raise BadInputError(f"n_rois must be between 2 and the number of voxels ({n_vox}), got {n_rois}.")
    if ijk is None or grid_shape is None:
        agg = FeatureAgglomeration(n_clusters=int(n_rois), linkage="ward").fit(np.asarray(values, dtype=np.float64))
        _, first = np.unique(agg.labels_, return_index=True)
        relabel = np.empty(int(n_rois), dtype=np.int64)
        relabel[np.argsort(first)] = np.arange(int(n_rois))
        return relabel[agg.labels_]
    from sklearn.feature_extraction.image import grid_to_graph

    ijk = np.asarray(ijk, dtype=np.int64)
    if ijk.shape != (n_vox, 3):
        raise BadInputError(f"ijk must be (n_voxels={n_vox}, 3), got {ijk.shape}.")
    flat = np.ravel_multi_index(tuple(ijk.T), grid_shape)
    if np.unique(flat).size != n_vox:
        raise BadInputError("two voxels share the same i/j/k index; the voxel coords are broken.")
    order = np.argsort(flat)  # grid_to_graph numbers the mask's voxels in C order
    mask = np.zeros(grid_shape, dtype=bool)
    mask[tuple(ijk.T)] = True
    conn = grid_to_graph(*grid_shape, mask=mask)
    agg = FeatureAgglomeration(n_clusters=int(n_rois), connectivity=conn, linkage="ward")
    agg.fit(np.asarray(values, dtype=np.float64)[:, order])
    labels = np.empty(n_vox, dtype=np.int64)
    labels[order] = agg.labels_
    centroid = np.array([ijk[labels == k].mean(axis=0) for k in range(int(n_rois))])
    rank = np.lexsort((centroid[:, 1], centroid[:, 0]))
    relabel = np.empty_like(rank)
    relabel[rank] = np.arange(rank.size)
    return relabel[labels]


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
        Masked-autoencoder pretraining (AdamW, warm-up then cosine decay).
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
        roi = np.einsum("nvt,vr->nrt", X, self.weights_)
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
    def fit(self, X: Any, y: Any) -> BrainMAEClassifier:
        """Parcels, scaling, pretraining and the readout from the training blocks ``X`` only."""
        import torch

        from .._threads import torch_threads
        from ..encoders.brainmae import BrainMAE
        from ..encoders.estimators import seed_from
        from ..train.trainer import Trainer, seed_everything, train_val_split

        self.seed_ = seed_from(self.random_state)
        if self.readout not in READOUTS:
            raise BadInputError(f"readout must be one of {READOUTS}, got {self.readout!r}.")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3:
            raise BadInputError(f"BrainMAE needs block time courses (block, voxel, volume), got shape {X.shape}.")
        self.classes_, yi = np.unique(np.asarray(y), return_inverse=True)
        n, n_vox, n_t = X.shape
        offsets = self._offsets(n_t)
        # 1. ROIs from the training blocks only
        series = X.transpose(0, 2, 1).reshape(-1, n_vox)
        parcel = ward_parcels(series, int(self.n_rois), self.ijk, None if self.grid_shape is None
                              else tuple(int(v) for v in self.grid_shape))
        w = np.zeros((n_vox, int(self.n_rois)), dtype=np.float32)
        w[np.arange(n_vox), parcel] = 1.0
        self.weights_ = w / w.sum(axis=0, keepdims=True)
        self.parcel_ = parcel
        roi = series @ self.weights_
        self.roi_mean_, self.roi_std_ = roi.mean(axis=0), roi.std(axis=0) + 1e-6
        R = self._rois(X)
        # 2. windows
        pre_offsets = list(range(0, n_t - int(self.window) + 1, int(self.pretrain_step)))
        x_pre, _ = self._cut(R, pre_offsets)
        x_tr, blk = self._cut(R, offsets)
        y_tr = yi[blk]
        params = dict(self.encoder_params or {})
        with torch_threads(self.threads, "threads"):
            seed_everything(self.seed_)
            model = BrainMAE(int(self.n_rois), int(self.window), float(self.sfreq), self.classes_.size, **params)
            common = self._common()
            pre = Trainer(max_epochs=int(self.pretrain_epochs), lr=float(self.pretrain_lr),
                          warmup_epochs=float(self.pretrain_warmup_epochs), patience=None, drop_last=True,
                          **common).fit(model, (x_pre,), step_fn=lambda m, b: m.pretrain_loss(b))
            self.pretrain_history_ = pre.history
            self.encoder_ = model
            if self.readout == "finetune":
                tr_b, va_b = train_val_split(n, val_fraction=float(self.val_fraction), seed=self.seed_)
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
