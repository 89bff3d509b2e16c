"""Read a folder, glob or list of image files into a labelled ``(stimulus, y, x, rgb)`` array.

The stimulus id of an image is its path relative to the folder (for a glob: to the folder before
the first wildcard; for a list: to the files' common parent folder), without the suffix and with
``/`` separators: ``faces/face01`` for ``stimuli/faces/face01.png`` read from ``stimuli/``.

Decisions taken while reading are logged (logger ``neurodecode.loaders.images``, a child of
``neurodecode.loaders``) and recorded in the returned array's attrs:

* images that are not RGB are converted: greyscale (``L``, ``1``, 16-bit ``I;16`` scaled by
  1/257) is copied to the three channels; images with transparency (``RGBA``, ``LA``, ``PA``,
  palette images with a transparent colour) are composited on **white**; palette, CMYK and
  other modes are converted with PIL. ``attrs["converted"]``: one ``"id: MODE -> RGB (how)"``
  entry per image.
* an EXIF orientation tag (photos from cameras and phones) is applied, so the array looks like
  the image does in a viewer; recorded in the same list.
* sizes: with ``size`` given, every image is brought to that size; without it, images of mixed
  sizes are brought to the **most common size** (ties: the larger area). Resizing keeps the
  aspect ratio: the image is scaled (bicubic) until it covers the target, then the centre is
  cropped. ``attrs["resized"]``: one ``"id: HxW -> HxW"`` entry per resized image.

:func:`open_image` is the one image-file reader of the toolkit
(:func:`neurodecode.models.load_images` and :func:`neurodecode.models.preprocess` use it too).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..errors import BadInputError
from ._paths import expand, relative_id

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as _PILImage

__all__ = ["read_images", "read_stimuli", "open_image", "fit_image", "IMAGE_EXTENSIONS", "IMAGE_DIMS"]

log = logging.getLogger(__name__)

#: Suffixes (lower case) picked up from a folder or a glob.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Dims of an image array.
IMAGE_DIMS = ("stimulus", "y", "x", "rgb")
_DATA_SUFFIXES = (".nc", ".zarr")
_GREY = {"L", "1"}
_WIDE_GREY = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


def _composite_on_white(img: _PILImage.Image) -> _PILImage.Image:
    from PIL import Image

    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _to_rgb(img: _PILImage.Image) -> tuple[_PILImage.Image, str | None]:
    """``img`` as RGB and a description of the conversion (None when it was RGB already)."""
    from PIL import Image

    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img.copy(), None  # a copy: the caller closes the file's image
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        return _composite_on_white(img), f"{mode} -> RGB (transparency composited on white)"
    if mode in _GREY:
        return img.convert("RGB"), f"{mode} -> RGB (greyscale copied to r, g, b)"
    if mode in _WIDE_GREY:
        arr = np.asarray(img, dtype=np.float64)
        grey = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=-1), mode="RGB"), (
            f"{mode} -> RGB (16-bit greyscale scaled by 1/257)"
        )
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise BadInputError("floating-point image holds NaN/inf")
        scale = 255.0 if arr.max(initial=0.0) <= 1.0 else 1.0
        grey = np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=-1), mode="RGB"), (
            f"F -> RGB (float greyscale{' in [0, 1] scaled by 255' if scale != 1.0 else ''}, clipped to 0..255)"
        )
    return img.convert("RGB"), f"{mode} -> RGB"


def open_image(path: str | os.PathLike) -> tuple[_PILImage.Image, list[str]]:
    """Read one image file as an RGB PIL image.

    Parameters
    ----------
    path : path-like
        An image file PIL can read.

    Returns
    -------
    image : PIL.Image.Image
        Mode ``RGB``, fully decoded; the file is closed.
    notes : list of str
        What was done to it (EXIF rotation, mode conversion); empty for a plain RGB image.

    Raises
    ------
    BadInputError
        The file does not exist, is truncated, or is not an image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"image file {str(p)!r} does not exist; check the path.")
    notes: list[str] = []
    try:
        with Image.open(p) as img:
            img.load()
            orientation = img.getexif().get(0x0112, 1)
            if orientation not in (None, 1):
                img = ImageOps.exif_transpose(img)
                notes.append(f"EXIF orientation {orientation} applied")
            rgb, note = _to_rgb(img)
            rgb.load()
    except Image.DecompressionBombError as err:
        raise BadInputError(
            f"image {str(p)!r} is too large to read safely ({err}); downscale it first."
        ) from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, BadInputError) as err:
        raise BadInputError(
            f"cannot read image {str(p)!r} ({err}); the file is truncated or not an image. "
            "Re-export or remove it."
        ) from err
    if note:
        notes.append(note)
    return rgb, notes


