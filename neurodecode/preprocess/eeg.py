"""EEG/MEG preprocessing on data-model objects: xarray in, xarray out.

Every function validates its input (:func:`neurodecode.datamodel.validate`, plus a finite-values
check that names the offending channels), returns a new object and never mutates its input.
The signal processing is MNE's (``mne.filter``, ``mne.Epochs``); the functions here move data
between the labelled objects and MNE and keep events, channel metadata and attrs.

* :func:`filter`, :func:`notch`, :func:`resample`, :func:`rereference`: continuous ``recording``
  (or ``epochs``) -> same kind.
* :func:`epoch`: ``recording`` -> ``epochs`` with per-trial coords ``label``, ``code``, ``onset``,
  ``subject``, ``session``, ``run``; dropped events are reported, never silently lost.
* :func:`reject_by_amplitude`: ``epochs`` -> (kept ``epochs``, report DataFrame).
* :func:`detect_railing` / :func:`mark_bad`: find saturated (railing) or flat stretches and channels,
  record bad channels in ``attrs['bads']`` and bad stretches as ``BAD_*`` events, which
  :func:`epoch` (``reject_by_annotation=True``) uses to drop overlapping epochs.
* :func:`check_finite`: raise a :class:`~neurodecode.errors.DataModelError` naming the channels that hold
  NaN/inf.

MNE is imported inside the functions that use it.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ..datamodel import validate
from ..errors import BadInputError, DataModelError

__all__ = [
    "filter",
    "notch",
    "resample",
    "rereference",
    "epoch",
    "reject_by_amplitude",
    "detect_railing",
    "mark_bad",
    "check_finite",
    "RailingReport",
    "DATA_CH_TYPES",
    "VOLTAGE_CH_TYPES",
]

log = logging.getLogger(__name__)

#: channel types filtered / resampled as data by default (MNE's data channels)
DATA_CH_TYPES = ("eeg", "mag", "grad", "seeg", "ecog", "dbs", "csd", "hbo", "hbr")
#: channel types measured in volts (railing detection, amplitude rejection by default)
VOLTAGE_CH_TYPES = ("eeg", "eog", "ecg", "emg", "seeg", "ecog", "dbs")
BAD_CODE = -1
_BAD_PREFIXES = ("BAD", "EDGE")
_EVENT_VARS = ("onset", "duration", "label", "code")


# --------------------------------------------------------------------------- helpers


def _mne():
    from .._optional import require

    return require("mne")


def _signal(obj, kind: str) -> xr.DataArray:
    return obj["signal"] if kind == "recording" else obj


def check_finite(obj) -> None:
    """Raise a :class:`DataModelError` naming every channel of ``obj`` that holds NaN or inf.

    Parameters
    ----------
    obj : recording or epochs
        The object to check (other kinds are checked by :func:`neurodecode.datamodel.validate`).

    Raises
    ------
    DataModelError
        Listing the channel names, how many bad values each holds, and the first bad time.
    """
    kind = validate(obj, finite=False)
    if kind not in ("recording", "epochs"):
        validate(obj, kind)
        return
    sig = _signal(obj, kind)
    if hasattr(sig.data, "dask"):
        return  # lazy data: checked chunk by chunk when computed (see _filter_lazy)
    values = np.asarray(sig.transpose(..., "channel", "time").values)
    if not np.issubdtype(values.dtype, np.floating) and not np.issubdtype(values.dtype, np.complexfloating):
        return
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    per_channel = bad.reshape(-1, values.shape[-2], values.shape[-1]).sum(axis=(0, 2))
    names = [str(c) for c in sig["channel"].values]
    bad_names = [f"{names[i]} ({int(per_channel[i])} values)" for i in np.flatnonzero(per_channel)]
    where = np.argwhere(bad)[0]
    t_first = float(sig["time"].values[where[-1]])
    raise DataModelError(
        f"{kind}: NaN/inf values in channel(s) {', '.join(bad_names)}; first at t = {t_first:.4f} s in "
        f"channel {names[where[-2]]!r}. Drop the channel (obj.drop_sel(channel=[...])), interpolate it, or "
        "crop the bad samples before filtering."
    )


def _check(obj, kinds: Sequence[str], func: str) -> str:
    kind = validate(obj, finite=False)
    if kind not in kinds:
        raise DataModelError(f"{func} takes {' or '.join(kinds)} objects, got a {kind!r} object.")
    validate(obj, kind, finite=False)
    check_finite(obj)
    return kind


def _ch_types(obj) -> list[str]:
    if "ch_type" in obj.coords:
        return [str(t) for t in obj["ch_type"].values]
    return ["eeg"] * obj.sizes["channel"]


def _pick(obj, picks, default_types: Sequence[str], func: str) -> np.ndarray:
    """Channel indices from ``picks``: None (default types), "all", a type, or channel names/types."""
    names = [str(c) for c in obj["channel"].values]
    types = _ch_types(obj)
    if picks is None:
        idx = [i for i, t in enumerate(types) if t in default_types]
    elif isinstance(picks, str) and picks == "all":
        idx = list(range(len(names)))
    else:
        items = [picks] if isinstance(picks, (str, int, np.integer)) else list(picks)
        idx = []
        for item in items:
            if isinstance(item, (int, np.integer)):
                if not 0 <= int(item) < len(names):
                    raise BadInputError(f"{func}: channel index {item} out of range (0..{len(names) - 1}).")
                idx.append(int(item))
            elif str(item) in names:
                idx.append(names.index(str(item)))
            elif str(item) in types:
                idx.extend(i for i, t in enumerate(types) if t == str(item))
            else:
                raise BadInputError(
                    f"{func}: pick {item!r} is neither a channel name nor a channel type of this object; "
                    f"channels: {names[:10]}{'...' if len(names) > 10 else ''}, types: {sorted(set(types))}."
                )
        idx = sorted(dict.fromkeys(idx))
    return np.asarray(idx, dtype=int)


def _copy_attrs(obj) -> dict[str, Any]:
    return copy.deepcopy(dict(obj.attrs))


def _history(attrs: dict[str, Any], entry: str) -> None:
    hist = list(attrs.get("preprocessing") or [])
    hist.append(entry)
    attrs["preprocessing"] = hist


def _replace_signal(obj, kind: str, data: np.ndarray, attrs: dict[str, Any], time: np.ndarray | None = None):
    """New object like ``obj`` with ``data`` in place of its signal (and optionally a new time axis)."""
    sig = _signal(obj, kind)
    if time is None:
        new_sig = sig.copy(data=data)
    else:
        coords = {k: v for k, v in sig.coords.items() if "time" not in v.dims}
        coords["time"] = np.asarray(time, dtype=float)
        new_sig = xr.DataArray(data, dims=sig.dims, coords=coords, name=sig.name, attrs=dict(sig.attrs))
    if kind == "recording":
        out = obj.drop_dims("time") if time is not None else obj.drop_vars("signal")
        out = out.assign(signal=new_sig)
        out = out[["signal", *[v for v in obj.data_vars if v != "signal"]]]
    else:
        out = new_sig
    out.attrs = attrs
    return out


def _data_axis_last(obj, kind: str) -> tuple[np.ndarray, tuple[str, ...]]:
    sig = _signal(obj, kind)
    order = ("channel", "time") if kind == "recording" else ("trial", "channel", "time")
    sig = sig.transpose(*order)
    return np.array(sig.values, dtype=float), order


def _restore_order(obj, kind: str, data: np.ndarray, order: tuple[str, ...]) -> np.ndarray:
    dims = _signal(obj, kind).dims
    perm = [order.index(d) for d in dims]
    return np.transpose(data, perm)


# --------------------------------------------------------------------------- filtering

_FIR_DESIGN = ("filter_length", "l_trans_bandwidth", "h_trans_bandwidth", "fir_window", "fir_design", "phase")


def _filter_lazy(obj, kind: str, sfreq: float, l_freq, h_freq, idx: np.ndarray, mne_kwargs: dict[str, Any]):
    """Chunk-by-chunk FIR filtering of a recording whose signal is a dask array, or None to filter in memory.

    Each chunk is filtered with :func:`mne.filter.filter_data` together with ``len(h)`` samples of its
    neighbours on each side (``map_overlap``), which are then dropped; the outer chunks are not
    extended, so MNE pads the recording's two ends exactly as it does for the whole array. The FIR
    filter reaches ``len(h) // 2`` samples to each side, so every kept sample sees the same input as
    in the in-memory path (equal up to floating-point rounding). Peak memory is a few chunks.

    IIR filters (``method="iir"``) have an infinite impulse response, so a chunk cannot see everything
    the whole-array filter sees: the overlap is the length after which the filter's impulse response
    stays below :data:`~neurodecode.preprocess._chunked.IIR_TAIL` (1e-10) of its peak, so the result
    differs from the in-memory one by about that fraction of the signal (tested to 1e-6 relative).
    """
    sig = _signal(obj, kind)
    method = mne_kwargs.get("method", "fir")
    if kind != "recording" or not hasattr(sig.data, "dask") or method not in ("fir", "iir"):
        return None
    mne = _mne()
    order = ("channel", "time")
    data = sig.transpose(*order).data.astype(np.float64)
    if method == "iir":
        from scipy import signal

        from ._chunked import iir_depth

        params = mne.filter.create_filter(None, sfreq, l_freq, h_freq, method="iir", verbose=False,
                                          iir_params=mne_kwargs.get("iir_params"),
                                          phase=mne_kwargs.get("phase", "zero"))
        sos = params["sos"] if "sos" in params else signal.tf2sos(params["b"], params["a"])
        depth = max(iir_depth(sos), int(params.get("padlen", 0)))
    else:
        design = {k: mne_kwargs[k] for k in _FIR_DESIGN if k in mne_kwargs}
        h = mne.filter.create_filter(None, sfreq, l_freq, h_freq, method="fir", verbose=False, **design)
        depth = int(len(h))
    n_t = data.shape[1]
    if n_t <= 3 * depth:
        return None  # shorter than a few filter lengths: nothing to gain
    chunk = max(int(max(data.chunks[1])), 2 * depth)
    data = data.rechunk({0: -1, 1: chunk})
    kwargs = dict(mne_kwargs)

    names = [str(c) for c in sig["channel"].values]

    def run(block: np.ndarray) -> np.ndarray:
        block = np.array(block, dtype=np.float64)
        bad = ~np.isfinite(block)
        if bad.any():
            channels = sorted({names[i] for i in np.flatnonzero(bad.any(axis=1))})
            raise DataModelError(f"recording: NaN/inf values in channel(s) {', '.join(channels)}; drop or "
                                 "interpolate them, or crop the bad samples before filtering.")
        return mne.filter.filter_data(block, sfreq, l_freq, h_freq, picks=idx, copy=False, verbose=False, **kwargs)

    out = data.map_overlap(run, depth={0: 0, 1: depth}, boundary="none", trim=True, dtype=np.float64,
                           meta=np.array((), dtype=np.float64))
    return out, order



def filter(obj, l_freq: float | None, h_freq: float | None, *, picks=None, bandstop: bool = False,  # noqa: A001
           **mne_kwargs: Any):
    """Band-pass (or high-/low-pass) filter with :func:`mne.filter.filter_data`.

    Parameters
    ----------
    obj : recording or epochs
    l_freq, h_freq : float or None
        Lower and upper pass-band edges in Hz (None: no high-pass / no low-pass).
    picks : None, "all", or channel names/types
        Channels to filter; by default MNE's data channels (EEG, MEG, sEEG, ECoG...), so EOG, stim and
        misc channels are left untouched.
    bandstop : bool
        Remove the band between the two edges instead of keeping it (both edges needed, in either
        order). Without it, ``l_freq > h_freq`` is refused: swapped edges would otherwise silently
        build a band-stop.
    **mne_kwargs
        Passed to :func:`mne.filter.filter_data` (``method``, ``fir_design``, ``l_trans_bandwidth``...).

    Returns
    -------
    Same kind as ``obj``, filtered; ``attrs['highpass']``/``attrs['lowpass']`` updated (a band-stop
    leaves them as they were).

    Raises
    ------
    BadInputError
        Edges outside (0, Nyquist), ``l_freq >= h_freq`` without ``bandstop=True``, or ``bandstop``
        without both edges.
    """
    mne = _mne()
    kind = _check(obj, ("recording", "epochs"), "filter")
    sfreq = float(obj.attrs["sfreq"])
    if l_freq is None and h_freq is None:
        raise BadInputError("filter: give l_freq and/or h_freq (both are None: nothing to do).")
    nyq = sfreq / 2.0
    for name, f in (("l_freq", l_freq), ("h_freq", h_freq)):
        if f is not None and not 0 < float(f) < nyq:
            raise BadInputError(f"filter: {name}={f} Hz must lie between 0 and Nyquist ({nyq:g} Hz).")
    if bandstop:
        if l_freq is None or h_freq is None or float(l_freq) == float(h_freq):
            raise BadInputError("filter: bandstop=True needs two different edges (the band to remove), "
                                f"got l_freq={l_freq}, h_freq={h_freq}.")
        lo, hi = sorted((float(l_freq), float(h_freq)))
        l_freq, h_freq = hi, lo  # MNE builds a band-stop when l_freq > h_freq
    elif l_freq is not None and h_freq is not None and float(l_freq) >= float(h_freq):
        raise BadInputError(
            f"filter: l_freq={l_freq} Hz is not below h_freq={h_freq} Hz; the edges look swapped. For a "
            f"band-pass use l_freq={min(l_freq, h_freq)}, h_freq={max(l_freq, h_freq)}; to remove that band "
            "pass bandstop=True."
        )
    idx = _pick(obj, picks, DATA_CH_TYPES, "filter")
    if kind == "epochs":
        mne_kwargs.setdefault("pad", "edge")  # as mne.Epochs.filter (Raw.filter pads with reflect_limited)
    lazy = _filter_lazy(obj, kind, sfreq, l_freq, h_freq, idx, mne_kwargs) if idx.size else None
    if lazy is not None:
        data, order = lazy
    else:
        data, order = _data_axis_last(obj, kind)
    if idx.size and lazy is None:
        data = mne.filter.filter_data(
            data, sfreq, l_freq, h_freq, picks=idx, copy=False, verbose=False, **mne_kwargs
        )
    elif not idx.size:
        log.warning("filter: no channel to filter (picks=%r, channel types %s).", picks, sorted(set(_ch_types(obj))))
    attrs = _copy_attrs(obj)
    if bandstop:
        _history(attrs, f"filter(band-stop {h_freq}..{l_freq} Hz)")
        return _replace_signal(obj, kind, _restore_order(obj, kind, data, order), attrs)
    if l_freq is not None:
        attrs["highpass"] = max(float(attrs.get("highpass", 0.0) or 0.0), float(l_freq))
    if h_freq is not None:
        attrs["lowpass"] = min(float(attrs.get("lowpass", nyq) or nyq), float(h_freq))
    _history(attrs, f"filter(l_freq={l_freq}, h_freq={h_freq})")
    return _replace_signal(obj, kind, _restore_order(obj, kind, data, order), attrs)


def notch(obj, freqs: float | Sequence[float], *, picks=None, **mne_kwargs: Any):
    """Remove line noise at ``freqs`` (Hz) with :func:`mne.filter.notch_filter`.

    ``picks`` as in :func:`filter`; extra keywords go to MNE (``notch_widths``, ``method``...).
    """
    mne = _mne()
    kind = _check(obj, ("recording", "epochs"), "notch")
    sfreq = float(obj.attrs["sfreq"])
    freqs_arr = np.atleast_1d(np.asarray(freqs, dtype=float))
    if freqs_arr.size == 0 or np.any(freqs_arr <= 0) or np.any(freqs_arr >= sfreq / 2):
        raise BadInputError(f"notch: freqs {freqs_arr.tolist()} must be > 0 and below Nyquist ({sfreq / 2:g} Hz).")
    idx = _pick(obj, picks, DATA_CH_TYPES, "notch")
    data, order = _data_axis_last(obj, kind)
    if idx.size:
        data = mne.filter.notch_filter(data, sfreq, freqs_arr, picks=idx, copy=False, verbose=False, **mne_kwargs)
    attrs = _copy_attrs(obj)
    _history(attrs, f"notch(freqs={freqs_arr.tolist()})")
    return _replace_signal(obj, kind, _restore_order(obj, kind, data, order), attrs)


#: the settings of :func:`mne.filter.resample` that :func:`resample` takes (``up``/``down`` come from ``sfreq``)
RESAMPLE_KWARGS = ("method", "window", "pad", "npad", "n_jobs", "verbose")


def resample(obj, sfreq: float, **mne_kwargs: Any):
    """Resample to ``sfreq`` Hz with :func:`mne.filter.resample` (FFT method by default, anti-aliased).

    Stim channels are resampled by taking the nearest earlier sample (codes are not smeared). Event
    onsets (seconds) are unchanged; the time axis starts where it started.

    ``method="polyphase"`` uses :func:`scipy.signal.resample_poly` (the kernel of MNE's polyphase
    method) with ``up / down`` = ``sfreq / attrs['sfreq']`` in lowest terms (a rational ratio is
    required) and MNE's default Kaiser-windowed filter; the result has ``ceil(n * up / down)``
    samples. (MNE takes ``up / down`` from the lengths instead, which is the same when ``n`` is a
    multiple of ``down``.) A recording read lazily (``read_eeg(path, chunks=...)``) is resampled
    that way chunk by chunk, with overlap, equal to the in-memory result; the FFT method transforms
    the whole signal at once, so with it a lazy recording is loaded into memory (a warning says so).

    ``mne_kwargs`` are settings of :func:`mne.filter.resample` (:data:`RESAMPLE_KWARGS`):
    ``method`` (``"fft"`` or ``"polyphase"``), ``window``, ``pad``, ``npad`` (FFT only), ``n_jobs``
    (FFT only; the polyphase kernel runs in this process), ``verbose``. Any other name is an error.
    """
    mne = _mne()
    kind = _check(obj, ("recording", "epochs"), "resample")
    unknown = sorted(set(mne_kwargs) - set(RESAMPLE_KWARGS))
    if unknown:
        raise BadInputError(f"resample: unsupported setting(s) {unknown}; it takes sfreq and the MNE resample "
                            f"settings {list(RESAMPLE_KWARGS)} (up/down come from sfreq, the axis is time).")
    if mne_kwargs.get("method", "fft") not in ("fft", "polyphase"):
        raise BadInputError(f"resample: method must be 'fft' or 'polyphase', got {mne_kwargs['method']!r}.")
    old = float(obj.attrs["sfreq"])
    new = float(sfreq)
    if not np.isfinite(new) or new <= 0:
        raise BadInputError(f"resample: sfreq must be a positive number, got {sfreq!r}.")
    types = _ch_types(obj)
    stim = np.array([t == "stim" for t in types])
    mne_kwargs.setdefault("npad", "auto")  # as mne.io.Raw.resample
    out = _resample_lazy(obj, kind, old, new, stim, mne_kwargs)
    if out is not None:
        order: tuple[str, ...] = ("channel", "time")
        n_new = out.shape[-1]
    else:
        data, order = _data_axis_last(obj, kind)
        n_old = data.shape[-1]
        if mne_kwargs.get("method", "fft") == "polyphase":
            from ._chunked import polyphase_design, resample_poly

            up, down, h = polyphase_design(old, new, mne_kwargs.get("window", "auto"))
            out = resample_poly(data, up, down, h, mne_kwargs.get("pad", "auto"))
        else:
            out = mne.filter.resample(data, up=new, down=old, axis=-1, verbose=False, **mne_kwargs)
        n_new = out.shape[-1]
        if stim.any():
            from ._chunked import earlier_sample

            src = earlier_sample(np.arange(n_new), old, new, n_old)
            out[..., stim, :] = data[..., stim, :][..., src]
    t0 = float(obj["time"].values[0])
    time = t0 + np.arange(n_new) / new
    attrs = _copy_attrs(obj)
    attrs["sfreq"] = new
    if "first_samp" in attrs:
        attrs["first_samp"] = int(round(int(attrs["first_samp"]) * new / old))
    if attrs.get("lowpass") is not None:
        attrs["lowpass"] = min(float(attrs["lowpass"]), new / 2.0)
    _history(attrs, f"resample(sfreq={new:g}) from {old:g} Hz")
    return _replace_signal(obj, kind, _restore_order(obj, kind, out, order), attrs, time=time)


def _resample_lazy(obj, kind: str, old: float, new: float, stim: np.ndarray, mne_kwargs: dict[str, Any]):
    """Chunk-by-chunk polyphase resampling of a lazily read recording, or None to resample in memory."""
    sig = _signal(obj, kind)
    if kind != "recording" or not hasattr(sig.data, "dask"):
        return None
    if mne_kwargs.get("method", "fft") != "polyphase":
        log.warning("resample: the FFT method needs the whole signal, so this lazily read recording is loaded "
                    "into memory; pass method='polyphase' to resample it chunk by chunk.")
        return None
    from ._chunked import resample_polyphase

    data = sig.transpose("channel", "time").data.astype(np.float64)
    out = resample_polyphase(data, old, new, stim, window=mne_kwargs.get("window", "auto"),
                             pad=mne_kwargs.get("pad", "auto"))
    if out is None:
        log.warning("resample: %g -> %g Hz on %d samples does not split into chunks (the reduced rate ratio is "
                    "too large); resampling in memory.", old, new, data.shape[1])
    return out


def rereference(obj, ref: str | Sequence[str] = "average", *, ch_type: str = "eeg"):
    """Re-reference the ``ch_type`` channels to their average or to the mean of named channels.

    Parameters
    ----------
    obj : recording or epochs
    ref : "average" or list of channel names
        ``"average"``: the mean of the good (not in ``attrs['bads']``) ``ch_type`` channels.
        A list: the mean of those channels (e.g. ``["TP9", "TP10"]`` for linked mastoids).
    ch_type : str
        The channels re-referenced (all of them, bad ones included, as MNE does); others are untouched.
    """
    kind = _check(obj, ("recording", "epochs"), "rereference")
    names = [str(c) for c in obj["channel"].values]
    types = _ch_types(obj)
    target = np.array([t == ch_type for t in types])
    if not target.any():
        raise BadInputError(f"rereference: no {ch_type!r} channel in this object (types {sorted(set(types))}).")
    bads = set(obj.attrs.get("bads") or [])
    if isinstance(ref, str) and ref == "average":
        ref_idx = [i for i in np.flatnonzero(target) if names[i] not in bads]
        label: Any = "average"
    else:
        ref_list = [ref] if isinstance(ref, str) else list(ref)
        missing = [r for r in ref_list if r not in names]
        if missing or not ref_list:
            raise BadInputError(
                f"rereference: reference channel(s) {missing or ref_list} not found; channels: {names}. "
                "Use ref='average' or a list of channel names."
            )
        ref_idx = [names.index(r) for r in ref_list]
        label = ref_list
    if not ref_idx:
        raise BadInputError(f"rereference: every {ch_type!r} channel is marked bad; nothing to average.")
    data, order = _data_axis_last(obj, kind)
    reference = data[..., ref_idx, :].mean(axis=-2, keepdims=True)
    data[..., target, :] = data[..., target, :] - reference
    attrs = _copy_attrs(obj)
    attrs["reference"] = label
    _history(attrs, f"rereference(ref={label!r}, ch_type={ch_type!r})")
    return _replace_signal(obj, kind, _restore_order(obj, kind, data, order), attrs)


# --------------------------------------------------------------------------- epoching


def _event_table(rec) -> pd.DataFrame:
    if "onset" not in rec or rec.sizes.get("event", 0) == 0:
        return pd.DataFrame({"onset": [], "duration": [], "label": [], "code": []})
    cols = {}
    for name in rec.data_vars:
        if rec[name].dims == ("event",):
            values = rec[name].values
            cols[name] = values.astype(object) if values.dtype.kind in "OUS" else values
    df = pd.DataFrame(cols)
    df["label"] = [str(x) for x in rec["label"].values]
    df["event_index"] = np.asarray(rec["event"].values)
    return df


def _drop_reason(entry: Sequence[str], names: set[str]) -> str:
    reasons = []
    for item in entry:
        if item in ("NO_DATA", "TOO_SHORT"):
            reasons.append("epoch extends outside the recording")
        elif item in names:
            reasons.append(f"rejected: amplitude out of range on channel {item}")
        elif item.upper().startswith(_BAD_PREFIXES):
            reasons.append(f"overlaps a {item} annotation")
        else:
            reasons.append(str(item))
    return "; ".join(dict.fromkeys(reasons))


def epoch(
    rec,
    tmin: float,
    tmax: float,
    *,
    event_labels: str | Sequence[str] | None = None,
    baseline: tuple[float | None, float | None] | None = (None, 0),
    picks=None,
    reject: Mapping[str, float] | None = None,
    flat: Mapping[str, float] | None = None,
    reject_by_annotation: bool = True,
    on_edge: Literal["drop", "raise"] = "drop",
    detrend: int | None = None,
    return_report: bool = False,
):
    """Cut epochs around events with :class:`mne.Epochs` and return an ``epochs`` DataArray.

    Parameters
    ----------
    rec : recording
    tmin, tmax : float
        Epoch window in seconds around each event onset (both ends included, as in MNE).
    event_labels : str or list of str, optional
        Labels of the events to epoch; by default every event whose label does not start with
        ``BAD``/``EDGE``.
    baseline : tuple or None
        Baseline interval for MNE's baseline correction (``(None, 0)``: from the epoch start to 0 s).
    picks : optional
        Channels kept (names or types, passed to MNE); by default all channels.
    reject, flat : dict, optional
        MNE peak-to-peak rejection thresholds per channel type, e.g. ``{"eeg": 150e-6}``.
    reject_by_annotation : bool
        Drop epochs overlapping ``BAD_*`` events (e.g. from :func:`mark_bad`).
    on_edge : {"drop", "raise"}
        What to do with events whose window extends outside the recording: drop them (listed in the
        report) or raise :class:`BadInputError`.
    detrend : int, optional
        Passed to MNE (0: remove the mean, 1: remove a linear trend).
    return_report : bool
        Also return the drop report.

    Returns
    -------
    epochs : xarray.DataArray
        (trial, channel, time) with trial coords ``label``, ``code``, ``onset`` (s, recording clock),
        ``duration``, ``event_index``, ``subject``, ``session``, ``run`` and any extra per-event variable;
        attrs ``tmin``, ``tmax``, ``baseline``, ``event_id`` and ``drop_report`` (one record per
        dropped event: ``event_index``, ``onset``, ``label``, ``reason``).
    report : pandas.DataFrame
        Only with ``return_report=True``: the dropped events and why.

    Raises
    ------
    BadInputError
        Unknown labels, no events selected, events outside the recording with ``on_edge="raise"``,
        or every epoch dropped.

    Notes
    -----
    A recording read lazily (``read_eeg(path, chunks=...)``, possibly filtered or resampled chunk by
    chunk) is not loaded: only the samples of the selected events' windows are computed (in one pass
    over the chunks they fall in), so peak memory is about the size of the epochs. The epochs are
    built by the same :class:`mne.Epochs` call, so they equal the in-memory result.
    """
    mne = _mne()
    from ..loaders.eeg import from_mne, to_mne

    _check(rec, ("recording",), "epoch")
    if on_edge not in ("drop", "raise"):
        raise BadInputError(f"epoch: on_edge must be 'drop' or 'raise', got {on_edge!r}.")
    if not tmax > tmin:
        raise BadInputError(f"epoch: tmax ({tmax}) must be greater than tmin ({tmin}).")
    sfreq = float(rec.attrs["sfreq"])
    table = _event_table(rec)
    available = sorted(set(table["label"])) if len(table) else []
    if event_labels is None:
        wanted = [lab for lab in available if not lab.upper().startswith(_BAD_PREFIXES)]
    else:
        wanted = [event_labels] if isinstance(event_labels, str) else [str(x) for x in event_labels]
        unknown = [lab for lab in wanted if lab not in available]
        if unknown:
            raise BadInputError(
                f"epoch: event label(s) {unknown} not in this recording; available labels: {available}."
            )
    sel = table[table["label"].isin(wanted)].reset_index(drop=True)
    if len(sel) == 0:
        raise BadInputError(
            f"epoch: no events selected (event_labels={event_labels!r}); the recording has labels {available}. "
            "Pick existing labels or add events first."
        )
    t0 = float(rec["time"].values[0])
    n_times = rec.sizes["time"]
    first_samp = int(rec.attrs.get("first_samp", 0) or 0)
    rel_sample = np.round((sel["onset"].to_numpy(dtype=float) - t0) * sfreq).astype(np.int64)
    start = rel_sample + int(np.round(tmin * sfreq))
    stop = rel_sample + int(np.round(tmax * sfreq))
    outside = (start < 0) | (stop > n_times - 1)
    if outside.any() and on_edge == "raise":
        bad = sel[outside]
        listing = ", ".join(f"#{int(i)} {lab!r} at {on:.3f} s" for i, lab, on in
                            zip(bad["event_index"][:5], bad["label"][:5], bad["onset"][:5]))
        raise BadInputError(
            f"epoch: {int(outside.sum())} event(s) too close to the edges: the window [{tmin}, {tmax}] s extends "
            f"outside the recording (0..{(n_times - 1) / sfreq:.3f} s): {listing}"
            f"{' ...' if outside.sum() > 5 else ''}. Shorten the window or pass on_edge='drop'."
        )
    # internal codes: one per selected label (original codes may collide across labels)
    internal = {lab: i + 1 for i, lab in enumerate(dict.fromkeys(sel["label"]))}
    events = np.column_stack(
        [rel_sample + first_samp, np.zeros(len(sel), dtype=np.int64), [internal[x] for x in sel["label"]]]
    ).astype(np.int64)
    if hasattr(rec["signal"].data, "dask"):
        # lazily read recording: MNE reads only the windows of the selected events, computed in one pass
        lo, hi = int(np.round(tmin * sfreq)) - 2, int(np.round(tmax * sfreq)) + 3  # 2 samples of margin
        windows = [(max(0, int(r) + lo), min(n_times, int(r) + hi)) for r in rel_sample[~outside]]
        raw = to_mne(rec, windows=windows)
    else:
        raw = to_mne(rec)
    try:
        with warnings.catch_warnings():  # MNE warns when it drops epochs: reported below instead
            warnings.simplefilter("ignore", RuntimeWarning)
            epochs = mne.Epochs(
                raw, events, event_id=internal, tmin=tmin, tmax=tmax, baseline=baseline, picks=picks,
                preload=True, reject=reject, flat=flat, reject_by_annotation=reject_by_annotation,
                detrend=detrend, on_missing="ignore", on_outside="ignore", verbose=False,
            )
    except ValueError as err:
        raise BadInputError(f"epoch: MNE could not build the epochs: {err}") from err
    names = set(raw.ch_names)
    del raw  # a lazy recording's window store is not needed once the epochs are loaded
    report_rows = []
    for i, entry in enumerate(epochs.drop_log):
        if entry:
            row = sel.iloc[i]
            report_rows.append(
                {
                    "event_index": int(row["event_index"]),
                    "onset": float(row["onset"]),
                    "label": str(row["label"]),
                    "code": int(row["code"]),
                    "reason": _drop_reason(entry, names),
                }
            )
    report = pd.DataFrame(report_rows, columns=["event_index", "onset", "label", "code", "reason"])
    if len(epochs) == 0:
        from ..errors import EmptySelectionError

        summary = report["reason"].value_counts().to_dict()
        raise EmptySelectionError(
            f"epoch: all {len(sel)} epochs were dropped ({summary}). Loosen reject/flat thresholds, set "
            "reject_by_annotation=False, or shorten the window."
        )
    if len(report):
        log.warning(
            "epoch: dropped %d of %d epochs: %s", len(report), len(sel), report["reason"].value_counts().to_dict()
        )
    kept = sel.iloc[np.asarray(epochs.selection)].reset_index(drop=True)
    ep = from_mne(epochs, first_samp=first_samp)
    coords: dict[str, Any] = {}
    for col in kept.columns:
        if col == "origin":
            continue
        values = kept[col].to_numpy()
        coords[col] = ("trial", values.astype(object) if values.dtype.kind in "OUS" else values)
    coords["onset"] = ("trial", kept["onset"].to_numpy(dtype=float))
    coords["code"] = ("trial", kept["code"].to_numpy(dtype=np.int64))
    for key in ("subject", "session", "run"):
        value = rec.attrs.get(key)
        coords[key] = ("trial", np.array(["" if value is None else str(value)] * len(kept), dtype=object))
    ep = ep.assign_coords(trial=np.arange(len(kept)), **coords)
    for extra in ("pos_x", "pos_y", "pos_z", "ch_unit"):
        if extra in rec.coords and extra in ep.coords:
            src = rec[extra].sel(channel=ep["channel"].values)
            ep = ep.assign_coords({extra: ("channel", src.values)})
    attrs = {k: copy.deepcopy(v) for k, v in rec.attrs.items() if k not in ("nd_kind",)}
    attrs.update(
        nd_kind="epochs",
        sfreq=sfreq,
        tmin=float(tmin),
        tmax=float(tmax),
        baseline=None if baseline is None else [None if b is None else float(b) for b in baseline],
        event_id=_event_id(kept),
        drop_report=report.to_dict(orient="records"),
        n_events_selected=int(len(sel)),
    )
    _history(attrs, f"epoch(tmin={tmin}, tmax={tmax}, baseline={baseline}, labels={wanted})")
    ep.attrs = attrs
    validate(ep, "epochs")
    log.info("epoch: %d epochs (%s) of %d selected events", len(kept), kept["label"].value_counts().to_dict(), len(sel))
    return (ep, report) if return_report else ep


def _event_id(table: pd.DataFrame) -> dict[str, int]:
    out: dict[str, int] = {}
    for lab, code in zip(table["label"], table["code"]):
        out.setdefault(str(lab), int(code))
    return out


# --------------------------------------------------------------------------- rejection


#: thresholds at or above this many volts are refused on voltage channels (no EEG/EOG artefact is 10 mV)
MAX_PLAUSIBLE_VOLTS = 1e-2
_MICRO_UNITS = ("uV", "µV", "μV", "microvolt", "microvolts")


def _check_threshold_units(epochs, types, idx, thr, ptp, threshold) -> None:
    """Refuse thresholds that cannot be meant for the data's units; warn when one can never be reached."""
    units = str(epochs.attrs.get("units", "V"))
    volts = np.array([types[i] in VOLTAGE_CH_TYPES for i in idx])
    largest = float(np.nanmax(ptp)) if ptp.size else 0.0
    if units in _MICRO_UNITS:
        bad = volts & (thr < MAX_PLAUSIBLE_VOLTS)
        if bad.any():
            raise BadInputError(
                f"reject_by_amplitude: threshold {threshold!r} on data in {units} is below 0.01 {units}; "
                f"the data's largest peak-to-peak is {largest:.4g} {units}. Give the threshold in {units} "
                f"(e.g. 100 for 100 µV)."
            )
    elif units == "V":
        bad = volts & (thr >= MAX_PLAUSIBLE_VOLTS)
        if bad.any():
            value = float(thr[bad][0])
            raise BadInputError(
                f"reject_by_amplitude: threshold {value:g} V on voltage channels in volts can never be "
                f"reached by EEG (the data's largest peak-to-peak is {largest:.3g} V), so it would drop "
                f"nothing. Thresholds are in the data's units: for {value:g} µV write {value:g}e-6."
            )
    if largest > 0 and np.all(thr > 1000 * largest):
        warnings.warn(
            f"reject_by_amplitude: threshold {threshold!r} is over 1000 times the largest peak-to-peak in the "
            f"data ({largest:.4g} {units}); it drops nothing. Check the units.",
            UserWarning, stacklevel=3,
        )


