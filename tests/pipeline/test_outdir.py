"""The output folder: names from data stay inside it, one run at a time, no temporaries, no mixed results,
clear errors for a full disk or an unusable --out."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from neurodecode import io
from neurodecode._files import allowed_roots, safe_name, write_atomic
from neurodecode.cli import main
from neurodecode.datamodel import make_epochs
from neurodecode.errors import BadInputError
from neurodecode.pipeline import register_loader, register_op, run
from neurodecode.pipeline.ops import LOADERS, OPS
from neurodecode.pipeline.outdir import OWNED_NAME, claim

SUBJECTS = {"1": "../../../escaped", "2": "..\\..\\evil", "3": "/etc/passwd"}


def _load(path):
    seed = Path(path).read_text().strip()
    rng = np.random.default_rng(int(seed))
    return make_epochs(rng.normal(size=(4, 2, 10)), 100.0, ["Fz", "Cz"], 0.0,
                       metadata={"label": np.array(["a", "b"] * 2)}, subject=SUBJECTS.get(seed, seed),
                       session="../s", run=1)


def _same(epochs, *, tag: str = "a"):
    return epochs


@pytest.fixture
def files(tmp_path):
    register_loader("od.load", _load, replace=True)
    register_op("od.same", _same, replace=True)
    out = []
    for seed in ("1", "2", "3"):
        path = tmp_path / "raw" / f"r{seed}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(seed)
        out.append(path)
    yield out
    LOADERS.unregister("od.load")
    OPS.unregister("od.same")


def _cfg(files, name="p1", save="kept"):
    return {"name": name, "data": {"files": [str(f) for f in files], "loader": "od.load"},
            "steps": [{"id": save, "op": "od.same"}], "outputs": {"save": [save], "report": {"enabled": False}}}


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_names_from_data_stay_inside_out(tmp_path, files):
    out = tmp_path / "deep" / "er" / "out"
    before = _tree(tmp_path)
    run(_cfg(files), out, progress=False)
    written = _tree(tmp_path) - before
    assert all(w.startswith(("deep", "raw")) for w in written), written
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "evil").exists()
    names = sorted(p.name for p in (out / "kept").iterdir())
    assert names == ["000_sub-escaped_ses-s_run-1.nc", "001_sub-evil_ses-s_run-1.nc",
                     "002_sub-etc_passwd_ses-s_run-1.nc"]


@pytest.mark.parametrize("value", ["../../../x", "..", "/abs/path", "a/../../b", "\x00nul", ".hidden", "-rf", ""])
def test_safe_name_never_leaves_a_folder(tmp_path, value):
    name = safe_name(value)
    assert name and "/" not in name and "\\" not in name and ".." not in name and not name.startswith((".", "-"))
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_every_atomic_write_is_checked_against_the_run_folders(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with allowed_roots(out):
        write_atomic(out / "ok.txt", "fine")
        with pytest.raises(BadInputError, match="outside the folders this run may write to"):
            write_atomic(out / ".." / "escaped.txt", "no")
        (tmp_path / "link").symlink_to(tmp_path)
        with pytest.raises(BadInputError, match="outside"):
            write_atomic(out / "sub" / ".." / ".." / "link" / "x.txt", "no")
        import xarray as xr

        with pytest.raises(BadInputError, match="outside"):
            io.save(xr.DataArray(np.ones(2), dims="a"), tmp_path / "other.nc")
    assert sorted(os.listdir(tmp_path)) == ["link", "out"]


def test_a_second_run_into_the_same_folder_stops(tmp_path, files, capsys):
    out = tmp_path / "out"
    with claim(out):  # a run in progress
        with pytest.raises(BadInputError, match="another neurodecode run is writing into"):
            run(_cfg(files), out, progress=False)
        cfg = tmp_path / "p.yaml"
        cfg.write_text(yaml.safe_dump(_cfg(files)))
        assert main(["run", str(cfg), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"pid {os.getpid()}" in err
    assert run(_cfg(files), out, progress=False).manifest["status"] == "ok"  # free again


def test_results_of_another_pipeline_are_removed(tmp_path, files):
    out = tmp_path / "out"
    run(_cfg(files, "first", save="alpha"), out, progress=False)
    (out / "my_notes.txt").write_text("mine")  # not written by neurodecode: kept
    assert (out / "alpha").is_dir()
    result = run(_cfg(files, "second", save="beta"), out, progress=False)
    assert not (out / "alpha").exists() and (out / "beta").is_dir() and (out / "my_notes.txt").exists()
    owned = set(json.loads((out / OWNED_NAME).read_text()))
    assert {"manifest.json", "metrics.json", "run.log"} <= owned and not any(p.startswith("alpha") for p in owned)
    listed = {f["path"] for entry in result.manifest["outputs"].values() for f in entry["files"]}
    assert all((out / p).exists() for p in listed)


def test_a_failed_run_does_not_orphan_old_results(tmp_path, files):
    out = tmp_path / "out"
    run(_cfg(files, "first", save="alpha"), out, progress=False)
    bad = _cfg(files, "second", save="beta")
    bad["steps"][0]["params"] = {"nope": 1}
    with pytest.raises(Exception):
        run(bad, out, progress=False)
    run(_cfg(files, "third", save="gamma"), out, progress=False)
    assert not (out / "alpha").exists() and (out / "gamma").is_dir()


def test_killed_run_keeps_its_log_and_leaves_no_temporaries(tmp_path, files):
    out = tmp_path / "out"
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from pathlib import Path
        from neurodecode.pipeline import register_loader, register_op, run
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_outdir import _load, _cfg

        def slow(epochs):
            Path({str(tmp_path / "started")!r}).write_text("x")
            time.sleep(60)
            return epochs

        register_loader("od.load", _load, replace=True)
        register_op("od.same", slow, replace=True)
        files = [Path({str(files[0])!r})]
        run(_cfg(files), {str(out)!r}, progress=False)
    """))
    # a temporary a killed writer would leave
    out.mkdir()
    (out / ".kept.nc.0123abcd.tmp").write_text("half")
    (out / ".kept.0123abcd.tmp").mkdir()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "started").exists():
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    log = (out / "run.log").read_text()
    assert "step kept (od.same)" in log
    run(_cfg(files), out, progress=False)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_full_disk_is_one_line_and_exit_2(tmp_path, files, monkeypatch, capsys):
    import builtins

    real_open = builtins.open

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def full_open(path, mode="r", *a, **k):
        if "w" in mode and str(path).endswith(".tmp") and "kept" in str(path):
            return Full(real_open(path, mode, *a, **k))
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(builtins, "open", full_open)
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(_cfg(files)))
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no space left to write" in err
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]


