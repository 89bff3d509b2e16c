"""File helpers shared by the loaders, the registry, io and the pipeline.

Content hashes, atomic writes, the one sanitiser of file-name components that come from data
or parameters (:func:`safe_name`), and the one check that a written path stays inside the
folders a run may write to (:func:`allowed_roots`, enforced by :func:`atomic_path`, which every
atomic write of neurodecode goes through).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["sha256_file", "atomic_path", "replace_path", "write_atomic", "safe_name", "ensure_inside",
           "allowed_roots", "is_temporary", "TEMP_PATTERN", "disk_full_error"]

#: the names :func:`atomic_path` gives temporaries: ``.<name>.<8 hex>.tmp``
TEMP_PATTERN = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")

_ROOTS: contextvars.ContextVar[tuple[Path, ...] | None] = contextvars.ContextVar("neurodecode_roots", default=None)
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]+")


def safe_name(value: object, *, fallback: str = "item", max_length: int = 80) -> str:
    """``value`` as one safe file-name component.

    Every value that comes from data files or parameters (subject, session, run, labels) goes
    through this before it names a file: characters other than ASCII letters, digits and
    ``. _ + = -`` become ``_`` (so ``/``, ``\\``, NUL and spaces never reach a path), runs of
    dots become ``_`` (no ``..``), leading dots and dashes are dropped (no hidden files, no
    option-like names) and the result is cut to ``max_length`` characters.

    Examples
    --------
    >>> safe_name("../../../x")
    'x'
    >>> safe_name("sub 01/ses:2")
    'sub_01_ses_2'
    """
    text = _UNSAFE.sub("_", str(value))
    text = re.sub(r"\.{2,}", "_", text)
    text = text.lstrip(".-_")
    text = re.sub(r"_+", "_", text)[:max_length].rstrip("._")
    return text or fallback


def ensure_inside(path: str | os.PathLike, roots: "tuple[Path, ...] | list[Path] | Path") -> Path:
    """``path`` resolved, after checking that it lies inside one of ``roots``.

    Raises
    ------
    BadInputError
        When it does not (e.g. a name built from a crafted ``subject_id`` such as ``../../x``).
    """
    from .errors import BadInputError

    roots = (roots,) if isinstance(roots, (str, os.PathLike)) else tuple(roots)
    resolved = Path(os.path.abspath(path))
    real = Path(os.path.realpath(resolved.parent)) / resolved.name
    for root in roots:
        base = Path(os.path.realpath(root))
        if real == base or base in real.parents:
            return resolved
    raise BadInputError(
        f"refusing to write {str(path)!r}: it is outside the folders this run may write to "
        f"({', '.join(str(r) for r in roots)}); a name built from data or parameters must not leave them."
    )


@contextlib.contextmanager
def allowed_roots(*roots: str | os.PathLike) -> Iterator[tuple[Path, ...]]:
    """While active, every :func:`atomic_path` (hence every atomic write) must lie inside ``roots``."""
    value = tuple(Path(os.path.realpath(r)) for r in roots if r is not None)
    token = _ROOTS.set(value)
    try:
        yield value
    finally:
        _ROOTS.reset(token)


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like a temporary of :func:`atomic_path`."""
    return bool(TEMP_PATTERN.match(Path(path).name))


def disk_full_error(path: str | os.PathLike, err: OSError):
    """The one-line error for a write that ran out of space (or quota), naming the path."""
    from .errors import BadInputError

    return BadInputError(
        f"no space left to write {str(path)!r} ({os.strerror(err.errno or errno.ENOSPC)}); "
        "free some space or choose another output folder."
    )


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file's bytes (streamed in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def atomic_path(path: str | os.PathLike) -> Path:
    """A temporary sibling of ``path`` (same folder, so the final rename is atomic)."""
    path = Path(path)
    roots = _ROOTS.get()
    if roots is not None:
        ensure_inside(path, roots)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def replace_path(tmp: Path, final: Path) -> None:
    """Move ``tmp`` (a file or a folder) to ``final``; a folder already at ``final`` is swapped out, then removed."""
    if tmp.is_dir() and final.exists():
        old = atomic_path(final)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    else:
        os.replace(tmp, final)


def write_atomic(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` through a temporary sibling and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    try:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full_error(path, err) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
