"""neurodecode: bridge brain recordings and deep networks.

The top-level import is deliberately light: it pulls in numpy and nothing heavy.
Sub-packages (``loaders``, ``preprocess``, ``datasets``, ``io``, ``pipeline``...)
are imported on first attribute access, and torch, MNE, nilearn, diffusers and
dask are imported only inside the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SUBMODULES = {
    "analysis",
    "models",
    "datamodel",
    "datasets",
    "io",
    "loaders",
    "preprocess",
    "pipeline",
    "report",
    "errors",
    "config",
}

# Names re-exported lazily from sub-modules: name -> module
_LAZY_NAMES = {
    "validate": "neurodecode.datamodel",
    "kind_of": "neurodecode.datamodel",
    "DataModelError": "neurodecode.errors",
    "NeurodecodeError": "neurodecode.errors",
}

__all__ = sorted(_SUBMODULES | set(_LAZY_NAMES) | {"__version__"})

if TYPE_CHECKING:  # pragma: no cover
    from . import analysis, datamodel, datasets, io, loaders, models, pipeline, preprocess  # noqa: F401
    from .datamodel import kind_of, validate  # noqa: F401
    from .errors import DataModelError, NeurodecodeError  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        mod = importlib.import_module(_LAZY_NAMES[name])
        value = getattr(mod, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        mod = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'neurodecode' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
