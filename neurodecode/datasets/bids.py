"""Read BIDS datasets into data-model objects: :func:`from_bids`.

A BIDS dataset is a folder ``ROOT`` with ``dataset_description.json`` and files named by
entities, e.g. ``sub-01/ses-1/eeg/sub-01_ses-1_task-rest_run-1_eeg.edf``. :func:`from_bids`
selects recordings by subject, session, task, run and datatype and reads each one:

* EEG, MEG and iEEG through mne-bids (``BIDSPath`` + ``read_raw_bids``): channel types and bad
  channels from ``channels.tsv``, positions from ``electrodes.tsv`` + ``coordsystem.json``, the
  power-line frequency and filters from the sidecar. Events come from ``events.tsv`` itself:
  ``trial_type`` becomes ``label``, an integer ``value`` column becomes ``code``, and every
  column of the file (``trial_type``, ``value``, ``sample``, ``response_time``...) is kept as a
  per-event variable under its own name (columns called ``label``, ``code``, ``event`` or
  ``origin`` would clash with the data model's names and are kept as ``tsv_<name>``, with a
  warning and ``attrs["renamed_event_columns"]``).
* fMRI (``func/*_bold.nii[.gz]``) through :func:`neurodecode.loaders.fmri.read_bold` (nibabel):
  ``RepetitionTime`` from the sidecar, per-volume labels from ``events.tsv``, and, with
  ``derivatives=`` (e.g. an fMRIPrep folder), the preprocessed series, the brain mask and the
  confounds of the same run.

Every object carries the attrs ``subject``, ``session``, ``task``, ``run`` (``run`` as an int,
BIDS runs being indices), ``datatype``, ``bids_root``, ``bids_path`` (relative to the root),
``bids_entities`` (every entity exactly as spelled in the file name) and ``sidecar`` (the JSON
sidecar after BIDS inheritance). Bold series also have the ``run`` coord on ``time``.

Selections that match nothing raise :class:`~neurodecode.errors.BadInputError` listing what
the dataset holds, with a "did you mean".

:func:`from_bids_derivatives` reads brain RDMs (``*_rdm.*``) or responses (``*_beta.*``,
``*_responses.*``: arrays, netCDF or 4-D NIfTI inside ROI masks) from a BIDS-derivatives folder
into one stack with ``region`` and ``subject`` coords, for a layer-vs-brain comparison
(``neurodecode compare --brain FOLDER --bids-select ...``, the pipeline loader ``bids.derivatives``).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError

__all__ = ["from_bids", "from_bids_derivatives", "list_bids", "bids_files", "BidsFile", "parse_bids_name",
           "ENTITY_KEYS", "DERIVATIVE_KEYS"]

log = logging.getLogger(__name__)

#: short key in file names -> long entity name (BIDS schema 1.11 entity table)
ENTITY_KEYS: dict[str, str] = {
    "sub": "subject", "ses": "session", "sample": "sample", "task": "task", "tracksys": "tracksys",
    "acq": "acquisition", "nuc": "nucleus", "voi": "volume", "ce": "ceagent", "trc": "tracer",
    "stain": "stain", "rec": "reconstruction", "dir": "direction", "run": "run", "mod": "modality",
    "echo": "echo", "flip": "flip", "inv": "inversion", "mt": "mtransfer", "part": "part",
    "proc": "processing", "hemi": "hemisphere", "space": "space", "split": "split",
    "recording": "recording", "chunk": "chunk", "atlas": "atlas", "seg": "segmentation", "scale": "scale",
    "res": "resolution", "den": "density", "label": "label", "desc": "description", "tpl": "template",
    "cohort": "cohort",
}
_LONG_TO_SHORT = {v: k for k, v in ENTITY_KEYS.items()}

#: datatypes read through mne-bids, with their recording suffix
ELECTRO_DATATYPES = ("eeg", "meg", "ieeg")
#: raw-data extensions that mne-bids reads (``.ds`` is a CTF folder)
ELECTRO_EXTENSIONS = (".edf", ".bdf", ".vhdr", ".set", ".fif", ".con", ".sqd", ".ds", ".mefd", ".nwb", ".snirf")
BOLD_EXTENSIONS = (".nii.gz", ".nii")
DATATYPES = (*ELECTRO_DATATYPES, "func")
_SKIP_DIRS = {"derivatives", "sourcedata", "code", "stimuli", "phenotype"}
#: columns of events.tsv whose names the data model uses itself
_RESERVED_EVENT_NAMES = ("label", "code", "event", "origin")


# --------------------------------------------------------------------------- file names


def _split_name(name: str) -> tuple[str, str]:
    """``"sub-01_task-x_bold.nii.gz"`` -> (``"sub-01_task-x_bold"``, ``".nii.gz"``)."""
    for ext in (".nii.gz", ".tsv.gz", ".dtseries.nii", ".func.gii", ".surf.gii"):
        if name.endswith(ext):
            return name[: -len(ext)], ext
    stem, dot, ext = name.rpartition(".")
    return (stem, "." + ext) if dot else (name, "")


def parse_bids_name(name: str) -> tuple[dict[str, str], str, str] | None:
    """Entities, suffix and extension of a BIDS file name, or None when it is not one.

    Entities are keyed by their long names (``subject``, ``session``, ``task``, ``run``,
    ``description``...); keys without a long name in :data:`ENTITY_KEYS` keep their short form.

    Examples
    --------
    >>> parse_bids_name("sub-01_task-rest_run-2_eeg.edf")
    ({'subject': '01', 'task': 'rest', 'run': '2'}, 'eeg', '.edf')
    """
    stem, ext = _split_name(name)
    parts = stem.split("_")
    if len(parts) < 2 or not parts[0].startswith("sub-"):
        if len(parts) < 2 or "-" not in parts[0]:
            return None
    entities: dict[str, str] = {}
    for part in parts[:-1]:
        key, dash, value = part.partition("-")
        if not dash or not key or not value:
            return None
        entities[ENTITY_KEYS.get(key, key)] = value
    suffix = parts[-1]
    if "-" in suffix or not suffix:
        return None
    return entities, suffix, ext


@dataclass(frozen=True)
class BidsFile:
    """One recording of a BIDS dataset: a data file and its entities."""

    path: Path
    root: Path
    datatype: str
    suffix: str
    extension: str
    entities: dict[str, str] = field(hash=False)

    @property
    def subject(self) -> str:
        return self.entities.get("subject", "")

    @property
    def session(self) -> str | None:
        return self.entities.get("session")

    @property
    def task(self) -> str | None:
        return self.entities.get("task")

    @property
    def run(self) -> str | None:
        return self.entities.get("run")

    @property
    def relpath(self) -> str:
        return self.path.relative_to(self.root).as_posix()

    def describe(self) -> str:
        """``sub-01 ses-1 task-rest run-2 (eeg)``."""
        keys = ("subject", "session", "task", "acquisition", "run")
        text = " ".join(f"{_LONG_TO_SHORT[k]}-{self.entities[k]}" for k in keys if k in self.entities)
        return f"{text} ({self.datatype})"


def _scan(root: Path) -> list[BidsFile]:
    """Every EEG/MEG/iEEG recording and BOLD series under ``root`` (raw or derivative layout)."""
    found: list[BidsFile] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("sub-")):
        session_dirs = [d for d in sorted(sub.iterdir()) if d.is_dir() and d.name.startswith("ses-")] or [sub]
        if sub not in session_dirs and any((sub / dt).is_dir() for dt in DATATYPES):
            session_dirs = [sub, *session_dirs]
        for folder in session_dirs:
            for datatype in DATATYPES:
                dt_dir = folder / datatype
                if not dt_dir.is_dir():
                    continue
                for path in sorted(dt_dir.iterdir()):
                    parsed = parse_bids_name(path.name)
                    if parsed is None:
                        continue
                    entities, suffix, ext = parsed
                    if datatype == "func":
                        ok = suffix == "bold" and ext in BOLD_EXTENSIONS
                    else:
                        ok = suffix == datatype and ext in ELECTRO_EXTENSIONS
                        split = entities.get("split", "1")
                        if split.isdigit() and int(split) != 1:
                            ok = False  # later parts of a split FIF are read with the first
                    if ok and entities.get("subject") == sub.name[4:]:
                        found.append(BidsFile(path, root, datatype, suffix, ext, entities))
    return found


# --------------------------------------------------------------------------- selection


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple, set, range)):
        return list(value)
    return [value]


def _wanted(selection: dict[str, Any], key: str, who: str) -> list[Any] | None:
    """The values asked for ``key`` as a list; None when not asked (all); an empty list is an error."""
    want = selection.get(key)
    if want is None:
        return None
    values = _as_list(want)
    if not values:
        raise BadInputError(f"{who}: {key}={want!r} is empty; give a value or None for all.")
    return values


def _same(key: str, want: Any, have: str | None) -> bool:
    if have is None:
        return False
    if key == "run":
        if isinstance(want, (int, np.integer)) and not isinstance(want, bool):
            return have.isdigit() and int(have) == int(want)
        want = str(want)
        if want.isdigit() and have.isdigit():
            return int(want) == int(have)
        return want == have
    return str(want) == have


def _suggest(key: str, want: Any, available: Sequence[str]) -> str:
    text = str(want)
    same_number = [a for a in available if text.isdigit() and a.isdigit() and int(a) == int(text)]
    if same_number:
        return f" (did you mean {key}={same_number[0]!r}?)"
    same_letters = [a for a in available if a.lower() == text.lower()]
    if same_letters:
        return f" (did you mean {key}={same_letters[0]!r}?)"
    match = difflib.get_close_matches(text, list(available), n=1, cutoff=0.6)
    return f" (did you mean {key}={match[0]!r}?)" if match else ""


def _listing(files: Sequence[BidsFile], limit: int = 20) -> str:
    lines = [f.describe() for f in files[:limit]]
    more = f"; ... and {len(files) - limit} more" if len(files) > limit else ""
    return "; ".join(lines) + more


def _select(files: list[BidsFile], root: Path, selection: dict[str, Any]) -> list[BidsFile]:
    chosen = files
    for key in ("datatype", "subject", "session", "task", "run"):
        values = _wanted(selection, key, "from_bids")
        if values is None:
            continue
        if key == "datatype":
            bad = [v for v in values if v not in DATATYPES]
            if bad:
                raise BadInputError(
                    f"from_bids: datatype={bad[0]!r} is not read here; use one of {list(DATATYPES)}"
                    f"{_suggest(key, bad[0], DATATYPES)}."
                )
        for value in values:
            have = sorted({(f.datatype if key == "datatype" else f.entities.get(key)) or "" for f in chosen} - {""})
            if not any(_same(key, value, h) for h in have):
                everywhere = sorted({(f.datatype if key == "datatype" else f.entities.get(key)) or "" for f in files}
                                    - {""})
                earlier = {k: selection[k] for k in ("datatype", "subject", "session", "task", "run")
                           if selection.get(k) is not None and k != key}
                scope = f" with {earlier}" if earlier and have != everywhere else ""
                if not have:
                    raise BadInputError(
                        f"from_bids: no recording has a {key} entity{scope} in {root}. Available: "
                        f"{_listing(chosen)}. Pass {key}=None."
                    )
                raise BadInputError(
                    f"from_bids: no {key} {value!r}{scope} in {root}; available {key}s{scope}: {have}"
                    f"{_suggest(key, value, have)}. Recordings: {_listing(chosen)}."
                )
        chosen = [f for f in chosen
                  if any(_same(key, v, f.datatype if key == "datatype" else f.entities.get(key)) for v in values)]
    return chosen


def _check_root(root: str | os.PathLike) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise BadInputError(f"BIDS root {str(path)!r} does not exist; check the path.")
    if not path.is_dir():
        raise BadInputError(
            f"BIDS root {str(path)!r} is a file; give the dataset folder (holding dataset_description.json)."
        )
    if not (path / "dataset_description.json").is_file():
        subs = [p.name for p in path.iterdir() if p.is_dir() and p.name.startswith("sub-")]
        if not subs:
            raise BadInputError(
                f"{str(path)!r} does not look like a BIDS dataset: no dataset_description.json and no sub-<label> "
                "folders. Give the dataset's top folder."
            )
        log.warning("%s has no dataset_description.json (required by BIDS); reading it anyway.", path)
    return path.resolve()


def _derivatives_root(root: Path, derivatives: str | os.PathLike | None) -> Path | None:
    if derivatives is None:
        return None
    named = root / "derivatives" / str(derivatives)
    # a pipeline name under ROOT/derivatives wins over a same-named folder of the working directory
    candidate = named if ("/" not in str(derivatives) and named.is_dir()) else Path(derivatives).expanduser()
    if not candidate.is_dir():
        there = root / "derivatives"
        have = sorted(p.name for p in there.iterdir() if p.is_dir()) if there.is_dir() else []
        hint = _suggest("derivatives", derivatives, have) if have else ""
        raise BadInputError(
            f"from_bids: derivatives={str(derivatives)!r} is neither a folder nor a pipeline under "
            f"{there}; available: {have or 'none'}{hint}."
        )
    return candidate.resolve()


def list_bids(
    root: str | os.PathLike,
    *,
    subject: Any = None,
    session: Any = None,
    task: Any = None,
    run: Any = None,
    datatype: Any = None,
) -> list[BidsFile]:
    """The recordings of a BIDS dataset matching a selection (without reading them).

    Parameters are those of :func:`from_bids`. Returns a list of :class:`BidsFile`
    (``path``, ``datatype``, ``entities``...), sorted by path.
    """
    base = _check_root(root)
    files = _scan(base)
    if not files:
        raise BadInputError(
            f"no EEG/MEG/iEEG recording or BOLD series found under {base}; expected files like "
            "sub-<label>/[ses-<label>/]eeg/sub-<label>_task-<label>_eeg.<edf|bdf|vhdr|set|fif> or "
            "sub-<label>/[ses-<label>/]func/sub-<label>_task-<label>_bold.nii.gz."
        )
    sel = {"subject": subject, "session": session, "task": task, "run": run, "datatype": datatype}
    return _select(files, base, sel)


# --------------------------------------------------------------------------- sidecars (inheritance)


def _applicable(root: Path, data: BidsFile | Path, suffix: str, extension: str,
                entities: dict[str, str] | None = None) -> list[Path]:
    """Files ``*_<suffix><extension>`` that apply to ``data`` by the BIDS inheritance principle,
    from the top of the dataset down to the data file's folder (most specific last)."""
    if isinstance(data, BidsFile):
        folder, ents = data.path.parent, data.entities
    else:
        folder, ents = data, entities or {}
    if entities is not None:
        ents = entities
    dirs = [folder]
    while dirs[-1] != root and root in dirs[-1].parents:
        dirs.append(dirs[-1].parent)
    out = []
    for d in reversed(dirs):
        level = []
        for path in sorted(d.glob(f"*_{suffix}{extension}")):
            parsed = parse_bids_name(path.name)
            if parsed is None:
                parsed = _parse_top_level(path.name)
            if parsed is None:
                continue
            cand, suf, ext = parsed
            if suf != suffix or ext != extension:
                continue
            if all(k in ents and _same(k, v, ents[k]) for k, v in cand.items()):
                level.append((len(cand), path))
        out.extend(path for _, path in sorted(level))  # fewer entities = less specific = first
    return out


