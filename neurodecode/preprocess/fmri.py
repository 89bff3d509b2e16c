"""fMRI preprocessing: ``bold`` in, ``bold`` or ``responses`` out.

* :func:`clean` detrends, filters, regresses confounds and standardises each run
  (:func:`nilearn.signal.clean` with run labels).
* :func:`concat_runs` joins several runs into one ``bold`` with a ``run`` coord and a
  continuous time axis.
* :func:`block_responses` averages each block (stretch of one label within a run) after
  shifting the labels by the haemodynamic delay; :func:`glm_betas` estimates one beta per
  condition (or per event) and run with a first-level GLM (nilearn design matrices + OLS);
  :func:`trial_responses` picks one of the two.

Every function validates its input and never modifies it.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .._optional import require
from ..datamodel import make_responses, validate
from ..errors import BadInputError

__all__ = ["clean", "concat_runs", "block_responses", "glm_betas", "trial_responses"]

log = logging.getLogger(__name__)

_STANDARDIZE = {
    "zscore": "zscore_sample",
    "zscore_sample": "zscore_sample",
    "psc": "psc",
    True: "zscore_sample",
    False: None,
    None: None,
}


# --------------------------------------------------------------------------- helpers


def _space(bold) -> str:
    return "voxel" if "voxel" in bold.dims else "roi"


def _run_labels(bold, runs: Any) -> np.ndarray | None:
    """Per-volume run labels, or None for a single run."""
    n = bold.sizes["time"]
    if runs is None:
        return None
    if isinstance(runs, str):
        if runs in bold.coords:
            coord = bold.coords[runs]
            if coord.dims != ("time",):
                raise BadInputError(f"coord {runs!r} must lie on 'time' to label runs; it has dims {coord.dims}.")
            return np.asarray(coord.values)
        if runs == "run":
            return None  # no run coord: the whole series is one run
        on_time = [c for c, v in bold.coords.items() if v.dims == ("time",) and c != "time"]
        raise BadInputError(f"no coord {runs!r} on 'time' to take run labels from; time coords are {on_time}.")
    arr = np.asarray(runs)
    if arr.shape != (n,):
        raise BadInputError(f"runs must give one label per volume ({n}), got shape {arr.shape}.")
    return arr


def _run_groups(bold, labels: np.ndarray | None) -> list[tuple[Any, np.ndarray]]:
    """(run label, volume indices in time order) for each run, in order of first appearance."""
    n = bold.sizes["time"]
    order = np.argsort(np.asarray(bold["time"].values), kind="stable")
    if labels is None:
        return [(bold.attrs.get("run"), order)]
    codes, uniques = pd.factorize(pd.Series(labels[order], dtype=object))
    groups = []
    for code, value in enumerate(uniques):
        groups.append((value.item() if isinstance(value, np.generic) else value, order[codes == code]))
    if sum(len(g[1]) for g in groups) != n:
        raise BadInputError("run labels hold missing values (NaN/None); give every volume a run.")
    return groups


def _values(bold) -> np.ndarray:
    arr = np.asarray(bold.transpose("time", _space(bold)).values)
    return arr


def _confound_matrix(bold, confounds: Any) -> np.ndarray | None:
    """Confounds (time, n) from an array/DataFrame, ``True`` (all ``confound_*`` coords) or coord names."""
    if confounds is None or confounds is False:
        return None
    n = bold.sizes["time"]
    if confounds is True or (isinstance(confounds, str) and confounds == "attached"):
        names = [c for c in bold.coords if str(c).startswith("confound_")]
        if not names:
            raise BadInputError(
                "confounds=True but the bold has no confound_* coords; pass confounds= to read_bold, "
                "or give the confounds here as an array (time, n)."
            )
        cols = [np.asarray(bold[c].values, dtype=float) for c in names]
        mat = np.stack(cols, axis=1)
    elif isinstance(confounds, str) or (
        isinstance(confounds, Sequence) and confounds and all(isinstance(c, str) for c in confounds)
    ):
        names = [confounds] if isinstance(confounds, str) else list(confounds)
        cols = []
        for name in names:
            key = name if name in bold.coords else f"confound_{name}"
            if key not in bold.coords or bold.coords[key].dims != ("time",):
                raise BadInputError(f"no confound coord {name!r} on 'time'; pass confounds= to read_bold first.")
            cols.append(np.asarray(bold[key].values, dtype=float))
        mat = np.stack(cols, axis=1)
    else:
        mat = np.asarray(confounds.to_numpy() if isinstance(confounds, pd.DataFrame) else confounds, dtype=float)
        if mat.ndim == 1:
            mat = mat[:, None]
    if mat.ndim != 2 or mat.shape[0] != n:
        raise BadInputError(f"confounds must be (time={n}, n_confounds), got shape {mat.shape}.")
    if not np.isfinite(mat).all():
        raise BadInputError("confounds hold NaN/inf values; fill them (e.g. with 0) or drop those columns.")
    return mat


def _copy_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(attrs))


def _same(a: Any, b: Any) -> bool:
    try:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.array_equal(np.asarray(a), np.asarray(b))
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _neuroid_info(bold) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Neuroid ids, coords and spatial attrs of a bold, for building responses."""
    space = _space(bold)
    ids = np.asarray(bold[space].values)
    coords = {
        str(name): np.asarray(c.values)
        for name, c in bold.coords.items()
        if c.dims == (space,) and name != space
    }
    if space == "roi":
        coords["roi"] = ids
    attrs = {k: bold.attrs[k] for k in ("affine", "shape", "voxel_size") if k in bold.attrs}
    return ids, coords, attrs


