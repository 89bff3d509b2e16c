"""`neurodecode compare` on a user's own images, RDM file and model, and the pipeline.yaml it writes."""

from __future__ import annotations

import json
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neurodecode import datasets, io
from neurodecode.cli import main

USER_MODEL = textwrap.dedent('''
    """A lab's own small CNN (what a user would bring)."""
    import torch
    from torch import nn


    def build():
        torch.manual_seed(0)
        net = nn.Sequential()
        net.add_module("conv1", nn.Sequential(nn.Conv2d(3, 8, 5, stride=2), nn.ReLU()))
        net.add_module("conv2", nn.Sequential(nn.Conv2d(8, 16, 3, stride=2), nn.ReLU()))
        net.add_module("pool", nn.AdaptiveAvgPool2d(4))
        return net


    build.preprocessing = {"size": 64, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
''')

# 20 of the 92 images, saved by category into nested folders under names of the user's choosing
_PICK = [0, 3, 7, 12, 14, 20, 24, 26, 30, 36, 48, 50, 55, 60, 64, 70, 75, 80, 85, 90]


@pytest.fixture(scope="module")
def user_study(data_home, tmp_path_factory):
    root = tmp_path_factory.mktemp("my_study")
    images = datasets.load("kriegeskorte92", part="images")
    ids = []
    for k in _PICK:
        category = str(images["category"].values[k]).replace(" ", "_")
        name = f"{category}/img_{k:02d}"
        path = root / "stimuli" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images.values[k]).save(path)
        ids.append(name)
    it = datasets.load("cichy92_fmri", region="IT")
    sub = it.values[:, _PICK][:, :, _PICK]
    np.save(root / "it_rdms.npy", sub)
    # the id list in a different order than the images, and two ids the images do not have
    order = np.r_[np.arange(len(_PICK))[::-1]]
    np.save(root / "it_rdms_shuffled.npy", sub[:, order][:, :, order])
    (root / "ids.txt").write_text("\n".join(ids) + "\n")
    (root / "ids_shuffled.txt").write_text("\n".join(ids[i] for i in order) + "\n")
    (root / "my_net.py").write_text(USER_MODEL)
    return root, ids


def _compare(root, out, *extra):
    argv = ["compare", "--stimuli", str(root / "stimuli"), "--brain", str(root / "it_rdms.npy"),
            "--stimulus-ids", str(root / "ids.txt"), "--model", f"{root / 'my_net.py'}:build",
            "--n-boot", "100", "--heldout-splits", "20", "--out", str(out), *extra]
    return main(argv)


