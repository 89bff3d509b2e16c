"""Decoding as a library: cross-validated and time-resolved decoding of any labelled recording.

Light at import: submodules load on first attribute access::

    from neurodecode import decoding
    res = decoding.cross_validate(epochs, "label", ["lda", "xdawn_ts"], cv="run")
    tc = decoding.sliding(epochs, "label", "lda", cv=5)          # (fold, time)
    tg = decoding.generalizing(epochs, "label", "lda", cv=5)     # (fold, train_time, test_time)
    sub = decoding.sliding_by_group(epochs, "label", cv=5, by="subject", min_trials=20).scores  # (subject, time)
    sl = decoding.searchlight(blocks, "label", "lda", cv="run", radius=8)  # (voxel,) map
    res = decoding.cross_validate(decoding.block_timecourses(bold), "label", "brainmae", cv="run",
                                  pretrain=decoding.run_windows(bold))        # BrainMAE pretrained per fold
"""

from __future__ import annotations

from .._lazy import attach

# To add a public name: one line "name": "submodule" below (and the submodule in _SUBMODULES).
_SUBMODULES = ("estimators", "cross_validation", "time_resolved", "clusters", "epoching", "cli", "volumes", "blocks",
               "parcels")
_NAMES = {
    "cross_validate": "cross_validation",
    "scores_table": "cross_validation",
    "summary_table": "cross_validation",
    "default_estimators": "cross_validation",
    "ESTIMATORS": "estimators",
    "register_estimator": "estimators",
    "list_estimators": "estimators",
    "make_estimator": "estimators",
    "EstimatorContext": "estimators",
    "sliding": "time_resolved",
    "generalizing": "time_resolved",
    "sliding_by_group": "time_resolved",
    "trial_groups": "time_resolved",
    "cluster_test": "clusters",
    "epochs_from_recordings": "epoching",
    "block_samples": "epoching",
    "spike_samples": "epoching",
    "block_timecourses": "blocks",
    "run_windows": "blocks",
    "ParcelMeans": "parcels",
    "searchlight": "volumes",
    "searchlight_spheres": "volumes",
    "searchlight_rsa": "volumes",
    "roi_patterns": "volumes",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=_SUBMODULES, names=_NAMES)
