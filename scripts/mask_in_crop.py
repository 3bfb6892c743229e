"""How much of a drawn mask survives training's random crop, with and without ``--keep-mask``.

``PYTHONPATH=. python scripts/mask_in_crop.py [--n 150]``: for each photographed placement, ``n`` training faces
(Face Mask 12K, unmasked, train split) get a mask; the pixels it changed are followed through augment's mirror,
turn and square crop (the same draws as training's), and the share of the mask left in the crop is counted.
A draw whose mask covers under 2 % of its crop is a bare-looking face with a mask's label.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from maskxai.augment import moved_box, square_crop
from maskxai.realmasks import PLACEMENTS, pad_face, render_real_mask
from maskxai.train import TrainConfig
from maskxai.trainset import changed_box, load_face, standard_sources


def mask_in_crop(changed: np.ndarray, rng: np.random.Generator, keep: bool) -> tuple[float, float]:
    """(share of the mask in the crop, share of the crop that is mask) for one draw of augment's geometry."""
    m = Image.fromarray((changed * 255).astype(np.uint8))
    flip = bool(rng.random() < 0.5)
    angle = rng.uniform(-12, 12)
    rng.integers(0, 255, 3)  # the turn's fill colour, drawn as augment draws it
    ys, xs = np.nonzero(changed)
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)) if len(xs) else None
    if flip:
        m = m.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    moved = moved_box(box, m.size, flip, angle) if keep and box is not None else None
    a = np.asarray(m.rotate(angle, resample=Image.Resampling.BILINEAR)) > 127
    x0, y0, side = square_crop(m.size[0], m.size[1], rng, moved)
    seen = a[int(y0) : int(y0 + side), int(x0) : int(x0 + side)].sum()
    return float(seen / max(a.sum(), 1)), float(seen / side**2)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=150)
    args = p.parse_args(argv)
    cfg = TrainConfig()
    src = next(s for s in standard_sources(Path(cfg.data), Path(cfg.landmarks), "train") if s.synthetic is not None)
    print(f"{args.n} training faces per placement; mask share of its crop < 2 % = a bare-looking face")
    print("| placement | crop | mask left in the crop (median) | < 30 % of the mask left | mask < 2 % of the crop |")
    print("|---|---|---|---|---|")
    for kind in PLACEMENTS:
        pick = np.random.default_rng(0)
        changed = []
        for n in range(args.n):
            s = src.items[int(pick.integers(len(src.items)))]
            padded, lm = pad_face(load_face(s), np.asarray(src.synthetic[str(s.path)]))
            out = render_real_mask(padded, lm, kind, rng=np.random.default_rng([5, n]))
            box = changed_box(padded, out)
            diff = np.abs(np.asarray(out, np.int16) - np.asarray(padded, np.int16)).max(axis=2) > 24
            changed.append(diff if box is not None else np.zeros_like(diff))
        for keep in (False, True):
            rows = np.array([mask_in_crop(c, np.random.default_rng([7, n]), keep) for n, c in enumerate(changed)])
            left, share = rows[:, 0], rows[:, 1]
            k30, k2 = int((left < 0.3).sum()), int((share < 0.02).sum())
            print(
                f"| {kind} | {'--keep-mask' if keep else 'any'} | {np.median(left):.2f} | {k30}/{args.n} "
                f"({100 * k30 / args.n:.0f} %) | {k2}/{args.n} ({100 * k2 / args.n:.0f} %) |"
            )


if __name__ == "__main__":
    main()
