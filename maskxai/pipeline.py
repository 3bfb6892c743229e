"""Photo in, faces, predictions and explanations out: the pure core under the app.

The app, ``maskxai.evaluate --detect-faces`` and ``maskxai.bench`` all call these.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from .device import device
from .explain import ExplainSettings, Explanation, PixelModel, get_method
from .explain.base import Context, Progress, Steps, resolve_target
from .explain.methods import fast_first
from .faces import DetectSettings, crop_box, crop_face, detect_faces, whole_box, whole_crop_box
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
    landmarks: np.ndarray | None = None
    """MTCNN's five points (eyes, nose, mouth corners) in photo pixels, if the detector gave them."""

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
    lm.model.to(device())
    lm.model.to(memory_format=torch.channels_last)
    log.info("%s: folded %d BatchNorm layers", name, folded)
    return lm


def classify(lm: LoadedModel, faces: list[Image.Image]) -> np.ndarray:
    """``(N, n_classes)`` probabilities for face crops, one batch, no autograd."""
    if not faces:
        return np.zeros((0, len(lm.spec.labels)), dtype=np.float32)
    x = torch.cat([to_input(f, lm.spec) for f in faces]).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        return lm.model(x.to(next(lm.model.parameters()).device)).float().softmax(1).cpu().numpy()


def find_faces(
    photo: Image.Image, lm: LoadedModel, settings: DetectSettings | None = None, whole_image: bool = False
) -> list[FaceResult]:
    """Detect (or take the whole image as) faces, and classify those big enough to judge.

    Returns:
        Faces, largest first, numbered from 1; empty if none was found.
    """
    settings = settings or DetectSettings()
    if whole_image:
        results = [FaceResult(1, whole_box(photo), whole_crop_box(photo), None, False)]
    else:
        results = [
            FaceResult(i + 1, f.box, crop_box(f.box), f.confidence, f.too_small, landmarks=f.landmarks)
            for i, f in enumerate(detect_faces(photo, settings))
        ]
    judged = [r for r in results if not r.too_small]
    probs = classify(lm, [face_crop(photo, r) for r in judged])
    for r, p in zip(judged, probs):
        r.probabilities = {lab: float(v) for lab, v in zip(lm.spec.labels, p)}
    return results


def face_crop(photo: Image.Image, face: FaceResult) -> Image.Image:
    """The square crop a face is classified and explained on."""
    if face.detector_confidence is None:  # the whole image as one face: padded to a square, not cut
        return crop_face(photo, face.box, margin=0.0)
    return crop_face(photo, face.box)


def face_geometry(face: FaceResult, size: int) -> tuple[np.ndarray | None, tuple[float, float, float, float]]:
    """The face's landmarks (``None`` if unknown) and box in the coordinates of its ``size`` x ``size`` map."""
    x0, y0, x1, y1 = face.crop
    sx, sy = size / max(1, x1 - x0), size / max(1, y1 - y0)
    b = face.box
    box = ((b[0] - x0) * sx, (b[1] - y0) * sy, (b[2] - x0) * sx, (b[3] - y0) * sy)
    if face.landmarks is None:
        return None, box
    lm = (np.asarray(face.landmarks, dtype=np.float32) - np.array([x0, y0], dtype=np.float32)) * np.array(
        [sx, sy], dtype=np.float32
    )
    return lm, box


CLASSIC_METHODS = ("gradcam", "gradients", "ig")
"""What :func:`explain` yields unless told otherwise, in this order (the first API's three maps; the page's
defaults are :func:`maskxai.explain.default_methods`)."""


def explain(
    lm: LoadedModel,
    face: Image.Image,
    *,
    methods: list[str] | tuple[str, ...] | None = None,
    target: int | None = None,
    settings: ExplainSettings | None = None,
    steps: Steps | None = None,
    baseline: str | None = None,
    layer: str | None = None,
    progress: Callable[[float, str], None] | None = None,
    internal_batch_size: int | None = None,
) -> Iterator[Explanation]:
    """Yield one map per method for ``face``: the one-pass methods first, then the slow ones.

    Every method explains the same class, ``target`` (default: the predicted one),
    and methods share what they can (the CAMs and the input gradients come from one
    forward/backward pass at the chosen layer).

    Args:
        lm: The model.
        face: The face crop.
        methods: Registry names (see :mod:`maskxai.explain.methods`); default Grad-CAM, gradients, IG.
        target: Class index to explain; default the predicted class.
        settings: The methods' settings; ``steps``, ``baseline``, ``layer`` and
            ``internal_batch_size``, where given, override its fields.
        progress: Called as ``progress(fraction, method title)`` by the slow methods.

    Raises:
        ValueError: Unknown method, class or layer, bad settings.
    """
    names = list(methods) if methods is not None else list(CLASSIC_METHODS)
    for n in names:
        get_method(n)  # unknown names fail before any work
    settings = settings or ExplainSettings()
    overrides: dict[str, Any] = {
        "steps": steps,
        "baseline": baseline,
        "layer": layer,
        "internal_batch_size": internal_batch_size,
    }
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    ctx = face_context(lm, face, target, settings)
    for name in fast_first(names):
        yield run(ctx, name, progress)


def face_context(
    lm: LoadedModel, face: Image.Image, target: int | None = None, settings: ExplainSettings | None = None
) -> Context:
    """What the methods share for one face: the model in pixel space, the pixels, the class (default: the
    predicted one) and a cache of passes. Run methods on it with :func:`run`."""
    pm = PixelModel(lm.model, lm.spec)
    x = pixels(face, lm.spec).to(device()).contiguous(memory_format=torch.channels_last)
    return Context(pm, x, resolve_target(pm, x, target), settings or ExplainSettings())


def run(ctx: Context, name: str, progress: Callable[[float, str], None] | None = None) -> Explanation:
    """Method ``name`` on ``ctx``'s face; slow methods report ``progress(fraction, method title)``."""
    method = get_method(name)
    ctx.progress = _progress_for(progress, method.title) if method.slow else None
    return method.fn(ctx)


def _progress_for(progress: Callable[[float, str], None] | None, title: str) -> Progress | None:
    if progress is None:
        return None
    return lambda f: progress(f, title)
