"""Grad-CAM++ (Chattopadhay et al., 2018, "Grad-CAM++: Improved Visual Explanations
for Deep Convolutional Networks"): pixel-wise weights for the positive gradients,
eq. 19 of the paper as pytorch-grad-cam's ``GradCAMPlusPlus.get_cam_weights`` writes it.
"""

from __future__ import annotations

import torch

from .base import Context, Explanation, Method
from .cam import cam_explanation


def combine(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    g2 = grads**2
    g3 = g2 * grads
    sum_acts = acts.sum(dim=(2, 3), keepdim=True)
    aij = g2 / (2 * g2 + sum_acts * g3 + 1e-6)
    aij = torch.where(grads != 0, aij, torch.zeros_like(aij))
    weights = (grads.clamp(min=0) * aij).sum(dim=(2, 3), keepdim=True)
    return (weights * acts).sum(dim=1, keepdim=True)


def explain(ctx: Context) -> Explanation:
    return cam_explanation(ctx, METHOD.title, METHOD.name, combine)


METHOD = Method(
    "gradcampp",
    "Grad-CAM++",
    explain,
    paper="Chattopadhay et al., 2018",
    summary="Grad-CAM with per-position weights of the positive gradients: often covers several regions "
    "of evidence, not just the strongest. Same layer, relative scale.",
)
