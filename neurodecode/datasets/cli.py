"""``neurodecode datasets list | info NAME | fetch NAME``: the registry on the command line.

:func:`add_subparsers` adds the ``datasets`` command to an :mod:`argparse` subparsers object;
each leaf parser has ``func`` set to :func:`cmd_list`, :func:`cmd_info` or :func:`cmd_fetch`,
which take the parsed namespace and return an exit status (0 = fine, 1 = files missing or
corrupted, 2 = bad usage such as an unknown name).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, TextIO

from ..errors import DatasetError

__all__ = ["add_subparsers", "cmd_list", "cmd_info", "cmd_fetch", "format_size", "format_table"]


def format_size(n: int) -> str:
    """Bytes as a short human-readable size (``"2.1 MB"``)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned plain-text table with a dashed rule under the header."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _summary(statuses) -> str:
    required = [s for s in statuses if s.entry.required]
    counts: dict[str, int] = {}
    for s in required:
        counts[s.status] = counts.get(s.status, 0) + 1
    n = len(required)
    if counts.get("mismatch"):
        return f"CORRUPT {counts['mismatch']}/{n}"
    if counts.get("missing"):
        return f"missing {counts['missing']}/{n}"
    if counts.get("verified") == n:
        return f"verified {n}/{n}"
    return f"present {n}/{n}"


def _out(args: argparse.Namespace) -> TextIO:
    return getattr(args, "stdout", None) or sys.stdout


def cmd_list(args: argparse.Namespace) -> int:
    """Print one row per dataset: name, modality, files, size, licence and local status."""
    from .cards import get_card, list_datasets
    from .registry import data_home, file_status

    out = _out(args)
    verify = bool(getattr(args, "verify", False))
    rows = []
    for name in list_datasets():
        card = get_card(name)
        statuses = file_status(name, verify=verify)
        rows.append([name, card.modality, len(card.required_files), format_size(card.size), card.licence_short,
                     _summary(statuses)])
    print(f"data home: {data_home()}" + ("" if verify else "   (sizes only; --verify checks sha256)"), file=out)
    print(format_table(["name", "modality", "files", "size", "licence", "status"], rows), file=out)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print a dataset's card (title, licence, citations, sources, selection) and its files' status."""
    from .cards import get_card
    from .registry import data_home, file_status

    out = _out(args)
    try:
        card = get_card(args.name)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    verify = not bool(getattr(args, "no_verify", False))
    statuses = file_status(card.name, verify=verify)
    wrap = textwrap.TextWrapper(width=100, initial_indent="  ", subsequent_indent="  ")
    print(f"{card.name}: {card.title}", file=out)
    print(f"modality: {card.modality}   kinds: {', '.join(card.kinds)}", file=out)
    print(f"folder:   {data_home() / card.folder}", file=out)
    n_files = len(card.required_files)
    print(f"size:     {format_size(card.size)} in {n_files} file{'s' if n_files != 1 else ''}   "
          f"status: {_summary(statuses)}", file=out)
    print("description:", file=out)
    print(wrap.fill(card.description), file=out)
    print("licence:", file=out)
    print(wrap.fill(card.licence), file=out)
    print("cite:", file=out)
    for c in card.citations:
        print(wrap.fill(str(c)), file=out)
    print("sources:", file=out)
    for s in card.sources:
        print(f"  github.com/{s.repository} @ {s.commit} : {s.path} ({s.licence})", file=out)
    if card.selection:
        print("load() selection:", file=out)
        for key, spec in card.selection.items():
            values = spec.get("values")
            print(f"  {key}={spec.get('default')!r}  {values if values is not None else ''}  {spec.get('help', '')}",
                  file=out)
    if card.notes:
        print("notes:", file=out)
        for note in card.notes:
            print(wrap.fill("- " + note), file=out)
    headers = ["path", "size", "sha256", "status"] + (["url"] if getattr(args, "urls", False) else [])
    rows = []
    for st in statuses:
        status = "local-only" if st.entry.local_only and st.status != "missing" else st.status
        if st.entry.local_only and st.status == "missing":
            status = "local-only (absent)"
        row = [st.entry.path, st.entry.size, st.entry.sha256[:12], status]
        if getattr(args, "urls", False):
            row.append(st.entry.url or "-")
        rows.append(row)
    print(format_table(headers, rows), file=out)
    return 1 if any(s.status == "mismatch" for s in statuses) else 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """Download (when allowed) and verify every file of the named datasets (``all`` for every one)."""
    from .cards import list_datasets
    from .registry import fetch

    out = _out(args)
    names = list(args.name) if isinstance(args.name, (list, tuple)) else [args.name]
    if "all" in names:
        names = list_datasets()
    download = False if getattr(args, "no_download", False) else None
    status = 0
    for name in names:
        try:
            folder = fetch(name, download=download)
        except DatasetError as err:
            print(f"error: {err}", file=sys.stderr)
            status = max(status, 2 if str(err).startswith("unknown dataset") else 1)
            continue
        print(f"{name}: all files verified in {folder}", file=out)
    return status


def add_subparsers(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``datasets list | info NAME | fetch NAME...`` to an argparse ``subparsers`` object.

    Returns the ``datasets`` parser. Each leaf parser sets ``func`` (call ``args.func(args)``).
    """
    parser = subparsers.add_parser(
        "datasets", help="list, describe and fetch the registered datasets",
        description="The dataset registry: cards with sha256 and public URLs, files in the data home "
        "($NEURODECODE_DATA or ~/.cache/neurodecode).",
    )
    sub = parser.add_subparsers(dest="datasets_command", metavar="{list,info,fetch}")
    sub.required = True

    p_list = sub.add_parser("list", help="table of datasets with size, licence and local status")
    p_list.add_argument("--verify", action="store_true", help="check every file's sha256 (cached)")
    p_list.set_defaults(func=cmd_list)

    p_info = sub.add_parser("info", help="a dataset's card and the status of each of its files")
    p_info.add_argument("name", help="dataset name (see `neurodecode datasets list`)")
    p_info.add_argument("--no-verify", action="store_true", help="check sizes only, not sha256")
    p_info.add_argument("--urls", action="store_true", help="add each file's download URL")
    p_info.set_defaults(func=cmd_info)

    p_fetch = sub.add_parser("fetch", help="download missing files and verify all (sha256)")
    p_fetch.add_argument("name", nargs="+", help="dataset name(s), or 'all'")
    p_fetch.add_argument("--no-download", action="store_true",
                         help="only verify what is there; report missing files with their URLs")
    p_fetch.set_defaults(func=cmd_fetch)
    return parser
