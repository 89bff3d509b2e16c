"""The generic ``decode`` op and the ``decoding.epochs`` op: thin adapters over :mod:`neurodecode.decoding`.

``decode`` takes any labelled object (epochs, responses, binned spikes; a list is concatenated
along the sample dim), runs :func:`neurodecode.decoding.cross_validate` (and, with
``time_resolved``, :func:`neurodecode.decoding.sliding` per model that allows it) and returns the
scores with the tables ``scores`` (per fold: model, fold, test_group, score, chance, ...) and
``summary`` (per model: mean, sd, chance, permutation null, p-value), one figure of the scores and
one confusion matrix of the best model.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import numpy as np

from ..errors import BadInputError
from .checks import EstimatorName, EstimatorSetting, ScoringName, keep_classes
from ..report.style import color, scoring_label, set_caption, styled
from .ops import StepResult

__all__ = ["decode", "decoding_epochs", "answer_lines", "baseline_line"]


def decoding_epochs(
    recordings: Any,
    *,
    labels: list[str] | None = None,
    tmin: float | None = None,
    tmax: float | None = None,
    band: list[float] | None | str = "auto",
    baseline: list[float | None] | None | str = "auto",
    picks: str | list[str] | None = "eeg",
    lags: int | None = None,
) -> StepResult:
    """Band-pass, epoch and concatenate recordings (one run each); fMRI blocks, or causal windows of
    binned spikes; see :func:`neurodecode.decoding.epochs_from_recordings`."""
    from ..decoding.epoching import epochs_from_recordings

    ep = epochs_from_recordings(recordings, labels, tmin=tmin, tmax=tmax,
                                band=tuple(band) if isinstance(band, list) else band,
                                baseline=tuple(baseline) if isinstance(baseline, list) else baseline, picks=picks,
                                lags=lags)
    if "label" not in ep.coords:  # e.g. spike windows decoded for a continuous target
        n = ep.sizes[ep.dims[0]]
        return StepResult(ep, metrics={"n_samples": float(n)}, notes=[f"Epochs: {ep.attrs['decode_window']}."])
    counts = {str(k): int(v) for k, v in zip(*np.unique(ep["label"].values.astype(str), return_counts=True))}
    runs = list(dict.fromkeys(str(r) for r in ep["run"].values)) if "run" in ep.coords else []
    notes = [f"Epochs: {ep.attrs['decode_window']}.", f"Trials per label: {counts}; runs: {runs}."]
    if ep.attrs.get("skipped_runs"):
        notes.append(f"Left out (none of the labels {labels}): {', '.join(ep.attrs['skipped_runs'])}.")
    return StepResult(ep, metrics={"n_trials": float(ep.sizes["trial"]), "n_runs": float(len(runs))}, notes=notes)


def _concat(items: Any) -> Any:
    if not isinstance(items, (list, tuple)):
        return items
    from .builtin import concat

    out = concat(list(items))
    return out.data if isinstance(out, StepResult) else out


@styled
def _scores_figure(summary: Any, table: Any, scoring: str, title: str):
    import matplotlib.pyplot as plt

    models = list(summary["model"])
    fig, ax = plt.subplots(figsize=(max(5.5, 3.2 + 0.9 * len(models)), 3.8))
    has_null = False
    for i, m in enumerate(models):
        s = table.loc[table["model"] == m, "score"].to_numpy()
        ax.scatter(np.full(len(s), i) + np.linspace(-0.15, 0.15, len(s)), s, s=14, color="0.55", zorder=3,
                   label="fold" if i == 0 else None)
        row = summary.loc[summary["model"] == m].iloc[0]
        ax.errorbar(i, row["mean"], yerr=row["sd"], fmt="o", color=color(0), capsize=4, zorder=4,
                    label="mean ± sd over folds" if i == 0 else None)
        if "null_95" in row and np.isfinite(row["null_95"]):
            ax.plot([i - 0.3, i + 0.3], [row["null_95"]] * 2, color=color(1), lw=1.5,
                    label=None if has_null else "permutation null, 95th percentile")
            has_null = True
    ax.axhline(float(summary["chance"].iloc[0]), color="k", ls="--", lw=1, label="chance")
    ax.set_xticks(range(len(models)), [str(m) for m in models], rotation=30, ha="right")
    ax.set_ylabel(scoring_label(scoring))
    ax.set_title(title)
    ax.set_xlim(-0.6, len(models) - 0.4)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    set_caption(fig, f"{scoring_label(scoring)} of each model on each held-out fold (grey), their mean ± sd "
                     "(blue), chance (dashed)" + (" and the 95th percentile of the label-permutation null (orange; "
                                                  "deep models have none)" if has_null else "") + ".")
    return fig


@styled
def _confusion_figure(true: np.ndarray, pred: np.ndarray, classes: list[str], model: str):
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(true, pred, labels=classes, normalize="true")
    fig, ax = plt.subplots(figsize=(2.2 + 0.6 * len(classes), 1.8 + 0.6 * len(classes)))
    im = ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{model}: out-of-fold confusion")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    set_caption(fig, f"Out-of-fold predictions of {model} pooled over folds; each row (true class) sums to 1, "
                     "the diagonal is the recall of each class.")
    return fig


@styled
def _class_means_figure(epochs: Any, label: str):
    import matplotlib.pyplot as plt

    ep = epochs.transpose("trial", "channel", "time")
    y = np.asarray(ep[label].values).astype(str)
    classes = sorted(set(y.tolist()))
    X = np.asarray(ep.values, dtype=float)
    means = np.stack([X[y == c].mean(axis=0) for c in classes])  # (class, channel, time)
    spread = means.var(axis=0).mean(axis=1)  # between-class variance of the means, per channel
    ch = int(np.argmax(spread))
    name = str(ep["channel"].values[ch])
    t = np.asarray(ep["time"].values, dtype=float)
    scale, unit = (1e6, "µV") if np.nanmax(np.abs(means)) < 1e-2 else (1.0, "signal units")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for k, c in enumerate(classes):
        xc = X[y == c, ch] * scale
        m = xc.mean(axis=0)
        sem = xc.std(axis=0, ddof=1) / np.sqrt(len(xc)) if len(xc) > 1 else np.zeros_like(m)
        ax.plot(t, m, color=color(k), label=f"{c} (n={len(xc)})")
        ax.fill_between(t, m - sem, m + sem, color=color(k), alpha=0.2)
    if t[0] < 0 < t[-1]:
        ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{name} ({unit})")
    ax.set_title(f"class means at {name}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    set_caption(fig, f"Mean ± s.e.m. over trials of each class at {name}, the channel whose class means differ most "
                     "(between-class variance over time, all trials: a picture of the data, not a decoding result).")
    return fig


@styled
def _time_figure(tc: Any, scoring: str, chance: float, clusters: Any):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for model in tc["model"].values:
        s = tc.sel(model=model).values
        t = tc["time"].values
        m, sd = s.mean(axis=0), s.std(axis=0, ddof=1) if s.shape[0] > 1 else np.zeros(s.shape[1])
        ax.plot(t, m, label=str(model))
        ax.fill_between(t, m - sd, m + sd, alpha=0.2)
    significant = [row for row in clusters if row["p_value"] < 0.05]
    for k, row in enumerate(significant):
        ax.axvspan(row["start"], row["stop"], color=color(2), alpha=0.15, label="cluster p < 0.05" if k == 0 else None)
    ax.axhline(chance, color="k", ls="--", lw=1, label="chance")
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(scoring_label(scoring))
    ax.set_title("score over time")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    set_caption(fig, f"{scoring_label(scoring)} at each time point, mean ± sd over folds; shaded: clusters of time "
                     "points above chance at p < 0.05 (cluster permutation test over folds); dashed: chance.")
    return fig


def answer_lines(summary: Any, scoring: str, cv: str) -> list[str]:
    """The answer in words: best model, mean +- sd over folds, chance, p-value."""
    best = summary.iloc[0]
    p = best.get("p_value", float("nan"))
    p_txt = f", permutation p = {p:.3g}" if p == p else ""
    lines = [f"best: {best['model']} {scoring} = {best['mean']:.3f} +- {best['sd']:.3f} over {int(best['n_folds'])} "
             f"folds ({cv}); chance {best['chance']:.3f}{p_txt}"]
    for _, row in summary.iloc[1:].iterrows():
        lines.append(f"  {row['model']}: {row['mean']:.3f} +- {row['sd']:.3f}")
    return lines


def _deep_names(estimators: Any) -> set[str]:
    """Models that are deep networks (registered as too slow for a refitted permutation null)."""
    from ..decoding.estimators import is_permutable

    if isinstance(estimators, dict):
        return {str(k) for k, v in estimators.items() if not is_permutable(v)}
    if isinstance(estimators, (list, tuple)):
        return {str(e) for e in estimators if isinstance(e, str) and not is_permutable(e)}
    return set()


def baseline_line(summary: Any, deep: set[str], scoring: str) -> str | None:
    """The strongest baseline beside the best deep model, in words (None without both kinds)."""
    is_deep = summary["model"].isin(sorted(deep))
    if not is_deep.any() or is_deep.all():
        return None
    b = summary[~is_deep].iloc[0]
    d = summary[is_deep].iloc[0]
    verb = "beats" if d["mean"] > b["mean"] else "does not beat"
    return (f"strongest baseline {b['model']} {scoring} {b['mean']:.3f} +- {b['sd']:.3f}; best deep model "
            f"{d['model']} {d['mean']:.3f} +- {d['sd']:.3f}: it {verb} the baseline "
            f"(difference {d['mean'] - b['mean']:+.3f}).")


def decode(
    data: Any,
    pretrain: Any = None,
    *,
    label: str | list[str] = "label",
    classes: list[str] | None = None,
    estimators: list[EstimatorName] | dict[str, EstimatorSetting] | None = None,
    cv: str | int | dict[str, Any] | None = None,
    scoring: ScoringName | None = None,
    task: Literal["classification", "regression"] | None = None,
    n_perm: int = 100,
    seed: int = 0,
    time_resolved: bool = False,
    time_estimator: EstimatorName = "lda",
    n_jobs: int = 1,
) -> StepResult:
    """Cross-validated decoding of ``label`` with registered estimators (thin adapter).

    Parameters
    ----------
    data : DataArray or list of DataArrays
        Epochs, responses or binned spikes (a list is concatenated along ``trial``).
    pretrain : DataArray or list of DataArrays, optional
        Unlabelled samples for self-supervised pretraining (e.g. ``fmri.run_windows``); each fold
        gives its training groups' samples to the estimators that take them (see
        :func:`neurodecode.decoding.cross_validate`).
    label : str or list of str
        Coord holding the target (several coords: a multi-output continuous target).
    classes : list of str, optional
        Keep only samples whose label is one of these.
    estimators : list of str or dict, optional
        Registered names (``neurodecode.decoding.list_estimators()``); default per input. A dict
        names the models: ``{name: registered_name}`` or ``{name: {estimator: registered_name,
        **settings}}``.
    cv : str, int or dict, optional
        Grouping coord (``run``, ``session``, ``subject``), ``kfold:K`` or K;
        ``{group: [session, run], within: subject, min_groups: 3}`` (leave one run out inside each
        subject); ``{blocks: K, gap: G}`` (contiguous test blocks, ``G`` samples purged each side).
    scoring, task, n_perm, seed, n_jobs
        See :func:`neurodecode.decoding.cross_validate`.
    time_resolved : bool
        Also decode at every time point (epochs only) with ``time_estimator`` and test the score
        time course against chance with a cluster permutation test over folds.
    """
    from .. import decoding
    from ..decoding.clusters import smallest_p

    obj = _concat(data)
    if isinstance(label, (list, tuple)) and len(label) == 1:
        label = label[0]
    if classes:
        if not isinstance(label, str) or label not in obj.coords:
            raise BadInputError(f"decode: no coord {label!r}; coords: {sorted(map(str, obj.coords))}.")
        obj = keep_classes(obj, label, classes, "decode")
    pre = None if pretrain is None else _concat(pretrain)
    res = decoding.cross_validate(obj, label, estimators, cv=cv, scoring=scoring, n_perm=n_perm, task=task,
                                  seed=seed, n_jobs=n_jobs, pretrain=pre)
    table = decoding.scores_table(res)
    summary = decoding.summary_table(res)
    sc = res.attrs["scoring"]
    metrics: dict[str, float] = {}
    for _, row in summary.iterrows():
        metrics[f"{row['model']}_{sc}_mean"] = float(row["mean"])
        metrics[f"{row['model']}_{sc}_sd"] = float(row["sd"])
        if "p_value" in row and row["p_value"] == row["p_value"]:
            metrics[f"{row['model']}_p_value"] = float(row["p_value"])
    metrics["chance"] = float(summary["chance"].iloc[0])
    deep = _deep_names(estimators)
    summary.insert(1, "deep", summary["model"].isin(sorted(deep)))
    table.insert(1, "deep", table["model"].isin(sorted(deep)))
    notes = answer_lines(summary, sc, res.attrs["cv"])
    line = baseline_line(summary, deep, sc)
    if line:
        notes.append(line)
    if deep and int(n_perm) > 0:
        base = summary[~summary["deep"]]
        if "null_95" in base and len(base):
            notes.append(f"permutation null ({int(n_perm)} label permutations, all folds refitted) computed for the "
                         f"baselines only (95th percentile of the mean {sc}: "
                         + ", ".join(f"{r.model} {r.null_95:.3f}" for r in base.itertuples())
                         + "); deep models are too slow to refit on permuted labels.")
    if res.attrs.get("pretrained_models"):
        n_pre = np.asarray(res["n_pretrain"].values)
        notes.append(f"self-supervised pretraining of {', '.join(res.attrs['pretrained_models'])} on "
                     f"{int(n_pre.min())}..{int(n_pre.max())} unlabelled samples per fold, from the training "
                     "groups only.")
    if "decode_window" in obj.attrs:
        notes.insert(0, f"Epochs: {obj.attrs['decode_window']}.")
    figures: list[Any] = [("scores per model", partial(_scores_figure, summary, table, sc,
                                                       str(res.attrs["cv"])))]
    if res.attrs["task"] == "classification":
        true = np.asarray(res["true"].values).astype(str)
        shown = [str(summary["model"].iloc[0])]  # the best model and, beside it, the best deep model
        deep_rows = summary[summary["deep"]]
        if len(deep_rows) and str(deep_rows["model"].iloc[0]) not in shown:
            shown.append(str(deep_rows["model"].iloc[0]))
        for model in shown:
            pred = np.asarray(res["prediction"].sel(model=model).values).astype(str)
            figures.append((f"confusion matrix ({model})", partial(_confusion_figure, true, pred,
                                                                   list(res.attrs["classes"]), model)))
        if obj.ndim == 3 and {"channel", "time"} <= set(obj.dims) and isinstance(label, str):
            figures.append(("class means", partial(_class_means_figure, obj, label)))
    tables = {"scores": table, "summary": summary}
    # out-of-fold predictions are kept for continuous targets (traces, re-scoring); class names are dropped
    out = res.drop_vars(["prediction"]) if res.attrs["task"] == "classification" else res
    if time_resolved:
        if obj.ndim != 3 or "time" not in obj.dims:
            raise BadInputError("decode: time_resolved needs epochs (trial, channel, time).")
        tc = decoding.sliding(obj, label, time_estimator, cv=cv, scoring=sc, seed=seed)
        clusters = decoding.cluster_test(tc.values - float(summary["chance"].iloc[0]), times=tc["time"].values,
                                         seed=seed)
        tc = tc.expand_dims(model=[time_estimator])
        tables["time_course"] = tc.mean("fold").to_dataframe(name="score").reset_index()
        tables["time_clusters"] = clusters
        figures.append(("score over time", partial(_time_figure, tc, sc, float(summary["chance"].iloc[0]),
                                                   clusters.to_dict("records"))))
        sig = clusters[clusters["p_value"] < 0.05]
        notes.append(f"time-resolved ({time_estimator}): peak {float(tc.mean('fold').max()):.3f} at "
                     f"{float(tc['time'][int(tc.mean('fold').values.argmax())]):.3f} s; "
                     f"{len(sig)} cluster(s) above chance at p < 0.05 (cluster test over "
                     f"{tc.sizes['fold']} folds: smallest possible p = {smallest_p(tc.sizes['fold']):.3g})"
                     + ("" if sig.empty else ": " + ", ".join(f"{r.start:.3f}..{r.stop:.3f} s"
                                                               for r in sig.itertuples())))
        out["time_score"] = tc.isel(model=0, drop=True).rename(fold="fold")
    answer = notes[1] if "decode_window" in obj.attrs else notes[0]
    if "decode_window" in obj.attrs:
        answer += f" [epochs: {obj.attrs['decode_window']}]"
    return StepResult(out, metrics=metrics, tables=tables, figures=figures, notes=notes, answer=answer,
                      answer_table=summary)

