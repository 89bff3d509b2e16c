"""Leak-guard holes closed (issue 12, section 3): each test failed before the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neurodecode.datamodel import make_epochs
from neurodecode.train.splits import ByTrial, LeakError, LeakWarning, check_no_leak, make_windows


def _overlapping_epochs():
    # events every 0.3 s, epochs -0.1..0.6 s long: neighbouring epochs share 0.4 s of signal
    n = 20
    X = np.random.default_rng(0).standard_normal((n, 2, 71))
    return make_epochs(X, 100.0, ["a", "b"], -0.1,
                       metadata={"onset": 10.0 + 0.3 * np.arange(n), "label": np.tile(["x", "y"], n // 2),
                                 "run": ["1"] * n})


def test_spans_come_from_onset_and_the_epoch_window():
    ep = _overlapping_epochs()
    with pytest.raises(LeakError, match="overlap test windows"):
        check_no_leak(np.arange(0, 20, 2), np.arange(1, 20, 2), obj=ep)
    # every trial is its own group, so a trial-wise split used to pass; the spans catch it now
    with pytest.raises(LeakError):
        list(ByTrial(coord="trial", n_splits=5).split(ep))
    # epochs of different runs never overlap, whatever their clock
    ep2 = ep.assign_coords(run=("trial", np.repeat(["1", "2"], 10)))
    check_no_leak(np.arange(10), np.arange(10, 20), obj=ep2)


def test_windows_of_epochs_without_onsets_are_relative_to_their_own_epoch():
    X = np.random.default_rng(1).standard_normal((6, 2, 100))
    ep = make_epochs(X, 100.0, ["a", "b"], 0.0, metadata={"label": list("xyxyxy")})
    W = make_windows(ep, length=0.4, step=0.2)  # 4 windows per epoch, spans 0..1 s in every epoch
    tid = W["trial_id"].values
    # split by source epoch: no shared signal, so no leak (a false positive before)
    check_no_leak(np.flatnonzero(tid < 3), np.flatnonzero(tid >= 3), obj=W)
    # windows of one epoch on both sides are still refused
    with pytest.raises(LeakError):
        check_no_leak(np.arange(1, len(tid)), np.array([0]), obj=W, groups=np.arange(len(tid)))


def test_windowed_numpy_without_spans_and_short_windows_warn():
    with pytest.warns(LeakWarning, match="cannot be checked"):
        list(ByTrial(n_splits=3).split(np.zeros((6, 2)), groups=[0, 0, 1, 1, 2, 2]))
    ep = make_epochs(np.zeros((2, 1, 100)), 100.0, ["a"], 0.0)
    with pytest.warns(LeakWarning, match="shorter than its hop"):
        make_windows(ep, length=0.1, step=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_no_leak([0, 1], [2, 3], groups=[0, 0, 1, 1])  # groups alone (e.g. runs) do not warn


@pytest.mark.realdata
def test_make_windows_on_the_pipeline_epochs(data_home):
    from tests.conftest import require_data

    from neurodecode.loaders.eeg import read_eeg
    from neurodecode.preprocess.eeg import epoch

    path = require_data(data_home / "eegmmidb_s001" / "S001R04.edf", "eegmmidb_s001")
    ep = epoch(read_eeg(path, run=4), 0.0, 2.0, event_labels=["T1", "T2"], baseline=None)
    W = make_windows(ep, length=1.0, step=0.5)  # TypeError (tmin given twice) before
    assert W.sizes["trial"] == 3 * ep.sizes["trial"] and W.attrs["source_tmin"] == 0.0
    np.testing.assert_allclose(W["window_start"].values[:3], ep["onset"].values[0] + np.array([0.0, 0.5, 1.0]))
    tid = W["trial_id"].values
    check_no_leak(np.flatnonzero(tid % 2 == 0), np.flatnonzero(tid % 2 == 1), obj=W)
