"""trial_groups / sliding_by_group on real Muse N170 epochs (subjects 2, 10 and 11, 50..350 ms):
the groups and their trial counts against pandas, each subject's scores against scikit-learn's LDA and
ROC AUC fitted here per subject and fold, and the folds / subjects left out when a test fold holds
one class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurodecode import decoding
from neurodecode.errors import BadInputError
from tests.conftest import require_data

pytestmark = pytest.mark.realdata

SUBJECTS = ["2", "10", "11"]


@pytest.fixture(scope="module")
def muse(data_home) -> xr.DataArray:
    """Face/house epochs of subjects 2, 10, 11 (4 EEG channels, 1-30 Hz, 0.05..0.35 s), runs concatenated."""
    require_data(data_home / "muse_n170" / "subject11", "the Muse N170 recordings")
    from neurodecode import datasets
    from neurodecode.preprocess import eeg

    parts = []
    for rec in datasets.load("muse_n170", subject=[int(s) for s in SUBJECTS]):
        if set(rec["label"].values) >= {"face", "house"}:  # three short subject-10 runs hold one category
            rec = eeg.filter(rec, 1.0, 30.0)
            parts.append(eeg.epoch(rec, 0.05, 0.35, event_labels=["face", "house"], baseline=None, picks="eeg"))
    ep = xr.concat(parts, dim="trial", combine_attrs="drop_conflicts")
    return ep.assign_coords(trial=np.arange(ep.sizes["trial"])).transpose("trial", "channel", "time")


def _blocks(n: int, k: int, gap: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous test blocks with ``gap`` trials purged on each side (written here, not imported)."""
    idx = np.arange(n)
    return [(idx[(idx < b[0] - gap) | (idx > b[-1] + gap)], b) for b in np.array_split(idx, k)]


