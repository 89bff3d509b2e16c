"""Unlabelled pretraining samples in cross-validation: each fold gets its training groups' samples only,
and the fMRI run windows that feed BrainMAE are the bold's own volumes."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.base import BaseEstimator, ClassifierMixin

from neurodecode import decoding
from neurodecode.datamodel import make_epochs
from neurodecode.decoding.blocks import run_windows
from neurodecode.errors import BadInputError


class _Recorder(ClassifierMixin, BaseEstimator):
    """Majority-class classifier that keeps the unlabelled samples it was given."""

    def fit(self, X, y, X_pretrain=None):
        self.classes_, counts = np.unique(y, return_counts=True)
        self.pretrain_ = X_pretrain
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def _labelled(runs=("r1", "r2", "r3", "r4"), per_run=8, subjects=None):
    n = len(runs) * per_run
    X = np.random.default_rng(0).standard_normal((n, 3, 10))
    meta = {"label": np.tile(["a", "b"], n // 2), "run": np.repeat(runs, per_run)}
    if subjects is not None:
        meta["subject"] = np.repeat(subjects, per_run)
    return make_epochs(X, 100.0, ["c0", "c1", "c2"], 0.0, metadata=meta)


def _unlabelled(runs, per_run=5, n_t=12, subjects=None):
    """Unlabelled samples whose every value is the index of their run (so a test can read it back)."""
    codes = np.repeat(np.arange(len(runs)), per_run)
    X = np.broadcast_to(codes[:, None, None].astype(float), (len(codes), 3, n_t)).copy()
    coords = {"run": ("trial", np.repeat(runs, per_run))}
    if subjects is not None:
        coords["subject"] = ("trial", np.repeat(subjects, per_run))
    return xr.DataArray(X, dims=("trial", "channel", "time"), coords=coords)


def test_each_fold_pretrains_on_its_training_runs_only():
    runs = ["r1", "r2", "r3", "r4"]
    ep = _labelled(runs)
    pre = _unlabelled(runs + ["r5"])  # r5: a run with no labelled trial, never in a training fold
    res = decoding.cross_validate(ep, "label", {"rec": _Recorder(), "lda": "lda"}, cv="run", n_perm=0,
                                  scoring="accuracy", pretrain=pre, return_estimators=True)
    assert res.attrs["pretrained_models"] == ["rec"]
    assert list(res["n_pretrain"].values) == [15, 15, 15, 15]
    for f, est in enumerate(res.attrs["estimators"]["rec"]):
        seen = sorted(set(est.pretrain_[:, 0, 0].astype(int).tolist()))
        assert seen == sorted(set(range(4)) - {f})  # every training run, never the test run (nor r5)
        assert est.pretrain_.shape[2] == 12  # the unlabelled samples may be longer than the trials
    table = decoding.scores_table(res)
    assert (table["n_pretrain"] == 15).all()


def test_nested_cv_keeps_the_within_group():
    runs = ["r1", "r2", "r1", "r2", "r3"]
    subj = ["s1", "s1", "s2", "s2", "s2"]
    ep = _labelled(runs, subjects=subj)
    pre = _unlabelled(runs, subjects=subj)
    res = decoding.cross_validate(ep, "label", {"rec": _Recorder()}, cv={"group": "run", "within": "subject"},
                                  n_perm=0, scoring="accuracy", pretrain=pre, return_estimators=True)
    # folds: s1 leaves r1 / r2 out, s2 leaves r1 / r2 / r3 out; pretraining from the same subject's other runs
    expected = [[1], [0], [3, 4], [2, 4], [2, 3]]
    got = [sorted(set(e.pretrain_[:, 0, 0].astype(int).tolist())) for e in res.attrs["estimators"]["rec"]]
    assert got == expected


def test_pretrain_errors_and_warning():
    ep = _labelled()
    pre = _unlabelled(["r1", "r2", "r3", "r4"])
    with pytest.raises(BadInputError, match="grouping coord"):
        decoding.cross_validate(ep, "label", {"rec": _Recorder()}, cv=4, n_perm=0, pretrain=pre)
    with pytest.raises(BadInputError, match="channel"):
        decoding.cross_validate(ep, "label", {"rec": _Recorder()}, cv="run", n_perm=0, pretrain=pre.isel(channel=[0]))
    with pytest.raises(BadInputError, match="no pretrain sample"):
        decoding.cross_validate(ep, "label", {"rec": _Recorder()}, cv="run", n_perm=0,
                                pretrain=_unlabelled(["x1", "x2"]))
    bad = pre.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(BadInputError, match="finite"):
        decoding.cross_validate(ep, "label", {"rec": _Recorder()}, cv="run", n_perm=0, pretrain=bad)
    with pytest.warns(UserWarning, match="unused"):
        decoding.cross_validate(ep, "label", ["lda"], cv="run", n_perm=0, pretrain=pre)


def _bold(n_runs=3, n_vol=20, n_vox=6, tr=2.0):
    rng = np.random.default_rng(1)
    values = rng.standard_normal((n_runs * n_vol, n_vox))
    t = np.tile(np.arange(n_vol) * tr, n_runs)  # each run's clock starts at 0
    return xr.DataArray(values, dims=("time", "voxel"),
                        coords={"time": t, "run": ("time", np.repeat(np.arange(1, n_runs + 1), n_vol)),
                                "i": ("voxel", np.arange(n_vox))}, attrs={"tr": tr})


def test_run_windows_are_the_runs_own_volumes():
    bold = _bold()
    win = run_windows(bold, n_volumes=8, step=3)
    per_run = len(range(0, 20 - 8 + 1, 3))  # 5 windows in each 20-volume run
    assert win.dims == ("trial", "voxel", "time") and win.sizes["trial"] == 3 * per_run
    assert win.sizes["time"] == 8 and win.attrs["sfreq"] == 0.5
    for k in range(win.sizes["trial"]):
        r = int(win["run"].values[k])
        start = int(round(float(win["onset"].values[k]) / 2.0))
        rows = np.flatnonzero(bold["run"].values == r)[start:start + 8]
        np.testing.assert_array_equal(win.values[k], bold.values[rows].T)  # one run's consecutive volumes
    np.testing.assert_allclose(win["window_stop"] - win["window_start"], 16.0)
    with pytest.raises(BadInputError, match="shorter than one window"):
        run_windows(bold, n_volumes=25)
    with pytest.raises(BadInputError, match=">= 1"):
        run_windows(bold, n_volumes=8, step=0)


def test_brainmae_pretrains_on_the_given_windows():
    from neurodecode.decoding.brainmae import BrainMAEClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 10, 9)).astype(np.float32)
    y = np.repeat([0, 1], 6)
    U = rng.standard_normal((30, 10, 8)).astype(np.float32)
    kw = dict(n_rois=3, window=8, pretrain_epochs=1, finetune_epochs=1, patience=None, batch_size=8,
              encoder_params=dict(segment_len=4, d_emb=4, d_model=8, n_heads=2, n_layers=1), device="cpu")
    est = BrainMAEClassifier(**kw).fit(X, y, X_pretrain=U)
    assert est.n_pretrain_windows_ == 30  # one 8-TR window per unlabelled sample (pretrain_step 1)
    assert BrainMAEClassifier(**kw).fit(X, y).n_pretrain_windows_ == 24  # two per 9-TR block without them
    with pytest.raises(BadInputError, match="X_pretrain"):
        BrainMAEClassifier(**kw).fit(X, y, X_pretrain=U[:, :, :5])
    scratch = BrainMAEClassifier(**{**kw, "pretrain_epochs": 0}).fit(X, y)  # the random-init control
    assert scratch.pretrain_history_ == [] and scratch.predict(X).shape == (12,)
    with pytest.raises(BadInputError, match="pretrain_epochs"):
        BrainMAEClassifier(**{**kw, "pretrain_epochs": -1}).fit(X, y)
    runs = np.repeat(["a", "b", "c", "d", "e", "f"], 2)  # early stopping holds out whole runs when given
    est = BrainMAEClassifier(**{**kw, "val_fraction": 0.3}).fit(X, y, groups=runs)
    held = set(runs[est.val_blocks_].tolist())
    assert held and all(set(np.flatnonzero(runs == r)) <= set(est.val_blocks_) for r in held)


def test_estimators_registered_with_fit_groups_get_the_training_runs():
    from neurodecode.decoding.estimators import ESTIMATORS, register_estimator, takes_groups

    seen = []

    class _Grouped(_Recorder):
        def fit(self, X, y, groups=None):
            seen.append(None if groups is None else sorted(set(groups.tolist())))
            return super().fit(X, y)

    register_estimator("_test_grouped", tasks=("classification",), fit_groups=True)(lambda ctx: _Grouped())
    try:
        ep = _labelled(["r1", "r2", "r3"])
        assert takes_groups("_test_grouped") and takes_groups({"estimator": "brainmae"})
        assert not takes_groups("rbtransformer") and not takes_groups(_Grouped())
        decoding.cross_validate(ep, "label", {"g": "_test_grouped", "raw": _Grouped()}, cv="run", n_perm=0,
                                scoring="accuracy")
        # registered with fit_groups: the fold's training runs; a plain estimator object: no groups
        assert seen == [["r2", "r3"], ["r1", "r3"], ["r1", "r2"], None, None, None]
        seen.clear()
        decoding.cross_validate(ep, "label", {"g": "_test_grouped"}, cv=3, n_perm=0, scoring="accuracy")
        assert seen == [None, None, None]  # k-fold has no groups to give
    finally:
        ESTIMATORS.pop("_test_grouped", None)
