"""Reconstruction metrics against independent computations (scikit-image, scipy, numpy loops).

Ground truths: scikit-image's structural_similarity and rgb2gray (SSIM), numpy's corrcoef (PixCorr,
two-way identification), scipy's correlation and cosine distances (feature distance, retrieval),
torch's antialiased bilinear interpolation (torchvision's Resize, MindEye's resize), known chance
levels of random data, and the Kriegeskorte 92 images degraded by known amounts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.ndimage import gaussian_filter
from scipy.spatial.distance import cdist, correlation
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

import torch

from neurodecode.errors import BadInputError
from neurodecode.generative import metrics as m
from tests.conftest import require_data


def _images(n=4, h=32, w=40, seed=0):
    return np.random.default_rng(seed).random((n, h, w, 3))


def _smooth_images(n=4, h=48, w=48, seed=0):
    """Images with spatial structure (so that SSIM and PixCorr are far from 0)."""
    return np.clip(gaussian_filter(_images(n, h, w, seed), (0, 2, 2, 0)) * 2 - 0.5, 0, 1)


def _degrade(images, noise, seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(images + noise * rng.standard_normal(images.shape), 0, 1)


def _skimage_ssim(a, b, sigma=1.5):
    return structural_similarity(
        rgb2gray(a), rgb2gray(b), gaussian_weights=True, sigma=sigma, use_sample_covariance=False, data_range=1.0
    )


def _torch_resize(images, hw):
    """torchvision's Resize (bilinear, antialias) as MindEye applies it: F.interpolate on NCHW."""
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    y = torch.nn.functional.interpolate(x, size=hw, mode="bilinear", antialias=True, align_corners=False)
    return y.numpy().transpose(0, 2, 3, 1)


# --------------------------------------------------------------------------- PixCorr


def test_pixcorr_is_pearson_of_flattened_pixels():
    t = _smooth_images(5)
    p = _degrade(t, 0.2)
    expected = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(t, p)]
    got = m.pixcorr(t, p, size=None, reduce=False)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert m.pixcorr(t, p, size=None) == pytest.approx(np.mean(expected), abs=1e-12)


def test_pixcorr_resizes_like_torchvision():
    t = _smooth_images(3, 64, 64)
    p = _degrade(_smooth_images(3, 48, 56, seed=1), 0.1)
    # common size (down- and up-sampling), then pred resized to true's size when size=None
    for size, hw_t, hw_p in (((40, 50), (40, 50), (40, 50)), (80, (80, 80), (80, 80)), (None, None, (64, 64))):
        tt = t if hw_t is None else _torch_resize(t, hw_t)
        pp = _torch_resize(p, hw_p)
        expected = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(tt, pp)]
        np.testing.assert_allclose(m.pixcorr(t, p, size=size, reduce=False), expected, atol=2e-5)


def test_pixcorr_constant_image_is_nan_with_warning():
    t = _images(3)
    p = t.copy()
    p[1] = 0.5
    with pytest.warns(RuntimeWarning, match=r"\[1\]"):
        r = m.pixcorr(t, p, size=None, reduce=False)
    assert np.isnan(r[1]) and np.allclose(r[[0, 2]], 1.0)


# --------------------------------------------------------------------------- SSIM


@pytest.mark.parametrize("hw", [(32, 32), (40, 57)])
def test_ssim_matches_skimage_per_image(hw):
    t = _smooth_images(4, *hw)
    p = _degrade(t, 0.15)
    expected = [_skimage_ssim(a, b) for a, b in zip(t, p)]
    np.testing.assert_allclose(m.ssim(t, p, size=None, reduce=False), expected, rtol=0, atol=1e-6)
    assert m.ssim(t, p, size=None) == pytest.approx(np.mean(expected), abs=1e-6)
    # another window width
    expected2 = [_skimage_ssim(a, b, sigma=2.0) for a, b in zip(t, p)]
    np.testing.assert_allclose(m.ssim(t, p, size=None, sigma=2.0, reduce=False), expected2, atol=1e-6)


def test_ssim_resizes_rgb_like_torchvision_then_greys():
    t = _smooth_images(3, 36, 36)
    p = _degrade(t, 0.1)
    tt, pp = _torch_resize(t, (50, 50)), _torch_resize(p, (50, 50))
    expected = [_skimage_ssim(np.clip(a, 0, 1), np.clip(b, 0, 1)) for a, b in zip(tt, pp)]
    np.testing.assert_allclose(m.ssim(t, p, size=50, reduce=False), expected, atol=1e-4)


