"""Scikit-learn wrappers around the torch encoders: ``fit`` / ``predict`` / ``transform``.

:class:`EncoderClassifier` and :class:`EncoderRegressor` build any registered
:class:`~neurodecode.encoders.base.BrainEncoder` for the data they are fitted on, optionally run
its self-supervised ``pretrain_loss`` first, then train it (or only its head) with
:class:`~neurodecode.train.trainer.Trainer`, early-stopping on a validation split taken from the
training data. They clone and cross-validate like any scikit-learn estimator::

    from sklearn.model_selection import cross_val_score
    from neurodecode.encoders.estimators import EncoderClassifier
    from neurodecode.train.splits import ByRun

    clf = EncoderClassifier("rbtransformer", encoder_params={"d_model": 32}, max_epochs=60)
    cross_val_score(clf, epochs, y, cv=ByRun(), groups=runs, scoring="roc_auc")

``X`` is ``(n, n_channels, n_times)``: a numpy array (pass ``sfreq``) or an xarray DataArray whose
dims are ``(sample, channel-like, time)`` (``sfreq`` read from its attrs or ``time`` coord). Inputs
are z-scored per channel with statistics of the training data. ``save(folder)`` writes the encoder
(config + weights) and the wrapper's settings and scaling as JSON; :func:`load_estimator` reads them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.exceptions import NotFittedError as _SkNotFitted

from .._deprecate import renamed_params
from ..errors import BadInputError

__all__ = ["EncoderClassifier", "EncoderRegressor", "load_estimator", "as_array", "NotFittedError",
           "check_classification_target"]


class NotFittedError(BadInputError, _SkNotFitted):
    """``predict``/``transform``/``save`` before ``fit`` (also scikit-learn's ``NotFittedError``)."""


def seed_from(random_state: Any) -> int:
    """The integer seed of a scikit-learn ``random_state``: an int as is, None a fresh draw, a
    ``numpy.random.RandomState`` / ``Generator`` one draw from it."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % (2**31))
    if isinstance(random_state, (bool, np.bool_)):
        raise BadInputError(f"random_state must be an int, None or a numpy random generator, got {random_state!r}.")
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    raise BadInputError(f"random_state must be an int, None or a numpy random generator, got {random_state!r}.")


def require_fitted(est: Any, attr: str) -> None:
    """Raise :class:`NotFittedError` unless ``est`` has the fitted attribute ``attr``."""
    if not hasattr(est, attr):
        raise NotFittedError(f"this {type(est).__name__} is not fitted yet; call fit(X, y) first.")


def check_classification_target(y: Any) -> np.ndarray:
    """``y`` as an array of class labels; refuses continuous targets (they would become one class per value)."""
    from sklearn.utils.multiclass import type_of_target

    if y is None:
        raise BadInputError("this classifier requires y to be passed, but the target y is None.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        import warnings

        from sklearn.exceptions import DataConversionWarning

        warnings.warn("a column-vector y was passed when a 1d array was expected; it is raveled.",
                      DataConversionWarning, stacklevel=3)
        y = y.ravel()
    try:
        kind = type_of_target(y, input_name="y", raise_unknown=True)
    except ValueError as err:
        raise BadInputError(str(err)) from None
    if kind.startswith("continuous"):
        raise BadInputError(
            f"y looks continuous ({np.unique(y).size} distinct non-integer values): a classifier would "
            "treat every value as its own class. Use EncoderRegressor, or bin y into classes first."
        )
    if kind not in ("binary", "multiclass"):
        raise BadInputError(f"y must hold one class label per sample (got a {kind} target).")
    return y


def as_array(X: Any, sfreq: float | None = None) -> tuple[np.ndarray, float | None]:
    """``X`` as a float32 ``(n, channels, times)`` array, and the sampling rate if ``X`` knows it."""
    import scipy.sparse

    if scipy.sparse.issparse(X):
        raise BadInputError("sparse input is not supported: X must be a dense (n_samples, n_channels, n_times) array.")
    if hasattr(X, "dims") and hasattr(X, "values"):
        if X.ndim != 3:
            raise BadInputError(f"X must have 3 dims (sample, channel, time), got dims {X.dims}.")
        own = X.attrs.get("sfreq")
        if own is None and "time" in X.coords and X.sizes.get("time", 0) > 1:
            own = 1.0 / float(np.median(np.diff(np.asarray(X["time"].values, dtype=float))))
        if own is not None and sfreq is not None and not np.isclose(float(own), float(sfreq), rtol=1e-3):
            raise BadInputError(
                f"X is sampled at {float(own):g} Hz but {float(sfreq):g} Hz was expected (the estimator was "
                "fitted at, or told, that rate); resample the data first."
            )
        sfreq = own if own is not None else sfreq
        X = X.values
    if np.iscomplexobj(X):
        raise BadInputError("Complex data not supported: X must hold real numbers (take np.abs or .real first).")
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim != 3:
        raise BadInputError(f"X must be (n_samples, n_channels, n_times), got shape {arr.shape}. Reshape your "
                            "data (e.g. X[:, None, :] for one channel).")
    if arr.shape[0] == 0:
        raise BadInputError("X has no samples; check the selection that produced it.")
    if arr.shape[1] * arr.shape[2] == 0:
        raise BadInputError(f"X has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required "
                            "(no channel or no time point).")
    if not np.all(np.isfinite(arr)):
        bad = int((~np.isfinite(arr)).any(axis=(1, 2)).sum())
        raise BadInputError(f"X holds NaN or inf in {bad} sample(s); drop or interpolate them first.")
    return arr, (float(sfreq) if sfreq is not None else None)


class _EncoderEstimator(BaseEstimator):
    _task = "base"

    @renamed_params(num_threads="threads", seed="random_state")
    def __init__(
        self,
        encoder: str = "rbtransformer",
        *,
        encoder_params: dict | None = None,
        sfreq: float | None = None,
        pretrain_epochs: int = 0,
        pretrain_lr: float = 1e-3,
        finetune: str = "all",
        max_epochs: int = 100,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        warmup_epochs: float = 0.0,
        patience: int | None = 10,
        val_fraction: float = 0.15,
        scale: bool = True,
        random_state: int | None = 0,
        device: str = "auto",
        amp: str | bool = "auto",
        progress: bool = False,
        threads: int | None = None,
        monitor: str = "loss",
    ) -> None:
        self.encoder = encoder
        self.encoder_params = encoder_params
        self.sfreq = sfreq
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.finetune = finetune
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_epochs = warmup_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.scale = scale
        self.random_state = random_state
        self.device = device
        self.amp = amp
        self.progress = progress
        self.threads = threads
        self.monitor = monitor

    @property
    def seed(self) -> int | None:
        """Old name of ``random_state`` (scikit-learn's name on estimators); warns, for one release."""
        from .._deprecate import warn_renamed

        warn_renamed(type(self).__name__, "seed", "random_state")
        return self.random_state

    # -- helpers -------------------------------------------------------------------------------
    def _trainer(self, **kw):
        from ..train.trainer import Trainer, TrainConfig

        cfg = TrainConfig(
            max_epochs=self.max_epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
            warmup_epochs=self.warmup_epochs, patience=self.patience, seed=getattr(self, "random_seed_", 0),
            device=self.device,
            amp=self.amp, progress=self.progress, threads=self.threads,
        )
        return Trainer(cfg, **kw)

    def _prepare(self, X: Any, fitting: bool) -> np.ndarray:
        if not fitting:
            self._check_fitted()
        arr, sf = as_array(X, self.sfreq if fitting else self.sfreq_)
        if fitting:
            if sf is None:
                raise BadInputError("the sampling rate is unknown: pass sfreq= or an xarray with attrs['sfreq'].")
            self.sfreq_ = sf
            self.n_features_in_ = int(arr.shape[1] * arr.shape[2])
            self.n_channels_in_, self.n_times_in_ = int(arr.shape[1]), int(arr.shape[2])
            if self.scale:
                self.mean_ = arr.mean(axis=(0, 2), keepdims=True)[0]
                self.std_ = arr.std(axis=(0, 2), keepdims=True)[0] + 1e-8
        else:
            self._check_fitted()
            if arr.shape[1:] != (self.model_.n_channels, self.model_.n_times):
                raise BadInputError(
                    f"X has {arr.shape[1] * arr.shape[2]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input: X has shape {arr.shape[1:]} per sample but the "
                    f"model was fitted on ({self.model_.n_channels}, {self.model_.n_times})."
                )
            if sf is not None and not np.isclose(sf, self.sfreq_, rtol=1e-3):
                raise BadInputError(f"X is sampled at {sf} Hz but the model was fitted at {self.sfreq_} Hz; resample first.")
        if self.scale:
            arr = (arr - self.mean_) / self.std_
        return arr.astype(np.float32)

    def _check_fitted(self) -> None:
        require_fitted(self, "model_")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def _build(self, n_channels: int, n_times: int, n_outputs: int):
        from .base import encoder_class

        cls = encoder_class(self.encoder)
        return cls(n_channels, n_times, self.sfreq_, n_outputs, **(self.encoder_params or {}))

    def _fit_model(self, X: np.ndarray, y: np.ndarray, n_outputs: int, groups: Any, X_pretrain: Any) -> None:
        import torch

        from ..train.trainer import seed_everything, train_val_split

        self.random_seed_ = seed_from(self.random_state)  # the seed this fit used (random_state=None: drawn)
        seed_everything(self.random_seed_)
        self.model_ = self._build(X.shape[1], X.shape[2], n_outputs)
        self.pretrain_history_ = []
        if self.pretrain_epochs > 0:
            if not hasattr(self.model_, "pretrain_loss"):
                raise BadInputError(f"encoder {self.encoder!r} has no self-supervised objective; set pretrain_epochs=0.")
            Xp = X if X_pretrain is None else np.concatenate([X, self._prepare_extra(X_pretrain)])
            uses_y = getattr(self.model_, "pretrain_uses_labels", False)
            data = (Xp, y) if uses_y and X_pretrain is None else (Xp,)
            res = self._trainer(max_epochs=self.pretrain_epochs, lr=self.pretrain_lr, patience=None,
                                drop_last=True).fit(self.model_, data, step_fn=lambda m, b: m.pretrain_loss(b))
            self.pretrain_history_ = res.history
        params = None
        if self.finetune == "head":
            params = list(self.model_.head.parameters())
        elif self.finetune != "all":
            raise BadInputError(f"finetune must be 'all' or 'head', got {self.finetune!r}.")
        val = None
        tr = np.arange(len(X))
        if self.patience is not None and len(X) >= 10:
            tr, va = train_val_split(len(X), groups=groups, val_fraction=self.val_fraction,
                                     seed=self.random_seed_)
            val = (X[va], y[va])
        score = self._val_score(X[va], y[va]) if val is not None else self._val_score(None, None)
        yt = torch.as_tensor(y)
        res = self._trainer().fit(self.model_, (X[tr], yt[tr]), val, parameters=params, val_score=score)
        self.history_ = res.history
        self.best_epoch_ = res.best_epoch

    #: validation scores early stopping can follow besides the loss: name -> (y_true, outputs) -> float
    _MONITORS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {}

    def _val_score(self, Xv: np.ndarray | None, yv: np.ndarray | None) -> Callable | None:
        """``model -> score`` on the validation part for ``monitor`` (None for the loss)."""
        if self.monitor == "loss":
            return None
        if self.monitor not in self._MONITORS:
            raise BadInputError(f"monitor={self.monitor!r} is not known to {type(self).__name__}; "
                                f"known: {', '.join(['loss', *self._MONITORS])}.")
        if Xv is None:
            return None
        if isinstance(self, ClassifierMixin) and np.unique(yv).size < 2:
            import warnings

            warnings.warn(f"monitor={self.monitor!r}: the validation part holds one class only; early stopping "
                          "follows the validation loss in this fit.", UserWarning, stacklevel=3)
            return None
        metric = self._MONITORS[self.monitor]

        def score(model: Any) -> float:
            import torch

            dev = next(model.parameters()).device
            out = model(torch.as_tensor(Xv, device=dev)).float().cpu().numpy()
            return float(metric(yv, out))

        return score

    def _prepare_extra(self, X: Any) -> np.ndarray:
        arr, _ = as_array(X, self.sfreq_)
        return ((arr - self.mean_) / self.std_).astype(np.float32) if self.scale else arr

    def _outputs(self, X: Any) -> np.ndarray:
        Xa = self._prepare(X, fitting=False)
        return self._trainer().predict(self.model_, Xa)

    def transform(self, X: Any) -> np.ndarray:
        """Embeddings ``(n, embed_dim)`` from the encoder (before the head)."""
        Xa = self._prepare(X, fitting=False)
        return self._trainer().predict(self.model_, Xa, fn=lambda m, x: m.embed(x))

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        """Write the encoder (``encoder/``) and the wrapper settings and scaling (``estimator.json``)."""
        from .._files import write_atomic

        self._check_fitted()
        folder = Path(folder)
        self.model_.save(folder / "encoder")
        state = {"class": type(self).__name__, "params": self.get_params(), "sfreq_": self.sfreq_}
        if self.scale:
            state["mean_"], state["std_"] = self.mean_.tolist(), self.std_.tolist()
        state.update(self._extra_state())
        write_atomic(folder / "estimator.json", json.dumps(state, indent=1))
        return folder

    def _extra_state(self) -> dict[str, Any]:
        return {}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _val_roc_auc(y: np.ndarray, logits: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if logits.shape[1] == 2:
        return float(roc_auc_score(y, logits[:, 1] - logits[:, 0]))
    return float(roc_auc_score(y, _softmax(logits), multi_class="ovr", labels=np.arange(logits.shape[1])))


def _val_accuracy(y: np.ndarray, logits: np.ndarray) -> float:
    return float(np.mean(logits.argmax(axis=1) == y))


def _val_balanced_accuracy(y: np.ndarray, logits: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y, logits.argmax(axis=1)))


def _val_r2(y: np.ndarray, out: np.ndarray) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y.reshape(len(y), -1), out.reshape(len(out), -1)))


