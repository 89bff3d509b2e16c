"""Pre-flight checks of a pipeline: what ``neurodecode run`` would stop on, found by ``neurodecode validate``.

The schema and :func:`neurodecode.pipeline.config.validate_config` check the file itself (keys,
types, op names, step references). :func:`preflight_errors` adds what depends on the machine and
on the ops' hidden parameters:

- parameters of ops that forward ``**kwargs`` to another library function (``eeg.filter`` to
  :func:`mne.filter.filter_data`, ``fmri.clean`` to :func:`nilearn.signal.clean`...) are checked
  against that function's signature (:data:`KWARGS_TARGETS`);
- every ``data.files`` entry and ``cache.dir``: unset ``$VARS``, files or folders that do not exist,
  globs that match nothing;
- dataset selections (``data.select``): keys the dataset does not know and values outside the
  ones its card lists (a selection that would match nothing).

Option parameters of ops whose valid values are a registry (comparison methods, RDM methods,
poolings, losses...) are annotated with :class:`OneOf` (``Annotated[str, OneOf("module:NAME")]``;
ready-made: :data:`RdmMethod`, :data:`RdmCompareMethod`, :data:`ActivationMethod`,
:data:`Pooling`, :data:`EstimatorName`, :data:`ScoringName`): the value is checked against the
registry when the step's parameters are validated (``neurodecode validate`` and ``run``), with an
error that lists the known names and suggests the closest. Options with a fixed set of values
use ``Literal``.
"""

from __future__ import annotations

import glob
import importlib
import inspect
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator

from ..errors import ConfigError
from .ops import LOADERS, OPS, did_you_mean

__all__ = ["preflight_errors", "check_pipeline", "KWARGS_TARGETS", "keep_classes", "OneOf", "EstimatorSetting", "RdmMethod", "RdmCompareMethod",
           "ActivationMethod", "Pooling", "EstimatorName", "ScoringName"]


# --------------------------------------------------------------------------- options from a registry


class OneOf:
    """Annotation marker: a string option whose valid values are the names of a registry.

    Use as ``Annotated[str, OneOf("neurodecode.models.activations:POOLINGS", "pooling")]`` in an
    op's signature. The registry is read when a value is checked (so plugins that register more
    names are seen, and importing the op stays light): ``"module:attribute"`` of a mapping (its
    keys), a sequence, or a function returning names; or such a function itself. A value outside
    the registry fails the step's parameter validation with the known names and a "did you mean".

    Parameters
    ----------
    registry : str or callable
        Where the names are.
    what : str
        What a value is, for the message (``"RDM method"``).
    """

    def __init__(self, registry: str | Callable[[], Iterable[str]], what: str = "value"):
        self.registry = registry
        self.what = what

    def names(self) -> list[str]:
        """The registry's names, in its order."""
        source: Any = _resolve(self.registry) if isinstance(self.registry, str) else self.registry
        if source is None:
            raise ConfigError(f"the registry {self.registry!r} of {self.what} names cannot be imported.")
        if callable(source) and not isinstance(source, type):
            source = source()
        return [str(k) for k in (source.keys() if hasattr(source, "keys") else source) if k is not None]

    def check(self, value: Any) -> Any:
        """``value`` when it is a registered name; a ``ValueError`` listing the names otherwise."""
        known = self.names()
        if value not in known:
            raise ValueError(f"unknown {self.what} {value!r}{did_you_mean(str(value), known)}; "
                             f"known: {', '.join(known)}")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __repr__(self) -> str:
        return f"OneOf({self.registry!r}, {self.what!r})"


def _comparison_names(compares: str) -> Callable[[], list[str]]:
    def names() -> list[str]:
        from ..analysis._methods import METHODS

        return [n for m in METHODS.values() if m.compares == compares for n in (m.name, *m.aliases)]

    names.__qualname__ = f"comparison_names({compares!r})"
    return names


def _scorer_names() -> list[str]:
    from sklearn.metrics import get_scorer_names

    return list(get_scorer_names())


#: a method that turns responses into an RDM (``neurodecode.analysis.rdm.RDM_METHODS``)
RdmMethod = Annotated[str, OneOf("neurodecode.analysis.rdm:RDM_METHODS", "RDM method")]
#: a method comparing two RDMs (the ``compares="rdm"`` entries of ``neurodecode.analysis.METHODS``, aliases too)
RdmCompareMethod = Annotated[str, OneOf(_comparison_names("rdm"), "RDM comparison method")]
#: a method comparing two sets of activations (``compares="activations"`` entries of ``analysis.METHODS``)
ActivationMethod = Annotated[str, OneOf(_comparison_names("activations"), "activation comparison method")]
#: how a layer's activations are pooled (``neurodecode.models.activations.POOLINGS``)
Pooling = Annotated[str, OneOf("neurodecode.models.activations:POOLINGS", "pooling")]
_ESTIMATORS = OneOf("neurodecode.decoding.estimators:ESTIMATORS", "estimator")
#: a decoding estimator (``neurodecode.decoding.estimators.ESTIMATORS``)
EstimatorName = Annotated[str, _ESTIMATORS]
#: a scikit-learn scorer name (``sklearn.metrics.get_scorer_names()``)
ScoringName = Annotated[str, OneOf(_scorer_names, "scoring")]