def _sklearn_scores(ep: xr.DataArray, folds, times_idx) -> np.ndarray:
    """(fold, time) ROC AUC of scikit-learn's shrinkage LDA; NaN where a test fold holds one class."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import roc_auc_score

    y = (np.asarray(ep["label"].values) == "house").astype(int)
    x = np.asarray(ep.values)
    out = np.full((len(folds), len(times_idx)), np.nan)
    for f, (tr, te) in enumerate(folds):
        if len(set(y[te])) < 2:
            continue
        for j, t in enumerate(times_idx):
            lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(x[tr, :, t], y[tr])
            out[f, j] = roc_auc_score(y[te], lda.decision_function(x[te, :, t]))
    return out


def test_trial_groups_counts_and_left_out_subject(muse):
    counts = pd.crosstab(np.asarray(muse["subject"].values), np.asarray(muse["label"].values))
    smallest = counts.min(axis=1)
    assert smallest["10"] < smallest["2"] and smallest["10"] < smallest["11"]
    min_trials = int(smallest["10"]) + 1  # subject 10 just short, the others kept
    kept, table = decoding.trial_groups(muse, "label", "subject", min_trials)
    assert list(kept) == ["2", "11"] and list(table["subject"]) == SUBJECTS
    for name, idx in kept.items():
        np.testing.assert_array_equal(idx, np.flatnonzero(muse["subject"].values == name))
    for r in table.itertuples():
        assert r.trials_per_label == {"face": counts.loc[r.subject, "face"], "house": counts.loc[r.subject, "house"]}
        assert r.n_trials == counts.loc[r.subject].sum()
    row = table.set_index("subject").loc["10"]
    assert not row["kept"] and str(min_trials) in row["reason"]
    # by=None: one group with every trial
    kept, table = decoding.trial_groups(muse, "label", None)
    assert list(kept) == ["all"] and kept["all"].size == muse.sizes["trial"] and list(table.columns)[0] == "group"
    with pytest.raises(BadInputError, match="no group has at least 100000 trials"):
        decoding.trial_groups(muse, "label", None, min_trials=100000)
    with pytest.raises(BadInputError, match=r"no coord 'subj'.*'subject'"):
        decoding.trial_groups(muse, "label", "subj")
    with pytest.raises(BadInputError, match="min_trials must be a whole number"):
        decoding.trial_groups(muse, "label", "subject", min_trials=-1)


def test_sliding_by_group_equals_sklearn_per_subject(muse):
    from neurodecode.train.splits import ContiguousBlocks

    cv = ContiguousBlocks(5, gap=2, dim="trial")
    min_trials = int(pd.crosstab(muse["subject"].values, muse["label"].values).loc["10"].min()) + 1
    res = decoding.sliding_by_group(muse, "label", "lda", cv=cv, by="subject", min_trials=min_trials,
                                    generalize=True)
    data, table = res.scores, res.groups
    assert list(data["subject"].values) == ["2", "11"]
    assert data["score"].dims == ("subject", "time") and data.attrs["scoring"] == "roc_auc"
    assert data.attrs["chance"] == 0.5 and list(table["n_folds"]) == [5, 0, 5]
    assert list(table["kept"]) == [True, False, True]
    times_idx = [0, 25, 40, 60]
    for name in ("2", "11"):
        sub = muse.isel(trial=np.flatnonzero(muse["subject"].values == name))
        ref = _sklearn_scores(sub, _blocks(sub.sizes["trial"], 5, 2), times_idx)
        assert np.isfinite(ref).all()
        np.testing.assert_allclose(data["fold_score"].sel(subject=name).values[:, times_idx], ref, atol=1e-6)
        np.testing.assert_allclose(data["score"].sel(subject=name).values[times_idx], ref.mean(axis=0), atol=1e-6)
        assert int(data["n_trials"].sel(subject=name)) == sub.sizes["trial"]
        # the same as sliding / generalizing run on this subject alone
        own = decoding.sliding(sub, "label", "lda", cv=cv)
        np.testing.assert_array_equal(data["score"].sel(subject=name).values, own.values.mean(axis=0))
        gen = data["generalization"].sel(subject=name).values
        np.testing.assert_allclose(np.diagonal(gen), data["score"].sel(subject=name).values, atol=1e-12)


def test_folds_and_subjects_without_both_classes_in_test_are_left_out(muse):
    """Leave-one-part-out where some parts hold one category: those folds (and a subject with only
    such parts) are left out; the rest equals scikit-learn on the folds with both classes."""
    sub = muse.isel(trial=np.flatnonzero(np.isin(muse["subject"].values, ["2", "11"])), time=slice(20, 44))
    subj = np.asarray(sub["subject"].values)
    lab = np.asarray(sub["label"].values)
    part = np.empty(sub.sizes["trial"], dtype=object)
    for s in ("2", "11"):
        for la in ("face", "house"):
            idx = np.flatnonzero((subj == s) & (lab == la))
            first, second = np.array_split(idx, 2)
            if s == "2":  # parts face-only, house-only, and a mixed one: 2 of 3 folds cannot be scored
                part[first] = la
                part[second] = "mixed"
            else:  # four parts of one category each: no fold can be scored
                part[first], part[second] = f"{la}1", f"{la}2"
    ep = sub.assign_coords(part=("trial", part))
    res = decoding.sliding_by_group(ep, "label", "lda", cv="part", by="subject")
    table = res.groups.set_index("subject")
    assert list(res.scores["subject"].values) == ["2"]
    assert table.loc["2", "n_folds"] == 3 and table.loc["2", "n_folds_scored"] == 1 and table.loc["2", "kept"]
    assert table.loc["11", "n_folds"] == 4 and table.loc["11", "n_folds_scored"] == 0
    assert not table.loc["11", "kept"] and "no fold could be scored" in table.loc["11", "reason"]
    one = ep.isel(trial=np.flatnonzero(subj == "2"))
    p = np.asarray(one["part"].values)
    names = sorted(set(p))
    folds = [(np.flatnonzero(p != n), np.flatnonzero(p == n)) for n in names]
    ref = _sklearn_scores(one, folds, list(range(one.sizes["time"])))
    scored = np.isfinite(ref).all(axis=1)
    assert scored.sum() == 1
    got = res.scores["fold_score"].sel(subject="2").values
    kept = np.isfinite(got).all(axis=1)
    assert kept.sum() == 1 and np.isnan(got[~kept]).all()
    np.testing.assert_allclose(got[kept], ref[scored], atol=1e-6)
    np.testing.assert_allclose(res.scores["score"].sel(subject="2").values, ref[scored][0], atol=1e-6)
    # only subject 11: nothing left to decode, and the error says why
    with pytest.raises(BadInputError, match="no subject could be decoded.*11"):
        decoding.sliding_by_group(ep.isel(trial=np.flatnonzero(subj == "11")), "label", cv="part")
