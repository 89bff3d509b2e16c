"""Layer activations of torch networks, recorded with forward hooks into an ``activations`` Dataset.

:func:`extract` runs the network once per batch with forward hooks on the requested modules and
streams the (optionally pooled) outputs into preallocated arrays, so memory holds one batch of
network activity plus the final outputs. The result is the data model's ``activations`` kind: an
:class:`xarray.Dataset` with one ``(stimulus, feature_<layer>)`` variable per layer (one feature dim
per layer, since layers differ in size), named after the layer.

Pooling (applied to each batch inside the hook):

``None`` / ``"flatten"``
    every unit of the layer, flattened in C order (channel, then y, then x).
``"avg"``
    the mean over positions: for a 4-D (or higher) output ``(batch, C, H, W)``, the mean over all
    dims after the channel dim (global average pooling of a (C, H, W) map); for a 3-D output
    ``(batch, tokens, dim)``, the mean over tokens (one value per embedding dim); 2-D outputs
    ``(batch, features)`` are kept as they are.
``"cls"``
    for 3-D token outputs ``(batch, tokens, dim)``: token 0 (the class token of ViT, CLIP, DINO,
    BEiT...); 2-D outputs are kept as they are; a 4-D convolutional map is an error (it has no
    class token), and so is a ``hf:`` model without a class token (``nd_cls_token`` False).
``"random_projection"``
    ``x @ R`` with a fixed random matrix per layer, drawn once (on the first batch) from a seed
    made of ``seed`` and the layer name: a dense Gaussian matrix with N(0, 1/k) entries when it has
    at most :data:`RP_DENSE_MAX_ENTRIES` entries, otherwise (huge early layers, where the dense
    matrix would take GBs) Li, Hastie & Church's very sparse random matrix (density 1/sqrt(D),
    same scale), applied as a sparse product. Both preserve Euclidean distances up to a relative
    error of order 1/sqrt(k) (Johnson-Lindenstrauss); the matrices are drawn with torch/numpy
    directly because scikit-learn's generators take seconds per large layer. Layers with at most
    ``n_components`` units are kept unprojected. Default ``n_components``
    :data:`RP_DEFAULT_COMPONENTS`.
``"pca"``
    principal-component scores. When the flattened layer for all stimuli fits in
    :data:`PCA_EXACT_MAX_BYTES`, it is kept and an exact :class:`sklearn.decomposition.PCA`
    (full SVD) is fitted at the end, in one forward pass (identical to PCA on the flattened
    activations). Larger layers need an explicit ``n_components`` and use
    :class:`sklearn.decomposition.IncrementalPCA`: a first pass calls ``partial_fit`` batch by batch,
    a second pass transforms; the incremental fit is an approximation that depends on the batching.

How outputs are read. A hooked module's output is a tensor, or a tuple/list (the first tensor in it
is taken, e.g. the hidden states of a transformers layer that returns ``(hidden, attentions)``), or
a mapping such as a transformers ``ModelOutput`` (its first tensor value, ``last_hidden_state``).
Its layout is recognised by its number of dims, the conventions of torch vision networks:
4-D (and more) is channels-first ``(batch, C, H, W)``; 3-D is ``(batch, tokens, dim)``, the
layout of transformers (ViT, CLIP, Swin stages, timm, ``nn.TransformerEncoderLayer`` with
``batch_first=True``); 2-D is ``(batch, features)``. The attrs of each variable say what was pooled
(``pooled_over``). A channels-first 1-D sequence ``(batch, C, L)`` would be read as tokens: record
it with ``pooling=None`` (flatten) instead.

Constant layers. A layer whose recorded features are (near) constant across stimuli carries no
information about the stimuli and makes every downstream RDM or decoder meaningless; it is a
:class:`BadInputError` that names the layer and the model. "Near": every feature ``j`` of every
stimulus lies within ``1e-5 * |x_0j| + 1e-6 * max |unpooled output|`` of the first stimulus's
``x_0j``, i.e. the differences are float32 rounding noise. This catches e.g. a LayerNorm output
averaged over its normalised dim, a dead layer, or the logits of an untrained network whose
bias swamps the input-driven part (about 1e-7 of it for the untrained EfficientNet-Lite0).

Preprocessing. Images (uint8 arrays, DataArrays, PIL images, paths) are preprocessed with the
``preprocessing`` argument, else the model's ``nd_preprocessing`` (set by
:func:`neurodecode.models.load_model`); a model without either is an error that says how to give
one. A float ``(n, C, H, W)`` tensor is taken as ready network input.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..errors import BadInputError
from .zoo import LAYER_KINDS, layer_names

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "extract",
    "POOLINGS",
    "RP_DEFAULT_COMPONENTS",
    "RP_DENSE_MAX_ENTRIES",
    "PCA_EXACT_MAX_BYTES",
]

#: Accepted values of ``pooling`` (``None`` means ``"flatten"``).
POOLINGS = ("flatten", "avg", "cls", "random_projection", "pca")
#: Output size of ``pooling="random_projection"`` when ``n_components`` is not given.
RP_DEFAULT_COMPONENTS = 1000
#: Largest dense Gaussian projection matrix (entries, float32: 64 MiB); larger ones are sparse.
RP_DENSE_MAX_ENTRIES = 2**24
#: Largest flattened layer (bytes, float32, all stimuli) kept in memory for an exact PCA.
PCA_EXACT_MAX_BYTES = 2**30
#: A layer is constant when every feature j of every stimulus lies within
#: CONSTANT_RTOL * |x_0j| + CONSTANT_SCALE_TOL * max|unpooled output| of the first stimulus's x_0j.
CONSTANT_RTOL = 1e-5
CONSTANT_SCALE_TOL = 1e-6


class _StopForward(Exception):
    """Raised by the last hook of a batch to skip the rest of the forward pass."""


# --------------------------------------------------------------------------- stimuli


class _Stimuli:
    """The stimuli as batches of network input (NCHW float tensors), plus their coords."""

    def __init__(self, stimuli, preprocessing: dict[str, Any]):
        import torch

        self.preprocessing = preprocessing
        self.coords: dict[str, Any] = {}
        self.images = None  # items handed to preprocess() batch by batch
        self.tensor = None  # pre-made network input
        index = None
        if isinstance(stimuli, xr.DataArray):
            if "stimulus" not in stimuli.dims:
                raise BadInputError(
                    f"stimuli DataArray needs a 'stimulus' dim, got dims {tuple(stimuli.dims)}; "
                    "rename the first dim with .rename({old: 'stimulus'})."
                )
            index = stimuli["stimulus"].values if "stimulus" in stimuli.coords else None
            for name, coord in stimuli.coords.items():
                if coord.dims == ("stimulus",) and name != "stimulus":
                    self.coords[name] = ("stimulus", coord.values)
            if {"y", "x", "rgb"} <= set(stimuli.dims) and stimuli.ndim == 4:
                self.images = np.asarray(stimuli.transpose("stimulus", "y", "x", "rgb").values)
            elif {"channel", "y", "x"} <= set(stimuli.dims) and stimuli.ndim == 4:
                self.tensor = torch.as_tensor(np.asarray(stimuli.transpose("stimulus", "channel", "y", "x").values))
            else:
                raise BadInputError(
                    f"stimuli DataArray must be images (stimulus, y, x, rgb) or network input "
                    f"(stimulus, channel, y, x), got dims {tuple(stimuli.dims)}."
                )
        elif isinstance(stimuli, torch.Tensor):
            if stimuli.dtype == torch.uint8:
                self.images = stimuli.detach().cpu().numpy()
            else:
                self.tensor = stimuli.detach()
        elif isinstance(stimuli, np.ndarray):
            if stimuli.dtype == np.uint8:
                self.images = stimuli
            else:
                self.tensor = torch.as_tensor(stimuli)
        elif isinstance(stimuli, Sequence) and not isinstance(stimuli, (str, bytes)):
            from pathlib import Path

            self.images = list(stimuli)
            if self.images and all(isinstance(p, (str, Path)) for p in self.images):
                index = np.array([Path(p).stem for p in self.images], dtype=object)
                missing = [str(p) for p in self.images if not Path(p).is_file()]
                if missing:
                    raise BadInputError(
                        f"{len(missing)} image file(s) do not exist (first: {missing[0]!r}); check the paths."
                    )
        else:
            raise BadInputError(
                f"cannot extract activations for a {type(stimuli).__name__}; pass uint8 images "
                "(n, h, w, 3) as an array, tensor or (stimulus, y, x, rgb) DataArray, a list of PIL "
                "images or paths, or a pre-made float NCHW tensor."
            )
        if self.images is not None:
            if isinstance(self.images, np.ndarray) and (self.images.ndim != 4 or self.images.shape[-1] != 3):
                raise BadInputError(
                    f"uint8 images must be (n, height, width, 3), got shape {self.images.shape}; "
                    "a pre-made network input must be a float NCHW tensor."
                )
            self.n = len(self.images)
        else:
            self._check_tensor()
            self.n = int(self.tensor.shape[0])
        if self.n == 0:
            raise BadInputError("no stimuli: the input holds 0 images.")
        self.index = np.arange(self.n) if index is None else np.asarray(index)

    def _check_tensor(self) -> None:
        import torch

        t = self.tensor
        if not torch.is_floating_point(t):
            raise BadInputError(
                f"network input must be a float tensor (got {t.dtype}); images as uint8 (n, h, w, 3) "
                "are preprocessed automatically."
            )
        if t.ndim != 4:
            raise BadInputError(
                f"network input must be 4-D (n, channel, height, width), got shape {tuple(t.shape)}; "
                "for one image use x[None]."
            )
        step = 256
        for i0 in range(0, t.shape[0], step):
            chunk = t[i0 : i0 + step]
            bad = ~torch.isfinite(chunk)
            if bool(bad.any()):
                where = tuple(int(v) for v in torch.nonzero(bad)[0])
                raise BadInputError(
                    f"network input holds {int(bad.sum())} NaN/inf value(s) in stimuli "
                    f"{i0}..{i0 + chunk.shape[0] - 1} (first at {(where[0] + i0, *where[1:])}); "
                    "fix or drop those stimuli."
                )

    def batch(self, i0: int, i1: int):
        if self.tensor is not None:
            return self.tensor[i0:i1]
        from .images import preprocess

        return preprocess(self.images[i0:i1], **self.preprocessing)


# --------------------------------------------------------------------------- layers


def _resolve_layers(model, layers) -> list[tuple[str, Any]]:
    from torch import nn

    named = dict(model.named_modules())
    if layers is None:
        layers = "blocks"
    if isinstance(layers, str) and layers in LAYER_KINDS:
        items: list[Any] = list(layer_names(model, layers))
    elif isinstance(layers, (str, nn.Module)):
        items = [layers]
    else:
        items = list(layers)
    if not items:
        raise BadInputError("no layers requested; pass layer names, 'blocks', or modules.")
    by_id = {id(m): n for n, m in named.items()}
    out: list[tuple[str, Any]] = []
    for item in items:
        if isinstance(item, nn.Module):
            name = by_id.get(id(item))
            if name is None:
                raise BadInputError(
                    f"the {type(item).__name__} module passed in layers is not part of the model; "
                    "pass a submodule of this model (or its name)."
                )
            if name == "":
                raise BadInputError("layers: pass submodules, not the model itself (its output is its last layer).")
        elif isinstance(item, str):
            name = item
            if name not in named or name == "":
                valid = layer_names(model, "all")
                shown = ", ".join(valid[:60]) + (f", ... ({len(valid)} in all)" if len(valid) > 60 else "")
                raise BadInputError(
                    f"unknown layer {item!r}. Valid names (see neurodecode.models.layer_names(model, "
                    f"'all')): {shown}. Blocks: {layer_names(model, 'blocks')}."
                )
        else:
            raise BadInputError(f"layers must hold names or modules, got a {type(item).__name__}.")
        if any(name == n for n, _ in out):
            raise BadInputError(f"layer {name!r} is requested twice.")
        out.append((name, named[name]))
    return out


def _layer_seed(seed: int, name: str) -> int:
    return int(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]).generate_state(1)[0])


def _projection(d: int, k: int, seed: int, device):
    """A fixed random projection from ``d`` to ``k`` dims, drawn once from ``seed``.

    Dense Gaussian ``(d, k)`` with N(0, 1/k) entries when ``d * k <= RP_DENSE_MAX_ENTRIES``;
    otherwise a very sparse matrix (Li, Hastie & Church 2006), returned transposed as a ``(k, d)``
    CSR tensor: each entry is ``+-sqrt(s / k)`` with probability ``1 / (2 s)`` each and 0 otherwise,
    ``s = sqrt(d)``, so that squared norms are preserved in expectation as for the Gaussian one.
    Returns (matrix, is_sparse).
    """
    import warnings

    import torch

    if d * k <= RP_DENSE_MAX_ENTRIES:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        mat = torch.randn(d, k, generator=gen, dtype=torch.float32).div_(np.sqrt(k))
        return mat.to(device), False
    rng = np.random.default_rng(seed)
    s = np.sqrt(d)
    counts = rng.binomial(d, 1.0 / s, size=k)
    cols = np.concatenate([np.sort(rng.choice(d, c, replace=False)) for c in counts])
    values = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=cols.size) * np.float32(np.sqrt(s / k))
    crow = np.concatenate([[0], np.cumsum(counts)])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
        mat = torch.sparse_csr_tensor(
            torch.from_numpy(crow.astype(np.int64)),
            torch.from_numpy(cols.astype(np.int64)),
            torch.from_numpy(values.astype(np.float32)),
            size=(k, d),
            check_invariants=True,
        )
    return mat.to(device), True


class _Layer:
    """Per-layer state: output buffer, pooling objects, bookkeeping."""

    def __init__(self, name: str, module, index: int):
        self.name, self.module, self.index = name, module, index
        self.shape: tuple[int, ...] | None = None
        self.raw_scale = 0.0  # max |output| of the first batch, before pooling
        self.n_in = 0
        self.out: np.ndarray | None = None
        self.stash = None  # pooled batch waiting on the device (non-CPU devices)
        self.calls = 0
        self.attrs: dict[str, Any] = {}
        self.proj = None  # (D, k) dense or (k, D) sparse CSR projection
        self.proj_sparse = False
        self.pca_mode: str | None = None  # "exact" | "incremental"
        self.ipca = None
        self.ipca_buffer: list[np.ndarray] = []
        self.ipca_rows = 0
        self.n_components = 0


class _Run:
    """Everything the hooks need: current batch, pooling, device."""

    def __init__(self, n, pooling, n_components, seed, device, cls_token=None, ident=""):
        self.n, self.pooling, self.n_components, self.seed = n, pooling, n_components, seed
        self.cls_token, self.ident = cls_token, ident
        self.device = device
        self.on_cpu = device.type == "cpu"
        self.dtype = None  # input dtype: that of the model's floating-point weights
        self.i0 = self.i1 = 0
        self.pass_ = 1  # 1: main pass; 2: incremental-PCA transform pass
        self.pending: set[str] = set()
        self.early_stop = False

    # -- first batch: shapes, buffers, projections
    def init_layer(self, layer: _Layer, t) -> None:
        import torch

        layer.shape = tuple(int(s) for s in t.shape[1:])
        if t.numel():
            lo, hi = torch.aminmax(t)  # one pass, no |t| copy
            layer.raw_scale = max(float(hi), -float(lo))
        layer.n_in = int(np.prod(layer.shape)) if layer.shape else 1
        layer.attrs = {"layer": layer.name, "module": type(layer.module).__name__, "shape": list(layer.shape)}
        d = layer.n_in
        if self.pooling == "flatten":
            n_out = d
        elif self.pooling == "avg":
            if t.ndim == 3:
                n_out = layer.shape[1]
                layer.attrs["pooled_over"] = "tokens (dim 1 of a (batch, tokens, dim) output)"
            else:
                n_out = layer.shape[0] if t.ndim > 2 else d
                layer.attrs["pooled_over"] = (
                    "spatial dims (all dims after the channel dim)" if t.ndim > 2 else "nothing"
                )
        elif self.pooling == "cls":
            if t.ndim > 3:
                raise BadInputError(
                    f"pooling='cls': layer {layer.name!r} of {self.ident} outputs a {tuple(layer.shape)} map "
                    "(channels first), which has no class token; use pooling='avg' for it."
                )
            if t.ndim == 3 and self.cls_token is False:
                raise BadInputError(
                    f"pooling='cls': {self.ident} has no class token (token 0 of layer {layer.name!r} is "
                    "an image patch); use pooling='avg' (mean over tokens)."
                )
            n_out = layer.shape[1] if t.ndim == 3 else d
            layer.attrs["pooled_over"] = "tokens: token 0 (class token) kept" if t.ndim == 3 else "nothing"
        elif self.pooling == "random_projection":
            k = self.n_components
            if d <= k:
                n_out = d
                layer.attrs["projection"] = f"none ({d} units <= n_components={k})"
            else:
                n_out = k
                rs = _layer_seed(self.seed, layer.name)
                layer.attrs["projection_seed"] = rs
                layer.proj, layer.proj_sparse = _projection(d, k, rs, self.device)
                layer.attrs["projection"] = "sparse" if layer.proj_sparse else "gaussian"
        else:  # pca
            k = min(self.n_components or min(self.n, d), d)
            layer.n_components = k
            if self.n * d * 4 <= PCA_EXACT_MAX_BYTES:
                layer.pca_mode = "exact"
                n_out = d  # kept flattened, reduced at the end
            elif self.n_components is None:
                raise BadInputError(
                    f"layer {layer.name!r}: {self.n} stimuli x {d} units ({self.n * d * 4 / 2**30:.1f} GiB) "
                    "are too many for an exact PCA in memory; pass n_components (e.g. 100) for an "
                    "incremental PCA, or use pooling='avg' or 'random_projection'."
                )
            else:
                from sklearn.decomposition import IncrementalPCA

                layer.pca_mode = "incremental"
                layer.ipca = IncrementalPCA(n_components=k)
                n_out = k
            layer.attrs["pca"] = layer.pca_mode
        # allocated by torch, not numpy: numpy asks the kernel for transparent huge pages on large
        # arrays, and where the kernel then compacts memory on first touch (THP defrag "madvise",
        # a busy machine) filling a 600 MB output cost 2 s of CPU instead of 0.4 s
        layer.out = torch.empty((self.n, n_out), dtype=torch.float32).numpy()

    def pool(self, layer: _Layer, t):
        b = t.shape[0]
        if self.pooling == "avg" and t.ndim == 3:
            return t.mean(dim=1)
        if self.pooling == "avg" and t.ndim > 3:
            return t.mean(dim=tuple(range(2, t.ndim)))
        if self.pooling == "cls" and t.ndim == 3:
            return t[:, 0]
        flat = t.reshape(b, -1)
        if self.pooling == "random_projection" and layer.proj is not None:
            flat = flat.float()
            if layer.proj_sparse:
                return (layer.proj @ flat.T).T
            return flat @ layer.proj
        return flat

    def collect(self, layer: _Layer, t) -> None:
        import torch

        b = self.i1 - self.i0
        if t.ndim == 0 or t.shape[0] != b:
            raise BadInputError(
                f"layer {layer.name!r} returned shape {tuple(t.shape)} for a batch of {b} stimuli; "
                "only layers whose output keeps the batch as first dim can be recorded."
            )
        if layer.shape is None:
            self.init_layer(layer, t)
        elif tuple(t.shape[1:]) != layer.shape:
            raise BadInputError(
                f"layer {layer.name!r} output changed shape from {layer.shape} to {tuple(t.shape[1:])} "
                "between batches; give all stimuli the same size."
            )
        if layer.pca_mode == "incremental":
            flat = t.reshape(b, -1).float().cpu().numpy()
            if self.pass_ == 1:
                self._ipca_fit(layer, flat)
            else:
                layer.out[self.i0 : self.i1] = layer.ipca.transform(flat)
            return
        if self.pass_ != 1:
            return
        res = self.pool(layer, t)
        if self.on_cpu:
            torch.from_numpy(layer.out[self.i0 : self.i1]).copy_(res)
        else:
            layer.stash = res.to(dtype=torch.float32, copy=True)

    def _ipca_fit(self, layer: _Layer, flat: np.ndarray) -> None:
        if layer.ipca_rows < 0:  # first partial_fit done
            layer.ipca.partial_fit(flat)
            return
        layer.ipca_buffer.append(flat.copy())
        layer.ipca_rows += flat.shape[0]
        if layer.ipca_rows >= layer.n_components or self.i1 == self.n:
            layer.ipca.partial_fit(np.concatenate(layer.ipca_buffer))
            layer.ipca_buffer, layer.ipca_rows = [], -1

    def flush(self, layers: list[_Layer]) -> None:
        """Move stashed device outputs of the current batch into the CPU buffers."""
        for layer in layers:
            if layer.stash is not None:
                layer.out[self.i0 : self.i1] = layer.stash.cpu().numpy()
                layer.stash = None


def _is_constant(out: np.ndarray, raw_scale: float) -> bool:
    """Whether every feature stays within its tolerance of the first stimulus's value.

    The tolerance of feature j is ``CONSTANT_RTOL * |x_0j| + CONSTANT_SCALE_TOL * raw_scale``;
    ``raw_scale`` is the largest absolute value of the layer's output before pooling (first batch),
    so that features that are float rounding noise around a constant (e.g. the mean of a
    LayerNorm output over its normalised dim) count as constant. Stops at the first chunk of rows
    that differs (one pass at most, usually a small part of one).
    """
    import torch

    t = torch.from_numpy(out)
    first = t[0]
    tol = first.abs().mul_(CONSTANT_RTOL).add_(CONSTANT_SCALE_TOL * float(raw_scale))
    step = max(1, 2**16 // max(1, t.shape[1]))  # small chunks: a varying layer stops at the first
    for i0 in range(1, t.shape[0], step):
        if bool(((t[i0 : i0 + step] - first).abs_() > tol).any()):
            return False
    return True


def _first_tensor(output, name: str):
    """The tensor of a module's output: itself, the first tensor of a tuple/list, or of a mapping."""
    import torch
    from collections.abc import Mapping

    if isinstance(output, torch.Tensor):
        return output
    items = output.values() if isinstance(output, Mapping) else output if isinstance(output, (tuple, list)) else ()
    for item in items:
        if isinstance(item, torch.Tensor):
            return item
    raise BadInputError(
        f"layer {name!r} returns a {type(output).__name__} without a tensor in it; record one of its submodules."
    )


