"""The ``device`` argument of the analysis functions: ``"auto"`` (the default; ``None`` the same).

``"auto"`` is the device of a torch input when there is one, else CUDA when it is available, else
the CPU, as everywhere in neurodecode (``docs/conventions.md``). The result is a device *name*
(``"cpu"``, ``"cuda"``, ``"cuda:1"``) so the compiled CPU paths (numba) can test it as a string.
"""

from __future__ import annotations

from typing import Any

__all__ = ["resolve"]


def resolve(device: Any = "auto", like: Any = None) -> str:
    """The device name ``device`` stands for (see the module docstring).

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"``/None, or a torch device name.
    like : optional
        An input: a torch tensor's device is used for ``"auto"``.
    """
    if device is not None and str(device) != "auto":
        from ..train.trainer import resolve_device

        return str(resolve_device(device))  # checks that a CUDA device exists
    device_of = getattr(like, "device", None)
    if device_of is not None and type(like).__module__.startswith("torch"):
        return str(device_of)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
