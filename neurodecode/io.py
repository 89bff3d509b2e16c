"""Save and open data-model objects as netCDF (h5netcdf) or zarr, atomically and losslessly.

``save`` writes to a temporary name beside the target and renames it into place, so
a killed process never leaves a half-written file under the final name. ``open``
returns the same kind of object that was saved (DataArray or Dataset), lazily
backed by dask chunks unless ``chunks=None``.

Attributes that netCDF cannot hold natively (bools, None, dicts, nested or string
lists) are stored as JSON strings with a ``json:`` prefix and decoded on open, so
``open(save(x))`` equals ``x`` including its attrs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._files import atomic_path, replace_path
from .errors import BadInputError

__all__ = ["save", "open", "open_dataset", "detect_format", "atomic_path"]

_NC_SUFFIXES = {".nc", ".nc4", ".netcdf", ".h5", ".hdf5", ".cdf"}
_JSON_PREFIX = "json:"
_CONTAINER = "nd_container"
_NAME = "nd_dataarray_name"
_UNNAMED = "__xarray_dataarray_variable__"

Format = Literal["netcdf", "zarr"]


def detect_format(path: str | os.PathLike, format: str | None = None) -> Format:
    """Return ``"netcdf"`` or ``"zarr"`` from an explicit ``format`` or the file suffix."""
    if format is not None:
        if format not in ("netcdf", "zarr"):
            raise BadInputError(f"format must be 'netcdf' or 'zarr', got {format!r}.")
        return format  # type: ignore[return-value]
    suffix = Path(path).suffix.lower()
    if suffix == ".zarr":
        return "zarr"
    if suffix in _NC_SUFFIXES:
        return "netcdf"
    raise BadInputError(
        f"cannot tell the format of {str(path)!r} from its suffix {suffix!r}; "
        "use a .nc (netCDF) or .zarr name, or pass format='netcdf' / 'zarr'."
    )


# --------------------------------------------------------------------------- attrs encoding


def _encode_attr(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)) or value is None:
        return _JSON_PREFIX + json.dumps(bool(value) if value is not None else None)
    if isinstance(value, str):
        # A string that itself starts with the prefix is JSON-quoted so it decodes back unchanged.
        return _JSON_PREFIX + json.dumps(value) if value.startswith(_JSON_PREFIX) else value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.ndim == 1 and value.size:
        return value
    if isinstance(value, np.ndarray):
        return _JSON_PREFIX + json.dumps({"__ndarray__": value.tolist(), "dtype": str(value.dtype),
                                          "shape": list(value.shape)})
    try:
        return _JSON_PREFIX + json.dumps(value, default=_json_default)
    except TypeError as err:
        raise BadInputError(
            f"attribute value {value!r} of type {type(value).__name__} cannot be saved; "
            "use numbers, strings, lists or dicts of those."
        ) from err


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(type(obj).__name__)


def _decode_attr(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_JSON_PREFIX):
        out = json.loads(value[len(_JSON_PREFIX):])
        if isinstance(out, dict) and "__ndarray__" in out:
            return np.asarray(out["__ndarray__"], dtype=out["dtype"]).reshape(out["shape"])
        return out
    return value


def _map_attrs(ds, fn):
    ds.attrs = {k: fn(v) for k, v in ds.attrs.items()}
    for var in ds.variables.values():
        var.attrs = {k: fn(v) for k, v in var.attrs.items()}
    return ds


# --------------------------------------------------------------------------- atomic writes


def save(obj, path: str | os.PathLike, *, format: str | None = None, compress: bool = True) -> Path:
    """Write a DataArray or Dataset to netCDF (h5netcdf) or zarr, atomically.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
    path : path-like
        Target; ``.nc`` for netCDF, ``.zarr`` for a zarr store (or pass ``format``).
    format : {"netcdf", "zarr"}, optional
    compress : bool
        zlib-compress netCDF variables (lossless).

    Returns
    -------
    pathlib.Path
        The final path.
    """
    import xarray as xr

    path = Path(path)
    fmt = detect_format(path, format)
    if isinstance(obj, xr.DataArray):
        name = obj.name if obj.name is not None else _UNNAMED
        # A name equal to a coord's (e.g. an RDM stack named "rdm") cannot be a variable name:
        # store it under the placeholder and keep the real name in the attrs.
        var = _UNNAMED if name in obj.coords else name
        ds = obj.to_dataset(name=var, promote_attrs=False)
        ds.attrs = {_CONTAINER: "dataarray", _NAME: str(name), "nd_dataarray_var": str(var)}
    elif isinstance(obj, xr.Dataset):
        ds = obj.copy(deep=False)
        ds.attrs = {**obj.attrs, _CONTAINER: "dataset"}
    else:
        raise BadInputError(f"save expects an xarray DataArray or Dataset, got {type(obj).__name__}.")
    ds = _map_attrs(ds.copy(deep=False), _encode_attr)
    # String/object coords: make sure they are written as variable-length strings.
    encoding: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        var.encoding = {}
        if fmt == "netcdf" and compress and var.dtype.kind in "iufb" and var.ndim > 0 and var.size > 0:
            encoding[name] = {"zlib": True, "complevel": 4}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    try:
        if fmt == "netcdf":
            ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding, invalid_netcdf=True)
        else:
            ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
        replace_path(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise
    return path


def open_dataset(path: str | os.PathLike, *, format: str | None = None, chunks: Any = "auto"):
    """Open a file written by :func:`save` as a raw Dataset (attrs decoded)."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise BadInputError(f"no such file or store: {str(path)!r}.")
    fmt = detect_format(path, format)
    kwargs: dict[str, Any] = {}
    if chunks is not None:
        kwargs["chunks"] = {} if chunks == "auto" else chunks
    try:
        if fmt == "netcdf":
            ds = xr.open_dataset(path, engine="h5netcdf", **kwargs)
        else:
            ds = xr.open_zarr(path, consolidated=True, chunks=kwargs.get("chunks"))
    except (OSError, ValueError) as err:
        raise BadInputError(
            f"could not read {str(path)!r} as {fmt}: {err}. The file may be truncated or not written "
            "by neurodecode.io.save; re-create it."
        ) from err
    if chunks is None:
        ds = ds.load()
        ds.close()
    return _map_attrs(ds, _decode_attr)


def open(path: str | os.PathLike, *, format: str | None = None, chunks: Any = "auto"):  # noqa: A001
    """Open a file written by :func:`save`, returning the DataArray or Dataset that was saved.

    Parameters
    ----------
    path : path-like
    format : {"netcdf", "zarr"}, optional
        Inferred from the suffix when omitted.
    chunks : "auto", dict or None
        ``"auto"`` (default) opens lazily with the file's own chunking (dask arrays);
        a dict sets dask chunk sizes per dim; ``None`` loads everything into memory.
    """
    ds = open_dataset(path, format=format, chunks=chunks)
    container = ds.attrs.pop(_CONTAINER, "dataset")
    if container == "dataarray":
        name = ds.attrs.pop(_NAME, _UNNAMED)
        var = ds.attrs.pop("nd_dataarray_var", name)
        da = ds[var]
        da.name = None if name == _UNNAMED else name
        return da
    return ds
