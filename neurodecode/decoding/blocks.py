"""fMRI blocks as samples with a time axis: the volumes of each block, for decoders that read time courses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import BadInputError

__all__ = ["block_timecourses", "run_windows"]


def block_timecourses(
    bold: xr.DataArray,
    *,
    shift: float = 5.0,
    label: str = "label",
    runs: Any = "run",
    exclude: Sequence[str] = ("rest",),
    n_volumes: int | None = None,
) -> xr.DataArray:
    """The volumes of every block, ``(trial, voxel, time)``: the blocks of
    :func:`neurodecode.preprocess.fmri.block_responses` (labels delayed by ``shift`` s) before averaging.

    Parameters
    ----------
    bold : xarray.DataArray
        ``bold`` (time, voxel) with a per-volume ``label`` coord (and ``run``).
    shift, label, runs, exclude
        As :func:`~neurodecode.preprocess.fmri.block_responses`.
    n_volumes : int, optional
        Volumes kept per block (from its first); default the shortest block's length. Shorter
        blocks are an error.

    Returns
    -------
    xarray.DataArray
        (trial, voxel, time) with ``time`` the seconds from the block's first (shifted) volume;
        trial coords ``label``, ``run``, ``onset``; the voxel coords; attrs of the bold plus
        ``sfreq`` (1 / TR) and ``shift``. Block time courses are per-sample data: any learnt step
        (parcels, scaling) belongs inside the decoder, fitted on the training fold.
    """
    from ..preprocess.fmri import block_responses

    blocks = block_responses(bold, shift=shift, label=label, runs=runs, exclude=list(exclude))
    tr = float(bold.attrs["tr"])
    n_shift = int(round(float(blocks.attrs["shift"]) / tr))
    b = bold.transpose("time", ...)
    times = np.asarray(b["time"].values, dtype=float)
    first = np.asarray(blocks["onset"].values, dtype=float) + n_shift * tr
    start = np.searchsorted(times, first - 1e-6)
    if np.any(start >= len(times)) or not np.allclose(times[np.minimum(start, len(times) - 1)], first, atol=1e-6):
        raise BadInputError("could not place the blocks on the time axis; is the time coord on a TR grid?")
    lengths = np.asarray(blocks["n_volumes"].values, dtype=int)
    n = int(lengths.min() if n_volumes is None else n_volumes)
    if n < 1 or np.any(lengths < n):
        raise BadInputError(f"n_volumes={n}: {int((lengths < n).sum())} block(s) are shorter (lengths "
                            f"{sorted(set(lengths.tolist()))}); use n_volumes <= {int(lengths.min())}.")
    values = np.asarray(b.values)
    idx = start[:, None] + np.arange(n)[None, :]
    data = values[idx].transpose(0, 2, 1)  # (trial, voxel, time)
    feat_dim = b.dims[1]
    coords: dict[str, Any] = {"time": np.arange(n) * tr}
    for k in ("label", "run", "onset"):
        coords[k] = ("trial", np.asarray(blocks[k].values))
    for k, c in b.coords.items():
        if c.dims == (feat_dim,):
            coords[str(k)] = (feat_dim, np.asarray(c.values))
    attrs = dict(bold.attrs)
    attrs.update(sfreq=1.0 / tr, shift=n_shift * tr, n_volumes=n)
    return xr.DataArray(data, dims=("trial", feat_dim, "time"), coords=coords, attrs=attrs, name="block_timecourses")


def run_windows(
    bold: xr.DataArray,
    *,
    n_volumes: int = 8,
    step: int = 2,
    runs: Any = "run",
) -> xr.DataArray:
    """Unlabelled sliding windows of ``n_volumes`` volumes over every run, ``(trial, voxel, time)``.

    Every volume of a run is used, rest and task alike; a window never spans two runs. These
    are the unlabelled samples of self-supervised pretraining (``pretrain=`` of
    :func:`neurodecode.decoding.cross_validate`, which keeps only the training runs' windows in
    each fold).

    Parameters
    ----------
    bold : xarray.DataArray
        ``bold`` (time, voxel) with a ``run`` coord on time (or one run) and ``attrs["tr"]``.
    n_volumes : int
        Volumes per window.
    step : int
        Hop between window starts, in volumes.
    runs : str or array
        Run labels (coord name or one per volume), as in
        :func:`~neurodecode.preprocess.fmri.block_responses`.

    Returns
    -------
    xarray.DataArray
        (trial, voxel, time), ``time`` the seconds from the window's first volume; trial coords
        ``run``, ``onset`` (time of the first volume), ``window_start`` / ``window_stop``
        (seconds, the span the leak guard compares); the voxel coords; attrs of the bold plus
        ``sfreq`` (1 / TR) and ``n_volumes``, ``step``.

    Raises
    ------
    BadInputError
        ``n_volumes`` or ``step`` below 1, a run shorter than one window, no ``tr`` attr.
    """
    from ..preprocess.fmri import _run_groups, _run_labels

    if "time" not in bold.dims or bold.ndim != 2:
        raise BadInputError(f"run_windows needs bold (time, voxel), got dims {bold.dims}.")
    if "tr" not in bold.attrs:
        raise BadInputError("bold has no 'tr' attr (seconds per volume); set bold.attrs['tr'].")
    n, hop = int(n_volumes), int(step)
    if n < 1 or hop < 1:
        raise BadInputError(f"n_volumes ({n_volumes}) and step ({step}) must be >= 1.")
    tr = float(bold.attrs["tr"])
    b = bold.transpose("time", ...)
    feat_dim = b.dims[1]
    values = np.asarray(b.values)
    times = np.asarray(b["time"].values, dtype=float)
    windows, run_lab, onset, short = [], [], [], []
    for run, idx in _run_groups(b, _run_labels(b, runs)):  # idx: the run's volumes in time order
        if idx.size < n:
            short.append(f"{run} ({idx.size} volumes)")
            continue
        rows = idx[np.arange(0, idx.size - n + 1, hop)[:, None] + np.arange(n)[None, :]]  # (window, volume)
        windows.append(values[rows].transpose(0, 2, 1))
        run_lab.append(np.repeat(np.asarray([run]), len(rows)))
        onset.append(times[rows[:, 0]])
    if not windows:
        raise BadInputError(f"every run is shorter than one window of {n} volumes: {short}; use fewer volumes.")
    data = np.concatenate(windows)
    t0 = np.concatenate(onset)
    coords: dict[str, Any] = {"time": np.arange(n) * tr,
                              "run": ("trial", np.concatenate(run_lab)),
                              "onset": ("trial", t0),
                              "window_start": ("trial", t0),
                              "window_stop": ("trial", t0 + n * tr)}
    for k, c in b.coords.items():
        if c.dims == (feat_dim,):
            coords[str(k)] = (feat_dim, np.asarray(c.values))
    attrs = dict(bold.attrs)
    attrs.update(sfreq=1.0 / tr, n_volumes=n, step=hop)
    if short:
        attrs["short_runs"] = short
    return xr.DataArray(data, dims=("trial", feat_dim, "time"), coords=coords, attrs=attrs, name="run_windows")
