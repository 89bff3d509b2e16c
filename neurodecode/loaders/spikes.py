"""Spike loaders: NWB units tables (pynwb), binned ``.mat`` files (scipy/pymatreader), and binning.

Three entry points build data-model objects (see :mod:`neurodecode.datamodel`):

* :func:`read_nwb_units` reads the units table of an NWB 2.x file (spike times per unit, scalar
  unit metadata, the brain area of each unit's electrode) and, optionally, every interval table
  (trials, epochs, ``intervals/<name>``) into one ``spike_trains`` Dataset.
* :func:`read_binned_mat` reads a MATLAB file holding a binned spike-count matrix and behaviour
  (hand position/velocity) into ``binned_spikes`` (time, unit).
* :func:`bin_spikes` turns ``spike_trains`` into ``binned_spikes`` (counts per bin).

pynwb, h5py, scipy.io and pymatreader are imported inside the functions that use them.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._files import sha256_file as _sha256
from ..datamodel import make_binned_spikes, make_spike_trains, validate
from ..errors import BadInputError

__all__ = [
    "read_nwb_units",
    "read_nwb_intervals",
    "intervals_of",
    "read_binned_mat",
    "bin_spikes",
]

log = logging.getLogger(__name__)

#: separator between an interval table name and its column in :func:`read_nwb_units` output
SEP = "__"

DEFAULT_BIN_SIZE = 0.05


# --------------------------------------------------------------------------- helpers


def _check_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise BadInputError(f"{what} file {str(path)!r} does not exist; check the path (or the data home).")
    if not path.is_file():
        raise BadInputError(f"{what} path {str(path)!r} is not a file.")
    if path.stat().st_size == 0:
        raise BadInputError(f"{what} file {str(path)!r} is empty (0 bytes); re-download or re-export it.")
    return path


def _to_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _scalar_values(data: Any) -> np.ndarray | None:
    """Return a 1-D numpy array of scalar values (strings as ``str``), or None if not scalar.

    ``data`` is the already-read content of an NWB VectorData column.
    """
    if isinstance(data, np.ndarray) and data.dtype != object:
        if data.ndim != 1:
            return None
        if data.dtype.kind == "S":
            return np.array([_to_str(v) for v in data], dtype=object)
        if data.dtype.kind == "U":
            return data.astype(object)
        if data.dtype.kind in "biuf":
            return data
        return None
    values = list(data)
    out = []
    for v in values:
        if isinstance(v, (bytes, str)):
            out.append(_to_str(v))
        elif isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)):
            out.append(v)
        elif hasattr(v, "name") and isinstance(getattr(v, "name"), str) and hasattr(v, "fields"):
            out.append(v.name)  # an NWB container (e.g. ElectrodeGroup): keep its name
        else:
            return None
    if all(isinstance(v, str) for v in out):
        return np.array(out, dtype=object)
    try:
        arr = np.asarray(out)
    except (ValueError, TypeError):
        return None
    return arr if arr.ndim == 1 and arr.dtype.kind in "biuf" else None


def _undeclared_columns(table) -> list[tuple[str, Any]]:
    """``(name, values)`` of VectorData datasets stored in a table's HDF5 group but missing from its
    ``colnames`` (pynwb does not load them). Only tables read from an HDF5 file can have them."""
    import h5py

    group = None
    for col in table.columns:
        data = getattr(col, "data", None)
        if isinstance(data, h5py.Dataset):
            group = data.parent
            break
    if group is None:
        return []
    known = {"id", *table.colnames, *(c.name for c in table.columns)}
    out = []
    for key in group:
        obj = group.get(key)
        if not isinstance(obj, h5py.Dataset) or key in known:
            continue
        kind = obj.attrs.get("neurodata_type")
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "VectorData":
            out.append((key, obj[()]))
    return out


def _read_table(table, skip: Sequence[str] = ()) -> tuple[dict[str, np.ndarray], list[str], dict]:
    """Read the scalar columns of an hdmf DynamicTable.

    Returns ``(columns, skipped, regions)``: scalar columns by name (1-D numpy arrays),
    the names of ragged / array-valued / object columns that were left out, and the
    DynamicTableRegion columns as ``name -> (list of row-index arrays, target table)``.
    Datasets stored in the table's group but not declared in its ``colnames`` (a quirk of some
    files, which pynwb ignores) are read too when they have one scalar per row, and logged.
    """
    from hdmf.common.table import DynamicTableRegion, VectorIndex

    columns: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    regions: dict[str, tuple[list[np.ndarray], Any]] = {}
    undeclared = dict(_undeclared_columns(table))
    if undeclared:
        log.info(
            "table %r: reading dataset(s) %s that are stored in the table but not declared in its colnames",
            table.name, sorted(undeclared),
        )
    for name in list(table.colnames) + sorted(undeclared):
        if name in skip:
            continue
        if name in undeclared:
            values = _scalar_values(undeclared[name])
            if values is None or len(values) != len(table):
                skipped.append(name)
            else:
                columns[name] = values
            continue
        col = table[name]
        if isinstance(col, VectorIndex):
            target = col.target
            if isinstance(target, DynamicTableRegion):
                flat = np.asarray(target.data[:], dtype=np.int64)
                ends = np.asarray(col.data[:], dtype=np.int64)
                regions[name] = (np.split(flat, ends[:-1]) if ends.size else [], target.table)
            else:
                skipped.append(name)  # ragged column (e.g. tags, obs_intervals)
            continue
        if isinstance(col, DynamicTableRegion):
            flat = np.asarray(col.data[:], dtype=np.int64)
            regions[name] = ([flat[i : i + 1] for i in range(flat.size)], col.table)
            continue
        try:
            data = col.data[:]
        except Exception:  # pragma: no cover - exotic column types
            skipped.append(name)
            continue
        values = _scalar_values(data)
        if values is None or len(values) != len(table):
            skipped.append(name)
        else:
            columns[name] = values
    return columns, skipped, regions


def _region_coords(rows: list[np.ndarray], target, n_units: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Per-unit coords from the electrodes each unit points to."""
    coords: dict[str, np.ndarray] = {}
    if len(rows) != n_units:
        return coords, ["electrodes"]
    cols, skipped, _ = _read_table(target)
    ids = np.asarray(target.id.data[:])
    single = all(r.size == 1 for r in rows)
    if single:
        idx = np.array([int(r[0]) for r in rows], dtype=np.int64)
        coords["electrode"] = ids[idx]
        for name, values in cols.items():
            coords[f"electrode_{name}"] = values[idx]
    else:
        coords["electrode"] = np.array([",".join(str(ids[i]) for i in r) for r in rows], dtype=object)
        for name, values in cols.items():
            if values.dtype == object:  # strings: the distinct values of the unit's electrodes
                coords[f"electrode_{name}"] = np.array(
                    ["|".join(dict.fromkeys(str(values[i]) for i in r)) for r in rows], dtype=object
                )
            else:
                skipped.append(f"{name} (several electrodes per unit)")
    return coords, [f"electrodes.{s}" for s in skipped]


