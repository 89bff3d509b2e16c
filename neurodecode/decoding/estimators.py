"""The registry of named decoding estimators.

Each entry is a factory ``fn(ctx) -> estimator`` that builds a fresh, unfitted scikit-learn
estimator for the data at hand (:class:`EstimatorContext`: the task, the sampling rate, the
input shape). Every step that learns from data (scalers, screening, PCA, spatial filters,
covariance estimators) sits inside the returned :class:`~sklearn.pipeline.Pipeline`, so it is
fitted on the training fold only when the estimator goes through cross-validation.

Inputs are numpy arrays with the samples on the first axis: ``(trial, channel, time)`` for
epochs, ``(sample, feature)`` for responses or binned spikes. ``estimator`` arguments across
:mod:`neurodecode.decoding` accept a registered name or any scikit-learn estimator
(:func:`make_estimator`).

Registered names (``neurodecode.decoding.list_estimators()``):

``logreg``        waveform (time-binned to <= 512 features) -> standardise -> L2 logistic regression (classification)
``lda``           waveform (time-binned to <= 512 features) -> shrinkage LDA (Ledoit-Wolf, ``lsqr``) (classification)
``bde_logreg``    band differential entropy per channel and band -> logistic regression
``xdawn_ts``      pyriemann xDAWN covariances -> tangent space -> logistic regression (ERP)
``ts_logreg``     pyriemann OAS covariances -> tangent space -> logistic regression (band power)
``csp_lda``       MNE CSP (4 log-variance components) -> LDA (band power)
``svm_anova``     standardise -> in-fold ANOVA screening (best 500 features) -> LinearSVC
``ridge``         standardise -> ridge with efficient LOO choice of alpha (Wiener filter on lagged
                  inputs; RidgeClassifierCV for classes)
``pca_knn``       standardise -> PCA (20 components) -> k nearest neighbours (k=10)
``eegnet``        the EEGNet-style compact CNN (:mod:`neurodecode.encoders.eegnet`)
``erp_logreg``    post-stimulus ERP block means (optional baseline) -> standardise -> logistic regression,
                  baseline and C chosen by an inner contiguous K-fold of the training fold
``rbtransformer`` the RBTransformer (band-DE, waveform or both as tokens per electrode, attention across
                  electrodes; early stopping on the validation ROC AUC)
``brainmae``      Ward parcels of the training fold -> BrainMAE (masked-autoencoder pretraining on the
                  training windows, then fine-tuning or a linear probe of the frozen tokens)
``spike_contrastive``  the contrastive spike encoder (CEBRA-like) with a kNN or ridge head (continuous targets)

Configurations take settings: pass ``{"estimator": name, **params}`` instead of a name (e.g.
``{"estimator": "rbtransformer", "max_epochs": 5}``); the factory's keyword arguments are the
settings it accepts (:func:`estimator_params`).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin

from ..errors import BadInputError

__all__ = [
    "EstimatorContext",
    "EstimatorSpec",
    "ESTIMATORS",
    "register_estimator",
    "list_estimators",
    "make_estimator",
    "Flatten",
    "TimeBins",
    "BandDE",
    "ErpBlocks",
    "LastBins",
    "TimeMean",
    "RidgeBlockCV",
    "estimator_params",
    "is_permutable",
]

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class EstimatorContext:
    """What a factory may need to know about the data.

    Attributes
    ----------
    task : {"classification", "regression"}
    sfreq : float or None
        Sampling rate of the time axis (epochs), None for 2-D features.
    shape : tuple of int
        Shape of one sample (``(n_channels, n_times)`` or ``(n_features,)``).
    n_samples : int
        Number of samples available for training (an upper bound for a fold).
    seed : int
    times : tuple of float or None
        The time axis of epochs (s), None when unknown.
    feature_coords : dict or None
        Coords along the first feature dim (e.g. the voxels' ``i``/``j``/``k``), name -> values.
    attrs : dict or None
        The data's attrs (e.g. ``shape`` of a voxel grid).
    """

    task: str
    sfreq: float | None = None
    shape: tuple[int, ...] = ()
    n_samples: int = 0
    seed: int = 0
    times: tuple[float, ...] | None = None
    feature_coords: Mapping[str, Any] | None = None
    attrs: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered estimator: its factory and what it accepts."""

    name: str
    factory: Callable[[EstimatorContext], Any]
    tasks: tuple[str, ...]
    ndims: tuple[int, ...]
    description: str
    permutable: bool = True  # cheap enough for a permutation null by default
    extras: dict[str, Any] = field(default_factory=dict)
    fit_groups: bool = False  # cross_validate hands fit(groups=) the training samples' CV groups


#: name -> :class:`EstimatorSpec`
ESTIMATORS: dict[str, EstimatorSpec] = {}


def register_estimator(name: str, *, tasks: tuple[str, ...] = TASKS, ndims: tuple[int, ...] = (1, 2),
                       description: str = "", permutable: bool = True, fit_groups: bool = False):
    """Decorator registering ``factory(ctx) -> estimator`` under ``name``.

    Parameters
    ----------
    name : str
    tasks : tuple of str
        The tasks it handles (``classification``, ``regression``).
    ndims : tuple of int
        Sample dimensionalities it takes: 1 (feature vectors), 2 (channel x time).
    description : str
    permutable : bool
        Whether a permutation null is computed by default (False for slow, e.g. deep, models).
    fit_groups : bool
        With a grouped cv, :func:`~neurodecode.decoding.cross_validate` passes the training
        samples' groups (runs...) to ``fit(..., groups=)``, e.g. to hold out whole runs for early
        stopping. Off by default: with two or three training runs a whole-run validation part
        takes a third to half of the training data.
    """

    def deco(factory: Callable[[EstimatorContext], Any]):
        if name in ESTIMATORS:
            raise BadInputError(f"an estimator called {name!r} is already registered.")
        ESTIMATORS[name] = EstimatorSpec(name, factory, tuple(tasks), tuple(ndims), description, permutable,
                                         fit_groups=bool(fit_groups))
        return factory

    return deco


def list_estimators(task: str | None = None, ndim: int | None = None) -> list[str]:
    """Registered estimator names, optionally only those handling ``task`` / sample ``ndim``."""
    return sorted(n for n, s in ESTIMATORS.items()
                  if (task is None or task in s.tasks) and (ndim is None or ndim in s.ndims))


def get_spec(name: str) -> EstimatorSpec:
    """The :class:`EstimatorSpec` registered as ``name`` (error listing the known names otherwise)."""
    if name not in ESTIMATORS:
        close = difflib.get_close_matches(name, ESTIMATORS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise BadInputError(f"unknown estimator {name!r}.{hint} Registered estimators: {sorted(ESTIMATORS)}; "
                            "or pass any scikit-learn estimator.")
    return ESTIMATORS[name]


def _split_config(estimator: Any) -> tuple[Any, dict[str, Any]]:
    """``{"estimator": name, **params}`` -> (name, params); anything else -> (itself, {})."""
    if isinstance(estimator, Mapping):
        cfg = dict(estimator)
        if "estimator" not in cfg or not isinstance(cfg["estimator"], str):
            raise BadInputError(f"an estimator configuration needs a key 'estimator' naming a registered estimator "
                                f"({sorted(ESTIMATORS)}), got keys {sorted(cfg)}.")
        return cfg.pop("estimator"), cfg
    return estimator, {}


def estimator_params(name: str) -> list[str] | None:
    """The settings a registered estimator accepts (keyword arguments of its factory); None when
    the factory passes any setting on to the estimator class (which checks them)."""
    params = _factory_params(get_spec(name).factory)
    return None if params is None else list(params)


@functools.lru_cache(maxsize=None)
def _factory_params(factory: Callable[..., Any]) -> tuple[str, ...] | None:
    """The keyword arguments of ``factory`` after the context (None with ``**kwargs``), inspected once per factory."""
    import inspect

    sig = inspect.signature(factory)
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return tuple(p for p in list(sig.parameters)[1:] if sig.parameters[p].kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD))


def takes_groups(estimator: Any) -> bool:
    """Whether ``estimator`` is registered with ``fit_groups`` (its fit gets the training CV groups)."""
    name, _ = _split_config(estimator)
    return isinstance(name, str) and name in ESTIMATORS and ESTIMATORS[name].fit_groups


def is_permutable(estimator: Any) -> bool:
    """Whether a permutation null is computed by default (False for slow registered models)."""
    name, _ = _split_config(estimator)
    return not (isinstance(name, str) and name in ESTIMATORS and not ESTIMATORS[name].permutable)


def make_estimator(estimator: Any, ctx: EstimatorContext) -> Any:
    """A fresh unfitted estimator: built from a registered name (or ``{"estimator": name, **params}``),
    or cloned from a scikit-learn one.

    Raises
    ------
    BadInputError
        Unknown name or setting, a name that does not handle ``ctx.task`` or this input shape, or
        an object that is not a scikit-learn estimator.
    """
    from sklearn.base import clone

    estimator, params = _split_config(estimator)
    if isinstance(estimator, str):
        spec = get_spec(estimator)
        if ctx.task not in spec.tasks:
            raise BadInputError(
                f"estimator {estimator!r} does not do {ctx.task}; estimators for {ctx.task}: "
                f"{list_estimators(ctx.task)}."
            )
        if len(ctx.shape) not in spec.ndims:
            kind = "channel x time epochs" if len(ctx.shape) == 2 else "feature vectors"
            raise BadInputError(
                f"estimator {estimator!r} does not take {kind} (sample shape {ctx.shape}); estimators that do: "
                f"{list_estimators(ctx.task, len(ctx.shape))}."
            )
        known = estimator_params(estimator)
        unknown = sorted(set(params) - set(known or params))
        if unknown:
            raise BadInputError(f"estimator {estimator!r}: unknown setting(s) {unknown}; it accepts {known}.")
        try:
            return spec.factory(ctx, **params)
        except TypeError as err:
            raise BadInputError(f"estimator {estimator!r}: bad setting(s) {sorted(params)}: {err}") from err
    if not (hasattr(estimator, "fit") and hasattr(estimator, "get_params")):
        raise BadInputError(
            f"estimator must be a registered name ({sorted(ESTIMATORS)}) or a scikit-learn estimator, "
            f"got {type(estimator).__name__}."
        )
    return clone(estimator)


# --------------------------------------------------------------------------- transformers


def _flatten(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    return X.reshape(X.shape[0], -1)


def Flatten():  # noqa: N802 - reads like a class in a Pipeline
    """A stateless transformer ``(n, ...) -> (n, prod(...))``."""
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(_flatten)


def _bin_means(X: np.ndarray, n_bins: int) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[-1] <= n_bins:
        return X.reshape(X.shape[0], -1)
    edges = np.linspace(0, X.shape[-1], n_bins + 1).round().astype(int)
    out = np.add.reduceat(X, edges[:-1], axis=-1) / np.diff(edges)
    return out.reshape(X.shape[0], -1)


class TimeBins(TransformerMixin, BaseEstimator):
    """Stateless transformer: mean of each channel over ``n_bins`` contiguous time blocks, flattened.

    Keeps waveform models at ``n_channels * n_bins`` features (about ``max_features`` when
    ``n_bins`` is None), so that a covariance over the features stays small.
    """

    def __init__(self, n_bins: int | None = None, max_features: int = 512):
        self.n_bins = n_bins
        self.max_features = max_features

    def fit(self, X: Any, y: Any = None) -> TimeBins:
        return self

    def transform(self, X: Any) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 3:
            return X.reshape(X.shape[0], -1)
        n_bins = self.n_bins or max(1, self.max_features // X.shape[1])
        return _bin_means(X, n_bins)


class BandDE(TransformerMixin, BaseEstimator):
    """Stateless transformer: band differential entropy of every channel (``encoders.bde.band_de``).

    Parameters
    ----------
    sfreq : float
    bands : dict, optional
        Band name -> (lo, hi) Hz; default the bands of :func:`neurodecode.encoders.bde.band_de`
        that lie below Nyquist.
    n_windows : int, optional
        Split each epoch into this many sub-windows and compute the DE of each with the FFT
        (:func:`neurodecode.encoders.rbtransformer.band_de_windows`: the numbers the RBTransformer's
        fixed BDE layer computes). None: one window, :func:`~neurodecode.encoders.bde.band_de`'s
        default method.
    """

    def __init__(self, sfreq: float, bands: Mapping[str, tuple[float, float]] | None = None,
                 n_windows: int | None = None):
        self.sfreq = sfreq
        self.bands = bands
        self.n_windows = n_windows

    def fit(self, X: Any, y: Any = None) -> BandDE:
        return self

    def _bands(self) -> dict[str, tuple[float, float]]:
        from ..encoders.bde import DEFAULT_BANDS

        if self.bands is not None:
            return dict(self.bands)
        nyq = self.sfreq / 2.0
        return {k: (lo, min(hi, 0.95 * nyq)) for k, (lo, hi) in DEFAULT_BANDS.items() if lo < 0.9 * nyq}

    def transform(self, X: Any) -> np.ndarray:
        from ..encoders.bde import band_de

        if self.n_windows is not None:
            from ..encoders.rbtransformer import band_de_windows

            de = band_de_windows(np.asarray(X, dtype=float), self.sfreq, self._bands(), int(self.n_windows))
            return de.reshape(de.shape[0], -1)
        de = band_de(np.asarray(X, dtype=float), self.sfreq, self._bands())
        return de.reshape(de.shape[0], -1)


class ErpBlocks(TransformerMixin, BaseEstimator):
    """Stateless transformer: ERP features, block means of ``decim`` samples in ``tmin..tmax``.

    With ``baseline=(b0, b1)`` each trial and channel first has its mean over ``b0..b1`` s
    subtracted (per trial, label-free). The last block may hold fewer samples.

    Parameters
    ----------
    times : sequence of float
        The epochs' time axis (s).
    tmin, tmax : float or None
        Window kept (None: the epoch's start / end).
    decim : int
        Samples per block.
    baseline : (float or None, float or None) or None
    """

    def __init__(self, times: Any, tmin: float | None = 0.0, tmax: float | None = None, decim: int = 8,
                 baseline: Any = None):
        self.times = times
        self.tmin = tmin
        self.tmax = tmax
        self.decim = decim
        self.baseline = baseline

    def fit(self, X: Any, y: Any = None) -> ErpBlocks:
        return self

    def transform(self, X: Any) -> np.ndarray:
        if int(self.decim) != self.decim or self.decim < 1:
            raise BadInputError(f"erp decim must be a positive integer, got {self.decim!r}.")
        t = np.asarray(self.times, dtype=float)
        x = np.asarray(X, dtype=np.float64)
        if x.ndim != 3 or x.shape[-1] != t.size:
            raise BadInputError(f"ErpBlocks needs epochs (trial, channel, time) with {t.size} time points, "
                                f"got shape {x.shape}.")
        if self.baseline is not None:
            b0, b1 = self.baseline
            sel = (t >= (t[0] if b0 is None else b0) - 1e-9) & (t <= (t[-1] if b1 is None else b1) + 1e-9)
            if not sel.any():
                raise BadInputError(f"erp baseline {self.baseline} holds no sample (time runs {t[0]:g}..{t[-1]:g} s).")
            x = x - x[..., sel].mean(axis=-1, keepdims=True)
        keep = ((t >= (t[0] if self.tmin is None else self.tmin) - 1e-9)
                & (t <= (t[-1] if self.tmax is None else self.tmax) + 1e-9))
        if not keep.any():
            raise BadInputError(f"erp window {self.tmin}..{self.tmax} s holds no sample "
                                f"(time runs {t[0]:g}..{t[-1]:g} s).")
        x = x[..., keep]
        n = x.shape[-1]
        edges = np.arange(0, n, int(self.decim))
        blocks = np.add.reduceat(x, edges, axis=-1) / np.diff(np.r_[edges, n])
        return blocks.reshape(len(x), -1)


def _last_bins(X: np.ndarray, n: int | None, what: str) -> np.ndarray:
    """The last ``n`` time points of ``(sample, channel, time)`` inputs (a view); other inputs and
    ``n=None``: ``X`` itself. ``what`` names the setting in the error."""
    if n is None or X.ndim != 3:
        return X
    if not 1 <= int(n) <= X.shape[-1]:
        raise BadInputError(f"{what} must be in 1..{X.shape[-1]} (the window), got {n}.")
    return X[..., X.shape[-1] - int(n):]


class LastBins(TransformerMixin, BaseEstimator):
    """Stateless transformer: the last ``n`` time points of every channel, flattened (a lag design).

    On causal windows of binned spikes ``(sample, unit, lag)`` this is the spike history of the
    last ``n`` bins (a Wiener filter's input). ``n=None`` keeps everything.
    """

    def __init__(self, n: int | None = None):
        self.n = n

    def fit(self, X: Any, y: Any = None) -> LastBins:
        return self

    def transform(self, X: Any) -> np.ndarray:
        X = _last_bins(np.asarray(X), self.n, "n_lags")
        return np.ascontiguousarray(X.reshape(X.shape[0], -1), dtype=np.float64)


class TimeMean(TransformerMixin, BaseEstimator):
    """Stateless transformer: the mean over the last axis of ``(sample, feature, time)`` inputs
    (e.g. fMRI block time courses -> block responses); 2-D inputs pass through."""

    def fit(self, X: Any, y: Any = None) -> TimeMean:
        return self

    def transform(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return X.mean(axis=-1) if X.ndim == 3 else X.reshape(X.shape[0], -1)


class RidgeBlockCV(RegressorMixin, BaseEstimator):
    """Ridge regression with alpha chosen by a contiguous (unshuffled) ``inner_cv``-fold CV of the rows.

    For time series (lagged spike counts...), where leave-one-out favours small penalties because
    neighbouring rows are near copies. One eigendecomposition of the centred Gram matrix per inner
    fold serves every alpha; the final fit uses all rows. Scores: R² averaged over the targets.

    Parameters
    ----------
    alphas : sequence of float
    inner_cv : int
    """

    def __init__(self, alphas: Any = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0), inner_cv: int = 4):
        self.alphas = alphas
        self.inner_cv = inner_cv

    def fit(self, X: Any, y: Any) -> RidgeBlockCV:
        from threadpoolctl import threadpool_limits

        # many mid-sized sequential BLAS calls: one thread; on a busy 2-core machine two oversubscribed
        # threads made one 1710 x 1710 eigendecomposition 10-15x slower
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y)

    def _fit(self, X: Any, y: Any) -> RidgeBlockCV:
        from scipy.linalg import eigh, solve

        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(y, dtype=np.float64)
        self.y_ndim_ = Y.ndim
        Y = Y.reshape(len(Y), -1)
        alphas = np.asarray(self.alphas, dtype=float)
        n = len(X)
        k = int(self.inner_cv)
        if k < 2 or n < 2 * k:
            raise BadInputError(f"inner_cv={k} needs at least {2 * k} rows and k >= 2, got {n} rows.")
        G, sx, XY, sy = X.T @ X, X.sum(0), X.T @ Y, Y.sum(0)
        score = np.zeros(len(alphas))
        for val in np.array_split(np.arange(n), k):
            Xv, Yv = X[val], Y[val]
            m = n - len(val)
            mx, my = (sx - Xv.sum(0)) / m, (sy - Yv.sum(0)) / m
            Gc = G - Xv.T @ Xv - m * np.outer(mx, mx)
            XYc = XY - Xv.T @ Yv - m * np.outer(mx, my)
            evals, evecs = eigh(Gc, check_finite=False)
            proj = evecs.T @ XYc
            ss = ((Yv - Yv.mean(0)) ** 2).sum(0)
            for j, a in enumerate(alphas):
                W = evecs @ (proj / (evals + a)[:, None])
                P = (Xv - mx) @ W + my
                score[j] += np.mean(1.0 - ((Yv - P) ** 2).sum(0) / ss) / k
        self.cv_scores_ = score
        self.alpha_ = float(alphas[int(np.argmax(score))])
        mx, my = sx / n, sy / n
        Gc = G - n * np.outer(mx, mx)
        Gc[np.diag_indices_from(Gc)] += self.alpha_
        self.coef_ = solve(Gc, XY - n * np.outer(mx, my), assume_a="pos", check_finite=False)
        self.intercept_ = my - mx @ self.coef_
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        out = np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_
        return out[:, 0] if self.y_ndim_ == 1 else out


def _auto_score(est: Any, X: Any, y: Any) -> float:
    """Inner-CV score: ROC AUC for two classes, balanced accuracy for more."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    y = np.asarray(y)
    if np.unique(y).size == 2:
        return float(roc_auc_score(y, est.decision_function(X)))
    return float(balanced_accuracy_score(y, est.predict(X)))


def _inner_search(pipe: Any, grid: dict[str, list], inner_cv: int) -> Any:
    """``pipe`` with ``grid`` chosen by contiguous (unshuffled) ``inner_cv``-fold CV of the training fold."""
    from sklearn.model_selection import GridSearchCV, KFold

    if all(len(v) == 1 for v in grid.values()):
        return pipe.set_params(**{k: v[0] for k, v in grid.items()})
    return GridSearchCV(pipe, grid, cv=KFold(int(inner_cv), shuffle=False), scoring=_auto_score, refit=True,
                        error_score="raise")


def _logreg(ctx: EstimatorContext, C: float = 1.0, solver: str = "lbfgs"):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=2000, solver=solver)


def _need_sfreq(ctx: EstimatorContext, name: str) -> float:
    if ctx.sfreq is None:
        raise BadInputError(f"estimator {name!r} needs the sampling rate of the epochs (attrs['sfreq']).")
    return float(ctx.sfreq)


# --------------------------------------------------------------------------- the registered configurations


@register_estimator("logreg", tasks=("classification",),
                    description="waveform -> standardise -> L2 logistic regression (C=1)")
def _make_logreg(ctx: EstimatorContext):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(TimeBins(), StandardScaler(), _logreg(ctx))


@register_estimator("lda", tasks=("classification",), description="waveform -> shrinkage LDA (Ledoit-Wolf)")
def _make_lda(ctx: EstimatorContext, *, time_mean: bool = False):
    """``time_mean``: average ``(sample, feature, time)`` inputs over time instead of binning the
    waveform (e.g. fMRI block time courses -> block responses)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TimeMean() if time_mean else TimeBins(),
                         LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))


