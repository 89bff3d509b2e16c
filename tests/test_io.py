"""neurodecode.io: lossless, atomic netCDF/zarr round trips (property-based with hypothesis)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from neurodecode import datamodel as dm
from neurodecode import io
from neurodecode.errors import BadInputError

FORMATS = ["nc", "zarr"]

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8)
attr_values = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=20).filter(lambda s: "\x00" not in s),
    st.just("json:{not json"),
    st.booleans(),
    st.none(),
    st.lists(st.integers(min_value=-1000, max_value=1000), max_size=4),
    st.dictionaries(names, st.integers(min_value=-5, max_value=5), max_size=3),
)


@st.composite
def epochs_objects(draw):
    n_tr = draw(st.integers(1, 4))
    n_ch = draw(st.integers(1, 3))
    n_t = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int16, np.int64]))
    data = draw(hnp.arrays(dtype, (n_tr, n_ch, n_t),
                           elements=hnp.from_dtype(np.dtype(dtype), allow_nan=False, allow_infinity=False)))
    labels = draw(st.lists(st.sampled_from(["face", "house", "çà", ""]), min_size=n_tr, max_size=n_tr))
    ep = dm.make_epochs(data, 256.0, [f"ch{i}" for i in range(n_ch)], -0.1,
                        metadata={"label": labels, "run": np.arange(n_tr)})
    for key, value in draw(st.dictionaries(names, attr_values, max_size=4)).items():
        ep.attrs["x_" + key] = value
    return ep


def _roundtrip(obj, tmp_path, fmt, chunks=None):
    path = tmp_path / f"obj.{fmt}"
    io.save(obj, path)
    return io.open(path, chunks=chunks), path


def _assert_same(a, b):
    xr.testing.assert_identical(a, b)
    if isinstance(a, xr.DataArray):
        assert a.dtype == b.dtype
        assert a.name == b.name
    for k, v in a.attrs.items():
        np.testing.assert_equal(b.attrs[k], v)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ep=epochs_objects())
def test_epochs_roundtrip_lossless(ep, fmt, tmp_path):
    back, _ = _roundtrip(ep, tmp_path, fmt)
    _assert_same(ep, back)


@pytest.mark.parametrize("fmt", FORMATS)
def test_recording_with_events_roundtrip(tmp_path, fmt):
    rng = np.random.default_rng(1)
    ev = dm.make_events([0.1, 0.5, 0.9], ["face", "house", "face"], duration=[0, 0.1, 0])
    rec = dm.make_recording(rng.normal(size=(4, 100)), 100.0, list("abcd"), events=ev,
                            positions=rng.normal(size=(4, 3)), subject="1", flag=True, bad=["a"])
    back, _ = _roundtrip(rec, tmp_path, fmt)
    _assert_same(rec, back)
    assert dm.validate(back.load()) == "recording"


@pytest.mark.parametrize("fmt", FORMATS)
def test_open_is_lazy_by_default(tmp_path, fmt):
    ijk = np.array([[i, j, 0] for i in range(2) for j in range(5)])  # every voxel of the (2, 5, 1) volume once
    bold = dm.make_bold(np.arange(60.0).reshape(6, 10), 2.5, ijk=ijk, affine=np.eye(4), shape=(2, 5, 1))
    back, _ = _roundtrip(bold, tmp_path, fmt, chunks="auto")
    assert hasattr(back.data, "dask"), "io.open should return dask-backed data"
    np.testing.assert_array_equal(back.values, bold.values)
    assert dm.validate(back) == "bold"
    np.testing.assert_array_equal(back.attrs["affine"], bold.attrs["affine"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_spike_trains_roundtrip(tmp_path, fmt):
    st_ = dm.make_spike_trains([np.array([0.1, 0.2]), np.array([0.5])], unit=["a", "b"],
                               unit_coords={"location": ["CA1", "AMY"]})
    back, _ = _roundtrip(st_, tmp_path, fmt)
    _assert_same(st_, back)


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    """A write that dies half-way leaves the previous file intact and no temp files behind."""
    ep = dm.make_epochs(np.ones((2, 2, 3)), 10.0, ["a", "b"], 0.0)
    path = tmp_path / "e.nc"
    io.save(ep, path)
    before = path.read_bytes()

    def boom(self, *a, **k):
        if a and a[0] is not None:  # a direct write to the temporary file
            with open(a[0], "wb") as fh:
                fh.write(b"partial")
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(KeyboardInterrupt):
        io.save(ep * 2, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["e.nc"]


def test_zarr_overwrite_replaces_store(tmp_path):
    path = tmp_path / "x.zarr"
    io.save(dm.make_epochs(np.ones((2, 2, 3)), 10.0, ["a", "b"], 0.0), path)
    io.save(dm.make_epochs(np.zeros((3, 2, 3)), 10.0, ["a", "b"], 0.0), path)
    back = io.open(path, chunks=None)
    assert back.sizes["trial"] == 3 and float(back.sum()) == 0.0
    assert sorted(os.listdir(tmp_path)) == ["x.zarr"]


def test_bad_paths(tmp_path):
    with pytest.raises(BadInputError, match="suffix"):
        io.save(dm.make_epochs(np.ones((1, 1, 1)), 1.0, ["a"], 0.0), tmp_path / "x.txt")
    with pytest.raises(BadInputError, match="no such file"):
        io.open(tmp_path / "missing.nc")
    trunc = tmp_path / "t.nc"
    io.save(dm.make_epochs(np.ones((20, 4, 50)), 1.0, list("abcd"), 0.0), trunc, compress=False)
    trunc.write_bytes(trunc.read_bytes()[:500])
    with pytest.raises(BadInputError, match="truncated"):
        io.open(trunc)


@pytest.mark.parametrize("fmt", FORMATS)
def test_dataarray_named_like_a_coord(tmp_path, fmt):
    """An RDM stack named "rdm" (the name of its own dim) still round-trips with its name."""
    da = xr.DataArray(np.zeros((2, 3, 3)), dims=("rdm", "stimulus", "stimulus_"),
                      coords={"rdm": [0, 1]}, name="rdm", attrs={"method": "correlation"})
    back, _ = _roundtrip(da, tmp_path, fmt)
    _assert_same(da, back)