def _check_estimator_setting(value: Any) -> Any:
    """A registered estimator name, or ``{estimator: NAME, **settings}`` with settings NAME accepts."""
    from collections.abc import Mapping

    from ..decoding.estimators import estimator_params

    if isinstance(value, str):
        return _ESTIMATORS.check(value)
    if not isinstance(value, Mapping):
        raise ValueError(f"an estimator is a registered name or {{estimator: NAME, **settings}}, got {value!r}")
    if not isinstance(value.get("estimator"), str):
        raise ValueError(f"an estimator configuration needs a key 'estimator' naming a registered estimator, "
                         f"got keys {sorted(value)}")
    name = _ESTIMATORS.check(value["estimator"])
    accepted = estimator_params(name)
    if accepted is not None:
        unknown = sorted(set(value) - {"estimator"} - set(accepted))
        if unknown:
            raise ValueError(f"estimator {name!r} has no setting {', '.join(map(repr, unknown))}"
                             f"{did_you_mean(unknown[0], accepted)}; its settings: {', '.join(accepted) or 'none'}")
    return value


#: a decoding estimator given by name or as ``{estimator: NAME, **settings}`` (name and settings checked)
EstimatorSetting = Annotated[Any, AfterValidator(_check_estimator_setting)]


def keep_classes(data: Any, label: str, classes: Iterable[str], what: str, dim: str | None = None) -> Any:
    """``data`` restricted along ``dim`` (default the label coord's dim) to the samples whose ``label``
    is one of ``classes`` (compared as text); a :class:`~neurodecode.errors.BadInputError` names the
    classes that are absent."""
    import numpy as np

    from ..errors import BadInputError

    classes = [str(c) for c in classes]  # plain str: numpy scalars would print as np.str_('T1')
    lab = np.asarray(data[label].values).astype(str)
    present = set(lab.tolist())
    missing = sorted(set(classes) - present)
    if missing:
        raise BadInputError(f"{what}: classes {missing} not found in {label!r}; present: {sorted(present)}.")
    return data.isel({dim or data[label].dims[0]: np.flatnonzero(np.isin(lab, classes))})


#: "module:function" of an op's function -> the callables its ``**kwargs`` are passed to
KWARGS_TARGETS: dict[str, tuple[str, ...]] = {
    "neurodecode.preprocess.eeg:filter": ("mne.filter:filter_data",),
    "neurodecode.preprocess.eeg:notch": ("mne.filter:notch_filter",),
    "neurodecode.preprocess.eeg:resample": ("mne.filter:resample",),
    "neurodecode.preprocess.fmri:clean": ("nilearn.signal:clean",),
    "neurodecode.loaders.fmri:extract_rois": ("nilearn.maskers:NiftiMasker", "nilearn.maskers:NiftiLabelsMasker",
                                             "nilearn.maskers:NiftiSpheresMasker", "nilearn.maskers:NiftiMapsMasker"),
}

#: arguments the op sets itself when it calls the target (a step may not pass them)
_SET_BY_OP = {"data", "x", "signals", "sfreq", "picks", "copy", "verbose", "l_freq", "h_freq", "freqs", "up",
              "down", "axis", "img", "imgs", "labels_img", "seeds", "mask_img", "maps_img", "self", "runs",
              "sample_mask", "t_r"}


def _resolve(target: str) -> Callable[..., Any] | None:
    module, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


def _accepted(targets: Iterable[str]) -> set[str] | None:
    """Keyword names the targets accept, or None when one of them takes any keyword."""
    names: set[str] = set()
    for target in targets:
        fn = _resolve(target)
        if fn is None:
            return None
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return None
        for p in sig.parameters.values():
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                return None
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
                names.add(p.name)
    return names - _SET_BY_OP


def _target_name(fn: Callable[..., Any]) -> str:
    fn = inspect.unwrap(fn)
    return f"{getattr(fn, '__module__', '')}:{getattr(fn, '__qualname__', '')}"


