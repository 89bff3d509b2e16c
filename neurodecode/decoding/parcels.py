"""Ward parcels of voxels fitted on training data, and the parcel-mean transformer built on them."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..errors import BadInputError

__all__ = ["ParcelMeans", "ward_parcels"]


def ward_parcels(values: np.ndarray, n_rois: int, ijk: np.ndarray | None = None,
                 grid_shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Parcel index (0 .. n_rois - 1) of each voxel: Ward clustering of the voxel time series.

    Parameters
    ----------
    values : array (n_times, n_voxels)
        Time series of the voxels (training data only).
    n_rois : int
    ijk : int array (n_voxels, 3), optional
        Voxel indices on the grid: with ``grid_shape``, parcels are spatially contiguous.
    grid_shape : tuple of 3 int, optional

    Returns
    -------
    numpy.ndarray
        Parcel of each voxel, numbered by increasing mean ``i`` then ``j`` of the parcel's voxels
        (unstructured parcels: by first appearance).
    """
    from sklearn.cluster import FeatureAgglomeration

    n_vox = values.shape[1]
    if not 2 <= n_rois <= n_vox:
        raise BadInputError(f"n_rois must be between 2 and the number of voxels ({n_vox}), got {n_rois}.")
    if ijk is None or grid_shape is None:
        agg = FeatureAgglomeration(n_clusters=int(n_rois), linkage="ward").fit(np.asarray(values, dtype=np.float64))
        _, first = np.unique(agg.labels_, return_index=True)
        relabel = np.empty(int(n_rois), dtype=np.int64)
        relabel[np.argsort(first)] = np.arange(int(n_rois))
        return relabel[agg.labels_]
    from sklearn.feature_extraction.image import grid_to_graph

    ijk = np.asarray(ijk, dtype=np.int64)
    if ijk.shape != (n_vox, 3):
        raise BadInputError(f"ijk must be (n_voxels={n_vox}, 3), got {ijk.shape}.")
    flat = np.ravel_multi_index(tuple(ijk.T), grid_shape)
    if np.unique(flat).size != n_vox:
        raise BadInputError("two voxels share the same i/j/k index; the voxel coords are broken.")
    order = np.argsort(flat)  # grid_to_graph numbers the mask's voxels in C order
    mask = np.zeros(grid_shape, dtype=bool)
    mask[tuple(ijk.T)] = True
    conn = grid_to_graph(*grid_shape, mask=mask)
    agg = FeatureAgglomeration(n_clusters=int(n_rois), connectivity=conn, linkage="ward")
    agg.fit(np.asarray(values, dtype=np.float64)[:, order])
    labels = np.empty(n_vox, dtype=np.int64)
    labels[order] = agg.labels_
    centroid = np.array([ijk[labels == k].mean(axis=0) for k in range(int(n_rois))])
    rank = np.lexsort((centroid[:, 1], centroid[:, 0]))
    relabel = np.empty_like(rank)
    relabel[rank] = np.arange(rank.size)
    return relabel[labels]


class ParcelMeans(TransformerMixin, BaseEstimator):
    """Mean of the voxels of each Ward parcel, the parcels fitted on the training samples' volumes.

    ``fit`` clusters the voxel time series of the training inputs (every volume of every sample of
    ``(sample, voxel, time)`` inputs; every sample of ``(sample, voxel)`` inputs) into ``n_rois``
    parcels with :func:`ward_parcels`; ``transform`` averages the voxels of each parcel, keeping
    the input's other axes: ``(sample, roi[, time])``.

    Parameters
    ----------
    n_rois : int
    ijk, grid_shape : optional
        Voxel grid indices ``(n_voxels, 3)`` and the grid's shape: parcels are spatially contiguous.
    """

    def __init__(self, n_rois: int = 48, ijk: Any = None, grid_shape: Any = None):
        self.n_rois = n_rois
        self.ijk = ijk
        self.grid_shape = grid_shape

    def fit(self, X: Any, y: Any = None) -> ParcelMeans:
        X = np.asarray(X)
        if X.ndim not in (2, 3):
            raise BadInputError(f"ParcelMeans needs (sample, voxel) or (sample, voxel, time) inputs, got {X.shape}.")
        series = X if X.ndim == 2 else X.transpose(0, 2, 1).reshape(-1, X.shape[1])
        shape = None if self.grid_shape is None else tuple(int(v) for v in self.grid_shape)
        self.parcel_ = ward_parcels(series, int(self.n_rois), self.ijk, shape)
        w = np.zeros((X.shape[1], int(self.n_rois)), dtype=np.float32)
        w[np.arange(X.shape[1]), self.parcel_] = 1.0
        self.weights_ = w / w.sum(axis=0, keepdims=True)
        return self

    def transform(self, X: Any) -> np.ndarray:
        from ..encoders.estimators import require_fitted

        require_fitted(self, "weights_")
        X = np.asarray(X)
        if X.ndim not in (2, 3) or X.shape[1] != self.weights_.shape[0]:
            raise BadInputError(f"ParcelMeans was fitted on {self.weights_.shape[0]} voxels; got inputs {X.shape}.")
        if X.ndim == 2:
            return X @ self.weights_
        return np.einsum("nvt,vr->nrt", X, self.weights_)