# --------------------------------------------------------------------------- identity and chance


def test_identity_scores_perfect():
    t = _smooth_images(6)
    assert m.pixcorr(t, t) == pytest.approx(1.0, abs=1e-9)
    assert m.ssim(t, t) == pytest.approx(1.0, abs=1e-9)
    feats = np.random.default_rng(3).standard_normal((20, 30))
    assert m.two_way_identification(feats, feats) == 1.0
    assert m.feature_distance(feats, feats) == pytest.approx(0.0, abs=1e-12)
    assert m.retrieval_topk(feats, feats, k=1) == 1.0
    res = m.nway_retrieval(feats, feats, n_way=10, k=(1, 2), n_draws=5)
    assert res["top1"] == 1.0 and res["top1_std"] == 0.0 and res["top2"] == 1.0


def test_shuffled_features_score_chance():
    rng = np.random.default_rng(0)
    n = 400
    true = rng.standard_normal((n, 64))
    pred = rng.standard_normal((n, 64))
    assert m.two_way_identification(true, pred) == pytest.approx(0.5, abs=0.03)
    assert m.feature_distance(true, pred) == pytest.approx(1.0, abs=0.03)
    assert m.retrieval_topk(true, pred, k=40) == pytest.approx(40 / n, abs=0.04)
    res = m.nway_retrieval(true, pred, n_way=50, k=(1, 5), n_draws=100, seed=1)
    assert res["top1_chance"] == 1 / 50 and res["top5_chance"] == 5 / 50
    assert res["top1"] == pytest.approx(0.02, abs=0.01)
    assert res["top5"] == pytest.approx(0.10, abs=0.02)
    assert res["top1_std"] > 0


# --------------------------------------------------------------------------- two-way, distance


def test_two_way_matches_explicit_loop():
    rng = np.random.default_rng(1)
    true = rng.standard_normal((15, 8, 5))  # extra dims are flattened
    pred = true + 1.5 * rng.standard_normal(true.shape)
    t2, p2 = true.reshape(15, -1), pred.reshape(15, -1)
    expected = []
    for i in range(15):
        own = np.corrcoef(p2[i], t2[i])[0, 1]
        others = [np.corrcoef(p2[i], t2[j])[0, 1] for j in range(15) if j != i]
        expected.append(np.mean([own > o for o in others]))
    got = m.two_way_identification(true, pred, reduce=False)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert 0.5 < np.mean(expected) < 1.0  # the test case is neither chance nor perfect
    assert m.two_way_identification(torch.from_numpy(true), torch.from_numpy(pred)) == pytest.approx(np.mean(expected))


def test_feature_distance_matches_scipy():
    rng = np.random.default_rng(2)
    true = rng.standard_normal((7, 30))
    pred = 0.5 * true + rng.standard_normal((7, 30))
    expected = [correlation(a, b) for a, b in zip(true, pred)]
    np.testing.assert_allclose(m.feature_distance(true, pred, reduce=False), expected, atol=1e-12)
    # invariant to an affine change of the prediction
    np.testing.assert_allclose(m.feature_distance(true, 3 * pred + 1, reduce=False), expected, atol=1e-12)


# --------------------------------------------------------------------------- retrieval


def _loop_topk(query, cand, k):
    sims = 1 - cdist(query, cand, metric="cosine")
    return np.array([i in np.argsort(-sims[i], kind="stable")[:k] for i in range(len(query))])


def test_retrieval_topk_matches_cosine_ranking():
    rng = np.random.default_rng(4)
    image = rng.standard_normal((40, 16))
    brain = image + 1.2 * rng.standard_normal((40, 16))
    for k in (1, 3, 10):
        expected = _loop_topk(brain, image, k)
        np.testing.assert_array_equal(m.retrieval_topk(brain, image, k, reduce=False), expected)
        assert m.retrieval_topk(brain, image, k) == pytest.approx(expected.mean())
        # image -> brain: swap the arguments
        assert m.retrieval_topk(image, brain, k) == pytest.approx(_loop_topk(image, brain, k).mean())
    assert 0.1 < m.retrieval_topk(brain, image, 1) < 0.9
    # cosine: a positive rescaling of a row changes nothing
    scaled = brain * rng.uniform(0.1, 10, size=(40, 1))
    assert m.retrieval_topk(scaled, image, 3) == m.retrieval_topk(brain, image, 3)


