"""Decoding on fMRI volumes: searchlight maps and per-ROI multi-voxel patterns.

* :func:`searchlight`: a cross-validated decoding score in a sphere around every voxel;
* :func:`searchlight_rsa`: the RDM of every sphere compared with model RDMs (the RDM and
  comparison kernels of :mod:`neurodecode.analysis`, one batched call per group of spheres);
* :func:`roi_patterns`: the voxel patterns of each region of an atlas or of a set of masks.

The spheres are those of nilearn's :class:`~nilearn.decoding.SearchLight`: around each centre
voxel, every voxel of the mask whose centre lies within ``radius`` millimetres in world space
(the affine applied to the voxel indices, neighbours found with scikit-learn's
``NearestNeighbors(radius=radius)``), features ordered as the voxels of the volume (C order).
The score of a centre is the mean over folds of the estimator's test score on its sphere, as
nilearn's ``cross_val_score`` per sphere; folds come from the same ``cv`` argument, resolver and
leak guard as :func:`~neurodecode.decoding.cross_validate`.

The solvers give the same scores (:data:`BATCHED_SOLVERS`, tried in order, with ``roc_auc`` (two
classes), ``accuracy`` or ``balanced_accuracy``):

* **batched LDA** for the registered ``lda`` or a scikit-learn
  ``LinearDiscriminantAnalysis(solver="lsqr")`` (shrinkage None, ``"auto"`` or a float): the spheres
  of one size are stacked and every sphere of a fold is fitted in one call of
  :func:`~neurodecode.decoding.time_resolved.batched_lda_fit` (the same kernel as time-resolved
  decoding: spheres take the place of time points);
* **batched Gaussian naive Bayes** for a scikit-learn ``GaussianNB()``: per-voxel class means and
  variances, the joint log-likelihood of every sphere at once;
* **one fit per sphere and fold** for any other estimator (cloned, fitted and scored directly,
  without ``cross_val_score``'s per-call machinery), in chunks of spheres over joblib workers.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..errors import BadInputError
from ._data import Prepared, chance_of, check_train_classes, default_scoring, prepare, resolve_cv, scorer_for
from .estimators import EstimatorContext, make_estimator
from .time_resolved import _lda_shrinkage

__all__ = ["searchlight", "searchlight_rsa", "searchlight_spheres", "roi_patterns", "BATCHED_SOLVERS"]

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


def _volume_on_grid(vol: Any, affine: np.ndarray, shape: tuple[int, ...], what: str) -> tuple[np.ndarray, bool]:
    """A volume given as an array, a NIfTI image or a file (one-volume 4-D images squeezed to 3-D),
    and whether it lies on the data's grid (same shape; same affine when it carries one)."""
    v_affine = None
    if not isinstance(vol, np.ndarray):
        from ..loaders.fmri import _load_img

        img = vol if hasattr(vol, "affine") else _load_img(vol, what)[0]
        vol, v_affine = np.asanyarray(img.dataobj), np.asarray(img.affine, dtype=float)
    vol = np.asarray(np.squeeze(vol, axis=3) if vol.ndim == 4 and vol.shape[3] == 1 else vol)
    return vol, vol.shape == tuple(shape) and (v_affine is None or np.allclose(v_affine, affine, atol=1e-3))


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
        vol, on_grid = _volume_on_grid(mask, affine, shape, what)
        if not on_grid:
            raise BadInputError(
                f"{what} (shape {vol.shape}) is not on the data's grid (shape {tuple(shape)}, affine\n"
                f"{np.round(affine, 3)}); resample it first, e.g. nilearn.image.resample_to_img(mask, img, "
                "interpolation='nearest')."
            )
        sel = (np.isfinite(vol) & (vol != 0))[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    if not sel.any():
        raise BadInputError(f"{what} selects none of the data's {n} voxels; check that it covers the data.")
    return sel


def _centres(obj: xr.DataArray, mask: Any, process_mask: Any
             ) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int], np.ndarray, np.ndarray]:
    """(ijk, affine, shape, feat_pos, centres): the grid, the feature voxels (positions in ``obj``)
    and the centres (positions among the features)."""
    ijk, affine, shape = _grid(obj)
    feat = _voxel_selection(mask, ijk, affine, shape, "mask")
    centre_sel = _voxel_selection(process_mask, ijk, affine, shape, "process_mask") & feat
    if not centre_sel.any():
        raise BadInputError("process_mask selects no voxel of the mask; the centres must lie in the mask.")
    feat_pos = np.flatnonzero(feat)
    return ijk, affine, shape, feat_pos, np.flatnonzero(centre_sel[feat_pos])


