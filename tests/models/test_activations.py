"""extract(): forward hooks, pooling, batching, clean-up and input checks.

Ground truth comes from running the submodules by hand (a plain forward in which the outputs are
captured explicitly), from numpy, and from scikit-learn's PCA.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import xarray as xr

import torch
from torch import nn  # noqa: E402

from neurodecode.datamodel import kind_of, validate  # noqa: E402
from neurodecode.errors import BadInputError  # noqa: E402
from neurodecode.models import activations as act_mod  # noqa: E402
from neurodecode.models import LITE_MEAN, LITE_STD, extract, layer_names, load_model, preprocess  # noqa: E402


def toy_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 4, 3, padding=1),
            relu1=nn.ReLU(inplace=True),  # overwrites conv1's output in place
            conv2=nn.Conv2d(4, 6, 3, stride=2, padding=1),
            bn2=nn.BatchNorm2d(6),
            relu2=nn.ReLU(),
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            drop=nn.Dropout(0.5),
            fc=nn.Linear(6, 5),
        )
    )


class WithSpare(nn.Module):
    """``spare`` is registered but never called by forward."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 3, 1)
        self.spare = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.a(x)


def manual_outputs(model, x):
    """Run the children one by one and keep a copy of every output."""
    outs = {}
    h = x
    with torch.no_grad():
        for name, mod in model.named_children():
            h = mod(h)
            outs[name] = h.clone()
    return outs


def rand_input(n=10, size=16, seed=1):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


LITE_PREP = {"size": 224, "crop": 0.875, "mean": LITE_MEAN, "std": LITE_STD}


