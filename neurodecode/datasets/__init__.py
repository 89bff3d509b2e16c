"""The dataset registry: cards, verified files and loaders for the real datasets.

Every dataset has a card (``datasets/<name>.yaml`` in the repository, ``neurodecode/datasets/cards``
in a wheel) listing its files with size, sha256 and pinned public URL, its licence and the papers
to cite. Files live in the data home (``$NEURODECODE_DATA``, else ``~/.cache/neurodecode``) under
the card's folder.

>>> from neurodecode import datasets
>>> datasets.list_datasets()                      # doctest: +SKIP
>>> datasets.info("haxby2001").licence            # doctest: +SKIP
>>> paths = datasets.files("muse_n170")           # relpath -> Path, sha256-verified  # doctest: +SKIP
>>> runs = datasets.load("muse_n170", subject=1)  # list of recordings               # doctest: +SKIP
"""

from __future__ import annotations

from ..errors import DatasetError
from .bids import bids_files, from_bids, from_bids_derivatives, list_bids
from .cards import Citation, DatasetCard, FileEntry, Source, cards_dir, info, list_datasets
from .loaders import load
from .registry import FileStatus, data_home, dataset_folder, fetch, file_status, files, offline

__all__ = [
    "Citation",
    "DatasetCard",
    "DatasetError",
    "FileEntry",
    "FileStatus",
    "Source",
    "bids_files",
    "cards_dir",
    "data_home",
    "dataset_folder",
    "fetch",
    "file_status",
    "files",
    "from_bids",
    "from_bids_derivatives",
    "info",
    "list_bids",
    "list_datasets",
    "load",
    "offline",
]
