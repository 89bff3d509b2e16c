"""rdm(): equivalence with rsatoolbox.rdm.calc_rdm (1e-8, float64), input forms, errors, no mutation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from neurodecode.analysis import rdm
from neurodecode.errors import BadInputError, DataModelError

import rsatoolbox.data as rsd
import rsatoolbox.rdm as rsr

TOL = 1e-8


def _ref(x, method, **kw):
    """rsatoolbox's RDM matrices for one (n, f) pattern array."""
    return rsr.calc_rdm(rsd.Dataset(np.asarray(x)), method=method, **kw).get_matrices()[0]


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(20240601)


@pytest.mark.parametrize("method", ["correlation", "euclidean", "poisson"])
def test_matches_rsatoolbox_random_stack(rng, method):
    x = rng.gamma(2.0, 1.5, size=(4, 15, 40)) if method == "poisson" else rng.normal(size=(4, 15, 40))
    ours = rdm(x, method)
    assert ours.dims == ("rdm", "stimulus", "stimulus_")
    assert ours.shape == (4, 15, 15)
    assert ours.attrs["method"] == method and ours.attrs["dtype"] == "float64"
    for i in range(4):
        np.testing.assert_allclose(ours.values[i], _ref(x[i], method), rtol=0, atol=TOL)
    assert np.all(np.diagonal(ours.values, axis1=1, axis2=2) == 0)
    np.testing.assert_array_equal(ours.values, ours.values.transpose(0, 2, 1))


@pytest.mark.parametrize("method", ["correlation", "euclidean", "mahalanobis"])
def test_many_stimuli_blocked_product(rng, method):
    """n >= 512 stimuli: the upper triangle is computed in row blocks; same numbers."""
    x = rng.normal(size=(2, 530, 24))
    kw = {"noise": np.diag(rng.random(24) + 0.5)} if method == "mahalanobis" else {}
    ours = rdm(x, method, **kw)
    for i in range(2):
        np.testing.assert_allclose(ours.values[i], _ref(x[i], method, **kw), rtol=0, atol=TOL)
    np.testing.assert_array_equal(ours.values, ours.values.transpose(0, 2, 1))


def test_correlation_with_large_offsets(rng):
    """Patterns with a mean 1e6 times their spread (raw scanner units): no lost digits."""
    x = rng.normal(size=(12, 300)) + 1e6 * rng.random((12, 1))
    np.testing.assert_allclose(rdm(x).values[0], _ref(x, "correlation"), rtol=0, atol=TOL)
    near = rng.normal(size=(12, 300)) + 30.0  # just below the switch to explicit centring
    np.testing.assert_allclose(rdm(near).values[0], _ref(near, "correlation"), rtol=0, atol=TOL)
    small = rng.normal(size=(12, 300)) * 1e-9
    np.testing.assert_allclose(rdm(small).values[0], _ref(small, "correlation"), rtol=0, atol=TOL)


def test_euclidean_convention_is_squared_over_features(rng):
    x = rng.normal(size=(6, 9))
    d = rdm(x, "euclidean").values[0]
    i, j = 1, 4
    assert d[i, j] == pytest.approx(np.sum((x[i] - x[j]) ** 2) / 9, abs=1e-12)


def test_mahalanobis_matches_rsatoolbox(rng):
    x = rng.normal(size=(3, 12, 20))
    a = rng.normal(size=(20, 20))
    prec = a @ a.T / 20 + np.eye(20)
    ours = rdm(x, "mahalanobis", noise=prec)
    for i in range(3):
        np.testing.assert_allclose(ours.values[i], _ref(x[i], "mahalanobis", noise=prec), rtol=0, atol=TOL)
    # no noise: identity precision = euclidean (as rsatoolbox)
    np.testing.assert_allclose(rdm(x, "mahalanobis").values, rdm(x, "euclidean").values, atol=1e-12)
    # one precision per input
    per = np.stack([prec, np.eye(20), 2 * prec])
    ours = rdm(x, "mahalanobis", noise=per)
    for i in range(3):
        np.testing.assert_allclose(ours.values[i], _ref(x[i], "mahalanobis", noise=per[i]), rtol=0, atol=TOL)


