"""predictivity / split_half_reliability / assign_layers_heldout against scikit-learn, scipy and known truths."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.stats import pearsonr

from neurodecode.analysis import assign_layers_heldout, fit_encoding, predictivity, similarity, split_half_reliability
from neurodecode.errors import BadInputError, DataModelError


def _trials(seed=0, n=300, r=6, k=4, noise=1.0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, 1, k)) * np.array([1.0, 0.5, 2.0, 0.1])
    return signal + noise * rng.normal(size=(n, r, k)), signal[:, 0]


def test_split_half_r_is_the_mean_correlation_of_random_halves_and_is_spearman_brown_corrected():
    x, _ = _trials(1, n=50, r=4)
    rel = split_half_reliability(x, n_splits=6, seed=11)
    rng = np.random.default_rng(11)  # the documented procedure: per stimulus a random half of its repeats
    rs = []
    for _ in range(6):
        halves = [rng.permutation(4) for _ in range(50)]
        a = np.stack([x[i, h[:2]].mean(0) for i, h in enumerate(halves)])
        b = np.stack([x[i, h[2:]].mean(0) for i, h in enumerate(halves)])
        rs.append([pearsonr(a[:, j], b[:, j])[0] for j in range(4)])
    ref = np.mean(rs, axis=0)
    np.testing.assert_allclose(rel["split_half_r"].values, ref, atol=1e-12)
    np.testing.assert_allclose(rel.values, 2 * ref / (1 + ref), atol=1e-12)


def test_reliability_recovers_the_explainable_variance():
    x, _ = _trials(2, n=3000, r=6)
    var_s = np.array([1.0, 0.25, 4.0, 0.01])
    truth = var_s / (var_s + 1.0 / 6)
    rel = split_half_reliability(x, n_splits=10)
    np.testing.assert_allclose(rel.values, truth, atol=0.04)


def test_trial_dataarray_equals_padded_array_and_drops_nan_repeats():
    x, _ = _trials(3, n=40, r=4)
    padded = np.concatenate([x, np.full((40, 2, 4), np.nan)], axis=1)
    stim = np.repeat(np.arange(40), 4)
    da = xr.DataArray(x.reshape(160, 4), dims=("trial", "neuroid"),
                      coords={"stimulus": ("trial", stim), "region": ("neuroid", list("aabb"))})
    a = split_half_reliability(padded, n_splits=4, seed=3)
    b = split_half_reliability(da, n_splits=4, seed=3)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    assert list(b["region"].values) == list("aabb")
    bad = padded.copy()
    bad[0, 0, 1] = np.nan
    with pytest.raises(BadInputError, match="some but not all"):
        split_half_reliability(bad)


def test_real_v4_reliability_matches_odd_even_split(data_home):
    from tests.conftest import require_data

    folder = require_data(data_home / "cowley_v4", "cowley_v4")
    raw = np.load(folder / "responses_raw" / "responses_210325.npy")  # (unit, image, repeat), NaN-padded
    raw = raw[:, :200].transpose(1, 2, 0)  # (stimulus, repeat, neuroid): 200 images keep the test fast
    rel = split_half_reliability(raw, n_splits=10)
    odd_even = []
    for j in range(raw.shape[2]):
        a = [np.nanmean(raw[i, ~np.isnan(raw[i, :, j]), j][0::2]) for i in range(raw.shape[0])]
        b = [np.nanmean(raw[i, ~np.isnan(raw[i, :, j]), j][1::2]) for i in range(raw.shape[0])]
        odd_even.append(pearsonr(a, b)[0])
    ref = np.median(np.array(odd_even))
    assert np.median(rel["split_half_r"].values) == pytest.approx(ref, abs=0.05)


# --------------------------------------------------------------------------- predictivity


def _layer_data(seed=4, n=80, p=15, k=5):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, p))
    w = rng.normal(size=(p, k))
    signal = feats @ w
    trials = signal[:, None, :] + 2.0 * rng.normal(size=(n, 4, k))
    return feats, trials


def test_pls_equals_sklearn_cross_val_predict():
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import KFold, cross_val_predict

    feats, trials = _layer_data()
    y = trials.mean(1)
    res = predictivity(feats, y, model="pls", n_components=6, cv=5, seed=3)
    pred = cross_val_predict(PLSRegression(n_components=6, scale=False), feats, y,
                             cv=KFold(5, shuffle=True, random_state=3))
    ref = np.array([pearsonr(pred[:, j], y[:, j])[0] for j in range(y.shape[1])])
    np.testing.assert_allclose(res["r"].values, ref, atol=1e-10)
    r2 = 1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(res["r2"].values, r2, atol=1e-10)
    assert "reliability" not in res and float(res["score"]) == pytest.approx(np.median(ref))


def test_ceiling_from_repeats_and_ridge_path():
    feats, trials = _layer_data(5)
    ds = xr.Dataset({"l1": (("stimulus", "f"), feats), "l2": (("stimulus", "g"), feats[:, :3])})
    res = predictivity(ds, trials, model="ridge", cv=4, seed=1, n_splits=5)
    ref = fit_encoding(ds, xr.DataArray(trials.mean(1), dims=("stimulus", "neuroid")), cv=4, seed=1)
    np.testing.assert_allclose(res["r"].values, ref["r"].values, atol=1e-12)
    rel = split_half_reliability(trials, n_splits=5, seed=1).values
    np.testing.assert_allclose(res["reliability"].values, rel)
    np.testing.assert_allclose(res["r_normalised"].values, ref["r"].values / np.sqrt(rel), atol=1e-12)
    np.testing.assert_allclose(res["r2_normalised"].values, ref["r2"].values / rel, atol=1e-12)
    assert res["score"].dims == ("layer",) and float(res["score"].sel(layer="l1")) > float(res["score"].sel(layer="l2"))
    with pytest.raises(BadInputError, match="model must be"):
        predictivity(ds, trials, model="svm")


# --------------------------------------------------------------------------- held-out layer assignment


def test_assign_layers_heldout_finds_the_generating_layers():
    rng = np.random.default_rng(6)
    n = 120
    layers = {f"l{i}": rng.normal(size=(n, 10)) for i in range(4)}
    ya = layers["l1"] @ rng.normal(size=(10, 6)) + 0.5 * rng.normal(size=(n, 6))
    yb = layers["l3"] @ rng.normal(size=(10, 5)) + 0.5 * rng.normal(size=(n, 5))
    stim = [f"s{i}" for i in range(n)]
    ds = xr.Dataset({k: (("stimulus", f"f{k}"), v) for k, v in layers.items()}, coords={"stimulus": stim})
    resp = xr.DataArray(np.hstack([ya, yb]), dims=("stimulus", "neuroid"),
                        coords={"stimulus": stim, "region": ("neuroid", ["V4"] * 6 + ["IT"] * 5)})
    order = rng.permutation(n)  # matched by label, not position
    out = assign_layers_heldout(ds, resp.isel(stimulus=order), method="debiased_cka", n_repeats=3, seed=2)
    assert list(out["best_layer"].values) == ["l1", "l3"]
    # the held-out score is the chosen layer's score on the other half, recomputed here
    perm = np.random.default_rng(2).permutation(n)
    b = np.sort(perm[n // 2:])
    chosen = str(out["chosen_layer"].sel(repeat=0, region="IT").values)
    ref = similarity(layers[chosen][b], yb[b], "debiased_cka")
    assert float(out["heldout_score"].sel(repeat=0, region="IT")) == pytest.approx(ref, abs=1e-12)
    dist = assign_layers_heldout(ds, resp, method="procrustes", n_repeats=2, seed=0)
    assert list(dist["best_layer"].values) == ["l1", "l3"]  # distances are minimised
    pls = assign_layers_heldout(ds, resp, method="pls", n_repeats=1, seed=0, n_components=5)
    assert list(pls["best_layer"].values) == ["l1", "l3"]
    with pytest.raises(DataModelError, match="different stimuli"):
        assign_layers_heldout(ds, resp.isel(stimulus=slice(1, None)), method="debiased_cka")
