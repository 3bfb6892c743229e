"""Framing a face image by the detector, measured on the validation sets (not adopted: see docs/experiments.md).

A folder of face crops made by another tool reaches ``maskxai.evaluate`` (and the app's "whole image" option)
framed as that tool cut it, and is padded to a square (:func:`maskxai.faces.whole_face`). The question: is it
better to frame such an image as the app frames a photo, by finding the face in it (the image padded to 1.5
times its side, so that MTCNN sees a margin) and cropping around the box as the app does
(:func:`maskxai.faces.crop_face`)?
Each validation set is scored both ways (a face the detector does not find, or finds smaller than 30 % of the
image or off its centre, is left as given), and so are MaskedFace-Net's and synthetic-real's val faces first cut at
the detector's box (as another tool would save them); each also as a video frame (grayscale, 64 px), the view
applied to the given image before it is framed, as the team's frames are.

    PYTHONPATH=. python scripts/reframe_validate.py inception_resnet_v1 resnet50
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from maskxai.augment import VIEWS
from maskxai.faces import DetectSettings, Face, crop_face, detect_faces, tight_face, whole_box, whole_face
from maskxai.train import TrainConfig, validate
from maskxai.trainset import fixed_eval_set
from maskxai.weights import load_model

PAD = 0.5  # margin added around the given image before detection, as a share of its longer side (both sides)
SETTINGS = DetectSettings(min_face_px=0, min_confidence=0.8)  # maskxai.evaluate --detect-faces's settings


def framed(img: Image.Image) -> tuple[Image.Image, bool]:
    """``img`` cropped around the face found in it as the app crops a photo, and whether one was found."""
    padded = crop_face(img, whole_box(img), margin=PAD)
    side, cx, cy = max(img.size), padded.width / 2, padded.height / 2

    def central(f: Face) -> bool:
        x0, y0, x1, y1 = f.box
        near = abs((x0 + x1) / 2 - cx) <= 0.35 * side and abs((y0 + y1) / 2 - cy) <= 0.35 * side
        return near and max(x1 - x0, y1 - y0) >= 0.3 * side

    faces = [f for f in detect_faces(padded, SETTINGS) if central(f)]  # largest first
    return (crop_face(padded, faces[0].box), True) if faces else (whole_face(img), False)


def cut_at_box(items: list[tuple[Image.Image, int]]) -> list[tuple[Image.Image, int]]:
    """Each face cut at the detector's box alone and taken whole (faces the detector misses are dropped)."""
    out = []
    for img, t in items:
        faces = detect_faces(img, SETTINGS)
        if faces:
            out.append((tight_face(img, faces[0].box), t))
    return out


def cell(r: dict) -> str:
    """One set's result: accuracy k/n, worn incorrectly k/n (where the set has such faces), macro recall."""
    m = r["confusion"]
    inc = f", worn incorrectly {m[1][1]}/{sum(m[1])}" if sum(m[1]) else ""
    return f"{sum(m[i][i] for i in range(3))}/{r['n']}{inc}, macro {r['macro_recall']:.3f}"


def main(models: list[str]) -> None:
    cfg = TrainConfig()
    val = fixed_eval_set(Path(cfg.data), Path(cfg.landmarks), "val")
    names = ("face-mask-detection", "face-mask-detection-tight", "maskedface-net", "face-mask-12k", "synthetic-real")
    given = {k: val[k] for k in names}
    given |= {f"{k}, cut at the detector's box": cut_at_box(val[k]) for k in ("maskedface-net", "synthetic-real")}
    given |= {f"{k}@video": [(VIEWS["video"](im), t) for im, t in v] for k, v in list(given.items())}
    sets, found = dict(given), {}
    for name, items in given.items():
        pairs = [(framed(im), t) for im, t in items]
        sets[f"{name} >reframed"] = [(im, t) for (im, _), t in pairs]
        found[name] = sum(ok for (_, ok), _ in pairs)
    for model in models:
        lm = load_model(model)
        res = validate(lm.model, lm.spec, sets)
        print(f"{model}: set: as given -> reframed (accuracy k/n, worn incorrectly k/n, macro recall)")
        for name in given:
            print(
                f"    {name} (face found in {found[name]}/{len(given[name])}): "
                f"{cell(res[name])} -> {cell(res[name + ' >reframed'])}"
            )


if __name__ == "__main__":
    main(sys.argv[1:] or ["inception_resnet_v1", "resnet50"])
