"""Image loading and network preprocessing with PIL and numpy (no torchvision).

Conventions of :func:`preprocess` (the usual ImageNet evaluation transform):

1. resize so that the *shorter* side is ``round(size / crop)`` pixels, keeping the aspect ratio
   (PIL bicubic resampling, as in the TensorFlow EfficientNet evaluation code);
2. cut the central ``size x size`` square (``crop=0.875`` gives the classic 256 -> 224);
3. scale to [0, 1] (uint8 / 255);
4. normalise each channel: ``(x - mean) / std``;
5. return a float32 ``(n, 3, size, size)`` torch tensor (NCHW).

The defaults are those of EfficientNet-Lite (:data:`~neurodecode.models.zoo.LITE_MEAN`,
:data:`~neurodecode.models.zoo.LITE_STD`: 127/255 and 128/255, i.e. pixels mapped to about
[-1, 1]); models trained with the torchvision statistics need ``mean=IMAGENET_MEAN,
std=IMAGENET_STD``. A zoo model carries its own settings in ``model.nd_preprocessing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..errors import BadInputError
from .zoo import LITE_MEAN, LITE_STD

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["preprocess", "load_images", "IMAGE_SUFFIXES"]

#: File suffixes picked up when :func:`load_images` is given a folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_IMAGE_DIMS = ("stimulus", "y", "x", "rgb")


def _open_rgb(path) -> Any:
    # the toolkit's one image-file reader (RGB conversion rules: neurodecode.loaders.images)
    from ..loaders.images import open_image

    return open_image(path)[0]


def _as_image_list(images) -> tuple[list[Any], str]:
    """Split the accepted inputs into a list of per-image items and say what they are.

    Returns (items, kind) with kind "uint8" (HxWx3 arrays), "float" (HxWx3 arrays in [0, 1])
    or "pil" (PIL images).
    """
    from PIL import Image

    if isinstance(images, xr.DataArray):
        missing = [d for d in _IMAGE_DIMS if d not in images.dims]
        if missing or images.ndim != 4:
            raise BadInputError(
                f"images DataArray must have dims {_IMAGE_DIMS}, got {tuple(images.dims)}; "
                "rename with .rename({...}) (e.g. 'channel' -> 'rgb') and transpose."
            )
        images = np.asarray(images.transpose(*_IMAGE_DIMS).values)
    if isinstance(images, (str, Path)):
        raise BadInputError(
            "preprocess got a single path; pass a list of paths, or load a folder with load_images()."
        )
    if isinstance(images, Image.Image):
        images = [images]
    if type(images).__module__.startswith("torch"):
        images = images.detach().cpu().numpy()
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise BadInputError(
                f"images must be a (n, height, width, 3) RGB array, got shape {images.shape}. "
                "For one image use img[None]; for grayscale repeat it on a last axis of 3; an NCHW "
                "network input is already preprocessed and goes straight to extract()."
            )
        if images.shape[0] == 0:
            raise BadInputError("images: the array holds no image (first axis is empty).")
        if min(images.shape[1:3]) == 0:
            raise BadInputError(f"images: empty image size {images.shape[1:3]}.")
        if images.dtype == np.uint8:
            return list(images), "uint8"
        if np.issubdtype(images.dtype, np.floating):
            bad = ~np.isfinite(images)
            if bad.any():
                first = tuple(int(i) for i in np.argwhere(bad)[0])
                raise BadInputError(
                    f"images hold {int(bad.sum())} NaN/inf value(s) (first at {first}); fix or drop those images."
                )
            lo, hi = float(images.min()), float(images.max())
            if lo < 0.0 or hi > 1.0:
                raise BadInputError(
                    f"float images must lie in [0, 1], got values in [{lo:g}, {hi:g}]; pass uint8 "
                    "(0..255) images, or divide by 255."
                )
            return list(images.astype(np.float32, copy=False)), "float"
        raise BadInputError(
            f"images must be uint8 (0..255) or float in [0, 1], got dtype {images.dtype}; "
            "convert with .astype(np.uint8)."
        )
    if isinstance(images, Sequence):
        if len(images) == 0:
            raise BadInputError("images: the list is empty.")
        out = []
        for i, item in enumerate(images):
            if isinstance(item, (str, Path)):
                out.append(_open_rgb(item))
            elif isinstance(item, Image.Image):
                out.append(item.convert("RGB"))
            else:
                raise BadInputError(
                    f"images[{i}] is a {type(item).__name__}; a list must hold PIL images or file paths."
                )
        return out, "pil"
    raise BadInputError(
        f"cannot preprocess a {type(images).__name__}; pass a (n, h, w, 3) uint8 array, a "
        "(stimulus, y, x, rgb) DataArray, or a list of PIL images or paths."
    )


def _check_stats(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float32).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3 or not np.all(np.isfinite(arr)):
        raise BadInputError(f"preprocess: {name} must be one finite number or three (R, G, B), got {values!r}.")
    if name == "std" and np.any(arr <= 0):
        raise BadInputError(f"preprocess: std must be positive, got {values!r}.")
    return arr


def _resize_crop(item, kind: str, size: int, short: int) -> np.ndarray:
    """One image -> (size, size, 3) float32 array in [0, 1]."""
    from PIL import Image

    if kind == "pil":
        w, h = item.size
    else:
        h, w = item.shape[:2]
    scale = short / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (new_w - size) // 2, (new_h - size) // 2
    box = (left, top, left + size, top + size)
    if kind == "float":
        # PIL keeps float precision per channel in mode "F"
        chans = [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(item[..., c]), mode="F")
                .resize((new_w, new_h), Image.BICUBIC)
                .crop(box),
                dtype=np.float32,
            )
            for c in range(3)
        ]
        return np.clip(np.stack(chans, axis=-1), 0.0, 1.0)
    img = item if kind == "pil" else Image.fromarray(item, mode="RGB")
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.BICUBIC)
    return np.asarray(img.crop(box), dtype=np.float32) / 255.0


def preprocess(
    images,
    size: int | None = 224,
    crop: float = 0.875,
    mean: Sequence[float] | float = LITE_MEAN,
    std: Sequence[float] | float = LITE_STD,
) -> torch.Tensor:
    """Turn images into a normalised NCHW float32 tensor for a network.

    Parameters
    ----------
    images : array, DataArray or list
        ``(n, height, width, 3)`` uint8 array (or float in [0, 1]), a DataArray with dims
        ``(stimulus, y, x, rgb)`` (e.g. from :func:`load_images`), a uint8 NHWC torch tensor,
        or a list of PIL images or image file paths (sizes may differ).
    size : int or None
        Side of the square output (224 for EfficientNet-Lite0). ``None``: no resize and no crop,
        every image at its own size (they must then share one size).
    crop : float
        Centre-crop fraction in (0, 1]: the shorter side is first resized to
        ``round(size / crop)``. ``1.0`` keeps the whole shorter side.
    mean, std : float or three floats
        Per-channel normalisation on the [0, 1] scale. Default: EfficientNet-Lite's
        (127/255, 128/255); use ``IMAGENET_MEAN`` / ``IMAGENET_STD`` for torchvision-style models.

    Returns
    -------
    torch.Tensor
        ``(n, 3, size, size)`` float32 (``(n, 3, height, width)`` for ``size=None``); the input
        is not modified.

    Raises
    ------
    BadInputError
        Wrong shape or dtype, NaN/inf, values outside [0, 1] for float input, unreadable files,
        bad ``size``/``crop``/``mean``/``std``.
    """
    import torch

    if size is None:
        return _preprocess_own_size(images, _check_stats(mean, "mean"), _check_stats(std, "std"))
    size = int(size)
    if size < 1:
        raise BadInputError(f"preprocess: size must be a positive number of pixels, got {size}.")
    crop = float(crop)
    if not 0.0 < crop <= 1.0:
        raise BadInputError(f"preprocess: crop must be a fraction in (0, 1], got {crop}.")
    mean_arr, std_arr = _check_stats(mean, "mean"), _check_stats(std, "std")
    items, kind = _as_image_list(images)
    short = max(size, round(size / crop))
    out = np.empty((len(items), 3, size, size), dtype=np.float32)
    for i, item in enumerate(items):
        arr = _resize_crop(item, kind, size, short)
        out[i] = ((arr - mean_arr) / std_arr).transpose(2, 0, 1)
    return torch.from_numpy(out)


def _preprocess_own_size(images, mean_arr: np.ndarray, std_arr: np.ndarray):
    """preprocess(size=None): scale to [0, 1] and normalise, keeping each image's own size."""
    import torch

    items, kind = _as_image_list(images)
    arrays = []
    for item in items:
        scale = 1.0 if kind == "float" else 1.0 / 255.0  # PIL and uint8 items hold 0..255
        arrays.append(np.asarray(item, dtype=np.float32) * np.float32(scale))
    shapes = sorted({a.shape[:2] for a in arrays})
    if len(shapes) > 1:
        raise BadInputError(
            f"preprocess: without a size the images must share one size, got {len(shapes)} sizes "
            f"({', '.join(f'{h}x{w}' for h, w in shapes[:4])}...); give a size (e.g. preprocessing "
            "'none,size=224' or size=224) to resize them."
        )
    out = np.stack([((a - mean_arr) / std_arr).transpose(2, 0, 1) for a in arrays]).astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(out))


