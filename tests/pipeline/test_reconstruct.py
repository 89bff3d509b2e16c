"""The brain-to-image pipelines, cut down (fewer SNRs, voxels, epochs), on the real images and EEG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neurodecode.pipeline import run
from tests.conftest import require_data

ROOT = Path(__file__).resolve().parents[2]


def _steps(cfg):
    return {s["id"]: s for s in cfg["steps"]}


@pytest.fixture(scope="module")
def recon(data_home, tmp_path_factory):
    require_data(data_home / "kriegeskorte92", "the Kriegeskorte 92 images")
    cfg = yaml.safe_load((ROOT / "pipelines" / "reconstruct_simulated92.yaml").read_text())
    steps = _steps(cfg)
    steps["simulate"]["params"].update(snrs=[0.02, 2.0], n_voxels=[120, 200])
    steps["retrieval"]["params"].update(max_epochs=8, n_draws=50)
    steps["reconstruct"]["params"].update(max_epochs=2, steps=3, n_show=4)
    out = tmp_path_factory.mktemp("reconstruct")
    return run(cfg, out, progress=False), out


def test_recon_outputs(recon):
    _, out = recon
    for name in ("metrics.json", "report.html", "tables/simulate.measured_snr.csv", "tables/retrieval.retrieval.csv",
                 "tables/reconstruct.reconstruction.csv"):
        assert (out / name).exists(), name
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 3  # retrieval, grid, metrics figures


def test_simulated_snr_and_split(recon):
    _, out = recon
    m = json.loads((out / "metrics.json").read_text())
    assert m["simulate.n_train"] == 69 and m["simulate.n_test"] == 23
    for snr in (0.02, 2.0):
        for s in range(2):
            assert m[f"simulate.snr={snr:g}.subject={s}.measured_snr"] == pytest.approx(snr, rel=0.15)
    split = pd.read_csv(out / "tables" / "simulate.split.csv")
    held = split[split.part == "held-out"]
    # stratified: every category keeps about a quarter of its images out
    counts = held.groupby("category").size()
    totals = split.groupby("category").size()
    assert np.all(np.abs(counts / totals[counts.index] - 0.25) < 0.1)


def test_retrieval_above_chance_and_rises_with_snr(recon):
    _, out = recon
    table = pd.read_csv(out / "tables" / "retrieval.retrieval.csv")
    full = table[table.n_way == 23]
    assert np.allclose(full["top1_chance"], 1 / 23) and np.allclose(full["top5_chance"], 5 / 23)
    ten = table[table.n_way == 10]
    assert np.allclose(ten["top1_chance"], 0.1) and set(ten["n_draws"]) == {50}
    for model in ("ridge", "brain_clip"):
        g = full[full.model == model].groupby("snr")
        low, high = g["brain2image.top1"].mean()[0.02], g["brain2image.top1"].mean()[2.0]
        assert high > low
        assert g["two_way"].mean()[2.0] > 0.75
    # the ridge head on a linear-nonlinear ground truth at SNR 2 retrieves well above chance (1/23)
    ridge_high = full[(full.model == "ridge") & (full.snr == 2.0)]
    assert ridge_high["brain2image.top1"].mean() > 0.4
    assert ridge_high["image2brain.top5"].mean() > 0.6


def test_reconstruction_table(recon):
    _, out = recon
    table = pd.read_csv(out / "tables" / "reconstruct.reconstruction.csv")
    conds = ["low level (ridge pixels)", "diffusion from noise", "diffusion img2img 0.6"]
    floors = ["another image (floor)", "mean training image (floor)"]
    assert list(dict.fromkeys(table["condition"])) == ["true embedding", *conds, *floors]
    assert len(table) == 1 + len(conds) * 2 * 2 + 2  # 2 SNRs x 2 subjects per brain condition
    for col in ("pixcorr", "ssim"):
        assert table[col].between(-1, 1).all()
    assert table["two_way_effnet"].dropna().between(0, 1).all()
    # the low-level pathway (ridge from voxels to pixels) gets better with SNR
    low = table[table.condition == conds[0]].groupby("snr")["pixcorr"].mean()
    assert low[2.0] > low[0.02]
    m = json.loads((out / "metrics.json").read_text())
    assert m["reconstruct.two_way_chance"] == 0.5 and m["reconstruct.diffusion_fit_seconds"] > 0


@pytest.fixture(scope="module")
def eeg(data_home, tmp_path_factory):
    require_data(data_home / "muse_n170" / "subject1", "the Muse N170 recordings")
    require_data(data_home / "muse_n170" / "stim" / "faces", "the Muse N170 face images")
    cfg = yaml.safe_load((ROOT / "pipelines" / "eeg_image_retrieval.yaml").read_text())
    cfg["data"]["select"] = {"subject": [1]}
    cfg["steps"] = [s for s in cfg["steps"] if s["id"] != "retrieval_all_subjects"]
    _steps(cfg)["retrieval_subject1"]["params"].update(max_epochs=3)
    out = tmp_path_factory.mktemp("eeg_retrieval")
    return run(cfg, out, progress=False), out


def test_eeg_retrieval_folds(eeg):
    _, out = eeg
    folds = pd.read_csv(out / "tables" / "retrieval_subject1.folds.csv")
    assert len(folds) == 6  # subject 1 has 6 runs
    m = json.loads((out / "metrics.json").read_text())
    assert m["retrieval_subject1.chance"] == 0.5
    # every clean epoch of subject 1 is tested exactly once
    assert folds["n_test"].sum() == m["clean.kept"]
    assert (folds["n_train"] + folds["n_test"] == folds["n_test"].sum()).all()
    for col in ("brain_clip.balanced_accuracy", "brain_clip.roc_auc", "logreg.roc_auc"):
        assert folds[col].between(0, 1).all()
    # the reference classifier finds the face/house difference (SOURCE.txt: AUC about 0.71 within subject 1)
    assert m["retrieval_subject1.logreg.roc_auc.mean"] > 0.6
