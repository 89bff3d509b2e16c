"""Drive Stable unCLIP (diffusers) with image embeddings predicted from the brain.

:func:`load_unclip` loads real weights from a local folder only (never downloads);
:func:`tiny_unclip` builds a tiny randomly initialised pipeline of the same structure for tests and
dry runs; :func:`generate` turns ``image_embeds`` (e.g. predicted by a
:class:`~neurodecode.generative.heads.RidgeHead`) into images::

    pipe = load_unclip("models/stable-diffusion-2-1-unclip-small", device="cuda")   # float16 on CUDA
    images = generate(pipe, head.predict(brain_test), seeds=0, num_inference_steps=20)
    # (n, 768, 768, 3) float32 in [0, 1]

The sampling loop is ours (:func:`neurodecode.generative.guidance.sample_loop`), run with the
pipeline's own components and in the pipeline's own order, so that with ``init_images=None`` and
no brain guidance :func:`generate` gives the very images that
``StableUnCLIPImg2ImgPipeline.__call__(image_embeds=..., prompt="", generator=[...])`` gives for
the same generators; on top of that it adds per-image seeds independent of the batch size, a
low-level initial image (img2img ``strength``), batching, a progress bar and optional brain
guidance (``score``).

Text-free path: the prompt is empty (``""``) by default, so the images are driven by the image
embeddings only (the text branch of classifier-free guidance then carries no information; the
guidance is between the image embedding and a zero embedding, as in the pipeline).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError, DatasetError

__all__ = ["load_unclip", "tiny_unclip", "generate", "unclip_embed_dim", "UNCLIP_COMPONENTS", "DEFAULT_UNCLIP_FOLDER"]

#: Sub-folders of a saved ``StableUnCLIPImg2ImgPipeline`` (``pipe.save_pretrained(folder)``).
UNCLIP_COMPONENTS = (
    "feature_extractor",
    "image_encoder",
    "image_normalizer",
    "image_noising_scheduler",
    "scheduler",
    "text_encoder",
    "tokenizer",
    "unet",
    "vae",
)
#: Folder looked up by ``load_unclip(None)`` under ``<data home>/models/`` (or ``$NEURODECODE_UNCLIP``).
DEFAULT_UNCLIP_FOLDER = "stable-diffusion-2-1-unclip-small"

_LAYOUT = """\
  <folder>/
    model_index.json            (_class_name: StableUnCLIPImg2ImgPipeline)
    feature_extractor/preprocessor_config.json
    image_encoder/config.json + model.safetensors
    image_normalizer/config.json + diffusion_pytorch_model.safetensors
    image_noising_scheduler/scheduler_config.json
    scheduler/scheduler_config.json
    text_encoder/config.json + model.safetensors
    tokenizer/ (tokenizer files)
    unet/config.json + diffusion_pytorch_model.safetensors
    vae/config.json + diffusion_pytorch_model.safetensors
Make it on a machine with internet access with
  StableUnCLIPImg2ImgPipeline.from_pretrained("stabilityai/stable-diffusion-2-1-unclip-small").save_pretrained(<folder>)
