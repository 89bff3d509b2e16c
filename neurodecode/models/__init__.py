"""Deep networks as models of brain responses: a model registry and zoo, image preprocessing, layer activations.

Importing this package does not import torch; torch, PIL and scikit-learn are imported inside the
functions that use them.

>>> from neurodecode.models import load_model, extract, layer_names      # doctest: +SKIP
>>> model = load_model("efficientnet_lite0")                               # doctest: +SKIP
>>> acts = extract(model, images, layers="blocks", pooling="avg")          # doctest: +SKIP

Model forms accepted by :func:`load_model` (see :mod:`neurodecode.models.loading`):

* a registry name: the zoo (``efficientnet_lite0``, ``efficientnet_lite1``, ``efficientnet_lite2``),
  models added with :func:`register_model`, and installed plugins (entry-point group
  ``neurodecode.models``); :func:`list_models` lists them;
* ``"my_net.py:make_net"`` or ``"my_package.nets:make_net"``: a factory in your own file or module
  that returns a ``torch.nn.Module`` (optionally with a ``preprocessing`` dict attribute);
* ``"hf:path/to/folder"``: a transformers vision model (ViT, CLIP's vision tower, ...) saved in a
  local folder.

Preprocessing is explicit per model (:func:`parse_preprocessing` reads ``"imagenet"``, ``"none"``,
``"mean=..,std=..,size=.."``); a model that states none is an error, never a silent default.
"""

from __future__ import annotations

from .activations import POOLINGS, extract
from .images import load_images, preprocess
from .loading import load_model
from .preprocessing import PREPROCESSING_PRESETS, as_preprocessing, parse_preprocessing
from .registry import ModelEntry, list_models, model_info, register_model, unregister_model
from .zoo import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LAYER_KINDS,
    LITE_MEAN,
    LITE_STD,
    layer_names,
)

__all__ = [
    "extract",
    "load_model",
    "list_models",
    "register_model",
    "unregister_model",
    "model_info",
    "ModelEntry",
    "parse_preprocessing",
    "as_preprocessing",
    "PREPROCESSING_PRESETS",
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
