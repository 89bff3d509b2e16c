"""The ``neurodecode`` command line: version, validate, ops, datasets delegation, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from neurodecode import __version__
from neurodecode.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).with_name("neurodecode")


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "neurodecode.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"neurodecode {__version__}"


def test_validate_ok_and_errors(tmp_path, capsys):
    assert main(["validate", str(ROOT / "pipelines" / "fmri_haxby_preprocess.yaml"), "spikes_m1_preprocess"]) == 0
    out = capsys.readouterr().out
    assert "fmri_haxby_preprocess.yaml: OK" in out and "spikes_m1_preprocess.yaml: OK" in out

    raw = yaml.safe_load((ROOT / "pipelines" / "fmri_haxby_preprocess.yaml").read_text())
    raw["steps"][2]["params"]["shift"] = "five seconds"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("neurodecode: error: ") and str(bad) in err and "steps[2].params.shift" in err


def test_ops_listing(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "eeg.filter" in out and "fmri.block_responses" in out and "eeg.read_muse_csv" in out
    assert main(["ops", "eeg.epoch"]) == 0
    out = capsys.readouterr().out
    assert "tmin" in out and "required" in out and "baseline" in out
    assert main(["ops", "eeg.epok"]) == 2
    assert "did you mean 'eeg.epoch'" in capsys.readouterr().err


def test_run_errors_are_one_line(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no such pipeline file" in err and err.count("\n") == 1
    pipe = tmp_path / "p.yaml"
    pipe.write_text(yaml.safe_dump({"name": "x", "data": {"files": ["nope.csv"], "loader": "eeg.read_muse_csv"},
                                    "steps": [{"id": "a", "op": "spikes.rates"}]}))
    assert main(["run", str(pipe), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "data.files[0]: no such file" in err and err.count("\n") == 1


def test_scheduler_and_workers_are_exclusive(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "x.yaml", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_datasets_subcommand_is_delegated(capsys, data_home):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "haxby2001" in out and "muse_n170" in out


def test_console_script_and_light_import():
    proc = _cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"neurodecode {__version__}"
    code = ("import sys, neurodecode.cli, neurodecode.pipeline, neurodecode.report; "
            "neurodecode.cli.build_parser(); "
            "print([m for m in ('mne', 'nilearn', 'matplotlib', 'dask', 'distributed', 'torch', 'nibabel', "
            "'pynwb') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_cli_run_bad_data_exit_2(tmp_path):
    csv = tmp_path / "broken.csv"
    csv.write_text("timestamps,TP9\n")  # a truncated Muse export
    pipe = tmp_path / "p.yaml"
    pipe.write_text(yaml.safe_dump({"name": "broken", "data": {"files": [str(csv)], "loader": "eeg.read_muse_csv"},
                                    "steps": [{"id": "f", "op": "eeg.filter", "params": {"l_freq": 1, "h_freq": 30}}]}))
    proc = _cli("run", str(pipe), "--out", str(tmp_path / "out"), "--no-progress")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("neurodecode: error: ")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
