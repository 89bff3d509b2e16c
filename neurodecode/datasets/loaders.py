"""``load(name, **selection)``: registered datasets as data-model objects.

Each dataset has one function below. They ask :func:`~neurodecode.datasets.registry.files`
for just the files the selection needs (verified against the card's sha256, downloaded when
allowed), then read them with the toolkit's loaders, imported lazily so that
``import neurodecode.datasets`` stays light.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import BadInputError, DatasetError
from .cards import get_card
from .registry import files

__all__ = ["load", "LOADERS", "muse_runs"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- selection helpers


def _int_list(value: Any, key: str, allowed: Iterable[int], listing: str = "") -> list[int]:
    """``value`` (an int or a list of ints) as a list, each checked against ``allowed``."""
    allowed = sorted(allowed)
    values = list(value) if isinstance(value, (list, tuple, set, range)) else [value]
    out = []
    for v in values:
        iv = None
        if isinstance(v, str):
            iv = int(v) if v.strip().isdigit() else None
        elif not isinstance(v, (bool, float)):
            try:
                iv = int(v) if int(v) == v else None
            except (TypeError, ValueError):
                iv = None
        if iv is None or iv not in allowed:
            raise BadInputError(
                f"{key}={v!r} does not exist; available {key}s: {allowed}" + (f" ({listing})" if listing else "") + "."
            )
        out.append(iv)
    if not out:
        raise BadInputError(f"{key}={value!r} selects nothing; available {key}s: {allowed}.")
    return out


def _check_keys(name: str, selection: dict[str, Any], extra: Iterable[str] = ()) -> None:
    card = get_card(name)
    known = set(card.selection) | set(extra)
    unknown = sorted(set(selection) - known)
    if unknown:
        raise BadInputError(
            f"load({name!r}) got unknown selection {unknown}; it accepts "
            f"{sorted(known) or 'no selection keywords'} (see `neurodecode datasets info {name}`)."
        )


def _choice(name: str, key: str, value: Any) -> Any:
    allowed = get_card(name).selection[key]["values"]
    if value not in allowed:
        raise BadInputError(f"load({name!r}): {key}={value!r} is not one of {allowed}.")
    return value


def _validated(obj, kind: str | None = None):
    from ..datamodel import validate

    validate(obj, kind)
    return obj


# --------------------------------------------------------------------------- kriegeskorte92


def _load_kriegeskorte92(part: str | None = None, *, download: bool | None = None):
    from .kriegeskorte import PARTS, load_kriegeskorte92

    if part is not None and part not in PARTS:
        raise BadInputError(f"load('kriegeskorte92'): part={part!r} is not one of {list(PARTS)}.")
    needed = sorted({f for p in ([part] if part else PARTS) for f in PARTS[p]})
    paths = files("kriegeskorte92", include=needed, download=download)
    out = load_kriegeskorte92(paths, part)
    if part is None:
        stacks = list(out.rdms().values())
    else:
        stacks = [] if part == "images" else [out]
    for stack in stacks:
        _validated(stack, "rdm")
    return out


# --------------------------------------------------------------------------- cichy92_fmri


def _load_cichy92_fmri(region: str | None = None, *, download: bool | None = None):
    from .cichy92 import REGIONS, load_cichy92

    regions = list(REGIONS) if region is None else [_choice("cichy92_fmri", "region", region)]
    paths = files("cichy92_fmri", include=[REGIONS[r] for r in regions], download=download)
    images = _load_kriegeskorte92("images", download=download)  # same 92 images, same order
    return _validated(load_cichy92(paths, regions, images), "rdm")


# --------------------------------------------------------------------------- muse_n170

_MUSE_RE = re.compile(r"^subject(\d+)/session(\d+)/([^/]+\.csv(?:\.csv)?)$")


def muse_runs() -> list[dict[str, Any]]:
    """The CSV runs of ``muse_n170`` from its card: subject, session, run, path, sha256.

    Runs are numbered 1.. within each subject/session in file-name (time) order.
    """
    card = get_card("muse_n170")
    rows = []
    for entry in card.files:
        m = _MUSE_RE.match(entry.path)
        if m:
            rows.append({"subject": int(m.group(1)), "session": int(m.group(2)), "path": entry.path,
                         "sha256": entry.sha256, "size": entry.size})
    rows.sort(key=lambda r: (r["subject"], r["session"], r["path"]))
    counter: dict[tuple[int, int], int] = {}
    for row in rows:
        key = (row["subject"], row["session"])
        counter[key] = counter.get(key, 0) + 1
        row["run"] = counter[key]
    return rows


def _load_muse_n170(
    subject: int | list[int] | None = None,
    session: int | list[int] | None = None,
    *,
    sfreq: float = 256.0,
    download: bool | None = None,
) -> list:
    runs = muse_runs()
    available = sorted({(r["subject"], r["session"]) for r in runs})
    subjects = sorted({s for s, _ in available})
    sessions = sorted({s for _, s in available})
    listing = ", ".join(f"subject {s} session {t}" for s, t in available)
    want_subj = None if subject is None else set(_int_list(subject, "subject", subjects, listing))
    want_sess = None if session is None else set(_int_list(session, "session", sessions, listing))
    chosen = [
        r for r in runs
        if (want_subj is None or r["subject"] in want_subj) and (want_sess is None or r["session"] in want_sess)
    ]
    if not chosen:
        raise BadInputError(
            f"load('muse_n170', subject={subject!r}, session={session!r}) matches no run. Available: {listing}."
        )

    # byte-identical runs (same sha256 on the card, verified on disk below) are kept once
    kept: list[dict[str, Any]] = []
    first_by_hash: dict[str, dict[str, Any]] = {}
    for row in chosen:
        first = first_by_hash.get(row["sha256"])
        if first is None:
            row["duplicates"] = []
            first_by_hash[row["sha256"]] = row
            kept.append(row)
        else:
            first["duplicates"].append(row["path"])
    for row in kept:
        for dup in row["duplicates"]:
            log.warning(
                "muse_n170: %s is byte-identical to %s (sha256 %s...); loading it once, as subject %d "
                "session %d run %d.", dup, row["path"], row["sha256"][:12], row["subject"], row["session"], row["run"],
            )

    paths = files("muse_n170", include=[r["path"] for r in chosen], download=download)
    from ..loaders.eeg import read_muse_csv

    out = []
    for row in kept:
        rec = read_muse_csv(
            paths[row["path"]], sfreq=sfreq, subject=str(row["subject"]), session=str(row["session"]), run=row["run"]
        )
        rec.attrs["dataset"] = "muse_n170"
        rec.attrs["file"] = row["path"]
        rec.attrs["duplicates"] = list(row["duplicates"])
        sha = rec.attrs.get("sha256")
        if sha is not None and sha != row["sha256"]:
            raise DatasetError(
                f"muse_n170: {row['path']} changed while loading (sha256 {sha} != {row['sha256']}); retry."
            )
        out.append(_validated(rec, "recording"))
    return out


# --------------------------------------------------------------------------- eeglab_sample


def _load_eeglab_sample(kind: str = "continuous", *, download: bool | None = None):
    kind = _choice("eeglab_sample", "kind", kind)
    stem = "eeglab_data" if kind == "continuous" else "eeglab_data_epochs_ica"
    paths = files("eeglab_sample", include=[f"{stem}.set", f"{stem}.fdt", "eeglab_chan32.locs"], download=download)
    from ..loaders.eeg import read_eeg

    obj = read_eeg(paths[f"{stem}.set"])
    obj.attrs["dataset"] = "eeglab_sample"
    return _validated(obj, "recording" if kind == "continuous" else "epochs")


# --------------------------------------------------------------------------- haxby2001

_HAXBY_MASKS = ("brain", "gray", "hoc", "vt", "white")


def _load_haxby2001(
    run: int | list[int] | None = None,
    resolution: str = "1slice",
    mask: Any = None,
    *,
    confounds: bool = False,
    download: bool | None = None,
):
    resolution = _choice("haxby2001", "resolution", resolution)
    runs = list(range(1, 13)) if run is None else _int_list(run, "run", range(1, 13))
    if isinstance(mask, str) and mask in _HAXBY_MASKS:
        if resolution != "25mm":
            raise BadInputError(
                f"load('haxby2001'): mask={mask!r} is a 25 mm mask and does not fit the 1-slice images; "
                "use resolution='25mm', or mask=None / 'epi' with the 1-slice data."
            )
        mask_rel = f"sub001/masks/25mm/{mask}.nii.gz"
    else:
        mask_rel = None
    include = []
    for r in runs:
        base = f"sub001/BOLD/task001_run{r:03d}"
        include += [f"{base}/bold_{resolution}.nii.gz", f"{base}/bold_events.tsv"]
        if confounds:
            include.append(f"{base}/bold_moest.txt")
    if mask_rel:
        include.append(mask_rel)
    paths = files("haxby2001", include=include, download=download)
    from ..loaders.fmri import read_bold

    mask_arg = paths[mask_rel] if mask_rel else mask
    parts = []
    for r in runs:
        base = f"sub001/BOLD/task001_run{r:03d}"
        bold = read_bold(
            paths[f"{base}/bold_{resolution}.nii.gz"],
            events=paths[f"{base}/bold_events.tsv"],
            mask=mask_arg,
            run=r,
            subject="sub001",
            confounds=paths[f"{base}/bold_moest.txt"] if confounds else None,
        )
        bold.attrs["dataset"] = "haxby2001"
        bold.attrs["resolution"] = resolution
        parts.append(bold)
    if len(parts) == 1:
        return _validated(parts[0], "bold")
    from ..preprocess.fmri import concat_runs

    return _validated(concat_runs(parts), "bold")


# --------------------------------------------------------------------------- reaching


def _reaching(name: str, fname: str, bin_size: float | None, download: bool | None):
    paths = files(name, include=[fname], download=download)
    from ..loaders.spikes import read_binned_mat

    spikes = read_binned_mat(paths[fname], bin_size=bin_size)
    spikes.attrs["dataset"] = name
    return _validated(spikes, "binned_spikes")


def _load_reaching_m1(bin_size: float | None = None, *, download: bool | None = None):
    return _reaching("reaching_m1", "m1_stevenson_2011.mat", bin_size, download)


def _load_reaching_s1(bin_size: float | None = None, *, download: bool | None = None):
    return _reaching("reaching_s1", "s1_data.mat", bin_size, download)


# --------------------------------------------------------------------------- NWB


def _nwb(name: str, fname: str, download: bool | None):
    paths = files(name, include=[fname], download=download)
    from ..loaders.spikes import read_nwb_units

    trains = read_nwb_units(paths[fname])
    trains.attrs["dataset"] = name
    return _validated(trains, "spike_trains")


def _load_nwb_mtl(*, download: bool | None = None):
    return _nwb("nwb_mtl", "sub-4_ses-4_ecephys+image.nwb", download)


def _load_nwb_phy(*, download: bool | None = None):
    return _nwb("nwb_phy", "A8604-211122.nwb", download)


# --------------------------------------------------------------------------- mne_testing

MNE_FORMATS: dict[str, tuple[str, list[str]]] = {
    "edf": ("test_edf_overlapping_annotations.edf", []),
    "edf_reduced": ("test_reduced.edf", []),
    "bdf": ("multiple_annotation_chans.bdf", []),
    "fif": ("test_elekta_3ch_raw.fif", []),
    "brainvision": ("test.vhdr", ["test.vmrk", "test.eeg"]),
}


def _load_mne_testing(format: str = "edf", *, download: bool | None = None):  # noqa: A002
    format = _choice("mne_testing", "format", format)
    main, companions = MNE_FORMATS[format]
    paths = files("mne_testing", include=[main, *companions], download=download)
    from ..loaders.eeg import read_eeg

    rec = read_eeg(paths[main])
    rec.attrs["dataset"] = "mne_testing"
    return _validated(rec, "recording")


# --------------------------------------------------------------------------- BIDS datasets

#: selection keywords of a dataset whose card has ``bids:`` (those of :func:`from_bids`)
BIDS_KEYS = ("subject", "session", "task", "run", "datatype", "derivatives", "space", "confounds")


def _bids_include(card, root: str, selection: dict[str, Any]) -> list[str]:
    """The card's files that :func:`from_bids` may read for ``selection`` (exact paths)."""
    from pathlib import PurePosixPath

    from .bids import DATATYPES, _as_list, _parse_top_level, _same, parse_bids_name

    prefix = "" if root in (".", "") else root.rstrip("/") + "/"
    out = []
    for entry in card.files:
        if entry.local_only or not entry.path.startswith(prefix):
            continue
        parts = PurePosixPath(entry.path[len(prefix):]).parts
        if parts[0] == "derivatives":
            if selection.get("derivatives") is None:
                continue
            parts = parts[2:] if len(parts) > 2 else parts
        elif parts[0] in ("sourcedata", "code"):
            continue
        parsed = parse_bids_name(parts[-1]) or _parse_top_level(parts[-1])
        entities = dict(parsed[0]) if parsed else {}
        for part in parts[:-1]:
            if part.startswith(("sub-", "ses-")):
                entities.setdefault("subject" if part.startswith("sub-") else "session", part[4:])
            elif part in DATATYPES:
                entities["datatype"] = part
        keep = True
        for key in ("subject", "session", "task", "run", "datatype"):
            want = selection.get(key)
            if want is not None and key in entities and not any(_same(key, w, entities[key]) for w in _as_list(want)):
                keep = False
        if keep:
            out.append(entry.path)
    return out


