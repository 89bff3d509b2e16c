"""Stable unCLIP driving, on tiny randomly initialised pipelines (fast on CPU, no weights needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodecode.errors import BadInputError, DatasetError
from neurodecode.generative.diffusion import generate, load_unclip, tiny_unclip, unclip_embed_dim
from neurodecode.generative.guidance import make_generators

STEPS = 2


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def pipe():
    return tiny_unclip(seed=0, embed_dim=16, image_size=32)


@pytest.fixture(scope="module")
def embeds():
    return np.random.default_rng(0).normal(size=(3, 16)).astype(np.float32)


def test_generate_matches_the_diffusers_pipeline(pipe, embeds):
    ours = generate(pipe, embeds, seeds=[5, 6, 7], num_inference_steps=STEPS, batch_size=2, progress=False)
    assert ours.shape == (3, 32, 32, 3) and ours.dtype == np.float32
    assert ours.min() >= 0.0 and ours.max() <= 1.0
    ref = pipe(image_embeds=torch.from_numpy(embeds), prompt=[""] * 3, generator=make_generators([5, 6, 7]),
               num_inference_steps=STEPS, output_type="np").images
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_seeds_make_images_reproducible_and_distinct(pipe, embeds):
    a = generate(pipe, embeds, seeds=[1, 2, 3], num_inference_steps=STEPS, batch_size=3, progress=False)
    b = generate(pipe, embeds, seeds=[1, 2, 3], num_inference_steps=STEPS, batch_size=3, progress=False)
    np.testing.assert_array_equal(a, b)
    one_by_one = generate(pipe, embeds, seeds=[1, 2, 3], num_inference_steps=STEPS, batch_size=1, progress=False)
    np.testing.assert_allclose(a, one_by_one, atol=1e-4)  # an image depends on its seed, not on its batch
    c = generate(pipe, embeds, seeds=[11, 12, 13], num_inference_steps=STEPS, batch_size=3, progress=False)
    assert np.abs(a - c).mean(axis=(1, 2, 3)).min() > 0.01


def test_image_embeds_change_the_images(pipe, embeds):
    a = generate(pipe, embeds, seeds=0, num_inference_steps=STEPS, progress=False)
    other = np.random.default_rng(1).normal(size=embeds.shape).astype(np.float32)
    b = generate(pipe, other, seeds=0, num_inference_steps=STEPS, progress=False)
    assert np.abs(a - b).mean(axis=(1, 2, 3)).min() > 0.01


def test_init_image_strength(pipe, embeds):
    init = np.random.default_rng(2).uniform(size=(3, 32, 32, 3)).astype(np.float32)
    with torch.no_grad():  # the VAE round trip of the initial images, computed directly
        x = torch.from_numpy(init).permute(0, 3, 1, 2) * 2 - 1
        rec = pipe.vae.decode(pipe.vae.encode(x).latent_dist.mode()).sample
        rec = (rec / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    dist = {}
    for s in (0.1, 1.0):
        out = generate(pipe, embeds, init_images=init, strength=s, seeds=0, num_inference_steps=10, progress=False)
        dist[s] = np.abs(out - rec).mean()
    assert dist[0.1] < 0.8 * dist[1.0], dist  # a low strength stays close to the initial image
    with pytest.raises(BadInputError, match="init_images"):
        generate(pipe, embeds, init_images=init[:2], progress=False)
    with pytest.raises(BadInputError, match="strength"):
        generate(pipe, embeds, init_images=init, strength=0.0, progress=False)


def test_bad_inputs_give_clear_errors(pipe, embeds):
    assert unclip_embed_dim(pipe) == 16
    with pytest.raises(BadInputError, match="dim 8 .* 16-dim"):
        generate(pipe, embeds[:, :8], progress=False)
    bad = embeds.copy()
    bad[0, 0] = np.inf
    with pytest.raises(BadInputError, match="NaN/inf"):
        generate(pipe, bad, progress=False)
    with pytest.raises(BadInputError, match="seeds"):
        generate(pipe, embeds, seeds=[1, 2], progress=False)
    with pytest.raises(BadInputError, match="noise_level"):
        generate(pipe, embeds, noise_level=1000, progress=False)


def test_load_unclip_from_a_local_folder(pipe, embeds, tmp_path):
    with pytest.raises(DatasetError, match="(?s)model_index.json is missing.*image_encoder/config.json"):
        load_unclip(tmp_path / "absent", device="cpu")
    pipe.save_pretrained(tmp_path / "tiny")
    loaded = load_unclip(tmp_path / "tiny", device="cpu")
    assert loaded.unet.dtype == torch.float32
    a = generate(pipe, embeds, seeds=0, num_inference_steps=STEPS, progress=False)
    b = generate(loaded, embeds, seeds=0, num_inference_steps=STEPS, progress=False)
    np.testing.assert_array_equal(a, b)
    index = json.loads((tmp_path / "tiny" / "model_index.json").read_text())
    index["_class_name"] = "StableUnCLIPPipeline"
    (tmp_path / "tiny" / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(DatasetError, match="StableUnCLIPImg2ImgPipeline"):
        load_unclip(tmp_path / "tiny", device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_half_precision(embeds):
    pipe = tiny_unclip(seed=0, device="cuda").to(dtype=torch.float16)
    out = generate(pipe, embeds, seeds=0, num_inference_steps=STEPS, progress=False)
    ref = generate(tiny_unclip(seed=0, device="cpu"), embeds, seeds=0, num_inference_steps=STEPS, progress=False)
    assert out.shape == ref.shape and np.isfinite(out).all()
    assert np.abs(out - ref).mean() < 0.05  # same weights and noise; only fp16 rounding differs
