"""Benchmark: noise-ceiling-normalised PLS predictivity of 20 layers on 92 stimuli vs one sklearn PLS fit per layer.

Target (issue 14): ``neurodecode.analysis.predictivity(..., model="pls")`` -- 5-fold cross-validated
``PLSRegression(25, scale=False)`` predictions of every neuroid from each of 20 layers, the split-half
(Spearman-Brown) reliability ceiling from the trial repeats, normalised scores -- within 2x of a loop
of *one* ``sklearn.cross_decomposition.PLSRegression(25, scale=False).fit`` per layer on the
trial-averaged responses (no cross-validation, no ceiling).

Input (fixed seed, same arrays for both): 92 stimuli, 20 layers with widths geometric from 256 to
``--max-width`` features sharing a 20-dim latent structure with the responses; 100 neuroids x 4
repeats (stimulus, repeat, neuroid). Agreement: ours' out-of-fold Pearson r of every neuroid equals
sklearn's ``PLSRegression`` fitted on the same folds (``--check`` layers, untimed) to 1e-8.

Ours computes each layer's centred Gram matrix once and runs sklearn's NIPALS iterations in the
92-dim stimulus space (``neurodecode.analysis.predictivity._pls_kernel``); sklearn iterates in the
feature space.

Run::

    .venv/bin/python benchmarks/bench_pls.py [--max-width 10000] [--repeat 3] [--check 3]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def make_data(seed: int, n: int, n_layers: int, max_width: int, n_neuroids: int, n_repeats: int):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 20))
    widths = np.unique(np.geomspace(256, max_width, n_layers).astype(int))
    layers = {}
    for i, w in enumerate(widths):
        mix = rng.normal(size=(20, w)) * (0.5 + i / n_layers)
        layers[f"layer{i:02d}"] = latent @ mix + rng.normal(size=(n, w)) * 2.0
    signal = latent @ rng.normal(size=(20, n_neuroids)) * 0.3
    responses = signal[:, None, :] + rng.normal(size=(n, n_repeats, n_neuroids))
    return layers, responses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=92)
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--max-width", type=int, default=10000)
    ap.add_argument("--neuroids", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    ap.add_argument("--check", type=int, default=3, help="layers checked against sklearn on the same folds")
    args = ap.parse_args()

    import xarray as xr
    from sklearn.cross_decomposition import PLSRegression

    from neurodecode.analysis import predictivity
    from neurodecode.analysis.encoding import _splits

    layers, resp = make_data(0, args.n, args.layers, args.max_width, args.neuroids, args.repeats)
    responses = xr.DataArray(resp, dims=("stimulus", "repeat", "neuroid"))
    feats = {k: xr.DataArray(v, dims=("stimulus", f"f_{k}")) for k, v in layers.items()}
    y_mean = resp.mean(axis=1)
    widths = [v.shape[1] for v in layers.values()]
    print(f"{len(layers)} layers, {args.n} stimuli, widths {widths[0]}..{widths[-1]} (total {sum(widths)}), "
          f"{args.neuroids} neuroids x {args.repeats} repeats")

    def ours():
        return predictivity(feats, responses, model="pls", n_components=25, cv=5, seed=0)

    def sklearn_one_fit_per_layer():
        for x in layers.values():
            PLSRegression(n_components=25, scale=False).fit(x, y_mean)

    res = ours()  # warm-up (imports)
    t_ours, t_ref = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = ours()
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sklearn_one_fit_per_layer()
        t_ref.append(time.perf_counter() - t0)

    # agreement: sklearn PLS on the same folds, a few layers
    folds = _splits(5, None, args.n, 0)
    worst = 0.0
    names = list(layers)
    for name in names[:: max(1, len(names) // max(1, args.check))][: args.check]:
        x = layers[name]
        pred = np.empty_like(y_mean)
        for tr, te in folds:
            pred[te] = PLSRegression(n_components=25, scale=False).fit(x[tr], y_mean[tr]).predict(x[te])
        yc, pc = y_mean - y_mean.mean(0), pred - pred.mean(0)
        r = (yc * pc).sum(0) / np.sqrt((yc**2).sum(0) * (pc**2).sum(0))
        worst = max(worst, float(np.abs(res["r"].sel(layer=name).values - r).max()))
    ok = worst < 1e-8
    bo, br = min(t_ours), min(t_ref)
    print(f"ours (5-fold CV PLS, ceiling, normalised; 20 layers): {bo:.3f} s (best of {args.repeat})")
    print(f"sklearn, one PLSRegression(25).fit per layer:        {br:.3f} s (best of {args.repeat})")
    print(f"ratio ours / sklearn one fit = {bo / br:.2f} (target <= 2)")
    print(f"agreement with sklearn on the same folds: max |r diff| = {worst:.1e} -> {'OK' if ok else 'MISMATCH'}")
    print(f"median normalised score per layer: {np.round(res['score'].values, 3).tolist()}")
    print("load average:", os.getloadavg())
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
