"""Summaries of step outputs and the metrics computed from them (counts and means per group)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BadInputError

__all__ = [
    "summarize",
    "item_label",
    "item_labels",
    "describe_changes",
    "entries_frame",
    "group_metric",
    "kept_dropped_metrics",
]

_ATTRS_SHOWN = ("nd_kind", "subject", "session", "run", "sfreq", "tr", "bin_size", "units", "modality", "source")


def _is_xr(obj: Any) -> bool:
    import xarray as xr

    return isinstance(obj, (xr.DataArray, xr.Dataset))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 16 else f"array{value.shape}"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def summarize(obj: Any, *, max_items: int = 50) -> dict[str, Any]:
    """A JSON-able description of a step output: type, kind, dims, coords, selected attrs.

    Lists get ``n_items``, the per-item summaries (first ``max_items``) and the summed size of
    each dim shared by all items.
    """
    from ..datamodel import kind_of

    if isinstance(obj, (list, tuple)):
        items = [summarize(x) for x in obj[:max_items]]
        out: dict[str, Any] = {"type": "list", "n_items": len(obj), "items": items}
        kinds = {i.get("kind") for i in items}
        if len(kinds) == 1:
            out["kind"] = kinds.pop()
        if items and all("dims" in i for i in items):
            shared = set.intersection(*(set(i["dims"]) for i in items))
            out["dims_total"] = {d: int(sum(s.sizes[d] for s in obj if _is_xr(s))) for d in sorted(shared)}
            out["dims_each"] = {d: items[0]["dims"][d] for d in sorted(shared)
                                if len({i["dims"][d] for i in items}) == 1}
        return out
    if _is_xr(obj):
        try:
            kind = kind_of(obj)
        except Exception:
            kind = None
        out = {
            "type": type(obj).__name__,
            "kind": kind,
            "dims": {str(d): int(n) for d, n in obj.sizes.items()},
            "coords": [str(c) for c in obj.coords if c not in obj.dims],
            "attrs": {k: _plain(obj.attrs[k]) for k in _ATTRS_SHOWN if k in obj.attrs},
            "nbytes": int(obj.nbytes),
        }
        if hasattr(obj, "dtype"):
            out["dtype"] = str(obj.dtype)
        else:
            out["data_vars"] = {str(k): list(map(str, v.dims)) for k, v in obj.data_vars.items()}
        return out
    if isinstance(obj, pd.DataFrame):
        return {"type": "DataFrame", "dims": {"row": len(obj)}, "columns": [str(c) for c in obj.columns]}
    return {"type": type(obj).__name__}


def item_label(obj: Any, index: int) -> str:
    """A readable label for list item ``index`` from its subject/session/run attrs.

    The values come from data files, so each goes through :func:`neurodecode._files.safe_name`
    (the label names output files: a subject id of ``../../x`` must not leave the output folder).
    """
    from .._files import safe_name

    attrs = getattr(obj, "attrs", {}) or {}
    parts = [f"{short}-{safe_name(attrs[key])}" for key, short in (("subject", "sub"), ("session", "ses"), ("run", "run"))
             if key in attrs and attrs[key] not in (None, "")]
    return "_".join(parts) if parts else f"item{index:03d}"


def item_labels(items: Sequence[Any]) -> list[str]:
    """:func:`item_label` for each item, made unique by suffixing the index where needed."""
    labels = [item_label(x, i) for i, x in enumerate(items)]
    counts = pd.Series(labels).value_counts()
    return [lab if counts[lab] == 1 else f"{lab}_{i:03d}" for i, lab in enumerate(labels)]


def describe_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Notes such as ``"trial: 1200 -> 1150 (-50)"`` comparing two :func:`summarize` outputs.

    Sizes are compared only where they mean the same thing: same kind, and for lists the
    per-item size when all items agree, else the total over items.
    """
    if not before:
        return []
    notes: list[str] = []
    kind_b, kind_a = before.get("kind"), after.get("kind")
    is_list_b, is_list_a = before.get("type") == "list", after.get("type") == "list"
    if is_list_b and is_list_a and before["n_items"] != after["n_items"]:
        notes.append(f"items: {before['n_items']} -> {after['n_items']}")
    if kind_b and kind_a and kind_b != kind_a:
        notes.append(f"kind: {kind_b} -> {kind_a}")
        return notes
    if is_list_b and not is_list_a:
        notes.append(f"{before['n_items']} items combined into one {kind_a or after.get('type')}")
        total = before.get("dims_total") or {}
        for dim, n in (after.get("dims") or {}).items():
            per_item = {item.get("dims", {}).get(dim) for item in before.get("items", [])}
            if dim in total and n != total[dim] and per_item != {n}:
                notes.append(f"{dim}: {total[dim]} in all items -> {n} ({n - total[dim]:+d})")
        return notes
    if is_list_b and is_list_a:
        each_b, each_a = before.get("dims_each") or {}, after.get("dims_each") or {}
        total_b, total_a = before.get("dims_total") or {}, after.get("dims_total") or {}
        for dim in total_b:
            if dim in each_b and dim in each_a:
                if each_b[dim] != each_a[dim]:
                    notes.append(f"{dim}: {each_b[dim]} -> {each_a[dim]} per item")
            elif dim in total_a and total_a[dim] != total_b[dim]:
                notes.append(f"{dim}: {total_b[dim]} -> {total_a[dim]} in all items ({total_a[dim] - total_b[dim]:+d})")
        return notes
    if is_list_b or is_list_a:
        return notes
    b, a = before.get("dims") or {}, after.get("dims") or {}
    for dim in b:
        if dim in a and a[dim] != b[dim]:
            notes.append(f"{dim}: {b[dim]} -> {a[dim]} ({a[dim] - b[dim]:+d})")
    return notes


