"""Cluster-based permutation test (one sample, sign flips) over time or a generalisation matrix.

The statistic, threshold, clustering and p-values follow Maris & Oostenveld (2007) as implemented
in :func:`mne.stats.permutation_cluster_1samp_test` with its defaults: t-values
``mean / sqrt(var_ddof1 / n)``, a cluster-forming threshold at the two-sided (``tail=0``) or
one-sided p = 0.05 of Student's t with n - 1 degrees of freedom, clusters as connected
supra-threshold points (neighbours along each axis), cluster mass = sum of t, and the null of the
largest cluster mass under random sign flips of whole observations (every flip when there are
few enough, an exact test, enumerated as MNE does). Results equal MNE's in the exact regime; with sampled flips the
p-values agree within Monte-Carlo error.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BadInputError

__all__ = ["ClusterResult", "cluster_stats", "cluster_table", "cluster_test", "smallest_p"]


@dataclass
class ClusterResult:
    """Observed t-values, cluster masks, their masses and p-values, and the permutation null."""

    t_obs: np.ndarray
    clusters: list[np.ndarray]
    masses: np.ndarray
    p_values: np.ndarray
    h0: np.ndarray


def _tvals(X: np.ndarray) -> np.ndarray:
    n = X.shape[0]
    return X.mean(axis=0) / np.sqrt(X.var(axis=0, ddof=1) / n)


def _clusters(t: np.ndarray, threshold: float, tail: int) -> tuple[list[np.ndarray], np.ndarray]:
    from scipy import ndimage

    masks, masses = [], []
    for sign in ((1,) if tail == 1 else (-1,) if tail == -1 else (1, -1)):
        above = t > threshold if sign == 1 else t < -threshold
        lab, n = ndimage.label(above)
        if n:
            sums = ndimage.sum(t, lab, index=np.arange(1, n + 1))
            for k in range(n):
                masks.append(lab == k + 1)
                masses.append(float(sums[k]))
    return masks, np.asarray(masses, dtype=float)


def smallest_p(n: int, n_permutations: int = 1024, tail: int = 1) -> float:
    """The smallest p-value a sign-flip cluster test over ``n`` observations can give: one over
    the number of sign patterns it uses (every pattern when they fit in ``n_permutations``)."""
    free = n - (tail == 0)
    return 1.0 / 2 ** free if 2 ** free <= n_permutations else 1.0 / n_permutations


def _signs(n: int, n_permutations: int, tail: int, rng: np.random.Generator) -> np.ndarray:
    """Sign patterns (rows), the observed labelling first.

    When ``2 ** (n - (tail == 0)) <= n_permutations`` the test is exact: the observed labelling
    plus every pattern of MNE's enumeration (all patterns except flipping every sign; for
    ``tail=0`` only those that flip the first observation, the rest follow by symmetry).
    """
    free = n - (tail == 0)
    if 2 ** free <= n_permutations:
        bits = np.array(list(itertools.product((0, 1), repeat=free)), dtype=int)
        if tail == 0:
            bits = np.hstack([np.zeros((len(bits), 1), int), bits])
        return np.vstack([np.ones((1, n), int), 2 * bits[1:] - 1])
    flips = rng.integers(0, 2, size=(n_permutations - 1, n))
    return np.vstack([np.ones((1, n), int), 1 - 2 * flips])


def cluster_stats(
    X: Any,
    *,
    threshold: float | None = None,
    n_permutations: int = 1024,
    tail: int = 1,
    seed: int = 0,
) -> ClusterResult:
    """One-sample cluster permutation test of ``X`` (observations, ...) against 0.

    Parameters
    ----------
    X : array (n_observations, n_times) or (n_observations, n_train, n_test)
        E.g. per-fold or per-subject scores minus chance.
    threshold : float, optional
        Cluster-forming t threshold; default the p = 0.05 quantile (two-sided split for tail 0).
    n_permutations : int
        Sign-flip patterns (the identity included); all 2^n (2^(n-1) for tail 0) when fewer.
    tail : {1, 0, -1}
        1: above 0 (scores above chance), 0: both directions, -1: below.
    seed : int

    Returns
    -------
    ClusterResult
    """
    from scipy import stats

    X = np.asarray(X, dtype=float)
    if X.ndim < 2 or X.shape[0] < 2:
        raise BadInputError(f"cluster test needs (observations, ...) with at least 2 observations, got {X.shape}.")
    if not np.isfinite(X).all():
        raise BadInputError("cluster test: X holds NaN/inf.")
    if tail not in (-1, 0, 1):
        raise BadInputError(f"tail must be -1, 0 or 1, got {tail!r}.")
    n = X.shape[0]
    if threshold is None:
        threshold = float(-stats.t.ppf(0.05 / (1 + (tail == 0)), n - 1))
    t_obs = _tvals(X)
    masks, masses = _clusters(t_obs, threshold, tail)
    signs = _signs(n, int(n_permutations), tail, np.random.default_rng(seed))
    flat = X.reshape(n, -1)
    sq = (flat ** 2).sum(axis=0)
    h0 = np.zeros(len(signs))
    root = np.sqrt(n * (n - 1))
    for i, s in enumerate(signs):  # t from the flipped column sums (sum of squares is sign-invariant)
        mean = (s @ flat) / n
        den = np.maximum(sq - n * mean * mean, 0.0)
        t = np.zeros_like(mean)
        ok = den > 0
        t[ok] = mean[ok] / np.sqrt(den[ok]) * root
        t = t.reshape(t_obs.shape)
        _, m = _clusters(t, threshold, tail)
        h0[i] = m[np.argmax(np.abs(m))] if len(m) else 0.0
    if len(masses):  # the observed labelling counts with its own (not recomputed) masses
        h0[0] = masses.max() if tail == 1 else masses.min() if tail == -1 else np.abs(masses).max()
    if tail == 1:
        p = np.array([(h0 >= m).mean() for m in masses])
    elif tail == -1:
        p = np.array([(h0 <= m).mean() for m in masses])
    else:
        p = np.array([(np.abs(h0) >= abs(m)).mean() for m in masses])
    return ClusterResult(t_obs, masks, masses, p, h0)


def cluster_test(
    X: Any,
    times: Any = None,
    *,
    threshold: float | None = None,
    n_permutations: int = 1024,
    tail: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`cluster_stats` as a table: one row per cluster with its time span, mass and p-value.

    For (observations, time) input: ``start``, ``stop`` (s, from ``times``; sample indices without),
    ``mass``, ``p_value``, ``n_points``. For a generalisation matrix also ``test_start`` and
    ``test_stop`` (``start``/``stop`` are along the training time).
    """
    res = cluster_stats(X, threshold=threshold, n_permutations=n_permutations, tail=tail, seed=seed)
    return cluster_table(res, times)


def cluster_table(res: ClusterResult, times: Any = None) -> pd.DataFrame:
    """The table of :func:`cluster_test` from a :func:`cluster_stats` result (no second permutation run)."""
    shape = res.t_obs.shape
    axis = np.arange(shape[0], dtype=float) if times is None else np.asarray(times, dtype=float)
    rows = []
    for mask, mass, p in zip(res.clusters, res.masses, res.p_values):
        idx = np.nonzero(mask)
        row = {"start": float(axis[idx[0].min()]), "stop": float(axis[idx[0].max()]), "mass": float(mass),
               "p_value": float(p), "n_points": int(mask.sum())}
        if len(shape) == 2:
            row.update(test_start=float(axis[idx[1].min()]), test_stop=float(axis[idx[1].max()]))
        rows.append(row)
    cols = ["start", "stop", "mass", "p_value", "n_points"] + (["test_start", "test_stop"] if len(shape) == 2 else [])
    return pd.DataFrame(rows, columns=cols).sort_values("p_value", kind="stable").reset_index(drop=True)
