"""`neurodecode decode` on the real EEGMMIDB EDF+ files (each file one run, annotations as events)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import require_data
from neurodecode.cli import main
from neurodecode.decoding.cli import build_config
from neurodecode.errors import BadInputError


@pytest.mark.realdata
def test_decode_cli_on_edf_runs(data_home, tmp_path, capsys):
    folder = require_data(data_home / "eegmmidb_s001", "eegmmidb_s001")
    files = [str(folder / f"S001R{r:02d}.edf") for r in (6, 10)]  # imagined both fists (T1) / both feet (T2)
    out = tmp_path / "out"
    status = main(["decode", *files, "--label", "T1,T2", "--cv", "run", "--model", "csp_lda", "--n-perm", "0",
                   "--out", str(out), "--quiet"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "sustained: epochs 0.5..2.5 s" in printed and "best: csp_lda roc_auc =" in printed
    scores = pd.read_csv(next((out / "tables").glob("*scores.csv")))
    assert {"model", "fold", "score", "chance"} <= set(scores.columns)
    assert list(scores["test_group"]) == ["run=S001R06", "run=S001R10"]
    assert (scores["chance"] == 0.5).all()
    assert scores["score"].mean() > 0.85  # fists vs feet imagery: ~0.98 accuracy in the literature setup
    cfg = yaml.safe_load((out / "pipeline.yaml").read_text())
    assert [s["op"] for s in cfg["steps"]] == ["decoding.epochs", "decode"]
    assert (out / "manifest.json").exists() and (out / "report.html").exists()
    # the written pipeline is a valid pipeline file
    assert main(["validate", str(out / "pipeline.yaml")]) == 0


def test_build_config_choices(tmp_path):
    f = tmp_path / "a.edf"
    f.write_bytes(b"0")
    cfg = build_config([str(f)], label="T1,T2", cv="kfold:5", models=["lda"])
    assert cfg["data"] == {"files": [str(f.resolve())], "loader": "eeg.read_eeg"}
    assert cfg["steps"][1]["params"]["classes"] == ["T1", "T2"] and cfg["steps"][1]["params"]["cv"] == "kfold:5"
    assert build_config(["eegmmidb_s001"], label="label")["data"] == {"dataset": "eegmmidb_s001"}
    with pytest.raises(BadInputError, match="no such file"):
        build_config([str(tmp_path / "missing.edf")], label="T1,T2")


@pytest.mark.realdata
def test_decode_cli_on_a_bids_tree(data_home, tmp_path, capsys):
    """`neurodecode decode --bids ROOT --task T`: a BIDS dataset written with mne-bids from two real EDF runs."""
    import warnings

    import mne
    import mne_bids

    folder = require_data(data_home / "eegmmidb_s001", "eegmmidb_s001")
    root = tmp_path / "bids"
    for run in (6, 10):  # imagined both fists (T1) / both feet (T2)
        raw = mne.io.read_raw_edf(folder / f"S001R{run:02d}.edf", verbose=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mne_bids.write_raw_bids(raw, mne_bids.BIDSPath(subject="001", task="imagery", run=run, datatype="eeg",
                                                           root=root), overwrite=True, verbose=False)
    out = tmp_path / "out"
    status = main(["decode", "--bids", str(root), "--task", "imagery", "--subject", "001", "--label", "T1,T2",
                   "--cv", "run", "--model", "csp_lda", "--n-perm", "0", "--out", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    scores = pd.read_csv(next((out / "tables").glob("*scores.csv")))
    assert len(scores) == 2 and scores["score"].mean() > 0.85
    cfg = yaml.safe_load((out / "pipeline.yaml").read_text())
    assert cfg["data"]["bids"] == str(root.resolve()) and cfg["data"]["select"]["task"] == "imagery"
    assert main(["decode", "--bids", str(root), "--task", "imagery2", "--label", "T1,T2", "--out",
                 str(tmp_path / "x"), "--quiet"]) == 2
    assert "imagery" in capsys.readouterr().err


def _write_bdf(raw, path) -> None:
    import edfio

    x = raw.get_data() * 1e6  # microvolts
    signals = [edfio.BdfSignal(x[i], sampling_frequency=raw.info["sfreq"], label=ch, physical_dimension="uV",
                               physical_range=(float(x[i].min()) - 1.0, float(x[i].max()) + 1.0))
               for i, ch in enumerate(raw.ch_names)]
    notes = [edfio.EdfAnnotation(float(a["onset"]), float(a["duration"]), a["description"]) for a in raw.annotations]
    edfio.Bdf(signals, annotations=notes).write(path)


@pytest.fixture(scope="module")
def edf_scores(data_home, tmp_path_factory):
    """csp_lda on the two EDF runs through the CLI (the reference of the other formats)."""
    folder = require_data(data_home / "eegmmidb_s001", "eegmmidb_s001")
    out = tmp_path_factory.mktemp("edf_ref")
    assert main(["decode", *[str(folder / f"S001R{r:02d}.edf") for r in (6, 10)], "--label", "T1,T2", "--cv", "run",
                 "--model", "csp_lda", "--n-perm", "0", "--out", str(out), "--quiet"]) == 0
    return pd.read_csv(next((out / "tables").glob("*scores.csv")))["score"].to_numpy()


@pytest.mark.realdata
@pytest.mark.parametrize("fmt", ["bdf", "fif", "brainvision", "eeglab"])
def test_decode_cli_on_other_formats(data_home, tmp_path, capsys, fmt, edf_scores):
    """The same two motor-imagery runs, saved by a user as BDF+ / FIF / BrainVision / EEGLAB files in a folder of
    their own: `neurodecode decode` reads each with its own event labels and scores as on the EDF files."""
    import warnings

    import mne

    folder = require_data(data_home / "eegmmidb_s001", "eegmmidb_s001")
    user = tmp_path / "my study" / fmt
    user.mkdir(parents=True)
    files = []
    for run in (6, 10):  # imagined both fists (T1) / both feet (T2)
        raw = mne.io.read_raw_edf(folder / f"S001R{run:02d}.edf", preload=True, verbose=False)
        ext = {"bdf": ".bdf", "fif": "_raw.fif", "brainvision": ".vhdr", "eeglab": ".set"}[fmt]
        path = user / f"S001R{run:02d}{ext}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "bdf":  # 24-bit BDF+ with the annotations, written with edfio
                _write_bdf(raw, path)
            elif fmt == "fif":
                raw.save(path, fmt="double", verbose=False)
            else:
                mne.export.export_raw(path, raw, fmt=fmt, verbose=False)
        files.append(str(path))
    # BrainVision markers read back as "<type>/<description>": the labels are those the file holds
    labels = "Comment/T1,Comment/T2" if fmt == "brainvision" else "T1,T2"
    out = tmp_path / "out"
    status = main(["decode", *files, "--label", labels, "--cv", "run", "--model", "csp_lda", "--n-perm", "0",
                   "--out", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    table = pd.read_csv(next((out / "tables").glob("*scores.csv")))
    assert len(table) == 2 and (table["chance"] == 0.5).all()
    assert table["score"].mean() > 0.85
    # the files hold the same samples (24-bit BDF, float32 BrainVision / EEGLAB): near-equal scores
    assert abs(table["score"].mean() - edf_scores.mean()) < 0.02


@pytest.mark.realdata
def test_decode_cli_within_subjects_with_rejection_on_muse(data_home, tmp_path, capsys):
    """`neurodecode decode muse_n170 --within subject --reject 100`: leave one run out inside each subject, epochs over
    100 µV dropped; runs with no usable epoch (subject 10's one-event runs) are left out and named."""
    import json

    out = tmp_path / "out"
    status = main(["decode", "muse_n170", "--label", "face,house", "--within", "subject", "--reject", "100",
                   "--model", "lda", "--n-perm", "0", "--out", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "within each subject" in printed
    cfg = yaml.safe_load((out / "pipeline.yaml").read_text())
    assert [s["op"] for s in cfg["steps"]] == ["decoding.epochs", "eeg.reject_amplitude", "decode"]
    assert cfg["steps"][1]["params"]["threshold"] == {"eeg": pytest.approx(100e-6)}
    steps = {s["id"]: s for s in json.loads((out / "manifest.json").read_text())["steps"]}
    left = " ".join(steps["epochs"]["notes"])
    assert "sub-10/ses-1/run-1" in left and "dropped" in left  # its only event is too close to the end
    scores = pd.read_csv(next((out / "tables").glob("*scores.csv")))
    groups = set(scores["test_group"])
    assert "1:sub-1/ses-1/run-1" in groups and not any(g.startswith("10:") for g in groups)
    assert scores["score"].mean() > 0.55  # the N170: face vs house within subjects (chance 0.5)
    assert main(["decode", "muse_n170", "--label", "face,house", "--within", "subject", "--cv", "kfold:5",
                 "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "--within subject needs --cv" in capsys.readouterr().err


@pytest.mark.realdata
def test_decode_cli_on_fmri_blocks(data_home, tmp_path, capsys):
    """`neurodecode decode haxby2001 --label face,house,cat`: fMRI blocks as samples (labels delayed 5 s, voxels
    z-scored per run), leave one run out; shrinkage LDA equals scikit-learn's on the same block responses."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_score

    from neurodecode import datasets
    from neurodecode.preprocess import fmri

    out = tmp_path / "out"
    status = main(["decode", "haxby2001", "--label", "face,house,cat", "--model", "lda", "--n-perm", "0",
                   "--scoring", "accuracy", "--out", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert "fMRI: one sample per block" in capsys.readouterr().out
    table = pd.read_csv(next((out / "tables").glob("*scores.csv")))
    assert len(table) == 12 and (table["n_test"] == 3).all()
    bold = datasets.load("haxby2001")
    values = bold.transpose("time", "voxel").values
    run = bold["run"].values
    varying = np.all([values[run == r].std(axis=0) > 0 for r in np.unique(run)], axis=0)
    bold = fmri.clean(bold.isel(voxel=np.flatnonzero(varying)), detrend=False, standardize="zscore", runs="run")
    keep = ["face", "house", "cat"]
    others = [x for x in set(bold["label"].values.tolist()) if x not in keep]
    resp = fmri.block_responses(bold, shift=5.0, exclude=others)
    expected = cross_val_score(LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
                               resp.transpose("trial", ...).values, resp["label"].values, groups=resp["run"].values,
                               cv=LeaveOneGroupOut(), scoring="accuracy")
    np.testing.assert_allclose(table.sort_values("fold")["score"].to_numpy(), expected)
    assert expected.mean() > 0.7  # chance 1/3


@pytest.mark.realdata
def test_decode_cli_on_binned_spikes_with_a_continuous_target(data_home, tmp_path, capsys):
    """`neurodecode decode reaching_m1 --target vel_x,vel_y --lags 5`: causal 5-bin windows of M1 spikes, 5 contiguous
    test blocks with 5 samples purged each side (leak-checked), R² of the two velocity components."""
    out = tmp_path / "out"
    status = main(["decode", "reaching_m1", "--target", "vel_x,vel_y", "--lags", "5", "--model", "pca_knn",
                   "--n-perm", "0", "--out", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert "the last 5 bins" in capsys.readouterr().out
    cfg = yaml.safe_load((out / "pipeline.yaml").read_text())
    params = cfg["steps"][1]["params"]
    assert params["label"] == ["vel_x", "vel_y"] and params["cv"] == {"blocks": 5, "gap": 5}
    table = pd.read_csv(next((out / "tables").glob("*scores.csv")))
    assert len(table) == 5 and (table["scoring"] == "r2").all() and (table["chance"] == 0).all()
    assert table["score"].mean() > 0.8  # PCA + kNN on 0.5 s of M1 history reaches 0.856 with 10 bins


def test_build_config_for_a_continuous_target():
    cfg = build_config(["reaching_m1"], target="vel_x,vel_y")
    dec = cfg["steps"][1]["params"]
    assert cfg["steps"][0]["params"]["lags"] == 10 and dec["task"] == "regression"
    assert dec["cv"] == {"blocks": 5, "gap": 10} and set(dec["estimators"]) == {"ridge", "pca_knn"}
    with pytest.raises(BadInputError, match="one of the two"):
        build_config(["reaching_m1"], label="a", target="vel_x")
    with pytest.raises(BadInputError, match="one of the two"):
        build_config(["reaching_m1"])