def no_hooks(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def few_images(data_home):
    from scipy.io import loadmat

    mat = loadmat(str(data_home / "kriegeskorte92" / "Kriegeskorte_Neuron2008_supplementalData.mat"))
    stim = mat["stimuli_92objs"].reshape(-1)
    idx = [0, 13, 30, 40, 55, 60, 75, 80, 90]
    return xr.DataArray(
        np.stack([stim[i]["image"] for i in idx]),
        dims=("stimulus", "y", "x", "rgb"),
        coords={
            "stimulus": idx,
            "category": ("stimulus", np.array([str(stim[i]["category"][0]) for i in idx], dtype=object)),
        },
    )


# --------------------------------------------------------------------------- hooks vs manual


def test_hooks_match_manual_forward():
    model = toy_model().eval()
    x = rand_input()
    ref = manual_outputs(model, x)
    ds = extract(model, x, layers=["conv1", "conv2", "bn2", "fc"], batch_size=4, progress=False)
    assert list(ds.data_vars) == ["conv1", "conv2", "bn2", "fc"]
    for name in ds.data_vars:
        assert ds[name].dims == ("stimulus", f"feature_{name}")
        np.testing.assert_allclose(ds[name].values, ref[name].reshape(10, -1).numpy(), rtol=1e-5, atol=1e-6)
        assert ds[name].attrs["shape"] == list(ref[name].shape[1:])
    # conv1's output was recorded before the in-place ReLU overwrote it
    assert (ds["conv1"].values < 0).any()
    assert validate(ds, "activations") == "activations" and kind_of(ds) == "activations"
    assert ds.attrs["model"] == "Sequential" and ds.attrs["pooling"] == "flatten"


def test_early_layer_only_multiple_batches():
    # later batches stop the forward after the last requested layer: outputs must not change
    model = toy_model().eval()
    x = rand_input(9)
    ds = extract(model, x, layers="conv1", batch_size=2, progress=False)
    np.testing.assert_allclose(ds["conv1"].values, manual_outputs(model, x)["conv1"].reshape(9, -1).numpy(), atol=1e-6)


@pytest.mark.realdata
def test_lite0_blocks_match_manual(lite0, few_images):
    x = preprocess(few_images[:3], **lite0.nd_preprocessing)
    ref = manual_outputs(lite0, x)
    ds = extract(lite0, few_images[:3], layers=layer_names(lite0) + ["fc"], progress=False)
    assert list(ds.data_vars) == layer_names(lite0) + ["fc"]
    for name in ds.data_vars:
        np.testing.assert_allclose(ds[name].values, ref[name].reshape(3, -1).numpy(), rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        np.testing.assert_allclose(ds["fc"].values, lite0(x).numpy(), rtol=1e-4, atol=1e-4)
    assert ds["head"].attrs["shape"] == [1280, 7, 7] and ds["stem"].attrs["shape"] == [32, 112, 112]
    assert list(ds["category"].values) == list(few_images["category"].values[:3])
    assert list(ds["stimulus"].values) == [0, 13, 30]
    assert ds.attrs["model"] == "efficientnet_lite0" and ds.attrs["preprocess_size"] == 224


@pytest.mark.realdata
def test_lite0_batch_size_invariance(lite0, few_images):
    layers = ["stem", "block3b", "block6d", "head", "fc"]
    a = extract(lite0, few_images, layers=layers, batch_size=7, progress=False)
    b = extract(lite0, few_images, layers=layers, batch_size=32, progress=False)
    for name in layers:
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- pooling


def test_avg_pooling_is_spatial_mean():
    model = toy_model().eval()
    x = rand_input(6)
    flat = extract(model, x, layers=["conv1", "conv2", "fc"], progress=False)
    avg = extract(model, x, layers=["conv1", "conv2", "fc"], pooling="avg", progress=False)
    for name in ("conv1", "conv2"):
        shape = flat[name].attrs["shape"]
        full = flat[name].values.reshape(6, *shape)
        np.testing.assert_allclose(avg[name].values, full.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
        assert avg[name].shape == (6, shape[0])
    np.testing.assert_allclose(avg["fc"].values, flat["fc"].values)  # 2-D output kept as is


def _pairwise(x):
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return d[np.triu_indices(len(x), 1)]


@pytest.mark.parametrize("channels, k, kind", [(32, 500, "gaussian"), (64, 1000, "sparse")])
def test_random_projection_preserves_distances(channels, k, kind):
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(big=nn.Conv2d(3, channels, 1), relu=nn.ReLU()))
    x = rand_input(12, 32)
    flat = extract(model, x, layers="big", progress=False)["big"].values
    ds = extract(model, x, layers="big", pooling="random_projection", n_components=k, seed=5, progress=False)
    proj = ds["big"].values
    assert proj.shape == (12, k) and ds["big"].attrs["projection"] == kind
    ratio = _pairwise(proj) / _pairwise(flat)
    assert abs(np.median(ratio) - 1) < 0.1 and ratio.min() > 0.75 and ratio.max() < 1.25
    # fixed matrix: linear in the input (differences project to differences), seeded, drawn once
    again = extract(model, x, layers=["relu", "big"], pooling="random_projection", n_components=k, seed=5,
                    batch_size=5, progress=False)
    np.testing.assert_allclose(again["big"].values, proj, rtol=1e-4, atol=1e-3)
    other = extract(model, x, layers="big", pooling="random_projection", n_components=k, seed=6, progress=False)
    assert not np.allclose(other["big"].values, proj)


def test_random_projection_keeps_small_layers():
    model = toy_model().eval()
    x = rand_input(4)
    ds = extract(model, x, layers=["fc"], pooling="random_projection", n_components=50, progress=False)
    np.testing.assert_allclose(ds["fc"].values, manual_outputs(model, x)["fc"].numpy(), atol=1e-6)
    assert ds["fc"].attrs["projection"].startswith("none")


def _align_signs(a, b):
    signs = np.sign((a * b).sum(axis=0))
    return a * signs


def test_pca_equals_sklearn_pca():
    from sklearn.decomposition import PCA

    model = toy_model().eval()
    x = rand_input(15)
    flat = extract(model, x, layers=["conv1", "conv2"], progress=False)
    ds = extract(model, x, layers=["conv1", "conv2"], pooling="pca", n_components=5, batch_size=4, progress=False)
    for name in ("conv1", "conv2"):
        ref = PCA(n_components=5).fit(flat[name].values.astype(np.float64))
        scores = ref.transform(flat[name].values.astype(np.float64))
        assert ds[name].shape == (15, 5) and ds[name].attrs["pca"] == "exact"
        np.testing.assert_allclose(_align_signs(ds[name].values, scores), scores, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(ds[name].attrs["explained_variance_ratio"], ref.explained_variance_ratio_, rtol=1e-4)
    full = extract(model, x, layers="conv2", pooling="pca", progress=False)
    assert full["conv2"].shape == (15, 15)  # default: min(n_stimuli, n_units) components


def test_incremental_pca_for_large_layers(monkeypatch):
    from sklearn.decomposition import PCA, IncrementalPCA

    monkeypatch.setattr(act_mod, "PCA_EXACT_MAX_BYTES", 0)
    model = toy_model().eval()
    x = rand_input(12)
    flat = extract(model, x, layers="conv2", progress=False)["conv2"].values
    with pytest.raises(BadInputError, match="n_components"):
        extract(model, x, layers="conv2", pooling="pca", progress=False)
    ds = extract(model, x, layers="conv2", pooling="pca", n_components=3, batch_size=4, progress=False)
    assert ds["conv2"].attrs["pca"] == "incremental"
    ref = IncrementalPCA(n_components=3)
    for i in range(0, 12, 4):
        ref.partial_fit(flat[i : i + 4])
    scores = ref.transform(flat)
    np.testing.assert_allclose(_align_signs(ds["conv2"].values, scores), scores, rtol=1e-3, atol=1e-3)

    # mixed: conv2 (12 x 384 float32 = 18 kB) fits the limit and is exact, conv1 (48 kB) is incremental
    monkeypatch.setattr(act_mod, "PCA_EXACT_MAX_BYTES", 20_000)
    ds = extract(model, x, layers=["conv1", "conv2"], pooling="pca", n_components=3, batch_size=4, progress=False)
    assert ds["conv1"].attrs["pca"] == "incremental" and ds["conv2"].attrs["pca"] == "exact"
    flat1 = extract(model, x, layers="conv1", progress=False)["conv1"].values
    ref1 = IncrementalPCA(n_components=3)
    for i in range(0, 12, 4):
        ref1.partial_fit(flat1[i : i + 4])
    np.testing.assert_allclose(_align_signs(ds["conv1"].values, ref1.transform(flat1)), ref1.transform(flat1),
                               rtol=1e-3, atol=1e-3)
    exact = PCA(n_components=3).fit_transform(flat.astype(np.float64))
    np.testing.assert_allclose(_align_signs(ds["conv2"].values, exact), exact, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- state and clean-up


def test_model_state_restored_and_hooks_removed():
    model = toy_model().train()
    model.fc.eval()  # a mixed state must come back exactly
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = rand_input(6)
    ds = extract(model, x, layers=["bn2", "fc"], progress=False)
    assert model.training and model.bn2.training and not model.fc.training
    assert no_hooks(model)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # BN stats untouched
    model.eval()
    np.testing.assert_allclose(ds["fc"].values, manual_outputs(model, x)["fc"].numpy(), atol=1e-6)  # ran in eval


def test_hooks_removed_after_error():
    model = toy_model().train()
    bad = torch.randn(2, 5, 8, 8)  # 5 channels: conv1 raises inside the forward pass
    with pytest.raises(RuntimeError):
        extract(model, bad, layers=["conv1", "fc"], progress=False)
    assert no_hooks(model) and model.training

    shared = nn.ReLU()
    twice = nn.Sequential(OrderedDict(a=nn.Conv2d(3, 3, 1), act=shared, b=nn.Conv2d(3, 3, 1)))
    twice.add_module("act2", shared)  # same module object used twice
    with pytest.raises(BadInputError, match="2 times"):
        extract(twice, rand_input(2), layers=["act"], progress=False)
    assert no_hooks(twice)


def test_inputs_not_modified():
    model = toy_model().eval()
    model.nd_preprocessing = LITE_PREP
    x = rand_input(5)
    before = x.clone()
    extract(model, x, layers=["conv1"], progress=False)
    assert torch.equal(x, before)
    imgs = np.random.default_rng(0).integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)
    da = xr.DataArray(imgs.copy(), dims=("stimulus", "y", "x", "rgb"), coords={"stimulus": ["a", "b", "c"]})
    ds = extract(model, da, layers=["conv1"], progress=False)
    np.testing.assert_array_equal(da.values, imgs)
    assert list(ds["stimulus"].values) == ["a", "b", "c"]
    assert ds["conv1"].attrs["shape"] == [4, 224, 224]  # preprocessed to the model's 224


def test_paths_give_stimulus_ids(tmp_path):
    from PIL import Image

    model = toy_model().eval()
    model.nd_preprocessing = LITE_PREP
    imgs = np.random.default_rng(0).integers(0, 256, (2, 20, 20, 3), dtype=np.uint8)
    paths = [tmp_path / "dog.png", tmp_path / "cup.png"]
    for p, im in zip(paths, imgs):
        Image.fromarray(im).save(p)
    ds = extract(model, paths, layers="fc", progress=False)
    assert list(ds["stimulus"].values) == ["dog", "cup"]
    np.testing.assert_allclose(ds["fc"].values, extract(model, imgs, layers="fc", progress=False)["fc"].values)


def test_stimulus_kinds_agree():
    model = toy_model().eval()
    model.nd_preprocessing = LITE_PREP  # preprocess()'s defaults
    imgs = np.random.default_rng(0).integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)
    ref = extract(model, imgs, layers="conv2", pooling="avg", progress=False)["conv2"].values
    for stim in (torch.from_numpy(imgs), preprocess(imgs), preprocess(imgs).numpy(), list(imgs),
                 preprocess(imgs).double()):  # float64 input is cast to the weights' dtype
        if isinstance(stim, list):
            from PIL import Image

            stim = [Image.fromarray(a) for a in stim]
        out = extract(model, stim, layers="conv2", pooling="avg", progress=False)["conv2"].values
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "stim, match",
    [
        (torch.randn(3, 16, 16), "4-D"),
        (torch.full((2, 3, 8, 8), float("nan")), "NaN"),
        (torch.zeros(0, 3, 8, 8), "0 images"),
        (np.zeros((2, 8, 8, 4), np.uint8), r"\(n, height, width, 3\)"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.int64), "float"),
        (xr.DataArray(np.zeros((2, 3)), dims=("stimulus", "neuroid")), "dims"),
        (xr.DataArray(np.zeros((2, 4, 4, 3), np.uint8), dims=("trial", "y", "x", "rgb")), "stimulus"),
        ({"a": 1}, "dict"),
        (["/nonexistent/a.png"], "do not exist"),
    ],
)
def test_bad_stimuli(stim, match):
    model = toy_model()
    with pytest.raises(BadInputError, match=match):
        extract(model, stim, layers="conv1", progress=False)
    assert no_hooks(model)


