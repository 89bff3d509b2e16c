"""Write results as a BIDS-derivatives dataset, read it back, check it: :func:`write_derivatives`,
:func:`read_derivatives`, :func:`check_derivatives`.

The folder written holds

``dataset_description.json``
    ``Name``, ``BIDSVersion``, ``DatasetType: "derivative"``, ``GeneratedBy`` (neurodecode and
    its version; the pipeline name and the sha256 of its resolved config in ``Description``),
    ``SourceDatasets`` when known, and ``NeurodecodePipeline`` (name and hash, machine-readable).
``sub-<label>/[ses-<label>/][<datatype>/]sub-<label>[_ses-][_task-][_run-]_desc-<name>_<suffix>.<ext>``
    one file per result that belongs to one subject (entities from the object's attrs
    ``subject``, ``session``, ``task``, ``run``); results pooled over subjects go to the top
    level without ``sub-``. xarray objects are netCDF (``.nc``, read back with
    :func:`neurodecode.io.open`), tables are ``.tsv`` (``n/a`` for missing values).
    The suffix says the kind: ``eeg``/``meg``/``ieeg`` (recording), ``epo`` (epochs),
    ``bold``, ``responses``, ``rdm``, ``activations``, ``spikes``, ``events``, ``stats`` (tables).
``<same name>.json``
    the sidecar of each file: what it holds (kind, dims and sizes, coords, units, sampling
    rate, source files), and, for tables, one entry per column.

BIDS labels hold only letters, digits and ``+``: other characters are dropped from entity
values and names (``sub_01`` -> ``sub01``); the sidecar's ``Entities`` keeps the original
values, so nothing is renamed silently.

:func:`check_derivatives` checks a folder against the derivative rules listed in
docs/bids.md, taking the entity table, entity order, label formats and required
``dataset_description`` fields from the BIDS schema of ``bidsschematools`` when it is
installed (a built-in copy otherwise).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._files import atomic_path, replace_path, write_atomic
from ..errors import BadInputError

__all__ = ["write_derivatives", "read_derivatives", "check_derivatives", "bids_label", "KIND_SUFFIX", "BIDS_VERSION"]

#: BIDS version written to dataset_description.json when bidsschematools is absent
BIDS_VERSION = "1.11.0"

#: data-model kind -> BIDS suffix of the file that holds it
KIND_SUFFIX: dict[str, str] = {
    "recording": "eeg",
    "events": "events",
    "epochs": "epo",
    "bold": "bold",
    "responses": "responses",
    "binned_spikes": "spikes",
    "spike_trains": "spikes",
    "rdm": "rdm",
    "activations": "activations",
}

_ENTITY_ORDER = ("subject", "session", "task", "acquisition", "run", "space", "chunk", "description")
_SHORT = {"subject": "sub", "session": "ses", "task": "task", "acquisition": "acq", "run": "run",
          "space": "space", "chunk": "chunk", "description": "desc"}
_DATATYPE = {"eeg": "eeg", "meg": "meg", "ieeg": "ieeg", "fmri": "func", "func": "func", "bold": "func"}
_TOP_LEVEL_FILES = {"dataset_description.json", "README", "README.md", "README.txt", "README.rst", "CHANGES",
                    "LICENSE", "CITATION.cff", "participants.tsv", "participants.json", ".bidsignore"}


def bids_label(value: Any) -> str:
    """``value`` as a BIDS label: letters and digits only (other characters dropped).

    Uses the output-folder name sanitiser of :mod:`neurodecode._files` when it exists, then
    keeps ``[0-9a-zA-Z]``.

    Raises
    ------
    BadInputError
        When nothing is left (e.g. ``"__"``).
    """
    from .. import _files

    text = str(value)
    sanitise = getattr(_files, "safe_name", None)
    if callable(sanitise):
        text = str(sanitise(text, fallback=""))
    label = re.sub(r"[^0-9a-zA-Z]", "", text)
    if not label:
        raise BadInputError(f"{value!r} holds no letter or digit; it cannot name a BIDS entity.")
    return label


# --------------------------------------------------------------------------- what a result is


def _kind(obj: Any) -> str | None:
    try:
        from ..datamodel import kind_of

        return kind_of(obj)
    except Exception:  # noqa: BLE001 - not a data-model object
        return None


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple, dict, set)):
        return None
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return None if value.size != 1 else str(value.item())
    except ImportError:  # pragma: no cover
        pass
    text = str(value)
    return text if text and text.lower() not in ("none", "nan", "n/a") else None


def _entities_of(obj: Any, given: Mapping[str, Any] | None) -> dict[str, str]:
    """Entities of one result: ``given``, else a per-trial/per-volume coord with one value, else attrs.

    A coord holding several values (epochs pooled over runs, concatenated BOLD runs) means
    the result spans them: that entity is left out, whatever the attrs (kept from the
    first part by xarray) say.
    """
    import numpy as np

    attrs = getattr(obj, "attrs", {}) or {}
    coords = getattr(obj, "coords", None)
    out: dict[str, str] = {}
    bids_ents = attrs.get("bids_entities") if isinstance(attrs.get("bids_entities"), Mapping) else {}
    for key in ("subject", "session", "task", "acquisition", "run", "space"):
        value = None
        if given and key in given:
            value = given[key]
        elif coords is not None and key in coords and coords[key].ndim == 1:
            uniq = {str(v) for v in np.asarray(coords[key].values).tolist()} - {"", "None", "nan"}
            if len(uniq) != 1:
                continue
            value = uniq.pop()
        elif key in attrs:
            value = attrs[key]
        elif key in ("acquisition", "space"):
            value = bids_ents.get(key)
        text = _scalar(value)
        if text is not None:
            out[key] = text
    return out


def _datatype(obj: Any) -> str | None:
    attrs = getattr(obj, "attrs", {}) or {}
    for key in ("datatype", "modality"):
        value = attrs.get(key)
        if isinstance(value, str) and value.lower() in _DATATYPE:
            return _DATATYPE[value.lower()]
    return None


def _suffix(obj: Any, kind: str | None) -> str:
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return "stats"
    if kind == "recording":
        dt = _datatype(obj)
        return dt if dt in ("eeg", "meg", "ieeg") else "eeg"
    if kind is None:
        raise BadInputError(
            f"write_derivatives: cannot write a {type(obj).__name__}; give xarray data-model objects "
            "(recording, epochs, bold, rdm...) or pandas DataFrames."
        )
    return KIND_SUFFIX[kind]


def _describe_xr(obj: Any, kind: str | None, name: str, links: Mapping[str, str]) -> dict[str, Any]:
    import numpy as np

    attrs = obj.attrs
    sizes = {str(k): int(v) for k, v in obj.sizes.items()}
    coords = sorted(str(c) for c in obj.coords)
    text = (f"neurodecode {kind or 'xarray'} object '{name}' with dims "
            + ", ".join(f"{k}={v}" for k, v in sizes.items()) + "; netCDF-4 written by neurodecode.io.save, "
            "read it with neurodecode.io.open or xarray.open_dataset(engine='h5netcdf').")
    side: dict[str, Any] = {"Description": text, "DataKind": kind, "Dimensions": sizes, "Coordinates": coords}
    if hasattr(obj, "data_vars"):
        side["Variables"] = sorted(str(v) for v in obj.data_vars)
    if "sfreq" in attrs:
        side["SamplingFrequency"] = float(attrs["sfreq"])
    if "tr" in attrs:
        side["RepetitionTime"] = float(attrs["tr"])
    if "units" in attrs:
        side["Units"] = str(attrs["units"])
    if "method" in attrs:
        side["Method"] = str(attrs["method"])
    sources = []
    root, rel = attrs.get("bids_root"), attrs.get("bids_path")
    if isinstance(root, str) and isinstance(rel, str) and root in links:
        sources.append(f"bids:{links[root]}:{rel}")
    else:
        for key in ("source", "file"):
            value = attrs.get(key)
            if isinstance(value, str) and value:
                sources.append(value)
    if sources:
        side["Sources"] = sources
    for key in ("tmin", "tmax"):
        if key in attrs and isinstance(attrs[key], (int, float, np.floating)):
            side[key.capitalize()] = float(attrs[key])
    return side


def _describe_table(df: Any, name: str) -> dict[str, Any]:
    side: dict[str, Any] = {
        "Description": f"table '{name}' written by neurodecode: {len(df)} rows, {df.shape[1]} columns; "
                       "tab-separated, n/a marks a missing value."
    }
    for col in df.columns:
        side[str(col)] = {"Description": f"column {col!r} of table {name!r} ({df[col].dtype})"}
    return side


# --------------------------------------------------------------------------- writing


def _stem(ents: Mapping[str, str]) -> str:
    return "_".join(f"{_SHORT[k]}-{ents[k]}" for k in _ENTITY_ORDER if k in ents)


def _dataset_description(name: str, pipeline_name: str | None, pipeline_hash: str | None,
                         source_datasets: Sequence[Any] | None) -> dict[str, Any]:
    from .. import __version__

    version = BIDS_VERSION
    try:
        import bidsschematools.schema as bst_schema

        version = str(bst_schema.load_schema().bids_version)
    except Exception:  # noqa: BLE001 - optional
        pass
    what = f"pipeline {pipeline_name}" if pipeline_name else "neurodecode.report.bids.write_derivatives"
    if pipeline_hash:
        what += f" (resolved config sha256 {pipeline_hash})"
    desc: dict[str, Any] = {
        "Name": name,
        "BIDSVersion": version,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "neurodecode", "Version": str(__version__), "Description": what}],
    }
    if source_datasets:
        desc["SourceDatasets"] = [
            dict(s) if isinstance(s, Mapping) else {"URL": _url(s)} for s in source_datasets
        ]
    if pipeline_name or pipeline_hash:
        desc["NeurodecodePipeline"] = {"Name": pipeline_name, "Hash": pipeline_hash}
    return desc


def _url(source: Any) -> str:
    text = str(source)
    if re.match(r"^[a-z][a-z0-9+.-]*:", text):
        return text
    return Path(text).expanduser().resolve().as_uri()


def write_derivatives(
    out_dir: str | os.PathLike,
    results: Mapping[str, Any],
    *,
    pipeline_name: str | None = None,
    pipeline_hash: str | None = None,
    name: str | None = None,
    source_datasets: Sequence[Any] | None = None,
    entities: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write results as a BIDS-derivatives dataset (replacing ``out_dir`` atomically).

    Parameters
    ----------
    out_dir : path
        The derivatives folder to (re)create.
    results : mapping of str to object or list of objects
        Name -> result. The name becomes the ``desc-`` label. A result is an xarray
        data-model object (``recording``, ``epochs``, ``bold``, ``rdm``, ...; written as
        netCDF ``.nc``) or a pandas DataFrame (``_stats.tsv``); a list writes one file per
        item (items with identical entities get ``chunk-<i>``).
    pipeline_name, pipeline_hash : str, optional
        Recorded in ``dataset_description.json`` (``GeneratedBy`` and ``NeurodecodePipeline``).
    name : str, optional
        ``Name`` of the dataset (default ``"neurodecode <pipeline_name>"``).
    source_datasets : sequence, optional
        ``SourceDatasets``: URLs/paths (e.g. the BIDS root read by :func:`~neurodecode.datasets.from_bids`)
        or ``{"URL": ..., "DOI": ...}`` mappings.
    entities : mapping, optional
        ``subject``/``session``/``task``/``run``... used instead of the objects' attrs.

    Returns
    -------
    list of Path
        The files written (data files and their sidecars), inside ``out_dir``.

    Raises
    ------
    BadInputError
        A result that is neither xarray nor a DataFrame, an empty name, two results that
        would share one file name.
    """
    import pandas as pd

    from .. import io

    out = Path(out_dir).expanduser().resolve()
    if not isinstance(results, Mapping) or not results:
        raise BadInputError("write_derivatives: results must be a non-empty mapping name -> object(s).")
    plan: list[tuple[str, Any, dict[str, str], dict[str, Any]]] = []
    seen: dict[str, str] = {}
    links: dict[str, str] = {}  # BIDS root read by from_bids -> its name in DatasetLinks
    for rname, value in results.items():
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if not items:
            continue
        desc = bids_label(rname)
        stems = []
        for item in items:
            kind = _kind(item) if not isinstance(item, pd.DataFrame) else None
            suffix = _suffix(item, kind)
            ents = _entities_of(item, entities)
            original = dict(ents)
            labels = {k: bids_label(v) for k, v in ents.items()}
            if "run" in labels and labels["run"].isdigit():
                labels["run"] = str(int(labels["run"]))
            labels["description"] = desc
            stems.append((item, kind, suffix, labels, original))
        keys = [(_stem(lab), suf) for _, _, suf, lab, _ in stems]
        for i, (item, kind, suffix, labels, original) in enumerate(stems):
            if keys.count(keys[i]) > 1:
                labels["chunk"] = str(i)
            folder = Path()
            if "subject" in labels:
                folder = Path(f"sub-{labels['subject']}")
                if "session" in labels:
                    folder /= f"ses-{labels['session']}"
                dt = _datatype(item) if kind is not None else None
                if dt:
                    folder /= dt
            ext = ".tsv" if isinstance(item, pd.DataFrame) else ".nc"
            rel = folder / f"{_stem(labels)}_{suffix}{ext}"
            if str(rel) in seen:
                raise BadInputError(
                    f"write_derivatives: results {seen[str(rel)]!r} and {rname!r} both map to {rel}; rename one."
                )
            seen[str(rel)] = rname
            root = (getattr(item, "attrs", {}) or {}).get("bids_root")
            if isinstance(root, str) and root not in links:
                links[root] = "raw" if not links else f"raw{len(links) + 1}"
            side = (_describe_table(item, rname) if isinstance(item, pd.DataFrame)
                    else _describe_xr(item, kind, rname, links))
            side["Entities"] = {k: {"label": labels[k], "value": v} for k, v in original.items()}
            plan.append((str(rel), item, labels, side))

    tmp = atomic_path(out)
    tmp.mkdir(parents=True)
    written: list[Path] = []
    try:
        desc_json = _dataset_description(name or f"neurodecode {pipeline_name or 'results'}", pipeline_name,
                                         pipeline_hash, source_datasets)
        if links:
            desc_json["DatasetLinks"] = {alias: _url(root) for root, alias in links.items()}
        write_atomic(tmp / "dataset_description.json", json.dumps(desc_json, indent=2))
        written.append(out / "dataset_description.json")
        for rel, item, _labels, side in plan:
            target = (tmp / rel).resolve()
            if tmp.resolve() not in target.parents:  # labels are alphanumeric; belt and braces
                raise BadInputError(f"write_derivatives: {rel} would leave the output folder.")
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(item, pd.DataFrame):
                write_atomic(target, item.to_csv(sep="\t", index=False, na_rep="n/a"))
            else:
                io.save(item, target)
            write_atomic(target.with_name(target.name[: -len(target.suffix)] + ".json"),
                         json.dumps(side, indent=2, default=str))
            written += [out / rel, out / (rel[: -len(Path(rel).suffix)] + ".json")]
        replace_path(tmp, out) if out.exists() else os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


