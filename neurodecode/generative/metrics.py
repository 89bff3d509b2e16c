"""Image reconstruction metrics, with the conventions of the fMRI reconstruction literature.

The metrics and their conventions follow the papers that report them side by side (Takagi &
Nishimoto 2023; Ozcelik & VanRullen 2023, "Brain-Diffuser"; Scotti et al. 2023, "MindEye"), so that
numbers computed here can be put next to theirs:

:func:`pixcorr`
    Pearson correlation between the flattened RGB pixels of an image and of its reconstruction, both
    resized to ``size x size`` (default :data:`DEFAULT_SIZE` = 425, the NSD stimulus size) with
    antialiased bilinear interpolation (PIL's, which gives torchvision's ``Resize`` to about 1e-6);
    averaged over images.
:func:`ssim`
    Structural similarity of the grey-scale images (scikit-image's ``rgb2gray`` luminance weights
    :data:`GREY_WEIGHTS`) at the same size, with a Gaussian window of sigma 1.5 (truncated at 3.5
    sigma), population covariances (``use_sample_covariance=False``), data range 1 and the borders
    of half a window left out; averaged over images. Equals ``skimage.metrics.structural_similarity(
    ..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)`` image by
    image, computed for a batch of images at once.
:func:`two_way_identification`
    For each reconstruction ``i``: the fraction of the other images ``j`` for which the features of
    the reconstruction correlate better with those of its own image than with those of image ``j``;
    averaged over reconstructions. Chance 0.5, perfect 1.0.
:func:`feature_distance`
    Mean correlation distance ``1 - r`` between the features of each image and its reconstruction
    (the "EffNet-B" and "SwAV" columns of Brain-Diffuser and MindEye). 0 is perfect.
:func:`retrieval_topk`, :func:`nway_retrieval`
    Retrieval by cosine similarity between brain-derived and image embeddings: top-k accuracy over
    the whole set, or over random ``n_way``-sized subsets (MindEye: 300-way, 30 draws). Chance k/N.

Images are ``(n, height, width, 3)`` float arrays with values in [0, 1] (numpy arrays, torch tensors
or ``(stimulus, y, x, rgb)`` DataArrays; values at most 1e-6 outside, the rounding error of a filter,
are clipped); image ``i`` of ``pred`` is the reconstruction of image ``i``
of ``true``. Features and embeddings are ``(n, ...)`` arrays, flattened to ``(n, d)``.

Importing this module imports numpy only; scipy, PIL and torch load inside the functions that need
them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BadInputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "pixcorr",
    "ssim",
    "two_way_identification",
    "feature_distance",
    "retrieval_topk",
    "nway_retrieval",
    "extract_features",
    "reconstruction_scores",
    "DEFAULT_SIZE",
    "SSIM_SIGMA",
    "GREY_WEIGHTS",
]

#: Side (pixels) both images are resized to for PixCorr and SSIM, as in MindEye (NSD images are 425 x 425).
DEFAULT_SIZE = 425
#: Standard deviation (pixels) of the Gaussian SSIM window (Wang et al. 2004).
SSIM_SIGMA = 1.5
#: Luminance weights of the grey-scale conversion for SSIM (ITU-R BT.709, those of skimage's rgb2gray).
GREY_WEIGHTS = (0.2125, 0.7154, 0.0721)

_TRUNCATE = 3.5  # Gaussian window radius in sigmas (scikit-image's SSIM)
_K1, _K2 = 0.01, 0.03  # SSIM stabilising constants
_RANGE_SLACK = 1e-6  # pixels this far outside [0, 1] (float rounding) are clipped, not refused
_CHUNK = 32  # images per vectorised step of pixcorr/ssim (bounds memory at 425 x 425)
_DIRECTIONS = ("brain2image", "image2brain")


# --------------------------------------------------------------------------- input checks


def _to_numpy(x: Any) -> Any:
    """Torch tensors and DataArrays to numpy (other inputs pass through)."""
    module = type(x).__module__
    if module.startswith("torch"):
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.double()
        return x.numpy()
    return x


def _as_images(x: Any, name: str) -> np.ndarray:
    """Check ``x`` is a batch of RGB images in [0, 1]; return it as float64 (n, h, w, 3)."""
    if type(x).__module__.startswith("xarray"):
        dims = tuple(x.dims)
        other = [d for d in dims if d not in ("y", "x", "rgb")]
        if x.ndim != 4 or len(other) != 1:
            raise BadInputError(
                f"{name}: an image DataArray needs dims (stimulus, y, x, rgb), got {dims}; rename "
                "its dims with .rename({...})."
            )
        x = x.transpose(other[0], "y", "x", "rgb").values
    arr = np.asarray(_to_numpy(x))
    if arr.ndim != 4 or arr.shape[-1] != 3:
        hint = ""
        if arr.ndim == 4 and arr.shape[1] == 3:
            hint = " Channels-first input (n, 3, H, W): use x.transpose(0, 2, 3, 1) (torch: x.permute(0, 2, 3, 1))."
        elif arr.ndim == 3:
            hint = " One image: use img[None]; grey images: repeat them on a last axis of 3."
        raise BadInputError(
            f"{name} must be RGB images (n, height, width, 3) with values in [0, 1], got shape "
            f"{arr.shape}.{hint}"
        )
    if arr.shape[0] == 0:
        raise BadInputError(f"{name} holds no image (its first axis is empty).")
    if min(arr.shape[1:3]) == 0:
        raise BadInputError(f"{name}: empty image size {arr.shape[1:3]}.")
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        raise BadInputError(
            f"{name} holds integer ({arr.dtype}) pixels; the metrics take floats in [0, 1]: "
            "divide uint8 images by 255 (e.g. images / 255.0)."
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise BadInputError(f"{name} must hold float pixels in [0, 1], got dtype {arr.dtype}.")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise BadInputError(
            f"{name} holds {int(bad.sum())} NaN/inf value(s) (first at {first}); fix or drop those images."
        )
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -_RANGE_SLACK or hi > 1.0 + _RANGE_SLACK:
        extra = " (looks like 0..255 pixels: divide by 255)" if 2.0 < hi <= 255.0 and lo >= 0.0 else ""
        raise BadInputError(
            f"{name} must have values in [0, 1], got values in [{lo:g}, {hi:g}]{extra}; clip or "
            "rescale them (e.g. a network output in [-1, 1]: (x + 1) / 2)."
        )
    if lo < 0.0 or hi > 1.0:  # rounding error of a filter or a resize
        arr = np.clip(arr, 0.0, 1.0)
    return arr


def _as_rows(x: Any, name: str, min_rows: int = 1) -> np.ndarray:
    """Check ``x`` is (n, ...) finite numbers; return it as float64 (n, d)."""
    arr = np.asarray(_to_numpy(x))
    if arr.ndim < 1 or arr.shape[0] < min_rows:
        raise BadInputError(
            f"{name} must be an (n, ...) array with n >= {min_rows} items, got shape {arr.shape}."
        )
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise BadInputError(f"{name} must hold numbers, got dtype {arr.dtype}.")
    arr = arr.reshape(arr.shape[0], -1).astype(np.float64, copy=False)
    if arr.shape[1] == 0:
        raise BadInputError(f"{name} has no features (shape {arr.shape}).")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise BadInputError(
            f"{name} holds {int(bad.sum())} NaN/inf value(s) in {rows.size} item(s) (first: item "
            f"{int(rows[0])}); fix or drop those items."
        )
    return arr


def _check_same_n(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.shape[0] != b.shape[0]:
        raise BadInputError(
            f"{names[0]} has {a.shape[0]} items but {names[1]} has {b.shape[0]}; pass one "
            f"{names[1]} item per {names[0]} item, in the same order."
        )


def _check_same_d(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.shape[1] != b.shape[1]:
        raise BadInputError(
            f"{names[0]} has {a.shape[1]} features per item but {names[1]} has {b.shape[1]}; "
            "compare features from the same extractor and layer."
        )


def _standardise_rows(x: np.ndarray, name: str) -> np.ndarray:
    """Rows centred and scaled to unit norm (their dot products are Pearson r)."""
    flat = np.flatnonzero(np.ptp(x, axis=1) == 0)
    if flat.size:
        raise BadInputError(
            f"{name}: item(s) {flat[:10].tolist()} have constant features, so their correlation is "
            "undefined; pick a layer where these items vary, or drop them."
        )
    c = x - x.mean(axis=1, keepdims=True)
    return c / np.sqrt(np.einsum("ij,ij->i", c, c))[:, None]


def _unit_rows(x: np.ndarray, name: str) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1)
    zero = np.flatnonzero(norm == 0)
    if zero.size:
        raise BadInputError(
            f"{name}: item(s) {zero[:10].tolist()} are all-zero vectors, whose cosine similarity is "
            "undefined; drop them."
        )
    return x / norm[:, None]


def _check_int(value: Any, name: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo or (hi is not None and value > hi):
        span = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise BadInputError(f"{name} must be an integer {span}, got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------- resizing


def _target_size(size: Any, shape: tuple[int, int]) -> tuple[int, int]:
    if size is None:
        return int(shape[0]), int(shape[1])
    if np.isscalar(size):
        s = _check_int(size, "size", 1)
        return s, s
    if isinstance(size, Sequence) and len(size) == 2:
        return _check_int(size[0], "size[0] (height)", 1), _check_int(size[1], "size[1] (width)", 1)
    raise BadInputError(f"size must be None, an int or (height, width), got {size!r}.")


def _resize_planes(planes: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of (n, k, h, w) image planes (PIL, float32 precision) to (n, k, *hw)."""
    if planes.shape[2:] == hw:
        return planes
    from PIL import Image

    h, w = hw
    src = np.ascontiguousarray(planes, dtype=np.float32)
    out = np.empty((*planes.shape[:2], h, w), dtype=np.float32)
    for i in range(src.shape[0]):
        for c in range(src.shape[1]):
            out[i, c] = np.asarray(Image.fromarray(src[i, c]).resize((w, h), Image.BILINEAR))
    return out.astype(np.float64)