def test_bad_layers_and_arguments():
    model = toy_model()
    x = rand_input(2)
    with pytest.raises(BadInputError, match="conv1, relu1, conv2"):
        extract(model, x, layers=["conv9"], progress=False)
    with pytest.raises(BadInputError, match="twice"):
        extract(model, x, layers=["conv1", model.conv1], progress=False)
    with pytest.raises(BadInputError, match="not part of the model"):
        extract(model, x, layers=[nn.ReLU()], progress=False)
    with pytest.raises(BadInputError, match="pooling"):
        extract(model, x, layers="conv1", pooling="max", progress=False)
    with pytest.raises(BadInputError, match="n_components"):
        extract(model, x, layers="conv1", pooling="avg", n_components=3, progress=False)
    with pytest.raises(BadInputError, match="exceeds"):
        extract(model, x, layers="conv1", pooling="pca", n_components=3, progress=False)
    with pytest.raises(BadInputError, match="batch_size"):
        extract(model, x, layers="conv1", batch_size=0, progress=False)
    with pytest.raises(BadInputError, match="torch.nn.Module"):
        extract(lambda t: t, x, progress=False)
    unused = WithSpare()
    with pytest.raises(BadInputError, match="did not run"):
        extract(unused, x, layers=["a", "spare"], progress=False)
    assert no_hooks(unused)


