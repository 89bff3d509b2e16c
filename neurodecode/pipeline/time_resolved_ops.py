"""Time-resolved decoding and RSA per subject with group cluster statistics: thin adapters.

* ``decoding.time_resolved`` (epochs) -> per subject (any grouping coord) the cross-validated score at
  every time point and the temporal generalisation matrix, averaged over the folds that could be
  scored (:func:`neurodecode.decoding.sliding_by_group`: which subjects have enough trials of each
  label, which folds and subjects are left out and why); cluster permutation tests of the
  subjects' scores against chance (:func:`neurodecode.decoding.cluster_test`), over time and over the
  matrix, and of each subject's fold scores over time.
* ``rsa.time_resolved`` (epochs) -> per subject the RDM of every time point compared with the
  categorical model RDM of the label (subjects kept by :func:`neurodecode.decoding.trial_groups`;
  :func:`neurodecode.analysis.time_resolved_rsa`; pseudo-exemplar
  conditions when the trials carry only a category, crossnobis cross-validated over a run coord or
  over folds dealt within each subject), and the cluster test of the subjects' time courses against 0.

Nothing here knows a dataset; ``pipelines/eeg_muse_time_resolved.yaml`` runs both on the Muse epochs.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError
from .checks import EstimatorName, RdmCompareMethod, RdmMethod, OneOf, ScoringName, keep_classes
from ..report.style import scoring_label
from .ops import StepResult

__all__ = ["decode_over_time", "rsa_over_time"]


# --------------------------------------------------------------------------- helpers


def _epochs(data: Any, label: str, classes: list[str] | None, by: str | None, what: str) -> xr.DataArray:
    if isinstance(data, (list, tuple)):
        from .builtin import concat_epochs

        out = concat_epochs(list(data))
        data = out.data if isinstance(out, StepResult) else out
    if not isinstance(data, xr.DataArray) or set(data.dims) != {"trial", "channel", "time"}:
        dims = list(data.dims) if isinstance(data, xr.DataArray) else type(data).__name__
        raise BadInputError(f"{what}: needs epochs (trial, channel, time); got {dims}.")
    for name in [label] + ([by] if by else []):
        if name not in data.coords or data[name].dims != ("trial",):
            have = sorted(str(c) for c in data.coords if data[c].dims == ("trial",))
            raise BadInputError(f"{what}: no coord {name!r} on 'trial'; trial coords: {have}.")
    if classes:
        data = keep_classes(data, label, classes, what, dim="trial")
    return data.transpose("trial", "channel", "time")


def _groups(ep: xr.DataArray, by: str | None, label: str, min_trials: int, what: str,
            notes: list[str]) -> dict[str, np.ndarray]:
    """Trial positions of the groups kept (:func:`neurodecode.decoding.trial_groups`); the others in ``notes``."""
    from ..decoding import trial_groups

    try:
        kept, table = trial_groups(ep, label, by, min_trials)
    except BadInputError as err:
        raise BadInputError(f"{what}: {err}") from err
    notes.extend(_trials_notes(table, by, min_trials))
    return kept


def _trials_notes(table: pd.DataFrame, by: str | None, min_trials: int) -> list[str]:
    """One note per group left out for want of trials."""
    few = ~table["kept"] if "n_folds" not in table else ~table["kept"] & (table["n_folds"] == 0)
    rows = table[few]
    return [f"{by} {r[by or 'group']} left out: {r['trials_per_label']} trials, fewer than "
            f"min_trials_per_label={min_trials}" for _, r in rows.iterrows()]


def _group_clusters(obs: np.ndarray, times: np.ndarray, *, tail: int, n_permutations: int, seed: int,
                    masks: bool = False) -> tuple[pd.DataFrame, Any, str]:
    """Cluster test over the observations (rows) when there are at least 2; the note says its resolution.

    With ``masks``, also the :class:`~neurodecode.decoding.clusters.ClusterResult` (cluster masks, p-values).
    """
    from ..decoding.clusters import cluster_stats, cluster_table, smallest_p

    n = obs.shape[0]
    if n < 2:
        cols = ["start", "stop", "mass", "p_value", "n_points"]
        return pd.DataFrame(columns=cols), None, f"no cluster test: {n} observation(s) (needs at least 2)"
    stats = cluster_stats(obs, tail=tail, n_permutations=n_permutations, seed=seed)
    table = cluster_table(stats, times)
    found = stats if masks else None
    return table, found, f"{n} observations, smallest possible p = {smallest_p(n, n_permutations, tail):.3g}"


def _cluster_text(table: pd.DataFrame, alpha: float, unit: str = "s") -> str:
    if table.empty:
        return "no cluster"
    sig = table[table["p_value"] < alpha]
    best = table.iloc[0]
    if sig.empty:
        return (f"no cluster at p < {alpha:g} (strongest {best['start']:.3f}..{best['stop']:.3f} {unit}, "
                f"p = {best['p_value']:.3g})")
    return f"{len(sig)} cluster(s) at p < {alpha:g}: " + ", ".join(
        f"{r.start:.3f}..{r.stop:.3f} {unit} (p = {r.p_value:.3g})" for r in sig.itertuples())


def _cluster_metrics(table: pd.DataFrame, alpha: float) -> dict[str, float]:
    """How many clusters reach ``alpha`` and the smallest cluster p (1 when there is none)."""
    return {"n_clusters_significant": float((table["p_value"] < alpha).sum()),
            "min_cluster_p": float(table["p_value"].min()) if len(table) else 1.0}


def _time_course_table(times: np.ndarray, scores: np.ndarray, names: list[str], gdim: str) -> pd.DataFrame:
    """One row per time point: the mean over the groups and each group's own column."""
    return pd.DataFrame({"time": times, "mean": scores.mean(axis=0),
                         **{f"{gdim}_{n}": r for n, r in zip(names, scores)}})


