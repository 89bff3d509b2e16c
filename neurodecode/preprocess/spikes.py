"""Spike preprocessing: smoothing, re-binning, event alignment, spike-history designs, rates.

Every function validates its input against the data model, never modifies it, and returns a
new xarray object. Binned spikes are ``binned_spikes`` (time, unit) DataArrays with attr
``bin_size`` (s) and ``time`` holding bin centres; :func:`smooth`, :func:`rebin` and
:func:`firing_rates` also accept the (trial, unit, time) arrays made by :func:`align`.

``attrs["quantity"]`` tracks whether values are spike ``"counts"`` per bin or ``"rate"`` (Hz).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ..datamodel import validate
from ..errors import BadInputError

__all__ = ["smooth", "rebin", "align", "spike_history", "firing_rates"]

log = logging.getLogger(__name__)

_KERNELS = ("gaussian", "boxcar")


# --------------------------------------------------------------------------- helpers


def _check_binned(binned, *, two_d: bool = False) -> float:
    """Validate binned spikes (extra dims allowed unless ``two_d``); return the bin size."""
    if not isinstance(binned, xr.DataArray):
        raise BadInputError(
            f"expected binned spikes as an xarray DataArray (time, unit), got {type(binned).__name__}; "
            "use neurodecode.loaders.spikes.bin_spikes or read_binned_mat."
        )
    validate(binned, "binned_spikes")
    if two_d and set(binned.dims) != {"time", "unit"}:
        raise BadInputError(
            f"expected 2-D binned spikes with dims (time, unit), got {binned.dims}; select one trial "
            "or stack the extra dims first."
        )
    if binned.sizes["time"] == 0:
        raise BadInputError("binned spikes hold no time bins.")
    if binned.dtype.kind not in "biuf":
        raise BadInputError(f"binned spikes must be numeric, got dtype {binned.dtype}.")
    return float(binned.attrs["bin_size"])


def _quantity(da) -> str:
    q = da.attrs.get("quantity")
    if q in ("counts", "rate"):
        return q
    if str(da.attrs.get("units", "")).lower() == "hz":
        return "rate"
    return "counts"


def _attrs(da, **update: Any) -> dict:
    out = copy.deepcopy(dict(da.attrs))
    out.update(update)
    return out


def _segments(times: np.ndarray, bin_size: float) -> list[slice]:
    """Contiguous runs of bins (a step over 1.5 bins is a gap in the recording)."""
    if times.size < 2:
        return [slice(0, times.size)]
    cuts = np.flatnonzero(np.diff(times) > 1.5 * bin_size) + 1
    bounds = np.concatenate([[0], cuts, [times.size]])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _positive(value: Any, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise BadInputError(f"{name} must be a number, got {value!r}.") from err
    if not np.isfinite(value) or value <= 0:
        raise BadInputError(f"{name} must be a positive finite number, got {value!r}.")
    return value


# --------------------------------------------------------------------------- smoothing


def smooth(
    binned,
    sigma: float,
    *,
    kernel: Literal["gaussian", "boxcar"] = "gaussian",
    mode: Literal["reflect", "constant", "nearest", "mirror", "wrap"] = "reflect",
    truncate: float = 4.0,
):
    """Smooth binned spikes along ``time``.

    Parameters
    ----------
    binned : xarray.DataArray
        ``binned_spikes`` (time, unit), or (trial, unit, time) from :func:`align`.
    sigma : float
        Kernel width in seconds: the standard deviation for ``"gaussian"``
        (:func:`scipy.ndimage.gaussian_filter1d`), the full window width for ``"boxcar"``
        (:func:`scipy.ndimage.uniform_filter1d`, rounded to a whole number of bins).
    kernel : {"gaussian", "boxcar"}
    mode : str
        Edge handling passed to scipy.ndimage (``"reflect"`` keeps the total count near the edges).
    truncate : float
        Gaussian kernel half-width in standard deviations.

    Returns
    -------
    xarray.DataArray
        Float array with the same dims, coords and quantity; ``attrs["smoothing"]`` records the kernel.
        Gaps in the time vector (steps over 1.5 bins) are never smoothed across.
    """
    from scipy.ndimage import gaussian_filter1d, uniform_filter1d

    bin_size = _check_binned(binned)
    sigma = _positive(sigma, "sigma (s)")
    if kernel not in _KERNELS:
        raise BadInputError(f"kernel must be one of {_KERNELS}, got {kernel!r}.")
    axis = binned.get_axis_num("time")
    data = np.asarray(binned.values, dtype=float)
    out = np.empty_like(data)
    width_bins = sigma / bin_size
    if kernel == "gaussian" and width_bins < 0.5:
        log.warning("smooth: sigma=%g s is under half a bin (%g s); smoothing has little effect", sigma, bin_size)
    times = np.asarray(binned["time"].values, dtype=float)
    segments = _segments(times, bin_size) if binned["time"].ndim == 1 else [slice(None)]
    for seg in segments:
        index = [slice(None)] * data.ndim
        index[axis] = seg
        index = tuple(index)
        if kernel == "gaussian":
            out[index] = gaussian_filter1d(data[index], width_bins, axis=axis, mode=mode, truncate=truncate)
        else:
            size = max(1, int(round(width_bins)))
            out[index] = uniform_filter1d(data[index], size, axis=axis, mode=mode)
    attrs = _attrs(
        binned, smoothing={"kernel": kernel, "sigma_s": sigma, "sigma_bins": width_bins, "mode": mode}
    )
    return binned.copy(data=out).assign_attrs(attrs)


# --------------------------------------------------------------------------- re-binning


def rebin(binned, factor: int):
    """Merge every ``factor`` consecutive bins into one.

    Counts are summed (integers stay integers), rates (``attrs["quantity"] == "rate"``) are
    averaged. Numeric coords on ``time`` (bin centres, behaviour such as ``vel_x``) are averaged
    over each group; other coords on ``time`` keep the first value of each group. Trailing bins
    that do not fill a whole group are dropped and reported (log and ``attrs["rebin_dropped_bins"]``).

    Parameters
    ----------
    binned : xarray.DataArray
        ``binned_spikes`` (time, unit) or (trial, unit, time).
    factor : int
        Number of bins per new bin (>= 1). ``attrs["bin_size"]`` is multiplied by it.
    """
    bin_size = _check_binned(binned)
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise BadInputError(f"factor must be a positive integer, got {factor!r}.")
    factor = int(factor)
    n = binned.sizes["time"]
    n_new = n // factor
    if n_new == 0:
        raise BadInputError(f"cannot merge bins by {factor}: only {n} time bins.")
    dropped = n - n_new * factor
    if dropped:
        log.info("rebin: dropped the last %d bin(s) that do not fill a group of %d", dropped, factor)
    times = np.asarray(binned["time"].values, dtype=float)
    if binned["time"].ndim == 1 and len(_segments(times[: n_new * factor], bin_size)) > 1:
        log.warning("rebin: the time vector has gaps; some merged bins span a gap")

    def first(values, axis, **_):
        return np.take(values, 0, axis=axis)

    coord_func = {
        name: ("mean" if np.asarray(c.values).dtype.kind in "iufb" else first)
        for name, c in binned.coords.items()
        if "time" in c.dims
    }
    trimmed = binned.isel(time=slice(0, n_new * factor))
    coarse = trimmed.coarsen(time=factor, boundary="exact", coord_func=coord_func)
    out = coarse.mean() if _quantity(binned) == "rate" else coarse.sum()
    attrs = _attrs(binned, bin_size=bin_size * factor, rebin_factor=factor, rebin_dropped_bins=dropped)
    return out.assign_attrs(attrs)


# --------------------------------------------------------------------------- alignment


def _onset_table(onsets, labels, metadata, onset_column: str | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Normalise the many ways to give onsets into (onsets, per-trial metadata)."""
    meta: dict[str, np.ndarray] = {}
    if isinstance(onsets, xr.Dataset):  # an events Dataset (make_events) or an interval table
        col = onset_column or ("onset" if "onset" in onsets else None)
        if col is None or col not in onsets:
            raise BadInputError(
                f"onsets Dataset has no {col or 'onset'!r} variable (variables {list(onsets.data_vars)}); "
                "pass onset_column='...'."
            )
        dim = onsets[col].dims[0] if onsets[col].ndim == 1 else None
        for name, var in onsets.variables.items():
            if name != col and var.dims == (dim,) and name != dim:
                meta[name] = np.asarray(var.values)
        onsets = onsets[col].values
    elif isinstance(onsets, pd.DataFrame):
        col = onset_column or next((c for c in ("onset", "start_time") if c in onsets.columns), None)
        if col is None or col not in onsets.columns:
            raise BadInputError(
                f"onsets DataFrame has no onset column (columns {list(onsets.columns)}); pass onset_column='...'."
            )
        for name in onsets.columns:
            if name != col:
                values = onsets[name].to_numpy()
                if values.dtype == object and any(isinstance(v, (list, np.ndarray)) for v in values):
                    continue  # ragged columns cannot be coords
                meta[name] = values
        onsets = onsets[col].to_numpy()
    elif isinstance(onsets, xr.DataArray):
        if onsets.ndim != 1:
            raise BadInputError(f"onsets must be 1-D, got dims {onsets.dims}.")
        for name, c in onsets.coords.items():
            if c.dims == onsets.dims and name != onsets.dims[0]:
                meta[name] = np.asarray(c.values)
        onsets = onsets.values
    elif isinstance(onsets, pd.Series):
        onsets = onsets.to_numpy()
    try:
        onsets = np.asarray(onsets, dtype=float).reshape(-1)
    except (TypeError, ValueError) as err:
        raise BadInputError(f"onsets must be numbers (seconds), got {onsets!r}.") from err
    if onsets.size == 0:
        raise BadInputError("no onsets given; nothing to align.")
    bad = ~np.isfinite(onsets)
    if bad.any():
        raise BadInputError(
            f"{int(bad.sum())} onset(s) are NaN/inf (first at position {int(np.flatnonzero(bad)[0])}); "
            "drop or fix them before aligning."
        )
    extra: dict[str, Any] = {}
    if labels is not None:
        extra["label"] = labels
    if metadata is not None:
        if isinstance(metadata, pd.DataFrame):
            extra.update({c: metadata[c].to_numpy() for c in metadata.columns})
        else:
            extra.update(dict(metadata))
    for name, values in extra.items():
        values = np.asarray(values)
        if values.ndim != 1 or values.shape[0] != onsets.size:
            raise BadInputError(
                f"per-trial {name!r} has shape {values.shape}; expected one value per onset ({onsets.size})."
            )
        meta[name] = values
    return onsets, meta


