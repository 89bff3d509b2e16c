"""Time-resolved RSA on real Muse N170 epochs, checked per time point against rsatoolbox and numpy/scipy."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from neurodecode.analysis import assign_splits, category_rdm, pseudo_conditions, time_resolved_rsa
from neurodecode.errors import BadInputError
from tests.conftest import require_data

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def muse(data_home):
    """Face/house epochs of subjects 2 and 11 (-0.1..0.6 s, 1-30 Hz), read from the real CSV files."""
    require_data(data_home / "muse_n170" / "subject11", "the Muse N170 recordings")
    from neurodecode import datasets
    from neurodecode.decoding import epochs_from_recordings

    ep = epochs_from_recordings(datasets.load("muse_n170", subject=[2, 11]), ["face", "house"], tmin=-0.1, tmax=0.6)
    return ep.sel(time=slice(0.1, 0.25))


def _upper(m: np.ndarray) -> np.ndarray:
    return m[np.triu_indices(m.shape[0], 1)]


def test_splits_balanced_and_pseudo_conditions(muse):
    ep = assign_splits(muse, 3, label="label", within="subject", name="fold", seed=1)
    for s in ("2", "11"):
        for lab in ("face", "house"):
            sel = (ep.subject.values == s) & (ep.label.values == lab)
            counts = np.bincount(ep.fold.values[sel], minlength=3)
            assert counts.max() - counts.min() <= 1 and counts.sum() == sel.sum()
    ep = pseudo_conditions(ep, 4, label="label", within=["subject", "fold"])
    cond = ep.condition.values.astype(str)
    assert set(cond) == {f"{lab}/{k}" for lab in ("face", "house") for k in range(4)}
    assert all(c.split("/")[0] == lab for c, lab in zip(cond, ep.label.values))
    model = category_rdm(ep, condition="condition", label="label")
    ids = model.stimulus.values.astype(str)
    expected = np.array([[float(a.split("/")[0] != b.split("/")[0]) for b in ids] for a in ids])
    np.testing.assert_array_equal(model.values[0], expected)


def test_correlation_rdms_match_numpy_per_time_point(muse):
    ep = pseudo_conditions(muse, 5, label="label", within="subject")
    model = category_rdm(ep, condition="condition", label="label")
    rsa, rdms = time_resolved_rsa(ep, model, condition="condition", method="correlation", by="subject",
                                  return_rdms=True)
    assert rsa.dims == ("subject", "model", "time") and list(rsa.subject.values) == ["2", "11"]
    assert rsa.sizes["time"] == muse.sizes["time"] and rsa.attrs["n_conditions"] == 10
    for s in ("2", "11"):
        sub = ep.isel(trial=np.flatnonzero(ep.subject.values == s))
        conds = list(dict.fromkeys(sub.condition.values.tolist()))
        m = model.sel(stimulus=conds, stimulus_=conds).values[0]
        for t in range(0, muse.sizes["time"], 9):
            x = sub.values[:, :, t]
            means = np.stack([x[sub.condition.values == c].mean(axis=0) for c in conds])
            ref = 1.0 - np.corrcoef(means)
            got = rdms.sel(subject=s).isel(time=t).sel(stimulus=conds, stimulus_=conds).values
            np.testing.assert_allclose(got, ref, atol=1e-10)
            rho = stats.spearmanr(_upper(ref), _upper(m)).statistic
            assert rsa.sel(subject=s, model="category").values[t] == pytest.approx(rho, abs=1e-10)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # inside rsatoolbox
@pytest.mark.parametrize("noise", [None, "shrinkage_diag"])
def test_crossnobis_over_folds_matches_rsatoolbox(muse, noise):
    import rsatoolbox.data as rsd
    import rsatoolbox.rdm as rsr
    from rsatoolbox.data.noise import prec_from_residuals

    ep = assign_splits(muse, 2, label="label", within="subject", name="fold")
    ep = pseudo_conditions(ep, 3, label="label", within=["subject", "fold"])
    model = category_rdm(ep, condition="condition", label="label")
    rsa, rdms = time_resolved_rsa(ep, model, condition="condition", method="crossnobis", runs="fold",
                                  noise=noise, by="subject", compare_method="pearson", return_rdms=True)
    sub = ep.isel(trial=np.flatnonzero(ep.subject.values == "11"))
    cond, fold = sub.condition.values.astype(str), sub.fold.values
    prec = None
    if noise:  # residuals around each (fold, condition) mean, pooled over time points
        x = sub.values.copy()
        for f in np.unique(fold):
            for c in np.unique(cond):
                sel = (fold == f) & (cond == c)
                x[sel] -= x[sel].mean(axis=0)
        flat = x.transpose(0, 2, 1).reshape(-1, x.shape[1])
        prec = prec_from_residuals(flat, dof=(len(cond) - 2 * 6) * x.shape[2], method="shrinkage_diag")
    for t in (0, 17, 38):
        ds = rsd.Dataset(sub.values[:, :, t], obs_descriptors={"cond": cond, "fold": fold})
        ref = rsr.calc_rdm(ds, method="crossnobis", descriptor="cond", cv_descriptor="fold", noise=prec)
        order = np.asarray(ref.pattern_descriptors["cond"])
        got = rdms.sel(subject="11").isel(time=t).sel(stimulus=order, stimulus_=order).values
        np.testing.assert_allclose(got, ref.get_matrices()[0], rtol=1e-8, atol=1e-12 * np.abs(got).max())
        m = model.sel(stimulus=order, stimulus_=order).values[0]
        r = np.corrcoef(_upper(ref.get_matrices()[0]), _upper(m))[0, 1]
        assert rsa.sel(subject="11", model="category").values[t] == pytest.approx(r, abs=1e-8)


def test_bad_inputs(muse):
    ep = pseudo_conditions(muse, 3, label="label")
    model = category_rdm(ep, condition="condition", label="label")
    with pytest.raises(BadInputError, match="needs runs="):
        time_resolved_rsa(ep, model, condition="condition", method="crossnobis")
    with pytest.raises(BadInputError, match="no coord 'stim'"):
        time_resolved_rsa(ep, model, condition="stim")
    with pytest.raises(BadInputError, match="not in the model RDMs"):
        time_resolved_rsa(ep, model.isel(stimulus=slice(0, 4), stimulus_=slice(0, 4)), condition="condition")
    with pytest.raises(BadInputError, match="dims"):
        time_resolved_rsa(ep.isel(time=0), model, condition="condition")
    bad = ep.copy(data=ep.values.copy())
    bad.values[0, 0, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        time_resolved_rsa(bad, model, condition="condition")
    with pytest.raises(BadInputError, match="fewer than n_splits"):
        assign_splits(ep.isel(trial=slice(0, 10)), 8, label="label", within="subject")
    mixed = ep.assign_coords(condition=("trial", np.where(np.arange(ep.sizes["trial"]) < 5, "a", "b")))
    with pytest.raises(BadInputError, match="several 'label' values"):
        category_rdm(mixed, condition="condition")
    one_run = assign_splits(ep, 2, label="label", name="fold").isel(trial=slice(0, 60))
    one_run = one_run.isel(trial=np.flatnonzero(one_run.fold.values == 0))
    with pytest.raises(BadInputError, match="at least 2 runs|every stimulus in every run"):
        time_resolved_rsa(one_run, model, condition="condition", method="crossnobis", runs="fold")
    renamed = np.where((ep.subject.values == "2") & (ep.condition.values == "face/0"), "face/9",
                       ep.condition.values)
    odd = ep.assign_coords(condition=("trial", renamed))
    wide = category_rdm(odd, condition="condition", label="label")
    with pytest.raises(BadInputError, match="different conditions"):
        time_resolved_rsa(odd, wide, condition="condition", by="subject")
    assert isinstance(model, xr.DataArray)
