"""files()/fetch(): sha256 verification, cache, offline errors and pooch downloads (network mocked)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from neurodecode import datasets
from neurodecode.datasets import _hashing, registry
from neurodecode.errors import DatasetError

S1 = "s1_data.mat"
M1 = "m1_stevenson_2011.mat"


@pytest.fixture
def home(tmp_path, monkeypatch, data_home):
    """A writable data home in tmp_path holding a copy of reaching_m1_s1/ (2.8 MB); online allowed."""
    root = tmp_path / "home"
    shutil.copytree(data_home / "reaching_m1_s1", root / "reaching_m1_s1")
    for path in [root, *root.rglob("*")]:  # the shared data are read-only; the copy must not be
        path.chmod(0o755 if path.is_dir() else 0o644)
    monkeypatch.setenv("NEURODECODE_DATA", str(root))
    monkeypatch.setenv("NEURODECODE_CACHE", str(tmp_path / "usercache"))
    for var in registry.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    yield root
    for path in [root, *root.rglob("*")]:  # undo chmods so tmp_path can be cleaned
        if path.is_dir():
            path.chmod(0o755)


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to download."""

    def boom(*args, **kwargs):
        raise AssertionError("a download was attempted")

    import pooch

    monkeypatch.setattr(pooch, "retrieve", boom)


@pytest.fixture
def fake_pooch(monkeypatch, data_home):
    """Replace pooch.retrieve by a copy from the real data home; record the calls."""
    import pooch

    calls = []

    def retrieve(url, known_hash, fname=None, path=None, **kwargs):
        calls.append({"url": url, "known_hash": known_hash, "fname": fname, "path": Path(path)})
        for name in datasets.list_datasets():
            card = datasets.info(name)
            for f in card.files:
                if f.url == url:
                    assert known_hash == f"sha256:{f.sha256}"
                    Path(path).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(data_home / card.folder / f.path, Path(path) / fname)
                    return str(Path(path) / fname)
        raise AssertionError(f"unknown url {url}")

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    return calls


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- data home


def test_data_home_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURODECODE_DATA", str(tmp_path))
    assert datasets.data_home() == tmp_path
    assert datasets.dataset_folder("reaching_s1") == tmp_path / "reaching_m1_s1"


def test_data_home_default_is_user_cache(monkeypatch):
    import pooch

    monkeypatch.delenv("NEURODECODE_DATA", raising=False)
    home = datasets.data_home()
    assert home == Path(pooch.os_cache("neurodecode"))
    assert home.name == "neurodecode" or "neurodecode" in home.parts


def test_offline_env(monkeypatch):
    for var in registry.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    assert registry.offline() is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert registry.offline() is None
    monkeypatch.setenv("NEURODECODE_OFFLINE", "true")
    assert registry.offline() == "NEURODECODE_OFFLINE"


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_files_on_real_data(data_home, no_network):
    paths = datasets.files("reaching_m1")
    assert set(paths) == {M1, "SOURCE.txt"}
    assert paths[M1] == data_home / "reaching_m1_s1" / M1
    assert hashlib.sha256(paths[M1].read_bytes()).hexdigest() == datasets.info("reaching_m1").file(M1).sha256
    assert datasets.fetch("reaching_m1") == data_home / "reaching_m1_s1"


@pytest.mark.realdata
def test_include_patterns(data_home, no_network):
    paths = datasets.files("haxby2001", include="sub001/BOLD/task001_run001/*")
    assert sorted(paths) == [
        f"sub001/BOLD/task001_run001/{n}"
        for n in ("bold_1slice.nii.gz", "bold_25mm.nii.gz", "bold_events.tsv", "bold_moest.txt")
    ]
    with pytest.raises(DatasetError, match="no file matches"):
        datasets.files("haxby2001", include=["sub002/*"])


#: registered datasets whose files are not in the shared test data (downloaded by users; tests/datasets/test_bids.py)
NOT_IN_SHARED_DATA = {"eegmmidb_bids"}


