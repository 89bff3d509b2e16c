"""Read representational dissimilarity matrices (RDMs) from files into an ``rdm`` stack.

Accepted files (one reader per suffix, in :data:`RDM_READERS`):

======================  ===================================================================
suffix                  content
======================  ===================================================================
``.nc``, ``.zarr``      an RDM stack written by :func:`neurodecode.io.save` (dims ``rdm``,
                        ``stimulus``, ``stimulus_``, or one ``(stimulus, stimulus_)`` RDM)
``.h5``, ``.hdf5``      an :class:`rsatoolbox.rdm.RDMs` saved with ``rdms.save(path,
                        file_type="hdf5")``; read with h5py (no unpickling), converted with
                        :func:`neurodecode.analysis.convert.from_rsatoolbox`
``.npy``                one array
``.npz``                one array, or the one named by ``key`` (Cichy/Net2Brain: ``Net_RDM``)
``.mat``                MATLAB v5/v7 (:func:`scipy.io.loadmat`): the one numeric 2-D/3-D
                        variable, or the one named by ``key``
======================  ===================================================================

Bare arrays (``.npy``, ``.npz``, ``.mat``) may be shaped ``(n_rdm, n, n)``, ``(n, n)`` or hold
condensed upper triangles ``(n_rdm, n*(n-1)/2)`` / ``(n*(n-1)/2,)`` in
:func:`scipy.spatial.distance.squareform` order. ``.mat`` files may also use MATLAB's usual
``(n, n, n_rdm)`` layout (a cube ``(n, n, n)`` is read as ``(n_rdm, n, n)`` unless only the other
reading gives symmetric matrices). Bare arrays carry no stimulus ids: pass ``stimulus_ids``.

Conventions of the returned stack:

* ``stimulus`` / ``stimulus_`` coords: the ids as **str** (from the file, or ``stimulus_ids``);
* ``rdm`` coord: a unique str label per RDM (the file's labels, a ``rdm`` column of ``meta``, or
  ``"<region>/<subject>"``, more meta values appended when needed);
* coords on ``rdm``: ``region`` (str), ``subject`` (str), ``file`` (str, the file it came from)
  and every other column of ``meta`` / descriptor of the file. Without metadata, every RDM of a
  file is one subject, numbered ``"1"``, ``"2"``, ... in file order, of one region named after
  the file's stem (or ``region``);
* ``attrs``: ``nd_kind="rdm"``, ``method`` (``"unknown"`` when neither the file nor ``method``
  says), ``source``.

Values are checked (finite, symmetric within ``1e-6 x max |value|``, zero diagonal); rounding-level
asymmetries are averaged out, so the returned matrices are exactly symmetric.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError
from ._paths import expand

__all__ = ["read_rdms", "read_stimulus_ids", "RDM_SUFFIXES", "check_rdm_values"]

log = logging.getLogger(__name__)

_STIM_HINT = (
    "pass --stimulus-ids FILE (stimulus_ids=FILE in Python/YAML): a text file with one stimulus id per line, "
    "in the order of the matrix rows (e.g. the image names without suffix, such as faces/face01)"
)
_RESERVED = ("stimulus", "stimulus_")


@dataclass
class _Part:
    """The RDMs of one file before metadata are attached (private)."""

    path: Path
    mats: np.ndarray  # (k, n, n) float64, checked
    ids: np.ndarray  # (n,) str
    labels: np.ndarray | None = None  # (k,) str from the file, None when unlabelled
    coords: dict[str, np.ndarray] = field(default_factory=dict)  # on rdm, from the file
    stim_coords: dict[str, np.ndarray] = field(default_factory=dict)
    method: str | None = None


# --------------------------------------------------------------------------- stimulus ids


def read_stimulus_ids(stimulus_ids: str | os.PathLike | Sequence[Any]) -> np.ndarray:
    """Stimulus ids as a str array, from a text file (one per line) or a sequence.

    Lines are stripped of surrounding whitespace; blank lines are skipped.

    Raises
    ------
    BadInputError
        Missing or empty file, duplicated ids (with their line numbers).
    """
    if isinstance(stimulus_ids, (str, os.PathLike)):
        path = Path(stimulus_ids)
        if not path.is_file():
            raise BadInputError(f"stimulus id file {str(path)!r} does not exist; {_STIM_HINT}.")
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError as err:
            raise BadInputError(f"stimulus id file {str(path)!r} is not UTF-8 text ({err}); {_STIM_HINT}.") from err
        pairs = [(n + 1, line.strip()) for n, line in enumerate(lines) if line.strip()]
        where = f"stimulus id file {str(path)!r}"
    else:
        try:
            values = list(stimulus_ids)
        except TypeError as err:
            raise BadInputError(f"stimulus_ids must be a file path or a list of ids, got {stimulus_ids!r}.") from err
        pairs = [(n + 1, str(v).strip()) for n, v in enumerate(values)]
        where = "stimulus_ids"
    if not pairs:
        raise BadInputError(f"{where} holds no id; {_STIM_HINT}.")
    first: dict[str, int] = {}
    dups = []
    for line, value in pairs:
        if value in first:
            dups.append(f"{value!r} (lines {first[value]} and {line})")
        else:
            first[value] = line
    if dups:
        raise BadInputError(f"{where}: duplicated stimulus ids {', '.join(dups[:5])}; each row needs its own id.")
    return np.array([v for _, v in pairs], dtype=object)


def _str_array(values: Any) -> np.ndarray:
    return np.array([str(v) for v in np.asarray(values).reshape(-1).tolist()], dtype=object)


def _is_default_index(values: Any) -> bool:
    arr = np.asarray(values)
    return arr.dtype.kind in "iu" and np.array_equal(arr, np.arange(arr.size))


# --------------------------------------------------------------------------- value checks


def check_rdm_values(mats: np.ndarray, where: str, labels: Sequence[Any] | None = None,
                     ids: Sequence[Any] | None = None) -> np.ndarray:
    """Check a ``(k, n, n)`` float stack and return it exactly symmetric with a zero diagonal.

    Parameters
    ----------
    mats : array (k, n, n)
    where : str
        Names the file (or object) in error messages.
    labels, ids : sequences, optional
        RDM labels and stimulus ids, to name the offending entry.

    Raises
    ------
    BadInputError
        NaN/inf, non-symmetric matrices (beyond ``1e-6 x max |value|``), a non-zero diagonal
        (the message says ``pass 1 - S`` when the diagonal is about 1, as for similarities).
    """
    def name(r: int) -> str:
        return f"RDM {r}" + (f" ({labels[r]})" if labels is not None else "")

    def pair(i: int, j: int) -> str:
        return f"[{i}, {j}]" + (f" (stimuli {ids[i]!r}, {ids[j]!r})" if ids is not None else "")

    bad = ~np.isfinite(mats)
    if bad.any():
        r, i, j = (int(v) for v in np.argwhere(bad)[0])
        raise BadInputError(
            f"{where}: {name(r)} holds {int(bad.sum())} NaN/inf value(s), first at {pair(i, j)} = {mats[r, i, j]}. "
            "RDMs must be complete: drop the stimuli with missing dissimilarities (and their ids) or fill them."
        )
    scale = max(float(np.abs(mats).max(initial=0.0)), 1e-12)
    tol = 1e-6 * scale
    asym = np.abs(mats - mats.transpose(0, 2, 1))
    if asym.max(initial=0.0) > tol:
        r, i, j = (int(v) for v in np.unravel_index(int(np.argmax(asym)), asym.shape))
        raise BadInputError(
            f"{where}: {name(r)} is not symmetric: {pair(i, j)} = {mats[r, i, j]:.6g} but [{j}, {i}] = "
            f"{mats[r, j, i]:.6g}. An RDM holds one dissimilarity per pair of stimuli; check the file's layout "
            "(rows = columns = stimuli) or symmetrise with (M + M.T) / 2 if the asymmetry is noise."
        )
    diag = np.diagonal(mats, axis1=1, axis2=2)
    if np.abs(diag).max(initial=0.0) > tol:
        r, i = (int(v) for v in np.argwhere(np.abs(diag) > tol)[0])
        if np.all(np.abs(diag - 1.0) < 0.05):
            raise BadInputError(
                f"{where}: the diagonal is about 1 (e.g. {name(r)} [{i}, {i}] = {diag[r, i]:.4g}): this looks like "
                "a similarity matrix (e.g. correlations), not dissimilarities; pass 1 - S (e.g. "
                "np.save(path, 1 - S))."
            )
        raise BadInputError(
            f"{where}: {name(r)} has a non-zero diagonal ([{i}, {i}] = {diag[r, i]:.4g}); the dissimilarity of a "
            "stimulus with itself must be 0. If the file holds similarities pass 1 - S; otherwise set the "
            "diagonal to 0."
        )
    out = (mats + mats.transpose(0, 2, 1)) / 2.0
    idx = np.arange(out.shape[1])
    out[:, idx, idx] = 0.0
    return out


# --------------------------------------------------------------------------- bare arrays


def _symmetric(mats: np.ndarray) -> bool:
    scale = max(float(np.abs(mats).max(initial=0.0)), 1e-12)
    return bool(np.allclose(mats, mats.transpose(0, 2, 1), rtol=0.0, atol=1e-6 * scale))


def _to_stack(arr: np.ndarray, path: Path, n_ids: int | None, *, matlab: bool) -> np.ndarray:
    """A bare array as (k, n, n) float64 (square or condensed input)."""
    if arr.dtype.kind not in "biuf":
        raise BadInputError(
            f"{str(path)!r}: the RDM array has dtype {arr.dtype}; RDMs must be real numbers."
        )
    arr = np.asarray(arr, dtype=np.float64)
    shape = arr.shape
    if arr.ndim == 2 and shape[0] == shape[1]:
        return arr[None]
    if arr.ndim == 3:
        a, b, c = shape
        first_ok, last_ok = b == c, matlab and a == b
        if first_ok and last_ok:
            last = np.moveaxis(arr, -1, 0)
            if not _symmetric(arr) and _symmetric(last):
                log.info("read_rdms: %s: cube %s read as MATLAB (n, n, n_rdm) layout.", path, shape)
                return np.ascontiguousarray(last)
            return arr
        if first_ok:
            return arr
        if last_ok:
            log.info("read_rdms: %s: array %s read as MATLAB (n, n, n_rdm) layout.", path, shape)
            return np.ascontiguousarray(np.moveaxis(arr, -1, 0))
    if n_ids is not None and n_ids >= 2:
        m = n_ids * (n_ids - 1) // 2
        vecs = None
        if arr.ndim == 1 and shape[0] == m:
            vecs = arr[None]
        elif arr.ndim == 2 and shape[1] == m:
            vecs = arr
        if vecs is not None:
            from scipy.spatial.distance import squareform

            log.info("read_rdms: %s: %s read as condensed upper triangles of %d stimuli.", path, shape, n_ids)
            return np.stack([squareform(v, checks=False) for v in vecs])
    layouts = "(n_rdm, n, n), (n, n)" + (", (n, n, n_rdm)" if matlab else "") + (
        ", or condensed (n_rdm, n*(n-1)/2)" if n_ids else "")
    raise BadInputError(
        f"{str(path)!r}: an array of shape {shape} is not an RDM stack"
        + (f" of the {n_ids} stimulus ids given" if n_ids else "")
        + f"; accepted layouts: {layouts}. If these are responses (stimuli x neuroids), save them as .nc with dims "
        "(stimulus, neuroid) (neurodecode.datamodel.make_responses + neurodecode.io.save) and pass that file."
    )


def _pick(arrays: dict[str, Any], key: str | None, path: Path, kind: str) -> tuple[str, np.ndarray]:
    if key is not None:
        if key not in arrays:
            raise BadInputError(f"{str(path)!r} has no array {key!r}; its arrays: {sorted(arrays)}.")
        return key, np.asarray(arrays[key])
    if len(arrays) == 1:
        name = next(iter(arrays))
        return name, np.asarray(arrays[name])
    listing = ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in arrays.items()) or "none"
    raise BadInputError(
        f"{str(path)!r} holds {'no' if not arrays else 'several'} numeric array(s) ({listing}); "
        + (f"pass key=NAME to choose the {kind} holding the RDMs." if arrays else f"it is not an RDM {kind} file.")
    )


def _npy(path: Path, key: str | None) -> np.ndarray:
    if key is not None:
        raise BadInputError(f"key={key!r} applies to .npz and .mat files; {str(path)!r} is a .npy file (one array).")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:  # object arrays need pickle: refused
        raise BadInputError(
            f"cannot read {str(path)!r} without unpickling ({err}); save a numeric array (np.save(path, x.astype(float)))."
        ) from err
    except (OSError, EOFError) as err:
        raise BadInputError(f"cannot read {str(path)!r} as a .npy file ({err}); the file is truncated or not a .npy.") from err


def _npz(path: Path, key: str | None) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except ValueError as err:
        raise BadInputError(
            f"cannot read {str(path)!r} without unpickling ({err}); save numeric arrays with np.savez."
        ) from err
    except (OSError, EOFError, KeyError) as err:
        raise BadInputError(f"cannot read {str(path)!r} as a .npz file ({err}); the file is truncated or not a .npz.") from err
    return _pick(arrays, key, path, "array")[1]


def _mat(path: Path, key: str | None) -> np.ndarray:
    from scipy.io import loadmat

    try:
        content = loadmat(str(path))
    except NotImplementedError as err:  # MATLAB v7.3 (HDF5)
        raise BadInputError(
            f"{str(path)!r} is a MATLAB v7.3 file ({err}); re-save it with save(..., '-v7') or export the RDMs to .npy."
        ) from err
    except Exception as err:  # scipy raises ValueError/TypeError/OSError for bad files
        raise BadInputError(f"cannot read {str(path)!r} as a MATLAB file ({err}); the file is truncated or not a .mat.") from err
    arrays = {
        k: v for k, v in content.items()
        if not k.startswith("__") and isinstance(v, np.ndarray) and v.dtype.kind in "biuf" and v.ndim in (1, 2, 3)
        and v.size > 1
    }
    if key is not None and key in content and key not in arrays:
        raise BadInputError(
            f"{str(path)!r}: variable {key!r} is not a numeric 1-3-D array (it is {type(content[key]).__name__} "
            f"{getattr(content[key], 'dtype', '')}); export the RDMs as a numeric array."
        )
    return _pick(arrays, key, path, "variable")[1]


_ARRAY_READERS: dict[str, Callable[[Path, str | None], np.ndarray]] = {".npy": _npy, ".npz": _npz, ".mat": _mat}


# --------------------------------------------------------------------------- labelled files


def _part_from_dataarray(da: xr.DataArray, path: Path) -> _Part:
    """An RDM DataArray (from a data-model file) as an unchecked :class:`_Part`."""
    if set(da.dims) == {"stimulus", "stimulus_"}:
        da = da.expand_dims("rdm")
    if set(da.dims) != {"rdm", "stimulus", "stimulus_"}:
        raise BadInputError(
            f"{str(path)!r} holds an array with dims {tuple(da.dims)}, not an RDM stack (rdm, stimulus, stimulus_). "
            "Responses or epochs go to read_brain (--brain), which turns them into RDMs."
        )
    da = da.transpose("rdm", "stimulus", "stimulus_")
    if da.dtype.kind not in "biuf":
        raise BadInputError(f"{str(path)!r}: RDM values have dtype {da.dtype}; they must be real numbers.")
    ids = None
    if "stimulus" in da.coords:
        ids = np.asarray(da["stimulus"].values)
        if "stimulus_" in da.coords and not np.array_equal(_str_array(ids), _str_array(da["stimulus_"].values)):
            raise BadInputError(
                f"{str(path)!r}: the 'stimulus' and 'stimulus_' labels differ; both dims of an RDM must list the "
                "same stimuli in the same order."
            )
    elif "stimulus_" in da.coords:
        ids = np.asarray(da["stimulus_"].values)
    labels = None
    if "rdm" in da.coords and not _is_default_index(da["rdm"].values):
        labels = _str_array(da["rdm"].values)
    coords = {str(k): np.asarray(v.values) for k, v in da.coords.items() if v.dims == ("rdm",) and k != "rdm"}
    stim_coords = {str(k): np.asarray(v.values) for k, v in da.coords.items()
                   if v.dims == ("stimulus",) and k != "stimulus"}
    method = da.attrs.get("method")
    return _Part(path, np.asarray(da.values, dtype=np.float64), ids, labels, coords, stim_coords,
                 None if method in (None, "unknown", "None") else str(method))


def _netcdf(path: Path) -> _Part:
    from .. import io

    obj = io.open(path, chunks=None)
    if isinstance(obj, xr.Dataset):
        rdm_vars = [k for k, v in obj.data_vars.items() if {"stimulus", "stimulus_"} <= set(v.dims)]
        if len(rdm_vars) != 1:
            raise BadInputError(
                f"{str(path)!r} holds a Dataset with variables {list(obj.data_vars)}; expected one RDM stack "
                "(rdm, stimulus, stimulus_). Save the stack on its own with neurodecode.io.save(stack, path)."
            )
        obj = obj[rdm_vars[0]].assign_attrs({**obj.attrs, **obj[rdm_vars[0]].attrs})
    return _part_from_dataarray(obj, path)


def _rsatoolbox_hdf5(path: Path) -> _Part:
    # rsatoolbox's hdf5 format: datasets and attributes read with h5py (numbers and strings);
    # rsatoolbox.io.hdf5.read_dict_hdf5 never unpickles (only the .pkl format does).
    from rsatoolbox.io.hdf5 import read_dict_hdf5
    from rsatoolbox.rdm.rdms import rdms_from_dict

    from ..analysis.convert import from_rsatoolbox  # analysis sits right of loaders: imported here, lazily

    try:
        with open(path, "rb") as fh:
            content = read_dict_hdf5(fh)
    except (OSError, ValueError) as err:
        raise BadInputError(f"cannot read {str(path)!r} as HDF5 ({err}); the file is truncated or not HDF5.") from err
    missing = [k for k in ("dissimilarities", "rdm_descriptors", "pattern_descriptors") if k not in content]
    if missing:
        raise BadInputError(
            f"{str(path)!r} is HDF5 but not an rsatoolbox RDMs file (no {missing}; found {sorted(content)}). Save "
            "RDMs with rsatoolbox's rdms.save(path, file_type='hdf5'), or as .nc with neurodecode.io.save."
        )
    content.setdefault("descriptors", {})
    content.setdefault("dissimilarity_measure", None)
    try:
        rdms = rdms_from_dict(content)
    except Exception as err:  # rsatoolbox raises plain ValueError/TypeError/KeyError on malformed content
        raise BadInputError(f"{str(path)!r}: malformed rsatoolbox RDMs ({type(err).__name__}: {err}).") from err
    labelled = any(k in rdms.pattern_descriptors for k in ("stimulus", "conds"))
    da = from_rsatoolbox(rdms)
    part = _part_from_dataarray(da, path)
    if not labelled:
        part.ids = None
    part.coords.pop("index", None)
    return part


_LABELLED_READERS: dict[str, Callable[[Path], _Part]] = {
    ".nc": _netcdf, ".zarr": _netcdf, ".h5": _rsatoolbox_hdf5, ".hdf5": _rsatoolbox_hdf5,
}
#: Suffixes read by :func:`read_rdms`.
RDM_SUFFIXES = tuple(sorted({*_ARRAY_READERS, *_LABELLED_READERS}))


# --------------------------------------------------------------------------- one file


def _read_file(path: Path, ids: np.ndarray | None, key: str | None) -> _Part:
    suffix = path.suffix.lower()
    if suffix in _ARRAY_READERS:
        arr = _ARRAY_READERS[suffix](path, key)
        if ids is None:
            raise BadInputError(
                f"{str(path)!r} holds bare arrays {tuple(arr.shape)} without stimulus ids; {_STIM_HINT}."
            )
        mats = _to_stack(arr, path, len(ids), matlab=suffix == ".mat")
        part = _Part(path, mats, ids)
    elif suffix in _LABELLED_READERS:
        if key is not None:
            raise BadInputError(f"key={key!r} applies to .npz and .mat files, not to {str(path)!r}.")
        part = _LABELLED_READERS[suffix](path)
        if part.ids is None or _is_default_index(part.ids):
            if ids is not None:
                if part.ids is not None:
                    log.info("read_rdms: %s: unlabelled stimuli (0..n-1) named with the stimulus_ids given.", path)
                part.ids = ids
            elif part.ids is None:
                raise BadInputError(f"{str(path)!r} has no stimulus labels; {_STIM_HINT}.")
            else:
                part.ids = _str_array(part.ids)
        else:
            file_ids = _str_array(part.ids)
            if ids is not None and not np.array_equal(file_ids, ids) and set(file_ids.tolist()) == set(ids.tolist()):
                order = pd.Index(file_ids).get_indexer(ids)
                part.mats = part.mats[:, order][:, :, order]
                part.stim_coords = {k: v[order] for k, v in part.stim_coords.items()}
                file_ids = ids
                log.info("read_rdms: %s: stimuli reordered to the order of the stimulus_ids given.", path)
            if ids is not None and not np.array_equal(file_ids, ids):
                raise BadInputError(
                    f"{str(path)!r} labels its stimuli itself (e.g. {list(file_ids[:3])}) and they differ from the "
                    f"stimulus_ids given (e.g. {list(ids[:3])}); drop stimulus_ids, or fix the ids in the file."
                )
            part.ids = file_ids
    else:
        raise BadInputError(
            f"cannot read RDMs from {str(path)!r}: unknown suffix {path.suffix!r}; accepted: {', '.join(RDM_SUFFIXES)} "
            "(see neurodecode.loaders.read_rdms)."
        )
    n = part.mats.shape[1]
    if part.mats.shape[2] != n:
        raise BadInputError(f"{str(path)!r}: RDMs must be square, got shape {part.mats.shape}.")
    if part.mats.shape[0] == 0:
        raise BadInputError(f"{str(path)!r} holds no RDM (the stack is empty).")
    if len(part.ids) != n:
        raise BadInputError(
            f"{str(path)!r} holds RDMs of {n} stimuli ({'x'.join(map(str, part.mats.shape))}) but "
            f"{len(part.ids)} stimulus ids were given; the id list needs one id per matrix row, in row order."
        )
    dup = pd.Index(part.ids)[pd.Index(part.ids).duplicated()].unique().tolist()
    if dup:
        raise BadInputError(f"{str(path)!r}: duplicated stimulus ids {dup[:5]}; each row needs its own id.")
    part.mats = check_rdm_values(part.mats, repr(str(path)), part.labels, part.ids)
    return part


# --------------------------------------------------------------------------- metadata


def _meta_frame(meta: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    if isinstance(meta, pd.DataFrame):
        df = meta.reset_index(drop=True).copy()
    else:
        from .tables import read_table

        df = read_table(meta)
    df.columns = [str(c) for c in df.columns]
    reserved = [c for c in df.columns if c in _RESERVED]
    if reserved:
        raise BadInputError(
            f"RDM metadata columns {reserved} are reserved (stimuli are the matrix rows); rename them."
        )
    return df


def _meta_values(values: pd.Series, as_str: bool) -> np.ndarray:
    if as_str or values.dtype == object or pd.api.types.is_string_dtype(values):
        out = []
        for v in values.tolist():
            if v is None or (isinstance(v, float) and np.isnan(v)):
                out.append("")
            elif isinstance(v, float) and v.is_integer():
                out.append(str(int(v)))
            else:
                out.append(str(v))
        return np.array(out, dtype=object)
    return values.to_numpy()


def _fill(values: list[np.ndarray | None], sizes: list[int]) -> np.ndarray:
    """Concatenate per-part coord values; parts without the coord get "" (str) or NaN (numbers)."""
    kinds = {v.dtype.kind for v in values if v is not None}
    textual = bool(kinds & {"O", "U", "S"}) or not kinds
    out = []
    for v, k in zip(values, sizes):
        if v is None:
            out.append(np.full(k, "", dtype=object) if textual else np.full(k, np.nan))
        else:
            out.append(_str_array(v) if textual else v)
    return np.concatenate(out)


# --------------------------------------------------------------------------- entry point


def read_rdms(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    stimulus_ids: str | os.PathLike | Sequence[str] | None = None,
    meta: str | os.PathLike | pd.DataFrame | None = None,
    region: str | None = None,
    method: str | None = None,
    key: str | None = None,
) -> xr.DataArray:
    """Read RDM files into one ``(rdm, stimulus, stimulus_)`` float64 stack.

    Parameters
    ----------
    path : path, glob pattern, folder or list of paths
        RDM file(s); the accepted formats are listed in the module docstring. Several files are
        stacked along ``rdm`` in (sorted) file order; they must cover the same stimuli (the
        stimulus order of the first file is kept; others are reordered to it).
    stimulus_ids : path or list of str, optional
        The stimulus id of each matrix row: a text file with one id per line (blank lines and
        surrounding whitespace ignored) or a list. Required for ``.npy`` / ``.npz`` / ``.mat``
        and for files without stimulus labels; must name the same stimuli as a labelled file
        (which is then reordered to this order).
    meta : path or DataFrame, optional
        One row per RDM (over all files, in order) of a CSV/TSV table (read with
        :func:`~neurodecode.loaders.read_table`); each column becomes a coord on ``rdm``
        (``subject`` and ``region`` as str; a ``rdm`` column gives the labels).
    region : str, optional
        The region of RDMs that do not say (default: the file's stem). Conflicts with a
        ``region`` column or coord.
    method : str, optional
        How the dissimilarities were computed (``attrs["method"]``, e.g. ``"correlation"`` for
        1 - Pearson r); must agree with a method recorded in the file.
    key : str, optional
        The array (``.npz``) or variable (``.mat``) to read when the file holds several.

    Returns
    -------
    xarray.DataArray
        Kind ``rdm``; see the module docstring for the coords and attrs.

    Raises
    ------
    BadInputError
        Each naming the file and the fix: unknown suffix; bare arrays without ``stimulus_ids``;
        an id list that does not fit the matrices; duplicated ids; non-square arrays;
        non-symmetric matrices; a non-zero diagonal (``pass 1 - S`` for similarities); NaN/inf;
        ``meta`` rows not matching the number of RDMs; conflicting ``region`` / ``method``.
    """
    from ..datamodel import validate

    files, _ = expand(path, extensions=RDM_SUFFIXES, what="RDM files")
    ids = read_stimulus_ids(stimulus_ids) if stimulus_ids is not None else None
    parts = [_read_file(p, ids, key) for p in files]

    first = parts[0]
    for part in parts[1:]:
        if np.array_equal(part.ids, first.ids):
            continue
        if set(part.ids.tolist()) == set(first.ids.tolist()):
            order = pd.Index(part.ids).get_indexer(first.ids)
            part.mats = part.mats[:, order][:, :, order]
            part.ids = first.ids
            log.info("read_rdms: %s reordered to the stimulus order of %s.", part.path, first.path)
            continue
        only_first = [i for i in first.ids if i not in set(part.ids.tolist())][:3]
        only_part = [i for i in part.ids if i not in set(first.ids.tolist())][:3]
        raise BadInputError(
            f"{str(first.path)!r} and {str(part.path)!r} cover different stimuli ({len(first.ids)} vs {len(part.ids)}; "
            f"e.g. only in the first: {only_first}, only in the second: {only_part}); read them separately "
            "(one --brain per file) to compare each on the stimuli it has."
        )

    methods = {p.method for p in parts if p.method is not None}
    if len(methods) > 1:
        raise BadInputError(f"the RDM files use different methods {sorted(methods)}; read them separately.")
    if method is not None and methods and method not in methods:
        raise BadInputError(
            f"method={method!r} but {', '.join(str(p.path) for p in parts if p.method)} record(s) method "
            f"{methods.pop()!r}; drop method= or fix the file."
        )
    final_method = method or (methods.pop() if methods else "unknown")

    sizes = [p.mats.shape[0] for p in parts]
    total = sum(sizes)
    meta_df = _meta_frame(meta) if meta is not None else None
    if meta_df is not None and len(meta_df) != total:
        raise BadInputError(
            f"the RDM metadata {meta if not isinstance(meta, pd.DataFrame) else '(DataFrame)'} has {len(meta_df)} "
            f"row(s) but {', '.join(str(p.path) for p in parts)} hold {total} RDM(s) ({' + '.join(map(str, sizes))}); "
            "write one row per RDM, in file order."
        )

    names: list[str] = []
    for p in parts:
        names += [n for n in p.coords if n not in names]
    if meta_df is not None:
        names += [c for c in meta_df.columns if c not in names and c != "rdm"]
    for must in ("region", "subject"):
        if must not in names:
            names.append(must)

    per_coord: dict[str, list[np.ndarray | None]] = {n: [] for n in names}
    labels_parts: list[np.ndarray] = []
    start = 0
    for p, k in zip(parts, sizes):
        rows = meta_df.iloc[start:start + k] if meta_df is not None else None
        start += k
        clash = sorted(set(p.coords) & set(rows.columns)) if rows is not None else []
        if clash:
            raise BadInputError(
                f"{str(p.path)!r} already records {clash} for its RDMs and the metadata table gives them again; "
                "drop those columns from the table."
            )
        have = dict(p.coords)
        if rows is not None:
            for c in rows.columns:
                if c != "rdm":
                    have[c] = _meta_values(rows[c], c in ("region", "subject"))
        if "region" in have:
            if region is not None:
                raise BadInputError(
                    f"region={region!r} was given but {str(p.path)!r} (or its metadata) already names the region of "
                    "each RDM; drop region=."
                )
        else:
            have["region"] = np.full(k, region if region is not None else p.path.stem, dtype=object)
            if meta_df is None and not p.coords:
                log.info("read_rdms: %s: no metadata; %d RDM(s) read as subjects 1..%d of region %r.",
                         p.path, k, k, have["region"][0])
        if "subject" not in have:
            have["subject"] = np.array([str(i + 1) for i in range(k)], dtype=object)
            if meta_df is not None or p.coords:
                log.warning("read_rdms: %s: no 'subject' in the metadata; RDMs numbered as subjects 1..%d.", p.path, k)
        have["region"] = _str_array(have["region"])
        have["subject"] = _str_array(have["subject"])
        for n in names:
            per_coord[n].append(have.get(n))
        if rows is not None and "rdm" in rows.columns:
            labels_parts.append(_str_array(rows["rdm"].to_numpy()))
        elif p.labels is not None:
            labels_parts.append(p.labels)
        else:
            extra = [n for n in names if n not in ("region", "subject") and n in have]
            labels_parts.append(np.array(
                ["/".join([have["region"][r], have["subject"][r]] + [str(have[n][r]) for n in extra]) for r in range(k)],
                dtype=object,
            ))

    labels = np.concatenate(labels_parts)
    if pd.Index(labels).duplicated().any() and len(parts) > 1:
        labels = np.concatenate([
            np.array([f"{p.path.stem}:{lab}" for lab in lp], dtype=object) for p, lp in zip(parts, labels_parts)
        ])
    dup = pd.Index(labels)[pd.Index(labels).duplicated()].unique().tolist()
    if dup:
        raise BadInputError(
            f"RDM labels {dup[:5]} occur more than once in {', '.join(str(p.path) for p in parts)}; give the metadata "
            "a column that tells those RDMs apart (e.g. session) or a unique 'rdm' column."
        )

    coords: dict[str, Any] = {"rdm": labels, "stimulus": first.ids, "stimulus_": first.ids}
    for n in names:
        coords[n] = ("rdm", _fill(per_coord[n], sizes))
    coords["file"] = ("rdm", np.concatenate([np.full(k, str(p.path), dtype=object) for p, k in zip(parts, sizes)]))
    for n, v in first.stim_coords.items():
        if n not in coords:
            coords[n] = ("stimulus", v)
    da = xr.DataArray(np.concatenate([p.mats for p in parts]), dims=("rdm", "stimulus", "stimulus_"),
                      coords=coords, name="rdm")
    da.attrs.update({
        "nd_kind": "rdm",
        "method": final_method,
        "source": str(files[0]) if len(files) == 1 else [str(p) for p in files],
    })
    validate(da, "rdm")
    return da
