"""Content-addressed step cache, checksums and cache keys.

A step's key is the sha256 of the canonical JSON of (the key of its input, the op name
and version, the step parameters, the neurodecode version). The key of the loaded data
hashes the data spec and the sha256 of every input file. Changing a file, a parameter
or the package version therefore changes the key of that step and of every step after it.

Each entry is a folder ``<dir>/<key[:2]>/<key>/`` holding ``meta.json`` (summary,
metrics, notes, rendered figures), ``tables.pkl`` and ``data.pkl``. Entries are written
into a temporary folder and renamed into place, so a killed run never leaves a
half-written entry; the next run resumes from the last finished step.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._files import atomic_path, sha256_file, write_atomic

__all__ = ["canonical_json", "sha256_file", "step_key", "data_key", "StepCache", "ChecksumCache", "write_atomic"]


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


def step_key(input_key: str, op: str, params: Mapping[str, Any], *, op_version: str = "1",
             package_version: str | None = None) -> str:
    """Cache key of a step from the key of its input, the op and its parameters."""
    from .. import __version__

    return _sha(canonical_json({
        "input": input_key,
        "op": op,
        "op_version": op_version,
        "params": dict(params),
        "neurodecode": package_version or __version__,
    }))


def data_key(spec: Mapping[str, Any], checksums: Mapping[str, str], *, package_version: str | None = None) -> str:
    """Cache key of the loaded data from the data spec and the sha256 of each input file."""
    from .. import __version__

    return _sha(canonical_json({
        "data": dict(spec),
        "files": dict(checksums),
        "neurodecode": package_version or __version__,
    }))


class ChecksumCache:
    """Remembers file sha256s by (path, size, mtime) so unchanged files are not re-read."""

    def __init__(self, path: Path | None):
        self.path = path
        self._table: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if path is not None and path.exists():
            try:
                self._table = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._table = {}

    def sha256(self, file: Path) -> str:
        """sha256 of ``file`` (re-hashed when its size or mtime changed)."""
        stat = file.stat()
        key = str(file.resolve())
        entry = self._table.get(key)
        if entry and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            return entry["sha256"]
        digest = sha256_file(file)
        self._table[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
        self._dirty = True
        return digest

    def save(self) -> None:
        """Persist the table (atomically) when something changed."""
        if self.path is not None and self._dirty:
            write_atomic(self.path, json.dumps(self._table, indent=0, sort_keys=True))
            self._dirty = False


class StepCache:
    """The on-disk store of finished steps.

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

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def has(self, key: str) -> bool:
        """Whether a complete entry exists for ``key``."""
        return self.enabled and (self._entry(key) / "meta.json").exists() and (self._entry(key) / "data.pkl").exists()

    def meta(self, key: str) -> dict[str, Any]:
        """The JSON metadata of an entry (summary, metrics, notes, figures...)."""
        return json.loads((self._entry(key) / "meta.json").read_text(encoding="utf-8"))

    def tables(self, key: str) -> dict[str, Any]:
        """The tables (pandas DataFrames) of an entry."""
        path = self._entry(key) / "tables.pkl"
        if not path.exists():
            return {}
        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - files written by this cache

    def data(self, key: str) -> Any:
        """The output data of an entry."""
        with open(self._entry(key) / "data.pkl", "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - files written by this cache

    def put(self, key: str, data: Any, meta: Mapping[str, Any], tables: Mapping[str, Any]) -> None:
        """Store an entry atomically (a temporary folder renamed into place)."""
        if not self.enabled:
            return
        final = self._entry(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = atomic_path(final)
        tmp.mkdir()
        try:
            with open(tmp / "data.pkl", "wb") as fh:
                pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
            with open(tmp / "tables.pkl", "wb") as fh:
                pickle.dump(dict(tables), fh, protocol=pickle.HIGHEST_PROTOCOL)
            (tmp / "meta.json").write_text(json.dumps(meta, default=_default, indent=1), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def clear(self) -> None:
        """Delete every entry."""
        shutil.rmtree(self.root, ignore_errors=True)
