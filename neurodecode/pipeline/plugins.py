"""User plugins: modules or ``.py`` files whose import registers ops, loaders and models.

A pipeline file may list them::

    plugins: [my_lab.neuro_ops, path/to/my_ops.py]

and an installed package may register through the entry-point groups ``neurodecode.ops``,
``neurodecode.loaders`` and ``neurodecode.models`` (the entry point names a module, whose import
registers with the usual decorators, or a function called with no arguments)::

    [project.entry-points."neurodecode.ops"]
    my_lab = "my_lab.neuro_ops"

Plugins are code the user chose to run; nothing else in a pipeline file imports code.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import re
import sys
import types
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError

__all__ = ["load_plugins", "import_plugin", "load_entry_points", "plugin_fingerprint"]

logger = logging.getLogger("neurodecode.pipeline")

_LOADED: dict[str, types.ModuleType] = {}
_ENTRY_POINTS_DONE: set[str] = set()


def _module_name_for(path: Path) -> str:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem) or "plugin"
    return f"neurodecode_plugin_{stem}_{digest}"


def import_plugin(spec: str, base_dir: Path | None = None) -> types.ModuleType:
    """Import one plugin: an importable module name or a ``.py`` file (relative to ``base_dir``).

    Raises
    ------
    ConfigError
        When the module or file cannot be found or its import fails (the message names it).
    """
    text = str(spec).strip()
    looks_like_file = text.endswith(".py") or "/" in text or "\\" in text
    if looks_like_file:
        from .config import resolve_path

        path = resolve_path(text, base_dir or Path.cwd(), key="plugins")
        if not path.is_file():
            raise ConfigError(f"plugins: no such file {str(path)!r} (from {text!r}); give a .py file or a module name.")
        key = str(path)
        if key in _LOADED:
            return _LOADED[key]
        name = _module_name_for(path)
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"plugins: {str(path)!r} cannot be imported as a Python module.")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as err:
            sys.modules.pop(name, None)
            raise ConfigError(f"plugins: importing {str(path)!r} failed: {type(err).__name__}: {err}") from err
        _LOADED[key] = module
        logger.info("plugin %s imported", path)
        return module
    if text in _LOADED:
        return _LOADED[text]
    try:
        module = importlib.import_module(text)
    except ImportError as err:
        raise ConfigError(f"plugins: cannot import module {text!r} ({err}); install it or give the path "
                          "of a .py file.") from err
    except Exception as err:
        raise ConfigError(f"plugins: importing {text!r} failed: {type(err).__name__}: {err}") from err
    _LOADED[text] = module
    logger.info("plugin %s imported", text)
    return module


def load_plugins(specs: Iterable[str], base_dir: Path | None = None, *, source: str = "<pipeline>") -> list[types.ModuleType]:
    """Import every plugin of a pipeline file (each once per process)."""
    out = []
    for spec in specs:
        try:
            out.append(import_plugin(spec, base_dir))
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from err
    return out


def plugin_fingerprint(specs: Iterable[str], base_dir: Path | None = None) -> str:
    """sha256 over the source of the plugins (so cached results change when a plugin changes)."""
    h = hashlib.sha256()
    for spec in specs:
        module = import_plugin(spec, base_dir)
        h.update(str(spec).encode())
        origin = getattr(module, "__file__", None)
        if origin and Path(origin).is_file():
            h.update(Path(origin).read_bytes())
    return h.hexdigest()


def load_entry_points(group: str) -> None:
    """Import the plugins that installed packages declare under the entry-point ``group`` (once)."""
    if group in _ENTRY_POINTS_DONE:
        return
    _ENTRY_POINTS_DONE.add(group)
    from importlib.metadata import entry_points

    try:
        found = entry_points(group=group)
    except Exception:  # pragma: no cover - broken metadata
        logger.warning("reading the %s entry points failed", group, exc_info=True)
        return
    for ep in found:
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, types.ModuleType):
                obj()
        except Exception as err:
            logger.warning("the %s plugin %r (%s) failed to load: %s: %s", group, ep.name, ep.value,
                           type(err).__name__, err)