def _make_hook(run: _Run, layer: _Layer):
    def hook(module, args, output):
        layer.calls += 1
        if layer.calls > 1:
            raise BadInputError(
                f"layer {layer.name!r} ran {layer.calls} times in one forward pass (a module reused at "
                "several places, e.g. a shared activation); its output is ambiguous: record a module "
                "that runs once (see neurodecode.models.layer_names(model, 'all'))."
            )
        run.collect(layer, _first_tensor(output, layer.name).detach())
        run.pending.discard(layer.name)
        if run.early_stop and not run.pending:
            raise _StopForward

    return hook


def _model_device(model):
    import torch

    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _run_pass(model, stim: _Stimuli, run: _Run, layers: list[_Layer], batch_size: int, bar) -> None:
    import torch

    for i0 in range(0, stim.n, batch_size):
        i1 = min(i0 + batch_size, stim.n)
        run.i0, run.i1 = i0, i1
        x = stim.batch(i0, i1).to(run.device, dtype=run.dtype, non_blocking=True)
        for layer in layers:
            layer.calls = 0
        run.pending = {layer.name for layer in layers}
        # the first batch runs the whole network, to catch modules that run more than once;
        # later batches stop as soon as every requested layer has been recorded
        run.early_stop = i0 > 0
        try:
            model(x)
        except _StopForward:
            pass
        missing = sorted(run.pending)
        if missing:
            raise BadInputError(
                f"layer(s) {missing} did not run in the forward pass, so they have no output; "
                "pick layers that the model's forward() calls."
            )
        if run.device.type != "cpu":
            run.flush(layers)
        bar.update(1)
        del x
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)