# --------------------------------------------------------------------------- figures


def _time_course_figure(values: np.ndarray, names: list[str], times: np.ndarray, chance: float,
                        clusters: list[dict[str, Any]], alpha: float, ylabel: str, title: str, caption: str,
                        own_clusters: dict[str, list[tuple[float, float]]] | None = None, unit: str = "subject"):
    from ..report import style
    from ..report.figures import new_figure

    fig = new_figure(7.0, 3.4)
    with style.context():
        ax = fig.subplots()
        for i, (row, name) in enumerate(zip(values, names)):
            ax.plot(times, row, color=style.color(i + 1), lw=0.8, alpha=0.7, label=f"{unit} {name}")
        mean = values.mean(axis=0)
        if values.shape[0] > 1:
            sem = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
            ax.fill_between(times, mean - sem, mean + sem, color=style.color(0), alpha=0.25, lw=0)
        ax.plot(times, mean, color=style.color(0), lw=2.2, label="mean ± SEM")
        shown = set()
        for row in clusters:
            sig = row["p_value"] < alpha
            what = f"group cluster p < {alpha:g}" if sig else f"group cluster p ≥ {alpha:g}"
            ax.axvspan(row["start"], row["stop"], color=style.HIGHLIGHT_COLOR if sig else "0.6",
                       alpha=0.18 if sig else 0.08, lw=0, label=None if what in shown else what)
            shown.add(what)
        if own_clusters:  # each observation's own significant clusters, as bars under the curves
            lo = float(np.min(values))
            span = float(np.max(values)) - lo or 1.0
            for i, name in enumerate(names):
                y = lo - span * (0.04 + 0.035 * i)
                for start, stop in own_clusters.get(name, []):
                    ax.plot([start, stop], [y, y], color=style.color(i + 1), lw=3, solid_capstyle="butt",
                            label=None if "own" in shown else f"{unit}'s own cluster (bars)")
                    shown.add("own")
        ax.axhline(chance, color="k", ls="--", lw=1, label="chance" if chance else "zero")
        ax.axvline(0.0, color="0.5", lw=0.8)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        style.legend_outside(ax)
    return style.set_caption(fig, caption)


