"""Report figures (per modality) and the self-contained HTML, on synthetic data."""

from __future__ import annotations

import base64
import re
import sys

import numpy as np
import pandas as pd
import pytest

from neurodecode.datamodel import make_binned_spikes, make_bold, make_epochs, make_responses
from neurodecode.report import figures, render_report, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def _png(fig) -> bytes:
    return base64.b64decode(figures.to_png_base64(fig))


def test_figures_need_no_pyplot():
    had_pyplot = "matplotlib.pyplot" in sys.modules
    assert _png(figures.new_figure(2, 2)).startswith(PNG)
    if not had_pyplot:  # drawn with the Agg canvas directly, no global backend state
        assert "matplotlib.pyplot" not in sys.modules


def test_erp_figure_groups_by_label_and_shades_window():
    rng = np.random.default_rng(0)
    labels = np.array(["face", "house"] * 10)
    data = rng.normal(size=(20, 4, 50)) * 1e-6
    ep = make_epochs(data, 100.0, ["TP9", "AF7", "AF8", "TP10"], -0.1, metadata={"label": labels}, units="V")
    fig = figures.erp_figure(ep, highlight=(0.13, 0.2), highlight_label="N170")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["TP9", "AF7", "AF8", "TP10"]
    lines = axes[0].get_lines()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]  # beside the panels, not over the curves
    assert legend[:2] == ["face (n=10)", "house (n=10)"] and "N170" in legend
    face_mean = data[labels == "face", 0].mean(axis=0) * 1e6  # plotted in microvolts
    np.testing.assert_allclose(lines[0].get_ydata(), face_mean)
    assert _png(fig).startswith(PNG)
    # a list of per-run epochs is pooled
    pooled = figures.erp_figure([ep.isel(trial=slice(0, 10)), ep.isel(trial=slice(10, 20))])
    np.testing.assert_allclose(pooled.axes[0].get_lines()[0].get_ydata(), face_mean)


def test_modality_figures_render():
    rng = np.random.default_rng(1)
    ijk = np.array([[i, j, 0] for i in range(4) for j in range(3)])
    bold = make_bold(rng.normal(size=(30, 12)) + 100, 2.0, ijk=ijk, affine=np.eye(4), shape=(4, 3, 1))
    bold = bold.assign_coords(label=("time", np.array(["rest", "face", "house"] * 10)),
                              run=("time", np.repeat([1, 2], 15)))
    resp = make_responses(rng.normal(size=(8, 12)), dim="trial",
                          trial_coords={"label": np.array(["face", "house"] * 4)})
    spikes = make_binned_spikes(rng.poisson(2, size=(400, 5)), 0.05)
    spikes = spikes.assign_coords(vel_x=("time", rng.normal(size=400)), vel_y=("time", rng.normal(size=400)))
    titles = {
        "bold": [t for t, _ in figures.auto_figures(bold)],
        "responses": [t for t, _ in figures.auto_figures(resp)],
        "spikes": [t for t, _ in figures.auto_figures(spikes)],
    }
    assert titles == {"bold": ["Voxel mask", "Mean signal over time"],
                      "responses": ["Mean response per label"],
                      "spikes": ["Binned activity", "Activity vs velocity"]}
    for obj in (bold, resp, spikes):
        for _, fig in figures.auto_figures(obj):
            assert _png(fig).startswith(PNG)
    # the category bar heights are the per-category means
    fig = figures.category_response_figure(resp)
    heights = [p.get_height() for p in fig.axes[0].patches]
    values = resp.values.mean(axis=1)
    assert heights == pytest.approx([values[0::2].mean(), values[1::2].mean()])
    table = pd.DataFrame({"channel": ["A", "B", "A"], "bad_fraction": [0.1, 0.0, 0.3], "item": ["r1", "r1", "r2"]})
    assert _png(figures.railing_figure(table)).startswith(PNG)
    assert figures.auto_figures([]) == [] and figures.auto_figures("text") == []


def test_html_is_self_contained(tmp_path):
    fig = figures.new_figure(2, 2)
    fig.subplots().plot([0, 1], [1, 0])
    step = {"id": "clean", "op": "eeg.reject_amplitude", "input": "epochs", "params": {"threshold": 1e-4},
            "key": "ab" * 32, "cache_hit": False, "seconds": 0.5,
            "summary": {"type": "DataArray", "kind": "epochs", "dims": {"trial": 9, "channel": 4, "time": 10}},
            "metrics": {"kept": 9}, "notes": ["trial: 10 -> 9 (-1)"],
            "figures": [{"title": "ERP <face>", "png": figures.to_png_base64(fig)}]}
    manifest = {"name": "demo", "status": "ok", "description": "a <b>test</b>", "duration_s": 1.0,
                "inputs": {"dataset": "muse_n170", "files": [{"name": "a.csv", "size": 10, "sha256": "f" * 64}]},
                "versions": {"neurodecode": "0.1.0"}, "config": {"resolved": {"name": "demo"}}}
    tables = {"clean": {"rejected": pd.DataFrame({"trial": [3], "reason": ["ptp > 100 uV"]})}}
    path = write_report(tmp_path / "r.html", manifest=manifest, metrics={"clean.kept": 9}, steps=[step],
                        tables=tables)
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"(src|href)=['\"](https?:|//|file:)", html)  # nothing external
    assert "a &lt;b&gt;test&lt;/b&gt;" in html and "ERP &lt;face&gt;" in html  # escaped
    assert "What was dropped and why" in html and "ptp &gt; 100 uV" in html
    assert "clean.kept" in html and "f" * 64 in html and "trial: 10 -&gt; 9 (-1)" in html
    assert render_report(manifest=manifest, metrics={}, steps=[]).count("<section") == 5  # result first
