"""Searchlight decoding: neurodecode.decoding.searchlight vs nilearn's SearchLight, same estimator,
same folds, same spheres, same input, both on 2 joblib workers.

Input: Haxby 2001 subject 1, the 12 runs of the shipped 1-slice images (40 x 20 x 1 voxels of
3.1 x 3.75 x 3.75 mm; the whole-brain images in the shared data are 25 mm toys), the brighter 60 %
of voxels as the mask (480 voxels: every one a centre), z-scored per run, block responses shifted
5 s (96 blocks, 8 categories), leave one run out (12 folds), radius 8 mm (6 to 17 voxels a
sphere), balanced accuracy. ``--estimator lda`` is the shrinkage LDA (lsqr + Ledoit-Wolf) and
``gnb`` a Gaussian naive Bayes (both batched over spheres here); ``logreg`` a logistic regression
(fitted per sphere and fold on both sides: our generic path).
Both sides run in this process one after the other; the maps must agree to 1e-9. Prints both
timings, the ratio and ``uptime``.

    .venv/bin/python benchmarks/bench_searchlight.py [--estimator lda|gnb] [--radius 8] [--n-jobs 2]
        [--centres N]   (N > 0: only the first N centres, for a quick look on a busy machine)
"""

from __future__ import annotations

import argparse
import subprocess
import time
import warnings

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--estimator", choices=("lda", "gnb", "logreg"), default="lda")
    ap.add_argument("--radius", type=float, default=8.0)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--centres", type=int, default=0)
    args = ap.parse_args()

    import nibabel as nib
    import xarray as xr
    from nilearn.decoding import SearchLight
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneGroupOut
    from sklearn.naive_bayes import GaussianNB

    from neurodecode import datasets, decoding
    from neurodecode.loaders import to_nifti
    from neurodecode.preprocess import fmri

    bold = datasets.load("haxby2001", resolution="1slice")
    mean = bold.mean("time")
    bold = bold.isel(voxel=np.flatnonzero(mean >= np.quantile(mean, 0.4)))
    bold = fmri.clean(bold, detrend=False, standardize="zscore")
    blocks = fmri.block_responses(bold, shift=5.0)
    est = {"lda": LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"), "gnb": GaussianNB(),
           "logreg": LogisticRegression()}[args.estimator]
    process = None
    mask_img = to_nifti(xr.ones_like(blocks.isel(trial=0)), dtype=np.float64)
    if args.centres > 0:
        vol = np.zeros(mask_img.shape, np.uint8)
        vol[blocks["i"].values[:args.centres], blocks["j"].values[:args.centres], blocks["k"].values[:args.centres]] = 1
        process = nib.Nifti1Image(vol, mask_img.affine)
    n_centres = args.centres or blocks.sizes["neuroid"]
    print(f"input: Haxby 1-slice, {blocks.sizes['trial']} blocks x {blocks.sizes['neuroid']} voxels, {n_centres} "
          f"centres, radius {args.radius} mm, 12 folds (leave one run out), {type(est).__name__}, balanced_accuracy, "
          f"n_jobs={args.n_jobs}")

    t0 = time.perf_counter()
    ours = decoding.searchlight(blocks, "label", est, cv="run", radius=args.radius, process_mask=process,
                                scoring="balanced_accuracy", n_jobs=args.n_jobs, progress=False)
    t_ours = time.perf_counter() - t0
    print(f"neurodecode: {t_ours:.2f} s ({ours.attrs['solver']}; spheres of {ours.n_features.values.min()} to "
          f"{ours.n_features.values.max()} voxels)")

    imgs = to_nifti(blocks, dtype=np.float64)
    sl = SearchLight(mask_img=mask_img, process_mask_img=process, radius=args.radius, estimator=est,
                     cv=LeaveOneGroupOut(), scoring="balanced_accuracy", n_jobs=args.n_jobs)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Use a custom estimator at your own risk"
        sl.fit(imgs, blocks["label"].values, groups=blocks["run"].values)
    t_peer = time.perf_counter() - t0
    print(f"nilearn SearchLight: {t_peer:.2f} s")

    ref = sl.scores_[ours["i"].values, ours["j"].values, ours["k"].values]
    diff = float(np.abs(ref - ours.values).max())
    print(f"max |difference| of the maps: {diff:.2e} over {len(ours)} centres; best centre "
          f"{float(ours.max()):.3f} (chance {ours.attrs['chance']:.3f})")
    print(f"ratio nilearn / neurodecode: {t_peer / t_ours:.1f}x")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if diff > 1e-9:
        raise SystemExit("the maps differ")


if __name__ == "__main__":
    main()
