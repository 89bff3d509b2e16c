"""`neurodecode datasets list | info | fetch` via add_subparsers (argparse)."""

from __future__ import annotations

import argparse
import shutil

import pytest

from neurodecode import datasets
from neurodecode.datasets import cli, registry


def run(argv, capsys):
    parser = argparse.ArgumentParser(prog="neurodecode")
    cli.add_subparsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.realdata
def test_list_table(data_home, capsys):
    code, out, _ = run(["datasets", "list"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"data home: {data_home}")
    assert lines[1].split() == ["name", "modality", "files", "size", "licence", "status"]
    rows = {line.split()[0]: line for line in lines[3:]}
    assert set(rows) == set(datasets.list_datasets())
    assert "present 116/116" in rows["muse_n170"] and "28.9 MB" in rows["muse_n170"]
    assert "CC-BY-SA-3.0" in rows["haxby2001"]


@pytest.mark.realdata
def test_list_verify(data_home, capsys):
    code, out, _ = run(["datasets", "list", "--verify"], capsys)
    assert code == 0 and "verified 8/8" in out and "present" not in out


@pytest.mark.realdata
def test_info(data_home, capsys):
    code, out, _ = run(["datasets", "info", "reaching_m1", "--urls"], capsys)
    assert code == 0
    assert out.startswith("reaching_m1: Stevenson et al. 2011")
    assert f"folder:   {data_home / 'reaching_m1_s1'}" in out
    assert "doi:10.1152/jn.00626.2010" in out
    assert "m1_stevenson_2011.mat  1339984" in out and "verified" in out
    assert datasets.info("reaching_m1").file("m1_stevenson_2011.mat").url in out
    assert "local-only" in out  # SOURCE.txt


def test_info_unknown_name(capsys):
    code, out, err = run(["datasets", "info", "kriegeskorte"], capsys)
    assert code == 2 and out == ""
    assert "Did you mean 'kriegeskorte92'" in err


def test_fetch_offline_reports_missing(tmp_path, monkeypatch, data_home, capsys):
    home = tmp_path / "home"
    (home / "nwb_units").mkdir(parents=True)
    monkeypatch.setenv("NEURODECODE_DATA", str(home))
    monkeypatch.setenv("NEURODECODE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NEURODECODE_OFFLINE", "1")
    code, out, err = run(["datasets", "fetch", "nwb_phy"], capsys)
    assert code == 1
    assert "A8604-211122.nwb" in err and str(home / "nwb_units") in err and "raw.githubusercontent.com" in err
    shutil.copyfile(data_home / "nwb_units" / "A8604-211122.nwb", home / "nwb_units" / "A8604-211122.nwb")
    code, out, err = run(["datasets", "fetch", "nwb_phy", "--no-download"], capsys)
    assert code == 0 and f"nwb_phy: all files verified in {home / 'nwb_units'}" in out
    code, out, err = run(["datasets", "fetch", "nwb_phy", "nope"], capsys)
    assert code == 2 and "unknown dataset 'nope'" in err and "nwb_phy: all files verified" in out


def test_format_helpers():
    assert cli.format_size(999) == "999 B"
    assert cli.format_size(442304) == "442.3 kB"
    assert cli.format_size(28_900_000) == "28.9 MB"
    table = cli.format_table(["a", "bb"], [["x", 1], ["yyy", 22]])
    assert table.splitlines() == ["a    bb", "---  --", "x    1", "yyy  22"]


def test_subparsers_wiring():
    parser = argparse.ArgumentParser(prog="neurodecode")
    sub = parser.add_subparsers(dest="command")
    ds = cli.add_subparsers(sub)
    assert isinstance(ds, argparse.ArgumentParser)
    assert parser.parse_args(["datasets", "list"]).func is cli.cmd_list
    assert parser.parse_args(["datasets", "info", "x"]).func is cli.cmd_info
    args = parser.parse_args(["datasets", "fetch", "a", "b"])
    assert args.func is cli.cmd_fetch and args.name == ["a", "b"]
    with pytest.raises(SystemExit):
        parser.parse_args(["datasets"])
    assert registry.OFFLINE_VARS == ("NEURODECODE_OFFLINE", "HF_HUB_OFFLINE")
