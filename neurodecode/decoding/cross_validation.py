"""Cross-validated decoding of any labelled data-model object, with chance and a permutation null."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import BadInputError
from ._data import (Folds, Prepared, chance_of, check_train_classes, default_scoring, group_key, permuted, prepare,
                    resolve_cv, sample_dim_of, scorer_for)
from .estimators import EstimatorContext, is_permutable, make_estimator, takes_groups

__all__ = ["cross_validate", "default_estimators", "scores_table", "summary_table"]

log = logging.getLogger(__name__)


def default_estimators(ndim: int, task: str) -> list[str]:
    """The registered estimators run when none are named: fast baselines for this input."""
    if task == "regression":
        return ["ridge", "pca_knn"]
    if ndim == 2:
        return ["lda", "logreg", "xdawn_ts", "csp_lda", "ts_logreg"]
    return ["lda", "logreg", "svm_anova", "ridge", "pca_knn"]


def _named(estimators: Any, ndim: int, task: str) -> dict[str, Any]:
    if estimators is None:
        return {n: n for n in default_estimators(ndim, task)}
    if isinstance(estimators, str):
        return {estimators: estimators}
    if isinstance(estimators, Mapping):
        if not estimators:
            raise BadInputError("estimators is empty; name at least one (see list_estimators()).")
        return {str(k): v for k, v in estimators.items()}
    if isinstance(estimators, Sequence):
        out: dict[str, Any] = {}
        for e in estimators:
            name = e if isinstance(e, str) else type(e).__name__
            if name in out:
                raise BadInputError(f"estimator {name!r} is listed twice; pass a dict to name them.")
            out[name] = e
        if not out:
            raise BadInputError("estimators is empty; name at least one (see list_estimators()).")
        return out
    return {type(estimators).__name__: estimators}


def takes_pretrain(est: Any) -> bool:
    """Whether ``est.fit`` accepts unlabelled samples as ``X_pretrain`` (self-supervised pretraining)."""
    import inspect

    try:
        return "X_pretrain" in inspect.signature(est.fit).parameters
    except (TypeError, ValueError):
        return False


def _pretrain_folds(pretrain: Any, prep: Prepared, folds: Folds) -> tuple[np.ndarray, list[np.ndarray]]:
    """The unlabelled samples as an array and, per fold, the rows of the fold's training groups.

    A row belongs to a fold's training side when its group (the values of the CV's grouping
    coords) is one of the training samples' groups and none of the test samples'; the split is
    checked by the leak guard like the labelled folds.
    """
    from ..train.splits import check_no_leak

    if not isinstance(pretrain, xr.DataArray):
        raise BadInputError("pretrain must be an xarray DataArray of unlabelled samples, got "
                            f"{type(pretrain).__name__}.")
    if folds.key_coords is None or folds.key is None:
        raise BadInputError(f"pretrain needs a cross-validation by a grouping coord (e.g. cv='run'), so that the "
                            f"unlabelled samples of the test groups can be left out of each fold; cv is "
                            f"{folds.description}.")
    dim = sample_dim_of(pretrain)
    pre = pretrain.transpose(dim, ...)
    feat = [d for d in prep.obj.dims if d != prep.sample_dim]
    if list(pre.dims[1:]) != feat:
        raise BadInputError(f"pretrain has dims {pre.dims}; it needs the data's feature dims {tuple(feat)} after its "
                            "sample dim.")
    for d in feat:
        if d != "time" and pre.sizes[d] != prep.obj.sizes[d]:
            raise BadInputError(f"pretrain has {pre.sizes[d]} {d}(s), the data {prep.obj.sizes[d]}; they must match "
                                "(same mask / channels).")
    Xp = np.asarray(pre.values)
    if not np.issubdtype(Xp.dtype, np.number) or not np.isfinite(Xp).all():
        raise BadInputError("pretrain must hold finite numbers; drop or interpolate NaN/inf first.")
    key = group_key(pre, folds.key_coords, dim)
    rows = []
    for (train, test), name in zip(folds.folds, folds.test_names):
        keep = np.isin(key, np.unique(folds.key[train])) & ~np.isin(key, np.unique(folds.key[test]))
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            raise BadInputError(f"fold {name}: no pretrain sample belongs to the training groups "
                                f"({', '.join(folds.key_coords)} values {sorted(set(folds.key[train]))[:5]}...); "
                                f"the pretrain groups are {sorted(set(key))[:5]}...")
        groups = np.concatenate([key[idx], folds.key[test]])
        check_no_leak(np.arange(idx.size), idx.size + np.arange(len(test)), groups=groups)
        rows.append(idx)
    return Xp.astype(np.float64, copy=False), rows


def _fit_score(est_spec: Any, ctx: EstimatorContext, X: np.ndarray, y: np.ndarray, train: np.ndarray,
               test: np.ndarray, scorer: Any, keep: bool, X_pre: np.ndarray | None = None,
               groups: np.ndarray | None = None) -> tuple[float, np.ndarray | None, Any]:
    est = make_estimator(est_spec, ctx)
    extra: dict[str, Any] = {}
    if X_pre is not None and takes_pretrain(est):
        extra["X_pretrain"] = X_pre
    if groups is not None and takes_groups(est_spec):  # e.g. inner validation by whole runs
        extra["groups"] = groups[train]
    est.fit(X[train], y[train], **extra)
    score = float(scorer(est, X[test], y[test]))
    pred = est.predict(X[test]) if keep else None
    return score, pred, est


def cross_validate(
    data: Any,
    label: str | Sequence[Any],
    estimators: Any = None,
    cv: Any = None,
    scoring: str | None = None,
    *,
    n_perm: int = 100,
    task: str | None = None,
    seed: int = 0,
    return_estimators: bool = False,
    n_jobs: int = 1,
    pretrain: xr.DataArray | None = None,
) -> xr.Dataset:
    """Cross-validated decoding of ``label`` from ``data`` with several estimators on the same folds.

    Parameters
    ----------
    data : xarray.DataArray
        Any labelled object of the data model with samples along ``trial`` / ``stimulus`` (or its
        first dim): epochs ``(trial, channel, time)``, responses ``(trial, neuroid)``, binned
        spikes ``(time, unit)``...
    label : str, list of str or array-like
        A coord on the sample dim (any name, any number of classes, or a continuous target), several
        coords (a multi-output continuous target, e.g. ``["vel_x", "vel_y"]``: ``r2`` is the mean of
        the outputs' R²) or one value per sample.
    estimators : str, list, dict or scikit-learn estimator, optional
        Registered names (:func:`~neurodecode.decoding.list_estimators`) or scikit-learn
        estimators; a dict names them. Default: :func:`default_estimators` for this input.
    cv : str, int or splitter, optional
        A grouping coord (``"run"``, ``"session"``, ``"subject"``...: leave one group out),
        ``"kfold:K"`` or an int K (stratified K-fold, shuffled with ``seed``), or a scikit-learn
        splitter. Default: leave one run out when there are several runs, else stratified 5-fold.
        Every fold goes through :func:`neurodecode.train.splits.check_no_leak`. With a grouped
        ``cv``, estimators registered with ``fit_groups`` (``brainmae``) receive the training
        samples' groups as ``fit(..., groups=)`` (to hold out whole runs for early stopping).
    scoring : str, optional
        A scikit-learn scorer name; default ``roc_auc`` (two classes), ``balanced_accuracy``
        (more), ``r2`` (continuous target).
    n_perm : int
        Label permutations for the null distribution of the mean score (labels shuffled within
        the CV groups, all folds refitted). Estimators registered as slow (``eegnet``) are not
        permuted. 0: no null.
    task : {"classification", "regression"}, optional
        Default: regression for a float label with more than 10 distinct values.
    seed : int
    return_estimators : bool
        Keep the fitted estimator of every fold in ``attrs["estimators"]`` (model -> list).
    n_jobs : int
        joblib workers over folds (and permutations).
    pretrain : xarray.DataArray, optional
        Unlabelled samples with the data's feature dims (``time`` may differ in length) and the
        CV's grouping coord(s), e.g. sliding windows over every volume of every run
        (:func:`~neurodecode.decoding.blocks.run_windows`). Each fold hands the samples of its
        training groups only to the estimators whose ``fit`` takes ``X_pretrain``
        (self-supervised pretraining, e.g. ``brainmae``); the others ignore them. Needs a
        grouped ``cv``.

    Returns
    -------
    xarray.Dataset
        ``score`` (model, fold); ``chance`` (model); ``null`` (model, perm) and ``p_value`` (model)
        when ``n_perm > 0`` (NaN for unpermuted models); ``prediction`` (model, sample) out-of-fold
        predictions (class names for classification); fold coords ``test_group``, ``n_train``,
        ``n_test`` (and ``n_pretrain`` with ``pretrain``); ``seconds`` (model): fit/score time;
        attrs ``scoring``, ``cv``, ``task``, ``label``, ``classes``, ``n_perm``, ``seed`` (and
        ``pretrained_models`` with ``pretrain``).

    Raises
    ------
    BadInputError
        Wrong data kind, missing label coord, NaN, a single class, unknown estimator or scoring,
        folds that leak (``LeakError``).
    """
    from joblib import Parallel, delayed

    prep: Prepared = prepare(data, label, task)
    scoring = scoring or default_scoring(prep)
    scorer = scorer_for(scoring)
    if int(n_perm) < 0:
        raise BadInputError(f"n_perm must be >= 0, got {n_perm}.")
    folds = resolve_cv(cv, prep, seed)
    check_train_classes(prep, folds)
    named = _named(estimators, prep.X.ndim - 1, prep.task)
    obj = prep.obj
    feat_dim = obj.dims[1] if obj.ndim > 1 else None
    ctx = EstimatorContext(task=prep.task, sfreq=prep.sfreq, shape=tuple(prep.X.shape[1:]),
                           n_samples=int(min(len(tr) for tr, _ in folds.folds)), seed=seed,
                           times=tuple(np.asarray(obj["time"].values, dtype=float)) if "time" in obj.dims else None,
                           feature_coords={str(k): np.asarray(c.values) for k, c in obj.coords.items()
                                           if feat_dim is not None and c.dims == (feat_dim,)},
                           attrs=dict(obj.attrs))
    pretrained: list[str] = []
    for name, spec in named.items():  # fail early on bad names / tasks
        est = make_estimator(spec, ctx)
        if pretrain is not None and takes_pretrain(est):
            pretrained.append(name)
    X_pre, pre_rows = (None, None) if pretrain is None else _pretrain_folds(pretrain, prep, folds)
    if pretrain is not None and not pretrained:
        import warnings

        warnings.warn(f"pretrain was given but none of the estimators {list(named)} takes X_pretrain; it is unused.",
                      UserWarning, stacklevel=2)

    def pre_of(name: str, f: int) -> np.ndarray | None:
        return X_pre[pre_rows[f]] if name in pretrained else None
    n_f = len(folds.folds)
    scores = np.full((len(named), n_f), np.nan)
    null = np.full((len(named), int(n_perm)), np.nan)
    pred = np.empty((len(named), *prep.y.shape), dtype=object if prep.task == "classification" else float)
    fitted: dict[str, list[Any]] = {}
    seconds: dict[str, float] = {}
    rng = np.random.default_rng(seed)
    perms = [permuted(prep.y, folds.groups, rng) for _ in range(int(n_perm))]
    par = Parallel(n_jobs=n_jobs)
    for m, (name, spec) in enumerate(named.items()):
        t0 = time.perf_counter()
        out = par(delayed(_fit_score)(spec, ctx, prep.X, prep.y, tr, te, scorer, True, pre_of(name, f), folds.key)
                  for f, (tr, te) in enumerate(folds.folds))
        for f, ((tr, te), (s, p, est)) in enumerate(zip(folds.folds, out)):
            scores[m, f] = s
            pred[m, te] = np.asarray(prep.classes, dtype=object)[p] if prep.task == "classification" else p
            if return_estimators:
                fitted.setdefault(name, []).append(est)
        permutable = is_permutable(spec)
        if n_perm and permutable:
            jobs = [(k, f, tr, te) for k in range(int(n_perm)) for f, (tr, te) in enumerate(folds.folds)]
            res = par(delayed(_fit_score)(spec, ctx, prep.X, perms[k], tr, te, scorer, False, pre_of(name, f),
                                          folds.key) for k, f, tr, te in jobs)
            per = np.array([r[0] for r in res]).reshape(int(n_perm), n_f)
            null[m] = per.mean(axis=1)
        seconds[name] = time.perf_counter() - t0
        log.info("%s: %s = %.3f +- %.3f over %d folds (%.1f s)", name, scoring, np.mean(scores[m]),
                 np.std(scores[m]), n_f, seconds[name])
    chance = chance_of(scoring, prep.y, prep.task)
    n_train = [len(tr) for tr, _ in folds.folds]
    n_test = [len(te) for _, te in folds.folds]
    models = list(named)
    ds = xr.Dataset(
        {
            "score": (("model", "fold"), scores),
            "chance": (("model",), np.full(len(models), chance)),
            "seconds": (("model",), np.asarray([seconds[m] for m in models])),
        },
        coords={
            "model": np.asarray(models, dtype=object),
            "fold": np.arange(n_f),
            "test_group": ("fold", np.asarray(folds.test_names, dtype=object)),
            "n_train": ("fold", np.asarray(n_train)),
            "n_test": ("fold", np.asarray(n_test)),
        },
    )
    pdims = ("model", prep.sample_dim) + (("target",) if prep.y.ndim == 2 else ())
    ds["prediction"] = (pdims, pred)
    ds = ds.assign_coords({prep.sample_dim: np.arange(len(prep.y)),
                           "true": (pdims[1:], np.asarray(prep.classes, dtype=object)[prep.y]
                                    if prep.task == "classification" else prep.y)})
    if prep.y.ndim == 2:
        ds = ds.assign_coords(target=prep.label.split(","))
    if n_perm:
        ds["null"] = (("model", "perm"), null)
        obs = scores.mean(axis=1)
        p = (1 + (null >= obs[:, None] - 1e-12).sum(axis=1)) / (int(n_perm) + 1)
        p[np.isnan(null).all(axis=1)] = np.nan
        ds["p_value"] = (("model",), p)
    if pretrain is not None:
        ds = ds.assign_coords(n_pretrain=("fold", np.asarray([len(r) for r in pre_rows])))
        ds.attrs["pretrained_models"] = pretrained
    ds.attrs.update(scoring=scoring, cv=folds.description, task=prep.task, label=prep.label,
                    classes=[str(c) for c in prep.classes], n_perm=int(n_perm), seed=int(seed),
                    nd_kind="decoding_scores")
    if return_estimators:
        ds.attrs["estimators"] = fitted
    return ds


def scores_table(result: xr.Dataset):
    """Per-fold scores as a long table: columns ``model``, ``fold``, ``test_group``, ``score``, ``chance``,
    ``n_train``, ``n_test``, ``p_value``."""
    import pandas as pd

    rows = []
    for m in result["model"].values:
        for f in result["fold"].values:
            rows.append({
                "model": str(m), "fold": int(f), "test_group": str(result["test_group"].values[f]),
                "score": float(result["score"].sel(model=m, fold=f)),
                "chance": float(result["chance"].sel(model=m)),
                "n_train": int(result["n_train"].values[f]), "n_test": int(result["n_test"].values[f]),
                **({"n_pretrain": int(result["n_pretrain"].values[f])} if "n_pretrain" in result.coords else {}),
                "p_value": float(result["p_value"].sel(model=m)) if "p_value" in result else float("nan"),
                "scoring": result.attrs.get("scoring"),
            })
    return pd.DataFrame(rows)


def summary_table(result: xr.Dataset):
    """One row per model: mean, sd over folds, chance, null mean and 95th percentile, p-value."""
    import pandas as pd

    rows = []
    for m in result["model"].values:
        s = result["score"].sel(model=m).values
        row = {"model": str(m), "scoring": result.attrs.get("scoring"), "cv": result.attrs.get("cv"),
               "mean": float(np.mean(s)), "sd": float(np.std(s, ddof=1)) if len(s) > 1 else 0.0,
               "n_folds": len(s), "chance": float(result["chance"].sel(model=m))}
        if "null" in result:
            nl = result["null"].sel(model=m).values
            ok = nl[np.isfinite(nl)]
            row.update(null_mean=float(ok.mean()) if len(ok) else float("nan"),
                       null_95=float(np.quantile(ok, 0.95)) if len(ok) else float("nan"),
                       p_value=float(result["p_value"].sel(model=m)))
        row["seconds"] = float(result["seconds"].sel(model=m)) if "seconds" in result else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)

