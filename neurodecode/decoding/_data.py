"""Shared plumbing: data-model object -> (X, y), task detection, splitters, scorers, chance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError

#: default scoring per task / number of classes
DEFAULT_SCORING = {"binary": "roc_auc", "multiclass": "balanced_accuracy", "regression": "r2"}


@dataclass
class Prepared:
    """Arrays ready for scikit-learn, with what they came from."""

    X: np.ndarray
    y: np.ndarray
    task: str
    sample_dim: str
    obj: xr.DataArray
    sfreq: float | None
    classes: list[Any]
    label: str


def sample_dim_of(obj: xr.DataArray) -> str:
    """The dim along which samples lie: ``trial``/``stimulus`` when present, else the first dim."""
    for d in ("trial", "stimulus", "epoch", "sample"):
        if d in obj.dims:
            return d
    return str(obj.dims[0])


def prepare(data: Any, label: Any, task: str | None = None) -> Prepared:
    """Turn ``data`` + ``label`` into samples-first numpy arrays.

    ``data`` is an xarray DataArray (epochs, responses, binned spikes...) or a Dataset holding
    exactly one data variable; ``label`` names a coord on the sample dim or gives one value per
    sample.
    """
    if isinstance(data, xr.Dataset):
        names = list(data.data_vars)
        if "signal" in names and "event" in data.dims:
            raise BadInputError(
                "decoding needs epochs, not a continuous recording: cut epochs first "
                "(neurodecode.preprocess.eeg.epoch or neurodecode.decoding.epochs_from_recordings)."
            )
        if len(names) != 1:
            raise BadInputError(f"data is a Dataset with variables {names}; pass the one DataArray to decode.")
        data = data[names[0]]
    if not isinstance(data, xr.DataArray):
        raise BadInputError(
            f"data must be an xarray DataArray of the data model (epochs, responses, binned spikes), got "
            f"{type(data).__name__}; build one with neurodecode.datamodel.make_epochs / make_responses."
        )
    dim = sample_dim_of(data)
    obj = data.transpose(dim, ...)
    if obj.sizes[dim] < 4:
        raise BadInputError(f"only {obj.sizes[dim]} sample(s) along {dim!r}; cross-validation needs more.")
    if (isinstance(label, (list, tuple)) and 0 < len(label) < obj.sizes[dim]
            and all(isinstance(v, str) and v in obj.coords for v in label)):
        # several coords: a multi-output continuous target (e.g. vel_x, vel_y), scored per output and averaged
        for lab in label:
            if obj[lab].dims != (dim,):  # (the guard above has checked that every one is a coord)
                on_dim = sorted(str(c) for c in obj.coords if obj[c].dims == (dim,))
                raise BadInputError(f"label coord {lab!r} not found on {dim!r}; coords there: {on_dim}.")
        if task not in (None, "regression"):
            raise BadInputError(f"several label coords {list(label)} make a multi-output regression target; "
                                f"task={task!r} is not possible.")
        y = np.column_stack([np.asarray(obj[lab].values, dtype=float) for lab in label])
        name = ",".join(label)
        task = "regression"
        if len(label) == 1:
            y = y[:, 0]
    elif isinstance(label, str):
        if label not in obj.coords:
            on_dim = sorted(str(c) for c in obj.coords if obj[c].dims == (dim,))
            raise BadInputError(f"label coord {label!r} not found; coords on {dim!r}: {on_dim}.")
        if obj[label].dims != (dim,):
            raise BadInputError(f"label coord {label!r} lies on {obj[label].dims}, not on the sample dim {dim!r}.")
        y = np.asarray(obj[label].values)
        name = label
    else:
        y = np.asarray(label)
        name = "label"
        if y.ndim != 1 or y.shape[0] != obj.sizes[dim]:
            raise BadInputError(f"label must give one value per {dim} ({obj.sizes[dim]}), got shape {y.shape}.")
    if pd.isna(y).any():
        raise BadInputError(f"label {name!r} has {int(pd.isna(y).sum())} missing value(s); drop those samples first.")
    X = np.asarray(obj.values)
    if not np.issubdtype(X.dtype, np.number):
        raise BadInputError(f"data must be numeric, got dtype {X.dtype}.")
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).reshape(X.shape[0], -1).any(axis=1).sum())
        raise BadInputError(f"data hold NaN/inf in {bad} sample(s) along {dim!r}; drop or interpolate them first.")
    if task is None:
        task = "regression" if y.dtype.kind == "f" and len(np.unique(y)) > 10 else "classification"
    if task not in ("classification", "regression"):
        raise BadInputError(f"task must be 'classification' or 'regression', got {task!r}.")
    classes: list[Any] = []
    if task == "classification":
        classes = sorted(pd.unique(pd.Series(y, dtype=object)), key=str)
        if len(classes) < 2:
            raise BadInputError(f"label {name!r} has a single class {classes}; decoding needs at least two.")
        y = np.asarray(pd.Categorical(pd.Series(y, dtype=object), categories=classes).codes)
    else:
        y = y.astype(float)
        flat = np.ptp(y.reshape(len(y), -1), axis=0) == 0
        if flat.any():
            names = name.split(",") if y.ndim == 2 else [name]
            raise BadInputError(f"target {[n for n, f in zip(names, flat) if f]} is constant "
                                f"({y.reshape(len(y), -1)[0, flat].tolist()}); there is nothing to decode. "
                                "Pick a target that varies.")
    sfreq = obj.attrs.get("sfreq")
    if sfreq is None and "time" in obj.dims and obj.sizes["time"] > 1:
        sfreq = 1.0 / float(np.median(np.diff(np.asarray(obj["time"].values, dtype=float))))
    return Prepared(X, y, task, dim, obj, None if sfreq is None else float(sfreq), classes, name)


def default_scoring(prep: Prepared) -> str:
    if prep.task == "regression":
        return DEFAULT_SCORING["regression"]
    return DEFAULT_SCORING["binary" if len(prep.classes) == 2 else "multiclass"]


def scorer_for(scoring: str):
    """A scikit-learn scorer; ``roc_auc`` with several classes becomes one-vs-rest."""
    from sklearn.metrics import get_scorer, get_scorer_names

    if scoring not in get_scorer_names():
        raise BadInputError(f"unknown scoring {scoring!r}; use a scikit-learn scorer name such as "
                            "roc_auc, balanced_accuracy, accuracy, r2.")
    return get_scorer(scoring)


def chance_of(scoring: str, y: np.ndarray, task: str) -> float:
    """Theoretical chance level of ``scoring`` (majority rate for accuracy)."""
    from ..train.metrics import chance_level

    base = scoring.split("_ovr")[0].split("_ovo")[0]
    if base in ("roc_auc", "balanced_accuracy", "accuracy", "r2"):
        return chance_level(y, base)
    if base in ("explained_variance",):
        return 0.0
    return float("nan")


@dataclass
class Folds:
    folds: list[tuple[np.ndarray, np.ndarray]]
    groups: np.ndarray | None  # permutation blocks (the CV groups), None: permute globally
    description: str
    test_names: list[str]
    key_coords: list[str] | None = None  # the coords whose values make ``key`` (grouped CV only)
    key: np.ndarray | None = None  # per sample: ``group_key(obj, key_coords)``


def _kfold(n_splits: int, prep: Prepared, seed: int):
    from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

    if prep.task == "classification":
        counts = np.bincount(prep.y)
        if counts.min() < n_splits:
            raise BadInputError(
                f"stratified {n_splits}-fold needs at least {n_splits} samples per class; the smallest class "
                f"has {int(counts.min())}. Lower the number of folds."
            )
        if "trial_id" in prep.obj.coords:  # windows of one trial stay together
            return StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed), np.asarray(
                prep.obj["trial_id"].values)
        return StratifiedKFold(n_splits, shuffle=True, random_state=seed), None
    return KFold(n_splits, shuffle=True, random_state=seed), None


def resolve_cv(cv: Any, prep: Prepared, seed: int = 0) -> Folds:
    """Folds from a coord name, ``"kfold:K"``, an int (stratified K-fold), a scikit-learn splitter or
    a dict (see :func:`_dict_cv`: leave one group out within subjects, contiguous blocks with a gap).

    ``None``: leave one ``run`` out when the data hold several runs, else stratified 5-fold.
    A coord with a single value falls back to stratified 5-fold (said in the description).
    """
    from ..train.splits import check_no_leak

    obj = prep.obj
    note = ""
    if cv is None:
        runs = obj.coords.get("run")
        cv = "run" if runs is not None and runs.dims == (prep.sample_dim,) and len(np.unique(runs.values)) > 1 else 5
    if isinstance(cv, dict):
        return _dict_cv(dict(cv), prep, check_no_leak)
    if isinstance(cv, str) and cv.startswith("kfold"):
        _, _, k = cv.partition(":")
        try:
            cv = int(k) if k else 5
        except ValueError as err:
            raise BadInputError(f"cv={cv!r}: write kfold:K with an integer K, e.g. kfold:5.") from err
    groups = None
    if isinstance(cv, str):
        if cv not in obj.coords or obj[cv].dims != (prep.sample_dim,):
            on_dim = sorted(str(c) for c in obj.coords if obj[c].dims == (prep.sample_dim,))
            raise BadInputError(f"cv={cv!r} is not a coord on {prep.sample_dim!r}; coords there: {on_dim}; "
                                "or pass an int (stratified k-fold) or a scikit-learn splitter.")
        g = np.asarray(obj[cv].values).astype(str)
        uniq = list(dict.fromkeys(g))
        if len(uniq) < 2:
            note = f" (coord {cv!r} has a single value {uniq[0]!r}, so stratified 5-fold instead)"
            cv = 5
        else:
            folds = [(np.flatnonzero(g != u), np.flatnonzero(g == u)) for u in uniq]
            desc = f"leave one {cv} out ({len(uniq)} folds)"
            names = [f"{cv}={u}" for u in uniq]
            groups = g
            _guard(folds, obj, check_no_leak)
            return Folds(folds, groups, desc, names, [cv], g)
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        if cv < 2:
            raise BadInputError(f"cv={cv}: k-fold needs at least 2 folds.")
        splitter, split_groups = _kfold(int(cv), prep, seed)
        kind = "stratified " if prep.task == "classification" else ""
        desc = f"{kind}{int(cv)}-fold, shuffled (seed {seed}){note}"
    elif hasattr(cv, "split"):
        splitter, split_groups = cv, None
        desc = repr(cv)
    else:
        raise BadInputError(f"cv must be a coord name, 'kfold:K', an int or a scikit-learn splitter, got {cv!r}.")
    try:
        folds = [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(prep.X, prep.y, split_groups)]
    except ValueError as err:
        raise BadInputError(f"the splitter {desc} could not split these data: {err}") from err
    _guard(folds, obj, check_no_leak)
    return Folds(folds, None, desc, [f"fold {i}" for i in range(len(folds))])


def check_train_classes(prep: Prepared, folds: Folds) -> None:
    """Classification: every fold's training side must hold at least two classes."""
    if prep.task != "classification":
        return
    for i, (tr, _) in enumerate(folds.folds):
        if len(np.unique(prep.y[tr])) < 2:
            raise BadInputError(f"fold {folds.test_names[i]}: the training side holds a single class; "
                                "choose another cv.")


