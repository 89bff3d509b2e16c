"""Figures of the layer-vs-brain comparison (RSA, tRSA); matplotlib is imported inside each function.

They take the labelled results of :mod:`neurodecode.pipeline.rsa_ops`:

* ``scores``: a Dataset with ``score``, ``ci_low``, ``ci_high`` on (``model``, ``layer``, ``region``)
  and ``ceiling_low``, ``ceiling_high`` on ``region``;
* RDM stacks (``rdm``, ``stimulus``, ``stimulus_``) with a ``category`` coord on ``stimulus``;
* a tRSA sweep DataArray on (``low``, ``up``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .figures import _COLORS, new_figure

__all__ = ["rsa_by_layer_figure", "rdm_heatmaps_figure", "mds_figure", "trsa_map_figure"]


def rsa_by_layer_figure(scores: Any, *, method: str = "spearman"):
    """RSA by layer, one panel per region: a line per model with its CI band, the noise-ceiling band in grey."""
    regions = [str(r) for r in scores["region"].values]
    layers = [str(v) for v in scores["layer"].values]
    fig = new_figure(4.2 * len(regions), 3.6)
    axes = fig.subplots(1, len(regions), sharey=False, squeeze=False)[0]
    x = np.arange(len(layers))
    for ax, region in zip(axes, regions):
        sel = scores.sel(region=region)
        lo, hi = float(sel["ceiling_low"]), float(sel["ceiling_high"])
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axhspan(lo, hi, color="0.85", label="noise ceiling", zorder=0)
        for i, model in enumerate(sel["model"].values):
            m = sel.sel(model=model)
            color = _COLORS[i % len(_COLORS)]
            ax.fill_between(x, m["ci_low"].values, m["ci_high"].values, color=color, alpha=0.2, lw=0)
            ax.plot(x, m["score"].values, "o-", color=color, ms=3, label=str(model))
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_xticks(x, layers, rotation=90, fontsize=7)
        ax.set_title(region)
        ax.set_ylabel(f"RDM correlation ({method})")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Layer-wise RSA with 95% bootstrap CIs (stimuli and subjects) and noise ceilings")
    return fig


def _category_order(rdm: Any) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    if "category" not in rdm.coords:
        n = rdm.sizes["stimulus"]
        return np.arange(n), []
    cats = np.asarray(rdm["category"].values).astype(str)
    uniq = list(dict.fromkeys(cats))
    order = np.concatenate([np.flatnonzero(cats == c) for c in uniq])
    bounds, start = [], 0
    for c in uniq:
        n = int(np.sum(cats == c))
        bounds.append((c, start, start + n))
        start += n
    return order, bounds


def _rank_square(mat: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    n = mat.shape[0]
    iu = np.triu_indices(n, 1)
    out = np.zeros_like(mat, dtype=float)
    ranks = rankdata(mat[iu]) / iu[0].size
    out[iu] = ranks
    out[(iu[1], iu[0])] = ranks
    return out


def rdm_heatmaps_figure(rdms: Sequence[tuple[str, Any]], *, ncols: int = 4):
    """Category-sorted RDMs (rank-transformed for display), one panel per (title, 2-D RDM DataArray)."""
    n = len(rdms)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig = new_figure(3.2 * ncols, 3.2 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, (title, rdm) in zip(axes, rdms):
        order, bounds = _category_order(rdm)
        mat = np.asarray(rdm.values, dtype=float)[np.ix_(order, order)]
        ax.imshow(_rank_square(mat), cmap="viridis", interpolation="nearest")
        for _, a, b in bounds[1:]:
            ax.axhline(a - 0.5, color="w", lw=0.5)
            ax.axvline(a - 0.5, color="w", lw=0.5)
        if bounds:
            mids = [(a + b - 1) / 2 for _, a, b in bounds]
            ax.set_xticks(mids, [c for c, _, _ in bounds], rotation=90, fontsize=6)
            ax.set_yticks(mids, [c for c, _, _ in bounds], fontsize=6)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(title, fontsize=8)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle("RDMs sorted by category (percentile of dissimilarity)")
    return fig


def mds_figure(rdms: Sequence[tuple[str, Any]], *, seed: int = 0):
    """2-D metric MDS of the stimuli from each RDM (sklearn), coloured by category."""
    from sklearn.manifold import MDS

    fig = new_figure(3.6 * len(rdms), 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(rdms), squeeze=False)).ravel()
    for ax, (title, rdm) in zip(axes, rdms):
        mat = np.asarray(rdm.values, dtype=float)
        mat = (mat + mat.T) / 2
        np.fill_diagonal(mat, 0.0)
        xy = MDS(n_components=2, dissimilarity="precomputed", random_state=seed, n_init=1,
                 normalized_stress="auto").fit_transform(mat)
        cats = np.asarray(rdm["category"].values).astype(str) if "category" in rdm.coords else np.zeros(len(mat), str)
        for i, cat in enumerate(dict.fromkeys(cats)):
            sel = cats == cat
            ax.scatter(xy[sel, 0], xy[sel, 1], s=14, color=_COLORS[i % len(_COLORS)], label=cat)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=6, loc="best")
    fig.suptitle("MDS of the 92 stimuli")
    return fig


def trsa_map_figure(sweep: Any, *, title: str = "tRSA: model-selection accuracy over (low, up)"):
    """Heat map of a (low, up) sweep; cells with low > up are blank."""
    lows = np.asarray(sweep["low"].values, dtype=float)
    ups = np.asarray(sweep["up"].values, dtype=float)
    vals = np.asarray(sweep.transpose("low", "up").values, dtype=float)
    fig = new_figure(4.6, 3.8)
    ax = fig.subplots()
    im = ax.imshow(vals, origin="lower", cmap="magma", vmin=0, vmax=max(1.0, np.nanmax(vals)), aspect="auto")
    ax.set_xticks(np.arange(len(ups)), [f"{u:g}" for u in ups], fontsize=7)
    ax.set_yticks(np.arange(len(lows)), [f"{lo:g}" for lo in lows], fontsize=7)
    ax.set_xlabel("upper quantile threshold")
    ax.set_ylabel("lower quantile threshold")
    for i in range(len(lows)):
        for j in range(len(ups)):
            if np.isfinite(vals[i, j]):
                ax.text(j, i, f"{vals[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="w" if vals[i, j] < 0.6 else "k")
    fig.colorbar(im, ax=ax, label="accuracy")
    ax.set_title(title, fontsize=9)
    return fig
