"""Encoding models: cross-validated ridge regression from network-layer features to neuroids.

:func:`fit_encoding` predicts every neuroid (voxel, unit, channel) of a
``responses`` DataArray from the features of a network layer (a variable of an
``activations`` Dataset, dims (``stimulus``, feature)), with the ridge penalty
chosen per neuroid by efficient leave-one-out inside each training fold, and
scores the predictions on held-out stimuli (R² and Pearson r of the pooled
out-of-fold predictions). Given a whole ``activations`` Dataset it fits every
layer. :func:`normalise_by_ceiling` divides scores by a noise ceiling and
:func:`assign_layers` reports the best layer of every brain region.

Two backends give the same numbers: ``"sklearn"`` (``StandardScaler`` +
``RidgeCV(alpha_per_target=True)``, ``KFold`` / ``GroupKFold``) and
``"torch"`` (one SVD per fold, closed-form leave-one-out errors for every
penalty and neuroid at once; runs on a GPU with ``device="cuda"``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..datamodel import validate
from ..errors import BadInputError, DataModelError

__all__ = ["fit_encoding", "normalise_by_ceiling", "assign_layers", "DEFAULT_ALPHAS"]

log = logging.getLogger(__name__)

#: default ridge penalties (on standardised features): 1e-2 ... 1e6
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-2, 6, 17))


# --------------------------------------------------------------------------- inputs


def _layers(features: Any) -> list[tuple[str | None, xr.DataArray]]:
    if isinstance(features, xr.Dataset):
        validate(features, "activations")
        return [(str(k), v) for k, v in features.data_vars.items()]
    if isinstance(features, Mapping) and not isinstance(features, xr.DataArray):
        if not features:
            raise BadInputError("fit_encoding: got an empty mapping of layers.")
        return [(str(k), v if isinstance(v, xr.DataArray) else xr.DataArray(np.asarray(v), dims=("stimulus", "feature")))
                for k, v in features.items()]
    if isinstance(features, xr.DataArray):
        return [(None, features)]
    arr = np.asarray(features)
    if arr.ndim != 2:
        raise DataModelError(f"fit_encoding: features must be (stimulus, feature); got an array of shape {arr.shape}.")
    return [(None, xr.DataArray(arr, dims=("stimulus", "feature")))]


def _feature_matrix(da: xr.DataArray, name: str) -> xr.DataArray:
    if "stimulus" not in da.dims:
        raise DataModelError(
            f"fit_encoding: layer {name!r} has dims {tuple(da.dims)}; it needs a 'stimulus' dim "
            "(rename with .rename({'old': 'stimulus'}))."
        )
    other = [d for d in da.dims if d != "stimulus"]
    if not other:
        raise DataModelError(f"fit_encoding: layer {name!r} has no feature dim.")
    if len(other) > 1:  # (stimulus, channel, height, width) -> (stimulus, feature)
        da = da.stack(feature=other).reset_index("feature", drop=True)
        other = ["feature"]
    return da.transpose("stimulus", other[0])


def _align(x: xr.DataArray, responses: xr.DataArray, obs_dim: str, name: str) -> np.ndarray:
    """Feature rows in the order of the response rows (by stimulus label when both have labels)."""
    n_obs = responses.sizes[obs_dim]
    if obs_dim == "trial":
        if "stimulus" not in responses.coords or responses["stimulus"].dims != ("trial",):
            raise DataModelError(
                "fit_encoding: (trial, neuroid) responses need a 'stimulus' coord on 'trial' naming the stimulus of "
                "each trial, to pick the matching feature rows."
            )
        wanted = np.asarray(responses["stimulus"].values)
    else:
        wanted = np.asarray(responses["stimulus"].values) if "stimulus" in responses.coords else None
    have = np.asarray(x["stimulus"].values) if "stimulus" in x.coords else None
    if wanted is None or have is None:
        if x.sizes["stimulus"] != n_obs:
            raise DataModelError(
                f"fit_encoding: layer {name!r} has {x.sizes['stimulus']} stimuli but the responses have {n_obs} rows, "
                "and there are no stimulus labels to match them by."
            )
        return np.asarray(x.values, dtype=np.float64)
    if len(pd.unique(have)) != len(have):
        raise DataModelError(f"fit_encoding: layer {name!r} lists some stimulus labels twice.")
    pos = pd.Index(have).get_indexer(wanted)
    if (pos < 0).any():
        missing = pd.unique(wanted[pos < 0])[:5].tolist()
        raise DataModelError(
            f"fit_encoding: {int((pos < 0).sum())} response row(s) show stimuli without features in layer {name!r} "
            f"(e.g. {missing}); compute the features for every stimulus or select the responses first."
        )
    return np.asarray(x.values, dtype=np.float64)[pos]


def _splits(cv: Any, groups: np.ndarray | None, n: int, seed: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import GroupKFold, KFold

    if hasattr(cv, "split"):
        splitter = cv
    else:
        if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
            raise BadInputError(f"fit_encoding: cv must be an integer >= 2 or an sklearn splitter, got {cv!r}.")
        if groups is not None:
            n_groups = len(pd.unique(groups))
            if n_groups < cv:
                raise BadInputError(f"fit_encoding: cv={cv} folds but only {n_groups} groups (stimuli) to hold out.")
            splitter = GroupKFold(n_splits=int(cv))
        else:
            if n < cv:
                raise BadInputError(f"fit_encoding: cv={cv} folds but only {n} stimuli.")
            splitter = KFold(n_splits=int(cv), shuffle=True, random_state=seed)
    folds = [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(np.zeros((n, 1)), groups=groups)]
    if not folds:
        raise BadInputError("fit_encoding: the cross-validation splitter produced no folds.")
    return folds


# --------------------------------------------------------------------------- backends


def _fit_fold_sklearn(xtr, ytr, xte, alphas, standardize):
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ridge = RidgeCV(alphas=np.asarray(alphas, dtype=np.float64), alpha_per_target=True)
    model = make_pipeline(StandardScaler(), ridge) if standardize else ridge
    model.fit(xtr, ytr)
    alpha = np.broadcast_to(np.asarray(ridge.alpha_, dtype=np.float64), (ytr.shape[1],))
    return model.predict(xte).reshape(xte.shape[0], -1), alpha


def _fit_fold_torch(xtr, ytr, xte, alphas, standardize, device):
    """Ridge with an unpenalised intercept; penalty per target by closed-form leave-one-out error."""
    import torch

    from .inference import _cpu_threads

    dev = torch.device("cpu" if device is None else device)
    dt = torch.float64
    with torch.no_grad(), _cpu_threads(device):
        x = torch.as_tensor(xtr, dtype=dt, device=dev)
        y = torch.as_tensor(ytr, dtype=dt, device=dev)
        xt = torch.as_tensor(xte, dtype=dt, device=dev)
        n = x.shape[0]
        mu = x.mean(0)
        x = x - mu
        xt = xt - mu
        if standardize:
            sd = torch.sqrt((x * x).mean(0))
            sd = torch.where(sd > 0, sd, torch.ones_like(sd))  # constant features stay 0 (as StandardScaler)
            x = x / sd
            xt = xt / sd
        ym = y.mean(0)
        yc = y - ym
        u, s, vh = torch.linalg.svd(x, full_matrices=False)
        keep = s > s.max() * max(x.shape) * torch.finfo(dt).eps
        u, s, vh = u[:, keep], s[keep], vh[keep]
        a = torch.as_tensor(np.asarray(alphas, dtype=np.float64), dtype=dt, device=dev)  # (A,)
        s2 = s * s
        shrink = s2[None, :] / (s2[None, :] + a[:, None])  # (A, r)
        uty = u.T @ yc  # (r, t)
        fitted = torch.einsum("ir,ar,rt->ait", u, shrink, uty)  # (A, n, t)
        h = 1.0 / n + (u * u) @ shrink.T  # (n, A): leverage incl. the intercept
        loo = (yc[None] - fitted) / (1.0 - h.T)[:, :, None]
        err = (loo * loo).sum(1)  # (A, t)
        best = torch.argmin(err, dim=0)  # first minimum, as sklearn
        coef_scale = (s[None, :] / (s2[None, :] + a[:, None]))[best]  # (t, r)
        w = coef_scale.T * uty  # (r, t)
        pred = (xt @ vh.T) @ w + ym
        return pred.cpu().numpy(), a[best].cpu().numpy()


def _r2_and_r(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    resid = ((y - pred) ** 2).sum(0)
    yc = y - y.mean(0)
    tot = (yc**2).sum(0)
    pc = pred - pred.mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(tot > 0, 1.0 - resid / tot, np.nan)
        denom = np.sqrt((pc**2).sum(0) * tot)
        r = np.where(denom > 0, (pc * yc).sum(0) / denom, np.nan)
    return r2, r


# --------------------------------------------------------------------------- public API


def fit_encoding(
    features: Any,
    responses: xr.DataArray,
    *,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    cv: Any = 5,
    groups: Any = None,
    standardize: bool = True,
    backend: str = "auto",
    device: Any = "auto",
    seed: int | None = 0,
    return_predictions: bool = False,
) -> xr.Dataset:
    """Cross-validated ridge encoding model of every neuroid from network-layer features.

    Parameters
    ----------
    features : xarray.DataArray, xarray.Dataset or mapping
        One layer's features (``stimulus``, feature) -- extra feature dims
        (channel, height, width) are flattened --, or an ``activations`` Dataset /
        a dict of such arrays (every layer is fitted; the result gets a ``layer``
        dim).
    responses : xarray.DataArray
        ``responses`` kind: (``stimulus``, ``neuroid``), or (``trial``, ``neuroid``)
        with a ``stimulus`` coord on ``trial``. Feature rows are matched to response
        rows by stimulus label when both have labels (by position otherwise).
    alphas : sequence of float
        Candidate ridge penalties; the best is chosen per neuroid and per fold by
        leave-one-out error on the training stimuli (on standardised features when
        ``standardize``).
    cv : int or sklearn splitter
        Number of folds (``KFold(shuffle=True, random_state=seed)``, or
        ``GroupKFold`` when there are groups) or any splitter with ``split`` (it
        gets ``groups``; use a group-aware one such as ``GroupKFold`` for trial
        responses, since ``KFold`` ignores groups).
    groups : array-like or str, optional
        Group of each response row, kept together in one fold (a coord name or
        values). Default for (trial, neuroid) responses: the stimulus, so that
        scores are always on held-out *stimuli*.
    standardize : bool
        z-score the features with the training fold's mean and SD.
    backend : {"auto", "sklearn", "torch"}
        ``"auto"``: torch on a GPU or when a ``device`` is named, else sklearn.
    device : str or torch.device
        Torch device for ``backend="torch"``: ``"auto"`` (the default; None the
        same) picks CUDA when it is available, else the CPU.
    seed : int or None
        Shuffling seed of the default ``KFold``.
    return_predictions : bool
        Also return the out-of-fold predictions (``prediction`` variable).

    Returns
    -------
    xarray.Dataset
        On ``neuroid`` (with the responses' neuroid coords, e.g. ``region``) and
        ``layer`` when several layers were given: ``r2`` (held-out R² of the pooled
        out-of-fold predictions, ``1 - SS_res / SS_tot``; can be negative), ``r``
        (their Pearson correlation with the responses) and ``alpha`` (fold,
        neuroid) the chosen penalties. Coord ``n_features`` per layer. Attrs:
        ``n_splits``, ``backend``, ``standardize``, ``n_obs``, ``model``.

    Raises
    ------
    DataModelError
        Wrong dims, or responses showing stimuli the features lack.
    BadInputError
        NaN/inf, too few stimuli for the folds, bad alphas or backend.
    """
    from tqdm.auto import tqdm

    validate(responses, "responses")
    if not isinstance(responses, xr.DataArray):
        raise DataModelError("fit_encoding: responses must be a (stimulus|trial, neuroid) DataArray.")
    obs_dim = "stimulus" if "stimulus" in responses.dims else "trial"
    responses = responses.transpose(obs_dim, "neuroid")
    y = np.asarray(responses.values, dtype=np.float64)
    n_obs = y.shape[0]
    alphas_a = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas_a.size == 0 or not np.isfinite(alphas_a).all() or (alphas_a <= 0).any():
        raise BadInputError(f"fit_encoding: alphas must be positive finite numbers; got {alphas!r}.")
    if backend not in ("auto", "sklearn", "torch"):
        raise BadInputError(f"fit_encoding: backend must be 'auto', 'sklearn' or 'torch', got {backend!r}.")
    from ._device import resolve

    named = device is not None and str(device) != "auto"
    resolved = resolve(device)
    use = ("torch" if named or resolved != "cpu" else "sklearn") if backend == "auto" else backend
    if use == "sklearn" and named:
        raise BadInputError("fit_encoding: device is only used by backend='torch'.")
    device = resolved

    if isinstance(groups, str):
        if groups not in responses.coords or responses[groups].dims != (obs_dim,):
            raise BadInputError(f"fit_encoding: groups={groups!r} is not a coord along {obs_dim!r} of the responses.")
        group_values = np.asarray(responses[groups].values)
    elif groups is not None:
        group_values = np.asarray(groups)
        if group_values.shape != (n_obs,):
            raise BadInputError(f"fit_encoding: groups must give one label per response row ({n_obs}); got {group_values.shape}.")
    elif obs_dim == "trial" and "stimulus" in responses.coords:
        group_values = np.asarray(responses["stimulus"].values)
    else:
        group_values = None
    folds = _splits(cv, group_values, n_obs, seed)

    layers = _layers(features)
    r2s, rs, alphas_out, preds, n_feats = [], [], [], [], []
    for name, da in tqdm(layers, desc="encoding", unit="layer", disable=None if len(layers) > 1 else True, leave=False):
        label = name if name is not None else str(da.name if da.name is not None else "features")
        x = _align(_feature_matrix(da, label), responses, obs_dim, label)
        if not np.isfinite(x).all():
            raise BadInputError(f"fit_encoding: the features of layer {label!r} hold NaN/inf.")
        pred = np.empty_like(y)
        fold_alpha = np.empty((len(folds), y.shape[1]))
        for f, (tr, te) in enumerate(folds):
            if use == "sklearn":
                p, a = _fit_fold_sklearn(x[tr], y[tr], x[te], alphas_a, standardize)
            else:
                p, a = _fit_fold_torch(x[tr], y[tr], x[te], alphas_a, standardize, device)
            pred[te] = p
            fold_alpha[f] = a
        r2, r = _r2_and_r(y, pred)
        r2s.append(r2)
        rs.append(r)
        alphas_out.append(fold_alpha)
        preds.append(pred)
        n_feats.append(x.shape[1])

    coords: dict[str, Any] = {
        name: c for name, c in responses.coords.items() if c.dims == ("neuroid",) or name == "neuroid"
    }
    coords["fold"] = np.arange(len(folds))
    multi = not (len(layers) == 1 and layers[0][0] is None)
    if multi:
        coords["layer"] = [name for name, _ in layers]
        coords["n_features"] = ("layer", np.asarray(n_feats))
        data_vars: dict[str, Any] = {
            "r2": (("layer", "neuroid"), np.stack(r2s)),
            "r": (("layer", "neuroid"), np.stack(rs)),
            "alpha": (("layer", "fold", "neuroid"), np.stack(alphas_out)),
        }
        if return_predictions:
            coords.update({name: c for name, c in responses.coords.items() if c.dims == (obs_dim,)})
            data_vars["prediction"] = (("layer", obs_dim, "neuroid"), np.stack(preds))
    else:
        coords["n_features"] = n_feats[0]
        data_vars = {
            "r2": (("neuroid",), r2s[0]),
            "r": (("neuroid",), rs[0]),
            "alpha": (("fold", "neuroid"), alphas_out[0]),
        }
        if return_predictions:
            coords.update({name: c for name, c in responses.coords.items() if c.dims == (obs_dim,)})
            data_vars["prediction"] = ((obs_dim, "neuroid"), preds[0])
    ds = xr.Dataset(data_vars, coords=coords)
    model = features.attrs.get("model") if isinstance(features, (xr.Dataset, xr.DataArray)) else None
    ds.attrs.update(
        {
            "n_splits": len(folds),
            "backend": use,
            "standardize": int(bool(standardize)),
            "n_obs": n_obs,
            "grouped": int(group_values is not None),
            "score": "held-out R2 of pooled out-of-fold predictions",
        }
    )
    if model is not None:
        ds.attrs["model"] = str(model)
    return ds


def normalise_by_ceiling(r2: Any, ceiling: Any) -> xr.DataArray:
    """Divide encoding scores by a noise ceiling (per neuroid, per region, or one number).

    Parameters
    ----------
    r2 : xarray.DataArray or array-like
        Scores (e.g. ``fit_encoding(...)["r2"]``), with a ``neuroid`` dim when the
        ceiling varies per neuroid.
    ceiling : float, array-like or xarray.DataArray
        Ceiling on the same scale as the scores (for R²: the explainable variance
        fraction, e.g. a Spearman-Brown corrected split-half reliability). A
        DataArray is aligned by its labels (xarray broadcasting); a plain array must
        match the ``neuroid`` dim.

    Returns
    -------
    xarray.DataArray
        ``r2 / ceiling``. Where the ceiling is NaN or <= 0 the result is NaN (the
        neuroid carries no reliable signal): those entries are counted in
        ``attrs['n_undefined']`` and logged, never dropped. Values above 1 are kept
        (they mean the ceiling estimate is noisy).
    """
    da = r2 if isinstance(r2, xr.DataArray) else xr.DataArray(np.asarray(r2, dtype=np.float64))
    if isinstance(ceiling, xr.DataArray):
        ceil = ceiling
    else:
        arr = np.asarray(ceiling, dtype=np.float64)
        if arr.ndim == 0:
            ceil = xr.DataArray(arr)
        elif "neuroid" in da.dims and arr.shape == (da.sizes["neuroid"],):
            ceil = xr.DataArray(arr, dims=("neuroid",), coords={"neuroid": da["neuroid"].values} if "neuroid" in da.coords else None)
        elif arr.shape == da.shape:
            ceil = xr.DataArray(arr, dims=da.dims, coords={d: da[d].values for d in da.dims if d in da.coords})
        else:
            raise BadInputError(
                f"normalise_by_ceiling: ceiling of shape {arr.shape} matches neither the 'neuroid' dim nor the scores "
                f"{dict(da.sizes)}; pass one number, one value per neuroid, or a labelled DataArray."
            )
    bad = ceil.isnull() | (ceil <= 0)
    safe = ceil.where(~bad)
    out = da / safe
    n_bad = int(np.asarray(out.isnull() & ~da.isnull()).sum())
    if n_bad:
        log.warning("normalise_by_ceiling: %d score(s) have a NaN or non-positive ceiling and are NaN", n_bad)
    out.attrs.update(da.attrs)
    out.attrs["n_undefined"] = n_bad
    out.attrs["normalised"] = "by noise ceiling"
    out.name = f"{da.name}_normalised" if da.name else "normalised"
    return out


def assign_layers(
    results: Any,
    *,
    region: str = "region",
    ceiling: Any = None,
    score: str = "r2",
    aggregate: str = "median",
) -> pd.DataFrame:
    """Best layer of every region from encoding results.

    Parameters
    ----------
    results : xarray.Dataset or mapping
        :func:`fit_encoding` output with a ``layer`` dim, or a mapping layer name ->
        single-layer output.
    region : str
        Coord on ``neuroid`` naming each neuroid's region; if absent every neuroid
        is in region ``"all"``.
    ceiling : float, array-like, xarray.DataArray or mapping, optional
        Noise ceiling per neuroid (as :func:`normalise_by_ceiling`) or a mapping
        region -> ceiling. Default: the results' ``ceiling`` variable if any.
    score : {"r2", "r"}
        Which score to aggregate.
    aggregate : {"median", "mean"}
        How to summarise the neuroids of a region.

    Returns
    -------
    pandas.DataFrame
        One row per region: ``region``, ``best_layer``, ``score`` (aggregate at the
        best layer), ``normalised_score`` (aggregate of the ceiling-normalised
        scores at the best layer; NaN without a ceiling), ``runner_up``,
        ``margin`` (best minus runner-up score), ``n_neuroids``.
    """
    if aggregate not in ("median", "mean"):
        raise BadInputError(f"assign_layers: aggregate must be 'median' or 'mean', got {aggregate!r}.")
    if isinstance(results, Mapping) and not isinstance(results, xr.Dataset):
        if not results:
            raise BadInputError("assign_layers: got no results.")
        results = xr.concat([ds for ds in results.values()], dim=pd.Index([str(k) for k in results], name="layer"))
    if not isinstance(results, xr.Dataset) or score not in results:
        raise DataModelError(f"assign_layers: pass the Dataset returned by fit_encoding (with a {score!r} variable).")
    sc = results[score]
    if "layer" not in sc.dims:
        sc = sc.expand_dims(layer=[str(results.attrs.get("layer", "features"))])
    sc = sc.transpose("layer", "neuroid")
    if region in sc.coords and sc[region].dims == ("neuroid",):
        regions = np.asarray(sc[region].values)
    else:
        log.info("assign_layers: no %r coord on neuroid; all neuroids form one region 'all'", region)
        regions = np.full(sc.sizes["neuroid"], "all", dtype=object)
    if ceiling is None and "ceiling" in results:
        ceiling = results["ceiling"]
    if isinstance(ceiling, Mapping) and not isinstance(ceiling, (xr.Dataset, xr.DataArray)):
        missing = [r for r in pd.unique(regions) if r not in ceiling]
        if missing:
            raise BadInputError(f"assign_layers: ceiling has no value for region(s) {missing}.")
        ceiling = np.asarray([ceiling[r] for r in regions], dtype=np.float64)
    norm = normalise_by_ceiling(sc, ceiling) if ceiling is not None else None
    agg = np.nanmedian if aggregate == "median" else np.nanmean
    layers = [str(v) for v in sc["layer"].values]
    rows = []
    for reg in pd.unique(regions):
        sel = regions == reg
        vals = np.asarray(sc.values)[:, sel]
        per_layer = np.array([agg(v) if np.isfinite(v).any() else np.nan for v in vals])
        if not np.isfinite(per_layer).any():
            raise BadInputError(f"assign_layers: region {reg!r} has no finite {score} in any layer.")
        order = np.argsort(-np.where(np.isfinite(per_layer), per_layer, -np.inf), kind="stable")
        best = int(order[0])
        second = int(order[1]) if len(order) > 1 else None
        nscore = np.nan
        if norm is not None:
            nv = np.asarray(norm.values)[best, sel]
            nscore = float(agg(nv)) if np.isfinite(nv).any() else np.nan
        rows.append(
            {
                "region": reg,
                "best_layer": layers[best],
                "score": float(per_layer[best]),
                "normalised_score": nscore,
                "runner_up": layers[second] if second is not None else None,
                "margin": float(per_layer[best] - per_layer[second]) if second is not None else np.nan,
                "n_neuroids": int(sel.sum()),
            }
        )
    return pd.DataFrame(rows)
