"""Griffe extension of the docs site: Sphinx roles in docstrings (``:func:`x```) shown as code (``x``)."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc|const|ref|term|doc):`~?([^`<]+?)(?:\s*<[^>]+>)?`")


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` to ```target``` in every docstring."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:  # noqa: D102 - griffe hook
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(lambda m: f"`{m.group(1).lstrip('.')}`", obj.docstring.value)
