"""Fold eval-mode BatchNorm into the convolution before it, for explanation passes.

In eval mode a BatchNorm is a fixed per-channel affine map, so ``bn(conv(x))``
equals one convolution with rescaled weights: the same function and the same
input gradients, with one op fewer per layer forward and backward. Module
names are kept (the BatchNorm becomes ``Identity``), so Grad-CAM layer paths
still resolve.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` (eval mode) with each Conv2d -> BatchNorm2d child pair folded; and the count."""
    model = copy.deepcopy(model).eval()
    n = 0
    for parent in model.modules():
        children = list(parent.named_children())
        for (name_a, a), (name_b, b) in zip(children, children[1:]):
            if (
                isinstance(a, nn.Conv2d)
                and isinstance(b, nn.BatchNorm2d)
                and a.out_channels == b.num_features
                and b.track_running_stats
            ):
                setattr(parent, name_a, fuse_conv_bn_eval(a, b))
                setattr(parent, name_b, nn.Identity())
                n += 1
    for p in model.parameters():
        p.requires_grad_(False)
    return model, n
