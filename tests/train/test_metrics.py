"""Decoding metrics against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from neurodecode.errors import BadInputError
from neurodecode.train.metrics import chance_level, classification_scores, regression_scores


def test_classification_scores_by_hand():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    p = np.array([0, 1, 0, 1, 1, 0, 1, 1])
    s = classification_scores(y, p, proba=np.array([0.1, 0.6, 0.2, 0.9, 0.8, 0.3, 0.7, 0.65]))
    assert s["accuracy"] == pytest.approx(6 / 8)
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    # ROC AUC = P(score_pos > score_neg) over the 3 x 5 pairs
    pos, neg = [0.9, 0.8, 0.3, 0.7, 0.65], [0.1, 0.6, 0.2]
    auc = np.mean([[sp > sn for sn in neg] for sp in pos])
    assert s["roc_auc"] == pytest.approx(auc)
    f1_pos = 2 * 4 / (2 * 4 + 1 + 1)
    f1_neg = 2 * 2 / (2 * 2 + 1 + 1)
    assert s["f1"] == pytest.approx((f1_pos + f1_neg) / 2)


def test_multiclass_auc_perfect_and_shape_errors():
    y = np.repeat([0, 1, 2], 4)
    proba = np.eye(3)[y] * 0.8 + 0.2 / 3
    assert classification_scores(y, y, proba)["roc_auc"] == pytest.approx(1.0)
    with pytest.raises(BadInputError, match="expected"):
        classification_scores(y, y, proba[:, :2])
    with pytest.raises(BadInputError, match="equal length"):
        classification_scores(y, y[:-1])
    with pytest.raises(BadInputError, match="empty"):
        classification_scores([], [])


def test_regression_scores_by_hand():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(50, 2))
    p = t + rng.normal(scale=0.5, size=(50, 2))
    s = regression_scores(t, p, names=["x", "y"])
    for j, name in enumerate("xy"):
        r2 = 1 - ((t[:, j] - p[:, j]) ** 2).sum() / ((t[:, j] - t[:, j].mean()) ** 2).sum()
        assert s[f"r2_{name}"] == pytest.approx(r2)
        assert s[f"r_{name}"] == pytest.approx(np.corrcoef(t[:, j], p[:, j])[0, 1])
    assert s["r2"] == pytest.approx((s["r2_x"] + s["r2_y"]) / 2)
    p[0, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        regression_scores(t, p)


def test_chance_levels():
    y = np.array([0, 0, 0, 1])
    assert chance_level(y) == 0.75
    assert chance_level(y, "balanced_accuracy") == 0.5
    assert chance_level(y, "roc_auc") == 0.5
    assert chance_level(y, "r2") == 0.0
    with pytest.raises(BadInputError):
        chance_level(y, "nope")
