"""Heads from brain embeddings to diffusion conditioning: checked against scikit-learn and known truths."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neurodecode.errors import BadInputError
from neurodecode.generative.heads import MLPHead, RidgeHead, load_head


def _linear_data(n=60, p=20, k=6, noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, size=p) + rng.normal(size=p)
    W = rng.normal(size=(p, k))
    Y = X @ W + noise * rng.normal(size=(n, k)) + 2.0
    return X, Y


def test_ridge_fixed_alpha_matches_sklearn():
    X, Y = _linear_data()
    Xt, _ = _linear_data(n=15, seed=1)
    ours = RidgeHead(alphas=[3.0]).fit(X, Y)
    ref = make_pipeline(StandardScaler(), Ridge(alpha=3.0)).fit(X, Y)
    np.testing.assert_allclose(ours.predict(Xt), ref.predict(Xt), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("p,alphas", [(20, np.logspace(-3, 4, 15)), (200, [1.0, 30.0, 1000.0])])
def test_ridge_cv_choice_matches_sklearn_grid_search(p, alphas):
    # p=20 exercises the Gram (trace) shortcut, p=200 the direct predictions
    X, Y = _linear_data(p=p, noise=3.0)
    ours = RidgeHead(alphas=alphas, cv=5, seed=3).fit(X, Y)
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), Ridge()),
        {"ridge__alpha": list(alphas)},
        cv=KFold(5, shuffle=True, random_state=3),
        scoring="neg_mean_squared_error",
    ).fit(X, Y)
    np.testing.assert_allclose(ours.cv_mse_, -grid.cv_results_["mean_test_score"], rtol=1e-6)
    assert ours.alpha_ == grid.best_params_["ridge__alpha"]
    np.testing.assert_allclose(ours.predict(X), grid.predict(X), rtol=1e-4, atol=1e-4)


def test_ridge_groups_use_group_folds():
    X, Y = _linear_data(n=48, noise=2.0)
    groups = np.repeat(np.arange(8), 6)
    alphas = np.logspace(-2, 4, 13)
    ours = RidgeHead(alphas=alphas, cv=4).fit(X, Y, groups=groups)
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), Ridge()),
        {"ridge__alpha": list(alphas)},
        cv=GroupKFold(4),
        scoring="neg_mean_squared_error",
    ).fit(X, Y, groups=groups)
    np.testing.assert_allclose(ours.cv_mse_, -grid.cv_results_["mean_test_score"], rtol=1e-6)


def test_ridge_token_sequence_targets_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 10))
    Y = np.einsum("np,psd->nsd", X, rng.normal(size=(10, 3, 4)))  # (n, seq=3, dim=4), exactly linear
    head = RidgeHead(alphas=[1e-6]).fit(X, Y)
    pred = head.predict(X)
    assert pred.shape == (40, 3, 4)
    np.testing.assert_allclose(pred, Y, atol=1e-3)
    head.save(tmp_path / "ridge")
    again = load_head(tmp_path / "ridge")
    assert isinstance(again, RidgeHead) and again.alpha_ == head.alpha_
    np.testing.assert_array_equal(again.predict(X), pred)
    assert not list(tmp_path.glob("ridge/*.pkl"))


def test_ridge_warns_when_alpha_at_grid_edge():
    X, Y = _linear_data(noise=0.0)
    with pytest.warns(UserWarning, match="end of the grid"):
        RidgeHead(alphas=[1e-3, 1.0, 10.0]).fit(X, Y)


def test_head_input_errors():
    X, Y = _linear_data()
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        RidgeHead().fit(bad, Y)
    with pytest.raises(BadInputError, match="samples"):
        RidgeHead().fit(X, Y[:-1])
    with pytest.raises(BadInputError, match="targets must be"):
        RidgeHead().fit(X, Y[:, 0])
    with pytest.raises(BadInputError, match="not fitted"):
        RidgeHead().predict(X)
    head = RidgeHead(alphas=[1.0]).fit(X, Y)
    with pytest.raises(BadInputError, match="features"):
        head.predict(X[:, :5])
    with pytest.raises(BadInputError, match="alphas"):
        RidgeHead(alphas=[0.0])


def _r2(y, p):
    return 1 - ((y - p) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small torch models train much faster on one thread when the CPU is shared."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_mlp_head_learns_a_nonlinear_map_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(4, 16)) / 2, rng.normal(size=(16, 2, 3)) / 4
    X = rng.normal(size=(400, 4))
    Y = np.einsum("nh,hsd->nsd", np.tanh(X @ W1) ** 2, W2)  # a (seq=2, dim=3) target, even in X
    Xtr, Ytr, Xte, Yte = X[:300], Y[:300], X[300:], Y[300:]
    head = MLPHead(hidden=(64,), dropout=0.0, max_epochs=200, batch_size=100, lr=1e-2, patience=None,
                   threads=1).fit(Xtr, Ytr)
    pred = head.predict(Xte)
    assert pred.shape == (100, 2, 3)
    assert len(head.history_) == 200 and np.isfinite(head.history_[-1]["val_loss"])
    r2_mlp = _r2(Yte.reshape(100, -1), pred.reshape(100, -1)).mean()
    r2_ridge = _r2(Yte.reshape(100, -1), RidgeHead().fit(Xtr, Ytr).predict(Xte).reshape(100, -1)).mean()
    assert r2_mlp > 0.8 and r2_ridge < 0.1, (r2_mlp, r2_ridge)  # an even function: no linear trend to find
    head.save(tmp_path / "mlp")
    again = load_head(tmp_path / "mlp")
    assert isinstance(again, MLPHead)
    np.testing.assert_array_equal(again.predict(Xte), pred)


def test_load_rejects_other_kinds(tmp_path):
    X, Y = _linear_data()
    RidgeHead(alphas=[1.0]).fit(X, Y).save(tmp_path / "r")
    with pytest.raises(BadInputError, match="ridge_head"):
        MLPHead.load(tmp_path / "r")
    with pytest.raises(BadInputError, match="config.json"):
        load_head(tmp_path / "nothing")
