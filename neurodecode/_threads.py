"""One way to run a block of torch work on a set number of CPU threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import BadInputError

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(n: int | None, name: str = "threads") -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous number.

    Small networks on a shared CPU spend more time synchronising threads than computing (measured
    3-20x slower with 2 threads than 1 on the busy 2-core VM), so the pipelines ask for one thread
    per op. ``None`` leaves torch's setting alone; nothing changes outside the block.
    ``name`` is the parameter named in the error for a bad ``n``.
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise BadInputError(f"{name} must be a positive integer or None (null in YAML), got {n!r}.")
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
