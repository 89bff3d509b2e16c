"""The op registry, the result contract and the built-in generic ops, on synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurodecode.datamodel import make_bold, make_epochs, make_events, make_recording, validate
from neurodecode.errors import BadInputError, ConfigError
from neurodecode.pipeline import builtin
from neurodecode.pipeline.ops import OPS, Registry, StepResult, as_step_result, merge_results
from neurodecode.pipeline.summary import (
    describe_changes,
    group_metric,
    item_labels,
    kept_dropped_metrics,
    summarize,
)


def _epochs(n=6, labels=("face", "house"), subject="1", run=1, seed=0, n_times=20):
    rng = np.random.default_rng(seed)
    lab = np.array([labels[i % len(labels)] for i in range(n)])
    return make_epochs(rng.normal(size=(n, 2, n_times)) * 1e-6, 100.0, ["C3", "C4"], -0.05,
                       metadata={"label": lab}, subject=subject, run=run)


def test_registry_lookup_and_suggestions():
    reg = Registry("op")

    @reg.register("demo.scale")
    def scale(x, *, factor: float = 2.0):
        """Multiply by a factor."""
        return x * factor

    assert reg.names() == ["demo.scale"] and "demo.scale" in reg
    assert reg.get("demo.scale").description == "Multiply by a factor."
    with pytest.raises(ConfigError, match=r"unknown op 'demo.scal' \(did you mean 'demo.scale'\?\)"):
        reg.get("demo.scal")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("demo.scale", scale)
    reg.register("demo.scale", lambda x: x, replace=True)
    reg.unregister("demo.scale")
    assert reg.names() == []


def test_builtin_ops_are_registered_lazily():
    names = OPS.names()
    for name in ("eeg.filter", "eeg.epoch", "eeg.reject_amplitude", "eeg.detect_railing", "eeg.concat_epochs",
                 "fmri.clean", "fmri.block_responses", "spikes.smooth", "spikes.rates", "core.select"):
        assert name in names
    op = OPS.get("eeg.filter")
    assert isinstance(op.target, str)  # nothing imported until used


def test_param_spec_from_signature_and_wrapper():
    spec = OPS.get("eeg.reject_amplitude").param_spec()
    assert "threshold" in spec.required  # from preprocess.eeg.reject_by_amplitude
    assert "count_by" in spec.annotations  # the wrapper's own parameter
    assert not spec.allow_extra
    epoch = OPS.get("eeg.epoch")
    assert "return_report" not in epoch.param_spec().annotations  # hidden
    with pytest.raises(ConfigError, match="return_report: cannot be set"):
        epoch.validate_params({"tmin": 0, "tmax": 1, "return_report": False})
    # **kwargs of the target let unknown keys through (to MNE)
    assert OPS.get("eeg.filter").validate_params({"l_freq": 1, "h_freq": None, "fir_design": "firwin"}) == {
        "l_freq": 1.0, "h_freq": None, "fir_design": "firwin"}


def test_string_annotations_that_cannot_resolve_become_any():
    reg = Registry("op")
    namespace: dict = {}
    exec(  # noqa: S102 - a function whose hints name a type that does not exist
        "from __future__ import annotations\n"
        "def f(x, *, a: NotAType = 1, b: int = 2):\n    return x\n", namespace)
    reg.register("demo.f", namespace["f"])
    out = reg.get("demo.f").validate_params({"a": object, "b": "3"})
    assert out["a"] is object and out["b"] == 3


def test_as_step_result_and_merge():
    frame = pd.DataFrame({"trial": [1]})
    res = as_step_result(("data", frame))
    assert res.data == "data" and res.tables["report"] is frame
    assert as_step_result(5).data == 5
    parts = [StepResult(1, {"n": 1}, {"t": pd.DataFrame({"a": [1]})}, [("fig", "F1")], ["note a"]),
             StepResult(2, {"n": 2}, {"t": pd.DataFrame({"a": [2, 3]})}, [], [])]
    merged = merge_results(parts, ["run-1", "run-2"])
    assert merged.data == [1, 2]
    assert merged.metrics == {"run-1.n": 1, "run-2.n": 2}
    assert merged.tables["t"]["item"].tolist() == ["run-1", "run-2", "run-2"]
    assert merged.figures == [("run-1: fig", "F1")] and merged.notes == ["run-1: note a"]


def test_item_labels_unique():
    items = [_epochs(subject="1", run=1), _epochs(subject="1", run=2), _epochs(subject="1", run=2)]
    assert item_labels(items) == ["sub-1_run-1", "sub-1_run-2_001", "sub-1_run-2_002"]


def test_concat_epochs_keeps_provenance():
    a, b = _epochs(4, subject="1", run=1, seed=1), _epochs(6, subject="2", run=1, seed=2)
    out = builtin.concat_epochs([a, b]).data
    validate(out, "epochs")
    assert out.sizes["trial"] == 10
    assert out["subject"].values.tolist() == ["1"] * 4 + ["2"] * 6
    assert out["trial_in_item"].values.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5]
    np.testing.assert_array_equal(out.values[4:], b.values)
    assert out["trial"].values.tolist() == list(range(10))


def test_concat_refuses_mismatched_items():
    a = _epochs(4)
    with pytest.raises(BadInputError, match="'time' entries"):
        builtin.concat([a, _epochs(4, n_times=21)])
    other = a.assign_coords(channel=["C3", "Cz"])
    with pytest.raises(BadInputError, match="differ along 'channel'"):
        builtin.concat([a, other])
    faster = a.assign_attrs(sfreq=200.0)
    with pytest.raises(BadInputError, match="sfreq"):
        builtin.concat([a, faster])
    with pytest.raises(BadInputError, match="empty"):
        builtin.concat([])


def test_select_reports_what_was_dropped():
    ep = _epochs(6, labels=("face", "house", "rest"))
    res = builtin.select(ep, drop={"label": ["rest"]})
    assert res.data.sizes["trial"] == 4 and "rest" not in res.data["label"].values
    assert res.metrics == {"kept.trial": 4.0, "dropped.trial": 2.0}
    assert res.tables["dropped"].to_dict("records") == [
        {"dim": "trial", "coord": "label", "value": "rest", "rule": "drop", "n_dropped": 2}]
    with pytest.raises(BadInputError, match="no value"):
        builtin.select(ep, keep={"label": ["cat"]})


def test_group_and_kept_dropped_metrics():
    before = _epochs(8)
    after = before.isel(trial=[0, 1, 2, 4])  # face at 0, 2, 4; house at 1
    assert group_metric(before, "n", by=["label"]) == {"n": 8.0, "n.label=face": 4.0, "n.label=house": 4.0}
    m = kept_dropped_metrics(before, after, by=["label"])
    assert m["kept"] == 4 and m["dropped"] == 4
    assert m["kept.label=face"] == 3 and m["dropped.label=face"] == 1
    assert m["kept.label=house"] == 1 and m["dropped.label=house"] == 3
    # attrs broadcast as groups for lists of items
    items = [_epochs(2, subject="1"), _epochs(3, subject="2")]
    assert group_metric(items, "n", by=["subject"]) == {"n": 5.0, "n.subject=1": 2.0, "n.subject=2": 3.0}
    means = group_metric(before, "m", fn="mean", by=["label"])
    expected = float(before.isel(trial=[0, 2, 4, 6]).mean().values)
    assert means["m.label=face"] == pytest.approx(expected)
    with pytest.raises(BadInputError, match="cannot group by 'color'"):
        group_metric(before, "n", by=["color"])


def test_summarize_and_changes():
    a = summarize(_epochs(6))
    b = summarize(_epochs(4))
    assert a["kind"] == "epochs" and a["dims"] == {"trial": 6, "channel": 2, "time": 20}
    assert describe_changes(a, b) == ["trial: 6 -> 4 (-2)"]
    listed = summarize([_epochs(3), _epochs(5)])
    assert listed["n_items"] == 2 and listed["dims_total"]["trial"] == 8 and listed["dims_each"]["channel"] == 2
    assert describe_changes(listed, summarize(_epochs(8))) == ["2 items combined into one epochs"]


def test_reject_amplitude_wrapper_counts_per_group():
    ep = _epochs(6)
    data = ep.values.copy()
    data[1, 0, 5] = 500e-6  # house trial 1 exceeds 100 uV
    ep = ep.copy(data=data)
    res = builtin.eeg_reject_amplitude(ep, threshold=100e-6, count_by=["subject", "label"])
    assert res.data.sizes["trial"] == 5
    assert res.metrics["dropped.label=house"] == 1 and res.metrics["kept.label=face"] == 3
    assert res.metrics["dropped.subject=1.label=house"] == 1  # subject is a trial coord or attr
    assert res.tables["rejected"]["trial"].tolist() == [1]


def test_detect_railing_wrapper_marks_and_reports():
    sfreq = 100.0
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2, 1000)) * 10e-6
    data[0, 300:350] = 1000e-6 + rng.uniform(0, 1e-6, 50)  # half a second of railing on channel A
    rec = make_recording(data, sfreq, ["A", "B"], events=make_events([1.0, 3.2, 6.0], ["face", "house", "face"]))
    res = builtin.eeg_detect_railing(rec)
    assert res.metrics["n_stretches"] == 1 and res.metrics["n_bad_channels"] == 0
    assert res.metrics["seconds_flagged"] == pytest.approx(0.5)
    stretches = res.tables["railing_stretches"]
    assert stretches["channel"].tolist() == ["A"] and stretches["onset"].iloc[0] == pytest.approx(3.0)
    labels = res.data["label"].values.tolist()
    assert any(str(x).startswith("BAD_") for x in labels)  # the stretch became a BAD_ event


def test_mask_intensity_keeps_brightest_voxels():
    rng = np.random.default_rng(0)
    means = np.array([0.0, 0.0, 10.0, 20.0, 30.0])
    data = means + rng.normal(size=(8, 5)) * 0.01
    ijk = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0]])
    bold = make_bold(data, 2.0, ijk=ijk, affine=np.eye(4), shape=(5, 1, 1))
    res = builtin.fmri_mask_intensity(bold, keep_fraction=0.6)
    assert res.data["i"].values.tolist() == [2, 3, 4]
    assert res.tables["dropped_voxels"]["i"].tolist() == [0, 1]
    assert res.metrics["kept_voxels"] == 3
    with pytest.raises(BadInputError, match="keep_fraction"):
        builtin.fmri_mask_intensity(bold, keep_fraction=0)


def test_changes_only_compare_like_with_like():
    runs = summarize([_epochs(6), _epochs(4)])
    fewer = summarize([_epochs(5), _epochs(4)])
    assert describe_changes(runs, fewer) == ["trial: 10 -> 9 in all items (-1)"]
    assert describe_changes(runs, summarize([_epochs(6)])) == ["items: 2 -> 1", "trial: 10 -> 6 in all items (-4)"]
    bold = summarize(make_bold(np.zeros((4, 2)), 2.0, roi=["a", "b"]))
    assert describe_changes(summarize(_epochs(6)), bold) == ["kind: epochs -> bold"]


def test_concat_epochs_keeps_per_run_bad_channels():
    """Bad channels differ between runs: they become a per-trial coord, not a dropped attr."""
    import numpy as np

    from neurodecode import datamodel as dm
    from neurodecode.pipeline.builtin import concat_epochs

    a = dm.make_epochs(np.zeros((2, 2, 3)), 10.0, ["a", "b"], 0.0, subject="1", run=1, bads=["a"])
    b = dm.make_epochs(np.zeros((3, 2, 3)), 10.0, ["a", "b"], 0.0, subject="1", run=2)
    out = concat_epochs([a, b]).data
    assert list(out["bad_channels"].values) == ["a", "a", "", "", ""]
    assert list(out["run"].values) == [1, 1, 2, 2, 2]
    assert "bads" not in out.attrs


def test_concat_keeps_unique_ids_and_says_why_not_otherwise():
    import xarray as xr

    from neurodecode.pipeline.builtin import concat

    a = xr.DataArray(np.ones((2, 3)), dims=("stimulus", "feature"), coords={"stimulus": ["faces/f1", "faces/f2"]})
    b = xr.DataArray(np.zeros((1, 3)), dims=("stimulus", "feature"), coords={"stimulus": ["houses/h1"]})
    res = concat([a, b], dim="stimulus")
    assert list(res.data["stimulus"].values) == ["faces/f1", "faces/f2", "houses/h1"]
    same = concat([a, a], dim="stimulus")
    assert list(same.data["stimulus"].values) == [0, 1, 2, 3]
    assert list(same.data["stimulus_in_item"].values) == ["faces/f1", "faces/f2"] * 2
    assert any("repeat across items" in note for note in same.notes)
