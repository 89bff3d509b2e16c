"""Decoding as a library: cross-validated and time-resolved decoding of any labelled recording.

Light at import: submodules load on first attribute access::

    from neurodecode import decoding
    res = decoding.cross_validate(epochs, "label", ["lda", "xdawn_ts"], cv="run")
    tc = decoding.sliding(epochs, "label", "lda", cv=5)          # (fold, time)
    tg = decoding.generalizing(epochs, "label", "lda", cv=5)     # (fold, train_time, test_time)
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("estimators", "cross_validation", "time_resolved", "clusters", "epoching", "cli")
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
    "cluster_test": "clusters",
    "epochs_from_recordings": "epoching",
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
