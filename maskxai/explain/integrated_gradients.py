"""Integrated Gradients (Sundararajan et al., 2017, "Axiomatic Attribution for
Deep Networks"), with captum, from a pixel-space baseline.

Steps run in chunks of ``internal_batch_size`` so memory stays flat however
many steps are asked for. The convergence delta (sum of attributions minus
``f(x) - f(baseline)``) says how far the step count is from the exact integral.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from captum.attr import IntegratedGradients

from .base import Explanation, PixelModel, channel_sum, check_pixels, check_target
from .baselines import make_baseline

MIN_STEPS, MAX_STEPS = 8, 256


def integrated_gradients(
    pm: PixelModel,
    pixels: torch.Tensor,
    target: int | None = None,
    *,
    steps: int = 50,
    baseline: str = "black",
    internal_batch_size: int = 16,
    seed: int = 0,
    method: str = "gausslegendre",
    progress: Callable[[float], None] | None = None,
    bf16: bool = False,
) -> Explanation:
    """IG attributions of the class logit, channels summed, signed.

    Args:
        pm: The model in pixel space.
        pixels: ``(1, 3, H, W)`` image in [0, 1]; not modified.
        target: Class to explain; default the predicted one.
        steps: Integration steps, ``MIN_STEPS``..``MAX_STEPS``.
        baseline: A name from :data:`maskxai.explain.baselines.BASELINES`.
        internal_batch_size: Steps evaluated per forward/backward.
        seed: Seed of the noise baseline.
        method: captum's integration rule.
        progress: Called with the fraction done after each chunk.
        bf16: Run the steps under bfloat16 autocast (faster on CPUs with AVX512-BF16 or
            with AMX; check the error with ``python -m maskxai.bench``).

    Raises:
        ValueError: Steps out of range, unknown baseline, bad shape or target.
    """
    check_pixels(pixels)
    if not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
        raise ValueError(f"IG steps must be a whole number from {MIN_STEPS} to {MAX_STEPS}, got {steps!r}")
    base = make_baseline(baseline, pixels, pm.spec, seed)
    t0 = time.perf_counter()
    with torch.inference_mode():
        logits = pm(torch.cat([pixels, base]))
    k = int(logits[0].argmax()) if target is None else check_target(target, logits.shape[1])
    gap = float(logits[0, k] - logits[1, k])
    forward: torch.nn.Module = pm if progress is None else _Counting(pm, steps, progress)
    if bf16:
        forward = _BF16(forward)
    ig = IntegratedGradients(forward)
    attr, delta = ig.attribute(
        pixels.detach().clone(),
        baselines=base,
        target=k,
        n_steps=steps,
        method=method,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=True,
    )
    d = float(delta.abs().sum())
    info = {
        "steps": steps,
        "baseline": baseline,
        "delta": d,
        "logit_gap": gap,
        "relative_delta": d / abs(gap) if gap else float("inf"),
        "precision": "bf16" if bf16 else "fp32",
    }
    return Explanation("Integrated Gradients", channel_sum(attr), True, k, time.perf_counter() - t0, info)


class _Counting(torch.nn.Module):
    """Reports progress as captum feeds step chunks through the model."""

    def __init__(self, pm: PixelModel, steps: int, progress: Callable[[float], None]):
        super().__init__()
        self.pm, self.steps, self.progress, self.done = pm, steps, progress, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pm(x)
        self.done += x.shape[0]
        self.progress(min(1.0, self.done / self.steps))
        return out


class _BF16(torch.nn.Module):
    """Forward (and so backward) under bfloat16 autocast; logits back in fp32."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.inner(x).float()
