"""YAML pipelines: a validated config, a registry of named ops, a cached runner.

>>> from neurodecode import pipeline
>>> result = pipeline.run("pipelines/fmri_haxby_preprocess.yaml", "out/haxby")  # doctest: +SKIP
>>> result.metrics, result.cache_hits                                            # doctest: +SKIP

See docs/pipelines.md for the file format.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "run": "runner",
    "RunResult": "runner",
    "StepRecord": "runner",
    "StepError": "runner",
    "package_versions": "runner",
    "load_config": "config",
    "validate_config": "config",
    "find_pipeline": "config",
    "PipelineConfig": "config",
    "StepResult": "ops",
    "Op": "ops",
    "OPS": "ops",
    "LOADERS": "ops",
    "register_op": "ops",
    "register_loader": "ops",
    "get_op": "ops",
    "get_loader": "ops",
    "list_ops": "ops",
    "StepCache": "cache",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    if name in ("config", "ops", "runner", "cache", "summary", "builtin"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
