"""Grad-CAM (Selvaraju et al., 2017, "Grad-CAM: Visual Explanations from Deep
Networks via Gradient-based Localization"), on pytorch-grad-cam's hooks.

The map is ReLU(sum_k w_k A_k) with w_k the spatially averaged gradient of the
class logit; :func:`grad_cam_and_gradients` also returns the input gradients of
the same backward pass, so the app pays one forward and one backward for both.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .base import Context, Explanation, Method, PixelModel, channel_sum, check_pixels
from .cam import LayerPass, cam_explanation, cam_from_pass, hooked_pass, relative_cams


def combine(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    weights = grads.mean(dim=(2, 3), keepdim=True)
    return (weights * acts).sum(dim=1, keepdim=True)


def explain(ctx: Context) -> Explanation:
    return cam_explanation(ctx, METHOD.title, METHOD.name, combine)


METHOD = Method(
    "gradcam",
    "Grad-CAM",
    explain,
    paper="Selvaraju et al., 2017",
    summary="where, in a late convolutional layer, the evidence for the class lies; coarse and relative "
    "(1 = the strongest region in this image), blank when no region speaks for the class.",
    default=True,
)


def _explanations(lp: LayerPass, layer: str, size: tuple[int, int]) -> tuple[Explanation, Explanation]:
    cam, blank = cam_from_pass(lp, layer, combine, size)
    e_cam = Explanation(
        "Grad-CAM", cam, False, lp.target, lp.seconds, key="gradcam", layer=layer, grid=lp.grid(layer), blank=blank
    )
    e_grad = Explanation(
        "Gradients",
        channel_sum(lp.input_gradients),
        True,
        lp.target,
        lp.seconds,
        key="gradients",
        shared_pass_with="Grad-CAM",
    )
    return e_cam, e_grad


def grad_cam_and_gradients(
    pm: PixelModel, pixels: torch.Tensor, target: int | None = None, layer: str | None = None
) -> tuple[Explanation, Explanation, torch.Tensor]:
    """Grad-CAM and raw input gradients from one forward/backward pass.

    The Grad-CAM map is upsampled bilinearly and divided by its maximum: it is
    relative (1 = strongest evidence in this image) and all zero when no region
    speaks for the class.

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
    name = layer or pm.spec.cam_layers[0]
    lp = hooked_pass(pm, pixels, target, name)
    cam, grads = _explanations(lp, name, tuple(pixels.shape[-2:]))  # type: ignore[arg-type]
    return cam, grads, lp.probabilities


def grad_cam(pm: PixelModel, pixels: torch.Tensor, target: int | None = None, layer: str | None = None) -> Explanation:
    """Grad-CAM alone (see :func:`grad_cam_and_gradients`)."""
    return grad_cam_and_gradients(pm, pixels, target, layer)[0]


_HEAD_WEIGHTS: weakref.WeakKeyDictionary[nn.Module, dict[str, torch.Tensor | None]] = weakref.WeakKeyDictionary()