@register_estimator("bde_logreg", tasks=("classification",), ndims=(2,),
                    description="band differential entropy per channel x band -> logistic regression")
def _make_bde_logreg(ctx: EstimatorContext, *, bands: Mapping[str, Any] | None = None, n_windows: int | None = None,
                     Cs: list[float] | None = None, inner_cv: int = 5):
    """``bands`` (name -> [lo, hi] Hz), ``n_windows`` (sub-windows, FFT DE as in the RBTransformer),
    ``Cs`` (C grid chosen by an inner contiguous ``inner_cv``-fold CV; default C = 1)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    bands = None if bands is None else {k: tuple(v) for k, v in bands.items()}
    bde = BandDE(_need_sfreq(ctx, "bde_logreg"), bands, n_windows)
    if not Cs:
        return make_pipeline(bde, StandardScaler(), _logreg(ctx))
    # the DE features are per-trial and label-free: computed once per fit, outside the inner C search
    return make_pipeline(bde, _inner_search(make_pipeline(StandardScaler(), _logreg(ctx, solver="liblinear")),
                                            {"logisticregression__C": [float(c) for c in Cs]}, inner_cv))


@register_estimator("erp_logreg", tasks=("classification",), ndims=(2,),
                    description="ERP block means (tmin..tmax, decim samples; baseline and C by inner CV) -> "
                                "standardise -> logistic regression")
def _make_erp_logreg(ctx: EstimatorContext, *, tmin: float | None = 0.0, tmax: float | None = None, decim: int = 8,
                     baselines: list[Any] | None = None, Cs: list[float] | None = None, inner_cv: int = 5):
    """The ERP decoder: per-trial block means of ``decim`` samples in ``tmin..tmax`` (s); the
    pre-stimulus baseline correction (candidates ``baselines``: ``None`` or ``[b0, b1]``) and ``C``
    (``Cs``) are chosen by a contiguous (unshuffled) ``inner_cv``-fold CV of the training fold
    (trials ordered by run, so the inner folds follow the runs), scored by ROC AUC."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if ctx.times is None:
        raise BadInputError("estimator 'erp_logreg' needs the epochs' time axis (a 'time' coord).")
    baselines = [None, (-0.1, 0.0)] if baselines is None else [None if b is None else tuple(b) for b in baselines]
    Cs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0] if Cs is None else [float(c) for c in Cs]
    pipe = Pipeline([("erp", ErpBlocks(ctx.times, tmin, tmax, int(decim), baselines[0])),
                     ("scale", StandardScaler()), ("clf", _logreg(ctx, solver="liblinear"))])
    return _inner_search(pipe, {"erp__baseline": baselines, "clf__C": Cs}, inner_cv)


