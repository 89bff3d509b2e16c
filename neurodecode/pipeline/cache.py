"""Content-addressed step cache, checksums and cache keys.

A step's key is the sha256 of the canonical JSON of (the key of its input, the op name and
version, the step parameters, the neurodecode version, a fingerprint of the code). The code
fingerprint hashes every ``.py`` file of the installed neurodecode package, the source file of
the op's function (plugins included) and the versions of the libraries that compute results
(numpy, scipy, pandas, xarray, mne, nilearn, torch, scikit-learn, rsatoolbox, ...). The key of
the loaded data hashes the data spec, the sha256 of every input file and the same fingerprint.
Changing a file, a parameter, the code or a computing library therefore changes the key of
that step and of every step after it.

Nothing read from the cache can execute code: no pickle. Each entry is a folder
``<dir>/<key[:2]>/<key>/`` holding

``meta.json``
    the runner's metadata (summary, metrics, notes, figures as base64 PNG).
``index.json``
    how the data and the tables are stored: a JSON tree whose leaves are plain JSON values or
    references to files of the entry, with each file's size and sha256.
``f<NNN>.nc``
    xarray objects (netCDF through :func:`neurodecode.io.save`).
``f<NNN>.npy``
    numpy arrays (``allow_pickle=False`` both ways; object arrays only when every element is a str).
``f<NNN>.csv``
    pandas DataFrames (tables); object columns hold one JSON value per cell, dtypes are restored.

Lists, tuples, dicts (any scalar keys) and a fixed allow-list of neurodecode dataclasses are
stored as JSON structure. A value the cache cannot store this way is not cached (a warning in
the log) and is recomputed on the next run. An entry that fails to read (missing or changed
file, bad JSON, a checksum that does not match) is a miss: logged, removed and recomputed.

Entries are written into a temporary folder and renamed into place, so a killed run never
leaves a half-written entry; the next run resumes from the last finished step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import logging
import math
import os
import shutil
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from .._files import atomic_path, sha256_file, write_atomic
from ..errors import NeurodecodeError

__all__ = ["canonical_json", "sha256_file", "step_key", "data_key", "StepCache", "ChecksumCache", "write_atomic",
           "code_fingerprint", "CacheReadError", "UnstorableError", "STORE_VERSION", "COMPUTING_LIBRARIES"]

logger = logging.getLogger("neurodecode.pipeline.cache")

#: bumped when the on-disk layout of an entry changes (old entries become misses)
STORE_VERSION = 2

#: the libraries whose version is part of every cache key (they compute the results)
COMPUTING_LIBRARIES = ("numpy", "scipy", "pandas", "xarray", "mne", "nilearn", "nibabel", "torch",
                       "scikit-learn", "rsatoolbox", "h5netcdf", "h5py", "pyriemann")

#: dataclasses the cache may rebuild: stored name -> "module:qualname" (a fixed list in our code;
#: the name stored in an entry only selects one of these, it is never imported as given)
CACHEABLE_DATACLASSES = {
    "SimulatedBrains": "neurodecode.generative.simulate:SimulatedBrains",
}


class CacheReadError(NeurodecodeError, OSError):
    """A cache entry could not be read back (missing/changed file, bad JSON, wrong checksum)."""


class UnstorableError(NeurodecodeError, TypeError):
    """A value the cache cannot store without pickle."""


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, no whitespace, tuples as lists: equal values give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default, allow_nan=True)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- code fingerprint


@lru_cache(maxsize=1)
def _package_source_hash() -> str:
    """sha256 over the relative path and bytes of every .py file of the installed package (once per process)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str | None], ...]:
    from importlib import metadata

    out = []
    for name in COMPUTING_LIBRARIES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, None))
    return tuple(out)


