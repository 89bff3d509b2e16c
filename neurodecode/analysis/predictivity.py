"""Cross-validated linear predictivity with noise ceilings from trial repeats, and held-out layer assignment.

:func:`predictivity` predicts every neuroid's (trial-averaged) responses from the
features of each network layer with ridge regression (:func:`fit_encoding`) or
partial least squares (``sklearn.cross_decomposition.PLSRegression``, 25
components, unscaled -- the Brain-Score standard), scores the pooled
out-of-fold predictions on held-out stimuli (Pearson r and R² per neuroid), and
divides by a noise ceiling computed from the trial repeats
(:func:`split_half_reliability`): the split-half correlation of each neuroid's
stimulus means, averaged over random splits and Spearman-Brown corrected to the
full number of trials. No user-supplied ceiling is needed when repeats exist.

:func:`assign_layers_heldout` picks the best layer of every brain region on one
random half of the stimuli and scores that layer on the other half, repeated:
the held-out score is free of the selection bias of reporting the maximum over
layers on the same data. It takes any activation method of the registry
(``pls``, ``ridge``, ``debiased_cka``, ``procrustes``, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError, DataModelError
from .encoding import DEFAULT_ALPHAS, _align, _feature_matrix, _layers, _r2_and_r, _splits, fit_encoding

__all__ = ["split_half_reliability", "predictivity", "assign_layers_heldout", "trial_groups", "PREDICTORS"]

log = logging.getLogger(__name__)

#: regression models of :func:`predictivity`
PREDICTORS = ("pls", "ridge")


# --------------------------------------------------------------------------- responses with repeats


def trial_groups(responses: Any) -> tuple[list[np.ndarray], np.ndarray | None, xr.DataArray | None]:
    """Per-stimulus (repeat, neuroid) arrays from responses with repeats.

    Accepts (trial, neuroid) DataArrays with a ``stimulus`` coord on ``trial``,
    (stimulus, repeat, neuroid) DataArrays or arrays (NaN-padded repeats -- a repeat
    that is NaN for every neuroid -- are dropped). Returns the groups, the stimulus
    labels (None for arrays) and a template (stimulus, neuroid) DataArray carrying the
    neuroid coords (None for arrays).
    """
    if isinstance(responses, xr.DataArray) and "trial" in responses.dims:
        if "stimulus" not in responses.coords or responses["stimulus"].dims != ("trial",):
            raise DataModelError("(trial, neuroid) responses need a 'stimulus' coord on 'trial' to find the repeats.")
        r = responses.transpose("trial", "neuroid")
        x = np.asarray(r.values, dtype=np.float64)
        codes, uniq = pd.factorize(np.asarray(r["stimulus"].values), sort=False)
        groups = [x[codes == i] for i in range(len(uniq))]
        labels = np.asarray(uniq)
        neuroid_coords = {k: c for k, c in r.coords.items() if c.dims == ("neuroid",)}
    else:
        if isinstance(responses, xr.DataArray):
            rep = [d for d in responses.dims if d not in ("stimulus", "neuroid")]
            if "stimulus" not in responses.dims or "neuroid" not in responses.dims or len(rep) != 1:
                raise DataModelError(
                    f"responses with repeats must be (trial, neuroid) with a 'stimulus' coord or (stimulus, repeat, "
                    f"neuroid); got dims {tuple(responses.dims)}."
                )
            r = responses.transpose("stimulus", rep[0], "neuroid")
            arr = np.asarray(r.values, dtype=np.float64)
            labels = np.asarray(r["stimulus"].values) if "stimulus" in r.coords else None
            neuroid_coords = {k: c for k, c in r.coords.items() if c.dims == ("neuroid",)}
        else:
            arr = np.asarray(responses, dtype=np.float64)
            if arr.ndim != 3:
                raise DataModelError(f"responses with repeats must be (stimulus, repeat, neuroid); got shape {arr.shape}.")
            labels, neuroid_coords = None, None
        groups = []
        for i, g in enumerate(arr):
            empty = np.isnan(g).all(axis=1)
            g = g[~empty]
            groups.append(g)
    for i, g in enumerate(groups):
        if not np.isfinite(g).all():
            raise BadInputError(
                f"responses: stimulus {labels[i] if labels is not None else i!r} has NaN/inf in some but not all "
                "neuroids of a repeat; only whole missing repeats (NaN padding) are allowed."
            )
        if len(g) == 0:
            raise BadInputError(f"responses: stimulus {labels[i] if labels is not None else i!r} has no repeat.")
    template = None
    if neuroid_coords is not None:
        n_neuroid = groups[0].shape[1]
        coords: dict[str, Any] = dict(neuroid_coords)
        if "neuroid" not in coords:
            coords["neuroid"] = np.arange(n_neuroid)
        if labels is not None:
            coords["stimulus"] = labels
        template = xr.DataArray(np.zeros((len(groups), n_neuroid)), dims=("stimulus", "neuroid"), coords=coords)
    return groups, labels, template


def _means(groups: list[np.ndarray]) -> np.ndarray:
    return np.stack([g.mean(axis=0) for g in groups])


def _pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ac = a - a.mean(0)
    bc = b - b.mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (ac * bc).sum(0) / np.sqrt((ac**2).sum(0) * (bc**2).sum(0))


def split_half_reliability(responses: Any, *, n_splits: int = 20, seed: int | None = 0) -> xr.DataArray:
    """Spearman-Brown corrected split-half reliability of every neuroid's stimulus means.

    Each split divides every stimulus' repeats at random into two halves (sizes
    ``r // 2`` and ``r - r // 2``); the Pearson correlation across stimuli of the two
    halves' means is averaged over ``n_splits`` splits and corrected to the full
    number of repeats, ``2 r / (1 + r)``. Stimuli with a single repeat are left out.

    Parameters
    ----------
    responses : xarray.DataArray or numpy.ndarray
        (trial, neuroid) with a ``stimulus`` coord on ``trial``, or (stimulus,
        repeat, neuroid) (NaN-padded missing repeats allowed).
    n_splits : int
        Random splits averaged.
    seed : int or None
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    xarray.DataArray
        (neuroid,) reliabilities (the explainable fraction of the variance of the
        trial-averaged responses; may be <= 0 for unreliable neuroids), neuroid coords
        of the input; attrs ``n_splits``, ``n_stimuli`` (used), ``split_half_r`` is
        the uncorrected mean correlation per neuroid (a coord).
    """
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 1:
        raise BadInputError(f"split_half_reliability: n_splits must be a positive integer, got {n_splits!r}.")
    groups, _, template = trial_groups(responses)
    keep = [g for g in groups if len(g) >= 2]
    if len(keep) < 3:
        raise BadInputError(
            f"split_half_reliability: needs at least 3 stimuli with 2 or more repeats; got {len(keep)}. Without "
            "repeats pass a ceiling yourself (reliability=...)."
        )
    rng = np.random.default_rng(seed)
    rs = []
    for _ in range(int(n_splits)):
        a, b = [], []
        for g in keep:
            perm = rng.permutation(len(g))
            h = len(g) // 2
            a.append(g[perm[:h]].mean(0))
            b.append(g[perm[h:]].mean(0))
        rs.append(_pearson_columns(np.stack(a), np.stack(b)))
    r = np.nanmean(np.stack(rs), axis=0) if np.isfinite(np.stack(rs)).any() else np.full(keep[0].shape[1], np.nan)
    rel = 2.0 * r / (1.0 + r)
    if template is not None:
        out = xr.DataArray(rel, dims=("neuroid",), coords={k: c for k, c in template.coords.items() if c.dims == ("neuroid",)})
    else:
        out = xr.DataArray(rel, dims=("neuroid",))
    out = out.assign_coords(split_half_r=("neuroid", r))
    out.name = "reliability"
    out.attrs.update({"n_splits": int(n_splits), "n_stimuli": len(keep), "correction": "Spearman-Brown (2r / (1 + r))"})
    return out


# --------------------------------------------------------------------------- predictivity


def _centred_gram(x: np.ndarray) -> np.ndarray:
    """Gram matrix (n, n) of the rows of ``x`` after subtracting the column means (the one O(n^2 p) step)."""
    x0 = x - x.mean(axis=0)
    return x0 @ x0.T


def _pls_kernel(k_tr: np.ndarray, k_te: np.ndarray, y: np.ndarray, n_components: int, *,
                max_iter: int = 500, tol: float = 1e-6) -> np.ndarray:
    """Predictions of PLS regression (``PLSRegression(n_components, scale=False)``) in the stimulus space.

    ``k_tr`` (n, n): Gram matrix of the training rows centred by their mean; ``k_te`` (m, n):
    test rows x training rows, both centred by the training mean; ``y`` (n, q) training targets.
    Runs sklearn's NIPALS algorithm -- the same power iterations, stopping rule
    (``||w - w_old||^2 < tol``), deflations and rotations -- with every feature-space vector
    written as ``X' a`` (``a`` in the n-dim stimulus space): weights ``w = X_k' a``, scores
    ``t = K_k a``, ``||w||^2 = a' K_k a``, deflation ``K <- P K P`` with ``P = I - t t' / t't``.
    The features enter only through the Gram matrices, so a fold costs O(n^2 q) per iteration
    instead of O(n p); the predictions equal sklearn's to rounding (Rännar et al. 1994,
    "A PLS kernel algorithm for data sets with many variables and fewer objects").
    """
    import warnings

    from ._pls_numba import power_iteration

    eps = np.finfo(np.float64).eps
    y_mean = y.mean(axis=0)
    yk = y - y_mean
    kk = k_tr.copy()
    q = yk.shape[1]
    a_cols, t_cols, q_cols, tt_cols = [], [], [], []
    for _ in range(int(n_components)):
        yk[:, np.all(np.abs(yk) < 10 * eps, axis=0)] = 0.0
        nonzero = np.flatnonzero(np.any(np.abs(yk) > eps, axis=0))
        if nonzero.size == 0:
            warnings.warn(f"y residual is constant at iteration {len(t_cols)}", stacklevel=3)
            break
        u = yk[:, nonzero[0]].copy()
        g = yk @ yk.T  # y-side products in the stimulus space: Y Y' t = Y (Y' t)
        a, t, _ = power_iteration(kk, g, u, int(max_iter), float(tol), q == 1)
        tt = t @ t
        # w_k = X_k' a = X' P_k a: the weight as a combination of the centred training rows
        a_full = a - (np.stack(t_cols, axis=1) @ (np.stack(t_cols).dot(a) / np.asarray(tt_cols))
                      if t_cols else 0.0)
        q_k = yk.T @ t / tt
        yk -= np.outer(t, q_k)
        kt = kk @ t
        kk = kk - np.outer(t, kt) / tt - np.outer(kt, t) / tt + np.outer(t, t) * ((t @ kt) / tt**2)
        a_cols.append(a_full)
        t_cols.append(t)
        tt_cols.append(tt)
        q_cols.append(q_k)
    if not t_cols:
        return np.broadcast_to(y_mean, (k_te.shape[0], q)).copy()
    from scipy.linalg import pinv

    a_mat, t_mat, q_mat = np.stack(a_cols, 1), np.stack(t_cols, 1), np.stack(q_cols, 1)
    pw = (t_mat.T @ (k_tr @ a_mat)) / (t_mat * t_mat).sum(0)[:, None]  # x_loadings' x_weights
    return k_te @ (a_mat @ (pinv(pw, check_finite=False) @ q_mat.T)) + y_mean


def _pls_oof(x: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], n_components: int,
             gram: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold PLS predictions (sklearn ``PLSRegression(scale=False)`` per fold) from one Gram matrix of ``x``."""
    k = _centred_gram(x) if gram is None else gram
    pred = np.empty_like(y)
    with _one_blas_thread():
        _pls_folds(k, y, folds, n_components, x.shape[1], pred)
    return pred


