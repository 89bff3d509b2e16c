"""neurodecode: bridge brain recordings and deep networks.

The top-level import is deliberately light: it pulls in numpy and nothing heavy.
Sub-packages (``loaders``, ``preprocess``, ``datasets``, ``io``, ``pipeline``...)
are imported on first attribute access, and torch, MNE, nilearn, diffusers and
dask are imported only inside the functions that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import attach

__version__ = "0.1.0"

_SUBMODULES = (
    "analysis",
    "datamodel",
    "datasets",
    "decoding",
    "encoders",
    "errors",
    "generative",
    "io",
    "loaders",
    "models",
    "pipeline",
    "preprocess",
    "report",
    "train",
)

# Names re-exported lazily from sub-modules: name -> module
_LAZY_NAMES = {
    "validate": "datamodel",
    "kind_of": "datamodel",
    "DataModelError": "errors",
    "NeurodecodeError": "errors",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=_SUBMODULES, names=_LAZY_NAMES)
__all__ = [*__all__, "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from . import analysis, datamodel, datasets, io, loaders, models, pipeline, preprocess  # noqa: F401
    from .datamodel import kind_of, validate  # noqa: F401
    from .errors import DataModelError, NeurodecodeError  # noqa: F401
