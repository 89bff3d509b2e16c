"""Spike preprocessing: smoothing, re-binning, alignment, spike history, rates, and a decoding sanity check."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.ndimage import gaussian_filter1d

from neurodecode.datamodel import make_binned_spikes, make_events, make_spike_trains, validate
from neurodecode.errors import BadInputError, DataModelError
from neurodecode.loaders.spikes import bin_spikes, read_binned_mat
from neurodecode.preprocess.spikes import align, firing_rates, rebin, smooth, spike_history


def _counts(n_t=200, n_u=5, seed=0, bin_size=0.01, **kw):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(2.0, (n_t, n_u))
    da = make_binned_spikes(counts, bin_size, unit_coords={"area": [f"a{i % 2}" for i in range(n_u)]}, **kw)
    return da.assign_coords(vel_x=("time", rng.normal(size=n_t)))


# --------------------------------------------------------------------------- smooth


def test_smooth_matches_scipy_and_does_not_mutate():
    da = _counts()
    before = da.copy(deep=True)
    out = smooth(da, 0.03)
    xr.testing.assert_identical(da, before)
    expected = gaussian_filter1d(da.values.astype(float), 3.0, axis=0, mode="reflect")
    np.testing.assert_allclose(out.values, expected)
    np.testing.assert_allclose(out.sum("time").values, da.sum("time").values)  # reflect keeps the mass
    assert out.attrs["smoothing"]["sigma_bins"] == pytest.approx(3.0)
    assert out.dims == da.dims and "vel_x" in out.coords
    box = smooth(da, 0.05, kernel="boxcar")
    np.testing.assert_allclose(box.values[10:-10].mean(), da.values.mean(), rtol=0.05)


def test_smooth_never_crosses_gaps():
    counts = np.zeros((20, 1))
    counts[9] = 10  # last bin before a gap
    times = np.concatenate([np.arange(10), 100 + np.arange(10)]) * 0.01 + 0.005
    da = make_binned_spikes(counts, 0.01, times=times)
    out = smooth(da, 0.02)
    assert out.values[10:].sum() == 0
    assert out.values[:10].sum() == pytest.approx(10)


def test_smooth_bad_input():
    da = _counts()
    for bad in (0, -1, np.nan, "x"):
        with pytest.raises(BadInputError, match="sigma"):
            smooth(da, bad)
    with pytest.raises(BadInputError, match="kernel"):
        smooth(da, 0.02, kernel="triangle")
    with pytest.raises(BadInputError, match="DataArray"):
        smooth(da.values, 0.02)
    nan = da.astype(float).copy()
    nan[3, 1] = np.nan
    with pytest.raises(DataModelError, match="NaN"):
        smooth(nan, 0.02)


# --------------------------------------------------------------------------- rebin


def test_rebin_sums_counts_and_reports_dropped_bins(caplog):
    da = _counts(n_t=203)
    with caplog.at_level(logging.INFO, logger="neurodecode.preprocess.spikes"):
        out = rebin(da, 4)
    assert "dropped the last 3" in caplog.text
    assert out.sizes["time"] == 50 and out.attrs["rebin_dropped_bins"] == 3
    assert out.attrs["bin_size"] == pytest.approx(0.04) and da.attrs["bin_size"] == 0.01
    assert out.dtype.kind == "i"
    np.testing.assert_array_equal(out.values, da.values[:200].reshape(50, 4, -1).sum(1))
    np.testing.assert_allclose(out["time"].values, da["time"].values[:200].reshape(50, 4).mean(1))
    np.testing.assert_allclose(out["vel_x"].values, da["vel_x"].values[:200].reshape(50, 4).mean(1))
    assert out["area"].values.tolist() == da["area"].values.tolist()
    # time centres of the merged bins are those of bin_size * factor bins from the same origin
    np.testing.assert_allclose(out["time"].values, (np.arange(50) + 0.5) * 0.04)
    rates = rebin(firing_rates(da), 4)
    np.testing.assert_allclose(rates.values, out.values / 0.04)
    for bad in (0, 1.5, -2, True):
        with pytest.raises(BadInputError, match="factor"):
            rebin(da, bad)
    with pytest.raises(BadInputError, match="only"):
        rebin(da, 1000)


# --------------------------------------------------------------------------- align


def _known_trains():
    """Unit 0 fires at onset + 0.03 and onset + 0.13; unit 1 at onset - 0.07, for onsets 1, 2, 3 s."""
    onsets = np.array([1.0, 2.0, 3.0])
    u0 = np.concatenate([onsets + 0.03, onsets + 0.13])
    u1 = onsets - 0.07
    return onsets, make_spike_trains([u0, u1], unit=["n0", "n1"], t_start=0.0, t_stop=4.0)


def test_align_spike_trains_known_answer():
    onsets, trains = _known_trains()
    out = align(trains, onsets, -0.1, 0.2, bin_size=0.1, labels=["a", "b", "a"])
    assert out.dims == ("trial", "unit", "time") and out.shape == (3, 2, 3)
    np.testing.assert_allclose(out["time"].values, [-0.05, 0.05, 0.15])
    expected = np.array([[0, 1, 1], [1, 0, 0]])
    for trial in range(3):
        np.testing.assert_array_equal(out.values[trial], expected)
    assert out["label"].values.tolist() == ["a", "b", "a"]
    np.testing.assert_array_equal(out["onset"].values, onsets)
    assert out["unit"].values.tolist() == ["n0", "n1"]
    rates = align(trains, onsets, -0.1, 0.2, bin_size=0.1, rate=True)
    np.testing.assert_allclose(rates.values, out.values / 0.1)
    assert rates.attrs["quantity"] == "rate" and rates.attrs["units"] == "Hz"


def test_align_binned_equals_align_trains():
    onsets, trains = _known_trains()
    binned = bin_spikes(trains, 0.05, t_start=0.0, t_stop=4.0)
    from_binned = align(binned, onsets, -0.1, 0.2)
    from_trains = align(trains, onsets, -0.1, 0.2, bin_size=0.05)
    np.testing.assert_array_equal(from_binned.values, from_trains.values)
    np.testing.assert_allclose(from_binned["time"].values, from_trains["time"].values)
    assert from_binned.attrs["max_alignment_error"] < 1e-9
    # an onset between bin edges snaps to the nearest edge (error <= half a bin)
    shifted = align(binned, onsets + 0.01, -0.1, 0.2)
    np.testing.assert_array_equal(shifted.values, from_binned.values)
    assert shifted.attrs["max_alignment_error"] == pytest.approx(0.01)


def test_align_behaviour_coords_follow_trials():
    da = _counts(n_t=100, bin_size=0.1)
    out = align(da, [2.0, 5.0], 0.0, 0.5)
    assert out["vel_x"].dims == ("trial", "time")
    np.testing.assert_array_equal(out["vel_x"].values[1], da["vel_x"].values[50:55])
    np.testing.assert_array_equal(out.values[0], da.values[20:25].T)


def test_align_drops_and_reports_or_raises(caplog):
    onsets, trains = _known_trains()
    with caplog.at_level(logging.WARNING, logger="neurodecode.preprocess.spikes"):
        out = align(trains, [0.05, 1.0, 3.95, 2.0], -0.1, 0.2, bin_size=0.1)
    assert "2 of 4 onset(s) dropped" in caplog.text
    assert out["trial"].values.tolist() == [1, 3] and out.attrs["dropped_trials"] == [0, 2]
    with pytest.raises(BadInputError, match="outside='drop'"):
        align(trains, [0.05, 1.0], -0.1, 0.2, bin_size=0.1, outside="raise")
    with pytest.raises(BadInputError, match="no onset"):
        align(trains, [10.0, 20.0], -0.1, 0.2, bin_size=0.1)
    binned = bin_spikes(trains, 0.1, t_start=0.0, t_stop=4.0)
    with pytest.raises(BadInputError, match="no onset"):
        align(binned, [-5.0], 0.0, 0.2)


def test_align_bad_input():
    onsets, trains = _known_trains()
    with pytest.raises(BadInputError, match="bin_size"):
        align(trains, onsets, -0.1, 0.2)
    with pytest.raises(BadInputError, match="tmin < tmax"):
        align(trains, onsets, 0.2, -0.1, bin_size=0.1)
    with pytest.raises(BadInputError, match="NaN"):
        align(trains, [1.0, np.nan], -0.1, 0.2, bin_size=0.1)
    with pytest.raises(BadInputError, match="one value per onset"):
        align(trains, onsets, -0.1, 0.2, bin_size=0.1, labels=["a"])
    with pytest.raises(BadInputError, match="no onsets"):
        align(trains, [], -0.1, 0.2, bin_size=0.1)
    binned = bin_spikes(trains, 0.1, t_start=0.0, t_stop=4.0)
    with pytest.raises(BadInputError, match="differs"):
        align(binned, onsets, -0.1, 0.2, bin_size=0.05)


def test_align_onset_tables():
    onsets, trains = _known_trains()
    table = pd.DataFrame({"start_time": onsets, "stop_time": onsets + 0.5, "cat": [0, 1, 2]})
    out = align(trains, table, -0.1, 0.2, bin_size=0.1)
    assert out["cat"].values.tolist() == [0, 1, 2] and "stop_time" in out.coords
    events = make_events(onsets, ["x", "y", "x"])
    out = align(trains, events, -0.1, 0.2, bin_size=0.1)
    assert out["label"].values.tolist() == ["x", "y", "x"]
    out = align(trains, onsets, -0.1, 0.2, bin_size=0.1, metadata={"rt": [0.3, 0.4, 0.5]})
    np.testing.assert_allclose(out["rt"].values, [0.3, 0.4, 0.5])


# --------------------------------------------------------------------------- spike history


def test_spike_history_is_causal_and_drops_incomplete_rows():
    counts = np.arange(10 * 2).reshape(10, 2)
    da = make_binned_spikes(counts, 0.05, unit=["u", "v"]).assign_coords(vel_x=("time", np.arange(10.0)))
    before = da.copy(deep=True)
    h = spike_history(da, 3)
    xr.testing.assert_identical(da, before)
    assert h.dims == ("time", "neuroid") and h.shape == (8, 6)
    assert h.attrs["n_dropped_bins"] == 2
    assert h["unit"].values.tolist() == ["u", "u", "u", "v", "v", "v"]
    assert h["lag"].values.tolist() == [0, 1, 2, 0, 1, 2]
    np.testing.assert_array_equal(h["vel_x"].values, np.arange(2.0, 10.0))
    for row, t in enumerate(range(2, 10)):
        for col, (u, lag) in enumerate(zip([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2])):
            assert h.values[row, col] == counts[t - lag, u]


def test_spike_history_mark_and_gaps():
    counts = np.ones((10, 1), dtype=int)
    times = np.concatenate([np.arange(5), 50 + np.arange(5)]) * 0.1 + 0.05
    da = make_binned_spikes(counts, 0.1, times=times)
    marked = spike_history(da, 2, incomplete="mark")
    assert marked.shape == (10, 2)
    assert marked["history_complete"].values.tolist() == [False] + [True] * 4 + [False] + [True] * 4
    assert marked.values[5, 1] == 0 and marked.values[6, 1] == 1  # lag 1 does not reach across the gap
    dropped = spike_history(da, 2)
    assert dropped.sizes["time"] == 8 and dropped.attrs["n_dropped_bins"] == 2
    as_responses = spike_history(da, 2, dim="trial")
    assert validate(as_responses) == "responses" and "time" in as_responses.coords
    for bad in (0, 2.5, True):
        with pytest.raises(BadInputError, match="n_lags"):
            spike_history(da, bad)
    with pytest.raises(BadInputError, match="exceeds"):
        spike_history(da, 11)
    with pytest.raises(BadInputError, match="incomplete"):
        spike_history(da, 2, incomplete="zero")


# --------------------------------------------------------------------------- rates


def test_firing_rates():
    da = _counts()
    rates = firing_rates(da)
    np.testing.assert_allclose(rates.values, da.values / 0.01)
    assert rates.attrs["units"] == "Hz" and rates.attrs["quantity"] == "rate"
    assert "units" not in da.attrs
    with pytest.raises(BadInputError, match="already rates"):
        firing_rates(rates)


# --------------------------------------------------------------------------- decoding sanity check


@pytest.mark.realdata
def test_ridge_decodes_m1_hand_velocity_from_spike_history(data_home):
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    binned = read_binned_mat(data_home / "reaching_m1_s1" / "m1_stevenson_2011.mat", checksum=False)
    design = spike_history(binned, 3)
    x = design.values.astype(float)
    cut = int(0.8 * len(x))  # contiguous blocks: train on the first 80 %, test on the last 20 %
    for target in ("vel_x", "vel_y"):
        y = design[target].values
        model = Ridge(alpha=10.0).fit(x[:cut], y[:cut])
        assert r2_score(y[cut:], model.predict(x[cut:])) > 0.2
