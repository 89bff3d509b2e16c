"""Find, verify and fetch the files of registered datasets in the data home.

The data home is ``$NEURODECODE_DATA`` or, when unset, the per-user cache folder
(``~/.cache/neurodecode`` on Linux). Dataset ``name`` lives in ``data_home()/<card.folder>/``.
Every file is checked against the sha256 on its card before it is handed out; missing files
are downloaded with pooch from their pinned public URL unless downloads are disabled
(``download=False``, or ``NEURODECODE_OFFLINE`` / ``HF_HUB_OFFLINE`` set to a true value).
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from ._hashing import is_writable, sha256_many
from .cards import DatasetCard, FileEntry, get_card

__all__ = ["data_home", "dataset_folder", "offline", "files", "fetch", "file_status", "FileStatus"]

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
OFFLINE_VARS = ("NEURODECODE_OFFLINE", "HF_HUB_OFFLINE")


def data_home() -> Path:
    """The folder that holds the datasets.

    ``$NEURODECODE_DATA`` when set, otherwise the user cache folder given by pooch/platformdirs
    (``~/.cache/neurodecode`` on Linux). The folder is not created here.
    """
    env = os.environ.get("NEURODECODE_DATA")
    if env:
        return Path(env).expanduser()
    try:
        import pooch

        return Path(pooch.os_cache("neurodecode"))
    except ImportError:  # pragma: no cover - pooch is a dependency
        return Path.home() / ".cache" / "neurodecode"


def dataset_folder(name: str) -> Path:
    """``data_home() / <folder of dataset name>``."""
    return data_home() / get_card(name).folder


def offline() -> str | None:
    """The name of the environment variable that disables downloads, or None when online is allowed."""
    for var in OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return var
    return None


@dataclass(frozen=True)
class FileStatus:
    """Where one file of a dataset stands: ``missing``, ``present`` (not hashed), ``verified`` or ``mismatch``."""

    entry: FileEntry
    path: Path
    status: str
    actual_sha256: str | None = None


def _select(card: DatasetCard, include: Iterable[str] | str | None) -> list[FileEntry]:
    if include is None:
        return list(card.files)
    patterns = [include] if isinstance(include, str) else list(include)
    chosen = [f for f in card.files if any(fnmatch.fnmatchcase(f.path, p) for p in patterns)]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(f.path, p) for f in card.files)]
    if unmatched:
        raise DatasetError(
            f"dataset {card.name!r}: no file matches {unmatched}; the card lists e.g. "
            f"{[f.path for f in card.files[:5]]} (see `neurodecode datasets info {card.name}`)."
        )
    return chosen


def file_status(name: str, *, verify: bool = True, include: Iterable[str] | str | None = None) -> list[FileStatus]:
    """Status of every file of dataset ``name`` in the data home (nothing is downloaded).

    Parameters
    ----------
    name : str
        A registered dataset.
    verify : bool
        Hash the present files (cached) and report ``verified`` or ``mismatch``; otherwise
        present files whose size matches are ``present`` and the others ``mismatch``.
    include : str or list of str, optional
        Glob patterns of relative paths to consider (default: all files).
    """
    card = get_card(name)
    home = data_home()
    folder = home / card.folder
    entries = _select(card, include)
    out: dict[str, FileStatus] = {}
    to_hash: list[tuple[FileEntry, Path]] = []
    for entry in entries:
        path = folder / entry.path
        if not path.is_file():
            out[entry.path] = FileStatus(entry, path, "missing")
        elif path.stat().st_size != entry.size and not entry.local_only:
            to_hash.append((entry, path))
        elif verify and not entry.local_only:
            to_hash.append((entry, path))
        else:
            out[entry.path] = FileStatus(entry, path, "present")
    if to_hash:
        digests = sha256_many([p for _, p in to_hash], data_home=home if home.is_dir() else None)
        for (entry, path), digest in zip(to_hash, digests):
            status = "verified" if digest == entry.sha256 else "mismatch"
            out[entry.path] = FileStatus(entry, path, status, digest)
    return [out[e.path] for e in entries]


def _mismatch_error(card: DatasetCard, bad: list[FileStatus]) -> DatasetError:
    lines = [
        f"dataset {card.name!r}: {len(bad)} file(s) do not match the sha256 on the dataset card "
        "(corrupted, truncated or a different version); they were NOT loaded:"
    ]
    for st in bad:
        size = st.path.stat().st_size if st.path.exists() else None
        lines.append(
            f"  {st.path}\n    expected sha256 {st.entry.sha256} ({st.entry.size} bytes)\n"
            f"    actual   sha256 {st.actual_sha256} ({size} bytes)"
        )
    lines.append(
        "Delete these file(s) and fetch them again: `neurodecode datasets fetch "
        f"{card.name}` (or neurodecode.datasets.fetch({card.name!r})), or copy the right version from "
        + ", ".join(st.entry.url or "(local-only)" for st in bad[:3])
        + ("..." if len(bad) > 3 else "")
        + "."
    )
    return DatasetError("\n".join(lines))


def _missing_error(card: DatasetCard, folder: Path, missing: list[FileEntry], reasons: dict[str, str], why: str) -> DatasetError:
    shown = missing[:20]
    lines = [
        f"dataset {card.name!r}: {len(missing)} file(s) missing from {folder} and {why}:",
    ]
    for entry in shown:
        reason = reasons.get(entry.path)
        lines.append(f"  {entry.path}  ({entry.size} bytes)\n    from {entry.url}" + (f"\n    failed: {reason}" if reason else ""))
    if len(missing) > len(shown):
        lines.append(f"  ... and {len(missing) - len(shown)} more (`neurodecode datasets info {card.name}` lists them all)")
    lines.append(
        f"Put each file at {folder}/<path above> (e.g. curl -L --create-dirs -o {folder}/{shown[0].path} "
        f"'{shown[0].url}'), or set NEURODECODE_DATA to a folder that already holds '{card.folder}/', "
        f"or go online and run `neurodecode datasets fetch {card.name}`. Files are checked against the "
        "sha256 on the dataset card."
    )
    return DatasetError("\n".join(lines))


def _download(entry: FileEntry, target: Path) -> None:
    import pooch

    target.parent.mkdir(parents=True, exist_ok=True)
    pooch.retrieve(
        url=str(entry.url),
        known_hash=f"sha256:{entry.sha256}",
        fname=target.name,
        path=target.parent,
        progressbar=True,
    )


def files(
    name: str,
    *,
    check: bool = True,
    download: bool | None = None,
    include: Iterable[str] | str | None = None,
) -> dict[str, Path]:
    """Paths of the files of dataset ``name``, verified against their sha256.

    Parameters
    ----------
    name : str
        A registered dataset (see :func:`list_datasets`).
    check : bool
        Verify each file's sha256 (cached on path, size and mtime, so repeated calls are cheap).
        With ``check=False`` only presence and size are checked.
    download : bool or None
        Fetch missing files with pooch from their public URL. ``None`` (default): download unless
        ``NEURODECODE_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to a true value; ``False``: never;
        ``True``: always try, even when those variables are set.
    include : str or list of str, optional
        Glob patterns (``fnmatch``) of relative paths to return, e.g. ``"subject1/*"``; default all.

    Returns
    -------
    dict
        Relative path -> absolute Path, for every selected required file and every local-only file
        that happens to be present (local-only files are not verified).

    Raises
    ------
    DatasetError
        A file does not match its sha256 (naming expected and actual digests and what to do), or
        files are missing and cannot be downloaded (naming them, their URLs and the folder to put
        them in).
    """
    card = get_card(name)
    folder = data_home() / card.folder
    statuses = file_status(name, verify=check, include=include)
    bad = [st for st in statuses if st.status == "mismatch"]
    if bad:
        raise _mismatch_error(card, bad)
    missing = [st.entry for st in statuses if st.status == "missing" and st.entry.required]
    if missing:
        blocker = offline()
        allowed = download if download is not None else blocker is None
        if not allowed:
            why = (
                "downloads are disabled (download=False)"
                if download is False
                else f"downloads are disabled ({blocker}={os.environ.get(blocker or '', '')})"
            )
            raise _missing_error(card, folder, missing, {}, why)
        anchor = next((p for p in [folder, *folder.parents] if p.exists()), None)
        if anchor is None or not is_writable(anchor):
            raise _missing_error(
                card, folder, missing, {},
                f"cannot be downloaded there because {anchor} is read-only (set NEURODECODE_DATA to a "
                "writable folder, or ask the owner of the data home to add them)",
            )
        reasons: dict[str, str] = {}
        for entry in _progress(missing, card.name):
            target = folder / entry.path
            try:
                _download(entry, target)
            except Exception as err:  # network, HTTP, permission or hash errors: report them all
                reasons[entry.path] = f"{type(err).__name__}: {err}".strip()[:300]
                log.debug("download of %s failed", entry.url, exc_info=True)
        failed = [e for e in missing if e.path in reasons]
        if failed:
            raise _missing_error(card, folder, failed, reasons, "could not be downloaded")
        # re-check what was just written (pooch verified the hash; this also fills the cache)
        statuses = file_status(name, verify=check, include=include)
        bad = [st for st in statuses if st.status == "mismatch"]
        if bad:
            raise _mismatch_error(card, bad)
    return {st.entry.path: st.path for st in statuses if st.status != "missing"}


def _progress(items: list[FileEntry], name: str):
    if len(items) < 2:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=f"fetching {name}", unit="file")


def fetch(name: str, *, download: bool | None = None) -> Path:
    """Download (if needed) and verify every file of dataset ``name``; return its folder.

    Parameters
    ----------
    name : str
        A registered dataset.
    download : bool or None
        As in :func:`files`; ``None`` respects ``NEURODECODE_OFFLINE`` / ``HF_HUB_OFFLINE``.

    Returns
    -------
    Path
        ``data_home() / card.folder``.
    """
    files(name, check=True, download=download)
    return dataset_folder(name)
