"""Shared fixtures. Real recordings live in the data home named by NEURODECODE_DATA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

_DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _data_home() -> Path | None:
    env = os.environ.get("NEURODECODE_DATA")
    path = Path(env) if env else _DEFAULT
    return path if path.is_dir() else None


def require_data(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; otherwise fail under CI (which must run on the real data) or skip."""
    if path.exists():
        return path
    message = f"{what} is not in the data home ({path}); put the shared data folder in NEURODECODE_DATA"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def data_home() -> Path:
    """The folder holding the real recordings (NEURODECODE_DATA, default ../shared/data)."""
    path = _data_home()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("NEURODECODE_DATA is not set or does not exist; CI must run on the real data.")
        pytest.skip("real data not available: set NEURODECODE_DATA to the shared data folder")
    os.environ["NEURODECODE_DATA"] = str(path)
    return path
