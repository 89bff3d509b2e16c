"""Noise covariance / precision estimates equal rsatoolbox.data.noise (residuals, measurements, unbalanced)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurodecode.analysis.noise import (
    NOISE_METHODS,
    cov_from_measurements,
    cov_from_residuals,
    prec_from_measurements,
    prec_from_residuals,
)
from neurodecode.errors import BadInputError

import rsatoolbox.data as rsd
from rsatoolbox.data import noise as rsn


def _resid(seed=0, n=40, c=8):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(c, c))
    return rng.normal(size=(n, c)) @ mix + 0.3


@pytest.mark.parametrize("method", NOISE_METHODS)
def test_residuals_equal_rsatoolbox(method):
    r = _resid()
    np.testing.assert_allclose(cov_from_residuals(r, method=method),
                               rsn.cov_from_residuals(r.copy(), method=method), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(prec_from_residuals(r, method=method, dof=30),
                               rsn.prec_from_residuals(r.copy(), method=method, dof=30), rtol=1e-9, atol=1e-12)


def test_per_run_residuals_equal_rsatoolbox():
    runs = np.stack([_resid(s, n=25, c=6) for s in range(3)])
    ours = prec_from_residuals(runs)
    ref = rsn.prec_from_residuals(runs.copy())
    assert ours.shape == (3, 6, 6)
    np.testing.assert_allclose(ours, np.stack(ref), rtol=1e-9)
    as_list = prec_from_residuals([r for r in runs], dof=[20, 21, 22])
    np.testing.assert_allclose(as_list[1], np.linalg.inv(cov_from_residuals(runs[1], dof=21)), rtol=1e-10)


def _measurements(balanced=True, seed=1):
    rng = np.random.default_rng(seed)
    cond = np.repeat(np.arange(6), 5)
    if not balanced:
        cond = cond[np.r_[0:3, 5:30]]  # condition 0 seen 3 times, the others 5
    x = rng.normal(size=(6, 7))[cond] * 3 + rng.normal(size=(len(cond), 7)) @ rng.normal(size=(7, 7))
    return x, cond


@pytest.mark.parametrize("method", NOISE_METHODS)
def test_measurements_equal_rsatoolbox(method):
    x, cond = _measurements(balanced=False)
    ds = rsd.Dataset(x.copy(), obs_descriptors={"conds": cond})
    ref = rsn.prec_from_unbalanced(ds, "conds", method=method)
    da = xr.DataArray(x, dims=("trial", "channel"), coords={"stimulus": ("trial", cond)})
    np.testing.assert_allclose(prec_from_measurements(da, method=method), ref, rtol=1e-9, atol=1e-12)
    xb, cb = _measurements(balanced=True)
    dsb = rsd.Dataset(xb.copy(), obs_descriptors={"conds": cb})
    # rsatoolbox's balanced path defaults to dof = (conditions - 1) x repeats; equal when given the same dof
    ref_b = rsn.prec_from_measurements(dsb, "conds", method=method, dof=24)
    np.testing.assert_allclose(prec_from_measurements(xb, cb, method=method, dof=24), ref_b, rtol=1e-9, atol=1e-12)


def test_bad_inputs():
    with pytest.raises(BadInputError, match="method must be"):
        cov_from_residuals(_resid(), method="ledoit")
    with pytest.raises(BadInputError, match="no repeats"):
        cov_from_measurements(np.eye(4), np.arange(4))
    with pytest.raises(BadInputError, match="singular"):
        prec_from_residuals(_resid(n=4, c=8), method="full")
    bad = _resid()
    bad[1, 1] = np.inf
    with pytest.raises(BadInputError, match="NaN"):
        cov_from_residuals(bad)
