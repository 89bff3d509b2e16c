"""One style for every figure neurodecode draws: sizes, fonts, colours and colour maps.

Figures are sized in inches and shown in the report at their natural size (``DISPLAY_DPI`` CSS
pixels per inch) from a PNG rendered at twice that density, so a 9 pt label reads as a 12 px
label on screen. Every figure also goes to ``figures/`` of the run's output folder as SVG
(text kept as text) and PNG.

Colours
    :data:`PALETTE` is the Okabe-Ito palette (distinguishable with the common colour-vision
    deficiencies); :data:`PALETTE_MORE` extends it for more than 8 groups.
Colour maps
    :data:`CMAP_SEQUENTIAL` (viridis) for magnitudes that start at zero (dissimilarities,
    counts, accuracies), :data:`CMAP_DIVERGING` (RdBu_r, centred on zero with
    :func:`diverging_limits`) for signed differences and correlations, :data:`CMAP_CATEGORICAL`
    for labels. All are perceptually ordered and readable in grey scale or by colour-blind readers.

Captions
    :func:`set_caption` attaches a one-sentence caption to a figure; the report prints it under
    the figure and :func:`neurodecode.report.figures.render_figure` returns it.
Checks
    :func:`figure_problems` lists what a reviewer would flag (an axis without a label, an image
    without a colour bar, text below :data:`MIN_FONT_PT`); the tests call it on every report figure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = [
    "SCORING_LABELS",
    "scoring_label",
    "PALETTE",
    "PALETTE_MORE",
    "CMAP_SEQUENTIAL",
    "CMAP_DIVERGING",
    "CMAP_CATEGORICAL",
    "CMAP_GREY",
    "DISPLAY_DPI",
    "PNG_SCALE",
    "FULL_WIDTH",
    "PANEL_WIDTH",
    "PANEL_HEIGHT",
    "FONT_PT",
    "MIN_FONT_PT",
    "CEILING_COLOR",
    "HIGHLIGHT_COLOR",
    "RC",
    "color",
    "colors",
    "context",
    "styled",
    "set_caption",
    "caption_of",
    "mark_categorical",
    "diverging_limits",
    "finalize",
    "figure_problems",
    "pretty",
    "legend_outside",
]

#: Okabe & Ito (2008) colour-blind-safe qualitative palette (yellow last: weak on white)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
#: Paul Tol's "muted" qualitative palette, used after the 8 Okabe-Ito colours
PALETTE_MORE = PALETTE + ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677",
                          "#882255", "#AA4499")
#: magnitudes from zero upwards: dissimilarities, counts, accuracies
CMAP_SEQUENTIAL = "viridis"
#: signed quantities centred on zero: differences, correlations, weights
CMAP_DIVERGING = "RdBu_r"
#: category labels (atlas regions)
CMAP_CATEGORICAL = "tab20"
#: backgrounds and rasters
CMAP_GREY = "Greys"
#: noise-ceiling band and significance marks
CEILING_COLOR = "0.85"
HIGHLIGHT_COLOR = "#000000"

#: CSS pixels per inch: the report shows a figure of width w inches as w * DISPLAY_DPI pixels
DISPLAY_DPI = 96
#: the PNG holds PNG_SCALE times the displayed pixels (sharp on high-density screens)
PNG_SCALE = 2
#: widest figure the report shows unscaled (its column is 1200 px)
FULL_WIDTH = 11.0
PANEL_WIDTH = 3.4
PANEL_HEIGHT = 3.0
FONT_PT = 10.0
#: nothing smaller is drawn (8 pt = 10.7 CSS px at natural size)
MIN_FONT_PT = 8.0

#: matplotlib settings of every figure (applied with :func:`context`)
RC: dict[str, Any] = {
    "font.size": FONT_PT,
    "axes.titlesize": FONT_PT + 1,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": FONT_PT - 1,
    "ytick.labelsize": FONT_PT - 1,
    "legend.fontsize": FONT_PT - 1,
    "legend.title_fontsize": FONT_PT - 1,
    "figure.titlesize": FONT_PT + 2,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.5,
    "lines.markersize": 5,
    "image.cmap": CMAP_SEQUENTIAL,
    "image.interpolation": "nearest",
    "legend.frameon": False,
    "figure.dpi": DISPLAY_DPI,
    "savefig.dpi": DISPLAY_DPI * PNG_SCALE,
    "svg.fonttype": "none",
    "figure.constrained_layout.use": True,
}

_REGION_NAMES = {
    "human_it": "human IT",
    "monkey_it": "monkey IT",
    "behaviour": "behaviour",
    "behavior": "behaviour",
    "ffa": "FFA",
    "ppa": "PPA",
    "loc": "LOC",
    "v1": "V1",
}


def color(index: int) -> str:
    """The ``index``-th qualitative colour (Okabe-Ito first, then Tol muted, then cycling)."""
    return PALETTE_MORE[index % len(PALETTE_MORE)]


def colors(n: int) -> list[str]:
    """``n`` qualitative colours (see :func:`color`)."""
    return [color(i) for i in range(n)]


def context() -> contextlib.AbstractContextManager:
    """A matplotlib ``rc_context`` with :data:`RC`: build figures inside it."""
    import matplotlib as mpl

    return mpl.rc_context(RC)


def styled(fn: Any) -> Any:
    """Decorator: run a figure function inside :func:`context` and :func:`finalize` its figure."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with context():
            fig = fn(*args, **kwargs)
            if fig is not None and hasattr(fig, "savefig"):
                finalize(fig)
        return fig

    return wrapper


