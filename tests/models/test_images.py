"""Image preprocessing (PIL + numpy) and image loading."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import torch
from PIL import Image

from neurodecode.errors import BadInputError  # noqa: E402
from neurodecode.models import IMAGENET_MEAN, IMAGENET_STD, LITE_MEAN, LITE_STD, load_images, preprocess  # noqa: E402


def _random_images(n=3, h=40, w=56, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_no_resize_is_plain_normalisation():
    imgs = _random_images(2, 224, 224)
    out = preprocess(imgs, size=224, crop=1.0)
    assert out.dtype == torch.float32 and tuple(out.shape) == (2, 3, 224, 224)
    expected = (imgs / 255.0 - np.array(LITE_MEAN)) / np.array(LITE_STD)
    np.testing.assert_allclose(out.numpy(), expected.transpose(0, 3, 1, 2), rtol=0, atol=1e-5)
    # EfficientNet-Lite convention: (pixel - 127) / 128
    np.testing.assert_allclose(out.numpy(), ((imgs - 127.0) / 128.0).transpose(0, 3, 1, 2), atol=1e-5)


def test_imagenet_statistics_and_scalar_stats():
    imgs = _random_images(1, 32, 32)
    out = preprocess(imgs, size=32, crop=1.0, mean=IMAGENET_MEAN, std=IMAGENET_STD).numpy()
    exp = ((imgs / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, exp, atol=1e-5)
    out = preprocess(imgs, size=32, crop=1.0, mean=0.5, std=0.25).numpy()
    np.testing.assert_allclose(out, ((imgs / 255.0 - 0.5) / 0.25).transpose(0, 3, 1, 2), atol=1e-5)


def test_shorter_side_resize_and_centre_crop():
    # 100 x 200 image: left half red, right half blue. Shorter side -> 256, so the width becomes
    # 512 and the central 224 columns are 144..368: 112 red then 112 blue columns.
    img = np.zeros((1, 100, 200, 3), dtype=np.uint8)
    img[..., :100, 0] = 255
    img[..., 100:, 2] = 255
    out = preprocess(img, size=224, crop=0.875, mean=0.0, std=1.0).numpy()[0]
    assert out.shape == (3, 224, 224)
    np.testing.assert_allclose(out[:, :, :100].mean(axis=(1, 2)), [1, 0, 0], atol=1e-3)
    np.testing.assert_allclose(out[:, :, 124:].mean(axis=(1, 2)), [0, 0, 1], atol=1e-3)
    # tall image: crop is vertical
    tall = np.transpose(img, (0, 2, 1, 3))
    out = preprocess(tall, size=224, crop=0.875, mean=0.0, std=1.0).numpy()[0]
    np.testing.assert_allclose(out[:, :100, :].mean(axis=(1, 2)), [1, 0, 0], atol=1e-3)


def test_crop_matches_direct_pil():
    imgs = _random_images(1, 175, 175)
    out = preprocess(imgs, size=224, crop=0.875, mean=0.0, std=1.0).numpy()[0]
    ref = Image.fromarray(imgs[0]).resize((256, 256), Image.BICUBIC).crop((16, 16, 240, 240))
    np.testing.assert_allclose(out.transpose(1, 2, 0), np.asarray(ref) / 255.0, atol=1e-6)


def test_input_kinds_agree(tmp_path):
    imgs = _random_images(3, 30, 45)
    ref = preprocess(imgs, size=24).numpy()
    da = xr.DataArray(imgs, dims=("stimulus", "y", "x", "rgb")).transpose("rgb", "stimulus", "x", "y")
    np.testing.assert_array_equal(preprocess(da, size=24).numpy(), ref)
    np.testing.assert_array_equal(preprocess([Image.fromarray(i) for i in imgs], size=24).numpy(), ref)
    paths = []
    for k, im in enumerate(imgs):
        paths.append(tmp_path / f"im{k}.png")
        Image.fromarray(im).save(paths[-1])
    np.testing.assert_array_equal(preprocess(paths, size=24).numpy(), ref)
    np.testing.assert_array_equal(preprocess(torch.from_numpy(imgs), size=24).numpy(), ref)
    # float images in [0, 1]: same up to the uint8 rounding of the resized image (on a smooth image:
    # PIL rounds and clips uint8 images between its horizontal and vertical passes, which matters
    # for pixel noise)
    yy, xx = np.mgrid[0:30, 0:45]
    smooth = np.stack([yy * 8, xx * 5, 255 - xx * 5], axis=-1)[None].astype(np.uint8)
    out = preprocess(smooth / 255.0, size=24).numpy()
    np.testing.assert_allclose(out, preprocess(smooth, size=24).numpy(), atol=0.01)


def test_input_not_modified():
    imgs = _random_images()
    before = imgs.copy()
    preprocess(imgs, size=16)
    np.testing.assert_array_equal(imgs, before)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 4, 3), np.uint8), "n, height, width, 3"),
        (np.zeros((2, 4, 4, 4), np.uint8), "n, height, width, 3"),
        (np.zeros((0, 4, 4, 3), np.uint8), "no image"),
        (np.zeros((1, 4, 4, 3), np.int32), "dtype"),
        (np.full((1, 4, 4, 3), 2.0), r"\[0, 1\]"),
        (np.full((1, 4, 4, 3), np.nan), "NaN"),
        ([], "empty"),
        ([1, 2], "PIL images or file paths"),
        ("image.png", "single path"),
        (xr.DataArray(np.zeros((1, 4, 4, 3), np.uint8), dims=("trial", "y", "x", "c")), "dims"),
    ],
)
def test_bad_images(bad, match):
    with pytest.raises(BadInputError, match=match):
        preprocess(bad, size=8)


@pytest.mark.parametrize("kw, match", [({"crop": 0}, "crop"), ({"crop": 1.5}, "crop"), ({"size": 0}, "size"),
                                      ({"std": (1, 0, 1)}, "std"), ({"mean": (1, 2)}, "mean")])
def test_bad_arguments(kw, match):
    with pytest.raises(BadInputError, match=match):
        preprocess(_random_images(1), **kw)


def test_load_images(tmp_path):
    imgs = _random_images(3, 20, 30)
    for name, im in zip(["cat", "apple", "face"], imgs):
        Image.fromarray(im).save(tmp_path / f"{name}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    da = load_images(tmp_path)  # a folder: sorted by name, non-images skipped
    assert da.dims == ("stimulus", "y", "x", "rgb") and da.dtype == np.uint8
    assert list(da["stimulus"].values) == ["apple", "cat", "face"]
    np.testing.assert_array_equal(da.sel(stimulus="cat").values, imgs[0])
    np.testing.assert_array_equal(da.sel(stimulus="apple").values, imgs[1])
    da2 = load_images([tmp_path / "face.png", str(tmp_path / "cat.png")])
    assert list(da2["stimulus"].values) == ["face", "cat"]
    assert da2["path"].values[1].endswith("cat.png")
    da3 = load_images([tmp_path / "face.png"], stimulus=[7], size=10)
    assert da3.shape == (1, 10, 10, 3) and da3["stimulus"].item() == 7


def test_load_images_errors(tmp_path):
    Image.fromarray(_random_images(1, 20, 30)[0]).save(tmp_path / "a.png")
    Image.fromarray(_random_images(1, 21, 30)[0]).save(tmp_path / "b.png")
    with pytest.raises(BadInputError, match="different sizes"):
        load_images(tmp_path)
    assert load_images(tmp_path, size=(20, 30)).shape == (2, 20, 30, 3)
    with pytest.raises(BadInputError, match="does not exist"):
        load_images([tmp_path / "missing.png"])
    sub = tmp_path / "sub"
    sub.mkdir()
    Image.fromarray(_random_images(1, 20, 30)[0]).save(sub / "a.png")
    with pytest.raises(BadInputError, match="more than once"):
        load_images([tmp_path / "a.png", sub / "a.png"])
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="truncated"):
        load_images([tmp_path / "trunc.png"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match="no image files"):
        load_images(empty)


@pytest.mark.realdata
def test_real_92_images(data_home):
    from scipy.io import loadmat

    mat = loadmat(str(data_home / "kriegeskorte92" / "Kriegeskorte_Neuron2008_supplementalData.mat"))
    imgs = np.stack([s["image"] for s in mat["stimuli_92objs"].reshape(-1)[:4]])
    out = preprocess(imgs).numpy()
    assert out.shape == (4, 3, 224, 224) and np.isfinite(out).all()
    # the Lite normalisation maps [0, 255] to about [-1, 1]
    assert out.min() >= -1.0 - 1e-6 and out.max() <= 1.0 + 1e-6
    # centre pixel: the 175-pixel image scaled to 256 then cropped keeps its centre
    centre = imgs[:, 87, 87, :].astype(float)
    np.testing.assert_allclose(out[:, :, 112, 112], (centre - 127) / 128, atol=0.1)
