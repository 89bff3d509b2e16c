"""``load_model``: a network from the registry, from your own Python file, or from a local transformers folder.

Model specs
-----------
``"efficientnet_lite0"`` (any name of :func:`~neurodecode.models.list_models`)
    A registered model: the zoo (EfficientNet-Lite0/1/2), models registered with
    :func:`~neurodecode.models.register_model`, and those of installed plugins (entry-point group
    ``neurodecode.models``).
``"path/to/my_net.py:make_net"``
    A Python file and a callable in it. The file is imported under a private module name made
    from its path (``neurodecode_user_models.<stem>_<hash>``), with its folder on ``sys.path``
    while it is imported and the factory runs (so it may import helper modules beside it).
    ``make_net`` is called with the keyword arguments it accepts among ``pretrained`` and
    ``seed`` and must return a :class:`torch.nn.Module`.
``"my_package.nets:make_net"``
    The same with an importable module.
``"hf:path/to/folder"``
    A transformers vision model saved in a local folder (``save_pretrained``), loaded with
    ``AutoModel.from_pretrained(folder, local_files_only=True)``: nothing is downloaded. For a
    CLIP model (or any model with a ``vision_model`` and ``get_image_features``) the vision tower
    is used, as a ``CLIPVisionModel``-like module whose blocks are ``vision_model.encoder.layers.N``.

Preprocessing
-------------
Preprocessing is explicit per model, and is taken from the first of:

1. the ``preprocessing`` argument (a dict or a text spec such as ``"imagenet"``, ``"none"``,
   ``"mean=0.5,0.5,0.5,std=0.5,0.5,0.5,size=224"``, see
   :func:`~neurodecode.models.parse_preprocessing`);
2. a ``preprocessing`` (or ``nd_preprocessing``) attribute of the returned module;
3. a ``preprocessing`` attribute of the factory, or the registry entry's preprocessing (the zoo
   knows each model's own);
4. for ``hf:`` folders, the folder's ``preprocessor_config.json`` (``image_mean``, ``image_std``,
   ``size``, ``crop_size``).

A model with none of these is an error that says to pass one (``--preprocess`` on the command
line); there is no silent default.

The returned module
-------------------
In eval mode, on ``device``, with plain attributes:

``nd_model_id``
    The zoo name (``"efficientnet_lite1"``), ``"<file>.py:<factory>"``, ``"<module>:<factory>"``
    or ``"hf:<folder name>"``; untrained controls add ``"-untrained-seed<N>"``.
``nd_preprocessing``
    The preprocessing in normal form (JSON-serialisable dict).
``nd_model_source``
    Where the model came from (JSON-serialisable dict): ``kind`` (``registry``, ``file``,
    ``module``, ``hf``), ``spec``, and ``path`` plus ``sha256`` of the file (file models) or the
    folder and its ``config.json`` hash (``hf:``), ``pretrained``, ``seed``.
``nd_blocks``
    (zoo and ``hf:`` models) the block names used by ``layers="blocks"``.
``nd_cls_token``
    (``hf:`` models) whether token 0 of the blocks' outputs is a class token (for
    ``extract(..., pooling="cls")``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInputError
from .preprocessing import as_preprocessing
from .registry import model_info

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["load_model", "PREPROCESS_HINT"]

#: How to state a preprocessing, quoted by the errors of a model without one.
PREPROCESS_HINT = (
    "pass preprocessing=... to load_model (on the command line: --preprocess imagenet|none|"
    "mean=..,std=..,size=..), or give the factory or the module it returns a `preprocessing` dict "
    "attribute, e.g. {'size': 224, 'crop': 0.875, 'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225]}"
)

_MODULE_PREFIX = "neurodecode_user_models"


def load_model(
    spec: str = "efficientnet_lite0",
    pretrained: bool = True,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    preprocessing: Mapping[str, Any] | str | None = None,
) -> torch.nn.Module:
    """Load a network, in eval mode, with its preprocessing.

    Parameters
    ----------
    spec : str
        A registry name (:func:`~neurodecode.models.list_models`), ``"FILE.py:FACTORY"``,
        ``"package.module:FACTORY"`` or ``"hf:LOCAL_DIR"`` (see the module docstring).
    pretrained : bool
        ``True``: the trained weights (for file and module factories: what the factory returns).
        ``False``: the untrained control, drawn with ``seed`` (the same weights on every call with
        the same seed; the global torch RNG is not touched). Zoo models and factories that take a
        ``pretrained`` argument build it themselves (under ``torch.manual_seed(seed)``); for other
        factories every submodule's ``reset_parameters()`` is called (an error names a module
        that holds weights but has no such method); ``hf:`` models are built from their config
        with the library's initialisation.
    seed : int
        Seed of the untrained control (ignored when ``pretrained``).
    device : str or torch.device, optional
        Where to put the weights (default: where the factory left them, CPU for the zoo).
    preprocessing : dict or str, optional
        The model's input preprocessing; overrides the model's own (see the module docstring).
        Required for models that do not state one.

    Returns
    -------
    torch.nn.Module
        In eval mode, with ``nd_model_id``, ``nd_preprocessing`` and ``nd_model_source``.

    Raises
    ------
    BadInputError
        Unknown registry name (the message lists the registered models), a missing file, folder
        or factory, a file that fails to import, a factory that raises or returns something that
        is not a ``torch.nn.Module``, a model without preprocessing, a bad preprocessing.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise BadInputError(f"model spec must be a non-empty str, got {spec!r}.")
    if isinstance(seed, bool) or int(seed) != seed:
        raise BadInputError(f"seed must be an integer, got {seed!r}.")
    seed, pretrained = int(seed), bool(pretrained)
    spec = spec.strip()
    explicit = None if preprocessing is None else as_preprocessing(preprocessing, what=f"model {spec!r}: preprocessing")
    if spec.lower().startswith("hf:"):
        model, ident, source, own_prep = _load_hf(spec, pretrained, seed)
        where = f"the transformers model {spec!r}"
    else:
        factory, ident, source, own_prep, where, folder = _resolve_factory(spec)
        model = _call_factory(factory, where, pretrained, seed, folder)
    if not pretrained:
        ident = f"{ident}-untrained-seed{seed}"
    prep = explicit
    if prep is None:
        attr = getattr(model, "preprocessing", None)
        if attr is None:
            attr = getattr(model, "nd_preprocessing", None)
        if attr is not None and not callable(attr):
            prep = as_preprocessing(attr, what=f"{where}: the returned module's preprocessing attribute")
        elif own_prep is not None:
            prep = own_prep
    if prep is None:
        raise BadInputError(f"{where} does not say how to preprocess images: {PREPROCESS_HINT}.")
    model.eval()
    if spec.lower().startswith("hf:"):
        _check_hf_input_size(model, prep["size"], where)
    if device is not None:
        model.to(device)
    model.nd_model_id = ident
    model.nd_preprocessing = prep
    model.nd_model_source = {**source, "pretrained": pretrained, "seed": seed}
    return model


