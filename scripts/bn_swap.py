"""A fine-tune's weights with its base's BatchNorm running statistics, and the base's with the fine-tune's.

Measures where a fine-tune's loss on the validation sets sits: in what its weights learned, or in the running
statistics its training mixture left in the BatchNorm layers (docs/experiments.md, "Where the fine-tunes' losses sat").
Writes the two swapped files; score them with ``maskxai.train --validate``:

    PYTHONPATH=. python scripts/bn_swap.py inception_resnet_v1 checkpoints/inception_resnet_v1.safetensors \\
        runs/irv1_agree/best.safetensors runs/ft_basebn.safetensors runs/base_ftbn.safetensors
    python -m maskxai.train --model inception_resnet_v1 --val-views video --select "$R9" --validate \\
        checkpoints/inception_resnet_v1.safetensors runs/irv1_agree/best.safetensors runs/ft_basebn.safetensors \\
        runs/base_ftbn.safetensors
"""

from __future__ import annotations

import sys

import torch
from safetensors.torch import load_file

from maskxai.registry import get_spec
from maskxai.weights import save_weights

STATS = ("running_mean", "running_var", "num_batches_tracked")


def swap_stats(weights: dict[str, torch.Tensor], stats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``weights`` with every BatchNorm running statistic taken from ``stats`` (both state dicts of one model)."""
    if weights.keys() != stats.keys():
        raise ValueError("the two files hold different tensors: give two weights files of one model")
    return {k: (stats[k] if k.rsplit(".", 1)[-1] in STATS else v) for k, v in weights.items()}


def main(model: str, base: str, tuned: str, tuned_base_stats: str, base_tuned_stats: str) -> None:
    spec = get_spec(model)
    b, t = load_file(base), load_file(tuned)
    net = spec.build()
    for w, s, out in ((t, b, tuned_base_stats), (b, t, base_tuned_stats)):
        state = {k: v.float() if v.is_floating_point() else v for k, v in swap_stats(w, s).items()}
        net.load_state_dict(state)
        save_weights(net, spec, out)
        print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
