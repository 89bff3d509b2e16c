"""EEG/MEG loaders: MNE-readable files and Muse CSV exports into data-model objects.

Entry points (see :mod:`neurodecode.datamodel` for the kinds):

* :func:`read_eeg` reads EDF/EDF+, BDF/BDF+, FIF raw, BrainVision (``.vhdr``), EEGLAB ``.set``
  (continuous -> ``recording``; epoched -> ``epochs``) through MNE's readers, and Muse CSV
  exports (``.csv``, ``.csv.csv``) through :func:`read_muse_csv`.
* :func:`read_muse_csv` reads a Muse headband CSV (TP9, AF7, AF8, TP10, Right AUX, Marker0),
  converts microvolts to volts, checks the sampling rate against the timestamps and finds gaps.
* :func:`from_mne` / :func:`to_mne` convert between MNE ``Raw``/``Epochs`` and the data model
  without losing channel names, types, positions, sampling rate, events, ``tmin`` or metadata.

Conventions of the ``recording`` objects built here

* ``signal`` holds MNE's SI units (V for EEG, T for magnetometers, T/m for gradiometers);
  ``attrs['units']`` is ``"V"`` when every channel is in volts, and the per-channel unit is in
  the ``ch_unit`` coord.
* ``time`` starts at 0 at the first sample; ``attrs['first_samp']`` keeps MNE's ``first_samp``.
* Event onsets are in seconds relative to the first sample. Events come from annotations
  (``origin == "annotation"``) and, where a trigger channel looks like one, from the stim channel
  (``origin == "stim"``, ``label`` = the trigger value as text). Events whose label starts with
  ``BAD_`` or ``EDGE`` mark stretches to reject and get ``code == -1``.
* Sensor positions are ``pos_x``, ``pos_y``, ``pos_z`` coords (metres, ``info['chs'][i]['loc'][:3]``;
  NaN where unknown).
* ``attrs`` hold ``sfreq``, ``units``, ``modality``, ``source`` (the path), ``sha256`` (of the
  file's bytes; duplicated runs share it), ``format``, ``meas_date`` (ISO text) when known,
  ``bads`` and ``subject``/``session``/``run`` when given.

MNE is imported inside the functions that use it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._files import sha256_file as _sha256
from ..datamodel import make_epochs, make_events, make_recording, validate
from ..errors import BadInputError, DataModelError

__all__ = [
    "read_eeg",
    "read_muse_csv",
    "from_mne",
    "to_mne",
    "FORMATS",
    "MUSE_CHANNELS",
    "MUSE_MARKERS",
]

log = logging.getLogger(__name__)

#: file formats read by :func:`read_eeg` and the suffixes that select them
FORMATS: dict[str, tuple[str, ...]] = {
    "edf": (".edf",),
    "bdf": (".bdf",),
    "fif": (".fif", ".fif.gz"),
    "brainvision": (".vhdr",),
    "eeglab": (".set",),
    "muse": (".csv", ".csv.csv"),
}

#: EEG columns of a Muse CSV export, in file order
MUSE_CHANNELS = ("TP9", "AF7", "AF8", "TP10")
#: Marker0 value -> event label in the Muse N170 exports
MUSE_MARKERS: dict[int, str] = {1: "house", 2: "face"}

#: event-label prefixes that mark stretches to reject (MNE's convention)
BAD_PREFIXES = ("BAD", "EDGE")
BAD_CODE = -1

# FIFF unit constants -> text
_UNIT_NAMES = {107: "V", 112: "T", 201: "T/m", 202: "Am", 114: "degC", 108: "F", -1: "", 0: "1"}
_UNIT_CODES = {v: k for k, v in _UNIT_NAMES.items()}


# --------------------------------------------------------------------------- small helpers


def _mne():
    from .._optional import require

    return require("mne")


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_file(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise BadInputError(
            f"EEG file {str(path)!r} does not exist; check the path (or the data home NEURODECODE_DATA)."
        )
    if not path.is_file():
        raise BadInputError(f"EEG path {str(path)!r} is not a file.")
    if path.stat().st_size == 0:
        raise BadInputError(f"EEG file {str(path)!r} is empty (0 bytes); it looks truncated: re-download or re-export it.")
    return path


def _detect_format(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = format.lower().lstrip(".")
        aliases = {"vhdr": "brainvision", "set": "eeglab", "csv": "muse", "edf+": "edf", "bdf+": "bdf"}
        fmt = aliases.get(fmt, fmt)
        if fmt not in FORMATS:
            raise BadInputError(f"unknown EEG format {format!r}; use one of {sorted(FORMATS)}.")
        return fmt
    name = path.name.lower()
    if name.endswith(("-ave.fif", "-ave.fif.gz", "_ave.fif", "_ave.fif.gz")):
        raise BadInputError(
            f"{str(path)!r} looks like a FIF evoked (averaged) file; read_eeg reads continuous or epoched data. "
            "Read it with mne.read_evokeds(path) instead."
        )
    for fmt, suffixes in FORMATS.items():
        if name.endswith(suffixes):
            return fmt
    known = ", ".join(s for suf in FORMATS.values() for s in suf)
    raise BadInputError(
        f"cannot tell the EEG format of {str(path)!r} from its name; known suffixes: {known}. "
        "Pass format='edf'|'bdf'|'fif'|'brainvision'|'eeglab'|'muse'."
    )


def _check_edf_size(path: Path, fmt: str) -> None:
    """Raise if an EDF/BDF file is shorter than its header says (truncated download/copy)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(256)
        if len(head) < 256:
            raise BadInputError(
                f"{fmt.upper()} file {str(path)!r} looks truncated: only {size} bytes, shorter than the "
                "256-byte fixed header. Re-download or re-export the file."
            )
        try:
            header_bytes = int(head[184:192].decode("ascii", "replace").strip())
            n_records = int(head[236:244].decode("ascii", "replace").strip())
            n_signals = int(head[252:256].decode("ascii", "replace").strip())
        except ValueError as err:
            raise BadInputError(
                f"{fmt.upper()} file {str(path)!r} has an unreadable header ({err}); it looks truncated or corrupt."
            ) from err
        if size < header_bytes:
            raise BadInputError(
                f"{fmt.upper()} file {str(path)!r} looks truncated: {size} bytes, but its header alone is "
                f"{header_bytes} bytes. Re-download or re-export the file."
            )
        fh.seek(256 + n_signals * 216)
        raw_ns = fh.read(n_signals * 8)
    try:
        per_record = sum(int(raw_ns[8 * i: 8 * i + 8].decode("ascii", "replace").strip()) for i in range(n_signals))
    except ValueError as err:
        raise BadInputError(
            f"{fmt.upper()} file {str(path)!r} has unreadable samples-per-record fields; it looks corrupt."
        ) from err
    if n_records < 0:  # recording not closed properly: number of records unknown
        return
    width = 3 if fmt == "bdf" else 2
    expected = header_bytes + n_records * per_record * width
    if size < expected:
        raise BadInputError(
            f"{fmt.upper()} file {str(path)!r} looks truncated: its header announces {n_records} data records "
            f"({expected} bytes in all) but the file holds {size} bytes "
            f"({(size - header_bytes) / max(per_record * width, 1):.1f} records). Re-download or re-export it."
        )


