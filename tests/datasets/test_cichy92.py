"""cichy92_fmri: the real Cichy et al. 2014 RDMs, checked with numpy/scipy against the files and SOURCE.txt."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from neurodecode import datasets
from neurodecode.datamodel import validate
from neurodecode.errors import BadInputError
from tests.conftest import require_data


@pytest.fixture(scope="module")
def folder(data_home):
    require_data(data_home / "kriegeskorte92", "kriegeskorte92")
    return require_data(data_home / "cichy92_fmri", "cichy92_fmri")


@pytest.fixture(scope="module")
def stack(folder):
    return datasets.load("cichy92_fmri")


def _raw(folder, region):
    return np.load(folder / f"92images_fmri_{region}_RDMs.npz")["Net_RDM"]


def test_shape_coords_and_values(stack, folder):
    assert validate(stack) == "rdm"
    assert stack.shape == (30, 92, 92) and stack.dtype == np.float64
    assert list(stack["region"].values) == ["EVC"] * 15 + ["IT"] * 15
    assert list(stack["subject"].values) == [str(s) for s in range(1, 16)] * 2
    assert stack["rdm"].values[0] == "EVC/1" and stack["rdm"].values[-1] == "IT/15"
    assert stack.attrs["method"] == "correlation" and stack.attrs["dataset"] == "cichy92_fmri"
    for region in ("EVC", "IT"):
        np.testing.assert_allclose(stack.where(stack["region"] == region, drop=True).values, _raw(folder, region),
                                   rtol=0, atol=1e-15)
    v = stack.values
    assert (v == v.transpose(0, 2, 1)).all()
    assert (np.diagonal(v, axis1=1, axis2=2) == 0).all()
    assert 0 <= v.min() and v.max() < 2  # 1 - Pearson r


def test_same_stimuli_as_kriegeskorte92(stack):
    images = datasets.load("kriegeskorte92", part="images")
    np.testing.assert_array_equal(stack["stimulus"].values, images["stimulus"].values)
    np.testing.assert_array_equal(stack["stimulus_"].values, images["stimulus"].values)
    np.testing.assert_array_equal(stack["category"].values, images["category"].values)
    assert stack["category"].dims == ("stimulus",)


def test_leave_one_subject_out_spearman(stack):
    """SOURCE.txt: leave-one-subject-out Spearman IT 0.449, EVC 0.239 (each subject vs the mean of the others)."""
    iu = np.triu_indices(92, 1)
    expected = {"IT": 0.449, "EVC": 0.239}
    for region, value in expected.items():
        vecs = stack.where(stack["region"] == region, drop=True).values[:, iu[0], iu[1]]
        loso = [spearmanr(vecs[s], np.delete(vecs, s, axis=0).mean(axis=0))[0] for s in range(15)]
        assert np.mean(loso) == pytest.approx(value, abs=5e-4)


def test_region_selection(folder):
    it = datasets.load("cichy92_fmri", region="IT")
    assert it.shape == (15, 92, 92) and set(it["region"].values) == {"IT"}
    np.testing.assert_allclose(it.values, _raw(folder, "IT"), rtol=0, atol=1e-15)
    with pytest.raises(BadInputError, match=r"region='V1' is not one of \['EVC', 'IT'\]"):
        datasets.load("cichy92_fmri", region="V1")
    with pytest.raises(BadInputError, match="unknown selection"):
        datasets.load("cichy92_fmri", subject=1)


def test_card():
    card = datasets.info("cichy92_fmri")
    assert card.folder == "cichy92_fmri" and "10.1038/nn.3635" in {c.doi for c in card.citations}
    f = card.file("92images_fmri_IT_RDMs.npz")
    assert f.url == ("https://raw.githubusercontent.com/cvai-roig-lab/Net2Brain/"
                     "05ac462951ef792ff2ba70c4b97d5409a8e44289/input_data/brain_data/92images/fmri_IT_RDMs.npz")
    assert f.sha256 == "ecf104457ae841d2a2bf503fb0dc16c6387e32d0cd74fb5217ca4ef859a805dd"
