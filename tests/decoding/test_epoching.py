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


def test_runs_without_the_labels_are_left_out_and_same_named_runs_are_told_apart(data_home):
    """A run whose events are all rest (T0) holds neither T1 nor T2: it is left out and named; recordings whose run
    names repeat (run 1 of two subjects) get their subject in the run name."""
    from tests.conftest import require_data

    from neurodecode.decoding.epoching import _run_names, epochs_from_recordings
    from neurodecode.errors import BadInputError
    from neurodecode.loaders.eeg import read_eeg

    folder = require_data(data_home / "eegmmidb_s001", "eegmmidb_s001")
    recs = [read_eeg(folder / f"S001R{r:02d}.edf") for r in (4, 6)]
    rest = recs[0].copy(deep=True)
    rest["label"] = ("event", np.full(rest.sizes["event"], "T0", dtype=object))  # a run of rest events only
    ep = epochs_from_recordings([rest, recs[1]], ["T1", "T2"])
    assert set(ep["run"].values) == {"S001R06"}
    assert len(ep.attrs["skipped_runs"]) == 1 and ep.attrs["skipped_runs"][0].startswith("S001R04 (labels ['T0'])")
    with pytest.raises(BadInputError, match=r"\['T3'\] occur in none of the recordings; labels found"):
        epochs_from_recordings([rest, recs[1]], ["T1", "T3"])  # a typo is not a run lacking a label
    a, b = recs[1].copy(), recs[1].copy()
    a.attrs.update(subject="1", run="1")
    b.attrs.update(subject="2", run="1")
    assert _run_names([a, b]) == ["sub-1/run-1", "sub-2/run-1"]
    with pytest.raises(BadInputError, match="listed twice"):
        _run_names([a, a.copy()])


def test_block_and_spike_samples_refuse_bad_input():
    from neurodecode.datamodel import make_binned_spikes, make_bold
    from neurodecode.decoding.epoching import block_samples

    rng = np.random.default_rng(0)
    ijk = np.stack([np.arange(5), np.zeros(5, int), np.zeros(5, int)], axis=1)
    bold = make_bold(rng.standard_normal((40, 5)), 2.0, ijk=ijk, shape=(5, 1, 1), affine=np.eye(4))
    bold = bold.assign_coords(run=("time", np.repeat([1, 2], 20)))
    with pytest.raises(BadInputError, match="no per-volume 'label'"):
        epochs_from_recordings(bold)
    labelled = bold.assign_coords(label=("time", np.tile(np.repeat(["face", "rest"], 5), 4)))
    with pytest.raises(BadInputError, match=r"\['house'\] not in the bold; its labels are \['face', 'rest'\]"):
        block_samples(labelled, ["face", "house"])
    spikes = make_binned_spikes(rng.poisson(1.0, (50, 3)), 0.05)
    with pytest.raises(BadInputError, match="--target"):
        epochs_from_recordings(spikes, ["vel_x"])
