"""Benchmark: Kendall tau-a between 100 and 8 RDMs of 92 conditions (all 800 pairs).

Runs, in one process on the same random float64 RDMs (no ties: the worst case):
  * neurodecode.analysis.compare(a, b, "tau_a")            (ours)
  * rsatoolbox.rdm.compare(a, b, method="tau-a")           (reference: one scipy-based loop per pair)
checks that the results agree to 1e-8 and prints the times and the ratio (target >= 20x).
Also times ours against the 8 real model RDMs of Kriegeskorte et al. 2008 (tied, binary models) when
NEURODECODE_DATA points to the shared data.

rsatoolbox's tau-a costs ~1 ms per pair; with --subset K it is timed on the first K of the 100 RDMs
only and scaled by 100 / K (said in the output). Default: all 100 (under ~2 s on 2 cores).

Usage: .venv/bin/python benchmarks/bench_compare.py [--n 92] [--ka 100] [--kb 8] [--subset 100]
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np
from _timing import best_of  # benchmarks/_timing.py (the script's folder is on sys.path)


def random_rdms(rng, k: int, n: int) -> np.ndarray:
    m = np.triu(rng.random((k, n, n)), 1)
    return m + m.transpose(0, 2, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=92, help="conditions per RDM")
    ap.add_argument("--ka", type=int, default=100, help="RDMs in the first stack")
    ap.add_argument("--kb", type=int, default=8, help="RDMs in the second stack")
    ap.add_argument("--subset", type=int, default=None, help="time rsatoolbox on this many of the ka RDMs")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of ours (best is kept)")
    ap.add_argument("--threads", type=int, default=None, help="numba threads (default: numba's, = cores)")
    args = ap.parse_args()

    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    import rsatoolbox.rdm as rsr

    from neurodecode.analysis import compare

    rng = np.random.default_rng(0)
    a, b = random_rdms(rng, args.ka, args.n), random_rdms(rng, args.kb, args.n)
    m = args.n * (args.n - 1) // 2
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"numba {numba.__version__} ({numba.get_num_threads()} threads)")
    print(f"input: {args.ka} x {args.kb} RDMs of {args.n} conditions ({m} dissimilarities), "
          f"{args.ka * args.kb} pairs, float64")

    compare(a[:2], b[:2], "tau_a")  # warm-up: numba compile / cache load, imports
    print(f"load average before: {os.getloadavg()[0]:.2f} (the machine is shared; wall times vary with it)")
    t_ours, c_ours, ours = best_of(lambda: compare(a, b, "tau_a"), args.repeats)

    subset = args.subset or args.ka
    ra, rb = rsr.RDMs(a[:subset]), rsr.RDMs(b)
    t_rsa, c_rsa, ref = best_of(lambda: rsr.compare(ra, rb, method="tau-a"), 1)
    t_rsa, c_rsa = t_rsa * args.ka / subset, c_rsa * args.ka / subset
    err = float(np.abs(ours.values[:subset] - ref).max())
    print(f"max |ours - rsatoolbox| = {err:.2e}  ({'OK' if err <= 1e-8 else 'MISMATCH'}, tolerance 1e-8)")
    note = "" if subset == args.ka else f", timed on {subset} of {args.ka} RDMs and scaled x{args.ka / subset:g}"
    print(f"rsatoolbox compare(tau-a): {t_rsa:8.3f} s wall, {c_rsa:8.3f} s CPU (1 run{note})")
    print(f"ours compare(tau_a)      : {t_ours:8.4f} s wall, {c_ours:8.4f} s CPU (best of {args.repeats})")
    print(f"speed-up vs rsatoolbox   : {t_rsa / t_ours:6.1f}x wall, {c_rsa / c_ours:6.1f}x CPU  (target >= 20x)")

    folder = Path(os.environ.get("NEURODECODE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    models_file = folder / "kriegeskorte92" / "92_modelRDMs.mat"
    if args.n == 92 and args.kb == 8 and models_file.is_file():
        from scipy.io import loadmat

        models = loadmat(models_file)["Models"]
        real = np.stack([np.asarray(models[0, i]["RDM"], dtype=np.float64) for i in range(8)])
        t_real, c_real, _ = best_of(lambda: compare(a, real, "tau_a"), args.repeats)
        print(f"ours vs the 8 real model RDMs (ties): {t_real:8.4f} s wall, {c_real:8.4f} s CPU")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if err > 1e-8:
        raise SystemExit("results differ")


if __name__ == "__main__":
    main()
