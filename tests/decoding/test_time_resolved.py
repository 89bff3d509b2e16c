"""sliding / generalizing equal MNE's SlidingEstimator / GeneralizingEstimator on the same folds;
the cluster test equals mne.stats.permutation_cluster_1samp_test."""

from __future__ import annotations

import numpy as np
import pytest

from neurodecode import decoding
from neurodecode.datamodel import make_epochs
from neurodecode.decoding._data import prepare, resolve_cv


def _epochs(n=80, p=6, T=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.tile(["a", "b"], n // 2)
    X = rng.standard_normal((n, p, T))
    X[y == "b", 0, 5:11] += 0.9
    return make_epochs(X, 100.0, [f"c{i}" for i in range(p)], -0.05, metadata={"label": y})


def _mne_scores(ep, est, scoring, cv, cls):
    prep = prepare(ep, "label")
    out = []
    for tr, te in resolve_cv(cv, prep, 0).folds:
        m = cls(est, scoring=scoring, verbose=False).fit(prep.X[tr], prep.y[tr])
        out.append(m.score(prep.X[te], prep.y[te]))
    return np.array(out)


@pytest.mark.parametrize("shrinkage,scoring", [("auto", "roc_auc"), (None, "accuracy"), (0.3, "balanced_accuracy")])
def test_batched_lda_equals_mne(shrinkage, scoring):
    from mne.decoding import GeneralizingEstimator, SlidingEstimator
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    ep = _epochs()
    est = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage)
    s = decoding.sliding(ep, "label", est, cv=4, scoring=scoring)
    assert s.dims == ("fold", "time") and s.attrs["solver"].startswith("batched")
    np.testing.assert_allclose(s.values, _mne_scores(ep, est, scoring, 4, SlidingEstimator), atol=1e-6)
    g = decoding.generalizing(ep, "label", est, cv=4, scoring=scoring)
    assert g.dims == ("fold", "train_time", "test_time")
    np.testing.assert_allclose(g.values, _mne_scores(ep, est, scoring, 4, GeneralizingEstimator), atol=1e-6)


def test_registered_name_and_other_estimators_loop_over_time():
    from mne.decoding import SlidingEstimator
    from sklearn.linear_model import LogisticRegression

    ep = _epochs(T=6)
    s = decoding.sliding(ep, "label", "lda", cv=3)  # the registered name takes the batched path
    assert s.attrs["solver"].startswith("batched") and s.attrs["chance"] == 0.5
    est = LogisticRegression(C=0.5)
    s = decoding.sliding(ep, "label", est, cv=3, scoring="roc_auc")
    assert s.attrs["solver"] == "one fit per time point"
    np.testing.assert_allclose(s.values, _mne_scores(ep, est, "roc_auc", 3, SlidingEstimator), atol=1e-6)


@pytest.mark.parametrize("tail", [1, 0])
def test_cluster_test_equals_mne(tail):
    import mne

    rng = np.random.default_rng(1)
    X = rng.standard_normal((8, 40)) * 0.5
    X[:, 12:24] += 0.6
    ours = decoding.clusters.cluster_stats(X, tail=tail, n_permutations=1024)  # 2^8 <= 1024: exact
    T, clusters, pv, H0 = mne.stats.permutation_cluster_1samp_test(X, tail=tail, n_permutations=1024,
                                                                   out_type="mask", verbose=False)
    np.testing.assert_allclose(ours.t_obs, T, rtol=1e-12)
    assert len(ours.clusters) == len(clusters)
    for a, b in zip(ours.clusters, clusters):
        np.testing.assert_array_equal(a, np.zeros(40, bool) if b is None else _mask(b, 40))
    np.testing.assert_allclose(ours.p_values, pv)
    np.testing.assert_allclose(np.sort(ours.h0), np.sort(H0))
    # the generalisation-matrix case (2-D clusters)
    X2 = rng.standard_normal((7, 12, 12)) * 0.5
    X2[:, 3:8, 3:8] += 0.7
    ours = decoding.clusters.cluster_stats(X2, tail=tail, n_permutations=1024)
    T, clusters, pv, H0 = mne.stats.permutation_cluster_1samp_test(X2, tail=tail, n_permutations=1024,
                                                                   out_type="mask", verbose=False)
    for a, b in zip(ours.clusters, clusters):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(ours.p_values, pv)
    table = decoding.cluster_test(X2, np.linspace(0, 0.11, 12), tail=tail)
    assert {"start", "stop", "test_start", "test_stop", "p_value"} <= set(table.columns)


def _mask(cluster, n):
    m = np.zeros(n, bool)
    m[cluster] = True
    return m


@pytest.mark.parametrize("n, n_permutations, tail", [(3, 1024, 1), (4, 1024, 0), (12, 1024, 1), (12, 100, 1)])
def test_smallest_p_is_one_over_the_sign_patterns_used(n, n_permutations, tail):
    from neurodecode.decoding.clusters import _signs, smallest_p

    patterns = _signs(n, n_permutations, tail, np.random.default_rng(0))
    assert smallest_p(n, n_permutations, tail) == pytest.approx(1.0 / len(patterns))
