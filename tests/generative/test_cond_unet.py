"""The small conditional diffusion model: fits a toy set so that each embedding draws its own image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodecode.errors import BadInputError
from neurodecode.generative.cond_unet import CondDiffusion

SIZE = 8
COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=np.float32)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def squares() -> np.ndarray:
    """Four grey images, each with a coloured square in its own quadrant."""
    ims = np.full((4, SIZE, SIZE, 3), 0.5, np.float32)
    h = SIZE // 2
    for i, (r, c) in enumerate([(0, 0), (0, h), (h, 0), (h, h)]):
        ims[i, r : r + h, c : c + h] = COLOURS[i]
    return ims


@pytest.fixture(scope="module")
def toy():
    ims = squares()
    emb = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    model = CondDiffusion(image_size=SIZE, embed_dim=8, n_tokens=2, token_dim=16, block_out_channels=(16, 32),
                          attention_head_dim=8, seed=0)
    model.fit(np.repeat(ims, 8, axis=0), np.repeat(emb, 8, axis=0), max_epochs=100, batch_size=32, lr=5e-3,
              threads=1)
    return model, ims, emb


def test_each_embedding_draws_its_own_square(toy):
    model, ims, emb = toy
    assert model.history_[-1]["train_loss"] < 0.5 * model.history_[0]["train_loss"]
    out = model.sample(np.repeat(emb, 4, axis=0), seeds=range(16), steps=10, guidance_scale=6.0)
    assert out.shape == (16, SIZE, SIZE, 3) and out.min() >= 0 and out.max() <= 1
    dist = ((out[:, None] - ims[None]) ** 2).mean(axis=(2, 3, 4))  # (sample, square)
    per_class = dist.reshape(4, 4, 4).mean(axis=1)  # (embedding i, square j), mean over 4 seeds
    assert np.array_equal(per_class.argmin(axis=1), np.arange(4)), per_class
    # each coloured quadrant: the mean colour there is closest to the square's colour
    h = SIZE // 2
    quads = [(0, 0), (0, h), (h, 0), (h, h)]
    for i, (r, c) in enumerate(quads):
        mean_rgb = out[4 * i : 4 * i + 4, r : r + h, c : c + h].mean(axis=(0, 1, 2))
        assert np.argmin(((COLOURS - mean_rgb) ** 2).sum(axis=1)) == i, (i, mean_rgb)


def test_sampling_is_seeded_and_round_trips(toy, tmp_path):
    model, _, emb = toy
    a = model.sample(emb, seeds=[3, 4, 5, 6], steps=4)
    np.testing.assert_array_equal(a, model.sample(emb, seeds=[3, 4, 5, 6], steps=4))
    assert np.abs(a - model.sample(emb, seeds=[7, 8, 9, 10], steps=4)).mean() > 1e-3
    model.save(tmp_path / "cd")
    again = CondDiffusion.load(tmp_path / "cd")
    np.testing.assert_array_equal(again.sample(emb, seeds=[3, 4, 5, 6], steps=4), a)
    assert [r["train_loss"] for r in again.history_] == [r["train_loss"] for r in model.history_]
    assert "NaN" not in (tmp_path / "cd" / "config.json").read_text()  # strict JSON


def test_brain_guidance_through_the_model(toy):
    model, _, emb = toy

    def redness(images):
        return images[:, 0].mean(dim=(1, 2)) - images[:, 1:].mean(dim=(1, 2, 3))

    def score(a):
        return redness(torch.from_numpy(a).permute(0, 3, 1, 2)).numpy()

    base = model.sample(emb, seeds=range(4), steps=5, guidance_scale=1.0)
    guided = model.sample(emb, seeds=range(4), steps=5, guidance_scale=1.0, score=redness, score_scale=30.0)
    assert np.all(score(guided) > score(base)), (score(base), score(guided))


def test_bad_inputs():
    model = CondDiffusion(image_size=SIZE, embed_dim=8, n_tokens=2, token_dim=16, block_out_channels=(16, 32))
    with pytest.raises(BadInputError, match="not trained"):
        model.sample(np.zeros((1, 8)))
    with pytest.raises(BadInputError, match="embed_dim=8"):
        model.fit(squares(), np.zeros((4, 5)), max_epochs=1)
    with pytest.raises(BadInputError, match="one embedding per image"):
        model.fit(squares(), np.zeros((3, 8)), max_epochs=1)
    with pytest.raises(BadInputError, match="divisible"):
        CondDiffusion(image_size=30, embed_dim=8, block_out_channels=(16, 32, 32))