def _provenance(bold) -> dict[str, Any]:
    keep = ("tr", "subject", "session", "source", "sha256", "modality", "atlas", "masker", "mask")
    return {k: copy.deepcopy(bold.attrs[k]) for k in keep if k in bold.attrs}


# --------------------------------------------------------------------------- clean


def _responses(bold, rows: list[np.ndarray], meta: Mapping[str, list], count: str, **attrs: Any):
    """(trial, neuroid) responses from per-trial rows and their label/run/onset/``count`` metadata."""
    ids, ncoords, sattrs = _neuroid_info(bold)
    runs = meta["run"]
    return make_responses(
        np.stack(rows),
        dim="trial",
        neuroid=ids,
        neuroid_coords=ncoords,
        trial_coords={
            "label": np.asarray(meta["label"], dtype=object),
            "run": np.asarray(runs, dtype=object if any(isinstance(r, str) for r in runs) else None),
            "onset": np.asarray(meta["onset"], dtype=float),
            count: np.asarray(meta[count], dtype=np.int64),
        },
        **attrs,
        **_provenance(bold),
        **sattrs,
    )


def clean(
    bold: xr.DataArray,
    *,
    detrend: bool = True,
    standardize: Any = "zscore",
    confounds: Any = None,
    high_pass: float | None = None,
    low_pass: float | None = None,
    runs: Any = "run",
    standardize_confounds: bool = True,
    filter: Literal["butterworth", "cosine", False] = "butterworth",  # noqa: A002 - nilearn's name
    **clean_kwargs: Any,
):
    """Detrend, filter, regress out confounds and standardise each run of a ``bold`` series.

    Thin wrapper of :func:`nilearn.signal.clean` that passes the run labels, so every
    step is done within each run.

    Parameters
    ----------
    bold : xarray.DataArray
        ``bold`` kind, (time, voxel) or (time, roi).
    detrend : bool
        Remove a linear trend per run.
    standardize : {"zscore", "zscore_sample", "psc", None}
        ``"zscore"`` (= nilearn's ``"zscore_sample"``): zero mean, unit sample variance per
        run; ``"psc"``: percent signal change; None/False: leave the scale.
    confounds : array (time, n), DataFrame, True or list of str, optional
        Regressors to remove. ``True`` uses every ``confound_*`` coord attached by
        :func:`neurodecode.loaders.fmri.read_bold`; strings name such coords.
    high_pass, low_pass : float, optional
        Cut-off frequencies in Hz (the TR comes from ``attrs["tr"]``).
    runs : str or array
        Name of the coord on ``time`` holding run labels (default ``"run"``; when absent the
        series is one run), or one label per volume.
    standardize_confounds, filter, **clean_kwargs
        Passed to :func:`nilearn.signal.clean`.

    Returns
    -------
    xarray.DataArray
        A new ``bold`` with the same coords; ``attrs["cleaning"]`` records the settings.
    """
    signal = require("nilearn.signal")
    validate(bold, "bold")
    key = standardize if isinstance(standardize, (bool, type(None))) else str(standardize)
    if key not in _STANDARDIZE:
        raise BadInputError(f"standardize must be one of 'zscore', 'zscore_sample', 'psc' or None; got {standardize!r}.")
    nilearn_std = _STANDARDIZE[key]
    labels = _run_labels(bold, runs)
    groups = _run_groups(bold, labels)
    min_len = min(len(idx) for _, idx in groups)
    if (detrend or nilearn_std) and min_len < 2:
        short = [r for r, idx in groups if len(idx) < 2]
        raise BadInputError(f"run(s) {short} hold fewer than 2 volumes; cannot detrend or standardise them.")
    conf = _confound_matrix(bold, confounds)
    values = _values(bold)
    run_codes = None if labels is None else pd.factorize(pd.Series(labels, dtype=object))[0]
    cleaned = signal.clean(
        values.astype(np.float64),
        runs=run_codes,
        detrend=bool(detrend),
        standardize=nilearn_std,
        confounds=conf,
        standardize_confounds=standardize_confounds,
        filter=filter if (high_pass or low_pass) else False,
        high_pass=high_pass,
        low_pass=low_pass,
        t_r=float(bold.attrs["tr"]),
        **clean_kwargs,
    )
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
    space = _space(bold)
    out = bold.transpose("time", space).copy(data=cleaned.astype(dtype, copy=False))
    out = out.transpose(*bold.dims)
    out.attrs = _copy_attrs(bold.attrs)
    out.attrs["cleaning"] = {
        "detrend": bool(detrend),
        "standardize": nilearn_std,
        "confounds": 0 if conf is None else int(conf.shape[1]),
        "high_pass": high_pass,
        "low_pass": low_pass,
        "runs": len(groups),
    }
    validate(out, "bold")
    return out


