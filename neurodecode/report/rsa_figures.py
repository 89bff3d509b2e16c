"""Figures of the layer-vs-brain comparison (RSA, tRSA); matplotlib is imported inside each function.

They take the labelled results of :mod:`neurodecode.pipeline.rsa_ops`:

* ``scores``: a Dataset with ``score``, ``ci_low``, ``ci_high`` (and ``p_fdr``) on (``model``,
  ``layer``, ``region``) and ``ceiling_low``, ``ceiling_high`` on ``region``;
* RDM stacks (``rdm``, ``stimulus``, ``stimulus_``) with a ``category`` coord on ``stimulus``;
* a tRSA sweep DataArray on (``low``, ``up``);
* the tRSA result: ``rsa_score`` and ``trsa_score`` on (``model``, ``layer``, ``region``).

Every figure marks the answer (best layer, FDR-significant layers, noise ceilings, the best tRSA
setting and chance) and carries a caption (:func:`neurodecode.report.style.caption_of`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import style
from .figures import new_figure
from .style import set_caption, styled

__all__ = ["rsa_by_layer_figure", "rdm_heatmaps_figure", "mds_figure", "trsa_map_figure", "rsa_vs_trsa_figure"]

_METHOD_NAMES = {"spearman": "Spearman ρ", "pearson": "Pearson r", "kendall_tau_a": "Kendall τa",
                 "kendall": "Kendall τ", "cosine": "cosine"}

#: why a region may have no noise ceiling (the default note)
NO_CEILING_NOTE = "no noise ceiling: one RDM only (a ceiling needs ≥ 2 subjects)"


def _method_label(method: str) -> str:
    return _METHOD_NAMES.get(str(method).lower(), str(method))


def _panel_title(title: str) -> str:
    """``"monkey_it (mean of 1)"`` -> ``"monkey IT"``; ``"human_it (mean of 4)"`` -> ``"human IT (mean of 4)"``."""
    text = re.sub(r"\s*\(mean of 1\)$", "", str(title))
    head, _, rest = text.partition(" ")
    return (style.pretty(head) + (" " + rest if rest else "")).strip()


def _layer_axis(ax: Any, layers: Sequence[str], *, label: bool = True) -> None:
    x = np.arange(len(layers))
    ax.set_xticks(x, layers, rotation=90)
    ax.set_xlim(-0.6, len(layers) - 0.4)
    if label:
        ax.set_xlabel("layer (input → output)")


@styled
def rsa_by_layer_figure(
    scores: Any,
    *,
    method: str = "spearman",
    alpha: float | None = 0.05,
    mark_best: bool = True,
    ceiling_notes: Mapping[str, str] | None = None,
    sharey: bool = True,
    title: str | None = None,
):
    """RSA by layer, one panel per region: a line per model with its CI band, the noise-ceiling band in grey.

    Parameters
    ----------
    scores : Dataset
        ``score``, ``ci_low``, ``ci_high`` on (model, layer, region), ``ceiling_low``/``ceiling_high`` on
        region, optionally ``p_fdr`` (FDR-corrected p-values).
    method : str
        The RDM comparison (axis label).
    alpha : float or None
        Layers with ``p_fdr < alpha`` get filled markers, the others open ones (None: no marking).
    mark_best : bool
        Mark each model's best layer per region with a star and its score.
    ceiling_notes : dict, optional
        Region -> why it has no noise ceiling (default :data:`NO_CEILING_NOTE`), printed in its panel.
    sharey : bool
        One y range for all panels (they are compared).
    """
    regions = [str(r) for r in scores["region"].values]
    layers = [str(v) for v in scores["layer"].values]
    models = [str(m) for m in scores["model"].values]
    ceiling_notes = dict(ceiling_notes or {})
    n = len(regions)
    panel = min(max(3.6, 0.2 * len(layers)), (style.FULL_WIDTH - 2.0) / n)  # deep networks: wider panels
    fig = new_figure(panel * n + 2.0, 4.2)
    band_alpha = 0.18 if len(models) <= 2 else 0.1  # several models: lighter, overlapping bands
    axes = fig.subplots(1, n, sharey=sharey, squeeze=False)[0]
    x = np.arange(len(layers))
    has_p = alpha is not None and "p_fdr" in scores
    top = []
    best_text = []
    for r, (ax, region) in enumerate(zip(axes, regions)):
        sel = scores.sel(region=region)
        lo, hi = float(sel["ceiling_low"]), float(sel["ceiling_high"])
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axhspan(lo, hi, color=style.CEILING_COLOR, zorder=0, label="noise ceiling (lower–upper)")
            top.append(hi)
        else:
            note = ceiling_notes.get(region, NO_CEILING_NOTE)
            ax.text(0.02, 0.98, note.replace(": ", ":\n", 1), transform=ax.transAxes, ha="left", va="top",
                    fontsize=style.MIN_FONT_PT, color="0.3", wrap=True)
        for m, model in enumerate(models):
            s = sel.sel(model=model)
            color = style.color(m)
            y = np.asarray(s["score"].values, dtype=float)
            have = np.isfinite(y)  # models of different depth: a layer a model lacks is NaN, skipped
            ax.fill_between(x[have], np.asarray(s["ci_low"].values)[have], np.asarray(s["ci_high"].values)[have],
                            color=color, alpha=band_alpha, lw=0)
            ax.plot(x[have], y[have], "-", color=color, lw=1.5, label=style.pretty(model), zorder=3)
            top.append(float(np.nanmax(s["ci_high"].values)))
            sig = (np.asarray(s["p_fdr"].values) < alpha) if has_p else np.ones(len(x), bool)
            sig = sig & have
            sig_not = ~sig & have
            ax.plot(x[sig], y[sig], "o", color=color, ms=4.5, zorder=4)
            ax.plot(x[sig_not], y[sig_not], "o", mfc="white", mec=color, ms=4.5, zorder=4)
            if mark_best and np.isfinite(y).any():
                b = int(np.nanargmax(y))
                ax.plot([x[b]], [y[b]], "*", color=color, mec="k", mew=0.6, ms=13, zorder=5)
                best_text.append(f"{style.pretty(region)}: {model} {layers[b]} ({y[b]:.2f})")
        ax.axhline(0, color="0.5", lw=0.6)
        _layer_axis(ax, layers, label=False)
        ax.set_title(style.pretty(region))
        if r == 0 or not sharey:
            ax.set_ylabel(f"RDM correlation ({_method_label(method)})")
    finite_top = [t for t in top if np.isfinite(t)]
    if sharey and finite_top:
        ymin = min(0.0, float(np.nanmin(scores["ci_low"].values)))
        axes[0].set_ylim(ymin - 0.02, max(finite_top) * 1.08 + 0.02)
    fig.supxlabel("layer (input → output)")
    from matplotlib.lines import Line2D

    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if has_p:
        handles += [Line2D([], [], ls="", marker="o", color="0.3", ms=5),
                    Line2D([], [], ls="", marker="o", mfc="white", mec="0.3", ms=5)]
        labels += [f"p(FDR) < {alpha:g}", f"p(FDR) ≥ {alpha:g}"]
    if mark_best:
        handles.append(Line2D([], [], ls="", marker="*", color="0.3", mec="k", ms=11))
        labels.append("best layer")
    style.legend_outside(axes[-1], handles, labels)
    fig.suptitle(title or "RSA by layer: which layer's geometry matches the brain")
    ci = scores.attrs.get("ci", 0.95)
    boot = scores.attrs.get("bootstrap", "stimuli and subjects")
    caption = (f"RDM correlation ({_method_label(method)}) of each layer with each region; lines: estimate, "
               f"bands: {float(ci):.0%} bootstrap CI over {boot}; grey band: noise ceiling. ")
    if has_p:
        caption += (f"Filled markers: score > 0 with p < {alpha:g} after Benjamini-Hochberg FDR correction over "
                    "all models, layers and regions. ")
    if mark_best and best_text:
        caption += "Stars: best layer (" + "; ".join(best_text) + ")."
    return set_caption(fig, caption)


def _category_order(rdm: Any) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    if "category" not in rdm.coords:
        n = rdm.sizes["stimulus"]
        return np.arange(n), []
    cats = np.asarray(rdm["category"].values).astype(str)
    uniq = list(dict.fromkeys(cats))
    order = np.concatenate([np.flatnonzero(cats == c) for c in uniq])
    bounds, start = [], 0
    for c in uniq:
        k = int(np.sum(cats == c))
        bounds.append((c, start, start + k))
        start += k
    return order, bounds


def _rank_square(mat: np.ndarray) -> np.ndarray:
    """Percentile (0-100) of each off-diagonal dissimilarity; the diagonal is NaN (not drawn)."""
    from scipy.stats import rankdata

    n = mat.shape[0]
    iu = np.triu_indices(n, 1)
    out = np.full(mat.shape, np.nan)
    ranks = 100.0 * (rankdata(mat[iu]) - 0.5) / iu[0].size
    out[iu] = ranks
    out[(iu[1], iu[0])] = ranks
    return out


@styled
def rdm_heatmaps_figure(rdms: Sequence[tuple[str, Any]], *, ncols: int = 4, rank: bool = True,
                        title: str | None = None):
    """Category-sorted RDMs, one panel per (title, 2-D RDM DataArray), with one shared colour bar.

    Parameters
    ----------
    rdms : list of (str, DataArray)
        Panel title and a (stimulus, stimulus_) RDM; a ``category`` coord on ``stimulus`` sorts the
        stimuli and draws a category strip along the left and top edges.
    ncols : int
        At most this many panels per row; rows are balanced (5 panels: 3 + 2, never 4 + 1).
    rank : bool
        Show percentiles of the dissimilarities (comparable across RDMs of different scales), else
        the values themselves (one colour range over all panels).
    """
    n = len(rdms)
    nrows = int(np.ceil(n / max(ncols, 1)))
    ncols = int(np.ceil(n / nrows))
    panel = min(2.9, (style.FULL_WIDTH - 2.6) / ncols)
    fig = new_figure(panel * ncols + 2.6, panel * nrows + 0.9)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    mats = []
    for _, rdm in rdms:
        order, bounds = _category_order(rdm)
        mat = np.asarray(rdm.values, dtype=float)[np.ix_(order, order)]
        mats.append((_rank_square(mat) if rank else mat, bounds))
    if rank:
        vmin, vmax = 0.0, 100.0
    else:
        finite = np.concatenate([m[np.isfinite(m)] for m, _ in mats]) if mats else np.array([0.0, 1.0])
        vmin, vmax = float(finite.min()), float(finite.max())
    from matplotlib.patches import Patch, Rectangle

    cats: list[str] = []
    im = None
    for ax, (ttl, _), (mat, bounds) in zip(axes, rdms, mats):
        size = mat.shape[0]
        im = ax.imshow(mat, cmap=style.CMAP_SEQUENTIAL, vmin=vmin, vmax=vmax)
        strip = max(2.0, size * 0.05)
        for c, a, b in bounds:
            if c not in cats:
                cats.append(c)
            col = style.color(cats.index(c))
            ax.add_patch(Rectangle((-0.5 - strip, a - 0.5), strip, b - a, color=col, clip_on=False, lw=0))
            ax.add_patch(Rectangle((a - 0.5, -0.5 - strip), b - a, strip, color=col, clip_on=False, lw=0))
            if a > 0:
                ax.axhline(a - 0.5, color="w", lw=0.6)
                ax.axvline(a - 0.5, color="w", lw=0.6)
        ax.set_xlim(-0.5 - strip, size - 0.5)
        ax.set_ylim(size - 0.5, -0.5 - strip)
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title(_panel_title(ttl))
    for ax in axes[n:]:
        ax.set_visible(False)
    if im is not None:
        fig.colorbar(im, ax=list(axes[:n]), shrink=0.7,
                     label="dissimilarity (percentile)" if rank else "dissimilarity")
    if cats:
        handles = [Patch(color=style.color(i), label=c) for i, c in enumerate(cats)]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(cats), 6), title="category")
    n_stim = mats[0][0].shape[0] if mats else 0
    fig.suptitle(title or f"RDMs of the {n_stim} stimuli, sorted by category")
    how = ("shown as its percentile within the RDM, so RDMs of different scales are comparable" if rank
           else "one colour range for all panels")
    return set_caption(fig, f"Representational dissimilarity matrices: each cell is the dissimilarity of two of "
                            f"the {n_stim} stimuli ({how}); stimuli are sorted by category (coloured strips). "
                            "Blocks of low dissimilarity along the diagonal mean the category is represented "
                            "as a cluster.")


def _kruskal_stress(d: np.ndarray, xy: np.ndarray) -> float:
    """Kruskal's stress-1 of an embedding: sqrt(sum (d - dhat)^2 / sum d^2) over stimulus pairs."""
    from scipy.spatial.distance import pdist, squareform

    iu = np.triu_indices(d.shape[0], 1)
    emb = squareform(pdist(xy))[iu]
    target = d[iu]
    scale = np.dot(emb, target) / max(np.dot(emb, emb), 1e-300)  # best uniform scale of the embedding
    return float(np.sqrt(np.sum((target - scale * emb) ** 2) / max(np.sum(target ** 2), 1e-300)))


