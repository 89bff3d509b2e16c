"""load_model on the user's own models: a .py file with a factory, a module, the registry, preprocessing specs.

Written the way a user works: the model is defined in their own Python file (in tmp_path), the
images are ten of the 92 Kriegeskorte et al. (2008) photographs. Ground truth for the activations
is the user's network run by hand on the images preprocessed with the stated settings.
"""

from __future__ import annotations

import json
import sys
import textwrap
import warnings

import numpy as np
import pytest

import torch

from neurodecode.errors import BadInputError
from neurodecode.models import (
    extract,
    layer_names,
    list_models,
    load_model,
    model_info,
    parse_preprocessing,
    preprocess,
    register_model,
    unregister_model,
)

IMAGENET = {"size": 224, "crop": 0.875, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}

USER_FILE = '''
import torch
from torch import nn

PREP = {"size": 64, "crop": 1.0, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


def small_cnn(pretrained=True, seed=0):
    """A 3-layer CNN for 64 px images."""
    g = torch.Generator().manual_seed(123 if pretrained else 1000 + seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 5, stride=2), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return net


small_cnn.preprocessing = PREP


def plain_cnn():
    """No preprocessing anywhere, no pretrained argument."""
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten())


def with_attribute():
    net = plain_cnn()
    net.preprocessing = "imagenet"
    return net


def broken():
    raise RuntimeError("weights file my_weights.pt not found")


def not_a_model():
    return {"conv": 1}

NUMBER = 3
'''


@pytest.fixture(scope="module")
def images(data_home):
    from neurodecode import datasets

    return datasets.load("kriegeskorte92", part="images").isel(stimulus=slice(0, 92, 9))  # 11 images


@pytest.fixture()
def user_file(tmp_path):
    path = tmp_path / "my_models.py"
    path.write_text(textwrap.dedent(USER_FILE))
    return path


# --------------------------------------------------------------------------- FILE.py:FACTORY


@pytest.mark.realdata
def test_user_file_model_runs_on_real_images(user_file, images):
    model = load_model(f"{user_file}:small_cnn")
    assert isinstance(model, torch.nn.Module) and not model.training
    assert model.nd_model_id == "my_models.py:small_cnn"
    assert model.nd_preprocessing == {"size": 64, "crop": 1.0, "mean": [0.5] * 3, "std": [0.25] * 3}
    src = model.nd_model_source
    assert src["kind"] == "file" and src["path"] == str(user_file.resolve())
    import hashlib

    assert src["sha256"] == hashlib.sha256(user_file.read_bytes()).hexdigest()
    ds = extract(model, images, layers=["1", "3", "6"], pooling="avg", progress=False)
    # by hand: the stated preprocessing, then the network's children one by one
    x = preprocess(images.values, size=64, crop=1.0, mean=0.5, std=0.25)
    with torch.no_grad():
        h1 = model[1](model[0](x))
        h3 = model[3](model[2](h1))
        logits = model(x)
    np.testing.assert_allclose(ds["1"].values, h1.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ds["3"].values, h3.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ds["6"].values, logits.numpy(), rtol=1e-5, atol=1e-6)
    assert list(ds["stimulus"].values) == list(images["stimulus"].values)
    # model id and preprocessing travel with the activations (JSON, for the manifest)
    assert ds.attrs["model"] == "my_models.py:small_cnn"
    assert json.loads(ds.attrs["preprocessing"]) == model.nd_preprocessing
    assert json.loads(ds.attrs["model_source"])["sha256"] == src["sha256"]
    assert ds.attrs["preprocess_size"] == 64


def test_user_file_untrained_control_and_override(user_file):
    trained = load_model(f"{user_file}:small_cnn")
    a = load_model(f"{user_file}:small_cnn", pretrained=False, seed=1)
    b = load_model(f"{user_file}:small_cnn", pretrained=False, seed=1)
    assert a.nd_model_id == "my_models.py:small_cnn-untrained-seed1"
    assert torch.equal(a[0].weight, b[0].weight) and not torch.equal(a[0].weight, trained[0].weight)
    # no `pretrained` argument: reset_parameters() of every submodule, seeded, global RNG untouched
    before = torch.random.get_rng_state()
    c = load_model(f"{user_file}:plain_cnn", pretrained=False, seed=5, preprocessing="imagenet")
    d = load_model(f"{user_file}:plain_cnn", pretrained=False, seed=5, preprocessing="imagenet")
    e = load_model(f"{user_file}:plain_cnn", pretrained=False, seed=6, preprocessing="imagenet")
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(c[0].weight, d[0].weight) and not torch.equal(c[0].weight, e[0].weight)
    # an explicit preprocessing wins over the factory's
    f = load_model(f"{user_file}:small_cnn", preprocessing="mean=0.4,std=0.2,size=48")
    assert f.nd_preprocessing == {"size": 48, "crop": 1.0, "mean": [0.4] * 3, "std": [0.2] * 3}
    # the returned module's attribute counts too
    assert load_model(f"{user_file}:with_attribute").nd_preprocessing == IMAGENET


