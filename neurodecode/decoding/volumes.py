"""Decoding on fMRI volumes: searchlight maps (a cross-validated score in a sphere around every voxel).

The spheres are those of nilearn's :class:`~nilearn.decoding.SearchLight`: around each centre
voxel, every voxel of the mask whose centre lies within ``radius`` millimetres in world space
(the affine applied to the voxel indices, neighbours found with scikit-learn's
``NearestNeighbors(radius=radius)``), features ordered as the voxels of the volume (C order).
The score of a centre is the mean over folds of the estimator's test score on its sphere, as
nilearn's ``cross_val_score`` per sphere; folds come from the same ``cv`` argument, resolver and
leak guard as :func:`~neurodecode.decoding.cross_validate`.

Two solvers give the same scores:

* **batched LDA** for the registered ``lda`` or a scikit-learn
  ``LinearDiscriminantAnalysis(solver="lsqr")`` (shrinkage None, ``"auto"`` or a float) with
  ``roc_auc`` (two classes), ``accuracy`` or ``balanced_accuracy``: the spheres of one size are
  stacked and every sphere of a fold is fitted in one call of
  :func:`~neurodecode.decoding.time_resolved.batched_lda_fit` (the same kernel as time-resolved
  decoding: spheres take the place of time points);
* **one fit per sphere and fold** for any other estimator (cloned, fitted and scored directly,
  without ``cross_val_score``'s per-call machinery), in chunks of spheres over joblib workers.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import BadInputError
from ._data import Prepared, chance_of, default_scoring, prepare, resolve_cv, scorer_for
from .estimators import EstimatorContext, make_estimator

__all__ = ["searchlight", "searchlight_spheres"]

log = logging.getLogger(__name__)

_SPACE_DIMS = ("voxel", "neuroid")
_BATCH_FLOATS = 4_000_000  # floats of gathered training data per batched chunk


# --------------------------------------------------------------------------- voxel geometry


def _space_dim(obj: xr.DataArray, sample_dim: str) -> str:
    others = [d for d in obj.dims if d != sample_dim]
    if len(others) != 1:
        raise BadInputError(f"searchlight needs 2-D data (samples, voxels); got dims {tuple(obj.dims)}.")
    space = str(others[0])
    missing = [c for c in ("i", "j", "k") if c not in obj.coords or obj[c].dims != (space,)]
    if missing or "affine" not in obj.attrs or "shape" not in obj.attrs:
        raise BadInputError(
            f"searchlight needs voxel positions: i/j/k coords on {space!r} and the 'affine' and 'shape' attrs "
            f"(missing coords {missing}, attrs {[a for a in ('affine', 'shape') if a not in obj.attrs]}). "
            "Read the series with neurodecode.loaders.read_bold (ROI signals have no voxels to search)."
        )
    return space


def _grid(obj: xr.DataArray) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    ijk = np.stack([np.asarray(obj[c].values) for c in ("i", "j", "k")], axis=1).astype(np.int64)
    affine = np.asarray(obj.attrs["affine"], dtype=float).reshape(4, 4)
    shape = tuple(int(s) for s in np.asarray(obj.attrs["shape"]).reshape(-1)[:3])
    return ijk, affine, shape  # type: ignore[return-value]


def _world(ijk: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Millimetre coordinates of voxel centres, computed as nilearn's ``coord_transform``."""
    h = np.vstack([ijk.T.astype(float), np.ones(len(ijk))])
    return np.dot(affine, h)[:3].T