def _finish(values: np.ndarray, reduce: bool) -> float | np.ndarray:
    return float(np.mean(values)) if reduce else values


# --------------------------------------------------------------------------- low-level metrics


def pixcorr(true: Any, pred: Any, *, size: int | tuple[int, int] | None = DEFAULT_SIZE, reduce: bool = True) -> float | np.ndarray:
    """Pixel-wise correlation between images and their reconstructions (PixCorr).

    Parameters
    ----------
    true, pred : array, tensor or DataArray
        ``(n, height, width, 3)`` RGB images with values in [0, 1]; ``pred[i]`` reconstructs
        ``true[i]``. The two sets may differ in image size.
    size : int, (height, width) or None
        Both sets are resized to this size first (antialiased bilinear); default 425 x 425 as in
        MindEye. ``None``: ``pred`` is resized to the size of ``true`` (nothing is resized when
        they already match).
    reduce : bool
        ``True``: the mean over images; ``False``: the ``(n,)`` per-image values.

    Returns
    -------
    float or numpy.ndarray
        Pearson r between the flattened (height x width x 3) pixels of each pair. A constant image
        has no correlation: its value is NaN (with a RuntimeWarning), and so is the mean.

    Raises
    ------
    BadInputError
        Not (n, h, w, 3), integer pixels, values outside [0, 1], NaN/inf, different n, bad size.
    """
    t = _as_images(true, "true")
    p = _as_images(pred, "pred")
    _check_same_n(t, p, ("true", "pred"))
    hw = _target_size(size, t.shape[1:3])
    r = np.empty(t.shape[0])
    for i0 in range(0, t.shape[0], _CHUNK):
        # channels first for the resize; Pearson r does not depend on the order of the pixels
        a = _resize_planes(np.moveaxis(t[i0 : i0 + _CHUNK], -1, 1), hw).reshape(-1, hw[0] * hw[1] * 3)
        b = _resize_planes(np.moveaxis(p[i0 : i0 + _CHUNK], -1, 1), hw).reshape(-1, hw[0] * hw[1] * 3)
        constant = (np.ptp(a, axis=1) == 0) | (np.ptp(b, axis=1) == 0)
        a = a - a.mean(axis=1, keepdims=True)
        b = b - b.mean(axis=1, keepdims=True)
        den = np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
        den[constant] = 1.0
        chunk_r = np.einsum("ij,ij->i", a, b) / den
        chunk_r[constant] = np.nan
        r[i0 : i0 + a.shape[0]] = chunk_r
    if np.isnan(r).any():
        warnings.warn(
            f"pixcorr: image pair(s) {np.flatnonzero(np.isnan(r))[:10].tolist()} hold a constant image, "
            "whose correlation is undefined (NaN).",
            RuntimeWarning,
            stacklevel=2,
        )
    return _finish(r, reduce)


