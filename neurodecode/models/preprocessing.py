"""Preprocessing specs: how images become a network's input, stated explicitly per model.

A preprocessing is a plain, JSON-serialisable dict of the keyword arguments of
:func:`neurodecode.models.preprocess`::

    {"size": 224, "crop": 0.875, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}

``size``
    side of the square network input in pixels; ``None`` keeps every image at its own size (the
    images must then share one size) and ignores ``crop``.
``crop``
    centre-crop fraction in (0, 1]: the shorter side is resized to ``round(size / crop)``, then the
    central ``size x size`` square is cut out (1.0 keeps the whole shorter side).
``mean``, ``std``
    per-channel (R, G, B) normalisation on the [0, 1] pixel scale: ``(pixel / 255 - mean) / std``.

:func:`parse_preprocessing` reads the short text form used on the command line
(``--preprocess``) and in pipeline files::

    imagenet                           torchvision's ImageNet statistics, 224 px, crop 0.875
    inception                          mean = std = 0.5 (pixels scaled to [-1, 1]), 224 px, crop 0.875
    none                               pixels in [0, 1], no normalisation, images at their own size
    mean=0.5,0.5,0.5,std=0.5,0.5,0.5,size=224
    mean=0.5,std=0.25,size=64,crop=1   (one number stands for all three channels)
    imagenet,size=256,crop=1           a preset with some keys changed

Keys not given in a ``key=value`` spec take the values of the preset in front (``none`` when
there is none): ``mean`` 0, ``std`` 1, ``size`` ``None`` (each image's own size), ``crop`` 1.0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from ..errors import BadInputError

__all__ = ["PREPROCESSING_PRESETS", "PREPROCESSING_KEYS", "parse_preprocessing", "as_preprocessing"]

#: Keys of a preprocessing dict (the keyword arguments of :func:`neurodecode.models.preprocess`).
PREPROCESSING_KEYS = ("size", "crop", "mean", "std")

#: Named preprocessings accepted by :func:`parse_preprocessing` and :func:`as_preprocessing`.
PREPROCESSING_PRESETS: dict[str, dict[str, Any]] = {
    "imagenet": {"size": 224, "crop": 0.875, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "inception": {"size": 224, "crop": 0.875, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    "none": {"size": None, "crop": 1.0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
}

_HELP = (
    "write it as a preset (" + " | ".join(PREPROCESSING_PRESETS) + "), or as keys, e.g. "
    "'mean=0.485,0.456,0.406,std=0.229,0.224,0.225,size=224' (optional crop=0.875; one number "
    "for mean or std stands for all three channels), or a preset followed by keys ('imagenet,size=256')"
)


def _number(text: str, key: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInputError(f"preprocessing {spec!r}: {key} needs numbers, got {text!r}; {_HELP}.") from None
    if not math.isfinite(value):
        raise BadInputError(f"preprocessing {spec!r}: {key} must be finite, got {text!r}.")
    return value


def parse_preprocessing(text: str) -> dict[str, Any]:
    """Read a preprocessing from its text form (see the module docstring).

    Parameters
    ----------
    text : str
        A preset name (``imagenet``, ``inception``, ``none``), ``key=value`` items separated by
        commas (keys ``size``, ``crop``, ``mean``, ``std``; ``mean`` and ``std`` take one or three
        numbers), or a preset followed by such items.

    Returns
    -------
    dict
        ``{"size", "crop", "mean", "std"}``, checked (see :func:`as_preprocessing`).

    Raises
    ------
    BadInputError
        Empty text, unknown preset or key, a key given twice, a value that is not a number, wrong
        number of channel values, non-positive ``std`` or ``size``, ``crop`` outside (0, 1].

    Examples
    --------
    >>> parse_preprocessing("mean=0.5,std=0.5,size=32")
    {'size': 32, 'crop': 1.0, 'mean': [0.5, 0.5, 0.5], 'std': [0.5, 0.5, 0.5]}
    """
    if not isinstance(text, str):
        raise BadInputError(f"preprocessing text must be a str, got a {type(text).__name__}.")
    spec = text.strip()
    tokens = [t.strip() for t in spec.split(",")]
    if not spec or any(not t for t in tokens):
        raise BadInputError(f"empty preprocessing item in {text!r}; {_HELP}.")
    base = "none"
    if "=" not in tokens[0]:
        name = tokens[0].lower()
        if name not in PREPROCESSING_PRESETS:
            raise BadInputError(f"unknown preprocessing preset {tokens[0]!r} in {text!r}; {_HELP}.")
        base = name
        tokens = tokens[1:]
    values: dict[str, list[str]] = {}
    key = None
    for tok in tokens:
        if "=" in tok:
            key, _, val = (s.strip() for s in tok.partition("="))
            key = key.lower()
            if key not in PREPROCESSING_KEYS:
                raise BadInputError(
                    f"unknown preprocessing key {key!r} in {text!r}; the keys are {', '.join(PREPROCESSING_KEYS)}."
                )
            if key in values:
                raise BadInputError(f"preprocessing {text!r}: {key} is given twice.")
            values[key] = [val]
        elif key in ("mean", "std"):
            values[key].append(tok)
        else:
            hint = " (a preset must come first)" if tok.lower() in PREPROCESSING_PRESETS else ""
            raise BadInputError(f"preprocessing {text!r}: cannot read {tok!r}{hint}; {_HELP}.")
    out = dict(PREPROCESSING_PRESETS[base])
    for key, items in values.items():
        if key in ("mean", "std"):
            out[key] = [_number(v, key, text) for v in items]
        elif len(items) != 1:  # pragma: no cover - only mean/std collect several items
            raise BadInputError(f"preprocessing {text!r}: {key} takes one value.")
        elif key == "size":
            out["size"] = None if items[0].lower() == "none" else _number(items[0], key, text)
        else:
            out["crop"] = _number(items[0], key, text)
    return as_preprocessing(out, what=f"preprocessing {text!r}")


def _channels(value: Any, key: str, what: str) -> list[float]:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        items = [value]
    elif isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = list(value.tolist() if hasattr(value, "tolist") else value)
    else:
        raise BadInputError(f"{what}: {key} must be one number or three (R, G, B), got {value!r}.")
    try:
        nums = [float(v) for v in items]
    except (TypeError, ValueError):
        raise BadInputError(f"{what}: {key} must hold numbers, got {value!r}.") from None
    if len(nums) == 1:
        nums = nums * 3
    if len(nums) != 3:
        raise BadInputError(
            f"{what}: {key} needs one value or three (R, G, B), got {len(nums)} ({value!r})."
        )
    if not all(math.isfinite(v) for v in nums):
        raise BadInputError(f"{what}: {key} must be finite, got {value!r}.")
    if key == "std" and any(v <= 0 for v in nums):
        raise BadInputError(f"{what}: std must be positive, got {value!r}.")
    return nums


def as_preprocessing(value: Mapping[str, Any] | str, *, what: str = "preprocessing") -> dict[str, Any]:
    """Check a preprocessing given as a dict or text, and return it in normal form.

    Parameters
    ----------
    value : dict or str
        A dict with keys among ``size``, ``crop``, ``mean``, ``std`` (missing keys take the
        ``none`` preset's values), or a text spec for :func:`parse_preprocessing`.
    what : str
        How to name the value in error messages.

    Returns
    -------
    dict
        ``{"size": int or None, "crop": float, "mean": [r, g, b], "std": [r, g, b]}``; plain
        Python numbers and lists (JSON-serialisable), a new dict.

    Raises
    ------
    BadInputError
        Unknown keys, wrong types or values (see :func:`parse_preprocessing`).
    """
    if isinstance(value, str):
        return parse_preprocessing(value)
    if not isinstance(value, Mapping):
        raise BadInputError(
            f"{what} must be a dict or a text spec, got a {type(value).__name__}; {_HELP}."
        )
    unknown = sorted(set(value) - set(PREPROCESSING_KEYS))
    if unknown:
        raise BadInputError(
            f"{what}: unknown key(s) {unknown}; the keys are {', '.join(PREPROCESSING_KEYS)}."
        )
    out = dict(PREPROCESSING_PRESETS["none"])
    out.update(value)
    size = out["size"]
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, numbers.Real) or not float(size).is_integer() or size < 1:
            raise BadInputError(f"{what}: size must be a positive whole number of pixels (or None), got {size!r}.")
        size = int(size)
    crop = out["crop"]
    if isinstance(crop, bool) or not isinstance(crop, numbers.Real) or not 0.0 < float(crop) <= 1.0:
        raise BadInputError(f"{what}: crop must be a fraction in (0, 1], got {crop!r}.")
    return {
        "size": size,
        "crop": float(crop),
        "mean": _channels(out["mean"], "mean", what),
        "std": _channels(out["std"], "std", what),
    }