and copy the folder over (see docs/generative.md)."""


def _default_folder() -> Path:
    env = os.environ.get("NEURODECODE_UNCLIP")
    if env:
        return Path(env)
    from ..datasets.registry import data_home

    return data_home() / "models" / DEFAULT_UNCLIP_FOLDER


def _resolve_device(device: Any):
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BadInputError(f"device {device!r} requested but CUDA is not available; use 'cpu' or 'auto'.")
    return dev


def load_unclip(path: str | os.PathLike | None = None, device: Any = "auto", dtype: Any = None):
    """Load a Stable unCLIP img2img pipeline from a local folder (never downloads).

    Parameters
    ----------
    path : str or path, optional
        A folder written by ``StableUnCLIPImg2ImgPipeline.save_pretrained``. Default:
        ``$NEURODECODE_UNCLIP``, else ``<data home>/models/stable-diffusion-2-1-unclip-small``.
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
    dtype : torch.dtype, optional
        Default ``torch.float16`` on CUDA and ``torch.float32`` on CPU.

    Returns
    -------
    diffusers.StableUnCLIPImg2ImgPipeline
        On ``device``, its progress bar off (:func:`generate` shows its own).

    Raises
    ------
    DatasetError
        The folder is missing or incomplete; the message shows the expected layout.
    """
    import torch

    folder = Path(path) if path is not None else _default_folder()
    index = folder / "model_index.json"
    if not index.is_file():
        raise DatasetError(
            f"no Stable unCLIP pipeline at {folder} (model_index.json is missing). Expected layout:\n{_LAYOUT}"
        )
    info = json.loads(index.read_text(encoding="utf-8"))
    cls_name = info.get("_class_name")
    if cls_name != "StableUnCLIPImg2ImgPipeline":
        raise DatasetError(
            f"{folder} holds a {cls_name!r} pipeline; load_unclip needs a StableUnCLIPImg2ImgPipeline "
            f"(e.g. stabilityai/stable-diffusion-2-1-unclip-small). Expected layout:\n{_LAYOUT}"
        )
    missing = [c for c in UNCLIP_COMPONENTS if not (folder / c).is_dir()]
    if missing:
        raise DatasetError(f"{folder} lacks the sub-folders {missing}. Expected layout:\n{_LAYOUT}")
    from diffusers import StableUnCLIPImg2ImgPipeline

    dev = _resolve_device(device)
    if dtype is None:
        dtype = torch.float16 if dev.type == "cuda" else torch.float32
    pipe = StableUnCLIPImg2ImgPipeline.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
    pipe = pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _tiny_tokenizer(max_length: int):
    """A CLIP BPE tokenizer over lower-case letters, built in code (no vocabulary files needed)."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def tiny_unclip(seed: int = 0, embed_dim: int = 16, image_size: int = 32, device: Any = "auto"):
    """A tiny, randomly initialised ``StableUnCLIPImg2ImgPipeline`` (fast on CPU; for tests and dry runs).

    Same structure and schedulers as Stable unCLIP 2.1 (v-prediction DDIM for the image latents,
    a squared-cosine DDPM schedule for noising the image embeddings), with a 2-level UNet
    (~0.8 M parameters), a 2-level VAE (latents 4 x ``image_size/2`` squared), one-layer CLIP
    text and vision encoders and a letters-only tokenizer. Its images are noise-like: it checks
    plumbing, not quality.

    Parameters
    ----------
    seed : int
        Seed of the weights (the global torch RNG is left untouched).
    embed_dim : int
        Size of ``image_embeds`` (CLIP projection dim).
    image_size : int
        Output side in pixels (a multiple of 8).
    device : str or torch.device
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableUnCLIPImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    if image_size % 8:
        raise BadInputError(f"image_size must be a multiple of 8, got {image_size}.")
    max_len = 8
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        tokenizer = _tiny_tokenizer(max_len)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, max_position_embeddings=max_len, projection_dim=embed_dim,
                           bos_token_id=0, eos_token_id=1, pad_token_id=1)
        )
        image_encoder = CLIPVisionModelWithProjection(
            CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                             image_size=32, patch_size=8, projection_dim=embed_dim)
        )
        unet = UNet2DConditionModel(
            sample_size=image_size // 2,
            in_channels=4,
            out_channels=4,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            block_out_channels=(32, 64),
            layers_per_block=1,
            cross_attention_dim=32,
            attention_head_dim=(2, 4),
            class_embed_type="projection",
            projection_class_embeddings_input_dim=2 * embed_dim,
            norm_num_groups=8,
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(16, 32),
            latent_channels=4,
            layers_per_block=1,
            norm_num_groups=8,
        )
    try:  # the PIL image processor (transformers 5 without torchvision); same preprocessing, no warning
        from transformers import CLIPImageProcessorPil as _Processor
    except ImportError:  # pragma: no cover - older transformers
        from transformers import CLIPImageProcessor as _Processor
    pipe = StableUnCLIPImg2ImgPipeline(
        feature_extractor=_Processor(crop_size=32, size=32),
        image_encoder=image_encoder.eval(),
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=embed_dim),
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
        tokenizer=tokenizer,
        text_encoder=text_encoder.eval(),
        unet=unet.eval(),
        scheduler=DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                prediction_type="v_prediction", clip_sample=False, set_alpha_to_one=False,
                                steps_offset=1),
        vae=vae.eval(),
    )
    pipe = pipe.to(_resolve_device(device))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def unclip_embed_dim(pipe) -> int:
    """Size of the ``image_embeds`` a Stable unCLIP pipeline is conditioned on."""
    cfg = pipe.unet.config
    if cfg.class_embed_type != "projection" or not cfg.projection_class_embeddings_input_dim:
        raise BadInputError("this pipeline's UNet takes no image embedding (class_embed_type is not 'projection').")
    return int(cfg.projection_class_embeddings_input_dim) // 2


def _check_embeds(image_embeds: Any, dim: int) -> np.ndarray:
    if hasattr(image_embeds, "detach"):
        image_embeds = image_embeds.detach().float().cpu().numpy()
    emb = np.asarray(image_embeds, dtype=np.float32)
    if emb.ndim == 1:
        emb = emb[None]
    if emb.ndim != 2:
        raise BadInputError(f"image_embeds must be (n, {dim}), got shape {emb.shape}.")
    if emb.shape[1] != dim:
        raise BadInputError(
            f"image_embeds has dim {emb.shape[1]} but this unCLIP pipeline is conditioned on {dim}-dim CLIP image "
            "embeddings (768 for stable-diffusion-2-1-unclip-small / ViT-L/14, 1024 for -2-1-unclip / ViT-H/14); "
            "fit the head on embeddings of the pipeline's own image encoder."
        )
    if emb.shape[0] == 0:
        raise BadInputError("image_embeds is empty (0 images).")
    if not np.isfinite(emb).all():
        raise BadInputError("image_embeds holds NaN/inf values.")
    return emb


def _init_tensor(init_images: Any, n: int, height: int, width: int):
    """(n, H, W, 3) uint8 / [0, 1] images -> (n, 3, height, width) in [-1, 1], resized when needed."""
    import torch.nn.functional as F

    from .guidance import _images_nchw

    x = _images_nchw(init_images)
    if x.shape[0] != n:
        raise BadInputError(f"{x.shape[0]} init_images for {n} image_embeds; pass one initial image per embedding.")
    if tuple(x.shape[-2:]) != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return x * 2 - 1


def generate(
    pipe,
    image_embeds: Any,
    init_images: Any | None = None,
    strength: float = 0.8,
    seeds: int | Sequence[int] | None = None,
    num_inference_steps: int = 20,
    batch_size: int = 4,
    guidance_scale: float = 10.0,
    noise_level: int = 0,
    prompt: str = "",
    height: int | None = None,
    width: int | None = None,
    score: Any | None = None,
    score_scale: float = 0.0,
    progress: bool = True,
) -> np.ndarray:
    """Generate one image per image embedding with a Stable unCLIP pipeline.

    Parameters
    ----------
    pipe : diffusers.StableUnCLIPImg2ImgPipeline
        From :func:`load_unclip` or :func:`tiny_unclip`.
    image_embeds : array (n, dim)
        CLIP image embeddings (e.g. predicted from brain data), ``dim`` = :func:`unclip_embed_dim`.
    init_images : array (n, H, W, 3), optional
        Low-level initial images (uint8 or float in [0, 1], e.g. a blurry reconstruction from a
        low-level decoder): encoded by the VAE (mode of the posterior), noised to step
        ``strength`` and denoised from there (img2img). ``None``: start from pure noise.
    strength : float
        In (0, 1]: how much of the schedule to run from the initial image (1 = ignore most of
        it, small = stay close to it). Only used with ``init_images``.
    seeds : int or sequence of int, optional
        One seed per image (default 0..n-1; an int ``s`` gives ``s..s+n-1``). Each image draws its
        noise from its own CPU generator, so an image depends on its seed only, not on the batch
        it falls in nor on the device.
    num_inference_steps : int
        Steps of the full schedule (img2img runs ``int(steps * strength)`` of them).
    batch_size : int
        Images per UNet batch (x2 with classifier-free guidance).
    guidance_scale : float
        Classifier-free guidance between the image embedding and a zero embedding (> 1 enables it;
        the pipeline's default is 10).
    noise_level : int
        Noise added to the image embeddings (0..999), as in the pipeline; higher gives more variation.
    prompt : str
        Text prompt; ``""`` (default) is the text-free path.
    height, width : int, optional
        Output size (multiples of 8); default ``unet.config.sample_size * vae_scale_factor``.
    score : callable, optional
        Differentiable ``images (n, 3, H, W) in [0, 1] -> (n,)`` to raise while sampling (brain
        guidance, see :mod:`neurodecode.generative.guidance`), e.g. a ``RegionScore``.
    score_scale : float
        Strength of the brain guidance (0 = none).
    progress : bool
        Progress bar over the images.

    Returns
    -------
    numpy.ndarray
        ``(n, height, width, 3)`` float32 in [0, 1].

    Raises
    ------
    BadInputError
        Wrong embedding size or shape, NaN/inf, bad seeds, strength, noise level or image sizes.
    """
    import torch
    from diffusers.utils.torch_utils import randn_tensor
    from tqdm.auto import tqdm

    from .guidance import _seeds, make_generators, sample_loop

    emb = _check_embeds(image_embeds, unclip_embed_dim(pipe))
    n = emb.shape[0]
    seeds_ = _seeds(seeds, n)
    if init_images is not None and not 0.0 < float(strength) <= 1.0:
        raise BadInputError(f"strength must be in (0, 1], got {strength}.")
    n_noise = pipe.image_noising_scheduler.config.num_train_timesteps
    if not 0 <= int(noise_level) < n_noise:
        raise BadInputError(f"noise_level must be in [0, {n_noise - 1}], got {noise_level}.")
    if int(num_inference_steps) < 1 or int(batch_size) < 1:
        raise BadInputError("num_inference_steps and batch_size must be >= 1.")
    height = int(height or pipe.unet.config.sample_size * pipe.vae_scale_factor)
    width = int(width or pipe.unet.config.sample_size * pipe.vae_scale_factor)
    if height % 8 or width % 8:
        raise BadInputError(f"height and width must be multiples of 8, got {height}x{width}.")
    device = pipe._execution_device
    dtype = pipe.unet.dtype
    do_cfg = guidance_scale > 1.0
    init = _init_tensor(init_images, n, height, width) if init_images is not None else None
    vae = pipe.vae
    sf = vae.config.scaling_factor

    def decode(latents):
        return vae.decode(latents / sf, return_dict=False)[0] / 2 + 0.5

    out = np.empty((n, height, width, 3), dtype=np.float32)
    bar = tqdm(total=n, desc="unclip", unit="image", disable=not progress)
    for start in range(0, n, int(batch_size)):
        stop = min(n, start + int(batch_size))
        b = stop - start
        gens = make_generators(seeds_[start:stop])
        with torch.no_grad():
            text, neg_text = pipe.encode_prompt(prompt=[prompt] * b, device=device, num_images_per_prompt=1,
                                                do_classifier_free_guidance=do_cfg)
            cond_emb = pipe.noise_image_embeddings(
                image_embeds=torch.from_numpy(emb[start:stop]).to(device=device, dtype=dtype),
                noise_level=int(noise_level), generator=gens,
            )
            pipe.scheduler.set_timesteps(int(num_inference_steps), device=device)
            timesteps = pipe.scheduler.timesteps
            shape = (b, pipe.unet.config.in_channels, height // pipe.vae_scale_factor, width // pipe.vae_scale_factor)
            if init is None:
                latents = randn_tensor(shape, generator=gens, device=device, dtype=text.dtype)
                latents = latents * pipe.scheduler.init_noise_sigma
            else:
                n_run = min(int(num_inference_steps * float(strength)), int(num_inference_steps))
                if n_run < 1:
                    raise BadInputError(
                        f"strength {strength} x {num_inference_steps} steps leaves no denoising step; raise either."
                    )
                order = getattr(pipe.scheduler, "order", 1)
                timesteps = timesteps[(int(num_inference_steps) - n_run) * order :]
                x = init[start:stop].to(device=device, dtype=vae.dtype)
                init_latents = vae.encode(x).latent_dist.mode() * sf
                noise = randn_tensor(shape, generator=gens, device=device, dtype=text.dtype)
                latents = pipe.scheduler.add_noise(init_latents.to(text.dtype), noise, timesteps[:1].repeat(b))
        cond = {"encoder_hidden_states": text, "class_labels": cond_emb}
        uncond = {"encoder_hidden_states": neg_text, "class_labels": torch.zeros_like(cond_emb)} if do_cfg else None
        latents = sample_loop(pipe.unet, pipe.scheduler, latents, timesteps=timesteps, cond=cond, uncond=uncond,
                              cfg_scale=guidance_scale, score=score, score_scale=score_scale, decode=decode,
                              generators=gens)
        with torch.no_grad():
            img = decode(latents).clamp(0, 1)
        out[start:stop] = img.permute(0, 2, 3, 1).float().cpu().numpy()
        bar.update(b)
    bar.close()
    return out
