"""Brain-guided sampling (BrainDiVE-style): steer a diffusion model towards images that drive a region.

At every denoising step the sampler

1. predicts the noise (or ``v``, or the clean sample) with the UNet, with classifier-free
   guidance when an unconditional input is given;
2. turns it into an estimate of the clean sample with the DDIM formula
   ``x0 = (x_t - sqrt(1 - abar_t) * eps) / sqrt(abar_t)``;
3. decodes it to an image (through the VAE for latent models) and scores it with a
   differentiable encoding model of a brain region (``score(images) -> (n,)`` responses);
4. shifts the noise prediction against the gradient of the score with respect to ``x_t``::

       eps' = eps - scale * sqrt(1 - abar_t) * d score / d x_t

   (the classifier-guidance update; for ``v`` and sample predictions the same shift is applied
   in their parametrisation), and lets the scheduler take its step with the shifted prediction.

:func:`sample_loop` is that loop over any diffusers UNet and a scheduler with ``alphas_cumprod``
(DDIM, DDPM, PNDM, DPM-Solver); :func:`neurodecode.generative.diffusion.generate` (unCLIP) and
:meth:`neurodecode.generative.cond_unet.CondDiffusion.sample` run through it, and
:func:`guided_sample` is the plain entry point. :class:`RegionScore` is a ready encoding model:
features of a network layer (e.g. EfficientNet-Lite0 from :mod:`neurodecode.models`) and a linear
readout.

Reference: Luo et al. 2023, "Brain Diffusion for Visual Exploration" (BrainDiVE), NeurIPS.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import BadInputError

__all__ = ["predict_x0", "guidance_shift", "sample_loop", "guided_sample", "make_generators", "RegionScore"]

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def make_generators(seeds: Sequence[int]) -> list:
    """One CPU :class:`torch.Generator` per image (CPU draws give the same noise on CPU and CUDA)."""
    import torch

    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


def _seeds(seeds: Any, n: int) -> list[int]:
    """``None`` -> 0..n-1, an int -> seed..seed+n-1, a sequence -> itself (length n)."""
    if seeds is None:
        return list(range(n))
    if isinstance(seeds, (int, np.integer)):
        return [int(seeds) + i for i in range(n)]
    out = [int(s) for s in seeds]
    if len(out) != n:
        raise BadInputError(f"got {len(out)} seeds for {n} images; pass one seed per image (or one int).")
    return out


def _alpha_bar(scheduler, t) -> torch.Tensor:
    import torch

    ac = getattr(scheduler, "alphas_cumprod", None)
    if ac is None or float(getattr(scheduler, "init_noise_sigma", 1.0)) != 1.0:
        raise BadInputError(
            f"{type(scheduler).__name__} has no variance-preserving alphas_cumprod schedule; brain guidance "
            "needs a DDIM-type scheduler (DDIMScheduler, DDPMScheduler, PNDMScheduler, DPMSolverMultistepScheduler)."
        )
    return ac.to(torch.float32)[int(t)]


def predict_x0(model_output, x_t, alpha_bar, prediction_type: str = "epsilon"):
    """Estimate of the clean sample from a UNet output (DDIM formula).

    Parameters
    ----------
    model_output, x_t : torch.Tensor
        UNet output and the noisy sample at the same step.
    alpha_bar : float or torch.Tensor
        Cumulative product of the alphas at this timestep.
    prediction_type : {"epsilon", "v_prediction", "sample"}
        What the UNet predicts (``scheduler.config.prediction_type``).
    """
    a = alpha_bar ** 0.5
    b = (1 - alpha_bar) ** 0.5
    if prediction_type == "epsilon":
        return (x_t - b * model_output) / a
    if prediction_type == "v_prediction":
        return a * x_t - b * model_output
    if prediction_type == "sample":
        return model_output
    raise BadInputError(f"unknown prediction_type {prediction_type!r}; use epsilon, v_prediction or sample.")


def guidance_shift(model_output, grad, alpha_bar, scale: float, prediction_type: str = "epsilon"):
    """Shift a UNet output so that ``eps' = eps - scale * sqrt(1 - abar) * grad`` (in its own parametrisation)."""
    b = (1 - alpha_bar) ** 0.5
    if prediction_type == "epsilon":
        return model_output - scale * b * grad
    if prediction_type == "v_prediction":  # v = (eps - b x) / a
        return model_output - scale * b / alpha_bar ** 0.5 * grad
    if prediction_type == "sample":  # x0 = (x - b eps) / a
        return model_output + scale * (1 - alpha_bar) / alpha_bar ** 0.5 * grad
    raise BadInputError(f"unknown prediction_type {prediction_type!r}; use epsilon, v_prediction or sample.")