def _ssim_batch(x: np.ndarray, y: np.ndarray, sigma: float) -> np.ndarray:
    """Mean SSIM of each pair of (n, h, w) grey images in [0, 1] (data range 1)."""
    from scipy.ndimage import gaussian_filter

    def blur(a: np.ndarray) -> np.ndarray:
        return gaussian_filter(a, sigma=(0.0, sigma, sigma), truncate=_TRUNCATE, mode="reflect")

    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    c1, c2 = _K1**2, _K2**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = int(_TRUNCATE * sigma + 0.5)
    h, w = x.shape[1:]
    return s[:, pad : h - pad, pad : w - pad].mean(axis=(1, 2))


def ssim(
    true: Any,
    pred: Any,
    *,
    size: int | tuple[int, int] | None = DEFAULT_SIZE,
    sigma: float = SSIM_SIGMA,
    reduce: bool = True,
) -> float | np.ndarray:
    """Structural similarity of grey-scale images and their reconstructions (SSIM).

    Parameters
    ----------
    true, pred : array, tensor or DataArray
        ``(n, height, width, 3)`` RGB images with values in [0, 1]; ``pred[i]`` reconstructs ``true[i]``.
    size : int, (height, width) or None
        Resize as in :func:`pixcorr` (default 425 x 425); ``None``: ``pred`` to the size of ``true``.
    sigma : float
        Standard deviation of the Gaussian window in pixels (1.5, Wang et al. 2004).
    reduce : bool
        ``True``: the mean over images; ``False``: the ``(n,)`` per-image values.

    Returns
    -------
    float or numpy.ndarray
        SSIM in [-1, 1] (1: identical). Images are made grey with :data:`GREY_WEIGHTS` (then
        resized; both steps are linear, so the order does not matter), windows are Gaussian
        (truncated at 3.5 sigma, reflected at the borders), covariances are population ones,
        ``C1 = 0.01**2``, ``C2 = 0.03**2`` and the SSIM map is averaged without the border of
        half a window: scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=1.0)`` of the ``rgb2gray`` images.

    Raises
    ------
    BadInputError
        As :func:`pixcorr`; also a non-positive sigma or images smaller than the window.
    """
    t = _as_images(true, "true")
    p = _as_images(pred, "pred")
    _check_same_n(t, p, ("true", "pred"))
    hw = _target_size(size, t.shape[1:3])
    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma <= 0:
        raise BadInputError(f"ssim: sigma must be a positive number of pixels, got {sigma!r}.")
    win = 2 * int(_TRUNCATE * sigma + 0.5) + 1
    if min(hw) < win:
        raise BadInputError(
            f"ssim: images of {hw[0]} x {hw[1]} pixels are smaller than the {win} x {win} Gaussian "
            "window; resize them (size=...) or use a smaller sigma."
        )
    weights = np.asarray(GREY_WEIGHTS)
    out = np.empty(t.shape[0])
    for i0 in range(0, t.shape[0], _CHUNK):
        a = _resize_planes((t[i0 : i0 + _CHUNK] @ weights)[:, None], hw)[:, 0]
        b = _resize_planes((p[i0 : i0 + _CHUNK] @ weights)[:, None], hw)[:, 0]
        out[i0 : i0 + a.shape[0]] = _ssim_batch(a, b, sigma)
    return _finish(out, reduce)


