"""Preprocessing: xarray in, xarray out (EEG filtering/epoching, fMRI cleaning/responses, spike binning)."""

from __future__ import annotations

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, submodules=("eeg", "fmri", "spikes"))