def _mds_options() -> dict[str, Any]:
    """Precomputed dissimilarities, random start: the spelling of the installed scikit-learn."""
    import inspect

    from sklearn.manifold import MDS

    params = inspect.signature(MDS).parameters
    if "metric_mds" in params:  # scikit-learn >= 1.8: `metric` names the distance
        return {"metric": "precomputed", "init": "random"}
    return {"dissimilarity": "precomputed"}


@styled
def mds_figure(rdms: Sequence[tuple[str, Any]], *, seed: int = 0, align: bool = True):
    """2-D metric MDS of the stimuli from each RDM (sklearn), coloured by category, with Kruskal stress-1.

    With ``align`` the embeddings after the first are rotated/reflected (orthogonal Procrustes) onto
    the first one, so the panels can be compared point by point.
    """
    from scipy.linalg import orthogonal_procrustes
    from sklearn.manifold import MDS

    n = len(rdms)
    panel = min(3.6, (style.FULL_WIDTH - 2.4) / n)
    fig = new_figure(panel * n + 2.4, panel + 0.8)
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)).ravel()
    ref = None
    n_stim = 0
    for ax, (ttl, rdm) in zip(axes, rdms):
        mat = np.asarray(rdm.values, dtype=float)
        mat = (mat + mat.T) / 2
        np.fill_diagonal(mat, 0.0)
        n_stim = mat.shape[0]
        xy = MDS(n_components=2, random_state=seed, n_init=1, normalized_stress="auto", **_mds_options()
                 ).fit_transform(mat)
        xy = xy - xy.mean(axis=0)
        xy = xy / (np.sqrt((xy ** 2).sum() / len(xy)) or 1.0)
        if align and ref is not None:
            rot, _ = orthogonal_procrustes(xy, ref)
            xy = xy @ rot
        ref = xy if ref is None else ref
        stress = _kruskal_stress(mat, xy)
        cats = np.asarray(rdm["category"].values).astype(str) if "category" in rdm.coords else np.full(len(mat), "")
        for i, cat in enumerate(dict.fromkeys(cats)):
            sel = cats == cat
            ax.scatter(xy[sel, 0], xy[sel, 1], s=16, color=style.color(i), label=cat or "stimulus", lw=0)
        ax.set_title(f"{_panel_title(ttl)}\nstress-1 = {stress:.2f}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("MDS dimension 1")
        ax.set_ylabel("MDS dimension 2")
    style.legend_outside(axes[-1], title="category", markerscale=1.8)
    fig.suptitle(f"MDS of the {n_stim} stimuli")
    return set_caption(fig, "Two-dimensional metric MDS of each RDM (stimuli close together evoke similar "
                            "patterns); units are arbitrary" + (", panels rotated onto the first (Procrustes)"
                                                                 if align and n > 1 else "")
                       + ". Stress-1 (Kruskal) says how much of the RDM the 2-D map loses (0: none; above ~0.2: "
                         "read the map with care).")


@styled
def trsa_map_figure(
    sweep: Any,
    *,
    title: str = "tRSA: model-selection accuracy over (low, up)",
    chance: float | None = None,
    best: tuple[float, float] | None = None,
    plain: tuple[float, float] | None = (0.0, 1.0),
    value_label: str = "layer-identification accuracy",
):
    """Heat map of a (low, up) sweep; cells with low >= up are blank.

    The colour range spans the values (not 0-1), so differences are visible; the best setting is
    outlined in black (``best``, default the highest value), plain RSA (``plain``, low=0, up=1) with a
    dashed outline, and ``chance`` (default ``sweep.attrs["chance"]``) is drawn on the colour bar
    when it falls inside the range (else stated in the caption).
    """
    from matplotlib.patches import Rectangle

    lows = np.asarray(sweep["low"].values, dtype=float)
    ups = np.asarray(sweep["up"].values, dtype=float)
    vals = np.asarray(sweep.transpose("low", "up").values, dtype=float)
    chance = chance if chance is not None else sweep.attrs.get("chance")
    finite = vals[np.isfinite(vals)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmax - vmin < 1e-9:
        vmin, vmax = vmin - 0.05, vmax + 0.05
    fig = new_figure(max(5.2, 0.62 * len(ups) + 2.6), max(3.8, 0.5 * len(lows) + 1.8))
    ax = fig.subplots()
    im = ax.imshow(vals, origin="lower", cmap=style.CMAP_SEQUENTIAL, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(np.arange(len(ups)), [f"{u:g}" for u in ups])
    ax.set_yticks(np.arange(len(lows)), [f"{lo:g}" for lo in lows])
    ax.set_xlabel("up: upper quantile threshold")
    ax.set_ylabel("low: lower quantile threshold")
    mid = (vmin + vmax) / 2
    for i in range(len(lows)):
        for j in range(len(ups)):
            if np.isfinite(vals[i, j]):
                ax.text(j, i, f"{vals[i, j]:.2f}", ha="center", va="center", fontsize=style.MIN_FONT_PT,
                        color="w" if vals[i, j] < mid else "k")
    if best is None and finite.size:
        i, j = np.unravel_index(int(np.nanargmax(vals)), vals.shape)
        best = (float(lows[i]), float(ups[j]))
    handles = []
    if best is not None and best[0] in lows and best[1] in ups:
        i, j = int(np.flatnonzero(lows == best[0])[0]), int(np.flatnonzero(ups == best[1])[0])
        handles.append(ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="k", lw=2.2,
                                              label=f"best: low={best[0]:g}, up={best[1]:g}")))
    if plain is not None and plain[0] in lows and plain[1] in ups and tuple(plain) != tuple(best or ()):
        i, j = int(np.flatnonzero(lows == plain[0])[0]), int(np.flatnonzero(ups == plain[1])[0])
        handles.append(ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="#D55E00", lw=1.8,
                                              ls="--", label="plain RSA (low=0, up=1)")))
    cbar = fig.colorbar(im, ax=ax, label=value_label)
    chance_text = ""
    if chance is not None and np.isfinite(chance):
        if vmin <= chance <= vmax:
            cbar.ax.axhline(chance, color="k", lw=1.5)
            cbar.ax.text(1.05, chance, "chance", transform=cbar.ax.get_yaxis_transform(), va="center",
                         fontsize=style.MIN_FONT_PT)
            chance_text = f" Chance is {chance:.2f} (line on the colour bar)."
        else:
            chance_text = (f" Chance is {chance:.2f}, {'below' if chance < vmin else 'above'} every cell "
                           f"(the colours span {vmin:.2f}-{vmax:.2f}).")
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=len(handles),
                  frameon=False)
    ax.set_title(title)
    return set_caption(fig, f"{value_label.capitalize()} of topological RSA for each (low, up) setting of the "
                            f"transform (blank: low ≥ up). Black outline: best setting; dashed: plain RSA."
                       + chance_text)


