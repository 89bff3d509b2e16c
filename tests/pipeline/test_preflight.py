"""`neurodecode validate` catches what `neurodecode run` would stop on (issue 13, section 4)."""

from __future__ import annotations

import pytest
import yaml

from neurodecode.cli import main
from neurodecode.errors import ConfigError
from neurodecode.pipeline.checks import check_pipeline, preflight_errors
from neurodecode.pipeline.config import load_config


def _write(tmp_path, cfg) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _eeg(tmp_path, **data):
    rec = tmp_path / "rec.fif"
    rec.write_bytes(b"")
    spec = {"files": [str(rec)], "loader": "eeg.read_eeg", **data}
    return {"name": "p", "data": spec, "steps": [{"id": "bp", "op": "eeg.filter",
                                                   "params": {"l_freq": 1.0, "h_freq": 30.0}}]}


def _errors(tmp_path, cfg):
    return dict(preflight_errors(load_config(_write(tmp_path, cfg))))


def test_unknown_keyword_of_a_kwargs_op(tmp_path, capsys):
    cfg = _eeg(tmp_path)
    cfg["steps"][0]["params"]["fir_desing"] = "firwin"
    errors = _errors(tmp_path, cfg)
    assert "did you mean 'fir_design'" in errors["steps[0].params.fir_desing"]
    assert main(["validate", _write(tmp_path, cfg)]) == 2
    assert "fir_desing" in capsys.readouterr().err
    cfg["steps"][0]["params"] = {"l_freq": 1.0, "h_freq": 30.0, "fir_design": "firwin", "method": "fir"}
    assert _errors(tmp_path, cfg) == {}  # real MNE keywords pass


def test_missing_files_unset_vars_and_empty_globs(tmp_path, monkeypatch):
    monkeypatch.delenv("ND_H13_UNSET", raising=False)
    cfg = _eeg(tmp_path)
    cfg["data"]["files"] = ["nope.fif", "$ND_H13_UNSET/x.fif", "raw/*.edf"]
    errors = _errors(tmp_path, cfg)
    assert "no such file" in errors["data.files[0]"]
    assert "$ND_H13_UNSET" in errors["data.files[1]"] and "not set" in errors["data.files[1]"]
    assert "matches no file" in errors["data.files[2]"]
    with pytest.raises(ConfigError, match="3 problem"):
        check_pipeline(load_config(_write(tmp_path, cfg)))


def test_dataset_selection_that_matches_nothing(tmp_path):
    cfg = {"name": "p", "data": {"dataset": "muse_n170", "select": {"subject": [1, 99], "sesion": 1}},
           "steps": [{"id": "bp", "op": "eeg.filter", "params": {"l_freq": 1.0, "h_freq": 30.0}}]}
    errors = _errors(tmp_path, cfg)
    assert "99 matches nothing" in errors["data.select.subject"] and "10" in errors["data.select.subject"]
    assert "did you mean 'session'" in errors["data.select.sesion"]
    cfg["data"]["select"] = {"subject": [1, 2], "session": 1}
    assert _errors(tmp_path, cfg) == {}


def test_shipped_pipelines_pass(capsys):
    assert main(["validate", "eeg_n170_decode", "fmri_haxby_preprocess", "spikes_m1_decode"]) == 0


def test_option_parameters_are_checked_at_validation(tmp_path):
    cfg = _eeg(tmp_path)
    cfg["steps"].append({"id": "ep", "op": "eeg.epoch", "params": {"tmin": -0.1, "tmax": 0.5, "on_edge": "dropp"}})
    with pytest.raises(ConfigError, match=r"on_edge.*'drop'"):
        load_config(_write(tmp_path, cfg))
