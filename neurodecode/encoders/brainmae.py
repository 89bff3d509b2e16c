"""BrainMAE: a region-aware masked autoencoder for ROI time series (fMRI).

The encoder reads ``(batch, n_rois, n_times)`` ROI signals sampled at ``sfreq = 1 / TR``. It
follows the ideas of BrainMAE (Yang et al., 2023): every region of interest owns a learned
embedding, the graph that mixes information between regions is computed from those embeddings
(so it is learned, shared by every sample, and can be read out after training), and the model is
pretrained by reconstructing masked pieces of the signal.

Architecture
------------
1. **Tokens.** The series of each ROI is cut into ``n_times // segment_len`` segments of
   ``segment_len`` TRs; each (ROI, segment) is a token. Its signal is projected to ``d_model``,
   and a projection of the ROI's embedding (``n_rois x d_emb``) and a learned segment position
   are added.
2. **Region-aware graph attention** (within each segment, across ROIs). The attention logits of
   head ``h`` are ``(E Wq_h)(E Wk_h)^T / sqrt(d_head)``, computed from the ROI embeddings ``E``
   alone: the same ROI graph for every sample and segment. With ``content_attention=True`` the
   usual content logits ``(H Wq)(H Wk)^T / sqrt(d_head)`` of the tokens are added.
3. **Mixing across segments** (within each ROI): multi-head self-attention
   (``temporal="attention"``) or a token-mixing MLP over the segment axis (``"mlp"``).
4. A feed-forward layer; pre-norm residual blocks, ``n_layers`` of them.
5. ``embed(x)`` is the mean of the final token representations (``embed_dim = d_model``), or with
   ``pool="roi"`` each ROI's mean over segments, concatenated; the head is linear, or an MLP when
   ``head_hidden > 0``.

Pretraining (:meth:`BrainMAE.pretrain_loss`) draws a random mask over the tokens of each sample
(exactly ``round(mask_ratio * n_tokens)`` of them), replaces the masked tokens' signal by a learned
mask token (the ROI and position parts stay, so the graph over ROIs is intact), and reconstructs
every segment's signal with a linear decoder. The loss is
``w_masked * MSE(masked tokens) + w_unmasked * MSE(unmasked tokens)``.

Example
-------
>>> import torch
>>> from neurodecode.encoders.brainmae import BrainMAE
>>> m = BrainMAE(48, 8, sfreq=0.4, n_outputs=8, segment_len=2)
>>> m(torch.randn(3, 48, 8)).shape
torch.Size([3, 8])
>>> loss = m.pretrain_loss((torch.randn(3, 48, 8),))
>>> sim = m.roi_similarity()          # (48, 48) cosine similarity of the ROI embeddings
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import BadInputError
from .base import BrainEncoder, make_head, register_encoder

__all__ = ["BrainMAE", "RegionGraphAttention", "weighted_reconstruction_loss"]


def weighted_reconstruction_loss(
    target: torch.Tensor,
    recon: torch.Tensor,
    mask: torch.Tensor,
    w_masked: float = 1.0,
    w_unmasked: float = 0.0,
) -> torch.Tensor:
    """``w_masked * MSE(masked tokens) + w_unmasked * MSE(unmasked tokens)``.

    Parameters
    ----------
    target, recon : Tensor (..., segment_len)
        True and reconstructed segment signals, one row per token.
    mask : bool Tensor (...)
        True where the token was masked (shape of ``target`` without its last axis).
    w_masked, w_unmasked : float
        Weights of the two mean squared errors. Each MSE is the mean over the tokens of its kind
        and over the samples of their segments; a kind with no token contributes 0.

    Returns
    -------
    Tensor
        The scalar loss.
    """
    if target.shape != recon.shape or mask.shape != target.shape[:-1]:
        raise BadInputError(
            f"target {tuple(target.shape)}, recon {tuple(recon.shape)} and mask {tuple(mask.shape)} do not match; "
            "the mask has one entry per token (the target's shape without its last axis)."
        )
    err = (recon.float() - target.float()).pow(2).mean(dim=-1)
    m = mask.to(err.dtype)
    zero = err.new_zeros(())
    masked = (err * m).sum() / m.sum() if bool(mask.any()) else zero
    unmasked = (err * (1 - m)).sum() / (1 - m).sum() if bool((~mask).any()) else zero
    return w_masked * masked + w_unmasked * unmasked


class RegionGraphAttention(nn.Module):
    """Attention across ROIs whose weights come from the learned ROI embeddings.

    Parameters
    ----------
    d_model : int
        Token width.
    d_emb : int
        Width of the ROI embeddings.
    n_heads : int
        Attention heads (``d_model`` must be divisible by it).
    content : bool
        Add content-based logits from the tokens to the embedding-based ones.
    dropout : float
        Dropout on the attention weights.
    """

    def __init__(self, d_model: int, d_emb: int, n_heads: int, content: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q_emb = nn.Linear(d_emb, d_model, bias=False)
        self.k_emb = nn.Linear(d_emb, d_model, bias=False)
        self.content = content
        if content:
            self.q_tok = nn.Linear(d_model, d_model, bias=False)
            self.k_tok = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def graph_logits(self, emb: torch.Tensor) -> torch.Tensor:
        """Embedding-derived logits ``(n_heads, n_rois, n_rois)``."""
        r = emb.shape[0]
        q = self.q_emb(emb).view(r, self.n_heads, self.d_head).transpose(0, 1)
        k = self.k_emb(emb).view(r, self.n_heads, self.d_head).transpose(0, 1)
        return q @ k.transpose(-1, -2) / math.sqrt(self.d_head)

    def weights(self, emb: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """Attention weights (rows sum to 1): ``(n_heads, R, R)``, or ``(N, n_heads, R, R)`` with content."""
        logits = self.graph_logits(emb)
        if self.content:
            if h is None:
                raise BadInputError("content attention needs the tokens h to compute its weights.")
            n, r, _ = h.shape
            q = self.q_tok(h).view(n, r, self.n_heads, self.d_head).transpose(1, 2)
            k = self.k_tok(h).view(n, r, self.n_heads, self.d_head).transpose(1, 2)
            logits = logits.unsqueeze(0) + q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        return torch.softmax(logits.float(), dim=-1).to(h.dtype if h is not None else logits.dtype)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """``h`` (N, n_rois, d_model) -> (N, n_rois, d_model)."""
        n, r, d = h.shape
        attn = self.drop(self.weights(emb, h))
        v = self.value(h).view(n, r, self.n_heads, self.d_head)
        if attn.ndim == 3:  # one graph for all samples: a single (H, R, R) @ (H, R, N * dh) product
            vh = v.permute(2, 1, 0, 3).reshape(self.n_heads, r, n * self.d_head)
            out = (attn @ vh).view(self.n_heads, r, n, self.d_head).permute(2, 1, 0, 3)
        else:
            out = (attn @ v.transpose(1, 2)).transpose(1, 2)  # (N, R, H, dh)
        return self.out(out.reshape(n, r, d))


class _SegmentMixer(nn.Module):
    """Mixing across segments within one ROI: self-attention or an MLP over the segment axis."""

    def __init__(self, kind: str, d_model: int, n_heads: int, n_segments: int, dropout: float) -> None:
        super().__init__()
        self.kind = kind
        if kind == "attention":
            self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        else:
            hidden = max(2 * n_segments, 4)
            self.mix = nn.Sequential(nn.Linear(n_segments, hidden), nn.GELU(), nn.Linear(hidden, n_segments))

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (N, S, d)
        if self.kind == "attention":
            return self.attn(h, h, h, need_weights=False)[0]
        return self.mix(h.transpose(1, 2)).transpose(1, 2)


class _Block(nn.Module):
    def __init__(self, d_model, d_emb, n_heads, n_segments, mlp_ratio, dropout, content, temporal) -> None:
        super().__init__()
        self.norm_graph = nn.LayerNorm(d_model)
        self.graph = RegionGraphAttention(d_model, d_emb, n_heads, content, 0.0)
        self.norm_time = nn.LayerNorm(d_model)
        self.time = _SegmentMixer(temporal, d_model, n_heads, n_segments, dropout)
        self.norm_mlp = nn.LayerNorm(d_model)
        hidden = int(round(mlp_ratio * d_model))
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        b, s, r, d = h.shape  # (batch, segment, roi, d_model)
        x = h.reshape(b * s, r, d)
        x = x + self.drop(self.graph(self.norm_graph(x), emb))
        x = x.view(b, s, r, d).transpose(1, 2).reshape(b * r, s, d)
        x = x + self.drop(self.time(self.norm_time(x)))
        x = x + self.drop(self.mlp(self.norm_mlp(x)))
        return x.view(b, r, s, d).transpose(1, 2)


@register_encoder("brainmae")
class BrainMAE(BrainEncoder):
    """Region-aware masked autoencoder for ROI time series (see the module docstring).

    Parameters
    ----------
    n_channels : int
        Number of ROIs.
    n_times : int
        TRs per input window (a multiple of ``segment_len``).
    sfreq : float
        Sampling rate, ``1 / TR`` in Hz.
    n_outputs : int
        Classes or targets of the head (0: embedding only).
    segment_len : int
        TRs per token.
    d_emb : int
        Width of the learned ROI embeddings.
    d_model : int
        Token width (= ``embed_dim``).
    n_heads : int
        Heads of the graph and segment attentions.
    n_layers : int
        Number of blocks.
    mlp_ratio : float
        Hidden width of the feed-forward layers, in multiples of ``d_model``.
    dropout : float
        Dropout in the blocks and the MLP head.
    content_attention : bool
        Add content logits to the embedding-derived graph attention.
    temporal : {"attention", "mlp"}
        How segments are mixed within a ROI.
    mask_ratio : float
        Fraction of tokens masked in :meth:`pretrain_loss`, in (0, 1).
    w_masked, w_unmasked : float
        Weights of the masked and unmasked reconstruction errors (>= 0, not both 0).
    pool : {"mean", "roi"}
        ``embed``: mean over all tokens (``embed_dim = d_model``), or per-ROI means over segments
        concatenated (``embed_dim = n_rois * d_model``; keeps which region carries what).
    head_hidden : int
        Hidden units of an MLP head (0: linear head).
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        sfreq: float,
        n_outputs: int = 0,
        *,
        segment_len: int = 2,
        d_emb: int = 16,
        d_model: int = 32,
        n_heads: int = 2,
        n_layers: int = 2,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        content_attention: bool = False,
        temporal: str = "attention",
        mask_ratio: float = 0.6,
        w_masked: float = 1.0,
        w_unmasked: float = 0.1,
        pool: str = "mean",
        head_hidden: int = 0,
    ) -> None:
        super().__init__(
            n_channels, n_times, sfreq, n_outputs, segment_len=segment_len, d_emb=d_emb, d_model=d_model,
            n_heads=n_heads, n_layers=n_layers, mlp_ratio=mlp_ratio, dropout=dropout,
            content_attention=content_attention, temporal=temporal, mask_ratio=mask_ratio, w_masked=w_masked,
            w_unmasked=w_unmasked, pool=pool, head_hidden=head_hidden,
        )
        for name, v in (("segment_len", segment_len), ("d_emb", d_emb), ("d_model", d_model),
                        ("n_heads", n_heads), ("n_layers", n_layers)):
            if int(v) != v or v < 1:
                raise BadInputError(f"BrainMAE: {name} must be a positive integer, got {v!r}.")
        if self.n_times % int(segment_len):
            raise BadInputError(
                f"BrainMAE: n_times={self.n_times} is not a multiple of segment_len={segment_len}; cut windows "
                f"of a multiple of {segment_len} TRs or pick a segment_len dividing {self.n_times}."
            )
        if d_model % n_heads:
            raise BadInputError(f"BrainMAE: d_model={d_model} must be divisible by n_heads={n_heads}.")
        if pool not in ("mean", "roi"):
            raise BadInputError(f"BrainMAE: pool must be 'mean' or 'roi', got {pool!r}.")
        if temporal not in ("attention", "mlp"):
            raise BadInputError(f"BrainMAE: temporal must be 'attention' or 'mlp', got {temporal!r}.")
        if not 0 < float(mask_ratio) < 1:
            raise BadInputError(f"BrainMAE: mask_ratio must be in (0, 1), got {mask_ratio}.")
        if w_masked < 0 or w_unmasked < 0 or (w_masked == 0 and w_unmasked == 0):
            raise BadInputError(
                f"BrainMAE: w_masked ({w_masked}) and w_unmasked ({w_unmasked}) must be >= 0 and not both 0."
            )
        self.segment_len = int(segment_len)
        self.n_segments = self.n_times // self.segment_len
        self.n_tokens = self.n_channels * self.n_segments
        self.mask_ratio, self.w_masked, self.w_unmasked = float(mask_ratio), float(w_masked), float(w_unmasked)
        d_model, d_emb = int(d_model), int(d_emb)

        # small enough that the initial graph is close to uniform and what is learned dominates it
        self.roi_embedding = nn.Parameter(0.1 * torch.randn(self.n_channels, d_emb))
        self.roi_proj = nn.Linear(d_emb, d_model)
        self.signal_proj = nn.Linear(self.segment_len, d_model)
        self.segment_pos = nn.Parameter(0.02 * torch.randn(self.n_segments, d_model))
        self.mask_token = nn.Parameter(0.02 * torch.randn(d_model))
        self.blocks = nn.ModuleList(
            _Block(d_model, d_emb, int(n_heads), self.n_segments, float(mlp_ratio), float(dropout),
                   bool(content_attention), temporal)
            for _ in range(int(n_layers))
        )
        self.norm = nn.LayerNorm(d_model)
        self.decoder = nn.Linear(d_model, self.segment_len)
        self.pool = pool
        self.embed_dim = d_model if pool == "mean" else d_model * self.n_channels
        self.head = make_head(self.embed_dim, self.n_outputs, int(head_hidden), float(dropout))

    # -- pieces ----------------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Shape check of the base class, plus a refusal of NaN/inf values."""
        x = super().check_input(x)
        if not bool(torch.isfinite(x).all()):
            raise BadInputError("BrainMAE input holds NaN or inf values; clean or impute the ROI series first.")
        return x

    def segments(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, n_rois, n_times)`` -> ``(batch, n_rois, n_segments, segment_len)``."""
        return x.reshape(x.shape[0], self.n_channels, self.n_segments, self.segment_len)

    def random_mask(self, batch_size: int, *, device: Any = None, generator: torch.Generator | None = None
                    ) -> torch.Tensor:
        """Boolean mask ``(batch, n_rois, n_segments)`` with exactly ``round(mask_ratio * n_tokens)`` True per sample
        (at least one token masked and one kept)."""
        n_mask = min(self.n_tokens - 1, max(1, int(round(self.mask_ratio * self.n_tokens))))
        noise = torch.rand(batch_size, self.n_tokens, generator=generator)
        ranks = noise.argsort(dim=1).argsort(dim=1)
        mask = ranks < n_mask
        return mask.view(batch_size, self.n_channels, self.n_segments).to(device)

    def _encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Token representations ``(batch, n_segments, n_rois, d_model)`` after the final norm."""
        seg = self.segments(x).transpose(1, 2)  # (B, S, R, L)
        h = self.signal_proj(seg)
        if mask is not None:
            m = mask.transpose(1, 2).unsqueeze(-1)
            h = torch.where(m, self.mask_token.to(h.dtype), h)
        emb = self.roi_embedding
        h = h + self.roi_proj(emb) + self.segment_pos[None, :, None, :]
        for block in self.blocks:
            h = block(h, emb)
        return self.norm(h)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Final token representations ``(batch, n_rois, n_segments, d_model)`` (no masking)."""
        x = self.check_input(x)
        return self._encode(x).transpose(1, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled token representation: the mean over all tokens ``(batch, d_model)`` (``pool="mean"``), or
        each ROI's mean over segments, concatenated ``(batch, n_rois * d_model)`` (``pool="roi"``)."""
        x = self.check_input(x)
        h = self._encode(x)
        if self.pool == "mean":
            return h.mean(dim=(1, 2))
        return h.mean(dim=1).reshape(x.shape[0], -1)

    def reconstruct(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Decoded segment signals ``(batch, n_rois, n_segments, segment_len)`` from ``x`` with ``mask`` applied."""
        x = self.check_input(x)
        if mask is not None and tuple(mask.shape) != (x.shape[0], self.n_channels, self.n_segments):
            raise BadInputError(
                f"mask must be (batch, n_rois, n_segments) = ({x.shape[0]}, {self.n_channels}, {self.n_segments}), "
                f"got {tuple(mask.shape)}."
            )
        return self.decoder(self._encode(x, mask)).transpose(1, 2)

    def pretrain_loss(self, batch: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Masked-reconstruction loss of a batch ``(x,)`` (or ``(x, y)``; labels unused).

        ``mask`` (bool, ``(batch, n_rois, n_segments)``) fixes which tokens are masked; by default
        a fresh :meth:`random_mask` is drawn.
        """
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = self.check_input(x)
        if mask is None:
            mask = self.random_mask(x.shape[0], device=x.device)
        mask = mask.to(device=x.device, dtype=torch.bool)
        recon = self.reconstruct(x, mask)
        return weighted_reconstruction_loss(self.segments(x), recon, mask, self.w_masked, self.w_unmasked)

    # -- what it learned -------------------------------------------------------------------------
    def roi_similarity(self) -> torch.Tensor:
        """Cosine similarity ``(n_rois, n_rois)`` of the learned ROI embeddings."""
        with torch.no_grad():
            e = torch.nn.functional.normalize(self.roi_embedding.detach().float(), dim=1)
            return e @ e.T

    def graph_attention(self) -> torch.Tensor:
        """The embedding-derived ROI graph of every block: ``(n_layers, n_heads, n_rois, n_rois)``, rows sum to 1.

        With ``content_attention=True`` the weights used on a sample also add its content logits;
        this is the part shared by all samples.
        """
        with torch.no_grad():
            emb = self.roi_embedding.detach()
            return torch.stack([torch.softmax(b.graph.graph_logits(emb), dim=-1) for b in self.blocks])
