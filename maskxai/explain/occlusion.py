"""Occlusion (Zeiler and Fergus, 2014, "Visualizing and Understanding Convolutional
Networks"), with captum's ``Occlusion``: a grey patch (0.5 in pixel space) slides
over the face by half its side; each pixel gets the mean drop of the class logit
over the patches that covered it. Model-agnostic: no gradients, only forward passes.
Pixels at the right/bottom edge that no whole patch reaches (when the stride does
not divide the image) get 0.
"""

from __future__ import annotations

import time

from captum.attr import Occlusion

from .base import Context, Explanation, Method
from .noise import CountingModel


def explain(ctx: Context) -> Explanation:
    s = ctx.settings
    p = int(s.patch)
    stride = max(1, p // 2)
    h, w = ctx.pixels.shape[-2:]
    windows = ((h - p) // stride + 1) * ((w - p) // stride + 1)
    t0 = time.perf_counter()
    model = CountingModel(ctx.pm, windows + 1, ctx.progress)
    attr = Occlusion(model).attribute(
        ctx.pixels.detach().clone(),
        sliding_window_shapes=(3, p, p),
        strides=(3, stride, stride),
        baselines=0.5,
        target=ctx.target,
        perturbations_per_eval=s.internal_batch_size,
    )
    amap = attr.detach().float().mean(dim=1)[0].cpu().numpy()  # the same value in every channel of a patch
    return Explanation(
        METHOD.title, amap, True, ctx.target, time.perf_counter() - t0, key=METHOD.name, patch=p, baseline="grey"
    )


METHOD = Method(
    "occlusion",
    "Occlusion",
    explain,
    paper="Zeiler and Fergus, 2014",
    summary="how much the class score drops when a grey patch covers each place: red where covering hurts "
    "the class, blue where it helps. Model-agnostic, the reference the others are checked against.",
    slow=True,
)
