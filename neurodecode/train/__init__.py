"""Training and evaluation: leak-free splits, the trainer, decoding metrics.

Kept light on purpose (nothing heavy at import); import submodules explicitly::

    from neurodecode.train.splits import ByRun
    from neurodecode.train.trainer import Trainer, TrainConfig, train_val_split
    from neurodecode.train.metrics import classification_scores, regression_scores
"""

__all__ = ["splits", "trainer", "metrics"]