@pytest.mark.parametrize("with_noise", [False, True])
def test_crossnobis_matches_rsatoolbox(rng, with_noise):
    n_stim, n_runs, f = 7, 4, 18
    stim = np.tile(np.array([f"s{k}" for k in range(n_stim)]), n_runs)
    run = np.repeat(np.arange(n_runs), n_stim)
    perm = rng.permutation(stim.size)  # rows in any order
    stim, run = stim[perm], run[perm]
    obs = rng.normal(size=(2, stim.size, f)) + rng.normal(size=(1, 1, f))
    prec = None
    if with_noise:
        a = rng.normal(size=(f, f))
        prec = a @ a.T / f + np.eye(f)
    da = xr.DataArray(
        obs,
        dims=("subject", "trial", "voxel"),
        coords={"subject": ["sub-1", "sub-2"], "stimulus": ("trial", stim), "run": ("trial", run)},
    )
    ours = rdm(da, "crossnobis", runs="run", noise=prec)
    assert ours.attrs["n_runs"] == n_runs
    assert list(ours.rdm.values) == ["sub-1", "sub-2"]
    for i in range(2):
        ds = rsd.Dataset(obs[i], obs_descriptors={"stim": stim, "run": run})
        ref = rsr.calc_rdm(ds, method="crossnobis", descriptor="stim", cv_descriptor="run", noise=prec)
        order = np.asarray(ref.pattern_descriptors["stim"])  # rsatoolbox sorts the stimuli
        got = ours.isel(rdm=i).sel(stimulus=order, stimulus_=order).values
        np.testing.assert_allclose(got, ref.get_matrices()[0], rtol=0, atol=TOL)
    # runs as an array, and negative (unbiased) values occur on noise-only data
    again = rdm(da, "crossnobis", runs=run, noise=prec)
    np.testing.assert_array_equal(again.values, ours.values)
    assert (ours.values < 0).any()


def test_crossnobis_numpy_rows_matched_by_order_within_run(rng):
    obs = rng.normal(size=(3 * 5, 10))  # 3 runs x 5 stimuli, stimulus k is the k-th row of each run
    run = np.repeat([0, 1, 2], 5)
    ours = rdm(obs, "crossnobis", runs=run)
    ds = rsd.Dataset(obs, obs_descriptors={"stim": np.tile(np.arange(5), 3), "run": run})
    ref = rsr.calc_rdm(ds, method="crossnobis", descriptor="stim", cv_descriptor="run")
    np.testing.assert_allclose(ours.values[0], ref.get_matrices()[0], rtol=0, atol=TOL)


def test_repeated_stimuli_are_averaged_like_rsatoolbox(rng):
    stim = np.array(list("abcdef") * 3)
    x = rng.normal(size=(stim.size, 12))
    da = xr.DataArray(x, dims=("trial", "neuroid"), coords={"stimulus": ("trial", stim)})
    ours = rdm(da, "correlation")
    assert list(ours.stimulus.values) == list("abcdef")
    ref = rsr.calc_rdm(rsd.Dataset(x, obs_descriptors={"stim": stim}), method="correlation", descriptor="stim")
    np.testing.assert_allclose(ours.values[0], ref.get_matrices()[0], rtol=0, atol=TOL)


def test_real_images_match_rsatoolbox_and_scipy(k92_supplement):
    """Pixel-pattern RDMs of the 92 real stimulus images (Kriegeskorte et al. 2008)."""
    from scipy.spatial.distance import pdist, squareform

    images, categories, _ = k92_supplement
    labels = [f"img{i:02d}" for i in range(92)]
    before = images.copy()
    pixels = images[:, ::5]  # every 5th RGB value: 18375 features, keeps rsatoolbox's run short
    da = xr.DataArray(pixels, dims=("stimulus", "pixel"), coords={"stimulus": labels}, name="pixels")
    for method in ("correlation", "euclidean", "poisson"):
        ours = rdm(da, method)
        ref = _ref(pixels, method)
        np.testing.assert_allclose(ours.values[0], ref, rtol=0, atol=TOL * max(1.0, np.abs(ref).max()))
        assert list(ours.stimulus.values) == labels
    # independent check of the conventions with scipy, on the full images
    np.testing.assert_allclose(rdm(images, "correlation").values[0], squareform(pdist(images, "correlation")), atol=1e-10)
    np.testing.assert_allclose(
        rdm(images, "euclidean").values[0], squareform(pdist(images, "sqeuclidean")) / images.shape[1], rtol=1e-10
    )
    # real data, cross-validated: the 3 colour channels as 3 repeated measurements of each image
    # (every 25th pixel: rsatoolbox builds an identity precision of n_features^2 values)
    chans = images.reshape(92, 175 * 175, 3)[:, ::25].transpose(2, 0, 1).reshape(3 * 92, -1)
    run = np.repeat([0, 1, 2], 92)
    stim = np.tile(np.arange(92), 3)
    ours = rdm(chans, "crossnobis", runs=run)
    ds = rsd.Dataset(chans, obs_descriptors={"stim": stim, "run": run})
    ref = rsr.calc_rdm(ds, method="crossnobis", descriptor="stim", cv_descriptor="run").get_matrices()[0]
    np.testing.assert_allclose(ours.values[0], ref, rtol=0, atol=TOL * np.abs(ref).max())
    np.testing.assert_array_equal(images, before)
    assert len(set(categories)) >= 6


