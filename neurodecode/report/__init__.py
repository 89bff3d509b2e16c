"""Self-contained HTML reports of pipeline runs (figures via matplotlib Agg, imported lazily)."""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {"render_report": "html", "write_report": "html", "auto_figures": "figures", "to_png_base64": "figures",
          "write_derivatives": "bids", "read_derivatives": "bids", "check_derivatives": "bids"}

__all__ = sorted(_NAMES) + ["bids", "figures", "html"]


def __getattr__(name: str) -> Any:
    if name in ("bids", "figures", "html"):
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
