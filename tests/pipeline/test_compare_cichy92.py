"""The second shipped configuration: EfficientNet-Lite0/1/2 and an untrained control vs EVC and IT (Cichy 92)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neurodecode import io
from neurodecode.pipeline import run

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "compare_layers_cichy92.yaml"


@pytest.mark.slow
def test_cichy92_configuration(data_home, tmp_path):
    cfg = yaml.safe_load(PIPELINE.read_text())
    cfg["steps"][1]["params"].update(n_boot=100, heldout_splits=10)  # fewer resamples; same code path
    res = run(cfg, tmp_path, progress=False)
    rsa = io.open(tmp_path / "rsa.nc", chunks=None)
    assert set(rsa["region"].values) == {"EVC", "IT"}
    assert list(rsa["model"].values) == ["lite0", "lite1", "lite2", "lite0_untrained"]
    # Lite1/2 have blocks Lite0 lacks (e.g. block6e): NaN for Lite0, a score for Lite2
    assert np.isnan(float(rsa["score"].sel(model="lite0", layer="block6e", region="IT")))
    assert np.isfinite(float(rsa["score"].sel(model="lite2", layer="block6e", region="IT")))
    for region in ("EVC", "IT"):
        lo, hi = float(rsa["ceiling_low"].sel(region=region)), float(rsa["ceiling_high"].sel(region=region))
        assert 0 < lo < hi < 1
    best = pd.read_csv(tmp_path / "tables" / "rsa.best_layer.csv")
    it = best[best.region == "IT"].set_index("model")
    # trained networks match IT in their late blocks, better than the untrained control
    for model in ("lite0", "lite1", "lite2"):
        assert it.loc[model, "layer"].startswith("block6")
        assert it.loc[model, "score"] > it.loc["lite0_untrained", "score"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["rsa.n_stimuli"] == 92
    assert res.report is not None and res.report.exists()
