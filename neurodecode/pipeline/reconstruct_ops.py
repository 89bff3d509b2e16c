"""Pipeline ops of brain-to-image decoding: contrastive retrieval and reconstruction.

Simulated brains on real images (``pipelines/reconstruct_simulated92.yaml``):

* ``generative.simulate_brains``: images -> EfficientNet-Lite0 features -> a fixed train/held-out
  split (stratified by category) -> the image embedding (PCA of the features, fitted on the
  training images) -> simulated voxel responses of several subjects at several SNRs
  (:mod:`neurodecode.generative.simulate`).
* ``generative.brain_retrieval``: per SNR, :class:`~neurodecode.encoders.contrastive.BrainCLIP`
  (one shared model, one adapter per subject) and a ridge head per subject
  (:class:`~neurodecode.generative.heads.RidgeHead`) trained on the training images; top-1/top-5
  retrieval both ways on the held-out images (all of them, and random N-way subsets) and two-way
  identification, with chance levels.
* ``generative.reconstruct``: a small conditional diffusion model
  (:class:`~neurodecode.generative.cond_unet.CondDiffusion`) trained once on the training images
  conditioned on their true embeddings, then sampled from the brain-predicted embeddings of the
  held-out images at each SNR; PixCorr, SSIM and two-way identification (EfficientNet-Lite0
  features) by SNR, and an image grid.

Real EEG (``pipelines/eeg_image_retrieval.yaml``):

* ``generative.eeg_image_retrieval``: Muse face/house epochs aligned contrastively with embeddings
  of the face and house images (category level: which exemplar was shown is not recorded),
  evaluated as category retrieval on held-out runs, beside a logistic-regression baseline.

All ops take the whole input (``maps: False``); their outputs are plain dicts (cached, not saved).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd

from .._threads import torch_threads
from ..report.style import styled
from ..errors import BadInputError
from .checks import OneOf
from .ops import StepResult

__all__ = ["simulate_brains", "brain_retrieval", "reconstruct", "eeg_image_retrieval"]


# --------------------------------------------------------------------------- helpers


def _resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (n, h, w, 3) -> float32 (n, size, size, 3) in [0, 1] (antialiased bilinear)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy().astype(np.float32)


def _stratified_split(labels: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(labels.size)
    if not 1 <= n_test < labels.size:
        raise BadInputError(f"n_test must be in 1..{labels.size - 1}, got {n_test}.")
    tr, te = train_test_split(idx, test_size=int(n_test), stratify=labels, random_state=int(seed))
    return np.sort(tr), np.sort(te)


def _zscore_train(x: np.ndarray, train_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = x[train_rows].mean(axis=0)
    sd = x[train_rows].std(axis=0)
    sd[sd < 1e-12] = 1.0
    return mu, sd


def _threaded(fn: Callable) -> Callable:
    """Run the op under :func:`neurodecode._threads.torch_threads` with its ``threads`` parameter."""

    @functools.wraps(fn)
    def wrapper(*args: Any, threads: int | None = None, **kwargs: Any) -> Any:
        with torch_threads(threads):
            return fn(*args, threads=threads, **kwargs)

    return wrapper


def _seeded(seed: int, cls: Callable, *args: Any, **kwargs: Any) -> Any:
    """Build a torch module with its initial weights drawn from ``seed`` (the global RNG is left as it was)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return cls(*args, **kwargs)