def test_float32_and_torch_input(rng):
    import torch

    x = rng.normal(size=(2, 10, 30))
    d64 = rdm(x)
    d32 = rdm(x, dtype="float32")
    assert d32.dtype == np.float32 and d32.attrs["dtype"] == "float32"
    np.testing.assert_allclose(d32.values, d64.values, atol=1e-5)
    t = torch.tensor(x)
    np.testing.assert_allclose(rdm(t).values, d64.values, atol=1e-14)
    np.testing.assert_array_equal(t.numpy(), x)


@pytest.mark.skipif(
    not __import__("importlib").util.find_spec("torch") or not __import__("torch").cuda.is_available(),
    reason="no CUDA device",
)
def test_cuda_matches_cpu(rng):  # pragma: no cover - needs a GPU
    x = rng.normal(size=(3, 20, 50))
    for method in ("correlation", "euclidean"):
        np.testing.assert_allclose(rdm(x, method, device="cuda").values, rdm(x, method).values, atol=1e-10)


def test_stack_forms_and_coords(rng):
    stim = [f"st{k}" for k in range(8)]
    a = xr.DataArray(rng.normal(size=(8, 20)), dims=("stimulus", "unit"), coords={"stimulus": stim}, name="V1")
    b = xr.DataArray(rng.normal(size=(8, 35)), dims=("stimulus", "feature"), coords={"stimulus": stim}, name="IT")
    b.attrs["subject"] = "monkey-1"
    a.attrs["subject"] = "monkey-1"
    from_list = rdm([a, b])
    assert list(from_list.rdm.values) == ["V1", "IT"]
    assert list(from_list.coords["name"].values) == ["V1", "IT"]
    assert list(from_list.subject.values) == ["monkey-1", "monkey-1"]
    assert list(from_list.n_features.values) == [20, 35]
    assert list(from_list.stimulus.values) == stim and list(from_list.stimulus_.values) == stim
    np.testing.assert_allclose(from_list.values[1], _ref(b.values, "correlation"), atol=TOL)
    from_dict = rdm({"early": a, "late": b})
    assert list(from_dict.rdm.values) == ["early", "late"]
    np.testing.assert_array_equal(from_dict.values, from_list.values)
    ds = xr.Dataset({"layer1": a.rename(unit="feature_layer1"), "layer2": b.rename(feature="feature_layer2")})
    ds.attrs["model"] = "toy"
    from_ds = rdm(ds)
    assert list(from_ds.layer.values) == ["layer1", "layer2"]
    assert from_ds.attrs["model"] == "toy"
    np.testing.assert_array_equal(from_ds.values, from_list.values)
    # 3-D DataArray with a leading stack dim and extra coords on it
    x = xr.DataArray(
        rng.normal(size=(3, 8, 10)),
        dims=("subject", "stimulus", "voxel"),
        coords={"subject": ["s1", "s2", "s3"], "age": ("subject", [20, 30, 40]), "stimulus": stim},
    )
    st = rdm(x, "euclidean")
    assert list(st.rdm.values) == ["s1", "s2", "s3"]
    assert list(st.subject.values) == ["s1", "s2", "s3"] and list(st.age.values) == [20, 30, 40]
    assert st.attrs["stack_dim"] == "subject"
    np.testing.assert_allclose(st.values[2], _ref(x.values[2], "euclidean"), atol=TOL)
    # the result is a valid data-model RDM stack
    from neurodecode.datamodel import validate

    assert validate(st) == "rdm"