@pytest.mark.realdata
def test_every_dataset_verifies_on_real_data(data_home, no_network):
    for name in datasets.list_datasets():
        if name in NOT_IN_SHARED_DATA:
            continue
        paths = datasets.files(name)
        assert {f.path for f in datasets.info(name).required_files} <= set(paths)
        statuses = datasets.file_status(name)
        assert {s.status for s in statuses if s.entry.required} == {"verified"}


# --------------------------------------------------------------------------- checksum mismatch


def test_one_changed_byte_is_refused(home, no_network):
    target = home / "reaching_m1_s1" / S1
    expected = datasets.info("reaching_s1").file(S1).sha256
    _flip_byte(target)
    actual = hashlib.sha256(target.read_bytes()).hexdigest()
    assert actual != expected
    with pytest.raises(DatasetError) as err:
        datasets.files("reaching_s1")
    msg = str(err.value)
    assert str(target) in msg and expected in msg and actual in msg
    assert "Delete" in msg and "neurodecode datasets fetch reaching_s1" in msg
    with pytest.raises(DatasetError, match="do not match the sha256"):
        datasets.load("reaching_s1")  # never loaded silently
    # the other dataset sharing the folder is unaffected
    assert M1 in datasets.files("reaching_m1")


def test_truncated_file_is_refused_even_without_hashing(home, no_network):
    target = home / "reaching_m1_s1" / M1
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(DatasetError, match=r"\(1000 bytes\)"):
        datasets.files("reaching_m1", check=False)


def test_cached_digest_is_invalidated_when_the_file_changes(home, no_network, monkeypatch):
    target = home / "reaching_m1_s1" / S1
    datasets.files("reaching_s1")  # verified and cached
    _flip_byte(target, 10)
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a later mtime, same size
    with pytest.raises(DatasetError, match="do not match"):
        datasets.files("reaching_s1")


# --------------------------------------------------------------------------- missing files


def _remove_s1(home: Path) -> Path:
    target = home / "reaching_m1_s1" / S1
    target.unlink()
    return target


@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "NEURODECODE_OFFLINE"])
def test_missing_file_offline_env(home, no_network, monkeypatch, var):
    target = _remove_s1(home)
    monkeypatch.setenv(var, "1")
    with pytest.raises(DatasetError) as err:
        datasets.files("reaching_s1")
    msg = str(err.value)
    assert S1 in msg and datasets.info("reaching_s1").file(S1).url in msg
    assert str(target.parent) in msg and f"{var}=1" in msg
    assert "neurodecode datasets fetch reaching_s1" in msg


def test_missing_file_download_false(home, no_network):
    _remove_s1(home)
    with pytest.raises(DatasetError, match=r"download=False"):
        datasets.files("reaching_s1", download=False)
    with pytest.raises(DatasetError, match="missing"):
        datasets.load("reaching_s1", download=False)


def test_missing_local_only_file_is_fine(home, no_network):
    (home / "reaching_m1_s1" / "SOURCE.txt").unlink()
    assert set(datasets.files("reaching_m1")) == {M1}


def test_download_with_pooch(home, fake_pooch, data_home):
    target = _remove_s1(home)
    paths = datasets.files("reaching_s1")
    assert paths[S1] == target and target.is_file()
    entry = datasets.info("reaching_s1").file(S1)
    assert fake_pooch == [
        {"url": entry.url, "known_hash": f"sha256:{entry.sha256}", "fname": S1, "path": target.parent}
    ]
    assert target.read_bytes() == (data_home / "reaching_m1_s1" / S1).read_bytes()


def test_fetch_into_empty_home_creates_nested_folders(tmp_path, monkeypatch, fake_pooch):
    monkeypatch.setenv("NEURODECODE_DATA", str(tmp_path / "fresh"))
    monkeypatch.setenv("NEURODECODE_CACHE", str(tmp_path / "usercache"))
    for var in registry.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    paths = datasets.files("haxby2001", include="sub001/BOLD/task001_run002/bold_*")
    assert len(paths) == 4 and len(fake_pooch) == 4
    assert all(p.is_file() and p.parent == tmp_path / "fresh/haxby2001/sub001/BOLD/task001_run002" for p in paths.values())
    assert datasets.fetch("nwb_phy") == tmp_path / "fresh" / "nwb_units"
    assert (tmp_path / "fresh" / "nwb_units" / "A8604-211122.nwb").is_file()
    assert not (tmp_path / "fresh" / "nwb_units" / "SOURCE.txt").exists()  # local-only: never fetched


