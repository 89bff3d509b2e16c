"""``neurodecode compare``: layers of the user's networks vs the user's brain data on the user's stimuli.

The command builds a pipeline (two kinds of named data sources: the stimuli and each brain file; steps
``rsa.layer_rdms`` -> ``rsa.compare_brain`` [-> ``rsa.trsa``]), runs it with the pipeline runner and writes
it to ``--out/pipeline.yaml``, so ``neurodecode run OUT/pipeline.yaml`` gives the same results::

    neurodecode compare --stimuli my_images/ --brain rdms.npy --stimulus-ids ids.txt \\
        --model efficientnet_lite0 --model my_net.py:build --preprocess imagenet --out results/

``--brain`` may also be a BIDS-derivatives folder (``dataset_description.json`` + ``sub-01_desc-IT_rdm.npy``...),
read with :func:`neurodecode.datasets.from_bids_derivatives` (loader ``bids.derivatives``) and narrowed with
``--bids-select "sub=01,02 desc=IT"``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import BadInputError

__all__ = ["add_subparser", "build_config", "main_compare", "parse_bids_select", "BIDS_SELECT_KEYS"]

DEFAULT_MODEL = "efficientnet_lite0"


def _abs(path: str) -> str:
    text = os.path.expanduser(str(path))
    if any(ch in text for ch in "*?["):
        return text if os.path.isabs(text) else os.path.join(os.getcwd(), text)
    return str(Path(text).resolve())


def _is_zoo(name: str) -> bool:
    return ":" not in name


def _per_model(values: list[str] | None, models: list[str], what: str) -> list[str | None]:
    """One value for every model, for one value per model, or None."""
    if not values:
        return [None] * len(models)
    if len(values) == 1:
        return [values[0] if not _is_zoo(m) else None for m in models]
    if len(values) != len(models):
        raise BadInputError(f"give one {what} for all models or one per --model ({len(models)}), "
                            f"got {len(values)}.")
    return list(values)


def _per_brain(values: list[str] | None, n: int, what: str) -> list[str | None]:
    if not values:
        return [None] * n
    if len(values) == 1:
        return [values[0]] * n
    if len(values) != n:
        raise BadInputError(f"give one {what} for all --brain files or one per --brain file ({n}), got {len(values)}.")
    return list(values)


#: ``--bids-select`` keys (BIDS short entity keys, as in file names) -> keywords of from_bids_derivatives
BIDS_SELECT_KEYS = {"sub": "subject", "ses": "session", "task": "task", "run": "run", "desc": "description",
                    "roi": "roi", "space": "space", "acq": "acquisition", "suffix": "suffix"}


def _is_bids_folder(path: str) -> bool:
    folder = Path(os.path.expanduser(str(path)))
    return folder.is_dir() and (folder / "dataset_description.json").is_file()


def parse_bids_select(items: list[str] | None) -> dict[str, Any]:
    """``["sub=01,02", "desc=IT"]`` -> ``{"subject": ["01", "02"], "description": "IT"}``.

    Raises
    ------
    BadInputError
        An item that is not KEY=VALUE[,VALUE...], an unknown key (the message lists the known
        ones), or a key given twice.
    """
    from .ops import did_you_mean

    out: dict[str, Any] = {}
    for item in items or []:
        for part in item.split():
            key, eq, value = part.partition("=")
            key = key.strip()
            if not eq or not key or not value.strip(","):
                raise BadInputError(f"--bids-select {part!r}: write KEY=VALUE[,VALUE...] (e.g. sub=01,02 desc=IT).")
            if key not in BIDS_SELECT_KEYS:
                raise BadInputError(f"--bids-select: unknown key {key!r}{did_you_mean(key, list(BIDS_SELECT_KEYS))}; "
                                    f"known keys: {', '.join(BIDS_SELECT_KEYS)}.")
            name = BIDS_SELECT_KEYS[key]
            if name in out:
                raise BadInputError(f"--bids-select: {key} is given twice; list the values once ({key}=a,b).")
            values = [v.strip() for v in value.split(",") if v.strip()]
            if name == "suffix" and len(values) != 1:
                raise BadInputError("--bids-select: give one suffix (suffix=rdm or suffix=beta).")
            out[name] = values[0] if len(values) == 1 else values
    return out


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline (as a dict) that ``neurodecode compare`` runs, from its parsed arguments."""
    models = list(args.model or [DEFAULT_MODEL])
    preprocess = _per_model(args.preprocess, models, "--preprocess")
    specs: list[dict[str, Any]] = []
    plugins: list[str] = []
    for name, prep in zip(models, preprocess):
        if name.startswith("hf:"):
            full = "hf:" + _abs(name[3:])
        elif not _is_zoo(name):
            module, _, factory = name.rpartition(":")
            if module.endswith(".py") or os.sep in module:
                path = _abs(module)
                if not Path(path).is_file():
                    raise BadInputError(f"--model {name}: no such file {path!r}; give FILE.py:FACTORY with the "
                                        "path of your Python file.")
                plugins.append(path)
                full = f"{path}:{factory}"
            else:
                full = name
        else:
            full = name
        spec: dict[str, Any] = {"name": full, "pretrained": True}
        if prep:
            spec["preprocessing"] = prep
        specs.append(spec)
        if args.control and _is_zoo(name):
            specs.append({"name": full, "pretrained": False, "seed": args.seed})
    labels: list[str] = []
    from ..analysis.layers import model_specs

    for spec in model_specs(specs):
        labels.append(spec["label"])
    for spec, label in zip(specs, labels):
        spec["label"] = label
    stimuli = _abs(args.stimuli)
    data: dict[str, Any] = {"stimuli": {"files": [stimuli], "loader": "images.read"}}
    ids = _per_brain(args.stimulus_ids, len(args.brain), "--stimulus-ids")
    metas = _per_brain(args.rdm_meta, len(args.brain), "--rdm-meta")
    brain_names = []
    select = parse_bids_select(getattr(args, "bids_select", None))
    bids_folders = [p for p in args.brain if _is_bids_folder(p)]
    if select and not bids_folders:
        raise BadInputError("--bids-select applies to BIDS-derivatives folders given to --brain (folders holding "
                            "dataset_description.json); none of the --brain inputs is one.")
    for i, (path, sid, meta) in enumerate(zip(args.brain, ids, metas)):
        name = "brain" if len(args.brain) == 1 else f"brain{i + 1}"
        params: dict[str, Any] = {}
        if sid:
            params["stimulus_ids"] = _abs(sid)
        if _is_bids_folder(path):
            if meta:
                raise BadInputError(f"--rdm-meta does not apply to the BIDS-derivatives folder {path}: subject and "
                                    "region come from the file names (sub-<label>, desc-<region> or roi-<region>).")
            data[name] = {"files": [_abs(path)], "loader": "bids.derivatives", "params": {**select, **params}}
            brain_names.append(name)
            continue
        if meta:
            params["meta"] = _abs(meta)
        source: dict[str, Any] = {"files": [_abs(path)], "loader": "brain.read"}
        if params:
            source["params"] = params
        data[name] = source
        brain_names.append(name)
    brain_ref: Any = brain_names[0] if len(brain_names) == 1 else brain_names
    layers: Any = args.layers if args.layers in ("blocks", "top", "leaves", "all") else [
        s.strip() for s in args.layers.split(",") if s.strip()]
    if args.metric != "rsa":
        if len(brain_names) != 1:
            raise BadInputError(f"--metric {args.metric}: give one --brain file of responses (stimulus or trial x "
                                "neuroid, with region/subject coords on neuroid).")
        pooling = args.pooling or "avg"
        steps = [{"id": "similarity", "op": "rsa.layer_similarity",
                  "inputs": {"images": "stimuli", "brain": brain_names[0]},
                  "params": {"models": specs, "metric": args.metric, "layers": layers, "pooling": pooling,
                             "batch_size": args.batch_size, "n_boot": min(args.n_boot, 200), "seed": args.seed}}]
        cfg = {"name": args.name,
               "description": (f"Layers of {', '.join(s['label'] for s in specs)} vs the brain responses in "
                               f"{args.brain[0]} on the stimuli in {args.stimuli} ({args.metric}); written by "
                               "`neurodecode compare`.")}
        if plugins:
            cfg["plugins"] = list(dict.fromkeys(plugins))
        cfg.update({"data": data, "steps": steps, "outputs": {"save": ["similarity"], "tables": True}})
        return cfg
    steps: list[dict[str, Any]] = [
        {"id": "layer_rdms", "op": "rsa.layer_rdms", "input": "stimuli",
         "params": {"models": specs, "layers": layers, "pooling": args.pooling or "flatten", "method": args.rdm_method,
                    "batch_size": args.batch_size, "n_sim": 4 if args.trsa else 0, "seed": args.seed}},
        {"id": "rsa", "op": "rsa.compare_brain", "inputs": {"layer_rdms": "layer_rdms", "brain": brain_ref},
         "params": {"method": args.compare_method, "rdm_method": args.rdm_method, "n_boot": args.n_boot,
                    "seed": args.seed, "heldout_splits": args.heldout_splits}},
    ]
    save = ["layer_rdms", "rsa"]
    if args.trsa:
        steps.append({"id": "trsa", "op": "rsa.trsa", "inputs": {"layer_rdms": "layer_rdms", "brain": brain_ref},
                      "params": {"method": args.compare_method, "rdm_method": args.rdm_method}})
        save.append("trsa")
    cfg: dict[str, Any] = {
        "name": args.name,
        "description": (f"Layers of {', '.join(s['label'] for s in specs)} vs {len(args.brain)} brain input(s) on "
                        f"the stimuli in {args.stimuli} ({args.metric}: {args.rdm_method} RDMs compared with "
                        f"{args.compare_method}); written by `neurodecode compare`."),
    }
    if plugins:
        cfg["plugins"] = list(dict.fromkeys(plugins))
    cfg.update({"data": data, "steps": steps, "outputs": {"save": save, "tables": True}})
    return cfg


