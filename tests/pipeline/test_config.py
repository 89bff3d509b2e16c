"""The pipeline file schema: every error names the file and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from neurodecode.errors import ConfigError
from neurodecode.pipeline import load_config, register_op
from neurodecode.pipeline.config import find_pipeline, resolve_path
from neurodecode.pipeline.ops import OPS

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def _filter(data, l_freq: float | None = None, h_freq: float | None = None, *, order: int = 4):
    return data


def _needs_window(data, tmin: float, tmax: float, *, baseline: tuple[float | None, float | None] | None = None):
    return data


@pytest.fixture(autouse=True)
def ops():
    register_op("cfgtest.filter", _filter, replace=True)
    register_op("cfgtest.window", _needs_window, replace=True)
    yield
    OPS.unregister("cfgtest.filter")
    OPS.unregister("cfgtest.window")


def _base() -> dict:
    return {
        "name": "demo",
        "data": {"files": ["a.txt"], "loader": "eeg.read_muse_csv", "params": {"sfreq": 256}},
        "steps": [
            {"id": "first", "op": "cfgtest.filter", "params": {"l_freq": 1}},
            {"id": "second", "op": "cfgtest.window", "params": {"tmin": -0.1, "tmax": 0.5}},
            {"id": "third", "op": "cfgtest.filter", "params": {"h_freq": 30.0}},
        ],
        "outputs": {"save": ["third"]},
    }


def _write(tmp_path: Path, content: dict | str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return path


def _error(tmp_path: Path, content: dict | str) -> str:
    path = _write(tmp_path, content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message, message  # always names the file
    return message


def test_valid_config_loads_with_defaults(tmp_path):
    cfg = load_config(_write(tmp_path, _base()))
    assert cfg.name == "demo" and [s.id for s in cfg.steps] == ["first", "second", "third"]
    assert cfg.input_of(0) == "data" and cfg.input_of(2) == "second"
    assert cfg.outputs.report.enabled and cfg.outputs.format == "netcdf"
    assert cfg.source == (tmp_path / "p.yaml").resolve() and cfg.base_dir == tmp_path.resolve()
    # report: false is accepted as a shorthand
    raw = _base() | {"outputs": {"save": [], "report": False}}
    assert not load_config(raw).outputs.report.enabled


def test_unknown_key_names_path_and_suggests(tmp_path):
    raw = _base()
    raw["steps"][1]["parms"] = {"tmin": 0}
    message = _error(tmp_path, raw)
    assert "steps[1].parms: unknown key (did you mean 'params'?)" in message
    assert "allowed keys: id, op, params" in message


def test_unknown_top_level_key(tmp_path):
    message = _error(tmp_path, _base() | {"step": []})
    assert "step: unknown key (did you mean 'steps'?)" in message


def test_wrong_type_in_params_names_step_and_key(tmp_path):
    raw = _base()
    raw["steps"][2]["params"]["h_freq"] = "thirty"
    message = _error(tmp_path, raw)
    assert "steps[2].params.h_freq:" in message
    assert "valid number" in message and "'thirty'" in message
    assert "step 'third'" in message


def test_wrong_type_in_schema(tmp_path):
    raw = _base()
    raw["outputs"]["report"] = {"max_rows": "many"}
    message = _error(tmp_path, raw)
    assert "outputs.report.max_rows:" in message and "valid integer" in message


def test_unknown_and_missing_params(tmp_path):
    raw = _base()
    raw["steps"][0]["params"] = {"l_freqq": 1}
    raw["steps"][1]["params"] = {"tmin": 0}
    message = _error(tmp_path, raw)
    assert "steps[0].params.l_freqq: unknown parameter for op 'cfgtest.filter' (did you mean 'l_freq'?)" in message
    assert "steps[1].params.tmax: missing required parameter" in message
    assert "2 errors" in message


def test_nested_param_type(tmp_path):
    raw = _base()
    raw["steps"][1]["params"]["baseline"] = [None, "zero"]
    message = _error(tmp_path, raw)
    assert "steps[1].params.baseline[1]:" in message


def test_param_values_are_coerced():
    raw = _base()
    raw["steps"][1]["params"]["baseline"] = [None, 0]
    cfg = load_config(raw)
    params = OPS.get("cfgtest.window").validate_params(cfg.steps[1].params)
    assert params["baseline"] == (None, 0.0)


def test_unknown_op_did_you_mean(tmp_path):
    raw = _base()
    raw["steps"][0]["op"] = "cfgtest.filtr"
    message = _error(tmp_path, raw)
    assert "steps[0].op: unknown op 'cfgtest.filtr' (did you mean 'cfgtest.filter'?)" in message


def test_step_references(tmp_path):
    raw = _base()
    raw["steps"][0]["input"] = "second"
    raw["steps"][1]["input"] = "frist"
    raw["steps"][2]["id"] = "first"
    raw["outputs"]["save"] = ["thrd"]
    message = _error(tmp_path, raw)
    assert "steps[0].input: no earlier step 'second' (steps can only read earlier steps)" in message
    assert "steps[1].input: no earlier step 'frist' (did you mean 'first'?)" in message
    assert "steps[2].id: duplicated step id 'first'" in message
    assert "outputs.save[0]: no step 'thrd'" in message


def test_data_spec_rules(tmp_path):
    raw = _base()
    raw["data"] = {"dataset": "haxby2001", "files": ["x"]}
    assert "data: give either `dataset`" in _error(tmp_path, raw)
    raw["data"] = {"files": ["x"]}
    assert "needs a `loader`" in _error(tmp_path, raw)
    raw["data"] = {"files": ["x"], "loader": "eeg.read_muse_cvs"}
    assert "data.loader: unknown loader 'eeg.read_muse_cvs' (did you mean 'eeg.read_muse_csv'?)" in _error(
        tmp_path, raw)
    raw["data"] = {"files": ["x"], "loader": "eeg.read_muse_csv", "params": {"sfreq": "fast"}}
    assert "data.params.sfreq:" in _error(tmp_path, raw)


def test_unknown_dataset_name(tmp_path):
    raw = _base()
    raw["data"] = {"dataset": "haxby2000"}
    message = _error(tmp_path, raw)
    assert "data.dataset: unknown dataset 'haxby2000' (did you mean 'haxby2001'?)" in message


def test_yaml_problems(tmp_path):
    assert "invalid YAML: line 2, column 12" in _error(tmp_path, "name: x\nsteps: [a, }\n")
    assert "duplicated key 'name'" in _error(tmp_path, "name: a\nname: b\n")
    assert "must be a mapping" in _error(tmp_path, "- a\n- b\n")
    assert "empty" in _error(tmp_path, "")
    with pytest.raises(ConfigError, match="no such pipeline file"):
        load_config(tmp_path / "missing.yaml")


def test_missing_required_keys(tmp_path):
    message = _error(tmp_path, {"name": "x"})
    assert "data: required key is missing" in message and "steps: required key is missing" in message


def test_resolve_path(tmp_path, monkeypatch):
    monkeypatch.setenv("ND_TEST_ROOT", str(tmp_path))
    assert resolve_path("${ND_TEST_ROOT}/a.csv", Path("/elsewhere")) == tmp_path / "a.csv"
    assert resolve_path("b.csv", tmp_path) == (tmp_path / "b.csv").resolve()
    monkeypatch.delenv("ND_TEST_ROOT")
    with pytest.raises(ConfigError, match=r"\$ND_TEST_ROOT, which is not set"):
        resolve_path("$ND_TEST_ROOT/a.csv", tmp_path, key="data.files[0]")


@pytest.mark.parametrize("name", ["eeg_n170_preprocess", "fmri_haxby_preprocess", "spikes_m1_preprocess",
                                  "eeg_muse_time_resolved"])
def test_shipped_pipelines_validate(name):
    path = PIPELINES / f"{name}.yaml"
    assert find_pipeline(name) == path
    cfg = load_config(path)
    assert cfg.name == name
    assert cfg.data.dataset is not None and cfg.outputs.save
    for step in cfg.steps:  # every op exists and its params check out
        OPS.get(step.op).validate_params(step.params)


def test_docs_example_validates(tmp_path):
    import re

    doc = (PIPELINES.parent / "docs" / "pipelines.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if b.startswith("name:")]
    assert blocks, "docs/pipelines.md has no full example"
    for block in blocks:
        cfg = load_config(_write(tmp_path, block, "doc.yaml"))
        shipped = load_config(PIPELINES / f"{cfg.name}.yaml")
        assert cfg.model_dump() == shipped.model_dump()  # the example is the shipped file
