"""One trainer for every torch model in neurodecode.

:class:`Trainer` runs AdamW with a linear warm-up and a cosine schedule, early-stops on a
validation split, keeps the best weights, writes a checkpoint after every epoch (atomically) and
resumes from it after a kill, seeds everything it draws, shows a progress bar, runs on CPU or CUDA
with mixed precision, and wraps the model in DistributedDataParallel when launched with
``torchrun``.

The validation split must come from the training data only; :func:`train_val_split` holds out
whole groups (runs, trials) so that windows of one trial never straddle train and validation::

    tr, va = train_val_split(groups=runs_of_training_trials, val_fraction=0.2, seed=0)
    trainer = Trainer(TrainConfig(max_epochs=100, patience=10, lr=1e-3))
    result = trainer.fit(model, train=(X[tr], y[tr]), val=(X[va], y[va]))
    y_hat = trainer.predict(model, X_test)

What a training step computes is up to the caller: by default ``loss_fn(model(x), y)`` with
cross-entropy for integer targets and MSE otherwise; pass ``step_fn(model, batch) -> loss`` for
anything else (masked-autoencoder or contrastive objectives, diffusion).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import InitVar, asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError

__all__ = ["TrainConfig", "TrainResult", "Trainer", "train_val_split", "seed_everything", "resolve_device",
           "save_torch_atomic", "default_step"]


@dataclass
class TrainConfig:
    """Settings of :class:`Trainer` (all JSON-serialisable, saved beside checkpoints).

    Parameters
    ----------
    max_epochs : int
        Upper bound on passes over the training data.
    batch_size : int
        Batch size (per process under DDP).
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        AdamW weight decay.
    warmup_epochs : float
        Linear warm-up length in epochs (fractions allowed) before the cosine decay.
    min_lr_ratio : float
        The cosine schedule ends at ``lr * min_lr_ratio``.
    patience : int or None
        Stop after this many epochs without improvement of the validation loss (or of
        ``Trainer.fit``'s ``val_score`` when given; needs ``val``).
        ``None`` trains for ``max_epochs``.
    min_delta : float
        Improvement smaller than this does not reset the patience counter.
    grad_clip : float or None
        Clip the global gradient norm to this value.
    seed : int
        Seeds python, numpy and torch, and the batch order.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    amp : str or bool
        Mixed precision: ``"auto"`` (float16 on CUDA, off on CPU), ``"bf16"``, ``"fp16"``, ``True``
        (= ``"auto"`` but also bf16 on CPU) or ``False``.
    checkpoint_dir : str or None
        Where ``last.pt`` (resume state) and ``best.pt`` (best weights) are written. When it holds a
        ``last.pt`` from an interrupted run with the same config, training resumes from it.
    progress : bool
        Show a tqdm progress bar over epochs.
    num_workers : int
        DataLoader worker processes.
    threads : int or None
        torch intra-op threads while training (restored afterwards). Small models on a busy CPU
        often train several times faster with 1 thread than with all cores; ``None`` leaves torch's
        setting alone. (``num_threads``, its old name, still works for one release, with a warning.)
    drop_last : bool
        Drop the last incomplete batch (useful for contrastive losses and batch norm).
    """

    max_epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.0
    patience: int | None = 10
    min_delta: float = 0.0
    grad_clip: float | None = 1.0
    seed: int = 0
    device: str = "auto"
    amp: str | bool = "auto"
    checkpoint_dir: str | None = None
    progress: bool = True
    num_workers: int = 0
    threads: int | None = None
    drop_last: bool = False
    #: the old name of ``threads`` (deprecated; accepted for one release)
    num_threads: InitVar[int | None] = None

    def __post_init__(self, num_threads: int | None = None) -> None:
        if num_threads is not None:
            from .._deprecate import warn_renamed

            warn_renamed("TrainConfig", "num_threads", "threads", stacklevel=4)
            if self.threads is not None and self.threads != num_threads:
                raise BadInputError(f"TrainConfig got threads={self.threads} and num_threads={num_threads}; "
                                    "pass threads only.")
            self.threads = num_threads
        if self.max_epochs < 1 or self.batch_size < 1:
            raise BadInputError(f"max_epochs ({self.max_epochs}) and batch_size ({self.batch_size}) must be >= 1.")
        if not (self.lr > 0):
            raise BadInputError(f"lr must be > 0, got {self.lr}.")
        if self.patience is not None and self.patience < 1:
            raise BadInputError(f"patience must be >= 1 or None, got {self.patience}.")


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes
    ----------
    history : list of dict
        One row per epoch: ``epoch``, ``train_loss``, ``val_loss`` (NaN without validation),
        ``lr``, ``seconds``.
    best_epoch : int
        Epoch (0-based) whose weights the model holds at the end (the last one without validation).
    best_val_loss : float
        Validation loss of the best epoch.
    best_val_score : float
        ``val_score`` of the best epoch (``-inf`` when no ``val_score`` was given).
    stopped_early : bool
    resumed_from : int or None
        Epoch a resumed run started from.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = float("inf")
    best_val_score: float = float("-inf")
    stopped_early: bool = False
    resumed_from: int | None = None

    def to_frame(self):
        """The history as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.history)


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and CUDA)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str | None = "auto"):
    """``"auto"`` (or ``None``) -> CUDA when available, else CPU; checks that a requested CUDA device exists."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BadInputError(f"device {device!r} requested but CUDA is not available; use device='cpu' or 'auto'.")
    return dev


def train_val_split(
    n: int | None = None,
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out a validation part of the *training* data, by whole groups when given.

    Parameters
    ----------
    n : int, optional
        Number of samples (when ``groups`` is not given: a random sample-level split).
    groups : array-like, optional
        Group label per sample (run, trial, block). Whole groups go to validation, about
        ``val_fraction`` of the groups, at least one; so do all windows of one trial.
    val_fraction : float
        Fraction of groups (or samples) held out, in (0, 1).
    seed : int
        Seed of the draw.

    Returns
    -------
    train_idx, val_idx : numpy.ndarray
        Sorted integer indices into the training data.
    """
    if not 0 < val_fraction < 1:
        raise BadInputError(f"val_fraction must be in (0, 1), got {val_fraction}.")
    rng = np.random.default_rng(seed)
    if groups is None:
        if n is None or n < 2:
            raise BadInputError("train_val_split needs n >= 2 samples or groups=.")
        idx = rng.permutation(n)
        n_val = max(1, int(round(val_fraction * n)))
        return np.sort(idx[n_val:]), np.sort(idx[:n_val])
    g = np.asarray(groups)
    if n is not None and g.shape[0] != n:
        raise BadInputError(f"groups has {g.shape[0]} entries for n={n} samples.")
    uniq = np.unique(g)
    if uniq.size < 2:
        raise BadInputError(
            f"only one group ({uniq[0]!r}) in the training data: cannot hold out a validation group. "
            "Pass finer groups (e.g. trials instead of runs) or set patience=None to train without validation."
        )
    n_val = min(uniq.size - 1, max(1, int(round(val_fraction * uniq.size))))
    val_groups = rng.choice(uniq, size=n_val, replace=False)
    is_val = np.isin(g, val_groups)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def save_torch_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary sibling of ``path``, then rename (a kill never leaves half a file)."""
    import torch

    from .._files import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def load_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a ``last.pt`` written by :class:`Trainer` without executing code.

    ``torch.load(..., weights_only=True)`` only rebuilds tensors and plain containers; the
    config, history and counters are a JSON string inside the file.

    Raises
    ------
    BadInputError
        The file is not a checkpoint this trainer wrote (e.g. a pickle carrying code): nothing
        in it is run; delete it or point ``checkpoint_dir`` elsewhere.
    """
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
        if not isinstance(state, dict) or not isinstance(state.get("meta_json"), str):
            raise ValueError("no meta_json entry")
        meta = json.loads(state.pop("meta_json"))
    except Exception as err:
        raise BadInputError(
            f"{path} is not a checkpoint written by neurodecode's Trainer ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); it was not run. Delete it or point "
            "checkpoint_dir elsewhere to start afresh."
        ) from None
    state.update(meta)
    return state


