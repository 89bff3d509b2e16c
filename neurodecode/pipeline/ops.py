"""Registry of named pipeline operations and the uniform result contract.

An *op* is a callable ``fn(data, **params)`` registered under a dotted name such as
``"eeg.filter"``. The registry stores the target as ``"module:function"`` so that
nothing heavy is imported until the op is used. The parameters a YAML step may set
are read from the target's signature (and, for wrappers, from the signature of the
function they forward to), and each value is checked against its type hint with
pydantic before the run starts.

An op returns one of

* a data-model object (or any picklable value),
* a ``(data, pandas.DataFrame)`` tuple (the frame becomes the table ``"report"``),
* a :class:`StepResult` with metrics, tables (e.g. what was rejected and why) and figures.

When the input of a step is a list (e.g. one recording per run) and the op has
``maps=True`` (the default), the op is applied to each item and the results are
merged (see :func:`merge_results`); ops with ``maps=False`` receive the whole list.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import ConfigError

__all__ = [
    "StepResult",
    "Op",
    "ParamSpec",
    "ParamsError",
    "Registry",
    "OPS",
    "LOADERS",
    "register_op",
    "register_loader",
    "get_op",
    "get_loader",
    "list_ops",
    "as_step_result",
    "merge_results",
    "did_you_mean",
]


# --------------------------------------------------------------------------- result contract


@dataclass
class StepResult:
    """What an op returns when it has more to say than its output data.

    Attributes
    ----------
    data : object
        The output (a data-model object, or a list of them).
    metrics : dict of str to float
        Flat name -> number; the runner prefixes them with the step id.
    tables : dict of str to pandas.DataFrame
        E.g. a rejection report: what was dropped and why.
    figures : list
        matplotlib Figures, ``(title, figure)`` pairs, ``(title, figure, caption)`` triples, or
        callables returning any of these (called once, in the main process). Rendered by the
        runner into the report and into ``figures/`` of the output folder (SVG and PNG).
    notes : list of str
        Human-readable remarks shown in the report.
    answer : str, optional
        The result in one or two sentences (e.g. "Human IT is best matched by block6c of the
        trained network (rho 0.27, 95% CI 0.17-0.37; 73% of the lower noise ceiling)."). The report
        opens with the answers of all steps and ``neurodecode run`` ends with them.
    answer_table : pandas.DataFrame, optional
        A small table that backs the answer (a few rows, e.g. the best layer per region with its
        CI and ceiling), shown under the answer.
    """

    data: Any
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    answer: str | None = None
    answer_table: pd.DataFrame | None = None


def as_step_result(value: Any) -> StepResult:
    """Normalise what an op returned into a :class:`StepResult`."""
    if isinstance(value, StepResult):
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], pd.DataFrame):
        return StepResult(value[0], tables={"report": value[1]})
    return StepResult(value)


def merge_results(results: list[StepResult], labels: list[str]) -> StepResult:
    """Merge the per-item results of an op mapped over a list.

    ``data`` becomes the list of item outputs; metrics are prefixed with the item label
    (``"<label>.<name>"``); tables with the same name are concatenated with an ``item``
    column; figure titles, notes and answers are prefixed with the item label; answer tables
    are concatenated with an ``item`` column.
    """
    merged = StepResult([r.data for r in results])
    frames: dict[str, list[pd.DataFrame]] = {}
    answers: list[str] = []
    answer_tables: list[pd.DataFrame] = []
    for label, res in zip(labels, results):
        for name, value in res.metrics.items():
            merged.metrics[f"{label}.{name}"] = value
        for name, table in res.tables.items():
            frames.setdefault(name, []).append(table.assign(item=label))
        for fig in res.figures:
            if isinstance(fig, tuple) and len(fig) in (2, 3):
                merged.figures.append((f"{label}: {fig[0]}", *fig[1:]))
            else:
                merged.figures.append((label, fig))
        merged.notes.extend(f"{label}: {note}" for note in res.notes)
        if res.answer:
            answers.append(f"{label}: {res.answer}")
        if res.answer_table is not None:
            answer_tables.append(res.answer_table.assign(item=label))
    merged.answer = " ".join(answers) or None
    merged.answer_table = pd.concat(answer_tables, ignore_index=True) if answer_tables else None
    for name, parts in frames.items():
        non_empty = [p for p in parts if len(p)] or parts[:1]
        merged.tables[name] = pd.concat(non_empty, ignore_index=True)
    return merged


# --------------------------------------------------------------------------- inner progress bars

import contextvars as _contextvars

_PROGRESS: _contextvars.ContextVar[bool | None] = _contextvars.ContextVar("neurodecode_progress", default=None)


def show_progress() -> bool:
    """Whether an op should draw inner progress bars: the run's ``progress`` setting (``--no-progress``,
    ``--quiet``), or, when unset, whether stderr is a terminal."""
    value = _PROGRESS.get()
    if value is None:
        import sys

        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(value)


# --------------------------------------------------------------------------- helpers


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` when a close match exists, else ``""``."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _resolve(target: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(
            f"the function behind this op lives in {module!r}, which cannot be imported ({err}); "
            "is that part of neurodecode installed?"
        ) from err
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as err:
            raise ConfigError(
                f"{module!r} has no function {attr!r} (needed by a registered op); "
                "the installed neurodecode may be incomplete."
            ) from err
    return obj


def _annotation(fn: Callable[..., Any], param: inspect.Parameter, hints: dict[str, Any]) -> Any:
    """The resolved type hint of ``param`` or ``Any`` when it cannot be resolved or checked."""
    from pydantic import ConfigDict, TypeAdapter

    if param.name in hints:
        ann = hints[param.name]
    else:
        ann = param.annotation
        if ann is inspect.Parameter.empty:
            return Any
        if isinstance(ann, str):
            namespace = {**vars(typing), **getattr(fn, "__globals__", {})}
            try:
                ann = eval(ann, namespace)  # noqa: S307 - annotation strings of our own modules
            except Exception:  # names only imported under TYPE_CHECKING
                return Any
    try:
        TypeAdapter(ann, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:
        return Any
    return ann


@dataclass
class ParamSpec:
    """The parameters a step may set for one op: name -> (type hint, default)."""

    annotations: dict[str, Any]
    defaults: dict[str, Any]
    required: list[str]
    allow_extra: bool

    def names(self) -> list[str]:
        return list(self.annotations)


class ParamsError(ConfigError):
    """Invalid step parameters; ``errors`` holds ``(key, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {m}" for k, m in errors))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_validation_error(err: Any) -> list[tuple[str, str]]:
    """Group pydantic errors by position (list indexes only: union member tags are dropped)."""
    grouped: dict[str, tuple[list[str], Any]] = {}
    for item in err.errors():
        loc = "".join(f"[{p}]" for p in item["loc"] if isinstance(p, int))
        msgs, value = grouped.setdefault(loc, ([], item.get("input")))
        if item["msg"] not in msgs:
            msgs.append(item["msg"])
    return [(loc, f"{' or '.join(msgs)} (got {_short(value)})") for loc, (msgs, value) in grouped.items()]


# --------------------------------------------------------------------------- the op itself


@dataclass(frozen=True)
class Op:
    """A named operation.

    Parameters
    ----------
    name : str
        Dotted name used in YAML (``"eeg.filter"``).
    target : callable or str
        The function called as ``target(data, **params)``; a ``"module:function"`` string
        is imported on first use.
    description : str
        One line shown by ``neurodecode ops``.
    maps : bool
        Apply item by item when the input is a list (default); ``False`` passes the list.
    params_from : callable or str, optional
        For wrappers that forward ``**params``: the function whose signature defines the
        remaining parameters (the wrapper's own keyword parameters are accepted too).
    hidden : tuple of str
        Parameters that cannot be set from YAML (e.g. array-valued ones).
    n_data_args : int
        How many leading positional parameters receive data (not settable from YAML). With more than
        one, a step names them: ``inputs: {<parameter name>: <step id or data source>, ...}``.
    many : bool
        For loaders: receive every path of ``files:`` in one call (a folder or glob as given, or the
        list of paths) instead of one call per file.
    version : str
        Bump when the op's behaviour changes, to invalidate cached results.
    """

    name: str
    target: Callable[..., Any] | str
    description: str = ""
    maps: bool = True
    params_from: Callable[..., Any] | str | None = None
    hidden: tuple[str, ...] = ()
    n_data_args: int = 1
    many: bool = False
    version: str = "1"

    def resolve(self) -> Callable[..., Any]:
        """Import (if needed) and return the callable."""
        return _resolve(self.target)

    def _data_params(self) -> list[inspect.Parameter]:
        try:
            sig = inspect.signature(self.resolve())
        except (TypeError, ValueError):
            return []
        params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return params[: self.n_data_args]

    def data_args(self) -> list[str]:
        """Names of the data (input) arguments: the keys a step's ``inputs:`` may use."""
        return [p.name for p in self._data_params()]

    def optional_data_args(self) -> list[str]:
        """Data arguments with a default (a step may leave them out)."""
        return [p.name for p in self._data_params() if p.default is not inspect.Parameter.empty]

    def param_spec(self) -> ParamSpec:
        """Read the settable parameters from the signature(s)."""
        sources = [self.resolve()]
        if self.params_from is not None:
            sources.append(_resolve(self.params_from))
        annotations: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        required: list[str] = []
        allow_extra = False
        for index, fn in enumerate(sources):
            try:
                sig = inspect.signature(fn)
            except (TypeError, ValueError):  # builtins without a signature
                allow_extra = True
                continue
            try:
                hints = typing.get_type_hints(fn, include_extras=True)  # keep Annotated markers (checks.OneOf)
            except Exception:
                hints = {}
            params = list(sig.parameters.values())
            skipped = 0
            for param in params:
                positional = param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
                if positional and skipped < self.n_data_args:
                    skipped += 1
                    continue
                if param.kind == param.VAR_KEYWORD:
                    # a wrapper's **params are described by params_from; the last source's are real
                    if index == len(sources) - 1:
                        allow_extra = True
                    continue
                if param.kind == param.VAR_POSITIONAL or param.name in self.hidden:
                    continue
                if param.name in annotations:
                    continue
                annotations[param.name] = _annotation(fn, param, hints)
                if param.default is inspect.Parameter.empty:
                    required.append(param.name)
                else:
                    defaults[param.name] = param.default
        return ParamSpec(annotations, defaults, required, allow_extra)

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``params`` against the signature and return them type-coerced.

        Raises
        ------
        ParamsError
            Listing every unknown, missing or ill-typed parameter with its key.
        """
        from pydantic import ConfigDict, TypeAdapter, ValidationError

        spec = self.param_spec()
        errors: list[tuple[str, str]] = []
        out: dict[str, Any] = {}
        for key, value in params.items():
            if key in spec.annotations:
                try:
                    adapter = TypeAdapter(
                        spec.annotations[key], config=ConfigDict(arbitrary_types_allowed=True)
                    )
                    out[key] = adapter.validate_python(value)
                except ValidationError as err:
                    for loc, msg in _format_validation_error(err):
                        errors.append((key + loc, msg))
            elif key in self.hidden:
                errors.append((key, f"cannot be set from a pipeline file for op {self.name!r}"))
            elif spec.allow_extra:
                out[key] = value
            else:
                accepted = ", ".join(spec.names()) or "none"
                errors.append(
                    (key, f"unknown parameter for op {self.name!r}{did_you_mean(key, spec.names())}; "
                          f"accepted: {accepted}")
                )
        for name in spec.required:
            if name not in params:
                errors.append((name, f"missing required parameter of op {self.name!r}"))
        if errors:
            raise ParamsError(errors)
        return out


# --------------------------------------------------------------------------- registries


class Registry:
    """A name -> :class:`Op` mapping with "did you mean" errors."""

    def __init__(self, what: str, builtins: str | None = None, entry_point_group: str | None = None):
        self.what = what
        self.entry_point_group = entry_point_group
        self._ops: dict[str, Op] = {}
        self._builtins = builtins
        self._loaded = builtins is None

    def _ensure(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self._builtins)  # registers the built-in ops
            if self.entry_point_group:
                from .plugins import load_entry_points

                load_entry_points(self.entry_point_group)

    def register(
        self,
        name: str,
        target: Callable[..., Any] | str | None = None,
        *,
        replace: bool = False,
        **options: Any,
    ) -> Any:
        """Register ``target`` under ``name``; without ``target``, works as a decorator.

        Raises
        ------
        ValueError
            If ``name`` is taken and ``replace`` is false.
        """
        if target is None:
            def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
                self.register(name, fn, replace=replace, **options)
                return fn

            return decorator
        if name in self._ops and not replace:
            raise ValueError(f"{self.what} {name!r} is already registered; pass replace=True to override.")
        if "description" not in options and callable(target) and target.__doc__:
            options["description"] = target.__doc__.strip().splitlines()[0]
        self._ops[name] = Op(name=name, target=target, **options)
        return target

    def _register_builtin(self, name: str, target: Callable[..., Any] | str, **options: Any) -> None:
        if name not in self._ops:  # a user registration of the same name wins
            self._ops[name] = Op(name=name, target=target, **options)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (no error when absent)."""
        self._ops.pop(name, None)

    def get(self, name: str) -> Op:
        """The op called ``name``; :class:`ConfigError` with a suggestion when unknown."""
        self._ensure()
        try:
            return self._ops[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.what} {name!r}{did_you_mean(name, self._ops)}; "
                f"known: {', '.join(sorted(self._ops))}"
            ) from None

    def names(self) -> list[str]:
        """Sorted registered names."""
        self._ensure()
        return sorted(self._ops)

    def __contains__(self, name: object) -> bool:
        self._ensure()
        return name in self._ops


OPS = Registry("op", builtins="neurodecode.pipeline.builtin", entry_point_group="neurodecode.ops")
LOADERS = Registry("loader", builtins="neurodecode.pipeline.builtin", entry_point_group="neurodecode.loaders")


def register_op(name: str, target: Callable[..., Any] | str | None = None, **options: Any) -> Any:
    """Register a pipeline op (usable as a decorator). See :class:`Op` for the options."""
    return OPS.register(name, target, **options)


def register_loader(name: str, target: Callable[..., Any] | str | None = None, **options: Any) -> Any:
    """Register a loader ``fn(path, **params)`` usable as ``data.loader`` with ``data.files``."""
    options.setdefault("maps", False)
    return LOADERS.register(name, target, **options)


def get_op(name: str) -> Op:
    """The registered op ``name`` (raises :class:`ConfigError` with a suggestion)."""
    return OPS.get(name)


def get_loader(name: str) -> Op:
    """The registered loader ``name`` (raises :class:`ConfigError` with a suggestion)."""
    return LOADERS.get(name)


def list_ops() -> list[str]:
    """Names of all registered ops."""
    return OPS.names()
