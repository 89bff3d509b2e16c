"""Topological RSA: geo-topological / geodesic transforms vs rsatoolbox, zero-weight edges, sweeps."""

from __future__ import annotations

import importlib

import warnings

import numpy as np
import pytest
import xarray as xr

from neurodecode.analysis import compare, geodesic, geotopological, plot_sweep, rgtm, sweep
from neurodecode.errors import BadInputError, DataModelError

import rsatoolbox.rdm as rsr
# the module, not rsatoolbox.rdm's function of the same name that shadows it as an attribute
rst = importlib.import_module("rsatoolbox.rdm.transform")


def _sym(rng, k, n, scale=1.0, offset=0.0):
    m = np.triu(rng.random((k, n, n)) * scale + offset, 1)
    return m + m.transpose(0, 2, 1)


def _vec(mats):
    mats = np.asarray(mats)
    iu = np.triu_indices(mats.shape[-1], 1)
    return mats[..., iu[0], iu[1]]


def _rsa_gt(vectors, low, up, rank=True):
    """rsatoolbox's rank_transform + geotopological_transform on its own (copied) RDMs object."""
    obj = rsr.RDMs(np.array(vectors, dtype=float, copy=True))
    if rank:
        obj = rst.rank_transform(obj)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return rst.geotopological_transform(obj, low, up).get_vectors()


# --------------------------------------------------------------------------- geotopological


@pytest.mark.parametrize("low,up", [(0.0, 1.0), (0.1, 0.6), (0.3, 0.9), (0.05, 0.2)])
def test_single_rdm_equals_rsatoolbox(low, up):
    rng = np.random.default_rng(0)
    m = _sym(rng, 1, 25)[0]
    ours = geotopological(m, low, up)
    np.testing.assert_allclose(_vec(ours.values)[0], _rsa_gt(_vec(m)[None], low, up)[0], rtol=0, atol=1e-12)
    assert ours.attrs["transform"] == "geotopological" and ours.attrs["low"] == low and ours.attrs["up"] == up


def test_single_real_hit_rdm_equals_rsatoolbox(k92_brain):
    brain, _ = k92_brain
    hit = brain[0, 0]
    ours = geotopological(hit, 0.2, 0.7)
    np.testing.assert_allclose(_vec(ours.values)[0], _rsa_gt(_vec(hit)[None], 0.2, 0.7)[0], rtol=0, atol=1e-12)
    # 0 below, 1 above, the fraction of each matches the quantiles (per RDM)
    v = _vec(ours.values)[0]
    assert np.mean(v == 0) == pytest.approx(0.2, abs=0.01) and np.mean(v == 1) == pytest.approx(0.3, abs=0.01)


def test_raw_values_equal_rsatoolbox_when_thresholds_exceed_one():
    """Without ranks the two agree while the thresholds are >= 1 (rsatoolbox's in-place steps are then safe)."""
    rng = np.random.default_rng(1)
    m = _sym(rng, 1, 20, scale=100.0, offset=2.0)[0]
    ours = geotopological(m, 0.25, 0.75, rank=False)
    np.testing.assert_allclose(_vec(ours.values)[0], _rsa_gt(_vec(m)[None], 0.25, 0.75, rank=False)[0], atol=1e-12)


def test_raw_values_below_one_differ_from_rsatoolbox():
    """rsatoolbox maps in place, then sets values > gt_max to 1 -- including already mapped ones when gt_max < 1."""
    rng = np.random.default_rng(2)
    m = _sym(rng, 1, 12)[0]  # correlation-distance-like values in (0, 1)
    v = _vec(m)
    ours = _vec(geotopological(m, 0.1, 0.6, rank=False).values)[0]
    ql, qu = np.quantile(v, [0.1, 0.6])
    np.testing.assert_allclose(ours, np.clip((v - ql) / (qu - ql), 0, 1), atol=1e-12)  # the definition
    ref = _rsa_gt(v[None], 0.1, 0.6, rank=False)[0]
    wrong = np.abs(ref - ours) > 1e-9
    assert wrong.any()
    assert np.all(ref[wrong] == 1.0)  # mapped values above gt_max were overwritten with 1


