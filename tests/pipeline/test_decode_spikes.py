"""The M1 velocity pipeline (a configuration of the generic ``decode`` op) on the real data, cut down (a
one-epoch contrastive encoder, one permutation), with the scores recomputed by scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neurodecode import io
from neurodecode.pipeline import run

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "spikes_m1_decode.yaml"


@pytest.fixture(scope="module")
def result(data_home, tmp_path_factory):
    cfg = yaml.safe_load(PIPELINE.read_text())
    params = cfg["steps"][-1]["params"]
    keep = ("ridge_3lags", "wiener_10lags", "contrastive_behaviour")
    params["estimators"] = {k: params["estimators"][k] for k in keep}
    params["estimators"]["contrastive_behaviour"].update(max_epochs=1)
    params["n_perm"] = 1  # the null's code path; each 10-lag ridge fit takes seconds
    cfg["outputs"]["save"] = ["windows", "decode"]
    out = tmp_path_factory.mktemp("spikes_decode")
    run(cfg, out, progress=False)
    return out, json.loads((out / "metrics.json").read_text())


def test_tables_and_baseline_floor(result):
    out, metrics = result
    table = pd.read_csv(out / "tables" / "decode.scores.csv")
    assert set(table["model"]) == {"ridge_3lags", "wiener_10lags", "contrastive_behaviour"}
    assert table["fold"].nunique() == 5 and (table["chance"] == 0.0).all()
    summary = pd.read_csv(out / "tables" / "decode.summary.csv").set_index("model")
    assert bool(summary.loc["contrastive_behaviour", "deep"])
    assert summary.loc[["ridge_3lags", "wiener_10lags"], "null_95"].notna().all()
    assert metrics["decode.wiener_10lags_r2_mean"] >= 0.70  # the floor (measured 0.79)
    assert metrics["decode.wiener_10lags_r2_mean"] > metrics["decode.ridge_3lags_r2_mean"]


def test_scores_equal_sklearn_on_the_saved_predictions_and_no_window_overlap(result):
    from sklearn.metrics import r2_score

    from neurodecode.train.splits import check_no_leak

    out, _ = result
    ds = io.open(out / "decode.nc", chunks=None)
    win = io.open(out / "windows.nc", chunks=None)
    if hasattr(win, "data_vars"):
        win = win[next(iter(win.data_vars))]
    assert ds["prediction"].dims == ("model", "sample", "target")
    y = np.column_stack([win["vel_x"].values, win["vel_y"].values])
    table = pd.read_csv(out / "tables" / "decode.scores.csv")
    n = len(y)
    sizes = table.drop_duplicates("fold").sort_values("fold")["n_test"].to_numpy()
    assert sizes.sum() == n and sizes.max() - sizes.min() <= 1  # 5 contiguous blocks tile the samples
    bounds = np.r_[0, np.cumsum(sizes)]
    for _, row in table.iterrows():
        te = np.arange(bounds[row["fold"]], bounds[row["fold"] + 1])
        pred = ds["prediction"].sel(model=row["model"]).values[te]
        assert row["score"] == pytest.approx(r2_score(y[te], pred), abs=1e-9)
        tr = np.setdiff1d(np.arange(n), np.arange(max(te[0] - 10, 0), min(te[-1] + 11, n)))
        assert len(tr) == row["n_train"]
        check_no_leak(tr, te, obj=win)
