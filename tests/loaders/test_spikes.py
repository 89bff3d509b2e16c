"""Spike loaders: NWB units/intervals vs h5py, binned .mat vs scipy.io.loadmat, bin_spikes vs np.histogram."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest
import scipy.io

from neurodecode.datamodel import make_spike_trains, validate
from neurodecode.errors import BadInputError
from neurodecode.loaders.spikes import (
    bin_spikes,
    intervals_of,
    read_binned_mat,
    read_nwb_intervals,
    read_nwb_units,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

ZHENG = "sub-4_ses-4_ecephys+image.nwb"
PHY = "A8604-211122.nwb"
NWB_FILES = [ZHENG, PHY]


def _dec(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _h5_trains(path):
    """Independent read of the ragged units/spike_times array with h5py."""
    with h5py.File(path, "r") as h:
        flat = h["units/spike_times"][:]
        ends = h["units/spike_times_index"][:].astype(np.int64)
        ids = h["units/id"][:]
    starts = np.concatenate([[0], ends[:-1]])
    return ids, [flat[a:b] for a, b in zip(starts, ends)]


@pytest.fixture(scope="module")
def nwb_dir(data_home):
    return data_home / "nwb_units"


@pytest.fixture(scope="module")
def zheng(nwb_dir):
    return read_nwb_units(nwb_dir / ZHENG)


@pytest.fixture(scope="module")
def phy(nwb_dir):
    return read_nwb_units(nwb_dir / PHY)


@pytest.fixture(scope="module")
def reach_dir(data_home):
    return data_home / "reaching_m1_s1"


# --------------------------------------------------------------------------- NWB units


@pytest.mark.realdata
@pytest.mark.parametrize("name", NWB_FILES)
def test_nwb_spike_times_equal_h5py_ragged_read(nwb_dir, zheng, phy, name):
    ds = zheng if name == ZHENG else phy
    ids, trains = _h5_trains(nwb_dir / name)
    assert validate(ds) == "spike_trains"
    np.testing.assert_array_equal(ds["unit"].values, ids)
    assert ds.sizes["spike"] == sum(t.size for t in trains)
    for u, expected in enumerate(trains):
        got = ds["spike_time"].values[ds["spike_unit"].values == u]
        np.testing.assert_array_equal(got, np.sort(expected))
        assert int(ds["n_spikes"].values[u]) == expected.size
    flat = np.concatenate(trains)
    assert ds.attrs["t_start"] <= flat.min() and ds.attrs["t_stop"] >= flat.max()
    assert ds.attrs["source"].endswith(name)
    assert len(ds.attrs["sha256"]) == 64


@pytest.mark.realdata
def test_zheng_metadata_and_locations(nwb_dir, zheng):
    with h5py.File(nwb_dir / ZHENG, "r") as h:
        elec = h["units/electrodes"][:]
        loc = np.array(_dec(h["general/extracellular_ephys/electrodes/location"][:]))
        subject = h["general/subject/subject_id"][()]
        identifier = h["identifier"][()]
    assert zheng.sizes["unit"] == 35
    np.testing.assert_array_equal(zheng["location"].values.astype(str), loc[elec])
    assert set(zheng["location"].values) == {"hippocampus_right", "amygdala_right"}
    assert zheng.attrs["subject"] == _dec([subject])[0]
    assert zheng.attrs["identifier"] == _dec([identifier])[0]
    assert zheng.attrs["session_description"]
    assert zheng.attrs["skipped_unit_columns"] == []


@pytest.mark.realdata
def test_zheng_interval_tables(nwb_dir, zheng):
    assert zheng.sizes["encoding_table"] == 90
    assert zheng.sizes["recognition_table"] == 180
    assert zheng.sizes["timediscrimination_table"] == 180
    with h5py.File(nwb_dir / ZHENG, "r") as h:
        enc_start = h["intervals/encoding_table/start_time"][:]
        clip = _dec(h["intervals/encoding_table/Clip_name"][:])
        cat = h["intervals/encoding_table/stimCategory"][:]
        rec_cols = [k for k in h["intervals/recognition_table"].keys() if k != "id"]
        frame = _dec(h["intervals/recognition_table/frameName"][:])
    np.testing.assert_array_equal(zheng["encoding_table__start_time"].values, enc_start)
    assert zheng["encoding_table__Clip_name"].values.tolist() == clip
    assert all(isinstance(v, str) for v in zheng["encoding_table__Clip_name"].values)
    np.testing.assert_array_equal(zheng["encoding_table__stimCategory"].values, cat)
    assert set(np.unique(cat)) <= {0, 1, 2}
    for col in rec_cols:
        assert f"recognition_table__{col}" in zheng
    assert zheng["recognition_table__frameName"].values.tolist() == frame
    # response_time is stored in the group but not declared in colnames (pynwb ignores it): read anyway
    assert zheng.attrs["undeclared_columns"] == {
        "recognition_table": ["response_time"], "timediscrimination_table": ["response_time"]
    }
    with h5py.File(nwb_dir / ZHENG, "r") as h:
        resp = h["intervals/recognition_table/response_time"][:]
    np.testing.assert_array_equal(zheng["recognition_table__response_time"].values, resp)
    df = intervals_of(zheng, "recognition_table")
    assert df.shape == (180, len(rec_cols))
    with pytest.raises(BadInputError, match="available"):
        intervals_of(zheng, "trials")


@pytest.mark.realdata
def test_read_nwb_intervals_dataframes(nwb_dir):
    tables = read_nwb_intervals(nwb_dir / ZHENG)
    assert set(tables) == {"encoding_table", "recognition_table", "timediscrimination_table"}
    assert len(tables["encoding_table"]) == 90 and len(tables["recognition_table"]) == 180
    with h5py.File(nwb_dir / ZHENG, "r") as h:
        stop = h["intervals/recognition_table/stop_time"][:]
    np.testing.assert_array_equal(tables["recognition_table"]["stop_time"].to_numpy(), stop)
    assert isinstance(tables["encoding_table"]["Clip_name"].iloc[0], str)
    assert "response_time" in tables["recognition_table"].columns
    epochs = read_nwb_intervals(nwb_dir / PHY)["epochs"]
    assert list(epochs["tags"].iloc[0]) == ["wake"]  # ragged column kept here


@pytest.mark.realdata
def test_phy_file_units_and_skipped_columns(nwb_dir, phy):
    assert phy.sizes["unit"] == 3 and phy.sizes["spike"] == 21354
    assert phy["electrode_group"].values.tolist() == ["group0_psb"] * 3
    assert "epochs" in phy.dims and phy.attrs["skipped_interval_columns"] == {"epochs": ["tags"]}
    with h5py.File(nwb_dir / PHY, "r") as h:
        np.testing.assert_array_equal(phy["epochs__stop_time"].values, h["intervals/epochs/stop_time"][:])
    no_iv = read_nwb_units(nwb_dir / PHY, intervals=False, checksum=False)
    assert "epochs" not in no_iv.dims and "sha256" not in no_iv.attrs


@pytest.mark.realdata
def test_nwb_roundtrip_through_io(tmp_path, phy):
    import xarray as xr

    from neurodecode import io

    path = io.save(phy, tmp_path / "phy.nc")
    xr.testing.assert_identical(io.open(path, chunks=None).load(), phy)


@pytest.mark.realdata
def test_nwb_bad_files(tmp_path, nwb_dir):
    with pytest.raises(BadInputError, match="does not exist"):
        read_nwb_units(tmp_path / "missing.nwb")
    junk = tmp_path / "junk.nwb"
    junk.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(BadInputError, match="NWB"):
        read_nwb_units(junk)
    truncated = tmp_path / "truncated.nwb"
    data = (nwb_dir / PHY).read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(BadInputError):
        read_nwb_units(truncated)
    empty = tmp_path / "empty.nwb"
    empty.touch()
    with pytest.raises(BadInputError, match="empty"):
        read_nwb_units(empty)


# --------------------------------------------------------------------------- binned .mat


@pytest.mark.realdata
def test_m1_counts_equal_loadmat(reach_dir):
    da = read_binned_mat(reach_dir / "m1_stevenson_2011.mat")
    mat = scipy.io.loadmat(reach_dir / "m1_stevenson_2011.mat")
    assert validate(da) == "binned_spikes"
    assert da.dims == ("time", "unit") and da.shape == (15536, 171)
    np.testing.assert_array_equal(da.values, mat["spikes"].T)
    np.testing.assert_array_equal(da["time"].values, mat["time"].ravel())
    for i, ax in enumerate("xyz"):
        np.testing.assert_array_equal(da[f"vel_{ax}"].values, mat["handVel"][i])
        np.testing.assert_array_equal(da[f"pos_{ax}"].values, mat["handPos"][i])
    assert da.attrs["bin_size"] == pytest.approx(0.05)
    assert da.attrs["bin_size_assumed"] is False
    assert da.attrs["orientation_in_file"] == "unit_time"
    assert da.attrs["source_dtype"] == "uint8"


@pytest.mark.realdata
def test_s1_orientation_and_assumed_bin_size(reach_dir, caplog):
    mat = scipy.io.loadmat(reach_dir / "s1_data.mat")
    with caplog.at_level(logging.WARNING, logger="neurodecode.loaders.spikes"):
        da = read_binned_mat(reach_dir / "s1_data.mat")
    assert "assuming bin_size" in caplog.text
    assert da.shape == (35129, 52) and da.attrs["orientation_in_file"] == "time_unit"
    np.testing.assert_array_equal(da.values, mat["spikes"])
    np.testing.assert_array_equal(da["vel_y"].values, mat["vel"][:, 1])
    np.testing.assert_array_equal(da["pos_x"].values, mat["pos"][:, 0])
    assert "vel_z" not in da.coords
    assert da.attrs["bin_size_assumed"] is True and da.attrs["bin_size"] == 0.05
    caplog.clear()
    given = read_binned_mat(reach_dir / "s1_data.mat", bin_size=0.025, checksum=False)
    assert given.attrs["bin_size_assumed"] is False and given.attrs["bin_size"] == 0.025
    assert "assuming" not in caplog.text
    np.testing.assert_allclose(np.diff(given["time"].values), 0.025)


@pytest.mark.realdata
def test_m1_bin_size_contradicting_time_vector(reach_dir):
    with pytest.raises(BadInputError, match="time vector"):
        read_binned_mat(reach_dir / "m1_stevenson_2011.mat", bin_size=0.1)


def test_binned_mat_orientation_rules(tmp_path):
    rng = np.random.default_rng(0)
    square = tmp_path / "square.mat"
    scipy.io.savemat(square, {"spikes": rng.poisson(1, (4, 4)).astype(np.uint8), "vel": rng.normal(size=(4, 2))})
    with pytest.raises(BadInputError, match="orientation"):
        read_binned_mat(square, bin_size=0.05)
    da = read_binned_mat(square, bin_size=0.05, orientation="unit_time")
    np.testing.assert_array_equal(da.values, scipy.io.loadmat(square)["spikes"].T)

    bare = tmp_path / "bare.mat"
    scipy.io.savemat(bare, {"spikes": rng.poisson(1, (10, 3))})
    with pytest.raises(BadInputError, match="orientation"):
        read_binned_mat(bare, bin_size=0.05)
    assert read_binned_mat(bare, bin_size=0.05, orientation="time_unit").shape == (10, 3)

    mismatch = tmp_path / "mismatch.mat"
    scipy.io.savemat(mismatch, {"spikes": rng.poisson(1, (10, 3)), "pos": rng.normal(size=(7, 2))})
    with pytest.raises(BadInputError, match="neither axis"):
        read_binned_mat(mismatch, bin_size=0.05)
    with pytest.raises(BadInputError, match="check the orientation"):
        read_binned_mat(mismatch, bin_size=0.05, orientation="time_unit")

    negative = tmp_path / "negative.mat"
    scipy.io.savemat(negative, {"spikes": -np.ones((10, 3)), "vel": np.zeros((10, 2))})
    with pytest.raises(BadInputError, match="negative"):
        read_binned_mat(negative, bin_size=0.05)
    fractional = tmp_path / "fractional.mat"
    scipy.io.savemat(fractional, {"spikes": np.full((10, 3), 0.5), "vel": np.zeros((10, 2))})
    with pytest.raises(BadInputError, match="non-integer"):
        read_binned_mat(fractional, bin_size=0.05)
    nokey = tmp_path / "nokey.mat"
    scipy.io.savemat(nokey, {"counts": np.zeros((10, 3)), "vel": np.zeros((10, 2))})
    with pytest.raises(BadInputError, match="spikes_key"):
        read_binned_mat(nokey)
    assert read_binned_mat(nokey, spikes_key="counts", bin_size=0.05).shape == (10, 3)
    with pytest.raises(BadInputError, match="does not exist"):
        read_binned_mat(tmp_path / "missing.mat")


# --------------------------------------------------------------------------- bin_spikes


def _synthetic_trains(seed=0, n_units=4, t_stop=10.0):
    rng = np.random.default_rng(seed)
    trains = [np.sort(rng.uniform(0, t_stop, rng.integers(50, 300))) for _ in range(n_units)]
    return trains, make_spike_trains(trains, t_start=0.0, t_stop=t_stop, unit_coords={"area": list("abcd")[:n_units]})


def test_bin_spikes_equals_histogram():
    trains, ds = _synthetic_trains()
    t0, t1, bs = 1.0, 9.0, 0.25
    binned = bin_spikes(ds, bs, t_start=t0, t_stop=t1)
    assert validate(binned) == "binned_spikes" and binned.dtype.kind == "i"
    edges = t0 + np.arange(33) * bs
    assert binned.shape == (32, 4)
    for u, train in enumerate(trains):
        expected, _ = np.histogram(train[train < t1], bins=edges)
        np.testing.assert_array_equal(binned.values[:, u], expected)
    inside = sum(int(((t >= t0) & (t < t1)).sum()) for t in trains)
    assert int(binned.sum()) == inside
    np.testing.assert_allclose(binned["time"].values, edges[:-1] + bs / 2)
    assert binned["area"].values.tolist() == list("abcd")


def test_bin_spikes_default_range_keeps_every_spike():
    trains, ds = _synthetic_trains(seed=1)
    binned = bin_spikes(ds, 0.5)
    assert int(binned.sum()) == sum(t.size for t in trains)
    np.testing.assert_array_equal(binned.sum("time").values, [t.size for t in trains])


def test_bin_spikes_edges_and_partial_bin():
    # binary-exact edges 0, .25, .5, .75: a spike on an edge goes to the bin on its right
    ds = make_spike_trains([np.array([0.0, 0.25, 0.5, 0.7499, 0.75, 0.8])], t_start=0.0, t_stop=1.0)
    binned = bin_spikes(ds, 0.25, t_start=0.0, t_stop=0.875)  # partial last bin [0.75, 0.875) dropped
    assert binned.sizes["time"] == 3 and binned.attrs["t_stop"] == 0.75
    np.testing.assert_array_equal(binned.values[:, 0], [1, 1, 2])
    assert binned.attrs["n_spikes_outside"] == 2


def test_bin_spikes_bad_input():
    _, ds = _synthetic_trains()
    for bad in (0, -0.1, np.nan):
        with pytest.raises(BadInputError, match="bin_size"):
            bin_spikes(ds, bad)
    with pytest.raises(BadInputError, match="greater than t_start"):
        bin_spikes(ds, 0.1, t_start=5.0, t_stop=5.0)
    with pytest.raises(BadInputError, match="greater than t_start"):
        bin_spikes(ds, 0.1, t_start=5.0, t_stop=2.0)
    with pytest.raises(BadInputError, match="shorter than one bin"):
        bin_spikes(ds, 1.0, t_start=0.0, t_stop=0.5)


@pytest.mark.realdata
def test_bin_spikes_real_nwb_equals_histogram(nwb_dir, phy):
    _, trains = _h5_trains(nwb_dir / PHY)
    t0, t1, bs = 0.0, 1000.0, 0.1
    binned = bin_spikes(phy, bs, t_start=t0, t_stop=t1)
    edges = np.arange(10001) * bs
    for u, train in enumerate(trains):
        expected, _ = np.histogram(train[train < t1], bins=edges)
        np.testing.assert_array_equal(binned.values[:, u], expected)
    assert int(binned.sum()) == sum(int(((t >= t0) & (t < t1)).sum()) for t in trains)