def test_stack_uses_per_rdm_quantiles_unlike_rsatoolbox():
    """Two RDMs on different scales: ours transforms each on its own; rsatoolbox pools the quantiles."""
    rng = np.random.default_rng(3)
    stack = np.stack([_sym(rng, 1, 15)[0], _sym(rng, 1, 15, scale=10.0, offset=5.0)[0]])
    ours = _vec(geotopological(stack, 0.2, 0.8, rank=False).values)
    singles = np.stack([_vec(geotopological(stack[i], 0.2, 0.8, rank=False).values)[0] for i in range(2)])
    np.testing.assert_array_equal(ours, singles)
    ref_pooled = _rsa_gt(_vec(stack), 0.2, 0.8, rank=False)
    ref_single = np.stack([_rsa_gt(_vec(stack[i])[None], 0.2, 0.8, rank=False)[0] for i in range(2)])
    np.testing.assert_allclose(ours[1], ref_single[1], atol=1e-12)  # thresholds >= 1: equal one by one
    assert not np.allclose(ref_pooled, ref_single)
    # pooled: the scale difference survives (every value of the small-scale RDM ends below every value of
    # the large-scale one, the small one is squeezed near 0); per RDM the fractions at 0 and 1 follow the
    # quantiles (20 % each) whatever the scale
    assert ref_pooled[0].max() < ref_pooled[1].min() and ref_pooled[0].max() < 0.1
    assert np.allclose(np.mean(ours == 0, axis=1), 0.2, atol=0.02)
    assert np.allclose(np.mean(ours == 1, axis=1), 0.2, atol=0.02)
    # with ranks too: a stack equals its RDMs one by one, and each equals rsatoolbox on that RDM alone
    ranked = _vec(geotopological(stack, 0.2, 0.8).values)
    for i in range(2):
        np.testing.assert_allclose(ranked[i], _rsa_gt(_vec(stack[i])[None], 0.2, 0.8)[0], atol=1e-12)


def test_rsatoolbox_edits_its_input_ours_does_not():
    rng = np.random.default_rng(4)
    m = _sym(rng, 2, 10, scale=50.0, offset=3.0)
    obj = rsr.RDMs(_vec(m))
    before = obj.get_vectors().copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rst.geotopological_transform(obj, 0.2, 0.7)
    assert not np.array_equal(obj.get_vectors(), before)  # rsatoolbox overwrote the input RDMs
    obj2 = rsr.RDMs(_vec(m))
    rst.geodesic_transform(obj2)  # its minmax step also writes into the input
    assert not np.array_equal(obj2.get_vectors(), _vec(m))

    da = xr.DataArray(m.copy(), dims=("rdm", "stimulus", "stimulus_"), attrs={"method": "euclidean"})
    kept, np_in, rsa_in = da.copy(deep=True), m.copy(), rsr.RDMs(_vec(m))
    for inp in (da, np_in, rsa_in):
        geotopological(inp, 0.2, 0.7)
        geodesic(inp, 0.7, low=0.2)
    xr.testing.assert_identical(da, kept)
    assert np.array_equal(np_in, m) and np.array_equal(rsa_in.get_vectors(), _vec(m))


def test_low_equals_up_is_binary_where_rsatoolbox_gives_nan():
    rng = np.random.default_rng(5)
    m = _sym(rng, 1, 11)[0]
    ours = _vec(geotopological(m, 0.5, 0.5).values)[0]
    assert set(np.unique(ours)) == {0.0, 1.0}
    assert np.sum(ours == 0) == np.sum(_vec(m) <= np.quantile(_vec(m), 0.5))
    ref = _rsa_gt(_vec(m)[None], 0.5, 0.5)[0]
    assert np.isnan(ref).sum() == 1  # the value at the threshold: 0 / 0 in rsatoolbox
    assert np.array_equal(ours[~np.isnan(ref)], ref[~np.isnan(ref)])


