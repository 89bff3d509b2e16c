"""Readers that turn files into data-model objects (EEG/MEG via MNE, fMRI via nibabel/nilearn, spikes via pynwb;
generic readers for image folders, RDM files, CSV/TSV tables and ``--brain`` files).

Sub-modules are imported on first use so ``import neurodecode.loaders`` stays light.
"""

from __future__ import annotations

from .._lazy import attach

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
    "read_images": "images",
    "read_stimuli": "images",
    "open_image": "images",
    "read_rdms": "rdms",
    "read_stimulus_ids": "rdms",
    "read_table": "tables",
    "read_brain": "brain",
}
_MODULES = ("eeg", "fmri", "spikes", "images", "rdms", "tables", "brain")

__getattr__, __dir__, __all__ = attach(__name__, submodules=_MODULES, names=_NAMES)
