"""fMRI loader tests: real Haxby 2001 files checked against nibabel/pandas, synthetic bad input."""

from __future__ import annotations

import hashlib
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from tests.conftest import require_data
import xarray as xr

from neurodecode import io
from neurodecode.datamodel import validate
from neurodecode.errors import BadInputError
from neurodecode.loaders.fmri import extract_rois, read_bold, read_events_tsv, to_nifti

TR = 2.5


@pytest.fixture(scope="module")
def haxby(data_home):
    return require_data(data_home / "haxby2001" / "sub001", "haxby2001")


def _run(haxby, n=1, kind="1slice"):
    folder = haxby / "BOLD" / f"task001_run{n:03d}"
    return folder / f"bold_{kind}.nii.gz", folder / "bold_events.tsv"


def _expected_labels(tsv, n_vols, tr=TR):
    """Trial type at each volume's start time, from pandas directly."""
    ev = pd.read_csv(tsv, sep="\t")
    out = []
    for t in np.arange(n_vols) * tr:
        hit = ev[(ev["onset"] <= t) & (t < ev["onset"] + ev["duration"])]
        out.append(hit["trial_type"].iloc[-1] if len(hit) else "rest")
    return np.array(out, dtype=object)


def _synthetic_img(path, data, tr=2.0, affine=None):
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms(img.header.get_zooms()[:3] + (tr,))
    nib.save(img, str(path))
    return path


# --------------------------------------------------------------------------- read_bold on real data


@pytest.mark.realdata
def test_read_bold_matches_nibabel(haxby):
    bold_path, tsv = _run(haxby, 1)
    ref = nib.load(str(bold_path))
    data = ref.get_fdata()
    bold = read_bold(bold_path, tsv, run=1, subject="1")
    validate(bold, "bold")
    assert bold.dims == ("time", "voxel")
    assert bold.shape == (121, 40 * 20 * 1)
    ijk = np.stack([bold["i"].values, bold["j"].values, bold["k"].values], axis=1)
    np.testing.assert_array_equal(bold.values, data[ijk[:, 0], ijk[:, 1], ijk[:, 2], :].T)
    np.testing.assert_allclose(np.asarray(bold.attrs["affine"]).reshape(4, 4), ref.affine)
    assert list(bold.attrs["shape"]) == [40, 20, 1]
    assert bold.attrs["tr"] == pytest.approx(2.5)
    np.testing.assert_allclose(bold["time"].values, np.arange(121) * 2.5)
    assert bold.attrs["sha256"] == hashlib.sha256(bold_path.read_bytes()).hexdigest()
    assert bold.attrs["source"] == str(bold_path)
    assert bold.attrs["subject"] == "1"
    assert set(bold["run"].values.tolist()) == {1}
    # every voxel of the volume exactly once
    assert len({tuple(v) for v in ijk.tolist()}) == 800


@pytest.mark.realdata
def test_labels_agree_with_tsv(haxby):
    bold_path, tsv = _run(haxby, 3)
    bold = read_bold(bold_path, tsv, run=3)
    np.testing.assert_array_equal(bold["label"].values, _expected_labels(tsv, 121))
    ev = pd.read_csv(tsv, sep="\t")
    assert bold.attrs["events"]["onset"] == ev["onset"].tolist()
    assert bold.attrs["events"]["duration"] == ev["duration"].tolist()
    assert bold.attrs["events"]["trial_type"] == ev["trial_type"].tolist()
    counts = pd.Series(bold["label"].values).value_counts()
    for cat in ev["trial_type"]:
        assert counts[cat] == 9  # 22.5 s blocks at TR 2.5 s
    # a DataFrame or an events Dataset give the same labels as the path
    from_df = read_bold(bold_path, ev)
    from_ds = read_bold(bold_path, read_events_tsv(tsv))
    np.testing.assert_array_equal(from_df["label"].values, bold["label"].values)
    np.testing.assert_array_equal(from_ds["label"].values, bold["label"].values)