def test_coords_kept_and_nan_pairs_stay_nan():
    rng = np.random.default_rng(6)
    m = _sym(rng, 3, 8)
    m[:, 0, 1] = m[:, 1, 0] = np.nan
    da = xr.DataArray(m, dims=("rdm", "stimulus", "stimulus_"),
                      coords={"rdm": ["a", "b", "c"], "subject": ("rdm", ["s1", "s1", "s2"]),
                              "stimulus": list("ABCDEFGH"), "stimulus_": list("ABCDEFGH")},
                      attrs={"method": "correlation"})
    out = geotopological(da, 0.1, 0.9)
    assert list(out["subject"].values) == ["s1", "s1", "s2"] and list(out["stimulus"].values) == list("ABCDEFGH")
    assert np.isnan(out.values[:, 0, 1]).all() and np.isfinite(_vec(out.values)[:, 1:]).all()
    assert out.attrs["method"] == "correlation"


# --------------------------------------------------------------------------- geodesic


def test_zero_weight_edges_are_kept():
    """A path through zero-weight edges: 0 -(0)- 1 -(0)- 2 and no direct edge 0-2.

    scipy's csgraph reads zeros in a *dense* matrix as missing edges; ours keeps them
    (sparse graph with stored zeros, or the torch min-plus kernel).
    """
    from scipy.sparse.csgraph import shortest_path

    # 4 stimuli: pairs (0,1), (1,2) smallest (below low -> weight 0), (0,2) largest (no edge)
    d = np.array([[0, 1, 6, 3], [1, 0, 2, 4], [6, 2, 0, 5], [3, 4, 5, 0]], dtype=float)
    for backend in ("numba", "torch", "scipy"):
        g = geodesic(d, up=5 / 6, low=0.3, rank=False, backend=backend)
        assert g.values[0, 0, 2] == 0.0  # two zero-weight hops
        assert g.values[0, 0, 1] == 0.0 and g.values[0, 1, 2] == 0.0
    w = geotopological(d, 0.3, 5 / 6).values[0]
    dense = np.where(w < 1, w, 0.0)
    assert shortest_path(dense, directed=False)[0, 2] > 0  # the pitfall: zeros dropped by the dense reader
    dropped = geodesic(d, up=5 / 6, low=0.3, rank=False, keep_zero_edges=False)
    assert dropped.values[0, 0, 2] > 0


def test_geodesic_backends_agree():
    """numba / torch (on the graph with zero-weight groups merged) vs scipy Dijkstra on the full graph."""
    rng = np.random.default_rng(7)
    m = _sym(rng, 3, 40)
    for low, up in [(0.0, 0.3), (0.01, 0.3), (0.03, 0.5), (0.1, 0.5), (0.2, 0.2)]:
        ref = geodesic(m, up, low=low, backend="scipy")
        ref_raw = geodesic(m, up, low=low, backend="scipy", rank=False)
        for backend in ("auto", "numba", "torch"):
            np.testing.assert_allclose(geodesic(m, up, low=low, backend=backend).values, ref.values, atol=1e-9)
            raw = geodesic(m, up, low=low, backend=backend, rank=False)
            np.testing.assert_allclose(raw.values, ref_raw.values, atol=1e-12)
        dropped = geodesic(m, up, low=low, backend="scipy", keep_zero_edges=False, rank=False)
        for backend in ("numba", "torch"):
            np.testing.assert_allclose(
                geodesic(m, up, low=low, backend=backend, keep_zero_edges=False, rank=False).values,
                dropped.values, atol=1e-12)



