"""The uniform interface of neurodecode's torch encoders, and how they are saved.

Every encoder is a :class:`BrainEncoder`: built as
``Encoder(n_channels, n_times, sfreq, n_outputs=0, **sizes)`` where ``n_channels`` counts channels,
ROIs or units, ``n_times`` the samples (or bins) of one input, ``sfreq`` their rate in Hz and
``n_outputs`` the size of the task head (classes or regression targets; 0 for an embedding-only
model). Inputs are float tensors of shape ``(batch, n_channels, n_times)``.

- ``embed(x)`` -> ``(batch, embed_dim)``; ``forward(x)`` -> ``(batch, n_outputs)`` through the head.
- ``pretrain_loss(batch)`` (optional): a self-supervised objective (masked reconstruction,
  contrastive) that :class:`neurodecode.encoders.sklearn.EncoderClassifier` and friends run
  before supervised training when ``pretrain_epochs > 0``.
- ``save(folder)`` writes ``config.json`` (class name and constructor arguments) and
  ``weights.pt`` (the state dict only); :func:`load_encoder` rebuilds the class from the config and
  loads the weights with ``weights_only=True``. No pickled objects, so a saved encoder can be
  shared and read safely.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import BadInputError

__all__ = ["BrainEncoder", "register_encoder", "encoder_class", "load_encoder", "ENCODERS", "make_head"]

#: name -> encoder class (filled by :func:`register_encoder`).
ENCODERS: dict[str, type[BrainEncoder]] = {}
#: name -> module defining it (imported on first use, so this module stays light).
_LAZY = {
    "rbtransformer": "neurodecode.encoders.rbtransformer",
    "brainmae": "neurodecode.encoders.brainmae",
    "spike_contrastive": "neurodecode.encoders.spike",
    "brain_clip": "neurodecode.encoders.contrastive",
    "eegnet": "neurodecode.encoders.eegnet",
}
FORMAT_VERSION = 1


def register_encoder(name: str):
    """Class decorator: make an encoder loadable by ``name`` (stored in its ``config.json``)."""

    def deco(cls):
        cls.encoder_name = name
        ENCODERS[name] = cls
        return cls

    return deco


def encoder_class(name: str) -> type[BrainEncoder]:
    """The encoder class registered as ``name`` (importing its module when needed)."""
    if name not in ENCODERS and name in _LAZY:
        import importlib

        importlib.import_module(_LAZY[name])
    if name not in ENCODERS:
        known = sorted(set(ENCODERS) | set(_LAZY))
        raise BadInputError(f"unknown encoder {name!r}; known encoders: {known}.")
    return ENCODERS[name]


def make_head(in_dim: int, n_outputs: int, hidden: int = 0, dropout: float = 0.0) -> nn.Module:
    """A linear head, or a one-hidden-layer MLP head when ``hidden > 0`` (identity when ``n_outputs == 0``)."""
    if n_outputs <= 0:
        return nn.Identity()
    if hidden <= 0:
        return nn.Linear(in_dim, n_outputs)
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_outputs))


class BrainEncoder(nn.Module):
    """Base class of neurodecode encoders (see the module docstring for the contract).

    Subclasses call ``super().__init__(n_channels, n_times, sfreq, n_outputs, **hparams)`` with all
    their size arguments as keyword ``hparams`` (they go into ``config.json``), set
    ``self.embed_dim`` and implement :meth:`embed`; the default :meth:`forward` applies ``self.head``.
    """

    encoder_name: str = "base"

    def __init__(self, n_channels: int, n_times: int, sfreq: float, n_outputs: int = 0, **hparams: Any) -> None:
        super().__init__()
        for name, v in (("n_channels", n_channels), ("n_times", n_times)):
            if int(v) != v or v < 1:
                raise BadInputError(f"{name} must be a positive integer, got {v!r}.")
        if not (float(sfreq) > 0):
            raise BadInputError(f"sfreq must be > 0 Hz, got {sfreq!r}.")
        if int(n_outputs) != n_outputs or n_outputs < 0:
            raise BadInputError(f"n_outputs must be an integer >= 0, got {n_outputs!r}.")
        self.n_channels, self.n_times = int(n_channels), int(n_times)
        self.sfreq, self.n_outputs = float(sfreq), int(n_outputs)
        self.hparams = dict(hparams)

    # -- contract ------------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Refuse inputs of the wrong shape with an error that names the expected one."""
        if x.ndim != 3 or x.shape[1] != self.n_channels or x.shape[2] != self.n_times:
            raise BadInputError(
                f"{type(self).__name__} expects input of shape (batch, {self.n_channels} channels, "
                f"{self.n_times} times), got {tuple(x.shape)}; build the encoder for this data's "
                "channel count and epoch length, or cut/resample the data to match."
            )
        return x

    def embed(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))

    # -- persistence ---------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """JSON-safe constructor arguments plus the registered class name."""
        return {
            "encoder": self.encoder_name,
            "format_version": FORMAT_VERSION,
            "n_channels": self.n_channels,
            "n_times": self.n_times,
            "sfreq": self.sfreq,
            "n_outputs": self.n_outputs,
            "hparams": _json_safe(self.hparams),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BrainEncoder:
        """Build an (untrained) encoder from :meth:`get_config` output."""
        return cls(config["n_channels"], config["n_times"], config["sfreq"], config["n_outputs"], **config["hparams"])

    def save(self, folder: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` and ``weights.pt`` into ``folder`` (created; files replaced atomically)."""
        from .._files import write_atomic
        from ..train.trainer import save_torch_atomic

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        cfg = self.get_config()
        if extra:
            cfg["extra"] = _json_safe(extra)
        save_torch_atomic({k: v.detach().cpu() for k, v in self.state_dict().items()}, folder / "weights.pt")
        write_atomic(folder / "config.json", json.dumps(cfg, indent=2))
        return folder


def load_encoder(folder: str | os.PathLike, map_location: str = "cpu") -> BrainEncoder:
    """Rebuild an encoder saved with :meth:`BrainEncoder.save` (config + weights, no pickle)."""
    folder = Path(folder)
    cfg_path, w_path = folder / "config.json", folder / "weights.pt"
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise BadInputError(f"{p} is missing; a saved encoder folder holds config.json and weights.pt.")
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{cfg_path} is not valid JSON ({exc}); the save was interrupted or the file edited.") from exc
    if cfg.get("format_version", 0) > FORMAT_VERSION:
        raise BadInputError(f"{folder} was saved by a newer neurodecode (format {cfg['format_version']}); upgrade.")
    model = encoder_class(cfg["encoder"]).from_config(cfg)
    try:
        state = torch.load(w_path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated / corrupt file
        raise BadInputError(f"could not read {w_path} ({exc}); the file is truncated or corrupt.") from exc
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BadInputError(
            f"{w_path} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}."
        )
    return model


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    raise BadInputError(f"encoder hyper-parameter {obj!r} ({type(obj).__name__}) is not JSON-serialisable.")
