"""Cichy et al. 2014 fMRI RDMs (EVC, IT; 15 subjects) for the 92 Kriegeskorte images.

The two files are the Algonauts 2019 training RDMs as redistributed by Net2Brain (one ``.npz`` per
region, key ``Net_RDM``, shape (15, 92, 92), 1 - Pearson r between voxel patterns). The images are
the 92 of :mod:`neurodecode.datasets.kriegeskorte`, in the same order (checked on the images when
the data were collected: see the folder's SOURCE.txt), so the stack shares the ``stimulus`` values
and the category coords of ``load("kriegeskorte92", part="images")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError

__all__ = ["REGIONS", "KEY", "N_SUBJECTS", "load_cichy92"]

#: Region name -> file (relative to the dataset folder).
REGIONS: dict[str, str] = {"EVC": "92images_fmri_EVC_RDMs.npz", "IT": "92images_fmri_IT_RDMs.npz"}
#: The array name inside each ``.npz``.
KEY = "Net_RDM"
N_SUBJECTS = 15
_DESCRIPTION = {
    "EVC": "early visual cortex",
    "IT": "inferior temporal cortex",
}


def load_cichy92(paths: Mapping[str, Path], regions: list[str], stimuli: xr.DataArray) -> xr.DataArray:
    """Read the RDM stack of ``regions`` from the verified files.

    Parameters
    ----------
    paths : mapping
        Relative path -> Path, from :func:`neurodecode.datasets.files`.
    regions : list of str
        Keys of :data:`REGIONS`, in the order wanted along ``rdm``.
    stimuli : xarray.DataArray
        Anything on the kriegeskorte92 ``stimulus`` dim (its images): its ``stimulus`` values and
        every coord on ``stimulus`` (``category``, the category flags) are attached to the stack.

    Returns
    -------
    xarray.DataArray
        ``rdm`` stack (15 x len(regions), 92, 92), ``rdm`` labels ``"<region>/<subject>"``,
        coords ``region`` (``EVC`` / ``IT``) and ``subject`` (``"1"`` .. ``"15"``, str) on ``rdm``;
        ``attrs["method"] = "correlation"`` (1 - Pearson r).
    """
    from ..loaders.rdms import read_rdms

    unknown = [r for r in regions if r not in REGIONS]
    if unknown:
        raise BadInputError(f"cichy92_fmri: unknown region(s) {unknown}; available: {list(REGIONS)}.")
    n = stimuli.sizes["stimulus"]
    meta = pd.DataFrame({
        "region": [r for r in regions for _ in range(N_SUBJECTS)],
        "subject": [str(s + 1) for _ in regions for s in range(N_SUBJECTS)],
    })
    ids = [str(v) for v in stimuli["stimulus"].values]
    stack = read_rdms([paths[REGIONS[r]] for r in regions], stimulus_ids=ids, meta=meta,
                      method="correlation", key=KEY)
    if stack.sizes["stimulus"] != n:  # pragma: no cover - read_rdms checks the ids against the rows
        raise BadInputError(f"cichy92_fmri: expected RDMs of {n} stimuli, got {stack.sizes['stimulus']}.")
    values = np.asarray(stimuli["stimulus"].values)
    coords = {"stimulus": values, "stimulus_": values}
    for name, coord in stimuli.coords.items():
        if coord.dims == ("stimulus",) and name not in ("stimulus", "path"):
            coords[str(name)] = ("stimulus", np.asarray(coord.values))
    coords["file"] = ("rdm", np.array([REGIONS[r] for r in stack["region"].values], dtype=object))
    stack = stack.assign_coords(coords)
    stack.attrs = {
        "nd_kind": "rdm",
        "method": "correlation",
        "dataset": "cichy92_fmri",
        "species": "human",
        "source": ", ".join(REGIONS[r] for r in regions),
        "description": (
            "fMRI RDMs (1 - Pearson r) of " + " and ".join(f"{r} ({_DESCRIPTION[r]})" for r in regions)
            + f", {N_SUBJECTS} subjects, 92 images (Cichy et al. 2014; Algonauts 2019 via Net2Brain)"
        ),
    }
    return stack