def test_geodesic_device_argument():
    """device "auto" (and None) is CUDA when available, else the CPU, as in every analysis function
    (neurodecode.analysis._device.resolve); a CUDA device that does not exist is a BadInputError."""
    import torch

    m = _sym(np.random.default_rng(3), 2, 25)
    ref = geodesic(m, 0.4, low=0.05, backend="scipy").values
    for device in ("auto", None, "cpu", torch.device("cpu")):
        np.testing.assert_allclose(geodesic(m, 0.4, low=0.05, backend="torch", device=device).values, ref, atol=1e-9)
    if not torch.cuda.is_available():
        np.testing.assert_allclose(geodesic(m, 0.4, low=0.05, backend="numba", device="auto").values, ref, atol=1e-9)
        with pytest.raises(BadInputError, match="CUDA is not available"):
            geodesic(m, 0.4, low=0.05, device="cuda")
        with pytest.raises(BadInputError, match="CUDA is not available"):
            sweep(model_rdms=m, data_rdms=m, lows=[0.0], ups=[0.5], device="cuda:0")

def test_geodesic_matches_rsatoolbox_when_zero_edges_dropped(k92_brain):
    """rsatoolbox: rank -> geotopological -> geodesic_transform (networkx, drops zero-weight edges)."""
    brain, _ = k92_brain
    hit = brain[1, 0][:40, :40]
    low, up = 0.1, 0.6
    ref_in = rsr.RDMs(_rsa_gt(_vec(hit)[None], low, up))
    ref = rst.geodesic_transform(ref_in).get_vectors()[0]
    ours = _vec(geodesic(hit, up, low=low, rank=False, keep_zero_edges=False).values)[0]
    finite = np.isfinite(ref)
    np.testing.assert_allclose(ours[finite], ref[finite], atol=1e-12)
    assert np.all(ours[~finite] > ours[finite].max())  # disconnected: rsatoolbox inf, ours max + 1
    default = _vec(geodesic(hit, up, low=low, rank=False).values)[0]
    assert not np.allclose(default[finite], ref[finite])  # keeping zero-weight edges changes the paths
    assert np.all(default <= ours + 1e-12)  # extra (zero-weight) edges only shorten paths


def test_disconnected_pairs_and_topology_limit():
    from scipy.sparse.csgraph import connected_components

    # two tight clusters far apart
    rng = np.random.default_rng(8)
    pts = np.concatenate([rng.normal(0, 0.1, (6, 2)), rng.normal(10, 0.1, (5, 2))])
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    within = (6 * 5 + 5 * 4) / 2
    up = (within - 0.5) / 55  # exactly the within-cluster pairs lie below the up quantile
    g = geodesic(d, up, low=up)  # low == up: pure topology
    ranks = _vec(g.values)[0]
    labels = connected_components(geotopological(d, up, up).values[0] < 1, directed=False)[1]
    same = _vec((labels[:, None] == labels[None]).astype(float)) == 1
    assert len(np.unique(labels)) == 2
    assert np.all(ranks[same] == ranks.min()) and np.all(ranks[~same] == ranks.max())
    assert g.attrs["n_disconnected"] == 30
    raw = geodesic(d, up, low=up, rank=False)
    assert set(np.unique(_vec(raw.values))) == {0.0, 1.0}  # connected -> 0, disconnected -> max + 1 = 1


def test_geodesic_rank_false_then_rank_equals_rank_true():
    from scipy.stats import rankdata

    rng = np.random.default_rng(9)
    m = _sym(rng, 2, 30)
    raw = _vec(geodesic(m, 0.15, rank=False).values)
    ranked = _vec(geodesic(m, 0.15).values)
    # equal up to rounding in the path sums: ranks of the lengths rounded to 1e-9
    np.testing.assert_allclose(rankdata(np.round(raw, 9), axis=1), ranked)
    assert ranked.max() < rankdata(raw, axis=1).max() + 1  # still a rank transform (1 .. m)


