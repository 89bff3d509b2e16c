"""Contrastive alignment of brain responses with image embeddings (MindEye / MindBridge style).

:class:`BrainCLIP` maps a brain response (fMRI voxels, an EEG epoch) into the space of a frozen
image embedding (CLIP, or pooled features of a vision network) so that the response of an image
lands closest to that image's embedding::

    x (subject s) --adapter_s (linear)--> shared space --residual MLP backbone--> latent
                  --projector--> embedding in the image space (compared by cosine)

* **Per-subject adapters** (MindEye2's shared-subject model, MindBridge): each subject has its own
  linear map from its own number of voxels (or channels x times) into one shared space; everything
  after it is shared, so several subjects train one backbone.
* **Losses** (all symmetric: brain -> image and image -> brain, cosine logits scaled by a learnable
  temperature as in CLIP):

  - :func:`info_nce`: cross-entropy of the scaled cosine logits against the identity both ways.
  - :func:`soft_clip_loss` (MindEye's SoftCLIP): the targets are not one-hot but the softmax of
    the scaled image-image similarities, so that a brain response is not pushed away from images
    that resemble its own (and duplicated images in a batch share the target).
  - :func:`bimixco_loss` (MindEye's BiMixCo): the brain inputs of a batch are mixed in pairs,
    ``lambda x_i + (1 - lambda) x_perm(i)`` with ``lambda ~ Beta(0.15, 0.15)`` (:func:`mix_inputs`),
    and the targets mix the two images with the same weights. A data augmentation for the small
    data sets of neuroscience.
  - The default schedule (``loss="mixco_softclip"``) trains with BiMixCo for the first
    ``mixco_fraction`` of the epochs, then with SoftCLIP (MindEye uses one third).

How this differs from the (channels, times) contract of :class:`~neurodecode.encoders.base.BrainEncoder`
---------------------------------------------------------------------------------------------
Inputs may be ``(batch, n_channels, n_times)`` as for every encoder, or already flat
``(batch, n_channels * n_times)``; they are flattened either way (the adapter is a dense linear map,
so the channel/time structure is not used). With several subjects (``subject_dims``), the flat
input is zero-padded to ``n_channels * n_times`` (at least the largest subject's size): subject
``s`` uses the first ``subject_dims[s]`` entries of each row, and :meth:`BrainCLIP.embed` takes the
subject of every row (``subject=``, an int or one int per row). :func:`stack_subjects` builds
the padded array from per-subject arrays. For voxel data use ``n_channels = n_voxels``,
``n_times = 1``.

Training runs :class:`neurodecode.train.trainer.Trainer` with a custom step (:func:`fit_brain_clip`);
the epoch index that the loss schedule needs is counted inside the step (training-mode calls /
steps per epoch), and restored from the trainer's checkpoint when a run resumes.
:func:`retrieval_scores` evaluates top-1/top-5 retrieval both ways over random N-way sets and
two-way identification with :mod:`neurodecode.generative.metrics`.

References: Radford et al. 2021 (CLIP); Scotti et al. 2023 (MindEye: BiMixCo, SoftCLIP); Scotti et
al. 2024 (MindEye2: shared-subject linear adapters); Wang et al. 2024 (MindBridge).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInputError
from .base import BrainEncoder, make_head, register_encoder

__all__ = [
    "BrainCLIP",
    "info_nce",
    "soft_clip_loss",
    "bimixco_loss",
    "mix_inputs",
    "stack_subjects",
    "fit_brain_clip",
    "retrieval_scores",
    "LOSSES",
]

#: Accepted values of ``loss`` in :func:`fit_brain_clip`.
LOSSES = ("clip", "softclip", "bimixco", "mixco_softclip")


# --------------------------------------------------------------------------- losses


def _logits(brain: torch.Tensor, image: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    if brain.ndim != 2 or image.ndim != 2 or brain.shape != image.shape:
        raise BadInputError(
            f"brain and image embeddings must both be (batch, dim) of one shape, got {tuple(brain.shape)} "
            f"and {tuple(image.shape)}."
        )
    return logit_scale * F.normalize(brain.float(), dim=-1) @ F.normalize(image.float(), dim=-1).T


def _soft_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the cross-entropy between soft targets (rows sum to 1) and softmax(logits)."""
    return -(targets * logits.log_softmax(dim=-1)).sum(dim=-1).mean()


