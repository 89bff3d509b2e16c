"""cross_validate: same folds and scores as scikit-learn, permutation null within groups, errors."""

from __future__ import annotations

import numpy as np
import pytest

from neurodecode import decoding
from neurodecode.datamodel import make_epochs, make_responses
from neurodecode.errors import BadInputError
from neurodecode.train.splits import LeakError


def _epochs(n=60, n_ch=4, n_t=20, runs=3, effect=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.tile(["a", "b"], n // 2)
    X = rng.standard_normal((n, n_ch, n_t))
    X[y == "b", 0, 5:15] += effect
    run = np.repeat(np.arange(1, runs + 1), n // runs).astype(str)
    return make_epochs(X, 100.0, [f"c{i}" for i in range(n_ch)], -0.1, metadata={"label": y, "run": run})


def test_scores_equal_sklearn_on_the_same_folds():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import LeaveOneGroupOut

    ep = _epochs()
    res = decoding.cross_validate(ep, "label", ["lda"], cv="run", n_perm=0)
    assert res["score"].dims == ("model", "fold") and res.sizes["fold"] == 3
    X = ep.values.reshape(len(ep), -1)  # 4 x 20 = 80 features <= 512: no time binning
    y = (ep["label"].values == "b").astype(int)
    expected = []
    for tr, te in LeaveOneGroupOut().split(X, y, ep["run"].values):
        m = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(X[tr], y[tr])
        expected.append(roc_auc_score(y[te], m.decision_function(X[te])))
    np.testing.assert_allclose(res["score"].sel(model="lda").values, expected, rtol=1e-10)
    assert float(res["chance"].sel(model="lda")) == 0.5
    assert list(res["test_group"].values) == ["run=1", "run=2", "run=3"]


def test_int_cv_is_stratified_kfold_and_sklearn_estimators_are_accepted():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    ep = _epochs(runs=1)
    est = make_pipeline(FunctionTransformer(lambda X: X.reshape(len(X), -1)), LogisticRegression(C=0.1))
    res = decoding.cross_validate(ep, "label", {"mine": est}, cv=4, scoring="accuracy", n_perm=0, seed=3)
    y = (ep["label"].values == "b").astype(int)
    ref = cross_val_score(est, ep.values, y, cv=StratifiedKFold(4, shuffle=True, random_state=3), scoring="accuracy")
    np.testing.assert_allclose(res["score"].sel(model="mine").values, ref)
    # a coord with one value falls back to stratified 5-fold and says so
    res1 = decoding.cross_validate(ep, "label", ["logreg"], cv="run", n_perm=0)
    assert res1.sizes["fold"] == 5 and "single value" in res1.attrs["cv"]


def test_permutation_null_and_p_value():
    ep = _epochs(effect=1.5)
    res = decoding.cross_validate(ep, "label", ["lda"], cv="run", n_perm=9, seed=1)
    null = res["null"].sel(model="lda").values
    assert null.shape == (9,) and abs(null.mean() - 0.5) < 0.15
    assert float(res["p_value"].sel(model="lda")) == pytest.approx(1 / 10)  # the real effect beats every shuffle
    from neurodecode.decoding._data import permuted

    groups = np.repeat([0, 1, 2], 4)
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0])
    p = permuted(y, groups, np.random.default_rng(0))
    for g in range(3):  # labels move only within their group
        assert sorted(p[groups == g]) == sorted(y[groups == g])


def test_regression_responses_and_multiclass():
    rng = np.random.default_rng(0)
    target = rng.standard_normal(80)
    X = rng.standard_normal((80, 10)) + target[:, None] * np.linspace(0, 1, 10)
    resp = make_responses(X, dim="trial", trial_coords={"speed": target})
    res = decoding.cross_validate(resp, "speed", ["ridge", "pca_knn"], cv=5, n_perm=0)
    assert res.attrs["task"] == "regression" and res.attrs["scoring"] == "r2"
    assert float(res["score"].sel(model="ridge").mean()) > 0.5
    ep = _epochs(n=90, runs=3)
    ep = ep.assign_coords(label=("trial", np.tile(["a", "b", "c"], 30)))
    res = decoding.cross_validate(ep, "label", ["lda"], cv="run", n_perm=0)
    assert res.attrs["scoring"] == "balanced_accuracy" and float(res["chance"][0]) == pytest.approx(1 / 3)


def test_errors_name_what_is_wrong():
    ep = _epochs()
    with pytest.raises(BadInputError, match="Registered estimators"):
        decoding.cross_validate(ep, "label", ["ldaa"], n_perm=0)
    with pytest.raises(BadInputError, match="label coord 'condition' not found"):
        decoding.cross_validate(ep, "condition", ["lda"], n_perm=0)
    with pytest.raises(BadInputError, match="not a coord"):
        decoding.cross_validate(ep, "label", ["lda"], cv="session", n_perm=0)
    bad = ep.copy()
    bad.values[3, 0, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        decoding.cross_validate(bad, "label", ["lda"], n_perm=0)
    with pytest.raises(BadInputError, match="does not do regression"):
        decoding.cross_validate(ep, np.linspace(0, 1, len(ep)), ["lda"], cv=3, n_perm=0, task="regression")


def test_every_fold_goes_through_the_leak_guard():
    from sklearn.model_selection import KFold

    ep = _epochs(runs=1)
    # two windows per trial: a plain k-fold puts windows of one trial on both sides
    ep = ep.assign_coords(trial_id=("trial", np.repeat(np.arange(30), 2)))
    with pytest.raises(LeakError, match="trial id"):
        decoding.cross_validate(ep, "label", ["lda"], cv=KFold(7), n_perm=0)
    res = decoding.cross_validate(ep, "label", ["lda"], cv=5, n_perm=0)  # int cv keeps trials together
    assert res.sizes["fold"] == 5


def test_registry_has_the_field_baselines_and_rejects_duplicates():
    names = decoding.list_estimators()
    for n in ("logreg", "lda", "bde_logreg", "xdawn_ts", "csp_lda", "svm_anova", "ridge", "pca_knn"):
        assert n in names
    with pytest.raises(BadInputError, match="already registered"):
        decoding.register_estimator("lda")(lambda ctx: None)


def test_a_constant_continuous_target_is_an_error():
    ep = _epochs()
    ep = ep.assign_coords(vel_z=("trial", np.zeros(ep.sizes["trial"])), vel_x=("trial", np.linspace(0, 1, 60)))
    with pytest.raises(BadInputError, match=r"\['vel_z'\] is constant"):
        decoding.cross_validate(ep, ["vel_x", "vel_z"], ["ridge"], cv=3, n_perm=0)
    with pytest.raises(BadInputError, match="is constant"):
        decoding.cross_validate(ep, "vel_z", ["ridge"], cv=3, n_perm=0, task="regression")
