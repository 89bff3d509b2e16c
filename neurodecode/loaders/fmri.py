"""fMRI readers: 4-D NIfTI BOLD series to labelled ``bold`` DataArrays and back.

* :func:`read_bold` reads a 4-D NIfTI file (nibabel) into a ``(time, voxel)`` DataArray
  with ``i``/``j``/``k`` voxel indices, the affine and volume shape, the TR, per-volume
  labels from a BIDS-style events table, run labels and confounds.
* :func:`to_nifti` is its exact inverse (voxels outside the mask are zero).
* :func:`read_events_tsv` reads a BIDS ``*_events.tsv`` file into an ``events`` Dataset.
* :func:`extract_rois` averages the signal in regions of interest with nilearn maskers
  (labels image, binary mask(s), spheres around coordinates, or a coordinate atlas).

nibabel and nilearn are imported inside the functions that use them.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._files import sha256_file as _sha256
from .._optional import require
from ..datamodel import make_bold, make_events, validate
from ..errors import BadInputError

__all__ = ["read_bold", "to_nifti", "read_events_tsv", "extract_rois", "events_table", "bold_mask"]

log = logging.getLogger(__name__)

_TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}
ATLASES = ("power2011", "dosenbach2010")


# --------------------------------------------------------------------------- small helpers


def _is_pathlike(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def _load_img(img: Any, what: str = "image"):
    """Return ``(nibabel image, path or None)``; wrap read errors in :class:`BadInputError`."""
    nib = require("nibabel")
    if _is_pathlike(img):
        path = Path(img)
        if not path.is_file():
            raise BadInputError(f"{what} file {str(path)!r} does not exist; check the path.")
        try:
            loaded = nib.load(str(path))
        except Exception as err:  # nibabel raises many types for broken files
            raise BadInputError(
                f"cannot read {what} {str(path)!r} as NIfTI ({type(err).__name__}: {err}); "
                "the file is truncated, corrupt or not a NIfTI image. Re-download or re-export it."
            ) from err
        return loaded, str(path)
    if hasattr(img, "affine") and hasattr(img, "get_fdata") and hasattr(img, "header"):
        filename = img.get_filename() if hasattr(img, "get_filename") else None
        return img, (str(filename) if filename else None)
    raise BadInputError(
        f"{what} must be a file path or a nibabel image, got {type(img).__name__}."
    )


def _get_data(img, path: str | None, dtype, what: str = "image") -> np.ndarray:
    """Read the voxel array, turning truncated/corrupt files into a clear error."""
    try:
        return np.asarray(img.get_fdata(dtype=np.dtype(dtype)))
    except Exception as err:
        where = f" {path!r}" if path else ""
        raise BadInputError(
            f"cannot read the data of {what}{where} ({type(err).__name__}: {err}); the file is "
            "truncated or corrupt (e.g. an interrupted download). Re-download or re-export it."
        ) from err


def _header_tr(img) -> float | None:
    """TR in seconds from the header's pixdim[4] and time units, or None when missing/zero."""
    header = img.header
    zooms = header.get_zooms()
    if len(zooms) < 4:
        return None
    value = float(zooms[3])
    if not np.isfinite(value) or value <= 0:
        return None
    unit = "unknown"
    if hasattr(header, "get_xyzt_units"):
        unit = header.get_xyzt_units()[1]
    return value * _TIME_UNITS.get(unit, 1.0)


def _resolve_tr(img, tr: float | None, path: str | None) -> float:
    header_tr = _header_tr(img)
    if tr is None:
        if header_tr is None:
            raise BadInputError(
                f"the image {path or ''} has no repetition time in its header (pixdim[4] is missing or 0); "
                "pass the TR in seconds explicitly, e.g. read_bold(..., tr=2.0)."
            )
        return header_tr
    tr = float(tr)
    if not np.isfinite(tr) or tr <= 0:
        raise BadInputError(f"tr must be a positive number of seconds, got {tr!r}.")
    if header_tr is not None and abs(header_tr - tr) > 1e-3:
        warnings.warn(
            f"tr={tr} s overrides the header's TR of {header_tr} s.", UserWarning, stacklevel=3
        )
    return tr


def _same_grid(shape_a, affine_a, shape_b, affine_b) -> bool:
    return tuple(shape_a[:3]) == tuple(shape_b[:3]) and np.allclose(affine_a, affine_b, atol=1e-3)


