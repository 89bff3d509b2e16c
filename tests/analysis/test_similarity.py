"""similarity(): every activation method equals its reference formula on fixed inputs.

References are computed here by the published formulas with scipy / numpy / scikit-learn:
CKA by the HSIC definitions of Kornblith et al. 2019 (biased) and Song et al. 2012 eq. 5
(unbiased); shape metrics by scipy.linalg.orthogonal_procrustes after netrep's partial
whitening (Williams et al. 2021); CCA by scipy.linalg.subspace_angles and the classical
Sigma^-1/2 formulation; k-NN by sklearn.neighbors.NearestNeighbors; the stochastic shape
metrics by their 1-D closed forms and explicit pair loops (Duong et al. 2023).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr
from scipy.linalg import orthogonal_procrustes, subspace_angles

from neurodecode.analysis import similarity
from neurodecode.errors import BadInputError, DataModelError


def _data(seed=0, n=30, p=8, q=6, noise=1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = x @ rng.normal(size=(p, q)) + noise * rng.normal(size=(n, q))
    return x, y


def _c(a):
    return a - a.mean(0)


# --------------------------------------------------------------------------- CKA


def _hsic_biased(k, l):
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def _hsic_song(k, l):
    n = k.shape[0]
    kt, lt = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    return (np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ kt @ lt @ one)) / (n * (n - 3))


@pytest.mark.parametrize("shape", [(30, 8, 6), (12, 40, 25)])
def test_linear_cka(shape):
    x, y = _data(1, *shape)
    k, l = x @ x.T, y @ y.T  # uncentred linear kernels: HSIC centres them
    ref = _hsic_biased(k, l) / np.sqrt(_hsic_biased(k, k) * _hsic_biased(l, l))
    feat = np.linalg.norm(_c(y).T @ _c(x)) ** 2 / (np.linalg.norm(_c(x).T @ _c(x)) * np.linalg.norm(_c(y).T @ _c(y)))
    assert similarity(x, y, "linear_cka") == pytest.approx(ref, abs=1e-12)
    assert ref == pytest.approx(feat, abs=1e-12)


@pytest.mark.parametrize("shape", [(30, 8, 6), (12, 40, 25)])
def test_debiased_cka_is_song_unbiased_hsic(shape):
    x, y = _data(2, *shape)
    k, l = x @ x.T, y @ y.T
    ref = _hsic_song(k, l) / np.sqrt(_hsic_song(k, k) * _hsic_song(l, l))
    assert similarity(x, y, "debiased_cka") == pytest.approx(ref, abs=1e-12)


def test_float32_layers_agree_with_float64():
    x, y = _data(20, 60, 300, 40)
    for method in ("linear_cka", "debiased_cka"):
        assert similarity(x.astype(np.float32), y.astype(np.float32), method) == pytest.approx(
            similarity(x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64), method),
            abs=1e-7)


def test_rbf_cka():
    from scipy.spatial.distance import cdist

    x, y = _data(3)
    grams = []
    for a in (x, y):
        d2 = cdist(a, a, "sqeuclidean")
        grams.append(np.exp(-d2 / (2 * 0.8**2 * np.median(d2))))
    k, l = grams
    ref = _hsic_biased(k, l) / np.sqrt(_hsic_biased(k, k) * _hsic_biased(l, l))
    assert similarity(x, y, "rbf_cka", sigma=0.8) == pytest.approx(ref, abs=1e-12)


# --------------------------------------------------------------------------- shape metrics


def _whiten(a, alpha):
    """netrep-style partial whitening of centred a: Z = V diag(alpha + (1 - alpha) lam^-1/2) V^T."""
    a = _c(a)
    lam, v = np.linalg.eigh(a.T @ a)
    lam = np.maximum(lam, 1e-7)
    return a @ (v * (alpha + (1 - alpha) * lam ** -0.5)) @ v.T


def _angle_after_rotation(a, b):
    p = max(a.shape[1], b.shape[1])
    a = np.pad(a, ((0, 0), (0, p - a.shape[1])))
    b = np.pad(b, ((0, 0), (0, p - b.shape[1])))
    r, _ = orthogonal_procrustes(a, b)
    return np.arccos(np.clip(np.sum((a @ r) * b) / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))


@pytest.mark.parametrize("shape", [(30, 8, 6), (12, 20, 15)])
def test_procrustes_is_angle_after_best_rotation(shape):
    x, y = _data(4, *shape)
    assert similarity(x, y, "procrustes") == pytest.approx(_angle_after_rotation(_c(x), _c(y)), abs=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.7])
@pytest.mark.parametrize("shape", [(40, 8, 6), (12, 20, 15)])
def test_shape_metric_with_partial_whitening(alpha, shape):
    x, y = _data(5, *shape)
    ref = _angle_after_rotation(_whiten(x, alpha), _whiten(y, alpha))
    assert similarity(x, y, "shape", alpha=alpha) == pytest.approx(ref, abs=1e-6)


def test_shape_alpha0_is_angular_cca():
    x, y = _data(6, 50, 5, 5)
    rho = np.cos(subspace_angles(_c(x), _c(y)))
    assert similarity(x, y, "shape", alpha=0.0) == pytest.approx(np.arccos(rho.mean()), abs=1e-6)


def test_permutation_procrustes_is_best_over_all_permutations():
    x, y = _data(7, 20, 5, 5)
    xc, yc = _c(x), _c(y)
    best = max(np.sum(xc * yc[:, list(pi)]) for pi in itertools.permutations(range(5)))
    ref = np.arccos(best / (np.linalg.norm(xc) * np.linalg.norm(yc)))
    assert similarity(x, y, "permutation_procrustes") == pytest.approx(ref, abs=1e-12)


# --------------------------------------------------------------------------- CCA


def test_svcca_and_canonical_correlations():
    x, y = _data(8, 60, 10, 7)
    def top(a, frac=None, dims=None):
        u, s, _ = np.linalg.svd(_c(a), full_matrices=False)
        r = dims if dims else int(np.searchsorted(np.cumsum(s**2) / np.sum(s**2), frac) + 1)
        return u[:, :r] * s[:r]

    rho = np.cos(subspace_angles(top(x, 0.9), top(y, 0.9)))
    assert similarity(x, y, "svcca", keep=0.9) == pytest.approx(rho.mean(), abs=1e-9)
    rho_full = np.cos(subspace_angles(_c(x), _c(y)))
    assert similarity(x, y, "svcca", keep=1.0) == pytest.approx(rho_full.mean(), abs=1e-9)
    assert similarity(x, y, "svcca", keep=3) == pytest.approx(
        np.cos(subspace_angles(top(x, dims=3), top(y, dims=3))).mean(), abs=1e-9)


def test_pwcca_classical_formula():
    from scipy.linalg import fractional_matrix_power as fmp

    x, y = _data(9, 80, 6, 4)
    xc, yc = _c(x), _c(y)
    sxx, syy, sxy = xc.T @ xc, yc.T @ yc, xc.T @ yc
    u, rho, _ = np.linalg.svd(fmp(sxx, -0.5) @ sxy @ fmp(syy, -0.5))
    a = fmp(sxx, -0.5) @ u[:, : len(rho)]  # canonical directions of x
    h = xc @ a
    h /= np.linalg.norm(h, axis=0)
    w = np.abs(h.T @ xc).sum(1)
    ref = np.sum(w * rho) / w.sum()
    assert similarity(x, y, "pwcca") == pytest.approx(ref, abs=1e-9)


# --------------------------------------------------------------------------- k-NN


def _knn_sets(a, k):
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(a)
    idx = nn.kneighbors(a, return_distance=False)
    return [set(row[row != i][:k]) for i, row in enumerate(idx)]


def test_mutual_knn_matches_sklearn_neighbours():
    x, y = _data(10, 50, 8, 6, noise=2.0)
    k = 5
    nx, ny = _knn_sets(x, k), _knn_sets(y, k)
    ref = np.mean([len(a & b) / k for a, b in zip(nx, ny)])
    assert similarity(x, y, "mutual_knn", k=k) == pytest.approx(ref, abs=1e-12)


def test_cknna_formula():
    x, y = _data(11, 40, 8, 6, noise=1.5)
    k = 8
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    kx, ky = xn @ xn.T, yn @ yn.T
    n = len(x)
    mx, my = np.zeros((n, n)), np.zeros((n, n))
    for i, (a, b) in enumerate(zip(_knn_sets(x, k), _knn_sets(y, k))):
        mx[i, list(a)] = 1
        my[i, list(b)] = 1
    m = mx * my
    ref = _hsic_song(m * kx, m * ky) / np.sqrt(_hsic_song(mx * kx, mx * kx) * _hsic_song(my * ky, my * ky))
    assert similarity(x, y, "cknna", k=k) == pytest.approx(ref, abs=1e-12)


# --------------------------------------------------------------------------- stochastic shape metrics


def _samples_1d(seed=12, n=6, r=7):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(n, 1, 1)) * 3
    x = mu + rng.uniform(0.5, 2, size=(n, 1, 1)) * rng.normal(size=(n, r, 1))
    y = 0.8 * mu + rng.uniform(0.5, 2, size=(n, 1, 1)) * rng.normal(size=(n, r, 1))
    return x, y


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5, 2.0])
def test_gaussian_shape_closed_form_in_one_dimension(alpha):
    """1-D Gaussians: W2^2 = (m1 - m2)^2 + (s1 - s2)^2; the orthogonal group is {+1, -1}."""
    x, y = _samples_1d()
    mx, my = x.mean(1)[:, 0], y.mean(1)[:, 0]
    mx, my = mx - mx.mean(), my - my.mean()
    sx, sy = x.std(1, ddof=1)[:, 0], y.std(1, ddof=1)[:, 0]
    ref = min(np.sqrt(np.mean(alpha * (mx - t * my) ** 2 + (2 - alpha) * (sx - sy) ** 2)) for t in (1, -1))
    assert similarity(x, y, "gaussian_shape", alpha=alpha) == pytest.approx(ref, abs=1e-9)


def test_gaussian_shape_alpha2_is_procrustes_of_the_means():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(10, 5, 4))
    y = rng.normal(size=(10, 5, 3))
    mx, my = _c(x.mean(1)), np.pad(_c(y.mean(1)), ((0, 0), (0, 1)))
    r, _ = orthogonal_procrustes(my, mx)
    ref = np.sqrt(2 * np.mean(np.sum((mx - my @ r) ** 2, axis=1)))
    assert similarity(x, y, "gaussian_shape", alpha=2.0) == pytest.approx(ref, abs=1e-8)


def test_bures_distance_matches_matrix_square_roots():
    from scipy.linalg import sqrtm

    from neurodecode.analysis.shape import bures_sq

    rng = np.random.default_rng(14)
    a, b = rng.normal(size=(2, 4, 4))
    a, b = a @ a.T, b @ b.T
    sa = sqrtm(a)
    ref = np.trace(a) + np.trace(b) - 2 * np.trace(sqrtm(sa @ b @ sa)).real
    assert bures_sq(a, b) == pytest.approx(ref, abs=1e-9)


def test_energy_shape_one_dimension_by_pair_loops():
    x, y = _samples_1d(15)
    x = x - x.mean(axis=(0, 1))
    y = y - y.mean(axis=(0, 1))
    vals = []
    for t in (1.0, -1.0):
        terms = []
        for a, b in zip(x[:, :, 0], t * y[:, :, 0]):
            dxy = np.mean([abs(u - v) for u in a for v in b])
            dxx = np.mean([abs(a[i] - a[j]) for i, j in itertools.combinations(range(len(a)), 2)])
            dyy = np.mean([abs(b[i] - b[j]) for i, j in itertools.combinations(range(len(b)), 2)])
            terms.append(dxy - 0.5 * (dxx + dyy))
        vals.append(np.sqrt(max(np.mean(terms), 0)))
    assert similarity(x, y, "energy_shape") == pytest.approx(min(vals), abs=1e-6)


def test_samples_from_trial_responses_equal_the_array_form():
    x, y = _samples_1d(16, n=5, r=4)
    stim = np.repeat([f"s{i}" for i in range(5)], 4)
    da = xr.DataArray(x.reshape(20, 1), dims=("trial", "neuroid"), coords={"stimulus": ("trial", stim)})
    order = np.random.default_rng(0).permutation(20)
    labelled_y = xr.DataArray(y, dims=("stimulus", "repeat", "neuroid"), coords={"stimulus": [f"s{i}" for i in range(5)]})
    assert similarity(da[order], labelled_y, "gaussian_shape") == pytest.approx(
        similarity(x, y, "gaussian_shape"), abs=1e-9)


# --------------------------------------------------------------------------- inputs and outputs


def test_dataarrays_are_matched_by_stimulus_label():
    x, y = _data(17)
    labels = [f"img{i}" for i in range(len(x))]
    dx = xr.DataArray(x, dims=("stimulus", "unit"), coords={"stimulus": labels})
    perm = np.random.default_rng(1).permutation(len(x))
    dy = xr.DataArray(y[perm], dims=("stimulus", "neuroid"), coords={"stimulus": np.asarray(labels)[perm]})
    assert similarity(dx, dy) == pytest.approx(similarity(x, y), abs=1e-12)
    with pytest.raises(DataModelError, match="different stimuli"):
        similarity(dx, dy.isel(stimulus=slice(1, None)))


def test_activation_datasets_give_every_layer_pair():
    x, y = _data(18)
    ds = xr.Dataset({"a": (("stimulus", "f1"), x), "b": (("stimulus", "f2"), y)}, attrs={"model": "m"})
    out = similarity(ds, ds, "linear_cka")
    assert out.dims == ("layer_x", "layer_y") and list(out["layer_x"].values) == ["a", "b"]
    assert float(out.sel(layer_x="a", layer_y="b")) == pytest.approx(similarity(x, y, "linear_cka"), abs=1e-12)
    assert out.attrs["kind"] == "similarity" and out.attrs["n_stimuli"] == len(x)
    np.testing.assert_allclose(similarity(ds, method="procrustes").values, similarity(ds, ds, "procrustes").values)
    one = similarity(ds, y, "procrustes")
    assert one.dims == ("layer_x",)


def test_bad_inputs():
    x, y = _data(19)
    bad = x.copy()
    bad[2, 3] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        similarity(bad, y)
    with pytest.raises(DataModelError, match="stimulus"):
        similarity(x, y[:-1])
    with pytest.raises(DataModelError, match="gaussian_shape"):
        similarity(np.zeros((4, 3, 2)), np.zeros((4, 3, 2)), "linear_cka")
    with pytest.raises(BadInputError, match="at least 4"):
        similarity(x[:3], y[:3], "debiased_cka")
    with pytest.raises(BadInputError, match="alpha"):
        similarity(x, y, "shape", alpha=1.5)
    with pytest.raises(BadInputError, match="k must be"):
        similarity(x, y, "mutual_knn", k=len(x))
