"""Tests of neurodecode.encoders.brainmae (region-aware masked autoencoder on ROI time series)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurodecode.encoders.base import encoder_class, load_encoder
from neurodecode.encoders.brainmae import BrainMAE, weighted_reconstruction_loss
from neurodecode.errors import BadInputError

SMALL = dict(segment_len=2, d_emb=8, d_model=16, n_heads=2, n_layers=1, dropout=0.0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: the test machine's cores are shared, and oversubscription makes tiny models crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(n_rois=6, n_times=8, n_outputs=3, **kw):
    torch.manual_seed(0)
    return BrainMAE(n_rois, n_times, 0.4, n_outputs, **{**SMALL, **kw})


def _latent_series(n, n_rois, n_times, rng, noise=0.1):
    """ROI windows driven by 3 shared smooth latent signals (known low-rank structure) plus noise."""
    t = np.arange(n_times)
    mix = rng.normal(size=(n_rois, 3))
    freq = rng.uniform(0.05, 0.25, size=(n, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 3))
    lat = np.sin(2 * np.pi * freq[:, :, None] * t[None, None, :] + phase[:, :, None])  # (n, 3, T)
    x = np.einsum("rk,nkt->nrt", mix, lat) + noise * rng.normal(size=(n, n_rois, n_times))
    x /= x.std()
    return x.astype(np.float32)


# --------------------------------------------------------------------------- shapes and registry


def test_registered_and_exported():
    import neurodecode.encoders as enc

    assert encoder_class("brainmae") is BrainMAE
    assert enc.BrainMAE is BrainMAE


@pytest.mark.parametrize("pool, dim", [("mean", 16), ("roi", 6 * 16)])
def test_shapes(pool, dim):
    m = _model(pool=pool).eval()
    x = torch.randn(5, 6, 8)
    assert m(x).shape == (5, 3)
    assert m.embed(x).shape == (5, dim) and m.embed_dim == dim
    assert m.tokens(x).shape == (5, 6, 4, 16)
    assert m.reconstruct(x).shape == (5, 6, 4, 2)
    assert m.segments(x).shape == (5, 6, 4, 2)
    assert m.roi_similarity().shape == (6, 6)
    assert m.graph_attention().shape == (1, 2, 6, 6)
    assert m.pretrain_loss((x,)).ndim == 0
    no_head = _model(n_outputs=0).eval()
    assert torch.equal(no_head(x), no_head.embed(x))


def test_pooling_matches_tokens():
    m = _model(pool="roi").eval()
    x = torch.randn(4, 6, 8)
    tok = m.tokens(x)
    with torch.no_grad():
        assert torch.allclose(m.embed(x), tok.mean(dim=2).reshape(4, -1), atol=1e-6)
        mean_model = _model(pool="mean").eval()
        assert torch.allclose(mean_model.embed(x), mean_model.tokens(x).mean(dim=(1, 2)), atol=1e-6)


def test_segments_are_consecutive_samples():
    m = _model()
    x = torch.arange(2 * 6 * 8, dtype=torch.float32).reshape(2, 6, 8)
    seg = m.segments(x)
    assert torch.equal(seg[1, 3, 2], x[1, 3, 4:6])


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.6, 0.75])
def test_mask_ratio_honoured(ratio):
    m = _model(n_rois=10, n_times=12, segment_len=3, mask_ratio=ratio)
    n_tokens = 10 * 4
    mask = m.random_mask(64, generator=torch.Generator().manual_seed(1))
    assert mask.shape == (64, 10, 4) and mask.dtype == torch.bool
    per_sample = mask.reshape(64, -1).sum(dim=1)
    assert torch.all(per_sample == round(ratio * n_tokens))
    # masks are drawn per sample: they are not all the same, and every token is masked sometimes
    assert len({tuple(r.tolist()) for r in mask.reshape(64, -1)}) > 1
    assert mask.any(dim=0).all()


def test_mask_reproducible_with_generator():
    m = _model()
    a = m.random_mask(8, generator=torch.Generator().manual_seed(3))
    b = m.random_mask(8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_masked_tokens_do_not_see_their_signal():
    """Changing the signal of a masked token leaves the reconstruction unchanged (it is replaced by the
    mask token); changing a visible token's signal changes it."""
    m = _model().eval()
    x = torch.randn(1, 6, 8)
    mask = torch.zeros(1, 6, 4, dtype=torch.bool)
    mask[0, 2, 1] = True
    x2 = x.clone()
    x2[0, 2, 2:4] += 5.0  # ROI 2, segment 1 (masked)
    with torch.no_grad():
        assert torch.allclose(m.reconstruct(x, mask), m.reconstruct(x2, mask), atol=1e-6)
        x3 = x.clone()
        x3[0, 2, 4:6] += 5.0  # ROI 2, segment 2 (visible)
        assert not torch.allclose(m.reconstruct(x, mask), m.reconstruct(x3, mask), atol=1e-4)


