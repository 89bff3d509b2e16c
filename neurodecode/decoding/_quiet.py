"""MNE estimators that keep MNE's per-fit log lines out of the terminal (imported only when used)."""

from __future__ import annotations

from typing import Any

import mne
from mne.decoding import CSP


class QuietCSP(CSP):
    """:class:`mne.decoding.CSP` whose ``fit`` logs at MNE's warning level only."""

    def fit(self, X: Any, y: Any) -> QuietCSP:
        with mne.utils.use_log_level("warning"):
            return super().fit(X, y)