def test_layers_as_modules_and_kinds():
    model = toy_model().eval()
    x = rand_input(3)
    ds = extract(model, x, layers=[model.conv2, "fc"], progress=False)
    assert list(ds.data_vars) == ["conv2", "fc"]
    ds = extract(model, x, progress=False)  # default "blocks": the top-level children here
    assert list(ds.data_vars) == layer_names(model)


def test_saves_and_reopens(tmp_path):
    from neurodecode import io

    model = toy_model().eval()
    ds = extract(model, rand_input(3), layers=["conv2", "fc"], pooling="pca", progress=False)
    path = io.save(ds, tmp_path / "acts.nc")
    back = io.open(path)
    np.testing.assert_allclose(back["fc"].values, ds["fc"].values)
    assert back["conv2"].attrs["shape"] is not None and back.attrs["model"] == ds.attrs["model"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    model = toy_model().eval()
    x = rand_input(5)
    cpu = extract(model, x, layers=["conv1", "fc"], pooling="avg", progress=False)
    gpu = extract(model, x, layers=["conv1", "fc"], pooling="avg", device="cuda", progress=False)
    np.testing.assert_allclose(gpu["fc"].values, cpu["fc"].values, rtol=1e-4, atol=1e-5)
    assert next(model.parameters()).device.type == "cpu"  # moved back
