"""RDMs from unbalanced trial data: conditions missing from some runs, unequal repeats.

:func:`rdm_unbalanced` works on single trials instead of per-run condition means. With ``G`` the
trial-by-trial inner products ``x_k^T P x_l / n_channels`` (``P`` the noise precision; identity
by default) and ``W_kl`` the pairs that may be used -- for ``crossnobis`` the pairs from different
cross-validation folds (runs), otherwise every pair --, each condition pair gets

    s_ab = sum_{k in a, l in b} W_kl G_kl / sum_{k in a, l in b} W_kl
    d_ab = s_aa + s_bb - 2 s_ab

so a condition pair is estimated from whatever trials exist (NaN when no usable pair exists).
Without cross-validation this is the (squared, per-channel) distance of the condition means; with
it, noise cancels in expectation (unbiased; can be negative). Equals
``rsatoolbox.rdm.calc_rdm_unbalanced`` (``tests/analysis/test_rdm_unbalanced.py``) for complete
(NaN-free) data; one matrix product and two indicator products, no loop over trial pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError, DataModelError
from .convert import _Stack, _stack_to_dataarray

__all__ = ["rdm_unbalanced", "UNBALANCED_METHODS"]

UNBALANCED_METHODS = ("crossnobis", "mahalanobis", "euclidean")


def rdm_unbalanced(
    trials: xr.DataArray,
    method: str = "crossnobis",
    *,
    by: str = "stimulus",
    cv: str | None = "run",
    noise: Any = None,
) -> xr.DataArray:
    """RDM from single trials with unequal repeats or conditions missing from some runs.

    Parameters
    ----------
    trials : xarray.DataArray
        (trial, channel) data (any channel dim name) with the condition of each trial in the coord
        ``by`` and, for ``crossnobis``, its cross-validation fold (run) in the coord ``cv``.
    method : {"crossnobis", "mahalanobis", "euclidean"}
        ``crossnobis`` uses only pairs of trials from different folds; the others use every pair
        (they are the distances of the condition means; ``mahalanobis`` with ``noise``).
    by : str
        Coord naming each trial's condition (stimulus); the RDM's stimuli are its sorted unique values.
    cv : str or None
        Coord naming each trial's fold (``crossnobis`` only).
    noise : array-like, optional
        (channel, channel) noise precision, e.g. from
        :func:`neurodecode.analysis.prec_from_measurements`.

    Returns
    -------
    xarray.DataArray
        A one-RDM stack (``rdm``, ``stimulus``, ``stimulus_``); attrs ``method``,
        ``n_missing_pairs`` (condition pairs without any usable trial pair: NaN).

    Raises
    ------
    DataModelError
        Wrong dims or missing coords.
    BadInputError
        Unknown method, NaN/inf, a bad noise matrix, fewer than 2 conditions.
    """
    if method not in UNBALANCED_METHODS:
        raise BadInputError(f"rdm_unbalanced: method must be one of {UNBALANCED_METHODS}, got {method!r}.")
    if not isinstance(trials, xr.DataArray) or trials.ndim != 2:
        raise DataModelError("rdm_unbalanced: pass a (trial, channel) DataArray with condition and run coords.")
    if by not in trials.coords or len(trials[by].dims) != 1:
        raise DataModelError(f"rdm_unbalanced: no coord {by!r} naming each trial's condition.")
    row = trials[by].dims[0]
    chan = [d for d in trials.dims if d != row][0]
    x = np.asarray(trials.transpose(row, chan).values, dtype=np.float64)
    if not np.isfinite(x).all():
        raise BadInputError("rdm_unbalanced: the trials hold NaN/inf; drop those trials or channels first.")
    n_trials, n_chan = x.shape
    codes, conds = pd.factorize(np.asarray(trials[by].values), sort=True)
    n = len(conds)
    if n < 2:
        raise BadInputError(f"rdm_unbalanced: needs at least 2 conditions; got {n}.")
    if noise is not None:
        prec = np.asarray(noise, dtype=np.float64)
        if prec.shape != (n_chan, n_chan) or not np.isfinite(prec).all():
            raise BadInputError(f"rdm_unbalanced: noise must be a finite ({n_chan}, {n_chan}) precision matrix.")
        if method == "euclidean":
            raise BadInputError("rdm_unbalanced: noise is used by 'mahalanobis' and 'crossnobis', not 'euclidean'.")
        g = x @ prec @ x.T / n_chan
    else:
        g = x @ x.T / n_chan
    if method == "crossnobis":
        if cv is None or cv not in trials.coords or trials[cv].dims != (row,):
            raise DataModelError(f"rdm_unbalanced: crossnobis needs a coord {cv!r} naming each trial's fold (run).")
        folds, _ = pd.factorize(np.asarray(trials[cv].values))
        w = (folds[:, None] != folds[None, :]).astype(np.float64)
    else:
        w = np.ones((n_trials, n_trials))
    ind = np.zeros((n_trials, n), dtype=np.float64)
    ind[np.arange(n_trials), codes] = 1.0
    num = ind.T @ (g * w) @ ind
    den = ind.T @ w @ ind
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    d = np.diag(s)[:, None] + np.diag(s)[None, :] - 2.0 * s
    iu = np.triu_indices(n, 1)
    vec = d[iu][None, :]
    stack = _Stack(vec, n, np.asarray(conds), np.array([0]), {}, method, {})
    out = _stack_to_dataarray(stack)
    out.attrs.update({"method": method, "n_missing_pairs": int(np.isnan(vec).sum()), "unbalanced": 1})
    return out