# --------------------------------------------------------------------------- data plumbing


def _as_dataset(data: Any, name: str):
    """A tuple/list of arrays or tensors, a single array, or a torch Dataset -> torch Dataset."""
    import torch
    from torch.utils.data import Dataset, TensorDataset

    if isinstance(data, Dataset):
        return data
    parts = data if isinstance(data, (tuple, list)) else (data,)
    tensors = []
    for i, p in enumerate(parts):
        if hasattr(p, "values") and hasattr(p, "dims"):  # xarray
            p = p.values
        t = p if isinstance(p, torch.Tensor) else torch.as_tensor(np.asarray(p))
        if t.dtype == torch.float64:
            t = t.float()
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise BadInputError(f"{name}[{i}] holds NaN or inf values; clean or impute the input first.")
        tensors.append(t)
    n = {t.shape[0] for t in tensors}
    if len(n) != 1:
        raise BadInputError(f"{name}: all arrays must have the same first (sample) dim, got {[t.shape[0] for t in tensors]}.")
    if n.pop() == 0:
        raise BadInputError(f"{name} is empty (0 samples); check the selection that produced it.")
    return TensorDataset(*tensors)


def _to_device(batch: Any, device) -> Any:
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def default_step(loss_fn: Callable | None = None) -> Callable:
    """``step(model, batch) -> loss`` computing ``loss_fn(model(batch[0]), batch[1])``.

    Without ``loss_fn``: cross-entropy for integer targets, MSE for float targets.
    """
    import torch.nn.functional as F

    def step(model, batch):
        x, y = batch[0], batch[1]
        out = model(x)
        if loss_fn is not None:
            return loss_fn(out, y)
        if y.is_floating_point():
            return F.mse_loss(out.float().reshape(y.shape), y)
        return F.cross_entropy(out.float(), y.long())

    return step


