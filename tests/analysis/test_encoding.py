"""Encoding models: cross-validated ridge on synthetic data with a known linear map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurodecode.analysis import assign_layers, fit_encoding, normalise_by_ceiling
from neurodecode.datamodel import make_responses
from neurodecode.errors import BadInputError, DataModelError


def _activations(rng, n, sizes):
    layers = {f"layer{i}": rng.normal(size=(n, f)) for i, f in enumerate(sizes)}
    ds = xr.Dataset(
        {k: (("stimulus", f"feature_{k}"), v) for k, v in layers.items()},
        coords={"stimulus": [f"img{i:03d}" for i in range(n)]},
        attrs={"model": "toy", "nd_kind": "activations"},
    )
    return ds, layers


@pytest.fixture(scope="module")
def known_map():
    """Region IT = linear map of layer1 + noise, region V1 = of layer0; true R² = 0.5 everywhere."""
    rng = np.random.default_rng(0)
    n = 1000
    ds, layers = _activations(rng, n, (10, 15, 12))
    s_it = layers["layer1"] @ rng.normal(size=(15, 6))
    s_v1 = layers["layer0"] @ rng.normal(size=(10, 4))
    signal = np.concatenate([s_it / s_it.std(0), s_v1 / s_v1.std(0)], axis=1)
    noise = rng.normal(size=signal.shape)
    y = signal + noise  # signal variance 1, noise variance 1
    resp = make_responses(y, index=ds["stimulus"].values,
                          neuroid_coords={"region": ["IT"] * 6 + ["V1"] * 4})
    resp.attrs["oracle_r2"] = list(1 - (noise**2).sum(0) / ((y - y.mean(0)) ** 2).sum(0))  # the true map's R²
    return ds, resp


def test_r2_near_truth_and_best_layer(known_map):
    ds, resp = known_map
    res = fit_encoding(ds, resp, cv=5)
    assert res["r2"].dims == ("layer", "neuroid") and list(res["layer"].values) == ["layer0", "layer1", "layer2"]
    oracle = np.asarray(resp.attrs["oracle_r2"])  # ~0.5 (signal and noise variance 1)
    best = np.concatenate([res["r2"].sel(layer="layer1").values[:6], res["r2"].sel(layer="layer0").values[6:]])
    # held-out R² of the fitted map is the true map's R² less a small estimation loss (<= 15 features, 800 stimuli)
    assert np.all(best <= oracle + 0.01) and np.all(best > oracle - 0.03)
    assert np.allclose(oracle, 0.5, atol=0.05)
    # unrelated layers predict nothing on held-out stimuli
    assert np.all(res["r2"].sel(layer="layer2").values < 0.05)
    table = assign_layers(res)
    assert isinstance(table, pd.DataFrame)
    assert dict(zip(table["region"], table["best_layer"])) == {"IT": "layer1", "V1": "layer0"}
    assert (table["margin"] > 0.3).all() and table["n_neuroids"].tolist() == [6, 4]
    assert table["normalised_score"].isna().all()  # no ceiling given
    with_ceiling = assign_layers(res, ceiling={"IT": 0.5, "V1": 0.5})
    np.testing.assert_allclose(with_ceiling["normalised_score"], with_ceiling["score"] / 0.5)
    assert (with_ceiling["normalised_score"] > 0.8).all()


def test_matches_independent_sklearn_computation(known_map):
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ds, resp = known_map
    res = fit_encoding(ds["layer1"], resp, cv=KFold(4, shuffle=True, random_state=3), alphas=[0.1, 10.0, 1000.0])
    pipe = make_pipeline(StandardScaler(), RidgeCV(alphas=[0.1, 10.0, 1000.0], alpha_per_target=True))
    pred = cross_val_predict(pipe, ds["layer1"].values, resp.values, cv=KFold(4, shuffle=True, random_state=3))
    np.testing.assert_allclose(res["r2"].values, r2_score(resp.values, pred, multioutput="raw_values"), atol=1e-10)
    assert res["r2"].dims == ("neuroid",) and res["alpha"].dims == ("fold", "neuroid")


def test_torch_backend_equals_sklearn(known_map):
    ds, resp = known_map
    a = fit_encoding(ds, resp, backend="sklearn")
    b = fit_encoding(ds, resp, backend="torch")
    np.testing.assert_allclose(a["r2"].values, b["r2"].values, atol=1e-8)
    np.testing.assert_array_equal(a["alpha"].values, b["alpha"].values)
    c = fit_encoding(ds, resp, backend="torch", standardize=False)
    d = fit_encoding(ds, resp, backend="sklearn", standardize=False)
    np.testing.assert_allclose(c["r2"].values, d["r2"].values, atol=1e-8)


def test_more_features_than_stimuli_torch_equals_sklearn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 300))
    y = x[:, :5] @ rng.normal(size=(5, 3)) + rng.normal(size=(60, 3))
    feats = xr.DataArray(x, dims=("stimulus", "unit"))
    resp = make_responses(y)
    a = fit_encoding(feats, resp, backend="sklearn", cv=3)
    b = fit_encoding(feats, resp, backend="torch", cv=3)
    np.testing.assert_allclose(a["r2"].values, b["r2"].values, atol=1e-8)


def test_trials_are_grouped_by_stimulus_so_scores_are_on_held_out_stimuli():
    """Features that only identify the stimulus (one-hot) can be memorised across trials of the same
    stimulus; grouping by stimulus (the default for trial responses) leaves nothing to predict."""
    rng = np.random.default_rng(2)
    n_stim, reps = 40, 4
    stim_effect = rng.normal(size=(n_stim, 3))
    trial_stim = np.repeat(np.arange(n_stim), reps)
    y = stim_effect[trial_stim] + 0.3 * rng.normal(size=(n_stim * reps, 3))
    resp = make_responses(y, dim="trial", trial_coords={"stimulus": trial_stim})
    onehot = xr.DataArray(np.eye(n_stim), dims=("stimulus", "feature"), coords={"stimulus": np.arange(n_stim)})
    grouped = fit_encoding(onehot, resp, cv=4)
    assert grouped.attrs["grouped"] == 1
    assert np.all(grouped["r2"].values < 0.05)
    ungrouped = fit_encoding(onehot, resp, cv=4, groups=np.arange(n_stim * reps))  # every trial its own group
    assert np.all(ungrouped["r2"].values > 0.5)  # trials of a test stimulus seen in training: leakage


def test_rows_matched_by_stimulus_label(known_map):
    ds, resp = known_map
    shuffled = ds.isel(stimulus=np.random.default_rng(3).permutation(ds.sizes["stimulus"]))
    a = fit_encoding(ds["layer0"], resp, cv=KFold5())
    b = fit_encoding(shuffled["layer0"], resp, cv=KFold5())
    np.testing.assert_allclose(a["r2"].values, b["r2"].values, atol=1e-10)
    with pytest.raises(DataModelError, match="without features"):
        fit_encoding(ds["layer0"].isel(stimulus=slice(0, 100)), resp)


def KFold5():  # noqa: N802 - a fixed splitter for label-matching checks
    from sklearn.model_selection import KFold

    return KFold(5, shuffle=True, random_state=0)


def test_multi_dim_features_flattened_and_predictions_returned():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 2, 3, 3))
    y = x.reshape(50, -1) @ rng.normal(size=(18, 2)) + 0.1 * rng.normal(size=(50, 2))
    feats = xr.DataArray(x, dims=("stimulus", "channel", "h", "w"))
    res = fit_encoding(feats, make_responses(y), return_predictions=True, cv=5)
    assert int(res["n_features"]) == 18 and res["prediction"].dims == ("stimulus", "neuroid")
    assert np.all(res["r2"].values > 0.9) and np.all(res["r"].values > 0.95)


def test_normalise_by_ceiling():
    r2 = xr.DataArray([0.2, 0.4, 0.1, 0.3], dims=("neuroid",), coords={"neuroid": list("abcd")}, name="r2")
    out = normalise_by_ceiling(r2, [0.4, 0.8, 0.0, np.nan])
    np.testing.assert_allclose(out.values[:2], [0.5, 0.5])
    assert np.isnan(out.values[2:]).all() and out.attrs["n_undefined"] == 2
    assert float(normalise_by_ceiling(r2, 0.5)[1]) == pytest.approx(0.8)
    labelled = normalise_by_ceiling(r2, xr.DataArray([0.5, 0.5, 0.5, 0.25], dims=("neuroid",),
                                                     coords={"neuroid": list("dcba")}))
    assert float(labelled.sel(neuroid="a")) == pytest.approx(0.8)  # aligned by label
    with pytest.raises(BadInputError, match="matches neither"):
        normalise_by_ceiling(r2, [0.1, 0.2])


def test_bad_inputs(known_map):
    ds, resp = known_map
    bad = ds["layer0"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        fit_encoding(bad, resp)
    with pytest.raises(BadInputError, match="alphas"):
        fit_encoding(ds["layer0"], resp, alphas=[0.0, 1.0])
    with pytest.raises(BadInputError, match="cv"):
        fit_encoding(ds["layer0"], resp, cv=1)
    with pytest.raises(BadInputError, match="backend"):
        fit_encoding(ds["layer0"], resp, backend="jax")
    with pytest.raises(DataModelError):
        fit_encoding(ds["layer0"], resp.rename(neuroid="voxel"))
    with pytest.raises(DataModelError, match="stimulus"):
        fit_encoding(ds["layer0"].rename(stimulus="image"), resp)


def test_gpu_matches_cpu(known_map):
    import torch
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    ds, resp = known_map
    a = fit_encoding(ds["layer1"], resp, backend="torch")
    b = fit_encoding(ds["layer1"], resp, device="cuda")
    np.testing.assert_allclose(a["r2"].values, b["r2"].values, atol=1e-8)
