"""The model registry: names that :func:`neurodecode.models.load_model` accepts.

Built-in entries are the zoo (:mod:`neurodecode.models.zoo`: ``efficientnet_lite0``, ``_lite1``,
``_lite2``). Your own networks join it in one of two ways:

* in Python, with :func:`register_model` (as a call or a decorator)::

      from neurodecode.models import register_model

      @register_model("my_cnn", preprocessing="imagenet", description="my 5-layer CNN")
      def make_cnn(pretrained=True, seed=0):
          ...
          return net            # a torch.nn.Module

* from an installed package, through the entry-point group ``neurodecode.models``: each entry
  point names either a factory (registered under the entry point's name, with the factory's
  ``preprocessing`` attribute, if any) or a module whose import calls :func:`register_model`::

      [project.entry-points."neurodecode.models"]
      my_cnn = "my_package.nets:make_cnn"
      more = "my_package.more_nets"

  Entry points are loaded the first time the registry is queried (:func:`list_models`,
  :func:`model_info`, :func:`~neurodecode.models.load_model` with a name); one that fails to load
  gives a warning naming it and is skipped.

A factory is called with the keyword arguments it accepts among ``pretrained`` and ``seed``; see
:func:`neurodecode.models.load_model` for what ``pretrained=False`` does with a factory that
takes no ``pretrained`` argument.
"""

from __future__ import annotations

import difflib
import importlib
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BadInputError
from .preprocessing import as_preprocessing

__all__ = ["ModelEntry", "register_model", "unregister_model", "list_models", "model_info", "ENTRY_POINT_GROUP"]

#: The entry-point group through which installed packages register models.
ENTRY_POINT_GROUP = "neurodecode.models"


@dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes
    ----------
    name : str
        The registry name (lower case, ``_`` instead of ``-``).
    factory : callable
        Returns a :class:`torch.nn.Module`; called with the keyword arguments it accepts among
        ``pretrained`` and ``seed``.
    preprocessing : dict or None
        The model's input preprocessing in normal form (see :mod:`neurodecode.models.preprocessing`);
        ``None``: not known here (the returned module or the caller must give one).
    description : str
        One line for listings.
    source : str
        ``"builtin"``, ``"python"`` (:func:`register_model`) or ``"entry point <value>"``.
    """

    name: str
    factory: Callable[..., Any]
    preprocessing: dict[str, Any] | None
    description: str
    source: str = "python"


_MODELS: dict[str, ModelEntry] = {}
_LOCK = threading.RLock()
_state = {"builtins": False, "entry_points": False}


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def register_model(
    name: str,
    factory: Callable[..., Any] | None = None,
    *,
    preprocessing: Mapping[str, Any] | str | None = None,
    description: str = "",
    replace: bool = False,
) -> Any:
    """Register a model factory under ``name``; without ``factory``, works as a decorator.

    Parameters
    ----------
    name : str
        Registry name (case-insensitive; ``-`` and ``_`` are the same).
    factory : callable, optional
        ``factory(pretrained=..., seed=...) -> torch.nn.Module``, taking any subset of these
        keyword arguments (also none).
    preprocessing : dict or str, optional
        The model's input preprocessing, a dict or a text spec (``"imagenet"``,
        ``"mean=0.5,std=0.5,size=224"``; see :func:`~neurodecode.models.parse_preprocessing`).
        Default: the factory's ``preprocessing`` attribute, if any; else the module that the
        factory returns must carry one, or callers must pass one to ``load_model``.
    description : str
        One line for listings (default: the first line of the factory's docstring).
    replace : bool
        Allow replacing an existing entry of the same name (also a built-in one).

    Returns
    -------
    callable
        ``factory`` (or the decorator), so that it stays usable as before.

    Raises
    ------
    BadInputError
        Empty name, a factory that is not callable, a bad preprocessing, or a taken name without
        ``replace=True``.
    """
    if factory is None:
        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            register_model(name, fn, preprocessing=preprocessing, description=description, replace=replace)
            return fn

        return decorator
    return _add(name, factory, preprocessing, description, replace, "python")


def _add(name, factory, preprocessing, description, replace, source) -> Any:
    key = _key(name)
    if not key or ":" in key:
        raise BadInputError(f"model name {name!r} is not usable: give a non-empty name without ':'.")
    if not callable(factory):
        raise BadInputError(f"register_model({name!r}): the factory must be callable, got a {type(factory).__name__}.")
    if preprocessing is None:
        preprocessing = getattr(factory, "preprocessing", None)
    prep = None if preprocessing is None else as_preprocessing(preprocessing, what=f"model {key!r}: preprocessing")
    if not description:
        doc = (getattr(factory, "__doc__", None) or "").strip()
        description = doc.splitlines()[0] if doc else ""
    with _LOCK:
        if source != "builtin":
            _ensure_builtins()
        if key in _MODELS and not replace:
            raise BadInputError(
                f"model {key!r} is already registered ({_MODELS[key].source}); pass replace=True to replace it."
            )
        _MODELS[key] = ModelEntry(key, factory, prep, str(description), source)
    return factory


def unregister_model(name: str) -> None:
    """Remove ``name`` from the registry (no error when absent)."""
    with _LOCK:
        _MODELS.pop(_key(name), None)


def _ensure_builtins() -> None:
    with _LOCK:
        if not _state["builtins"]:
            _state["builtins"] = True
            importlib.import_module("neurodecode.models.zoo")  # registers the zoo


def _ensure() -> None:
    _ensure_builtins()
    with _LOCK:
        if _state["entry_points"]:
            return
        _state["entry_points"] = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
            except Exception as err:  # noqa: BLE001 - a broken plugin must not break the zoo
                warnings.warn(
                    f"neurodecode: the model entry point {ep.name!r} ({ep.value}) could not be loaded "
                    f"and is skipped: {type(err).__name__}: {err}",
                    stacklevel=3,
                )
                continue
            if callable(obj) and _key(ep.name) not in _MODELS:
                try:
                    _add(ep.name, obj, None, "", False, f"entry point {ep.value}")
                except BadInputError as err:
                    warnings.warn(f"neurodecode: model entry point {ep.name!r} skipped: {err}", stacklevel=3)


def list_models() -> list[str]:
    """Sorted names accepted by :func:`neurodecode.models.load_model` (zoo, registered, plugins)."""
    _ensure()
    return sorted(_MODELS)


def model_info(name: str) -> ModelEntry:
    """The registry entry of ``name``.

    Raises
    ------
    BadInputError
        For an unknown name; the message lists the registered models and suggests a close one.
    """
    _ensure()
    key = _key(name)
    try:
        return _MODELS[key]
    except KeyError:
        pass
    close = difflib.get_close_matches(key, list(_MODELS), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listing = "; ".join(f"{k}: {e.description}" if e.description else k for k, e in sorted(_MODELS.items()))
    raise BadInputError(
        f"unknown model {name!r}{hint}. Registered models: {listing}. Other forms: 'FILE.py:FACTORY', "
        "'package.module:FACTORY', 'hf:LOCAL_DIR'."
    )
