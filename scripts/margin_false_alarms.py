"""Do bare val faces get called "worn incorrectly" because of the margin ``pad_face`` adds, or in spite of it?

``PYTHONPATH=. python scripts/margin_false_alarms.py inception_resnet_v1 inception_resnet_v1=runs/x/best.safetensors``
(``model`` alone: the shipped weights; ``model=weights``: those): the unmasked faces of the ``synthetic-real`` val
set (the same faces and seeds as training's validation) are padded three ways: edges stretched (as in training and
validation), mirrored, or a flat colour (the face's mean), each blurred the same way; each model's calls are counted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

import maskxai.trainset as ts
from maskxai.preprocess import to_input
from maskxai.registry import LABELS
from maskxai.train import TrainConfig
from maskxai.weights import load_model

PADS = ("edge", "symmetric", "mean")


def pad_with(mode: str):
    """``realmasks.pad_face`` with the margin filled by ``mode`` (numpy's ``edge``/``symmetric``, or ``mean``)."""

    def pad(img: Image.Image, landmarks: np.ndarray, margin: float = 0.15) -> tuple[Image.Image, np.ndarray]:
        w, h = img.size
        px, py = round(w * margin), round(h * margin)
        a = np.asarray(img.convert("RGB"))
        if mode == "mean":
            padded = np.empty((h + 2 * py, w + 2 * px, 3), np.uint8)
            padded[:] = a.reshape(-1, 3).mean(axis=0).astype(np.uint8)
            padded[py : py + h, px : px + w] = a
        else:
            padded = np.pad(a, ((py, py), (px, px), (0, 0)), mode=mode)
        out = Image.fromarray(padded)
        blurred = out.filter(ImageFilter.GaussianBlur(max(w, h) * 0.04))
        keep = Image.new("L", out.size, 0)
        ImageDraw.Draw(keep).rectangle([px, py, px + w - 1, py + h - 1], fill=255)
        out = Image.composite(out, blurred, keep.filter(ImageFilter.GaussianBlur(2)))
        return out, np.asarray(landmarks, dtype=np.float64).reshape(5, 2) + (px, py)

    return pad


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="MODEL or MODEL=WEIGHTS")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    cfg = TrainConfig()
    src = next(s for s in ts.standard_sources(Path(cfg.data), Path(cfg.landmarks), "val") if s.synthetic is not None)
    shares = {f"real_{k}": v for k, v in ts.PLACEMENT_P.items() if not k.startswith("real_")}
    loaded = {m: load_model(*(m.split("=", 1) if "=" in m else (m, None))) for m in args.models}
    original = ts.pad_face
    try:
        for mode in PADS:
            ts.pad_face = pad_with(mode)
            faces = []
            for i, s in enumerate(src.items[:300]):  # fixed_eval_set's synthetic-real draws
                rng = np.random.default_rng([98, i])
                img, lab = ts.synth_sample(ts.load_face(s), src.synthetic[str(s.path)], rng, shares)
                if lab == "not_masked":
                    faces.append(img)
            cells = []
            for name, m in loaded.items():
                with torch.no_grad():
                    x = torch.cat([to_input(im, m.spec) for im in faces])
                    pred = torch.cat([m.model(x[k : k + 32]) for k in range(0, len(x), 32)]).argmax(1).numpy()
                right = int((pred == LABELS.index("not_masked")).sum())
                wrong = int((pred == LABELS.index("incorrectly_masked")).sum())
                cells.append(f"{name}: no mask {right}/{len(faces)}, 'worn incorrectly' {wrong}")
            print(f"{mode:9s} | " + " | ".join(cells), flush=True)
    finally:
        ts.pad_face = original


if __name__ == "__main__":
    main()
