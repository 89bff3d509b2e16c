"""rdm_unbalanced equals rsatoolbox.rdm.calc_rdm_unbalanced on trials with a condition missing from some runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from neurodecode.analysis import prec_from_measurements, rdm
from neurodecode.analysis.rdm_unbalanced import rdm_unbalanced
from neurodecode.errors import BadInputError

import rsatoolbox.data as rsd
import rsatoolbox.rdm as rsr


def _trials(seed=0, n_cond=6, n_runs=4, c=10):
    rng = np.random.default_rng(seed)
    patterns = rng.normal(size=(n_cond, c))
    rows = [(s, r) for r in range(n_runs) for s in range(n_cond) if not (s == 0 and r in (1, 2))]
    rows += [(3, 0), (3, 2)]  # condition 3 repeated twice in runs 0 and 2
    cond = np.array([s for s, _ in rows])
    run = np.array([r for _, r in rows])
    x = patterns[cond] + rng.normal(size=(len(rows), c))
    da = xr.DataArray(x, dims=("trial", "channel"),
                      coords={"stimulus": ("trial", [f"s{s}" for s in cond]), "run": ("trial", run)})
    return da, cond, run


def _ref(da, cond, run, method, noise=None):
    ds = rsd.Dataset(np.asarray(da.values).copy(), obs_descriptors={"stimulus": [f"s{s}" for s in cond], "run": run})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rsr.calc_rdm_unbalanced(ds, method=method, descriptor="stimulus",
                                       cv_descriptor="run" if method == "crossnobis" else None, noise=noise)


@pytest.mark.parametrize("method", ["crossnobis", "mahalanobis", "euclidean"])
def test_equals_rsatoolbox(method):
    da, cond, run = _trials()
    noise = prec_from_measurements(da) if method != "euclidean" else None
    ours = rdm_unbalanced(da, method, noise=noise)
    ref = _ref(da, cond, run, method, noise)
    np.testing.assert_allclose(ours.values[0], ref.get_matrices()[0], rtol=1e-10, atol=1e-12)
    assert list(ours["stimulus"].values) == list(ref.pattern_descriptors["stimulus"])


def test_balanced_crossnobis_equals_rdm():
    rng = np.random.default_rng(3)
    cond = np.tile(np.arange(5), 3)
    run = np.repeat(np.arange(3), 5)
    x = rng.normal(size=(5, 8))[cond] + rng.normal(size=(15, 8))
    da = xr.DataArray(x, dims=("trial", "channel"), coords={"stimulus": ("trial", cond), "run": ("trial", run)})
    ours = rdm_unbalanced(da, "crossnobis")
    ref = rdm(da, "crossnobis", runs="run")
    # balanced data: the leave-one-run-out crossnobis of rdm() and the all-pairs one agree up to a run-count factor
    assert np.corrcoef(ours.values[0][np.triu_indices(5, 1)], ref.values[0][np.triu_indices(5, 1)])[0, 1] > 0.999


def test_bad_inputs():
    da, _, _ = _trials()
    with pytest.raises(BadInputError, match="method must be"):
        rdm_unbalanced(da, "correlation")
    bad = da.copy()
    bad[0, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        rdm_unbalanced(bad)