def test_compare_runs_on_user_files_and_pipeline_yaml_reproduces_it(user_study, tmp_path, capsys):
    root, ids = user_study
    t0 = time.perf_counter()
    assert _compare(root, tmp_path / "out") == 0
    seconds = time.perf_counter() - t0
    printed = capsys.readouterr().out
    assert "best layer per model and region" in printed and "it_rdms" in printed
    out = tmp_path / "out"
    for name in ("pipeline.yaml", "metrics.json", "report.html", "manifest.json", "tables/rsa.best_layer.csv"):
        assert (out / name).exists(), name
    best = pd.read_csv(out / "tables" / "rsa.best_layer.csv")
    assert {"model", "region", "layer", "score", "ci_low", "ci_high"} <= set(best.columns)
    assert best["region"].tolist() == ["it_rdms"] and best["model"].tolist() == ["build_trained"]
    rsa = io.open(out / "rsa.nc", chunks=None)
    assert rsa.attrs["n_stimuli"] == 20
    assert list(rsa["layer"].values) == ["conv1", "conv2", "pool"]
    # the score of each layer equals an independent computation: mean over the 15 subjects of
    # Spearman(layer RDM, subject RDM) with scipy, on the matched stimuli
    from scipy.stats import spearmanr

    layers = io.open(out / "layer_rdms.nc", chunks=None)
    brain = np.load(root / "it_rdms.npy")
    iu = np.triu_indices(20, 1)
    got_ids = [str(s) for s in layers["stimulus"].values]
    assert got_ids == sorted(ids)  # images are read in sorted path order; the RDM rows follow ids.txt
    order = [ids.index(s) for s in got_ids]
    brain = brain[:, order][:, :, order]
    for k, layer in enumerate(layers["layer"].values):
        expected = np.mean([spearmanr(layers.values[k][iu], b[iu])[0] for b in brain])
        assert float(rsa["score"].sel(layer=layer).squeeze()) == pytest.approx(expected, abs=1e-10)
    manifest = json.loads((out / "manifest.json").read_text())
    assert any("preprocessing" in note and "64" in note for step in manifest["steps"] for note in step["notes"])
    assert seconds < 60
    # the written pipeline gives the same results
    assert main(["run", str(out / "pipeline.yaml"), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    again = io.open(tmp_path / "again" / "rsa.nc", chunks=None)
    for var in ("score", "ci_low", "ci_high", "p_fdr", "ceiling_low", "heldout_score"):
        np.testing.assert_array_equal(again[var].values, rsa[var].values)


def test_ids_in_another_order_match_by_id(user_study, tmp_path):
    root, _ = user_study
    argv = ["compare", "--stimuli", str(root / "stimuli"), "--brain", str(root / "it_rdms_shuffled.npy"),
            "--stimulus-ids", str(root / "ids_shuffled.txt"), "--model", f"{root / 'my_net.py'}:build",
            "--n-boot", "50", "--heldout-splits", "0", "--out", str(tmp_path / "a"), "-q"]
    assert main(argv) == 0
    assert _compare(root, tmp_path / "b", "--heldout-splits", "0", "--n-boot", "50", "-q") == 0
    a = io.open(tmp_path / "a" / "rsa.nc", chunks=None)
    b = io.open(tmp_path / "b" / "rsa.nc", chunks=None)
    np.testing.assert_allclose(a["score"].values, b["score"].values, atol=1e-12)


def test_no_common_stimulus_is_a_clear_error(user_study, tmp_path, capsys):
    root, ids = user_study
    (tmp_path / "other_ids.txt").write_text("\n".join(f"x{i}" for i in range(20)))
    argv = ["compare", "--stimuli", str(root / "stimuli"), "--brain", str(root / "it_rdms.npy"),
            "--stimulus-ids", str(tmp_path / "other_ids.txt"), "--model", f"{root / 'my_net.py'}:build",
            "--out", str(tmp_path / "out"), "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "share no stimulus id" in err and "x0" in err and "artificial_inanimate/img_" in err


def test_model_file_errors_name_the_file(user_study, tmp_path, capsys):
    root, _ = user_study
    argv = ["compare", "--stimuli", str(root / "stimuli"), "--brain", str(root / "it_rdms.npy"),
            "--stimulus-ids", str(root / "ids.txt"), "--model", str(tmp_path / "missing.py") + ":build",
            "--out", str(tmp_path / "out"), "-q"]
    assert main(argv) == 2
    assert "missing.py" in capsys.readouterr().err


def test_epochs_brain_gives_time_resolved_rsa(user_study, tmp_path, capsys):
    """EEG-like epochs (trial, channel, time) with a stimulus coord: one RDM per time point."""
    import xarray as xr

    root, ids = user_study
    rng = np.random.default_rng(0)
    n_t = 5
    pattern = rng.normal(size=(len(ids), 16))
    data = rng.normal(size=(2 * len(ids), 16, n_t)) * 0.5
    data[:, :, 2:] += np.repeat(pattern, 2, axis=0)[:, :, None]
    epochs = xr.DataArray(data, dims=("trial", "channel", "time"),
                          coords={"stimulus": ("trial", np.repeat(ids, 2)), "time": np.arange(n_t) * 0.05,
                                  "channel": [f"E{i}" for i in range(16)]}, name="epochs",
                          attrs={"sfreq": 20.0, "subject": "s1"})
    io.save(epochs, tmp_path / "my_epochs.nc")
    argv = ["compare", "--stimuli", str(root / "stimuli"), "--brain", str(tmp_path / "my_epochs.nc"),
            "--model", f"{root / 'my_net.py'}:build", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    peaks = pd.read_csv(tmp_path / "out" / "tables" / "rsa.peaks.csv")
    assert {"model", "region", "layer", "time", "score"} <= set(peaks.columns)
    scores = io.open(tmp_path / "out" / "rsa.nc", chunks=None)
    assert scores["score"].sizes["time"] == n_t
    assert "peaks at" in capsys.readouterr().out


def test_activation_metric_on_responses(user_study, tmp_path, capsys):
    """--metric debiased_cka: layer activations vs brain responses (trial x neuroid, two regions)."""
    import xarray as xr

    from neurodecode.analysis import similarity

    root, ids = user_study
    rng = np.random.default_rng(1)
    resp = rng.normal(size=(3 * len(ids), 24))
    neuroid_region = ["V4"] * 12 + ["IT"] * 12
    responses = xr.DataArray(resp, dims=("trial", "neuroid"),
                             coords={"stimulus": ("trial", np.repeat(ids, 3)), "region": ("neuroid", neuroid_region)},
                             name="responses")
    io.save(responses, tmp_path / "responses.nc")
    argv = ["compare", "--stimuli", str(root / "stimuli"), "--brain", str(tmp_path / "responses.nc"),
            "--model", f"{root / 'my_net.py'}:build", "--metric", "debiased_cka", "--n-boot", "20",
            "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    assert "best layer per model and region" in capsys.readouterr().out
    best = pd.read_csv(tmp_path / "out" / "tables" / "similarity.best_layer.csv")
    assert set(best["region"]) == {"V4", "IT"}
    scores = io.open(tmp_path / "out" / "similarity.nc", chunks=None)
    # equals similarity() on the per-stimulus means, computed here independently of the pipeline
    from neurodecode import models
    net = models.load_model(f"{root / 'my_net.py'}:build")
    images = __import__("neurodecode").loaders.read_images(root / "stimuli")
    acts = models.extract(net, images, layers=["pool"], pooling="avg")
    means = resp.reshape(len(ids), 3, 24).mean(axis=1)
    order = [ids.index(str(s)) for s in images["stimulus"].values]
    expected = similarity(acts["pool"].values, means[order][:, 12:], "debiased_cka")
    got = float(scores["score"].sel(model="build_trained", layer="pool", region="IT"))
    assert got == pytest.approx(expected, abs=1e-8)
    assert main(argv[:-2] + ["--metric", "no_such_metric", "--out", str(tmp_path / "x")]) == 2
    assert "unknown method 'no_such_metric'" in capsys.readouterr().err


def test_answer_prints_layers_named_by_digits(tmp_path, capsys):
    # an nn.Sequential names its layers "0", "1", ...: the terminal answer keeps them as names
    from neurodecode.pipeline.compare_cli import _print_answer

    (tmp_path / "tables").mkdir()
    pd.DataFrame({"region": ["it"], "model": ["build_trained"], "layer": ["3"], "score": [0.147], "ci_low": [0.028],
                  "ci_high": [0.292], "ceiling_low": [0.203], "ceiling_high": [0.581], "heldout_layer": ["3"],
                  "heldout_score": [0.12], "heldout_agreement": [0.8]}).to_csv(
        tmp_path / "tables" / "compare.best_layer.csv", index=False)
    _print_answer(tmp_path)
    out = capsys.readouterr().out
    assert "build_trained" in out and " 3 " in out and "held-out 3 0.120 (80% of splits)" in out
