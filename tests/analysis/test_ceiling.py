"""noise_ceiling(): equals rsatoolbox.inference.boot_noise_ceiling on the 4 subjects' hIT RDMs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from neurodecode.analysis import compare, noise_ceiling
from neurodecode.errors import BadInputError

import rsatoolbox.rdm as rsr
import rsatoolbox.inference as rsi

METHODS = {
    "spearman": "spearman",
    "pearson": "corr",
    "cosine": "cosine",
    "kendall": "kendall",
    "tau_a": "tau-a",
    "rho_a": "rho-a",
    "corr_cov": "corr_cov",
    "cosine_cov": "cosine_cov",
}


def _ref(rdms, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rsatoolbox warns that tau ceilings pool averaged ranks
        return rsi.boot_noise_ceiling(rdms, method=method, **kw)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_matches_rsatoolbox_four_subjects(k92_brain, method):
    brain, subjects = k92_brain
    per_subject = brain.mean(axis=1)  # the 4 subjects' RDMs, sessions averaged
    stack = xr.DataArray(
        per_subject,
        dims=("rdm", "stimulus", "stimulus_"),
        coords={"rdm": subjects, "subject": ("rdm", subjects)},
        attrs={"method": "correlation"},
    )
    lower, upper = noise_ceiling(stack, method)
    ref_lower, ref_upper = _ref(rsr.RDMs(per_subject), METHODS[method])
    assert lower == pytest.approx(ref_lower, abs=1e-8)
    assert upper == pytest.approx(ref_upper, abs=1e-8)
    assert lower < upper


def test_sessions_grouped_by_subject(k92_brain):
    brain, subjects = k92_brain
    eight = brain.reshape(8, 92, 92)
    subj = np.repeat(subjects, 2)
    stack = xr.DataArray(
        eight,
        dims=("rdm", "stimulus", "stimulus_"),
        coords={"subject": ("rdm", subj), "session": ("rdm", [1, 2] * 4)},
        attrs={"method": "correlation"},
    )
    ref_rdms = rsr.RDMs(eight, rdm_descriptors={"subject": list(subj)})
    for method in ("spearman", "tau_a", "pearson"):
        got = noise_ceiling(stack, method, by="subject")
        ref = _ref(ref_rdms, METHODS[method], rdm_descriptor="subject")
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-8)
    # the default groups by the subject coord, as bootstrap does
    np.testing.assert_allclose(noise_ceiling(stack, "spearman"), noise_ceiling(stack, "spearman", by="subject"))
    # by=None: every RDM its own group (rsatoolbox's default 'index')
    np.testing.assert_allclose(noise_ceiling(stack, "spearman", by=None), _ref(rsr.RDMs(eight), "spearman"),
                               atol=1e-8)


def test_upper_bound_definition(k92_brain):
    """Upper bound = mean similarity of each subject with the mean-rank RDM (Nili et al. 2014), by hand."""
    from scipy.stats import rankdata, spearmanr

    brain, _ = k92_brain
    data = brain.mean(axis=1)
    iu = np.triu_indices(92, 1)
    vec = data[:, iu[0], iu[1]]
    pooled = rankdata(vec, axis=1).mean(axis=0)
    upper = np.mean([spearmanr(pooled, v).statistic for v in vec])
    lower = np.mean(
        [spearmanr(rankdata(np.delete(vec, s, 0), axis=1).mean(0), vec[s]).statistic for s in range(4)]
    )
    got = noise_ceiling(data, "spearman")
    assert got.upper == pytest.approx(upper, abs=1e-12)
    assert got.lower == pytest.approx(lower, abs=1e-12)
    # and a model can't beat the upper bound on average
    assert compare(data, data.mean(0), "spearman").values.mean() <= got.upper + 1e-12


def test_errors_and_no_mutation():
    rng = np.random.default_rng(2)
    m = rng.random((3, 7, 7))
    m = np.triu(m, 1) + np.triu(m, 1).transpose(0, 2, 1)
    m0 = m.copy()
    noise_ceiling(m, "pearson")
    np.testing.assert_array_equal(m, m0)
    with pytest.raises(BadInputError, match="at least 2"):
        noise_ceiling(m[:1])
    stack = xr.DataArray(m, dims=("rdm", "stimulus", "stimulus_"), coords={"subject": ("rdm", ["a", "a", "a"])})
    with pytest.raises(BadInputError, match="at least 2"):
        noise_ceiling(stack, by="subject")
    with pytest.raises(BadInputError, match="not a coord"):
        noise_ceiling(stack, by="participant")
    with pytest.raises(BadInputError, match="unknown method"):
        noise_ceiling(m, "euclid")
