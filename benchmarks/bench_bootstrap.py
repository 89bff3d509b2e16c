"""Benchmark: bootstrap over stimuli, 10 model RDMs x 8 data RDMs of 92 conditions (Spearman).

Runs, in one process on the same RDMs:
  * neurodecode.analysis.bootstrap(models, data, "spearman", over="stimulus")   (ours)
  * rsatoolbox.inference.eval_bootstrap_pattern(models, data, "spearman")     (reference: one
    RDM subsample and one compare per model per resample, plus a noise ceiling per resample)
with the *same* resamples (rsatoolbox draws with np.random.randint; the draws are replayed and
passed to ours as stimulus_indices), checks that the bootstrap distributions and ceilings agree to
1e-8, and prints resamples per second and the ratio (target >= 50x).

rsatoolbox takes ~0.1 s per resample, so it is timed on --n-rsa resamples (default 20) and ours on
--n-boot (default 1000); the rates are compared. Both with bootstrapped noise ceilings (rsatoolbox's
default) and without.

Input: the 8 human-IT RDMs (4 subjects x 2 sessions) of Kriegeskorte et al. 2008 as data, and its 8
model RDMs plus 2 behavioural RDMs as the 10 models, when NEURODECODE_DATA holds kriegeskorte92;
random RDMs otherwise.

Usage: .venv/bin/python benchmarks/bench_bootstrap.py [--n-boot 1000] [--n-rsa 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def load_inputs(rng):
    folder = Path(os.environ.get("NEURODECODE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    k92 = folder / "kriegeskorte92"
    if (k92 / "92_brainRDMs.mat").is_file():
        from scipy.io import loadmat

        brain = loadmat(k92 / "92_brainRDMs.mat")["RDMs"]
        data = np.stack([np.asarray(brain[0, s, r]["RDM"], dtype=np.float64) for s in range(4) for r in range(2)])
        models = loadmat(k92 / "92_modelRDMs.mat")["Models"]
        mods = [np.asarray(models[0, i]["RDM"], dtype=np.float64) for i in range(8)]
        behav = loadmat(k92 / "92_behavRDMs.mat")["rdms_behav_92"]
        mods += [np.asarray(behav[0, i]["RDM"], dtype=np.float64) for i in range(2)]
        return np.stack(mods), data, "Kriegeskorte 2008: 8 hIT RDMs (data); 8 model + 2 behavioural RDMs (models)"
    m = np.triu(rng.random((18, 92, 92)), 1)
    m = m + m.transpose(0, 2, 1)
    return m[:10], m[10:], "random RDMs (kriegeskorte92 not found)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-boot", type=int, default=1000, help="resamples for ours")
    ap.add_argument("--n-rsa", type=int, default=20, help="resamples for rsatoolbox (slow)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of ours (best is kept)")
    args = ap.parse_args()

    import torch
    from rsatoolbox.inference import eval_bootstrap_pattern
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.rdm import RDMs

    from neurodecode.analysis import bootstrap

    rng = np.random.default_rng(0)
    models, data, what = load_inputs(rng)
    n = data.shape[1]
    iu = np.triu_indices(n, 1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads; ours runs its CPU kernels on 1)")
    print(f"input: {what}; {models.shape[0]} models x {data.shape[0]} data RDMs, {n} conditions")
    print(f"load average before: {os.getloadavg()[0]:.2f}")

    rsa_models = [ModelFixed(f"m{i}", models[i][iu]) for i in range(models.shape[0])]
    rsa_data = RDMs(data[:, iu[0], iu[1]])
    bootstrap(models, data, "spearman", n_boot=5)  # warm-up (imports, first torch calls)

    ok = True
    for ceiling in (True, False):
        seed = 2026
        np.random.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_rsa, c_rsa, ref = timed(lambda: eval_bootstrap_pattern(
                rsa_models, rsa_data, method="spearman", N=args.n_rsa, boot_noise_ceil=ceiling))
        np.random.seed(seed)
        draws = np.stack([np.random.randint(0, n, size=n) for _ in range(args.n_rsa)])
        same = bootstrap(models, data, "spearman", n_boot=args.n_rsa, stimulus_indices=draws, noise_ceiling=ceiling)
        err = float(np.nanmax(np.abs(same["bootstrap"].values - ref.evaluations)))
        if ceiling:
            err = max(err, float(np.nanmax(np.abs(same["noise_ceiling_boot"].values - np.asarray(ref.noise_ceiling).T))))
        ok &= err <= 1e-8

        best = None
        for _ in range(args.repeats):
            run = timed(lambda: bootstrap(models, data, "spearman", n_boot=args.n_boot, seed=1, noise_ceiling=ceiling))
            best = run if best is None or run[0] < best[0] else best
        t_ours, c_ours, _ = best
        rate_rsa, rate_ours = args.n_rsa / t_rsa, args.n_boot / t_ours
        label = "with bootstrapped noise ceilings" if ceiling else "without noise ceilings"
        print(f"--- {label}")
        print(f"same {args.n_rsa} resamples: max |ours - rsatoolbox| = {err:.1e} ({'OK' if err <= 1e-8 else 'MISMATCH'})")
        print(f"rsatoolbox eval_bootstrap_pattern: {args.n_rsa:5d} resamples {t_rsa:8.2f} s wall {c_rsa:8.2f} s CPU "
              f"-> {rate_rsa:8.1f} resamples/s")
        print(f"ours bootstrap                   : {args.n_boot:5d} resamples {t_ours:8.2f} s wall {c_ours:8.2f} s CPU "
              f"-> {rate_ours:8.1f} resamples/s (best of {args.repeats})")
        print(f"speed-up: {rate_ours / rate_rsa:6.1f}x wall, {(args.n_boot / c_ours) / (args.n_rsa / c_rsa):6.1f}x CPU "
              "(target >= 50x)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if not ok:
        raise SystemExit("results differ")


if __name__ == "__main__":
    main()