# --------------------------------------------------------------------------- reading back


def read_derivatives(
    folder: str | os.PathLike,
    *,
    desc: str | None = None,
    suffix: str | None = None,
    subject: str | None = None,
    session: str | None = None,
    task: str | None = None,
    run: int | str | None = None,
) -> dict[str, Any]:
    """Open the files of a derivatives folder written by :func:`write_derivatives`.

    Parameters
    ----------
    folder : path
        The derivatives dataset (holding ``dataset_description.json``).
    desc, suffix, subject, session, task, run : optional
        Keep only files with these entity values (``desc`` is the result name as a label).

    Returns
    -------
    dict
        Relative path -> object: ``.nc`` files through :func:`neurodecode.io.open` (loaded),
        ``.tsv`` files as pandas DataFrames (``n/a`` read as missing).

    Raises
    ------
    BadInputError
        No such folder, or nothing matches (the message lists the ``desc``/suffix pairs present).
    """
    import pandas as pd

    from .. import io

    root = Path(folder)
    if not (root / "dataset_description.json").is_file():
        raise BadInputError(f"{str(root)!r} is not a derivatives dataset (no dataset_description.json).")
    want = {"description": desc, "subject": subject, "session": session, "task": task,
            "run": None if run is None else str(run)}
    found: dict[str, Any] = {}
    present: set[str] = set()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".nc", ".tsv")):
        stem = path.name[: -len(path.suffix)]
        parts = stem.split("_")
        ents = {}
        for part in parts[:-1]:
            key, _, value = part.partition("-")
            ents[{v: k for k, v in _SHORT.items()}.get(key, key)] = value
        present.add(f"desc-{ents.get('description', '?')}_{parts[-1]}")
        if suffix is not None and parts[-1] != suffix:
            continue
        ok = True
        for key, value in want.items():
            if value is None:
                continue
            have = ents.get(key)
            if key == "run" and have is not None and have.isdigit() and str(value).isdigit():
                ok &= int(have) == int(value)
            else:
                ok &= have == str(value)
        if ok:
            rel = path.relative_to(root).as_posix()
            found[rel] = (pd.read_csv(path, sep="\t", na_values=["n/a"]) if path.suffix == ".tsv"
                          else io.open(path, chunks=None))
    if not found:
        asked = {k: v for k, v in want.items() if v is not None} | ({"suffix": suffix} if suffix else {})
        raise BadInputError(f"no file of {root} matches {asked}; it holds {sorted(present)}.")
    return found