def reject_by_amplitude(epochs, threshold: float | Mapping[str, float], *, picks=None):
    """Drop trials whose peak-to-peak amplitude exceeds ``threshold`` on any picked channel.

    Parameters
    ----------
    epochs : epochs
    threshold : float or dict
        Peak-to-peak limit in the data's units (V for EEG), or one per channel type (``{"eeg": 100e-6}``).
    picks : optional
        Channels checked: names or types; by default the voltage channels (EEG, EOG, ECG, EMG...) or
        the channel types named in a dict ``threshold``.

    Returns
    -------
    kept : epochs
        The surviving trials (attrs ``amplitude_report`` lists the dropped ones).
    report : pandas.DataFrame
        One row per dropped trial: ``trial``, ``label`` (when present), ``channel`` (the worst one),
        ``ptp``, ``threshold``, ``n_channels`` (how many exceeded), ``channels``, ``reason``.

    Raises
    ------
    BadInputError
        Non-positive threshold, every trial exceeding it, or a threshold implausible for the data's
        units (``attrs['units']``, volts by default): 0.01 or more on voltage channels in V (e.g. ``100``
        meant as 100 µV), or below 0.01 on data in µV. A threshold over 1000 times the largest
        peak-to-peak of the data gives a warning (it drops nothing).
    """
    _check(epochs, ("epochs",), "reject_by_amplitude")
    types = _ch_types(epochs)
    if isinstance(threshold, Mapping):
        limits = {str(k): float(v) for k, v in threshold.items()}
        default = tuple(limits)
    else:
        limits = None
        default = VOLTAGE_CH_TYPES
    idx = _pick(epochs, picks, default, "reject_by_amplitude")
    if limits is not None:
        idx = np.asarray([i for i in idx if types[i] in limits], dtype=int)
    if idx.size == 0:
        raise BadInputError(
            f"reject_by_amplitude: no channel to check (picks={picks!r}, types {sorted(set(types))})."
        )
    thr = np.array([limits[types[i]] if limits is not None else float(threshold) for i in idx])
    if np.any(~np.isfinite(thr)) or np.any(thr <= 0):
        raise BadInputError(f"reject_by_amplitude: thresholds must be positive numbers, got {threshold!r}.")
    data = np.asarray(epochs.transpose("trial", "channel", "time").values)[:, idx, :]
    ptp = data.max(axis=-1) - data.min(axis=-1)
    _check_threshold_units(epochs, types, idx, thr, ptp, threshold)
    exceed = ptp > thr[None, :]
    dropped = exceed.any(axis=1)
    names = np.array([str(c) for c in epochs["channel"].values], dtype=object)[idx]
    rows = []
    trial_ids = epochs["trial"].values
    for t in np.flatnonzero(dropped):
        ratio = np.where(exceed[t], ptp[t] / thr, -np.inf)
        worst = int(np.argmax(ratio))
        row = {"trial": trial_ids[t]}
        if "label" in epochs.coords:
            row["label"] = epochs["label"].values[t]
        row.update(
            channel=names[worst],
            ptp=float(ptp[t, worst]),
            threshold=float(thr[worst]),
            n_channels=int(exceed[t].sum()),
            channels=",".join(names[exceed[t]]),
            reason=f"peak-to-peak {ptp[t, worst]:.4g} > {thr[worst]:.4g} on {names[worst]}",
        )
        rows.append(row)
    cols = ["trial"] + (["label"] if "label" in epochs.coords else []) + [
        "channel", "ptp", "threshold", "n_channels", "channels", "reason"]
    report = pd.DataFrame(rows, columns=cols)
    n, n_drop = epochs.sizes["trial"], int(dropped.sum())
    if n_drop == n:
        raise BadInputError(
            f"reject_by_amplitude: all {n} trials exceed the threshold {threshold!r} (median worst peak-to-peak "
            f"{np.median(ptp.max(axis=1)):.4g}); check the units (V) or raise the threshold."
        )
    log.info(
        "reject_by_amplitude: dropped %d of %d trials (threshold %r); worst channels: %s",
        n_drop, n, threshold, report["channel"].value_counts().head(5).to_dict() if n_drop else {},
    )
    kept = epochs.isel(trial=np.flatnonzero(~dropped))
    attrs = _copy_attrs(epochs)
    attrs["amplitude_report"] = list(attrs.get("amplitude_report") or []) + _records(report)
    _history(attrs, f"reject_by_amplitude(threshold={threshold!r}): dropped {n_drop} of {n}")
    kept.attrs = attrs
    return kept, report


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
    return out


