"""Dual bootstrap (Schütt et al. 2023), t-tests and tau-a stimulus resampling: equal to rsatoolbox with the same draws.

rsatoolbox draws inside its loops (and ``eval_dual_bootstrap`` also shuffles for its cross-validation
sets), so the draws are recorded by wrapping its ``bootstrap_sample`` and passed to ours.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from neurodecode.analysis import METHODS, bootstrap, t_test
from neurodecode.errors import BadInputError, DataModelError

import rsatoolbox.inference as rsi
import rsatoolbox.inference.evaluate as rse
import rsatoolbox.model as rsm
import rsatoolbox.rdm as rsr

RSA_NAME = {"spearman": "spearman", "pearson": "corr", "tau_a": "tau-a", "kendall": "kendall", "cosine": "cosine"}
# every 4th of the 92 images (all six categories): fast, still real data
SUBSET = np.arange(0, 92, 4)


def _models(mats):
    iu = np.triu_indices(mats.shape[1], 1)
    return [rsm.ModelFixed(f"m{i}", mats[i][iu]) for i in range(mats.shape[0])]


def _rdms(mats):
    iu = np.triu_indices(mats.shape[1], 1)
    return rsr.RDMs(mats[:, iu[0], iu[1]])


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def k92_subset(k92_brain, k92_models):
    """4 model RDMs and the 8 hIT RDMs (4 subjects x 2 sessions, each its own RDM) on 23 of the 92 images."""
    brain, _ = k92_brain
    models, _ = k92_models
    sel = np.ix_(SUBSET, SUBSET)
    data = brain.reshape(8, 92, 92)
    return np.stack([m[sel] for m in models[[0, 2, 4, 6]]]), np.stack([d[sel] for d in data])


def _recorded_dual(monkeypatch, models, data, method, n_boot, seed):
    """rsatoolbox's eval_dual_bootstrap and the subject / stimulus draws it made."""
    draws = []
    original = rse.bootstrap_sample

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        draws.append((np.asarray(out[1]), np.asarray(out[2])))
        return out

    monkeypatch.setattr(rse, "bootstrap_sample", recording)
    np.random.seed(seed)
    ref = _quiet(rsi.eval_dual_bootstrap, _models(models), _rdms(data), method=RSA_NAME[method], N=n_boot)
    subj = np.stack([d[0] for d in draws]).astype(np.int64)
    stim = np.stack([d[1] for d in draws]).astype(np.int64)
    return ref, subj, stim


def _check_tests(ours, ref, atol=1e-10):
    tt = t_test(ours)
    np.testing.assert_allclose(tt["mean"].values, ref.get_means(), rtol=0, atol=atol)
    np.testing.assert_allclose(tt["p_zero"].values, ref.test_zero(), rtol=0, atol=atol)
    np.testing.assert_allclose(tt["p_noise"].values, ref.test_noise(), rtol=0, atol=atol)
    off = ~np.eye(tt.sizes["model"], dtype=bool)
    np.testing.assert_allclose(tt["p"].values[off], ref.test_pairwise()[off], rtol=0, atol=atol)
    assert tt.attrs["dof"] == ref.dof
    return tt


@pytest.mark.parametrize("method", ["spearman", "tau_a", "pearson"])
def test_dual_bootstrap_equals_rsatoolbox_real_subset(monkeypatch, k92_subset, method):
    models, data = k92_subset
    n_boot = 12
    ref, subj, stim = _recorded_dual(monkeypatch, models, data, method, n_boot, seed=4)
    ours = bootstrap(models, data, method, over="dual", n_boot=n_boot, subject_indices=subj, stimulus_indices=stim)
    assert list(ours["factor"].values) == ["both", "subject", "stimulus"]
    # evaluations (N, model, 1, 1, factor) and ceilings (bound, N, 1, factor) of every sample and factor
    np.testing.assert_allclose(ours["dual_bootstrap"].values, ref.evaluations[:, :, 0, 0, :].transpose(0, 2, 1),
                               rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["dual_noise_ceiling"].values, ref.noise_ceiling[:, :, 0, :].transpose(1, 2, 0),
                               rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["variance"].values, ref.model_var, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["se"].values, ref.get_sem(), rtol=0, atol=1e-12)
    lo, hi = ref.get_ci(0.95)
    np.testing.assert_allclose(ours["ci_lower"].values, lo, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["ci_upper"].values, hi, rtol=0, atol=1e-10)
    _check_tests(ours, ref)


