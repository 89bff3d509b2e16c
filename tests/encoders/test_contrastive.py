"""BrainCLIP and its contrastive losses: hand-computed loss values, adapters, persistence, alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodecode.encoders import BrainCLIP, load_encoder
from neurodecode.encoders.contrastive import (
    bimixco_loss,
    fit_brain_clip,
    info_nce,
    mix_inputs,
    retrieval_scores,
    soft_clip_loss,
    stack_subjects,
)
from neurodecode.errors import BadInputError


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _soft_ce(logits, targets):
    return float(-(targets * _log_softmax(logits)).sum(axis=1).mean())


@pytest.fixture
def pair():
    rng = np.random.default_rng(3)
    return rng.normal(size=(5, 4)), rng.normal(size=(5, 4))


def test_info_nce_is_cross_entropy_of_scaled_cosines_both_ways(pair):
    b, i = pair
    scale = 7.5
    logits = scale * _unit(b) @ _unit(i).T
    eye = np.eye(5)
    # cross-entropy against the diagonal, by hand: -log softmax of the diagonal entries
    expected = 0.5 * (_soft_ce(logits, eye) + _soft_ce(logits.T, eye))
    manual = 0.5 * (-np.mean(np.diag(_log_softmax(logits))) - np.mean(np.diag(_log_softmax(logits.T))))
    assert expected == pytest.approx(manual)
    got = info_nce(torch.tensor(b), torch.tensor(i), scale)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_soft_clip_with_orthogonal_images_uses_softmax_of_scaled_identity():
    rng = np.random.default_rng(0)
    n, scale = 4, 3.0
    image = np.eye(n)  # image-image cosine similarities = identity
    brain = rng.normal(size=(n, n))
    # targets by hand: e^s / (e^s + n - 1) on the diagonal, 1 / (e^s + n - 1) elsewhere
    on, off = np.exp(scale) / (np.exp(scale) + n - 1), 1.0 / (np.exp(scale) + n - 1)
    targets = np.full((n, n), off)
    np.fill_diagonal(targets, on)
    logits = scale * _unit(brain) @ image.T
    expected = 0.5 * (_soft_ce(logits, targets) + _soft_ce(logits.T, targets))
    got = soft_clip_loss(torch.tensor(brain), torch.tensor(image), scale)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # with very sharp targets it becomes InfoNCE; with the default (same scale) it does not
    sharp = soft_clip_loss(torch.tensor(brain), torch.tensor(image), scale, target_scale=1e4)
    assert float(sharp) == pytest.approx(float(info_nce(torch.tensor(brain), torch.tensor(image), scale)), rel=1e-5)
    assert abs(float(got) - float(sharp)) > 1e-3


def test_bimixco_with_lambda_one_is_info_nce(pair):
    b, i = (torch.tensor(a) for a in pair)
    perm = torch.tensor([2, 0, 1, 4, 3])
    got = bimixco_loss(b, i, 5.0, perm, torch.ones(5))
    assert float(got) == pytest.approx(float(info_nce(b, i, 5.0)), rel=1e-6)


def test_bimixco_targets_by_hand(pair):
    b, i = pair
    perm = np.array([2, 0, 1, 4, 3])
    lam = np.array([0.5, 0.9, 0.2, 1.0, 0.7])
    scale = 4.0
    t = np.zeros((5, 5))
    for r in range(5):
        t[r, r] += lam[r]
        t[r, perm[r]] += 1 - lam[r]
    back = t.T / t.T.sum(axis=1, keepdims=True)
    logits = scale * _unit(b) @ _unit(i).T
    expected = 0.5 * (_soft_ce(logits, t) + _soft_ce(logits.T, back))
    got = bimixco_loss(torch.tensor(b), torch.tensor(i), scale, torch.tensor(perm), torch.tensor(lam))
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_mix_inputs_mixes_within_groups_with_beta_weights():
    x = torch.arange(2000, dtype=torch.float32).reshape(1000, 2)
    groups = torch.tensor([0, 1] * 500)
    mixed, perm, lam = mix_inputs(x, 0.15, groups=groups, generator=torch.Generator().manual_seed(0))
    assert torch.equal(groups[perm], groups)
    assert sorted(perm.tolist()) == list(range(1000))
    expected = lam[:, None] * x + (1 - lam[:, None]) * x[perm]
    assert torch.allclose(mixed, expected)
    # Beta(0.15, 0.15): mean 1/2, most mass near 0 and 1 (P(0.1 < lam < 0.9) is about 0.22)
    assert float(lam.mean()) == pytest.approx(0.5, abs=0.05)
    middle = float(((lam > 0.1) & (lam < 0.9)).float().mean())
    assert 0.12 < middle < 0.32
    again = mix_inputs(x, 0.15, groups=groups, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[0], mixed)


def test_adapters_of_different_sizes_share_the_backbone():
    torch.manual_seed(0)
    model = BrainCLIP(9, 1, 1.0, clip_dim=4, subject_dims=[5, 9], hidden_dim=8, n_blocks=1, dropout=0.0)
    assert [a.in_features for a in model.adapters] == [5, 9]
    x, subject, dims = stack_subjects([np.ones((3, 5)), np.ones((2, 9))])
    assert x.shape == (5, 9) and dims == [5, 9] and subject.tolist() == [0, 0, 0, 1, 1]
    assert np.all(x[:3, 5:] == 0)
    # subject 0 only: gradient reaches its adapter and the shared backbone, not subject 1's adapter
    model.zero_grad()
    model.embed(torch.tensor(x[:3]), 0).sum().backward()
    assert model.adapters[0].weight.grad is not None and model.adapters[0].weight.grad.abs().sum() > 0
    assert model.adapters[1].weight.grad is None
    shared = [p for n, p in model.named_parameters() if n.startswith(("backbone", "projector"))]
    grads0 = [p.grad.clone() for p in shared]
    assert all(g.abs().sum() > 0 for g in grads0)
    model.zero_grad()
    model.embed(torch.tensor(x[3:]), 1).sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in shared)  # the same tensors, trained by both subjects
    # padding entries beyond a subject's size are ignored; its own width is accepted as well
    noisy = x[:3].copy()
    noisy[:, 5:] = 123.0
    model.eval()
    with torch.no_grad():
        a = model.embed(torch.tensor(x[:3]), 0)
        assert torch.allclose(a, model.embed(torch.tensor(noisy), 0))
        assert torch.allclose(a, model.embed(torch.ones(3, 5), 0))
        mixed_batch = model.embed(torch.tensor(x), torch.tensor(subject))
        assert torch.allclose(mixed_batch[:3], a)
    with pytest.raises(BadInputError, match="subject indices"):
        model.embed(torch.tensor(x), 2)


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(1)
    model = BrainCLIP(4, 6, 100.0, n_outputs=2, clip_dim=5, subject_dims=[24, 10], hidden_dim=16, n_blocks=2)
    with torch.no_grad():
        model.log_logit_scale.fill_(2.5)
    model.save(tmp_path / "m")
    back = load_encoder(tmp_path / "m")
    assert isinstance(back, BrainCLIP)
    assert back.subject_dims == [24, 10] and back.embed_dim == 5
    assert float(back.logit_scale.detach()) == pytest.approx(np.exp(2.5), rel=1e-6)
    x = torch.randn(7, 4, 6)
    model.eval()
    back.eval()
    with torch.no_grad():
        assert torch.equal(model(x), back(x))
        flat10 = x.reshape(7, -1)[:, :10]
        assert torch.equal(model.embed(flat10, 1), back.embed(flat10, 1))


@pytest.fixture
def one_thread():
    """Small networks train faster on one thread of a shared CPU; restore the setting afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_perfect_alignment_on_linear_ground_truth(one_thread):
    # image embeddings z; two subjects see them through different random linear maps (no noise)
    rng = np.random.default_rng(0)
    d, n = 8, 160
    maps = [rng.normal(size=(d, 20)), rng.normal(size=(d, 30))]
    z = rng.normal(size=(n, d)).astype(np.float32)
    x, subject, dims = stack_subjects([z @ maps[0], z @ maps[1]])
    model = BrainCLIP(max(dims), clip_dim=d, subject_dims=dims, hidden_dim=32, n_blocks=1, dropout=0.0)
    res = fit_brain_clip(model, x, np.concatenate([z, z]), subject, max_epochs=40, batch_size=64, lr=2e-3,
                         mixco_fraction=0.25, seed=0, device="cpu")
    assert res.loss_kinds == ["bimixco"] * 10 + ["softclip"] * 30
    z_test = rng.normal(size=(40, d)).astype(np.float32)
    for k in range(2):
        emb = model.encode(z_test @ maps[k], k)
        scores = retrieval_scores(emb, z_test)
        assert scores["n_way"] == 40 and scores["top1_chance"] == pytest.approx(1 / 40)
        assert scores["brain2image.top1"] >= 0.9
        assert scores["image2brain.top1"] >= 0.9
        assert scores["two_way"] >= 0.98