# --------------------------------------------------------------------------- checking

_BUILTIN_ENTITIES = {  # long name -> (short key, format): a subset of the BIDS 1.11 entity table
    "subject": ("sub", "label"), "session": ("ses", "label"), "sample": ("sample", "label"),
    "task": ("task", "label"), "acquisition": ("acq", "label"), "ceagent": ("ce", "label"),
    "reconstruction": ("rec", "label"), "direction": ("dir", "label"), "run": ("run", "index"),
    "echo": ("echo", "index"), "part": ("part", "label"), "processing": ("proc", "label"),
    "hemisphere": ("hemi", "label"), "space": ("space", "label"), "split": ("split", "index"),
    "recording": ("recording", "label"), "chunk": ("chunk", "index"), "atlas": ("atlas", "label"),
    "segmentation": ("seg", "label"), "resolution": ("res", "label"), "density": ("den", "label"),
    "label": ("label", "label"), "description": ("desc", "label"),
}
_BUILTIN_ORDER = ("subject", "session", "sample", "task", "acquisition", "ceagent", "reconstruction", "direction",
                  "run", "echo", "part", "processing", "hemisphere", "space", "split", "recording", "chunk",
                  "atlas", "segmentation", "resolution", "density", "label", "description")
_FORMATS = {"label": r"[0-9a-zA-Z+]+", "index": r"[0-9]+"}
_DATATYPES = ("anat", "beh", "dwi", "eeg", "fmap", "func", "ieeg", "meg", "micr", "motion", "mrs", "nirs", "perf",
              "pet", "emg")


