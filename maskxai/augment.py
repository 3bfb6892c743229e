"""Training augmentations for faces from photos and webcams."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from .faces import whole_face

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in pixels


def augment(img: Image.Image, rng: np.random.Generator, size: int, keep: Box | None = None) -> Image.Image:
    """A random, label-preserving variant of a face crop, returned at ``size`` x ``size``.

    Small rotations, scale and position jitter, horizontal flip, colour, blur
    (webcam focus and motion), low light, harsh light (over-exposure, hard
    side light), low resolution (faces of 24-96 px scaled up, as small faces
    in group photos and video frames are), grayscale and JPEG artefacts.

    ``keep``: a box ``(x0, y0, x1, y1)`` of ``img`` that the crop must keep whole, as far as the image allows
    (:func:`square_crop`), e.g. a drawn mask, whose label would not hold if the crop cut it out. ``None``: any
    crop; the generator's draws are the same either way.
    """
    img = img.convert("RGB")
    flip = bool(rng.random() < 0.5)
    if flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    angle = rng.uniform(-12, 12)
    if keep is not None:
        keep = moved_box(keep, img.size, flip, angle)
    img = img.rotate(
        angle, resample=Image.Resampling.BILINEAR, fillcolor=tuple(int(c) for c in rng.integers(0, 255, 3))
    )
    w, h = img.size
    x0, y0, side = square_crop(w, h, rng, keep)
    img = img.resize((size, size), Image.Resampling.BILINEAR, box=(x0, y0, x0 + side, y0 + side))
    if rng.random() < 0.8:
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.5, 1.4))
        img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.6, 1.4))
        img = ImageEnhance.Color(img).enhance(rng.uniform(0.3, 1.5))
    if rng.random() < 0.12:  # harsh light: blown highlights or a hard light from one side
        a = np.asarray(img, dtype=np.float32)
        if rng.random() < 0.5:
            a = a * rng.uniform(1.3, 1.9) + rng.uniform(0, 30)
        else:
            ramp = np.linspace(rng.uniform(0.35, 0.7), rng.uniform(1.2, 1.6), a.shape[1], dtype=np.float32)
            a = a * (ramp if rng.random() < 0.5 else ramp[::-1])[None, :, None]
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if rng.random() < 0.2:
        img = img.convert("L").convert("RGB")
    r = rng.random()
    if r < 0.15:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    elif r < 0.25:
        img = _motion_blur(img, 3 if rng.random() < 0.5 else 5, horizontal=bool(rng.random() < 0.5))
    if rng.random() < 0.15:  # low light: dark and noisy, like a classroom webcam
        a = np.asarray(img, dtype=np.float32) * rng.uniform(0.25, 0.6)
        a += rng.normal(0, rng.uniform(3, 10), a.shape)
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if rng.random() < 0.25:  # a small face: lose the detail, keep the size
        low = int(rng.integers(24, 97))
        img = img.resize((low, low), Image.Resampling.BILINEAR).resize((size, size), Image.Resampling.BILINEAR)
    if rng.random() < 0.4:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(25, 90)))
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    return img


def square_crop(w: int, h: int, rng: np.random.Generator, keep: Box | None = None) -> tuple[float, float, float]:
    """``(x0, y0, side)`` of a random square of ``w`` x ``h``: 70-100 % of the shorter side, anywhere.

    With ``keep`` the square holds that box: it grows to the box's longer side (at most the image's shorter
    side) and lies where it contains the box. Three numbers are drawn from ``rng`` either way.
    """
    side = rng.uniform(0.7, 1.0) * min(w, h)
    if keep is None:
        return rng.uniform(0, w - side), rng.uniform(0, h - side), side
    bx0, by0, bx1, by1 = keep
    side = min(max(side, bx1 - bx0, by1 - by0), min(w, h))
    lo_x, lo_y = max(0.0, bx1 - side), max(0.0, by1 - side)
    hi_x, hi_y = max(lo_x, min(bx0, w - side)), max(lo_y, min(by0, h - side))
    return rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y), side


def moved_box(box: Box, size: tuple[int, int], flip: bool, angle: float) -> Box | None:
    """Where ``box`` of an image of ``size`` lies after the image is mirrored (``flip``) and turned by ``angle``
    degrees as :meth:`PIL.Image.Image.rotate` turns it (the bounding box of the turned box, within the image;
    ``None`` if it left the image)."""
    m = Image.new("L", size, 0)
    ImageDraw.Draw(m).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=255)
    if flip:
        m = m.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    bbox = m.rotate(angle, resample=Image.Resampling.BILINEAR).getbbox()
    if bbox is None:
        return None
    x0, y0, x1, y1 = bbox
    return float(x0), float(y0), float(x1), float(y1)


VIDEO_SIDES = (48, 80)  # the range of face sizes a training draw is shrunk to by ``--video`` (both included)


def video_frame(img: Image.Image, side: int = 64) -> Image.Image:
    """The face as a low-resolution grayscale video frame shows it: one channel, ``side`` x ``side`` px, as RGB.

    The app and the evaluation scale it back up to the model's input size, as they do any small face. The
    default matches the unseen video frames the team tests on (grayscale, 64 px).
    """
    if side < 8:
        raise ValueError(f"video_frame: side must be at least 8 px, got {side}")
    return img.convert("L").resize((side, side), Image.Resampling.BILINEAR).convert("RGB")


def random_video_frame(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """:func:`video_frame` at a side drawn from :data:`VIDEO_SIDES` (training draws: faces of several sizes)."""
    return video_frame(img, int(rng.integers(VIDEO_SIDES[0], VIDEO_SIDES[1] + 1)))


# Ways to see a face as other cameras show it, by name: ``--val-views`` of training, ``--view`` of the evaluation.
VIEWS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "video": video_frame,  # grayscale, 64 px: as the unseen video frames are
}
# The same views as training draws them (random where the fixed view is not), by the same names.
TRAIN_VIEWS: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "video": random_video_frame,
}


def reframe(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The face framed the way other people crop faces: a tighter, narrower window of ``img``, padded to a square.

    Face crops from other tools are often the detector's box itself (no margin, taller than wide), which
    ``maskxai.evaluate`` and the app's "whole image" option pad to a square (:func:`maskxai.faces.whole_face`).
    The window keeps 60-100 % of the width and 82-100 % of the height, near the centre (at most 12 % of the
    height off the bottom), so a mask on the chin stays in the picture and the label still holds.
    """
    w, h = img.size
    cw, ch = w * rng.uniform(0.6, 1.0), h * rng.uniform(0.82, 1.0)
    x0, y0 = (w - cw) * rng.uniform(0.2, 0.8), (h - ch) * rng.uniform(0.35, 0.65)
    return whole_face(img.crop((round(x0), round(y0), round(x0 + cw), round(y0 + ch))))


def _motion_blur(img: Image.Image, k: int, horizontal: bool) -> Image.Image:
    kernel = np.zeros((k, k))
    if horizontal:
        kernel[k // 2, :] = 1
    else:
        kernel[:, k // 2] = 1
    # PIL kernels are 3x3 or 5x5 only.
    return img.filter(ImageFilter.Kernel((k, k), kernel.flatten().tolist(), scale=float(kernel.sum())))
