"""Read CSV / TSV tables of labels or metadata (stimulus tables, per-RDM metadata, BIDS files)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import BadInputError
from ._paths import expand

__all__ = ["read_table", "TABLE_SEPARATORS"]

#: Column separator by file suffix (lower case).
TABLE_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
#: Strings read as missing values, besides pandas' defaults (``NA``, ``NaN``, empty...): BIDS writes ``n/a``.
NA_VALUES = ["n/a", "N/A"]


def _read_one(path: Path) -> pd.DataFrame:
    sep = TABLE_SEPARATORS.get(path.suffix.lower())
    if sep is None:
        raise BadInputError(
            f"cannot tell the column separator of {str(path)!r} from its suffix {path.suffix!r}; name the file "
            f".csv (comma-separated) or .tsv (tab-separated)."
        )
    if not path.is_file():
        raise BadInputError(f"table file {str(path)!r} does not exist; check the path.")
    if path.stat().st_size == 0:
        raise BadInputError(f"table file {str(path)!r} is empty; it needs a header line and one row per entry.")
    try:
        df = pd.read_csv(path, sep=sep, na_values=NA_VALUES, skipinitialspace=True)
    except pd.errors.EmptyDataError as err:
        raise BadInputError(f"table file {str(path)!r} holds no columns ({err}); write a header line.") from err
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise BadInputError(
            f"cannot read {str(path)!r} as a {'tab' if sep == chr(9) else 'comma'}-separated table: {err}. "
            "Check that every row has as many fields as the header."
        ) from err
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise BadInputError(f"table file {str(path)!r} has a header ({list(df.columns)}) but no rows.")
    unnamed = [c for c in df.columns if c.startswith("Unnamed: ")]
    empty = [c for c in unnamed if df[c].isna().all()]  # a trailing separator on every line
    df = df.drop(columns=empty)
    if set(unnamed) - set(empty):
        raise BadInputError(
            f"table file {str(path)!r}: a column holding values has no name in the header line "
            f"(position(s) {[int(c.split(': ')[1]) + 1 for c in unnamed if c not in empty]}); name every column."
        )
    return df


def read_table(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    index: str | None = None,
) -> pd.DataFrame:
    """Read a CSV or TSV table.

    Parameters
    ----------
    path : path, glob pattern, folder or list
        ``.csv`` (comma) or ``.tsv`` / ``.tab`` (tab) files; the separator follows the
        suffix. ``n/a`` (as in BIDS) and pandas' usual markers (empty field, ``NA``, ``NaN``) are
        read as missing values. Several files (a folder, a glob or a list) are stacked in file
        order; they must have the same columns.
    index : str, optional
        A column to use as the index (e.g. ``stimulus``); its values must be unique.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    BadInputError
        Missing, empty or header-only file; unknown suffix; malformed rows; a column without a name
        in the header; files with different columns; ``index`` not a column or not unique.
    """
    files, _ = expand(path, extensions=tuple(TABLE_SEPARATORS), what="table files")
    frames = [_read_one(p) for p in files]
    columns = list(frames[0].columns)
    for p, df in zip(files[1:], frames[1:]):
        if list(df.columns) != columns:
            raise BadInputError(
                f"{str(p)!r} has columns {list(df.columns)} but {str(files[0])!r} has {columns}; tables read "
                "together must have the same columns."
            )
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if index is not None:
        if index not in df.columns:
            raise BadInputError(f"index={index!r} is not a column of {', '.join(map(str, files))}; columns: {columns}.")
        dup = df[index][df[index].duplicated()].unique().tolist()
        if dup:
            raise BadInputError(f"column {index!r} of {', '.join(map(str, files))} repeats values {dup[:5]}; an index must be unique.")
        df = df.set_index(index)
    return df
