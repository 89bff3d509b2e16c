"""The labelled data model: xarray objects with named dims, coords and attrs.

Every public entry point of neurodecode takes and returns one of the kinds
below, and calls :func:`validate` on what it receives. The kinds are

==================  ================================  =========================================
kind                dims                              required coords / attrs
==================  ================================  =========================================
``recording``       Dataset: ``signal`` (channel,     ``channel``, ``time``, ``ch_type``; attrs
                    time) + ``onset``, ``duration``,  ``sfreq``. Events live on the ``event``
                    ``label``, ``code`` on ``event``  dim of the same Dataset.
``events``          Dataset on ``event``              ``onset``, ``duration``, ``label``, ``code``
``epochs``          (trial, channel, time)            ``channel``, ``time``; attr ``sfreq``;
                                                      per-trial metadata as coords on ``trial``
``bold``            (time, voxel) or (time, roi)      attr ``tr``; voxel: ``i``, ``j``, ``k`` and
                                                      attrs ``affine`` (16 floats), ``shape``;
                                                      roi: ``roi`` names
``responses``       (trial|stimulus, neuroid)         ``neuroid``
``binned_spikes``   (time, unit)                      ``unit``, ``time``; attr ``bin_size``
``spike_trains``    Dataset: ``spike_time``,          ``unit``; attrs ``t_start``, ``t_stop``
                    ``spike_unit`` on ``spike``;
                    unit metadata on ``unit``
``rdm``             (rdm, stimulus, stimulus_)        attr ``method``
``activations``     Dataset of (stimulus, feature)    attr ``model``
                    arrays, one per layer
==================  ================================  =========================================

The helper constructors (:func:`make_recording`, :func:`make_epochs`, ...) build
valid objects from plain arrays; :func:`validate` checks an object and raises a
:class:`~neurodecode.errors.DataModelError` that names what is missing and how
to add it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import DataModelError

KINDS = (
    "recording",
    "events",
    "epochs",
    "bold",
    "responses",
    "binned_spikes",
    "spike_trains",
    "rdm",
    "activations",
)

__all__ = [
    "KINDS",
    "validate",
    "kind_of",
    "make_recording",
    "make_events",
    "make_epochs",
    "make_bold",
    "make_responses",
    "make_binned_spikes",
    "make_spike_trains",
    "empty_events",
    "events_of",
    "signal_of",
]


def _xr():
    import xarray as xr

    return xr


# --------------------------------------------------------------------------- kind detection


def kind_of(obj: Any) -> str:
    """Return the data-model kind of ``obj`` (one of :data:`KINDS`).

    Uses the ``nd_kind`` attribute when present, otherwise infers it from the dims.

    Raises
    ------
    DataModelError
        If ``obj`` is not an xarray object or its dims match no kind.
    """
    xr = _xr()
    if not isinstance(obj, (xr.DataArray, xr.Dataset)):
        raise DataModelError(
            f"expected an xarray DataArray or Dataset, got {type(obj).__name__}; "
            "build one with the neurodecode.datamodel.make_* helpers or a neurodecode loader."
        )
    tagged = obj.attrs.get("nd_kind")
    if tagged in KINDS:
        return tagged
    dims = set(obj.dims)
    if isinstance(obj, xr.Dataset):
        if "signal" in obj.data_vars and {"channel", "time"} <= set(obj["signal"].dims):
            return "recording"
        if "spike_time" in obj.data_vars:
            return "spike_trains"
        if dims == {"event"} or ("onset" in obj and "event" in dims and "signal" not in obj):
            return "events"
        if obj.data_vars and all(
            set(v.dims) == {"stimulus", f"feature_{k}"} or set(v.dims) == {"stimulus", "feature"}
            or v.dims[0] == "stimulus"
            for k, v in obj.data_vars.items()
        ):
            return "activations"
        raise DataModelError(
            f"cannot tell which data-model kind this Dataset is (data_vars {list(obj.data_vars)}, "
            f"dims {sorted(dims)}); set attrs['nd_kind'] to one of {KINDS}."
        )
    if {"rdm", "stimulus", "stimulus_"} <= dims:
        return "rdm"
    if {"trial", "channel", "time"} <= dims:
        return "epochs"
    if "time" in dims and ("voxel" in dims or "roi" in dims):
        return "bold"
    if "time" in dims and "unit" in dims:
        return "binned_spikes"
    if "neuroid" in dims and ("trial" in dims or "stimulus" in dims):
        return "responses"
    if {"channel", "time"} <= dims:
        return "recording"
    raise DataModelError(
        f"cannot tell which data-model kind an array with dims {obj.dims} is. Expected one of: "
        "(channel, time) recording, (trial, channel, time) epochs, (time, voxel|roi) BOLD, "
        "(trial|stimulus, neuroid) responses, (time, unit) binned spikes, (rdm, stimulus, stimulus_) RDMs. "
        "Rename dims with obj.rename({...}) or transpose to match."
    )


# --------------------------------------------------------------------------- validation


def _need_dims(obj, dims: Sequence[str], kind: str) -> None:
    missing = [d for d in dims if d not in obj.dims]
    if missing:
        raise DataModelError(
            f"{kind}: missing dim(s) {missing}; got dims {tuple(obj.dims)}. "
            f"A {kind} needs dims {tuple(dims)}: rename with obj.rename({{'old': '{missing[0]}'}}) "
            "or expand with obj.expand_dims(...)."
        )


def _need_coords(obj, coords: Sequence[str], kind: str) -> None:
    missing = [c for c in coords if c not in obj.coords]
    if missing:
        raise DataModelError(
            f"{kind}: missing coord(s) {missing}. Add them with "
            f"obj.assign_coords({missing[0]}=(dim, values))."
        )


def _need_attrs(obj, attrs: Sequence[str], kind: str) -> None:
    missing = [a for a in attrs if a not in obj.attrs]
    if missing:
        raise DataModelError(
            f"{kind}: missing attr(s) {missing}. Set them with obj.attrs[{missing[0]!r}] = value."
        )


def _positive_attr(obj, name: str, kind: str) -> None:
    value = obj.attrs[name]
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        value, number = value.item(), True
    try:
        ok = number and float(value) > 0 and np.isfinite(float(value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        hint = " (a string: convert it with float(...))" if isinstance(value, str) else ""
        raise DataModelError(f"{kind}: attr {name!r} must be a positive finite number, got {value!r}{hint}.")


def _check_numeric(arr, name: str, kind: str) -> None:
    if arr.dtype.kind not in "biuf":
        what = "complex" if arr.dtype.kind == "c" else f"non-numeric ({arr.dtype})"
        raise DataModelError(
            f"{kind}: {name} is {what}; neurodecode expects real numbers. "
            + ("Take the magnitude (np.abs) or the real part first." if arr.dtype.kind == "c"
               else "Convert it with .astype(float) after checking what the values mean.")
        )


def _check_not_empty(obj, dim: str, kind: str) -> None:
    if dim in obj.dims and obj.sizes[dim] == 0:
        raise DataModelError(f"{kind}: the {dim!r} dim is empty (zero {dim}s); there is nothing to analyse.")


def _check_time(obj, kind: str, step: float | None, step_name: str) -> None:
    """``time`` strictly increasing and (when ``step`` is given) spaced by ``step`` seconds."""
    if "time" not in obj.coords or obj.sizes.get("time", 0) < 2:
        return
    t = np.asarray(obj["time"].values)
    if t.dtype.kind not in "iuf":
        raise DataModelError(f"{kind}: the 'time' coord must hold seconds as numbers, got dtype {t.dtype}.")
    dt = np.diff(t.astype(np.float64))
    if not np.all(np.isfinite(dt)) or np.any(dt <= 0):
        first = int(np.argmax(~(dt > 0)))
        raise DataModelError(
            f"{kind}: the 'time' coord is not strictly increasing (at index {first}: {t[first]!r} -> "
            f"{t[first + 1]!r}); sort by time (obj.sortby('time')) or fix the time stamps."
        )
    if step is not None and np.isfinite(step) and step > 0:
        median = float(np.median(dt))
        if abs(median - step) > 0.01 * step:
            ratio = median / step
            hint = (" The time coord looks like milliseconds: divide it by 1000." if abs(ratio - 1000) < 10
                    else "")
            raise DataModelError(
                f"{kind}: the 'time' coord advances by {median:g} per sample but {step_name} implies "
                f"{step:g} s.{hint} Time is in seconds everywhere in neurodecode."
            )


def _check_unique(obj, dim: str, kind: str) -> None:
    if dim in obj.coords and obj.sizes.get(dim, 0) > 0:
        idx = obj.indexes.get(dim)
        if idx is not None and not idx.is_unique:
            dup = idx[idx.duplicated()].unique()[:5].tolist()
            raise DataModelError(
                f"{kind}: coord {dim!r} has duplicated labels {dup}; labels must be unique "
                f"(rename them, e.g. append a suffix)."
            )


def _check_finite(arr, name: str, kind: str) -> None:
    data = arr.data
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.complexfloating):
        return
    if hasattr(data, "dask"):
        return  # never force a compute during validation; checked when loaded
    bad = ~np.isfinite(np.asarray(data))
    if bad.any():
        where = np.argwhere(bad)[0]
        loc = {d: int(i) for d, i in zip(arr.dims, where)}
        raise DataModelError(
            f"{kind}: {name} has {int(bad.sum())} NaN/inf value(s) (first at {loc}). "
            "Interpolate or drop the bad channels/samples first (e.g. neurodecode.preprocess.eeg.mark_bad), "
            "or pass finite=False to validate if NaNs are intended."
        )


def validate(obj: Any, kind: str | None = None, *, finite: bool = True) -> str:
    """Check that ``obj`` follows the data model, and return its kind.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        The object to check.
    kind : str, optional
        Expected kind (one of :data:`KINDS`). Inferred from dims when omitted.
    finite : bool
        Also check that floating data hold no NaN or inf (skipped for lazy dask data).

    Returns
    -------
    str
        The kind of ``obj``.

    Raises
    ------
    DataModelError
        Naming the missing dim, coord or attr (or the bad values) and how to fix it.
    """
    xr = _xr()
    if kind is not None and kind not in KINDS:
        raise DataModelError(f"unknown kind {kind!r}; expected one of {KINDS}.")
    actual = kind_of(obj) if kind is None else kind
    if kind is not None and not isinstance(obj, (xr.DataArray, xr.Dataset)):
        kind_of(obj)  # raises the type error
    if actual == "recording":
        if not isinstance(obj, xr.Dataset) or "signal" not in obj:
            raise DataModelError(
                "recording: expected a Dataset with a 'signal' variable (channel, time) and events on "
                "an 'event' dim; wrap a DataArray with neurodecode.datamodel.make_recording(...)."
            )
        sig = obj["signal"]
        _need_dims(sig, ("channel", "time"), actual)
        _need_coords(obj, ("channel", "time", "ch_type"), actual)
        _need_attrs(obj, ("sfreq",), actual)
        _positive_attr(obj, "sfreq", actual)
        _check_unique(obj, "channel", actual)
        if sig.sizes["time"] == 0:
            raise DataModelError("recording: 'time' is empty; the recording holds no samples.")
        _check_not_empty(sig, "channel", actual)
        _check_numeric(sig, "signal", actual)
        _check_time(obj, actual, 1.0 / float(obj.attrs["sfreq"]), f"sfreq={obj.attrs['sfreq']}")
        if finite:
            _check_finite(sig, "signal", actual)
        _validate_events(obj, actual)
    elif actual == "events":
        _validate_events(obj, actual, required=True)
    elif actual == "epochs":
        _need_dims(obj, ("trial", "channel", "time"), actual)
        _need_coords(obj, ("channel", "time"), actual)
        _need_attrs(obj, ("sfreq",), actual)
        _positive_attr(obj, "sfreq", actual)
        _check_unique(obj, "channel", actual)
        if obj.sizes["trial"] == 0:
            raise DataModelError(
                "epochs: no trials left (the 'trial' dim is empty); loosen the selection or rejection "
                "threshold that removed them."
            )
        _check_not_empty(obj, "channel", actual)
        _check_numeric(obj, "data", actual)
        _check_time(obj, actual, 1.0 / float(obj.attrs["sfreq"]), f"sfreq={obj.attrs['sfreq']}")
        if finite:
            _check_finite(obj, "data", actual)
    elif actual == "bold":
        _need_dims(obj, ("time",), actual)
        space = "voxel" if "voxel" in obj.dims else "roi" if "roi" in obj.dims else None
        if space is None:
            raise DataModelError(
                f"bold: needs a 'voxel' or 'roi' dim besides 'time'; got dims {tuple(obj.dims)}."
            )
        _need_attrs(obj, ("tr",), actual)
        _positive_attr(obj, "tr", actual)
        if space == "voxel":
            _need_coords(obj, ("i", "j", "k"), actual)
            _need_attrs(obj, ("affine", "shape"), actual)
            if np.asarray(obj.attrs["affine"]).size != 16:
                raise DataModelError("bold: attr 'affine' must hold the 4x4 affine (16 numbers).")
            _check_voxels(obj)
        else:
            _need_coords(obj, ("roi",), actual)
        _check_not_empty(obj, space, actual)
        _check_numeric(obj, "data", actual)
        _check_time(obj, actual, None, "")
        if finite:
            _check_finite(obj, "data", actual)
    elif actual == "responses":
        _need_dims(obj, ("neuroid",), actual)
        if "trial" not in obj.dims and "stimulus" not in obj.dims:
            raise DataModelError(
                f"responses: needs a 'trial' or 'stimulus' dim besides 'neuroid'; got {tuple(obj.dims)}."
            )
        _check_not_empty(obj, "neuroid", actual)
        _check_numeric(obj, "data", actual)
        if finite:
            _check_finite(obj, "data", actual)
    elif actual == "binned_spikes":
        _need_dims(obj, ("time", "unit"), actual)
        _need_coords(obj, ("time", "unit"), actual)
        _need_attrs(obj, ("bin_size",), actual)
        _positive_attr(obj, "bin_size", actual)
        _check_unique(obj, "unit", actual)
        _check_not_empty(obj, "unit", actual)
        _check_numeric(obj, "counts", actual)
        _check_time(obj, actual, float(obj.attrs["bin_size"]), f"bin_size={obj.attrs['bin_size']}")
        if finite:
            _check_finite(obj, "data", actual)
    elif actual == "spike_trains":
        if not isinstance(obj, xr.Dataset):
            raise DataModelError("spike_trains: expected a Dataset; build one with make_spike_trains(...).")
        for var in ("spike_time", "spike_unit"):
            if var not in obj:
                raise DataModelError(f"spike_trains: missing variable {var!r} on dim 'spike'.")
        _need_coords(obj, ("unit",), actual)
        _need_attrs(obj, ("t_start", "t_stop"), actual)
        units = np.asarray(obj["spike_unit"].values)
        if units.dtype.kind not in "iu":
            raise DataModelError(
                f"spike_trains: 'spike_unit' must hold integer unit indices, got dtype {units.dtype} "
                "(floats would be truncated when binning); convert with .astype(int) after checking them."
            )
        _check_numeric(obj["spike_time"], "spike_time", actual)
        if units.size and (units.min() < 0 or units.max() >= obj.sizes["unit"]):
            raise DataModelError(
                "spike_trains: 'spike_unit' holds indices outside the 'unit' dim; it must index units 0..n-1."
            )
        if finite:
            _check_finite(obj["spike_time"], "spike_time", actual)
    elif actual == "rdm":
        _need_dims(obj, ("rdm", "stimulus", "stimulus_"), actual)
        if obj.sizes["stimulus"] != obj.sizes["stimulus_"]:
            raise DataModelError("rdm: 'stimulus' and 'stimulus_' must have the same length (square RDMs).")
        _need_attrs(obj, ("method",), actual)
        _check_numeric(obj, "dissimilarities", actual)
        if not hasattr(obj.data, "dask"):
            m = np.asarray(obj.transpose("rdm", "stimulus", "stimulus_").values, dtype=np.float64)
            diff = np.abs(m - np.swapaxes(m, 1, 2))
            scale = np.nanmax(np.abs(m)) if m.size and np.isfinite(m).any() else 1.0
            if np.nanmax(diff, initial=0.0) > 1e-6 * max(scale, 1e-12):
                r = int(np.argmax(np.nanmax(diff, axis=(1, 2))))
                raise DataModelError(
                    f"rdm: RDM {r} is not symmetric (largest |d[i,j] - d[j,i]| = {np.nanmax(diff):.3g}); "
                    "an RDM holds one dissimilarity per pair. Average it with its transpose if that is meant."
                )
    elif actual == "activations":
        if not isinstance(obj, xr.Dataset) or not obj.data_vars:
            raise DataModelError("activations: expected a Dataset with one (stimulus, feature) array per layer.")
        for name, var in obj.data_vars.items():
            if var.dims[0] != "stimulus":
                raise DataModelError(
                    f"activations: layer {name!r} has dims {var.dims}; the first dim must be 'stimulus'."
                )
    return actual


def _check_voxels(obj) -> None:
    affine = np.asarray(obj.attrs["affine"], dtype=float)
    if not np.all(np.isfinite(affine)):
        raise DataModelError("bold: attr 'affine' holds NaN/inf; it must map voxel indices to millimetres.")
    ijk = np.stack([np.asarray(obj[c].values) for c in ("i", "j", "k")], axis=1)
    if ijk.size == 0:
        return
    if ijk.dtype.kind not in "iu":
        if ijk.dtype.kind != "f" or not np.all(np.isfinite(ijk)) or np.any(ijk != np.round(ijk)):
            raise DataModelError("bold: voxel indices i, j, k must be whole numbers.")
        ijk = ijk.astype(np.int64)
    shape = np.asarray(obj.attrs["shape"], dtype=np.int64).ravel()[:3]
    if shape.size == 3:
        out = np.any((ijk < 0) | (ijk >= shape), axis=1)
        if out.any():
            raise DataModelError(
                f"bold: {int(out.sum())} voxel(s) have indices outside the volume {tuple(shape.tolist())}, first "
                f"{tuple(ijk[out][0].tolist())}; the indices and the volume shape come from different images."
            )
    _, counts = np.unique(ijk, axis=0, return_counts=True)
    if np.any(counts > 1):
        raise DataModelError(f"bold: {int((counts > 1).sum())} voxel position(s) appear more than once in i, j, k; "
                             "each voxel must be listed once.")


def _validate_events(obj, kind: str, required: bool = False) -> None:
    names = ("onset", "duration", "label", "code")
    present = [n for n in names if n in obj.variables]
    if not present and not required:
        return
    missing = [n for n in names if n not in obj.variables]
    if missing:
        raise DataModelError(
            f"{kind}: events need variables {names} on the 'event' dim; missing {missing}. "
            "Build them with neurodecode.datamodel.make_events(onset, label, ...)."
        )
    onset = np.asarray(obj["onset"].values, dtype=float)
    if onset.size and not np.all(np.isfinite(onset)):
        raise DataModelError(f"{kind}: event onsets contain NaN/inf.")
    if kind == "recording" and onset.size:
        t = obj["time"].values
        lo, hi = float(t[0]), float(t[-1]) + 1.0 / float(obj.attrs["sfreq"])
        outside = (onset < lo - 1e-9) | (onset > hi + 1e-9)
        if outside.any():
            raise DataModelError(
                f"{kind}: {int(outside.sum())} event(s) lie outside the recording "
                f"({lo:.3f}..{hi:.3f} s), first at {onset[outside][0]:.3f} s; drop or correct them."
            )


# --------------------------------------------------------------------------- constructors


def empty_events():
    """An events Dataset with no events."""
    return make_events(np.zeros(0), np.zeros(0, dtype=str))


def make_events(
    onset: Sequence[float] | np.ndarray,
    label: Sequence[str] | np.ndarray,
    duration: Sequence[float] | np.ndarray | None = None,
    code: Sequence[int] | np.ndarray | None = None,
    **extra: Any,
):
    """Build an events Dataset (dim ``event``) from onsets in seconds and labels.

    Extra keyword arguments become additional per-event variables.
    """
    xr = _xr()
    onset = np.asarray(onset, dtype=float).reshape(-1)
    n = onset.size
    label = np.asarray(label, dtype=str).reshape(-1)
    if label.size != n:
        raise DataModelError(f"events: {n} onsets but {label.size} labels.")
    duration = np.zeros(n) if duration is None else np.asarray(duration, dtype=float).reshape(-1)
    if code is None:
        uniq = {lab: i + 1 for i, lab in enumerate(dict.fromkeys(label.tolist()))}
        code = np.array([uniq[lab] for lab in label.tolist()], dtype=np.int64)
    code = np.asarray(code, dtype=np.int64).reshape(-1)
    data = {
        "onset": ("event", onset),
        "duration": ("event", duration),
        "label": ("event", label.astype(object) if n else label),
        "code": ("event", code),
    }
    for key, val in extra.items():
        data[key] = ("event", np.asarray(val))
    ds = xr.Dataset(data, coords={"event": np.arange(n)})
    ds.attrs["nd_kind"] = "events"
    return ds


def make_recording(
    data: np.ndarray,
    sfreq: float,
    ch_names: Sequence[str],
    ch_types: Sequence[str] | str = "eeg",
    *,
    t0: float = 0.0,
    times: np.ndarray | None = None,
    events=None,
    positions: np.ndarray | None = None,
    units: str = "V",
    modality: str = "eeg",
    **attrs: Any,
):
    """Build a continuous recording Dataset from a (channel, time) array.

    Parameters
    ----------
    data : array (n_channels, n_times)
    sfreq : float
        Sampling rate in Hz.
    ch_names, ch_types : sequence of str
        Channel names and MNE channel types (one string applies to all channels).
    t0 : float
        Time of the first sample in seconds (ignored when ``times`` is given).
    events : Dataset, optional
        From :func:`make_events`; onsets in seconds on the same clock as ``time``.
    positions : array (n_channels, 3), optional
        Sensor positions in metres (head coordinates); NaN where unknown.
    **attrs
        ``subject``, ``session``, ``run``, ``source`` and anything else to keep.
    """
    xr = _xr()
    data = data if hasattr(data, "dask") else np.asarray(data)  # a dask array stays lazy
    if data.ndim != 2:
        raise DataModelError(f"recording: data must be 2-D (channel, time), got shape {data.shape}.")
    n_ch, n_t = data.shape
    ch_names = [str(c) for c in ch_names]
    if len(ch_names) != n_ch:
        raise DataModelError(f"recording: {n_ch} channels in data but {len(ch_names)} names.")
    if isinstance(ch_types, str):
        ch_types = [ch_types] * n_ch
    if len(ch_types) != n_ch:
        raise DataModelError(f"recording: {n_ch} channels in data but {len(ch_types)} channel types.")
    if times is None:
        times = t0 + np.arange(n_t) / float(sfreq)
    coords: dict[str, Any] = {
        "channel": np.array(ch_names, dtype=object),
        "time": np.asarray(times, dtype=float),
        "ch_type": ("channel", np.array(list(ch_types), dtype=object)),
    }
    if positions is not None:
        positions = np.asarray(positions, dtype=float)
        if positions.shape != (n_ch, 3):
            raise DataModelError(f"recording: positions must be (n_channels, 3), got {positions.shape}.")
        coords["pos_x"] = ("channel", positions[:, 0])
        coords["pos_y"] = ("channel", positions[:, 1])
        coords["pos_z"] = ("channel", positions[:, 2])
    ds = xr.Dataset({"signal": (("channel", "time"), data)}, coords=coords)
    if events is None:
        events = empty_events()
    for name in events.data_vars:
        ds[name] = ("event", events[name].values)
    ds = ds.assign_coords(event=np.arange(events.sizes.get("event", 0)))
    ds.attrs.update(
        {"nd_kind": "recording", "sfreq": float(sfreq), "units": units, "modality": modality}
    )
    ds.attrs.update({k: v for k, v in attrs.items() if v is not None})
    return ds


def events_of(recording):
    """Return the events Dataset (dim ``event``) of a recording."""
    names = [n for n in recording.data_vars if "event" in recording[n].dims]
    ev = recording[names]
    ev.attrs = {"nd_kind": "events"}
    return ev


def signal_of(recording):
    """Return the (channel, time) signal DataArray of a recording, with its attrs."""
    sig = recording["signal"]
    sig = sig.assign_attrs({k: v for k, v in recording.attrs.items() if k != "nd_kind"})
    return sig


def make_epochs(
    data: np.ndarray,
    sfreq: float,
    ch_names: Sequence[str],
    tmin: float,
    *,
    ch_types: Sequence[str] | str = "eeg",
    metadata: Mapping[str, Sequence[Any]] | None = None,
    trial: Sequence[Any] | None = None,
    **attrs: Any,
):
    """Build an epochs DataArray (trial, channel, time); ``metadata`` becomes coords on ``trial``."""
    xr = _xr()
    data = np.asarray(data)
    if data.ndim != 3:
        raise DataModelError(f"epochs: data must be 3-D (trial, channel, time), got shape {data.shape}.")
    n_tr, n_ch, n_t = data.shape
    if isinstance(ch_types, str):
        ch_types = [ch_types] * n_ch
    coords: dict[str, Any] = {
        "trial": np.arange(n_tr) if trial is None else np.asarray(trial),
        "channel": np.array([str(c) for c in ch_names], dtype=object),
        "time": tmin + np.arange(n_t) / float(sfreq),
        "ch_type": ("channel", np.array(list(ch_types), dtype=object)),
    }
    for key, values in (metadata or {}).items():
        values = np.asarray(values)
        if values.shape[0] != n_tr:
            raise DataModelError(f"epochs: metadata {key!r} has {values.shape[0]} values for {n_tr} trials.")
        coords[key] = ("trial", values)
    da = xr.DataArray(data, dims=("trial", "channel", "time"), coords=coords, name="epochs")
    da.attrs.update({"nd_kind": "epochs", "sfreq": float(sfreq)})
    da.attrs.update({k: v for k, v in attrs.items() if v is not None})
    return da


def make_bold(
    data: np.ndarray,
    tr: float,
    *,
    ijk: np.ndarray | None = None,
    affine: np.ndarray | None = None,
    shape: Sequence[int] | None = None,
    roi: Sequence[str] | None = None,
    t0: float = 0.0,
    **attrs: Any,
):
    """Build a BOLD DataArray (time, voxel) from voxel indices, or (time, roi) from ROI names."""
    xr = _xr()
    data = np.asarray(data)
    if data.ndim != 2:
        raise DataModelError(f"bold: data must be 2-D (time, voxel|roi), got shape {data.shape}.")
    n_t, n_v = data.shape
    coords: dict[str, Any] = {"time": t0 + np.arange(n_t) * float(tr)}
    if roi is not None:
        if len(roi) != n_v:
            raise DataModelError(f"bold: {n_v} columns but {len(roi)} ROI names.")
        coords["roi"] = np.array([str(r) for r in roi], dtype=object)
        dims = ("time", "roi")
    else:
        if ijk is None or affine is None or shape is None:
            raise DataModelError("bold: voxel data need ijk indices, the affine and the volume shape.")
        ijk = np.asarray(ijk, dtype=np.int64)
        if ijk.shape != (n_v, 3):
            raise DataModelError(f"bold: ijk must be (n_voxels, 3), got {ijk.shape}.")
        coords.update(
            voxel=np.arange(n_v), i=("voxel", ijk[:, 0]), j=("voxel", ijk[:, 1]), k=("voxel", ijk[:, 2])
        )
        attrs["affine"] = np.asarray(affine, dtype=float).reshape(16)
        attrs["shape"] = np.asarray(shape, dtype=np.int64)[:3]
        dims = ("time", "voxel")
    da = xr.DataArray(data, dims=dims, coords=coords, name="bold")
    da.attrs.update({"nd_kind": "bold", "tr": float(tr)})
    da.attrs.update({k: v for k, v in attrs.items() if v is not None})
    return da


def make_responses(
    data: np.ndarray,
    *,
    dim: str = "stimulus",
    index: Sequence[Any] | None = None,
    neuroid: Sequence[Any] | None = None,
    neuroid_coords: Mapping[str, Sequence[Any]] | None = None,
    trial_coords: Mapping[str, Sequence[Any]] | None = None,
    **attrs: Any,
):
    """Build trial/stimulus responses (``dim``, neuroid): betas, rates, embeddings."""
    xr = _xr()
    data = np.asarray(data)
    if data.ndim != 2:
        raise DataModelError(f"responses: data must be 2-D ({dim}, neuroid), got shape {data.shape}.")
    n, m = data.shape
    coords: dict[str, Any] = {
        dim: np.arange(n) if index is None else np.asarray(index),
        "neuroid": np.arange(m) if neuroid is None else np.asarray(neuroid),
    }
    for key, values in (neuroid_coords or {}).items():
        coords[key] = ("neuroid", np.asarray(values))
    for key, values in (trial_coords or {}).items():
        coords[key] = (dim, np.asarray(values))
    da = xr.DataArray(data, dims=(dim, "neuroid"), coords=coords, name="responses")
    da.attrs.update({"nd_kind": "responses", **{k: v for k, v in attrs.items() if v is not None}})
    return da


def make_binned_spikes(
    counts: np.ndarray,
    bin_size: float,
    *,
    unit: Sequence[Any] | None = None,
    t0: float = 0.0,
    times: np.ndarray | None = None,
    unit_coords: Mapping[str, Sequence[Any]] | None = None,
    **attrs: Any,
):
    """Build binned spikes (time, unit); ``time`` holds bin centres in seconds."""
    xr = _xr()
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise DataModelError(f"binned_spikes: counts must be 2-D (time, unit), got shape {counts.shape}.")
    n_t, n_u = counts.shape
    if times is None:
        times = t0 + (np.arange(n_t) + 0.5) * float(bin_size)
    coords: dict[str, Any] = {
        "time": np.asarray(times, dtype=float),
        "unit": np.arange(n_u) if unit is None else np.asarray(unit),
    }
    for key, values in (unit_coords or {}).items():
        coords[key] = ("unit", np.asarray(values))
    da = xr.DataArray(counts, dims=("time", "unit"), coords=coords, name="spikes")
    da.attrs.update({"nd_kind": "binned_spikes", "bin_size": float(bin_size)})
    da.attrs.update({k: v for k, v in attrs.items() if v is not None})
    return da


def make_spike_trains(
    trains: Sequence[np.ndarray],
    *,
    unit: Sequence[Any] | None = None,
    unit_coords: Mapping[str, Sequence[Any]] | None = None,
    t_start: float | None = None,
    t_stop: float | None = None,
    **attrs: Any,
):
    """Build spike trains (a flat ragged layout) from one array of spike times (s) per unit.

    The result holds ``spike_time`` and ``spike_unit`` (index into ``unit``) on dim ``spike``,
    sorted by unit then time, and unit metadata as coords on ``unit``.
    """
    xr = _xr()
    trains = [np.sort(np.asarray(t, dtype=float).reshape(-1)) for t in trains]
    n_u = len(trains)
    lengths = np.array([t.size for t in trains], dtype=np.int64)
    times = np.concatenate(trains) if n_u else np.zeros(0)
    owner = np.repeat(np.arange(n_u, dtype=np.int64), lengths)
    if t_start is None:
        t_start = float(times.min()) if times.size else 0.0
    if t_stop is None:
        t_stop = float(times.max()) if times.size else 0.0
    coords: dict[str, Any] = {"unit": np.arange(n_u) if unit is None else np.asarray(unit)}
    for key, values in (unit_coords or {}).items():
        coords[key] = ("unit", np.asarray(values))
    coords["n_spikes"] = ("unit", lengths)
    ds = xr.Dataset(
        {"spike_time": ("spike", times), "spike_unit": ("spike", owner)}, coords=coords
    )
    ds.attrs.update({"nd_kind": "spike_trains", "t_start": float(t_start), "t_stop": float(t_stop)})
    ds.attrs.update({k: v for k, v in attrs.items() if v is not None})
    return ds