def _intervals_tables(nwb) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for name in ("trials", "epochs", "invalid_times"):
        table = getattr(nwb, name, None)
        if table is not None:
            tables[name] = table
    for name, table in (nwb.intervals or {}).items():
        tables.setdefault(name, table)
    return tables


def _open_nwb(path: Path):
    pynwb = _require("pynwb")
    try:
        io = pynwb.NWBHDF5IO(str(path), "r")
    except Exception as err:
        raise BadInputError(
            f"cannot open {str(path)!r} as an NWB file ({type(err).__name__}: {err}); "
            "check that it is a complete NWB 2.x (HDF5) file, not truncated."
        ) from err
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            nwb = io.read()
    except Exception as err:
        io.close()
        raise BadInputError(
            f"pynwb could not read {str(path)!r} ({type(err).__name__}: {err}); "
            "the file may be truncated or use an unsupported NWB extension."
        ) from err
    for w in caught:
        log.debug("pynwb while reading %s: %s", path.name, w.message)
    return io, nwb


def _require(module: str):
    from .._optional import require

    return require(module)


# --------------------------------------------------------------------------- NWB


def read_nwb_units(
    path: str | os.PathLike,
    *,
    intervals: bool = True,
    checksum: bool = True,
):
    """Read the units table (and interval tables) of an NWB 2.x file into ``spike_trains``.

    Parameters
    ----------
    path : str or path-like
        The ``.nwb`` (HDF5) file. It is opened read-only with :class:`pynwb.NWBHDF5IO` and
        closed before returning; everything is read into memory.
    intervals : bool
        Also add every interval table of the file (``nwb.trials``, ``nwb.epochs``,
        ``nwb.intervals[name]``) to the Dataset, each on its own dim named after the table,
        with variables ``<table>__start_time``, ``<table>__stop_time`` and
        ``<table>__<column>`` for every scalar column (strings as ``str``). The dim coord holds
        the table's row ids. Use :func:`intervals_of` to get a table back as a DataFrame.
    checksum : bool
        Store the file's SHA-256 in ``attrs["sha256"]``.

    Returns
    -------
    xarray.Dataset
        A ``spike_trains`` Dataset: ``spike_time`` / ``spike_unit`` on dim ``spike``; dim ``unit``
        holds the NWB unit ids, with every scalar column of the units table as a coord on
        ``unit`` (object columns such as ``electrode_group`` become names). When units point to
        electrodes, coords ``electrode`` (electrode id), ``electrode_<column>`` for each scalar
        electrodes column and ``location`` (the brain area of the unit's electrode) are added;
        a units-table ``location`` column wins when it holds any non-empty value.
        Attrs: ``t_start`` / ``t_stop`` (extent of spikes and intervals, s), ``session_description``,
        ``identifier``, ``session_start_time``, ``subject``, ``species``, ``source``, ``sha256``,
        ``skipped_unit_columns`` (ragged or array columns such as waveforms, not read),
        ``skipped_interval_columns`` (``{table: [columns]}``), ``interval_tables`` and
        ``undeclared_columns`` (``{table: [columns]}``: datasets stored in a table's group but not
        declared in its ``colnames``, which pynwb ignores; they are read all the same, e.g.
        ``response_time`` in the Zheng et al. recognition table).

    Raises
    ------
    BadInputError
        Missing, empty or unreadable file; no units table; NaN/inf spike times.
    """
    path = _check_file(path, "NWB")
    io, nwb = _open_nwb(path)
    try:
        units = nwb.units
        if units is None or len(units) == 0:
            raise BadInputError(
                f"{path.name}: the NWB file has no units table (or it is empty); spike-sorted units are "
                "needed. For raw ephys, sort spikes first; for intervals only use read_nwb_intervals()."
            )
        if "spike_times" not in units.colnames:
            raise BadInputError(f"{path.name}: the units table has no 'spike_times' column.")
        index = units["spike_times"]  # VectorIndex over the flat spike_times VectorData
        flat = np.asarray(index.target.data[:], dtype=float)
        ends = np.asarray(index.data[:], dtype=np.int64)
        unit_ids = np.asarray(units.id.data[:])
        columns, skipped, regions = _read_table(units, skip=("spike_times",))
        undeclared = {"units": [name for name, _ in _undeclared_columns(units)]}
        unit_coords: dict[str, np.ndarray] = dict(columns)
        for name, (rows, target) in regions.items():
            if name == "electrodes" or getattr(target, "name", "") == "electrodes":
                extra, bad = _region_coords(rows, target, len(unit_ids))
                unit_coords.update({k: v for k, v in extra.items() if k not in unit_coords})
                skipped.extend(bad)
            else:
                skipped.append(name)
        own_loc = unit_coords.get("location")
        elec_loc = unit_coords.get("electrode_location")
        if elec_loc is not None and (own_loc is None or not any(str(v) for v in own_loc)):
            unit_coords["location"] = elec_loc
        tables: dict[str, tuple[dict[str, np.ndarray], np.ndarray, list[str]]] = {}
        if intervals:
            for name, table in _intervals_tables(nwb).items():
                cols, skip_cols, regs = _read_table(table)
                tables[name] = (cols, np.asarray(table.id.data[:]), skip_cols + list(regs))
                undeclared[name] = [n for n, _ in _undeclared_columns(table)]
        meta = {
            "session_description": _to_str(nwb.session_description),
            "identifier": _to_str(nwb.identifier),
            "session_start_time": str(nwb.session_start_time) if nwb.session_start_time else None,
            "session_id": _to_str(nwb.session_id) if nwb.session_id else None,
            "subject": _to_str(nwb.subject.subject_id) if nwb.subject is not None and nwb.subject.subject_id else None,
            "species": _to_str(nwb.subject.species) if nwb.subject is not None and nwb.subject.species else None,
        }
    finally:
        io.close()

    if ends.size != unit_ids.size or (ends.size and (ends[-1] != flat.size or np.any(np.diff(ends) < 0))):
        raise BadInputError(
            f"{path.name}: units/spike_times_index ({ends.size} entries, last {ends[-1] if ends.size else None}) "
            f"does not match {unit_ids.size} units and {flat.size} spike times; the file is corrupt."
        )
    if not np.all(np.isfinite(flat)):
        raise BadInputError(
            f"{path.name}: {int((~np.isfinite(flat)).sum())} spike time(s) are NaN/inf; fix the export."
        )
    trains = np.split(flat, ends[:-1]) if ends.size else []

    # extent of the data: spikes and every interval table
    lo = [float(flat.min())] if flat.size else []
    hi = [float(flat.max())] if flat.size else []
    for cols, _, _ in tables.values():
        if "start_time" in cols and cols["start_time"].size:
            lo.append(float(np.nanmin(cols["start_time"])))
        if "stop_time" in cols and cols["stop_time"].size:
            hi.append(float(np.nanmax(cols["stop_time"])))
    t_start = min(lo) if lo else 0.0
    t_stop = max(hi) if hi else 0.0

    ds = make_spike_trains(
        trains,
        unit=unit_ids,
        unit_coords=unit_coords,
        t_start=t_start,
        t_stop=t_stop,
        modality="spikes",
        source=str(path),
        sha256=_sha256(path) if checksum else None,
        **{k: v for k, v in meta.items() if v},
    )
    ds.attrs["skipped_unit_columns"] = list(skipped)
    skipped_iv: dict[str, list[str]] = {}
    dims: list[str] = []
    for name, (cols, ids, skip_cols) in tables.items():
        dim = name if name not in ds.dims and name not in ds.variables else f"intervals_{name}"
        dims.append(dim)
        data_vars = {f"{dim}{SEP}{col}": (dim, values) for col, values in cols.items()}
        ds = ds.assign({k: xr.Variable(*v) for k, v in data_vars.items()})
        ds = ds.assign_coords({dim: ids})
        if skip_cols:
            skipped_iv[dim] = skip_cols
    ds.attrs["interval_tables"] = dims
    ds.attrs["skipped_interval_columns"] = skipped_iv
    ds.attrs["undeclared_columns"] = {k: v for k, v in undeclared.items() if v}
    validate(ds, "spike_trains")
    log.info(
        "read %d units (%d spikes) and %d interval table(s) from %s", unit_ids.size, flat.size, len(tables), path.name
    )
    return ds


