"""Run a pipeline: load the data, run the steps (cached), save results, metrics, report and manifest.

Everything under the output folder is written atomically (temporary name + rename):

``manifest.json``
    inputs with sha256, the resolved config, package versions, per-step timings and cache hits.
``metrics.json``
    flat ``name -> number``.
``<step>.nc`` (or ``<step>/<NNN>_<item>.nc`` for a list)
    the outputs listed in ``outputs.save`` (netCDF via :func:`neurodecode.io.save`).
``tables/<step>.<name>.csv``
    the steps' tables (e.g. what was rejected and why).
``figures/<step>.<NN>_<title>.svg`` and ``.png``
    every figure of the report, as vector SVG and as PNG at twice the display density.
``report.html``
    a self-contained report (:mod:`neurodecode.report`): the answers first, then the figures,
    then the details of each step.
``run.log``
    the Python log of the run (also written when a step fails).
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import platform
import shutil
import sys
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import BadInputError, ConfigError, NeurodecodeError
from .._files import atomic_path, replace_path, safe_name
from .cache import CacheReadError, ChecksumCache, StepCache, canonical_json, data_key, sha256_file, step_key, write_atomic
from .outdir import claim
from .config import PipelineConfig, ReportSpec, load_config, resolve_path
from .ops import LOADERS, OPS, Op, StepResult, as_step_result, merge_results
from .summary import describe_changes, group_metric, item_labels, summarize

__all__ = ["run", "RunResult", "StepRecord", "StepError", "package_versions"]

logger = logging.getLogger("neurodecode.pipeline")

#: how long to wait for a dask scheduler given by address
CONNECT_TIMEOUT = "10s"

_VERSIONED = (
    "neurodecode", "numpy", "scipy", "pandas", "xarray", "dask", "distributed", "mne", "nilearn",
    "nibabel", "pynwb", "h5netcdf", "h5py", "zarr", "scikit-learn", "pydantic", "pyyaml", "matplotlib", "tqdm",
)


class StepError(NeurodecodeError, RuntimeError):
    """A step failed; the message names the step, its op and (for lists) the item."""

    def __init__(self, message: str, *, step: str | None = None):
        super().__init__(message)
        self.step = step


@dataclass
class StepRecord:
    """What happened in one step (also the source of the report section)."""

    id: str
    op: str
    input: str
    params: dict[str, Any]
    key: str
    cache_hit: bool
    seconds: float
    summary: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)
    description: str | None = None
    #: the result in a sentence and a small table (records), from :class:`StepResult`
    answer: str | None = None
    answer_table: list[dict[str, Any]] | None = None
    #: when the output was computed (for a cache hit: the original run; ``seconds`` is its compute time)
    computed_at: str | None = None


@dataclass
class RunResult:
    """The outcome of :func:`run`."""

    out_dir: Path
    manifest: dict[str, Any]
    metrics: dict[str, float]
    outputs: dict[str, list[Path]]
    steps: list[StepRecord]
    report: Path | None = None

    @property
    def cache_hits(self) -> list[str]:
        """Ids of the steps taken from the cache."""
        return [s.id for s in self.steps if s.cache_hit]

    def open(self, step_id: str) -> Any:
        """Load the saved output of ``step_id`` (a list for list outputs)."""
        from .. import io

        try:
            paths = self.outputs[step_id]
        except KeyError:
            raise KeyError(f"step {step_id!r} was not saved; saved: {sorted(self.outputs)}") from None
        objs = [io.open(p, chunks=None) for p in paths]
        return objs if self.manifest["outputs"][step_id]["is_list"] else objs[0]


def package_versions() -> dict[str, str | None]:
    """Installed versions of neurodecode and the libraries that shape its results."""
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# --------------------------------------------------------------------------- logging


class _RunLog:
    """Send the neurodecode / MNE / warnings loggers to ``run.log``.

    The log is written under its final name from the start, so the log of a killed run is there to read.
    """

    _LOGGERS = ("neurodecode", "mne", "py.warnings", "distributed")

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path  # not a temporary: a killed run keeps its log under the final name
        self.handler = logging.FileHandler(self.tmp, mode="w", encoding="utf-8")
        self.handler.setLevel(logging.INFO)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        self._levels: dict[str, int] = {}

    def __enter__(self) -> _RunLog:
        self._captured = getattr(logging, "_warnings_showwarning", None) is not None
        logging.captureWarnings(True)
        for name in self._LOGGERS:
            log = logging.getLogger(name)
            log.addHandler(self.handler)
            if name == "neurodecode":
                self._levels[name] = log.level
                if log.level == logging.NOTSET or log.level > logging.INFO:
                    log.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: Any) -> None:
        for name in self._LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        logging.captureWarnings(self._captured)
        self.handler.close()
        try:
            os.replace(self.tmp, self.path)
        except OSError:
            pass


# --------------------------------------------------------------------------- dask


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _is_path_annotation(ann: Any) -> bool:
    """True for ``Path``/``os.PathLike`` hints (alone or in a union): such loader params are file paths."""
    if ann is None:
        return False
    if isinstance(ann, type):
        return issubclass(ann, (Path, os.PathLike))
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        return any(_is_path_annotation(arg) for arg in typing.get_args(ann) if arg is not type(None))
    return origin is os.PathLike


def _make_client(scheduler: str | None, workers: int | None, processes: bool) -> tuple[Any, Callable[[], None]]:
    if scheduler is None and workers is None:
        return None, lambda: None
    if scheduler is not None and workers is not None:
        raise ConfigError("give either scheduler (an address) or workers (a count), not both.")
    from .._optional import require

    require("distributed")
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as err:
            raise BadInputError(
                f"cannot reach the dask scheduler at {scheduler!r} ({err}); start one with "
                "`dask scheduler` or use --workers N for a local cluster."
            ) from err
        return client, client.close
    if int(workers) < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}.")
    cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=processes,
                           dashboard_address=None)
    client = Client(cluster)

    def close() -> None:
        client.close()
        cluster.close()

    return client, close


_MISS = object()


def _read_cached(cache: StepCache, key: str) -> Any:
    """The data of a cache entry, or ``_MISS`` when it cannot be read (the cache logs and removes it)."""
    try:
        return cache.data(key)
    except CacheReadError:
        return _MISS


def _invoke(fn: Callable[..., Any], params: dict[str, Any], data: Any) -> StepResult:
    result = as_step_result(fn(data, **params))
    result.data = _materialize(result.data)
    return result


def _invoke_named(fn: Callable[..., Any], params: dict[str, Any], named: dict[str, Any]) -> StepResult:
    result = as_step_result(fn(**named, **params))
    result.data = _materialize(result.data)
    return result


def _materialize(obj: Any) -> Any:
    import xarray as xr

    if isinstance(obj, list):
        return [_materialize(x) for x in obj]
    if isinstance(obj, (xr.DataArray, xr.Dataset)):
        return obj.load()
    return obj


# --------------------------------------------------------------------------- the runner


def _progress(progress: bool | None, **kwargs: Any):
    from tqdm.auto import tqdm

    return tqdm(disable=None if progress is None else not progress, **kwargs)


def _json_number(value: Any) -> float | int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if isinstance(value, (int, bool)) or (number.is_integer() and abs(number) < 2**53) else number


def _records(table: Any) -> list[dict[str, Any]] | None:
    """A small DataFrame as JSON-able records (NaN -> None, numpy scalars -> Python), for the cache meta."""
    if table is None:
        return None
    from pydantic_core import to_jsonable_python

    rows = json.loads(table.to_json(orient="records", double_precision=15, default_handler=str))
    return to_jsonable_python(rows)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _params_json(params: dict[str, Any]) -> dict[str, Any]:
    from pydantic_core import to_jsonable_python

    return json.loads(canonical_json(to_jsonable_python(params, fallback=repr)))


class _Runner:
    def __init__(self, cfg: PipelineConfig, out_dir: Path, cache: StepCache, checksums: ChecksumCache,
                 client: Any, force: bool, progress: bool | None):
        self.cfg = cfg
        self.out = out_dir
        self.cache = cache
        self.checksums = checksums
        self.client = client
        self.force = force
        self.progress = progress
        self.report_spec: ReportSpec = cfg.outputs.report
        self.loaded: dict[str, Any] = {}
        self.keys: dict[str, str] = {}
        self.tables: dict[str, dict[str, Any]] = {}
        self.records: list[StepRecord] = []
        self.data_summaries: dict[str, dict[str, Any] | None] = {}
        self.inputs: list[dict[str, Any]] = []
        self.data_records: dict[str, dict[str, Any]] = {}
        self.entries: dict[str, list[Path | str]] = {}
        self.plugins_key: str | None = None
        if cfg.plugins:
            from .plugins import plugin_fingerprint

            self.plugins_key = plugin_fingerprint(cfg.plugins, cfg.base_dir)
        self.path_params: dict[str, dict[str, Path]] = {}

    # ------------------------------------------------------------ inputs

    def _data_spec(self, name: str = "data") -> dict[str, Any]:
        data = self.cfg.data_sources[name]
        spec = data.model_dump(mode="json", exclude_none=True)
        spec.pop("files", None)  # paths are identified by their checksums, not where they live
        spec.pop("bids", None)
        if data.loader:
            params = LOADERS.get(data.loader).validate_params(data.params)
            spec["params"] = _params_json({k: v for k, v in params.items() if k not in self.path_params.get(name, {})})
        return spec

    def _prefix(self, name: str) -> str:
        return "data" if self.cfg.data is not None else f"data.{name}"

    def _loader_params(self, name: str) -> tuple[dict[str, Any], dict[str, Path]]:
        """The loader's params with file-path params resolved against the pipeline's folder."""
        data = self.cfg.data_sources[name]
        op = LOADERS.get(data.loader)  # type: ignore[arg-type]
        params = op.validate_params(data.params)
        spec = op.param_spec()
        paths: dict[str, Path] = {}
        for key, value in list(params.items()):
            if isinstance(value, (str, os.PathLike)) and _is_path_annotation(spec.annotations.get(key)):
                path = resolve_path(str(value), self.cfg.base_dir, key=f"{self._prefix(name)}.params.{key}")
                if not path.exists():
                    raise BadInputError(f"{self._prefix(name)}.params.{key}: no such file {str(path)!r} "
                                        f"(resolved from {value!r}); fix the path (relative paths start at "
                                        "the pipeline file's folder).")
                params[key] = path
                paths[key] = path
        return params, paths

    def _expand_files(self, name: str) -> tuple[list[Path | str], dict[str, Path]]:
        """The entries of ``files:`` (folders kept, globs expanded) and every file they cover."""
        data = self.cfg.data_sources[name]
        entries: list[Path | str] = []
        covered: dict[str, Path] = {}
        for index, value in enumerate(data.files or []):
            key = f"{self._prefix(name)}.files[{index}]"
            path = resolve_path(value, self.cfg.base_dir, key=key)
            if _is_glob(str(path)):
                matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
                if not matches:
                    raise BadInputError(f"{key}: the pattern {value!r} matches no file (looked for {str(path)!r}); "
                                        "fix the pattern or the folder.")
                entries.append(str(path))
                for m in matches:
                    covered[str(m)] = m
            elif path.is_dir():
                inside = sorted(p for p in path.rglob("*") if p.is_file() and not any(
                    part.startswith(".") for part in p.relative_to(path).parts))
                if not inside:
                    raise BadInputError(f"{key}: the folder {str(path)!r} holds no file.")
                entries.append(path)
                for m in inside:
                    covered[str(m)] = m
            elif path.is_file():
                entries.append(path)
                covered[str(path)] = path
            else:
                raise BadInputError(
                    f"{key}: no such file or folder {str(path)!r} (resolved from {value!r}); "
                    "fix the path (relative paths start at the pipeline file's folder)."
                )
        return entries, covered

    def resolve_inputs(self) -> None:
        for name in self.cfg.data_sources:
            self._resolve_source(name)
        self.checksums.save()

    def _resolve_source(self, name: str) -> None:
        data = self.cfg.data_sources[name]
        files: dict[str, Path] = {}
        if data.dataset is not None:
            from .. import datasets

            # every file of the dataset present locally identifies the input; datasets.load then
            # verifies (and, when allowed, downloads) the files the selection needs
            statuses = datasets.file_status(data.dataset, verify=False)
            files = {s.entry.path: Path(s.path) for s in statuses if s.status != "missing"}
            if not files:
                files = {str(k): Path(v) for k, v in datasets.files(data.dataset).items()}
        elif data.bids is not None:
            from .. import datasets

            # the files of the BIDS selection (data, companions, sidecars, events, derivatives) identify the input
            root = resolve_path(data.bids, self.cfg.base_dir, key=f"{self._prefix(name)}.bids")
            select = {k: v for k, v in data.select.items() if k not in ("space", "confounds")}
            base = root.resolve()
            files = {(p.relative_to(base).as_posix() if p.is_relative_to(base) else str(p)): p
                     for p in datasets.bids_files(root, **select)}
        else:
            entries, covered = self._expand_files(name)
            self.entries[name] = entries
            roots = [e for e in entries if isinstance(e, Path)]
            for index, (_, path) in enumerate(sorted(covered.items())):
                rel = next((str(path.relative_to(r)) for r in roots if r.is_dir() and path.is_relative_to(r)),
                           path.name)
                files[f"{index:03d}:{rel}"] = path
            _, extra = self._loader_params(name)
            self.path_params[name] = extra
            for key, path in extra.items():
                files[f"param:{key}:{path.name}"] = path
        iterator = _progress(self.progress, iterable=sorted(files.items()), desc="checksums", unit="file",
                             leave=False)
        mine = []
        for rel, path in iterator:
            if path.is_dir():  # a folder given as a loader parameter: hash every file inside
                for sub in sorted(p for p in path.rglob("*") if p.is_file()):
                    mine.append({"name": f"{rel}/{sub.relative_to(path)}", "path": str(sub),
                                 "size": sub.stat().st_size, "sha256": self.checksums.sha256(sub)})
                continue
            mine.append({"name": rel, "path": str(path), "size": path.stat().st_size,
                         "sha256": self.checksums.sha256(path)})
        for entry in mine:
            self.inputs.append({"source": name, **entry} if self.cfg.data is None else entry)
        self.keys[name] = data_key(self._data_spec(name), {i["name"]: i["sha256"] for i in mine})

    def load_data(self, name: str = "data") -> Any:
        data = self.cfg.data_sources[name]
        if data.dataset is not None:
            from .. import datasets

            logger.info("loading dataset %s with selection %s", data.dataset, data.select)
            return datasets.load(data.dataset, **data.select)
        if data.bids is not None:
            from .. import datasets

            root = resolve_path(data.bids, self.cfg.base_dir, key=f"{self._prefix(name)}.bids")
            logger.info("reading BIDS dataset %s with selection %s", root, data.select)
            return datasets.from_bids(root, **data.select)
        op = LOADERS.get(data.loader)  # type: ignore[arg-type]
        params, _ = self._loader_params(name)
        fn = op.resolve()
        entries = self.entries.get(name)
        if entries is None:
            entries, _ = self._expand_files(name)

        def call(target: Any) -> Any:
            logger.info("reading %s with %s", target, data.loader)
            try:
                return fn(target, **params)
            except NeurodecodeError:
                raise
            except Exception as err:
                raise BadInputError(f"{self._prefix(name)}.loader {data.loader!r} failed on {str(target)!r}: "
                                    f"{type(err).__name__}: {err}") from err

        if op.many:
            return call(entries[0] if len(entries) == 1 else list(entries))
        paths: list[Path] = []
        for entry in entries:
            if isinstance(entry, str):  # a glob
                paths.extend(sorted(Path(p) for p in glob.glob(entry, recursive=True) if Path(p).is_file()))
            elif entry.is_dir():
                paths.extend(sorted(p for p in entry.rglob("*") if p.is_file() and not any(
                    part.startswith(".") for part in p.relative_to(entry).parts)))
            else:
                paths.append(entry)
        out = [call(path) for path in _progress(self.progress, iterable=paths, desc="load", unit="file", leave=False)]
        return out if len(out) != 1 else out[0]

    # ------------------------------------------------------------ data access

    def get(self, sid: str) -> Any:
        if sid in self.loaded:
            return self.loaded[sid]
        key = self.keys[sid]
        if sid in self.cfg.data_sources:
            value = _read_cached(self.cache, key) if not self.force and self.cache.has(key) else _MISS
            if value is not _MISS:
                self.data_summaries[sid] = self.cache.meta(key).get("summary")
                self.data_records[sid] = {"cache_hit": True, "seconds": 0.0, "loaded": True}
            else:
                t0 = time.perf_counter()
                value = _materialize(self.load_data(sid))
                self.data_summaries[sid] = summarize(value)
                self.data_records[sid] = {"cache_hit": False, "seconds": round(time.perf_counter() - t0, 4),
                                          "loaded": True}
                self.cache.put(key, value, {"id": sid, "summary": self.data_summaries[sid]}, {})
        else:
            value = _read_cached(self.cache, key)
            if value is _MISS:  # unreadable entry (logged and removed by the cache): compute the step again
                record = self.run_step([s.id for s in self.cfg.steps].index(sid))
                self.records = [record if r.id == sid else r for r in self.records]
                return self.loaded[sid]
        self.loaded[sid] = value
        return value

    @property
    def data_summary(self) -> dict[str, Any] | None:
        return self.data_summaries.get(next(iter(self.cfg.data_sources)))

    @property
    def data_record(self) -> dict[str, Any]:
        return self.data_records.get(next(iter(self.cfg.data_sources)), {})

    def summary_of(self, sid: str) -> dict[str, Any] | None:
        if sid in self.cfg.data_sources:
            if self.data_summaries.get(sid) is None and self.cache.has(self.keys[sid]):
                self.data_summaries[sid] = self.cache.meta(self.keys[sid]).get("summary")
            return self.data_summaries.get(sid)
        for record in self.records:
            if record.id == sid:
                return record.summary
        return None

    def _release(self, index: int) -> None:
        """Drop in-memory outputs no later step reads (they stay in the cache)."""
        if not self.cache.enabled:
            return
        keep = {sid for j in range(index + 1, len(self.cfg.steps)) for sid in self.cfg.reads(j)}
        keep |= set(self.cfg.outputs.save) | {m.step for m in self.cfg.metrics}
        for sid in list(self.loaded):
            if sid not in keep:
                del self.loaded[sid]

    # ------------------------------------------------------------ steps

    def plan(self) -> None:
        for index, step in enumerate(self.cfg.steps):
            op = OPS.get(step.op)
            key_params = _params_json(op.validate_params(step.params))
            if step.on_item_error != "raise":
                key_params["__on_item_error__"] = step.on_item_error
            if self.plugins_key:
                key_params["__plugins__"] = self.plugins_key
            named = self.cfg.inputs_of(index)
            if named:
                input_key = canonical_json({arg: [self.keys[r] for r in ref] if isinstance(ref, list) else self.keys[ref]
                                            for arg, ref in named.items()})
            else:
                input_key = self.keys[self.cfg.input_of(index)]
            self.keys[step.id] = step_key(input_key, step.op, key_params, op_version=op.version)

    def _apply(self, op: Op, step_id: str, data: Any, params: dict[str, Any], on_item_error: str = "raise",
               named: dict[str, Any] | None = None) -> StepResult:
        fn = op.resolve()
        if named is not None:  # several named inputs: one call, never mapped over lists
            call = partial(_invoke_named, fn, params, named)
            if self.client is not None:
                future = self.client.submit(call, pure=False)
                return self._wrap(future.result, op, step_id, None)
            return self._wrap(call, op, step_id, None)
        if isinstance(data, list) and op.maps:
            labels = item_labels(data)
            results: list[StepResult | None] = [None] * len(data)
            skipped: list[dict[str, str]] = []

            def collect(i: int, call: Callable[[], StepResult]) -> None:
                try:
                    results[i] = self._wrap(call, op, step_id, labels[i])
                except NeurodecodeError as err:
                    if on_item_error != "skip" or isinstance(err, (StepError, ConfigError)):
                        raise
                    cause = err.__cause__ if isinstance(err.__cause__, NeurodecodeError) else err
                    logger.warning("skipped (on_item_error: skip): %s", err)
                    skipped.append({"item": labels[i], "error": type(cause).__name__, "message": str(cause)})

            bar = _progress(self.progress, total=len(data), desc=step_id, unit="item", leave=False)
            with bar:
                if self.client is not None:
                    from dask.distributed import as_completed

                    futures = self.client.map(partial(_invoke, fn, params), data, pure=False)
                    index_of = {f.key: i for i, f in enumerate(futures)}
                    for future in as_completed(futures):
                        collect(index_of[future.key], future.result)
                        bar.update()
                else:
                    for i, item in enumerate(data):
                        collect(i, partial(_invoke, fn, params, item))
                        bar.update()
            done = [i for i, r in enumerate(results) if r is not None]
            if not done:
                raise BadInputError(f"step {step_id!r} ({op.name}): every item failed; first error: "
                                    f"{skipped[0]['message'] if skipped else 'none'}")
            merged = merge_results([results[i] for i in done], [labels[i] for i in done])
            if skipped:
                import pandas as pd

                skipped.sort(key=lambda row: labels.index(row["item"]))
                merged.tables["skipped_items"] = pd.DataFrame(skipped)
                merged.notes.append(f"skipped {len(skipped)} of {len(data)} items on bad data: "
                                    + ", ".join(row["item"] for row in skipped))
            merged.metrics["n_items_skipped"] = float(len(skipped))
            return merged
        if self.client is not None:
            future = self.client.submit(partial(_invoke, fn, params), data, pure=False)
            return self._wrap(future.result, op, step_id, None)
        return self._wrap(partial(_invoke, fn, params, data), op, step_id, None)

    @staticmethod
    def _wrap(call: Callable[[], StepResult], op: Op, step_id: str, item: str | None) -> StepResult:
        where = f"step {step_id!r} ({op.name})" + (f", item {item}" if item else "")
        try:
            return call()
        except StepError:
            raise
        except NeurodecodeError as err:
            logger.info("%s failed", where, exc_info=True)  # the traceback goes to run.log only
            try:
                new = type(err)(f"{where}: {err}")
            except Exception:
                new = StepError(f"{where}: {err}", step=step_id)
            new.step = step_id  # type: ignore[attr-defined]
            raise new from err
        except Exception as err:
            logger.exception("%s failed", where)
            raise StepError(f"{where} failed: {type(err).__name__}: {err} (traceback in run.log)",
                            step=step_id) from err

    def _figure_opts(self, step_figures: bool) -> str:
        spec = self.report_spec
        return canonical_json({"on": spec.enabled and step_figures, "highlight": spec.highlight,
                               "label": spec.highlight_label, "by": spec.group_by})

    def _auto_figures(self, data: Any, step_figures: bool) -> list[dict[str, str]]:
        spec = self.report_spec
        if not (spec.enabled and step_figures and spec.max_figures):
            return []
        from ..report import figures

        try:
            pairs = figures.auto_figures(data, highlight=spec.highlight, highlight_label=spec.highlight_label,
                                         group_by=spec.group_by)
            return [figures.render_figure(f, t, source="auto") for t, f in pairs]
        except Exception:  # a figure must never break a run
            logger.exception("drawing the figures failed")
            return []

    def _table_figures(self, tables: dict[str, Any]) -> list[dict[str, str]]:
        if not self.report_spec.enabled:
            return []
        from ..report import figures

        out = []
        for name, table in tables.items():
            try:
                for title, fig in figures.table_figures(name, table):
                    out.append(figures.render_figure(fig, title, source="op"))
            except Exception:  # a figure must never break a run
                logger.exception("drawing the figure of table %s failed", name)
        return out

    def _op_figures(self, result: StepResult) -> list[dict[str, str]]:
        if not self.report_spec.enabled:
            return []
        from ..report import figures

        out = []
        for index, item in enumerate(result.figures[: max(self.report_spec.max_figures, 0) or None]):
            try:
                if callable(item) and not hasattr(item, "savefig"):
                    item = item()
                title, fig, *caption = item if isinstance(item, tuple) else (f"figure {index + 1}", item)
                if callable(fig) and not hasattr(fig, "savefig"):
                    fig = fig()
                    if isinstance(fig, tuple):
                        title, fig, *caption = fig
                out.append(figures.render_figure(fig, str(title), caption=caption[0] if caption else None,
                                                 source="op"))
            except Exception:
                logger.exception("rendering figure %d failed", index)
        return out

    def run_step(self, index: int) -> StepRecord:
        step = self.cfg.steps[index]
        op = OPS.get(step.op)
        params = op.validate_params(step.params)
        key = self.keys[step.id]
        source = self.cfg.input_of(index)
        want_figures = step.figures if step.figures is not None else (
            step.id in self.cfg.outputs.save or index == len(self.cfg.steps) - 1)
        if not self.force and self.cache.has(key):
            meta = self.cache.meta(key)
            figures = meta.get("figures", [])
            if meta.get("figure_opts") != self._figure_opts(want_figures):
                figures = [f for f in figures if f.get("source") == "op"]
                figures += self._auto_figures(self.get(step.id), want_figures)
            logger.info("step %s (%s): cache hit %s", step.id, step.op, key[:12])
            return StepRecord(step.id, step.op, source, _params_json(params), key, True,
                              round(float(meta.get("seconds") or 0.0), 4), meta["summary"],
                              meta.get("metrics", {}), meta.get("notes", []), figures, step.description,
                              meta.get("answer"), meta.get("answer_table"), meta.get("created"))
        named_ids = self.cfg.inputs_of(index)
        if named_ids:
            named = {arg: [self.get(r) for r in ref] if isinstance(ref, list) else self.get(ref)
                     for arg, ref in named_ids.items()}
            data = None
            source = ", ".join(f"{arg}={ref}" for arg, ref in named_ids.items())
        else:
            named = None
            data = self.get(source)
        logger.info("step %s (%s) on %s with %s", step.id, step.op, source, _params_json(params))
        t0 = time.perf_counter()
        result = self._apply(op, step.id, data, params, step.on_item_error, named)
        seconds = time.perf_counter() - t0
        summary = summarize(result.data)
        before = self.summary_of(self.cfg.input_of(index)) if named_ids else self.summary_of(source)
        notes = describe_changes(before, summary) + list(result.notes)
        metrics = {}
        for name, value in result.metrics.items():
            number = _json_number(value)
            if number is None:
                logger.warning("step %s: metric %s=%r is not a finite number; left out", step.id, name, value)
            else:
                metrics[name] = number
        figures = (self._op_figures(result) + self._table_figures(result.tables)
                   + self._auto_figures(result.data, want_figures))
        meta = {"id": step.id, "op": step.op, "params": _params_json(params),
                "input_key": (self.keys[step.id] if named_ids else self.keys[source]),
                "summary": summary, "metrics": metrics, "notes": notes, "figures": figures,
                "figure_opts": self._figure_opts(want_figures), "seconds": seconds, "created": _now(),
                "answer": result.answer, "answer_table": _records(result.answer_table)}
        self.cache.put(key, result.data, meta, result.tables)
        self.loaded[step.id] = result.data
        self.tables[step.id] = result.tables
        for note in notes:
            logger.info("step %s: %s", step.id, note)
        logger.info("step %s done in %.2f s", step.id, seconds)
        return StepRecord(step.id, step.op, source, _params_json(params), key, False, round(seconds, 4), summary,
                          metrics, notes, figures, step.description, result.answer, meta["answer_table"],
                          meta["created"])

    def tables_of(self, sid: str) -> dict[str, Any]:
        if sid not in self.tables:
            self.tables[sid] = self.cache.tables(self.keys[sid]) if self.cache.enabled else {}
        return self.tables[sid]

    # ------------------------------------------------------------ outputs

    def save_outputs(self) -> dict[str, dict[str, Any]]:
        from .. import io

        suffix = ".nc" if self.cfg.outputs.format == "netcdf" else ".zarr"
        written: dict[str, dict[str, Any]] = {}
        for sid in self.cfg.outputs.save:
            data = self.get(sid)
            items = data if isinstance(data, list) else [data]
            for item in items:
                if not hasattr(item, "dims"):
                    raise BadInputError(f"outputs.save: step {sid!r} produced a {type(item).__name__}; "
                                        "only xarray data can be saved.")
            if isinstance(data, list):
                final = self.out / sid
                tmp = atomic_path(final)
                tmp.mkdir(parents=True)
                try:
                    names = [f"{i:03d}_{label}{suffix}" for i, label in enumerate(item_labels(data))]
                    for name, item in zip(names, data):
                        io.save(item, tmp / name, format=self.cfg.outputs.format)
                    replace_path(tmp, final)
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
                paths = [final / n for n in names]
            else:
                paths = [io.save(data, self.out / f"{sid}{suffix}", format=self.cfg.outputs.format)]
            files = [{"path": str(p.relative_to(self.out)),
                      "sha256": sha256_file(p) if p.is_file() else None} for p in paths]
            written[sid] = {"is_list": isinstance(data, list), "files": files, "summary": self.summary_of(sid)}
            logger.info("saved %s -> %s", sid, ", ".join(f["path"] for f in files))
        return written

    def save_tables(self) -> list[str]:
        out = []
        if not self.cfg.outputs.tables:
            return out
        for record in self.records:
            for name, table in self.tables_of(record.id).items():
                path = self.out / "tables" / f"{safe_name(record.id)}.{safe_name(name, fallback='table')}.csv"
                write_atomic(path, table.to_csv(index=False))
                out.append(str(path.relative_to(self.out)))
        return out

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for record in self.records:
            for name, value in record.metrics.items():
                out[f"{record.id}.{name}"] = value
        for spec in self.cfg.metrics:
            try:
                values = group_metric(self.get(spec.step), spec.name, fn=spec.fn, dim=spec.dim, by=spec.by)
            except BadInputError as err:
                raise BadInputError(f"metrics {spec.name!r} (step {spec.step!r}): {err}") from err
            for name, value in values.items():
                number = _json_number(value)
                if number is not None:
                    out[name] = number
        return out


def run(
    config: str | os.PathLike | dict | PipelineConfig,
    out_dir: str | os.PathLike,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    force: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    processes: bool = False,
) -> RunResult:
    """Run a pipeline and write its results into ``out_dir``.

    Parameters
    ----------
    config : path, dict or PipelineConfig
        The pipeline (see :mod:`neurodecode.pipeline.config` and docs/pipelines.md), or the name of a
        shipped pipeline (``"eeg_n170_preprocess"``, as ``neurodecode run`` accepts).
    out_dir : path
        Output folder (created). Holds manifest.json, metrics.json, the saved outputs,
        tables/, report.html, run.log and, by default, the step cache ``.cache``.
    scheduler : str, optional
        Address of a dask.distributed scheduler (``"tcp://host:8786"``).
    workers : int, optional
        Start a local dask cluster with this many single-threaded workers.
    force : bool
        Recompute every step (results are written back to the cache).
    cache_dir : path, optional
        Cache folder (overrides ``cache.dir`` of the config; default ``out_dir/.cache``).
    progress : bool, optional
        Show tqdm progress bars (default: only on a terminal).
    processes : bool
        With ``workers``: use worker processes instead of threads.

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError
        Invalid pipeline file (names the file and key path).
    DatasetError, BadInputError, StepError
        Missing inputs, bad data, or a failing step (names the step and op).
    """
    if isinstance(config, (str, os.PathLike)):  # a shipped pipeline's name works as with `neurodecode run`
        from .config import find_pipeline

        config = find_pipeline(config)
    from .ops import _PROGRESS

    token = _PROGRESS.set(progress)
    try:
        return _run(config, out_dir, scheduler=scheduler, workers=workers, force=force, cache_dir=cache_dir,
                    progress=progress, processes=processes)
    finally:
        _PROGRESS.reset(token)


def _run(config: Any, out_dir: Any, *, scheduler: str | None, workers: int | None, force: bool,
         cache_dir: Any, progress: bool | None, processes: bool) -> RunResult:
    from .. import __version__

    cfg = load_config(config)
    out = Path(out_dir).expanduser().resolve()
    if cache_dir is not None:
        cache_root = Path(cache_dir).expanduser().resolve()
    elif cfg.cache.dir is not None:
        cache_root = resolve_path(cfg.cache.dir, cfg.base_dir, key="cache.dir")
    else:
        cache_root = out / ".cache"
    cache = StepCache(cache_root, enabled=cfg.cache.enabled)
    checksums = ChecksumCache(cache_root / "checksums.json" if cfg.cache.enabled else None)
    started, t0 = _now(), time.perf_counter()
    with claim(out, cache_root if cfg.cache.enabled else None), _RunLog(out / "run.log"):
        logger.info("neurodecode %s: running pipeline %s (%s) into %s", __version__, cfg.name,
                    cfg.source or "<dict>", out)
        client, close = _make_client(scheduler, workers, processes)
        runner = _Runner(cfg, out, cache, checksums, client, force, progress)
        try:
            if client is not None:
                logger.info("dask client: %s", client)
            runner.resolve_inputs()
            runner.plan()
            bar = _progress(progress, total=len(cfg.steps), desc=cfg.name, unit="step")
            with bar:
                for index, step in enumerate(cfg.steps):
                    bar.set_postfix_str(step.id)
                    runner.records.append(runner.run_step(index))
                    runner._release(index)
                    bar.update()
            saved = runner.save_outputs()
            tables = runner.save_tables()
            metrics = runner.metrics()
            write_atomic(out / "metrics.json", json.dumps(metrics, indent=1, sort_keys=True))
            manifest = _manifest(cfg, runner, out, started, t0, saved, tables, scheduler, workers, cache_root)
            if cfg.outputs.bids_derivatives:
                from .bids_out import write_run_derivatives

                manifest["files"]["bids_derivatives"] = write_run_derivatives(out, cfg, runner, metrics).name
            manifest["finished"] = _now()
            manifest["duration_s"] = round(time.perf_counter() - t0, 3)
            from ..report.figures import write_figure_files

            # every figure as SVG and PNG in figures/ (a folder left by an earlier run is replaced or removed)
            manifest["files"]["figures"] = write_figure_files(out, runner.records)
            report_path = None
            if cfg.outputs.report.enabled:
                from ..report import write_report

                report_path = write_report(out / "report.html", manifest=manifest, metrics=metrics,
                                           steps=runner.records,
                                           tables={r.id: runner.tables_of(r.id) for r in runner.records},
                                           options=cfg.outputs.report)
                manifest["files"]["report"] = "report.html"
            manifest["finished"] = _now()
            manifest["duration_s"] = round(time.perf_counter() - t0, 3)
            write_atomic(out / "manifest.json", json.dumps(manifest, indent=1, default=str))
            logger.info("finished in %.2f s (%d/%d steps from the cache)", manifest["duration_s"],
                        sum(r.cache_hit for r in runner.records), len(runner.records))
        except BaseException as err:
            logger.error("run failed: %s", err)
            _write_failed_manifest(cfg, runner, out, started, t0, err)
            raise
        finally:
            close()
    outputs = {sid: [out / f["path"] for f in entry["files"]] for sid, entry in saved.items()}
    return RunResult(out, manifest, metrics, outputs, runner.records, report_path)


def _config_info(cfg: PipelineConfig) -> dict[str, Any]:
    info: dict[str, Any] = {"file": str(cfg.source) if cfg.source else None}
    if cfg.source is not None and Path(cfg.source).exists():
        info["sha256"] = sha256_file(cfg.source)
    info["resolved"] = cfg.model_dump(mode="json")
    return info


def _manifest(cfg: PipelineConfig, runner: _Runner, out: Path, started: str, t0: float,
              saved: dict[str, Any], tables: list[str], scheduler: str | None, workers: int | None,
              cache_root: Path) -> dict[str, Any]:
    steps = []
    first = next(iter(cfg.data_sources))
    data_meta = {"id": first, "key": runner.keys[first], "summary": runner.summary_of(first),
                 **(runner.data_record or {"cache_hit": True, "seconds": 0.0, "loaded": False})}
    sources = {name: {"key": runner.keys[name], "summary": runner.summary_of(name),
                      "dataset": spec.dataset, "select": spec.select, "loader": spec.loader,
                      **(runner.data_records.get(name) or {"cache_hit": True, "seconds": 0.0, "loaded": False})}
               for name, spec in cfg.data_sources.items()}
    for r in runner.records:
        steps.append({"id": r.id, "op": r.op, "input": r.input, "params": r.params, "key": r.key,
                      "cache_hit": r.cache_hit, "seconds": r.seconds, "computed_at": r.computed_at,
                      "summary": r.summary, "notes": r.notes, "metrics": sorted(r.metrics),
                      "answer": r.answer, "answer_table": r.answer_table})
    return {
        "manifest_version": 1,
        "name": cfg.name,
        "description": cfg.description,
        "status": "ok",
        "started": started,
        "finished": None,
        "duration_s": None,
        "config": _config_info(cfg),
        "inputs": {"dataset": cfg.data_sources[first].dataset, "select": cfg.data_sources[first].select,
                   "loader": cfg.data_sources[first].loader, "files": runner.inputs, "key": runner.keys[first],
                   "sources": sources},
        "data": data_meta,
        "plugins": list(cfg.plugins),
        "steps": steps,
        "cache": {"dir": str(cache_root), "enabled": cfg.cache.enabled, "force": runner.force,
                  "hits": [r.id for r in runner.records if r.cache_hit],
                  "computed": [r.id for r in runner.records if not r.cache_hit]},
        "outputs": saved,
        "files": {"manifest": "manifest.json", "metrics": "metrics.json", "log": "run.log", "tables": tables},
        "versions": package_versions(),
        "environment": {"platform": platform.platform(), "executable": sys.executable,
                        "scheduler": scheduler, "workers": workers},
    }


def _write_failed_manifest(cfg: PipelineConfig, runner: _Runner, out: Path, started: str, t0: float,
                           err: BaseException) -> None:
    try:
        manifest = {
            "manifest_version": 1, "name": cfg.name, "status": "failed",
            "error": f"{type(err).__name__}: {err}", "started": started, "finished": _now(),
            "duration_s": round(time.perf_counter() - t0, 3), "config": _config_info(cfg),
            "inputs": {"files": runner.inputs, "key": runner.keys.get(next(iter(cfg.data_sources)))},
            "steps": [{"id": r.id, "op": r.op, "key": r.key, "cache_hit": r.cache_hit, "seconds": r.seconds}
                      for r in runner.records],
            "versions": package_versions(),
        }
        write_atomic(out / "manifest.json", json.dumps(manifest, indent=1, default=str))
    except Exception:  # never hide the original error
        logger.exception("could not write the failure manifest")
