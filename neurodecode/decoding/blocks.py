"""fMRI blocks as samples with a time axis: the volumes of each block, for decoders that read time courses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import BadInputError

__all__ = ["block_timecourses"]


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
