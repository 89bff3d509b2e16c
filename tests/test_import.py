"""`import neurodecode` (and its light sub-packages) must not import heavy dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "mne", "nilearn", "diffusers", "dask", "pynwb", "matplotlib", "nibabel", "sklearn", "numba",
         "rsatoolbox")

SCRIPT = """
import json, sys
import {module}
heavy = {heavy!r}
loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set(heavy))
print(json.dumps(loaded))
"""


@pytest.mark.parametrize(
    "module",
    [
        "neurodecode",
        "neurodecode.datamodel",
        "neurodecode.io",
        "neurodecode.loaders",
        "neurodecode.preprocess",
        "neurodecode.cli",
        "neurodecode.datasets",
        "neurodecode.pipeline",
        "neurodecode.report",
        "neurodecode.analysis",
        "neurodecode.models",
        "neurodecode.encoders",
        "neurodecode.train",
        "neurodecode.generative",
    ],
)
def test_import_stays_light(module):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(module=module, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"`import {module}` pulled in heavy modules {loaded}"


def test_lazy_attributes_resolve():
    import neurodecode

    assert callable(neurodecode.validate)
    assert neurodecode.io.save is not None
    with pytest.raises(AttributeError):
        neurodecode.not_a_thing  # noqa: B018
