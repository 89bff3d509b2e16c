"""Statistical inference for RSA: bootstrap CIs, paired model tests, permutation tests, FDR.

:func:`bootstrap` evaluates model RDMs against data RDMs and resamples stimuli,
subjects or both to get a sampling distribution, confidence intervals and
(bootstrapped) noise ceilings. It follows rsatoolbox's conventions exactly
(``rsatoolbox.inference.eval_bootstrap_pattern`` / ``eval_bootstrap_rdm`` /
``eval_bootstrap``; identical resample indices give identical numbers, see
``tests/analysis/test_inference.py``):

* a stimulus resample draws ``n`` stimuli with replacement; the resampled RDM
  holds every pair of drawn stimuli, and the pairs between two copies of the
  *same* stimulus are dropped (rsatoolbox marks them NaN and removes them);
* a sample with fewer than 3 distinct stimuli is invalid (NaN);
* the evaluation of a model is the mean of its similarity with every
  (resampled) data RDM.

Everything is batched in torch: a stimulus resample only changes how often
each stimulus pair occurs, so a resampled RDM is the original vector of
dissimilarities with pair weights ``w_ij = c_i * c_j`` (``c`` the draw counts).
Ranks with ties of the resampled vector are cumulative sums of those weights
along each RDM's sort order (sorted once), and Pearson / Spearman / cosine /
rho-a of the resampled vectors are weighted moments -- no RDM is rebuilt and
no Python loop runs per resample. This is exact, not an approximation.
Methods declared ``resample="expand"`` in the registry (the tau methods) are
evaluated with their own kernel on each resampled RDM vector instead.

``over="dual"`` is the corrected two-factor bootstrap of Schütt et al. 2023
(rsatoolbox's ``eval_dual_bootstrap``): the same draws evaluated on subjects and
stimuli resampled together and each alone, combined into the variance estimate
that :func:`t_test` uses for tests against 0, the noise ceiling and between models.

:func:`paired_test` turns a bootstrap result into pairwise model differences
(CIs and two-sided bootstrap p-values), :func:`permutation_test` tests each
model's relatedness to the data against stimulus-label permutations, and
:func:`fdr` applies the Benjamini-Hochberg (or -Yekutieli) procedure.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from .._deprecate import renamed_params
from ..errors import BadInputError, DataModelError
from .ceiling import noise_ceiling as _noise_ceiling
from .compare import _check_same_stimuli, _shared_mask, _similarity
from .convert import _as_stack, _Stack

__all__ = ["bootstrap", "paired_test", "t_test", "permutation_test", "fdr", "WEIGHTED_METHODS"]

log = logging.getLogger(__name__)


def __getattr__(name: str):
    if name == "WEIGHTED_METHODS":  # RDM methods resampled in closed form: read from the registry
        from ._methods import names

        return names(compares="rdm", resample="pair_weights")
    raise AttributeError(name)


def _spec(method: Any):
    """The registry entry of an RDM method (name or Method)."""
    from ._methods import get_method

    return get_method(method, compares="rdm")


def _form(method: Any):
    """The VectorForm of a registry method (name or Method) that resamples by pair weights."""
    spec = _spec(method)
    if spec.resample != "pair_weights" or spec.vector is None:
        raise AssertionError(f"{spec.name} has no closed-form stimulus resampling")  # pragma: no cover - guarded
    return spec.vector

_OVER = ("stimulus", "subject", "both", "dual")
#: the three evaluations of a dual bootstrap sample, in rsatoolbox's order (``eval_dual_bootstrap``)
_DUAL_FACTORS = ("both", "subject", "stimulus")
#: registry ``resample`` values that allow resampling stimuli of RDMs (closed form; rebuilt vector)
_STIM_RESAMPLE = ("pair_weights", "expand")


# --------------------------------------------------------------------------- threads


@contextmanager
def _cpu_threads(device: Any, n: int = 1):
    """Run torch CPU work on ``n`` intra-op threads (restored afterwards).

    The kernels here issue many mid-sized tensor ops; on a shared or busy machine
    torch's OpenMP threads wait on each other at every op (measured: 25x slower
    with 2 threads on 2 busy cores), while one thread loses at most ~20 % on an
    idle machine. GPU devices are left alone.
    """
    import torch

    from ._device import resolve

    if torch.device(resolve(device)).type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    if old == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def _numba_threads(n: int = 1):
    """Run numba's parallel kernels on ``n`` threads (restored afterwards); nothing without numba.

    Many small kernel calls (one per bootstrap sample) are dominated by waking the thread pool:
    measured 3.4x faster on one thread on a busy 2-core machine.
    """
    try:
        import numba
    except ImportError:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(min(n, old))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _single_threaded(fn: Callable) -> Callable:
    """Decorator: run ``fn`` under :func:`_cpu_threads` for its ``device`` keyword."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _cpu_threads(kwargs.get("device")):
            return fn(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- torch kernels


def _device(device: Any):
    """The torch device of a ``device`` argument (``"auto"``/None: CUDA when available, else the CPU)."""
    import torch

    from ._device import resolve

    return torch.device(resolve(device))


def _group_ids(v):
    """Tie-group id of every entry along the last dim (ids follow the sorted unique values) and their count."""
    import torch

    s, order = torch.sort(v, dim=-1)
    new = torch.ones_like(s, dtype=torch.bool)
    new[..., 1:] = s[..., 1:] != s[..., :-1]
    gs = torch.cumsum(new, -1) - 1
    gid = torch.empty_like(gs).scatter_(-1, order, gs)
    return gid, int(gs[..., -1].max()) + 1


def _group_ids_int(keys):
    """:func:`_group_ids` for non-negative int64 keys; on the CPU one value sort of (key, position) packed in int64."""
    import torch

    m = keys.shape[-1]
    shift = max(1, int(m - 1).bit_length())
    if keys.device.type != "cpu" or int(keys.max()) >= (1 << (62 - shift)):
        return _group_ids(keys)
    k = keys.numpy().reshape(-1, m)
    packed = (k << shift) | np.arange(m, dtype=np.int64)
    packed.sort(axis=-1)
    s = packed >> shift
    new = np.empty(s.shape, dtype=bool)
    new[:, 0] = True
    np.not_equal(s[:, 1:], s[:, :-1], out=new[:, 1:])
    gs = np.cumsum(new, axis=-1, dtype=np.int64) - 1
    flat = (packed & ((1 << shift) - 1)) + (np.arange(k.shape[0], dtype=np.int64) * m)[:, None]
    gid = np.empty(k.size, dtype=np.int64)
    gid[flat.ravel()] = gs.ravel()
    gid = gid.reshape(keys.shape)
    return torch.from_numpy(gid), int(gs[..., -1].max()) + 1


def _weighted_ranks(gid, n_groups: int, w):
    """Average ranks (ties averaged) of vectors whose entries occur ``w`` times each.

    ``gid`` (..., K, m) tie-group ids from :func:`_group_ids`, ``w`` (B, 1, m) integer-valued
    float weights; returns (B, K, m): the rank every copy of each entry gets in the expanded
    vector (scipy.stats.rankdata of the vector with each entry repeated ``w`` times). A tie
    group of total weight ``t`` after ``c - t`` smaller copies gets rank ``c - (t - 1) / 2``.
    """
    import torch

    shape = (w.shape[0], gid.shape[-2], gid.shape[-1])
    g = gid.expand(shape)
    tot = torch.zeros(*shape[:-1], n_groups, dtype=w.dtype, device=w.device)
    tot.scatter_add_(-1, g, w.expand(shape))
    table = torch.cumsum(tot, -1)
    table.sub_(tot.sub_(1.0).mul_(0.5))  # in place: c - (t - 1) / 2
    return torch.gather(table, -1, g)


def _weighted_sim(x, y, w, method: Any):
    """Similarity of all row pairs of x (B, Kx, m) and y (B, Ky, m) with pair weights w (B, 1, m).

    ``method``: a registry method with a :class:`VectorForm` (name, Method or the form).
    ``x``/``y`` hold ranks for the rank methods (raw values otherwise, best
    pre-centred). Equals the unweighted measure on the vectors with each entry repeated
    ``w`` times; one pass over the data (weighted moments). Zero-norm rows give 0 (rsatoolbox).
    """
    import torch

    from ._methods import VectorForm

    form = method if isinstance(method, VectorForm) else _form(method)
    tot = w.sum(-1)  # (B, 1)
    xw = x * w
    yw = y * w
    cross = torch.bmm(xw, y.transpose(1, 2))  # (B, Kx, Ky)
    sxx = (xw * x).sum(-1)
    syy = (yw * y).sum(-1)
    if not form.centre:
        vx, vy, cov = sxx, syy, cross
    else:
        mx = xw.sum(-1) / tot
        my = yw.sum(-1) / tot
        cov = cross - (tot * mx)[:, :, None] * my[:, None, :]
        vx = sxx - tot * mx * mx
        vy = syy - tot * my * my
    if form.scale == "rho_a":
        t3 = tot[:, :, None]
        return cov * 12.0 / (t3**3 - t3)
    zx = vx <= 1e-12 * sxx
    zy = vy <= 1e-12 * syy
    nx = torch.sqrt(torch.where(zx, torch.ones_like(vx), vx))
    ny = torch.sqrt(torch.where(zy, torch.ones_like(vy), vy))
    sim = cov / nx[:, :, None] / ny[:, None, :]
    zero = zx[:, :, None] | zy[:, None, :]
    return torch.where(zero, torch.zeros_like(sim), sim)


def _weighted_normalise(x, w, pool: str):
    """Per-RDM normalisation before pooling (the registry's ``pool``: rsatoolbox's pool_rdm) under pair weights."""
    import torch

    if pool == "rank":
        return x  # already ranks
    tot = w.sum(-1, keepdim=True)
    if pool == "rms":
        return x / torch.sqrt((x * x * w).sum(-1, keepdim=True) / tot)
    xc = x - (x * w).sum(-1, keepdim=True) / tot
    return xc / torch.sqrt((xc * xc * w).sum(-1, keepdim=True) / tot)


def _group_onehot(groups: np.ndarray, n_groups: int, dtype, device):
    import torch

    g = torch.as_tensor(groups, device=device)
    return (g[None, :] == torch.arange(n_groups, device=device)[:, None]).to(dtype)  # (G, K)


def _pooled(z, c, onehot, *, sums: bool = False):
    """Pooled vectors: all RDMs, and all but each group (rsatoolbox's leave-one-out), weighted by c.

    ``z`` (B, K, m) normalised vectors (or (K, m)), ``c`` (B, K) multiplicities, ``onehot`` (G, K).
    Returns (B, G + 1, m); where a sample holds a single group the leave-one-out pool is the full
    pool (rsatoolbox then uses the whole set as training and test set). ``sums=True`` returns the
    weighted sums instead of the means (same ranks; exact half-integers for rank vectors).
    """
    import torch

    b, m = c.shape[0], z.shape[-1]
    g = onehot.shape[0]
    if z.ndim == 2:
        z = z.expand(b, *z.shape)
    cz = c[:, :, None] * z
    out = torch.empty(b, g + 1, m, dtype=z.dtype, device=z.device)
    total = out[:, 0]
    torch.sum(cz, dim=1, out=total)  # (B, m)
    if g == onehot.shape[1] and bool((onehot == torch.eye(g, dtype=onehot.dtype, device=onehot.device)).all()):
        gsum = cz  # every RDM its own group
    else:
        gsum = torch.einsum("gk,bkm->bgm", onehot, cz)
    torch.sub(total[:, None, :], gsum, out=out[:, 1:])
    ctot = c.sum(1)  # (B,)
    rest = ctot[:, None] - c @ onehot.T  # (B, G)
    alone = rest <= 0
    if bool(alone.any()):
        out[:, 1:] = torch.where(alone[:, :, None], total[:, None, :], out[:, 1:])
    if sums:
        return out
    denom = torch.cat([ctot[:, None], torch.where(alone, ctot[:, None], rest)], dim=1)
    return out / denom[:, :, None]


def _ceiling_from_sims(sims, c, onehot):
    """Lower/upper bound from similarities (B, G + 1, K) of the pooled vectors with each data RDM."""
    present = (c @ onehot.T) > 0  # (B, G)
    size = onehot.sum(1)  # (G,)
    upper_g = (sims[:, 0, :] @ onehot.T) / size  # (B, G)
    lower_g = (sims[:, 1:, :] * onehot[None]).sum(-1) / size  # (B, G)
    n_present = present.sum(1)
    upper = (upper_g * present).sum(1) / n_present
    lower = (lower_g * present).sum(1) / n_present
    return lower, upper


# --------------------------------------------------------------------------- input helpers


def _groups_of(st: _Stack, subject_dim: str | None) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Group code of each data RDM (its subject) and the group labels."""
    import pandas as pd

    if subject_dim is None or (subject_dim not in st.coords and subject_dim not in ("rdm", "index")):
        return np.arange(len(st.index)), np.asarray(st.index), None
    values = st.index if subject_dim in ("rdm", "index") and subject_dim not in st.coords else st.coords[subject_dim]
    codes, uniques = pd.factorize(np.asarray(values), sort=True)
    return codes.astype(np.int64), np.asarray(uniques), subject_dim


def _check_indices(idx: Any, n_boot: int, n: int, what: str) -> np.ndarray:
    arr = np.asarray(idx)
    if arr.ndim != 2 or arr.shape[1] != n or not np.issubdtype(arr.dtype, np.integer):
        raise BadInputError(
            f"bootstrap: {what} must be an integer array (n_boot, {n}) of positions to draw; got "
            f"{arr.dtype} array of shape {arr.shape}."
        )
    if arr.shape[0] != n_boot:
        raise BadInputError(f"bootstrap: {what} holds {arr.shape[0]} resamples but n_boot={n_boot}.")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise BadInputError(f"bootstrap: {what} holds positions outside 0..{n - 1}.")
    return arr.astype(np.int64)


def _pair_coords(sm: _Stack, sd: _Stack) -> dict[str, Any]:
    """Coords of the ``model`` and ``data`` dims; a coord name both stacks carry gets a suffix."""
    shared = set(sm.coords) & set(sd.coords)
    coords: dict[str, Any] = {"model": sm.index, "data": sd.index}
    for st, dim in ((sm, "model"), (sd, "data")):
        for name, values in st.coords.items():
            key = f"{name}_{dim}" if name in shared or name in ("model", "data") else name
            coords[key] = (dim, values)
    return coords


def _normalise_rows_np(v: np.ndarray, method: str) -> np.ndarray:
    """Per-RDM normalisation of ceiling.py's pooling (the registry's ``pool``), one row at a time."""
    from ._methods import get_method

    return get_method(method, compares="rdm").pool_spec.normalise(v)


def _percentiles(boot: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.nanpercentile(boot, [50 * (1 - ci), 50 * (1 + ci)], axis=0)
    return lo, hi


def _auto_batch(per_sample: int, batch_size: int | None) -> int:
    if batch_size is not None:
        if int(batch_size) < 1:
            raise BadInputError(f"batch_size must be >= 1, got {batch_size}.")
        return int(batch_size)
    return max(1, int(400_000 // max(per_sample, 1)))


class _StimulusResampler:
    """Precomputed state for evaluating RDM vectors under stimulus resamples (private).

    A resample only weights the stimulus pairs (``w_ij = c_i c_j``); pairs of stimuli
    that were not drawn have weight 0. Each batch is *compacted* to the pairs among the
    drawn stimuli (about 40 % of all pairs for a bootstrap sample), padded to the
    largest sample of the batch with zero weights.
    """

    def __init__(self, vm, vd, iu0, iu1, n, method, device):
        import torch

        self.dev = _device(device)
        self.dt = torch.float64
        self.n = n
        self.method = method
        # closed-form methods ("pair_weights") transform the vectors; "expand" methods use the raw ones
        spec = _spec(method)
        self.form = _form(spec) if spec.resample == "pair_weights" else None
        tm = torch.as_tensor(vm, dtype=self.dt, device=self.dev)
        td = torch.as_tensor(vd, dtype=self.dt, device=self.dev)
        if self.form is None:
            pass
        elif self.form.rank:
            self.gid_m, self.ng_m = _group_ids(tm)
            self.gid_d, self.ng_d = _group_ids(td)
        elif self.form.centre:  # shift-invariant: centre once, for accurate one-pass moments
            tm = tm - tm.mean(-1, keepdim=True)
            td = td - td.mean(-1, keepdim=True)
        self.tm, self.td = tm, td
        lut = torch.full((n, n), -1, dtype=torch.int64, device=self.dev)
        pos = torch.arange(len(iu0), device=self.dev)
        i0 = torch.as_tensor(iu0, device=self.dev)
        i1 = torch.as_tensor(iu1, device=self.dev)
        lut[i0, i1] = pos
        lut[i1, i0] = pos
        self.lut = lut  # condensed position of each kept pair, -1 for the diagonal and masked pairs

    def pairs(self, draws: np.ndarray):
        """Compacted pair positions (nb, m'), their weights (nb, m'; 0 for padding) and validity (nb,)."""
        import torch

        nb, n, dev, dt = draws.shape[0], self.n, self.dev, self.dt
        pc = torch.zeros(nb, n, dtype=dt, device=dev)
        pc.scatter_add_(1, torch.as_tensor(draws, device=dev), torch.ones(nb, n, dtype=dt, device=dev))
        present = pc > 0
        count = present.sum(1)
        ok = count >= 3
        smax = max(int(count.max()), 2)
        stim = torch.argsort((~present).to(torch.int8), dim=1, stable=True)[:, :smax]  # drawn stimuli first
        inside = torch.arange(smax, device=dev)[None, :] < count[:, None]
        ta, tb = torch.triu_indices(smax, smax, 1, device=dev)
        sa, sb = stim[:, ta], stim[:, tb]
        pos = self.lut[sa, sb]  # (nb, m')
        keep = inside[:, ta] & inside[:, tb] & (pos >= 0)
        w = torch.where(keep, torch.gather(pc, 1, sa) * torch.gather(pc, 1, sb), torch.zeros((), dtype=dt, device=dev))
        w = torch.where(ok[:, None], w, keep.to(dt))  # placeholder weights for invalid samples (result NaN)
        pos = torch.where(keep, pos, torch.zeros((), dtype=pos.dtype, device=dev))
        return pos, w, ok

    def expanded(self, draws: np.ndarray):
        """Per draw: the positions of the resampled RDM vector (pair (i, j) repeated c_i c_j times), validity.

        This is the vector rsatoolbox builds (``subsample_pattern``, pairs of copies dropped); methods
        declared ``resample="expand"`` evaluate their own kernel on it.
        """
        pos, w, ok = self.pairs(draws)
        pos, w = pos.cpu().numpy(), np.rint(w.cpu().numpy()).astype(np.int64)
        return [np.repeat(pos[b], w[b]) for b in range(pos.shape[0])], ok.cpu().numpy()

    def batch(self, draws: np.ndarray):
        """Transformed model/data vectors, pair weights and validity for (nb, n) draws."""
        nb = draws.shape[0]
        pos, w, ok = self.pairs(draws)
        w = w[:, None, :]
        mc = pos.shape[1]
        flat = pos.reshape(-1)
        if self.form.rank:
            gm = self.gid_m[:, flat].reshape(-1, nb, mc).transpose(0, 1)
            gd = self.gid_d[:, flat].reshape(-1, nb, mc).transpose(0, 1)
            xm = _weighted_ranks(gm, self.ng_m, w)
            xd = _weighted_ranks(gd, self.ng_d, w)
        else:
            xm = self.tm[:, flat].reshape(-1, nb, mc).transpose(0, 1)
            xd = self.td[:, flat].reshape(-1, nb, mc).transpose(0, 1)
        return xm, xd, w, ok


def _resampled_similarities(
    vm: np.ndarray, vd: np.ndarray, iu0: np.ndarray, iu1: np.ndarray, n: int, p_idx: np.ndarray, method: str,
    device: Any = None, batch_size: int | None = None,
) -> np.ndarray:
    """Similarities (n_boot, k_model, k_data) of condensed RDM vectors under stimulus resamples.

    ``vm``/``vd`` hold the dissimilarities of the pairs (``iu0``, ``iu1``) of ``n`` stimuli;
    ``p_idx`` (n_boot, n) the drawn positions. NaN for samples with fewer than 3 distinct stimuli.
    ``method`` a registry method with ``resample == "pair_weights"``.
    """
    import torch

    km, kd, m = vm.shape[0], vd.shape[0], vm.shape[1]
    out = np.full((p_idx.shape[0], km, kd), np.nan)
    with torch.no_grad():
        rs = _StimulusResampler(vm, vd, iu0, iu1, n, method, device)
        bs = _auto_batch((km + kd) * m // 2, batch_size if batch_size is not None or rs.dev.type == "cpu" else 1_000)
        for b0 in range(0, p_idx.shape[0], bs):
            b1 = min(p_idx.shape[0], b0 + bs)
            xm, xd, w, ok = rs.batch(p_idx[b0:b1])
            s = _weighted_sim(xm, xd, w, method)
            s = torch.where(ok[:, None, None], s, torch.full_like(s, float("nan")))
            out[b0:b1] = s.cpu().numpy()
    return out


class _Evaluator:
    """Model evaluations (and noise ceilings) of one bootstrap factor for a batch of samples (private).

    Called with the batch's stimulus draws (None: all stimuli) and the multiplicity of every data
    RDM (nb, k_data) (ones: all subjects once); returns the evaluations (nb, k_model[, k_data]),
    the samples' validity (nb,) and the noise ceilings (nb, 2) (NaN when not computed). One
    implementation for every bootstrap mode, the dual bootstrap's three factors included.
    """

    def __init__(self, spec, vm, vd, iu0, iu1, n, onehot, sim, do_ceiling, per_rdm, stim, device):
        import torch

        self.spec, self.name, self.n = spec, spec.name, n
        self.vm, self.vd = vm, vd
        self.onehot, self.do_ceiling, self.per_rdm, self.device = onehot, do_ceiling, per_rdm, device
        self.dev, self.dt = _device(device), torch.float64
        self.sim_t = torch.as_tensor(sim, dtype=self.dt, device=self.dev)
        self.z_t = (
            torch.as_tensor(_normalise_rows_np(vd, self.name), dtype=self.dt, device=self.dev) if do_ceiling else None
        )
        self.rs = _StimulusResampler(vm, vd, iu0, iu1, n, self.name, device) if stim else None

    def _mean(self, s, c):
        """Evaluations (nb, km[, kd]) from similarities (nb, km, kd) and data multiplicities (nb, kd)."""
        return s if self.per_rdm else (s * c[:, None, :]).sum(-1) / c.sum(-1, keepdim=True)

    def __call__(self, draws: np.ndarray | None, c):
        import torch

        nb = c.shape[0]
        ceil = np.full((nb, 2), np.nan)
        if draws is None:  # all stimuli: similarities are fixed, only the data RDMs' multiplicities vary
            est = (self.sim_t[None] * c[:, None, :]).sum(-1) / c.sum(-1, keepdim=True)
            if self.do_ceiling:
                pooled = _pooled(self.z_t, c, self.onehot)  # (nb, G + 1, m)
                flat = pooled.reshape(-1, self.vd.shape[1]).cpu().numpy()
                ps = _similarity(flat, self.vd, self.name, self.n, device=self.device)  # (nb * (G + 1), kd)
                ps_t = torch.as_tensor(ps, dtype=self.dt, device=self.dev).reshape(nb, -1, self.vd.shape[0])
                lo, up = _ceiling_from_sims(ps_t, c, self.onehot)
                ceil[:, 0], ceil[:, 1] = lo.cpu().numpy(), up.cpu().numpy()
            return est.cpu().numpy(), np.ones(nb, dtype=bool), ceil
        if self.spec.resample == "pair_weights":
            return self._closed_form(draws, c, ceil)
        return self._expanded(draws, c, ceil)

    def _closed_form(self, draws, c, ceil):
        """Pair-weight methods: weighted moments of the compacted vectors, no RDM rebuilt."""
        import torch

        xm, xd, w, ok = self.rs.batch(draws)  # (nb, k, m'), (nb, 1, m'), (nb,)
        est = self._mean(_weighted_sim(xm, xd, w, self.name), c)  # (nb, km[, kd])
        est = torch.where(ok.reshape(-1, *([1] * (est.ndim - 1))), est, torch.full_like(est, float("nan")))
        if self.do_ceiling:
            if self.spec.vector.rank:  # rank the pooled rank sums (exact half-integers -> int keys)
                sums = _pooled(xd, c, self.onehot, sums=True)  # (nb, G + 1, m)
                keys = torch.round(2.0 * sums).to(torch.int64)
                pooled = _weighted_ranks(*_group_ids_int(keys), w)
            else:
                pooled = _pooled(_weighted_normalise(xd, w, self.spec.pool), c, self.onehot)
            ps = _weighted_sim(pooled, xd, w, self.name)  # (nb, G + 1, kd)
            lo, up = _ceiling_from_sims(ps, c, self.onehot)
            okn = ok.cpu().numpy()
            ceil[:, 0] = np.where(okn, lo.cpu().numpy(), np.nan)
            ceil[:, 1] = np.where(okn, up.cpu().numpy(), np.nan)
        return est.cpu().numpy(), ok.cpu().numpy(), ceil

    def _expanded(self, draws, c, ceil):
        """``resample="expand"`` methods: the method's kernel on each resampled RDM vector, as rsatoolbox."""
        positions, ok = self.rs.expanded(draws)
        km, kd = self.vm.shape[0], self.vd.shape[0]
        est = np.full((len(positions), km, kd) if self.per_rdm else (len(positions), km), np.nan)
        pool = self.spec.pool_spec if self.do_ceiling else None
        c_np = c.cpu().numpy()  # (nb, kd) data RDM multiplicities, for the mean over data RDMs in numpy
        with _numba_threads(1):
            for b, idx in enumerate(positions):
                if ok[b]:
                    self._expanded_one(b, idx, c, c_np[b], est, ceil, pool)
        return est, np.asarray(ok, dtype=bool), ceil

    def _expanded_one(self, b, idx, c, cb, est, ceil, pool):
        """One resampled vector (positions ``idx``) of :meth:`_expanded`; fills ``est[b]`` and ``ceil[b]``.

        ``cb`` (kd,): the multiplicities of the data RDMs in sample ``b`` (row ``b`` of ``c``, as numpy).
        """
        import torch

        xm, xd = self.vm[:, idx], self.vd[:, idx]
        s = _similarity(xm, xd, self.name, self.n, device=self.device)  # (km, kd)
        est[b] = s if self.per_rdm else (s * cb).sum(-1) / cb.sum()  # the weighted mean of :meth:`_mean`
        if pool is not None:
            z = torch.as_tensor(pool.normalise(xd), dtype=self.dt, device=self.dev)
            pooled = _pooled(z, c[b : b + 1], self.onehot)[0].cpu().numpy()  # (G + 1, M)
            if pool.finish is not None:
                pooled = np.stack([pool.finish(row) for row in pooled])
            ps = _similarity(pooled, xd, self.name, self.n, device=self.device)  # (G + 1, kd)
            lo, up = _ceiling_from_sims(torch.as_tensor(ps, dtype=self.dt, device=self.dev)[None], c[b : b + 1],
                                        self.onehot)
            ceil[b] = float(lo[0]), float(up[0])