def _generalization_figure(matrix: np.ndarray, times: np.ndarray, chance: float, masks: list[np.ndarray],
                           pvals: list[float], alpha: float, scoring: str, title: str):
    from ..report import style
    from ..report.figures import new_figure

    fig = new_figure(5.0, 4.2)
    with style.context():
        ax = fig.subplots()
        lo, hi = style.diverging_limits(matrix - chance)
        step = float(np.median(np.diff(times))) if times.size > 1 else 1.0
        ext = (times[0] - step / 2, times[-1] + step / 2, times[0] - step / 2, times[-1] + step / 2)
        im = ax.imshow(matrix, origin="lower", extent=ext, cmap=style.CMAP_DIVERGING, vmin=chance + lo,
                       vmax=chance + hi, aspect="equal")
        for mask, p in zip(masks, pvals):
            if p < alpha:
                ax.contour(times, times, mask.astype(float), levels=[0.5], colors="k", linewidths=1.2)
        ax.plot([times[0], times[-1]], [times[0], times[-1]], color="0.3", lw=0.6, ls=":")
        ax.set_xlabel("test time (s)")
        ax.set_ylabel("train time (s)")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, label=f"{scoring_label(scoring)} (chance {chance:g})", shrink=0.85)
    return style.set_caption(fig, f"Temporal generalisation: trained at each time (rows), tested at every time "
                                  f"(columns), mean over subjects; black outline: clusters above chance at "
                                  f"p < {alpha:g}.")


def _rdm_figure(rdm: np.ndarray, ids: list[str], time: float, method: str):
    from ..report import style
    from ..report.figures import new_figure

    fig = new_figure(4.6, 4.0)
    peak = float(np.nanmax(np.abs(rdm))) if np.isfinite(rdm).any() else 0.0
    exponent = int(np.floor(np.log10(peak))) if peak > 0 and not 1e-2 <= peak < 1e3 else 0
    rdm = rdm / 10.0 ** exponent  # values near 1 on the colour bar; the scale goes into its label
    with style.context():
        ax = fig.subplots()
        im = ax.imshow(rdm, cmap=style.CMAP_SEQUENTIAL if method != "crossnobis" else style.CMAP_DIVERGING,
                       **({} if method != "crossnobis" else dict(zip(("vmin", "vmax"), style.diverging_limits(rdm)))))
        ax.set_xticks(range(len(ids)), ids, rotation=90)
        ax.set_yticks(range(len(ids)), ids)
        ax.set_xlabel("condition")
        ax.set_ylabel("condition")
        ax.set_title(f"RDM at {time:.3f} s (mean over subjects)")
        scale = f" (×1e{exponent}, data units²)" if exponent else ""
        fig.colorbar(im, ax=ax, label=f"{method} dissimilarity{scale}", shrink=0.85)
    return style.set_caption(fig, f"The {method} RDM over the conditions at the peak of the RSA time course, "
                                  "averaged over subjects.")


# --------------------------------------------------------------------------- ops


