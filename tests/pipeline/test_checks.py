"""pipeline.checks helpers: keep_classes."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr

from neurodecode.errors import BadInputError
from neurodecode.pipeline.checks import keep_classes


def _trials(labels):
    return xr.DataArray(np.arange(len(labels) * 2.0).reshape(len(labels), 2), dims=("trial", "channel"),
                        coords={"label": ("trial", np.asarray(labels)), "channel": ["C3", "C4"]})


def test_keep_classes_selects_and_names_missing_classes_as_plain_text():
    data = _trials(["T0", "T1", "T2", "T1"])
    kept = keep_classes(data, "label", np.array(["T1"]), "decode")
    assert kept["label"].values.tolist() == ["T1", "T1"] and kept.values[:, 0].tolist() == [2.0, 6.0]
    with pytest.raises(BadInputError) as err:
        keep_classes(data, "label", np.array(["T1", "T3"]), "decode")  # numpy str scalars, as a config array gives
    assert str(err.value) == "decode: classes ['T3'] not found in 'label'; present: ['T0', 'T1', 'T2']."
    # integer labels: classes compared as text, the message lists plain strings
    ints = _trials([1, 2, 2, 3])
    assert keep_classes(ints, "label", [np.int64(2), 3], "decode")["label"].values.tolist() == [2, 2, 3]
    with pytest.raises(BadInputError, match=re.escape("classes ['4'] not found in 'label'; present: ['1', '2', '3']")):
        keep_classes(ints, "label", [4], "decode", dim="trial")
