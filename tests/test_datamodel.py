"""The data model: constructors build valid objects; validate names what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurodecode import datamodel as dm
from neurodecode.errors import DataModelError


def _rec(n_ch=3, n_t=200, sfreq=100.0, **kw):
    rng = np.random.default_rng(0)
    ev = dm.make_events([0.5, 1.0], ["face", "house"])
    return dm.make_recording(rng.normal(size=(n_ch, n_t)), sfreq, [f"c{i}" for i in range(n_ch)], events=ev, **kw)


def test_recording_roundtrip_of_constructors():
    rec = _rec(subject="01")
    assert dm.validate(rec) == "recording"
    assert rec.attrs["subject"] == "01"
    np.testing.assert_allclose(rec.time.values[:3], [0.0, 0.01, 0.02])
    ev = dm.events_of(rec)
    assert dm.validate(ev) == "events"
    assert list(ev.label.values) == ["face", "house"]
    assert list(ev.code.values) == [1, 2]
    sig = dm.signal_of(rec)
    assert sig.dims == ("channel", "time") and sig.attrs["sfreq"] == 100.0


def test_kinds_are_inferred_from_dims():
    x = np.zeros((4, 3, 5))
    ep = xr.DataArray(x, dims=("trial", "channel", "time"))
    assert dm.kind_of(ep) == "epochs"
    assert dm.kind_of(xr.DataArray(np.zeros((5, 2)), dims=("time", "roi"))) == "bold"
    assert dm.kind_of(xr.DataArray(np.zeros((5, 2)), dims=("time", "unit"))) == "binned_spikes"
    assert dm.kind_of(xr.DataArray(np.zeros((5, 2)), dims=("stimulus", "neuroid"))) == "responses"
    assert dm.kind_of(xr.DataArray(np.zeros((1, 3, 3)), dims=("rdm", "stimulus", "stimulus_"))) == "rdm"
    with pytest.raises(DataModelError, match="cannot tell"):
        dm.kind_of(xr.DataArray(np.zeros((5, 2)), dims=("a", "b")))
    with pytest.raises(DataModelError, match="expected an xarray"):
        dm.kind_of(np.zeros((2, 2)))


def test_validate_names_missing_attr_and_fix():
    ep = xr.DataArray(np.zeros((4, 3, 5)), dims=("trial", "channel", "time"),
                      coords={"channel": ["a", "b", "c"], "time": np.arange(5) / 10})
    with pytest.raises(DataModelError, match=r"missing attr\(s\) \['sfreq'\].*attrs\['sfreq'\]"):
        dm.validate(ep)
    ep.attrs["sfreq"] = 10.0
    assert dm.validate(ep) == "epochs"


def test_validate_names_missing_coord():
    ep = xr.DataArray(np.zeros((4, 3, 5)), dims=("trial", "channel", "time"), attrs={"sfreq": 10.0})
    with pytest.raises(DataModelError, match=r"missing coord\(s\) \['channel', 'time'\].*assign_coords"):
        dm.validate(ep)


def test_validate_wrong_dims_for_kind():
    da = xr.DataArray(np.zeros((4, 3)), dims=("trial", "chan"))
    with pytest.raises(DataModelError, match="missing dim"):
        dm.validate(da, "epochs")


def test_validate_nan_is_located():
    rec = _rec()
    rec["signal"][1, 17] = np.nan
    with pytest.raises(DataModelError, match=r"NaN/inf.*'channel': 1, 'time': 17"):
        dm.validate(rec)
    assert dm.validate(rec, finite=False) == "recording"


def test_events_outside_recording_rejected():
    ev = dm.make_events([0.5, 5.0], ["a", "b"])
    rec = dm.make_recording(np.zeros((2, 100)), 100.0, ["x", "y"], events=ev)
    with pytest.raises(DataModelError, match="outside the recording"):
        dm.validate(rec)


def test_duplicate_channel_names_rejected():
    rec = dm.make_recording(np.zeros((2, 10)), 10.0, ["x", "x"])
    with pytest.raises(DataModelError, match="duplicated"):
        dm.validate(rec)


def test_empty_epochs_rejected():
    ep = dm.make_epochs(np.zeros((0, 2, 5)), 10.0, ["a", "b"], 0.0)
    with pytest.raises(DataModelError, match="no trials"):
        dm.validate(ep)


def test_bold_voxel_and_roi():
    bold = dm.make_bold(np.zeros((6, 4)), 2.0, ijk=np.arange(12).reshape(4, 3) % 5, affine=np.eye(4), shape=(5, 5, 5))
    assert dm.validate(bold) == "bold"
    np.testing.assert_array_equal(bold.attrs["affine"].reshape(4, 4), np.eye(4))
    roi = dm.make_bold(np.zeros((6, 2)), 2.0, roi=["V1", "FFA"])
    assert dm.validate(roi) == "bold"
    with pytest.raises(DataModelError, match="tr"):
        dm.validate(roi.drop_attrs() if hasattr(roi, "drop_attrs") else roi.assign_attrs(tr=None), "bold")


def test_spike_trains_layout():
    st = dm.make_spike_trains([np.array([0.3, 0.1]), np.array([]), np.array([0.2])], unit=["u0", "u1", "u2"])
    assert dm.validate(st) == "spike_trains"
    np.testing.assert_array_equal(st.spike_time.values, [0.1, 0.3, 0.2])
    np.testing.assert_array_equal(st.spike_unit.values, [0, 0, 2])
    np.testing.assert_array_equal(st.n_spikes.values, [2, 0, 1])
    bad = st.copy()
    bad["spike_unit"] = ("spike", np.array([0, 0, 7]))
    with pytest.raises(DataModelError, match="outside the 'unit' dim"):
        dm.validate(bad)


def test_binned_and_responses():
    b = dm.make_binned_spikes(np.zeros((10, 3), dtype=np.int64), 0.05)
    assert dm.validate(b) == "binned_spikes"
    np.testing.assert_allclose(b.time.values[0], 0.025)
    r = dm.make_responses(np.zeros((5, 7)), dim="trial", trial_coords={"label": list("abcde")})
    assert dm.validate(r) == "responses"
    with pytest.raises(DataModelError, match="bin_size"):
        dm.validate(b.assign_attrs(bin_size=-1.0))
