"""Where a map puts its weight: forehead, eyes, nose, mouth and chin, from MTCNN's five points.

The five landmarks (eyes, nose tip, mouth corners) define a face frame: ``u``
along the eye line in units of the eye distance, ``v`` down from the eyes'
midpoint in units of the eyes-to-mouth distance (the mouth is at ``v = 1``).
The regions are bands of that frame, so they turn and scale with the face and
never overlap (each pixel belongs to at most one region):

============  ======================================  ==========
region        v (down)                                |u| up to
============  ======================================  ==========
forehead      top of the face box (at most -1.3)..-0.4   0.9
eyes          -0.4 .. 0.25                               1.0
nose          0.25 .. nose tip + 35 % to the mouth       0.35
mouth         .. 1.35                                    0.6
chin          1.35 .. 1.9                                0.75
============  ======================================  ==========

A region's *share* is the part of the map's positive attribution inside it;
its *area* the part of the image it covers. A flat map scores its area, so
``share / area`` above 1 means the map looks there more than chance. Shares are
in [0, 1] and sum to at most 1 (the rest lies outside the five regions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

REGIONS: tuple[str, ...] = ("forehead", "eyes", "nose", "mouth", "chin")
LOWER_FACE: tuple[str, ...] = ("nose", "mouth", "chin")
"""Where a mask sits: what the reports checked by eye."""

TEMPLATE = np.array([[0.365, 0.322], [0.655, 0.322], [0.51, 0.484], [0.395, 0.619], [0.625, 0.619]], dtype=np.float32)
"""Typical five points in the app's face crop (``maskxai.faces.crop_face`` of a detected box), as fractions of
the crop side: the medians over 77 faces the app detected in 80 Face Mask Detection photos, made symmetric.
Used where the detector gave none (e.g. "treat the whole image as one face")."""


def template_landmarks(size: int) -> np.ndarray:
    """:data:`TEMPLATE` in pixels of a ``size`` x ``size`` crop."""
    return TEMPLATE * np.float32(size)


def _frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float, float]:
    """Eyes' midpoint, unit vectors along and across the eye line, eye distance, eyes-to-mouth distance,
    and the nose tip's ``v``."""
    p = np.asarray(landmarks, dtype=np.float64)
    if p.shape != (5, 2) or not np.isfinite(p).all():
        raise ValueError(f"expected MTCNN's five (x, y) landmarks, got an array of shape {p.shape}")
    le, re, nose, ml, mr = p
    eyes, mouth = (le + re) / 2, (ml + mr) / 2
    ed = float(np.linalg.norm(re - le))
    ex = (re - le) / ed if ed > 0 else np.array([1.0, 0.0])
    ey = np.array([-ex[1], ex[0]])  # the eye line turned by +90 degrees: "down" in image coordinates
    em = float((mouth - eyes) @ ey)
    if ed <= 1e-6 or em <= 1e-6:
        raise ValueError("the landmarks are degenerate: eyes and mouth must be apart, the mouth below the eyes")
    return eyes, ex, ey, ed, em, float((nose - eyes) @ ey) / em