@pytest.mark.realdata
def test_read_bold_with_mask_and_confounds(haxby):
    bold_path, _ = _run(haxby, 2, "25mm")
    mask_path = haxby / "masks" / "25mm" / "brain.nii.gz"
    moest = bold_path.parent / "bold_moest.txt"
    bold = read_bold(bold_path, mask=mask_path, confounds=moest)
    mask = nib.load(str(mask_path)).get_fdata() != 0
    data = nib.load(str(bold_path)).get_fdata()
    assert bold.sizes["voxel"] == int(mask.sum())
    np.testing.assert_array_equal(bold.values, data[mask].T)
    ijk = np.stack([bold[c].values for c in "ijk"], axis=1)
    np.testing.assert_array_equal(ijk, np.argwhere(mask))
    motion = np.loadtxt(moest)
    for c in range(motion.shape[1]):
        np.testing.assert_allclose(bold[f"confound_c{c}"].values, motion[:, c])
    with pytest.raises(BadInputError, match="rows"):
        read_bold(bold_path, confounds=motion[:100])


@pytest.mark.realdata
def test_epi_mask(haxby):
    bold_path, _ = _run(haxby, 1, "25mm")
    bold = read_bold(bold_path, mask="epi")
    data = nib.load(str(bold_path)).get_fdata()
    assert 0 < bold.sizes["voxel"] < 600
    np.testing.assert_array_equal(bold.values, data[bold["i"].values, bold["j"].values, bold["k"].values].T)
    assert bold.attrs["mask"] == "epi"
    # one slice: the default morphological opening empties the mask -> clear error, and the hint works
    thin, _ = _run(haxby, 1)
    with pytest.raises(BadInputError, match="opening"):
        read_bold(thin, mask="epi")
    assert read_bold(thin, mask="epi", mask_kwargs={"opening": 0}).sizes["voxel"] > 100


@pytest.mark.realdata
def test_read_events_tsv(haxby):
    _, tsv = _run(haxby, 5)
    ev = read_events_tsv(tsv)
    validate(ev, "events")
    ref = pd.read_csv(tsv, sep="\t")
    np.testing.assert_allclose(ev["onset"].values, ref["onset"].to_numpy())
    np.testing.assert_allclose(ev["duration"].values, ref["duration"].to_numpy())
    assert ev["label"].values.tolist() == ref["trial_type"].tolist()
    assert ev.attrs["source"] == str(tsv)


# --------------------------------------------------------------------------- to_nifti


@pytest.mark.realdata
def test_to_nifti_inverts_read_bold(haxby, tmp_path):
    bold_path, tsv = _run(haxby, 4, "25mm")
    mask_path = haxby / "masks" / "25mm" / "gray.nii.gz"
    bold = read_bold(bold_path, tsv, mask=mask_path)
    img = to_nifti(bold)
    ref = nib.load(str(bold_path))
    mask = nib.load(str(mask_path)).get_fdata() != 0
    out = img.get_fdata()
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out[mask], ref.get_fdata()[mask])
    assert np.all(out[~mask] == 0)
    np.testing.assert_allclose(img.affine, ref.affine)
    assert img.header.get_zooms()[3] == pytest.approx(2.5)
    # written to disk and read back: the same bold
    nib.save(img, str(tmp_path / "back.nii.gz"))
    again = read_bold(tmp_path / "back.nii.gz", tsv, mask=mask_path)
    np.testing.assert_array_equal(again.values, bold.values)
    np.testing.assert_array_equal(again["label"].values, bold["label"].values)


@pytest.mark.realdata
def test_to_nifti_whole_volume_exact(haxby):
    bold_path, _ = _run(haxby, 1)
    ref = nib.load(str(bold_path))
    img = to_nifti(read_bold(bold_path))
    np.testing.assert_array_equal(img.get_fdata(), ref.get_fdata())
    np.testing.assert_allclose(img.affine, ref.affine)


def test_to_nifti_rejects_roi_bold():
    from neurodecode.datamodel import make_bold

    with pytest.raises(BadInputError, match="voxel"):
        to_nifti(make_bold(np.zeros((4, 2)), 2.0, roi=["a", "b"]))


@pytest.mark.realdata
def test_save_open_roundtrip(haxby, tmp_path):
    bold_path, tsv = _run(haxby, 1, "25mm")
    bold = read_bold(bold_path, tsv, mask=haxby / "masks" / "25mm" / "brain.nii.gz", run=1)
    back = io.open(io.save(bold, tmp_path / "bold.nc"), chunks=None)
    xr.testing.assert_identical(back, bold)


