"""Decoding ops for binned spikes: hand velocity from motor cortex, ridge baselines vs a contrastive encoder.

``spikes.decode_velocity`` (registered in :mod:`neurodecode.pipeline.builtin`) takes binned spikes
``(time, unit)`` with behaviour coords on ``time`` (``vel_x``, ``vel_y``) and scores, with the same
contiguous-block cross-validation for every model:

* ridge baselines on the causal spike history (the last ``n_lags`` bins of every unit, optionally
  square-rooted; features z-scored with training statistics; alpha chosen by an inner
  contiguous-block CV on the training folds only);
* :class:`~neurodecode.encoders.spike.SpikeContrastiveDecoder` models (contrastive pretraining on the
  training folds only, then a kNN / ridge head on the frozen embeddings).

Every model sees the same samples: the bins with a complete causal window of ``window`` bins. The
outer folds are ``ContiguousBlocks(n_splits, gap)`` over those samples, with ``gap >= window`` bins
dropped from training on each side of the test block, and every fold passes
:func:`~neurodecode.train.splits.check_no_leak` on the windows' time spans. The score of a fold is
the R² of each velocity component on its test block and their mean (``r2``), plus the R² of the
2-D velocity vector (``r2_2d``: one minus the summed squared error of both components over their
summed variance).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError
from .ops import StepResult

__all__ = ["decode_velocity", "ridge_path", "scores_figure", "trace_figure", "embedding_figure"]

_DEFAULT_BASELINES = [
    {"label": "ridge_3lags", "n_lags": 3, "sqrt": False},
    {"label": "wiener_10lags", "n_lags": 10, "sqrt": False},
]
_DEFAULT_ENCODERS = [{
    "label": "contrastive_behaviour", "mode": "behaviour", "n_times": 10, "time_offset": 1, "out_dim": 8, "hidden": 32,
    "depth": 1, "temperature": 0.1, "dropout": 0.1, "sqrt": True, "decoder": "knn", "n_neighbors": 50,
    "max_epochs": 10, "batch_size": 512, "lr": 3e-3, "threads": 1,
}]


# --------------------------------------------------------------------------- ridge


class _GramStats:
    """Sufficient statistics of a least-squares problem on a set of rows (added / removed in O(rows))."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, rows: np.ndarray | None = None) -> None:
        Xr = X if rows is None else X[rows]
        Yr = Y if rows is None else Y[rows]
        self.G = Xr.T @ Xr
        self.sx = Xr.sum(axis=0)
        self.XY = Xr.T @ Yr
        self.sy = Yr.sum(axis=0)
        self.n = Xr.shape[0]

    def minus(self, other: _GramStats) -> _GramStats:
        out = object.__new__(_GramStats)
        out.G, out.sx, out.XY = self.G - other.G, self.sx - other.sx, self.XY - other.XY
        out.sy, out.n = self.sy - other.sy, self.n - other.n
        return out


