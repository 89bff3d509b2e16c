"""Pipeline ops of the layer-vs-brain comparison: thin adapters over :mod:`neurodecode.analysis.layers`.

* ``rsa.layer_rdms`` (images) -> RDMs of every layer of every model (+ simulated measurements for tRSA);
* ``rsa.brain_rdms`` (brain) -> an RDM stack with region/subject coords from RDMs, responses or epochs;
* ``rsa.compare_brain`` (layer_rdms, brain) -> scores, CIs, noise ceilings, FDR p, best and held-out layers;
* ``rsa.trsa`` (layer_rdms, brain) -> topological RSA at the (low, up) that best identifies layers.

Nothing here knows a dataset: the brain input is whatever the pipeline's data sources give
(``pipelines/compare_layers_kriegeskorte92.yaml`` reads ``kriegeskorte92`` with ``part: brain``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import pandas as pd
import xarray as xr

from .checks import ActivationMethod, OneOf, Pooling, RdmCompareMethod, RdmMethod
from .ops import StepResult, show_progress

__all__ = ["layer_rdms", "brain_rdms", "compare_brain", "trsa", "layer_similarity"]


def _answer(result: StepResult, text: str, table: pd.DataFrame | None = None) -> StepResult:
    fields = getattr(StepResult, "__dataclass_fields__", {})
    if "answer" in fields:
        result.answer = text  # type: ignore[attr-defined]
    if table is not None and "answer_table" in fields:
        result.answer_table = table  # type: ignore[attr-defined]
    return result


def layer_rdms(
    images: xr.DataArray,
    *,
    models: list[Any],
    layers: str | list[str] = "blocks",
    pooling: Pooling | None = "flatten",
    method: RdmMethod = "correlation",
    batch_size: int = 32,
    n_sim: int = 4,
    sim_units: int = 200,
    sim_noise: float = 1.0,
    seed: int = 0,
    device: str | None = None,
) -> StepResult:
    """RDMs of every layer of every model on the images, and simulated noisy measurements of each layer.

    ``models``: zoo names, ``FILE.py:FACTORY`` (with the file listed under ``plugins``), ``hf:LOCAL_DIR``,
    or ``{name, pretrained, label, seed, preprocessing}``; see :func:`neurodecode.analysis.layers.layer_rdms`.
    """
    from ..analysis.layers import layer_rdms as compute

    out, info = compute(images, models, layers=layers, pooling=pooling, method=method, batch_size=batch_size,
                        n_sim=n_sim, sim_units=sim_units, sim_noise=sim_noise, seed=seed, device=device,
                        progress=show_progress())
    out.attrs["models"] = json.dumps(info)
    notes = [f"{m['label']}: model {m['model_id']}, preprocessing {json.dumps(m['preprocessing'])}, "
             f"{len(m['layers'])} layers ({', '.join(f'{k} {v}' for k, v in list(m['layers'].items())[:3])}, ... "
             "features)" for m in info]
    metrics = {"n_layers": float(len(set(out["layer"].values))), "n_models": float(len(info)),
               "n_stimuli": float(out.sizes["stimulus"])}
    return StepResult(out, metrics=metrics, notes=notes)


def brain_rdms(brain: xr.DataArray, *, method: RdmMethod = "correlation", region: str | None = None) -> StepResult:
    """RDM stack with region/subject coords from brain RDMs, responses or epochs (one RDM per time point)."""
    from ..analysis.layers import brain_rdms as compute

    out = compute(brain, method=method, region=region)
    regions = pd.Series(out["region"].values).value_counts(sort=False)
    return StepResult(out, notes=[f"{r}: {n} RDM(s)" for r, n in regions.items()])


def _prepare(layer_rdms: xr.DataArray, brain: Any, rdm_method: str):
    from ..analysis.layers import brain_rdms as to_rdms
    from ..analysis.layers import combine_brain, match_stimuli

    brains = list(brain) if isinstance(brain, (list, tuple)) else [brain]
    stacks = [to_rdms(b, method=rdm_method) for b in brains]
    names = ["brain"] if len(stacks) == 1 else [
        f"brain {i + 1} ({', '.join(dict.fromkeys(map(str, s['region'].values)))})" for i, s in enumerate(stacks)]
    matched, report = match_stimuli([layer_rdms, *stacks], names=["layer RDMs (images)", *names])
    return matched[0], combine_brain(matched[1:]), report


def compare_brain(
    layer_rdms: xr.DataArray,
    brain: xr.DataArray | list[xr.DataArray],
    *,
    regions: list[str] | None = None,
    method: RdmCompareMethod = "spearman",
    rdm_method: RdmMethod = "correlation",
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    alpha: float = 0.05,
    heldout_splits: int = 100,
) -> StepResult:
    """RSA of every layer with every brain region: scores, bootstrap CIs, ceilings, FDR, best and held-out layers.

    Stimuli are matched by id (the report says how many each side lost); responses and epochs are turned
    into RDMs with ``rdm_method``. See :func:`neurodecode.analysis.layers.compare_layers`.
    """
    from ..analysis.layers import best_layers, compare_layers
    from ..report.rsa_figures import mds_figure, rdm_heatmaps_figure, rsa_by_layer_figure

    layers_m, stack, report = _prepare(layer_rdms, brain, rdm_method)
    if "time" in stack.coords and stack["time"].dims == ("rdm",):
        return _over_time(layers_m, stack, report, method)
    scores = compare_layers(layers_m, stack, method=method, n_boot=n_boot, ci=ci, seed=seed, alpha=alpha,
                            regions=regions, heldout_splits=heldout_splits)
    best = best_layers(scores)
    regions_used = [str(r) for r in scores["region"].values]
    models = [str(m) for m in scores["model"].values]
    full = layers_m.isel(rdm=np.flatnonzero(layers_m["kind"].values == "full")) if "kind" in layers_m.coords else layers_m
    metrics: dict[str, float] = {"n_stimuli": float(scores.attrs["n_stimuli"])}
    for row in best.to_dict("records"):
        key = f"{row['region']}.{row['model']}"
        metrics[f"best_score.{key}"] = row["score"]
        metrics[f"best_depth.{key}"] = float(row["depth"])
        if "heldout_score" in row:
            metrics[f"heldout_score.{key}"] = row["heldout_score"]
    for region in regions_used:
        lo = float(scores["ceiling_low"].sel(region=region))
        if np.isfinite(lo):
            metrics[f"ceiling_low.{region}"] = lo
            metrics[f"ceiling_high.{region}"] = float(scores["ceiling_high"].sel(region=region))

    def heatmaps():
        panels = []
        for region in regions_used:
            data = stack.isel(rdm=np.flatnonzero(stack["region"].values == region))
            n = data.sizes["rdm"]
            label = f"{region} (mean of {n} subjects)" if n > 1 else f"{region}"
            panels.append((label, _with_category(data.mean("rdm"), layers_m)))
        for model in models:
            layer = str(scores["best_layer"].sel(model=model, region=regions_used[0]).item())
            sel = full.isel(rdm=np.flatnonzero((full["model"].values == model) & (full["layer"].values == layer))[0])
            panels.append((f"{model} {layer}", sel))
        return "RDMs sorted by category", rdm_heatmaps_figure(panels)

    def mds():
        first = regions_used[0]
        layer = str(scores["best_layer"].sel(model=models[0], region=first).item())
        sel = full.isel(rdm=np.flatnonzero((full["model"].values == models[0]) & (full["layer"].values == layer))[0])
        data = stack.isel(rdm=np.flatnonzero(stack["region"].values == first))
        return "MDS of the stimuli", mds_figure([(f"{first} (mean)", _with_category(data.mean("rdm"), layers_m)),
                                                  (f"{models[0]} {layer}", sel)])

    figures = [("RSA by layer", rsa_by_layer_figure(scores, method=method, alpha=alpha)), heatmaps, mds]
    tables = {"scores": _scores_table(scores), "best_layer": best, "stimuli": report}
    notes = [f"stimuli: {int(r.n_used)} used of {int(r.n_stimuli)} in {r.input}"
             + (f" ({int(r.n_dropped)} without a match, e.g. {r.dropped_examples})" if r.n_dropped else "")
             for r in report.itertuples()]
    lines = []
    for row in best.to_dict("records"):
        text = (f"{row['region']}: {row['model']} best layer {row['layer']} "
                f"({method} {row['score']:.3f}, {int(ci * 100)}% CI {row['ci_low']:.3f} to {row['ci_high']:.3f}")
        if np.isfinite(row["ceiling_low"]):
            text += f"; noise ceiling {row['ceiling_low']:.3f} to {row['ceiling_high']:.3f}"
        else:
            text += "; no noise ceiling (one RDM)"
        if "heldout_score" in row:
            text += (f"; held-out: {row['heldout_layer']} chosen in {row['heldout_agreement']:.0%} of "
                     f"{scores.attrs.get('n_splits', heldout_splits)} half-splits, score {row['heldout_score']:.3f}")
        lines.append(text + ")")
    notes += lines
    answer_cols = [c for c in ("region", "model", "layer", "score", "ci_low", "ci_high", "ceiling_low",
                               "ceiling_high", "heldout_layer", "heldout_score") if c in best.columns]
    result = StepResult(scores, metrics=metrics, tables=tables, figures=figures, notes=notes)
    first = models[0]
    short = []
    for region in regions_used:
        row = best[(best["region"] == region) & (best["model"] == first)].iloc[0]
        text = f"{region} {row['layer']} ({row['score']:.2f}"
        if np.isfinite(row["ceiling_low"]):
            text += f", lower ceiling {row['ceiling_low']:.2f}"
        short.append(text + ")")
    sentence = f"Best layer of {first} per region ({method}): " + "; ".join(short) + "."
    if len(models) > 1:
        sentence += " The table gives every model, with CIs and the layer chosen on held-out stimuli."
    return _answer(result, sentence, best[answer_cols])


def _over_time(layers: xr.DataArray, stack: xr.DataArray, report: pd.DataFrame, method: str) -> StepResult:
    """Time-resolved RSA (brain = one RDM per time point, from epochs)."""
    from ..analysis.layers import compare_layers_over_time
    from ..report.rsa_figures import rsa_over_time_figure

    scores = compare_layers_over_time(layers, stack, method=method)
    table = scores["score"].to_dataframe().reset_index()
    rows, metrics = [], {"n_stimuli": float(scores.attrs["n_stimuli"])}
    for model in scores["model"].values:
        for region in scores["region"].values:
            z = scores["score"].sel(model=model, region=region)
            flat = int(np.nanargmax(np.where(np.isfinite(z.values), z.values, -np.inf)))
            li, ti = np.unravel_index(flat, z.shape)
            row = {"model": str(model), "region": str(region), "layer": str(z["layer"].values[li]),
                   "time": float(z["time"].values[ti]), "score": float(z.values[li, ti])}
            rows.append(row)
            metrics[f"peak_score.{region}.{model}"] = row["score"]
            metrics[f"peak_time.{region}.{model}"] = row["time"]
    peaks = pd.DataFrame(rows)
    lines = [f"{r['region']}: {r['model']} peaks at {r['time']:.3f} s with layer {r['layer']} "
             f"({method} {r['score']:.3f})" for r in rows]
    result = StepResult(scores, metrics=metrics, tables={"scores_over_time": table, "peaks": peaks, "stimuli": report},
                        figures=[("Time-resolved RSA", rsa_over_time_figure(scores, method=method))],
                        notes=lines + ["time-resolved: no bootstrap CIs or noise ceilings per time point here"])
    return _answer(result, "Time-resolved RSA: " + "; ".join(lines), peaks)


def layer_similarity(
    images: xr.DataArray,
    brain: xr.DataArray,
    *,
    models: list[Any],
    metric: ActivationMethod = "debiased_cka",
    layers: str | list[str] = "blocks",
    pooling: Pooling | None = "avg",
    batch_size: int = 32,
    n_boot: int = 200,
    ci: float = 0.95,
    seed: int = 0,
    device: str | None = None,
) -> StepResult:
    """Layers of networks vs brain responses with an activation method (CKA, Procrustes, ...): scores and CIs.

    See :func:`neurodecode.analysis.layers.compare_layer_activations`; activations are extracted here and
    not kept (only the scores are cached).
    """
    from ..analysis.layers import best_layers, compare_layer_activations, layer_activations
    from ..report.rsa_figures import rsa_by_layer_figure

    acts, info = layer_activations(images, models, layers=layers, pooling=pooling, batch_size=batch_size,
                                   device=device, progress=show_progress())
    scores = compare_layer_activations(acts, brain, method=metric, n_boot=n_boot, ci=ci, seed=seed)
    del acts
    scores.attrs["models"] = json.dumps(info)
    best = best_layers(scores)
    kind = scores.attrs["kind"]
    lines = [f"{r['region']}: {r['model']} best layer {r['layer']} ({metric} {r['score']:.3f}, {int(ci * 100)}% CI "
             f"{r['ci_low']:.3f} to {r['ci_high']:.3f}{'; a distance: lower is closer' if kind == 'distance' else ''})"
             for r in best.to_dict("records")]
    notes = [f"{m['label']}: model {m['model_id']}, preprocessing {json.dumps(m['preprocessing'])}" for m in info]
    notes += lines + ["no noise ceiling for activation methods here (it needs repeated measurements)"]
    metrics = {f"best_score.{r['region']}.{r['model']}": r["score"] for r in best.to_dict("records")}
    fig = rsa_by_layer_figure(scores, method=metric, alpha=None,
                              ceiling_notes={str(r): "no ceiling for activation methods" for r in scores["region"].values},
                              title=f"{metric} by layer")
    result = StepResult(scores, metrics=metrics, tables={"scores": scores[["score", "ci_low", "ci_high"]].to_dataframe()
                                                          .reset_index(), "best_layer": best},
                        figures=[(f"{metric} by layer", fig)], notes=notes)
    return _answer(result, f"Best layer per region and model ({metric}): see the table.",
                   best[["region", "model", "layer", "score", "ci_low", "ci_high"]])


def _scores_table(scores: xr.Dataset) -> pd.DataFrame:
    df = scores[["score", "ci_low", "ci_high", "se", "p_value", "p_fdr"]].to_dataframe().reset_index()
    cl = scores[["ceiling_low", "ceiling_high"]].to_dataframe().reset_index()
    return df.merge(cl, on="region")


def _with_category(rdm2d: xr.DataArray, ref: xr.DataArray) -> xr.DataArray:
    if "category" in ref.coords and "category" not in rdm2d.coords:
        rdm2d = rdm2d.assign_coords(category=("stimulus", ref["category"].values))
    return rdm2d


def trsa(
    layer_rdms: xr.DataArray,
    brain: xr.DataArray | list[xr.DataArray],
    *,
    lows: list[float] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
    ups: list[float] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    method: RdmCompareMethod = "spearman",
    kind: Annotated[str, OneOf("neurodecode.analysis.trsa:RGTM_KINDS", "tRSA kind")] = "geotopological",
    regions: list[str] | None = None,
    rdm_method: RdmMethod = "correlation",
) -> StepResult:
    """Topological RSA: which (low, up) singles out the right layer, and layer-vs-brain tRSA at that setting.

    See :func:`neurodecode.analysis.layers.trsa_layers`.
    """
    from ..analysis.layers import trsa_layers
    from ..report.rsa_figures import rsa_vs_trsa_figure, trsa_map_figure

    layers_m, stack, _ = _prepare(layer_rdms, brain, rdm_method)
    out = trsa_layers(layers_m, stack, lows=lows, ups=ups, method=method, kind=kind, regions=regions)
    acc = out["accuracy"]
    low, up, chance = out.attrs["low"], out.attrs["up"], out.attrs["chance"]
    plain = float(acc.sel(low=0.0, up=1.0)) if (0.0 in lows and 1.0 in ups) else float("nan")
    metrics = {"best_low": low, "best_up": up, "best_accuracy": float(np.nanmax(acc.values)),
               "accuracy_plain_rsa": plain, "chance": chance}
    for region in out["region"].values:
        scores = out["trsa_score"].isel(model=0).sel(region=region).values
        b = int(np.nanargmax(scores))
        metrics[f"trsa_best_depth.{region}"] = float(b)
        metrics[f"trsa_best_score.{region}"] = float(scores[b])
    table = out[["trsa_score", "rsa_score"]].to_dataframe().reset_index()
    figures = [("tRSA (low, up) map", trsa_map_figure(acc, chance=chance, best=(low, up))),
               ("RSA vs tRSA by layer", rsa_vs_trsa_figure(out, method=method))]
    text = (f"best setting low={low:g}, up={up:g}: layer identification accuracy {np.nanmax(acc.values):.2f} "
            f"(plain RSA {plain:.2f}, chance {chance:.2f})")
    result = StepResult(out, metrics=metrics, tables={"trsa_scores": table, "sweep": acc.to_dataframe().reset_index()},
                        figures=figures, notes=[text])
    return _answer(result, "Topological RSA: " + text)
