"""Layers of networks vs brain regions: layer RDMs, brain RDMs from any input, stimulus matching, comparison.

The data-agnostic core of ``neurodecode compare`` and of the ``rsa.*`` pipeline ops::

    from neurodecode import analysis, loaders

    images = loaders.read_images("my_stimuli/")                     # (stimulus, y, x, rgb), ids from file names
    brain = loaders.read_rdms("rdms.npy", stimulus_ids="ids.txt")    # (rdm, stimulus, stimulus_)
    layers = analysis.layer_rdms(images, ["efficientnet_lite0", {"name": "my_net.py:make", "preprocessing": "imagenet"}])
    (layers, brain), matched = analysis.match_stimuli([layers, brain], names=["images", "brain"])
    scores = analysis.compare_layers(layers, brain, method="spearman", n_boot=1000)
    analysis.best_layers(scores)                                      # a table: model, region, layer, score, CI, ceiling

Brain inputs are RDM stacks with ``region`` and ``subject`` coords on ``rdm``, or anything
:func:`brain_rdms` turns into one: responses (``stimulus`` or ``trial`` x ``neuroid``, with ``region``
/ ``subject`` coords on ``neuroid``) and EEG/MEG epochs (``trial``, ``channel``, ``time`` with a
``stimulus`` coord on ``trial``: one RDM per time point).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError

__all__ = [
    "layer_rdms",
    "model_specs",
    "brain_rdms",
    "match_stimuli",
    "combine_brain",
    "compare_layers",
    "compare_layers_over_time",
    "layer_activations",
    "compare_layer_activations",
    "best_layers",
    "heldout_layer_assignment",
    "trsa_layers",
]

logger = logging.getLogger("neurodecode.analysis")

_SPEC_KEYS = {"name", "pretrained", "label", "seed", "preprocessing"}


# --------------------------------------------------------------------------- models -> layer RDMs


def _default_label(name: str, pretrained: bool) -> str:
    if name.startswith("hf:"):
        base = Path(name[3:]).name or "hf_model"
    elif ":" in name:
        base = name.rsplit(":", 1)[1]
    else:
        base = name
    return f"{base}_{'trained' if pretrained else 'untrained'}"


def model_specs(models: Sequence[Any]) -> list[dict[str, Any]]:
    """Normalise model specs: ``"name"`` or ``{name, pretrained, label, seed, preprocessing}``.

    ``name`` is a zoo name (:func:`neurodecode.models.list_models`), ``"FILE.py:FACTORY"``,
    ``"module:FACTORY"`` or ``"hf:LOCAL_DIR"``; labels default to ``<name>_trained`` /
    ``<name>_untrained`` and must be unique.
    """
    if isinstance(models, (str, dict)):
        models = [models]
    specs = []
    for i, spec in enumerate(models):
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict) or "name" not in spec:
            raise BadInputError(f"models[{i}] needs a 'name' (a zoo name such as efficientnet_lite0, "
                                "FILE.py:FACTORY or hf:LOCAL_DIR), got {spec!r}.")
        unknown = set(spec) - _SPEC_KEYS
        if unknown:
            raise BadInputError(f"models[{i}] has unknown key(s) {sorted(unknown)}; use {sorted(_SPEC_KEYS)}.")
        pretrained = bool(spec.get("pretrained", True))
        name = str(spec["name"])
        label = str(spec.get("label") or _default_label(name, pretrained))
        specs.append({"name": name, "pretrained": pretrained, "label": label, "seed": int(spec.get("seed", 0)),
                      "preprocessing": spec.get("preprocessing")})
    labels = [s["label"] for s in specs]
    if len(set(labels)) != len(labels):
        raise BadInputError(f"model labels must be unique, got {labels}; give each model a `label`.")
    if not specs:
        raise BadInputError("no model given; name at least one (e.g. efficientnet_lite0).")
    return specs


def _load(spec: dict[str, Any], device: Any) -> Any:
    from .. import models as zoo

    kwargs: dict[str, Any] = {"pretrained": spec["pretrained"], "seed": spec["seed"], "device": device}
    if spec.get("preprocessing") is not None:
        kwargs["preprocessing"] = spec["preprocessing"]
    return zoo.load_model(spec["name"], **kwargs)


def layer_rdms(
    images: xr.DataArray,
    models: Sequence[Any],
    *,
    layers: str | list[str] = "blocks",
    pooling: str | None = "flatten",
    method: str = "correlation",
    batch_size: int = 32,
    n_sim: int = 0,
    sim_units: int = 200,
    sim_noise: float = 1.0,
    seed: int = 0,
    device: str | None = None,
    progress: bool = False,
) -> tuple[xr.DataArray, list[dict[str, Any]]]:
    """RDMs of every requested layer of every model on ``images`` (and simulated measurements).

    Parameters
    ----------
    images : DataArray (stimulus, y, x, rgb)
        uint8 images with stimulus ids (e.g. :func:`neurodecode.loaders.read_images`).
    models : list of str or dict
        See :func:`model_specs`.
    layers : "blocks" or list of str
        Layers to record (the same for every model).
    pooling : str or None
        Pooling of the activations before the RDM (``flatten`` keeps every unit).
    method : str
        RDM method (:func:`neurodecode.analysis.rdm`).
    n_sim, sim_units, sim_noise : int, int, float
        For each layer of the *first* model, ``n_sim`` simulated measurements: ``sim_units`` randomly
        drawn units plus Gaussian noise of ``sim_noise`` times each unit's standard deviation
        (``kind="simulated"``): data with a known right answer for the topological RSA sweep.
    seed : int
        Seed of the simulated measurements.

    Returns
    -------
    rdms : DataArray (rdm, stimulus, stimulus_)
        Coords on ``rdm``: ``model`` (label), ``layer``, ``depth``, ``kind`` (full / simulated), ``sim``.
    info : list of dict
        Per model: label, model id, preprocessing, layer names and feature counts (for the manifest).
    """
    from .rdm import rdm as compute_rdm

    specs = model_specs(models)
    if "stimulus" not in images.dims:
        raise BadInputError(f"images must have a 'stimulus' dim, got dims {list(images.dims)}; read them with "
                            "neurodecode.loaders.read_images.")
    rng = np.random.default_rng(seed)
    stacks, info = [], []
    for k, spec in enumerate(specs):
        from .. import models as zoo

        net = _load(spec, device)
        acts = zoo.extract(net, images, layers=layers, batch_size=batch_size, device=device, pooling=pooling,
                           progress=progress, model_id=spec["label"])
        names = [str(v) for v in acts.data_vars]
        full = compute_rdm({name: acts[name] for name in names}, method)
        full = full.assign_coords(model=("rdm", [spec["label"]] * len(names)), layer=("rdm", names),
                                  kind=("rdm", ["full"] * len(names)), sim=("rdm", [-1] * len(names)),
                                  depth=("rdm", np.arange(len(names))))
        stacks.append(full)
        info.append(_model_info(spec, net, acts))
        if k == 0 and n_sim > 0:
            sims: dict[str, Any] = {}
            meta: dict[str, list[Any]] = {"layer": [], "sim": []}
            for name in names:
                x = np.asarray(acts[name].values, dtype=np.float64)
                sd = x.std(axis=0)
                alive = np.flatnonzero(sd > 0)
                if alive.size == 0:
                    raise BadInputError(f"layer {name!r} of {spec['label']} is constant across stimuli.")
                for s in range(n_sim):
                    pick = rng.choice(alive, size=min(sim_units, alive.size), replace=False)
                    meas = x[:, pick] + rng.normal(size=(x.shape[0], pick.size)) * sim_noise * sd[pick]
                    sims[f"{name}#sim{s}"] = xr.DataArray(meas, dims=("stimulus", "unit"),
                                                         coords={"stimulus": acts["stimulus"].values})
                    meta["layer"].append(name)
                    meta["sim"].append(s)
            sim = compute_rdm(sims, method)
            sim = sim.assign_coords(model=("rdm", [spec["label"]] * len(meta["layer"])),
                                    layer=("rdm", meta["layer"]), kind=("rdm", ["simulated"] * len(meta["layer"])),
                                    sim=("rdm", meta["sim"]), depth=("rdm", [names.index(n) for n in meta["layer"]]))
            stacks.append(sim)
        del acts, net
    out = xr.concat(stacks, dim="rdm", coords="minimal", compat="override", combine_attrs="override")
    out = out.drop_vars([c for c in ("name", "n_features") if c in out.coords and c != "rdm"], errors="ignore")
    out = out.assign_coords(rdm=np.arange(out.sizes["rdm"]))
    for coord in images.coords:
        if images[coord].dims == ("stimulus",) and coord not in ("stimulus", "path"):
            out = out.assign_coords({coord: ("stimulus", images[coord].values)})
    out.attrs.update({"nd_kind": "rdm", "method": method, "pooling": str(pooling),
                      "sim_units": sim_units, "sim_noise": sim_noise, "n_sim": n_sim, "seed": seed})
    return out, info


def _model_info(spec: dict[str, Any], net: Any, acts: xr.Dataset) -> dict[str, Any]:
    """What the manifest records of one model: label, id, preprocessing, layer sizes."""
    return {"label": spec["label"], "name": spec["name"], "pretrained": spec["pretrained"], "seed": spec["seed"],
            "model_id": str(getattr(net, "nd_model_id", spec["name"])),
            "preprocessing": _jsonable(getattr(net, "nd_preprocessing", spec.get("preprocessing"))),
            "layers": {str(n): int(acts[n].shape[1]) for n in acts.data_vars}}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# --------------------------------------------------------------------------- brain inputs -> RDM stacks


def _is_rdm_stack(x: Any) -> bool:
    return isinstance(x, xr.DataArray) and set(x.dims) == {"rdm", "stimulus", "stimulus_"}


def _as_str_ids(values: Any) -> np.ndarray:
    return np.asarray([str(v) for v in np.asarray(values).tolist()], dtype=object)


def _per_stimulus(x: xr.DataArray, what: str) -> xr.DataArray:
    """(trial, ...) with a stimulus coord -> (stimulus, ...) means; (stimulus, ...) unchanged."""
    if "stimulus" in x.dims:
        return x
    if "trial" in x.dims and "stimulus" in x.coords and x["stimulus"].dims == ("trial",):
        ids = _as_str_ids(x["stimulus"].values)
        counts = pd.Series(ids).value_counts()
        logger.info("%s: averaging %d trials into %d stimuli (%d to %d trials each)", what, x.sizes["trial"],
                    counts.size, counts.min(), counts.max())
        x = x.assign_coords(stimulus=("trial", ids))
        return x.groupby("stimulus").mean("trial")
    raise BadInputError(f"{what}: needs a 'stimulus' dim, or a 'trial' dim with a 'stimulus' coord naming the "
                        f"stimulus of each trial; got dims {list(x.dims)} and coords {list(x.coords)}.")


def brain_rdms(brain: Any, *, method: str = "correlation", region: str | None = None) -> xr.DataArray:
    """An RDM stack with ``region`` and ``subject`` coords on ``rdm`` from any brain input.

    Parameters
    ----------
    brain : DataArray
        * an RDM stack (rdm, stimulus, stimulus_): kept; ``region`` (default ``region`` argument, the
          ``region`` attr or ``"brain"``) and ``subject`` (default: one subject per RDM) coords added
          when missing;
        * responses (``stimulus`` or ``trial`` x ``neuroid``/any feature dim): one RDM per region and
          subject (coords ``region`` / ``subject`` on the feature dim when present), trials of the same
          stimulus averaged;
        * epochs (``trial`` or ``stimulus``, ``channel``, ``time``): one RDM over channels per time
          point (coord ``time`` on ``rdm``), trials of the same stimulus averaged.
    method : str
        RDM method for responses and epochs (:func:`neurodecode.analysis.rdm`).
    region : str, optional
        Region name when the input does not carry one.

    Raises
    ------
    BadInputError
        For other shapes, NaN/inf values, or responses without stimulus labels.
    """
    from .rdm import rdm as compute_rdm

    if isinstance(brain, xr.Dataset):
        if len(brain.data_vars) != 1:
            raise BadInputError(f"brain: a Dataset with {len(brain.data_vars)} variables; pass one DataArray "
                                f"(one of {list(brain.data_vars)}).")
        brain = brain[next(iter(brain.data_vars))]
    if not isinstance(brain, xr.DataArray):
        raise BadInputError(f"brain: expected an xarray DataArray (RDM stack, responses or epochs), got "
                            f"{type(brain).__name__}; read files with neurodecode.loaders.read_brain.")
    default_region = str(region or brain.attrs.get("region") or brain.name or "brain")
    if _is_rdm_stack(brain):
        out = brain.transpose("rdm", "stimulus", "stimulus_")
        values = np.asarray(out.values, dtype=np.float64)
        if not np.isfinite(values).all():
            raise BadInputError("brain: the RDM stack holds NaN or inf values; remove or fill them first.")
        n = out.sizes["rdm"]
        if "region" not in out.coords:
            out = out.assign_coords(region=("rdm", [default_region] * n))
        if "subject" not in out.coords:
            out = out.assign_coords(subject=("rdm", [str(v) for v in out["rdm"].values]))
        out = out.assign_coords(region=("rdm", _as_str_ids(out["region"].values)),
                                subject=("rdm", _as_str_ids(out["subject"].values)))
        out.attrs.setdefault("nd_kind", "rdm")
        out.attrs.setdefault("method", method)
        return out
    values = np.asarray(brain.values)
    if values.dtype.kind not in "fiu" or not np.isfinite(values.astype(float)).all():
        raise BadInputError("brain: the responses hold NaN, inf or non-numeric values; clean them first.")
    if {"channel", "time"} <= set(brain.dims) and brain.ndim == 3:
        ep = _per_stimulus(brain, "brain epochs").transpose("stimulus", "time", "channel")
        times = np.asarray(ep["time"].values, dtype=float)
        stack = {f"t{i}": ep.isel(time=i).drop_vars("time") for i in range(times.size)}
        out = compute_rdm(stack, method)
        out = out.assign_coords(region=("rdm", [default_region] * times.size),
                                subject=("rdm", [str(brain.attrs.get("subject", "1"))] * times.size),
                                time=("rdm", times))
        out.attrs.update({"nd_kind": "rdm", "method": method, "time_resolved": 1})
        return out
    if brain.ndim != 2:
        raise BadInputError(f"brain: expected an RDM stack (rdm, stimulus, stimulus_), responses (stimulus or "
                            f"trial, neuroid) or epochs (trial, channel, time); got dims {list(brain.dims)}.")
    resp, groups = _response_groups(brain, region)
    feature = resp.dims[1]
    parts, labels = {}, []
    for reg, sub, idx in groups:
        if idx.size < 2:
            raise BadInputError(f"brain: region {reg!r} of subject {sub!r} has {idx.size} {feature}(s); an RDM "
                                "needs at least 2 response dimensions.")
        parts[f"{reg}/{sub}"] = resp.isel({feature: idx})
        labels.append((reg, sub))
    out = compute_rdm(parts, method)
    out = out.assign_coords(region=("rdm", [r for r, _ in labels]), subject=("rdm", [s for _, s in labels]))
    out.attrs.update({"nd_kind": "rdm", "method": method})
    return out


def match_stimuli(stacks: Sequence[xr.DataArray], *, names: Sequence[str] | None = None
                  ) -> tuple[list[xr.DataArray], pd.DataFrame]:
    """Restrict RDM stacks (or image/response arrays with a ``stimulus`` dim) to their common stimuli.

    Stimuli are matched by id (compared as strings); the order is that of the first input. Every
    output carries the ids of the first input as its ``stimulus`` (and ``stimulus_``) coord.

    Returns
    -------
    matched : list of DataArray
    report : DataFrame
        Per input: ``input``, ``n_stimuli``, ``n_used``, ``n_dropped`` and a few dropped ids.

    Raises
    ------
    BadInputError
        For duplicated ids within an input, or when the inputs share no stimulus (the message shows a
        few ids of each side).
    """
    names = list(names or [f"input{i}" for i in range(len(stacks))])
    ids = []
    for name, x in zip(names, stacks):
        if "stimulus" not in x.dims:
            raise BadInputError(f"{name}: has no 'stimulus' dim (dims {list(x.dims)}).")
        sid = _as_str_ids(x["stimulus"].values)
        dup = pd.Index(sid)[pd.Index(sid).duplicated()].unique().tolist()
        if dup:
            raise BadInputError(f"{name}: duplicated stimulus ids {dup[:5]}; every stimulus must appear once.")
        ids.append(sid)
    common = set(ids[0])
    for sid in ids[1:]:
        common &= set(sid)
    if not common:
        shown = "; ".join(f"{n}: {', '.join(map(str, s[:4]))}{', ...' if len(s) > 4 else ''}" for n, s in zip(names, ids))
        raise BadInputError(f"the inputs share no stimulus id ({shown}). Stimulus ids are image paths relative to "
                            "the stimulus folder without suffix (e.g. faces/face01), or the lines of the "
                            "--stimulus-ids file; make them agree.")
    order = [s for s in ids[0] if s in common]
    rows, out = [], []
    for name, x, sid in zip(names, stacks, ids):
        pos = {s: i for i, s in enumerate(sid)}
        take = [pos[s] for s in order]
        sub = x.isel(stimulus=take)
        sub = sub.assign_coords(stimulus=np.asarray(order, dtype=object))
        if "stimulus_" in x.dims:
            sub = sub.isel(stimulus_=take).assign_coords(stimulus_=np.asarray(order, dtype=object))
        dropped = [s for s in sid if s not in common]
        rows.append({"input": name, "n_stimuli": len(sid), "n_used": len(order), "n_dropped": len(dropped),
                     "dropped_examples": ", ".join(dropped[:5])})
        if dropped:
            logger.info("%s: %d of %d stimuli have no match in the other inputs and are left out (e.g. %s)",
                        name, len(dropped), len(sid), ", ".join(dropped[:3]))
        out.append(sub)
    if len(order) < 4:
        raise BadInputError(f"only {len(order)} stimuli are common to all inputs; RSA needs at least 4.")
    return out, pd.DataFrame(rows)


def combine_brain(stacks: Sequence[xr.DataArray]) -> xr.DataArray:
    """Concatenate brain RDM stacks over the same stimuli (after :func:`match_stimuli`) along ``rdm``.

    Raises
    ------
    BadInputError
        When two inputs hold the same (region, subject) pair (the same recording given twice).
    """
    stacks = list(stacks)
    if len(stacks) == 1:
        return stacks[0]
    seen: dict[tuple[str, str], int] = {}
    for i, s in enumerate(stacks):
        for pair in zip(_as_str_ids(s["region"].values).tolist(), _as_str_ids(s["subject"].values).tolist()):
            if pair in seen:
                raise BadInputError(f"brain inputs {seen[pair] + 1} and {i + 1} both hold region {pair[0]!r} of "
                                    f"subject {pair[1]!r}; the same data given twice? Rename the region "
                                    "(--rdm-meta / region=) or drop one input.")
            seen[pair] = i
    keep = ["region", "subject", *(["time"] if all("time" in s.coords for s in stacks) else [])]
    parts = [s.drop_vars([c for c in s.coords if s[c].dims == ("rdm",) and c not in keep]) for s in stacks]
    parts = [p.drop_vars("rdm") if "rdm" in p.coords else p for p in parts]
    out = xr.concat(parts, dim="rdm", coords="minimal", compat="override", combine_attrs="drop_conflicts")
    out = out.assign_coords(rdm=np.arange(out.sizes["rdm"]))
    out.attrs.update({"nd_kind": "rdm"})
    return out


# --------------------------------------------------------------------------- the comparison


def _groups(brain: xr.DataArray) -> list[str]:
    return list(dict.fromkeys(_as_str_ids(brain["region"].values).tolist()))


def compare_layers(
    layer_rdms: xr.DataArray,
    brain: xr.DataArray,
    *,
    method: str = "spearman",
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    alpha: float = 0.05,
    regions: Sequence[str] | None = None,
    heldout_splits: int = 100,
) -> xr.Dataset:
    """RSA of every layer of every model with every brain region: scores, CIs, ceilings, tests, best layers.

    Parameters
    ----------
    layer_rdms : DataArray (rdm, stimulus, stimulus_)
        Layer RDMs with ``model`` and ``layer`` coords (:func:`layer_rdms`); ``kind="simulated"`` RDMs
        are ignored.
    brain : DataArray (rdm, stimulus, stimulus_)
        Brain RDMs with ``region`` and ``subject`` coords (:func:`brain_rdms`), over the same stimuli
        (:func:`match_stimuli`).
    method : str
        RDM comparison method (:data:`neurodecode.analysis.COMPARE_METHODS`).
    n_boot, ci, seed : int, float, int
        Bootstrap: stimuli and subjects resampled together for regions with several subjects, stimuli
        only for a single RDM; percentile CIs of coverage ``ci``; region ``r`` uses seed ``seed + r``.
    alpha : float
        FDR level (Benjamini-Hochberg over every model, layer and region).
    regions : list of str, optional
        Regions to use, in this order (default: every region, in order of appearance).
    heldout_splits : int
        Repeated random halvings of the stimuli for the held-out layer assignment
        (:func:`heldout_layer_assignment`); 0 skips it.

    Returns
    -------
    Dataset
        ``score``, ``ci_low``, ``ci_high``, ``se``, ``p_value`` (one-sided bootstrap p of score <= 0),
        ``p_fdr`` over (model, layer, region); ``ceiling_low`` / ``ceiling_high`` per region (NaN with a
        single RDM); ``best_layer``, ``best_score`` per (model, region) chosen on all stimuli;
        ``heldout_layer``, ``heldout_score``, ``heldout_score_sd``, ``heldout_agreement`` per (model,
        region) from the held-out assignment; ``p_vs_other_models`` per region (paired bootstrap of the
        first model against the best of the others at the first model's best layer).
    """
    from .inference import bootstrap, fdr

    if "kind" in layer_rdms.coords:
        full = layer_rdms.isel(rdm=np.flatnonzero(layer_rdms["kind"].values == "full"))
    else:
        full = layer_rdms
    for coord in ("model", "layer"):
        if coord not in full.coords:
            raise BadInputError(f"layer RDMs need a {coord!r} coord on 'rdm' (the output of layer_rdms).")
    if not _is_rdm_stack(brain) or "region" not in brain.coords or "subject" not in brain.coords:
        raise BadInputError("brain must be an RDM stack with 'region' and 'subject' coords (use brain_rdms).")
    if "time" in brain.coords and brain["time"].dims == ("rdm",):
        raise BadInputError("brain holds one RDM per time point: use "
                            "neurodecode.analysis.compare_layers_over_time for time-resolved RSA.")
    a = _as_str_ids(full["stimulus"].values)
    b = _as_str_ids(brain["stimulus"].values)
    if a.shape != b.shape or not (a == b).all():
        raise BadInputError("layer and brain RDMs list different stimuli; restrict both to the common stimuli "
                            "with neurodecode.analysis.match_stimuli first.")
    models, layers, mi, li = _layer_grid(full)
    n_model, n_layer = len(models), len(layers)
    known = _groups(brain)
    regions = list(regions) if regions else known
    missing = [r for r in regions if r not in known]
    if missing:
        raise BadInputError(f"no brain RDMs for region(s) {missing}; the brain input has {known}.")
    region_of = _as_str_ids(brain["region"].values)
    shape = (n_model, n_layer, len(regions))
    score, lo, hi, se, pval = (np.full(shape, np.nan) for _ in range(5))
    ceil = np.full((len(regions), 2), np.nan)
    boots: dict[str, np.ndarray] = {}
    for r, region in enumerate(regions):
        data = brain.isel(rdm=np.flatnonzero(region_of == region))
        over = "both" if data.sizes["rdm"] > 1 else "stimulus"
        res = bootstrap(full, data, method, over=over, n_boot=n_boot, seed=seed + r, ci=ci,
                        by="subject", noise_ceiling=False)
        score[mi, li, r] = res["estimate"].values
        lo[mi, li, r] = res["ci_lower"].values
        hi[mi, li, r] = res["ci_upper"].values
        se[mi, li, r] = res["se"].values
        flat = res["bootstrap"].values.reshape(-1, full.sizes["rdm"])
        b = np.full((flat.shape[0], n_model, n_layer), np.nan)
        b[:, mi, li] = flat
        boots[region] = b
        valid = np.isfinite(flat).all(axis=1)
        pval[mi, li, r] = (1 + np.sum(flat[valid] <= 0, axis=0)) / (1 + valid.sum())
        if "noise_ceiling" in res and data.sizes["rdm"] > 1:
            ceil[r] = res["noise_ceiling"].values
    p_fdr = np.full(pval.size, np.nan)
    present = np.isfinite(pval.ravel())
    _, adjusted = fdr(pval.ravel()[present], alpha)
    p_fdr[present] = np.asarray(adjusted, dtype=float)
    p_fdr = p_fdr.reshape(shape)
    best_idx = np.nanargmax(np.where(np.isfinite(score), score, -np.inf), axis=1)  # (model, region)
    best_layer = np.asarray([[layers[best_idx[m, r]] for r in range(len(regions))] for m in range(n_model)],
                            dtype=object)
    best_score = np.take_along_axis(score, best_idx[:, None, :], axis=1)[:, 0, :]
    p_vs = np.full(len(regions), np.nan)
    if n_model > 1:
        for r, region in enumerate(regions):
            b = boots[region]
            best0 = best_idx[0, r]
            others = b[:, 1:, best0]
            if not np.isfinite(others).any():
                continue  # no other model has that layer
            with np.errstate(invalid="ignore"):
                diff = b[:, 0, best0] - np.nanmax(np.where(np.isfinite(others), others, -np.inf), axis=1)
            diff = diff[np.isfinite(diff)]
            p_vs[r] = float((1 + np.sum(diff <= 0)) / (1 + diff.size))
    dims = ("model", "layer", "region")
    out = xr.Dataset(
        {"score": (dims, score), "ci_low": (dims, lo), "ci_high": (dims, hi), "se": (dims, se),
         "p_value": (dims, pval), "p_fdr": (dims, p_fdr),
         "ceiling_low": ("region", ceil[:, 0]), "ceiling_high": ("region", ceil[:, 1]),
         "best_layer": (("model", "region"), best_layer), "best_score": (("model", "region"), best_score),
         "p_vs_other_models": ("region", p_vs),
         "n_subjects": ("region", [int((region_of == r).sum()) for r in regions])},
        coords={"model": models, "layer": layers, "region": list(regions),
                "depth": ("layer", np.arange(n_layer)),
                "relative_depth": (("model", "layer"), _relative_depth(models, layers, mi, li))},
        attrs={"method": method, "n_boot": n_boot, "ci": ci, "seed": seed, "alpha": alpha,
               "n_stimuli": int(full.sizes["stimulus"]),
               "bootstrap": "stimuli and subjects (regions with one RDM: stimuli)",
               "rdm_method": str(layer_rdms.attrs.get("method", "correlation"))},
    )
    if heldout_splits > 0:
        held = heldout_layer_assignment(full, brain, method=method, regions=regions, n_splits=heldout_splits,
                                        seed=seed)
        out = out.merge(held)
    return out


def _layer_grid(full: xr.DataArray) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Models, the union of their layers (ordered by relative depth) and each RDM's (model, layer) index.

    Models may have different layers (EfficientNet-Lite0 and Lite2 differ in blocks); a layer a model
    lacks is NaN in every (model, layer) result.
    """
    model_of = [str(m) for m in full["model"].values.tolist()]
    layer_of = [str(la) for la in full["layer"].values.tolist()]
    models = list(dict.fromkeys(model_of))
    pairs = list(zip(model_of, layer_of))
    if len(set(pairs)) != len(pairs):
        dup = [p for p in dict.fromkeys(pairs) if pairs.count(p) > 1][:3]
        raise BadInputError(f"layer RDMs repeat (model, layer) pairs {dup}; give each model a unique label.")
    depth: dict[str, float] = {}
    first_seen: dict[str, tuple[int, int]] = {}
    for m_index, model in enumerate(models):
        own = [la for mo, la in pairs if mo == model]
        for i, layer in enumerate(own):
            depth[layer] = min(depth.get(layer, np.inf), i / max(len(own) - 1, 1))
            first_seen.setdefault(layer, (m_index, i))
    layers = sorted(depth, key=lambda la: (depth[la], first_seen[la]))
    mi = np.asarray([models.index(m) for m in model_of])
    li = np.asarray([layers.index(la) for la in layer_of])
    return models, layers, mi, li


def _relative_depth(models: list[str], layers: list[str], mi: np.ndarray, li: np.ndarray) -> np.ndarray:
    out = np.full((len(models), len(layers)), np.nan)
    for m in range(len(models)):
        own = np.sort(li[mi == m])
        out[m, own] = np.arange(own.size) / max(own.size - 1, 1)
    return out


def compare_layers_over_time(
    layer_rdms: xr.DataArray,
    brain: xr.DataArray,
    *,
    method: str = "spearman",
) -> xr.Dataset:
    """Time-resolved RSA: every layer vs the brain RDM of every time point (EEG/MEG epochs).

    Parameters
    ----------
    layer_rdms : DataArray (rdm, stimulus, stimulus_)
        Layer RDMs with ``model`` and ``layer`` coords.
    brain : DataArray (rdm, stimulus, stimulus_)
        One RDM per time point (and subject) with ``time``, ``region`` and ``subject`` coords on ``rdm``
        (:func:`brain_rdms` of epochs), over the same stimuli (:func:`match_stimuli`).

    Returns
    -------
    Dataset
        ``score`` (model, layer, region, time): the comparison averaged over subjects; ``best_layer``
        (model, region, time). No bootstrap here: for statistics over time use the cluster tests of
        :mod:`neurodecode.decoding` on per-subject scores.
    """
    from .compare import compare

    if "kind" in layer_rdms.coords:
        layer_rdms = layer_rdms.isel(rdm=np.flatnonzero(layer_rdms["kind"].values == "full"))
    if "time" not in brain.coords or brain["time"].dims != ("rdm",):
        raise BadInputError("brain has no 'time' coord on 'rdm'; use compare_layers for one RDM per subject.")
    models, layers, mi, li = _layer_grid(layer_rdms)
    regions = _groups(brain)
    times = np.unique(np.asarray(brain["time"].values, dtype=float))
    region_of = _as_str_ids(brain["region"].values)
    time_of = np.asarray(brain["time"].values, dtype=float)
    sim = np.asarray(compare(layer_rdms, brain.drop_vars("time"), method).values, dtype=np.float64)
    score = np.full((len(models), len(layers), len(regions), times.size), np.nan)
    for r, region in enumerate(regions):
        for t, tt in enumerate(times):
            cols = np.flatnonzero((region_of == region) & np.isclose(time_of, tt))
            score[mi, li, r, t] = sim[:, cols].mean(axis=1)
    finite = np.where(np.isfinite(score), score, -np.inf)
    best = np.asarray(layers, dtype=object)[np.argmax(finite, axis=1)]
    return xr.Dataset(
        {"score": (("model", "layer", "region", "time"), score),
         "best_layer": (("model", "region", "time"), best)},
        coords={"model": models, "layer": layers, "region": regions, "time": times},
        attrs={"method": method, "n_stimuli": int(layer_rdms.sizes["stimulus"])},
    )


def layer_activations(
    images: xr.DataArray,
    models: Sequence[Any],
    *,
    layers: str | list[str] = "blocks",
    pooling: str | None = "avg",
    batch_size: int = 32,
    device: str | None = None,
    progress: bool = False,
) -> tuple[dict[str, xr.Dataset], list[dict[str, Any]]]:
    """Activations of every requested layer of every model (label -> activations Dataset) and model info.

    The activations counterpart of :func:`layer_rdms`, for comparison methods that take (stimulus,
    feature) representations (CKA, shape metrics, ...: :func:`neurodecode.analysis.similarity`).
    """
    from .. import models as zoo

    specs = model_specs(models)
    out, info = {}, []
    for spec in specs:
        net = _load(spec, device)
        acts = zoo.extract(net, images, layers=layers, batch_size=batch_size, device=device, pooling=pooling,
                           progress=progress, model_id=spec["label"])
        out[spec["label"]] = acts
        info.append(_model_info(spec, net, acts))
        del net
    return out, info


def _response_groups(brain: xr.DataArray, region: str | None) -> tuple[xr.DataArray, list[tuple[str, str, np.ndarray]]]:
    """(stimulus, feature) responses and their (region, subject, feature indices) groups."""
    if not isinstance(brain, xr.DataArray) or brain.ndim != 2:
        raise BadInputError("brain: activation methods compare (stimulus or trial, neuroid) responses; got "
                            f"{type(brain).__name__} with dims {list(getattr(brain, 'dims', []))}. Give responses, "
                            "or use --metric rsa with brain RDMs.")
    if not np.isfinite(np.asarray(brain.values, dtype=float)).all():
        raise BadInputError("brain: the responses hold NaN or inf values; clean them first.")
    resp = _per_stimulus(brain, "brain responses")
    feature = next(d for d in resp.dims if d != "stimulus")
    resp = resp.transpose("stimulus", feature)
    default = str(region or brain.attrs.get("region") or brain.name or "brain")
    n = resp.sizes[feature]
    regions = _as_str_ids(resp[feature]["region"].values) if "region" in resp[feature].coords else np.asarray([default] * n, dtype=object)
    subjects = _as_str_ids(resp[feature]["subject"].values) if "subject" in resp[feature].coords else np.asarray(["1"] * n, dtype=object)
    groups = [(r, sub, np.flatnonzero((regions == r) & (subjects == sub)))
              for r, sub in dict.fromkeys(zip(regions.tolist(), subjects.tolist()))]
    return resp, groups


def compare_layer_activations(
    activations: dict[str, xr.Dataset],
    brain: xr.DataArray,
    *,
    method: str = "debiased_cka",
    n_boot: int = 200,
    ci: float = 0.95,
    seed: int = 0,
    region: str | None = None,
    **options: Any,
) -> xr.Dataset:
    """Every layer of every model vs brain responses with an activation method (CKA, shape metrics, ...).

    Parameters
    ----------
    activations : dict of label -> activations Dataset
        (stimulus, feature) per layer (:func:`layer_activations`).
    brain : DataArray
        Responses (``stimulus`` or ``trial`` x ``neuroid``) with ``region``/``subject`` coords on the
        feature dim (trials of one stimulus are averaged); stimuli are matched by id.
    method : str
        An activation method of :data:`neurodecode.analysis.METHODS` (``debiased_cka``, ``linear_cka``,
        ``procrustes``, ...). Distances (``kind == "distance"``) are reported as they are: the best layer
        is then the one with the *smallest* value.
    n_boot, ci, seed : int, float, int
        Percentile CIs from resampling stimuli (rows of both representations together).

    Returns
    -------
    Dataset
        ``score``, ``ci_low``, ``ci_high`` on (model, layer, region) (mean over the subjects of a region);
        ``ceiling_low``/``ceiling_high`` NaN (no ceiling for activation methods here); ``best_layer`` and
        ``best_score`` on (model, region); attrs ``method``, ``kind``, ``n_stimuli``.
    """
    from ._methods import get_method
    from .similarity import similarity

    spec = get_method(method, compares="activations", what="compare_layer_activations")
    resp, groups = _response_groups(brain, region)
    labels = list(activations)
    first = activations[labels[0]]
    stim = xr.DataArray(np.zeros(first.sizes["stimulus"]), dims="stimulus", coords={"stimulus": first["stimulus"].values})
    (stim_m, resp_m), _ = match_stimuli([stim, resp], names=["images", "brain"])
    keep = _as_str_ids(stim_m["stimulus"].values)
    pos = {s: i for i, s in enumerate(_as_str_ids(first["stimulus"].values))}
    rows = np.asarray([pos[s] for s in keep])
    Y = np.asarray(resp_m.values, dtype=np.float64)
    regions = list(dict.fromkeys(g[0] for g in groups))
    members_of = [[g[2] for g in groups if g[0] == reg] for reg in regions]  # per region: each subject's feature indices
    grid = [(label, str(layer)) for label in labels for layer in activations[label].data_vars]
    layers_union = list(dict.fromkeys(layer for _, layer in grid))
    shape = (len(labels), len(layers_union), len(regions))
    score, lo, hi = (np.full(shape, np.nan) for _ in range(3))
    rng = np.random.default_rng(seed)
    n = rows.size
    boots = [rng.integers(0, n, size=n) for _ in range(n_boot)]
    q = (1 - ci) / 2
    opts = spec.check_options(options, "compare_layer_activations")
    # methods declaring a Gram form (linear CKAs): one Gram matrix per representation, indexed per resample
    by_gram = spec.gram is not None and spec.prepare_gram is not None
    cells = []  # (model, layer position, activations of the matched stimuli -- or their Gram matrix)
    for m, label in enumerate(labels):
        for layer in activations[label].data_vars:
            X = np.asarray(activations[label][layer].values, dtype=np.float64)[rows]
            l_i = layers_union.index(str(layer))
            for r, members in enumerate(members_of):
                score[m, l_i, r] = np.mean([similarity(X, Y[:, idx], method, **options) for idx in members])
            cells.append((m, l_i, spec.gram(X, **opts) if by_gram else X))
    y_grams = [spec.gram(Y[:, g[2]], **opts) for g in groups] if by_gram else []
    in_region = [[k for k, g in enumerate(groups) if g[0] == reg] for reg in regions]
    draws = np.full((n_boot, *shape), np.nan)
    for i, b in enumerate(boots):  # each resample's brain side is prepared once, for every layer
        if by_gram:
            prep_y = [spec.prepare_gram(gy[np.ix_(b, b)], **opts) for gy in y_grams]
        else:
            yb = Y[b]
            prep_y = [spec.prepare(yb[:, g[2]], **opts) for g in groups]
        for m, l_i, rep in cells:
            px = spec.prepare_gram(rep[np.ix_(b, b)], **opts) if by_gram else spec.prepare(rep[b], **opts)
            for r, ks in enumerate(in_region):
                draws[i, m, l_i, r] = np.mean([spec.pair(px, prep_y[k], **opts) for k in ks])
    if n_boot:
        for m, l_i, _ in cells:
            lo[m, l_i], hi[m, l_i] = np.nanquantile(draws[:, m, l_i], [q, 1 - q], axis=0)
    sign = -1.0 if spec.kind == "distance" else 1.0
    best_idx = np.argmax(np.where(np.isfinite(score), sign * score, -np.inf), axis=1)
    dims = ("model", "layer", "region")
    return xr.Dataset(
        {"score": (dims, score), "ci_low": (dims, lo), "ci_high": (dims, hi),
         "ceiling_low": ("region", np.full(len(regions), np.nan)),
         "ceiling_high": ("region", np.full(len(regions), np.nan)),
         "best_layer": (("model", "region"), np.asarray([[layers_union[best_idx[m, r]] for r in range(len(regions))]
                                                         for m in range(len(labels))], dtype=object)),
         "best_score": (("model", "region"), np.take_along_axis(score, best_idx[:, None, :], axis=1)[:, 0, :]),
         "n_subjects": ("region", [sum(1 for g in groups if g[0] == reg) for reg in regions])},
        coords={"model": labels, "layer": layers_union, "region": regions,
                "depth": ("layer", np.arange(len(layers_union)))},
        attrs={"method": spec.name, "kind": spec.kind, "n_boot": n_boot, "ci": ci, "seed": seed,
               "n_stimuli": int(n), "bootstrap": "stimuli", "options": _json_dumps(options)},
    )


def _json_dumps(value: Any) -> str:
    import json

    return json.dumps(_jsonable(value), sort_keys=True)


class _HeldoutSplits(NamedTuple):
    """Scores and choices of :func:`_heldout_splits` (arrays over split, layer or model, region)."""

    select: np.ndarray  # (split, layer, region): every layer's score on the selection half
    held: np.ndarray  # (split, layer, region): ... on the held-out half
    chosen: np.ndarray  # (split, group, region): the layer (row) chosen on the selection half
    selected: np.ndarray  # (split, group, region): its selection-half score
    heldout: np.ndarray  # (split, group, region): its held-out score


def _heldout_splits(
    scores: Any, n: int, n_splits: int, seed: int | None, groups: Sequence[np.ndarray], kind: str, *, chunk: int = 1
) -> _HeldoutSplits:
    """Held-out layer assignment, the one implementation behind :func:`heldout_layer_assignment` and
    :func:`~neurodecode.analysis.assign_layers_heldout`.

    Each split halves the ``n`` stimuli at random (``default_rng(seed).permutation(n)``: the first
    ``n // 2`` select, the rest score); within every group of layers (a model's layers, as row
    indices) the layer with the best selection-half score -- the highest similarity or, for
    ``kind == "distance"``, the lowest distance -- is chosen per region and scored on the other
    half. ``scores(halves)`` returns the scores (len(halves), 2, n_layers, n_regions) of both halves
    of a chunk of splits (``chunk`` at a time, for batched kernels).
    """
    rng = np.random.default_rng(seed)
    halves = []
    for _ in range(int(n_splits)):
        perm = rng.permutation(n)
        halves.append((np.sort(perm[: n // 2]), np.sort(perm[n // 2:])))
    parts = [np.asarray(scores(halves[c0: c0 + chunk]), dtype=np.float64) for c0 in range(0, len(halves), chunk)]
    both = np.concatenate(parts)  # (split, 2, layer, region)
    select, held = both[:, 0], both[:, 1]
    pick = np.nanargmin if kind == "distance" else np.nanargmax
    shape = (len(halves), len(groups), select.shape[2])
    chosen = np.zeros(shape, dtype=np.int64)
    selected, heldout = np.full(shape, np.nan), np.full(shape, np.nan)
    for g, rows in enumerate(groups):
        rows = np.asarray(rows)
        j = pick(select[:, rows, :], axis=1)  # (split, region)
        chosen[:, g] = rows[j]
        selected[:, g] = np.take_along_axis(select[:, rows, :], j[:, None, :], axis=1)[:, 0]
        heldout[:, g] = np.take_along_axis(held[:, rows, :], j[:, None, :], axis=1)[:, 0]
    return _HeldoutSplits(select, held, chosen, selected, heldout)


def heldout_layer_assignment(
    layer_rdms: xr.DataArray,
    brain: xr.DataArray,
    *,
    method: str = "spearman",
    regions: Sequence[str] | None = None,
    n_splits: int = 100,
    seed: int = 0,
) -> xr.Dataset:
    """Choose the best layer on one half of the stimuli and score it on the other half, repeatedly.

    For each split the stimuli are halved at random; per model and region the layer with the highest
    mean similarity (over subjects) on half A is chosen and its mean similarity on half B is recorded.
    The in-sample best-layer score is optimistically biased (the maximum over layers of noisy
    estimates); the held-out score is not.

    Returns
    -------
    Dataset
        Per (model, region): ``heldout_score`` (mean over splits of the held-out score),
        ``heldout_score_sd``, ``heldout_layer`` (the layer chosen most often) and ``heldout_agreement``
        (the fraction of splits that chose it); attrs ``n_splits`` and ``heldout_seed``.
    """
    from ._methods import get_method
    from .compare import compare

    if "kind" in layer_rdms.coords:
        layer_rdms = layer_rdms.isel(rdm=np.flatnonzero(layer_rdms["kind"].values == "full"))
    models, layers, mi, li = _layer_grid(layer_rdms)
    region_of = _as_str_ids(brain["region"].values)
    regions = list(regions) if regions else _groups(brain)
    n = layer_rdms.sizes["stimulus"]
    if n < 8:
        raise BadInputError(f"held-out layer assignment needs at least 8 stimuli (two halves of 4), got {n}.")
    L = np.asarray(layer_rdms.transpose("rdm", "stimulus", "stimulus_").values, dtype=np.float64)
    index = [np.flatnonzero(mi == m)[np.argsort(li[mi == m])] for m in range(len(models))]  # rdm rows by depth
    in_region = [np.flatnonzero(region_of == region) for region in regions]
    B = np.asarray(brain.isel(rdm=np.concatenate(in_region)).values, dtype=np.float64)
    cols, start = [], 0
    for idx in in_region:
        cols.append(np.arange(start, start + idx.size))
        start += idx.size
    n_l, n_b = L.shape[0], B.shape[0]

    def scores(halves: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        # all splits of the chunk in one call of the comparison kernel per half (each stack is ranked once)
        out = np.empty((len(halves), 2, n_l, len(regions)))
        for h in (0, 1):
            sub_l = np.concatenate([L[:, half[h]][:, :, half[h]] for half in halves])
            sub_b = np.concatenate([B[:, half[h]][:, :, half[h]] for half in halves])
            sim = compare(sub_l, sub_b, method)
            sim = np.asarray(getattr(sim, "values", sim), dtype=np.float64)
            for k in range(len(halves)):
                own = sim[k * n_l:(k + 1) * n_l, k * n_b:(k + 1) * n_b]  # this split's block
                for r in range(len(regions)):
                    out[k, h, :, r] = own[:, cols[r]].mean(axis=1)
        return out

    split = _heldout_splits(scores, n, n_splits, seed, index, get_method(method, compares="rdm").kind, chunk=8)
    chosen = li[split.chosen]  # (split, model, region): the chosen layer's position on the union of layers
    held = split.heldout
    mode = np.zeros((len(models), len(regions)), dtype=int)
    agree = np.zeros((len(models), len(regions)))
    for m in range(len(models)):
        for r in range(len(regions)):
            counts = np.bincount(chosen[:, m, r], minlength=len(layers))
            mode[m, r] = int(np.argmax(counts))
            agree[m, r] = counts.max() / n_splits
    dims = ("model", "region")
    return xr.Dataset(
        {"heldout_score": (dims, np.nanmean(held, axis=0)), "heldout_score_sd": (dims, np.nanstd(held, axis=0)),
         "heldout_layer": (dims, np.asarray([[layers[mode[m, r]] for r in range(len(regions))]
                                             for m in range(len(models))], dtype=object)),
         "heldout_agreement": (dims, agree)},
        coords={"model": models, "region": list(regions)},
        attrs={"n_splits": n_splits, "heldout_seed": seed},
    )


def best_layers(scores: xr.Dataset) -> pd.DataFrame:
    """One row per (model, region): the best layer with its score, CI, FDR p, ceiling and held-out figures.

    Columns: ``model``, ``region``, ``layer``, ``depth`` (position on the union of every model's layers),
    ``relative_depth`` (0 = the model's first recorded layer, 1 = its last), ``score``, ``ci_low``, ``ci_high``, ``p_fdr``,
    ``ceiling_low``, ``ceiling_high``, ``fraction_of_lower_ceiling``, ``n_subjects``, and when present
    ``heldout_layer``, ``heldout_score``, ``heldout_score_sd``, ``heldout_agreement``, ``p_vs_other_models``
    (first model only).
    """
    rows = []
    models = scores["model"].values.tolist()
    for region in scores["region"].values.tolist():
        for m, model in enumerate(models):
            layer = str(scores["best_layer"].sel(model=model, region=region).item())
            sel = {"model": model, "layer": layer, "region": region}
            c_lo = float(scores["ceiling_low"].sel(region=region))
            row = {"model": model, "region": region, "layer": layer,
                   "depth": int(scores["depth"].sel(layer=layer)),
                   **({"relative_depth": float(scores["relative_depth"].sel(model=model, layer=layer))}
                      if "relative_depth" in scores else {}),
                   "score": float(scores["score"].sel(sel)), "ci_low": float(scores["ci_low"].sel(sel)),
                   "ci_high": float(scores["ci_high"].sel(sel)),
                   "p_fdr": float(scores["p_fdr"].sel(sel)) if "p_fdr" in scores else np.nan,
                   "ceiling_low": c_lo, "ceiling_high": float(scores["ceiling_high"].sel(region=region)),
                   "fraction_of_lower_ceiling": float(scores["score"].sel(sel)) / c_lo if np.isfinite(c_lo) else np.nan,
                   "n_subjects": int(scores["n_subjects"].sel(region=region))}
            if "heldout_score" in scores:
                row.update({"heldout_layer": str(scores["heldout_layer"].sel(model=model, region=region).item()),
                            "heldout_score": float(scores["heldout_score"].sel(model=model, region=region)),
                            "heldout_score_sd": float(scores["heldout_score_sd"].sel(model=model, region=region)),
                            "heldout_agreement": float(scores["heldout_agreement"].sel(model=model, region=region))})
            if m == 0 and len(models) > 1 and "p_vs_other_models" in scores:
                row["p_vs_other_models"] = float(scores["p_vs_other_models"].sel(region=region))
            rows.append(row)
    return pd.DataFrame(rows)


def trsa_layers(
    layer_rdms: xr.DataArray,
    brain: xr.DataArray,
    *,
    lows: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    ups: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    method: str = "spearman",
    kind: str = "geotopological",
    regions: Sequence[str] | None = None,
) -> xr.Dataset:
    """Topological RSA of layers vs brain regions, at the (low, up) that best identifies layers.

    The data of the sweep are the simulated measurements of each layer (``kind="simulated"`` RDMs of
    :func:`layer_rdms`), the candidates the first model's full layer RDMs, and the right answer the
    layer each measurement came from. The setting with the highest layer-identification accuracy
    (ties: the most topological, i.e. smallest ``up - low``, then the lowest ``low``) is applied to
    every layer RDM and every brain RDM (per RDM, never pooled) and compared with ``method``
    (mean over the subjects of each region).

    Returns
    -------
    Dataset
        ``accuracy`` (low, up); ``trsa_score`` and ``rsa_score`` (model, layer, region); attrs ``low``,
        ``up`` (the chosen setting), ``kind``, ``method``, ``chance`` (1 / number of layers).
    """
    from .compare import compare
    from .trsa import rgtm, sweep

    if "kind" not in layer_rdms.coords:
        raise BadInputError("trsa_layers needs the output of layer_rdms (coords model/layer/kind).")
    sims = layer_rdms.isel(rdm=np.flatnonzero(layer_rdms["kind"].values == "simulated"))
    full = layer_rdms.isel(rdm=np.flatnonzero(layer_rdms["kind"].values == "full"))
    if sims.sizes["rdm"] == 0:
        raise BadInputError("topological RSA needs simulated measurements: compute layer_rdms with n_sim > 0.")
    first = sims["model"].values[0]
    cand = full.isel(rdm=np.flatnonzero(full["model"].values == first))
    cand = cand.assign_coords(rdm=cand["layer"].values)
    sims = sims.assign_coords(rdm=[f"{lay}#sim{s}" for lay, s in zip(sims["layer"].values, sims["sim"].values)])
    acc = sweep(model_rdms=cand, data_rdms=sims, lows=list(lows), ups=list(ups), method=method, correct="layer",
                kind=kind)
    vals = acc.transpose("low", "up").values
    best = None
    for i, low in enumerate(acc["low"].values):
        for j, up in enumerate(acc["up"].values):
            v = vals[i, j]
            if not np.isfinite(v):
                continue
            key = (v, -(up - low), -low)
            if best is None or key > best[0]:
                best = (key, float(low), float(up))
    if best is None:
        raise BadInputError("no valid (low, up) setting: every low must be below some up.")
    _, low_best, up_best = best
    models, layers, mi, li = _layer_grid(full)
    region_of = _as_str_ids(brain["region"].values)
    regions = list(regions) if regions else _groups(brain)
    t_full = rgtm(full, low_best, up_best, kind=kind)
    tscore = np.full((len(models), len(layers), len(regions)), np.nan)
    gscore = np.full_like(tscore, np.nan)
    for r, region in enumerate(regions):
        data = brain.isel(rdm=np.flatnonzero(region_of == region))
        t_brain = rgtm(data, low_best, up_best, kind=kind)
        tscore[mi, li, r] = np.asarray(compare(t_full, t_brain, method).values).mean(axis=1)
        gscore[mi, li, r] = np.asarray(compare(full, data, method).values).mean(axis=1)
    dims = ("model", "layer", "region")
    return xr.Dataset(
        {"accuracy": acc.rename("accuracy"), "trsa_score": (dims, tscore), "rsa_score": (dims, gscore)},
        coords={"model": models, "layer": layers, "region": regions},
        attrs={"low": low_best, "up": up_best, "kind": kind, "method": method, "chance": 1.0 / cand.sizes["rdm"],
               "sweep_data": "simulated measurements of each layer"},
    )
