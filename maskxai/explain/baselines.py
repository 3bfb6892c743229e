"""Integrated Gradients baselines, built in pixel space ([0, 1] RGB) and
normalised with the image: a "black" baseline is black, whatever the model's
normalisation (captum's default zero tensor is not).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..registry import ModelSpec


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    y = F.pad(x, (r, r, 0, 0), mode="replicate")
    y = F.conv2d(y, k, groups=3)
    y = F.pad(y, (0, 0, r, r), mode="replicate")
    return F.conv2d(y, k.transpose(2, 3), groups=3)


BASELINES: dict[str, Callable[[torch.Tensor, ModelSpec, int], torch.Tensor]] = {
    "black": lambda x, spec, seed: torch.zeros_like(x),
    "white": lambda x, spec, seed: torch.ones_like(x),
    "blurred input": lambda x, spec, seed: _blur(x, sigma=x.shape[-1] / 16),
    "uniform noise": lambda x, spec, seed: torch.rand(
        x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype
    ).to(x.device),
    "dataset mean": lambda x, spec, seed: (
        torch.tensor(spec.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1).expand_as(x).clone()
    ),
}
"""Baseline name -> builder(pixels, spec, seed). "dataset mean" is the per-channel mean
the model is normalised with (ImageNet's for ResNet50, mid-grey for InceptionResnetV1)."""


def make_baseline(name: str, pixels: torch.Tensor, spec: ModelSpec, seed: int = 0) -> torch.Tensor:
    """The baseline image ``name`` for ``pixels`` (same shape, pixel space).

    Raises:
        ValueError: Unknown name; the message lists the choices.
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {list(BASELINES)}")
    return BASELINES[name](pixels.detach(), spec, seed)
