"""SmoothGrad over Integrated Gradients (Smilkov et al., 2017; Sundararajan et al., 2017):
IG from the chosen baseline, averaged over noisy copies of the image (captum's
``NoiseTunnel`` over ``IntegratedGradients``, ``smooth_ig_steps`` steps per copy)."""

from __future__ import annotations

from captum.attr import IntegratedGradients

from .base import Context, Explanation, Method
from .baselines import make_baseline
from .noise import smooth


def explain(ctx: Context) -> Explanation:
    s = ctx.settings
    steps = int(s.smooth_ig_steps)
    base = make_baseline(s.baseline, ctx.pixels, ctx.pm.spec, s.seed)
    attr, seconds = smooth(
        ctx,
        IntegratedGradients,
        s.samples * steps,
        1,
        baselines=base,
        n_steps=steps,
        internal_batch_size=s.internal_batch_size,
    )
    return Explanation(
        METHOD.title,
        attr,
        True,
        ctx.target,
        seconds,
        key=METHOD.name,
        samples=s.samples,
        noise=s.noise,
        steps=steps,
        baseline=s.baseline,
    )


METHOD = Method(
    "smoothgrad_ig",
    "SmoothGrad over IG",
    explain,
    paper="Smilkov et al., 2017",
    summary="Integrated Gradients averaged over noisy copies of the photo: red for, blue against; "
    "smoother than IG, and samples x steps passes (slow).",
    slow=True,
)
