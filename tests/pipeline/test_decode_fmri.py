"""fMRI decoding pipeline (BrainMAE vs LinearSVC, leave-one-run-out) on the real Haxby 2001 data, and its pieces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neurodecode.errors import BadInputError
from neurodecode.pipeline.decode_fmri import block_windows, ward_parcels

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "fmri_haxby_decode.yaml"


# --------------------------------------------------------------------------- pieces (synthetic ground truth)


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
    labels = ward_parcels(values[:, perm], ijk[perm], shape, 2)
    assert set(labels[left[perm]]) == {0} and set(labels[~left[perm]]) == {1}  # numbered left to right
    labels = ward_parcels(values, ijk, shape, 7)
    assert sorted(set(labels)) == list(range(7))
    for k in range(7):
        vol = np.zeros(shape, dtype=bool)
        vol[tuple(ijk[labels == k].T)] = True
        assert ndimage.label(vol)[1] == 1


def test_ward_parcels_bad_count():
    with pytest.raises(BadInputError, match="n_rois"):
        ward_parcels(np.zeros((10, 4)), np.argwhere(np.ones((2, 2, 1))), (2, 2, 1), 5)


def test_block_windows_stay_inside_blocks():
    starts, lengths = np.array([10, 40]), np.array([9, 8])
    w, b = block_windows(starts, lengths, 8, [0, 1])
    assert w.tolist() == [10, 11, 40] and b.tolist() == [0, 0, 1]  # the second block only fits offset 0
    with pytest.raises(BadInputError, match="no window"):
        block_windows(starts, np.array([9, 5]), 8, [0, 1])


def test_op_refuses_bad_input():
    from neurodecode.datamodel import make_bold
    from neurodecode.pipeline.decode_fmri import decode_brainmae

    roi = make_bold(np.zeros((10, 3)), 2.0, roi=["a", "b", "c"])
    with pytest.raises(BadInputError, match="voxel"):
        decode_brainmae(roi)


# --------------------------------------------------------------------------- the pipeline on the real data


@pytest.fixture(scope="module")
def result(data_home, tmp_path_factory):
    from neurodecode.pipeline import run

    cfg = yaml.safe_load(PIPELINE.read_text())
    params = cfg["steps"][-1]["params"]
    # all 12 folds (the baseline floor is over all of them) but a tiny, short BrainMAE; same code path
    params.update(pretrain_epochs=1, finetune_epochs=2, patience=1, pretrain_step=8)
    params["encoder_params"].update(d_model=16, d_emb=8, n_layers=1)
    out = tmp_path_factory.mktemp("fmri_decode")
    return run(cfg, out, progress=False), out


@pytest.fixture(scope="module")
def metrics(result):
    _, out = result
    return json.loads((out / "metrics.json").read_text())


def test_outputs_written(result, metrics):
    _, out = result
    for name in ("manifest.json", "metrics.json", "report.html", "decode.nc", "tables/decode.per_fold.csv",
                 "tables/decode.confusion.csv", "tables/decode.windows.csv", "tables/decode.folds.csv"):
        assert (out / name).exists(), name
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    assert metrics["decode.chance"] == pytest.approx(0.125)
    assert metrics["decode.n_folds"] == 12 and metrics["decode.n_blocks"] == 96
    assert (out / "report.html").read_text().count("data:image/png;base64") >= 4


def test_baseline_equals_independent_computation_and_meets_floor(result, metrics, data_home):
    """LinearSVC on voxel block responses, leave-one-run-out with scikit-learn (examples/fmri_haxby_decoding.py)."""
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
    from sklearn.svm import LinearSVC

    from neurodecode import datasets
    from neurodecode.preprocess import fmri

    _, out = result
    bold = datasets.load("haxby2001", resolution="1slice")
    mean = bold.mean("time")
    bold = bold.isel(voxel=np.flatnonzero(mean >= np.quantile(mean, 0.4)))
    bold = fmri.clean(bold, detrend=False, standardize="zscore")
    blocks = fmri.block_responses(bold, shift=5.0)
    scores = cross_val_score(LinearSVC(C=1.0, dual="auto", max_iter=10000), blocks.values,
                             blocks["label"].values, groups=blocks["run"].values, cv=LeaveOneGroupOut())
    per_fold = pd.read_csv(out / "tables" / "decode.per_fold.csv")
    assert np.allclose(per_fold["svc_voxels.accuracy"].to_numpy(), scores)
    assert metrics["decode.baseline.accuracy.mean"] == pytest.approx(scores.mean())
    assert metrics["decode.baseline.accuracy.mean"] >= 0.70  # the floor of the issue
    assert metrics["decode.baseline.accuracy.std"] == pytest.approx(scores.std(ddof=1))


def test_metrics_summarise_the_folds(result, metrics):
    _, out = result
    per_fold = pd.read_csv(out / "tables" / "decode.per_fold.csv")
    assert per_fold["test_run"].tolist() == list(range(1, 13))
    for model in ("svc_voxels", "svc_rois", "brainmae_probe_mean", "brainmae_probe_roi", "brainmae_finetune"):
        acc = per_fold[f"{model}.accuracy"].to_numpy()
        assert np.allclose(acc * 8, np.round(acc * 8))  # 8 held-out blocks per run
        assert metrics[f"decode.{model}.accuracy.mean"] == pytest.approx(acc.mean())
        assert metrics[f"decode.{model}.accuracy.std"] == pytest.approx(acc.std(ddof=1))
    conf = pd.read_csv(out / "tables" / "decode.confusion.csv")
    for model, sub in conf.groupby("model"):
        assert sub["count"].sum() == 96
        correct = sub.loc[sub["true"] == sub["predicted"], "count"].sum()
        assert correct / 96 == pytest.approx(per_fold[f"{model}.accuracy"].mean())
    from neurodecode import io

    data = io.open(out / "decode.nc", chunks=None)
    assert data["accuracy"].shape == (5, 12)
    assert np.allclose(data["accuracy"].sel(model="svc_voxels").values, per_fold["svc_voxels.accuracy"])


def test_no_fold_trains_on_its_test_run(result):
    from neurodecode.train.splits import check_no_leak

    _, out = result
    windows = pd.read_csv(out / "tables" / "decode.windows.csv")
    folds = pd.read_csv(out / "tables" / "decode.folds.csv")
    assert set(windows["role"]) == {"pretrain", "train", "val", "test"}
    for fold, sub in windows.groupby("fold"):
        test_run = int(sub["test_run"].iloc[0])
        is_test = (sub["role"] == "test").to_numpy()
        assert set(sub.loc[is_test, "run"]) == {test_run}
        assert test_run not in set(sub.loc[~is_test, "run"])
        check_no_leak(np.flatnonzero(~is_test), np.flatnonzero(is_test), groups=sub["run"].to_numpy(),
                      times=sub["start"].to_numpy(), window=(sub["stop"] - sub["start"]).to_numpy(),
                      stream=sub["run"].to_numpy())
        info = folds[folds["fold"] == fold].iloc[0]
        for col in ("parcellation_runs", "pretrain_runs", "train_runs", "val_runs"):
            runs = {int(r) for r in str(info[col]).split()}
            assert test_run not in runs, (fold, col)
        assert {int(r) for r in str(info["parcellation_runs"]).split()} == set(range(1, 13)) - {test_run}
        # every volume of every training run is covered by pretraining windows (hop 8, window 8)
        pre = sub[sub["role"] == "pretrain"]
        assert set(pre["run"]) == set(range(1, 13)) - {test_run}