def test_nway_all_items_is_whole_set_retrieval():
    rng = np.random.default_rng(5)
    image = rng.standard_normal((30, 12))
    brain = image + rng.standard_normal((30, 12))
    for direction, (q, c) in (("brain2image", (brain, image)), ("image2brain", (image, brain))):
        res = m.nway_retrieval(brain, image, n_way=None, k=(1, 5), n_draws=3, direction=direction)
        assert res["n_way"] == 30 and res["direction"] == direction
        assert res["top1"] == pytest.approx(_loop_topk(q, c, 1).mean())
        assert res["top5"] == pytest.approx(_loop_topk(q, c, 5).mean())
        assert res["top1_std"] == 0.0 and res["top5_chance"] == pytest.approx(5 / 30)


def test_nway_random_subsets_analytic_expectation():
    """Near-duplicate pairs: a query misses top-1 only when its twin wins and is in the draw."""
    rng = np.random.default_rng(6)
    n_pairs, d = 60, 32
    centres = rng.standard_normal((n_pairs, d)) * 10
    image = np.repeat(centres, 2, axis=0) + 0.1 * rng.standard_normal((2 * n_pairs, d))
    brain = image + 1.0 * rng.standard_normal(image.shape)
    n = 2 * n_pairs
    sims = 1 - cdist(brain, image, metric="cosine")
    twin = np.arange(n) ^ 1
    own, to_twin = sims[np.arange(n), np.arange(n)], sims[np.arange(n), twin]
    others = sims.copy()
    others[np.arange(n), np.arange(n)] = -np.inf
    others[np.arange(n), twin] = -np.inf
    assert np.all(others.max(axis=1) < np.minimum(own, to_twin))  # only the twin competes
    beats_twin = own > to_twin
    assert 0.2 < beats_twin.mean() < 0.9
    n_way = 20
    p_twin_drawn = (n_way - 1) / (n - 1)
    expected = np.mean(beats_twin + (~beats_twin) * (1 - p_twin_drawn))
    res = m.nway_retrieval(brain, image, n_way=n_way, k=(1, 2), n_draws=600, seed=3)
    assert res["top1"] == pytest.approx(expected, abs=0.01)
    assert res["top2"] == 1.0
    # the seed fixes the draws
    assert m.nway_retrieval(brain, image, n_way=n_way, k=1, n_draws=20, seed=3)["top1"] == pytest.approx(
        m.nway_retrieval(brain, image, n_way=n_way, k=1, n_draws=20, seed=3)["top1"]
    )


# --------------------------------------------------------------------------- inputs


def test_torch_and_dataarray_inputs():
    t = _smooth_images(3)
    p = _degrade(t, 0.1)
    expected = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(t, p)]
    assert m.pixcorr(torch.from_numpy(t).float(), torch.from_numpy(p).float(), size=None) == pytest.approx(
        np.mean(expected), abs=1e-6
    )
    da = xr.DataArray(t.transpose(1, 2, 3, 0), dims=("y", "x", "rgb", "stimulus"))  # any dim order
    assert m.ssim(da, p, size=None) == pytest.approx(np.mean([_skimage_ssim(a, b) for a, b in zip(t, p)]), abs=1e-6)


def test_rounding_overshoot_is_clipped_not_refused():
    t = _images(2)
    t[0, 0, 0, 0], t[1, 0, 0, 0] = 1.0, 0.0
    p = t.copy()
    p[0, 0, 0, 0] = 1.0 + 1e-9  # e.g. the overshoot of a filter
    p[1, 0, 0, 0] = -1e-9
    assert m.pixcorr(t, p, size=None) == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize(
    ("pred", "match"),
    [
        (np.zeros((4, 3, 32, 40)), r"permute"),
        (np.zeros((32, 40, 3)), r"img\[None\]"),
        ((_images() * 255).astype(np.uint8), r"divide uint8 images by 255"),
        (_images() * 255, r"divide by 255"),
        (_images() - 0.5, r"\[0, 1\]"),
        (np.full((4, 32, 40, 3), np.nan), r"NaN"),
        (_images(n=3), r"4 items but pred has 3"),
        (np.zeros((0, 32, 40, 3)), r"no image"),
    ],
)
def test_bad_images(pred, match):
    t = _images()
    with pytest.raises(BadInputError, match=match):
        m.pixcorr(t, pred)
    with pytest.raises(BadInputError, match=match):
        m.ssim(t, pred)


