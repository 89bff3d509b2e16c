"""The ImageNet weights make sense on real photographs from the 92-image set (Kriegeskorte 2008).

Independent ground truth: the images are read with scipy.io.loadmat, and the animal / object
split of the ImageNet-1k classes is fixed by the class order (indices 0-397 are animals,
398-999 artefacts, food, scenes and other objects).
"""

from __future__ import annotations

import numpy as np
import pytest

import torch

from neurodecode.models import extract, load_model, preprocess  # noqa: E402

pytestmark = pytest.mark.realdata

ANIMALS = [24, 27, 30, 33, 36, 39, 42, 45]  # nonhuman bodies and faces
OBJECTS = [71, 73, 76, 79, 82, 85, 88, 91]  # artificial inanimate objects
LAST_ANIMAL_CLASS = 397


@pytest.fixture(scope="module")
def images(data_home):
    from scipy.io import loadmat

    mat = loadmat(str(data_home / "kriegeskorte92" / "Kriegeskorte_Neuron2008_supplementalData.mat"))
    stim = mat["stimuli_92objs"].reshape(-1)
    cats = [str(stim[i]["category"][0]) for i in ANIMALS + OBJECTS]
    assert all(c.startswith("nonhuman") for c in cats[:8]) and all(c == "artificial inanimate" for c in cats[8:])
    return np.stack([stim[i]["image"] for i in ANIMALS + OBJECTS])


@pytest.fixture(scope="module")
def outputs(images):
    res = {}
    for key, pretrained in (("pretrained", True), ("untrained", False)):
        model = load_model(pretrained=pretrained, seed=0)
        ds = extract(model, images, layers=["avgpool"], progress=False)
        # the untrained logits are the fc bias plus ~1e-7 of it from the input: extract() refuses
        # them as a constant layer, so they come from a plain forward pass here
        with torch.inference_mode():
            logits = model(preprocess(images, **model.nd_preprocessing)).numpy()
        res[key] = (ds["avgpool"].values, logits)
    return res


ANIMATE = np.array([True] * 8 + [False] * 8)


def test_top1_superclass(outputs):
    acc = {}
    for key, (_, logits) in outputs.items():
        top1 = logits.argmax(axis=1)
        acc[key] = np.mean((top1 <= LAST_ANIMAL_CLASS) == ANIMATE)
        if key == "pretrained":
            assert len(set(top1.tolist())) >= 10  # varied, image-specific predictions
            probs = torch.softmax(torch.from_numpy(logits), 1).numpy()
            assert np.median(probs.max(1)) > 0.2
    assert acc["pretrained"] >= 0.8
    assert acc["pretrained"] - acc["untrained"] >= 0.25


def test_top5_consistency(outputs):
    # the five best classes of an animal photo are animals, of an object photo objects
    cons = {}
    for key, (_, logits) in outputs.items():
        top5 = np.argsort(-logits, axis=1)[:, :5]
        cons[key] = np.mean((top5 <= LAST_ANIMAL_CLASS) == ANIMATE[:, None])
    assert cons["pretrained"] >= 0.8 and cons["pretrained"] > cons["untrained"] + 0.2


def test_penultimate_features_separate_animacy(outputs):
    sep = {}
    for key, (feats, _) in outputs.items():
        d = 1 - np.corrcoef(feats.reshape(len(feats), -1))
        same = ANIMATE[:, None] == ANIMATE[None, :]
        off = ~np.eye(len(d), dtype=bool)
        sep[key] = d[~same].mean() - d[same & off].mean()
    assert sep["pretrained"] > 0.02
    assert sep["pretrained"] > 2 * sep["untrained"]