def _amp_dtype(amp: str | bool, device):
    import torch

    if amp is False or amp is None:
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    if amp in ("auto", True):
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if amp is True else None
    raise BadInputError(f"amp must be 'auto', 'bf16', 'fp16', True or False, got {amp!r}.")


class Trainer:
    """Train a torch module with AdamW + cosine schedule, early stopping, checkpoints and resume.

    Parameters
    ----------
    config : TrainConfig, optional
        Settings; keyword arguments override fields of it (``Trainer(max_epochs=5)``).

    Notes
    -----
    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the trainer initialises the process
    group (NCCL on CUDA, gloo on CPU), wraps the model in ``DistributedDataParallel``, shards the
    training data with a ``DistributedSampler`` and averages the epoch losses across processes.
    Only rank 0 writes checkpoints and shows the progress bar.
    """

    def __init__(self, config: TrainConfig | None = None, **overrides: Any) -> None:
        base = asdict(config) if config is not None else {}
        base.update(overrides)
        self.config = TrainConfig(**base)

    # -- distributed ---------------------------------------------------------------------------
    @staticmethod
    def _dist_setup(device):
        import torch
        import torch.distributed as dist

        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return 0, 1, device
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend)
        rank = dist.get_rank()
        if device.type == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
        return rank, dist.get_world_size(), device

    # -- main loop -----------------------------------------------------------------------------
    def fit(
        self,
        model,
        train: Any,
        val: Any | None = None,
        *,
        step_fn: Callable | None = None,
        loss_fn: Callable | None = None,
        parameters: Any | None = None,
        val_score: Callable | None = None,
    ) -> TrainResult:
        """Train ``model`` in place and return the :class:`TrainResult`.

        Parameters
        ----------
        model : torch.nn.Module
        train : tuple of arrays/tensors, array or torch Dataset
            Training samples; batches are tuples in the same order (e.g. ``(X, y)``).
        val : same as ``train``, optional
            Validation samples (drawn from the training data, e.g. with :func:`train_val_split`).
            Enables early stopping and best-weight restoration.
        step_fn : callable, optional
            ``step_fn(model, batch) -> scalar loss``; default ``loss_fn(model(x), y)``.
        loss_fn : callable, optional
            Used by the default step (cross-entropy / MSE by target dtype when omitted).
        parameters : iterable, optional
            Parameters to optimise (default: all of ``model``'s that require grad), e.g. a head only.
        val_score : callable, optional
            ``val_score(model) -> float``, higher is better (e.g. the validation ROC AUC), called in
            eval mode without gradients after each epoch's validation loss. When given (with
            ``val``), early stopping and the best weights follow this score instead of the
            validation loss; the history gets a ``val_score`` column.
        """
        from .._threads import torch_threads

        with torch_threads(self.config.threads, "threads"):
            return self._fit(model, train, val, step_fn, loss_fn, parameters, val_score)

    def _fit(self, model, train, val, step_fn, loss_fn, parameters, val_score=None) -> TrainResult:
        import torch
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler
        from tqdm.auto import tqdm

        cfg = self.config
        device = resolve_device(cfg.device)
        rank, world, device = self._dist_setup(device)
        seed_everything(cfg.seed)
        step = step_fn or default_step(loss_fn)
        train_ds = _as_dataset(train, "train")
        val_ds = _as_dataset(val, "val") if val is not None else None
        if cfg.patience is not None and val_ds is None:
            patience = None
        else:
            patience = cfg.patience

        model.to(device)
        net = model
        if world > 1:
            net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        params = [p for p in (parameters if parameters is not None else model.parameters()) if p.requires_grad]
        if not params:
            raise BadInputError("no trainable parameters: every parameter has requires_grad=False.")
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

        gen = torch.Generator().manual_seed(cfg.seed)
        sampler = DistributedSampler(train_ds, shuffle=True, seed=cfg.seed) if world > 1 else None
        loader = DataLoader(
            train_ds,
            batch_size=cfg.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            generator=gen if sampler is None else None,
            drop_last=cfg.drop_last and len(train_ds) > cfg.batch_size,
            num_workers=cfg.num_workers,
            pin_memory=device.type == "cuda",
        )
        val_loader = (
            DataLoader(val_ds, batch_size=max(cfg.batch_size, 256), shuffle=False) if val_ds is not None else None
        )
        steps_per_epoch = max(1, len(loader))
        total = cfg.max_epochs * steps_per_epoch
        warm = int(round(cfg.warmup_epochs * steps_per_epoch))

        def lr_lambda(i: int) -> float:
            if warm and i < warm:
                return (i + 1) / warm
            frac = (i - warm) / max(1, total - warm)
            return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
        amp_dtype = _amp_dtype(cfg.amp, device)
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16 and device.type == "cuda")

        result = TrainResult()
        best_state: dict[str, Any] | None = None
        bad_epochs = 0
        start_epoch = 0
        ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
        if ckpt_dir is not None and (ckpt_dir / "last.pt").exists():
            state = load_checkpoint(ckpt_dir / "last.pt", map_location=device)
            if state.get("config") != json.loads(json.dumps(asdict(cfg))):
                raise BadInputError(
                    f"{ckpt_dir / 'last.pt'} was written with another training config; delete the folder "
                    "or point checkpoint_dir elsewhere to start afresh."
                )
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["torch_rng"])
            gen.set_state(state["loader_rng"])
            result = TrainResult(**state["result"])
            best_state = state.get("best_model")
            bad_epochs = state["bad_epochs"]
            start_epoch = state["epoch"] + 1
            result.resumed_from = start_epoch

        def run_batch(batch, train_mode: bool):
            batch = _to_device(batch, device)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                loss = step(net if train_mode else model, batch)
            if not torch.is_tensor(loss) or loss.ndim != 0:
                raise BadInputError("step_fn must return a scalar loss tensor.")
            return loss

        show = cfg.progress and rank == 0
        bar = tqdm(range(start_epoch, cfg.max_epochs), desc="train", disable=not show, leave=False,
                   initial=start_epoch, total=cfg.max_epochs)
        for epoch in bar:
            if sampler is not None:
                sampler.set_epoch(epoch)
            t0 = time.perf_counter()
            net.train()
            tot, cnt = 0.0, 0
            for batch in loader:
                loss = run_batch(batch, True)
                if not torch.isfinite(loss):
                    raise BadInputError(
                        f"training loss became {loss.item()} at epoch {epoch}; lower lr (now {cfg.lr}), "
                        "check the input scaling, or enable grad_clip."
                    )
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                scaler.step(opt)
                scaler.update()
                sched.step()
                n = len(batch[0]) if isinstance(batch, (list, tuple)) else 1
                tot += float(loss.detach()) * n
                cnt += n
            train_loss = self._mean_across(tot, cnt, world, device)
            val_loss = float("nan")
            if val_loader is not None:
                model.eval()
                vt, vc = 0.0, 0
                with torch.no_grad():
                    for batch in val_loader:
                        loss = run_batch(batch, False)
                        n = len(batch[0]) if isinstance(batch, (list, tuple)) else 1
                        vt += float(loss) * n
                        vc += n
                val_loss = vt / vc
            row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                   "lr": float(opt.param_groups[0]["lr"]), "seconds": time.perf_counter() - t0}
            score = None
            if val_loader is not None and val_score is not None:
                model.eval()
                with torch.no_grad():
                    score = float(val_score(model))
                row["val_score"] = score
            result.history.append(row)
            if val_loader is not None:
                improved = (score > result.best_val_score + cfg.min_delta if score is not None
                            else val_loss < result.best_val_loss - cfg.min_delta)
                if improved:
                    result.best_val_loss, result.best_epoch, bad_epochs = val_loss, epoch, 0
                    if score is not None:
                        result.best_val_score = score
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad_epochs += 1
            else:
                result.best_epoch = epoch
            bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
            stop = patience is not None and bad_epochs >= patience
            result.stopped_early = stop
            if ckpt_dir is not None and rank == 0:
                self._checkpoint(ckpt_dir, model, opt, sched, scaler, gen, result, best_state, bad_epochs, epoch)
            if stop:
                break
        bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        if ckpt_dir is not None and rank == 0 and best_state is not None:
            save_torch_atomic(best_state, ckpt_dir / "best.pt")
        return result

    @staticmethod
    def _mean_across(total: float, count: int, world: int, device) -> float:
        if world <= 1:
            return total / max(count, 1)
        import torch
        import torch.distributed as dist

        t = torch.tensor([total, float(count)], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return float(t[0] / t[1].clamp(min=1))

    def _checkpoint(self, ckpt_dir, model, opt, sched, scaler, gen, result, best_state, bad_epochs, epoch):
        import torch

        from .._files import write_atomic

        ckpt_dir.mkdir(parents=True, exist_ok=True)
        # plain values travel as a JSON string inside the weights file (one atomic file, so they always
        # match the weights) and in last.json beside it for people; torch.load(weights_only=True) reads it
        meta = {"config": asdict(self.config), "result": asdict(result), "bad_epochs": bad_epochs, "epoch": epoch}
        meta_json = json.dumps(meta, default=_json_default)
        state = {
            "meta_json": meta_json,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "loader_rng": gen.get_state(),
            "best_model": best_state,
        }
        save_torch_atomic(state, ckpt_dir / "last.pt")
        write_atomic(ckpt_dir / "last.json", json.dumps(json.loads(meta_json), indent=1))
        write_atomic(ckpt_dir / "history.json", json.dumps(result.history, indent=1))

    # -- inference -----------------------------------------------------------------------------
    def predict(self, model, X: Any, *, batch_size: int | None = None, fn: Callable | None = None) -> np.ndarray:
        """Model outputs for ``X`` (eval mode, no grad), as a numpy array.

        ``fn(model, x) -> tensor`` replaces ``model(x)`` (e.g. ``lambda m, x: m.embed(x)``).
        """
        import torch
        from torch.utils.data import DataLoader

        device = resolve_device(self.config.device)
        ds = _as_dataset(X, "X")
        model.to(device).eval()
        outs = []
        amp_dtype = _amp_dtype(self.config.amp, device)
        with torch.no_grad():
            for batch in DataLoader(ds, batch_size=batch_size or max(self.config.batch_size, 256)):
                x = batch[0].to(device)
                with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    out = fn(model, x) if fn is not None else model(x)
                outs.append(out.float().cpu())
        return torch.cat(outs).numpy()
