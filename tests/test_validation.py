"""neurodecode.validate turns what users get wrong into clear errors (issue 13, section 4)."""

from __future__ import annotations

import numpy as np
import pytest

from neurodecode import datamodel as dm
from neurodecode import validate
from neurodecode.errors import DataModelError


def _rec(**kw):
    data = kw.pop("data", np.random.default_rng(0).normal(size=(2, 100)))
    return dm.make_recording(data, kw.pop("sfreq", 100.0), ["Fz", "Cz"][: data.shape[0]], **kw)


def _epochs():
    return dm.make_epochs(np.zeros((3, 2, 10)), 100.0, ["Fz", "Cz"], 0.0)


def test_good_objects_pass():
    assert validate(_rec()) == "recording"
    assert validate(_epochs()) == "epochs"


@pytest.mark.parametrize("make, match", [
    (lambda: _rec(data=np.array([["a"] * 100, ["b"] * 100], dtype=object)), "non-numeric"),
    (lambda: _rec(data=np.ones((2, 100)) + 1j), "complex"),
    (lambda: _rec().isel(time=slice(None, None, -1)), "not strictly increasing"),
    (lambda: _rec().assign_coords(time=np.arange(100) * 10.0), "looks like milliseconds"),
    (lambda: _rec().isel(channel=[]), "zero channels|'channel' dim is empty"),
    (lambda: _rec().assign_attrs(sfreq="100"), "positive finite number.*string"),
    (lambda: _epochs().assign_coords(time=np.arange(10) * 10.0), "milliseconds"),
    (lambda: _epochs().astype(complex), "complex"),
])
def test_recording_and_epochs_mistakes(make, match):
    with pytest.raises(DataModelError, match=match):
        validate(make())


def _bold(ijk, affine=None):
    return dm.make_bold(np.zeros((4, len(ijk))), 2.0, ijk=np.asarray(ijk), affine=np.eye(4) if affine is None else
                        affine, shape=(3, 3, 3))


@pytest.mark.parametrize("make, match", [
    (lambda: _bold([[0, 0, 0], [1, 1, 1]], affine=np.full((4, 4), np.nan)), "affine.*NaN"),
    (lambda: _bold([[0, 0, 0], [0, 0, 0]]), "more than once"),
    (lambda: _bold([[0, 0, 0], [3, 0, 0]]), "outside the volume"),
])
def test_bold_mistakes(make, match):
    with pytest.raises(DataModelError, match=match):
        validate(make())


def test_binned_spikes_bin_size_must_match_time():
    good = dm.make_binned_spikes(np.zeros((10, 2)), 0.05, unit=["a", "b"])
    assert validate(good) == "binned_spikes"
    with pytest.raises(DataModelError, match="bin_size"):
        validate(good.assign_attrs(bin_size=0.01))


def test_spike_units_must_be_integers():
    st = dm.make_spike_trains([np.array([0.1, 0.2]), np.array([0.3])], unit=["u0", "u1"])
    with pytest.raises(DataModelError, match="integer unit indices"):
        validate(st.assign(spike_unit=st["spike_unit"].astype(float) + 0.5))


def test_events_beyond_the_recording():
    rec = _rec()
    ev = dm.make_events(np.array([0.5, 5.0]), np.array(["a", "b"]))
    with pytest.raises(DataModelError, match="outside the recording"):
        validate(rec.drop_dims("event", errors="ignore").merge(ev))


def test_asymmetric_rdm():
    import xarray as xr

    m = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    rdm = xr.DataArray(m[None], dims=("rdm", "stimulus", "stimulus_"), attrs={"method": "euclidean"})
    assert validate(rdm, "rdm") == "rdm"
    bad = m.copy()
    bad[0, 2] = 5.0
    with pytest.raises(DataModelError, match="not symmetric"):
        validate(rdm.copy(data=bad[None]), "rdm")
