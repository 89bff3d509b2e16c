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

    from neurodecode import analysis
    from neurodecode.analysis._device import resolve
    from neurodecode.generative.diffusion import tiny_unclip
    from neurodecode.pipeline import reconstruct_ops

    fns = (SpikeContrastiveDecoder, EncoderClassifier, analysis.rdm, analysis.compare, analysis.fit_encoding,
           analysis.geodesic, analysis.sweep, analysis.bootstrap, analysis.permutation_test, tiny_unclip,
           reconstruct_ops.reconstruct)
    for fn in fns:
        assert inspect.signature(fn).parameters["device"].default == "auto", fn
    assert resolve_device(None) == resolve_device("auto")
    assert resolve(None) == resolve("auto") == str(resolve_device("auto"))
    assert resolve("cpu") == "cpu"


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


def _hit_sessions(data_home):
    """The 8 human-IT RDMs of Kriegeskorte et al. 2008 (4 subjects x 2 sessions) with a subject coord."""
    import xarray as xr
    from scipy.io import loadmat

    from tests.conftest import require_data

    folder = require_data(data_home / "kriegeskorte92", "kriegeskorte92")
    rdms = loadmat(folder / "92_brainRDMs.mat")["RDMs"]
    mats = np.stack([np.asarray(rdms[0, s, r]["RDM"], dtype=np.float64) for s in range(4) for r in range(2)])
    subjects = [str(rdms[0, s, 0]["name"].item()).split("|")[1].strip() for s in range(4) for _ in range(2)]
    return xr.DataArray(mats, dims=("rdm", "stimulus", "stimulus_"),
                        coords={"rdm": np.arange(8), "subject": ("rdm", subjects), "session": ("rdm", [1, 2] * 4)},
                        attrs={"method": "correlation"})


def test_noise_ceiling_and_bootstrap_group_subjects_alike(data_home):
    """One name (``by``) and one default (the ``subject`` coord): both give the same ceiling on the same data.

    Before: noise_ceiling(by=None) took every session as a subject (lower bound 0.328), bootstrap grouped
    the sessions by subject (0.306). Checked against rsatoolbox's boot_noise_ceiling(rdm_descriptor='subject').
    """
    import rsatoolbox.inference as rsi
    import rsatoolbox.rdm as rsr

    from neurodecode.analysis import bootstrap, noise_ceiling

    data = _hit_sessions(data_home)
    assert inspect.signature(noise_ceiling).parameters["by"].default == "subject"
    assert inspect.signature(bootstrap).parameters["by"].default == "subject"
    ceiling = noise_ceiling(data, "spearman")
    models = data.isel(rdm=[0, 2]).mean("rdm").expand_dims(rdm=["m"])  # any model: only the ceiling is read
    boot = bootstrap(models, data, "spearman", n_boot=2, noise_ceiling=False)
    np.testing.assert_allclose(boot["noise_ceiling"].values, ceiling, rtol=0, atol=1e-12)
    ref = rsr.RDMs(data.values, rdm_descriptors={"subject": list(data["subject"].values)})
    np.testing.assert_allclose(ceiling, rsi.boot_noise_ceiling(ref, method="spearman", rdm_descriptor="subject"),
                               rtol=0, atol=1e-8)
    assert ceiling.lower == pytest.approx(0.306, abs=5e-4)
    assert noise_ceiling(data, "spearman", by=None).lower == pytest.approx(0.328, abs=5e-4)  # every RDM alone
    with pytest.warns(FutureWarning, match="'subject_dim' is now called 'by'"):
        old = bootstrap(models, data, "spearman", n_boot=2, subject_dim=None, noise_ceiling=False)
    np.testing.assert_allclose(old["noise_ceiling"].values, noise_ceiling(data, "spearman", by=None), atol=1e-12)
