"""Real-looking masks: photographed mask templates (MaskTheFace, MIT) warped onto a face.

The drawn masks of :mod:`maskxai.masks` are flat shapes; real incorrectly worn
masks are fabric with folds, seams, straps and shadows. Here each mask is a
photo with transparency and six anchor points (top-left, top-centre, top-right,
bottom-left, bottom-centre, bottom-right). The anchors are mapped to points of
the face frame built from MTCNN's five landmarks (:class:`maskxai.masks.FaceFrame`)
by a piecewise-affine warp, so the mask follows tilt, scale and where it is worn:

- ``correct``: nose bridge to under the chin;
- ``below_nose``: pulled under the nostrils, nose visible;
- ``chin``: pulled below the lips, on the chin and neck;
- ``nose_mouth``: nose and mouth, chin out;
- ``hanging``: hanging from one ear beside the face, nose and mouth visible.

Colour is the template's own or a random colour or fabric texture (keeping
the template's shading), or, given a pool of them (training's ``--fabrics``),
a photographed fabric: a patch cut from the lower middle of a real masked face
(:func:`photo_fabric`), with its prints, folds and light, stretched over the
template's shape. The face's low-frequency light is laid over it.
The templates ship in ``maskxai/assets/masks`` (downscaled copies, with their
MIT LICENSE); ``python -m maskxai.realmasks --import DIR`` rebuilds them from
MaskTheFace's ``masks/`` folder.
"""

from __future__ import annotations

import argparse
import configparser
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .masks import CHIN_OUT_DEPTH, CORRECT_BELOW_CHIN, FaceFrame

ASSETS = Path(__file__).resolve().parent / "assets" / "masks"
PLACEMENTS: dict[str, str] = {
    "correct": "correctly_masked",
    "below_nose": "incorrectly_masked",
    "chin": "incorrectly_masked",
    "nose_mouth": "incorrectly_masked",
    "hanging": "incorrectly_masked",
}
# Templates of masks people wear (MaskTheFace's gas masks are left out); recolourable ones take any colour.
_KINDS = ("surgical", "surgical_blue", "surgical_green", "cloth", "KN95", "N95")
_RECOLOURABLE = ("surgical", "cloth", "KN95")
_MAX_SIDE = 320  # template pixels kept in the package: faces are classified at 160 px
_MAX_TEXTURE = 160


@dataclass(frozen=True)
class MaskTemplate:
    """One photographed mask: RGBA pixels in [0, 1] and its six anchors (a..f) in template pixels."""

    name: str
    rgba: np.ndarray
    anchors: np.ndarray
    view: str  # "front", "left" (nose towards the image's left) or "right"

    @functools.cached_property
    def pil(self) -> Image.Image:
        """The template as a PIL RGBA image (made once)."""
        return Image.fromarray((self.rgba * 255 + 0.5).astype(np.uint8), "RGBA")

    @property
    def recolourable(self) -> bool:
        coloured = self.name.startswith(("surgical_blue", "surgical_green"))
        return self.name.split("_")[0] in _RECOLOURABLE and not coloured


def _read_cfg(path: Path) -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(path)
    return cfg


def _anchors(section: configparser.SectionProxy) -> np.ndarray:
    return np.array([[float(v) for v in section[f"mask_{k}"].split(",")] for k in "abcdef"], dtype=np.float64)


@functools.lru_cache(maxsize=4)
def load_templates(folder: Path = ASSETS) -> tuple[MaskTemplate, ...]:
    """The templates in ``folder`` (``masks.cfg`` + ``templates/*.png``), decoded once.

    Raises:
        FileNotFoundError: If the folder has no ``masks.cfg`` (rebuild it with ``--import``).
    """
    cfg_file = folder / "masks.cfg"
    if not cfg_file.is_file():
        raise FileNotFoundError(
            f"{cfg_file} not found: run `python -m maskxai.realmasks --import ../shared/data/mask-templates`"
        )
    out = []
    for name in _read_cfg(cfg_file).sections():
        section = _read_cfg(cfg_file)[name]
        with Image.open(folder / "templates" / f"{name}.png") as im:
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        view = "left" if name.endswith("_left") else "right" if name.endswith("_right") else "front"
        out.append(MaskTemplate(name, rgba, _anchors(section), view))
    return tuple(out)


@functools.lru_cache(maxsize=4)
def load_textures(folder: Path = ASSETS) -> tuple[np.ndarray, ...]:
    """Fabric textures (RGB in [0, 1]) to recolour templates with."""
    files = sorted((folder / "textures").glob("*.png")) + sorted((folder / "textures").glob("*.jpg"))
    out = []
    for f in files:
        with Image.open(f) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
    return tuple(out)


