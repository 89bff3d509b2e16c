"""The runner on synthetic ops: outputs, atomic writes, step cache, resume, dask, item errors."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurodecode import io
from neurodecode.datamodel import make_epochs, validate
from neurodecode.errors import BadInputError
from neurodecode.pipeline import StepError, StepResult, register_loader, register_op, run
from neurodecode.pipeline.ops import LOADERS, OPS

CALLS: Counter = Counter()
THREADS: set[str] = set()
BROKEN: dict[str, bool] = {"late": False}


def load_seeded(path, *, n_trials: int = 12):
    """A synthetic 'recording' file: its text is the random seed."""
    seed = int(Path(path).read_text())
    rng = np.random.default_rng(seed)
    labels = np.array(["face", "house"] * (n_trials // 2))
    data = rng.normal(size=(n_trials, 3, 40)) + (labels == "face")[:, None, None] * 0.5
    return make_epochs(data, 100.0, ["Fz", "Cz", "Pz"], -0.1, metadata={"label": labels},
                       subject=str(seed), run=1)


def scale(epochs, *, factor: float = 2.0):
    CALLS["scale"] += 1
    THREADS.add(threading.current_thread().name)
    return epochs.copy(data=epochs.values * factor)


def drop_first(epochs, *, n: int = 1):
    CALLS["drop_first"] += 1
    kept = epochs.isel(trial=slice(n, None))
    table = pd.DataFrame({"trial": epochs["trial"].values[:n], "reason": "first trial"})
    return StepResult(kept, metrics={"dropped": n}, tables={"dropped": table}, notes=[f"dropped the first {n}"])


def late(epochs, *, offset: float = 0.0):
    CALLS["late"] += 1
    if BROKEN["late"]:
        raise BadInputError("late step is broken on purpose")
    return epochs + offset


def crash(epochs):
    return 1 / 0


def fail_on_seed(epochs, *, seed: str = "2"):
    if epochs.attrs.get("subject") == seed:
        raise BadInputError(f"no usable data in subject {seed}")
    return epochs


@pytest.fixture(autouse=True)
def synthetic_ops():
    register_loader("rt.load", load_seeded, replace=True)
    for name, fn in [("rt.scale", scale), ("rt.drop_first", drop_first), ("rt.late", late),
                     ("rt.crash", crash), ("rt.fail_on_seed", fail_on_seed)]:
        register_op(name, fn, replace=True)
    CALLS.clear()
    THREADS.clear()
    BROKEN["late"] = False
    yield
    LOADERS.unregister("rt.load")
    for name in ("rt.scale", "rt.drop_first", "rt.late", "rt.crash", "rt.fail_on_seed"):
        OPS.unregister(name)


@pytest.fixture
def files(tmp_path):
    out = []
    for seed in (1, 2, 3):
        path = tmp_path / "raw" / f"run{seed}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(str(seed))
        out.append(path)
    return out


def _config(files, **changes) -> dict:
    cfg = {
        "name": "synthetic",
        "description": "three seeded runs",
        "data": {"files": [str(f) for f in files], "loader": "rt.load", "params": {"n_trials": 12}},
        "steps": [
            {"id": "scaled", "op": "rt.scale", "params": {"factor": 3}},
            {"id": "trimmed", "op": "rt.drop_first"},
            {"id": "epochs", "op": "eeg.concat_epochs"},
            {"id": "final", "op": "rt.late"},
        ],
        "outputs": {"save": ["final", "trimmed"], "report": {"highlight": [0.1, 0.2]}},
        "metrics": [{"name": "n_final", "step": "final", "fn": "count", "dim": "trial", "by": ["label"]}],
    }
    cfg.update(changes)
    return cfg


def _no_temporaries(folder: Path) -> None:
    leftovers = [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, leftovers


def test_run_writes_every_output(tmp_path, files):
    out = tmp_path / "out"
    result = run(_config(files), out, progress=False)
    for name in ("manifest.json", "metrics.json", "report.html", "run.log", "final.nc"):
        assert (out / name).is_file(), name
    _no_temporaries(out)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["name"] == "synthetic"
    for key in ("inputs", "config", "versions", "steps", "cache", "outputs", "started", "duration_s"):
        assert key in manifest
    digests = {Path(f["path"]).name: f["sha256"] for f in manifest["inputs"]["files"]}
    assert digests == {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    for package in ("neurodecode", "numpy", "xarray", "mne", "nilearn", "dask", "python"):
        assert manifest["versions"][package]
    assert manifest["config"]["resolved"]["steps"][0]["params"] == {"factor": 3}
    assert [s["id"] for s in manifest["steps"]] == ["scaled", "trimmed", "epochs", "final"]
    assert all(not s["cache_hit"] and s["seconds"] >= 0 for s in manifest["steps"])

    metrics = json.loads((out / "metrics.json").read_text())
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    assert metrics["n_final"] == 33 and metrics["n_final.label=face"] == 15  # 3 runs x (12 - 1)
    assert metrics["trimmed.sub-1_run-1.dropped"] == 1
    assert result.metrics == metrics

    final = io.open(out / "final.nc", chunks=None)
    validate(final, "epochs")
    assert final.sizes["trial"] == 33 and set(final["subject"].values) == {"1", "2", "3"}
    expected = np.concatenate([load_seeded(f).values[1:] * 3 for f in files])
    np.testing.assert_allclose(final.values, expected)
    trimmed = result.open("trimmed")
    assert [t.sizes["trial"] for t in trimmed] == [11, 11, 11]
    assert sorted(p.name for p in (out / "trimmed").iterdir()) == [
        "000_sub-1_run-1.nc", "001_sub-2_run-1.nc", "002_sub-3_run-1.nc"]
    table = pd.read_csv(out / "tables" / "trimmed.dropped.csv")
    assert table["item"].tolist() == ["sub-1_run-1", "sub-2_run-1", "sub-3_run-1"]

    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html and "http" not in html.split("<main>")[1][:200]
    for text in ("trimmed", "What was dropped and why", "n_final.label=face", "sha256"):
        assert text in html
    log = (out / "run.log").read_text()
    assert "step scaled (rt.scale)" in log and "finished in" in log


def test_cache_hits_and_invalidation(tmp_path, files):
    out = tmp_path / "out"
    run(_config(files), out, progress=False)
    assert CALLS == {"scale": 3, "drop_first": 3, "late": 1}

    again = run(_config(files), out, progress=False)
    assert again.cache_hits == ["scaled", "trimmed", "epochs", "final"]
    assert CALLS == {"scale": 3, "drop_first": 3, "late": 1}  # nothing recomputed
    assert again.manifest["data"]["loaded"] is False  # not even the input was read

    changed = _config(files)
    changed["steps"][1]["params"] = {"n": 2}
    result = run(changed, out, progress=False)
    assert result.cache_hits == ["scaled"]  # the changed step and every later one recompute
    assert CALLS == {"scale": 3, "drop_first": 6, "late": 2}
    assert result.metrics["n_final"] == 30

    files[0].write_text("7")  # a changed input file invalidates everything
    result = run(_config(files), out, progress=False)
    assert result.cache_hits == []
    assert CALLS["scale"] == 6

    result = run(_config(files), out, progress=False, force=True)
    assert result.cache_hits == [] and CALLS["scale"] == 9


def test_resume_after_a_failing_step(tmp_path, files):
    out = tmp_path / "out"
    BROKEN["late"] = True
    with pytest.raises(BadInputError, match=r"step 'final' \(rt.late\): late step is broken"):
        run(_config(files), out, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "late step is broken" in manifest["error"]
    assert "late step is broken" in (out / "run.log").read_text()
    assert not (out / "final.nc").exists()
    assert CALLS == {"scale": 3, "drop_first": 3, "late": 1}
    _no_temporaries(out)

    BROKEN["late"] = False  # fixed: the rerun resumes after the last finished step
    result = run(_config(files), out, progress=False)
    assert result.cache_hits == ["scaled", "trimmed", "epochs"]
    assert CALLS == {"scale": 3, "drop_first": 3, "late": 2}
    assert (out / "final.nc").is_file()

    for name in ("final.nc", "metrics.json", "report.html", "manifest.json"):
        (out / name).unlink()  # deleted outputs come back from the cache
    result = run(_config(files), out, progress=False)
    assert result.cache_hits == ["scaled", "trimmed", "epochs", "final"]
    assert CALLS == {"scale": 3, "drop_first": 3, "late": 2}
    assert (out / "final.nc").is_file() and (out / "metrics.json").is_file()


def test_dask_cluster_gives_identical_results(tmp_path, files):
    plain = run(_config(files), tmp_path / "plain", progress=False)
    THREADS.clear()
    distributed = run(_config(files), tmp_path / "dask", progress=False, workers=2)
    assert THREADS and "MainThread" not in THREADS  # the per-run items ran on the dask workers
    assert distributed.metrics == plain.metrics
    a = io.open(tmp_path / "plain" / "final.nc", chunks=None)
    b = io.open(tmp_path / "dask" / "final.nc", chunks=None)
    assert a.identical(b)
    assert distributed.manifest["environment"]["workers"] == 2
    # same keys: the dask run's cache entries are interchangeable with the plain run's
    assert [s.key for s in distributed.steps] == [s.key for s in plain.steps]


def test_scheduler_address(tmp_path, files, monkeypatch):
    from dask.distributed import LocalCluster

    from neurodecode.pipeline import runner

    monkeypatch.setattr(runner, "CONNECT_TIMEOUT", "1s")
    plain = run(_config(files), tmp_path / "plain", progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        remote = run(_config(files), tmp_path / "remote", progress=False, scheduler=cluster.scheduler_address)
    assert remote.metrics == plain.metrics
    assert io.open(tmp_path / "remote" / "final.nc", chunks=None).identical(
        io.open(tmp_path / "plain" / "final.nc", chunks=None))
    with pytest.raises(BadInputError, match="cannot reach the dask scheduler"):
        run(_config(files), tmp_path / "nowhere", progress=False, scheduler="tcp://127.0.0.1:9")


def test_skip_items_on_bad_data(tmp_path, files):
    cfg = _config(files)
    cfg["steps"].insert(1, {"id": "usable", "op": "rt.fail_on_seed", "on_item_error": "skip"})
    result = run(cfg, tmp_path / "out", progress=False)
    assert result.metrics["usable.n_items_skipped"] == 1
    assert result.metrics["n_final"] == 22
    skipped = pd.read_csv(tmp_path / "out" / "tables" / "usable.skipped_items.csv")
    assert skipped["item"].tolist() == ["sub-2_run-1"] and "no usable data" in skipped["message"][0]
    record = next(s for s in result.steps if s.id == "usable")
    assert any("skipped 1 of 3 items" in note for note in record.notes)

    cfg["steps"][1]["on_item_error"] = "raise"
    with pytest.raises(BadInputError, match=r"step 'usable' \(rt.fail_on_seed\), item sub-2_run-1"):
        run(cfg, tmp_path / "out2", progress=False)


def test_unexpected_exception_becomes_step_error(tmp_path, files):
    cfg = _config(files)
    cfg["steps"].append({"id": "boom", "op": "rt.crash"})
    with pytest.raises(StepError, match=r"step 'boom' \(rt.crash\) failed: ZeroDivisionError"):
        run(cfg, tmp_path / "out", progress=False)
    assert "Traceback" in (tmp_path / "out" / "run.log").read_text()


def test_cache_options(tmp_path, files):
    cfg = _config(files, cache={"enabled": False})
    run(cfg, tmp_path / "out", progress=False)
    run(cfg, tmp_path / "out", progress=False)
    assert CALLS["scale"] == 6 and not (tmp_path / "out" / ".cache").exists()
    shared = tmp_path / "shared-cache"
    run(_config(files), tmp_path / "a", progress=False, cache_dir=shared)
    second = run(_config(files), tmp_path / "b", progress=False, cache_dir=shared)
    assert len(second.cache_hits) == 4 and (tmp_path / "b" / "final.nc").is_file()


def test_missing_input_file(tmp_path, files):
    cfg = _config([*files, tmp_path / "nope.txt"])
    with pytest.raises(BadInputError, match=r"data.files\[3\]: no such file"):
        run(cfg, tmp_path / "out", progress=False)