@styled
def rsa_vs_trsa_figure(
    result: Any,
    *,
    ci: Mapping[str, tuple[Any, Any]] | None = None,
    method: str | None = None,
    mark_best: bool = True,
    title: str | None = None,
):
    """RSA and tRSA scores by layer, one panel per region, on one y range.

    Parameters
    ----------
    result : Dataset
        ``rsa_score`` and ``trsa_score`` on (model, layer, region); attrs ``low``, ``up``, ``kind``,
        ``method``. CIs are drawn when ``result`` has ``rsa_ci_low``/``rsa_ci_high`` and
        ``trsa_ci_low``/``trsa_ci_high`` (same dims), or when given in ``ci``.
    ci : dict, optional
        ``{"rsa": (low, high), "trsa": (low, high)}`` arrays shaped like the scores.
    """
    regions = [str(r) for r in result["region"].values]
    layers = [str(v) for v in result["layer"].values]
    models = [str(m) for m in result["model"].values]
    method = method or result.attrs.get("method", "spearman")
    bands: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind in ("rsa", "trsa"):
        if ci and kind in ci:
            bands[kind] = (np.asarray(ci[kind][0], dtype=float), np.asarray(ci[kind][1], dtype=float))
        elif f"{kind}_ci_low" in result and f"{kind}_ci_high" in result:
            order = ("model", "layer", "region")
            bands[kind] = (np.asarray(result[f"{kind}_ci_low"].transpose(*order).values, dtype=float),
                           np.asarray(result[f"{kind}_ci_high"].transpose(*order).values, dtype=float))
    n = len(regions)
    panel = min(max(3.6, 0.2 * len(layers)), (style.FULL_WIDTH - 2.2) / n)  # deep networks: wider panels
    fig = new_figure(panel * n + 2.2, 4.2)
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    x = np.arange(len(layers))
    best_text = []
    for r, (ax, region) in enumerate(zip(axes, regions)):
        for m, model in enumerate(models):
            color = style.color(m)
            for kind, ls, marker in (("rsa", "-", "o"), ("trsa", "--", "s")):
                y = np.asarray(result[f"{kind}_score"].sel(model=model, region=region).values, dtype=float)
                label = f"{style.pretty(model)}, {'RSA' if kind == 'rsa' else 'tRSA'}"
                ax.plot(x, y, ls=ls, marker=marker, ms=3.5, color=color, label=label,
                        alpha=1.0 if kind == "rsa" else 0.8)
                if kind in bands:
                    lo, hi = bands[kind]
                    ax.fill_between(x, lo[m, :, r], hi[m, :, r], color=color, alpha=0.12 if kind == "rsa" else 0.08,
                                    lw=0)
                if mark_best and kind == "trsa" and np.isfinite(y).any():
                    b = int(np.nanargmax(y))
                    ax.plot([x[b]], [y[b]], "*", color=color, mec="k", mew=0.6, ms=12, zorder=5)
                    best_text.append(f"{style.pretty(region)}: {model} {layers[b]}")
        ax.axhline(0, color="0.5", lw=0.6)
        _layer_axis(ax, layers, label=False)
        ax.set_title(style.pretty(region))
        if r == 0:
            ax.set_ylabel(f"RDM correlation ({_method_label(method)})")
    fig.supxlabel("layer (input → output)")
    handles, labels = axes[-1].get_legend_handles_labels()
    if best_text:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], ls="", marker="*", ms=12, color="0.6", mec="k", mew=0.6))
        labels.append("best layer (tRSA)")
    style.legend_outside(axes[-1], handles, labels)
    low, up = result.attrs.get("low"), result.attrs.get("up")
    kind = result.attrs.get("kind", "geotopological")
    setting = f"{kind}, low={float(low):g}, up={float(up):g}" if low is not None and up is not None else kind
    fig.suptitle(title or f"RSA vs topological RSA by layer ({setting})")
    caption = (f"Solid: plain RSA; dashed: tRSA after the {setting} transform of every RDM (layers and brain), "
               f"compared with {_method_label(method)}. ")
    caption += ("Bands: bootstrap CIs. " if bands else "Point estimates (no CIs were computed for this figure). ")
    if best_text:
        caption += "Stars: best layer under tRSA (" + "; ".join(best_text) + ")."
    return set_caption(fig, caption)


