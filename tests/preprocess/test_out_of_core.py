"""Out of core: a lazily read recording is filtered chunk by chunk and equals the in-memory path."""

from __future__ import annotations

import mne
import pandas as pd
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


# --------------------------------------------------------------------------- IIR, resample, epoch


@pytest.mark.parametrize("l_freq, h_freq, phase", [(1.0, 40.0, "zero"), (None, 30.0, "zero"), (1.0, 40.0, "forward")])
def test_chunked_iir_filter_equals_in_memory(fif, l_freq, h_freq, phase):
    eager = pp.filter(read_eeg(fif), l_freq, h_freq, method="iir", phase=phase)
    lazy = pp.filter(read_eeg(fif, chunks=10.0), l_freq, h_freq, method="iir", phase=phase)
    assert hasattr(lazy["signal"].data, "dask") and lazy["signal"].data.numblocks[1] > 3
    a, b = eager["signal"].values, lazy["signal"].values
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6 * np.abs(a).max())


@pytest.fixture(scope="module")
def edf(data_home):
    from tests.conftest import require_data

    return require_data(data_home / "eegmmidb_s001", "eegmmidb_s001") / "S001R04.edf"  # 64 ch, 160 Hz, 125 s


@pytest.mark.realdata
@pytest.mark.parametrize("new", [100.0, 80.0, 240.0])
def test_chunked_polyphase_resample_equals_in_memory(edf, new):
    eager = pp.resample(read_eeg(edf), new, method="polyphase")
    lazy = pp.resample(read_eeg(edf, chunks=5.0), new, method="polyphase")
    assert hasattr(lazy["signal"].data, "dask") and lazy["signal"].data.numblocks[1] > 5
    a, b = eager["signal"].values, lazy["signal"].values
    assert a.shape == b.shape
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6 * np.abs(a).max())
    np.testing.assert_array_equal(lazy["time"].values, eager["time"].values)
    assert lazy.attrs["sfreq"] == new == eager.attrs["sfreq"]


@pytest.mark.realdata
def test_polyphase_resample_matches_mne(edf):
    # MNE's polyphase method takes up/down from the lengths: the same as ours when n is a multiple of down
    rec = read_eeg(edf)
    x = rec["signal"].transpose("channel", "time").values[:, :16_000]  # 160 -> 100 Hz: down = 8
    ours = pp.resample(rec.isel(time=slice(0, 16_000)).drop_dims("event"), 100.0, method="polyphase")["signal"].values
    expected = mne.filter.resample(x, up=100.0, down=160.0, method="polyphase", verbose=False)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-9 * np.abs(expected).max())


def test_chunked_resample_keeps_stim_codes(tmp_path):
    sfreq, n = 250.0, 250 * 60 + 37  # a length that is not a multiple of the rate ratio
    rng = np.random.default_rng(1)
    stim = np.zeros(n)
    for start, code in ((1000, 3), (7501, 5), (14_990, 7)):  # pulses of 10 samples
        stim[start:start + 10] = code
    info = mne.create_info(["EEG000", "EEG001", "STI"], sfreq, ["eeg", "eeg", "stim"])
    path = tmp_path / "stim_raw.fif"
    mne.io.RawArray(np.vstack([rng.normal(scale=1e-5, size=(2, n)), stim]), info, verbose=False).save(path)
    eager = pp.resample(read_eeg(path, stim_events=False), 100.0, method="polyphase")
    lazy = pp.resample(read_eeg(path, stim_events=False, chunks=5.0), 100.0, method="polyphase")
    a, b = eager["signal"].values, lazy["signal"].values
    np.testing.assert_array_equal(b[2], a[2])
    assert sorted(np.unique(b[2])) == [0, 3, 5, 7]
    np.testing.assert_allclose(b[:2], a[:2], rtol=1e-6, atol=1e-6 * np.abs(a[:2]).max())