def group_key(obj: xr.DataArray, coords: Any, sample_dim: str) -> np.ndarray:
    """Per-sample key of the values of ``coords`` (one name or several, joined with ``/``)."""
    names = [coords] if isinstance(coords, str) else list(coords)
    for c in names:
        if c not in obj.coords or obj[c].dims != (sample_dim,):
            on_dim = sorted(str(k) for k in obj.coords if obj[k].dims == (sample_dim,))
            raise BadInputError(f"cv group coord {c!r} is not a coord on {sample_dim!r}; coords there: {on_dim}.")
    key = np.asarray(obj[names[0]].values).astype(str).astype(object)
    for c in names[1:]:
        key = key + "/" + np.asarray(obj[c].values).astype(str)
    return key.astype(str)


def _dict_cv(cv: dict, prep: Prepared, check) -> Folds:
    """``{"group": coord(s), "within": coord, "min_groups": n}``: leave one group out inside each
    value of ``within`` (training on that value's other groups only); values with fewer than
    ``min_groups`` groups are left out (said in the description). ``{"blocks": K, "gap": G}``:
    K contiguous test blocks along the samples, ``G`` samples dropped from training on each side."""
    obj = prep.obj
    if "blocks" in cv:
        from ..train.splits import ContiguousBlocks

        unknown = set(cv) - {"blocks", "gap"}
        if unknown:
            raise BadInputError(f"cv {cv}: unknown key(s) {sorted(unknown)}; blocks cv takes 'blocks' and 'gap'.")
        k, gap = int(cv["blocks"]), int(cv.get("gap", 0))
        folds = [(np.asarray(a), np.asarray(b)) for a, b in ContiguousBlocks(k, gap=gap).split(prep.X)]
        _guard(folds, obj, check)
        return Folds(folds, None, f"{k} contiguous test blocks, {gap} samples dropped from training on each side",
                     [f"block {i}" for i in range(k)])
    unknown = set(cv) - {"group", "within", "min_groups"}
    if "group" not in cv or unknown:
        raise BadInputError(f"cv {cv}: write {{group: COORD(S), within: COORD, min_groups: N}} or "
                            "{blocks: K, gap: G}.")
    group = group_key(obj, cv["group"], prep.sample_dim)
    within = cv.get("within")
    outer = (group_key(obj, within, prep.sample_dim) if within else np.full(len(group), "all"))
    min_groups = int(cv.get("min_groups", 2))
    folds, names, skipped = [], [], []
    for w in dict.fromkeys(outer):
        inside = outer == w
        keys = list(dict.fromkeys(group[inside]))
        if len(keys) < max(min_groups, 2):
            skipped.append(f"{w} ({len(keys)} group(s))")
            continue
        for g in keys:
            folds.append((np.flatnonzero(inside & (group != g)), np.flatnonzero(inside & (group == g))))
            names.append(g if not within else f"{w}:{g}")
    gname = cv["group"] if isinstance(cv["group"], str) else "/".join(cv["group"])
    if not folds:
        raise BadInputError(f"cv {cv}: no {within or 'data'} value has {min_groups} {gname} groups; "
                            f"skipped: {skipped}.")
    desc = f"leave one {gname} out" + (f" within each {within}" if within else "") + f" ({len(folds)} folds)"
    if skipped:
        desc += f"; left out (fewer than {min_groups} groups): {', '.join(skipped)}"
    _guard(folds, obj, check)
    gnames = [cv["group"]] if isinstance(cv["group"], str) else list(cv["group"])
    wnames = [] if not within else [within] if isinstance(within, str) else list(within)
    return Folds(folds, group, desc, names, wnames + gnames, group_key(obj, wnames + gnames, prep.sample_dim))


def _guard(folds, obj, check) -> None:
    for train, test in folds:
        check(train, test, obj=obj)


def permuted(y: np.ndarray, groups: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """``y`` with its values shuffled within each group (globally when ``groups`` is None)."""
    out = y.copy()
    if groups is None:
        return rng.permutation(y)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        out[idx] = y[rng.permutation(idx)]
    return out
