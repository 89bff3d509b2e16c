"""analysis.layers: brain inputs of any form, stimulus matching, layer-vs-brain comparison, held-out layers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr

from neurodecode.analysis.layers import (
    brain_rdms,
    combine_brain,
    compare_layers,
    heldout_layer_assignment,
    match_stimuli,
)
from neurodecode.errors import BadInputError


def _corr_rdm(x):
    return squareform(pdist(x, metric="correlation"))


def _layer_stack(feats: dict[tuple[str, str], np.ndarray], ids):
    mats, models, layers = [], [], []
    for (model, layer), x in feats.items():
        mats.append(_corr_rdm(x))
        models.append(model)
        layers.append(layer)
    return xr.DataArray(np.stack(mats), dims=("rdm", "stimulus", "stimulus_"),
                        coords={"rdm": np.arange(len(mats)), "stimulus": ids, "stimulus_": ids,
                                "model": ("rdm", models), "layer": ("rdm", layers)})


@pytest.fixture()
def toy():
    """Three layers of a 'network'; brain = layer1 + noise, 3 subjects, in region V."""
    rng = np.random.default_rng(0)
    n = 24
    ids = [f"s{i:02d}" for i in range(n)]
    l0 = rng.normal(size=(n, 30))
    l1 = rng.normal(size=(n, 30))
    l2 = l1 @ rng.normal(size=(30, 30)) * 0.3 + rng.normal(size=(n, 30))
    feats = {("net", "l0"): l0, ("net", "l1"): l1, ("net", "l2"): l2}
    resp = np.concatenate([l1[:, :10] + 0.5 * rng.normal(size=(n, 10)) for _ in range(3)], axis=1)
    brain = xr.DataArray(resp, dims=("stimulus", "neuroid"),
                         coords={"stimulus": ids, "region": ("neuroid", ["V"] * 30),
                                 "subject": ("neuroid", np.repeat(["a", "b", "c"], 10))})
    return ids, feats, brain, resp


def test_brain_rdms_from_responses_equal_scipy(toy):
    ids, _, brain, resp = toy
    stack = brain_rdms(brain)
    assert list(stack["region"].values) == ["V"] * 3 and list(stack["subject"].values) == ["a", "b", "c"]
    for k in range(3):
        np.testing.assert_allclose(stack.values[k], _corr_rdm(resp[:, 10 * k: 10 * (k + 1)]), atol=1e-10)


def test_brain_rdms_average_trials_and_epochs_per_time(toy):
    ids, _, _, resp = toy
    rng = np.random.default_rng(1)
    trials = np.repeat(resp[:, :10], 2, axis=0) + rng.normal(size=(48, 10)) * 0.1
    stim = np.repeat(ids, 2)
    da = xr.DataArray(trials, dims=("trial", "neuroid"), coords={"stimulus": ("trial", stim)})
    stack = brain_rdms(da, region="IT")
    means = trials.reshape(24, 2, 10).mean(axis=1)
    np.testing.assert_allclose(stack.values[0], _corr_rdm(means), atol=1e-10)
    epochs = xr.DataArray(rng.normal(size=(48, 6, 5)), dims=("trial", "channel", "time"),
                          coords={"stimulus": ("trial", stim), "time": np.linspace(0, 0.4, 5)})
    ep = brain_rdms(epochs, region="eeg")
    assert ep.sizes["rdm"] == 5 and np.allclose(ep["time"].values, np.linspace(0, 0.4, 5))
    avg = epochs.values.reshape(24, 2, 6, 5).mean(axis=1)
    np.testing.assert_allclose(ep.values[2], _corr_rdm(avg[:, :, 2]), atol=1e-10)
    with pytest.raises(BadInputError, match="NaN"):
        brain_rdms(da.where(da > -10).copy(data=np.where(np.arange(480).reshape(48, 10) == 3, np.nan, trials)))


def test_match_stimuli_subsets_reorders_and_reports(toy):
    ids, feats, brain, _ = toy
    layers = _layer_stack(feats, ids)
    stack = brain_rdms(brain).isel(stimulus=slice(0, 16), stimulus_=slice(0, 16))
    stack = stack.isel(stimulus=np.arange(16)[::-1], stimulus_=np.arange(16)[::-1])
    (a, b), report = match_stimuli([layers, stack], names=["layers", "brain"])
    assert list(a["stimulus"].values) == ids[:16] == list(b["stimulus"].values)
    np.testing.assert_allclose(b.values[0], brain_rdms(brain).values[0][:16, :16])
    assert report.set_index("input").loc["layers", "n_dropped"] == 8
    other = stack.assign_coords(stimulus=[f"x{i}" for i in range(16)], stimulus_=[f"x{i}" for i in range(16)])
    with pytest.raises(BadInputError, match="share no stimulus id.*s00.*x0"):
        match_stimuli([layers, other], names=["layers", "brain"])
    dup = stack.assign_coords(stimulus=["s00"] * 16)
    with pytest.raises(BadInputError, match="duplicated stimulus ids"):
        match_stimuli([layers, dup])


def test_compare_layers_scores_ceiling_and_heldout(toy):
    ids, feats, brain, resp = toy
    layers = _layer_stack(feats, ids)
    stack = brain_rdms(brain)
    res = compare_layers(layers, stack, n_boot=50, heldout_splits=30)
    iu = np.triu_indices(24, 1)
    for k, layer in enumerate(["l0", "l1", "l2"]):
        expected = np.mean([spearmanr(layers.values[k][iu], stack.values[s][iu])[0] for s in range(3)])
        assert float(res["score"].sel(model="net", layer=layer, region="V")) == pytest.approx(expected, abs=1e-10)
    assert str(res["best_layer"].sel(model="net", region="V").item()) == "l1"
    assert str(res["heldout_layer"].sel(model="net", region="V").item()) == "l1"
    lo, hi = float(res["ceiling_low"].sel(region="V")), float(res["ceiling_high"].sel(region="V"))
    assert 0 < lo < hi
    # held-out score: the chosen layer's score on stimuli not used to choose it
    held = heldout_layer_assignment(layers, stack, n_splits=5, seed=3)
    assert held["heldout_agreement"].item() == pytest.approx(1.0)


def test_models_with_different_layers(toy):
    """Networks of different depth (e.g. EfficientNet-Lite0 and Lite2) share one (model, layer) grid."""
    ids, feats, brain, _ = toy
    more = dict(feats)
    more[("deeper", "l0")] = feats[("net", "l0")]
    more[("deeper", "l1")] = feats[("net", "l1")]
    more[("deeper", "l1b")] = feats[("net", "l2")]
    more[("deeper", "l2")] = feats[("net", "l2")] * 2
    layers = _layer_stack(more, ids)
    res = compare_layers(layers, brain_rdms(brain), n_boot=30, heldout_splits=5)
    assert list(res["layer"].values) == ["l0", "l1", "l1b", "l2"]
    assert np.isnan(float(res["score"].sel(model="net", layer="l1b", region="V")))
    assert np.isfinite(float(res["score"].sel(model="deeper", layer="l1b", region="V")))
    np.testing.assert_allclose(res["score"].sel(model="deeper", layer="l1"), res["score"].sel(model="net", layer="l1"))
    assert float(res["relative_depth"].sel(model="deeper", layer="l1b")) == pytest.approx(2 / 3)
    assert np.isfinite(res["p_fdr"].sel(model="deeper")).all()


def test_combine_brain_refuses_the_same_data_twice(toy):
    _, _, brain, _ = toy
    stack = brain_rdms(brain)
    with pytest.raises(BadInputError, match="same data given twice"):
        combine_brain([stack, stack])
    other = stack.assign_coords(region=("rdm", ["W"] * 3))
    assert combine_brain([stack, other]).sizes["rdm"] == 6


def test_a_subset_of_the_92_images(data_home):
    """48 of the 92 images against the full human IT RDMs: the comparison runs on the common stimuli."""
    from neurodecode import datasets

    brain = datasets.load("kriegeskorte92", part="brain")
    brain = brain.isel(rdm=np.flatnonzero(brain["region"].values == "human_it"))
    rng = np.random.default_rng(0)
    feats = {("m", "a"): rng.normal(size=(48, 20)), ("m", "b"): rng.normal(size=(48, 20))}
    layers = _layer_stack(feats, [str(i) for i in range(0, 96, 2)])
    (layers_m, brain_m), report = match_stimuli([layers, brain_rdms(brain)], names=["layers", "brain"])
    assert layers_m.sizes["stimulus"] == 46  # 0, 2, ..., 90
    assert report.set_index("input").loc["brain", "n_dropped"] == 46
    res = compare_layers(layers_m, brain_m, n_boot=20, heldout_splits=0)
    assert res.attrs["n_stimuli"] == 46 and np.isfinite(res["score"]).all()


def test_time_resolved_rsa_on_epochs():
    """Epochs with a stimulus coord -> one RDM per time point -> layers vs time."""
    rng = np.random.default_rng(0)
    from neurodecode.analysis.layers import compare_layers_over_time

    n_stim, n_t = 12, 6
    ids = [f"img{i}" for i in range(n_stim)]
    signal = rng.normal(size=(n_stim, 8))
    data = np.zeros((2 * n_stim, 8, n_t))
    for t in range(n_t):  # the 'brain' carries the layer's geometry only from t = 3 on
        data[:, :, t] = np.repeat(signal if t >= 3 else rng.normal(size=(n_stim, 8)), 2, axis=0)
    data += rng.normal(size=data.shape) * 0.05
    epochs = xr.DataArray(data, dims=("trial", "channel", "time"),
                          coords={"stimulus": ("trial", np.repeat(ids, 2)), "time": np.arange(n_t) * 0.1})
    layers = _layer_stack({("net", "match"): signal, ("net", "other"): rng.normal(size=(n_stim, 8))}, ids)
    stack = brain_rdms(epochs, region="eeg")
    (layers, stack), _ = match_stimuli([layers, stack])
    res = compare_layers_over_time(layers, stack)
    s = res["score"].sel(model="net", layer="match", region="eeg").values
    assert s[3:].min() > 0.9 and s[:3].max() < 0.6
    assert list(res["best_layer"].sel(model="net", region="eeg").values[3:]) == ["match"] * 3
    with pytest.raises(BadInputError, match="compare_layers_over_time"):
        compare_layers(layers, stack)