def test_fft_resample_of_lazy_data_warns_and_loads(fif, caplog):
    with caplog.at_level("WARNING", logger="neurodecode.preprocess.eeg"):
        lazy = pp.resample(read_eeg(fif, chunks=10.0), 100.0)
    assert "method='polyphase'" in caplog.text
    eager = pp.resample(read_eeg(fif), 100.0)
    np.testing.assert_allclose(lazy["signal"].values, eager["signal"].values, rtol=1e-12)


def test_polyphase_needs_a_rational_ratio(fif):
    from neurodecode.errors import BadInputError

    with pytest.raises(BadInputError, match="rational rate ratio"):
        pp.resample(read_eeg(fif), 100.0 * np.pi, method="polyphase")


@pytest.mark.realdata
@pytest.mark.parametrize("kwargs", [{}, {"baseline": None, "detrend": 1}, {"reject": {"eeg": 400e-6}}])
def test_lazy_epoch_equals_in_memory(edf, kwargs):
    eager, report_a = pp.epoch(read_eeg(edf), -0.5, 2.0, return_report=True, **kwargs)
    lazy, report_b = pp.epoch(read_eeg(edf, chunks=5.0), -0.5, 2.0, return_report=True, **kwargs)
    assert not hasattr(lazy.data, "dask")
    np.testing.assert_array_equal(lazy.values, eager.values)
    for coord in ("label", "onset", "code", "event_index"):
        np.testing.assert_array_equal(lazy[coord].values, eager[coord].values)
    assert report_b.equals(report_a) and len(eager) < 30  # some epochs dropped (the last one runs past the end)


@pytest.mark.realdata
def test_lazy_filter_resample_epoch_chain_equals_in_memory(edf):
    def chain(rec):
        rec = pp.filter(rec, 1.0, 40.0)
        rec = pp.resample(rec, 80.0, method="polyphase")
        stretch = pd.DataFrame({"kind": ["rail"], "onset": [30.0], "duration": [3.0], "channel": ["Cz.."]})
        rec = pp.mark_bad(rec, stretch)  # a BAD_rail stretch: epochs overlapping it are dropped
        return pp.epoch(rec, -0.5, 2.0, return_report=True)

    (eager, rep_a), (lazy, rep_b) = chain(read_eeg(edf)), chain(read_eeg(edf, chunks=5.0))
    assert rep_a["reason"].str.contains("BAD_rail").any()
    assert report_equal(rep_a, rep_b)
    a, b = eager.values, lazy.values
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6 * np.abs(a).max())


def report_equal(a, b) -> bool:
    return a.reset_index(drop=True).equals(b.reset_index(drop=True))


@pytest.mark.realdata
def test_lazy_epoch_reads_only_the_chunks_it_needs(edf):
    import dask
    import dask.array as da

    lazy = read_eeg(edf, chunks=5.0)
    eager = read_eeg(edf)
    sfreq = lazy.attrs["sfreq"]
    data = lazy["signal"].data
    starts = np.cumsum((0,) + data.chunks[1])
    t1 = lazy["onset"].values[lazy["label"].values == "T1"]
    need = set()
    for onset in t1:
        a, b = int(round((onset - 0.2) * sfreq)), int(round((onset + 1.0) * sfreq))
        need.update(np.flatnonzero((starts[:-1] < b + 3) & (starts[1:] > a - 3)))
    assert len(need) < data.numblocks[1] - 3

    def poisoned(shape):
        raise AssertionError("a chunk no epoch needs was read")

    blocks = []
    for i in range(data.numblocks[1]):
        block = data.blocks[0, i]
        if i not in need:
            block = da.from_delayed(dask.delayed(poisoned)(block.shape), shape=block.shape, dtype=block.dtype)
        blocks.append(block)
    lazy = lazy.assign(signal=lazy["signal"].copy(data=da.concatenate(blocks, axis=1)))
    ep = pp.epoch(lazy, -0.2, 1.0, event_labels="T1")
    expected = pp.epoch(eager, -0.2, 1.0, event_labels="T1")
    np.testing.assert_array_equal(ep.values, expected.values)
