"""From labelled continuous recordings to epochs ready for decoding, with stated default windows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError, EmptySelectionError

__all__ = ["epochs_from_recordings", "default_window", "SUSTAINED_MIN_S"]

log = logging.getLogger(__name__)

#: events lasting at least this long (median, s) are treated as sustained tasks (motor imagery, blocks)
SUSTAINED_MIN_S = 1.0
#: (tmin, tmax, band, baseline) per kind of event
DEFAULTS = {
    "sustained": (0.5, 2.5, (7.0, 30.0), None),
    "transient": (-0.2, 0.8, (1.0, 30.0), (None, 0.0)),
}


def default_window(durations: Sequence[float]) -> tuple[str, float, float, tuple[float, float], Any, str]:
    """The default epoch window for events of these durations, and the sentence that states it.

    Sustained events (median duration >= 1 s, e.g. motor imagery cues): 0.5..2.5 s after onset
    (clipped to the shortest event), band-passed 7-30 Hz (mu/beta), no baseline correction.
    Transient events (ERPs): -0.2..0.8 s, band-passed 1-30 Hz, baseline -0.2..0 s.
    """
    d = np.asarray(durations, dtype=float)
    med = float(np.median(d)) if len(d) else 0.0
    kind = "sustained" if med >= SUSTAINED_MIN_S else "transient"
    tmin, tmax, band, baseline = DEFAULTS[kind]
    if kind == "sustained":
        tmax = min(tmax, max(float(np.min(d)), tmin + 0.5))
    why = (f"events last {med:.2f} s (median), so they are treated as {kind}: epochs {tmin:g}..{tmax:g} s after "
           f"onset, band-pass {band[0]:g}-{band[1]:g} Hz, baseline {'none' if baseline is None else '-0.2..0 s'}")
    return kind, tmin, tmax, band, baseline, why


def _run_name(rec: Any, index: int) -> str:
    run = rec.attrs.get("run")
    if run not in (None, ""):
        return str(run)
    src = rec.attrs.get("source")
    return Path(str(src)).stem if src else str(index + 1)


def _run_names(recs: Sequence[Any]) -> list[str]:
    """One run name per recording; names that repeat (run 1 of several subjects) get the recording's
    subject and session in front (``sub-1/ses-1/run-1``)."""
    names = [_run_name(rec, i) for i, rec in enumerate(recs)]
    if len(set(names)) == len(names):
        return names
    out = []
    for rec, name in zip(recs, names):
        parts = [f"{k[:3]}-{rec.attrs[k]}" for k in ("subject", "session") if rec.attrs.get(k) not in (None, "")]
        out.append("/".join(parts + [f"run-{name}"]) if parts else name)
    if len(set(out)) != len(out):
        dup = sorted({n for n in out if out.count(n) > 1})
        raise BadInputError(f"several recordings are called {dup} (same subject, session and run, or files of the "
                            "same name): is one listed twice? If they are different runs, give them distinct names.")
    return out


def _join_epochs(items: list[Any], labels: Sequence[str] | str | None) -> Any:
    import xarray as xr

    out = []
    for i, ep in enumerate(items):
        ep = ep.copy()
        if "run" not in ep.coords:
            ep = ep.assign_coords(run=("trial", np.full(ep.sizes["trial"], _run_name(ep, i), dtype=object)))
        if labels is not None:
            wanted = [labels] if isinstance(labels, str) else list(labels)
            if "label" not in ep.coords:
                raise BadInputError(f"epochs {i} have no 'label' coord to select {wanted} from.")
            ep = ep.isel(trial=np.flatnonzero(np.isin(np.asarray(ep["label"].values).astype(str), wanted)))
        out.append(ep)
    joined = xr.concat(out, dim="trial", combine_attrs="override") if len(out) > 1 else out[0]
    joined = joined.assign_coords(trial=np.arange(joined.sizes["trial"]))
    joined.attrs["decode_window"] = "the data were already epoched (window as given in the files)"
    return joined


def block_samples(bold: Any, labels: Sequence[str] | str | None = None, *, shift: float = 5.0) -> Any:
    """fMRI block responses as decoding samples: z-score each voxel within each run, then average the
    volumes of every block with the labels delayed by ``shift`` s
    (:func:`neurodecode.preprocess.fmri.block_responses`).

    Parameters
    ----------
    bold : xarray.DataArray
        ``bold`` (time, voxel) with a per-volume ``label`` coord (and ``run``).
    labels : list of str, optional
        The block labels to keep; default every label but ``rest``.
    shift : float
        Haemodynamic delay (s) applied to the labels.

    Returns
    -------
    xarray.DataArray
        Responses (trial, neuroid) with ``label``/``run`` on ``trial`` and ``attrs["decode_window"]``.
        Voxels constant within a run (outside the brain) are dropped, and the statement says how many.
    """
    from ..preprocess.fmri import block_responses, clean

    if "label" not in bold.coords:
        raise BadInputError("the bold has no per-volume 'label' coord to cut blocks from; add one (e.g. from the "
                            "design's events) first.")
    vals = np.asarray(bold.transpose("time", ...).values, dtype=float)
    runs = np.asarray(bold["run"].values) if "run" in bold.coords else np.zeros(len(vals))
    flat = np.zeros(vals.shape[1], dtype=bool)
    for r in np.unique(runs):
        flat |= np.nanstd(vals[runs == r], axis=0) == 0
    space = [d for d in bold.dims if d != "time"][0]
    kept = bold.isel({space: np.flatnonzero(~flat)})
    if kept.sizes[space] == 0:
        raise BadInputError("every voxel is constant within some run; nothing to decode.")
    kept = clean(kept, detrend=False, standardize="zscore", runs="run" if "run" in bold.coords else None)
    present = sorted(set(np.asarray(bold["label"].values).astype(str).tolist()))
    wanted = [labels] if isinstance(labels, str) else (list(labels) if labels is not None else None)
    exclude: dict[str, Any] = {}  # block_responses' default: every label but rest
    if wanted is not None:
        unknown = [w for w in wanted if w not in present]
        if unknown:
            raise BadInputError(f"block label(s) {unknown} not in the bold; its labels are {present}.")
        exclude["exclude"] = [p for p in present if p not in wanted]
    resp = block_responses(kept, shift=shift, **exclude)
    resp.attrs["decode_window"] = (
        f"fMRI: one sample per block, the mean of its volumes with the labels delayed {shift:g} s (haemodynamic "
        f"lag; --tmin sets it), voxels z-scored within each run ({int(flat.sum())} constant voxel(s) dropped)")
    return resp


def spike_samples(binned: Any, *, lags: int = 10) -> Any:
    """Binned spikes as decoding samples: one causal window of the last ``lags`` bins of every unit
    per bin (:func:`neurodecode.encoders.spike.spike_windows`), the bin's coords (e.g. hand velocity)
    on it.

    Returns
    -------
    xarray.DataArray
        (sample, unit, time) windows with ``window_start``/``window_stop`` spans (the leak guard
        refuses folds whose training windows overlap test windows: use contiguous blocks with a gap
        of at least ``lags``) and ``attrs["decode_window"]``.
    """
    from ..encoders.spike import spike_windows

    win = spike_windows(binned, int(lags))
    bin_s = float(win.attrs["bin_size"])
    win.attrs["decode_window"] = (f"spikes: one sample per bin, the last {int(lags)} bins ({int(lags) * bin_s:g} s) of "
                                  f"every unit ({win.sizes[win.dims[0]]} samples; --lags sets the history)")
    return win


def epochs_from_recordings(
    recordings: Any,
    labels: Sequence[str] | str | None = None,
    *,
    tmin: float | None = None,
    tmax: float | None = None,
    band: tuple[float, float] | None | str = "auto",
    baseline: Any = "auto",
    picks: Any = "eeg",
    lags: int | None = None,
) -> Any:
    """Band-pass, epoch and concatenate one or several recordings (each one run).

    Parameters
    ----------
    recordings : recording or list of recordings
        Continuous data with events (e.g. EDF+ annotations T0/T1/T2). Each recording is one run:
        its ``run`` attr, else its file name (``attrs["source"]``), else its position. Already
        epoched data are selected and joined; one fMRI ``bold`` with a per-volume ``label`` becomes
        block responses (:func:`block_samples`, ``tmin`` the haemodynamic delay, default 5 s), binned
        spikes causal windows of their last ``lags`` bins (:func:`spike_samples`, default 10).
    labels : list of str, optional
        Event labels to keep (the classes to decode between); default every non-``BAD`` label.
    tmin, tmax : float, optional
        Epoch window (s); default from the events' durations (:func:`default_window`).
    band : (low, high), None or "auto"
        Band-pass of the continuous data before epoching (None: none).
    baseline : tuple, None or "auto"
    picks : optional
        Channels kept (default EEG channels).
    lags : int, optional
        Binned spikes: bins of spike history per sample (default 10).

    Returns
    -------
    xarray.DataArray
        ``epochs`` with coords ``label``, ``run``, ``onset``... on ``trial`` and attrs
        ``decode_window`` (what was chosen and why).

    Raises
    ------
    BadInputError
        No recordings, unknown labels, recordings with different channels or rates.
    """
    import xarray as xr

    from ..datamodel import kind_of
    from ..preprocess.eeg import epoch
    from ..preprocess.eeg import filter as band_pass

    recs = list(recordings) if isinstance(recordings, (list, tuple)) else [recordings]
    if not recs:
        raise BadInputError("no recordings given; pass at least one file/recording.")
    kinds = [kind_of(rec) for rec in recs]
    if all(k == "epochs" for k in kinds):  # already epoched (e.g. an EEGLAB epochs file): select and join
        return _join_epochs(recs, labels)
    if len(recs) == 1 and kinds[0] == "bold":  # fMRI: one sample per block
        return block_samples(recs[0], labels, shift=5.0 if tmin is None else float(tmin))
    if len(recs) == 1 and kinds[0] == "binned_spikes":  # spikes: one causal window per bin
        if labels is not None:
            raise BadInputError(f"binned spikes have no events to pick {labels} from; decode a coord on time "
                                "(e.g. the hand velocity: --target vel_x,vel_y).")
        return spike_samples(recs[0], lags=10 if lags is None else int(lags))
    for i, k in enumerate(kinds):
        if k != "recording":
            raise BadInputError(f"item {i} is a {k}, not a continuous recording with events (or epochs).")
    wanted = [labels] if isinstance(labels, str) else (list(labels) if labels is not None else None)
    durations = []
    for rec in recs:
        lab = np.asarray(rec["label"].values).astype(str) if "label" in rec else np.array([])
        dur = np.asarray(rec["duration"].values, dtype=float) if "duration" in rec else np.zeros(len(lab))
        keep = np.isin(lab, wanted) if wanted is not None else ~np.char.startswith(np.char.upper(lab), "BAD")
        durations.extend(dur[keep].tolist())
    found = sorted({str(x) for rec in recs if "label" in rec for x in rec["label"].values})
    if not durations:
        raise BadInputError(f"none of the event labels {wanted} occur in the recordings; labels found: {found}.")
    missing = [w for w in wanted or [] if w not in found]
    if missing:  # a run may lack a label, but every label must occur somewhere
        raise BadInputError(f"event label(s) {missing} occur in none of the recordings; labels found: {found}.")
    kind, d_tmin, d_tmax, d_band, d_base, why = default_window(durations)
    tmin = d_tmin if tmin is None else float(tmin)
    tmax = d_tmax if tmax is None else float(tmax)
    band = d_band if band == "auto" else band
    baseline = d_base if baseline == "auto" else baseline
    if baseline is not None and (baseline[0] if baseline[0] is not None else tmin) < tmin:
        baseline = None
    names = _run_names(recs)
    epochs, skipped = [], []
    for i, rec in enumerate(recs):
        here = None
        if wanted is not None:  # a run may lack some of the labels (or all: it is left out, and said so)
            present = set(np.asarray(rec["label"].values).astype(str).tolist()) if "label" in rec else set()
            here = [w for w in wanted if w in present]
            if not here:
                skipped.append(f"{names[i]} (labels {sorted(present)})")
                continue
        rec = rec.copy()
        rec.attrs["run"] = names[i]
        if band is not None:
            rec = band_pass(rec, band[0], band[1])
        try:
            epochs.append(epoch(rec, tmin, tmax, event_labels=here, baseline=baseline, picks=picks))
        except EmptySelectionError as err:  # e.g. its only event too close to the end: left out, and said so
            if len(recs) == 1:
                raise
            skipped.append(f"{names[i]} ({err})")
    if not epochs:
        raise BadInputError(f"no run gave any epoch: {'; '.join(skipped)}.")
    ref = epochs[0]
    for i, ep in enumerate(epochs[1:], start=1):
        if list(ep["channel"].values) != list(ref["channel"].values) or ep.attrs["sfreq"] != ref.attrs["sfreq"]:
            raise BadInputError(f"recording {i} has other channels or another sampling rate than recording 0; "
                                "decode files of one montage and rate together.")
        epochs[i] = ep.assign_coords(time=ref["time"].values)
    common = set.intersection(*[{str(c) for c in ep.coords if ep[c].dims == ("trial",)} for ep in epochs])
    epochs = [ep.drop_vars([c for c in ep.coords if ep[c].dims == ("trial",) and str(c) not in common])
              for ep in epochs]
    out = xr.concat(epochs, dim="trial", combine_attrs="override") if len(epochs) > 1 else epochs[0]
    out = out.assign_coords(trial=np.arange(out.sizes["trial"]))
    stated = (f"{why}" if (tmin, tmax) == (d_tmin, d_tmax) else f"epochs {tmin:g}..{tmax:g} s (given)")
    out.attrs.update(tmin=tmin, tmax=tmax, decode_window=stated, band=None if band is None else list(band),
                     n_runs=len(epochs))
    if skipped:
        out.attrs["skipped_runs"] = skipped
    out.attrs.pop("drop_report", None)
    log.info("decoding epochs: %s", stated)
    return out