def test_download_true_overrides_offline_env(home, fake_pooch, monkeypatch):
    _remove_s1(home)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert S1 in datasets.files("reaching_s1", download=True)


def test_download_failure_is_reported(home, monkeypatch):
    import pooch

    def fail(url, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(pooch, "retrieve", fail)
    target = _remove_s1(home)
    with pytest.raises(DatasetError) as err:
        datasets.fetch("reaching_s1")
    msg = str(err.value)
    assert "could not be downloaded" in msg and "ConnectionError: Name or service not known" in msg
    assert datasets.info("reaching_s1").file(S1).url in msg and str(target.parent) in msg
    assert not target.exists()


def test_read_only_home_does_not_download(home, no_network):
    _remove_s1(home)
    folder = home / "reaching_m1_s1"
    folder.chmod(0o555)
    home.chmod(0o555)
    with pytest.raises(DatasetError, match="read-only"):
        datasets.files("reaching_s1")


# --------------------------------------------------------------------------- sha256 cache


@pytest.fixture
def count_hashes(monkeypatch):
    calls = []
    real = _hashing.compute_sha256

    def counting(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(_hashing, "compute_sha256", counting)
    return calls


def test_hashes_are_cached_in_the_data_home(home, no_network, count_hashes):
    datasets.files("reaching_s1")
    assert [p.name for p in count_hashes] == [S1]
    cache = home / _hashing.CACHE_NAME
    entries = json.loads(cache.read_text())
    (key, entry), = [(k, v) for k, v in entries.items() if k.endswith(S1)]
    assert entry["sha256"] == datasets.info("reaching_s1").file(S1).sha256
    assert entry["size"] == (home / "reaching_m1_s1" / S1).stat().st_size
    datasets.files("reaching_s1")
    _hashing.clear_memory_cache()  # a new process: read back from the JSON file
    datasets.files("reaching_s1")
    assert len(count_hashes) == 1


def test_read_only_home_caches_elsewhere(home, no_network, count_hashes, tmp_path):
    for path in [home, home / "reaching_m1_s1"]:
        path.chmod(0o555)
    datasets.files("reaching_m1")
    assert not (home / _hashing.CACHE_NAME).exists()
    assert (tmp_path / "usercache" / _hashing.CACHE_NAME).is_file()
    _hashing.clear_memory_cache()
    datasets.files("reaching_m1")
    assert [p.name for p in count_hashes] == [M1]


def test_corrupt_cache_file_is_ignored(home, no_network):
    (home / _hashing.CACHE_NAME).write_text("{not json")
    assert S1 in datasets.files("reaching_s1")
    assert json.loads((home / _hashing.CACHE_NAME).read_text())


def test_file_status_reports_each_state(home, no_network):
    folder = home / "reaching_m1_s1"
    _flip_byte(folder / M1)
    (folder / "SOURCE.txt").unlink()
    status = {s.entry.path: s.status for s in datasets.file_status("reaching_m1")}
    assert status == {M1: "mismatch", "SOURCE.txt": "missing"}
    assert [(s.entry.path, s.status) for s in datasets.file_status("reaching_s1", verify=False)] == [
        ("SOURCE.txt", "missing"), (S1, "present")]


def test_hash_cache_file_location_never_creates_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURODECODE_CACHE", str(tmp_path / "c"))
    missing_home = tmp_path / "not_there"
    assert _hashing.cache_file(missing_home) == tmp_path / "c" / _hashing.CACHE_NAME
    assert not missing_home.exists()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert _hashing.cache_file(ro) == tmp_path / "c" / _hashing.CACHE_NAME
    finally:
        ro.chmod(0o755)
