"""EEG preprocessing: results equal MNE's own processing of the same real recordings (read
independently with MNE or pandas), and synthetic signals with a known answer for rejection/railing."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import mne

from neurodecode.datamodel import make_events, make_recording, validate  # noqa: E402
from neurodecode.errors import BadInputError, DataModelError  # noqa: E402
from neurodecode.loaders.eeg import read_eeg  # noqa: E402
from neurodecode.preprocess import eeg as pp  # noqa: E402

MUSE_RUN = "subject1/session1/data_2017-09-13-15.30.01.csv"
MUSE_RAILING = "subject3/session3/recording_2018-05-31-16.03.39.csv.csv"
MUSE_CLEAN = "subject2/session1/data_2018-04-15-21.18.48.csv"
MUSE_COLS = ["TP9", "AF7", "AF8", "TP10", "Right AUX"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def eeglab_path(data_home: Path) -> Path:
    return data_home / "eeglab_sample" / "eeglab_data.set"


@pytest.fixture(scope="module")
def eeglab_rec(eeglab_path):
    return read_eeg(eeglab_path, subject="tutorial", session="1", run=1)


@pytest.fixture(scope="module")
def eeglab_raw(eeglab_path):
    """The same file read by MNE directly (independent of neurodecode)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mne.io.read_raw_eeglab(eeglab_path, preload=True, verbose=False)


@pytest.fixture(scope="module")
def muse_dir(data_home: Path) -> Path:
    return data_home / "muse_n170"


@pytest.fixture(scope="module")
def muse_rec(muse_dir):
    return read_eeg(muse_dir / MUSE_RUN, subject="1", session="1", run="1")


def _muse_raw_from_pandas(path: Path):
    """Independent Muse read: pandas -> volts -> RawArray, events from the Marker0 rows."""
    df = pd.read_csv(path)
    info = mne.create_info(MUSE_COLS, 256.0, ["eeg"] * 4 + ["misc"])
    raw = mne.io.RawArray(df[MUSE_COLS].to_numpy().T * 1e-6, info, verbose=False)
    marker = df["Marker0"].to_numpy()
    rows = np.flatnonzero(marker)
    events = np.column_stack([rows, np.zeros_like(rows), marker[rows]])
    return raw, events


def _synthetic(n_ch=3, sfreq=100.0, seconds=20.0, seed=0, events=None, types=None):
    rng = np.random.default_rng(seed)
    n = int(seconds * sfreq)
    t = np.arange(n) / sfreq
    data = 10e-6 * np.sin(2 * np.pi * 7 * t)[None, :] + 2e-6 * rng.standard_normal((n_ch, n))
    return make_recording(
        data, sfreq, [f"E{i}" for i in range(n_ch)], types or "eeg", events=events,
        subject="syn", source="synthetic",
    )


# --------------------------------------------------------------------------- filters vs MNE


def test_filter_equals_mne_and_keeps_input(eeglab_rec, eeglab_raw, muse_rec):
    before = copy.deepcopy(eeglab_rec)
    out = pp.filter(eeglab_rec, 1.0, 30.0)
    ref = eeglab_raw.copy().filter(1.0, 30.0, verbose=False)
    np.testing.assert_allclose(out["signal"].values, ref.get_data(), rtol=0, atol=1e-15)
    # non-data channels (the Muse "Right AUX", type misc) are left alone, as MNE does
    muse = pp.filter(muse_rec, 1.0, 30.0)
    np.testing.assert_array_equal(muse["signal"].values[4], muse_rec["signal"].values[4])
    assert not np.allclose(muse["signal"].values[0], muse_rec["signal"].values[0])
    xr.testing.assert_identical(eeglab_rec, before)  # input untouched
    xr.testing.assert_equal(out[["onset", "duration", "label", "code"]],
                                eeglab_rec[["onset", "duration", "label", "code"]])
    assert out.attrs["highpass"] == 1.0 and out.attrs["lowpass"] == 30.0
    validate(out, "recording")


