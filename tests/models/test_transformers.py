"""Transformer models from a local folder ("hf:DIR") and token pooling in extract.

Tiny randomly initialised ViT and CLIP models are saved with ``save_pretrained`` into tmp_path,
the way a user saves a model, and loaded back with ``load_model("hf:DIR")``; nothing is
downloaded. Ground truth: the transformers model's own hidden states
(``output_hidden_states=True``), pooled by hand with numpy.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import torch

from neurodecode.errors import BadInputError
from neurodecode.models import extract, layer_names, load_model, preprocess

transformers = pytest.importorskip("transformers")

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8)


@pytest.fixture(scope="module")
def images(data_home):
    from neurodecode import datasets

    return datasets.load("kriegeskorte92", part="images").isel(stimulus=slice(0, 92, 9))  # 11 images


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("my_vit")
    torch.manual_seed(0)
    model = transformers.ViTModel(transformers.ViTConfig(**TINY))
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 32, "width": 32},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    }))
    return folder


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("my_clip")
    torch.manual_seed(1)
    text = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, vocab_size=99,
                bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = {k: v for k, v in TINY.items()}
    model = transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    model.save_pretrained(folder)  # no preprocessor_config.json
    return folder


def _hidden_states(model, x):
    with torch.no_grad():
        return [h.numpy() for h in model(pixel_values=x, output_hidden_states=True).hidden_states]


@pytest.mark.realdata
def test_vit_blocks_pool_over_tokens(vit_dir, images):
    model = load_model(f"hf:{vit_dir}")
    assert model.nd_preprocessing == {"size": 32, "crop": 1.0, "mean": [0.5] * 3, "std": [0.5] * 3}
    assert model.nd_model_id == f"hf:{vit_dir.name}" and model.nd_model_source["kind"] == "hf"
    blocks = layer_names(model)
    assert len(blocks) == 2 and all(b.rsplit(".", 1)[0] == blocks[0].rsplit(".", 1)[0] for b in blocks)
    x = preprocess(images.values, size=32, crop=1.0, mean=0.5, std=0.5)
    hidden = _hidden_states(model, x)[1:]  # outputs of the encoder blocks, (n, 17 tokens, 32)
    avg = extract(model, images, pooling="avg", progress=False)
    cls = extract(model, images, pooling="cls", progress=False)
    flat = extract(model, images, progress=False)
    assert list(avg.data_vars) == blocks
    for name, h in zip(blocks, hidden):
        assert avg[name].shape == (11, 32)
        np.testing.assert_allclose(avg[name].values, h.mean(axis=1), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(cls[name].values, h[:, 0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(flat[name].values, h.reshape(11, -1), rtol=1e-4, atol=1e-5)
        assert avg[name].attrs["shape"] == [17, 32] and "tokens" in avg[name].attrs["pooled_over"]
    assert json.loads(avg.attrs["preprocessing"]) == model.nd_preprocessing


@pytest.mark.realdata
def test_mean_over_embedding_dim_would_be_constant(vit_dir, images):
    # the final LayerNorm's output averaged over its normalised (embedding) dim is the same for every
    # image (the old, wrong "avg"); averaged over tokens it is informative
    model = load_model(f"hf:{vit_dir}")
    flat = extract(model, images, layers=["layernorm"], progress=False)["layernorm"].values.reshape(11, 17, 32)
    over_dim = flat.mean(axis=2)
    assert np.abs(over_dim - over_dim[0]).max() < 1e-5 * max(1.0, np.abs(flat).max())
    avg = extract(model, images, layers=["layernorm"], pooling="avg", progress=False)["layernorm"].values
    np.testing.assert_allclose(avg, flat.mean(axis=1), rtol=1e-4, atol=1e-5)
    assert avg.std(axis=0).max() > 1e-3


def test_constant_layer_is_an_error():
    from torch import nn

    # an instance-normalised map averaged over the dims it was normalised over: 0 for every image,
    # up to float rounding (the analogue, for conv maps, of the old mean over a ViT's embedding dim)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.InstanceNorm2d(8), nn.ReLU()).eval()
    model.nd_model_id = "normed-net"
    x = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    with pytest.raises(BadInputError, match=r"layer '1' of normed-net.*constant across the 6 stimuli"):
        extract(model, x, layers=["1"], pooling="avg", progress=False)
    ok = extract(model, x, layers=["1", "2"], progress=False)  # flattened, or after the ReLU: informative
    assert ok["1"].shape == (6, 8 * 14 * 14)
    extract(model, x, layers=["2"], pooling="avg", progress=False)
    dead = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with torch.no_grad():
        dead[0].weight.zero_()
        dead[0].bias.fill_(-1.0)
    with pytest.raises(BadInputError, match="layer '1' of Sequential"):
        extract(dead, x, layers=["1"], pooling="avg", progress=False)
    extract(dead, x[:1], layers=["1"], progress=False)  # one stimulus: nothing to compare, no error


def test_cls_pooling_on_a_conv_map_is_an_error():
    from torch import nn

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with pytest.raises(BadInputError, match="no class token"):
        extract(model, torch.randn(3, 3, 8, 8), layers=["0"], pooling="cls", progress=False)


@pytest.mark.realdata
def test_clip_uses_the_vision_tower(clip_dir, images):
    with pytest.raises(BadInputError, match="--preprocess"):
        load_model(f"hf:{clip_dir}")  # no preprocessor_config.json and no preprocessing given
    model = load_model(f"hf:{clip_dir}", preprocessing="mean=0.48,0.46,0.41,std=0.27,0.26,0.28,size=32")
    assert layer_names(model) == ["vision_model.encoder.layers.0", "vision_model.encoder.layers.1"]
    assert not any(n.startswith("text") for n in layer_names(model, "all"))
    x = preprocess(images.values, **model.nd_preprocessing)
    hidden = _hidden_states(model.vision_model, x)[1:]
    ds = extract(model, images, pooling="avg", progress=False)
    for name, h in zip(layer_names(model), hidden):
        np.testing.assert_allclose(ds[name].values, h.mean(axis=1), rtol=1e-4, atol=1e-5)
    # untrained control: the architecture from config.json, seeded initialisation
    a = load_model(f"hf:{clip_dir}", pretrained=False, seed=4, preprocessing="inception,size=32")
    b = load_model(f"hf:{clip_dir}", pretrained=False, seed=4, preprocessing="inception,size=32")
    sa, sb, sm = a.state_dict(), b.state_dict(), model.state_dict()
    assert sa.keys() == sm.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sm[k]) for k in sa)
    assert a.nd_model_id.endswith("-untrained-seed4")


def test_hf_input_size_must_fit(vit_dir):
    with pytest.raises(BadInputError, match="takes 32 px images.*64 px input.*use size=32"):
        load_model(f"hf:{vit_dir}", preprocessing="inception,size=64")


def test_hf_folder_errors(tmp_path):
    with pytest.raises(BadInputError, match="does not exist.*nothing is downloaded"):
        load_model(f"hf:{tmp_path / 'not_there'}")
    with pytest.raises(BadInputError, match="no config.json"):
        load_model(f"hf:{tmp_path}")
    with pytest.raises(BadInputError, match="needs a folder"):
        load_model("hf:")