def _map_coords(obj: xr.DataArray, space: str, ijk: np.ndarray, centre_pos: np.ndarray,
                sizes: np.ndarray) -> dict[str, Any]:
    """The ``voxel``, ``i``/``j``/``k`` and ``n_features`` coords of a searchlight map."""
    return {
        "voxel": np.asarray(obj[space].values)[centre_pos],
        "i": ("voxel", ijk[centre_pos, 0]), "j": ("voxel", ijk[centre_pos, 1]), "k": ("voxel", ijk[centre_pos, 2]),
        "n_features": ("voxel", np.asarray(sizes, dtype=np.int64)),
    }


def _grid_attrs(obj: xr.DataArray) -> dict[str, Any]:
    return {"affine": np.asarray(obj.attrs["affine"], dtype=float).reshape(16),
            "shape": np.asarray(obj.attrs["shape"], dtype=np.int64).reshape(-1)[:3]}


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


def _gather(X: np.ndarray, rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``X[rows][:, idx]`` (n_rows, S, p) in one gather, without copying ``X[rows]`` over every voxel first."""
    return X[np.asarray(rows)[:, None, None], idx]


def _lda_chunk(X: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], idx: np.ndarray,
               shrinkage: Any, scoring: str, n_classes: int, est: Any, scorer: Any) -> np.ndarray:
    """Scores (n_folds, n_spheres) of LDA on spheres of one size ``idx`` (n_spheres, p).

    Where the covariance is singular (:func:`_singular`) the spheres are fitted one by one by
    scikit-learn (least squares), as nilearn's are.
    """
    from .time_resolved import _batched_score, batched_lda_fit

    out = np.empty((len(folds), len(idx)))
    for f, (tr, te) in enumerate(folds):
        if _singular(y[tr], idx.shape[1], shrinkage):
            out[f] = _looped_chunk(X, y, [(tr, te)], list(idx), est, scorer)[0]
            continue
        G = _gather(X, tr, idx)  # (n_train, S, p)
        try:
            coef, icpt = batched_lda_fit(np.moveaxis(G, 1, 2), y[tr], shrinkage)  # (S, K', p), (S, K')
        except np.linalg.LinAlgError:
            out[f] = _looped_chunk(X, y, [(tr, te)], list(idx), est, scorer)[0]
            continue
        dec = np.einsum("skp,nsp->snk", coef, _gather(X, te, idx)) + icpt[:, None, :]
        out[f] = _batched_score(dec, y[te], scoring, n_classes)
    return out


def _singular(y: np.ndarray, p: int, shrinkage: Any) -> bool:
    """Whether LDA's pooled covariance of ``p`` voxels is singular on training labels ``y``.

    Without shrinkage it has rank at most n - K; Ledoit-Wolf shrinks by 0 when a class has two
    samples (standardised, each voxel is then +-1 and the estimated shrinkage is exactly 0).
    A singular system has no unique solution: scikit-learn returns the least-squares one.
    """
    counts = np.unique(y, return_counts=True)[1]
    if shrinkage in (None, "empirical"):
        return len(y) - len(counts) < p
    if shrinkage == "auto":
        return bool(counts.min() < 3) and int(counts.min()) - 1 < p
    return False


def _looped_chunk(X: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                  spheres: list[np.ndarray], est: Any, scorer: Any) -> np.ndarray:
    """Scores (n_folds, n_spheres): clone, fit and score the estimator per sphere and fold.

    The training and test rows are copied once per fold, on the chunk's voxels only (the union of
    its spheres), and each sphere indexes that copy.
    """
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    out = np.empty((len(folds), len(spheres)))
    vox = np.unique(np.concatenate(spheres))
    spheres = [np.searchsorted(vox, sph) for sph in spheres]  # positions among the chunk's voxels, order kept
    parts = [(X[np.ix_(tr, vox)], y[tr], X[np.ix_(te, vox)], y[te]) for tr, te in folds]
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


def _gnb_chunk(X: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], idx: np.ndarray,
               var_smoothing: float, scoring: str, n_classes: int, est: Any, scorer: Any) -> np.ndarray:
    """Scores (n_folds, n_spheres) of Gaussian naive Bayes on spheres of one size ``idx`` (n_spheres, p).

    scikit-learn's ``GaussianNB`` for every sphere at once: class means and variances of each voxel,
    the variances smoothed by ``var_smoothing`` times the largest variance in the sphere, the joint
    log-likelihood summed over the sphere's voxels; ROC AUC from ``predict_proba`` as the scorer takes it.
    """
    from scipy.special import logsumexp

    from .time_resolved import _batched_score

    out = np.empty((len(folds), len(idx)))
    for f, (tr, te) in enumerate(folds):
        G, ytr = _gather(X, tr, idx), y[tr]  # (n_train, S, p)
        T = _gather(X, te, idx)  # (n_test, S, p)
        eps = var_smoothing * np.var(G, axis=0).max(axis=1)  # (S,)
        jll = np.empty((len(te), len(idx), n_classes))
        for k in range(n_classes):
            in_k = ytr == k
            Gk = G[in_k]
            theta = Gk.mean(axis=0)
            var = ((Gk - theta) ** 2).mean(axis=0) + eps[:, None]  # (S, p)
            jll[..., k] = (np.log(np.mean(in_k)) - 0.5 * np.sum(np.log(2.0 * np.pi * var), axis=1)
                           - 0.5 * np.sum((T - theta) ** 2 / var, axis=2))
        jll = np.moveaxis(jll, 1, 0)  # (S, n_test, K)
        if n_classes == 2 and scoring == "roc_auc":
            dec = np.exp(jll - logsumexp(jll, axis=2, keepdims=True))[..., 1:]
        elif n_classes == 2:
            dec = (jll[..., 1] - jll[..., 0])[..., None]  # class 1 where its likelihood is larger (ties: 0)
        else:
            dec = jll
        out[f] = _batched_score(dec, y[te], scoring, n_classes)
    return out


def _gnb_match(est: Any) -> tuple[bool, Any]:
    from sklearn.naive_bayes import GaussianNB

    if type(est) is not GaussianNB or est.get_params()["priors"] is not None:
        return False, None
    return True, float(est.get_params()["var_smoothing"])


@dataclass(frozen=True)
class _BatchedSolver:
    """A closed form fitted for all spheres of one size at once, equal to the scikit-learn estimator."""

    description: str
    match: Callable[[Any], tuple[bool, Any]]  # estimator -> (handled, parameters of the chunk kernel)
    chunk: Callable[..., np.ndarray]


#: the batched solvers, tried in order; any other estimator is fitted per sphere and fold
BATCHED_SOLVERS: tuple[_BatchedSolver, ...] = (
    _BatchedSolver("batched LDA (spheres of one size per solve)", _lda_shrinkage, _lda_chunk),
    _BatchedSolver("batched Gaussian naive Bayes (spheres of one size at once)", _gnb_match, _gnb_chunk),
)


def _batched_solver(est: Any, scoring: str, n_classes: int, folds: Any, y: np.ndarray
                    ) -> tuple[_BatchedSolver | None, Any]:
    from .time_resolved import _BATCHED_SCORES

    if scoring not in _BATCHED_SCORES or (scoring == "roc_auc" and n_classes != 2):
        return None, None
    # the batched scorer indexes classes 0..K-1: every class must be in every training fold
    if not all(len(np.unique(y[tr])) == n_classes for tr, _ in folds.folds):
        return None, None
    for solver in BATCHED_SOLVERS:
        ok, params = solver.match(est)
        if ok:
            return solver, params
    return None, None


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
        client running...); default threads for the batched solvers, joblib's default
        (processes) otherwise.
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
    ijk, affine, shape, feat_pos, centres = _centres(prep.obj, mask, process_mask)
    scoring = scoring or default_scoring(prep)
    scorer = scorer_for(scoring)
    folds = resolve_cv(cv, prep, seed)
    check_train_classes(prep, folds)
    X = np.ascontiguousarray(prep.X[:, feat_pos])  # centres: rows of X
    spheres = searchlight_spheres(ijk[feat_pos], affine, radius, shape, centres)
    max_p = max(len(s) for s in spheres)
    ctx = EstimatorContext(task=prep.task, sfreq=None, shape=(max_p,),
                           n_samples=int(min(len(tr) for tr, _ in folds.folds)), seed=seed)
    est = make_estimator(estimator, ctx)
    solver, params = (_batched_solver(est, scoring, len(prep.classes), folds, prep.y)
                      if prep.task == "classification" else (None, None))
    batched = solver is not None
    fl = folds.folds
    if solver is not None:
        n_train = max(len(tr) for tr, _ in fl)
        tasks = _batched_tasks(spheres, n_train, n_jobs)
        jobs = (delayed(solver.chunk)(X, prep.y, fl, idx, params, scoring, len(prep.classes), est, scorer)
                for _, idx in tasks)
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
    how = solver.description if solver is not None else "one fit per sphere and fold"
    if solver is not None and solver.chunk is _lda_chunk and any(  # one check per sphere size, not per sphere
            _singular(prep.y[tr], p, params) for p in {len(sph) for sph in spheres} for tr, _ in fl):
        how += "; spheres with a singular covariance fitted one by one (scikit-learn least squares)"
    log.info("searchlight: %d spheres x %d folds, %s, %.1f s", len(spheres), len(fl), how, seconds)
    return _result(scores, prep, space, ijk, feat_pos[centres], spheres, folds, scoring, how, radius, seconds,
                   per_fold)


def _progress(it: Any, total: int, progress: bool | None) -> Any:
    if progress is False:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, total=total, desc="searchlight", unit="chunk", leave=False,
                disable=None if progress is None else False)


def _result(scores: np.ndarray, prep: Prepared, space: str, ijk: np.ndarray, centre_pos: np.ndarray,
            spheres: list[np.ndarray], folds: Any, scoring: str, solver: str, radius: float, seconds: float,
            per_fold: bool) -> xr.DataArray:
    obj = prep.obj
    coords = _map_coords(obj, space, ijk, centre_pos, np.array([len(s) for s in spheres]))
    if per_fold:
        coords.update(fold=np.arange(len(folds.folds)),
                      test_group=("fold", np.asarray(folds.test_names, dtype=object)))
        da = xr.DataArray(scores, dims=("fold", "voxel"), coords=coords, name="score")
    else:
        da = xr.DataArray(scores.mean(axis=0), dims=("voxel",), coords=coords, name="score")
    da.attrs.update(
        nd_kind="searchlight_map", scoring=scoring, chance=chance_of(scoring, prep.y, prep.task),
        cv=folds.description, n_folds=len(folds.folds), radius=float(radius), solver=solver,
        label=prep.label, classes=[str(c) for c in prep.classes], seconds=float(seconds), **_grid_attrs(obj),
    )
    return da


# --------------------------------------------------------------------------- RSA searchlight


def searchlight_rsa(
    data: Any,
    models: Any,
    *,
    radius: float = 5.6,
    stimulus: str = "label",
    mask: Any = None,
    process_mask: Any = None,
    rdm_method: str = "correlation",
    compare_method: str = "spearman",
    runs: str | None = None,
    chunk: int = 1000,
    progress: bool | None = True,
) -> xr.DataArray:
    """Representational similarity in a sphere of ``radius`` mm around every voxel.

    The patterns of each sphere give an RDM (:func:`neurodecode.analysis.rdm`, rows with the
    same ``stimulus`` averaged) compared with every model RDM
    (:func:`neurodecode.analysis.compare`); spheres as in :func:`searchlight`. The spheres are
    computed a chunk at a time, one batched RDM stack and one comparison per chunk of spheres
    of one size.

    Parameters
    ----------
    data : xarray.DataArray
        Voxel responses ``(trial|stimulus, neuroid)`` (or a ``bold`` series) with ``i``/``j``/``k``
        coords and the ``affine``/``shape`` attrs.
    models : xarray.DataArray or array
        Model RDM(s): a stack (``rdm``, ``stimulus``, ``stimulus_``), one (n, n) matrix or
        (k, n, n) matrices, over the stimuli in their order of first appearance in ``data``.
    radius : float
        Sphere radius in millimetres.
    stimulus : str
        The coord on the sample dim naming the condition of each row.
    mask, process_mask
        Feature voxels and centres, as in :func:`searchlight`.
    rdm_method : str
        A dissimilarity of :func:`neurodecode.analysis.rdm` (``crossnobis`` takes ``runs``).
    compare_method : str
        A comparison of :func:`neurodecode.analysis.compare` (``spearman``, ``pearson``,
        ``kendall``, ``tau_a``...).
    runs : str, optional
        ``crossnobis``: the coord on the sample dim holding each row's run.
    chunk : int
        Spheres per batched RDM computation (memory: chunk x stimuli^2 floats).
    progress : bool or None
        Progress bar over chunks.

    Returns
    -------
    xarray.DataArray
        ``similarity`` with dims (``model``, ``voxel``) and the coords/attrs of a
        :func:`searchlight` map (:func:`neurodecode.loaders.to_nifti` of one model's map gives
        the NIfTI image); attrs ``rdm_method``, ``compare_method``, ``radius``.
    """
    from ..analysis import compare, rdm
    from ._data import sample_dim_of

    _check_radius(radius)
    if not isinstance(data, xr.DataArray):
        raise BadInputError(f"data must be an xarray DataArray of voxel responses, got {type(data).__name__}.")
    dim = sample_dim_of(data)
    obj = data.transpose(dim, ...)
    space = _space_dim(obj, dim)
    if stimulus not in obj.coords or obj[stimulus].dims != (dim,):
        on_dim = sorted(str(c) for c in obj.coords if obj[c].dims == (dim,))
        raise BadInputError(f"stimulus coord {stimulus!r} not found on {dim!r}; coords there: {on_dim}.")
    X = np.asarray(obj.values, dtype=float)
    if not np.isfinite(X).all():
        raise BadInputError("data hold NaN/inf; drop or interpolate those values first.")
    ijk, affine, shape, feat_pos, centres = _centres(obj, mask, process_mask)
    spheres = searchlight_spheres(ijk[feat_pos], affine, radius, shape, centres)
    X = X[:, feat_pos]
    labels = np.asarray(obj[stimulus].values)
    trial_coords: dict[str, Any] = {"stimulus": ("trial", labels)}
    if runs is not None:
        if runs not in obj.coords or obj[runs].dims != (dim,):
            raise BadInputError(f"runs coord {runs!r} not found on {dim!r}.")
        trial_coords["run"] = ("trial", np.asarray(obj[runs].values))
    conds = list(dict.fromkeys(labels.tolist()))  # rdm's order: first appearance
    models = _aligned_models(models, conds)
    if runs is None:  # rows of one stimulus averaged once for all voxels (rdm would per sphere)
        code_of = {c: i for i, c in enumerate(conds)}
        codes = np.asarray([code_of[v] for v in labels.tolist()])
        X = np.stack([X[codes == c].mean(axis=0) for c in range(len(conds))])
    sizes = np.array([len(s) for s in spheres])
    out: np.ndarray | None = None
    tasks = []
    for p in np.unique(sizes):
        pos = np.flatnonzero(sizes == p)
        tasks += [pos[a:a + max(1, int(chunk))] for a in range(0, len(pos), max(1, int(chunk)))]
    for pos in _progress(tasks, len(tasks), progress):
        idx = np.stack([spheres[i] for i in pos])  # (S, p)
        if runs is None:
            rdms = rdm(np.moveaxis(X[:, idx], 1, 0), rdm_method)  # (S, n_cond, p) condition patterns
        else:
            stack = xr.DataArray(np.moveaxis(X[:, idx], 1, 0), dims=("sphere", "trial", "feature"),
                                 coords={"sphere": pos, **trial_coords})
            rdms = rdm(stack, rdm_method, runs="run")
        sim = compare(rdms, models[0], compare_method)  # (rdm_a = sphere, rdm_b = model)
        if out is None:
            out = np.full((sim.sizes["rdm_b"], len(spheres)), np.nan)
        out[:, pos] = sim.transpose("rdm_b", "rdm_a").values
    assert out is not None
    da = xr.DataArray(out, dims=("model", "voxel"), name="similarity",
                      coords={"model": models[1], **_map_coords(obj, space, ijk, feat_pos[centres], sizes)})
    da.attrs.update(nd_kind="searchlight_map", rdm_method=rdm_method, compare_method=compare_method,
                    radius=float(radius), stimulus=stimulus, **_grid_attrs(obj))
    return da


def _aligned_models(models: Any, conds: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Model RDMs as (k, n, n) numpy over ``conds`` and their names; a labelled stack is checked."""
    names = None
    if isinstance(models, xr.DataArray):
        if "stimulus" in models.dims:
            got = [str(v) for v in models["stimulus"].values]
            if got != [str(c) for c in conds]:
                raise BadInputError(f"the model RDMs list the stimuli {got}; the data's stimuli, in order of first "
                                    f"appearance, are {[str(c) for c in conds]}: reorder the models with "
                                    ".sel(stimulus=..., stimulus_=...).")
        if "rdm" in models.dims:
            names = np.asarray(models["rdm"].values)
            models = models.transpose("rdm", ...)
        models = models.values
    arr = np.asarray(models, dtype=float)
    arr = arr[None] if arr.ndim == 2 else arr
    n = len(conds)
    if arr.ndim != 3 or arr.shape[1:] != (n, n):
        raise BadInputError(f"models must be (n, n) or (k, n, n) RDMs over the data's {n} stimuli, got shape "
                            f"{np.shape(models)}.")
    return arr, np.arange(len(arr)) if names is None else names


