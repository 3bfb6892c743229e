"""Drawing maps over faces, with a colour bar and one documented normalisation.

- CAMs (Grad-CAM, Grad-CAM++, LayerCAM): ReLU'd and divided by their maximum (0..1, relative to this
  image), colour map ``inferno``; opacity grows with the value.
- Signed maps (gradients, IG, SmoothGrad, occlusion): channels summed (occlusion: averaged). Scaled
  symmetrically by the 99th percentile of |value| (values beyond are clipped),
  colour map ``RdBu_r``: red raises the class score, blue lowers it, and
  near-zero is transparent. The sign is never dropped.
"""

from __future__ import annotations

import functools
import html
import io
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from .explain.base import Explanation

if TYPE_CHECKING:
    from .faithfulness import Faithfulness
    from .regions import RegionShares
    from .sanity import SanityStep

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


def draw_faces(
    photo: Image.Image, boxes: list[Rect], tags: list[str], kinds: list[str], legend: bool = True
) -> Image.Image:
    """Boxes coloured by class with their number inside, and a legend below the photo.

    ``tags`` are ``"<number> <what> <probability>"`` (e.g. ``"1 No mask 97%"``): the number goes in the box's
    top-left corner, the whole tag in the legend, so no label can sit on another face however close the faces
    are. Returns a new image, taller than ``photo`` by the legend (``legend=False``: the boxes only, for a page
    that shows :func:`faces_legend_html` beside the photo, readable at any width).
    """
    w, h = photo.size
    lw = max(2, round(max(w, h) / 300))
    # the photo is shown about 500 px wide: text of width/36 px shows at about 14 px
    font = _font(max(14, round(w / 36)))
    pad = max(4, round(w / 150))
    measure = ImageDraw.Draw(photo.copy())
    chips = [(tag, kind, measure.textbbox((0, 0), tag, font=font)) for tag, kind in zip(tags, kinds) if legend]
    line_h = max((tb[3] - tb[1] for _, _, tb in chips), default=0) + 2 * pad
    rows: list[list[tuple[str, str, tuple[float, float, float, float]]]] = [[]]
    x: float = pad
    for chip in chips:
        cw = chip[2][2] - chip[2][0] + 2 * pad
        if rows[-1] and x + cw > w - pad:
            rows.append([])
            x = pad
        rows[-1].append(chip)
        x += cw + pad
    legend_h = round(len(rows) * (line_h + pad) + pad) if chips else 0
    out = Image.new("RGB", (w, h + legend_h), (255, 255, 255))
    out.paste(photo.convert("RGB"), (0, 0))
    draw = ImageDraw.Draw(out)
    for box, tag, kind in zip(boxes, tags, kinds):
        colour = CLASS_COLOURS.get(kind, (255, 255, 255))
        draw.rectangle(box, outline=colour, width=lw)
        number = tag.split(" ", 1)[0]
        tb = draw.textbbox((0, 0), number, font=font)
        x0, y0 = box[0] + lw, box[1] + lw  # inside the box's top-left corner
        draw.rectangle((x0, y0, x0 + tb[2] - tb[0] + 2 * lw, y0 + tb[3] - tb[1] + 2 * lw), fill=colour)
        draw.text((x0 + lw - tb[0], y0 + lw - tb[1]), number, fill=(255, 255, 255), font=font)
    y: float = h + pad
    for row in rows:
        x = pad
        for tag, kind, tb in row:
            cw = tb[2] - tb[0] + 2 * pad
            draw.rectangle((x, y, x + cw, y + line_h), fill=CLASS_COLOURS.get(kind, (128, 128, 128)))
            draw.text((x + pad - tb[0], y + pad - tb[1]), tag, fill=(255, 255, 255), font=font)
            x += cw + pad
        y += line_h + pad
    return out