def _mask_array(mask: Any, img, path: str | None, mask_kwargs: Mapping[str, Any] | None = None) -> tuple[np.ndarray, str]:
    """A boolean 3-D mask on the image grid, and a description of where it came from."""
    shape = img.shape[:3]
    if mask is None:
        return np.ones(shape, dtype=bool), "all"
    if isinstance(mask, str) and mask == "epi":
        masking = require("nilearn.masking")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                epi = masking.compute_epi_mask(img, **dict(mask_kwargs or {}))
        except Exception as err:
            raise BadInputError(
                f"nilearn.masking.compute_epi_mask failed on {path or 'the image'} ({err}); "
                "pass an explicit mask image instead."
            ) from err
        arr = np.asarray(epi.get_fdata()) > 0
        if arr.any():  # an empty mask gets the clearer error below instead of nilearn's warning
            for w in caught:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        else:
            raise BadInputError(
                f"nilearn.masking.compute_epi_mask found no brain voxel in {path or 'the image'}; for thin "
                "slabs (few slices) pass mask_kwargs={'opening': 0}, or give an explicit mask image."
            )
        return arr, "epi"
    if isinstance(mask, np.ndarray):
        arr = mask
        if arr.shape != tuple(shape):
            raise BadInputError(
                f"mask array has shape {arr.shape} but the image volume is {tuple(shape)}; "
                "give a boolean array of the volume's shape."
            )
        return np.asarray(arr, dtype=bool), "array"
    mask_img, mask_path = _load_img(mask, "mask")
    mdata = _get_data(mask_img, mask_path, np.float32, "mask")
    if mdata.ndim == 4 and mdata.shape[3] == 1:
        mdata = mdata[..., 0]
    if mdata.ndim != 3 or not _same_grid(mdata.shape, mask_img.affine, shape, img.affine):
        raise BadInputError(
            f"mask {mask_path or ''} does not match the image grid: mask shape {mdata.shape} with affine\n"
            f"{np.round(mask_img.affine, 3)}\nbut image volume shape {tuple(shape)} with affine\n"
            f"{np.round(img.affine, 3)}.\nResample the mask onto the image first, e.g. "
            "nilearn.image.resample_to_img(mask, img, interpolation='nearest')."
        )
    return np.isfinite(mdata) & (mdata != 0), str(mask_path or "image")


def bold_mask(bold: xr.DataArray) -> Any:
    """The boolean mask image (nibabel) of the voxels held by a voxel ``bold`` DataArray."""
    nib = require("nibabel")
    shape = tuple(int(s) for s in np.asarray(bold.attrs["shape"])[:3])
    vol = np.zeros(shape, dtype=np.uint8)
    vol[bold["i"].values, bold["j"].values, bold["k"].values] = 1
    return nib.Nifti1Image(vol, np.asarray(bold.attrs["affine"], dtype=float).reshape(4, 4))


def _json_list(values: Sequence[Any]) -> list:
    out = []
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        out.append(v)
    return out


# --------------------------------------------------------------------------- events


def events_table(
    events: Any, *, label_column: str = "trial_type", what: str = "events"
) -> pd.DataFrame:
    """Normalise an events description into a DataFrame with ``onset``, ``duration``, ``trial_type``.

    Parameters
    ----------
    events : path, DataFrame, dict of lists, or events Dataset
        A BIDS-style TSV file (``onset``, ``duration``, ``trial_type`` columns; ``n/a`` for
        missing values), a DataFrame or mapping with those columns, or a neurodecode
        ``events`` Dataset (its ``label`` becomes ``trial_type``).
    label_column : str
        Column holding the condition names (default ``trial_type``).

    Returns
    -------
    pandas.DataFrame
        Sorted by onset; extra columns are kept.

    Raises
    ------
    BadInputError
        On a missing file, missing columns, or NaN/negative onsets and durations.
    """
    if _is_pathlike(events):
        path = Path(events)
        if not path.is_file():
            raise BadInputError(f"{what} file {str(path)!r} does not exist; check the path.")
        try:
            df = pd.read_csv(path, sep="\t", na_values=["n/a"])
        except Exception as err:
            raise BadInputError(f"cannot read {what} file {str(path)!r} as a TSV table: {err}") from err
    elif isinstance(events, pd.DataFrame):
        df = events.copy()
    elif isinstance(events, xr.Dataset):
        validate(events, "events")
        cols = {n: events[n].values for n in events.data_vars if events[n].dims == ("event",)}
        df = pd.DataFrame(cols)
        if "label" in df and label_column not in df:
            df = df.rename(columns={"label": label_column})
    elif isinstance(events, Mapping):
        try:
            df = pd.DataFrame({k: list(v) for k, v in events.items()})
        except ValueError as err:
            raise BadInputError(f"{what}: the columns of the mapping differ in length ({err}).") from err
    else:
        raise BadInputError(
            f"{what} must be a TSV path, a DataFrame, a dict of lists or an events Dataset, "
            f"got {type(events).__name__}."
        )
    if label_column != "trial_type" and label_column in df:
        df = df.rename(columns={label_column: "trial_type"})
    missing = [c for c in ("onset", "duration", "trial_type") if c not in df.columns]
    if missing:
        raise BadInputError(
            f"{what}: missing column(s) {missing}; got {list(df.columns)}. A BIDS events table needs "
            "onset, duration and trial_type (or name the label column with label_column=...)."
        )
    for col in ("onset", "duration"):
        try:
            df[col] = pd.to_numeric(df[col]).astype(float)
        except (TypeError, ValueError) as err:
            raise BadInputError(f"{what}: column {col!r} must hold numbers ({err}).") from err
        bad = ~np.isfinite(df[col].to_numpy())
        if bad.any():
            raise BadInputError(
                f"{what}: {int(bad.sum())} row(s) have a missing/NaN {col} (first at row "
                f"{int(np.flatnonzero(bad)[0])}); fill them in or drop those rows."
            )
    if (df["duration"] < 0).any():
        raise BadInputError(f"{what}: negative durations at rows {np.flatnonzero(df['duration'] < 0)[:5].tolist()}.")
    if df["trial_type"].isna().any():
        rows = np.flatnonzero(df["trial_type"].isna().to_numpy())[:5].tolist()
        raise BadInputError(
            f"{what}: trial_type is missing (n/a) at rows {rows}; name those events or drop them."
        )
    df["trial_type"] = df["trial_type"].astype(str)
    return df.sort_values("onset", kind="stable").reset_index(drop=True)


