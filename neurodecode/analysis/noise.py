"""Noise covariance and precision estimates for Mahalanobis / crossnobis RDMs, with shrinkage.

The precision (inverse covariance) of the measurement noise over channels is what
``rdm(..., "mahalanobis" | "crossnobis", noise=prec)`` takes. It is estimated from

* residuals (e.g. of a GLM): :func:`cov_from_residuals` / :func:`prec_from_residuals`;
* repeated measurements of the same conditions: :func:`cov_from_measurements` /
  :func:`prec_from_measurements` subtract each condition's mean and use the deviations
  (balanced or not; ``dof`` = observations - conditions).

Estimators (``method``), on the demeaned ``(n, channels)`` matrix ``X``, ``S = X^T X / dof``:

``"full"``
    ``S``.
``"diag"``
    ``diag(S)``: univariate noise normalisation.
``"shrinkage_eye"``
    Ledoit & Wolf (2004): shrink ``X^T X / n`` towards ``m I`` (``m`` its mean variance) with the
    optimal weight ``b^2 / d^2``, then rescale by ``n / dof``.
``"shrinkage_diag"`` (default)
    Schafer & Strimmer (2005, target D): shrink the off-diagonal entries of ``S`` towards 0 by
    the estimated optimal ``lambda`` of the correlations, clipped to [0, 1].

The numbers equal rsatoolbox's ``cov_from_residuals`` / ``prec_from_residuals`` /
``prec_from_unbalanced`` (``tests/analysis/test_noise.py``). rsatoolbox's
``prec_from_measurements`` uses ``dof = (conditions - 1) x repeats`` by default; here the default
is the number of deviations minus the number of conditions, ``conditions x (repeats - 1)`` for
balanced data (pass ``dof`` to reproduce rsatoolbox's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError, DataModelError

__all__ = ["NOISE_METHODS", "cov_from_residuals", "prec_from_residuals", "cov_from_measurements",
           "prec_from_measurements"]

NOISE_METHODS = ("shrinkage_diag", "shrinkage_eye", "diag", "full")


def _matrix(a: Any, what: str) -> np.ndarray:
    arr = np.asarray(a.values if isinstance(a, xr.DataArray) else a, dtype=np.float64)
    if arr.ndim != 2:
        raise DataModelError(f"{what}: expected a 2-D (observation, channel) matrix; got shape {arr.shape}.")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise BadInputError(f"{what}: needs at least 2 observations and 1 channel; got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise BadInputError(f"{what}: the data hold NaN/inf.")
    return arr


def _estimate(x: np.ndarray, dof: float, method: str) -> np.ndarray:
    """Covariance estimate of an already demeaned (n, c) matrix."""
    n = x.shape[0]
    if method == "full":
        return x.T @ x / dof
    if method == "diag":
        return np.diag(np.einsum("ij,ij->j", x, x) / dof)
    xx = x.T @ x
    x2 = x * x
    xx2 = x2.T @ x2  # sum over observations of (x_i x_j)^2
    if method == "shrinkage_eye":
        s = xx / n
        b2 = np.sum(xx2 / n - s * s) / n
        m = np.trace(s) / s.shape[0]
        d2 = np.sum((s - m * np.eye(s.shape[0])) ** 2)
        b2 = min(d2, b2)
        return (b2 / d2 * m * np.eye(s.shape[0]) + (d2 - b2) / d2 * s) * n / dof
    # shrinkage_diag
    s = xx / dof
    var = np.diag(s)
    if (var <= 0).any():
        raise BadInputError("noise covariance: a channel has zero variance; drop it before estimating the noise.")
    sd = np.sqrt(var)
    r_mean = xx / sd[None, :] / sd[:, None] / (n - 1)
    r2_mean = xx2 / var[None, :] / var[:, None] / (n - 1)
    var_hat = n / dof**2 * (r2_mean - r_mean**2)
    off = ~np.eye(s.shape[0], dtype=bool)
    denom = np.sum(r_mean[off] ** 2)
    lam = np.sum(var_hat[off]) / denom if denom > 0 else 1.0
    lam = max(min(lam, 1.0), 0.0)
    return s * np.where(off, 1.0 - lam, 1.0)


def _check_method(method: str, what: str) -> None:
    if method not in NOISE_METHODS:
        raise BadInputError(f"{what}: method must be one of {NOISE_METHODS}, got {method!r}.")


def _inverse(cov: Any) -> Any:
    if isinstance(cov, list):
        return [_inverse(c) for c in cov]
    if cov.ndim == 3:
        return np.stack([_inverse(c) for c in cov])
    try:
        if np.linalg.matrix_rank(cov) < cov.shape[0]:
            raise np.linalg.LinAlgError("rank deficient")
        return np.linalg.inv(cov)
    except np.linalg.LinAlgError as err:
        raise BadInputError(
            "noise precision: the covariance estimate is singular (more channels than observations?); use "
            "method='shrinkage_diag' or 'shrinkage_eye'."
        ) from err


def cov_from_residuals(residuals: Any, *, dof: Any = None, method: str = "shrinkage_diag") -> Any:
    """Noise covariance over channels from residuals.

    Parameters
    ----------
    residuals : array-like, DataArray, list of these, or 3-D array
        (observation, channel) residuals; a list, or a 3-D array whose first axis indexes runs
        (or time points), gives one estimate each.
    dof : int or sequence of int, optional
        Degrees of freedom (default: observations - 1; subtract the GLM's regressors if any).
    method : {"shrinkage_diag", "shrinkage_eye", "diag", "full"}
        See the module docstring.

    Returns
    -------
    numpy.ndarray or list
        (channel, channel), or a (k, channel, channel) array for a 3-D input, or a list for a list.
    """
    _check_method(method, "cov_from_residuals")
    if isinstance(residuals, list) or (isinstance(residuals, np.ndarray) and residuals.ndim == 3):
        dofs = list(dof) if dof is not None and np.ndim(dof) == 1 else [dof] * len(residuals)
        if len(dofs) != len(residuals):
            raise BadInputError(f"cov_from_residuals: {len(dofs)} dof values for {len(residuals)} residual sets.")
        out = [cov_from_residuals(r, dof=d, method=method) for r, d in zip(residuals, dofs)]
        return np.stack(out) if isinstance(residuals, np.ndarray) else out
    x = _matrix(residuals, "cov_from_residuals")
    x = x - x.mean(axis=0, keepdims=True)
    d = x.shape[0] - 1 if dof is None else float(dof)
    if d <= 0:
        raise BadInputError(f"cov_from_residuals: dof must be positive, got {d}.")
    return _estimate(x, d, method)


def prec_from_residuals(residuals: Any, *, dof: Any = None, method: str = "shrinkage_diag") -> Any:
    """Noise precision (inverse of :func:`cov_from_residuals`)."""
    return _inverse(cov_from_residuals(residuals, dof=dof, method=method))


def cov_from_measurements(measurements: Any, by: Any = "stimulus", *, dof: Any = None,
                          method: str = "shrinkage_diag") -> Any:
    """Noise covariance from repeated measurements: deviations from each condition's mean.

    Parameters
    ----------
    measurements : xarray.DataArray, array-like or list of these
        (trial, channel) data. A DataArray names the condition of each row in the coord ``by``
        (default ``"stimulus"``); for arrays pass ``by`` as one label per row. Conditions may have
        different numbers of repeats. A list gives one estimate per element (e.g. per run).
    by : str or array-like
        Coord name or labels of the conditions.
    dof : int, optional
        Degrees of freedom (default: rows - conditions).
    method : {"shrinkage_diag", "shrinkage_eye", "diag", "full"}
        See the module docstring.

    Returns
    -------
    numpy.ndarray or list
        (channel, channel) covariance (a list for a list input).
    """
    _check_method(method, "cov_from_measurements")
    if isinstance(measurements, list):
        return [cov_from_measurements(m, by, dof=dof, method=method) for m in measurements]
    if isinstance(measurements, xr.DataArray):
        if isinstance(by, str):
            if by not in measurements.coords or len(measurements[by].dims) != 1:
                raise BadInputError(f"cov_from_measurements: {by!r} is not a coord naming the condition of each row.")
            row_dim = measurements[by].dims[0]
            other = [d for d in measurements.dims if d != row_dim]
            if len(other) != 1:
                raise DataModelError(f"cov_from_measurements: expected ({row_dim}, channel) data; got {measurements.dims}.")
            labels = np.asarray(measurements[by].values)
            measurements = measurements.transpose(row_dim, other[0])
        else:
            labels = np.asarray(by)
    else:
        if isinstance(by, str):
            raise BadInputError("cov_from_measurements: for arrays pass by= one condition label per row.")
        labels = np.asarray(by)
    x = _matrix(measurements, "cov_from_measurements")
    if labels.shape != (x.shape[0],):
        raise BadInputError(f"cov_from_measurements: {labels.shape} labels for {x.shape[0]} rows.")
    codes, uniq = pd.factorize(labels, sort=True)
    counts = np.bincount(codes)
    means = np.zeros((len(uniq), x.shape[1]))
    np.add.at(means, codes, x)
    means /= counts[:, None]
    resid = x - means[codes]
    d = x.shape[0] - len(uniq) if dof is None else float(dof)
    if d <= 0:
        raise BadInputError(
            f"cov_from_measurements: no repeats to estimate noise from ({x.shape[0]} rows, {len(uniq)} conditions)."
        )
    return _estimate(resid, d, method)


def prec_from_measurements(measurements: Any, by: Any = "stimulus", *, dof: Any = None,
                           method: str = "shrinkage_diag") -> Any:
    """Noise precision (inverse of :func:`cov_from_measurements`)."""
    return _inverse(cov_from_measurements(measurements, by, dof=dof, method=method))
