"""Every report figure carries axis labels, colour bars and a caption, at a legible size (report.style)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurodecode.datamodel import make_binned_spikes, make_bold, make_epochs, make_responses
from neurodecode.report import figures, rsa_figures, style


def _check(fig, render: bool = False) -> None:
    """The reviewer's checklist, on the matplotlib artists before saving (``render``: also the PNG/SVG)."""
    assert fig is not None
    assert style.figure_problems(fig) == []
    assert style.caption_of(fig), "every figure has a caption"
    if not render:
        return
    rec = figures.render_figure(fig, "t")
    from PIL import Image

    png = Image.open(io.BytesIO(base64.b64decode(rec["png"])))
    assert png.size[0] == pytest.approx(2 * rec["width"], abs=2)  # PNG at twice the displayed pixels
    assert rec["svg"].lstrip().startswith("<?xml") and "<svg" in rec["svg"]


def test_the_checker_flags_what_a_reviewer_would():
    fig = figures.new_figure(4, 3)
    ax = fig.subplots()
    ax.imshow(np.arange(12.0).reshape(3, 4))
    ax.set_title("bad", fontsize=5)
    problems = style.figure_problems(fig)
    assert any("x axis" in p for p in problems) and any("y axis" in p for p in problems)
    assert any("colour bar" in p for p in problems) and any("pt" in p for p in problems)
    ax.set_xlabel("x (s)")
    ax.set_ylabel("y (s)")
    fig.colorbar(ax.images[0], ax=ax)
    assert style.figure_problems(fig) == ["a colour bar without a label", "text 'bad' is 5.0 pt (< 8.0 pt)"]
    style.finalize(fig)  # raises small fonts to the minimum
    assert ax.title.get_fontsize() == style.MIN_FONT_PT
    fig.axes[1].set_ylabel("value (a.u.)")
    assert style.figure_problems(fig) == []


def test_palette_is_distinct_and_maps_fit_the_data():
    assert len(set(style.colors(12))) == 12
    assert style.diverging_limits([-0.2, 0.5]) == (-0.5, 0.5)
    assert style.pretty("monkey_it") == "monkey IT"


def test_modality_figures_pass_the_checklist():
    rng = np.random.default_rng(1)
    labels = np.array(["face", "house"] * 10)
    ep = make_epochs(rng.normal(size=(20, 4, 50)) * 1e-6, 100.0, ["TP9", "AF7", "AF8", "TP10"], -0.1,
                     metadata={"label": labels}, units="V")
    ijk = np.array([[i, j, k] for i in range(4) for j in range(3) for k in range(2)])
    bold = make_bold(rng.normal(size=(30, 24)) + 100, 2.0, ijk=ijk, affine=np.eye(4), shape=(4, 3, 2))
    bold = bold.assign_coords(label=("time", np.array(["rest", "face", "house"] * 10)),
                              run=("time", np.repeat([1, 2], 15)))
    std = bold.assign_attrs(cleaning={"standardize": True})
    resp = make_responses(rng.normal(size=(8, 12)), dim="trial", trial_coords={"label": np.array(["a", "b"] * 4)})
    spikes = make_binned_spikes(rng.poisson(2, size=(400, 5)), 0.05)
    spikes = spikes.assign_coords(vel_x=("time", rng.normal(size=400)), vel_y=("time", rng.normal(size=400)))
    railing = pd.DataFrame({"channel": ["A", "B", "A", "B"], "bad_fraction": [0.1, 0.0, 0.3, 0.02],
                            "item": ["r1", "r1", "r2", "r2"]})
    figs = [figures.erp_figure(ep, highlight=(0.13, 0.2), highlight_label="N170"),
            figures.bold_mask_figure(bold), figures.bold_mask_figure(std, background=bold),
            figures.bold_timecourse_figure(bold), figures.category_response_figure(resp),
            figures.spike_raster_figure(spikes), figures.rates_vs_velocity_figure(spikes),
            figures.railing_figure(railing), figures.railing_figure(railing.drop(columns="item"))]
    for i, fig in enumerate(figs):
        _check(fig, render=i == 0)


