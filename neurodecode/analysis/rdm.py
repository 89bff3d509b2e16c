"""Representational dissimilarity matrices (RDMs), batched in torch.

:func:`rdm` turns (stimulus, feature) response patterns -- one array, or a
stack of them (subjects, layers, ROIs) -- into an RDM stack: a DataArray with
dims (``rdm``, ``stimulus``, ``stimulus_``). The whole stack is computed at
once (one batched matrix product per group of equally shaped inputs; from
512 stimuli on, only the upper block triangle of it, in 8 row blocks, since
RDMs are symmetric), in float64 by default, on the CPU or a CUDA device.

Conventions follow rsatoolbox's ``rsatoolbox.rdm.calc_rdm`` exactly (results
agree to 1e-8 in float64, see ``tests/analysis/test_rdm.py``):

``correlation``
    ``1 - r``: each pattern is centred over features and scaled to unit norm,
    ``D = 1 - X X^T``.
``euclidean``
    *squared* euclidean distance divided by the number of features,
    ``||x_i - x_j||^2 / n_features`` (rsatoolbox's ``'euclidean'``, whose
    measure it calls ``'squared euclidean'``).
``mahalanobis``
    ``(x_i - x_j)^T P (x_i - x_j) / n_features`` with ``P`` the noise
    *precision* matrix given as ``noise`` (identity -> ``euclidean``).
``crossnobis``
    cross-validated mahalanobis over runs (leave one run out): for each run
    ``r``, ``A`` = per-stimulus mean of the other runs' observations and ``B``
    = per-stimulus mean of run ``r``, ``d_ij = (a_i - a_j)^T P (b_i - b_j) /
    n_features``, averaged over the runs. Unbiased: can be negative.
``poisson``
    symmetrised KL divergence between Poisson rates (spike counts):
    ``x' = (x + prior_lambda * prior_weight) / (1 + prior_weight)``,
    ``d_ij = (x'_i - x'_j) . (log x'_i - log x'_j) / n_features``.

Where a stimulus label occurs on several rows (repeated trials), the rows are
averaged per stimulus first (as rsatoolbox does with a descriptor); the
stimuli keep the order of their first appearance (rsatoolbox sorts them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..datamodel import validate
from ..errors import BadInputError, DataModelError

__all__ = ["rdm", "RDM_METHODS"]

#: dissimilarity measures of :func:`rdm` (``neurodecode.analysis.METHODS`` is the comparison registry)
RDM_METHODS = ("correlation", "euclidean", "mahalanobis", "crossnobis", "poisson")
METHODS = RDM_METHODS  # the historical module attribute

_MEMBER_ATTRS = ("subject", "session", "run", "model", "layer", "roi", "modality")
_OBS_DIMS = ("stimulus", "trial")


@dataclass
class _Member:
    """One (observation, feature) input of the stack (private)."""

    label: Any
    x: Any  # numpy array or torch tensor, (n_obs, n_feat)
    obs_labels: np.ndarray | None
    source: xr.DataArray | None  # for looking up a runs coord
    obs_dim: str | None
    coords: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- input parsing


def _lab(value: Any) -> Any:
    """A label as a plain Python value (for readable error messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _member_from_dataarray(da: xr.DataArray, label: Any, coords: dict[str, Any]) -> _Member:
    if da.ndim != 2:
        raise DataModelError(
            f"rdm: input {label!r} has dims {tuple(da.dims)}; each input must be 2-D "
            "(stimulus, feature) (any feature dim name), or 3-D with a leading stack dim."
        )
    if "stimulus" in da.dims:
        obs_dim = "stimulus"
    elif "trial" in da.dims and "stimulus" in da.coords and da.coords["stimulus"].dims == ("trial",):
        obs_dim = "trial"
    else:
        raise DataModelError(
            f"rdm: input {label!r} has dims {tuple(da.dims)} but no 'stimulus' dim. Name the "
            "stimulus dim 'stimulus' (da.rename({'old': 'stimulus'})), or give (trial, feature) data "
            "a 'stimulus' coord on 'trial' saying which stimulus each trial showed."
        )
    feat_dim = [d for d in da.dims if d != obs_dim][0]
    da = da.transpose(obs_dim, feat_dim)
    if "stimulus" in da.coords:
        labels = np.asarray(da.coords["stimulus"].values)
    else:
        labels = None
    for attr in _MEMBER_ATTRS:
        if attr in da.attrs and attr not in coords and np.isscalar(da.attrs[attr]):
            coords[attr] = da.attrs[attr]
    return _Member(label, da.data, labels, da, obs_dim, coords)


def _member(obj: Any, label: Any, coords: dict[str, Any] | None = None) -> _Member:
    coords = dict(coords or {})
    if isinstance(obj, xr.DataArray):
        return _member_from_dataarray(obj, label, coords)
    if _is_torch(obj):
        if obj.ndim != 2:
            raise DataModelError(f"rdm: input {label!r} must be 2-D (stimulus, feature), got shape {tuple(obj.shape)}.")
        return _Member(label, obj, None, None, None, coords)
    arr = np.asarray(obj)
    if arr.ndim != 2:
        raise DataModelError(
            f"rdm: input {label!r} must be 2-D (stimulus, feature), got shape {arr.shape}."
        )
    return _Member(label, arr, None, None, None, coords)


def _members(data: Any) -> tuple[list[_Member], str | None, dict[str, Any]]:
    """Split any accepted input into members; return them, the stack dim name and extra attrs."""
    attrs: dict[str, Any] = {}
    if isinstance(data, xr.Dataset):
        validate(data, "activations")
        if "model" in data.attrs:
            attrs["model"] = data.attrs["model"]
        return (
            [_member(v, str(k), {"name": str(k), "layer": str(k)}) for k, v in data.data_vars.items()],
            None,
            attrs,
        )
    if isinstance(data, Mapping):
        if not data:
            raise BadInputError("rdm: got an empty mapping; pass at least one (stimulus, feature) array.")
        return [_member(v, k, {"name": str(k)}) for k, v in data.items()], None, attrs
    if isinstance(data, (list, tuple)):
        if not data:
            raise BadInputError("rdm: got an empty list; pass at least one (stimulus, feature) array.")
        names = [getattr(v, "name", None) if isinstance(v, xr.DataArray) else None for v in data]
        use_names = all(n is not None for n in names) and len(set(map(str, names))) == len(names)
        out = []
        for i, v in enumerate(data):
            label = str(names[i]) if use_names else i
            extra = {"name": str(names[i])} if names[i] is not None else {}
            out.append(_member(v, label, extra))
        return out, None, attrs
    if isinstance(data, xr.DataArray):
        if data.ndim == 2:
            label = data.name if data.name is not None else 0
            return [_member(data, label, {"name": str(data.name)} if data.name is not None else {})], None, attrs
        if data.ndim == 3:
            lead = data.dims[0]
            if lead in _OBS_DIMS:
                raise DataModelError(
                    f"rdm: a 3-D input needs a leading stack dim (e.g. 'subject', 'layer'), then "
                    f"(stimulus, feature); got dims {tuple(data.dims)}. Transpose with "
                    ".transpose('subject', 'stimulus', ...)."
                )
            labels = np.asarray(data.coords[lead].values) if lead in data.coords else np.arange(data.sizes[lead])
            extra = {
                str(name): np.asarray(c.values)
                for name, c in data.coords.items()
                if c.dims == (lead,) and name != lead
            }
            members = []
            for i in range(data.sizes[lead]):
                coords = {str(lead): labels[i], **{k: v[i] for k, v in extra.items()}}
                members.append(_member(data.isel({lead: i}, drop=True), labels[i], coords))
            return members, str(lead), attrs
        raise DataModelError(
            f"rdm: expected a (stimulus, feature) DataArray or a 3-D stack (stack, stimulus, feature); "
            f"got dims {tuple(data.dims)}. Merge extra dims with .stack(...) first."
        )
    if _is_torch(data):
        if data.ndim == 2:
            return [_member(data, 0)], None, attrs
        if data.ndim == 3:
            return [_member(data[i], i) for i in range(data.shape[0])], None, attrs
        raise DataModelError(f"rdm: a tensor must be (n_stim, n_feat) or (n_rdm, n_stim, n_feat); got {tuple(data.shape)}.")
    arr = np.asarray(data)
    if arr.dtype == object:
        raise DataModelError(f"rdm: cannot read patterns from a {type(data).__name__}.")
    if arr.ndim == 2:
        return [_member(arr, 0)], None, attrs
    if arr.ndim == 3:
        return [_member(arr[i], i) for i in range(arr.shape[0])], None, attrs
    raise DataModelError(
        f"rdm: a numpy input must be (n_stim, n_feat) or (n_rdm, n_stim, n_feat); got shape {arr.shape}."
    )


def _check_values(m: _Member, scan: bool = True) -> None:
    x = m.x
    if _is_torch(x):
        import torch

        if x.is_complex():
            raise BadInputError(f"rdm: input {_lab(m.label)!r} must hold real numbers, got {x.dtype}.")
        finite = torch.isfinite(x) if (scan and x.is_floating_point()) else None
        if finite is not None and not bool(finite.all()):
            where = torch.nonzero(~finite)[0].tolist()
            raise BadInputError(
                f"rdm: input {_lab(m.label)!r} holds {int((~finite).sum())} NaN/inf value(s) (first at row {where[0]}, "
                f"column {where[1]}). Drop or impute them before computing RDMs."
            )
        shape = tuple(x.shape)
    else:
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.issubdtype(x.dtype, np.complexfloating):
            raise BadInputError(f"rdm: input {_lab(m.label)!r} must hold real numbers, got dtype {x.dtype}.")
        m.x = x
        if scan and np.issubdtype(x.dtype, np.floating):
            bad = ~np.isfinite(x)
            if bad.any():
                where = np.argwhere(bad)[0].tolist()
                stim = m.obs_labels[where[0]] if m.obs_labels is not None else where[0]
                raise BadInputError(
                    f"rdm: input {_lab(m.label)!r} holds {int(bad.sum())} NaN/inf value(s) (first at stimulus "
                    f"{_lab(stim)!r}, feature index {where[1]}). Drop or impute them before computing RDMs."
                )
        shape = x.shape
    if shape[0] < 2:
        raise BadInputError(f"rdm: input {_lab(m.label)!r} has {shape[0]} stimulus row(s); an RDM needs at least 2.")
    if shape[1] < 1:
        raise BadInputError(f"rdm: input {_lab(m.label)!r} has no features (0 columns).")


def _runs_of(m: _Member, runs: Any, n_obs: int) -> np.ndarray:
    if isinstance(runs, str):
        if m.source is None or runs not in m.source.coords:
            raise BadInputError(
                f"rdm: runs={runs!r} names a coord, but input {_lab(m.label)!r} has no such coord along its "
                "stimulus/trial dim; pass an array with the run of each row instead."
            )
        values = np.asarray(m.source.coords[runs].values)
    else:
        values = np.asarray(runs)
    if values.ndim != 1 or values.shape[0] != n_obs:
        raise BadInputError(
            f"rdm: runs must give the run of each of the {n_obs} rows of input {_lab(m.label)!r}; got shape {values.shape}."
        )
    if pd.isna(values).any():
        raise BadInputError(f"rdm: runs of input {_lab(m.label)!r} contain missing values.")
    return values


# --------------------------------------------------------------------------- torch kernels


def _torch_dtype(dtype: Any):
    import torch

    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise BadInputError(f"rdm: dtype must be float32 or float64, got {dtype}.")
        return dtype
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    table = {"float64": torch.float64, "double": torch.float64, "float32": torch.float32, "float": torch.float32}
    if name not in table:
        raise BadInputError(f"rdm: dtype must be 'float64' (default) or 'float32', got {dtype!r}.")
    return table[name]


def _symmetrise(d):
    import torch

    up = torch.triu(d, diagonal=1)
    return up + up.transpose(-1, -2)


def _upper_product(left, right):
    """The upper block triangle of ``left @ right^T`` (k, n, n); entries below it are zero.

    RDMs are symmetric and only their upper triangle is kept, so for large ``n`` the product
    is computed in row blocks against the columns from the block's first row on: about 56% of
    the multiply-adds of the full product (8 blocks), each block one batched matrix product.
    """
    import torch

    k, n, _ = left.shape
    if n < 512:
        return torch.matmul(left, right.transpose(-1, -2))
    out = torch.zeros(k, n, n, dtype=left.dtype, device=left.device)
    step = -(-n // 8)
    for r0 in range(0, n, step):  # 8 row blocks (not a loop over RDMs)
        r1 = min(n, r0 + step)
        out[:, r0:r1, r0:] = torch.matmul(left[:, r0:r1], right[:, r0:].transpose(-1, -2))
    return out


def _distances(x, method: str, prec, prior_lambda: float, prior_weight: float):
    """(k, n, f) condition patterns -> (k, n, n) dissimilarities; only the upper triangle is valid."""
    import torch

    f = x.shape[-1]
    if method == "correlation":
        # Gram matrix of the centred patterns without a centred copy of the (large) patterns:
        # (x_i - m_i).(x_j - m_j) = x_i.x_j - f m_i m_j. When a pattern's mean is large relative
        # to its spread this subtraction would cancel digits: then centre explicitly.
        mean = x.mean(dim=-1)
        gram = _upper_product(x, x) - f * mean.unsqueeze(-1) * mean.unsqueeze(-2)
        ss = torch.diagonal(gram, dim1=-2, dim2=-1)  # sums of squares of the centred patterns
        if bool((f * mean * mean > 1e3 * ss).any()):
            xc = x - mean.unsqueeze(-1)
            gram = _upper_product(xc, xc)
            ss = torch.einsum("knf,knf->kn", xc, xc)
        norm = torch.sqrt(ss)
        return 1.0 - gram / norm.unsqueeze(-1) / norm.unsqueeze(-2), norm
    if method == "euclidean" or (method == "mahalanobis" and prec is None):
        sq = torch.einsum("knf,knf->kn", x, x)
        k = _upper_product(x, x)
        return (sq.unsqueeze(-1) + sq.unsqueeze(-2) - 2.0 * k) / f, None
    if method == "mahalanobis":
        k = _upper_product(torch.matmul(x, prec), x)
        dg = torch.diagonal(k, dim1=-2, dim2=-1)
        return (dg.unsqueeze(-1) + dg.unsqueeze(-2) - 2.0 * k) / f, None
    if method == "poisson":
        xp = (x + prior_lambda * prior_weight) / (1.0 + prior_weight)
        k = torch.matmul(xp, torch.log(xp).transpose(-1, -2))
        dg = torch.diagonal(k, dim1=-2, dim2=-1)
        return (dg.unsqueeze(-1) + dg.unsqueeze(-2) - k - k.transpose(-1, -2)) / f, None
    raise AssertionError(method)  # pragma: no cover


def _crossnobis(x, cond, run_codes, n_cond: int, n_runs: int, prec):
    """(k, n_obs, f) observations -> (k, n_cond, n_cond) crossnobis dissimilarities."""
    import torch

    k, n_obs, f = x.shape
    dev, dt = x.device, x.dtype
    cond_t = torch.tensor(np.asarray(cond, dtype=np.int64), device=dev)
    run_t = torch.tensor(np.asarray(run_codes, dtype=np.int64), device=dev)
    # one-hot (run, cond, obs) indicator -> per (run, cond) sums and counts
    onehot = torch.zeros(n_runs, n_cond, n_obs, dtype=dt, device=dev)
    onehot[run_t, cond_t, torch.arange(n_obs, device=dev)] = 1.0
    counts = onehot.sum(-1)  # (R, C)
    sums = torch.einsum("rco,kof->krcf", onehot, x)  # (k, R, C, f)
    test = sums / counts[None, :, :, None]
    train = (sums.sum(1, keepdim=True) - sums) / (counts.sum(0, keepdim=True) - counts)[None, :, :, None]
    left = train if prec is None else torch.matmul(train, prec.unsqueeze(1))  # prec: (k, f, f)
    kern = torch.matmul(left, test.transpose(-1, -2))  # (k, R, C, C)
    dg = torch.diagonal(kern, dim1=-2, dim2=-1)
    d = (dg.unsqueeze(-1) + dg.unsqueeze(-2) - kern - kern.transpose(-1, -2)) / f
    return d.mean(dim=1)


# --------------------------------------------------------------------------- public function


def rdm(
    data: Any,
    method: str = "correlation",
    *,
    runs: Any = None,
    noise: Any = None,
    dtype: Any = "float64",
    device: Any = "auto",
    prior_lambda: float = 1.0,
    prior_weight: float = 0.1,
) -> xr.DataArray:
    """Compute representational dissimilarity matrices for one or many response sets.

    Parameters
    ----------
    data : xarray.DataArray, xarray.Dataset, list, dict, numpy.ndarray or torch.Tensor
        Response patterns, rows = stimuli, columns = features (voxels, channels,
        units, network features...). Accepted forms:

        * a 2-D DataArray with a ``stimulus`` dim and one feature dim of any name;
          or (``trial``, feature) data with a ``stimulus`` coord on ``trial``
          (repeated stimuli are averaged, or split by run for ``crossnobis``);
        * a 3-D DataArray with a leading stack dim (``subject``, ``layer``...):
          one RDM per entry, labelled by that dim's coord;
        * a list, or a dict name -> array, of such 2-D inputs (feature counts may
          differ, e.g. network layers), or an ``activations`` Dataset (one data
          variable per layer);
        * plain numpy / torch arrays (n_stim, n_feat) or (n_rdm, n_stim, n_feat).

        All inputs of a stack must list the same stimuli in the same order.
    method : {"correlation", "euclidean", "mahalanobis", "crossnobis", "poisson"}
        Dissimilarity measure; conventions as rsatoolbox's ``calc_rdm`` (see the
        module docstring and ``docs/rsa.md``).
    runs : array-like or str, optional
        ``crossnobis`` only: the run (cross-validation fold) of each row, or the
        name of a coord along the stimulus/trial dim holding it. Every stimulus
        must occur in every run. Unlabelled numpy rows are matched across runs by
        their order within each run (the k-th row of every run is stimulus k).
    noise : array-like, optional
        ``mahalanobis`` / ``crossnobis``: noise *precision* matrix (n_feat,
        n_feat), or one per input (n_rdm, n_feat, n_feat). Default: identity
        (``mahalanobis`` then equals ``euclidean``).
    dtype : {"float64", "float32"}
        Precision of the computation and of the result.
    device : str or torch.device
        Where to compute: ``"auto"`` (the default; None the same) is the device
        of a torch input, else CUDA when it is available, else the CPU (until
        this release: the CPU); or a device name (``"cpu"``, ``"cuda"``...).
    prior_lambda, prior_weight : float
        ``poisson`` only: prior rate and its weight (rsatoolbox's defaults).

    Returns
    -------
    xarray.DataArray
        RDM stack, dims (``rdm``, ``stimulus``, ``stimulus_``): symmetric, zero
        diagonal. Coords: stimulus labels on both stimulus dims; on ``rdm`` the
        input labels (stack-dim labels, dict keys, layer or array names, else
        0..k-1) plus identifying coords (``name``, ``layer``, the stack dim,
        ``subject``/``session``/... attrs of the inputs) and ``n_features``.
        Attrs: ``nd_kind='rdm'``, ``method``, ``dtype`` (and ``n_runs`` for
        crossnobis).

    Raises
    ------
    DataModelError
        If the input has the wrong dims / shape, or the inputs of a stack list
        different stimuli.
    BadInputError
        On NaN/inf, constant patterns (correlation), negative counts (poisson),
        missing or unbalanced runs, or a bad noise matrix.

    Notes
    -----
    The inputs are never modified. Computation is batched: all inputs with the
    same shape form one (k, n, f) tensor and one batched matrix product (its
    upper block triangle for n >= 512). The correlation distance is taken from
    the raw Gram matrix with the rank-one mean correction ``x_i.x_j - f m_i m_j``
    (no centred copy of the patterns), or from explicitly centred patterns when
    a pattern's mean is large relative to its spread (``f m^2 > 1000 ||x - m||^2``),
    so that no digits are lost. NaN/inf are looked for when the result is not
    finite, and reported with the input and position of the first one.

    Examples
    --------
    >>> import numpy as np
    >>> from neurodecode.analysis import rdm
    >>> rdms = rdm(np.random.default_rng(0).normal(size=(3, 10, 50)))  # 3 RDMs of 10 stimuli
    >>> rdms.dims
    ('rdm', 'stimulus', 'stimulus_')
    """
    import torch

    if method not in RDM_METHODS:
        raise BadInputError(f"rdm: unknown method {method!r}; choose one of {RDM_METHODS}.")
    tdtype = _torch_dtype(dtype)
    members, stack_dim, extra_attrs = _members(data)
    for m in members:
        _check_values(m, scan=False)  # NaN/inf are looked for only if the result is not finite
    from ._device import resolve

    device = torch.device(resolve(device, like=members[0].x))

    # ---- stimuli: the same for every member
    n_obs = int(members[0].x.shape[0])
    ref_labels = next((m.obs_labels for m in members if m.obs_labels is not None), None)
    for m in members:
        if int(m.x.shape[0]) != n_obs:
            raise DataModelError(
                f"rdm: input {_lab(m.label)!r} has {int(m.x.shape[0])} stimulus rows but input "
                f"{_lab(members[0].label)!r} has {n_obs}; every input of a stack must hold the same stimuli."
            )
        if m.obs_labels is not None and ref_labels is not None and not np.array_equal(m.obs_labels, ref_labels):
            raise DataModelError(
                f"rdm: input {_lab(m.label)!r} lists different stimuli (or a different order) than the others; "
                "align them first, e.g. da.sel(stimulus=reference.stimulus)."
            )

    if method != "crossnobis" and runs is not None:
        raise BadInputError(
            f"rdm: runs are only used by method='crossnobis' (got method={method!r}); drop runs=, or "
            "use crossnobis for a cross-validated distance."
        )
    if method not in ("mahalanobis", "crossnobis") and noise is not None:
        raise BadInputError(f"rdm: noise is only used by 'mahalanobis' and 'crossnobis', not {method!r}.")

    # ---- conditions (stimulus of each row)
    n_runs = 0
    run_codes_per_member: list[np.ndarray | None] = [None] * len(members)
    if method == "crossnobis":
        if runs is None:
            raise BadInputError(
                "rdm: method='crossnobis' needs runs= (the run of each row, or the name of a run coord) "
                "to cross-validate over."
            )
        run_values = [_runs_of(m, runs, n_obs) for m in members]
        for i, rv in enumerate(run_values):
            run_codes_per_member[i], _ = pd.factorize(rv, sort=True)
        n_runs = int(run_codes_per_member[0].max()) + 1
        for i, rc in enumerate(run_codes_per_member):
            if int(rc.max()) + 1 != n_runs:
                raise BadInputError("rdm: every input of a crossnobis stack must have the same number of runs.")
        if n_runs < 2:
            raise BadInputError("rdm: crossnobis needs at least 2 runs; all rows are in one run.")
        if ref_labels is not None:
            cond, uniques = pd.factorize(ref_labels)
            stim_labels = np.asarray(uniques)
        else:
            rc = run_codes_per_member[0]
            cond = pd.Series(np.zeros(n_obs)).groupby(rc).cumcount().to_numpy()
            stim_labels = np.arange(int(cond.max()) + 1)
        n_cond = len(stim_labels)
        for m, rc in zip(members, run_codes_per_member):
            seen = np.zeros((n_runs, n_cond), dtype=np.int64)
            np.add.at(seen, (rc, cond), 1)
            if (seen == 0).any():
                r, c = np.argwhere(seen == 0)[0]
                raise BadInputError(
                    f"rdm: crossnobis needs every stimulus in every run, but stimulus {_lab(stim_labels[c])!r} is "
                    f"missing from run {r} of input {_lab(m.label)!r}; drop that stimulus or that run."
                )
    else:
        if ref_labels is not None:
            cond, uniques = pd.factorize(ref_labels)
            stim_labels = np.asarray(uniques)
        else:
            cond = np.arange(n_obs)
            stim_labels = cond.copy()
        n_cond = len(stim_labels)
    if n_cond < 2:
        raise BadInputError("rdm: all rows belong to one stimulus; an RDM needs at least 2 stimuli.")
    averaging = method != "crossnobis" and n_cond != n_obs

    # ---- noise precision
    prec_all = None
    if noise is not None:
        if isinstance(noise, (list, tuple)):
            prec_all = [np.asarray(p, dtype=np.float64) for p in noise]
            if len(prec_all) != len(members):
                raise BadInputError(f"rdm: got {len(prec_all)} noise matrices for {len(members)} inputs.")
        else:
            arr = np.asarray(noise.detach().cpu() if _is_torch(noise) else noise, dtype=np.float64)
            if arr.ndim == 2:
                prec_all = [arr] * len(members)
            elif arr.ndim == 3 and arr.shape[0] == len(members):
                prec_all = list(arr)
            else:
                raise BadInputError(
                    f"rdm: noise must be a (n_feat, n_feat) precision matrix or one per input "
                    f"(n_rdm, n_feat, n_feat); got shape {arr.shape}."
                )
        for m, p in zip(members, prec_all):
            f = int(m.x.shape[1])
            if p.shape != (f, f):
                raise BadInputError(
                    f"rdm: the noise precision for input {_lab(m.label)!r} must be ({f}, {f}) to match its "
                    f"{f} features; got {p.shape}."
                )
            if not np.isfinite(p).all():
                raise BadInputError(f"rdm: the noise precision for input {_lab(m.label)!r} holds NaN/inf.")

    # ---- group equally shaped members, compute each group in one batch
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(members):
        key = (int(m.x.shape[1]),)
        if run_codes_per_member[i] is not None:
            key = key + (run_codes_per_member[i].tobytes(),)
        groups.setdefault(key, []).append(i)
    out = np.empty((len(members), n_cond, n_cond), dtype=np.float64 if tdtype == torch.float64 else np.float32)
    with torch.no_grad():
        cond_t = torch.tensor(np.asarray(cond, dtype=np.int64), device=device)
        for key, idx in groups.items():
            # (k, n, f); may share memory with the input: only out-of-place operations from here on
            parts = [torch.as_tensor(members[i].x, device=device).to(tdtype) for i in idx]
            x = parts[0].unsqueeze(0) if len(parts) == 1 else torch.stack(parts)
            if method == "poisson" and bool((x < 0).any()):
                i = idx[int(torch.nonzero((x < 0).flatten(1).any(1))[0])]
                raise BadInputError(
                    f"rdm: method='poisson' needs non-negative counts/rates, but input {_lab(members[i].label)!r} "
                    "holds negative values."
                )
            if averaging:
                onehot = torch.zeros(n_cond, n_obs, dtype=tdtype, device=device)
                onehot[cond_t, torch.arange(n_obs, device=device)] = 1.0
                x = torch.matmul(onehot / onehot.sum(1, keepdim=True), x)
            prec = None
            if prec_all is not None:
                prec = torch.stack([torch.as_tensor(prec_all[i], device=device).to(tdtype) for i in idx])
            if method == "crossnobis":
                d = _crossnobis(x, cond, run_codes_per_member[idx[0]], n_cond, n_runs, prec)
            else:
                d, norm = _distances(x, method, prec, prior_lambda, prior_weight)
                if norm is not None and bool((norm == 0).any()):
                    g, s = torch.nonzero(norm == 0)[0].tolist()
                    raise BadInputError(
                        f"rdm: stimulus {_lab(stim_labels[s])!r} of input {_lab(members[idx[g]].label)!r} has a constant "
                        "pattern (zero variance over features); its correlation distance is undefined. "
                        "Drop it or use method='euclidean'."
                    )
            d = _symmetrise(d)
            out[idx] = d.detach().cpu().numpy()
    if not np.isfinite(out).all():
        for m in members:
            _check_values(m, scan=True)  # raises, naming the input and the first bad value
        raise BadInputError(
            "rdm: the dissimilarities overflowed (inf/NaN) although the inputs are finite; the values are "
            "too large for the chosen dtype: rescale the data or use dtype='float64'."
        )

    # ---- labels
    labels = [m.label for m in members]
    index = np.asarray(labels) if len(set(map(repr, labels))) == len(labels) else np.arange(len(labels))
    coords: dict[str, Any] = {"rdm": index, "stimulus": stim_labels, "stimulus_": stim_labels}
    names = set().union(*(m.coords.keys() for m in members))
    for name in sorted(names):
        if name in ("rdm", "stimulus", "stimulus_"):
            continue
        if all(name in m.coords for m in members):
            coords[name] = ("rdm", np.asarray([m.coords[name] for m in members]))
    coords["n_features"] = ("rdm", np.asarray([int(m.x.shape[1]) for m in members]))
    result = xr.DataArray(out, dims=("rdm", "stimulus", "stimulus_"), coords=coords, name="rdm")
    result.attrs.update(extra_attrs)
    result.attrs.update(
        {
            "nd_kind": "rdm",
            "method": method,
            "dtype": "float64" if tdtype == torch.float64 else "float32",
        }
    )
    if stack_dim is not None:
        result.attrs["stack_dim"] = stack_dim
    if method == "crossnobis":
        result.attrs["n_runs"] = n_runs
    if method in ("mahalanobis", "crossnobis"):
        result.attrs["noise"] = "identity" if noise is None else "precision given"
    if method == "poisson":
        result.attrs.update({"prior_lambda": float(prior_lambda), "prior_weight": float(prior_weight)})
    return result
