"""from_bids on BIDS datasets written from the real recordings with mne-bids (EEG) and by hand (fMRI).

The EEG trees are written the way a user converts data (``mne_bids.write_raw_bids``): two
motor-imagery EDF runs of EEGMMIDB subject 1 (with 10-05 positions and a bad channel), the
BrainVision sample of MNE's test data and the EEGLAB tutorial recording. The fMRI tree holds
two Haxby 2001 runs (one-slice series, events, TR in a top-level sidecar) and an fMRIPrep-style
derivatives folder (the 25 mm series as ``desc-preproc``, the 25 mm brain mask, the motion
estimates as ``desc-confounds_timeseries.tsv``). Everything read back is compared with the
source files read by MNE, nibabel and pandas directly.
"""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from neurodecode.errors import BadInputError
from tests.conftest import require_data

mne = pytest.importorskip("mne")
mne_bids = pytest.importorskip("mne_bids")

pytestmark = pytest.mark.realdata

EDF_RUNS = {4: "S001R04.edf", 8: "S001R08.edf"}
HAXBY_RUNS = (1, 2)


@pytest.fixture(scope="module")
def eeg_bids(tmp_path_factory, data_home):
    """A BIDS EEG dataset: sub-001 (2 EDF runs), sub-02 (BrainVision), sub-03 (EEGLAB); and the sources."""
    root = tmp_path_factory.mktemp("bids_eeg") / "ds"
    sources = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mne-bids' notes on missing optional metadata
        for run, name in EDF_RUNS.items():
            path = require_data(data_home / "eegmmidb_s001" / name, "eegmmidb_s001")
            raw = mne.io.read_raw_edf(path, verbose=False)
            original = list(raw.ch_names)
            mne.datasets.eegbci.standardize(raw)  # 'Fc5.' -> 'FC5' to find the 10-05 positions ...
            raw.set_montage("standard_1005")
            raw.rename_channels(dict(zip(raw.ch_names, original)))  # ... then back to the names in the file
            raw.info["bads"] = ["T9.."]
            bp = mne_bids.BIDSPath(subject="001", task="imagery", run=run, datatype="eeg", root=root)
            mne_bids.write_raw_bids(raw, bp, overwrite=True, verbose=False)
            sources[("001", run)] = raw
        vhdr = require_data(data_home / "mne_testing" / "test.vhdr", "mne_testing")
        bv = mne.io.read_raw_brainvision(vhdr, verbose=False)
        mne_bids.write_raw_bids(bv, mne_bids.BIDSPath(subject="02", task="test", datatype="eeg", root=root),
                                overwrite=True, verbose=False)
        sources[("02", None)] = bv
        sset = require_data(data_home / "eeglab_sample" / "eeglab_data.set", "eeglab_sample")
        el = mne.io.read_raw_eeglab(sset, verbose=False)
        mne_bids.write_raw_bids(el, mne_bids.BIDSPath(subject="03", task="sample", datatype="eeg", root=root),
                                overwrite=True, verbose=False)
        sources[("03", None)] = el
    return root, sources


def _positions(raw):
    pos = np.array([ch["loc"][:3] for ch in raw.info["chs"]], dtype=float)
    pos[(pos == 0).all(axis=1)] = np.nan
    return pos


def _check_against(rec, raw, events_tsv):
    """Values, channels, types and events of ``rec`` equal the source ``raw`` and the events.tsv."""
    np.testing.assert_array_equal(rec["channel"].values, raw.ch_names)
    np.testing.assert_array_equal(rec["ch_type"].values, raw.get_channel_types())
    np.testing.assert_allclose(rec["signal"].values, raw.get_data(), rtol=0, atol=0)
    assert rec.attrs["sfreq"] == raw.info["sfreq"]
    table = pd.read_csv(events_tsv, sep="\t", na_values=["n/a"], keep_default_na=False)
    np.testing.assert_allclose(rec["onset"].values, table["onset"].to_numpy(dtype=float))
    np.testing.assert_allclose(rec["duration"].values, table["duration"].to_numpy(dtype=float))
    np.testing.assert_array_equal(rec["label"].values.astype(str), table["trial_type"].astype(str).to_numpy())
    for col in table.columns:
        assert col in rec, f"events.tsv column {col!r} was not kept"


