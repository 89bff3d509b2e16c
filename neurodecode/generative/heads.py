"""Heads: map brain embeddings to what a diffusion model is conditioned on.

A head learns ``brain embedding (n, p) -> target`` where the target is either one vector per
image, ``(n, dim)`` (e.g. the CLIP ``image_embeds`` that unCLIP is conditioned on), or a token
sequence per image, ``(n, seq, dim)`` (what a cross-attention UNet reads as
``encoder_hidden_states``). Sequences are flattened to ``seq * dim`` outputs for fitting and
reshaped on prediction.

Two heads share one API::

    head = RidgeHead().fit(brain_train, clip_train)      # closed form, alpha by CV on the training data
    pred = head.predict(brain_test)                      # same trailing shape as the targets
    head.save("out/ridge_head")                          # config.json + weights.safetensors
    head = load_head("out/ridge_head")                   # either kind, from its config

:class:`RidgeHead` is a multi-output ridge regression solved through one SVD per fold; its single
penalty ``alpha`` is chosen by K-fold cross-validation *inside the training data* (group-wise when
``groups`` are given). :class:`MLPHead` is a small torch MLP trained by
:class:`neurodecode.train.trainer.Trainer` with early stopping on a validation part of the
training data.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._deprecate import renamed_params
from .._docs import fill_doc
from ..errors import BadInputError
from ._store import load_folder, save_folder

__all__ = ["RidgeHead", "MLPHead", "load_head", "DEFAULT_ALPHAS"]

#: Ridge penalties tried by default (on z-scored brain features): 1e-2 ... 1e6, half-decade steps.
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 6, 17))


# --------------------------------------------------------------------------- input checks


def _as_float_array(a: Any, name: str) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    arr = np.asarray(a, dtype=np.float64)
    if arr.size and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise BadInputError(f"{name} holds {bad} NaN/inf values; clean or impute them before fitting a head.")
    return arr


def _check_x(brain_emb: Any, n_features: int | None = None) -> np.ndarray:
    X = _as_float_array(brain_emb, "brain_emb")
    if X.ndim != 2:
        raise BadInputError(
            f"brain_emb must be 2-D (n_samples, n_features), got shape {X.shape}; "
            "flatten voxels/channels x time into features first."
        )
    if X.shape[0] == 0:
        raise BadInputError("brain_emb is empty (0 samples); check the selection that produced it.")
    if n_features is not None and X.shape[1] != n_features:
        raise BadInputError(f"brain_emb has {X.shape[1]} features but the head was fitted on {n_features}.")
    return X


def _check_xy(brain_emb: Any, targets: Any, min_samples: int = 2) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    X = _check_x(brain_emb)
    Y = _as_float_array(targets, "targets")
    if Y.ndim not in (2, 3):
        raise BadInputError(
            f"targets must be (n, dim) vectors (e.g. image_embeds) or (n, seq, dim) token sequences, "
            f"got shape {Y.shape}."
        )
    if Y.shape[0] != X.shape[0]:
        raise BadInputError(f"brain_emb has {X.shape[0]} samples but targets has {Y.shape[0]}; they must match.")
    if X.shape[0] < min_samples:
        raise BadInputError(f"need at least {min_samples} training samples, got {X.shape[0]}.")
    shape = tuple(int(s) for s in Y.shape[1:])
    return X, Y.reshape(Y.shape[0], -1), shape


def _standardise_stats(X: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    mean = X.mean(axis=0)
    if not standardize:
        return mean, np.ones_like(mean)
    scale = X.std(axis=0)
    scale[scale < 1e-12 * max(1.0, float(np.abs(mean).max(initial=0.0)))] = 1.0  # constant features stay 0
    return mean, scale


# --------------------------------------------------------------------------- ridge


def _cv_mse(X: np.ndarray, Y: np.ndarray, alphas: np.ndarray, folds, standardize: bool) -> np.ndarray:
    """Validation MSE (mean over samples and outputs) per fold and alpha, one SVD per fold."""
    out = np.zeros((len(folds), alphas.size))
    for f, (tr, va) in enumerate(folds):
        mx, sx = _standardise_stats(X[tr], standardize)
        Xtr, Xva = (X[tr] - mx) / sx, (X[va] - mx) / sx
        my = Y[tr].mean(axis=0)
        R = Y[va] - my  # validation targets, centred with the training mean
        U, s, Vt = np.linalg.svd(Xtr, full_matrices=False)
        A = Xva @ Vt.T  # (n_va, r)
        B = U.T @ (Y[tr] - my)  # (r, k)
        n_va, r = A.shape
        if r < alphas.size * n_va:  # the Gram route costs r*r*k, direct predictions alphas*n_va*r*k
            # ||R - M B||^2 = ||R||^2 - 2 <M, R B^T> + <M G, M> with M = A diag(d), G = B B^T
            RB, G, rr = R @ B.T, B @ B.T, float((R * R).sum())
            for j, a in enumerate(alphas):
                M = A * (s / (s * s + a))
                out[f, j] = (rr - 2.0 * float((M * RB).sum()) + float(((M @ G) * M).sum())) / R.size
        else:
            for j, a in enumerate(alphas):
                P = (A * (s / (s * s + a))) @ B
                out[f, j] = float(((R - P) ** 2).mean())
    return out


class RidgeHead:
    """Multi-output ridge regression from brain embeddings to conditioning targets.

    Parameters
    ----------
    alphas : sequence of float
        Penalties to choose from (on z-scored features when ``standardize``); one value fixes it.
    cv : int
        Number of folds of the cross-validation that picks ``alpha`` on the training data.
    standardize : bool
        z-score the brain features with the training mean and std (inside each CV fold too).
    seed : int
        Seed of the fold shuffle (ignored with ``groups``).

    Attributes
    ----------
    alpha_ : float
        The chosen penalty.
    cv_mse_ : numpy.ndarray
        Mean validation MSE per alpha (over folds; each fold's MSE is a mean over its samples and
        outputs, as scikit-learn's ``neg_mean_squared_error``).
    coef_ : numpy.ndarray
        ``(n_features, n_outputs)`` weights on the standardised features (float32).
    intercept_ : numpy.ndarray
        ``(n_outputs,)`` (float32).
    target_shape_ : tuple of int
        Trailing shape of the targets, ``(dim,)`` or ``(seq, dim)``.

    Notes
    -----
    For each fold the training part is centred (and scaled), decomposed once as ``U S V^T``, and the
    validation error of every alpha follows from the shrunk singular values ``s / (s^2 + alpha)``,
    so trying many alphas costs little more than one. The final fit uses all training samples and
    the chosen alpha. A warning is issued when the chosen alpha is at an end of the grid.
    """

    kind = "ridge_head"

    def __init__(
        self,
        alphas: Sequence[float] | float = DEFAULT_ALPHAS,
        cv: int = 5,
        standardize: bool = True,
        seed: int = 0,
    ) -> None:
        a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
        if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise BadInputError(f"alphas must be positive finite numbers, got {alphas!r}.")
        if int(cv) < 2:
            raise BadInputError(f"cv must be >= 2 folds, got {cv}.")
        self.alphas = [float(x) for x in a]
        self.cv = int(cv)
        self.standardize = bool(standardize)
        self.seed = int(seed)

    def _folds(self, n: int, groups) -> list[tuple[np.ndarray, np.ndarray]]:
        from sklearn.model_selection import GroupKFold, KFold

        if groups is not None:
            g = np.asarray(groups)
            if g.shape[0] != n:
                raise BadInputError(f"groups has {g.shape[0]} entries for {n} samples.")
            n_groups = np.unique(g).size
            if n_groups < self.cv:
                raise BadInputError(f"{n_groups} groups cannot make cv={self.cv} folds; lower cv or pass finer groups.")
            return list(GroupKFold(n_splits=self.cv).split(np.zeros(n), groups=g))
        if n < self.cv:
            raise BadInputError(f"{n} samples cannot make cv={self.cv} folds; lower cv.")
        return list(KFold(n_splits=self.cv, shuffle=True, random_state=self.seed).split(np.zeros(n)))

    def fit(self, brain_emb: Any, targets: Any, groups: Any | None = None) -> RidgeHead:
        """Choose ``alpha`` by CV on these training samples, then fit on all of them.

        Parameters
        ----------
        brain_emb : array (n, p)
            Training brain embeddings.
        targets : array (n, dim) or (n, seq, dim)
            What the diffusion model is conditioned on, for the same images.
        groups : array (n,), optional
            Group per sample (run, session, repeated stimulus); CV folds then hold out whole groups.

        Returns
        -------
        RidgeHead
            ``self``, fitted.
        """
        X, Y, shape = _check_xy(brain_emb, targets)
        alphas = np.asarray(self.alphas)
        if alphas.size > 1:
            mse = _cv_mse(X, Y, alphas, self._folds(X.shape[0], groups), self.standardize).mean(axis=0)
            best = int(np.argmin(mse))
            if best in (0, alphas.size - 1):
                warnings.warn(
                    f"RidgeHead: the chosen alpha {alphas[best]:g} is at an end of the grid "
                    f"[{alphas[0]:g}, {alphas[-1]:g}]; widen `alphas`.",
                    stacklevel=2,
                )
        else:
            mse, best = np.full(1, np.nan), 0
        alpha = float(alphas[best])
        mx, sx = _standardise_stats(X, self.standardize)
        my = Y.mean(axis=0)
        U, s, Vt = np.linalg.svd((X - mx) / sx, full_matrices=False)
        coef = (Vt.T * (s / (s * s + alpha))) @ (U.T @ (Y - my))
        self.alpha_ = alpha
        self.cv_mse_ = np.asarray(mse, dtype=np.float64)
        self.x_mean_ = mx.astype(np.float32)
        self.x_scale_ = sx.astype(np.float32)
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = my.astype(np.float32)
        self.target_shape_ = shape
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise BadInputError("this RidgeHead is not fitted yet; call fit(brain_emb, targets) or load(path).")

    def predict(self, brain_emb: Any) -> np.ndarray:
        """Predicted targets ``(n, *target_shape_)`` (float32) for brain embeddings ``(n, p)``."""
        self._fitted()
        X = _check_x(brain_emb, self.coef_.shape[0]).astype(np.float32)
        out = ((X - self.x_mean_) / self.x_scale_) @ self.coef_ + self.intercept_
        return out.reshape(X.shape[0], *self.target_shape_)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``config.json`` and ``weights.safetensors`` into the folder ``path``."""
        self._fitted()
        config = {
            "kind": self.kind,
            "alphas": self.alphas,
            "cv": self.cv,
            "standardize": self.standardize,
            "seed": self.seed,
            "alpha": self.alpha_,
            "cv_mse": [float(v) for v in self.cv_mse_],
            "n_features": int(self.coef_.shape[0]),
            "target_shape": list(self.target_shape_),
        }
        arrays = {"x_mean": self.x_mean_, "x_scale": self.x_scale_, "coef": self.coef_, "intercept": self.intercept_}
        return save_folder(path, config, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RidgeHead:
        """Read a head written by :meth:`save`."""
        config, arrays = load_folder(path, cls.kind)
        head = cls(alphas=config["alphas"], cv=config["cv"], standardize=config["standardize"], seed=config["seed"])
        head.alpha_ = float(config["alpha"])
        head.cv_mse_ = np.asarray(config["cv_mse"], dtype=np.float64)
        head.x_mean_, head.x_scale_ = arrays["x_mean"], arrays["x_scale"]
        head.coef_, head.intercept_ = arrays["coef"], arrays["intercept"]
        head.target_shape_ = tuple(config["target_shape"])
        return head


# --------------------------------------------------------------------------- MLP


def _build_mlp(in_dim: int, hidden: Sequence[int], out_dim: int, dropout: float):
    import torch.nn as nn

    layers: list[nn.Module] = []
    prev = in_dim
    for h in hidden:
        layers += [nn.Linear(prev, int(h)), nn.GELU(), nn.Dropout(dropout)]
        prev = int(h)
    layers.append(nn.Linear(prev, out_dim))
    return nn.Sequential(*layers)


@fill_doc
class MLPHead:
    """A torch MLP from brain embeddings to conditioning targets, trained with the project Trainer.

    Inputs are z-scored with the training statistics and so are the targets (per output); the
    loss is the MSE on the z-scored targets. A validation part of the *training* data
    (``val_fraction``, whole groups when ``groups`` are given) drives early stopping and the
    choice of the best epoch.

    Parameters
    ----------
    hidden : sequence of int
        Hidden layer widths (Linear -> GELU -> Dropout each); ``()`` gives a linear model.
    dropout : float
        Dropout after each hidden layer.
    max_epochs, batch_size, lr, weight_decay, patience :
        Passed to :class:`neurodecode.train.trainer.TrainConfig` (``epochs``, the old name of
        ``max_epochs``, still works for one release, with a warning).
    val_fraction : float
        Share of the training samples held out for early stopping; 0 trains for ``max_epochs``.
    %(seed)s
    %(device)s
    progress : bool
        Show the trainer's progress bar.
    %(threads)s
        (``num_threads``, the old name, still works for one release, with a warning.)

    Attributes
    ----------
    history_ : list of dict
        The trainer's per-epoch rows (``train_loss``, ``val_loss``, ...).
    best_epoch_ : int
    target_shape_ : tuple of int
    """

    kind = "mlp_head"

    @renamed_params(epochs="max_epochs", num_threads="threads")
    def __init__(
        self,
        hidden: Sequence[int] = (1024,),
        dropout: float = 0.1,
        max_epochs: int = 200,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        val_fraction: float = 0.1,
        patience: int | None = 20,
        seed: int = 0,
        device: str = "auto",
        progress: bool = False,
        threads: int | None = None,
    ) -> None:
        if not 0.0 <= float(dropout) < 1.0:
            raise BadInputError(f"dropout must be in [0, 1), got {dropout}.")
        if not 0.0 <= float(val_fraction) < 1.0:
            raise BadInputError(f"val_fraction must be in [0, 1), got {val_fraction}.")
        if any(int(h) < 1 for h in hidden):
            raise BadInputError(f"hidden widths must be positive, got {tuple(hidden)}.")
        self.hidden = [int(h) for h in hidden]
        self.dropout = float(dropout)
        self.max_epochs = int(max_epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.val_fraction = float(val_fraction)
        self.patience = None if patience is None else int(patience)
        self.seed = int(seed)
        self.device = str(device)
        self.progress = bool(progress)
        self.threads = None if threads is None else int(threads)

    def _config(self) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "dropout": self.dropout,
            "max_epochs": self.max_epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "val_fraction": self.val_fraction,
            "patience": self.patience,
            "seed": self.seed,
            "device": self.device,
            "progress": self.progress,
            "threads": self.threads,
        }

    def _trainer(self):
        from ..train.trainer import TrainConfig, Trainer

        return Trainer(
            TrainConfig(
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                weight_decay=self.weight_decay,
                patience=self.patience,
                seed=self.seed,
                device=self.device,
                progress=self.progress,
                threads=self.threads,
            )
        )

    def fit(self, brain_emb: Any, targets: Any, groups: Any | None = None) -> MLPHead:
        """Train on these samples (a validation part of them drives early stopping).

        Parameters
        ----------
        brain_emb : array (n, p)
        targets : array (n, dim) or (n, seq, dim)
        groups : array (n,), optional
            Group per sample; the validation part then holds out whole groups.

        Returns
        -------
        MLPHead
            ``self``, fitted.
        """
        import torch

        from ..train.trainer import train_val_split

        X, Y, shape = _check_xy(brain_emb, targets)
        mx, sx = _standardise_stats(X, True)
        my, sy = _standardise_stats(Y, True)
        Xz = ((X - mx) / sx).astype(np.float32)
        Yz = ((Y - my) / sy).astype(np.float32)
        val = None
        train = (Xz, Yz)
        if self.val_fraction > 0:
            n = X.shape[0]
            if groups is None and round(self.val_fraction * n) < 1:
                raise BadInputError(
                    f"val_fraction={self.val_fraction} of {n} samples holds out nothing; "
                    "raise it or set val_fraction=0 (and train for a fixed number of epochs)."
                )
            tr, va = train_val_split(n, groups=None if groups is None else np.asarray(groups),
                                     val_fraction=self.val_fraction, seed=self.seed)
            train, val = (Xz[tr], Yz[tr]), (Xz[va], Yz[va])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = _build_mlp(X.shape[1], self.hidden, Y.shape[1], self.dropout)
        result = self._trainer().fit(net, train=train, val=val)
        self.net_ = net.cpu().eval()
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.x_mean_, self.x_scale_ = mx.astype(np.float32), sx.astype(np.float32)
        self.y_mean_, self.y_scale_ = my.astype(np.float32), sy.astype(np.float32)
        self.target_shape_ = shape
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise BadInputError("this MLPHead is not fitted yet; call fit(brain_emb, targets) or load(path).")

    def predict(self, brain_emb: Any, batch_size: int = 1024) -> np.ndarray:
        """Predicted targets ``(n, *target_shape_)`` (float32) for brain embeddings ``(n, p)``."""
        import torch

        self._fitted()
        X = _check_x(brain_emb, self.x_mean_.shape[0])
        Xz = torch.from_numpy(((X - self.x_mean_) / self.x_scale_).astype(np.float32))
        self.net_.eval()
        with torch.no_grad():
            out = torch.cat([self.net_(Xz[i : i + batch_size]) for i in range(0, Xz.shape[0], batch_size)])
        Y = out.numpy() * self.y_scale_ + self.y_mean_
        return Y.reshape(X.shape[0], *self.target_shape_).astype(np.float32)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``config.json`` and ``weights.safetensors`` into the folder ``path``."""
        self._fitted()
        config = {"kind": self.kind, **self._config(), "n_features": int(self.x_mean_.shape[0]),
                  "n_outputs": int(self.y_mean_.shape[0]), "target_shape": list(self.target_shape_),
                  "best_epoch": int(self.best_epoch_),
                  "history": [{k: (v if np.isfinite(v) else None) for k, v in row.items()} for row in self.history_]}
        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        arrays.update(x_mean=self.x_mean_, x_scale=self.x_scale_, y_mean=self.y_mean_, y_scale=self.y_scale_)
        return save_folder(path, config, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MLPHead:
        """Read a head written by :meth:`save`."""
        import torch

        config, arrays = load_folder(path, cls.kind)
        head = cls(**{k: config[k] for k in _init_keys(cls) if k in config})
        net = _build_mlp(config["n_features"], config["hidden"], config["n_outputs"], config["dropout"])
        net.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("net.")})
        head.net_ = net.eval()
        head.history_ = [{k: (float("nan") if v is None else v) for k, v in row.items()} for row in config["history"]]
        head.best_epoch_ = config["best_epoch"]
        head.x_mean_, head.x_scale_ = arrays["x_mean"], arrays["x_scale"]
        head.y_mean_, head.y_scale_ = arrays["y_mean"], arrays["y_scale"]
        head.target_shape_ = tuple(config["target_shape"])
        return head


def _init_keys(cls) -> list[str]:
    """Constructor argument names of a head class (what its saved config must hold)."""
    import inspect

    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


_HEADS = {RidgeHead.kind: RidgeHead, MLPHead.kind: MLPHead}


def load_head(path: str | os.PathLike) -> RidgeHead | MLPHead:
    """Load a head saved by :meth:`RidgeHead.save` or :meth:`MLPHead.save`, whichever it is."""
    import json

    from ._store import CONFIG

    cfg_file = Path(path) / CONFIG
    if not cfg_file.is_file():
        raise BadInputError(f"{path} does not hold a saved head: {CONFIG} is missing.")
    kind = json.loads(cfg_file.read_text(encoding="utf-8")).get("kind")
    if kind not in _HEADS:
        raise BadInputError(f"{path} holds a {kind!r} model, not a head (one of {sorted(_HEADS)}).")
    return _HEADS[kind].load(path)