def _cat_kwargs(uncond: dict[str, Any], cond: dict[str, Any]) -> dict[str, Any]:
    import torch

    if set(uncond) != set(cond):
        raise BadInputError(f"cond has keys {sorted(cond)} but uncond has {sorted(uncond)}; they must match.")
    return {k: torch.cat([uncond[k], cond[k]]) for k in cond}


def sample_loop(
    unet,
    scheduler,
    latents,
    *,
    timesteps=None,
    cond: dict[str, Any] | None = None,
    uncond: dict[str, Any] | None = None,
    cfg_scale: float = 1.0,
    score: ScoreFn | None = None,
    score_scale: float = 0.0,
    decode: Callable | None = None,
    generators: list | None = None,
    eta: float = 0.0,
    backprop_unet: bool = True,
    progress: bool = False,
):
    """Denoise ``latents`` with ``unet`` and ``scheduler``; optional classifier-free and brain guidance.

    Parameters
    ----------
    unet : diffusers.UNet2DConditionModel
    scheduler : diffusers scheduler
        ``set_timesteps`` must have been called; ``timesteps`` defaults to ``scheduler.timesteps``.
    latents : torch.Tensor
        Starting noisy sample (already scaled by ``scheduler.init_noise_sigma``).
    timesteps : sequence, optional
        The steps to run (a tail of ``scheduler.timesteps`` for img2img).
    cond, uncond : dict
        Extra UNet keyword arguments per batch (``encoder_hidden_states``, ``class_labels``), for
        the conditional and the unconditional branch. Classifier-free guidance runs when
        ``uncond`` is given and ``cfg_scale != 1``: ``out = u + cfg_scale * (c - u)``.
    cfg_scale : float
    score : callable, optional
        Differentiable ``images (n, 3, H, W) -> (n,)`` responses to raise; images are
        ``decode(x0)``, nominally in [0, 1].
    score_scale : float
        Guidance strength; 0 (or no ``score``) samples without brain guidance.
    decode : callable, optional
        ``x0 -> image in [0, 1]``, differentiable (a VAE decode for latent models). Default
        ``x0 / 2 + 0.5`` (pixel-space models trained on [-1, 1]).
    generators : list of torch.Generator, optional
        Passed to ``scheduler.step`` (stochastic schedulers, DDIM with ``eta > 0``).
    eta : float
        DDIM eta (ignored by other schedulers).
    backprop_unet : bool
        Take the score gradient through the UNet (the exact gradient). ``False`` treats the
        UNet output as constant, so ``d x0 / d x_t = 1 / sqrt(abar_t)``: cheaper, approximate.
    progress : bool
        Progress bar over the steps.

    Returns
    -------
    torch.Tensor
        The denoised latents (detached).
    """
    import torch
    from tqdm.auto import tqdm

    cond = dict(cond or {})
    do_cfg = uncond is not None and cfg_scale != 1.0
    kw = _cat_kwargs(dict(uncond), cond) if do_cfg else cond
    steps = scheduler.timesteps if timesteps is None else timesteps
    guided = score is not None and score_scale != 0.0
    ptype = scheduler.config.prediction_type
    if decode is None:
        def decode(x):
            return x / 2 + 0.5
    params = set(inspect.signature(scheduler.step).parameters)
    extra: dict[str, Any] = {}
    if "eta" in params:
        extra["eta"] = eta
    if "generator" in params and generators is not None:
        extra["generator"] = generators

    def unet_out(x, t):
        inp = torch.cat([x, x]) if do_cfg else x
        inp = scheduler.scale_model_input(inp, t)
        out = unet(inp, t, **kw, return_dict=False)[0]
        if do_cfg:
            u, c = out.chunk(2)
            out = u + cfg_scale * (c - u)
        return out

    x = latents
    for t in tqdm(steps, desc="denoise", disable=not progress, leave=False):
        if guided:
            ab = _alpha_bar(scheduler, t).to(x.device)
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                if backprop_unet:
                    out = unet_out(xg, t)
                else:
                    with torch.no_grad():
                        out = unet_out(xg, t)
                x0 = predict_x0(out.float(), xg.float(), ab, ptype)
                img = decode(x0.to(x.dtype))
                s = score(img)
                if s.ndim != 1 or s.shape[0] != x.shape[0]:
                    raise BadInputError(
                        f"score must return one value per image, shape ({x.shape[0]},), got {tuple(s.shape)}."
                    )
                grad = torch.autograd.grad(s.float().sum(), xg)[0]
            out = guidance_shift(out.detach().float(), grad.float(), ab, score_scale, ptype).to(x.dtype)
        else:
            with torch.no_grad():
                out = unet_out(x, t)
        with torch.no_grad():
            x = scheduler.step(out, t, x, **extra, return_dict=False)[0]
    return x.detach()