# --------------------------------------------------------------------------- concat_runs


def concat_runs(bolds: Sequence[Any], *, runs: Sequence[Any] | None = None):
    """Join runs of the same voxels/ROIs into one ``bold`` with a ``run`` coord on ``time``.

    Parameters
    ----------
    bolds : sequence of xarray.DataArray
        ``bold`` objects on the same grid (same ``i``/``j``/``k``, affine and shape, or the
        same ROI names), same TR and the same time coords (e.g. all with ``label``).
    runs : sequence, optional
        One run label per input. Default: each input's ``run`` coord, else its
        ``attrs["run"]``, else 1, 2, ...

    Returns
    -------
    xarray.DataArray
        ``time`` is continuous and increasing (each run follows the previous one by one
        TR); the original within-run times are kept in coord ``run_time``. Events in
        ``attrs["events"]`` are merged, onsets moved to the new clock and a ``run`` column
        added; attrs that differ between runs (``source``, ``sha256``...) become lists.

    Raises
    ------
    BadInputError
        Empty list, grids/TR/coords that differ, or the same run or file given twice.
    """
    bolds = list(bolds)
    if not bolds:
        raise BadInputError("concat_runs needs at least one bold; got an empty list.")
    for b in bolds:
        validate(b, "bold")
    first = bolds[0]
    space = _space(first)
    tr = float(first.attrs["tr"])
    time_coords = sorted(c for c, v in first.coords.items() if v.dims == ("time",) and c != "time")
    for n, b in enumerate(bolds[1:], start=1):
        if _space(b) != space:
            raise BadInputError(f"run {n} is on {_space(b)!r} but run 0 on {space!r}; convert them alike first.")
        if abs(float(b.attrs["tr"]) - tr) > 1e-6:
            raise BadInputError(f"run {n} has TR {b.attrs['tr']} s but run 0 has {tr} s; runs must share the TR.")
        if space == "voxel":
            same = (
                b.sizes["voxel"] == first.sizes["voxel"]
                and all(np.array_equal(b[c].values, first[c].values) for c in ("i", "j", "k"))
                and np.allclose(np.asarray(b.attrs["affine"], float), np.asarray(first.attrs["affine"], float), atol=1e-3)
                and np.array_equal(np.asarray(b.attrs["shape"]), np.asarray(first.attrs["shape"]))
            )
            if not same:
                raise BadInputError(
                    f"run {n} is on another voxel grid than run 0 (different i/j/k voxels, affine or shape); "
                    "read all runs with the same mask (read_bold(mask=...)) on the same image grid."
                )
        elif not np.array_equal(b["roi"].values, first["roi"].values):
            raise BadInputError(f"run {n} has other ROIs than run 0; extract the same regions from every run.")
        other = sorted(c for c, v in b.coords.items() if v.dims == ("time",) and c != "time")
        if (set(other) ^ set(time_coords)) - {"run", "run_time"}:
            raise BadInputError(
                f"run {n} has time coords {other} but run 0 has {time_coords}; give every run the same "
                "(e.g. events for all or none)."
            )
    if runs is not None and len(runs) != len(bolds):
        raise BadInputError(f"{len(runs)} run labels for {len(bolds)} runs.")

    shas = [b.attrs.get("sha256") for b in bolds]
    seen: dict[str, int] = {}
    for n, sha in enumerate(shas):
        if sha is None:
            continue
        if sha in seen:
            raise BadInputError(
                f"runs {seen[sha]} and {n} come from the same file (same sha256, {bolds[n].attrs.get('source')}); "
                "the same recording was given twice."
            )
        seen[sha] = n

    pieces, run_sets, event_frames = [], [], []
    start = float(np.asarray(first["time"].values)[0])
    for n, b in enumerate(bolds):
        t = np.asarray(b["time"].values, dtype=float)
        shift = start - float(t[0])
        if runs is not None:
            run_vals = np.full(t.size, runs[n], dtype=object if isinstance(runs[n], str) else None)
        elif "run" in b.coords and b.coords["run"].dims == ("time",):
            run_vals = np.asarray(b["run"].values)
        elif b.attrs.get("run") is not None:
            r = b.attrs["run"]
            run_vals = np.full(t.size, r, dtype=object if isinstance(r, str) else None)
        else:
            run_vals = np.full(t.size, n + 1)
        run_sets.append(list(dict.fromkeys(pd.Series(run_vals, dtype=object).tolist())))
        run_time = np.asarray(b["run_time"].values) if "run_time" in b.coords else t
        piece = b.assign_coords(time=t + shift, run=("time", run_vals), run_time=("time", run_time))
        piece = piece.assign_coords({space: first[space].values})  # same voxels (checked), same labels
        pieces.append(piece)
        ev = b.attrs.get("events")
        if ev:
            df = pd.DataFrame({k: list(v) for k, v in ev.items()})
            df["onset"] = df["onset"].astype(float) + shift
            if "run" not in df:
                df["run"] = run_vals[0]
            event_frames.append(df)
        start = float(t[-1] + shift + tr)
    for a in range(len(run_sets)):
        for c in range(a + 1, len(run_sets)):
            dup = set(run_sets[a]) & set(run_sets[c])
            if dup:
                raise BadInputError(
                    f"run label(s) {sorted(map(str, dup))} appear in inputs {a} and {c}: the same run was given twice, "
                    "or the runs need distinct labels (read_bold(run=...) or concat_runs(runs=[...]))."
                )

    out = xr.concat(pieces, dim="time", coords="minimal", compat="override", join="exact", combine_attrs="override")
    attrs = _copy_attrs(first.attrs)
    keys = dict.fromkeys(k for b in bolds for k in b.attrs)
    for key in keys:
        if key in ("events", "run", "nd_kind"):
            continue
        vals = [b.attrs.get(key) for b in bolds]
        if not all(_same(v, vals[0]) for v in vals[1:]):
            attrs[key] = [v.tolist() if isinstance(v, np.ndarray) else v for v in vals]
    attrs.pop("run", None)
    attrs["runs"] = [r for s in run_sets for r in s]
    attrs.pop("events", None)
    if event_frames:
        merged = pd.concat(event_frames, ignore_index=True)
        attrs["events"] = {
            str(c): [None if isinstance(v, float) and not np.isfinite(v) else (v.item() if isinstance(v, np.generic) else v)
                     for v in merged[c].tolist()]
            for c in merged.columns
        }
    out.attrs = attrs
    validate(out, "bold")
    return out