def _voxel_selection(mask: Any, ijk: np.ndarray, affine: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Boolean per voxel of the data from a mask given per voxel, as a volume, an image or a file."""
    n = len(ijk)
    if mask is None:
        return np.ones(n, dtype=bool)
    if isinstance(mask, xr.DataArray):
        mask = mask.values
    if isinstance(mask, np.ndarray) and mask.ndim == 1:
        if mask.shape[0] != n:
            raise BadInputError(f"{what} given per voxel has {mask.shape[0]} values for {n} voxels.")
        sel = np.asarray(mask, dtype=bool)
    else:
        if isinstance(mask, np.ndarray):
            vol, m_affine = mask, None
        else:
            from ..loaders.fmri import _load_img

            img, _ = _load_img(mask, what) if not hasattr(mask, "affine") else (mask, None)
            vol, m_affine = np.asanyarray(img.dataobj), np.asarray(img.affine, dtype=float)
        vol = np.squeeze(vol, axis=3) if vol.ndim == 4 and vol.shape[3] == 1 else vol
        if vol.shape != tuple(shape) or (m_affine is not None and not np.allclose(m_affine, affine, atol=1e-3)):
            raise BadInputError(
                f"{what} (shape {vol.shape}) is not on the data's grid (shape {tuple(shape)}, affine\n"
                f"{np.round(affine, 3)}); resample it first, e.g. nilearn.image.resample_to_img(mask, img, "
                "interpolation='nearest')."
            )
        vol = np.asarray(vol)
        sel = (np.isfinite(vol) & (vol != 0))[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    if not sel.any():
        raise BadInputError(f"{what} selects none of the data's {n} voxels; check that it covers the data.")
    return sel


def searchlight_spheres(
    ijk: np.ndarray, affine: np.ndarray, radius: float, shape: Sequence[int], centres: np.ndarray | None = None
) -> list[np.ndarray]:
    """Feature indices of the sphere around each centre voxel, as nilearn's ``SearchLight``.

    Parameters
    ----------
    ijk : array (n_voxels, 3)
        Voxel indices of the features (the mask).
    affine : array (4, 4)
        Voxel indices -> millimetres.
    radius : float
        Sphere radius in millimetres (> 0).
    shape : sequence of 3 int
        Volume shape (orders each sphere's voxels as the volume does, C order).
    centres : array of int, optional
        Positions (rows of ``ijk``) of the centres; default every voxel.

    Returns
    -------
    list of int arrays
        For each centre, the rows of ``ijk`` within ``radius`` mm (the centre included), in C
        order of the volume.
    """
    from sklearn.neighbors import NearestNeighbors

    _check_radius(radius)
    ijk = np.asarray(ijk, dtype=np.int64)
    centres = np.arange(len(ijk)) if centres is None else np.asarray(centres, dtype=np.int64)
    coords = _world(ijk, np.asarray(affine, dtype=float))
    nn = NearestNeighbors(radius=float(radius)).fit(coords)
    rows = nn.radius_neighbors(coords[centres], return_distance=False)
    order = np.argsort(np.ravel_multi_index(tuple(ijk.T), tuple(int(s) for s in shape)), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    out = []
    for c, r in zip(centres, rows):
        r = np.union1d(r, [c])  # the centre voxel, as nilearn adds the seed's own voxel
        out.append(r[np.argsort(rank[r], kind="stable")])
    return out


def _check_radius(radius: Any) -> None:
    try:
        ok = float(radius) > 0 and np.isfinite(float(radius))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise BadInputError(f"radius must be a positive number of millimetres, got {radius!r}.")


# --------------------------------------------------------------------------- solvers


def _batched_chunk(X: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], idx: np.ndarray,
                   shrinkage: Any, scoring: str, n_classes: int) -> np.ndarray:
    """Scores (n_folds, n_spheres) of LDA on spheres of one size ``idx`` (n_spheres, p)."""
    from .time_resolved import _batched_score, batched_lda_fit

    out = np.empty((len(folds), len(idx)))
    for f, (tr, te) in enumerate(folds):
        G = X[tr][:, idx]  # (n_train, S, p)
        coef, icpt = batched_lda_fit(np.moveaxis(G, 1, 2), y[tr], shrinkage)  # (S, K', p), (S, K')
        dec = np.einsum("skp,nsp->snk", coef, X[te][:, idx]) + icpt[:, None, :]
        out[f] = _batched_score(dec, y[te], scoring, n_classes)
    return out


def _looped_chunk(X: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                  spheres: list[np.ndarray], est: Any, scorer: Any) -> np.ndarray:
    """Scores (n_folds, n_spheres): clone, fit and score the estimator per sphere and fold."""
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    out = np.empty((len(folds), len(spheres)))
    parts = [(X[tr], y[tr], X[te], y[te]) for tr, te in folds]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for s, sph in enumerate(spheres):
            for f, (Xtr, ytr, Xte, yte) in enumerate(parts):
                m = clone(est).fit(Xtr[:, sph], ytr)
                out[f, s] = scorer(m, Xte[:, sph], yte)
    return out


def _batched_tasks(spheres: list[np.ndarray], n_train: int, n_jobs: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(positions, stacked sphere indices) per chunk: spheres grouped by size, chunks bounded in memory."""
    sizes = np.array([len(s) for s in spheres])
    tasks = []
    for p in np.unique(sizes):
        pos = np.flatnonzero(sizes == p)
        per = max(1, min(_BATCH_FLOATS // max(1, n_train * int(p)), -(-len(pos) // max(1, n_jobs))))
        for start in range(0, len(pos), per):
            sel = pos[start:start + per]
            tasks.append((sel, np.stack([spheres[i] for i in sel])))
    return tasks


def _lda_batchable(est: Any, scoring: str, n_classes: int, folds: Any, y: np.ndarray) -> tuple[bool, Any]:
    from .time_resolved import _BATCHED_SCORES, _lda_shrinkage

    ok, shrink = _lda_shrinkage(est)
    ok = ok and scoring in _BATCHED_SCORES and (scoring != "roc_auc" or n_classes == 2)
    # the batched scorer indexes classes 0..K-1: every class must be in every training fold
    ok = ok and all(len(np.unique(y[tr])) == n_classes for tr, _ in folds.folds)
    return ok, shrink


# --------------------------------------------------------------------------- public


def searchlight(
    data: Any,
    label: str | Any,
    estimator: Any = "lda",
    cv: Any = None,
    *,
    radius: float = 5.6,
    mask: Any = None,
    process_mask: Any = None,
    scoring: str | None = None,
    per_fold: bool = False,
    n_jobs: int = 1,
    backend: str | None = None,
    progress: bool | None = True,
    seed: int = 0,
    task: str | None = None,
) -> xr.DataArray:
    """Cross-validated decoding in a sphere of ``radius`` mm around every voxel.

    Parameters
    ----------
    data : xarray.DataArray
        Voxel samples: responses ``(trial, neuroid)`` from
        :func:`neurodecode.preprocess.fmri.block_responses` / ``glm_betas``, or a ``bold``
        series ``(time, voxel)`` with a label per volume; ``i``/``j``/``k`` coords on the voxel
        dim and the ``affine``/``shape`` attrs (as :func:`neurodecode.loaders.read_bold` gives).
    label : str or array-like
        A coord on the sample dim or one value per sample.
    estimator : str or scikit-learn estimator
        A registered name (default ``lda``: batched over spheres) or any estimator.
    cv : str, int or splitter, optional
        As in :func:`~neurodecode.decoding.cross_validate` (default: leave one run out when the
        data hold several runs); every fold goes through the leak guard.
    radius : float
        Sphere radius in millimetres (nilearn's example uses 5.6).
    mask : optional
        The voxels used as features (and centres): a boolean per voxel, a boolean volume of the
        data's shape, a NIfTI image or file on the data's grid. Default: every voxel of ``data``.
    process_mask : optional
        The centres, among the masked voxels (same forms); default every masked voxel.
    scoring : str, optional
        A scikit-learn scorer name; default ``roc_auc`` (two classes), ``balanced_accuracy``
        (more), ``r2`` (continuous target).
    per_fold : bool
        Return the score of every fold (dims ``fold``, ``voxel``) instead of their mean.
    n_jobs : int
        joblib workers over chunks of spheres.
    backend : str, optional
        joblib backend (``"loky"``, ``"threading"``, ``"dask"`` with a ``dask.distributed``
        client running...); default threads for the batched LDA, joblib's default (processes)
        otherwise.
    progress : bool or None
        Show a progress bar over chunks of spheres (tqdm; ``None``: only on a terminal).
    seed, task
        As in :func:`~neurodecode.decoding.cross_validate`.

    Returns
    -------
    xarray.DataArray
        ``score`` on ``voxel`` (the centres; with ``per_fold``: ``fold``, ``voxel``), with the
        ``i``/``j``/``k`` coords, ``n_features`` (voxels in each sphere) and the
        ``affine``/``shape`` attrs, so :func:`neurodecode.loaders.to_nifti` turns it into a
        NIfTI map; attrs ``scoring``, ``chance``, ``cv``, ``radius``, ``solver``, ``seconds``.

    Raises
    ------
    BadInputError
        No voxel positions, ``radius <= 0``, an empty mask, a missing label, NaN in the data,
        an unknown estimator or scoring, leaking folds.

    Examples
    --------
    >>> from neurodecode import datasets, decoding                           # doctest: +SKIP
    >>> from neurodecode.preprocess import fmri                              # doctest: +SKIP
    >>> bold = datasets.load("haxby2001", resolution="1slice")               # doctest: +SKIP
    >>> blocks = fmri.block_responses(fmri.clean(bold, standardize="zscore"))  # doctest: +SKIP
    >>> sl = decoding.searchlight(blocks, "label", "lda", cv="run", radius=8)   # doctest: +SKIP
    >>> img = neurodecode.loaders.to_nifti(sl)                               # doctest: +SKIP
    """
    from joblib import Parallel, delayed, parallel_config

    t0 = time.perf_counter()
    _check_radius(radius)
    prep: Prepared = prepare(data, label, task)
    space = _space_dim(prep.obj, prep.sample_dim)
    ijk, affine, shape = _grid(prep.obj)
    feat = _voxel_selection(mask, ijk, affine, shape, "mask")
    centre_sel = _voxel_selection(process_mask, ijk, affine, shape, "process_mask") & feat
    if not centre_sel.any():
        raise BadInputError("process_mask selects no voxel of the mask; the centres must lie in the mask.")
    scoring = scoring or default_scoring(prep)
    scorer = scorer_for(scoring)
    folds = resolve_cv(cv, prep, seed)
    if prep.task == "classification":
        for i, (tr, _) in enumerate(folds.folds):
            if len(np.unique(prep.y[tr])) < 2:
                raise BadInputError(f"fold {folds.test_names[i]}: the training side holds a single class; "
                                    "choose another cv.")
    feat_pos = np.flatnonzero(feat)
    X = np.ascontiguousarray(prep.X[:, feat_pos])
    centres = np.flatnonzero(centre_sel[feat_pos])  # rows of X
    spheres = searchlight_spheres(ijk[feat_pos], affine, radius, shape, centres)
    max_p = max(len(s) for s in spheres)
    ctx = EstimatorContext(task=prep.task, sfreq=None, shape=(max_p,),
                           n_samples=int(min(len(tr) for tr, _ in folds.folds)), seed=seed)
    est = make_estimator(estimator, ctx)
    batched, shrink = (_lda_batchable(est, scoring, len(prep.classes), folds, prep.y)
                       if prep.task == "classification" else (False, None))
    fl = folds.folds
    if batched:
        n_train = max(len(tr) for tr, _ in fl)
        tasks = _batched_tasks(spheres, n_train, n_jobs)
        jobs = (delayed(_batched_chunk)(X, prep.y, fl, idx, shrink, scoring, len(prep.classes)) for _, idx in tasks)
        where = [pos for pos, _ in tasks]
    else:
        n_chunks = min(len(spheres), max(4 * max(1, n_jobs if n_jobs > 0 else 2), len(spheres) // 200))
        where = [a for a in np.array_split(np.arange(len(spheres)), n_chunks) if len(a)]
        jobs = (delayed(_looped_chunk)(X, prep.y, fl, [spheres[i] for i in pos], est, scorer) for pos in where)
    scores = np.full((len(fl), len(spheres)), np.nan)
    # the batched solver spends its time in BLAS and numpy kernels that release the GIL: threads,
    # without the start-up and data transfer of worker processes
    config = {"backend": backend or ("threading" if batched else None)}
    config = {k: v for k, v in config.items() if v}
    with parallel_config(**config):
        results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
        for pos, res in zip(where, _progress(results, len(where), progress)):
            scores[:, pos] = res
    seconds = time.perf_counter() - t0
    solver = "batched LDA (spheres of one size per solve)" if batched else "one fit per sphere and fold"
    log.info("searchlight: %d spheres x %d folds, %s, %.1f s", len(spheres), len(fl), solver, seconds)
    return _result(scores, prep, space, feat_pos[centres], spheres, folds, scoring, solver, radius, seconds,
                   per_fold)


def _progress(it: Any, total: int, progress: bool | None) -> Any:
    if progress is False:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, total=total, desc="searchlight", unit="chunk", leave=False,
                disable=None if progress is None else False)


def _result(scores: np.ndarray, prep: Prepared, space: str, centre_pos: np.ndarray, spheres: list[np.ndarray],
            folds: Any, scoring: str, solver: str, radius: float, seconds: float, per_fold: bool) -> xr.DataArray:
    obj = prep.obj
    coords: dict[str, Any] = {
        "voxel": np.asarray(obj[space].values)[centre_pos],
        "i": ("voxel", np.asarray(obj["i"].values, dtype=np.int64)[centre_pos]),
        "j": ("voxel", np.asarray(obj["j"].values, dtype=np.int64)[centre_pos]),
        "k": ("voxel", np.asarray(obj["k"].values, dtype=np.int64)[centre_pos]),
        "n_features": ("voxel", np.array([len(s) for s in spheres], dtype=np.int64)),
    }
    if per_fold:
        coords.update(fold=np.arange(len(folds.folds)),
                      test_group=("fold", np.asarray(folds.test_names, dtype=object)))
        da = xr.DataArray(scores, dims=("fold", "voxel"), coords=coords, name="score")
    else:
        da = xr.DataArray(scores.mean(axis=0), dims=("voxel",), coords=coords, name="score")
    da.attrs.update(
        nd_kind="searchlight_map", scoring=scoring, chance=chance_of(scoring, prep.y, prep.task),
        cv=folds.description, n_folds=len(folds.folds), radius=float(radius), solver=solver,
        label=prep.label, classes=[str(c) for c in prep.classes], seconds=float(seconds),
        affine=np.asarray(obj.attrs["affine"], dtype=float).reshape(16),
        shape=np.asarray(obj.attrs["shape"], dtype=np.int64).reshape(-1)[:3],
    )
    return da
