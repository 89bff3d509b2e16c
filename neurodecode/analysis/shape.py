"""Shape metrics: distances between representations up to a group of transformations.

Williams, A. H., Kunz, E., Kornblith, S. & Linderman, S. W. (2021). *Generalized
shape metrics on neural representations.* NeurIPS. Duong, L. R., Zhou, J.,
Nassar, J., Berman, J., Olieslagers, J. & Williams, A. H. (2023).
*Representational dissimilarity metric spaces for stochastic neural networks.* ICLR.

Deterministic (``x``, ``y``: (stimulus, feature)):

angular shape distance, regularised by ``alpha`` in [0, 1]
    centre the features, partially whiten each representation
    (``Z = V diag(alpha + (1 - alpha) / sqrt(lambda)) V^T`` from the eigenpairs
    of ``Xc^T Xc``, eigenvalues clipped at 1e-7, as netrep's ``LinearMetric``),
    then ``arccos(||Xw^T Yw||_* / (||Xw||_F ||Yw||_F))`` in radians: the angle
    between the two after the best rotation. ``alpha=1`` is the angular
    Procrustes distance (``procrustes``); ``alpha=0`` the angular CCA distance.
    Different widths are zero-padded (which the formula does implicitly).
permutation
    the same angle after the best permutation of units (netrep's
    ``PermutationMetric``; a linear assignment on ``Xc^T Yc``).

Stochastic (``x``, ``y``: (stimulus, repeat, feature) samples):

Gaussian (2-Wasserstein) shape distance, ``alpha`` in [0, 2]
    every stimulus' responses are summarised by their mean and covariance;
    ``d^2 = min_T mean_i [alpha ||mx_i - my_i T||^2 + (2 - alpha) B^2(Sx_i, T^T Sy_i T)]``
    over orthogonal ``T`` (``B`` the Bures distance). ``alpha=1`` is the
    2-Wasserstein distance, ``alpha=2`` the (Euclidean, scaled) Procrustes
    distance of the means, ``alpha=0`` uses the covariances only.
energy shape distance
    ``d^2 = min_T mean_i [E||x - y T|| - (E||x - x'|| + E||y - y'||) / 2]``
    (expectations over the repeats of stimulus i; within-network pairs of
    distinct repeats), fitted by iteratively reweighted Procrustes.

Both stochastic metrics are fitted by alternating minimisation from the
Procrustes alignment of the means (a local optimum, as in netrep).
"""

from __future__ import annotations

import numpy as np

__all__ = ["prepare", "pair", "angular", "permutation_angle", "gaussian", "energy"]

EIG_TOL = 1e-7


# --------------------------------------------------------------------------- deterministic


def _whitening_scale(lam: np.ndarray, alpha: float) -> np.ndarray:
    """Diagonal of the partial whitening in the eigenbasis (before the variance-preserving factor)."""
    return alpha + (1.0 - alpha) / np.sqrt(np.maximum(lam, EIG_TOL))


def prepare(x: np.ndarray, alpha: float = 1.0, *, centre: bool = True) -> np.ndarray:
    """A compact (n, r) stand-in ``A`` of the partially whitened representation.

    ``A A^T = Xw Xw^T`` up to a positive factor, with ``r <= min(n, p)``, so that the
    angular shape distance of any pair is ``arccos(||A^T B||_* / (||A|| ||B||))``.
    Computed from the smaller of ``X^T X`` (p <= n) and ``X X^T`` (p > n).
    """
    x = np.asarray(x, dtype=np.float64)
    if centre:
        x = x - x.mean(axis=0, keepdims=True)
    n, p = x.shape
    if alpha >= 1.0 - EIG_TOL:
        if p <= n:
            return x
        lam, u = np.linalg.eigh(x @ x.T)
        lam = np.maximum(lam, 0.0)
        keep = lam > lam.max() * 1e-24 if lam.max() > 0 else np.zeros_like(lam, dtype=bool)
        return u[:, keep] * np.sqrt(lam[keep])
    if p <= n:
        lam, v = np.linalg.eigh(x.T @ x)
        return (x @ v) * _whitening_scale(lam, alpha)
    lam, u = np.linalg.eigh(x @ x.T)  # nonzero eigenvalues are those of X^T X; X V_k = sqrt(lam_k) u_k
    s = np.sqrt(np.maximum(lam, 0.0)) * _whitening_scale(lam, alpha)
    keep = s > s.max() * 1e-12 if s.max() > 0 else np.zeros_like(s, dtype=bool)
    return u[:, keep] * s[keep]