def _load_bids(name: str, *, download: bool | None = None, **selection: Any):
    """A dataset whose card says ``bids:``: its files verified (those the selection needs), then :func:`from_bids`."""
    from .bids import from_bids
    from .registry import dataset_folder

    card = get_card(name)
    root = card.bids.root
    include = _bids_include(card, root, selection)
    if not include:
        raise BadInputError(f"load({name!r}, {selection}) selects no file of the card; "
                            f"see `neurodecode datasets info {name}`.")
    files(name, include=include, download=download)
    out = from_bids(dataset_folder(name) / root, **selection)
    for obj in out if isinstance(out, list) else [out]:
        obj.attrs["dataset"] = name
    return out


# --------------------------------------------------------------------------- cowley_v4


def _load_cowley_v4(session: str = "210325", part: str = "responses", *, download: bool | None = None):
    from .cowley_v4 import load_cowley_v4, session_files

    session = _choice("cowley_v4", "session", str(session))
    part = _choice("cowley_v4", "part", part)
    paths = files("cowley_v4", include=session_files(session, part), download=download)
    out = load_cowley_v4(paths, session, part)
    return out if part == "images" else _validated(out, "responses")


# --------------------------------------------------------------------------- dispatch

# --------------------------------------------------------------------------- eegmmidb_s001


