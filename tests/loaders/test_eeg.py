"""EEG/MEG loaders on the real test files: every value is checked against an independent read
(MNE's own readers, pandas, scipy.io.loadmat, hashlib), plus synthetic CSVs with a known answer."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import mne

from neurodecode.datamodel import validate  # noqa: E402
from neurodecode.errors import BadInputError, DataModelError  # noqa: E402
from neurodecode.loaders.eeg import from_mne, read_eeg, read_muse_csv, to_mne  # noqa: E402

pytestmark = pytest.mark.realdata

MUSE_DUP = "data_2018-05-14-19.38.10.csv"


@pytest.fixture(scope="module")
def mne_dir(data_home: Path) -> Path:
    return data_home / "mne_testing"


@pytest.fixture(scope="module")
def eeglab_dir(data_home: Path) -> Path:
    return data_home / "eeglab_sample"


@pytest.fixture(scope="module")
def muse_dir(data_home: Path) -> Path:
    return data_home / "muse_n170"


def _mne_read(kind: str, path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(mne.io, f"read_raw_{kind}")(path, preload=True, verbose=False)


def _mne_positions(info) -> np.ndarray:
    pos = np.array([ch["loc"][:3] for ch in info["chs"]], dtype=float)
    pos[~np.isfinite(pos).all(1) | (pos == 0).all(1)] = np.nan
    return pos


def _assert_matches_raw(rec, raw, *, check_events: bool = True) -> None:
    """rec (from our reader) equals raw (from MNE directly): data, names, types, sfreq, positions, events."""
    validate(rec, "recording")
    np.testing.assert_array_equal(rec["signal"].values, raw.get_data())
    assert list(rec["channel"].values) == raw.ch_names
    assert list(rec["ch_type"].values) == raw.get_channel_types()
    assert rec.attrs["sfreq"] == raw.info["sfreq"]
    np.testing.assert_allclose(rec["time"].values, raw.times, rtol=0, atol=1e-12)
    pos = np.stack([rec["pos_x"].values, rec["pos_y"].values, rec["pos_z"].values], axis=1)
    np.testing.assert_array_equal(pos, _mne_positions(raw.info))
    if raw.info["meas_date"] is not None:
        assert rec.attrs["meas_date"] == raw.info["meas_date"].isoformat()
    if check_events:
        ann = rec["origin"].values == "annotation"
        onset = raw.annotations.onset - raw.first_time
        np.testing.assert_allclose(rec["onset"].values[ann], onset, atol=1.01e-6)
        np.testing.assert_allclose(rec["duration"].values[ann], raw.annotations.duration)
        assert list(rec["label"].values[ann]) == list(raw.annotations.description)


# --------------------------------------------------------------------------- MNE formats


@pytest.mark.parametrize(
    "name, kind",
    [
        ("test_edf_overlapping_annotations.edf", "edf"),
        ("test_reduced.edf", "edf"),
        ("multiple_annotation_chans.bdf", "bdf"),
        ("test_elekta_3ch_raw.fif", "fif"),
        ("test.vhdr", "brainvision"),
    ],
)
def test_read_formats_equal_mne(mne_dir, name, kind):
    path = mne_dir / name
    rec = read_eeg(path, subject="s01", run=2)
    raw = _mne_read(kind, path)
    _assert_matches_raw(rec, raw)
    assert rec.attrs["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rec.attrs["source"] == str(path)
    assert rec.attrs["subject"] == "s01" and rec.attrs["run"] == 2
    assert rec.attrs["first_samp"] == raw.first_samp
    assert rec.attrs["format"] == kind


def test_edf_annotations_content(mne_dir):
    rec = read_eeg(mne_dir / "test_edf_overlapping_annotations.edf")
    assert rec.sizes["event"] == 38
    assert set(rec["label"].values) == {"T0", "T1", "T2"}
    assert rec.attrs["units"] == "V" and rec.attrs["sfreq"] == 128.0
    # codes follow MNE's events_from_annotations numbering (sorted unique descriptions)
    raw = _mne_read("edf", mne_dir / "test_edf_overlapping_annotations.edf")
    events, event_id = mne.events_from_annotations(raw, verbose=False)
    for lab, code in event_id.items():
        assert set(rec["code"].values[rec["label"].values == lab]) == {code}
    np.testing.assert_array_equal(np.round(rec["onset"].values * 128).astype(int), events[:, 0])


def test_fif_stim_events_equal_find_events(mne_dir):
    rec = read_eeg(mne_dir / "test_elekta_3ch_raw.fif")
    raw = _mne_read("fif", mne_dir / "test_elekta_3ch_raw.fif")
    events = mne.find_events(raw, stim_channel="STI101", shortest_event=1, initial_event=True, verbose=False)
    assert rec.sizes["event"] == len(events) == 162
    np.testing.assert_allclose(rec["onset"].values, (events[:, 0] - raw.first_samp) / 1000.0)
    np.testing.assert_array_equal(rec["code"].values, events[:, 2])
    assert set(rec["origin"].values) == {"stim"}
    assert rec.attrs["modality"] == "meg" and rec.attrs["units"] == "SI"
    assert list(rec["ch_unit"].values) == ["T", "T/m", "T/m", "V"]


def test_analog_trigger_channel_gives_no_stim_events(mne_dir):
    # the BDF "Trigger" channel holds analog values (hundreds of levels): not read as events
    rec = read_eeg(mne_dir / "multiple_annotation_chans.bdf")
    assert set(rec["origin"].values) == {"annotation"}
    assert rec.sizes["event"] == 10
    forced = read_eeg(mne_dir / "multiple_annotation_chans.bdf", stim_events=False)
    assert forced.sizes["event"] == 10


def test_edf_status_channel_events(mne_dir):
    rec = read_eeg(mne_dir / "test_reduced.edf")
    raw = _mne_read("edf", mne_dir / "test_reduced.edf")
    events = mne.find_events(raw, stim_channel="Status", shortest_event=1, initial_event=True, verbose=False)
    stim = rec["origin"].values == "stim"
    assert stim.sum() == len(events)
    np.testing.assert_allclose(rec["onset"].values[stim], events[:, 0] / raw.info["sfreq"])
    np.testing.assert_array_equal(rec["code"].values[stim], events[:, 2])


def test_eeglab_continuous_vs_loadmat(eeglab_dir):
    import scipy.io as scipy_io
    path = eeglab_dir / "eeglab_data.set"
    rec = read_eeg(path)
    raw = _mne_read("eeglab", path)
    _assert_matches_raw(rec, raw)
    assert rec.sizes["channel"] == 32 and rec.attrs["sfreq"] == 128.0
    # independent: event latencies (1-based samples) and types from the .set file itself
    mat = scipy_io.loadmat(path, squeeze_me=True, struct_as_record=False)
    ev = mat["EEG"].event
    latency = np.array([e.latency for e in ev], dtype=float)
    types = [str(e.type) for e in ev]
    np.testing.assert_allclose(rec["onset"].values, (latency - 1) / 128.0, atol=1e-6)
    assert list(rec["label"].values) == types
    assert types.count("square") == 80 and types.count("rt") == 74
    # channel positions are known for the 10-20 channels (EOG may be unknown)
    known = np.isfinite(rec["pos_x"].values)
    assert known.sum() >= 30


def test_eeglab_epoched_gives_epochs(eeglab_dir):
    path = eeglab_dir / "eeglab_data_epochs_ica.set"
    ep = read_eeg(path, subject="tutorial")
    validate(ep, "epochs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = mne.read_epochs_eeglab(path, verbose=False)
    assert ep.dims == ("trial", "channel", "time") and ep.sizes["trial"] == 80
    np.testing.assert_array_equal(ep.values, ref.get_data())
    np.testing.assert_allclose(ep["time"].values, ref.times)
    assert ep["time"].values[0] == pytest.approx(-1.0)
    inv = {v: k for k, v in ref.event_id.items()}
    assert list(ep["label"].values) == [inv[c] for c in ref.events[:, 2]]
    assert ep.attrs["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "rel, kind",
    [
        ("mne_testing/test_edf_overlapping_annotations.edf", "edf"),
        ("mne_testing/multiple_annotation_chans.bdf", "bdf"),
        ("mne_testing/test_elekta_3ch_raw.fif", "fif"),
        ("mne_testing/test.vhdr", "brainvision"),
        ("eeglab_sample/eeglab_data.set", "eeglab"),
    ],
)
def test_raw_round_trip(data_home, rel, kind):
    raw = _mne_read(kind, data_home / rel)
    rec = from_mne(raw)
    back = to_mne(rec)
    np.testing.assert_array_equal(back.get_data(), raw.get_data())
    assert back.ch_names == raw.ch_names
    assert back.get_channel_types() == raw.get_channel_types()
    assert back.info["sfreq"] == raw.info["sfreq"]
    assert back.first_samp == raw.first_samp
    assert back.info["meas_date"] == raw.info["meas_date"]
    np.testing.assert_array_equal(_mne_positions(back.info), _mne_positions(raw.info))
    # annotations (the FIF file has none: its events are in the stim channel, kept as data)
    np.testing.assert_allclose(back.annotations.onset - back.first_time,
                               raw.annotations.onset - raw.first_time, atol=1.01e-6)
    np.testing.assert_allclose(back.annotations.duration, raw.annotations.duration)
    assert list(back.annotations.description) == list(raw.annotations.description)
    # and back again into the data model: nothing lost
    xr.testing.assert_identical(from_mne(back), rec)


def test_muse_round_trip(muse_dir):
    rec = read_muse_csv(muse_dir / "subject2/session1/data_2018-04-15-21.18.48.csv", subject="2")
    raw = to_mne(rec)
    assert raw.get_channel_types() == ["eeg"] * 4 + ["misc"]
    np.testing.assert_array_equal(raw.get_data(), rec["signal"].values)
    assert list(raw.annotations.description) == list(rec["label"].values)
    again = from_mne(raw, **{k: rec.attrs[k] for k in ("subject", "source", "sha256", "format", "device",
                                                      "sfreq_measured", "timestamp_first", "timestamp_clock",
                                                      "gaps", "n_nonmonotonic_timestamps")})
    xr.testing.assert_identical(again, rec)


def test_epochs_round_trip_with_metadata(eeglab_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = mne.read_epochs_eeglab(eeglab_dir / "eeglab_data_epochs_ica.set", verbose=False)
    ref.metadata = pd.DataFrame({"rt": np.linspace(0.3, 0.9, len(ref)), "cond": ["a", "b"] * (len(ref) // 2)})
    ep = from_mne(ref)
    assert list(ep["cond"].values[:2]) == ["a", "b"]
    back = to_mne(ep)
    np.testing.assert_array_equal(back.get_data(), ref.get_data())
    np.testing.assert_array_equal(back.events, ref.events)
    assert back.event_id == ref.event_id
    assert back.tmin == pytest.approx(ref.tmin)
    assert back.ch_names == ref.ch_names
    assert back.get_channel_types() == ref.get_channel_types()
    np.testing.assert_array_equal(_mne_positions(back.info), _mne_positions(ref.info))
    pd.testing.assert_series_equal(back.metadata["rt"], ref.metadata["rt"], check_names=False)
    assert list(back.metadata["cond"]) == list(ref.metadata["cond"])
    xr.testing.assert_identical(from_mne(back), ep)


def test_to_mne_windows_hold_only_those_samples(mne_dir):
    path = mne_dir / "test_elekta_3ch_raw.fif"
    raw = _mne_read("fif", path)
    lazy = read_eeg(path, chunks=1.0)
    assert hasattr(lazy["signal"].data, "dask")
    windows = [(10, 60), (40, 90), (500, 520)]
    win = to_mne(lazy, windows=windows)
    assert win.n_times == raw.n_times and win.first_samp == raw.first_samp and win.ch_names == raw.ch_names
    for a, b in ((10, 90), (500, 520)):  # overlapping windows merged
        np.testing.assert_array_equal(win.get_data(start=a, stop=b), raw.get_data(start=a, stop=b))
    with pytest.raises(RuntimeError, match="not prepared"):
        win.get_data(start=200, stop=210)
    for bad in ([(60, 10)], [(-1, 5)], [(0, raw.n_times + 1)], [(0.5, 3)], ["ab"]):
        with pytest.raises(BadInputError, match="windows must be"):
            to_mne(lazy, windows=bad)
    ep = from_mne(mne.EpochsArray(raw.get_data()[None, :, :50], raw.info, verbose=False))
    with pytest.raises(BadInputError, match="epochs are converted whole"):
        to_mne(ep, windows=[(0, 10)])


def test_to_mne_rejects_other_kinds():
    from neurodecode.datamodel import make_binned_spikes

    with pytest.raises(DataModelError, match="recording.*epochs"):
        to_mne(make_binned_spikes(np.zeros((3, 2)), 0.1))


def test_save_open_round_trip(muse_dir, tmp_path):
    from neurodecode import io

    rec = read_eeg(muse_dir / "subject1/session1/data_2017-09-13-15.30.01.csv", subject="1", session="1", run=1)
    back = io.open(io.save(rec, tmp_path / "rec.nc"), chunks=None)
    xr.testing.assert_identical(back, rec)


# --------------------------------------------------------------------------- bad files


def test_truncated_edf_raises(mne_dir, tmp_path):
    src = (mne_dir / "test_edf_overlapping_annotations.edf").read_bytes()
    for n, what in ((100_000, "records"), (2000, "header"), (100, "header")):
        bad = tmp_path / f"cut_{n}.edf"
        bad.write_bytes(src[:n])
        with pytest.raises(BadInputError, match="truncated") as info:
            read_eeg(bad)
        assert bad.name in str(info.value)


def test_truncated_bdf_fif_brainvision_raise(mne_dir, tmp_path):
    bdf = (mne_dir / "multiple_annotation_chans.bdf").read_bytes()
    (tmp_path / "cut.bdf").write_bytes(bdf[: len(bdf) // 3])
    with pytest.raises(BadInputError, match="truncated"):
        read_eeg(tmp_path / "cut.bdf")
    fif = (mne_dir / "test_elekta_3ch_raw.fif").read_bytes()
    (tmp_path / "cut_raw.fif").write_bytes(fif[: len(fif) // 3])
    with pytest.raises(BadInputError, match="truncated or corrupt"):
        read_eeg(tmp_path / "cut_raw.fif")
    for name in ("test.vhdr", "test.vmrk"):
        (tmp_path / name).write_bytes((mne_dir / name).read_bytes())
    eeg = (mne_dir / "test.eeg").read_bytes()
    (tmp_path / "test.eeg").write_bytes(eeg[: len(eeg) // 2])
    with pytest.raises(BadInputError, match="truncated"):
        read_eeg(tmp_path / "test.vhdr")


def test_truncated_eeglab_fdt_raises(eeglab_dir, tmp_path):
    (tmp_path / "eeglab_data.set").write_bytes((eeglab_dir / "eeglab_data.set").read_bytes())
    fdt = (eeglab_dir / "eeglab_data.fdt").read_bytes()
    (tmp_path / "eeglab_data.fdt").write_bytes(fdt[: len(fdt) // 2])
    with pytest.raises(BadInputError, match="eeglab_data.set"):
        read_eeg(tmp_path / "eeglab_data.set")


def test_missing_empty_and_unknown_files(tmp_path, mne_dir):
    with pytest.raises(BadInputError, match="does not exist") as info:
        read_eeg(tmp_path / "nope.edf")
    assert "nope.edf" in str(info.value)
    (tmp_path / "empty.edf").write_bytes(b"")
    with pytest.raises(BadInputError, match="empty"):
        read_eeg(tmp_path / "empty.edf")
    (tmp_path / "x.xyz").write_bytes(b"abc")
    with pytest.raises(BadInputError, match="format"):
        read_eeg(tmp_path / "x.xyz")
    with pytest.raises(BadInputError, match="read_evokeds"):
        read_eeg(mne_dir / "test-ave.fif.gz")


# --------------------------------------------------------------------------- Muse CSV


def test_muse_values_equal_pandas(muse_dir):
    path = muse_dir / "subject1/session1/data_2017-09-13-15.30.01.csv"
    rec = read_eeg(path, subject="1", session="1", run=1)
    df = pd.read_csv(path)
    validate(rec, "recording")
    cols = ["TP9", "AF7", "AF8", "TP10", "Right AUX"]
    np.testing.assert_allclose(rec["signal"].values, df[cols].to_numpy().T * 1e-6, rtol=1e-12, atol=0)
    assert list(rec["channel"].values) == cols
    assert list(rec["ch_type"].values) == ["eeg"] * 4 + ["misc"]
    assert rec.attrs["units"] == "V" and rec.attrs["sfreq"] == 256.0
    np.testing.assert_allclose(rec["time"].values, np.arange(len(df)) / 256.0)
    rows = np.flatnonzero(df["Marker0"].to_numpy() != 0)
    np.testing.assert_allclose(rec["onset"].values, rows / 256.0)
    codes = df["Marker0"].to_numpy()[rows]
    np.testing.assert_array_equal(rec["code"].values, codes)
    assert list(rec["label"].values) == [{1: "house", 2: "face"}[c] for c in codes]
    assert rec.attrs["sfreq_measured"] == pytest.approx(256.0, rel=1e-3)
    assert rec.attrs["gaps"] == []
    assert (rec.attrs["subject"], rec.attrs["session"], rec.attrs["run"]) == ("1", "1", 1)
    # positions of the 4 electrodes from MNE's standard 10-05 montage, in the head frame
    info = mne.create_info(["TP9", "AF7", "AF8", "TP10"], 256.0, "eeg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        info.set_montage("standard_1005")
    expect = np.array([ch["loc"][:3] for ch in info["chs"]])
    got = np.stack([rec[c].values[:4] for c in ("pos_x", "pos_y", "pos_z")], axis=1)
    np.testing.assert_allclose(got, expect)
    assert np.isnan(rec["pos_x"].values[4])  # Right AUX: no position


def test_muse_duplicate_runs_share_sha256(muse_dir):
    a = read_eeg(muse_dir / "subject3/session1" / MUSE_DUP)
    b = read_eeg(muse_dir / "subject3/session2" / MUSE_DUP)
    other = read_eeg(muse_dir / "subject3/session2/data_2018-05-14-19.35.55.csv")
    assert a.attrs["sha256"] == b.attrs["sha256"] != other.attrs["sha256"]
    assert a.attrs["sha256"] == hashlib.sha256((muse_dir / "subject3/session1" / MUSE_DUP).read_bytes()).hexdigest()
    assert a.attrs["source"] != b.attrs["source"]


def test_muse_csvcsv_unix_clock_and_drop_aux(muse_dir):
    path = muse_dir / "subject10/session1/recording_2018-06-06-15.06.45.csv.csv"
    rec = read_eeg(path, drop_aux=True)
    df = pd.read_csv(path)
    assert list(rec["channel"].values) == ["TP9", "AF7", "AF8", "TP10"]
    assert rec.sizes["time"] == len(df) == 6180
    assert rec.attrs["timestamp_clock"] == "unix"
    assert rec.attrs["meas_date"].startswith("2018-06-06")
    dev = read_eeg(muse_dir / "subject2/session1/data_2018-04-15-21.18.48.csv")
    assert dev.attrs["timestamp_clock"] == "device" and "meas_date" not in dev.attrs


def _write_csv(path: Path, t: np.ndarray, marker: np.ndarray | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = t.size
    df = pd.DataFrame({"timestamps": np.round(t, 3)})
    for ch in ("TP9", "AF7", "AF8", "TP10", "Right AUX"):
        df[ch] = np.round(rng.normal(0, 20, n), 3)
    df["Marker0"] = np.zeros(n, dtype=int) if marker is None else marker
    df.to_csv(path, index=False, float_format="%.3f")
    return df


def test_muse_wrong_rate_raises(tmp_path):
    n = 5000
    t = 1000.0 + np.arange(n) / 220.0  # device really ran at 220 Hz
    _write_csv(tmp_path / "slow.csv", t)
    with pytest.raises(BadInputError, match=r"220\.0.*256.*sfreq=") as info:
        read_muse_csv(tmp_path / "slow.csv")
    assert "slow.csv" in str(info.value)
    rec = read_muse_csv(tmp_path / "slow.csv", sfreq=220.0)
    assert rec.attrs["sfreq"] == 220.0
    auto = read_muse_csv(tmp_path / "slow.csv", sfreq=None)
    assert auto.attrs["sfreq"] == pytest.approx(220.0, rel=1e-4)


def test_muse_jitter_within_tolerance_and_no_false_gap(tmp_path):
    # chunked timestamps with jitter, as in the real exports: 12 samples share a noisy chunk time
    rng = np.random.default_rng(1)
    n = 12 * 800
    ideal = 50.0 + np.arange(n) / 256.3
    chunk_jitter = np.repeat(rng.normal(0, 0.01, n // 12), 12)
    marker = np.zeros(n, dtype=int)
    marker[[300, 900, 4000]] = [1, 2, 1]
    _write_csv(tmp_path / "jit.csv", ideal + chunk_jitter, marker)
    rec = read_muse_csv(tmp_path / "jit.csv")
    assert rec.attrs["sfreq"] == 256.0
    assert rec.attrs["sfreq_measured"] == pytest.approx(256.3, rel=2e-4)
    assert rec.attrs["gaps"] == []
    np.testing.assert_allclose(rec["onset"].values, np.array([300, 900, 4000]) / 256.0)
    assert list(rec["label"].values) == ["house", "face", "house"]


def test_muse_gap_raises_or_is_annotated(tmp_path):
    n = 6000
    idx = np.arange(n)
    t = 10.0 + idx / 256.0
    t[3000:] += 40 / 256.0  # 40 samples dropped after row 3000
    _write_csv(tmp_path / "gap.csv", t)
    with pytest.raises(BadInputError, match="gap") as info:
        read_muse_csv(tmp_path / "gap.csv")
    assert "on_gap='annotate'" in str(info.value)
    rec = read_muse_csv(tmp_path / "gap.csv", on_gap="annotate")
    (gap,) = rec.attrs["gaps"]
    assert gap["sample"] == 3000 and gap["missing_samples"] == pytest.approx(40, abs=0.5)
    assert list(rec["label"].values) == ["BAD_gap"]
    assert rec["onset"].values[0] == pytest.approx(3000 / 256.0)
    assert rec["code"].values[0] == -1


def test_muse_bad_csvs(tmp_path, muse_dir):
    text = (muse_dir / "subject2/session1/data_2018-04-15-21.18.48.csv").read_text()
    (tmp_path / "cut.csv").write_text(text[: len(text) // 3])
    with pytest.raises(BadInputError, match="truncated"):
        read_muse_csv(tmp_path / "cut.csv")
    pd.DataFrame({"timestamps": [0.0, 0.004], "TP9": [1.0, 2.0]}).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(BadInputError, match=r"AF7"):
        read_muse_csv(tmp_path / "cols.csv")
    with pytest.raises(BadInputError, match="does not exist"):
        read_muse_csv(tmp_path / "absent.csv")