def faces_legend_html(tags: list[str], kinds: list[str]) -> str:
    """The legend of :func:`draw_faces` as HTML chips (text at 15 px whatever the photo's size on the page)."""
    chips = []
    for tag, kind in zip(tags, kinds):
        r, g, b = CLASS_COLOURS.get(kind, (128, 128, 128))
        number, _, rest = html.escape(tag).partition(" ")
        chips.append(
            f'<span style="display:inline-block;margin:2px 6px 2px 0;padding:2px 8px;border-radius:4px;'
            f'background:rgb({r},{g},{b});color:#fff;font-size:15px;line-height:1.4">'
            f'<b style="color:#fff">{number}</b> {rest}</span>'
        )
    return f'<div class="faces-legend">{"".join(chips)}</div>' if chips else ""


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except OSError:
        return ImageFont.load_default()


# --- panels for the page: drawn with PIL (a few ms, so the first maps are not held up by matplotlib) ---------

PANEL_WIDTH = 500
MAP_SIDE = 400
ICON_GUARD = 96
"""Pixels at the top right of every image left free: Gradio draws its download/fullscreen icons there."""
REGION_COLOURS = {
    "forehead": (120, 120, 200),
    "eyes": (90, 160, 220),
    "nose": (240, 150, 40),
    "mouth": (220, 80, 60),
    "chin": (170, 60, 140),
}


def _fonts(size: int = 14) -> tuple[Any, Any]:
    return _font(size), _font_bold(size + 2)


