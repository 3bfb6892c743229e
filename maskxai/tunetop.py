"""Fine-tune only the top of a trained model, over features of its frozen trunk computed once.

``python -m maskxai.train --model M --init W --tune-from LAYER ...`` trains the
top-level modules of the model from ``LAYER`` on (e.g. InceptionResnetV1's
``repeat_3``, ResNet50's ``layer4``) and keeps the ones before it as they are.
The frozen trunk runs once over ``--samples-per-epoch`` augmented draws of the
mixture and over the validation sets; every epoch then passes over those cached
features. On a CPU without fast bf16 this is what makes a new round of data
(e.g. the photographed masks of :mod:`maskxai.realmasks`) affordable: the
trunk's forward pass is most of the cost, and it is paid once, not per epoch.

The split relies on the model's forward applying its top-level children in
order up to ``LAYER`` (true of both registered models).
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .metrics import summarize
from .preprocess import to_input
from .registry import ModelSpec

log = logging.getLogger(__name__)


def split_model(model: nn.Module, start: str) -> tuple[nn.Module, nn.Module]:
    """``(trunk, top)`` views of ``model`` that share its modules.

    ``start`` is a top-level child (``"repeat_3"``) or a block of a top-level ``nn.Sequential``
    (``"layer4.1"``). ``trunk`` applies everything before it in order; ``top`` is ``model`` with that
    replaced by identities, so ``top(trunk(x)) == model(x)`` and training ``top`` trains ``model``.

    Raises:
        ValueError: If ``start`` names no such layer (the message lists the top-level ones) or the first one.
    """
    names = [n for n, _ in model.named_children()]
    head, _, block = start.partition(".")
    child = model._modules.get(head)
    ok = head in names and (names.index(head) > 0 or block not in ("", "0"))
    if block:
        ok = ok and isinstance(child, nn.Sequential) and block.isdigit() and 0 <= int(block) < len(child)
    if not ok:
        raise ValueError(
            f"--tune-from {start!r}: choose a top-level layer after the first, one of {names[1:]}, "
            "or a block of one that is a Sequential, e.g. 'layer4.1'"
        )
    frozen = names[: names.index(head)]
    trunk_parts: list[nn.Module] = [m for n in frozen if (m := model._modules[n]) is not None]
    top = copy.copy(model)
    top._modules = dict(model._modules)
    for n in frozen:
        top._modules[n] = nn.Identity()
    if block:
        k = int(block)
        assert isinstance(child, nn.Sequential)
        trunk_parts += list(child[:k])
        top._modules[head] = nn.Sequential(*child[k:])
    trunk = nn.Sequential(*trunk_parts).eval()
    for p in trunk.parameters():
        p.requires_grad_(False)
    return trunk, top


@torch.no_grad()
def trunk_features(trunk: nn.Module, batches: Any, desc: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The trunk's outputs (fp16) and the labels for an iterable of ``(x, y)`` batches."""
    feats, labels = [], []
    for x, y in tqdm(batches, desc=desc, unit="batch"):
        feats.append(trunk(x.contiguous(memory_format=torch.channels_last)).to(torch.float16).contiguous())
        labels.append(torch.as_tensor(y))
    return torch.cat(feats), torch.cat(labels)


def image_batches(items: list, spec: ModelSpec, batch: int = 64) -> Any:
    """``(x, y)`` batches of ``(PIL image, target)`` pairs through the app's preprocessing."""
    for i in range(0, len(items), batch):
        chunk = items[i : i + batch]
        yield torch.cat([to_input(img, spec) for img, _ in chunk]), [t for _, t in chunk]


@torch.no_grad()
def evaluate_features(top: nn.Module, feats: torch.Tensor, labels: torch.Tensor, batch: int = 256) -> dict[str, Any]:
    top.eval()
    preds = [top(feats[i : i + batch].float()).argmax(1) for i in range(0, len(feats), batch)]
    return summarize(labels.tolist(), torch.cat(preds).tolist())


def train_top(cfg: Any, spec: ModelSpec, out: Path) -> Path:
    """The ``--tune-from`` run of :func:`maskxai.train.train` (same config, logs, kept weights and metadata)."""
    from . import train as T

    if cfg.teacher:
        raise ValueError("--tune-from does not distil: leave out --teacher")
    if not cfg.init and not cfg.pretrained:
        raise ValueError("--tune-from fine-tunes a trained model: give its weights with --init")
    t_start = time.time()
    ds, val = T.load_data(cfg, spec)
    model, prior_runs = T.init_model(cfg, spec)
    trunk, top = split_model(model, cfg.tune_from)
    cache = out / "features.pt"
    if cache.is_file():
        feats, labels = torch.load(cache)
        print(f"trunk features from {cache}")
    else:
        ds.epoch = 0
        feats, labels = trunk_features(trunk, T.loader_of(ds, cfg), "trunk features")
        torch.save((feats, labels), cache)
    val_feats = {k: trunk_features(trunk, image_batches(v, spec), f"val {k}") for k, v in val.items()}
    params = [p for p in top.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: T.lr_factor(step, cfg))
    lossf = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    gen = torch.Generator().manual_seed(cfg.seed)
    best, elapsed = -1.0, time.time() - t_start  # the trunk's pass counts as training time
    for epoch in range(cfg.epochs):
        t0 = time.time()
        top.train()
        trunk.eval()
        order = torch.randperm(len(feats), generator=gen)
        losses: list[float] = []
        steps = range(0, len(order) - cfg.batch_size + 1, cfg.batch_size)
        bar = tqdm(steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch")
        for i in bar:
            idx = order[i : i + cfg.batch_size]
            loss = lossf(top(feats[idx].float()), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 2.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        results = {k: evaluate_features(top, f, y) for k, (f, y) in val_feats.items()}
        score = T.selection_score(results, cfg.select)
        elapsed += time.time() - t0
        row = T.log_epoch(out / "log.jsonl", epoch, losses, score, results, elapsed)
        if score > best:
            best = score
            model.eval()
            T.save_kept(model, spec, out / "best.safetensors", cfg, prior_runs, row)
        if cfg.time_budget_min and elapsed / 60 >= cfg.time_budget_min:
            print(f"time budget of {cfg.time_budget_min} min reached after epoch {epoch + 1}")
            break
    return out / "best.safetensors"
