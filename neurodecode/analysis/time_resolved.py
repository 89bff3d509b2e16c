"""Time-resolved RSA on epochs: one RDM per time point, compared with model RDMs over time.

::

    from neurodecode import analysis
    from neurodecode.decoding import cluster_test

    ep = analysis.assign_splits(epochs, 2, label="label", within="subject", name="fold")
    ep = analysis.pseudo_conditions(ep, 4, label="label", within=["subject", "fold"])   # face/0 .. house/3
    model = analysis.category_rdm(ep, condition="condition", label="label")    # 0 within, 1 between labels
    rsa = analysis.time_resolved_rsa(ep, model, condition="condition", method="crossnobis", runs="fold",
                                     by="subject")                               # (subject, model, time)
    clusters = cluster_test(rsa.sel(model="category").values, rsa["time"].values)

The RDMs come from :func:`neurodecode.analysis.rdm` (all time points of a group in one batched
call; any of its methods, ``crossnobis`` cross-validated over a run/fold coord) and the comparison
from :func:`neurodecode.analysis.compare` (any RDM comparison method of the registry): this module
only arranges epochs into per-time-point pattern stacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError

__all__ = ["time_resolved_rsa", "category_rdm", "assign_splits", "pseudo_conditions"]


def _epochs(epochs: Any, what: str) -> xr.DataArray:
    if not isinstance(epochs, xr.DataArray) or set(epochs.dims) != {"trial", "channel", "time"}:
        dims = list(epochs.dims) if isinstance(epochs, xr.DataArray) else type(epochs).__name__
        raise BadInputError(f"{what}: expected epochs, a DataArray with dims (trial, channel, time); got {dims}.")
    if epochs.sizes["trial"] < 2 or epochs.sizes["channel"] < 1 or epochs.sizes["time"] < 1:
        raise BadInputError(f"{what}: the epochs are empty along a dim ({dict(epochs.sizes)}).")
    return epochs.transpose("trial", "channel", "time")


def _trial_coord(epochs: xr.DataArray, name: str, what: str) -> np.ndarray:
    if name not in epochs.coords or epochs[name].dims != ("trial",):
        have = sorted(str(c) for c in epochs.coords if epochs[c].dims == ("trial",))
        raise BadInputError(f"{what}: no coord {name!r} on 'trial'; trial coords: {have}.")
    values = np.asarray(epochs[name].values)
    if pd.isna(values).any():
        raise BadInputError(f"{what}: coord {name!r} has missing values; drop those trials first.")
    return np.asarray([str(v) for v in values.tolist()], dtype=object)


def assign_splits(
    epochs: xr.DataArray,
    n_splits: int,
    *,
    label: str = "label",
    within: str | Sequence[str] | None = None,
    name: str = "split",
    seed: int = 0,
) -> xr.DataArray:
    """Deal the trials of every label (within every group) into ``n_splits`` balanced splits.

    The trials of each (``within`` group, ``label``) cell are shuffled (seeded) and dealt in turn
    to splits ``0 .. n_splits - 1``, so each split holds every label of every group in nearly equal
    numbers. Use it for cross-validation folds (the runs of ``crossnobis``) when the recording has
    too few runs, and for pseudo-exemplars: conditions ``label/split`` when single trials carry no
    stimulus identity.

    Parameters
    ----------
    epochs : DataArray (trial, ...)
    n_splits : int
        At least 2; every cell needs at least ``n_splits`` trials.
    label : str
        Coord on ``trial`` whose values are dealt separately.
    within : str or list of str, optional
        Coords on ``trial`` defining independent groups (e.g. ``subject``; ``[subject, fold]``).
    name : str
        Name of the new coord on ``trial`` (int split index).
    seed : int

    Returns
    -------
    DataArray
        ``epochs`` with the coord ``name`` added.
    """
    what = "assign_splits"
    if not isinstance(epochs, xr.DataArray) or "trial" not in epochs.dims:
        raise BadInputError(f"{what}: expected a DataArray with a 'trial' dim.")
    if int(n_splits) != n_splits or n_splits < 2:
        raise BadInputError(f"{what}: n_splits must be an integer >= 2, got {n_splits!r}.")
    keys = [label] + ([within] if isinstance(within, str) else list(within or []))
    if name in keys:
        raise BadInputError(f"{what}: the new coord name {name!r} is also a grouping coord; choose another name.")
    table = pd.DataFrame({k: _trial_coord(epochs, k, what) for k in keys})
    rng = np.random.default_rng(seed)
    split = np.empty(len(table), dtype=np.int64)
    for cell, idx in table.groupby(keys, sort=True).indices.items():
        if idx.size < n_splits:
            raise BadInputError(f"{what}: {dict(zip(keys, np.atleast_1d(cell)))} has {idx.size} trial(s), fewer "
                                f"than n_splits={n_splits}; use fewer splits or drop that group.")
        split[rng.permutation(idx)] = np.arange(idx.size) % n_splits
    return epochs.assign_coords({name: ("trial", split)})


def pseudo_conditions(
    epochs: xr.DataArray,
    n_per_label: int,
    *,
    label: str = "label",
    within: str | Sequence[str] | None = None,
    name: str = "condition",
    seed: int = 0,
) -> xr.DataArray:
    """Pseudo-exemplar conditions ``<label>/<k>``: the trials of each label dealt into ``n_per_label`` sets.

    For recordings whose trials carry only a category (no stimulus identity): the RDM over the
    ``2 x n_per_label`` pseudo-exemplars has within-category entries (same label, different trials)
    and between-category entries, which a categorical model RDM (:func:`category_rdm`) predicts.
    Dealing is done by :func:`assign_splits` (separately within every ``within`` group, e.g.
    subject and cross-validation fold, so every condition occurs in every fold).

    Returns
    -------
    DataArray
        ``epochs`` with a string coord ``name`` on ``trial``.
    """
    tmp = "_pseudo_split"
    ep = assign_splits(epochs, n_per_label, label=label, within=within, name=tmp, seed=seed)
    lab = _trial_coord(ep, label, "pseudo_conditions")
    cond = np.asarray([f"{a}/{b}" for a, b in zip(lab.tolist(), ep[tmp].values.tolist())], dtype=object)
    return ep.drop_vars(tmp).assign_coords({name: ("trial", cond)})


def category_rdm(epochs: xr.DataArray, *, condition: str = "stimulus", label: str = "label",
                 name: str = "category") -> xr.DataArray:
    """The categorical model RDM of the conditions: 0 between conditions of the same ``label``, 1 otherwise.

    Parameters
    ----------
    epochs : DataArray (trial, ...)
        With coords ``condition`` and ``label`` on ``trial``; each condition must have one label.
    condition, label : str
        Coord names.
    name : str
        The model's name (the ``rdm`` coord).

    Returns
    -------
    DataArray (rdm, stimulus, stimulus_)
        One RDM over the conditions (order of first appearance, as :func:`~neurodecode.analysis.rdm`).
    """
    what = "category_rdm"
    if not isinstance(epochs, xr.DataArray) or "trial" not in epochs.dims:
        raise BadInputError(f"{what}: expected a DataArray with a 'trial' dim.")
    cond = _trial_coord(epochs, condition, what)
    lab = _trial_coord(epochs, label, what)
    pairs = pd.DataFrame({"c": cond, "l": lab}).drop_duplicates()
    if pairs["c"].duplicated().any():
        bad = pairs.loc[pairs["c"].duplicated(keep=False), "c"].iloc[0]
        raise BadInputError(f"{what}: condition {bad!r} has trials of several {label!r} values; a condition "
                            "must belong to one category.")
    if len(pairs) < 3 or pairs["l"].nunique() < 2:
        raise BadInputError(f"{what}: needs at least 3 conditions in at least 2 categories; got {len(pairs)} "
                            f"condition(s) in {pairs['l'].nunique()} categor(ies).")
    labels = pairs["l"].to_numpy()
    mat = (labels[:, None] != labels[None, :]).astype(np.float64)
    ids = pairs["c"].to_numpy()
    return xr.DataArray(mat[None], dims=("rdm", "stimulus", "stimulus_"),
                        coords={"rdm": [name], "stimulus": ids, "stimulus_": ids,
                                "category": ("stimulus", labels)},
                        name="rdm", attrs={"nd_kind": "rdm", "method": "model"})


def _precision(x: np.ndarray, cond: np.ndarray, runs: np.ndarray | None, method: str) -> np.ndarray:
    """Noise precision over channels from the residuals around each (run, condition) mean, pooled over time."""
    from .noise import prec_from_residuals

    cells = pd.Series(list(zip(runs if runs is not None else np.zeros(len(cond)), cond))).factorize()[0]
    n_cells = int(cells.max()) + 1
    resid = x.copy()  # (trial, channel, time)
    # a loop over cells, each step vectorised over the cell's trials, channels and time points: measured as fast
    # as or faster than np.add.at (3-4x slower), pandas groupby().transform("mean") (2-5x slower, means differ in
    # the last bit) and a one-hot matrix product (up to 4x slower at 400 cells) for 586-2000 trials
    for c in range(n_cells):
        idx = cells == c
        resid[idx] -= resid[idx].mean(axis=0, keepdims=True)
    flat = resid.transpose(0, 2, 1).reshape(-1, x.shape[1])  # (trial * time, channel)
    dof = (x.shape[0] - n_cells) * x.shape[2]
    return np.asarray(prec_from_residuals(flat, dof=dof, method=method), dtype=np.float64)


def time_resolved_rsa(
    epochs: xr.DataArray,
    model_rdms: xr.DataArray,
    *,
    condition: str = "stimulus",
    method: str = "correlation",
    runs: str | None = None,
    noise: Any = None,
    compare_method: str = "spearman",
    by: str | None = None,
    return_rdms: bool = False,
) -> xr.DataArray | tuple[xr.DataArray, xr.DataArray]:
    """Compare the RDM of every time point with model RDMs, per group (subject) of trials.

    For each group (value of ``by``) and time point, the channel patterns of the trials give an
    RDM over the conditions (:func:`neurodecode.analysis.rdm`: trials of a condition averaged, or,
    for ``crossnobis``, cross-validated over the ``runs`` coord); every RDM is compared with every
    model RDM (:func:`neurodecode.analysis.compare`).

    Parameters
    ----------
    epochs : DataArray (trial, channel, time)
    model_rdms : DataArray (rdm, stimulus, stimulus_)
        Model RDMs over the conditions (any order; e.g. :func:`category_rdm`); ``rdm`` names the models.
    condition : str
        Coord on ``trial`` naming each trial's condition (stimulus, or a pseudo-exemplar).
    method : str
        RDM method (:data:`neurodecode.analysis.RDM_METHODS`).
    runs : str, optional
        ``crossnobis`` only: the coord on ``trial`` to cross-validate over (run, session, or folds
        from :func:`assign_splits`); every condition must occur in every run of every group.
    noise : None, array or str, optional
        ``mahalanobis``/``crossnobis`` noise precision: None (identity), a (channel, channel) matrix,
        or an estimator name of :mod:`neurodecode.analysis.noise` (e.g. ``"shrinkage_diag"``): the
        precision of each group estimated from the residuals of its trials around their (run,
        condition) means, pooled over time points.
    compare_method : str
        RDM comparison method (:func:`neurodecode.analysis.compare`).
    by : str, optional
        Coord on ``trial`` splitting the trials into independent groups (``subject``): one time
        course each, the observations of a cluster test. Default: one group, ``all``.
    return_rdms : bool
        Also return the RDMs, dims (group, time, stimulus, stimulus_).

    Returns
    -------
    DataArray
        ``rsa`` with dims (``by`` or ``group``, ``model``, ``time``); attrs ``method``,
        ``compare_method``, ``n_conditions``, ``runs``.
    """
    from .compare import compare
    from .rdm import rdm

    what = "time_resolved_rsa"
    ep = _epochs(epochs, what)
    values = np.asarray(ep.values)
    if values.dtype.kind not in "fiu" or not np.isfinite(values).all():
        raise BadInputError(f"{what}: the epochs hold NaN, inf or non-numeric values; clean them first.")
    cond = _trial_coord(ep, condition, what)
    if method == "crossnobis" and runs is None:
        raise BadInputError(f"{what}: method='crossnobis' needs runs= (a coord on 'trial' to cross-validate "
                            "over, e.g. 'run', or folds from assign_splits).")
    run_values = _trial_coord(ep, runs, what) if runs is not None else None
    if not isinstance(model_rdms, xr.DataArray) or set(model_rdms.dims) != {"rdm", "stimulus", "stimulus_"}:
        raise BadInputError(f"{what}: model_rdms must be an RDM stack (rdm, stimulus, stimulus_), e.g. from "
                            "category_rdm.")
    model_rdms = model_rdms.transpose("rdm", "stimulus", "stimulus_")
    model_ids = np.asarray([str(v) for v in model_rdms["stimulus"].values.tolist()], dtype=object)
    missing = sorted(set(cond) - set(model_ids))
    if missing:
        raise BadInputError(f"{what}: conditions {missing[:5]} of the epochs are not in the model RDMs "
                            f"(which hold {list(model_ids[:5])}...).")
    groups = _trial_coord(ep, by, what) if by is not None else np.full(ep.sizes["trial"], "all", dtype=object)
    group_names = list(dict.fromkeys(groups.tolist()))
    times = np.asarray(ep["time"].values, dtype=float)
    noise_method = noise if isinstance(noise, str) else None
    if noise_method is not None and method not in ("mahalanobis", "crossnobis"):
        raise BadInputError(f"{what}: noise is only used by 'mahalanobis' and 'crossnobis', not {method!r}.")

    scores, stacks, n_cond = [], [], None
    first: set[str] | None = None
    for g in group_names:
        idx = np.flatnonzero(groups == g)
        x = values[idx].astype(np.float64)
        c, r = cond[idx], (run_values[idx] if run_values is not None else None)
        conditions = set(c.tolist())
        if first is not None and conditions != first:
            diff = sorted(conditions ^ first)[:5]
            raise BadInputError(f"{what}: {by} {g!r} and {by} {group_names[0]!r} have different conditions "
                                f"(e.g. {diff}); every group needs the same conditions.")
        first = conditions
        n_cond = len(conditions)
        stack = xr.DataArray(x.transpose(2, 0, 1), dims=("time", "trial", "channel"),
                             coords={"time": times, "stimulus": ("trial", c)})
        prec = _precision(x, c, r, noise_method) if noise_method is not None else noise
        try:
            rd = rdm(stack, method, runs=r, noise=prec)
        except BadInputError as err:
            raise BadInputError(f"{what}: group {g!r}: {err}") from err
        order = [str(s) for s in rd["stimulus"].values.tolist()]
        models = model_rdms.sel(stimulus=order, stimulus_=order)
        sim = compare(models, rd, compare_method)
        scores.append(np.asarray(sim.values, dtype=np.float64))  # (model, time)
        if return_rdms:
            if stacks and [str(s) for s in stacks[0]["stimulus"].values.tolist()] != order:
                rd = rd.sel(stimulus=stacks[0]["stimulus"].values, stimulus_=stacks[0]["stimulus"].values)
            stacks.append(xr.DataArray(np.asarray(rd.values), dims=("time", "stimulus", "stimulus_"),
                                       coords={"time": times, "stimulus": rd["stimulus"].values,
                                               "stimulus_": rd["stimulus_"].values}))
    gdim = by or "group"
    out = xr.DataArray(np.stack(scores), dims=(gdim, "model", "time"),
                       coords={gdim: group_names, "model": [str(m) for m in model_rdms["rdm"].values.tolist()],
                               "time": times}, name="rsa")
    out.attrs.update(method=method, compare_method=compare_method, n_conditions=int(n_cond or 0),
                     runs=str(runs) if runs else "")
    if not return_rdms:
        return out
    rdms = xr.concat(stacks, dim=gdim).assign_coords({gdim: group_names}).rename("rdm")
    rdms.attrs.update(nd_kind="rdm", method=method)
    return out, rdms
