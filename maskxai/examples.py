"""Make the app's example photos from faces that installed packages ship.

``python -m maskxai.examples`` writes ``examples/*.jpg``: skimage's astronaut
(Eileen Collins, NASA, public domain) and matplotlib's Grace Hopper (US Navy,
public domain), each with a photographed mask template warped onto the face
(:mod:`maskxai.realmasks`) per class, and a group photo composed of them.
Nothing comes from the training data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .faces import DetectSettings, detect_faces
from .realmasks import render_real_mask

OUT = Path(__file__).resolve().parent.parent / "examples"


def package_faces() -> dict[str, Image.Image]:
    """Portraits shipped by installed packages (both public domain)."""
    import matplotlib.cbook
    import skimage.data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:  # type: ignore[union-attr]
        hopper = Image.open(f).convert("RGB")
    return {"astronaut": Image.fromarray(skimage.data.astronaut()), "hopper": hopper}


def landmarks(img: Image.Image) -> np.ndarray:
    faces = detect_faces(img, DetectSettings(min_confidence=0.9))
    if not faces or faces[0].landmarks is None:
        raise RuntimeError("no face found in a package portrait")
    return faces[0].landmarks


def group_photo(people: list[Image.Image], rng: np.random.Generator) -> Image.Image:
    """Several people side by side on a blurred backdrop, at slightly different sizes."""
    h = 420
    tiles = []
    for p in people:
        s = h * rng.uniform(0.75, 1.0) / p.height
        tiles.append(p.resize((round(p.width * s), round(p.height * s)), Image.Resampling.LANCZOS))
    w = sum(t.width for t in tiles) + 20 * (len(tiles) + 1)
    bg = tiles[0].resize((w, h + 40)).filter(ImageFilter.GaussianBlur(30))
    x = 20
    for t in tiles:
        bg.paste(t, (x, h + 40 - t.height))
        x += t.width + 20
    return bg


def make_examples(out: Path = OUT, seed: int = 7) -> list[Path]:
    """Write the examples; return their paths."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    faces = package_faces()
    variants: dict[str, Image.Image] = {}
    for name, img in faces.items():
        lm = landmarks(img)
        variants[f"{name}_none"] = img
        for placement, template in (("correct", "surgical_blue"), ("below_nose", "cloth"), ("chin", "KN95")):
            variants[f"{name}_{placement}"] = render_real_mask(img, lm, placement, template=template, rng=rng)
    for key in ("astronaut_correct", "hopper_below_nose", "hopper_none", "hopper_chin"):
        p = out / f"{key}.jpg"
        variants[key].save(p, quality=92)
        written.append(p)
    crops = []
    for key in ("hopper_correct", "astronaut_below_nose", "hopper_none", "astronaut_chin"):
        img = variants[key]
        side = min(img.size)
        crops.append(img.crop((0, 0, side, side)) if key.startswith("hopper") else img.crop((60, 0, 60 + 360, 420)))
    p = out / "group_photo.jpg"
    group_photo(crops, rng).save(p, quality=92)
    written.append(p)
    return written


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=OUT)
    for path in make_examples(p.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