# --------------------------------------------------------------------------- factories


def _resolve_factory(spec: str):
    """-> factory, model id, source dict, the factory's own preprocessing, description, sys.path folder."""
    if ":" not in spec:
        entry = model_info(spec)
        return entry.factory, entry.name, {"kind": "registry", "spec": entry.name}, entry.preprocessing, (
            f"model {entry.name!r}"
        ), None
    target, _, attr = spec.rpartition(":")
    attr = attr.strip()
    if not target or not attr:
        raise BadInputError(
            f"model spec {spec!r}: write 'FILE.py:FACTORY' or 'package.module:FACTORY' (both parts non-empty)."
        )
    path = Path(target).expanduser()
    if target.endswith(".py") or path.suffix == ".py" or path.exists() or "/" in target or "\\" in target:
        module, folder, digest = _import_file(path, spec)
        ident = f"{path.name}:{attr}"
        source = {"kind": "file", "spec": spec, "path": str(path.resolve()), "sha256": digest}
        where = f"the factory {attr!r} of {str(path)!r}"
    else:
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", target):
            raise BadInputError(
                f"model spec {spec!r}: {target!r} is neither a .py file nor a module name "
                "(write 'FILE.py:FACTORY' or 'package.module:FACTORY')."
            )
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise BadInputError(
                f"model spec {spec!r}: cannot import the module {target!r} ({err}); install it, or "
                "give the path of the .py file ('path/to/file.py:FACTORY')."
            ) from err
        except Exception as err:  # noqa: BLE001 - report any import-time failure with the module's name
            raise BadInputError(
                f"model spec {spec!r}: importing {target!r} failed: {type(err).__name__}: {err}"
            ) from err
        folder = None
        ident = f"{target}:{attr}"
        source = {"kind": "module", "spec": spec, "module": target}
        where = f"the factory {attr!r} of module {target!r}"
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            found = sorted(
                n for n, v in vars(module).items()
                if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
            )
            raise BadInputError(
                f"{where}: there is no {attr!r} in it; callables defined there: {found or 'none'}."
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise BadInputError(f"{where}: {attr!r} is a {type(obj).__name__}, not a callable that returns a model.")
    own = getattr(obj, "preprocessing", None)
    own_prep = None if own is None else as_preprocessing(own, what=f"{where}: its preprocessing attribute")
    return obj, ident, source, own_prep, where, folder


def _import_file(path: Path, spec: str):
    if not path.is_file():
        raise BadInputError(
            f"model spec {spec!r}: the file {str(path)!r} does not exist"
            + (" (it is a folder; for a transformers folder write 'hf:DIR')" if path.is_dir() else "")
            + "."
        )
    if path.suffix != ".py":
        raise BadInputError(f"model spec {spec!r}: {str(path)!r} is not a Python (.py) file.")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    resolved = path.resolve()
    stem = re.sub(r"\W", "_", resolved.stem) or "model"
    name = f"{_MODULE_PREFIX}.{stem}_{hashlib.sha256(str(resolved).encode()).hexdigest()[:12]}"
    cached = sys.modules.get(name)
    if cached is not None and getattr(cached, "__nd_sha256__", None) == digest:
        return cached, resolved.parent, digest
    if _MODULE_PREFIX not in sys.modules:
        import types

        pkg = types.ModuleType(_MODULE_PREFIX)
        pkg.__path__ = []
        sys.modules[_MODULE_PREFIX] = pkg
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    if module_spec is None or module_spec.loader is None:  # pragma: no cover - .py files always have a loader
        raise BadInputError(f"model spec {spec!r}: cannot import {str(path)!r}.")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        with _on_path(resolved.parent):
            module_spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - any failure at import is the user's file
        sys.modules.pop(name, None)
        raise BadInputError(
            f"importing the model file {str(path)!r} failed: {type(err).__name__}: {err}. Fix the file "
            "(run `python FILE.py` to see the full traceback)."
        ) from err
    module.__nd_sha256__ = digest
    return module, resolved.parent, digest


class _on_path:
    """Put ``folder`` first on ``sys.path`` for the duration of a with-block."""

    def __init__(self, folder: Path | None):
        self.folder = None if folder is None else str(folder)
        self.added = False

    def __enter__(self):
        if self.folder is not None and self.folder not in sys.path:
            sys.path.insert(0, self.folder)
            self.added = True

    def __exit__(self, *exc):
        if self.added:
            try:
                sys.path.remove(self.folder)
            except ValueError:  # pragma: no cover - the user's code removed it already
                pass


def _call_factory(factory: Callable[..., Any], where: str, pretrained: bool, seed: int, folder):
    import torch

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins without a signature
        params = {}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs: dict[str, Any] = {}
    if "pretrained" in params or var_kw:
        kwargs["pretrained"] = pretrained
    if "seed" in params or var_kw:
        kwargs["seed"] = seed
    try:
        with _on_path(folder), torch.random.fork_rng(devices=[]):
            if not pretrained:
                torch.manual_seed(seed)
            model = factory(**kwargs)
    except BadInputError:
        raise
    except Exception as err:  # noqa: BLE001 - report the user's error with the factory's name
        raise BadInputError(f"{where} raised {type(err).__name__}: {err}") from err
    if not isinstance(model, torch.nn.Module):
        raise BadInputError(
            f"{where} returned a {type(model).__module__}.{type(model).__qualname__}, not a torch.nn.Module; "
            "the factory must return the network (an nn.Module)."
        )
    if not pretrained and "pretrained" not in kwargs:
        _reinitialise(model, seed, where)
    return model


def _reinitialise(model, seed: int, where: str) -> None:
    """The untrained control of a module: every submodule's ``reset_parameters()``, seeded."""
    import torch

    bare = [
        name or type(model).__name__
        for name, m in model.named_modules()
        if any(True for _ in m.parameters(recurse=False)) and not callable(getattr(m, "reset_parameters", None))
    ]
    if bare:
        raise BadInputError(
            f"{where}: cannot make an untrained control: {bare[:5]} hold weights but have no "
            "reset_parameters(); give the factory a `pretrained` argument and build the untrained "
            "network yourself when it is False."
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            for m in model.modules():
                fn = getattr(m, "reset_parameters", None)
                if callable(fn) and any(True for _ in m.parameters(recurse=False)):
                    fn()
                elif callable(getattr(m, "reset_running_stats", None)):
                    m.reset_running_stats()


# --------------------------------------------------------------------------- transformers


def _load_hf(spec: str, pretrained: bool, seed: int):
    folder = Path(spec[3:].strip()).expanduser()
    if not spec[3:].strip():
        raise BadInputError("model spec 'hf:' needs a folder: 'hf:path/to/saved_model'.")
    if not folder.is_dir():
        raise BadInputError(
            f"model spec {spec!r}: the folder {str(folder)!r} does not exist. 'hf:' loads a transformers "
            "model saved in a local folder (model.save_pretrained(folder)); nothing is downloaded."
        )
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise BadInputError(
            f"model spec {spec!r}: {str(folder)!r} has no config.json, so it is not a saved transformers "
            "model; save one with model.save_pretrained(folder) (and its image processor with "
            "processor.save_pretrained(folder))."
        )
    import torch

    try:
        from transformers import AutoConfig, AutoModel
    except ImportError as err:  # pragma: no cover - transformers is a dependency
        raise BadInputError(f"'hf:' models need the transformers package ({err}).") from err
    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        if pretrained:
            net = AutoModel.from_pretrained(str(folder), local_files_only=True)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net = AutoModel.from_config(config)
    except Exception as err:  # noqa: BLE001 - missing weights, unknown model type, ...
        raise BadInputError(
            f"model spec {spec!r}: transformers could not load the model in {str(folder)!r}: "
            f"{type(err).__name__}: {err}"
        ) from err
    net = _vision_tower(net, spec)
    blocks = _hf_blocks(net, config)
    if blocks:
        net.nd_blocks = tuple(blocks)
    names = [n for n, _ in net.named_parameters()]
    net.nd_cls_token = any(("cls_token" in n) or ("class_embedding" in n) for n in names)
    prep = _hf_preprocessing(folder, config, spec)
    digest = hashlib.sha256(config_file.read_bytes()).hexdigest()
    source = {"kind": "hf", "spec": spec, "path": str(folder.resolve()), "config_sha256": digest,
              "model_type": str(getattr(config, "model_type", ""))}
    return net, f"hf:{folder.resolve().name}", source, prep


def _check_hf_input_size(net, size: int | None, where: str) -> None:
    """A preprocessing size other than the config's image size must run (ViT and CLIP need the exact size)."""
    import torch

    config = getattr(net, "config", None)
    expected = getattr(getattr(config, "vision_config", config), "image_size", None)
    if size is None or expected is None or (expected if isinstance(expected, int) else expected[0]) == size:
        return
    channels = int(getattr(getattr(config, "vision_config", config), "num_channels", 3))
    dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()), torch.float32)
    try:
        with torch.inference_mode():
            net(torch.zeros(1, channels, size, size, dtype=dtype))
    except Exception as err:  # noqa: BLE001 - e.g. ViT's "Input image size doesn't match model"
        raise BadInputError(
            f"{where} takes {expected} px images (config image_size) and fails on the {size} px input of "
            f"the preprocessing ({type(err).__name__}: {err}); use size={expected}."
        ) from err


