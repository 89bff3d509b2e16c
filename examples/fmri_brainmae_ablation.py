"""BrainMAE on Haxby 2001: what pretraining buys, on the folds of ``pipelines/fmri_haxby_decode.yaml``.

Leave-one-run-out, 12 folds, the pipeline's preprocessing and BrainMAE settings. Each readout
(fine-tuned, per-ROI probe) is run three ways:

- ``runs``: pretrained on every 8-TR window (hop 2) of the fold's training runs, rest included
  (the pipeline's setting, ``pretrain=run_windows(bold)``);
- ``blocks``: pretrained on the windows of the training blocks only (no ``pretrain=``);
- ``scratch``: no pretraining (``pretrain_epochs=0``), the randomly initialised control.

Run: ``NEURODECODE_DATA=/path/to/shared/data python examples/fmri_brainmae_ablation.py`` (about 15 min
on 2 CPU cores). Prints accuracy mean ± sd over folds and the per-fold scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from neurodecode import datasets, decoding
from neurodecode.decoding.blocks import block_timecourses, run_windows
from neurodecode.pipeline.builtin import fmri_mask_intensity
from neurodecode.preprocess import fmri

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "fmri_haxby_decode.yaml"


def main() -> None:
    cfg = yaml.safe_load(PIPELINE.read_text())
    estimators = next(s for s in cfg["steps"] if s["id"] == "decode")["params"]["estimators"]
    bold = datasets.load("haxby2001", resolution="1slice")
    kept = fmri_mask_intensity(bold, keep_fraction=0.6)
    bold = getattr(kept, "data", kept)
    bold = fmri.clean(bold, detrend=False, standardize="zscore", runs="run")
    blocks = block_timecourses(bold, shift=5.0, exclude=["rest"])
    windows = run_windows(bold, n_volumes=8, step=2)
    base = {r: estimators[f"brainmae_{r}"] for r in ("finetune", "probe_roi")}
    with_windows = {f"{r}_runs": spec for r, spec in base.items()}
    with_windows.update({f"{r}_scratch": {**spec, "pretrain_epochs": 0} for r, spec in base.items()})
    blocks_only = {f"{r}_blocks": spec for r, spec in base.items()}
    results = [
        decoding.cross_validate(blocks, "label", with_windows, cv="run", scoring="accuracy", n_perm=0,
                                pretrain=windows),
        decoding.cross_validate(blocks, "label", blocks_only, cv="run", scoring="accuracy", n_perm=0),
    ]
    print("model                  accuracy (mean +- sd over 12 runs)   per run")
    for res in results:
        for m in res["model"].values:
            s = res["score"].sel(model=m).values
            print(f"{m:22s} {s.mean():.3f} +- {s.std(ddof=1):.3f}   {np.round(s, 3).tolist()}")


if __name__ == "__main__":
    main()
