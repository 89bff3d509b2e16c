"""sha256 of data files, with a small JSON cache keyed on (path, size, mtime).

Verifying 28 MB of CSVs on every load would cost a noticeable fraction of a second, so a
file's digest is remembered together with its size and modification time (ns); a file whose
size or mtime changed is hashed again. The cache is a JSON file in the data home when that
folder is writable, otherwise in the per-user cache folder, otherwise in the system temp
folder; if none is writable the cache only lives for the current process.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import threading
import uuid
from pathlib import Path

from .._files import sha256_file as compute_sha256  # module attribute: tests count calls through it

log = logging.getLogger(__name__)

CACHE_NAME = ".neurodecode-sha256.json"
_MAX_ENTRIES = 20_000
_lock = threading.Lock()
_memory: dict[str, dict] = {}


def is_writable(folder: Path) -> bool:
    """True when ``folder`` is a directory we may write to.

    Besides :func:`os.access`, the mode bits must allow writing: a folder marked read-only
    (``r-x``) is respected even by root, who would otherwise bypass the permissions.
    """
    try:
        st = folder.stat()
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _writable_dir(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return is_writable(folder)


def _user_cache_dir() -> Path:
    env = os.environ.get("NEURODECODE_CACHE")
    if env:
        return Path(env).expanduser()
    try:
        import pooch

        return Path(pooch.os_cache("neurodecode"))  # platformdirs' user cache dir
    except ImportError:  # pragma: no cover - pooch is a dependency
        return Path.home() / ".cache" / "neurodecode"


def cache_file(data_home: Path | None) -> Path | None:
    """The JSON cache file to use for ``data_home`` (None: keep the cache in memory only).

    The data home itself when it is a writable folder, else the user cache folder
    (``NEURODECODE_CACHE`` or the platform cache dir), else a per-user folder in the temp dir.
    """
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    candidates: list[tuple[Path, bool]] = []
    if data_home is not None:
        candidates.append((Path(data_home), False))  # never create the data home just for the cache
    candidates.append((_user_cache_dir(), True))
    candidates.append((Path(tempfile.gettempdir()) / f"neurodecode-{uid}", True))
    for folder, may_create in candidates:
        target = folder / CACHE_NAME
        if may_create and not folder.exists() and not _writable_dir(folder):
            continue
        if not is_writable(folder):
            continue
        if target.exists() and not os.access(target, os.R_OK | os.W_OK):
            continue
        return target
    return None


def _read(cache: Path | None) -> dict[str, dict]:
    if cache is None or not cache.exists():
        return {}
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        log.debug("ignoring unreadable sha256 cache %s: %s", cache, err)
        return {}
    return data if isinstance(data, dict) else {}


def _write(cache: Path | None, entries: dict[str, dict]) -> None:
    if cache is None:
        return
    if len(entries) > _MAX_ENTRIES:  # drop entries of files that no longer exist, then the oldest
        entries = {k: v for k, v in entries.items() if os.path.exists(k)}
        entries = dict(list(entries.items())[-_MAX_ENTRIES:])
    tmp = cache.with_name(f".{cache.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(entries, indent=0, sort_keys=True), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError as err:
        log.debug("cannot write sha256 cache %s: %s", cache, err)
        try:
            tmp.unlink()
        except OSError:
            pass


def _key(path: Path) -> tuple[str, int, int]:
    resolved = Path(os.path.realpath(path))
    st = resolved.stat()
    return str(resolved), int(st.st_size), int(st.st_mtime_ns)


def sha256_many(
    paths: list[Path], *, data_home: Path | None = None, use_cache: bool = True, progress: bool = True
) -> list[str]:
    """sha256 of each of ``paths``, reusing cached digests while size and mtime are unchanged.

    Parameters
    ----------
    paths : list of Path
        Files to hash (they must exist).
    data_home : Path, optional
        Where to keep the cache file when that folder is writable.
    use_cache : bool
        False re-hashes every file (the fresh digests are still stored).
    progress : bool
        Show a tqdm progress bar when more than 20 MB must be hashed.

    Returns
    -------
    list of str
        Hex digests, in the order of ``paths``.
    """
    keys = [_key(Path(p)) for p in paths]
    cache = cache_file(data_home)
    digests: list[str | None] = [None] * len(keys)
    with _lock:
        stored = _read(cache) if use_cache else {}
        for n, (key, size, mtime) in enumerate(keys):
            if not use_cache:
                break
            hit = _memory.get(key) or stored.get(key)
            if hit and hit.get("size") == size and hit.get("mtime_ns") == mtime and hit.get("sha256"):
                _memory[key] = hit
                digests[n] = str(hit["sha256"])
    todo = [n for n, d in enumerate(digests) if d is None]
    if not todo:
        return [str(d) for d in digests]
    total = sum(keys[n][1] for n in todo)
    bar = None
    if progress and total > 20_000_000:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc="verifying sha256", leave=False)
    fresh: dict[str, dict] = {}
    try:
        for n in todo:
            key, size, mtime = keys[n]
            digests[n] = compute_sha256(Path(key))
            fresh[key] = {"size": size, "mtime_ns": mtime, "sha256": digests[n]}
            if bar is not None:
                bar.update(size)
    finally:
        if bar is not None:
            bar.close()
    with _lock:
        _memory.update(fresh)
        entries = _read(cache)
        entries.update(fresh)
        _write(cache, entries)
    return [str(d) for d in digests]


def file_sha256(path: Path, *, data_home: Path | None = None, use_cache: bool = True) -> str:
    """sha256 of one file (see :func:`sha256_many`)."""
    return sha256_many([Path(path)], data_home=data_home, use_cache=use_cache, progress=False)[0]


def clear_memory_cache() -> None:
    """Forget the in-process digests (the JSON file is left alone)."""
    with _lock:
        _memory.clear()
