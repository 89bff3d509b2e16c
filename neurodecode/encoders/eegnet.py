"""EEGNet: a compact convolutional network for EEG (after Lawhern et al. 2018), under the encoder contract.

Lawhern VJ, Solon AJ, Waytowich NR, Gordon SM, Hung CP, Lance BJ (2018). EEGNet: a compact
convolutional neural network for EEG-based brain-computer interfaces. J Neural Eng 15(5):056013.

Layers (the paper's Table 2, for C channels, T samples, F1 temporal filters, depth D, F2
pointwise filters, N classes; kernel lengths and pools given there for 128 Hz are scaled with
``sfreq``: temporal kernel ``sfreq / 2`` samples, pools 4 and 8 samples at 128 Hz):

=====  ==========================  ====================  ===========================
block  layer                       output                parameters
=====  ==========================  ====================  ===========================
1      Conv2D (1, K1), F1, same    (F1, C, T)            K1 * F1
1      BatchNorm                   (F1, C, T)            2 * F1
1      DepthwiseConv2D (C, 1), D   (D*F1, 1, T)          C * D * F1  (max-norm 1)
1      BatchNorm, ELU              (D*F1, 1, T)          2 * D * F1
1      AveragePool2D (1, P1)       (D*F1, 1, T // P1)
1      Dropout
2      SeparableConv2D (1, K2), F2 (F2, 1, T // P1)      K2 * D * F1 + D * F1 * F2
2      BatchNorm, ELU              (F2, 1, T // P1)      2 * F2
2      AveragePool2D (1, P2)       (F2, 1, T // (P1 P2))
2      Dropout, Flatten            F2 * T // (P1 P2)
head   Dense N (max-norm 0.25)     N                     N * (F2 * T // (P1 P2)) + N
=====  ==========================  ====================  ===========================

No convolution has a bias (the batch norms carry the offsets), as in the paper. The max-norm
constraints are applied as a re-normalisation of the weights inside ``forward`` (rows of norm
above the limit are scaled down), the same constraint as Keras' ``max_norm`` applied after each
update.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInputError
from .base import BrainEncoder, register_encoder

__all__ = ["EEGNet"]


@register_encoder("eegnet")
class EEGNet(BrainEncoder):
    """EEGNet-F1,D (default EEGNet-8,2) for (batch, channels, times) inputs.

    Parameters
    ----------
    n_channels, n_times, sfreq, n_outputs
        The encoder contract (see :mod:`neurodecode.encoders.base`).
    F1 : int
        Temporal filters (8).
    D : int
        Spatial filters per temporal filter (depth multiplier, 2).
    F2 : int, optional
        Pointwise filters; default ``F1 * D``.
    kernel_length : int, optional
        Temporal kernel (samples); default ``round(sfreq / 2)`` (64 at 128 Hz, as in the paper).
    separable_length : int, optional
        Kernel of the separable convolution; default ``round(sfreq / 8)`` (16 at 128 Hz).
    pool1, pool2 : int, optional
        Average-pool widths; default ``round(sfreq / 32)`` and ``round(sfreq / 16)`` (4 and 8 at 128 Hz).
    dropout : float
        0.5 within-subject, 0.25 cross-subject in the paper.
    """

    def __init__(self, n_channels: int, n_times: int, sfreq: float, n_outputs: int = 0, *, F1: int = 8, D: int = 2,
                 F2: int | None = None, kernel_length: int | None = None, separable_length: int | None = None,
                 pool1: int | None = None, pool2: int | None = None, dropout: float = 0.5) -> None:
        k1 = int(kernel_length or max(1, round(sfreq / 2)))
        k2 = int(separable_length or max(1, round(sfreq / 8)))
        p1 = int(pool1 or max(1, round(sfreq / 32)))
        p2 = int(pool2 or max(1, round(sfreq / 16)))
        F2 = int(F2 or F1 * D)
        super().__init__(n_channels, n_times, sfreq, n_outputs, F1=F1, D=D, F2=F2, kernel_length=k1,
                         separable_length=k2, pool1=p1, pool2=p2, dropout=dropout)
        if n_times // (p1 * p2) < 1:
            raise BadInputError(f"EEGNet: {n_times} samples are fewer than the pooling width {p1 * p2}; use longer "
                                "epochs or smaller pool1/pool2.")
        self.conv_temporal = nn.Conv2d(1, F1, (1, k1), padding="same", bias=False)
        self.bn1 = nn.BatchNorm2d(F1)
        self.conv_spatial = nn.Conv2d(F1, F1 * D, (n_channels, 1), groups=F1, bias=False)
        self.bn2 = nn.BatchNorm2d(F1 * D)
        self.pool1 = nn.AvgPool2d((1, p1))
        self.drop1 = nn.Dropout(dropout)
        self.conv_separable_depth = nn.Conv2d(F1 * D, F1 * D, (1, k2), padding="same", groups=F1 * D, bias=False)
        self.conv_separable_point = nn.Conv2d(F1 * D, F2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(F2)
        self.pool2 = nn.AvgPool2d((1, p2))
        self.drop2 = nn.Dropout(dropout)
        self.embed_dim = F2 * (n_times // p1 // p2)
        self.head = nn.Linear(self.embed_dim, n_outputs) if n_outputs > 0 else nn.Identity()

    @staticmethod
    def _max_norm(w: torch.Tensor, limit: float) -> torch.Tensor:
        norms = w.flatten(1).norm(dim=1).clamp(min=1e-12)
        scale = torch.clamp(limit / norms, max=1.0)
        return w * scale.view(-1, *([1] * (w.ndim - 1)))

    def blocks(self, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """The output of every layer of the table above (for inspection and the shape tests)."""
        x = self.check_input(x).unsqueeze(1)
        out = []
        x = self.conv_temporal(x)
        out.append(("conv_temporal", x))
        x = self.bn1(x)
        w = self._max_norm(self.conv_spatial.weight, 1.0)
        x = F.conv2d(x, w, groups=self.conv_spatial.groups)
        out.append(("conv_spatial", x))
        x = F.elu(self.bn2(x))
        x = self.drop1(self.pool1(x))
        out.append(("pool1", x))
        x = self.conv_separable_point(self.conv_separable_depth(x))
        out.append(("conv_separable", x))
        x = F.elu(self.bn3(x))
        x = self.drop2(self.pool2(x))
        out.append(("pool2", x))
        out.append(("flatten", x.flatten(1)))
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)[-1][1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x)
        if isinstance(self.head, nn.Linear):
            return F.linear(z, self._max_norm(self.head.weight, 0.25), self.head.bias)
        return z

    def layer_parameters(self) -> dict[str, int]:
        """Trainable parameters per layer of the table (for comparison with the paper)."""
        def count(m: Any) -> int:
            return sum(p.numel() for p in m.parameters())

        return {
            "conv_temporal": count(self.conv_temporal), "bn1": count(self.bn1),
            "conv_spatial": count(self.conv_spatial), "bn2": count(self.bn2),
            "conv_separable": count(self.conv_separable_depth) + count(self.conv_separable_point),
            "bn3": count(self.bn3), "head": count(self.head),
        }
