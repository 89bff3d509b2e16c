"""Kendall's S = (concordant - discordant pairs) between all pairs of two sets of vectors.

Two exact, vectorised implementations (private; used by :mod:`.compare`):

``_s_numba``
    CPU. Every vector is sorted once (in parallel); then, for every pair of
    vectors (in parallel, no Python loop), the pairs are counted in
    O(m log m): walk one vector in sorted order and count, with a bitset plus a
    Fenwick tree of per-word counts, how many earlier items of the other vector
    are smaller / larger. Tied items of the walked vector are queried before
    any of them is inserted, so pairs tied in either vector count as neither
    concordant nor discordant, exactly as scipy's ``kendalltau``.

``_s_torch``
    Any torch device (used on CUDA, and on the CPU when numba is missing). The
    literal definition: sign(x_p - x_q) * sign(y_p - y_q) summed over all pairs
    p < q, as batched float32 matrix products of sign matrices, chunked over
    the pairs to bound memory. O(m^2) per vector: fast on a GPU, slow on a CPU
    for large RDMs (92 stimuli: ~20x slower than ``_s_numba`` on 2 cores).

Both return int64 S of shape (k_a, k_b); tau-a = S / n_pairs and tau-b =
S / sqrt((n_pairs - ties_a) (n_pairs - ties_b)).
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def _numba_kernels():
    """Compile (or load from numba's cache) the CPU kernels; None when numba is unavailable."""
    try:
        import numba
    except ImportError:
        return None
    njit, prange = numba.njit, numba.prange

    @njit(cache=True, parallel=True)
    def prepare(v):  # pragma: no cover - compiled
        k, m = v.shape
        order = np.empty((k, m), dtype=np.int64)
        gsorted = np.empty((k, m), dtype=np.int32)
        rank = np.empty((k, m), dtype=np.int32)
        start = np.empty((k, m + 1), dtype=np.int32)
        levels = np.empty(k, dtype=np.int64)
        ties = np.empty(k, dtype=np.int64)
        for r in prange(k):
            o = np.argsort(v[r], kind="mergesort")
            g = 0
            run = 1
            t = 0
            start[r, 0] = 0
            for u in range(m):
                p = o[u]
                order[r, u] = p
                if u > 0:
                    if v[r, p] != v[r, o[u - 1]]:
                        g += 1
                        start[r, g] = u
                        t += run * (run - 1) // 2
                        run = 1
                    else:
                        run += 1
                gsorted[r, u] = g
                rank[r, p] = g
            t += run * (run - 1) // 2
            levels[r] = g + 1
            start[r, g + 1] = m
            ties[r] = t
        return order, gsorted, rank, start, levels, ties

    @njit(inline="always")
    def popcount(x):  # pragma: no cover - compiled
        x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
        x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
        x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)

    @njit(inline="always")
    def count_below(t, words, tree):  # pragma: no cover - compiled
        # number of occupied slots < t
        w = t >> 6
        c = 0
        p = w
        while p > 0:
            c += tree[p]
            p &= p - 1
        mask = (np.uint64(1) << np.uint64(t & 63)) - np.uint64(1)
        return c + np.int64(popcount(words[w] & mask))

    @njit(cache=True, parallel=True)
    def pair_s(oa, ga, ra, sa, la, ob, gb, rb, sb, lb):  # pragma: no cover - compiled
        ka, m = oa.shape
        kb = ob.shape[0]
        out = np.empty((ka, kb), dtype=np.int64)
        n_words = (m + 63) >> 6
        for t in prange(ka * kb):
            i = t // kb
            j = t - i * kb
            # walk the vector with ties (if only one has them); look up values in the other
            if lb[j] < m and la[i] == m:
                order = ob[j]
                grp = gb[j]
                val = ra[i]
                start = sa[i]
                vtied = False
            else:
                order = oa[i]
                grp = ga[i]
                val = rb[j]
                start = sb[j]
                vtied = lb[j] < m
            words = np.zeros(n_words + 1, dtype=np.uint64)
            tree = np.zeros(n_words + 2, dtype=np.int64)
            nxt = start.copy()
            inserted = 0
            s_total = 0
            s = 0
            while s < m:
                e = s + 1
                while e < m and grp[e] == grp[s]:
                    e += 1
                for u in range(s, e):
                    g = val[order[u]]
                    lt = count_below(start[g], words, tree)
                    le = count_below(start[g + 1], words, tree) if vtied else lt
                    s_total += lt - (inserted - le)
                for u in range(s, e):
                    g = val[order[u]]
                    slot = nxt[g]
                    nxt[g] = slot + 1
                    w = slot >> 6
                    words[w] |= np.uint64(1) << np.uint64(slot & 63)
                    p = w + 1
                    while p <= n_words:
                        tree[p] += 1
                        p += p & (-p)
                inserted += e - s
                s = e
            out[i, j] = s_total
        return out

    return prepare, pair_s


def tie_counts(v: np.ndarray) -> np.ndarray:
    """Number of tied pairs (sum over tie groups of t(t-1)/2) in each row of ``v``."""
    s = np.sort(v, axis=1)
    pos = np.broadcast_to(np.arange(s.shape[1]), s.shape)
    new = np.ones(s.shape, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    run_start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    return (pos - run_start).sum(axis=1).astype(np.int64)


def s_numba(va: np.ndarray, vb: np.ndarray) -> np.ndarray | None:
    """Kendall S for all pairs of rows (CPU, numba); None when numba is not installed."""
    kernels = _numba_kernels()
    if kernels is None:
        return None
    prepare, pair_s = kernels
    oa, ga, ra, sa, la, _ = prepare(np.ascontiguousarray(va, dtype=np.float64))
    ob, gb, rb, sb, lb, _ = prepare(np.ascontiguousarray(vb, dtype=np.float64))
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