def test_user_file_without_preprocessing_is_an_error(user_file):
    with pytest.raises(BadInputError, match=r"preprocess.*--preprocess imagenet\|none\|mean="):
        load_model(f"{user_file}:plain_cnn")
    model = load_model(f"{user_file}:plain_cnn", preprocessing="none,size=32")
    assert model.nd_preprocessing == {"size": 32, "crop": 1.0, "mean": [0.0] * 3, "std": [1.0] * 3}


@pytest.mark.realdata
def test_extract_refuses_images_without_preprocessing(user_file, images):
    bare = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.ReLU())
    with pytest.raises(BadInputError, match="preprocess"):
        extract(bare, images.values[:3], layers=["0"], progress=False)
    # the same with an explicit preprocessing, and with ready network input: fine
    ds = extract(bare, images.values[:3], layers=["0"], preprocessing="imagenet", pooling="avg", progress=False)
    assert json.loads(ds.attrs["preprocessing"]) == IMAGENET
    ready = extract(bare, preprocess(images.values[:3], **IMAGENET), layers=["0"], pooling="avg", progress=False)
    np.testing.assert_allclose(ready["0"].values, ds["0"].values, rtol=1e-5, atol=1e-6)
    assert json.loads(ready.attrs["preprocessing"]) is None


@pytest.mark.parametrize(
    "factory, match",
    [
        ("broken", r"'broken' of .*my_models\.py' raised RuntimeError: weights file my_weights\.pt not found"),
        ("not_a_model", r"'not_a_model'.*returned a builtins\.dict, not a torch\.nn\.Module"),
        ("NUMBER", r"'NUMBER' is a int, not a callable"),
        ("missing", r"no 'missing' in it; callables defined there: \['broken', 'not_a_model', 'plain_cnn'"),
    ],
)
def test_bad_factories(user_file, factory, match):
    with pytest.raises(BadInputError, match=match):
        load_model(f"{user_file}:{factory}", preprocessing="imagenet")


def test_bad_files_and_specs(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        load_model(f"{tmp_path / 'nope.py'}:make")
    bad = tmp_path / "syntax_error.py"
    bad.write_text("def make(:\n    pass\n")
    with pytest.raises(BadInputError, match=r"importing the model file .*syntax_error\.py.*SyntaxError"):
        load_model(f"{bad}:make")
    raising = tmp_path / "raises_on_import.py"
    raising.write_text("import no_such_package_xyz\n")
    with pytest.raises(BadInputError, match="ModuleNotFoundError.*no_such_package_xyz"):
        load_model(f"{raising}:make")
    with pytest.raises(BadInputError, match="cannot import the module 'no_such_pkg_xyz.nets'"):
        load_model("no_such_pkg_xyz.nets:make")
    with pytest.raises(BadInputError, match="both parts"):
        load_model("my_models.py:")
    with pytest.raises(BadInputError, match="hf:DIR"):
        load_model(f"{tmp_path}:make")  # a folder is not a .py file


def test_user_file_imports_its_helpers(tmp_path):
    # a model file may import a helper module that sits beside it; sys.path is restored afterwards
    (tmp_path / "helpers_xyz.py").write_text("from torch import nn\n\ndef block():\n    return nn.Conv2d(3, 2, 1)\n")
    (tmp_path / "net_with_helper.py").write_text(
        "from torch import nn\nimport helpers_xyz\n\ndef make():\n    return nn.Sequential(helpers_xyz.block())\n"
    )
    path_before = list(sys.path)
    model = load_model(f"{tmp_path / 'net_with_helper.py'}:make", preprocessing="imagenet")
    assert isinstance(model[0], torch.nn.Conv2d) and sys.path == path_before
    sys.modules.pop("helpers_xyz", None)


def test_module_factory():
    model = load_model("torch.nn:Identity", preprocessing={"size": 32})
    assert isinstance(model, torch.nn.Identity) and model.nd_model_id == "torch.nn:Identity"
    assert model.nd_model_source["kind"] == "module"


# --------------------------------------------------------------------------- registry


def test_registry_decorator_and_errors():
    try:
        @register_model("my_test_cnn", preprocessing="imagenet", description="a test CNN")
        def make(pretrained=True, seed=0):
            return torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3))

        assert "my_test_cnn" in list_models() and {"efficientnet_lite1", "efficientnet_lite2"} <= set(list_models())
        assert model_info("My-Test-CNN").description == "a test CNN"
        model = load_model("my_test_cnn")
        assert model.nd_model_id == "my_test_cnn" and model.nd_preprocessing == IMAGENET
        assert model.nd_model_source == {"kind": "registry", "spec": "my_test_cnn", "pretrained": True, "seed": 0}
        with pytest.raises(BadInputError, match="already registered"):
            register_model("my_test_cnn", make)
        register_model("my_test_cnn", make, preprocessing="none", replace=True)
        assert load_model("my_test_cnn").nd_preprocessing["size"] is None
        with pytest.raises(BadInputError, match="callable"):
            register_model("not_callable", 3)
        with pytest.raises(BadInputError, match="preprocessing"):
            register_model("bad_prep", make, preprocessing="mean=1,std=0")
    finally:
        unregister_model("my_test_cnn")
    assert "my_test_cnn" not in list_models()


