"""Decoding metrics on held-out data (thin, checked wrappers over scikit-learn).

:func:`classification_scores` and :func:`regression_scores` return flat ``name -> float`` dicts,
ready for a pipeline's ``metrics.json``; :func:`chance_level` gives the matching chance level.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BadInputError

__all__ = ["classification_scores", "regression_scores", "chance_level"]


def _finite(name: str, arr: np.ndarray) -> np.ndarray:
    if arr.size == 0:
        raise BadInputError(f"{name} is empty; there is nothing to score (check the test selection).")
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise BadInputError(f"{name} holds NaN or inf; a model diverged or the input had missing values.")
    return arr


def classification_scores(
    y_true: Any, y_pred: Any, proba: Any | None = None, *, classes: Any | None = None
) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro F1 and (with ``proba``) ROC AUC.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels.
    proba : array-like of shape (n, n_classes) or (n,), optional
        Class probabilities (columns in the order of ``classes``) or, for two classes, the
        score of the positive (second) class. ROC AUC is one-vs-rest macro for more than two classes.
    classes : array-like, optional
        Class order of the ``proba`` columns (default: sorted unique ``y_true``).

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``f1`` and, when ``proba`` is given and more than one
        class is present in ``y_true``, ``roc_auc``.
    """
    from sklearn import metrics

    y_true = _finite("y_true", np.asarray(y_true))
    y_pred = _finite("y_pred", np.asarray(y_pred))
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise BadInputError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be 1-D and of equal length.")
    out = {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y_true, y_pred)),
        "f1": float(metrics.f1_score(y_true, y_pred, average="macro")),
    }
    if proba is not None and np.unique(y_true).size > 1:
        p = _finite("proba", np.asarray(proba, dtype=float))
        cls = np.unique(y_true) if classes is None else np.asarray(classes)
        if p.ndim == 2 and p.shape[1] == 2 and cls.size == 2:
            p = p[:, 1]
        if p.ndim == 1:
            if cls.size != 2:
                raise BadInputError(f"proba is 1-D but there are {cls.size} classes; pass (n, n_classes) probabilities.")
            out["roc_auc"] = float(metrics.roc_auc_score(y_true == cls[-1], p))
        else:
            if p.shape != (y_true.size, cls.size):
                raise BadInputError(f"proba has shape {p.shape}; expected ({y_true.size}, {cls.size}).")
            present = np.isin(cls, y_true)
            if present.all():
                out["roc_auc"] = float(metrics.roc_auc_score(y_true, p, multi_class="ovr", labels=cls))
    return out


def regression_scores(y_true: Any, y_pred: Any, *, names: list[str] | None = None) -> dict[str, float]:
    """R² (per target and mean) and Pearson r per target.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,) or (n, n_targets)
    names : list of str, optional
        Target names used in the keys (default ``0, 1, ...``).

    Returns
    -------
    dict
        ``r2`` (mean over targets), ``r2_<name>`` and ``r_<name>`` per target.
    """
    from sklearn.metrics import r2_score

    t = _finite("y_true", np.asarray(y_true, dtype=float))
    p = _finite("y_pred", np.asarray(y_pred, dtype=float))
    if t.shape != p.shape:
        raise BadInputError(f"y_true {t.shape} and y_pred {p.shape} must have the same shape.")
    t2, p2 = t.reshape(t.shape[0], -1), p.reshape(p.shape[0], -1)
    names = [str(i) for i in range(t2.shape[1])] if names is None else list(names)
    if len(names) != t2.shape[1]:
        raise BadInputError(f"{len(names)} names given for {t2.shape[1]} targets.")
    out: dict[str, float] = {}
    r2s = []
    for j, name in enumerate(names):
        r2 = float(r2_score(t2[:, j], p2[:, j]))
        r2s.append(r2)
        out[f"r2_{name}"] = r2
        sd = t2[:, j].std() * p2[:, j].std()
        out[f"r_{name}"] = float(np.corrcoef(t2[:, j], p2[:, j])[0, 1]) if sd > 0 else float("nan")
    out["r2"] = float(np.mean(r2s))
    return out


def chance_level(y: Any, metric: str = "accuracy") -> float:
    """Chance level of ``metric`` for labels ``y``.

    ``accuracy``: the majority-class rate (what always guessing the commonest class gets);
    ``balanced_accuracy``: 1 / n_classes; ``roc_auc``: 0.5; ``r2``: 0.0 (predicting the mean).
    """
    y = np.asarray(y)
    if metric == "accuracy":
        _, counts = np.unique(y, return_counts=True)
        return float(counts.max() / counts.sum())
    if metric in ("balanced_accuracy", "f1"):
        return 1.0 / np.unique(y).size
    if metric == "roc_auc":
        return 0.5
    if metric == "r2":
        return 0.0
    raise BadInputError(f"no chance level for metric {metric!r}; use accuracy, balanced_accuracy, f1, roc_auc or r2.")
