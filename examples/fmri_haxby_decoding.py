"""fMRI: Haxby et al. 2001, one slice, 12 runs -> block responses -> leave-one-run-out 8-way decoding.

Run with ``NEURODECODE_DATA=../shared/data .venv/bin/python examples/fmri_haxby_decoding.py``.
Cite Haxby et al. 2001, Science 293:2425 (data CC BY-SA 3.0).
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
from sklearn.svm import LinearSVC

from neurodecode import datasets
from neurodecode.preprocess import fmri


def main() -> float:
    bold = datasets.load("haxby2001", resolution="1slice")            # (time, voxel), 12 runs, labels per volume
    mean = bold.mean("time")
    bold = bold.isel(voxel=np.flatnonzero(mean >= np.quantile(mean, 0.4)))  # top 60% mean intensity
    bold = fmri.clean(bold, detrend=False, standardize="zscore")        # z-score within each run
    blocks = fmri.block_responses(bold, shift=5.0)                      # (trial, neuroid), one row per block
    scores = cross_val_score(LinearSVC(dual="auto", max_iter=5000), blocks.values, blocks["label"].values,
                             groups=blocks["run"].values, cv=LeaveOneGroupOut())
    print(f"{blocks.sizes['trial']} blocks x {blocks.sizes['neuroid']} voxels; "
          f"leave-one-run-out 8-way accuracy {scores.mean():.3f} ± {scores.std():.3f} (chance 0.125)")
    return float(scores.mean())


if __name__ == "__main__":
    main()