def test_retrieval_scores_chance_and_nway():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(30, 6))
    perfect = retrieval_scores(img * 2.0, img, n_way=10, n_draws=20)
    assert perfect["n_way"] == 10 and perfect["n_draws"] == 20
    assert perfect["top1_chance"] == pytest.approx(0.1) and perfect["top5_chance"] == pytest.approx(0.5)
    assert perfect["brain2image.top1"] == 1.0 and perfect["image2brain.top5"] == 1.0
    assert perfect["two_way"] == 1.0
    # independent embeddings: top-1 near 1/10 over many draws
    rand = retrieval_scores(rng.normal(size=(300, 6)), rng.normal(size=(300, 6)), n_way=10, n_draws=200)
    assert rand["brain2image.top1"] == pytest.approx(0.1, abs=0.03)


def test_bad_inputs():
    model = BrainCLIP(6, 1, clip_dim=3, hidden_dim=8)
    with pytest.raises(BadInputError, match="expects"):
        model.embed(torch.randn(2, 7))
    with pytest.raises(BadInputError, match="clip_dim"):
        fit_brain_clip(model, np.zeros((4, 6)), np.zeros((4, 5)), max_epochs=1)
    with pytest.raises(BadInputError, match="NaN"):
        fit_brain_clip(model, np.full((4, 6), np.nan), np.zeros((4, 3)), max_epochs=1)
    with pytest.raises(BadInputError, match="unknown loss"):
        fit_brain_clip(model, np.zeros((4, 6)), np.zeros((4, 3)), loss="triplet")
    with pytest.raises(BadInputError, match="exceed"):
        BrainCLIP(6, 1, subject_dims=[4, 8])
    with pytest.raises(BadInputError, match="class labels"):
        model.pretrain_loss((torch.randn(4, 6), torch.tensor([0, 1, 0, 1])))