def _layer_pass(pm: PixelModel, pixels: torch.Tensor, module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, the layer's output)`` with autograd on, the output made a leaf so that a backward pass stops there."""
    kept: dict[str, torch.Tensor] = {}

    def cut(mod: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        leaf = output.detach().requires_grad_(True)
        kept["a"] = leaf
        return leaf.clone()  # a non-leaf: the layers after it may work in place

    handle = module.register_forward_hook(cut)
    try:
        with torch.enable_grad():
            logits = pm(pixels.detach())
    finally:
        handle.remove()
    return logits, kept["a"]


def _hooked_forward(pm: PixelModel, module: nn.Module) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``pixels -> (logits, module's output)``, autograd off."""

    def run(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kept: dict[str, torch.Tensor] = {}
        handle = module.register_forward_hook(lambda mod, inputs, output: kept.update(a=output))
        try:
            with torch.inference_mode():
                logits = pm(pixels)
        finally:
            handle.remove()
        return logits, kept["a"]

    return run


def linear_head_weights(pm: PixelModel, layer: str | None = None) -> torch.Tensor | None:
    """Each class's Grad-CAM channel weights times the number of positions, ``(classes, channels)``, when they are
    the same for every image; else ``None``.

    They are when all the model does after ``layer`` is average over positions and then an affine map (linear
    layers, eval-mode BatchNorm, dropout off): ``block8`` of InceptionResnetV1, ``layer4`` of ResNet50. The
    gradient of class k's logit at every position is then that map's row k divided by the positions, so a batch's
    Grad-CAMs need a forward pass and no backward pass. Found by measurement, not assumed: the summed gradients of
    two random images must agree. Cached per model and layer.
    """
    name = layer or pm.spec.cam_layers[0]
    cache = _HEAD_WEIGHTS.setdefault(pm.model, {})
    if name not in cache:
        side = pm.spec.input_size
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(2, 3, side, side, generator=gen).to(next(pm.model.parameters()).device)
        logits, acts = _layer_pass(pm, x, pm.spec.cam_layer(pm.model, name))
        rows = []
        for k in range(logits.shape[1]):
            (g,) = torch.autograd.grad(logits[:, k].sum(), acts, retain_graph=True)
            rows.append(g.float().sum(dim=(2, 3)))  # (2, channels)
        w = torch.stack(rows, dim=1)  # (2, classes, channels)
        same = torch.allclose(w[0], w[1], rtol=1e-3, atol=1e-5 * float(w.abs().max()))
        cache[name] = w[0].detach() if same else None
    return cache[name]


def grad_cam_batch(
    pm: PixelModel,
    pixels: torch.Tensor,
    layer: str | None = None,
    forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, list[Explanation]]:
    """Each image's probabilities and the Grad-CAM of its predicted class, for a batch, at the cost of about one
    forward pass (for live video).

    Where the layers after the CAM layer are pooling and an affine map (:func:`linear_head_weights`: the default
    layers of both models) the gradients are known without a backward pass, and the batch runs with autograd off.
    Otherwise the layer's output is cut from the graph and made a leaf, so the backward pass runs through the
    layers after it only, not down to the input. Either way the maps are :func:`grad_cam`'s.

    Args:
        pm: The model in pixel space (parameters frozen).
        pixels: ``(N, 3, H, W)`` images in [0, 1].
        layer: Dotted path of the target layer; default the spec's first.
        forward: Where no backward pass is needed, this gives ``(logits, the layer's output)`` for the batch
            instead of ``pm`` (the same network on another runtime: :mod:`maskxai.onnxcam`).

    Returns:
        ``(probabilities (N, classes), one Explanation per image)``.

    Raises:
        ValueError: Bad input shape or layer.
    """
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[0] < 1:
        shape = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ValueError(f"expected a batch (N, 3, H, W) of pixels in [0, 1], got {shape}")
    check_pixels(pixels[:1])
    name = layer or pm.spec.cam_layers[0]
    module = pm.spec.cam_layer(pm.model, name)
    head = linear_head_weights(pm, name)
    t0 = time.perf_counter()
    if head is not None:
        logits, acts = (forward or _hooked_forward(pm, module))(pixels)
        k = logits.argmax(1)
        per_position = head.to(acts.device)[k] / (acts.shape[-2] * acts.shape[-1])  # (N, channels)
        grads = per_position[:, :, None, None].expand(acts.shape)
    else:
        logits, leaf = _layer_pass(pm, pixels, module)
        k = logits.detach().argmax(1)
        logits.gather(1, k[:, None]).sum().backward()  # each image's class: its own map
        acts, grads_or_none = leaf.detach(), leaf.grad
        assert grads_or_none is not None  # set by backward() above
        grads = grads_or_none
    maps = relative_cams(acts, grads, combine, tuple(pixels.shape[-2:]))  # type: ignore[arg-type]
    seconds = (time.perf_counter() - t0) / len(pixels)
    grid = (int(acts.shape[-2]), int(acts.shape[-1]))
    out = [
        Explanation("Grad-CAM", cam, False, int(k[i]), seconds, key="gradcam", layer=name, grid=grid, blank=blank)
        for i, (cam, blank) in enumerate(maps)
    ]
    return logits.detach().softmax(1), out
