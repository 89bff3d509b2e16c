"""The main job (layers of EfficientNet-Lite0 vs human IT, monkey IT, behaviour) on the real 92 images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.stats import spearmanr

from neurodecode import io
from neurodecode.pipeline import run

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "compare_layers_kriegeskorte92.yaml"


@pytest.fixture(scope="module")
def result(data_home, tmp_path_factory):
    cfg = yaml.safe_load(PIPELINE.read_text())
    cfg["steps"][1]["params"]["n_boot"] = 200  # fewer resamples keep the test quick; same code path
    out = tmp_path_factory.mktemp("compare_layers")
    return run(cfg, out, progress=False), out


def test_outputs_written(result):
    res, out = result
    for name in ("manifest.json", "metrics.json", "report.html", "run.log", "layer_rdms.nc", "rsa.nc", "trsa.nc",
                 "tables/rsa.best_layer.csv", "tables/rsa.scores.csv", "tables/trsa.sweep.csv"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 5


def test_scores_equal_an_independent_computation(result, data_home):
    """score = mean over subjects of Spearman(layer RDM, subject RDM with sessions averaged), via scipy."""
    from scipy.io import loadmat

    _, out = result
    rdms = io.open(out / "layer_rdms.nc", chunks=None)
    rsa = io.open(out / "rsa.nc", chunks=None)
    brain = loadmat(data_home / "kriegeskorte92" / "92_brainRDMs.mat")["RDMs"]
    subjects = [(brain[0, s, 0]["RDM"] + brain[0, s, 1]["RDM"]) / 2 for s in range(4)]
    iu = np.triu_indices(92, 1)
    for model, layer in [("trained", "block6c"), ("untrained", "stem"), ("trained", "head")]:
        sel = (rdms["model"].values == model) & (rdms["layer"].values == layer) & (rdms["kind"].values == "full")
        layer_rdm = rdms.values[np.flatnonzero(sel)[0]]
        expected = np.mean([spearmanr(layer_rdm[iu], s[iu])[0] for s in subjects])
        got = float(rsa["score"].sel(model=model, layer=layer, region="human_it"))
        assert got == pytest.approx(expected, abs=1e-10)
        lo = float(rsa["ci_low"].sel(model=model, layer=layer, region="human_it"))
        hi = float(rsa["ci_high"].sel(model=model, layer=layer, region="human_it"))
        assert lo < got < hi


def test_trained_network_beats_untrained_and_peaks_deep(result):
    _, out = result
    rsa = io.open(out / "rsa.nc", chunks=None)
    for region in ("human_it", "monkey_it", "behaviour"):
        trained = rsa["score"].sel(model="trained", region=region)
        untrained = rsa["score"].sel(model="untrained", region=region)
        assert float(trained.max()) > float(untrained.max())
        assert int(np.argmax(trained.values)) >= 12  # the late blocks (block6*), as in the literature on deep nets vs IT
    lo, hi = float(rsa["ceiling_low"].sel(region="human_it")), float(rsa["ceiling_high"].sel(region="human_it"))
    assert 0 < lo < hi < 1
    assert np.isnan(float(rsa["ceiling_low"].sel(region="monkey_it")))  # one RDM: no ceiling


def test_numbers_pinned_from_before_the_data_agnostic_rewrite(result):
    """The main job is now one configuration of the generic comparison; its numbers did not move."""
    _, out = result
    pin = json.loads((Path(__file__).parent / "data" / "k92_pinned.json").read_text())
    rsa = io.open(out / "rsa.nc", chunks=None).sel(model=pin["models"], layer=pin["layers"], region=pin["regions"])
    for var in ("score", "ci_low", "ci_high", "p_fdr"):
        np.testing.assert_allclose(rsa[var].values, np.asarray(pin[var], dtype=float), rtol=0, atol=1e-12,
                                   err_msg=var)
    for var in ("ceiling_low", "ceiling_high"):
        np.testing.assert_allclose(rsa[var].values, np.asarray(pin[var], dtype=float), rtol=0, atol=1e-12)
    trsa = io.open(out / "trsa.nc", chunks=None)
    assert (trsa.attrs["low"], trsa.attrs["up"]) == (pin["trsa_low"], pin["trsa_up"])
    np.testing.assert_allclose(trsa["trsa_score"].values, np.asarray(pin["trsa_score"]), atol=1e-12)


def test_best_layer_table_and_heldout_assignment(result):
    import pandas as pd

    _, out = result
    best = pd.read_csv(out / "tables" / "rsa.best_layer.csv")
    assert {"model", "region", "layer", "score", "ci_low", "ci_high", "heldout_layer", "heldout_score"} <= set(best)
    rsa = io.open(out / "rsa.nc", chunks=None)
    for row in best.itertuples():
        assert row.score == pytest.approx(float(rsa["score"].sel(model=row.model, layer=row.layer, region=row.region)))
        assert row.score == pytest.approx(float(rsa["score"].sel(model=row.model, region=row.region).max()))
    trained_it = best[(best.model == "trained") & (best.region == "human_it")].iloc[0]
    # choosing the layer on half the stimuli and scoring on the other half: not above the in-sample maximum
    assert trained_it.heldout_score < trained_it.score + 0.05
    assert trained_it.heldout_layer.startswith("block")


def test_trsa_sweep_beats_chance(result):
    _, out = result
    trsa = io.open(out / "trsa.nc", chunks=None)
    acc = trsa["accuracy"]
    assert float(acc.max()) > 3 * trsa.attrs["chance"]
    assert np.isnan(float(acc.sel(low=0.5, up=0.3)))  # low > up is not a setting