class EncoderClassifier(ClassifierMixin, TransformerMixin, _EncoderEstimator):
    """Classify ``(n, channels, times)`` inputs with a neurodecode encoder (see the module docstring).

    Parameters
    ----------
    encoder : str
        Registered encoder name (``"rbtransformer"``, ``"brainmae"``, ``"spike_contrastive"``...).
    encoder_params : dict, optional
        Size arguments of the encoder.
    sfreq : float, optional
        Sampling rate of numpy inputs (read from xarray inputs).
    pretrain_epochs : int
        Epochs of the encoder's self-supervised objective before supervised training.
    finetune : {"all", "head"}
        Train every parameter, or only the head (a linear probe of the pretrained encoder).
    max_epochs, batch_size, lr, weight_decay, warmup_epochs, patience, device, amp, progress, threads
        Passed to :class:`~neurodecode.train.trainer.TrainConfig` (``num_threads``, the old name of
        ``threads``, still works for one release, with a warning).
    random_state : int or None
        Seed of the weight initialisation, the batches and the validation split (scikit-learn's
        name on estimators; ``seed``, the old name, still works for one release, with a warning).
        None draws a fresh seed at each ``fit``.
    val_fraction : float
        Part of the training data (whole ``groups`` when given to ``fit``) held out for early stopping.
    scale : bool
        Z-score each channel with the training mean and standard deviation.
    monitor : {"loss", "roc_auc", "accuracy", "balanced_accuracy"}
        What early stopping and the kept weights follow on the validation part: the loss, or a
        score (ROC AUC: one-vs-rest over classes when there are more than two). A validation part
        with one class falls back to the loss, with a warning.
    """

    _MONITORS = {"roc_auc": _val_roc_auc, "accuracy": _val_accuracy, "balanced_accuracy": _val_balanced_accuracy}

    def fit(self, X: Any, y: Any, groups: Any = None, X_pretrain: Any = None) -> EncoderClassifier:
        """Fit on ``X`` and labels ``y``; ``groups`` (runs/trials) shape the validation split."""
        Xa = self._prepare(X, fitting=True)
        y = check_classification_target(y)
        if y.shape != (Xa.shape[0],):
            raise BadInputError(f"y must have one label per sample: shape ({Xa.shape[0]},), got {y.shape}.")
        self.classes_, yi = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise BadInputError(f"only one class ({self.classes_[0]!r}) in y; a classifier needs at least two.")
        self._fit_model(Xa, yi.astype(np.int64), self.classes_.size, groups, X_pretrain)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` in the order of ``classes_``."""
        logits = self._outputs(X)
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits; for two classes the logit difference of the second class (what ROC AUC scoring uses)."""
        logits = self._outputs(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels."""
        logits = self._outputs(X)
        return self.classes_[logits.argmax(axis=1)]

    def _extra_state(self) -> dict[str, Any]:
        return {"classes_": self.classes_.tolist()}


class EncoderRegressor(RegressorMixin, TransformerMixin, _EncoderEstimator):
    """Regress continuous targets (e.g. hand velocity) from ``(n, channels, times)`` inputs.

    Targets are z-scored with training statistics and predicted back in their units. Parameters as
    :class:`EncoderClassifier`; ``monitor`` is ``"loss"`` or ``"r2"`` (the validation R², mean over
    targets).
    """

    _MONITORS = {"r2": _val_r2}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may be (n, n_targets)
        return tags

    def fit(self, X: Any, y: Any, groups: Any = None, X_pretrain: Any = None) -> EncoderRegressor:
        """Fit on ``X`` and targets ``y`` of shape (n,) or (n, n_targets)."""
        if y is None:
            raise BadInputError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        Xa = self._prepare(X, fitting=True)
        y = np.asarray(y, dtype=np.float32)
        if y.shape[0] != Xa.shape[0] or y.ndim not in (1, 2):
            raise BadInputError(f"y must be (n,) or (n, n_targets) with n={Xa.shape[0]}, got {y.shape}.")
        if not np.all(np.isfinite(y)):
            raise BadInputError("y holds NaN or inf; drop those samples first.")
        self.y_ndim_ = y.ndim
        y2 = y.reshape(len(y), -1)
        self.y_mean_, self.y_std_ = y2.mean(axis=0), y2.std(axis=0) + 1e-8
        self._fit_model(Xa, ((y2 - self.y_mean_) / self.y_std_).astype(np.float32), y2.shape[1], groups, X_pretrain)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets in the units of ``y``."""
        out = (self._outputs(X) * self.y_std_ + self.y_mean_).astype(np.float64)
        return out[:, 0] if self.y_ndim_ == 1 else out

    def _extra_state(self) -> dict[str, Any]:
        return {"y_mean_": self.y_mean_.tolist(), "y_std_": self.y_std_.tolist(), "y_ndim_": self.y_ndim_}


def load_estimator(folder: str | os.PathLike) -> EncoderClassifier | EncoderRegressor:
    """Read an estimator written by ``save`` (encoder config + weights, settings and scaling as JSON)."""
    from .base import load_encoder

    folder = Path(folder)
    path = folder / "estimator.json"
    if not path.is_file():
        raise BadInputError(f"{path} is missing; is {folder} a folder written by EncoderClassifier.save?")
    state = json.loads(path.read_text())
    cls = {"EncoderClassifier": EncoderClassifier, "EncoderRegressor": EncoderRegressor}[state["class"]]
    est = cls(**state["params"])
    est.model_ = load_encoder(folder / "encoder")
    est.sfreq_ = state["sfreq_"]
    est.n_channels_in_, est.n_times_in_ = int(est.model_.n_channels), int(est.model_.n_times)
    est.n_features_in_ = est.n_channels_in_ * est.n_times_in_
    if "mean_" in state:
        est.mean_ = np.asarray(state["mean_"], dtype=np.float32)
        est.std_ = np.asarray(state["std_"], dtype=np.float32)
    if "classes_" in state:
        est.classes_ = np.asarray(state["classes_"])
    if "y_mean_" in state:
        est.y_mean_ = np.asarray(state["y_mean_"], dtype=np.float32)
        est.y_std_ = np.asarray(state["y_std_"], dtype=np.float32)
        est.y_ndim_ = state["y_ndim_"]
    return est