# --------------------------------------------------------------------------- grouped metrics


def _first_dim(obj: Any) -> str:
    if hasattr(obj, "dims") and not isinstance(obj.dims, dict) and len(obj.dims):
        return str(obj.dims[0])
    if "signal" in getattr(obj, "data_vars", {}):
        return str(obj["signal"].dims[0])
    return str(next(iter(obj.sizes)))


def _values_of(obj: Any):
    import xarray as xr

    if isinstance(obj, xr.Dataset):
        if "signal" in obj:
            return obj["signal"]
        arrays = [v for v in obj.data_vars.values() if v.dtype.kind in "iufb"]
        if not arrays:
            raise BadInputError("metrics: this Dataset has no numeric variable to average.")
        return arrays[0]
    return obj


def entries_frame(obj: Any, dim: str | None, by: Sequence[str], *, values: bool = False) -> pd.DataFrame:
    """One row per entry of ``dim`` with columns ``by`` (coords on ``dim``, or attrs broadcast).

    Lists are stacked (each item's attrs fill columns its coords lack). With ``values=True``
    a ``value`` column holds each entry's mean over all other dims.
    """
    if isinstance(obj, (list, tuple)):
        if not obj:
            return pd.DataFrame(columns=[*by, *(["value"] if values else [])])
        frames = [entries_frame(x, dim, by, values=values) for x in obj]
        return pd.concat(frames, ignore_index=True)
    if not _is_xr(obj):
        raise BadInputError(f"metrics need xarray data, got {type(obj).__name__}.")
    dim = dim or _first_dim(obj)
    if dim not in obj.dims:
        raise BadInputError(f"metrics: no dim {dim!r} in the data (dims {list(obj.dims)}); set `dim`.")
    n = int(obj.sizes[dim])
    columns: dict[str, Any] = {}
    for key in by:
        if key in obj.coords and obj[key].dims == (dim,):
            columns[key] = np.asarray(obj[key].values)
        elif key in obj.coords and obj[key].ndim == 0:
            columns[key] = np.repeat(obj[key].values, n)
        elif key in obj.attrs:
            columns[key] = np.repeat(np.asarray([obj.attrs[key]], dtype=object), n)
        else:
            raise BadInputError(
                f"metrics: cannot group by {key!r}: it is neither a coord on {dim!r} nor an attr "
                f"(coords {[str(c) for c in obj.coords]})."
            )
    frame = pd.DataFrame(columns, index=range(n))
    if values:
        arr = _values_of(obj)
        others = [d for d in arr.dims if d != dim]
        frame["value"] = np.asarray(arr.mean(dim=others).values if others else arr.values, dtype=float)
    return frame


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value)


def group_metric(
    obj: Any, name: str, *, fn: str = "count", dim: str | None = None, by: Sequence[str] = ()
) -> dict[str, float]:
    """``{name: total, "name.a=x.b=y": per-group value}`` for ``fn`` in count/mean/min/max/sum."""
    frame = entries_frame(obj, dim, by, values=fn != "count")
    out: dict[str, float] = {}

    def reduce(part: pd.DataFrame) -> float:
        if fn == "count":
            return float(len(part))
        return float(getattr(part["value"], fn)())

    out[name] = reduce(frame)
    if by and len(frame):
        for keys, part in frame.groupby(list(by), sort=True, dropna=False):
            keys = keys if isinstance(keys, tuple) else (keys,)
            label = ".".join(f"{k}={_fmt(v)}" for k, v in zip(by, keys))
            out[f"{name}.{label}"] = reduce(part)
    return out


def kept_dropped_metrics(before: Any, after: Any, *, dim: str = "trial", by: Sequence[str] = ()) -> dict[str, float]:
    """Counts kept and dropped along ``dim``, in total and per group of ``by`` (each and all together).

    Names: ``kept``, ``dropped``, ``kept.label=face``, ``dropped.subject=1.label=face`` ...
    """
    groupings: list[list[str]] = [[]]
    by = [b for b in by]
    groupings += [[b] for b in by]
    if len(by) > 1:
        groupings.append(by)
    out: dict[str, float] = {}
    for grouping in groupings:
        total = group_metric(before, "n", dim=dim, by=grouping)
        kept = group_metric(after, "n", dim=dim, by=grouping) if _has_entries(after, dim) else {}
        for key, n_total in total.items():
            suffix = key[1:]  # drop the leading "n"
            n_kept = kept.get(key, 0.0)
            out[f"kept{suffix}"] = n_kept
            out[f"dropped{suffix}"] = n_total - n_kept
    return out


def _has_entries(obj: Any, dim: str) -> bool:
    if isinstance(obj, (list, tuple)):
        return any(_has_entries(x, dim) for x in obj)
    return obj is not None and dim in getattr(obj, "dims", ()) and obj.sizes[dim] > 0