def ridge_path(stats: _GramStats, alphas: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Ridge weights ``(W, b)`` for every alpha, on features z-scored with the rows' own statistics.

    The penalty ``alpha * ||w||²`` applies to the weights of the standardised features (so one
    alpha suits units of any rate); ``W`` is returned for the raw features: ``y ≈ X @ W + b``.
    """
    from scipy.linalg import eigh, solve

    n = stats.n
    mx, my = stats.sx / n, stats.sy / n
    Gc = stats.G - n * np.outer(mx, mx)
    XYc = stats.XY - n * np.outer(mx, my)
    scale = np.sqrt(np.clip(np.diag(Gc) / n, 1e-12, None))
    Gs = Gc / np.outer(scale, scale)
    XYs = XYc / scale[:, None]
    if len(alphas) == 1:  # one Cholesky solve is ~10x cheaper than the eigendecomposition
        Gs[np.diag_indices_from(Gs)] += alphas[0]
        W = solve(Gs, XYs, assume_a="pos", overwrite_a=True, check_finite=False) / scale[:, None]
        return [(W, my - mx @ W)]
    evals, evecs = eigh(Gs, driver="evd", overwrite_a=True, check_finite=False)
    proj = evecs.T @ XYs
    out = []
    for a in alphas:
        Ws = evecs @ (proj / (evals + a)[:, None])
        W = Ws / scale[:, None]
        out.append((W, my - mx @ W))
    return out


def _r2(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 1.0 - ((y - p) ** 2).sum(axis=0) / ((y - y.mean(axis=0)) ** 2).sum(axis=0)


def _fit_ridge(X, Y, train, alphas, inner_splits, gap, everything=None):
    """Alpha by inner contiguous-block CV on ``train`` rows only; then the fit on all of ``train``.

    ``everything`` (statistics of all rows) saves time: the training statistics are then the total
    minus those of the left-out rows.
    """
    from ..train.splits import ContiguousBlocks

    if everything is None:
        full = _GramStats(X, Y, train)
    else:
        full = everything.minus(_GramStats(X, Y, np.setdiff1d(np.arange(len(X)), train)))
    score = np.zeros(len(alphas))
    for itr, iva in ContiguousBlocks(inner_splits, gap=gap).split(np.zeros(len(train))):
        removed = np.setdiff1d(np.arange(len(train)), itr)  # inner validation block and its gap
        stats = full.minus(_GramStats(X, Y, train[removed]))
        Xv, Yv = X[train[iva]], Y[train[iva]]
        for j, (W, b) in enumerate(ridge_path(stats, alphas)):
            score[j] += _r2(Yv, Xv @ W + b).mean()
    best = int(np.argmax(score))
    W, b = ridge_path(full, alphas[best : best + 1])[0]
    return W, b, float(alphas[best]), score / inner_splits


def _history_features(windows: np.ndarray, n_lags: int, sqrt: bool) -> np.ndarray:
    """The last ``n_lags`` bins of every window, flattened: the causal spike-history design."""
    X = windows[:, :, windows.shape[2] - n_lags :]
    X = np.sqrt(X) if sqrt else X
    return np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float64)


# --------------------------------------------------------------------------- the op


def decode_velocity(
    binned: xr.DataArray,
    *,
    targets: list[str] = ["vel_x", "vel_y"],  # noqa: B006 - read only
    window: int = 10,
    n_splits: int = 5,
    gap: int | None = None,
    inner_splits: int = 4,
    alphas: list[float] | None = None,
    baselines: list[dict[str, Any]] | None = None,
    baseline: str | None = None,
    encoders: list[dict[str, Any]] | None = None,
    floor: float = 0.70,
    figure_fold: int | None = None,
    seed: int = 0,
    linear_readout: bool = True,
    blas_threads: int | None = 1,
) -> StepResult:
    """Decode velocity from binned spikes with contiguous-block CV: ridge baselines vs contrastive encoders.

    Parameters
    ----------
    binned : DataArray (time, unit)
        ``binned_spikes`` counts with the target coords on ``time``.
    targets : list of str
        Coords on ``time`` to decode (e.g. ``[vel_x, vel_y]``).
    window : int
        Bins of causal history every model may use (each model uses the last ``n_lags`` /
        ``n_times`` of them); the samples are the bins with a complete window.
    n_splits : int
        Outer folds (contiguous test blocks).
    gap : int, optional
        Samples dropped from training on each side of a test block (default ``window``; at least
        ``window - 1`` so that no training window overlaps a test window).
    inner_splits : int
        Contiguous blocks of the inner CV choosing ridge alphas on the training folds.
    alphas : list of float, optional
        Ridge penalties tried (on z-scored features); default ``logspace(-1, 5, 13)``.
    baselines : list of dict, optional
        Ridge models ``{label, n_lags, sqrt}``; default a 3-lag ridge on counts and a 10-lag
        ridge on counts (a Wiener filter), as in ``pipelines/spikes_m1_decode.yaml``.
    baseline : str, optional
        Label of the baseline the floor applies to and encoders are compared with (default: the
        last baseline).
    encoders : list of dict, optional
        ``{label, n_times, **SpikeContrastiveDecoder parameters}``; ``[]`` scores the baselines only.
        Default: the behaviour-contrastive encoder of ``pipelines/spikes_m1_decode.yaml``.
    floor : float
        The mean over folds of the baseline's ``r2`` (mean of the components' R²) must reach it;
        reported as ``floor_passed`` (the op does not fail).
    figure_fold : int, optional
        Fold whose test block is drawn (default: the middle fold).
    seed : int
        Seed of the encoders.
    linear_readout : bool
        Also score a ridge readout (alpha by generalised CV on the training embeddings) of each
        encoder's frozen embedding, as model ``<label>_linear``: how much of an encoder's score comes
        from its embedding and how much from a non-linear (kNN) head.
    blas_threads : int, optional
        BLAS threads for the ridge fits (threadpoolctl; restored afterwards; ``None`` leaves them).
        The eigendecompositions are many small sequential BLAS calls: on a busy machine one thread
        was measured ~10x faster than two oversubscribed ones.

    Returns
    -------
    StepResult
        ``data``: Dataset with ``r2`` (model, fold, target), ``r2_mean`` and ``r2_2d`` (model, fold),
        out-of-fold ``y_pred`` (model, sample, target), ``y_true`` (sample, target), the test
        embeddings of each encoder (``embedding_<label>``, sample x dim; each fold's encoder embeds its
        own test block) and the chosen alphas; metrics per model (mean and sd over folds), chance,
        the baseline, the floor check and wall times; the per-fold table; figures; notes.
    """
    from ..datamodel import validate
    from ..encoders.spike import SpikeContrastiveDecoder, spike_windows
    from ..train.splits import ContiguousBlocks, check_no_leak

    t_start = time.perf_counter()
    if not isinstance(binned, xr.DataArray):
        raise BadInputError(f"spikes.decode_velocity needs binned spikes (time, unit), got {type(binned).__name__}.")
    validate(binned, "binned_spikes")
    targets = list(targets)
    missing = [t for t in targets if t not in binned.coords or binned[t].dims != ("time",)]
    if not targets or missing:
        present = [str(c) for c in binned.coords if binned[c].dims == ("time",) and c != "time"]
        raise BadInputError(f"target coord(s) {missing or targets} not on time; coords on time: {present}.")
    baselines = [dict(b) for b in (_DEFAULT_BASELINES if baselines is None else baselines)]
    encoders = [dict(e) for e in (_DEFAULT_ENCODERS if encoders is None else encoders)]
    if not baselines:
        raise BadInputError("spikes.decode_velocity needs at least one baseline (the floor is checked on it).")
    labels = [m.get("label") for m in baselines + encoders]
    if any(not isinstance(lab, str) or not lab for lab in labels) or len(set(labels)) != len(labels):
        raise BadInputError(f"every baseline and encoder needs a unique string 'label'; got {labels}.")
    for b in baselines:
        unknown = set(b) - {"label", "n_lags", "sqrt"}
        if unknown:
            raise BadInputError(f"baseline {b['label']!r}: unknown key(s) {sorted(unknown)}; use label, n_lags, sqrt.")
        if not 1 <= int(b.get("n_lags", 1)) <= window:
            raise BadInputError(f"baseline {b['label']!r}: n_lags must be in 1..window ({window}).")
    for e in encoders:
        if not 1 <= int(e.get("n_times", window)) <= window:
            raise BadInputError(f"encoder {e['label']!r}: n_times must be in 1..window ({window}).")
    baseline = baseline or baselines[-1]["label"]
    if baseline not in [b["label"] for b in baselines]:
        raise BadInputError(f"baseline={baseline!r} is not one of the baselines {[b['label'] for b in baselines]}.")
    gap = int(window if gap is None else gap)
    if gap < window - 1:
        raise BadInputError(f"gap={gap} is shorter than the window ({window} bins) minus one: windows would overlap.")
    alphas = np.asarray(alphas if alphas is not None else np.logspace(-1, 5, 13), dtype=float)

    win = spike_windows(binned, window)
    Y = np.column_stack([np.asarray(win[t].values, dtype=np.float64) for t in targets])
    if not np.all(np.isfinite(Y)):
        raise BadInputError(f"the targets {targets} hold NaN/inf at {int((~np.isfinite(Y)).any(1).sum())} bins.")
    Xw = np.asarray(win.values)
    n = len(Xw)
    bins = np.asarray(win["bin"].values)
    folds = list(ContiguousBlocks(n_splits, gap=gap, dim="sample").split(win))  # checks window overlap
    span = float(win.attrs["bin_size"]) * window
    for tr, te in folds:
        check_no_leak(tr, te, times=win["window_start"].values, window=span,
                      stream=win["segment"].values)

    readouts = [f"{e['label']}_linear" for e in encoders if linear_readout and e.get("decoder", "knn") != "ridge"]
    models = [b["label"] for b in baselines] + [e["label"] for e in encoders] + readouts
    if len(set(models)) != len(models):
        raise BadInputError(f"model labels collide: {models}; rename the baselines/encoders.")
    n_folds = len(folds)
    r2 = np.full((len(models), n_folds, len(targets)), np.nan)
    r2_2d = np.full((len(models), n_folds), np.nan)
    y_pred = np.full((len(models), n, len(targets)), np.nan)
    fold_of = np.full(n, -1)
    chosen_alpha = np.full((len(baselines), n_folds), np.nan)
    seconds = dict.fromkeys(models, 0.0)
    embeddings: dict[str, np.ndarray] = {}
    histories: dict[str, list] = {}
    for k, (tr, te) in enumerate(folds):
        fold_of[te] = k
    # --- ridge baselines
    from threadpoolctl import threadpool_limits

    for m, spec in enumerate(baselines):
        t0 = time.perf_counter()
        X = _history_features(Xw, int(spec.get("n_lags", 3)), bool(spec.get("sqrt", False)))
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            everything = _GramStats(X, Y)
            for k, (tr, te) in enumerate(folds):
                W, b, alpha, _ = _fit_ridge(X, Y, tr, alphas, inner_splits, gap, everything)
                chosen_alpha[m, k] = alpha
                y_pred[m, te] = X[te] @ W + b
        seconds[spec["label"]] = time.perf_counter() - t0
    # --- contrastive encoders
    for j, spec in enumerate(encoders):
        m = len(baselines) + j
        label = spec["label"]
        params = {k: v for k, v in spec.items() if k not in ("label", "n_times")}
        params.setdefault("seed", seed)
        n_times = int(spec.get("n_times", window))
        t0 = time.perf_counter()
        emb = None
        histories[label] = []
        for k, (tr, te) in enumerate(folds):
            dec = SpikeContrastiveDecoder(**params)
            dec.fit(Xw[tr, :, window - n_times :], Y[tr], bins=bins[tr], groups=win["segment"].values[tr])
            Z = dec.transform(Xw[te, :, window - n_times :])
            y_pred[m, te] = dec.head_.predict(Z) * dec.y_std_ + dec.y_mean_
            if f"{label}_linear" in readouts:
                from sklearn.linear_model import RidgeCV

                lin = RidgeCV(alphas=np.logspace(-4, 3, 15)).fit(dec.train_embedding_, dec.train_target_)
                y_pred[models.index(f"{label}_linear"), te] = lin.predict(Z) * dec.y_std_ + dec.y_mean_
            if emb is None:
                emb = np.full((n, Z.shape[1]), np.nan, dtype=np.float32)
            emb[te] = Z
            histories[label].append([h["train_loss"] for h in dec.history_])
        embeddings[label] = emb
        seconds[label] = time.perf_counter() - t0
    # --- scores
    for m in range(len(models)):
        for k, (_, te) in enumerate(folds):
            yt, yp = Y[te], y_pred[m, te]
            r2[m, k] = _r2(yt, yp)
            r2_2d[m, k] = 1.0 - ((yt - yp) ** 2).sum() / ((yt - yt.mean(axis=0)) ** 2).sum()
    r2_mean = r2.mean(axis=2)

    fold_names = np.arange(n_folds)
    data = xr.Dataset(
        {
            "r2": (("model", "fold", "target"), r2),
            "r2_mean": (("model", "fold"), r2_mean),
            "r2_2d": (("model", "fold"), r2_2d),
            "y_pred": (("model", "sample", "target"), y_pred),
            "y_true": (("sample", "target"), Y),
            "alpha": (("baseline", "fold"), chosen_alpha),
        },
        coords={"model": models, "fold": fold_names, "target": targets, "sample": np.arange(n),
                "baseline": [b["label"] for b in baselines], "t": ("sample", win["t"].values),
                "bin": ("sample", bins), "test_fold": ("sample", fold_of)},
        attrs={"window": window, "gap": gap, "n_splits": n_splits, "inner_splits": inner_splits,
               "bin_size": float(win.attrs["bin_size"]), "baseline_model": baseline, "floor": floor,
               "chance_r2": 0.0, "encoders": str(encoders), "baselines": str(baselines)},
    )
    for label, emb in embeddings.items():
        data[f"embedding_{label}"] = (("sample", f"dim_{label}"), emb)
    for label, hist in histories.items():
        data[f"loss_{label}"] = (("fold", f"epoch_{label}"), np.asarray(hist, dtype=float))

    # --- metrics, table, notes
    metrics: dict[str, float] = {"chance_r2": 0.0, "n_samples": float(n), "n_units": float(Xw.shape[1]),
                                 "floor": float(floor)}
    rows = []
    for m, model in enumerate(models):
        metrics[f"{model}.r2_mean"] = float(r2_mean[m].mean())
        metrics[f"{model}.r2_sd"] = float(r2_mean[m].std(ddof=1)) if n_folds > 1 else 0.0
        metrics[f"{model}.r2_2d_mean"] = float(r2_2d[m].mean())
        for t, target in enumerate(targets):
            metrics[f"{model}.r2_{target}_mean"] = float(r2[m, :, t].mean())
        if model not in readouts:  # a readout's time is inside its encoder's
            metrics[f"{model}.seconds"] = float(seconds[model])
        for k in range(n_folds):
            row = {"model": model, "fold": k, "test_start_s": float(win["t"].values[folds[k][1][0]]),
                   "test_stop_s": float(win["t"].values[folds[k][1][-1]]), "n_train": len(folds[k][0]),
                   "n_test": len(folds[k][1])}
            row.update({f"r2_{target}": r2[m, k, t] for t, target in enumerate(targets)})
            row.update(r2=r2_mean[m, k], r2_2d=r2_2d[m, k])
            if m < len(baselines):
                row["alpha"] = chosen_alpha[m, k]
            rows.append(row)
    b_idx = models.index(baseline)
    base_r2 = float(r2_mean[b_idx].mean())
    metrics["baseline.r2_mean"] = base_r2
    metrics["floor_passed"] = float(base_r2 >= floor)
    notes = [
        f"{n} samples (bins with a complete {window}-bin causal window), {Xw.shape[1]} units; "
        f"{n_folds} contiguous test blocks, gap {gap} bins each side; every fold passed check_no_leak "
        "on the windows' time spans.",
        f"r2 = mean over {targets} of the per-component R² on a test block, averaged over folds (± sd over "
        "folds); r2_2d = R² of the velocity vector. Chance (predicting the training mean) is R² ≈ 0.",
        f"floor: baseline {baseline} r2 {base_r2:.3f} {'>=' if base_r2 >= floor else '<'} {floor:.2f} "
        f"({'passed' if base_r2 >= floor else 'NOT passed'}).",
    ]
    for label in [e["label"] for e in encoders] + readouts:
        diff = r2_mean[models.index(label)] - r2_mean[b_idx]
        wins = int((diff > 0).sum())
        verdict = "beats" if diff.mean() > 0 and wins == n_folds else (
            "does not beat" if diff.mean() <= 0 else "is ahead on average but not on every fold of")
        notes.append(
            f"{label} {verdict} the {baseline} baseline: r2 {r2_mean[models.index(label)].mean():.3f} vs "
            f"{base_r2:.3f} (difference {diff.mean():+.3f}, better on {wins}/{n_folds} folds)."
        )
    metrics["seconds_total"] = time.perf_counter() - t_start
    table = pd.DataFrame(rows)
    k_fig = n_folds // 2 if figure_fold is None else int(figure_fold)
    figures = [
        ("Held-out R² per fold (mean of vel_x, vel_y); chance 0, floor dashed", lambda: scores_figure(data)),
        ("Predicted vs true velocity on a held-out block",
         lambda: trace_figure(data, fold=k_fig, models=[baseline] + [e["label"] for e in encoders])),
    ]
    for label in embeddings:
        figures.append((f"{label}: test-block embedding coloured by movement direction and speed",
                        lambda label=label: embedding_figure(data, label, fold=k_fig)))
    means = r2_mean.mean(axis=1)
    sds = r2_mean.std(axis=1, ddof=1) if n_folds > 1 else np.zeros(len(models))
    best = int(np.nanargmax(means))
    answer = (f"{models[best]} decodes hand velocity best: held-out R² {means[best]:.3f} ± {sds[best]:.3f} "
              f"over {n_folds} contiguous test blocks (baseline {baseline} {base_r2:.3f}; chance ≈ 0).")
    answer_table = pd.DataFrame({"model": models, "r2_mean": means, "r2_sd": sds,
                                 "folds_better_than_baseline": [int((r2_mean[i] > r2_mean[b_idx]).sum())
                                                                for i in range(len(models))]})
    return StepResult(data, metrics=metrics, tables={"folds": table}, figures=figures, notes=notes,
                      answer=answer, answer_table=answer_table)


# --------------------------------------------------------------------------- figures


def scores_figure(result: xr.Dataset):
    """Per-fold R² (mean of the targets) of every model: dots per fold, bar = mean, chance and floor lines."""
    from ..report.figures import _COLORS, new_figure

    fig = new_figure(1.6 + 1.1 * result.sizes["model"], 3.6)
    ax = fig.add_subplot()
    models = [str(m) for m in result["model"].values]
    vals = np.asarray(result["r2_mean"].values)
    for i, model in enumerate(models):
        ax.bar(i, vals[i].mean(), color=_COLORS[i % len(_COLORS)], alpha=0.35, width=0.7)
        ax.errorbar(i, vals[i].mean(), yerr=vals[i].std(ddof=1) if vals.shape[1] > 1 else 0, color="k", capsize=4)
        jitter = np.linspace(-0.15, 0.15, vals.shape[1])
        ax.plot(i + jitter, vals[i], "o", color=_COLORS[i % len(_COLORS)], ms=4)
    ax.axhline(0.0, color="grey", lw=1, label="chance (R² 0)")
    if "floor" in result.attrs:
        ax.axhline(float(result.attrs["floor"]), color="k", ls="--", lw=1, label=f"floor {result.attrs['floor']:.2f}")
    ax.set_xticks(range(len(models)), models, rotation=20, ha="right")
    ax.set_xlabel("model")
    ax.set_ylabel("held-out R² (mean of vel_x, vel_y)")
    lo = min(0.0, float(np.nanmin(vals)) - 0.05)
    ax.set_ylim(lo, 1.0)
    from ..report.style import legend_outside, set_caption

    legend_outside(ax)
    return set_caption(fig, "Held-out R² of each model on each contiguous test block (dots), mean (bar) ± sd "
                            "(error bar); R² 0 is chance.")


def trace_figure(result: xr.Dataset, fold: int = 0, seconds: float = 20.0, models: list[str] | None = None):
    """True and out-of-fold predicted velocity (each target) over ``seconds`` of one test block.

    ``models``: the models drawn (default all).
    """
    from ..report.figures import _COLORS, new_figure

    sel = np.flatnonzero(np.asarray(result["test_fold"].values) == fold)
    if not len(sel):
        raise BadInputError(f"no test samples in fold {fold}.")
    n_show = min(len(sel), int(round(seconds / float(result.attrs["bin_size"]))))
    start = sel[(len(sel) - n_show) // 2]
    idx = np.arange(start, start + n_show)
    t = np.asarray(result["t"].values)[idx]
    targets = [str(v) for v in result["target"].values]
    fig = new_figure(9, 2.2 * len(targets))
    axes = fig.subplots(len(targets), 1, sharex=True, squeeze=False)[:, 0]
    for a, target in zip(axes, targets):
        a.plot(t, result["y_true"].sel(target=target).values[idx], color="k", lw=1.6, label="true")
        all_models = [str(m) for m in result["model"].values]
        for model in models or all_models:
            i = all_models.index(model)
            r2 = float(result["r2"].sel(model=model, fold=fold, target=target))
            a.plot(t, result["y_pred"].sel(model=model, target=target).values[idx], lw=1,
                   color=_COLORS[i % len(_COLORS)], label=f"{model} (fold R² {r2:.2f})")
        a.set_ylabel(f"{target} (data units)")
    from ..report.style import legend_outside, set_caption

    legend_outside(axes[0])
    axes[-1].set_xlabel(f"time (s), test block of fold {fold}")
    return set_caption(fig, f"True hand velocity (black) and each model's out-of-fold prediction over {seconds:g} s "
                            f"of the test block of fold {fold}.")


def embedding_figure(result: xr.Dataset, label: str, fold: int = 0):
    """The test-block embedding of one fold's encoder: PCA of the sphere points, by direction and speed."""
    from ..report.figures import new_figure

    name = f"embedding_{label}"
    if name not in result:
        raise BadInputError(f"no embedding {label!r} in the result; encoders: "
                            f"{[v[10:] for v in result.data_vars if str(v).startswith('embedding_')]}.")
    sel = np.flatnonzero(np.asarray(result["test_fold"].values) == fold)
    Z = np.asarray(result[name].values)[sel]
    v = np.asarray(result["y_true"].values)[sel]
    Zc = Z - Z.mean(axis=0)
    _, s, vt = np.linalg.svd(Zc, full_matrices=False)
    pcs = Zc @ vt[:2].T
    var = s[:2] ** 2 / (s**2).sum()
    direction = np.arctan2(v[:, 1], v[:, 0])
    speed = np.hypot(v[:, 0], v[:, 1])
    fig = new_figure(9, 4)
    axes = fig.subplots(1, 2)
    for a, c, cmap, title in ((axes[0], direction, "hsv", "movement direction (rad)"),
                              (axes[1], speed, "viridis", "speed")):
        sc = a.scatter(pcs[:, 0], pcs[:, 1], c=c, cmap=cmap, s=4, alpha=0.7, linewidths=0)
        fig.colorbar(sc, ax=a, label=title, shrink=0.8)
        a.set_xlabel(f"PC1 ({var[0]:.0%})")
        a.set_ylabel(f"PC2 ({var[1]:.0%})")
        a.set_aspect("equal", adjustable="datalim")
    fig.suptitle(f"{label}: held-out embedding ({Z.shape[1]}-D, unit sphere), fold {fold}")
    from ..report.style import set_caption

    return set_caption(fig, "The encoder's embedding of the held-out bins, projected on its first two principal "
                            "components and coloured by movement direction (left, cyclic colours) and speed (right).")