def _one_blas_thread():
    """BLAS on one thread for the many (n, n) products of the PLS iterations (10x faster on a busy machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def _pls_folds(k: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], n_components: int,
               n_features: int, pred: np.ndarray) -> None:
    """Fill ``pred`` with the out-of-fold PLS predictions from the centred Gram matrix ``k`` of all stimuli."""
    for tr, te in folds:
        k_trtr = k[np.ix_(tr, tr)]
        r = k_trtr.mean(axis=0)
        s = r.mean()
        k_tetr = k[np.ix_(te, tr)]
        k_tr = k_trtr - r[:, None] - r[None, :] + s  # centred by the training mean
        k_te = k_tetr - k_tetr.mean(axis=1)[:, None] - r[None, :] + s
        nc = max(1, min(int(n_components), len(tr) - 1, n_features))
        pred[te] = _pls_kernel(k_tr, k_te, y[tr], nc)


def _as_stimulus_responses(responses: Any) -> tuple[xr.DataArray, xr.DataArray | None]:
    """(stimulus, neuroid) trial-averaged responses and, when there are repeats, the repeats' reliability input."""
    if isinstance(responses, xr.DataArray) and set(responses.dims) == {"stimulus", "neuroid"}:
        return responses.transpose("stimulus", "neuroid"), None
    if isinstance(responses, np.ndarray) and responses.ndim == 2:
        return xr.DataArray(responses, dims=("stimulus", "neuroid")), None
    groups, labels, template = trial_groups(responses)
    means = _means(groups)
    if template is None:
        da = xr.DataArray(means, dims=("stimulus", "neuroid"))
    else:
        da = template.copy(data=means)
    return da, responses