def test_rgtm_family():
    rng = np.random.default_rng(10)
    m = _sym(rng, 2, 15)
    xr.testing.assert_identical(rgtm(m, 0.1, 0.8), geotopological(m, 0.1, 0.8))
    xr.testing.assert_identical(rgtm(m, 0.1, 0.8, kind="geodesic"), geodesic(m, 0.8, low=0.1))
    # low=0, up=1 keeps the rank geometry: perfectly rank-correlated with the input
    assert np.allclose(compare(rgtm(m, 0.0, 1.0), m, "spearman").values.diagonal(), 1.0)
    with pytest.raises(BadInputError, match="kind"):
        rgtm(m, 0.1, 0.8, kind="topology")


def test_bad_thresholds_and_inputs():
    m = _sym(np.random.default_rng(0), 1, 6)[0]
    with pytest.raises(BadInputError, match="must not exceed"):
        geotopological(m, 0.8, 0.2)
    with pytest.raises(BadInputError, match=r"\[0, 1\]"):
        geotopological(m, -0.1, 0.5)
    bad = m.copy()
    bad[0, 1] = bad[1, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        geodesic(bad, 0.5)
    with pytest.raises(BadInputError, match="backend"):
        geodesic(m, 0.5, backend="networkx")
    with pytest.raises(DataModelError):
        geotopological(np.zeros((3, 4)), 0.1, 0.5)


# --------------------------------------------------------------------------- sweep


@pytest.fixture(scope="module")
def known_models():
    """3 model RDMs of distinct cluster structures; 6 noisy data RDMs, 2 generated from each model."""
    rng = np.random.default_rng(11)
    n = 24
    models = []
    for n_clusters in (2, 3, 6):
        lab = np.arange(n) % n_clusters
        centres = rng.normal(size=(n_clusters, 5)) * 3
        pts = centres[lab] + rng.normal(size=(n, 5))
        models.append(np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)))
    models = np.stack(models)
    data = np.stack([models[i // 2] + 1.0 * _sym(rng, 1, n)[0] for i in range(6)])
    m = xr.DataArray(models, dims=("rdm", "stimulus", "stimulus_"), coords={"rdm": ["two", "three", "six"]},
                     attrs={"method": "euclidean"})
    d = xr.DataArray(data, dims=("rdm", "stimulus", "stimulus_"),
                     coords={"rdm": np.arange(6), "truth": ("rdm", ["two", "two", "three", "three", "six", "six"])},
                     attrs={"method": "euclidean"})
    return d, m


def test_sweep_selects_the_true_models(known_models):
    data, models = known_models
    lows, ups = [0.0, 0.2, 0.5], [0.3, 0.6, 1.0]
    acc = sweep(models, data, lows, ups, correct="truth")
    assert acc.dims == ("low", "up") and acc.name == "accuracy"
    assert np.isnan(acc.sel(low=0.5, up=0.3)) and np.isfinite(acc.sel(low=0.0, up=1.0))
    assert float(acc.sel(low=0.0, up=1.0)) == 1.0  # the rank geometry identifies every data RDM
    assert acc.attrs["chance"] == pytest.approx(1 / 3) and acc.attrs["n_data"] == 6
    # correct= as a mapping or a sequence gives the same
    mapping = dict(zip(range(6), ["two", "two", "three", "three", "six", "six"]))
    xr.testing.assert_identical(sweep(models, data, lows, ups, correct=mapping), acc)
    geo = sweep(models, data, [0.0], [0.5], correct=list(mapping.values()), kind="geodesic")
    assert 0.0 <= float(geo[0, 0]) <= 1.0 and geo.attrs["kind"] == "geodesic"


def test_sweep_bootstrap(known_models):
    data, models = known_models
    acc = sweep(models, data, [0.0, 0.1], [0.5, 1.0], correct="truth", n_boot=30)
    assert acc.attrs["n_boot"] == 30
    assert ((acc >= 0) & (acc <= 1)).sum() == 4
    assert float(acc.sel(low=0.0, up=1.0)) > 0.9


def test_sweep_accuracy_matches_rsatoolbox_real_92(k92_brain):
    """Session 1 RDMs as 'models', session 2 as data: subject identification, checked with rsatoolbox."""
    brain, subjects = k92_brain
    models = xr.DataArray(brain[:, 0], dims=("rdm", "stimulus", "stimulus_"), coords={"rdm": subjects},
                          attrs={"method": "correlation"})
    data = xr.DataArray(brain[:, 1], dims=("rdm", "stimulus", "stimulus_"), coords={"rdm": subjects},
                        attrs={"method": "correlation"})
    acc = sweep(model_rdms=models, data_rdms=data, lows=[0.1], ups=[0.4, 0.9])
    for up in (0.4, 0.9):
        tm = np.stack([_rsa_gt(_vec(brain[s, 0])[None], 0.1, up)[0] for s in range(4)])  # one RDM at a time
        td = np.stack([_rsa_gt(_vec(brain[s, 1])[None], 0.1, up)[0] for s in range(4)])
        sims = rsr.compare(rsr.RDMs(tm), rsr.RDMs(td), method="spearman")  # (model, data)
        expected = np.mean(np.argmax(sims, axis=0) == np.arange(4))
        assert float(acc.sel(low=0.1, up=up)) == pytest.approx(expected)


def test_sweep_ties_share_credit():
    rng = np.random.default_rng(12)
    m = _sym(rng, 1, 10)[0]
    models = xr.DataArray(np.stack([m, m]), dims=("rdm", "stimulus", "stimulus_"), coords={"rdm": ["a", "b"]},
                          attrs={"method": "x"})
    acc = sweep(models, m, [0.0], [1.0], correct=["a"])
    assert float(acc[0, 0]) == 0.5


def test_sweep_takes_models_first_and_the_old_order_warns(known_models):
    """(model_rdms, data_rdms) as bootstrap/permutation_test; the old (data, model) order warns for one release."""
    import warnings

    data, models = known_models
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = sweep(models, data, [0.0, 0.2], [0.6, 1.0], correct="truth")  # fits only the new order: no warning
        kw = sweep(data_rdms=data, model_rdms=models, lows=[0.0, 0.2], ups=[0.6, 1.0], correct="truth")
    xr.testing.assert_identical(kw, new)
    with pytest.warns(FutureWarning, match="old order"):
        old = sweep(data, models, [0.0, 0.2], [0.6, 1.0], correct="truth")  # "truth" is a coord of the data only
    xr.testing.assert_identical(old, new)
    same = models.copy()
    with pytest.warns(FutureWarning, match="by keyword"):  # both orders fit: the new one, with a warning
        both = sweep(models, same, [0.0], [1.0])
    assert both.attrs["n_data"] == 3


def test_sweep_errors(known_models):
    data, models = known_models
    with pytest.raises(BadInputError, match="not a coord"):
        sweep(models, data, [0.0], [1.0], correct="label")
    with pytest.raises(BadInputError, match="not among the model labels"):
        sweep(models, data, [0.0], [1.0], correct=["nine"] * 6)
    with pytest.raises(BadInputError, match="n_boot"):
        sweep(models, data, [0.0], [1.0], correct="truth", method="kendall", n_boot=5)
    with pytest.raises(BadInputError, match=r"\[0, 1\]"):
        sweep(models, data, [0.0], [1.5], correct="truth")


def test_plot_sweep(known_models):
    import matplotlib

    matplotlib.use("Agg")
    data, models = known_models
    acc = sweep(models, data, [0.0, 0.3], [0.3, 1.0], correct="truth")
    fig = plot_sweep(acc)
    assert fig.axes and "tRSA" in fig.axes[0].get_title()
    import matplotlib.pyplot as plt

    plt.close(fig)
    with pytest.raises(DataModelError):
        plot_sweep(xr.DataArray([1.0], dims=("x",)))
