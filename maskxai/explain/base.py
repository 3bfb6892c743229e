"""What every explainer returns, and the pixel-space view of a model they all use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..registry import ModelSpec, normalize


@dataclass
class Explanation:
    """One attribution map at the input's resolution.

    Attributes:
        method: Name shown to people, e.g. ``"Grad-CAM"``.
        attribution: ``H x W`` float32 map.
        signed: True if negative values mean "against the class" (gradients, IG);
            False for maps that are non-negative by construction (Grad-CAM).
        target: Index of the explained class.
        seconds: Wall time of the computation.
        info: What is needed to read the map (IG's convergence delta, the layer, ...).
    """

    method: str
    attribution: np.ndarray
    signed: bool
    target: int
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


class PixelModel(nn.Module):
    """``model`` fed with [0, 1] RGB pixels: attributions and baselines live in pixel space."""

    def __init__(self, model: nn.Module, spec: ModelSpec):
        super().__init__()
        self.model = model
        self.spec = spec

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(normalize(pixels, self.spec))


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


def channel_sum(attr: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` attribution to an ``H x W`` map, keeping the sign (channels summed)."""
    return attr.detach().float().sum(dim=1)[0].cpu().numpy().astype(np.float32)