def read_events_tsv(path: str | os.PathLike, *, label_column: str = "trial_type"):
    """Read a BIDS-style events TSV into an ``events`` Dataset.

    Parameters
    ----------
    path : path
        Tab-separated file with ``onset`` and ``duration`` in seconds and a label column.
    label_column : str
        The column that becomes ``label`` (default ``trial_type``).

    Returns
    -------
    xarray.Dataset
        ``events`` kind: ``onset``, ``duration``, ``label``, ``code`` on dim ``event``, plus the
        other columns of the file as extra variables; attr ``source``.
    """
    df = events_table(path, label_column=label_column)
    extra = {}
    for col in df.columns:
        if col in ("onset", "duration", "trial_type"):
            continue
        name = f"tsv_{col}" if col in ("label", "code", "event") else str(col)
        values = df[col].to_numpy()
        if values.dtype == object or not np.issubdtype(values.dtype, np.number):
            values = np.array(["n/a" if pd.isna(v) else str(v) for v in values], dtype=object)
        extra[name] = values
    ev = make_events(df["onset"].to_numpy(), df["trial_type"].to_numpy(), df["duration"].to_numpy(), **extra)
    ev.attrs["source"] = str(Path(path))
    return ev


def _volume_labels(df: pd.DataFrame, frame_times: np.ndarray, tr: float, rest_label: str) -> np.ndarray:
    """Label active at each volume's acquisition time (later onsets win where events overlap)."""
    labels = np.full(frame_times.size, rest_label, dtype=object)
    for onset, duration, ttype in zip(df["onset"], df["duration"], df["trial_type"]):
        if duration > 0:
            active = (frame_times >= onset - 1e-9) & (frame_times < onset + duration - 1e-9)
        else:  # an impulse labels the first volume acquired at or after it
            after = np.flatnonzero(frame_times >= onset - 1e-9)
            active = np.zeros(frame_times.size, dtype=bool)
            if after.size:
                active[after[0]] = True
        labels[active] = ttype
    return labels


# --------------------------------------------------------------------------- confounds


