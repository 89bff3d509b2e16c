"""The pipeline file format: a pydantic schema (unknown keys are errors) and its loader.

A pipeline file is YAML::

    name: fmri_haxby_preprocess
    description: ...
    data:                      # either a registered dataset and a selection ...
      dataset: haxby2001
      select: {variant: 1slice}
    # data: {files: [a.csv, b.csv], loader: eeg.read_muse_csv, params: {sfreq: 256}}
    steps:
      - id: clean
        op: fmri.clean         # a registered op (``neurodecode ops`` lists them)
        params: {detrend: true, standardize: zscore}
        input: data            # optional: an earlier step id or "data"; default the previous step
    outputs: {save: [clean], report: true}
    metrics:
      - {name: n_blocks, step: clean, fn: count, dim: trial, by: [label]}

Every error is a :class:`~neurodecode.errors.ConfigError` whose message names the file
and the key path, e.g. ``"p.yaml: steps[2].params.h_freq: Input should be a valid number"``.
See docs/pipelines.md for the full reference.
"""

from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from ..errors import ConfigError
from .ops import LOADERS, OPS, ParamsError, did_you_mean

__all__ = [
    "PipelineConfig",
    "DataSpec",
    "StepSpec",
    "OutputsSpec",
    "ReportSpec",
    "MetricSpec",
    "CacheSpec",
    "load_config",
    "validate_config",
    "find_pipeline",
    "resolve_path",
]