# --------------------------------------------------------------------------- the loss


def test_weighted_loss_hand_computed():
    # 2 samples x 2 tokens, segments of 2 samples; target 0, so each token error is the mean of recon^2
    target = torch.zeros(2, 2, 2)
    recon = torch.tensor([[[1.0, 1.0], [2.0, 0.0]],
                          [[0.0, 3.0], [1.0, 3.0]]])
    mask = torch.tensor([[True, False], [False, True]])
    # token errors: [1, 2], [4.5, 5]; masked: 1 and 5 -> mean 3; unmasked: 2 and 4.5 -> mean 3.25
    assert float(weighted_reconstruction_loss(target, recon, mask, 1.0, 0.0)) == pytest.approx(3.0)
    assert float(weighted_reconstruction_loss(target, recon, mask, 0.0, 1.0)) == pytest.approx(3.25)
    assert float(weighted_reconstruction_loss(target, recon, mask, 2.0, 0.5)) == pytest.approx(2 * 3 + 0.5 * 3.25)
    # w_unmasked = 0: any error on the unmasked tokens is ignored
    worse = recon.clone()
    worse[0, 1] += 100.0
    worse[1, 0] -= 100.0
    assert float(weighted_reconstruction_loss(target, worse, mask, 1.0, 0.0)) == pytest.approx(3.0)
    assert float(weighted_reconstruction_loss(target, worse, mask, 1.0, 1.0)) > 1000


def test_weighted_loss_checks_shapes():
    with pytest.raises(BadInputError, match="mask"):
        weighted_reconstruction_loss(torch.zeros(2, 3, 2), torch.zeros(2, 3, 2), torch.zeros(2, 2, dtype=torch.bool))


