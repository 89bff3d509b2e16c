"""A run's report opens with the answer, writes figures/ as SVG and PNG, and keeps compute times on a cached re-run."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from neurodecode.pipeline import StepResult, register_op, run
from neurodecode.pipeline.ops import OPS
from neurodecode.report import render_report


def subject_agreement(rdms, *, method: str = "spearman"):
    """How well each subject's RDM agrees with the mean of the others (leave one out), a figure and an answer."""
    from scipy.stats import spearmanr

    from neurodecode.report import style
    from neurodecode.report.figures import new_figure

    subjects = [str(s) for s in rdms["subject"].values] if "subject" in rdms.coords else \
        [str(i) for i in range(rdms.sizes["rdm"])]
    per = {}
    for s in dict.fromkeys(subjects):
        mine = np.asarray(rdms.isel(rdm=[i for i, x in enumerate(subjects) if x == s]).mean("rdm").values)
        rest = np.asarray(rdms.isel(rdm=[i for i, x in enumerate(subjects) if x != s]).mean("rdm").values)
        iu = np.triu_indices(mine.shape[0], 1)
        per[s] = spearmanr(mine[iu], rest[iu]).statistic
    table = pd.DataFrame({"subject": list(per), "rho": list(per.values())})
    best = table.loc[table["rho"].idxmax()]

    def figure():
        fig = new_figure(4, 3)
        ax = fig.subplots()
        ax.bar(table["subject"], table["rho"], color=style.color(0))
        ax.set_xlabel("subject")
        ax.set_ylabel("Spearman ρ with the others")
        return "Agreement per subject", style.set_caption(fig, "Leave-one-subject-out agreement.")

    return StepResult(rdms, metrics={"best_rho": float(best["rho"])}, tables={"agreement": table},
                      figures=[figure], notes=["agreement computed"],
                      answer=f"Subject {best['subject']} agrees most with the others (ρ = {best['rho']:.2f}).",
                      answer_table=table.assign(note=[None] * (len(table) - 1) + [np.nan]))


@pytest.fixture
def agreement_op():
    register_op("rt_report.agreement", subject_agreement, replace=True)
    yield
    OPS.unregister("rt_report.agreement")


def _config(tmp_path):
    path = tmp_path / "agreement.yaml"
    path.write_text(
        "name: agreement\n"
        "data: {dataset: kriegeskorte92, select: {part: human_it}}\n"
        "steps:\n"
        "  - {id: agree, op: rt_report.agreement}\n"
        "outputs: {save: [], tables: true}\n")
    return path


def test_answer_first_figures_on_disk_and_cached_times(tmp_path, data_home, agreement_op, capsys):
    from neurodecode.cli import main

    cfg = _config(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    first = json.loads((out / "manifest.json").read_text())
    step = first["steps"][0]
    assert step["answer"].startswith("Subject ") and step["answer"] in printed.replace("\n    ", " ")
    assert printed.rstrip().splitlines()[-1].split()[0] in {r["subject"] for r in step["answer_table"]}
    assert step["answer_table"][-1]["note"] is None  # NaN stored as JSON null
    # figures/ holds each figure as SVG and PNG, listed in the manifest
    files = sorted(p.name for p in (out / "figures").iterdir())
    assert files == ["agree.01_agreement_per_subject.png", "agree.01_agreement_per_subject.svg"]
    assert (out / "figures" / files[0]).read_bytes().startswith(b"\x89PNG")
    assert "<svg" in (out / "figures" / files[1]).read_text()
    assert sorted(first["files"]["figures"]) == [f"figures/{f}" for f in files]
    # the report: answer, then figures (with caption), then the detailed tables
    html = (out / "report.html").read_text()
    i_answer, i_fig, i_table = (html.index("id='answer'"), html.index("id='figures'"),
                                html.index("Table: <code>agreement</code>"))
    assert i_answer < i_fig < i_table
    assert "agrees most with the others (ρ = " in html[i_answer:i_fig]
    assert "Leave-one-subject-out agreement." in html[i_fig:i_table]
    # a cached re-run keeps the original compute time and says the step came from the cache
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert "(1 from the cache)" in capsys.readouterr().out
    second = json.loads((out / "manifest.json").read_text())
    again = second["steps"][0]
    assert again["cache_hit"] and again["seconds"] == step["seconds"] > 0
    assert again["computed_at"] == step["computed_at"] and again["answer"] == step["answer"]
    html = (out / "report.html").read_text()
    assert re.search(r"from the cache</span> \(computed in [0-9.]+ s on ", html)
    assert sorted(p.name for p in (out / "figures").iterdir()) == files


def test_report_without_answers_shows_the_last_notes_and_clips_at_words():
    long_note = "word " * 100
    steps = [{"id": "s1", "op": "x", "input": "data", "params": {}, "key": "k" * 64, "cache_hit": False,
              "seconds": 1.0, "summary": None, "notes": [long_note.strip()]}]
    html = render_report(manifest={"name": "n"}, metrics={}, steps=steps)
    result = html[html.index("id='answer'"):html.index("id='overview'")]
    assert "Final output" in result and "(s1," in result and "word word" in result
    row = re.search(r"<td>(word[^<]*)</td></tr>", html).group(1)
    assert row.endswith("word …") and len(row) <= 302


def test_figure_files_replace_an_earlier_runs_and_vanish_without_figures(tmp_path):
    from neurodecode.report.figures import new_figure, render_figure, write_figure_files
    from neurodecode.report.style import set_caption

    fig = new_figure(2, 2)
    ax = fig.subplots()
    ax.plot([0, 1], [1, 0])
    ax.set_xlabel("x (s)")
    ax.set_ylabel("y (a.u.)")
    record = render_figure(set_caption(fig, "a line"), "A/B: line")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "old.01_stale.png").write_bytes(b"old")
    written = write_figure_files(tmp_path, [{"id": "s 1", "figures": [record]}])
    assert written == ["figures/s_1.01_a_b_line.png", "figures/s_1.01_a_b_line.svg"]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["s_1.01_a_b_line.png", "s_1.01_a_b_line.svg"]
    assert write_figure_files(tmp_path, [{"id": "s", "figures": []}]) == []
    assert not (tmp_path / "figures").exists()


def test_answer_table_states_a_long_shared_value_once():
    import pandas as pd

    cv = "5 contiguous test blocks, 10 samples dropped from training on each side"
    table = pd.DataFrame({"model": ["a", "b"], "cv": [cv, cv], "mean": [0.8, 0.7]})
    steps = [{"id": "decode", "op": "decode", "input": "data", "params": {}, "key": "k" * 64, "cache_hit": False,
              "seconds": 1.0, "summary": None, "notes": [], "answer": "best: a", "answer_table": table}]
    html = render_report(manifest={"name": "n"}, metrics={}, steps=steps)
    result = html[html.index("id='answer'"):html.index("id='overview'")]
    assert result.count(cv) == 1 and "cv (every row)" in result and "<th>mean</th>" in result
