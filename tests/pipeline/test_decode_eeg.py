"""The Muse N170 decoding pipeline on the real data (cut down: subjects 1 and 2, few network epochs),
and the decode op's helpers checked against independent computations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from neurodecode import io
from neurodecode.pipeline import run
from neurodecode.pipeline.decode_eeg import _perm_null_mean_auc, erp_features
from neurodecode.train.splits import check_no_leak

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "eeg_n170_decode.yaml"
MODELS = ("erp_logreg", "bde_logreg", "rbtransformer")


@pytest.fixture(scope="module")
def result(data_home, tmp_path_factory):
    cfg = yaml.safe_load(PIPELINE.read_text())
    cfg["data"]["select"] = {"subject": [1, 2]}  # subject 2 has 2 runs: skipped by leave-one-run-out
    step = next(s for s in cfg["steps"] if s["id"] == "decode")
    step["params"]["rbtransformer"]["max_epochs"] = 3  # same code path, seconds instead of a minute
    step["params"]["n_perm"] = 200
    cfg["outputs"]["save"] = ["clean", "decode"]
    out = tmp_path_factory.mktemp("eeg_decode")
    res = run(cfg, out, progress=False)
    return res, out, json.loads((out / "metrics.json").read_text())


def test_outputs_and_metric_keys(result):
    _, out, metrics = result
    for name in ("metrics.json", "report.html", "decode.nc", "tables/decode.folds.csv", "tables/decode.summary.csv",
                 "tables/decode.skipped.csv"):
        assert (out / name).exists(), name
    for scheme in ("run_within_subject", "subject"):
        for model in MODELS:
            for key in ("roc_auc_mean", "roc_auc_sd", "balanced_accuracy_mean", "balanced_accuracy_sd", "n_folds",
                        "perm_auc_95", "perm_p"):
                assert f"decode.{scheme}.{model}.{key}" in metrics, (scheme, model, key)
    assert metrics["decode.chance.roc_auc"] == 0.5
    assert metrics["decode.run_within_subject.erp_logreg.n_folds"] == 6  # subject 1's six runs
    assert metrics["decode.subject.erp_logreg.n_folds"] == 2
    skipped = pd.read_csv(out / "tables" / "decode.skipped.csv")
    assert skipped["subject"].astype(str).tolist() == ["2"] and skipped["n_runs"].tolist() == [2]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 4  # railing, per-fold AUC, attention, ERP
    ds = io.open(out / "decode.nc", chunks=None)
    assert ds["attention"].dims == ("scheme", "label", "layer", "query", "key")
    np.testing.assert_allclose(ds["attention"].sum("key").values, 1.0, atol=1e-5)


def test_erp_baseline_floor_subject1(result):
    """Leave-one-run-out ROC AUC of the ERP logistic regression on subject 1 (session 1 measured ~0.70)."""
    _, _, metrics = result
    assert metrics["decode.run_within_subject.sub-1.erp_logreg.roc_auc_mean"] >= 0.70
    assert metrics["decode.run_within_subject.erp_logreg.perm_p"] < 0.01  # far from the permutation null


def test_folds_never_share_a_run(result):
    _, out, _ = result
    epochs = io.open(out / "clean.nc", chunks=None)
    if isinstance(epochs, xr.Dataset):
        epochs = epochs[next(iter(epochs.data_vars))]
    rec = np.array([f"{s}/{se}/{r}" for s, se, r in zip(*(epochs[c].values.astype(str)
                                                         for c in ("subject", "session", "run")))])
    table = pd.read_csv(out / "tables" / "decode.folds.csv", dtype={"test_subject": str})
    for _, row in table.drop_duplicates("fold").iterrows():
        test_recs = row["test_group"].split(",")
        train_recs = row["train_groups"].split(",")
        te = np.flatnonzero(np.isin(rec, test_recs))
        tr = np.flatnonzero(np.isin(rec, train_recs))
        assert len(te) == row["n_test"] and len(tr) == row["n_train"]
        check_no_leak(tr, te, groups=rec)  # raises on a shared run
        subj_of = {r.split("/")[0] for r in test_recs}
        if row["scheme"] == "run_within_subject":
            # leave-one-run-out inside one subject: the other runs of that subject, nothing else
            assert len(test_recs) == 1 and {r.split("/")[0] for r in train_recs} == subj_of
            assert set(train_recs) | set(test_recs) == {r for r in set(rec) if r.split("/")[0] in subj_of}
        else:
            assert not subj_of & {r.split("/")[0] for r in train_recs}


def test_erp_fold_score_recomputed_by_hand(result):
    """Fold 0's ERP AUC from numpy features + scikit-learn with the C/baseline the inner CV chose."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    _, out, _ = result
    epochs = io.open(out / "clean.nc", chunks=None)
    if isinstance(epochs, xr.Dataset):
        epochs = epochs[next(iter(epochs.data_vars))]
    rec = np.array([f"{s}/{se}/{r}" for s, se, r in zip(*(epochs[c].values.astype(str)
                                                         for c in ("subject", "session", "run")))])
    table = pd.read_csv(out / "tables" / "decode.folds.csv", dtype={"test_subject": str})
    row = table[(table["fold"] == 0) & (table["model"] == "erp_logreg")].iloc[0]
    x = epochs.values.astype(np.float64)
    t = epochs["time"].values
    if row["baseline"] != "none":
        x = x - x[..., t <= 0].mean(axis=-1, keepdims=True)
    post = x[..., (t >= -1e-9) & (t <= 0.6 + 1e-9)]
    n = post.shape[-1]
    feats = np.stack([post[..., i:i + 8].mean(axis=-1) for i in range(0, n, 8)], axis=-1).reshape(len(x), -1)
    y = (epochs["label"].values.astype(str) == "house").astype(int)
    te = np.isin(rec, row["test_group"].split(","))
    tr = np.isin(rec, row["train_groups"].split(","))
    sc = StandardScaler().fit(feats[tr])
    clf = LogisticRegression(C=row["C"], solver="liblinear").fit(sc.transform(feats[tr]), y[tr])
    expected = roc_auc_score(y[te], clf.decision_function(sc.transform(feats[te])))
    assert row["roc_auc"] == pytest.approx(expected, abs=1e-9)


def test_erp_features_block_means():
    rng = np.random.default_rng(0)
    t = np.arange(-5, 20) / 10.0
    x = rng.normal(size=(3, 2, t.size))
    ep = xr.DataArray(x, dims=("trial", "channel", "time"), coords={"time": t})
    f = erp_features(ep, tmin=0.0, tmax=None, decim=4, baseline=(None, 0.0))
    base = x[..., :6].mean(-1, keepdims=True)  # times -0.5..0.0
    post = (x - base)[..., 5:]  # 20 samples from t = 0
    expected = post.reshape(3, 2, 5, 4).mean(-1).reshape(3, -1)
    np.testing.assert_allclose(f, expected, atol=1e-12)


def test_permutation_null_matches_the_mann_whitney_distribution():
    """Null of the AUC of fixed scores with shuffled labels: mean 1/2, sd sqrt((n1+n0+1)/(12 n1 n0))."""
    rng = np.random.default_rng(0)
    n1, n0 = 40, 60
    y = np.r_[np.ones(n1), np.zeros(n0)].astype(int)
    null = _perm_null_mean_auc([(y, rng.normal(size=y.size))], 4000, seed=1)
    assert null.mean() == pytest.approx(0.5, abs=0.005)
    assert null.std() == pytest.approx(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)), rel=0.05)
