"""decoding.searchlight op: a pipeline on real Haxby runs (files given as a user would) writes the map,
its table and figure; the map equals the library call on the same block responses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml


@pytest.fixture(scope="module")
def run_out(data_home, tmp_path_factory):
    from neurodecode.pipeline import run

    tmp = tmp_path_factory.mktemp("searchlight")
    raw = {
        "name": "haxby_searchlight_subset",
        "data": {"dataset": "haxby2001", "select": {"resolution": "1slice", "run": [1, 2, 3, 4]}},
        "steps": [
            {"id": "mask", "op": "fmri.mask_intensity", "params": {"keep_fraction": 0.6}},
            {"id": "clean", "op": "fmri.clean", "params": {"detrend": False, "standardize": "zscore", "runs": "run"}},
            {"id": "blocks", "op": "fmri.block_responses", "params": {"shift": 5.0, "runs": "run"}},
            {"id": "sl", "op": "decoding.searchlight",
             "params": {"classes": ["face", "house", "cat", "shoe"], "radius": 6.0, "cv": "run"}},
        ],
        "outputs": {"save": ["blocks"], "report": False},
    }
    cfg = tmp / "searchlight.yaml"
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    return run(cfg, tmp / "out", progress=False), tmp / "out"


def test_op_map_equals_library_and_writes_outputs(run_out):
    from neurodecode import decoding
    from neurodecode.loaders import to_nifti

    res, out = run_out
    blocks = res.open("blocks")
    keep = np.isin(blocks["label"].values.astype(str), ["face", "house", "cat", "shoe"])
    fh = blocks.isel(trial=np.flatnonzero(keep))
    ref = decoding.searchlight(fh, "label", "lda", cv="run", radius=6.0, progress=False)
    table = pd.read_csv(next((out / "tables").glob("sl*searchlight*.csv")))
    assert len(table) == len(ref) == blocks.sizes["neuroid"]
    merged = table.merge(pd.DataFrame({"i": ref.i.values, "j": ref.j.values, "ref": ref.values}), on=["i", "j"])
    np.testing.assert_allclose(merged["score"], merged["ref"], atol=1e-12)
    assert res.metrics["sl.best"] == pytest.approx(float(ref.max()))
    assert res.metrics["sl.chance"] == pytest.approx(0.25)  # 4 classes: balanced accuracy
    assert to_nifti(ref).shape == (40, 20, 1)
