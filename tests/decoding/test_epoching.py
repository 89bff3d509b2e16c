"""Default epoch windows by event duration, and already-epoched inputs."""

from __future__ import annotations

import numpy as np
import pytest

from neurodecode.datamodel import make_epochs
from neurodecode.decoding.epoching import default_window, epochs_from_recordings
from neurodecode.errors import BadInputError


def test_default_window_by_event_duration():
    kind, tmin, tmax, band, baseline, why = default_window([4.1, 4.2, 4.1])
    assert (kind, tmin, tmax, band, baseline) == ("sustained", 0.5, 2.5, (7.0, 30.0), None)
    assert "sustained" in why and "0.5..2.5 s" in why
    kind, tmin, tmax, band, baseline, _ = default_window([0.0, 0.0])
    assert (kind, tmin, tmax, band, baseline) == ("transient", -0.2, 0.8, (1.0, 30.0), (None, 0.0))
    assert default_window([1.5, 1.5])[2] == 1.5  # clipped to the shortest event


def test_epochs_pass_through_with_label_selection_and_runs():
    a = make_epochs(np.zeros((4, 2, 5)), 10.0, ["a", "b"], 0.0, metadata={"label": ["x", "y", "z", "x"]}, run="r1")
    b = make_epochs(np.ones((3, 2, 5)), 10.0, ["a", "b"], 0.0, metadata={"label": ["x", "y", "x"]})
    ep = epochs_from_recordings([a, b], ["x", "y"])
    assert ep.sizes["trial"] == 6 and list(ep["run"].values) == ["r1"] * 3 + ["2"] * 3
    with pytest.raises(BadInputError, match="no recordings"):
        epochs_from_recordings([])