def set_caption(fig: Any, text: str) -> Any:
    """Attach a caption (what the figure shows, in one or two sentences) and return ``fig``."""
    fig.neurodecode_caption = " ".join(str(text).split())
    return fig


def caption_of(fig: Any) -> str | None:
    """The caption attached with :func:`set_caption`, or None."""
    return getattr(fig, "neurodecode_caption", None)


def mark_categorical(artist: Any) -> Any:
    """Mark an image as categorical (labels, a mask, a background): it needs a legend, not a colour bar."""
    artist.set_gid("neurodecode:categorical")
    return artist


def diverging_limits(values: Any) -> tuple[float, float]:
    """Symmetric ``(vmin, vmax)`` around zero for a diverging colour map (``(-1, 1)`` when all zero/NaN)."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    lim = float(np.nanmax(np.abs(arr))) if np.isfinite(arr).any() else 0.0
    lim = lim if lim > 0 else 1.0
    return -lim, lim


def pretty(name: Any) -> str:
    """A readable label for a data name: ``"monkey_it"`` -> ``"monkey IT"``, ``"p_fdr"`` -> ``"p fdr"``."""
    text = str(name)
    return _REGION_NAMES.get(text.lower(), text.replace("_", " "))


#: readable axis labels of scikit-learn scorer names
SCORING_LABELS = {"roc_auc": "ROC AUC", "r2": "R²", "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
                  "roc_auc_ovr": "ROC AUC (one vs rest)", "f1": "F1", "f1_macro": "F1 (macro)"}


def scoring_label(scoring: Any) -> str:
    """A readable label for a scikit-learn scorer name: ``"roc_auc"`` -> ``"ROC AUC"``."""
    text = str(scoring)
    return SCORING_LABELS.get(text, text.replace("_", " "))


def _texts(fig: Any) -> Iterator[Any]:
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip():
            yield text


def finalize(fig: Any, *, min_font: float = MIN_FONT_PT) -> Any:
    """Raise every font below ``min_font`` points to ``min_font`` (tick labels included); return ``fig``.

    Applied to every figure before it is rendered, so figures built elsewhere (e.g. by an op)
    are legible too.
    """
    for ax in fig.get_axes():
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            for which, kw in (("major", axis._major_tick_kw), ("minor", axis._minor_tick_kw)):
                size = kw.get("labelsize")
                if isinstance(size, (int, float)) and size < min_font:
                    ax.tick_params(axis=name, which=which, labelsize=min_font)
    try:
        fig.draw_without_rendering()  # creates the tick labels so they can be checked
    except Exception:  # a broken figure is reported by the renderer, not here
        return fig
    for text in _texts(fig):
        if text.get_fontsize() < min_font:
            text.set_fontsize(min_font)
    changed = _slant_crowded_ticks(fig) | _wrap_wide_titles(fig)
    if changed:
        from matplotlib.layout_engine import ConstrainedLayoutEngine

        if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):  # laid out once (tight_layout)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    fig.tight_layout()
                except Exception:  # a layout that cannot be tightened is drawn as it is
                    pass
    return fig


def _wrap_wide_titles(fig: Any) -> bool:
    """Axes titles and the figure title wider than the figure are wrapped onto several lines (never cut)."""
    import textwrap

    try:
        renderer = fig.canvas.get_renderer()
    except Exception:
        return False
    changed = False
    width = fig.bbox.width
    titles = [t for ax in fig.get_axes() for t in (ax.title, ax._left_title, ax._right_title)]
    if getattr(fig, "_suptitle", None) is not None:
        titles.append(fig._suptitle)
    for t in titles:
        text = t.get_text()
        if not text.strip() or not t.get_visible():
            continue
        box = t.get_window_extent(renderer)
        if box.width > 0.96 * width or box.x0 < 0 or box.x1 > width:
            chars = max(20, int(len(text) * 0.9 * width / max(box.width, 1.0)))
            t.set_text(textwrap.fill(text, chars))
            changed = True
    return changed


def _slant_crowded_ticks(fig: Any) -> bool:
    """Horizontal x tick labels that overlap their neighbours are slanted (45 degrees, right-aligned)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not hasattr(fig.canvas, "get_renderer"):  # a bare Figure: render with Agg, as the report does
        FigureCanvasAgg(fig)
    try:
        renderer = fig.canvas.get_renderer()
    except Exception:
        return False
    changed = False
    for ax in fig.get_axes():
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text().strip()]
        if len(labels) < 2 or any(t.get_rotation() != 0 for t in labels):
            continue
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        if any(left.x1 > right.x0 + 0.5 for left, right in zip(boxes, boxes[1:])):
            changed = True
            for t in labels:
                t.set_rotation(45)
                t.set_horizontalalignment("right")
                t.set_rotation_mode("anchor")
    return changed