def intervals_of(trains, table: str) -> pd.DataFrame:
    """Return interval table ``table`` stored in a :func:`read_nwb_units` Dataset as a DataFrame.

    Columns lose their ``<table>__`` prefix; the index holds the table's row ids.
    """
    if table not in trains.dims:
        have = [d for d in trains.dims if d not in ("spike", "unit")]
        raise BadInputError(f"no interval table {table!r} in this Dataset; available: {have}.")
    prefix = f"{table}{SEP}"
    names = [v for v in trains.data_vars if v.startswith(prefix) and trains[v].dims == (table,)]
    df = pd.DataFrame({v[len(prefix):]: trains[v].values for v in names}, index=trains[table].values)
    df.index.name = "id"
    return df


def read_nwb_intervals(path: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read every interval table of an NWB file (trials, epochs, ``intervals/*``) as DataFrames.

    Unlike :func:`read_nwb_units` this keeps ragged columns (e.g. epoch ``tags``) as lists.
    Byte strings are decoded to ``str``; the index holds the table's row ids.

    Returns
    -------
    dict of str to pandas.DataFrame
        One DataFrame per table, keyed by table name (empty when the file has none).
    """
    path = _check_file(path, "NWB")
    io, nwb = _open_nwb(path)
    out: dict[str, pd.DataFrame] = {}
    try:
        for name, table in _intervals_tables(nwb).items():
            df = table.to_dataframe(exclude={"timeseries"} if "timeseries" in table.colnames else None)
            for name_, values in _undeclared_columns(table):
                if len(values) == len(df) and name_ not in df.columns:
                    df[name_] = list(values) if getattr(values, "ndim", 1) > 1 else values
            for col in df.columns:
                if df[col].dtype == object:
                    df[col] = [
                        _to_str(v) if isinstance(v, bytes) else
                        [_to_str(x) for x in v] if isinstance(v, (list, np.ndarray)) and len(v) and isinstance(v[0], bytes)
                        else v
                        for v in df[col]
                    ]
            out[name] = df
    finally:
        io.close()
    return out


# --------------------------------------------------------------------------- binned .mat

_BEHAVIOUR_PATTERNS = (
    ("vel", re.compile(r"vel", re.I)),
    ("pos", re.compile(r"pos", re.I)),
    ("acc", re.compile(r"acc", re.I)),
    ("force", re.compile(r"force", re.I)),
)
_AXES = ("x", "y", "z")


def _load_mat(path: Path) -> dict[str, Any]:
    import scipy.io

    try:
        return {k: v for k, v in scipy.io.loadmat(str(path)).items() if not k.startswith("__")}
    except NotImplementedError:  # MATLAB v7.3 (HDF5)
        from pymatreader import read_mat

        return {k: v for k, v in read_mat(str(path)).items() if not k.startswith("__")}
    except Exception as err:
        raise BadInputError(
            f"cannot read {str(path)!r} as a MATLAB file ({type(err).__name__}: {err}); "
            "it may be truncated or not a .mat file."
        ) from err


def _numeric_2d(value: Any) -> np.ndarray | None:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        return None
    if value.ndim == 1:
        return value[:, None]
    return value if value.ndim == 2 else None


def read_binned_mat(
    path: str | os.PathLike,
    *,
    bin_size: float | None = None,
    spikes_key: str | None = None,
    time_key: str | None = None,
    behaviour_keys: Mapping[str, str] | None = None,
    orientation: str | None = None,
    checksum: bool = True,
):
    """Read a binned spike-count matrix and behaviour from a MATLAB ``.mat`` file.

    Made for the reaching files of Stevenson et al. 2011 (``m1_stevenson_2011.mat``: ``spikes``
    units x time, ``time``, ``handVel``, ``handPos``; ``s1_data.mat``: ``spikes`` time x units,
    ``pos``, ``vel``) but works for any file with one count matrix plus behaviour arrays.

    Parameters
    ----------
    path : str or path-like
        The ``.mat`` file (read with :func:`scipy.io.loadmat`; v7.3 files with pymatreader).
    bin_size : float, optional
        Bin width in seconds. When omitted it is taken from the file's time vector; without one it
        defaults to 0.05 s with ``attrs["bin_size_assumed"] = True`` and a logged warning. When given
        and the time vector disagrees by more than 1 %, a :class:`BadInputError` is raised.
    spikes_key : str, optional
        Variable holding the counts; default ``"spikes"`` (or the only variable named ``*spike*``).
    time_key : str, optional
        Variable holding the time of each bin (s); default ``"time"`` when present.
    behaviour_keys : mapping, optional
        ``{file variable: coord prefix}``; default: every variable whose name contains ``vel``,
        ``pos``, ``acc`` or ``force`` (e.g. ``handVel`` -> ``vel_x``, ``vel_y``, ``vel_z``).
    orientation : {"unit_time", "time_unit"}, optional
        Layout of the count matrix in the file. Detected from the lengths of the time and
        behaviour arrays when omitted; an ambiguous layout raises instead of guessing.
    checksum : bool
        Store the file's SHA-256 in ``attrs["sha256"]``.

    Returns
    -------
    xarray.DataArray
        ``binned_spikes`` (time, unit) holding the file's counts (as int64; the file's dtype is in
        ``attrs["source_dtype"]``), behaviour as coords on ``time``, ``time`` from the file's time
        vector (``attrs["time_source"]="file:<key>"``) or bin centres from 0.

    Raises
    ------
    BadInputError
        Missing/unreadable file, no count matrix, ambiguous orientation, lengths that do not
        match, negative/NaN/non-integer counts, or a ``bin_size`` contradicting the time vector.
    """
    path = _check_file(path, "MATLAB")
    mat = _load_mat(path)
    if spikes_key is None:
        cands = ["spikes"] if "spikes" in mat else [k for k in mat if "spike" in k.lower()]
        if len(cands) != 1:
            raise BadInputError(
                f"{path.name}: cannot tell which variable holds the spike counts (variables {sorted(mat)}); "
                "pass spikes_key='...'."
            )
        spikes_key = cands[0]
    if spikes_key not in mat:
        raise BadInputError(f"{path.name}: no variable {spikes_key!r}; variables are {sorted(mat)}.")
    spikes = _numeric_2d(np.asarray(mat[spikes_key]))
    if spikes is None or spikes.ndim != 2 or 0 in spikes.shape:
        raise BadInputError(
            f"{path.name}: {spikes_key!r} must be a non-empty 2-D numeric array, got "
            f"{getattr(mat[spikes_key], 'shape', type(mat[spikes_key]).__name__)}."
        )
    if time_key is None and "time" in mat and time_key != spikes_key:
        time_key = "time"
    time_vec = None
    if time_key is not None:
        if time_key not in mat:
            raise BadInputError(f"{path.name}: no time variable {time_key!r}; variables are {sorted(mat)}.")
        time_vec = np.asarray(mat[time_key], dtype=float)
        if time_vec.ndim > 2 or (time_vec.ndim == 2 and min(time_vec.shape) != 1):
            raise BadInputError(f"{path.name}: time variable {time_key!r} must be a vector, got {time_vec.shape}.")
        time_vec = time_vec.reshape(-1)
    if behaviour_keys is None:
        behaviour_keys = {}
        for key in mat:
            if key in (spikes_key, time_key):
                continue
            for prefix, pattern in _BEHAVIOUR_PATTERNS:
                if pattern.search(key) and _numeric_2d(np.asarray(mat[key])) is not None:
                    behaviour_keys[key] = prefix
                    break
    behaviour = {}
    for key, prefix in behaviour_keys.items():
        if key not in mat:
            raise BadInputError(f"{path.name}: no behaviour variable {key!r}; variables are {sorted(mat)}.")
        arr = _numeric_2d(np.asarray(mat[key]))
        if arr is None:
            raise BadInputError(f"{path.name}: behaviour variable {key!r} is not a numeric 1-D/2-D array.")
        behaviour[key] = (prefix, arr)
    ignored = sorted(set(mat) - {spikes_key, time_key} - set(behaviour))

    # ---- orientation: the time axis of `spikes` is the one every reference array shares
    refs = {key: arr.shape for key, (_, arr) in behaviour.items()}
    if time_vec is not None:
        refs[time_key] = (time_vec.size,)
    fits = [all(spikes.shape[ax] in shape for shape in refs.values()) for ax in (0, 1)]
    layouts = {0: "time_unit", 1: "unit_time"}
    if orientation is not None:
        if orientation not in ("time_unit", "unit_time"):
            raise BadInputError(f"orientation must be 'time_unit' or 'unit_time', got {orientation!r}.")
        time_axis = 0 if orientation == "time_unit" else 1
        if refs and not fits[time_axis]:
            raise BadInputError(
                f"{path.name}: orientation={orientation!r} makes {spikes.shape[time_axis]} time bins, but the "
                f"time/behaviour arrays have shapes {refs}; check the orientation."
            )
    elif not refs:
        raise BadInputError(
            f"{path.name}: {spikes_key!r} has shape {spikes.shape} and the file holds no time or behaviour "
            "array to tell which axis is time; pass orientation='time_unit' or 'unit_time'."
        )
    elif fits[0] == fits[1]:
        why = "both axes match" if fits[0] else "neither axis matches"
        raise BadInputError(
            f"{path.name}: cannot tell the orientation of {spikes_key!r} {spikes.shape}: {why} the lengths "
            f"of the time/behaviour arrays {refs}; pass orientation='time_unit' or 'unit_time'."
        )
    else:
        time_axis = 0 if fits[0] else 1
    layout = layouts[time_axis]
    counts = spikes if time_axis == 0 else spikes.T
    n_t = counts.shape[0]

    # ---- counts must be non-negative integers
    if counts.dtype.kind == "f":
        if not np.all(np.isfinite(counts)):
            raise BadInputError(f"{path.name}: {spikes_key!r} holds NaN/inf; counts must be finite.")
        if not np.array_equal(counts, np.round(counts)):
            raise BadInputError(
                f"{path.name}: {spikes_key!r} holds non-integer values; expected spike counts per bin "
                "(convert rates to counts first)."
            )
    if counts.min() < 0:
        raise BadInputError(f"{path.name}: {spikes_key!r} holds negative values; expected spike counts.")
    source_dtype = str(spikes.dtype)
    counts = np.ascontiguousarray(counts.astype(np.int64))

    # ---- time and bin size
    attrs: dict[str, Any] = {"bin_size_assumed": False}
    times = None
    if time_vec is not None:
        if time_vec.size != n_t:
            raise BadInputError(f"{path.name}: time vector has {time_vec.size} values for {n_t} bins.")
        if not np.all(np.isfinite(time_vec)) or np.any(np.diff(time_vec) <= 0):
            raise BadInputError(f"{path.name}: time vector {time_key!r} is not finite and strictly increasing.")
        times = time_vec
        step = float(np.median(np.diff(time_vec))) if n_t > 1 else None
        if bin_size is None:
            if step is None:
                raise BadInputError(f"{path.name}: one bin only; pass bin_size.")
            bin_size = float(np.round(step, 9))
        elif step is not None and abs(step - bin_size) > 0.01 * bin_size:
            raise BadInputError(
                f"{path.name}: bin_size={bin_size} s but the file's time vector steps by {step:.6g} s; "
                "leave bin_size out to use the file's, or check the file."
            )
        gaps = np.flatnonzero(np.diff(time_vec) > 1.5 * bin_size)
        attrs["time_source"] = f"file:{time_key}"
        attrs["n_time_gaps"] = int(gaps.size)
        if gaps.size:
            log.warning("%s: time vector has %d gap(s) longer than 1.5 bins", path.name, gaps.size)
    else:
        if bin_size is None:
            bin_size = DEFAULT_BIN_SIZE
            attrs["bin_size_assumed"] = True
            log.warning(
                "%s: the file gives no bin size or time vector; assuming bin_size=%g s "
                "(attrs['bin_size_assumed']=True). Pass bin_size= to set it.",
                path.name,
                bin_size,
            )
        attrs["time_source"] = "generated: bin centres from 0"
    if not (np.isfinite(bin_size) and bin_size > 0):
        raise BadInputError(f"bin_size must be a positive number of seconds, got {bin_size!r}.")

    # ---- behaviour coords on time
    time_coords: dict[str, np.ndarray] = {}
    for key, (prefix, arr) in behaviour.items():
        if arr.shape[0] == n_t and arr.shape[1] == n_t:
            raise BadInputError(f"{path.name}: behaviour {key!r} is square {arr.shape}; cannot tell its time axis.")
        if arr.shape[0] == n_t:
            comps = arr
        elif arr.shape[1] == n_t:
            comps = arr.T
        else:
            raise BadInputError(
                f"{path.name}: behaviour {key!r} has shape {arr.shape}, which does not match {n_t} time bins."
            )
        comps = comps.astype(float)
        names = _AXES if comps.shape[1] <= 3 else [str(i) for i in range(comps.shape[1])]
        for i in range(comps.shape[1]):
            name = f"{prefix}_{names[i]}"
            if name in time_coords:
                raise BadInputError(
                    f"{path.name}: two behaviour variables map to {name!r}; pass behaviour_keys= with distinct prefixes."
                )
            time_coords[name] = comps[:, i]

    da = make_binned_spikes(
        counts,
        bin_size,
        times=times,
        modality="spikes",
        source=str(path),
        sha256=_sha256(path) if checksum else None,
        source_dtype=source_dtype,
        orientation_in_file=layout,
        spikes_key=spikes_key,
        behaviour_keys={k: p for k, (p, _) in behaviour.items()},
        ignored_keys=ignored,
        quantity="counts",
        **attrs,
    )
    da = da.assign_coords({name: ("time", values) for name, values in time_coords.items()})
    validate(da, "binned_spikes", finite=False)
    return da


# --------------------------------------------------------------------------- binning


def bin_spikes(
    trains,
    bin_size: float,
    *,
    t_start: float | None = None,
    t_stop: float | None = None,
):
    """Count the spikes of each unit in consecutive bins of ``bin_size`` seconds.

    Bins are half-open ``[edge_k, edge_k + bin_size)`` with ``edge_k = t_start + k * bin_size``,
    the same edges as ``np.histogram(times, edges)`` (except that a spike exactly on the last
    edge is not counted). All units are binned at once (``np.searchsorted`` + ``np.bincount``).

    Parameters
    ----------
    trains : xarray.Dataset
        ``spike_trains`` (e.g. from :func:`read_nwb_units`).
    bin_size : float
        Bin width in seconds (> 0).
    t_start, t_stop : float, optional
        Range to bin. Defaults: ``trains.attrs["t_start"]`` and enough bins to cover
        ``trains.attrs["t_stop"]`` (the last bin may run past it). An explicit ``t_stop`` gives
        whole bins only: when ``t_stop - t_start`` is not a multiple of ``bin_size`` the partial
        last bin is dropped (logged, and ``attrs["t_stop"]`` holds the end actually covered).

    Returns
    -------
    xarray.DataArray
        ``binned_spikes`` (time, unit) of int64 counts; ``time`` holds bin centres; unit coords are
        carried over; attrs ``bin_size``, ``t_start``, ``t_stop``, ``n_spikes_outside``.

    Raises
    ------
    BadInputError
        ``bin_size <= 0``, ``t_stop <= t_start``, or a range shorter than one bin.
    """
    validate(trains, "spike_trains")
    try:
        bin_size = float(bin_size)
    except (TypeError, ValueError) as err:
        raise BadInputError(f"bin_size must be a number of seconds, got {bin_size!r}.") from err
    if not np.isfinite(bin_size) or bin_size <= 0:
        raise BadInputError(f"bin_size must be a positive number of seconds, got {bin_size!r}.")
    start = float(trains.attrs["t_start"] if t_start is None else t_start)
    explicit_stop = t_stop is not None
    stop = float(trains.attrs["t_stop"] if t_stop is None else t_stop)
    if not (np.isfinite(start) and np.isfinite(stop)):
        raise BadInputError(f"t_start/t_stop must be finite, got {start!r}, {stop!r}.")
    if stop <= start:
        raise BadInputError(
            f"t_stop ({stop} s) must be greater than t_start ({start} s); check the range to bin."
        )
    span = (stop - start) / bin_size
    if explicit_stop:
        n_bins = int(np.floor(span + 1e-9))
        if n_bins < 1:
            raise BadInputError(
                f"the range [{start}, {stop}) s is shorter than one bin of {bin_size} s; widen it or use smaller bins."
            )
        covered = start + n_bins * bin_size
        if covered < stop - 1e-9 * max(1.0, abs(stop)):
            log.info(
                "bin_spikes: dropped the partial last bin [%.6g, %.6g) s (shorter than bin_size=%g s)",
                covered, stop, bin_size,
            )
    else:
        n_bins = int(np.floor(span)) + 1  # covers t_stop itself
    edges = start + np.arange(n_bins + 1) * bin_size

    times = np.asarray(trains["spike_time"].values, dtype=float)
    owner = np.asarray(trains["spike_unit"].values, dtype=np.int64)
    n_units = trains.sizes["unit"]
    which = np.searchsorted(edges, times, side="right") - 1  # bin k: edges[k] <= t < edges[k+1]
    inside = (which >= 0) & (which < n_bins)
    flat = owner[inside] * n_bins + which[inside]
    counts = np.bincount(flat, minlength=n_units * n_bins).reshape(n_units, n_bins).T

    unit_coords = {
        name: trains.coords[name].values
        for name in trains.coords
        if name != "unit" and trains.coords[name].dims == ("unit",)
    }
    keep = {k: v for k, v in trains.attrs.items() if k not in ("nd_kind", "t_start", "t_stop")}
    keep.pop("skipped_interval_columns", None)
    keep.pop("interval_tables", None)
    da = make_binned_spikes(
        counts.astype(np.int64),
        bin_size,
        unit=trains["unit"].values,
        t0=start,
        unit_coords=unit_coords,
        **keep,
    )
    da.attrs.update(
        {
            "t_start": start,
            "t_stop": float(edges[-1]),
            "n_spikes_outside": int((~inside).sum()),
            "quantity": "counts",
        }
    )
    return da
