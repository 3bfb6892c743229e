"""Drawing maps over faces, with a colour bar and one documented normalisation.

- Grad-CAM: ReLU'd and divided by its maximum (0..1, relative to this image),
  colour map ``inferno``; opacity grows with the value.
- Gradients and Integrated Gradients: signed, channels summed. Scaled
  symmetrically by the 99th percentile of |value| (values beyond are clipped),
  colour map ``RdBu_r``: red raises the class score, blue lowers it, and
  near-zero is transparent. The sign is never dropped.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from .explain.base import Explanation  # noqa: E402

CLASS_COLOURS = {
    "correctly_masked": (46, 160, 67),
    "incorrectly_masked": (230, 140, 0),
    "not_masked": (215, 40, 40),
    "too_small": (140, 140, 140),
}


def scale_map(expl: Explanation) -> tuple[np.ndarray, float, float]:
    """The map scaled for display, and the value range the colour bar shows."""
    a = np.nan_to_num(expl.attribution.astype(np.float64))
    if not expl.signed:
        return np.clip(a, 0, 1), 0.0, 1.0
    lim = float(np.percentile(np.abs(a), 99)) or float(np.abs(a).max()) or 1.0
    return np.clip(a / lim, -1, 1), -lim, lim


def overlay(face: np.ndarray, expl: Explanation, opacity: float = 0.6) -> np.ndarray:
    """RGB uint8 overlay of ``expl`` on ``face`` (``H x W x 3`` uint8, same size as the map)."""
    s, _, _ = scale_map(expl)
    if expl.signed:
        rgba = colormaps["RdBu_r"]((s + 1) / 2)
        alpha = np.abs(s) ** 0.7
    else:
        rgba = colormaps["inferno"](s)
        alpha = 0.35 + 0.65 * s
    alpha = (opacity * alpha)[..., None]
    base = face.astype(np.float64) / 255.0
    out = base * (1 - alpha) + rgba[..., :3] * alpha
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def figure(
    face: Image.Image, expl: Explanation, opacity: float = 0.6, title: str | None = None, size_px: int = 360
) -> Image.Image:
    """The overlay with a titled colour bar, as a PIL image."""
    h, w = expl.attribution.shape
    face_a = np.asarray(face.convert("RGB").resize((w, h), Image.Resampling.BILINEAR))
    img = overlay(face_a, expl, opacity)
    _, lo, hi = scale_map(expl)
    dpi = 100
    fig, ax = plt.subplots(figsize=(size_px / dpi * 1.25, size_px / dpi), dpi=dpi)
    try:
        ax.imshow(img)
        ax.set_axis_off()
        ax.set_title(title or f"{expl.method} · {expl.seconds:.2f} s", fontsize=9)
        cmap = colormaps["RdBu_r"] if expl.signed else colormaps["inferno"]
        sm = plt.cm.ScalarMappable(norm=Normalize(lo, hi), cmap=cmap)
        cb = fig.colorbar(sm, ax=ax, fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=7)
        cb.set_label("relative (max = 1)" if not expl.signed else "signed: red for, blue against", fontsize=7)
        fig.tight_layout(pad=0.3)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def paste_map(
    photo: Image.Image, expl: Explanation, crop: tuple[int, int, int, int], opacity: float = 0.6
) -> Image.Image:
    """``expl`` mapped back onto the whole photo at the face's crop box."""
    x0, y0, x1, y1 = crop
    face = photo.crop(crop)  # PIL pads outside the photo with black; only the inside is pasted back
    h, w = expl.attribution.shape
    ov = Image.fromarray(overlay(np.asarray(face.resize((w, h), Image.Resampling.BILINEAR)), expl, opacity))
    ov = ov.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR)
    out = photo.copy()
    out.paste(ov, (x0, y0))
    ImageDraw.Draw(out).rectangle(crop, outline=(255, 255, 255), width=max(1, round(max(photo.size) / 400)))
    return out


Rect = tuple[float, float, float, float]


def place_tags(boxes: list[Rect], sizes: list[tuple[float, float]], width: int, height: int) -> list[Rect]:
    """A rectangle of ``sizes[i]`` (w, h) per face box: next to its box, inside the photo, not over another tag.

    Tries above the box, below it, then inside its top edge (each at the box's left or right edge), and
    otherwise slides the tag down from above the box until it is free; where no place is free, it goes above
    its box regardless.
    """
    placed: list[Rect] = []

    def fits(r: Rect) -> bool:
        return (
            r[0] >= 0
            and r[1] >= 0
            and r[2] <= width
            and r[3] <= height
            and not any(r[0] < q[2] and q[0] < r[2] and r[1] < q[3] and q[1] < r[3] for q in placed)
        )

    for (x0, y0, x1, y1), (w, h) in zip(boxes, sizes):
        xs = [min(max(0.0, x0), max(0.0, width - w)), min(max(0.0, x1 - w), max(0.0, width - w))]
        ys = [y0 - h, y1, y0]
        candidates = [(x, y, x + w, y + h) for y in ys for x in xs]
        start = max(0.0, y0 - h)
        candidates += [(xs[0], y, xs[0] + w, y + h) for y in np.arange(start, height - h + 1, max(1.0, h / 4))]
        free = next((r for r in candidates if fits(r)), None)
        if free is None:  # nowhere free: above the box, overlapping
            y = max(0.0, min(y0 - h, height - h))
            free = (xs[0], y, xs[0] + w, y + h)
        placed.append(free)
    return placed


def draw_faces(photo: Image.Image, boxes: list[Rect], tags: list[str], kinds: list[str]) -> Image.Image:
    """Numbered boxes coloured by class, each with its tag (e.g. ``"1 No mask 97%"``), apart where there is room."""
    out = photo.copy()
    draw = ImageDraw.Draw(out)
    lw = max(2, round(max(photo.size) / 300))
    font = _font(max(12, round(max(photo.size) / 40)))
    bbs = [draw.textbbox((0, 0), tag, font=font) for tag in tags]
    sizes = [(tb[2] - tb[0] + 2 * lw, tb[3] - tb[1] + 2 * lw) for tb in bbs]
    for box, kind in zip(boxes, kinds):
        draw.rectangle(box, outline=CLASS_COLOURS.get(kind, (255, 255, 255)), width=lw)
    for rect, tag, kind, tb in zip(place_tags(boxes, sizes, *photo.size), tags, kinds, bbs):
        draw.rectangle(rect, fill=CLASS_COLOURS.get(kind, (255, 255, 255)))
        draw.text((rect[0] + lw, rect[1] + lw - tb[1]), tag, fill=(255, 255, 255), font=font)
    return out


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except OSError:
        return ImageFont.load_default()
