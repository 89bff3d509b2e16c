"""Encoders: band features and torch encoders with one signature (light: no torch at import).

Submodules are imported lazily on first attribute access::

    from neurodecode.encoders.bde import band_de
    feats = band_de(epochs)                        # (trial, channel, band)
"""

from __future__ import annotations

from .._lazy import attach

_SUBMODULES = ("bde", "base", "estimators", "rbtransformer", "brainmae", "spike", "contrastive", "eegnet")
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
    "EEGNet": "eegnet",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=_SUBMODULES, names=_NAMES)
