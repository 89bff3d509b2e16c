"""Pipeline ops of the layer-vs-brain comparison (the main job, ``pipelines/compare_layers_kriegeskorte92.yaml``).

* ``rsa.layer_rdms``: images -> activations of every requested layer of every model (one forward
  pass per batch, hooks) -> correlation RDMs, plus *simulated measurements* of each layer (a random
  sample of its units with added noise) used by the tRSA sweep. Activations are not kept: only the
  RDM stack (small) is cached and saved.
* ``rsa.compare_brain``: layer RDMs vs brain/behaviour RDMs (kriegeskorte92: human IT per subject with
  sessions averaged, monkey IT, behaviour) with noise ceilings and bootstrap CIs over stimuli and subjects,
  a paired bootstrap test of trained vs untrained, FDR-corrected p-values, and the best layer per region.
* ``rsa.trsa``: the (low, up) sweep of the geo-topological transform on the simulated measurements
  (which setting singles out the right layer), then tRSA scores of the layers vs the brain at the best setting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError
from .ops import StepResult

__all__ = ["layer_rdms", "compare_brain", "trsa"]

_REGIONS = ("human_it", "monkey_it", "behaviour")


def _model_specs(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = []
    for i, spec in enumerate(models):
        if isinstance(spec, str):
            spec = {"name": spec}
        if "name" not in spec:
            raise BadInputError(f"rsa.layer_rdms: models[{i}] needs a 'name' (e.g. efficientnet_lite0).")
        unknown = set(spec) - {"name", "pretrained", "label", "seed"}
        if unknown:
            raise BadInputError(f"rsa.layer_rdms: models[{i}] has unknown key(s) {sorted(unknown)}; "
                                "use name, pretrained, label, seed.")
        pretrained = bool(spec.get("pretrained", True))
        label = spec.get("label") or f"{spec['name']}_{'trained' if pretrained else 'untrained'}"
        specs.append({"name": spec["name"], "pretrained": pretrained, "label": str(label),
                      "seed": int(spec.get("seed", 0))})
    labels = [s["label"] for s in specs]
    if len(set(labels)) != len(labels):
        raise BadInputError(f"rsa.layer_rdms: model labels must be unique, got {labels}.")
    return specs


def layer_rdms(
    images: xr.DataArray,
    *,
    models: list[dict[str, Any]],
    layers: str | list[str] = "blocks",
    pooling: str | None = "flatten",
    method: str = "correlation",
    batch_size: int = 32,
    n_sim: int = 4,
    sim_units: int = 200,
    sim_noise: float = 1.0,
    seed: int = 0,
    device: str | None = None,
) -> StepResult:
    """Correlation RDMs of every layer of every model, and simulated noisy measurements of each layer.

    Parameters
    ----------
    images : DataArray (stimulus, y, x, rgb)
        uint8 images (``datasets.load("kriegeskorte92", part="images")``).
    models : list of dict
        ``{name, pretrained, label, seed}`` per network (zoo names, :func:`neurodecode.models.list_models`).
    layers : "blocks" or list of str
        Layers to record (the same for every model).
    pooling : str or None
        Pooling of the activations before the RDM (``flatten`` keeps every unit).
    n_sim, sim_units, sim_noise : int, int, float
        For each layer of the *first* model, ``n_sim`` simulated measurements: ``sim_units`` randomly
        drawn units plus Gaussian noise of ``sim_noise`` times each unit's standard deviation. Their RDMs
        (``kind="simulated"``) are the data of the tRSA sweep, with the known right answer.
    """
    from .. import models as zoo
    from ..analysis import rdm as compute_rdm

    specs = _model_specs(models)
    rng = np.random.default_rng(seed)
    stacks = []
    notes = []
    for k, spec in enumerate(specs):
        net = zoo.load_model(spec["name"], pretrained=spec["pretrained"], seed=spec["seed"], device=device)
        acts = zoo.extract(net, images, layers=layers, batch_size=batch_size, device=device, pooling=pooling,
                           progress=False, model_id=spec["label"])
        names = [str(v) for v in acts.data_vars]
        full = compute_rdm({name: acts[name] for name in names}, method)
        full = full.assign_coords(model=("rdm", [spec["label"]] * len(names)), layer=("rdm", names),
                                  kind=("rdm", ["full"] * len(names)), sim=("rdm", [-1] * len(names)),
                                  depth=("rdm", np.arange(len(names))))
        stacks.append(full)
        notes.append(f"{spec['label']}: {len(names)} layers, "
                     + ", ".join(f"{n} {acts[n].shape[1]}" for n in names[:3]) + ", ... units")
        if k == 0 and n_sim > 0:
            sims: dict[str, Any] = {}
            meta = {"layer": [], "sim": []}
            for name in names:
                x = np.asarray(acts[name].values, dtype=np.float64)
                sd = x.std(axis=0)
                alive = np.flatnonzero(sd > 0)
                if alive.size == 0:
                    raise BadInputError(f"rsa.layer_rdms: layer {name!r} of {spec['label']} is constant.")
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
        del acts
    out = xr.concat(stacks, dim="rdm", coords="minimal", compat="override", combine_attrs="override")
    out = out.drop_vars([c for c in ("name", "n_features") if c in out.coords and c != "rdm"], errors="ignore")
    out = out.assign_coords(rdm=np.arange(out.sizes["rdm"]))
    for coord in images.coords:
        if images[coord].dims == ("stimulus",) and coord != "stimulus":
            out = out.assign_coords({coord: ("stimulus", images[coord].values)})
    out.attrs.update({"nd_kind": "rdm", "method": method, "pooling": str(pooling),
                      "sim_units": sim_units, "sim_noise": sim_noise, "n_sim": n_sim, "seed": seed})
    metrics = {"n_layers": float(len(set(out["layer"].values))), "n_models": float(len(specs))}
    return StepResult(out, metrics=metrics, notes=notes)


def _brain_rdms(regions: list[str]) -> dict[str, xr.DataArray]:
    """Data RDMs per region; subjects on ``rdm`` (coord ``subject``), human IT sessions averaged."""
    from .. import datasets

    bad = set(regions) - set(_REGIONS)
    if bad:
        raise BadInputError(f"rsa.compare_brain: unknown region(s) {sorted(bad)}; choose from {_REGIONS}.")
    k = datasets.load("kriegeskorte92")
    out = {}
    for region in regions:
        stack = getattr(k, region)
        if region == "human_it":
            stack = stack.groupby("subject").mean("rdm").rename(subject="rdm")
            stack = stack.assign_coords(subject=("rdm", stack["rdm"].values.astype(str)),
                                        rdm=np.arange(stack.sizes["rdm"]))
        elif "subject" not in stack.coords:
            stack = stack.assign_coords(subject=("rdm", [f"{region}{i}" for i in range(stack.sizes["rdm"])]))
        else:
            stack = stack.assign_coords(subject=("rdm", np.asarray(stack["subject"].values).astype(str)))
        stack.attrs.update({"nd_kind": "rdm", "method": stack.attrs.get("method", "correlation")})
        out[region] = stack
    return out


def _scores_table(scores: xr.Dataset) -> pd.DataFrame:
    df = scores[["score", "ci_low", "ci_high", "se", "p_value", "p_fdr"]].to_dataframe().reset_index()
    cl = scores[["ceiling_low", "ceiling_high"]].to_dataframe().reset_index()
    return df.merge(cl, on="region")


def compare_brain(
    layer_rdms: xr.DataArray,
    *,
    regions: list[str] = list(_REGIONS),
    method: str = "spearman",
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    alpha: float = 0.05,
) -> StepResult:
    """RSA of every layer with every region: scores, bootstrap CIs (stimuli and subjects), ceilings, best layers.

    For regions with several subjects (human IT: 4, behaviour: 16) stimuli and subjects are
    bootstrapped together and the noise ceiling (lower: leave one subject out; upper: all subjects)
    is given; monkey IT is a single RDM, so only stimuli are bootstrapped and it has no ceiling.
    ``p_value`` is the one-sided bootstrap p of score <= 0; ``p_fdr`` is Benjamini-Hochberg over
    all (model, layer, region). The best layer per region and model is the one with the highest score;
    ``p_trained_vs_untrained`` compares the two models at the trained model's best layer (paired bootstrap).
    """
    from ..analysis import bootstrap, fdr
    from ..report.rsa_figures import mds_figure, rdm_heatmaps_figure, rsa_by_layer_figure

    if "kind" not in layer_rdms.coords:
        raise BadInputError("rsa.compare_brain expects the output of rsa.layer_rdms (coords model/layer/kind).")
    full = layer_rdms.isel(rdm=np.flatnonzero(layer_rdms["kind"].values == "full"))
    models = list(dict.fromkeys(full["model"].values.tolist()))
    layers = list(dict.fromkeys(full["layer"].values.tolist()))
    brain = _brain_rdms(list(regions))
    n_model = len(models)
    shape = (n_model, len(layers), len(regions))
    score, lo, hi, se, pval = (np.full(shape, np.nan) for _ in range(5))
    ceil = np.full((len(regions), 2), np.nan)
    boots: dict[str, np.ndarray] = {}
    for r, region in enumerate(regions):
        data = brain[region]
        over = "both" if data.sizes["rdm"] > 1 else "stimulus"
        res = bootstrap(full, data, method, over=over, n_boot=n_boot, seed=seed + r, ci=ci,
                        subject_dim="subject", noise_ceiling=False)
        est = res["estimate"].values.reshape(n_model, len(layers))
        score[:, :, r] = est
        lo[:, :, r] = res["ci_lower"].values.reshape(n_model, len(layers))
        hi[:, :, r] = res["ci_upper"].values.reshape(n_model, len(layers))
        se[:, :, r] = res["se"].values.reshape(n_model, len(layers))
        b = res["bootstrap"].values.reshape(-1, n_model, len(layers))
        boots[region] = b
        valid = np.isfinite(b).all(axis=(1, 2))
        pval[:, :, r] = (1 + np.sum(b[valid] <= 0, axis=0)) / (1 + valid.sum())
        if "noise_ceiling" in res and data.sizes["rdm"] > 1:
            ceil[r] = res["noise_ceiling"].values
    _, p_fdr = fdr(pval.ravel(), alpha)
    p_fdr = np.asarray(p_fdr, dtype=float).reshape(shape)
    dims = ("model", "layer", "region")
    coords = {"model": models, "layer": layers, "region": list(regions)}
    scores = xr.Dataset(
        {"score": (dims, score), "ci_low": (dims, lo), "ci_high": (dims, hi), "se": (dims, se),
         "p_value": (dims, pval), "p_fdr": (dims, p_fdr),
         "ceiling_low": ("region", ceil[:, 0]), "ceiling_high": ("region", ceil[:, 1])},
        coords=coords,
        attrs={"method": method, "n_boot": n_boot, "ci": ci, "seed": seed,
               "bootstrap": "stimuli and subjects (regions with one RDM: stimuli)",
               "rdm_method": layer_rdms.attrs.get("method", "correlation")},
    )
    # best layer per (region, model); trained vs untrained at the first model's best layer
    rows = []
    for r, region in enumerate(regions):
        best0 = int(np.nanargmax(score[0, :, r]))
        for m, model in enumerate(models):
            best = int(np.nanargmax(score[m, :, r]))
            row = {"region": region, "model": model, "best_layer": layers[best], "depth": best,
                   "score": score[m, best, r], "ci_low": lo[m, best, r], "ci_high": hi[m, best, r],
                   "p_fdr": p_fdr[m, best, r], "ceiling_low": ceil[r, 0], "ceiling_high": ceil[r, 1],
                   "fraction_of_lower_ceiling": score[m, best, r] / ceil[r, 0] if np.isfinite(ceil[r, 0]) else np.nan}
            if n_model > 1 and m == 0:
                b = boots[region]
                diff = b[:, 0, best0] - b[:, 1:, best0].max(axis=1)
                diff = diff[np.isfinite(diff)]
                row["p_vs_other_models"] = float((1 + np.sum(diff <= 0)) / (1 + diff.size))
            rows.append(row)
    best_table = pd.DataFrame(rows)
    metrics: dict[str, float] = {}
    for row in rows:
        key = f"{row['region']}.{row['model']}"
        metrics[f"best_score.{key}"] = float(row["score"])
        metrics[f"best_depth.{key}"] = float(row["depth"])
    for r, region in enumerate(regions):
        if np.isfinite(ceil[r, 0]):
            metrics[f"ceiling_low.{region}"] = float(ceil[r, 0])
            metrics[f"ceiling_high.{region}"] = float(ceil[r, 1])

    def heatmaps():
        panels = []
        for region in regions:
            data = brain[region]
            panels.append((f"{region} (mean of {data.sizes['rdm']})", _with_category(data.mean("rdm"), layer_rdms)))
        for m, model in enumerate(models):
            best = layers[int(np.nanargmax(score[m, :, 0]))]
            sel = full.isel(rdm=np.flatnonzero((full["model"].values == model) & (full["layer"].values == best))[0])
            panels.append((f"{model} {best}", sel))
        return "RDMs sorted by category", rdm_heatmaps_figure(panels)

    def mds():
        first = regions[0]
        best = layers[int(np.nanargmax(score[0, :, 0]))]
        sel = full.isel(rdm=np.flatnonzero((full["model"].values == models[0]) & (full["layer"].values == best))[0])
        return "MDS of the stimuli", mds_figure([(f"{first} (mean)", _with_category(brain[first].mean("rdm"), layer_rdms)),
                                                  (f"{models[0]} {best}", sel)])

    figures = [("RSA by layer", rsa_by_layer_figure(scores, method=method)), heatmaps, mds]
    tables = {"scores": _scores_table(scores), "best_layer": best_table}
    notes = [f"{region}: best {row['model']} layer {row['best_layer']} (score {row['score']:.3f}, "
             f"CI {row['ci_low']:.3f}..{row['ci_high']:.3f})" for region in regions
             for row in rows if row["region"] == region]
    return StepResult(scores, metrics=metrics, tables=tables, figures=figures, notes=notes)


def _with_category(rdm2d: xr.DataArray, ref: xr.DataArray) -> xr.DataArray:
    if "category" in ref.coords and "category" not in rdm2d.coords:
        rdm2d = rdm2d.assign_coords(category=("stimulus", ref["category"].values))
    return rdm2d


def trsa(
    layer_rdms: xr.DataArray,
    *,
    lows: list[float] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
    ups: list[float] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    method: str = "spearman",
    kind: str = "geotopological",
    regions: list[str] = list(_REGIONS),
) -> StepResult:
    """Topological RSA: which (low, up) singles out the right layer, and layer-vs-brain tRSA at that setting.

    The data of the sweep are the simulated measurements of each layer (``kind="simulated"`` RDMs of
    :func:`layer_rdms`), the candidates are the first model's full layer RDMs, and the right answer is the
    layer each measurement came from. The setting with the highest model-selection accuracy (ties: the
    most topological, i.e. smallest ``up - low``, then the lowest ``low``) is then applied to every layer
    RDM and every brain RDM (per RDM, never pooled) and compared with ``method``.
    """
    from ..analysis import compare, rgtm, sweep
    from ..report.rsa_figures import trsa_map_figure

    sims = layer_rdms.isel(rdm=np.flatnonzero(layer_rdms["kind"].values == "simulated"))
    full = layer_rdms.isel(rdm=np.flatnonzero(layer_rdms["kind"].values == "full"))
    if sims.sizes["rdm"] == 0:
        raise BadInputError("rsa.trsa needs simulated measurements: run rsa.layer_rdms with n_sim > 0.")
    first = sims["model"].values[0]
    cand = full.isel(rdm=np.flatnonzero(full["model"].values == first))
    cand = cand.assign_coords(rdm=cand["layer"].values)
    sims = sims.assign_coords(rdm=[f"{lay}#sim{s}" for lay, s in zip(sims["layer"].values, sims["sim"].values)])
    acc = sweep(sims, cand, lows, ups, method, correct="layer", kind=kind)
    vals = acc.transpose("low", "up").values
    best = None
    for i, low in enumerate(acc["low"].values):
        for j, up in enumerate(acc["up"].values):
            v = vals[i, j]
            if not np.isfinite(v):
                continue
            cand_key = (v, -(up - low), -low)
            if best is None or cand_key > best[0]:
                best = (cand_key, float(low), float(up))
    _, low_best, up_best = best
    brain = _brain_rdms(list(regions))
    models = list(dict.fromkeys(full["model"].values.tolist()))
    layers = list(dict.fromkeys(full["layer"].values.tolist()))
    t_full = rgtm(full, low_best, up_best, kind=kind)
    tscore = np.full((len(models), len(layers), len(regions)), np.nan)
    gscore = np.full_like(tscore, np.nan)
    for r, region in enumerate(regions):
        t_brain = rgtm(brain[region], low_best, up_best, kind=kind)
        sim_t = np.asarray(compare(t_full, t_brain, method).values).mean(axis=1)
        sim_g = np.asarray(compare(full, brain[region], method).values).mean(axis=1)
        tscore[:, :, r] = sim_t.reshape(len(models), len(layers))
        gscore[:, :, r] = sim_g.reshape(len(models), len(layers))
    dims = ("model", "layer", "region")
    out = xr.Dataset(
        {"accuracy": acc.rename("accuracy"), "trsa_score": (dims, tscore), "rsa_score": (dims, gscore)},
        coords={"model": models, "layer": layers, "region": list(regions)},
        attrs={"low": low_best, "up": up_best, "kind": kind, "method": method,
               "chance": 1.0 / len(layers), "sweep_data": "simulated measurements of each layer"},
    )
    metrics = {"best_low": low_best, "best_up": up_best, "best_accuracy": float(np.nanmax(vals)),
               "accuracy_plain_rsa": float(acc.sel(low=0.0, up=1.0)) if (0.0 in lows and 1.0 in ups) else float("nan"),
               "chance": 1.0 / len(layers)}
    for r, region in enumerate(regions):
        b = int(np.nanargmax(tscore[0, :, r]))
        metrics[f"trsa_best_depth.{region}"] = float(b)
        metrics[f"trsa_best_score.{region}"] = float(tscore[0, b, r])

    def by_layer():
        from ..report.figures import new_figure
        from ..report.figures import _COLORS

        fig = new_figure(4.2 * len(regions), 3.4)
        axes = np.atleast_1d(fig.subplots(1, len(regions), squeeze=False)).ravel()
        x = np.arange(len(layers))
        for ax, (r, region) in zip(axes, enumerate(regions)):
            for m, model in enumerate(models):
                c = _COLORS[m % len(_COLORS)]
                ax.plot(x, gscore[m, :, r], "o-", ms=3, color=c, label=f"{model} RSA")
                ax.plot(x, tscore[m, :, r], "s--", ms=3, color=c, alpha=0.7, label=f"{model} tRSA")
            ax.set_xticks(x, layers, rotation=90, fontsize=7)
            ax.set_title(region)
        axes[0].legend(fontsize=6)
        fig.suptitle(f"RSA vs tRSA ({kind}, low={low_best:g}, up={up_best:g})")
        return "RSA vs tRSA by layer", fig

    table = out[["trsa_score", "rsa_score"]].to_dataframe().reset_index()
    figures = [("tRSA (low, up) map", trsa_map_figure(acc)), by_layer]
    notes = [f"best setting low={low_best:g}, up={up_best:g}: layer identification accuracy "
             f"{np.nanmax(vals):.2f} (plain RSA {metrics['accuracy_plain_rsa']:.2f}, chance {1 / len(layers):.2f})"]
    return StepResult(out, metrics=metrics, tables={"trsa_scores": table, "sweep": acc.to_dataframe().reset_index()},
                      figures=figures, notes=notes)
