"""What every class activation map (CAM) shares: one hooked pass, ReLU, upsampling and scaling.

Like pytorch-grad-cam's ``BaseCAM``, the variants only differ in how they
combine a layer's activations ``A`` and the gradients ``G`` of the class logit
with respect to them (see ``gradcam.py``, ``gradcampp.py``, ``layercam.py``).
One hooked forward/backward pass records every offered layer and is cached in
the :class:`Context`, so all CAM variants at any offered layer and the input
gradients cost one pass together. Grad-CAM and Grad-CAM++ default to the
model's first offered layer; LayerCAM to the offered layer with the finest grid,
where its per-position weights keep detail (Jiang et al., 2021) and where it
measured most faithful on validation faces (``docs/xai_measured.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import Context, Explanation, PixelModel, check_pixels, check_target


@dataclass
class LayerPass:
    """Activations and gradients at the hooked layers, and the input gradients, for one class."""

    activations: dict[str, torch.Tensor]
    gradients: dict[str, torch.Tensor]
    input_gradients: torch.Tensor
    probabilities: torch.Tensor
    target: int
    seconds: float

    def grid(self, layer: str) -> tuple[int, int]:
        return int(self.activations[layer].shape[-2]), int(self.activations[layer].shape[-1])


def hooked_pass(
    pm: PixelModel, pixels: torch.Tensor, target: int | None, layers: str | Sequence[str] | None = None
) -> LayerPass:
    """One forward and one backward pass, recording each of ``layers``' activations and gradients
    (default: the model's first offered layer).

    Hooks are released even when the call fails.

    Raises:
        ValueError: Bad input shape, target or layer.
    """
    check_pixels(pixels)
    names = [layers] if isinstance(layers, str) else list(layers or pm.spec.cam_layers[:1])
    modules = {name: pm.spec.cam_layer(pm.model, name) for name in names}
    acts: dict[str, torch.Tensor] = {}
    grads: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Callable[[nn.Module, Any, torch.Tensor], None]:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            acts[name] = output.detach()
            if output.requires_grad:
                output.register_hook(lambda g: grads.__setitem__(name, g.detach()))

        return hook

    t0 = time.perf_counter()
    x = pixels.detach().clone().requires_grad_(True)
    handles = [m.register_forward_hook(keep(name)) for name, m in modules.items()]
    try:
        with torch.enable_grad():
            logits = pm(x)
            probs = logits.detach().softmax(1)[0]
            k = int(probs.argmax()) if target is None else check_target(target, logits.shape[1])
            logits[0, k].backward()
    finally:
        for h in handles:
            h.remove()
    assert x.grad is not None  # set by backward() above
    return LayerPass(acts, grads, x.grad.detach(), probs, k, time.perf_counter() - t0)


def layer_pass(ctx: Context) -> tuple[LayerPass, bool]:
    """The cached :func:`hooked_pass` for ``ctx``'s class over every offered layer (and the chosen one).

    One pass serves every CAM at any offered layer, and the input gradients.

    Returns:
        ``(pass, reused)``: ``reused`` is True when an earlier method already paid for it.
    """
    wanted = list(dict.fromkeys([*ctx.pm.spec.cam_layers, *([ctx.settings.layer] if ctx.settings.layer else [])]))
    key = ("layer_pass", ctx.target)
    lp = ctx.cache.get(key)
    if lp is not None and all(n in lp.activations for n in wanted):
        return lp, True
    lp = hooked_pass(ctx.pm, ctx.pixels, ctx.target, wanted)
    ctx.cache[key] = lp
    return lp, False


def choose_layer(ctx: Context, lp: LayerPass, pick: str = "first") -> str:
    """The layer a CAM uses: the one the settings name, else the model's first offered layer (``"first"``),
    or the offered layer with the finest grid (``"finest"``; the first of equals)."""
    if ctx.settings.layer:
        return ctx.settings.layer
    offered = list(ctx.pm.spec.cam_layers)
    if pick == "finest":
        return max(offered, key=lambda n: (lp.grid(n)[0] * lp.grid(n)[1], -offered.index(n)))
    return offered[0]


Combine = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(activations, gradients), both ``(1, C, h, w)`` -> the ``(1, 1, h, w)`` map before ReLU."""


def relative_cams(
    activations: torch.Tensor, gradients: torch.Tensor, combine: Combine, size: tuple[int, int]
) -> list[tuple[np.ndarray, bool]]:
    """ReLU(combine(A, G)) for each image of a batch, upsampled bilinearly to ``size`` and divided by its maximum.

    Returns:
        One ``(map, blank)`` per image: the map is relative (1 = strongest evidence in this image) and all
        zero, with ``blank`` True, when no region speaks for the class.
    """
    cams = F.relu(combine(activations.float(), gradients.float()))
    cams = F.interpolate(cams, size=size, mode="bilinear", align_corners=False)[:, 0]
    out = []
    for cam in cams:
        peak = float(cam.max())
        if not peak > 0:
            out.append((np.zeros(size, dtype=np.float32), True))
        else:
            out.append(((cam / peak).cpu().numpy().astype(np.float32), False))
    return out


def cam_from_pass(lp: LayerPass, layer: str, combine: Combine, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """:func:`relative_cams` of ``layer`` in one image's pass."""
    return relative_cams(lp.activations[layer], lp.gradients[layer], combine, size)[0]


def cam_explanation(ctx: Context, title: str, key: str, combine: Combine, pick: str = "first") -> Explanation:
    """A CAM variant as an :class:`Explanation` (the shared part of every CAM method); ``pick`` is its
    default layer rule (see :func:`choose_layer`)."""
    t0 = time.perf_counter()
    lp, _ = layer_pass(ctx)
    layer = choose_layer(ctx, lp, pick)
    cam, blank = cam_from_pass(lp, layer, combine, tuple(ctx.pixels.shape[-2:]))  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0  # includes the pass unless another method paid for it
    return Explanation(title, cam, False, lp.target, seconds, key=key, layer=layer, grid=lp.grid(layer), blank=blank)
