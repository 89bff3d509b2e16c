"""Generative decoding: image reconstruction from brain data and its evaluation (light: no torch at import).

Submodules are imported lazily on first attribute access::

    from neurodecode.generative import reconstruction_scores
    scores = reconstruction_scores(true_images, reconstructions, features="efficientnet_lite0")
"""

from __future__ import annotations

import importlib
from typing import Any

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

__all__ = [*_NAMES, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
