"""Dataset cards: one YAML file per dataset, parsed into validated pydantic models.

The cards live in the repository's top-level ``datasets/`` folder (editable installs) and are
copied into the wheel as ``neurodecode/datasets/cards/``. :func:`cards_dir` finds whichever exists.
"""

from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import DatasetError

__all__ = [
    "BidsLayout",
    "Citation",
    "Source",
    "FileEntry",
    "DatasetCard",
    "cards_dir",
    "load_cards",
    "get_card",
    "list_datasets",
    "info",
]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Citation(BaseModel):
    """A reference to cite when the dataset is used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    doi: str | None = None

    def __str__(self) -> str:
        return f"{self.text} doi:{self.doi}" if self.doi else self.text


class Source(BaseModel):
    """The public repository (pinned to a commit) that the files come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: str
    commit: str
    path: str
    licence: str | None = None


class FileEntry(BaseModel):
    """One file of a dataset: relative path, size in bytes, sha256 and public URL.

    ``url`` is ``None`` for files made locally (SOURCE.txt, previews); those are never required.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    size: int = Field(ge=0)
    sha256: str
    url: str | None = None
    required: bool = True

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        p = PurePosixPath(value)
        if p.is_absolute() or ".." in p.parts or "\\" in value or not value:
            raise ValueError(f"file path {value!r} must be relative, use '/' and stay inside the folder")
        return value

    @field_validator("sha256")
    @classmethod
    def _hexdigest(cls, value: str) -> str:
        value = value.lower()
        if not _SHA256.match(value):
            raise ValueError(f"sha256 {value!r} is not 64 hex digits")
        return value

    @model_validator(mode="after")
    def _local_only_not_required(self) -> FileEntry:
        if self.url is None and self.required:
            raise ValueError(f"{self.path}: a file without a public URL (local-only) cannot be required")
        return self

    @property
    def local_only(self) -> bool:
        """True for files made locally, with no public copy to download."""
        return self.url is None


class BidsLayout(BaseModel):
    """Marks a dataset organised as BIDS: :func:`~neurodecode.datasets.load` reads it with
    :func:`~neurodecode.datasets.from_bids` (selection: subject, session, task, run, datatype...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str = Field(".", description="the BIDS root, relative to the dataset folder")

    @field_validator("root")
    @classmethod
    def _inside(cls, value: str) -> str:
        p = PurePosixPath(value)
        if p.is_absolute() or ".." in p.parts or "\\" in value:
            raise ValueError(f"bids.root {value!r} must be a relative folder inside the dataset folder")
        return value


class DatasetCard(BaseModel):
    """Everything known about one registered dataset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    modality: str
    kinds: list[str]
    folder: str
    description: str
    licence: str
    licence_short: str
    citations: list[Citation]
    sources: list[Source]
    selection: dict[str, dict[str, Any]] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    bids: BidsLayout | None = None
    files: list[FileEntry]

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9_]*$", value):
            raise ValueError(f"dataset name {value!r} must be lower-case letters, digits and '_'")
        return value

    @model_validator(mode="after")
    def _unique_paths(self) -> DatasetCard:
        seen: set[str] = set()
        for f in self.files:
            if f.path in seen:
                raise ValueError(f"file {f.path!r} is listed twice")
            seen.add(f.path)
        if not self.citations:
            raise ValueError("a dataset card needs at least one citation")
        return self

    # ------------------------------------------------------------------ helpers

    @property
    def size(self) -> int:
        """Total size in bytes of the files with a public URL."""
        return sum(f.size for f in self.files if not f.local_only)

    @property
    def required_files(self) -> list[FileEntry]:
        """The files that must be present (those with a public URL)."""
        return [f for f in self.files if f.required]

    def file(self, path: str) -> FileEntry:
        """Return the entry for relative ``path``; raise DatasetError with close matches if unknown."""
        for f in self.files:
            if f.path == path:
                return f
        close = difflib.get_close_matches(path, [f.path for f in self.files], n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise DatasetError(f"dataset {self.name!r} has no file {path!r}.{hint}")

    def citation_text(self) -> str:
        """All citations, one per line."""
        return "\n".join(str(c) for c in self.citations)


# --------------------------------------------------------------------------- discovery


def cards_dir() -> Path:
    """The folder holding the dataset cards.

    ``neurodecode/datasets/cards`` inside an installed wheel, otherwise the repository's
    top-level ``datasets/`` folder (editable install / source checkout).
    """
    packaged = Path(__file__).resolve().parent / "cards"
    if packaged.is_dir():
        return packaged
    repo = Path(__file__).resolve().parents[2] / "datasets"
    if repo.is_dir():
        return repo
    raise DatasetError(
        f"cannot find the dataset cards: neither {packaged} (installed wheel) nor {repo} (source "
        "checkout) exists. Reinstall neurodecode (pip install --force-reinstall neurodecode)."
    )


def _parse_card(path: Path) -> DatasetCard:
    import yaml
    from pydantic import ValidationError

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise DatasetError(f"dataset card {path} is not valid YAML: {err}") from err
    try:
        card = DatasetCard.model_validate(raw)
    except ValidationError as err:
        raise DatasetError(f"dataset card {path} is invalid:\n{err}") from err
    if card.name != path.stem:
        raise DatasetError(f"dataset card {path} declares name {card.name!r}; rename the file or the name.")
    return card


@functools.lru_cache(maxsize=4)
def _load_cards_from(folder: str) -> dict[str, DatasetCard]:
    cards: dict[str, DatasetCard] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        card = _parse_card(path)
        cards[card.name] = card
    if not cards:
        raise DatasetError(f"no dataset cards (*.yaml) found in {folder}.")
    return cards


def load_cards() -> dict[str, DatasetCard]:
    """All dataset cards, by name (parsed once and cached)."""
    return dict(_load_cards_from(str(cards_dir())))


def list_datasets() -> list[str]:
    """Names of all registered datasets, sorted.

    Examples
    --------
    >>> from neurodecode import datasets
    >>> "muse_n170" in datasets.list_datasets()
    True
    """
    return sorted(load_cards())


def get_card(name: str) -> DatasetCard:
    """Return the card of dataset ``name``.

    Raises
    ------
    DatasetError
        If ``name`` is unknown; the message lists the known names and the closest match.
    """
    cards = load_cards()
    if not isinstance(name, str):
        raise DatasetError(f"dataset name must be a string, got {type(name).__name__}.")
    if name in cards:
        return cards[name]
    close = difflib.get_close_matches(name.lower(), list(cards), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise DatasetError(
        f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(sorted(cards))} "
        "(see `neurodecode datasets list`)."
    )


def info(name: str) -> DatasetCard:
    """Return the card (a :class:`DatasetCard`) of dataset ``name``.

    The card has ``name``, ``title``, ``modality``, ``description``, ``licence``, ``citations``,
    ``sources``, ``folder`` (inside the data home), ``selection`` (the keyword arguments of
    :func:`neurodecode.datasets.load`), ``notes`` and ``files`` (path, size, sha256, url).

    Raises
    ------
    DatasetError
        Unknown name; the message suggests the closest known name.
    """
    return get_card(name)
