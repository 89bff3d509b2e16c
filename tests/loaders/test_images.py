"""read_images / read_stimuli: a user's own folder of real images (kriegeskorte92, muse_n170), checked with PIL."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from neurodecode import io
from neurodecode.errors import BadInputError
from neurodecode.loaders import read_images, read_stimuli
from tests.conftest import require_data


@pytest.fixture(scope="module")
def k92(data_home):
    require_data(data_home / "kriegeskorte92", "kriegeskorte92")
    from neurodecode import datasets

    return datasets.load("kriegeskorte92", part="images")


def _by_category(k92, category, n):
    idx = np.flatnonzero(k92["category"].values == category)[:n]
    return [np.asarray(k92.values[i]) for i in idx]


@pytest.fixture
def stimuli(tmp_path, k92):
    """A user's folder: faces/ (PNG; one greyscale, one RGBA), bodies/ (PNG; one wider), objects/ (JPEG)."""
    root = tmp_path / "stimuli"
    for sub in ("faces", "bodies", "objects"):
        (root / sub).mkdir(parents=True)
    faces = _by_category(k92, "human face", 4)
    bodies = _by_category(k92, "human bodypart", 4)
    objects = _by_category(k92, "artificial inanimate", 4)
    src = {}
    for i, im in enumerate(faces, 1):
        src[f"faces/face{i:02d}"] = im
        if i == 3:
            Image.fromarray(im).convert("L").save(root / "faces" / f"face{i:02d}.png")
        elif i == 4:
            alpha = np.full(im.shape[:2], 255, np.uint8)
            alpha[:40, :40] = 0  # a transparent corner
            Image.fromarray(np.dstack([im, alpha]), mode="RGBA").save(root / "faces" / f"face{i:02d}.png")
        else:
            Image.fromarray(im).save(root / "faces" / f"face{i:02d}.png")
    for i, im in enumerate(bodies, 1):
        src[f"bodies/body{i:02d}"] = im
        if i == 2:  # 29 white columns on each side: 175 x 233
            wide = np.full((175, 233, 3), 255, np.uint8)
            wide[:, 29:204] = im
            Image.fromarray(wide).save(root / "bodies" / f"body{i:02d}.png")
        else:
            Image.fromarray(im).save(root / "bodies" / f"body{i:02d}.png")
    for i, im in enumerate(objects, 1):
        src[f"objects/obj{i:02d}"] = im
        Image.fromarray(im).save(root / "objects" / f"obj{i:02d}.jpg", quality=95)
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.png").write_bytes(b"junk")
    return root, src


def test_folder_ids_categories_and_pixels(stimuli, caplog):
    root, src = stimuli
    with caplog.at_level(logging.WARNING, logger="neurodecode.loaders"):
        da = read_images(root)
    assert da.dims == ("stimulus", "y", "x", "rgb") and da.dtype == np.uint8 and da.name == "images"
    assert da.shape == (12, 175, 175, 3)
    assert list(da["stimulus"].values) == sorted(src)  # sorted relative paths without suffix
    assert all(isinstance(v, str) for v in da["stimulus"].values)
    assert list(da["rgb"].values) == ["r", "g", "b"]
    assert dict(zip(da["stimulus"].values, da["category"].values))["objects/obj02"] == "objects"
    assert set(da["category"].values) == {"faces", "bodies", "objects"}
    assert da.sel(stimulus="faces/face01")["path"].item() == str(root / "faces" / "face01.png")
    # lossless PNG: identical pixels
    np.testing.assert_array_equal(da.sel(stimulus="faces/face01").values, src["faces/face01"])
    np.testing.assert_array_equal(da.sel(stimulus="bodies/body01").values, src["bodies/body01"])
    # greyscale: PIL's own L conversion, copied to r, g, b
    grey = np.asarray(Image.fromarray(src["faces/face03"]).convert("L"))
    for c in range(3):
        np.testing.assert_array_equal(da.sel(stimulus="faces/face03").values[..., c], grey)
    # RGBA: transparent corner white, opaque part unchanged
    rgba = da.sel(stimulus="faces/face04").values
    assert (rgba[:40, :40] == 255).all()
    np.testing.assert_array_equal(rgba[40:, 40:], src["faces/face04"][40:, 40:])
    # 175 x 233 -> most common size 175 x 175: scale 1, centre crop = the original
    np.testing.assert_array_equal(da.sel(stimulus="bodies/body02").values, src["bodies/body02"])
    # JPEG: close to the original
    diff = np.abs(da.sel(stimulus="objects/obj01").values.astype(int) - src["objects/obj01"].astype(int))
    assert diff.mean() < 3
    # decisions reported in attrs and logged
    assert any(e.startswith("faces/face03: L -> RGB") for e in da.attrs["converted"])
    assert any(e.startswith("faces/face04: RGBA -> RGB") and "white" in e for e in da.attrs["converted"])
    assert da.attrs["resized"] == ["bodies/body02: 175x233 -> 175x175"]
    assert "most common size 175x175" in da.attrs["size_rule"]
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "faces/face03" in logged and "bodies/body02" in logged


def test_glob_list_and_size(stimuli):
    root, src = stimuli
    png = read_images(str(root / "**" / "*.png"))
    assert list(png["stimulus"].values) == sorted(k for k in src if not k.startswith("objects"))
    faces = read_images(str(root / "faces" / "*.png"))
    assert list(faces["stimulus"].values) == ["face01", "face02", "face03", "face04"]
    assert "category" not in faces.coords  # all at the top level of the glob's folder
    listed = read_images([root / "objects" / "obj02.jpg", str(root / "faces" / "face01.png")])
    assert list(listed["stimulus"].values) == ["objects/obj02", "faces/face01"]  # given order, common parent
    small = read_images(root / "faces", size=64)
    assert small.shape == (4, 64, 64, 3)
    expected = np.asarray(Image.fromarray(src["faces/face01"]).resize((64, 64), Image.BICUBIC))
    np.testing.assert_array_equal(small.sel(stimulus="face01").values, expected)
    rect = read_images(root / "faces", size=(50, 80))
    assert rect.shape == (4, 50, 80, 3) and len(rect.attrs["resized"]) == 4


