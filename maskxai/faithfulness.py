"""Is a map faithful to the model? Deletion and insertion curves (Petsiuk et al., 2018, "RISE:
Randomized Input Sampling for Explanation of Black-box Models").

The face is cut into square patches of ``patch`` pixels (8 by default: 20 x 20
patches at 160 px), ranked by the sum of the map inside each, most important
(most positive) first; ties, e.g. on a blank map, are broken at random (seeded).

- **Deletion**: patches are replaced by the *fill* in that order; the curve is
  the model's probability for the explained class after each share of patches.
  A faithful map makes it fall fast: **low** area under the curve (AUC).
- **Insertion**: start from the fill and put patches of the face back in that
  order: a faithful map makes it rise fast: **high** AUC.

The fill is ``"grey"`` (0.5 in [0, 1] pixel space) or ``"blur"`` (the face
blurred with a Gaussian of sigma = side / 16, IG's "blurred input" baseline).
Each curve is sampled at ``points`` evenly spaced shares of the patches (21:
every 5 %), and its AUC is the trapezoid rule over the share, so AUCs lie in
[0, 1]. The same curves for random patch orders (the mean over ``orders``
random orders) say what no knowledge at all would score: a map is useful where
it beats them, i.e. deletion AUC below random's and insertion AUC above.
Maps are ranked by ``insertion AUC - deletion AUC``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .explain.base import FILLS, PixelModel, check_pixels
from .explain.baselines import make_baseline

PATCH, POINTS, ORDERS = 8, 21, 3


@dataclass
class Curves:
    """Deletion and insertion curves of one patch order.

    Attributes:
        fractions: Share of patches removed (deletion) or put back (insertion), ``points`` values from 0 to 1.
        deletion: Probability of the class after removing that share.
        insertion: Probability of the class after inserting that share into the fill.
    """

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self) -> float:
        return _auc(self.fractions, self.deletion)

    @property
    def insertion_auc(self) -> float:
        return _auc(self.fractions, self.insertion)

    def to_record(self) -> dict[str, Any]:
        return {
            "deletion_auc": round(self.deletion_auc, 4),
            "insertion_auc": round(self.insertion_auc, 4),
            "fractions": [round(float(f), 4) for f in self.fractions],
            "deletion": [round(float(v), 4) for v in self.deletion],
            "insertion": [round(float(v), 4) for v in self.insertion],
        }


@dataclass
class Faithfulness:
    """A map's curves beside the random orders' on the same face, class, patches and fill."""

    map: Curves
    random: Curves
    patch: int
    fill: str

    @property
    def deletion_gain(self) -> float:
        """Random's deletion AUC minus the map's: above 0 when the map beats a random order."""
        return self.random.deletion_auc - self.map.deletion_auc

    @property
    def insertion_gain(self) -> float:
        """The map's insertion AUC minus random's: above 0 when the map beats a random order."""
        return self.map.insertion_auc - self.random.insertion_auc

    @property
    def score(self) -> float:
        """``insertion AUC - deletion AUC``: what the ranking sorts by (higher is more faithful)."""
        return self.map.insertion_auc - self.map.deletion_auc

    def to_record(self) -> dict[str, Any]:
        return {
            "patch": self.patch,
            "fill": self.fill,
            "deletion_auc": round(self.map.deletion_auc, 4),
            "insertion_auc": round(self.map.insertion_auc, 4),
            "random_deletion_auc": round(self.random.deletion_auc, 4),
            "random_insertion_auc": round(self.random.insertion_auc, 4),
            "score": round(self.score, 4),
            "curves": self.map.to_record(),
            "random_curves": self.random.to_record(),
        }


def _auc(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def fill_image(pixels: torch.Tensor, fill: str, pm: PixelModel | None = None) -> torch.Tensor:
    """What removed patches become: mid-grey, or the blurred face.

    Raises:
        ValueError: Unknown fill; the message lists the choices.
    """
    if fill == "grey":
        return torch.full_like(pixels, 0.5)
    if fill == "blur":
        spec = pm.spec if pm is not None else None
        return make_baseline("blurred input", pixels, spec)  # type: ignore[arg-type]  # blur ignores the spec
    raise ValueError(f"unknown fill {fill!r}; choose one of {list(FILLS)}")


def patch_ranks(attribution: np.ndarray, patch: int = PATCH, seed: int = 0) -> np.ndarray:
    """``H x W`` int map: the rank of each pixel's patch, 0 for the most important (largest sum).

    Ties are broken in a random order (seeded), so a flat or blank map scores like a random order.
    """
    if patch < 1:
        raise ValueError(f"patch must be at least 1 pixel, got {patch}")
    a = np.nan_to_num(np.asarray(attribution, dtype=np.float64))
    h, w = a.shape
    ny, nx = -(-h // patch), -(-w // patch)
    padded = np.zeros((ny * patch, nx * patch))
    padded[:h, :w] = a
    sums = padded.reshape(ny, patch, nx, patch).sum(axis=(1, 3)).ravel()
    tiebreak = np.random.default_rng(seed).permutation(sums.size)
    order = np.lexsort((tiebreak, -sums))  # by sum, largest first; ties by the random key
    return _ranks_of(order, h, w, patch)


def random_ranks(shape: tuple[int, int], patch: int, rng: np.random.Generator) -> np.ndarray:
    """Patch ranks of a random order (see :func:`patch_ranks`)."""
    h, w = shape
    n = (-(-h // patch)) * (-(-w // patch))
    return _ranks_of(rng.permutation(n), h, w, patch)


def _ranks_of(order: np.ndarray, h: int, w: int, patch: int) -> np.ndarray:
    nx = -(-w // patch)
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    yy, xx = np.mgrid[0:h, 0:w]
    return rank[(yy // patch) * nx + xx // patch]


def curves(
    pm: PixelModel,
    pixels: torch.Tensor,
    target: int,
    ranks: np.ndarray,
    fill: torch.Tensor,
    points: int = POINTS,
    batch: int = 16,
) -> Curves:
    """Deletion and insertion curves of the patch order ``ranks`` (see the module).

    Args:
        pm: The model in pixel space.
        pixels: ``(1, 3, H, W)`` face in [0, 1]; not modified.
        target: The class whose probability is followed.
        ranks: ``H x W`` patch ranks (:func:`patch_ranks`).
        fill: ``(1, 3, H, W)`` image removed patches become (:func:`fill_image`).
        points: Samples per curve (shares of patches from 0 to 1).
        batch: Images per forward pass.
    """
    check_pixels(pixels)
    n = int(ranks.max()) + 1
    fractions = np.linspace(0.0, 1.0, points)
    counts = np.round(fractions * n).astype(np.int64)
    r = torch.from_numpy(ranks).to(pixels.device)
    masks = torch.stack([r < c for c in counts[1:-1]]).unsqueeze(1)  # (points-2, 1, H, W): True = removed
    x, f = pixels.detach(), fill.detach().to(pixels.dtype)
    deleted = torch.where(masks, f, x)
    inserted = torch.where(masks, x, f)
    probs = _probabilities(pm, torch.cat([x, f, deleted, inserted]), target, batch)
    p_x, p_f, p_del, p_ins = probs[0], probs[1], probs[2:points], probs[points:]
    return Curves(
        fractions,
        np.concatenate([[p_x], p_del, [p_f]]),
        np.concatenate([[p_f], p_ins, [p_x]]),
    )


def _probabilities(pm: PixelModel, images: torch.Tensor, target: int, batch: int) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for chunk in images.split(max(1, batch)):
            out.append(pm(chunk.contiguous(memory_format=torch.channels_last)).float().softmax(1)[:, target])
    return torch.cat(out).cpu().numpy().astype(np.float64)


def random_curves(
    pm: PixelModel,
    pixels: torch.Tensor,
    target: int,
    patch: int = PATCH,
    fill: str = "grey",
    orders: int = ORDERS,
    points: int = POINTS,
    seed: int = 0,
    batch: int = 16,
) -> Curves:
    """The mean curves over ``orders`` random patch orders (seeded): what a map must beat.

    Compute it once per face, class, patch size and fill, and pass it to :func:`faithfulness`.
    """
    rng = np.random.default_rng(seed)
    f = fill_image(pixels, fill, pm)
    runs = [
        curves(pm, pixels, target, random_ranks(tuple(pixels.shape[-2:]), patch, rng), f, points, batch)  # type: ignore[arg-type]
        for _ in range(max(1, orders))
    ]
    return Curves(
        runs[0].fractions,
        np.mean([c.deletion for c in runs], axis=0),
        np.mean([c.insertion for c in runs], axis=0),
    )


def faithfulness(
    pm: PixelModel,
    pixels: torch.Tensor,
    target: int,
    attribution: np.ndarray,
    *,
    patch: int = PATCH,
    fill: str = "grey",
    points: int = POINTS,
    random: Curves | None = None,
    seed: int = 0,
    batch: int = 16,
) -> Faithfulness:
    """Deletion and insertion of ``attribution``'s patch order, beside random orders'.

    Args:
        pm: The model in pixel space.
        pixels: ``(1, 3, H, W)`` face in [0, 1]; not modified.
        target: The explained class.
        attribution: ``H x W`` map (most positive = most important).
        patch: Patch side in pixels.
        fill: ``"grey"`` or ``"blur"``.
        points: Samples per curve.
        random: :func:`random_curves` already computed for this face (else computed here).
        seed: Seed of the tie-breaking and random orders.

    Raises:
        ValueError: Unknown fill, or a map whose shape is not the image's.
    """
    if attribution.shape != tuple(pixels.shape[-2:]):
        raise ValueError(f"the map is {attribution.shape}, the image {tuple(pixels.shape[-2:])}")
    f = fill_image(pixels, fill, pm)
    mine = curves(pm, pixels, target, patch_ranks(attribution, patch, seed), f, points, batch)
    if random is None:
        random = random_curves(pm, pixels, target, patch, fill, points=points, seed=seed, batch=batch)
    return Faithfulness(mine, random, patch, fill)