def decode_over_time(
    epochs: Any,
    *,
    label: str = "label",
    classes: list[str] | None = None,
    by: str | None = "subject",
    estimator: EstimatorName = "lda",
    cv: str | int = "blocks",
    n_folds: int = 5,
    gap: int = 2,
    scoring: ScoringName | None = None,
    generalize: bool = True,
    min_trials_per_label: int = 0,
    n_permutations: int = 1024,
    tail: int = 1,
    alpha: float = 0.05,
    seed: int = 0,
) -> StepResult:
    """Time-resolved decoding per subject and cluster statistics across subjects (thin adapter).

    Parameters
    ----------
    epochs : DataArray (trial, channel, time), or a list of them (concatenated)
    label, classes : str, list of str
        The coord to decode and, optionally, the labels kept.
    by : str, optional
        Coord of the independent units (``subject``): one time course each, the observations of the
        group cluster test. None: all trials together (then the cluster test is over folds).
    estimator : str
        A registered estimator (``lda`` is batched over time points).
    cv : str or int
        ``"blocks"``: ``n_folds`` contiguous blocks of trials in recording order, ``gap`` trials on
        each side of the test block left out of training (epochs that overlap in time, as with short
        inter-stimulus intervals, never fall on both sides); or a coord name / int as in
        :func:`neurodecode.decoding.sliding`.
    scoring : str, optional
        Default ROC AUC for two classes.
    generalize : bool
        Also compute the temporal generalisation matrix.
    min_trials_per_label : int
        Subjects with fewer trials of some label are left out (said in the notes).
    n_permutations, tail, alpha, seed
        Cluster test (:func:`neurodecode.decoding.cluster_test`) and the p threshold of the report.
    """
    from .. import decoding
    from ..train.splits import ContiguousBlocks

    what = "decoding.time_resolved"
    ep = _epochs(epochs, label, classes, by, what)
    times = np.asarray(ep["time"].values, dtype=float)
    splitter = ContiguousBlocks(int(n_folds), gap=int(gap), dim="trial") if cv == "blocks" else cv
    gdim = by or "group"
    try:
        found, table = decoding.sliding_by_group(ep, label, estimator, cv=splitter, scoring=scoring, by=by,
                                                 min_trials=int(min_trials_per_label), generalize=generalize,
                                                 seed=seed)
    except BadInputError as err:
        raise BadInputError(f"{what}: {err}") from err
    attrs = found.attrs
    names = [str(n) for n in found[gdim].values]
    notes = _trials_notes(table, by, int(min_trials_per_label))
    fold_tables = []
    for _, r in table[table["n_folds"] > 0].iterrows():
        name, n_made, n_ok, n_trials = r[gdim], int(r["n_folds"]), int(r["n_folds_scored"]), int(r["n_trials"])
        if n_ok == 0:
            notes.append(f"{by} {name}: no fold could be scored (a test block holds one class); left out")
            continue
        if n_ok < n_made:
            notes.append(f"{by} {name}: {n_made - n_ok} of {n_made} folds left out (a test block holds one class)")
        one = found.sel({gdim: name})
        row = one["score"].values
        fold = one["fold_score"].values
        fold_obs = fold[np.isfinite(fold).all(axis=1)] - float(one["chance"])
        res_table, _, res = _group_clusters(fold_obs, times, tail=tail, n_permutations=n_permutations, seed=seed)
        fold_tables.append(res_table.assign(**{gdim: name, "n_trials": n_trials}))
        notes.append(f"{by} {name}: {n_trials} trials, peak {float(row.max()):.3f} at "
                     f"{times[int(row.argmax())]:.3f} s; over its folds ({res}): {_cluster_text(res_table, alpha)}")
    chance = float(found["chance"].values[-1])  # the last subject's (all equal for ROC AUC, balanced accuracy)
    sc = str(attrs["scoring"])
    scores = np.asarray(found["score"].values)
    clusters, _, res = _group_clusters(scores - chance, times, tail=tail, n_permutations=n_permutations, seed=seed)
    mean = scores.mean(axis=0)
    peak_i = int(mean.argmax())
    data = xr.Dataset({"score": ((gdim, "time"), scores)}, coords={gdim: names, "time": times},
                      attrs={"scoring": sc, "chance": chance, "cv": str(attrs["cv"]), "estimator": str(estimator),
                             "label": label})
    metrics = {"peak_score": float(mean[peak_i]), "peak_time": float(times[peak_i]), "chance": chance,
               f"n_{gdim}s": float(len(names)), **_cluster_metrics(clusters, alpha)}
    tables = {"time_course": _time_course_table(times, scores, names, gdim),
              "clusters": clusters, f"{gdim}_clusters": pd.concat(fold_tables, ignore_index=True)}
    answer = (f"Time-resolved {sc} ({estimator}, {attrs['cv']} per {gdim}), mean over {len(names)} {gdim}s: "
              f"peak {mean[peak_i]:.3f} at {times[peak_i]:.3f} s (chance {chance:g}); group cluster test "
              f"({res}): {_cluster_text(clusters, alpha)}.")
    own = {str(n): [(float(r.start), float(r.stop)) for r in t.itertuples() if r.p_value < alpha]
           for n, t in zip(names, fold_tables)}
    figures: list[Any] = [("decoding over time", partial(
        _time_course_figure, scores, names, times, chance, clusters.to_dict("records"), alpha, scoring_label(sc),
        f"{' vs '.join(attrs.get('classes', [label]))}: decoding over time ({estimator})",
        f"Cross-validated {sc} at each time point, one line per {gdim} (mean over folds) and their mean "
        f"± SEM; shaded: clusters above chance at p < {alpha:g} (cluster permutation test over {gdim}s), "
        f"light grey: clusters that did not reach it; bars below the curves: each {gdim}'s clusters at "
        f"p < {alpha:g} in the test over its own folds.", own, gdim))]
    if generalize:
        gen = np.asarray(found["generalization"].values)
        data["generalization"] = ((gdim, "train_time", "test_time"), gen)
        data = data.assign_coords(train_time=times, test_time=times)
        gclusters, found, gres = _group_clusters(gen - chance, times, tail=tail, n_permutations=n_permutations,
                                                 seed=seed, masks=True)
        tables["generalization_clusters"] = gclusters
        masks = list(found.clusters) if found is not None else []
        pvals = list(found.p_values) if found is not None else []
        gmean = gen.mean(axis=0)
        metrics["generalization_min_cluster_p"] = _cluster_metrics(gclusters, alpha)["min_cluster_p"]
        answer += (f" Generalisation matrix ({gres}): {_cluster_text(gclusters, alpha)} (spans along the "
                   "training time).")
        figures.append(("temporal generalisation", partial(
            _generalization_figure, gmean, times, chance, masks, pvals, alpha, sc,
            f"{' vs '.join(attrs.get('classes', [label]))}: temporal generalisation ({estimator})")))
    notes.insert(0, answer)
    return StepResult(data, metrics=metrics, tables=tables, figures=figures, notes=notes, answer=answer,
                      answer_table=clusters.head(5))


