"""load("kriegeskorte92") against an independent scipy.io.loadmat read of the raw files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import loadmat
from scipy.spatial.distance import squareform

from neurodecode import datasets
from neurodecode.datamodel import validate
from neurodecode.datasets.kriegeskorte import Kriegeskorte92, make_rdm_stack
from neurodecode.errors import BadInputError

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def raw(data_home):
    folder = data_home / "kriegeskorte92"
    return {
        "suppl": loadmat(folder / "Kriegeskorte_Neuron2008_supplementalData.mat"),
        "brain": loadmat(folder / "92_brainRDMs.mat")["RDMs"],
        "behav": loadmat(folder / "92_behavRDMs.mat")["rdms_behav_92"],
        "models": loadmat(folder / "92_modelRDMs.mat")["Models"],
    }


@pytest.fixture(scope="module")
def k92(data_home):
    return datasets.load("kriegeskorte92")


def test_returns_all_parts(k92):
    assert isinstance(k92, Kriegeskorte92)
    assert set(k92.rdms()) == {"human_it", "monkey_it", "human_it_316vx", "behaviour", "models"}
    for stack in k92.rdms().values():
        assert validate(stack) == "rdm"
        assert stack.dims == ("rdm", "stimulus", "stimulus_")
        assert stack.sizes["stimulus"] == stack.sizes["stimulus_"] == 92
        assert stack.attrs["method"]
        np.testing.assert_array_equal(stack["stimulus"].values, np.arange(92))


def test_images_match_loadmat(k92, raw):
    stim = raw["suppl"]["stimuli_92objs"][0]
    images = k92.images
    assert images.dims == ("stimulus", "y", "x", "rgb")
    assert images.shape == (92, 175, 175, 3) and images.dtype == np.uint8
    for i in (0, 17, 45, 91):
        np.testing.assert_array_equal(images.values[i], stim[i]["image"])
    assert list(images["category"].values) == [str(s["category"][0]) for s in stim]
    assert len(set(images["category"].values)) == 6


def test_category_flags_match_loadmat(k92, raw):
    labels = [str(c[0]) for c in raw["suppl"]["categoryLabels"][0]]
    assert len(labels) == 12 and {"animate", "human", "face", "body", "monkeyape"} <= set(labels)
    vectors = raw["suppl"]["categoryVectors"]
    for j, label in enumerate(labels):
        np.testing.assert_array_equal(k92.images[label].values, vectors[:, j].astype(bool))
        np.testing.assert_array_equal(k92.human_it[label].values, vectors[:, j].astype(bool))
    natural = np.array([int(s["natural"][0, 0]) for s in raw["suppl"]["stimuli_92objs"][0]], dtype=bool)
    np.testing.assert_array_equal(k92.images["natural"].values, natural)
    table = k92.stimuli
    assert table.shape[0] == 92 and "category" in table and "face" in table


def test_human_it_matches_loadmat(k92, raw):
    hit = k92.human_it
    assert hit.sizes["rdm"] == 8
    assert list(hit["subject"].values) == ["BE", "BE", "KO", "KO", "SN", "SN", "TI", "TI"]
    assert list(hit["session"].values) == [1, 2] * 4
    assert hit.attrs["method"] == "correlation"
    for s, subj in enumerate(["BE", "KO", "SN", "TI"]):
        for r in (1, 2):
            expected = raw["brain"][0, s, r - 1]["RDM"]
            got = hit.where((hit.subject == subj) & (hit.session == r), drop=True)
            np.testing.assert_array_equal(got.values[0], expected)
            assert got.dtype == expected.dtype  # float32 as stored


def test_fig1_rdms_are_the_condensed_vectors_squared(k92, raw):
    fig1 = raw["suppl"]["RDMs_mIT_hIT_fig1"][0]
    assert str(fig1[0]["name"][0]) == "mIT_674neurons"
    mit = k92.monkey_it.values[0]
    np.testing.assert_array_equal(mit, squareform(fig1[0]["RDM"][0]))
    np.testing.assert_array_equal(squareform(mit, checks=False), fig1[0]["RDM"][0])
    np.testing.assert_array_equal(k92.human_it_316vx.values[0], squareform(fig1[1]["RDM"][0]))
    assert np.allclose(mit, mit.T) and np.all(np.diag(mit) == 0)
    # the condensed -> square order matches MATLAB: the monkeyIT model RDM is the same matrix
    models = raw["models"][0]
    monkey_model = next(m["RDM"] for m in models if str(m["name"][0]) == "monkeyIT")
    np.testing.assert_allclose(mit, monkey_model)
    assert k92.monkey_it.attrs["species"] == "macaque"


def test_behaviour_and_models_match_loadmat(k92, raw):
    beh = k92.behaviour
    assert beh.sizes["rdm"] == 16
    np.testing.assert_array_equal(beh["subject"].values, np.arange(1, 17))
    for i in (0, 7, 15):
        np.testing.assert_array_equal(beh.values[i], raw["behav"][0, i]["RDM"])
    models = k92.models
    names = [str(m["name"][0]) for m in raw["models"][0]]
    assert list(models["rdm"].values) == names == [
        "animacy", "FaceBodyManmadeNatobj", "monkeyIT", "EVA", "HMAX", "V1", "Silhouette", "RADON"]
    for i, m in enumerate(raw["models"][0]):
        np.testing.assert_array_equal(models.values[i], m["RDM"].astype(float))


def test_part_selection(data_home):
    hit = datasets.load("kriegeskorte92", part="human_it")
    assert validate(hit) == "rdm" and hit.sizes["rdm"] == 8
    images = datasets.load("kriegeskorte92", part="images")
    assert images.dims == ("stimulus", "y", "x", "rgb")
    with pytest.raises(BadInputError, match="part='faces' is not one of"):
        datasets.load("kriegeskorte92", part="faces")
    with pytest.raises(BadInputError, match="unknown selection \\['subject'\\]"):
        datasets.load("kriegeskorte92", subject=1)


def test_make_rdm_stack_rejects_non_square():
    with pytest.raises(BadInputError, match="square"):
        make_rdm_stack(np.zeros((2, 3, 4)), method="euclidean", rdm=["a", "b"])
