"""`neurodecode compare --brain DERIVATIVES/ --bids-select ...` on a BIDS-derivatives folder a user wrote.

The folder holds the real kriegeskorte92 RDMs (registry) restricted to 20 of the 92 images: human IT
of 4 subjects as ``sub-<S>/sub-<S>_desc-IT_rdm.npy`` with a sidecar and a top-level ``stimuli.tsv``,
monkey IT as ``sub-monkey/sub-monkey_desc-monkeyIT_rdm.tsv`` (header row of ids), and a behavioural
RDM that ``--bids-select`` leaves out. The numbers must equal the same comparison run on the plain
dataset's RDM stack saved as one ``.nc``.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import yaml
from PIL import Image

from neurodecode import datasets, io
from neurodecode.cli import main

pytestmark = pytest.mark.realdata

USER_MODEL = textwrap.dedent('''
    import torch
    from torch import nn


    def build():
        torch.manual_seed(0)
        net = nn.Sequential()
        net.add_module("conv1", nn.Sequential(nn.Conv2d(3, 8, 5, stride=2), nn.ReLU()))
        net.add_module("pool", nn.AdaptiveAvgPool2d(4))
        return net


    build.preprocessing = {"size": 48, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
''')
_PICK = [0, 3, 7, 12, 14, 20, 24, 26, 30, 36, 48, 50, 55, 60, 64, 70, 75, 80, 85, 90]
_REGIONS = {"human_it": "IT", "monkey_it": "monkeyIT"}


@pytest.fixture(scope="module")
def study(data_home, tmp_path_factory):
    root = tmp_path_factory.mktemp("bids_study")
    images = datasets.load("kriegeskorte92", part="images")
    ids = []
    for k in _PICK:
        name = f"{str(images['category'].values[k]).replace(' ', '_')}/img_{k:02d}"
        path = root / "stimuli" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images.values[k]).save(path)
        ids.append(name)
    (root / "my_net.py").write_text(USER_MODEL)
    brain = datasets.load("kriegeskorte92", part="brain").isel(stimulus=_PICK, stimulus_=_PICK)
    brain = brain.assign_coords(stimulus=ids, stimulus_=ids)

    deriv = root / "derivatives" / "rsa"
    deriv.mkdir(parents=True)
    (deriv / "dataset_description.json").write_text(json.dumps({
        "Name": "IT RDMs", "BIDSVersion": "1.10.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "lab scripts", "Version": "1"}]}))
    (deriv / "stimuli.tsv").write_text("stimulus_id\n" + "\n".join(ids) + "\n")
    keep = []
    for i in range(brain.sizes["rdm"]):
        region, subject = str(brain["region"].values[i]), str(brain["subject"].values[i])
        if region == "human_it":
            (deriv / f"sub-{subject}").mkdir()
            np.save(deriv / f"sub-{subject}" / f"sub-{subject}_desc-IT_rdm.npy", brain.values[i])
            (deriv / f"sub-{subject}" / f"sub-{subject}_desc-IT_rdm.json").write_text(
                json.dumps({"Method": "correlation", "Description": "1 - Pearson r of IT voxel patterns"}))
            keep.append(i)
        elif region == "monkey_it":
            (deriv / "sub-monkey").mkdir()
            np.savetxt(deriv / "sub-monkey" / "sub-monkey_desc-monkeyIT_rdm.tsv", brain.values[i], delimiter="\t",
                       header="\t".join(ids), comments="")
            keep.append(i)
        elif region == "behaviour" and subject == "1":
            (deriv / "sub-01").mkdir()
            np.save(deriv / "sub-01" / "sub-01_desc-behaviour_rdm.npy", brain.values[i])
    # the same RDMs as the plain dataset gives them, in one file
    plain = brain.isel(rdm=keep)
    plain = plain.assign_coords(region=("rdm", [_REGIONS[str(r)] for r in plain["region"].values]))
    plain = plain.drop_vars([c for c in plain.coords if c not in ("rdm", "stimulus", "stimulus_", "region",
                                                                   "subject")])
    io.save(plain, root / "plain.nc")
    return root, deriv


def _run(root, brain, out, *extra):
    argv = ["compare", "--stimuli", str(root / "stimuli"), "--brain", str(brain),
            "--model", f"{root / 'my_net.py'}:build", "--n-boot", "50", "--heldout-splits", "0",
            "--out", str(out), "-q", *extra]
    return main(argv)


def test_compare_on_bids_derivatives_equals_the_plain_dataset(study, tmp_path):
    root, deriv = study
    assert _run(root, deriv, tmp_path / "bids", "--bids-select", "sub=BE,KO,SN,TI,monkey desc=IT,monkeyIT") == 0
    assert _run(root, root / "plain.nc", tmp_path / "plain") == 0
    got = io.open(tmp_path / "bids" / "rsa.nc", chunks=None)
    want = io.open(tmp_path / "plain" / "rsa.nc", chunks=None)
    assert sorted(got["region"].values.tolist()) == ["IT", "monkeyIT"]
    assert got.attrs["n_stimuli"] == 20
    for var in ("score", "ci_low", "ci_high", "ceiling_low", "ceiling_high"):
        np.testing.assert_allclose(got[var].sel(region=["IT", "monkeyIT"]).values,
                                   want[var].sel(region=["IT", "monkeyIT"]).values, rtol=0, atol=1e-12,
                                   equal_nan=True)
    assert int(got["n_subjects"].sel(region="IT")) == 4
    # the written pipeline reads the folder with the bids.derivatives loader and the selection
    cfg = yaml.safe_load((tmp_path / "bids" / "pipeline.yaml").read_text())
    assert cfg["data"]["brain"]["loader"] == "bids.derivatives"
    assert cfg["data"]["brain"]["params"] == {"subject": ["BE", "KO", "SN", "TI", "monkey"],
                                              "description": ["IT", "monkeyIT"]}


def test_bids_select_errors(study, tmp_path, capsys):
    root, deriv = study
    assert _run(root, deriv, tmp_path / "a", "--bids-select", "subj=01") == 2
    assert "unknown key 'subj' (did you mean 'sub'?)" in capsys.readouterr().err
    assert _run(root, root / "plain.nc", tmp_path / "b", "--bids-select", "sub=01") == 2
    assert "applies to BIDS-derivatives folders" in capsys.readouterr().err
    assert _run(root, deriv, tmp_path / "c", "--bids-select", "sub") == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    # a selection that matches nothing lists what the folder holds
    assert _run(root, deriv, tmp_path / "d", "--bids-select", "sub=monkee") == 2
    assert "available subjects: ['01', 'BE', 'KO', 'SN', 'TI', 'monkey']" in capsys.readouterr().err
