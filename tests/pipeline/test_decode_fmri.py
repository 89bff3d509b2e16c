"""The Haxby decoding pipeline (a configuration of the generic ``decode`` op) on the real data, and its pieces:
Ward parcels, block time courses, the BrainMAE estimator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from neurodecode.decoding.brainmae import BrainMAEClassifier, ward_parcels
from neurodecode.errors import BadInputError

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "fmri_haxby_decode.yaml"


def test_ward_parcels_recovers_two_regions_and_stays_contiguous():
    """Two halves of a 6 x 4 slab carry two different signals: 2 parcels = the 2 halves; with more
    parcels every parcel is one connected piece of the grid."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    shape = (6, 4, 1)
    ijk = np.argwhere(np.ones(shape, dtype=bool))
    left = ijk[:, 0] < 3
    t = rng.normal(size=(2, 200))
    values = np.where(left[None, :], t[0][:, None], t[1][:, None]) + 0.1 * rng.normal(size=(200, ijk.shape[0]))
    perm = rng.permutation(ijk.shape[0])  # voxel order must not matter
    labels = ward_parcels(values[:, perm], 2, ijk[perm], shape)
    assert set(labels[left[perm]]) == {0} and set(labels[~left[perm]]) == {1}  # numbered left to right
    labels = ward_parcels(values, 7, ijk, shape)
    assert sorted(set(labels)) == list(range(7))
    for k in range(7):
        vol = np.zeros(shape, dtype=bool)
        vol[tuple(ijk[labels == k].T)] = True
        assert ndimage.label(vol)[1] == 1
    with pytest.raises(BadInputError, match="n_rois"):
        ward_parcels(np.zeros((10, 4)), 5)


def test_brainmae_refuses_windows_that_do_not_fit():
    X = np.random.default_rng(0).normal(size=(8, 12, 5))
    with pytest.raises(BadInputError, match="no window"):
        BrainMAEClassifier(n_rois=3, window=8).fit(X, np.repeat([0, 1], 4))


@pytest.fixture(scope="module")
def blocks(data_home):
    from neurodecode import datasets
    from neurodecode.decoding.blocks import block_timecourses
    from neurodecode.preprocess import fmri

    bold = datasets.load("haxby2001", resolution="1slice")
    mean = bold.mean("time")
    bold = bold.isel(voxel=np.flatnonzero(mean >= np.quantile(mean, 0.4)))
    bold = fmri.clean(bold, detrend=False, standardize="zscore", runs="run")
    return bold, block_timecourses(bold, shift=5.0), fmri.block_responses(bold, shift=5.0)


def test_block_timecourses_average_to_block_responses(blocks):
    _, tc, resp = blocks
    assert tc.dims == ("trial", "voxel", "time") and tc.sizes["trial"] == 96 and tc.sizes["time"] == 9
    assert (resp["n_volumes"].values == 9).all()
    np.testing.assert_allclose(tc.mean("time").values, resp.transpose("trial", "neuroid").values, atol=1e-10)
    assert (tc["label"].values == resp["label"].values).all() and (tc["run"].values == resp["run"].values).all()


@pytest.fixture(scope="module")
def result(data_home, tmp_path_factory):
    from neurodecode.pipeline import run

    cfg = yaml.safe_load(PIPELINE.read_text())
    params = cfg["steps"][-1]["params"]
    # all 12 folds for the baselines; one tiny, short BrainMAE (same code path)
    bm = params["estimators"]["brainmae_finetune"]
    bm.update(pretrain_epochs=1, finetune_epochs=2, patience=1, n_rois=16)
    bm["encoder_params"].update(d_model=16, d_emb=8, n_layers=1)
    params["estimators"] = {k: params["estimators"][k]
                            for k in ("svc_voxels", "svm_anova", "lda_voxels", "brainmae_finetune")}
    params["n_perm"] = 3
    out = tmp_path_factory.mktemp("fmri_decode")
    return run(cfg, out, progress=False), out


