"""fMRI preprocessing tests: synthetic ground truth, and the Haxby 2001 decoding pipeline on real data."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from tests.conftest import require_data
import xarray as xr
from scipy import stats

from neurodecode.datamodel import make_bold, validate
from neurodecode.errors import BadInputError, DataModelError
from neurodecode.preprocess.fmri import block_responses, clean, concat_runs, glm_betas, trial_responses


def _bold(data, tr=2.0, run=None, labels=None, events=None, **coords):
    n_t, n_v = data.shape
    ijk = np.c_[np.arange(n_v), np.zeros(n_v, int), np.zeros(n_v, int)]
    b = make_bold(data, tr, ijk=ijk, affine=np.eye(4), shape=(n_v, 1, 1), run=run)
    extra = {k: ("time", v) for k, v in coords.items()}
    if run is not None:
        extra["run"] = ("time", np.full(n_t, run))
    if labels is not None:
        extra["label"] = ("time", np.asarray(labels, dtype=object))
    if events is not None:
        b.attrs["events"] = {k: list(v) for k, v in events.items()}
    return b.assign_coords(extra)


def _unchanged(func, obj, *args, **kwargs):
    """Call func and check it left its input alone."""
    before = copy.deepcopy(obj)
    out = func(obj, *args, **kwargs)
    for now, then in zip(obj if isinstance(obj, list) else [obj], before if isinstance(before, list) else [before]):
        xr.testing.assert_identical(now, then)
    return out


# --------------------------------------------------------------------------- clean


def test_clean_per_run_detrend_and_zscore():
    rng = np.random.default_rng(0)
    n = 60
    t = np.arange(n)
    runs = []
    for r, (offset, slope) in enumerate([(100.0, 0.5), (-40.0, -2.0)], start=1):
        data = offset + slope * t[:, None] + rng.normal(size=(n, 3)) * np.array([1.0, 5.0, 0.1])
        runs.append(_bold(data, run=r))
    bold = concat_runs(runs)
    out = _unchanged(clean, bold)
    validate(out, "bold")
    assert out.dims == bold.dims and out.shape == bold.shape
    xr.testing.assert_identical(out["run"], bold["run"])
    for r in (1, 2):
        seg = out.values[bold["run"].values == r]
        np.testing.assert_allclose(seg.mean(axis=0), 0, atol=1e-6)
        np.testing.assert_allclose(seg.std(axis=0, ddof=1), 1, rtol=1e-5)
        for v in range(3):  # trend removed within the run
            assert abs(np.corrcoef(seg[:, v], t)[0, 1]) < 1e-5
    assert out.attrs["cleaning"]["runs"] == 2
    # as one run the offsets between runs stay in: not z-scored per run
    whole = clean(bold, runs=None, detrend=False)
    assert abs(whole.values[bold["run"].values == 1].mean()) > 0.5


def test_clean_regresses_confounds():
    rng = np.random.default_rng(1)
    n = 100
    conf = rng.normal(size=n)
    data = 3.0 * conf[:, None] + 0.1 * rng.normal(size=(n, 4))
    bold = _bold(data, confound_motion=conf)
    for confounds in (True, ["motion"], conf[:, None]):
        out = clean(bold, confounds=confounds, standardize=None, detrend=False)
        for v in range(4):
            assert abs(np.corrcoef(out.values[:, v], conf)[0, 1]) < 1e-6
        assert out.values.std() < 0.2
    with pytest.raises(BadInputError, match="confound"):
        clean(_bold(data), confounds=True)
    with pytest.raises(BadInputError, match=r"\(time=100"):
        clean(bold, confounds=np.zeros((50, 1)))


def test_clean_bad_input():
    bold = _bold(np.random.default_rng(2).normal(size=(20, 2)))
    with pytest.raises(BadInputError, match="no coord 'session'"):
        clean(bold, runs="session")
    with pytest.raises(BadInputError, match="standardize"):
        clean(bold, standardize="minmax")
    bad = bold.copy(data=bold.values.copy())
    bad.values[3, 1] = np.nan
    with pytest.raises(DataModelError, match="NaN"):
        clean(bad)
    with pytest.raises(BadInputError, match="fewer than 2"):
        clean(bold, runs=np.r_[np.zeros(19), 1])


def test_clean_high_pass_removes_slow_drift():
    n, tr = 200, 2.0
    t = np.arange(n) * tr
    slow = np.sin(2 * np.pi * 0.002 * t)
    fast = np.sin(2 * np.pi * 0.1 * t)
    out = clean(_bold(np.c_[slow + fast], tr=tr), high_pass=0.01, detrend=False, standardize=None)
    assert abs(np.corrcoef(out.values[:, 0], fast)[0, 1]) > 0.95
    assert abs(np.corrcoef(out.values[:, 0], slow)[0, 1]) < 0.1


# --------------------------------------------------------------------------- concat_runs


def test_concat_runs_time_and_events():
    a = _bold(np.ones((5, 3)), tr=2.0, run=1, labels=["rest", "x", "x", "rest", "rest"],
              events={"onset": [2.0], "duration": [4.0], "trial_type": ["x"]})
    b = _bold(2 * np.ones((4, 3)), tr=2.0, run=2, labels=["y", "rest", "rest", "rest"],
              events={"onset": [0.0], "duration": [2.0], "trial_type": ["y"]})
    out = _unchanged(concat_runs, [a, b])
    validate(out, "bold")
    np.testing.assert_allclose(out["time"].values, np.arange(9) * 2.0)
    np.testing.assert_allclose(out["run_time"].values, np.r_[np.arange(5), np.arange(4)] * 2.0)
    assert out["run"].values.tolist() == [1] * 5 + [2] * 4
    assert out["label"].values.tolist() == a["label"].values.tolist() + b["label"].values.tolist()
    assert out.attrs["events"] == {"onset": [2.0, 10.0], "duration": [4.0, 2.0], "trial_type": ["x", "y"], "run": [1, 2]}
    assert out.attrs["runs"] == [1, 2]
    np.testing.assert_array_equal(out["i"].values, a["i"].values)
    # labels given explicitly, inputs without run coords
    plain = concat_runs([_bold(np.ones((3, 2))), _bold(np.ones((3, 2)))], runs=["r1", "r2"])
    assert plain["run"].values.tolist() == ["r1"] * 3 + ["r2"] * 3
    # the same voxels under other voxel labels (e.g. after isel) still line up by i/j/k
    wide = _bold(np.ones((3, 4)), run="w").isel(voxel=[0, 1])
    narrow = _bold(np.ones((3, 4)), run="n").isel(voxel=[0, 1]).assign_coords(voxel=[10, 11])
    assert concat_runs([narrow, wide]).sizes["voxel"] == 2
    # a concatenation can be concatenated again
    more = concat_runs([out, _bold(np.ones((2, 3)), tr=2.0, run=3, labels=["x", "x"])])
    assert more["run"].values.tolist() == [1] * 5 + [2] * 4 + [3] * 2
    assert more.attrs["runs"] == [1, 2, 3]
    np.testing.assert_allclose(more["time"].values, np.arange(11) * 2.0)


def test_concat_runs_refuses_mismatch_and_duplicates():
    a = _bold(np.ones((5, 3)), run=1)
    with pytest.raises(BadInputError, match="voxel grid"):
        concat_runs([a, _bold(np.ones((5, 4)), run=2)])
    with pytest.raises(BadInputError, match="TR"):
        concat_runs([a, _bold(np.ones((5, 3)), tr=3.0, run=2)])
    with pytest.raises(BadInputError, match="given twice"):
        concat_runs([a, a])
    with pytest.raises(BadInputError, match="time coords"):
        concat_runs([a, _bold(np.ones((5, 3)), run=2, labels=["x"] * 5)])
    with pytest.raises(BadInputError, match="empty"):
        concat_runs([])
    twin = a.assign_coords(run=("time", np.full(5, 2)))
    a2 = a.copy()
    a2.attrs["sha256"] = twin.attrs["sha256"] = "abc"
    with pytest.raises(BadInputError, match="same file"):
        concat_runs([a2, twin])


# --------------------------------------------------------------------------- block_responses


def test_block_responses_recover_patterns():
    """Each label drives a fixed pattern 2 volumes (5 s at TR 2.5 s) after it is shown."""
    rng = np.random.default_rng(3)
    patterns = {"a": rng.normal(size=4), "b": rng.normal(size=4)}
    runs = []
    for r, order in enumerate([["a", "b"], ["b", "a"]], start=1):
        labels = ["rest"] * 3 + [order[0]] * 4 + ["rest"] * 3 + [order[1]] * 4 + ["rest"] * 4
        delayed = ["rest", "rest"] + labels[:-2]
        data = np.stack([patterns.get(lab, np.zeros(4)) for lab in delayed]) + 100.0 * r
        data[2:][np.array(delayed[2:]) == "rest"] = 100.0 * r
        runs.append(_bold(data, tr=2.5, run=r, labels=labels))
    bold = concat_runs(runs)
    resp = _unchanged(block_responses, bold, shift=5.0)
    validate(resp, "responses")
    assert resp.dims == ("trial", "neuroid")
    assert resp["label"].values.tolist() == ["a", "b", "b", "a"]
    assert resp["run"].values.tolist() == [1, 1, 2, 2]
    assert resp["n_volumes"].values.tolist() == [4, 4, 4, 4]
    # onsets: the label's first volume on the concatenated clock
    np.testing.assert_allclose(resp["onset"].values, [7.5, 25.0, 45.0 + 7.5, 45.0 + 25.0])
    for n, lab in enumerate(resp["label"].values):
        r = resp["run"].values[n]
        np.testing.assert_allclose(resp.values[n], patterns[lab] + 100.0 * r)
    np.testing.assert_array_equal(resp["i"].values, np.arange(4))
    assert resp.attrs["shift"] == 5.0 and resp.attrs["method"] == "block_mean"
    # without the shift the blocks straddle the response: not the patterns
    assert not np.allclose(block_responses(bold, shift=0.0).values[0], patterns["a"] + 100.0)


def test_block_responses_bad_input():
    bold = _bold(np.ones((6, 2)), tr=2.0, labels=["rest"] * 6)
    with pytest.raises(BadInputError, match="no block left"):
        block_responses(bold, shift=0)
    with pytest.raises(BadInputError, match="label coord"):
        block_responses(_bold(np.ones((6, 2))))
    with pytest.raises(BadInputError, match="shift"):
        block_responses(bold, shift=-1)
    lab = _bold(np.ones((6, 2)), tr=2.0, labels=["x"] * 6)
    with pytest.warns(UserWarning, match="multiple of the TR"):
        out = block_responses(lab, shift=3.0)
    assert out.attrs["shift"] == 4.0
    short = block_responses(_bold(np.ones((6, 2)), labels=["x", "rest", "y", "y", "y", "rest"]), shift=0, min_volumes=2)
    assert short["label"].values.tolist() == ["y"]
    assert short.attrs["dropped_blocks"][0]["label"] == "x"


# --------------------------------------------------------------------------- GLM


def _spm_hrf(dt):
    t = np.arange(0, 32, dt)
    h = stats.gamma.pdf(t, 6) - stats.gamma.pdf(t, 16) / 6.0
    return h / (h.sum() * dt)  # unit area: a long block plateaus at 1


def _simulate(events, n_vols, tr, amplitude, n_vox, rng, dt=0.05):
    """Own forward model: boxcars convolved with the SPM HRF at fine resolution."""
    t_hr = np.arange(0, n_vols * tr + 32, dt)
    signal = np.zeros((t_hr.size, n_vox))
    for onset, duration, amp in zip(events["onset"], events["duration"], amplitude):
        box = ((t_hr >= onset) & (t_hr < onset + duration)).astype(float)
        signal += np.convolve(box, _spm_hrf(dt))[: t_hr.size, None] * dt * amp[None, :]
    frames = np.round(np.arange(n_vols) * tr / dt).astype(int)
    drift = np.linspace(-1, 1, n_vols)[:, None] * rng.normal(size=n_vox)
    return signal[frames] + 50.0 + drift + 0.01 * rng.normal(size=(n_vols, n_vox))


def test_glm_betas_recover_known_betas():
    rng = np.random.default_rng(4)
    tr, n_vols, n_vox = 2.0, 150, 5
    true = {"face": rng.normal(size=n_vox) * 2, "house": rng.normal(size=n_vox) * 2}
    runs = []
    for r, order in enumerate([["face", "house"] * 3, ["house", "face"] * 3], start=1):
        ev = {"onset": [10.0 + 45.0 * k for k in range(6)], "duration": [16.0] * 6, "trial_type": order}
        data = _simulate(ev, n_vols, tr, [true[c] * (1 + 0.1 * r) for c in order], n_vox, rng)
        runs.append(_bold(data, tr=tr, run=r, events=ev))
    bold = concat_runs(runs)
    resp, designs = _unchanged(glm_betas, bold, hrf_model="spm", drift_model="polynomial", return_design=True)
    validate(resp, "responses")
    assert resp["label"].values.tolist() == ["face", "house", "house", "face"]
    assert resp["run"].values.tolist() == [1, 1, 2, 2]
    assert resp["n_events"].values.tolist() == [3, 3, 3, 3]
    np.testing.assert_allclose(resp["onset"].values, [10.0, 55.0, 300.0 + 10.0, 300.0 + 55.0])
    for n in range(4):
        expected = true[resp["label"].values[n]] * (1 + 0.1 * resp["run"].values[n])
        np.testing.assert_allclose(resp.values[n], expected, rtol=0.03, atol=0.02)
    assert len(designs) == 2 and "face" in designs[0].columns
    # per-run event tables with run-relative onsets give the same betas
    tables = [pd.DataFrame(b.attrs["events"]) for b in runs]
    again = glm_betas(bold, tables, hrf_model="spm", drift_model="polynomial")
    np.testing.assert_allclose(again.values, resp.values, rtol=1e-10)
    # t statistics: large where the betas are large
    t = glm_betas(bold, hrf_model="spm", drift_model="polynomial", stat="t")
    assert np.all(np.sign(t.values) == np.sign(resp.values))


def test_glm_trial_mode_recovers_each_event():
    rng = np.random.default_rng(5)
    tr, n_vols, n_vox = 2.0, 120, 3
    ev = {"onset": [10.0, 60.0, 110.0, 160.0], "duration": [12.0] * 4, "trial_type": ["a", "b", "a", "b"]}
    amps = [rng.normal(size=n_vox) for _ in range(4)]
    bold = _bold(_simulate(ev, n_vols, tr, amps, n_vox, rng), tr=tr, events=ev)
    resp = trial_responses(bold, method="glm", hrf_model="spm", drift_model="polynomial")
    assert resp.sizes["trial"] == 4
    assert resp["label"].values.tolist() == ["a", "b", "a", "b"]
    np.testing.assert_allclose(resp["onset"].values, ev["onset"])
    np.testing.assert_allclose(resp.values, np.stack(amps), rtol=0.03, atol=0.02)


def test_glm_bad_input():
    bold = _bold(np.random.default_rng(6).normal(size=(30, 2)), tr=2.0)
    with pytest.raises(BadInputError, match="no events"):
        glm_betas(bold)
    with pytest.raises(BadInputError, match="outside the run"):
        glm_betas(bold, {"onset": [100.0], "duration": [2.0], "trial_type": ["x"]})
    with pytest.raises(BadInputError, match="trial_type"):
        glm_betas(bold, {"onset": [1.0], "duration": [2.0]})
    with pytest.raises(BadInputError, match="mode"):
        glm_betas(bold, {"onset": [1.0], "duration": [2.0], "trial_type": ["x"]}, mode="lss")
    with pytest.raises(BadInputError, match="method"):
        trial_responses(bold, method="fir")


# --------------------------------------------------------------------------- real data: Haxby 2001


@pytest.fixture(scope="module")
def haxby_runs(data_home):
    from neurodecode.loaders.fmri import read_bold

    root = require_data(data_home / "haxby2001" / "sub001" / "BOLD", "haxby2001")
    return [
        read_bold(root / f"task001_run{r:03d}" / "bold_1slice.nii.gz", root / f"task001_run{r:03d}" / "bold_events.tsv", run=r)
        for r in range(1, 13)
    ]


@pytest.mark.realdata
def test_haxby_block_decoding(haxby_runs):
    """SOURCE.txt pipeline: 1-slice data, top 60% mean-intensity voxels, z-scored per run,
    block means shifted 5 s, LinearSVC leave-one-run-out (reported 0.71, chance 0.125)."""
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
    from sklearn.svm import LinearSVC

    with pytest.raises(BadInputError, match="same file"):
        concat_runs([haxby_runs[0], haxby_runs[0]])
    bold = concat_runs(haxby_runs)
    assert bold.sizes["time"] == 12 * 121
    mean = bold.mean("time").values
    bold = bold.isel(voxel=mean > np.quantile(mean, 0.4))
    assert bold.sizes["voxel"] == 480
    resp = block_responses(clean(bold, detrend=False, standardize="zscore"), shift=5.0)
    assert resp.shape == (96, 480)
    for r in range(1, 13):  # one block of each category per run, in the TSV's order
        tsv = pd.read_csv(haxby_runs[r - 1].attrs["source"].replace("bold_1slice.nii.gz", "bold_events.tsv"), sep="\t")
        assert resp["label"].values[resp["run"].values == r].tolist() == tsv["trial_type"].tolist()
    assert set(resp["n_volumes"].values.tolist()) == {9}
    acc = cross_val_score(
        LinearSVC(), resp.values, resp["label"].values.astype(str), groups=resp["run"].values, cv=LeaveOneGroupOut()
    ).mean()
    assert acc > 0.5, acc
    assert acc == pytest.approx(0.71, abs=0.1)


@pytest.mark.realdata
def test_haxby_glm_decoding(haxby_runs):
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
    from sklearn.svm import LinearSVC

    bold = concat_runs(haxby_runs[:12])
    mean = bold.mean("time").values
    bold = clean(bold.isel(voxel=mean > np.quantile(mean, 0.4)), detrend=False)
    betas = glm_betas(bold)
    assert betas.shape == (96, 480)
    acc = cross_val_score(
        LinearSVC(), betas.values, betas["label"].values.astype(str), groups=betas["run"].values, cv=LeaveOneGroupOut()
    ).mean()
    assert acc > 0.5, acc