# --------------------------------------------------------------------------- bootstrap


@renamed_params(subject_dim="by")
@_single_threaded
def bootstrap(
    model_rdms: Any,
    data_rdms: Any,
    method: str = "spearman",
    *,
    over: str = "stimulus",
    n_boot: int = 1000,
    seed: int | None = 0,
    ci: float = 0.95,
    by: str | None = "subject",
    per_rdm: bool = False,
    noise_ceiling: bool = True,
    stimulus_indices: Any = None,
    subject_indices: Any = None,
    batch_size: int | None = None,
    device: Any = "auto",
) -> xr.Dataset:
    """Bootstrap the evaluation of model RDMs on data RDMs over stimuli, subjects or both.

    Parameters
    ----------
    model_rdms, data_rdms : xarray.DataArray, numpy.ndarray or rsatoolbox.rdm.RDMs
        RDM stacks over the same stimuli (as accepted by
        :func:`neurodecode.analysis.compare`): candidate models (network layers,
        model RDMs) and data (one RDM per subject/session, or per region).
    method : str
        RDM comparison method (a :data:`neurodecode.analysis.METHODS` entry with
        ``compares == "rdm"``). Resampling stimuli needs an entry with
        ``resample == "pair_weights"`` (``spearman``, ``pearson``, ``cosine``,
        ``rho_a``: closed form) or ``"expand"`` (``tau_a``, ``kendall``: the
        method's kernel on every resampled RDM); ``over="subject"`` takes every
        RDM method.
    over : {"stimulus", "subject", "both", "dual"}
        What to resample: stimuli (rsatoolbox's ``eval_bootstrap_pattern``), subjects
        (``eval_bootstrap_rdm``), both at once (``eval_bootstrap``), or ``"dual"``:
        the corrected two-factor bootstrap of Schütt et al. 2023 (rsatoolbox's
        ``eval_dual_bootstrap``): each sample draws subjects and stimuli and
        evaluates the models three times -- on both resampled, on the subjects
        only and on the stimuli only -- and the three variances are combined into
        an unbiased variance of the evaluation (the plain two-factor bootstrap
        overestimates it). Use :func:`t_test` for the tests.
    n_boot : int
        Number of bootstrap samples.
    seed : int or None
        Seed of the ``numpy.random.default_rng`` drawing the resamples.
    ci : float
        Coverage of the percentile confidence intervals (e.g. 0.95).
    by : str or None
        Coord on the data's ``rdm`` dim naming each RDM's subject: subjects are
        resampled (and left out for the noise ceiling) as whole groups
        (rsatoolbox's ``rdm_descriptor``), as :func:`~neurodecode.analysis.noise_ceiling`
        groups them. Used when present; when absent (or None), every data RDM is its
        own subject. (``subject_dim``, the old name, still works for one release,
        with a warning.)
    per_rdm : bool
        Keep one estimate per data RDM (e.g. per brain region) instead of the
        mean over data RDMs. Only with ``over="stimulus"``.
    noise_ceiling : bool
        Also compute the noise ceiling of each bootstrap sample (needs at least
        2 subjects); the point ceiling is always given when possible.
    stimulus_indices, subject_indices : array-like of int, optional
        (n_boot, n_stimulus) / (n_boot, n_subject) positions to use instead of
        drawing them (e.g. to reproduce the draws of another tool exactly).
    batch_size : int, optional
        Resamples processed per batch (default: a few on the CPU, where small batches
        stay in cache; thousands on a GPU).
    device : str or torch.device
        Where torch computes: ``"auto"`` (the default; None the same) picks CUDA when it
        is available, else the CPU (until this release: the CPU); or a device name.

    Returns
    -------
    xarray.Dataset
        Dims ``model`` (the model RDMs' labels and coords), ``data`` (the data RDMs'),
        ``boot`` and ``bound`` (``lower``, ``upper``). Variables:

        ``similarity`` (model, data)
            similarity of each model with each data RDM (all stimuli).
        ``estimate`` (model[, data])
            point estimate: mean of ``similarity`` over data RDMs (or per RDM).
        ``bootstrap`` (boot, model[, data])
            bootstrap distribution (NaN for invalid samples).
        ``ci_lower``, ``ci_upper``, ``se``
            percentile CI and bootstrap standard error (ddof 1) over valid samples.
        ``noise_ceiling`` (bound)
            point noise ceiling (:func:`neurodecode.analysis.noise_ceiling`).
        ``noise_ceiling_boot`` (boot, bound), ``noise_ceiling_ci_lower/_upper`` (bound)
            bootstrapped ceilings when ``noise_ceiling`` and at least 2 subjects.
        ``stimulus_index`` (boot, draw) / ``subject_index`` (boot, subject_draw)
            the resamples (positions), ``valid`` (boot) whether each sample is valid.

        ``over="dual"`` adds the dim ``factor`` (``both``, ``subject``,
        ``stimulus``), ``dual_bootstrap`` (boot, factor, model) and
        ``dual_noise_ceiling`` (boot, factor, bound): the three evaluations of
        every sample (``bootstrap`` holds the ``both`` ones); ``variance`` (model):
        the corrected variance, with ``se`` its square root; ``boot_mean`` (model):
        the mean of the bootstrap evaluations; and ``ci_lower``/``ci_upper`` are
        t intervals ``boot_mean -+ t(dof) * se`` (rsatoolbox's ``Result.get_ci``),
        attr ``dof = min(n_subjects, n_stimuli) - 1``.

        Attrs: ``method``, ``over``, ``n_boot``, ``n_valid``, ``ci``, ``seed``,
        ``by`` (``"none"`` when each RDM is its own subject; also as ``subject_dim``,
        its old name, for one release), ``n_subjects``,
        ``n_stimuli``. A coord that both stacks carry on ``rdm`` (e.g. ``name``) is
        suffixed: ``name_model``, ``name_data``.

    Raises
    ------
    BadInputError
        Unknown method / ``over``, a method that cannot be resampled over stimuli,
        bad indices, or inconsistent NaNs in the RDMs.
    DataModelError
        RDM stacks over different stimuli.

    Notes
    -----
    Resampled RDMs contain pairs of copies of the same stimulus; as rsatoolbox,
    these pairs are dropped and samples with fewer than 3 distinct stimuli are
    invalid. With the same resample indices the numbers equal rsatoolbox's
    (``eval_bootstrap_pattern``, ``eval_bootstrap_rdm``, ``eval_bootstrap``,
    ``eval_dual_bootstrap``) to floating-point precision. When a subject resample draws a single subject the
    sample's lower ceiling equals its upper one (rsatoolbox's convention).
    """
    import torch

    from ._methods import get_method, names

    spec = get_method(method, compares="rdm", what="bootstrap")
    name = spec.name
    if over not in _OVER:
        raise BadInputError(f"bootstrap: over must be one of {_OVER}, got {over!r}.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise BadInputError(f"bootstrap: n_boot must be a positive integer, got {n_boot!r}.")
    n_boot = int(n_boot)
    if not (0 < float(ci) < 1):
        raise BadInputError(f"bootstrap: ci must be in (0, 1), e.g. 0.95; got {ci!r}.")
    stim_boot = over in ("stimulus", "both", "dual")
    subj_boot = over in ("subject", "both", "dual")
    if stim_boot and spec.resample not in _STIM_RESAMPLE:
        ok_names = names(compares="rdm", resample="pair_weights") + names(compares="rdm", resample="expand")
        raise BadInputError(
            f"bootstrap: resampling stimuli supports the methods {ok_names} (the registry's resample="
            f"'pair_weights' or 'expand'), not {name!r}; use one of them or over='subject'."
        )
    if per_rdm and over != "stimulus":
        raise BadInputError("bootstrap: per_rdm=True needs over='stimulus' (with subjects resampled, data RDMs vary).")

    sm = _as_stack(model_rdms, "bootstrap (model_rdms)")
    sd = _as_stack(data_rdms, "bootstrap (data_rdms)")
    _check_same_stimuli(sm, sd)
    keep = _shared_mask([("model", sm), ("data", sd)])
    if not keep.all() and spec.needs_complete:
        raise BadInputError(f"bootstrap: {name!r} needs complete RDMs (these contain NaN).")
    n = sd.n_cond
    iu0_all, iu1_all = np.triu_indices(n, 1)
    iu0, iu1 = iu0_all[keep], iu1_all[keep]
    vm, vd = sm.vectors[:, keep], sd.vectors[:, keep]
    km, kd, m = vm.shape[0], vd.shape[0], vm.shape[1]
    groups, group_labels, used_dim = _groups_of(sd, by)
    n_groups = int(groups.max()) + 1
    if subj_boot and n_groups < 2:
        raise BadInputError(
            f"bootstrap: over={over!r} resamples subjects but the data hold a single subject; "
            "use over='stimulus' or pass RDMs of several subjects."
        )

    # ---- point estimates
    sim = _similarity(vm, vd, name, n, device=device)  # (km, kd)
    estimate = sim if per_rdm else sim.mean(axis=1)
    ceil_point = (np.nan, np.nan)
    if n_groups >= 2:
        ceil_point = tuple(_noise_ceiling(data_rdms, name, by=used_dim))  # the same grouping (None: each RDM)
    do_ceiling = bool(noise_ceiling) and n_groups >= 2

    # ---- resamples
    rng = np.random.default_rng(seed)
    if subj_boot:
        s_idx = (
            _check_indices(subject_indices, n_boot, n_groups, "subject_indices")
            if subject_indices is not None
            else rng.integers(0, n_groups, size=(n_boot, n_groups))
        )
    elif subject_indices is not None:
        raise BadInputError(f"bootstrap: subject_indices given but over={over!r} does not resample subjects.")
    if stim_boot:
        p_idx = (
            _check_indices(stimulus_indices, n_boot, n, "stimulus_indices")
            if stimulus_indices is not None
            else rng.integers(0, n, size=(n_boot, n))
        )
    elif stimulus_indices is not None:
        raise BadInputError(f"bootstrap: stimulus_indices given but over={over!r} does not resample stimuli.")

    dev = _device(device)
    dt = torch.float64
    factors = _DUAL_FACTORS if over == "dual" else (over,)
    boot_shape = (n_boot, km, kd) if per_rdm else (n_boot, km)
    fboot = np.full((len(factors), *boot_shape), np.nan)
    fceil = np.full((len(factors), n_boot, 2), np.nan)
    valid = np.ones(n_boot, dtype=bool)

    from tqdm.auto import tqdm

    with torch.no_grad():
        onehot = _group_onehot(groups, n_groups, dt, dev)
        groups_t = torch.as_tensor(groups, device=dev)
        ev = _Evaluator(spec, vm, vd, iu0, iu1, n, onehot, sim, do_ceiling, per_rdm, stim_boot, device)
        # a compacted bootstrap sample holds ~40 % of the pairs
        per = (km + kd + (n_groups + 1 if do_ceiling else 0)) * m // 2 if stim_boot else (n_groups + 1) * m + km * kd
        bs = _auto_batch(per, batch_size if batch_size is not None or dev.type == "cpu" else max(1, 50_000_000 // per))
        bar = tqdm(total=n_boot, desc=f"bootstrap over {over}", unit="sample", disable=None, leave=False)
        for b0 in range(0, n_boot, bs):
            b1 = min(n_boot, b0 + bs)
            nb = b1 - b0
            ones = torch.ones(nb, kd, dtype=dt, device=dev)
            c = ones
            if subj_boot:
                sc = torch.zeros(nb, n_groups, dtype=dt, device=dev)
                sc.scatter_add_(1, torch.as_tensor(s_idx[b0:b1], device=dev), torch.ones(nb, n_groups, dtype=dt, device=dev))
                c = sc[:, groups_t]  # (nb, kd) multiplicity of each data RDM
            draws = p_idx[b0:b1] if stim_boot else None
            plan = {  # factor -> (stimulus draws or None, data RDM multiplicities)
                "stimulus": (draws, ones), "subject": (None, c), "both": (draws, c),
            }
            ok = np.ones(nb, dtype=bool)
            for f, factor in enumerate(factors):
                est, ok_f, ceil = ev(*plan[factor])
                fboot[f, b0:b1] = est
                fceil[f, b0:b1] = ceil
                ok &= ok_f
            valid[b0:b1] = ok
            bar.update(nb)
        bar.close()
    fboot[:, ~valid] = np.nan  # a sample with too few distinct stimuli is invalid for every factor (rsatoolbox)
    fceil[:, ~valid] = np.nan
    boot, ceil_boot = fboot[0], fceil[0]

    n_valid = int(valid.sum())
    if n_valid < n_boot:
        log.info("bootstrap: %d of %d samples drew fewer than 3 distinct stimuli and are NaN", n_boot - n_valid, n_boot)
    if n_valid == 0:
        raise BadInputError(
            "bootstrap: no valid bootstrap sample (each drew fewer than 3 distinct stimuli); use more stimuli or "
            "a larger n_boot."
        )
    good = boot[valid]
    lo, hi = _percentiles(good, ci)
    se = np.std(good, axis=0, ddof=1) if n_valid > 1 else np.full(good.shape[1:], np.nan)

    est_dims = ("model", "data") if per_rdm else ("model",)
    coords = _pair_coords(sm, sd)
    coords["bound"] = ["lower", "upper"]
    coords["boot"] = np.arange(n_boot)
    data_vars: dict[str, Any] = {
        "similarity": (("model", "data"), sim),
        "estimate": (est_dims, estimate),
        "bootstrap": (("boot", *est_dims), boot),
        "ci_lower": (est_dims, lo),
        "ci_upper": (est_dims, hi),
        "se": (est_dims, se),
        "noise_ceiling": (("bound",), np.asarray(ceil_point, dtype=np.float64)),
        "valid": (("boot",), valid),
    }
    if do_ceiling:
        data_vars["noise_ceiling_boot"] = (("boot", "bound"), ceil_boot)
        with warnings.catch_warnings():  # all-NaN when a sample holds one subject only
            warnings.simplefilter("ignore", RuntimeWarning)
            clo, chi = _percentiles(ceil_boot[valid], ci)
        data_vars["noise_ceiling_ci_lower"] = (("bound",), clo)
        data_vars["noise_ceiling_ci_upper"] = (("bound",), chi)
    if over == "dual":
        coords["factor"] = list(factors)
        data_vars["dual_bootstrap"] = (("boot", "factor", "model"), fboot.transpose(1, 0, 2))
        if do_ceiling:
            data_vars["dual_noise_ceiling"] = (("boot", "factor", "bound"), fceil.transpose(1, 0, 2))
    if stim_boot:
        data_vars["stimulus_index"] = (("boot", "draw"), p_idx)
    if subj_boot:
        data_vars["subject_index"] = (("boot", "subject_draw"), s_idx)
        coords["subject_draw"] = np.arange(n_groups)
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update(
        {
            "method": name,
            "over": over,
            "n_boot": n_boot,
            "n_valid": n_valid,
            "ci": float(ci),
            "ci_method": "percentile",
            "seed": "none" if seed is None else int(seed) if isinstance(seed, (int, np.integer)) else str(seed),
            "by": "none" if used_dim is None else used_dim,
            "subject_dim": "none" if used_dim is None else used_dim,  # the old name of "by" (one release)
            "n_subjects": n_groups,
            "n_stimuli": n,
        }
    )
    if over == "dual":  # the corrected variance replaces the two-factor bootstrap's (which overestimates it)
        from scipy import stats

        tv = _test_variances(ds)
        se = np.sqrt(np.maximum(tv.model, 0.0))
        half = se * stats.t.ppf(0.5 * (1 + float(ci)), tv.dof)
        ds["variance"] = ("model", tv.model)
        ds["se"] = ("model", se)
        ds["boot_mean"] = ("model", tv.centre)
        ds["ci_lower"] = ("model", tv.centre - half)
        ds["ci_upper"] = ("model", tv.centre + half)
        ds.attrs["ci_method"] = "t, corrected dual-bootstrap variance (Schütt et al. 2023)"
        ds.attrs["dof"] = tv.dof
    return ds


# --------------------------------------------------------------------------- variances and t-tests


class _Variances(NamedTuple):
    model: np.ndarray  # (km,) variance of each model's evaluation
    diff: np.ndarray  # (km, km) variance of the difference row - column
    noise: np.ndarray  # (km, 2) variance of model - ceiling bound (lower, upper)
    dof: int
    centre: np.ndarray  # (km,) mean bootstrap evaluation (rsatoolbox's get_means)
    ceiling: np.ndarray  # (2,) the ceiling bounds the models are tested against


def _dual_correction(v: np.ndarray, n_subject: int, n_stimulus: int) -> np.ndarray:
    """Schütt et al. 2023's variance from the three bootstraps (both, subject, stimulus), small-sample form.

    ``v`` (3, ...) variances in the order of :data:`_DUAL_FACTORS`. The two one-factor variances,
    scaled by n / (n - 1), plus their interaction estimated from the two-factor one; clipped to
    [max of the scaled one-factor variances, the two-factor variance] (rsatoolbox's ``_dual_bootstrap``).
    """
    fs = n_subject / (n_subject - 1)
    fp = n_stimulus / (n_stimulus - 1)
    both, subj, stim = v
    out = fs * subj + fp * stim - fs * fp * (both - subj - stim)
    return np.minimum(np.maximum(np.maximum(out, fs * subj), fp * stim), both)


def _test_variances(result: xr.Dataset) -> _Variances:
    """Variances of model evaluations, their differences and their distances to the ceiling (rsatoolbox's rules).

    Covariances over the valid samples of the evaluations and, when bootstrapped, the noise-ceiling
    bounds; scaled by n / (n - 1) for the resampled factor (the smaller n when both are resampled
    together), or combined by :func:`_dual_correction` for a dual bootstrap.
    """
    over = result.attrs.get("over")
    n_subj, n_stim = int(result.attrs["n_subjects"]), int(result.attrs["n_stimuli"])
    valid = np.asarray(result["valid"].values, dtype=bool)
    if over == "dual":
        x = np.asarray(result["dual_bootstrap"].values)  # (boot, factor, model)
        nc = np.asarray(result["dual_noise_ceiling"].values) if "dual_noise_ceiling" in result else None
    else:
        x = np.asarray(result["bootstrap"].values)[:, None]
        nc = np.asarray(result["noise_ceiling_boot"].values)[:, None] if "noise_ceiling_boot" in result else None
    x = x[valid]
    if nc is not None:
        nc = nc[valid]
        if np.isnan(nc).any():  # e.g. samples that drew a single subject have no leave-one-out ceiling
            nc = None
    km = x.shape[-1]
    if x.shape[0] < 2:
        raise BadInputError("t_test: needs at least 2 valid bootstrap samples.")
    cols = x if nc is None else np.concatenate([x, nc], axis=-1)
    cols = cols - cols.mean(0, keepdims=True)
    cov = np.einsum("bfi,bfj->fij", cols, cols) / (cols.shape[0] - 1)  # (factor, p, p)
    vm = np.einsum("fii->fi", cov)[:, :km]
    diff = vm[:, :, None] + vm[:, None, :] - 2.0 * cov[:, :km, :km]
    if nc is None:
        noise = np.stack([vm, vm], axis=-1)  # the ceiling taken as fixed
    else:
        noise = vm[:, :, None] - 2.0 * cov[:, :km, km:] + np.einsum("fii->fi", cov[:, km:, km:])[:, None, :]
    if over == "dual":
        vm, diff, noise = (_dual_correction(v, n_subj, n_stim) for v in (vm, diff, noise))
        dof = min(n_subj, n_stim) - 1
    else:
        n_eff = {"stimulus": n_stim, "subject": n_subj}.get(over, min(n_subj, n_stim))
        vm, diff, noise = (v[0] * n_eff / (n_eff - 1) for v in (vm, diff, noise))
        dof = n_eff - 1
    centre = x.mean(0).mean(0)
    if nc is not None:
        ceiling = nc.mean(0).mean(0)
    else:
        ceiling = np.asarray(result["noise_ceiling"].values, dtype=np.float64)
    return _Variances(vm, diff, noise, int(dof), centre, ceiling)


def t_test(result: xr.Dataset) -> xr.Dataset:
    """t-tests of model evaluations against 0, against the noise ceiling and between models.

    The tests of Schütt et al. 2023 (rsatoolbox's ``Result.test_zero``, ``test_noise``,
    ``test_pairwise`` with ``test_type='t-test'``), from the variances of a :func:`bootstrap`
    result: for ``over="dual"`` the corrected variance that combines the subject, stimulus and
    two-factor bootstraps; otherwise the bootstrap variance scaled by n / (n - 1).

    Parameters
    ----------
    result : xarray.Dataset
        Output of :func:`bootstrap` with the mean over data RDMs (not ``per_rdm``); best
        ``over="dual"`` (generalises to new subjects and new stimuli, with the correct variance).

    Returns
    -------
    xarray.Dataset
        ``mean`` (model): the mean bootstrap evaluation the tests are centred on (as
        rsatoolbox; over the valid samples and, for ``dual``, the three bootstraps);
        ``se`` (model); ``t_zero``, ``p_zero`` (model): one-sided test of ``mean > 0``;
        ``t_noise``, ``p_noise`` (model): two-sided test of ``mean`` against the lower
        noise-ceiling bound (mean over the bootstrap samples; the variance includes the
        ceiling's covariance with the model when the ceiling was bootstrapped);
        ``difference``, ``t``, ``p`` (model, model_): two-sided tests of row minus column
        model (diagonal NaN); ``noise_ceiling`` (bound) the ceiling tested against.
        Attrs ``dof`` (``min(n_subjects, n_stimuli) - 1`` for two factors, else n - 1 of
        the resampled one), ``method``, ``over``. Correct the p-values for multiple tests,
        e.g. with :func:`fdr`.

    Notes
    -----
    With the same draws the p-values equal rsatoolbox's (``eval_dual_bootstrap``,
    ``eval_bootstrap``, ``eval_bootstrap_pattern``, ``eval_bootstrap_rdm``). Two deliberate
    differences: n in the corrections is the number of *subjects* (rsatoolbox uses the
    number of RDMs, which differs when several RDMs belong to one subject), and for
    ``over="subject"`` the test against the ceiling uses the ceiling's covariance with the
    models (rsatoolbox's ``eval_bootstrap_rdm`` drops it, treating the ceiling as fixed).
    """
    from scipy import stats

    if not isinstance(result, xr.Dataset) or "bootstrap" not in result or "valid" not in result:
        raise DataModelError("t_test: pass the Dataset returned by neurodecode.analysis.bootstrap(...).")
    if "data" in result["bootstrap"].dims:
        raise BadInputError("t_test: needs the mean over data RDMs; run bootstrap with per_rdm=False.")
    tv = _test_variances(result)
    eps = np.finfo(float).eps
    se = np.sqrt(np.maximum(tv.model, 0.0))
    t0 = tv.centre / np.sqrt(np.maximum(tv.model, eps))
    tn = (tv.centre - tv.ceiling[0]) / np.sqrt(np.maximum(tv.noise[:, 0], eps))
    diff = tv.centre[:, None] - tv.centre[None, :]
    tp = diff / np.sqrt(np.maximum(tv.diff, eps))
    p_pair = 2.0 * stats.t.sf(np.abs(tp), tv.dof)
    k = len(tv.centre)
    for arr in (diff, tp, p_pair):
        arr[np.eye(k, dtype=bool)] = np.nan
    model = result["model"].values
    out = xr.Dataset(
        {
            "mean": ("model", tv.centre),
            "se": ("model", se),
            "t_zero": ("model", t0),
            "p_zero": ("model", stats.t.sf(t0, tv.dof)),
            "t_noise": ("model", tn),
            "p_noise": ("model", 2.0 * stats.t.sf(np.abs(tn), tv.dof)),
            "difference": (("model", "model_"), diff),
            "t": (("model", "model_"), tp),
            "p": (("model", "model_"), p_pair),
            "noise_ceiling": ("bound", tv.ceiling),
        },
        coords={"model": model, "model_": model, "bound": ["lower", "upper"]},
    )
    out.attrs.update({"method": result.attrs.get("method", "unknown"), "over": result.attrs.get("over", "unknown"),
                      "dof": tv.dof, "test": "t-test (Schütt et al. 2023)"})
    return out


# --------------------------------------------------------------------------- paired tests


def paired_test(result: xr.Dataset, *, ci: float | None = None) -> xr.Dataset:
    """Pairwise differences between models from a :func:`bootstrap` result.

    Parameters
    ----------
    result : xarray.Dataset
        Output of :func:`bootstrap` (variables ``estimate`` and ``bootstrap``).
    ci : float, optional
        Coverage of the difference CIs (default: the result's ``ci``).

    Returns
    -------
    xarray.Dataset
        Dims (``model``, ``model_``) (plus ``data`` for a per-RDM result):
        ``difference`` (estimate of row model minus column model), ``ci_lower``,
        ``ci_upper`` (percentile CI of the paired bootstrap differences), ``se``
        and ``p`` (two-sided bootstrap p-value of "no difference":
        ``min(1, 2 * min(#(d <= 0) + 1, #(d >= 0) + 1) / (n + 1))`` over the n
        valid samples). The diagonal is NaN. Correct the p-values for the number
        of pairs, e.g. with :func:`fdr` on the upper triangle.

    Notes
    -----
    Both models are evaluated on the same resamples, so the differences are
    paired: the stimulus and subject variability they share cancels out.
    """
    if not isinstance(result, xr.Dataset) or "bootstrap" not in result or "estimate" not in result:
        raise DataModelError("paired_test: pass the Dataset returned by neurodecode.analysis.bootstrap(...).")
    ci = float(result.attrs.get("ci", 0.95) if ci is None else ci)
    if not (0 < ci < 1):
        raise BadInputError(f"paired_test: ci must be in (0, 1), got {ci!r}.")
    k = result.sizes["model"]
    if k < 2:
        raise BadInputError("paired_test: needs at least 2 models to compare.")
    valid = np.asarray(result["valid"].values) if "valid" in result else np.ones(result.sizes["boot"], bool)
    boot = np.asarray(result["bootstrap"].values)[valid]  # (n, model[, data])
    est = np.asarray(result["estimate"].values)  # (model[, data])
    d = boot[:, :, None] - boot[:, None, :]  # (n, model, model_[, data])
    diff = est[:, None] - est[None, :]
    nb = d.shape[0]
    lo, hi = np.percentile(d, [50 * (1 - ci), 50 * (1 + ci)], axis=0)
    se = np.std(d, axis=0, ddof=1)
    p = np.minimum(1.0, 2.0 * np.minimum((d <= 0).sum(0) + 1, (d >= 0).sum(0) + 1) / (nb + 1))
    eye = np.eye(k, dtype=bool)
    eye = eye.reshape(eye.shape + (1,) * (diff.ndim - 2))
    eye = np.broadcast_to(eye, diff.shape)
    for arr in (diff, lo, hi, se, p):
        arr[eye] = np.nan
    dims = ("model", "model_") + tuple(d for d in result["estimate"].dims if d != "model")
    coords: dict[str, Any] = {"model": result["model"].values, "model_": result["model"].values}
    if "data" in dims:
        coords["data"] = result["data"].values
    out = xr.Dataset(
        {"difference": (dims, diff), "ci_lower": (dims, lo), "ci_upper": (dims, hi), "se": (dims, se), "p": (dims, p)},
        coords=coords,
    )
    out.attrs.update({"method": result.attrs.get("method", "unknown"), "over": result.attrs.get("over", "unknown"),
                      "n_boot": nb, "ci": ci, "test": "paired bootstrap (two-sided)"})
    return out


# --------------------------------------------------------------------------- permutation test


@_single_threaded
def permutation_test(
    model_rdms: Any,
    data_rdms: Any,
    method: str = "spearman",
    *,
    n_perm: int = 1000,
    seed: int | None = 0,
    per_rdm: bool = False,
    permutations: Any = None,
    batch_size: int | None = None,
    device: Any = "auto",
) -> xr.Dataset:
    """Stimulus-label permutation test of model-data relatedness (one-sided: similarity > chance).

    Each permutation relabels the stimuli of the model RDMs (rows and columns
    together) and recomputes the similarity with the data RDMs; the p-value is
    ``(1 + #(null >= observed)) / (1 + n_perm)``.

    Parameters
    ----------
    model_rdms, data_rdms : RDM stacks
        As for :func:`bootstrap`; complete RDMs (no NaN).
    method : str
        Any RDM comparison method of the registry; those with
        ``resample == "pair_weights"`` (``spearman``, ``pearson``, ``cosine``,
        ``rho_a``) permute precomputed normalised vectors (a gather and a matrix
        product per batch); the others call the method's kernel per batch.
    n_perm : int
        Number of random permutations.
    seed : int or None
        Seed of ``numpy.random.default_rng``.
    per_rdm : bool
        Test every (model, data RDM) pair instead of the mean over data RDMs.
    permutations : array-like of int, optional
        (n_perm, n_stimulus) permutations to use instead of drawing them.
    batch_size : int, optional
        Permutations per batch.
    device : str or torch.device
        Where torch computes: ``"auto"`` (the default; None the same) picks CUDA when it
        is available, else the CPU (until this release: the CPU); or a device name.

    Returns
    -------
    xarray.Dataset
        ``estimate`` (model[, data]), ``null`` (perm, model[, data]) and ``p``
        (model[, data]); attrs ``method``, ``n_perm``, ``alternative='greater'``.
    """
    import torch

    from ._methods import get_method

    spec = get_method(method, compares="rdm", what="permutation_test")
    name = spec.name
    if isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer)) or n_perm < 1:
        raise BadInputError(f"permutation_test: n_perm must be a positive integer, got {n_perm!r}.")
    sm = _as_stack(model_rdms, "permutation_test (model_rdms)")
    sd = _as_stack(data_rdms, "permutation_test (data_rdms)")
    _check_same_stimuli(sm, sd)
    if np.isnan(sm.vectors).any() or np.isnan(sd.vectors).any():
        raise BadInputError(
            "permutation_test: the RDMs contain NaN (missing dissimilarities); permuting stimuli would move "
            "them. Drop the stimuli with missing pairs first."
        )
    n = sd.n_cond
    vm, vd = sm.vectors, sd.vectors
    km, kd, m = vm.shape[0], vd.shape[0], vm.shape[1]
    if permutations is not None:
        perms = np.asarray(permutations)
        if perms.ndim != 2 or perms.shape[1] != n or not np.issubdtype(perms.dtype, np.integer):
            raise BadInputError(f"permutation_test: permutations must be integers of shape (n_perm, {n}); got {perms.shape}.")
        if not (np.sort(perms, axis=1) == np.arange(n)).all():
            raise BadInputError("permutation_test: every row of permutations must be a permutation of 0..n-1.")
        n_perm = perms.shape[0]
    else:
        rng = np.random.default_rng(seed)
        perms = rng.permuted(np.tile(np.arange(n), (int(n_perm), 1)), axis=1)
    sim = _similarity(vm, vd, name, n, device=device)
    observed = sim if per_rdm else sim.mean(1)
    iu0, iu1 = np.triu_indices(n, 1)
    # position in the condensed vector of pair (min(a, b), max(a, b))
    lut = np.full((n, n), -1, dtype=np.int64)
    lut[iu0, iu1] = np.arange(m)
    lut[iu1, iu0] = np.arange(m)
    null = np.empty((n_perm, km, kd) if per_rdm else (n_perm, km))
    dev = _device(device)
    from tqdm.auto import tqdm

    with torch.no_grad():
        dt = torch.float64
        lut_t = torch.as_tensor(lut, device=dev)
        fast = spec.resample == "pair_weights"
        if fast:
            form = spec.vector
            a, b = vm, vd
            if form.rank:
                from scipy.stats import rankdata

                a, b = rankdata(a, axis=1), rankdata(b, axis=1)
            if form.centre:
                a = a - a.mean(1, keepdims=True)
                b = b - b.mean(1, keepdims=True)
            if form.scale == "rho_a":
                scale = 12.0 / (m**3 - m)
                a = a * scale
            else:
                na, nbn = np.linalg.norm(a, axis=1, keepdims=True), np.linalg.norm(b, axis=1, keepdims=True)
                a = np.divide(a, na, out=np.zeros_like(a), where=na > 0)
                b = np.divide(b, nbn, out=np.zeros_like(b), where=nbn > 0)
            a_t = torch.as_tensor(a, dtype=dt, device=dev)
            b_t = torch.as_tensor(b, dtype=dt, device=dev)
        bs = _auto_batch(km * m * (1 if fast else 4), batch_size)
        bar = tqdm(total=n_perm, desc="permutations", unit="perm", disable=None, leave=False)
        i0 = torch.as_tensor(iu0, device=dev)
        i1 = torch.as_tensor(iu1, device=dev)
        for b0 in range(0, n_perm, bs):
            b1 = min(n_perm, b0 + bs)
            pt = torch.as_tensor(perms[b0:b1], device=dev)
            pos = lut_t[pt[:, i0], pt[:, i1]]  # (nb, m) where each permuted pair comes from
            if fast:
                pa = a_t[:, pos]  # (km, nb, m)
                s = torch.einsum("kbm,jm->bkj", pa, b_t).cpu().numpy()
            else:
                pv = vm[:, pos.cpu().numpy()]  # (km, nb, m)
                flat = pv.transpose(1, 0, 2).reshape(-1, m)
                s = _similarity(flat, vd, name, n, device=device).reshape(b1 - b0, km, kd)
            null[b0:b1] = s if per_rdm else s.mean(-1)
            bar.update(b1 - b0)
        bar.close()
    tol = 1e-12 * max(1.0, float(np.nanmax(np.abs(observed))) if observed.size else 1.0)
    p = (1.0 + (null >= observed[None] - tol).sum(0)) / (1.0 + n_perm)
    dims = ("model", "data") if per_rdm else ("model",)
    coords = _pair_coords(sm, sd)
    coords["perm"] = np.arange(n_perm)
    ds = xr.Dataset(
        {"estimate": (dims, observed), "null": (("perm", *dims), null), "p": (dims, p),
         "similarity": (("model", "data"), sim)},
        coords=coords,
    )
    ds.attrs.update({"method": name, "n_perm": int(n_perm), "alternative": "greater",
                     "seed": "none" if seed is None else str(seed)})
    return ds


# --------------------------------------------------------------------------- FDR


def fdr(pvals: Any, alpha: float = 0.05, *, method: str = "bh") -> tuple[Any, Any]:
    """False-discovery-rate control (Benjamini-Hochberg; Benjamini-Yekutieli with ``method="by"``).

    Parameters
    ----------
    pvals : array-like or xarray.DataArray
        p-values in [0, 1], any shape (all are one family). NaN is refused: drop
        the untested entries first.
    alpha : float
        Target false discovery rate.
    method : {"bh", "by"}
        ``"bh"``: Benjamini & Hochberg 1995 (independent or positively dependent
        tests); ``"by"``: Benjamini & Yekutieli 2001 (any dependence).

    Returns
    -------
    (reject, p_adjusted)
        Boolean array of rejected nulls and the adjusted p-values (same shape;
        DataArrays keep their dims and coords). Equals
        ``scipy.stats.false_discovery_control`` / statsmodels' ``fdrcorrection``.
    """
    if method not in ("bh", "by"):
        raise BadInputError(f"fdr: method must be 'bh' or 'by', got {method!r}.")
    if not (0 < float(alpha) < 1):
        raise BadInputError(f"fdr: alpha must be in (0, 1), got {alpha!r}.")
    is_da = isinstance(pvals, xr.DataArray)
    p = np.asarray(pvals.values if is_da else pvals, dtype=np.float64)
    if p.size == 0:
        raise BadInputError("fdr: got no p-values.")
    if np.isnan(p).any():
        raise BadInputError(
            f"fdr: {int(np.isnan(p).sum())} p-value(s) are NaN; remove the untested entries (e.g. the "
            "diagonal of a paired_test) before correcting, so they do not count as tests."
        )
    if (p < 0).any() or (p > 1).any():
        raise BadInputError("fdr: p-values must lie in [0, 1].")
    flat = p.ravel()
    k = flat.size
    order = np.argsort(flat, kind="stable")
    ranked = flat[order] * k / np.arange(1, k + 1)
    if method == "by":
        ranked = ranked * np.sum(1.0 / np.arange(1, k + 1))
    adj_sorted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    adj = np.empty_like(flat)
    adj[order] = adj_sorted
    adj = adj.reshape(p.shape)
    reject = adj <= alpha
    if is_da:
        return pvals.copy(data=reject).rename("reject"), pvals.copy(data=adj).rename("p_adjusted")
    return reject, adj