@functools.lru_cache(maxsize=16)
def _font_bold(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans:bold"), size)
    except OSError:
        return ImageFont.load_default()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> list[str]:
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            trial = f"{line} {word}".strip()
            if line and draw.textlength(trial, font=font) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


def colour_bar(expl: Explanation, height: int) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """The colour bar as an ``height x 1 x 3`` uint8 column (top = high), and its ``(position, label)`` ticks."""
    s = np.linspace(1, 0, height)
    if expl.signed:
        _, lo, hi = scale_map(expl)
        rgb = colormaps["RdBu_r"](s)[:, :3]
        ticks = [(0.0, f"{hi:+.2g}"), (0.5, "0"), (1.0, f"{lo:+.2g}")]
    else:
        rgb = colormaps["inferno"](s)[:, :3]
        ticks = [(0.0, "1"), (0.5, "0.5"), (1.0, "0")]
    return (rgb[:, None, :] * 255 + 0.5).astype(np.uint8), ticks


def panel(
    face: Image.Image,
    expl: Explanation,
    opacity: float = 0.6,
    title: str | None = None,
    subtitle: str | None = None,
    regions: RegionShares | None = None,
    width: int = PANEL_WIDTH,
) -> Image.Image:
    """One method's panel: title, the map over the face with a labelled colour bar, and (if given) a bar
    chart of where its positive attribution lies. Text is 13-16 px; the top right stays free for icons."""
    side = min(MAP_SIDE, width - 100)
    font, bold = _fonts(13)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    head = _wrap(probe, title or f"{expl.method} · {expl.seconds:.2f} s", bold, width - ICON_GUARD - 12)
    sub = _wrap(probe, subtitle if subtitle is not None else expl.caption(), font, width - ICON_GUARD - 12)
    top = 8 + 20 * len(head) + 17 * len([s for s in sub if s]) + 6
    bar_note = "relative: 1 = strongest here" if not expl.signed else "red: for the class · blue: against"
    rows = 0 if regions is None else len(regions.share)
    height = top + side + 28 + (0 if regions is None else 26 + 21 * rows + 24)
    out = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    y = 8
    for line in head:
        draw.text((8, y), line, fill=(20, 20, 20), font=bold)
        y += 20
    for line in sub:
        if line:
            draw.text((8, y), line, fill=(70, 70, 70), font=font)
            y += 17
    h, w = expl.attribution.shape
    small = np.asarray(face.convert("RGB").resize((w, h), Image.Resampling.BILINEAR))
    ov = Image.fromarray(overlay(small, expl, opacity)).resize((side, side), Image.Resampling.BILINEAR)
    out.paste(ov, (8, top))
    cb, ticks = colour_bar(expl, side)
    bx = 8 + side + 10
    out.paste(Image.fromarray(np.repeat(cb, 14, axis=1)), (bx, top))
    for pos, text in ticks:
        ty = top + pos * (side - 1)
        draw.line([(bx + 14, ty), (bx + 18, ty)], fill=(40, 40, 40))
        draw.text((bx + 20, min(max(top, ty - 8), top + side - 16)), text, fill=(40, 40, 40), font=font)
    draw.text((8, top + side + 6), bar_note, fill=(40, 40, 40), font=font)
    if regions is not None:
        _region_bars(draw, regions, 8, top + side + 30, width - 16, font)
    return out


def _region_bars(draw: ImageDraw.ImageDraw, r: RegionShares, x: int, y: int, width: int, font: Any) -> None:
    blank = " (blank map)" if r.blank else ""
    where = "template landmarks" if r.template else "from the face's landmarks"
    draw.text((x, y), f"Where its positive weight lies ({where}){blank}", fill=(20, 20, 20), font=font)
    y += 22
    label_w, num_w = 74, 128
    bar_w = width - label_w - num_w
    top = max([*r.share.values(), *r.area.values(), 1e-9])
    for name in r.share:
        s, a = r.share[name], r.area[name]
        draw.text((x, y), name, fill=(40, 40, 40), font=font)
        x0 = x + label_w
        draw.rectangle([x0, y + 3, x0 + bar_w, y + 15], fill=(238, 238, 238))
        draw.rectangle([x0, y + 3, x0 + round(bar_w * s / top), y + 15], fill=REGION_COLOURS.get(name, (100, 100, 100)))
        ax = x0 + round(bar_w * a / top)
        draw.line([(ax, y), (ax, y + 18)], fill=(0, 0, 0), width=2)
        draw.text((x0 + bar_w + 6, y), f"{100 * s:3.0f}% | area {100 * a:.0f}%", fill=(40, 40, 40), font=font)
        y += 21
    ratio = r.lower_ratio
    draw.text(
        (x, y + 2),
        f"nose+mouth+chin: {100 * r.lower_share:.0f}% of the weight, {100 * r.lower_area:.0f}% of the area"
        f" ({ratio:.1f}x)",
        fill=(20, 20, 20),
        font=font,
    )


def faithfulness_plot(results: dict[str, Faithfulness], titles: dict[str, str], width_px: int = 1000) -> Image.Image:
    """Deletion and insertion curves of each map (solid) beside the random orders' (dashed, grey); one legend
    below both plots (the AUCs are in the ranking table)."""
    dpi = 100
    rows = -(-(len(results) + 1) // 4)
    fig = Figure(figsize=(width_px / dpi, (0.42 + 0.035 * rows) * width_px / dpi), dpi=dpi)
    axes = fig.subplots(1, 2)
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    first = next(iter(results.values()), None)
    for ax, kind in zip(axes, ("deletion", "insertion")):
        for i, (name, f) in enumerate(results.items()):
            ax.plot(
                f.map.fractions,
                getattr(f.map, kind),
                color=colours[i % len(colours)],
                lw=2.2,
                label=titles.get(name, name),
            )
        if first is not None:
            ax.plot(
                first.random.fractions, getattr(first.random, kind), color="0.45", ls="--", lw=2, label="random order"
            )
        better = "lower" if kind == "deletion" else "higher"
        ax.set_title(f"{kind.capitalize()}: {better} area is better", fontsize=14, loc="left")
        ax.set_xlabel("share of patches " + ("greyed out" if kind == "deletion" else "put back"), fontsize=13)
        ax.set_ylabel("probability of the class", fontsize=13)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=12)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=13, frameon=False)
    fig.tight_layout(rect=(0, 0.06 * rows + 0.02, 0.94, 1))  # legend below; the right edge free for icons
    return _to_image(fig, dpi)


