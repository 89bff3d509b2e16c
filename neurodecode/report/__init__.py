"""Self-contained HTML reports of pipeline runs (figures via matplotlib Agg, imported lazily)."""

from __future__ import annotations

from .._lazy import attach

_NAMES = {"render_report": "html", "write_report": "html", "auto_figures": "figures", "to_png_base64": "figures",
          "render_figure": "figures", "write_figure_files": "figures",
          "write_derivatives": "bids", "read_derivatives": "bids", "check_derivatives": "bids"}

__getattr__, __dir__, __all__ = attach(
    __name__, submodules=("bids", "figures", "html", "rsa_figures", "style"), names=_NAMES)
