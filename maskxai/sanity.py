"""Would the map look the same for a model that learned nothing? Cascading randomisation
(Adebayo et al., 2018, "Sanity Checks for Saliency Maps").

A copy of the model has its blocks re-initialised one after another, from the
output down (top-level children that hold parameters, last first: ResNet50's
``fc``, ``layer4``, ... ``conv1``; InceptionResnetV1's ``logits``, ...,
``block8``, ``repeat_3``, ... ``conv2d_1a``), each keeping the ones before
random. After each step every chosen method explains the same class of the same
face again, and its map is compared with the trained model's: Spearman rank
correlation of ``|map|`` and SSIM of ``|map|`` scaled to [0, 1]. A method whose
map depends on what the model learned must drift away; one whose mean Spearman
correlation over the randomised steps stays at or above 0.5 is flagged as
*barely changing*: it shows the image more than the model. A map that turns
blank, or constant, counts as correlation 0 (it changed entirely).

IG with ``"auto"`` steps runs 32 fixed steps here: a random model's tiny score
gap would otherwise always run to the cap.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from torch import nn

from .explain import ExplainSettings, PixelModel, get_method
from .explain.base import Context, resolve_target
from .explain.methods import fast_first

FLAG_SPEARMAN = 0.5
SANITY_IG_STEPS = 32


def top_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The top-level children that hold parameters, output side first (the randomisation order)."""
    blocks = [(name, m) for name, m in model.named_children() if any(True for _ in m.parameters())]
    return blocks[::-1]


def randomise(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module``'s parameters in place, as when it was built (seeded, caller's RNG untouched)."""
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        for m in module.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
            elif any(True for _ in m.parameters(recurse=False)):
                for p in m.parameters(recurse=False):
                    p.normal_(0.0, 0.02)


def similarity(trained: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """``(Spearman of |maps|, SSIM of |maps| scaled to [0, 1])``; a constant map correlates 0."""
    a = np.abs(np.nan_to_num(trained.astype(np.float64)))
    b = np.abs(np.nan_to_num(other.astype(np.float64)))
    if a.std() == 0 or b.std() == 0:
        rho = 1.0 if np.array_equal(a, b) else 0.0
    else:
        rho = float(spearmanr(a.ravel(), b.ravel()).statistic)
    na = a / a.max() if a.max() > 0 else a
    nb = b / b.max() if b.max() > 0 else b
    ssim = float(structural_similarity(na, nb, data_range=1.0))
    return (0.0 if not np.isfinite(rho) else rho), ssim


@dataclass
class SanityStep:
    """The maps after one more block was randomised (``block`` is ``""`` for the trained model).

    Attributes:
        block: The block randomised at this step.
        randomised: Every block random so far, output side first.
        maps: Method name -> its map on this model.
        spearman: Method name -> Spearman rank correlation of ``|map|`` with the trained map.
        ssim: Method name -> SSIM with the trained map.
    """

    block: str
    randomised: list[str]
    maps: dict[str, np.ndarray]
    spearman: dict[str, float] = field(default_factory=dict)
    ssim: dict[str, float] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "spearman": {k: round(v, 4) for k, v in self.spearman.items()},
            "ssim": {k: round(v, 4) for k, v in self.ssim.items()},
        }


def sanity_settings(settings: ExplainSettings) -> ExplainSettings:
    """``settings`` with IG's "auto" steps fixed to :data:`SANITY_IG_STEPS`."""
    if settings.steps == "auto":
        return dataclasses.replace(settings, steps=SANITY_IG_STEPS)
    return settings


def cascading_randomisation(
    pm: PixelModel,
    pixels: torch.Tensor,
    methods: list[str],
    target: int | None = None,
    settings: ExplainSettings | None = None,
    *,
    seed: int = 0,
    max_blocks: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Iterator[SanityStep]:
    """Yield the trained maps, then the maps after each further block is randomised.

    The model is copied once; ``pm`` is never changed. Stop iterating to cancel.

    Args:
        pm: The trained model in pixel space.
        pixels: ``(1, 3, H, W)`` face in [0, 1].
        methods: Registry names of the methods to check.
        target: The class to explain (default: the trained model's prediction), the same at every step.
        settings: The methods' settings (see :func:`sanity_settings`).
        seed: Seed of the re-initialisation.
        max_blocks: Stop after this many blocks (default: all).
        progress: Called with ``(fraction done, text)`` before each step.

    Raises:
        ValueError: Unknown method, bad input or class.
    """
    names = fast_first(list(methods))
    for n in names:
        get_method(n)
    s = sanity_settings(settings or ExplainSettings())
    k = resolve_target(pm, pixels, target)
    model = copy.deepcopy(pm.model)
    work = PixelModel(model, pm.spec)
    blocks = top_blocks(model)[: max_blocks if max_blocks is not None else None]
    total = len(blocks) + 1

    def maps() -> dict[str, np.ndarray]:
        ctx = Context(work, pixels, k, s)
        return {n: get_method(n).fn(ctx).attribution for n in names}

    if progress is not None:
        progress(0.0, "trained model")
    trained = maps()
    yield SanityStep("", [], trained, dict.fromkeys(names, 1.0), dict.fromkeys(names, 1.0))
    done: list[str] = []
    for i, (name, block) in enumerate(blocks):
        if progress is not None:
            progress((i + 1) / total, f"randomising {name} ({i + 1} of {len(blocks)})")
        randomise(block, seed + i)
        done.append(name)
        now = maps()
        sims = {n: similarity(trained[n], now[n]) for n in names}
        yield SanityStep(name, list(done), now, {n: v[0] for n, v in sims.items()}, {n: v[1] for n, v in sims.items()})


def barely_changes(steps: list[SanityStep], threshold: float = FLAG_SPEARMAN) -> dict[str, bool]:
    """Method -> True if its mean Spearman correlation over the randomised steps is at least ``threshold``."""
    randomised = [s for s in steps if s.block]
    if not randomised:
        return {}
    return {n: float(np.mean([s.spearman[n] for s in randomised])) >= threshold for n in randomised[0].spearman}


def spearman_text(mean: float, threshold: float = FLAG_SPEARMAN) -> str:
    """``mean`` at two decimals; at three, with the side of ``threshold`` it lies on, where two would hide it.

    0.497 is not flagged but rounds to "0.50", which reads as the flag line itself: it is written
    "0.497, under the 0.5 flag line" (and 0.5 or more that would read lower, "at or over").
    """
    short = f"{mean:.2f}"
    if (float(short) >= threshold) == (mean >= threshold):
        return short
    side = "at or over" if mean >= threshold else "under"
    return f"{mean:.3f}, {side} the {threshold:g} flag line"


def verdicts(steps: list[SanityStep], titles: dict[str, str] | None = None) -> list[str]:
    """One sentence per method on how much its map changed (for the page and the CLI)."""
    titles = titles or {}
    randomised = [s for s in steps if s.block]
    out = []
    for n, flagged in barely_changes(steps).items():
        mean = float(np.mean([s.spearman[n] for s in randomised]))
        last = randomised[-1].spearman[n]
        title = titles.get(n, n)
        if flagged:
            out.append(
                f"⚠️ **{title} barely changes** when the model is randomised (mean Spearman {spearman_text(mean)}, "
                f"{last:.2f} with {len(randomised)} blocks random): "
                "it shows the image more than what the model learned."
            )
        else:
            out.append(
                f"✅ **{title}** changes with the model (mean Spearman {spearman_text(mean)}, {last:.2f} with "
                f"{len(randomised)} blocks random): it depends on what the model learned."
            )
    return out
