"""RDM stacks: parsing of the accepted inputs, and conversion to / from rsatoolbox.

An RDM stack in neurodecode is a DataArray with dims (``rdm``, ``stimulus``,
``stimulus_``) (data-model kind ``rdm``): one square, symmetric dissimilarity
matrix per entry of ``rdm``, the stimulus labels on both stimulus dims, the
identifying coords (``name``, ``layer``, ``subject``...) on ``rdm`` and the
dissimilarity measure in ``attrs['method']``.

:func:`to_rsatoolbox` and :func:`from_rsatoolbox` convert such a stack to and
from :class:`rsatoolbox.rdm.RDMs`: the ``rdm`` coords become
``rdm_descriptors``, the stimulus labels (and other coords on ``stimulus``)
become ``pattern_descriptors`` and ``attrs['method']`` the
``dissimilarity_measure``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from ..datamodel import validate
from ..errors import BadInputError, DataModelError

__all__ = ["to_rsatoolbox", "from_rsatoolbox"]


@dataclass
class _Stack:
    """An RDM stack reduced to what the computations need (private)."""

    vectors: np.ndarray  # (k, n(n-1)/2) float64, upper triangles in row-major order (squareform order)
    n_cond: int
    stimulus: np.ndarray | None  # stimulus labels, None for unlabelled numpy input
    index: np.ndarray  # labels along ``rdm``
    coords: dict[str, np.ndarray] = field(default_factory=dict)  # other coords along ``rdm``
    method: str | None = None
    stimulus_coords: dict[str, np.ndarray] = field(default_factory=dict)


def _is_rsatoolbox_rdms(obj: Any) -> bool:
    return (
        hasattr(obj, "get_vectors")
        and hasattr(obj, "dissimilarity_measure")
        and hasattr(obj, "rdm_descriptors")
        and hasattr(obj, "pattern_descriptors")
    )


def _triu(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, 1)


def _check_matrices(mats: np.ndarray, what: str) -> np.ndarray:
    """Check a (k, n, n) float stack: square, no inf, symmetric; return upper-triangle vectors."""
    if mats.ndim != 3 or mats.shape[1] != mats.shape[2]:
        raise DataModelError(
            f"{what}: RDMs must be square matrices (n, n) or a stack (k, n, n); got shape {mats.shape}."
        )
    k, n, _ = mats.shape
    if k == 0:
        raise BadInputError(f"{what}: the RDM stack is empty (no RDM along 'rdm').")
    if n < 3:
        raise BadInputError(
            f"{what}: RDMs need at least 3 stimuli to be compared (got {n}); "
            "an RDM of 2 stimuli has a single dissimilarity."
        )
    iu = _triu(n)
    upper = mats[:, iu[0], iu[1]]
    if not np.isinf(mats).any() and (mats == mats.transpose(0, 2, 1)).all():
        return np.ascontiguousarray(upper)  # exactly symmetric, finite: the common case
    lower = mats.transpose(0, 2, 1)[:, iu[0], iu[1]]
    if np.isinf(upper).any() or np.isinf(lower).any():
        r, p = np.argwhere(np.isinf(upper) | np.isinf(lower))[0]
        raise BadInputError(
            f"{what}: RDM {int(r)} holds inf (at stimulus pair ({int(iu[0][p])}, {int(iu[1][p])})); "
            "fix it, or mark a missing dissimilarity with NaN."
        )
    same = upper == lower
    if not same.all():  # exact symmetry is the common case; otherwise allow rounding differences
        nan_u, nan_l = np.isnan(upper), np.isnan(lower)
        scale = np.nanmax(np.abs(upper)) if not nan_u.all() else 1.0
        bad = ~same & ((nan_u != nan_l) | (
            ~nan_u & ~nan_l & ~np.isclose(upper, lower, rtol=1e-6, atol=1e-9 * max(scale, 1e-300))
        ))
        if bad.any():
            r, p = np.argwhere(bad)[0]
            i, j = int(iu[0][p]), int(iu[1][p])
            raise BadInputError(
                f"{what}: RDM {int(r)} is not symmetric (entry [{i}, {j}] = {mats[r, i, j]!r} but "
                f"[{j}, {i}] = {mats[r, j, i]!r}). Dissimilarities must be symmetric; if the asymmetry "
                "is intended noise, symmetrise first with (M + M.T) / 2."
            )
    return np.ascontiguousarray(upper, dtype=np.float64)


def _labels_or_none(da: xr.DataArray, dim: str) -> np.ndarray | None:
    if dim in da.coords:
        return np.asarray(da.coords[dim].values)
    return None


def _as_stack(obj: Any, what: str = "rdms") -> _Stack:
    """Parse any accepted RDM-stack input into a :class:`_Stack` (never mutates ``obj``)."""
    if _is_rsatoolbox_rdms(obj):
        vec = np.array(obj.get_vectors(), dtype=np.float64, copy=True)
        if vec.ndim != 2:
            raise DataModelError(f"{what}: rsatoolbox RDMs gave vectors of shape {vec.shape}.")
        n = int(obj.n_cond)
        if vec.shape[1] != n * (n - 1) // 2:
            raise DataModelError(f"{what}: rsatoolbox RDMs hold {vec.shape[1]} values for {n} conditions.")
        if np.isinf(vec).any():
            raise BadInputError(f"{what}: RDM values contain inf; fix or mask them.")
        k = vec.shape[0]
        rdesc = {key: np.asarray(val) for key, val in obj.rdm_descriptors.items()}
        pdesc = {key: np.asarray(val) for key, val in obj.pattern_descriptors.items()}
        index = rdesc.pop("rdm", None)
        auto_index = rdesc.get("index")
        if index is None:
            index = rdesc.pop("index", np.arange(k))
        elif auto_index is not None and np.array_equal(auto_index, np.arange(k)):
            rdesc.pop("index")
        stim = None
        for key in ("stimulus", "conds", "index"):
            if key in pdesc:
                stim = pdesc.pop(key)
                break
        if "index" in pdesc and np.array_equal(pdesc["index"], np.arange(n)):
            pdesc.pop("index")
        coords = {c: v for c, v in rdesc.items() if v.ndim == 1 and len(v) == k}
        scoords = {c: v for c, v in pdesc.items() if v.ndim == 1 and len(v) == n}
        return _Stack(vec, n, stim, np.asarray(index), coords, obj.dissimilarity_measure, scoords)

    if isinstance(obj, xr.Dataset):
        raise DataModelError(
            f"{what}: got an xarray Dataset; pass the RDM DataArray (dims ('rdm', 'stimulus', "
            "'stimulus_')) returned by neurodecode.analysis.rdm, e.g. ds['rdms']."
        )
    if isinstance(obj, xr.DataArray):
        da = obj
        if set(da.dims) == {"stimulus", "stimulus_"}:
            da = da.expand_dims("rdm")
        if set(da.dims) != {"rdm", "stimulus", "stimulus_"}:
            raise DataModelError(
                f"{what}: an RDM stack needs dims ('rdm', 'stimulus', 'stimulus_') (or a single "
                f"('stimulus', 'stimulus_') RDM); got dims {tuple(obj.dims)}. Build one with "
                "neurodecode.analysis.rdm(...) or rename the dims with .rename({...})."
            )
        da = da.transpose("rdm", "stimulus", "stimulus_")
        if "method" not in da.attrs:
            da = da.assign_attrs(method="unknown")
        validate(da, "rdm", finite=False)
        if not np.issubdtype(da.dtype, np.number) or np.issubdtype(da.dtype, np.complexfloating):
            raise BadInputError(f"{what}: RDM values must be real numbers, got dtype {da.dtype}.")
        mats = np.asarray(da.values, dtype=np.float64)
        vec = _check_matrices(mats, what)
        k, n = mats.shape[0], mats.shape[1]
        stim = _labels_or_none(da, "stimulus")
        stim_ = _labels_or_none(da, "stimulus_")
        if stim is not None and stim_ is not None and not np.array_equal(stim, stim_):
            raise DataModelError(
                f"{what}: the labels on 'stimulus' and 'stimulus_' differ; both dims of an RDM must "
                "list the same stimuli in the same order."
            )
        if stim is None:
            stim = stim_
        index = _labels_or_none(da, "rdm")
        if index is None:
            index = np.arange(k)
        coords = {}
        scoords = {}
        for name, c in da.coords.items():
            if name in ("rdm", "stimulus", "stimulus_"):
                continue
            if c.dims == ("rdm",):
                coords[str(name)] = np.asarray(c.values)
            elif c.dims == ("stimulus",):
                scoords[str(name)] = np.asarray(c.values)
        return _Stack(vec, n, stim, np.asarray(index), coords, str(da.attrs.get("method")), scoords)

    try:
        arr = np.asarray(obj)
    except Exception as err:  # pragma: no cover - exotic objects
        raise DataModelError(f"{what}: cannot read an RDM stack from a {type(obj).__name__}.") from err
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.issubdtype(
        arr.dtype, np.complexfloating
    ):
        raise DataModelError(
            f"{what}: expected an RDM stack (xarray DataArray ('rdm', 'stimulus', 'stimulus_'), a "
            f"square numpy array (n, n) / (k, n, n) or rsatoolbox RDMs); got {type(obj).__name__} "
            f"with dtype {arr.dtype}."
        )
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise DataModelError(
            f"{what}: a numpy RDM stack must be (n, n) or (k, n, n); got shape {arr.shape}."
        )
    mats = np.asarray(arr, dtype=np.float64)
    vec = _check_matrices(mats, what)
    return _Stack(vec, mats.shape[1], None, np.arange(mats.shape[0]), {}, None, {})


def _matrices(vectors: np.ndarray, n: int) -> np.ndarray:
    """(k, n(n-1)/2) upper-triangle vectors -> (k, n, n) symmetric matrices with a zero diagonal."""
    k = vectors.shape[0]
    out = np.zeros((k, n, n), dtype=vectors.dtype)
    iu = _triu(n)
    out[:, iu[0], iu[1]] = vectors
    out[:, iu[1], iu[0]] = vectors
    return out


def _stack_to_dataarray(st: _Stack) -> xr.DataArray:
    stim = st.stimulus if st.stimulus is not None else np.arange(st.n_cond)
    coords: dict[str, Any] = {"rdm": st.index, "stimulus": stim, "stimulus_": stim}
    for name, values in st.coords.items():
        coords[name] = ("rdm", values)
    for name, values in st.stimulus_coords.items():
        coords[name] = ("stimulus", values)
    da = xr.DataArray(
        _matrices(st.vectors, st.n_cond), dims=("rdm", "stimulus", "stimulus_"), coords=coords, name="rdm"
    )
    da.attrs.update({"nd_kind": "rdm", "method": st.method if st.method is not None else "unknown"})
    return da


def to_rsatoolbox(rdm_stack: Any):
    """Convert an RDM stack to :class:`rsatoolbox.rdm.RDMs`.

    Parameters
    ----------
    rdm_stack : xarray.DataArray or numpy.ndarray
        A stack with dims (``rdm``, ``stimulus``, ``stimulus_``) (as returned by
        :func:`neurodecode.analysis.rdm`), a single (``stimulus``, ``stimulus_``)
        RDM, or square numpy matrices (n, n) / (k, n, n).

    Returns
    -------
    rsatoolbox.rdm.RDMs
        Dissimilarities as upper-triangle vectors (rsatoolbox's layout);
        ``dissimilarity_measure`` from ``attrs['method']``; ``rdm_descriptors``
        ``'rdm'`` (the labels along ``rdm``) plus every other coord on ``rdm``;
        ``pattern_descriptors`` ``'stimulus'`` (the labels) plus every other coord
        on ``stimulus``. rsatoolbox adds its own ``'index'`` descriptors.

    Notes
    -----
    The conversion copies the data; the input is not modified. Method names are
    kept as they are: neurodecode's ``'euclidean'`` is rsatoolbox's
    ``'squared euclidean'`` measure (same values, see ``docs/rsa.md``).
    """
    from .._optional import require

    rdm_mod = require("rsatoolbox.rdm")
    st = _as_stack(rdm_stack, "to_rsatoolbox")
    rdm_desc = {"rdm": list(st.index)}
    for name, values in st.coords.items():
        rdm_desc[name] = list(values)
    stim = st.stimulus if st.stimulus is not None else np.arange(st.n_cond)
    pat_desc = {"stimulus": list(stim)}
    for name, values in st.stimulus_coords.items():
        pat_desc[name] = list(values)
    return rdm_mod.RDMs(
        st.vectors.copy(),
        dissimilarity_measure=st.method,
        rdm_descriptors=rdm_desc,
        pattern_descriptors=pat_desc,
    )


def from_rsatoolbox(rdms: Any) -> xr.DataArray:
    """Convert :class:`rsatoolbox.rdm.RDMs` to an RDM stack DataArray.

    Parameters
    ----------
    rdms : rsatoolbox.rdm.RDMs
        The RDMs to convert (not modified).

    Returns
    -------
    xarray.DataArray
        Dims (``rdm``, ``stimulus``, ``stimulus_``), symmetric matrices with a zero
        diagonal. The ``rdm`` labels come from the ``'rdm'`` rdm descriptor when
        present, else rsatoolbox's ``'index'``; other rdm descriptors become coords
        on ``rdm``. Stimulus labels come from the ``'stimulus'`` pattern descriptor,
        else ``'conds'``, else ``'index'``; other pattern descriptors become coords
        on ``stimulus``. ``attrs['method']`` is the ``dissimilarity_measure``.
        NaN dissimilarities (masked pairs) are kept as NaN.
    """
    if not _is_rsatoolbox_rdms(rdms):
        raise DataModelError(
            f"from_rsatoolbox: expected rsatoolbox.rdm.RDMs, got {type(rdms).__name__}."
        )
    st = _as_stack(rdms, "from_rsatoolbox")
    da = _stack_to_dataarray(st)
    for key, value in getattr(rdms, "descriptors", {}).items():
        if isinstance(value, (str, int, float, bool, np.integer, np.floating)):
            da.attrs[str(key)] = value
    return da
