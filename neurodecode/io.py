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

import builtins
import errno
import json
import os
import shutil
import weakref
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._files import atomic_path, disk_full_error, replace_path
from .errors import BadInputError

__all__ = ["save", "open", "open_dataset", "detect_format", "atomic_path"]

_NC_SUFFIXES = {".nc", ".nc4", ".netcdf", ".h5", ".hdf5", ".cdf"}
_JSON_PREFIX = "json:"
_CONTAINER = "nd_container"
_NAME = "nd_dataarray_name"
_UNNAMED = "__xarray_dataarray_variable__"

Format = Literal["netcdf", "zarr"]

#: netCDF files up to this size (uncompressed) are serialised in memory and written with plain file
#: I/O, so a full disk is a clean error; larger ones need that much free space before HDF5 writes them
MEMORY_WRITE_LIMIT = 512 << 20


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
    if fmt == "zarr" and path.exists():
        _refuse_replacing_open_zarr(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    nbytes = int(ds.nbytes)
    try:
        if fmt == "netcdf" and nbytes <= MEMORY_WRITE_LIMIT:
            # serialise in memory, then write the bytes with plain file I/O: a full disk is then a clean
            # OSError (HDF5 writing straight to a full disk leaves a file handle that crashes the process)
            # (in-process scheduler: a distributed client's file locks cannot name an in-memory target)
            with _local_scheduler():
                blob = ds.to_netcdf(None, engine="h5netcdf", encoding=encoding, invalid_netcdf=True)
            with builtins.open(tmp, "wb") as fh:
                fh.write(blob)
        elif fmt == "netcdf":
            _check_free_space(path, nbytes)
            ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding, invalid_netcdf=True)
        else:
            ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
        replace_path(tmp, path)
    except BaseException as err:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        if isinstance(err, OSError) and _is_disk_full(err):
            raise disk_full_error(path, err) from None
        raise
    return path


def _local_scheduler():
    import contextlib

    try:
        import dask
    except ImportError:  # pragma: no cover - dask is a dependency
        return contextlib.nullcontext()
    return dask.config.set(scheduler="synchronous")


def _is_disk_full(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(err) \
        or "errno = 28" in str(err)


def _check_free_space(path: Path, nbytes: int) -> None:
    """Refuse a large direct HDF5 write that cannot fit (uncompressed size + 16 MiB)."""
    free = shutil.disk_usage(path.parent).free
    if free < nbytes + (16 << 20):
        raise disk_full_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))


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
    out = ds
    if container == "dataarray":
        name = ds.attrs.pop(_NAME, _UNNAMED)
        var = ds.attrs.pop("nd_dataarray_var", name)
        out = ds[var]
        out.name = None if name == _UNNAMED else name
    if chunks is not None and detect_format(path, format) == "zarr":
        refs = _LAZY_ZARR.setdefault(os.path.realpath(path), [])
        refs[:] = [r for r in refs if r() is not None] + [weakref.ref(out)]
    return out


#: lazily opened zarr stores of this process: realpath -> the objects reading them
_LAZY_ZARR: dict[str, list[weakref.ref]] = {}


def _refuse_replacing_open_zarr(path: Path) -> None:
    """A lazy zarr view reads chunks by path: replacing the store under it would mix two versions."""
    live = [r for r in _LAZY_ZARR.get(os.path.realpath(path), []) if r() is not None]
    if live:
        raise BadInputError(
            f"{str(path)!r} is open lazily in this process ({len(live)} object(s) read its chunks on demand); "
            "replacing it now would let them read chunks of the new version. Call .load() on them (or "
            "delete them), or save under another name."
        )