# --------------------------------------------------------------------------- ROI patterns


def roi_patterns(data: Any, rois: Any, *, labels: Sequence[str] | None = None,
                 min_voxels: int = 1) -> dict[str, xr.DataArray]:
    """The multi-voxel pattern of each region: the data restricted to its voxels.

    Parameters
    ----------
    data : xarray.DataArray
        Voxel data (``bold`` (time, voxel) or responses (trial, neuroid)) with ``i``/``j``/``k``
        coords and the ``affine``/``shape`` attrs.
    rois : labels image, or dict / list of masks
        An atlas: a NIfTI image or file (or integer volume) on the data's grid, one integer per
        region (0: background); or a dict name -> mask, or a list of masks (each a NIfTI image
        or file, a boolean volume or a boolean per voxel).
    labels : sequence of str, optional
        Atlas region names, indexed by the region value (``labels[v]``); default ``str(v)``.
    min_voxels : int
        Regions with fewer voxels of ``data`` raise an error.

    Returns
    -------
    dict of str -> xarray.DataArray
        Per region, ``data`` on its voxels only (same dims, coords and attrs, plus
        ``attrs['roi']``): ready for :func:`~neurodecode.decoding.cross_validate` per region, or
        for :func:`neurodecode.analysis.rdm` as a dict (one RDM per region).
    """
    from ._data import sample_dim_of

    if not isinstance(data, xr.DataArray):
        raise BadInputError(f"data must be an xarray DataArray of voxel data, got {type(data).__name__}.")
    space = _space_dim(data, sample_dim_of(data))
    ijk, affine, shape = _grid(data)
    if isinstance(rois, dict):
        named = {str(k): _voxel_selection(v, ijk, affine, shape, f"mask {k!r}") for k, v in rois.items()}
    elif isinstance(rois, (list, tuple)):
        named = {f"roi{n}": _voxel_selection(v, ijk, affine, shape, f"mask {n}") for n, v in enumerate(rois)}
    else:
        vol = _atlas_volume(rois, affine, shape)
        values = vol[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
        regions = [v for v in np.unique(values) if v != 0]
        if not regions:
            raise BadInputError("the atlas holds no region (non-zero value) over the data's voxels.")
        if labels is not None and max(regions) >= len(labels):
            raise BadInputError(f"labels name {len(labels)} regions but the atlas holds region value {max(regions)}.")
        named = {(str(labels[int(v)]) if labels is not None else str(int(v))): values == v for v in regions}
    if not named:
        raise BadInputError("no region given; pass an atlas image or at least one mask.")
    out = {}
    for name, sel in named.items():
        if sel.sum() < max(1, int(min_voxels)):
            raise BadInputError(f"region {name!r} holds {int(sel.sum())} voxel(s) of the data, fewer than "
                                f"min_voxels={min_voxels}.")
        part = data.isel({space: np.flatnonzero(sel)})
        part.attrs = {**data.attrs, "roi": name}
        out[name] = part
    return out


def _atlas_volume(atlas: Any, affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    vol, on_grid = _volume_on_grid(atlas, affine, shape, "atlas")
    if not on_grid:
        raise BadInputError(f"the atlas (shape {vol.shape}) is not on the data's grid (shape {tuple(shape)}); "
                            "resample it with nilearn.image.resample_to_img(atlas, img, interpolation='nearest').")
    if not np.all(np.isfinite(vol)) or np.any(vol != np.round(vol)):
        raise BadInputError("the atlas must hold whole region numbers (a labels image), not probabilities.")
    return vol.astype(np.int64)
