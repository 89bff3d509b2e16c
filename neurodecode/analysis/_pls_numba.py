"""Compiled (numba) power iteration of the kernel PLS in :mod:`.predictivity` (private, imported lazily).

Module-level so that numba's on-disk cache (``cache=True``) is reused across processes.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _matvec_quad(m, x, out):  # pragma: no cover - compiled
    # out = m @ x (written in place); returns the quadratic form x' m x.
    q = 0.0
    for i in range(m.shape[0]):
        s = 0.0
        for j in range(m.shape[1]):
            s += m[i, j] * x[j]
        out[i] = s
        q += x[i] * s
    return q


@njit(cache=True)
def power_iteration(kk, g, u, max_iter, tol, single):  # pragma: no cover - compiled
    # sklearn's NIPALS power method written in the stimulus space: w = X_k' a, t = K_k a, Y Y' = g.
    # Returns a (weights as a combination of rows), t (scores) and the number of iterations.
    n = kk.shape[0]
    eps = np.finfo(np.float64).eps
    a = np.zeros(n)
    t = np.zeros(n)
    a_old = np.zeros(n)
    aka_old = 0.0
    ku = np.empty(n)
    gt = np.empty(n)
    it = 0
    for it in range(max_iter):
        uu = 0.0
        for i in range(n):
            uu += u[i] * u[i]
        uku = _matvec_quad(kk, u, ku)
        if uku < 0.0:
            uku = 0.0
        scale = 1.0 / uu / (np.sqrt(uku) / uu + eps)  # w = X_k' u / u'u normalised (+ eps, as sklearn)
        tt = 0.0
        cross = 0.0
        for i in range(n):
            a[i] = scale * u[i]
            t[i] = scale * ku[i]
            tt += t[i] * t[i]
            cross += a_old[i] * t[i]
        tgt = _matvec_quad(g, t, gt)
        cc = tgt / (tt * tt)  # c'c with c = Y_k' t / t't
        for i in range(n):
            u[i] = gt[i] / tt / (cc + eps)  # Y_k c / (c'c + eps)
        aka = scale * scale * uku
        if it > 0:
            if aka - 2.0 * cross + aka_old < tol:  # ||w - w_old||^2 = (a - a_old)' K_k (a - a_old)
                break
        elif single:
            break
        for i in range(n):
            a_old[i] = a[i]
        aka_old = aka
    return a, t, it + 1
