"""Synthetic face masks drawn from five facial landmarks.

A mask is a shape in a face-aligned frame (origin between the eyes, x along
the eye line, unit = the distance between the eyes), so it follows head tilt
and scale. Placements:

- ``correct``: nose bridge to under the chin (``correctly_masked``);
- ``below_nose``: nostrils to chin, nose visible (``incorrectly_masked``);
- ``chin``: below the lips, only the chin covered (``incorrectly_masked``);
- ``nose_mouth``: nose and mouth, chin out (``incorrectly_masked``);
- ``none``: the face as it is (``not_masked``).

Styles vary colour, texture (pleats, cloth weave, patterns, FFP2 seam),
shading and ear loops; edges are feathered into the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PLACEMENT_LABEL: dict[str, str] = {
    "correct": "correctly_masked",
    "below_nose": "incorrectly_masked",
    "chin": "incorrectly_masked",
    "nose_mouth": "incorrectly_masked",
    "none": "not_masked",
}
STYLES = ("surgical", "cloth", "patterned", "ffp2")
# The chin below the eye line, in eye distances: a + b * nose + c * mouth, fitted by `scripts/chin_fit.py` to the
# lowest chin point of a 468-point face mesh (mediapipe) on 1,488 of Face Mask 12K's bare training faces. On 397
# val faces its mean |error| is 0.14 against 0.25 for the rule it replaced (mouth + max(0.45, 1.35 (mouth - nose))),
# which hung the chin from the mouth corners, so that a smile lifted it: the example astronaut's mask stopped
# above her chin.
CHIN_FIT = (1.071, 0.062, 0.414)
# How far below that chin a correctly worn mask ends (mean; each draw moves it by up to 0.05): the mesh's chin is
# covered on 98 % of those val faces at the mean, 94 % at the highest draw (the old rule's
# correct masks, chin + 0.12: 81 % and 72 %) (`scripts/chin_fit.py fit`).
CORRECT_BELOW_CHIN = 0.28
# Where a mask worn over nose and mouth with the chin out ends: this share of the way from the mouth to that chin
# (each draw moves it by up to 0.08). On 400 of those train faces it covers the mesh's lower lip on 84 % and its
# chin on 13 % (real templates; drawn masks 70 % and 6 %); 0.3 gives 71 % and 9 %: no depth does both, the five
# points do not say where the lip ends (measured on `scripts/chin_fit.py`'s data; kept at 0.4).
CHIN_OUT_DEPTH = 0.4
_PALETTE = {
    "surgical": [(140, 190, 225), (120, 175, 215), (235, 238, 240), (80, 90, 100), (230, 170, 190), (150, 210, 190)],
    "cloth": [(30, 30, 35), (40, 50, 90), (200, 200, 200), (150, 40, 50), (90, 110, 80), (220, 190, 150), (60, 60, 60)],
    "patterned": [(30, 40, 80), (200, 60, 60), (240, 240, 230), (40, 120, 110), (230, 200, 80)],
    "ffp2": [(240, 240, 238), (225, 225, 220), (60, 60, 65), (235, 230, 210)],
}


@dataclass(frozen=True)
class FaceFrame:
    """A face-aligned frame from 5 landmarks: left eye, right eye, nose, mouth left, mouth right."""

    origin: np.ndarray
    ex: np.ndarray
    ey: np.ndarray
    d: float
    nose: float
    mouth: float
    chin: float
    nose_u: float

    @classmethod
    def from_landmarks(cls, lm: np.ndarray) -> FaceFrame:
        lm = np.asarray(lm, dtype=np.float64).reshape(5, 2)
        le, re, nose, ml, mr = lm
        origin = (le + re) / 2
        ex = re - le
        d = float(np.linalg.norm(ex))
        if d < 1e-3:
            raise ValueError("the eye landmarks coincide; cannot place a mask")
        ex = ex / d
        ey = np.array([-ex[1], ex[0]])  # 90 degrees: points down the face in image coordinates
        mouth = (ml + mr) / 2

        def v(p: np.ndarray) -> float:
            return float((p - origin) @ ey) / d

        nose_v, mouth_v = v(nose), v(mouth)
        if not 0.1 < nose_v < mouth_v:
            raise ValueError("the landmarks are not in face order (eyes above nose above mouth)")
        a, b, c = CHIN_FIT
        chin_v = max(a + b * nose_v + c * mouth_v, mouth_v + 0.3)  # the floor: never closer than 0.3 below the mouth
        return cls(origin, ex, ey, d, nose_v, mouth_v, chin_v, float((nose - origin) @ ex) / d)

    def to_image(self, uv: np.ndarray) -> np.ndarray:
        """Face-frame points ``(N, 2)`` (u right, v down, unit d) to image pixels."""
        return self.origin + (uv[:, :1] * self.ex + uv[:, 1:2] * self.ey) * self.d

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        """Image pixels ``(N, 2)`` to face-frame points (the inverse of :meth:`to_image`)."""
        rel = np.asarray(xy, dtype=np.float64).reshape(-1, 2) - self.origin
        return np.stack([rel @ self.ex, rel @ self.ey], axis=1) / self.d


def _outline(
    frame: FaceFrame, top: float, bottom: float, style: str, rng: np.random.Generator, over_nose: bool
) -> np.ndarray:
    """Polygon of the mask in the face frame: a rounded shield from ``top`` to ``bottom``."""
    half_top = rng.uniform(0.95, 1.15)
    half_mid = half_top + rng.uniform(0.0, 0.1)
    half_bottom = rng.uniform(0.45, 0.7)
    cu = 0.35 * frame.nose_u  # shift towards where the nose points (head turned)
    n = 24
    pts = []
    peak = rng.uniform(0.12, 0.22) if style == "ffp2" else rng.uniform(0.0, 0.08)
    if not over_nose:  # a mask pulled down lies flat under the nose: its peak must not cover the nose tip
        peak = 0.0
    for i in range(n + 1):  # top edge, left to right, with a raised middle over the nose
        t = i / n
        u = -half_top + 2 * half_top * t
        lift = peak * (1 - abs(2 * t - 1)) ** 1.5
        pts.append((u + cu, top - lift + 0.04 * (2 * t - 1) ** 2))
    mid = top + 0.55 * (bottom - top)
    for i in range(n + 1):  # right side down and the rounded bottom back to the left
        a = np.pi * i / n
        u = np.cos(a) * (
            half_mid if i < n / 4 or i > 3 * n / 4 else half_bottom + (half_mid - half_bottom) * abs(np.cos(a))
        )
        vv = mid + (bottom - mid) * np.sin(a)
        pts.append((u + cu, vv))
    return np.array(pts)


def _bounds(frame: FaceFrame, placement: str, rng: np.random.Generator) -> tuple[float, float]:
    n, m, c = frame.nose, frame.mouth, frame.chin
    j = lambda s: rng.uniform(-s, s)  # noqa: E731
    if placement == "correct":
        return 0.3 * n + j(0.06), c + CORRECT_BELOW_CHIN + j(0.05)
    if placement == "below_nose":
        return n + (m - n) * (0.3 + j(0.1)), c + 0.15 + j(0.08)
    if placement == "chin":
        return m + (c - m) * (0.35 + j(0.1)), c + 0.2 + j(0.08)
    if placement == "nose_mouth":
        return 0.3 * n + j(0.06), m + (c - m) * (CHIN_OUT_DEPTH + j(0.08))
    raise ValueError(f"unknown placement {placement!r}; choose one of {sorted(PLACEMENT_LABEL)}")


def _texture(h: int, w: int, style: str, rng: np.random.Generator, uv: np.ndarray) -> np.ndarray:
    """RGB float texture in [0, 255] for a mask of ``style``, following face-frame coordinates ``uv``."""
    base = np.array(_PALETTE[style][rng.integers(len(_PALETTE[style]))], dtype=np.float64)
    if rng.random() < 0.25:  # any colour at all, now and then
        base = rng.uniform(20, 245, size=3)
    tex = np.broadcast_to(base, (h, w, 3)).copy()
    u, v = uv[..., 0], uv[..., 1]
    if style == "surgical":
        pleat = 0.5 + 0.5 * np.sin(v * rng.uniform(4.5, 6.5) * np.pi)
        tex *= (1 - 0.18 * pleat**6)[..., None]
    elif style == "cloth":
        weave = rng.normal(0, 6, size=(h, w, 1))
        tex += weave
    elif style == "patterned":
        other = rng.uniform(20, 245, size=3)
        f = rng.uniform(5, 12)
        kind = rng.integers(3)
        if kind == 0:
            sel = (np.sin(u * f * np.pi) * np.sin(v * f * np.pi)) > 0.6  # dots
        elif kind == 1:
            sel = np.sin((u + v) * f * np.pi) > 0.3  # stripes
        else:
            sel = (np.floor(u * f / 2) + np.floor(v * f / 2)) % 2 == 0  # checks
        tex[sel] = other
    elif style == "ffp2":
        seam = np.exp(-((u - 0.0) ** 2) / 0.0008)
        tex *= (1 - 0.25 * seam)[..., None]
        tex += rng.normal(0, 3, size=(h, w, 1))
    return tex


def render_mask(
    img: Image.Image,
    landmarks: np.ndarray,
    placement: str = "correct",
    *,
    style: str | None = None,
    rng: np.random.Generator | None = None,
) -> Image.Image:
    """Draw a synthetic mask on a face.

    Args:
        img: RGB face image.
        landmarks: ``(5, 2)`` MTCNN landmarks in ``img``'s pixels.
        placement: One of ``correct``, ``below_nose``, ``chin``, ``nose_mouth``, ``none``.
        style: ``surgical``, ``cloth``, ``patterned`` or ``ffp2``; random if None.
        rng: Random source for shape, colour and texture (seed it for repeatable images).

    Returns:
        A new RGB image; ``img`` is not modified.

    Raises:
        ValueError: Unknown placement or style, or landmarks not in face order.
    """
    rng = rng or np.random.default_rng()
    if placement not in PLACEMENT_LABEL:
        raise ValueError(f"unknown placement {placement!r}; choose one of {sorted(PLACEMENT_LABEL)}")
    if placement == "none":
        return img.convert("RGB").copy()
    style = style or STYLES[rng.integers(len(STYLES))]
    alpha, frame, poly, (top, bottom) = mask_shape(img.size, landmarks, placement, style=style, rng=rng)

    w, h = img.size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    rel = np.stack([xs - frame.origin[0], ys - frame.origin[1]], axis=-1)
    uv = np.stack([rel @ frame.ex, rel @ frame.ey], axis=-1) / frame.d
    tex = _texture(h, w, style, rng, uv)
    # Shading: a cylinder lit from a random side, darker towards the cheeks and the chin.
    side = rng.uniform(-0.4, 0.4)
    shade = 1.0 - 0.35 * np.clip(np.abs(uv[..., 0] - side) / 1.2, 0, 1) ** 2
    shade *= 1.0 - 0.15 * np.clip((uv[..., 1] - top) / max(bottom - top, 1e-3), 0, 1)
    # Keep some of the photo's lighting: masks in real photos share the scene's light.
    face = np.asarray(img.convert("RGB"), dtype=np.float64)
    # Only the low frequencies of the light: features under the mask must not show through.
    lum_img = Image.fromarray(face.mean(axis=2).astype(np.uint8)).filter(ImageFilter.GaussianBlur(frame.d * 0.6))
    lum = np.asarray(lum_img, dtype=np.float64)[..., None]
    light = np.clip(lum / max(float((lum[..., 0] * alpha).sum() / max(alpha.sum(), 1)), 1.0), 0.6, 1.4)
    tex = tex * shade[..., None] * (0.6 + 0.4 * light)
    out = face * (1 - alpha[..., None]) + np.clip(tex, 0, 255) * alpha[..., None]
    out = _ear_loops(out, poly, frame, top, bottom, rng)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def mask_shape(
    size: tuple[int, int], landmarks: np.ndarray, placement: str, *, style: str, rng: np.random.Generator
) -> tuple[np.ndarray, FaceFrame, np.ndarray, tuple[float, float]]:
    """Where a mask goes: coverage ``H x W`` in [0, 1], the face frame, the polygon and its top/bottom (face units)."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {list(STYLES)}")
    frame = FaceFrame.from_landmarks(landmarks)
    top, bottom = _bounds(frame, placement, rng)
    over_nose = placement in ("correct", "nose_mouth")
    poly = frame.to_image(_outline(frame, top, bottom, style, rng, over_nose))
    return mask_alpha(size, poly, frame.d), frame, poly, (top, bottom)