def _rules() -> dict[str, Any]:
    """Entity table, order, formats, datatypes and required description fields (schema if available)."""
    try:
        import bidsschematools.schema as bst_schema

        schema = bst_schema.load_schema()
        table = {}
        for long_name, ent in schema.objects.entities.items():
            table[str(long_name)] = (str(ent["name"]), str(ent.get("format", "label")))
        formats = {str(k): str(v["pattern"]) for k, v in schema.objects.formats.items() if "pattern" in v}
        required = [k for k, v in schema.rules.json.dataset.dataset_description.fields.items()
                    if v == "required" or (isinstance(v, Mapping) and v.get("level") == "required")]
        required += [k for k, v in schema.rules.json.dataset.derivative_description.fields.items()
                     if v == "required" or (isinstance(v, Mapping) and v.get("level") == "required")]
        return {"entities": table, "order": [str(e) for e in schema.rules.entities], "formats": formats,
                "datatypes": sorted(str(d) for d in schema.objects.datatypes), "required": required,
                "source": f"bidsschematools (BIDS {schema.bids_version})"}
    except Exception:  # noqa: BLE001 - optional dependency
        return {"entities": _BUILTIN_ENTITIES, "order": list(_BUILTIN_ORDER), "formats": _FORMATS,
                "datatypes": list(_DATATYPES), "required": ["Name", "BIDSVersion", "GeneratedBy"],
                "source": f"built-in rules (BIDS {BIDS_VERSION})"}