def sanity_plot(steps: list[SanityStep], titles: dict[str, str], width_px: int = 1000) -> Image.Image:
    """Spearman rank correlation and SSIM of each method's |map| with the trained one, after each randomised
    block (cumulative, from the output down); the dashed line is the flag threshold."""
    dpi = 100
    names = list(steps[0].spearman) if steps else []
    rows = -(-max(1, len(names)) // 4)
    fig = Figure(figsize=(width_px / dpi, (0.46 + 0.035 * rows) * width_px / dpi), dpi=dpi)
    axes = fig.subplots(1, 2)
    labels = ["trained"] + [s.block for s in steps[1:]]
    xs = np.arange(len(steps))
    for ax, key, what in zip(axes, ("spearman", "ssim"), ("Spearman (ranks of |map|)", "SSIM (|map|)")):
        for name in names:
            ax.plot(xs, [getattr(s, key)[name] for s in steps], marker="o", lw=2, label=titles.get(name, name))
        ax.set_title(f"{what} vs the trained map", fontsize=13, loc="left")
        ax.set_xticks(xs, labels, rotation=60, ha="right", fontsize=11)
        ax.set_xlabel("random from the output down to", fontsize=12)
        ax.set_ylim(-0.25 if key == "spearman" else 0, 1.05)
        ax.tick_params(axis="y", labelsize=12)
        ax.grid(alpha=0.3)
    axes[0].axhline(0.5, color="0.5", ls="--", lw=1)
    handles, leg = axes[0].get_legend_handles_labels()
    fig.legend(handles, leg, loc="lower center", ncol=4, fontsize=13, frameon=False)
    fig.tight_layout(rect=(0, 0.06 * rows + 0.01, 0.94, 1))  # legend below; the right edge free for icons
    return _to_image(fig, dpi)


def map_strip(
    face: Image.Image,
    steps: list[SanityStep],
    titles: dict[str, str],
    opacity: float = 0.6,
    columns: int = 7,
    thumb: int = 120,
) -> Image.Image:
    """Thumbnails of each method's map (rows) after a few randomisation steps (columns, evenly spaced)."""
    from .explain import Explanation as _E

    idx = sorted(set(np.linspace(0, len(steps) - 1, min(columns, len(steps))).round().astype(int).tolist()))
    names = list(steps[0].maps) if steps else []
    font, bold = _fonts(13)
    label_w, head_h = 150, 40
    out = Image.new("RGB", (label_w + thumb * len(idx) + ICON_GUARD, head_h + (thumb + 4) * len(names)), "white")
    draw = ImageDraw.Draw(out)
    for j, i in enumerate(idx):
        text = "trained" if i == 0 else steps[i].block
        draw.text((label_w + j * thumb + 4, head_h - 22), text[:14], fill=(20, 20, 20), font=font)
    for r, name in enumerate(names):
        y = head_h + r * (thumb + 4)
        for line_no, line in enumerate(_wrap(draw, titles.get(name, name), font, label_w - 8)[:3]):
            draw.text((4, y + 4 + 16 * line_no), line, fill=(20, 20, 20), font=font)
        signed = bool((steps[0].maps[name] < 0).any())
        for j, i in enumerate(idx):
            m = steps[i].maps[name]
            e = _E(name, m, signed, 0, 0.0)
            small = np.asarray(face.convert("RGB").resize(m.shape[::-1], Image.Resampling.BILINEAR))
            im = Image.fromarray(overlay(small, e, opacity)).resize((thumb - 4, thumb - 4), Image.Resampling.BILINEAR)
            out.paste(im, (label_w + j * thumb, y))
    return out


def _to_image(fig: Any, dpi: int) -> Image.Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    return Image.open(buf).convert("RGB")
