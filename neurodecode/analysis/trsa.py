"""Topological RSA (tRSA): geo-topological transforms of RDMs (Lin & Kriegeskorte 2023).

Lin, B. & Kriegeskorte, N. (2023). *The topology and geometry of neural
representations.* arXiv:2309.11028 (PNAS 2024). Their rank-transformed
geo-topological model (RGTM) family interpolates between the geometry of a
representation (the ranked dissimilarities) and its topology (which stimuli are
neighbours):

:func:`geotopological`
    per RDM: rank-transform the dissimilarities, then map ranks below the
    ``low`` quantile to 0 (same place), above the ``up`` quantile to 1 (far
    apart, distance unknown) and linearly in between. ``low == up`` is the
    pure-topology limit (a binary neighbour graph); ``low=0, up=1`` keeps the
    (rank) geometry.
:func:`geodesic`
    the geodesic RDM: shortest paths through the graph whose edges are the
    pairs below the ``up`` threshold, weighted by their geo-topological values
    (zero-weight edges are edges), then rank-transformed; disconnected pairs
    get the largest value.
:func:`rgtm`
    either of the two, by name of the family member.
:func:`sweep` / :func:`plot_sweep`
    model-selection accuracy over a (low, up) grid, and its heat map.

Differences from rsatoolbox (``rsatoolbox.rdm.transform``; see ``docs/trsa.md``):
quantiles are computed per RDM (rsatoolbox pools all RDMs of an object), the
input is never modified (rsatoolbox edits it in place), values at the
thresholds are well defined (rsatoolbox divides 0 by 0 when ``low == up``),
and the geodesic transform keeps zero-weight edges (networkx, used by
rsatoolbox, drops them) and returns finite, ranked distances.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .._docs import fill_doc
from ..errors import BadInputError, DataModelError
from .compare import _check_same_stimuli, _shared_mask, _similarity
from .convert import _as_stack, _Stack, _stack_to_dataarray
from .inference import _single_threaded

__all__ = ["geotopological", "geodesic", "rgtm", "sweep", "plot_sweep", "RGTM_KINDS"]

RGTM_KINDS = ("geotopological", "geodesic")


# --------------------------------------------------------------------------- helpers


def _check_thresholds(low: float, up: float, what: str) -> tuple[float, float]:
    try:
        lo, hi = float(low), float(up)
    except (TypeError, ValueError) as err:
        raise BadInputError(f"{what}: low and up must be numbers (quantiles in [0, 1]); got {low!r}, {up!r}.") from err
    if not (0.0 <= lo <= 1.0 and 0.0 <= hi <= 1.0):
        raise BadInputError(f"{what}: low and up are quantiles and must lie in [0, 1]; got low={lo}, up={hi}.")
    if lo > hi:
        raise BadInputError(f"{what}: low ({lo}) must not exceed up ({hi}).")
    return lo, hi


def _gt_vectors(v: np.ndarray, low: float, up: float, rank: bool) -> np.ndarray:
    """Geo-topological transform of each row of condensed vectors (NaN kept), quantiles per row."""
    from scipy.stats import rankdata

    has_nan = bool(np.isnan(v).any())
    if rank:
        x = rankdata(v, axis=1, nan_policy="omit") if has_nan else _rank_rows(v, rel_tol=0.0)
    else:
        x = np.array(v, dtype=np.float64, copy=True)
    if has_nan:
        ql = np.nanquantile(x, low, axis=1, keepdims=True)
        qu = np.nanquantile(x, up, axis=1, keepdims=True)
    else:
        ql, qu = np.quantile(x, [low, up], axis=1, keepdims=True)
    span = qu - ql
    with np.errstate(divide="ignore", invalid="ignore"):
        lin = np.clip((x - ql) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    out = np.where(span > 0, lin, (x > qu).astype(np.float64))
    if has_nan:
        out[np.isnan(x)] = np.nan
    return out


def _derived(st: _Stack, vectors: np.ndarray, attrs: dict[str, Any]) -> xr.DataArray:
    new = _Stack(vectors, st.n_cond, st.stimulus, st.index, dict(st.coords), st.method, dict(st.stimulus_coords))
    da = _stack_to_dataarray(new)
    da.attrs.update(attrs)
    return da


def _floyd_warshall(w, edge):
    """All-pairs shortest paths of a stack of graphs (k, n, n) in torch (min-plus, one loop over nodes)."""
    import torch

    k, n, _ = w.shape
    d = torch.where(edge, w, torch.full_like(w, float("inf")))
    idx = torch.arange(n, device=w.device)
    d[:, idx, idx] = 0.0
    via = torch.empty_like(d)
    for j in range(n):  # in place: row and column j do not change in step j (d[j, j] = 0)
        torch.add(d[:, :, j : j + 1], d[:, j : j + 1, :], out=via)
        torch.minimum(d, via, out=d)
    return d


def _fw_upper_py(d: np.ndarray) -> np.ndarray:
    """Floyd-Warshall on the upper triangles of symmetric graphs (k, n, n), in place (numba-compiled).

    ``inf`` = no edge, diagonal 0. Undirected: row k equals column k, so each step reads
    row k once and updates only the pairs i < j -- half the work of a full sweep.
    """
    nr, n, _ = d.shape
    r = np.empty(n)
    for b in range(nr):
        mat = d[b]
        for k in range(n):
            for j in range(k):
                r[j] = mat[j, k]
            for j in range(k, n):
                r[j] = mat[k, j]
            for i in range(n - 1):
                ri = r[i]
                if ri == np.inf:
                    continue
                row = mat[i]
                for j in range(i + 1, n):
                    row[j] = min(row[j], ri + r[j])
    return d


_FW_NUMBA: Any = None


def _fw_numba():
    """The compiled kernel (numba's disk cache after the first use), or None without numba."""
    global _FW_NUMBA
    if _FW_NUMBA is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            _FW_NUMBA = False
        else:
            _FW_NUMBA = numba.njit(cache=True, nogil=True)(_fw_upper_py)
    return _FW_NUMBA or None


def _dijkstra(w: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """Shortest paths with scipy on sparse graphs that store zero-weight edges explicitly."""
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import shortest_path

    k, n, _ = w.shape
    out = np.empty_like(w)
    iu = np.triu_indices(n, 1)
    for r in range(k):  # one call per RDM; the edges are handled inside scipy
        sel = edge[r][iu]
        graph = csr_array((w[r][iu][sel], (iu[0][sel], iu[1][sel])), shape=(n, n))  # explicit zeros stay edges
        out[r] = shortest_path(graph, method="D", directed=False)
    return out


def _contract_zero_edges(w: np.ndarray, edge: np.ndarray):
    """Merge the stimuli joined by zero-weight edges (exact: moving inside such a group costs 0).

    Returns per RDM the component of each stimulus (k, n) and the contracted graph, padded
    to the largest component count with isolated nodes: weights (k, c, c) with ``inf``
    where there is no edge and 0 on the diagonal. The weight between two components is
    the smallest edge between their members. When merging would remove fewer than 10 %
    of the nodes, returns ``None`` and the uncontracted weights.
    """
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import connected_components

    k, n, _ = w.shape
    n_zero = np.count_nonzero(edge & (w == 0.0), axis=(1, 2)) // 2  # zero-weight edges per RDM
    if n_zero.max() < 0.1 * n:  # each zero edge merges at most one node: not worth it
        return None, np.where(edge, w, np.inf)
    labels = np.empty((k, n), dtype=np.int64)
    counts = []
    for r in range(k):  # one components call per RDM
        zero = edge[r] & (w[r] == 0.0)
        nc, lab = connected_components(csr_array(zero), directed=False)
        labels[r] = lab
        counts.append(nc)
    c = max(counts)
    if c > 0.9 * n:  # little to merge: keep the graph as it is
        return None, np.where(edge, w, np.inf)
    out = np.full((k, c, c), np.inf)
    for r in range(k):
        order = np.argsort(labels[r], kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(labels[r][order]) != 0])
        wr = np.where(edge[r], w[r], np.inf)[np.ix_(order, order)]
        red = np.minimum.reduceat(np.minimum.reduceat(wr, starts, axis=0), starts, axis=1)
        out[r, : counts[r], : counts[r]] = red
    idx = np.arange(c)
    out[:, idx, idx] = 0.0
    return labels, out


def _rank_rows(v: np.ndarray, rel_tol: float = 1e-9) -> np.ndarray:
    """Average ranks per row (1-based), counting values closer than ``rel_tol * max|v|`` as ties.

    Path lengths that are equal in exact arithmetic (common: zero-weight edges make
    many paths share their length) can differ in the last bit depending on the order
    of the additions; without the tolerance the ranks would depend on the backend.
    """
    k, m = v.shape
    order = np.argsort(v, axis=1)  # ties are grouped below, so the sort need not be stable
    s = np.take_along_axis(v, order, axis=1)
    new = np.ones(s.shape, dtype=bool)
    if rel_tol > 0:
        tol = rel_tol * np.maximum(np.abs(s).max(axis=1, keepdims=True), 1.0)
        new[:, 1:] = np.diff(s, axis=1) > tol
    else:
        new[:, 1:] = s[:, 1:] != s[:, :-1]
    last = np.ones_like(new)
    last[:, :-1] = new[:, 1:]
    pos = np.broadcast_to(np.arange(m), s.shape)
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    end = np.minimum.accumulate(np.where(last, pos, m)[:, ::-1], axis=1)[:, ::-1]
    out = np.empty((k, m), dtype=np.float64)
    np.put_along_axis(out, order, (start + end) / 2.0 + 1.0, axis=1)
    return out


# --------------------------------------------------------------------------- transforms


def geotopological(rdms: Any, low: float, up: float, *, rank: bool = True) -> xr.DataArray:
    """Geo-topological transform of every RDM of a stack, with per-RDM quantile thresholds.

    Parameters
    ----------
    rdms : xarray.DataArray, numpy.ndarray or rsatoolbox.rdm.RDMs
        RDM stack (``rdm``, ``stimulus``, ``stimulus_``) or a single RDM, as accepted
        by :func:`neurodecode.analysis.compare`. NaN (missing pairs) stay NaN and
        are left out of the ranks and quantiles. Not modified.
    low, up : float
        Quantiles in [0, 1], ``low <= up``: of each RDM's own (ranked)
        dissimilarities. ``low == up`` gives the binary pure-topology limit.
    rank : bool
        Rank-transform the dissimilarities first (ties averaged), as the RGTM does.
        ``False`` thresholds the raw values (linear in the dissimilarity between
        the thresholds).

    Returns
    -------
    xarray.DataArray
        A new RDM stack with the same coords: 0 at or below the ``low`` quantile, 1
        above the ``up`` quantile (at or above it when ``low < up``), linear in
        between. Attrs: those of an RDM stack plus ``transform='geotopological'``,
        ``low``, ``up``, ``rank``.

    Notes
    -----
    Each RDM's thresholds come from its own dissimilarities, so a stack gives the
    same result as transforming its RDMs one by one. rsatoolbox's
    ``geotopological_transform`` pools the quantiles over all RDMs of the object and
    overwrites its input (see ``docs/trsa.md``); for a single RDM the results agree
    (with ``rsatoolbox.rdm.rank_transform`` first when ``rank=True``).
    """
    lo, hi = _check_thresholds(low, up, "geotopological")
    st = _as_stack(rdms, "geotopological")
    out = _gt_vectors(st.vectors, lo, hi, bool(rank))
    return _derived(st, out, {"transform": "geotopological", "low": lo, "up": hi, "rank": int(bool(rank))})


def _auto_device(fn: Callable) -> Callable:
    """Decorator: the ``device`` keyword (default ``"auto"``; None means the same) resolved to a device name
    by the package's one resolver, :func:`neurodecode.analysis._device.resolve`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ._device import resolve

        kwargs["device"] = resolve(kwargs.get("device", "auto"))
        return fn(*args, **kwargs)

    return wrapper


@fill_doc
@_auto_device
@_single_threaded
def geodesic(
    rdms: Any,
    up: float = 0.5,
    *,
    low: float = 0.0,
    rank: bool = True,
    keep_zero_edges: bool = True,
    backend: str = "auto",
    device: Any = "auto",
) -> xr.DataArray:
    """Geodesic RDMs: shortest paths through each RDM's neighbour graph (RGTM-geodesic).

    Parameters
    ----------
    rdms : xarray.DataArray, numpy.ndarray or rsatoolbox.rdm.RDMs
        RDM stack or single RDM; complete (no NaN). Not modified.
    up : float
        Upper quantile threshold: pairs whose dissimilarity lies below this
        quantile (of the same RDM) are edges of the graph.
    low : float
        Lower quantile threshold: edges below it have weight 0 (the two stimuli
        count as the same place); between ``low`` and ``up`` the weight rises
        linearly in rank from 0 to 1 (the :func:`geotopological` transform).
    rank : bool
        Rank-transform the geodesic distances (default, RGTM). ``False`` returns
        the path lengths themselves. Ranking treats lengths equal to 1e-9 (relative)
        as ties, so that rounding in the path sums cannot reorder equal paths.
    keep_zero_edges : bool
        Keep the edges of weight 0 (default). ``False`` drops them, which is what
        rsatoolbox's ``geodesic_transform`` does (networkx reads a zero in a dense
        matrix as "no edge"); only for reproducing it.
    backend : {"auto", "numba", "torch", "scipy"}
        All-pairs shortest paths by Floyd-Warshall on the graph whose zero-weight
        groups (stimuli joined by edges below ``low``) are first merged into single
        nodes -- exact, and much smaller when ``low > 0`` --, compiled with numba
        (``"numba"``: upper triangle only, one CPU thread) or as a batched min-plus
        sweep over all RDMs at once in torch (``"torch"``, on ``device``; one loop over
        the nodes, none over edges); ``"auto"``: numba on the CPU, torch on a GPU.
        ``"scipy"``: Dijkstra from ``scipy.sparse.csgraph`` on the full sparse graph,
        which stores zero-weight edges explicitly (the reference). Same results.
    %(device)s
        Used by ``backend="torch"`` (and by ``backend="auto"`` on a GPU). Until this release the
        default was the CPU.

    Returns
    -------
    xarray.DataArray
        A new RDM stack. Pairs in different connected components (no path) get
        the largest value: with ``rank=True`` they share the top ranks, above every
        connected pair; with ``rank=False`` they get 1 + the longest finite path of
        that RDM (so ranking the output gives the ``rank=True`` result). Attrs:
        ``transform='geodesic'``, ``low``, ``up``, ``rank``,
        ``n_disconnected`` (pairs without a path, summed over RDMs).

    Notes
    -----
    ``low == up`` is the topological limit: every edge has weight 0, so the
    result says only whether two stimuli are connected -- which is why
    zero-weight edges must be kept.
    """
    lo, hi = _check_thresholds(low, up, "geodesic")
    if backend not in ("auto", "numba", "torch", "scipy"):
        raise BadInputError(f"geodesic: backend must be 'auto', 'numba', 'torch' or 'scipy', got {backend!r}.")
    st = _as_stack(rdms, "geodesic")
    if np.isnan(st.vectors).any():
        raise BadInputError(
            "geodesic: the RDMs contain NaN (missing dissimilarities); a graph needs every pair. Drop the "
            "stimuli with missing pairs first."
        )
    n = st.n_cond
    k = st.vectors.shape[0]
    wv = _gt_vectors(st.vectors, lo, hi, True)
    iu = np.triu_indices(n, 1)
    w = np.zeros((k, n, n))
    w[:, iu[0], iu[1]] = wv
    w[:, iu[1], iu[0]] = wv
    edge = w < 1.0
    if not keep_zero_edges:
        edge &= w > 0.0
    if backend == "scipy":
        vec = _dijkstra(w, edge)[:, iu[0], iu[1]]
    else:
        if keep_zero_edges:  # zero-weight groups merged into single nodes (exact, smaller graph)
            labels, wc = _contract_zero_edges(w, edge)
        else:
            labels, wc = None, np.where(edge, w, np.inf)
        on_cpu = str(device) == "cpu"  # resolved by @_auto_device
        kernel = _fw_numba() if backend in ("auto", "numba") and on_cpu else None
        if backend == "numba" and kernel is None:
            raise BadInputError("geodesic: backend='numba' needs numba on the CPU (device='cpu').")
        if kernel is not None:
            dc = kernel(np.ascontiguousarray(wc, dtype=np.float64))  # upper triangle valid
            if labels is not None:
                dc = np.triu(dc, 1)
                dc = dc + dc.transpose(0, 2, 1)
        else:
            import torch

            dev = torch.device(device)
            with torch.no_grad():
                wt = torch.as_tensor(wc, dtype=torch.float64, device=dev)
                dc = _floyd_warshall(wt, torch.isfinite(wt)).cpu().numpy()
        if labels is None:
            vec = dc[:, iu[0], iu[1]]
        else:
            vec = dc[np.arange(k)[:, None], labels[:, iu[0]], labels[:, iu[1]]]
    inf = ~np.isfinite(vec)
    n_disc = int(inf.sum())
    finite_max = np.where(inf, -np.inf, vec).max(axis=1, keepdims=True)
    finite_max = np.where(np.isfinite(finite_max), finite_max, 0.0)
    vec = np.where(inf, finite_max + 1.0, vec)
    if rank:
        vec = _rank_rows(vec)
    return _derived(
        st,
        vec,
        {"transform": "geodesic", "low": lo, "up": hi, "rank": int(bool(rank)), "n_disconnected": n_disc,
         "keep_zero_edges": int(bool(keep_zero_edges))},
    )


def rgtm(rdms: Any, low: float, up: float, *, kind: str = "geotopological", **kwargs: Any) -> xr.DataArray:
    """A member of the rank-transformed geo-topological model (RGTM) family.

    Parameters
    ----------
    rdms : RDM stack
        As for :func:`geotopological`.
    low, up : float
        Quantile thresholds in [0, 1], ``low <= up``.
    kind : {"geotopological", "geodesic"}
        ``"geotopological"``: the ranked, thresholded dissimilarities
        (:func:`geotopological` with ``rank=True``); ``"geodesic"``: the ranked
        shortest-path distances through the thresholded graph (:func:`geodesic`).
    **kwargs
        Passed to :func:`geodesic` (``backend``, ``device``, ``keep_zero_edges``).

    Returns
    -------
    xarray.DataArray
        The transformed RDM stack (``low=0, up=1`` geotopological: the rank
        geometry; ``low == up``: pure topology).
    """
    if kind == "geotopological":
        if kwargs:
            raise BadInputError(f"rgtm: kind='geotopological' takes no options; got {sorted(kwargs)}.")
        return geotopological(rdms, low, up, rank=True)
    if kind == "geodesic":
        return geodesic(rdms, up, low=low, rank=True, **kwargs)
    raise BadInputError(f"rgtm: kind must be one of {RGTM_KINDS}, got {kind!r}.")


# --------------------------------------------------------------------------- sweep


def _correct_models(sd: _Stack, sm: _Stack, correct: Any) -> np.ndarray:
    """Position of the correct model for each data RDM."""
    model_labels = [x.item() if isinstance(x, np.generic) else x for x in sm.index]
    lookup = {repr(lab): i for i, lab in enumerate(model_labels)}
    kd = len(sd.index)
    if correct is None:
        targets = list(sd.index)
    elif isinstance(correct, str):
        if correct not in sd.coords:
            raise BadInputError(
                f"sweep: correct={correct!r} is not a coord on the data RDMs' 'rdm' dim (coords: "
                f"{sorted(sd.coords)}); pass a mapping data label -> model label or one model label per data RDM."
            )
        targets = list(sd.coords[correct])
    elif isinstance(correct, Mapping):
        targets = []
        for lab in sd.index:
            key = lab.item() if isinstance(lab, np.generic) else lab
            if key not in correct:
                raise BadInputError(f"sweep: correct has no entry for data RDM {key!r}.")
            targets.append(correct[key])
    elif isinstance(correct, Sequence) or isinstance(correct, np.ndarray):
        targets = list(correct)
        if len(targets) != kd:
            raise BadInputError(f"sweep: correct lists {len(targets)} model labels for {kd} data RDMs.")
    else:
        raise BadInputError(f"sweep: cannot read correct={correct!r}; pass a mapping, a sequence or a coord name.")
    out = []
    for lab, t in zip(sd.index, targets):
        t = t.item() if isinstance(t, np.generic) else t
        if repr(t) not in lookup:
            raise BadInputError(
                f"sweep: the correct model {t!r} of data RDM {lab!r} is not among the model labels {model_labels}."
            )
        out.append(lookup[repr(t)])
    return np.asarray(out, dtype=np.int64)


def _accuracy(sims: np.ndarray, target: np.ndarray) -> float:
    """Fraction of (sample, data RDM) where the correct model is best; ties share the credit.

    ``sims`` (..., k_model, k_data) with NaN samples ignored.
    """
    s = np.moveaxis(sims, -2, -1)  # (..., k_data, k_model)
    s = s.reshape(-1, s.shape[-2], s.shape[-1])
    ok = ~np.isnan(s).any(axis=-1)  # (samples, k_data)
    best = np.nanmax(np.where(np.isnan(s), -np.inf, s), axis=-1, keepdims=True)
    is_best = np.isclose(s, best, rtol=0, atol=1e-12)
    n_best = is_best.sum(-1)
    hit = np.take_along_axis(is_best, np.broadcast_to(target[None, :, None], (s.shape[0], s.shape[1], 1)), -1)[..., 0]
    credit = np.where(hit, 1.0 / np.maximum(n_best, 1), 0.0)
    if not ok.any():
        return float("nan")
    return float(credit[ok].mean())


def _fits(data: Any, models: Any, correct: Any) -> bool:
    """Whether ``correct`` names a model of ``models`` for every data RDM of ``data``."""
    try:
        _correct_models(_as_stack(data, "sweep"), _as_stack(models, "sweep"), correct)
    except (BadInputError, DataModelError):
        return False
    return True


def _model_data_order(fn: Callable) -> Callable:
    """Decorator for :func:`sweep`: its first two arguments were ``(data_rdms, model_rdms)`` until this release.

    Keyword calls are unaffected (the names did not change). When both stacks are passed by position,
    ``correct`` decides the order where it can: a call that fits only the old order ``(data, model)``
    is run in that order with a FutureWarning (an error in the next release); a call that fits both
    orders is run in the new order ``(model, data)`` with a FutureWarning that asks for keywords.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) >= 2:
            first, second = args[0], args[1]
            correct = kwargs.get("correct")
            new, old = _fits(second, first, correct), _fits(first, second, correct)
            if old and not new:
                warnings.warn(
                    "sweep: the arguments are now (model_rdms, data_rdms), the order of bootstrap and "
                    "permutation_test; this call passed (data_rdms, model_rdms), the old order, and was run so. "
                    "Pass model_rdms=..., data_rdms=... by keyword; the old order stops working in the next release.",
                    FutureWarning, stacklevel=2)
                args = (second, first, *args[2:])
            elif old and new:
                warnings.warn(
                    "sweep: the arguments are now (model_rdms, data_rdms), the order of bootstrap and "
                    "permutation_test (until this release: data first). Both orders fit this call, so it runs in "
                    "the new order; pass model_rdms=..., data_rdms=... by keyword to silence this warning.",
                    FutureWarning, stacklevel=2)
        return fn(*args, **kwargs)

    return wrapper


