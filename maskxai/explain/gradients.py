"""Raw input gradients, "saliency" (Simonyan et al., 2013, "Deep Inside
Convolutional Networks: Visualising Image Classification Models and Saliency
Maps"), with captum's ``Saliency``.

We pass ``abs=False`` and sum the colour channels, so the map keeps its sign:
positive where brightening a pixel would raise the class score. On the page the
input gradients come from the Grad-CAM pass when it ran first (same numbers).
"""

from __future__ import annotations

import time

import torch
from captum.attr import Saliency

from .base import Context, Explanation, Method, PixelModel, channel_sum, check_pixels, check_target
from .cam import layer_pass


def input_gradients(pm: PixelModel, pixels: torch.Tensor, target: int | None = None) -> Explanation:
    """d(class logit) / d(pixel), channels summed, signed.

    Args:
        pm: The model in pixel space.
        pixels: ``(1, 3, H, W)`` image in [0, 1]; not modified.
        target: Class to explain; default the predicted one.
    """
    check_pixels(pixels)
    t0 = time.perf_counter()
    with torch.inference_mode():
        logits = pm(pixels)
    k = int(logits.argmax(1)) if target is None else check_target(target, logits.shape[1])
    attr = Saliency(pm).attribute(pixels.detach().clone().requires_grad_(True), target=k, abs=False)
    return Explanation("Gradients", channel_sum(attr), True, k, time.perf_counter() - t0, key="gradients")


def explain(ctx: Context) -> Explanation:
    # The hooked CAM pass yields the same input gradients at the same cost: take it (or leave it for the CAMs).
    t0 = time.perf_counter()
    lp, reused = layer_pass(ctx)
    return Explanation(
        METHOD.title,
        channel_sum(lp.input_gradients),
        True,
        ctx.target,
        time.perf_counter() - t0,
        key=METHOD.name,
        shared_pass_with="the CAMs" if reused else None,
    )


METHOD = Method(
    "gradients",
    "Gradients",
    explain,
    paper="Simonyan et al., 2013",
    summary="how the class score changes if one pixel gets brighter: red pushes towards the class, "
    "blue against it. Noisy by nature.",
    default=True,
)
