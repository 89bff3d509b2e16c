"""Read what ``--brain`` accepts: RDM stacks, responses, or EEG/MEG epochs labelled by stimulus.

:func:`read_brain` looks at the file and returns one of three data-model kinds:

==============  =========================================  ============================================
returned kind   from                                       stimulus ids
==============  =========================================  ============================================
``rdm``         ``.npy``/``.npz``/``.mat`` (+ ids), an     ``stimulus`` coord (str), see
                rsatoolbox ``.h5``/``.hdf5``, or a         :func:`~neurodecode.loaders.read_rdms`
                ``.nc``/``.zarr`` RDM stack
``responses``   ``.nc``/``.zarr`` with dims                the ``stimulus`` dim's coord, or a
                (``stimulus`` or ``trial``, ``neuroid``)   ``stimulus`` coord on ``trial`` (str)
``epochs``      ``.nc``/``.zarr`` with dims                a ``stimulus`` coord on ``trial`` (str)
                (``trial``, ``channel``, ``time``)
==============  =========================================  ============================================

Responses get ``region`` and ``subject`` coords on ``neuroid`` when the file has none (region: the
``region`` argument, else the file's stem; subject ``"1"``); epochs get ``attrs["region"]`` and,
without a ``subject`` coord, ``attrs["subject"] = "1"`` the same way. Such defaults are logged and
listed in ``attrs["defaults"]``. The layer-vs-brain library turns responses and epochs into RDMs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError, DataModelError
from ._paths import expand, is_glob
from .rdms import RDM_SUFFIXES, read_rdms

__all__ = ["read_brain", "BRAIN_FORMS"]

log = logging.getLogger(__name__)

#: What ``--brain`` accepts, for error messages and docs.
BRAIN_FORMS = (
    "an RDM stack: .npy/.npz/.mat of shape (n_rdm, n, n) or (n, n) with --stimulus-ids FILE (and optionally "
    "--rdm-meta FILE), an rsatoolbox RDMs .h5/.hdf5 file, or a .nc/.zarr with dims (rdm, stimulus, stimulus_); "
    "responses: a .nc/.zarr with dims (stimulus or trial, neuroid), a 'stimulus' coord, region/subject coords on "
    "neuroid; EEG/MEG epochs: a .nc/.zarr with dims (trial, channel, time) and a 'stimulus' coord on trial"
)
_DATA_SUFFIXES = (".nc", ".zarr")


def _str_ids(values: Any) -> np.ndarray:
    return np.array([str(v) for v in np.asarray(values).tolist()], dtype=object)


def _only_rdm_options(path: Path, what: str, **given: Any) -> None:
    used = sorted(k for k, v in given.items() if v is not None)
    if used:
        raise BadInputError(
            f"{str(path)!r} holds {what}, which carry their own stimulus labels; {', '.join(used)} appl"
            f"{'ies' if len(used) == 1 else 'y'} to RDM files only. Give those options with the RDM files alone."
        )


def _finite(da: xr.DataArray, path: Path) -> None:
    values = np.asarray(da.values)
    if values.dtype.kind not in "biuf":
        raise BadInputError(f"{str(path)!r}: values have dtype {values.dtype}; brain data must be real numbers.")
    bad = ~np.isfinite(values)
    if bad.any():
        loc = dict(zip(da.dims, (int(i) for i in np.argwhere(bad)[0])))
        raise BadInputError(
            f"{str(path)!r} holds {int(bad.sum())} NaN/inf value(s) (first at {loc}); drop or interpolate those "
            "entries (e.g. remove neuroids/channels with missing data) before the comparison."
        )


def _responses(da: xr.DataArray, path: Path, region: str | None) -> xr.DataArray:
    obs = "stimulus" if "stimulus" in da.dims else "trial"
    extra = [d for d in da.dims if d not in (obs, "neuroid")]
    if extra:
        raise BadInputError(
            f"{str(path)!r}: responses must be 2-D ({obs}, neuroid); extra dims {extra}. Average or select along "
            "them first (e.g. a time window) and save the result."
        )
    da = da.transpose(obs, "neuroid")
    if "stimulus" not in da.coords or da["stimulus"].dims != (obs,):
        raise BadInputError(
            f"{str(path)!r}: responses on {obs!r} need a 'stimulus' coord on {obs!r} (the stimulus id of each row) "
            "so that they can be matched with the images; add it with .assign_coords(stimulus=(dim, ids))."
        )
    ids = _str_ids(da["stimulus"].values)
    if obs == "stimulus" and pd.Index(ids).duplicated().any():
        dup = pd.Index(ids)[pd.Index(ids).duplicated()].unique().tolist()
        raise BadInputError(
            f"{str(path)!r}: stimulus ids {dup[:5]} occur more than once on the 'stimulus' dim; name repeated "
            "presentations on a 'trial' dim with a 'stimulus' coord instead."
        )
    _finite(da, path)
    da = da.assign_coords(stimulus=(obs, ids))
    defaults = []
    if "region" in da.coords:
        if region is not None:
            raise BadInputError(f"region={region!r} was given but {str(path)!r} has a 'region' coord; drop region=.")
        da = da.assign_coords(region=(da["region"].dims, _str_ids(da["region"].values)))
    else:
        name = region if region is not None else path.stem
        da = da.assign_coords(region=("neuroid", np.full(da.sizes["neuroid"], name, dtype=object)))
        defaults.append(f"region={name!r}")
    if "subject" in da.coords:
        da = da.assign_coords(subject=(da["subject"].dims, _str_ids(da["subject"].values)))
    else:
        da = da.assign_coords(subject=("neuroid", np.full(da.sizes["neuroid"], "1", dtype=object)))
        defaults.append("subject='1'")
    if defaults:
        log.info("read_brain: %s: no %s coord; set %s on every neuroid.", path,
                 " / ".join(d.split("=")[0] for d in defaults), ", ".join(defaults))
    da.attrs["defaults"] = defaults
    da.attrs["nd_kind"] = "responses"
    return da


def _epochs(da: xr.DataArray, path: Path, region: str | None) -> xr.DataArray:
    if "stimulus" not in da.coords or da["stimulus"].dims != ("trial",):
        raise BadInputError(
            f"{str(path)!r}: epochs need a 'stimulus' coord on 'trial' (the stimulus id of each trial) for "
            "time-resolved RSA; add it with .assign_coords(stimulus=('trial', ids))."
        )
    _finite(da, path)
    da = da.transpose("trial", "channel", "time", ...).assign_coords(stimulus=("trial", _str_ids(da["stimulus"].values)))
    defaults = []
    if "region" in da.attrs and region is not None and da.attrs["region"] != region:
        raise BadInputError(f"region={region!r} was given but {str(path)!r} records region {da.attrs['region']!r}.")
    if "region" not in da.attrs:
        da.attrs["region"] = region if region is not None else path.stem
        defaults.append(f"region={da.attrs['region']!r}")
    if "subject" not in da.coords and "subject" not in da.attrs:
        da.attrs["subject"] = "1"
        defaults.append("subject='1'")
    if defaults:
        log.info("read_brain: %s: epochs without %s; set %s.", path,
                 " / ".join(d.split("=")[0] for d in defaults), ", ".join(defaults))
    da.attrs["defaults"] = defaults
    da.attrs["nd_kind"] = "epochs"
    return da


def _data_file(path: Path, stimulus_ids, meta, region, method, key) -> xr.DataArray:
    from .. import io
    from ..datamodel import validate

    obj = io.open(path, chunks=None)
    if isinstance(obj, xr.Dataset):
        if "signal" in obj.data_vars:
            raise BadInputError(
                f"{str(path)!r} holds a continuous recording; cut it into epochs around the stimulus onsets "
                "(neurodecode.preprocess.eeg.epoch), add a 'stimulus' coord on 'trial', save and pass that file."
            )
        if len(obj.data_vars) != 1:
            raise BadInputError(
                f"{str(path)!r} holds a Dataset with variables {list(obj.data_vars)}; --brain takes one array per "
                f"file. Accepted: {BRAIN_FORMS}."
            )
        var = next(iter(obj.data_vars))
        obj = obj[var].assign_attrs({**obj.attrs, **obj[var].attrs})
    dims = set(obj.dims)
    if {"stimulus", "stimulus_"} <= dims:
        return read_rdms(path, stimulus_ids=stimulus_ids, meta=meta, region=region, method=method, key=key)
    if {"trial", "channel", "time"} <= dims:
        _only_rdm_options(path, "EEG/MEG epochs", stimulus_ids=stimulus_ids, meta=meta, key=key, method=method)
        out = _epochs(obj, path, region)
        kind = "epochs"
    elif "neuroid" in dims and dims & {"stimulus", "trial"}:
        _only_rdm_options(path, "responses", stimulus_ids=stimulus_ids, meta=meta, key=key, method=method)
        out = _responses(obj, path, region)
        kind = "responses"
    else:
        raise BadInputError(f"{str(path)!r} has dims {tuple(obj.dims)}, which --brain does not accept. Accepted: "
                            f"{BRAIN_FORMS}.")
    try:
        validate(out, kind)
    except DataModelError as err:
        raise BadInputError(f"{str(path)!r}: {err}") from err
    return out


def _read_one(path: Path, stimulus_ids, meta, region, method, key) -> xr.DataArray:
    suffix = path.suffix.lower()
    if suffix in _DATA_SUFFIXES:
        return _data_file(path, stimulus_ids, meta, region, method, key)
    if suffix in RDM_SUFFIXES:
        return read_rdms(path, stimulus_ids=stimulus_ids, meta=meta, region=region, method=method, key=key)
    raise BadInputError(f"cannot read brain data from {str(path)!r} (suffix {path.suffix!r}). Accepted: {BRAIN_FORMS}.")


def read_brain(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    stimulus_ids: str | os.PathLike | Sequence[str] | None = None,
    meta: str | os.PathLike | pd.DataFrame | None = None,
    region: str | None = None,
    method: str | None = None,
    key: str | None = None,
) -> xr.DataArray | list[xr.DataArray]:
    """Read brain data for a layer-vs-brain comparison (``--brain FILE``).

    Parameters
    ----------
    path : path, or folder / glob pattern / list of paths
        One file (returns one object) or several (returns a list, one object per file, in
        sorted file order). Accepted forms: see the module docstring and :data:`BRAIN_FORMS`.
    stimulus_ids, meta, key : optional
        For RDM files: see :func:`~neurodecode.loaders.read_rdms` (an error for responses or
        epochs, which carry their own stimulus labels).
    region : str, optional
        Region of data that do not name it (default: the file's stem).
    method : str, optional
        The dissimilarity measure of RDM files (see :func:`~neurodecode.loaders.read_rdms`).

    Returns
    -------
    xarray.DataArray or list of them
        Kind ``rdm``, ``responses`` or ``epochs`` (``attrs["nd_kind"]`` says which).

    Raises
    ------
    BadInputError
        A form that is not accepted (the message lists the accepted ones), NaN/inf values, missing
        stimulus labels, and every error of :func:`~neurodecode.loaders.read_rdms`.
    """
    several = not isinstance(path, (str, os.PathLike)) or (is_glob(path) and not Path(path).exists()) or (
        Path(path).is_dir() and Path(path).suffix.lower() not in _DATA_SUFFIXES
    )
    files, _ = expand(path, extensions=RDM_SUFFIXES, what="brain files")
    out = [_read_one(p, stimulus_ids, meta, region, method, key) for p in files]
    return out if several else out[0]
