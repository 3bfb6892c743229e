"""What every explainer returns, the settings they read, and the pixel-space view of a model they all use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..registry import ModelSpec, normalize

Steps = int | Literal["auto"]
MIN_STEPS, MAX_STEPS = 8, 256
FILLS = ("grey", "blur")


@dataclass
class Explanation:
    """One attribution map at the input's resolution, with what is needed to read it.

    Only ``method`` .. ``seconds`` are set by every method; the other fields are
    ``None`` where they do not apply (a layer for CAMs, steps for IG, ...).

    Attributes:
        method: Name shown to people, e.g. ``"Grad-CAM"``.
        attribution: ``H x W`` float32 map.
        signed: True if negative values mean "against the class" (gradients, IG);
            False for maps that are non-negative by construction (CAMs).
        target: Index of the explained class.
        seconds: Wall time of the computation.
        key: Registry name of the method, e.g. ``"gradcam"`` (see :mod:`maskxai.explain.methods`).
        layer: Target layer (CAMs).
        grid: Spatial size of that layer's activations (CAMs).
        blank: True when a CAM found no positive evidence (an all-zero map).
        steps: Integration steps (IG), as used in the end.
        baseline: Baseline name (IG, occlusion's fill).
        delta: IG's convergence delta, ``|sum(attributions) - (f(x) - f(baseline))|``.
        logit_gap: ``f(x) - f(baseline)`` for the explained class (IG).
        converged: IG "auto" steps: whether the delta got under 5 % of the gap before the cap.
        samples: Noisy copies averaged (SmoothGrad).
        noise: Noise standard deviation, in [0, 1] pixel units (SmoothGrad).
        patch: Occluding patch side in pixels (occlusion).
        shared_pass_with: Another method whose forward/backward pass this map reused.
        precision: ``"fp32"`` or ``"bf16"``.
    """

    method: str
    attribution: np.ndarray
    signed: bool
    target: int
    seconds: float
    key: str = ""
    layer: str | None = None
    grid: tuple[int, int] | None = None
    blank: bool = False
    steps: int | None = None
    baseline: str | None = None
    delta: float | None = None
    logit_gap: float | None = None
    converged: bool | None = None
    samples: int | None = None
    noise: float | None = None
    patch: int | None = None
    shared_pass_with: str | None = None
    precision: str = "fp32"

    @property
    def relative_delta(self) -> float | None:
        """IG's delta as a share of the score gap (``inf`` if the gap is 0); ``None`` for other methods."""
        if self.delta is None or self.logit_gap is None:
            return None
        return self.delta / abs(self.logit_gap) if self.logit_gap else float("inf")

    @property
    def grid_text(self) -> str | None:
        return None if self.grid is None else f"{self.grid[0]}x{self.grid[1]}"

    def caption(self) -> str:
        """One line of what the map was made with, e.g. ``"layer mixed_6a (8x8 grid)"``."""
        parts = []
        if self.layer is not None:
            parts.append(f"layer {self.layer} ({self.grid_text} grid)")
        if self.steps is not None:
            parts.append(f"{self.steps} steps")
        if self.baseline is not None:
            parts.append(f"{self.baseline} baseline")
        if self.samples is not None:
            parts.append(f"{self.samples} samples, noise {self.noise:g}")
        if self.patch is not None:
            parts.append(f"{self.patch} px patches")
        if self.shared_pass_with:
            parts.append(f"same pass as {self.shared_pass_with}")
        return ", ".join(parts)

    def to_record(self) -> dict[str, Any]:
        """The JSON-safe facts of this map (no pixels): what the API returns per method."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "attribution" or v is None:
                continue
            if isinstance(v, float):
                v = round(v, 5)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        if self.relative_delta is not None:
            out["relative_delta"] = round(self.relative_delta, 5)
        return out


@dataclass(frozen=True)
class ExplainSettings:
    """What the methods read besides the image and the class; each method uses the fields it needs.

    Attributes:
        steps: IG integration steps (``MIN_STEPS``..``MAX_STEPS``) or ``"auto"``: doubled from 16
            until the convergence delta is under ``auto_tolerance`` of the score gap (at most 256).
        baseline: IG baseline name (see :data:`maskxai.explain.baselines.BASELINES`).
        layer: CAM target layer (dotted path); ``None`` for the model's default.
        samples: SmoothGrad's noisy copies.
        noise: SmoothGrad's noise standard deviation in [0, 1] pixel units (0.15 = 15 % of the range).
        smooth_ig_steps: IG steps per noisy copy in SmoothGrad over IG.
        patch: Occlusion's patch side in pixels (slid by half a patch).
        internal_batch_size: Images per forward/backward in the multi-pass methods.
        seed: Seed of every random draw (noise baselines, SmoothGrad noise).
        auto_tolerance: IG "auto" stops when ``delta <= auto_tolerance * |gap|``.
        bf16: Run IG under bfloat16 autocast.
    """

    steps: Steps = "auto"
    baseline: str = "black"
    layer: str | None = None
    samples: int = 16
    noise: float = 0.15
    smooth_ig_steps: int = 16
    patch: int = 16
    internal_batch_size: int = 16
    seed: int = 0
    auto_tolerance: float = 0.05
    bf16: bool = False

    def __post_init__(self) -> None:
        check_steps(self.steps)
        if not isinstance(self.samples, int) or not 1 <= self.samples <= 128:
            raise ValueError(f"SmoothGrad samples must be a whole number from 1 to 128, got {self.samples!r}")
        if not 0.0 <= float(self.noise) <= 1.0:
            raise ValueError(f"SmoothGrad noise must be from 0 to 1 (a share of the pixel range), got {self.noise!r}")
        if not isinstance(self.patch, int) or not 2 <= self.patch <= 64:
            raise ValueError(f"occlusion patch must be a whole number of pixels from 2 to 64, got {self.patch!r}")
        if self.smooth_ig_steps == "auto" or check_steps(self.smooth_ig_steps) == "auto":
            raise ValueError("SmoothGrad over IG needs a fixed number of IG steps")


def check_steps(steps: object) -> Steps:
    """Raise ``ValueError`` unless ``steps`` is ``"auto"`` or a whole number in ``MIN_STEPS..MAX_STEPS``."""
    if steps == "auto":
        return "auto"
    if isinstance(steps, bool) or not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
        raise ValueError(f"IG steps must be a whole number from {MIN_STEPS} to {MAX_STEPS} or 'auto', got {steps!r}")
    return steps


class PixelModel(nn.Module):
    """``model`` fed with [0, 1] RGB pixels: attributions and baselines live in pixel space."""

    def __init__(self, model: nn.Module, spec: ModelSpec):
        super().__init__()
        self.model = model
        self.spec = spec

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(normalize(pixels, self.spec))


Progress = Callable[[float], None]


@dataclass
class Context:
    """One face being explained: shared by every method run on it.

    Attributes:
        pm: The model in pixel space.
        pixels: ``(1, 3, H, W)`` image in [0, 1]; methods must not modify it.
        target: The class to explain (already resolved: never ``None``).
        settings: The methods' settings.
        progress: Called with the fraction done by long methods (may be ``None``).
        cache: Results one method leaves for another on the same face and class (e.g. the
            Grad-CAM pass's input gradients); see :func:`maskxai.explain.cam.layer_pass`.
    """

    pm: PixelModel
    pixels: torch.Tensor
    target: int
    settings: ExplainSettings = field(default_factory=ExplainSettings)
    progress: Progress | None = None
    cache: dict[Any, Any] = field(default_factory=dict)

    def tick(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(min(1.0, max(0.0, fraction)))


def check_pixels(x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a ``(1, 3, H, W)`` float tensor."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"expected pixels of shape (1, 3, H, W), got {shape}; use maskxai.preprocess.pixels(face, spec)"
        )
    if not x.is_floating_point():
        raise ValueError("pixels must be a float tensor in [0, 1]")


def check_target(target: int, n_classes: int) -> int:
    """Raise ``ValueError`` unless ``target`` is a valid class index."""
    if not 0 <= int(target) < n_classes:
        raise ValueError(f"target class {target} is out of range; use 0..{n_classes - 1}")
    return int(target)


def predicted_class(pm: PixelModel, pixels: torch.Tensor) -> int:
    """The class ``pm`` predicts for ``pixels`` (one forward pass, no autograd)."""
    with torch.inference_mode():
        return int(pm(pixels).argmax(1)[0])


def resolve_target(pm: PixelModel, pixels: torch.Tensor, target: int | None) -> int:
    """``target`` checked against the model's classes, or the predicted class if ``None``."""
    check_pixels(pixels)
    if target is None:
        return predicted_class(pm, pixels)
    return check_target(target, len(pm.spec.labels))


def channel_sum(attr: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` attribution to an ``H x W`` map, keeping the sign (channels summed)."""
    return attr.detach().float().sum(dim=1)[0].cpu().numpy().astype(np.float32)


@dataclass(frozen=True)
class Method:
    """One explanation method: a row of the method table (:mod:`maskxai.explain.methods`).

    Attributes:
        name: Registry key, e.g. ``"gradcam"`` (API records and settings use it).
        title: Name shown to people, e.g. ``"Grad-CAM"``.
        fn: Computes the map for ``ctx.target``; must not modify ``ctx.pixels``.
        paper: The paper it implements, for the page and docs.
        summary: One sentence on how to read its map.
        slow: Many passes: run after the fast maps, with progress.
        default: Shown on the page unless the user picks otherwise.
    """

    name: str
    title: str
    fn: Callable[[Context], Explanation]
    paper: str = ""
    summary: str = ""
    slow: bool = False
    default: bool = False