def test_inputs_not_mutated(rng):
    x = rng.normal(size=(2, 9, 12))
    da = xr.DataArray(x.copy(), dims=("subject", "stimulus", "voxel"), attrs={"units": "a.u."})
    before = da.copy(deep=True)
    xs = x.copy()
    for method in ("correlation", "euclidean", "mahalanobis"):
        rdm(x, method)
        rdm(da, method)
    prec = np.eye(12) * 2.0
    prec_before = prec.copy()
    rdm(x, "mahalanobis", noise=prec)
    counts = np.abs(x)
    counts_before = counts.copy()
    rdm(counts, "poisson")
    np.testing.assert_array_equal(x, xs)
    np.testing.assert_array_equal(prec, prec_before)
    np.testing.assert_array_equal(counts, counts_before)
    xr.testing.assert_identical(da, before)


def test_nan_gives_clear_error(rng):
    x = rng.normal(size=(6, 5))
    x[2, 3] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        rdm(x)
    da = xr.DataArray(x, dims=("stimulus", "voxel"), coords={"stimulus": list("abcdef")})
    with pytest.raises(BadInputError, match="stimulus 'c'"):
        rdm(da)
    x[2, 3] = np.inf
    with pytest.raises(BadInputError, match="inf"):
        rdm(x)
    import torch

    with pytest.raises(BadInputError, match="NaN/inf"):
        rdm(torch.tensor(x))
    stack = rng.normal(size=(3, 6, 5))
    stack[2, 0, 0] = np.nan
    with pytest.raises(BadInputError, match="input 2"):
        rdm(stack, "euclidean")


def test_wrong_dims_give_clear_errors(rng):
    with pytest.raises(DataModelError, match="must be"):
        rdm(rng.normal(size=10))
    with pytest.raises(DataModelError, match="must be"):
        rdm(rng.normal(size=(2, 3, 4, 5)))
    no_stim = xr.DataArray(rng.normal(size=(5, 4)), dims=("time", "channel"))
    with pytest.raises(DataModelError, match="no 'stimulus' dim"):
        rdm(no_stim)
    lead = xr.DataArray(rng.normal(size=(5, 2, 4)), dims=("stimulus", "subject", "voxel"))
    with pytest.raises(DataModelError, match="leading stack dim"):
        rdm(lead)
    a = xr.DataArray(rng.normal(size=(4, 3)), dims=("stimulus", "f"), coords={"stimulus": list("abcd")})
    b = xr.DataArray(rng.normal(size=(4, 3)), dims=("stimulus", "f"), coords={"stimulus": list("abdc")})
    with pytest.raises(DataModelError, match="different stimuli"):
        rdm([a, b])
    with pytest.raises(DataModelError, match="stimulus rows"):
        rdm([rng.normal(size=(4, 3)), rng.normal(size=(5, 3))])


def test_bad_values_and_options(rng):
    x = rng.normal(size=(5, 8))
    const = x.copy()
    const[1] = 3.0
    with pytest.raises(BadInputError, match="constant pattern"):
        rdm(const, "correlation")
    with pytest.raises(BadInputError, match="non-negative"):
        rdm(x, "poisson")
    with pytest.raises(BadInputError, match="unknown method"):
        rdm(x, "cityblock")
    with pytest.raises(BadInputError, match="runs="):
        rdm(x, "crossnobis")
    with pytest.raises(BadInputError, match="only used by method='crossnobis'"):
        rdm(x, "euclidean", runs=np.zeros(5))
    with pytest.raises(BadInputError, match=r"\(8, 8\)"):
        rdm(x, "mahalanobis", noise=np.eye(3))
    with pytest.raises(BadInputError, match="dtype"):
        rdm(x, dtype="int8")
    # crossnobis: a stimulus missing from a run
    obs = rng.normal(size=(9, 4))
    stim = np.array(list("abcabcabd"))
    da = xr.DataArray(obs, dims=("trial", "voxel"), coords={"stimulus": ("trial", stim)})
    with pytest.raises(BadInputError, match="missing from run"):
        rdm(da, "crossnobis", runs=np.repeat([0, 1, 2], 3))
    with pytest.raises(BadInputError, match="at least 2 runs"):
        rdm(da, "crossnobis", runs=np.zeros(9))
    with pytest.raises(BadInputError, match="no such coord"):
        rdm(da, "crossnobis", runs="session")


def test_import_does_not_import_torch():
    code = (
        "import sys, neurodecode.analysis as a; "
        "assert callable(a.rdm) and callable(a.compare); "
        "bad = [m for m in ('torch', 'numba', 'rsatoolbox') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