def _align_trains(trains, onsets, tmin, bin_size, n_bins):
    """Counts (trial, unit, time) of spike trains in windows starting at onset + tmin."""
    times = np.asarray(trains["spike_time"].values, dtype=float)
    owner = np.asarray(trains["spike_unit"].values, dtype=np.int64)
    order = np.lexsort((times, owner))
    times, owner = times[order], owner[order]
    n_units = trains.sizes["unit"]
    bounds = np.searchsorted(owner, np.arange(n_units + 1), side="left")
    edges = onsets[:, None] + tmin + np.arange(n_bins + 1)[None, :] * bin_size  # (trial, n_bins + 1)
    out = np.empty((onsets.size, n_units, n_bins), dtype=np.int64)
    for u in range(n_units):
        train = times[bounds[u] : bounds[u + 1]]
        out[:, u, :] = np.diff(np.searchsorted(train, edges, side="left"), axis=1)
    return out


def align(
    binned_or_trains,
    onsets,
    tmin: float,
    tmax: float,
    *,
    bin_size: float | None = None,
    labels: Sequence[Any] | None = None,
    metadata: Mapping[str, Sequence[Any]] | pd.DataFrame | None = None,
    onset_column: str | None = None,
    outside: Literal["drop", "raise"] = "drop",
    rate: bool = False,
):
    """Cut windows ``[onset + tmin, onset + tmax)`` around event onsets into (trial, unit, time).

    Parameters
    ----------
    binned_or_trains : xarray.DataArray or xarray.Dataset
        ``binned_spikes`` (time, unit) or ``spike_trains``. Spike trains are counted exactly in
        bins starting at ``onset + tmin``; binned spikes are cut at the bin edge nearest to
        ``onset + tmin`` (``attrs["max_alignment_error"]`` gives the largest shift, <= half a bin).
    onsets : array-like, pandas Series/DataFrame, events Dataset or DataArray
        Event times in seconds, on the clock of the data. A DataFrame (e.g. from
        :func:`neurodecode.loaders.spikes.read_nwb_intervals`) or Dataset gives the onsets in
        ``onset_column`` (default ``"onset"``, else ``"start_time"``) and its other columns become
        per-trial coords.
    tmin, tmax : float
        Window relative to each onset (s); ``tmax - tmin`` is rounded to whole bins.
    bin_size : float, optional
        Bin width (s); required for spike trains; for binned spikes it must match ``attrs["bin_size"]``.
    labels : sequence, optional
        One label per onset, stored as coord ``label`` on ``trial``.
    metadata : mapping or DataFrame, optional
        More per-trial values (one per onset), stored as coords on ``trial``.
    onset_column : str, optional
        Column/variable holding the onsets when ``onsets`` is a table.
    outside : {"drop", "raise"}
        What to do with windows that do not lie inside the data: drop them (logged, listed in
        ``attrs["dropped_trials"]``, positions in the given onsets) or raise.
    rate : bool
        Return firing rates (Hz) instead of counts.

    Returns
    -------
    xarray.DataArray
        (trial, unit, time): ``trial`` holds the position of each kept onset in the input, with
        coords ``onset``, ``label`` and the metadata; ``time`` holds bin centres relative to the
        onset; unit coords are kept; for binned input the numeric coords on time (behaviour such as
        ``vel_x``) become (trial, time) coords. attrs ``bin_size``, ``tmin``, ``tmax``, ``quantity``,
        ``dropped_trials``.

    Raises
    ------
    BadInputError
        ``tmax <= tmin``, a window shorter than one bin, NaN onsets, metadata of the wrong length,
        a window outside the data with ``outside="raise"``, or no window left.
    """
    if outside not in ("drop", "raise"):
        raise BadInputError(f"outside must be 'drop' or 'raise', got {outside!r}.")
    tmin, tmax = float(tmin), float(tmax)
    if not (np.isfinite(tmin) and np.isfinite(tmax)) or tmax <= tmin:
        raise BadInputError(f"the window needs tmin < tmax (finite seconds), got tmin={tmin}, tmax={tmax}.")
    onsets, meta = _onset_table(onsets, labels, metadata, onset_column)

    is_trains = isinstance(binned_or_trains, xr.Dataset)
    if is_trains:
        trains = binned_or_trains
        validate(trains, "spike_trains")
        if bin_size is None:
            raise BadInputError("aligning spike trains needs bin_size= (seconds).")
        bin_size = _positive(bin_size, "bin_size")
        source = trains
    else:
        file_bin = _check_binned(binned_or_trains, two_d=True)
        if bin_size is not None and abs(_positive(bin_size, "bin_size") - file_bin) > 1e-9 * file_bin:
            raise BadInputError(
                f"bin_size={bin_size} s differs from the data's bin_size={file_bin} s; leave it out, or "
                "rebin the data first (neurodecode.preprocess.spikes.rebin)."
            )
        if _quantity(binned_or_trains) == "rate" and not rate:
            log.info("align: the data are rates; the result holds rates (Hz) too")
        bin_size = file_bin
        source = binned_or_trains

    span = (tmax - tmin) / bin_size
    n_bins = int(round(span))
    if n_bins < 1:
        raise BadInputError(f"the window [{tmin}, {tmax}) s is shorter than one bin of {bin_size} s.")
    if abs(n_bins - span) > 1e-6:
        log.info("align: window %g..%g s rounded to %d bins of %g s", tmin, tmax, n_bins, bin_size)
    tmax_eff = tmin + n_bins * bin_size
    tol = 1e-9 * max(1.0, float(np.max(np.abs(onsets))))

    if is_trains:
        lo, hi = float(trains.attrs["t_start"]), float(trains.attrs["t_stop"])
        ok = (onsets + tmin >= lo - tol) & (onsets + tmax_eff <= hi + tol)
        why = f"the window leaves the recording ({lo:.6g}..{hi:.6g} s)"
    else:
        t = np.asarray(source["time"].values, dtype=float)
        starts = t - bin_size / 2
        target = onsets + tmin
        idx = np.searchsorted(starts, target)  # starts[idx - 1] < target <= starts[idx]
        left = np.clip(idx - 1, 0, t.size - 1)
        right = np.clip(idx, 0, t.size - 1)
        k0 = np.where(np.abs(starts[right] - target) < np.abs(starts[left] - target), right, left)
        err = np.abs(starts[k0] - target)
        ok = (err <= bin_size / 2 + 1e-6 * bin_size) & (k0 + n_bins <= t.size)
        last = np.minimum(k0 + n_bins - 1, t.size - 1)
        # contiguous: no gap inside the window
        ok &= np.abs((t[last] - t[k0]) - (n_bins - 1) * bin_size) <= 0.5 * bin_size
        why = f"the window leaves the binned data ({starts[0]:.6g}..{t[-1] + bin_size / 2:.6g} s) or spans a gap"

    dropped = np.flatnonzero(~ok)
    if dropped.size:
        msg = (
            f"{dropped.size} of {onsets.size} onset(s) dropped because {why}: positions "
            f"{dropped[:10].tolist()}{' ...' if dropped.size > 10 else ''}"
        )
        if outside == "raise":
            raise BadInputError(msg + "; pass outside='drop' to drop them, or narrow tmin/tmax.")
        log.warning("align: %s", msg)
    keep = np.flatnonzero(ok)
    if keep.size == 0:
        raise BadInputError(
            f"no onset has its window [{tmin}, {tmax_eff}) s inside the data ({why}); check that onsets and "
            "data share a clock (seconds) and narrow the window."
        )

    rel = tmin + (np.arange(n_bins) + 0.5) * bin_size
    coords: dict[str, Any] = {"trial": keep, "onset": ("trial", onsets[keep]), "time": rel}
    for name, values in meta.items():
        coords[name] = ("trial", values[keep])
    unit_coords = {
        name: (c.dims, c.values) for name, c in source.coords.items() if c.dims == ("unit",)
    }
    coords.update(unit_coords)
    coords["unit"] = source["unit"].values
    attrs = {
        k: copy.deepcopy(v)
        for k, v in source.attrs.items()
        if k not in ("nd_kind", "t_start", "t_stop", "interval_tables", "skipped_interval_columns")
    }
    if is_trains:
        data = _align_trains(trains, onsets[keep], tmin, bin_size, n_bins)
        quantity = "counts"
    else:
        idx = k0[keep, None] + np.arange(n_bins)[None, :]  # (trial, time)
        values = np.asarray(source.transpose("time", "unit").values)
        data = np.transpose(values[idx], (0, 2, 1))  # (trial, unit, time)
        quantity = _quantity(source)
        for name, c in source.coords.items():
            if name != "time" and c.dims == ("time",) and np.asarray(c.values).dtype.kind in "iufb":
                coords[name] = (("trial", "time"), np.asarray(c.values)[idx])
        attrs["max_alignment_error"] = float(err[keep].max())
    if rate and quantity == "counts":
        data = data / bin_size
        quantity = "rate"
    attrs.update(
        bin_size=bin_size,
        tmin=tmin,
        tmax=tmax_eff,
        quantity=quantity,
        dropped_trials=dropped.tolist(),
        n_dropped=int(dropped.size),
    )
    if quantity == "rate":
        attrs["units"] = "Hz"
    return xr.DataArray(data, dims=("trial", "unit", "time"), coords=coords, name="aligned_spikes", attrs=attrs)


