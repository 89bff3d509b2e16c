"""Tests of neurodecode.train.splits: leak-free evaluation splits."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurodecode.errors import BadInputError
from neurodecode.train.splits import (
    ByRun,
    BySession,
    BySubject,
    ByTrial,
    ContiguousBlocks,
    LeakError,
    check_no_leak,
)


def _responses(n_subjects=2, n_runs=3, n_trials=8, n_feat=4, seed=0):
    """(trial, feature) DataArray with subject/run/trial_id coords and a learnable label."""
    rng = np.random.default_rng(seed)
    subj, run, tid, y = [], [], [], []
    for s in range(n_subjects):
        for r in range(n_runs):
            for t in range(n_trials):
                subj.append(f"s{s}")
                run.append(r + 1)
                tid.append(f"s{s}-r{r + 1}-t{t}")
                y.append(t % 2)
    y = np.asarray(y)
    X = rng.normal(size=(len(y), n_feat)) + y[:, None] * 1.5
    return xr.DataArray(
        X,
        dims=("trial", "feature"),
        coords={"subject": ("trial", subj), "run": ("trial", run), "trial_id": ("trial", tid),
                "label": ("trial", y)},
    )


def _sliding_windows(n_trials=6, length=1.0, step=0.5, trial_dur=3.0):
    """Overlapping windows cut from continuous trials; window_start/stop in seconds."""
    tid, start = [], []
    for t in range(n_trials):
        t0 = t * 10.0
        for s in np.arange(t0, t0 + trial_dur - length + 1e-9, step):
            tid.append(t)
            start.append(s)
    start = np.asarray(start)
    return xr.DataArray(
        np.zeros((len(start), 2)),
        dims=("window", "feature"),
        coords={"trial_id": ("window", tid), "window_start": ("window", start),
                "window_stop": ("window", start + length)},
    )


def _assert_partition(folds, n):
    for train, test in folds:
        assert len(np.intersect1d(train, test)) == 0
        assert len(test) > 0 and len(train) > 0


def test_leave_one_run_out_one_fold_per_run():
    X = _responses(n_subjects=1, n_runs=4)
    folds = list(ByRun().split(X))
    assert len(folds) == 4 == ByRun().get_n_splits(X)
    runs = X["run"].values
    tested = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tested), np.arange(X.sizes["trial"]))  # complete
    for train, test in folds:
        assert len(set(runs[test])) == 1
        assert runs[test][0] not in set(runs[train])
        assert len(train) + len(test) == X.sizes["trial"]
    _assert_partition(folds, X.sizes["trial"])


def test_by_subject_and_session_and_numpy_groups():
    X = _responses(n_subjects=3)
    folds = list(BySubject().split(X))
    assert len(folds) == 3
    for train, test in folds:
        assert not set(X["subject"].values[train]) & set(X["subject"].values[test])
    # plain numpy + groups=, sklearn style
    folds_np = list(BySubject().split(X.values, groups=X["subject"].values))
    assert [t.tolist() for _, t in folds_np] == [t.tolist() for _, t in folds]
    Xs = X.assign_coords(session=("trial", X["run"].values % 2))
    assert BySession().get_n_splits(Xs) == 2


def test_within_subject_leave_one_run_out():
    X = _responses(n_subjects=2, n_runs=3)
    folds = list(ByRun(within="subject").split(X))
    assert len(folds) == 6
    subj, run = X["subject"].values, X["run"].values
    for train, test in folds:
        (s,) = set(subj[test])
        (r,) = set(run[test])
        assert set(subj[train]) == {s}
        assert r not in set(run[train])
        assert len(train) == 2 * 8


def test_combined_coords_key():
    X = _responses(n_subjects=2, n_runs=2)
    assert ByRun(coord=("subject", "run")).get_n_splits(X) == 4


def test_missing_coord_and_single_group_errors():
    X = _responses(n_subjects=1)
    with pytest.raises(BadInputError, match=r"'session'.*coords present.*'run'"):
        list(BySession().split(X))
    with pytest.raises(BadInputError, match="single value"):
        list(BySubject().split(X))
    with pytest.raises(BadInputError, match="groups"):
        list(ByRun().split(np.zeros((5, 2))))
    with pytest.raises(BadInputError, match="lower n_splits"):
        list(ByTrial(coord="run", n_splits=5).split(X))


def test_deliberately_leaky_split_raises():
    W = _sliding_windows()
    tid = W["trial_id"].values
    # windows of trial 0 on both sides
    w0 = np.flatnonzero(tid == 0)
    train = np.concatenate([w0[:2], np.flatnonzero(tid == 1)])
    test = w0[2:]
    with pytest.raises(LeakError, match=r"trial id.*\[0\]"):
        check_no_leak(train, test, obj=W)
    # same split without trial ids: the overlapping time spans are caught
    W2 = W.drop_vars("trial_id")
    with pytest.raises(LeakError, match=r"overlap test windows.*\[0\.5, 1\.5\)"):
        check_no_leak(train, test, obj=W2)
    # times + window length instead of coords
    with pytest.raises(LeakError, match="overlap"):
        check_no_leak(train, test, times=W["window_start"].values, window=1.0)
    with pytest.raises(LeakError, match="both train and test"):
        check_no_leak([0, 1, 2], [2, 3])
    # a clean split passes: trial 0 vs trial 1, windows do not overlap
    check_no_leak(w0, np.flatnonzero(tid == 1), obj=W)


def test_touching_windows_are_not_overlap_and_streams_separate():
    starts = np.array([0.0, 1.0, 0.0, 1.0])
    run = np.array([1, 1, 2, 2])
    # [0,1) and [1,2) touch but do not overlap
    check_no_leak([0], [1], times=starts, window=1.0)
    # same times in different runs are different recordings: no leak
    check_no_leak([0, 1], [2, 3], times=starts, window=1.0, stream=run)
    with pytest.raises(LeakError, match=r"in recording 2 overlap"):
        check_no_leak([0, 3], [2], times=starts, window=1.5, stream=run)


def test_by_trial_keeps_sliding_windows_of_a_trial_together():
    W = _sliding_windows(n_trials=6)
    tid = W["trial_id"].values
    for shuffle in (False, True):
        cv = ByTrial(n_splits=3, shuffle=shuffle, seed=0)
        folds = list(cv.split(W))
        assert len(folds) == 3 == cv.get_n_splits(W)
        tested = np.sort(np.concatenate([te for _, te in folds]))
        assert np.array_equal(tested, np.arange(W.sizes["window"]))
        for train, test in folds:
            assert not set(tid[train]) & set(tid[test])
            assert len(train) + len(test) == W.sizes["window"]


def test_contiguous_blocks_gap_removes_right_samples():
    X = np.arange(20)[:, None].astype(float)
    folds = list(ContiguousBlocks(n_splits=4, gap=2).split(X))
    assert len(folds) == 4
    expected_tests = [np.arange(0, 5), np.arange(5, 10), np.arange(10, 15), np.arange(15, 20)]
    for (train, test), exp in zip(folds, expected_tests):
        assert np.array_equal(test, exp)
        removed = set(range(20)) - set(train) - set(test)
        want = {i for i in range(exp[0] - 2, exp[-1] + 3) if 0 <= i < 20} - set(exp)
        assert removed == want
    # no gap: train is the complement
    for train, test in ContiguousBlocks(n_splits=4).split(X):
        assert len(train) + len(test) == 20


def test_contiguous_blocks_on_xarray_windows_needs_a_gap():
    # sliding windows along time: length 4 samples, step 1 -> overlap unless gap >= 3
    n = 40
    start = np.arange(n, dtype=float)
    W = xr.DataArray(np.zeros((n, 2)), dims=("time", "unit"),
                     coords={"window_start": ("time", start), "window_stop": ("time", start + 4)})
    with pytest.raises(LeakError, match="gap"):
        list(ContiguousBlocks(n_splits=4, gap=0).split(W))
    assert len(list(ContiguousBlocks(n_splits=4, gap=3).split(W))) == 4
    with pytest.raises(BadInputError, match="dim 'time' not in"):
        list(ContiguousBlocks().split(W.rename(time="t")))


def test_sklearn_cross_val_score_accepts_splitters():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    X = _responses(n_subjects=2, n_runs=3)
    y = X["label"].values
    clf = LogisticRegression()
    for cv in (ByRun(within="subject"), BySubject(), ByTrial(coord="trial_id", n_splits=4),
               ContiguousBlocks(n_splits=3, dim="trial")):
        scores = cross_val_score(clf, X, y, cv=cv)  # grouping read from the xarray coords
        assert len(scores) == cv.get_n_splits(X)
        assert scores.mean() > 0.7
    scores = cross_val_score(clf, X.values, y, groups=X["run"].values, cv=ByRun())
    assert len(scores) == 3
    assert "ByTrial(coord='trial_id'" in repr(ByTrial())


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def muse_epochs(data_home):
    from neurodecode import datasets
    from neurodecode.preprocess import eeg

    runs = datasets.load("muse_n170", subject=1)
    parts = []
    for rec in runs:
        ep = eeg.epoch(rec, -0.1, 0.6)
        parts.append(ep.assign_coords(run=("trial", np.full(ep.sizes["trial"], rec.attrs["run"]))))
    ep = xr.concat(parts, dim="trial", coords="minimal", compat="override", join="override")
    return ep.assign_coords(trial=np.arange(ep.sizes["trial"])), [r.attrs["file"] for r in runs]


def test_muse_leave_one_run_out(muse_epochs):
    ep, files = muse_epochs
    assert len(set(files)) == 6  # six distinct run files on disk
    run = ep["run"].values
    folds = list(ByRun().split(ep))
    assert len(folds) == 6
    assert sorted({run[te][0] for _, te in folds}) == sorted(set(run))
    for train, test in folds:
        assert len(set(run[test])) == 1
        assert not set(run[train]) & set(run[test])
        assert len(train) + len(test) == ep.sizes["trial"]


def test_make_windows_from_epochs_and_bytrial():
    from neurodecode.datamodel import make_epochs, validate
    from neurodecode.train.splits import make_windows

    sf = 10.0
    data = np.arange(3 * 2 * 30, dtype=float).reshape(3, 2, 30)
    ep = make_epochs(data, sf, ["a", "b"], 0.0,
                     metadata={"onset": [0.0, 5.0, 100.0], "label": ["x", "y", "x"]})
    W = make_windows(ep, length=1.0, step=0.5)
    validate(W, "epochs")
    # 30 samples, 10-sample windows every 5 samples -> 5 windows per trial
    assert W.sizes["trial"] == 15 and W.sizes["time"] == 10
    assert np.array_equal(W.values[6], data[1, :, 5:15])  # trial 1, window 1
    assert np.allclose(W["window_start"].values[5:10], 5.0 + np.arange(5) * 0.5)
    assert list(W["label"].values[:6]) == ["x"] * 5 + ["y"]
    assert W.attrs["windows_report"] == []
    # trials span 0-3 s, 5-8 s and 100-103 s: ByTrial folds pass the guard and keep each
    # trial's windows together
    folds = list(ByTrial(n_splits=3).split(W))
    for train, test in folds:
        assert not set(W["trial_id"].values[train]) & set(W["trial_id"].values[test])
    # a window-level shuffled split leaks and is refused
    with pytest.raises(LeakError):
        check_no_leak(np.arange(0, 15, 2), np.arange(1, 15, 2), obj=W)
    with pytest.raises(BadInputError, match="longer than the data"):
        make_windows(ep, length=5.0, step=1.0)


def test_make_windows_from_recording_with_contiguous_blocks():
    from neurodecode.datamodel import make_recording
    from neurodecode.train.splits import make_windows

    rec = make_recording(np.random.default_rng(0).normal(size=(2, 108)), 10.0, ["a", "b"], run=3)
    W = make_windows(rec, length=1.0, step=0.5)  # 10-sample windows, hop 5 -> 20 windows
    assert W.sizes["trial"] == 20
    assert set(W["run"].values) == {3}
    assert "last 3 sample(s)" in W.attrs["windows_report"][0]
    with pytest.raises(LeakError, match="gap"):  # neighbouring windows share samples
        list(ContiguousBlocks(n_splits=4, dim="trial").split(W))
    assert len(list(ContiguousBlocks(n_splits=4, gap=1, dim="trial").split(W))) == 4


def test_overlap_check_matches_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(2, 12))
        starts = np.round(rng.uniform(0, 10, n), 1)
        win = np.round(rng.uniform(0.1, 2, n), 1)
        perm = rng.permutation(n)
        k = int(rng.integers(1, n))
        tr, te = perm[:k], perm[k:]
        brute = any(starts[i] < starts[j] + win[j] and starts[j] < starts[i] + win[i]
                    for i in tr for j in te)
        if brute:
            with pytest.raises(LeakError):
                check_no_leak(tr, te, times=starts, window=win)
        else:
            check_no_leak(tr, te, times=starts, window=win)
