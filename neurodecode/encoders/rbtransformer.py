"""RBTransformer-style EEG encoder: band differential entropy tokens, attention across electrodes.

The input is a batch of raw epochs ``(batch, n_channels, n_times)`` sampled at ``sfreq``. The
encoder

1. computes fixed (non-learned) **band differential entropy** (BDE) features inside the network
   (:class:`BandDE`): per channel, band and sub-window, ``DE = 1/2 log_b(2 pi e P)`` where ``P`` is
   the band's share of the signal variance read off the periodogram (``torch.fft.rfft``). This is
   exactly :func:`neurodecode.encoders.bde.band_de` with ``method="fft"`` applied to each
   sub-window, but differentiable and on the model's device;
2. turns each electrode into one token: its ``n_bands * n_windows`` DE values projected to
   ``d_model`` dims, plus a learned electrode-identity embedding;
3. runs ``n_layers`` pre-norm transformer blocks (multi-head self-attention across electrodes, then
   a feed-forward layer; dropout on both residual branches and on the attention weights);
4. averages the electrode tokens (after a final layer norm) into the embedding and applies an MLP
   head.

:meth:`RBTransformer.attention_maps` returns the electrode x electrode attention of every layer and
head for each trial, and :func:`plot_attention_montage` draws such a matrix on the head (Muse
electrodes TP9, AF7, AF8, TP10 at their standard 10-20 positions by default)::

    from neurodecode.encoders.rbtransformer import RBTransformer, plot_attention_montage

    model = RBTransformer(4, 181, 256.0, n_outputs=2, d_model=16, n_layers=2, n_heads=2)
    attn = model.attention_maps(x)                  # (batch, layers, heads, 4, 4)
    fig = plot_attention_montage(attn[:, -1].mean((0, 1)), ["TP9", "AF7", "AF8", "TP10"])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import BadInputError
from .base import BrainEncoder, make_head, register_encoder
from .bde import DEFAULT_BANDS

__all__ = ["RBTransformer", "BandDE", "window_bounds", "band_de_windows", "plot_attention_montage",
           "MUSE_CHANNELS", "TOKEN_TYPES"]

#: What an electrode's token can hold (``RBTransformer(token_type=...)``).
TOKEN_TYPES = ("bde", "waveform", "both")

#: The four EEG electrodes of the Muse headband.
MUSE_CHANNELS = ("TP9", "AF7", "AF8", "TP10")


def window_bounds(n_times: int, n_windows: int) -> list[tuple[int, int]]:
    """``n_windows`` contiguous, non-overlapping sample ranges covering all ``n_times`` samples.

    Lengths differ by at most one sample (boundaries at ``round(k * n_times / n_windows)``), so no
    sample is dropped.
    """
    if int(n_windows) != n_windows or n_windows < 1:
        raise BadInputError(f"n_windows must be a positive integer, got {n_windows!r}.")
    if n_windows > n_times:
        raise BadInputError(f"n_windows={n_windows} is more than the {n_times} samples of an epoch.")
    edges = np.round(np.linspace(0, n_times, int(n_windows) + 1)).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _bands_dict(bands: Any) -> dict[str, tuple[float, float]]:
    """Bands as an ordered ``name -> (lo, hi)`` dict (JSON round trips give lists; accept both)."""
    if bands is None:
        return dict(DEFAULT_BANDS)
    if isinstance(bands, Mapping):
        items = list(bands.items())
    elif isinstance(bands, Sequence) and not isinstance(bands, str):
        try:
            items = [(str(name), edges) for name, edges in bands]
        except (TypeError, ValueError):
            raise BadInputError(f"bands must be a dict name -> (lo, hi) Hz, got {bands!r}.") from None
    else:
        raise BadInputError(f"bands must be a dict name -> (lo, hi) Hz, got {bands!r}.")
    if not items:
        raise BadInputError("bands is empty; give at least one band, e.g. {'alpha': (8, 14)}.")
    out = {}
    for name, edges in items:
        try:
            lo, hi = (float(v) for v in edges)
        except (TypeError, ValueError):
            raise BadInputError(f"band {name!r}: expected (lo, hi) in Hz, got {edges!r}.") from None
        out[str(name)] = (lo, hi)
    return out


def _band_weights(n: int, sfreq: float, bands: dict[str, tuple[float, float]], what: str) -> np.ndarray:
    """``(n_freq, n_bands)`` weights turning ``|rfft|**2`` into band variance (see bde's fft method)."""
    nyq = sfreq / 2.0
    freqs = np.fft.rfftfreq(n, d=1.0 / sfreq)
    weight = np.full(freqs.size, 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    cols = []
    for name, (lo, hi) in bands.items():
        if not (0 < lo < hi):
            raise BadInputError(f"band {name!r}: need 0 < lo < hi, got ({lo}, {hi}) Hz.")
        if hi >= nyq:
            raise BadInputError(
                f"band {name!r} ({lo}-{hi} Hz) reaches the Nyquist frequency {nyq:g} Hz of the sampling "
                f"rate {sfreq:g} Hz; lower its upper edge below {nyq:g} Hz or drop the band."
            )
        mask = (freqs >= lo) & (freqs < hi)
        if not mask.any():
            need = int(np.ceil(sfreq / (hi - lo))) + 1
            raise BadInputError(
                f"{what} has {n} samples ({n / sfreq:g} s): its FFT (resolution {sfreq / n:g} Hz) has no "
                f"bin in band {name!r} ({lo}-{hi} Hz); it needs at least {need} samples. Use fewer "
                "sub-windows (n_windows), longer epochs or wider bands."
            )
        cols.append(mask * weight / float(n) ** 2)
    return np.stack(cols, axis=1)


class BandDE(nn.Module):
    """Fixed layer: band differential entropy of every channel, band and sub-window.

    For each sub-window of ``n`` samples (see :func:`window_bounds`),
    ``P_band = (2 / n**2) * sum_{k: lo <= f_k < hi} |X_k|**2`` with ``X = rfft(x)`` (DC and, for
    even ``n``, Nyquist bins weigh 1), i.e. the band's share of the window's variance (Parseval),
    and ``DE = 1/2 * log_b(2 pi e P_band)``: the same numbers as
    ``neurodecode.encoders.bde.band_de(x_window, sfreq, bands, method="fft", log_base=b)``.

    Parameters
    ----------
    n_times, sfreq : int, float
        Epoch length in samples and sampling rate in Hz.
    bands : dict, optional
        Band name -> (lo, hi) Hz (default :data:`neurodecode.encoders.bde.DEFAULT_BANDS`).
    n_windows : int
        Contiguous sub-windows per epoch, each giving its own DE values.
    log_base : float
        Base of the logarithm (2: bits, as ``band_de``).

    Input ``(batch, n_channels, n_times)``; output ``(batch, n_channels, n_windows, n_bands)``.
    """

    def __init__(self, n_times: int, sfreq: float, bands: Any = None, n_windows: int = 1,
                 log_base: float = 2.0) -> None:
        super().__init__()
        if not (np.isfinite(log_base) and log_base > 0 and log_base != 1):
            raise BadInputError(f"log_base must be positive and not 1, got {log_base!r}.")
        self.bands = _bands_dict(bands)
        self.bounds = window_bounds(int(n_times), n_windows)
        self.n_times, self.sfreq, self.log_base = int(n_times), float(sfreq), float(log_base)
        for k, (a, b) in enumerate(self.bounds):
            what = "the epoch" if len(self.bounds) == 1 else f"sub-window {k} of {len(self.bounds)}"
            w = torch.as_tensor(_band_weights(b - a, self.sfreq, self.bands, what), dtype=torch.float64)
            # derived from the config, so not part of the saved weights
            self.register_buffer(f"w{k}", w, persistent=False)

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        for k, (a, b) in enumerate(self.bounds):
            spec = torch.fft.rfft(x[..., a:b], dim=-1)
            power = spec.real.square() + spec.imag.square()
            w = getattr(self, f"w{k}").to(power.dtype)
            var = power @ w  # (batch, channels, bands)
            var = var.clamp_min(torch.finfo(var.dtype).tiny)
            out.append(0.5 * torch.log(2.0 * math.pi * math.e * var) / math.log(self.log_base))
        return torch.stack(out, dim=2)


def band_de_windows(x: Any, sfreq: float, bands: Any = None, n_windows: int = 1, log_base: float = 2.0) -> np.ndarray:
    """:func:`~neurodecode.encoders.bde.band_de` (``method="fft"``) on each sub-window of numpy epochs.

    Returns ``(..., n_windows, n_bands)``: the features :class:`BandDE` computes inside the
    network, from the library function (used by the BDE + logistic-regression baseline).
    """
    from .bde import band_de

    arr = np.asarray(x, dtype=np.float64)
    bounds = window_bounds(arr.shape[-1], n_windows)
    bands = _bands_dict(bands)
    return np.stack([band_de(arr[..., a:b], sfreq, bands, method="fft", log_base=log_base) for a, b in bounds],
                    axis=-2)


class _Attention(nn.Module):
    """Multi-head self-attention that also returns its (pre-dropout) attention weights."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.d_head), dim=-1)  # (b, h, t, t)
        y = (self.drop(attn) @ v).transpose(1, 2).reshape(b, t, d)
        return self.out(y), attn


class _Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + FF(LN(x))."""

    def __init__(self, d_model: int, n_heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = _Attention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, attn = self.attn(self.norm1(x))
        x = x + self.drop(h)
        x = x + self.drop(self.ff(self.norm2(x)))
        return x, attn


@register_encoder("rbtransformer")
class RBTransformer(BrainEncoder):
    """Band-DE tokens per electrode, a transformer across electrodes, mean pooling, MLP head.

    Parameters
    ----------
    n_channels, n_times, sfreq, n_outputs
        See :class:`~neurodecode.encoders.base.BrainEncoder`.
    bands : dict, optional
        Band name -> (lo, hi) Hz of the BDE layer (default theta 4-8, alpha 8-14, beta 14-31,
        gamma 31-49 Hz: :data:`neurodecode.encoders.bde.DEFAULT_BANDS`; fine for Muse's 256 Hz).
    n_windows : int
        Sub-windows per epoch; each electrode's token holds ``n_bands * n_windows`` DE values.
    d_model : int
        Token width.
    n_layers, n_heads : int
        Transformer blocks and attention heads (``d_model`` divisible by ``n_heads``).
    ff_mult : int
        Feed-forward width as a multiple of ``d_model``.
    dropout : float
        Dropout on attention weights, residual branches and the head's hidden layer.
    head_hidden : int
        Hidden units of the MLP head (0: a linear head).
    log_base : float
        Logarithm base of the DE values (2: bits).
    token_type : {"bde", "waveform", "both"}
        What each electrode's token holds before the projection: its band-DE values (band power,
        the RBTransformer's design), its waveform averaged down to ``waveform_points`` samples (the
        phase-locked ERP, which band power discards), or both concatenated.
    waveform_points : int
        Length of the waveform part of a token (average pooling over time; at most ``n_times``).
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        sfreq: float,
        n_outputs: int = 0,
        *,
        bands: Any = None,
        n_windows: int = 1,
        d_model: int = 32,
        n_layers: int = 2,
        n_heads: int = 4,
        ff_mult: int = 2,
        dropout: float = 0.1,
        head_hidden: int = 32,
        log_base: float = 2.0,
        token_type: str = "bde",
        waveform_points: int = 32,
    ) -> None:
        bands = _bands_dict(bands)
        if token_type not in TOKEN_TYPES:
            raise BadInputError(f"token_type must be one of {TOKEN_TYPES}, got {token_type!r}.")
        if int(waveform_points) != waveform_points or waveform_points < 1:
            raise BadInputError(f"waveform_points must be a positive integer, got {waveform_points!r}.")
        for name, v in (("d_model", d_model), ("n_layers", n_layers), ("n_heads", n_heads), ("ff_mult", ff_mult)):
            if int(v) != v or v < 1:
                raise BadInputError(f"{name} must be a positive integer, got {v!r}.")
        if d_model % n_heads:
            raise BadInputError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads}).")
        if not 0 <= dropout < 1:
            raise BadInputError(f"dropout must be in [0, 1), got {dropout!r}.")
        if int(head_hidden) != head_hidden or head_hidden < 0:
            raise BadInputError(f"head_hidden must be an integer >= 0, got {head_hidden!r}.")
        super().__init__(
            n_channels, n_times, sfreq, n_outputs,
            bands={k: list(v) for k, v in bands.items()}, n_windows=int(n_windows), d_model=int(d_model),
            n_layers=int(n_layers), n_heads=int(n_heads), ff_mult=int(ff_mult), dropout=float(dropout),
            head_hidden=int(head_hidden), log_base=float(log_base), token_type=token_type,
            waveform_points=int(waveform_points),
        )
        self.bde = BandDE(self.n_times, self.sfreq, bands, n_windows, log_base)
        self.token_type = token_type
        self.n_wave = min(int(waveform_points), self.n_times) if token_type != "bde" else 0
        n_feat = (self.bde.n_bands * len(self.bde.bounds) if token_type != "waveform" else 0) + self.n_wave
        self.embed_dim = int(d_model)
        self.proj = nn.Linear(n_feat, d_model)
        self.electrode = nn.Parameter(torch.randn(self.n_channels, d_model) * 0.02)
        self.blocks = nn.ModuleList(
            [_Block(d_model, n_heads, ff_mult * d_model, dropout) for _ in range(int(n_layers))]
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = make_head(self.embed_dim, self.n_outputs, int(head_hidden), float(dropout))

    # -- forward -------------------------------------------------------------------------------
    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Token features ``(batch, n_channels, n_features)`` of raw epochs: BDE values
        (``n_windows * n_bands``, window-major), the pooled waveform (``waveform_points``), or both
        (BDE first), as ``token_type`` says."""
        self.check_input(x)
        parts = []
        if self.token_type != "waveform":
            parts.append(self.bde(x).flatten(2))
        if self.n_wave:
            parts.append(torch.nn.functional.adaptive_avg_pool1d(x.to(self.proj.weight.dtype), self.n_wave))
        return parts[0] if len(parts) == 1 else torch.cat([p.to(self.proj.weight.dtype) for p in parts], dim=-1)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = self.tokens(x).to(self.proj.weight.dtype)
        h = self.proj(feats) + self.electrode
        maps = []
        for block in self.blocks:
            h, attn = block(h)
            maps.append(attn)
        return self.norm(h), maps

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over electrodes of the final tokens: ``(batch, d_model)``."""
        h, _ = self._encode(x)
        return h.mean(dim=1)

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor | np.ndarray, batch_size: int = 256) -> torch.Tensor:
        """Attention of every layer and head: ``(batch, n_layers, n_heads, n_channels, n_channels)``.

        Entry ``[..., i, j]`` is how much electrode ``i`` (query) attends to electrode ``j`` (key);
        each row sums to 1. Computed in evaluation mode (no dropout); the training mode is restored.
        """
        x = torch.as_tensor(x)
        dev = self.proj.weight.device
        was_training = self.training
        self.eval()
        try:
            out = []
            for start in range(0, max(1, x.shape[0]), batch_size):
                xb = x[start:start + batch_size].to(dev)
                if not xb.is_floating_point():
                    xb = xb.float()
                _, maps = self._encode(xb)
                out.append(torch.stack(maps, dim=1).cpu())
            return torch.cat(out)
        finally:
            self.train(was_training)


# --------------------------------------------------------------------------- montage figure


def _positions_2d(ch_names: Sequence[str], info_or_positions: Any) -> np.ndarray:
    """2-D head-plot coordinates (head circle of radius 1, nose up) of the named electrodes."""
    pos3 = None
    if info_or_positions is None or isinstance(info_or_positions, str):
        import mne

        name = info_or_positions or "standard_1020"
        if name == "standard_1020" and "colin27_1020" in mne.channels.get_builtin_montages():
            name = "colin27_1020"  # MNE >= 1.13's name of the same montage (standard_1020 is deprecated)
        montage = mne.channels.make_standard_montage(name)
        table = montage.get_positions()["ch_pos"]
        missing = [c for c in ch_names if c not in table]
        if missing:
            raise BadInputError(f"electrodes {missing} are not in the {info_or_positions or 'standard_1020'} "
                                "montage; pass their positions as a dict name -> (x, y, z).")
        pos3 = np.array([table[c] for c in ch_names], dtype=float)
    elif hasattr(info_or_positions, "get_montage") or hasattr(info_or_positions, "ch_names"):
        montage = info_or_positions.get_montage() if hasattr(info_or_positions, "get_montage") else None
        if montage is None:
            raise BadInputError("the MNE Info has no montage; set one with raw.set_montage('standard_1020').")
        table = montage.get_positions()["ch_pos"]
        missing = [c for c in ch_names if c not in table]
        if missing:
            raise BadInputError(f"electrodes {missing} have no position in the Info's montage.")
        pos3 = np.array([table[c] for c in ch_names], dtype=float)
    elif isinstance(info_or_positions, Mapping):
        missing = [c for c in ch_names if c not in info_or_positions]
        if missing:
            raise BadInputError(f"no position for electrodes {missing} in the positions dict.")
        pos = np.array([np.asarray(info_or_positions[c], dtype=float) for c in ch_names])
        if pos.shape[1] == 2:
            return pos
        pos3 = pos[:, :3]
    else:
        pos = np.asarray(info_or_positions, dtype=float)
        if pos.ndim != 2 or pos.shape[0] != len(ch_names) or pos.shape[1] not in (2, 3):
            raise BadInputError(f"positions must be (n_channels, 2 or 3), got shape {pos.shape}.")
        if pos.shape[1] == 2:
            return pos
        pos3 = pos
    if not np.all(np.isfinite(pos3)):
        raise BadInputError("electrode positions hold NaN; the montage lacks some of these electrodes.")
    # azimuthal equidistant projection from the vertex: the equator (z = 0) maps to the head circle
    r = np.linalg.norm(pos3, axis=1, keepdims=True)
    unit = pos3 / np.where(r > 0, r, 1.0)
    polar = np.arccos(np.clip(unit[:, 2], -1, 1)) / (np.pi / 2)
    azim = np.arctan2(unit[:, 1], unit[:, 0])
    return np.stack([polar * np.cos(azim), polar * np.sin(azim)], axis=1)


def plot_attention_montage(
    attn: Any,
    ch_names: Sequence[str] = MUSE_CHANNELS,
    info_or_positions: Any = "standard_1020",
    *,
    ax: Any = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    title: str | None = None,
    colorbar: bool = True,
    colorbar_label: str = "attention",
):
    """Draw an electrode x electrode attention matrix on the head.

    Each pair of electrodes is joined by a line whose width and colour give the mean attention
    between them, ``(A[i, j] + A[j, i]) / 2``; each electrode's disc is coloured by its attention
    to itself ``A[i, i]``. Rows of ``A`` are queries, columns keys.

    Parameters
    ----------
    attn : array-like (n_channels, n_channels)
        One attention matrix (e.g. averaged over trials, heads, layers).
    ch_names : sequence of str
        Electrode names, in the order of the matrix rows.
    info_or_positions : str, mne.Info, dict or array
        A standard montage name (default ``"standard_1020"``, called ``"colin27_1020"`` in MNE >= 1.13
        and used under that name there), an MNE ``Info`` with a
        montage, a dict name -> (x, y[, z]) or an ``(n_channels, 2 or 3)`` array; 3-D positions
        are projected azimuthally from the vertex (head circle = the z = 0 plane).
    ax : matplotlib Axes, optional
        Where to draw (a new figure otherwise).
    vmin, vmax : float, optional
        Colour range (default: the matrix's range), to compare several panels.
    cmap : str
        Matplotlib colormap.
    title : str, optional
    colorbar : bool
        Add a colour bar.
    colorbar_label : str
        Its label (e.g. "attention difference" for a difference of two maps).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, Polygon

    a = np.asarray(attn.detach().cpu() if isinstance(attn, torch.Tensor) else attn, dtype=float)
    n = len(ch_names)
    if a.shape != (n, n):
        raise BadInputError(f"attn must be ({n}, {n}) for {n} electrodes, got shape {a.shape}; average "
                            "the batch/layer/head axes of attention_maps(x) first.")
    if not np.all(np.isfinite(a)):
        raise BadInputError("attn holds NaN or inf.")
    xy = _positions_2d(list(ch_names), info_or_positions)
    if ax is None:
        fig = Figure(figsize=(4.2, 4.0))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    sym = (a + a.T) / 2
    lo = float(a.min()) if vmin is None else vmin
    hi = float(a.max()) if vmax is None else vmax
    norm = mpl.colors.Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1e-9)
    cm = mpl.colormaps[cmap]
    # head outline, nose and ears
    ax.add_patch(Circle((0, 0), 1.0, fill=False, lw=1.5, color="0.3"))
    ax.add_patch(Polygon([[-0.12, 0.99], [0, 1.15], [0.12, 0.99]], closed=False, fill=False, lw=1.5, color="0.3"))
    for side in (-1, 1):
        ax.add_patch(mpl.patches.Ellipse((side * 1.04, 0), 0.1, 0.3, fill=False, lw=1.5, color="0.3"))
    pairs = sorted(((sym[i, j], i, j) for i in range(n) for j in range(i + 1, n)))
    span = max(hi - lo, 1e-12)
    for value, i, j in pairs:  # strongest drawn last (on top)
        width = 1.0 + 9.0 * np.clip((value - lo) / span, 0, 1)
        ax.plot(xy[[i, j], 0], xy[[i, j], 1], color=cm(norm(value)), lw=width, solid_capstyle="round", zorder=2)
    ax.scatter(xy[:, 0], xy[:, 1], s=420, c=[cm(norm(v)) for v in np.diag(a)], edgecolors="k", zorder=3)
    for (x0, y0), name in zip(xy, ch_names):
        ax.annotate(name, (x0, y0), xytext=(0, -22), textcoords="offset points", ha="center", fontsize=8, zorder=4)
    lim = max(1.25, float(np.abs(xy).max()) + 0.25)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=cm)
        fig.colorbar(sm, ax=ax, shrink=0.7, label=colorbar_label)
    return fig
