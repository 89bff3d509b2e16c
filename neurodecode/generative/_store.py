"""Save and load models of :mod:`neurodecode.generative` as a folder: ``config.json`` + ``weights.safetensors``.

No pickles: the config is plain JSON and the weights are named float arrays in the safetensors
format, so a saved folder can be read without running any code from it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError

CONFIG = "config.json"
WEIGHTS = "weights.safetensors"


def save_folder(path: str | os.PathLike, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``config`` (JSON) and ``arrays`` (safetensors) into the folder ``path`` (created if needed)."""
    from safetensors.numpy import save

    from .._files import write_atomic

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BadInputError(f"{path} is a file; save() needs a folder path (it writes {CONFIG} and {WEIGHTS}).")
    path.mkdir(parents=True, exist_ok=True)
    clean = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    write_atomic(path / WEIGHTS, save(clean))
    write_atomic(path / CONFIG, json.dumps(config, indent=1, sort_keys=True))
    return path


def load_folder(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a folder written by :func:`save_folder`; check its ``kind`` when given."""
    from safetensors.numpy import load_file

    path = Path(path)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise BadInputError(
            f"{path} does not hold a saved model: expected the files {CONFIG} and {WEIGHTS} "
            "written by save(path)."
        )
    config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    if kind is not None and config.get("kind") != kind:
        raise BadInputError(
            f"{path} holds a {config.get('kind')!r} model, not a {kind!r}; load it with the matching class "
            "(or neurodecode.generative.heads.load_head for heads)."
        )
    return config, load_file(str(path / WEIGHTS))
