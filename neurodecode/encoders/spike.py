"""A contrastive encoder of binned spikes (CEBRA-like) and a decoder of continuous behaviour on it.

The encoder maps a short causal window of binned spikes ``(n_units, n_times)`` (the bins up to and
including the one being decoded) to a point on the unit hypersphere of dimension ``out_dim``. It is
trained with InfoNCE: the embedding of a *reference* window must be closer (cosine similarity /
temperature) to its *positive* than to uniformly drawn *negatives*. Positives are

* ``"time"``: the window ``time_offset`` bins later in the same contiguous stretch of training data
  (self-supervised, as CEBRA-Time), or
* ``"behaviour"``: the training window whose behaviour (e.g. hand velocity) is nearest to the
  reference's behaviour plus a random step drawn from the empirical distribution of behaviour
  changes over ``time_offset`` bins (as CEBRA-Behavior).

Pieces
------
:func:`info_nce`
    The loss on (reference, positive, negatives) embeddings.
:func:`spike_windows`
    Causal windows ``(sample, unit, time)`` cut from binned spikes ``(time, unit)``, with the
    ``window_start`` / ``window_stop`` coords that :func:`neurodecode.train.splits.check_no_leak` reads.
:class:`ContrastiveSampler`
    A torch Dataset over training windows yielding ``(reference, positive, negative)`` triples; it
    draws time positives only inside one contiguous run of consecutive bins and never outside the
    rows it was given (the training rows).
:class:`SpikeContrastive`
    The encoder (registered as ``"spike_contrastive"``); ``pretrain_loss`` takes a sampler batch, or
    ``(x, y)`` batches from :class:`~neurodecode.encoders.estimators.EncoderRegressor` (in-batch
    behaviour positives).
:class:`SpikeContrastiveDecoder`
    Scikit-learn regressor: scale -> contrastive pretraining with the sampler -> a kNN or ridge
    decoder on the frozen embeddings. ``save`` / :func:`load_decoder` keep everything as JSON and
    weights (no pickle).

Example::

    from neurodecode import datasets
    from neurodecode.encoders.spike import SpikeContrastiveDecoder, spike_windows

    binned = datasets.load("reaching_m1")                 # (time, unit) counts, vel_x/vel_y on time
    win = spike_windows(binned, n_times=10)               # (sample, unit, time) causal windows
    y = np.column_stack([win["vel_x"], win["vel_y"]])
    dec = SpikeContrastiveDecoder(mode="behaviour").fit(win.values[:8000], y[:8000], bins=win["bin"][:8000])
    y_hat = dec.predict(win.values[8100:])
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from torch import nn

from .._threads import torch_threads
from .._deprecate import renamed_params
from ..errors import BadInputError
from .base import BrainEncoder, make_head, register_encoder

__all__ = [
    "info_nce",
    "spike_windows",
    "ContrastiveSampler",
    "SpikeContrastive",
    "SpikeContrastiveDecoder",
    "load_decoder",
]

_MODES = ("time", "behaviour")


# --------------------------------------------------------------------------- the loss


def info_nce(ref: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """InfoNCE of embeddings: mean over references of ``-log softmax`` of the positive among all.

    For reference ``i`` with logits ``s_ip = <ref_i, pos_i> / T`` and ``s_ij = <ref_i, neg_j> / T``
    (every negative of the batch is a negative of every reference)::

        loss_i = -s_ip + log(exp(s_ip) + sum_j exp(s_ij))

    Parameters
    ----------
    ref, pos : tensor (batch, dim)
        Reference and positive embeddings (unit-norm for cosine similarities).
    neg : tensor (n_neg, dim)
        Negative embeddings.
    temperature : float
        Softmax temperature ``T`` (> 0).

    Returns
    -------
    tensor
        Scalar loss.
    """
    if not temperature > 0:
        raise BadInputError(f"temperature must be > 0, got {temperature}.")
    if ref.shape != pos.shape or ref.ndim != 2 or neg.ndim != 2 or neg.shape[1] != ref.shape[1]:
        raise BadInputError(
            f"info_nce needs ref and pos (batch, dim) and neg (n_neg, dim); got {tuple(ref.shape)}, "
            f"{tuple(pos.shape)}, {tuple(neg.shape)}."
        )
    s_pos = (ref * pos).sum(dim=1, keepdim=True) / temperature
    s_neg = ref @ neg.T / temperature
    logits = torch.cat([s_pos, s_neg], dim=1)
    return (torch.logsumexp(logits, dim=1) - s_pos[:, 0]).mean()


# --------------------------------------------------------------------------- windows


def spike_windows(binned, n_times: int, *, dtype: Any = np.float32):
    """Causal windows of binned spikes: row ``t`` holds bins ``t - n_times + 1 .. t`` of every unit.

    Parameters
    ----------
    binned : xarray.DataArray
        ``binned_spikes`` (time, unit), counts or rates.
    n_times : int
        Bins per window (>= 1).
    dtype : numpy dtype
        Output dtype.

    Returns
    -------
    xarray.DataArray
        (sample, unit, time) with one row per bin that has a complete window inside one contiguous
        stretch of the recording (the first ``n_times - 1`` bins, and those just after a gap in
        the time vector, are left out: ``attrs["n_incomplete"]``). Coords on ``sample``: ``bin``
        (position of the window's last bin in ``binned``), ``t`` (its time), ``segment``
        (contiguous stretch id), ``window_start`` / ``window_stop`` (seconds, the span of the
        window's bins) and every other coord of ``binned`` on time (e.g. ``vel_x``), taken at the
        last bin. ``time`` holds the bin lags ``-(n_times - 1) .. 0``.
    """
    import xarray as xr

    from ..preprocess.spikes import _check_binned, _segments

    bin_size = _check_binned(binned, two_d=True)
    if isinstance(n_times, bool) or not isinstance(n_times, (int, np.integer)) or n_times < 1:
        raise BadInputError(f"n_times must be a positive integer, got {n_times!r}.")
    n_times = int(n_times)
    data = np.asarray(binned.transpose("time", "unit").values, dtype=dtype)
    times = np.asarray(binned["time"].values, dtype=float)
    if n_times > data.shape[0]:
        raise BadInputError(f"n_times={n_times} exceeds the {data.shape[0]} time bins available.")
    if not np.all(np.isfinite(data)):
        raise BadInputError("binned spikes hold NaN or inf; drop or fill those bins first.")
    seg_id = np.zeros(len(times), dtype=np.int64)
    seg_start = np.zeros(len(times), dtype=np.int64)
    for k, seg in enumerate(_segments(times, bin_size)):
        seg_id[seg] = k
        seg_start[seg] = seg.start
    ends = np.flatnonzero(np.arange(len(times)) - seg_start >= n_times - 1)
    if not len(ends):
        raise BadInputError(f"no contiguous stretch of {n_times} bins in the data; shorten n_times.")
    view = np.lib.stride_tricks.sliding_window_view(data, n_times, axis=0)  # (T - n + 1, unit, n)
    out = np.ascontiguousarray(view[ends - n_times + 1])
    coords: dict[str, Any] = {
        "sample": np.arange(len(ends)),
        "unit": binned["unit"].values,
        "time": np.arange(-(n_times - 1), 1),
        "bin": ("sample", ends),
        "t": ("sample", times[ends]),
        "segment": ("sample", seg_id[ends]),
        "window_start": ("sample", times[ends - n_times + 1] - bin_size / 2),
        "window_stop": ("sample", times[ends] + bin_size / 2),
    }
    for name, c in binned.coords.items():
        if c.dims == ("time",) and name != "time":
            coords[str(name)] = ("sample", np.asarray(c.values)[ends])
    attrs = {"bin_size": bin_size, "n_times": n_times, "n_incomplete": int(len(times) - len(ends)),
             "quantity": binned.attrs.get("quantity", "counts"), "sfreq": 1.0 / bin_size}
    return xr.DataArray(out, dims=("sample", "unit", "time"), coords=coords, name="spike_windows", attrs=attrs)


# --------------------------------------------------------------------------- the sampler


def _runs(bins: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Id of the run of consecutive bins (same group) each row belongs to."""
    new = np.r_[True, np.diff(bins) != 1]
    if groups is not None:
        new |= np.r_[True, groups[1:] != groups[:-1]]
    return np.cumsum(new) - 1


class ContrastiveSampler(torch.utils.data.Dataset):
    """Draw (reference, positive, negative) windows for InfoNCE from the *training* rows only.

    Every row of ``X`` is a window ending at bin ``bins[i]`` (e.g. from :func:`spike_windows`).
    Rows whose bins follow each other (``bins[i + 1] == bins[i] + 1``, same ``groups``) form a
    contiguous *run*; the rows removed by a train/test split (a test block and its gap) break runs.

    * ``mode="time"``: the positive of row ``i`` is the row at bin ``bins[i] + time_offset`` in the
      same run; rows without one (the last ``time_offset`` of each run) are not references.
    * ``mode="behaviour"``: the positive of row ``i`` is the row (other than ``i``) whose behaviour is
      nearest (Euclidean) to ``behaviour[i] + delta``, ``delta`` drawn from the behaviour changes over
      ``time_offset`` bins within runs (``behaviour[j + offset] - behaviour[j]``); every row is a
      reference. The scale of ``behaviour`` matters: z-score it first when its columns differ in units.

    Negatives are rows drawn uniformly (with replacement). Draws use a numpy generator seeded with
    ``seed``, so a sampler read in the same order gives the same triples.

    Parameters
    ----------
    X : array (n, n_units, n_times)
        Training windows, in time order within each run.
    bins : array of int (n,), optional
        Bin of each row (default ``0 .. n - 1``: one contiguous run).
    groups : array (n,), optional
        Recording / segment id of each row (runs never cross a change of group).
    behaviour : array (n,) or (n, d), optional
        Behaviour at each row; required for ``mode="behaviour"``.
    mode : {"time", "behaviour"}
    time_offset : int
        Bins between a reference and its time positive (also the horizon of behaviour changes).
    seed : int

    Attributes
    ----------
    references : numpy.ndarray
        Rows that are references (one sampler item each).
    run : numpy.ndarray
        Run id of every row.
    """

    def __init__(
        self,
        X: Any,
        *,
        bins: Any = None,
        groups: Any = None,
        behaviour: Any = None,
        mode: str = "time",
        time_offset: int = 1,
        seed: int = 0,
    ) -> None:
        if mode not in _MODES:
            raise BadInputError(f"mode must be one of {_MODES}, got {mode!r}.")
        if isinstance(time_offset, bool) or int(time_offset) != time_offset or time_offset < 1:
            raise BadInputError(f"time_offset must be a positive integer number of bins, got {time_offset!r}.")
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        if X.ndim != 3 or X.shape[0] < 2:
            raise BadInputError(f"X must be (n >= 2 windows, n_units, n_times), got shape {tuple(X.shape)}.")
        n = X.shape[0]
        bins = np.arange(n) if bins is None else np.asarray(bins)
        if bins.shape != (n,) or bins.dtype.kind not in "iu":
            raise BadInputError(f"bins must be {n} integers (one per row), got shape {bins.shape} dtype {bins.dtype}.")
        g = None if groups is None else np.asarray(groups)
        if g is not None and g.shape != (n,):
            raise BadInputError(f"groups must have one value per row ({n}), got shape {g.shape}.")
        run = _runs(bins, g)  # bins that are not consecutive (or go back) start a new run
        self.X, self.bins, self.run = X, bins, run
        self.mode, self.time_offset, self.seed = mode, int(time_offset), int(seed)
        self.rng = np.random.default_rng(seed)
        self.n = n
        offset = self.time_offset
        # row j = i + offset is the time positive when it lies in the same run (bins consecutive there)
        has_next = np.zeros(n, bool)
        has_next[: n - offset] = run[offset:] == run[: n - offset]
        self._has_next = has_next
        if mode == "time":
            self.references = np.flatnonzero(has_next)
            if not len(self.references):
                raise BadInputError(
                    f"no row has a time positive {offset} bins later in the same contiguous run; "
                    "lower time_offset or give longer stretches of consecutive bins."
                )
        else:
            if behaviour is None:
                raise BadInputError("mode='behaviour' needs behaviour= (one row per window).")
            beh = np.asarray(behaviour, dtype=float).reshape(n, -1)
            if not np.all(np.isfinite(beh)):
                raise BadInputError("behaviour holds NaN or inf; drop those rows first.")
            from scipy.spatial import cKDTree

            self.behaviour = beh
            self._tree = cKDTree(beh)
            deltas = beh[np.flatnonzero(has_next) + offset] - beh[np.flatnonzero(has_next)]
            if not len(deltas):
                raise BadInputError(
                    f"no pair of rows {offset} bins apart in one run: cannot estimate behaviour changes; "
                    "lower time_offset."
                )
            self._deltas = deltas
            self.references = np.arange(n)

    def __len__(self) -> int:
        return len(self.references)

    def draw(self, items: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row indices ``(reference, positive, negative)`` for sampler items ``items``."""
        items = np.atleast_1d(np.asarray(items, dtype=np.int64))
        ref = self.references[items]
        if self.mode == "time":
            pos = ref + self.time_offset
        else:
            target = self.behaviour[ref] + self._deltas[self.rng.integers(0, len(self._deltas), len(ref))]
            _, nn_idx = self._tree.query(target, k=2)
            pos = np.where(nn_idx[:, 0] != ref, nn_idx[:, 0], nn_idx[:, 1])
        neg = self.rng.integers(0, self.n, len(ref))
        return ref, pos, neg

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r, p, q = self.draw([item])
        return self.X[r[0]], self.X[p[0]], self.X[q[0]]

    def __getitems__(self, items: list[int]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        r, p, q = self.draw(items)
        xr_, xp, xq = self.X[r], self.X[p], self.X[q]
        return list(zip(xr_, xp, xq))


# --------------------------------------------------------------------------- the encoder


@register_encoder("spike_contrastive")
class SpikeContrastive(BrainEncoder):
    """Conv1d encoder of binned-spike windows onto the unit hypersphere, trained with InfoNCE.

    Architecture: a 1x1 convolution mixing the units in every bin (``n_units -> hidden``), ``depth``
    residual temporal convolutions (kernel ``kernel``, 'same' padding, GELU), flatten over the
    ``n_times`` bins, a linear layer to ``out_dim``, L2 normalisation. Unit dropout (whole units
    zeroed, ``dropout``) regularises the input.

    Parameters
    ----------
    n_channels : int
        Units.
    n_times : int
        Bins per window.
    sfreq : float
        Bins per second (1 / bin size).
    n_outputs : int
        Size of the task head on the embedding (0: embedding only).
    out_dim : int
        Embedding dimension (a point on the sphere S^{out_dim - 1}).
    hidden : int
        Channels of the convolutions.
    depth : int
        Residual temporal convolution blocks.
    kernel : int
        Temporal kernel size (bins).
    dropout : float
        Probability of dropping a whole unit during training.
    temperature : float
        InfoNCE temperature.
    head_hidden : int
        Hidden units of the task head (0: linear head).

    Notes
    -----
    ``pretrain_loss(batch)`` accepts a batch of :class:`ContrastiveSampler` triples ``(ref, pos,
    neg)``, or ``(x, y)`` (``pretrain_uses_labels``: what
    :class:`~neurodecode.encoders.estimators.EncoderRegressor` passes), in which case each sample's
    positive is the *other* sample of the batch whose target is nearest to its own plus Gaussian
    noise of ``0.1`` target standard deviations, and the whole batch serves as negatives.
    """

    pretrain_uses_labels = True

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        sfreq: float,
        n_outputs: int = 0,
        *,
        out_dim: int = 8,
        hidden: int = 32,
        depth: int = 1,
        kernel: int = 3,
        dropout: float = 0.1,
        temperature: float = 0.1,
        head_hidden: int = 0,
    ) -> None:
        super().__init__(n_channels, n_times, sfreq, n_outputs, out_dim=out_dim, hidden=hidden, depth=depth,
                         kernel=kernel, dropout=dropout, temperature=temperature, head_hidden=head_hidden)
        for name, v, lo in (("out_dim", out_dim, 2), ("hidden", hidden, 1), ("depth", depth, 0), ("kernel", kernel, 1)):
            if isinstance(v, bool) or int(v) != v or v < lo:
                raise BadInputError(f"{name} must be an integer >= {lo}, got {v!r}.")
        if not 0 <= dropout < 1:
            raise BadInputError(f"dropout must be in [0, 1), got {dropout}.")
        if not temperature > 0:
            raise BadInputError(f"temperature must be > 0, got {temperature}.")
        self.temperature = float(temperature)
        self.embed_dim = int(out_dim)
        self.drop = nn.Dropout1d(dropout)
        self.mix = nn.Conv1d(self.n_channels, hidden, 1)
        self.blocks = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel, padding="same") for _ in range(depth))
        self.proj = nn.Linear(hidden * self.n_times, out_dim)
        self.head = make_head(self.embed_dim, self.n_outputs, head_hidden)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-norm embeddings ``(batch, out_dim)`` of windows ``(batch, n_units, n_times)``."""
        self.check_input(x)
        h = F.gelu(self.mix(self.drop(x)))
        for conv in self.blocks:
            h = h + F.gelu(conv(h))
        return F.normalize(self.proj(h.flatten(1)), dim=1)

    def pretrain_loss(self, batch: Any) -> torch.Tensor:
        """InfoNCE on a sampler batch ``(ref, pos, neg)`` or an ``(x, y)`` batch (see the class notes)."""
        if not isinstance(batch, (list, tuple)) or len(batch) not in (2, 3):
            n = len(batch) if isinstance(batch, (list, tuple)) else "a tensor"
            raise BadInputError(
                f"SpikeContrastive.pretrain_loss needs (ref, pos, neg) windows from a ContrastiveSampler or "
                f"(x, y) with behaviour targets, got a batch of {n} parts; windows alone carry no positive pairs."
            )
        if len(batch) == 3:
            ref, pos, neg = batch
            n = ref.shape[0]
            z = self.embed(torch.cat([ref, pos, neg]))
            return info_nce(z[:n], z[n : 2 * n], z[2 * n :], self.temperature)
        x, y = batch
        if x.shape[0] < 3:
            raise BadInputError("an (x, y) contrastive batch needs at least 3 samples; raise batch_size.")
        y = y.reshape(len(y), -1).float()
        y = (y - y.mean(0)) / (y.std(0) + 1e-8)
        target = y + 0.1 * torch.randn_like(y)
        d = torch.cdist(target, y)
        d.fill_diagonal_(float("inf"))
        pos_idx = d.argmin(dim=1)
        z = self.embed(x)
        s = z @ z.T / self.temperature
        s = s.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
        return F.cross_entropy(s, pos_idx)


# --------------------------------------------------------------------------- the decoder


class SpikeContrastiveDecoder(RegressorMixin, TransformerMixin, BaseEstimator):
    """Decode continuous behaviour from spike windows through a contrastive embedding.

    ``fit`` z-scores every unit (after a square-root transform of the counts when ``sqrt``) with the
    training statistics, pretrains a :class:`SpikeContrastive` encoder with a
    :class:`ContrastiveSampler` over the training windows (positives by ``mode``), then fits the
    decoder head on the frozen embeddings of the training windows: ``"knn"`` (k nearest neighbours
    on the sphere, distance-weighted mean) or ``"ridge"`` (linear, alpha by generalised cross-
    validation over a fixed grid). The targets ``y`` are z-scored inside (predictions come back
    in their units); for ``mode="behaviour"`` the same z-scored ``y`` is the behaviour of the sampler.
    The defaults are the settings of ``pipelines/spikes_m1_decode.yaml`` (chosen on another recording,
    see ``docs/decoding-spikes.md``).

    Parameters
    ----------
    mode : {"behaviour", "time"}
        Positive pairs: nearest behaviour (uses ``y``; CEBRA-Behavior) or the window ``time_offset``
        bins later (self-supervised; CEBRA-Time).
    time_offset : int
        Bins between a reference and its time positive / horizon of the behaviour steps.
    out_dim, hidden, depth, kernel, dropout, temperature
        Encoder sizes (see :class:`SpikeContrastive`).
    sqrt : bool
        Square-root transform of the windows before z-scoring (stabilises Poisson count variance).
    decoder : {"knn", "ridge"}
        Head on the embeddings.
    n_neighbors : int
        k of the kNN head.
    max_epochs, batch_size, lr, weight_decay
        Pretraining (AdamW + cosine schedule, :class:`~neurodecode.train.trainer.Trainer`); one
        epoch visits every reference once; ``batch_size`` references and as many negatives per step.
    random_state : int or None
        Seed of the weights, the sampler and the batches (scikit-learn's name on estimators;
        ``seed``, the old name, still works for one release, with a warning). None draws a fresh
        seed at each ``fit``.
    device : str
        Where torch computes: ``"auto"`` (CUDA when available, else the CPU; until this release
        the default was ``"cpu"``), ``"cpu"``, ``"cuda"``...
    progress : bool
        Passed to the trainer.
    threads : int, optional
        Torch intra-op threads while fitting / embedding (restored afterwards). The network is small,
        so on a busy machine 1 thread can be several times faster than oversubscribed cores.
        (``num_threads``, the old name, still works for one release, with a warning.)
    """

    @renamed_params(num_threads="threads", seed="random_state")
    def __init__(
        self,
        *,
        mode: str = "behaviour",
        time_offset: int = 1,
        out_dim: int = 8,
        hidden: int = 32,
        depth: int = 1,
        kernel: int = 3,
        dropout: float = 0.1,
        temperature: float = 0.1,
        sqrt: bool = True,
        decoder: str = "knn",
        n_neighbors: int = 50,
        max_epochs: int = 10,
        batch_size: int = 512,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        random_state: int | None = 0,
        device: str = "auto",
        progress: bool = False,
        threads: int | None = None,
    ) -> None:
        self.mode = mode
        self.time_offset = time_offset
        self.out_dim = out_dim
        self.hidden = hidden
        self.depth = depth
        self.kernel = kernel
        self.dropout = dropout
        self.temperature = temperature
        self.sqrt = sqrt
        self.decoder = decoder
        self.n_neighbors = n_neighbors
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.progress = progress
        self.threads = threads

    @property
    def seed(self) -> int | None:
        """Old name of ``random_state`` (scikit-learn's name on estimators); warns, for one release."""
        from .._deprecate import warn_renamed

        warn_renamed(type(self).__name__, "seed", "random_state")
        return self.random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may be (n, n_targets)
        return tags

    # -- helpers -------------------------------------------------------------------------------
    def _windows(self, X: Any, fitting: bool) -> np.ndarray:
        from .estimators import as_array

        arr, _ = as_array(X)
        if self.sqrt:
            if (arr < 0).any():
                raise BadInputError("sqrt=True needs non-negative counts or rates; use sqrt=False.")
            arr = np.sqrt(arr)
        if fitting:
            self.n_features_in_ = int(arr.shape[1] * arr.shape[2])
            self.mean_ = arr.mean(axis=(0, 2)).astype(np.float32)
            self.std_ = (arr.std(axis=(0, 2)) + 1e-3).astype(np.float32)
        else:
            self._check_fitted()
            if arr.shape[1:] != (self.encoder_.n_channels, self.encoder_.n_times):
                raise BadInputError(
                    f"X has {arr.shape[1] * arr.shape[2]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input: windows of shape {arr.shape[1:]} but the decoder was fitted on "
                    f"({self.encoder_.n_channels} units, {self.encoder_.n_times} bins)."
                )
        return ((arr - self.mean_[None, :, None]) / self.std_[None, :, None]).astype(np.float32)

    def _check_fitted(self) -> None:
        from .estimators import require_fitted

        require_fitted(self, "encoder_")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "encoder_")

    def _trainer(self, **kw: Any):
        from ..train.trainer import Trainer, TrainConfig

        cfg = TrainConfig(max_epochs=self.max_epochs, batch_size=self.batch_size, lr=self.lr,
                          weight_decay=self.weight_decay, patience=None, seed=getattr(self, "random_seed_", 0),
                          device=self.device,
                          amp=False, progress=self.progress, drop_last=True, warmup_epochs=0.5)
        return Trainer(cfg, **kw)

    def _embed(self, Xs: np.ndarray) -> np.ndarray:
        with torch_threads(self.threads, "threads"):
            return self._trainer().predict(self.encoder_, Xs, batch_size=2048, fn=lambda m, x: m.embed(x))

    def _make_head(self, Z: np.ndarray, y: np.ndarray) -> None:
        self.train_embedding_, self.train_target_ = Z, y
        if self.decoder == "knn":
            from sklearn.neighbors import KNeighborsRegressor

            k = min(int(self.n_neighbors), len(Z))
            self.head_ = KNeighborsRegressor(n_neighbors=k, weights="distance").fit(Z, y)
        elif self.decoder == "ridge":
            from sklearn.linear_model import RidgeCV

            self.head_ = RidgeCV(alphas=np.logspace(-4, 3, 15)).fit(Z, y)
        else:
            raise BadInputError(f"decoder must be 'knn' or 'ridge', got {self.decoder!r}.")

    # -- API -----------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, bins: Any = None, groups: Any = None) -> SpikeContrastiveDecoder:
        """Pretrain the encoder on the training windows ``X`` and fit the head to ``y``.

        Parameters
        ----------
        X : array (n, n_units, n_times)
            Training windows (e.g. :func:`spike_windows` rows of the training folds), in time order.
        y : array (n,) or (n, n_targets)
            Behaviour at the last bin of each window.
        bins : array of int (n,), optional
            Bin index of each window's last bin (the ``bin`` coord of :func:`spike_windows`): the
            sampler only pairs windows of one contiguous run of bins as time positives. Default:
            the ``bin`` coord of an xarray ``X``, else ``0 .. n - 1`` (one run).
        groups : array (n,), optional
            Recording / segment id per window (default: the ``segment`` coord of an xarray ``X``).
        """
        from ..train.trainer import seed_everything
        from .estimators import seed_from

        is_xr = hasattr(X, "dims") and hasattr(X, "coords")  # (scipy sparse arrays have .coords too)
        if bins is None and is_xr and "bin" in X.coords:
            bins = np.asarray(X["bin"].values)
        if groups is None and is_xr and "segment" in X.coords:
            groups = np.asarray(X["segment"].values)
        if y is None:
            raise BadInputError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        Xs = self._windows(X, fitting=True)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or y.shape[0] != Xs.shape[0]:
            raise BadInputError(f"y must be (n,) or (n, n_targets) with n={Xs.shape[0]}, got shape {y.shape}.")
        if not np.all(np.isfinite(y)):
            raise BadInputError("y holds NaN or inf; drop those windows first.")
        self.y_ndim_ = y.ndim
        y2 = y.reshape(len(y), -1)
        self.y_mean_, self.y_std_ = y2.mean(axis=0), y2.std(axis=0) + 1e-12
        yz = (y2 - self.y_mean_) / self.y_std_
        bins = None if bins is None else np.asarray(bins).astype(np.int64)
        self.random_seed_ = seed_from(self.random_state)  # the seed this fit used (random_state=None: drawn)
        seed_everything(self.random_seed_)
        sampler = ContrastiveSampler(Xs, bins=bins, groups=groups, behaviour=yz if self.mode == "behaviour" else None,
                                     mode=self.mode, time_offset=self.time_offset, seed=self.random_seed_)
        self.encoder_ = SpikeContrastive(
            Xs.shape[1], Xs.shape[2], 1.0, 0, out_dim=self.out_dim, hidden=self.hidden, depth=self.depth,
            kernel=self.kernel, dropout=self.dropout, temperature=self.temperature,
        )
        with torch_threads(self.threads, "threads"):
            res = self._trainer().fit(self.encoder_, sampler, step_fn=lambda m, b: m.pretrain_loss(b))
        self.history_ = res.history
        self.encoder_.eval()
        self._make_head(self._embed(Xs), yz)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Embeddings ``(n, out_dim)`` (unit norm) of windows ``X``."""
        return self._embed(self._windows(X, fitting=False))

    def predict(self, X: Any) -> np.ndarray:
        """Behaviour predicted for windows ``X``, in the units of ``y``."""
        self._check_fitted()
        out = self.head_.predict(self.transform(X)) * self.y_std_ + self.y_mean_
        return out[:, 0] if self.y_ndim_ == 1 else out

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``encoder/`` (config + weights), the settings, scaling and the head as JSON."""
        from .._files import write_atomic

        self._check_fitted()
        folder = Path(folder)
        self.encoder_.save(folder / "encoder")
        head: dict[str, Any] = {"kind": self.decoder}
        arrays = {}
        if self.decoder == "knn":
            head["n_neighbors"] = int(self.head_.n_neighbors)
            arrays = {"Z": self.train_embedding_, "y": self.train_target_}
        else:
            arrays = {"coef": np.asarray(self.head_.coef_), "intercept": np.atleast_1d(self.head_.intercept_)}
            head["alpha"] = float(self.head_.alpha_)
        tmp = folder / "head.tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, folder / "head.npz")
        state = {"class": type(self).__name__, "params": self.get_params(), "mean_": self.mean_.tolist(),
                 "std_": self.std_.tolist(), "y_mean_": self.y_mean_.tolist(), "y_std_": self.y_std_.tolist(),
                 "y_ndim_": self.y_ndim_, "head": head}
        write_atomic(folder / "decoder.json", json.dumps(state))
        return folder


def load_decoder(folder: str | os.PathLike) -> SpikeContrastiveDecoder:
    """Read a :class:`SpikeContrastiveDecoder` written by ``save`` (no pickle)."""
    from .base import load_encoder

    folder = Path(folder)
    path = folder / "decoder.json"
    if not path.is_file():
        raise BadInputError(f"{path} is missing; is {folder} a folder written by SpikeContrastiveDecoder.save?")
    state = json.loads(path.read_text())
    dec = SpikeContrastiveDecoder(**state["params"])
    dec.encoder_ = load_encoder(folder / "encoder")
    dec.encoder_.eval()
    dec.n_features_in_ = int(dec.encoder_.n_channels * dec.encoder_.n_times)
    dec.mean_ = np.asarray(state["mean_"], dtype=np.float32)
    dec.std_ = np.asarray(state["std_"], dtype=np.float32)
    dec.y_mean_ = np.asarray(state["y_mean_"])
    dec.y_std_ = np.asarray(state["y_std_"])
    dec.y_ndim_ = state["y_ndim_"]
    head = state["head"]
    with np.load(folder / "head.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    if head["kind"] == "knn":
        from sklearn.neighbors import KNeighborsRegressor

        dec.train_embedding_, dec.train_target_ = arrays["Z"], arrays["y"]
        knn = KNeighborsRegressor(n_neighbors=head["n_neighbors"], weights="distance")
        dec.head_ = knn.fit(arrays["Z"], arrays["y"])
    else:
        from sklearn.linear_model import Ridge

        ridge = Ridge(alpha=head["alpha"])
        ridge.coef_, ridge.intercept_ = arrays["coef"], arrays["intercept"]
        ridge.n_features_in_ = arrays["coef"].shape[-1]
        dec.head_ = ridge
    return dec
