"""Held-out layer assignment (one implementation for RDMs and activations) and the Gram-indexed CKA bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurodecode.analysis import METHODS, assign_layers_heldout, similarity
from neurodecode.analysis.layers import compare_layer_activations


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(5)
    n = 32
    ids = [f"s{i:02d}" for i in range(n)]
    layers = {f"l{i}": rng.normal(size=(n, 25 + 10 * i)) for i in range(3)}
    resp = np.concatenate([layers["l1"][:, :8] + 0.7 * rng.normal(size=(n, 8)) for _ in range(3)], axis=1)
    acts = xr.Dataset({k: (("stimulus", f"f_{k}"), v) for k, v in layers.items()}, coords={"stimulus": ids})
    brain = xr.DataArray(resp, dims=("stimulus", "neuroid"),
                         coords={"stimulus": ids, "region": ("neuroid", ["V"] * 16 + ["W"] * 8),
                                 "subject": ("neuroid", np.repeat(["a", "b", "c"], 8))})
    return acts, brain


@pytest.mark.parametrize("method", ["linear_cka", "debiased_cka"])
def test_gram_indexed_bootstrap_equals_recomputing_each_resample(toy, method):
    """The CKA bootstrap indexes one Gram matrix per layer; equal to recomputing CKA on every resample."""
    acts, brain = toy
    assert METHODS[method].gram is not None
    res = compare_layer_activations({"net": acts}, brain, method=method, n_boot=40, seed=3, ci=0.9)
    n = acts.sizes["stimulus"]
    rng = np.random.default_rng(3)  # the documented draws: default_rng(seed).integers(0, n, n) per resample
    boots = [rng.integers(0, n, size=n) for _ in range(40)]
    y = brain.values
    for layer in ("l0", "l2"):
        x = acts[layer].values
        for region, subjects in (("V", [slice(0, 8), slice(8, 16)]), ("W", [slice(16, 24)])):
            draws = [np.mean([float(similarity(x[b], y[b][:, s], method)) for s in subjects]) for b in boots]
            lo, hi = np.nanquantile(draws, [0.05, 0.95])
            sel = {"model": "net", "layer": layer, "region": region}
            assert float(res["ci_low"].sel(sel)) == pytest.approx(lo, abs=1e-12)
            assert float(res["ci_high"].sel(sel)) == pytest.approx(hi, abs=1e-12)
            est = np.mean([float(similarity(x, y[:, s], method)) for s in subjects])
            assert float(res["score"].sel(sel)) == pytest.approx(est, abs=1e-12)


def test_methods_without_a_gram_form_recompute(toy):
    acts, brain = toy
    assert METHODS["rbf_cka"].gram is None and METHODS["procrustes"].gram is None
    res = compare_layer_activations({"net": acts}, brain, method="rbf_cka", n_boot=5, seed=0)
    assert np.isfinite(res["ci_low"].values).all()


def test_assign_layers_heldout_follows_the_documented_splits(toy):
    """Split s: default_rng(seed).permutation(n); the first n // 2 choose, the rest score."""
    acts, brain = toy
    out = assign_layers_heldout(acts, brain, method="debiased_cka", n_repeats=3, seed=7)
    n = acts.sizes["stimulus"]
    rng = np.random.default_rng(7)
    for s in range(3):
        perm = rng.permutation(n)
        a, b = np.sort(perm[: n // 2]), np.sort(perm[n // 2:])
        cols = np.flatnonzero(brain["region"].values == "W")
        sel = [float(similarity(acts[k].values[a], brain.values[np.ix_(a, cols)], "debiased_cka")) for k in acts]
        best = int(np.nanargmax(sel))
        assert out["chosen_layer"].sel(repeat=s, region="W").item() == f"l{best}"
        held = float(similarity(acts[f"l{best}"].values[b], brain.values[np.ix_(b, cols)], "debiased_cka"))
        assert float(out["heldout_score"].sel(repeat=s, region="W")) == pytest.approx(held, abs=1e-12)
    assert out["best_layer"].sel(region="V").item() == "l1"


def test_bootstrap_without_a_gram_form_equals_recomputing_each_resample(toy):
    """Methods without a Gram form prepare each resample's brain side once for all layers; the CIs equal
    recomputing the method on every resample pair by pair (two models sharing some layer names)."""
    acts, brain = toy
    other = xr.Dataset({"l1": acts["l2"], "extra": acts["l0"] * 2.0 + 1.0})
    res = compare_layer_activations({"net": acts, "other": other}, brain, method="procrustes", n_boot=6, seed=11,
                                    ci=0.8)
    n = acts.sizes["stimulus"]
    rng = np.random.default_rng(11)
    boots = [rng.integers(0, n, size=n) for _ in range(6)]
    y = brain.values
    regions = (("V", [slice(0, 8), slice(8, 16)]), ("W", [slice(16, 24)]))
    for model, ds in (("net", acts), ("other", other)):
        for layer in ds.data_vars:
            x = ds[layer].values
            for region, subjects in regions:
                draws = [np.mean([float(similarity(x[b], y[b][:, s], "procrustes")) for s in subjects]) for b in boots]
                sel = {"model": model, "layer": layer, "region": region}
                assert float(res["ci_low"].sel(sel)) == pytest.approx(np.nanquantile(draws, 0.1), abs=1e-12)
                assert float(res["ci_high"].sel(sel)) == pytest.approx(np.nanquantile(draws, 0.9), abs=1e-12)
    for missing in (("other", "l0"), ("other", "l2"), ("net", "extra")):  # layers a model does not have stay NaN
        sel = {"model": missing[0], "layer": missing[1]}
        assert np.isnan(res["score"].sel(sel).values).all() and np.isnan(res["ci_low"].sel(sel).values).all()
