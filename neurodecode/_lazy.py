"""The one mechanism for lazy public names of the neurodecode packages (``lazy_loader``).

Each package lists its sub-modules and the public names it re-exports from them; nothing is
imported until a name is first used, so ``import neurodecode`` stays light. ``__all__`` and
``dir()`` list every public name; ``tests/test_api.py`` checks that each of them resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(package: str, *, submodules: Iterable[str] = (), names: Mapping[str, str] | None = None
           ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    submodules : iterable of str
        Sub-modules importable as attributes (``neurodecode.report.figures``).
    names : dict
        Public name -> the sub-module (relative to ``package``) that defines it.
    """
    import lazy_loader

    by_module: dict[str, list[str]] = {}
    for name, module in (names or {}).items():
        by_module.setdefault(module, []).append(name)
    return lazy_loader.attach(package, submodules=list(submodules), submod_attrs=by_module)