def _size_arg(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if np.isscalar(size):
        h = w = int(size)  # type: ignore[arg-type]
    else:
        vals = list(size)  # type: ignore[arg-type]
        if len(vals) != 2:
            raise BadInputError(f"size must be one number or (height, width), got {size!r}.")
        h, w = int(vals[0]), int(vals[1])
    if h < 1 or w < 1:
        raise BadInputError(f"size must be positive (height, width) in pixels, got {size!r}.")
    return h, w


def fit_image(img: _PILImage.Image, size: tuple[int, int]) -> _PILImage.Image:
    """Scale ``img`` (bicubic, aspect ratio kept) to cover ``size`` = (height, width), then centre-crop.

    An image of exactly that size is returned unchanged.
    """
    from PIL import Image

    h, w = size
    iw, ih = img.size
    if (ih, iw) == (h, w):
        return img
    scale = max(h / ih, w / iw)
    new_w, new_h = max(w, round(iw * scale)), max(h, round(ih * scale))
    resized = img.resize((new_w, new_h), Image.BICUBIC)
    left, top = (new_w - w) // 2, (new_h - h) // 2
    return resized.crop((left, top, left + w, top + h))


def _common_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    counts = Counter(sizes)
    return max(counts, key=lambda s: (counts[s], s[0] * s[1], s))


def _summary(entries: list[str], limit: int = 5) -> str:
    more = f", ... ({len(entries)} in all)" if len(entries) > limit else ""
    return "; ".join(entries[:limit]) + more


def _is_data_file(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in _DATA_SUFFIXES


def _str_ids(values: Any, where: str) -> np.ndarray:
    ids = np.array([str(v) for v in np.asarray(values).tolist()], dtype=object)
    counts = Counter(ids.tolist())
    dup = sorted(i for i, c in counts.items() if c > 1)
    if dup:
        raise BadInputError(f"{where}: stimulus ids {dup[:5]} occur more than once; ids must be unique.")
    return ids


def _open_data(path: Path) -> Any:
    from .. import io

    obj = io.open(path, chunks=None)
    if isinstance(obj, xr.Dataset):
        if len(obj.data_vars) != 1:
            raise BadInputError(
                f"{str(path)!r} holds a Dataset with variables {list(obj.data_vars)}; save the one array "
                "to read (an image array (stimulus, y, x, rgb)) on its own."
            )
        obj = obj[next(iter(obj.data_vars))]
    return obj


def _images_from_array(da: xr.DataArray, path: Path, size: tuple[int, int] | None) -> xr.DataArray:
    from PIL import Image

    if set(da.dims) != set(IMAGE_DIMS):
        raise BadInputError(
            f"{str(path)!r} holds an array with dims {tuple(da.dims)}; an image array needs dims {IMAGE_DIMS} "
            "(uint8 RGB). Read other data with a stimulus dim with read_stimuli() or neurodecode.io.open()."
        )
    da = da.transpose(*IMAGE_DIMS)
    if da.sizes["rgb"] != 3 or da.dtype != np.uint8:
        raise BadInputError(
            f"{str(path)!r}: images must be uint8 with 3 colour channels on 'rgb', got dtype {da.dtype} and "
            f"{da.sizes['rgb']} channel(s); convert with (x * 255).round().astype('uint8') for floats in [0, 1]."
        )
    ids = _str_ids(da["stimulus"].values if "stimulus" in da.coords else np.arange(da.sizes["stimulus"]),
                   str(path))
    da = da.assign_coords(stimulus=ids, rgb=np.array(["r", "g", "b"], dtype=object))
    if size is not None and (da.sizes["y"], da.sizes["x"]) != size:
        old = (da.sizes["y"], da.sizes["x"])
        arr = np.stack([np.asarray(fit_image(Image.fromarray(np.asarray(im), mode="RGB"), size)) for im in da.values])
        coords = {k: v for k, v in da.coords.items() if set(v.dims) <= {"stimulus", "rgb"}}
        da = xr.DataArray(arr, dims=IMAGE_DIMS, coords=coords, name=da.name, attrs=dict(da.attrs))
        da.attrs["resized"] = [f"all: {old[0]}x{old[1]} -> {size[0]}x{size[1]}"]
        log.warning("read_images: %s resized from %dx%d to %dx%d (cover, centre crop).", path, *old, *size)
    da.name = "images"
    da.attrs.setdefault("source", str(path))
    return da


def read_images(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    size: int | tuple[int, int] | None = None,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
) -> xr.DataArray:
    """Read image files into a ``(stimulus, y, x, rgb)`` uint8 DataArray.

    Parameters
    ----------
    source : folder, glob pattern, list of files, or ``.nc`` / ``.zarr`` file
        A folder is searched recursively (hidden files and folders skipped) for files with a suffix
        in ``extensions``; a glob pattern (``"stimuli/**/*.png"``) keeps the matched files with
        such a suffix; a list is read as given. A ``.nc`` / ``.zarr`` file written by
        :func:`neurodecode.io.save` holding an image array is opened and checked.
    size : int or (height, width), optional
        Bring every image to this size. Default: keep the size when all images share it,
        otherwise use the most common size (see the module docstring for the rule).
    extensions : sequence of str
        Suffixes (case-insensitive) picked from a folder or glob.

    Returns
    -------
    xarray.DataArray
        Named ``images``, uint8, dims ``(stimulus, y, x, rgb)``. Coords: ``stimulus`` (str ids:
        relative path without suffix, ``/``-separated, e.g. ``faces/face01``), ``path`` (str, on
        ``stimulus``), ``rgb`` (``r``, ``g``, ``b``) and, when some images lie in sub-folders,
        ``category`` (str, on ``stimulus``: the first sub-folder's name; ``""`` for images at the
        top level). Attrs: ``source``, ``root`` (the folder ids are relative to), ``converted``
        and ``resized`` (lists of str, possibly empty), ``size_rule``.

    Raises
    ------
    BadInputError
        Missing path; no image found (the message says what was looked for); two files giving the
        same id (``face01.png`` and ``face01.jpg``: both named); an unreadable or truncated
        image (named); a bad ``size``.

    Examples
    --------
    >>> imgs = read_images("stimuli/")                  # doctest: +SKIP
    >>> imgs = read_images("stimuli/**/*.jpg", size=224)  # doctest: +SKIP
    """
    target = _size_arg(size)
    exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    if _is_data_file(source):
        path = Path(source)  # type: ignore[arg-type]
        if not path.exists():
            raise BadInputError(f"{str(path)!r} does not exist; check the path.")
        return _images_from_array(_open_data(path), path, target)
    files, root = expand(source, extensions=exts, what="image files")
    ids = [relative_id(p, root) for p in files]
    by_id: dict[str, list[Path]] = {}
    for i, p in zip(ids, files):
        by_id.setdefault(i, []).append(p)
    dups = {i: ps for i, ps in by_id.items() if len(ps) > 1}
    if dups:
        listing = "; ".join(f"{i!r}: {', '.join(str(p) for p in ps)}" for i, ps in list(dups.items())[:5])
        raise BadInputError(
            f"{len(dups)} stimulus id(s) come from more than one file ({listing}). The id is the path "
            "without its suffix, so each image needs a unique name: rename or remove one file of each pair."
        )

    images, converted = [], []
    for i, p in zip(ids, files):
        img, notes = open_image(p)
        images.append(np.asarray(img, dtype=np.uint8))  # now, while the decoded image is in the cache
        converted += [f"{i}: {n}" for n in notes]
    if converted:
        log.warning("read_images: %d conversion(s) to upright RGB: %s", len(converted), _summary(converted))

    sizes = [im.shape[:2] for im in images]
    if target is not None:
        rule = f"size={target[0]}x{target[1]} (given): scaled to cover, centre-cropped"
    elif len(set(sizes)) > 1:
        target = _common_size(sizes)
        rule = f"mixed sizes: most common size {target[0]}x{target[1]}; others scaled to cover, centre-cropped"
    else:
        target = sizes[0]
        rule = "all images share one size"
    resized = []
    for k, (i, im, s) in enumerate(zip(ids, images, sizes)):
        if s != target:
            from PIL import Image

            images[k] = np.asarray(fit_image(Image.fromarray(im, mode="RGB"), target), dtype=np.uint8)
            resized.append(f"{i}: {s[0]}x{s[1]} -> {target[0]}x{target[1]}")
    if resized:
        log.warning("read_images: %s; resized %d image(s): %s", rule, len(resized), _summary(resized))

    data = np.stack(images)
    coords: dict[str, Any] = {
        "stimulus": np.array(ids, dtype=object),
        "path": ("stimulus", np.array([str(p) for p in files], dtype=object)),
        "rgb": np.array(["r", "g", "b"], dtype=object),
    }
    parts = [i.split("/") for i in ids]
    if any(len(pp) > 1 for pp in parts):
        coords["category"] = ("stimulus", np.array([pp[0] if len(pp) > 1 else "" for pp in parts], dtype=object))
    da = xr.DataArray(data, dims=IMAGE_DIMS, coords=coords, name="images")
    da.attrs.update({
        "description": "RGB images (uint8)",
        "source": os.fspath(source) if isinstance(source, (str, os.PathLike)) else str(root),
        "root": str(root),
        "converted": converted,
        "resized": resized,
        "size_rule": rule,
    })
    return da


def read_stimuli(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    size: int | tuple[int, int] | None = None,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
) -> xr.DataArray | xr.Dataset:
    """Read what ``--stimuli`` accepts: image files, or a neurodecode ``.nc`` / ``.zarr`` with a ``stimulus`` dim.

    Parameters
    ----------
    source : folder, glob pattern, list of image files, or ``.nc`` / ``.zarr`` file
        Image files are read with :func:`read_images`. A data file is opened with
        :func:`neurodecode.io.open`: an image array is checked like :func:`read_images` does;
        anything else must have a ``stimulus`` dim (e.g. saved activations) and is returned as
        it is, with its stimulus ids as str.
    size, extensions
        As for :func:`read_images` (``size`` applies to images only).

    Raises
    ------
    BadInputError
        See :func:`read_images`; a data file without a ``stimulus`` dim.
    """
    if not _is_data_file(source):
        return read_images(source, size=size, extensions=extensions)
    path = Path(source)  # type: ignore[arg-type]
    if not path.exists():
        raise BadInputError(f"{str(path)!r} does not exist; check the path.")
    from .. import io

    obj = io.open(path, chunks=None)
    if isinstance(obj, xr.Dataset) and len(obj.data_vars) == 1:
        only = obj[next(iter(obj.data_vars))]
        if set(only.dims) == set(IMAGE_DIMS):
            obj = only
    if isinstance(obj, xr.DataArray) and set(obj.dims) == set(IMAGE_DIMS):
        return _images_from_array(obj, path, _size_arg(size))
    if "stimulus" not in obj.dims:
        raise BadInputError(
            f"{str(path)!r} has dims {tuple(obj.dims)} but no 'stimulus' dim; --stimuli takes image files, "
            "an image array (stimulus, y, x, rgb) or data with a 'stimulus' dim (e.g. saved activations)."
        )
    ids = _str_ids(obj["stimulus"].values if "stimulus" in obj.coords else np.arange(obj.sizes["stimulus"]),
                   str(path))
    return obj.assign_coords(stimulus=ids)