def extract(
    model: torch.nn.Module,
    stimuli,
    layers: str | Sequence[str | torch.nn.Module] | torch.nn.Module = "blocks",
    batch_size: int = 32,
    device: str | torch.device | None = None,
    pooling: str | None = None,
    n_components: int | None = None,
    seed: int = 0,
    progress: bool = True,
    model_id: str | None = None,
    preprocessing: dict[str, Any] | str | None = None,
) -> xr.Dataset:
    """Record the activations of layers of a torch network for a set of stimuli.

    Parameters
    ----------
    model : torch.nn.Module
        E.g. from :func:`neurodecode.models.load_model`. It is run in eval mode under
        :func:`torch.inference_mode`; its training flags and device are restored afterwards.
    stimuli : array, tensor, DataArray or list
        uint8 images ``(n, h, w, 3)`` (numpy array or torch tensor), a ``(stimulus, y, x, rgb)``
        DataArray (uint8, or float in [0, 1]), or a list of PIL images / paths: preprocessed batch
        by batch with :func:`neurodecode.models.images.preprocess` and ``preprocessing`` or the
        model's ``nd_preprocessing`` (an error when there is neither). A float ``(n, C, H, W)``
        tensor or array (or a ``(stimulus, channel, y, x)`` DataArray) is taken as pre-made
        network input.
        Coords on ``stimulus`` of a DataArray (e.g. ``category``) are carried to the result.
    layers : "blocks", layer kind, name(s) or module(s)
        ``"blocks"`` (default): every block, see :func:`neurodecode.models.layer_names`; any kind
        of :data:`~neurodecode.models.zoo.LAYER_KINDS`; one or more dotted module names
        (``"block3a"``, ``"head.conv"``); or submodule objects.
    batch_size : int
        Stimuli per forward pass.
    device : str or torch.device, optional
        Where to run (``"cpu"``, ``"cuda"``); default: where the model's weights are.
    pooling : {None, "flatten", "avg", "cls", "random_projection", "pca"}
        Per-layer reduction, see the module docstring; ``None`` = ``"flatten"``. ``"avg"`` is the
        mean over positions: over H, W of a (C, H, W) map, over tokens of a (tokens, dim) output.
    n_components : int, optional
        Output size for ``"random_projection"`` (default :data:`RP_DEFAULT_COMPONENTS`) and ``"pca"``
        (default: all, ``min(n_stimuli, n_units)``); capped at each layer's size.
    seed : int
        Seed of the random projections (combined with each layer's name, so a layer gets the same
        projection whatever other layers are requested).
    progress : bool
        Show a tqdm progress bar over batches.
    model_id : str, optional
        Stored in ``attrs['model']``; default ``model.nd_model_id`` or the class name.
    preprocessing : dict or str, optional
        How to turn images into network input (a dict or a text spec such as ``"imagenet"``, see
        :func:`neurodecode.models.parse_preprocessing`); default: ``model.nd_preprocessing``.
        Not used for pre-made float input.

    Returns
    -------
    xarray.Dataset
        Kind ``activations``: one float32 variable per layer, named after it, with dims
        ``("stimulus", "feature_<layer>")``; coords ``stimulus`` (ids from the input DataArray or
        file names, else 0..n-1) and the input's stimulus coords; attrs ``model``, ``pooling``,
        ``layers``, ``seed``, ``preprocessing`` (JSON text of the preprocessing dict, ``"null"``
        for pre-made input), ``model_source`` (JSON text of ``model.nd_model_source`` when the
        model has one: file path and hash, folder, ...), ``n_components`` when used, and for
        images ``preprocess_size`` (0: images at their own size), ``preprocess_crop``,
        ``preprocess_mean``, ``preprocess_std``; per-variable attrs ``layer``, ``module``,
        ``shape`` (output shape of one stimulus before flattening) and pooling details
        (``pooled_over``, ``projection``, ``pca``, ``explained_variance_ratio``).

    Raises
    ------
    BadInputError
        Unknown layer (the message lists valid names), bad stimuli (wrong shape or dtype, NaN/inf,
        empty), bad pooling arguments, a layer that runs several times or not at all per forward,
        images for a model without preprocessing, a layer whose features are constant across
        stimuli (with at least two stimuli).
    """
    import torch
    from tqdm.auto import tqdm

    from ..datamodel import validate
    from .preprocessing import as_preprocessing

    if not isinstance(model, torch.nn.Module):
        raise BadInputError(f"model must be a torch.nn.Module, got a {type(model).__name__}.")
    pooling = "flatten" if pooling is None else str(pooling)
    if pooling not in POOLINGS:
        raise BadInputError(f"unknown pooling {pooling!r}; use None or one of {POOLINGS}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise BadInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
    batch_size = int(batch_size)
    if n_components is not None:
        if pooling not in ("random_projection", "pca"):
            raise BadInputError(
                f"n_components applies to pooling='random_projection' or 'pca', not {pooling!r}."
            )
        if isinstance(n_components, bool) or int(n_components) != n_components or n_components < 1:
            raise BadInputError(f"n_components must be a positive integer, got {n_components!r}.")
        n_components = int(n_components)
    elif pooling == "random_projection":
        n_components = RP_DEFAULT_COMPONENTS

    ident = model_id or getattr(model, "nd_model_id", None) or type(model).__name__
    if preprocessing is None:
        preprocessing = getattr(model, "nd_preprocessing", None)
    prep = None if preprocessing is None else as_preprocessing(preprocessing, what=f"{ident}: preprocessing")
    stim = _Stimuli(stimuli, prep or {})
    if stim.images is not None and prep is None:
        raise BadInputError(
            f"extract: the model {ident} does not say how to preprocess images (no nd_preprocessing "
            "attribute) and none was given; pass preprocessing=... to extract ('imagenet', 'none', "
            "'mean=..,std=..,size=..' or a dict), or load the model with "
            "neurodecode.models.load_model(spec, preprocessing=...)."
        )
    if pooling == "pca" and n_components is not None and n_components > stim.n:
        raise BadInputError(
            f"pca: n_components={n_components} exceeds the number of stimuli ({stim.n})."
        )
    resolved = _resolve_layers(model, layers)
    layers_ = [_Layer(name, module, i) for i, (name, module) in enumerate(resolved)]

    home = _model_device(model)
    target = home if device is None else torch.device(device)
    if target.type == "cuda" and target.index is None:
        target = torch.device("cuda", torch.cuda.current_device())
    run = _Run(stim.n, pooling, n_components, seed, target, getattr(model, "nd_cls_token", None), ident)
    run.dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    mode = {m: m.training for m in model.modules()}
    handles = []
    n_batches = -(-stim.n // batch_size)
    bar = tqdm(total=n_batches, desc=f"activations {ident}", unit="batch", disable=not progress)
    try:
        if target != home:
            model.to(target)
        model.eval()
        for layer in layers_:
            handles.append(layer.module.register_forward_hook(_make_hook(run, layer)))
        with torch.inference_mode():
            _run_pass(model, stim, run, layers_, batch_size, bar)
            second = [layer for layer in layers_ if layer.pca_mode == "incremental"]
            if second:
                # incremental PCA: transform pass, hooks on the incremental layers only
                for h in handles:
                    h.remove()
                handles = [layer.module.register_forward_hook(_make_hook(run, layer)) for layer in second]
                run.pass_ = 2
                bar.total = 2 * n_batches
                bar.refresh()
                _run_pass(model, stim, run, second, batch_size, bar)
    finally:
        for h in handles:
            h.remove()
        for m, flag in mode.items():
            m.training = flag
        if target != home:
            model.to(home)
        bar.close()

    data_vars = {}
    for layer in layers_:
        out = layer.out
        if layer.pca_mode == "exact":
            from sklearn.decomposition import PCA

            pca = PCA(n_components=layer.n_components, svd_solver="full")
            out = pca.fit_transform(out.astype(np.float64)).astype(np.float32)
            layer.attrs["explained_variance_ratio"] = pca.explained_variance_ratio_.astype(float)
            layer.out = None
        elif layer.pca_mode == "incremental":
            layer.attrs["explained_variance_ratio"] = layer.ipca.explained_variance_ratio_.astype(float)
        if layer.pca_mode:
            layer.attrs["n_components"] = int(out.shape[1])
        if stim.n > 1 and _is_constant(out, layer.raw_scale):
            raise BadInputError(
                f"layer {layer.name!r} of {ident}: its {out.shape[1]} features (pooling={pooling!r}, output "
                f"shape {tuple(layer.shape)}) are (near) constant across the {stim.n} stimuli: they differ "
                "at most at float rounding level, so they carry no information about the stimuli. Check "
                "the pooling (for (batch, tokens, dim) outputs 'avg' is the mean over tokens; try 'cls' "
                "or None) or leave the layer out."
            )
        data_vars[layer.name] = xr.Variable(("stimulus", f"feature_{layer.name}"), out, attrs=layer.attrs)
    coords = {"stimulus": stim.index, **stim.coords}
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update(
        {
            "nd_kind": "activations",
            "model": str(ident),
            "pooling": pooling,
            "layers": [layer.name for layer in layers_],
            "seed": int(seed),
            "device": str(target),
            "torch_version": str(torch.__version__),
        }
    )
    if n_components is not None:
        ds.attrs["n_components"] = int(n_components)
    source = getattr(model, "nd_model_source", None)
    if source is not None:
        ds.attrs["model_source"] = json.dumps(source, sort_keys=True, default=str)
    ds.attrs["preprocessing"] = json.dumps(prep if stim.images is not None else None, sort_keys=True)
    if stim.images is not None:
        ds.attrs.update(
            {
                "preprocess_size": int(prep["size"] or 0),
                "preprocess_crop": float(prep["crop"]),
                "preprocess_mean": [float(v) for v in prep["mean"]],
                "preprocess_std": [float(v) for v in prep["std"]],
            }
        )
    validate(ds, "activations")
    return ds
