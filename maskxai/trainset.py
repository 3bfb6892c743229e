"""The training mixture: real crops, MaskedFace-Net and synthetic masks on unmasked faces.

Each item is drawn by a seeded generator from ``(seed, epoch, index)``, so an
epoch is the same whether it runs whole or is resumed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .augment import VIEWS, Box, augment, random_video_frame, reframe
from .data import Sample, fold_of, landmarks_cache, load_manifest, load_voc, parse_holdout, split_of
from .faces import crop_face, tight_face
from .lookalikes import LOOKALIKES, render_lookalike
from .masks import PLACEMENT_LABEL, FaceFrame, render_mask
from .photomasks import cut_mask
from .preprocess import to_input
from .realmasks import PLACEMENTS as REAL_PLACEMENTS
from .realmasks import MaskTemplate, pad_face, photo_fabric, render_real_mask
from .registry import LABELS, ModelSpec

log = logging.getLogger(__name__)

# Probability of each placement for a synthetic face: a third per class, all drawn masks by default.
# ``real_*`` placements put a photographed mask template on the face (:mod:`maskxai.realmasks`), on the face
# padded to the app's crop margin (``real_none``: padded, no mask, so padding says nothing about the label);
# they are off unless ``--placements`` gives them a share (zero shares keep earlier runs' draws unchanged).
# ``lookalike_*`` placements draw a beard or a hand over the mouth on the padded bare face (:mod:`maskxai.lookalikes`):
# hard negatives, labelled ``not_masked``; off by default too.
PLACEMENT_P = {
    "correct": 1 / 3,
    "none": 1 / 3,
    "below_nose": 1 / 6,
    "chin": 1 / 12,
    "nose_mouth": 1 / 12,
    **{f"real_{k}": 0.0 for k in (*REAL_PLACEMENTS, "none")},
    **{f"lookalike_{k}": 0.0 for k in LOOKALIKES},
}
# A recipe for real-looking masks: most draws from templates, some drawn masks kept for variety.
REAL_MIX = (
    "correct=0.08,none=0.08,below_nose=0.04,chin=0.02,nose_mouth=0.02,"
    "real_correct=0.25,real_none=0.25,real_below_nose=0.12,real_chin=0.06,real_nose_mouth=0.04,real_hanging=0.04"
)


# The placement of the ``synthetic-hanging`` val set: a photographed mask hanging from one ear.
HANGING = {"real_hanging": 1.0}
# The placements of the ``synthetic-lookalike`` val set: a beard or a hand over the mouth, half each (no mask).
LOOKALIKE = {f"lookalike_{k}": 1.0 / len(LOOKALIKES) for k in LOOKALIKES}
# The placements of the ``synthetic-cut`` val set: masks cut out of held-out photos, worn correctly on 40 % of the
# faces and lower down (under the nose, on the chin, nose and mouth, hanging from one ear) on the rest.
CUT = {"real_correct": 0.4, "real_below_nose": 0.2, "real_chin": 0.15, "real_nose_mouth": 0.05, "real_hanging": 0.2}


@dataclass(frozen=True)
class ValSize:
    """How much of the val split :func:`fixed_eval_set` draws: ``faces`` (None: all) of Face Mask 12K's masked and
    unmasked photos, ``real_draws`` photographed-mask draws per unmasked face (``synthetic-real``) and the share
    ``hanging`` of those faces drawn again with a mask hanging from one ear (``synthetic-hanging``), and the share
    ``lookalike`` drawn with a beard or a hand over the mouth and no mask (``synthetic-lookalike``; 0: no such set),
    and the share ``cuts`` drawn with a mask cut out of one of the split's own photos of masks worn correctly
    (``synthetic-cut``, placements :data:`CUT`; 0: no such set). Each size's draws begin with the smaller ones'
    (the same faces and seeds), so a larger set holds a smaller one."""

    faces: int | None
    real_draws: int
    hanging: float
    lookalike: float = 0.0
    cuts: float = 0.0


# ``standard``: every run's val until 2026-12-07 (its logs); ``large``: every face, 800 synthetic-real, 400 hanging,
# 200 lookalikes, and (from stop 45, 2026-12-07) 399 faces with masks cut out of the val split's photos.
VAL_SIZES = {"standard": ValSize(300, 1, 0.5), "large": ValSize(None, 2, 1.0, 0.5, 1.0)}

# Default share of each source in an epoch (``maskxai.train --mix`` overrides them).
SOURCE_WEIGHTS = {"synthetic": 0.45, "face-mask-12k": 0.12, "maskedface-net": 0.15, "face-mask-detection": 0.28}


@dataclass
class Source:
    """A pool of items and its share of each epoch; ``balance`` draws a class first, then an item.

    ``boost`` maps a sample kind (e.g. MaskedFace-Net's ``Nose_Mouth``) to how many times more often its
    items are drawn than the others of their class. ``placements`` (synthetic sources only) overrides
    :data:`PLACEMENT_P`, the share of each mask placement.
    """

    name: str
    items: Sequence[Sample]
    weight: float
    balance: bool = False
    synthetic: dict[str, list[list[float]]] | None = None  # path -> landmarks: draw masks on these
    boost: dict[str, float] = field(default_factory=dict)
    placements: dict[str, float] | None = None
    fabrics: Sequence[np.ndarray] = ()  # photographed fabric patches for the real_* masks (realmasks.photo_fabric)
    fabric_share: float = 0.0  # share of real_* masks coloured with one of ``fabrics``
    photo_masks: Sequence[MaskTemplate] = ()  # masks cut out of photos (maskxai.photomasks) for the real_* masks
    photo_share: float = 0.0  # share of real_* masks that are one of ``photo_masks``


def load_tight(sample: Sample) -> Image.Image:
    """A boxed face cropped at its box alone (no margin, not square) and taken whole, as a folder of face crops
    made by another tool reaches ``maskxai.evaluate``; a sample without a box: :func:`load_face`."""
    if sample.box is None:
        return load_face(sample)
    with Image.open(sample.path) as im:
        return tight_face(im.convert("RGB"), sample.box)


def load_face(sample: Sample) -> Image.Image:
    """The face crop of a sample: its box cropped like the app does, or the whole image."""
    with Image.open(sample.path) as im:
        img = im.convert("RGB")
    return crop_face(img, sample.box) if sample.box is not None else img


def synth_sample(
    img: Image.Image,
    landmarks: list[list[float]],
    rng: np.random.Generator,
    placements: dict[str, float] | None = None,
    fabrics: Sequence[np.ndarray] = (),
    fabric_share: float = 0.0,
    photo_masks: Sequence[MaskTemplate] = (),
    photo_share: float = 0.0,
) -> tuple[Image.Image, str]:
    """Draw a random placement (shares: ``placements``, default :data:`PLACEMENT_P`); return image and label.

    ``fabrics``, ``fabric_share``, ``photo_masks``, ``photo_share``: photographed fabrics and masks cut out of
    photos for the ``real_*`` masks (:func:`render_real_mask`)."""
    out, label, _ = synth_draw(
        img, landmarks, rng, placements, fabrics, fabric_share, photo_masks=photo_masks, photo_share=photo_share
    )
    return out, label


def synth_draw(
    img: Image.Image,
    landmarks: list[list[float]],
    rng: np.random.Generator,
    placements: dict[str, float] | None = None,
    fabrics: Sequence[np.ndarray] = (),
    fabric_share: float = 0.0,
    keep: bool = False,
    photo_masks: Sequence[MaskTemplate] = (),
    photo_share: float = 0.0,
) -> tuple[Image.Image, str, Box | None]:
    """:func:`synth_sample` with the box a crop must keep for the label to hold (``keep``; else ``None``).

    With a mask, the box holds the pixels it changed (:func:`changed_box`); without one, the box a mask of the
    same family (drawn or photographed, by ``placements``' shares) would have had on this face, rendered and
    thrown away, so that a bare face's crops are framed as a masked face's are. ``keep=False`` draws nothing
    more from ``rng`` than :func:`synth_sample` did before it existed.
    """
    shares = placements or PLACEMENT_P
    names = list(shares)
    w = np.array(list(shares.values()), dtype=np.float64)
    placement = names[rng.choice(len(names), p=w / w.sum())]
    lookalike = placement.startswith("lookalike_")
    real = placement.startswith("real_") or lookalike
    kind = placement.removeprefix("real_")
    lm = np.asarray(landmarks, dtype=np.float64)
    base, lm = pad_face(img, lm) if real else (img, lm)
    if lookalike:  # a bare face with a beard or a hand over its mouth: the box holds what was drawn
        out = render_lookalike(base, lm, placement.removeprefix("lookalike_"), rng=rng)
        return out, "not_masked", changed_box(base, out) if keep else None
    if kind == "none":
        label = "not_masked"
        if not keep:
            return base, label, None
        # A stand-in mask of the same family, rendered from a generator of its own (seeded by one draw).
        sub = np.random.default_rng(rng.integers(2**63))
        family = [f"real_{k}" for k in REAL_PLACEMENTS] if real else [k for k in PLACEMENT_LABEL if k != "none"]
        kinds = [k for k in family if shares.get(k, 0.0) > 0] or family
        stand_in = _render(
            base, lm, kinds[sub.integers(len(kinds))], sub, fabrics, fabric_share, photo_masks, photo_share
        )
        return base, label, changed_box(base, stand_in)
    out = _render(base, lm, placement, rng, fabrics, fabric_share, photo_masks, photo_share)
    label = REAL_PLACEMENTS[kind] if real else PLACEMENT_LABEL[kind]
    return out, label, changed_box(base, out) if keep else None


def _render(
    img: Image.Image,
    lm: np.ndarray,
    placement: str,
    rng: np.random.Generator,
    fabrics: Sequence[np.ndarray],
    fabric_share: float,
    photo_masks: Sequence[MaskTemplate] = (),
    photo_share: float = 0.0,
) -> Image.Image:
    if placement.startswith("real_"):
        return render_real_mask(
            img,
            lm,
            placement.removeprefix("real_"),
            rng=rng,
            fabrics=fabrics,
            fabric_share=fabric_share,
            photo_masks=photo_masks,
            photo_share=photo_share,
        )
    return render_mask(img, lm, placement, rng=rng)


def changed_box(before: Image.Image, after: Image.Image, threshold: int = 24) -> Box | None:
    """The bounding box ``(x0, y0, x1, y1)`` of the pixels where ``after`` differs from ``before`` by more than
    ``threshold`` (of 255) in some channel, e.g. a drawn mask; ``None`` if under 0.1 % of the pixels did."""
    diff = np.abs(np.asarray(after.convert("RGB"), np.int16) - np.asarray(before.convert("RGB"), np.int16))
    changed = diff.max(axis=2) > threshold
    if changed.sum() < 0.001 * changed.size:
        return None
    ys, xs = np.nonzero(changed)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


class Mixture(torch.utils.data.Dataset):
    """``length`` items per epoch, drawn from weighted sources, augmented and normalised for ``spec``."""

    def __init__(
        self,
        sources: Sequence[Source],
        spec: ModelSpec,
        length: int,
        seed: int = 0,
        train: bool = True,
        reframe_share: float = 0.0,
        video_share: float = 0.0,
        keep_mask: bool = False,
    ):
        """``reframe_share``: share of training draws framed like a tight face crop taken whole (:func:`reframe`);
        ``video_share``: share of draws seen as a grayscale video frame of 48-80 px (:func:`random_video_frame`);
        ``keep_mask``: a synthetic draw's crop keeps its mask whole (:func:`synth_draw`; not when reframed)."""
        self.sources = [s for s in sources if s.items]
        self.reframe_share, self.video_share, self.keep_mask = reframe_share, video_share, keep_mask
        w = np.array([s.weight for s in self.sources], dtype=np.float64)
        self.p = w / w.sum()
        self.spec, self.length, self.seed, self.train = spec, length, seed, train
        self.epoch = 0
        # Per source: the pools an item is drawn from (one per class when balanced, else all under "")
        # with each pool's draw probabilities (None: uniform).
        self.pools: list[dict[str, tuple[list[int], np.ndarray | None]]] = []
        for s in self.sources:
            groups = (
                {lab: [i for i, x in enumerate(s.items) if x.label == lab] for lab in LABELS}
                if s.balance
                else {"": list(range(len(s.items)))}
            )
            self.pools.append({key: (pool, _boosted(s, pool)) for key, pool in groups.items() if pool})

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img, label, rng = self.draw(i)
        if self.train and self.video_share and rng.random() < self.video_share:
            img = random_video_frame(img, rng)
        return to_input(img, self.spec)[0], LABELS.index(label)

    def draw(self, i: int) -> tuple[Image.Image, str, np.random.Generator]:
        """Draw ``i`` of the epoch as an augmented image (training) and its label, with the draw's generator
        (its later draws, e.g. a video frame's size, continue the same seeded sequence)."""
        rng = np.random.default_rng([self.seed, self.epoch, i])
        k = rng.choice(len(self.sources), p=self.p)
        src = self.sources[k]
        keys = list(self.pools[k])
        pool, p = self.pools[k][keys[rng.integers(len(keys))] if src.balance else ""]
        j = int(rng.integers(len(pool))) if p is None else int(rng.choice(len(pool), p=p))
        sample = src.items[pool[j]]
        img = load_face(sample)
        label, keep = sample.label, None
        if src.synthetic is not None:
            lm = src.synthetic[str(sample.path)]
            keep_mask = self.train and self.keep_mask
            img, label, keep = synth_draw(
                img,
                lm,
                rng,
                src.placements,
                src.fabrics,
                src.fabric_share,
                keep_mask,
                photo_masks=src.photo_masks,
                photo_share=src.photo_share,
            )
        # No draw when the share is 0: earlier runs' draws stay as they were.
        if self.train and self.reframe_share and rng.random() < self.reframe_share:
            img, keep = reframe(img, rng), None
        img = augment(img, rng, self.spec.input_size, keep=keep) if self.train else img
        return img, label, rng


def _boosted(src: Source, pool: Sequence[int]) -> np.ndarray | None:
    """Draw probabilities of ``pool`` (indices into ``src.items``) under ``src.boost``; None when uniform."""
    if not src.boost or not len(pool):
        return None
    w = np.array([src.boost.get(src.items[i].kind or "", 1.0) for i in pool], dtype=np.float64)
    return None if np.all(w == w[0]) else w / w.sum()


def standard_sources(data_root: Path, landmarks_file: Path, split: str, holdout: str = "") -> list[Source]:
    """The mixture used for the shipped weights (``split``: train or val).

    ``holdout`` ``"FOLD/K"`` (for :mod:`maskxai.kfold`) replaces Face Mask Detection's split: the photos of
    fold FOLD of K are left out (they are that fold's test), fold FOLD+1 is the val split, the rest train.
    """
    mfn = [s for s in load_manifest(data_root / "maskedface-net") if s.split == split]
    fm12 = load_manifest(data_root / "face-mask-12k", split=split)
    voc = [s for s in load_voc(data_root / "face-mask-detection", min_size=16) if voc_split(s, holdout) == split]
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


def with_fabrics(sources: list[Source], share: float, limit: int = 2000, seed: int = 0) -> list[Source]:
    """``sources`` with a share ``share`` of the synthetic sources' ``real_*`` masks coloured by photographed
    fabric: :func:`maskxai.realmasks.photo_fabric` of up to ``limit`` (a seeded sample) of the Face Mask 12K
    photos of masks worn correctly among ``sources`` (the training split's, when these are training sources).

    Raises:
        ValueError: If ``share`` is not in [0, 1], or it is above 0 and no such photo is among ``sources``.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"--fabrics takes a share in [0, 1], got {share}")
    if share == 0:
        return sources
    masked = [x for s in sources if s.name == "face-mask-12k" for x in s.items if x.label == "correctly_masked"]
    if not masked:
        raise ValueError("--fabrics needs Face Mask 12K's photos of masks worn correctly; none are in the sources")
    rng = np.random.default_rng(seed)
    picked = [masked[i] for i in sorted(rng.permutation(len(masked))[:limit])]
    fabrics = tuple(photo_fabric(load_face(x)) for x in picked)
    log.info("--fabrics %.2f: %d photographed fabrics", share, len(fabrics))
    return [
        dataclasses.replace(s, fabrics=fabrics, fabric_share=share) if s.synthetic is not None else s for s in sources
    ]


def photo_cuts(
    sources: list[Source], landmarks: dict[str, list[list[float]]], limit: int = 2000, seed: int = 0
) -> tuple[MaskTemplate, ...]:
    """Masks cut out (:func:`maskxai.photomasks.cut_mask`) of up to ``limit`` (a seeded sample) of the Face Mask 12K
    photos of masks worn correctly among ``sources`` that have ``landmarks`` (path -> MTCNN's five points); the
    photos that give no cut are left out."""
    masked = [
        x
        for s in sources
        if s.name == "face-mask-12k"
        for x in s.items
        if x.label == "correctly_masked" and landmarks.get(str(x.path))
    ]
    rng = np.random.default_rng(seed)
    picked = [masked[i] for i in sorted(rng.permutation(len(masked))[:limit])]
    cuts = [cut_mask(load_face(x), np.asarray(landmarks[str(x.path)]), f"photo_{x.path.stem}") for x in picked]
    masks = tuple(c for c in cuts if c is not None)
    log.info("%d masks cut out of %d photos", len(masks), len(picked))
    return masks


def with_photo_masks(
    sources: list[Source], share: float, landmarks: dict[str, list[list[float]]], limit: int = 2000, seed: int = 0
) -> list[Source]:
    """``sources`` with a share ``share`` of the synthetic sources' ``real_*`` masks replaced by the masks
    :func:`photo_cuts` cuts out of ``sources``' photos (up to ``limit``).

    Raises:
        ValueError: If ``share`` is not in [0, 1], or it is above 0 and no photo gives a cut.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"--photo-masks takes a share in [0, 1], got {share}")
    if share == 0:
        return sources
    masks = photo_cuts(sources, landmarks, limit, seed)
    if not masks:
        raise ValueError(
            "--photo-masks needs Face Mask 12K's photos of masks worn correctly, with landmarks; none gave a cut"
        )
    log.info("--photo-masks %.2f: %d cut masks", share, len(masks))
    return [
        dataclasses.replace(s, photo_masks=masks, photo_share=share) if s.synthetic is not None else s for s in sources
    ]


def voc_split(sample: Sample, holdout: str = "") -> str:
    """``train``, ``val`` or ``test`` of a Face Mask Detection face: by :func:`split_of` of its photo, or with
    ``holdout`` ``"FOLD/K"`` by :func:`fold_of` (FOLD: test, FOLD+1: val, the others: train)."""
    if not holdout:
        return split_of(sample.group or "")
    f, k = parse_holdout(holdout)
    fold = fold_of(sample.group or "", k)
    return "test" if fold == f else "val" if fold == (f + 1) % k else "train"


def _placeable(landmarks: list[list[float]] | None) -> bool:
    """True if a mask can be drawn from these landmarks (a detected, roughly upright face)."""
    if not landmarks:
        return False
    try:
        FaceFrame.from_landmarks(np.asarray(landmarks))
    except ValueError:
        return False
    return True


def with_views(val: dict[str, list[tuple[Image.Image, int]]], views: str) -> dict[str, list[tuple[Image.Image, int]]]:
    """``val`` and, for each view named in ``views`` (comma-separated), every set seen so as
    ``<name>@<view>`` (:data:`maskxai.augment.VIEWS`).

    Raises:
        ValueError: If ``views`` names a view that does not exist (the message lists those there are).
    """
    names = [v.strip() for v in views.split(",") if v.strip()]
    for v in names:
        if v not in VIEWS:
            raise ValueError(f"--val-views: no view {v!r}; there are: {', '.join(VIEWS)}")
    out = dict(val)
    for v in names:
        out.update({f"{name}@{v}": [(VIEWS[v](img), t) for img, t in items] for name, items in val.items()})
    return out


def _split_cuts(sources: list[Source], landmarks_file: Path) -> tuple[MaskTemplate, ...]:
    """:func:`photo_cuts` of ``sources``' own Face Mask 12K photos of masks worn correctly (none: no photos), their
    landmarks in the cache training keeps for its cuts (``<landmarks>_masked.json``)."""
    masked = [x.path for s in sources if s.name == "face-mask-12k" for x in s.items if x.label == "correctly_masked"]
    if not masked:
        return ()
    lms = landmarks_cache(masked, landmarks_file.with_name(landmarks_file.stem + "_masked.json"))
    return photo_cuts(sources, lms)


def fixed_eval_set(
    data_root: Path,
    landmarks_file: Path,
    split: str = "val",
    n_synth: int | None = None,
    holdout: str = "",
    views: str = "",
    size: str = "standard",
) -> dict[str, list[tuple[Image.Image, int]]]:
    """Validation images per source, decoded once (synthetic ones rendered with fixed seeds; ``holdout``: see
    :func:`standard_sources`; ``views``: see :func:`with_views`; ``size``: a key of :data:`VAL_SIZES`, whose face
    count ``n_synth`` overrides).

    Raises:
        ValueError: If ``size`` is not a key of :data:`VAL_SIZES`.
    """
    if size not in VAL_SIZES:
        raise ValueError(f"val size {size!r} is not one of {', '.join(VAL_SIZES)}: e.g. --val-size large")
    vs = VAL_SIZES[size]
    n = n_synth if n_synth is not None else vs.faces
    out: dict[str, list[tuple[Image.Image, int]]] = {}
    sources = standard_sources(data_root, landmarks_file, split, holdout)
    cuts = _split_cuts(sources, landmarks_file) if vs.cuts else ()
    for src in sources:
        items: list[tuple[Image.Image, int]] = []
        if src.synthetic is not None:
            real: list[tuple[Image.Image, int]] = []
            hanging: list[tuple[Image.Image, int]] = []
            lookalike: list[tuple[Image.Image, int]] = []
            cut: list[tuple[Image.Image, int]] = []
            real_shares = {k: v for k, v in PLACEMENT_P.items() if k in PLACEMENT_LABEL}
            real_shares = {f"real_{k}": v for k, v in real_shares.items()}
            faces = [(load_face(s), src.synthetic[str(s.path)]) for s in src.items[:n]]
            for i, (face, lm) in enumerate(faces):
                img, lab = synth_sample(face, lm, np.random.default_rng([99, i]))
                items.append((img, LABELS.index(lab)))
                if i < int(len(faces) * vs.hanging):
                    img, lab = synth_sample(face, lm, np.random.default_rng([96, i]), HANGING)
                    hanging.append((img, LABELS.index(lab)))
                if i < int(len(faces) * vs.lookalike):
                    img, lab = synth_sample(face, lm, np.random.default_rng([95, i]), LOOKALIKE)
                    lookalike.append((img, LABELS.index(lab)))
                if cuts and i < int(len(faces) * vs.cuts):
                    rng = np.random.default_rng([94, i])
                    img, lab = synth_sample(face, lm, rng, CUT, photo_masks=cuts, photo_share=1.0)
                    cut.append((img, LABELS.index(lab)))
            for d in range(vs.real_draws):  # draw 0 first, for every face: a larger size holds the smaller
                for i, (face, lm) in enumerate(faces):
                    img, lab = synth_sample(face, lm, np.random.default_rng([98, i] + [d] * (d > 0)), real_shares)
                    real.append((img, LABELS.index(lab)))
            # The same faces with photographed mask templates (real_* placements, a third per class).
            out["synthetic-real"] = real
            # Faces with a photographed mask hanging from one ear (worn incorrectly; in no other val set).
            out["synthetic-hanging"] = hanging
            if lookalike:  # Bare faces with a beard or a hand over the mouth (no mask; large val only).
                out["synthetic-lookalike"] = lookalike
            if cut:  # Masks cut out of this split's own photos, on its bare faces (large val only).
                out["synthetic-cut"] = cut
        else:
            pool = list(src.items)
            if src.name == "face-mask-12k":
                pool = pool[:n]
            items = [(load_face(s), s.target) for s in pool]
        out[src.name] = items
        if src.name == "face-mask-detection":  # the same faces as tight crops taken whole
            out["face-mask-detection-tight"] = [(load_tight(s), s.target) for s in src.items]
    return with_views(out, views)
