"""A single self-contained HTML report of a pipeline run (inline CSS, figures as base64 PNG at 2x).

The report opens with the answer (each step's :attr:`~neurodecode.pipeline.StepResult.answer`
sentence and answer table), then every figure with its caption, then the run overview, the
input, the details of each step (tables, metrics), all metrics and the manifest.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:1em 2em 4em}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-bottom:.3em;color:#444}
nav{background:#fff;border:1px solid #ddd;padding:.5em 1em;border-radius:6px;display:flex;flex-wrap:wrap;gap:.2em 1em}
nav a{white-space:nowrap}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f0f0f0;white-space:nowrap}
code,pre{font-family:SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
pre{background:#fff;border:1px solid #ddd;padding:.6em;overflow-x:auto;max-height:30em}
.hit{color:#2a7a2a;font-weight:600}.miss{color:#a05a00;font-weight:600}
.notes li{margin:.1em 0}.muted{color:#777}
figure{margin:1em 0;background:#fff;border:1px solid #ddd;padding:.5em;display:block;width:fit-content;
max-width:100%;box-sizing:border-box}
figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:.9em;color:#333;max-width:60em;margin-top:.4em;line-height:1.35}
.answer{background:#fff;border:1px solid #cfd8e3;border-left:5px solid #0072B2;padding:.6em 1em;margin:.6em 0;
border-radius:4px}
.answer p{font-size:1.08em;margin:.3em 0 .5em}
.answer table{font-size:.9em}
.status-ok{color:#2a7a2a}.status-failed{color:#b00}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _kv_table(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _dims(summary: Mapping[str, Any] | None) -> str:
    if not summary:
        return "<span class='muted'>n/a</span>"
    if summary.get("type") == "list":
        total = summary.get("dims_total") or {}
        each = summary.get("dims_each") or {}
        inner = ", ".join(f"{_e(d)}={each[d]} each" if d in each else f"{_e(d)}={n} in all" for d, n in total.items())
        return f"list of {summary['n_items']} {_e(summary.get('kind') or '')}" + (f" ({inner})" if inner else "")
    dims = summary.get("dims") or {}
    kind = summary.get("kind") or summary.get("type", "")
    if not dims:  # e.g. a dict of results: no "()" after it
        return _e(kind)
    return f"{_e(kind)} (" + ", ".join(f"{_e(d)}={n}" for d, n in dims.items()) + ")"


def _summary_block(summary: Mapping[str, Any] | None) -> str:
    if not summary:
        return ""
    rows: list[tuple[str, Any]] = [("output", _dims(summary))]
    if summary.get("type") == "list":
        items = summary.get("items", [])
        item_rows = "".join(
            f"<tr><td>{i}</td><td>{_dims(it)}</td><td>{_e(_attrs_text(it))}</td></tr>" for i, it in enumerate(items)
        )
        more = summary["n_items"] - len(items)
        extra = f"<p class='muted'>… and {more} more</p>" if more > 0 else ""
        rows.append(("items", f"<table><tr><th>#</th><th>dims</th><th>attrs</th></tr>{item_rows}</table>{extra}"))
    else:
        if summary.get("coords"):
            rows.append(("coords", _e(", ".join(summary["coords"]))))
        if summary.get("attrs"):
            rows.append(("attrs", _e(_attrs_text(summary))))
        if summary.get("dtype"):
            rows.append(("dtype", _e(summary["dtype"])))
        if summary.get("nbytes") is not None:
            rows.append(("size", f"{summary['nbytes'] / 1e6:.2f} MB"))
    return _kv_table(rows)


def _attrs_text(summary: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in (summary.get("attrs") or {}).items() if k != "nd_kind")


def _table_html(frame: pd.DataFrame, max_rows: int) -> str:
    shown = frame.head(max_rows)
    more = len(frame) - len(shown)
    out = shown.to_html(index=False, escape=True, border=0, na_rep="", float_format=lambda x: f"{x:.4g}")
    if more > 0:
        out += f"<p class='muted'>… {more} more rows in the CSV file.</p>"
    return out


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    if not metrics:
        return "<p class='muted'>none</p>"
    rows = "".join(f"<tr><td><code>{_e(k)}</code></td><td>{_e(_num(v))}</td></tr>" for k, v in metrics.items())
    return f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"


def _num(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return str(int(value)) if isinstance(value, float) else str(value)


def _clip(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters (with an ellipsis)."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + " …"


def _figure_html(fig: Mapping[str, Any]) -> str:
    width, height = fig.get("width"), fig.get("height")
    size = (f" width='{int(width)}' height='{int(height)}' style='width:{int(width)}px'"
            if width and height else "")
    caption = f"<b>{_e(fig['title'])}.</b>"
    if fig.get("caption"):
        caption += f" {_e(fig['caption'])}"
    return (f"<figure><img alt='{_e(fig['title'])}'{size} src='data:image/png;base64,{fig['png']}'>"
            f"<figcaption>{caption}</figcaption></figure>")


def _figures(figures: Sequence[Mapping[str, str]], max_figures: int) -> str:
    out = [_figure_html(fig) for fig in list(figures)[:max_figures]]
    if len(figures) > max_figures:
        out.append(f"<p class='muted'>{len(figures) - max_figures} more figures not shown.</p>")
    return "\n".join(out)


def _answer_table_html(rows: Any) -> str:
    if rows is None:
        return ""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if not len(frame):
        return ""
    if "region" in frame and not pd.api.types.is_numeric_dtype(frame["region"]):  # "human_it" -> "human IT"
        from .style import pretty

        frame = frame.assign(region=[pretty(v) if isinstance(v, str) else v for v in frame["region"]])
    shared = []  # a long text repeated on every row (e.g. the cv scheme) is said once, under the table
    if len(frame) > 1:
        for col in list(frame.columns):
            values = frame[col]
            if (not pd.api.types.is_numeric_dtype(values) and values.map(str).nunique() == 1
                    and len(str(values.iloc[0])) > 24):
                shared.append(f"<p class='muted'>{_e(col)} (every row): {_e(values.iloc[0])}</p>")
                frame = frame.drop(columns=col)
    return (frame.to_html(index=False, escape=True, border=0, na_rep="–", float_format=lambda x: f"{x:.3g}")
            + "".join(shared))


def _answer_section(steps: Sequence[Any]) -> str:
    parts = ["<section id='answer'><h2>Result</h2>"]
    answered = [s for s in steps if _get(s, "answer") or _get(s, "answer_table")]
    for step in answered:
        sid = _get(step, "id")
        parts.append("<div class='answer'>")
        if _get(step, "answer"):
            parts.append(f"<p>{_e(_get(step, 'answer'))} <a class='muted' href='#step-{_e(sid)}'>({_e(sid)})</a></p>")
        parts.append(_answer_table_html(_get(step, "answer_table")))
        parts.append("</div>")
    if not answered:
        last = steps[-1] if steps else None
        if last is None:
            parts.append("<p class='muted'>No step ran.</p>")
        else:
            sid = _e(_get(last, "id"))
            parts.append(f"<div class='answer'><p>Final output: {_dims(_get(last, 'summary'))} "
                         f"<a class='muted' href='#step-{sid}'>({sid}, <code>{_e(_get(last, 'op'))}</code>)</a></p>")
            notes = _get(last, "notes") or []
            if notes:
                parts.append("<ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in notes[:12]) + "</ul>")
            parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _figures_section(steps: Sequence[Any], options: Any) -> str:
    with_figures = [s for s in steps if _get(s, "figures")]
    if not with_figures:
        return ""
    parts = ["<section id='figures'><h2>Figures</h2>",
             "<p class='muted'>Each figure is also saved as SVG and PNG in <code>figures/</code> next to this "
             "report.</p>"]
    for step in with_figures:
        sid = _get(step, "id")
        parts.append(f"<h3>{_e(sid)} <span class='muted'>— {_e(_get(step, 'op'))}</span></h3>")
        parts.append(_figures(_get(step, "figures"), getattr(options, "max_figures", 12)))
    parts.append("</section>")
    return "\n".join(parts)


def _status_text(step: Any) -> str:
    seconds = float(_get(step, "seconds") or 0)
    if _get(step, "cache_hit"):
        when = _get(step, "computed_at")
        return (f"<span class='hit'>from the cache</span> (computed in {seconds:.2f} s"
                + (f" on {_e(when)}" if when else "") + ")")
    return f"<span class='miss'>computed</span> in {seconds:.2f} s"


def _step_section(step: Any, tables: Mapping[str, pd.DataFrame], options: Any) -> str:
    sid = _get(step, "id")
    parts = [f"<section id='step-{_e(sid)}'><h2>{_e(sid)} <span class='muted'>— {_e(_get(step, 'op'))}</span></h2>"]
    if _get(step, "description"):
        parts.append(f"<p>{_e(_get(step, 'description'))}</p>")
    parts.append(_kv_table([
        ("input", f"<code>{_e(_get(step, 'input'))}</code>"),
        ("params", f"<code>{_e(json.dumps(_get(step, 'params') or {}, sort_keys=True))}</code>"),
        ("status", _status_text(step)),
        ("cache key", f"<code>{_e(str(_get(step, 'key'))[:16])}…</code>"),
    ]))
    parts.append("<h3>Output</h3>" + _summary_block(_get(step, "summary")))
    notes = _get(step, "notes") or []
    if notes:
        parts.append("<h3>What changed</h3><ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    if _get(step, "figures"):
        n_fig = len(_get(step, "figures"))
        parts.append(f"<p class='muted'>{n_fig} figure{'s' if n_fig > 1 else ''}: see <a href='#figures'>Figures</a>.</p>")
    for name, frame in (tables or {}).items():
        title = "What was dropped and why" if any(k in name for k in ("reject", "drop", "railing", "bad")) else "Table"
        parts.append(f"<h3>{title}: <code>{_e(name)}</code> ({len(frame)} rows)</h3>")
        parts.append(_table_html(frame, getattr(options, "max_rows", 30)) if len(frame)
                     else "<p class='muted'>empty: nothing to report.</p>")
    metrics = _get(step, "metrics") or {}
    if metrics:
        parts.append("<h3>Metrics</h3>" + _metrics_table({f"{sid}.{k}": v for k, v in metrics.items()}))
    parts.append("</section>")
    return "\n".join(parts)


def render_report(
    *,
    manifest: Mapping[str, Any],
    metrics: Mapping[str, Any],
    steps: Sequence[Any],
    tables: Mapping[str, Mapping[str, pd.DataFrame]] | None = None,
    options: Any = None,
) -> str:
    """The report as an HTML string.

    The report opens with the result (each step's ``answer`` and ``answer_table``; without any,
    the final output and the notes of the last step), then all figures with their captions, then the run overview,
    the input, one section per step (parameters, output, tables, metrics), the metrics and the
    manifest.

    Parameters
    ----------
    manifest : dict
        The run manifest (name, inputs, versions, steps...).
    metrics : dict
        Flat metrics.
    steps : sequence
        Step records (objects or dicts with id, op, input, params, cache_hit, seconds, summary,
        notes, metrics, answer, answer_table, and figures as
        :func:`~neurodecode.report.figures.render_figure` records ``{"title", "png", "caption", ...}``).
    tables : dict
        Step id -> table name -> DataFrame.
    options : ReportSpec, optional
        Title, rows and figures shown.
    """
    tables = tables or {}
    steps = [dataclasses.asdict(s) if dataclasses.is_dataclass(s) else s for s in steps]
    title = getattr(options, "title", None) or f"neurodecode report: {manifest.get('name', 'pipeline')}"
    status = manifest.get("status", "ok")
    nav = ["<a href='#answer'>Result</a>"]
    if any(_get(s, "figures") for s in steps):
        nav.append("<a href='#figures'>Figures</a>")
    nav += ["<a href='#overview'>Overview</a>", "<a href='#data'>Input</a>"]
    nav += [f"<a href='#step-{_e(_get(s, 'id'))}'>{_e(_get(s, 'id'))}</a>" for s in steps]
    nav += ["<a href='#metrics'>Metrics</a>", "<a href='#manifest'>Manifest</a>"]
    inputs = manifest.get("inputs", {}) or {}
    files = inputs.get("files", []) or []
    cache = manifest.get("cache", {}) or {}
    overview_rows = "".join(
        f"<tr><td><a href='#step-{_e(_get(s, 'id'))}'>{_e(_get(s, 'id'))}</a></td><td><code>{_e(_get(s, 'op'))}</code></td>"
        f"<td>{_e(_get(s, 'input'))}</td><td>{'<span class=hit>from the cache</span>' if _get(s, 'cache_hit') else '<span class=miss>computed</span>'}</td>"
        f"<td>{float(_get(s, 'seconds') or 0):.2f}</td><td>{_dims(_get(s, 'summary'))}</td>"
        f"<td>{_e(_clip('; '.join(_get(s, 'notes') or []), 300))}</td></tr>"
        for s in steps
    )
    data = manifest.get("data", {}) or {}
    source = inputs.get("dataset") or f"{len(files)} file(s) read with {inputs.get('loader')}"
    hits = cache.get("hits", [])
    compute_s = sum(float(_get(s, "seconds") or 0) for s in steps)
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p>{_e(manifest.get('description') or '')}</p>",
        "<nav>" + "".join(nav) + "</nav>",
        _answer_section(steps),
        _figures_section(steps, options),
        "<section id='overview'><h2>Overview</h2>",
        _kv_table([
            ("status", f"<span class='status-{_e(status)}'>{_e(status)}</span>"),
            ("pipeline file", f"<code>{_e((manifest.get('config') or {}).get('file'))}</code>"),
            ("started", _e(manifest.get("started"))),
            ("duration", (f"{manifest.get('duration_s') or 0:.2f} s this run" if manifest.get("duration_s") is not None
                          else "<span class='muted'>see manifest.json</span>")
             + (f"; the steps took {compute_s:.1f} s when computed" if hits else "")),
            ("input", _e(source)),
            ("cache", f"{len(hits)} of {len(steps)} steps from the cache"
                      + (f" ({_e(', '.join(hits))})" if hits else "")
                      + f" (<code>{_e(cache.get('dir'))}</code>)"),
            ("neurodecode", _e((manifest.get("versions") or {}).get("neurodecode"))),
        ]),
        "<table><tr><th>step</th><th>op</th><th>input</th><th>status</th><th>compute s</th><th>output</th>"
        "<th>changes</th></tr>" + overview_rows + "</table></section>",
        "<section id='data'><h2>Input data</h2>",
        _kv_table([("source", _e(source)), ("selection", f"<code>{_e(json.dumps(inputs.get('select') or {}))}</code>"),
                   ("loaded", "from the cache" if data.get("cache_hit") else f"in {float(data.get('seconds') or 0):.2f} s")]),
        _summary_block(data.get("summary")),
        "</section>",
    ]
    for step in steps:
        body.append(_step_section(step, tables.get(_get(step, "id"), {}), options))
    body.append("<section id='metrics'><h2>Metrics</h2>" + _metrics_table(metrics) + "</section>")
    file_rows = "".join(
        f"<tr><td><code>{_e(f.get('name'))}</code></td><td>{int(f.get('size', 0)) / 1e6:.2f} MB</td>"
        f"<td><code>{_e(f.get('sha256'))}</code></td></tr>" for f in files[:200]
    )
    versions = manifest.get("versions") or {}
    version_rows = ", ".join(f"{_e(k)} {_e(v)}" for k, v in versions.items() if v)
    outputs = manifest.get("outputs") or {}
    output_rows = "".join(
        f"<tr><td>{_e(sid)}</td><td>{'<br>'.join(_e(f['path']) for f in entry.get('files', []))}</td>"
        f"<td>{_dims(entry.get('summary'))}</td></tr>" for sid, entry in outputs.items()
    )
    body += [
        "<section id='manifest'><h2>Manifest</h2>",
        "<h3>Input files</h3>",
        f"<table><tr><th>file</th><th>size</th><th>sha256</th></tr>{file_rows}</table>",
        "<h3>Saved outputs</h3>",
        f"<table><tr><th>step</th><th>files</th><th>content</th></tr>{output_rows}</table>" if output_rows
        else "<p class='muted'>none</p>",
        f"<h3>Versions</h3><p>{version_rows}</p>",
        "<h3>Resolved configuration</h3>",
        f"<pre>{_e(json.dumps((manifest.get('config') or {}).get('resolved'), indent=2))}</pre>",
        "</section>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>\n"
        + "\n".join(body)
        + "\n<p class='muted'>Generated by neurodecode.</p></main></body></html>\n"
    )


def write_report(path: str | os.PathLike, **kwargs: Any) -> Path:
    """Render the report (see :func:`render_report`) and write it atomically to ``path``."""
    from .._files import write_atomic

    return write_atomic(path, render_report(**kwargs))