def face_anchors(frame: FaceFrame, placement: str, rng: np.random.Generator) -> np.ndarray:
    """Where the template's anchors a..f go on the face, in face-frame units ``(6, 2)`` (u right, v down)."""
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; choose one of {list(PLACEMENTS)}")
    n, m, c = frame.nose, frame.mouth, frame.chin
    j = lambda s: rng.uniform(-s, s)  # noqa: E731
    cu = 0.8 * frame.nose_u  # the nose bridge follows where the nose points (head turned)
    base = placement if placement != "hanging" else "correct"
    top, bottom = {
        "correct": (0.3 * n + j(0.05), c + CORRECT_BELOW_CHIN + j(0.05)),
        "below_nose": (n + (m - n) * (0.3 + j(0.08)), c + 0.3 + j(0.08)),
        "chin": (m + (c - m) * (0.45 + j(0.08)), c + 0.55 + j(0.1)),
        "nose_mouth": (0.3 * n + j(0.05), m + (c - m) * (CHIN_OUT_DEPTH + j(0.08))),
    }[base]
    wt = rng.uniform(1.05, 1.25)  # half width at the cheeks
    wb = wt * rng.uniform(0.75, 0.9)  # at the jaw
    h = bottom - top
    pts = np.array(
        [
            [-wt + 0.3 * cu, top + 0.15 * h],
            [cu, top],
            [wt + 0.3 * cu, top + 0.15 * h],
            [-wb + 0.2 * cu, top + 0.72 * h],
            [0.6 * cu, bottom],
            [wb + 0.2 * cu, top + 0.72 * h],
        ]
    )
    if placement == "hanging":  # strap off one ear: the mask swings down beside the face from the other
        side = 1 if rng.random() < 0.5 else -1
        pivot = pts[0] if side == 1 else pts[2]
        theta = side * np.deg2rad(rng.uniform(65, 100))
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        # Pivot moved in over the cheek's edge, so the mask hangs along the jaw rather than off the face.
        pts = (pts - pivot) @ rot.T * rng.uniform(0.8, 0.95) + pivot + np.array([side * 0.3, 0.15 * n])
    return pts


def _cross2(a: np.ndarray, b: np.ndarray) -> float:
    """The z of the cross product of two 2-D vectors (``np.cross`` of 2-D vectors is gone from numpy 2.5)."""
    return float(a[0] * b[1] - a[1] * b[0])


