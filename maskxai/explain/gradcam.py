"""Grad-CAM (Selvaraju et al., 2017, "Grad-CAM: Visual Explanations from Deep
Networks via Gradient-based Localization"), via pytorch-grad-cam's hooks.

:func:`grad_cam_and_gradients` also returns the input gradients of the same
backward pass, so the app pays one forward and one backward for both maps.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients

from .base import Explanation, PixelModel, channel_sum, check_pixels, check_target


def grad_cam_and_gradients(
    pm: PixelModel, pixels: torch.Tensor, target: int | None = None, layer: str | None = None
) -> tuple[Explanation, Explanation, torch.Tensor]:
    """Grad-CAM and raw input gradients from one forward/backward pass.

    The Grad-CAM map is ReLU(sum_k w_k A_k) with w_k the spatially averaged
    gradient of the class logit, upsampled bilinearly and divided by its
    maximum: it is relative (1 = strongest evidence in this image) and all
    zero when no region speaks for the class.

    Args:
        pm: The model in pixel space.
        pixels: ``(1, 3, H, W)`` image in [0, 1]; not modified.
        target: Class to explain; default the predicted one.
        layer: Dotted path of the target layer; default the spec's first.

    Returns:
        ``(grad_cam, gradients, probabilities)``.

    Raises:
        ValueError: Bad input shape, target or layer.
    """
    check_pixels(pixels)
    spec = pm.spec
    layer_name = layer or spec.cam_layers[0]
    module = spec.cam_layer(pm.model, layer_name)
    t0 = time.perf_counter()
    x = pixels.detach().clone().requires_grad_(True)
    hooks = ActivationsAndGradients(pm, [module], reshape_transform=None, detach=True)
    try:
        with torch.enable_grad():
            logits = hooks(x)
            probs = logits.detach().softmax(1)[0]
            k = int(probs.argmax()) if target is None else check_target(target, logits.shape[1])
            logits[0, k].backward()
        acts = hooks.activations[0]
        grads = hooks.gradients[0]
    finally:
        hooks.release()
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * acts).sum(dim=1, keepdim=True))
    grid = tuple(cam.shape[-2:])
    cam = F.interpolate(cam, size=pixels.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    cam_map = (cam / peak).numpy() if peak > 0 else np.zeros(cam.shape, dtype=np.float32)
    t_cam = time.perf_counter() - t0
    assert x.grad is not None  # set by backward() above
    grad_map = channel_sum(x.grad)
    info_cam = {"layer": layer_name, "grid": f"{grid[0]}x{grid[1]}", "blank": peak <= 0}
    return (
        Explanation("Grad-CAM", cam_map.astype(np.float32), False, k, t_cam, info_cam),
        Explanation("Gradients", grad_map, True, k, t_cam, {"shared_pass_with": "Grad-CAM"}),
        probs,
    )


def grad_cam(pm: PixelModel, pixels: torch.Tensor, target: int | None = None, layer: str | None = None) -> Explanation:
    """Grad-CAM alone (see :func:`grad_cam_and_gradients`)."""
    return grad_cam_and_gradients(pm, pixels, target, layer)[0]
