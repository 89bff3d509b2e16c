"""load("cowley_v4", ...) on the real files, compared with independent reads (numpy.load, zipfile + PIL)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from neurodecode import datasets
from neurodecode.datamodel import validate
from neurodecode.errors import BadInputError
from tests.conftest import require_data

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def folder(data_home):
    return require_data(data_home / "cowley_v4", "cowley_v4")


def test_card_lists_the_verified_files(folder):
    card = datasets.info("cowley_v4")
    assert card.licence_short == "GPL-3.0"
    paths = {f.path for f in card.files}
    assert "responses_raw/responses_210325.npy" in paths and "images/images_190923.zip" in paths
    got = datasets.files("cowley_v4", include=["responses_repeat_averaged/responses_201025.npy"])
    assert got["responses_repeat_averaged/responses_201025.npy"].is_file()


@pytest.mark.parametrize("session,shape", [("190923", (1200, 33)), ("201025", (1200, 89)), ("210325", (640, 50))])
def test_repeat_averaged_responses(folder, session, shape):
    da = datasets.load("cowley_v4", session=session)
    assert validate(da) == "responses" and da.shape == shape
    ref = np.load(folder / "responses_repeat_averaged" / f"responses_{session}.npy")
    np.testing.assert_array_equal(da.values, ref.T)
    assert da["stimulus"].values[0] == f"{session}/image0001" and set(da["region"].values) == {"V4"}


def test_trials_drop_padding_and_average_to_the_published_means(folder):
    tr = datasets.load("cowley_v4", part="trials")
    raw = np.load(folder / "responses_raw" / "responses_210325.npy")  # (unit, image, repeat)
    assert tr.sizes["trial"] == int((~np.isnan(raw[0])).sum())
    assert not np.isnan(tr.values).any()
    first = tr.isel(trial=tr["stimulus"].values == "210325/image0002")
    np.testing.assert_array_equal(first.values, raw[:, 1, : first.sizes["trial"]].T)
    mean = tr.groupby("stimulus").mean("trial")
    avg = datasets.load("cowley_v4", part="responses")
    np.testing.assert_allclose(mean.sel(stimulus=avg["stimulus"].values).values, avg.values, atol=1e-12)
    with pytest.raises(BadInputError, match="only for session"):
        datasets.load("cowley_v4", session="201025", part="trials")


def test_images_match_the_zip(folder):
    from PIL import Image

    im = datasets.load("cowley_v4", part="images")
    assert im.shape == (640, 112, 112, 3) and im.dtype == np.uint8
    with zipfile.ZipFile(folder / "images" / "images_210325.zip") as zf:
        ref = np.asarray(Image.open(io.BytesIO(zf.read("image0640.jpg"))).convert("RGB"))
    np.testing.assert_array_equal(im.isel(stimulus=-1).values, ref)
    assert im["stimulus"].values[-1] == "210325/image0640"
    with pytest.raises(BadInputError, match="not one of"):
        datasets.load("cowley_v4", session="999999")
