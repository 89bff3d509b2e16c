"""searchlight equals nilearn's SearchLight (same estimator, folds and spheres) on real Haxby blocks;
its map round-trips through a NIfTI file; bad inputs are refused."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurodecode import decoding
from neurodecode.errors import BadInputError

pytestmark = pytest.mark.filterwarnings("ignore:Use a custom estimator:UserWarning")


@pytest.fixture(scope="module")
def blocks(data_home):
    """Block responses of 4 Haxby runs (1-slice images), the brighter 60 % of voxels, z-scored per run."""
    from neurodecode import datasets
    from neurodecode.preprocess import fmri

    bold = datasets.load("haxby2001", run=[1, 2, 3, 4], resolution="1slice")
    mean = bold.mean("time")
    bold = bold.isel(voxel=np.flatnonzero(mean >= np.quantile(mean, 0.4)))
    bold = fmri.clean(bold, detrend=False, standardize="zscore")
    return fmri.block_responses(bold, shift=5.0)


def _box(blocks, i_range=(14, 22), j_range=(6, 12)):
    """A centre region written as a user would: a NIfTI mask on the data's grid."""
    import nibabel as nib

    shape = tuple(int(s) for s in blocks.attrs["shape"])
    vol = np.zeros(shape, dtype=np.uint8)
    vol[slice(*i_range), slice(*j_range), :] = 1
    return nib.Nifti1Image(vol, np.asarray(blocks.attrs["affine"]).reshape(4, 4))


def _nilearn(blocks, estimator, radius, scoring, process_mask_img, keep=None):
    from nilearn.decoding import SearchLight
    from sklearn.model_selection import LeaveOneGroupOut

    from neurodecode.loaders import to_nifti

    data = blocks if keep is None else blocks.isel(trial=keep)
    imgs = to_nifti(data, dtype=np.float64)
    mask = to_nifti(xr.ones_like(data.isel({data.dims[0]: 0})), dtype=np.float64)
    sl = SearchLight(mask_img=mask, process_mask_img=process_mask_img, radius=radius, estimator=estimator,
                     cv=LeaveOneGroupOut(), scoring=scoring, n_jobs=1)
    sl.fit(imgs, data["label"].values, groups=data["run"].values)
    return sl


def test_spheres_equal_nilearn(blocks):
    from nilearn.maskers.nifti_spheres_masker import apply_mask_and_get_affinity

    from neurodecode.loaders import to_nifti

    ijk = np.stack([blocks[c].values for c in "ijk"], axis=1)
    affine = np.asarray(blocks.attrs["affine"]).reshape(4, 4)
    shape = tuple(int(s) for s in blocks.attrs["shape"])
    for radius in (4.0, 7.5, 9.3):  # 7.5 mm = twice the 3.75 mm voxel side: spheres on the boundary
        ours = decoding.searchlight_spheres(ijk, affine, radius, shape)
        seeds = np.dot(affine, np.vstack([ijk.T, np.ones(len(ijk))]))[:3].T
        _, A = apply_mask_and_get_affinity(seeds, to_nifti(blocks, dtype=np.float64), radius, True,
                                           mask_img=to_nifti(xr.ones_like(blocks.isel(trial=0))))
        assert len(ours) == A.shape[0] == len(ijk)
        # nilearn's columns are the mask voxels in C order; ours index the data's voxels
        c_order = np.argsort(np.ravel_multi_index(tuple(ijk.T), shape))
        for s, row in zip(ours, A.rows):
            assert c_order[np.asarray(row)].tolist() == s.tolist()