def test_top_level_images_get_empty_category(tmp_path, k92):
    Image.fromarray(np.asarray(k92.values[0])).save(tmp_path / "top.png")
    (tmp_path / "animals").mkdir()
    Image.fromarray(np.asarray(k92.values[1])).save(tmp_path / "animals" / "a1.png")
    da = read_images(tmp_path)
    assert dict(zip(da["stimulus"].values, da["category"].values)) == {"animals/a1": "animals", "top": ""}


def test_exif_orientation_applied(tmp_path, k92):
    im = Image.fromarray(np.asarray(k92.values[5]))
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees
    im.save(tmp_path / "photo.png", exif=exif)
    da = read_images(tmp_path)
    np.testing.assert_array_equal(da.values[0], np.asarray(k92.values[5])[::-1, ::-1])
    assert "EXIF orientation 3" in da.attrs["converted"][0]


def test_netcdf_images_and_other_stimulus_data(stimuli, tmp_path):
    root, _ = stimuli
    da = read_images(root / "faces")
    io.save(da, tmp_path / "faces.nc")
    back = read_images(tmp_path / "faces.nc")
    np.testing.assert_array_equal(back.values, da.values)
    assert list(back["stimulus"].values) == list(da["stimulus"].values)
    assert read_stimuli(tmp_path / "faces.nc").shape == da.shape
    feats = xr.DataArray(np.random.default_rng(0).normal(size=(3, 5)), dims=("stimulus", "feature"),
                         coords={"stimulus": [10, 11, 12]})
    io.save(feats, tmp_path / "feats.nc")
    out = read_stimuli(tmp_path / "feats.nc")
    assert list(out["stimulus"].values) == ["10", "11", "12"]
    io.save(xr.DataArray(np.zeros((2, 3)), dims=("a", "b")), tmp_path / "other.nc")
    with pytest.raises(BadInputError, match="no 'stimulus' dim"):
        read_stimuli(tmp_path / "other.nc")
    with pytest.raises(BadInputError, match="image array needs dims"):
        read_images(tmp_path / "feats.nc")
    # read_stimuli on a folder is read_images
    assert list(read_stimuli(root / "faces")["stimulus"].values) == list(da["stimulus"].values)


def test_bad_input(stimuli, tmp_path):
    root, _ = stimuli
    Image.open(root / "faces" / "face01.png").convert("RGB").save(root / "faces" / "face01.jpg")
    with pytest.raises(BadInputError, match=r"face01\.png.*face01\.jpg|face01\.jpg.*face01\.png"):
        read_images(root)
    (root / "faces" / "face01.jpg").unlink()
    data = (root / "bodies" / "body01.png").read_bytes()
    (root / "bodies" / "body01.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match=r"body01\.png.*truncated"):
        read_images(root)
    (root / "bodies" / "body01.png").write_text("not an image at all")
    with pytest.raises(BadInputError, match=r"body01\.png"):
        read_images(root)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(BadInputError, match=r"no image files \(\.png, \.jpg.*readme\.txt"):
        read_images(empty)
    with pytest.raises(BadInputError, match="matched no image files"):
        read_images(str(root / "**" / "*.gif"))
    with pytest.raises(BadInputError, match="does not exist"):
        read_images(tmp_path / "nowhere")
    with pytest.raises(BadInputError, match="does not exist"):
        read_images([root / "faces" / "face02.png", root / "faces" / "missing.png"])
    with pytest.raises(BadInputError, match="empty"):
        read_images([])
    with pytest.raises(BadInputError, match="size"):
        read_images(root / "faces", size=(0, 10))


def test_real_muse_stimuli_greyscale(data_home):
    stim = require_data(data_home / "muse_n170" / "stim", "muse_n170")
    da = read_images(stim)
    assert da.shape == (96, 400, 400, 3)
    assert set(da["category"].values) == {"faces", "houses"}
    assert list(da["stimulus"].values[:2]) == ["faces/Annie_1", "faces/Annie_2"]
    assert len(da.attrs["converted"]) == 96  # greyscale JPEGs
    ref = np.asarray(Image.open(stim / "houses" / "house1.1.jpg").convert("RGB"))
    np.testing.assert_array_equal(da.sel(stimulus="houses/house1.1").values, ref)  # only the suffix is dropped


def test_pipeline_loader_images_read(stimuli, tmp_path):
    """`images.read` from a pipeline file, given the folder."""
    from neurodecode.pipeline import run

    root, src = stimuli
    cfg = {
        "name": "user_images",
        "description": "a user's image folder",
        "data": {"files": [str(root)], "loader": "images.read", "params": {"size": 32}},
        "steps": [{"id": "faces", "op": "core.select", "params": {"keep": {"category": ["faces"]}}}],
        "outputs": {"save": ["faces"]},
    }
    run(cfg, tmp_path / "out", progress=False)
    faces = io.open(tmp_path / "out" / "faces.nc", chunks=None)
    assert faces.shape == (4, 32, 32, 3) and faces.dtype == np.uint8
    assert list(faces["stimulus"].values) == ["faces/face01", "faces/face02", "faces/face03", "faces/face04"]
