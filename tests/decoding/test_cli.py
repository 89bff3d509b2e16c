"""`neurodecode decode` on the real EEGMMIDB EDF+ files (each file one run, annotations as events)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from tests.conftest import require_data
from neurodecode.cli import main
from neurodecode.decoding.cli import build_config
from neurodecode.errors import BadInputError


@pytest.mark.realdata
def test_decode_cli_on_edf_runs(data_home, tmp_path, capsys):
    folder = require_data(data_home / "eegmmidb_s001", "eegmmidb_s001")
    files = [str(folder / f"S001R{r:02d}.edf") for r in (6, 10)]  # imagined both fists (T1) / both feet (T2)
    out = tmp_path / "out"
    status = main(["decode", *files, "--label", "T1,T2", "--cv", "run", "--model", "csp_lda", "--n-perm", "0",
                   "--out", str(out), "--quiet"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "sustained: epochs 0.5..2.5 s" in printed and "best: csp_lda roc_auc =" in printed
    scores = pd.read_csv(next((out / "tables").glob("*scores.csv")))
    assert {"model", "fold", "score", "chance"} <= set(scores.columns)
    assert list(scores["test_group"]) == ["run=S001R06", "run=S001R10"]
    assert (scores["chance"] == 0.5).all()
    assert scores["score"].mean() > 0.85  # fists vs feet imagery: ~0.98 accuracy in the literature setup
    cfg = yaml.safe_load((out / "pipeline.yaml").read_text())
    assert [s["op"] for s in cfg["steps"]] == ["decoding.epochs", "decode"]
    assert (out / "manifest.json").exists() and (out / "report.html").exists()
    # the written pipeline is a valid pipeline file
    assert main(["validate", str(out / "pipeline.yaml")]) == 0


def test_build_config_choices(tmp_path):
    f = tmp_path / "a.edf"
    f.write_bytes(b"0")
    cfg = build_config([str(f)], label="T1,T2", cv="kfold:5", models=["lda"])
    assert cfg["data"] == {"files": [str(f.resolve())], "loader": "eeg.read_eeg"}
    assert cfg["steps"][1]["params"]["classes"] == ["T1", "T2"] and cfg["steps"][1]["params"]["cv"] == "kfold:5"
    assert build_config(["eegmmidb_s001"], label="label")["data"] == {"dataset": "eegmmidb_s001"}
    with pytest.raises(BadInputError, match="no such file"):
        build_config([str(tmp_path / "missing.edf")], label="T1,T2")