def face_frame(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-pixel face coordinates ``(u, v)`` of an image of ``shape``, and the nose tip's ``v``.

    Raises:
        ValueError: Not five (x, y) points, or eyes and mouth on top of each other.
    """
    eyes, ex, ey, ed, em, v_nose = _frame(landmarks)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5  # pixel centres
    dx, dy = xx - eyes[0], yy - eyes[1]
    return (dx * ex[0] + dy * ex[1]) / ed, (dx * ey[0] + dy * ey[1]) / em, v_nose


def region_masks(
    landmarks: np.ndarray, shape: tuple[int, int], box: tuple[float, float, float, float] | None = None
) -> dict[str, np.ndarray]:
    """Boolean masks of :data:`REGIONS` (disjoint) for an image of ``shape`` (see the module's table).

    Args:
        landmarks: ``(5, 2)`` MTCNN points (left eye, right eye, nose, left and right mouth corner), in pixels.
        shape: ``(H, W)`` of the map.
        box: The face box in the same pixels; its top bounds the forehead.
    """
    u, v, v_nose = face_frame(landmarks, shape)
    v_top = -1.3
    if box is not None:
        eyes, _, ey, _, em, _ = _frame(landmarks)
        top_centre = np.array([(box[0] + box[2]) / 2, box[1]])
        v_top = max(v_top, min(-0.45, float((top_centre - eyes) @ ey) / em))
    nose_end = min(0.9, max(0.45, v_nose + 0.35 * (1 - v_nose)))
    bands = {
        "forehead": (v_top, -0.4, 0.9),
        "eyes": (-0.4, 0.25, 1.0),
        "nose": (0.25, nose_end, 0.35),
        "mouth": (nose_end, 1.35, 0.6),
        "chin": (1.35, 1.9, 0.75),
    }
    return {name: (v >= lo) & (v < hi) & (np.abs(u) <= half) for name, (lo, hi, half) in bands.items()}


@dataclass
class RegionShares:
    """Share of a map's positive attribution, and of the image's area, per region.

    Attributes:
        share: Region -> part of the positive attribution inside it, in [0, 1] (all 0 for a map with none).
        area: Region -> part of the image it covers.
        template: True if the regions came from :data:`TEMPLATE`, not from detected landmarks.
        blank: True if the map has no positive attribution at all.
    """

    share: dict[str, float]
    area: dict[str, float]
    template: bool = False
    blank: bool = False

    @property
    def lower_share(self) -> float:
        """Share on nose, mouth and chin together."""
        return sum(self.share[r] for r in LOWER_FACE)

    @property
    def lower_area(self) -> float:
        return sum(self.area[r] for r in LOWER_FACE)

    @property
    def lower_ratio(self) -> float:
        """``lower_share / lower_area``: 1 for a flat map, above 1 where the map favours where a mask sits."""
        return self.lower_share / self.lower_area if self.lower_area > 0 else float("nan")

    def ratio(self, region: str) -> float:
        return self.share[region] / self.area[region] if self.area[region] > 0 else float("nan")

    def to_record(self) -> dict[str, Any]:
        return {
            "share": {k: round(v, 4) for k, v in self.share.items()},
            "area": {k: round(v, 4) for k, v in self.area.items()},
            "nose_mouth_chin": {
                "share": round(self.lower_share, 4),
                "area": round(self.lower_area, 4),
                "ratio": round(self.lower_ratio, 3),
            },
            "landmarks": "template" if self.template else "detected",
            "blank": self.blank,
        }


def region_shares(attribution: np.ndarray, masks: dict[str, np.ndarray], template: bool = False) -> RegionShares:
    """Part of ``attribution``'s positive mass in each region (negative values count as 0).

    Raises:
        ValueError: A mask's shape differs from the map's.
    """
    a = np.nan_to_num(np.asarray(attribution, dtype=np.float64)).clip(min=0)
    total = float(a.sum())
    share, area = {}, {}
    for name, m in masks.items():
        if m.shape != a.shape:
            raise ValueError(f"region {name!r} has shape {m.shape}, the map {a.shape}")
        share[name] = float(a[m].sum()) / total if total > 0 else 0.0
        area[name] = float(m.mean())
    return RegionShares(share, area, template, blank=not total > 0)


def face_regions(
    attribution: np.ndarray,
    landmarks: np.ndarray | None,
    box: tuple[float, float, float, float] | None = None,
) -> RegionShares:
    """:func:`region_shares` of a map over the regions of ``landmarks`` (the template's if ``None``)."""
    h, w = attribution.shape
    template = landmarks is None
    if landmarks is None:
        landmarks = template_landmarks(w) * np.array([1.0, h / w], dtype=np.float32)
    return region_shares(attribution, region_masks(landmarks, (h, w), box), template)