def load_images(
    paths,
    *,
    size: int | tuple[int, int] | None = None,
    stimulus: Sequence[Any] | None = None,
) -> xr.DataArray:
    """Read image files into a ``(stimulus, y, x, rgb)`` uint8 DataArray.

    Parameters
    ----------
    paths : path or sequence of paths
        Image files, or one folder (its images with a suffix in :data:`IMAGE_SUFFIXES`, sorted by
        name). Images are converted to RGB.
    size : int or (height, width), optional
        Resize every image to this size (bicubic). Without it all images must share one size.
    stimulus : sequence, optional
        Stimulus ids; default: the file names without suffix (which must then be unique).

    Returns
    -------
    xarray.DataArray
        uint8, dims ``(stimulus, y, x, rgb)``, coords ``stimulus`` (ids), ``path`` (on stimulus)
        and ``rgb`` (``r``, ``g``, ``b``).

    Raises
    ------
    BadInputError
        Missing or unreadable file, empty folder, images of different sizes without ``size``,
        duplicated file names.
    """
    from PIL import Image

    if isinstance(paths, (str, Path)):
        folder = Path(paths)
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise BadInputError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in folder {str(folder)!r}.")
        else:
            files = [folder]
    else:
        files = [Path(p) for p in paths]
    if not files:
        raise BadInputError("load_images: no paths given.")
    imgs = [_open_rgb(p) for p in files]
    if size is not None:
        h, w = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
        imgs = [im.resize((w, h), Image.BICUBIC) if im.size != (w, h) else im for im in imgs]
    sizes = {im.size for im in imgs}
    if len(sizes) > 1:
        listing = ", ".join(f"{p.name}: {im.size[1]}x{im.size[0]}" for p, im in list(zip(files, imgs))[:5])
        raise BadInputError(
            f"the {len(files)} images have {len(sizes)} different sizes ({listing}, ...); pass "
            "size=(height, width) to resize them, or give the list of paths to preprocess() directly."
        )
    if stimulus is None:
        ids = [p.stem for p in files]
        seen: set[str] = set()
        dup = sorted({i for i in ids if i in seen or seen.add(i)})
        if dup:
            raise BadInputError(
                f"image file names {dup[:5]} occur more than once (in different folders); "
                "pass stimulus=[...] with unique ids."
            )
        stim = np.array(ids, dtype=object)
    else:
        stim = np.asarray(list(stimulus))
        if stim.shape != (len(files),):
            raise BadInputError(f"load_images: {len(files)} images but {stim.size} stimulus ids.")
        if len(set(stim.tolist())) != stim.size:
            raise BadInputError("load_images: stimulus ids must be unique.")
    data = np.stack([np.asarray(im, dtype=np.uint8) for im in imgs])
    da = xr.DataArray(
        data,
        dims=_IMAGE_DIMS,
        coords={
            "stimulus": stim,
            "path": ("stimulus", np.array([str(p) for p in files], dtype=object)),
            "rgb": np.array(["r", "g", "b"], dtype=object),
        },
        name="images",
    )
    da.attrs["description"] = "RGB images (uint8)"
    return da
