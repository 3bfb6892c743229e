"""Face detection (facenet-pytorch's MTCNN, weights shipped in its wheel) and face crops.

Training, evaluation and the app all crop faces with :func:`crop_face`, so the
models see the same framing everywhere.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .device import device

log = logging.getLogger(__name__)

CROP_MARGIN = 0.3
"""Extra context around the detected box, as a fraction of its longer side (split on both sides)."""
DETECT_MAX_SIDE = 1024
BOX_SHIFT_Y = 0.12
"""MTCNN's boxes sit higher than the hand-drawn boxes the models were trained on (median over 217
matched Face Mask Detection training faces: 0.12 of the box side, same size). Detected boxes are
moved down by this much, so the app's crops frame faces as the training crops did."""
MIN_FACE_PX = 40


@dataclass(frozen=True)
class DetectSettings:
    """Face detection settings.

    Attributes:
        min_confidence: MTCNN probability below which a box is dropped.
        max_faces: Keep at most this many faces (the largest).
        min_face_px: Faces whose box is smaller than this (shorter side, in
            original pixels) are reported as too small to judge.
        detect_max_side: Photos are downscaled to this longest side for detection;
            crops are taken from the original.
    """

    min_confidence: float = 0.9
    max_faces: int = 20
    min_face_px: int = MIN_FACE_PX
    detect_max_side: int = DETECT_MAX_SIDE


@dataclass
class Face:
    """One detected face, in the coordinates of the original image."""

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: np.ndarray | None = None
    too_small: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def size(self) -> float:
        x0, y0, x1, y1 = self.box
        return min(x1 - x0, y1 - y0)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)


def detector_device() -> str:
    """Where MTCNN runs: CUDA when the models run there (``MASKXAI_DEVICE`` / auto), else the CPU (MPS included:
    it lacks ops MTCNN uses)."""
    dev = device()
    return str(dev) if dev.type == "cuda" else "cpu"


MTCNN_MIN_FACE = 20
"""The smallest face MTCNN looks for, in pixels; an image with a shorter side has no face it can find."""


@functools.lru_cache(maxsize=2)
def _mtcnn(min_face_size: int = MTCNN_MIN_FACE):  # type: ignore[no-untyped-def]
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, min_face_size=min_face_size, post_process=False, device=detector_device())
    for net in (mtcnn.pnet, mtcnn.rnet, mtcnn.onet):  # same boxes; on the CPU detection takes ~0.7x the time
        net.register_forward_pre_hook(_channels_last)
    return mtcnn


def _channels_last(module: object, args: tuple) -> tuple:  # type: ignore[type-arg]
    """MTCNN's networks take their input channels-last: PyTorch's CPU max-pooling and convolutions are several
    times faster on it than on the NCHW tensors facenet-pytorch makes (the 3x3 poolings of the R- and O-nets
    dominated a detection). The outputs are the same up to float rounding."""
    import torch

    return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])


def detect_faces(img: Image.Image, settings: DetectSettings | None = None) -> list[Face]:
    """Detect faces in an RGB image, largest first.

    Args:
        img: Upright RGB image.
        settings: Thresholds and limits; defaults are :class:`DetectSettings`'s.

    Returns:
        Faces sorted by area (largest first), at most ``settings.max_faces``.
    """
    import torch

    s = settings or DetectSettings()
    scale = 1.0
    small = img
    if max(img.size) > s.detect_max_side:
        scale = s.detect_max_side / max(img.size)
        small = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BILINEAR)
    if min(small.size) < MTCNN_MIN_FACE:  # MTCNN's image pyramid would be empty (and facenet-pytorch raises)
        return []
    with torch.inference_mode():
        boxes, probs, points = _mtcnn().detect(small, landmarks=True)
    if boxes is None:
        return []
    faces = []
    for b, p, lm in zip(boxes, probs, points):
        if p is None or p < s.min_confidence:
            continue
        x0, y0, x1, y1 = (float(v) / scale for v in b)
        dy = BOX_SHIFT_Y * max(x1 - x0, y1 - y0)
        y0, y1 = y0 + dy, y1 + dy
        box = (max(0.0, x0), max(0.0, y0), min(float(img.width), x1), min(float(img.height), y1))
        face = Face(box=box, confidence=float(p), landmarks=np.asarray(lm, dtype=np.float32) / scale)
        face = Face(face.box, face.confidence, face.landmarks, too_small=face.size < s.min_face_px)
        faces.append(face)
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces[: s.max_faces]


def crop_box(box: tuple[float, float, float, float], margin: float = CROP_MARGIN) -> tuple[int, int, int, int]:
    """The square crop around a face box: side = longer side x (1 + margin), same centre."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0) * (1 + margin)
    s, left, top = round(side), round(cx - side / 2), round(cy - side / 2)
    return (left, top, left + s, top + s)  # exactly square (rounding each edge could make it 1 px off)


def crop_face(img: Image.Image, box: tuple[float, float, float, float], margin: float = CROP_MARGIN) -> Image.Image:
    """Crop the square around ``box`` (see :func:`crop_box`); parts outside the photo are edge-padded."""
    x0, y0, x1, y1 = crop_box(box, margin)
    if x0 >= 0 and y0 >= 0 and x1 <= img.width and y1 <= img.height:
        return img.crop((x0, y0, x1, y1))
    a = np.asarray(img)
    pad = ((max(0, -y0), max(0, y1 - img.height)), (max(0, -x0), max(0, x1 - img.width)), (0, 0))
    a = np.pad(a, pad, mode="edge")
    ox, oy = max(0, -x0), max(0, -y0)
    return Image.fromarray(a[y0 + oy : y1 + oy, x0 + ox : x1 + ox])


def whole_box(img: Image.Image) -> tuple[float, float, float, float]:
    """The whole image as one face's box (for crops that are already a face)."""
    return (0.0, 0.0, float(img.width), float(img.height))


def whole_crop_box(img: Image.Image) -> tuple[int, int, int, int]:
    """The square an image taken whole as one face is classified on: side = its longer side, same centre.

    A non-square face crop is padded to a square (its edge pixels repeated, as :func:`crop_face` does at a
    photo's border), never cut: cutting a tall crop to its centred square takes off the chin, where a mask
    worn low sits (measured on tight crops of Face Mask Detection's val faces: docs/experiments.md,
    "Faces given as crops"). A square image is taken as it is.
    """
    return crop_box(whole_box(img), margin=0.0)


def tight_face(img: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """The face cut at its box alone (no margin, not square) and taken whole, as face crops made by other tools
    (a detector's box saved as a file) reach ``maskxai.evaluate`` and the app's "whole image" option."""
    x0, y0, x1, y1 = (round(v) for v in box)
    return whole_face(img.crop((x0, y0, x1, y1)))


def whole_face(img: Image.Image) -> Image.Image:
    """The image taken whole as one face: :func:`whole_crop_box`'s square, padded where it leaves the image."""
    return crop_face(img, whole_box(img), margin=0.0)
