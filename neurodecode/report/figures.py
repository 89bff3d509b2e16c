"""Figures of the report, one function per modality; matplotlib is imported inside each function.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no global
backend switch) inside the style of :mod:`neurodecode.report.style`, and rendered with the Agg
canvas (PNG at twice the display density) and the SVG backend, so they work headless and in
worker threads. :func:`render_figure` gives the report's copy; :func:`write_figure_files` writes
every figure of a run as SVG and PNG into ``figures/`` of its output folder.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import style
from .style import set_caption, styled

__all__ = [
    "new_figure",
    "to_png_base64",
    "to_svg",
    "render_figure",
    "write_figure_files",
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

#: qualitative colours (kept for figure code elsewhere; see :data:`neurodecode.report.style.PALETTE`)
_COLORS = list(style.PALETTE_MORE)


def new_figure(width: float = 8.0, height: float = 4.0):
    """A :class:`matplotlib.figure.Figure` not attached to pyplot, in the report style.

    Build the axes inside :func:`neurodecode.report.style.context` (or decorate the figure
    function with :func:`neurodecode.report.style.styled`) to get the style's fonts; fonts below
    :data:`~neurodecode.report.style.MIN_FONT_PT` are raised when the figure is rendered anyway.
    """
    from matplotlib.figure import Figure

    with style.context():
        return Figure(figsize=(width, height), layout="constrained")


def _agg(fig: Any) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if getattr(fig, "canvas", None) is None or type(fig.canvas).__name__ == "FigureCanvasBase":
        FigureCanvasAgg(fig)


def _close(fig: Any) -> None:
    if "matplotlib.pyplot" in __import__("sys").modules:
        import matplotlib.pyplot as plt

        if plt.fignum_exists(getattr(fig, "number", -1)):
            plt.close(fig)


def _png_bytes(fig: Any, dpi: float | None = None) -> bytes:
    _agg(fig)
    buf = io.BytesIO()
    with style.context():
        fig.savefig(buf, format="png", dpi=dpi or style.DISPLAY_DPI * style.PNG_SCALE,
                    metadata={"Software": "neurodecode (matplotlib)"})
    return buf.getvalue()


def to_png_base64(fig: Any, dpi: float | None = None) -> str:
    """Render a matplotlib figure to a base64 PNG string (and close it if pyplot owns it).

    ``dpi`` defaults to twice the display density (:data:`~neurodecode.report.style.DISPLAY_DPI`).
    """
    out = base64.b64encode(_png_bytes(fig, dpi)).decode("ascii")
    _close(fig)
    return out


def to_svg(fig: Any) -> str:
    """Render a matplotlib figure to SVG text (text kept as text, no date stamp)."""
    _agg(fig)
    buf = io.StringIO()
    with style.context():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "neurodecode (matplotlib)"})
    return buf.getvalue()


def render_figure(fig: Any, title: str, *, caption: str | None = None, source: str = "op",
                  svg: bool = True) -> dict[str, Any]:
    """The report's record of one figure: ``title``, ``caption``, ``png`` (base64), ``svg``, size.

    The figure is finalized first (fonts below the minimum raised) and checked with
    :func:`neurodecode.report.style.figure_problems`; what it finds is kept in ``problems`` and
    logged (``run.log``). ``caption`` defaults to the one
    attached with :func:`neurodecode.report.style.set_caption`. ``width``/``height`` are the CSS
    pixels at which the report shows it (its natural size at
    :data:`~neurodecode.report.style.DISPLAY_DPI`); the PNG holds twice as many.
    """
    with style.context():
        style.finalize(fig)
        problems = style.figure_problems(fig)
    if problems:  # for the developers of the figure (run.log), not the reader
        import logging

        logging.getLogger("neurodecode.report").info("figure %r: %s", str(title), "; ".join(problems))
    width, height = (float(v) for v in fig.get_size_inches())
    record: dict[str, Any] = {
        "title": str(title),
        "caption": caption if caption is not None else style.caption_of(fig),
        "width": int(round(width * style.DISPLAY_DPI)),
        "height": int(round(height * style.DISPLAY_DPI)),
        "source": source,
        "problems": problems,
    }
    record["svg"] = to_svg(fig) if svg else None
    record["png"] = to_png_base64(fig)
    return record


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return slug[:60] or "figure"


def write_figure_files(out_dir: str | Path, steps: Sequence[Any], *, folder: str = "figures") -> list[str]:
    """Write every figure of ``steps`` as ``<folder>/<step>.<NN>_<title>.svg`` and ``.png``.

    ``steps`` are step records (objects or dicts with ``id`` and ``figures``, each figure a
    :func:`render_figure` record). The folder is replaced as a whole (atomically), so it never
    mixes figures of two runs; without any figure, an existing folder is removed. Returns the written
    paths relative to ``out_dir``.
    """
    import shutil

    from .._files import atomic_path, replace_path

    out_dir = Path(out_dir)
    final = out_dir / folder
    if not any((step.get("figures") if isinstance(step, Mapping) else getattr(step, "figures", None))
               for step in steps):
        if final.is_dir():  # no figure this time: no stale ones from an earlier run either
            shutil.rmtree(final)
        return []
    tmp = atomic_path(final)
    tmp.mkdir(parents=True)
    written: list[str] = []
    try:
        for step in steps:
            sid = step.get("id") if isinstance(step, Mapping) else getattr(step, "id", None)
            figs = step.get("figures") if isinstance(step, Mapping) else getattr(step, "figures", None)
            for n, fig in enumerate(figs or []):
                stem = f"{_slug(str(sid))}.{n + 1:02d}_{_slug(str(fig.get('title', 'figure')))}"
                if fig.get("png"):
                    (tmp / f"{stem}.png").write_bytes(base64.b64decode(fig["png"]))
                    written.append(f"{folder}/{stem}.png")
                if fig.get("svg"):
                    (tmp / f"{stem}.svg").write_text(fig["svg"], encoding="utf-8")
                    written.append(f"{folder}/{stem}.svg")
        replace_path(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


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


@styled
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
    fig = new_figure(min(style.FULL_WIDTH, 2.6 * ncols + 1.6), 2.3 * nrows + 0.5)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    for c, (ax, ch) in enumerate(zip(axes, channels)):
        for g, name in enumerate(names):
            sel = values[groups == name, c, :]
            mean = sel.mean(axis=0)
            sem = sel.std(axis=0, ddof=1) / np.sqrt(len(sel)) if len(sel) > 1 else np.zeros_like(mean)
            color = style.color(g)
            ax.plot(times, mean, color=color, lw=1.3, label=f"{name} (n={len(sel)})")
            ax.fill_between(times, mean - sem, mean + sem, color=color, alpha=0.2, lw=0)
        if highlight is not None:
            ax.axvspan(highlight[0], highlight[1], color="0.88", zorder=0,
                       label=highlight_label if c == 0 else None)
        ax.axvline(0, color="0.4", lw=0.6)
        ax.axhline(0, color="0.4", lw=0.6)
        ax.set_title(ch)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.supxlabel("time from stimulus onset (s)")
    fig.supylabel(f"amplitude ({unit})")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper")  # never over the curves
    fig.suptitle(f"Average response by {group_by}" if len(names) > 1 else "Average response")
    shade = f" The shaded band is the {highlight_label} ({highlight[0]:g}-{highlight[1]:g} s)." if highlight else ""
    return set_caption(fig, f"Mean over trials ± s.e.m. per channel and {group_by} "
                            f"({data.sizes['trial']} trials); 0 s is stimulus onset.{shade}")


@styled
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
    label = "fraction of samples flagged" if column == "bad_fraction" else style.pretty(column)
    n_rows = table["item"].nunique() if "item" in table else 1
    fig = new_figure(7.5, max(2.8, 1.2 + 0.22 * n_rows))
    ax = fig.subplots()
    if "item" in table:
        pivot = table.pivot_table(index="item", columns="channel", values=column, aggfunc="sum")
        pivot = pivot.reindex(index=list(dict.fromkeys(table["item"])), columns=list(dict.fromkeys(table["channel"])))
        values = pivot.values.astype(float)
        top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
        im = ax.imshow(values, aspect="auto", cmap="magma_r", vmin=0, vmax=max(top, 1e-9))
        if values.size <= 400:
            for (r, c), v in np.ndenumerate(values):
                if np.isfinite(v) and v >= 0.005:
                    ax.text(c, r, f"{v:.0%}" if v <= 1 else f"{v:.3g}", ha="center", va="center", fontsize=8,
                            color="white" if v > 0.5 * top else "black")
        ax.set_xticks(range(pivot.shape[1]), pivot.columns.astype(str))
        ax.set_yticks(range(pivot.shape[0]), pivot.index.astype(str))
        ax.set_xlabel("channel")
        ax.set_ylabel("run")
        fig.colorbar(im, ax=ax, label=label)
    else:
        grouped = table.groupby("channel")[column].sum()
        ax.bar(grouped.index.astype(str), grouped.values, color=style.color(1))
        ax.set_xlabel("channel")
        ax.set_ylabel(label)
    ax.set_title("Railing / flat signal per channel")
    return set_caption(fig, f"{label.capitalize()} per channel" + (" and run" if "item" in table else "")
                       + ": samples at the amplifier's rails or flat, which the pipeline masks or drops.")


@styled
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
    panel = min(2.4 if len(shown) > 2 else 4.0, (style.FULL_WIDTH - 1.4) / len(shown))  # few slices: larger
    fig = new_figure(panel * len(shown) + 1.4, panel + 0.9)
    axes = np.atleast_1d(fig.subplots(1, len(shown), squeeze=False)).ravel()
    im = None
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    for ax, kk in zip(axes, shown):
        if background is not None and "voxel" in background.dims:
            bi, bj, bk = (np.asarray(background[c].values, dtype=int) for c in ("i", "j", "k"))
            bg = np.full((shape[0], shape[1]), np.nan)
            sel = bk == kk
            bg[bi[sel], bj[sel]] = np.asarray(background.mean("time").values, dtype=float)[sel]
            style.mark_categorical(ax.imshow(bg.T, origin="lower", cmap="Greys_r"))
        img = np.full((shape[0], shape[1]), np.nan)
        sel = k == kk
        img[i[sel], j[sel]] = values[sel]
        im = ax.imshow(img.T, origin="lower", cmap=style.CMAP_SEQUENTIAL if not standardized else "Reds",
                       alpha=0.7 if background is not None else 1.0,
                       vmin=0 if standardized else vmin, vmax=1.5 if standardized else vmax)
        if standardized:
            style.mark_categorical(im)
        ax.set_title(f"slice k={kk}\n{int(sel.sum())} voxels")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
    if im is not None and not standardized:
        fig.colorbar(im, ax=list(axes), label="temporal mean of the kept voxels (a.u.)", shrink=0.8)
    elif standardized:
        from matplotlib.patches import Patch

        handles = [Patch(color="#e34a33", alpha=0.7, label="kept voxel")]
        if background is not None:
            handles.append(Patch(color="0.5", label="outside the mask"))
        style.legend_outside(axes[-1], handles, [h.get_label() for h in handles])
    fig.suptitle(f"Voxel mask: {bold.sizes['voxel']} voxels of a {tuple(int(s) for s in shape)} grid")
    return set_caption(fig, f"Voxels kept by the mask on {len(shown)} of {len(slices)} axial slices "
                            "(i to the right, j up)" + ("; grey: the volume before masking." if background is not None
                                                        else "."))


@styled
def bold_timecourse_figure(bold: Any, *, group_by: str = "label"):
    """Mean BOLD signal over voxels/ROIs across time, with run boundaries and labelled blocks."""
    space = "voxel" if "voxel" in bold.dims else "roi"
    signal = np.asarray(bold.mean(space).values, dtype=float)
    t = np.arange(signal.size)
    tr = bold.attrs.get("tr")
    fig = new_figure(style.FULL_WIDTH - 1.0, 3.0)
    ax = fig.subplots()
    ax.plot(t, signal, color="0.2", lw=0.8)
    names: list[str] = []
    if group_by in bold.coords and bold[group_by].dims == ("time",):
        labels = np.asarray(bold[group_by].values).astype(str)
        # sorted, as in category_response_figure: one colour per label across the report's figures
        names = sorted(n for n in set(labels) if n not in ("", "rest", "nan", "None"))
        for g, name in enumerate(names):
            ax.fill_between(t, np.nanmin(signal), np.nanmax(signal), where=labels == name, color=style.color(g),
                            alpha=0.25, lw=0, label=name)
        if names:
            style.legend_outside(ax, title=style.pretty(group_by))
    n_runs = 1
    if "run" in bold.coords and bold["run"].dims == ("time",):
        runs = np.asarray(bold["run"].values)
        bounds = np.flatnonzero(runs[1:] != runs[:-1]) + 1
        n_runs = len(bounds) + 1
        for b in bounds:
            ax.axvline(b - 0.5, color="0.5", lw=0.6, ls="--")
    ax.set_xlabel("volume" + (f" (TR {float(tr):g} s)" if tr else ""))
    units = bold.attrs.get("units")
    ax.set_ylabel(f"mean over {space}s" + (f" ({units})" if units else " (a.u.)"))
    ax.set_title("Mean signal over time")
    return set_caption(fig, f"Signal averaged over all {bold.sizes[space]} {space}s per volume"
                            + (f"; shaded: {group_by} blocks" if names else "")
                            + (f"; dashed lines: boundaries of the {n_runs} runs." if n_runs > 1 else "."))


@styled
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
    units = responses.attrs.get("units")
    unit_text = f" ({units})" if units else " (a.u.)"
    fig = new_figure(style.FULL_WIDTH - 0.5, 3.6)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 2])
    avg = [per_trial[groups == n].mean() for n in names]
    sem = [per_trial[groups == n].std(ddof=1) / np.sqrt(max((groups == n).sum(), 1)) if (groups == n).sum() > 1
           else 0.0 for n in names]
    ax1.bar(range(len(names)), avg, yerr=sem, color=style.colors(len(names)))
    ax1.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax1.set_xlabel(style.pretty(group_by))
    ax1.set_ylabel("mean over neuroids" + unit_text)
    ax1.set_title(f"Mean response per {group_by}")
    shown = means[:, :max_neuroids]
    vmin, vmax = style.diverging_limits(shown)
    im = ax2.imshow(shown, aspect="auto", cmap=style.CMAP_DIVERGING, vmin=vmin, vmax=vmax)
    ax2.set_yticks(range(len(names)), names)
    ax2.set_ylabel(style.pretty(group_by))
    ax2.set_xlabel(f"neuroid (first {shown.shape[1]})")
    ax2.set_title(f"{group_by} × neuroid mean pattern")
    fig.colorbar(im, ax=ax2, shrink=0.8, label="mean response" + unit_text)
    return set_caption(fig, f"Left: response averaged over neuroids, mean ± s.e.m. over {dim}s per {group_by}. "
                            f"Right: mean response of each neuroid per {group_by} (blue below, red above zero).")


@styled
def spike_raster_figure(binned: Any, *, seconds: float = 60.0, max_units: int = 200):
    """Counts/rates of each unit over the first ``seconds`` (a binned raster) and the population rate."""
    bin_size = float(binned.attrs.get("bin_size", 1.0))
    n_bins = max(1, min(binned.sizes["time"], int(round(seconds / bin_size))))
    sub = binned.isel(time=slice(0, n_bins), unit=slice(0, max_units)).transpose("unit", "time")
    t = np.asarray(sub["time"].values, dtype=float)
    values = np.asarray(sub.values, dtype=float)
    scale = np.nanpercentile(values, 99, axis=1, keepdims=True)
    scaled = values / np.where(scale > 0, scale, 1.0)
    units = binned.attrs.get("units", "count")
    fig = new_figure(style.FULL_WIDTH - 0.5, 4.6)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    im = ax1.imshow(scaled, aspect="auto", cmap=style.CMAP_GREY, vmin=0, vmax=1,
                    extent=(t[0] - bin_size / 2, t[-1] + bin_size / 2, values.shape[0] - 0.5, -0.5))
    fig.colorbar(im, ax=[ax1, ax2], label="activity / unit's 99th percentile", shrink=0.6, anchor=(0.0, 1.0))
    ax1.set_ylabel("unit")
    ax1.set_title(f"Binned activity, first {n_bins * bin_size:.0f} s ({bin_size * 1000:.0f} ms bins)")
    ax2.plot(t, values.mean(axis=0), color=style.color(0), lw=0.8)
    ax2.set_ylabel(f"mean ({units})")
    ax2.set_xlabel("time (s)")
    velocity = [n for n in ("vel_x", "vel_y") if n in sub.coords and sub[n].dims == ("time",)]
    if velocity:
        twin = ax2.twinx()
        twin.spines["right"].set_visible(True)
        for i, name in enumerate(velocity):
            twin.plot(t, np.asarray(sub[name].values, dtype=float), color=style.color(i + 1), lw=0.6, label=name)
        twin.set_ylabel("hand velocity")
        twin.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, borderaxespad=0.1)
    return set_caption(fig, f"Top: {sub.sizes['unit']} units, each scaled to its 99th percentile so quiet and busy "
                            f"units are both visible. Bottom: population mean ({units})"
                            + (" with the hand velocity." if velocity else "."))


@styled
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
    unit_name = binned.attrs.get("units", "count")
    fig = new_figure(style.FULL_WIDTH - 0.5, 3.6)
    ax1, ax2 = fig.subplots(1, 2)
    unit_colors = [c for c in style.PALETTE_MORE if c != style.HIGHLIGHT_COLOR]  # black is "all units"
    for r, u in enumerate(best):
        ax1.plot(np.degrees(centers), tuning[:, u], marker="o", ms=3, lw=1, color=unit_colors[r % len(unit_colors)],
                 label=f"unit {units[u]}")
    ax1.plot(np.degrees(centers), np.nanmean(tuning, axis=1), color=style.HIGHLIGHT_COLOR, lw=2.5, ls="--",
             label="all units")
    ax1.set_xlabel("movement direction (deg)")
    ax1.set_ylabel(f"mean activity ({unit_name})")
    ax1.set_title("Directional tuning (moving bins)")
    style.legend_outside(ax1)
    qs = np.quantile(speed, np.linspace(0, 1, 11))
    idx = np.clip(np.digitize(speed, qs[1:-1]), 0, 9)
    pop = values.mean(axis=1)
    ax2.plot([speed[idx == q].mean() for q in range(10)], [pop[idx == q].mean() for q in range(10)], "o-",
             color=style.color(0))
    ax2.set_xlabel("hand speed (deciles, velocity units)")
    ax2.set_ylabel(f"population mean ({unit_name})")
    ax2.set_title("Activity vs speed")
    return set_caption(fig, f"Left: mean activity per movement direction while the hand moves (speed above its "
                            f"25th percentile) for the {len(best)} most tuned units and all units. Right: population "
                            "activity per decile of hand speed.")


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
        cleaning = first.attrs.get("cleaning")
        standardized = isinstance(cleaning, dict) and bool(cleaning.get("standardize"))
        if "voxel" in first.dims and not standardized:  # a standardized bold shows no new mask: not drawn again
            add("Voxel mask", bold_mask_figure(first))
        add("Mean signal over time", bold_timecourse_figure(first, group_by=group_by))
    elif kind == "responses":
        add(f"Mean response per {group_by}", category_response_figure(items[0], group_by=group_by))
    elif kind == "binned_spikes":
        add("Binned activity", spike_raster_figure(items[0]))
        add("Activity vs velocity", rates_vs_velocity_figure(items[0]))
    return out