def _is_scalar_image(artist: Any) -> bool:
    import numpy as np
    from matplotlib.collections import QuadMesh
    from matplotlib.image import AxesImage

    if artist.get_gid() == "neurodecode:categorical" or not artist.get_visible():
        return False
    if isinstance(artist, AxesImage):
        arr = artist.get_array()
        return arr is not None and np.ndim(arr) == 2
    return isinstance(artist, QuadMesh)


def _colorbar_axes(fig: Any) -> set[Any]:
    out = set()
    for ax in fig.get_axes():
        if getattr(ax, "_colorbar", None) is not None:
            out.add(ax)
    return out


def figure_problems(fig: Any, *, min_font: float = MIN_FONT_PT) -> list[str]:
    """What a reviewer would flag in ``fig``: empty list when none.

    * an axis that shows tick labels but has no label (a label on a panel sharing that axis,
      or a figure-level ``supxlabel``/``supylabel``, counts);
    * an image of scalar values (``imshow``/``pcolormesh`` of a 2-D array) without a colour bar
      for its colour scale (images marked with :func:`mark_categorical` and RGB images need none);
    * a colour bar without a label;
    * visible text smaller than ``min_font`` points.
    """
    problems: list[str] = []
    try:
        fig.draw_without_rendering()
    except Exception as err:  # pragma: no cover - reported as a problem
        return [f"figure cannot be drawn: {type(err).__name__}: {err}"]
    cbar_axes = _colorbar_axes(fig)
    cbar_mappables = [ax._colorbar.mappable for ax in cbar_axes]
    sup_x = getattr(fig, "_supxlabel", None)
    sup_y = getattr(fig, "_supylabel", None)
    data_axes = [ax for ax in fig.get_axes() if ax not in cbar_axes and ax.get_visible() and ax.axison]

    def labelled(ax: Any, which: str) -> bool:
        axis = ax.xaxis if which == "x" else ax.yaxis
        if axis.get_label_text().strip():
            return True
        if which == "x" and getattr(ax, "_twinned_axes", None) is not None:
            for other in ax._twinned_axes.get_siblings(ax):
                if other is not ax and other.xaxis.get_label_text().strip():
                    return True
        shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
        if any(other.get_visible() and (other.xaxis if which == "x" else other.yaxis).get_label_text().strip()
               for other in shared.get_siblings(ax)):
            return True
        sup = sup_x if which == "x" else sup_y
        return sup is not None and bool(sup.get_text().strip())

    for i, ax in enumerate(data_axes):
        name = ax.get_title() or f"axes {i}"
        for which in ("x", "y"):
            axis = ax.xaxis if which == "x" else ax.yaxis
            shown = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text().strip()]
            if shown and not labelled(ax, which):
                problems.append(f"{name!r}: the {which} axis has tick labels but no label")
        for artist in list(ax.images) + list(ax.collections):
            if not _is_scalar_image(artist):
                continue
            covered = artist in cbar_mappables or any(
                m.get_cmap().name == artist.get_cmap().name and tuple(m.get_clim()) == tuple(artist.get_clim())
                for m in cbar_mappables)
            if not covered:
                problems.append(f"{name!r}: an image without a colour bar")
    for ax in cbar_axes:
        cbar = ax._colorbar
        label = (cbar.ax.get_ylabel() if cbar.orientation == "vertical" else cbar.ax.get_xlabel()).strip()
        if not label:
            problems.append("a colour bar without a label")
    for text in _texts(fig):
        if text.get_fontsize() < min_font - 1e-6:
            problems.append(f"text {text.get_text()[:30]!r} is {text.get_fontsize():.1f} pt (< {min_font} pt)")
            break
    return problems


def legend_outside(ax: Any, handles: Sequence[Any] | None = None, labels: Sequence[str] | None = None,
                   *, ncol: int = 1, **kwargs: Any) -> Any:
    """A legend to the right of ``ax`` (never over the data)."""
    args = () if handles is None else (handles, labels)
    return ax.legend(*args, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, ncol=ncol, **kwargs)
