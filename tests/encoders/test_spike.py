"""SpikeContrastive, its InfoNCE loss, the pair sampler, windows and the decoder (synthetic ground truths)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import xarray as xr

from neurodecode.encoders.base import encoder_class, load_encoder
from neurodecode.encoders.spike import (
    ContrastiveSampler,
    SpikeContrastive,
    SpikeContrastiveDecoder,
    info_nce,
    load_decoder,
    spike_windows,
)
from neurodecode.errors import BadInputError
from neurodecode.preprocess.spikes import spike_history
from neurodecode.train.splits import ContiguousBlocks


def _binned(counts: np.ndarray, times: np.ndarray | None = None, **coords) -> xr.DataArray:
    n_t = counts.shape[0]
    t = np.arange(n_t) * 0.05 + 0.025 if times is None else times
    c = {"time": t, "unit": np.arange(counts.shape[1])}
    c.update({k: ("time", v) for k, v in coords.items()})
    return xr.DataArray(counts, dims=("time", "unit"), coords=c,
                        attrs={"nd_kind": "binned_spikes", "bin_size": 0.05, "quantity": "counts"})


# --------------------------------------------------------------------------- encoder


def test_registered_and_shapes():
    assert encoder_class("spike_contrastive") is SpikeContrastive
    torch.manual_seed(0)
    m = SpikeContrastive(12, 6, 20.0, n_outputs=2, out_dim=5, hidden=8).eval()
    x = torch.randn(7, 12, 6)
    z = m.embed(x)
    assert z.shape == (7, 5)
    assert m(x).shape == (7, 2)
    np.testing.assert_allclose(torch.linalg.norm(z, dim=1).detach().numpy(), 1.0, atol=1e-6)


def test_bad_input_is_refused():
    m = SpikeContrastive(12, 6, 20.0, out_dim=4, hidden=8)
    with pytest.raises(BadInputError, match="expects input of shape"):
        m.embed(torch.randn(3, 11, 6))
    with pytest.raises(BadInputError, match="windows alone"):
        m.pretrain_loss((torch.randn(4, 12, 6),))
    with pytest.raises(BadInputError, match="out_dim"):
        SpikeContrastive(12, 6, 20.0, out_dim=1)
    with pytest.raises(BadInputError, match="temperature"):
        SpikeContrastive(12, 6, 20.0, temperature=0.0)
    dec = SpikeContrastiveDecoder(max_epochs=1)
    X = np.ones((40, 3, 2), dtype=np.float32)
    X[5, 1, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        dec.fit(X, np.zeros(40))
    with pytest.raises(BadInputError, match="not fitted"):
        dec.predict(np.ones((2, 3, 2)))
    with pytest.raises(BadInputError, match="n_times"):
        spike_windows(_binned(np.zeros((5, 2))), 6)


def test_info_nce_matches_a_hand_computation():
    rng = np.random.default_rng(1)
    ref, pos, neg = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(5, 4))
    temp = 0.5
    expected = []
    for i in range(3):
        sp = ref[i] @ pos[i] / temp
        sn = np.array([ref[i] @ neg[j] / temp for j in range(5)])
        expected.append(-np.log(np.exp(sp) / (np.exp(sp) + np.exp(sn).sum())))
    got = info_nce(*(torch.tensor(a) for a in (ref, pos, neg)), temperature=temp)
    assert float(got) == pytest.approx(np.mean(expected), rel=1e-10)


def test_pretrain_loss_on_sampler_batch_is_info_nce_of_the_embeddings():
    torch.manual_seed(0)
    m = SpikeContrastive(5, 4, 20.0, out_dim=3, hidden=6, dropout=0.0, temperature=0.3).eval()
    r, p, q = torch.randn(6, 5, 4), torch.randn(6, 5, 4), torch.randn(6, 5, 4)
    with torch.no_grad():
        zr, zp, zq = (m.embed(a).numpy().astype(np.float64) for a in (r, p, q))
        got = float(m.pretrain_loss((r, p, q)))
    logits = np.concatenate([(zr * zp).sum(1, keepdims=True), zr @ zq.T], axis=1) / 0.3
    expected = np.mean(np.log(np.exp(logits).sum(1)) - logits[:, 0])
    assert got == pytest.approx(expected, rel=1e-5)


# --------------------------------------------------------------------------- windows


def test_windows_equal_spike_history_and_skip_gaps():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(40, 3))
    times = np.arange(40) * 0.05 + 0.025
    times[25:] += 1.0  # a gap in the recording after bin 24
    b = _binned(counts, times, vel_x=rng.normal(size=40))
    win = spike_windows(b, 4)
    hist = spike_history(b, n_lags=4)  # (time, unit x lag), lag 0 = current bin; drops incomplete rows
    assert win.sizes["sample"] == hist.sizes["time"]
    np.testing.assert_array_equal(win["t"].values, hist["time"].values)
    lagged = win.values[:, :, ::-1].reshape(win.sizes["sample"], -1)  # (unit, lag) unit-major like spike_history
    np.testing.assert_array_equal(lagged, hist.values)
    np.testing.assert_array_equal(win["vel_x"].values, hist["vel_x"].values)
    assert win.attrs["n_incomplete"] == 6  # 3 bins at the start and 3 after the gap
    assert set(win["segment"].values) == {0, 1}
    assert np.all(win["window_stop"].values - win["window_start"].values == pytest.approx(0.2))


# --------------------------------------------------------------------------- sampler


def test_time_positives_stay_in_one_run_and_in_training_rows():
    n, off = 300, 3
    X = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)
    tr, te = list(ContiguousBlocks(3, gap=5).split(np.zeros(n)))[1]  # a middle test block: two training runs
    bins = np.arange(n)[tr]
    sampler = ContrastiveSampler(X[tr], bins=bins, mode="time", time_offset=off, seed=0)
    ref, pos, neg = sampler.draw(np.arange(len(sampler)))
    ref_bin, pos_bin = bins[ref], bins[pos]
    assert np.all(pos_bin - ref_bin == off)
    test_bins = set(np.arange(n)[te])
    for a, b in zip(ref_bin, pos_bin):
        assert not (set(range(a, b + 1)) & test_bins)  # never across the test block
    assert not (set(bins[neg]) & test_bins)
    # the last `off` rows of each training run have no positive and are not references
    runs = [bins[bins < te[0]], bins[bins > te[-1]]]
    expected_refs = sum(len(r) - off for r in runs)
    assert len(sampler) == expected_refs
    # the windows returned are the rows drawn
    item = sampler[0]
    assert float(item[1][0, 0] - item[0][0, 0]) == off


def test_time_positive_needs_a_contiguous_run():
    with pytest.raises(BadInputError, match="no row has a time positive"):
        ContrastiveSampler(np.zeros((4, 2, 2)), bins=np.array([0, 2, 4, 6]), mode="time", time_offset=1)
    with pytest.raises(BadInputError, match="time_offset"):
        ContrastiveSampler(np.zeros((4, 2, 2)), mode="time", time_offset=0)
    with pytest.raises(BadInputError, match="behaviour="):
        ContrastiveSampler(np.zeros((4, 2, 2)), mode="behaviour")


def test_behaviour_positive_is_the_nearest_to_the_jittered_behaviour():
    rng = np.random.default_rng(3)
    n = 200
    beh = np.cumsum(rng.normal(size=(n, 2)), axis=0)
    bins = np.r_[np.arange(100), np.arange(150, 250)]
    sampler = ContrastiveSampler(np.zeros((n, 2, 2), np.float32), bins=bins, behaviour=beh, mode="behaviour",
                                 time_offset=2, seed=5)
    # the behaviour steps: differences over 2 bins within each run, computed by hand
    deltas = np.concatenate([beh[2:100] - beh[:98], beh[102:] - beh[100:198]])
    np.testing.assert_allclose(sorted(map(tuple, sampler._deltas)), sorted(map(tuple, deltas)))
    gen = copy.deepcopy(sampler.rng)  # the generator state before the draw
    items = np.arange(50)
    ref, pos, _ = sampler.draw(items)
    target = beh[items] + sampler._deltas[gen.integers(0, len(sampler._deltas), len(items))]
    dist = np.linalg.norm(beh[None, :, :] - target[:, None, :], axis=2)
    dist[np.arange(len(items)), items] = np.inf  # never the reference itself
    np.testing.assert_array_equal(ref, items)
    np.testing.assert_array_equal(pos, dist.argmin(axis=1))
    assert np.all(pos != ref)


# --------------------------------------------------------------------------- decoder


def _circular_latent(n_t=3000, n_units=30, seed=0):
    """A latent angle doing a random walk on the circle drives Poisson units with cosine tuning."""
    rng = np.random.default_rng(seed)
    theta = np.cumsum(rng.normal(0, 0.15, n_t))
    phi = rng.uniform(0, 2 * np.pi, n_units)
    rate = 0.5 * np.exp(0.5 + 1.5 * np.cos(theta[:, None] - phi[None]))
    counts = rng.poisson(rate).astype(np.float32)
    return counts, np.column_stack([np.cos(theta), np.sin(theta)])


def test_time_contrastive_embedding_recovers_a_circular_latent():
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score

    counts, latent = _circular_latent()
    win = spike_windows(_binned(counts, cos=latent[:, 0], sin=latent[:, 1]), 5)
    lat = np.column_stack([win["cos"].values, win["sin"].values])
    n = win.sizes["sample"]
    tr, te = np.arange(int(0.7 * n)), np.arange(int(0.7 * n) + 5, n)
    # self-supervised: the latent is never shown to the encoder (y is only used by the head)
    dec = SpikeContrastiveDecoder(mode="time", time_offset=2, out_dim=4, hidden=16, depth=1, max_epochs=8,
                                  batch_size=256, decoder="ridge", threads=1, random_state=0)
    dec.fit(win.isel(sample=tr), lat[tr])
    Z = dec.transform(win.values)
    assert Z.shape == (n, 4)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
    lin = RidgeCV().fit(Z[tr], lat[tr])
    assert r2_score(lat[te], lin.predict(Z[te])) > 0.8


def test_decoder_save_load_round_trip(tmp_path):
    counts, latent = _circular_latent(n_t=600, n_units=10, seed=2)
    X = np.lib.stride_tricks.sliding_window_view(counts, 3, axis=0).copy()
    y = latent[2:]
    for head in ("knn", "ridge"):
        dec = SpikeContrastiveDecoder(mode="behaviour", out_dim=3, hidden=8, depth=1, max_epochs=1, batch_size=64,
                                      decoder=head, n_neighbors=5, threads=1).fit(X[:400], y[:400])
        dec.save(tmp_path / head)
        back = load_decoder(tmp_path / head)
        np.testing.assert_array_equal(back.transform(X[400:]), dec.transform(X[400:]))
        np.testing.assert_allclose(back.predict(X[400:]), dec.predict(X[400:]), rtol=0, atol=1e-12)
        enc = load_encoder(tmp_path / head / "encoder").eval()
        with torch.no_grad():
            xs = torch.as_tensor(dec._windows(X[400:410], fitting=False))
            np.testing.assert_array_equal(enc.embed(xs).numpy(), dec.encoder_.embed(xs).numpy())
    with pytest.raises(BadInputError, match="decoder.json"):
        load_decoder(tmp_path / "nothing")


def test_encoder_regressor_uses_in_batch_behaviour_positives():
    from neurodecode.encoders.estimators import EncoderRegressor

    counts, latent = _circular_latent(n_t=400, n_units=8, seed=4)
    X = np.lib.stride_tricks.sliding_window_view(counts, 3, axis=0).copy()
    y = latent[2:]
    est = EncoderRegressor("spike_contrastive", encoder_params={"out_dim": 4, "hidden": 8, "depth": 1}, sfreq=20.0,
                           pretrain_epochs=2, max_epochs=2, batch_size=64, patience=None, progress=False,
                           device="cpu")
    est.fit(X, y)
    losses = [h["train_loss"] for h in est.pretrain_history_]
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    assert est.predict(X[:5]).shape == (5, 2)
    Z = est.transform(X[:5])
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
