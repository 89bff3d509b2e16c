"""Nothing read from disk executes code: planted pickles in the step cache and the checkpoint folder.

Each attack writes a pickle whose ``__reduce__`` would create a marker file when unpickled, puts
it where neurodecode reads (every cache entry under every name the old and new cache used, a
training checkpoint) and shows that the run goes on (recomputing) or refuses with a clear error,
and that the marker never appears.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from neurodecode.datamodel import make_epochs
from neurodecode.errors import BadInputError
from neurodecode.pipeline import register_loader, register_op, run
from neurodecode.pipeline.ops import LOADERS, OPS


class Payload:
    """Unpickling this creates ``marker`` (what an attacker's code would do)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(Payload(marker)))


def _load(path, *, n_trials: int = 8):
    rng = np.random.default_rng(int(Path(path).read_text()))
    return make_epochs(rng.normal(size=(n_trials, 2, 20)), 100.0, ["Fz", "Cz"], 0.0,
                       metadata={"label": np.array(["a", "b"] * (n_trials // 2))}, subject="1", run=1)


def _double(epochs):
    return epochs * 2


@pytest.fixture
def pipeline(tmp_path):
    register_loader("sec.load", _load, replace=True)
    register_op("sec.double", _double, replace=True)
    raw = tmp_path / "raw.txt"
    raw.write_text("3")
    yield {"name": "sec", "data": {"files": [str(raw)], "loader": "sec.load"},
           "steps": [{"id": "doubled", "op": "sec.double"}], "outputs": {"save": ["doubled"]}}
    LOADERS.unregister("sec.load")
    OPS.unregister("sec.double")


def test_planted_pickles_in_the_cache_never_run(tmp_path, pipeline):
    out, marker = tmp_path / "out", tmp_path / "PWNED"
    first = run(pipeline, out, progress=False)
    entries = [p for p in (out / ".cache").glob("??/*") if p.is_dir()]
    assert len(entries) == 2  # the loaded data and the step
    for entry in entries:
        # the names the pickle cache used, and every file of the entry replaced by the payload,
        # with index.json updated so the checksums match (an attacker can do that too)
        for name in ("data.pkl", "tables.pkl"):
            _plant(entry / name, marker)
        index = json.loads((entry / "index.json").read_text())
        for name in index["files"]:
            _plant(entry / name, marker)
            blob = (entry / name).read_bytes()
            import hashlib

            index["files"][name] = {"size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
        (entry / "index.json").write_text(json.dumps(index))
    again = run(pipeline, out, progress=False)
    assert not marker.exists()
    assert again.cache_hits == []  # the unreadable entries were misses and were recomputed
    np.testing.assert_array_equal(again.open("doubled").values, first.open("doubled").values)
    assert "cannot be read" in (out / "run.log").read_text()
    third = run(pipeline, out, progress=False)  # the recomputed entries are good again
    assert third.cache_hits == ["doubled"] and not marker.exists()


def test_a_cache_entry_that_is_only_a_pickle_is_a_miss(tmp_path, pipeline):
    out, marker = tmp_path / "out", tmp_path / "PWNED"
    cache = tmp_path / "shared_cache"
    run({**pipeline, "cache": {"dir": str(cache)}}, out, progress=False)
    for entry in [p for p in cache.glob("??/*") if p.is_dir()]:
        for child in entry.iterdir():
            child.unlink()
        _plant(entry / "data.pkl", marker)
        (entry / "meta.json").write_text(json.dumps({"id": "doubled", "summary": {}}))
    result = run({**pipeline, "cache": {"dir": str(cache)}}, out, progress=False)
    assert result.cache_hits == [] and not marker.exists()


def test_planted_training_checkpoint_never_runs(tmp_path):
    torch = pytest.importorskip("torch")
    from neurodecode.train.trainer import TrainConfig, Trainer

    marker, ckpt = tmp_path / "PWNED", tmp_path / "ckpt"
    ckpt.mkdir()
    torch.save({"payload": Payload(marker)}, ckpt / "last.pt")  # a real torch zip file carrying the pickle
    model = torch.nn.Linear(3, 1)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    y = x.sum(1, keepdims=True)

    def step(m, batch):
        xb, yb = batch
        return ((m(xb) - yb) ** 2).mean()

    trainer = Trainer(TrainConfig(max_epochs=1, batch_size=8, checkpoint_dir=str(ckpt), progress=False))
    with pytest.raises(BadInputError, match="not a checkpoint written by neurodecode"):
        trainer.fit(model, train=(x, y), step_fn=step)
    assert not marker.exists()

    _plant(ckpt / "last.pt", marker)  # a bare pickle under the checkpoint name
    with pytest.raises(BadInputError, match="it was not run"):
        trainer.fit(model, train=(x, y), step_fn=step)
    assert not marker.exists()


def test_contrastive_resume_reads_checkpoints_safely(tmp_path):
    pytest.importorskip("torch")
    from neurodecode.encoders.contrastive import BrainCLIP, fit_brain_clip

    marker = tmp_path / "PWNED"
    _plant(tmp_path / "last.pt", marker)
    model = BrainCLIP(6, clip_dim=3, hidden_dim=8, n_blocks=1, dropout=0.0)
    rng = np.random.default_rng(0)
    with pytest.raises(BadInputError, match="it was not run"):
        fit_brain_clip(model, rng.normal(size=(8, 6)), rng.normal(size=(8, 3)), max_epochs=1, batch_size=4,
                       checkpoint_dir=tmp_path, device="cpu", progress=False)
    assert not marker.exists()
