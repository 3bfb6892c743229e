"""SmoothGrad (Smilkov et al., 2017, "SmoothGrad: removing noise by adding noise"):
input gradients averaged over noisy copies of the image (captum's ``NoiseTunnel``
over ``Saliency``, signed). Noise is Gaussian in [0, 1] pixel units."""

from __future__ import annotations

from captum.attr import Saliency

from .base import Context, Explanation, Method
from .noise import smooth


def explain(ctx: Context) -> Explanation:
    s = ctx.settings
    attr, seconds = smooth(ctx, Saliency, s.samples, s.internal_batch_size, abs=False)
    return Explanation(METHOD.title, attr, True, ctx.target, seconds, key=METHOD.name, samples=s.samples, noise=s.noise)


METHOD = Method(
    "smoothgrad",
    "SmoothGrad",
    explain,
    paper="Smilkov et al., 2017",
    summary="gradients averaged over noisy copies of the photo: the same sign convention as gradients, "
    "with much of their speckle averaged away.",
    slow=True,
)
