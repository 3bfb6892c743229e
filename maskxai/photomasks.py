"""Masks cut out of real photos of people wearing them, as templates for :mod:`maskxai.realmasks`.

MaskTheFace's templates are a dozen photographed masks; real masks come in every fabric, fold and strap.
:func:`cut_mask` cuts the mask out of a photo of a face wearing it correctly (Face Mask 12K's training
crops), from MTCNN's five landmarks: GrabCut seeded with the mouth as mask and the eyes and above as
background, kept only when the cut is plausible (it covers the mouth and the nose tip, stops below the
eyes, differs in colour from the skin above it). The cut becomes a :class:`~maskxai.realmasks.MaskTemplate`
with six anchors read off its outline, so :func:`maskxai.realmasks.render_real_mask` places it like any
template: under the nose, on the chin, hanging from one ear, ... (training's ``--photo-masks``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .masks import FaceFrame
from .realmasks import MaskTemplate, view_of

MIN_SKIN_CONTRAST = 0.12  # RGB distance in [0, 1] between the mask and the skin above it, below which no cut is kept


def _anchors(alpha: np.ndarray, cx: float) -> np.ndarray | None:
    """Anchors a..f of a cut (``H x W`` alpha, column ``cx`` the face's centre line), as MaskTheFace's."""
    solid = alpha > 0.5
    rows = np.nonzero(solid.any(axis=1))[0]
    col = solid[:, int(round(min(max(cx, 0), solid.shape[1] - 1)))]
    if len(rows) < 4 or not col.any():
        return None
    top, bottom = float(np.nonzero(col)[0][0]), float(np.nonzero(col)[0][-1])
    h = bottom - top
    pts = []
    for frac in (0.15, 0.72):
        y = int(round(top + frac * h))
        xs = np.nonzero(solid[y])[0]
        if not len(xs):
            return None
        pts.append(((float(xs[0]), y), (float(xs[-1]), y)))
    (a, c), (d, f) = pts
    return np.array([a, (cx, top), c, d, (cx, bottom), f], dtype=np.float64)


def cut_mask(img: Image.Image, landmarks: np.ndarray, name: str = "photo", iters: int = 3) -> MaskTemplate | None:
    """The mask worn (correctly) on the face of ``img``, cut out as a template; ``None`` when no plausible cut.

    Args:
        img: A face crop of someone wearing a mask over nose and mouth (any mode).
        landmarks: ``(5, 2)`` MTCNN landmarks (eyes, nose, mouth corners) in ``img``'s pixels.
        name: The template's name (``photo_...``; photographed cuts keep their own colour).
        iters: GrabCut iterations.
    """
    import cv2

    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    rgb = np.asarray(img.convert("RGB"))
    h, w = rgb.shape[:2]
    le, re, nose, ml, mr = lm
    eye_y = (le[1] + re[1]) / 2
    mouth = (ml + mr) / 2
    d = float(np.linalg.norm(re - le))
    inside = (lm >= 0).all() and (lm[:, 0] < w - 1).all() and (lm[:, 1] < h - 1).all()
    if d < 8 or not inside or not eye_y < nose[1] < mouth[1]:
        return None
    seed = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    span = (xx > le[0] - 0.7 * d) & (xx < re[0] + 0.7 * d)
    seed[span & (yy > eye_y + 0.4 * (nose[1] - eye_y))] = cv2.GC_PR_FGD
    seed[yy < eye_y + 0.15 * (nose[1] - eye_y)] = cv2.GC_BGD
    x0, x1 = int(ml[0]), int(mr[0]) + 1
    y0 = int(nose[1] + 0.3 * (mouth[1] - nose[1]))
    y1 = int(min(h - 1, mouth[1] + 0.3 * (mouth[1] - nose[1]))) + 1
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    seed[y0:y1, x0:x1] = cv2.GC_FGD
    if rgb[seed != cv2.GC_BGD].std() < 2:  # a flat picture: nothing to cut (and GrabCut's colour models degenerate)
        return None
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means draws from OpenCV's global RNG: the same photo, the same cut, in any order
    try:
        cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), seed, (0, 0, w, h), bgd, fgd, iters, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    fg = ((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, comp = cv2.connectedComponents(fg)
    keep = comp[int(mouth[1]), int(mouth[0])]
    if n < 2 or keep == 0:
        return None
    fg = (comp == keep).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    # Plausible: covers the nose tip, stops below the eyes, a believable share of the lower face.
    cx = float(nose[0])
    if not fg[int(nose[1]), int(nose[0])] or fg[: int(eye_y) + 1].any():
        return None
    lower = span & (yy > eye_y)
    share = fg[lower].mean()
    if not 0.3 <= share <= 0.95:
        return None
    # Unlike the skin above it: skin taken between the eyes' line and the mask's top at the cheeks.
    top = int(np.nonzero(fg[:, int(cx)])[0][0])
    band = np.zeros_like(fg, dtype=bool)
    band[int(eye_y) + 2 : max(int(eye_y) + 3, top - 1)] = True
    skin = band & span & (fg == 0)
    if skin.sum() < 10:
        return None
    f = rgb[fg.astype(bool)].astype(np.float64) / 255
    s = rgb[skin].astype(np.float64) / 255
    if float(np.linalg.norm(f.mean(axis=0) - s.mean(axis=0))) < MIN_SKIN_CONTRAST:
        return None
    # A tight crop ends at the chin: round the cut's lower corners so no straight crop edge is carried along.
    bottom = int(np.nonzero(fg.any(axis=1))[0][-1])
    if bottom >= h - 2:
        cols = np.nonzero(fg.any(axis=0))[0]
        half = max((cols[-1] - cols[0]) / 2, 1.0)
        mid = (cols[-1] + cols[0]) / 2
        depth = 0.18 * (bottom - top)
        edge = bottom - depth * ((xx - mid) / half) ** 2
        fg[yy > edge] = 0
    alpha = cv2.GaussianBlur(fg.astype(np.float32), (3, 3), 0.8)
    ys, xs = np.nonzero(alpha > 0.02)
    by0, by1, bx0, bx1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgba = np.concatenate([rgb.astype(np.float32) / 255, alpha[..., None]], axis=2)[by0:by1, bx0:bx1]
    anchors = _anchors(rgba[..., 3], cx - bx0)
    if anchors is None:
        return None
    return MaskTemplate(name, np.ascontiguousarray(rgba), anchors, view_of(FaceFrame.from_landmarks(lm)))