# --------------------------------------------------------------------------- block responses


def block_responses(
    bold: xr.DataArray,
    *,
    shift: float = 5.0,
    label: str = "label",
    runs: Any = "run",
    exclude: Sequence[str] = ("rest",),
    min_volumes: int = 1,
):
    """Average each block of volumes (a contiguous stretch of one label within a run).

    The labels are first delayed by ``shift`` seconds (rounded to whole volumes) to follow
    the haemodynamic response: volume *n* takes the label of volume *n - shift/TR* of the
    same run; the first volumes of each run, with no label to take, belong to no block.

    Parameters
    ----------
    bold : xarray.DataArray
        ``bold`` kind with a per-volume label coord (``read_bold(events=...)`` adds one).
    shift : float
        Haemodynamic delay in seconds (>= 0).
    label : str
        Name of the label coord on ``time``.
    runs : str or array
        Run labels (coord name or one per volume); blocks never span two runs. Default
        ``"run"``; without that coord the series is one run.
    exclude : sequence of str
        Labels that form no block (baseline).
    min_volumes : int
        Blocks with fewer volumes are dropped (listed in ``attrs["dropped_blocks"]``).

    Returns
    -------
    xarray.DataArray
        ``responses`` (trial, neuroid): one row per block; trial coords ``label``, ``run``,
        ``onset`` (first volume's time minus the applied shift, on the bold's clock) and
        ``n_volumes``; neuroid coords from the voxels/ROIs (``i``/``j``/``k`` or ``roi``...);
        attrs ``method="block_mean"``, ``shift`` (applied), ``tr`` and the affine/shape.
    """
    validate(bold, "bold")
    if label not in bold.coords or bold.coords[label].dims != ("time",):
        raise BadInputError(
            f"no per-volume label coord {label!r} on 'time'; read the series with "
            "read_bold(..., events=...) or assign one with bold.assign_coords(label=('time', labels))."
        )
    shift = float(shift)
    if not np.isfinite(shift) or shift < 0:
        raise BadInputError(f"shift must be a delay >= 0 seconds, got {shift}.")
    tr = float(bold.attrs["tr"])
    n_shift = int(round(shift / tr))
    if abs(n_shift * tr - shift) > 1e-6:
        warnings.warn(
            f"shift {shift} s is not a multiple of the TR ({tr} s); using {n_shift} volume(s) = {n_shift * tr} s.",
            UserWarning,
            stacklevel=2,
        )
    groups = _run_groups(bold, _run_labels(bold, runs))
    labels = np.asarray(bold[label].values, dtype=object)
    times = np.asarray(bold["time"].values, dtype=float)
    excluded = {str(e) for e in exclude}
    values = _values(bold)

    rows, meta, dropped = [], {"label": [], "run": [], "onset": [], "n_volumes": []}, []
    for run_value, idx in groups:
        run_labels = labels[idx]
        shifted = np.empty(idx.size, dtype=object)
        shifted[:] = None
        if n_shift < idx.size:
            shifted[n_shift:] = run_labels[: idx.size - n_shift] if n_shift else run_labels
        k = 0
        while k < idx.size:
            lab = shifted[k]
            end = k + 1
            while end < idx.size and shifted[end] == lab:
                end += 1
            if lab is not None and str(lab) not in excluded:
                block = idx[k:end]
                onset = float(times[block[0]] - n_shift * tr)
                if block.size < min_volumes:
                    dropped.append({"label": str(lab), "run": run_value, "onset": onset, "n_volumes": int(block.size)})
                else:
                    rows.append(values[block].mean(axis=0))
                    meta["label"].append(str(lab))
                    meta["run"].append(run_value)
                    meta["onset"].append(onset)
                    meta["n_volumes"].append(int(block.size))
            k = end
    if not rows:
        raise BadInputError(
            f"no block left: every volume is labelled {sorted(excluded)} or unlabelled after the {n_shift * tr} s shift "
            f"(labels present: {sorted(set(map(str, labels)))}); check exclude= and the events."
        )
    resp = _responses(bold, rows, meta, "n_volumes", method="block_mean", shift=n_shift * tr)
    if dropped:
        resp.attrs["dropped_blocks"] = dropped
        log.info("block_responses: dropped %d block(s) shorter than %d volumes", len(dropped), min_volumes)
    validate(resp, "responses")
    return resp


