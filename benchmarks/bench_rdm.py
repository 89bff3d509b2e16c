"""Benchmark: correlation RDM of 1000 conditions x 10,000 channels.

Runs, in one process on the same float64 input:
  * neurodecode.analysis.rdm(X, "correlation")          (ours: torch, batched)
  * rsatoolbox.rdm.calc_rdm(Dataset(X), "correlation")  (reference)
  * torch.matmul(X, X.T)                                (one matrix product of the same shape: the floor)
checks that ours equals rsatoolbox's to 1e-8, and prints the times and ratios.
Targets: ours >= 30x faster than rsatoolbox; ours within 1.5x of the bare product.

Usage: .venv/bin/python benchmarks/bench_rdm.py [--n 1000] [--channels 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
from _timing import best_of  # benchmarks/_timing.py (the script's folder is on sys.path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="conditions (stimuli)")
    ap.add_argument("--channels", type=int, default=10_000, help="channels (features)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of the fast paths (best is kept)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = cores)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    from neurodecode.analysis import rdm

    x = np.random.default_rng(0).normal(size=(args.n, args.channels))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"input: {args.n} conditions x {args.channels} channels, float64")

    rdm(x[:10, :100])  # warm-up: imports, thread pool
    xt = torch.from_numpy(x)
    torch.matmul(xt[:100], xt[:100].T)

    print(f"load average before: {os.getloadavg()[0]:.2f} (the machine is shared; wall times vary with it)")
    t_ours, c_ours, ours = best_of(lambda: rdm(x, "correlation"), args.repeats)
    t_mm, c_mm, _ = best_of(lambda: torch.matmul(xt, xt.T), args.repeats)
    t_rsa, c_rsa, ref = best_of(lambda: calc_rdm(Dataset(x), method="correlation"), 1)  # the slow one: 1 run

    iu = np.triu_indices(args.n, 1)
    err = float(np.abs(ours.values[0][iu] - ref.get_vectors()[0]).max())
    print(f"max |ours - rsatoolbox| = {err:.2e}  ({'OK' if err <= 1e-8 else 'MISMATCH'}, tolerance 1e-8)")
    print(f"rsatoolbox calc_rdm : {t_rsa:8.3f} s wall, {c_rsa:8.3f} s CPU (1 run)")
    print(f"ours rdm()          : {t_ours:8.3f} s wall, {c_ours:8.3f} s CPU (best of {args.repeats})")
    print(f"torch X @ X.T       : {t_mm:8.3f} s wall, {c_mm:8.3f} s CPU (best of {args.repeats})")
    print(f"speed-up vs rsatoolbox : {t_rsa / t_ours:6.1f}x wall, {c_rsa / c_ours:6.1f}x CPU  (target >= 30x)")
    print(f"ours / bare product    : {t_ours / t_mm:6.2f}x wall, {c_ours / c_mm:6.2f}x CPU  (target <= 1.5x)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if err > 1e-8:
        raise SystemExit("results differ")


if __name__ == "__main__":
    main()
