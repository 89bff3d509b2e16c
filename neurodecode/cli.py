"""The ``neurodecode`` command line.

::

    neurodecode run PIPELINE.yaml --out DIR [--scheduler ADDR | --workers N] [--force]
    neurodecode compare --stimuli DIR --brain FILE [--model NAME|FILE.py:FACTORY|hf:DIR ...] --out DIR
    neurodecode validate PIPELINE.yaml [...]
    neurodecode ops [NAME]
    neurodecode datasets list|info|fetch ...
    neurodecode --version

Errors raised on purpose (bad config, missing dataset, bad input...) print one line to
stderr and exit with status 2. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "build_parser"]

EXIT_ERROR = 2


def _version() -> str:
    from . import __version__

    return __version__


def _cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .pipeline.config import find_pipeline, load_config
    from .pipeline.runner import run

    path = find_pipeline(args.pipeline)
    cfg = load_config(path)
    out = Path(args.out) if args.out else Path("out") / cfg.name
    progress = False if args.quiet or args.no_progress else None
    handler = None
    if not args.quiet:  # warnings (skipped runs, railing, duplicated files) also go to the terminal
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler.addFilter(lambda record: record.levelno < logging.ERROR)  # errors: one line from main()
        logging.getLogger("neurodecode").addHandler(handler)
    try:
        result = run(cfg, out, scheduler=args.scheduler, workers=args.workers, force=args.force,
                     cache_dir=args.cache_dir, progress=progress, processes=args.processes)
    finally:
        if handler is not None:
            logging.getLogger("neurodecode").removeHandler(handler)
    if not args.quiet:
        hits = len(result.cache_hits)
        cached = f": {', '.join(result.cache_hits)}" if 0 < hits < len(result.steps) else ""
        print(f"{cfg.name}: {len(result.steps)} steps ({hits} from the cache{cached}) in "
              f"{result.manifest['duration_s']:.1f} s -> {result.out_dir}")
        for sid, paths in result.outputs.items():
            shown = ", ".join(str(p.relative_to(result.out_dir)) for p in paths[:3])
            more = f" (+{len(paths) - 3} more)" if len(paths) > 3 else ""
            print(f"  {sid}: {shown}{more}")
        if result.report is not None:
            print(f"  report: {result.report}")
        if (result.out_dir / "figures").is_dir():
            print(f"  figures (SVG, PNG): {result.out_dir / 'figures'}")
        _print_answers(result.steps)
    return 0


def _print_answers(steps: Sequence[Any]) -> None:
    """The answers of the steps (sentence and small table), as the report opens with them."""
    answered = [s for s in steps if getattr(s, "answer", None) or getattr(s, "answer_table", None)]
    if not answered:
        return
    import textwrap

    print("result:")
    for step in answered:
        if step.answer:
            print(textwrap.fill(f"{step.answer} ({step.id})", width=100, initial_indent="  ",
                                subsequent_indent="    "))
        if step.answer_table:
            import pandas as pd

            frame = pd.DataFrame(step.answer_table)
            text = frame.head(20).to_string(index=False, na_rep="-", float_format=lambda x: f"{x:.3g}")
            print(textwrap.indent(text, "    "))


def _cmd_validate(args: argparse.Namespace) -> int:
    from .pipeline.checks import check_pipeline
    from .pipeline.config import find_pipeline, load_config

    for name in args.pipeline:
        path = find_pipeline(name)
        cfg = check_pipeline(load_config(path))  # also what a run would stop on: files, $VARS, selections
        source = "; ".join(f"{name}: {spec.dataset or f'{len(spec.files or [])} file(s)'}"
                           for name, spec in cfg.data_sources.items())
        print(f"{path}: OK ({cfg.name}: {source}, {len(cfg.steps)} steps: "
              f"{' -> '.join(s.id for s in cfg.steps)})")
    return 0


def _cmd_ops(args: argparse.Namespace) -> int:
    from .pipeline.ops import LOADERS, OPS

    if args.name:
        registry = LOADERS if args.name in LOADERS else OPS
        op = registry.get(args.name)
        spec = op.param_spec()
        print(f"{op.name}: {op.description}")
        print(f"  function: {op.target if isinstance(op.target, str) else op.target.__module__ + ':' + op.target.__qualname__}")
        print(f"  maps over lists: {'yes' if op.maps else 'no (receives the whole list)'}")
        if registry is OPS and op.n_data_args > 1:
            print(f"  inputs (name them in a step with `inputs:`): {', '.join(op.data_args())}")
        for name, ann in spec.annotations.items():
            default = "required" if name in spec.required else f"default {spec.defaults.get(name)!r}"
            type_name = getattr(ann, "__name__", None) or str(ann).replace("typing.", "").replace(
                "collections.abc.", "")
            print(f"  {name}: {type_name} ({default})")
        if spec.allow_extra:
            print("  (other keyword arguments are passed through)")
        return 0
    for title, registry in (("ops", OPS), ("loaders (data.loader)", LOADERS)):
        print(f"{title}:")
        for name in registry.names():
            print(f"  {name:24s} {registry.get(name).description}")
    return 0


def _add_datasets(subparsers: Any) -> None:
    try:
        from .datasets import cli as datasets_cli
    except ImportError as err:
        reason = str(err)
        parser = subparsers.add_parser("datasets", help="list, describe and fetch registered datasets")
        parser.add_argument("rest", nargs=argparse.REMAINDER)

        def unavailable(args: argparse.Namespace) -> int:
            from .errors import MissingDependencyError

            raise MissingDependencyError(f"the dataset registry is not available in this installation ({reason}).")

        parser.set_defaults(func=unavailable)
        return
    datasets_cli.add_subparsers(subparsers)


def _add_decode(subparsers: Any) -> None:
    from .decoding import cli as decode_cli

    decode_cli.add_subparser(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``neurodecode``."""
    parser = argparse.ArgumentParser(
        prog="neurodecode",
        description="Load brain recordings as labelled arrays and run reproducible preprocessing pipelines.",
    )
    parser.add_argument("--version", action="version", version=f"neurodecode {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")

    p_run = subparsers.add_parser("run", help="run a pipeline YAML file",
                                  description="Run a pipeline and write manifest, metrics, results, report and log.")
    p_run.add_argument("pipeline", help="pipeline YAML file (or the name of a shipped pipeline)")
    p_run.add_argument("--out", "-o", metavar="DIR", help="output folder (default out/<pipeline name>)")
    where = p_run.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDR", help="dask.distributed scheduler address, e.g. tcp://host:8786")
    where.add_argument("--workers", type=int, metavar="N", help="run on a local dask cluster with N workers")
    p_run.add_argument("--processes", action="store_true", help="with --workers: worker processes, not threads")
    p_run.add_argument("--force", action="store_true", help="recompute every step, ignoring the cache")
    p_run.add_argument("--cache-dir", metavar="DIR", help="step cache folder (default <out>/.cache)")
    p_run.add_argument("--no-progress", action="store_true", help="no progress bars")
    p_run.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    p_run.set_defaults(func=_cmd_run)

    p_val = subparsers.add_parser("validate", help="check pipeline files without running them")
    p_val.add_argument("pipeline", nargs="+", help="pipeline YAML file(s)")
    p_val.set_defaults(func=_cmd_validate)

    p_ops = subparsers.add_parser("ops", help="list the registered ops, or show the parameters of one")
    p_ops.add_argument("name", nargs="?", help="an op or loader name")
    p_ops.set_defaults(func=_cmd_ops)

    from .pipeline.compare_cli import add_subparser as _add_compare

    _add_compare(subparsers)
    _add_datasets(subparsers)
    _add_decode(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neurodecode`` console script; returns the exit status."""
    from .errors import NeurodecodeError

    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        status = func(args)
    except NeurodecodeError as err:
        message = " ".join(str(err).split())
        print(f"neurodecode: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("neurodecode: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
