"""Writing results as a BIDS-derivatives dataset: write_derivatives, check_derivatives, the pipeline option.

Inputs are real: the two motor-imagery runs of EEGMMIDB subject 1, written as BIDS with mne-bids
and read back with from_bids; the derivatives written from them are read back with
neurodecode.io / pandas and compared with what was written, and checked against the BIDS
derivative rules (bidsschematools' schema).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from neurodecode.errors import BadInputError
from tests.conftest import require_data

mne = pytest.importorskip("mne")
mne_bids = pytest.importorskip("mne_bids")

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def mi_bids(tmp_path_factory, data_home):
    """EEGMMIDB subject 1, imagined left/right fist runs 4 and 8, as a BIDS dataset."""
    root = tmp_path_factory.mktemp("bids_mi") / "eegmmidb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for run in (4, 8):
            path = require_data(data_home / "eegmmidb_s001" / f"S001R{run:02d}.edf", "eegmmidb_s001")
            raw = mne.io.read_raw_edf(path, verbose=False)
            bp = mne_bids.BIDSPath(subject="001", task="imagery", run=run, datatype="eeg", root=root)
            mne_bids.write_raw_bids(raw, bp, overwrite=True, verbose=False)
    return root


@pytest.fixture(scope="module")
def mi_epochs(mi_bids):
    """Imagery cues T1/T2, 0-1 s, of both runs (read with from_bids)."""
    from neurodecode.datasets import from_bids
    from neurodecode.preprocess.eeg import epoch

    recs = from_bids(mi_bids, subject="001", task="imagery")
    return [epoch(r, 0.0, 1.0, event_labels=["T1", "T2"], baseline=None) for r in recs]


def test_write_derivatives_layout_and_round_trip(mi_bids, mi_epochs, tmp_path):
    from neurodecode import __version__, io
    from neurodecode.report.bids import check_derivatives, read_derivatives, write_derivatives

    eps = mi_epochs
    stats = pd.DataFrame({"run": [4, 8], "n_trials": [e.sizes["trial"] for e in eps],
                          "accuracy": [0.5, np.nan]})
    stats.attrs.update(subject="001", task="imagery")
    out = tmp_path / "deriv"
    written = write_derivatives(out, {"clean": eps, "rsa": stats}, pipeline_name="mi_decoding",
                                pipeline_hash="ab" * 32, source_datasets=[mi_bids])
    rels = sorted(p.relative_to(out).as_posix() for p in written)
    assert rels == [
        "dataset_description.json",
        "sub-001/eeg/sub-001_task-imagery_run-4_desc-clean_epo.json",
        "sub-001/eeg/sub-001_task-imagery_run-4_desc-clean_epo.nc",
        "sub-001/eeg/sub-001_task-imagery_run-8_desc-clean_epo.json",
        "sub-001/eeg/sub-001_task-imagery_run-8_desc-clean_epo.nc",
        "sub-001/sub-001_task-imagery_desc-rsa_stats.json",
        "sub-001/sub-001_task-imagery_desc-rsa_stats.tsv",
    ]
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative"
    assert desc["GeneratedBy"][0]["Name"] == "neurodecode" and desc["GeneratedBy"][0]["Version"] == __version__
    assert "mi_decoding" in desc["GeneratedBy"][0]["Description"] and "ab" * 32 in desc["GeneratedBy"][0]["Description"]
    assert desc["NeurodecodePipeline"] == {"Name": "mi_decoding", "Hash": "ab" * 32}
    assert desc["SourceDatasets"] == [{"URL": mi_bids.resolve().as_uri()}]
    assert desc["DatasetLinks"] == {"raw": mi_bids.resolve().as_uri()}  # the "raw" of bids:raw:... sources
    # the files hold what was written
    for ep in eps:
        stem = f"sub-001/eeg/sub-001_task-imagery_run-{ep.attrs['run']}_desc-clean_epo"
        back = io.open(out / f"{stem}.nc", chunks=None)
        np.testing.assert_array_equal(back.values, ep.values)
        np.testing.assert_array_equal(back["label"].values, ep["label"].values)
        side = json.loads((out / f"{stem}.json").read_text())
        assert side["DataKind"] == "epochs" and side["Dimensions"] == dict(ep.sizes)
        assert side["SamplingFrequency"] == 160.0
        assert side["Sources"] == [f"bids:raw:sub-001/eeg/sub-001_task-imagery_run-{ep.attrs['run']}_eeg.edf"]
    table = pd.read_csv(out / "sub-001/sub-001_task-imagery_desc-rsa_stats.tsv", sep="\t", na_values=["n/a"])
    pd.testing.assert_frame_equal(table, stats)
    assert "n/a" in (out / "sub-001/sub-001_task-imagery_desc-rsa_stats.tsv").read_text()
    assert set(json.loads((out / "sub-001/sub-001_task-imagery_desc-rsa_stats.json").read_text())) >= {
        "Description", "run", "n_trials", "accuracy"}
    assert check_derivatives(out) == []
    # read back by entity
    got = read_derivatives(out, desc="clean", run=8)
    assert list(got) == ["sub-001/eeg/sub-001_task-imagery_run-8_desc-clean_epo.nc"]
    np.testing.assert_array_equal(next(iter(got.values())).values, eps[1].values)
    pd.testing.assert_frame_equal(next(iter(read_derivatives(out, suffix="stats").values())), stats)
    with pytest.raises(BadInputError, match=r"desc-clean_epo"):
        read_derivatives(out, desc="cleaned")


def test_group_level_labels_and_collisions(mi_epochs, tmp_path):
    from neurodecode.report.bids import bids_label, check_derivatives, write_derivatives

    import xarray as xr

    eps = mi_epochs
    # epochs pooled over runs 4 and 8: attrs say run 4 (xarray keeps the first's), the trial coord says both
    pooled = xr.concat(eps, dim="trial").assign_coords(trial=np.arange(sum(e.sizes["trial"] for e in eps)))
    assert pooled.attrs["run"] == 4 and set(pooled["run"].values) == {"4", "8"}
    renamed = eps[1].drop_vars("subject")
    renamed.attrs["subject"] = "S_001"
    group = pd.DataFrame({"n_trials": [pooled.sizes["trial"]]})  # no entities: group level
    out = tmp_path / "d"
    write_derivatives(out, {"all_runs": pooled, "odd-name": renamed, "summary": group})
    assert (out / "sub-001/eeg/sub-001_task-imagery_desc-allruns_epo.nc").is_file()
    assert (out / "desc-summary_stats.tsv").is_file()
    side = json.loads((out / "sub-S001/eeg/sub-S001_task-imagery_run-8_desc-oddname_epo.json").read_text())
    assert side["Entities"]["subject"] == {"label": "S001", "value": "S_001"}
    assert check_derivatives(out) == []
    pooled = pooled.drop_vars(["subject", "run"])
    pooled.attrs = {k: v for k, v in pooled.attrs.items() if k not in ("subject", "run", "task")}
    # two items with the same entities get chunk-<i>
    write_derivatives(out, {"x": [pooled, pooled]})
    assert sorted(p.name for p in out.glob("*.nc")) == ["chunk-0_desc-x_epo.nc", "chunk-1_desc-x_epo.nc"]
    assert check_derivatives(out) == []  # the folder was replaced, not merged
    with pytest.raises(BadInputError, match="cannot write a dict"):
        write_derivatives(out, {"x": {"a": 1}})
    with pytest.raises(BadInputError, match="no letter or digit"):
        bids_label("__")


def test_check_derivatives_finds_broken_files(tmp_path):
    from neurodecode.report.bids import check_derivatives

    root = tmp_path / "bad"
    (root / "sub-01" / "eeg").mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "x", "BIDSVersion": "1.10.0"}))
    files = {
        "sub-01/eeg/sub-01_desc-x_task-a_epo.nc": "order",
        "sub-01/eeg/sub-02_task-a_epo.nc": "folder",
        "sub-01/eeg/sub-01_task-a_b_epo.nc": "<key>-<value>",
        "sub-01/eeg/sub-01_task-a_run-x_epo.nc": "index",
        "sub-01/eeg/sub-01_foo-1_epo.nc": "unknown entity",
        "sub-01/weird/sub-01_task-a_epo.nc": "datatype",
    }
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    problems = check_derivatives(root)
    text = "\n".join(problems)
    assert "GeneratedBy" in text and "DatasetType" in text
    for rel, what in files.items():
        assert any(p.startswith(rel) and what in p for p in problems), (rel, what, problems)
        assert any(p.startswith(rel) and "no JSON sidecar" in p for p in problems)


# --------------------------------------------------------------------------- the pipeline option


def _pipeline(root, tmp_path):
    import yaml

    cfg = {
        "name": "mi_bids",
        "data": {"bids": str(root), "select": {"subject": "001", "task": "imagery", "run": 8}},
        "steps": [
            {"id": "epochs", "op": "eeg.epoch", "figures": False,
             "params": {"tmin": 0.5, "tmax": 2.5, "event_labels": ["T1", "T2"], "baseline": None}},
        ],
        "outputs": {"save": ["epochs"], "bids_derivatives": True, "report": False},
        "metrics": [{"name": "n_trials", "step": "epochs", "fn": "count", "dim": "trial", "by": ["label"]}],
    }
    path = tmp_path / "mi_bids.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_pipeline_reads_bids_and_writes_derivatives(mi_bids, tmp_path):
    """data: {bids: ROOT, select: ...} hashes the selection's files; outputs.bids_derivatives writes <out>/bids."""
    import shutil

    from neurodecode.datasets import from_bids
    from neurodecode.pipeline import run
    from neurodecode.pipeline.bids_out import config_hash
    from neurodecode.pipeline.config import load_config
    from neurodecode.report.bids import check_derivatives, read_derivatives

    root = tmp_path / "ds"
    shutil.copytree(mi_bids, root)
    cfg_path = _pipeline(root, tmp_path)
    out = tmp_path / "out"
    result = run(cfg_path, out)
    names = {i["name"] for i in result.manifest["inputs"]["files"]}
    assert {"sub-001/eeg/sub-001_task-imagery_run-8_eeg.edf", "sub-001/eeg/sub-001_task-imagery_run-8_events.tsv",
            "sub-001/eeg/sub-001_task-imagery_run-8_channels.tsv", "sub-001/eeg/sub-001_task-imagery_run-8_eeg.json",
            "dataset_description.json"} <= names
    assert not any("run-4" in n for n in names)  # only the selection's files identify the input
    assert all(len(i["sha256"]) == 64 for i in result.manifest["inputs"]["files"])

    bids = out / "bids"
    assert check_derivatives(bids) == []
    desc = json.loads((bids / "dataset_description.json").read_text())
    assert desc["NeurodecodePipeline"] == {"Name": "mi_bids", "Hash": config_hash(load_config(cfg_path))}
    assert desc["SourceDatasets"] == [{"URL": root.resolve().as_uri()}]
    epochs = read_derivatives(bids, desc="epochs")
    assert list(epochs) == ["sub-001/eeg/sub-001_task-imagery_run-8_desc-epochs_epo.nc"]
    saved = result.open("epochs")
    np.testing.assert_array_equal(next(iter(epochs.values())).values, saved.values)
    metrics = next(iter(read_derivatives(bids, desc="metrics").values()))
    assert dict(zip(metrics["name"], metrics["value"])) == result.metrics
    # the epochs equal what from_bids + the library give
    from neurodecode.preprocess import eeg as peeg

    rec = from_bids(root, subject="001", task="imagery", run=8)
    direct = peeg.epoch(rec, 0.5, 2.5, event_labels=["T1", "T2"], baseline=None)
    np.testing.assert_allclose(saved.values, direct.values)

    # an edited events.tsv is a new input: new checksum, new data key, the step is recomputed
    events = root / "sub-001" / "eeg" / "sub-001_task-imagery_run-8_events.tsv"
    table = pd.read_csv(events, sep="\t", keep_default_na=False)
    first_t2 = table.index[table["trial_type"] == "T2"][0]
    table.loc[first_t2, "trial_type"] = "T1"  # one cue relabelled
    table.to_csv(events, sep="\t", index=False)
    changed = run(cfg_path, out)
    assert changed.cache_hits == []
    assert changed.manifest["inputs"]["key"] != result.manifest["inputs"]["key"]
    rel = "sub-001/eeg/sub-001_task-imagery_run-8_events.tsv"
    before_sha = {i["name"]: i["sha256"] for i in result.manifest["inputs"]["files"]}
    after_sha = {i["name"]: i["sha256"] for i in changed.manifest["inputs"]["files"]}
    assert [k for k in before_sha if before_sha[k] != after_sha[k]] == [rel]
    before = (saved["label"].values == "T1").sum()
    assert (changed.open("epochs")["label"].values == "T1").sum() == before + 1


def test_pipeline_bids_selection_errors(mi_bids, tmp_path):
    from neurodecode.errors import ConfigError
    from neurodecode.pipeline import run
    from neurodecode.pipeline.config import load_config

    with pytest.raises(ConfigError, match="either"):
        load_config({"name": "x", "data": {"bids": str(mi_bids), "dataset": "haxby2001"},
                     "steps": [{"id": "a", "op": "eeg.filter", "params": {"l_freq": 1.0, "h_freq": None}}]})
    with pytest.raises(ConfigError, match="subjects.*did you mean 'subject'"):
        load_config({"name": "x", "data": {"bids": str(mi_bids), "select": {"subjects": "001"}},
                     "steps": [{"id": "a", "op": "eeg.filter", "params": {"l_freq": 1.0, "h_freq": None}}]})
    cfg = {"name": "x", "data": {"bids": str(mi_bids), "select": {"task": "imagry"}},
           "steps": [{"id": "a", "op": "eeg.filter", "params": {"l_freq": 1.0, "h_freq": None}}]}
    with pytest.raises(BadInputError, match="did you mean task='imagery'"):
        run(cfg, tmp_path / "o")
