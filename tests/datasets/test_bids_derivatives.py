"""from_bids_derivatives: brain RDMs and responses from BIDS-derivatives folders written the way a user would.

The folders hold the real kriegeskorte92 RDMs (human IT, 4 subjects; monkey IT) and Cowley et al.
V4 responses, one file per subject and region: ``.npy`` matrices with the stimulus order in a
top-level ``stimuli.tsv`` or in the JSON sidecar (``StimulusIDs``), ``.tsv`` matrices with a header
row of ids, and what our own ``write_derivatives`` writes. What is read back is compared with the
registry's arrays.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodecode import datasets
from neurodecode.datasets import from_bids_derivatives
from neurodecode.errors import BadInputError

pytestmark = pytest.mark.realdata

DESCRIPTION = {"Name": "lab RSA", "BIDSVersion": "1.10.0", "DatasetType": "derivative",
               "GeneratedBy": [{"Name": "lab scripts"}]}


@pytest.fixture(scope="module")
def brain(data_home):
    stack = datasets.load("kriegeskorte92", part="brain")
    ids = [f"img{int(s):02d}" for s in stack["stimulus"].values]
    return stack.assign_coords(stimulus=ids, stimulus_=ids)


@pytest.fixture(scope="module")
def rdm_tree(brain, tmp_path_factory):
    """sub-<S>/sub-<S>_desc-IT_rdm.npy (+ sidecar), sub-monkey/..._desc-monkeyIT_rdm.tsv, a behaviour RDM."""
    root = tmp_path_factory.mktemp("rsa_derivatives")
    (root / "dataset_description.json").write_text(json.dumps(DESCRIPTION))
    ids = [str(s) for s in brain["stimulus"].values]
    (root / "stimuli.tsv").write_text("stimulus_id\tcategory\n" + "".join(
        f"{s}\t{c}\n" for s, c in zip(ids, brain["category"].values)))
    (root / "desc-IT_rdm.json").write_text(json.dumps({"Method": "correlation", "Description": "1 - Pearson r"}))
    for i in range(brain.sizes["rdm"]):
        region, subject = str(brain["region"].values[i]), str(brain["subject"].values[i])
        if region == "human_it":
            folder = root / f"sub-{subject}"
            folder.mkdir()
            np.save(folder / f"sub-{subject}_desc-IT_rdm.npy", brain.values[i])
        elif region == "monkey_it":
            folder = root / "sub-monkey"
            folder.mkdir()
            np.savetxt(folder / "sub-monkey_desc-monkeyIT_rdm.tsv", brain.values[i], delimiter="\t",
                       header="\t".join(ids), comments="")
        elif subject == "1":  # one behavioural RDM, ids in its own sidecar in another order
            order = np.arange(len(ids))[::-1]
            folder = root / "sub-01"
            folder.mkdir()
            np.save(folder / "sub-01_desc-behaviour_rdm.npy", brain.values[i][order][:, order])
            (folder / "sub-01_desc-behaviour_rdm.json").write_text(
                json.dumps({"StimulusIDs": [ids[k] for k in order]}))
    return root


def test_rdms_equal_the_registry(rdm_tree, brain):
    got = from_bids_derivatives(rdm_tree, description=["IT", "monkeyIT"])
    assert got.attrs["nd_kind"] == "rdm" and got.attrs["method"] == "correlation"
    assert got["region"].values.tolist() == ["IT"] * 4 + ["monkeyIT"]
    assert got["subject"].values.tolist() == ["BE", "KO", "SN", "TI", "monkey"]
    assert got["file"].values[0] == "sub-BE/sub-BE_desc-IT_rdm.npy"
    np.testing.assert_array_equal(got["stimulus"].values, brain["stimulus"].values)
    want = brain.isel(rdm=np.flatnonzero(np.isin(brain["region"].values, ["human_it", "monkey_it"])))
    np.testing.assert_array_equal(got.values[:4], want.values[:4])  # .npy: bit for bit
    np.testing.assert_allclose(got.values[4], want.values[4], rtol=1e-15, atol=0)  # .tsv: printed with %.18e
    # the behavioural RDM was saved in reversed stimulus order with its ids in the sidecar
    beh = from_bids_derivatives(rdm_tree, subject="01")
    ids = [str(s) for s in brain["stimulus"].values]
    assert beh["stimulus"].values.tolist() == ids[::-1]
    first = int(np.flatnonzero(brain["region"].values == "behaviour")[0])
    np.testing.assert_array_equal(beh.sel(stimulus=ids, stimulus_=ids).values[0], brain.values[first])
    assert beh["region"].values.tolist() == ["behaviour"]


def test_selection_and_its_errors(rdm_tree):
    two = from_bids_derivatives(rdm_tree, subject=["KO", "TI"], description="IT")
    assert two["rdm"].values.tolist() == ["IT/KO", "IT/TI"]
    with pytest.raises(BadInputError,
                       match=r"no rdm file with sub-monkee .*available subjects: .*did you mean subject='monkey'"):
        from_bids_derivatives(rdm_tree, subject="monkee")
    with pytest.raises(BadInputError, match=r"desc-it .*did you mean description='IT'"):
        from_bids_derivatives(rdm_tree, description="it")
    with pytest.raises(BadInputError, match=r"no \*_beta file .*suffixes present: \['rdm', 'stimuli'\]"):
        from_bids_derivatives(rdm_tree, suffix="beta")
    with pytest.raises(BadInputError, match="does not exist"):
        from_bids_derivatives(rdm_tree / "nope")
    with pytest.raises(BadInputError, match=r"method='euclidean' but the files record \['correlation'\]"):
        from_bids_derivatives(rdm_tree, description="IT", method="euclidean")


def test_bad_folders_are_refused_with_the_fix(rdm_tree, brain, tmp_path):
    ids = [str(s) for s in brain["stimulus"].values]
    root = tmp_path / "d"
    (root / "sub-01").mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps(DESCRIPTION))
    np.save(root / "sub-01" / "sub-01_desc-IT_rdm.npy", brain.values[0])
    with pytest.raises(BadInputError, match="StimulusIDs list in its JSON sidecar"):
        from_bids_derivatives(root)
    # a stimulus list over other stimuli than the matrix rows
    (root / "stimuli.tsv").write_text("stimulus_id\n" + "\n".join(ids[:90]) + "\n")
    with pytest.raises(BadInputError, match="92 stimuli .* 90 stimulus ids"):
        from_bids_derivatives(root)
    (root / "stimuli.tsv").write_text("name\n" + "\n".join(ids) + "\n")
    with pytest.raises(BadInputError, match="stimulus_id"):
        from_bids_derivatives(root)
    (root / "stimuli.tsv").write_text("stimulus_id\n" + "\n".join(ids) + "\n")
    assert from_bids_derivatives(root).sizes["rdm"] == 1
    # two sessions of one subject and region: refused, the message says how to select
    (root / "sub-01" / "sub-01_desc-IT_rdm.npy").rename(root / "sub-01" / "sub-01_ses-1_desc-IT_rdm.npy")
    np.save(root / "sub-01" / "sub-01_ses-2_desc-IT_rdm.npy", brain.values[1])
    with pytest.raises(BadInputError, match=r"several RDMs .*session="):
        from_bids_derivatives(root)
    assert from_bids_derivatives(root, session="2")["session"].values.tolist() == ["2"]
    # files over different stimuli
    np.save(root / "sub-02_desc-IT_rdm.npy", brain.values[2][:80, :80])
    (root / "sub-02_desc-IT_rdm.json").write_text(json.dumps({"StimulusIDs": ids[:80]}))
    (root / "sub-01" / "sub-01_ses-2_desc-IT_rdm.npy").unlink()
    with pytest.raises(BadInputError, match="cover different stimuli"):
        from_bids_derivatives(root)
    # a similarity matrix (diagonal 1) is refused by the RDM checks
    np.save(root / "sub-02_desc-IT_rdm.npy", 1 - brain.values[2][:80, :80])
    with pytest.raises(BadInputError, match="diagonal"):
        from_bids_derivatives(root, subject="02")


def test_our_own_derivatives_read_back(brain, tmp_path):
    """A stack written by report.bids.write_derivatives (outputs.bids_derivatives) keeps its regions and subjects."""
    from neurodecode.report.bids import check_derivatives, write_derivatives

    stack = brain.isel(rdm=slice(0, 5))
    write_derivatives(tmp_path / "bids", {"brain": stack}, pipeline_name="demo")
    assert check_derivatives(tmp_path / "bids") == []
    got = from_bids_derivatives(tmp_path / "bids")
    assert got["region"].values.tolist() == [str(r) for r in stack["region"].values]
    assert got["subject"].values.tolist() == [str(s) for s in stack["subject"].values]
    np.testing.assert_array_equal(got.values, stack.values)


def test_responses_equal_the_source_and_give_the_same_rdms(data_home, tmp_path):
    """V4 responses (Cowley et al.) as .npy with ids in the sidecar and as .tsv with an id column."""
    from scipy.spatial.distance import pdist, squareform

    from neurodecode.analysis.layers import brain_rdms

    resp = datasets.load("cowley_v4", session="210325", part="responses").isel(stimulus=slice(0, 60))
    ids = [str(s) for s in resp["stimulus"].values]
    root = tmp_path / "betas"
    (root / "sub-M1").mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps(DESCRIPTION))
    np.save(root / "sub-M1" / "sub-M1_task-images_desc-V4_beta.npy", resp.values[:, :30])
    (root / "sub-M1" / "sub-M1_task-images_desc-V4_beta.json").write_text(json.dumps({"StimulusIDs": ids}))
    (root / "sub-M2").mkdir()
    half = resp.values[::-1, 30:]  # rows in another order, named in the first column
    lines = ["stimulus_id\t" + "\t".join(f"u{j}" for j in range(half.shape[1]))]
    lines += [ids[::-1][r] + "\t" + "\t".join(repr(float(v)) for v in half[r]) for r in range(half.shape[0])]
    (root / "sub-M2" / "sub-M2_task-images_desc-V4_beta.tsv").write_text("\n".join(lines) + "\n")

    got = from_bids_derivatives(root)  # suffix found: beta
    assert got.attrs["nd_kind"] == "responses" and got.dims == ("stimulus", "neuroid")
    assert got["stimulus"].values.tolist() == ids
    np.testing.assert_array_equal(got.values, resp.values)
    assert got["subject"].values.tolist() == ["M1"] * 30 + ["M2"] * 20
    assert set(got["region"].values.tolist()) == {"V4"} and set(got["task"].values.tolist()) == {"images"}
    rdms = brain_rdms(got, method="correlation")
    for k, (sub, cols) in enumerate((("M1", slice(0, 30)), ("M2", slice(30, 50)))):
        want = squareform(pdist(resp.values[:, cols], "correlation"))  # 1 - Pearson r between stimuli
        np.testing.assert_allclose(rdms.values[k], want, atol=1e-12)
        assert rdms["subject"].values[k] == sub
    with pytest.raises(BadInputError, match="method= applies to RDM files"):
        from_bids_derivatives(root, method="correlation")


def test_nifti_betas_inside_roi_masks(data_home, tmp_path):
    """Per-category beta images (block means of Haxby 2001 run 1, 25 mm) with two ROI masks, as an fMRI lab
    keeps them; the values read equal the masked volumes read with nibabel."""
    import shutil

    import nibabel as nib
    import pandas as pd

    src = data_home / "haxby2001" / "sub001"
    run = src / "BOLD" / "task001_run001"
    if not run.is_dir():
        pytest.skip("haxby2001 not in the data home")
    img = nib.load(run / "bold_25mm.nii.gz")
    bold = np.asarray(img.get_fdata())
    events = pd.read_csv(run / "bold_events.tsv", sep="\t")
    times = np.arange(bold.shape[3]) * 2.5
    cats = sorted(events["trial_type"].unique())
    betas = np.stack([bold[..., np.any([(times >= o) & (times < o + d) for o, d in
                                        events.loc[events["trial_type"] == c, ["onset", "duration"]].to_numpy()],
                                       axis=0)].mean(axis=3) for c in cats], axis=3)
    root = tmp_path / "glm"
    (root / "sub-1" / "func").mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps(DESCRIPTION))
    beta = root / "sub-1" / "func" / "sub-1_task-objectviewing_space-haxby25mm_desc-blocks_beta.nii.gz"
    nib.save(nib.Nifti1Image(betas.astype(np.float32), img.affine), beta)
    beta.with_name(beta.name.replace(".nii.gz", ".json")).write_text(json.dumps({"StimulusIDs": cats}))
    for roi in ("hoc", "gray"):
        shutil.copyfile(src / "masks" / "25mm" / f"{roi}.nii.gz",
                        root / "sub-1" / "func" / f"sub-1_space-haxby25mm_roi-{roi}_mask.nii.gz")

    got = from_bids_derivatives(root)
    assert got["stimulus"].values.tolist() == cats
    stored = np.asarray(nib.load(beta).get_fdata())
    for roi in ("hoc", "gray"):
        inside = np.asarray(nib.load(src / "masks" / "25mm" / f"{roi}.nii.gz").get_fdata()) != 0
        sel = got.sel(neuroid=got["region"].values == roi)
        np.testing.assert_array_equal(sel.values, stored[inside].T)
        assert set(sel["subject"].values.tolist()) == {"1"}
    # a beta that names its region takes only that mask
    beta.rename(beta.with_name(beta.name.replace("desc-blocks", "desc-hoc")))
    beta.with_name(beta.name.replace(".nii.gz", ".json")).rename(
        beta.with_name(beta.name.replace("desc-blocks", "desc-hoc").replace(".nii.gz", ".json")))
    assert set(from_bids_derivatives(root)["region"].values.tolist()) == {"hoc"}
