"""Preprocessing: xarray in, xarray out (EEG filtering/epoching, fMRI cleaning/responses, spike binning)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["eeg", "fmri", "spikes"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