def _kwargs_errors(where: str, registry: Any, name: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        op = registry.get(name)
        spec = op.param_spec()
    except Exception:  # unknown ops are reported by validate_config
        return []
    if not spec.allow_extra:
        return []
    extra = [k for k in params if k not in spec.annotations]
    if not extra:
        return []
    try:
        targets = KWARGS_TARGETS.get(_target_name(op.resolve()))
    except Exception:
        return []
    if not targets:
        return []
    accepted = _accepted(targets)
    if accepted is None:
        return []
    out = []
    for key in extra:
        if key not in accepted:
            known = sorted(set(spec.annotations) | accepted)
            out.append((f"{where}.params.{key}", f"op {name!r} has no parameter {key!r}{did_you_mean(key, known)} "
                                                 f"(its extra keywords go to {', '.join(targets)}); "
                                                 f"known: {', '.join(known)}"))
    return out


def _path_errors(key: str, value: str, base_dir: Path) -> list[tuple[str, str]]:
    from .config import _VAR

    missing = [name for name in _VAR.findall(value) if name not in os.environ]
    if missing:
        return [(key, f"{value!r} uses the environment variable ${missing[0]}, which is not set; export it or "
                      "write the path out")]
    path = Path(os.path.expanduser(os.path.expandvars(value)))
    path = path if path.is_absolute() else base_dir / path
    if any(ch in str(path) for ch in "*?["):
        if not glob.glob(str(path), recursive=True):
            return [(key, f"the pattern {value!r} matches no file (looked for {str(path)!r})")]
        return []
    if not path.exists():
        return [(key, f"no such file or folder {str(path)!r} (resolved from {value!r}; relative paths start at "
                      "the pipeline file's folder)")]
    return []


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def _selection_errors(prefix: str, dataset: str, select: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        from ..datasets.cards import get_card

        card = get_card(dataset)
    except Exception:  # unknown datasets are reported by validate_config
        return []
    if not card.selection or card.bids is not None:
        return []
    out = []
    for key, value in (select or {}).items():
        if key not in card.selection:
            out.append((f"{prefix}.select.{key}", f"dataset {dataset!r} has no selection {key!r}"
                                                  f"{did_you_mean(key, card.selection)}; known: "
                                                  f"{', '.join(card.selection) or 'none'}"))
            continue
        allowed = card.selection[key].get("values")
        if value is None or not allowed:
            continue
        wanted = _as_list(value)
        allowed_text = {str(a) for a in allowed}
        unknown = [v for v in wanted if str(v) not in allowed_text]
        if unknown:
            out.append((f"{prefix}.select.{key}", f"{unknown if len(unknown) > 1 else unknown[0]!r} matches nothing "
                                                  f"in dataset {dataset!r}; {key} is one of "
                                                  f"{', '.join(map(str, allowed))}"))
    return out


def preflight_errors(cfg: Any) -> list[tuple[str, str]]:
    """``(key path, message)`` for everything a run of ``cfg`` would stop on before its first step."""
    errors: list[tuple[str, str]] = []
    base = cfg.base_dir
    sources = getattr(cfg, "data_sources", None) or {"data": cfg.data}
    for name, data in sources.items():
        prefix = "data" if getattr(cfg, "data", None) is not None else f"data.{name}"
        for index, value in enumerate(getattr(data, "files", None) or []):
            errors += _path_errors(f"{prefix}.files[{index}]", str(value), base)
        if getattr(data, "loader", None):
            errors += _kwargs_errors(prefix, LOADERS, data.loader, dict(data.params or {}))
        if getattr(data, "dataset", None):
            errors += _selection_errors(prefix, data.dataset, dict(getattr(data, "select", None) or {}))
    for index, step in enumerate(cfg.steps):
        errors += _kwargs_errors(f"steps[{index}]", OPS, step.op, dict(step.params or {}))
    cache_dir = getattr(getattr(cfg, "cache", None), "dir", None)
    if cache_dir is not None:
        from .config import _VAR

        missing = [n for n in _VAR.findall(str(cache_dir)) if n not in os.environ]
        if missing:
            errors.append(("cache.dir", f"{cache_dir!r} uses the environment variable ${missing[0]}, which is "
                                        "not set"))
    return errors


def check_pipeline(cfg: Any) -> Any:
    """Raise one :class:`ConfigError` listing every pre-flight problem of ``cfg`` (returns ``cfg`` when none)."""
    errors = preflight_errors(cfg)
    if errors:
        label = str(cfg.source) if getattr(cfg, "source", None) else "<pipeline>"
        lines = "\n".join(f"  {key}: {msg}" for key, msg in errors)
        raise ConfigError(f"{label}: {len(errors)} problem(s) a run would stop on:\n{lines}")
    return cfg