def guided_sample(
    unet,
    scheduler,
    score: ScoreFn | None,
    *,
    cond: dict[str, Any] | None = None,
    uncond: dict[str, Any] | None = None,
    cfg_scale: float = 1.0,
    score_scale: float = 1.0,
    shape: Sequence[int] | None = None,
    seeds: Sequence[int] | int | None = None,
    steps: int = 50,
    decode: Callable | None = None,
    backprop_unet: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Sample images from pure noise with brain guidance; the generic entry point.

    Parameters
    ----------
    unet, scheduler :
        A diffusers UNet (pixel or latent space) and a DDIM-type scheduler (DDIM recommended).
    score : callable or None
        ``images (n, 3, H, W) in [0, 1] -> (n,)``, e.g. a :class:`RegionScore`.
    cond, uncond, cfg_scale :
        UNet keyword arguments and classifier-free guidance, see :func:`sample_loop`. Their
        first dim is the number of images.
    score_scale : float
        Guidance strength (0 = none).
    shape : (C, h, w), optional
        Shape of one latent; default from ``unet.config`` (``in_channels``, ``sample_size``).
    seeds : int or sequence of int, optional
        One seed per image (default 0..n-1); the same seeds give the same starting noise.
    steps : int
        Denoising steps.
    decode : callable, optional
        ``x0 -> image in [0, 1]`` (differentiable), e.g. the VAE decode for latent models;
        default ``x0 / 2 + 0.5``.
    backprop_unet, progress :
        See :func:`sample_loop`.

    Returns
    -------
    numpy.ndarray
        ``(n, H, W, 3)`` float32 images in [0, 1].
    """
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    cond = dict(cond or {})
    if not cond:
        raise BadInputError("guided_sample needs cond (the UNet inputs per image, e.g. encoder_hidden_states).")
    n = next(iter(cond.values())).shape[0]
    seeds_ = _seeds(seeds, n)
    param = next(unet.parameters())
    if shape is None:
        size = unet.config.sample_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        shape = (unet.config.in_channels, *size)
    gens = make_generators(seeds_)
    latents = randn_tensor((n, *shape), generator=gens, device=param.device, dtype=param.dtype)
    scheduler.set_timesteps(int(steps), device=param.device)
    latents = latents * scheduler.init_noise_sigma
    out = sample_loop(unet, scheduler, latents, cond=cond, uncond=uncond, cfg_scale=cfg_scale, score=score,
                      score_scale=score_scale, decode=decode, generators=gens, backprop_unet=backprop_unet,
                      progress=progress)
    with torch.no_grad():
        img = (decode(out) if decode is not None else out / 2 + 0.5).clamp(0, 1)
    return img.permute(0, 2, 3, 1).float().cpu().numpy()


# --------------------------------------------------------------------------- an encoding model


class _Stop(Exception):
    pass


class RegionScore(torch.nn.Module):
    """Differentiable encoding model: image -> predicted response of a brain region.

    ``images (n, 3, H, W)`` in [0, 1] are resized to ``size`` (bilinear), normalised with
    ``mean``/``std``, run through ``backbone`` up to ``layer``, average-pooled over space
    (``pooling="avg"``) or flattened, and read out linearly: ``features @ weights + bias``.

    Parameters
    ----------
    backbone : torch.nn.Module
        E.g. ``neurodecode.models.load_model("efficientnet_lite0")``; its weights are frozen.
    layer : str
        Dotted module name whose output is read (``"head"``, ``"block6d"``...).
    weights : array (n_features,) or (n_features, n_outputs)
        Linear readout on the pooled features. Several outputs (voxels) are averaged into one
        region response unless ``reduce=None``.
    bias : float or array (n_outputs,)
    size : int
        Network input side (224 for EfficientNet-Lite0).
    mean, std : three floats, optional
        Input normalisation on the [0, 1] scale (default: the backbone's ``nd_preprocessing``,
        else EfficientNet-Lite's).
    pooling : {"avg", "flatten"}
    reduce : {"mean", None}
        How several outputs become one score per image (``None`` returns ``(n, n_outputs)``,
        which :func:`sample_loop` does not accept as a score).
    """

    def __init__(self, backbone, layer: str, weights, bias=0.0, size: int = 224, mean=None, std=None,
                 pooling: str = "avg", reduce: str | None = "mean") -> None:
        super().__init__()
        from ..models.zoo import LITE_MEAN, LITE_STD

        modules = dict(backbone.named_modules())
        if layer not in modules:
            names = [n for n in modules if n][:40]
            raise BadInputError(f"layer {layer!r} is not a module of the backbone; some names: {names}.")
        if pooling not in ("avg", "flatten"):
            raise BadInputError(f"pooling must be 'avg' or 'flatten', got {pooling!r}.")
        if reduce not in ("mean", None):
            raise BadInputError(f"reduce must be 'mean' or None, got {reduce!r}.")
        prep = getattr(backbone, "nd_preprocessing", {}) or {}
        mean = prep.get("mean", LITE_MEAN) if mean is None else mean
        std = prep.get("std", LITE_STD) if std is None else std
        self.backbone = backbone.eval().requires_grad_(False)
        self.layer, self.size, self.pooling, self.reduce = layer, int(size), pooling, reduce
        w = torch.as_tensor(np.asarray(weights, dtype=np.float32))
        self.register_buffer("weights", w[:, None] if w.ndim == 1 else w)
        self.register_buffer("bias", torch.as_tensor(np.asarray(bias, dtype=np.float32)).reshape(-1))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled layer features ``(n, n_features)`` of images ``(n, 3, H, W)`` in [0, 1]."""
        import torch.nn.functional as F

        if images.ndim != 4 or images.shape[1] != 3:
            raise BadInputError(f"RegionScore expects images (n, 3, H, W), got {tuple(images.shape)}.")
        x = images.to(self.mean.dtype)
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        x = (x - self.mean) / self.std
        got = []

        def hook(_m, _i, out):
            got.append(out[0] if isinstance(out, (tuple, list)) else out)
            raise _Stop

        handle = dict(self.backbone.named_modules())[self.layer].register_forward_hook(hook)
        try:
            self.backbone(x)
        except _Stop:
            pass
        finally:
            handle.remove()
        if not got:
            raise BadInputError(f"layer {self.layer!r} did not run in the backbone's forward pass.")
        f = got[0]
        if self.pooling == "avg" and f.ndim > 2:
            return f.mean(dim=tuple(range(2, f.ndim)))
        return f.flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.features(images) @ self.weights + self.bias
        return out.mean(dim=1) if self.reduce == "mean" else out

    @classmethod
    def fit(cls, backbone, layer: str, images, responses, *, alphas=None, cv: int = 5, size: int = 224,
            pooling: str = "avg", batch_size: int = 16, **kwargs) -> RegionScore:
        """Fit the linear readout by ridge regression (alpha by CV) on images and measured responses.

        Parameters
        ----------
        backbone, layer, size, pooling :
            As for the constructor.
        images : array (n, H, W, 3)
            uint8, or float in [0, 1].
        responses : array (n,) or (n, n_voxels)
            Measured responses of the region's voxels/units to the images.
        alphas, cv :
            Passed to :class:`neurodecode.generative.heads.RidgeHead` (features z-scored inside).
        batch_size : int
            Images per forward pass when extracting the features.
        **kwargs :
            ``mean``, ``std``, ``reduce`` for the constructor.

        Returns
        -------
        RegionScore
            With the readout folded back to raw features and ``alpha_`` set.
        """
        from .heads import DEFAULT_ALPHAS, RidgeHead

        imgs = _images_nchw(images)
        y = np.asarray(responses, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        if y.shape[0] != imgs.shape[0]:
            raise BadInputError(f"{imgs.shape[0]} images but {y.shape[0]} responses.")
        probe = cls(backbone, layer, np.zeros(1), size=size, pooling=pooling, **kwargs)
        with torch.no_grad():
            feats = torch.cat([probe.features(imgs[i : i + batch_size]) for i in range(0, len(imgs), batch_size)])
        head = RidgeHead(alphas=DEFAULT_ALPHAS if alphas is None else alphas, cv=cv).fit(feats.numpy(), y)
        w = head.coef_ / head.x_scale_[:, None]
        b = head.intercept_ - (head.x_mean_ / head.x_scale_) @ head.coef_
        model = cls(backbone, layer, w, b, size=size, pooling=pooling, **kwargs)
        model.alpha_ = head.alpha_
        return model


def _images_nchw(images):
    """(n, H, W, 3) uint8 or [0, 1] float array/tensor -> float32 tensor (n, 3, H, W) in [0, 1]."""
    import torch

    if isinstance(images, torch.Tensor):
        arr = images.detach().cpu().numpy()
    else:
        arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise BadInputError(f"images must be (n, H, W, 3), got shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise BadInputError("images is empty (0 images).")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    else:
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise BadInputError("images hold NaN/inf values.")
        if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
            raise BadInputError(
                f"float images must be in [0, 1], got values in [{arr.min():.3g}, {arr.max():.3g}]; "
                "pass uint8 or rescale."
            )
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))
