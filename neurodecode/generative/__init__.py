"""Generative decoding: image reconstruction from brain data and its evaluation (light: no torch at import).

Submodules are imported lazily on first attribute access::

    from neurodecode.generative import reconstruction_scores
    scores = reconstruction_scores(true_images, reconstructions, features="efficientnet_lite0")
"""

from __future__ import annotations

import importlib.util as _util

from .._lazy import attach
from ..errors import MissingDependencyError as _Missing

#: the optional packages of the ``generative`` extra (pip install "neurodecode[generative]")
EXTRA_PACKAGES = ("diffusers", "transformers")
_absent = [name for name in EXTRA_PACKAGES if _util.find_spec(name) is None]
if _absent:
    raise _Missing(
        f"neurodecode.generative needs {' and '.join(_absent)}, which are not installed; "
        "run `pip install \"neurodecode[generative]\"`."
    )

_SUBMODULES = ("metrics", "heads", "diffusion", "guidance", "cond_unet")
_NAMES = {
    "pixcorr": "metrics",
    "ssim": "metrics",
    "two_way_identification": "metrics",
    "feature_distance": "metrics",
    "retrieval_topk": "metrics",
    "nway_retrieval": "metrics",
    "extract_features": "metrics",
    "reconstruction_scores": "metrics",
    "RidgeHead": "heads",
    "MLPHead": "heads",
    "load_head": "heads",
    "load_unclip": "diffusion",
    "tiny_unclip": "diffusion",
    "generate": "diffusion",
    "guided_sample": "guidance",
    "RegionScore": "guidance",
    "CondDiffusion": "cond_unet",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=_SUBMODULES, names=_NAMES)