def _parse_top_level(name: str) -> tuple[dict[str, str], str, str] | None:
    """Top-level sidecars have no ``sub-`` entity: ``task-rest_bold.json``."""
    stem, ext = _split_name(name)
    parts = stem.split("_")
    entities = {}
    for part in parts[:-1]:
        key, dash, value = part.partition("-")
        if not dash:
            return None
        entities[ENTITY_KEYS.get(key, key)] = value
    return entities, parts[-1], ext


def _sidecar(bf: BidsFile) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in _applicable(bf.root, bf, bf.suffix, ".json"):
        try:
            merged.update(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as err:
            raise BadInputError(f"BIDS sidecar {str(path)!r} is not valid JSON: {err}") from err
    return merged


def _events_path(bf: BidsFile) -> Path | None:
    ents = {k: v for k, v in bf.entities.items() if k not in ("split", "space", "description")}
    found = _applicable(bf.root, bf, "events", ".tsv", ents)
    return found[-1] if found else None


# --------------------------------------------------------------------------- events.tsv


def _events_from_tsv(path: Path, duration_s: float) -> tuple[dict[str, Any], list[str]]:
    """Per-event variables of an events.tsv: onset, duration, label, code, origin and every column."""
    import pandas as pd

    from ..loaders.eeg import _label_codes

    try:
        df = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, dtype=str)
    except Exception as err:  # noqa: BLE001
        raise BadInputError(f"cannot read events file {str(path)!r} as a TSV table: {err}") from err
    if "onset" not in df.columns:
        raise BadInputError(f"events file {str(path)!r} has no 'onset' column (columns: {list(df.columns)}).")
    onset = pd.to_numeric(df["onset"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(onset).all():
        rows = np.flatnonzero(~np.isfinite(onset))[:5].tolist()
        raise BadInputError(f"events file {str(path)!r}: onset is missing or not a number at rows {rows}.")
    if "duration" in df.columns:
        duration = pd.to_numeric(df["duration"], errors="coerce").to_numpy(dtype=float)
        if np.isnan(duration).any():
            log.info("%s: %d event(s) have duration n/a; taken as 0 s.", path.name, int(np.isnan(duration).sum()))
            duration = np.nan_to_num(duration, nan=0.0)
    else:
        duration = np.zeros(onset.size)
    trial_type = df["trial_type"] if "trial_type" in df.columns else None
    value = df["value"] if "value" in df.columns else None
    if trial_type is not None and trial_type.notna().any():
        label = trial_type.fillna("n/a").astype(str).to_numpy(dtype=object)
    elif value is not None:
        label = value.fillna("n/a").astype(str).to_numpy(dtype=object)
    else:
        label = np.array(["n/a"] * onset.size, dtype=object)
    codes: list[int | None] = [None] * onset.size
    if value is not None:
        nums = pd.to_numeric(value, errors="coerce").to_numpy(dtype=float)
        integral = np.isfinite(nums) & (nums == np.round(nums))
        if integral.all():
            per_label: dict[str, set[int]] = {}
            for lab, num in zip(label, nums):
                per_label.setdefault(str(lab), set()).add(int(num))
            per_code: dict[int, set[str]] = {}
            for lab, num in zip(label, nums):
                per_code.setdefault(int(num), set()).add(str(lab))
            if all(len(s) == 1 for s in per_label.values()) and all(len(s) == 1 for s in per_code.values()):
                codes = [int(n) for n in nums]
    code = _label_codes([str(x) for x in label], codes)
    out: dict[str, Any] = {"onset": onset, "duration": duration, "label": label, "code": code,
                           "origin": np.array(["events.tsv"] * onset.size, dtype=object)}
    renamed: list[str] = []
    for col in df.columns:
        if col in ("onset", "duration"):
            continue
        name = f"tsv_{col}" if col in _RESERVED_EVENT_NAMES else str(col)
        if name != col:
            renamed.append(f"{col}->{name}")
        raw = df[col]
        nums = pd.to_numeric(raw, errors="coerce")
        if raw.notna().any() and nums[raw.notna()].notna().all():
            arr = nums.to_numpy(dtype=float)
            if np.isfinite(arr).all() and (arr == np.round(arr)).all():
                arr = arr.astype(np.int64)
            out[name] = arr
        else:
            out[name] = raw.fillna("n/a").astype(str).to_numpy(dtype=object)
    if renamed:
        warnings.warn(
            f"{path.name}: column(s) {renamed} renamed because the data model uses those names itself "
            "(see attrs['renamed_event_columns']).", UserWarning, stacklevel=3,
        )
    late = onset > duration_s + 1e-9
    if late.any():
        raise BadInputError(
            f"events file {str(path)!r}: {int(late.sum())} event(s) start after the end of the recording "
            f"({duration_s:g} s), first at {onset[late][0]:g} s; the file belongs to another run."
        )
    return out, renamed


def _with_events(rec, table: dict[str, Any], renamed: list[str]):
    """Replace the events of ``rec`` by ``table``, keeping MNE-BIDS' BAD_ACQ_SKIP stretches."""
    import pandas as pd
    import xarray as xr

    from ..datamodel import validate

    df = pd.DataFrame(table)
    if "onset" in rec and rec.sizes.get("event", 0):
        keep = np.array([str(lab).startswith("BAD_ACQ_SKIP") for lab in rec["label"].values])
        if keep.any():
            skips = pd.DataFrame({k: np.asarray(rec[k].values)[keep] for k in ("onset", "duration", "label", "code")})
            skips["origin"] = "annotation"
            df = pd.concat([df, skips], ignore_index=True)
    df = df.sort_values("onset", kind="stable").reset_index(drop=True)
    data = {}
    for col in df.columns:
        values = df[col].to_numpy()
        if values.dtype == object:
            values = np.array(["n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values],
                              dtype=object)
        data[col] = ("event", values)
    event_vars = [v for v in rec.data_vars if rec[v].dims == ("event",)]
    rec = rec.drop_vars([*event_vars, "event"], errors="ignore")
    rec = rec.merge(xr.Dataset(data, coords={"event": np.arange(len(df))}))
    if renamed:
        rec.attrs["renamed_event_columns"] = renamed
    validate(rec, "recording")
    return rec


# --------------------------------------------------------------------------- readers


def _bids_attrs(bf: BidsFile, sidecar: dict[str, Any]) -> dict[str, Any]:
    run = bf.entities.get("run")
    return {
        "subject": bf.subject,
        "session": bf.session,
        "task": bf.task,
        "run": int(run) if run is not None and run.isdigit() else run,
        "datatype": bf.datatype,
        "bids_root": str(bf.root),
        "bids_path": bf.relpath,
        "bids_entities": dict(bf.entities),
        "sidecar": sidecar,
    }


def _read_electro(bf: BidsFile, extra_params: dict[str, Any] | None):
    from .._files import sha256_file
    from .._optional import require
    from ..loaders.eeg import from_mne

    mne_bids = require("mne_bids")
    ents = bf.entities
    kwargs = {k: ents.get(k) for k in ("subject", "session", "task", "acquisition", "run", "processing",
                                       "recording", "space", "split", "description")}
    try:
        bids_path = mne_bids.BIDSPath(root=bf.root, datatype=bf.datatype, suffix=bf.suffix, extension=bf.extension,
                                      check=False, **kwargs)
    except (ValueError, TypeError) as err:
        raise BadInputError(f"cannot address {bf.relpath} with mne-bids: {err}") from err
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            raw = mne_bids.read_raw_bids(bids_path, extra_params=dict(extra_params or {}), verbose=False)
        except Exception as err:  # noqa: BLE001 - mne-bids raises many types
            raise BadInputError(
                f"mne-bids could not read {bf.relpath} in {bf.root}: {type(err).__name__}: {err}"
            ) from err
    for w in caught:
        log.info("mne-bids while reading %s: %s", bf.relpath, w.message)
    raw.load_data(verbose=False)
    # mne-bids copies the events.tsv columns into the annotations' extras; the events are read
    # from the file below, so keep only what MNE itself needs
    ann = raw.annotations
    raw.set_annotations(require("mne").Annotations(ann.onset, ann.duration, ann.description,
                                                   orig_time=ann.orig_time), verbose=False)
    sidecar = _sidecar(bf)
    attrs = _bids_attrs(bf, sidecar)
    events_path = _events_path(bf)
    # events.tsv is the BIDS record of the events; without one, trigger channels are read as in read_eeg
    rec = from_mne(raw, stim_events=False if events_path is not None else "auto", source=str(bf.path),
                   sha256=sha256_file(bf.path) if bf.path.is_file() else None,
                   format=bf.extension.lstrip("."), **{k: v for k, v in attrs.items() if k != "sidecar"})
    rec.attrs["sidecar"] = sidecar
    rec.attrs["modality"] = bf.datatype
    if events_path is not None:
        n_time = rec.sizes["time"]
        table, renamed = _events_from_tsv(events_path, n_time / float(rec.attrs["sfreq"]))
        rec = _with_events(rec, table, renamed)
        rec.attrs["events_file"] = events_path.relative_to(bf.root).as_posix()
    return rec


def _derivative_match(deriv: Path, bf: BidsFile, suffix: str, extensions: Sequence[str], desc: str | None,
                      space: str | None) -> list[Path]:
    folder = deriv / bf.path.parent.relative_to(bf.root)
    if not folder.is_dir():
        return []
    out = []
    keys = ("subject", "session", "task", "acquisition", "run", "echo")
    for path in sorted(folder.iterdir()):
        parsed = parse_bids_name(path.name)
        if parsed is None:
            continue
        ents, suf, ext = parsed
        if suf != suffix or ext not in extensions:
            continue
        if desc is not None and ents.get("description") != desc:
            continue
        if space is not None and ents.get("space") != space:
            continue
        if all(ents.get(k) == bf.entities.get(k) for k in keys if k in ents or k in bf.entities):
            out.append(path)
    return out


def _one(paths: list[Path], what: str, bf: BidsFile, space: str | None) -> Path | None:
    if not paths:
        return None
    if len(paths) > 1:
        spaces = sorted({(parse_bids_name(p.name) or ({}, "", ""))[0].get("space", "") for p in paths})
        raise BadInputError(
            f"from_bids: several {what} files fit {bf.describe()}: {[p.name for p in paths]}; "
            + (f"pick one with space= (available spaces: {spaces})." if space is None else "remove the extra ones.")
        )
    return paths[0]


_MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")


def _confounds_table(path: Path, confounds: Any):
    import pandas as pd

    df = pd.read_csv(path, sep="\t", na_values=["n/a"])
    if confounds is None or confounds is True:
        cols = [c for c in _MOTION if c in df.columns] or list(df.columns)
    else:
        cols = [confounds] if isinstance(confounds, str) else list(confounds)
        missing = [c for c in cols if c not in df.columns]
        if missing:
            hint = _suggest("confounds", missing[0], list(df.columns)).replace("confounds=", "")
            raise BadInputError(
                f"confounds {missing} are not columns of {path.name}{hint}; it has {list(df.columns)[:40]}"
                + (" ..." if len(df.columns) > 40 else "") + "."
            )
    return df[cols]


def _read_func(bf: BidsFile, deriv: Path | None, space: str | None, confounds: Any, raw_root: Path):
    from ..loaders.fmri import read_bold

    sidecar = _sidecar(bf)
    bold_path, mask_path, conf_path = bf.path, None, None
    if deriv is not None:
        preproc = _one(_derivative_match(deriv, bf, "bold", BOLD_EXTENSIONS, "preproc", space), "preprocessed BOLD",
                       bf, space)
        if preproc is not None:
            bold_path = preproc
        else:
            log.info("%s: no desc-preproc_bold in %s; reading the raw series.", bf.describe(), deriv)
        mask_path = _one(_derivative_match(deriv, bf, "mask", BOLD_EXTENSIONS, "brain", space), "brain mask", bf, space)
        if confounds is not False:
            found = _derivative_match(deriv, bf, "timeseries", (".tsv",), "confounds", None) or \
                _derivative_match(deriv, bf, "regressors", (".tsv",), "confounds", None)
            conf_path = _one(found, "confounds", bf, None)
            if conf_path is None and confounds not in (None, False):
                raise BadInputError(f"from_bids: confounds={confounds!r} asked for, but {deriv} holds no "
                                    f"desc-confounds_timeseries.tsv for {bf.describe()}.")
    elif confounds not in (None, False):
        raise BadInputError("from_bids: confounds= needs derivatives= (the fMRIPrep folder that holds them).")
    tr = sidecar.get("RepetitionTime")
    if tr is not None:
        import nibabel as nib

        zooms = nib.load(str(bold_path)).header.get_zooms()
        header_tr = float(zooms[3]) if len(zooms) == 4 else None
        if header_tr and abs(header_tr - float(tr)) > 1e-3:
            log.warning("%s: RepetitionTime %s s in the sidecar, %s s in the NIfTI header; using the sidecar "
                        "(BIDS rule).", bf.relpath, tr, header_tr)
    events_path = _events_path(bf)
    bold = read_bold(
        bold_path,
        events=events_path,
        mask=mask_path,
        tr=None if tr is None else float(tr),
        run=_bids_attrs(bf, {})["run"],
        subject=bf.subject,
        session=bf.session,
        confounds=_confounds_table(conf_path, confounds) if conf_path is not None else None,
    )
    attrs = _bids_attrs(bf, sidecar)
    attrs.pop("run")
    bold.attrs.update({k: v for k, v in attrs.items() if v is not None})
    bold.attrs["task"] = bf.task
    if events_path is not None:
        bold.attrs["events_file"] = events_path.relative_to(raw_root).as_posix()
    if deriv is not None:
        bold.attrs["derivatives"] = str(deriv)
        for key, path in (("preproc_file", bold_path if bold_path != bf.path else None),
                          ("mask_file", mask_path), ("confounds_file", conf_path)):
            if path is not None:
                bold.attrs[key] = path.relative_to(deriv).as_posix()
    return bold


def from_bids(
    root: str | os.PathLike,
    *,
    subject: str | Sequence[str] | None = None,
    session: str | Sequence[str] | None = None,
    task: str | Sequence[str] | None = None,
    run: int | str | Sequence[int | str] | None = None,
    datatype: str | Sequence[str] | None = None,
    derivatives: str | os.PathLike | None = None,
    space: str | None = None,
    confounds: Sequence[str] | str | bool | None = None,
    extra_params: dict[str, Any] | None = None,
):
    """Read the recordings of a BIDS dataset that match a selection.

    Parameters
    ----------
    root : path
        The dataset folder (holding ``dataset_description.json`` and ``sub-<label>/``).
    subject, session, task : str or list of str, optional
        Entity labels exactly as in the file names (``subject="01"``); None selects all.
    run : int, str or list, optional
        Run index; ``run=1`` matches ``run-1`` and ``run-01``.
    datatype : {"eeg", "meg", "ieeg", "func"} or list, optional
        None reads every datatype that matches.
    derivatives : str or path, optional
        fMRI: a derivatives folder (a path, or a pipeline name under ``ROOT/derivatives``, e.g.
        ``"fmriprep"``) holding, for the same run, ``desc-preproc_bold`` (read instead of the raw
        series when present), ``desc-brain_mask`` (used as the voxel mask) and
        ``desc-confounds_timeseries.tsv`` (coords ``confound_<name>`` on ``time``).
        EEG/MEG/iEEG: the recording of the same subject/session/task/run is read from the
        derivatives folder instead (e.g. ``sub-01_task-x_desc-clean_eeg.fif``; exactly one must fit).
    space : str, optional
        The ``space-`` entity of the derivative files when several spaces exist (``"MNI152NLin2009cAsym"``).
    confounds : list of str, str, bool or None
        Confound columns to keep: None (default) the six motion parameters when present
        (``trans_x``...``rot_z``), else every column; a list names them; False reads none.
    extra_params : dict, optional
        Passed to the MNE reader through ``mne_bids.read_raw_bids``.

    Returns
    -------
    xarray object or list of them
        One ``recording`` (EEG/MEG/iEEG) or ``bold`` (fMRI) per matching file; a list when
        several match, sorted by path. Attrs ``subject``, ``session``, ``task``, ``run``,
        ``datatype``, ``bids_root``, ``bids_path``, ``bids_entities``, ``sidecar``.

    Raises
    ------
    BadInputError
        Missing root, a selection that matches nothing (the message lists the subjects, tasks,
        runs... that exist, with a "did you mean"), unreadable files, events outside the recording.

    Examples
    --------
    >>> from neurodecode.datasets import from_bids
    >>> runs = from_bids("ds/", subject="001", task="imagery", datatype="eeg")   # doctest: +SKIP
    >>> [r.attrs["run"] for r in runs]                                           # doctest: +SKIP
    [4, 8]
    """
    base = _check_root(root)
    chosen = list_bids(base, subject=subject, session=session, task=task, run=run, datatype=datatype)
    deriv = _derivatives_root(base, derivatives)
    if deriv is not None and any(f.datatype != "func" for f in chosen):
        electro_deriv = {f.relpath: f for f in _scan(deriv)} if any(
            p.name.startswith("sub-") for p in deriv.iterdir()) else {}
        swapped = []
        for f in chosen:
            if f.datatype == "func":
                swapped.append(f)
                continue
            cands = [d for d in electro_deriv.values() if d.datatype == f.datatype
                     and all(d.entities.get(k) == f.entities.get(k) for k in ("subject", "session", "task", "run"))]
            if not cands:
                raise BadInputError(
                    f"from_bids: derivatives {deriv} hold no {f.datatype} recording for {f.describe()}; "
                    f"they hold: {_listing(list(electro_deriv.values())) or 'none'}."
                )
            if len(cands) > 1:
                raise BadInputError(
                    f"from_bids: several derivative recordings fit {f.describe()}: {[c.relpath for c in cands]}."
                )
            swapped.append(cands[0])
        chosen = swapped
    out = []
    for bf in chosen:
        log.info("from_bids: reading %s", bf.relpath)
        if bf.datatype == "func":
            out.append(_read_func(bf, deriv, space, confounds, base))
        else:
            out.append(_read_electro(bf, extra_params))
    return out[0] if len(out) == 1 else out


def bids_files(
    root: str | os.PathLike,
    *,
    subject: Any = None,
    session: Any = None,
    task: Any = None,
    run: Any = None,
    datatype: Any = None,
    derivatives: str | os.PathLike | None = None,
) -> list[Path]:
    """Every file that :func:`from_bids` reads for a selection: data files, their companions
    (``.fdt``, ``.eeg``/``.vmrk``), sidecars, channels, electrodes, events and, with
    ``derivatives``, the derivative files of the same runs. Used to fingerprint pipeline inputs.
    """
    base = _check_root(root)
    chosen = list_bids(base, subject=subject, session=session, task=task, run=run, datatype=datatype)
    out: set[Path] = {base / "dataset_description.json"} if (base / "dataset_description.json").is_file() else set()
    deriv = _derivatives_root(base, derivatives)
    for bf in chosen:
        stem = _split_name(bf.path.name)[0]
        prefix = stem[: -len(bf.suffix)]  # "sub-01_task-x_run-1_"
        for path in bf.path.parent.iterdir():
            if path.is_file() and (path.name.startswith(prefix) or path.name.startswith(f"sub-{bf.subject}_space-")
                                   or path.name.startswith(f"sub-{bf.subject}_ses-{bf.session}_space-")):
                out.add(path)
        if bf.path.is_dir():
            out.update(p for p in bf.path.rglob("*") if p.is_file())
        for suffix, ext in ((bf.suffix, ".json"), ("events", ".tsv"), ("events", ".json"), ("channels", ".tsv")):
            out.update(_applicable(base, bf, suffix, ext))
        if deriv is not None:
            folder = deriv / bf.path.parent.relative_to(base)
            if folder.is_dir():
                run_prefix = "_".join(f"{_LONG_TO_SHORT[k]}-{bf.entities[k]}" for k in
                                      ("subject", "session", "task", "acquisition", "run") if k in bf.entities)
                out.update(p for p in folder.iterdir() if p.is_file() and p.name.startswith(run_prefix))
    return sorted(out)



# --------------------------------------------------------------------------- derivatives: RDMs and responses

#: the suffix of RDM files in a derivatives folder (what ``outputs.bids_derivatives`` writes for ``rdm`` results)
RDM_SUFFIX = "rdm"
#: suffixes taken for responses (one row per stimulus) when ``suffix`` is not given
RESPONSE_SUFFIXES = ("responses", "beta", "betas")
_RDM_EXTENSIONS = (".npy", ".npz", ".mat", ".nc", ".zarr", ".h5", ".hdf5", ".tsv")
_RESPONSE_EXTENSIONS = (".nc", ".zarr", ".npy", ".tsv", ".nii.gz", ".nii")
#: selection keywords of :func:`from_bids_derivatives` (entity long names; ``roi`` is not a BIDS entity
#: but common in RSA derivatives and read as the region)
DERIVATIVE_KEYS = ("subject", "session", "task", "run", "description", "roi", "space", "acquisition")
#: sidecar key holding the stimulus id of each row (bare arrays)
STIMULUS_IDS_KEY = "StimulusIDs"
_ID_COLUMNS = ("stimulus_id", "stimulus", "condition", "trial_type")


@dataclass(frozen=True)
class _DerivFile:
    path: Path
    rel: str
    entities: dict[str, str] = field(hash=False)
    suffix: str
    extension: str


def _scan_derivatives(root: Path) -> list[_DerivFile]:
    """Every file named by BIDS entities under ``root`` (also top-level files without ``sub-``)."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or rel.parts[0] in ("sourcedata", "code"):
            continue
        if path.is_dir() and path.suffix != ".zarr":
            continue
        if any(p.suffix == ".zarr" for p in rel.parents if p != Path(".")):
            continue  # inside a zarr store
        parsed = parse_bids_name(path.name) or _parse_top_level(path.name)
        if parsed is None:
            continue
        entities, suffix, ext = parsed
        out.append(_DerivFile(path, rel.as_posix(), entities, suffix, ext))
    return out


def _select_derivatives(files: list[_DerivFile], root: Path, selection: dict[str, Any], what: str) -> list[_DerivFile]:
    chosen = files
    for key in DERIVATIVE_KEYS:
        values = _wanted(selection, key, "from_bids_derivatives")
        if values is None:
            continue
        have = sorted({f.entities[key] for f in chosen if key in f.entities})
        for value in values:
            if not any(_same(key, value, h) for h in have):
                short = _LONG_TO_SHORT.get(key, key)
                if not have:
                    raise BadInputError(
                        f"from_bids_derivatives: no {what} file of {root} has a {short}- entity; drop {key}=. "
                        f"Files: {[f.rel for f in chosen[:10]]}."
                    )
                raise BadInputError(
                    f"from_bids_derivatives: no {what} file with {short}-{value} in {root}; available {key}s: "
                    f"{have}{_suggest(key, value, have)}."
                )
        chosen = [f for f in chosen if any(_same(key, v, f.entities.get(key)) for v in values)]
    return chosen


def _deriv_sidecar(root: Path, f: _DerivFile) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in _applicable(root, f.path.parent, f.suffix, ".json", f.entities):
        try:
            merged.update(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as err:
            raise BadInputError(f"BIDS sidecar {str(path)!r} is not valid JSON: {err}") from err
    return merged


def _ids_from_table(path: Path) -> list[str]:
    import pandas as pd

    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except Exception as err:  # noqa: BLE001
        raise BadInputError(f"cannot read the stimulus list {str(path)!r} as a TSV table: {err}") from err
    col = next((c for c in _ID_COLUMNS if c in df.columns), None)
    if col is None:
        raise BadInputError(
            f"stimulus list {str(path)!r} has columns {list(df.columns)}; name the column of stimulus ids one of "
            f"{list(_ID_COLUMNS)} (one row per matrix row, in row order)."
        )
    return df[col].tolist()


def _stimulus_ids_for(root: Path, f: _DerivFile, side: dict[str, Any], given: Any):
    """Stimulus ids of a bare array: ``given``, the sidecar's ``StimulusIDs``, or an applicable ``*_stimuli.tsv``."""
    from ..loaders.rdms import read_stimulus_ids

    if given is not None:
        return read_stimulus_ids(given), "stimulus_ids="
    if STIMULUS_IDS_KEY in side:
        ids = side[STIMULUS_IDS_KEY]
        if not isinstance(ids, list):
            raise BadInputError(f"{f.rel}: the sidecar's {STIMULUS_IDS_KEY} must be a list of ids, got "
                                f"{type(ids).__name__}.")
        return read_stimulus_ids(ids), f"the sidecar's {STIMULUS_IDS_KEY}"
    tables = [p for p in _applicable(root, f.path.parent, "stimuli", ".tsv", f.entities)]
    if not tables and (root / "stimuli.tsv").is_file():
        tables = [root / "stimuli.tsv"]
    if tables:
        return read_stimulus_ids(_ids_from_table(tables[-1])), tables[-1].relative_to(root).as_posix()
    return None, None


def _tsv_matrix(path: Path) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
    """A numeric TSV: values, column names (header row, if any) and row names (first column, if any)."""
    import pandas as pd

    try:
        raw = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False)
    except Exception as err:  # noqa: BLE001
        raise BadInputError(f"cannot read {str(path)!r} as a TSV table: {err}") from err

    def numeric(cells: Sequence[str]) -> bool:
        return bool(len(cells)) and pd.to_numeric(pd.Series(list(cells)), errors="coerce").notna().all()

    header = None
    if not numeric(raw.iloc[0].tolist()):
        header = [str(c).strip() for c in raw.iloc[0].tolist()]
        raw = raw.iloc[1:]
    rows = None
    if len(raw) and not numeric(raw.iloc[:, 0].tolist()):
        rows = [str(c).strip() for c in raw.iloc[:, 0].tolist()]
        raw = raw.iloc[:, 1:]
        if header is not None:
            header = header[1:]
    values = raw.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if values.size == 0 or np.isnan(values).any():
        bad = np.argwhere(np.isnan(values))[:3].tolist() if values.size else []
        raise BadInputError(f"{str(path)!r}: cells that are not numbers (n/a or text) at rows/columns {bad}; "
                            "a matrix file holds numbers only, with optional stimulus ids in the header row "
                            "and first column.")
    return values, header, rows


def _tsv_rdm_part(path: Path, ids):
    from ..loaders.rdms import _Part, check_rdm_values

    values, header, rows = _tsv_matrix(path)
    labels = header if header is not None else rows
    if header is not None and rows is not None and header != rows:
        raise BadInputError(f"{str(path)!r}: the header row and the first column name different stimuli; an RDM "
                            "lists the same stimuli, in the same order, on both.")
    if values.shape[0] != values.shape[1]:
        raise BadInputError(f"{str(path)!r}: an RDM must be square, got {values.shape[0]} x {values.shape[1]}.")
    file_ids = np.array(labels, dtype=object) if labels is not None else None
    if file_ids is None:
        if ids is None:
            raise BadInputError(
                f"{str(path)!r} names no stimuli; give a header row of stimulus ids, a {STIMULUS_IDS_KEY} list in "
                "its JSON sidecar, a *_stimuli.tsv file, or stimulus_ids=."
            )
        file_ids = ids
    elif ids is not None:
        if set(file_ids.tolist()) != set(ids.tolist()):
            raise BadInputError(f"{str(path)!r}: its header names other stimuli (e.g. {list(file_ids[:3])}) than the "
                                f"stimulus ids given (e.g. {list(ids[:3])}).")
        order = [list(file_ids).index(s) for s in ids]
        values, file_ids = values[order][:, order], ids
    if len(file_ids) != values.shape[0]:
        raise BadInputError(f"{str(path)!r}: {values.shape[0]} rows but {len(file_ids)} stimulus ids.")
    mats = check_rdm_values(values[None].astype(np.float64), repr(str(path)), None, file_ids)
    return _Part(path, mats, np.asarray(file_ids, dtype=object))


def _region_subject(f: _DerivFile, k: int, file_region, file_subject, what: str) -> tuple[list[str], list[str]]:
    """Region: ``roi-`` entity, else the file's own labels, else ``desc-``; subject: ``sub-``, else the file's."""
    ents = f.entities
    if "roi" in ents:
        region = [ents["roi"]] * k
    elif file_region is not None:
        region = [str(v) for v in np.asarray(file_region).tolist()]
    elif "description" in ents:
        region = [ents["description"]] * k
    else:
        raise BadInputError(
            f"{f.rel}: cannot tell which region these {what} belong to; name the file with desc-<region> "
            "(e.g. sub-01_desc-IT_rdm.npy) or roi-<region>."
        )
    if "subject" in ents:
        if file_subject is not None and k > 1 and len({str(v) for v in np.asarray(file_subject).tolist()}) > 1:
            raise BadInputError(f"{f.rel}: the file holds several subjects {sorted(set(map(str, file_subject)))} but "
                                f"its name says sub-{ents['subject']}; split it into one file per subject.")
        subject = [ents["subject"]] * k
    elif file_subject is not None:
        subject = [str(v) for v in np.asarray(file_subject).tolist()]
    else:
        subject = [str(i + 1) for i in range(k)]
        log.info("from_bids_derivatives: %s has no sub- entity; its %d item(s) are subjects 1..%d.", f.rel, k, k)
    return region, subject


def _common_order(parts: list[tuple[_DerivFile, np.ndarray]]) -> np.ndarray:
    first_f, first = parts[0]
    for f, ids in parts[1:]:
        if set(ids.tolist()) != set(first.tolist()):
            only_a = [i for i in first if i not in set(ids.tolist())][:3]
            only_b = [i for i in ids if i not in set(first.tolist())][:3]
            raise BadInputError(
                f"from_bids_derivatives: {first_f.rel} and {f.rel} cover different stimuli "
                f"({len(first)} vs {len(ids)}; "
                f"only in the first e.g. {only_a}, only in the second e.g. {only_b}); select files over the same "
                "stimuli (subject=, description=...)."
            )
    return first


def _extra_coords(chosen: list[_DerivFile], sizes: list[int]) -> dict[str, tuple[str, np.ndarray]]:
    out = {}
    for key in ("session", "task", "run", "space", "acquisition"):
        if any(key in f.entities for f in chosen):
            out[key] = np.concatenate([np.full(k, f.entities.get(key, ""), dtype=object)
                                       for f, k in zip(chosen, sizes)])
    return out


def _rdm_stack(root: Path, chosen: list[_DerivFile], stimulus_ids: Any, method: str | None):
    import xarray as xr

    from ..datamodel import validate
    from ..loaders.rdms import _read_file

    parts, regions, subjects, methods = [], [], [], []
    for f in chosen:
        side = _deriv_sidecar(root, f)
        ids, _ = _stimulus_ids_for(root, f, side, stimulus_ids)
        if ids is None and f.extension in (".npy", ".npz", ".mat"):
            raise BadInputError(
                f"{f.rel} holds bare matrices without stimulus ids; give a {STIMULUS_IDS_KEY} list in its JSON "
                "sidecar, a stimuli.tsv (column stimulus_id, one row per matrix row) at the top of the folder or a "
                "*_stimuli.tsv beside the file, or stimulus_ids= (--stimulus-ids)."
            )
        part = _tsv_rdm_part(f.path, ids) if f.extension == ".tsv" else _read_file(f.path, ids, None)
        recorded = side.get("Method", side.get("DissimilarityMeasure"))
        if part.method and recorded and str(recorded) != part.method:
            raise BadInputError(f"{f.rel}: the file records method {part.method!r}, its sidecar {recorded!r}.")
        methods.append(part.method or (str(recorded) if recorded else None))
        k = part.mats.shape[0]
        reg, sub = _region_subject(f, k, part.coords.get("region"), part.coords.get("subject"), "RDMs")
        parts.append(part)
        regions += reg
        subjects += sub
    order = _common_order([(f, p.ids) for f, p in zip(chosen, parts)])
    mats = []
    for p in parts:
        idx = [list(p.ids).index(s) for s in order] if not np.array_equal(p.ids, order) else slice(None)
        mats.append(p.mats[:, idx][:, :, idx] if not isinstance(idx, slice) else p.mats)
    known = {m for m in methods if m not in (None, "unknown")}
    if method is not None and known and known != {method}:
        raise BadInputError(f"method={method!r} but the files record {sorted(known)}; drop method=.")
    if len(known) > 1:
        raise BadInputError(f"the selected RDM files use different methods {sorted(known)}; select one kind "
                            "(description=...).")
    sizes = [m.shape[0] for m in mats]
    extra = _extra_coords(chosen, sizes)
    labels = ["/".join([r, s, *[str(extra[k][i]) for k in extra if extra[k][i] != ""]])
              for i, (r, s) in enumerate(zip(regions, subjects))]
    pairs = list(zip(regions, subjects))
    dup = sorted({p for p in pairs if pairs.count(p) > 1})
    if dup:
        files_of = [f.rel for f, k in zip(chosen, sizes) for _ in range(k)]
        which = [files_of[i] for i, p in enumerate(pairs) if p == dup[0]]
        raise BadInputError(
            f"from_bids_derivatives: region {dup[0][0]!r} of subject {dup[0][1]!r} has several RDMs ({which}); "
            "the comparison takes one RDM per subject and region: select one (session=, run=, task=) or average them."
        )
    files_coord = np.concatenate([np.full(k, f.rel, dtype=object) for f, k in zip(chosen, sizes)])
    coords: dict[str, Any] = {
        "rdm": np.array(labels, dtype=object), "stimulus": np.asarray(order, dtype=object),
        "stimulus_": np.asarray(order, dtype=object), "region": ("rdm", np.array(regions, dtype=object)),
        "subject": ("rdm", np.array(subjects, dtype=object)), "file": ("rdm", files_coord),
        **{k: ("rdm", v) for k, v in extra.items()},
    }
    da = xr.DataArray(np.concatenate(mats), dims=("rdm", "stimulus", "stimulus_"), coords=coords, name="rdm")
    da.attrs.update({"nd_kind": "rdm", "method": method or (known.pop() if known else "unknown"),
                     "bids_root": str(root), "source": str(root)})
    validate(da, "rdm")
    return da


def _mask_label(m: _DerivFile) -> str | None:
    return m.entities.get("roi") or m.entities.get("label") or m.entities.get("description")


def _nifti_masks(f: _DerivFile, masks: list[_DerivFile]) -> list[tuple[str, _DerivFile]]:
    """The (region, mask file) pairs that apply to a NIfTI beta file.

    Masks (``*_mask.nii[.gz]``) apply when their ``sub``/``ses``/``space`` are the beta's or absent.
    A beta naming its region (``roi-``, else ``desc-``) takes the mask of that label (or none: all
    voxels); a beta whose ``desc-`` names no mask takes every applicable mask, one region each.
    """
    fit = [m for m in masks
           if all(m.entities.get(k) in (None, f.entities.get(k)) for k in ("subject", "session", "space"))]
    own = f.entities.get("roi") or f.entities.get("description")
    named = [m for m in fit if _mask_label(m) == own] if own is not None else []
    if "roi" in f.entities or named:
        if len(named) > 1:
            raise BadInputError(f"{f.rel}: several masks fit region {own!r}: {[m.rel for m in named]}; keep one "
                                "(the most specific: same sub-, ses-, space-).")
        return [(own, named[0])] if named else []
    out = [(_mask_label(m), m) for m in fit if _mask_label(m) is not None]
    labels = [lab for lab, _ in out]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise BadInputError(f"{f.rel}: several masks are labelled {dup[0]!r}: "
                            f"{[m.rel for lab, m in out if lab == dup[0]]}; name each region once.")
    return out


def _nifti_responses(root: Path, f: _DerivFile, ids, masks: list[_DerivFile]):
    """(stimulus, voxel) values and region labels of a 4-D beta image, one volume per stimulus."""
    import nibabel as nib

    try:
        img = nib.load(str(f.path))
        data = np.asarray(img.dataobj, dtype=np.float64)
    except Exception as err:  # noqa: BLE001 - nibabel raises many types on bad files
        raise BadInputError(f"cannot read {f.rel} as NIfTI: {type(err).__name__}: {err}") from err
    if data.ndim == 3:
        data = data[..., None]
    if data.ndim != 4 or data.shape[3] != len(ids):
        raise BadInputError(f"{f.rel}: a beta image holds one volume per stimulus ({len(ids)} ids); got shape "
                            f"{data.shape}.")
    flat = data.reshape(-1, data.shape[3]).T  # (stimulus, voxel)
    pairs = _nifti_masks(f, masks)
    if not pairs:
        own = _region_subject(f, 1, None, None, "betas")[0][0]
        keep = np.isfinite(flat).all(axis=0) & (flat != 0).any(axis=0)
        log.info("from_bids_derivatives: %s: no mask for region %r; using its %d voxels that are finite and not "
                 "always 0.", f.rel, own, int(keep.sum()))
        return flat[:, keep], [own] * int(keep.sum())
    blocks, regions = [], []
    for label, m in pairs:
        mimg = nib.load(str(m.path))
        if mimg.shape[:3] != data.shape[:3] or not np.allclose(mimg.affine, img.affine, atol=1e-4):
            raise BadInputError(f"mask {m.rel} ({mimg.shape[:3]}) is not on the grid of {f.rel} "
                                f"({data.shape[:3]}); resample one onto the other first.")
        inside = np.asarray(mimg.dataobj).reshape(-1) != 0
        if inside.sum() < 2:
            raise BadInputError(f"mask {m.rel} holds {int(inside.sum())} voxel(s); a region needs at least 2.")
        blocks.append(flat[:, inside])
        regions += [label] * int(inside.sum())
    return np.concatenate(blocks, axis=1), regions


def _responses_part(root: Path, f: _DerivFile, stimulus_ids: Any, masks: list[_DerivFile] | None = None):
    """(stimulus, neuroid) values, stimulus ids, region and subject labels of one responses file."""
    import xarray as xr

    side = _deriv_sidecar(root, f)
    file_region = file_subject = nifti_regions = None
    if f.extension in (".nc", ".zarr"):
        from .. import io

        obj = io.open(f.path, chunks=None)
        if isinstance(obj, xr.Dataset):
            if len(obj.data_vars) != 1:
                raise BadInputError(f"{f.rel} holds variables {list(obj.data_vars)}; one array of responses per file.")
            obj = obj[next(iter(obj.data_vars))]
        obs = "stimulus" if "stimulus" in obj.dims else "trial"
        if "neuroid" not in obj.dims or obs not in obj.dims or obj.ndim != 2:
            raise BadInputError(f"{f.rel}: responses need dims (stimulus or trial, neuroid); got {tuple(obj.dims)}.")
        if "stimulus" not in obj.coords:
            raise BadInputError(f"{f.rel}: no 'stimulus' coord naming the stimulus of each row.")
        obj = obj.assign_coords(stimulus=(obs, [str(s) for s in obj["stimulus"].values]))
        if obs == "trial":
            obj = obj.groupby("stimulus").mean("trial")
        obj = obj.transpose("stimulus", "neuroid")
        if stimulus_ids is not None:
            log.info("from_bids_derivatives: %s names its stimuli; stimulus_ids= not used for it.", f.rel)
        file_region = obj["region"].values if "region" in obj.coords else None
        file_subject = obj["subject"].values if "subject" in obj.coords else None
        values, ids = np.asarray(obj.values, dtype=np.float64), np.asarray(obj["stimulus"].values, dtype=object)
    else:
        ids, _ = _stimulus_ids_for(root, f, side, stimulus_ids)
        nifti_regions = None
        if f.extension in (".nii", ".nii.gz"):
            if ids is None:
                raise BadInputError(
                    f"{f.rel}: which stimulus is each volume? Give a {STIMULUS_IDS_KEY} list in its JSON sidecar, a "
                    "*_stimuli.tsv file (column stimulus_id, one row per volume), or stimulus_ids=."
                )
            values, nifti_regions = _nifti_responses(root, f, ids, masks or [])
            file_ids = None
        elif f.extension == ".npy":
            values = np.load(f.path, allow_pickle=False)
            file_ids = None
        else:
            values, _header, file_ids = _tsv_matrix(f.path)
        if file_ids is not None:
            ids = np.asarray(file_ids, dtype=object)
        if ids is None:
            raise BadInputError(
                f"{f.rel} holds a bare array without stimulus ids; give a {STIMULUS_IDS_KEY} list in its JSON "
                "sidecar, a *_stimuli.tsv file (column stimulus_id), or stimulus_ids=."
            )
        if values.ndim != 2 or values.shape[0] != len(ids):
            raise BadInputError(f"{f.rel}: responses must be (stimulus, feature) with one row per stimulus id "
                                f"({len(ids)}); got shape {values.shape}.")
        values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise BadInputError(f"{f.rel} holds NaN/inf values; drop those features first.")
    n = values.shape[1]
    if f.extension in (".nii", ".nii.gz"):
        region = list(nifti_regions)
    elif file_region is not None and "roi" not in f.entities:
        region = [str(v) for v in np.asarray(file_region).tolist()]
    else:
        region = _region_subject(f, 1, None, None, "responses")[0] * n
    if "subject" in f.entities:
        subject = [f.entities["subject"]] * n
    elif file_subject is not None:
        subject = [str(v) for v in np.asarray(file_subject).tolist()]
    else:
        subject = ["1"] * n
    return values, np.asarray(ids, dtype=object), region, subject


def _responses_stack(root: Path, chosen: list[_DerivFile], stimulus_ids: Any, masks: list[_DerivFile]):
    import xarray as xr

    from ..datamodel import validate

    parts = [_responses_part(root, f, stimulus_ids, masks) for f in chosen]
    order = _common_order([(f, p[1]) for f, p in zip(chosen, parts)])
    blocks, regions, subjects = [], [], []
    for values, ids, region, subject in parts:
        idx = [list(ids).index(s) for s in order]
        blocks.append(values[idx])
        regions += region
        subjects += subject
    pairs = {}
    for f, (_, _, region, subject) in zip(chosen, parts):
        for pair in set(zip(region, subject)):
            if pair in pairs:
                raise BadInputError(f"from_bids_derivatives: region {pair[0]!r} of subject {pair[1]!r} is in both "
                                    f"{pairs[pair]} and {f.rel}; select one (session=, run=, task=).")
            pairs[pair] = f.rel
    sizes = [b.shape[1] for b in blocks]
    extra = _extra_coords(chosen, sizes)
    neuroid = np.concatenate([[f"{f.rel}:{i}" for i in range(k)] for f, k in zip(chosen, sizes)])
    coords = {"stimulus": np.asarray(order, dtype=object), "neuroid": neuroid.astype(object),
              "region": ("neuroid", np.array(regions, dtype=object)),
              "subject": ("neuroid", np.array(subjects, dtype=object)),
              "file": ("neuroid", np.concatenate([np.full(k, f.rel, dtype=object) for f, k in zip(chosen, sizes)])),
              **{k: ("neuroid", v) for k, v in extra.items()}}
    da = xr.DataArray(np.concatenate(blocks, axis=1), dims=("stimulus", "neuroid"), coords=coords, name="responses")
    da.attrs.update({"nd_kind": "responses", "bids_root": str(root), "source": str(root)})
    validate(da, "responses")
    return da


def from_bids_derivatives(
    root: str | os.PathLike,
    *,
    suffix: str | None = None,
    subject: str | Sequence[str] | None = None,
    session: str | Sequence[str] | None = None,
    task: str | Sequence[str] | None = None,
    run: int | str | Sequence[int | str] | None = None,
    description: str | Sequence[str] | None = None,
    roi: str | Sequence[str] | None = None,
    space: str | Sequence[str] | None = None,
    acquisition: str | Sequence[str] | None = None,
    stimulus_ids: str | os.PathLike | Sequence[str] | None = None,
    method: str | None = None,
):
    """Brain RDMs or responses from a BIDS-derivatives folder, as one stack for a layer-vs-brain comparison.

    The folder holds one file per subject and region (or files holding several, such as those
    ``outputs.bids_derivatives`` writes), named by BIDS entities::

        derivatives/rsa/
          dataset_description.json
          stimuli.tsv                          # column stimulus_id: the row order of bare arrays
          sub-01/sub-01_desc-IT_rdm.npy        # + sub-01_desc-IT_rdm.json (Method, StimulusIDs...)
          sub-01/sub-01_desc-EVC_rdm.tsv       # header row: stimulus ids
          sub-02/...

    Parameters
    ----------
    root : path
        The derivatives dataset folder (it should hold ``dataset_description.json``).
    suffix : str, optional
        ``"rdm"`` reads RDMs (``.npy``/``.npz``/``.mat``/``.tsv`` matrices, ``.nc``/``.zarr`` stacks,
        rsatoolbox ``.hdf5``); any other suffix (``"responses"``, ``"beta"``...) reads responses:
        (stimulus, feature) ``.npy``/``.tsv`` arrays, ``.nc``/``.zarr`` responses (stimulus or
        trial x neuroid; trials of one stimulus are averaged), or 4-D NIfTI beta images, one
        volume per stimulus, whose voxels are taken inside the ``*_mask.nii[.gz]`` files of the
        same ``sub``/``ses``/``space`` (or none of them): the mask labelled like the beta's
        ``roi-``/``desc-``, else every such mask, one region each (its ``roi-``, ``label-`` or
        ``desc-``); without a mask, the voxels that are finite and not always 0. Default:
        ``"rdm"`` when the folder holds RDM files, else the one of ``responses``/``beta``/``betas``
        present.
    subject, session, task, run, description, roi, space, acquisition : str or list, optional
        Entity values to keep (``subject="01"`` keeps ``sub-01_...``); None keeps all.
    stimulus_ids : path or list of str, optional
        The stimulus of each row of bare arrays, when neither the sidecar (``StimulusIDs``) nor a
        ``*_stimuli.tsv`` file applying to it (BIDS inheritance; ``stimuli.tsv`` at the top) says.
    method : str, optional
        How the RDMs were computed, when neither the files nor their sidecars (``Method``) say.

    Returns
    -------
    xarray.DataArray
        ``rdm`` stack (rdm, stimulus, stimulus_) or ``responses`` (stimulus, neuroid), with
        ``region`` (the ``roi-`` entity, else the file's own ``region`` labels, else ``desc-``),
        ``subject`` (``sub-``, else the file's own labels, else 1..n), ``file`` (path relative to
        ``root``) and, when present, ``session``/``task``/``run`` coords on ``rdm`` / ``neuroid``.
        Stimuli (str ids) follow the order of the first file; every file must cover the same set.

    Raises
    ------
    BadInputError
        No such folder; no file with the suffix (the message lists the suffixes present); a
        selection that matches nothing (lists what exists, with a "did you mean"); bare arrays
        without stimulus ids; files over different stimuli; two RDMs for one subject and region.

    Examples
    --------
    >>> from neurodecode.datasets import from_bids_derivatives
    >>> rdms = from_bids_derivatives("derivatives/rsa", subject=["01", "02"], description="IT")  # doctest: +SKIP
    >>> rdms["region"].values, rdms["subject"].values                                             # doctest: +SKIP
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise BadInputError(f"BIDS derivatives folder {str(base)!r} does not exist or is not a folder.")
    base = base.resolve()
    if not (base / "dataset_description.json").is_file():
        log.warning("%s has no dataset_description.json (required by BIDS); reading it anyway.", base)
    files = _scan_derivatives(base)
    suffixes = sorted({f.suffix for f in files})
    if suffix is None:
        present = [s for s in (RDM_SUFFIX, *RESPONSE_SUFFIXES) if s in suffixes]
        if not present:
            raise BadInputError(
                f"no RDM (*_rdm.*) or response (*_responses.*, *_beta.*) files in {base}; suffixes present: "
                f"{suffixes or 'none'}. Name files like sub-01_desc-IT_rdm.npy, or pass suffix=."
            )
        if RDM_SUFFIX not in present and len(present) > 1:
            raise BadInputError(f"{base} holds {present} files; pick one with suffix=.")
        suffix = present[0]
    exts = _RDM_EXTENSIONS if suffix == RDM_SUFFIX else _RESPONSE_EXTENSIONS
    candidates = [f for f in files if f.suffix == suffix and f.extension in exts]
    if not candidates:
        other = sorted({f.extension for f in files if f.suffix == suffix})
        hint = (f"; files with that suffix have extensions {other}, read ones are {list(exts)}" if other
                else f"; suffixes present: {suffixes}{_suggest('suffix', suffix, suffixes)}")
        raise BadInputError(f"no *_{suffix} file in {base}{hint}.")
    selection = {"subject": subject, "session": session, "task": task, "run": run, "description": description,
                 "roi": roi, "space": space, "acquisition": acquisition}
    chosen = _select_derivatives(candidates, base, selection, suffix)
    log.info("from_bids_derivatives: reading %d %s file(s) from %s", len(chosen), suffix, base)
    if suffix == RDM_SUFFIX:
        return _rdm_stack(base, chosen, stimulus_ids, method)
    if method is not None:
        raise BadInputError("method= applies to RDM files (suffix='rdm'); responses are turned into RDMs later.")
    masks = [f for f in files if f.suffix == "mask" and f.extension in BOLD_EXTENSIONS]
    return _responses_stack(base, chosen, stimulus_ids, masks)