def test_unknown_name_lists_models_and_suggests():
    with pytest.raises(BadInputError, match=r"did you mean 'efficientnet_lite1'.*efficientnet_lite0.*hf:LOCAL_DIR"):
        load_model("efficientnet_lite_1")
    with pytest.raises(BadInputError, match="efficientnet_lite2"):
        load_model("resnet50")


def test_entry_points_register_models(monkeypatch):
    from importlib import metadata

    from neurodecode.models import registry

    class FakeEntryPoint:
        def __init__(self, name, value, obj):
            self.name, self.value, self._obj = name, value, obj

        def load(self):
            if isinstance(self._obj, Exception):
                raise self._obj
            return self._obj

    def factory():
        return torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1))

    factory.preprocessing = "inception"
    eps = [FakeEntryPoint("plugin_net", "plugin_pkg.nets:factory", factory),
           FakeEntryPoint("broken_plugin", "broken_pkg:make", ImportError("no module broken_pkg"))]

    def fake_entry_points(group=None, **kw):
        assert group == "neurodecode.models"
        return eps

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    monkeypatch.setitem(registry._state, "entry_points", False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = list_models()
        assert "plugin_net" in names and "broken_plugin" not in names
        assert any("broken_plugin" in str(w.message) for w in caught)
        assert model_info("plugin_net").source == "entry point plugin_pkg.nets:factory"
        assert load_model("plugin_net").nd_preprocessing["mean"] == [0.5, 0.5, 0.5]
    finally:
        unregister_model("plugin_net")


# --------------------------------------------------------------------------- preprocessing specs


def test_parse_preprocessing():
    assert parse_preprocessing("imagenet") == IMAGENET
    assert parse_preprocessing(" none ") == {"size": None, "crop": 1.0, "mean": [0.0] * 3, "std": [1.0] * 3}
    assert parse_preprocessing("mean=0.485,0.456,0.406,std=0.229,0.224,0.225,size=224,crop=0.875") == IMAGENET
    assert parse_preprocessing("imagenet,size=256,crop=1") == {**IMAGENET, "size": 256, "crop": 1.0}
    assert parse_preprocessing("std=2, mean = 0.5") == {"size": None, "crop": 1.0, "mean": [0.5] * 3, "std": [2.0] * 3}
    json.dumps(parse_preprocessing("inception"))  # plain JSON


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("imagenett", "unknown preprocessing preset 'imagenett'"),
        ("mean=0.5,0.5", r"mean needs one value or three \(R, G, B\), got 2"),
        ("std=0", "std must be positive"),
        ("size=-3", "size must be a positive whole number"),
        ("size=22.5", "size must be a positive whole number"),
        ("crop=1.5", r"crop must be a fraction in \(0, 1\]"),
        ("mean=abc", "mean needs numbers"),
        ("gamma=2", "unknown preprocessing key 'gamma'"),
        ("size=224,size=256", "given twice"),
        ("size=224,imagenet", "a preset must come first"),
        ("mean=0.5,,std=1", "empty preprocessing item"),
    ],
)
def test_parse_preprocessing_errors(text, match):
    with pytest.raises(BadInputError, match=match):
        parse_preprocessing(text)


@pytest.mark.realdata
def test_preprocess_without_size_keeps_image_size(images):
    arr = images.values[:3]
    x = preprocess(arr, size=None, mean=0.0, std=1.0)
    assert tuple(x.shape) == (3, 3, 175, 175)
    np.testing.assert_allclose(x.numpy(), arr.transpose(0, 3, 1, 2) / 255.0, atol=1e-6)
    with pytest.raises(BadInputError, match="share one size"):
        from PIL import Image

        preprocess([Image.fromarray(arr[0]), Image.fromarray(arr[1, :100])], size=None)
