"""What the two SmoothGrad methods share: captum's ``NoiseTunnel`` around an attribution method,
seeded, counting passes for the progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from captum.attr import NoiseTunnel

from .base import Context, channel_sum


class CountingModel(torch.nn.Module):
    """``pm`` that reports the share of ``total`` images it has seen to ``progress``."""

    def __init__(self, pm: torch.nn.Module, total: int, progress: Callable[[float], None] | None):
        super().__init__()
        self.pm, self.total, self.progress, self.seen = pm, max(1, total), progress, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pm(x)
        self.seen += x.shape[0]
        if self.progress is not None:
            self.progress(min(1.0, self.seen / self.total))
        return out


def smooth(
    ctx: Context, make: Callable[[torch.nn.Module], Any], images: int, batch: int, **kwargs: Any
) -> tuple[Any, float]:
    """Average of ``make(model).attribute`` over ``settings.samples`` noisy copies of the image.

    Args:
        ctx: The face, class and settings (``samples``, ``noise``, ``seed``).
        make: Builds the inner captum method around the (counting) model.
        images: Images the whole run feeds through the model (for progress).
        batch: Noisy copies per inner call (``nt_samples_batch_size``).
        kwargs: Passed to the inner method's ``attribute``.

    Returns:
        ``(H x W signed map, seconds)``.
    """
    s = ctx.settings
    t0 = time.perf_counter()
    model = CountingModel(ctx.pm, images, ctx.progress)
    with torch.random.fork_rng():  # seeded noise, without moving the caller's random state
        torch.manual_seed(s.seed)
        attr = NoiseTunnel(make(model)).attribute(
            ctx.pixels.detach().clone(),
            nt_type="smoothgrad",
            nt_samples=s.samples,
            nt_samples_batch_size=batch,
            stdevs=float(s.noise),
            target=ctx.target,
            **kwargs,
        )
    return channel_sum(attr), time.perf_counter() - t0
