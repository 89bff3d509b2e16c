"""Griffe extension of the docs site: Sphinx roles in docstrings (``:func:`x```) shown as code (``x``), and the
shared parameter descriptions (``%(device)s``, see ``neurodecode._docs``) filled in as at run time."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc|const|ref|term|doc):`~?([^`<]+?)(?:\s*<[^>]+>)?`")


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` to ```target``` in every docstring."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:  # noqa: D102 - griffe hook
        if obj.docstring is not None:
            value = obj.docstring.value
            if "%(" in value:
                from neurodecode._docs import fill_doc

                holder = type("Holder", (), {"__doc__": value})
                value = fill_doc(holder).__doc__
            obj.docstring.value = ROLE.sub(lambda m: f"`{m.group(1).lstrip('.')}`", value)
