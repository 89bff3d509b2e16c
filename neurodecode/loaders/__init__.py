"""Readers that turn files into data-model objects (EEG/MEG via MNE, fMRI via nibabel/nilearn, spikes via pynwb).

Sub-modules are imported on first use so ``import neurodecode.loaders`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "read_eeg": "eeg",
    "read_muse_csv": "eeg",
    "from_mne": "eeg",
    "to_mne": "eeg",
    "read_bold": "fmri",
    "to_nifti": "fmri",
    "read_events_tsv": "fmri",
    "extract_rois": "fmri",
    "read_nwb_units": "spikes",
    "read_nwb_intervals": "spikes",
    "intervals_of": "spikes",
    "read_binned_mat": "spikes",
    "bin_spikes": "spikes",
}

__all__ = sorted(_NAMES) + ["eeg", "fmri", "spikes"]


def __getattr__(name: str) -> Any:
    if name in ("eeg", "fmri", "spikes"):
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        mod = importlib.import_module(f"{__name__}.{_NAMES[name]}")
        return getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
