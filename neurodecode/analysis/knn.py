"""Nearest-neighbour alignment: mutual k-NN and CKNNA (Huh et al. 2024).

Huh, M., Cheung, B., Wang, T. & Isola, P. (2024). *The Platonic representation
hypothesis.* ICML.

Each representation's rows (stimuli) are L2-normalised (``normalize=True``, as
in the paper) and compared by inner product (cosine similarity); a stimulus is
never its own neighbour.

``mutual_knn``
    mean over stimuli of ``|N_x(i) ∩ N_y(i)| / k``, ``N(i)`` the ``k`` nearest
    neighbours of stimulus ``i``. In [0, 1]; chance is about ``k / (n - 1)``.
``cknna``
    centred kernel nearest-neighbour alignment: CKA computed only over the pairs
    that are mutual neighbours in both representations. With the linear kernels
    ``K``, ``L`` and the mask ``M_ij = [j in N_x(i) and j in N_y(i)]``,
    ``cknna = HSIC_u(M∘K, M∘L) / sqrt(HSIC_u(M_x∘K, M_x∘K) HSIC_u(M_y∘L, M_y∘L))``
    with the unbiased HSIC of Song et al. (2012) (the paper's default). The
    reference code adds 1e-6 to the denominator; this does not. The k-NN mask
    is not symmetric (j may be a neighbour of i but not i of j), so neither is
    the estimator: ``cknna(x, y)`` and ``cknna(y, x)`` differ slightly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["prepare", "mutual_knn", "cknna", "hsic_unbiased"]


def prepare(x: np.ndarray, k: int, *, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Linear kernel (n, n) of the (normalised) rows and the (n, n) boolean k-NN mask (self excluded)."""
    x = np.asarray(x, dtype=np.float64)
    if normalize:
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        x = np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
    kern = x @ x.T
    s = kern.copy()
    np.fill_diagonal(s, -np.inf)
    nn = np.argpartition(-s, k - 1, axis=1)[:, :k]
    mask = np.zeros(kern.shape, dtype=bool)
    np.put_along_axis(mask, nn, True, axis=1)
    return kern, mask


def mutual_knn(px: tuple[np.ndarray, np.ndarray], py: tuple[np.ndarray, np.ndarray], k: int) -> float:
    """Mutual k-NN alignment of two prepared representations."""
    return float((px[1] & py[1]).sum(axis=1).mean() / k)


def hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:
    """Unbiased HSIC estimator (Song et al. 2012, eq. 5); the diagonals are ignored."""
    n = k.shape[0]
    kt = k.copy()
    lt = l.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    kl = kt @ lt
    val = np.trace(kl) + kt.sum() * lt.sum() / ((n - 1) * (n - 2)) - 2.0 * kl.sum() / (n - 2)
    return float(val / (n * (n - 3)))


def cknna(px: tuple[np.ndarray, np.ndarray], py: tuple[np.ndarray, np.ndarray]) -> float:
    """CKNNA of two prepared representations (NaN when a self-alignment is not positive)."""
    (kx, mx), (ky, my) = px, py
    m = mx & my
    xy = hsic_unbiased(np.where(m, kx, 0.0), np.where(m, ky, 0.0))
    xx = hsic_unbiased(np.where(mx, kx, 0.0), np.where(mx, kx, 0.0))
    yy = hsic_unbiased(np.where(my, ky, 0.0), np.where(my, ky, 0.0))
    if xx <= 0 or yy <= 0:
        return float("nan")
    return float(xy / np.sqrt(xx * yy))
