"""bootstrap / paired_test / permutation_test / fdr: rsatoolbox equivalence, duplicates, coverage, tests."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from neurodecode.analysis import bootstrap, compare, fdr, paired_test, permutation_test
from neurodecode.errors import BadInputError, DataModelError

import rsatoolbox.rdm as rsr
import rsatoolbox.inference as rsi
import rsatoolbox.model as rsm

# ours -> rsatoolbox's spelling, for the methods that can be resampled over stimuli
RSA_NAME = {"spearman": "spearman", "pearson": "corr", "cosine": "cosine", "rho_a": "rho-a"}


def _sym(rng, k, n, levels=None):
    m = rng.random((k, n, n))
    if levels is not None:
        m = np.round(m * levels)
    m = np.triu(m, 1)
    return m + m.transpose(0, 2, 1)


def _models(mats):
    iu = np.triu_indices(mats.shape[1], 1)
    return [rsm.ModelFixed(f"m{i}", mats[i][iu]) for i in range(mats.shape[0])]


def _rdms(mats, **rdm_desc):
    iu = np.triu_indices(mats.shape[1], 1)
    return rsr.RDMs(mats[:, iu[0], iu[1]], rdm_descriptors=rdm_desc or None)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def small():
    """3 models (one with ties) and 4 data RDMs of 12 stimuli."""
    rng = np.random.default_rng(1)
    models = _sym(rng, 3, 12)
    models[1] = _sym(rng, 1, 12, levels=3)[0]
    data = _sym(rng, 4, 12)
    return models, data


# --------------------------------------------------------------------------- point estimates


@pytest.mark.parametrize("method", ["spearman", "pearson", "cosine", "rho_a", "kendall", "tau_a"])
def test_point_estimates_equal_eval_fixed_real_92(k92_brain, k92_models, method):
    brain, _ = k92_brain
    models, _ = k92_models
    data = brain.reshape(8, 92, 92)
    rname = {"kendall": "kendall", "tau_a": "tau-a"}.get(method, RSA_NAME.get(method))
    ref = _quiet(rsi.eval_fixed, _models(models), _rdms(data), method=rname)
    over = "stimulus" if method in RSA_NAME else "subject"
    ours = bootstrap(models, data, method, over=over, n_boot=2, noise_ceiling=False)
    np.testing.assert_allclose(ours["similarity"].values, ref.evaluations[0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours["estimate"].values, ref.evaluations[0].mean(-1), rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours["noise_ceiling"].values, np.asarray(ref.noise_ceiling).ravel(), rtol=0, atol=1e-8)


# --------------------------------------------------------------------------- identical resamples


def _replay_pattern_draws(seed, n_boot, n):
    np.random.seed(seed)
    return np.stack([np.random.randint(0, n, size=n) for _ in range(n_boot)])


@pytest.mark.parametrize("method", sorted(RSA_NAME))
def test_stimulus_bootstrap_equals_rsatoolbox_with_same_draws(small, method):
    models, data = small
    n_boot = 25
    np.random.seed(11)  # rsatoolbox draws with np.random.randint; replay the same draws for ours
    ref = _quiet(rsi.eval_bootstrap_pattern, _models(models), _rdms(data), method=RSA_NAME[method], N=n_boot)
    idx = _replay_pattern_draws(11, n_boot, 12)
    ours = bootstrap(models, data, method, n_boot=n_boot, stimulus_indices=idx)
    np.testing.assert_allclose(ours["bootstrap"].values, ref.evaluations, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["noise_ceiling_boot"].values, np.asarray(ref.noise_ceiling).T, rtol=0, atol=1e-10)
    assert np.array_equal(ours["valid"].values, np.isfinite(ref.evaluations[:, 0]))


def test_stimulus_bootstrap_equals_rsatoolbox_real_92(k92_brain, k92_models):
    brain, _ = k92_brain
    models, _ = k92_models
    data = brain.reshape(8, 92, 92)
    n_boot = 6
    np.random.seed(3)
    ref = _quiet(rsi.eval_bootstrap_pattern, _models(models), _rdms(data), method="spearman", N=n_boot)
    ours = bootstrap(models, data, "spearman", n_boot=n_boot, stimulus_indices=_replay_pattern_draws(3, n_boot, 92))
    np.testing.assert_allclose(ours["bootstrap"].values, ref.evaluations, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["noise_ceiling_boot"].values, np.asarray(ref.noise_ceiling).T, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["spearman", "pearson", "tau_a"])
def test_subject_bootstrap_equals_rsatoolbox_with_same_draws(small, method):
    models, data = small
    n_boot = 20
    rname = {"tau_a": "tau-a"}.get(method, RSA_NAME.get(method))
    np.random.seed(5)
    ref = _quiet(rsi.eval_bootstrap_rdm, _models(models), _rdms(data), method=rname, N=n_boot)
    idx = _replay_pattern_draws(5, n_boot, 4)
    ours = bootstrap(models, data, method, over="subject", n_boot=n_boot, subject_indices=idx)
    np.testing.assert_allclose(ours["bootstrap"].values, ref.evaluations, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["noise_ceiling_boot"].values, np.asarray(ref.noise_ceiling).T, rtol=0, atol=1e-10)


def test_subject_bootstrap_groups_sessions_real_92(k92_brain, k92_models):
    """4 subjects x 2 sessions: whole subjects are resampled (rsatoolbox's rdm_descriptor='subject')."""
    brain, subjects = k92_brain
    models, _ = k92_models
    data = brain.reshape(8, 92, 92)
    subj = np.repeat(subjects, 2)
    stack = xr.DataArray(data, dims=("rdm", "stimulus", "stimulus_"), coords={"subject": ("rdm", subj)},
                         attrs={"method": "correlation"})
    n_boot = 8
    np.random.seed(9)
    ref = _quiet(rsi.eval_bootstrap_rdm, _models(models), _rdms(data, subject=list(subj)), method="spearman",
                 N=n_boot, rdm_descriptor="subject")
    np.random.seed(9)
    sel = np.unique(subj)
    draws = np.stack([np.random.randint(0, len(sel), size=len(sel)) for _ in range(n_boot)])
    ours = bootstrap(models, stack, "spearman", over="subject", n_boot=n_boot, subject_indices=draws)
    assert ours.attrs["subject_dim"] == "subject" and ours.attrs["n_subjects"] == 4
    np.testing.assert_allclose(ours["bootstrap"].values, ref.evaluations, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["noise_ceiling_boot"].values, np.asarray(ref.noise_ceiling).T, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["spearman", "cosine"])
def test_both_bootstrap_equals_rsatoolbox_with_same_draws(small, method):
    models, data = small
    n_boot = 20
    np.random.seed(7)
    ref = _quiet(rsi.eval_bootstrap, _models(models), _rdms(data), method=RSA_NAME[method], N=n_boot)
    np.random.seed(7)  # rsatoolbox draws the subjects, then the stimuli, per sample
    subj, stim = [], []
    for _ in range(n_boot):
        subj.append(np.random.randint(0, 4, size=4))
        stim.append(np.random.randint(0, 12, size=12))
    ours = bootstrap(models, data, method, over="both", n_boot=n_boot, subject_indices=np.stack(subj),
                     stimulus_indices=np.stack(stim))
    np.testing.assert_allclose(ours["bootstrap"].values, ref.evaluations, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["noise_ceiling_boot"].values, np.asarray(ref.noise_ceiling).T, rtol=0, atol=1e-10)


def test_distribution_close_to_rsatoolbox_own_draws(small):
    """With independent random draws the two bootstrap distributions agree in mean and SE."""
    models, data = small
    n_boot = 300
    np.random.seed(0)
    ref = _quiet(rsi.eval_bootstrap_pattern, _models(models), _rdms(data), method="spearman", N=n_boot,
                 boot_noise_ceil=False)
    ours = bootstrap(models, data, "spearman", n_boot=n_boot, seed=123, noise_ceiling=False)
    ref_ev = ref.evaluations[np.isfinite(ref.evaluations[:, 0])]
    se_ref = ref_ev.std(0, ddof=1)
    se_ours = ours["se"].values
    np.testing.assert_allclose(se_ours, se_ref, rtol=0.2)
    # means differ by less than 4 standard errors of the difference of two means
    diff = np.abs(ours["bootstrap"].mean("boot").values - ref_ev.mean(0))
    assert (diff < 4 * np.sqrt(2 / n_boot) * se_ref).all()


# --------------------------------------------------------------------------- duplicates, validity


def test_duplicated_stimuli_drop_pairs_of_copies():
    """Independent check: build the resampled RDM, drop the pairs of copies, scipy's spearman."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(4)
    model, data = _sym(rng, 1, 10)[0], _sym(rng, 1, 10)[0]
    draw = np.array([0, 0, 0, 3, 3, 5, 6, 7, 9, 9])
    res = bootstrap(model, data, "spearman", n_boot=1, stimulus_indices=draw[None], noise_ceiling=False)
    a, b = np.triu_indices(10, 1)
    keep = draw[a] != draw[b]
    x = model[draw[a], draw[b]][keep]
    y = data[draw[a], draw[b]][keep]
    assert keep.sum() == 45 - 3 - 1 - 1  # pairs among the 3 copies of 0, and of 3 and 9
    assert res["bootstrap"].values[0, 0] == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_samples_with_fewer_than_three_stimuli_are_invalid():
    rng = np.random.default_rng(2)
    model, data = _sym(rng, 1, 5)[0], _sym(rng, 2, 5)
    draws = np.array([[0, 0, 0, 1, 1], [0, 1, 2, 2, 2], [4, 3, 2, 1, 0]])
    res = bootstrap(model, data, "spearman", n_boot=3, stimulus_indices=draws)
    assert res["valid"].values.tolist() == [False, True, True]
    assert np.isnan(res["bootstrap"].values[0]).all() and np.isfinite(res["bootstrap"].values[1:]).all()
    assert res.attrs["n_valid"] == 2
    # the identity resample reproduces the point estimate
    assert res["bootstrap"].values[2, 0] == pytest.approx(res["estimate"].values[0], abs=1e-12)


def test_per_rdm_and_labels(small):
    models, data = small
    m = xr.DataArray(models, dims=("rdm", "stimulus", "stimulus_"), coords={"rdm": ["a", "b", "c"]},
                     attrs={"method": "x"})
    d = xr.DataArray(data, dims=("rdm", "stimulus", "stimulus_"),
                     coords={"rdm": ["V1", "V2", "V4", "IT"], "region": ("rdm", ["V1", "V2", "V4", "IT"])},
                     attrs={"method": "x"})
    res = bootstrap(m, d, "spearman", n_boot=50, per_rdm=True)
    assert res["bootstrap"].dims == ("boot", "model", "data") and res["estimate"].dims == ("model", "data")
    assert list(res["model"].values) == ["a", "b", "c"] and list(res["region"].values) == ["V1", "V2", "V4", "IT"]
    np.testing.assert_allclose(res["estimate"].values, compare(m, d, "spearman").values, atol=1e-12)
    assert (res["ci_lower"] <= res["ci_upper"]).all()


# --------------------------------------------------------------------------- coverage


def test_ci_coverage_stimulus_bootstrap_synthetic():
    """Stimuli drawn from a population with a known population RDM correlation: 95% CIs cover it."""
    from scipy.spatial.distance import pdist, squareform
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    mix = rng.normal(size=(5, 8))

    def draw(n):
        z = rng.normal(size=(n, 5))
        return z, np.tanh(z @ mix) + 0.8 * rng.normal(size=(n, 8))

    zm, zd = draw(2500)
    truth = spearmanr(pdist(zm), pdist(zd)).statistic  # population value (2500 stimuli, 3.1M pairs)
    hits, estimates, ses = 0, [], []
    for rep in range(80):
        zm, zd = draw(40)
        res = bootstrap(squareform(pdist(zm)), squareform(pdist(zd)), "spearman", n_boot=300, seed=rep,
                        noise_ceiling=False)
        hits += float(res["ci_lower"][0]) <= truth <= float(res["ci_upper"][0])
        estimates.append(float(res["estimate"][0]))
        ses.append(float(res["se"][0]))
    coverage = hits / 80
    assert 0.88 <= coverage <= 1.0
    # the stimulus bootstrap is known to be conservative (Schuett et al. 2023): SE >= the true spread
    assert np.mean(ses) >= 0.9 * np.std(estimates)


def test_ci_coverage_subject_bootstrap_synthetic():
    """Subjects = true RDM + subject noise; the CI of the mean similarity covers its expectation."""
    rng = np.random.default_rng(1)
    n = 15
    true = _sym(rng, 1, n)[0]
    noise_sd = 0.35

    def subjects(k):
        e = rng.normal(scale=noise_sd, size=(k, n, n))
        e = np.triu(e, 1)
        return true[None] + e + e.transpose(0, 2, 1)

    population = compare(true, subjects(4000), "pearson").values[0].mean()
    hits = 0
    for rep in range(60):
        res = bootstrap(true, subjects(20), "pearson", over="subject", n_boot=300, seed=rep, noise_ceiling=False)
        hits += float(res["ci_lower"][0]) <= population <= float(res["ci_upper"][0])
    assert 0.85 <= hits / 60 <= 1.0


# --------------------------------------------------------------------------- paired and permutation tests


def test_paired_test_finds_the_better_model():
    rng = np.random.default_rng(3)
    n = 30
    truth = _sym(rng, 1, n)[0]
    good = truth + 0.1 * _sym(rng, 1, n)[0]
    bad = truth + 1.5 * _sym(rng, 1, n)[0]
    data = np.stack([truth + 0.5 * _sym(rng, 1, n)[0] for _ in range(5)])
    models = xr.DataArray(np.stack([good, bad]), dims=("rdm", "stimulus", "stimulus_"),
                          coords={"rdm": ["good", "bad"]}, attrs={"method": "x"})
    res = bootstrap(models, data, "spearman", over="both", n_boot=400)
    pt = paired_test(res)
    assert pt["difference"].sel(model="good", model_="bad") > 0
    assert pt["p"].sel(model="good", model_="bad") < 0.01
    assert pt["ci_lower"].sel(model="good", model_="bad") > 0
    # antisymmetric differences, symmetric p-values, NaN diagonal
    np.testing.assert_allclose(pt["difference"].values, -pt["difference"].values.T)
    np.testing.assert_allclose(pt["p"].values, pt["p"].values.T)
    assert np.isnan(np.diag(pt["p"].values)).all()


def test_paired_test_identical_models_not_different(small):
    models, data = small
    twins = np.stack([models[0], models[0], models[2]])
    pt = paired_test(bootstrap(twins, data, "spearman", n_boot=200))
    assert float(pt["p"][0, 1]) == 1.0 and float(pt["difference"][0, 1]) == 0.0


def test_permutation_test_true_and_null_models():
    rng = np.random.default_rng(6)
    n = 25
    truth = _sym(rng, 1, n)[0]
    data = np.stack([truth + 0.6 * _sym(rng, 1, n)[0] for _ in range(3)])
    models = np.stack([truth, _sym(rng, 1, n)[0]])
    res = permutation_test(models, data, "spearman", n_perm=999, seed=1)
    assert res["p"].values[0] == pytest.approx(1 / 1000)
    assert res["p"].values[1] > 0.01
    assert res["null"].shape == (999, 2)
    # null is centred on zero for a random relabelling
    assert abs(float(res["null"].mean())) < 0.02


@pytest.mark.parametrize("method", ["spearman", "pearson", "cosine", "rho_a", "tau_a"])
def test_permutation_null_equals_compare_on_permuted_rdms(small, method):
    """The closed-form (gathered) null equals compare() on explicitly permuted model RDMs."""
    models, data = small
    rng = np.random.default_rng(8)
    perms = np.stack([rng.permutation(12) for _ in range(5)])
    res = permutation_test(models, data, method, permutations=perms, per_rdm=True)
    for i, p in enumerate(perms):
        permuted = models[:, p][:, :, p]
        np.testing.assert_allclose(res["null"].values[i], compare(permuted, data, method).values, atol=1e-10)


# --------------------------------------------------------------------------- FDR


@pytest.mark.parametrize("method", ["bh", "by"])
def test_fdr_matches_scipy(method):
    from scipy.stats import false_discovery_control

    try:  # statsmodels is not a dependency; compare with it too when present
        from statsmodels.stats.multitest import fdrcorrection
    except ImportError:
        fdrcorrection = None
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 0.01, 10), rng.uniform(0, 1, 40), [0.03, 0.03]])
    reject, adj = fdr(p, 0.05, method=method)
    ref = false_discovery_control(p, method=method)
    np.testing.assert_allclose(adj, ref, rtol=0, atol=1e-12)
    assert np.array_equal(reject, ref <= 0.05)
    if fdrcorrection is not None:
        r2, a2 = fdrcorrection(p, 0.05, method="indep" if method == "bh" else "negcorr")
        np.testing.assert_allclose(adj, a2, atol=1e-12)
        assert np.array_equal(reject, r2)


def test_fdr_keeps_dataarray_labels_and_refuses_nan():
    p = xr.DataArray([[0.001, 0.2], [0.04, 0.5]], dims=("model", "region"),
                     coords={"model": ["a", "b"], "region": ["V1", "IT"]})
    reject, adj = fdr(p)
    assert reject.dims == ("model", "region") and list(adj["region"].values) == ["V1", "IT"]
    assert bool(reject.sel(model="a", region="V1")) and not bool(reject.sel(model="b", region="IT"))
    with pytest.raises(BadInputError, match="NaN"):
        fdr([0.01, np.nan])


# --------------------------------------------------------------------------- errors


def test_bad_inputs(small):
    models, data = small
    with pytest.raises(BadInputError, match="resampling stimuli supports"):
        bootstrap(models, data, "corr_cov")
    with pytest.raises(BadInputError, match="over must be"):
        bootstrap(models, data, over="trials")
    with pytest.raises(BadInputError, match="n_boot"):
        bootstrap(models, data, n_boot=0)
    with pytest.raises(BadInputError, match="per_rdm"):
        bootstrap(models, data, over="subject", per_rdm=True)
    with pytest.raises(BadInputError, match="stimulus_indices"):
        bootstrap(models, data, n_boot=2, stimulus_indices=np.zeros((2, 5), dtype=int))
    with pytest.raises(BadInputError, match="single subject"):
        bootstrap(models, data[:1], over="subject")
    with pytest.raises(DataModelError, match="different numbers of stimuli"):
        bootstrap(models, data[:, :10, :10])
    with pytest.raises(DataModelError):
        paired_test(xr.Dataset())
    with pytest.raises(BadInputError, match="permutation"):
        permutation_test(models, data, permutations=np.zeros((2, 12), dtype=int))


def test_inputs_not_modified(small):
    models, data = small
    m0, d0 = models.copy(), data.copy()
    bootstrap(models, data, n_boot=20, over="both")
    permutation_test(models, data, n_perm=20)
    assert np.array_equal(models, m0) and np.array_equal(data, d0)


def test_gpu_matches_cpu(small):
    import torch
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    models, data = small
    cpu = bootstrap(models, data, n_boot=50)
    gpu = bootstrap(models, data, n_boot=50, device="cuda")
    np.testing.assert_allclose(gpu["bootstrap"].values, cpu["bootstrap"].values, atol=1e-10)


def test_masked_pairs_equal_rsatoolbox(small):
    """NaN (missing) dissimilarities shared by all RDMs are left out, as rsatoolbox's compare does."""
    models, data = small
    models, data = models.copy(), data.copy()
    for arr in (models, data):
        arr[:, 2, 5] = arr[:, 5, 2] = np.nan
        arr[:, 0, 7] = arr[:, 7, 0] = np.nan
    n_boot = 15
    np.random.seed(21)
    ref = _quiet(rsi.eval_bootstrap_pattern, _models(models), _rdms(data), method="spearman", N=n_boot)
    ours = bootstrap(models, data, "spearman", n_boot=n_boot, stimulus_indices=_replay_pattern_draws(21, n_boot, 12))
    np.testing.assert_allclose(ours["bootstrap"].values, ref.evaluations, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["noise_ceiling_boot"].values, np.asarray(ref.noise_ceiling).T, rtol=0, atol=1e-10)


def test_shared_coord_names_are_suffixed():
    from neurodecode.analysis import rdm

    rng = np.random.default_rng(13)
    layers = rdm({"conv1": rng.normal(size=(10, 30)), "fc": rng.normal(size=(10, 20))})
    brain = rdm({"V1": rng.normal(size=(10, 40)), "IT": rng.normal(size=(10, 40))})
    res = bootstrap(layers, brain, n_boot=20, per_rdm=True)
    assert list(res["name_model"].values) == ["conv1", "fc"] and list(res["name_data"].values) == ["V1", "IT"]
    assert res["name_model"].dims == ("model",) and res["name_data"].dims == ("data",)
    perm = permutation_test(layers, brain, n_perm=10)
    assert list(perm["name_data"].values) == ["V1", "IT"]
