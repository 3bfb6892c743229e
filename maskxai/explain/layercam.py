"""LayerCAM (Jiang et al., 2021, "LayerCAM: Exploring Hierarchical Class Activation
Maps for Localization"): each activation weighted by its own positive gradient,
ReLU(sum_k ReLU(G_k) * A_k), as pytorch-grad-cam's ``LayerCAM`` computes it.
It stays informative at earlier, finer layers, where Grad-CAM's averaged weights wash out.
"""

from __future__ import annotations

import torch

from .base import Context, Explanation, Method
from .cam import cam_explanation


def combine(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    return (grads.clamp(min=0) * acts).sum(dim=1, keepdim=True)


def explain(ctx: Context) -> Explanation:
    return cam_explanation(ctx, METHOD.title, METHOD.name, combine)


METHOD = Method(
    "layercam",
    "LayerCAM",
    explain,
    paper="Jiang et al., 2021",
    summary="each position weighted by its own positive gradient: finer than Grad-CAM at the same layer. "
    "Same layer, relative scale.",
)
