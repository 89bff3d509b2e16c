"""Silent mis-parameterisation becomes an error: swapped filter edges, thresholds in the wrong units."""

from __future__ import annotations

import warnings

import mne
import numpy as np
import pytest

from neurodecode.datamodel import make_epochs, make_recording
from neurodecode.errors import BadInputError
from neurodecode.preprocess import eeg as pp


def _rec():
    rng = np.random.default_rng(0)
    return make_recording(rng.normal(scale=20e-6, size=(2, 2000)), 200.0, ["Fz", "Cz"])


def test_filter_refuses_swapped_edges():
    with pytest.raises(BadInputError, match="edges look swapped.*l_freq=1, h_freq=30.*bandstop=True"):
        pp.filter(_rec(), 30, 1)
    with pytest.raises(BadInputError, match="not below"):
        pp.filter(_rec(), 10, 10)


def test_explicit_bandstop_matches_mne():
    rec = _rec()
    kw = {"l_trans_bandwidth": 5, "h_trans_bandwidth": 5}
    out = pp.filter(rec, 20, 30, bandstop=True, **kw)
    same = pp.filter(rec, 30, 20, bandstop=True, **kw)
    expected = mne.filter.filter_data(rec["signal"].values.astype(np.float64), 200.0, 30, 20, verbose=False, **kw)
    np.testing.assert_allclose(out["signal"].values, expected, rtol=1e-10, atol=1e-20)
    np.testing.assert_array_equal(out["signal"].values, same["signal"].values)
    with pytest.raises(BadInputError, match="needs two different edges"):
        pp.filter(rec, 20, None, bandstop=True)


def _epochs(units=None, scale=10e-6):
    rng = np.random.default_rng(1)
    ep = make_epochs(rng.normal(scale=scale, size=(6, 2, 50)), 100.0, ["Fz", "Cz"], 0.0)
    if units:
        ep = ep.assign_attrs(units=units)
        ep = ep * 1e6 if units == "uV" else ep
        ep.attrs.update(units=units)
    return ep


def test_threshold_meant_in_microvolts_on_volts_is_refused():
    with pytest.raises(BadInputError, match=r"can never be reached.*100e-6"):
        pp.reject_by_amplitude(_epochs(), 100)
    with pytest.raises(BadInputError, match="never be reached"):
        pp.reject_by_amplitude(_epochs(), {"eeg": 0.5})
    kept, _ = pp.reject_by_amplitude(_epochs(), 100e-6)  # the right units still work
    assert kept.sizes["trial"] == 6


def test_threshold_in_volts_on_microvolt_data_is_refused():
    with pytest.raises(BadInputError, match="in uV is below"):
        pp.reject_by_amplitude(_epochs("uV"), 100e-6)
    kept, _ = pp.reject_by_amplitude(_epochs("uV"), 100)
    assert kept.sizes["trial"] == 6


def test_unreachable_threshold_warns():
    with pytest.warns(UserWarning, match="drops nothing"):
        pp.reject_by_amplitude(_epochs(scale=1e-7), 5e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pp.reject_by_amplitude(_epochs(), 100e-6)
