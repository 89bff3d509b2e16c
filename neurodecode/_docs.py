"""One description per recurring parameter (``docdict``), filled into docstrings with :func:`fill_doc`.

A docstring writes ``%(device)s`` on its own line, indented like the other entries of its
``Parameters`` section; :func:`fill_doc` replaces it with the shared text, re-indented. So one
concept is documented one way everywhere (the names are listed in docs/conventions.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

__all__ = ["docdict", "fill_doc"]

F = TypeVar("F", bound=Callable)

docdict: dict[str, str] = {
    "device": """device : str or None
    Where torch computes: ``"auto"`` (the default; ``None`` means the same) picks CUDA when it is
    available, else the CPU; or a torch device name such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
    A CUDA device that is not available is an error, not a silent fall-back.""",
    "seed": """seed : int
    Seed of every random draw of this call (numpy and torch): the same seed gives the same result.
    Functions and pipeline ops call it ``seed``; scikit-learn-compatible estimators call it
    ``random_state``, as scikit-learn does.""",
    "random_state": """random_state : int, numpy random generator or None
    Seed of every random draw of ``fit`` (weights, batches, validation split): an int gives the same
    fit every time, None a fresh seed per ``fit`` (scikit-learn's name on estimators; functions call
    it ``seed``).""",
    "threads": """threads : int or None
    Torch CPU threads while this runs (restored afterwards); ``None`` leaves torch's setting. Small
    networks on a busy CPU are often fastest on one thread.""",
    "progress": """progress : bool or None
    Show a progress bar (tqdm); ``None`` shows it only on a terminal.""",
    "max_epochs": """max_epochs : int
    Upper bound on the passes over the training data (early stopping may end sooner).""",
    "method_rdm": """method : str
    How a dissimilarity is computed (``"correlation"``, ``"euclidean"``, ``"cosine"``, ...; the
    registry of :mod:`neurodecode.analysis` lists them).""",
    "method_compare": """method : str
    How two RDMs are compared (``"spearman"``, ``"pearson"``, ``"kendall_tau_a"``, ``"cosine"``, ...;
    the registry of :mod:`neurodecode.analysis` lists them).""",
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<key>\w+)\)s[ \t]*$", re.M)


def fill_doc(obj: F) -> F:
    """Replace each ``%(name)s`` line of ``obj.__doc__`` with ``docdict[name]``, indented to match.

    Raises
    ------
    KeyError
        A placeholder names no entry of :data:`docdict` (caught when the module is imported).
    """
    doc = obj.__doc__
    if not doc:
        return obj

    def repl(match: re.Match) -> str:
        key = match.group("key")
        if key not in docdict:
            raise KeyError(f"{getattr(obj, '__qualname__', obj)}: no shared description for %({key})s; "
                           f"known: {sorted(docdict)}")
        indent = match.group("indent")
        return "\n".join(indent + line if line else line for line in docdict[key].splitlines())

    obj.__doc__ = _PLACEHOLDER.sub(repl, doc)
    return obj
