"""Photo in, faces, predictions and explanations out: the pure core under the app.

The app, ``maskxai.evaluate --detect-faces`` and ``maskxai.bench`` all call these.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from .explain import Explanation, PixelModel, grad_cam_and_gradients, integrated_gradients
from .faces import DetectSettings, center_square, crop_box, crop_face, detect_faces
from .fuse import fold_batchnorm
from .preprocess import pixels, to_input
from .registry import DISPLAY_NAMES
from .weights import LoadedModel, load_model

log = logging.getLogger(__name__)


@dataclass
class FaceResult:
    """One face of a photo: where it is and what the model says (``None`` if too small to judge)."""

    index: int
    box: tuple[float, float, float, float]
    crop: tuple[int, int, int, int]
    detector_confidence: float | None
    too_small: bool
    probabilities: dict[str, float] | None = None

    @property
    def label(self) -> str | None:
        if self.probabilities is None:
            return None
        return max(self.probabilities, key=self.probabilities.__getitem__)

    def tag(self) -> str:
        """Short text for the box on the photo."""
        if self.too_small:
            return f"{self.index} too small"
        p = self.probabilities or {}
        lab = self.label or ""
        return f"{self.index} {DISPLAY_NAMES.get(lab, lab)} {100 * p.get(lab, 0):.0f}%"

    def to_dict(self) -> dict[str, Any]:
        """The API's per-face record (documented in the README)."""
        return {
            "face": self.index,
            "box": [round(v, 1) for v in self.box],
            "detector_confidence": None if self.detector_confidence is None else round(self.detector_confidence, 4),
            "too_small": self.too_small,
            "label": self.label,
            "probabilities": None
            if self.probabilities is None
            else {k: round(v, 4) for k, v in self.probabilities.items()},
        }


@functools.lru_cache(maxsize=8)
def get_model(name: str) -> LoadedModel:
    """Load ``name`` once (checkpoints/, then the Hub; untrained if neither has it), ready for fast passes.

    BatchNorm is folded into the convolutions (the same function, see :mod:`maskxai.fuse`) and the
    weights are stored channels_last, which oneDNN's CPU convolutions prefer.
    """
    lm = load_model(name, allow_untrained=True)
    lm.model, folded = fold_batchnorm(lm.model)
    lm.model.to(memory_format=torch.channels_last)
    log.info("%s: folded %d BatchNorm layers", name, folded)
    return lm


def classify(lm: LoadedModel, faces: list[Image.Image]) -> np.ndarray:
    """``(N, n_classes)`` probabilities for face crops, one batch, no autograd."""
    if not faces:
        return np.zeros((0, len(lm.spec.labels)), dtype=np.float32)
    x = torch.cat([to_input(f, lm.spec) for f in faces]).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        return lm.model(x).float().softmax(1).numpy()


def find_faces(
    photo: Image.Image, lm: LoadedModel, settings: DetectSettings | None = None, whole_image: bool = False
) -> list[FaceResult]:
    """Detect (or take the whole image as) faces, and classify those big enough to judge.

    Returns:
        Faces, largest first, numbered from 1; empty if none was found.
    """
    settings = settings or DetectSettings()
    if whole_image:
        sq = center_square(photo)
        results = [FaceResult(1, tuple(float(v) for v in sq), sq, None, False)]  # type: ignore[arg-type]
    else:
        results = [
            FaceResult(i + 1, f.box, crop_box(f.box), f.confidence, f.too_small)
            for i, f in enumerate(detect_faces(photo, settings))
        ]
    judged = [r for r in results if not r.too_small]
    probs = classify(lm, [face_crop(photo, r) for r in judged])
    for r, p in zip(judged, probs):
        r.probabilities = {lab: float(v) for lab, v in zip(lm.spec.labels, p)}
    return results


def face_crop(photo: Image.Image, face: FaceResult) -> Image.Image:
    """The square crop a face is classified and explained on."""
    if face.detector_confidence is None:
        return photo.crop(face.crop)
    return crop_face(photo, face.box)


def explain(
    lm: LoadedModel,
    face: Image.Image,
    *,
    steps: int = 50,
    baseline: str = "black",
    layer: str | None = None,
    target: int | None = None,
    progress: Callable[[float], None] | None = None,
    internal_batch_size: int = 16,
) -> Iterator[Explanation]:
    """Yield Grad-CAM and gradients (one shared pass), then Integrated Gradients.

    All three explain ``target`` (default: the predicted class).
    """
    pm = PixelModel(lm.model, lm.spec)
    x = pixels(face, lm.spec).contiguous(memory_format=torch.channels_last)
    cam, grads, probs = grad_cam_and_gradients(pm, x, target, layer)
    yield cam
    yield grads
    yield integrated_gradients(
        pm, x, cam.target, steps=steps, baseline=baseline, progress=progress, internal_batch_size=internal_batch_size
    )