def _unit_name(ch: Mapping[str, Any]) -> str:
    """Human-readable unit of an MNE channel (``fiff:<code>`` for codes without a name here)."""
    unit = int(ch.get("unit", -1))
    return _UNIT_NAMES.get(unit, f"fiff:{unit}")


def _unit_code(name: str) -> int | None:
    if name in _UNIT_CODES:
        return _UNIT_CODES[name]
    if name.startswith("fiff:"):
        try:
            return int(name[5:])
        except ValueError:
            return None
    return None


def _positions(info) -> np.ndarray:
    pos = np.array([np.asarray(ch["loc"][:3], dtype=float) for ch in info["chs"]]).reshape(-1, 3)
    unknown = ~np.isfinite(pos).all(axis=1) | (pos == 0).all(axis=1)
    pos[unknown] = np.nan
    return pos


def _looks_like_trigger(x: np.ndarray) -> bool:
    """True when a stim channel holds few distinct non-negative integer codes (not analog noise)."""
    if x.size == 0 or not np.all(np.isfinite(x)):
        return False
    if np.any(x < 0) or not np.allclose(x, np.round(x)):
        return False
    values = np.unique(x)
    if values.size > 257:
        return False
    changes = np.count_nonzero(np.diff(x))
    return changes <= max(10, x.size // 20)


def _label_codes(labels: Sequence[str], codes: Sequence[int | None]) -> np.ndarray:
    """Fill missing codes: BAD_/EDGE labels -> -1, others numbered by sorted unique label (MNE's rule)."""
    labels = [str(lab) for lab in labels]
    known: dict[str, int] = {}
    for lab, code in zip(labels, codes):
        if code is not None and lab not in known:
            known[lab] = int(code)
    free = [lab for lab in sorted(set(labels)) if lab not in known and not lab.startswith(BAD_PREFIXES)]
    used = {c for c in known.values()}
    nxt = 1
    for lab in free:
        while nxt in used:
            nxt += 1
        known[lab] = nxt
        used.add(nxt)
    out = []
    for lab, code in zip(labels, codes):
        if code is not None:
            out.append(int(code))
        elif lab.startswith(BAD_PREFIXES):
            out.append(BAD_CODE)
        else:
            out.append(known[lab])
    return np.asarray(out, dtype=np.int64)


def _pick_stim_channel(raw, stim_channel: str | Sequence[str] | None) -> list[str]:
    mne = _mne()
    if stim_channel is not None:
        names = [stim_channel] if isinstance(stim_channel, str) else list(stim_channel)
        missing = [n for n in names if n not in raw.ch_names]
        if missing:
            raise BadInputError(f"stim channel(s) {missing} not in the recording; channels: {raw.ch_names}.")
        return names
    idx = mne.pick_types(raw.info, meg=False, stim=True, exclude=[])
    names = [raw.ch_names[i] for i in idx]
    if len(names) > 1:
        for pref in ("STI101", "STI 101", "STI 014", "STI014", "Status", "STATUS", "Trigger", "TRIGGER"):
            if pref in names:
                return [pref]
        return names[:1]
    return names


# --------------------------------------------------------------------------- MNE <-> data model


def _meas_date_text(info) -> str | None:
    md = info.get("meas_date")
    return md.isoformat() if md is not None else None


def _events_from_raw(raw, stim_events: bool | str, stim_channel) -> pd.DataFrame:
    mne = _mne()
    ann = raw.annotations
    rows: list[dict[str, Any]] = []
    extras = getattr(ann, "extras", None) or [{}] * len(ann)
    sfreq = float(raw.info["sfreq"])
    for onset, duration, desc, extra in zip(ann.onset, ann.duration, ann.description, extras):
        extra = extra or {}
        code = extra.get("code")
        rel = float(onset) - float(raw.first_time)
        # MNE keeps annotation onsets to the microsecond: snap sample-aligned onsets back onto the sample
        if abs(rel * sfreq - round(rel * sfreq)) <= 1.01e-6 * sfreq:
            rel = round(rel * sfreq) / sfreq
        rows.append(
            {
                "onset": rel,
                "duration": float(duration),
                "label": str(desc),
                "code": None if code is None else int(code),
                "origin": str(extra.get("origin", "annotation")),
            }
        )
    if stim_events:
        names = _pick_stim_channel(raw, stim_channel)
        for name in names:
            x = raw.get_data(picks=[name])[0]
            if stim_events == "auto" and not _looks_like_trigger(x):
                log.info(
                    "stim channel %r holds analog-looking values (%d distinct); not reading events from it "
                    "(pass stim_events=True to force).", name, np.unique(x).size,
                )
                continue
            try:
                found = mne.find_events(
                    raw, stim_channel=name, shortest_event=1, initial_event=True, verbose=False
                )
            except ValueError as err:
                raise BadInputError(f"could not read events from stim channel {name!r}: {err}") from err
            for sample, _, value in found:
                rows.append(
                    {
                        "onset": (int(sample) - raw.first_samp) / raw.info["sfreq"],
                        "duration": 0.0,
                        "label": str(int(value)),
                        "code": int(value),
                        "origin": "stim",
                    }
                )
    if not rows:
        return pd.DataFrame({"onset": [], "duration": [], "label": [], "code": [], "origin": []})
    df = pd.DataFrame(rows)
    df["code"] = _label_codes(df["label"].tolist(), [None if pd.isna(c) else c for c in df["code"].tolist()])
    return df.sort_values("onset", kind="stable").reset_index(drop=True)


def _common_attrs(info) -> dict[str, Any]:
    units = [_unit_name(ch) for ch in info["chs"]]
    types = info.get_channel_types()
    in_volts = all(u == "V" for u, t in zip(units, types) if t != "stim")
    attrs: dict[str, Any] = {
        "units": "V" if in_volts else "SI",
        "bads": list(info["bads"]),
        "highpass": float(info["highpass"]),
        "lowpass": float(info["lowpass"]),
    }
    md = _meas_date_text(info)
    if md is not None:
        attrs["meas_date"] = md
    if info.get("line_freq") is not None:
        attrs["line_freq"] = float(info["line_freq"])
    if any(t in ("mag", "grad") for t in types):
        attrs["modality"] = "meg"
    return attrs


def from_mne(inst, *, stim_events: bool | str = "auto", stim_channel: str | Sequence[str] | None = None,
             first_samp: int = 0, **attrs: Any):
    """Convert an MNE ``Raw`` into a ``recording`` or an MNE ``Epochs`` into ``epochs``.

    Parameters
    ----------
    inst : mne.io.BaseRaw or mne.BaseEpochs
        Loaded (preloaded or not) MNE object.
    stim_events : bool or "auto"
        Raw only: also turn trigger-channel transitions (``mne.find_events``) into events.
        ``"auto"`` does so only when the stim channel holds few integer codes (not analog values).
    stim_channel : str or list of str, optional
        Raw only: the trigger channel(s); by default MNE's stim channels (STI101/Status/Trigger first).
    first_samp : int
        Epochs only: MNE sample index of the first sample of the source recording, so that the
        ``onset`` trial coord is ``(events[:, 0] - first_samp) / sfreq``.
    **attrs
        Extra attrs (``subject``, ``session``, ``run``, ``source``...); ``None`` values are dropped.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        A ``recording`` (Raw) or ``epochs`` (Epochs) object.
    """
    mne = _mne()
    if isinstance(inst, mne.io.BaseRaw):
        return _raw_to_recording(inst, stim_events=stim_events, stim_channel=stim_channel, **attrs)
    if isinstance(inst, mne.BaseEpochs):
        return _epochs_to_dataarray(inst, first_samp=first_samp, **attrs)
    raise BadInputError(
        f"from_mne expects an mne.io.Raw or mne.Epochs, got {type(inst).__name__}. "
        "Evoked data (averages) are not a data-model kind: keep the epochs instead."
    )


def _lazy_raw_data(raw, chunk_samples: int):
    """``raw``'s data as a dask array read ``chunk_samples`` at a time (float64, like ``get_data``)."""
    import threading

    import dask
    import dask.array as da

    n_ch, n_t = len(raw.ch_names), int(raw.n_times)
    lock = threading.Lock()  # one file handle: read one block at a time

    def read(start: int, stop: int) -> np.ndarray:
        with lock:
            return raw.get_data(start=start, stop=stop)

    blocks = []
    for start in range(0, n_t, chunk_samples):
        stop = min(start + chunk_samples, n_t)
        blocks.append(da.from_delayed(dask.delayed(read, pure=False)(start, stop), shape=(n_ch, stop - start),
                                      dtype=np.float64))
    return da.concatenate(blocks, axis=1)


def _raw_to_recording(raw, *, stim_events, stim_channel, chunk_samples: int | None = None, **attrs: Any):
    info = raw.info
    if chunk_samples is None and not getattr(raw, "preload", True):
        raw = raw.copy().load_data(verbose=False)
    data = raw.get_data() if chunk_samples is None else _lazy_raw_data(raw, int(chunk_samples))
    ev = _events_from_raw(raw, stim_events, stim_channel)
    events = make_events(
        ev["onset"].to_numpy(dtype=float),
        ev["label"].to_numpy(dtype=object).astype(str),
        duration=ev["duration"].to_numpy(dtype=float),
        code=ev["code"].to_numpy(dtype=np.int64),
        origin=ev["origin"].to_numpy(dtype=object).astype(str),
    )
    common = _common_attrs(info)
    modality = common.pop("modality", "eeg")
    rec = make_recording(
        data,
        info["sfreq"],
        raw.ch_names,
        raw.get_channel_types(),
        t0=0.0,
        events=events,
        positions=_positions(info),
        units=common.pop("units"),
        modality=modality,
        first_samp=int(raw.first_samp),
        **common,
        **{k: v for k, v in attrs.items() if v is not None},
    )
    rec = rec.assign_coords(ch_unit=("channel", np.array([_unit_name(ch) for ch in info["chs"]], dtype=object)))
    validate(rec, "recording")
    return rec


def _epochs_to_dataarray(epochs, *, first_samp: int = 0, **attrs: Any):
    data = epochs.get_data(copy=True)
    info = epochs.info
    sfreq = float(info["sfreq"])
    inv: dict[int, str] = {}
    for lab, code in epochs.event_id.items():
        inv.setdefault(int(code), str(lab))
    codes = epochs.events[:, 2].astype(np.int64)
    meta: dict[str, Any] = {
        "label": np.array([inv.get(int(c), str(int(c))) for c in codes], dtype=object),
        "code": codes,
        "onset": (epochs.events[:, 0].astype(np.int64) - int(first_samp)) / sfreq,
    }
    trial = None
    if epochs.metadata is not None:
        for col in epochs.metadata.columns:
            values = epochs.metadata[col]
            if values.dtype.kind in "biufc":
                arr = values.to_numpy()
            else:
                arr = values.to_numpy(dtype=object)
                if all(isinstance(v, str) for v in arr):
                    arr = arr.astype(object)
            if col == "trial":
                trial = arr
            else:
                meta[str(col)] = arr
    common = _common_attrs(info)
    modality = common.pop("modality", "eeg")
    baseline = epochs.baseline
    ep = make_epochs(
        data,
        sfreq,
        epochs.ch_names,
        float(epochs.tmin),
        ch_types=epochs.get_channel_types(),
        metadata=meta,
        trial=trial,
        units=common.pop("units"),
        modality=modality,
        event_id={str(k): int(v) for k, v in epochs.event_id.items()},
        baseline=None if baseline is None else [None if b is None else float(b) for b in baseline],
        **common,
        **{k: v for k, v in attrs.items() if v is not None},
    )
    # exact times (make_epochs rebuilds them from tmin and sfreq)
    ep = ep.assign_coords(time=np.asarray(epochs.times, dtype=float))
    pos = _positions(info)
    ep = ep.assign_coords(
        pos_x=("channel", pos[:, 0]),
        pos_y=("channel", pos[:, 1]),
        pos_z=("channel", pos[:, 2]),
        ch_unit=("channel", np.array([_unit_name(ch) for ch in info["chs"]], dtype=object)),
    )
    validate(ep, "epochs")
    return ep


def _info_from(obj):
    """Build an mne.Info from the channel coords and attrs of a recording or epochs."""
    mne = _mne()
    names = [str(c) for c in obj["channel"].values]
    if "ch_type" in obj.coords:
        types = [str(t) for t in obj["ch_type"].values]
    else:
        types = ["eeg"] * len(names)
    try:
        info = mne.create_info(names, float(obj.attrs["sfreq"]), types, verbose=False)
    except (ValueError, KeyError) as err:
        raise DataModelError(f"cannot build MNE channel info from channel names/types: {err}") from err
    if all(c in obj.coords for c in ("pos_x", "pos_y", "pos_z")):
        pos = np.stack([np.asarray(obj[c].values, dtype=float) for c in ("pos_x", "pos_y", "pos_z")], axis=1)
        for ch, p in zip(info["chs"], pos):
            ch["loc"][:3] = p
    if "ch_unit" in obj.coords:
        for ch, unit in zip(info["chs"], obj["ch_unit"].values):
            code = _unit_code(str(unit))
            if code is not None:
                ch["unit"] = code
    bads = [b for b in (obj.attrs.get("bads") or []) if b in names]
    info["bads"] = list(bads)
    md = obj.attrs.get("meas_date")
    if md:
        try:
            when = _dt.datetime.fromisoformat(str(md))
            if when.tzinfo is None:
                when = when.replace(tzinfo=_dt.timezone.utc)
            info.set_meas_date(when)
        except ValueError:
            log.warning("attr meas_date %r is not ISO text; not passed to MNE.", md)
    if obj.attrs.get("line_freq") is not None:
        info["line_freq"] = float(obj.attrs["line_freq"])
    hp, lp = obj.attrs.get("highpass"), obj.attrs.get("lowpass")
    if hp is not None or lp is not None:
        unlock = getattr(info, "_unlock", None)
        if unlock is not None:
            try:
                with unlock():
                    if hp is not None:
                        info["highpass"] = float(hp)
                    if lp is not None:
                        info["lowpass"] = float(lp)
            except Exception:  # pragma: no cover - MNE internals changed
                log.debug("could not restore highpass/lowpass in MNE info")
    return info


def to_mne(obj, *, stim_as_annotations: bool = False, windows: Sequence[tuple[int, int]] | None = None):
    """Convert a ``recording`` to ``mne.io.RawArray`` or ``epochs`` to ``mne.EpochsArray``.

    Recordings: events become annotations (onset relative to the first sample, i.e. ``onset - time[0]``;
    duration; label as
    description, ``code`` in the annotation ``extras``); events read from a stim channel
    (``origin == "stim"``) are left to that channel unless ``stim_as_annotations`` or the stim channel
    is gone. ``attrs['first_samp']``, ``bads``, ``meas_date`` are restored.

    Epochs: ``events`` are ``(round(onset * sfreq), 0, code)``, ``event_id`` maps label -> code, and every
    per-trial coord (``trial`` included) goes to ``metadata`` so that :func:`from_mne` restores it.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        A ``recording`` or ``epochs`` object.
    stim_as_annotations : bool
        Recordings: also turn the events read from a stim channel into annotations.
    windows : sequence of (int, int), optional
        Recordings only: ``[start, stop)`` sample ranges (positions along ``time``, 0 = the first
        sample). The Raw then has the recording's length but holds only these samples, read from
        the (lazily read, e.g. ``read_eeg(path, chunks=...)``) signal in one pass, so that
        :class:`mne.Epochs` on events inside them does not load the whole recording. Reading any
        other sample of that Raw raises an error. None: the whole signal (a ``RawArray``).

    Returns
    -------
    mne.io.BaseRaw or mne.EpochsArray

    Raises
    ------
    DataModelError
        If ``obj`` is not a valid recording or epochs object.
    BadInputError
        If ``windows`` are given for epochs or are not ranges inside the recording.
    """
    kind = validate(obj)
    if kind == "recording":
        if windows is not None:
            windows = _check_windows(windows, obj.sizes["time"])
        return _recording_to_raw(obj, stim_as_annotations=stim_as_annotations, windows=windows)
    if kind == "epochs":
        if windows is not None:
            raise BadInputError("to_mne: windows select samples of a recording; epochs are converted whole.")
        return _dataarray_to_epochs(obj)
    raise DataModelError(f"to_mne converts 'recording' or 'epochs' objects, got a {kind!r} object.")


def _check_windows(windows: Sequence[tuple[int, int]], n_times: int) -> list[tuple[int, int]]:
    """``windows`` as a list of int ``(start, stop)`` with ``0 <= start < stop <= n_times``."""
    out = []
    for w in windows:
        try:
            a, b = (int(v) for v in w)
            ok = all(float(v) == int(v) for v in w) and 0 <= a < b <= n_times
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise BadInputError(f"to_mne: windows must be (start, stop) sample positions with 0 <= start < stop <= "
                                f"{n_times} (the recording's samples), got {w!r}.")
        out.append((a, b))
    return out


def _recording_to_raw(rec, *, stim_as_annotations: bool, windows: list[tuple[int, int]] | None = None):
    """MNE Raw of ``rec``; with ``windows`` (``[start, stop)`` sample ranges), a Raw that holds only
    those samples, computed from the (lazy) signal (see ``neurodecode.preprocess._chunked.window_raw``)."""
    mne = _mne()
    info = _info_from(rec)
    sig = rec["signal"].transpose("channel", "time")
    first_samp = int(rec.attrs.get("first_samp", 0) or 0)
    if windows is not None:
        from ..preprocess._chunked import window_raw

        raw = window_raw(info, sig.data, first_samp, windows)
    else:
        raw = mne.io.RawArray(np.asarray(sig.values, dtype=float), info, first_samp=first_samp, verbose=False)
    if "onset" in rec and rec.sizes.get("event", 0):
        # annotation onsets count from the first sample, whatever the time axis starts at (cropped data)
        onset = np.asarray(rec["onset"].values, dtype=float) - float(rec["time"].values[0])
        duration = np.asarray(rec["duration"].values, dtype=float)
        label = [str(x) for x in rec["label"].values]
        code = np.asarray(rec["code"].values, dtype=np.int64)
        origin = (np.asarray(rec["origin"].values).astype(str) if "origin" in rec
                  else np.full(onset.size, "annotation"))
        keep = np.ones(onset.size, dtype=bool)
        if "origin" in rec and not stim_as_annotations:
            has_stim = "stim" in [str(t) for t in rec["ch_type"].values]
            if has_stim:
                keep = np.asarray(rec["origin"].values).astype(str) != "stim"
        ann = mne.Annotations(
            onset[keep], duration[keep], [lab for lab, k in zip(label, keep) if k], orig_time=None,
            extras=[{"code": int(c), "origin": str(o)} for c, o in zip(code[keep], origin[keep])],
        )
        raw.set_annotations(ann, verbose=False)
    return raw


def _dataarray_to_epochs(ep):
    mne = _mne()
    info = _info_from(ep)
    ep = ep.transpose("trial", "channel", "time")
    sfreq = float(ep.attrs["sfreq"])
    n = ep.sizes["trial"]
    trial_coords = [c for c in ep.coords if ep[c].dims == ("trial",)]
    meta = pd.DataFrame({c: ep[c].values for c in trial_coords})
    codes = np.asarray(ep["code"].values, dtype=np.int64) if "code" in ep.coords else np.ones(n, dtype=np.int64)
    labels = [str(x) for x in ep["label"].values] if "label" in ep.coords else [str(c) for c in codes]
    event_id: dict[str, int] = {}
    for lab, code in zip(labels, codes):
        if lab in event_id and event_id[lab] != code:
            raise DataModelError(
                f"epochs: label {lab!r} has several codes ({event_id[lab]}, {int(code)}); MNE needs one code per "
                "label. Recode with ep.assign_coords(code=...) first."
            )
        event_id[lab] = int(code)
    if len(set(event_id.values())) != len(event_id):
        raise DataModelError(
            f"epochs: several labels share one code ({event_id}); MNE needs one label per code. "
            "Recode with ep.assign_coords(code=...) first."
        )
    if "onset" in ep.coords:
        samples = np.round(np.asarray(ep["onset"].values, dtype=float) * sfreq).astype(np.int64)
    else:
        samples = np.arange(n, dtype=np.int64)
    if np.unique(samples).size != n:  # e.g. epochs pooled from several runs: keep onsets in metadata only
        samples = np.arange(n, dtype=np.int64) * (ep.sizes["time"] + 1)
    events = np.column_stack([samples, np.zeros(n, dtype=np.int64), codes])
    epochs = mne.EpochsArray(
        np.asarray(ep.values, dtype=float), info, events=events, tmin=float(ep["time"].values[0]),
        event_id=event_id, metadata=meta, baseline=None, verbose=False,
    )
    return epochs


# --------------------------------------------------------------------------- read_eeg


_READERS = {
    "edf": "read_raw_edf",
    "bdf": "read_raw_bdf",
    "fif": "read_raw_fif",
    "brainvision": "read_raw_brainvision",
    "eeglab": "read_raw_eeglab",
}

_TRUNCATION_HINTS = ("does not match the file size", "truncated", "file size", "not stopped")


def read_eeg(
    path: str | os.PathLike,
    *,
    format: str | None = None,
    subject: str | None = None,
    session: str | None = None,
    run: str | int | None = None,
    stim_events: bool | str = "auto",
    stim_channel: str | Sequence[str] | None = None,
    chunks: float | None = None,
    **kwargs: Any,
):
    """Read an EEG/MEG file into a ``recording`` (or ``epochs`` for an epoched EEGLAB file).

    Parameters
    ----------
    path : path-like
        EDF/EDF+ (``.edf``), BDF/BDF+ (``.bdf``), FIF raw (``.fif``, ``.fif.gz``), BrainVision header
        (``.vhdr``), EEGLAB (``.set``), or Muse CSV (``.csv``, ``.csv.csv``).
    format : str, optional
        One of ``edf``, ``bdf``, ``fif``, ``brainvision``, ``eeglab``, ``muse``; from the suffix when omitted.
    subject, session, run : optional
        Stored in attrs (and as trial coords by :func:`neurodecode.preprocess.eeg.epoch`).
    stim_events, stim_channel
        See :func:`from_mne`.
    chunks : float, optional
        Read lazily, this many seconds at a time: the signal is a dask array whose blocks are read
        from the file when computed (events and metadata are read at once), so filtering
        (:func:`neurodecode.preprocess.eeg.filter`) and saving run chunk by chunk with memory bounded
        by the chunk size. Not for Muse CSV or epoched EEGLAB files (read in memory).
    **kwargs
        Passed to the MNE reader (e.g. ``eog=[...]``, ``misc=[...]``), or to :func:`read_muse_csv`.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        ``recording`` (continuous data) or ``epochs`` (epoched EEGLAB file).

    Raises
    ------
    BadInputError
        Missing, empty, truncated or unreadable file, unknown format.
    """
    path = _check_file(path)
    fmt = _detect_format(path, format)
    if fmt == "muse":
        return read_muse_csv(path, subject=subject, session=session, run=run, **kwargs)
    mne = _mne()
    if fmt in ("edf", "bdf"):
        _check_edf_size(path, fmt)
    meta = {"subject": subject, "session": session, "run": run, "source": str(path),
            "sha256": _sha256(path), "format": fmt}
    reader = getattr(mne.io, _READERS[fmt])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            inst = reader(path, preload=chunks is None, verbose=False, **kwargs)
        except Exception as err:  # noqa: BLE001 - MNE raises many types for bad files
            text = str(err)
            if fmt == "eeglab" and "read_epochs_eeglab" in text:
                return _read_eeglab_epochs(path, meta, **kwargs)
            if isinstance(err, TypeError) and "unexpected keyword" in text:
                raise BadInputError(f"bad keyword argument for mne.io.{_READERS[fmt]}: {text}") from err
            raise BadInputError(
                f"could not read {fmt.upper()} file {str(path)!r}: {type(err).__name__}: {text}. "
                "The file looks truncated or corrupt (or is not in this format); re-download or re-export it."
            ) from err
    for w in caught:
        msg = str(w.message)
        if fmt == "brainvision" and "outside data range" in msg:
            raise BadInputError(
                f"BrainVision file {str(path)!r} looks truncated: MNE reported {msg!r}, i.e. markers in the .vmrk "
                "file lie after the end of the .eeg data. Re-download or re-export the .eeg file."
            )
        if any(h in msg for h in _TRUNCATION_HINTS):
            raise BadInputError(
                f"{fmt.upper()} file {str(path)!r} looks truncated: MNE reported {msg!r}. Re-download or re-export it."
            )
        log.info("MNE warning while reading %s: %s", path.name, msg)
    if chunks is not None and isinstance(inst, mne.io.BaseRaw):
        if not float(chunks) > 0:
            raise BadInputError(f"chunks must be a positive number of seconds, got {chunks!r}.")
        step = max(1, int(round(float(chunks) * float(inst.info["sfreq"]))))
        rec = _raw_to_recording(inst, stim_events=stim_events, stim_channel=stim_channel, chunk_samples=step,
                                **meta)
    else:
        rec = from_mne(inst, stim_events=stim_events, stim_channel=stim_channel, **meta)
    log.info(
        "read %s: %d channels x %d samples at %g Hz, %d events", path.name, rec.sizes["channel"],
        rec.sizes["time"], rec.attrs["sfreq"], rec.sizes.get("event", 0),
    )
    return rec


def _read_eeglab_epochs(path: Path, meta: dict[str, Any], **kwargs: Any):
    mne = _mne()
    try:
        epochs = mne.read_epochs_eeglab(path, verbose=False, **kwargs)
    except Exception as err:  # noqa: BLE001
        raise BadInputError(
            f"could not read epoched EEGLAB file {str(path)!r}: {type(err).__name__}: {err}. "
            "It looks truncated or corrupt (check that the .fdt file is complete)."
        ) from err
    ep = from_mne(epochs, **meta)
    log.info("read %s: %d epochs x %d channels x %d samples", path.name, *ep.shape)
    return ep


# --------------------------------------------------------------------------- Muse CSV


def _muse_positions(names: Sequence[str]) -> np.ndarray:
    """Head-frame positions of Muse electrodes from MNE's standard 10-05 montage (NaN if absent)."""
    mne = _mne()
    builtin = mne.channels.get_builtin_montages()
    which = "colin27_1005" if "colin27_1005" in builtin else "standard_1005"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        montage = mne.channels.make_standard_montage(which)
    info = mne.create_info(list(names), 256.0, "eeg", verbose=False)
    info.set_montage(montage, on_missing="ignore", verbose=False)
    return _positions(info)


def _robust_period(t: np.ndarray) -> float:
    """Sample period from timestamps: median slope over long lags (robust to jitter and gaps)."""
    n = t.size
    lag = max(1, min(n // 4, 2560))
    slopes = (t[lag:] - t[:-lag]) / lag
    return float(np.median(slopes))


def _fitted_period(t: np.ndarray, gaps: Sequence[Mapping[str, Any]]) -> float:
    """Least-squares slope of timestamp vs sample index, after removing the steps of known gaps."""
    corrected = np.array(t, dtype=float)
    for gap in gaps:
        corrected[int(gap["sample"]):] -= float(gap["missing_s"])
    idx = np.arange(corrected.size, dtype=float)
    slope = np.polyfit(idx, corrected, 1)[0]
    return float(slope)


def _find_gaps(t: np.ndarray, period: float, max_gap_samples: float) -> list[dict[str, Any]]:
    """Timestamp jumps larger than ``max_gap_samples`` sample periods that persist (not jitter).

    The local clock offset (timestamp minus the ideal regular clock) is smoothed with a running median
    over about 1 s; dropped samples show as a lasting step of the offset, jitter does not.
    """
    from scipy.ndimage import median_filter

    n = t.size
    if n < 8:
        return []
    idx = np.arange(n)
    resid = t - t[0] - idx * period
    win = int(min(n // 2 * 2 - 1, max(25, round(1.0 / period) | 1)))
    smooth = median_filter(resid, size=win, mode="nearest")
    half = win // 2
    step = np.zeros(n)
    if n > 2 * half:
        step[half: n - half] = smooth[2 * half:] - smooth[: n - 2 * half]
    thr = max_gap_samples * period
    above = np.abs(step) > thr
    gaps = []
    if not above.any():
        return gaps
    edges = np.diff(np.r_[0, above.astype(int), 0])
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        lo, hi = max(1, start - half), min(n - 1, stop + half)
        k = lo + int(np.argmax(np.abs(np.diff(t[lo - 1: hi + 1]))[: hi - lo + 1]))
        before = np.median(resid[max(0, k - half): k])
        after = np.median(resid[k: min(n, k + half)])
        missing = float(after - before)
        if abs(missing) > thr and not any(g["sample"] == k for g in gaps):
            gaps.append(
                {
                    "sample": int(k),
                    "time": float(k * period),
                    "missing_s": missing,
                    "missing_samples": float(missing / period),
                }
            )
    return gaps


def read_muse_csv(
    path: str | os.PathLike,
    *,
    sfreq: float | None = 256.0,
    subject: str | None = None,
    session: str | None = None,
    run: str | int | None = None,
    drop_aux: bool = False,
    sfreq_tolerance: float = 0.02,
    max_gap_samples: float = 4.0,
    on_gap: str = "raise",
    markers: Mapping[int, str] | None = None,
):
    """Read a Muse headband CSV export (TP9, AF7, AF8, TP10, Right AUX, Marker0) into a ``recording``.

    Parameters
    ----------
    path : path-like
        CSV with columns ``timestamps,TP9,AF7,AF8,TP10[,Right AUX][,Marker0]``; values in microvolts.
    sfreq : float or None
        Nominal sampling rate (256 Hz for the Muse 2016). The rate measured from the timestamps must be
        within ``sfreq_tolerance`` of it; ``None`` uses the measured rate.
    subject, session, run : optional
        Stored in attrs.
    drop_aux : bool
        Drop the ``Right AUX`` column (kept as ``ch_type == "misc"`` otherwise: it is often unconnected).
    sfreq_tolerance : float
        Largest accepted relative difference between the measured and nominal rates (0.02 = 2 %).
    max_gap_samples : float
        A lasting timestamp jump of more than this many sample periods is a gap (dropped samples).
    on_gap : {"raise", "annotate"}
        ``"raise"``: a gap raises :class:`BadInputError`. ``"annotate"``: each gap becomes a ``BAD_gap`` event
        (so epochs across it are rejected) and is listed in ``attrs['gaps']``; the samples are not shifted.
    markers : mapping, optional
        Marker0 value -> label; default ``{1: "house", 2: "face"}``. Other non-zero values get ``"marker_<v>"``.

    Returns
    -------
    xarray.Dataset
        ``recording`` in volts, ``time`` from 0 at the first sample with the nominal rate, Marker0 events,
        attrs ``sfreq_measured``, ``timestamp_first``, ``timestamp_clock`` (``unix`` or ``device``),
        ``meas_date`` (Unix clocks only), ``gaps``, ``n_nonmonotonic_timestamps``, ``sha256``, ``source``.

    Raises
    ------
    BadInputError
        Missing/empty/truncated file, missing columns, non-numeric or NaN values, measured rate far from
        ``sfreq``, or gaps (with ``on_gap="raise"``).
    """
    path = _check_file(path)
    if on_gap not in ("raise", "annotate"):
        raise BadInputError(f"on_gap must be 'raise' or 'annotate', got {on_gap!r}.")
    raw_bytes = path.read_bytes()
    try:
        df = pd.read_csv(io.BytesIO(raw_bytes))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise BadInputError(f"Muse CSV {str(path)!r} cannot be parsed ({err}); it looks truncated or corrupt.") from err
    df.columns = [str(c).strip() for c in df.columns]
    needed = ["timestamps", *MUSE_CHANNELS]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise BadInputError(
            f"Muse CSV {str(path)!r} lacks column(s) {missing}; found {list(df.columns)}. "
            "Expected timestamps,TP9,AF7,AF8,TP10[,Right AUX][,Marker0] (a Muse/muse-lsl export)."
        )
    if len(df) < 2:
        raise BadInputError(f"Muse CSV {str(path)!r} holds {len(df)} sample row(s); it looks truncated.")
    channels = list(MUSE_CHANNELS)
    if "Right AUX" in df.columns and not drop_aux:
        channels.append("Right AUX")
    numeric_cols = ["timestamps", *channels] + (["Marker0"] if "Marker0" in df.columns else [])
    for col in numeric_cols:
        if df[col].dtype.kind not in "iuf":
            conv = pd.to_numeric(df[col], errors="coerce")
            bad_rows = np.flatnonzero(conv.isna() & df[col].notna())
            if bad_rows.size:
                raise BadInputError(
                    f"Muse CSV {str(path)!r}: column {col!r} holds non-numeric values (first at data row "
                    f"{int(bad_rows[0]) + 1}: {df[col].iloc[bad_rows[0]]!r})."
                )
            df[col] = conv
    nan_mask = df[numeric_cols].isna().to_numpy()
    if nan_mask.any():
        rows, cols = np.nonzero(nan_mask)
        last_only = set(rows.tolist()) == {len(df) - 1}
        hint = " The last row is incomplete: the file looks truncated." if last_only else ""
        raise BadInputError(
            f"Muse CSV {str(path)!r} has {int(nan_mask.sum())} empty/NaN value(s), first in column "
            f"{numeric_cols[cols[0]]!r} at data row {int(rows[0]) + 1}.{hint} Repair or re-export the file."
        )
    t = df["timestamps"].to_numpy(dtype=float)
    n = t.size
    period = _robust_period(t)
    if not np.isfinite(period) or period <= 0:
        raise BadInputError(
            f"Muse CSV {str(path)!r}: timestamps do not increase (median slope {period!r} s/sample); "
            "the timestamp column is broken."
        )
    gaps = _find_gaps(t, period, max_gap_samples)
    measured = 1.0 / _fitted_period(t, gaps)
    if sfreq is None:
        sfreq = measured
    sfreq = float(sfreq)
    rel = abs(measured - sfreq) / sfreq
    if rel > sfreq_tolerance:
        raise BadInputError(
            f"Muse CSV {str(path)!r}: the sampling rate measured from the timestamps is {measured:.3f} Hz, "
            f"but the nominal rate is {sfreq:g} Hz ({100 * rel:.1f} % apart, tolerance "
            f"{100 * sfreq_tolerance:g} %). If the device really ran at the measured rate, pass "
            f"sfreq={measured:.3f} (or sfreq=None to use the measured rate); if the timestamps are wrong, "
            "raise sfreq_tolerance."
        )
    if gaps and on_gap == "raise":
        first = gaps[0]
        raise BadInputError(
            f"Muse CSV {str(path)!r}: {len(gaps)} gap(s) in the timestamps (dropped samples), first at data row "
            f"{first['sample'] + 1} (t = {first['time']:.3f} s, about {first['missing_samples']:.1f} samples "
            "missing). Pass on_gap='annotate' to keep the file and mark each gap as a BAD_gap event."
        )
    data = df[channels].to_numpy(dtype=float).T * 1e-6
    ch_types = ["eeg"] * len(MUSE_CHANNELS) + (["misc"] if len(channels) > len(MUSE_CHANNELS) else [])
    labels_map = dict(MUSE_MARKERS if markers is None else markers)
    onsets: list[float] = []
    labels: list[str] = []
    codes: list[int] = []
    if "Marker0" in df.columns:
        marker = df["Marker0"].to_numpy()
        if not np.allclose(marker, np.round(marker)):
            raise BadInputError(f"Muse CSV {str(path)!r}: Marker0 holds non-integer values.")
        marker = np.round(marker).astype(np.int64)
        for k in np.flatnonzero(marker != 0):
            code = int(marker[k])
            onsets.append(k / sfreq)
            labels.append(labels_map.get(code, f"marker_{code}"))
            codes.append(code)
        unknown = sorted({c for c in codes if c not in labels_map})
        if unknown:
            log.warning("%s: Marker0 values %s have no label; named 'marker_<value>'.", path.name, unknown)
    origins = ["marker"] * len(onsets)
    for g in gaps:
        onsets.append(g["sample"] / sfreq)
        labels.append("BAD_gap")
        codes.append(BAD_CODE)
        origins.append("annotation")
    order = np.argsort(np.asarray(onsets, dtype=float), kind="stable")
    events = make_events(
        np.asarray(onsets, dtype=float)[order],
        np.asarray(labels, dtype=object)[order].astype(str) if labels else np.zeros(0, dtype=str),
        duration=np.where(np.asarray(labels, dtype=object)[order] == "BAD_gap", 1.0 / sfreq, 0.0) if labels else None,
        code=np.asarray(codes, dtype=np.int64)[order],
        origin=np.asarray(origins, dtype=object)[order].astype(str) if origins else np.zeros(0, dtype=str),
    )
    clock = "unix" if t[0] > 1e9 else "device"
    attrs: dict[str, Any] = {
        "subject": subject,
        "session": session,
        "run": run,
        "source": str(path),
        "sha256": _sha256_bytes(raw_bytes),
        "format": "muse",
        "device": "Muse",
        "sfreq_measured": float(measured),
        "timestamp_first": float(t[0]),
        "timestamp_clock": clock,
        "gaps": gaps,
        "n_nonmonotonic_timestamps": int(np.count_nonzero(np.diff(t) <= 0)),
        "bads": [],
        "first_samp": 0,
        "highpass": 0.0,
        "lowpass": sfreq / 2.0,
    }
    if clock == "unix":
        attrs["meas_date"] = _dt.datetime.fromtimestamp(float(t[0]), tz=_dt.timezone.utc).isoformat()
    rec = make_recording(
        data,
        sfreq,
        channels,
        ch_types,
        events=events,
        positions=_muse_positions(channels),
        units="V",
        modality="eeg",
        **attrs,
    )
    rec = rec.assign_coords(ch_unit=("channel", np.array(["V"] * len(channels), dtype=object)))
    validate(rec, "recording")
    if gaps:
        log.warning("%s: %d timestamp gap(s) marked as BAD_gap events: %s", path.name, len(gaps), gaps)
    log.info(
        "read %s: %d samples, nominal %g Hz, measured %.3f Hz, %d markers",
        path.name, n, sfreq, measured, int(np.sum(np.asarray(codes) > 0)),
    )
    return rec
