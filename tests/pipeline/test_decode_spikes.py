"""spikes.decode_velocity: the ridge path against scikit-learn, and the M1 pipeline on the real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler

from neurodecode import io
from neurodecode.errors import BadInputError
from neurodecode.pipeline import run
from neurodecode.pipeline.decode_spikes import _GramStats, decode_velocity, ridge_path

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "spikes_m1_decode.yaml"


def test_ridge_path_equals_sklearn_on_standardised_features():
    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, size=(300, 12)).astype(float) * rng.uniform(0.5, 3, 12)
    Y = X[:, :3] @ rng.normal(size=(3, 2)) + rng.normal(size=(300, 2))
    rows = np.r_[0:120, 180:300]
    alphas = np.array([0.1, 10.0, 1000.0])
    paths = ridge_path(_GramStats(X, Y, rows), alphas)
    # the same rows from the full statistics minus the left-out ones
    down = ridge_path(_GramStats(X, Y).minus(_GramStats(X, Y, np.r_[120:180])), alphas)
    scaler = StandardScaler().fit(X[rows])
    for (W, b), (W2, b2), a in zip(paths, down, alphas):
        ref = Ridge(alpha=a).fit(scaler.transform(X[rows]), Y[rows])
        np.testing.assert_allclose(X @ W + b, ref.predict(scaler.transform(X)), rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(W2, W, rtol=1e-6, atol=1e-10)
        (W1, b1), = ridge_path(_GramStats(X, Y, rows), np.array([a]))  # the single-alpha (Cholesky) branch
        np.testing.assert_allclose(X @ W1 + b1, ref.predict(scaler.transform(X)), rtol=1e-7, atol=1e-8)


def _toy(n_t=400, n_units=6, seed=0):
    rng = np.random.default_rng(seed)
    vel = np.cumsum(rng.normal(size=(n_t, 2)), axis=0) * 0.1
    counts = rng.poisson(np.exp(0.3 + vel @ rng.normal(size=(2, n_units)) * 0.5).clip(0, 20))
    return xr.DataArray(counts, dims=("time", "unit"),
                        coords={"time": np.arange(n_t) * 0.05, "unit": np.arange(n_units),
                                "vel_x": ("time", vel[:, 0]), "vel_y": ("time", vel[:, 1])},
                        attrs={"nd_kind": "binned_spikes", "bin_size": 0.05, "quantity": "counts"})


def test_bad_parameters_are_refused():
    b = _toy()
    with pytest.raises(BadInputError, match="not on time"):
        decode_velocity(b, targets=["speed"], encoders=[])
    with pytest.raises(BadInputError, match="gap"):
        decode_velocity(b, window=10, gap=5, encoders=[])
    with pytest.raises(BadInputError, match="unique string 'label'"):
        decode_velocity(b, baselines=[{"label": "a", "n_lags": 2}, {"label": "a", "n_lags": 3}], encoders=[])
    with pytest.raises(BadInputError, match="n_lags"):
        decode_velocity(b, window=4, baselines=[{"label": "a", "n_lags": 6}], encoders=[])


# --------------------------------------------------------------------------- the real pipeline


@pytest.fixture(scope="module")
def result(data_home, tmp_path_factory):
    cfg = yaml.safe_load(PIPELINE.read_text())
    for enc in cfg["steps"][0]["params"]["encoders"]:
        enc.update(max_epochs=1, hidden=16)  # cut down: one pretraining epoch; same code path
    out = tmp_path_factory.mktemp("spikes_decode")
    return run(cfg, out, progress=False), out, cfg


def test_metrics_and_files(result):
    _, out, cfg = result
    metrics = json.loads((out / "metrics.json").read_text())
    models = ("ridge_3lags", "wiener_10lags", "contrastive_behaviour", "contrastive_time",
              "contrastive_behaviour_linear", "contrastive_time_linear")
    for model in models:
        for key in ("r2_mean", "r2_sd", "r2_vel_x_mean", "r2_vel_y_mean", "r2_2d_mean"):
            assert np.isfinite(metrics[f"decode.{model}.{key}"])
    assert metrics["decode.chance_r2"] == 0.0
    table = pd.read_csv(out / "tables" / "decode.folds.csv")
    assert len(table) == len(models) * 5 and set(table["fold"]) == set(range(5))
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 3


def test_scores_equal_sklearn_on_the_saved_predictions(result):
    _, out, _ = result
    ds = io.open(out / "decode.nc", chunks=None)
    metrics = json.loads((out / "metrics.json").read_text())
    y = ds["y_true"].values
    folds = ds["test_fold"].values
    assert (folds >= 0).all()  # every sample is tested exactly once
    for model in ds["model"].values:
        pred = ds["y_pred"].sel(model=model).values
        per_fold = [np.mean([r2_score(y[folds == k, j], pred[folds == k, j]) for j in range(2)]) for k in range(5)]
        assert metrics[f"decode.{model}.r2_mean"] == pytest.approx(np.mean(per_fold), abs=1e-9)
        assert metrics[f"decode.{model}.r2_sd"] == pytest.approx(np.std(per_fold, ddof=1), abs=1e-9)


def test_baseline_floor(result):
    """The 10-lag Wiener filter reaches held-out R² >= 0.70 (mean of vel_x and vel_y, over 5 blocks)."""
    _, out, _ = result
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["decode.baseline.r2_mean"] == metrics["decode.wiener_10lags.r2_mean"]
    assert metrics["decode.wiener_10lags.r2_mean"] >= 0.70
    assert metrics["decode.floor_passed"] == 1.0


def test_no_training_window_overlaps_a_test_window(result, data_home):
    """Rebuild every fold from the saved test blocks; window spans [t - 9.5 bins, t + 0.5 bin) by hand."""
    _, out, cfg = result
    ds = io.open(out / "decode.nc", chunks=None)
    params = cfg["steps"][0]["params"]
    window, gap, bin_size = params["window"], params["gap"], ds.attrs["bin_size"]
    t = ds["t"].values
    start, stop = t - (window - 0.5) * bin_size, t + 0.5 * bin_size
    pos = np.arange(len(t))
    folds = ds["test_fold"].values
    for k in range(5):
        te = pos[folds == k]
        assert np.all(np.diff(te) == 1)  # one contiguous block
        train = pos[(pos < te[0] - gap) | (pos > te[-1] + gap)]
        overlap = ((start[train][:, None] < stop[te][None, :] - 1e-9)
                   & (stop[train][:, None] > start[te][None, :] + 1e-9))
        assert not overlap.any()
        # the gap is what it takes: without it, windows next to the block would overlap
        neighbour = te[-1] + 1 if te[-1] + 1 < len(t) else te[0] - 1
        assert (start[neighbour] < stop[te]).any() and (stop[neighbour] > start[te]).any()
    table = pd.read_csv(out / "tables" / "decode.folds.csv")
    n_train = table[table["model"] == "wiener_10lags"]["n_train"].to_numpy()
    sizes = np.bincount(folds)
    n = len(t)
    expected = [n - sizes[k] - min(gap, pos[folds == k][0]) - min(gap, n - 1 - pos[folds == k][-1]) for k in range(5)]
    np.testing.assert_array_equal(n_train, expected)
