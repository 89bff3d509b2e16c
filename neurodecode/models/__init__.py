"""Deep networks as models of brain responses: a model zoo, image preprocessing, layer activations.

Importing this package does not import torch; torch, PIL and scikit-learn are imported inside the
functions that use them.

>>> from neurodecode.models import load_model, extract, layer_names      # doctest: +SKIP
>>> model = load_model("efficientnet_lite0")                               # doctest: +SKIP
>>> acts = extract(model, images, layers="blocks", pooling="avg")          # doctest: +SKIP
"""

from __future__ import annotations

from .activations import POOLINGS, extract
from .images import load_images, preprocess
from .zoo import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LAYER_KINDS,
    LITE_MEAN,
    LITE_STD,
    layer_names,
    list_models,
    load_model,
)

__all__ = [
    "extract",
    "load_model",
    "list_models",
    "layer_names",
    "preprocess",
    "load_images",
    "POOLINGS",
    "LAYER_KINDS",
    "LITE_MEAN",
    "LITE_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]
