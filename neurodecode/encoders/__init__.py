"""Feature encoders: turn labelled signals into feature arrays (light: no torch at import).

Submodules are imported lazily on first attribute access::

    from neurodecode.encoders.bde import band_de
    feats = band_de(epochs)                        # (trial, channel, band)
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("bde",)
_NAMES = {"band_de": "bde", "DEFAULT_BANDS": "bde"}

__all__ = ["band_de", "DEFAULT_BANDS", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