def _print_answer(out: Path) -> bool:
    """Print the best-layer table of ``out`` when there is one; False when there is none."""
    import pandas as pd

    found = sorted((out / "tables").glob("*best_layer.csv"))
    if not found:
        return False
    table = found[0]
    best = pd.read_csv(table, dtype={"region": str, "model": str, "layer": str, "heldout_layer": str})  # layer "3" stays a name
    print("best layer per model and region (score with 95% CI; noise ceiling; held-out choice):")
    for row in best.itertuples():
        ceiling = (f"ceiling {row.ceiling_low:.3f}-{row.ceiling_high:.3f}" if pd.notna(row.ceiling_low)
                   else "no ceiling")
        held = ""
        if hasattr(row, "heldout_layer") and pd.notna(getattr(row, "heldout_layer", None)):
            held = f"; held-out {row.heldout_layer} {row.heldout_score:.3f} ({row.heldout_agreement:.0%} of splits)"
        print(f"  {row.region:>12s}  {row.model:<28s} {row.layer:<10s} {row.score:.3f} "
              f"[{row.ci_low:.3f}, {row.ci_high:.3f}]  {ceiling}{held}")
    return True


def main_compare(args: argparse.Namespace) -> int:
    """Run ``neurodecode compare``; returns the exit status."""
    import yaml

    from .._files import atomic_path
    from .config import load_config
    from .runner import run

    if args.metric != "rsa":
        from ..analysis._methods import get_method

        get_method(args.metric, compares="activations", what="--metric")  # an error listing the methods
    cfg = build_config(args)
    out = Path(args.out).expanduser().resolve()
    config = load_config(cfg)
    progress = False if args.quiet else None
    result = run(config, out, progress=progress, force=args.force)
    text = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
    header = ("# Written by `neurodecode compare` (" + " ".join(sys.argv[1:]) + ")\n"
              "# The same comparison as a pipeline: neurodecode run " + str(out / "pipeline.yaml") + " --out DIR\n")
    target = out / "pipeline.yaml"
    tmp = atomic_path(target)
    tmp.write_text(header + text, encoding="utf-8")
    os.replace(tmp, target)
    if not args.quiet:
        print(f"{cfg['name']}: {len(result.steps)} steps ({len(result.cache_hits)} from the cache) in "
              f"{result.manifest['duration_s']:.1f} s -> {out}")
        print(f"  report: {out / 'report.html'}; pipeline: {target}")
        if not _print_answer(out):  # e.g. time-resolved RSA: the steps' own answers
            for step in result.steps:
                if getattr(step, "answer", None):
                    print(f"  {step.answer}")
    return 0


