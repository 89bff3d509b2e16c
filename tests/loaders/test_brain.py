"""read_brain: the three --brain forms (RDMs, responses, epochs) written as a user would, from real data."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurodecode import io
from neurodecode.datamodel import validate
from neurodecode.errors import BadInputError
from neurodecode.loaders import read_brain
from tests.conftest import require_data

N = 12


@pytest.fixture(scope="module")
def cichy_it(data_home):
    folder = require_data(data_home / "cichy92_fmri", "cichy92_fmri")
    return np.load(folder / "92images_fmri_IT_RDMs.npz")["Net_RDM"][:3, :N, :N]


@pytest.fixture
def ids():
    return [f"s{i:02d}" for i in range(N)]


def _responses(ids, n_neuroid=6, seed=0):
    values = np.random.default_rng(seed).normal(size=(len(ids), n_neuroid))
    return xr.DataArray(values, dims=("stimulus", "neuroid"),
                        coords={"stimulus": ids, "neuroid": np.arange(n_neuroid)})


def test_rdm_files(tmp_path, cichy_it, ids):
    np.save(tmp_path / "IT.npy", cichy_it)
    r = read_brain(tmp_path / "IT.npy", stimulus_ids=ids, method="correlation")
    assert validate(r) == "rdm" and r.shape == (3, N, N) and set(r["region"].values) == {"IT"}
    np.testing.assert_allclose(r.values, cichy_it, atol=1e-15)
    io.save(r, tmp_path / "IT.nc")
    again = read_brain(tmp_path / "IT.nc")
    np.testing.assert_array_equal(again.values, r.values)
    assert list(again["subject"].values) == ["1", "2", "3"]


def test_responses_and_defaults(tmp_path, ids):
    resp = _responses(ids)
    io.save(resp, tmp_path / "v4.nc")
    out = read_brain(tmp_path / "v4.nc")
    assert validate(out) == "responses" and out.dims == ("stimulus", "neuroid")
    assert list(out["stimulus"].values) == ids
    assert set(out["region"].values) == {"v4"} and set(out["subject"].values) == {"1"}
    assert out.attrs["defaults"] == ["region='v4'", "subject='1'"]
    np.testing.assert_array_equal(out.values, resp.values)
    labelled = resp.assign_coords(region=("neuroid", ["V1"] * 3 + ["IT"] * 3), subject=("neuroid", [7] * 6))
    io.save(labelled, tmp_path / "lab.nc")
    out2 = read_brain(tmp_path / "lab.nc")
    assert list(out2["region"].values) == ["V1"] * 3 + ["IT"] * 3 and set(out2["subject"].values) == {"7"}
    # trials with a stimulus coord (repeated presentations)
    trials = xr.DataArray(np.random.default_rng(1).normal(size=(2 * N, 4)), dims=("trial", "neuroid"),
                          coords={"stimulus": ("trial", ids + ids)})
    io.save(trials, tmp_path / "trials.nc")
    out3 = read_brain(tmp_path / "trials.nc", region="IT")
    assert out3.dims[0] == "trial" and list(out3["stimulus"].values) == ids + ids
    assert set(out3["region"].values) == {"IT"}


def test_real_eeg_epochs(data_home, tmp_path):
    require_data(data_home / "eeglab_sample", "eeglab_sample")
    from neurodecode import datasets

    epochs = datasets.load("eeglab_sample", kind="epochs")
    n = epochs.sizes["trial"]
    labelled = epochs.assign_coords(stimulus=("trial", [f"pos{i % 2 + 1}" for i in range(n)]))
    io.save(labelled, tmp_path / "eeg_epochs.nc")
    out = read_brain(tmp_path / "eeg_epochs.nc")
    assert validate(out) == "epochs" and out.dims[:3] == ("trial", "channel", "time")
    assert set(out["stimulus"].values) == {"pos1", "pos2"}
    assert out.attrs["region"] == "eeg_epochs"
    np.testing.assert_array_equal(out.values, labelled.values)
    io.save(epochs, tmp_path / "no_stim.nc")
    with pytest.raises(BadInputError, match=r"no_stim\.nc.*'stimulus' coord on 'trial'"):
        read_brain(tmp_path / "no_stim.nc")


def test_several_files_give_a_list(tmp_path, cichy_it, ids):
    np.save(tmp_path / "a.npy", cichy_it[:1])
    np.save(tmp_path / "b.npy", cichy_it[1:])
    out = read_brain(tmp_path, stimulus_ids=ids)
    assert isinstance(out, list) and [o.sizes["rdm"] for o in out] == [1, 2]


def test_bad_input(tmp_path, ids):
    resp = _responses(ids)
    bad = resp.copy()
    bad[2, 3] = np.nan
    io.save(bad, tmp_path / "nan.nc")
    with pytest.raises(BadInputError, match=r"nan\.nc.*1 NaN/inf.*'stimulus': 2, 'neuroid': 3"):
        read_brain(tmp_path / "nan.nc")
    io.save(resp, tmp_path / "resp.nc")
    with pytest.raises(BadInputError, match="stimulus_ids appl.* to RDM files only"):
        read_brain(tmp_path / "resp.nc", stimulus_ids=ids)
    io.save(resp.expand_dims(time=2).transpose("stimulus", "neuroid", "time"), tmp_path / "resp3d.nc")
    with pytest.raises(BadInputError, match=r"extra dims \['time'\]"):
        read_brain(tmp_path / "resp3d.nc")
    io.save(resp.rename(stimulus="trial"), tmp_path / "nolabel.nc")
    with pytest.raises(BadInputError, match="need a 'stimulus' coord"):
        read_brain(tmp_path / "nolabel.nc")
    io.save(xr.DataArray(np.zeros((3, 4)), dims=("a", "b")), tmp_path / "odd.nc")
    with pytest.raises(BadInputError, match=r"odd\.nc.*Accepted: an RDM stack"):
        read_brain(tmp_path / "odd.nc")
    (tmp_path / "brain.csv").write_text("a,b\n1,2\n")
    with pytest.raises(BadInputError, match=r"brain\.csv.*Accepted: an RDM stack.*responses.*epochs"):
        read_brain(tmp_path / "brain.csv")
    np.save(tmp_path / "resp.npy", resp.values)
    with pytest.raises(BadInputError, match="save them as .nc with dims"):
        read_brain(tmp_path / "resp.npy", stimulus_ids=ids)
