"""Renamed parameters keep working for one release, with a FutureWarning naming the new name."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renamed_params", "warn_renamed"]

F = TypeVar("F", bound=Callable[..., Any])


def warn_renamed(where: str, old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` (a parameter of ``where``) is now called ``new``."""
    warnings.warn(f"{where}: the parameter {old!r} is now called {new!r}; {old!r} will stop working in the "
                  "next release.", FutureWarning, stacklevel=stacklevel)


def renamed_params(**renames: str) -> Callable[[F], F]:
    """Decorator: accept the old keyword names ``renames = {old: new}`` with a FutureWarning.

    Passing both the old and the new name is an error (:class:`TypeError`, as for any duplicated
    argument).
    """

    def decorate(fn: F) -> F:
        where = getattr(fn, "__qualname__", getattr(fn, "__name__", "function"))

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{where}() got both {old!r} (the old name) and {new!r}; pass {new!r}.")
                    warn_renamed(where, old, new)
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        wrapper.__renamed_params__ = dict(renames)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
