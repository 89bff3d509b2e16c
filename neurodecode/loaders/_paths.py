"""Turn a folder, a glob pattern or a list of paths into a sorted list of files (private).

Shared by the generic readers (:mod:`.images`, :mod:`.rdms`, :mod:`.tables`) so that every
``source`` argument accepts the same three forms:

* a folder: searched recursively; hidden files and folders (names starting with ``.``) are
  skipped; files are kept when their suffix (lower-cased) is one of ``extensions``;
* a glob pattern (a string holding ``*``, ``?`` or ``[``; ``**`` matches sub-folders): the
  matched files with a suffix in ``extensions``;
* a list of paths (or a single file): taken as given, in the given order.

Stores that are folders on disk (``.zarr``) count as files: they are listed, never entered.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import BadInputError

__all__ = ["expand", "is_glob", "relative_id", "STORE_SUFFIXES"]

#: Suffixes of data stores that are folders on disk but count as one file.
STORE_SUFFIXES = (".zarr",)
_MAGIC = set("*?[")


def is_glob(source: object) -> bool:
    """True for a string (or path) that holds a glob wildcard (``*``, ``?`` or ``[``)."""
    return isinstance(source, (str, os.PathLike)) and bool(_MAGIC & set(os.fspath(source)))


def _is_store(path: Path) -> bool:
    return path.suffix.lower() in STORE_SUFFIXES


def _wanted(path: Path, extensions: Sequence[str] | None) -> bool:
    return extensions is None or path.suffix.lower() in extensions


def _glob_root(pattern: str) -> Path:
    """The folder part of ``pattern`` before its first wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if _MAGIC & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _walk(folder: Path, extensions: Sequence[str] | None) -> tuple[list[Path], list[str]]:
    """Files under ``folder`` with a wanted suffix, and a few names of the others (for errors)."""
    found: list[Path] = []
    others: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        keep_dirs = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            if _is_store(Path(d)):
                (found if _wanted(Path(d), extensions) else others).append(here / d)
            else:
                keep_dirs.append(d)
        dirnames[:] = keep_dirs
        for f in filenames:
            if f.startswith("."):
                continue
            p = here / f
            if _wanted(p, extensions):
                found.append(p)
            else:
                others.append(p)
    found.sort(key=lambda p: p.relative_to(folder).as_posix())
    return found, sorted(str(p.relative_to(folder).as_posix()) for p in others)


def _listing(extensions: Iterable[str] | None) -> str:
    return ", ".join(extensions) if extensions else "any suffix"


def expand(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    extensions: Sequence[str] | None = None,
    what: str = "files",
) -> tuple[list[Path], Path]:
    """List the files named by ``source`` and the folder their relative names start from.

    Parameters
    ----------
    source : path, glob pattern or list of paths
        See the module docstring.
    extensions : sequence of str, optional
        Lower-case suffixes with the dot (``".png"``) kept from a folder or a glob; a list of
        paths is taken as given. ``None`` keeps every file.
    what : str
        What the files are, for error messages (``"image files"``).

    Returns
    -------
    files : list of Path
        Sorted by relative path for a folder or glob; in the given order for a list.
    root : Path
        The folder itself, the glob's folder before its first wildcard, or the common parent
        folder of a list (the parent of a single file).

    Raises
    ------
    BadInputError
        A path that does not exist, a folder or pattern that yields no file (the message lists
        the suffixes looked for and a few of the files seen), an empty list.
    """
    exts = None if extensions is None else tuple(e.lower() for e in extensions)
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if is_glob(text) and not Path(text).exists():
            root = _glob_root(text)
            matched = sorted(Path(p) for p in glob.glob(text, recursive=True))
            matched = [p for p in matched if p.is_file() or _is_store(p)]
            files = [p for p in matched if _wanted(p, exts)]
            if not files:
                seen = ", ".join(str(p) for p in matched[:5])
                raise BadInputError(
                    f"the pattern {text!r} matched no {what} (looked for {_listing(exts)})"
                    + (f"; it matched only {len(matched)} other file(s): {seen}" if matched else "")
                    + ". Check the pattern (use '**/' to search sub-folders) or pass a folder."
                )
            files.sort(key=lambda p: Path(os.path.relpath(p, root)).as_posix())
            return files, root
        path = Path(text)
        if not path.exists():
            raise BadInputError(f"{text!r} does not exist (looking for {what}); check the path.")
        if path.is_dir() and not _is_store(path):
            files, others = _walk(path, exts)
            if not files:
                seen = f"; it holds {len(others)} other file(s): {', '.join(others[:5])}" if others else " (it is empty)"
                raise BadInputError(
                    f"no {what} ({_listing(exts)}) in folder {text!r} or its sub-folders{seen}. "
                    "Point to the folder that holds them, or pass a glob pattern or a list of files."
                )
            return files, path
        return [path], path.parent
    if isinstance(source, Sequence) and not isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise BadInputError(f"the list of {what} is empty; give at least one file.")
        files = []
        for item in source:
            if not isinstance(item, (str, os.PathLike)):
                raise BadInputError(f"a list of {what} must hold paths, got a {type(item).__name__} ({item!r}).")
            p = Path(item)
            if not p.exists():
                raise BadInputError(f"{str(p)!r} does not exist (in the list of {what}); check the path.")
            if p.is_dir() and not _is_store(p):
                raise BadInputError(
                    f"{str(p)!r} in the list of {what} is a folder; pass the folder itself (not in a list), "
                    "a glob pattern, or list the files."
                )
            files.append(p)
        parents = [os.path.abspath(p.parent) for p in files]
        common = Path(os.path.commonpath(parents))
        # keep the root relative when every path was relative (ids do not depend on it)
        if all(not p.is_absolute() for p in files):
            common = Path(os.path.relpath(common))
        return files, common
    raise BadInputError(
        f"expected a folder, a glob pattern or a list of {what}, got a {type(source).__name__} ({source!r})."
    )


def relative_id(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` without its suffix, with ``/`` separators (the stimulus id)."""
    try:
        rel = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root)))
    except ValueError:  # different drives on Windows
        rel = Path(path.name)
    if rel.parts and rel.parts[0] == "..":
        rel = Path(path.name)
    return rel.with_suffix("").as_posix()
