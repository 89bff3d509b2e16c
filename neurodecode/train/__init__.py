"""Training utilities: leak-free evaluation splits (:mod:`neurodecode.train.splits`).

Kept light on purpose: import submodules explicitly, e.g.
``from neurodecode.train.splits import ByRun``.
"""

__all__ = ["splits"]