# --------------------------------------------------------------------------- railing / bad channels


@dataclass
class RailingReport:
    """Result of :func:`detect_railing`.

    Attributes
    ----------
    stretches : pandas.DataFrame
        One row per stretch: ``channel``, ``kind`` (``"rail"`` or ``"flat"``), ``onset`` and ``offset`` (s,
        on the recording's time axis), ``duration`` (s), ``n_samples``, ``peak`` (largest |value|).
    channels : pandas.DataFrame
        One row per checked channel: ``channel``, ``rail_fraction``, ``flat_fraction``, ``bad_fraction``
        (fraction of the recording inside any stretch), ``bad`` (``bad_fraction >= max_bad_fraction``).
    params : dict
        The detection parameters.
    """

    stretches: pd.DataFrame
    channels: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def bad_channels(self) -> list[str]:
        """Names of the channels flagged bad."""
        return [str(c) for c in self.channels.loc[self.channels["bad"], "channel"]]

    def __len__(self) -> int:
        return len(self.stretches)

    def summary(self) -> str:
        """One line: how many stretches of each kind, and the bad channels."""
        kinds = self.stretches["kind"].value_counts().to_dict() if len(self.stretches) else {}
        return f"{len(self.stretches)} stretch(es) {kinds}; bad channels {self.bad_channels}"


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and stop (exclusive) indices of the True runs of a 1-D mask."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def detect_railing(
    rec,
    *,
    threshold: float = 990e-6,
    min_duration: float = 0.0,
    merge_within: float = 0.1,
    flat_duration: float = 0.1,
    flat_tol: float = 0.0,
    max_bad_fraction: float = 0.2,
    picks=None,
) -> RailingReport:
    """Find saturated (railing) and flat-lined stretches and channels in a recording.

    A sample rails when ``|x| >= threshold`` (the Muse headband saturates at -1000 / +999.5 µV). Rail
    samples closer than ``merge_within`` seconds join one stretch; stretches shorter than
    ``min_duration`` are ignored. A flat stretch is a run of at least ``flat_duration`` seconds whose
    sample-to-sample change is ``<= flat_tol``. A channel is bad when at least ``max_bad_fraction`` of the
    recording lies in its stretches.

    Parameters
    ----------
    rec : recording
    threshold : float
        Rail level in the data's units (V): 990e-6 flags values within 1 % of ±1 mV.
    min_duration, merge_within, flat_duration : float
        Seconds.
    flat_tol : float
        Largest sample-to-sample change of a flat stretch (V).
    max_bad_fraction : float
        Fraction of the recording in stretches from which a channel is flagged bad.
    picks : optional
        Channels checked (names or types); by default the voltage channels (EEG, EOG...), so an
        unconnected ``misc`` AUX channel is not checked.

    Returns
    -------
    RailingReport
    """
    _check(rec, ("recording",), "detect_railing")
    if not threshold > 0:
        raise BadInputError(f"detect_railing: threshold must be positive (V), got {threshold!r}.")
    sfreq = float(rec.attrs["sfreq"])
    idx = _pick(rec, picks, VOLTAGE_CH_TYPES, "detect_railing")
    sig = rec["signal"].transpose("channel", "time")
    data = np.asarray(sig.values)[idx]
    time = np.asarray(rec["time"].values, dtype=float)
    names = [str(c) for c in rec["channel"].values]
    n = time.size
    merge = int(round(merge_within * sfreq))
    min_flat = max(2, int(round(flat_duration * sfreq)))
    rows, chan_rows = [], []
    for row_i, ch in enumerate(idx):
        x = data[row_i]
        rail = np.abs(x) >= threshold * (1 - 1e-9)
        rail_cov = np.zeros(n, dtype=bool)
        if rail.any():
            starts, stops = _runs(rail)
            # merge runs separated by fewer than `merge` samples
            keep_s, keep_e = [starts[0]], [stops[0]]
            for s, e in zip(starts[1:], stops[1:]):
                if s - keep_e[-1] <= merge:
                    keep_e[-1] = e
                else:
                    keep_s.append(s)
                    keep_e.append(e)
            for s, e in zip(keep_s, keep_e):
                if (e - s) / sfreq < min_duration:
                    continue
                rail_cov[s:e] = True
                rows.append(_stretch(names[ch], "rail", s, e, time, sfreq, x))
        flat_cov = np.zeros(n, dtype=bool)
        if n > 1:
            same = np.abs(np.diff(x)) <= flat_tol
            starts, stops = _runs(same)
            for s, e in zip(starts, stops):
                if e - s + 1 >= min_flat:  # e - s equal steps span e - s + 1 samples
                    flat_cov[s:e + 1] = True
                    rows.append(_stretch(names[ch], "flat", s, e + 1, time, sfreq, x))
        covered = rail_cov | flat_cov
        chan_rows.append(
            {
                "channel": names[ch],
                "rail_fraction": float(rail_cov.mean()),
                "flat_fraction": float(flat_cov.mean()),
                "bad_fraction": float(covered.mean()),
                "bad": bool(covered.mean() >= max_bad_fraction),
            }
        )
    stretches = pd.DataFrame(
        rows, columns=["channel", "kind", "onset", "offset", "duration", "n_samples", "peak"]
    ).sort_values(["onset", "channel"], kind="stable").reset_index(drop=True)
    channels = pd.DataFrame(chan_rows, columns=["channel", "rail_fraction", "flat_fraction", "bad_fraction", "bad"])
    report = RailingReport(
        stretches,
        channels,
        dict(threshold=threshold, min_duration=min_duration, merge_within=merge_within,
             flat_duration=flat_duration, flat_tol=flat_tol, max_bad_fraction=max_bad_fraction),
    )
    if len(stretches):
        log.warning("detect_railing %s: %s", rec.attrs.get("source", ""), report.summary())
    return report


