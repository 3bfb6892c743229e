"""Integrated Gradients (Sundararajan et al., 2017, "Axiomatic Attribution for
Deep Networks") from a pixel-space baseline.

Fixed steps run captum's ``IntegratedGradients`` (Gauss-Legendre by default),
in chunks of ``internal_batch_size`` so memory stays flat however many steps
are asked for. ``"auto"`` steps use the trapezoid rule on nested grids: 16
intervals, then 32, 64, ... up to 256, each level reusing every gradient already
computed, until the convergence delta (``|sum of attributions - (f(x) -
f(baseline))|``) is under 5 % of the score gap.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from captum.attr import IntegratedGradients

from .base import (
    MAX_STEPS,
    MIN_STEPS,
    Context,
    Explanation,
    Method,
    PixelModel,
    Steps,
    channel_sum,
    check_pixels,
    check_steps,
    check_target,
)
from .baselines import make_baseline

__all__ = ["AUTO_START", "MAX_STEPS", "MIN_STEPS", "integrated_gradients"]

AUTO_START = 16
"""First level of "auto" steps (intervals); each next level doubles it, up to ``MAX_STEPS``."""


def integrated_gradients(
    pm: PixelModel,
    pixels: torch.Tensor,
    target: int | None = None,
    *,
    steps: Steps = 50,
    baseline: str = "black",
    internal_batch_size: int = 16,
    seed: int = 0,
    method: str = "gausslegendre",
    progress: Callable[[float], None] | None = None,
    bf16: bool = False,
    tolerance: float = 0.05,
) -> Explanation:
    """IG attributions of the class logit, channels summed, signed.

    Args:
        pm: The model in pixel space.
        pixels: ``(1, 3, H, W)`` image in [0, 1]; not modified.
        target: Class to explain; default the predicted one.
        steps: Integration steps, ``MIN_STEPS``..``MAX_STEPS``, or ``"auto"`` (see the module).
        baseline: A name from :data:`maskxai.explain.baselines.BASELINES`.
        internal_batch_size: Steps evaluated per forward/backward.
        seed: Seed of the noise baseline.
        method: captum's integration rule (fixed steps only).
        progress: Called with the fraction done after each chunk.
        bf16: Run the steps under bfloat16 autocast (faster on CPUs with AVX512-BF16 or
            with AMX; check the error with ``python -m maskxai.bench``).
        tolerance: "auto" stops once ``delta <= tolerance * |gap|``.

    Raises:
        ValueError: Steps out of range, unknown baseline, bad shape or target.
    """
    check_pixels(pixels)
    steps = check_steps(steps)
    base = make_baseline(baseline, pixels, pm.spec, seed)
    t0 = time.perf_counter()
    with torch.inference_mode():
        logits = pm(torch.cat([pixels, base]))
    k = int(logits[0].argmax()) if target is None else check_target(target, logits.shape[1])
    gap = float(logits[0, k] - logits[1, k])
    forward: torch.nn.Module = pm
    if bf16:
        forward = _BF16(forward)
    converged = None
    if steps == "auto":
        attr, steps, converged = _auto(forward, pixels.detach(), base, k, gap, internal_batch_size, tolerance, progress)
        delta = abs(float(attr.sum()) - gap)
    else:
        if progress is not None:
            forward = _Counting(forward, steps, progress)
        attr, d = IntegratedGradients(forward).attribute(
            pixels.detach().clone(),
            baselines=base,
            target=k,
            n_steps=steps,
            method=method,
            internal_batch_size=internal_batch_size,
            return_convergence_delta=True,
        )
        delta = float(d.abs().sum())
    return Explanation(
        METHOD.title,
        channel_sum(attr),
        True,
        k,
        time.perf_counter() - t0,
        key=METHOD.name,
        steps=steps,
        baseline=baseline,
        delta=delta,
        logit_gap=gap,
        converged=converged,
        precision="bf16" if bf16 else "fp32",
    )


def path_gradient_sum(
    forward: torch.nn.Module,
    x: torch.Tensor,
    base: torch.Tensor,
    alphas: torch.Tensor,
    target: int,
    batch: int,
    done: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Sum over ``alphas`` of d f_target / d input at ``base + alpha (x - base)``, shape of ``x``."""
    total = torch.zeros_like(x)
    diff = x - base
    for chunk in alphas.split(max(1, batch)):
        pts = (base + chunk.view(-1, 1, 1, 1).to(x.device, x.dtype) * diff).requires_grad_(True)
        with torch.enable_grad():
            out = forward(pts)[:, target].sum()
            (g,) = torch.autograd.grad(out, pts)
        total += g.sum(0, keepdim=True)
        if done is not None:
            done(len(chunk))
    return total


def _auto(
    forward: torch.nn.Module,
    x: torch.Tensor,
    base: torch.Tensor,
    k: int,
    gap: float,
    batch: int,
    tolerance: float,
    progress: Callable[[float], None] | None,
) -> tuple[torch.Tensor, int, bool]:
    """Trapezoid rule on nested grids (16, 32, ... intervals): each level adds only the new midpoints."""
    evaluated = 0
    budget = MAX_STEPS + 1  # gradient evaluations at the last level

    def done(n: int) -> None:
        nonlocal evaluated
        evaluated += n
        if progress is not None:
            progress(min(1.0, evaluated / budget))

    n = AUTO_START
    ends = path_gradient_sum(forward, x, base, torch.tensor([0.0, 1.0]), k, batch, done)
    inner = path_gradient_sum(forward, x, base, torch.arange(1, n) / n, k, batch, done)
    while True:
        attr = (x - base) * (ends / 2 + inner) / n
        ok = abs(float(attr.sum()) - gap) <= tolerance * abs(gap)
        if ok or 2 * n > MAX_STEPS:
            if progress is not None:
                progress(1.0)
            return attr, n, ok
        inner = inner + path_gradient_sum(forward, x, base, (2 * torch.arange(n) + 1) / (2 * n), k, batch, done)
        n *= 2


def explain(ctx: Context) -> Explanation:
    s = ctx.settings
    return integrated_gradients(
        ctx.pm,
        ctx.pixels,
        ctx.target,
        steps=s.steps,
        baseline=s.baseline,
        internal_batch_size=s.internal_batch_size,
        seed=s.seed,
        progress=ctx.progress,
        bf16=s.bf16,
        tolerance=s.auto_tolerance,
    )


METHOD = Method(
    "ig",
    "Integrated Gradients",
    explain,
    paper="Sundararajan et al., 2017",
    summary="gradients added up along a path from a baseline image (black, white, blurred, noise or mean) "
    "to the photo: red for, blue against; the values add up to the score difference between photo and "
    "baseline (the convergence delta says how far off the sum is).",
    slow=True,
    default=True,
)


class _Counting(torch.nn.Module):
    """Reports progress as captum feeds step chunks through the model."""

    def __init__(self, pm: torch.nn.Module, steps: int, progress: Callable[[float], None]):
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
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return self.inner(x).float()