def _load_eegmmidb_s001(runs: int | list[int] = (4, 8, 12), *, download: bool | None = None):
    """One ``recording`` per run (a list when several), ``run`` attr = run number, EDF+ events T0/T1/T2."""
    allowed = get_card("eegmmidb_s001").selection["runs"]["values"]
    wanted = _int_list(list(runs) if isinstance(runs, tuple) else runs, "run", allowed)
    names = [f"S001R{r:02d}.edf" for r in wanted]
    paths = files("eegmmidb_s001", include=names, download=download)
    from ..loaders.eeg import read_eeg

    out = []
    for r, name in zip(wanted, names):
        rec = read_eeg(paths[name], subject="S001", run=r)
        rec.attrs["dataset"] = "eegmmidb_s001"
        out.append(_validated(rec, "recording"))
    return out[0] if len(out) == 1 else out


LOADERS: dict[str, Callable[..., Any]] = {
    "kriegeskorte92": _load_kriegeskorte92,
    "muse_n170": _load_muse_n170,
    "eeglab_sample": _load_eeglab_sample,
    "haxby2001": _load_haxby2001,
    "reaching_m1": _load_reaching_m1,
    "reaching_s1": _load_reaching_s1,
    "nwb_mtl": _load_nwb_mtl,
    "nwb_phy": _load_nwb_phy,
    "mne_testing": _load_mne_testing,
    "cichy92_fmri": _load_cichy92_fmri,
    "cowley_v4": _load_cowley_v4,
    "eegmmidb_s001": _load_eegmmidb_s001,
}