def test_edf_runs_equal_source(eeg_bids):
    from neurodecode.datasets import from_bids

    root, sources = eeg_bids
    recs = from_bids(root, subject="001", task="imagery")
    assert isinstance(recs, list) and [r.attrs["run"] for r in recs] == [4, 8]
    for rec in recs:
        raw = sources[("001", rec.attrs["run"])]
        assert (rec.attrs["subject"], rec.attrs["task"], rec.attrs["datatype"]) == ("001", "imagery", "eeg")
        assert rec.attrs["bids_entities"] == {"subject": "001", "task": "imagery", "run": str(rec.attrs["run"])}
        events = root / "sub-001" / "eeg" / f"sub-001_task-imagery_run-{rec.attrs['run']}_events.tsv"
        _check_against(rec, raw, events)
        # the EDF+ annotations of the source: T0 rest, T1/T2 cues, 30 per run
        ann = raw.annotations
        np.testing.assert_allclose(rec["onset"].values, ann.onset - raw.first_time, atol=1e-6)
        np.testing.assert_array_equal(rec["label"].values.astype(str), ann.description)
        # positions: electrodes.tsv -> head frame, equal to the montage set on the source
        pos = np.stack([rec[c].values for c in ("pos_x", "pos_y", "pos_z")], axis=1)
        np.testing.assert_allclose(pos, _positions(raw), atol=1e-6)
        # bad channel from channels.tsv
        assert rec.attrs["bads"] == ["T9.."]
        assert rec.attrs["sidecar"]["SamplingFrequency"] == 160.0
        assert rec.attrs["sidecar"]["TaskName"] == "imagery"
    # run selection: int and zero-padded text both match run-4
    one = from_bids(root, subject="001", run="04")
    assert not isinstance(one, list) and one.attrs["run"] == 4
    assert from_bids(root, subject="001", run=[8]).attrs["run"] == 8


def test_brainvision_and_eeglab_equal_source(eeg_bids):
    from neurodecode.datasets import from_bids

    root, sources = eeg_bids
    bv = from_bids(root, subject="02")
    _check_against(bv, sources[("02", None)], root / "sub-02" / "eeg" / "sub-02_task-test_events.tsv")
    assert list(bv["ch_type"].values).count("misc") == 6  # channels.tsv types kept (26 EEG + 6 MISC)
    raw_bv = sources[("02", None)]
    np.testing.assert_array_equal(bv["label"].values.astype(str), raw_bv.annotations.description)
    # the BrainVision marker values ride along as per-event variables
    assert "value" in bv and bv["value"].size == len(raw_bv.annotations)

    el = from_bids(root, subject="03", task="sample", datatype="eeg")
    raw_el = sources[("03", None)]
    _check_against(el, raw_el, root / "sub-03" / "eeg" / "sub-03_task-sample_events.tsv")
    assert sorted(set(el["label"].values.astype(str))) == ["rt", "square"]
    assert (el["label"].values == "square").sum() == 80 and (el["label"].values == "rt").sum() == 74
    pos = np.stack([el[c].values for c in ("pos_x", "pos_y", "pos_z")], axis=1)
    np.testing.assert_allclose(pos, _positions(raw_el), atol=1e-6)


def test_extra_event_columns_and_clashing_names(eeg_bids, tmp_path):
    from neurodecode.datasets import from_bids

    root, _ = eeg_bids
    copy = tmp_path / "ds"
    shutil.copytree(root / "sub-02", copy / "sub-02")
    shutil.copy(root / "dataset_description.json", copy)
    events = copy / "sub-02" / "eeg" / "sub-02_task-test_events.tsv"
    table = pd.read_csv(events, sep="\t", keep_default_na=False)
    table["response_time"] = ["n/a"] + [f"{0.1 * i:.1f}" for i in range(1, len(table))]
    table["code"] = [f"c{i}" for i in range(len(table))]
    table.to_csv(events, sep="\t", index=False)
    with pytest.warns(UserWarning, match="renamed"):
        rec = from_bids(copy, subject="02")
    assert np.isnan(rec["response_time"].values[0])
    np.testing.assert_allclose(rec["response_time"].values[1:], 0.1 * np.arange(1, len(table)))
    assert list(rec["tsv_code"].values) == list(table["code"])
    assert rec.attrs["renamed_event_columns"] == ["code->tsv_code"]