# --------------------------------------------------------------------------- GLM


def _run_starts(bold, groups) -> list[float]:
    """Start of each run on the bold's clock (where that run's event onsets count from)."""
    tr = float(bold.attrs["tr"])
    times = np.asarray(bold["time"].values, dtype=float)
    if "run_time" in bold.coords:
        run_time = np.asarray(bold["run_time"].values, dtype=float)
        return [float(times[idx[0]] - run_time[idx[0]]) for _, idx in groups]
    ref = float(bold.attrs.get("slice_time_ref", 0.0)) * tr
    return [float(times[idx[0]] - ref) for _, idx in groups]


def _events_for_runs(bold, events: Any, groups, starts: list[float], label_column: str) -> list[pd.DataFrame]:
    """One events table per run, onsets relative to that run's start."""
    from ..loaders.fmri import events_table

    if events is None:
        events = bold.attrs.get("events")
        if not events:
            raise BadInputError(
                "no events: pass events= (a BIDS TSV path, DataFrame or events Dataset), or read the "
                "series with read_bold(..., events=...)."
            )
    if isinstance(events, (list, tuple)):
        if len(events) != len(groups):
            raise BadInputError(
                f"{len(events)} per-run event tables for {len(groups)} runs; give one per run (run-relative onsets)."
            )
        return [events_table(ev, label_column=label_column, what=f"events of run {r}")
                for ev, (r, _) in zip(events, groups)]
    df = events_table(events, label_column=label_column)
    out = []
    if "run" in df.columns and all(r is not None for r, _ in groups):
        run_str = df["run"].astype(str).to_numpy()
        for (r, _), start in zip(groups, starts):
            sub = df[run_str == str(r)].copy()
            sub["onset"] = sub["onset"] - start
            out.append(sub.reset_index(drop=True))
        unmatched = set(run_str) - {str(r) for r, _ in groups}
        if unmatched:
            warnings.warn(f"events of run(s) {sorted(unmatched)} match no run of the bold; they are ignored.",
                          UserWarning, stacklevel=3)
        return out
    bounds = starts[1:] + [np.inf]
    for start, end in zip(starts, bounds):
        sub = df[(df["onset"] >= start - 1e-9) & (df["onset"] < end - 1e-9)].copy()
        sub["onset"] = sub["onset"] - start
        out.append(sub.reset_index(drop=True))
    placed = sum(len(o) for o in out)
    if placed != len(df):
        raise BadInputError(
            f"{len(df) - placed} event(s) start before the first volume ({starts[0]:g} s); onsets must be on "
            "the bold's time clock."
        )
    return out


