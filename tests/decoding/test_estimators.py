"""Estimator configurations with settings, the contiguous inner-CV ridge, multi-output targets and dict CVs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurodecode import decoding
from neurodecode.decoding.estimators import EstimatorContext, RidgeBlockCV, is_permutable, make_estimator
from neurodecode.errors import BadInputError


def test_ridge_block_cv_equals_sklearn_ridge_on_the_same_folds():
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 15)) * rng.uniform(0.5, 3, 15) + rng.normal(size=15)
    Y = X[:, :3] @ rng.normal(size=(3, 2)) + rng.normal(size=(200, 2))
    alphas = [0.1, 10.0, 1000.0]
    est = RidgeBlockCV(alphas, 4).fit(X, Y)
    ref = [np.mean([r2_score(Y[te], Ridge(alpha=a).fit(X[tr], Y[tr]).predict(X[te]))
                    for tr, te in KFold(4).split(X)]) for a in alphas]
    np.testing.assert_allclose(est.cv_scores_, ref, rtol=1e-9)
    assert est.alpha_ == alphas[int(np.argmax(ref))]
    np.testing.assert_allclose(est.predict(X), Ridge(alpha=est.alpha_).fit(X, Y).predict(X), rtol=1e-8)
    assert RidgeBlockCV(alphas, 4).fit(X, Y[:, 0]).predict(X).shape == (200,)


def test_settings_are_checked_and_deep_models_not_permuted():
    ctx = EstimatorContext(task="classification", sfreq=100.0, shape=(4, 50), times=tuple(np.arange(50) / 100))
    est = make_estimator({"estimator": "svm_anova", "k": 10, "C": 0.5}, ctx)
    assert est.steps[-1][1].C == 0.5 and est.steps[-2][1].k == 10
    with pytest.raises(BadInputError, match="unknown setting"):
        make_estimator({"estimator": "svm_anova", "kk": 10}, ctx)
    with pytest.raises(BadInputError, match="needs a key 'estimator'"):
        make_estimator({"k": 10}, ctx)
    assert not is_permutable({"estimator": "rbtransformer", "max_epochs": 2}) and is_permutable("lda")
    assert make_estimator({"estimator": "rbtransformer", "max_epochs": 2}, ctx).max_epochs == 2


def _epochs(seed=0):
    rng = np.random.default_rng(seed)
    n = 120
    y = np.tile(["a", "b"], n // 2)
    X = rng.normal(size=(n, 3, 40))
    X[y == "b", 0, 20:30] += 1.0
    return xr.DataArray(X, dims=("trial", "channel", "time"),
                        coords={"time": np.arange(40) / 100 - 0.1, "label": ("trial", y),
                                "subject": ("trial", np.repeat(["s1", "s2", "s3"], 40)),
                                "run": ("trial", np.tile(np.repeat(["1", "2", "3", "4"], 10), 3))},
                        attrs={"sfreq": 100.0})


def test_last_bins_flat_and_windowed_keep_the_last_time_points():
    from neurodecode.decoding.estimators import LastBins, _LastBinsWindows, estimator_params

    X = np.random.default_rng(0).poisson(2.0, size=(5, 3, 8))  # binned spike counts (sample, unit, lag)
    for n in (1, 3, 8):
        win = _LastBinsWindows(n).fit(X).transform(X)
        assert win.dtype == np.float32 and win.shape == (5, 3, n)
        np.testing.assert_array_equal(win, X[:, :, 8 - n:])
        flat = LastBins(n).fit(X).transform(X)
        assert flat.dtype == np.float64 and flat.flags.c_contiguous
        np.testing.assert_array_equal(flat, X[:, :, 8 - n:].reshape(5, -1))
    np.testing.assert_array_equal(_LastBinsWindows().transform(X), X)
    for bad in (0, 9):
        with pytest.raises(BadInputError, match="n_times must be in 1..8"):
            _LastBinsWindows(bad).transform(X)
        with pytest.raises(BadInputError, match="n_lags must be in 1..8"):
            LastBins(bad).transform(X)
    params = estimator_params("ridge")
    assert params == ["n_lags", "alphas", "inner_cv"] and estimator_params("spike_contrastive") is None
    params.append("x")  # a copy: the cached signature is not changed
    assert estimator_params("ridge") == ["n_lags", "alphas", "inner_cv"]


def test_within_subject_leave_one_run_out_and_erp_logreg():
    ep = _epochs()
    ep = ep.isel(trial=np.flatnonzero(~((ep["subject"] == "s3") & (ep["run"] != "1"))))  # s3: one run
    res = decoding.cross_validate(ep, "label", {"erp": {"estimator": "erp_logreg", "decim": 5, "Cs": [0.1, 1.0]}},
                                  cv={"group": "run", "within": "subject", "min_groups": 3}, n_perm=0)
    assert list(res["test_group"].values) == [f"{s}:{r}" for s in ("s1", "s2") for r in "1234"]
    assert "left out" in res.attrs["cv"] and "s3" in res.attrs["cv"]
    assert (res["n_train"].values == 30).all() and res["score"].mean() > 0.7


def test_multi_output_target_and_contiguous_blocks():
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(1)
    n = 300
    X = rng.normal(size=(n, 5))
    Y = X[:, :2] @ np.array([[1.0, 0.5], [0.0, 2.0]]) + 0.3 * rng.normal(size=(n, 2))
    obj = xr.DataArray(X, dims=("sample", "feature"), coords={"vx": ("sample", Y[:, 0]), "vy": ("sample", Y[:, 1])})
    res = decoding.cross_validate(obj, ["vx", "vy"], {"ols": LinearRegression()}, cv={"blocks": 5, "gap": 3},
                                  n_perm=2)
    assert res["prediction"].dims == ("model", "sample", "target") and res.attrs["task"] == "regression"
    for f in range(5):
        te = np.arange(f * 60, (f + 1) * 60)
        tr = np.setdiff1d(np.arange(n), np.arange(max(te[0] - 3, 0), min(te[-1] + 4, n)))
        assert res["n_train"].values[f] == len(tr)
        expected = r2_score(Y[te], LinearRegression().fit(X[tr], Y[tr]).predict(X[te]))
        assert float(res["score"].values[0, f]) == pytest.approx(expected)
    assert float(res["chance"].values[0]) == 0.0 and np.isfinite(res["null"].values).all()


def test_csp_lda_reg_setting_equals_mne_regularised_csp():
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    from neurodecode import decoding
    from neurodecode.datamodel import make_epochs

    rng = np.random.default_rng(3)
    y = np.tile(["a", "b"], 30)
    X = rng.standard_normal((60, 6, 100))
    X[y == "b", 1] *= 1.6  # class b: more variance on one channel
    ep = make_epochs(X, 100.0, [f"c{i}" for i in range(6)], 0.0, metadata={"label": y})
    res = decoding.cross_validate(ep, "label", {"csp": {"estimator": "csp_lda", "reg": "ledoit_wolf"}}, cv=5,
                                  n_perm=0, seed=2)
    ref = cross_val_score(make_pipeline(CSP(4, reg="ledoit_wolf", log=True, norm_trace=False),
                                        LinearDiscriminantAnalysis()), X, (y == "b").astype(int),
                          cv=StratifiedKFold(5, shuffle=True, random_state=2), scoring="roc_auc")
    np.testing.assert_allclose(res["score"].sel(model="csp").values, ref)