def _scores(rng) -> xr.Dataset:
    layers = [f"block{i}" for i in range(8)]
    shape = (2, 8, 3)
    score = rng.uniform(0.0, 0.4, size=shape)
    p = rng.uniform(0, 0.1, size=shape)
    dims = ("model", "layer", "region")
    return xr.Dataset(
        {"score": (dims, score), "ci_low": (dims, score - 0.05), "ci_high": (dims, score + 0.05),
         "p_fdr": (dims, p), "ceiling_low": ("region", [0.4, np.nan, 0.5]),
         "ceiling_high": ("region", [0.6, np.nan, 0.7])},
        coords={"model": ["trained", "untrained"], "layer": layers, "region": ["human_it", "monkey_it", "behaviour"]},
        attrs={"ci": 0.95})


def test_rsa_by_layer_marks_the_answer():
    from matplotlib.colors import to_rgba

    scores = _scores(np.random.default_rng(0))
    fig = rsa_figures.rsa_by_layer_figure(scores, ceiling_notes={"monkey_it": "no noise ceiling: one animal"})
    _check(fig, render=True)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["human IT", "monkey IT", "behaviour"]
    assert len({ax.get_ylim() for ax in axes}) == 1  # compared panels share the y range
    for r, ax in enumerate(axes):
        stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
        best = scores["score"].isel(region=r).values.argmax(axis=1)
        assert sorted(int(s.get_xdata()[0]) for s in stars) == sorted(best.tolist())
        filled = [line for line in ax.get_lines() if line.get_marker() == "o" and line.get_linestyle() == "None"
                  and to_rgba(line.get_markerfacecolor()) != (1.0, 1.0, 1.0, 1.0)]
        assert sum(len(line.get_xdata()) for line in filled) == int((scores["p_fdr"].isel(region=r) < 0.05).sum())
    texts = [t.get_text() for t in axes[1].texts]
    assert any("one animal" in t for t in texts)  # the region without a ceiling says why
    assert len(axes[0].patches) == 1 and not axes[1].patches  # a ceiling band only where there is one


def test_rdm_and_mds_figures_on_the_kriegeskorte_rdms(data_home):
    from neurodecode import datasets

    hit = datasets.load("kriegeskorte92", part="human_it")
    mit = datasets.load("kriegeskorte92", part="monkey_it")
    panels = [("human_it (mean of 4)", hit.mean("rdm")), ("monkey_it (mean of 1)", mit.mean("rdm")),
              ("session 1", hit.isel(rdm=0)), ("session 2", hit.isel(rdm=1)), ("subject 2", hit.isel(rdm=2))]
    fig = rsa_figures.rdm_heatmaps_figure(panels)
    _check(fig)
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.images]
    assert len(shown) == 5 and [ax.get_title() for ax in shown][:2] == ["human IT (mean of 4)", "monkey IT"]
    rows = {round(ax.get_position().y0, 3) for ax in shown}
    assert len(rows) == 2 and sum(ax.get_position().y0 == min(a.get_position().y0 for a in shown)
                                  for ax in shown) == 2  # 3 + 2, never a lone panel
    fig = rsa_figures.mds_figure(panels[:2])
    _check(fig)
    assert all("stress-1 = " in ax.get_title() for ax in fig.axes if ax.collections)


def test_kruskal_stress_is_zero_for_a_planar_configuration():
    from scipy.spatial.distance import pdist, squareform

    xy = np.random.default_rng(3).normal(size=(20, 2))
    d = squareform(pdist(xy))
    assert rsa_figures._kruskal_stress(d, xy * 3.0) == pytest.approx(0.0, abs=1e-12)
    assert rsa_figures._kruskal_stress(d, np.random.default_rng(4).normal(size=(20, 2))) > 0.2