def _confounds_frame(confounds: Any, n_time: int) -> pd.DataFrame:
    if _is_pathlike(confounds):
        path = Path(confounds)
        if not path.is_file():
            raise BadInputError(f"confounds file {str(path)!r} does not exist; check the path.")
        try:
            if path.suffix.lower() in (".tsv", ".csv") or path.name.endswith((".tsv.gz", ".csv.gz")):
                sep = "," if ".csv" in path.name.lower() else "\t"
                df = pd.read_csv(path, sep=sep, na_values=["n/a"])
            else:  # plain whitespace-separated numbers without header (e.g. motion estimates)
                arr = np.loadtxt(path, ndmin=2)
                df = pd.DataFrame(arr, columns=[f"c{k}" for k in range(arr.shape[1])])
        except BadInputError:
            raise
        except Exception as err:
            raise BadInputError(f"cannot read confounds file {str(path)!r}: {err}") from err
    elif isinstance(confounds, pd.DataFrame):
        df = confounds.copy()
    else:
        arr = np.asarray(confounds, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise BadInputError(f"confounds must be 1-D or 2-D (time, n_confounds), got shape {arr.shape}.")
        df = pd.DataFrame(arr, columns=[f"c{k}" for k in range(arr.shape[1])])
    if len(df) != n_time:
        raise BadInputError(
            f"confounds have {len(df)} rows but the image has {n_time} volumes; give one row per volume."
        )
    try:
        values = df.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise BadInputError(f"confounds must be numeric; columns {list(df.columns)} ({err}).") from err
    bad = ~np.isfinite(values)
    if bad.any():
        cols = sorted({str(df.columns[c]) for c in np.argwhere(bad)[:, 1]})
        raise BadInputError(
            f"confounds hold {int(bad.sum())} NaN/inf value(s) in column(s) {cols[:5]} (e.g. the first row "
            "of a derivative); fill them (df.fillna(0)) or drop those columns."
        )
    df.columns = [re.sub(r"\W+", "_", str(c)) for c in df.columns]
    return df


# --------------------------------------------------------------------------- read_bold


def read_bold(
    img: Any,
    events: Any = None,
    mask: Any = None,
    *,
    tr: float | None = None,
    run: Any = None,
    subject: str | None = None,
    confounds: Any = None,
    session: str | None = None,
    slice_time_ref: float = 0.0,
    label_column: str = "trial_type",
    rest_label: str = "rest",
    nonfinite: str = "raise",
    dtype: Any = "float32",
    mask_kwargs: Mapping[str, Any] | None = None,
):
    """Read a 4-D NIfTI BOLD series into a ``bold`` DataArray (time, voxel).

    Parameters
    ----------
    img : path or nibabel image
        A 4-D NIfTI image (``.nii`` or ``.nii.gz``).
    events : path, DataFrame, dict of lists or events Dataset, optional
        BIDS-style events (``onset``, ``duration``, ``trial_type``; onsets in seconds from the
        start of the first volume). Adds a per-volume coord ``label`` on ``time`` (the
        trial_type active at each volume's acquisition time, ``rest_label`` otherwise; an
        event of zero duration labels the first volume at or after it) and keeps the table in
        ``attrs["events"]`` as a dict of lists.
    mask : None, path, nibabel image, bool array or ``"epi"``
        ``None`` keeps every voxel of the volume; an image must be on the same grid (shape and
        affine) as ``img``; ``"epi"`` computes one with :func:`nilearn.masking.compute_epi_mask`.
    tr : float, optional
        Repetition time in seconds; default from the header's ``pixdim[4]`` (required when
        the header has none).
    run : int or str, optional
        Run label, stored as coord ``run`` on ``time`` and attr ``run``.
    subject, session : str, optional
        Stored as attrs.
    confounds : path, DataFrame or array (time, n), optional
        Nuisance regressors (e.g. motion estimates); one row per volume. Stored as coords
        ``confound_<name>`` on ``time`` (use them with ``preprocess.fmri.clean(confounds=True)``).
        A ``.tsv``/``.csv`` file is read with its header; other text files as headerless numbers.
    slice_time_ref : float
        Where in the TR each volume is taken to be acquired (0 = start, 0.5 = middle), as in
        nilearn; ``time = (n + slice_time_ref) * tr``.
    label_column : str
        Events column holding the condition names.
    rest_label : str
        Label of volumes outside every event.
    nonfinite : {"raise", "drop"}
        What to do with voxels holding NaN/inf: raise (default) or drop them, listing the
        dropped voxels' (i, j, k) in ``attrs["dropped_voxels"]``.
    dtype : numpy dtype
        Floating type of the returned data (default float32).
    mask_kwargs : dict, optional
        Passed to :func:`nilearn.masking.compute_epi_mask` when ``mask="epi"``.

    Returns
    -------
    xarray.DataArray
        ``bold`` kind with coords ``time`` (s), ``voxel``, ``i``, ``j``, ``k`` and optional
        ``label``/``run``/``confound_*``; attrs ``tr``, ``affine`` (16 floats), ``shape``,
        ``voxel_size``, ``source``, ``sha256``, ``mask``, ``modality``.

    Raises
    ------
    BadInputError
        Missing or truncated file, not 4-D, TR missing, mask on another grid or empty,
        events outside the scan, NaN voxels (with ``nonfinite="raise"``), confounds of the
        wrong length.
    """
    nimg, path = _load_img(img, "BOLD image")
    if len(nimg.shape) != 4:
        raise BadInputError(
            f"the BOLD image {path or ''} has shape {nimg.shape}; a 4-D (x, y, z, time) series is needed. "
            "Stack 3-D volumes with nibabel.funcs.concat_images first."
        )
    if nonfinite not in ("raise", "drop"):
        raise BadInputError(f"nonfinite must be 'raise' or 'drop', got {nonfinite!r}.")
    tr = _resolve_tr(nimg, tr, path)
    n_time = int(nimg.shape[3])
    if n_time < 1:
        raise BadInputError(f"the BOLD image {path or ''} holds no volumes.")
    frame_times = (np.arange(n_time) + float(slice_time_ref)) * tr

    mask_arr, mask_desc = _mask_array(mask, nimg, path, mask_kwargs)
    if not mask_arr.any():
        raise BadInputError(f"the mask ({mask_desc}) selects no voxel; check it overlaps the brain.")
    data = _get_data(nimg, path, dtype, "BOLD image")
    ijk = np.argwhere(mask_arr)
    values = data[mask_arr].T  # (time, voxel), voxels in C order like ijk
    del data

    dropped: list[list[int]] = []
    bad_vox = ~np.isfinite(values).all(axis=0)
    if bad_vox.any():
        first = ijk[np.flatnonzero(bad_vox)[0]].tolist()
        if nonfinite == "raise":
            raise BadInputError(
                f"{int(bad_vox.sum())} voxel(s) of {path or 'the image'} hold NaN/inf values "
                f"(first at i, j, k = {first}). Pass a mask that excludes them, or "
                "nonfinite='drop' to drop those voxels (listed in attrs['dropped_voxels'])."
            )
        dropped = ijk[bad_vox].tolist()
        warnings.warn(
            f"dropped {len(dropped)} voxel(s) holding NaN/inf (first at i, j, k = {first}); "
            "see attrs['dropped_voxels'].",
            UserWarning,
            stacklevel=2,
        )
        values, ijk = values[:, ~bad_vox], ijk[~bad_vox]
        if values.shape[1] == 0:
            raise BadInputError("every selected voxel holds NaN/inf values; nothing is left.")

    coords: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    if events is not None:
        df = events_table(events, label_column=label_column)
        scan_end = n_time * tr
        outside = (df["onset"].to_numpy() < -1e-9) | (df["onset"].to_numpy() >= scan_end - 1e-9)
        if outside.any():
            first = float(df["onset"].to_numpy()[outside][0])
            raise BadInputError(
                f"{int(outside.sum())} event(s) start outside the scan (0 to {scan_end:g} s = {n_time} "
                f"volumes x TR {tr:g} s), first at {first:g} s; the events file belongs to another "
                "run or the TR is wrong (pass tr=...)."
            )
        late = (df["onset"] + df["duration"]).to_numpy() > scan_end + tr
        if late.any():
            warnings.warn(
                f"{int(late.sum())} event(s) last beyond the end of the scan ({scan_end:g} s); "
                "they are cut at the last volume.",
                UserWarning,
                stacklevel=2,
            )
        coords["label"] = ("time", _volume_labels(df, frame_times, tr, rest_label))
        attrs["events"] = {str(c): _json_list(df[c].tolist()) for c in df.columns}
    if run is not None:
        run_value = run.item() if isinstance(run, np.generic) else run
        coords["run"] = ("time", np.full(n_time, run_value, dtype=object if isinstance(run_value, str) else None))
        attrs["run"] = run_value
    if confounds is not None:
        cdf = _confounds_frame(confounds, n_time)
        for col in cdf.columns:
            coords[f"confound_{col}"] = ("time", cdf[col].to_numpy(dtype=float))

    zooms = [float(z) for z in nimg.header.get_zooms()[:3]]
    bold = make_bold(
        values,
        tr,
        ijk=ijk,
        affine=nimg.affine,
        shape=nimg.shape[:3],
        t0=float(slice_time_ref) * tr,
        modality="fmri",
        units="a.u.",
        source=path,
        sha256=_sha256(path) if path else None,
        subject=subject,
        session=session,
        mask=mask_desc,
        voxel_size=np.asarray(zooms, dtype=float),
        slice_time_ref=float(slice_time_ref),
        **attrs,
    )
    if dropped:
        bold.attrs["dropped_voxels"] = dropped
    bold = bold.assign_coords(coords)
    validate(bold, "bold")
    return bold


# --------------------------------------------------------------------------- to_nifti


def to_nifti(bold: xr.DataArray, *, dtype: Any = None):
    """Turn a voxel DataArray back into a NIfTI image (inverse of :func:`read_bold`).

    Parameters
    ----------
    bold : xarray.DataArray
        ``bold`` kind on ``voxel`` with ``i``/``j``/``k`` coords and ``affine``/``shape`` attrs;
        or any voxel map with those coords and attrs on a ``voxel`` or ``neuroid`` dim (a
        searchlight score map, voxel responses ``(trial, neuroid)``...).
    dtype : numpy dtype, optional
        Data type of the image (default: the DataArray's floating type, float32 otherwise).

    Returns
    -------
    nibabel.Nifti1Image
        ``bold``: shape ``shape + (n_time,)``, the original affine, ``pixdim[4]`` = TR (seconds).
        A map with only the voxel dim: a 3-D image; with one other dim: 4-D, that dim last.
        Voxels outside the mask are 0.
    """
    nib = require("nibabel")
    space = next((d for d in ("voxel", "neuroid") if d in bold.dims), None)
    is_bold = "time" in bold.dims and space == "voxel"
    if is_bold:
        validate(bold, "bold")
    if space is None or not all(c in bold.coords and bold[c].dims == (space,) for c in ("i", "j", "k")) or \
            not all(a in bold.attrs for a in ("affine", "shape")):
        raise BadInputError(
            "to_nifti needs voxel data: a 'voxel' (or 'neuroid') dim with i/j/k coords and the affine/shape attrs; "
            f"got dims {tuple(bold.dims)}. ROI signals (time, roi) have no volume to fill: use the nilearn "
            "masker's inverse_transform for those."
        )
    others = [d for d in bold.dims if d != space]
    if len(others) > 1:
        raise BadInputError(f"to_nifti fills a 3-D or 4-D image; dims {tuple(bold.dims)} have more than one "
                            f"dim besides {space!r}: select or average the others first.")
    shape = tuple(int(s) for s in np.asarray(bold.attrs["shape"]).reshape(-1)[:3])
    affine = np.asarray(bold.attrs["affine"], dtype=float).reshape(4, 4)
    i, j, k = (np.asarray(bold[c].values, dtype=np.int64) for c in ("i", "j", "k"))
    ijk = np.stack([i, j, k], axis=1)
    if ijk.size and ((ijk < 0).any() or (ijk >= np.array(shape)).any()):
        raise BadInputError(f"voxel indices fall outside the volume shape {shape}; the i/j/k coords are corrupt.")
    flat = np.ravel_multi_index((i, j, k), shape)
    if np.unique(flat).size != flat.size:
        raise BadInputError("the same voxel (i, j, k) appears more than once; drop the duplicated voxels first.")
    values = np.asarray(bold.transpose(*others, space).values)
    if dtype is None:
        dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float32
    if not others:
        vol = np.zeros(shape, dtype=dtype)
        vol[i, j, k] = values
    else:
        vol = np.zeros(shape + (values.shape[0],), dtype=dtype)
        vol[i, j, k, :] = values.T
    out = nib.Nifti1Image(vol, affine)
    out.header.set_xyzt_units("mm", "sec")
    if is_bold:
        zooms = out.header.get_zooms()[:3]
        out.header.set_zooms(tuple(zooms) + (float(bold.attrs["tr"]),))
    out.header.set_qform(affine, code=1)
    out.header.set_sform(affine, code=1)
    return out


# --------------------------------------------------------------------------- extract_rois


def _atlas_seeds(atlas: str) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    datasets = require("nilearn.datasets")
    key = atlas.lower().replace("_", "").replace("-", "")
    extra: dict[str, np.ndarray] = {}
    if key in ("power2011", "power"):
        bunch = datasets.fetch_coords_power_2011()
        rois = bunch.rois
        seeds = rois[["x", "y", "z"]].to_numpy(dtype=float)
        names = [f"power2011_{int(r):03d}" for r in rois["roi"]]
    elif key in ("dosenbach2010", "dosenbach"):
        bunch = datasets.fetch_coords_dosenbach_2010()
        seeds = bunch.rois[["x", "y", "z"]].to_numpy(dtype=float)
        names = [str(n) for n in bunch.labels]
        extra["network"] = np.asarray([str(n) for n in bunch.networks], dtype=object)
    else:
        raise BadInputError(f"unknown atlas {atlas!r}; known coordinate atlases: {ATLASES}.")
    return seeds, names, extra


def _nonempty_spheres(seeds: np.ndarray, radius: float, grid_img, *, whole: bool) -> np.ndarray:
    """Which spheres hold at least one voxel of ``grid_img`` (nilearn's rule: the voxel
    nearest the centre, or any voxel centre within ``radius``)."""
    shape = grid_img.shape[:3]
    inside = np.ones(shape, dtype=bool) if whole else np.asarray(grid_img.get_fdata()) != 0
    affine = np.asarray(grid_img.affine, dtype=float)
    vox = np.argwhere(inside)
    world = vox @ affine[:3, :3].T + affine[:3, 3]
    inv = np.linalg.inv(affine)
    keep = np.zeros(len(seeds), dtype=bool)
    for n, seed in enumerate(seeds):
        near = np.round(inv[:3, :3] @ seed + inv[:3, 3]).astype(int)
        if (near >= 0).all() and (near < np.array(shape)).all() and inside[tuple(near)]:
            keep[n] = True
        elif world.size and (np.linalg.norm(world - seed, axis=1) <= radius).any():
            keep[n] = True
    return keep


def _label_names(labels: Any, labels_img, region_values: Sequence[Any]) -> list[str]:
    """Names of the extracted regions from a {value: name} mapping or one name per label value."""
    def _num(v):
        v = float(v)
        return int(v) if v.is_integer() else v

    if isinstance(labels, Mapping):
        table = {_num(k): str(v) for k, v in labels.items()}
    else:
        present = np.unique(np.asarray(labels_img.get_fdata()))
        present = [_num(v) for v in present if v != 0 and np.isfinite(v)]
        labels = [str(x) for x in labels]
        if len(labels) != len(present):
            raise BadInputError(
                f"{len(labels)} label names for {len(present)} non-zero label values {present[:10]}; give one name "
                "per value in increasing order, or a {value: name} mapping."
            )
        table = dict(zip(present, labels))
    return [table.get(_num(v), str(_num(v))) for v in region_values]


def _unique_names(names: Sequence[Any]) -> list[str]:
    out, seen = [], {}
    for n in names:
        n = str(n)
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


def _mask_name(mask: Any, default: str) -> str:
    if _is_pathlike(mask):
        name = Path(mask).name
        for suffix in (".nii.gz", ".nii", ".img", ".hdr"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name
    return default


def extract_rois(
    img_or_bold: Any,
    *,
    labels_img: Any = None,
    mask_img: Any = None,
    spheres: Any = None,
    atlas: str | None = None,
    radius: float = 5.0,
    tr: float | None = None,
    labels: Mapping[Any, str] | Sequence[str] | None = None,
    roi_names: Sequence[str] | None = None,
    on_empty: str = "raise",
    **masker_kwargs: Any,
):
    """Average the BOLD signal within regions of interest, through nilearn maskers.

    Exactly one of ``labels_img``, ``spheres`` or ``atlas`` selects the regions; alone,
    ``mask_img`` gives one ROI (the mean over the mask) per mask. Given together with one
    of the others, ``mask_img`` restricts the voxels used.

    Parameters
    ----------
    img_or_bold : path, nibabel image or voxel ``bold`` DataArray
        The 4-D series. For a DataArray, only its voxels are used (its mask restricts the
        masker) and its time coords (``label``, ``run``...) are kept.
    labels_img : path or nibabel image, optional
        Integer labels image (0 = background): :class:`nilearn.maskers.NiftiLabelsMasker`;
        resampled to the data by nilearn (nearest neighbour) when on another grid.
    mask_img : path, nibabel image, or mapping name -> mask, optional
        Binary mask(s): :class:`nilearn.maskers.NiftiMasker`, averaged over voxels.
    spheres : array (n, 3), optional
        Sphere centres in mm (world coordinates of the image's affine):
        :class:`nilearn.maskers.NiftiSpheresMasker` with ``radius``.
    atlas : {"power2011", "dosenbach2010"}, optional
        Coordinate atlas bundled with nilearn (no network needed), used as sphere centres.
    radius : float
        Sphere radius in mm (nilearn takes at least the voxel holding the centre).
    tr : float, optional
        TR in seconds when the image header has none.
    labels : mapping or sequence of str, optional
        Region names: ``{label value: name}``, or one name per non-zero label value of
        ``labels_img`` in increasing order (default: the values as strings, or nilearn's
        names when ``lut=`` is passed).
    roi_names : sequence of str, optional
        Names for the spheres (default ``sphere_000``...; atlas names for atlases).
    on_empty : {"raise", "drop"}
        Spheres holding no voxel of the data (centre outside the field of view or the mask):
        raise (default), or drop them, listing their names in ``attrs["dropped_rois"]``.
    **masker_kwargs
        Passed to the nilearn masker (``standardize``, ``detrend``, ``smoothing_fwhm``,
        ``allow_overlap``, ``high_pass``...); ``standardize`` defaults to None (raw signal).

    Returns
    -------
    xarray.DataArray
        ``bold`` kind (time, roi) with coord ``roi`` (names), ``x``/``y``/``z`` for spheres,
        ``label_value`` for labels, ``n_voxels`` for masks; attrs ``atlas``, ``masker``,
        ``radius`` (spheres), ``tr`` and the input's provenance.
    """
    maskers = require("nilearn.maskers")
    image_mod = require("nilearn.image")
    nib = require("nibabel")
    chosen = [n for n, v in (("labels_img", labels_img), ("spheres", spheres), ("atlas", atlas)) if v is not None]
    if len(chosen) > 1:
        raise BadInputError(f"give only one of labels_img, spheres or atlas; got {chosen}.")
    if not chosen and mask_img is None:
        raise BadInputError("give labels_img, mask_img, spheres or atlas to say which regions to extract.")

    time_coords: dict[str, Any] = {}
    keep_attrs: dict[str, Any] = {}
    if isinstance(img_or_bold, xr.DataArray):
        validate(img_or_bold, "bold")
        if "voxel" not in img_or_bold.dims:
            raise BadInputError("extract_rois needs voxel data (time, voxel); this bold already holds ROIs.")
        img = to_nifti(img_or_bold)
        data_mask = bold_mask(img_or_bold)
        tr_value = float(img_or_bold.attrs["tr"])
        time_values = np.asarray(img_or_bold["time"].values, dtype=float)
        for name, coord in img_or_bold.coords.items():
            if coord.dims == ("time",) and name != "time":
                time_coords[name] = ("time", coord.values)
        keep_attrs = {
            k: v for k, v in img_or_bold.attrs.items()
            if k not in ("affine", "shape", "voxel_size", "nd_kind", "tr", "mask", "dropped_voxels")
        }
        source = img_or_bold.attrs.get("source")
    else:
        img, source = _load_img(img_or_bold, "BOLD image")
        if len(img.shape) != 4:
            raise BadInputError(f"the BOLD image has shape {img.shape}; a 4-D series is needed.")
        # read now (fails early on truncated files) as float: nilearn keeps integer dtypes,
        # which would round the ROI means
        header = img.header.copy()
        header.set_data_dtype(np.float32)
        img = nib.Nifti1Image(_get_data(img, source, np.float32, "BOLD image"), img.affine, header)
        data_mask = None
        tr_value = _resolve_tr(img, tr, source)
        time_values = np.arange(img.shape[3]) * tr_value
        keep_attrs = {"source": source, "sha256": _sha256(source) if source else None}

    kwargs = dict(masker_kwargs)
    kwargs.setdefault("standardize", None)
    kwargs.setdefault("t_r", tr_value)
    roi_coords: dict[str, Any] = {}
    attrs: dict[str, Any] = {}

    def _restrict(user_mask):
        """Combine the user's mask with the DataArray's voxels, on the data grid."""
        if user_mask is None:
            return data_mask
        m_img, m_path = _load_img(user_mask, "mask")
        if not _same_grid(m_img.shape, m_img.affine, img.shape, img.affine):
            m_img = image_mod.resample_to_img(
                m_img, image_mod.index_img(img, 0), interpolation="nearest",
                force_resample=True, copy_header=True,
            )
        arr = np.asarray(m_img.get_fdata()) != 0
        if data_mask is not None:
            arr &= np.asarray(data_mask.get_fdata()) > 0
        if not arr.any():
            raise BadInputError(
                f"the mask {m_path or ''} selects no voxel of the data (after restricting to the "
                "data's own voxels); check that they overlap."
            )
        return nib.Nifti1Image(arr.astype(np.uint8), img.affine)

    try:
        if labels_img is not None:
            l_img, l_path = _load_img(labels_img, "labels image")
            masker = maskers.NiftiLabelsMasker(labels_img=l_img, mask_img=_restrict(mask_img), **kwargs)
            values = masker.fit_transform(img)
            ids = {k: v for k, v in masker.region_ids_.items() if k != "background"}
            order = sorted(ids)
            if labels is None:
                names = [masker.region_names_[k] for k in order]
            else:
                names = _label_names(labels, l_img, [ids[k] for k in order])
            roi = _unique_names(names)
            roi_coords["label_value"] = np.asarray([ids[k] for k in order])
            attrs.update(atlas=f"labels:{l_path or 'image'}", masker="NiftiLabelsMasker")
        elif spheres is not None or atlas is not None:
            extra: dict[str, np.ndarray] = {}
            if atlas is not None:
                seeds, roi, extra = _atlas_seeds(atlas)
                attrs["atlas"] = atlas
            else:
                seeds = np.asarray(spheres, dtype=float)
                if seeds.ndim == 1 and seeds.size == 3:
                    seeds = seeds[None, :]
                if seeds.ndim != 2 or seeds.shape[1] != 3 or not np.isfinite(seeds).all():
                    raise BadInputError(f"spheres must be finite (n, 3) mm coordinates, got shape {seeds.shape}.")
                roi = [f"sphere_{n:03d}" for n in range(seeds.shape[0])]
                attrs["atlas"] = "spheres"
            if roi_names is not None:
                if len(roi_names) != seeds.shape[0]:
                    raise BadInputError(f"{len(roi_names)} roi_names for {seeds.shape[0]} spheres.")
                roi = [str(r) for r in roi_names]
            roi = _unique_names(roi)
            sphere_mask = _restrict(mask_img)
            if on_empty not in ("raise", "drop"):
                raise BadInputError(f"on_empty must be 'raise' or 'drop', got {on_empty!r}.")
            if on_empty == "drop":
                grid = sphere_mask if sphere_mask is not None else image_mod.index_img(img, 0)
                keep = _nonempty_spheres(seeds, float(radius), grid, whole=sphere_mask is None)
                if not keep.any():
                    raise BadInputError("every sphere is empty: no centre lies within the data's voxels.")
                if not keep.all():
                    dropped = [r for r, k in zip(roi, keep) if not k]
                    warnings.warn(
                        f"dropped {len(dropped)} empty sphere(s) outside the data: {dropped[:5]}...; "
                        "see attrs['dropped_rois'].",
                        UserWarning,
                        stacklevel=2,
                    )
                    attrs["dropped_rois"] = dropped
                    seeds, roi = seeds[keep], [r for r, k in zip(roi, keep) if k]
                    extra = {k: v[keep] for k, v in extra.items()}
            masker = maskers.NiftiSpheresMasker(
                seeds=[tuple(s) for s in seeds], radius=float(radius), mask_img=sphere_mask, **kwargs
            )
            values = masker.fit_transform(img)
            roi_coords.update(x=seeds[:, 0], y=seeds[:, 1], z=seeds[:, 2], **extra)
            attrs.update(masker="NiftiSpheresMasker", radius=float(radius))
        else:
            masks = dict(mask_img) if isinstance(mask_img, Mapping) else {_mask_name(mask_img, "mask"): mask_img}
            columns, counts = [], []
            for name, one in masks.items():
                m = _restrict(one)
                masker = maskers.NiftiMasker(mask_img=m, **kwargs)
                vox = masker.fit_transform(img)
                columns.append(vox.mean(axis=1))
                counts.append(vox.shape[1])
            values = np.stack(columns, axis=1)
            roi = _unique_names(list(masks))
            roi_coords["n_voxels"] = np.asarray(counts, dtype=np.int64)
            attrs.update(atlas="mask", masker="NiftiMasker")
    except BadInputError:
        raise
    except ValueError as err:
        hint = ""
        text = str(err)
        if "verlap" in text:
            hint = " Pass allow_overlap=True (spheres larger than the voxel spacing share voxels)."
        elif "empty" in text.lower():
            hint = (
                " Some centres fall outside the data or its mask: pick coordinates inside the "
                "brain/field of view, or pass on_empty='drop' to drop those spheres."
            )
        raise BadInputError(f"nilearn masker failed: {text}.{hint}") from err

    values = np.asarray(values)
    if values.ndim != 2 or values.shape[0] != time_values.size:
        raise BadInputError(f"the masker returned shape {values.shape}; expected ({time_values.size}, n_roi).")
    if not np.isfinite(values).all():
        raise BadInputError(
            "the ROI signals hold NaN/inf values (NaN voxels in the image or an empty region); "
            "mask the bad voxels out (mask_img=...) or read the image with read_bold(nonfinite='drop')."
        )
    out = make_bold(values, tr_value, roi=roi, **{k: v for k, v in keep_attrs.items() if v is not None}, **attrs)
    out = out.assign_coords(time=time_values, **time_coords)
    out = out.assign_coords({k: ("roi", np.asarray(v)) for k, v in roi_coords.items()})
    validate(out, "bold")
    return out