@styled
def rsa_over_time_figure(scores: Any, *, method: str = "spearman", title: str | None = None):
    """Time-resolved RSA: layer x time maps of the RDM correlation, one panel per (model, region).

    ``scores``: a Dataset with ``score`` on (model, layer, region, time) and ``best_layer`` on (model,
    region, time) (:func:`neurodecode.analysis.compare_layers_over_time`). Sequential colour scale over
    the values' range; the best layer at each time point is marked with a white dot.
    """
    models = [str(m) for m in scores["model"].values]
    regions = [str(r) for r in scores["region"].values]
    layers = [str(la) for la in scores["layer"].values]
    times = np.asarray(scores["time"].values, dtype=float)
    fig = new_figure(max(4.5, 4.2 * len(regions)), max(3.2, 2.6 * len(models)))
    axes = np.atleast_2d(fig.subplots(len(models), len(regions), squeeze=False))
    values = np.asarray(scores["score"].values, dtype=float)
    vmin, vmax = float(np.nanmin(values)), float(np.nanmax(values))
    image = None
    for m, model in enumerate(models):
        for r, region in enumerate(regions):
            ax = axes[m, r]
            z = values[m, :, r, :]
            step = float(np.median(np.diff(times))) if times.size > 1 else 1.0
            image = ax.imshow(z, aspect="auto", origin="lower", vmin=vmin, vmax=vmax,
                              extent=(times[0] - step / 2, times[-1] + step / 2, -0.5, len(layers) - 0.5))
            with np.errstate(invalid="ignore"):
                best = np.nanargmax(np.where(np.isfinite(z), z, -np.inf), axis=0)
            ax.plot(times, best, "o", ms=2.5, mfc="white", mec="k", mew=0.4)
            ax.set_yticks(range(len(layers)), layers)
            ax.set_title(f"{model}: {style.pretty(region)}")
            ax.set_xlabel("time (s)")
            if r == 0:
                ax.set_ylabel("layer")
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), label=f"RDM correlation ({_method_label(method)})",
                     shrink=0.8)
    fig.suptitle(title or "Time-resolved RSA: layers vs brain RDMs over time")
    return set_caption(fig, f"RDM correlation ({_method_label(method)}) of each layer with the brain RDM of each "
                            "time point, averaged over subjects; white dots: the best layer at each time.")