def info_nce(brain: torch.Tensor, image: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE (the CLIP loss) between paired brain and image embeddings.

    ``logits = logit_scale * cos(brain_i, image_j)``; the loss is the mean of the cross-entropy of
    the rows (brain -> image) and of the columns (image -> brain) against the diagonal.

    Parameters
    ----------
    brain, image : torch.Tensor
        ``(batch, dim)``; row ``i`` of both belongs to one stimulus.
    logit_scale : tensor or float
        The inverse temperature (``exp`` of the learnable log-scale).

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    logits = _logits(brain, image, logit_scale)
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def soft_clip_loss(
    brain: torch.Tensor,
    image: torch.Tensor,
    logit_scale: torch.Tensor | float,
    target_scale: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """SoftCLIP: symmetric cross-entropy against soft targets from image-image similarities.

    Targets ``T = softmax(target_scale * cos(image_i, image_j))`` (row-wise; symmetric, so the
    image -> brain direction uses the same matrix); logits as in :func:`info_nce`;
    ``loss = (CE(logits, T) + CE(logits.T, T)) / 2`` with soft cross-entropy averaged over rows.

    Parameters
    ----------
    brain, image : torch.Tensor
        ``(batch, dim)`` paired embeddings.
    logit_scale : tensor or float
        Inverse temperature of the logits.
    target_scale : tensor or float, optional
        Inverse temperature of the targets; default ``logit_scale`` (MindEye). The targets are
        treated as constants (no gradient).

    Returns
    -------
    torch.Tensor
        Scalar loss. As ``target_scale`` grows the targets become one-hot and the loss becomes
        :func:`info_nce` (for distinct images).
    """
    logits = _logits(brain, image, logit_scale)
    scale = logit_scale if target_scale is None else target_scale
    with torch.no_grad():
        unit = F.normalize(image.float(), dim=-1)
        targets = (scale * unit @ unit.T).softmax(dim=-1)
    return 0.5 * (_soft_ce(logits, targets) + _soft_ce(logits.T, targets.T))


def bimixco_loss(
    brain: torch.Tensor,
    image: torch.Tensor,
    logit_scale: torch.Tensor | float,
    perm: torch.Tensor,
    lam: torch.Tensor,
) -> torch.Tensor:
    """BiMixCo: symmetric InfoNCE with mixed targets for mixed brain inputs.

    ``brain[i]`` is the embedding of the mixed input ``lam[i] x_i + (1 - lam[i]) x_perm[i]``
    (see :func:`mix_inputs`). Brain -> image: row ``i`` of the targets puts ``lam[i]`` on image
    ``i`` and ``1 - lam[i]`` on image ``perm[i]``. Image -> brain: the transpose of that matrix,
    each row renormalised to sum to 1 (image ``j`` is claimed by mixture ``j`` with weight
    ``lam[j]`` and by the mixture ``k`` with ``perm[k] = j`` with weight ``1 - lam[k]``). With
    ``lam = 1`` this is :func:`info_nce`.

    Parameters
    ----------
    brain, image : torch.Tensor
        ``(batch, dim)``: embeddings of the mixed brain inputs and of the (unmixed) images.
    logit_scale : tensor or float
        Inverse temperature.
    perm : torch.Tensor
        ``(batch,)`` int: the partner of each row.
    lam : torch.Tensor
        ``(batch,)`` float in [0, 1]: the weight of the row's own input.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    logits = _logits(brain, image, logit_scale)
    n = logits.shape[0]
    perm = perm.to(logits.device).long()
    lam = lam.to(logits.device).float().reshape(-1)
    if perm.shape != (n,) or lam.shape != (n,):
        raise BadInputError(
            f"perm and lam must have one entry per row ({n}), got {tuple(perm.shape)}, {tuple(lam.shape)}."
        )
    rows = torch.arange(n, device=logits.device)
    targets = torch.zeros_like(logits)
    targets[rows, rows] = lam
    targets.index_put_((rows, perm), 1.0 - lam, accumulate=True)
    back = targets.T
    back = back / back.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return 0.5 * (_soft_ce(logits, targets) + _soft_ce(logits.T, back))


def mix_inputs(
    x: torch.Tensor,
    alpha: float = 0.15,
    *,
    groups: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mix each row with a random partner: ``lam x_i + (1 - lam) x_perm(i)``, ``lam ~ Beta(alpha, alpha)``.

    Parameters
    ----------
    x : torch.Tensor
        ``(batch, ...)`` inputs.
    alpha : float
        Beta parameter (MindEye: 0.15, so most ``lam`` are near 0 or 1).
    groups : torch.Tensor, optional
        ``(batch,)`` group (subject) per row: partners are drawn within the group (inputs of
        different subjects live in different spaces and cannot be mixed).
    generator : torch.Generator, optional
        Source of the permutation and of ``lam`` (CPU generator).

    Returns
    -------
    mixed, perm, lam : torch.Tensor
        Mixed inputs (same shape as ``x``), the partner index of each row and its weight.
    """
    if not alpha > 0:
        raise BadInputError(f"alpha must be > 0, got {alpha}.")
    n = x.shape[0]
    # numpy's Beta sampler, seeded from the torch generator (torch's samplers take no generator)
    draw = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = torch.from_numpy(np.random.default_rng(draw).beta(float(alpha), float(alpha), size=n)).float()
    if groups is None:
        perm = torch.randperm(n, generator=generator)
    else:
        groups = groups.reshape(-1).cpu()
        perm = torch.arange(n)
        for g_ in torch.unique(groups):
            idx = torch.nonzero(groups == g_).reshape(-1)
            perm[idx] = idx[torch.randperm(idx.numel(), generator=generator)]
    lam = lam.to(x.device).clamp(0.0, 1.0)
    perm = perm.to(x.device)
    shape = (n,) + (1,) * (x.ndim - 1)
    mixed = lam.reshape(shape).to(x.dtype) * x + (1 - lam.reshape(shape).to(x.dtype)) * x[perm]
    return mixed, perm, lam


# --------------------------------------------------------------------------- model


class _ResBlock(nn.Module):
    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


@register_encoder("brain_clip")
class BrainCLIP(BrainEncoder):
    """Brain responses -> image-embedding space, with per-subject adapters (see the module docstring).

    Parameters
    ----------
    n_channels, n_times : int
        Input size of one sample: ``n_channels * n_times`` flat features (voxels: ``n_times=1``).
        With ``subject_dims`` this is the padded size (at least ``max(subject_dims)``).
    sfreq : float
        Sampling rate of the input (1.0 for voxel responses).
    n_outputs : int
        Size of an optional task head on the embedding (0: none).
    clip_dim : int
        Size of the image embeddings to align with (the projector's output).
    subject_dims : list of int, optional
        Flat input size of each subject (one linear adapter each); default one subject with all
        ``n_channels * n_times`` features.
    hidden_dim : int
        Width of the shared space and of the residual MLP backbone.
    n_blocks : int
        Residual MLP blocks of the backbone.
    dropout : float
        Dropout inside the backbone blocks and after the adapters.
    init_temperature : float
        Initial temperature of the contrastive logits (learnable; logit scale ``1/T``).
    max_logit_scale : float
        Upper clamp of the logit scale (CLIP: 100).
    head_hidden : int
        Hidden width of the task head (0: linear).
    """

    pretrain_uses_labels = True

    def __init__(
        self,
        n_channels: int,
        n_times: int = 1,
        sfreq: float = 1.0,
        n_outputs: int = 0,
        *,
        clip_dim: int = 128,
        subject_dims: Sequence[int] | None = None,
        hidden_dim: int = 256,
        n_blocks: int = 2,
        dropout: float = 0.15,
        init_temperature: float = 0.07,
        max_logit_scale: float = 100.0,
        head_hidden: int = 0,
    ) -> None:
        flat = int(n_channels) * int(n_times) if int(n_channels) == n_channels and int(n_times) == n_times else 0
        dims = [flat] if subject_dims is None else [int(d) for d in subject_dims]
        for name, v in (("clip_dim", clip_dim), ("hidden_dim", hidden_dim)):
            if int(v) != v or v < 1:
                raise BadInputError(f"{name} must be a positive integer, got {v!r}.")
        if int(n_blocks) != n_blocks or n_blocks < 0:
            raise BadInputError(f"n_blocks must be an integer >= 0, got {n_blocks!r}.")
        if not 0 <= float(dropout) < 1:
            raise BadInputError(f"dropout must be in [0, 1), got {dropout!r}.")
        if not (float(init_temperature) > 0 and float(max_logit_scale) > 0):
            raise BadInputError("init_temperature and max_logit_scale must be > 0.")
        super().__init__(
            n_channels, n_times, sfreq, n_outputs, clip_dim=int(clip_dim),
            subject_dims=None if subject_dims is None else dims, hidden_dim=int(hidden_dim),
            n_blocks=int(n_blocks), dropout=float(dropout), init_temperature=float(init_temperature),
            max_logit_scale=float(max_logit_scale), head_hidden=int(head_hidden),
        )
        if not dims or any(d < 1 for d in dims):
            raise BadInputError(f"subject_dims must be positive sizes, got {list(dims)}.")
        if max(dims) > self.n_channels * self.n_times:
            raise BadInputError(
                f"subject_dims {dims} exceed the padded input size n_channels * n_times = "
                f"{self.n_channels * self.n_times}; set n_channels to max(subject_dims) and n_times to 1."
            )
        self.subject_dims = dims
        self.embed_dim = int(clip_dim)
        self.max_logit_scale = float(max_logit_scale)
        self.adapters = nn.ModuleList(nn.Linear(d, hidden_dim) for d in dims)
        self.adapter_dropout = nn.Dropout(dropout)
        self.backbone = nn.Sequential(*[_ResBlock(hidden_dim, dropout) for _ in range(int(n_blocks))])
        self.projector = nn.Sequential(nn.LayerNorm(hidden_dim), nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
                                       nn.Linear(hidden_dim, clip_dim))
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / float(init_temperature))))
        self.head = make_head(self.embed_dim, self.n_outputs, head_hidden)

    @property
    def n_subjects(self) -> int:
        return len(self.subject_dims)

    @property
    def logit_scale(self) -> torch.Tensor:
        """The inverse temperature ``exp(log_logit_scale)``, clamped to ``max_logit_scale``."""
        return self.log_logit_scale.exp().clamp(max=self.max_logit_scale)

    # -- input ---------------------------------------------------------------------------------
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        size = self.n_channels * self.n_times
        if x.ndim == 3:
            self.check_input(x)
            return x.reshape(x.shape[0], -1)
        if x.ndim == 2 and x.shape[1] == size:
            return x
        raise BadInputError(
            f"BrainCLIP expects (batch, {self.n_channels} channels, {self.n_times} times) or flat "
            f"(batch, {size}) input (several subjects: zero-padded to {size}, see stack_subjects), "
            f"got {tuple(x.shape)}."
        )

    def _subjects(self, subject: Any, n: int, device) -> torch.Tensor:
        if subject is None:
            subject = 0
        s = torch.as_tensor(subject, device=device).long().reshape(-1)
        if s.numel() == 1 and n != 1:
            s = s.expand(n)
        if s.numel() != n:
            raise BadInputError(f"subject must be one int or one per row ({n}), got {s.numel()} values.")
        if n and (int(s.min()) < 0 or int(s.max()) >= self.n_subjects):
            raise BadInputError(
                f"subject indices must be in 0..{self.n_subjects - 1} (the model has {self.n_subjects} "
                f"adapter(s)), got {sorted(set(s.tolist()))[:10]}."
            )
        return s

    # -- forward -------------------------------------------------------------------------------
    def _pad_one_subject(self, x: torch.Tensor, subject: Any) -> torch.Tensor:
        """Rows of one subject given at that subject's own width -> zero-padded to the input size."""
        size = self.n_channels * self.n_times
        if x.ndim == 2 and x.shape[1] != size and subject is not None and np.ndim(subject) == 0:
            k = int(subject)
            if 0 <= k < self.n_subjects and x.shape[1] == self.subject_dims[k]:
                return F.pad(x, (0, size - x.shape[1]))
        return x

    def latent(self, x: torch.Tensor, subject: Any = None) -> torch.Tensor:
        """Backbone output ``(batch, hidden_dim)``: adapters of each row's subject, then the shared MLP.

        ``x`` is ``(batch, n_channels, n_times)``, flat ``(batch, n_channels * n_times)`` (zero-padded
        for several subjects), or, with one int ``subject``, that subject's own ``(batch, d_s)``.
        """
        flat = self._flat(self._pad_one_subject(x, subject))
        s = self._subjects(subject, flat.shape[0], flat.device)
        h = flat.new_zeros(flat.shape[0], self.adapters[0].out_features)
        for k in torch.unique(s).tolist():
            rows = torch.nonzero(s == k).reshape(-1)
            h = h.index_put((rows,), self.adapters[k](flat[rows, : self.subject_dims[k]]).to(h.dtype))
        return self.backbone(self.adapter_dropout(h))

    def embed(self, x: torch.Tensor, subject: Any = None) -> torch.Tensor:
        """Embedding in the image space ``(batch, clip_dim)`` (compare by cosine similarity)."""
        return self.projector(self.latent(x, subject))

    def forward(self, x: torch.Tensor, subject: Any = None) -> torch.Tensor:
        return self.head(self.embed(x, subject))

    # -- losses --------------------------------------------------------------------------------
    def contrastive_loss(
        self,
        x: torch.Tensor,
        image: torch.Tensor,
        subject: Any = None,
        kind: str = "clip",
        *,
        mix_alpha: float = 0.15,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The loss ``kind`` (one of ``clip``, ``softclip``, ``bimixco``) for one batch."""
        if kind == "bimixco":
            flat = self._flat(x)
            s = self._subjects(subject, flat.shape[0], flat.device)
            mixed, perm, lam = mix_inputs(flat, mix_alpha, groups=s, generator=generator)
            return bimixco_loss(self.embed(mixed, s), image, self.logit_scale, perm, lam)
        emb = self.embed(x, subject)
        if kind == "clip":
            return info_nce(emb, image, self.logit_scale)
        if kind == "softclip":
            return soft_clip_loss(emb, image, self.logit_scale)
        raise BadInputError(f"unknown loss kind {kind!r}; use 'clip', 'softclip' or 'bimixco'.")

    def pretrain_loss(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        """SoftCLIP on a batch ``(x, image_embeddings)`` or ``(x, subject, image_embeddings)``."""
        if len(batch) == 2:
            x, image = batch
            subject = None
        elif len(batch) == 3:
            x, subject, image = batch
        else:
            raise BadInputError("BrainCLIP.pretrain_loss needs (x, image_emb) or (x, subject, image_emb) batches.")
        if not image.is_floating_point() or image.ndim != 2:
            raise BadInputError(
                "BrainCLIP's objective needs image embeddings (float (batch, clip_dim)) as targets, "
                "not class labels; train it with fit_brain_clip."
            )
        return self.contrastive_loss(x, image, subject, "softclip")

    # -- inference -----------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, X: Any, subject: Any = None, *, batch_size: int = 512, latent: bool = False) -> np.ndarray:
        """Embeddings of ``X`` (numpy/tensor, see the input rules above) in eval mode, as numpy.

        ``latent=True`` returns the backbone output instead of the projected embedding.
        """
        x = torch.as_tensor(np.asarray(X, dtype=np.float32)) if not torch.is_tensor(X) else X.float()
        if x.shape[0] == 0:
            raise BadInputError("encode: X has no rows.")
        if not torch.isfinite(x).all():
            raise BadInputError("encode: X holds NaN or inf; clean the input first.")
        device = next(self.parameters()).device
        x = self._pad_one_subject(x, subject)
        s = self._subjects(subject, x.shape[0], "cpu")
        was = self.training
        self.eval()
        try:
            outs = []
            fn = self.latent if latent else self.embed
            for i0 in range(0, x.shape[0], batch_size):
                outs.append(fn(x[i0:i0 + batch_size].to(device), s[i0:i0 + batch_size].to(device)).float().cpu())
        finally:
            self.train(was)
        return torch.cat(outs).numpy()


# --------------------------------------------------------------------------- data helpers


def stack_subjects(arrays: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Per-subject ``(n_s, d_s)`` arrays -> zero-padded ``(sum n_s, max d_s)``, subject index, sizes.

    Arrays of more than 2 dims are flattened per row (``(n, channels, times)`` -> ``(n, c * t)``).
    """
    if not len(arrays):
        raise BadInputError("stack_subjects: no arrays given.")
    flats = []
    for k, a in enumerate(arrays):
        a = np.asarray(a, dtype=np.float32)
        if a.ndim < 2 or a.shape[0] == 0:
            raise BadInputError(f"stack_subjects: subject {k} must be (n >= 1, features...), got {a.shape}.")
        flats.append(a.reshape(a.shape[0], -1))
    dims = [f.shape[1] for f in flats]
    out = np.zeros((sum(f.shape[0] for f in flats), max(dims)), dtype=np.float32)
    subject = np.concatenate([np.full(f.shape[0], k) for k, f in enumerate(flats)]).astype(np.int64)
    i0 = 0
    for f in flats:
        out[i0:i0 + f.shape[0], : f.shape[1]] = f
        i0 += f.shape[0]
    return out, subject, dims


# --------------------------------------------------------------------------- training


def _checked(name: str, arr: Any, n: int | None = None, ndim: int | None = None) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype.kind not in "fiub":
        raise BadInputError(f"{name} must be numeric, got dtype {a.dtype}.")
    if n is not None and a.shape[0] != n:
        raise BadInputError(f"{name} has {a.shape[0]} rows but X has {n}.")
    if ndim is not None and a.ndim != ndim:
        raise BadInputError(f"{name} must be {ndim}-D, got shape {a.shape}.")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise BadInputError(f"{name} holds NaN or inf; clean it first.")
    return a


def fit_brain_clip(
    model: BrainCLIP,
    X: Any,
    image_emb: Any,
    subject: Any = None,
    *,
    loss: str = "mixco_softclip",
    mixco_fraction: float = 1 / 3,
    mix_alpha: float = 0.15,
    val: tuple[Any, ...] | None = None,
    max_epochs: int = 100,
    batch_size: int = 64,
    lr: float = 3e-4,
    weight_decay: float = 1e-2,
    patience: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    **train_kw: Any,
):
    """Train :class:`BrainCLIP` to align brain inputs with image embeddings.

    Parameters
    ----------
    model : BrainCLIP
    X : array ``(n, n_channels, n_times)`` or flat ``(n, n_channels * n_times)``
        Brain inputs (scaled by the caller, e.g. z-scored per voxel with training statistics).
    image_emb : array ``(n, clip_dim)``
        Embedding of the image shown on each row (repeats of an image share it).
    subject : array ``(n,)`` of int, optional
        Subject (adapter) of each row; default 0.
    loss : {"mixco_softclip", "clip", "softclip", "bimixco"}
        ``mixco_softclip``: BiMixCo for the first ``mixco_fraction`` of the epochs, SoftCLIP after.
    mixco_fraction : float
        Fraction of ``max_epochs`` trained with BiMixCo under ``mixco_softclip``.
    mix_alpha : float
        Beta(alpha, alpha) of the mixing weights.
    val : tuple, optional
        ``(X_val, image_emb_val)`` or ``(X_val, image_emb_val, subject_val)`` from the training data;
        its loss is plain InfoNCE (no mixing) and drives early stopping with ``patience``.
    max_epochs, batch_size, lr, weight_decay, patience, seed, device, progress, checkpoint_dir
        :class:`~neurodecode.train.trainer.TrainConfig` settings (batches of at least 2 rows are
        needed; the last incomplete batch is dropped when there is more than one batch).
    **train_kw
        Other :class:`~neurodecode.train.trainer.TrainConfig` fields.

    Returns
    -------
    neurodecode.train.trainer.TrainResult
        The history gains a ``loss_kind`` per epoch in ``result.loss_kinds``.
    """
    from ..train.trainer import Trainer, TrainConfig

    if not isinstance(model, BrainCLIP):
        raise BadInputError(f"fit_brain_clip trains a BrainCLIP, got a {type(model).__name__}.")
    if loss not in LOSSES:
        raise BadInputError(f"unknown loss {loss!r}; use one of {LOSSES}.")
    if not 0 <= float(mixco_fraction) <= 1:
        raise BadInputError(f"mixco_fraction must be in [0, 1], got {mixco_fraction}.")
    x = _checked("X", X).astype(np.float32)
    n = x.shape[0]
    if n < 2:
        raise BadInputError(f"contrastive training needs at least 2 samples, got {n}.")
    emb = _checked("image_emb", image_emb, n, 2).astype(np.float32)
    if emb.shape[1] != model.embed_dim:
        raise BadInputError(f"image_emb has {emb.shape[1]} dims but the model projects to clip_dim={model.embed_dim}.")
    subj = np.zeros(n, np.int64) if subject is None else _checked("subject", subject, n, 1).astype(np.int64)
    cfg = TrainConfig(max_epochs=max_epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                      patience=patience, seed=seed, device=device, progress=progress,
                      checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
                      drop_last=True, **train_kw)
    steps_per_epoch = n // cfg.batch_size if n > cfg.batch_size else 1
    n_mixco = int(round(float(mixco_fraction) * cfg.max_epochs)) if loss == "mixco_softclip" else 0

    def kind_at(epoch: int) -> str:
        if loss == "mixco_softclip":
            return "bimixco" if epoch < n_mixco else "softclip"
        return loss

    state = {"steps": 0}
    if checkpoint_dir is not None and (Path(checkpoint_dir) / "last.pt").is_file():
        from ..train.trainer import load_checkpoint

        last = load_checkpoint(Path(checkpoint_dir) / "last.pt", map_location="cpu")
        state["steps"] = (int(last.get("epoch", -1)) + 1) * steps_per_epoch
    gen = torch.Generator().manual_seed(int(seed) + 1)
    kinds: list[str] = []

    def step(m, batch):
        xb, sb, eb = batch
        if not m.training:  # validation: plain InfoNCE, no mixing
            return m.contrastive_loss(xb, eb, sb, "clip")
        epoch = state["steps"] // steps_per_epoch
        state["steps"] += 1
        kind = kind_at(epoch)
        if len(kinds) <= epoch:
            kinds.extend([kind] * (epoch + 1 - len(kinds)))
        if xb.shape[0] < 2:
            raise BadInputError("a training batch holds a single row; use batch_size >= 2.")
        return m.contrastive_loss(xb, eb, sb, kind, mix_alpha=mix_alpha, generator=gen)

    val_data = None
    if val is not None:
        if len(val) not in (2, 3):
            raise BadInputError("val must be (X_val, image_emb_val) or (X_val, image_emb_val, subject_val).")
        xv = _checked("X_val", val[0]).astype(np.float32)
        ev = _checked("image_emb_val", val[1], xv.shape[0], 2).astype(np.float32)
        sv = (np.zeros(xv.shape[0], np.int64) if len(val) == 2 or val[2] is None
              else _checked("subject_val", val[2], xv.shape[0], 1).astype(np.int64))
        val_data = (xv, sv, ev)
    result = Trainer(cfg).fit(model, train=(x, subj, emb), val=val_data, step_fn=step)
    result.loss_kinds = kinds
    return result


# --------------------------------------------------------------------------- evaluation


def retrieval_scores(
    brain_emb: Any,
    image_emb: Any,
    *,
    n_way: int | None = None,
    k: Sequence[int] = (1, 5),
    n_draws: int = 50,
    seed: int = 0,
) -> dict[str, float]:
    """Top-k retrieval both ways over random N-way sets, and two-way identification.

    Parameters
    ----------
    brain_emb, image_emb : array ``(n, d)``
        Row ``i`` of both belongs to one stimulus (average repeats first).
    n_way : int, optional
        Candidates per draw (default: all ``n``).
    k : sequence of int
        Top-k levels (those larger than ``n_way`` are left out).
    n_draws : int
        Random N-way sets drawn (ignored when ``n_way = n``).
    seed : int

    Returns
    -------
    dict
        ``n_way``, ``n_draws``, ``brain2image.top{k}``, ``image2brain.top{k}`` (and ``_std`` over
        draws), ``top{k}_chance`` (= k / n_way), ``two_way`` (brain embedding vs the image
        embeddings, Pearson; chance 0.5).
    """
    from ..generative.metrics import nway_retrieval, two_way_identification

    b = np.asarray(brain_emb, dtype=np.float64)
    i = np.asarray(image_emb, dtype=np.float64)
    n = b.shape[0]
    nw = n if n_way is None else min(int(n_way), n)
    ks = [int(v) for v in k if int(v) <= nw]
    draws = 1 if nw == n else int(n_draws)
    out: dict[str, float] = {"n_way": float(nw), "n_draws": float(draws), "n_items": float(n)}
    for direction in ("brain2image", "image2brain"):
        res = nway_retrieval(b, i, n_way=nw, k=ks, n_draws=draws, seed=seed, direction=direction)
        for kk in ks:
            out[f"{direction}.top{kk}"] = res[f"top{kk}"]
            out[f"{direction}.top{kk}_std"] = res[f"top{kk}_std"]
            out[f"top{kk}_chance"] = res[f"top{kk}_chance"]
    out["two_way"] = float(two_way_identification(i, b))
    out["two_way_chance"] = 0.5
    return out