# --------------------------------------------------------------------------- feature metrics


def _feature_pair(true_features: Any, pred_features: Any, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    t = _as_rows(true_features, "true_features", min_rows)
    p = _as_rows(pred_features, "pred_features", min_rows)
    _check_same_n(t, p, ("true_features", "pred_features"))
    _check_same_d(t, p, ("true_features", "pred_features"))
    return t, p


def two_way_identification(true_features: Any, pred_features: Any, *, reduce: bool = True) -> float | np.ndarray:
    """Two-way identification accuracy of reconstructions from their features.

    For reconstruction ``i`` and every other image ``j``, the pair is identified correctly when
    ``corr(pred_i, true_i) > corr(pred_i, true_j)`` (Pearson r over features); the score of ``i``
    is the fraction of the ``n - 1`` images ``j`` for which it is (exact ties count one half).
    This is the convention of Ozcelik & VanRullen (2023) and MindEye (Scotti et al. 2023).

    Parameters
    ----------
    true_features, pred_features : array or tensor
        ``(n, ...)`` features of the images and of their reconstructions (e.g. from
        :func:`extract_features`), flattened to ``(n, d)``; ``n >= 2``.
    reduce : bool
        ``True``: the mean over reconstructions; ``False``: the ``(n,)`` per-item scores.

    Returns
    -------
    float or numpy.ndarray
        In [0, 1]; chance 0.5, perfect 1.0.

    Raises
    ------
    BadInputError
        Fewer than 2 items, different n or d, NaN/inf, an item with constant features.
    """
    t, p = _feature_pair(true_features, pred_features, 2)
    zt = _standardise_rows(t, "true_features")
    zp = _standardise_rows(p, "pred_features")
    r = zp @ zt.T  # r[i, j] = corr(pred_i, true_j)
    own = np.diag(r)[:, None]
    n = r.shape[0]
    wins = (r < own).sum(axis=1)
    ties = (r == own).sum(axis=1) - 1
    return _finish((wins + 0.5 * ties) / (n - 1), reduce)


def feature_distance(true_features: Any, pred_features: Any, *, reduce: bool = True) -> float | np.ndarray:
    """Correlation distance ``1 - r`` between the features of each image and of its reconstruction.

    Parameters
    ----------
    true_features, pred_features : array or tensor
        ``(n, ...)`` features, flattened to ``(n, d)``.
    reduce : bool
        ``True``: the mean over pairs; ``False``: the ``(n,)`` per-pair distances.

    Returns
    -------
    float or numpy.ndarray
        In [0, 2]; 0 for identical features (up to an affine map), 1 for uncorrelated ones.

    Raises
    ------
    BadInputError
        Different n or d, NaN/inf, an item with constant features.
    """
    t, p = _feature_pair(true_features, pred_features, 1)
    zt = _standardise_rows(t, "true_features")
    zp = _standardise_rows(p, "pred_features")
    return _finish(1.0 - np.einsum("ij,ij->i", zt, zp), reduce)


# --------------------------------------------------------------------------- retrieval


def _embedding_pair(brain_emb: Any, image_emb: Any) -> tuple[np.ndarray, np.ndarray]:
    b = _as_rows(brain_emb, "brain_emb", 1)
    i = _as_rows(image_emb, "image_emb", 1)
    _check_same_n(b, i, ("brain_emb", "image_emb"))
    _check_same_d(b, i, ("brain_emb", "image_emb"))
    return _unit_rows(b, "brain_emb"), _unit_rows(i, "image_emb")


def _ranks(query: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """0-based rank of each query's own candidate by cosine similarity; ties rank it last."""
    s = query @ cand.T
    own = np.diag(s)[:, None]
    return (s > own).sum(axis=1) + (s == own).sum(axis=1) - 1


def retrieval_topk(brain_emb: Any, image_emb: Any, k: int = 1, *, reduce: bool = True) -> float | np.ndarray:
    """Top-k retrieval accuracy of images from brain embeddings, by cosine similarity.

    Row ``i`` of ``brain_emb`` is a query; it scores a hit when ``image_emb[i]`` is among the
    ``k`` image embeddings most similar to it (cosine similarity; a tie with the right image
    counts against the hit). For image-to-brain retrieval swap the arguments.

    Parameters
    ----------
    brain_emb, image_emb : array or tensor
        ``(n, ...)`` embeddings in one space, flattened to ``(n, d)``; item ``i`` of both belongs
        to the same image.
    k : int
        Number of top candidates, ``1 <= k <= n``.
    reduce : bool
        ``True``: the fraction of hits; ``False``: the ``(n,)`` boolean hits.

    Returns
    -------
    float or numpy.ndarray
        Chance level ``k / n``; perfect 1.0.

    Raises
    ------
    BadInputError
        Different n or d, NaN/inf, all-zero rows, k outside 1..n.
    """
    q, c = _embedding_pair(brain_emb, image_emb)
    k = _check_int(k, "k", 1, q.shape[0])
    hits = _ranks(q, c) < k
    return float(hits.mean()) if reduce else hits


def nway_retrieval(
    brain_emb: Any,
    image_emb: Any,
    n_way: int | None = 300,
    k: int | Sequence[int] = (1, 5),
    *,
    n_draws: int = 30,
    seed: int = 0,
    direction: str = "brain2image",
) -> dict[str, Any]:
    """Top-k retrieval accuracy among random ``n_way``-item subsets, repeated over draws.

    Each draw picks ``n_way`` distinct items at random (``numpy.random.default_rng(seed)``); within
    the draw every query retrieves among the ``n_way`` candidates as in :func:`retrieval_topk`. With
    ``n_way=300`` and ``n_draws=30`` this is MindEye's evaluation of retrieval on the NSD test set.

    Parameters
    ----------
    brain_emb, image_emb : array or tensor
        ``(n, ...)`` embeddings in one space, flattened; item ``i`` of both belongs to one image.
    n_way : int or None
        Candidates per draw, ``2 <= n_way <= n``; ``None``: all ``n`` (every draw is then the same).
    k : int or sequence of int
        Top-k levels, each ``<= n_way``.
    n_draws : int
        Number of random subsets.
    seed : int
        Seed of the draws.
    direction : {"brain2image", "image2brain"}
        Queries are brain embeddings and candidates images, or the other way round.

    Returns
    -------
    dict
        ``n_way``, ``n_draws``, ``direction``, and per k: ``"top{k}"`` (mean accuracy over draws),
        ``"top{k}_std"`` (standard deviation over draws, ddof 0) and ``"top{k}_chance"`` (k / n_way).

    Raises
    ------
    BadInputError
        Bad embeddings (see :func:`retrieval_topk`), n_way, k, n_draws or direction.
    """
    if direction not in _DIRECTIONS:
        raise BadInputError(f"direction must be one of {_DIRECTIONS}, got {direction!r}.")
    b, i = _embedding_pair(brain_emb, image_emb)
    query, cand = (b, i) if direction == "brain2image" else (i, b)
    n = query.shape[0]
    if n < 2:
        raise BadInputError(f"nway_retrieval needs at least 2 items, got {n}.")
    n_way = n if n_way is None else _check_int(n_way, "n_way", 2, n)
    ks = [k] if np.isscalar(k) else list(k)
    if not ks:
        raise BadInputError("k: give at least one top-k level.")
    ks = [_check_int(v, "k", 1, n_way) for v in ks]
    n_draws = _check_int(n_draws, "n_draws", 1)
    rng = np.random.default_rng(seed)
    acc = np.empty((n_draws, len(ks)))
    for d in range(n_draws):
        idx = np.arange(n) if n_way == n else rng.choice(n, size=n_way, replace=False)
        ranks = _ranks(query[idx], cand[idx])
        acc[d] = [(ranks < kk).mean() for kk in ks]
    out: dict[str, Any] = {"n_way": n_way, "n_draws": n_draws, "direction": direction}
    for j, kk in enumerate(ks):
        out[f"top{kk}"] = float(acc[:, j].mean())
        out[f"top{kk}_std"] = float(acc[:, j].std())
        out[f"top{kk}_chance"] = kk / n_way
    return out


# --------------------------------------------------------------------------- features from networks


def extract_features(
    images: Any,
    extractor: str | torch.nn.Module = "efficientnet_lite0",
    layers: str | Sequence[str] | None = None,
    *,
    pooling: str = "avg",
    preprocessing: Mapping[str, Any] | None = None,
    n_components: int | None = None,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Network features of images, for :func:`two_way_identification` and :func:`feature_distance`.

    A thin wrapper over :func:`neurodecode.models.preprocess` and :func:`neurodecode.models.extract`.

    Parameters
    ----------
    images : array, tensor or DataArray
        ``(n, height, width, 3)`` RGB images with values in [0, 1].
    extractor : str or torch.nn.Module
        A zoo name (:func:`neurodecode.models.list_models`; default the offline ImageNet
        EfficientNet-Lite0), or any torch module (e.g. AlexNet, Inception or a CLIP vision tower
        whose weights you have), whose layers are then named in ``layers``.
    layers : str or sequence of str, optional
        Layer names (:func:`neurodecode.models.layer_names`). Default for a zoo model (by name or
        from :func:`neurodecode.models.load_model`): ``"avgpool"`` (the pooled last feature map);
        required for any other module.
    pooling : {"avg", "flatten", "random_projection"}
        Per-layer reduction as in :func:`neurodecode.models.extract` (a PCA would depend on the
        image set, so it is not offered: features of true and reconstructed images must be
        comparable).
    preprocessing : dict, optional
        Keyword arguments of :func:`neurodecode.models.preprocess` (``size``, ``crop``, ``mean``,
        ``std``). Default: the model's ``nd_preprocessing`` (zoo models), else the torchvision
        ImageNet convention (224, crop 0.875, ``IMAGENET_MEAN``/``IMAGENET_STD``).
    n_components : int, optional
        Output size of ``pooling="random_projection"``.
    batch_size, device, progress
        As in :func:`neurodecode.models.extract`.

    Returns
    -------
    dict of str to numpy.ndarray
        One ``(n, d)`` float32 array per layer, in the order asked.

    Raises
    ------
    BadInputError
        Bad images, unknown model or layer, a module without ``layers``, pooling ``"pca"``.
    """
    from ..models import IMAGENET_MEAN, IMAGENET_STD, extract, load_model, preprocess

    arr = _as_images(images, "images")
    if isinstance(extractor, str):
        model = load_model(extractor)
    elif hasattr(extractor, "named_modules"):
        model = extractor
    else:
        raise BadInputError(
            f"extractor must be a zoo model name or a torch.nn.Module, got a {type(extractor).__name__}; "
            "for other feature functions compute the features yourself and pass them to "
            "two_way_identification."
        )
    if layers is None:
        if getattr(model, "nd_model_id", None) is not None:  # a zoo model
            layers = ["avgpool"]
        else:
            raise BadInputError(
                "extract_features: pass layers=[...] for a module that is not in the zoo "
                "(names from neurodecode.models.layer_names(model, 'all'))."
            )
    names = [layers] if isinstance(layers, str) else list(layers)
    if pooling not in ("avg", "flatten", "random_projection"):
        raise BadInputError(
            f"extract_features: pooling must be 'avg', 'flatten' or 'random_projection', got {pooling!r}."
        )
    prep = dict(
        preprocessing
        or getattr(model, "nd_preprocessing", None)
        or {"size": 224, "crop": 0.875, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    )
    chunk = max(1, int(batch_size)) * 8  # bounds the preprocessed input held at once
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for i0 in range(0, arr.shape[0], chunk):
        x = preprocess(arr[i0 : i0 + chunk].astype(np.float32), **prep)
        ds = extract(
            model,
            x,
            layers=names,
            batch_size=batch_size,
            device=device,
            pooling=pooling,
            n_components=n_components,
            progress=progress,
        )
        for name in names:
            parts[name].append(ds[name].values)
    return {name: np.concatenate(parts[name]) for name in names}


def reconstruction_scores(
    true_images: Any,
    pred_images: Any,
    features: str | torch.nn.Module | Mapping[str, tuple[Any, Any]] | None = None,
    *,
    layers: str | Sequence[str] | None = None,
    size: int | tuple[int, int] | None = DEFAULT_SIZE,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """PixCorr, SSIM and, given features, two-way identification and feature distance.

    Parameters
    ----------
    true_images, pred_images : array, tensor or DataArray
        ``(n, height, width, 3)`` RGB images with values in [0, 1]; ``pred_images[i]`` reconstructs
        ``true_images[i]``.
    features : None, str, torch.nn.Module or dict
        ``None``: pixel metrics only. A zoo name or a module: features of both image sets from
        :func:`extract_features` (with ``layers``). A dict ``{name: (true_features,
        pred_features)}``: features computed elsewhere (CLIP, AlexNet, SwAV...).
    layers : str or sequence of str, optional
        Passed to :func:`extract_features`.
    size : int, (height, width) or None
        Resize of :func:`pixcorr` and :func:`ssim`.
    device : str or torch.device, optional
        Where the network runs.

    Returns
    -------
    dict
        ``n_images``, ``pixcorr``, ``ssim``, and per feature set ``two_way/<name>`` and
        ``feature_distance/<name>``, where ``<name>`` is the dict key or ``<model>.<layer>``.

    Raises
    ------
    BadInputError
        From the metrics (see each), or a ``features`` value of another type.
    """
    t = _as_images(true_images, "true_images")
    p = _as_images(pred_images, "pred_images")
    _check_same_n(t, p, ("true_images", "pred_images"))
    out: dict[str, float] = {
        "n_images": int(t.shape[0]),
        "pixcorr": pixcorr(t, p, size=size),
        "ssim": ssim(t, p, size=size),
    }
    if features is None:
        return out
    if isinstance(features, Mapping):
        pairs = dict(features)
        for name, pair in pairs.items():
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise BadInputError(
                    f"features[{name!r}] must be a (true_features, pred_features) pair, got a {type(pair).__name__}."
                )
    else:
        label = features if isinstance(features, str) else (
            getattr(features, "nd_model_id", None) or type(features).__name__
        )
        if isinstance(features, str):
            from ..models import load_model

            features = load_model(features)  # once for both image sets
        ft = extract_features(t, features, layers, device=device)
        fp = extract_features(p, features, layers, device=device)
        pairs = {f"{label}.{layer}": (ft[layer], fp[layer]) for layer in ft}
    for name, (ft_, fp_) in pairs.items():
        out[f"two_way/{name}"] = two_way_identification(ft_, fp_)
        out[f"feature_distance/{name}"] = feature_distance(ft_, fp_)
    return out
