"""Brain guidance (BrainDiVE-style): formulas checked by hand, and guidance raises the score it follows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodecode.errors import BadInputError
from neurodecode.generative.diffusion import generate, tiny_unclip
from neurodecode.generative.guidance import RegionScore, guidance_shift, guided_sample, predict_x0


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def brightness(images):
    return images.mean(dim=(1, 2, 3))


def _parametrisations(ab):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    a, b = ab**0.5, (1 - ab) ** 0.5
    x_t = a * x0 + b * eps
    return x0, eps, x_t, {"epsilon": eps, "v_prediction": a * eps - b * x0, "sample": x0}


@pytest.mark.parametrize("ab", [0.9, 0.3, 0.01])
def test_x0_and_shift_agree_across_parametrisations(ab):
    ab = torch.tensor(ab)
    x0, eps, x_t, outs = _parametrisations(ab)
    grad = torch.randn_like(x0)
    # the guided clean-sample estimate, from eps' = eps - s * sqrt(1 - ab) * grad by hand
    eps_g = eps - 2.0 * (1 - ab) ** 0.5 * grad
    x0_g = (x_t - (1 - ab) ** 0.5 * eps_g) / ab**0.5
    for ptype, out in outs.items():
        torch.testing.assert_close(predict_x0(out, x_t, ab, ptype), x0, rtol=1e-4, atol=1e-4)
        shifted = guidance_shift(out, grad, ab, 2.0, ptype)
        torch.testing.assert_close(predict_x0(shifted, x_t, ab, ptype), x0_g, rtol=1e-4, atol=1e-4)
    with pytest.raises(BadInputError, match="prediction_type"):
        predict_x0(eps, x_t, ab, "flow")


@pytest.fixture(scope="module")
def pipe():
    return tiny_unclip(seed=0)


def test_guidance_raises_brightness_in_unclip(pipe):
    emb = np.random.default_rng(0).normal(size=(3, 16)).astype(np.float32)
    kw = dict(seeds=[1, 2, 3], num_inference_steps=2, score=brightness, progress=False)
    base = generate(pipe, emb, score_scale=0.0, **kw).mean(axis=(1, 2, 3))
    more = generate(pipe, emb, score_scale=1000.0, **kw).mean(axis=(1, 2, 3))
    less = generate(pipe, emb, score_scale=-1000.0, **kw).mean(axis=(1, 2, 3))
    assert np.all(more > base + 0.01) and np.all(less < base - 0.01), (less, base, more)


def test_guidance_with_a_pixel_unet_and_cfg():
    from diffusers import DDIMScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=16, in_channels=3, out_channels=3, block_out_channels=(16, 32),
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), layers_per_block=1,
                                cross_attention_dim=8, attention_head_dim=2, norm_num_groups=8).eval()
    sched = DDIMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2", clip_sample=False)
    cond = {"encoder_hidden_states": torch.randn(4, 2, 8)}
    uncond = {"encoder_hidden_states": torch.zeros(4, 2, 8)}
    w = torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(1))

    def readout(images):  # a fixed random linear readout of the pixels
        return (images * w).mean(dim=(1, 2, 3))

    kw = dict(cond=cond, uncond=uncond, cfg_scale=2.0, seeds=range(4), steps=3)
    base = guided_sample(unet, sched, readout, score_scale=0.0, **kw)
    guided = guided_sample(unet, sched, readout, score_scale=20.0, **kw)
    cheap = guided_sample(unet, sched, readout, score_scale=20.0, backprop_unet=False, **kw)
    assert base.shape == (4, 16, 16, 3)
    score = lambda a: readout(torch.from_numpy(a).permute(0, 3, 1, 2)).numpy()  # noqa: E731
    assert np.all(score(guided) > score(base)) and np.all(score(cheap) > score(base))
    np.testing.assert_array_equal(base, guided_sample(unet, sched, None, **kw))  # scale 0 == no guidance
    with pytest.raises(BadInputError, match="one value per image"):
        guided_sample(unet, sched, lambda im: im.mean(), score_scale=1.0, **kw)


@pytest.fixture(scope="module")
def lite0():
    from neurodecode.models import load_model

    return load_model("efficientnet_lite0", pretrained=False, seed=0)


def test_region_score_features_match_extract(lite0):
    from neurodecode.models import extract
    from neurodecode.models.zoo import LITE_MEAN, LITE_STD

    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    rs = RegionScore(lite0, "block4c", np.ones(80), size=64)
    net_input = (images - torch.tensor(LITE_MEAN).view(1, 3, 1, 1)) / torch.tensor(LITE_STD).view(1, 3, 1, 1)
    ref = extract(lite0, net_input, layers=["block4c"], pooling="avg", progress=False)["block4c"].values
    with torch.no_grad():
        np.testing.assert_allclose(rs.features(images).numpy(), ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(rs(images).numpy(), ref.sum(axis=1), rtol=1e-4, atol=1e-4)
    with pytest.raises(BadInputError, match="not a module"):
        RegionScore(lite0, "block99", np.ones(3))


def test_region_score_fit_recovers_a_known_readout_and_guides(lite0, pipe):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, 48, 48, 3), dtype=np.uint8)
    probe = RegionScore(lite0, "block3b", np.zeros(40), size=48)
    with torch.no_grad():
        feats = probe.features(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).numpy()
    w_true = rng.normal(size=(40, 2))
    responses = feats @ w_true + 1.0  # two "voxels", exactly linear in the features
    rs = RegionScore.fit(lite0, "block3b", images, responses, alphas=[1e-6], size=48)
    with torch.no_grad():
        pred = rs(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).numpy()
    np.testing.assert_allclose(pred, responses.mean(axis=1), rtol=1e-3, atol=1e-3)
    # the fitted region model steers unCLIP sampling upwards
    emb = rng.normal(size=(2, 16)).astype(np.float32)
    kw = dict(seeds=[4, 5], num_inference_steps=2, score=rs, progress=False)
    with torch.no_grad():
        base, guided = (rs(torch.from_numpy(generate(pipe, emb, score_scale=s, **kw)).permute(0, 3, 1, 2)).numpy()
                        for s in (0.0, 1000.0))
    assert np.all(guided > base), (base, guided)
