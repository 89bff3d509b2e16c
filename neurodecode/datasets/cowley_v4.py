"""Cowley, Stan, Pillow & Smith (2023): macaque V4 multi-unit spike counts to natural images.

Three recording sessions of the ``cowleygroup/V4_compact_models`` repository (GPL-3.0; the files
stay in the data home, never in this repository):

======== ====== ======= ======= ====================================================
session  monkey units   images  repeats
======== ====== ======= ======= ====================================================
190923   WE     33      1200    14 (repeat-averaged only)
201025   PE     89      1200    12 (repeat-averaged only)
210325   PE     50      640     6-10 per image (single repeats kept: ``part="trials"``)
======== ====== ======= ======= ====================================================

Responses are spike counts in a 100 ms bin. Images are 112 x 112 RGB JPEGs inside one zip per
session (190923's zip has a top-level folder, the others not; the names ending in ``.jpg`` are
taken in sorted order: ``image0001.jpg`` is response column 0). Stimulus ids are
``"<session>/image0001"`` so that images of different sessions never share an id.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import BadInputError, DatasetError

__all__ = ["SESSIONS", "PARTS", "session_files", "load_cowley_v4"]

#: session -> (monkey, number of units, number of images, repeats per image)
SESSIONS: dict[str, tuple[str, int, int, int]] = {
    "190923": ("WE", 33, 1200, 14),
    "201025": ("PE", 89, 1200, 12),
    "210325": ("PE", 50, 640, 8),
}
#: what ``load("cowley_v4", part=...)`` returns
PARTS = ("responses", "trials", "images")
_WITH_TRIALS = ("210325",)


def session_files(session: str, part: str) -> list[str]:
    """Relative paths (in the dataset folder) needed for one part of one session."""
    if session not in SESSIONS:
        raise BadInputError(f"cowley_v4: unknown session {session!r}; available: {list(SESSIONS)}.")
    if part not in PARTS:
        raise BadInputError(f"cowley_v4: part must be one of {PARTS}, got {part!r}.")
    if part == "trials" and session not in _WITH_TRIALS:
        raise BadInputError(
            f"cowley_v4: single-repeat responses exist only for session(s) {list(_WITH_TRIALS)}; session {session} "
            "has repeat-averaged responses only (part='responses')."
        )
    return {
        "responses": [f"responses_repeat_averaged/responses_{session}.npy"],
        "trials": [f"responses_raw/responses_{session}.npy"],
        "images": [f"images/images_{session}.zip"],
    }[part]


def _ids(session: str, n: int) -> np.ndarray:
    return np.array([f"{session}/image{i + 1:04d}" for i in range(n)], dtype=object)


def _coords(session: str, n_units: int, n_images: int) -> dict:
    return {
        "stimulus": _ids(session, n_images),
        "neuroid": np.array([f"{session}/unit{j:02d}" for j in range(n_units)], dtype=object),
        "region": ("neuroid", np.array(["V4"] * n_units, dtype=object)),
    }


def _attrs(session: str) -> dict:
    monkey = SESSIONS[session][0]
    return {"dataset": "cowley_v4", "session": session, "monkey": monkey, "species": "macaque",
            "units": "spike count per 100 ms bin", "region": "V4"}


def _read_npy(path: Path, ndim: int, what: str) -> np.ndarray:
    arr = np.load(path, allow_pickle=False)
    if arr.ndim != ndim:
        raise DatasetError(f"cowley_v4: {what} {path.name} has {arr.ndim} dims, expected {ndim}; the file is not the "
                           "one the card describes.")
    return np.asarray(arr, dtype=np.float64)


def load_cowley_v4(paths: Mapping[str, Path], session: str, part: str) -> xr.DataArray:
    """Read one part of one session from the verified files.

    Returns
    -------
    xarray.DataArray
        ``part="responses"``: (stimulus, neuroid) repeat-averaged spike counts (``responses`` kind);
        ``part="trials"``: (trial, neuroid) single-repeat spike counts with ``stimulus`` and
        ``repeat`` coords on ``trial`` (the NaN padding of images shown fewer times is dropped);
        ``part="images"``: (stimulus, y, x, rgb) uint8 images. Neuroid coords ``neuroid``
        (``"<session>/unitNN"``) and ``region`` (``"V4"``); attrs ``dataset``, ``session``,
        ``monkey``, ``units``.
    """
    rel = session_files(session, part)[0]
    _, n_units, n_images, _ = SESSIONS[session]
    if part == "responses":
        arr = _read_npy(paths[rel], 2, "responses")  # (unit, image)
        if arr.shape != (n_units, n_images):
            raise DatasetError(f"cowley_v4: {rel} has shape {arr.shape}, expected {(n_units, n_images)}.")
        da = xr.DataArray(arr.T, dims=("stimulus", "neuroid"), coords=_coords(session, n_units, n_images),
                          name="responses")
        da.attrs.update({"nd_kind": "responses", **_attrs(session), "averaged": "over repeats"})
        return da
    if part == "trials":
        raw = _read_npy(paths[rel], 3, "raw responses")  # (unit, image, repeat), NaN-padded
        if raw.shape[:2] != (n_units, n_images):
            raise DatasetError(f"cowley_v4: {rel} has shape {raw.shape}, expected ({n_units}, {n_images}, repeats).")
        present = ~np.isnan(raw).all(axis=0)  # (image, repeat)
        partial = np.isnan(raw).any(axis=0) & present
        if partial.any():
            raise DatasetError(f"cowley_v4: {rel} has repeats missing for some units only; unexpected file content.")
        img, rep = np.nonzero(present)  # image-major order
        values = raw[:, img, rep].T  # (trial, unit)
        coords = _coords(session, n_units, n_images)
        stim = coords.pop("stimulus")
        da = xr.DataArray(values, dims=("trial", "neuroid"), coords={
            **coords, "trial": np.arange(len(img)), "stimulus": ("trial", stim[img]), "repeat": ("trial", rep)},
            name="responses")
        da.attrs.update({"nd_kind": "responses", **_attrs(session)})
        return da
    from PIL import Image

    with zipfile.ZipFile(paths[rel]) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith(".jpg"))
        if len(names) != n_images:
            raise DatasetError(f"cowley_v4: {rel} holds {len(names)} jpg files, expected {n_images}.")
        imgs = []
        for name in names:
            with Image.open(io.BytesIO(zf.read(name))) as im:
                imgs.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    shapes = {a.shape for a in imgs}
    if len(shapes) != 1:
        raise DatasetError(f"cowley_v4: the images of {rel} have different sizes {sorted(shapes)}.")
    da = xr.DataArray(np.stack(imgs), dims=("stimulus", "y", "x", "rgb"),
                      coords={"stimulus": _ids(session, n_images), "rgb": ["r", "g", "b"],
                              "file": ("stimulus", np.array([Path(n).name for n in names], dtype=object))},
                      name="images")
    da.attrs.update({"dataset": "cowley_v4", "session": session})
    return da