@fill_doc
@_model_data_order
@_auto_device
@_single_threaded
def sweep(
    model_rdms: Any,
    data_rdms: Any,
    lows: Sequence[float],
    ups: Sequence[float],
    method: str = "spearman",
    *,
    correct: Any = None,
    kind: str = "geotopological",
    transform_models: bool = True,
    n_boot: int = 0,
    seed: int | None = 0,
    device: Any = "auto",
) -> xr.DataArray:
    """Model-selection accuracy of RGTM settings over a (low, up) grid.

    For each setting, the data RDMs (and the model RDMs, with
    ``transform_models``) are transformed by :func:`rgtm`, every data RDM is
    compared with every model, and a data RDM counts as correctly identified when
    its correct model has the highest similarity (ties share the credit).

    Parameters
    ----------
    model_rdms, data_rdms : RDM stacks
        The candidate models and the data, over the same stimuli; the order of
        :func:`~neurodecode.analysis.bootstrap` and
        :func:`~neurodecode.analysis.permutation_test` (until this release sweep took
        the data first: a positional call in that order still runs, with a
        FutureWarning, when ``correct`` tells the two apart; pass them by keyword).
    lows, ups : sequence of float
        Grid of lower and upper quantile thresholds in [0, 1]; cells with
        ``low > up`` are NaN.
    method : str
        Comparison method (see :func:`neurodecode.analysis.compare`). With
        ``n_boot > 0`` one of ``spearman``, ``pearson``, ``cosine``, ``rho_a``.
    correct : mapping, sequence or str, optional
        The correct model of each data RDM: a mapping data label -> model label, one
        model label per data RDM, or the name of a coord on the data's ``rdm`` dim
        holding them. Default: the data RDMs' own labels (data "V1" <-> model "V1").
    kind : {"geotopological", "geodesic"}
        RGTM family member.
    transform_models : bool
        Transform the model RDMs too (default), or compare with them as given.
    n_boot : int
        0: accuracy over the data RDMs. > 0: also over ``n_boot`` bootstrap
        resamples of the stimuli (the same resamples for every setting; the
        transforms are computed once on all stimuli and the transformed RDMs are
        resampled, dropping pairs of copies as rsatoolbox does).
    seed : int or None
        Seed for the stimulus resamples.
    %(device)s
        Used by the geodesic transform and the bootstrap (until this release the default was the CPU).

    Returns
    -------
    xarray.DataArray
        ``accuracy`` on (``low``, ``up``), in [0, 1]; attrs ``method``, ``kind``,
        ``n_boot``, ``chance`` (1 / number of models), ``n_data``.
    """
    from tqdm.auto import tqdm

    from ._methods import get_method, names

    spec = get_method(method, compares="rdm", what="sweep")
    name = spec.name
    if kind not in RGTM_KINDS:
        raise BadInputError(f"sweep: kind must be one of {RGTM_KINDS}, got {kind!r}.")
    lows_a = np.asarray(lows, dtype=np.float64).ravel()
    ups_a = np.asarray(ups, dtype=np.float64).ravel()
    if lows_a.size == 0 or ups_a.size == 0:
        raise BadInputError("sweep: lows and ups must each hold at least one threshold.")
    for v in np.concatenate([lows_a, ups_a]):
        if not (0.0 <= v <= 1.0):
            raise BadInputError(f"sweep: thresholds are quantiles in [0, 1]; got {v}.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise BadInputError(f"sweep: n_boot must be a non-negative integer, got {n_boot!r}.")
    sd = _as_stack(data_rdms, "sweep (data_rdms)")
    sm = _as_stack(model_rdms, "sweep (model_rdms)")
    _check_same_stimuli(sd, sm)
    if len(sm.index) < 2:
        raise BadInputError("sweep: needs at least 2 model RDMs to select among.")
    target = _correct_models(sd, sm, correct)
    n = sd.n_cond
    if n_boot:
        from .inference import _resampled_similarities

        if spec.resample != "pair_weights":
            raise BadInputError(
                f"sweep: with n_boot > 0 the method must be one of {names(compares='rdm', resample='pair_weights')} "
                f"(RDM methods resampled in closed form), not {name!r}."
            )
        p_idx = np.random.default_rng(seed).integers(0, n, size=(int(n_boot), n))
    iu = np.triu_indices(n, 1)
    opts = {"device": device} if kind == "geodesic" else {}
    acc = np.full((lows_a.size, ups_a.size), np.nan)
    cells = [(i, j) for i in range(lows_a.size) for j in range(ups_a.size) if lows_a[i] <= ups_a[j]]
    for i, j in tqdm(cells, desc="tRSA sweep", unit="setting", disable=None, leave=False):
        lo, hi = float(lows_a[i]), float(ups_a[j])
        dst = _as_stack(rgtm(data_rdms, lo, hi, kind=kind, **opts), "sweep")
        mst = _as_stack(rgtm(model_rdms, lo, hi, kind=kind, **opts), "sweep") if transform_models else sm
        keep = _shared_mask([("data", dst), ("model", mst)])  # NaN pairs only where every RDM has them
        dv, mv = dst.vectors, mst.vectors
        if n_boot:
            sims = _resampled_similarities(mv[:, keep], dv[:, keep], iu[0][keep], iu[1][keep], n, p_idx, name, device)
        else:
            sims = spec.kernel(mv[:, keep], dv[:, keep], n_cond=n, device=device)
        acc[i, j] = _accuracy(sims, target)
    out = xr.DataArray(acc, dims=("low", "up"), coords={"low": lows_a, "up": ups_a}, name="accuracy")
    out.attrs.update(
        {
            "method": name,
            "kind": kind,
            "n_boot": int(n_boot),
            "chance": 1.0 / len(sm.index),
            "n_data": len(sd.index),
            "transform_models": int(bool(transform_models)),
        }
    )
    return out


def plot_sweep(result: xr.DataArray, *, ax: Any = None, annotate: bool = True, cmap: str = "magma"):
    """Heat map of a :func:`sweep` result (low on the y axis, up on the x axis).

    Parameters
    ----------
    result : xarray.DataArray
        Output of :func:`sweep` (dims ``low``, ``up``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (default: a new figure).
    annotate : bool
        Write the accuracy in each cell.
    cmap : str
        Colour map.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; the best setting is outlined, chance is marked on the colour bar.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if not isinstance(result, xr.DataArray) or set(result.dims) != {"low", "up"}:
        raise DataModelError("plot_sweep: pass the (low, up) DataArray returned by sweep(...).")
    res = result.transpose("low", "up")
    vals = np.asarray(res.values, dtype=float)
    lows = np.asarray(res["low"].values, dtype=float)
    ups = np.asarray(res["up"].values, dtype=float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(ups), 0.8 + 0.45 * len(lows)))
    else:
        fig = ax.figure
    im = ax.imshow(np.ma.masked_invalid(vals), origin="lower", cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(np.arange(len(ups)), [f"{u:g}" for u in ups], fontsize=7)
    ax.set_yticks(np.arange(len(lows)), [f"{v:g}" for v in lows], fontsize=7)
    ax.set_xlabel("upper quantile threshold (up)")
    ax.set_ylabel("lower quantile threshold (low)")
    if annotate:
        for i in range(len(lows)):
            for j in range(len(ups)):
                if np.isfinite(vals[i, j]):
                    ax.text(j, i, f"{vals[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="w" if vals[i, j] < 0.6 else "k")
    if np.isfinite(vals).any():
        bi, bj = np.unravel_index(np.nanargmax(vals), vals.shape)
        ax.add_patch(Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False, edgecolor="c", lw=2))
    cbar = fig.colorbar(im, ax=ax, label="model-selection accuracy")
    chance = result.attrs.get("chance")
    if chance is not None:
        cbar.ax.axhline(float(chance), color="c", lw=1.5)
    kind = result.attrs.get("kind", "geotopological")
    ax.set_title(f"tRSA ({kind}, {result.attrs.get('method', '')}): model selection", fontsize=9)
    return fig
