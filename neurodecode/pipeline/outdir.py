"""The output folder of a run: checked, locked, cleaned of temporaries, and holding only this run's results.

:func:`claim` is what :func:`neurodecode.pipeline.run` wraps a run in:

- ``--out`` must be a folder the process can write: a file, or a read-only folder, is a
  one-line :class:`~neurodecode.errors.BadInputError` (exit status 2 from the CLI).
- The folder is locked (``fcntl.flock`` on ``.neurodecode.lock``) for the whole run. A second
  run into the same folder does not wait: it stops at once with a message naming the process
  that holds the folder. The kernel drops the lock when a process dies, so a killed run never
  leaves the folder locked.
- Temporaries left by a killed run (``.<name>.<8 hex>.tmp``, see :func:`neurodecode._files.atomic_path`)
  are removed when the next run starts (in a separate cache folder, only those older than an hour,
  since another run may be using that cache at the same time).
- Every atomic write made during the run must land inside the output folder, the cache folder
  or the data home (:func:`neurodecode._files.allowed_roots`).
- ``.neurodecode-owned.json`` lists every file neurodecode wrote into the folder. After a
  successful run, files of an earlier run (of this or another pipeline) that the new manifest
  does not list are removed, so the folder never mixes the results of two runs. Files that
  neurodecode did not write are never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .._files import allowed_roots, ensure_inside, is_temporary, write_atomic
from ..errors import BadInputError

__all__ = ["claim", "check_out_dir", "remove_temporaries", "owned_paths", "LOCK_NAME", "OWNED_NAME"]

logger = logging.getLogger("neurodecode.pipeline")

LOCK_NAME = ".neurodecode.lock"
OWNED_NAME = ".neurodecode-owned.json"
#: temporaries in a shared cache folder younger than this may belong to a live run
SHARED_TEMP_AGE_S = 3600.0


def check_out_dir(out: Path) -> Path:
    """Create ``out`` if needed and check that it is a writable folder (one-line errors otherwise)."""
    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {str(out)!r} is a file, not a folder; choose a folder name.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInputError(f"cannot create the output folder {str(out)!r}: {err.strerror or err}; "
                            "choose a folder you can write to.") from None
    probe = out / f".neurodecode-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise BadInputError(f"cannot write into the output folder {str(out)!r}: {err.strerror or err}; "
                            "choose a folder you can write to.") from None
    return out


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    import fcntl

    path = out / LOCK_NAME
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise BadInputError(
                f"another neurodecode run is writing into {str(out)!r} ({holder}); wait for it to finish "
                "or choose another --out."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    finally:
        fh.close()


def remove_temporaries(folder: Path, *, older_than_s: float | None = None) -> list[Path]:
    """Remove the temporaries of :func:`neurodecode._files.atomic_path` under ``folder``; returns them."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in list(dirnames) + filenames:
            if not is_temporary(name):
                continue
            path = Path(dirpath) / name
            try:
                if older_than_s is not None and now - path.lstat().st_mtime < older_than_s:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                    dirnames.remove(name)
                else:
                    path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed


def owned_paths(manifest: Any) -> set[str]:
    """Paths (relative to the output folder) a manifest says the run wrote."""
    out: set[str] = set()
    if not isinstance(manifest, dict) or "manifest_version" not in manifest:
        return out  # not a neurodecode manifest: claims nothing
    for entry in (manifest.get("outputs") or {}).values():
        for item in (entry or {}).get("files", []) if isinstance(entry, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                out.add(item["path"])

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.add(value)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    walk(manifest.get("files"))
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _remove_owned(out: Path, paths: Iterable[str]) -> list[str]:
    removed = []
    for rel in sorted(paths):
        if not rel or rel.startswith(("/", "\\")) or rel in (LOCK_NAME, OWNED_NAME):
            continue
        try:
            target = ensure_inside(out / rel, out)
        except BadInputError:
            continue
        if target == out:
            continue
        try:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            else:
                continue
        except OSError:
            continue
        removed.append(rel)
        parent = target.parent
        while parent != out and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return removed


@contextlib.contextmanager
def claim(out: Path, cache_root: Path | None = None) -> Iterator[Path]:
    """Hold ``out`` for one run (see the module docstring); yields the checked folder."""
    out = check_out_dir(Path(out))
    with _lock(out):
        stale = remove_temporaries(out)
        if cache_root is not None and Path(cache_root).is_dir() and out not in Path(cache_root).resolve().parents:
            stale += remove_temporaries(Path(cache_root), older_than_s=SHARED_TEMP_AGE_S)
        if stale:
            logger.info("removed %d temporary file(s) left by an interrupted run", len(stale))
        ledger = _read_json(out / OWNED_NAME)
        owned = set(ledger) if isinstance(ledger, list) else set()
        owned |= owned_paths(_read_json(out / "manifest.json"))
        from ..datasets.registry import data_home

        ok = False
        try:
            with allowed_roots(out, *([cache_root] if cache_root is not None else []), data_home()):
                yield out
            ok = True
        finally:
            current = owned_paths(_read_json(out / "manifest.json"))
            if ok:
                removed = _remove_owned(out, owned - current)
                if removed:
                    logger.info("removed %d file(s) of an earlier run that this run did not write: %s",
                                len(removed), ", ".join(removed[:10]) + (" ..." if len(removed) > 10 else ""))
                owned = current
            else:
                owned |= current
            try:
                write_atomic(out / OWNED_NAME, json.dumps(sorted(owned), indent=0))
            except OSError:
                logger.warning("could not record the files of this run in %s", out / OWNED_NAME)
