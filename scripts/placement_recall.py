"""Recall per mask placement on validation faces: which ways of wearing a mask wrong does a model miss?

The first 120 unmasked Face Mask 12K val faces (those with landmarks), each drawn with one placement (seeds
``[97, i]``: apart from every val set's), photographed (``real_*``) and drawn masks; for each placement the
labels the model gives (k/n with the 95 % Wilson interval, and what the misses were called); the lookalikes
(`maskxai.lookalikes`: a beard, a hand over the mouth, no mask) too.

    PYTHONPATH=. python scripts/placement_recall.py inception_resnet_v1 resnet50
    PYTHONPATH=. python scripts/placement_recall.py inception_resnet_v1=runs/irv1_fab/best.safetensors

Each argument is a model (its shipped weights) or ``model=weights``. ``--fabrics``: every photographed mask
coloured with fabric cut from Face Mask 12K's *val* photos of masks worn correctly (``realmasks.photo_fabric``;
training's ``--fabrics`` cuts its own from the train photos), the drawn masks as without it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from maskxai.metrics import format_interval, interval
from maskxai.registry import LABELS
from maskxai.train import TrainConfig, validate
from maskxai.trainset import load_face, standard_sources, synth_sample, with_fabrics
from maskxai.weights import load_model

PLACEMENTS = (
    "real_correct", "real_below_nose", "real_chin", "real_nose_mouth", "real_hanging", "below_nose", "chin",
    "lookalike_beard", "lookalike_hand",
)  # fmt: skip
N = 120


def main(models: list[str], fabrics: bool = False) -> None:
    cfg = TrainConfig()
    sources = standard_sources(Path(cfg.data), Path(cfg.landmarks), "val")
    src = next(s for s in with_fabrics(sources, 1.0 if fabrics else 0.0) if s.synthetic is not None)
    faces = [(load_face(s), src.synthetic[str(s.path)]) for s in src.items[:N]]
    sets = {}
    for placement in PLACEMENTS:
        draws = [
            synth_sample(f, lm, np.random.default_rng([97, i]), {placement: 1.0}, src.fabrics, src.fabric_share)
            for i, (f, lm) in enumerate(faces)
        ]
        sets[placement] = [(img, LABELS.index(lab)) for img, lab in draws]
    for arg in models:
        model, _, weights = arg.partition("=")
        lm = load_model(model, weights or None)
        res = validate(lm.model, lm.spec, sets)
        print(f"{arg}: placement: recognised % (k/n, 95 % interval), the misses called")
        for name, r in res.items():
            t = sets[name][0][1]
            row = r["confusion"][t]
            missed = ", ".join(f"{LABELS[j]} {row[j]}" for j in range(len(LABELS)) if j != t and row[j])
            print(f"  {name}: {format_interval(interval(row[t], sum(row)))}{'; ' + missed if missed else ''}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--fabrics"]
    main(args or ["inception_resnet_v1"], fabrics="--fabrics" in sys.argv[1:])