def test_selection_errors_list_what_exists(eeg_bids):
    from neurodecode.datasets import from_bids, list_bids

    root, _ = eeg_bids
    with pytest.raises(BadInputError, match=r"available subjects: \['001', '02', '03'\].*subject='001'"):
        from_bids(root, subject="1")
    with pytest.raises(BadInputError, match=r"available tasks: .*did you mean task='imagery'"):
        from_bids(root, task="imagry")
    with pytest.raises(BadInputError, match=r"no run 5 .*available runs: \['4', '8'\]"):
        from_bids(root, subject="001", run=5)
    with pytest.raises(BadInputError, match="datatype='fmri' is not read here"):
        from_bids(root, datatype="fmri")
    with pytest.raises(BadInputError, match="no datatype 'func'"):
        from_bids(root, datatype="func")
    with pytest.raises(BadInputError, match="does not exist"):
        from_bids(root / "nope")
    assert [f.describe() for f in list_bids(root, subject=["02", "03"])] == [
        "sub-02 task-test (eeg)", "sub-03 task-sample (eeg)"]


# --------------------------------------------------------------------------- fMRI


@pytest.fixture(scope="module")
def fmri_bids(tmp_path_factory, data_home):
    """BIDS tree of Haxby runs 1-2 with an fMRIPrep-style derivatives folder."""
    src = require_data(data_home / "haxby2001" / "sub001", "haxby2001")
    root = tmp_path_factory.mktemp("bids_fmri") / "haxby"
    func = root / "sub-1" / "func"
    func.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "Haxby 2001 (2 runs)", "BIDSVersion": "1.10.0"}))
    (root / "task-objectviewing_bold.json").write_text(json.dumps({"RepetitionTime": 2.5, "TaskName": "objectviewing"}))
    deriv = root / "derivatives" / "fmriprep" / "sub-1" / "func"
    deriv.mkdir(parents=True)
    (root / "derivatives" / "fmriprep" / "dataset_description.json").write_text(json.dumps(
        {"Name": "x", "BIDSVersion": "1.10.0", "DatasetType": "derivative", "GeneratedBy": [{"Name": "test"}]}))
    for run in HAXBY_RUNS:
        base = src / "BOLD" / f"task001_run{run:03d}"
        stem = f"sub-1_task-objectviewing_run-{run}"
        shutil.copy(base / "bold_1slice.nii.gz", func / f"{stem}_bold.nii.gz")
        shutil.copy(base / "bold_events.tsv", func / f"{stem}_events.tsv")
        shutil.copy(base / "bold_25mm.nii.gz", deriv / f"{stem}_space-haxby25mm_desc-preproc_bold.nii.gz")
        shutil.copy(src / "masks" / "25mm" / "brain.nii.gz", deriv / f"{stem}_space-haxby25mm_desc-brain_mask.nii.gz")
        moest = np.loadtxt(base / "bold_moest.txt")
        pd.DataFrame(moest, columns=[f"moest_{k}" for k in range(6)]).to_csv(
            deriv / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", index=False)
    return root, src


def test_fmri_runs_equal_source(fmri_bids):
    import nibabel as nib

    from neurodecode.datasets import from_bids

    root, src = fmri_bids
    runs = from_bids(root, task="objectviewing", datatype="func")
    assert [b.attrs["run"] for b in runs] == [1, 2]
    for bold in runs:
        run = bold.attrs["run"]
        base = src / "BOLD" / f"task001_run{run:03d}"
        img = nib.load(base / "bold_1slice.nii.gz")
        data = np.asarray(img.get_fdata())
        ijk = np.stack([bold[c].values for c in ("i", "j", "k")], axis=1)
        np.testing.assert_allclose(bold.values, data[ijk[:, 0], ijk[:, 1], ijk[:, 2], :].T)
        assert bold.sizes["voxel"] == 40 * 20 and bold.sizes["time"] == 121
        assert bold.attrs["tr"] == 2.5 and bold.attrs["sidecar"]["TaskName"] == "objectviewing"
        assert (bold.attrs["subject"], bold.attrs["task"]) == ("1", "objectviewing")
        assert set(bold["run"].values) == {run}
        table = pd.read_csv(base / "bold_events.tsv", sep="\t")
        assert bold.attrs["events"]["trial_type"] == table["trial_type"].tolist()
        # the volume acquired at each block onset carries the block's label
        for onset, ttype in zip(table["onset"], table["trial_type"]):
            assert bold["label"].values[int(np.ceil(onset / 2.5 - 1e-9))] == ttype
        assert "confound_moest_0" not in bold.coords


def test_fmri_derivatives_mask_and_confounds(fmri_bids):
    import nibabel as nib

    from neurodecode.datasets import from_bids

    root, src = fmri_bids
    bold = from_bids(root, run=2, derivatives="fmriprep")
    base = src / "BOLD" / "task001_run002"
    mask = np.asarray(nib.load(src / "masks" / "25mm" / "brain.nii.gz").get_fdata()) != 0
    data = np.asarray(nib.load(base / "bold_25mm.nii.gz").get_fdata())
    assert bold.sizes["voxel"] == int(mask.sum())
    np.testing.assert_allclose(bold.values, data[mask].T)
    moest = np.loadtxt(base / "bold_moest.txt")
    for k in range(6):
        np.testing.assert_allclose(bold[f"confound_moest_{k}"].values, moest[:, k])
    assert bold.attrs["mask_file"].endswith("desc-brain_mask.nii.gz")
    assert bold.attrs["preproc_file"].endswith("desc-preproc_bold.nii.gz")
    one = from_bids(root, run=1, derivatives=root / "derivatives" / "fmriprep", confounds=["moest_3"])
    assert [c for c in one.coords if c.startswith("confound_")] == ["confound_moest_3"]
    with pytest.raises(BadInputError, match="did you mean 'moest_3'"):
        from_bids(root, run=1, derivatives="fmriprep", confounds=["moest3"])
    with pytest.raises(BadInputError, match=r"available: \['fmriprep'\]"):
        from_bids(root, run=1, derivatives="fmriprp")


def test_bids_files_lists_what_is_read(fmri_bids, eeg_bids):
    from neurodecode.datasets import bids_files

    root, _ = fmri_bids
    names = {p.name for p in bids_files(root, run=1, derivatives="fmriprep")}
    assert {"sub-1_task-objectviewing_run-1_bold.nii.gz", "sub-1_task-objectviewing_run-1_events.tsv",
            "task-objectviewing_bold.json", "dataset_description.json",
            "sub-1_task-objectviewing_run-1_desc-confounds_timeseries.tsv"} <= names
    assert not any("run-2" in n for n in names)
    eroot, _ = eeg_bids
    names = {p.name for p in bids_files(eroot, subject="03")}
    assert {"sub-03_task-sample_eeg.set", "sub-03_task-sample_eeg.fdt", "sub-03_task-sample_channels.tsv",
            "sub-03_space-CapTrak_electrodes.tsv", "sub-03_task-sample_events.tsv"} <= names


# --------------------------------------------------------------------------- registry cards


def test_registry_card_for_a_bids_dataset(eeg_bids, tmp_path, monkeypatch):
    """A card with ``bids:`` makes datasets.load return what from_bids returns, verifying only the selection."""
    import hashlib

    import xarray as xr
    import yaml

    from neurodecode import datasets
    from neurodecode.datasets import cards as cards_mod
    from neurodecode.errors import DatasetError

    root, _ = eeg_bids
    home = tmp_path / "home"
    folder = home / "tinybids"
    shutil.copytree(root, folder, ignore=shutil.ignore_patterns("sub-02"))
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        entries.append({"path": rel, "size": path.stat().st_size,
                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                        "url": f"https://example.org/tinybids/{rel}"})
    card = {
        "name": "tinybids", "title": "two EEG subjects in BIDS", "modality": "eeg", "kinds": ["recording"],
        "folder": "tinybids", "description": "EEGMMIDB S001 runs 4 and 8; the EEGLAB sample.",
        "licence": "ODC-By 1.0; BSD-2-Clause", "licence_short": "ODC-By",
        "citations": [{"text": "Schalk et al. 2004 IEEE TBME", "doi": "10.1109/TBME.2004.827072"}],
        "sources": [{"repository": "example/tinybids", "commit": "0" * 40, "path": "."}],
        "selection": {"subject": {"values": ["001", "03"], "help": "BIDS subject label"}},
        "bids": {"root": "."},
        "files": entries,
    }
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "tinybids.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    monkeypatch.setattr(cards_mod, "cards_dir", lambda: cards)
    monkeypatch.setenv("NEURODECODE_DATA", str(home))
    monkeypatch.setenv("NEURODECODE_OFFLINE", "1")

    loaded = datasets.load("tinybids", subject="001", run=8)
    direct = datasets.from_bids(folder, subject="001", run=8)
    assert loaded.attrs.pop("dataset") == "tinybids"
    xr.testing.assert_identical(loaded, direct)
    assert loaded.attrs == direct.attrs

    # only the selection's files are verified: a damaged file of another subject does not matter ...
    fdt = folder / "sub-03" / "eeg" / "sub-03_task-sample_eeg.fdt"
    data = bytearray(fdt.read_bytes())
    data[100] ^= 0xFF
    fdt.write_bytes(bytes(data))
    assert len(datasets.load("tinybids", subject="001")) == 2
    # ... but it is refused when selected
    with pytest.raises(DatasetError, match="sha256"):
        datasets.load("tinybids", subject="03")
    with pytest.raises(BadInputError, match="unknown selection"):
        datasets.load("tinybids", subjects="001")


def test_openneuro_card_and_the_message_when_its_files_are_absent(tmp_path, monkeypatch):
    """The registered BIDS dataset eegmmidb_bids (OpenNeuro ds004362 v1.0.0): pinned URLs and checksums; offline
    without the files, datasets.load names the files of the selection, their URLs and where to put them."""
    from neurodecode import datasets
    from neurodecode.errors import DatasetError

    card = datasets.info("eegmmidb_bids")
    assert card.bids is not None and card.bids.root == "."
    assert "10.18112/openneuro.ds004362.v1.0.0" in {c.doi for c in card.citations}
    sets = [f for f in card.files if f.path.endswith("_eeg.set")]
    assert len(sets) == 14 and all("?versionId=" in f.url for f in sets)
    assert all(f.url.startswith("https://s3.amazonaws.com/openneuro.org/ds004362/sub-001/eeg/") for f in sets)
    small = [f for f in card.files if f not in sets]
    assert all(f.url.startswith("https://raw.githubusercontent.com/OpenNeuroDatasets/ds004362/"
                                "af0c461f23e8a7aa782475e3c22d160bc39eb170/") for f in small)
    assert {"dataset_description.json", "participants.tsv", "task-motion_events.json"} <= {f.path for f in small}
    monkeypatch.setenv("NEURODECODE_DATA", str(tmp_path))
    monkeypatch.setenv("NEURODECODE_OFFLINE", "1")
    with pytest.raises(DatasetError) as caught:
        datasets.load("eegmmidb_bids", subject="001", run=4)
    text = str(caught.value)
    assert "downloads are disabled (NEURODECODE_OFFLINE=1)" in text
    assert "sub-001/eeg/sub-001_task-motion_run-4_eeg.set" in text and "versionId=" in text
    assert "run-8_" not in text  # only the selection's files are asked for
    assert str(tmp_path / "eegmmidb_bids") in text
    with pytest.raises(BadInputError, match="unknown selection"):
        datasets.load("eegmmidb_bids", runs=4)


def test_meg_fif_equal_source(tmp_path, data_home):
    """MEG through the same path: the 3-sensor Elekta FIF of MNE's test data (mag, 2 grads, stim)."""
    from neurodecode.datasets import from_bids
    from neurodecode.loaders.eeg import read_eeg

    fif = require_data(data_home / "mne_testing" / "test_elekta_3ch_raw.fif", "mne_testing")
    raw = mne.io.read_raw_fif(fif, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mne_bids.write_raw_bids(raw, mne_bids.BIDSPath(subject="01", task="noise", datatype="meg", root=tmp_path),
                                overwrite=True, verbose=False)
    rec = from_bids(tmp_path, datatype="meg")
    assert rec.attrs["modality"] == "meg" and rec.attrs["datatype"] == "meg"
    np.testing.assert_array_equal(rec["ch_type"].values, ["mag", "grad", "grad", "stim"])
    np.testing.assert_array_equal(rec["signal"].values, raw.get_data())
    pos = np.stack([rec[c].values for c in ("pos_x", "pos_y", "pos_z")], axis=1)
    np.testing.assert_allclose(pos, _positions(raw))
    assert rec.attrs["line_freq"] == raw.info["line_freq"] == 50.0
    # no events.tsv: trigger-channel events are read as read_eeg reads them from the source file
    direct = read_eeg(fif)
    np.testing.assert_array_equal(rec["onset"].values, direct["onset"].values)
