"""Benchmark: all-layer-pair CKA and Procrustes (similarity) vs per-pair reference loops, same inputs, one process.

Two networks with 20 layers each, 1000 stimuli (random low-rank features, fixed seed):

* CKA (linear and debiased): layer widths geometric from 256 to 50 000 features. Reference: a direct
  numpy implementation of the thingsvision / Brain-Score CKA loop -- per pair, the two linear Gram
  matrices ``X X^T``, centred with the centring matrix (``H K H``), and the (biased or unbiased)
  HSIC, in float64; ours prepares each layer's centred Gram once (:func:`neurodecode.analysis.similarity`),
  accumulating float32 layers in float32 (also timed on float64 copies of the layers, linear CKA).
* Procrustes (angular, alpha=1): widths geometric from 200 to 2000 (netrep's full SVD of the
  (p, q) cross-covariance makes wider layers impractical for the reference). Reference: the netrep
  ``LinearMetric(alpha=1)`` recipe per pair -- centre, zero-pad to equal width, full SVD of
  ``X^T Y``, rotate, angle; ours reduces each layer once to at most n columns.

The reference loops are too slow to run over all 400 pairs here: they are timed on ``--ref-pairs``
pairs spread over the widths (every 20th pair of the 20 x 20 grid, diagonal-shifted) and the
time per pair is extrapolated to 400 pairs; the agreement is checked on those pairs.

Run::

    .venv/bin/python benchmarks/bench_similarity.py [--n 1000] [--ref-pairs 20]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _layers(rng, n, widths, rank=200):
    """Random features with a shared low-rank structure (so CKA values are not all ~0)."""
    base = rng.normal(size=(n, rank)).astype(np.float32)
    out = []
    for w in widths:
        mix = rng.normal(size=(rank, w)).astype(np.float32) / np.float32(np.sqrt(rank))  # stays float32
        out.append(base @ mix + np.float32(0.5) * rng.normal(size=(n, w)).astype(np.float32))
    assert all(a.dtype == np.float32 for a in out)
    return out


# --------------------------------------------------------------------------- reference loops


def ref_cka(x, y, debiased):
    """thingsvision / Brain-Score style: Gram matrices per pair, centring matrix products, HSIC."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.shape[0]
    k, l = x @ x.T, y @ y.T
    if not debiased:
        h = np.eye(n) - np.ones((n, n)) / n
        kc, lc = h @ k @ h, h @ l @ h
        return float(np.sum(kc * lc) / np.sqrt(np.sum(kc * kc) * np.sum(lc * lc)))

    def hsic_u(a, b):
        a = a - np.diag(np.diag(a))
        b = b - np.diag(np.diag(b))
        one = np.ones(n)
        return (np.trace(a @ b) + (one @ a @ one) * (one @ b @ one) / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * (one @ a @ b @ one)) / (n * (n - 3))

    return float(hsic_u(k, l) / np.sqrt(hsic_u(k, k) * hsic_u(l, l)))


def ref_procrustes(x, y):
    """netrep LinearMetric(alpha=1, center_columns=True, zero_pad=True) recipe, angular score."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    p = max(x.shape[1], y.shape[1])
    x = np.pad(x, ((0, 0), (0, p - x.shape[1])))
    y = np.pad(y, ((0, 0), (0, p - y.shape[1])))
    u, _, vt = np.linalg.svd(x.T @ y)
    tx, ty = x @ u, y @ vt.T
    c = np.sum(tx * ty) / (np.linalg.norm(tx) * np.linalg.norm(ty))
    return float(np.arccos(np.clip(c, -1, 1)))


# --------------------------------------------------------------------------- runs


def _pairs(n_ref, k=20):
    idx = np.arange(k * k)[:: max(1, (k * k) // n_ref)][:n_ref]
    return [(int(i // k), int((i // k + i) % k)) for i in idx]


def bench(name, method, xs, ys, ref, n_ref, float64=False):
    import xarray as xr

    from neurodecode.analysis import similarity

    ds_a = xr.Dataset({f"a{i}": (("stimulus", f"fa{i}"), v) for i, v in enumerate(xs)})
    ds_b = xr.Dataset({f"b{i}": (("stimulus", f"fb{i}"), v) for i, v in enumerate(ys)})
    t0, c0 = time.perf_counter(), time.process_time()
    ours = similarity(ds_a, ds_b, method).values  # float32 layers, as extract() returns them
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    if float64:
        t0 = time.perf_counter()
        ours64 = similarity(ds_a.astype(np.float64), ds_b.astype(np.float64), method).values
        t64 = time.perf_counter() - t0
        print(f"{name}: ours on float64 copies {t64:.1f} s; max |float32 - float64| {np.nanmax(abs(ours - ours64)):.2e}",
              flush=True)
    pairs = _pairs(n_ref, len(xs))
    t0, c0 = time.perf_counter(), time.process_time()
    refs = [ref(xs[i], ys[j]) for i, j in pairs]
    t_ref_pairs, c_ref_pairs = time.perf_counter() - t0, time.process_time() - c0
    scale = len(xs) * len(ys) / len(pairs)
    t_ref, c_ref = t_ref_pairs * scale, c_ref_pairs * scale
    diff = max(abs(ours[i, j] - r) for (i, j), r in zip(pairs, refs))
    print(f"{name}: ours {t_ours:.1f} s wall / {c_ours:.1f} s CPU for {len(xs)}x{len(ys)} pairs; reference "
          f"{t_ref_pairs:.1f} s wall / {c_ref_pairs:.1f} s CPU for {len(pairs)} pairs -> {t_ref:.0f} s wall / "
          f"{c_ref:.0f} s CPU for all (extrapolated); ratio {t_ref / t_ours:.1f}x wall, {c_ref / c_ours:.1f}x CPU; "
          f"max |diff| {diff:.2e}", flush=True)
    return t_ours, t_ref, diff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--ref-pairs", type=int, default=20)
    ap.add_argument("--only", choices=["cka", "procrustes"], default=None)
    args = ap.parse_args()
    print(f"uptime: {os.popen('uptime').read().strip()}")
    rng = np.random.default_rng(0)
    if args.only in (None, "cka"):
        widths = np.geomspace(256, 50_000, 20).astype(int)
        xs, ys = _layers(rng, args.n, widths), _layers(rng, args.n, widths[::-1])
        bench("linear CKA", "linear_cka", xs, ys, lambda a, b: ref_cka(a, b, False), args.ref_pairs, float64=True)
        bench("debiased CKA", "debiased_cka", xs, ys, lambda a, b: ref_cka(a, b, True), args.ref_pairs)
        del xs, ys
    if args.only in (None, "procrustes"):
        widths = np.geomspace(200, 2000, 20).astype(int)
        xs, ys = _layers(rng, args.n, widths), _layers(rng, args.n, widths[::-1])
        bench("Procrustes", "procrustes", xs, ys, ref_procrustes, max(2, args.ref_pairs // 4))
    print(f"uptime: {os.popen('uptime').read().strip()}")


if __name__ == "__main__":
    main()
