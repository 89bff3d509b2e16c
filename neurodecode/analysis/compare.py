"""Compare RDM stacks: every RDM of one stack with every RDM of another.

:func:`compare` returns a (``rdm_a``, ``rdm_b``) DataArray of similarities,
vectorised over all pairs (no Python loop over pairs of RDMs). Only the upper
triangles (i < j) of the RDMs enter, as in rsatoolbox. Results equal
``rsatoolbox.rdm.compare`` to 1e-8 (see ``tests/analysis/test_compare.py``).

Methods (rsatoolbox's name in brackets where it differs):

``spearman``
    Pearson correlation of the ranks; ties get their average rank
    (``scipy.stats.rankdata``). Each RDM is ranked once.
``pearson`` (``corr``)
    Pearson correlation of the dissimilarities.
``cosine``
    cosine similarity of the dissimilarity vectors (not centred).
``kendall`` (``kendall`` / ``tau-b``)
    Kendall's tau-b, as ``scipy.stats.kendalltau`` -- rsatoolbox's ``'kendall'``.
``tau_a`` (``tau-a``)
    Kendall's tau-a: (concordant - discordant) / all pairs. Recommended with
    models that predict tied dissimilarities (Nili et al. 2014).
``rho_a`` (``rho-a``)
    Spearman's rho-a: 12 * sum(centred ranks products) / (m^3 - m).
``corr_cov``, ``cosine_cov``
    correlation / cosine after whitening by the covariance of dissimilarity
    estimates (Diedrichsen et al. 2021): each RDM becomes the doubly centred
    second-moment matrix ``G = -H D H / 2`` (optionally scaled by ``sigma_k``)
    and the similarity is the Frobenius cosine of the ``G``s; ``corr_cov``
    first subtracts each RDM's mean dissimilarity.

A zero-variance RDM gives similarity 0 for the cosine/correlation family (as
rsatoolbox) and NaN for ``kendall`` (as scipy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..errors import BadInputError, DataModelError
from .convert import _as_stack, _Stack

__all__ = ["compare", "COMPARE_METHODS"]

def __getattr__(name: str):
    if name == "COMPARE_METHODS":  # derived from the registry (neurodecode.analysis.METHODS)
        from ._methods import names

        return names(compares="rdm")
    raise AttributeError(name)


def _canonical(method: str) -> str:
    """Registry name of an RDM comparison method (aliases resolved); unknown names are errors."""
    from ._methods import get_method

    return get_method(method, compares="rdm").name


# --------------------------------------------------------------------------- vector-level kernels


def _rank_average(v):
    """Average ranks (1-based, ties averaged: scipy.stats.rankdata) of each row of a float tensor."""
    import torch

    k, m = v.shape
    s, idx = torch.sort(v, dim=1, stable=True)
    pos = torch.arange(m, device=v.device).expand(k, m)
    new = torch.ones_like(s, dtype=torch.bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    last = torch.ones_like(new)
    last[:, :-1] = new[:, 1:]
    start = torch.cummax(torch.where(new, pos, 0), dim=1).values
    end = torch.flip(torch.cummin(torch.flip(torch.where(last, pos, m), [1]), dim=1).values, [1])
    avg = (start + end).to(v.dtype) / 2 + 1
    return torch.empty_like(avg).scatter_(1, idx, avg)


def _cosine(a, b):
    """Cosine similarity of all row pairs; 0 where a row has zero norm (rsatoolbox's convention)."""
    import torch

    na = torch.sqrt(torch.einsum("ij,ij->i", a, a))
    nb = torch.sqrt(torch.einsum("ij,ij->i", b, b))
    cos = torch.matmul(a, b.T) / na[:, None] / nb[None, :]
    zero = (na == 0)[:, None] | (nb == 0)[None, :]
    return torch.where(zero, torch.zeros_like(cos), cos)


def _centre(v):
    return v - v.mean(dim=1, keepdim=True)


def _cov_weighted(v, n_cond: int, sigma_k):
    """RDM vectors -> vectors whose plain inner product is the whitened one (rsatoolbox's conventions).

    ``sigma_k`` None or 1-D: the doubly centred second-moment matrix ``G = -H D H / 2``,
    scaled by ``1 / sqrt(s_i s_j)``, flattened (the Frobenius product counts each
    off-diagonal entry twice, as rsatoolbox's sqrt(2) weighting). ``sigma_k`` 2-D:
    ``L^-1 v`` with ``L L^T = V``, ``V = (C S C^T) o (C S C^T)`` the covariance of the
    dissimilarity estimates (C: pairwise contrasts), i.e. rsatoolbox's exact
    (conjugate-gradient) path, solved directly here.
    """
    import torch

    k = v.shape[0]
    iu = torch.triu_indices(n_cond, n_cond, 1, device=v.device)
    if sigma_k is not None and np.ndim(sigma_k) == 2:
        sig = torch.as_tensor(np.asarray(sigma_k, dtype=np.float64), dtype=v.dtype, device=v.device)
        i, j = iu[0], iu[1]
        xi = sig[i][:, i] - sig[i][:, j] - sig[j][:, i] + sig[j][:, j]  # C S C^T, (m, m)
        chol = torch.linalg.cholesky(xi * xi)
        return torch.linalg.solve_triangular(chol, v.T, upper=False).T
    d = torch.zeros(k, n_cond, n_cond, dtype=v.dtype, device=v.device)
    d[:, iu[0], iu[1]] = v
    d[:, iu[1], iu[0]] = v
    g = -0.5 * d
    g = g - g.mean(dim=1, keepdim=True) - g.mean(dim=2, keepdim=True) + g.mean(dim=(1, 2), keepdim=True)
    if sigma_k is not None:
        sq = torch.sqrt(torch.as_tensor(np.asarray(sigma_k, dtype=np.float64), dtype=v.dtype, device=v.device))
        g = g / sq[None, :, None] / sq[None, None, :]
    return g.reshape(k, n_cond * n_cond)


def _check_sigma(sigma_k: Any, n_cond: int):
    if sigma_k is None:
        return None
    sig = np.asarray(sigma_k, dtype=np.float64)
    if sig.shape not in ((n_cond,), (n_cond, n_cond)):
        raise BadInputError(
            f"compare: sigma_k must be ({n_cond},) variances or a ({n_cond}, {n_cond}) covariance of "
            f"the pattern estimates; got shape {sig.shape}."
        )
    if not np.isfinite(sig).all():
        raise BadInputError("compare: sigma_k holds NaN/inf.")
    if sig.ndim == 1 and (sig <= 0).any():
        raise BadInputError("compare: sigma_k variances must be positive.")
    if sig.ndim == 2:
        try:
            np.linalg.cholesky(sig)
        except np.linalg.LinAlgError as err:
            raise BadInputError("compare: sigma_k must be symmetric positive definite.") from err
    return sig


def kendall_s(va: np.ndarray, vb: np.ndarray, device=None) -> np.ndarray:
    """Kendall's S (concordant - discordant pairs) for all pairs of rows (int64, (k_a, k_b))."""
    from . import _kendall

    from ._device import resolve

    dev = None if device is None else resolve(device)
    if dev is None or dev == "cpu":
        s = _kendall.s_numba(va, vb)
        if s is not None:
            return s
        dev = "cpu"
    import torch

    ta = torch.as_tensor(va, dtype=torch.float64, device=dev)
    tb = torch.as_tensor(vb, dtype=torch.float64, device=dev)
    return _kendall.s_torch(ta, tb)


def _as_tensors(va: np.ndarray, vb: np.ndarray, device):
    import torch

    from ._device import resolve

    dev = torch.device("cpu" if device is None else resolve(device))
    a = torch.as_tensor(va, dtype=torch.float64, device=dev)
    b = torch.as_tensor(vb, dtype=torch.float64, device=dev)
    return a, b


def inner_kernel(rank: bool, centre: bool, scale: str):
    """Kernel of an inner-product method: optionally rank, optionally centre, then cosine or rho-a scaling.

    ``scale="unit"``: cosine of the transformed vectors (0 for a zero-norm row);
    ``scale="rho_a"``: ``12 * <ra, rb> / (m^3 - m)`` (Spearman's rho-a).
    """

    def kernel(va: np.ndarray, vb: np.ndarray, *, n_cond: int, sigma_k=None, device=None) -> np.ndarray:
        import torch

        m = va.shape[1]
        with torch.no_grad():
            a, b = _as_tensors(va, vb, device)
            if rank:
                a, b = _rank_average(a), _rank_average(b)
            if centre:
                a, b = _centre(a), _centre(b)
            if scale == "rho_a":
                sim = torch.matmul(a, b.T) / (m**3 - m) * 12
            else:
                sim = _cosine(a, b)
            return sim.cpu().numpy()

    return kernel


def kendall_kernel(tau_a: bool):
    """Kernel of Kendall's tau-a (``tau_a=True``) or tau-b, from exact pair counts."""

    def kernel(va: np.ndarray, vb: np.ndarray, *, n_cond: int, sigma_k=None, device=None) -> np.ndarray:
        from ._kendall import tie_counts

        m = va.shape[1]
        s = kendall_s(va, vb, device).astype(np.float64)
        tot = m * (m - 1) // 2
        if tau_a:
            tau = s / tot
        else:
            xt = tie_counts(va).astype(np.float64)
            yt = tie_counts(vb).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                tau = s / np.sqrt(tot - xt)[:, None] / np.sqrt(tot - yt)[None, :]
        return np.clip(tau, -1.0, 1.0)

    return kernel


def cov_kernel(centre: bool):
    """Kernel of ``cosine_cov`` (``centre=False``) / ``corr_cov``: cosine of whitened RDM vectors."""

    def kernel(va: np.ndarray, vb: np.ndarray, *, n_cond: int, sigma_k=None, device=None) -> np.ndarray:
        import torch

        with torch.no_grad():
            a, b = _as_tensors(va, vb, device)
            if centre:
                a, b = _centre(a), _centre(b)
            return _cosine(_cov_weighted(a, n_cond, sigma_k), _cov_weighted(b, n_cond, sigma_k)).cpu().numpy()

    return kernel


def _similarity(va: np.ndarray, vb: np.ndarray, method: str, n_cond: int, sigma_k=None, device=None) -> np.ndarray:
    """All-pairs similarity of NaN-free RDM vectors (k_a, m) x (k_b, m) -> float64 (k_a, k_b)."""
    from ._methods import get_method

    return get_method(method, compares="rdm").kernel(va, vb, n_cond=n_cond, sigma_k=sigma_k, device=device)


# --------------------------------------------------------------------------- stack handling


def _shared_mask(stacks: list[tuple[str, _Stack]]) -> np.ndarray:
    """Positions kept: every RDM must have its NaNs (masked pairs) at the same positions."""
    if not any(np.isnan(st.vectors).any() for _, st in stacks):
        return np.ones(stacks[0][1].vectors.shape[1], dtype=bool)  # the common case: nothing missing
    ref = None
    for name, st in stacks:
        nan = np.isnan(st.vectors)
        if ref is None:
            ref = nan[0]
        bad = nan != ref[None, :]
        if bad.any():
            r, p = np.argwhere(bad)[0]
            iu = np.triu_indices(st.n_cond, 1)
            raise BadInputError(
                f"compare: {name} RDM {(st.index[r].item() if isinstance(st.index[r], np.generic) else st.index[r])!r} has {'a NaN' if nan[r, p] else 'a value'} at stimulus "
                f"pair ({int(iu[0][p])}, {int(iu[1][p])}) where the other RDMs have "
                f"{'values' if nan[r, p] else 'NaN'}. NaN (missing) dissimilarities are only ignored when every "
                "compared RDM misses the same pairs; drop the RDM or the stimulus instead."
            )
    keep = ~ref
    if keep.sum() < 2:
        raise BadInputError("compare: fewer than 2 dissimilarities are left after removing NaN pairs.")
    return keep


def _check_same_stimuli(a: _Stack, b: _Stack) -> None:
    if a.n_cond != b.n_cond:
        raise DataModelError(
            f"compare: the RDMs cover different numbers of stimuli ({a.n_cond} vs {b.n_cond}); compare RDMs "
            "of the same stimuli (select the shared ones with .sel(stimulus=..., stimulus_=...))."
        )
    if a.stimulus is not None and b.stimulus is not None and not np.array_equal(a.stimulus, b.stimulus):
        raise DataModelError(
            "compare: the two RDM stacks list different stimuli, or the same in a different order; align "
            "them first, e.g. b.sel(stimulus=a.stimulus.values, stimulus_=a.stimulus.values)."
        )


def _coord_dict(st: _Stack, suffix: str) -> dict[str, Any]:
    dim = f"rdm_{suffix}"
    coords: dict[str, Any] = {dim: st.index}
    for name, values in st.coords.items():
        coords[f"{name}_{suffix}"] = (dim, values)
    return coords


def compare(a: Any, b: Any, method: str = "spearman", *, sigma_k: Any = None, device: Any = "auto") -> xr.DataArray:
    """Similarity of every RDM in ``a`` with every RDM in ``b``.

    Parameters
    ----------
    a, b : xarray.DataArray, numpy.ndarray or rsatoolbox.rdm.RDMs
        RDM stacks: DataArrays with dims (``rdm``, ``stimulus``, ``stimulus_``)
        (from :func:`neurodecode.analysis.rdm`) or a single (``stimulus``,
        ``stimulus_``) RDM, square numpy matrices (n, n) / (k, n, n), or
        rsatoolbox RDMs. Both must cover the same stimuli in the same order.
        RDMs must be symmetric; the diagonal is ignored. NaN marks a missing
        dissimilarity and is allowed only at pairs missing from every RDM of both
        stacks (those pairs are left out).
    method : str
        An RDM method of the registry :data:`neurodecode.analysis.METHODS`
        (``compares == "rdm"``): ``"spearman"`` (default), ``"pearson"``,
        ``"cosine"``, ``"kendall"`` (tau-b, as rsatoolbox's ``'kendall'``),
        ``"tau_a"``, ``"rho_a"``, ``"corr_cov"`` or ``"cosine_cov"``; aliases
        (rsatoolbox spellings ``'corr'``, ``'tau-a'``, ``'tau-b'``, ``'rho-a'``)
        are accepted. See the module docstring and ``docs/rsa.md``; activation
        methods (CKA, shape metrics...) are compared with
        :func:`neurodecode.analysis.similarity`.
    sigma_k : array-like, optional
        ``corr_cov`` / ``cosine_cov`` only: variances (n,) or covariance (n, n)
        of the pattern estimates (default: identity), as rsatoolbox's ``sigma_k``.
    device : str or torch.device
        Where torch computes: ``"auto"`` (the default; None the same) picks CUDA
        when it is available, else the CPU (until this release: the CPU); or a
        device name. On the CPU, Kendall's tau uses a compiled O(m log m) pair
        count (numba); on other devices a batched sign-matrix product.

    Returns
    -------
    xarray.DataArray
        Float64 similarities, dims (``rdm_a``, ``rdm_b``), index coords the
        ``rdm`` labels of ``a`` and ``b``; every other coord on ``rdm`` comes
        along with the suffix ``_a`` / ``_b`` (``subject`` -> ``subject_a``).
        Attrs: ``method``, ``n_pairs`` (dissimilarities used), ``rdm_method_a``,
        ``rdm_method_b``.

    Raises
    ------
    DataModelError
        Wrong dims / non-square RDMs, or stacks over different stimuli.
    BadInputError
        Unknown method, inf values, asymmetric RDMs, inconsistent NaNs, bad
        ``sigma_k``.

    Notes
    -----
    Inputs are never modified. Each RDM is ranked once (average ranks for
    ties); Kendall's tau counts concordant minus discordant pairs exactly (no
    sampling), vectorised over all pairs of RDMs.
    """
    from ._methods import get_method, names

    spec = get_method(method, compares="rdm")
    name = spec.name
    sa = _as_stack(a, "compare (a)")
    sb = _as_stack(b, "compare (b)")
    _check_same_stimuli(sa, sb)
    if sigma_k is not None and "sigma_k" not in spec.options:
        takes = [n for n in names(compares="rdm") if "sigma_k" in get_method(n).options]
        raise BadInputError(f"compare: sigma_k is only used by {takes}, not {name!r}.")
    sig = _check_sigma(sigma_k, sa.n_cond)
    keep = _shared_mask([("stack a", sa), ("stack b", sb)])
    if not keep.all() and spec.needs_complete:
        raise BadInputError(
            f"compare: {name!r} needs complete RDMs; these miss {int((~keep).sum())} dissimilarities (NaN)."
        )
    va, vb = (sa.vectors, sb.vectors) if keep.all() else (sa.vectors[:, keep], sb.vectors[:, keep])
    from ._device import resolve

    sim = spec.kernel(va, vb, n_cond=sa.n_cond, sigma_k=sig, device=resolve(device))
    coords = {**_coord_dict(sa, "a"), **_coord_dict(sb, "b")}
    out = xr.DataArray(sim, dims=("rdm_a", "rdm_b"), coords=coords, name=name)
    out.attrs.update(
        {
            "method": name,
            "n_pairs": int(keep.sum()),
            "rdm_method_a": str(sa.method),
            "rdm_method_b": str(sb.method),
        }
    )
    return out
