"""load(name, **selection) on the real files, compared with independent reads (pandas, MNE, nibabel, scipy, h5py)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from neurodecode import datasets
from neurodecode.datamodel import validate
from neurodecode.errors import BadInputError

pytestmark = pytest.mark.realdata

MUSE_CH = ["TP9", "AF7", "AF8", "TP10"]


# --------------------------------------------------------------------------- muse_n170


def test_muse_runs_table():
    runs = datasets.loaders.muse_runs()
    assert len(runs) == 19
    assert {(r["subject"], r["session"]) for r in runs} == {
        (1, 1), (2, 1), (3, 1), (3, 2), (3, 3), (10, 1), (10, 2), (10, 3), (11, 1)}
    assert [r["run"] for r in runs if r["subject"] == 1] == [1, 2, 3, 4, 5, 6]


def test_muse_subject1_matches_csv(data_home):
    runs = datasets.load("muse_n170", subject=1)
    assert len(runs) == 6
    for n, rec in enumerate(runs, start=1):
        assert validate(rec) == "recording"
        assert (rec.attrs["subject"], rec.attrs["session"], rec.attrs["run"]) == ("1", "1", n)
        assert rec.attrs["duplicates"] == [] and rec.attrs["dataset"] == "muse_n170"
    rec = runs[0]
    csv = pd.read_csv(data_home / "muse_n170" / rec.attrs["file"])
    assert rec.sizes["time"] == len(csv)
    np.testing.assert_allclose(rec["signal"].sel(channel=MUSE_CH).values.T, csv[MUSE_CH].values * 1e-6, rtol=1e-12)
    markers = csv["Marker0"].values
    assert rec.sizes["event"] == int((markers != 0).sum())
    assert sorted(set(rec["label"].values)) == ["face", "house"]
    assert int((rec["label"].values == "face").sum()) == int((markers == 2).sum())


def test_muse_duplicate_run_kept_once_and_reported(caplog):
    with caplog.at_level(logging.WARNING, logger="neurodecode.datasets.loaders"):
        runs = datasets.load("muse_n170", subject=3)
    files = [r.attrs["file"] for r in runs]
    assert len(runs) == 5  # 6 files, one byte-identical duplicate
    assert "subject3/session2/data_2018-05-14-19.38.10.csv" not in files
    kept = runs[files.index("subject3/session1/data_2018-05-14-19.38.10.csv")]
    assert kept.attrs["duplicates"] == ["subject3/session2/data_2018-05-14-19.38.10.csv"]
    assert len({r.attrs["sha256"] for r in runs}) == 5
    assert any("byte-identical" in m and "subject3/session2" in m for m in caplog.messages)
    # selected alone, session 2 keeps its copy of the file (nothing to deduplicate against)
    session2 = datasets.load("muse_n170", subject=3, session=2)
    assert [r.attrs["file"] for r in session2] == [
        "subject3/session2/data_2018-05-14-19.35.55.csv", "subject3/session2/data_2018-05-14-19.38.10.csv"]


def test_muse_selection_errors():
    with pytest.raises(BadInputError, match=r"subject=4 does not exist; available subjects: \[1, 2, 3, 10, 11\]"):
        datasets.load("muse_n170", subject=4)
    with pytest.raises(BadInputError, match=r"matches no run\. Available: subject 1 session 1, .*subject 3 session 3"):
        datasets.load("muse_n170", subject=1, session=2)
    with pytest.raises(BadInputError, match="session=9"):
        datasets.load("muse_n170", subject=[1, 2], session=[1, 9])
    with pytest.raises(BadInputError, match=r"unknown selection \['run'\]"):
        datasets.load("muse_n170", run=1)


def test_muse_list_selection():
    runs = datasets.load("muse_n170", subject=[2, 11])
    assert [(r.attrs["subject"], r.attrs["run"]) for r in runs] == [("2", 1), ("2", 2), ("11", 1)]


# --------------------------------------------------------------------------- eeglab_sample


def test_eeglab_continuous_matches_mne(data_home):
    import mne

    rec = datasets.load("eeglab_sample")
    assert validate(rec) == "recording"
    raw = mne.io.read_raw_eeglab(data_home / "eeglab_sample" / "eeglab_data.set", preload=True, verbose=False)
    assert list(rec["channel"].values) == raw.ch_names
    assert rec.attrs["sfreq"] == raw.info["sfreq"] == 128.0
    np.testing.assert_allclose(rec["signal"].values, raw.get_data(), rtol=1e-6, atol=1e-12)
    assert rec.sizes["event"] == len(raw.annotations) == 154


@pytest.mark.filterwarnings("ignore:At least one epoch:RuntimeWarning", "ignore:Not setting positions:RuntimeWarning")
def test_eeglab_epochs_match_mne(data_home):
    import mne

    ep = datasets.load("eeglab_sample", kind="epochs")
    assert validate(ep) == "epochs"
    ref = mne.read_epochs_eeglab(data_home / "eeglab_sample" / "eeglab_data_epochs_ica.set", verbose=False)
    assert ep.shape == ref.get_data().shape == (80, 32, 384)
    np.testing.assert_allclose(ep.values, ref.get_data(), rtol=1e-6, atol=1e-12)
    with pytest.raises(BadInputError, match="kind='raw' is not one of"):
        datasets.load("eeglab_sample", kind="raw")


# --------------------------------------------------------------------------- haxby2001


def test_haxby_single_run_matches_nibabel(data_home):
    import nibabel as nib

    bold = datasets.load("haxby2001", run=2)
    assert validate(bold) == "bold"
    img = nib.load(data_home / "haxby2001/sub001/BOLD/task001_run002/bold_1slice.nii.gz")
    data = np.asarray(img.get_fdata())
    assert bold.sizes["time"] == 121 and bold.attrs["tr"] == 2.5
    assert bold.sizes["voxel"] == int(np.prod(data.shape[:3]))
    for v in (0, 123, 799):
        i, j, k = (int(bold[c].values[v]) for c in ("i", "j", "k"))
        np.testing.assert_allclose(bold.values[:, v], data[i, j, k, :], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(bold.attrs["affine"]).reshape(4, 4), img.affine)
    events = pd.read_csv(data_home / "haxby2001/sub001/BOLD/task001_run002/bold_events.tsv", sep="\t")
    assert set(events["trial_type"]) <= set(bold["label"].values)


def test_haxby_runs_concatenated():
    bold = datasets.load("haxby2001", run=[1, 3])
    assert validate(bold) == "bold"
    assert bold.sizes["time"] == 242
    assert list(np.unique(bold["run"].values)) == [1, 3]


def test_haxby_25mm_with_mask(data_home):
    import nibabel as nib

    bold = datasets.load("haxby2001", run=1, resolution="25mm", mask="brain")
    mask = np.asarray(nib.load(data_home / "haxby2001/sub001/masks/25mm/brain.nii.gz").get_fdata()) > 0
    assert bold.sizes["voxel"] == int(mask.sum())
    with pytest.raises(BadInputError, match="25 mm mask"):
        datasets.load("haxby2001", run=1, mask="vt")
    with pytest.raises(BadInputError, match=r"run=13 does not exist"):
        datasets.load("haxby2001", run=13)
    with pytest.raises(BadInputError, match="resolution='3mm' is not one of"):
        datasets.load("haxby2001", run=1, resolution="3mm")


def test_haxby_confounds_from_motion_estimates(data_home):
    bold = datasets.load("haxby2001", run=4, confounds=True)
    moest = np.loadtxt(data_home / "haxby2001/sub001/BOLD/task001_run004/bold_moest.txt")
    confounds = sorted(c for c in bold.coords if c.startswith("confound_"))
    assert len(confounds) == moest.shape[1]
    np.testing.assert_allclose(bold[confounds[0]].values, moest[:, 0])


# --------------------------------------------------------------------------- reaching


def test_reaching_m1_matches_loadmat(data_home):
    from scipy.io import loadmat

    spikes = datasets.load("reaching_m1")
    assert validate(spikes) == "binned_spikes"
    raw = loadmat(data_home / "reaching_m1_s1" / "m1_stevenson_2011.mat")
    assert spikes.shape == (15536, 171)
    np.testing.assert_array_equal(spikes.values, raw["spikes"].T)
    assert spikes.attrs["bin_size"] == pytest.approx(0.05)


def test_reaching_s1_matches_loadmat(data_home):
    from scipy.io import loadmat

    spikes = datasets.load("reaching_s1")
    raw = loadmat(data_home / "reaching_m1_s1" / "s1_data.mat")
    assert spikes.shape == (35129, 52)
    np.testing.assert_array_equal(spikes.values, raw["spikes"])
    assert spikes.attrs["bin_size_assumed"] is True
    assert datasets.load("reaching_s1", bin_size=0.02).attrs["bin_size"] == 0.02


# --------------------------------------------------------------------------- NWB


def _h5_units(path):
    import h5py

    with h5py.File(path, "r") as f:
        index = f["units/spike_times_index"][:]
        times = f["units/spike_times"][:]
    return index, times


def test_nwb_mtl_matches_h5py(data_home):
    trains = datasets.load("nwb_mtl")
    assert validate(trains) == "spike_trains"
    index, times = _h5_units(data_home / "nwb_units" / "sub-4_ses-4_ecephys+image.nwb")
    assert trains.sizes["unit"] == len(index) == 35
    assert trains.sizes["spike"] == len(times) == 214278
    np.testing.assert_array_equal(trains["n_spikes"].values, np.diff(np.concatenate([[0], index])))
    assert trains.sizes["recognition_table"] == 180


def test_nwb_phy_matches_h5py(data_home):
    trains = datasets.load("nwb_phy")
    index, times = _h5_units(data_home / "nwb_units" / "A8604-211122.nwb")
    assert trains.sizes["unit"] == len(index) == 3 and trains.sizes["spike"] == len(times) == 21354


# --------------------------------------------------------------------------- mne_testing


@pytest.mark.parametrize(
    "fmt, fname, reader",
    [
        ("edf", "test_edf_overlapping_annotations.edf", "read_raw_edf"),
        ("edf_reduced", "test_reduced.edf", "read_raw_edf"),
        ("bdf", "multiple_annotation_chans.bdf", "read_raw_bdf"),
        ("fif", "test_elekta_3ch_raw.fif", "read_raw_fif"),
        ("brainvision", "test.vhdr", "read_raw_brainvision"),
    ],
)
def test_mne_testing_formats(data_home, fmt, fname, reader):
    import mne

    rec = datasets.load("mne_testing", format=fmt)
    assert validate(rec) == "recording"
    raw = getattr(mne.io, reader)(data_home / "mne_testing" / fname, preload=False, verbose=False)
    assert rec.attrs["sfreq"] == pytest.approx(raw.info["sfreq"])
    assert rec.sizes["time"] == raw.n_times
    assert set(raw.ch_names) & set(rec["channel"].values)


def test_mne_testing_unknown_format():
    with pytest.raises(BadInputError, match="format='gdf' is not one of"):
        datasets.load("mne_testing", format="gdf")