def _fmt(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------- simulation


@_threaded
def simulate_brains(
    images: Any,
    *,
    snrs: list[float] = (0.05, 0.2, 1.0),
    n_voxels: list[int] = (300, 400, 500),
    n_repeats: int = 2,
    n_test: int = 23,
    layer: str = "avgpool",
    n_components: int = 32,
    nonlinearity: Annotated[str, OneOf("neurodecode.generative.simulate:NONLINEARITIES", "nonlinearity")] = "softplus",
    gain: float = 1.0,
    image_size: int = 32,
    stratify_by: str = "category",
    seed: int = 0,
    threads: int | None = None,
) -> StepResult:
    """Simulated subjects seeing the images at several SNRs, with a fixed train/held-out split.

    Parameters
    ----------
    images : DataArray (stimulus, y, x, rgb)
        uint8 images with a ``stratify_by`` coord (``datasets.load("kriegeskorte92").images``).
    snrs : list of float
        Single-trial signal-to-noise ratios (signal variance / noise variance per voxel).
    n_voxels : list of int
        Voxels of each simulated subject.
    n_repeats : int
        Presentations of each image.
    n_test : int
        Held-out images (split stratified by ``stratify_by``, fixed by ``seed``).
    layer : str
        EfficientNet-Lite0 layer whose average-pooled features the brains encode.
    n_components : int
        Size of the image embedding: PCA of the features fitted on the training images only.
    nonlinearity, gain : str, float
        Output nonlinearity of the encoding model and the drive's scale.
    image_size : int
        Side of the small copies of the images kept for reconstruction.
    seed : int
        Seeds the split, the encoding weights and the noise (the same weights at every SNR).
    threads : int, optional
        torch threads while the op runs (restored after); None leaves torch's setting.
    """
    from sklearn.decomposition import PCA

    from ..generative.simulate import image_features, simulate_responses

    if getattr(images, "dims", None) is None or "stimulus" not in images.dims:
        raise BadInputError("generative.simulate_brains needs (stimulus, y, x, rgb) images (a DataArray).")
    if stratify_by not in images.coords:
        raise BadInputError(f"images have no {stratify_by!r} coord to stratify the split by.")
    if not snrs:
        raise BadInputError("snrs: give at least one SNR.")
    labels = np.asarray(images[stratify_by].values).astype(str)
    train, test = _stratified_split(labels, n_test, seed)
    feats = image_features(images, layer)
    F = np.asarray(feats.values, dtype=np.float64)
    k = min(int(n_components), train.size - 1)
    pca = PCA(n_components=k, svd_solver="full", random_state=int(seed)).fit(F[train])
    emb = pca.transform(F).astype(np.float32)
    sims = {float(s): simulate_responses(feats, n_voxels=list(n_voxels), snr=float(s), n_repeats=n_repeats,
                                         nonlinearity=nonlinearity, gain=gain, seed=seed) for s in snrs}
    raw = np.asarray(images.transpose("stimulus", "y", "x", "rgb").values)
    bundle = {
        "images": _resize_images(raw, int(image_size)),
        "labels": labels,
        "stimulus": np.asarray(images["stimulus"].values),
        "train": train,
        "test": test,
        "features": F.astype(np.float32),
        "embeddings": emb,
        "sims": sims,
        "layer": layer,
    }
    metrics: dict[str, float] = {"n_train": float(train.size), "n_test": float(test.size),
                                 "embedding_dim": float(k),
                                 "pca_explained_variance": float(pca.explained_variance_ratio_.sum())}
    rows = []
    for s, sim in sims.items():
        for subj, measured in enumerate(sim.measured_snr()):
            metrics[f"snr={_fmt(s)}.subject={subj}.measured_snr"] = measured
            rows.append({"snr": s, "subject": subj, "n_voxels": sim.responses[subj].sizes["neuroid"],
                         "n_trials": sim.responses[subj].sizes["trial"], "measured_snr": measured})
    split = pd.DataFrame({"stimulus": bundle["stimulus"], stratify_by: labels,
                          "part": np.where(np.isin(np.arange(labels.size), test), "held-out", "train")})
    notes = [
        f"{train.size} training and {test.size} held-out images (stratified by {stratify_by}, seed {seed}); "
        f"{len(n_voxels)} simulated subjects with {list(n_voxels)} voxels, {n_repeats} repeats, SNRs {list(snrs)}.",
        f"Image embedding: PCA ({k} components, {pca.explained_variance_ratio_.sum():.0%} of the variance of the "
        f"training images) of EfficientNet-Lite0 {layer} features, fitted on the training images only.",
    ]
    return StepResult(bundle, metrics=metrics, tables={"measured_snr": pd.DataFrame(rows), "split": split},
                      notes=notes)


# --------------------------------------------------------------------------- retrieval


def _subject_arrays(sim, subj: int, train: np.ndarray, test: np.ndarray):
    """Training trials (z-scored with training stats), their stimulus index, and held-out means."""
    resp = sim.responses[subj]
    idx = np.asarray(resp["stimulus_index"].values)
    x = np.asarray(resp.values, dtype=np.float64)
    rows = np.isin(idx, train)
    mu, sd = _zscore_train(x, np.flatnonzero(rows))
    x_train = ((x[rows] - mu) / sd).astype(np.float32)
    x_test = ((sim.mean_responses(subj)[test] - mu) / sd).astype(np.float32)
    return x_train, idx[rows], x_test


@_threaded
def brain_retrieval(
    bundle: dict[str, Any],
    *,
    hidden_dim: int = 256,
    n_blocks: int = 2,
    dropout: float = 0.3,
    loss: Annotated[str, OneOf("neurodecode.encoders.contrastive:LOSSES", "loss")] = "mixco_softclip",
    mixco_fraction: float = 0.33,
    max_epochs: int = 60,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    ridge_cv: int = 5,
    n_way: int = 10,
    n_draws: int = 200,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
) -> StepResult:
    """BrainCLIP and ridge heads per SNR; retrieval and two-way identification on held-out images.

    Parameters
    ----------
    bundle : dict
        Output of ``generative.simulate_brains``.
    hidden_dim, n_blocks, dropout : int, int, float
        BrainCLIP size (one shared backbone, one linear adapter per subject).
    loss, mixco_fraction : str, float
        Contrastive objective (default: BiMixCo for the first third of the epochs, then SoftCLIP).
    max_epochs, batch_size, lr, weight_decay : int, int, float, float
        Training (fixed a priori; no early stopping, no tuning on held-out images).
    ridge_cv : int
        Folds (grouped by image) of the ridge head's choice of alpha on the training trials.
    n_way, n_draws : int
        Random N-way subsets of the held-out images for retrieval (besides all of them).
    seed : int
    device : str
        Where torch computes: ``"auto"`` (CUDA when available, else the CPU; until this release the
        default was ``"cpu"``), ``"cpu"``, ``"cuda"``...
    threads : int, optional
        torch threads while the op runs (restored after); None leaves torch's setting.
    """
    from ..encoders.contrastive import BrainCLIP, fit_brain_clip, retrieval_scores, stack_subjects
    from ..generative.heads import RidgeHead

    emb = bundle["embeddings"]
    train, test = bundle["train"], bundle["test"]
    rows: list[dict[str, Any]] = []
    predicted: dict[float, list[np.ndarray]] = {}
    clip_emb: dict[float, list[np.ndarray]] = {}
    timings: dict[str, float] = {}
    for snr, sim in bundle["sims"].items():
        xs, idxs, xts = [], [], []
        for subj in range(sim.n_subjects):
            x_tr, i_tr, x_te = _subject_arrays(sim, subj, train, test)
            xs.append(x_tr)
            idxs.append(i_tr)
            xts.append(x_te)
        X, S, dims = stack_subjects(xs)
        t0 = time.perf_counter()
        model = _seeded(seed, BrainCLIP, max(dims), clip_dim=emb.shape[1], subject_dims=dims,
                        hidden_dim=hidden_dim, n_blocks=n_blocks, dropout=dropout)
        result = fit_brain_clip(model, X, emb[np.concatenate(idxs)], S, loss=loss, mixco_fraction=mixco_fraction,
                                max_epochs=max_epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                seed=seed, device=device)
        timings[f"snr={_fmt(snr)}.brain_clip_seconds"] = time.perf_counter() - t0
        predicted[snr], clip_emb[snr] = [], []
        for subj in range(sim.n_subjects):
            b = model.encode(xts[subj], subj)
            clip_emb[snr].append(b)
            head = RidgeHead(cv=ridge_cv, seed=seed)
            import warnings

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                head.fit(xs[subj], emb[idxs[subj]], groups=idxs[subj])
            p = head.predict(xts[subj]).astype(np.float32)
            predicted[snr].append(p)
            for model_name, e in (("brain_clip", b), ("ridge", p)):
                for nw in (test.size, n_way):
                    sc = retrieval_scores(e, emb[test], n_way=nw, n_draws=n_draws, seed=seed)
                    rows.append({"snr": snr, "subject": subj, "model": model_name, **sc,
                                 "ridge_alpha": head.alpha_ if model_name == "ridge" else np.nan,
                                 "alpha_at_grid_end": bool(caught) if model_name == "ridge" else False,
                                 "final_train_loss": result.history[-1]["train_loss"] if model_name == "brain_clip"
                                 else np.nan})
    table = pd.DataFrame(rows)
    metrics: dict[str, float] = dict(timings)
    value_cols = [c for c in table.columns if c.startswith(("brain2image.top", "image2brain.top", "two_way"))
                  and not c.endswith("_std") and c != "two_way_chance"]
    for (snr, model_name, nw), g in table.groupby(["snr", "model", "n_way"]):
        for col in value_cols:
            if col in g and g[col].notna().all():
                metrics[f"snr={_fmt(snr)}.{model_name}.{int(nw)}way.{col}"] = float(g[col].mean())
    for nw, g in table.groupby("n_way"):
        metrics[f"{int(nw)}way.top1_chance"] = float(g["top1_chance"].iloc[0])
        if "top5_chance" in g:
            metrics[f"{int(nw)}way.top5_chance"] = float(g["top5_chance"].iloc[0])
    out = dict(bundle)
    out["predicted"] = predicted
    out["clip_embeddings"] = clip_emb
    notes = [
        f"Held-out: {test.size} images, each the mean of {next(iter(bundle['sims'].values())).n_repeats} repeats; "
        f"retrieval among all {test.size} (chance top-1 {1 / test.size:.3f}, top-5 {5 / test.size:.3f}) and among "
        f"{n_way} drawn at random {n_draws} times (chance top-1 {1 / n_way:.2f}, top-5 {5 / n_way:.2f}); two-way "
        "identification chance 0.5. Values are means over subjects (per subject in the table).",
        f"BrainCLIP: {len(dims)} subject adapters ({dims} voxels) -> {hidden_dim}-d shared space, {n_blocks} residual "
        f"MLP blocks, projector to the {emb.shape[1]}-d image embedding; loss {loss} (BiMixCo for "
        f"{mixco_fraction:.0%} of {max_epochs} epochs, then SoftCLIP). Ridge: voxels -> embedding per subject, "
        f"alpha by {ridge_cv}-fold CV grouped by image on the training trials.",
    ]
    if table.loc[table.model == "ridge", "alpha_at_grid_end"].any():
        notes.append("The ridge alpha was chosen at an end of its grid for some SNR/subject (see the table).")
    figures = [("Retrieval of held-out images by SNR (mean over subjects; dashed: chance)",
                _retrieval_figure(table, test.size, n_way))]
    snr_list = sorted(table["snr"].unique())

    def _top1(model_name: str) -> str:
        return " / ".join(f"{metrics.get(f'snr={_fmt(v)}.{model_name}.{test.size}way.brain2image.top1', np.nan):.2f}"
                          for v in snr_list)

    answer = (f"Top-1 retrieval of {test.size} held-out images from simulated brain responses at SNR "
              f"{' / '.join(_fmt(v) for v in snr_list)}: BrainCLIP {_top1('brain_clip')}, ridge {_top1('ridge')} "
              f"(chance {1 / test.size:.3f}; means over subjects).")
    return StepResult(out, metrics=metrics, tables={"retrieval": table}, notes=notes, figures=figures,
                      answer=answer)


@styled
def _retrieval_figure(table: pd.DataFrame, n_all: int, n_way: int):
    from ..report.figures import new_figure

    fig = new_figure(10, 3.6)
    axes = fig.subplots(1, 3)
    from ..report.style import color

    styles = {"brain_clip": (color(0), "BrainCLIP"), "ridge": (color(1), "ridge")}
    for ax, (nw, col, title) in zip(axes, [(n_all, "brain2image.top1", f"brain→image top-1, {n_all}-way"),
                                           (n_all, "image2brain.top1", f"image→brain top-1, {n_all}-way"),
                                           (n_way, "brain2image.top1", f"brain→image top-1, {n_way}-way")]):
        sub = table[table.n_way == nw]
        for model_name, (color, label) in styles.items():
            g = sub[sub.model == model_name].groupby("snr")[col]
            m, s = g.mean(), g.std(ddof=0)
            ax.errorbar(m.index, m.values, yerr=s.values, marker="o", color=color, label=label, capsize=3)
        ax.axhline(1.0 / nw, color="k", ls="--", lw=1, label="chance")
        ax.set_xscale("log")
        ax.set_xlabel("single-trial SNR")
        ax.set_ylim(0, 1.02)
        ax.set_title(title)
    axes[0].set_ylabel("accuracy (mean ± sd over subjects)")
    for ax in axes[1:]:
        ax.set_ylabel("accuracy")
    from ..report.style import legend_outside, set_caption

    legend_outside(axes[-1], *axes[0].get_legend_handles_labels())
    return set_caption(fig, "Top-1 retrieval of held-out images from simulated brain responses, by single-trial SNR "
                            "(log scale): BrainCLIP vs ridge, mean ± sd over the simulated subjects; dashed: chance.")


# --------------------------------------------------------------------------- reconstruction


def _rescale_to_train_norm(pred: np.ndarray, train_emb: np.ndarray) -> np.ndarray:
    """Each predicted embedding scaled to the mean norm of the (centred) training embeddings.

    Ridge predictions shrink towards the mean; the diffusion model was trained on true embeddings,
    whose norm is larger. The rescaling is per item (no statistics of the held-out set are used).
    """
    target = float(np.linalg.norm(train_emb, axis=1).mean())
    norms = np.linalg.norm(pred, axis=1, keepdims=True)
    return (pred / np.maximum(norms, 1e-12) * target).astype(np.float32)


def _img2img(model: Any, embeds: np.ndarray, init: np.ndarray, *, strength: float, steps: int,
             guidance_scale: float, eta: float, seed: int) -> np.ndarray:
    """DDIM from a noised initial image: the last ``strength`` of the schedule (SDEdit / img2img).

    ``init`` is ``(n, H, W, 3)`` in [0, 1] at the model's size; the same per-image seeds as
    :meth:`CondDiffusion.sample` draw the noise. ``strength=1`` starts from pure noise.
    """
    import torch
    from diffusers import DDIMScheduler, DDPMScheduler

    from ..generative.guidance import make_generators, sample_loop

    cfg = model.config
    sched = DDIMScheduler.from_config(DDPMScheduler(num_train_timesteps=cfg["num_train_timesteps"],
                                                    beta_schedule=cfg["beta_schedule"]).config)
    sched.set_timesteps(int(steps))
    n_skip = min(int(steps) - 1, int(round(int(steps) * (1.0 - float(strength)))))
    timesteps = sched.timesteps[n_skip:]
    n = embeds.shape[0]
    gens = make_generators([int(seed) + i for i in range(n)])
    noise = torch.stack([torch.randn(3, cfg["image_size"], cfg["image_size"], generator=g) for g in gens])
    x0 = torch.from_numpy(np.ascontiguousarray(init)).permute(0, 3, 1, 2).float().clamp(0, 1) * 2 - 1
    xt = sched.add_noise(x0, noise, timesteps[:1].repeat(n))
    net = model.net
    net.eval()
    with torch.no_grad():
        tokens = net.tokens(torch.from_numpy(embeds).float())
        null = net.null_tokens(n)
    x = sample_loop(net.unet, sched, xt, timesteps=timesteps, cond=net.unet_inputs(tokens),
                    uncond=net.unet_inputs(null), cfg_scale=float(guidance_scale), generators=gens, eta=float(eta))
    return (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().numpy()


@_threaded
def reconstruct(
    bundle: dict[str, Any],
    *,
    block_out_channels: list[int] = (16, 32, 32),
    n_tokens: int = 4,
    token_dim: int = 64,
    attention_head_dim: int = 1,
    max_epochs: int = 150,
    epochs: int | None = None,
    batch_size: int = 8,
    lr: float = 2e-3,
    steps: int = 15,
    guidance_scale: float = 3.0,
    eta: float = 1.0,
    strength: float = 0.6,
    source: Literal["ridge", "brain_clip"] = "ridge",
    n_show: int = 12,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
) -> StepResult:
    """Train a small conditional diffusion model once; reconstruct the held-out images by SNR.

    Two pathways, as in Brain-Diffuser (Ozcelik & VanRullen 2023) at toy scale:

    * **low level**: a ridge head per subject from voxels to the pixels of the (small) images;
    * **high level**: the brain-predicted image embedding conditions
      :class:`~neurodecode.generative.cond_unet.CondDiffusion`, sampled either from pure noise or
      from the low-level image noised to ``strength`` of the schedule (img2img).

    Parameters
    ----------
    bundle : dict
        Output of ``generative.brain_retrieval``.
    block_out_channels, n_tokens, token_dim, attention_head_dim : list of int, int, int, int
        :class:`~neurodecode.generative.cond_unet.CondDiffusion` size (pixel space, the images'
        size from ``simulate_brains``). ``attention_head_dim=1`` (diffusers passes it on as the
        number of heads: one head) halves the CPU time of a training step against 8 heads.
    max_epochs, batch_size, lr : int, int, float
        Diffusion training on the training images and their true embeddings (shared by all SNRs).
        ``epochs``, the old name of ``max_epochs``, still works for one release, with a warning.
    steps, guidance_scale, eta : int, float, float
        DDIM steps (of the full schedule), classifier-free guidance scale and DDIM eta of sampling
        (1: noise re-injected at each step, which gives clean samples from a briefly trained model).
    strength : float
        img2img: fraction of the schedule run from the noised low-level image (0..1].
    source : {"ridge", "brain_clip"}
        Which brain-predicted embedding conditions the reconstruction (rescaled per item to the
        training embeddings' mean norm).
    n_show : int
        Held-out images shown in the grid (spread over categories).
    seed : int
        Seeds the diffusion weights, training and the sampling noise (the same noise for every SNR).
    device : str
        Where torch computes: ``"auto"`` (CUDA when available, else the CPU; until this release the
        default was ``"cpu"``), ``"cpu"``, ``"cuda"``...
    threads : int, optional
        torch threads while the op runs (restored after); None leaves torch's setting.
    """
    from ..generative.cond_unet import CondDiffusion
    from ..generative.heads import RidgeHead
    from ..generative.metrics import extract_features, pixcorr, ssim, two_way_identification

    if "predicted" not in bundle:
        raise BadInputError("generative.reconstruct needs the output of generative.brain_retrieval as input.")
    if source not in ("ridge", "brain_clip"):
        raise BadInputError(f"source must be 'ridge' or 'brain_clip', got {source!r}.")
    if not 0 < float(strength) <= 1:
        raise BadInputError(f"strength must be in (0, 1], got {strength}.")
    images, emb = bundle["images"], bundle["embeddings"]
    train, test = bundle["train"], bundle["test"]
    size = images.shape[1]
    t0 = time.perf_counter()
    model = CondDiffusion(size, embed_dim=emb.shape[1], n_tokens=n_tokens, token_dim=token_dim,
                          attention_head_dim=attention_head_dim, block_out_channels=list(block_out_channels),
                          seed=seed, device=device)
    if epochs is not None:  # the old name of ``max_epochs`` (deprecated, one release)
        from .._deprecate import warn_renamed

        warn_renamed("generative.reconstruct", "epochs", "max_epochs")
        max_epochs = int(epochs)
    model.fit(images[train], emb[train], max_epochs=max_epochs, batch_size=batch_size, lr=lr)
    fit_seconds = time.perf_counter() - t0
    preds = bundle["predicted"] if source == "ridge" else bundle["clip_embeddings"]
    truth = images[test]
    t1 = time.perf_counter()
    sample_kw = {"seeds": seed, "steps": steps, "guidance_scale": guidance_scale, "eta": eta}
    # (condition, snr) -> one (n_test, H, W, 3) array per subject
    recon: dict[tuple[str, float], list[np.ndarray]] = {
        ("true embedding", np.nan): [model.sample(emb[test], **sample_kw)]}
    pixels = images.reshape(images.shape[0], -1)
    for snr, sim in bundle["sims"].items():
        for cond in ("low level (ridge pixels)", "diffusion from noise", f"diffusion img2img {strength:g}"):
            recon[(cond, snr)] = []
        for subj in range(sim.n_subjects):
            x_tr, i_tr, x_te = _subject_arrays(sim, subj, train, test)
            low = RidgeHead(cv=5, seed=seed).fit(x_tr, pixels[i_tr], groups=i_tr).predict(x_te)
            low = np.clip(low, 0, 1).reshape(truth.shape).astype(np.float32)
            e = _rescale_to_train_norm(preds[snr][subj], emb[train])
            recon[("low level (ridge pixels)", snr)].append(low)
            recon[("diffusion from noise", snr)].append(model.sample(e, **sample_kw))
            recon[(f"diffusion img2img {strength:g}", snr)].append(
                _img2img(model, e, low, strength=strength, steps=steps, guidance_scale=guidance_scale, eta=eta,
                         seed=seed))
    sample_seconds = time.perf_counter() - t1
    truth_feats = extract_features(truth)["avgpool"]
    rows = []
    for (cond, snr), per_subject in recon.items():
        for subj, rec in enumerate(per_subject):
            rows.append({"condition": cond, "snr": snr, "subject": subj if np.isfinite(snr) else -1,
                         "pixcorr": pixcorr(truth, rec, size=None), "ssim": ssim(truth, rec, size=None),
                         "two_way_effnet": two_way_identification(truth_feats, extract_features(rec)["avgpool"])})
    # floor: each image against the true-embedding reconstruction of another held-out image
    rng = np.random.default_rng(seed)
    perm = rng.permutation(test.size)
    while np.any(perm == np.arange(test.size)):
        perm = rng.permutation(test.size)
    other = recon[("true embedding", np.nan)][0][perm]
    rows.append({"condition": "another image (floor)", "snr": np.nan, "subject": -1,
                 "pixcorr": pixcorr(truth, other, size=None), "ssim": ssim(truth, other, size=None),
                 "two_way_effnet": two_way_identification(truth_feats, extract_features(other)["avgpool"])})
    # floor: the mean training image for every held-out image (what a fully shrunk decoder gives)
    mean_img = np.repeat(images[train].mean(axis=0, keepdims=True), test.size, axis=0)
    rows.append({"condition": "mean training image (floor)", "snr": np.nan, "subject": -1,
                 "pixcorr": pixcorr(truth, mean_img, size=None), "ssim": ssim(truth, mean_img, size=None),
                 "two_way_effnet": np.nan})
    table = pd.DataFrame(rows)
    metrics: dict[str, float] = {"diffusion_fit_seconds": fit_seconds, "sampling_seconds": sample_seconds,
                                 "diffusion_parameters": float(model.n_parameters),
                                 "diffusion_final_loss": float(model.history_[-1]["train_loss"]),
                                 "two_way_chance": 0.5}
    for (cond, snr), g in table.groupby(["condition", "snr"], sort=False, dropna=False):
        key = cond.split(" (")[0].replace(" ", "_")
        prefix = key if not np.isfinite(snr) else f"snr={_fmt(snr)}.{key}"
        for col in ("pixcorr", "ssim", "two_way_effnet"):
            if g[col].notna().all():
                metrics[f"{prefix}.{col}"] = float(g[col].mean())
    show = _spread(bundle["labels"][test], n_show)
    grid = {"true (32 px)": truth[show], "true embedding": recon[("true embedding", np.nan)][0][show]}
    for (cond, snr), per_subject in recon.items():
        if np.isfinite(snr):
            grid[f"SNR {_fmt(snr)}: {cond.split(' (')[0]}"] = per_subject[0][show]
    notes = [
        f"CondDiffusion ({model.n_parameters / 1e6:.2f} M parameters, {size} px, blocks {list(block_out_channels)}) "
        f"trained once for {max_epochs} epochs (batch {batch_size}) on the {train.size} training images conditioned on "
        f"their true embeddings ({fit_seconds:.0f} s); DDIM {steps} steps (eta {eta:g}), guidance "
        f"{guidance_scale:g}, the same noise seeds for every condition ({sample_seconds:.0f} s for all sampling).",
        f"Per subject: a ridge head maps the held-out voxels to pixels (low level); the {source}-predicted "
        "embedding (rescaled to the training embeddings' norm) conditions the diffusion model, sampled from noise "
        f"or from the low-level image noised to {strength:g} of the schedule (img2img). Metrics are means over "
        "subjects at the model's resolution against the true images downsampled to it. 'true embedding' is this "
        "diffusion model's ceiling (held-out images from their own true embeddings); 'another image (floor)' "
        "scores each image against the reconstruction of a different held-out image, 'mean training image "
        "(floor)' against the average training image (PixCorr and SSIM of unrelated images are not 0: the "
        "images share a grey background and a central object). Two-way identification: EfficientNet-Lite0 "
        "avgpool features, chance 0.5.",
    ]
    out = dict(bundle)
    out["reconstructions"] = recon
    out["diffusion_history"] = model.history_
    figures = [("Held-out images and their reconstructions (subject 0) by SNR", _grid_figure(grid)),
               ("Reconstruction metrics by condition and SNR (mean ± sd over subjects)", _recon_figure(table))]
    two_way = {k.rsplit(".", 1)[0]: v for k, v in metrics.items()
               if k.endswith(".two_way_effnet") and "img2img" in k and np.isfinite(v)}
    answer = None
    if two_way:
        best = max(two_way, key=two_way.get)
        ceiling = metrics.get("true_embedding.two_way_effnet", np.nan)
        answer = (f"Reconstructions: best two-way identification {two_way[best]:.2f} ({best.replace('.diffusion', ', diffusion').replace('_', ' ').replace('snr=', 'SNR ')}), "
                  f"against {ceiling:.2f} for this diffusion model from the true embeddings (chance 0.5).")
    return StepResult(out, metrics=metrics, tables={"reconstruction": table}, notes=notes, figures=figures,
                      answer=answer)


def _spread(labels: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` indices taking categories in turn (first items of each category first)."""
    order = []
    cats = list(dict.fromkeys(labels.tolist()))
    pools = {c: list(np.flatnonzero(labels == c)) for c in cats}
    while len(order) < min(n, labels.size):
        for c in cats:
            if pools[c] and len(order) < n:
                order.append(pools[c].pop(0))
    return np.asarray(sorted(order))


@styled
def _grid_figure(grid: dict[str, np.ndarray]):
    from ..report.figures import new_figure

    n_rows = len(grid)
    n_cols = next(iter(grid.values())).shape[0]
    fig = new_figure(0.75 * n_cols + 1.2, 0.8 * n_rows)
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    for r, (name, ims) in enumerate(grid.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(np.clip(ims[c], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    from ..report.style import set_caption

    return set_caption(fig, "Held-out images (top row) and their reconstructions under each condition (one row "
                            "each).")


@styled
def _recon_figure(table: pd.DataFrame):
    from ..report.figures import new_figure

    from ..report.style import color as _color

    fig = new_figure(11, 3.6)
    axes = fig.subplots(1, 3)
    keys = list(dict.fromkeys(zip(table["condition"], table["snr"].fillna(-1.0))))
    labels = [c if snr < 0 else f"{c.split(' (')[0]}, SNR {_fmt(snr)}" for c, snr in keys]
    for ax, col in zip(axes, ("pixcorr", "ssim", "two_way_effnet")):
        g = table.assign(snr=table["snr"].fillna(-1.0)).groupby(["condition", "snr"], sort=False)[col]
        m, s = g.mean(), g.std(ddof=0).fillna(0)
        ax.barh(range(len(keys)), [m[k] for k in keys], xerr=[s[k] for k in keys], color=_color(0), capsize=2)
        ax.set_yticks(range(len(keys)))
        ax.set_yticklabels(labels if col == "pixcorr" else [])
        ax.invert_yaxis()
        ax.set_title({"pixcorr": "pixel correlation", "ssim": "SSIM",
                      "two_way_effnet": "two-way identification"}.get(col, col))
        ax.set_xlabel({"pixcorr": "pixel correlation", "ssim": "SSIM",
                       "two_way_effnet": "two-way identification"}.get(col, col))
        if col == "two_way_effnet":
            ax.axvline(0.5, color="k", ls="--", lw=1)
    axes[0].set_ylabel("condition")
    from ..report.style import set_caption

    return set_caption(fig, "Reconstruction quality per condition (mean ± sd over images): pixel correlation, SSIM "
                            "and two-way identification in EfficientNet-Lite0 features (dashed: chance 0.5).")


# --------------------------------------------------------------------------- real EEG


@_threaded
def eeg_image_retrieval(
    epochs: Any,
    *,
    subject: int = 1,
    train_subjects: Literal["same", "all"] = "same",
    target: Literal["exemplar", "mean"] = "exemplar",
    stim_folder: str | None = None,
    n_components: int = 16,
    decimate: int = 4,
    tmin: float = 0.0,
    tmax: float = 0.6,
    hidden_dim: int = 128,
    n_blocks: int = 1,
    dropout: float = 0.3,
    loss: Annotated[str, OneOf("neurodecode.encoders.contrastive:LOSSES", "loss")] = "softclip",
    mixco_fraction: float = 0.33,
    max_epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
) -> StepResult:
    """Contrastive alignment of EEG epochs with face/house image embeddings; category retrieval by run.

    Which face or house was shown on a trial is not recorded in the Muse N170 data (only the
    category), so the image side is category level: each training epoch is paired with the
    embedding of a random exemplar of its category (``target="exemplar"``, drawn once per trial
    from the seed) or with the category's mean embedding (``"mean"``); SoftCLIP's soft targets
    make epochs of one category share their targets. A held-out epoch retrieves the category whose
    mean image embedding is most similar to its brain embedding (2-way, chance 0.5; balanced
    accuracy and ROC AUC of ``cos(face) - cos(house)`` reported too), in leave-one-run-out folds
    of ``subject``. Beside it: logistic regression on the same inputs and folds.

    Parameters
    ----------
    epochs : DataArray (trial, channel, time)
        Clean face/house epochs with ``label``, ``subject`` and ``run``/``session`` coords (the
        ``eeg_n170_preprocess`` steps).
    subject : int
        Subject whose runs are held out in turn (must have at least 2 runs).
    train_subjects : {"same", "all"}
        Train on the other runs of ``subject`` only, or also on every run of the other subjects
        (one adapter per subject, one shared backbone).
    target : {"exemplar", "mean"}
        Image side of a training epoch (see above).
    stim_folder : str, optional
        The ``stim`` folder with ``faces/`` and ``houses/`` (default from the data home).
    n_components : int
        PCA size of the image embeddings (EfficientNet-Lite0 avgpool of the 96 images).
    decimate : int
        Samples averaged into one (after the 30 Hz low-pass of the preprocessing, 256 -> 64 Hz).
    tmin, tmax : float
        Time window (s) fed to the encoder.
    hidden_dim, n_blocks, dropout, loss, mixco_fraction, max_epochs, batch_size, lr, weight_decay
        BrainCLIP and training settings (fixed a priori).
    seed : int
    device : str
        Where torch computes: ``"auto"`` (CUDA when available, else the CPU; until this release the
        default was ``"cpu"``), ``"cpu"``, ``"cuda"``...
    threads : int, optional
        torch threads while the op runs (restored after); None leaves torch's setting.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    from ..encoders.contrastive import BrainCLIP, fit_brain_clip
    from ..generative.simulate import image_features, muse_images

    for c in ("label", "subject"):
        if c not in epochs.coords:
            raise BadInputError(f"generative.eeg_image_retrieval needs a {c!r} coord on the epochs.")
    if train_subjects not in ("same", "all"):
        raise BadInputError(f"train_subjects must be 'same' or 'all', got {train_subjects!r}.")
    if target not in ("exemplar", "mean"):
        raise BadInputError(f"target must be 'exemplar' or 'mean', got {target!r}.")
    labels = np.asarray(epochs["label"].values).astype(str)
    if not set(labels) <= {"face", "house"}:
        raise BadInputError(f"labels must be face/house, got {sorted(set(labels))}; select them first.")
    subjects = np.asarray(epochs["subject"].values).astype(int)
    run_parts = [np.asarray(epochs[c].values).astype(str) for c in ("session", "run") if c in epochs.coords]
    if not run_parts:
        raise BadInputError("the epochs need a 'run' (and/or 'session') coord for leave-one-run-out folds.")
    runs = np.array(["/".join(p) for p in zip(*run_parts)])
    mine = subjects == int(subject)
    my_runs = sorted(set(runs[mine]))
    if len(my_runs) < 2:
        raise BadInputError(f"subject {subject} has {len(my_runs)} run(s); leave-one-run-out needs at least 2.")

    # image embeddings: PCA of the 96 images' features (the images are not EEG data: no leak)
    imgs = muse_images(stim_folder)
    feats = np.asarray(image_features(imgs).values, dtype=np.float64)
    cats = np.asarray(imgs["category"].values).astype(str)
    k = min(int(n_components), feats.shape[0] - 1)
    img_emb = PCA(n_components=k, svd_solver="full", random_state=int(seed)).fit_transform(feats).astype(np.float32)
    cat_mean = {c: img_emb[cats == c].mean(axis=0) for c in ("face", "house")}
    rng = np.random.default_rng(seed)
    if target == "mean":
        trial_emb = np.stack([cat_mean[lab] for lab in labels])
    else:
        pools = {c: np.flatnonzero(cats == c) for c in ("face", "house")}
        trial_emb = np.stack([img_emb[rng.choice(pools[lab])] for lab in labels])

    # EEG inputs: window, block-average in time, flatten
    t = np.asarray(epochs["time"].values, dtype=float)
    keep_t = np.flatnonzero((t >= tmin - 1e-9) & (t <= tmax + 1e-9))
    if keep_t.size < int(decimate):
        raise BadInputError(f"the window {tmin}..{tmax} s holds {keep_t.size} samples; widen it.")
    data = np.asarray(epochs.transpose("trial", "channel", "time").values, dtype=np.float64)[:, :, keep_t]
    n_bins = keep_t.size // int(decimate)
    data = data[:, :, : n_bins * int(decimate)].reshape(data.shape[0], data.shape[1], n_bins, int(decimate)).mean(-1)
    flat = data.reshape(data.shape[0], -1)
    if not np.all(np.isfinite(flat)):
        raise BadInputError("the epochs hold NaN/inf values; reject or interpolate them first.")

    subj_ids = sorted(set(subjects)) if train_subjects == "all" else [int(subject)]
    subj_index = {s: i for i, s in enumerate(subj_ids)}
    rows = []
    for held in my_runs:
        test = mine & (runs == held)
        train = (subjects == int(subject)) & ~test if train_subjects == "same" else ~test & np.isin(subjects, subj_ids)
        # per-subject z-scoring with that subject's training epochs
        x = np.empty_like(flat, dtype=np.float32)
        for s in subj_ids:
            rs = subjects == s
            mu, sd = _zscore_train(flat, np.flatnonzero(rs & train))
            x[rs] = ((flat[rs] - mu) / sd).astype(np.float32)
        s_idx = np.array([subj_index.get(s, 0) for s in subjects])
        t0 = time.perf_counter()
        model = _seeded(seed, BrainCLIP, flat.shape[1], clip_dim=k, subject_dims=[flat.shape[1]] * len(subj_ids),
                        hidden_dim=hidden_dim, n_blocks=n_blocks, dropout=dropout)
        fit_brain_clip(model, x[train], trial_emb[train], s_idx[train], loss=loss, mixco_fraction=mixco_fraction,
                       max_epochs=max_epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                       device=device)
        seconds = time.perf_counter() - t0
        b = model.encode(x[test], subj_index[int(subject)])
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        cm = np.stack([cat_mean["face"], cat_mean["house"]])
        cm = cm / np.linalg.norm(cm, axis=1, keepdims=True)
        sims = b @ cm.T
        y = (labels[test] == "face").astype(int)
        pred = (sims[:, 0] > sims[:, 1]).astype(int)
        score = sims[:, 0] - sims[:, 1]
        both = len(set(y)) == 2
        # baseline on the same inputs and folds (subject's own training epochs, as 'same')
        own_train = train & (subjects == int(subject))
        lr_model = LogisticRegression(C=1.0, max_iter=2000).fit(x[own_train], (labels[own_train] == "face").astype(int))
        lp = lr_model.predict_proba(x[test])[:, 1]
        rows.append({
            "held_out_run": held, "n_train": int(train.sum()), "n_test": int(test.sum()),
            "n_face_test": int(y.sum()), "brain_clip.accuracy": float((pred == y).mean()),
            "brain_clip.balanced_accuracy": float(balanced_accuracy_score(y, pred)) if both else np.nan,
            "brain_clip.roc_auc": float(roc_auc_score(y, score)) if both else np.nan,
            "logreg.accuracy": float(((lp > 0.5).astype(int) == y).mean()),
            "logreg.balanced_accuracy": float(balanced_accuracy_score(y, (lp > 0.5).astype(int))) if both else np.nan,
            "logreg.roc_auc": float(roc_auc_score(y, lp)) if both else np.nan,
            "majority_chance": float(max(y.mean(), 1 - y.mean())),
            "fit_seconds": seconds,
        })
    table = pd.DataFrame(rows)
    metrics: dict[str, float] = {"n_folds": float(len(table)), "chance": 0.5,
                                 "majority_chance": float(table["majority_chance"].mean())}
    for col in [c for c in table.columns if c.startswith(("brain_clip.", "logreg."))]:
        metrics[f"{col}.mean"] = float(table[col].mean())
        metrics[f"{col}.std"] = float(table[col].std(ddof=1)) if len(table) > 1 else 0.0
    paired = "a random exemplar" if target == "exemplar" else "the mean embedding"
    trained_on = ("the other runs of that subject" if train_subjects == "same"
                  else f"every other run of all subjects {[int(v) for v in subj_ids]} (one adapter each)")
    notes = [
        "Per-trial image identity is not recorded in the Muse N170 data (SOURCE.txt: only the category), so the "
        f"alignment is category level: each training epoch is paired with {paired} "
        f"of its category (EfficientNet-Lite0 avgpool of the 48 face / 48 house images, PCA {k}).",
        f"Leave-one-run-out over the {len(my_runs)} runs of subject {subject}; training on "
        f"{trained_on}. "
        "Retrieval: the category whose mean image embedding is closer (cosine) to the epoch's brain embedding; "
        "2-way, chance 0.5 (balanced accuracy, ROC AUC); logistic regression on the same inputs for reference.",
        f"Input: {data.shape[1]} channels x {n_bins} time bins ({tmin}..{tmax} s, {decimate}-sample means), "
        "z-scored per feature with the training epochs' statistics.",
    ]
    clip_auc, lr_auc = metrics["brain_clip.roc_auc.mean"], metrics["logreg.roc_auc.mean"]
    if clip_auc < lr_auc:
        notes.append(f"The contrastive model ({clip_auc:.3f} AUC) does not beat logistic regression ({lr_auc:.3f}) "
                     "on this 4-channel headset; settings were fixed a priori, not tuned on the folds.")
    figures = [(f"Category retrieval per held-out run (subject {subject}); dashed: chance",
                _eeg_figure(table))]
    answer = (f"Face vs house from single EEG epochs of subject {subject}, leave-one-run-out over {len(table)} runs, "
              f"trained on {'that subject' if train_subjects == 'same' else 'all subjects'}: BrainCLIP retrieval "
              f"ROC AUC {clip_auc:.3f} ± {metrics['brain_clip.roc_auc.std']:.3f}, logistic regression "
              f"{lr_auc:.3f} ± {metrics['logreg.roc_auc.std']:.3f} (chance 0.5).")
    return StepResult({"folds": table}, metrics=metrics, tables={"folds": table}, notes=notes, figures=figures,
                      answer=answer)


@styled
def _eeg_figure(table: pd.DataFrame):
    from ..report.figures import new_figure

    from ..report.style import color as _color

    fig = new_figure(8, 3.2)
    axes = fig.subplots(1, 2)
    xs = np.arange(len(table))
    for ax, metric in zip(axes, ("balanced_accuracy", "roc_auc")):
        ax.plot(xs - 0.1, table[f"brain_clip.{metric}"], "o", color=_color(0), label="BrainCLIP retrieval")
        ax.plot(xs + 0.1, table[f"logreg.{metric}"], "s", color=_color(1), label="logistic regression")
        ax.axhline(0.5, color="k", ls="--", lw=1)
        ax.set_xticks(xs)
        ax.set_xticklabels(table["held_out_run"], rotation=45)
        ax.set_xlabel("held-out run (session/run)")
        ax.set_title(metric.replace("_", " "))
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_ylim(0.3, 1.0)
    from ..report.style import legend_outside, set_caption

    legend_outside(axes[-1], *axes[0].get_legend_handles_labels())
    return set_caption(fig, "Face/house category retrieval from EEG epochs on each held-out run: BrainCLIP "
                            "retrieval vs logistic regression on the same inputs; dashed: chance (0.5).")
