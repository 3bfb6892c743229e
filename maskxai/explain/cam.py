"""What every class activation map (CAM) shares: one hooked pass, ReLU, upsampling and scaling.

Like pytorch-grad-cam's ``BaseCAM``, the variants only differ in how they
combine a layer's activations ``A`` and the gradients ``G`` of the class logit
with respect to them (see ``gradcam.py``, ``gradcampp.py``, ``layercam.py``).
The hooked forward/backward pass is cached in the :class:`Context`, so every
CAM variant at the same layer and the input gradients cost one pass together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients

from .base import Context, Explanation, PixelModel, check_pixels, check_target


@dataclass
class LayerPass:
    """Activations and gradients at one layer, and the input gradients, for one class."""

    layer: str
    activations: torch.Tensor
    gradients: torch.Tensor
    input_gradients: torch.Tensor
    probabilities: torch.Tensor
    target: int
    seconds: float


def hooked_pass(pm: PixelModel, pixels: torch.Tensor, target: int | None, layer: str | None) -> LayerPass:
    """One forward and one backward pass, recording ``layer``'s activations and gradients.

    Hooks are released even when the call fails.

    Raises:
        ValueError: Bad input shape, target or layer.
    """
    check_pixels(pixels)
    layer_name = layer or pm.spec.cam_layers[0]
    module = pm.spec.cam_layer(pm.model, layer_name)
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
    assert x.grad is not None  # set by backward() above
    return LayerPass(layer_name, acts, grads, x.grad.detach(), probs, k, time.perf_counter() - t0)


def layer_pass(ctx: Context, layer: str | None = None) -> tuple[LayerPass, bool]:
    """The cached :func:`hooked_pass` for ``ctx``'s class at ``layer`` (default: the settings', then the spec's).

    Returns:
        ``(pass, reused)``: ``reused`` is True when an earlier method already paid for it.
    """
    name = layer or ctx.settings.layer or ctx.pm.spec.cam_layers[0]
    key = ("layer_pass", name, ctx.target)
    if key in ctx.cache:
        return ctx.cache[key], True
    lp = hooked_pass(ctx.pm, ctx.pixels, ctx.target, name)
    ctx.cache[key] = lp
    return lp, False


Combine = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(activations, gradients), both ``(1, C, h, w)`` -> the ``(1, 1, h, w)`` map before ReLU."""


def cam_from_pass(lp: LayerPass, combine: Combine, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """ReLU(combine(A, G)), upsampled bilinearly to ``size`` and divided by its maximum.

    Returns:
        ``(map, blank)``: the map is relative (1 = strongest evidence in this image) and all zero,
        with ``blank`` True, when no region speaks for the class.
    """
    cam = F.relu(combine(lp.activations.float(), lp.gradients.float()))
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    if not peak > 0:
        return np.zeros(size, dtype=np.float32), True
    return (cam / peak).numpy().astype(np.float32), False


def cam_explanation(ctx: Context, title: str, key: str, combine: Combine) -> Explanation:
    """A CAM variant as an :class:`Explanation` (the shared part of every CAM method)."""
    t0 = time.perf_counter()
    lp, _ = layer_pass(ctx)
    cam, blank = cam_from_pass(lp, combine, tuple(ctx.pixels.shape[-2:]))  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0  # includes the pass unless another method paid for it
    grid = (int(lp.activations.shape[-2]), int(lp.activations.shape[-1]))
    return Explanation(title, cam, False, lp.target, seconds, key=key, layer=lp.layer, grid=grid, blank=blank)
