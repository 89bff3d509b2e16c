"""Simulated brains: the SNR is what was asked, same seed gives the same data, real stimuli load."""

from __future__ import annotations

import numpy as np
import pytest

from neurodecode.errors import BadInputError
from neurodecode.generative.simulate import image_features, muse_images, simulate_responses
from tests.conftest import require_data


@pytest.fixture(scope="module")
def feats():
    rng = np.random.default_rng(0)
    # ReLU-like, correlated features as a network would give
    return np.maximum(rng.normal(size=(60, 40)) @ rng.normal(size=(40, 50)), 0)


@pytest.mark.parametrize("snr", [0.25, 1.0, 4.0])
def test_snr_is_what_was_asked(feats, snr):
    sim = simulate_responses(feats, n_voxels=(200, 300), snr=snr, n_repeats=4, seed=1)
    assert [r.shape for r in sim.responses] == [(240, 200), (240, 300)]
    for measured in sim.measured_snr():  # ground truth: response - signal is the noise
        assert measured == pytest.approx(snr, rel=0.05)
    # and from the data alone: noise variance from the spread over repeats, signal variance from
    # the variance of the repeat means minus the noise left in them
    for s, resp in enumerate(sim.responses):
        x = np.asarray(resp.values, dtype=float).reshape(60, 4, -1)
        noise_var = x.var(axis=1, ddof=1).mean(axis=0)
        signal_var = x.mean(axis=1).var(axis=0, ddof=1) - noise_var / 4
        assert np.mean(signal_var) / np.mean(noise_var) == pytest.approx(snr, rel=0.15)
        # the noiseless signal's variance is what the noise was scaled to
        assert np.allclose(sim.signal[s].var(axis=0) / sim.noise_sd[s] ** 2, snr)


def test_same_seed_same_data_and_paired_snrs(feats):
    a = simulate_responses(feats, n_voxels=[50, 80], snr=1.0, seed=3)
    b = simulate_responses(feats, n_voxels=[50, 80], snr=1.0, seed=3)
    c = simulate_responses(feats, n_voxels=[50, 80], snr=1.0, seed=4)
    for ra, rb, rc in zip(a.responses, b.responses, c.responses):
        assert np.array_equal(ra.values, rb.values)
        assert not np.allclose(ra.values, rc.values)
    # another SNR with the same seed: same signal, the same unit noise rescaled
    d = simulate_responses(feats, n_voxels=[50, 80], snr=4.0, seed=3)
    for s in range(2):
        assert np.array_equal(a.signal[s], d.signal[s])
        idx = np.asarray(a.responses[s]["stimulus_index"].values)
        na = a.responses[s].values - a.signal[s][idx]
        nd = d.responses[s].values - d.signal[s][idx]
        assert np.allclose(nd, na / 2.0, atol=1e-4)
    # subjects differ from each other
    assert not np.allclose(a.signal[0][:, :50], a.signal[1][:, :50])


def test_layout_and_coords(feats):
    sim = simulate_responses(feats, n_voxels=30, snr=2.0, n_repeats=3, nonlinearity="relu", gain=2.0, seed=0)
    r = sim.responses[0]
    assert r.dims == ("trial", "neuroid") and r.attrs["nd_kind"] == "responses"
    assert r["stimulus_index"].values[:6].tolist() == [0, 0, 0, 1, 1, 1]
    assert r["repeat"].values[:6].tolist() == [0, 1, 2, 0, 1, 2]
    assert np.all(sim.signal[0] >= 0)  # relu output
    m = sim.mean_responses(0)
    assert np.allclose(m, np.asarray(r.values, float).reshape(60, 3, 30).mean(axis=1))


def test_bad_inputs(feats):
    with pytest.raises(BadInputError, match="snr"):
        simulate_responses(feats, snr=0)
    with pytest.raises(BadInputError, match="NaN"):
        simulate_responses(np.full((5, 3), np.nan))
    with pytest.raises(BadInputError, match="constant"):
        simulate_responses(np.ones((5, 3)))
    with pytest.raises(BadInputError, match="nonlinearity"):
        simulate_responses(feats, nonlinearity="cube")
    with pytest.raises(BadInputError, match="n_voxels"):
        simulate_responses(feats, n_voxels=[10, 0])


def test_on_real_stimuli(data_home):
    require_data(data_home / "muse_n170" / "stim" / "faces", "the Muse N170 face images")
    images = muse_images(size=64)
    assert images.sizes["stimulus"] == 96 and images.dtype == np.uint8
    assert list(np.unique(images["category"].values, return_counts=True)[1]) == [48, 48]
    f = image_features(images)
    assert f.shape == (96, 1280) and np.all(np.isfinite(f.values))
    assert f["category"].values[0] == "face"
    sim = simulate_responses(f, n_voxels=(100, 150), snr=0.5, seed=0)
    assert sim.responses[1]["category"].values[-1] == "house"
    for measured in sim.measured_snr():
        assert measured == pytest.approx(0.5, rel=0.1)
