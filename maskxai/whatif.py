"""What if the mask were worn differently? Redraw a face with the project's mask renderer.

The face crop the page explains gets a photographed mask template (:mod:`maskxai.realmasks`) placed from the
detector's five landmarks, so a class can watch the model change its mind, and where it looks, on the same
face; or, with no mask, a beard or a hand over the mouth (:mod:`maskxai.lookalikes`), things a model may take
for one. Pure functions: the page and the tests call the same ones.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .lookalikes import LOOKALIKES, render_lookalike
from .realmasks import render_real_mask

WHATIF: dict[str, tuple[str, str]] = {
    "correct": ("Mask worn correctly", "correctly_masked"),
    "below_nose": ("Mask under the nose", "incorrectly_masked"),
    "chin": ("Mask on the chin", "incorrectly_masked"),
    "nose_mouth": ("Mask over nose and mouth, chin out", "incorrectly_masked"),
    "hanging": ("Mask hanging from one ear", "incorrectly_masked"),
    "beard": ("No mask: a beard", "not_masked"),
    "hand": ("No mask: a hand over the mouth", "not_masked"),
}
"""Placement -> (what the page calls it, the class it draws). ``beard`` and ``hand`` draw no mask but a lookalike
(:mod:`maskxai.lookalikes`), to show whether the model takes hair or a hand for one."""

TEMPLATE = "surgical"
"""The mask drawn: a plain surgical mask, the most common in the training photos' world and the examples."""


def redraw(
    crop: Image.Image, landmarks: np.ndarray | None, map_size: int, placement: str, seed: int = 0
) -> Image.Image:
    """``crop`` with a mask drawn at ``placement``.

    Args:
        crop: The face crop the page explains (any size).
        landmarks: ``(5, 2)`` landmarks in the coordinates of the ``map_size`` x ``map_size`` map
            (what :func:`maskxai.pipeline.face_geometry` returns), or None.
        map_size: The side of the map the landmarks refer to (the model's input size).
        placement: A key of :data:`WHATIF`.
        seed: Seeds the renderer's jitter and colour: the same call draws the same image.

    Raises:
        ValueError: Unknown placement, or no landmarks (a face found by the detector has them; "treat the
            whole image as one face" gives none).
    """
    if placement not in WHATIF:
        raise ValueError(f"Unknown what-if placement {placement!r}. Choose one of: {', '.join(WHATIF)}.")
    if landmarks is None:
        raise ValueError(
            "This face has no landmarks (it was not found by the face detector), so a mask cannot be placed on it. "
            "Untick **Treat the whole image as one face** and explain a detected face."
        )
    scale = np.array([crop.width / map_size, crop.height / map_size], dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2) * scale
    if placement in LOOKALIKES:  # no mask: a beard or a hand
        return render_lookalike(crop, lm, placement, rng=np.random.default_rng(seed))
    template = TEMPLATE if abs(_turn(lm)) < 0.12 else None  # a turned head gets a template drawn for its side
    return render_real_mask(crop, lm, placement, template=template, rng=np.random.default_rng(seed))


def _turn(lm: np.ndarray) -> float:
    """The nose's sideways offset from the eyes' midpoint, in eye distances (0 = facing the camera)."""
    le, re, nose = lm[0], lm[1], lm[2]
    ex = re - le
    d = float(np.linalg.norm(ex)) or 1.0
    return float(np.dot(nose - (le + re) / 2, ex / d) / d)