def _vision_tower(net, spec: str):
    """A CLIP-like dual encoder -> its vision tower (named like ``CLIPVisionModel``); others unchanged."""
    from torch import nn

    tower = getattr(net, "vision_model", None)
    if isinstance(tower, nn.Module) and hasattr(net, "get_image_features"):

        class VisionTower(nn.Module):
            """The vision tower of a dual image-text encoder; forward(pixel_values)."""

            def __init__(self, vision_model):
                super().__init__()
                self.vision_model = vision_model

            def forward(self, pixel_values):
                return self.vision_model(pixel_values=pixel_values)

        wrapped = VisionTower(tower)
        wrapped.config = getattr(net.config, "vision_config", net.config)
        return wrapped
    if getattr(net, "main_input_name", "pixel_values") != "pixel_values":
        raise BadInputError(
            f"model spec {spec!r}: the model ({type(net).__name__}) does not take images (its input "
            f"is {net.main_input_name!r}); 'hf:' expects a vision model such as ViT or CLIP."
        )
    return net


def _hf_blocks(net, config) -> list[str]:
    """The blocks that run: the outermost ModuleList whose every child runs once in a forward pass.

    Found by one forward pass of a blank image with counting hooks (so that modules that exist
    but are skipped, e.g. a text tower, do not count).
    """
    import torch
    from torch import nn

    lists = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    if not lists:
        return []
    vision = getattr(config, "vision_config", config)
    size = getattr(vision, "image_size", 224)
    size = size if isinstance(size, int) else int(size[0])
    channels = int(getattr(vision, "num_channels", 3))
    counts: dict[str, int] = {}
    handles = []

    def counter(name):
        def hook(module, args, output):
            counts[name] = counts.get(name, 0) + 1

        return hook

    for lname, lst in lists:
        for i, child in enumerate(lst):
            handles.append(child.register_forward_hook(counter(f"{lname}.{i}")))
    dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()), torch.float32)
    try:
        with torch.inference_mode():
            net.eval()
            net(torch.zeros(1, channels, size, size, dtype=dtype))
    except Exception:  # noqa: BLE001 - no probe, no block list: extract falls back to all modules
        return []
    finally:
        for h in handles:
            h.remove()
    ran = [(n, m) for n, m in lists if all(counts.get(f"{n}.{i}", 0) == 1 for i in range(len(m)))]
    if not ran:
        return []
    name, lst = min(ran, key=lambda item: (item[0].count("."), -len(item[1])))
    return [f"{name}.{i}" for i in range(len(lst))]


