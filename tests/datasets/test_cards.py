"""Dataset cards: parse, cover every real file with the right size and sha256, pinned public URLs."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from neurodecode import datasets
from neurodecode.datasets import cards as cards_mod
from neurodecode.errors import DatasetError

EXPECTED = {
    "kriegeskorte92", "muse_n170", "eeglab_sample", "haxby2001", "reaching_m1", "reaching_s1",
    "nwb_mtl", "nwb_phy", "mne_testing", "cichy92_fmri", "cowley_v4", "eegmmidb_s001", "eegmmidb_bids",
}
RAW = re.compile(r"^https://raw\.githubusercontent\.com/([\w.-]+/[\w.-]+)/([0-9a-f]{40})/(.+)$")
REPO_DATASETS = Path(__file__).resolve().parents[2] / "datasets"


def test_all_datasets_registered():
    assert set(datasets.list_datasets()) == EXPECTED
    assert datasets.list_datasets() == sorted(EXPECTED)


def test_cards_found_in_repo_folder_for_editable_install():
    assert datasets.cards_dir() == REPO_DATASETS
    assert (REPO_DATASETS / "README.md").is_file()


def test_cards_found_in_wheel_layout(tmp_path, monkeypatch):
    # a wheel places the cards at neurodecode/datasets/cards: simulate that package layout
    pkg = tmp_path / "neurodecode" / "datasets"
    (pkg / "cards").mkdir(parents=True)
    (pkg / "cards" / "nwb_phy.yaml").write_text((REPO_DATASETS / "nwb_phy.yaml").read_text())
    monkeypatch.setattr(cards_mod, "__file__", str(pkg / "cards.py"))
    assert cards_mod.cards_dir() == pkg / "cards"
    assert list(cards_mod._load_cards_from(str(pkg / "cards"))) == ["nwb_phy"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_card_contents(name):
    card = datasets.info(name)
    assert card.name == name
    assert card.title and card.description and card.licence and card.licence_short
    assert card.modality in {"rdm", "eeg", "fmri", "spikes", "eeg+meg"}
    assert card.citations and all(c.text for c in card.citations)
    # a source is pinned: a git commit, or a release version of a versioned archive (PhysioNet)
    assert card.sources and all(re.fullmatch(r"[0-9a-f]{40}|v\d+(\.\d+)*", s.commit) for s in card.sources)
    assert card.required_files, "a dataset needs at least one downloadable file"
    for f in card.files:
        if f.local_only:
            assert not f.required
            continue
        versioned = [s for s in card.sources if not re.fullmatch(r"[0-9a-f]{40}", s.commit)]
        if any(f.url.startswith(f"https://{s.repository}/") for s in versioned):
            assert f.path.rsplit("/", 1)[-1] == f.url.split("?", 1)[0].rsplit("/", 1)[-1]  # ?versionId=...
            continue
        m = RAW.match(f.url)
        assert m, f"{name}: {f.url} is not a pinned raw.githubusercontent.com URL"
        repo, commit, upstream_path = m.group(1), m.group(2), unquote(m.group(3))
        assert any(s.repository == repo and s.commit == commit for s in card.sources), (name, repo, commit)
        # the local name is the upstream name, possibly with a prefix (cichy92_fmri: "92images_")
        assert f.path.rsplit("/", 1)[-1].endswith(upstream_path.rsplit("/", 1)[-1])


def test_expected_citations_present():
    def dois(name):
        return {c.doi for c in datasets.info(name).citations}

    assert {"10.1016/j.neuron.2008.10.043", "10.1152/jn.00024.2007"} <= dois("kriegeskorte92")
    assert "10.1126/science.1063736" in dois("haxby2001")
    assert "10.1152/jn.00626.2010" in dois("reaching_m1")
    assert "10.1038/s41593-022-01020-w" in dois("nwb_mtl")
    assert "10.1016/j.jneumeth.2003.10.009" in dois("eeglab_sample")
    assert "10.3389/fnins.2013.00267" in dois("mne_testing")
    assert any("eeg-notebooks" in c.text for c in datasets.info("muse_n170").citations)


def test_specific_upstream_urls():
    k = datasets.info("kriegeskorte92").file("92_brainRDMs.mat")
    assert k.url == ("https://raw.githubusercontent.com/rsagroup/rsatoolbox/f1f83cadb7243492a1aae7460466e0f0140b20ac/"
                     "demos/92imageData/92_brainRDMs.mat")
    m = datasets.info("muse_n170").file("subject1/session1/data_2017-09-13-15.30.01.csv")
    assert m.url.endswith("/5ee39e4f91080937ead13c208a65089cbb13b7f6/data/visual/N170/subject1/session1/"
                          "data_2017-09-13-15.30.01.csv")
    h = datasets.info("haxby2001").file("sub001/BOLD/task001_run003/bold_1slice.nii.gz")
    assert "/PyMVPA/PyMVPA/20f0335f98bbb59a0e11bc0b7a469edf8681a9a1/mvpa2/data/haxby2001/sub001/BOLD/" in h.url
    bv = datasets.info("mne_testing").file("test.vhdr")
    assert "/mne-tools/mne-python/8aa8dec45a522363be02cba78d0856442b208067/mne/io/brainvision/tests/data/test.vhdr" in bv.url
    nwb = datasets.info("nwb_mtl").file("sub-4_ses-4_ecephys+image.nwb")
    assert nwb.url.endswith("d855ec089e5c540eff9ec18ea1d39e10a6a28d5e/docs/examples/nwb-files/sub-4_ses-4_ecephys%2Bimage.nwb")
    assert datasets.info("muse_n170").file("SOURCE.txt").url is None


@pytest.mark.realdata
def test_cards_match_every_real_file(data_home):
    """Every file in the data folders is on a card with its true size and sha256 (hashed here with hashlib)."""
    on_cards: dict[Path, tuple[int, str]] = {}
    for name in datasets.list_datasets():
        card = datasets.info(name)
        for f in card.files:
            on_cards[data_home / card.folder / f.path] = (f.size, f.sha256)
    real = [p for p in data_home.rglob("*") if p.is_file() and p.parent != data_home]
    assert real, "no data files found"
    missing_from_cards = sorted(str(p) for p in real if p not in on_cards)
    assert not missing_from_cards
    for path in real:
        size, sha = on_cards[path]
        assert path.stat().st_size == size, path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, path


def test_unknown_name_suggests_closest():
    with pytest.raises(DatasetError, match=r"Did you mean 'muse_n170'\?.*Known datasets: .*haxby2001"):
        datasets.info("muse_n17")
    with pytest.raises(DatasetError, match="Did you mean 'haxby2001'"):
        datasets.files("haxby")
    with pytest.raises(DatasetError, match="Known datasets"):
        datasets.load("no_such_thing_at_all")


def test_unknown_file_in_card():
    with pytest.raises(DatasetError, match="Did you mean 's1_data.mat'"):
        datasets.info("reaching_s1").file("s1_data.mt")


def _raw_card() -> dict:
    raw = yaml.safe_load((REPO_DATASETS / "nwb_phy.yaml").read_text())
    raw["files"].sort(key=lambda f: f["url"] is None)  # files[0]: the NWB file, files[1]: SOURCE.txt
    return raw


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["files"][0].update(sha256="abc"), "64 hex"),
        (lambda c: c["files"][0].update(path="/etc/passwd"), "relative"),
        (lambda c: c["files"][0].update(path="../x.nwb"), "relative"),
        (lambda c: c["files"][1].update(required=True), "local-only"),
        (lambda c: c.update(citations=[]), "citation"),
        (lambda c: c.update(unexpected_key=1), "unexpected_key"),
        (lambda c: c["files"].append(dict(c["files"][0])), "listed twice"),
    ],
)
def test_invalid_cards_are_rejected(tmp_path, mutate, message):
    raw = _raw_card()
    mutate(raw)
    path = tmp_path / "nwb_phy.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DatasetError, match=message):
        cards_mod._parse_card(path)


def test_card_name_must_match_file_name(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(_raw_card()))
    with pytest.raises(DatasetError, match="declares name 'nwb_phy'"):
        cards_mod._parse_card(path)


def test_generator_reproduces_committed_cards(data_home, tmp_path):
    """The committed cards are exactly what datasets/_make_cards.py writes from the real files."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_make_cards", REPO_DATASETS / "_make_cards.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for meta in mod.DATASETS:
        generated = mod.make_card(meta, data_home)
        committed = yaml.safe_load((REPO_DATASETS / f"{meta['name']}.yaml").read_text())
        assert generated == committed, meta["name"]
