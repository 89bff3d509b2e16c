"""The registry of representational comparison methods (``neurodecode.analysis.METHODS``).

Every method is declared once, as a :class:`Method`: its name and aliases, what it
compares (``"rdm"``: condensed RDM vectors; ``"activations"``: (stimulus, feature)
matrices, or (stimulus, repeat, feature) samples for the stochastic metrics), its
numeric kernel, whether it returns a similarity or a distance, how a group of data
RDMs is pooled for the noise ceiling, whether and how stimuli can be resampled
(bootstrap / permutation), the invariances it has and the options it takes.

Every consumer reads this registry: :func:`~neurodecode.analysis.compare`,
:func:`~neurodecode.analysis.noise_ceiling`, :func:`~neurodecode.analysis.bootstrap`,
:func:`~neurodecode.analysis.permutation_test`, :func:`~neurodecode.analysis.sweep`
and :func:`~neurodecode.analysis.similarity`. An unknown name is an error that
lists the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import BadInputError
from . import cca as _cca
from . import cka as _cka
from . import knn as _knn
from .predictivity import DEFAULT_ALPHAS as _RIDGE_ALPHAS
from .predictivity import median_r as _median_r
from . import shape as _shape
from .compare import cov_kernel, inner_kernel, kendall_kernel

__all__ = ["Method", "VectorForm", "Pool", "METHODS", "POOLS", "get_method", "names", "register"]


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class VectorForm:
    """An RDM method that is an inner product of transformed dissimilarity vectors.

    ``rank``: rank-transform first (ties averaged); ``centre``: subtract the mean;
    ``scale``: ``"unit"`` (cosine of the results) or ``"rho_a"`` (``12 <a, b> / (m^3 - m)``).
    Such methods can be evaluated under stimulus resampling in closed form (pair weights).
    """

    rank: bool
    centre: bool
    scale: str = "unit"


@dataclass(frozen=True)
class Pool:
    """How a group of data RDMs is pooled for the noise ceiling (rsatoolbox's ``pool_rdm``).

    ``normalise`` maps each row (RDM vector) to the scale on which the group is averaged;
    ``finish`` post-processes the mean (e.g. shifts it to be non-negative).
    """

    name: str
    normalise: Callable[[np.ndarray], np.ndarray]
    finish: Callable[[np.ndarray], np.ndarray] | None = None

    def pool(self, v: np.ndarray) -> np.ndarray:
        """Pooled RDM vector of the rows of ``v``."""
        pooled = self.normalise(v).mean(axis=0)
        return pooled if self.finish is None else self.finish(pooled)


@dataclass(frozen=True)
class Method:
    """A declared comparison method (one registry entry).

    Attributes
    ----------
    name, aliases
        Canonical name and accepted other spellings (e.g. rsatoolbox's).
    compares
        ``"rdm"`` (RDM vectors, via :func:`compare`) or ``"activations"`` (via :func:`similarity`).
    kind
        ``"similarity"`` (higher = more alike) or ``"distance"`` (0 = identical).
    kernel
        The numeric kernel. RDM methods: ``kernel(va, vb, *, n_cond, sigma_k, device)``
        -> (k_a, k_b) array. Activation methods: ``kernel(x, y, **options)`` -> float.
    prepare, pair
        Activation methods: per-representation precomputation and the pair step
        (``kernel(x, y) == pair(prepare(x), prepare(y))``), so that comparing many
        layers reuses each layer's work.
    pool
        Noise-ceiling pooling of data RDMs (a :data:`POOLS` key), or None when the
        method has no pooled-RDM ceiling (activation methods).
    resample
        Stimulus resampling: ``"pair_weights"`` (RDM method evaluated in closed form
        under resamples: bootstrap over stimuli, fast permutations), ``"expand"`` (RDM
        method whose kernel is evaluated on each resampled RDM vector, every pair
        ``(i, j)`` of drawn stimuli repeated ``c_i c_j`` times and pairs of copies of one
        stimulus dropped, as rsatoolbox builds it: the tau methods), ``"rows"``
        (activation method recomputed on resampled stimuli), or None (only subject
        resampling / generic permutations).
    vector
        :class:`VectorForm` of inner-product RDM methods, else None.
    inputs
        ``"rdm"``, ``"features"`` ((stimulus, feature)) or ``"samples"``
        ((stimulus, repeat, feature)).
    symmetric
        ``f(x, y) == f(y, x)``.
    invariances
        Transformations of a representation (or RDM) that leave the result unchanged:
        ``"orthogonal"``, ``"isotropic_scaling"``, ``"translation"``,
        ``"permutation"``, ``"invertible_linear"``, ``"monotonic"`` (RDM rank methods),
        ``"affine"`` (of dissimilarities).
    options
        Keyword options and their defaults.
    min_stimuli
        Fewest stimuli the method is defined for.
    needs_complete
        RDM methods that cannot skip missing (NaN) dissimilarities.
    summary, reference
        One-line description and citation.
    label
        Short axis label for figures (:attr:`axis_label`).
    gram, prepare_gram
        Activation methods whose prepared form of resampled stimuli ``x[b]`` can be computed
        from one (stimulus, stimulus) matrix of all stimuli: ``prepare(x[b]) ==
        prepare_gram(gram(x)[b][:, b])`` (to rounding; the linear CKAs). A stimulus bootstrap
        then computes one Gram matrix per representation instead of one per resample.
    """

    name: str
    compares: str
    kind: str
    kernel: Callable[..., Any]
    summary: str
    reference: str = ""
    aliases: tuple[str, ...] = ()
    prepare: Callable[..., Any] | None = None
    pair: Callable[..., Any] | None = None
    pool: str | None = None
    resample: str | None = None
    vector: VectorForm | None = None
    inputs: str = "rdm"
    symmetric: bool = True
    invariances: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    min_stimuli: int = 3
    needs_complete: bool = False
    label: str = ""
    gram: Callable[..., Any] | None = None
    prepare_gram: Callable[..., Any] | None = None

    @property
    def axis_label(self) -> str:
        """Short label for a figure axis (``label``, or the name with its kind)."""
        return self.label or f"{self.name} ({self.kind})"

    @property
    def pool_spec(self) -> Pool:
        """The :class:`Pool` of this method (error for methods without a pooled ceiling)."""
        if self.pool is None:
            raise BadInputError(
                f"method {self.name!r} compares {self.compares}; it has no pooled-RDM noise ceiling. Noise ceilings "
                f"of RDM comparisons are defined for {names(compares='rdm')}."
            )
        return POOLS[self.pool]

    def check_options(self, options: Mapping[str, Any], what: str) -> dict[str, Any]:
        """The method's options with defaults filled in; unknown options are errors."""
        bad = sorted(set(options) - set(self.options))
        if bad:
            known = sorted(self.options) or "none"
            raise BadInputError(f"{what}: method {self.name!r} takes no option(s) {bad}; its options: {known}.")
        return {**self.options, **options}


# --------------------------------------------------------------------------- pools


def _rms(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt(np.mean(v**2, axis=1, keepdims=True))


def _zscore(v: np.ndarray) -> np.ndarray:
    vc = v - v.mean(axis=1, keepdims=True)
    return vc / vc.std(axis=1, keepdims=True)


def _shift_min(p: np.ndarray) -> np.ndarray:
    return p - p.min()


def _ranks(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(v, axis=1)


#: pooling rules for noise ceilings (rsatoolbox's ``pool_rdm``), by name
POOLS: Mapping[str, Pool] = MappingProxyType(
    {
        "rms": Pool("rms", _rms),  # cosine family: mean of RMS-normalised RDMs
        "zscore": Pool("zscore", _zscore, _shift_min),  # correlation family: mean z-scored, shifted >= 0
        "rank": Pool("rank", _ranks),  # rank family: mean of the ranks
    }
)


# --------------------------------------------------------------------------- activation kernels


def _need_features(x: np.ndarray, y: np.ndarray) -> None:
    if x.shape[0] != y.shape[0]:
        raise BadInputError(f"the representations cover {x.shape[0]} and {y.shape[0]} stimuli; they must match.")


def _cka_method(name: str, kernel: str, summary: str, options: dict[str, Any], invariances: tuple[str, ...]) -> Method:
    def prep(x: np.ndarray, **opts: Any) -> np.ndarray:
        return _cka.prepare(x, kernel, sigma=float(opts.get("sigma", 1.0)))

    def pair(gx: np.ndarray, gy: np.ndarray, **opts: Any) -> float:
        return _cka.pair(gx, gy)

    def kern(x: np.ndarray, y: np.ndarray, **opts: Any) -> float:
        _need_features(x, y)
        return pair(prep(x, **opts), prep(y, **opts))

    linear = kernel in ("linear", "debiased")  # Gram of resampled stimuli = indexed Gram, after centring

    def gram(x: np.ndarray, **opts: Any) -> np.ndarray:
        return _cka.gram(x, kernel)

    def prep_gram(k: np.ndarray, **opts: Any) -> np.ndarray:
        return _cka.prepare_gram(k, kernel)

    return Method(
        gram=gram if linear else None, prepare_gram=prep_gram if linear else None,
        name=name, compares="activations", kind="similarity", kernel=kern, prepare=prep, pair=pair,
        inputs="features", resample="rows", invariances=invariances, options=options,
        min_stimuli=4 if kernel == "debiased" else 2, summary=summary, label=name.replace("_cka", " CKA"),
        reference="Kornblith et al. 2019 (ICML)" + ("; unbiased HSIC: Song et al. 2012 (JMLR)" if kernel == "debiased" else ""),
    )


def _shape_prep(x: np.ndarray, **opts: Any) -> np.ndarray:
    alpha = float(opts.get("alpha", 1.0))
    if not 0.0 <= alpha <= 1.0:
        raise BadInputError(f"shape: alpha must lie in [0, 1] (0: CCA, 1: Procrustes); got {alpha}.")
    return _shape.prepare(x, alpha)


def _shape_pair(a: np.ndarray, b: np.ndarray, **opts: Any) -> float:
    return _shape.pair(a, b)


def _shape_kernel(x: np.ndarray, y: np.ndarray, **opts: Any) -> float:
    _need_features(x, y)
    return _shape_pair(_shape_prep(x, **opts), _shape_prep(y, **opts))


def _ident_prep(x: np.ndarray, **opts: Any) -> np.ndarray:
    return x


def _perm_pair(x: np.ndarray, y: np.ndarray, **opts: Any) -> float:
    _need_features(x, y)
    return _shape.permutation_angle(x, y)


def _svcca_prep(x: np.ndarray, **opts: Any) -> np.ndarray:
    keep = opts.get("keep", 0.99)
    if isinstance(keep, bool) or not (
        (isinstance(keep, (int, np.integer)) and keep >= 1) or (isinstance(keep, float) and 0 < keep <= 1)
    ):
        raise BadInputError(f"svcca: keep must be a variance fraction in (0, 1] or a number of dims >= 1; got {keep!r}.")
    return _cca.basis(x, keep)


def _svcca_pair(qx: np.ndarray, qy: np.ndarray, **opts: Any) -> float:
    return _cca.svcca(qx, qy)


def _svcca_kernel(x: np.ndarray, y: np.ndarray, **opts: Any) -> float:
    _need_features(x, y)
    return _svcca_pair(_svcca_prep(x, **opts), _svcca_prep(y, **opts))


def _pwcca_prep(x: np.ndarray, **opts: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(x, dtype=np.float64), _cca.basis(x)


def _pwcca_pair(px: tuple[np.ndarray, np.ndarray], py: tuple[np.ndarray, np.ndarray], **opts: Any) -> float:
    return _cca.pwcca(px[0], py[1])


def _pwcca_kernel(x: np.ndarray, y: np.ndarray, **opts: Any) -> float:
    _need_features(x, y)
    return _pwcca_pair(_pwcca_prep(x), _pwcca_prep(y))


def _check_k(n: int, k: Any, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < n:
        raise BadInputError(f"{name}: k must be an integer in [1, n_stimuli - 1] = [1, {n - 1}]; got {k!r}.")
    return int(k)


def _knn_prep(x: np.ndarray, **opts: Any) -> tuple[np.ndarray, np.ndarray]:
    k = _check_k(x.shape[0], opts.get("k", 10), "mutual_knn/cknna")
    return _knn.prepare(x, k, normalize=bool(opts.get("normalize", True)))


def _mknn_pair(px: Any, py: Any, **opts: Any) -> float:
    return _knn.mutual_knn(px, py, int(opts.get("k", 10)))


def _mknn_kernel(x: np.ndarray, y: np.ndarray, **opts: Any) -> float:
    _need_features(x, y)
    return _mknn_pair(_knn_prep(x, **opts), _knn_prep(y, **opts), **opts)


def _cknna_pair(px: Any, py: Any, **opts: Any) -> float:
    return _knn.cknna(px, py)


def _cknna_kernel(x: np.ndarray, y: np.ndarray, **opts: Any) -> float:
    _need_features(x, y)
    return _cknna_pair(_knn_prep(x, **opts), _knn_prep(y, **opts))


def _samples_prep(samples: list[np.ndarray], **opts: Any) -> list[np.ndarray]:
    return samples


def _gauss_pair(sx: list[np.ndarray], sy: list[np.ndarray], **opts: Any) -> float:
    alpha = float(opts.get("alpha", 1.0))
    if not 0.0 <= alpha <= 2.0:
        raise BadInputError(f"gaussian_shape: alpha must lie in [0, 2] (0: covariances, 1: Wasserstein, 2: means); got {alpha}.")
    if len(sx) != len(sy):
        raise BadInputError(f"gaussian_shape: {len(sx)} and {len(sy)} stimuli; they must match.")
    centre = bool(opts.get("centre", True))
    mx, cx = _shape.gaussian_moments(sx, centre=centre)
    my, cy = _shape.gaussian_moments(sy, centre=centre)
    return _shape.gaussian(mx, cx, my, cy, alpha)[0]


def _energy_pair(sx: list[np.ndarray], sy: list[np.ndarray], **opts: Any) -> float:
    if len(sx) != len(sy):
        raise BadInputError(f"energy_shape: {len(sx)} and {len(sy)} stimuli; they must match.")
    if bool(opts.get("centre", True)):
        mx = np.mean([s.mean(axis=0) for s in sx], axis=0)
        my = np.mean([s.mean(axis=0) for s in sy], axis=0)
        sx = [s - mx for s in sx]
        sy = [s - my for s in sy]
    return _shape.energy(sx, sy)[0]


def _predictivity_method(model: str, options: dict[str, Any], summary: str, reference: str) -> Method:
    def pair(x: np.ndarray, y: np.ndarray, **opts: Any) -> float:
        _need_features(x, y)
        return _median_r(x, y, model=model, **opts)

    return Method(
        name=model, compares="activations", kind="similarity", kernel=pair, prepare=_ident_prep, pair=pair,
        inputs="features", resample="rows", symmetric=False, invariances=("translation", "isotropic_scaling"),
        options=options, min_stimuli=10, summary=summary, reference=reference,
        label=f"{model.upper() if model == 'pls' else model} predictivity (median held-out r)",
        aliases=(f"{model}_predictivity",),
    )


# --------------------------------------------------------------------------- the registry

_ROT = ("orthogonal", "isotropic_scaling", "translation", "permutation")

_ENTRIES: list[Method] = [
    # ---- RDM methods (order = the historical COMPARE_METHODS order)
    Method(
        name="spearman", label='RDM correlation (Spearman)', compares="rdm", kind="similarity", kernel=inner_kernel(True, True, "unit"),
        vector=VectorForm(rank=True, centre=True), pool="rank", resample="pair_weights",
        invariances=("monotonic",), summary="Spearman correlation of the dissimilarities (ties averaged)",
        reference="rsatoolbox 'spearman'",
    ),
    Method(
        name="pearson", label='RDM correlation (Pearson)', compares="rdm", kind="similarity", kernel=inner_kernel(False, True, "unit"),
        aliases=("corr", "correlation"), vector=VectorForm(rank=False, centre=True), pool="zscore",
        resample="pair_weights", invariances=("affine",), summary="Pearson correlation of the dissimilarities",
        reference="rsatoolbox 'corr'",
    ),
    Method(
        name="cosine", label='RDM cosine similarity', compares="rdm", kind="similarity", kernel=inner_kernel(False, False, "unit"),
        vector=VectorForm(rank=False, centre=False), pool="rms", resample="pair_weights",
        invariances=("isotropic_scaling",), summary="cosine of the dissimilarity vectors (not centred)",
        reference="rsatoolbox 'cosine'",
    ),
    Method(
        name="kendall", label="RDM correlation (Kendall's tau-b)", compares="rdm", kind="similarity", kernel=kendall_kernel(tau_a=False),
        aliases=("tau-b", "tau_b"), pool="rank", resample="expand", invariances=("monotonic",),
        summary="Kendall's tau-b (scipy.stats.kendalltau)", reference="rsatoolbox 'kendall'",
    ),
    Method(
        name="tau_a", label="RDM correlation (Kendall's tau-a)", compares="rdm", kind="similarity", kernel=kendall_kernel(tau_a=True), aliases=("tau-a",),
        pool="rank", resample="expand", invariances=("monotonic",),
        summary="Kendall's tau-a: (concordant - discordant) / all pairs (Nili et al. 2014)",
        reference="rsatoolbox 'tau-a'",
    ),
    Method(
        name="rho_a", label="RDM correlation (Spearman's rho-a)", compares="rdm", kind="similarity", kernel=inner_kernel(True, True, "rho_a"), aliases=("rho-a",),
        vector=VectorForm(rank=True, centre=True, scale="rho_a"), pool="rank", resample="pair_weights",
        invariances=("monotonic",), summary="Spearman's rho-a: 12 sum(centred rank products) / (m^3 - m)",
        reference="rsatoolbox 'rho-a'",
    ),
    Method(
        name="corr_cov", label='whitened RDM correlation', compares="rdm", kind="similarity", kernel=cov_kernel(centre=True), pool="zscore",
        needs_complete=True, options={"sigma_k": None}, invariances=("affine",),
        summary="correlation after whitening by the covariance of dissimilarity estimates",
        reference="Diedrichsen et al. 2021; rsatoolbox 'corr_cov'",
    ),
    Method(
        name="cosine_cov", label='whitened RDM cosine', compares="rdm", kind="similarity", kernel=cov_kernel(centre=False), pool="rms",
        needs_complete=True, options={"sigma_k": None}, invariances=("isotropic_scaling",),
        summary="cosine after whitening by the covariance of dissimilarity estimates (= linear CKA of the "
        "implied second moments)", reference="Diedrichsen et al. 2021; rsatoolbox 'cosine_cov'",
    ),
    # ---- activation methods
    _cka_method("linear_cka", "linear", "linear CKA (biased HSIC)", {}, _ROT),
    _cka_method(
        "debiased_cka", "debiased", "linear CKA with the unbiased HSIC estimator (default; not inflated at small n)",
        {}, _ROT,
    ),
    _cka_method("rbf_cka", "rbf", "CKA with a Gaussian kernel, bandwidth sigma x the median distance", {"sigma": 1.0}, _ROT),
    Method(
        name="procrustes", label='Procrustes distance (rad)', compares="activations", kind="distance", kernel=_shape_kernel, prepare=_shape_prep,
        pair=_shape_pair, inputs="features", resample="rows", invariances=_ROT, options={"alpha": 1.0},
        aliases=("angular_procrustes",), min_stimuli=2,
        summary="angular Procrustes distance (radians): the angle after the best rotation",
        reference="Williams et al. 2021 (NeurIPS); netrep LinearMetric(alpha=1)",
    ),
    Method(
        name="shape", label='shape distance (rad)', compares="activations", kind="distance", kernel=_shape_kernel, prepare=_shape_prep,
        pair=_shape_pair, inputs="features", resample="rows", invariances=("orthogonal", "translation", "permutation"),
        options={"alpha": 1.0}, aliases=("shape_metric",), min_stimuli=2,
        summary="angular shape distance with partial whitening alpha (0: CCA ... 1: Procrustes), radians; "
        "invariant to isotropic scaling only at alpha 0 and 1",
        reference="Williams et al. 2021 (NeurIPS); netrep LinearMetric",
    ),
    Method(
        name="permutation_procrustes", label='permutation Procrustes distance (rad)', compares="activations", kind="distance", kernel=_perm_pair,
        prepare=_ident_prep, pair=_perm_pair, inputs="features", resample="rows",
        invariances=("permutation", "isotropic_scaling", "translation"), aliases=("perm_procrustes",), min_stimuli=2,
        summary="angular distance (radians) after the best permutation of units",
        reference="Williams et al. 2021; netrep PermutationMetric",
    ),
    Method(
        name="svcca", label='SVCCA (mean canonical r)', compares="activations", kind="similarity", kernel=_svcca_kernel, prepare=_svcca_prep,
        pair=_svcca_pair, inputs="features", resample="rows", options={"keep": 0.99},
        invariances=("translation", "isotropic_scaling", "orthogonal", "permutation"),
        summary="mean canonical correlation after SVD reduction to `keep` of the variance (invariant to any "
        "invertible linear map only with keep=1.0)",
        reference="Raghu et al. 2017 (NeurIPS)",
    ),
    Method(
        name="pwcca", label='PWCCA', compares="activations", kind="similarity", kernel=_pwcca_kernel, prepare=_pwcca_prep,
        pair=_pwcca_pair, inputs="features", resample="rows", symmetric=False,
        invariances=("translation", "isotropic_scaling", "permutation"),
        summary="projection-weighted mean canonical correlation (weights from x)",
        reference="Morcos et al. 2018 (NeurIPS)",
    ),
    Method(
        name="mutual_knn", label='mutual k-NN alignment', compares="activations", kind="similarity", kernel=_mknn_kernel, prepare=_knn_prep,
        pair=_mknn_pair, inputs="features", resample=None, options={"k": 10, "normalize": True},
        invariances=("orthogonal", "isotropic_scaling"), aliases=("mknn",),
        summary="mean fraction of shared k nearest neighbours (cosine)",
        reference="Huh et al. 2024 (ICML), Platonic representation hypothesis",
    ),
    Method(
        name="cknna", label='CKNNA', compares="activations", kind="similarity", kernel=_cknna_kernel, prepare=_knn_prep,
        pair=_cknna_pair, inputs="features", resample=None, options={"k": 10, "normalize": True},
        invariances=("orthogonal", "isotropic_scaling"), min_stimuli=4, symmetric=False,
        summary="CKA restricted to mutual k-nearest-neighbour pairs (unbiased HSIC)",
        reference="Huh et al. 2024 (ICML)",
    ),
    _predictivity_method(
        "pls", {"n_components": 25, "cv": 5, "seed": 0},
        "median held-out Pearson r of every column of y predicted from x by PLS regression (cross-validated)",
        "Brain-Score neural predictivity (Schrimpf et al. 2018): PLSRegression(25, scale=False)",
    ),
    _predictivity_method(
        "ridge", {"alphas": tuple(_RIDGE_ALPHAS), "cv": 5, "seed": 0},
        "median held-out Pearson r of every column of y predicted from x by ridge regression (cross-validated)",
        "encoding models; neurodecode.analysis.fit_encoding",
    ),
    Method(
        name="gaussian_shape", label='Gaussian shape distance', compares="activations", kind="distance", kernel=_gauss_pair, prepare=_samples_prep,
        pair=_gauss_pair, inputs="samples", resample="rows", options={"alpha": 1.0, "centre": True},
        invariances=("orthogonal", "translation"), aliases=("stochastic_shape", "wasserstein_shape"), min_stimuli=2,
        summary="stochastic shape distance between per-stimulus Gaussians (2-Wasserstein at alpha=1)",
        reference="Duong et al. 2023 (ICLR); netrep GaussianStochasticMetric",
    ),
    Method(
        name="energy_shape", label='energy shape distance', compares="activations", kind="distance", kernel=_energy_pair, prepare=_samples_prep,
        pair=_energy_pair, inputs="samples", resample="rows", options={"centre": True},
        invariances=("orthogonal", "translation"), min_stimuli=2,
        summary="stochastic shape distance with the energy distance between per-stimulus samples",
        reference="Duong et al. 2023 (ICLR); netrep EnergyStochasticMetric",
    ),
]

#: the ways a method's stimuli can be resampled (see :class:`Method`)
RESAMPLE = (None, "pair_weights", "expand", "rows")

_REGISTRY: dict[str, Method] = {}
_LOOKUP: dict[str, str] = {}


def register(method: Method) -> Method:
    """Add a method to the registry (an extension point); its name and aliases must be new."""
    if method.compares not in ("rdm", "activations"):
        raise BadInputError(f"register: compares must be 'rdm' or 'activations', got {method.compares!r}.")
    if method.kind not in ("similarity", "distance"):
        raise BadInputError(f"register: kind must be 'similarity' or 'distance', got {method.kind!r}.")
    if method.pool is not None and method.pool not in POOLS:
        raise BadInputError(f"register: pool must be one of {sorted(POOLS)} or None, got {method.pool!r}.")
    if method.resample not in RESAMPLE:
        raise BadInputError(f"register: resample must be one of {RESAMPLE}, got {method.resample!r}.")
    if method.resample == "pair_weights" and method.vector is None:
        raise BadInputError("register: resample='pair_weights' needs a VectorForm (vector=...).")
    if method.resample in ("pair_weights", "expand") and method.compares != "rdm":
        raise BadInputError(f"register: resample={method.resample!r} is for RDM methods; activation methods use 'rows'.")
    if method.compares == "activations" and (method.prepare is None or method.pair is None):
        raise BadInputError("register: activation methods declare prepare and pair.")
    for key in (method.name, *method.aliases):
        if key in _LOOKUP:
            raise BadInputError(f"register: the name {key!r} is already taken by {_LOOKUP[key]!r}.")
    _REGISTRY[method.name] = method
    for key in (method.name, *method.aliases):
        _LOOKUP[key] = method.name
    return method


for _m in _ENTRIES:
    register(_m)

#: name -> declared :class:`Method` (read-only view; add methods with :func:`register`)
METHODS: Mapping[str, Method] = MappingProxyType(_REGISTRY)


def names(*, compares: str | None = None, resample: str | None = None) -> tuple[str, ...]:
    """Registered names, optionally only those comparing ``"rdm"`` / ``"activations"`` or resampling a given way."""
    return tuple(
        n for n, m in _REGISTRY.items()
        if (compares is None or m.compares == compares) and (resample is None or m.resample == resample)
    )


def get_method(name: Any, *, compares: str | None = None, what: str | None = None) -> Method:
    """The registry entry of ``name`` (or an alias); an error listing the registry when unknown or of the wrong kind."""
    if isinstance(name, Method):
        method = name
    else:
        key = _LOOKUP.get(name) if isinstance(name, str) else None
        if key is None:
            rdm_names = names(compares="rdm")
            act_names = names(compares="activations")
            aliases = sorted(a for m in _REGISTRY.values() for a in m.aliases)
            raise BadInputError(
                f"{what or 'compare'}: unknown method {name!r}. RDM methods: {rdm_names}; activation methods: "
                f"{act_names} (aliases: {aliases})."
            )
        method = _REGISTRY[key]
    if compares is not None and method.compares != compares:
        use = "neurodecode.analysis.compare on RDMs" if method.compares == "rdm" else (
            "neurodecode.analysis.similarity on (stimulus, feature) activations"
        )
        raise BadInputError(
            f"{what or 'compare'}: method {method.name!r} compares {method.compares}, not {compares}; use it with {use}. "
            f"Methods for {compares}: {names(compares=compares)}."
        )
    return method


def _unregister(name: str) -> None:
    """Remove a method added with :func:`register` (for tests; built-in methods stay)."""
    if name in {m.name for m in _ENTRIES}:
        raise BadInputError(f"_unregister: {name!r} is a built-in method.")
    method = _REGISTRY.pop(name)
    for key in (method.name, *method.aliases):
        _LOOKUP.pop(key, None)