def test_dual_bootstrap_equals_rsatoolbox_all_92(monkeypatch, k92_brain, k92_models):
    brain, _ = k92_brain
    models, _ = k92_models
    data = brain.reshape(8, 92, 92)
    ref, subj, stim = _recorded_dual(monkeypatch, models, data, "spearman", 3, seed=0)
    ours = bootstrap(models, data, "spearman", over="dual", n_boot=3, subject_indices=subj, stimulus_indices=stim)
    np.testing.assert_allclose(ours["dual_bootstrap"].values, ref.evaluations[:, :, 0, 0, :].transpose(0, 2, 1),
                               rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["variance"].values, ref.model_var, rtol=0, atol=1e-12)
    _check_tests(ours, ref)


def test_corrected_variance_between_one_and_two_factor_variances(k92_subset):
    """The corrected variance is clipped to [scaled one-factor variances, two-factor variance] (Schütt et al.)."""
    models, data = k92_subset
    res = bootstrap(models, data, "spearman", over="dual", n_boot=60, seed=1)
    boot = res["dual_bootstrap"].where(res["valid"], drop=True)
    var = boot.var("boot", ddof=1)
    n_s, n_p = res.attrs["n_subjects"], res.attrs["n_stimuli"]
    v = res["variance"].values
    assert (v <= var.sel(factor="both").values + 1e-15).all()
    assert (v >= var.sel(factor="subject").values * n_s / (n_s - 1) - 1e-15).all()
    assert (v >= var.sel(factor="stimulus").values * n_p / (n_p - 1) - 1e-15).all()
    assert np.array_equal(res["bootstrap"].values, res["dual_bootstrap"].sel(factor="both").values, equal_nan=True)
    assert res.attrs["dof"] == min(n_s, n_p) - 1


# --------------------------------------------------------------------------- one-factor bootstraps


def _replay(seed, n_boot, n):
    np.random.seed(seed)
    return np.stack([np.random.randint(0, n, size=n) for _ in range(n_boot)])


@pytest.mark.parametrize("method", ["tau_a", "kendall"])
def test_tau_stimulus_bootstrap_equals_rsatoolbox(k92_subset, method):
    """Stimulus resampling of the tau methods (registry: resample='expand'), noise ceilings included."""
    assert METHODS[method].resample == "expand"
    models, data = k92_subset
    n_boot = 10
    np.random.seed(8)
    ref = _quiet(rsi.eval_bootstrap_pattern, _models(models), _rdms(data), method=RSA_NAME[method], N=n_boot)
    ours = bootstrap(models, data, method, n_boot=n_boot, stimulus_indices=_replay(8, n_boot, len(SUBSET)))
    np.testing.assert_allclose(ours["bootstrap"].values, ref.evaluations, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["noise_ceiling_boot"].values, np.asarray(ref.noise_ceiling).T, rtol=0, atol=1e-10)
    _check_tests(ours, ref)