def rsa_over_time(
    epochs: Any,
    *,
    label: str = "label",
    classes: list[str] | None = None,
    condition: str | None = None,
    n_per_label: int = 4,
    method: RdmMethod = "crossnobis",
    runs: str | None = None,
    n_folds: int = 2,
    noise: Annotated[str, OneOf("neurodecode.analysis.noise:NOISE_METHODS", "noise estimator")] | None = None,
    compare_method: RdmCompareMethod = "spearman",
    by: str | None = "subject",
    min_trials_per_label: int = 0,
    n_permutations: int = 1024,
    tail: int = 1,
    alpha: float = 0.05,
    seed: int = 0,
) -> StepResult:
    """Time-resolved RSA against the categorical model of ``label``, per subject, with a cluster test.

    Parameters
    ----------
    epochs : DataArray (trial, channel, time), or a list of them (concatenated)
    label, classes : str, list of str
        The category coord (the model RDM: 0 within a category, 1 between) and the labels kept.
    condition : str, optional
        Coord naming each trial's stimulus. None: ``n_per_label`` pseudo-exemplars per label, the
        trials of each label dealt into them (:func:`neurodecode.analysis.pseudo_conditions`).
    method : str
        RDM method; ``crossnobis`` is cross-validated over ``runs`` (a coord on ``trial``) or, when
        None, over ``n_folds`` folds dealt within each subject (:func:`neurodecode.analysis.assign_splits`).
    noise : str, optional
        ``crossnobis``/``mahalanobis`` noise precision estimator (e.g. ``shrinkage_diag``), or None (identity).
    compare_method : str
        RDM comparison (:func:`neurodecode.analysis.compare`).
    by, min_trials_per_label, n_permutations, tail, alpha, seed
        As in ``decoding.time_resolved``; the time courses are tested against 0.
    """
    from .. import analysis

    what = "rsa.time_resolved"
    ep = _epochs(epochs, label, classes, by, what)
    notes: list[str] = []
    kept = _groups(ep, by, label, int(min_trials_per_label), what, notes)
    ep = ep.isel(trial=np.sort(np.concatenate(list(kept.values()))))
    within = [by] if by else []
    run_coord = runs
    if method == "crossnobis" and runs is None:
        ep = analysis.assign_splits(ep, int(n_folds), label=label, within=by, name="fold", seed=seed)
        run_coord = "fold"
    if condition is None:
        cells = within + ([run_coord] if run_coord else [])
        ep = analysis.pseudo_conditions(ep, int(n_per_label), label=label, within=cells or None, seed=seed)
        condition = "condition"
    model = analysis.category_rdm(ep, condition=condition, label=label)
    rsa, rdms = analysis.time_resolved_rsa(ep, model, condition=condition, method=method, runs=run_coord,
                                           noise=noise, compare_method=compare_method, by=by, return_rdms=True)
    gdim = by or "group"
    times = np.asarray(rsa["time"].values, dtype=float)
    scores = np.asarray(rsa.sel(model="category").values, dtype=float)
    names = [str(n) for n in rsa[gdim].values]
    clusters, _, res = _group_clusters(scores, times, tail=tail, n_permutations=n_permutations, seed=seed)
    mean = scores.mean(axis=0)
    peak_i = int(mean.argmax())
    cv_text = (f", cross-validated over {run_coord!r}" + (f" ({n_folds} folds dealt per {gdim})"
                                                          if run_coord == "fold" and runs is None else "")
               if method == "crossnobis" else "")
    cond_text = (f"{n_per_label} pseudo-exemplars per {label}" if condition == "condition" and "condition" not in
                 (epochs.coords if isinstance(epochs, xr.DataArray) else {}) else f"conditions {condition!r}")
    answer = (f"Time-resolved RSA ({method} RDMs of {rsa.attrs['n_conditions']} conditions: {cond_text}{cv_text}; "
              f"{compare_method} with the {label} category model), mean over {len(names)} {gdim}s: peak "
              f"{mean[peak_i]:.3f} at {times[peak_i]:.3f} s; cluster test against 0 ({res}): "
              f"{_cluster_text(clusters, alpha)}.")
    rdm_var = xr.DataArray(rdms.values, dims=rdms.dims, coords=rdms.coords)
    data = xr.Dataset({"rsa": ((gdim, "time"), scores), "rdm": rdm_var},
                      coords={gdim: names, "time": times},
                      attrs={"method": method, "compare_method": compare_method, "label": label,
                             "condition": condition, "runs": str(run_coord or "")})
    metrics = {"peak_rsa": float(mean[peak_i]), "peak_time": float(times[peak_i]), f"n_{gdim}s": float(len(names)),
               "n_conditions": float(rsa.attrs["n_conditions"]), **_cluster_metrics(clusters, alpha)}
    order = sorted(str(s) for s in rdms["stimulus"].values)  # category by category
    peak_rdm = rdms.isel(time=peak_i).mean(gdim).sel(stimulus=order, stimulus_=order)
    figures = [("RSA over time", partial(
        _time_course_figure, scores, names, times, 0.0, clusters.to_dict("records"), alpha,
        f"{compare_method} with category model", f"RSA over time ({method})",
        f"{compare_method} correlation of each time point's {method} RDM with the {label} category model, one "
        f"line per {gdim} and their mean ± SEM; shaded: clusters above 0 at p < {alpha:g} (cluster permutation "
        f"test over {gdim}s), light grey: clusters that did not reach it.", None, gdim)),
        ("RDM at the RSA peak", partial(_rdm_figure, np.asarray(peak_rdm.values), order, float(times[peak_i]),
                                        method))]
    tables = {"time_course": _time_course_table(times, scores, names, gdim), "clusters": clusters}
    return StepResult(data, metrics=metrics, tables=tables, figures=figures, notes=[answer, *notes], answer=answer,
                      answer_table=clusters.head(5))
