"""A small conditional diffusion model: images from embeddings, trainable on CPU in minutes.

:class:`CondDiffusion` wraps a few-million-parameter :class:`diffusers.UNet2DConditionModel`
working in pixel space at 32-64 px. An embedding (e.g. EfficientNet-Lite0 features of an image,
or a brain embedding) is z-scored, projected by a linear layer to a short sequence of tokens and
read by the UNet through cross-attention. Training is DDPM noise prediction (MSE between the true
and the predicted noise at a uniformly drawn timestep, :class:`diffusers.DDPMScheduler`) through
:class:`neurodecode.train.trainer.Trainer`; the condition is replaced by a learned "null" token
sequence with probability ``p_uncond`` (0.1), which is what classifier-free guidance needs at
sampling time. Sampling runs DDIM with classifier-free guidance
``eps = eps_null + guidance_scale * (eps_cond - eps_null)`` and, optionally, brain guidance
(:mod:`neurodecode.generative.guidance`)::

    model = CondDiffusion(image_size=32, embed_dim=feats.shape[1])
    model.fit(images, feats, max_epochs=300)            # images (n, H, W, 3) uint8, feats (n, d)
    out = model.sample(feats[:8], seeds=0, steps=50, guidance_scale=3.0)   # (8, 32, 32, 3) in [0, 1]
    model.save("out/cond_diffusion"); model = CondDiffusion.load("out/cond_diffusion")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._deprecate import renamed_params
from ..errors import BadInputError
from ._store import load_folder, save_folder

__all__ = ["CondDiffusion"]


def _net_class():
    import torch
    from diffusers import UNet2DConditionModel

    class _CondNet(torch.nn.Module):
        """Embedding -> tokens (linear + LayerNorm), a learned null sequence, and the UNet."""

        def __init__(self, embed_dim: int, n_tokens: int, token_dim: int, unet_config: dict[str, Any]):
            super().__init__()
            self.n_tokens, self.token_dim = n_tokens, token_dim
            self.proj = torch.nn.Linear(embed_dim, n_tokens * token_dim)
            self.norm = torch.nn.LayerNorm(token_dim)
            self.null = torch.nn.Parameter(torch.randn(n_tokens, token_dim) * 0.02)
            self.register_buffer("embed_mean", torch.zeros(embed_dim))
            self.register_buffer("embed_scale", torch.ones(embed_dim))
            self.unet = UNet2DConditionModel(**unet_config)

        def tokens(self, embeds):
            z = (embeds - self.embed_mean) / self.embed_scale
            return self.norm(self.proj(z).view(-1, self.n_tokens, self.token_dim))

        def null_tokens(self, n: int):
            return self.null.unsqueeze(0).expand(n, -1, -1)

        def unet_inputs(self, tokens) -> dict[str, Any]:
            """UNet keyword arguments for a token sequence (plus its mean as a global condition)."""
            kw = {"encoder_hidden_states": tokens}
            if self.unet.config.class_embed_type == "projection":
                kw["class_labels"] = tokens.mean(dim=1)
            return kw

        def forward(self, x, t, tokens):
            return self.unet(x, t, **self.unet_inputs(tokens), return_dict=False)[0]

    return _CondNet


def _images_to_model(images: Any, size: int):
    """(n, H, W, 3) uint8 / [0, 1] -> (n, 3, size, size) float32 in [-1, 1] (antialiased resize)."""
    import torch.nn.functional as F

    from .guidance import _images_nchw

    x = _images_nchw(images)
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0, 1) * 2 - 1


def _check_embeds(embeds: Any, dim: int | None, name: str = "embeds") -> np.ndarray:
    if hasattr(embeds, "detach"):
        embeds = embeds.detach().float().cpu().numpy()
    e = np.asarray(embeds, dtype=np.float32)
    if e.ndim != 2:
        raise BadInputError(f"{name} must be 2-D (n, embed_dim), got shape {e.shape}.")
    if e.shape[0] == 0:
        raise BadInputError(f"{name} is empty (0 rows).")
    if dim is not None and e.shape[1] != dim:
        raise BadInputError(f"{name} has {e.shape[1]} dims but the model was built for embed_dim={dim}.")
    if not np.isfinite(e).all():
        raise BadInputError(f"{name} holds NaN/inf values.")
    return e


class CondDiffusion:
    """Small pixel-space conditional diffusion model (UNet2DConditionModel + embedding tokens).

    Parameters
    ----------
    image_size : int
        Side of the square images (divisible by ``2 ** (len(block_out_channels) - 1)``).
    embed_dim : int
        Size of the conditioning embeddings.
    n_tokens, token_dim : int
        The embedding becomes ``n_tokens`` tokens of ``token_dim`` (the cross-attention dim).
    block_out_channels : sequence of int
        UNet widths per level; the first level is convolutional, the others add cross-attention.
        The default (32, 64, 128) with ``layers_per_block=1`` has about 5 M parameters.
    layers_per_block : int
    attention_head_dim : int
    global_cond : bool
        Also add the mean token to the UNet's timestep embedding (``class_embed_type="projection"``),
        so that every residual block sees the condition, not only the cross-attention layers; the
        model then learns the conditioning in fewer steps.
    p_uncond : float
        Probability of training with the null condition (for classifier-free guidance).
    num_train_timesteps : int
    beta_schedule : str
        DDPM noise schedule (``"squaredcos_cap_v2"``: the cosine schedule, good at small sizes).
    seed : int
        Seeds the weights and the training (noise, timesteps, batch order, condition drop).
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.

    Attributes
    ----------
    net : torch.nn.Module
        Token projection, null tokens and ``net.unet`` (the diffusers UNet).
    history_ : list of dict
        Per-epoch training loss rows of all :meth:`fit` calls so far.
    """

    kind = "cond_diffusion"

    def __init__(
        self,
        image_size: int = 32,
        embed_dim: int = 1280,
        n_tokens: int = 4,
        token_dim: int = 128,
        block_out_channels: Sequence[int] = (32, 64, 128),
        layers_per_block: int = 1,
        attention_head_dim: int = 8,
        global_cond: bool = True,
        p_uncond: float = 0.1,
        num_train_timesteps: int = 1000,
        beta_schedule: str = "squaredcos_cap_v2",
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        import torch

        levels = len(block_out_channels)
        if levels < 2:
            raise BadInputError("block_out_channels needs at least 2 levels, e.g. (64, 128).")
        if int(image_size) < 8 or int(image_size) % 2 ** (levels - 1):
            raise BadInputError(f"image_size {image_size} must be >= 8 and divisible by 2**{levels - 1}.")
        if not 0.0 <= float(p_uncond) < 1.0:
            raise BadInputError(f"p_uncond must be in [0, 1), got {p_uncond}.")
        if int(embed_dim) < 1 or int(n_tokens) < 1 or int(token_dim) < 1:
            raise BadInputError("embed_dim, n_tokens and token_dim must be positive.")
        groups = min(32, *block_out_channels)
        if any(c % groups for c in block_out_channels) or int(token_dim) % int(attention_head_dim):
            raise BadInputError(
                f"block_out_channels {tuple(block_out_channels)} must be multiples of {groups} (group norm) and "
                f"token_dim {token_dim} a multiple of attention_head_dim {attention_head_dim}."
            )
        self.config = {
            "image_size": int(image_size),
            "embed_dim": int(embed_dim),
            "n_tokens": int(n_tokens),
            "token_dim": int(token_dim),
            "block_out_channels": [int(c) for c in block_out_channels],
            "layers_per_block": int(layers_per_block),
            "attention_head_dim": int(attention_head_dim),
            "global_cond": bool(global_cond),
            "p_uncond": float(p_uncond),
            "num_train_timesteps": int(num_train_timesteps),
            "beta_schedule": str(beta_schedule),
            "seed": int(seed),
            "device": str(device),
        }
        from ..train.trainer import resolve_device

        self.device = resolve_device(device)
        unet_config = {
            "sample_size": int(image_size),
            "in_channels": 3,
            "out_channels": 3,
            "block_out_channels": tuple(int(c) for c in block_out_channels),
            "down_block_types": ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (levels - 1),
            "up_block_types": ("CrossAttnUpBlock2D",) * (levels - 1) + ("UpBlock2D",),
            "layers_per_block": int(layers_per_block),
            "cross_attention_dim": int(token_dim),
            "attention_head_dim": int(attention_head_dim),
            "norm_num_groups": groups,
        }
        if global_cond:
            unet_config.update(class_embed_type="projection", projection_class_embeddings_input_dim=int(token_dim))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.net = _net_class()(int(embed_dim), int(n_tokens), int(token_dim), unet_config).to(self.device)
        self.history_: list[dict[str, float]] = []
        self._embeds_set = False

    @property
    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.net.parameters())

    def _train_scheduler(self):
        from diffusers import DDPMScheduler

        return DDPMScheduler(num_train_timesteps=self.config["num_train_timesteps"],
                             beta_schedule=self.config["beta_schedule"])

    @renamed_params(epochs="max_epochs", num_threads="threads")
    def fit(
        self,
        images: Any,
        embeds: Any,
        max_epochs: int = 100,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_epochs: float = 0.0,
        progress: bool = False,
        threads: int | None = None,
    ) -> CondDiffusion:
        """Train by DDPM noise prediction (continues from the current weights on a second call).

        Parameters
        ----------
        images : array (n, H, W, 3)
            uint8, or float in [0, 1]; resized (antialiased, bilinear) to ``image_size``.
        embeds : array (n, embed_dim)
            One conditioning embedding per image. Their mean and std (per dim) are stored at the
            first call and used to z-score every embedding given to the model.
        max_epochs, batch_size, lr, weight_decay, warmup_epochs :
            Passed to :class:`neurodecode.train.trainer.TrainConfig` (AdamW, cosine decay, no
            early stopping: the loss of a diffusion model on its training set is noisy).
        progress : bool
            Show the trainer's progress bar.
        threads : int, optional
            torch threads while training (restored after); 1 is often fastest on a busy CPU
            (see docs/generative.md). ``None`` leaves torch's setting. (``epochs`` and ``num_threads``,
            the old names of ``max_epochs`` and ``threads``, still work for one release, with a warning.)

        Returns
        -------
        CondDiffusion
            ``self``.
        """
        import torch
        import torch.nn.functional as F

        from ..train.trainer import TrainConfig, Trainer

        e = _check_embeds(embeds, self.config["embed_dim"])
        x = _images_to_model(images, self.config["image_size"])
        if x.shape[0] != e.shape[0]:
            raise BadInputError(f"{x.shape[0]} images but {e.shape[0]} embeddings; pass one embedding per image.")
        if not self._embeds_set:
            mean, std = e.mean(axis=0), e.std(axis=0)
            std[std < 1e-8] = 1.0
            self.net.embed_mean.copy_(torch.from_numpy(mean))
            self.net.embed_scale.copy_(torch.from_numpy(std))
            self._embeds_set = True
        sched = self._train_scheduler()
        T, p_uncond = self.config["num_train_timesteps"], self.config["p_uncond"]

        def step(model, batch):
            x0, emb = batch
            n = x0.shape[0]
            noise = torch.randn_like(x0)
            t = torch.randint(0, T, (n,), device=x0.device)
            xt = sched.add_noise(x0, noise, t)
            tokens = model.tokens(emb)
            if p_uncond > 0:
                drop = torch.rand(n, device=x0.device) < p_uncond
                tokens = torch.where(drop[:, None, None], model.null_tokens(n).to(tokens.dtype), tokens)
            return F.mse_loss(model(xt, t, tokens).float(), noise.float())

        cfg = TrainConfig(max_epochs=int(max_epochs), batch_size=int(batch_size), lr=float(lr),
                          weight_decay=float(weight_decay), warmup_epochs=float(warmup_epochs), patience=None,
                          seed=self.config["seed"] + len(self.history_), device=str(self.device),
                          progress=progress, threads=threads)
        result = Trainer(cfg).fit(self.net, train=(x, torch.from_numpy(e)), step_fn=step)
        offset = len(self.history_)
        self.history_ += [{**row, "epoch": offset + int(row["epoch"])} for row in result.history]
        self.net.eval()
        return self

    def sample(
        self,
        embeds: Any,
        seeds: int | Sequence[int] | None = None,
        steps: int = 50,
        guidance_scale: float = 3.0,
        eta: float = 1.0,
        score: Any | None = None,
        score_scale: float = 0.0,
        batch_size: int = 64,
        progress: bool = False,
    ) -> np.ndarray:
        """Generate one image per embedding with DDIM and classifier-free guidance.

        Parameters
        ----------
        embeds : array (n, embed_dim)
        seeds : int or sequence of int, optional
            One seed per image (default 0..n-1; an int ``s`` gives ``s..s+n-1``).
        steps : int
            DDIM steps.
        guidance_scale : float
            ``eps = eps_null + guidance_scale * (eps_cond - eps_null)``; 1 = conditional only,
            0 = unconditional.
        eta : float
            DDIM eta: 1 (default) re-injects noise at every step as DDPM does, 0 is the deterministic
            DDIM path. A briefly trained small model leaves visible residual noise at ``eta=0``;
            with ``eta=1`` its samples are clean (both are reproducible: the step noise comes from
            the per-image generators).
        score, score_scale :
            Optional brain guidance, see :func:`neurodecode.generative.guidance.sample_loop`.
        batch_size : int
        progress : bool
            Progress bar over batches.

        Returns
        -------
        numpy.ndarray
            ``(n, image_size, image_size, 3)`` float32 in [0, 1].
        """
        import torch
        from diffusers import DDIMScheduler
        from diffusers.utils.torch_utils import randn_tensor
        from tqdm.auto import tqdm

        from .guidance import _seeds, make_generators, sample_loop

        if not self._embeds_set:
            raise BadInputError("this CondDiffusion is not trained yet; call fit(images, embeds) or load(path).")
        e = _check_embeds(embeds, self.config["embed_dim"])
        n, size = e.shape[0], self.config["image_size"]
        seeds_ = _seeds(seeds, n)
        sched = DDIMScheduler.from_config(self._train_scheduler().config)
        self.net.eval()
        out = np.empty((n, size, size, 3), dtype=np.float32)
        for start in tqdm(range(0, n, int(batch_size)), desc="sample", disable=not progress):
            stop = min(n, start + int(batch_size))
            b = stop - start
            gens = make_generators(seeds_[start:stop])
            with torch.no_grad():
                tokens = self.net.tokens(torch.from_numpy(e[start:stop]).to(self.device))
                null = self.net.null_tokens(b)
            latents = randn_tensor((b, 3, size, size), generator=gens, device=self.device, dtype=tokens.dtype)
            sched.set_timesteps(int(steps), device=self.device)
            x = sample_loop(self.net.unet, sched, latents * sched.init_noise_sigma,
                            cond=self.net.unet_inputs(tokens), uncond=self.net.unet_inputs(null),
                            cfg_scale=float(guidance_scale), score=score, score_scale=score_scale,
                            generators=gens, eta=eta)
            out[start:stop] = (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``config.json`` (settings, training history) and ``weights.safetensors`` into ``path``."""
        if not self._embeds_set:
            raise BadInputError("nothing to save: this CondDiffusion is not trained yet.")
        arrays = {k: v.detach().float().cpu().numpy() for k, v in self.net.state_dict().items()}
        history = [{k: (v if np.isfinite(v) else None) for k, v in row.items()} for row in self.history_]
        return save_folder(path, {"kind": self.kind, **self.config, "history": history}, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> CondDiffusion:
        """Read a model written by :meth:`save` (on ``device``, default the saved one resolved here)."""
        import torch

        config, arrays = load_folder(path, cls.kind)
        history = config.pop("history", [])
        config.pop("kind")
        if device is not None:
            config["device"] = device
        model = cls(**config)
        model.net.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
        model.net.eval()
        model.history_ = [{k: (float("nan") if v is None else v) for k, v in row.items()} for row in history]
        model._embeds_set = True
        return model