def test_bad_image_options():
    t = _images()
    with pytest.raises(BadInputError, match="smaller than the 11 x 11"):
        m.ssim(t[:, :8, :8], t[:, :8, :8], size=None)
    with pytest.raises(BadInputError, match="sigma"):
        m.ssim(t, t, sigma=0)
    with pytest.raises(BadInputError, match="size"):
        m.pixcorr(t, t, size=(10, 0))
    with pytest.raises(BadInputError, match="size"):
        m.pixcorr(t, t, size="big")


def test_bad_features_and_embeddings():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((5, 10))
    nan = f.copy()
    nan[2, 3] = np.nan
    const = f.copy()
    const[4] = 1.0
    with pytest.raises(BadInputError, match="NaN"):
        m.two_way_identification(f, nan)
    with pytest.raises(BadInputError, match="5 items but pred_features has 4"):
        m.two_way_identification(f, f[:4])
    with pytest.raises(BadInputError, match="10 features per item"):
        m.feature_distance(f, f[:, :9])
    with pytest.raises(BadInputError, match="n >= 2"):
        m.two_way_identification(f[:1], f[:1])
    with pytest.raises(BadInputError, match=r"item\(s\) \[4\] have constant features"):
        m.two_way_identification(f, const)
    zero = f.copy()
    zero[1] = 0
    with pytest.raises(BadInputError, match=r"\[1\] are all-zero"):
        m.retrieval_topk(zero, f)
    with pytest.raises(BadInputError, match="k must be"):
        m.retrieval_topk(f, f, k=6)
    with pytest.raises(BadInputError, match="n_way must be"):
        m.nway_retrieval(f, f, n_way=6)
    with pytest.raises(BadInputError, match="k must be"):
        m.nway_retrieval(f, f, n_way=3, k=(1, 5))
    with pytest.raises(BadInputError, match="direction"):
        m.nway_retrieval(f, f, n_way=3, k=1, direction="both")
    with pytest.raises(BadInputError, match="n_draws"):
        m.nway_retrieval(f, f, n_way=3, k=1, n_draws=0)


# --------------------------------------------------------------------------- extractors, convenience


def test_extract_features_from_any_module():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 6, 3))
    t = _smooth_images(3, 40, 40)
    prep = {"size": 32, "crop": 1.0, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    feats = m.extract_features(t, net, layers=["0", "2"], preprocessing=prep)
    # independent: resize with torch (antialias bilinear differs from PIL bicubic, so only check the
    # plain case where no resize happens), normalise by hand, run the module, average over space
    t32 = _smooth_images(3, 32, 32)
    feats32 = m.extract_features(t32, net, layers=["0", "2"], preprocessing=prep)
    x = torch.from_numpy(((t32 - 0.5) / 0.25).transpose(0, 3, 1, 2).astype(np.float32))
    with torch.no_grad():
        h0 = net[0](x)
        h2 = net[2](net[1](h0))
    np.testing.assert_allclose(feats32["0"], h0.mean(dim=(2, 3)).numpy(), atol=1e-5)
    np.testing.assert_allclose(feats32["2"], h2.mean(dim=(2, 3)).numpy(), atol=1e-5)
    assert feats["0"].shape == (3, 4) and feats["2"].shape == (3, 6)
    with pytest.raises(BadInputError, match="layers"):
        m.extract_features(t, net)
    with pytest.raises(BadInputError, match="pooling"):
        m.extract_features(t, net, layers="0", pooling="pca")


def test_reconstruction_scores_with_given_features():
    t = _smooth_images(5, 36, 36)
    p = _degrade(t, 0.2)
    rng = np.random.default_rng(7)
    ft = rng.standard_normal((5, 20))
    fp = ft + rng.standard_normal((5, 20))
    out = m.reconstruction_scores(t, p, features={"toy": (ft, fp)}, size=None)
    assert out["n_images"] == 5
    assert out["pixcorr"] == pytest.approx(np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(t, p)]))
    assert out["ssim"] == pytest.approx(np.mean([_skimage_ssim(a, b) for a, b in zip(t, p)]), abs=1e-6)
    assert out["feature_distance/toy"] == pytest.approx(np.mean([correlation(a, b) for a, b in zip(ft, fp)]))
    assert 0.0 <= out["two_way/toy"] <= 1.0
    assert set(m.reconstruction_scores(t, p, size=None)) == {"n_images", "pixcorr", "ssim"}
    with pytest.raises(BadInputError, match="pair"):
        m.reconstruction_scores(t, p, features={"toy": ft})


