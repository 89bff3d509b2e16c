"""Time-resolved decoding: neurodecode.decoding.sliding / generalizing vs MNE's SlidingEstimator /
GeneralizingEstimator, same estimator (shrinkage LDA, lsqr + Ledoit-Wolf), same 5 folds, same input.

Input: 1000 trials x 64 channels x 200 time points (float64, seeded random data with a class
effect on 8 channels from time point 80 to 140), stratified 5-fold, ROC AUC. Both sides run in
this process one after the other; the scores must agree to 1e-6. Prints both timings, the ratio
and ``uptime``.

    .venv/bin/python benchmarks/bench_sliding.py [--trials 1000] [--channels 64] [--times 200]
        [--skip-generalizing]
"""

from __future__ import annotations

import argparse
import subprocess
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--times", type=int, default=200)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--skip-generalizing", action="store_true")
    args = ap.parse_args()

    from mne.decoding import GeneralizingEstimator, SlidingEstimator
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from neurodecode import decoding
    from neurodecode.datamodel import make_epochs
    from neurodecode.decoding._data import prepare, resolve_cv

    rng = np.random.default_rng(0)
    n, p, T = args.trials, args.channels, args.times
    y = np.tile(["left", "right"], n // 2)
    X = rng.standard_normal((n, p, T))
    X[y == "right", :8, int(0.4 * T):int(0.7 * T)] += 0.3
    ep = make_epochs(X, 250.0, [f"ch{i}" for i in range(p)], -0.2, metadata={"label": y})
    est = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
    prep = prepare(ep, "label")
    folds = resolve_cv(args.folds, prep, 0).folds
    print(f"input: {n} trials x {p} channels x {T} times, {args.folds} folds, shrinkage LDA, roc_auc")

    def peer(cls):
        out = []
        for tr, te in folds:
            m = cls(est, scoring="roc_auc", n_jobs=1, verbose=False).fit(prep.X[tr], prep.y[tr])
            out.append(m.score(prep.X[te], prep.y[te]))
        return np.array(out)

    kinds = [("sliding", decoding.sliding, SlidingEstimator)]
    if not args.skip_generalizing:
        kinds.append(("generalizing", decoding.generalizing, GeneralizingEstimator))
    for name, ours_fn, cls in kinds:
        t0 = time.perf_counter()
        ours = ours_fn(ep, "label", est, cv=args.folds, scoring="roc_auc").values
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = peer(cls)
        t_ref = time.perf_counter() - t0
        diff = float(np.abs(ours - ref).max())
        print(f"{name}: ours {t_ours:.3f} s, MNE {cls.__name__} {t_ref:.3f} s, ratio {t_ref / t_ours:.1f}x, "
              f"max |score difference| {diff:.2e} ({'equal to 1e-6' if diff <= 1e-6 else 'NOT EQUAL'})")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
