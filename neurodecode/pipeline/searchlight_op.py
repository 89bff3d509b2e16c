"""``decoding.searchlight``: a searchlight decoding map of voxel responses (thin adapter).

Checks the input, calls :func:`neurodecode.decoding.searchlight` and returns the map (a voxel
DataArray that :func:`neurodecode.loaders.to_nifti` turns into a NIfTI image), a table of the
centres, the map figure and the answer. Nothing here knows a dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError
from .checks import keep_classes
from .ops import StepResult

__all__ = ["searchlight_map", "plot_searchlight"]


def plot_searchlight(maps: Mapping[str, xr.DataArray], *, background: xr.DataArray | None = None,
                     chance: float | None = None, title: str | None = None):
    """Axial slice of each searchlight map (the slice of its best centre), over an optional background.

    Parameters
    ----------
    maps : dict of str -> DataArray
        Panel title -> a map on ``voxel`` with ``i``/``j``/``k`` coords and the ``shape`` attr.
    background : DataArray, optional
        A voxel map (e.g. the mean image) drawn in grey beneath.
    chance : float, optional
        Lower end of the colour scale of decoding maps (maps with negative values use a
        symmetric diverging scale).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(maps), figsize=(4.6 * len(maps), 3.6), constrained_layout=True, squeeze=False)
    for ax, (name, m) in zip(axes[0], maps.items()):
        shape = tuple(int(s) for s in np.asarray(m.attrs["shape"])[:3])
        vals = np.asarray(m.values, dtype=float)
        k = int(np.asarray(m["k"].values)[int(np.nanargmax(vals))])
        on = np.asarray(m["k"].values) == k
        if background is not None:
            bg = np.zeros(shape[:2])
            sel = np.asarray(background["k"].values) == k
            bg[background["i"].values[sel], background["j"].values[sel]] = np.asarray(background.values)[sel]
            ax.imshow(bg.T, cmap="gray", origin="lower")
        vol = np.full(shape[:2], np.nan)
        vol[m["i"].values[on], m["j"].values[on]] = vals[on]
        if np.nanmin(vals) < 0:
            lim = float(np.nanmax(np.abs(vals)))
            im = ax.imshow(vol.T, cmap="RdBu_r", origin="lower", vmin=-lim, vmax=lim, alpha=0.9)
        else:
            low = chance if chance is not None else float(np.nanmin(vals))
            im = ax.imshow(vol.T, cmap="hot", origin="lower", vmin=low, vmax=float(np.nanmax(vals)), alpha=0.9)
        ax.set_title(f"{name} (slice k={k})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def searchlight_map(
    data: Any,
    *,
    label: str = "label",
    estimator: Any = "lda",
    cv: Any = "run",
    radius: float = 8.0,
    scoring: str | None = None,
    classes: list[str] | None = None,
    n_jobs: int = 1,
    seed: int = 0,
) -> StepResult:
    """Searchlight decoding map of voxel responses (``fmri.block_responses`` / ``fmri.glm_betas`` output).

    Parameters
    ----------
    data : DataArray
        Voxel responses (trial, neuroid) with ``i``/``j``/``k`` coords and the affine/shape attrs.
    label : str
        The trial coord to decode.
    estimator : str or dict
        A registered estimator (default ``lda``: batched over spheres).
    cv : str or int
        As in :func:`neurodecode.decoding.cross_validate` (default leave one run out).
    radius : float
        Sphere radius in mm.
    scoring : str, optional
    classes : list of str, optional
        Decode only these label values.
    n_jobs, seed : int
    """
    from ..decoding import searchlight

    if not isinstance(data, xr.DataArray) or "neuroid" not in data.dims and "voxel" not in data.dims:
        what = list(data.dims) if isinstance(data, xr.DataArray) else type(data).__name__
        raise BadInputError(f"decoding.searchlight: needs voxel responses (trial, neuroid); got {what}. "
                            "Add an fmri.block_responses or fmri.glm_betas step before it.")
    if classes:
        if label not in data.coords:
            raise BadInputError(f"decoding.searchlight: no coord {label!r} to select classes from.")
        data = keep_classes(data, label, classes, "decoding.searchlight", dim=data.dims[0])
    m = searchlight(data, label, estimator, cv, radius=radius, scoring=scoring, n_jobs=n_jobs, seed=seed,
                    progress=False)
    vals = np.asarray(m.values)
    best = int(np.nanargmax(vals))
    chance = float(m.attrs["chance"])
    scoring = str(m.attrs["scoring"])
    table = pd.DataFrame({"i": m["i"].values, "j": m["j"].values, "k": m["k"].values,
                          "n_features": m["n_features"].values, "score": vals}).sort_values(
        "score", ascending=False, kind="stable").reset_index(drop=True)
    metrics = {"best": float(vals[best]), "median": float(np.median(vals)), "chance": chance,
               "n_centres": float(len(vals)), "seconds": float(m.attrs["seconds"])}
    where = f"(i={int(m['i'][best])}, j={int(m['j'][best])}, k={int(m['k'][best])})"
    answer = (f"Searchlight ({radius:g} mm spheres, {m.attrs['cv']}): {scoring} peaks at {vals[best]:.3f} at voxel "
              f"{where} (chance {chance:.3f}); median over {len(vals)} centres {np.median(vals):.3f}.")
    est_name = estimator if isinstance(estimator, str) else type(estimator).__name__
    def fig():
        return (f"searchlight map ({est_name}, {scoring})", plot_searchlight({f"{est_name}, {scoring}": m}, chance=chance),
                f"{scoring} of {est_name} in {radius:g} mm spheres around each voxel; solver: {m.attrs['solver']}.")

    notes = [f"solver: {m.attrs['solver']}; spheres of {int(m['n_features'].min())} to "
             f"{int(m['n_features'].max())} voxels; write the map as NIfTI with neurodecode.loaders.to_nifti."]
    return StepResult(m, metrics=metrics, tables={"searchlight": table}, figures=[fig], notes=notes, answer=answer)
