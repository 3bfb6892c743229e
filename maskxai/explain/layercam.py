"""LayerCAM (Jiang et al., 2021, "LayerCAM: Exploring Hierarchical Class Activation
Maps for Localization"): each activation weighted by its own positive gradient,
ReLU(sum_k ReLU(G_k) * A_k), as pytorch-grad-cam's ``LayerCAM`` computes it.
It stays informative at earlier, finer layers, where Grad-CAM's averaged weights wash out: by default it
uses the model's offered layer with the finest grid (the settings' layer, when one is chosen).
"""

from __future__ import annotations

import torch

from .base import Context, Explanation, Method
from .cam import cam_explanation


def combine(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    return (grads.clamp(min=0) * acts).sum(dim=1, keepdim=True)


def explain(ctx: Context) -> Explanation:
    return cam_explanation(ctx, METHOD.title, METHOD.name, combine, pick="finest")


METHOD = Method(
    "layercam",
    "LayerCAM",
    explain,
    paper="Jiang et al., 2021",
    summary="each position weighted by its own positive gradient, at the finest offered layer (17x17 for "
    "InceptionResnetV1, 20x20 for ResNet50): finer than Grad-CAM, relative scale. It measured the most faithful "
    "of the CAMs on validation faces, so it comes first.",
    default=True,
)
