"""``neurodecode decode``: cross-validated decoding of labelled recordings in one command.

::

    neurodecode decode S001R04.edf S001R08.edf S001R12.edf --label T1,T2 --cv run --out DIR
    neurodecode decode eegmmidb_s001 --label T1,T2 --model csp_lda --model lda --out DIR
    neurodecode decode muse_n170 --label face,house --within subject --reject 100 --out DIR
    neurodecode decode haxby2001 --label label --out DIR          # fMRI: one sample per block
    neurodecode decode reaching_m1 --target vel_x,vel_y --out DIR # spikes: causal windows, R2

Builds a pipeline (``data`` -> ``decoding.epochs`` -> ``decode``), writes it as ``DIR/pipeline.yaml``
and runs it with :func:`neurodecode.pipeline.runner.run`: the usual manifest, metrics, tables
(``tables/decode.scores.csv``: model, fold, score, chance...), report and log. The terminal ends
with the answer: best model, mean +- sd over folds, chance, permutation p-value.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_subparser", "build_config", "run_decode"]

#: loaders by file suffix (each file is one run)
_EEG_SUFFIXES = (".edf", ".bdf", ".fif", ".gz", ".vhdr", ".set", ".csv")


def _float_pair(text: str) -> list[float] | None | str:
    if text == "auto":
        return text
    if text.lower() in ("none", "off", "no"):
        return None
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH in Hz or 'none', got {text!r}") from err
    return [lo, hi]


def _cv_arg(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def build_config(inputs: list[str], *, label: str | None = None, tmin: float | None = None, tmax: float | None = None,
                 cv: str | int | None = None, models: list[str] | None = None, time_resolved: bool = False,
                 n_perm: int = 100, band: Any = "auto", scoring: str | None = None, seed: int = 0,
                 name: str = "decode", bids: str | None = None,
                 bids_select: dict[str, Any] | None = None, within: str | None = None,
                 reject: float | None = None, target: str | None = None, lags: int | None = None) -> dict[str, Any]:
    """The pipeline (a plain dict, as in a YAML file) that ``neurodecode decode`` runs.

    ``bids``: a BIDS folder read with :func:`neurodecode.datasets.from_bids` (``bids_select``: subject,
    session, task, run, datatype), instead of ``inputs``. ``within``: a trial coord (``subject``):
    leave one ``cv`` group (default ``run``) out inside each of its values, training on that value's
    other groups only. ``reject``: drop epochs whose peak-to-peak amplitude on any EEG channel
    exceeds this many microvolts (``eeg.reject_amplitude``). ``target``: instead of ``label``, a
    continuous target (one coord or a comma list, e.g. ``vel_x,vel_y`` of binned spikes, decoded from
    causal windows of ``lags`` bins; default cv: 5 contiguous blocks with a gap of ``lags`` samples).
    """
    from ..errors import BadInputError

    if bids is not None:
        if inputs:
            raise BadInputError("decode: give files/a dataset or --bids ROOT, not both.")
        root = Path(bids).expanduser()
        if not root.is_dir():
            raise BadInputError(f"decode: --bids {bids!r} is not a folder; give the root of a BIDS dataset.")
        select = {k: ([x.strip() for x in v.split(",")] if isinstance(v, str) and "," in v else v)
                  for k, v in (bids_select or {}).items() if v is not None}
        data_bids: dict[str, Any] = {"bids": str(root.resolve())}
        if select:
            data_bids["select"] = select
        inputs = []
    if not inputs and bids is None:
        raise BadInputError("decode: give at least one file or a registered dataset name.")
    paths = [Path(p) for p in inputs]
    if bids is not None:
        data: dict[str, Any] = data_bids
    elif all(p.exists() for p in paths):
        bad = [str(p) for p in paths if not str(p).lower().endswith(_EEG_SUFFIXES)]
        if bad:
            raise BadInputError(f"decode: {bad} are not EEG/MEG files this command reads "
                                f"({', '.join(_EEG_SUFFIXES)}).")
        data = {"files": [str(p.resolve()) for p in paths], "loader": "eeg.read_eeg"}
    elif len(inputs) == 1 and not any(c in inputs[0] for c in "/\\."):
        data = {"dataset": inputs[0]}
    else:
        missing = [str(p) for p in paths if not p.exists()]
        raise BadInputError(f"decode: no such file(s) {missing}; give existing files or one registered dataset "
                            "name (neurodecode datasets list).")
    if (label is None) == (target is None):
        raise BadInputError("decode: give --label (classes: a coord name or event labels) or --target (a continuous "
                            "coord, e.g. vel_x,vel_y), one of the two.")
    events = [x.strip() for x in label.split(",") if x.strip()] if label is not None and "," in label else None
    epoch_params: dict[str, Any] = {"labels": events, "band": band}
    if tmin is not None:
        epoch_params["tmin"] = float(tmin)
    if tmax is not None:
        epoch_params["tmax"] = float(tmax)
    if target is not None:
        targets = [x.strip() for x in target.split(",") if x.strip()]
        n_lags = 10 if lags is None else int(lags)
        epoch_params["lags"] = n_lags
        decode_params: dict[str, Any] = {"label": targets if len(targets) > 1 else targets[0],
                                         "task": "regression", "n_perm": int(n_perm), "seed": int(seed)}
        if cv is None and not within:
            cv = {"blocks": 5, "gap": n_lags}  # contiguous test blocks; no training window overlaps a test one
        if not models:  # ridge's alpha by contiguous inner folds (leave-one-out favours tiny alphas on time series)
            decode_params["estimators"] = {"ridge": {"estimator": "ridge", "inner_cv": 4}, "pca_knn": "pca_knn"}
    else:
        decode_params = {"label": "label" if events else label, "classes": events,
                         "n_perm": int(n_perm), "seed": int(seed), "time_resolved": bool(time_resolved)}
    if within:
        if (cv is not None and not isinstance(cv, str)) or (isinstance(cv, str) and cv.startswith("kfold")):
            raise BadInputError(f"decode: --within {within} needs --cv to name a grouping coord (run, session), "
                                f"not {cv!r}.")
        decode_params["cv"] = {"group": cv or "run", "within": within}
    elif cv is not None:
        decode_params["cv"] = cv
    if models:
        decode_params["estimators"] = list(models)
    if scoring:
        decode_params["scoring"] = scoring
    return {
        "name": name,
        "description": "Written by `neurodecode decode`: epochs per run (each file one run), then "
                       "cross-validated decoding with the registered estimators, leak-checked folds, "
                       "chance level and a label-permutation null.",
        "data": data,
        "steps": [
            {"id": "epochs", "op": "decoding.epochs", "params": epoch_params},
            *([{"id": "reject", "op": "eeg.reject_amplitude",
                "params": {"threshold": {"eeg": float(reject) * 1e-6}}}] if reject is not None else []),
            {"id": "decode", "op": "decode", "params": decode_params},
        ],
        "outputs": {"save": ["decode"], "tables": True},
    }


def run_decode(args: argparse.Namespace) -> int:
    """Run the ``decode`` command (see the module docstring)."""
    import yaml

    from .._files import write_atomic
    from ..pipeline.runner import run

    cfg = build_config(args.inputs, label=args.label, tmin=args.tmin, tmax=args.tmax, cv=args.cv,
                       models=args.model, time_resolved=args.time_resolved, n_perm=args.n_perm,
                       band=args.band, scoring=args.scoring, seed=args.seed, bids=args.bids,
                       bids_select={"subject": args.subject, "session": args.session, "task": args.task,
                                    "run": args.run, "datatype": args.datatype},
                       within=args.within, reject=args.reject, target=args.target, lags=args.lags)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "pipeline.yaml", yaml.safe_dump(cfg, sort_keys=False))
    result = run(cfg, out, force=args.force, progress=False if args.quiet else None)
    if not args.quiet:
        print(f"decode: {len(result.steps)} steps in {result.manifest['duration_s']:.1f} s -> {result.out_dir}")
        print(f"  pipeline: {out / 'pipeline.yaml'}; scores: {out / 'tables' / 'decode.scores.csv'}")
        if result.report is not None:
            print(f"  report: {result.report}")
    for step in result.steps:
        if step.id == "epochs":
            print(next((n for n in step.notes if n.startswith("Epochs:")), ""))
    summary = out / "tables" / "decode.summary.csv"
    if summary.exists():
        import pandas as pd

        from ..pipeline.decode_op import answer_lines

        table = pd.read_csv(summary)
        for line in answer_lines(table, str(table["scoring"].iloc[0]), str(table["cv"].iloc[0])):
            print(line)
    for step in result.steps:
        if step.id == "decode":
            for note in step.notes:
                if note.startswith("time-resolved"):
                    print(note)
    return 0


def add_subparser(subparsers: Any) -> None:
    """Register ``neurodecode decode`` on the main parser's subparsers."""
    p = subparsers.add_parser(
        "decode", help="cross-validated decoding of labelled recordings (EDF/BDF/FIF/BrainVision/EEGLAB files or "
                       "a dataset: EEG/MEG epochs, fMRI blocks)",
        description="Decode event labels (or a continuous --target) from EEG/MEG files (each file one run) or a "
                    "registered dataset (EEG/MEG recordings, an fMRI bold with per-volume labels, binned spikes); "
                    "writes manifest, metrics, tables (decode.scores.csv), report and pipeline.yaml into --out and "
                    "ends with the answer.")
    p.add_argument("inputs", nargs="*", metavar="FILES_OR_DATASET")
    p.add_argument("--bids", metavar="ROOT", help="read the recordings from a BIDS folder (neurodecode.datasets."
                                                   "from_bids) instead of FILES; select with --subject/--task/...")
    p.add_argument("--subject", help="with --bids: subject label(s), comma-separated")
    p.add_argument("--session", help="with --bids: session label")
    p.add_argument("--task", help="with --bids: task label")
    p.add_argument("--run", type=int, action="append", help="with --bids: run number (repeat for several)")
    p.add_argument("--datatype", help="with --bids: eeg, meg or ieeg")
    p.add_argument("--label",
                   help="a trial coord name, or a comma list of event labels to decode between, e.g. T1,T2")
    p.add_argument("--target", metavar="COORDS",
                   help="instead of --label: a continuous target, one coord or a comma list (e.g. vel_x,vel_y of "
                        "binned spikes; scored by R2, mean over the targets)")
    p.add_argument("--lags", type=int, metavar="N",
                   help="binned spikes: bins of spike history per sample (default 10); the default cv is then 5 "
                        "contiguous blocks with N samples dropped from training on each side")
    p.add_argument("--tmin", type=float, help="epoch start (s); default by event duration (stated in the output); "
                                              "for fMRI (a bold with per-volume labels) the haemodynamic delay, "
                                              "default 5 s")
    p.add_argument("--tmax", type=float, help="epoch end (s)")
    p.add_argument("--band", type=_float_pair, default="auto",
                   help="band-pass LOW,HIGH Hz before epoching, or none (default: 7,30 for sustained events, "
                        "1,30 for ERPs)")
    p.add_argument("--cv", type=_cv_arg, help="run|session|subject (leave one out), kfold:K or K "
                                                  "(default: run when there are several, else kfold:5)")
    p.add_argument("--within", metavar="COORD",
                   help="decode inside each value of this trial coord (e.g. subject): leave one --cv group (default "
                        "run) out, training on the same subject's other runs only")
    p.add_argument("--reject", type=float, metavar="UV",
                   help="drop epochs whose peak-to-peak amplitude on an EEG channel exceeds UV microvolts (e.g. 100)")
    p.add_argument("--model", action="append", metavar="NAME",
                   help="registered estimator (repeat for several; default: field baselines for the input)")
    p.add_argument("--scoring", help="scikit-learn scorer (default roc_auc for two classes)")
    p.add_argument("--n-perm", type=int, default=100, help="label permutations for the null (default 100; 0: none)")
    p.add_argument("--time-resolved", action="store_true", help="also decode at every time point (LDA) with "
                                                                "cluster statistics")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    p.add_argument("--force", action="store_true", help="recompute every step, ignoring the cache")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the answer")
    p.set_defaults(func=run_decode)


if __name__ == "__main__":  # pragma: no cover
    from ..cli import main

    sys.exit(main(["decode", *sys.argv[1:]]))