# --------------------------------------------------------------------------- bad input


@pytest.mark.realdata
@pytest.mark.parametrize("n_bytes", [200, 20_000])
def test_truncated_file(haxby, tmp_path, n_bytes):
    bold_path, _ = _run(haxby, 1)
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(bold_path.read_bytes()[:n_bytes])
    with pytest.raises(BadInputError, match="truncated"):
        read_bold(broken)


def test_missing_file(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        read_bold(tmp_path / "nope.nii.gz")


@pytest.mark.realdata
def test_mask_of_wrong_grid(haxby):
    bold_path, _ = _run(haxby, 1)  # 40x20x1 slice
    with pytest.raises(BadInputError, match="resample_to_img") as err:
        read_bold(bold_path, mask=haxby / "masks" / "25mm" / "brain.nii.gz")
    assert "(6, 10, 10)" in str(err.value) and "(40, 20, 1)" in str(err.value)


@pytest.mark.realdata
def test_events_beyond_scan(haxby):
    bold_path, _ = _run(haxby, 1)
    events = pd.DataFrame({"onset": [15.0, 400.0], "duration": [22.5, 22.5], "trial_type": ["face", "house"]})
    with pytest.raises(BadInputError, match="outside the scan"):
        read_bold(bold_path, events)


def test_events_missing_column(tmp_path):
    path = _synthetic_img(tmp_path / "a.nii.gz", np.ones((2, 2, 2, 5)))
    with pytest.raises(BadInputError, match="trial_type"):
        read_bold(path, pd.DataFrame({"onset": [0.0], "duration": [1.0]}))


def test_nan_voxel(tmp_path):
    data = np.random.default_rng(0).normal(size=(3, 3, 2, 10))
    data[1, 2, 0, 4] = np.nan
    path = _synthetic_img(tmp_path / "nan.nii.gz", data)
    with pytest.raises(BadInputError, match=r"NaN.*\[1, 2, 0\]"):
        read_bold(path)
    with pytest.warns(UserWarning, match="dropped 1 voxel"):
        bold = read_bold(path, nonfinite="drop")
    assert bold.sizes["voxel"] == 17
    assert bold.attrs["dropped_voxels"] == [[1, 2, 0]]
    # a mask excluding the voxel is fine
    mask = np.ones((3, 3, 2), dtype=bool)
    mask[1, 2, 0] = False
    assert read_bold(path, mask=mask).sizes["voxel"] == 17


def test_missing_tr(tmp_path):
    path = _synthetic_img(tmp_path / "notr.nii.gz", np.ones((2, 2, 2, 6)), tr=0.0)
    with pytest.raises(BadInputError, match="tr="):
        read_bold(path)
    bold = read_bold(path, tr=1.5)
    assert bold.attrs["tr"] == 1.5
    np.testing.assert_allclose(bold["time"].values, np.arange(6) * 1.5)


def test_tr_in_milliseconds(tmp_path):
    img = nib.Nifti1Image(np.ones((2, 2, 2, 4), dtype=np.float32), np.eye(4))
    img.header.set_xyzt_units("mm", "msec")
    img.header.set_zooms((1.0, 1.0, 1.0, 2000.0))
    assert read_bold(img).attrs["tr"] == pytest.approx(2.0)


def test_not_4d(tmp_path):
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2), dtype=np.float32), np.eye(4)), str(path))
    with pytest.raises(BadInputError, match="4-D"):
        read_bold(path)


def test_event_labels_synthetic(tmp_path):
    """Overlaps: later onset wins; zero-duration events label the next volume; slice_time_ref shifts times."""
    path = _synthetic_img(tmp_path / "s.nii.gz", np.zeros((1, 1, 1, 8)), tr=2.0)
    events = pd.DataFrame(
        {"onset": [2.0, 5.0, 11.0], "duration": [6.0, 2.0, 0.0], "trial_type": ["a", "b", "c"]}
    )
    bold = read_bold(path, events)
    # times 0 2 4 6 8 10 12 14
    assert bold["label"].values.tolist() == ["rest", "a", "a", "b", "rest", "rest", "c", "rest"]
    mid = read_bold(path, events, slice_time_ref=0.5)  # times 1 3 5 7 ...
    np.testing.assert_allclose(mid["time"].values, np.arange(8) * 2.0 + 1.0)
    assert mid["label"].values.tolist() == ["rest", "a", "b", "a", "rest", "c", "rest", "rest"]


