"""Reading user images safely: any format, mode, orientation or size.

Every function raises :class:`ImageError` (a ``ValueError``) with a sentence a
non-programmer can act on; the app shows it as is.

Images are refused from their header, before any pixel is decoded, when they
declare more than :data:`MAX_MEGAPIXELS` (a PNG of a few hundred kilobytes can
declare 30000x30000 pixels and would need gigabytes once decoded).
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

MIN_SIDE = 32
MAX_SIDE = 2048
MAX_MEGAPIXELS = 50
"""Largest image accepted, in megapixels declared by its header (a 50 MP phone photo is 8160x6120)."""
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")  # JPEG includes multi-picture (MPO) files
"""Formats opened at all (PIL's other plugins, e.g. EPS through Ghostscript, are not offered to uploads)."""
_READABLE = "Upload a photo (JPEG, PNG, WebP, BMP, GIF or TIFF)."

ImageInput = str | Path | bytes | Image.Image | np.ndarray


class ImageError(ValueError):
    """The image cannot be used; the message says why and what to do."""


def check_size(width: int, height: int, max_megapixels: float = MAX_MEGAPIXELS) -> None:
    """Raise :class:`ImageError` if a ``width x height`` image is over ``max_megapixels``."""
    if width * height > max_megapixels * 1e6:
        raise ImageError(_too_many(f"{width}x{height} pixels, {width * height / 1e6:.0f} megapixels", max_megapixels))


def _too_many(what: str, max_megapixels: float) -> str:
    return (
        f"This image is too large ({what}). Photos up to {max_megapixels:g} megapixels are accepted: "
        "resize it or take a smaller photo."
    )


def open_image(src: str | Path | bytes, max_megapixels: float = MAX_MEGAPIXELS) -> Image.Image:
    """Open ``src`` lazily (header only) and refuse it before decoding if it is not a usable photo.

    Args:
        src: A file path or encoded bytes.
        max_megapixels: Largest declared size accepted.

    Returns:
        The opened, not yet decoded, image.

    Raises:
        ImageError: Missing file, not an image of an accepted format, or declaring too many pixels.
    """
    try:
        if isinstance(src, bytes):
            img = Image.open(io.BytesIO(src), formats=FORMATS)
        else:
            path = Path(src)
            if not path.is_file():
                raise ImageError(f"The file {path.name!r} was not found. Upload the photo again.")
            img = Image.open(path, formats=FORMATS)
    except UnidentifiedImageError as exc:
        raise ImageError(f"This file is not an image we can read. {_READABLE}") from exc
    except Image.DecompressionBombError as exc:
        # PIL's own guard fires in open() above twice its MAX_IMAGE_PIXELS; it names only the pixel count.
        m = re.search(r"\((\d+) pixels\)", str(exc))
        what = f"{int(m.group(1)) / 1e6:.0f} megapixels" if m else "hundreds of megapixels"
        raise ImageError(_too_many(what, max_megapixels)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError("This image file is damaged or incomplete and cannot be read. Try another photo.") from exc
    try:
        check_size(*img.size, max_megapixels=max_megapixels)
    except ImageError:
        img.close()
        raise
    return img


def load_image(
    src: ImageInput | None,
    *,
    max_side: int = MAX_SIDE,
    min_side: int = MIN_SIDE,
    max_megapixels: float = MAX_MEGAPIXELS,
) -> Image.Image:
    """Return ``src`` as an upright 8-bit RGB PIL image no larger than ``max_side``.

    Honours EXIF orientation, converts grayscale, 16-bit, palette and
    transparent images (transparency is composited on white), and downscales
    large photos while decoding (JPEG) or right after it, before any copy, so
    they never fill the memory.

    Args:
        src: A file path, encoded bytes, a PIL image or an ``HxW[xC]`` array.
        max_side: Longest side after downscaling.
        min_side: Shortest side accepted.
        max_megapixels: Largest size accepted, checked from the header before decoding.

    Raises:
        ImageError: No image, not an image, corrupt, too large, or smaller than ``min_side``.
    """
    if src is None:
        raise ImageError("No image was given. Upload a photo or take a webcam snapshot first.")
    if isinstance(src, Image.Image):
        check_size(*src.size, max_megapixels=max_megapixels)
        img = src.copy()
    elif isinstance(src, np.ndarray):
        img = _from_array(src, max_megapixels)
    else:
        img = open_image(src, max_megapixels)
        try:
            if img.format in ("JPEG", "MPO"):
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a 50 MP photo never exists at full size.
                img.draft("RGB", (max_side, max_side))
            img.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            img.close()
            raise ImageError("This image file is damaged or incomplete and cannot be read. Try another photo.") from exc
    if min(img.size) < min_side:
        raise ImageError(
            f"This image is too small ({img.width}x{img.height} pixels). "
            f"Use a photo at least {min_side} pixels on each side."
        )
    if max(img.size) > max_side and img.mode in _RESIZABLE:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # in place, before any full-size copy
    img = ImageOps.exif_transpose(img) or img  # the EXIF tag outlives thumbnail()
    img = _to_rgb8(img)
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


_RESIZABLE = ("RGB", "RGBA", "L", "LA", "RGBX", "La", "RGBa")


def is_grayscale(img: Image.Image, tolerance: float = 2.0) -> bool:
    """True if ``img`` has no colour: its channels differ by less than ``tolerance`` (of 255) on average.

    A black-and-white photo saved as RGB (or as JPEG, whose chroma adds a little noise) counts as grayscale.
    """
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    return float(np.abs(a[..., 0] - a[..., 1]).mean() + np.abs(a[..., 1] - a[..., 2]).mean()) < tolerance


def _from_array(arr: np.ndarray, max_megapixels: float) -> Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(f"An image array must be HxW, HxWx3 or HxWx4, not {arr.shape}.")
    check_size(arr.shape[1], arr.shape[0], max_megapixels)
    if arr.dtype != np.uint8:
        a = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        hi = 1.0 if a.max(initial=0) <= 1.0 else (255.0 if a.max() <= 255 else max(65535.0, float(a.max())))
        arr = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def _to_rgb8(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or float gray: stretch the actual range to 8 bits instead of clipping at 255.
        a = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        img = Image.fromarray(a.astype(np.uint8))
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode in ("RGB", "L") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    return img if img.mode == "RGB" else img.convert("RGB")