def test_reconstruction_scores_with_a_module():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3))
    t = _smooth_images(6, 32, 32)
    p = _degrade(t, 0.3)
    out = m.reconstruction_scores(t, p, features=net, layers=["2"], size=None)
    assert set(out) == {"n_images", "pixcorr", "ssim", "two_way/Sequential.2", "feature_distance/Sequential.2"}
    # the module's features (checked against a hand-made forward pass above) reach the metrics unchanged
    ft = m.extract_features(t, net, layers="2")["2"]
    fp = m.extract_features(p, net, layers="2")["2"]
    loop = np.mean([np.mean([np.corrcoef(fp[i], ft[i])[0, 1] > np.corrcoef(fp[i], ft[j])[0, 1]
                             for j in range(6) if j != i]) for i in range(6)])
    assert out["two_way/Sequential.2"] == pytest.approx(loop)
    assert out["feature_distance/Sequential.2"] == pytest.approx(np.mean([correlation(a, b) for a, b in zip(ft, fp)]))


# --------------------------------------------------------------------------- real images


@pytest.fixture(scope="module")
def k92(data_home):
    require_data(data_home / "kriegeskorte92" / "Kriegeskorte_Neuron2008_supplementalData.mat", "kriegeskorte92")
    from neurodecode.datasets import load

    return load("kriegeskorte92", part="images").values / 255.0


@pytest.mark.realdata
def test_degraded_real_images_rank_between_shuffled_and_identity(k92):
    images = k92[::4]  # 23 of the 92 photographs, 175 x 175
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no constant image among them
        shuffled = images[np.random.default_rng(0).permutation(len(images))]
        base = {"pixcorr": m.pixcorr(images, shuffled, size=None), "ssim": m.ssim(images, shuffled, size=None)}
        for kind, levels in (("blur", (1, 3, 6)), ("noise", (0.01, 0.03, 0.06))):
            scores = {"pixcorr": [], "ssim": []}
            for level in levels:
                if kind == "blur":
                    recon = gaussian_filter(images, (0, level, level, 0))
                else:
                    recon = _degrade(images, level)
                scores["pixcorr"].append(m.pixcorr(images, recon, size=None))
                scores["ssim"].append(m.ssim(images, recon, size=None))
            for name, values in scores.items():
                assert np.all(np.diff(values) < 0), (kind, name, values)  # worse with more degradation
                assert base[name] < min(values) and max(values) < 1.0, (kind, name, values, base[name])
    assert base["pixcorr"] < 0.3  # unrelated photographs hardly correlate
    # the default 425 x 425 convention ranks the same way
    light, heavy = gaussian_filter(images[:8], (0, 1, 1, 0)), gaussian_filter(images[:8], (0, 6, 6, 0))
    assert 1.0 > m.pixcorr(images[:8], light) > m.pixcorr(images[:8], heavy)


@pytest.mark.realdata
@pytest.mark.slow
def test_two_way_identification_with_efficientnet_on_real_images(k92):
    images = k92[::8]  # 12 photographs from all six categories
    n = len(images)
    blurred = [gaussian_filter(images, (0, s, s, 0)) for s in (2, 6)]
    feats = m.extract_features(np.concatenate([images, *blurred]), layers=["block4c", "avgpool"])
    for layer, f in feats.items():
        true = f[:n]
        scores = [m.two_way_identification(true, f[(i + 1) * n : (i + 2) * n]) for i in range(2)]
        shuffled = m.two_way_identification(true, true[np.roll(np.arange(n), 1)])
        assert m.two_way_identification(true, true) == 1.0
        assert 1.0 >= scores[0] > scores[1] > shuffled, (layer, scores, shuffled)
        dist = [m.feature_distance(true, f[(i + 1) * n : (i + 2) * n]) for i in range(2)]
        assert 0.0 < dist[0] < dist[1], (layer, dist)
