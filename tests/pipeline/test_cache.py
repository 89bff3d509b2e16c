"""The step cache: safe formats round-trip every kind of op output; keys follow code and inputs."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurodecode.datamodel import make_epochs
from neurodecode.pipeline import cache as cache_mod
from neurodecode.pipeline.cache import CacheReadError, ChecksumCache, StepCache, data_key, step_key


def _epochs(seed: int = 0):
    rng = np.random.default_rng(seed)
    return make_epochs(rng.normal(size=(4, 2, 10)), 100.0, ["Fz", "Cz"], -0.1,
                       metadata={"label": np.array(["a", "b", "a", "b"], dtype=object)}, subject="s1", run=2)


def _frame():
    return pd.DataFrame({
        "item": ["x", "y", None], "n": np.array([1, 2, 3], dtype=np.int64), "score": [0.1, np.nan, 1 / 3],
        "f32": np.array([1.5, 2.25, -3.0], dtype=np.float32), "ok": [True, False, True],
        "mixed": [1, "two", [3, 4]], "cat": pd.Categorical(["u", "v", "u"]),
        "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
    })


def test_every_kind_of_output_round_trips(tmp_path):
    from neurodecode.generative.simulate import SimulatedBrains

    ep = _epochs()
    feats = xr.DataArray(np.arange(6.0).reshape(3, 2), dims=("stimulus", "feature"))
    sims = SimulatedBrains(responses=[ep, _epochs(1)], signal=[np.ones((3, 2))], noise_sd=[np.ones(2)],
                           weights=[np.eye(2)], features=feats, snr=0.5, seed=1, nonlinearity="relu", n_repeats=2,
                           info={"a": [1, 2]})
    value = {
        "epochs": ep, "list": [ep, ep.to_dataset(name="x")], "array": np.arange(5), "labels": np.array(["a", "b"],
                                                                                                       dtype=object),
        "scalar": np.float32(2.5), "sims": {0.5: sims, 2.0: None}, "table": _frame(), "tuple": (1, "a", float("nan")),
        "indexed": pd.DataFrame({"v": [1.0, 2.0]}, index=pd.Index(["p", "q"], name="key")),
        "by_condition": {("true embedding", np.nan): [np.zeros((2, 3))], ("noise", 0.5): [np.ones(2)]},
        "history": [{"epoch": 0, "loss": float("nan")}],
    }
    store = StepCache(tmp_path)
    assert store.put("ab" * 32, value, {"id": "s", "summary": {}}, {"report": _frame()})
    store = StepCache(tmp_path)  # a new process
    assert store.has("ab" * 32)
    back = store.data("ab" * 32)
    xr.testing.assert_identical(back["epochs"], ep)
    xr.testing.assert_identical(back["list"][1], ep.to_dataset(name="x"))
    np.testing.assert_array_equal(back["array"], np.arange(5))
    assert back["labels"].dtype == object and back["labels"].tolist() == ["a", "b"]
    assert back["scalar"] == np.float32(2.5) and back["scalar"].dtype == np.float32
    assert isinstance(back["sims"][0.5], SimulatedBrains) and back["sims"][2.0] is None
    xr.testing.assert_identical(back["sims"][0.5].responses[1], _epochs(1))
    assert back["sims"][0.5].info == {"a": [1, 2]} and back["sims"][0.5].nonlinearity == "relu"
    assert back["tuple"][:2] == (1, "a") and np.isnan(back["tuple"][2])
    pd.testing.assert_frame_equal(back["table"], _frame())
    pd.testing.assert_frame_equal(back["indexed"], value["indexed"])
    pd.testing.assert_frame_equal(store.tables("ab" * 32)["report"], _frame())
    np.testing.assert_array_equal(back["by_condition"][("true embedding", np.nan)][0], np.zeros((2, 3)))
    assert back["history"][0]["epoch"] == 0 and np.isnan(back["history"][0]["loss"])
    assert not list(tmp_path.rglob("*.pkl"))


def test_values_that_cannot_be_stored_safely_are_not_cached(tmp_path, caplog):
    store = StepCache(tmp_path)
    with caplog.at_level(logging.WARNING, "neurodecode.pipeline.cache"):
        assert not store.put("cd" * 32, {"model": object()}, {"id": "fit"}, {})
    assert "not cached" in caplog.text and "fit" in caplog.text
    assert not store.has("cd" * 32) and not [p for p in tmp_path.rglob("*") if p.is_file()]


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "index", "meta"])
def test_an_entry_that_fails_to_read_is_a_miss(tmp_path, damage, caplog):
    store = StepCache(tmp_path)
    key = "ef" * 32
    store.put(key, [_epochs()], {"id": "s"}, {"t": _frame()})
    entry = tmp_path / key[:2] / key
    nc = entry / "f000.nc"
    if damage == "truncate":
        nc.write_bytes(nc.read_bytes()[:100])
    elif damage == "flip":
        blob = bytearray(nc.read_bytes())
        blob[-10] ^= 0xFF
        nc.write_bytes(bytes(blob))
    elif damage == "delete":
        nc.unlink()
    elif damage == "index":
        (entry / "index.json").write_text("{not json")
    else:
        (entry / "meta.json").write_text("[]")
    store = StepCache(tmp_path)
    with caplog.at_level(logging.WARNING, "neurodecode.pipeline.cache"):
        try:
            ok = store.has(key) and store.data(key) is not None
        except CacheReadError:
            ok = False
    assert not ok and "cannot be read" in caplog.text
    assert not entry.exists()  # removed, so the next run recomputes it


def test_keys_change_with_the_code_and_the_libraries(monkeypatch):
    base = step_key("in", "eeg.filter", {"l_freq": 1.0})
    assert base == step_key("in", "eeg.filter", {"l_freq": 1.0})
    dkey = data_key({"loader": "x"}, {"f": "0" * 64})
    monkeypatch.setattr(cache_mod, "_package_source_hash", lambda: "edited")
    assert step_key("in", "eeg.filter", {"l_freq": 1.0}) != base
    assert data_key({"loader": "x"}, {"f": "0" * 64}) != dkey
    monkeypatch.undo()
    versions = dict(cache_mod._library_versions())
    versions["scipy"] = "0.0.1"
    monkeypatch.setattr(cache_mod, "_library_versions", lambda: tuple(versions.items()))
    assert step_key("in", "eeg.filter", {"l_freq": 1.0}) != base


def test_key_follows_the_source_of_a_plugin_op(tmp_path, monkeypatch):
    from neurodecode.pipeline import register_op
    from neurodecode.pipeline.ops import OPS

    module = tmp_path / "myplugin_h13.py"
    module.write_text("def op(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    register_op("h13.plugin", "myplugin_h13:op", replace=True)
    try:
        first = step_key("in", "h13.plugin", {})
        module.write_text("def op(x):\n    return x * 2\n")
        stat = module.stat()
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        assert step_key("in", "h13.plugin", {}) != first
    finally:
        OPS.unregister("h13.plugin")


def test_checksums_see_an_edit_that_keeps_size_and_mtime(tmp_path):
    path = tmp_path / "rec.bin"
    path.write_bytes(b"aaaa")
    stat = path.stat()
    table = ChecksumCache(tmp_path / "checksums.json")
    first = table.sha256(path)
    table.save()
    path.write_bytes(b"bbbb")  # same size; put the mtime back as `touch -d` would
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    again = ChecksumCache(tmp_path / "checksums.json").sha256(path)
    assert again != first and again == __import__("hashlib").sha256(b"bbbb").hexdigest()
    saved = json.loads((tmp_path / "checksums.json").read_text())
    assert {"inode", "ctime_ns"} <= set(next(iter(saved.values())))
