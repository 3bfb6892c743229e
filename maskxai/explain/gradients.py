"""Raw input gradients, "saliency" (Simonyan et al., 2013, "Deep Inside
Convolutional Networks: Visualising Image Classification Models and Saliency
Maps"), with captum's ``Saliency``.

We pass ``abs=False`` and sum the colour channels, so the map keeps its sign:
positive where brightening a pixel would raise the class score.
"""

from __future__ import annotations

import time

import torch
from captum.attr import Saliency

from .base import Explanation, PixelModel, channel_sum, check_pixels, check_target


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
    return Explanation("Gradients", channel_sum(attr), True, k, time.perf_counter() - t0, {})