@pytest.mark.parametrize("w_masked, w_unmasked", [(1.0, 0.0), (1.0, 0.1), (0.3, 2.0)])
def test_pretrain_loss_equals_numpy_formula(w_masked, w_unmasked):
    m = _model(w_masked=w_masked, w_unmasked=w_unmasked).eval()
    x = torch.randn(3, 6, 8)
    mask = m.random_mask(3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss = float(m.pretrain_loss((x,), mask=mask))
        rec = m.reconstruct(x, mask).numpy()
    xs = x.numpy().reshape(3, 6, 4, 2)
    err = ((rec - xs) ** 2).mean(axis=-1)
    mk = mask.numpy()
    expected = w_masked * err[mk].mean() + w_unmasked * err[~mk].mean()
    assert loss == pytest.approx(expected, rel=1e-5)


def test_loss_weights_matter_for_gradients():
    """With w_unmasked=0 the unmasked tokens' decoder outputs get no gradient; with w_unmasked>0 they do."""
    x = torch.randn(2, 6, 8)
    for w_u, expect_zero in ((0.0, True), (0.5, False)):
        m = _model(w_unmasked=w_u).eval()
        mask = m.random_mask(2, generator=torch.Generator().manual_seed(0))
        rec = m.reconstruct(x, mask)
        rec.retain_grad()
        loss = weighted_reconstruction_loss(m.segments(x), rec, mask, m.w_masked, m.w_unmasked)
        loss.backward()
        g_unmasked = rec.grad[~mask]
        assert bool((g_unmasked == 0).all()) is expect_zero
        assert bool((rec.grad[mask] != 0).any())


def test_pretrain_loss_decreases_on_synthetic_data():
    """Low-rank synthetic ROI series: after a short pretraining the masked tokens of *new* windows are
    reconstructed far better than by predicting zero (their mean) and better than before training."""
    from neurodecode.train.trainer import Trainer

    rng = np.random.default_rng(0)
    x_all = _latent_series(640, 12, 8, rng)  # one mixing of the latents into the ROIs for all windows
    x_train, x_test = x_all[:512], torch.as_tensor(x_all[512:])
    torch.manual_seed(0)
    m = BrainMAE(12, 8, 0.4, 0, segment_len=2, d_emb=8, d_model=32, n_heads=2, n_layers=2, dropout=0.0,
                 mask_ratio=0.5, w_masked=1.0, w_unmasked=0.1)
    mask = m.random_mask(128, generator=torch.Generator().manual_seed(1))

    def masked_mse():
        m.eval()
        with torch.no_grad():
            return float(weighted_reconstruction_loss(m.segments(x_test), m.reconstruct(x_test, mask), mask, 1.0, 0.0))

    before = masked_mse()
    res = Trainer(max_epochs=25, lr=3e-3, batch_size=64, patience=None, progress=False, device="cpu",
                  drop_last=True).fit(m, (x_train,), step_fn=lambda mod, b: mod.pretrain_loss(b))
    after = masked_mse()
    zero = float((m.segments(x_test) ** 2).mean(dim=-1)[mask].mean())
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < 0.6 * losses[0]
    assert after < 0.5 * zero
    assert after < 0.5 * before


# --------------------------------------------------------------------------- the region-aware graph


def test_graph_attention_comes_from_roi_embeddings():
    m = _model(n_rois=7, n_layers=2)
    a = m.graph_attention()
    assert a.shape == (2, 2, 7, 7)
    assert torch.allclose(a.sum(dim=-1), torch.ones(2, 2, 7), atol=1e-6)
    # equal to softmax((E Wq)(E Wk)^T / sqrt(d_head)) computed by hand from the parameters
    e = m.roi_embedding.detach().numpy().astype(np.float64)
    g = m.blocks[1].graph
    wq, wk = g.q_emb.weight.detach().numpy(), g.k_emb.weight.detach().numpy()
    q, k = (e @ wq.T).reshape(7, 2, 8), (e @ wk.T).reshape(7, 2, 8)
    logits = np.einsum("rhd,shd->hrs", q, k) / math.sqrt(8)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    assert np.allclose(a[1].numpy(), expected, atol=1e-5)
    # changing one ROI's embedding changes the graph (its row, and the other rows through its column)
    with torch.no_grad():
        m.roi_embedding[3] += 2.0
    b = m.graph_attention()
    assert not torch.allclose(a[:, :, 3], b[:, :, 3], atol=1e-4)
    assert not torch.allclose(a[:, :, 0, 3], b[:, :, 0, 3], atol=1e-5)


def test_graph_is_shared_and_content_attention_adds_input_dependence():
    x = torch.randn(3, 6, 8)
    static = _model(content_attention=False)
    g = static.blocks[0].graph
    emb = static.roi_embedding
    h = torch.randn(3, 6, 16)
    assert g.weights(emb, h).shape == (2, 6, 6)  # one graph for every sample
    content = _model(content_attention=True)
    w = content.blocks[0].graph.weights(content.roi_embedding, h)
    assert w.shape == (3, 2, 6, 6)
    assert torch.allclose(w.sum(-1), torch.ones(3, 2, 6), atol=1e-6)
    assert not torch.allclose(w[0], w[1])
    assert content(x).shape == (3, 3)


def test_roi_similarity_is_cosine_of_embeddings():
    m = _model()
    e = m.roi_embedding.detach().numpy().astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    sim = m.roi_similarity().numpy()
    assert np.allclose(sim, e @ e.T, atol=1e-6)
    assert np.allclose(np.diag(sim), 1.0, atol=1e-6)


# --------------------------------------------------------------------------- persistence and errors


@pytest.mark.parametrize("kw", [{}, {"pool": "roi", "content_attention": True, "temporal": "mlp", "head_hidden": 8}])
def test_save_load_round_trip(tmp_path, kw):
    m = _model(**kw).eval()
    x = torch.randn(4, 6, 8)
    m.save(tmp_path / "enc")
    back = load_encoder(tmp_path / "enc").eval()
    assert type(back) is BrainMAE and back.get_config() == m.get_config()
    with torch.no_grad():
        assert torch.equal(m(x), back(x))
        assert torch.equal(m.embed(x), back.embed(x))
        mask = m.random_mask(4, generator=torch.Generator().manual_seed(0))
        assert torch.equal(m.reconstruct(x, mask), back.reconstruct(x, mask))
    assert torch.equal(m.roi_similarity(), back.roi_similarity())


def test_bad_input():
    m = _model()
    with pytest.raises(BadInputError, match=r"\(batch, 6 channels, 8 times\)"):
        m(torch.randn(2, 5, 8))
    with pytest.raises(BadInputError, match="shape"):
        m(torch.randn(6, 8))
    bad = torch.randn(2, 6, 8)
    bad[0, 1, 2] = float("nan")
    with pytest.raises(BadInputError, match="NaN"):
        m.embed(bad)
    with pytest.raises(BadInputError, match="mask must be"):
        m.reconstruct(torch.randn(2, 6, 8), torch.zeros(2, 6, 3, dtype=torch.bool))


@pytest.mark.parametrize("kw, match", [
    ({"segment_len": 3}, "multiple of segment_len"),
    ({"mask_ratio": 1.0}, "mask_ratio"),
    ({"mask_ratio": 0.0}, "mask_ratio"),
    ({"w_masked": 0.0, "w_unmasked": 0.0}, "not both 0"),
    ({"w_masked": -1.0}, ">= 0"),
    ({"d_model": 15}, "divisible"),
    ({"temporal": "rnn"}, "temporal"),
    ({"pool": "max"}, "pool"),
])
def test_bad_hyperparameters(kw, match):
    with pytest.raises(BadInputError, match=match):
        _model(**kw)


# --------------------------------------------------------------------------- scikit-learn


def test_cross_val_score_with_encoder_classifier():
    """EncoderClassifier('brainmae', pretrain_epochs=...) cross-validates; on data where each class
    raises the signal of its own group of ROIs it decodes far above chance."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from neurodecode.encoders.estimators import EncoderClassifier

    rng = np.random.default_rng(0)
    n, n_rois = 150, 9
    y = np.repeat(np.arange(3), n // 3)
    X = _latent_series(n, n_rois, 8, rng, noise=0.5)
    for k in range(3):
        X[y == k, 3 * k:3 * k + 3, :] += 1.5
    clf = EncoderClassifier("brainmae", encoder_params={**SMALL, "pool": "roi"}, sfreq=0.4, pretrain_epochs=2,
                            max_epochs=30, patience=None, batch_size=32, lr=3e-3, device="cpu", random_state=0)
    scores = cross_val_score(clf, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,)
    assert scores.mean() > 0.8  # chance 1/3
    fitted = clf.fit(X, y)
    assert len(fitted.pretrain_history_) == 2
    assert fitted.transform(X[:5]).shape == (5, n_rois * 16)
