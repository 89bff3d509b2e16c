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
        import numba.extending
    except ImportError:
        return None
    njit, prange = numba.njit, numba.prange

    @njit(cache=True, parallel=True)
    def prepare(v, order):  # pragma: no cover - compiled
        # order: argsort of each row (any tie order); returns dense ranks and tie structure
        k, m = v.shape
        gsorted = np.empty((k, m), dtype=np.int32)
        rank = np.empty((k, m), dtype=np.int32)
        start = np.empty((k, m + 1), dtype=np.int32)
        levels = np.empty(k, dtype=np.int64)
        for r in prange(k):
            g = 0
            start[r, 0] = 0
            prev = v[r, order[r, 0]]
            for u in range(m):
                p = order[r, u]
                x = v[r, p]
                if x != prev:
                    g += 1
                    start[r, g] = u
                    prev = x
                gsorted[r, u] = g
                rank[r, p] = g
            levels[r] = g + 1
            start[r, g + 1] = m
        return gsorted, rank, start, levels

    @numba.extending.intrinsic
    def popcount(typingctx, x):  # pragma: no cover - compiled
        # the CPU's population count instruction (llvm.ctpop)
        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return numba.types.uint64(numba.types.uint64), codegen

    # A set of slots 0..m-1 as a bitset, plus counts per 64-slot word: a flat prefix array
    # (branch-free vector update, for up to 128 words) or a Fenwick tree (more words).
    @njit(inline="always")
    def count_below(t, words, tree, flat):  # pragma: no cover - compiled
        # number of occupied slots < t
        w = t >> 6
        if flat:
            c = np.int64(tree[w])
        else:
            c = 0
            p = w
            while p > 0:
                c += tree[p]
                p &= p - 1
        mask = (np.uint64(1) << np.uint64(t & 63)) - np.uint64(1)
        return c + np.int64(popcount(words[w] & mask))

    @njit(inline="always")
    def insert(slot, words, tree, n_words, flat):  # pragma: no cover - compiled
        w = slot >> 6
        words[w] |= np.uint64(1) << np.uint64(slot & 63)
        if flat:
            for q in range(n_words + 1):
                tree[q] += q > w
        else:
            p = w + 1
            while p <= n_words:
                tree[p] += 1
                p += p & (-p)

    @njit(cache=True, parallel=True)
    def pair_s(oa, ga, ra, sa, la, ob, gb, rb, sb, lb):  # pragma: no cover - compiled
        ka, m = oa.shape
        kb = ob.shape[0]
        out = np.empty((ka, kb), dtype=np.int64)
        n_words = (m + 63) >> 6
        flat = n_words <= 128
        for t in prange(ka * kb):
            i = t // kb
            j = t - i * kb
            # walk one vector in sorted order, look the other's ranks up; prefer the tied one as walker
            if lb[j] < m and la[i] == m:
                order, grp, val, start = ob[j], gb[j], ra[i], sa[i]
                otied, vtied = True, False
            else:
                order, grp, val, start = oa[i], ga[i], rb[j], sb[j]
                otied, vtied = la[i] < m, lb[j] < m
            words = np.zeros(n_words + 1, dtype=np.uint64)
            tree = np.zeros(n_words + 2, dtype=np.int32)
            s_total = 0
            if not otied and not vtied:
                # no ties: ranks are 0..m-1, one query and one insert per item
                for u in range(m):
                    g = val[order[u]]
                    lt = count_below(g, words, tree, flat)
                    s_total += 2 * lt - u
                    insert(g, words, tree, n_words, flat)
            else:
                # ties: slots start[g]..start[g+1]-1 hold value g, filled in walking order; the
                # walker's tie groups are all queried before any of their items is inserted
                nxt = start.copy()
                inserted = 0
                s = 0
                while s < m:
                    e = s + 1
                    while e < m and grp[e] == grp[s]:
                        e += 1
                    for u in range(s, e):
                        g = val[order[u]]
                        lt = count_below(start[g], words, tree, flat)
                        le = count_below(start[g + 1], words, tree, flat) if vtied else lt
                        s_total += lt - (inserted - le)
                    for u in range(s, e):
                        g = val[order[u]]
                        insert(nxt[g], words, tree, n_words, flat)
                        nxt[g] += 1
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


def _argsort_rows(v: np.ndarray) -> np.ndarray:
    """Row-wise argsort (numpy's SIMD quicksort; tie order is irrelevant here), rows split over threads."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = min(os.cpu_count() or 1, 8, v.shape[0] // 8)
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