def _warp(template: MaskTemplate, dst: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The template's RGBA warped so its anchors land on ``dst`` (image pixels): ``H x W x 4`` in [0, 1].

    Piecewise affine: one affine map per triangle of the anchors (plus the template's corners, sent
    where the best affine fit of the anchors sends them, so the outline outside the anchors is kept).
    """
    from scipy.spatial import Delaunay

    src = template.anchors
    th, tw = template.rgba.shape[:2]
    fit = _affine(src, dst)
    corners = np.array([[0, 0], [tw - 1, 0], [0, th - 1], [tw - 1, th - 1]], dtype=np.float64)
    src_all = np.vstack([src, corners])
    dst_all = np.vstack([dst, corners @ fit[:, :2].T + fit[:, 2]])
    w, h = size
    x0, y0 = np.floor(dst_all.min(axis=0)).astype(int)
    x1, y1 = np.ceil(dst_all.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    out = np.zeros((h, w, 4), dtype=np.float32)
    if x1 <= x0 or y1 <= y0:
        return out
    pw, ph = x1 - x0, y1 - y0
    canvas = Image.new("RGBA", (pw, ph), (0, 0, 0, 0))
    tpl = template.pil
    for tri in Delaunay(src_all).simplices:
        d = dst_all[tri] - (x0, y0)
        if abs(_cross2(d[1] - d[0], d[2] - d[0])) < 1e-6:
            continue
        inv = _affine(d, src_all[tri])  # output pixel -> template pixel
        part = tpl.transform((pw, ph), Image.Transform.AFFINE, tuple(inv.ravel()), resample=Image.Resampling.BILINEAR)
        sel = Image.new("L", (pw, ph), 0)
        ImageDraw.Draw(sel).polygon([tuple(p) for p in d], fill=255, outline=255)
        canvas.paste(part, (0, 0), sel)
    out[y0:y1, x0:x1] = np.asarray(canvas, dtype=np.float32) / 255.0
    return out


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares ``2 x 3`` affine map sending the points ``src`` to ``dst``."""
    a = np.hstack([src, np.ones((len(src), 1))])
    m, *_ = np.linalg.lstsq(a, dst, rcond=None)
    return m.T


# Where a tight crop of a face with a mask worn correctly shows only mask: the lower middle (x0, y0, x1, y1 as
# fractions of the crop), between the nose and the chin, inside the cheeks.
FABRIC_BOX = (0.3, 0.62, 0.7, 0.9)
FABRIC_SIDE = 48  # pixels a fabric patch is kept at (it is stretched over a mask of about 60-120 px)


def photo_fabric(img: Image.Image, side: int = FABRIC_SIDE) -> np.ndarray:
    """The fabric of a photographed mask: :data:`FABRIC_BOX` of a tight crop of a face wearing one, as
    ``side x side x 3`` RGB in [0, 1] (a pool of these is ``fabrics`` of :func:`render_real_mask`)."""
    w, h = img.size
    x0, y0, x1, y1 = FABRIC_BOX
    patch = img.convert("RGB").resize((side, side), Image.Resampling.BILINEAR, box=(x0 * w, y0 * h, x1 * w, y1 * h))
    return np.asarray(patch, dtype=np.float32) / 255.0


def _shade(rgba: np.ndarray) -> np.ndarray:
    """The template's shading (its folds and seams): brightness relative to its bright solid parts, ``H x W x 1``."""
    shade = rgba[..., :3].mean(axis=2, keepdims=True)
    solid = rgba[..., 3] > 0.5
    return shade / max(float(np.percentile(shade[solid], 90)) if solid.any() else 1.0, 1e-3)


def _photo_fabric_rgb(rgba: np.ndarray, fabric: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``fabric`` stretched over the bounding box of the warped mask, under a little of the template's shading."""
    h, w = rgba.shape[:2]
    rgb = np.zeros((h, w, 3), dtype=np.float32)
    ys, xs = np.nonzero(rgba[..., 3] > 0.05)
    if not len(ys):
        return rgb
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    patch = Image.fromarray((fabric * 255 + 0.5).astype(np.uint8))
    if rng.random() < 0.5:
        patch = patch.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    rgb[y0:y1, x0:x1] = np.asarray(patch.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    return np.clip(rgb * np.clip(0.7 + 0.3 * _shade(rgba), 0.5, 1.1), 0, 1)


def _colour(
    rgba: np.ndarray,
    template: MaskTemplate,
    rng: np.random.Generator,
    fabrics: Sequence[np.ndarray] = (),
    fabric_share: float = 0.0,
) -> np.ndarray:
    """The mask's RGB: a photographed fabric (a share ``fabric_share`` of masks, any template, when ``fabrics``
    is given), else its own, or a new colour / fabric texture under the template's shading."""
    # No draw without a pool: the images of earlier runs and val sets stay as they were.
    if len(fabrics) and fabric_share > 0 and rng.random() < fabric_share:
        return _photo_fabric_rgb(rgba, fabrics[int(rng.integers(len(fabrics)))], rng)
    rgb = rgba[..., :3]
    if not template.recolourable or rng.random() < 0.35:
        return rgb * rng.uniform(0.85, 1.1)
    shade = _shade(rgba)
    textures = load_textures()
    if textures and rng.random() < 0.35:
        tex = textures[rng.integers(len(textures))]
        h, w = rgb.shape[:2]
        reps = (h // tex.shape[0] + 2, w // tex.shape[1] + 2, 1)
        tiled = np.tile(tex, reps)
        oy, ox = rng.integers(tex.shape[0]), rng.integers(tex.shape[1])
        colour = tiled[oy : oy + h, ox : ox + w]
    else:
        colour = np.broadcast_to(rng.uniform(0.05, 0.95, size=3).astype(np.float32), rgb.shape)
    return np.clip(colour * np.clip(shade, 0.3, 1.2), 0, 1)


def _layer(
    size: tuple[int, int],
    landmarks: np.ndarray,
    placement: str,
    template: str | None,
    rng: np.random.Generator,
    photo_masks: Sequence[MaskTemplate] = (),
    photo_share: float = 0.0,
) -> tuple[np.ndarray, FaceFrame, MaskTemplate]:
    frame = FaceFrame.from_landmarks(landmarks)
    pts_uv = face_anchors(frame, placement, rng)
    # No draw without a pool: the images of earlier runs and val sets stay as they were.
    if template is None and len(photo_masks) and photo_share > 0 and rng.random() < photo_share:
        t = _pick(frame, None, rng, photo_masks)
    else:
        t = _pick(frame, template, rng)
    return _warp(t, frame.to_image(pts_uv), size), frame, t


def scene_light(face: np.ndarray, alpha: np.ndarray, radius: float, limits: tuple[float, float]) -> np.ndarray:
    """The scene's light on something laid over ``face`` (``H x W x 3`` in [0, 1]) where ``alpha`` (``H x W``) is:
    the face's brightness blurred by ``radius`` px, relative to its mean under ``alpha``, clipped to ``limits``."""
    img = Image.fromarray((face.mean(axis=2) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    lum = np.asarray(img, dtype=np.float32) / 255.0
    mean = float((lum * alpha).sum() / max(float(alpha.sum()), 1.0)) or 1.0
    return np.clip(lum / max(mean, 1e-3), *limits)


def real_mask_coverage(
    size: tuple[int, int],
    landmarks: np.ndarray,
    placement: str,
    *,
    template: str | None = None,
    rng: np.random.Generator | None = None,
    photo_masks: Sequence[MaskTemplate] = (),
    photo_share: float = 0.0,
) -> np.ndarray:
    """Where :func:`render_real_mask` puts the mask (same ``rng`` state, same place): ``H x W`` alpha in [0, 1]."""
    rng = rng or np.random.default_rng()
    layer, _, _ = _layer(size, landmarks, placement, template, rng, photo_masks, photo_share)
    return layer[..., 3]


def render_real_mask(
    img: Image.Image,
    landmarks: np.ndarray,
    placement: str = "correct",
    *,
    template: str | None = None,
    rng: np.random.Generator | None = None,
    fabrics: Sequence[np.ndarray] = (),
    fabric_share: float = 0.0,
    photo_masks: Sequence[MaskTemplate] = (),
    photo_share: float = 0.0,
) -> Image.Image:
    """Put a photographed mask on a face.

    Args:
        img: Face image (any mode; returned as RGB).
        landmarks: ``(5, 2)`` MTCNN landmarks in ``img``'s pixels.
        placement: ``correct``, ``below_nose``, ``chin``, ``nose_mouth`` or ``hanging``.
        template: A template name (``surgical``, ``cloth_left``, ...); chosen to suit the head's turn if None.
        rng: Random source for placement jitter, template and colour (seed it for repeatable images).
        fabrics: Photographed fabric patches (:func:`photo_fabric`); a share ``fabric_share`` of masks is
            coloured with one of them (nothing is drawn from ``rng`` for it when empty).
        photo_masks: Masks cut out of photos (:func:`maskxai.photomasks.cut_mask`); a share ``photo_share`` of
            masks (when ``template`` is None) is one of them instead of a MaskTheFace template (no draw when empty).

    Returns:
        A new RGB image; ``img`` is not modified.

    Raises:
        ValueError: Unknown placement or template, landmarks not in face order, or a share not in [0, 1].
    """
    for what, share in (("fabric_share", fabric_share), ("photo_share", photo_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{what} must be a share in [0, 1], got {share}")
    rng = rng or np.random.default_rng()
    layer, frame, t = _layer(img.size, landmarks, placement, template, rng, photo_masks, photo_share)
    alpha = layer[..., 3:4]
    rgb = _colour(layer, t, rng, fabrics, fabric_share)
    face = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    light = scene_light(face, alpha[..., 0], frame.d * 0.6, (0.6, 1.4))[..., None]
    brightness = float(np.median(face)) / 0.5
    rgb = rgb * (0.55 + 0.45 * light) * np.clip(0.75 + 0.25 * brightness, 0.55, 1.15)
    # A soft contact shadow under the mask's lower edge, then a slightly feathered edge.
    a = Image.fromarray((alpha[..., 0] * 255).astype(np.uint8))
    blur = max(0.4, frame.d * 0.01)
    alpha = np.asarray(a.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32)[..., None] / 255.0
    shadow = (
        np.asarray(
            a.transform(a.size, Image.Transform.AFFINE, (1, 0, 0, 0, 1, -frame.d * 0.06)).filter(
                ImageFilter.GaussianBlur(frame.d * 0.08)
            ),
            dtype=np.float32,
        )[..., None]
        / 255.0
    )
    face = face * (1 - 0.25 * shadow * (1 - alpha))
    out = face * (1 - alpha) + np.clip(rgb, 0, 1) * alpha
    return Image.fromarray(np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8))


PAD_FILLS = ("edge", "symmetric", "mean")  # how pad_face fills its margin: edges stretched, mirrored, flat colour


def pad_face(
    img: Image.Image, landmarks: np.ndarray, margin: float = 0.15, fill: str = "edge"
) -> tuple[Image.Image, np.ndarray]:
    """``img`` with ``margin`` of its size added on each side (edges stretched and blurred), and the landmarks moved.

    Tight face crops (Face Mask 12K) end at the chin; the app's crops have a margin (30 % of the box), in
    which a mask pulled onto the chin or hanging from an ear shows. Pad before :func:`render_real_mask`.
    ``fill`` (one of :data:`PAD_FILLS`): the margin's pixels before the blur: the edges stretched (training's and
    validation's), mirrored, or the face's mean colour.
    """
    if fill not in PAD_FILLS:
        raise ValueError(f"unknown fill {fill!r}; choose one of {list(PAD_FILLS)}")
    w, h = img.size
    px, py = round(w * margin), round(h * margin)
    a = np.asarray(img.convert("RGB"))
    if fill == "mean":
        padded = np.empty((h + 2 * py, w + 2 * px, 3), np.uint8)
        padded[:] = a.reshape(-1, 3).mean(axis=0).astype(np.uint8)
        padded[py : py + h, px : px + w] = a
    elif fill == "symmetric":
        padded = np.pad(a, ((py, py), (px, px), (0, 0)), mode="symmetric")
    else:
        padded = np.pad(a, ((py, py), (px, px), (0, 0)), mode="edge")
    out = Image.fromarray(padded)
    blurred = out.filter(ImageFilter.GaussianBlur(max(w, h) * 0.04))
    keep = Image.new("L", out.size, 0)
    ImageDraw.Draw(keep).rectangle([px, py, px + w - 1, py + h - 1], fill=255)
    out = Image.composite(out, blurred, keep.filter(ImageFilter.GaussianBlur(2)))
    return out, np.asarray(landmarks, dtype=np.float64).reshape(5, 2) + (px, py)


def view_of(frame: FaceFrame) -> str:
    """Which templates suit the head's turn: ``left`` (nose towards the image's left), ``right`` or ``front``."""
    return "left" if frame.nose_u < -0.12 else "right" if frame.nose_u > 0.12 else "front"


def _pick(
    frame: FaceFrame, name: str | None, rng: np.random.Generator, templates: Sequence[MaskTemplate] = ()
) -> MaskTemplate:
    templates = templates or load_templates()
    if name is not None:
        for t in templates:
            if t.name == name:
                return t
        raise ValueError(f"unknown template {name!r}; choose one of {[t.name for t in templates]}")
    view = view_of(frame)
    pool = [t for t in templates if t.view == view] or list(templates)
    return pool[rng.integers(len(pool))]


def import_templates(src: Path, dst: Path = ASSETS) -> int:
    """Copy MaskTheFace's templates (downscaled to ``_MAX_SIDE``, anchors scaled), textures and LICENSE."""
    cfg = _read_cfg(src / "masks.cfg")
    (dst / "templates").mkdir(parents=True, exist_ok=True)
    (dst / "textures").mkdir(parents=True, exist_ok=True)
    out = configparser.ConfigParser()
    n = 0
    for name in cfg.sections():
        if name.rsplit("_", 1)[0] not in _KINDS and name not in _KINDS:
            continue
        with Image.open(src / "templates" / f"{name}.png") as raw:
            im = raw.convert("RGBA")
            s = min(1.0, _MAX_SIDE / max(im.size))
            im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS).save(
                dst / "templates" / f"{name}.png", optimize=True
            )
        a = _anchors(cfg[name]) * s
        out[name] = {f"mask_{k}": f"{x:.1f}, {y:.1f}" for k, (x, y) in zip("abcdef", a)}
        n += 1
    with (dst / "masks.cfg").open("w") as f:
        f.write("# MaskTheFace templates (aqeelanwar/MaskTheFace, MIT), downscaled; anchors a..f scaled to match.\n")
        out.write(f)
    for path in sorted((src / "textures").rglob("*")):
        if path.suffix.lower() in (".png", ".jpg"):
            with Image.open(path) as raw:
                tex = raw.convert("RGB")
                s = min(1.0, _MAX_TEXTURE / max(tex.size))
                tex.resize((round(tex.width * s), round(tex.height * s)), Image.Resampling.LANCZOS).save(
                    dst / "textures" / f"{path.parent.name}_{path.stem}.png", optimize=True
                )
    (dst / "LICENSE").write_text((src / "LICENSE").read_text())
    return n


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Manage the mask templates shipped with maskxai.")
    p.add_argument("--import", dest="src", required=True, help="MaskTheFace's masks/ folder (masks.cfg, templates/)")
    args = p.parse_args(argv)
    print(f"imported {import_templates(Path(args.src))} templates into {ASSETS}")


if __name__ == "__main__":
    main()
