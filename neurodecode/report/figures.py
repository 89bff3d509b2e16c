"""Figures of the report, one function per modality; matplotlib is imported inside each function.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no global
backend switch) and rendered to PNG with the Agg canvas, so they work headless and in
worker threads.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "new_figure",
    "to_png_base64",
    "erp_figure",
    "railing_figure",
    "bold_mask_figure",
    "bold_timecourse_figure",
    "category_response_figure",
    "spike_raster_figure",
    "rates_vs_velocity_figure",
    "table_figures",
    "auto_figures",
]

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def new_figure(width: float = 8.0, height: float = 4.0):
    """A :class:`matplotlib.figure.Figure` not attached to pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_png_base64(fig: Any, dpi: int = 80) -> str:
    """Render a matplotlib figure to a base64 PNG string (and close it if pyplot owns it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if getattr(fig, "canvas", None) is None or type(fig.canvas).__name__ == "FigureCanvasBase":
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if "matplotlib.pyplot" in __import__("sys").modules:
        import matplotlib.pyplot as plt

        if plt.fignum_exists(getattr(fig, "number", -1)):
            plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _microvolts(values: np.ndarray, units: str | None) -> tuple[np.ndarray, str]:
    if units in ("V", "volt", "volts"):
        return values * 1e6, "µV"
    if units in ("uV", "µV", "microvolts"):
        return values, "µV"
    return values, units or "a.u."


def _stack_epochs(epochs: Any):
    """One DataArray from a list of epochs (same channels/times), else the object itself."""
    import xarray as xr

    if not isinstance(epochs, (list, tuple)):
        return epochs
    items = [e for e in epochs if isinstance(e, xr.DataArray) and e.sizes.get("trial", 0)]
    if not items:
        return None
    ref = items[0]
    same = [e for e in items if e.sizes["time"] == ref.sizes["time"]
            and list(e["channel"].values) == list(ref["channel"].values)]
    coords = [c for c in ref.coords if ref[c].dims == ("trial",) and all(c in e.coords for e in same)]
    parts = [e.drop_vars([c for c in e.coords if e[c].dims == ("trial",) and c not in coords])
             .assign_coords(time=ref["time"].values, trial=np.arange(e.sizes["trial"])) for e in same]
    return xr.concat(parts, dim="trial", coords="minimal", compat="override", join="override",
                     combine_attrs="override")


def erp_figure(
    epochs: Any,
    *,
    group_by: str = "label",
    highlight: Sequence[float] | None = None,
    highlight_label: str = "window",
    max_groups: int = 8,
):
    """Average response (± s.e.m. over trials) per channel and per value of ``group_by``.

    Parameters
    ----------
    epochs : DataArray (trial, channel, time) or list of them
    group_by : str
        Trial coord compared (e.g. ``label``: face vs house); one curve when absent.
    highlight : (float, float), optional
        Time window (s) to shade, e.g. the N170 window.
    """
    data = _stack_epochs(epochs)
    if data is None:
        return None
    channels = [str(c) for c in data["channel"].values]
    times = np.asarray(data["time"].values, dtype=float)
    values, unit = _microvolts(np.asarray(data.values, dtype=float), data.attrs.get("units"))
    if group_by in data.coords and data[group_by].dims == ("trial",):
        groups = np.asarray(data[group_by].values).astype(str)
    else:
        groups = np.full(data.sizes["trial"], "all")
    names = list(dict.fromkeys(sorted(set(groups))))[:max_groups]
    n = len(channels)
    ncols = min(n, 4)
    nrows = int(np.ceil(n / ncols))
    fig = new_figure(3.2 * ncols, 2.4 * nrows + 0.4)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, squeeze=False)).ravel()
    for c, (ax, ch) in enumerate(zip(axes, channels)):
        for g, name in enumerate(names):
            sel = values[groups == name, c, :]
            mean = sel.mean(axis=0)
            sem = sel.std(axis=0, ddof=1) / np.sqrt(len(sel)) if len(sel) > 1 else np.zeros_like(mean)
            color = _COLORS[g % len(_COLORS)]
            ax.plot(times, mean, color=color, lw=1.2, label=f"{name} (n={len(sel)})")
            ax.fill_between(times, mean - sem, mean + sem, color=color, alpha=0.2, lw=0)
        if highlight is not None:
            ax.axvspan(highlight[0], highlight[1], color="0.85", zorder=0,
                       label=highlight_label if c == 0 else None)
        ax.axvline(0, color="0.4", lw=0.6)
        ax.axhline(0, color="0.4", lw=0.6)
        ax.set_title(ch, fontsize=9)
        ax.tick_params(labelsize=7)
        if c % ncols == 0:
            ax.set_ylabel(unit, fontsize=8)
        if c >= n - ncols:
            ax.set_xlabel("time (s)", fontsize=8)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"Average response by {group_by}" if len(names) > 1 else "Average response", fontsize=10)
    return fig


def railing_figure(table: pd.DataFrame, column: str | None = None):
    """How much of each channel was flagged (railing/flat), per run when the table has an ``item`` column.

    ``table`` is one row per channel (and run), e.g. the ``channels`` table of
    :func:`neurodecode.preprocess.eeg.detect_railing`; ``column`` defaults to ``bad_fraction``.
    """
    if not isinstance(table, pd.DataFrame) or "channel" not in table or not len(table):
        return None
    numeric = [c for c in table.columns if c not in ("channel", "item") and pd.api.types.is_numeric_dtype(table[c])
               and table[c].dtype != bool]
    preferred = [c for c in numeric if c == "bad_fraction"]
    preferred += [c for c in numeric if any(k in c for k in ("frac", "percent", "seconds", "duration", "n_"))]
    column = column or (preferred or numeric or [None])[0]
    if column is None:
        return None
    n_rows = table["item"].nunique() if "item" in table else 1
    fig = new_figure(7, max(2.5, 0.6 + 0.16 * n_rows))
    ax = fig.subplots()
    if "item" in table:
        pivot = table.pivot_table(index="item", columns="channel", values=column, aggfunc="sum")
        pivot = pivot.reindex(index=list(dict.fromkeys(table["item"])), columns=list(dict.fromkeys(table["channel"])))
        values = pivot.values.astype(float)
        im = ax.imshow(values, aspect="auto", cmap="magma_r", interpolation="nearest", vmin=0)
        for (r, c), v in np.ndenumerate(values):
            if np.isfinite(v) and v >= 0.005:
                ax.text(c, r, f"{v:.0%}" if v <= 1 else f"{v:.3g}", ha="center", va="center", fontsize=6,
                        color="white" if v > 0.5 * np.nanmax(values) else "black")
        ax.set_xticks(range(pivot.shape[1]), pivot.columns.astype(str), fontsize=8)
        ax.set_yticks(range(pivot.shape[0]), pivot.index.astype(str), fontsize=6)
        fig.colorbar(im, ax=ax, label=column)
    else:
        grouped = table.groupby("channel")[column].sum()
        ax.bar(grouped.index.astype(str), grouped.values, color="#d62728")
        ax.set_ylabel(column)
    ax.set_title(f"Railing / flat signal per channel ({column})", fontsize=10)
    return fig


def bold_mask_figure(bold: Any, *, background: Any = None):
    """The voxels kept (the mask) on the volume grid, one panel per slice (at most 6).

    Kept voxels are coloured by their temporal mean, or drawn in one colour when the data are
    standardized (``attrs["cleaning"]``), where the mean carries no information. ``background``
    (a ``bold`` on the same grid, e.g. before masking) is drawn in grey beneath.
    """
    shape = np.asarray(bold.attrs.get("shape", []), dtype=int)
    if "voxel" not in bold.dims or shape.size < 3:
        return None
    i, j, k = (np.asarray(bold[c].values, dtype=int) for c in ("i", "j", "k"))
    standardized = bool((bold.attrs.get("cleaning") or {}).get("standardize")) if isinstance(
        bold.attrs.get("cleaning"), dict) else False
    values = np.ones(i.size) if standardized else np.asarray(bold.mean("time").values, dtype=float)
    slices = np.unique(k)
    shown = slices[np.linspace(0, len(slices) - 1, min(len(slices), 6)).astype(int)]
    fig = new_figure(2.8 * len(shown) + 1.2, 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(shown), squeeze=False)).ravel()
    im = None
    for ax, kk in zip(axes, shown):
        if background is not None and "voxel" in background.dims:
            bi, bj, bk = (np.asarray(background[c].values, dtype=int) for c in ("i", "j", "k"))
            bg = np.full((shape[0], shape[1]), np.nan)
            sel = bk == kk
            bg[bi[sel], bj[sel]] = np.asarray(background.mean("time").values, dtype=float)[sel]
            ax.imshow(bg.T, origin="lower", cmap="Greys_r", interpolation="nearest")
        img = np.full((shape[0], shape[1]), np.nan)
        sel = k == kk
        img[i[sel], j[sel]] = values[sel]
        im = ax.imshow(img.T, origin="lower", cmap="Reds" if standardized else "viridis",
                       interpolation="nearest", alpha=0.6 if background is not None else 1.0,
                       vmin=0 if standardized else None, vmax=1.5 if standardized else None)
        ax.set_title(f"slice k={kk}: {int(sel.sum())} voxels", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if im is not None and not standardized:
        fig.colorbar(im, ax=list(axes), label="temporal mean", shrink=0.8)
    fig.suptitle(f"Voxel mask: {bold.sizes['voxel']} voxels of a {tuple(int(s) for s in shape)} grid", fontsize=10)
    return fig


def bold_timecourse_figure(bold: Any, *, group_by: str = "label"):
    """Mean BOLD signal over voxels/ROIs across time, with run boundaries and labelled blocks."""
    space = "voxel" if "voxel" in bold.dims else "roi"
    signal = np.asarray(bold.mean(space).values, dtype=float)
    t = np.arange(signal.size)
    fig = new_figure(9, 2.8)
    ax = fig.subplots()
    ax.plot(t, signal, color="0.2", lw=0.8)
    if group_by in bold.coords and bold[group_by].dims == ("time",):
        labels = np.asarray(bold[group_by].values).astype(str)
        names = [n for n in dict.fromkeys(labels) if n not in ("", "rest", "nan", "None")]
        for g, name in enumerate(names):
            ax.fill_between(t, signal.min(), signal.max(), where=labels == name, color=_COLORS[g % len(_COLORS)],
                            alpha=0.25, lw=0, label=name)
        if names:
            ax.legend(fontsize=6, ncol=min(len(names), 8), loc="upper right")
    if "run" in bold.coords and bold["run"].dims == ("time",):
        runs = np.asarray(bold["run"].values)
        for b in np.flatnonzero(runs[1:] != runs[:-1]) + 1:
            ax.axvline(b - 0.5, color="0.5", lw=0.6, ls="--")
    ax.set_xlabel("volume")
    ax.set_ylabel(f"mean over {space}s")
    ax.set_title("Mean signal over time", fontsize=10)
    return fig


def category_response_figure(responses: Any, *, group_by: str = "label", max_neuroids: int = 400):
    """Mean response per category (± s.e.m. over trials) and the category x neuroid mean pattern."""
    dim = "trial" if "trial" in responses.dims else "stimulus"
    if group_by not in responses.coords or responses[group_by].dims != (dim,):
        candidates = [c for c in ("label", "category", "condition", "trial_type") if c in responses.coords
                      and responses[c].dims == (dim,)]
        if not candidates:
            return None
        group_by = candidates[0]
    values = np.asarray(responses.transpose(dim, "neuroid").values, dtype=float)
    groups = np.asarray(responses[group_by].values).astype(str)
    names = sorted(set(groups))
    means = np.array([values[groups == n].mean(axis=0) for n in names])
    per_trial = values.mean(axis=1)
    fig = new_figure(10, 3.4)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 2])
    avg = [per_trial[groups == n].mean() for n in names]
    sem = [per_trial[groups == n].std(ddof=1) / np.sqrt(max((groups == n).sum(), 1)) if (groups == n).sum() > 1
           else 0.0 for n in names]
    ax1.bar(range(len(names)), avg, yerr=sem, color=[_COLORS[g % len(_COLORS)] for g in range(len(names))])
    ax1.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax1.set_ylabel("mean over neuroids")
    ax1.set_title(f"Mean response per {group_by}", fontsize=9)
    shown = means[:, :max_neuroids]
    lim = np.nanmax(np.abs(shown)) or 1.0
    im = ax2.imshow(shown, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax2.set_yticks(range(len(names)), names, fontsize=7)
    ax2.set_xlabel(f"neuroid (first {shown.shape[1]})")
    ax2.set_title(f"{group_by} x neuroid mean pattern", fontsize=9)
    fig.colorbar(im, ax=ax2, shrink=0.8)
    return fig


def spike_raster_figure(binned: Any, *, seconds: float = 60.0, max_units: int = 200):
    """Counts/rates of each unit over the first ``seconds`` (a binned raster) and the population rate."""
    bin_size = float(binned.attrs.get("bin_size", 1.0))
    n_bins = max(1, min(binned.sizes["time"], int(round(seconds / bin_size))))
    sub = binned.isel(time=slice(0, n_bins), unit=slice(0, max_units)).transpose("unit", "time")
    t = np.asarray(sub["time"].values, dtype=float)
    values = np.asarray(sub.values, dtype=float)
    scale = np.nanpercentile(values, 99, axis=1, keepdims=True)
    scaled = values / np.where(scale > 0, scale, 1.0)
    fig = new_figure(10, 4.2)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ax1.imshow(scaled, aspect="auto", cmap="Greys", interpolation="nearest", vmin=0, vmax=1,
               extent=(t[0] - bin_size / 2, t[-1] + bin_size / 2, values.shape[0] - 0.5, -0.5))
    ax1.set_ylabel("unit")
    ax1.set_title(f"Binned activity (each unit scaled to its 99th percentile), first {n_bins * bin_size:.0f} s "
                  f"({bin_size * 1000:.0f} ms bins)", fontsize=9)
    ax2.plot(t, values.mean(axis=0), color="#1f77b4", lw=0.8)
    ax2.set_ylabel(f"population mean ({binned.attrs.get('units', 'count')})", fontsize=8)
    ax2.set_xlabel("time (s)")
    velocity = [n for n in ("vel_x", "vel_y") if n in sub.coords and sub[n].dims == ("time",)]
    if velocity:
        twin = ax2.twinx()
        for name, color in zip(velocity, ("#d62728", "#2ca02c")):
            twin.plot(t, np.asarray(sub[name].values, dtype=float), color=color, lw=0.6, label=name)
        twin.set_ylabel("velocity", fontsize=8)
        twin.legend(fontsize=6, loc="upper right")
    return fig


def rates_vs_velocity_figure(binned: Any, *, n_bins: int = 8, n_units: int = 6):
    """Tuning: mean activity per movement direction (population and the most tuned units) and vs speed."""
    if not all(c in binned.coords and binned[c].dims == ("time",) for c in ("vel_x", "vel_y")):
        return None
    vx = np.asarray(binned["vel_x"].values, dtype=float)
    vy = np.asarray(binned["vel_y"].values, dtype=float)
    ok = np.isfinite(vx) & np.isfinite(vy)
    values = np.asarray(binned.transpose("time", "unit").values, dtype=float)[ok]
    vx, vy = vx[ok], vy[ok]
    speed = np.hypot(vx, vy)
    moving = speed > np.quantile(speed, 0.25)
    angle = np.arctan2(vy, vx)
    edges = np.linspace(-np.pi, np.pi, n_bins + 1)
    which = np.clip(np.digitize(angle, edges) - 1, 0, n_bins - 1)
    centers = (edges[:-1] + edges[1:]) / 2
    tuning = np.array([values[moving & (which == b)].mean(axis=0) if np.any(moving & (which == b))
                       else np.full(values.shape[1], np.nan) for b in range(n_bins)])
    depth = np.nanmax(tuning, axis=0) - np.nanmin(tuning, axis=0)
    best = np.argsort(np.nan_to_num(depth))[::-1][:n_units]
    units = np.asarray(binned["unit"].values)
    fig = new_figure(10, 3.4)
    ax1, ax2 = fig.subplots(1, 2)
    for r, u in enumerate(best):
        ax1.plot(np.degrees(centers), tuning[:, u], marker="o", ms=3, lw=1, color=_COLORS[r % len(_COLORS)],
                 label=f"unit {units[u]}")
    ax1.plot(np.degrees(centers), np.nanmean(tuning, axis=1), color="k", lw=2, label="all units")
    ax1.set_xlabel("movement direction (deg)")
    ax1.set_ylabel("mean activity")
    ax1.set_title("Directional tuning (moving bins)", fontsize=9)
    ax1.legend(fontsize=6)
    qs = np.quantile(speed, np.linspace(0, 1, 11))
    idx = np.clip(np.digitize(speed, qs[1:-1]), 0, 9)
    pop = values.mean(axis=1)
    ax2.plot([speed[idx == q].mean() for q in range(10)], [pop[idx == q].mean() for q in range(10)], "o-")
    ax2.set_xlabel("hand speed")
    ax2.set_ylabel("population mean activity")
    ax2.set_title("Activity vs speed (deciles)", fontsize=9)
    return fig


def table_figures(name: str, table: pd.DataFrame) -> list[tuple[str, Any]]:
    """Figures of the step tables the report knows (the per-channel railing summary)."""
    if "railing" in name and isinstance(table, pd.DataFrame) and {"channel", "bad_fraction"} <= set(table.columns):
        fig = railing_figure(table, "bad_fraction")
        return [("Railing / flat fraction per channel" + (" and run" if "item" in table else ""), fig)] if fig else []
    return []


def auto_figures(
    obj: Any,
    *,
    highlight: Sequence[float] | None = None,
    highlight_label: str = "window",
    group_by: str = "label",
) -> list[tuple[str, Any]]:
    """The standard figures of a step output, chosen by its data-model kind.

    epochs: average response per channel by ``group_by``; bold: the voxel mask and the mean
    time course; responses: mean response per category; binned spikes: raster and tuning to
    velocity. Other kinds (and continuous recordings) get none.
    """
    import xarray as xr

    from ..datamodel import kind_of

    items = obj if isinstance(obj, (list, tuple)) else [obj]
    items = [x for x in items if isinstance(x, (xr.DataArray, xr.Dataset))]
    if not items:
        return []
    try:
        kind = kind_of(items[0])
    except Exception:
        return []
    out: list[tuple[str, Any]] = []

    def add(title: str, fig: Any) -> None:
        if fig is not None:
            out.append((title, fig))

    if kind == "epochs":
        add(f"Average response per channel ({group_by})",
            erp_figure(obj, group_by=group_by, highlight=highlight, highlight_label=highlight_label))
    elif kind == "bold":
        first = items[0]
        if "voxel" in first.dims:
            add("Voxel mask", bold_mask_figure(first))
        add("Mean signal over time", bold_timecourse_figure(first, group_by=group_by))
    elif kind == "responses":
        add(f"Mean response per {group_by}", category_response_figure(items[0], group_by=group_by))
    elif kind == "binned_spikes":
        add("Binned activity", spike_raster_figure(items[0]))
        add("Activity vs velocity", rates_vs_velocity_figure(items[0]))
    return out
