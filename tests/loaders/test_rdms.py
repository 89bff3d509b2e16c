"""read_rdms: RDM files a user would write (npy, npz, mat, rsatoolbox hdf5, nc) from the real Cichy RDMs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat
from scipy.spatial.distance import squareform

from neurodecode import io
from neurodecode.datamodel import validate
from neurodecode.errors import BadInputError
from neurodecode.loaders import read_rdms, read_stimulus_ids
from tests.conftest import require_data

N = 20  # stimuli kept in the subset
K = 5  # subjects kept


@pytest.fixture(scope="module")
def cichy(data_home):
    folder = require_data(data_home / "cichy92_fmri", "cichy92_fmri")
    return {r: np.load(folder / f"92images_fmri_{r}_RDMs.npz")["Net_RDM"] for r in ("EVC", "IT")}


@pytest.fixture
def ids():
    return [f"img/{i:02d}" for i in range(N)]


@pytest.fixture
def user_files(tmp_path, cichy, ids):
    """An .npy stack (5 subjects x 20 images of IT), its id list and a meta CSV, written as a user would."""
    stack = cichy["IT"][:K, :N, :N]
    np.save(tmp_path / "it_rdms.npy", stack)
    (tmp_path / "ids.txt").write_text("\n".join(f"  {i} " for i in ids[:10]) + "\n\n" + "\n".join(ids[10:]) + "\n")
    pd.DataFrame({"subject": [f"s{i}" for i in range(K)], "region": "IT", "session": np.arange(K) + 1}).to_csv(
        tmp_path / "meta.csv", index=False
    )
    return tmp_path, stack


def test_npy_stack_with_ids_and_meta(user_files, ids):
    folder, stack = user_files
    rdms = read_rdms(folder / "it_rdms.npy", stimulus_ids=folder / "ids.txt", meta=folder / "meta.csv",
                     method="correlation")
    assert validate(rdms) == "rdm" and validate(rdms, "rdm") == "rdm"
    assert rdms.dims == ("rdm", "stimulus", "stimulus_") and rdms.dtype == np.float64
    np.testing.assert_allclose(rdms.values, stack, rtol=0, atol=1e-15)
    assert list(rdms["stimulus"].values) == ids and list(rdms["stimulus_"].values) == ids
    assert list(rdms["subject"].values) == [f"s{i}" for i in range(K)]
    assert set(rdms["region"].values) == {"IT"}
    assert list(rdms["session"].values) == [1, 2, 3, 4, 5]
    assert list(rdms["rdm"].values) == [f"IT/s{i}/{i + 1}" for i in range(K)]
    assert rdms.attrs["nd_kind"] == "rdm" and rdms.attrs["method"] == "correlation"
    # exactly symmetric, zero diagonal
    assert (rdms.values == rdms.values.transpose(0, 2, 1)).all()
    assert (np.diagonal(rdms.values, axis1=1, axis2=2) == 0).all()


def test_defaults_without_meta(user_files):
    folder, _ = user_files
    rdms = read_rdms(folder / "it_rdms.npy", stimulus_ids=folder / "ids.txt")
    assert list(rdms["subject"].values) == ["1", "2", "3", "4", "5"]
    assert set(rdms["region"].values) == {"it_rdms"}
    assert rdms.attrs["method"] == "unknown"
    named = read_rdms(folder / "it_rdms.npy", stimulus_ids=read_stimulus_ids(folder / "ids.txt").tolist(), region="IT")
    assert set(named["region"].values) == {"IT"} and named["rdm"].values[0] == "IT/1"


def test_two_d_npy_and_condensed(tmp_path, cichy, ids):
    one = cichy["EVC"][3, :N, :N]
    np.save(tmp_path / "one.npy", one)
    r = read_rdms(tmp_path / "one.npy", stimulus_ids=ids)
    assert r.shape == (1, N, N) and r["subject"].item() == "1"
    np.testing.assert_allclose(r.values[0], one, atol=1e-15)
    vecs = np.stack([squareform(m, checks=False) for m in cichy["EVC"][:3, :N, :N]])
    np.save(tmp_path / "condensed.npy", vecs)
    c = read_rdms(tmp_path / "condensed.npy", stimulus_ids=ids)
    np.testing.assert_allclose(c.values, cichy["EVC"][:3, :N, :N], atol=1e-15)


def test_npz_real_file(data_home, cichy):
    ids92 = [f"image_{i:02d}" for i in range(1, 93)]
    r = read_rdms(data_home / "cichy92_fmri" / "92images_fmri_IT_RDMs.npz", stimulus_ids=ids92, key="Net_RDM")
    assert r.shape == (15, 92, 92) and set(r["region"].values) == {"92images_fmri_IT_RDMs"}
    np.testing.assert_allclose(r.values, cichy["IT"], atol=1e-15)


def test_mat_layouts_and_keys(tmp_path, cichy, ids):
    stack = cichy["IT"][:K, :N, :N]
    savemat(tmp_path / "matlab.mat", {"RDMs": np.moveaxis(stack, 0, -1)})  # MATLAB's (n, n, n_rdm)
    r = read_rdms(tmp_path / "matlab.mat", stimulus_ids=ids)
    np.testing.assert_allclose(r.values, stack, atol=1e-15)
    savemat(tmp_path / "two.mat", {"evc": cichy["EVC"][:K, :N, :N], "it": stack, "labels": "abc"})
    with pytest.raises(BadInputError, match=r"several.*evc.*it.*key=NAME"):
        read_rdms(tmp_path / "two.mat", stimulus_ids=ids)
    np.testing.assert_allclose(read_rdms(tmp_path / "two.mat", stimulus_ids=ids, key="evc").values,
                               cichy["EVC"][:K, :N, :N], atol=1e-15)
    with pytest.raises(BadInputError, match="no array 'nope'"):
        read_rdms(tmp_path / "two.mat", stimulus_ids=ids, key="nope")
    # a cube (20 RDMs of 20 stimuli): the reading that gives symmetric matrices wins
    cube = np.concatenate([cichy["IT"][:15, :N, :N], cichy["EVC"][:5, :N, :N]])
    savemat(tmp_path / "cube_last.mat", {"R": np.moveaxis(cube, 0, -1)})
    savemat(tmp_path / "cube_first.mat", {"R": cube})
    for name in ("cube_last.mat", "cube_first.mat"):
        np.testing.assert_allclose(read_rdms(tmp_path / name, stimulus_ids=ids).values, cube, atol=1e-15)


def test_rsatoolbox_hdf5(tmp_path, cichy, ids):
    from rsatoolbox.rdm import RDMs

    stack = cichy["IT"][:K, :N, :N]
    iu = np.triu_indices(N, 1)
    rdms = RDMs(stack[:, iu[0], iu[1]], dissimilarity_measure="correlation",
                rdm_descriptors={"subject": [f"sub-{i + 1:02d}" for i in range(K)], "region": ["IT"] * K},
                pattern_descriptors={"stimulus": ids})
    rdms.save(str(tmp_path / "rsa.hdf5"), file_type="hdf5")
    r = read_rdms(tmp_path / "rsa.hdf5")
    np.testing.assert_allclose(r.values, rdms.get_matrices(), atol=1e-15)
    assert list(r["stimulus"].values) == ids
    assert list(r["subject"].values) == [f"sub-{i + 1:02d}" for i in range(K)]
    assert set(r["region"].values) == {"IT"} and r.attrs["method"] == "correlation"
    # unlabelled patterns need the ids
    RDMs(stack[:, iu[0], iu[1]]).save(str(tmp_path / "bare.h5"), file_type="hdf5")
    with pytest.raises(BadInputError, match="--stimulus-ids"):
        read_rdms(tmp_path / "bare.h5")
    assert list(read_rdms(tmp_path / "bare.h5", stimulus_ids=ids)["stimulus"].values) == ids
    with pytest.raises(BadInputError, match="method='euclidean'"):
        read_rdms(tmp_path / "rsa.hdf5", method="euclidean")
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(BadInputError, match="not an rsatoolbox RDMs file"):
        read_rdms(tmp_path / "other.h5")


def test_netcdf_round_trip_and_several_files(user_files, tmp_path, cichy, ids):
    folder, stack = user_files
    rdms = read_rdms(folder / "it_rdms.npy", stimulus_ids=folder / "ids.txt", meta=folder / "meta.csv",
                     method="correlation")
    io.save(rdms, tmp_path / "stack.nc")
    back = read_rdms(tmp_path / "stack.nc")
    np.testing.assert_array_equal(back.values, rdms.values)
    assert list(back["rdm"].values) == list(rdms["rdm"].values)
    assert list(back["subject"].values) == list(rdms["subject"].values) and back.attrs["method"] == "correlation"
    with pytest.raises(BadInputError, match="differ from the stimulus_ids"):
        read_rdms(tmp_path / "stack.nc", stimulus_ids=[f"x{i}" for i in range(N)])
    with pytest.raises(BadInputError, match="already names the region"):
        read_rdms(tmp_path / "stack.nc", region="V1")
    # two files (a glob), the second in another stimulus order: reordered to the first
    sub = tmp_path / "two"
    sub.mkdir()
    np.save(sub / "a_evc.npy", cichy["EVC"][:2, :N, :N])
    np.save(sub / "b_it.npy", cichy["IT"][:3, :N, :N])
    both = read_rdms(str(sub / "*.npy"), stimulus_ids=ids)
    assert both.shape == (5, N, N)
    assert list(both["region"].values) == ["a_evc"] * 2 + ["b_it"] * 3
    assert list(both["subject"].values) == ["1", "2", "1", "2", "3"]
    perm = np.random.default_rng(0).permutation(N)
    shuffled = read_rdms(sub / "b_it.npy", stimulus_ids=ids).isel(stimulus=perm, stimulus_=perm)
    io.save(shuffled, tmp_path / "shuffled.nc")
    mixed = read_rdms([sub / "a_evc.npy", tmp_path / "shuffled.nc"], stimulus_ids=ids)
    np.testing.assert_allclose(mixed.values[2:], cichy["IT"][:3, :N, :N], atol=1e-15)
    np.save(sub / "c_short.npy", cichy["IT"][:1, :N - 1, :N - 1])
    with pytest.raises(BadInputError, match="19 stimuli.*20 stimulus ids"):
        read_rdms(str(sub / "*.npy"), stimulus_ids=ids)


def test_bad_input(user_files, tmp_path, cichy, ids):
    folder, stack = user_files
    npy = folder / "it_rdms.npy"
    with pytest.raises(BadInputError, match=r"it_rdms\.npy.*--stimulus-ids FILE"):
        read_rdms(npy)
    with pytest.raises(BadInputError, match=r"it_rdms\.npy.*20 stimuli.*19 stimulus ids"):
        read_rdms(npy, stimulus_ids=ids[:19])
    (tmp_path / "dup.txt").write_text("\n".join(ids[:19] + [ids[3]]))
    with pytest.raises(BadInputError, match=r"dup\.txt.*'img/03' \(lines 4 and 20\)"):
        read_rdms(npy, stimulus_ids=tmp_path / "dup.txt")
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(BadInputError, match="holds no id"):
        read_rdms(npy, stimulus_ids=tmp_path / "empty.txt")
    with pytest.raises(BadInputError, match="does not exist"):
        read_rdms(npy, stimulus_ids=tmp_path / "missing.txt")

    def bad(array, match, **kw):
        np.save(tmp_path / "bad.npy", array)
        with pytest.raises(BadInputError, match=match):
            read_rdms(tmp_path / "bad.npy", stimulus_ids=ids, **kw)

    bad(stack[:, :, :N - 1], r"bad\.npy.*shape \(5, 20, 19\) is not an RDM stack")
    bad(np.zeros((N, 7)), "responses")
    asym = stack.copy()
    asym[2, 3, 7] += 0.2
    bad(asym, r"RDM 2 is not symmetric: \[3, 7\].*stimuli 'img/03', 'img/07'")
    bad(1.0 - stack, r"similarity matrix.*pass 1 - S")
    shifted = stack + 0.5
    bad(shifted, "non-zero diagonal")
    nan = stack.copy()
    nan[1, 4, 5] = nan[1, 5, 4] = np.nan
    bad(nan, r"bad\.npy.*RDM 1 holds 2 NaN/inf.*\[4, 5\]")
    inf = stack.copy()
    inf[0, 1, 2] = inf[0, 2, 1] = np.inf
    bad(inf, "NaN/inf")
    bad(stack.astype(complex), "real numbers")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BadInputError, match="without unpickling"):
        read_rdms(tmp_path / "obj.npy", stimulus_ids=ids)
    (tmp_path / "trunc.npy").write_bytes(npy.read_bytes()[:200])
    with pytest.raises(BadInputError, match=r"trunc\.npy"):
        read_rdms(tmp_path / "trunc.npy", stimulus_ids=ids)
    pd.DataFrame({"subject": ["a", "b"]}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(BadInputError, match=r"short\.csv has 2 row\(s\).*5 RDM\(s\)"):
        read_rdms(npy, stimulus_ids=ids, meta=tmp_path / "short.csv")
    with pytest.raises(BadInputError, match="reserved"):
        read_rdms(npy, stimulus_ids=ids, meta=pd.DataFrame({"stimulus": range(K)}))
    with pytest.raises(BadInputError, match="region=.*already names"):
        read_rdms(npy, stimulus_ids=ids, meta=folder / "meta.csv", region="V1")
    with pytest.raises(BadInputError, match="session"):
        read_rdms(npy, stimulus_ids=ids, meta=pd.DataFrame({"subject": ["a"] * K}))
    np.savez(tmp_path / "two.npz", a=stack, b=stack)
    with pytest.raises(BadInputError, match=r"several.*a \(5, 20, 20\).*key=NAME"):
        read_rdms(tmp_path / "two.npz", stimulus_ids=ids)
    with pytest.raises(BadInputError, match="key='a' applies to .npz and .mat"):
        read_rdms(npy, stimulus_ids=ids, key="a")
    (tmp_path / "rdms.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(BadInputError, match=r"unknown suffix '\.pkl'; accepted: \.h5, \.hdf5, \.mat"):
        read_rdms(tmp_path / "rdms.pkl")
    with pytest.raises(BadInputError, match="does not exist"):
        read_rdms(tmp_path / "nothing.npy", stimulus_ids=ids)


def test_pipeline_loader_rdms_read(user_files, tmp_path):
    """`rdms.read` from a pipeline file: the registered loader with file-path params."""
    from neurodecode.pipeline import run
    from neurodecode.pipeline.ops import get_loader

    folder, stack = user_files
    assert get_loader("rdms.read").resolve() is read_rdms
    for name in ("images.read", "brain.read", "table.read", "io.open"):
        assert callable(get_loader(name).resolve())
    cfg = {
        "name": "user_rdms",
        "description": "a user's RDM file",
        "data": {"files": [str(folder / "it_rdms.npy")], "loader": "rdms.read",
                 "params": {"stimulus_ids": str(folder / "ids.txt"), "meta": str(folder / "meta.csv"),
                            "method": "correlation"}},
        "steps": [{"id": "two", "op": "core.select", "params": {"keep": {"subject": ["s0", "s1"]}}}],
        "outputs": {"save": ["two"]},
    }
    run(cfg, tmp_path / "out", progress=False)
    two = io.open(tmp_path / "out" / "two.nc", chunks=None)
    assert list(two["subject"].values) == ["s0", "s1"] and two.attrs["method"] == "correlation"
    np.testing.assert_allclose(two.values, stack[:2], atol=1e-15)


class _Payload:
    """Unpickling this would create a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_planted_pickles_never_run(tmp_path, ids):
    marker = tmp_path / "unpickled.marker"
    np.save(tmp_path / "evil.npy", np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "evil.npz", a=np.array([_Payload(marker)], dtype=object))
    for name in ("evil.npy", "evil.npz"):
        with pytest.raises(BadInputError, match="without unpickling"):
            read_rdms(tmp_path / name, stimulus_ids=ids)
    assert not marker.exists()
