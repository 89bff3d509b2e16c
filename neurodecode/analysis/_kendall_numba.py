"""Compiled (numba) CPU kernels for Kendall's S; imported lazily by :mod:`._kendall` (private).

Module-level functions so that numba's on-disk cache (``cache=True``) is reused across processes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic


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


@intrinsic
def popcount(typingctx, x):  # pragma: no cover - compiled
    # the CPU's population count instruction (llvm.ctpop)
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


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