def test_notch_resample_rereference_equal_mne(eeglab_rec, eeglab_raw):
    out = pp.notch(eeglab_rec, [50.0])
    np.testing.assert_allclose(out["signal"].values, eeglab_raw.copy().notch_filter([50.0], verbose=False).get_data(),
                               rtol=0, atol=1e-15)
    res = pp.resample(eeglab_rec, 64.0)
    ref = eeglab_raw.copy().resample(64.0, verbose=False)
    np.testing.assert_allclose(res["signal"].values, ref.get_data(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(res["time"].values, ref.times)
    np.testing.assert_array_equal(res["onset"].values, eeglab_rec["onset"].values)  # event times preserved
    assert res.attrs["sfreq"] == 64.0
    validate(res, "recording")
    avg = pp.rereference(eeglab_rec, "average")
    ref = eeglab_raw.copy().set_eeg_reference("average", projection=False, verbose=False)
    np.testing.assert_allclose(avg["signal"].values, ref.get_data(), rtol=0, atol=1e-15)


def test_polyphase_resample_takes_mne_settings_and_rejects_others(eeglab_rec, eeglab_raw):
    x = eeglab_raw.get_data()
    assert eeglab_raw.info["sfreq"] == 128.0 and x.shape[1] % 2 == 0  # MNE's up/down equal ours: 1/2
    kw = {"window": ("kaiser", 8.0), "pad": "constant"}
    res = pp.resample(eeglab_rec, 64.0, method="polyphase", n_jobs=1, verbose=False, **kw)
    ref = mne.filter.resample(x, up=64.0, down=128.0, method="polyphase", verbose=False, **kw)
    np.testing.assert_allclose(res["signal"].values, ref, rtol=0, atol=1e-15)
    default = pp.resample(eeglab_rec, 64.0, method="polyphase")["signal"].values
    assert not np.allclose(default, ref, rtol=0, atol=1e-15)  # the settings were used, not dropped
    with pytest.raises(BadInputError, match=r"unsupported setting\(s\) \['windw'\].*'window'"):
        pp.resample(eeglab_rec, 64.0, method="polyphase", windw="hann")
    with pytest.raises(BadInputError, match="unsupported setting.*'axis'"):
        pp.resample(eeglab_rec, 64.0, axis=0)
    with pytest.raises(BadInputError, match="method must be 'fft' or 'polyphase', got 'fir'"):
        pp.resample(eeglab_rec, 64.0, method="fir")


def test_rereference_to_channels_keeps_misc(muse_rec, muse_dir):
    raw, _ = _muse_raw_from_pandas(muse_dir / MUSE_RUN)
    out = pp.rereference(muse_rec, ["TP9", "TP10"])
    ref = raw.copy().set_eeg_reference(["TP9", "TP10"], projection=False, verbose=False)
    np.testing.assert_allclose(out["signal"].values, ref.get_data(), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(out["signal"].values[4], muse_rec["signal"].values[4])  # Right AUX untouched
    assert out.attrs["reference"] == ["TP9", "TP10"]
    with pytest.raises(BadInputError, match="Cz"):
        pp.rereference(muse_rec, ["Cz"])


def test_filter_epochs_equal_mne(eeglab_rec, eeglab_raw):
    ep = pp.epoch(eeglab_rec, -0.5, 1.0, event_labels="square", baseline=None)
    out = pp.filter(ep, None, 20.0)
    events, eid = mne.events_from_annotations(eeglab_raw, verbose=False)
    ref = mne.Epochs(eeglab_raw, events, {"square": eid["square"]}, -0.5, 1.0, baseline=None, preload=True,
                     verbose=False).filter(None, 20.0, verbose=False)
    np.testing.assert_allclose(out.values, ref.get_data(), rtol=0, atol=1e-15)


def test_nan_channel_named_in_error():
    rec = _synthetic()
    data = rec["signal"].values.copy()
    data[1, 500:510] = np.nan
    bad = rec.copy()
    bad["signal"] = (("channel", "time"), data)
    with pytest.raises(DataModelError, match=r"E1 \(10 values\).*t = 5\.0"):
        pp.filter(bad, 1.0, 20.0)
    with pytest.raises(DataModelError, match="E1"):
        pp.check_finite(bad)
    pp.check_finite(rec)  # finite: no error


def test_bad_filter_arguments():
    rec = _synthetic()
    with pytest.raises(BadInputError, match="Nyquist"):
        pp.filter(rec, 1.0, 80.0)
    with pytest.raises(BadInputError, match="l_freq and/or h_freq"):
        pp.filter(rec, None, None)
    from neurodecode.datamodel import make_responses

    with pytest.raises(DataModelError, match="recording or epochs"):
        pp.filter(make_responses(np.zeros((3, 2))), 1.0, 20.0)
    with pytest.raises(BadInputError, match="Baseline interval"):
        pp.epoch(_synthetic(events=make_events([5.0], ["a"])), 0.0, 0.5)  # baseline (None, 0) = one sample


# --------------------------------------------------------------------------- epochs vs mne.Epochs


def test_epoch_equals_mne_epochs_eeglab(eeglab_rec, eeglab_raw):
    ep, report = pp.epoch(eeglab_rec, -0.2, 0.8, event_labels=["square", "rt"], return_report=True)
    events, eid = mne.events_from_annotations(eeglab_raw, verbose=False)
    ref = mne.Epochs(eeglab_raw, events, eid, tmin=-0.2, tmax=0.8, baseline=(None, 0), preload=True, verbose=False)
    validate(ep, "epochs")
    assert ep.shape == ref.get_data().shape == (154, 32, 129)
    np.testing.assert_allclose(ep.values, ref.get_data(), rtol=1e-10, atol=0)
    np.testing.assert_allclose(ep["time"].values, ref.times)
    inv = {v: k for k, v in eid.items()}
    assert list(ep["label"].values) == [inv[c] for c in ref.events[:, 2]]
    # trial onsets are the exact event times; MNE centres each epoch on the nearest sample
    np.testing.assert_allclose(ep["onset"].values, ref.events[:, 0] / 128.0, rtol=0, atol=0.5 / 128)
    np.testing.assert_array_equal(ep["onset"].values, eeglab_rec["onset"].values)
    assert set(ep["subject"].values) == {"tutorial"} and set(ep["run"].values) == {"1"}
    assert len(report) == 0 and ep.attrs["drop_report"] == []
    assert ep.attrs["tmin"] == -0.2 and ep.attrs["baseline"] == [None, 0.0]


def test_epoch_equals_mne_epochs_muse(muse_rec, muse_dir):
    ep = pp.epoch(muse_rec, -0.1, 0.6)
    raw, events = _muse_raw_from_pandas(muse_dir / MUSE_RUN)
    ref = mne.Epochs(raw, events, {"house": 1, "face": 2}, tmin=-0.1, tmax=0.6, baseline=(None, 0), preload=True,
                     verbose=False)
    assert ep.sizes["trial"] == len(ref) == 197
    np.testing.assert_allclose(ep.values, ref.get_data(), rtol=1e-10, atol=1e-18)
    np.testing.assert_array_equal(ep["code"].values, ref.events[:, 2])
    assert list(ep["ch_type"].values) == ["eeg"] * 4 + ["misc"]
    assert set(ep["session"].values) == {"1"}
    # the epochs survive the data model's netCDF round trip
    assert ep.attrs["event_id"] == {"house": 1, "face": 2}


def test_epoch_on_cropped_recording(muse_rec):
    full = pp.epoch(muse_rec, -0.1, 0.6)
    start = 2560  # crop the first 10 s (and the events there)
    cropped = muse_rec.isel(time=slice(start, None))
    keep = np.flatnonzero(cropped["onset"].values >= 10.2)
    cropped = cropped.isel(event=keep).assign_coords(event=np.arange(keep.size))
    part = pp.epoch(cropped, -0.1, 0.6)
    np.testing.assert_array_equal(part["time"].values, full["time"].values)
    sub = full.isel(trial=np.flatnonzero(full["onset"].values >= 10.2))
    np.testing.assert_allclose(part.values, sub.values, rtol=1e-12, atol=1e-18)
    np.testing.assert_array_equal(part["onset"].values, sub["onset"].values)


def test_epoch_edges_are_reported_or_raise(muse_dir):
    # the first Marker0 of this run is on the very first sample
    rec = read_eeg(muse_dir / "subject10/session1/recording_2018-06-06-14.34.14.csv.csv")
    assert rec["onset"].values[0] == 0.0
    with pytest.raises(BadInputError, match="too close to the edges.*face"):
        pp.epoch(rec, -0.1, 0.6, on_edge="raise")
    # the only event is dropped: that leaves no trials, which is an error, not an empty object
    with pytest.raises(BadInputError, match="all 1 epochs were dropped.*outside the recording"):
        pp.epoch(rec, -0.1, 0.6)
    ep, report = pp.epoch(rec, 0.0, 0.6, baseline=None, return_report=True)
    assert ep.sizes["trial"] == 1 and len(report) == 0


def test_epoch_drop_report_lists_edge_events():
    ev = make_events([0.05, 5.0, 10.0, 19.95], ["a", "b", "a", "b"])
    rec = _synthetic(events=ev)
    ep, report = pp.epoch(rec, -0.2, 0.5, return_report=True)
    assert list(ep["onset"].values) == [5.0, 10.0]
    assert list(report["event_index"]) == [0, 3]
    assert list(report["onset"]) == [0.05, 19.95]
    assert set(report["reason"]) == {"epoch extends outside the recording"}
    assert [r["event_index"] for r in ep.attrs["drop_report"]] == [0, 3]


def test_epoch_selection_errors(muse_rec):
    with pytest.raises(BadInputError, match=r"\['cat'\].*available labels: \['face', 'house'\]"):
        pp.epoch(muse_rec, -0.1, 0.6, event_labels="cat")
    no_events = _synthetic()
    with pytest.raises(BadInputError, match="no events selected"):
        pp.epoch(no_events, -0.1, 0.6)
    with pytest.raises(BadInputError, match="tmax"):
        pp.epoch(muse_rec, 0.5, 0.1)


def test_events_outside_recording_raise():
    ev = make_events([1.0, 25.0], ["a", "b"])  # the recording lasts 20 s
    with pytest.raises(DataModelError, match="outside the recording"):
        _synthetic(events=ev).pipe(validate, "recording")


def test_epoch_mne_reject_is_reported(muse_rec, muse_dir):
    ep, report = pp.epoch(muse_rec, -0.1, 0.6, reject={"eeg": 100e-6}, return_report=True)
    raw, events = _muse_raw_from_pandas(muse_dir / MUSE_RUN)
    ref = mne.Epochs(raw, events, {"house": 1, "face": 2}, -0.1, 0.6, reject={"eeg": 100e-6}, preload=True,
                     verbose=False)
    dropped = [i for i, log in enumerate(ref.drop_log) if log]
    assert len(report) == len(dropped) > 0
    np.testing.assert_allclose(report["onset"].to_numpy(), events[dropped, 0] / 256.0)
    assert all("amplitude" in r for r in report["reason"])
    np.testing.assert_allclose(ep.values, ref.get_data(), rtol=1e-10, atol=1e-18)


# --------------------------------------------------------------------------- amplitude rejection


def test_reject_by_amplitude_known_trials():
    rng = np.random.default_rng(3)
    data = 5e-6 * rng.standard_normal((10, 3, 50))
    data[2, 1, 20] = 300e-6  # trial 2, channel C1
    data[7, 0, 10] = -250e-6  # trial 7, channel C0
    data[7, 2, 11] = 120e-6
    from neurodecode.datamodel import make_epochs

    ep = make_epochs(data, 100.0, ["C0", "C1", "C2"], -0.1, metadata={"label": ["x"] * 10})
    before = ep.copy(deep=True)
    kept, report = pp.reject_by_amplitude(ep, 100e-6)
    assert list(kept["trial"].values) == [0, 1, 3, 4, 5, 6, 8, 9]
    assert list(report["trial"]) == [2, 7]
    assert list(report["channel"]) == ["C1", "C0"]
    assert list(report["n_channels"]) == [1, 2]
    np.testing.assert_allclose(report["ptp"], [np.ptp(data[2, 1]), np.ptp(data[7, 0])])
    assert (report["threshold"] == 100e-6).all() and report["reason"].str.contains("peak-to-peak").all()
    xr.testing.assert_identical(ep, before)
    assert len(kept.attrs["amplitude_report"]) == 2
    # dict thresholds per channel type; nothing left is an error
    kept2, rep2 = pp.reject_by_amplitude(ep, {"eeg": 1e-3})
    assert len(rep2) == 0 and kept2.sizes["trial"] == 10
    with pytest.raises(BadInputError, match="all 10 trials"):
        pp.reject_by_amplitude(ep, 1e-9)


# --------------------------------------------------------------------------- railing


def test_detect_railing_synthetic():
    rec = _synthetic(n_ch=3, sfreq=100.0, seconds=20.0)
    data = rec["signal"].values.copy()
    data[1, 500:550] = np.where(np.arange(50) % 2, 1000e-6, 999.6e-6)  # 0.5 s at the +1 mV rail at t = 5 s
    data[1, 552:560] = -1000e-6  # another rail 20 ms later: merged into the same stretch
    data[2, 1500:1540] = 0.0  # 0.4 s flat line at t = 15 s
    data[0, :] = np.where(np.arange(data.shape[1]) % 4 == 0, 1000e-6, data[0])  # channel 0 rails all along
    rec = rec.copy()
    rec["signal"] = (("channel", "time"), data)
    report = pp.detect_railing(rec, threshold=990e-6, merge_within=0.05)
    s = report.stretches
    rail1 = s[(s.channel == "E1") & (s.kind == "rail")]
    assert len(rail1) == 1
    assert rail1.onset.iloc[0] == pytest.approx(5.0) and rail1.duration.iloc[0] == pytest.approx(0.6)
    flat2 = s[(s.channel == "E2") & (s.kind == "flat")]
    assert len(flat2) == 1 and flat2.onset.iloc[0] == pytest.approx(15.0)
    assert flat2.duration.iloc[0] == pytest.approx(0.4)
    assert report.bad_channels == ["E0"]
    # mark_bad: E0 into bads, E1/E2 stretches as BAD_ events; epochs overlapping them are dropped and reported
    ev = make_events([2.0, 5.2, 10.0, 15.1, 17.0], ["a"] * 5)
    rec = rec.drop_dims("event")
    for name in ev.data_vars:
        rec[name] = ("event", ev[name].values)
    rec = rec.assign_coords(event=np.arange(5))
    marked = pp.mark_bad(rec, report)
    assert marked.attrs["bads"] == ["E0"]
    # E0 is a bad channel: its stretches are not annotated (they would reject every epoch)
    bad_ev = [lab for lab in marked["label"].values if lab.startswith("BAD_")]
    assert sorted(bad_ev) == ["BAD_flat", "BAD_rail"]
    ep, rep = pp.epoch(marked, -0.1, 0.5, return_report=True)
    assert list(ep["onset"].values) == [2.0, 10.0, 17.0]
    assert list(rep["onset"]) == [5.2, 15.1]
    assert list(rep["reason"]) == ["overlaps a BAD_rail annotation", "overlaps a BAD_flat annotation"]
    assert "bads" in ep.attrs and ep.attrs["bads"] == ["E0"]
    kept = pp.epoch(marked, -0.1, 0.5, reject_by_annotation=False)
    assert kept.sizes["trial"] == 5


def test_detect_railing_real_muse(muse_dir):
    path = muse_dir / MUSE_RAILING
    rec = read_eeg(path)
    report = pp.detect_railing(rec)
    df = pd.read_csv(path)
    # every rail stretch starts and ends on a sample at the rail in the raw CSV (independent read)
    rails = report.stretches[report.stretches.kind == "rail"]
    assert len(rails) > 10
    for _, row in rails.head(50).iterrows():
        first = int(round(row.onset * 256))
        last = first + int(row.n_samples) - 1
        assert abs(df[row.channel].iloc[first]) >= 990 and abs(df[row.channel].iloc[last]) >= 990
    assert set(report.bad_channels) == {"TP9", "TP10"}
    assert "Right AUX" not in set(report.channels.channel)  # misc AUX not checked by default
    clean = pp.detect_railing(read_eeg(muse_dir / MUSE_CLEAN))
    assert clean.bad_channels == [] and len(clean.stretches) == 0
    marked = pp.mark_bad(rec, report)
    assert set(marked.attrs["bads"]) == {"TP9", "TP10"}
    assert (marked["code"].values[[lab.startswith("BAD_") for lab in marked["label"].values]] == -1).all()
    validate(marked, "recording")
    assert "bads" not in rec.attrs or rec.attrs["bads"] == []  # input untouched
