"""fMRI searchlight: Haxby et al. 2001, one slice, 12 runs -> block responses -> a decoding map and an RSA map.

Run with ``NEURODECODE_DATA=../shared/data .venv/bin/python examples/fmri_haxby_searchlight.py [OUT_DIR]``:
writes ``searchlight_lda.nii.gz`` and ``searchlight_rsa_animacy.nii.gz`` to OUT_DIR (default: the current
folder) and the figure ``docs/figures/fmri_searchlight.png``. Cite Haxby et al. 2001, Science 293:2425
(data CC BY-SA 3.0).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from neurodecode import datasets, decoding
from neurodecode.loaders import to_nifti
from neurodecode.preprocess import fmri

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "figures" / "fmri_searchlight.png"


def main(out_dir: str = ".", figure: str | Path | None = FIGURE) -> dict:
    import nibabel as nib

    bold = datasets.load("haxby2001", resolution="1slice")            # (time, voxel), 12 runs
    mean = bold.mean("time")
    bold = bold.isel(voxel=np.flatnonzero(mean >= np.quantile(mean, 0.4)))  # the mask: top 60 % mean intensity
    bold = fmri.clean(bold, detrend=False, standardize="zscore")        # z-score within each run
    blocks = fmri.block_responses(bold, shift=5.0)                      # (trial, neuroid): 96 blocks, 8 categories

    t0 = time.perf_counter()
    acc = decoding.searchlight(blocks, "label", "lda", cv="run", radius=8.0, scoring="balanced_accuracy",
                               n_jobs=2, progress=False)                # 8-way, leave one run out
    t_dec = time.perf_counter() - t0
    conds = list(dict.fromkeys(blocks["label"].values.tolist()))
    animate = np.array([c in ("face", "cat") for c in conds])
    model = (animate[:, None] != animate[None, :]).astype(float)      # animate vs inanimate categories
    t0 = time.perf_counter()
    rsa = decoding.searchlight_rsa(blocks, model, radius=8.0, progress=False).isel(model=0)
    t_rsa = time.perf_counter() - t0

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    nib.save(to_nifti(acc), out / "searchlight_lda.nii.gz")
    nib.save(to_nifti(rsa), out / "searchlight_rsa_animacy.nii.gz")
    best = int(np.argmax(acc.values))
    print(f"{blocks.sizes['trial']} blocks x {blocks.sizes['neuroid']} voxels, {len(acc)} spheres of "
          f"{int(acc.n_features.min())}-{int(acc.n_features.max())} voxels (radius 8 mm)")
    print(f"decoding map (shrinkage LDA, 12 folds, balanced accuracy, chance 0.125): best {float(acc.max()):.3f} "
          f"at voxel (i={int(acc.i[best])}, j={int(acc.j[best])}), median {float(acc.median()):.3f}, "
          f"{int((acc > 0.25).sum())} centres > 0.25; {t_dec:.1f} s")
    print(f"RSA map (correlation-distance RDMs vs animacy, Spearman): best {float(rsa.max()):.3f}, "
          f"median {float(rsa.median()):.3f}; {t_rsa:.1f} s")
    if figure is not None:
        _figure(bold, acc, rsa, Path(figure))
    return {"accuracy": acc, "rsa": rsa}


def _figure(bold, acc, rsa, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shape = tuple(int(s) for s in bold.attrs["shape"])
    anat = np.full(shape[:2], np.nan)
    anat[bold["i"].values, bold["j"].values] = 0.0
    raw = datasets.load("haxby2001", run=1, resolution="1slice").mean("time")
    anat_all = np.zeros(shape[:2])
    anat_all[raw["i"].values, raw["j"].values] = raw.values
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for ax, m, title, cmap, lim in (
        (axes[0], acc, "8-way decoding (shrinkage LDA), balanced accuracy", "hot", (0.125, float(acc.max()))),
        (axes[1], rsa, "RSA: sphere RDMs vs animacy model, Spearman", "RdBu_r", (-1.0, 1.0)),
    ):
        vol = np.full(shape[:2], np.nan)
        vol[m["i"].values, m["j"].values] = m.values
        ax.imshow(anat_all.T, cmap="gray", origin="lower")
        im = ax.imshow(vol.T, cmap=cmap, origin="lower", vmin=lim[0], vmax=lim[1], alpha=0.85)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle("Haxby 2001 subject 1, axial slice, searchlight radius 8 mm (480 voxels, 12 runs)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
