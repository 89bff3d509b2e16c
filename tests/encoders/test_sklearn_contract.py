"""The scikit-learn contract of EncoderClassifier, EncoderRegressor and SpikeContrastiveDecoder.

The estimators take 3-D input (n, channels, times); scikit-learn's checks use 2-D X, so a thin
wrapper reshapes (n, f) to (n, f, 1) before calling the real methods. The full check_estimator
results are recorded in docs/guarantees.md; here the checks of the contract run one by one.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as ec

from neurodecode.encoders.estimators import EncoderClassifier, EncoderRegressor
from neurodecode.encoders.spike import SpikeContrastiveDecoder
from neurodecode.errors import BadInputError

SMALL = {"hidden": 8, "out_dim": 4, "kernel": 1}


def _flat(X):
    import scipy.sparse

    if scipy.sparse.issparse(X):
        return X
    X = np.asarray(X)
    return X.reshape(len(X), X.shape[1], 1) if X.ndim == 2 else X


class Clf2D(EncoderClassifier):
    def fit(self, X, y):
        return super().fit(_flat(X), y)

    def predict(self, X):
        return super().predict(_flat(X))

    def predict_proba(self, X):
        return super().predict_proba(_flat(X))

    def decision_function(self, X):
        return super().decision_function(_flat(X))

    def transform(self, X):
        return super().transform(_flat(X))


class Reg2D(EncoderRegressor):
    def fit(self, X, y):
        return super().fit(_flat(X), y)

    def predict(self, X):
        return super().predict(_flat(X))

    def transform(self, X):
        return super().transform(_flat(X))


class Spike2D(SpikeContrastiveDecoder):
    def fit(self, X, y):
        return super().fit(_flat(X), y)

    def predict(self, X):
        return super().predict(_flat(X))

    def transform(self, X):
        return super().transform(_flat(X))


def _clf():
    return Clf2D("spike_contrastive", sfreq=1.0, max_epochs=2, patience=None, encoder_params=SMALL)


def _reg():
    return Reg2D("spike_contrastive", sfreq=1.0, max_epochs=2, patience=None, encoder_params=SMALL)


def _spike():
    return Spike2D(max_epochs=1, batch_size=16, hidden=8, out_dim=4, kernel=1, n_neighbors=5, sqrt=False)


# the checks of the contract (each fits a tiny model once or twice; the whole suite is in docs/guarantees.md)
CHECKS = ["check_no_attributes_set_in_init", "check_parameters_default_constructible", "check_estimators_unfitted",
          "check_n_features_in_after_fitting", "check_estimators_overwrite_params", "check_requires_y_none",
          "check_estimator_sparse_array", "check_complex_data", "check_fit2d_predict1d"]


@pytest.mark.parametrize("make", [_clf, _reg, _spike], ids=["classifier", "regressor", "spike_decoder"])
@pytest.mark.parametrize("check", CHECKS)
def test_sklearn_checks(make, check):
    est = make()
    getattr(ec, check)(type(est).__name__, est)


def test_classifier_specific_checks():
    ec.check_classifiers_regression_target("Clf2D", _clf())
    ec.check_classifiers_one_label("Clf2D", _clf())
    ec.check_dtype_object("Clf2D", _clf())


@pytest.mark.parametrize("make", [_clf, _reg, _spike])
def test_not_fitted_and_clone(make):
    est = make()
    X = np.random.default_rng(0).normal(size=(6, 3))
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(BadInputError):  # also a neurodecode error with the fix in the message
        est.predict(X)
    copy = clone(est)
    assert copy.get_params() == est.get_params() and copy is not est


def test_classifier_refuses_a_continuous_target():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2, 8)).astype(np.float32)
    y = rng.normal(size=60)  # 60 distinct values: this used to train a 60-class model
    clf = EncoderClassifier("spike_contrastive", sfreq=1.0, max_epochs=1, encoder_params=SMALL)
    with pytest.raises(BadInputError, match="looks continuous.*EncoderRegressor"):
        clf.fit(X, y)
    clf.fit(X, (y > 0).astype(float))  # 0.0 / 1.0 labels are classes
    assert clf.n_features_in_ == 16 and list(clf.classes_) == [0.0, 1.0]
