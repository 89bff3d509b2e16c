"""Time-resolved decoding: a score per time point (sliding) and the temporal generalisation matrix.

Both run the same folds as :func:`neurodecode.decoding.cross_validate` (``cv``: a coord name, an
int for stratified k-fold, or a scikit-learn splitter; every fold leak-checked). For linear
discriminant analysis (the registered ``lda``, or a scikit-learn
``LinearDiscriminantAnalysis(solver="lsqr")`` with ``shrinkage`` None, ``"auto"`` or a float)
every time point of a fold is fitted in one batched solve: class means, Ledoit-Wolf shrunk
covariances (the formulas of :func:`sklearn.covariance.ledoit_wolf`, on standardised features as
scikit-learn's LDA does) and the linear systems for all time points at once. Any other
estimator is cloned and fitted per time point (joblib over time points). Scores equal MNE's
``SlidingEstimator`` / ``GeneralizingEstimator`` on the same estimator and folds.

Per independent unit (a subject, a session: any coord on the trials): :func:`trial_groups` says which
units have enough trials of every label, and :func:`sliding_by_group` runs :func:`sliding` (and
:func:`generalizing`) within each of them, leaving out the folds that cannot be scored (a test fold
holding one class) and the units without any, and says which and why.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError
from ._data import Prepared, default_scoring, prepare, resolve_cv, scorer_for
from .estimators import EstimatorContext, make_estimator

__all__ = ["sliding", "generalizing", "batched_lda_fit", "trial_groups", "sliding_by_group", "ByGroup"]

_BATCHED_SCORES = ("roc_auc", "accuracy", "balanced_accuracy")


# --------------------------------------------------------------------------- batched LDA


def _lda_shrinkage(est: Any) -> tuple[bool, Any]:
    """(True, shrinkage) when ``est`` is an LDA that the batched solver reproduces exactly."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import Pipeline

    from .estimators import TimeBins

    if isinstance(est, Pipeline):
        *pre, (_, last) = est.steps
        if not all(isinstance(s, TimeBins) or s in (None, "passthrough") for _, s in pre):
            return False, None
        est = last
    if not isinstance(est, LinearDiscriminantAnalysis):
        return False, None
    p = est.get_params()
    ok = (p["solver"] == "lsqr" and p["priors"] is None and p.get("covariance_estimator") is None
          and (p["shrinkage"] in (None, "auto", "empirical") or isinstance(p["shrinkage"], float)))
    return ok, p["shrinkage"]


def _gram(Z: np.ndarray) -> np.ndarray:
    """``Z[t].T @ Z[t]`` for every t: (T, n, p) -> (T, p, p), one BLAS product per time point
    (a stacked ``matmul`` of transposed views is several times slower)."""
    return np.stack([z.T @ z for z in Z])


def _shrunk_cov(Xk: np.ndarray, shrinkage: Any) -> np.ndarray:
    """Covariance of each time point's features, (T, n, p) -> (T, p, p), as scikit-learn's LDA ``_cov``."""
    n = Xk.shape[1]
    Xc = Xk - Xk.mean(axis=1, keepdims=True)
    if shrinkage == "auto":
        scale = np.sqrt((Xc ** 2).mean(axis=1))  # StandardScaler's scale_
        scale[scale == 0] = 1.0
        Z = Xc / scale[:, None, :]
        p = Z.shape[2]
        emp = _gram(Z) / n
        Z2 = Z ** 2
        tr = Z2.sum(axis=1) / n  # (T, p)
        mu = tr.sum(axis=1) / p
        beta_ = (Z2.sum(axis=2) ** 2).sum(axis=1)  # sum of all entries of Z2.T @ Z2
        delta_ = (emp ** 2).sum(axis=(1, 2))  # = sum((Z.T Z)^2) / n^2
        beta = (beta_ / n - delta_) / (p * n)
        delta = (delta_ - 2.0 * mu * tr.sum(axis=1) + p * mu ** 2) / p
        beta = np.minimum(beta, delta)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.where(beta == 0, 0.0, beta / delta)
        cov = (1.0 - s)[:, None, None] * emp
        idx = np.arange(p)
        cov[:, idx, idx] += (s * mu)[:, None]
        return scale[:, :, None] * cov * scale[:, None, :]
    emp = _gram(Xc) / n
    if shrinkage in (None, "empirical"):
        return emp
    p = emp.shape[1]
    mu = np.trace(emp, axis1=1, axis2=2) / p
    cov = (1.0 - shrinkage) * emp
    idx = np.arange(p)
    cov[:, idx, idx] += (shrinkage * mu)[:, None]
    return cov


