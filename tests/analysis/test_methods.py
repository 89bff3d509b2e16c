"""The comparison-method registry: properties every entry claims, checked on fixed inputs, and its consumers.

Parametrised over ``neurodecode.analysis.METHODS``: identity gives 1 (similarity) or 0
(distance), symmetry where declared, every declared invariance (orthogonal transform,
isotropic scaling, translation, unit permutation, invertible linear map, monotonic /
affine transforms of dissimilarities), and an error listing the registry for unknown
names in every consumer.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurodecode.analysis import (
    METHODS,
    bootstrap,
    compare,
    noise_ceiling,
    permutation_test,
    register,
    similarity,
    sweep,
)
from neurodecode.analysis._methods import POOLS, Method, VectorForm, _unregister, get_method
from neurodecode.analysis.compare import inner_kernel
from neurodecode.errors import BadInputError

ACT = [n for n, m in METHODS.items() if m.compares == "activations"]
RDM = [n for n, m in METHODS.items() if m.compares == "rdm"]
# options that make the small fixed inputs well posed (k-NN: k well below n)
OPTS = {"mutual_knn": {"k": 5}, "cknna": {"k": 8}, "shape": {"alpha": 0.5}}


def _features(seed: int = 0, n: int = 40, p: int = 12, q: int = 9):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = x @ rng.normal(size=(p, q)) + 0.8 * rng.normal(size=(n, q))
    return x, y


def _samples(seed: int = 0, n: int = 8, r: int = 6, p: int = 3):
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=(n, 1, p)) * 2
    x = mean + rng.normal(size=(n, r, p)) * rng.uniform(0.5, 1.5, size=(n, 1, p))
    y = mean @ rng.normal(size=(p, p)) + rng.normal(size=(n, r, p))
    return x, y


def _pair(name):
    return _samples() if METHODS[name].inputs == "samples" else _features()


def _transform(kind: str, y: np.ndarray, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = y.shape[-1]
    if kind == "orthogonal":
        return y @ np.linalg.qr(rng.normal(size=(q, q)))[0]
    if kind == "isotropic_scaling":
        return 3.7 * y
    if kind == "translation":
        return y + rng.normal(size=q) * 5
    if kind == "permutation":
        return y[..., rng.permutation(q)]
    if kind == "invertible_linear":
        return y @ (rng.normal(size=(q, q)) + 3 * np.eye(q))
    raise AssertionError(kind)


# --------------------------------------------------------------------------- declarations


@pytest.mark.parametrize("name", list(METHODS))
def test_entry_is_complete(name):
    m = METHODS[name]
    assert m.name == name and m.kind in ("similarity", "distance") and callable(m.kernel)
    assert m.summary and m.label and m.axis_label == m.label
    assert get_method(name) is m
    for alias in m.aliases:
        assert get_method(alias) is m
    if m.compares == "rdm":
        assert m.pool in POOLS and m.inputs == "rdm"
        assert (m.resample == "pair_weights") == (m.vector is not None)
    else:
        assert m.pool is None and callable(m.prepare) and callable(m.pair)
        assert m.inputs in ("features", "samples")


def test_public_names_are_in_the_registry():
    for name in ("linear_cka", "debiased_cka", "rbf_cka", "procrustes", "shape", "svcca", "pwcca", "mutual_knn",
                 "cknna", "gaussian_shape", "spearman", "pearson", "kendall", "tau_a", "cosine", "cosine_cov",
                 "corr_cov", "rho_a"):
        assert name in METHODS
    assert METHODS["procrustes"].kind == "distance" and METHODS["debiased_cka"].kind == "similarity"


# --------------------------------------------------------------------------- activation methods


@pytest.mark.parametrize("name", ACT)
def test_identity(name):
    x, _ = _pair(name)
    val = similarity(x, x, name, **OPTS.get(name, {}))
    target = 1.0 if METHODS[name].kind == "similarity" else 0.0
    assert val == pytest.approx(target, abs=1e-6)


@pytest.mark.parametrize("name", ACT)
def test_symmetry_as_declared(name):
    x, y = _pair(name)
    a = similarity(x, y, name, **OPTS.get(name, {}))
    b = similarity(y, x, name, **OPTS.get(name, {}))
    if METHODS[name].symmetric:
        assert a == pytest.approx(b, abs=1e-6)
    else:
        assert abs(a - b) > 1e-6  # pwcca weights by x, cknna's k-NN mask is directed: declared asymmetric


@pytest.mark.parametrize(
    "name,kind", [(n, k) for n in ACT for k in METHODS[n].invariances]
)
def test_declared_invariances(name, kind):
    x, y = _pair(name)
    opts = OPTS.get(name, {})
    ref = similarity(x, y, name, **opts)
    val = similarity(x, _transform(kind, y), name, **opts)
    assert val == pytest.approx(ref, abs=1e-5)
    assert similarity(_transform(kind, x, seed=7), y, name, **opts) == pytest.approx(ref, abs=1e-5)


def test_unrelated_representations_score_low():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 30)), rng.normal(size=(200, 40))
    assert abs(similarity(x, y, "debiased_cka")) < 0.05
    assert similarity(x, y, "linear_cka") > 0.1  # the biased estimator is inflated at p ~ n / 6
    assert similarity(x, y, "procrustes") > 1.0


# --------------------------------------------------------------------------- RDM methods


def _rdm_vectors(seed=0, k=3, n=12):
    rng = np.random.default_rng(seed)
    pats = rng.normal(size=(k, n, 6))
    d = np.stack([np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1)) for p in pats])
    return d


@pytest.mark.parametrize("name", RDM)
def test_rdm_identity_and_symmetry(name):
    d = _rdm_vectors()
    s = compare(d, d, name).values
    assert np.allclose(np.diag(s), 1.0)
    assert np.allclose(s, s.T)


@pytest.mark.parametrize("name", RDM)
def test_rdm_declared_invariances(name):
    d = _rdm_vectors()
    ref = compare(d, d[:1], name).values
    for kind in METHODS[name].invariances:
        if kind == "monotonic":
            t = np.expm1(d)
        elif kind == "affine":
            t = 2.5 * d + 1.0 * (1 - np.eye(d.shape[1]))
        elif kind == "isotropic_scaling":
            t = 2.5 * d
        else:
            raise AssertionError(kind)
        np.testing.assert_allclose(compare(t, d[:1], name).values, ref, atol=1e-10)


def test_cosine_cov_on_correlation_rdms_is_linear_cka_of_row_standardised_features():
    """The documented identity: cosine_cov(correlation RDMs) == linear CKA(row-z-scored patterns)."""
    from neurodecode.analysis import rdm

    x, y = _features(seed=4, n=25, p=30, q=18)
    rdms = rdm(xr.DataArray(np.stack([x[:, :18], y]), dims=("rdm", "stimulus", "feature")), "correlation")

    def z(a):
        return (a - a.mean(1, keepdims=True)) / a.std(1, keepdims=True)

    via_rdm = float(compare(rdms.isel(rdm=[0]), rdms.isel(rdm=[1]), "cosine_cov").values[0, 0])
    assert via_rdm == pytest.approx(similarity(z(x[:, :18]), z(y), "linear_cka"), abs=1e-10)


# --------------------------------------------------------------------------- unknown names, wrong kinds


def test_unknown_name_lists_the_registry_in_every_consumer():
    d = _rdm_vectors()
    calls = [
        lambda: compare(d, d, "spearmann"),
        lambda: noise_ceiling(d, "spearmann"),  # used to fall back to rank pooling silently
        lambda: bootstrap(d, d, "spearmann", n_boot=2),
        lambda: permutation_test(d, d, "spearmann", n_perm=2),
        lambda: sweep(model_rdms=d, data_rdms=d, lows=[0.0], ups=[1.0], method="spearmann"),
        lambda: similarity(np.eye(5), np.eye(5), "spearmann"),
    ]
    for call in calls:
        with pytest.raises(BadInputError, match="unknown method 'spearmann'.*debiased_cka"):
            call()


def test_methods_of_the_wrong_kind_are_refused():
    d = _rdm_vectors()
    with pytest.raises(BadInputError, match="compares activations.*similarity"):
        compare(d, d, "debiased_cka")
    with pytest.raises(BadInputError, match="compares activations"):
        noise_ceiling(d, "procrustes")
    with pytest.raises(BadInputError, match="compares rdm"):
        similarity(np.eye(5), np.eye(5), "spearman")
    with pytest.raises(BadInputError, match="takes no option"):
        similarity(np.eye(5), np.eye(5), "linear_cka", alpha=0.5)
    with pytest.raises(BadInputError, match="resampling stimuli supports"):
        bootstrap(d, d, "corr_cov", n_boot=2)


# --------------------------------------------------------------------------- the consumers read the registry


@pytest.fixture
def plus_method():
    """A registered RDM method: Pearson correlation under a new name, declared like pearson."""
    m = register(Method(
        name="test_pearson_copy", compares="rdm", kind="similarity", kernel=inner_kernel(False, True, "unit"),
        vector=VectorForm(rank=False, centre=True), pool="zscore", resample="pair_weights",
        summary="a copy of pearson for the registry tests",
    ))
    yield m
    _unregister(m.name)


def test_a_registered_method_reaches_every_consumer(plus_method):
    d = _rdm_vectors(k=4)
    np.testing.assert_array_equal(compare(d, d, "test_pearson_copy").values, compare(d, d, "pearson").values)
    assert noise_ceiling(d, "test_pearson_copy") == noise_ceiling(d, "pearson")
    a = bootstrap(d[:2], d[2:], "test_pearson_copy", n_boot=5, seed=1)
    b = bootstrap(d[:2], d[2:], "pearson", n_boot=5, seed=1)
    np.testing.assert_array_equal(a["bootstrap"].values, b["bootstrap"].values)
    a = permutation_test(d[:2], d[2:], "test_pearson_copy", n_perm=5)
    b = permutation_test(d[:2], d[2:], "pearson", n_perm=5)
    np.testing.assert_array_equal(a["null"].values, b["null"].values)
    a = sweep(model_rdms=d[2:], data_rdms=d[2:], lows=[0.0], ups=[0.5, 1.0], method="test_pearson_copy",
              n_boot=3)
    b = sweep(model_rdms=d[2:], data_rdms=d[2:], lows=[0.0], ups=[0.5, 1.0], method="pearson", n_boot=3)
    np.testing.assert_array_equal(a.values, b.values)


def test_register_refuses_taken_names_and_inconsistent_declarations():
    with pytest.raises(BadInputError, match="already taken"):
        register(Method(name="corr", compares="rdm", kind="similarity", kernel=lambda *a, **k: None, summary="x"))
    with pytest.raises(BadInputError, match="VectorForm"):
        register(Method(name="x_new", compares="rdm", kind="similarity", kernel=lambda *a, **k: None,
                        resample="pair_weights", summary="x"))