def glm_betas(
    bold: xr.DataArray,
    events: Any = None,
    *,
    hrf_model: Literal["glover", "glover + derivative", "glover + derivative + dispersion", "spm",
                       "spm + derivative", "spm + derivative + dispersion", "fir"] | None = "glover",
    runs: Any = "run",
    mode: Literal["condition", "trial"] = "condition",
    stat: Literal["beta", "t"] = "beta",
    drift_model: Literal["cosine", "polynomial"] | None = "cosine",
    high_pass: float = 0.01,
    drift_order: int = 1,
    confounds: Any = None,
    exclude: Sequence[str] = ("rest",),
    label_column: str = "trial_type",
    min_onset: float = -24.0,
    oversampling: int = 50,
    return_design: bool = False,
):
    """Estimate response amplitudes with a first-level GLM, run by run.

    For each run, the design matrix is built by
    :func:`nilearn.glm.first_level.make_first_level_design_matrix` (HRF-convolved event
    regressors + drifts + confounds) and fitted voxel-wise by OLS
    (:class:`nilearn.glm.OLSModel`).

    Parameters
    ----------
    bold : xarray.DataArray
        ``bold`` kind, (time, voxel) or (time, roi).
    events : path, DataFrame, events Dataset, dict, or list of those (one per run), optional
        ``onset``/``duration``/``trial_type`` in seconds. A single table uses the bold's
        ``time`` clock (with a ``run`` column, rows are matched to runs by label); a list
        gives one table per run with onsets from each run's start. Default:
        ``bold.attrs["events"]`` (as stored by ``read_bold``/``concat_runs``).
    hrf_model : str
        nilearn HRF model (``"glover"``, ``"spm"``, ``"glover + derivative"``, ``"fir"``...).
    runs : str or array
        Run labels (coord name or one per volume); default ``"run"`` (one run when absent).
    mode : {"condition", "trial"}
        One regressor per condition and run, or one per event (least-squares-all).
    stat : {"beta", "t"}
        Return the betas or their t statistics.
    drift_model, high_pass, drift_order, min_onset, oversampling
        Passed to ``make_first_level_design_matrix``.
    confounds : array, DataFrame, True or list of str, optional
        Extra regressors (see :func:`clean`).
    exclude : sequence of str
        Event labels not modelled.
    return_design : bool
        Also return the list of per-run design matrices (DataFrames).

    Returns
    -------
    xarray.DataArray
        ``responses`` (trial, neuroid): one row per (run, condition) or per event; trial
        coords ``label``, ``run``, ``onset`` (first event of the row, bold clock),
        ``n_events``; attrs ``method="glm"``, ``hrf_model``, ``stat``, ``mode``.
    """
    glm_fl = require("nilearn.glm.first_level")
    glm = require("nilearn.glm")
    from tqdm.auto import tqdm

    validate(bold, "bold")
    if mode not in ("condition", "trial"):
        raise BadInputError(f"mode must be 'condition' or 'trial', got {mode!r}.")
    if stat not in ("beta", "t"):
        raise BadInputError(f"stat must be 'beta' or 't', got {stat!r}.")
    groups = _run_groups(bold, _run_labels(bold, runs))
    starts = _run_starts(bold, groups)
    per_run = _events_for_runs(bold, events, groups, starts, label_column)
    conf = _confound_matrix(bold, confounds)
    times = np.asarray(bold["time"].values, dtype=float)
    values = _values(bold).astype(np.float64)
    tr = float(bold.attrs["tr"])
    excluded = {str(e) for e in exclude}

    rows, meta, designs = [], {"label": [], "run": [], "onset": [], "n_events": []}, []
    jobs = list(zip(groups, per_run, starts))
    for (run_value, idx), ev, start in tqdm(jobs, desc="GLM per run", disable=None, leave=False):
        ft = times[idx] - start  # frame times on the run's own clock, like the onsets
        ev = ev[~ev["trial_type"].isin(excluded)].reset_index(drop=True)
        if ev.empty:
            warnings.warn(f"run {run_value!r} has no events to model; it gives no rows.", UserWarning, stacklevel=2)
            continue
        scan_end = ft[-1] + tr
        outside = (ev["onset"] < -1e-9) | (ev["onset"] >= scan_end)
        if outside.any():
            raise BadInputError(
                f"run {run_value!r}: {int(outside.sum())} event(s) start outside the run (0 to {scan_end:g} s), first "
                f"at {float(ev['onset'][outside].iloc[0]):g} s; check the events belong to this run."
            )
        names = ev["trial_type"].astype(str).to_numpy()
        if mode == "trial":
            regs = np.array([f"{n}__{k:04d}" for k, n in enumerate(names)], dtype=object)
        else:
            regs = names
        design_events = pd.DataFrame(
            {"onset": ev["onset"].to_numpy(), "duration": ev["duration"].to_numpy(), "trial_type": regs}
        )
        add_regs = None if conf is None else conf[idx]
        add_names = None if conf is None else [f"confound_{c}" for c in range(conf.shape[1])]
        design = glm_fl.make_first_level_design_matrix(
            ft,
            design_events,
            hrf_model=hrf_model,
            drift_model=drift_model,
            high_pass=high_pass,
            drift_order=drift_order,
            add_regs=add_regs,
            add_reg_names=add_names,
            min_onset=min_onset,
            oversampling=oversampling,
        )
        designs.append(design)
        x = design.to_numpy(dtype=float)
        rank = np.linalg.matrix_rank(x)
        if rank < x.shape[1]:
            warnings.warn(
                f"run {run_value!r}: the design matrix is rank deficient ({rank} < {x.shape[1]} columns); "
                "some betas are not identifiable (overlapping events or too many regressors).",
                UserWarning,
                stacklevel=2,
            )
        result = glm.OLSModel(x).fit(values[idx])
        columns = list(design.columns)
        order = list(dict.fromkeys(regs.tolist()))
        for reg in order:
            col = columns.index(reg) if reg in columns else None
            if col is None:
                raise BadInputError(
                    f"regressor {reg!r} is missing from the design matrix columns {columns[:10]} "
                    "(FIR models, with one column per delay, are not supported here)."
                )
            rows.append(result.theta[col] if stat == "beta" else result.t(column=col))
            which = regs == reg
            meta["label"].append(str(names[which][0]))
            meta["run"].append(run_value)
            meta["onset"].append(float(ev["onset"][which].min() + start))
            meta["n_events"].append(int(which.sum()))
    if not rows:
        raise BadInputError(f"no events left to model after excluding {sorted(excluded)}.")
    resp = _responses(bold, rows, meta, "n_events", method="glm", hrf_model=str(hrf_model),
                      drift_model=str(drift_model), stat=stat, mode=mode)
    validate(resp, "responses")
    return (resp, designs) if return_design else resp


def trial_responses(bold: xr.DataArray, events: Any = None, *, method: Literal["block", "glm"] = "block",
                    **kwargs: Any):
    """Per-trial responses: block means (``method="block"``) or per-event GLM betas (``"glm"``).

    ``"block"`` calls :func:`block_responses` (``events`` must be None: labels come from the
    bold's ``label`` coord); ``"glm"`` calls :func:`glm_betas` with ``mode="trial"``.
    Keyword arguments are passed on.
    """
    if method == "block":
        if events is not None:
            raise BadInputError(
                "method='block' takes the labels from the bold's 'label' coord; read the series with "
                "read_bold(..., events=...) instead of passing events here."
            )
        return block_responses(bold, **kwargs)
    if method == "glm":
        kwargs.setdefault("mode", "trial")
        return glm_betas(bold, events, **kwargs)
    raise BadInputError(f"method must be 'block' or 'glm', got {method!r}.")
