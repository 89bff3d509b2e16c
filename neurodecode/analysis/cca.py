"""Canonical-correlation similarities: SVCCA and PWCCA.

Raghu, M., Gilmer, J., Yosinski, J. & Sohl-Dickstein, J. (2017). *SVCCA: singular
vector canonical correlation analysis for deep learning dynamics and
interpretability.* NeurIPS. Morcos, A. S., Raghu, M. & Bengio, S. (2018).
*Insights on representational similarity in neural networks with canonical
correlation.* NeurIPS.

Canonical correlations ``rho_1 >= rho_2 >= ...`` of two centred representations
are the singular values of ``Qx^T Qy`` (``Qx``, ``Qy`` orthonormal bases of their
column spaces), i.e. the cosines of the principal angles between the two
subspaces of stimulus space.

``svcca``
    keep the leading singular directions of each representation that explain
    ``keep`` (default 0.99) of its variance (or the ``keep`` leading ones when an
    integer), then the mean canonical correlation. Symmetric.
``pwcca``
    canonical correlations of the full representations, averaged with weights
    ``a_i = sum_j |<h_i, xc_j>|`` (``h_i`` the i-th unit-norm canonical variate of
    ``x``, ``xc_j`` the centred responses of unit ``j`` of ``x``): how much of ``x``
    each canonical direction accounts for. Not symmetric (weights from ``x``).

CCA needs many more stimuli than features: with ``p >= n`` every canonical
correlation is 1. Reduce first (``svcca``) or use CKA / shape metrics.
"""

from __future__ import annotations

import numpy as np

__all__ = ["basis", "canonical_correlations", "svcca", "pwcca"]


def _orth(x: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return u[:, :0]
    return u[:, s > s[0] * rtol]


def basis(x: np.ndarray, keep: float | int | None = None) -> np.ndarray:
    """Orthonormal basis (n, r) of the centred representation, reduced to ``keep`` (SVCCA) when given."""
    xc = np.asarray(x, dtype=np.float64)
    xc = xc - xc.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return u[:, :0]
    r = int((s > s[0] * 1e-10).sum())
    if keep is not None:
        if isinstance(keep, (int, np.integer)) and not isinstance(keep, bool):
            r = min(r, int(keep))
        else:
            var = np.cumsum(s**2) / np.sum(s**2)
            r = min(r, int(np.searchsorted(var, float(keep) - 1e-12) + 1))
    return u[:, :r]


def canonical_correlations(qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Canonical correlations (descending) of two orthonormal bases."""
    from scipy.linalg import svdvals

    return np.clip(svdvals(qx.T @ qy), 0.0, 1.0)


def svcca(qx: np.ndarray, qy: np.ndarray) -> float:
    """Mean canonical correlation of two (SVD-reduced) bases."""
    if qx.shape[1] == 0 or qy.shape[1] == 0:
        return float("nan")
    return float(canonical_correlations(qx, qy).mean())


def pwcca(x: np.ndarray, qy: np.ndarray) -> float:
    """Projection-weighted mean canonical correlation, weights from ``x`` (n, p)."""
    xc = np.asarray(x, dtype=np.float64)
    xc = xc - xc.mean(axis=0, keepdims=True)
    qx = _orth(xc)
    if qx.shape[1] == 0 or qy.shape[1] == 0:
        return float("nan")
    u, rho, _ = np.linalg.svd(qx.T @ qy, full_matrices=False)
    h = qx @ u  # (n, k) unit-norm canonical variates of x, in the order of rho
    weights = np.abs(h.T @ xc).sum(axis=1)
    if weights.sum() == 0:
        return float("nan")
    return float(np.sum(weights * np.clip(rho, 0.0, 1.0)) / weights.sum())