def test_large_netcdf_needs_the_space_first(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    import xarray as xr

    monkeypatch.setattr(io, "MEMORY_WRITE_LIMIT", 10)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(100, 100, 0))
    with pytest.raises(BadInputError, match="no space left"):
        io.save(xr.DataArray(np.ones(100), dims="a"), tmp_path / "x.nc")
    assert os.listdir(tmp_path) == []


def test_out_that_is_a_file_or_read_only(tmp_path, files, monkeypatch, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(_cfg(files)))
    target = tmp_path / "afile"
    target.write_text("x")
    assert main(["run", str(cfg), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder" in err

    ro = tmp_path / "ro"
    ro.mkdir()
    real = Path.write_bytes

    def refuse(self, data):
        if self.parent == ro:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse)  # root ignores chmod; a read-only mount refuses like this
    assert main(["run", str(cfg), "--out", str(ro)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write into the output folder" in err


def test_lazy_zarr_is_never_read_across_versions(tmp_path):
    import xarray as xr

    path = tmp_path / "x.zarr"
    io.save(xr.DataArray(np.zeros((4, 3)), dims=("a", "b")), path)
    lazy = io.open(path)
    with pytest.raises(BadInputError, match="open lazily in this process"):
        io.save(xr.DataArray(np.ones((4, 3)), dims=("a", "b")), path)
    assert float(lazy.sum()) == 0.0
    del lazy
    import gc

    gc.collect()
    io.save(xr.DataArray(np.ones((4, 3)), dims=("a", "b")), path)  # nothing reads it lazily any more
    assert float(io.open(path, chunks=None).sum()) == 12.0
