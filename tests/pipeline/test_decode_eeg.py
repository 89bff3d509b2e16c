"""The Muse N170 decoding pipeline (a configuration of the generic ``decode`` op) on the real data, cut down
(subjects 1 and 2, three of the five models, a short RBTransformer, 2 permutations), and the ERP features checked against a hand computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from neurodecode import io
from neurodecode.decoding.estimators import ErpBlocks
from neurodecode.pipeline import run
from neurodecode.train.splits import check_no_leak

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "eeg_n170_decode.yaml"
MODELS = ("erp_logreg", "xdawn_ts", "rbtransformer")  # a cut-down set: the field's baseline, ours, the network


@pytest.fixture(scope="module")
def result(data_home, tmp_path_factory):
    cfg = yaml.safe_load(PIPELINE.read_text())
    cfg["data"]["select"] = {"subject": [1, 2]}  # subject 2 has 2 runs: left out of leave-one-run-out
    for step in cfg["steps"]:
        if step["op"] == "decode":
            est = step["params"]["estimators"]
            step["params"]["estimators"] = {k: est[k] for k in MODELS}
            est["rbtransformer"]["max_epochs"] = 3  # same code path, seconds
            step["params"]["n_perm"] = 2
    cfg["outputs"]["save"] = ["clean", "decode_runs", "decode_subjects"]
    out = tmp_path_factory.mktemp("eeg_decode")
    res = run(cfg, out, progress=False)
    return res, out, json.loads((out / "metrics.json").read_text())


def test_pipeline_uses_the_generic_op():
    ops = [s["op"] for s in yaml.safe_load(PIPELINE.read_text())["steps"]]
    assert ops.count("decode") == 2 and not any(o.startswith("eeg.decode") for o in ops)


def test_outputs_per_fold_scores_chance_null_and_baseline(result):
    _, out, metrics = result
    for step in ("decode_runs", "decode_subjects"):
        for name in (f"{step}.nc", f"tables/{step}.scores.csv", f"tables/{step}.summary.csv"):
            assert (out / name).exists(), name
        scores = pd.read_csv(out / "tables" / f"{step}.scores.csv")
        assert {"model", "fold", "test_group", "score", "chance", "deep"} <= set(scores.columns)
        assert set(scores["model"]) == set(MODELS) and (scores["chance"] == 0.5).all()
        summary = pd.read_csv(out / "tables" / f"{step}.summary.csv")
        assert {"null_mean", "null_95", "p_value"} <= set(summary.columns)
        deep = summary.set_index("model")["deep"]
        assert bool(deep["rbtransformer"]) and not deep.drop("rbtransformer").any()
        base = summary[~summary["deep"]]
        assert base["null_95"].notna().all() and base["p_value"].notna().all()  # permutation null of the baselines
        for model in MODELS:
            assert f"{step}.{model}_roc_auc_mean" in metrics, (step, model)
    runs = pd.read_csv(out / "tables" / "decode_runs.scores.csv")
    assert runs["fold"].nunique() == 6  # subject 1's six recordings; subject 2 (2 runs) left out
    assert pd.read_csv(out / "tables" / "decode_subjects.scores.csv")["fold"].nunique() == 2
    html = (out / "report.html").read_text()
    assert "strongest baseline" in html


def test_erp_baseline_floor_subject1(result):
    """Leave-one-run-out ROC AUC of the ERP logistic regression on subject 1 (measured 0.70-0.71)."""
    _, _, metrics = result
    assert metrics["decode_runs.erp_logreg_roc_auc_mean"] >= 0.68
    assert metrics["decode_runs.erp_logreg_p_value"] <= 1 / 3 + 1e-9  # above both permutations


def test_folds_never_share_a_run(result):
    _, out, _ = result
    epochs = io.open(out / "clean.nc", chunks=None)
    if isinstance(epochs, xr.Dataset):
        epochs = epochs[next(iter(epochs.data_vars))]
    epochs = epochs.isel(trial=np.flatnonzero(np.isin(epochs["label"].values.astype(str), ["face", "house"])))
    rec = np.array([f"{s}:{se}/{r}" for s, se, r in zip(*(epochs[c].values.astype(str)
                                                         for c in ("subject", "session", "run")))])
    table = pd.read_csv(out / "tables" / "decode_runs.scores.csv")
    for _, row in table.drop_duplicates("fold").iterrows():
        te = np.flatnonzero(rec == row["test_group"])
        subj = row["test_group"].split(":")[0]
        tr = np.flatnonzero((rec != row["test_group"]) & (epochs["subject"].values.astype(str) == subj))
        assert len(te) == row["n_test"] and len(tr) == row["n_train"]
        check_no_leak(tr, te, groups=rec)


def test_erp_features_block_means():
    rng = np.random.default_rng(0)
    t = np.arange(-5, 20) / 10.0
    x = rng.normal(size=(3, 2, t.size))
    f = ErpBlocks(t, tmin=0.0, tmax=None, decim=4, baseline=(None, 0.0)).fit_transform(x)
    base = x[..., :6].mean(-1, keepdims=True)  # times -0.5..0.0
    post = (x - base)[..., 5:]  # 20 samples from t = 0
    expected = post.reshape(3, 2, 5, 4).mean(-1).reshape(3, -1)
    np.testing.assert_allclose(f, expected, atol=1e-12)