# --------------------------------------------------------------------------- spike history


def spike_history(
    binned,
    n_lags: int,
    *,
    incomplete: Literal["drop", "mark"] = "drop",
    dim: str = "time",
    dtype: Any = None,
):
    """Causal spike-history design matrix for decoding: (time, neuroid = unit x lag).

    Column ``(unit u, lag l)`` at time ``t`` holds the value of unit ``u`` in bin ``t - l``, for
    lags ``0 .. n_lags - 1`` (lag 0 is the current bin; no future bins are used).

    Parameters
    ----------
    binned : xarray.DataArray
        ``binned_spikes`` (time, unit), counts or rates. Coords on ``time`` (e.g. ``vel_x``) are
        kept, so the decoding target of each row is at hand.
    n_lags : int
        Number of lags (>= 1).
    incomplete : {"drop", "mark"}
        Rows whose history is incomplete (the first ``n_lags - 1`` bins, and bins just after a gap
        in the time vector): ``"drop"`` removes them (count in ``attrs["n_dropped_bins"]``);
        ``"mark"`` keeps them with the missing lags set to 0 and a boolean coord
        ``history_complete`` on ``time``.
    dim : str
        Name of the row dim. ``"time"`` by default; ``"trial"`` makes a data-model ``responses``
        object (the time of each row stays in coord ``time``).
    dtype : numpy dtype, optional
        Output dtype (default: the input's).

    Returns
    -------
    xarray.DataArray
        (``dim``, neuroid); ``neuroid`` = 0..n_units*n_lags-1 ordered unit-major, with coords
        ``unit`` and ``lag`` (and every unit coord of the input) on ``neuroid``.
    """
    bin_size = _check_binned(binned, two_d=True)
    if isinstance(n_lags, bool) or not isinstance(n_lags, (int, np.integer)) or n_lags < 1:
        raise BadInputError(f"n_lags must be a positive integer, got {n_lags!r}.")
    n_lags = int(n_lags)
    if incomplete not in ("drop", "mark"):
        raise BadInputError(f"incomplete must be 'drop' or 'mark', got {incomplete!r}.")
    if dim in ("neuroid", "unit", "lag"):
        raise BadInputError(f"dim cannot be {dim!r}; use 'time' or 'trial'.")
    data = np.asarray(binned.transpose("time", "unit").values)
    if dtype is not None:
        data = data.astype(dtype)
    n_t, n_u = data.shape
    if n_lags > n_t:
        raise BadInputError(f"n_lags={n_lags} exceeds the {n_t} time bins available.")

    design = np.zeros((n_t, n_u, n_lags), dtype=data.dtype)
    for lag in range(n_lags):
        design[lag:, :, lag] = data[: n_t - lag]
    # a row is complete when its n_lags - 1 previous bins exist and are contiguous
    times = np.asarray(binned["time"].values, dtype=float)
    segment_start = np.zeros(n_t, dtype=np.int64)
    for seg in _segments(times, bin_size):
        segment_start[seg] = seg.start
    complete = np.arange(n_t) - segment_start >= n_lags - 1
    if incomplete == "mark":
        for seg in _segments(times, bin_size)[1:]:  # zero the lags that reach across a gap
            for lag in range(1, n_lags):
                design[seg.start : min(seg.start + lag, seg.stop), :, lag] = 0
    design = design.reshape(n_t, n_u * n_lags)

    coords: dict[str, Any] = {
        name: (dim, c.values)
        for name, c in binned.coords.items()
        if c.dims == ("time",) and name != "time"
    }
    coords["time"] = (dim, times) if dim != "time" else times
    if dim != "time":
        coords[dim] = np.arange(n_t)
    coords["neuroid"] = np.arange(n_u * n_lags)
    coords["unit"] = ("neuroid", np.repeat(binned["unit"].values, n_lags))
    coords["lag"] = ("neuroid", np.tile(np.arange(n_lags), n_u))
    for name, c in binned.coords.items():
        if c.dims == ("unit",) and name != "unit":
            coords[name] = ("neuroid", np.repeat(np.asarray(c.values), n_lags))
    attrs = _attrs(binned, n_lags=n_lags, lag_s=n_lags * bin_size, n_dropped_bins=0)
    attrs.pop("nd_kind", None)
    if dim == "trial":
        attrs["nd_kind"] = "responses"
    out = xr.DataArray(design, dims=(dim, "neuroid"), coords=coords, name="spike_history", attrs=attrs)
    if incomplete == "drop":
        n_drop = int((~complete).sum())
        if n_drop:
            log.info("spike_history: dropped %d bin(s) without a full %d-bin history", n_drop, n_lags)
        out = out.isel({dim: np.flatnonzero(complete)})
        out.attrs["n_dropped_bins"] = n_drop
    else:
        out = out.assign_coords(history_complete=(dim, complete))
    return out


# --------------------------------------------------------------------------- rates


def firing_rates(binned):
    """Convert spike counts per bin into firing rates in Hz (counts / ``bin_size``).

    Accepts (time, unit) or (trial, unit, time) counts; raises if the data are already rates.
    """
    bin_size = _check_binned(binned)
    if _quantity(binned) == "rate":
        raise BadInputError("these binned spikes are already rates (attrs['quantity'] == 'rate').")
    data = np.asarray(binned.values, dtype=float) / bin_size
    return binned.copy(data=data).assign_attrs(_attrs(binned, quantity="rate", units="Hz"))
