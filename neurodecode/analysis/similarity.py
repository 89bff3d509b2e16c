"""Compare two representations of the same stimuli directly (no RDMs): CKA, shape metrics, CCA, k-NN.

:func:`similarity` takes two (stimulus, feature) representations -- network layers,
brain responses -- and returns one number per pair, by any activation method of the
registry :data:`neurodecode.analysis.METHODS`. Given ``activations`` Datasets it
compares every layer of one with every layer of the other, preparing each layer
once (one Gram matrix / whitened basis per layer, reused across all pairs).

Methods (``kind`` in brackets; see ``docs/representational-similarity.md``):

``debiased_cka`` (similarity, default)
    linear CKA with the unbiased HSIC estimator: 1 for representations equal up
    to rotation, translation and scale; near 0 for unrelated ones at any n.
``linear_cka``, ``rbf_cka`` (similarity)
    CKA with the biased HSIC (linear / Gaussian kernel, option ``sigma``).
``procrustes`` (distance, radians)
    angular Procrustes distance in [0, pi/2]: the angle between the centred
    representations after the best rotation.
``shape`` (distance, radians)
    generalised shape metric, option ``alpha`` in [0, 1] (0: CCA, 1: Procrustes).
``permutation_procrustes`` (distance, radians)
    the angle after the best permutation of units.
``svcca``, ``pwcca`` (similarity)
    mean (SVD-reduced, option ``keep``) / projection-weighted canonical correlation.
``mutual_knn``, ``cknna`` (similarity)
    nearest-neighbour alignment (option ``k``, default 10).
``gaussian_shape``, ``energy_shape`` (distance)
    stochastic shape metrics between per-stimulus response distributions; inputs
    are samples: (stimulus, repeat, feature) arrays or (trial, neuroid) responses
    with a ``stimulus`` coord on ``trial``. Option ``alpha`` in [0, 2] for
    ``gaussian_shape`` (1: 2-Wasserstein).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError, DataModelError
from ._methods import Method, get_method

__all__ = ["similarity"]

log = logging.getLogger(__name__)

_SAMPLE_DIMS = ("repeat", "trial", "sample", "presentation")


class _Rep:
    """One representation: payload ((n, p) matrix or list of (r_i, p) samples) and stimulus labels."""

    def __init__(self, payload: Any, labels: np.ndarray | None, name: str | None):
        self.payload = payload
        self.labels = labels
        self.name = name

    @property
    def n(self) -> int:
        return len(self.payload) if isinstance(self.payload, list) else self.payload.shape[0]

    def take(self, pos: np.ndarray) -> _Rep:
        if isinstance(self.payload, list):
            return _Rep([self.payload[i] for i in pos], None if self.labels is None else self.labels[pos], self.name)
        return _Rep(self.payload[pos], None if self.labels is None else self.labels[pos], self.name)


def _check_finite(a: np.ndarray, what: str, name: str | None) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.float32:  # float32 layers stay float32 (the kernels choose their precision)
        a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        raise BadInputError(f"{what}: representation {name or ''!s} is empty (shape {a.shape}).")
    if not np.isfinite(a).all():
        raise BadInputError(
            f"{what}: representation {name or ''!s} holds {int((~np.isfinite(a)).sum())} NaN/inf value(s); "
            "drop or impute those stimuli/features first."
        )
    return a


def _labels(da: xr.DataArray, dim: str) -> np.ndarray | None:
    if dim in da.coords and da[dim].dims == (dim,):
        return np.asarray(da[dim].values)
    return None


def _features_from_dataarray(da: xr.DataArray, what: str, name: str | None) -> _Rep:
    if "stimulus" not in da.dims:
        if "trial" in da.dims and "stimulus" in da.coords and da["stimulus"].dims == ("trial",):
            log.info("%s: averaging the trials of each stimulus of %s", what, name or "the responses")
            other = [d for d in da.dims if d != "trial"]
            da = da.groupby("stimulus").mean("trial").transpose("stimulus", *other)
        else:
            raise DataModelError(
                f"{what}: representation {name or ''!s} has dims {tuple(da.dims)}; it needs a 'stimulus' dim "
                "(or (trial, ...) responses with a 'stimulus' coord on 'trial')."
            )
    other = [d for d in da.dims if d != "stimulus"]
    if not other:
        raise DataModelError(f"{what}: representation {name or ''!s} has no feature dim besides 'stimulus'.")
    x = np.asarray(da.transpose("stimulus", *other).values).reshape(da.sizes["stimulus"], -1)
    return _Rep(_check_finite(x, what, name), _labels(da, "stimulus"), name)


def _samples_from_dataarray(da: xr.DataArray, what: str, name: str | None) -> _Rep:
    if "stimulus" in da.dims:
        rep = [d for d in da.dims if d in _SAMPLE_DIMS]
        if len(rep) != 1:
            raise DataModelError(
                f"{what}: samples need dims (stimulus, <repeat dim>, feature...) with the repeat dim one of "
                f"{_SAMPLE_DIMS}; got {tuple(da.dims)}."
            )
        other = [d for d in da.dims if d not in ("stimulus", rep[0])]
        arr = np.asarray(da.transpose("stimulus", rep[0], *other).values)
        arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
        arr = _check_finite(arr, what, name)
        return _Rep([a for a in arr], _labels(da, "stimulus"), name)
    if "trial" in da.dims and "stimulus" in da.coords and da["stimulus"].dims == ("trial",):
        other = [d for d in da.dims if d != "trial"]
        x = _check_finite(np.asarray(da.transpose("trial", *other).values).reshape(da.sizes["trial"], -1), what, name)
        stim = np.asarray(da["stimulus"].values)
        codes, uniq = pd.factorize(stim, sort=False)
        groups = [x[codes == i] for i in range(len(uniq))]
        return _Rep(groups, np.asarray(uniq), name)
    raise DataModelError(
        f"{what}: samples must be (stimulus, repeat, feature) or (trial, neuroid) responses with a 'stimulus' coord "
        f"on 'trial'; got dims {tuple(da.dims)}."
    )


def _one(obj: Any, method: Method, what: str, name: str | None) -> _Rep:
    samples = method.inputs == "samples"
    if isinstance(obj, xr.DataArray):
        return (_samples_from_dataarray if samples else _features_from_dataarray)(obj, what, name)
    if isinstance(obj, xr.Dataset):
        raise DataModelError(f"{what}: nested Dataset for layer {name!r}.")  # pragma: no cover - guarded by caller
    if samples and isinstance(obj, (list, tuple)):
        groups = [_check_finite(np.asarray(g), what, name) for g in obj]
        if any(g.ndim != 2 for g in groups) or len({g.shape[1] for g in groups}) != 1:
            raise DataModelError(f"{what}: a list of samples must hold one (repeat, feature) array per stimulus.")
        return _Rep(groups, None, name)
    arr = np.asarray(obj)
    if samples:
        if arr.ndim != 3:
            raise DataModelError(
                f"{what}: method {method.name!r} compares response distributions; pass (stimulus, repeat, feature) "
                f"samples, got an array of shape {arr.shape}."
            )
        arr = _check_finite(arr, what, name)
        return _Rep([a for a in arr], None, name)
    if arr.ndim != 2:
        raise DataModelError(
            f"{what}: representations must be (stimulus, feature) arrays; got shape {arr.shape}"
            + (" (average the repeats first, or use 'gaussian_shape' for samples)." if arr.ndim == 3 else ".")
        )
    return _Rep(_check_finite(arr, what, name), None, name)


def _reps(obj: Any, method: Method, what: str) -> tuple[list[_Rep], bool]:
    if isinstance(obj, xr.Dataset):
        if not obj.data_vars:
            raise DataModelError(f"{what}: got a Dataset without layers.")
        return [_one(v, method, what, str(k)) for k, v in obj.data_vars.items()], True
    if isinstance(obj, dict):
        if not obj:
            raise DataModelError(f"{what}: got an empty mapping of layers.")
        return [_one(v, method, what, str(k)) for k, v in obj.items()], True
    return [_one(obj, method, what, None)], False


def _align(xs: list[_Rep], ys: list[_Rep], what: str) -> tuple[list[_Rep], list[_Rep]]:
    """Put every representation in the stimulus order of the first one of ``x`` (by label when all have labels)."""
    ref = xs[0]
    allrep = xs + ys
    if all(r.labels is not None for r in allrep):
        for r in allrep:
            if len(pd.unique(r.labels)) != len(r.labels):
                raise DataModelError(f"{what}: representation {r.name or ''!s} lists some stimulus labels twice.")
        out = []
        for r in allrep:
            pos = pd.Index(r.labels).get_indexer(ref.labels)
            if (pos < 0).any() or r.n != ref.n:
                missing = np.setdiff1d(ref.labels.astype(str), r.labels.astype(str))[:5].tolist()
                extra = np.setdiff1d(r.labels.astype(str), ref.labels.astype(str))[:5].tolist()
                raise DataModelError(
                    f"{what}: the representations cover different stimuli ({ref.n} vs {r.n}; e.g. missing {missing}, "
                    f"extra {extra}); select the shared stimuli first, e.g. y.sel(stimulus=x.stimulus.values)."
                )
            out.append(r.take(pos))
        return out[: len(xs)], out[len(xs):]
    for r in allrep:
        if r.n != ref.n:
            raise DataModelError(
                f"{what}: the representations have {ref.n} and {r.n} stimuli and no stimulus labels to match them by."
            )
    return xs, ys


def similarity(x: Any, y: Any = None, method: str = "debiased_cka", **options: Any) -> Any:
    """Similarity (or distance) of two representations of the same stimuli.

    Parameters
    ----------
    x, y : numpy.ndarray, xarray.DataArray, xarray.Dataset or mapping
        Representations over the same stimuli: (stimulus, feature) arrays or
        DataArrays with a ``stimulus`` dim (extra feature dims are flattened;
        (trial, neuroid) responses with a ``stimulus`` coord are averaged per
        stimulus), or ``activations`` Datasets / dicts of layers (every layer of
        ``x`` is compared with every layer of ``y``). For ``gaussian_shape`` and
        ``energy_shape``: samples, (stimulus, repeat, feature) arrays, DataArrays
        with a repeat dim (``repeat``/``trial``/``sample``/``presentation``) or
        (trial, neuroid) responses with a ``stimulus`` coord. When every input has
        stimulus labels they are matched by label (order may differ; the sets must
        be equal); otherwise by position. ``y=None`` compares ``x`` with itself
        (all layer pairs of one network).
    method : str
        A registry entry with ``compares == "activations"`` (see
        :data:`neurodecode.analysis.METHODS` and the module docstring); default
        ``"debiased_cka"``.
    **options
        Method options (see ``METHODS[method].options``): ``alpha`` (``shape``,
        ``gaussian_shape``), ``sigma`` (``rbf_cka``), ``keep`` (``svcca``), ``k`` and
        ``normalize`` (``mutual_knn``, ``cknna``), ``centre`` (stochastic metrics).

    Returns
    -------
    float or xarray.DataArray
        A float for two single representations. With layers: a DataArray on
        (``layer_x``, ``layer_y``) (or only the side that has layers), named after
        the method, attrs ``method``, ``kind`` (``"similarity"`` or ``"distance"``),
        ``n_stimuli`` and the options used.

    Raises
    ------
    BadInputError
        Unknown method (the message lists the registry), an RDM method, unknown
        options, NaN/inf, too few stimuli.
    DataModelError
        Wrong dims or representations over different stimuli.

    Examples
    --------
    >>> import numpy as np
    >>> from neurodecode.analysis import similarity
    >>> x = np.random.default_rng(0).normal(size=(50, 20))
    >>> q = np.linalg.qr(np.random.default_rng(1).normal(size=(20, 20)))[0]
    >>> round(similarity(x, 3 * x @ q + 1, "linear_cka"), 6)
    1.0
    """
    what = "similarity"
    spec = get_method(method, compares="activations", what=what)
    opts = spec.check_options(options, what)
    same = y is None
    xs, x_multi = _reps(x, spec, what)
    if same:
        ys, y_multi = xs, x_multi
    else:
        ys, y_multi = _reps(y, spec, what)
        xs, ys = _align(xs, ys, what)
    n = xs[0].n
    if n < spec.min_stimuli:
        raise BadInputError(f"{what}: {spec.name!r} needs at least {spec.min_stimuli} stimuli; got {n}.")
    prep_x = [spec.prepare(r.payload, **opts) for r in xs]
    prep_y = prep_x if same else [spec.prepare(r.payload, **opts) for r in ys]
    out = np.full((len(xs), len(ys)), np.nan)
    for i in range(len(xs)):
        for j in range(len(ys)):
            if same and spec.symmetric and j < i:
                out[i, j] = out[j, i]
                continue
            out[i, j] = spec.pair(prep_x[i], prep_y[j], **opts)
    if not x_multi and not y_multi:
        return float(out[0, 0])
    attrs = {"method": spec.name, "kind": spec.kind, "n_stimuli": int(n),
             **{k: (str(v) if v is None or isinstance(v, bool) else v) for k, v in opts.items()}}
    if x_multi and y_multi:
        da = xr.DataArray(out, dims=("layer_x", "layer_y"),
                          coords={"layer_x": [r.name for r in xs], "layer_y": [r.name for r in ys]})
    elif x_multi:
        da = xr.DataArray(out[:, 0], dims=("layer_x",), coords={"layer_x": [r.name for r in xs]})
    else:
        da = xr.DataArray(out[0], dims=("layer_y",), coords={"layer_y": [r.name for r in ys]})
    da.name = spec.name
    da.attrs.update(attrs)
    return da