def _hf_preprocessing(folder: Path, config, spec: str) -> dict[str, Any] | None:
    """The preprocessing of a saved transformers image processor, or None when the folder has none."""
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return None
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise BadInputError(f"model spec {spec!r}: cannot read {str(path)!r}: {err}") from err
    what = f"{str(path)!r}"
    if cfg.get("do_rescale", True) is False or abs(float(cfg.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-9:
        raise BadInputError(
            f"{what}: the image processor does not rescale pixels by 1/255, which neurodecode's "
            f"preprocessing cannot reproduce; {PREPROCESS_HINT}."
        )

    def side(value):
        if value is None:
            return None
        if isinstance(value, (int, float)):
            return int(value)
        if isinstance(value, Mapping):
            if "shortest_edge" in value:
                return int(value["shortest_edge"])
            if "height" in value and "width" in value:
                if int(value["height"]) != int(value["width"]):
                    raise BadInputError(
                        f"{what}: non-square input {value}; neurodecode's preprocessing makes square "
                        f"inputs; {PREPROCESS_HINT}."
                    )
                return int(value["height"])
        raise BadInputError(f"{what}: cannot read the size {value!r}; {PREPROCESS_HINT}.")

    vision = getattr(config, "vision_config", config)
    resize = side(cfg.get("size")) if cfg.get("do_resize", True) else None
    crop_side = side(cfg.get("crop_size")) if cfg.get("do_center_crop", False) else None
    size = crop_side or resize or getattr(vision, "image_size", None)
    crop = 1.0
    if crop_side and resize and resize > crop_side:
        crop = crop_side / resize
    elif not crop_side and resize and cfg.get("crop_pct") and resize < 384:
        crop = float(cfg["crop_pct"])  # ConvNeXt-style: shorter side to size / crop_pct, centre crop
    if cfg.get("do_normalize", True):
        mean, std = cfg.get("image_mean", [0.5, 0.5, 0.5]), cfg.get("image_std", [0.5, 0.5, 0.5])
    else:
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    return as_preprocessing({"size": size, "crop": crop, "mean": mean, "std": std}, what=what)
