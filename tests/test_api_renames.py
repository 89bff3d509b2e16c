"""One name per concept (docs/conventions.md): scikit-learn estimators take ``random_state``, devices
default to ``"auto"``; the old names keep working for one release with a FutureWarning."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest


def test_estimators_take_random_state_and_seed_warns():
    from sklearn.base import clone

    from neurodecode.encoders.estimators import EncoderClassifier, EncoderRegressor
    from neurodecode.encoders.spike import SpikeContrastiveDecoder

    for cls in (EncoderClassifier, EncoderRegressor, SpikeContrastiveDecoder):
        params = cls().get_params()
        assert "random_state" in params and "seed" not in params, cls.__name__  # scikit-learn sees the new name
        with pytest.warns(FutureWarning, match="'seed' is now called 'random_state'"):
            est = cls(seed=3)
        assert est.random_state == 3 and clone(est).random_state == 3
        with pytest.warns(FutureWarning, match="'seed' is now called 'random_state'"):
            assert est.seed == 3  # the old attribute, for one release
        with pytest.raises(TypeError, match="both"):
            cls(seed=1, random_state=2)


def test_random_state_values_as_scikit_learn_reads_them():
    from neurodecode.encoders.estimators import seed_from
    from neurodecode.errors import BadInputError

    assert seed_from(7) == 7 and seed_from(np.int64(7)) == 7
    assert seed_from(np.random.RandomState(0)) == np.random.RandomState(0).randint(0, 2**31 - 1)
    assert seed_from(np.random.default_rng(0)) == np.random.default_rng(0).integers(0, 2**31 - 1)
    assert 0 <= seed_from(None) < 2**31
    with pytest.raises(BadInputError, match="random_state"):
        seed_from("0")


def test_devices_default_to_auto():
    from neurodecode.encoders.estimators import EncoderClassifier
    from neurodecode.encoders.spike import SpikeContrastiveDecoder
    from neurodecode.train.trainer import resolve_device

    for fn in (SpikeContrastiveDecoder, EncoderClassifier):
        assert inspect.signature(fn).parameters["device"].default == "auto", fn
    assert resolve_device(None) == resolve_device("auto")


def test_seeded_fits_repeat_under_the_new_name():
    """random_state=0 gives the same fit twice (the seed reaches the weights, sampler and batches)."""
    from neurodecode.encoders.spike import SpikeContrastiveDecoder

    rng = np.random.default_rng(0)
    X = rng.poisson(2.0, size=(200, 6, 4)).astype(np.float32)
    y = rng.normal(size=(200, 2))
    kw = {"out_dim": 3, "hidden": 8, "depth": 1, "max_epochs": 1, "batch_size": 64, "threads": 1, "device": "cpu"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        a = SpikeContrastiveDecoder(random_state=0, **kw).fit(X, y).predict(X[:20])
        b = SpikeContrastiveDecoder(random_state=0, **kw).fit(X, y).predict(X[:20])
    np.testing.assert_array_equal(a, b)