def _nuclear(m: np.ndarray) -> float:
    from scipy.linalg import svdvals

    return float(svdvals(m, check_finite=False).sum())


def pair(a: np.ndarray, b: np.ndarray) -> float:
    """Angular distance (radians) of two prepared representations; NaN when either is all zero."""
    na = np.sqrt(np.einsum("ij,ij->", a, a))
    nb = np.sqrt(np.einsum("ij,ij->", b, b))
    if na == 0 or nb == 0:
        return float("nan")
    c = _nuclear(a.T @ b) / (na * nb)
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def angular(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> float:
    """Angular shape distance of two (stimulus, feature) arrays (radians)."""
    return pair(prepare(x, alpha), prepare(y, alpha))


def permutation_angle(x: np.ndarray, y: np.ndarray) -> float:
    """Angle (radians) between centred ``x`` and ``y`` after the best permutation of units (zero-padded)."""
    from scipy.optimize import linear_sum_assignment

    xc = np.asarray(x, dtype=np.float64)
    yc = np.asarray(y, dtype=np.float64)
    xc = xc - xc.mean(axis=0)
    yc = yc - yc.mean(axis=0)
    nx, ny = np.linalg.norm(xc), np.linalg.norm(yc)
    if nx == 0 or ny == 0:
        return float("nan")
    cross = xc.T @ yc  # zero padding adds zero rows/columns, which never change the best matching
    ri, ci = linear_sum_assignment(cross, maximize=True)
    c = cross[ri, ci].sum() / (nx * ny)
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


# --------------------------------------------------------------------------- stochastic


def _procrustes_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Orthogonal ``R`` minimising ``||a R - b||_F``."""
    u, _, vt = np.linalg.svd(a.T @ b)
    return u @ vt


def _pad(a: np.ndarray, width: int) -> np.ndarray:
    if a.shape[-1] == width:
        return a
    pad = [(0, 0)] * a.ndim
    pad[-1] = (0, width - a.shape[-1])
    return np.pad(a, pad)


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    lam, v = np.linalg.eigh(c)
    return np.einsum("...ij,...j,...kj->...ik", v, np.sqrt(np.maximum(lam, 0.0)), v)


def gaussian_moments(samples: list[np.ndarray], *, centre: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Means (n, p) and covariances (n, p, p) (ddof 1) of per-stimulus samples (r_i, p)."""
    means = np.stack([s.mean(axis=0) for s in samples])
    covs = np.stack([np.cov(s, rowvar=False, ddof=1).reshape(s.shape[1], s.shape[1]) for s in samples])
    if centre:
        means = means - means.mean(axis=0, keepdims=True)
    return means, covs


def bures_sq(a: np.ndarray, b: np.ndarray) -> float:
    """Squared Bures distance ``tr A + tr B - 2 tr (A^1/2 B A^1/2)^1/2`` of two PSD matrices."""
    sa = _psd_sqrt(a)
    m = sa @ b @ sa
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.trace(a) + np.trace(b) - 2.0 * np.sqrt(np.maximum(lam, 0.0)).sum())