_EXTRA_KEYS = {"muse_n170": ("sfreq",), "haxby2001": ("confounds",)}


def load(name: str, *, download: bool | None = None, **selection: Any):
    """Load registered dataset ``name`` as data-model objects (files verified first).

    Parameters
    ----------
    name : str
        A registered dataset (:func:`list_datasets`).
    download : bool or None
        Whether missing files may be fetched (see :func:`files`).
    **selection
        Dataset-specific choices (listed on each card under ``selection``):

        * ``kriegeskorte92``: ``part`` in images, human_it, monkey_it, human_it_316vx, behaviour,
          models (default: a :class:`~neurodecode.datasets.kriegeskorte.Kriegeskorte92` with all).
        * ``muse_n170``: ``subject`` (int or list), ``session`` (int or list), ``sfreq`` (256).
          Returns a list of ``recording`` Datasets, one per run; byte-identical runs are kept
          once (logged; the kept run lists the others in ``attrs["duplicates"]``).
        * ``eeglab_sample``: ``kind`` = ``"continuous"`` (recording) or ``"epochs"``.
        * ``haxby2001``: ``run`` (1..12, int or list; default all, concatenated),
          ``resolution`` = ``"1slice"`` or ``"25mm"``, ``mask`` (a 25 mm mask name, or anything
          :func:`neurodecode.loaders.fmri.read_bold` accepts), ``confounds`` (motion estimates).
        * ``reaching_m1`` / ``reaching_s1``: ``bin_size`` in seconds (default from the file).
        * ``nwb_mtl`` / ``nwb_phy``: none; ``spike_trains`` with the NWB trial tables.
        * ``mne_testing``: ``format`` in edf, edf_reduced, bdf, fif, brainvision.
        * a dataset whose card has ``bids: {root: ...}``: the keywords of
          :func:`~neurodecode.datasets.from_bids` (``subject``, ``session``, ``task``, ``run``,
          ``datatype``, ``derivatives``, ``space``, ``confounds``); only the files of the
          selection are verified (or downloaded), and the result is what ``from_bids`` returns.
        * ``cichy92_fmri``: ``region`` = ``"EVC"`` or ``"IT"`` (default both): an ``rdm`` stack
          (15 subjects per region, 92 x 92, 1 - Pearson r), coords ``region`` and ``subject``
          (``"1"``..``"15"``) on ``rdm``; the ``stimulus`` values and category coords of
          kriegeskorte92's images (same images, same order; its files are needed too).
        * ``cowley_v4``: ``session`` in 190923, 201025, 210325 (default) and ``part`` =
          ``"responses"`` ((stimulus, neuroid) repeat-averaged V4 spike counts), ``"trials"``
          ((trial, neuroid) single repeats with ``stimulus``/``repeat`` coords; 210325 only) or
          ``"images"`` ((stimulus, y, x, rgb) uint8, 112 x 112); stimulus ids ``"<session>/imageNNNN"``.

    Raises
    ------
    DatasetError
        Unknown dataset, missing files that cannot be downloaded, checksum mismatch.
    BadInputError
        Unknown selection keyword or a selection that matches nothing (the message lists what exists).
    """
    card = get_card(name)
    loader = LOADERS.get(card.name)
    if loader is None and card.bids is not None:  # a BIDS dataset: read with from_bids
        _check_keys(name, selection, BIDS_KEYS)
        return _load_bids(name, download=download, **selection)
    if loader is None:  # a card without a loader: files only
        raise DatasetError(
            f"dataset {name!r} has a card but no loader; use neurodecode.datasets.files({name!r}) to get its paths."
        )
    _check_keys(name, selection, _EXTRA_KEYS.get(name, ()))
    return loader(download=download, **selection)