def test_pipeline_outputs_and_baseline_equal_to_sklearn(result, blocks):
    """LinearSVC on voxel block responses, leave-one-run-out, computed with scikit-learn directly."""
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
    from sklearn.svm import LinearSVC

    _, out = result
    _, _, resp = blocks
    metrics = json.loads((out / "metrics.json").read_text())
    scores = cross_val_score(LinearSVC(C=1.0, dual="auto", max_iter=10000), resp.values,
                             resp["label"].values, groups=resp["run"].values, cv=LeaveOneGroupOut())
    table = pd.read_csv(out / "tables" / "decode.scores.csv")
    svc = table[table["model"] == "svc_voxels"].sort_values("fold")
    np.testing.assert_allclose(svc["score"].to_numpy(), scores)
    assert svc["test_group"].tolist() == [f"run={r}" for r in range(1, 13)]
    assert metrics["decode.svc_voxels_accuracy_mean"] == pytest.approx(scores.mean())
    assert scores.mean() >= 0.70  # the floor
    assert (table["chance"] == 0.125).all()
    summary = pd.read_csv(out / "tables" / "decode.summary.csv").set_index("model")
    assert summary.loc["svm_anova", "mean"] >= summary.loc["svc_voxels", "mean"]
    # shrinkage LDA on the block responses, the strongest baseline, computed with scikit-learn directly
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    lda = cross_val_score(LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"), resp.values,
                          resp["label"].values, groups=resp["run"].values, cv=LeaveOneGroupOut())
    got = table[table["model"] == "lda_voxels"].sort_values("fold")["score"].to_numpy()
    np.testing.assert_allclose(got, lda)
    assert summary.index[0] == "lda_voxels" and lda.mean() > 0.8
    assert bool(summary.loc["brainmae_finetune", "deep"]) and np.isnan(summary.loc["brainmae_finetune", "p_value"])
    assert summary.loc[["svc_voxels", "svm_anova"], "null_95"].notna().all()
    acc = table["score"].to_numpy()
    assert np.allclose(acc * 8, np.round(acc * 8))  # 8 held-out blocks per run
    assert (out / "report.html").read_text().count("data:image/png;base64") >= 2


def test_svm_on_parcel_means_equals_feature_agglomeration(blocks):
    """``svm_anova`` with ``parcels``: contiguous Ward parcels of the training runs' volumes, voxel means,
    LinearSVC; rebuilt here with scikit-learn's FeatureAgglomeration on the same grid (4 runs)."""
    from sklearn.cluster import FeatureAgglomeration
    from sklearn.feature_extraction.image import grid_to_graph
    from sklearn.svm import LinearSVC

    from neurodecode import decoding

    _, tc, _ = blocks
    tc = tc.isel(trial=np.flatnonzero(np.isin(tc["run"].values, [1, 2, 3, 4])))
    spec = {"estimator": "svm_anova", "parcels": 12, "time_mean": True, "k": "all", "C": 1.0, "standardize": False}
    res = decoding.cross_validate(tc, "label", {"roi_svc": spec}, cv="run", scoring="accuracy", n_perm=0)
    ijk = np.stack([tc[c].values for c in ("i", "j", "k")], axis=1).astype(int)
    shape = tuple(int(v) for v in np.asarray(tc.attrs["shape"])[:3])
    flat = np.ravel_multi_index(tuple(ijk.T), shape)
    order = np.argsort(flat)  # grid_to_graph numbers the mask's voxels in C order
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(ijk.T)] = True
    X, y, run = tc.values[:, order], tc["label"].values, tc["run"].values
    expected = []
    for r in [1, 2, 3, 4]:
        tr, te = run != r, run == r
        series = X[tr].transpose(0, 2, 1).reshape(-1, X.shape[1])
        agg = FeatureAgglomeration(12, connectivity=grid_to_graph(*shape, mask=mask), linkage="ward").fit(series)
        feats = agg.transform(X.mean(axis=2))
        svc = LinearSVC(C=1.0, dual="auto", max_iter=10000).fit(feats[tr], y[tr])
        expected.append(np.mean(svc.predict(feats[te]) == y[te]))
    np.testing.assert_allclose(res["score"].sel(model="roi_svc").values, expected, atol=1e-12)
