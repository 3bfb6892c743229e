"""How each offered Grad-CAM layer behaves on real faces: grid, how often it is blank, where it looks.

    python -m maskxai.camlayers --model inception_resnet_v1 --data ../shared/data/face-mask-detection --split test

Grad-CAM is ReLU'd, so a layer whose evidence for the predicted class is
negative everywhere gives a blank map. This runs every layer in the model's
``cam_layers`` on the same faces (cropped like ``maskxai.evaluate``) and
reports, per layer: the grid, the share of faces with a blank map, and the
mean share of the map in the lower half of the face (nose tip, mouth, chin:
where a mask sits). It is how the default layer (the first) was chosen.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any

import numpy as np
from tqdm import tqdm

from .data import Sample
from .evaluate import add_data_arguments, face_for, load_data_and_model
from .explain.base import PixelModel
from .explain.gradcam import grad_cam
from .faces import DetectSettings
from .preprocess import pixels
from .weights import LoadedModel


def layer_stats(lm: LoadedModel, samples: list[Sample], progress: bool = True) -> dict[str, dict[str, Any]]:
    """Per Grad-CAM layer of ``lm.spec``: ``grid``, ``blank`` (share of faces), ``lower_half``, ``n``.

    ``lower_half`` averages, over the faces whose map is not blank, the share
    of the map's mass in the lower half of the face crop.
    """
    settings = DetectSettings(min_face_px=0, min_confidence=0.8)
    pm = PixelModel(lm.model, lm.spec)
    layers = lm.spec.cam_layers
    grids: dict[str, str] = {}
    blank = dict.fromkeys(layers, 0)
    lower: dict[str, list[float]] = {name: [] for name in layers}
    for s in tqdm(samples, desc="Grad-CAM layers", unit="face", disable=not progress, file=sys.stderr):
        x = pixels(face_for(s, False, settings)[0], lm.spec)
        for name in layers:
            e = grad_cam(pm, x, layer=name)
            grids[name] = e.grid_text or "?"
            if e.blank:
                blank[name] += 1
                continue
            m = e.attribution
            lower[name].append(float(m[m.shape[0] // 2 :].sum() / m.sum()))
    n = len(samples)
    return {
        name: {
            "grid": grids.get(name, "?"),
            "blank": blank[name] / n if n else 0.0,
            "lower_half": float(np.mean(lower[name])) if lower[name] else float("nan"),
            "n": n,
        }
        for name in layers
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p, min_size=40.0)
    p.add_argument("--limit", type=int, default=100, help="faces to sample (seeded); 0 for all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    a = p.parse_args(argv)
    samples, lm = load_data_and_model(p, a)
    if 0 < a.limit < len(samples):
        samples = random.Random(a.seed).sample(samples, a.limit)
    stats = layer_stats(lm, samples)
    print(f"{a.model} on {len(samples)} faces of {a.data}{' split ' + a.split if a.split else ''}")
    print(f"{'layer':<12} {'grid':>6} {'blank':>7} {'lower half':>11}")
    for name, r in stats.items():
        print(f"{name:<12} {r['grid']:>6} {r['blank']:>7.1%} {r['lower_half']:>11.2f}")
    if a.json:
        print(json.dumps(stats))


if __name__ == "__main__":
    main()
