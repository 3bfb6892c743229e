"""The training mixture: real crops, MaskedFace-Net and synthetic masks on unmasked faces.

Each item is drawn by a seeded generator from ``(seed, epoch, index)``, so an
epoch is the same whether it runs whole or is resumed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .augment import augment
from .data import Sample, load_manifest, load_voc, split_of
from .faces import crop_face
from .masks import PLACEMENT_LABEL, FaceFrame, render_mask
from .preprocess import to_input
from .registry import LABELS, ModelSpec

log = logging.getLogger(__name__)

# Probability of each placement for a synthetic face: a third per class.
PLACEMENT_P = {"correct": 1 / 3, "none": 1 / 3, "below_nose": 1 / 6, "chin": 1 / 12, "nose_mouth": 1 / 12}


# Default share of each source in an epoch (``maskxai.train --mix`` overrides them).
SOURCE_WEIGHTS = {"synthetic": 0.45, "face-mask-12k": 0.12, "maskedface-net": 0.15, "face-mask-detection": 0.28}


@dataclass
class Source:
    """A pool of items and its share of each epoch; ``balance`` draws a class first, then an item."""

    name: str
    items: Sequence[Sample]
    weight: float
    balance: bool = False
    synthetic: dict[str, list[list[float]]] | None = None  # path -> landmarks: draw masks on these


def load_face(sample: Sample) -> Image.Image:
    """The face crop of a sample: its box cropped like the app does, or the whole image."""
    with Image.open(sample.path) as im:
        img = im.convert("RGB")
    return crop_face(img, sample.box) if sample.box is not None else img


def synth_sample(img: Image.Image, landmarks: list[list[float]], rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Draw a random placement on a face and return the image and its label."""
    names = list(PLACEMENT_P)
    placement = names[rng.choice(len(names), p=np.array(list(PLACEMENT_P.values())))]
    out = render_mask(img, np.asarray(landmarks), placement, rng=rng)
    return out, PLACEMENT_LABEL[placement]


class Mixture(torch.utils.data.Dataset):
    """``length`` items per epoch, drawn from weighted sources, augmented and normalised for ``spec``."""

    def __init__(self, sources: Sequence[Source], spec: ModelSpec, length: int, seed: int = 0, train: bool = True):
        self.sources = [s for s in sources if s.items]
        w = np.array([s.weight for s in self.sources], dtype=np.float64)
        self.p = w / w.sum()
        self.spec, self.length, self.seed, self.train = spec, length, seed, train
        self.epoch = 0
        self.by_class = [
            {lab: [i for i, x in enumerate(s.items) if x.label == lab] for lab in LABELS} for s in self.sources
        ]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        k = rng.choice(len(self.sources), p=self.p)
        src = self.sources[k]
        if src.balance:
            classes = [lab for lab in LABELS if self.by_class[k][lab]]
            pool = self.by_class[k][classes[rng.integers(len(classes))]]
            sample = src.items[pool[int(rng.integers(len(pool)))]]
        else:
            sample = src.items[int(rng.integers(len(src.items)))]
        img = load_face(sample)
        label = sample.label
        if src.synthetic is not None:
            img, label = synth_sample(img, src.synthetic[str(sample.path)], rng)
        img = augment(img, rng, self.spec.input_size) if self.train else img
        return to_input(img, self.spec)[0], LABELS.index(label)


def standard_sources(data_root: Path, landmarks_file: Path, split: str) -> list[Source]:
    """The mixture used for the shipped weights (``split``: train or val)."""
    mfn = [s for s in load_manifest(data_root / "maskedface-net") if s.split == split]
    fm12 = load_manifest(data_root / "face-mask-12k", split=split)
    voc = [s for s in load_voc(data_root / "face-mask-detection", min_size=16) if split_of(s.group or "") == split]
    lms = json.loads(landmarks_file.read_text()) if landmarks_file.is_file() else {}
    unmasked = [s for s in fm12 if s.label == "not_masked" and _placeable(lms.get(str(s.path)))]
    masked = [s for s in fm12 if s.label == "correctly_masked"]
    w = SOURCE_WEIGHTS
    return [
        Source("synthetic", unmasked, w["synthetic"], synthetic=lms),
        Source("face-mask-12k", masked, w["face-mask-12k"]),
        Source("maskedface-net", mfn, w["maskedface-net"], balance=True),
        Source("face-mask-detection", voc, w["face-mask-detection"], balance=True),
    ]


def _placeable(landmarks: list[list[float]] | None) -> bool:
    """True if a mask can be drawn from these landmarks (a detected, roughly upright face)."""
    if not landmarks:
        return False
    try:
        FaceFrame.from_landmarks(np.asarray(landmarks))
    except ValueError:
        return False
    return True


def fixed_eval_set(
    data_root: Path, landmarks_file: Path, split: str = "val", n_synth: int = 300
) -> dict[str, list[tuple[Image.Image, int]]]:
    """Validation images per source, decoded once (synthetic ones rendered with fixed seeds)."""
    out: dict[str, list[tuple[Image.Image, int]]] = {}
    for src in standard_sources(data_root, landmarks_file, split):
        items: list[tuple[Image.Image, int]] = []
        if src.synthetic is not None:
            for i, s in enumerate(src.items[:n_synth]):
                img, lab = synth_sample(load_face(s), src.synthetic[str(s.path)], np.random.default_rng([99, i]))
                items.append((img, LABELS.index(lab)))
        else:
            pool = list(src.items)
            if src.name == "face-mask-12k":
                pool = pool[:n_synth]
            items = [(load_face(s), s.target) for s in pool]
        out[src.name] = items
    return out
