"""Things on a bare face that a mask classifier can mistake for a mask: hard negatives, all ``not_masked``.

Every model from step 10 on loses the same two bare faces of Face Mask Detection's validation split: a bearded
man (called worn incorrectly) and a face whose mouth is hidden (called worn correctly; on a closer look, behind
another person's shoulder). Training had never shown a bare face with anything over its lower half. Here two such
things are drawn from MTCNN's five landmarks, in the face frame of :class:`maskxai.masks.FaceFrame` (so they follow
tilt and scale). Measured in rounds 13-14 (docs/experiments.md): they teach the drawn cases, not those two faces.

- ``beard``: hair over the jaw, chin and upper lip, the lips left bare; full, goatee or stubble, in a hair colour;
- ``hand``: a hand over the mouth (fingers across it, from either side or from below) or under the chin,
  skin-toned from the face's own cheeks, shaded as four fingers with creases between them.

Both are labelled ``not_masked``: the nose and mouth are not covered by a mask.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .masks import FaceFrame
from .realmasks import scene_light

LOOKALIKES = ("beard", "hand")
BEARD_STYLES = ("full", "goatee", "stubble")
_SLEEVES = [(30, 30, 35), (50, 60, 90), (120, 120, 125), (200, 200, 205), (90, 40, 40), (60, 80, 60), (150, 120, 90)]
_HAIR = [(25, 20, 18), (45, 32, 24), (70, 48, 30), (110, 75, 45), (150, 90, 50), (120, 115, 110), (175, 170, 165)]


def render_lookalike(
    img: Image.Image, landmarks: np.ndarray, kind: str, *, rng: np.random.Generator | None = None
) -> Image.Image:
    """Draw a beard or a hand (``kind``, one of :data:`LOOKALIKES`) on a bare face.

    Args:
        img: Face image (any mode; returned as RGB).
        landmarks: ``(5, 2)`` MTCNN landmarks in ``img``'s pixels.
        kind: ``beard`` or ``hand``.
        rng: Random source for shape, style and colour (seed it for repeatable images).

    Returns:
        A new RGB image; ``img`` is not modified.

    Raises:
        ValueError: Unknown ``kind``, or landmarks not in face order.
    """
    if kind not in LOOKALIKES:
        raise ValueError(f"unknown lookalike {kind!r}; choose one of {list(LOOKALIKES)}")
    rng = rng or np.random.default_rng()
    frame = FaceFrame.from_landmarks(landmarks)
    face = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    if kind == "beard":
        alpha, rgb = _beard(face, frame, np.asarray(landmarks, dtype=np.float64).reshape(5, 2), rng)
        under = face
    else:
        alpha, rgb = _hand(face, frame, rng)
        # the hand's soft shadow on the face around it
        under = face * (1 - 0.25 * _blur(alpha[..., 0], frame.d * 0.08) * (1 - alpha[..., 0]))[..., None]
    out = under * (1 - alpha) + np.clip(rgb, 0, 1) * alpha
    return Image.fromarray(np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8))


def _poly_mask(size: tuple[int, int], polys: list[np.ndarray], blur: float, scale: int = 2) -> np.ndarray:
    """``H x W`` coverage in [0, 1] of image-pixel polygons, drawn at ``scale`` times the size for smooth edges."""
    w, h = size
    m = Image.new("L", (w * scale, h * scale), 0)
    draw = ImageDraw.Draw(m)
    for p in polys:
        draw.polygon([tuple(q) for q in (p * scale)], fill=255)
    m = m.resize((w, h), Image.Resampling.BILINEAR)
    if blur > 0:
        m = m.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(m, dtype=np.float32) / 255.0


def _ellipse(cu: float, cv: float, ru: float, rv: float, n: int = 32) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cu + ru * np.cos(t), cv + rv * np.sin(t)], axis=1)


def _beard(
    face: np.ndarray, frame: FaceFrame, lm: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    h, w = face.shape[:2]
    n, m, c = frame.nose, frame.mouth, frame.chin
    style = BEARD_STYLES[rng.choice(3, p=[0.5, 0.25, 0.25])]
    mouth_half = float(np.abs(frame.to_frame(lm[3:5])[:, 0]).mean()) + rng.uniform(0.02, 0.1)
    cu = 0.4 * frame.nose_u
    bottom = c + rng.uniform(0.0, 0.3 if style != "stubble" else 0.1)
    if style == "goatee":  # chin and round the mouth only
        half = mouth_half + rng.uniform(0.05, 0.2)
        region = [
            np.array(
                [
                    [cu - half, m - 0.12],
                    [cu + half, m - 0.12],
                    [cu + half * 0.9, c - 0.1],
                    [cu, bottom],
                    [cu - half * 0.9, c - 0.1],
                ]
            )
        ]
    else:  # full or stubble: sideburns down the jaw to the chin
        top = n + (m - n) * rng.uniform(-0.4, 0.3)
        wt = rng.uniform(0.95, 1.15)
        t = np.linspace(0, np.pi, 17)
        jaw = np.stack(
            [cu + np.cos(t) * wt * (0.55 + 0.45 * np.cos(t) ** 2), c - 0.25 + (bottom - c + 0.25) * np.sin(t)], 1
        )
        region = [
            np.concatenate(
                [
                    [[cu - wt, top], [cu - wt * 0.8, top], [cu - mouth_half, m]],
                    [[cu + mouth_half, m], [cu + wt * 0.8, top], [cu + wt, top]],
                    jaw,
                ]
            )
        ]
    moustache = rng.random() < (0.85 if style != "stubble" else 1.0)
    polys = [frame.to_image(p) for p in region]
    if moustache:
        mv = m - (m - n) * rng.uniform(0.15, 0.3)
        polys.append(
            frame.to_image(_ellipse(cu, mv, mouth_half * rng.uniform(1.0, 1.3), (m - n) * rng.uniform(0.18, 0.3)))
        )
    area = _poly_mask((w, h), polys, blur=frame.d * 0.04)
    lips = _poly_mask(
        (w, h), [frame.to_image(_ellipse(cu, m + 0.02, mouth_half * 0.9, rng.uniform(0.08, 0.13)))], blur=frame.d * 0.02
    )
    area = area * (1 - lips)
    # Hair: many short strokes pointing down the face, each of its own brightness, on a noisy density.
    strands = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(strands)
    ys, xs = np.nonzero(area > 0.05)
    if len(xs):
        length = frame.d * (0.03 if style == "stubble" else rng.uniform(0.05, 0.1))
        width = max(1, round(frame.d / 40))
        # enough strokes to cover the area about twice (stubble: half as often), whatever the face's size
        k = min(30000, int(len(xs) * (1.0 if style == "stubble" else 2.0) / max(1.0, length * width)) + 1)
        pick = rng.integers(len(xs), size=k)
        ang = np.arctan2(frame.ey[1], frame.ey[0]) + rng.normal(0, 0.5, k)
        x0, y0 = xs[pick].astype(np.float64), ys[pick].astype(np.float64)
        x1, y1 = x0 + np.cos(ang) * length, y0 + np.sin(ang) * length
        val = rng.integers(120, 256, k)
        for a, b, cc, dd, v in zip(x0, y0, x1, y1, val, strict=True):
            draw.line((a, b, cc, dd), fill=int(v), width=width)
    s = _blur(np.asarray(strands, dtype=np.float32) / 255.0, max(0.4, frame.d * 0.008))[..., None]
    density = (0.3, 0.55) if style == "stubble" else (0.75, 0.97)
    alpha = area[..., None] * np.clip(rng.uniform(*density) * (0.15 + 0.95 * s), 0, 1)
    base = np.array(_HAIR[rng.integers(len(_HAIR))], dtype=np.float32) / 255.0 * rng.uniform(0.85, 1.15)
    light = float(np.median(face)) / 0.5
    rgb = base * (0.78 + 0.35 * s) * np.clip(0.8 + 0.2 * light, 0.6, 1.2)
    return alpha, rgb.astype(np.float32)


def _blur(a: np.ndarray, radius: float) -> np.ndarray:
    """A Gaussian blur of an ``H x W`` array in [0, 1] (through an 8-bit image)."""
    img = Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255.0


def _finger(p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, n: int = 10) -> np.ndarray:
    """A finger: the outline round a segment ``p0``-``p1``, of radius ``r0`` at its base and ``r1`` at its tip."""
    d = (p1 - p0) / max(float(np.linalg.norm(p1 - p0)), 1e-6)
    nrm = np.array([-d[1], d[0]])
    a = np.linspace(-np.pi / 2, np.pi / 2, n)
    tip = p1 + r1 * (np.cos(a)[:, None] * d + np.sin(a)[:, None] * nrm)
    base = p0 + r0 * (-np.cos(a)[:, None] * d - np.sin(a)[:, None] * nrm)
    return np.concatenate([tip[::-1], base[::-1]])


def _skin(face: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """The face's skin colour: the median of two cheek patches and the nose's side."""
    h, w = face.shape[:2]
    pts = frame.to_image(np.array([[-0.55, frame.nose], [0.55, frame.nose], [0.0, frame.nose * 0.6]]))
    r = max(1, round(frame.d * 0.12))
    patches = []
    for x, y in pts:
        x, y = int(round(x)), int(round(y))
        patch = face[max(0, y - r) : min(h, y + r + 1), max(0, x - r) : min(w, x + r + 1)].reshape(-1, 3)
        if len(patch):
            patches.append(patch)
    return np.median(np.concatenate(patches), axis=0) if patches else np.array([0.75, 0.6, 0.5], np.float32)


def _hand(face: np.ndarray, frame: FaceFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = face.shape[:2]
    pose = ("side", "below", "chin")[rng.choice(3, p=[0.5, 0.25, 0.25])]
    side = 1.0 if rng.random() < 0.5 else -1.0
    finger_r = rng.uniform(0.085, 0.11)
    length = rng.uniform(0.75, 1.0)
    # The hand's own frame: fingers along +x, stacked along y; then turned and moved onto the face.
    if pose == "side":  # fingers across the mouth from one side, the back of the hand on the cheek
        # turned so that the forearm leaves the face down and out, never up past the eyes
        theta = np.deg2rad(-side * rng.uniform(-30, 5)) + (0 if side < 0 else np.pi)
        anchor = np.array([0.0, frame.mouth]) + rng.uniform(-0.12, 0.12, 2)
        tips_at = rng.uniform(0.35, 0.65)  # the share of the finger length past the anchor
    elif pose == "below":  # fingers up over the mouth from below, the palm on the chin
        theta = -np.pi / 2 + np.deg2rad(rng.uniform(-25, 25))
        anchor = np.array([0.0, frame.mouth - 0.05]) + rng.uniform(-0.1, 0.1, 2)
        tips_at = rng.uniform(0.4, 0.7)
    else:  # curled under the chin: a fist or fingers along the jaw, mouth and nose bare
        theta = np.deg2rad(rng.uniform(-20, 20)) + (0 if side < 0 else np.pi)
        anchor = np.array([0.0, frame.chin + rng.uniform(-0.05, 0.15)]) + np.array([rng.uniform(-0.2, 0.2), 0.0])
        tips_at = rng.uniform(0.4, 0.7)
        length *= rng.uniform(0.6, 0.85)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    lens = length * np.array([0.9, 1.0, 0.95, 0.78]) * rng.uniform(0.92, 1.08, 4)
    ys = (np.arange(4) - 1.5) * finger_r * 1.9
    fan = np.deg2rad(rng.uniform(0, 4)) * (np.arange(4) - 1.5)  # fingers spread a little from the knuckles
    tip_r = finger_r * rng.uniform(0.75, 0.9)  # fingers taper to their tips
    x0 = -length * tips_at
    fingers, tips = [], []
    for li, y, a in zip(lens, ys, fan, strict=True):
        tip = np.array([x0 + li * np.cos(a), y + li * np.sin(a)])
        fingers.append(_finger(np.array([x0, y]), tip, finger_r, tip_r))
        tips.append(tip)
    palm_len = rng.uniform(0.7, 1.0)
    palm_half = finger_r * 4.0
    wrist = x0 - palm_len - rng.uniform(0.35, 0.6)  # where the sleeve begins
    t = np.linspace(-np.pi / 2, np.pi / 2, 9)
    knuckles_edge = np.stack([x0 + 0.06 + 0.04 * np.cos(t), palm_half * np.sin(t)], 1)  # slightly rounded
    palm = np.concatenate(
        [
            knuckles_edge[::-1],
            [
                [x0 - palm_len * 0.6, -palm_half * 1.02],
                [x0 - palm_len, -palm_half * 0.8],
                [wrist - 0.1, -palm_half * 0.7],
            ],
            [[wrist - 0.1, palm_half * 0.7], [x0 - palm_len, palm_half * 0.8], [x0 - palm_len * 0.6, palm_half * 1.02]],
        ]
    )[::-1]
    thumb = None
    if rng.random() < 0.7:  # the thumb, off the palm's side, pointing forward and out
        down = np.cos(theta)  # how far the hand's +y side points down the face: the thumb goes there, not to the eyes
        ts = (1.0 if down > 0 else -1.0) if abs(down) > 0.3 else (1.0 if rng.random() < 0.5 else -1.0)
        base = np.array([x0 - palm_len * 0.55, ts * palm_half * 0.8])
        ang = ts * np.deg2rad(rng.uniform(25, 55))
        tl = length * rng.uniform(0.5, 0.65)
        thumb = _finger(base, base + tl * np.array([np.cos(ang), np.sin(ang)]), finger_r * 1.2, finger_r * 0.95)
    sleeve = np.array([[wrist, -palm_half * 0.85], [wrist, palm_half * 0.85], [wrist - 4, palm_half * 1.3],
                       [wrist - 4, -palm_half * 1.3]])  # fmt: skip
    to_face = lambda p: p @ rot.T + anchor  # noqa: E731
    blur = max(0.5, frame.d * 0.012)
    palm_a = _poly_mask((w, h), [frame.to_image(to_face(palm))], blur)
    finger_a = [_poly_mask((w, h), [frame.to_image(to_face(f))], blur) for f in fingers]
    if thumb is not None:
        finger_a.append(_poly_mask((w, h), [frame.to_image(to_face(thumb))], blur))
    sleeve_a = _poly_mask((w, h), [frame.to_image(to_face(sleeve))], blur)
    alpha = np.clip(palm_a + sum(finger_a), 0, 1)
    # Shading: each finger a cylinder (bright along its middle, dark at its edges), a dark line between fingers,
    # a crease across the middle joints, the scene's low-frequency light over all of it, fine skin grain.
    shade = 0.72 + 0.3 * _blur(palm_a, frame.d * 0.12)
    for fa in finger_a:
        shade = np.maximum(shade, 0.6 + 0.48 * _blur(fa, frame.d * 0.05) * fa)
    lines = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(lines)
    width = max(1, round(frame.d / 50))
    for i in range(3):  # between neighbouring fingers, from the knuckles to the shorter one's tip
        end = min(lens[i], lens[i + 1]) - tip_r
        seg = np.array(
            [[x0 + 0.02, (ys[i] + ys[i + 1]) / 2], [x0 + end, (ys[i] + ys[i + 1]) / 2 + end * fan[i : i + 2].mean()]]
        )
        xy = frame.to_image(to_face(seg))
        draw.line([tuple(xy[0]), tuple(xy[1])], fill=int(rng.integers(150, 230)), width=width)
    for li, y, a in zip(lens, ys, fan, strict=True):  # the middle joints
        c = np.array([x0 + 0.45 * li * np.cos(a), y + 0.45 * li * np.sin(a)])
        xy = frame.to_image(to_face(np.array([c - [0, finger_r * 0.7], c + [0, finger_r * 0.7]])))
        draw.line([tuple(xy[0]), tuple(xy[1])], fill=int(rng.integers(50, 120)), width=width)
    creases = _blur(np.asarray(lines, np.float32) / 255.0, max(0.5, frame.d * 0.01))
    shade = shade * (1 - 0.4 * creases)
    if rng.random() < 0.5:  # the back of the hand to the camera: nails at the fingertips, paler and shinier
        nails = [_ellipse(t[0] - tip_r * 0.55, t[1], tip_r * 0.75, tip_r * 0.62, 16) for t in tips]
        nail_a = _poly_mask((w, h), [frame.to_image(to_face(e)) for e in nails], blur)
        shade = shade * (1 - nail_a) + (1.08 + 0.1 * _blur(nail_a, frame.d * 0.02)) * nail_a
    blotch = 1 + 0.06 * (2 * _blur(rng.random((h, w)).astype(np.float32), frame.d * 0.12) - 1) * 4
    shade = shade * np.clip(blotch, 0.85, 1.15)
    light = scene_light(face, alpha, frame.d * 0.6, (0.7, 1.3))
    warm = np.array([1.0 + rng.uniform(0, 0.06), 1.0, 1.0 - rng.uniform(0, 0.06)])
    skin = _skin(face, frame) * rng.uniform(0.88, 1.08) * warm
    grain = _blur(rng.normal(0, 1, (h, w)).astype(np.float32), max(0.5, frame.d * 0.008)) * 0.03
    rgb = skin[None, None, :].astype(np.float32) * (shade * light)[..., None] + grain[..., None]
    # The sleeve the forearm goes into: a cloth colour, shaded across like the fingers, under the hand.
    cloth = np.array(_SLEEVES[rng.integers(len(_SLEEVES))], np.float32) / 255.0 * rng.uniform(0.85, 1.1)
    sleeve_a = sleeve_a * (1 - alpha)
    sleeve_rgb = cloth[None, None, :] * ((0.7 + 0.35 * _blur(sleeve_a, frame.d * 0.1)) * light)[..., None]
    rgb = (rgb * alpha[..., None] + sleeve_rgb * sleeve_a[..., None]) / np.maximum(alpha + sleeve_a, 1e-6)[..., None]
    alpha = np.clip(alpha + sleeve_a, 0, 1)
    return alpha[..., None], rgb