# --------------------------------------------------------------------------- extract_rois


@pytest.fixture(scope="module")
def bold25(haxby):
    bold_path, tsv = _run(haxby, 1, "25mm")
    return bold_path, tsv, nib.load(str(bold_path)).get_fdata()


@pytest.mark.realdata
def test_rois_from_labels_image(haxby, bold25):
    bold_path, tsv, data = bold25
    labels_path = haxby / "masks" / "25mm" / "hoc.nii.gz"
    labels = np.rint(nib.load(str(labels_path)).get_fdata()).astype(int)
    values = np.unique(labels[labels > 0])
    rois = extract_rois(bold_path, labels_img=labels_path)
    validate(rois, "bold")
    assert rois.dims == ("time", "roi")
    assert rois["roi"].values.tolist() == [str(v) for v in values]
    np.testing.assert_array_equal(rois["label_value"].values, values)
    expected = np.stack([data[labels == v].mean(axis=0) for v in values], axis=1)
    np.testing.assert_allclose(rois.values, expected, rtol=1e-5)
    assert rois.attrs["masker"] == "NiftiLabelsMasker"
    assert rois.attrs["tr"] == pytest.approx(2.5)
    # from a bold DataArray: its time coords survive, and its mask restricts the regions
    mask_path = haxby / "masks" / "25mm" / "brain.nii.gz"
    bold = read_bold(bold_path, tsv, mask=mask_path, run=1)
    sub = extract_rois(bold, labels_img=labels_path)
    brain = nib.load(str(mask_path)).get_fdata() != 0
    inside = [v for v in values if (brain & (labels == v)).any()]
    expected = np.stack([data[brain & (labels == v)].mean(axis=0) for v in inside], axis=1)
    assert sub["roi"].values.tolist() == [str(v) for v in inside]
    np.testing.assert_allclose(sub.values, expected, rtol=1e-5)
    np.testing.assert_array_equal(sub["label"].values, bold["label"].values)
    np.testing.assert_array_equal(sub["run"].values, bold["run"].values)


@pytest.mark.realdata
def test_rois_from_masks(haxby, bold25):
    bold_path, _, data = bold25
    masks = {name: haxby / "masks" / "25mm" / f"{name}.nii.gz" for name in ("gray", "vt")}
    rois = extract_rois(bold_path, mask_img=masks)
    assert rois["roi"].values.tolist() == ["gray", "vt"]
    for n, path in enumerate(masks.values()):
        m = nib.load(str(path)).get_fdata() != 0
        np.testing.assert_allclose(rois.values[:, n], data[m].mean(axis=0), rtol=1e-5)
        assert rois["n_voxels"].values[n] == m.sum()
    single = extract_rois(bold_path, mask_img=masks["gray"])
    assert single["roi"].values.tolist() == ["gray"]


@pytest.mark.realdata
def test_rois_from_spheres(bold25):
    bold_path, _, data = bold25
    affine = nib.load(str(bold_path)).affine
    voxels = np.array([[2, 3, 4], [3, 5, 5], [1, 7, 6]])
    centres = voxels @ affine[:3, :3].T + affine[:3, 3]
    rois = extract_rois(bold_path, spheres=centres, radius=5.0)  # < voxel size: only the centre voxel
    np.testing.assert_allclose(rois["x"].values, centres[:, 0])
    np.testing.assert_allclose(rois["z"].values, centres[:, 2])
    for n, (i, j, k) in enumerate(voxels):
        np.testing.assert_allclose(rois.values[:, n], data[i, j, k], rtol=1e-5)
    # a radius of 26 mm takes the 6 face neighbours too
    big = extract_rois(bold_path, spheres=centres[:1], radius=26.0)
    i, j, k = voxels[0]
    hood = [data[i, j, k]] + [data[i + a, j + b, k + c] for a, b, c in
                              [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]]
    np.testing.assert_allclose(big.values[:, 0], np.mean(hood, axis=0), rtol=1e-5)
    with pytest.raises(BadInputError, match="on_empty"):
        extract_rois(bold_path, spheres=[[500.0, 0.0, 0.0]])


