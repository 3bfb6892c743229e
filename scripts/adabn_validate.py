"""BatchNorm statistics re-estimated on training draws (AdaBN), measured on the validation sets (not shipped: on
grayscale draws it was far worse; see docs/experiments.md, "BatchNorm statistics of grayscale faces").

The model's weights are kept; only its BatchNorm running statistics are re-estimated (a cumulative average) over
``N`` augmented training draws of the standard mixture, in colour or all seen as video frames. Each variant is
scored as a training epoch is scored, on the validation sets and their video-frame views.

    PYTHONPATH=. python scripts/adabn_validate.py inception_resnet_v1 2048
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import torch
from torch import nn

from maskxai.registry import get_spec
from maskxai.train import TrainConfig, selection_score, validate
from maskxai.trainset import Mixture, fixed_eval_set, standard_sources
from maskxai.weights import load_model

SELECT = "maskedface-net:accuracy,face-mask-detection,face-mask-detection-tight,face-mask-12k,synthetic-real"
SELECT_VIDEO = SELECT + ",maskedface-net@video:accuracy,face-mask-detection@video,synthetic-real@video"


def restat(model: nn.Module, mixture: Mixture) -> nn.Module:
    """A copy of ``model`` whose BatchNorm statistics are the average over ``mixture``'s draws."""
    m = copy.deepcopy(model)
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average
            mod.train()
    with torch.no_grad():
        for x, _ in torch.utils.data.DataLoader(mixture, batch_size=64, num_workers=1):
            m(x)
    return m.eval()


def main(name: str, n: int) -> None:
    torch.set_num_threads(2)
    spec, cfg = get_spec(name), TrainConfig()
    data, lm = Path(cfg.data), Path(cfg.landmarks)
    base = load_model(name).model.eval()
    val = fixed_eval_set(data, lm, "val", views="video")
    variants = {"shipped": base}
    for tag, share in (("statistics of colour draws", 0.0), ("statistics of video-frame draws", 1.0)):
        t = time.time()
        mixture = Mixture(standard_sources(data, lm, "train"), spec, n, seed=7, video_share=share)
        variants[tag] = restat(base, mixture)
        print(f"{tag}: {n} draws, {time.time() - t:.0f} s", flush=True)
    for tag, model in variants.items():
        res = validate(model, spec, val)
        score, video = selection_score(res, SELECT), selection_score(res, SELECT_VIDEO)
        print(f"{tag}: score {score:.4f}, with video terms {video:.4f}")
        for k, r in res.items():
            inc = r["confusion"][1]
            print(f"  {k:34s} accuracy {round(r['accuracy'] * r['n'])}/{r['n']}, worn incorrectly {inc[1]}/{sum(inc)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "inception_resnet_v1", int(sys.argv[2]) if len(sys.argv) > 2 else 2048)