_ID = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
StepId = Annotated[str, Field(pattern=_ID, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=False)


class DataSpec(_Strict):
    """Where the input comes from: a registered dataset, or files read by a registered loader."""

    dataset: str | None = Field(None, description="registered dataset name (neurodecode datasets list)")
    select: dict[str, Any] = Field(default_factory=dict, description="selection passed to datasets.load")
    files: list[str] | None = Field(None, description="explicit paths (relative to the YAML file; $VARS expand)")
    loader: str | None = Field(None, description="registered loader for `files`, e.g. eeg.read_muse_csv")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the loader")
    bids: str | None = Field(None, description="a BIDS dataset folder read with datasets.from_bids, `select` "
                                               "picking subject/session/task/run/datatype... (relative to "
                                               "the YAML file; $VARS expand)")

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        given = [k for k in ("dataset", "files", "bids") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give either `dataset` (with an optional `select`), `files` with a `loader`, or "
                             "`bids` (a BIDS folder, with an optional `select`)"
                             + (f"; got {' and '.join(given)}" if given else ""))
        if self.bids is not None:
            from ..datasets.loaders import BIDS_KEYS

            unknown = [k for k in self.select if k not in BIDS_KEYS]
            if unknown:
                raise ValueError(f"`select` of `bids` takes {', '.join(BIDS_KEYS)}; unknown "
                                 f"{unknown[0]!r}{did_you_mean(unknown[0], BIDS_KEYS)}")
            if self.loader is not None or self.params:
                raise ValueError("`loader` and `params` only apply to `files`; use `select` with `bids`")
            return self
        if self.files is not None:
            if not self.files:
                raise ValueError("`files` is empty; list at least one path")
            if self.loader is None:
                raise ValueError("`files` needs a `loader` (e.g. eeg.read_muse_csv); see `neurodecode ops`")
            if self.select:
                raise ValueError("`select` only applies to `dataset`; pick the files in `files` instead")
        else:
            if self.loader is not None or self.params:
                raise ValueError("`loader` and `params` only apply to `files`; use `select` with `dataset`")
        return self


class StepSpec(_Strict):
    """One step: a registered op applied to the output(s) of earlier steps or data sources."""

    id: StepId = Field(description="unique name; used in file names, metrics and the report")
    op: str = Field(description="registered op name, e.g. eeg.filter")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the op")
    input: StepId | None = Field(None, description='id of an earlier step or data source ("data" for a single '
                                                   "source); default the previous one")
    inputs: dict[str, StepId | list[StepId]] | None = Field(
        None, description="several named inputs: {op argument: earlier step id or data source, or a list of "
                          "them (the op receives a list)}, e.g. {layer_rdms: layer_rdms, brain: [evc, it]}")
    description: str | None = None
    on_item_error: Literal["raise", "skip"] = Field(
        "raise", description="for list inputs: 'skip' drops (and reports) items whose op fails on bad data"
    )
    figures: bool | None = Field(
        None, description="draw the standard figures of this step's output (default: for saved and final steps)"
    )

    @model_validator(mode="after")
    def _one_input_form(self) -> StepSpec:
        if self.input is not None and self.inputs is not None:
            raise ValueError("give either `input` (one input) or `inputs` (named inputs), not both")
        if self.inputs is not None and not self.inputs:
            raise ValueError("`inputs` is empty; name at least one input")
        return self


class ReportSpec(_Strict):
    """Options of report.html."""

    enabled: bool = True
    title: str | None = None
    highlight: tuple[float, float] | None = Field(
        None, description="time window (s) shaded on epoch figures, e.g. the N170 window [0.13, 0.2]"
    )
    highlight_label: str = "window"
    group_by: str = Field("label", description="trial coord whose values are compared in figures")
    max_rows: int = Field(30, ge=1, description="rows shown per table (the CSV files hold all)")
    max_figures: int = Field(12, ge=0, description="figures shown per step")


class OutputsSpec(_Strict):
    """What the run writes besides manifest.json, metrics.json and run.log."""

    save: list[StepId] = Field(default_factory=list, description="step ids whose data are saved")
    format: Literal["netcdf", "zarr"] = "netcdf"
    tables: bool = Field(True, description="write the steps' tables (e.g. rejection reports) as CSV")
    report: ReportSpec = Field(default_factory=ReportSpec, description="true/false or report options")
    bids_derivatives: bool = Field(False, description="also write the saved steps, tables and metrics as a "
                                                      "BIDS-derivatives dataset in <out>/bids (docs/bids.md)")

    @field_validator("report", mode="before")
    @classmethod
    def _report_bool(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


class MetricSpec(_Strict):
    """A metric computed from one step's output: counts or means, optionally per group."""

    name: StepId
    step: StepId
    fn: Literal["count", "mean", "min", "max", "sum"] = "count"
    dim: str | None = Field(None, description="dim counted/grouped over; default the first dim")
    by: list[str] = Field(default_factory=list, description="coords (or attrs) to group by")


class CacheSpec(_Strict):
    """Step cache options."""

    enabled: bool = True
    dir: str | None = Field(None, description="default: <out>/.cache")


class PipelineConfig(_Strict):
    """A whole pipeline file.

    ``data`` is either one source (``{dataset: ...}`` or ``{files: ..., loader: ...}``, read by steps as
    ``"data"``) or several named sources (``{images: {...}, brain: {...}}``, read by their names).
    """

    name: StepId
    description: str = ""
    plugins: list[str] = Field(
        default_factory=list,
        description="modules or .py files imported before the run; they register ops, loaders and models")
    data: DataSpec | None = None
    sources: dict[StepId, DataSpec] = Field(default_factory=dict, description="named data sources (written "
                                                                             "as a mapping under `data:`)")
    steps: list[StepSpec] = Field(min_length=1)
    outputs: OutputsSpec = Field(default_factory=OutputsSpec)
    metrics: list[MetricSpec] = Field(default_factory=list)
    cache: CacheSpec = Field(default_factory=CacheSpec)

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _named_sources(cls, raw: Any) -> Any:
        """``data: {name: source, ...}`` (keys that are not DataSpec keys) -> ``sources``."""
        if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
            data = raw["data"]
            if data and not set(data) <= set(DataSpec.model_fields):
                if any(key in DataSpec.model_fields for key in data):
                    raise ValueError(
                        "data: mixes source keys (" + ", ".join(k for k in data if k in DataSpec.model_fields)
                        + ") with named sources (" + ", ".join(k for k in data if k not in DataSpec.model_fields)
                        + "); give one source or a mapping of named sources, each with its own dataset/files")
                raw = {**raw, "sources": data}
                raw.pop("data")
        return raw

    @model_validator(mode="after")
    def _some_data(self) -> PipelineConfig:
        if self.data is None and not self.sources:
            raise ValueError("data: required key is missing (a dataset, files with a loader, or named sources)")
        if self.data is not None and self.sources:
            raise ValueError("give `data` as one source or as named sources, not both")
        return self

    @property
    def data_sources(self) -> dict[str, DataSpec]:
        """Every data source by name (``{"data": spec}`` for a single source)."""
        return {"data": self.data} if self.data is not None else dict(self.sources)

    @property
    def source(self) -> Path | None:
        """The YAML file this config was read from (None for dicts)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Relative paths are resolved against this folder (the YAML file's folder or the cwd)."""
        return self._source.parent if self._source is not None else Path.cwd()

    def step(self, step_id: str) -> StepSpec:
        """The step called ``step_id``."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def input_of(self, index: int) -> str:
        """The id of the (single) input of step ``index`` (``"data"`` for the loaded data).

        For a step with named ``inputs``, the first of them.
        """
        step = self.steps[index]
        if step.inputs:
            first = next(iter(step.inputs.values()))
            return first[0] if isinstance(first, list) else first
        if step.input is not None:
            return step.input
        if index > 0:
            return self.steps[index - 1].id
        names = list(self.data_sources)
        return names[0] if len(names) == 1 else "data"

    def inputs_of(self, index: int) -> dict[str, str | list[str]] | None:
        """The named inputs (op argument -> step id or source) of step ``index``; None for one input."""
        step = self.steps[index]
        return dict(step.inputs) if step.inputs else None

    def reads(self, index: int) -> list[str]:
        """Every step id or source that step ``index`` reads."""
        named = self.inputs_of(index)
        if not named:
            return [self.input_of(index)]
        flat = [r for ref in named.values() for r in (ref if isinstance(ref, list) else [ref])]
        return list(dict.fromkeys(flat))


# --------------------------------------------------------------------------- YAML


def _yaml_loader():
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicated keys (which YAML would silently overwrite)."""

    def construct_mapping(loader, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicated key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return UniqueKeyLoader


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such pipeline file.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the pipeline file ({err}).") from err
    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path}: invalid YAML: {where}{problem}.") from err


# --------------------------------------------------------------------------- error formatting


def _loc_str(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside ``annotation`` (list[X], X | None, ...), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, list, typing.Annotated) or origin is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at the mapping that holds ``loc[-1]``."""
    if len(loc) >= 3 and loc[0] in ("sources", "data") and loc[1] not in DataSpec.model_fields:
        return list(DataSpec.model_fields) if len(loc) == 3 else []
    model: type[BaseModel] | None = PipelineConfig
    for part in loc[:-1]:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _model_in(field.annotation)
    return list(model.model_fields) if model is not None else []


def _pydantic_errors(err: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in err.errors():
        loc = tuple(item["loc"])
        if loc and loc[0] == "sources":  # named sources are written under `data:`
            loc = ("data", *loc[1:])
        kind = item["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(loc)
            msg = f"unknown key{did_you_mean(str(loc[-1]), allowed)}"
            if allowed:
                msg += f"; allowed keys: {', '.join(allowed)}"
        elif kind == "missing":
            msg = "required key is missing"
        else:
            msg = item["msg"].removeprefix("Value error, ")
            if kind != "value_error":
                msg += f" (got {_short(item.get('input'))})"
        entry = (_loc_str(loc), msg)
        if entry not in out:
            out.append(entry)
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _raise(errors: list[tuple[str, str]], source: str) -> typing.NoReturn:
    lines = [f"{loc}: {msg}" for loc, msg in errors]
    if len(lines) == 1:
        message = f"{source}: {lines[0]}"
    else:
        message = f"{source}: {len(lines)} errors: " + "; ".join(lines)
    err = ConfigError(message)
    err.errors = errors  # type: ignore[attr-defined]
    err.source = source  # type: ignore[attr-defined]
    raise err


# --------------------------------------------------------------------------- semantic checks


def _semantic_errors(cfg: PipelineConfig) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    sources = list(cfg.data_sources)
    readable = ["data"] if cfg.data is not None else sources
    for index, step in enumerate(cfg.steps):
        where = f"steps[{index}]"
        if step.id == "data":
            errors.append((f"{where}.id", "'data' is reserved for the loaded input; pick another id"))
        elif step.id in seen:
            errors.append((f"{where}.id", f"duplicated step id {step.id!r} (also steps[{seen[step.id]}])"))
        elif step.id in sources and cfg.data is None:
            errors.append((f"{where}.id", f"step id {step.id!r} is also the name of a data source; rename one"))
        refs = [(f"{where}.inputs.{arg}", r) for arg, ref in (step.inputs or {}).items()
                for r in (ref if isinstance(ref, list) else [ref])]
        if step.input is not None:
            refs.append((f"{where}.input", step.input))
        for key, ref in refs:
            if ref not in readable and ref not in seen:
                later = [s.id for s in cfg.steps[index:]]
                hint = " (steps can only read earlier steps)" if ref in later else did_you_mean(
                    ref, [*readable, *seen])
                known = f"; data sources: {', '.join(readable)}" if cfg.data is None else ""
                errors.append((key, f"no earlier step {ref!r}{hint}{known}"))
        if index == 0 and not refs and cfg.data is None and len(sources) > 1:
            errors.append((f"{where}.input", f"the first step must say which data source it reads "
                                             f"(input: one of {', '.join(sources)}, or inputs: {{...}})"))
        seen.setdefault(step.id, index)
        if step.op not in OPS:
            errors.append((f"{where}.op", f"unknown op {step.op!r}{did_you_mean(step.op, OPS.names())}; "
                                          "`neurodecode ops` lists them"))
            continue
        op = OPS.get(step.op)
        if step.inputs is not None:
            try:
                wanted = op.data_args()
            except ConfigError as err:
                errors.append((f"{where}.op", str(err)))
                wanted = None
            if wanted is not None:
                names = list(step.inputs)
                unknown = [n for n in names if n not in wanted]
                missing = [n for n in wanted if n not in names and n not in op.optional_data_args()]
                for name in unknown:
                    errors.append((f"{where}.inputs.{name}", f"op {step.op!r} has no input {name!r}"
                                                             f"{did_you_mean(name, wanted)}; its inputs: "
                                                             f"{', '.join(wanted)}"))
                for name in missing:
                    errors.append((f"{where}.inputs", f"op {step.op!r} needs the input {name!r} "
                                                      f"(its inputs: {', '.join(wanted)})"))
        elif len(op.data_args()) > 1 and len([n for n in op.data_args() if n not in op.optional_data_args()]) > 1:
            errors.append((f"{where}.inputs", f"op {step.op!r} takes several inputs "
                                              f"({', '.join(op.data_args())}); name them with "
                                              f"`inputs: {{{op.data_args()[0]}: STEP, ...}}`"))
        try:
            OPS.get(step.op).validate_params(step.params)
        except ParamsError as err:
            for key, msg in err.errors:
                errors.append((f"{where}.params.{key}", f"{msg} [step {step.id!r}, op {step.op!r}]"))
        except ConfigError as err:
            errors.append((f"{where}.op", str(err)))
    ids = {*readable, *seen}
    for index, sid in enumerate(cfg.outputs.save):
        if sid not in ids:
            errors.append((f"outputs.save[{index}]", f"no step {sid!r}{did_you_mean(sid, ids)}"))
    for index, metric in enumerate(cfg.metrics):
        if metric.step not in ids:
            errors.append((f"metrics[{index}].step", f"no step {metric.step!r}{did_you_mean(metric.step, ids)}"))
    names = [m.name for m in cfg.metrics]
    for index, name in enumerate(names):
        if name in names[:index]:
            errors.append((f"metrics[{index}].name", f"duplicated metric name {name!r}"))
    for name, data in cfg.data_sources.items():
        prefix = "data" if cfg.data is not None else f"data.{name}"
        if data.loader is not None:
            if data.loader not in LOADERS:
                errors.append((f"{prefix}.loader", f"unknown loader {data.loader!r}"
                                                   f"{did_you_mean(data.loader, LOADERS.names())}; "
                                                   f"known: {', '.join(LOADERS.names())}"))
            else:
                try:
                    LOADERS.get(data.loader).validate_params(data.params)
                except ParamsError as err:
                    errors.extend((f"{prefix}.params.{key}", msg) for key, msg in err.errors)
                except ConfigError as err:
                    errors.append((f"{prefix}.loader", str(err)))
        if data.dataset is not None:
            known = _known_datasets()
            if known is not None and data.dataset not in known:
                errors.append((f"{prefix}.dataset", f"unknown dataset {data.dataset!r}"
                                                    f"{did_you_mean(data.dataset, known)}; "
                                                    f"known: {', '.join(sorted(known))}"))
    return errors


def _known_datasets() -> list[str] | None:
    """Registered dataset names, or None when the registry cannot tell."""
    try:
        from .. import datasets
    except Exception:
        return None
    for attr in ("names", "list_datasets", "available"):
        fn = getattr(datasets, attr, None)
        if callable(fn):
            try:
                names = fn()
            except Exception:
                return None
            if isinstance(names, dict):
                return list(names)
            try:
                return [n if isinstance(n, str) else getattr(n, "name", str(n)) for n in names]
            except TypeError:
                return None
    return None


# --------------------------------------------------------------------------- public API


def validate_config(cfg: PipelineConfig) -> PipelineConfig:
    """Check what the schema alone cannot: op names and params, step references, loaders.

    Raises
    ------
    ConfigError
        Naming the file and every offending key path.
    """
    errors = _semantic_errors(cfg)
    if errors:
        _raise(errors, str(cfg.source) if cfg.source else "<pipeline>")
    return cfg


def load_config(source: str | os.PathLike | dict | PipelineConfig, *, check: bool = True) -> PipelineConfig:
    """Read and validate a pipeline.

    Parameters
    ----------
    source : path, dict or PipelineConfig
        A YAML file, or its content as a dict.
    check : bool
        Also run :func:`validate_config` (op names, op parameters, step references).

    Returns
    -------
    PipelineConfig

    Raises
    ------
    ConfigError
        For a missing file, invalid YAML, an unknown key, a wrong type, an unknown op or
        parameter; the message names the file and the key path.
    """
    if isinstance(source, PipelineConfig):
        return validate_config(source) if check else source
    path: Path | None = None
    if isinstance(source, dict):
        raw = source
        label = "<pipeline>"
    else:
        path = Path(source).expanduser()
        raw = _read_yaml(path)
        label = str(path)
        if raw is None:
            raise ConfigError(f"{path}: the pipeline file is empty.")
    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: a pipeline file must be a mapping (name, data, steps...), "
                          f"got {type(raw).__name__}.")
    try:
        cfg = PipelineConfig.model_validate(raw)
    except ValidationError as err:
        errors = _pydantic_errors(err)
        if "data" not in raw and "sources" not in raw:
            errors.insert(0, ("data", "required key is missing"))
        _raise(errors, label)
    if path is not None:
        cfg._source = path.resolve()
    if cfg.plugins:
        from .plugins import load_plugins

        load_plugins(cfg.plugins, cfg.base_dir, source=label)
    return validate_config(cfg) if check else cfg


_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def resolve_path(value: str, base_dir: Path, *, key: str = "path") -> Path:
    """Expand ``$VARS`` and ``~`` in ``value`` and make it absolute against ``base_dir``.

    Raises
    ------
    ConfigError
        If a referenced environment variable is not set.
    """
    missing = [name for name in _VAR.findall(value) if name not in os.environ]
    if missing:
        raise ConfigError(
            f"{key}: {value!r} uses the environment variable ${missing[0]}, which is not set; "
            f"export it (e.g. NEURODECODE_DATA=/path/to/data) or write the path out."
        )
    path = Path(os.path.expanduser(os.path.expandvars(value)))
    return path if path.is_absolute() else (base_dir / path).resolve()


def find_pipeline(name: str | os.PathLike) -> Path:
    """A pipeline file by path, or by name among the pipelines shipped with neurodecode.

    ``"eeg_n170_preprocess"`` finds ``pipelines/eeg_n170_preprocess.yaml``.
    """
    path = Path(name).expanduser()
    if path.exists() or path.suffix in (".yaml", ".yml") or os.sep in str(name):
        return path
    roots = [Path(__file__).resolve().parents[1] / "_pipelines", Path(__file__).resolve().parents[2] / "pipelines"]
    for root in roots:
        for suffix in (".yaml", ".yml"):
            candidate = root / f"{path.name}{suffix}"
            if candidate.exists():
                return candidate
    return path
