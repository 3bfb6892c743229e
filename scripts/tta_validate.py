"""Test-time augmentation, measured on the validation sets (not shipped: it did not help; see docs/experiments.md).

Each model scored as a training epoch is scored (:func:`maskxai.train.validate`, the selection rule of the shipped
runs) with its probabilities averaged over views of each face: the face alone; with its mirror image; with its
mirror image and a 90 % centre zoom.

    PYTHONPATH=. python scripts/tta_validate.py inception_resnet_v1 resnet50
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from maskxai.train import TrainConfig, selection_score, validate
from maskxai.trainset import fixed_eval_set
from maskxai.weights import load_model

SELECT = "maskedface-net:accuracy,face-mask-detection,face-mask-detection-tight,face-mask-12k,synthetic-real"
VIEWS = (("face",), ("face", "mirror"), ("face", "mirror", "zoom"))


class Averaged(nn.Module):
    """``model`` on each view of the batch; the log of the mean probabilities (a logit for argmax and softmax)."""

    def __init__(self, model: nn.Module, views: tuple[str, ...]):
        super().__init__()
        self.model, self.views = model, views

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.model(view(x, v)).float().softmax(1) for v in self.views]).mean(0).log()


def view(x: torch.Tensor, name: str) -> torch.Tensor:
    """One view of a batch: ``face`` (as is), ``mirror`` (left-right) or ``zoom`` (the centre 90 %, resized back)."""
    if name == "mirror":
        return x.flip(3)
    if name == "zoom":
        side = x.shape[2]
        cut, off = round(side * 0.9), (side - round(side * 0.9)) // 2
        return F.interpolate(x[:, :, off : off + cut, off : off + cut], size=(side, side), mode="bilinear")
    return x


def main(models: list[str]) -> None:
    cfg = TrainConfig()
    val = fixed_eval_set(Path(cfg.data), Path(cfg.landmarks), "val")
    for name in models:
        lm = load_model(name)
        for views in VIEWS:
            res = validate(Averaged(lm.model, views), lm.spec, val)
            print(f"{name} {'+'.join(views)}: score {selection_score(res, SELECT):.4f}")
            for k, r in res.items():
                m = r["confusion"]
                print(
                    f"    {k}: accuracy {r['accuracy']:.4f}, macro recall {r['macro_recall']:.4f}, "
                    f"worn incorrectly {m[1][1]}/{sum(m[1])}"
                )


if __name__ == "__main__":
    main(sys.argv[1:] or ["inception_resnet_v1", "resnet50"])