def _stretch(channel: str, kind: str, s: int, e: int, time: np.ndarray, sfreq: float, x: np.ndarray) -> dict:
    return {
        "channel": channel,
        "kind": kind,
        "onset": float(time[s]),
        "offset": float(time[e - 1]) + 1.0 / sfreq,
        "duration": (e - s) / sfreq,
        "n_samples": int(e - s),
        "peak": float(np.max(np.abs(x[s:e]))),
    }


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def mark_bad(
    rec,
    report: RailingReport | pd.DataFrame | None = None,
    *,
    bad_channels: Sequence[str] | None = None,
    channels: bool = True,
    annotate: bool = True,
    skip_bad_channel_stretches: bool = True,
    prefix: str = "BAD_",
):
    """Record bad channels and bad stretches in a recording.

    Parameters
    ----------
    rec : recording
    report : RailingReport or DataFrame, optional
        From :func:`detect_railing` (or a DataFrame with ``channel``, ``kind``, ``onset``, ``duration``).
    bad_channels : list of str, optional
        More channels to mark bad.
    channels : bool
        Add the report's bad channels to ``attrs['bads']`` (MNE's ``info['bads']``).
    annotate : bool
        Add each stretch as an event labelled ``prefix + kind`` (e.g. ``BAD_rail``) with code -1 and the
        stretch's duration; overlapping stretches of one kind are merged across channels.
        :func:`epoch` with ``reject_by_annotation=True`` drops the epochs that overlap them.
    skip_bad_channel_stretches : bool
        Do not annotate stretches on channels marked bad (the whole channel is already excluded; annotating
        its stretches would reject most epochs).

    Returns
    -------
    recording
        A new recording; ``attrs['bads']`` and the events updated.
    """
    _check(rec, ("recording",), "mark_bad")
    names = [str(c) for c in rec["channel"].values]
    if isinstance(report, RailingReport):
        stretches = report.stretches
        new_bads = report.bad_channels if channels else []
    elif isinstance(report, pd.DataFrame):
        stretches = report
        new_bads = []
    elif report is None:
        stretches = pd.DataFrame(columns=["channel", "kind", "onset", "duration"])
        new_bads = []
    else:
        raise BadInputError(
            f"mark_bad: report must be a RailingReport or a DataFrame, got {type(report).__name__}."
        )
    extra = list(bad_channels or [])
    unknown = [c for c in extra if c not in names]
    if unknown:
        raise BadInputError(f"mark_bad: channel(s) {unknown} not in the recording; channels: {names}.")
    bads = list(dict.fromkeys([*(rec.attrs.get("bads") or []), *new_bads, *extra]))
    out = rec.copy()
    attrs = _copy_attrs(rec)
    attrs["bads"] = bads
    n_added = 0
    if annotate and len(stretches):
        missing_cols = [c for c in ("kind", "onset", "duration") if c not in stretches.columns]
        if missing_cols:
            raise BadInputError(f"mark_bad: the stretches table lacks column(s) {missing_cols}.")
        use = stretches
        if skip_bad_channel_stretches and "channel" in stretches.columns:
            use = stretches[~stretches["channel"].isin(bads)]
        new_on, new_dur, new_lab = [], [], []
        for kind, group in use.groupby("kind", sort=True):
            spans = _union(list(zip(group["onset"].astype(float), group["onset"].astype(float) + group["duration"].astype(float))))
            for a, b in spans:
                new_on.append(a)
                new_dur.append(b - a)
                new_lab.append(f"{prefix}{kind}")
        n_added = len(new_on)
        if n_added:
            out = _append_events(rec, np.asarray(new_on), np.asarray(new_dur), new_lab)
    out.attrs = attrs
    _history(attrs, f"mark_bad: bads={bads}, {n_added} bad stretch event(s)")
    log.info("mark_bad: bad channels %s, %d BAD_ stretch event(s) added", bads, n_added)
    validate(out, "recording")
    return out