def predictivity(
    features: Any,
    responses: Any,
    *,
    model: str = "pls",
    n_components: int = 25,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    cv: Any = 5,
    seed: int | None = 0,
    reliability: Any = "auto",
    n_splits: int = 20,
) -> xr.Dataset:
    """Held-out linear predictivity of every neuroid from each layer, normalised by a noise ceiling.

    Parameters
    ----------
    features : xarray.DataArray, xarray.Dataset or mapping
        One layer (``stimulus``, feature...) or an ``activations`` Dataset / dict of
        layers (as :func:`fit_encoding`).
    responses : xarray.DataArray or numpy.ndarray
        (stimulus, neuroid) trial-averaged responses, or responses with repeats:
        (trial, neuroid) with a ``stimulus`` coord, or (stimulus, repeat, neuroid)
        (NaN-padded repeats allowed). With repeats the models are fitted to the
        stimulus means and the ceiling comes from the repeats.
    model : {"pls", "ridge"}
        ``"pls"``: ``PLSRegression(n_components, scale=False)`` (components capped at
        the training stimuli - 1 and the features); ``"ridge"``: :func:`fit_encoding`
        (per-neuroid penalty from ``alphas`` by leave-one-out, standardised features).
    n_components : int
        PLS components (Brain-Score uses 25).
    alphas : sequence of float
        Ridge penalties.
    cv : int or sklearn splitter
        Folds over stimuli (``KFold(shuffle=True, random_state=seed)`` for an int);
        the same folds for every layer and both models.
    seed : int or None
        Seed of the folds and of the reliability splits.
    reliability : "auto", None, float, array-like or xarray.DataArray
        ``"auto"``: :func:`split_half_reliability` of the repeats (None when there are
        none); or a ceiling per neuroid / one number on the R² scale (explainable
        variance fraction); None: no normalisation.
    n_splits : int
        Splits of the split-half reliability.

    Returns
    -------
    xarray.Dataset
        On (``layer``, ``neuroid``) (``layer`` only for several layers): ``r`` and
        ``r2`` (pooled out-of-fold Pearson r and R²), ``r_normalised`` (``r /
        sqrt(reliability)``: the correlation ceiling of a response measured with that
        reliability) and ``r2_normalised`` (``r2 / reliability``); ``reliability`` on
        ``neuroid``; ``score`` (layer): median over neuroids of ``r_normalised`` (of
        ``r`` without a ceiling). NaN where the reliability is <= 0. Attrs ``model``,
        ``n_components`` (PLS), ``n_splits_cv``, ``ceiling``.

    Notes
    -----
    Brain-Score divides r by the Spearman-Brown corrected split-half consistency
    itself; the ``sqrt`` here is the ceiling of a correlation with noisy data
    (``r_max = sqrt(reliability)``), which matches ``r2 / reliability``.
    """
    if model not in PREDICTORS:
        raise BadInputError(f"predictivity: model must be one of {PREDICTORS}, got {model!r}.")
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise BadInputError(f"predictivity: n_components must be a positive integer, got {n_components!r}.")
    resp, with_repeats = _as_stimulus_responses(responses)
    y = np.asarray(resp.values, dtype=np.float64)
    if not np.isfinite(y).all():
        raise BadInputError("predictivity: the (trial-averaged) responses hold NaN/inf.")
    if isinstance(reliability, str):
        if reliability != "auto":
            raise BadInputError(f"predictivity: reliability must be 'auto', None, a number or an array; got {reliability!r}.")
        rel = split_half_reliability(with_repeats, n_splits=n_splits, seed=seed) if with_repeats is not None else None
        ceiling_kind = "split-half (Spearman-Brown) from repeats" if rel is not None else "none"
    elif reliability is None:
        rel, ceiling_kind = None, "none"
    else:
        arr = np.broadcast_to(np.asarray(reliability.values if isinstance(reliability, xr.DataArray) else reliability,
                                         dtype=np.float64), (y.shape[1],))
        rel, ceiling_kind = xr.DataArray(arr.copy(), dims=("neuroid",)), "given"
    n = y.shape[0]
    if model == "ridge":
        res = fit_encoding(features, resp, alphas=alphas, cv=cv, seed=seed)
        res = res.drop_vars([v for v in ("alpha",) if v in res])
    else:
        folds = _splits(cv, None, n, seed)
        layers = _layers(features)
        r2s, rs, n_feats = [], [], []
        for name, da in layers:
            label = name if name is not None else str(da.name if da.name is not None else "features")
            x = _align(_feature_matrix(da, label), resp, "stimulus", label)
            if not np.isfinite(x).all():
                raise BadInputError(f"predictivity: the features of layer {label!r} hold NaN/inf.")
            r2, r = _r2_and_r(y, _pls_oof(x, y, folds, n_components))
            r2s.append(r2)
            rs.append(r)
            n_feats.append(x.shape[1])
        coords: dict[str, Any] = {k: c for k, c in resp.coords.items() if c.dims == ("neuroid",) or k == "neuroid"}
        multi = not (len(layers) == 1 and layers[0][0] is None)
        if multi:
            coords["layer"] = [nm for nm, _ in layers]
            coords["n_features"] = ("layer", np.asarray(n_feats))
            res = xr.Dataset({"r2": (("layer", "neuroid"), np.stack(r2s)), "r": (("layer", "neuroid"), np.stack(rs))},
                             coords=coords)
        else:
            coords["n_features"] = n_feats[0]
            res = xr.Dataset({"r2": (("neuroid",), r2s[0]), "r": (("neuroid",), rs[0])}, coords=coords)
        res.attrs.update({"n_splits": len(folds), "n_obs": n})
    if rel is not None:
        relv = np.asarray(rel.values, dtype=np.float64)
        ok = np.isfinite(relv) & (relv > 0)
        safe = np.where(ok, relv, np.nan)
        res["reliability"] = (("neuroid",), relv)
        res["r_normalised"] = res["r"] / xr.DataArray(np.sqrt(safe), dims=("neuroid",))
        res["r2_normalised"] = res["r2"] / xr.DataArray(safe, dims=("neuroid",))
        if (~ok).any():
            log.warning("predictivity: %d neuroid(s) have a reliability <= 0 or NaN; their normalised scores are NaN",
                        int((~ok).sum()))
        base = res["r_normalised"]
    else:
        base = res["r"]
    with np.errstate(all="ignore"):
        res["score"] = base.median("neuroid", skipna=True)
    res.attrs.update({"model": model, "ceiling": ceiling_kind, "n_splits_cv": int(res.attrs.get("n_splits", 0)),
                      "score": "median over neuroids of " + ("r / sqrt(reliability)" if rel is not None else "r")})
    if model == "pls":
        res.attrs["n_components"] = int(n_components)
    return res


