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
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

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
    """

    task: str
    sfreq: float | None = None
    shape: tuple[int, ...] = ()
    n_samples: int = 0
    seed: int = 0


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


#: name -> :class:`EstimatorSpec`
ESTIMATORS: dict[str, EstimatorSpec] = {}


def register_estimator(name: str, *, tasks: tuple[str, ...] = TASKS, ndims: tuple[int, ...] = (1, 2),
                       description: str = "", permutable: bool = True):
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
    """

    def deco(factory: Callable[[EstimatorContext], Any]):
        if name in ESTIMATORS:
            raise BadInputError(f"an estimator called {name!r} is already registered.")
        ESTIMATORS[name] = EstimatorSpec(name, factory, tuple(tasks), tuple(ndims), description, permutable)
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


def make_estimator(estimator: Any, ctx: EstimatorContext) -> Any:
    """A fresh unfitted estimator: built from a registered name, or cloned from a scikit-learn one.

    Raises
    ------
    BadInputError
        Unknown name, a name that does not handle ``ctx.task`` or this input shape, or an object
        that is not a scikit-learn estimator.
    """
    from sklearn.base import clone

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
        return spec.factory(ctx)
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
    """

    def __init__(self, sfreq: float, bands: Mapping[str, tuple[float, float]] | None = None):
        self.sfreq = sfreq
        self.bands = bands

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

        de = band_de(np.asarray(X, dtype=float), self.sfreq, self._bands())
        return de.reshape(de.shape[0], -1)


def _logreg(ctx: EstimatorContext, C: float = 1.0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=2000)


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
def _make_lda(ctx: EstimatorContext):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TimeBins(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))


@register_estimator("bde_logreg", tasks=("classification",), ndims=(2,),
                    description="band differential entropy per channel x band -> logistic regression")
def _make_bde_logreg(ctx: EstimatorContext):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(BandDE(_need_sfreq(ctx, "bde_logreg")), StandardScaler(), _logreg(ctx))


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
def _make_csp_lda(ctx: EstimatorContext):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    from ._quiet import QuietCSP

    n_comp = max(1, min(4, ctx.shape[0])) if ctx.shape else 4
    return make_pipeline(QuietCSP(n_components=n_comp, reg=None, log=True, norm_trace=False),
                         LinearDiscriminantAnalysis())


@register_estimator("svm_anova", tasks=("classification",),
                    description="standardise -> in-fold ANOVA screening (best 500) -> LinearSVC")
def _make_svm_anova(ctx: EstimatorContext):
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    n_feat = int(np.prod(ctx.shape)) if ctx.shape else 500
    return make_pipeline(Flatten(), StandardScaler(), SelectKBest(f_classif, k=min(500, n_feat)),
                         LinearSVC(C=0.01, max_iter=10000))


@register_estimator("ridge", description="standardise -> ridge (alpha by efficient leave-one-out in the training fold)")
def _make_ridge(ctx: EstimatorContext):
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    alphas = np.logspace(-2, 5, 15)
    model = RidgeCV(alphas=alphas) if ctx.task == "regression" else RidgeClassifierCV(alphas=alphas)
    return make_pipeline(Flatten(), StandardScaler(), model)


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
                             seed=ctx.seed, device="cpu", threads=1)