def mask_alpha(size: tuple[int, int], poly: np.ndarray, d: float) -> np.ndarray:
    """Feathered coverage in [0, 1] of the polygon, drawn at 4x and blurred in proportion to face size."""
    w, h = size
    ss = 4
    m = Image.new("L", (w * ss, h * ss), 0)
    ImageDraw.Draw(m).polygon([(float(x) * ss, float(y) * ss) for x, y in poly], fill=255)
    m = m.resize((w, h), Image.Resampling.BOX).filter(ImageFilter.GaussianBlur(max(0.4, d * 0.012)))
    return np.asarray(m, dtype=np.float64) / 255.0


def _ear_loops(
    out: np.ndarray, poly: np.ndarray, frame: FaceFrame, top: float, bottom: float, rng: np.random.Generator
) -> np.ndarray:
    if rng.random() < 0.3:
        return out
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    colour = tuple(int(c) for c in rng.uniform(150, 250, 3)) if rng.random() < 0.7 else (40, 40, 40)
    width = max(1, round(frame.d * 0.03))
    for sgn in (-1, 1):
        a = frame.to_image(np.array([[sgn * 1.05, top + 0.05]]))[0]
        b = frame.to_image(np.array([[sgn * 1.35, -0.1]]))[0]
        c = frame.to_image(np.array([[sgn * 1.05, bottom - 0.3]]))[0]
        draw.line([tuple(a), tuple(b)], fill=colour, width=width)
        draw.line([tuple(c), tuple(b)], fill=colour, width=width)
    return np.asarray(img, dtype=np.float64)