@lru_cache(maxsize=256)
def _file_hash(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(path)


def _op_source_hash(op: str) -> str | None:
    """sha256 of the source file of the function behind op ``op`` (None for a non-op such as the loader)."""
    try:
        from .ops import OPS

        fn = OPS.get(op).resolve()
        fn = inspect.unwrap(fn)
        path = inspect.getsourcefile(fn)
    except Exception:  # not a registered op, a builtin or a C function: the package hash covers it
        return None
    if not path or not os.path.exists(path):
        return None
    stat = os.stat(path)
    return _file_hash(path, stat.st_mtime_ns, stat.st_size)


def code_fingerprint(op: str | None = None) -> dict[str, Any]:
    """What identifies the code behind a result: package source hash, op source hash, library versions."""
    out: dict[str, Any] = {"package_source": _package_source_hash(), "libraries": dict(_library_versions())}
    if op is not None:
        out["op_source"] = _op_source_hash(op)
    return out


def step_key(input_key: str, op: str, params: Mapping[str, Any], *, op_version: str = "1",
             package_version: str | None = None) -> str:
    """Cache key of a step from the key of its input, the op, its parameters and the code fingerprint."""
    from .. import __version__

    return _sha(canonical_json({
        "input": input_key,
        "op": op,
        "op_version": op_version,
        "params": dict(params),
        "neurodecode": package_version or __version__,
        "code": code_fingerprint(op),
        "store": STORE_VERSION,
    }))


def data_key(spec: Mapping[str, Any], checksums: Mapping[str, str], *, package_version: str | None = None) -> str:
    """Cache key of the loaded data from the data spec, the sha256 of each input file and the code fingerprint."""
    from .. import __version__

    return _sha(canonical_json({
        "data": dict(spec),
        "files": dict(checksums),
        "neurodecode": package_version or __version__,
        "code": code_fingerprint(),
        "store": STORE_VERSION,
    }))


# --------------------------------------------------------------------------- file checksums


class ChecksumCache:
    """Remembers file sha256s by (path, size, mtime, inode, ctime) so unchanged files are not re-read.

    The ctime cannot be set back by ``touch`` or ``os.utime``, so an edit that keeps the size and
    the mtime is still re-hashed.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self._table: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if path is not None and path.exists():
            try:
                table = json.loads(path.read_text(encoding="utf-8"))
                self._table = table if isinstance(table, dict) else {}
            except (OSError, ValueError):
                self._table = {}

    @staticmethod
    def _stamp(stat: os.stat_result) -> dict[str, int]:
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns,
                "inode": stat.st_ino, "device": stat.st_dev}

    def sha256(self, file: Path) -> str:
        """sha256 of ``file`` (re-hashed when its size, mtime, ctime or inode changed)."""
        stamp = self._stamp(file.stat())
        key = str(file.resolve())
        entry = self._table.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and all(
                entry.get(k) == v for k, v in stamp.items()):
            return entry["sha256"]
        digest = sha256_file(file)
        self._table[key] = {**stamp, "sha256": digest}
        self._dirty = True
        return digest

    def save(self) -> None:
        """Persist the table (atomically) when something changed."""
        if self.path is not None and self._dirty:
            write_atomic(self.path, json.dumps(self._table, indent=0, sort_keys=True))
            self._dirty = False


# --------------------------------------------------------------------------- the safe store


class _Writer:
    """Encode a value into a JSON tree, writing arrays, xarray objects and tables to files of ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files: dict[str, dict[str, Any]] = {}

    def _file(self, suffix: str) -> Path:
        return self.folder / f"f{len(self.files):03d}{suffix}"

    def _record(self, path: Path) -> str:
        self.files[path.name] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
        return path.name

    def encode(self, value: Any, where: str = "data") -> Any:
        import numpy as np
        import pandas as pd
        import xarray as xr

        if value is None:
            return {"t": "none"}
        if isinstance(value, (bool, np.bool_)):
            return {"t": "bool", "v": bool(value)}
        if isinstance(value, int) and not isinstance(value, np.generic):
            return {"t": "int", "v": value}
        if isinstance(value, float) and not isinstance(value, np.generic):
            return {"t": "float", "v": value if math.isfinite(value) else repr(value)}
        if isinstance(value, str):
            return {"t": "str", "v": value}
        if isinstance(value, (xr.DataArray, xr.Dataset)):
            from .. import io

            path = self._file(".nc")
            try:
                io.save(value, path, format="netcdf")
            except NeurodecodeError as err:
                raise UnstorableError(f"{where}: {err}") from err
            return {"t": "xarray", "file": self._record(path)}
        if isinstance(value, (np.ndarray, np.generic)):
            arr = np.asarray(value)
            strings = False
            if arr.dtype.kind == "O":
                if not all(isinstance(x, str) for x in arr.ravel()):
                    raise UnstorableError(f"{where}: a numpy object array that does not hold only strings")
                arr = arr.astype(str) if arr.size else arr.astype("U1")
                strings = True
            if arr.dtype.kind not in "biufcUSMm":
                raise UnstorableError(f"{where}: numpy dtype {arr.dtype} cannot be stored")
            path = self._file(".npy")
            np.save(path, arr, allow_pickle=False)
            return {"t": "ndarray", "file": self._record(path), "object_strings": strings,
                    "scalar": isinstance(value, np.generic)}
        if isinstance(value, pd.DataFrame):
            return self._frame(value, where)
        if isinstance(value, (list, tuple)):
            return {"t": "list" if isinstance(value, list) else "tuple",
                    "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            items = []
            for k, v in value.items():
                if not _plain_key(k):
                    raise UnstorableError(f"{where}: dict key of type {type(k).__name__}")
                items.append([self.encode(k, where), self.encode(v, f"{where}[{k!r}]")])
            return {"t": "dict", "items": items}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            name = type(value).__name__
            if CACHEABLE_DATACLASSES.get(name) != f"{type(value).__module__}:{type(value).__qualname__}":
                raise UnstorableError(f"{where}: a {type(value).__module__}.{type(value).__qualname__} "
                                      "(not in neurodecode.pipeline.cache.CACHEABLE_DATACLASSES)")
            fields = {f.name: self.encode(getattr(value, f.name), f"{where}.{f.name}")
                      for f in dataclasses.fields(value) if f.init}
            return {"t": "dataclass", "name": name, "fields": fields}
        raise UnstorableError(f"{where}: a {type(value).__module__}.{type(value).__qualname__}")

    def _frame(self, df: Any, where: str) -> dict[str, Any]:
        import pandas as pd

        index_names = None
        if not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1):
            index_names = [n if n is not None else f"__index_{i}__" for i, n in enumerate(df.index.names)]
            df = df.copy()
            df.index = df.index.set_names(index_names)
            df = df.reset_index()
        columns = []
        for c in df.columns:
            if not isinstance(c, (str, int, float, bool)):
                raise UnstorableError(f"{where}: a table column named {c!r}")
            columns.append(c)
        out = pd.DataFrame(index=range(len(df)))
        dtypes = []
        for i, c in enumerate(df.columns):
            col = df.iloc[:, i]
            dtype = col.dtype
            if isinstance(dtype, pd.CategoricalDtype):
                dtypes.append({"kind": "category", "ordered": bool(dtype.ordered),
                               "categories": self.encode(list(dtype.categories), where)})
                col = col.astype(object)
                kind = "json"
            elif dtype.kind in "biuf":
                dtypes.append({"kind": "numpy", "dtype": str(dtype)})
                kind = "plain"
            elif dtype.kind == "M":
                dtypes.append({"kind": "datetime", "dtype": str(dtype)})
                kind = "plain"
            elif isinstance(dtype, pd.StringDtype):
                dtypes.append({"kind": "string", "storage": dtype.storage,
                               "na": "nan" if dtype.na_value is not pd.NA else "NA"})
                kind = "json"
            else:
                dtypes.append({"kind": "json"})
                kind = "json"
            if kind == "json":
                try:
                    col = col.map(lambda x: json.dumps(_cell(x), allow_nan=True))
                except TypeError as err:
                    raise UnstorableError(f"{where}: table column {columns[i]!r}: {err}") from err
            out[f"c{i}"] = col.to_numpy()
        path = self._file(".csv")
        out.to_csv(path, index=False, float_format=None)
        return {"t": "frame", "file": self._record(path), "columns": columns, "dtypes": dtypes,
                "index": index_names, "n_rows": len(df)}


def _plain_key(k: Any) -> bool:
    """A dict key the store rebuilds exactly: None, bool, int, float, str, or a tuple of those."""
    if isinstance(k, tuple):
        return all(_plain_key(x) for x in k)
    return k is None or isinstance(k, (str, int, float, bool))


def _cell(x: Any) -> Any:
    import numpy as np

    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return {"__float__": repr(x)}
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    if isinstance(x, (list, tuple)):
        return [_cell(v) for v in x]
    if isinstance(x, dict) and all(isinstance(k, str) for k in x):
        return {k: _cell(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return [_cell(v) for v in x.tolist()]
    raise TypeError(f"a cell of type {type(x).__name__}")


def _uncell(x: Any) -> Any:
    if isinstance(x, dict):
        if set(x) == {"__float__"}:
            return float(x["__float__"])
        return {k: _uncell(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_uncell(v) for v in x]
    return x


class _Reader:
    """Decode a JSON tree written by :class:`_Writer`, verifying each file's size and sha256 first."""

    def __init__(self, folder: Path, files: Mapping[str, Any]):
        self.folder = folder
        self.files = files

    def _path(self, name: Any) -> Path:
        if not isinstance(name, str) or name not in self.files or "/" in name or name.startswith("."):
            raise CacheReadError(f"entry refers to an unknown file {name!r}")
        path = self.folder / name
        expected = self.files[name]
        try:
            size = path.stat().st_size
        except OSError as err:
            raise CacheReadError(f"{name}: {err}") from err
        if size != expected.get("size") or sha256_file(path) != expected.get("sha256"):
            raise CacheReadError(f"{name} does not match its checksum (changed or truncated)")
        return path

    def decode(self, node: Any) -> Any:
        import numpy as np

        if not isinstance(node, dict) or "t" not in node:
            raise CacheReadError(f"malformed node {str(node)[:80]}")
        t = node["t"]
        if t == "none":
            return None
        if t in ("bool", "int", "str"):
            value = node["v"]
            if type(value).__name__ != t:
                raise CacheReadError(f"malformed {t} node")
            return value
        if t == "float":
            value = float(node["v"])
            return np.nan if value != value else value  # the nan singleton, so tuple keys holding it match
        if t == "xarray":
            from .. import io

            return io.open(self._path(node["file"]), format="netcdf", chunks=None)
        if t == "ndarray":
            arr = np.load(self._path(node["file"]), allow_pickle=False)
            if node.get("object_strings"):
                arr = arr.astype(object)
            return arr[()] if node.get("scalar") else arr
        if t == "frame":
            return self._frame(node)
        if t in ("list", "tuple"):
            items = [self.decode(v) for v in node["items"]]
            return items if t == "list" else tuple(items)
        if t == "dict":
            return {self.decode(k): self.decode(v) for k, v in node["items"]}
        if t == "dataclass":
            target = CACHEABLE_DATACLASSES.get(node.get("name"))
            if target is None:
                raise CacheReadError(f"unknown dataclass {node.get('name')!r}")
            module, _, qualname = target.partition(":")
            cls = getattr(importlib.import_module(module), qualname)
            return cls(**{k: self.decode(v) for k, v in node["fields"].items()})
        raise CacheReadError(f"unknown node type {t!r}")

    def _frame(self, node: Mapping[str, Any]) -> Any:
        import pandas as pd

        path = self._path(node["file"])
        dtypes = node["dtypes"]
        read_as = {f"c{i}": (str if d["kind"] in ("json", "category", "string") else None) for i, d in enumerate(dtypes)}
        raw = pd.read_csv(path, dtype={k: v for k, v in read_as.items() if v is not None},
                          keep_default_na=False, na_values={k: ["", "NaN", "nan"] for k, v in read_as.items()
                                                            if v is None})
        if len(raw) != node["n_rows"] and not (node["n_rows"] == 0):
            raise CacheReadError("table has the wrong number of rows")
        cols = {}
        for i, d in enumerate(dtypes):
            col = raw[f"c{i}"] if f"c{i}" in raw else pd.Series([], dtype=object)
            if d["kind"] == "numpy":
                col = col.astype(d["dtype"])
            elif d["kind"] == "datetime":
                col = pd.to_datetime(col).astype(d["dtype"])
            else:
                col = pd.Series([_uncell(json.loads(x)) for x in col], dtype=object)
                if d["kind"] == "string":
                    import numpy as np

                    col = col.astype(pd.StringDtype(storage=d["storage"],
                                                    na_value=np.nan if d["na"] == "nan" else pd.NA))
                elif d["kind"] == "category":
                    col = pd.Series(pd.Categorical(col, categories=self.decode(d["categories"]),
                                                   ordered=d["ordered"]))
            cols[i] = col.reset_index(drop=True)
        df = pd.DataFrame({i: cols[i] for i in range(len(dtypes))})
        df.columns = list(node["columns"])
        if node.get("index"):
            df = df.set_index(node["index"])
            df.index = df.index.set_names([None if str(n).startswith("__index_") else n for n in df.index.names])
        return df


class StepCache:
    """The on-disk store of finished steps (no pickle: see the module docstring).

    Parameters
    ----------
    root : path
        Cache folder (created on first write).
    enabled : bool
        When false, :meth:`has` is always false and nothing is written.
    """

    def __init__(self, root: str | os.PathLike, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled
        self._index: dict[str, dict[str, Any]] = {}

    def _entry(self, key: str) -> Path:
        if not isinstance(key, str) or len(key) < 3 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.root / key[:2] / key

    def _load_index(self, key: str) -> dict[str, Any]:
        if key in self._index:
            return self._index[key]
        folder = self._entry(key)
        try:
            index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CacheReadError(f"{folder}: {err}") from err
        if not isinstance(index, dict) or index.get("store") != STORE_VERSION or not isinstance(meta, dict):
            raise CacheReadError(f"{folder}: not an entry of this cache version")
        files = index.get("files")
        if not isinstance(files, dict):
            raise CacheReadError(f"{folder}: index.json lists no files")
        for name, info in files.items():
            path = folder / name
            if not isinstance(info, dict) or not path.is_file() or path.stat().st_size != info.get("size"):
                raise CacheReadError(f"{folder}: {name} is missing or has the wrong size")
        reader = _Reader(folder, files)
        index["_tables"] = {name: reader.decode(node) for name, node in index.get("tables", {}).items()}
        index["_meta"] = meta
        self._index[key] = index
        return index

    def _miss(self, key: str, err: BaseException) -> None:
        logger.warning("cache entry %s cannot be read (%s); it is removed and recomputed", key[:12], err)
        self._index.pop(key, None)
        folder = self._entry(key)
        if folder.exists():
            old = atomic_path(folder)
            try:
                os.replace(folder, old)
                shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass

    def has(self, key: str) -> bool:
        """Whether a complete, readable entry exists for ``key`` (an unreadable one is a miss, removed)."""
        if not self.enabled:
            return False
        if not (self._entry(key) / "index.json").exists():
            return False
        try:
            self._load_index(key)
        except (CacheReadError, KeyError, TypeError, ValueError, OSError) as err:
            self._miss(key, err)
            return False
        return True

    def meta(self, key: str) -> dict[str, Any]:
        """The JSON metadata of an entry (summary, metrics, notes, figures...)."""
        try:
            return self._load_index(key)["_meta"]
        except (KeyError, TypeError, ValueError, OSError) as err:
            raise CacheReadError(f"cache entry {key[:12]}: {err}") from err

    def tables(self, key: str) -> dict[str, Any]:
        """The tables (pandas DataFrames) of an entry."""
        try:
            return dict(self._load_index(key)["_tables"])
        except (KeyError, TypeError, ValueError, OSError) as err:
            raise CacheReadError(f"cache entry {key[:12]}: {err}") from err

    def data(self, key: str) -> Any:
        """The output data of an entry; :class:`CacheReadError` (entry removed) when it cannot be read."""
        try:
            index = self._load_index(key)
            return _Reader(self._entry(key), index["files"]).decode(index["data"])
        except CacheReadError as err:
            self._miss(key, err)
            raise
        except (KeyError, TypeError, ValueError, OSError, AttributeError) as err:
            self._miss(key, err)
            raise CacheReadError(f"cache entry {key[:12]}: {type(err).__name__}: {err}") from err

    def put(self, key: str, data: Any, meta: Mapping[str, Any], tables: Mapping[str, Any]) -> bool:
        """Store an entry atomically (a temporary folder renamed into place).

        Returns
        -------
        bool
            False (and a warning in the log) when the value cannot be stored without pickle;
            the step is then recomputed on the next run.
        """
        if not self.enabled:
            return False
        final = self._entry(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = atomic_path(final)
        tmp.mkdir()
        try:
            writer = _Writer(tmp)
            index = {"store": STORE_VERSION, "data": writer.encode(data, "data"),
                     "tables": {str(name): writer.encode(table, f"tables[{name!r}]")
                                for name, table in dict(tables).items()}}
            index["files"] = writer.files
            (tmp / "meta.json").write_text(json.dumps(meta, default=_default, indent=1), encoding="utf-8")
            (tmp / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
            if final.exists():
                old = atomic_path(final)
                os.replace(final, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, final)
        except (UnstorableError, TypeError) as err:
            shutil.rmtree(tmp, ignore_errors=True)
            logger.warning("the output of %s is not cached (it holds %s); it is recomputed on the next run",
                           meta.get("id", key[:12]), err)
            return False
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._index.pop(key, None)
        return True

    def clear(self) -> None:
        """Delete every entry."""
        shutil.rmtree(self.root, ignore_errors=True)
        self._index.clear()
