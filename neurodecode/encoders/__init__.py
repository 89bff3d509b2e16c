"""Encoders: band features and torch encoders with one signature (light: no torch at import).

Submodules are imported lazily on first attribute access::

    from neurodecode.encoders.bde import band_de
    feats = band_de(epochs)                        # (trial, channel, band)
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("bde", "base", "estimators", "rbtransformer", "brainmae", "spike", "contrastive")
_NAMES = {
    "band_de": "bde",
    "DEFAULT_BANDS": "bde",
    "BrainEncoder": "base",
    "load_encoder": "base",
    "register_encoder": "base",
    "EncoderClassifier": "estimators",
    "EncoderRegressor": "estimators",
    "load_estimator": "estimators",
    "RBTransformer": "rbtransformer",
    "BrainMAE": "brainmae",
    "SpikeContrastive": "spike",
    "BrainCLIP": "contrastive",
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
