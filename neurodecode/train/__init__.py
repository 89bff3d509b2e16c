"""Training and evaluation: leak-free splits, the trainer, decoding metrics.

Kept light on purpose (nothing heavy at import; sub-modules load on first use)::

    from neurodecode.train import ByRun, Trainer, TrainConfig, train_val_split
    from neurodecode.train import classification_scores, regression_scores
"""

from .._lazy import attach

_NAMES = {
    "LeakError": "splits",
    "check_no_leak": "splits",
    "ByRun": "splits",
    "BySession": "splits",
    "BySubject": "splits",
    "ByTrial": "splits",
    "ContiguousBlocks": "splits",
    "make_windows": "splits",
    "TrainConfig": "trainer",
    "TrainResult": "trainer",
    "Trainer": "trainer",
    "train_val_split": "trainer",
    "seed_everything": "trainer",
    "resolve_device": "trainer",
    "classification_scores": "metrics",
    "regression_scores": "metrics",
    "chance_level": "metrics",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=("splits", "trainer", "metrics"), names=_NAMES)