def test_batched_lda_and_gnb_equal_nilearn(blocks):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.naive_bayes import GaussianNB

    box, scoring = _box(blocks, (15, 20), (7, 11)), "balanced_accuracy"  # 8 classes
    sl = decoding.searchlight(blocks, "label", "lda", cv="run", radius=8.0, process_mask=box, scoring=scoring,
                              progress=False)
    assert sl.attrs["solver"].startswith("batched LDA") and sl.dims == ("voxel",)
    assert 0 < len(sl) < blocks.sizes["neuroid"] and sl.attrs["cv"].startswith("leave one run out (4 folds)")
    ref = _nilearn(blocks, LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"), 8.0, scoring, box)
    np.testing.assert_allclose(sl.values, ref.scores_[sl.i, sl.j, sl.k], atol=1e-9)
    assert sl.values.max() > 2 * sl.attrs["chance"]  # local patterns carry the category
    gnb = decoding.searchlight(blocks, "label", GaussianNB(), cv="run", radius=8.0, process_mask=box,
                               scoring="accuracy", progress=False)
    assert gnb.attrs["solver"].startswith("batched Gaussian naive Bayes")
    ref = _nilearn(blocks, GaussianNB(), 8.0, "accuracy", box)
    np.testing.assert_allclose(gnb.values, ref.scores_[gnb.i, gnb.j, gnb.k], atol=1e-9)


def test_binary_auc_and_generic_estimator_equal_nilearn(blocks):
    """Faces vs houses, ROC AUC: batched LDA and Gaussian naive Bayes, and a logistic regression
    fitted per sphere and fold."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    keep = np.flatnonzero(np.isin(blocks["label"].values, ["face", "house"]))
    fh = blocks.isel(trial=keep)
    box = _box(blocks, (15, 19), (7, 10))
    for est, solver in ((LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.2), "batched LDA"),
                        (GaussianNB(), "batched Gaussian"), (LogisticRegression(C=0.5), "one fit")):
        sl = decoding.searchlight(fh, "label", est, cv="run", radius=6.0, process_mask=box, n_jobs=1,
                                  progress=False)
        assert sl.attrs["scoring"] == "roc_auc" and sl.attrs["solver"].startswith(solver)
        ref = _nilearn(blocks, est, 6.0, "roc_auc", box, keep)
        np.testing.assert_allclose(sl.values, ref.scores_[sl.i, sl.j, sl.k], atol=1e-9)
    acc = decoding.searchlight(fh, "label", GaussianNB(), cv="run", radius=6.0, process_mask=box,
                               scoring="accuracy", progress=False)
    ref = _nilearn(blocks, GaussianNB(), 6.0, "accuracy", box, keep)
    np.testing.assert_allclose(acc.values, ref.scores_[acc.i, acc.j, acc.k], atol=1e-9)


def test_per_fold_joblib_and_nifti_round_trip(blocks, tmp_path):
    import nibabel as nib

    from neurodecode.loaders import to_nifti

    box = _box(blocks, (16, 20), (7, 10))
    mean = decoding.searchlight(blocks, "label", "lda", cv="run", radius=8.0, process_mask=box, progress=False)
    folds = decoding.searchlight(blocks, "label", "lda", cv="run", radius=8.0, process_mask=box, per_fold=True,
                                 n_jobs=2, backend="threading", progress=False)
    assert folds.dims == ("fold", "voxel") and folds.sizes["fold"] == 4
    np.testing.assert_allclose(folds.mean("fold").values, mean.values, atol=1e-12)
    path = tmp_path / "searchlight.nii.gz"
    nib.save(to_nifti(mean), path)
    vol = np.asarray(nib.load(path).dataobj)
    assert vol.shape == tuple(int(s) for s in blocks.attrs["shape"])
    np.testing.assert_allclose(vol[mean.i, mean.j, mean.k], mean.values, rtol=1e-6)
    assert np.count_nonzero(vol) <= len(mean)  # nothing outside the centres
    assert nib.load(path).shape == (40, 20, 1)
    # the map file as a mask: a user passes it back as the centres of the next run
    again = decoding.searchlight(blocks, "label", "lda", cv="run", radius=8.0, process_mask=str(path),
                                 progress=False)
    assert set(zip(again.i.values, again.j.values)) <= set(zip(mean.i.values, mean.j.values))


def test_bad_inputs(blocks):
    box = _box(blocks)
    with pytest.raises(BadInputError, match="radius must be a positive"):
        decoding.searchlight(blocks, "label", radius=0)
    with pytest.raises(BadInputError, match="radius must be a positive"):
        decoding.searchlight(blocks, "label", radius=-3.0)
    with pytest.raises(BadInputError, match="label coord 'category' not found"):
        decoding.searchlight(blocks, "category", radius=5.0)
    with pytest.raises(BadInputError, match="mask selects none"):
        decoding.searchlight(blocks, "label", radius=5.0, mask=np.zeros(blocks.sizes["neuroid"], bool))
    with pytest.raises(BadInputError, match="not on the data's grid"):
        decoding.searchlight(blocks, "label", radius=5.0, mask=np.ones((4, 4, 4), bool))
    with pytest.raises(BadInputError, match="needs voxel positions"):
        decoding.searchlight(blocks.drop_vars(["i", "j", "k"]), "label", radius=5.0, process_mask=box)
    with pytest.raises(BadInputError, match="unknown estimator"):
        decoding.searchlight(blocks, "label", "ldaa", radius=5.0, process_mask=box)


def test_searchlight_rsa_equals_rsatoolbox_per_sphere(blocks):
    """Every sphere's RDM (correlation distance of the category means) against an animacy model,
    Spearman: the map equals rsatoolbox's calc_rdm + compare on the same sphere patterns."""
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import RDMs, calc_rdm
    from rsatoolbox.rdm import compare as rsa_compare

    conds = list(dict.fromkeys(blocks["label"].values.tolist()))
    animate = np.array([c in ("face", "cat") for c in conds])
    model = (animate[:, None] != animate[None, :]).astype(float)
    box = _box(blocks, (16, 20), (7, 10))
    sim = decoding.searchlight_rsa(blocks, model, radius=8.0, process_mask=box, progress=False)
    assert sim.dims == ("model", "voxel") and sim.sizes["model"] == 1
    spheres = decoding.searchlight_spheres(np.stack([blocks[c].values for c in "ijk"], axis=1),
                                           np.asarray(blocks.attrs["affine"]).reshape(4, 4), 8.0,
                                           blocks.attrs["shape"])
    pos = {(int(i), int(j)): n for n, (i, j) in enumerate(zip(blocks.i.values, blocks.j.values))}
    ref_model = RDMs(model[np.triu_indices(len(conds), 1)][None])
    for v in range(sim.sizes["voxel"]):
        sph = spheres[pos[int(sim.i[v]), int(sim.j[v])]]
        means = np.stack([blocks.values[blocks["label"].values == c][:, sph].mean(axis=0) for c in conds])
        ref = rsa_compare(calc_rdm(Dataset(means), method="correlation"), ref_model, method="spearman")[0, 0]
        assert sim.values[0, v] == pytest.approx(ref, abs=1e-8)


def test_roi_patterns_from_atlas_and_masks(blocks, tmp_path):
    import nibabel as nib

    shape = tuple(int(s) for s in blocks.attrs["shape"])
    atlas = np.zeros(shape, dtype=np.int16)
    atlas[:20] = 1
    atlas[20:] = 2
    path = tmp_path / "atlas.nii.gz"
    nib.save(nib.Nifti1Image(atlas, np.asarray(blocks.attrs["affine"]).reshape(4, 4)), path)
    rois = decoding.roi_patterns(blocks, str(path), labels=["background", "left", "right"])
    assert list(rois) == ["left", "right"]
    left = blocks.i.values < 20
    np.testing.assert_array_equal(rois["left"].values, blocks.values[:, left])  # every voxel, not a mean
    assert rois["right"].sizes["neuroid"] == int((~left).sum()) and rois["right"].attrs["roi"] == "right"
    masks = decoding.roi_patterns(blocks, {"a": left, "b": atlas == 2})
    np.testing.assert_array_equal(masks["a"].values, rois["left"].values)
    np.testing.assert_array_equal(masks["b"].values, rois["right"].values)
    with pytest.raises(BadInputError, match="not on the data's grid"):
        decoding.roi_patterns(blocks, np.ones((3, 3, 3), int))
    with pytest.raises(BadInputError, match="selects none"):
        decoding.roi_patterns(blocks, {"empty": np.zeros(shape, bool)})


def test_singular_covariance_falls_back_to_scikit_learn(blocks):
    """No shrinkage, 6 training blocks and up to 21 voxels a sphere: no unique LDA solution; the
    spheres go to scikit-learn's least-squares fit, as nilearn's do."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    keep = np.flatnonzero(np.isin(blocks["label"].values, ["face", "house"]))
    box = _box(blocks, (16, 19), (7, 9))
    est = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=None)
    sl = decoding.searchlight(blocks.isel(trial=keep), "label", est, cv="run", radius=9.3, process_mask=box,
                              progress=False)
    assert sl.attrs["solver"].startswith("batched") and sl.n_features.min() > 6
    ref = _nilearn(blocks, est, 9.3, "roc_auc", box, keep)
    np.testing.assert_allclose(sl.values, ref.scores_[sl.i, sl.j, sl.k], atol=1e-9)


def test_bold_volumes_as_samples_equal_nilearn(data_home):
    """A bold series (time, voxel) with a label per volume: face vs house volumes of 2 runs."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from neurodecode import datasets

    bold = datasets.load("haxby2001", run=[1, 2], resolution="1slice")
    mean = bold.mean("time")
    bold = bold.isel(voxel=np.flatnonzero(mean >= np.quantile(mean, 0.4)))
    fh = bold.isel(time=np.flatnonzero(np.isin(bold["label"].values, ["face", "house"])))
    box = _box(fh, (16, 19), (7, 9))
    sl = decoding.searchlight(fh, "label", "lda", cv="run", radius=6.0, process_mask=box, progress=False)
    assert sl.attrs["cv"].startswith("leave one run out (2 folds)") and len(sl) > 0
    ref = _nilearn(fh, LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"), 6.0, "roc_auc", box)
    np.testing.assert_allclose(sl.values, ref.scores_[sl.i, sl.j, sl.k], atol=1e-9)