@pytest.mark.realdata
@pytest.mark.parametrize("atlas,n_rois", [("power2011", 264), ("dosenbach2010", 160)])
def test_rois_from_atlas_offline(haxby, bold25, atlas, n_rois):
    from nilearn import datasets

    bold_path, _, data = bold25
    affine = nib.load(str(bold_path)).affine
    rois = extract_rois(bold_path, atlas=atlas, allow_overlap=True)
    assert rois.shape == (121, n_rois)
    assert rois.attrs["atlas"] == atlas
    fetch = datasets.fetch_coords_power_2011 if atlas == "power2011" else datasets.fetch_coords_dosenbach_2010
    coords = fetch().rois[["x", "y", "z"]].to_numpy(dtype=float)
    np.testing.assert_allclose(np.c_[rois["x"].values, rois["y"].values, rois["z"].values], coords)
    # 5 mm spheres on 25 mm voxels hold only the voxel nearest their centre
    inv = np.linalg.inv(affine)
    for n in (0, n_rois // 2, n_rois - 1):
        i, j, k = np.round(inv[:3, :3] @ coords[n] + inv[:3, 3]).astype(int)
        np.testing.assert_allclose(rois.values[:, n], data[i, j, k], rtol=1e-5)
    # overlap is refused by default (nilearn's rule), with a hint
    with pytest.raises(BadInputError, match="allow_overlap"):
        extract_rois(bold_path, atlas=atlas)
    # inside the brain mask some centres hold no voxel: dropped on request, and reported
    bold = read_bold(bold_path, mask=haxby / "masks" / "25mm" / "brain.nii.gz")
    with pytest.warns(UserWarning, match="empty sphere"):
        kept = extract_rois(bold, atlas=atlas, allow_overlap=True, on_empty="drop")
    assert kept.sizes["roi"] + len(kept.attrs["dropped_rois"]) == n_rois
    assert not set(kept["roi"].values) & set(kept.attrs["dropped_rois"])


def test_extract_rois_needs_one_region_kind(tmp_path):
    path = _synthetic_img(tmp_path / "r.nii.gz", np.ones((2, 2, 2, 3)))
    with pytest.raises(BadInputError, match="give"):
        extract_rois(path)
    with pytest.raises(BadInputError, match="only one"):
        extract_rois(path, atlas="power2011", spheres=[[0, 0, 0]])
    with pytest.raises(BadInputError, match="unknown atlas"):
        extract_rois(path, atlas="aal")


def test_extract_rois_synthetic_labels(tmp_path):
    """Labels image in the same space as a synthetic series: exact means per label."""
    rng = np.random.default_rng(1)
    data = rng.normal(size=(4, 4, 3, 7))
    labels = np.zeros((4, 4, 3), dtype=np.int16)
    labels[:2] = 1
    labels[2:, :2] = 2
    labels[3, 3, 2] = 5
    path = _synthetic_img(tmp_path / "d.nii.gz", data)
    lab_img = nib.Nifti1Image(labels, np.diag([2.0, 2.0, 2.0, 1.0]))
    rois = extract_rois(path, labels_img=lab_img, labels=["left", "right", "dot"])
    expected = np.stack([data[labels == v].mean(axis=0) for v in (1, 2, 5)], axis=1)
    np.testing.assert_allclose(rois.values, expected, rtol=1e-5)
    assert rois["roi"].values.tolist() == ["left", "right", "dot"]
    np.testing.assert_array_equal(rois["label_value"].values, [1, 2, 5])
    named = extract_rois(path, labels_img=lab_img, labels={5: "dot", 1: "left"})
    assert named["roi"].values.tolist() == ["left", "2", "dot"]
    with pytest.raises(BadInputError, match="label names"):
        extract_rois(path, labels_img=lab_img, labels=["a", "b"])