def gaussian(
    mx: np.ndarray, cx: np.ndarray, my: np.ndarray, cy: np.ndarray, alpha: float = 1.0, *,
    n_iter: int = 200, tol: float = 1e-10,
) -> tuple[float, np.ndarray]:
    """Gaussian shape distance and the rotation ``T`` (aligning y to x) from means and covariances."""
    p = max(mx.shape[1], my.shape[1])
    mx, my = _pad(mx, p), _pad(my, p)
    cx = _pad(_pad(cx, p).swapaxes(1, 2), p)
    cy = _pad(_pad(cy, p).swapaxes(1, 2), p)
    sx, sy = _psd_sqrt(cx), _psd_sqrt(cy)
    wa, wb = np.sqrt(alpha), np.sqrt(2.0 - alpha)
    t = _procrustes_rotation(my, mx)
    prev = np.inf
    for _ in range(n_iter):
        # per stimulus, the best rotation of sy_i T onto sx_i (the Bures term's inner rotation)
        blocks = []
        for sxi, syi in zip(sx, sy):
            c = syi @ t
            r = _procrustes_rotation(c.T, sxi.T)  # c^T r ~ sx^T  ->  r^T c ~ sx
            blocks.append(r.T @ syi)
        a = np.concatenate([wa * mx, *(wb * s for s in sx)])
        b = np.concatenate([wa * my, *(wb * s for s in blocks)])
        t = _procrustes_rotation(b, a)
        loss = float(np.square(a - b @ t).sum())
        if prev - loss < tol * max(1.0, loss):
            break
        prev = loss
    ymt = my @ t
    cyt = np.einsum("ji,njk,kl->nil", t, cy, t)
    terms = alpha * np.square(mx - ymt).sum(axis=1) + (2.0 - alpha) * np.array(
        [bures_sq(a_, b_) for a_, b_ in zip(cx, cyt)]
    )
    return float(np.sqrt(max(terms.mean(), 0.0))), t


def energy_terms(x: list[np.ndarray], y: list[np.ndarray]) -> tuple[float, float, float]:
    """Means over stimuli of E||x - y||, E||x - x'||, E||y - y'|| (distinct repeats within)."""
    from scipy.spatial.distance import cdist, pdist

    dxy = np.mean([cdist(a, b).mean() for a, b in zip(x, y)])
    dxx = np.mean([pdist(a).mean() for a in x])
    dyy = np.mean([pdist(b).mean() for b in y])
    return float(dxy), float(dxx), float(dyy)


def energy(x: list[np.ndarray], y: list[np.ndarray], *, n_iter: int = 100, tol: float = 1e-8) -> tuple[float, np.ndarray]:
    """Energy shape distance and the rotation aligning ``y`` to ``x`` from per-stimulus samples."""
    p = max(x[0].shape[1], y[0].shape[1])
    x = [_pad(a, p) for a in x]
    y = [_pad(b, p) for b in y]
    # every (repeat of x, repeat of y) pair of a stimulus, weighted by 1 / (r_x r_y) per stimulus
    xa = np.concatenate([np.repeat(a, len(b), axis=0) for a, b in zip(x, y)])
    yb = np.concatenate([np.tile(b, (len(a), 1)) for a, b in zip(x, y)])
    base = np.concatenate([np.full(len(a) * len(b), 1.0 / (len(a) * len(b))) for a, b in zip(x, y)])
    w = base.copy()  # iteratively reweighted least squares: sum_k w_k ||r_k||^2 with w_k = base_k / ||r_k||
    t = np.eye(p)
    prev = np.inf
    for _ in range(n_iter):
        sw = np.sqrt(w)[:, None]
        t = _procrustes_rotation(sw * yb, sw * xa)
        resid = np.linalg.norm(xa - yb @ t, axis=1)
        loss = float((base * resid).sum())
        if prev - loss < tol * max(1.0, loss):
            break
        prev = loss
        w = base / np.maximum(resid, 1e-12)
    dxy, dxx, dyy = energy_terms(x, [b @ t for b in y])
    return float(np.sqrt(max(dxy - 0.5 * (dxx + dyy), 0.0))), t
