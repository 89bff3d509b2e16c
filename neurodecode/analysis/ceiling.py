"""Noise ceiling of a group of data RDMs (Nili et al. 2014).

The noise ceiling bounds the best similarity any model RDM can reach with the
data RDMs, given their between-subject variability:

upper bound
    mean over subjects of the similarity between the subject's RDM and the
    *pooled* RDM of all subjects (itself included) -- overfitted, so no model
    can do better on average;
lower bound
    the same with the pooled RDM of all *other* subjects (leave one subject
    out) -- what a model as good as the others' average would reach.

"Pooled" is the RDM that best fits the group under the comparison method, as
rsatoolbox's ``pool_rdm``: the mean of the rank-transformed RDMs for the rank
methods (``spearman``, ``rho_a``, ``kendall``, ``tau_a``), the mean of
z-scored RDMs for ``pearson`` / ``corr_cov``, the mean of RMS-normalised RDMs
for ``cosine`` / ``cosine_cov``. This is exactly rsatoolbox's
``rsatoolbox.inference.boot_noise_ceiling`` (same numbers to 1e-8, see
``tests/analysis/test_ceiling.py``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..errors import BadInputError
from .compare import _shared_mask, _similarity
from .convert import _as_stack

__all__ = ["noise_ceiling", "NoiseCeiling"]


class NoiseCeiling(NamedTuple):
    """Lower and upper bound of the noise ceiling (a plain tuple: ``lower, upper = ...``)."""

    lower: float
    upper: float


def _pool(v: np.ndarray, method: str) -> np.ndarray:
    """The pooled RDM vector of the rows of ``v`` under ``method`` (rsatoolbox's pool_rdm), from the registry."""
    from ._methods import get_method

    return get_method(method, compares="rdm", what="noise_ceiling").pool_spec.pool(v)


def noise_ceiling(rdms: Any, method: str = "spearman", *, by: str | None = "subject") -> NoiseCeiling:
    """Leave-one-subject-out lower and average-based upper bound of the noise ceiling.

    Parameters
    ----------
    rdms : xarray.DataArray, numpy.ndarray or rsatoolbox.rdm.RDMs
        The data RDMs (one per subject, or several per subject with a ``subject``
        coord), as accepted by :func:`neurodecode.analysis.compare`.
    method : str
        RDM comparison method the models will be evaluated with: any registry
        entry with ``compares == "rdm"`` (``"spearman"``, ``"pearson"``,
        ``"cosine"``, ``"kendall"``, ``"tau_a"``, ``"rho_a"``, ``"corr_cov"``,
        ``"cosine_cov"``); its ``pool`` field says how the group is pooled.
    by : str or None
        Coord on ``rdm`` naming each RDM's subject (the grouping of
        :func:`~neurodecode.analysis.bootstrap` too): a whole subject is left out
        at a time and its RDMs' similarities are averaged before averaging over
        subjects (rsatoolbox's ``rdm_descriptor``). Default ``"subject"``, used
        when the stack has that coord (several sessions per subject count once);
        without it, or with ``by=None``, every RDM is its own subject. Until this
        release the default was None.

    Returns
    -------
    NoiseCeiling
        ``(lower, upper)`` as floats.

    Raises
    ------
    BadInputError
        Fewer than two subjects/groups, an unknown ``by`` coord, or RDMs with
        inconsistent NaNs.

    Notes
    -----
    Equals ``rsatoolbox.inference.boot_noise_ceiling(rdms, method,
    rdm_descriptor=by or 'index')`` (``'index'`` when the stack has no ``by`` coord). For the tau methods rsatoolbox pools by
    averaging ranks too (it warns that this is an approximation); so does this.
    """
    from ._methods import get_method

    spec = get_method(method, compares="rdm", what="noise_ceiling")
    name = spec.name
    st = _as_stack(rdms, "noise_ceiling")
    keep = _shared_mask([("rdms", st)])
    if not keep.all() and spec.needs_complete:
        raise BadInputError(f"noise_ceiling: {name!r} needs complete RDMs (these contain NaN).")
    v = st.vectors if keep.all() else st.vectors[:, keep]
    k = v.shape[0]
    if by is None or (by == "subject" and "subject" not in st.coords):
        groups = np.arange(k)
    else:
        if by not in st.coords and not (by in ("rdm", "index")):
            raise BadInputError(
                f"noise_ceiling: by={by!r} is not a coord on 'rdm' (coords: {sorted(st.coords)}); "
                "pass the coord that names each RDM's subject."
            )
        values = st.index if by in ("rdm", "index") and by not in st.coords else st.coords[by]
        groups, _ = pd.factorize(np.asarray(values), sort=True)
    n_groups = int(groups.max()) + 1
    if n_groups < 2:
        raise BadInputError(
            f"noise_ceiling: needs RDMs of at least 2 subjects/groups to leave one out; got {n_groups}."
        )
    pooled_all = _pool(v, name)[None, :]
    pooled_out = np.stack([_pool(v[groups != g], name) for g in range(n_groups)])  # loop over groups
    sim_all = _similarity(pooled_all, v, name, st.n_cond)[0]  # (k,)
    sim_out = _similarity(pooled_out, v, name, st.n_cond)  # (G, k)
    lower = np.mean([sim_out[g, groups == g].mean() for g in range(n_groups)])
    upper = np.mean([sim_all[groups == g].mean() for g in range(n_groups)])
    return NoiseCeiling(float(lower), float(upper))
