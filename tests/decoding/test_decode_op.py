"""The generic `decode` op: tables, answer, figures, time-resolved scores with clusters."""

from __future__ import annotations

import numpy as np

from neurodecode.datamodel import make_epochs
from neurodecode.pipeline.decode_op import decode
from neurodecode.pipeline.ops import OPS


def test_decode_op_tables_answer_and_time_course():
    rng = np.random.default_rng(0)
    y = np.tile(["a", "b", "c"], 30)
    X = rng.standard_normal((90, 4, 30))
    X[y == "b", 0, 10:20] += 1.5
    ep = make_epochs(X, 100.0, list("wxyz"), -0.1, metadata={"label": y, "run": np.repeat(["1", "2", "3"], 30)})
    res = decode(ep, classes=["a", "b"], estimators=["lda"], cv="run", n_perm=3, time_resolved=True)
    scores = res.tables["scores"]
    assert {"model", "fold", "score", "chance"} <= set(scores.columns) and len(scores) == 3
    assert res.answer.startswith("best: ") and "chance 0.500" in res.answer
    assert res.data["time_score"].dims == ("fold", "time")
    assert "time_clusters" in res.tables and (res.tables["time_clusters"]["p_value"] <= 1).all()
    assert any("time-resolved" in n for n in res.notes)
    for _title, make in res.figures:
        assert make() is not None
    titles = [t for t, _ in res.figures]
    assert "class means" in titles
    fig = dict(res.figures)["class means"]()
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("w")  # the channel carrying the effect
    lines = {ln.get_label().split(" ")[0]: ln.get_ydata() for ln in ax.get_lines() if ln.get_label()[0] in "ab"}
    keep = np.isin(y, ["a", "b"])
    np.testing.assert_allclose(lines["b"], X[keep & (y == "b"), 0].mean(axis=0))  # plain trial mean
    assert "decode" in OPS.names() and "decoding.epochs" in OPS.names()


def test_decode_op_shows_the_best_deep_models_confusion_beside_the_best():
    from sklearn.dummy import DummyClassifier

    from neurodecode.decoding.estimators import ESTIMATORS, register_estimator

    register_estimator("_test_deep", tasks=("classification",), permutable=False)(
        lambda ctx: DummyClassifier(strategy="prior"))  # stands in for a slow deep model
    try:
        rng = np.random.default_rng(1)
        y = np.tile(["a", "b"], 30)
        X = rng.standard_normal((60, 3, 10))
        X[y == "b", 0] += 1.0
        ep = make_epochs(X, 100.0, list("xyz"), 0.0, metadata={"label": y, "run": np.repeat(["1", "2", "3"], 20)})
        res = decode(ep, estimators={"lda": "lda", "deep": "_test_deep"}, cv="run", n_perm=0)
        titles = [t for t, _ in res.figures]
        assert "confusion matrix (lda)" in titles and "confusion matrix (deep)" in titles
        fig = dict(res.figures)["confusion matrix (deep)"]()
        assert fig.axes[0].get_title() == "deep: out-of-fold confusion"
    finally:
        ESTIMATORS.pop("_test_deep", None)
