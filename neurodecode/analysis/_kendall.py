"""Kendall's S = (concordant - discordant pairs) between all pairs of two sets of vectors.

Two exact, vectorised implementations (private; used by :mod:`.compare`):

``s_numba`` (kernels in ``_kendall_numba``)
    CPU. Every vector is sorted once (in parallel); then, for every pair of
    vectors (in parallel, no Python loop), the pairs are counted in
    O(m log m): walk one vector in sorted order and count, with a bitset plus
    per-word counts (a flat prefix array, or a Fenwick tree for long vectors),
    how many earlier items of the other vector
    are smaller / larger. Tied items of the walked vector are queried before
    any of them is inserted, so pairs tied in either vector count as neither
    concordant nor discordant, exactly as scipy's ``kendalltau``.

``s_torch``
    Any torch device (used on CUDA, and on the CPU when numba is missing). The
    literal definition: sign(x_p - x_q) * sign(y_p - y_q) summed over all pairs
    p < q, as batched float32 matrix products of sign matrices, chunked over
    the pairs to bound memory. O(m^2) per vector: fast on a GPU, slow on a CPU
    for large RDMs (100 x 8 RDMs of 92 stimuli: ~15 s on 2 cores, vs ~0.05 s
    for ``s_numba`` and ~0.8 s for rsatoolbox).

Both return int64 S of shape (k_a, k_b); tau-a = S / n_pairs and tau-b =
S / sqrt((n_pairs - ties_a) (n_pairs - ties_b)).
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def _numba_kernels():
    """The compiled CPU kernels (loaded from numba's cache after the first use); None without numba."""
    try:
        from . import _kendall_numba
    except ImportError:
        return None
    return _kendall_numba.prepare, _kendall_numba.pair_s


def tie_counts(v: np.ndarray) -> np.ndarray:
    """Number of tied pairs (sum over tie groups of t(t-1)/2) in each row of ``v``."""
    s = np.sort(v, axis=1)
    pos = np.broadcast_to(np.arange(s.shape[1]), s.shape)
    new = np.ones(s.shape, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    run_start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    return (pos - run_start).sum(axis=1).astype(np.int64)


def _argsort_rows(v: np.ndarray) -> np.ndarray:
    """Row-wise argsort (numpy's SIMD quicksort; tie order is irrelevant here), rows split over threads."""
    from concurrent.futures import ThreadPoolExecutor

    import numba

    workers = min(numba.get_num_threads(), 8, v.shape[0] // 8)  # as many threads as the pair kernel
    if workers < 2:
        return np.argsort(v, axis=1)
    out = np.empty(v.shape, dtype=np.intp)
    bounds = np.linspace(0, v.shape[0], workers + 1).astype(int)

    def work(r: int) -> None:  # numpy releases the GIL while sorting
        out[bounds[r] : bounds[r + 1]] = np.argsort(v[bounds[r] : bounds[r + 1]], axis=1)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))
    return out


def s_numba(va: np.ndarray, vb: np.ndarray) -> np.ndarray | None:
    """Kendall S for all pairs of rows (CPU, numba); None when numba is not installed."""
    kernels = _numba_kernels()
    if kernels is None:
        return None
    prepare, pair_s = kernels
    prepared = []
    for v in (va, vb):
        v = np.ascontiguousarray(v, dtype=np.float64)
        order = _argsort_rows(v)
        prepared.append((order,) + tuple(prepare(v, order)))
    (oa, ga, ra, sa, la), (ob, gb, rb, sb, lb) = prepared
    return pair_s(oa, ga, ra, sa, la, ob, gb, rb, sb, lb)


def _dense_ranks_torch(v):
    import torch

    s, idx = torch.sort(v, dim=1, stable=True)
    new = torch.ones_like(s, dtype=torch.bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    g = torch.cumsum(new.to(torch.int64), dim=1) - 1
    return torch.empty_like(g).scatter_(1, idx, g)


def s_torch(va, vb, *, max_elements: int = 1 << 24):
    """Kendall S for all pairs of rows by chunked sign-matrix products (any torch device).

    ``va`` (k_a, m) and ``vb`` (k_b, m) are float tensors on the same device.
    Returns an int64 numpy array (k_a, k_b). Exact: signs are 0/+-1, each chunk's
    float32 product sums fewer than 2**24 terms and chunks are accumulated in int64.
    """
    import torch

    dev = va.device
    ra = _dense_ranks_torch(va).to(torch.float32)
    rb = _dense_ranks_torch(vb).to(torch.float32)
    k = max(ra.shape[0], rb.shape[0])
    m = ra.shape[1]
    rows = int(max(1, min(m, max_elements // max(1, k * m))))
    total = torch.zeros(ra.shape[0], rb.shape[0], dtype=torch.int64, device=dev)
    for p0 in range(0, m - 1, rows):  # chunks of pairs, not pairs of RDMs
        p1 = min(m, p0 + rows)
        cols = torch.arange(p0, m, device=dev)
        keep = (cols[None, :] > torch.arange(p0, p1, device=dev)[:, None]).to(torch.float32)
        sa = torch.sign(ra[:, p0:p1, None] - ra[:, None, p0:]) * keep
        sb = torch.sign(rb[:, p0:p1, None] - rb[:, None, p0:])
        part = torch.matmul(sa.reshape(ra.shape[0], -1), sb.reshape(rb.shape[0], -1).T)
        total += torch.round(part).to(torch.int64)
    return total.cpu().numpy()
