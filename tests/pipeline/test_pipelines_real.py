"""The shipped pipelines on the real data, checked against independent reads (nibabel, scipy, pandas)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neurodecode import io
from neurodecode.datamodel import validate
from neurodecode.pipeline import load_config, run

pytestmark = pytest.mark.realdata

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "pipelines"
EXE = Path(sys.executable).with_name("neurodecode")


def _check_run_folder(out: Path, saved: list[str], kinds: dict[str, str]) -> dict:
    """Every output file exists and is well formed; returns the manifest."""
    for name in ("manifest.json", "metrics.json", "report.html", "run.log"):
        assert (out / name).is_file(), name
    assert not [p for p in out.rglob("*.tmp")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    for key in ("name", "config", "inputs", "versions", "steps", "cache", "outputs", "duration_s"):
        assert key in manifest, key
    assert manifest["config"]["sha256"] == hashlib.sha256(Path(manifest["config"]["file"]).read_bytes()).hexdigest()
    for entry in manifest["inputs"]["files"]:
        assert len(entry["sha256"]) == 64 and entry["size"] == Path(entry["path"]).stat().st_size
    assert all(isinstance(s["seconds"], (int, float)) for s in manifest["steps"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics and all(isinstance(v, (int, float)) and np.isfinite(v) for v in metrics.values())
    for sid in saved:
        entry = manifest["outputs"][sid]
        for f in entry["files"]:
            path = out / f["path"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
            validate(io.open(path, chunks=None), kinds[sid])
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and manifest["name"] in html
    return manifest


def _run_cli(pipeline: Path, out: Path) -> None:
    command = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "neurodecode.cli"]
    proc = subprocess.run([*command, "run", str(pipeline), "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout


def _volume_labels(events: pd.DataFrame, n: int, tr: float) -> np.ndarray:
    """Label of each volume (acquired at n * TR) from a BIDS events table; 'rest' outside events."""
    t = np.arange(n) * tr
    labels = np.full(n, "rest", dtype=object)
    for onset, duration, kind in events[["onset", "duration", "trial_type"]].itertuples(index=False):
        labels[(t >= onset) & (t < onset + duration)] = kind
    return labels


def test_fmri_haxby_cli_matches_direct_computation(data_home, tmp_path):
    import nibabel as nib
    from scipy.signal import detrend

    out = tmp_path / "haxby"
    _run_cli(PIPELINES / "fmri_haxby_preprocess.yaml", out)
    manifest = _check_run_folder(out, ["clean", "blocks"], {"clean": "bold", "blocks": "responses"})
    assert [s["id"] for s in manifest["steps"]] == ["mask", "clean", "blocks"]
    blocks = io.open(out / "blocks.nc", chunks=None)
    assert blocks.sizes["trial"] == 96  # 12 runs x 8 categories

    # independent read: nibabel + pandas + scipy
    folder = data_home / "haxby2001" / "sub001" / "BOLD"
    images = [nib.load(folder / f"task001_run{r:03d}" / "bold_1slice.nii.gz") for r in range(1, 13)]
    volumes = [np.asarray(img.get_fdata(), dtype=np.float64) for img in images]
    tr = float(images[0].header.get_zooms()[3])
    assert tr == 2.5
    grand_mean = np.concatenate([v.reshape(-1, v.shape[-1]) for v in volumes], axis=1).mean(axis=1)
    kept = grand_mean >= np.quantile(grand_mean, 0.4)  # the 60 % brightest voxels
    i, j, k = (blocks[c].values for c in ("i", "j", "k"))
    flat = np.ravel_multi_index((i, j, k), volumes[0].shape[:3])
    assert sorted(flat.tolist()) == np.flatnonzero(kept).tolist()

    expected, meta = [], []
    for r, vol in enumerate(volumes, start=1):
        x = vol[i, j, k, :].T  # (time, voxel)
        z = detrend(x, axis=0, type="linear")
        z = (z - z.mean(axis=0)) / z.std(axis=0, ddof=1)
        events = pd.read_csv(folder / f"task001_run{r:03d}" / "bold_events.tsv", sep="\t")
        labels = _volume_labels(events, x.shape[0], tr)
        shifted = np.full(labels.size, None, dtype=object)
        shifted[2:] = labels[:-2]  # 5 s = 2 volumes of haemodynamic delay
        start = 0
        while start < labels.size:
            stop = start + 1
            while stop < labels.size and shifted[stop] == shifted[start]:
                stop += 1
            if shifted[start] not in (None, "rest"):
                expected.append(z[start:stop].mean(axis=0))
                meta.append((r, shifted[start], stop - start))
            start = stop
    assert [(int(r), str(lab), int(n)) for r, lab, n in zip(blocks["run"].values, blocks["label"].values,
                                                            blocks["n_volumes"].values)] == meta
    np.testing.assert_allclose(blocks.transpose("trial", "neuroid").values, np.array(expected), atol=2e-5)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_blocks"] == 96 and metrics["n_blocks.label=face"] == 12
    assert metrics["mask.kept_voxels"] == kept.sum()


def test_spikes_m1_matches_scipy(data_home, tmp_path):
    from scipy.io import loadmat
    from scipy.ndimage import gaussian_filter1d

    result = run(PIPELINES / "spikes_m1_preprocess.yaml", tmp_path / "m1", progress=False)
    _check_run_folder(tmp_path / "m1", ["smoothed"], {"smoothed": "binned_spikes"})
    smoothed = result.open("smoothed")
    mat = loadmat(data_home / "reaching_m1_s1" / "m1_stevenson_2011.mat")
    counts = np.asarray(mat["spikes"], dtype=float).T  # (time, unit)
    rates = gaussian_filter1d(counts / 0.05, sigma=0.1 / 0.05, axis=0, mode="reflect")
    np.testing.assert_allclose(smoothed.transpose("time", "unit").values, rates, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(smoothed["vel_x"].values, np.asarray(mat["handVel"])[0])
    np.testing.assert_allclose(smoothed["vel_y"].values, np.asarray(mat["handVel"])[1])
    assert result.metrics["mean_rate_hz"] == pytest.approx(counts.mean() / 0.05)


def test_eeg_n170_subset(data_home, tmp_path):
    raw = yaml.safe_load((PIPELINES / "eeg_n170_preprocess.yaml").read_text())
    raw["data"]["select"] = {"subject": [2, 10]}  # subject 10 has runs with a single event: skipped
    cfg_path = tmp_path / "eeg_subset.yaml"
    cfg_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert load_config(cfg_path).name == "eeg_n170_preprocess"
    result = run(cfg_path, tmp_path / "eeg", progress=False)
    _check_run_folder(tmp_path / "eeg", ["clean"], {"clean": "epochs"})
    clean = result.open("clean")
    m = result.metrics

    assert set(clean["label"].values) == {"face", "house"}
    assert list(clean["channel"].values) == ["TP9", "AF7", "AF8", "TP10"]
    for coord in ("subject", "session", "run"):
        assert coord in clean.coords
    assert set(clean["subject"].values) == {"2", "10"}
    # every kept epoch is under the 100 uV peak-to-peak threshold (independent numpy check)
    ptp = clean.values.max(axis=-1) - clean.values.min(axis=-1)
    assert ptp.max() <= 100e-6
    # kept + dropped = before rejection, per subject and label
    for subject in ("2", "10"):
        for label in ("face", "house"):
            key = f"subject={subject}.label={label}"
            assert m[f"clean.kept.{key}"] + m[f"clean.dropped.{key}"] == m[f"n_epochs_before_rejection.{key}"]
            assert m[f"clean.kept.{key}"] == m[f"n_epochs_clean.{key}"] == int(
                ((clean["subject"] == subject) & (clean["label"] == label)).sum())
    skipped = pd.read_csv(tmp_path / "eeg" / "tables" / "epochs.skipped_items.csv")
    assert m["epochs.n_items_skipped"] == len(skipped) == 3

    # the markers counted from the CSV files with pandas: epochs = markers - dropped at epoching
    from neurodecode.datasets import files

    paths = files("muse_n170", include=["subject2/*", "subject10/*"])
    counts: dict[tuple[str, str], int] = {}
    for rel, path in paths.items():
        if rel.endswith(".csv"):
            subject = rel.split("/")[0].removeprefix("subject")
            values = pd.read_csv(path)["Marker0"].astype(int)
            assert set(values.unique()) <= {0, 1, 2}, rel  # 1 = house, 2 = face
            counts[(subject, "face")] = counts.get((subject, "face"), 0) + int((values == 2).sum())
            counts[(subject, "house")] = counts.get((subject, "house"), 0) + int((values == 1).sum())
    dropped_at_epoching = pd.read_csv(tmp_path / "eeg" / "tables" / "epochs.dropped_events.csv")
    for (subject, label), n in counts.items():
        key = f"subject={subject}.label={label}"
        lost = int(((dropped_at_epoching["label"] == label)
                    & dropped_at_epoching["item"].str.startswith(f"sub-{subject}_")).sum())
        lost_skipped = sum(1 for item in skipped["item"] if item.startswith(f"sub-{subject}_")
                           and label in _single_event_labels(paths, item))
        assert m[f"n_epochs_before_rejection.{key}"] == n - lost - lost_skipped, key


def _single_event_labels(paths: dict, item: str) -> list[str]:
    """Labels of the markers of a skipped run (sub-S_ses-T_run-R), read with pandas."""
    parts = dict(p.split("-") for p in item.split("_"))
    runs = sorted(rel for rel in paths if rel.startswith(f"subject{parts['sub']}/session{parts['ses']}/")
                  and rel.endswith(".csv"))
    values = pd.read_csv(paths[runs[int(parts["run"]) - 1]])["Marker0"].astype(int)
    return ["face"] * int((values == 2).sum()) + ["house"] * int((values == 1).sum())
