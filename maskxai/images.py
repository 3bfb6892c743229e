"""Reading user images safely: any format, mode, orientation or size.

Every function raises :class:`ImageError` (a ``ValueError``) with a sentence a
non-programmer can act on; the app shows it as is.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

MIN_SIDE = 32
MAX_SIDE = 2048
# Refuse before decoding anything that would need gigabytes (PIL's bomb guard is 2x this).
Image.MAX_IMAGE_PIXELS = 120_000_000

ImageInput = str | Path | bytes | Image.Image | np.ndarray


class ImageError(ValueError):
    """The image cannot be used; the message says why and what to do."""


def load_image(src: ImageInput | None, *, max_side: int = MAX_SIDE, min_side: int = MIN_SIDE) -> Image.Image:
    """Return ``src`` as an upright 8-bit RGB PIL image no larger than ``max_side``.

    Honours EXIF orientation, converts grayscale, 16-bit, palette and
    transparent images (transparency is composited on white), and downscales
    large photos while decoding so they never fill the memory.

    Args:
        src: A file path, encoded bytes, a PIL image or an ``HxW[xC]`` array.
        max_side: Longest side after downscaling.
        min_side: Shortest side accepted.

    Raises:
        ImageError: No image, not an image, corrupt, or smaller than ``min_side``.
    """
    if src is None:
        raise ImageError("No image was given. Upload a photo or take a webcam snapshot first.")
    try:
        img = _open(src)
        if isinstance(src, (str, Path, bytes)) and img.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a 50 MP photo never exists at full size.
            img.draft("RGB", (max_side, max_side))
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError("This image file is damaged or incomplete and cannot be read. Try another photo.") from exc
    img = ImageOps.exif_transpose(img) or img
    img = _to_rgb8(img)
    if min(img.size) < min_side:
        raise ImageError(
            f"This image is too small ({img.width}x{img.height} pixels). "
            f"Use a photo at least {min_side} pixels on each side."
        )
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def _open(src: ImageInput) -> Image.Image:
    if isinstance(src, Image.Image):
        return src.copy()
    if isinstance(src, np.ndarray):
        return _from_array(src)
    try:
        if isinstance(src, bytes):
            return Image.open(io.BytesIO(src))
        path = Path(src)
        if not path.is_file():
            raise ImageError(f"The file {path.name!r} was not found. Upload the photo again.")
        return Image.open(path)
    except UnidentifiedImageError as exc:
        raise ImageError(
            "This file is not an image we can read. Upload a photo (JPEG, PNG, WebP, BMP, GIF or TIFF)."
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageError("This image has too many pixels to open safely. Use a photo under 100 megapixels.") from exc


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(f"An image array must be HxW, HxWx3 or HxWx4, not {arr.shape}.")
    if arr.dtype != np.uint8:
        a = arr.astype(np.float64)
        hi = 1.0 if a.max(initial=0) <= 1.0 else (255.0 if a.max() <= 255 else 65535.0)
        arr = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def _to_rgb8(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or float gray: stretch the actual range to 8 bits instead of clipping at 255.
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        img = Image.fromarray(a.astype(np.uint8))
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode in ("RGB", "L") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    return img.convert("RGB")