def test_tau_a_per_rdm_and_duplicates():
    """Independent check: tau-a of the rebuilt resampled RDM (pairs of copies dropped) with scipy's formula."""
    from scipy.stats import kendalltau

    rng = np.random.default_rng(0)
    n = 9
    m = np.round(rng.random((2, n, n)) * 4)
    m = np.triu(m, 1) + np.triu(m, 1).transpose(0, 2, 1)
    draw = np.array([[0, 0, 1, 2, 2, 2, 5, 7, 8]])
    res = bootstrap(m[:1], m[1:], "tau_a", n_boot=1, stimulus_indices=draw, noise_ceiling=False, per_rdm=True)
    a, b = [], []
    for i in range(n):
        for j in range(i + 1, n):
            if draw[0, i] != draw[0, j]:
                a.append(m[0, draw[0, i], draw[0, j]])
                b.append(m[1, draw[0, i], draw[0, j]])
    a, b = np.asarray(a), np.asarray(b)
    size = len(a)
    s = sum(np.sign(a[p] - a[q]) * np.sign(b[p] - b[q]) for p in range(size) for q in range(p + 1, size))
    expected = s / (size * (size - 1) / 2)
    assert abs(kendalltau(a, b).statistic) <= 1  # scipy accepts the rebuilt vectors (sanity)
    np.testing.assert_allclose(res["bootstrap"].values[0, 0, 0], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("over", ["stimulus", "both"])
def test_t_test_equals_rsatoolbox_one_factor(k92_subset, over):
    models, data = k92_subset
    n_boot = 15
    n = len(SUBSET)
    np.random.seed(2)
    if over == "stimulus":
        ref = _quiet(rsi.eval_bootstrap_pattern, _models(models), _rdms(data), method="spearman", N=n_boot)
        ours = bootstrap(models, data, "spearman", n_boot=n_boot, stimulus_indices=_replay(2, n_boot, n))
    else:
        ref = _quiet(rsi.eval_bootstrap, _models(models), _rdms(data), method="spearman", N=n_boot)
        np.random.seed(2)  # rsatoolbox draws the subjects, then the stimuli, per sample
        subj, stim = zip(*[(np.random.randint(0, 8, size=8), np.random.randint(0, n, size=n)) for _ in range(n_boot)])
        ours = bootstrap(models, data, "spearman", over="both", n_boot=n_boot, subject_indices=np.stack(subj),
                         stimulus_indices=np.stack(stim))
    _check_tests(ours, ref)


def test_t_test_subject_bootstrap(k92_subset):
    """Tests vs 0 and between models equal eval_bootstrap_rdm's; the ceiling test keeps the ceiling's covariance."""
    from rsatoolbox.inference.result import Result

    models, data = k92_subset
    n_boot = 15
    np.random.seed(6)
    ref = _quiet(rsi.eval_bootstrap_rdm, _models(models), _rdms(data), method="spearman", N=n_boot)
    ours = bootstrap(models, data, "spearman", over="subject", n_boot=n_boot, subject_indices=_replay(6, n_boot, 8))
    tt = t_test(ours)
    np.testing.assert_allclose(tt["p_zero"].values, ref.test_zero(), rtol=0, atol=1e-10)
    off = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose(tt["p"].values[off], ref.test_pairwise()[off], rtol=0, atol=1e-10)
    # rsatoolbox's Result with the covariance of evaluations and bootstrapped ceilings
    cov = np.cov(np.concatenate([ref.evaluations.T, ref.noise_ceiling]))
    full = Result(ref.models, ref.evaluations, "spearman", "bootstrap_rdm", ref.noise_ceiling, variances=cov,
                  dof=ref.dof, n_rdm=8)
    np.testing.assert_allclose(tt["p_noise"].values, full.test_noise(), rtol=0, atol=1e-10)


def test_t_test_finds_model_differences_and_ceiling():
    """Synthetic: a model equal to the true RDM beats a noise model, reaches the ceiling, and is above 0."""
    rng = np.random.default_rng(3)
    n, k = 20, 6
    truth = rng.random((n, 4))
    true_rdm = np.linalg.norm(truth[:, None] - truth[None], axis=-1)
    data = np.stack([true_rdm + 0.15 * np.abs(rng.standard_normal((n, n))) for _ in range(k)])
    data = (data + data.transpose(0, 2, 1)) / 2
    for d in data:
        np.fill_diagonal(d, 0)
    noise = rng.random((n, n))
    noise = noise + noise.T
    np.fill_diagonal(noise, 0)
    res = bootstrap(np.stack([true_rdm, noise]), data, "spearman", over="dual", n_boot=200, seed=0)
    tt = t_test(res)
    assert tt["p_zero"].values[0] < 0.01 and tt["p"].values[0, 1] < 0.01
    assert tt["p_noise"].values[1] < 0.01  # the noise model is far below the ceiling
    assert tt["difference"].values[0, 1] > 0 and np.isnan(tt["p"].values[0, 0])


def test_bad_inputs(k92_subset):
    models, data = k92_subset
    with pytest.raises(DataModelError, match="bootstrap"):
        t_test(xr.Dataset())
    per = bootstrap(models, data, "spearman", n_boot=3, per_rdm=True, noise_ceiling=False)
    with pytest.raises(BadInputError, match="per_rdm"):
        t_test(per)
    with pytest.raises(BadInputError, match="single subject"):
        bootstrap(models, data[:1], over="dual")
    with pytest.raises(BadInputError, match="resampling stimuli supports"):
        bootstrap(models, data, "corr_cov", over="dual")
    with pytest.raises(BadInputError, match="per_rdm"):
        bootstrap(models, data, over="dual", per_rdm=True)
