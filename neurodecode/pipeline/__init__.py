"""YAML pipelines: a validated config, a registry of named ops, a cached runner.

>>> from neurodecode import pipeline
>>> result = pipeline.run("pipelines/fmri_haxby_preprocess.yaml", "out/haxby")  # doctest: +SKIP
>>> result.metrics, result.cache_hits                                            # doctest: +SKIP

See docs/pipelines.md for the file format.
"""

from __future__ import annotations

from .._lazy import attach

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

__getattr__, __dir__, __all__ = attach(
    __name__, submodules=("builtin", "cache", "config", "ops", "runner", "summary"), names=_NAMES)