def check_derivatives(folder: str | os.PathLike) -> list[str]:
    """Check a BIDS-derivatives folder; return the problems found (an empty list when it passes).

    Rules (docs/bids.md): ``dataset_description.json`` holds the required fields
    (``Name``, ``BIDSVersion``; ``GeneratedBy`` for derivatives) with ``DatasetType`` =
    ``"derivative"`` and every ``GeneratedBy`` entry a ``Name``; every other file is named
    ``<key>-<value>_..._<suffix><extension>`` with known entities, in the schema's order, each
    value in its format (labels alphanumeric, indices digits), no entity twice; files under
    ``sub-<label>/[ses-<label>/]`` carry the same ``sub``/``ses`` and sit in a known datatype
    folder or directly in the subject/session folder; every data file has a JSON sidecar of
    the same name with a ``Description``.
    """
    root = Path(folder)
    rules = _rules()
    problems: list[str] = []
    desc_path = root / "dataset_description.json"
    if not desc_path.is_file():
        return [f"{root}: no dataset_description.json"]
    try:
        desc = json.loads(desc_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        return [f"dataset_description.json is not valid JSON: {err}"]
    for key in rules["required"]:
        if key not in desc:
            problems.append(f"dataset_description.json: required field {key!r} is missing")
    if desc.get("DatasetType") != "derivative":
        problems.append("dataset_description.json: DatasetType must be 'derivative'")
    gen = desc.get("GeneratedBy")
    if not isinstance(gen, list) or not gen or not all(isinstance(g, Mapping) and g.get("Name") for g in gen):
        problems.append("dataset_description.json: GeneratedBy must be a non-empty list of objects with a Name")
    short_to_long = {v[0]: k for k, v in rules["entities"].items()}
    order = {name: i for i, name in enumerate(rules["order"])}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if len(rel.parts) == 1 and rel.name in _TOP_LEVEL_FILES:
            continue
        name = rel.name
        stem, ext = (name[: -len(".nii.gz")], ".nii.gz") if name.endswith(".nii.gz") else os.path.splitext(name)
        parts = stem.split("_")
        if len(parts) < 2:
            problems.append(f"{rel}: not named <key>-<value>_..._<suffix>")
            continue
        suffix = parts[-1]
        if not re.fullmatch(r"[a-zA-Z0-9]+", suffix):
            problems.append(f"{rel}: suffix {suffix!r} is not alphanumeric")
        seen: dict[str, str] = {}
        last = -1
        for part in parts[:-1]:
            key, dash, value = part.partition("-")
            if not dash:
                problems.append(f"{rel}: {part!r} is not <key>-<value>")
                continue
            long_name = short_to_long.get(key)
            if long_name is None:
                problems.append(f"{rel}: unknown entity {key!r}")
                continue
            if long_name in seen:
                problems.append(f"{rel}: entity {key!r} appears twice")
            seen[long_name] = value
            fmt = rules["entities"][long_name][1]
            pattern = rules["formats"].get(fmt, _FORMATS.get(fmt, r"[0-9a-zA-Z+]+"))
            if not re.fullmatch(pattern, value):
                problems.append(f"{rel}: {key}-{value}: value does not match the {fmt} format {pattern}")
            pos = order.get(long_name, -1)
            if pos < last:
                problems.append(f"{rel}: entity {key!r} is out of the BIDS order")
            last = max(last, pos)
        dirs = rel.parts[:-1]
        if dirs:
            if not dirs[0].startswith("sub-"):
                problems.append(f"{rel}: files in sub-folders must sit under sub-<label>/")
            elif seen.get("subject") != dirs[0][4:]:
                problems.append(f"{rel}: sub- entity does not match its folder {dirs[0]}")
            rest = list(dirs[1:])
            if rest and rest[0].startswith("ses-"):
                if seen.get("session") != rest[0][4:]:
                    problems.append(f"{rel}: ses- entity does not match its folder {rest[0]}")
                rest = rest[1:]
            elif "session" in seen:
                problems.append(f"{rel}: has ses-{seen['session']} but is not in a ses- folder")
            if len(rest) > 1 or (rest and rest[0] not in rules["datatypes"]):
                known = ", ".join(rules["datatypes"])
                problems.append(f"{rel}: folder {'/'.join(rest)} is not a BIDS datatype ({known})")
        elif "subject" in seen:
            problems.append(f"{rel}: a file with sub- must sit under sub-{seen['subject']}/")
        if ext != ".json":
            side = path.with_name(stem + ".json")
            if not side.is_file():
                problems.append(f"{rel}: no JSON sidecar {side.name}")
            else:
                try:
                    meta = json.loads(side.read_text(encoding="utf-8"))
                except json.JSONDecodeError as err:
                    problems.append(f"{side.relative_to(root)}: not valid JSON ({err})")
                else:
                    if not isinstance(meta, Mapping) or not meta.get("Description"):
                        problems.append(f"{side.relative_to(root)}: no Description")
    return problems
