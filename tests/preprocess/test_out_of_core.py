"""Out of core: a lazily read recording is filtered chunk by chunk and equals the in-memory path."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neurodecode.loaders.eeg import read_eeg
from neurodecode.preprocess import eeg as pp


@pytest.fixture(scope="module")
def fif(tmp_path_factory):
    rng = np.random.default_rng(0)
    sfreq, n = 250.0, 250 * 120  # 2 minutes, 8 channels, written the way a user's FIF file is
    data = rng.normal(scale=20e-6, size=(8, n)) + 50e-6 * np.sin(2 * np.pi * 10 * np.arange(n) / sfreq)
    info = mne.create_info([f"EEG{i:03d}" for i in range(8)], sfreq, "eeg")
    path = tmp_path_factory.mktemp("ooc") / "long_raw.fif"
    mne.io.RawArray(data, info, verbose=False).save(path, verbose=False)
    return path


def test_lazy_read_equals_eager(fif):
    eager = read_eeg(fif)
    lazy = read_eeg(fif, chunks=10.0)
    assert hasattr(lazy["signal"].data, "dask") and lazy["signal"].data.numblocks[1] == 12
    np.testing.assert_array_equal(lazy["signal"].values, eager["signal"].values)
    assert lazy.attrs["sfreq"] == eager.attrs["sfreq"]


@pytest.mark.parametrize("l_freq, h_freq", [(1.0, 40.0), (None, 30.0), (0.5, None)])
def test_chunked_filter_equals_in_memory(fif, l_freq, h_freq):
    eager = pp.filter(read_eeg(fif), l_freq, h_freq)
    lazy = pp.filter(read_eeg(fif, chunks=10.0), l_freq, h_freq)
    assert hasattr(lazy["signal"].data, "dask") and lazy["signal"].data.numblocks[1] > 5  # nothing computed yet
    a, b = eager["signal"].values, lazy["signal"].values
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6 * np.abs(a).max())
    assert lazy.attrs["highpass"] == eager.attrs["highpass"] and lazy.attrs["lowpass"] == eager.attrs["lowpass"]


def test_chunked_filter_matches_mne_raw_filter(fif):
    raw = mne.io.read_raw_fif(fif, preload=True, verbose=False).filter(1.0, 40.0, verbose=False)
    lazy = pp.filter(read_eeg(fif, chunks=10.0), 1.0, 40.0)
    expected = raw.get_data()
    np.testing.assert_allclose(lazy["signal"].values, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


def test_nan_in_lazy_data_is_caught_when_computed(fif, tmp_path):
    from neurodecode.errors import DataModelError

    lazy = read_eeg(fif, chunks=10.0)
    data = lazy["signal"].data.copy()
    data[3, 20_000] = np.nan
    lazy = lazy.assign(signal=lazy["signal"].copy(data=data))
    filtered = pp.filter(lazy, 1.0, 40.0)  # building the graph reads nothing
    with pytest.raises(DataModelError, match="NaN/inf values in channel.*EEG003"):
        filtered["signal"].values