@register_estimator("xdawn_ts", tasks=("classification",), ndims=(2,),
                    description="pyriemann xDAWN covariances (4 filters) -> tangent space -> logistic regression")
def _make_xdawn_ts(ctx: EstimatorContext):
    from pyriemann.estimation import XdawnCovariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.pipeline import make_pipeline

    n_filter = max(1, min(4, ctx.shape[0] // 2)) if ctx.shape else 4
    return make_pipeline(XdawnCovariances(nfilter=n_filter, estimator="oas"), TangentSpace(metric="riemann"),
                         _logreg(ctx))


@register_estimator("ts_logreg", tasks=("classification",), ndims=(2,),
                    description="pyriemann OAS covariances -> tangent space -> logistic regression")
def _make_ts_logreg(ctx: EstimatorContext):
    from pyriemann.estimation import Covariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.pipeline import make_pipeline

    return make_pipeline(Covariances(estimator="oas"), TangentSpace(metric="riemann"), _logreg(ctx))


@register_estimator("csp_lda", tasks=("classification",), ndims=(2,),
                    description="MNE CSP (4 log-variance components) -> LDA")
def _make_csp_lda(ctx: EstimatorContext, *, reg: str | float | None = None):
    """``reg``: covariance regularisation of the CSP (MNE's: ``"ledoit_wolf"``, ``"oas"``, a shrinkage
    in 0..1; None: none). Unregularised CSP can be unstable with few training trials: on EEGMMIDB
    S001 runs 4/8/12 nanovolt changes of the data (an EDF re-export) moved one fold's ROC AUC from
    0.643 to 0.946, while ``"ledoit_wolf"`` gave 0.607 on both versions."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    from ._quiet import QuietCSP

    n_comp = max(1, min(4, ctx.shape[0])) if ctx.shape else 4
    return make_pipeline(QuietCSP(n_components=n_comp, reg=reg, log=True, norm_trace=False),
                         LinearDiscriminantAnalysis())


@register_estimator("svm_anova", tasks=("classification",),
                    description="standardise -> in-fold ANOVA screening (best k=500) -> LinearSVC (C=0.01)")
def _make_svm_anova(ctx: EstimatorContext, *, k: int | str = 500, C: float = 0.01, standardize: bool = True,
                     time_mean: bool = False, parcels: int | None = None):
    """``k`` features kept by the ANOVA F-test of the training fold (``"all"``: no screening),
    ``C`` of the LinearSVC, ``standardize`` (z-score the features with training statistics),
    ``time_mean`` (average ``(sample, feature, time)`` inputs over time first, e.g. fMRI block
    time courses -> block responses), ``parcels`` (first average the voxels of that many Ward
    parcels of the training fold's volumes, :class:`~neurodecode.decoding.parcels.ParcelMeans`;
    contiguous when the voxels carry ``i``/``j``/``k`` coords and ``attrs["shape"]``)."""
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    n_feat = (int(ctx.shape[0]) if time_mean and len(ctx.shape) == 2 else int(np.prod(ctx.shape))) if ctx.shape else 500
    steps: list[Any] = [TimeMean() if time_mean else Flatten()]
    if parcels is not None:
        from .parcels import ParcelMeans

        ijk, grid = _voxel_grid(ctx)
        steps.insert(0, ParcelMeans(int(parcels), ijk, grid))
        n_feat = int(parcels) * (1 if time_mean or len(ctx.shape or ()) < 2 else int(ctx.shape[1]))
    if standardize:
        steps.append(StandardScaler())
    if k != "all":
        steps.append(SelectKBest(f_classif, k=min(int(k), n_feat)))
    steps.append(LinearSVC(C=float(C), dual="auto", max_iter=10000))
    return make_pipeline(*steps)


@register_estimator("ridge", description="standardise -> ridge (alpha by efficient leave-one-out in the training fold)")
def _make_ridge(ctx: EstimatorContext, *, n_lags: int | None = None, alphas: list[float] | None = None,
                inner_cv: int | None = None):
    """``n_lags``: keep the last ``n_lags`` time points of ``(sample, channel, time)`` windows (the
    spike history of a Wiener filter; None: all); ``alphas`` (default ``logspace(-2, 5, 15)``);
    ``inner_cv``: choose alpha by a contiguous (unshuffled) K-fold of the training fold instead of
    the efficient leave-one-out (which favours small alphas on autocorrelated time series)."""
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    alphas = np.logspace(-2, 5, 15) if alphas is None else np.asarray(alphas, dtype=float)
    if inner_cv is not None and ctx.task == "regression":
        model = RidgeBlockCV(alphas=alphas, inner_cv=int(inner_cv))
    elif inner_cv is not None:
        model = RidgeClassifierCV(alphas=alphas, cv=KFold(int(inner_cv), shuffle=False))
    else:
        model = RidgeCV(alphas=alphas) if ctx.task == "regression" else RidgeClassifierCV(alphas=alphas)
    return make_pipeline(LastBins(n_lags), StandardScaler(), model)


@register_estimator("pca_knn", description="standardise -> PCA (20 components) -> k nearest neighbours (k=10)")
def _make_pca_knn(ctx: EstimatorContext):
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_feat = int(np.prod(ctx.shape)) if ctx.shape else 20
    n_comp = max(1, min(20, n_feat, max(ctx.n_samples // 2, 1)))
    knn = KNeighborsRegressor(10, weights="distance") if ctx.task == "regression" else KNeighborsClassifier(10)
    return make_pipeline(Flatten(), StandardScaler(), PCA(n_components=n_comp, random_state=ctx.seed), knn)


@register_estimator("eegnet", tasks=("classification",), ndims=(2,), permutable=False,
                    description="EEGNet-8,2 (Lawhern et al. 2018), Adam, early stopping on 15% of the training fold")
def _make_eegnet(ctx: EstimatorContext):
    from ..encoders.estimators import EncoderClassifier

    return EncoderClassifier("eegnet", encoder_params={"dropout": 0.25}, sfreq=_need_sfreq(ctx, "eegnet"),
                             max_epochs=150, patience=20, lr=1e-3, batch_size=32, weight_decay=0.0,
                             random_state=ctx.seed, device="auto", threads=1)


@register_estimator("rbtransformer", tasks=("classification",), ndims=(2,), permutable=False,
                    description="RBTransformer: band-DE (or waveform, or both) tokens per electrode, attention "
                                "across electrodes; early stopping on the validation ROC AUC")
def _make_rbtransformer(ctx: EstimatorContext, *, encoder_params: Mapping[str, Any] | None = None,
                        max_epochs: int = 60, patience: int | None = 10, lr: float = 3e-3, batch_size: int = 64,
                        weight_decay: float = 1e-2, val_fraction: float = 0.2, device: str = "auto",
                        threads: int | None = 1, monitor: str = "roc_auc"):
    """:class:`~neurodecode.encoders.rbtransformer.RBTransformer` through
    :class:`~neurodecode.encoders.estimators.EncoderClassifier` (channels z-scored with the training
    fold's statistics; early stopping on ``monitor`` of ``val_fraction`` of the training fold: the
    validation ROC AUC by default, or ``"loss"``, ``"accuracy"``, ``"balanced_accuracy"``).
    ``encoder_params``: the encoder's sizes and tokens (``bands``, ``n_windows``, ``d_model``,
    ``token_type``: ``"bde"``, ``"waveform"`` or ``"both"``...)."""
    from ..encoders.estimators import EncoderClassifier

    params = {"d_model": 16, "n_layers": 2, "n_heads": 2, "dropout": 0.1, "head_hidden": 16,
              **dict(encoder_params or {})}
    if params.get("bands") is not None:
        params["bands"] = {k: list(v) for k, v in params["bands"].items()}
    return EncoderClassifier("rbtransformer", encoder_params=params, sfreq=_need_sfreq(ctx, "rbtransformer"),
                             max_epochs=int(max_epochs), patience=patience, lr=float(lr), batch_size=int(batch_size),
                             weight_decay=float(weight_decay), val_fraction=float(val_fraction), random_state=ctx.seed,
                             device=device, threads=threads, monitor=monitor)


@register_estimator("spike_contrastive", tasks=("regression",), ndims=(2,), permutable=False,
                    description="contrastive spike encoder (CEBRA-like InfoNCE, behaviour or time positives) -> "
                                "kNN or ridge head on the frozen embedding")
def _make_spike_contrastive(ctx: EstimatorContext, *, n_times: int | None = None, **params: Any):
    """:class:`~neurodecode.encoders.spike.SpikeContrastiveDecoder` on the last ``n_times`` bins of
    causal spike windows ``(sample, unit, lag)`` (None: all); every other setting is passed to it
    (``mode``, ``decoder``, ``n_neighbors``, ``max_epochs``, ``out_dim``...). Counts are
    square-rooted and z-scored with the training fold's statistics inside ``fit``."""
    from sklearn.pipeline import make_pipeline

    from ..encoders.spike import SpikeContrastiveDecoder

    if "seed" not in params:  # (the estimator's old name for random_state; it warns)
        params.setdefault("random_state", ctx.seed)
    params.setdefault("threads", 1)
    return make_pipeline(_LastBinsWindows(n_times), SpikeContrastiveDecoder(**params))


class _LastBinsWindows(LastBins):
    """:class:`LastBins` kept 3-D and float32: the last ``n`` time points of ``(sample, channel, time)`` windows."""

    def transform(self, X: Any) -> np.ndarray:
        return _last_bins(np.asarray(X, dtype=np.float32), self.n, "n_times")


@register_estimator("brainmae", tasks=("classification",), ndims=(2,), permutable=False, fit_groups=True,
                    description="Ward parcels of the training fold -> BrainMAE (masked-autoencoder pretraining on "
                                "the training windows) -> fine-tuning or a linear probe of the frozen tokens")
def _make_brainmae(ctx: EstimatorContext, **params: Any):
    """:class:`neurodecode.decoding.brainmae.BrainMAEClassifier` on ``(sample, voxel, time)`` block time
    courses (e.g. :func:`neurodecode.decoding.blocks.block_timecourses`); settings are passed to it.
    The voxel grid (``i``/``j``/``k`` coords, ``attrs["shape"]``) makes the parcels contiguous."""
    from .brainmae import BrainMAEClassifier

    params.setdefault("random_state", ctx.seed)
    if ctx.sfreq is not None:
        params.setdefault("sfreq", ctx.sfreq)
    ijk, grid = _voxel_grid(ctx)
    if ijk is not None and "ijk" not in params:
        params["ijk"], params["grid_shape"] = ijk, grid
    return BrainMAEClassifier(**params)


def _voxel_grid(ctx: EstimatorContext) -> tuple[np.ndarray | None, tuple[int, int, int] | None]:
    """The voxels' grid indices ``(n_voxels, 3)`` and the grid shape, when the data carry them."""
    fc, attrs = dict(ctx.feature_coords or {}), dict(ctx.attrs or {})
    if all(c in fc for c in ("i", "j", "k")) and "shape" in attrs:
        ijk = np.stack([np.asarray(fc[c], dtype=np.int64) for c in ("i", "j", "k")], axis=1)
        return ijk, tuple(int(v) for v in np.asarray(attrs["shape"])[:3])
    return None, None