def _append_events(rec, onset: np.ndarray, duration: np.ndarray, labels: list[str]):
    """New recording with events appended (code -1, origin 'annotation'), sorted by onset."""
    old = {name: rec[name].values for name in rec.data_vars if rec[name].dims == ("event",)}
    n_new = onset.size
    new: dict[str, np.ndarray] = {
        "onset": onset.astype(float),
        "duration": duration.astype(float),
        "label": np.asarray(labels, dtype=object),
        "code": np.full(n_new, BAD_CODE, dtype=np.int64),
    }
    merged: dict[str, np.ndarray] = {}
    for name, values in old.items():
        if name in new:
            add = new[name]
        elif name == "origin":
            add = np.full(n_new, "annotation")
        elif values.dtype.kind in "OUS":
            add = np.full(n_new, "", dtype=object)
        elif values.dtype.kind == "f":
            add = np.full(n_new, np.nan)
        else:
            add = np.zeros(n_new, dtype=values.dtype)
        merged[name] = np.concatenate([values.astype(object) if values.dtype.kind in "OUS" else values,
                                       add.astype(object) if values.dtype.kind in "OUS" else add])
    for name in _EVENT_VARS:
        if name not in merged:
            merged[name] = new[name]
    order = np.argsort(merged["onset"], kind="stable")
    base = rec.drop_dims("event") if "event" in rec.dims else rec
    for name, values in merged.items():
        base[name] = ("event", values[order])
    base = base.assign_coords(event=np.arange(order.size))
    return base