def test_trsa_map_uses_the_data_range_and_marks_best_plain_and_chance():
    lows, ups = [0.0, 0.1, 0.2], [0.3, 0.6, 1.0]
    vals = np.array([[0.70, 0.74, 0.80], [0.71, 0.83, 0.79], [np.nan, 0.75, 0.78]])
    sweep = xr.DataArray(vals, dims=("low", "up"), coords={"low": lows, "up": ups}, attrs={"chance": 0.06})
    fig = rsa_figures.trsa_map_figure(sweep)
    _check(fig)
    ax = fig.axes[0]
    assert ax.images[0].get_clim() == (0.70, 0.83)
    outlines = {p.get_label(): p.get_xy() for p in ax.patches}
    assert outlines["best: low=0.1, up=0.6"] == (0.5, 0.5)
    assert outlines["plain RSA (low=0, up=1)"] == (1.5, -0.5)
    assert "Chance is 0.06, below every cell" in style.caption_of(fig)
    inside = rsa_figures.trsa_map_figure(sweep.assign_attrs(chance=0.75))
    assert any(t.get_text() == "chance" for t in inside.axes[1].texts)


def test_rsa_vs_trsa_figure_with_and_without_cis():
    rng = np.random.default_rng(2)
    dims = ("model", "layer", "region")
    shape = (2, 6, 3)
    res = xr.Dataset({"rsa_score": (dims, rng.uniform(0, .4, shape)), "trsa_score": (dims, rng.uniform(0, .4, shape))},
                     coords={"model": ["a", "b"], "layer": [f"l{i}" for i in range(6)],
                             "region": ["human_it", "monkey_it", "behaviour"]},
                     attrs={"low": 0.4, "up": 1.0, "kind": "geotopological", "method": "spearman"})
    fig = rsa_figures.rsa_vs_trsa_figure(res)
    _check(fig)
    assert "no CIs" in style.caption_of(fig)
    lo, hi = res["rsa_score"] - 0.05, res["rsa_score"] + 0.05
    fig = rsa_figures.rsa_vs_trsa_figure(res.assign(rsa_ci_low=lo, rsa_ci_high=hi))
    assert "Bands: bootstrap CIs" in style.caption_of(fig)
    assert sum(len(ax.collections) for ax in fig.axes) == 2 * 3  # one band per model and region


def test_crowded_tick_labels_are_slanted_when_rendered():
    """An op's figure whose category names overlap on the x axis gets them slanted; sparse ticks stay level."""
    from neurodecode.report import figures, style

    names = ["bottle", "cat", "chair", "face", "house", "scissors", "scrambledpix", "shoe"]
    fig = figures.new_figure(3, 3)
    ax = fig.subplots()
    ax.imshow(np.zeros((8, 8)))
    ax.set_xticks(range(8), names)
    ax.set_yticks(range(8), names)
    figures.render_figure(fig, "confusion", caption="c")
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {45.0}
    assert {t.get_horizontalalignment() for t in ax.get_xticklabels()} == {"right"}
    wide = figures.new_figure(6, 3)
    ax2 = wide.subplots()
    ax2.plot([0, 1], [0, 1])
    style.finalize(wide)
    assert {t.get_rotation() for t in ax2.get_xticklabels()} == {0.0}


def test_titles_wider_than_the_figure_are_wrapped_not_cut():
    from neurodecode.report import figures

    fig = figures.new_figure(3, 3)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    long = "leave one session/run out within each subject (10 folds); left out (fewer than 3 groups): 2, 10, 11"
    ax.set_title(long)
    figures.render_figure(fig, "scores", caption="c")
    assert "\n" in ax.get_title() and ax.get_title().replace("\n", " ") == long
    box = ax.title.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    # a figure laid out once with tight_layout (as ops often do) is laid out again: the title stays inside
    import matplotlib.pyplot as plt

    fig2, ax2 = plt.subplots(figsize=(3, 3))
    ax2.plot([0, 1], [0, 1])
    ax2.set_title(long)
    fig2.tight_layout()
    figures.render_figure(fig2, "scores", caption="c")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig2)
    canvas.draw()
    box2 = ax2.title.get_window_extent(canvas.get_renderer())
    assert box2.y1 <= fig2.bbox.height + 1 and box2.x0 >= 0
    plt.close(fig2)
