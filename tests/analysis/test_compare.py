"""compare(): equivalence with rsatoolbox.rdm.compare (1e-8), on random and on the real 92-image RDMs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurodecode.analysis import compare, from_rsatoolbox, rdm, to_rsatoolbox
from neurodecode.errors import BadInputError, DataModelError

import rsatoolbox.rdm as rsr

TOL = 1e-8
# ours -> rsatoolbox's method name
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


def _sym(rng, k, n, levels=None):
    m = rng.random((k, n, n))
    if levels is not None:
        m = np.round(m * levels)
    m = np.triu(m, 1)
    return m + m.transpose(0, 2, 1)


@pytest.fixture(scope="module")
def random_rdms():
    rng = np.random.default_rng(7)
    a = _sym(rng, 6, 15)
    a[1] = _sym(rng, 1, 15, levels=3)[0]  # heavy ties
    b = _sym(rng, 4, 15)
    b[0] = _sym(rng, 1, 15, levels=1)[0]  # binary model
    b[2] = np.round(b[2], 1)  # a few ties
    return a, b


@pytest.mark.parametrize("method", sorted(METHODS))
def test_matches_rsatoolbox_random(random_rdms, method):
    a, b = random_rdms
    ours = compare(a, b, method)
    ref = rsr.compare(rsr.RDMs(a), rsr.RDMs(b), METHODS[method])
    assert ours.dims == ("rdm_a", "rdm_b") and ours.shape == (6, 4)
    np.testing.assert_allclose(ours.values, ref, rtol=0, atol=TOL)
    assert ours.attrs["method"] == method
    # rsatoolbox spellings are accepted
    np.testing.assert_array_equal(compare(a, b, METHODS[method]).values, ours.values)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_matches_rsatoolbox_real_92_images(k92_brain, k92_models, method):
    brain, subjects = k92_brain
    models, names = k92_models
    data = brain.reshape(8, 92, 92)
    ours = compare(data, models, method)
    ref = rsr.compare(rsr.RDMs(data), rsr.RDMs(models), METHODS[method])
    np.testing.assert_allclose(ours.values, ref, rtol=0, atol=TOL)


def test_real_values_against_scipy(k92_brain, k92_models, k92_supplement):
    """Independent checks with scipy.stats on the condensed vectors (not via rsatoolbox)."""
    from scipy.stats import kendalltau, pearsonr, spearmanr

    brain, _ = k92_brain
    models, names = k92_models
    iu = np.triu_indices(92, 1)
    x, y = brain[0, 0][iu], models[names.index("animacy")][iu]
    assert compare(brain[0, 0], models[names.index("animacy")], "spearman").item() == pytest.approx(
        spearmanr(x, y).statistic, abs=1e-12
    )
    assert compare(brain[0, 0], models[names.index("animacy")], "kendall").item() == pytest.approx(
        kendalltau(x, y).statistic, abs=1e-12
    )
    assert compare(brain[0, 0], models[names.index("animacy")], "pearson").item() == pytest.approx(
        pearsonr(x, y).statistic, abs=1e-12
    )
    # SOURCE.txt: Spearman(mIT, hIT) of the fig. 1 condensed RDMs = 0.439
    _, _, vectors = k92_supplement
    from scipy.spatial.distance import squareform

    mit = squareform(vectors["mIT_674neurons"])
    hit = squareform(vectors["hITvisStim_316vx"])
    assert compare(mit, hit, "spearman").item() == pytest.approx(0.439, abs=5e-4)


def test_tau_a_definition_with_ties():
    # 4 dissimilarities of a 3-stimulus RDM... use n=4 (6 dissimilarities) and count by hand
    x = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 1.0])
    from scipy.spatial.distance import squareform

    s = sum(
        np.sign(x[p] - x[q]) * np.sign(y[p] - y[q]) for p in range(6) for q in range(p + 1, 6)
    )
    got = compare(squareform(x), squareform(y), "tau_a").item()
    assert got == pytest.approx(s / 15, abs=1e-15)


def test_kendall_cpu_kernel_equals_torch_sign_products(random_rdms, monkeypatch):
    import torch

    from neurodecode.analysis import _kendall

    a, b = random_rdms
    iu = np.triu_indices(15, 1)
    va, vb = a[:, iu[0], iu[1]], b[:, iu[0], iu[1]]
    s_fast = _kendall.s_numba(va, vb)
    s_sign = _kendall.s_torch(torch.tensor(va), torch.tensor(vb), max_elements=997)  # many chunks
    np.testing.assert_array_equal(s_fast, s_sign)
    # without numba compare() falls back to the torch path and gives the same numbers
    expected = compare(a, b, "tau_a").values
    monkeypatch.setattr(_kendall, "s_numba", lambda *args: None)
    np.testing.assert_array_equal(compare(a, b, "tau_a").values, expected)


@pytest.mark.skipif(
    not __import__("importlib").util.find_spec("torch") or not __import__("torch").cuda.is_available(),
    reason="no CUDA device",
)
def test_cuda_matches_cpu(random_rdms):  # pragma: no cover - needs a GPU
    a, b = random_rdms
    for method in METHODS:
        np.testing.assert_allclose(
            compare(a, b, method, device="cuda").values, compare(a, b, method).values, atol=1e-10
        )


def test_input_forms_and_coords():
    rng = np.random.default_rng(3)
    x = xr.DataArray(
        rng.normal(size=(3, 10, 25)),
        dims=("subject", "stimulus", "voxel"),
        coords={"subject": ["s1", "s2", "s3"], "stimulus": list("abcdefghij")},
    )
    data = rdm(x)
    stim = {"stimulus": list("abcdefghij")}
    models = rdm(
        {
            "pixels": xr.DataArray(rng.normal(size=(10, 40)), dims=("stimulus", "px"), coords=stim),
            "labels": xr.DataArray(rng.normal(size=(10, 5)), dims=("stimulus", "lab"), coords=stim),
        },
        "euclidean",
    )
    sim = compare(data, models)
    assert sim.dims == ("rdm_a", "rdm_b")
    assert list(sim.rdm_a.values) == ["s1", "s2", "s3"]
    assert list(sim.rdm_b.values) == ["pixels", "labels"]
    assert list(sim.subject_a.values) == ["s1", "s2", "s3"]
    assert list(sim.name_b.values) == ["pixels", "labels"]
    assert sim.attrs["rdm_method_a"] == "correlation" and sim.attrs["rdm_method_b"] == "euclidean"
    # the same numbers from numpy, a single 2-D RDM, and rsatoolbox RDMs
    np.testing.assert_allclose(compare(data.values, models.values).values, sim.values, atol=1e-15)
    single = compare(data.isel(rdm=1), models)
    assert single.shape == (1, 2)
    np.testing.assert_allclose(single.values[0], sim.values[1], atol=1e-15)
    rs = compare(to_rsatoolbox(data), to_rsatoolbox(models))
    np.testing.assert_allclose(rs.values, sim.values, atol=1e-15)
    assert list(rs.rdm_a.values) == ["s1", "s2", "s3"]


def test_rsatoolbox_round_trip():
    rng = np.random.default_rng(4)
    x = xr.DataArray(
        rng.normal(size=(2, 6, 9)),
        dims=("subject", "stimulus", "voxel"),
        coords={"subject": ["s1", "s2"], "stimulus": list("uvwxyz")},
    )
    data = rdm(x, "euclidean").assign_coords(category=("stimulus", list("aabbcc")))
    rs = to_rsatoolbox(data)
    assert rs.n_rdm == 2 and rs.n_cond == 6
    assert list(rs.rdm_descriptors["subject"]) == ["s1", "s2"]
    assert list(rs.pattern_descriptors["stimulus"]) == list("uvwxyz")
    np.testing.assert_allclose(rs.get_matrices(), data.values, atol=0)
    back = from_rsatoolbox(rs)
    assert back.dims == ("rdm", "stimulus", "stimulus_")
    np.testing.assert_array_equal(back.values, data.values)
    assert list(back.rdm.values) == ["s1", "s2"] and list(back.subject.values) == ["s1", "s2"]
    assert list(back.stimulus.values) == list("uvwxyz") and list(back.category.values) == list("aabbcc")
    assert back.attrs["method"] == "euclidean"
    # an rsatoolbox-made stack: 'index' labels, 'conds' stimuli
    made = rsr.RDMs(data.values, pattern_descriptors={"conds": list("UVWXYZ")}, dissimilarity_measure="corr")
    da = from_rsatoolbox(made)
    assert list(da.rdm.values) == [0, 1] and list(da.stimulus.values) == list("UVWXYZ")
    with pytest.raises(DataModelError):
        from_rsatoolbox(data)


def test_nan_masked_pairs_like_rsatoolbox(random_rdms):
    a, b = (m.copy() for m in random_rdms)
    for m in (a, b):
        m[:, 2, 5] = m[:, 5, 2] = np.nan
        m[:, 0, 14] = m[:, 14, 0] = np.nan
    for method in ("spearman", "pearson", "tau_a", "kendall"):
        ours = compare(a, b, method)
        ref = rsr.compare(rsr.RDMs(a), rsr.RDMs(b), METHODS[method])
        np.testing.assert_allclose(ours.values, ref, rtol=0, atol=TOL)
        assert ours.attrs["n_pairs"] == 105 - 2
    a[0, 3, 4] = a[0, 4, 3] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        compare(a, b)
    with pytest.raises(BadInputError, match="complete"):
        compare(b, b, "corr_cov")


def test_sigma_k(random_rdms):
    a, b = random_rdms
    rng = np.random.default_rng(5)
    var = rng.random(15) + 0.5
    for method in ("corr_cov", "cosine_cov"):
        ref = rsr.compare(rsr.RDMs(a), rsr.RDMs(b), METHODS[method], sigma_k=var)
        np.testing.assert_allclose(compare(a, b, method, sigma_k=var).values, ref, rtol=0, atol=TOL)
    cov = rng.normal(size=(15, 15))
    cov = cov @ cov.T / 15 + np.eye(15)
    # rsatoolbox solves the 2-D case iteratively (conjugate gradients, rtol 1e-5): agree to ~1e-6
    for method in ("corr_cov", "cosine_cov"):
        ref = rsr.compare(rsr.RDMs(a), rsr.RDMs(b), METHODS[method], sigma_k=cov)
        np.testing.assert_allclose(compare(a, b, method, sigma_k=cov).values, ref, rtol=0, atol=1e-4)
    with pytest.raises(BadInputError, match="sigma_k"):
        compare(a, b, "spearman", sigma_k=var)
    with pytest.raises(BadInputError, match="sigma_k"):
        compare(a, b, "cosine_cov", sigma_k=np.ones(4))


def test_errors():
    rng = np.random.default_rng(6)
    a = _sym(rng, 2, 8)
    with pytest.raises(BadInputError, match="unknown method"):
        compare(a, a, "mutual_information")
    with pytest.raises(DataModelError, match="square"):
        compare(rng.random((3, 8, 7)), a)
    with pytest.raises(DataModelError, match="different numbers of stimuli"):
        compare(a, _sym(rng, 2, 9))
    asym = a.copy()
    asym[0, 1, 2] += 1.0
    with pytest.raises(BadInputError, match="not symmetric"):
        compare(asym, a)
    inf = a.copy()
    inf[1, 2, 3] = inf[1, 3, 2] = np.inf
    with pytest.raises(BadInputError, match="inf"):
        compare(inf, a)
    wrong = xr.DataArray(a, dims=("subject", "row", "col"))
    with pytest.raises(DataModelError, match="stimulus"):
        compare(wrong, a)
    s1 = xr.DataArray(a, dims=("rdm", "stimulus", "stimulus_"), coords={"stimulus": list("abcdefgh"), "stimulus_": list("abcdefgh")})
    s2 = s1.assign_coords(stimulus=list("hgfedcba"), stimulus_=list("hgfedcba"))
    with pytest.raises(DataModelError, match="different stimuli"):
        compare(s1, s2)
    with pytest.raises(DataModelError):
        compare(xr.Dataset({"x": s1}), s1)


def test_inputs_not_mutated(random_rdms):
    a, b = random_rdms
    a0, b0 = a.copy(), b.copy()
    da = xr.DataArray(a.copy(), dims=("rdm", "stimulus", "stimulus_"), attrs={"method": "correlation"})
    da0 = da.copy(deep=True)
    rs = rsr.RDMs(b.copy())
    rs0 = rs.get_vectors().copy()
    for method in METHODS:
        compare(a, b, method)
        compare(da, rs, method)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    xr.testing.assert_identical(da, da0)
    np.testing.assert_array_equal(rs.get_vectors(), rs0)
