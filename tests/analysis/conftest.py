"""Fixtures for the RSA tests: the Kriegeskorte et al. 2008 92-image data, read with scipy.io.loadmat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_data


def _folder(data_home: Path) -> Path:
    return require_data(data_home / "kriegeskorte92", "kriegeskorte92")


@pytest.fixture(scope="session")
def k92_brain(data_home):
    """hIT fMRI RDMs: (subjects, sessions, 92, 92) float64 and the subject codes (SOURCE.txt: 4 x 2)."""
    from scipy.io import loadmat

    rdms = loadmat(_folder(data_home) / "92_brainRDMs.mat")["RDMs"]
    assert rdms.shape == (1, 4, 2)
    mats = np.stack(
        [[np.asarray(rdms[0, s, r]["RDM"], dtype=np.float64) for r in range(2)] for s in range(4)]
    )
    names = [[str(rdms[0, s, r]["name"].item()) for r in range(2)] for s in range(4)]
    subjects = [names[s][0].split("|")[1].strip() for s in range(4)]
    return mats, subjects


@pytest.fixture(scope="session")
def k92_models(data_home):
    """The 8 model RDMs (92, 92) as float64 and their names."""
    from scipy.io import loadmat

    models = loadmat(_folder(data_home) / "92_modelRDMs.mat")["Models"]
    mats = np.stack([np.asarray(models[0, i]["RDM"], dtype=np.float64) for i in range(models.shape[1])])
    names = [str(models[0, i]["name"].item()) for i in range(models.shape[1])]
    return mats, names


@pytest.fixture(scope="session")
def k92_supplement(data_home):
    """The 92 stimulus images (92, 175*175*3) float64, their categories, and the fig. 1 mIT/hIT RDM vectors."""
    from scipy.io import loadmat

    d = loadmat(_folder(data_home) / "Kriegeskorte_Neuron2008_supplementalData.mat")
    stim = d["stimuli_92objs"]
    images = np.stack([np.asarray(stim[0, i]["image"], dtype=np.float64).reshape(-1) for i in range(92)])
    categories = [str(stim[0, i]["category"].item()) for i in range(92)]
    fig1 = d["RDMs_mIT_hIT_fig1"]
    vectors = {str(fig1[0, i]["name"].item()): np.asarray(fig1[0, i]["RDM"], dtype=np.float64).ravel() for i in range(2)}
    return images, categories, vectors
