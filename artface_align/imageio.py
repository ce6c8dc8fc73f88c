"""Turn whatever the user has (path, bytes, PIL image, numpy array) into an 8-bit RGB image.

One place decides colour modes, EXIF orientation and size limits, so that detection,
alignment and the builders all see the same pixels.
"""
from __future__ import annotations

import functools
import io
import os
import warnings
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageDecodeError

ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray]

#: Default pixel limit (width * height): large paintings scanned at 600 dpi stay below it,
#: decompression bombs do not. Callers can raise it.
DEFAULT_MAX_PIXELS = 256 * 1024 * 1024


def _open(data: bytes | str | os.PathLike, max_pixels: int, name: str) -> Image.Image:
    src = io.BytesIO(bytes(data)) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        with warnings.catch_warnings():
            # We apply our own limit below, before any pixel is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(src)
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"{name}: refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(f"{name}: not a recognised image format (corrupt or not an image)") from exc
    except FileNotFoundError as exc:
        raise ImageDecodeError(f"{name}: file not found") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # a header that starts right, then breaks
        raise ImageDecodeError(f"{name}: corrupt or truncated image data ({exc})") from exc
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageDecodeError(f"{name}: zero-size image ({w}x{h})")
    if w * h > max_pixels:
        raise ImageDecodeError(
            f"{name}: {w}x{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} "
            "(possible decompression bomb; pass a larger max_pixels if the image is genuine)"
        )
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"{name}: corrupt or truncated image data ({exc})") from exc
    return img


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB. 16-bit/float are rescaled, transparency is flattened on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if (img.mode.startswith("I;16") or arr.max(initial=0) > 255) else 255.0
        if img.mode == "F" and arr.max(initial=0) <= 1.0:
            top = 1.0
        arr8 = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _from_array(arr: np.ndarray) -> Image.Image:
    """numpy (H, W), (H, W, 1|3|4) in RGB(A) order, uint8/uint16/float in [0, 1]."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageDecodeError(f"array of shape {arr.shape} is not an image (want HxW, HxWx3 or HxWx4)")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageDecodeError(f"zero-size image array {arr.shape}")
    if arr.dtype == np.uint16:
        arr = np.rint(arr / 257.0).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return _to_rgb(Image.fromarray(np.ascontiguousarray(arr)))


def load_image(image: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> Image.Image:
    """Decode and normalise an image: EXIF orientation applied, 8-bit RGB.

    Raises ImageDecodeError (naming the input) for corrupt or truncated data, zero-size
    images and images over ``max_pixels``.
    """
    if isinstance(image, np.ndarray):
        return _from_array(image)
    if isinstance(image, Image.Image):
        img = image
        if img.width == 0 or img.height == 0:
            raise ImageDecodeError(f"{name or 'image'}: zero-size image ({img.width}x{img.height})")
    elif isinstance(image, (bytes, bytearray, memoryview)):
        if len(image) == 0:
            raise ImageDecodeError(f"{name or 'image bytes'}: empty (0 bytes)")
        img = _open(image, max_pixels, name or "image bytes")
    elif isinstance(image, (str, os.PathLike)):
        img = _open(image, max_pixels, name or str(Path(image)))
    else:
        raise TypeError(f"unsupported image input of type {type(image).__name__}")
    try:
        if img.getexif().get(0x0112, 1) != 1:  # exif_transpose copies even when nothing turns
            img = ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError) as exc:  # a broken EXIF block should not lose the image
        warnings.warn(f"{name or 'image'}: ignoring unreadable EXIF orientation ({exc})")
    return _to_rgb(img)


def to_rgb_array(image: ImageInput, **kwargs) -> np.ndarray:
    """load_image as a contiguous (H, W, 3) uint8 array."""
    return pixels(load_image(image, **kwargs))


def pixels(img: Image.Image, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """An RGB image's pixels (of ``box``: left, top, right, bottom) as a contiguous (H, W, 3) uint8 array.

    ``np.asarray(img)`` copies them through ``Image.tobytes`` while holding the GIL (1.7 ms for
    1024 x 1024 here), which serialises a build's worker threads. Pillow exports its RGBX buffer
    through the Arrow C data interface without a copy; OpenCV then drops the fourth byte with the GIL
    released. Other modes, or a Pillow or pyarrow without that export, take ``np.asarray``."""
    pa = _pyarrow()
    if img.mode == "RGB" and pa is not None:
        try:
            rgbx = pa.array(img).values.to_numpy(zero_copy_only=True).reshape(img.height, img.width, 4)
        except (ValueError, TypeError, AttributeError, NotImplementedError, pa.ArrowException):
            pass  # e.g. a Pillow without the export, or an image kept in several blocks
        else:
            if box is not None:
                rgbx = rgbx[box[1]:box[3], box[0]:box[2]]
            return cv2.cvtColor(rgbx, cv2.COLOR_RGBA2RGB)
    return np.ascontiguousarray(np.asarray(img if box is None else img.crop(box)))


@functools.cache
def _pyarrow():
    """pyarrow, imported on first use (it is optional for this library), or None."""
    try:
        import pyarrow
    except ImportError:
        return None
    return pyarrow