def batched_lda_fit(X: np.ndarray, y: np.ndarray, shrinkage: Any = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Fit one LDA (``solver="lsqr"``) per time point at once.

    Parameters
    ----------
    X : array (n_trials, n_features, n_times)
    y : array of int class codes 0..K-1 (n_trials,)
    shrinkage : None, "auto" or float

    Returns
    -------
    coef : array (n_times, K', n_features)
        K' = 1 for two classes (scikit-learn's binary ``coef_``), else K.
    intercept : array (n_times, K')
    """
    Xt = np.ascontiguousarray(np.moveaxis(X, -1, 0))  # (T, n, p)
    classes = np.unique(y)
    priors = np.array([(y == k).mean() for k in classes])
    means = np.stack([Xt[:, y == k].mean(axis=1) for k in classes], axis=1)  # (T, K, p)
    cov = sum(pk * _shrunk_cov(Xt[:, y == k], shrinkage) for pk, k in zip(priors, classes))
    coef = np.linalg.solve(cov, means.transpose(0, 2, 1)).transpose(0, 2, 1)  # (T, K, p)
    intercept = -0.5 * np.einsum("tkp,tkp->tk", means, coef) + np.log(priors)
    if len(classes) == 2:
        coef = coef[:, 1:] - coef[:, :1]
        intercept = intercept[:, 1:] - intercept[:, :1]
    return coef, intercept


def _auc(decision: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ROC AUC of ``decision`` (..., n) against binary ``y`` along the last axis (ties averaged)."""
    from scipy.stats import rankdata

    r = rankdata(decision, axis=-1)
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return (r[..., pos].sum(axis=-1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def _batched_score(dec: np.ndarray, y: np.ndarray, scoring: str, n_classes: int) -> np.ndarray:
    """Scores from decision values ``dec`` (..., n, K') for every leading index."""
    if scoring == "roc_auc":
        return _auc(dec[..., 0], y)
    pred = (dec[..., 0] > 0).astype(int) if n_classes == 2 else dec.argmax(axis=-1)
    hit = pred == y
    if scoring == "accuracy":
        return hit.mean(axis=-1)
    return np.mean([hit[..., y == k].mean(axis=-1) for k in np.unique(y)], axis=0)  # balanced accuracy


# --------------------------------------------------------------------------- common


def _setup(epochs: Any, label: Any, estimator: Any, cv: Any, scoring: str | None, seed: int, task: str | None):
    prep: Prepared = prepare(epochs, label, task)
    if prep.X.ndim != 3 or "time" not in prep.obj.dims:
        raise BadInputError(f"time-resolved decoding needs epochs (trial, channel, time); got dims {prep.obj.dims}.")
    if prep.obj.dims[-1] != "time":
        prep.obj = prep.obj.transpose(prep.sample_dim, ..., "time")
        prep.X = np.asarray(prep.obj.values, dtype=float)
    scoring = scoring or default_scoring(prep)
    folds = resolve_cv(cv, prep, seed)
    ctx = EstimatorContext(task=prep.task, sfreq=prep.sfreq, shape=(prep.X.shape[1],),
                           n_samples=int(min(len(tr) for tr, _ in folds.folds)), seed=seed)
    est = make_estimator(estimator, ctx)
    ok, shrink = _lda_shrinkage(est)
    batched = ok and scoring in _BATCHED_SCORES and (scoring != "roc_auc" or len(prep.classes) == 2)
    return prep, scoring, folds, est, batched, shrink


def _fit_score_t(est: Any, Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, yte: np.ndarray, scorer: Any,
                 generalize: bool) -> np.ndarray:
    from sklearn.base import clone

    m = clone(est).fit(Xtr, ytr)
    if not generalize:
        return np.array(scorer(m, Xte, yte))
    return np.array([scorer(m, Xte[..., u], yte) for u in range(Xte.shape[-1])])


def _looped(prep: Prepared, est: Any, folds: Any, scorer: Any, generalize: bool, n_jobs: int) -> np.ndarray:
    from joblib import Parallel, delayed

    out = []
    for tr, te in folds.folds:
        X, y = prep.X, prep.y
        T = X.shape[-1]
        res = Parallel(n_jobs=n_jobs)(
            delayed(_fit_score_t)(est, X[tr][..., t], y[tr], X[te] if generalize else X[te][..., t], y[te],
                                  scorer, generalize) for t in range(T))
        out.append(np.stack(res))
    return np.stack(out)


def _result(scores: np.ndarray, prep: Prepared, folds: Any, scoring: str, batched: bool, dims: tuple[str, ...]):
    from ._data import chance_of

    times = np.asarray(prep.obj["time"].values, dtype=float)
    coords: dict[str, Any] = {"fold": np.arange(len(folds.folds)),
                              "test_group": ("fold", np.asarray(folds.test_names, dtype=object))}
    for d in dims[1:]:
        coords[d] = times
    da = xr.DataArray(scores, dims=dims, coords=coords, name="score")
    da.attrs.update(scoring=scoring, cv=folds.description, chance=chance_of(scoring, prep.y, prep.task),
                    label=prep.label, classes=[str(c) for c in prep.classes],
                    solver="batched LDA (one solve per fold)" if batched else "one fit per time point")
    return da


# --------------------------------------------------------------------------- public


def sliding(
    epochs: Any,
    label: str | Any,
    estimator: Any = "lda",
    cv: Any = None,
    scoring: str | None = None,
    *,
    seed: int = 0,
    task: str | None = None,
    n_jobs: int = 1,
) -> xr.DataArray:
    """Decode ``label`` at every time point: train and test on the same sample.

    Parameters
    ----------
    epochs : DataArray (trial, channel, time)
    label : str or array-like
        Coord on ``trial`` (or one value per trial).
    estimator : str or scikit-learn estimator
        A registered name (default ``lda``, batched) or any estimator taking (n, n_channels).
    cv : str, int or splitter, optional
        As in :func:`~neurodecode.decoding.cross_validate`.
    scoring : str, optional
        Default ``roc_auc`` for two classes, ``balanced_accuracy`` for more.
    seed, task, n_jobs
        As in :func:`~neurodecode.decoding.cross_validate` (``n_jobs`` only for per-time-point fits).

    Returns
    -------
    xarray.DataArray
        ``score`` with dims (``fold``, ``time``); attrs ``scoring``, ``cv``, ``chance``, ``solver``.
    """
    prep, scoring, folds, est, batched, shrink = _setup(epochs, label, estimator, cv, scoring, seed, task)
    if batched:
        rows = []
        for tr, te in folds.folds:
            coef, icpt = batched_lda_fit(prep.X[tr], prep.y[tr], shrink)
            dec = np.einsum("tkp,npt->tnk", coef, prep.X[te]) + icpt[:, None, :]
            rows.append(_batched_score(dec, prep.y[te], scoring, len(prep.classes)))
        scores = np.stack(rows)
    else:
        scores = _looped(prep, est, folds, scorer_for(scoring), False, n_jobs)
    return _result(scores, prep, folds, scoring, batched, ("fold", "time"))


def generalizing(
    epochs: Any,
    label: str | Any,
    estimator: Any = "lda",
    cv: Any = None,
    scoring: str | None = None,
    *,
    seed: int = 0,
    task: str | None = None,
    n_jobs: int = 1,
) -> xr.DataArray:
    """Temporal generalisation: train at each time point, test at every time point.

    Parameters and folds as in :func:`sliding`.

    Returns
    -------
    xarray.DataArray
        ``score`` with dims (``fold``, ``train_time``, ``test_time``).
    """
    prep, scoring, folds, est, batched, shrink = _setup(epochs, label, estimator, cv, scoring, seed, task)
    if batched:
        rows = []
        for tr, te in folds.folds:
            coef, icpt = batched_lda_fit(prep.X[tr], prep.y[tr], shrink)
            dec = np.einsum("tkp,npu->tunk", coef, prep.X[te], optimize=True) + icpt[:, None, None, :]
            rows.append(_batched_score(dec, prep.y[te], scoring, len(prep.classes)))
        scores = np.stack(rows)
    else:
        scores = _looped(prep, est, folds, scorer_for(scoring), True, n_jobs)
    return _result(scores, prep, folds, scoring, batched, ("fold", "train_time", "test_time"))


# --------------------------------------------------------------------------- per group (subject)


class ByGroup(NamedTuple):
    """What :func:`sliding_by_group` returns: the scores of the groups kept and one row per group."""

    scores: xr.Dataset
    groups: pd.DataFrame


def _trial_coord(epochs: xr.DataArray, name: str, what: str) -> str:
    """The sample dim of the 1-D coord ``name`` (an error listing the 1-D coords when there is none)."""
    if name not in epochs.coords or epochs[name].ndim != 1:
        have = sorted(str(c) for c in epochs.coords if epochs[c].ndim == 1 and epochs[c].dims[0] not in
                      ("channel", "time"))
        raise BadInputError(f"{what}: no coord {name!r} along the trials; trial coords: {have}.")
    return str(epochs[name].dims[0])


def trial_groups(
    epochs: xr.DataArray,
    label: str,
    by: str | None = "subject",
    min_trials: int = 0,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Split the trials by ``by`` and keep the groups with at least ``min_trials`` trials of each label.

    Parameters
    ----------
    epochs : DataArray
        Trials along the dim of the ``label`` coord (``trial``).
    label : str
        Coord holding each trial's label; every label present in ``epochs`` is counted in every group.
    by : str, optional
        Coord of the independent units (``subject``). None: all trials form one group named ``"all"``.
    min_trials : int
        Groups with fewer trials of some label are left out.

    Returns
    -------
    kept : dict of str to array of int
        Trial positions of each group kept, in the order the groups first appear.
    groups : pandas.DataFrame
        One row per group, same order: ``<by or "group">``, ``n_trials``, ``trials_per_label``
        (dict label -> count), ``kept`` (bool) and ``reason`` (why it was left out; empty when kept).

    Raises
    ------
    BadInputError
        A missing coord, a negative ``min_trials``, or no group with enough trials.
    """
    if not isinstance(epochs, xr.DataArray):
        raise BadInputError(f"trial_groups: needs an xarray DataArray of trials; got {type(epochs).__name__}.")
    if isinstance(min_trials, bool) or int(min_trials) != min_trials or min_trials < 0:
        raise BadInputError(f"trial_groups: min_trials must be a whole number >= 0; got {min_trials!r}.")
    min_trials = int(min_trials)
    dim = _trial_coord(epochs, label, "trial_groups")
    gdim = by or "group"
    if by is None:
        g = np.full(epochs.sizes[dim], "all")
    else:
        if _trial_coord(epochs, by, "trial_groups") != dim:
            raise BadInputError(f"trial_groups: coords {label!r} and {by!r} lie along different dims "
                                f"({dim!r}, {epochs[by].dims[0]!r}); both must be one value per trial.")
        g = np.asarray(epochs[by].values).astype(str)
    lab = np.asarray(epochs[label].values).astype(str)
    labels = sorted(set(lab.tolist()))
    kept: dict[str, np.ndarray] = {}
    rows = []
    for name in dict.fromkeys(g.tolist()):
        idx = np.flatnonzero(g == name)
        counts = {la: int((lab[idx] == la).sum()) for la in labels}
        ok = min(counts.values()) >= min_trials
        if ok:
            kept[name] = idx
        rows.append({gdim: name, "n_trials": int(idx.size), "trials_per_label": counts, "kept": ok,
                     "reason": "" if ok else f"fewer than {min_trials} trials of some label"})
    if not kept:
        raise BadInputError(f"no {gdim} has at least {min_trials} trials of each label; lower min_trials.")
    return kept, pd.DataFrame(rows, columns=[gdim, "n_trials", "trials_per_label", "kept", "reason"])


def sliding_by_group(
    epochs: xr.DataArray,
    label: str,
    estimator: Any = "lda",
    cv: Any = None,
    scoring: str | None = None,
    *,
    by: str | None = "subject",
    min_trials: int = 0,
    generalize: bool = False,
    seed: int = 0,
    task: str | None = None,
    n_jobs: int = 1,
) -> ByGroup:
    """Decode ``label`` at every time point within each group (subject) of trials.

    The groups are those of :func:`trial_groups`; within each, :func:`sliding` (and, with
    ``generalize``, :func:`generalizing`) on its trials alone with the folds of ``cv``. A fold whose
    score is not finite at every time point (a test fold holding one class cannot give a ROC AUC)
    is left out of the group's mean; a group with no such fold is left out.

    Parameters
    ----------
    epochs : DataArray (trial, channel, time)
    label : str
        Coord on ``trial`` to decode.
    estimator, cv, scoring, seed, task, n_jobs
        As in :func:`sliding`; ``cv`` is applied within each group.
    by : str, optional
        Coord of the groups (independent units); None: all trials as one group ``"all"``.
    min_trials : int
        Groups with fewer trials of some label are left out (:func:`trial_groups`).
    generalize : bool
        Also the temporal generalisation matrix of each group (mean over the same folds).

    Returns
    -------
    ByGroup
        ``scores``: Dataset over the groups kept (dim ``by``, or ``group``) with ``score``
        (group, time), the mean over the folds kept; ``fold_score`` (group, fold, time), each fold's
        score, NaN for the folds left out (and past a group's last fold); ``n_trials``, ``n_folds``
        and ``chance`` per group; ``generalization`` (group, train_time, test_time) with
        ``generalize``. Attrs: those of :func:`sliding` for the last group (``scoring``, ``cv``,
        ``label``, ``classes``, ``solver``), ``chance`` when every group shares it (NaN otherwise),
        ``by`` and ``min_trials``. ``groups``: the table of :func:`trial_groups` for every group with
        ``n_folds`` (folds made; 0 when not decoded) and ``n_folds_scored``, ``kept`` and ``reason``
        updated for the groups left out for want of a scorable fold.

    Raises
    ------
    BadInputError
        Bad input (as in :func:`trial_groups` and :func:`sliding`, naming the group), or no group left.
    """
    kept, table = trial_groups(epochs, label, by, min_trials)
    dim = str(epochs[label].dims[0])
    gdim = by or "group"
    table["n_folds"] = 0
    table["n_folds_scored"] = 0
    names: list[str] = []
    means, folds, gens, n_trials, chances = [], [], [], [], []
    attrs: dict[str, Any] = {}
    times: np.ndarray | None = None
    for name, idx in kept.items():
        sub = epochs.isel({dim: idx})
        row = table.index[table[gdim] == name][0]
        try:
            with np.errstate(divide="ignore", invalid="ignore"):  # a one-class test fold: left out just below
                tc = sliding(sub, label, estimator, cv=cv, scoring=scoring, seed=seed, task=task, n_jobs=n_jobs)
                ok = np.isfinite(tc.values).all(axis=1)
                tg = (generalizing(sub, label, estimator, cv=cv, scoring=scoring, seed=seed, task=task,
                                   n_jobs=n_jobs) if generalize and ok.any() else None)
        except BadInputError as err:
            raise BadInputError(f"{by or 'data'} {name!r} ({idx.size} trials): {err}") from err
        table.loc[row, ["n_folds", "n_folds_scored"]] = [int(ok.size), int(ok.sum())]
        if not ok.any():
            table.loc[row, ["kept", "reason"]] = [False, "no fold could be scored (every test fold holds one "
                                                         "class, or the scores are not finite)"]
            continue
        attrs = dict(tc.attrs)
        times = np.asarray(tc["time"].values, dtype=float)
        names.append(name)
        n_trials.append(int(idx.size))
        chances.append(float(tc.attrs["chance"]))
        means.append(tc.values[ok].mean(axis=0))
        per_fold = np.full(tc.shape, np.nan)
        per_fold[ok] = tc.values[ok]
        folds.append(per_fold)
        if tg is not None:
            gens.append(tg.values[ok].mean(axis=0))
    if not names:
        why = "; ".join(f"{r[gdim]}: {r['reason']}" for _, r in table.iterrows())
        raise BadInputError(f"no {gdim} could be decoded ({why}).")
    n_max = max(f.shape[0] for f in folds)
    fold_score = np.full((len(names), n_max, len(times)), np.nan)
    for i, f in enumerate(folds):
        fold_score[i, :f.shape[0]] = f
    common = chances[0] if all(c == chances[0] or (np.isnan(c) and np.isnan(chances[0])) for c in chances) \
        else float("nan")
    data = xr.Dataset(
        {"score": ((gdim, "time"), np.stack(means)), "fold_score": ((gdim, "fold", "time"), fold_score),
         "n_trials": (gdim, np.asarray(n_trials)), "n_folds": (gdim, np.asarray([f.shape[0] for f in folds])),
         "chance": (gdim, np.asarray(chances))},
        coords={gdim: names, "fold": np.arange(n_max), "time": times})
    if generalize:
        data["generalization"] = ((gdim, "train_time", "test_time"), np.stack(gens))
        data = data.assign_coords(train_time=times, test_time=times)
    data.attrs.update({k: attrs[k] for k in ("scoring", "cv", "label", "classes", "solver") if k in attrs})
    data.attrs.update(chance=common, by=str(by or ""), min_trials=int(min_trials))
    if isinstance(estimator, str):
        data.attrs["estimator"] = estimator
    return ByGroup(data, table)
