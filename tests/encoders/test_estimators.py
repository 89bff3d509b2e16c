"""Encoder base contract, config+weights persistence and the scikit-learn wrappers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from torch import nn

from neurodecode.encoders.base import BrainEncoder, load_encoder, make_head, register_encoder
from neurodecode.encoders.estimators import EncoderClassifier, EncoderRegressor, load_estimator
from neurodecode.errors import BadInputError


@register_encoder("_test_linear")
class _Linear(BrainEncoder):
    def __init__(self, n_channels, n_times, sfreq, n_outputs=0, d=8, pretrain_scale=1.0):
        super().__init__(n_channels, n_times, sfreq, n_outputs, d=d, pretrain_scale=pretrain_scale)
        self.embed_dim, self.pretrain_scale = d, pretrain_scale
        self.proj = nn.Linear(n_channels * n_times, d)
        self.decoder = nn.Linear(d, n_channels * n_times)
        self.head = make_head(d, n_outputs)

    def embed(self, x):
        return self.proj(self.check_input(x).flatten(1))

    def pretrain_loss(self, batch):  # an autoencoder objective
        x = batch[0]
        return nn.functional.mse_loss(self.decoder(self.embed(x)), x.flatten(1)) * self.pretrain_scale


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3, 12)).astype(np.float32)
    y = (X[:, 1, :6].mean(1) > 0).astype(int)
    return X, y


def test_base_validates_sizes_and_input_shape():
    with pytest.raises(BadInputError, match="n_channels"):
        _Linear(0, 10, 100.0)
    with pytest.raises(BadInputError, match="sfreq"):
        _Linear(3, 10, -1.0)
    m = _Linear(3, 12, 100.0, 2)
    with pytest.raises(BadInputError, match=r"\(batch, 3 channels, 12 times\)"):
        m(torch.zeros(4, 3, 11))


def test_save_load_round_trip_is_exact(tmp_path):
    m = _Linear(3, 12, 250.0, 2, d=5)
    m.save(tmp_path / "enc")
    cfg = json.loads((tmp_path / "enc" / "config.json").read_text())
    assert cfg["encoder"] == "_test_linear" and cfg["hparams"]["d"] == 5 and cfg["sfreq"] == 250.0
    m2 = load_encoder(tmp_path / "enc")
    x = torch.randn(7, 3, 12)
    assert type(m2) is _Linear
    torch.testing.assert_close(m(x), m2(x), rtol=0, atol=0)
    # weights are a plain state dict, readable with weights_only=True (no pickled objects)
    state = torch.load(tmp_path / "enc" / "weights.pt", weights_only=True)
    assert set(state) == set(m.state_dict())


def test_load_refuses_missing_or_truncated(tmp_path):
    with pytest.raises(BadInputError, match="config.json"):
        load_encoder(tmp_path / "nothing")
    _Linear(3, 12, 250.0, 2).save(tmp_path / "enc")
    data = (tmp_path / "enc" / "weights.pt").read_bytes()
    (tmp_path / "enc" / "weights.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="truncated or corrupt"):
        load_encoder(tmp_path / "enc")


def test_classifier_in_sklearn_cross_validation():
    X, y = _data()
    clf = EncoderClassifier("_test_linear", sfreq=100.0, max_epochs=40, lr=1e-2, patience=8)
    scores = cross_val_score(clf, X, y, cv=3, scoring="roc_auc")
    assert scores.mean() > 0.85  # the label is a linear function of the input
    assert clone(clf).get_params()["encoder"] == "_test_linear"


def test_classifier_predictions_and_persistence(tmp_path):
    X, y = _data()
    y_str = np.where(y == 1, "face", "house")
    clf = EncoderClassifier("_test_linear", sfreq=100.0, max_epochs=20, lr=1e-2).fit(X, y_str)
    assert list(clf.classes_) == ["face", "house"]
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    assert set(clf.predict(X)) <= {"face", "house"}
    assert clf.transform(X).shape == (len(X), 8)
    clf.save(tmp_path / "est")
    clf2 = load_estimator(tmp_path / "est")
    np.testing.assert_array_equal(clf2.predict_proba(X), proba)
    with pytest.raises(BadInputError, match="sampled at 50 Hz but 100 Hz"):
        import xarray as xr

        clf2.predict(xr.DataArray(X, dims=("trial", "channel", "time"), attrs={"sfreq": 50.0}))


def test_pretraining_runs_the_self_supervised_objective():
    X, y = _data()
    clf = EncoderClassifier("_test_linear", sfreq=100.0, pretrain_epochs=5, finetune="head", max_epochs=5)
    clf.fit(X, y)
    losses = [h["train_loss"] for h in clf.pretrain_history_]
    assert len(losses) == 5 and losses[-1] < losses[0]


def test_regressor_recovers_targets_in_their_units():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 2, 5)).astype(np.float32)
    Y = np.c_[X[:, 0].sum(1) * 10 + 100, X[:, 1, :2].sum(1) * -3]
    reg = EncoderRegressor("_test_linear", sfreq=20.0, max_epochs=80, lr=1e-2, patience=10).fit(X, Y)
    pred = reg.predict(X)
    assert pred.shape == Y.shape
    assert np.corrcoef(pred[:, 0], Y[:, 0])[0, 1] > 0.95 and abs(pred[:, 0].mean() - 100) < 2


def test_estimator_bad_input():
    X, y = _data(n=30)
    clf = EncoderClassifier("_test_linear", sfreq=100.0, max_epochs=1)
    with pytest.raises(BadInputError, match="not fitted"):
        clf.predict(X)
    with pytest.raises(BadInputError, match="one label per sample"):
        clf.fit(X, y[:-1])
    with pytest.raises(BadInputError, match="only one class"):
        clf.fit(X, np.zeros(len(X)))
    Xn = X.copy()
    Xn[2, 0, 0] = np.inf
    with pytest.raises(BadInputError, match="NaN or inf in 1 sample"):
        clf.fit(Xn, y)
    with pytest.raises(BadInputError, match="sampling rate is unknown"):
        EncoderClassifier("_test_linear").fit(X, y)
    with pytest.raises(BadInputError, match="unknown encoder"):
        EncoderClassifier("nope", sfreq=1.0).fit(X, y)
    clf.fit(X, y)
    with pytest.raises(BadInputError, match="fitted on"):
        clf.predict(X[:, :2])