def add_subparser(subparsers: Any) -> None:
    """Register ``neurodecode compare``."""
    p = subparsers.add_parser(
        "compare", help="compare the layers of networks with brain data on your own stimuli",
        description="Layers of networks vs brain RDMs/responses on your stimuli: RSA with bootstrap CIs, noise "
                    "ceilings, FDR, best and held-out layers. Writes the usual outputs and pipeline.yaml.")
    p.add_argument("--stimuli", required=True, metavar="DIR_OR_GLOB",
                   help="folder (searched recursively) or glob of images, or a .nc with a stimulus dim; the id "
                        "of an image is its path relative to the folder without suffix (faces/face01)")
    p.add_argument("--brain", required=True, action="append", metavar="FILE",
                   help="RDM stack (.nc/.zarr/.npy/.npz/.mat/rsatoolbox .hdf5), responses or epochs (.nc), or a "
                        "BIDS-derivatives folder of RDMs or responses (see --bids-select); repeat for several")
    p.add_argument("--bids-select", action="append", metavar="KEY=VALUE[,VALUE]",
                   help="for --brain folders that are BIDS derivatives (RDMs *_rdm.*, responses *_beta.* / "
                        "*_responses.*): keep the files with these entities, e.g. 'sub=01,02 desc=IT'; keys "
                        + ", ".join(BIDS_SELECT_KEYS) + " (subject from sub-, region from roi- or desc-)")
    p.add_argument("--stimulus-ids", action="append", metavar="FILE",
                   help="for .npy/.npz/.mat RDMs: one stimulus id per line, in row order (one for all --brain "
                        "files, or one per file)")
    p.add_argument("--rdm-meta", action="append", metavar="FILE",
                   help="CSV with one row per RDM (columns subject, region, ...); default: every RDM of a file is "
                        "one subject of a region named after the file")
    p.add_argument("--model", action="append", metavar="NAME|FILE.py:FACTORY|hf:DIR",
                   help=f"zoo name (default {DEFAULT_MODEL}), a Python file and factory returning an nn.Module, or "
                        "a transformers model saved in a local folder; repeat for several")
    p.add_argument("--preprocess", action="append", metavar="SPEC",
                   help="preprocessing of non-zoo models: imagenet | none | mean=..,std=..,size=.. (one for all, "
                        "or one per --model)")
    p.add_argument("--control", action="store_true",
                   help="also compare the untrained version (seeded with --seed) of each zoo model")
    p.add_argument("--layers", default="blocks", help="blocks (default) or a comma list of layer names")
    p.add_argument("--pooling", default=None,
                   help="pooling of activations (default flatten for rsa, avg for activation methods)")
    p.add_argument("--metric", default="rsa",
                   help="rsa (layer RDMs vs brain RDMs/responses/epochs, default), or an activation method of "
                        "neurodecode.analysis.METHODS (debiased_cka, linear_cka, procrustes, ...) for brain responses")
    p.add_argument("--rdm-method", default="correlation", help="RDM method for layers and brain responses")
    p.add_argument("--compare-method", default="spearman", help="RDM comparison method (default spearman)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--heldout-splits", type=int, default=100,
                   help="random halvings of the stimuli for the held-out layer assignment (default 100; 0: off)")
    p.add_argument("--trsa", action="store_true", help="also run topological RSA")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--name", default="compare", help="name of the written pipeline (default compare)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    p.add_argument("--force", action="store_true", help="recompute every step, ignoring the cache")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=main_compare)