def median_r(x: np.ndarray, y: np.ndarray, *, model: str = "pls", n_components: int = 25,
             alphas: Sequence[float] = DEFAULT_ALPHAS, cv: int = 5, seed: int | None = 0) -> float:
    """Median over the columns of ``y`` of the held-out Pearson r of their prediction from ``x`` (registry kernel)."""
    n = x.shape[0]
    folds = _splits(min(int(cv), n), None, n, seed)
    if model == "pls":
        pred = _pls_oof(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), folds, n_components)
        _, r = _r2_and_r(np.asarray(y, dtype=np.float64), pred)
    else:
        res = fit_encoding(xr.DataArray(x, dims=("stimulus", "feature")),
                           xr.DataArray(y, dims=("stimulus", "neuroid")), alphas=alphas, cv=min(int(cv), n), seed=seed)
        r = np.asarray(res["r"].values)
    return float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan")


# --------------------------------------------------------------------------- held-out layer assignment


def assign_layers_heldout(
    features: Any,
    responses: Any,
    *,
    method: str = "pls",
    region: str = "region",
    n_repeats: int = 10,
    seed: int | None = 0,
    **options: Any,
) -> xr.Dataset:
    """Best layer of every region chosen on one half of the stimuli and scored on the other, repeated.

    Parameters
    ----------
    features : xarray.Dataset or mapping
        ``activations`` (every layer a (``stimulus``, feature...) array).
    responses : xarray.DataArray
        (stimulus, neuroid) responses, or (trial, neuroid) with a ``stimulus`` coord /
        (stimulus, repeat, neuroid) (averaged per stimulus), with the region of each
        neuroid in the ``region`` coord (all neuroids form region ``"all"`` without it).
        Matched to the features by stimulus label when both have labels.
    method : str
        Any activation method of :data:`neurodecode.analysis.METHODS` (``"pls"``,
        ``"ridge"``, ``"debiased_cka"``, ``"procrustes"``, ...). Similarities are
        maximised, distances minimised. For ``pls``/``ridge`` the score of a half is the
        median held-out r of a cross-validation inside that half.
    region : str
        Coord on ``neuroid`` naming each neuroid's region.
    n_repeats : int
        Random half splits of the stimuli.
    seed : int or None
        Seed of the splits.
    **options
        Options of the method (e.g. ``n_components=10``, ``alpha=0.5``).

    Returns
    -------
    xarray.Dataset
        ``score_select`` and ``score_heldout`` (repeat, region, layer): every layer's
        score on the selection half and on the held-out half; ``chosen_layer``
        (repeat, region): the layer chosen on the selection half; ``heldout_score``
        (repeat, region): the held-out score of the chosen layer; ``best_layer``
        (region): the layer chosen most often (ties: the earlier layer);
        ``heldout_mean``, ``heldout_sd`` (region) over repeats; ``selection_bias``
        (region): mean of (selection-half score of the chosen layer - its held-out
        score). Attrs ``method``, ``kind``, ``n_repeats``, ``seed``.
    """
    from ._methods import get_method
    from .layers import _heldout_splits
    from .similarity import similarity

    spec = get_method(method, compares="activations", what="assign_layers_heldout")
    if spec.inputs != "features":
        raise BadInputError(f"assign_layers_heldout: method {spec.name!r} compares samples, not (stimulus, feature) data.")
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise BadInputError(f"assign_layers_heldout: n_repeats must be a positive integer, got {n_repeats!r}.")
    if not isinstance(features, (xr.Dataset, dict)):
        raise DataModelError("assign_layers_heldout: features must be an activations Dataset (or dict) of layers.")
    ds = features if isinstance(features, xr.Dataset) else xr.Dataset(
        {k: (v if isinstance(v, xr.DataArray) else xr.DataArray(np.asarray(v), dims=("stimulus", f"feature_{k}")))
         for k, v in features.items()})
    resp, _ = _as_stimulus_responses(responses)
    n = ds.sizes["stimulus"]
    if "stimulus" in ds.coords and "stimulus" in resp.coords:
        pos = pd.Index(np.asarray(resp["stimulus"].values)).get_indexer(np.asarray(ds["stimulus"].values))
        if (pos < 0).any() or resp.sizes["stimulus"] != n:
            raise DataModelError(
                "assign_layers_heldout: the features and responses cover different stimuli; select the shared ones first."
            )
        resp = resp.isel(stimulus=pos)
    elif resp.sizes["stimulus"] != n:
        raise DataModelError(f"assign_layers_heldout: {n} feature rows but {resp.sizes['stimulus']} response rows.")
    resp = resp.drop_vars("stimulus", errors="ignore")
    ds = ds.drop_vars("stimulus", errors="ignore")
    if region in resp.coords and resp[region].dims == ("neuroid",):
        regions = np.asarray(resp[region].values)
    else:
        regions = np.full(resp.sizes["neuroid"], "all", dtype=object)
    region_names = list(pd.unique(regions))
    layers = [str(k) for k in ds.data_vars]
    y_all = np.asarray(resp.values)
    col_sets = [np.flatnonzero(regions == reg) for reg in region_names]

    def scores(halves: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        out = np.empty((len(halves), 2, len(layers), len(region_names)))
        for k, half in enumerate(halves):
            for h, rows in enumerate(half):
                for g, cols in enumerate(col_sets):
                    out[k, h, :, g] = similarity(ds.isel(stimulus=rows), y_all[np.ix_(rows, cols)], spec.name,
                                                 **options).values
        return out

    split = _heldout_splits(scores, n, int(n_repeats), seed, [np.arange(len(layers))], spec.kind)
    sel_scores = split.select.transpose(0, 2, 1)  # (repeat, region, layer)
    held_scores = split.held.transpose(0, 2, 1)
    chosen, heldout, selected = split.chosen[:, 0], split.heldout[:, 0], split.selected[:, 0]  # (repeat, region)
    counts = np.stack([(chosen == i).sum(0) for i in range(len(layers))], axis=-1)  # (region, layer)
    best = counts.argmax(axis=1)
    out = xr.Dataset(
        {
            "score_select": (("repeat", "region", "layer"), sel_scores),
            "score_heldout": (("repeat", "region", "layer"), held_scores),
            "chosen_layer": (("repeat", "region"), np.asarray(layers, dtype=object)[chosen]),
            "heldout_score": (("repeat", "region"), heldout),
            "best_layer": (("region",), np.asarray(layers, dtype=object)[best]),
            "times_chosen": (("region", "layer"), counts),
            "heldout_mean": (("region",), heldout.mean(0)),
            "heldout_sd": (("region",), heldout.std(0, ddof=1) if n_repeats > 1 else np.full(len(region_names), np.nan)),
            "selection_bias": (("region",), (selected - heldout).mean(0) * (1 if spec.kind == "similarity" else -1)),
        },
        coords={"repeat": np.arange(int(n_repeats)), "region": region_names, "layer": layers},
    )
    out.attrs.update({"method": spec.name, "kind": spec.kind, "n_repeats": int(n_repeats),
                      "seed": "none" if seed is None else str(seed), "n_stimuli": int(n)})
    return out
