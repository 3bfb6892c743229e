"""Train a mask classifier: ``python -m maskxai.train --model resnet50``.

The defaults reproduce the shipped weights: options left at 0 (epochs, draws
per epoch, threads, learning rate) come from the model's ``TrainRecipe`` in
the registry, as does the ``--pretrained`` start. Training resumes from
``<out>/last.pt`` when it exists; per-epoch loss and validation accuracy go to
``<out>/log.jsonl``; the best epoch is written as safetensors to
``<out>/best.safetensors`` (copy it to ``checkpoints/`` to ship it).

:func:`train` reads top to bottom: data, model, optimiser and schedule,
resume, loss, then per epoch the training pass, validation and saving; each
step is a small function below it.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .data import landmarks_cache, load_manifest
from .device import device
from .distill import DistillLoss, Teacher, load_teacher
from .metrics import format_interval, interval, summarize
from .preprocess import to_input
from .registry import LABELS, ModelSpec, get_spec, list_models
from .trainset import (
    PLACEMENT_P,
    VAL_SIZES,
    Mixture,
    Source,
    fixed_eval_set,
    standard_sources,
    with_fabrics,
    with_photo_masks,
    with_views,
)
from .weights import REPO_ROOT, load_model, load_state, save_weights

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    model: str = "resnet50"
    data: str = str(REPO_ROOT.parent / "shared" / "data")
    landmarks: str = str(REPO_ROOT / ".cache" / "landmarks_12k.json")
    out: str = ""  # default: runs/<model>
    epochs: int = 0  # 0: the model's recipe (ModelSpec.recipe)
    samples_per_epoch: int = 0  # 0: the model's recipe
    batch_size: int = 32
    lr: float = 0.0  # 0: the model's recipe
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    warmup_steps: int = 200
    bf16: bool = True
    threads: int = 0  # 0: the model's recipe (whose 0 is torch's default)
    workers: int = 0
    seed: int = 0
    pretrained: bool = False  # the recipe's public pretrained start (ImageNet / VGGFace2): needs the internet
    init: str = ""  # start from these weights (a .safetensors of ours), e.g. to continue a finished run
    mix: str = ""  # source weights of the mixture, e.g. "maskedface-net=0.3,face-mask-detection=0.35"
    placements: str = ""  # shares of the synthetic mask placements, e.g. "nose_mouth=0.15" (others kept)
    boost: str = ""  # draw items of a kind more often within their class, e.g. "maskedface-net:Nose_Mouth=3"
    time_budget_min: float = 0.0  # stop after the epoch that crosses it (0: no limit)
    average_last: int = 0  # also write mean.safetensors: the mean of the weights of the last K epochs (0: none)
    select: str = ""  # val sets whose mean macro recall picks the kept epoch, e.g. "maskedface-net,face-mask-12k" (all)
    teacher: str = ""  # distil from these trained weights of ours (any registered model of the same input size)
    distill_weight: float = 0.5  # with --teacher: share of the loss given to matching the teacher
    distill_temp: float = 2.0  # with --teacher: softmax temperature of the matched distributions
    distill_agree: bool = False  # with --teacher: match it only on the images it labels right (plain CE elsewhere)
    freeze_bn: bool = False  # with --init: keep its batch-norm running statistics (scales and shifts still train)
    tune_from: str = ""  # train only the top-level layers from this one on, over cached trunk features (tunetop)
    reframe: float = 0.0  # share of draws framed as a tight face crop padded to a square (augment.reframe)
    video: float = 0.0  # share of draws seen as a grayscale video frame of 48-80 px (augment.video_frame)
    fabrics: float = 0.0  # share of photographed (real_*) masks coloured by fabric cut from masked train photos
    photo_masks: float = 0.0  # share of photographed (real_*) masks cut out of masked train photos (photomasks)
    keep_mask: bool = False  # augment's crop keeps a synthetic draw's mask whole (bare faces: a stand-in's box)
    val_views: str = ""  # also score every val set seen so, as "<set>@<view>" (augment.VIEWS), e.g. "video"
    val_size: str = "standard"  # how much of the val split is drawn: a key of trainset.VAL_SIZES (standard, large)
    holdout: str = ""  # "FOLD/K": Face Mask Detection photos of that fold left out, the next fold as val (kfold)


# The TrainConfig fields that a model's TrainRecipe fills in when they are left at 0.
RECIPE_FIELDS = ("epochs", "samples_per_epoch", "threads", "lr")


def with_recipe(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the fields left at 0 (:data:`RECIPE_FIELDS`) taken from its model's :class:`TrainRecipe`.

    Raises:
        ValueError: If ``cfg.model`` is not registered (the message lists the models there are).
    """
    recipe = get_spec(cfg.model).recipe
    changes: dict[str, Any] = {k: getattr(recipe, k) for k in RECIPE_FIELDS if not getattr(cfg, k)}
    return dataclasses.replace(cfg, **changes)


METRICS = ("macro_recall", "accuracy")


def selection_score(results: dict[str, dict[str, Any]], select: str = "") -> float:
    """Mean of the val metrics named in ``select``; empty: every val set's macro recall.

    ``select`` is comma-separated ``name`` (its macro recall) or ``name:metric`` (``macro_recall`` or
    ``accuracy``), e.g. ``"maskedface-net:accuracy,face-mask-detection"``. Raises ``ValueError`` naming
    the val sets and metrics there are when ``select`` names another.
    """
    terms = [t.strip() for t in select.split(",") if t.strip()] or list(results)
    values = []
    for term in terms:
        name, _, metric = term.partition(":")
        metric = metric.strip() or "macro_recall"
        if name.strip() not in results or metric not in METRICS:
            raise ValueError(
                f"--select: no val metric {term!r}; there are: {', '.join(results)} "
                f"(each as name or name:metric, metric one of {', '.join(METRICS)})"
            )
        values.append(results[name.strip()][metric])
    return float(np.mean(values))


def parse_mix(text: str, flag: str = "--mix") -> dict[str, float]:
    """``"name=weight,..."`` to a dict; raises ``ValueError`` with the expected form."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            w = float(value)
        except ValueError:
            w = -1.0
        if not sep or w < 0:
            raise ValueError(f"{flag} takes name=weight pairs separated by commas, got {part!r}")
        out[name.strip()] = w
    return out


def with_mix(sources: list[Source], mix: str, placements: str = "", boost: str = "") -> list[Source]:
    """``sources`` with the weights named in ``mix`` replaced (the others kept), and the options
    ``placements`` (shares of the synthetic placements, the others kept) and ``boost``
    (``source:kind=factor``: draw that kind's items ``factor`` times as often within its class)."""
    names = [s.name for s in sources]
    weights = parse_mix(mix)
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ValueError(f"unknown source(s) in --mix: {unknown}; use {names}")
    shares = parse_mix(placements, "--placements")
    if set(shares) - set(PLACEMENT_P):
        raise ValueError(
            f"unknown placement(s) in --placements: {sorted(set(shares) - set(PLACEMENT_P))}; use {list(PLACEMENT_P)}"
        )
    boosts: dict[str, dict[str, float]] = {}
    for key, factor in parse_mix(boost, "--boost").items():
        src, sep, kind = key.partition(":")
        if not sep or src not in names:
            raise ValueError(f"--boost takes source:kind=factor with a source of {names}, got {key!r}")
        kinds = {x.kind for x in sources[names.index(src)].items if x.kind is not None}
        if kind not in kinds:
            raise ValueError(f"--boost: {src} has no items of kind {kind!r}; its kinds: {sorted(kinds) or 'none'}")
        boosts.setdefault(src, {})[kind] = factor
    out = []
    for s in sources:
        changes: dict[str, Any] = {"weight": weights.get(s.name, s.weight), "boost": boosts.get(s.name, s.boost)}
        if shares and s.synthetic is not None:
            changes["placements"] = {**(s.placements or PLACEMENT_P), **shares}
        out.append(dataclasses.replace(s, **changes))
    return out


def runs_of(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The training runs behind a weights file, oldest first: ``{"config", "epoch", "minutes"}`` each.

    Files written before runs were chained carry only their own run's config.
    """
    extra = metadata.get("extra", {})
    if "runs" in extra:
        return list(extra["runs"])
    if "config" not in extra:
        return []
    return [{"config": extra["config"], "epoch": extra.get("epoch"), "minutes": extra.get("val", {}).get("minutes")}]


def command_of(config: dict[str, Any]) -> str:
    """The ``python -m maskxai.train`` command line of a run's config (options left at their default omitted)."""
    defaults = dataclasses.asdict(with_recipe(TrainConfig(model=config["model"])))
    defaults["out"] = str(Path("runs") / config["model"])
    parts = ["python -m maskxai.train", f"--model {config['model']}"]
    for f in dataclasses.fields(TrainConfig):
        value = config.get(f.name, defaults[f.name])
        if f.name in ("model", "data", "landmarks") or value == defaults[f.name] or (f.name == "out" and not value):
            continue
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{f.name.replace('_', '-')}")
        else:
            text = str(value)
            if f.name == "out" and Path(text).is_absolute():
                text = str(Path("runs") / Path(text).name)
            parts.append(f'{flag} "{text}"' if "," in text or " " in text else f"{flag} {text}")
    return " ".join(parts)


def build(spec: ModelSpec, pretrained: bool) -> nn.Module:
    """The architecture, optionally from the public pretrained weights its recipe names (downloads them).

    Raises:
        ValueError: If ``pretrained`` is asked for a model whose recipe has no pretrained start.
    """
    if not pretrained:
        return spec.build()
    if spec.recipe.pretrained is None:
        raise ValueError(
            f"no pretrained start is known for {spec.name} (its TrainRecipe has none); train without --pretrained"
        )
    return spec.recipe.pretrained(len(spec.labels))


@torch.no_grad()
def evaluate_images(
    model: nn.Module, spec: ModelSpec, items: list, batch: int = 64, bf16: bool = False
) -> tuple[list[int], list[int]]:
    """Predictions for ``(PIL image, target)`` pairs through the app's preprocessing."""
    model.eval()
    y, p = [], []
    for i in range(0, len(items), batch):
        chunk = items[i : i + batch]
        x = torch.cat([to_input(img, spec) for img, _ in chunk]).contiguous(memory_format=torch.channels_last)
        dev = _device_of(model)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x.to(dev))
        p += logits.float().argmax(1).tolist()
        y += [t for _, t in chunk]
    return y, p


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def train_mode(model: nn.Module, freeze_bn: bool = False) -> nn.Module:
    """``model`` in training mode; with ``freeze_bn`` its BatchNorm layers excepted (their statistics stay)."""
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    return model


def train_one_epoch(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    lossf: nn.Module,
    bf16: bool = True,
    desc: str = "train",
    teacher: nn.Module | None = None,
    freeze_bn: bool = False,
) -> list[float]:
    """One pass over ``loader``; returns the loss of each step.

    With a ``teacher``, ``lossf`` is called as ``lossf(logits, y, teacher(x))`` (see :class:`DistillLoss`).
    With ``freeze_bn`` the batch-norm layers normalise with their running statistics and do not update them.
    """
    train_mode(model, freeze_bn)
    losses: list[float] = []
    dev = _device_of(model)
    bar = tqdm(loader, desc=desc, unit="batch")
    for x, y in bar:
        x, y = x.to(dev).contiguous(memory_format=torch.channels_last), y.to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x).float()
        loss = lossf(logits, y) if teacher is None else lossf(logits, y, teacher(x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", lr=f"{opt.param_groups[0]['lr']:.2e}")
    return losses


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training; return the path of the best weights."""
    cfg = with_recipe(cfg)
    spec = get_spec(cfg.model)
    out = Path(cfg.out or REPO_ROOT / "runs" / cfg.model)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)  # the steps below draw from torch's generator in this order: keep it
    if cfg.tune_from:
        from .tunetop import train_top

        return train_top(cfg, spec, out)

    if cfg.average_last > cfg.epochs:
        raise ValueError(
            f"--average-last {cfg.average_last} is more epochs than the run has ({cfg.epochs}): give at most --epochs"
        )
    ds, val = load_data(cfg, spec)
    model, prior_runs = init_model(cfg, spec)
    opt, sched = make_optimizer(cfg, model)
    state = resume(out / "last.pt", cfg, model, opt, sched)
    lossf, teacher = make_loss(cfg, spec)

    for epoch in range(state.epoch, cfg.epochs):
        t0 = time.time()
        ds.epoch = epoch
        losses = train_one_epoch(
            model,
            loader_of(ds, cfg),
            opt,
            sched,
            lossf,
            cfg.bf16,
            f"epoch {epoch + 1}/{cfg.epochs}",
            teacher,
            cfg.freeze_bn,
        )
        results = validate(model, spec, val, cfg.bf16)
        score = selection_score(results, cfg.select)
        state.elapsed += time.time() - t0
        row = log_epoch(out / "log.jsonl", epoch, losses, score, results, state.elapsed)
        if score > state.best:
            state.best = score
            save_kept(model, spec, out / "best.safetensors", cfg, prior_runs, row)
        state.epoch = epoch + 1
        if cfg.average_last and state.epoch > cfg.epochs - cfg.average_last:
            state.add_to_mean(model)
        save_checkpoint(out / "last.pt", model, opt, sched, state, cfg)
        if state.epoch == cfg.epochs and state.mean is not None:
            save_mean(model, spec, val, out / "mean.safetensors", cfg, prior_runs, state)
        if cfg.time_budget_min and state.elapsed / 60 >= cfg.time_budget_min:
            print(f"time budget of {cfg.time_budget_min} min reached after epoch {epoch + 1}")
            if cfg.average_last and state.epoch < cfg.epochs:
                print("no mean.safetensors yet (--average-last): run the same command again to finish the run")
            break
    return out / "best.safetensors"


# -- data ---------------------------------------------------------------------------------------------------------


def load_data(cfg: TrainConfig, spec: ModelSpec) -> tuple[Mixture, dict[str, list]]:
    """The training mixture (``cfg.samples_per_epoch`` draws an epoch) and the fixed validation sets."""
    data, lm = Path(cfg.data), Path(cfg.landmarks)
    # Always called: the cache is resumable, so an interrupted first pass is completed, not taken as whole.
    unmasked = [s.path for s in load_manifest(data / "face-mask-12k") if s.label == "not_masked"]
    landmarks_cache(unmasked, lm)
    sources = with_mix(standard_sources(data, lm, "train", cfg.holdout), cfg.mix, cfg.placements, cfg.boost)
    sources = with_fabrics(sources, cfg.fabrics, seed=cfg.seed)
    if cfg.photo_masks:  # landmarks of the masked photos the cuts are made from (a cache of their own)
        masked = [s.path for s in load_manifest(data / "face-mask-12k", split="train") if s.label == "correctly_masked"]
        masked_lm = landmarks_cache(masked, lm.with_name(lm.stem + "_masked.json"))
        sources = with_photo_masks(sources, cfg.photo_masks, masked_lm, seed=cfg.seed)
    ds = Mixture(
        sources,
        spec,
        cfg.samples_per_epoch,
        seed=cfg.seed,
        reframe_share=cfg.reframe,
        video_share=cfg.video,
        keep_mask=cfg.keep_mask,
    )
    val = fixed_eval_set(data, lm, "val", holdout=cfg.holdout, views=cfg.val_views, size=cfg.val_size)
    log.info("train sources: %s", {s.name: len(s.items) for s in ds.sources})
    return ds, val


def loader_of(ds: Mixture, cfg: TrainConfig) -> torch.utils.data.DataLoader:
    """Batches of the epoch ``ds.epoch`` in draw order (the draws are already random and seeded)."""
    return torch.utils.data.DataLoader(
        ds, batch_size=cfg.batch_size, shuffle=False, num_workers=cfg.workers, drop_last=True, persistent_workers=False
    )


# -- model --------------------------------------------------------------------------------------------------------


def init_model(cfg: TrainConfig, spec: ModelSpec) -> tuple[nn.Module, list[dict[str, Any]]]:
    """The model to train: from scratch, the recipe's pretrained start, or the ``--init`` weights.

    Returns:
        The model (channels-last), and the runs behind the ``--init`` weights, oldest first.
    """
    model = build(spec, cfg.pretrained)
    prior_runs: list[dict[str, Any]] = []
    if cfg.init:
        prior_runs = runs_of(load_state(model, Path(cfg.init), spec))
        print(f"starting from {cfg.init}")
    model = model.to(device())  # MASKXAI_DEVICE, else CUDA if there is one, else the CPU
    torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels (GPU only)
    return model.to(memory_format=torch.channels_last), prior_runs


# -- optimiser and schedule ---------------------------------------------------------------------------------------


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Share of ``cfg.lr`` at ``step``: linear warm-up over ``cfg.warmup_steps``, then cosine down to 2 %."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    total = math.ceil(cfg.samples_per_epoch / cfg.batch_size) * cfg.epochs
    t = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def make_optimizer(
    cfg: TrainConfig, model: nn.Module
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW at ``cfg.lr`` with weight decay, and its per-step :func:`lr_factor` schedule."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, cfg))


# -- resume -------------------------------------------------------------------------------------------------------


@dataclass
class RunState:
    """Where a run stands: the next epoch to train, the best selection score so far, seconds trained, and the
    running mean of the weights of the epochs ``--average-last`` counts (``mean_n`` of them so far)."""

    epoch: int = 0
    best: float = -1.0
    elapsed: float = 0.0
    mean: dict[str, torch.Tensor] | None = None
    mean_n: int = 0

    def add_to_mean(self, model: nn.Module) -> None:
        """Fold ``model``'s weights into the running mean (fp32; integer tensors, batch norm's step counters, are
        the latest epoch's)."""
        sd = model.state_dict()
        new = {k: v.detach().float().clone() if v.is_floating_point() else v.clone() for k, v in sd.items()}
        self.mean_n += 1
        if self.mean is None:
            self.mean = new
            return
        for k, v in new.items():
            self.mean[k] = self.mean[k] + (v - self.mean[k]) / self.mean_n if v.is_floating_point() else v


def resume(
    last: Path,
    cfg: TrainConfig,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
) -> RunState:
    """Load ``last`` (``<out>/last.pt``) into the model, optimiser and schedule if it exists.

    Raises:
        ValueError: If ``last`` belongs to a run of another model.
    """
    if not last.is_file():
        return RunState()
    ck = torch.load(last, map_location="cpu", weights_only=False)
    if ck["config"]["model"] != cfg.model:
        raise ValueError(f"{last} is a {ck['config']['model']} run; use another --out")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    sched.load_state_dict(ck["sched"])
    state = RunState(ck["epoch"] + 1, ck["best"], ck.get("elapsed", 0.0), ck.get("mean"), ck.get("mean_n", 0))
    print(f"resumed from {last} at epoch {state.epoch}")
    return state


# -- loss ---------------------------------------------------------------------------------------------------------


def make_loss(cfg: TrainConfig, spec: ModelSpec) -> tuple[nn.Module, Teacher | None]:
    """Label-smoothed cross-entropy, or with ``--teacher`` the :class:`DistillLoss` and the frozen teacher."""
    if not cfg.teacher:
        return nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing), None
    teacher = load_teacher(cfg.teacher, spec, bf16=cfg.bf16).to(device())
    where = ", only where it is right" if cfg.distill_agree else ""
    print(
        f"distilling from {cfg.teacher} ({teacher.spec.name}), weight {cfg.distill_weight}, T {cfg.distill_temp}{where}"
    )
    loss = DistillLoss(cfg.distill_weight, cfg.distill_temp, cfg.label_smoothing, agree_only=cfg.distill_agree)
    return loss, teacher


# -- validation ---------------------------------------------------------------------------------------------------


def validate(model: nn.Module, spec: ModelSpec, val: dict[str, list], bf16: bool = False) -> dict[str, dict[str, Any]]:
    """:func:`~maskxai.metrics.summarize` of the model on each validation set."""
    return {name: summarize(*evaluate_images(model, spec, items, bf16=bf16)) for name, items in val.items()}


def val_columns(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each val set's accuracy and macro recall as an epoch's row holds them (``val_<set>_acc``, ``_macro_recall``)."""
    return {
        **{f"val_{k}_acc": round(r["accuracy"], 4) for k, r in results.items()},
        **{f"val_{k}_macro_recall": round(r["macro_recall"], 4) for k, r in results.items()},
    }


def log_epoch(
    path: Path, epoch: int, losses: list[float], score: float, results: dict[str, dict[str, Any]], elapsed: float
) -> dict[str, Any]:
    """The epoch's row (mean loss, selection score, minutes so far, each val set's accuracy and macro recall),
    appended to ``path`` as a JSON line and printed; returned for the weights' metadata."""
    row = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_score": score, "minutes": elapsed / 60}
    row.update(val_columns(results))
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row))
    return row


# -- saving -------------------------------------------------------------------------------------------------------


def save_checkpoint(
    last: Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    state: RunState,
    cfg: TrainConfig,
) -> None:
    """Write everything :func:`resume` needs to ``last``, atomically (a killed run leaves the previous one)."""
    tmp = last.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "epoch": state.epoch - 1,  # the last epoch finished, 0-based
            "best": state.best,
            "elapsed": state.elapsed,
            "mean": state.mean,
            "mean_n": state.mean_n,
            "config": dataclasses.asdict(cfg),
        },
        tmp,
    )
    tmp.replace(last)


def save_kept(
    model: nn.Module,
    spec: ModelSpec,
    path: Path,
    cfg: TrainConfig,
    prior_runs: list[dict[str, Any]],
    row: dict[str, Any],
    kept: str = "best",
) -> None:
    """Write the weights of the epoch in ``row`` with the run's metadata (config, val row, chain of runs)."""
    run = {
        "config": dataclasses.asdict(cfg),
        "epoch": row["epoch"],
        "minutes": row["minutes"],
        "kept": kept,
        "device": device_label(_device_of(model)),
        **({"mean_of": row["mean_of"]} if "mean_of" in row else {}),
    }
    extra = {"epoch": row["epoch"], "val": row, "config": dataclasses.asdict(cfg), "runs": [*prior_runs, run]}
    save_weights(model, spec, path, extra=extra)


def save_mean(
    model: nn.Module,
    spec: ModelSpec,
    val: dict[str, list],
    path: Path,
    cfg: TrainConfig,
    prior_runs: list[dict[str, Any]],
    state: RunState,
) -> None:
    """Write the mean of the last ``--average-last`` epochs' weights (``state.mean``) to ``path``, scored on the
    validation sets as an epoch is (its row printed and kept in the metadata, not in ``log.jsonl``)."""
    assert state.mean is not None
    mean = copy.deepcopy(model)
    mean.load_state_dict(state.mean)
    results = validate(mean, spec, val, cfg.bf16)
    first = state.epoch - state.mean_n + 1
    row = {"epoch": state.epoch, "mean_of": list(range(first, state.epoch + 1)), "minutes": state.elapsed / 60}
    row.update(val_score=selection_score(results, cfg.select), **val_columns(results))
    print(f"mean of epochs {first}-{state.epoch}: " + json.dumps(row))
    save_kept(mean, spec, path, cfg, prior_runs, row, kept="mean")
    print(f"mean weights: {path}")


def device_label(dev: torch.device) -> str:
    """Where a run trained, in words for its model card: the GPU's name, or the CPU and its threads."""
    if dev.type == "cuda":
        return f"one {torch.cuda.get_device_name(dev)} GPU"
    return f"{dev.type.upper()}, {torch.get_num_threads()} thread(s)"


def export_last(out: str | Path) -> Path:
    """``<out>/last.safetensors``: the final epoch of the run in ``out`` (from its ``last.pt``), with the metadata
    the kept epoch gets, for when the last epoch rather than the best-validated one is to be shipped."""
    from .weights import read_metadata

    out = Path(out)
    if not (out / "last.pt").is_file():
        raise FileNotFoundError(f"{out / 'last.pt'} not found: pass the --out folder of a training run")
    ck = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    cfg = TrainConfig(
        **{k: v for k, v in ck["config"].items() if k in {f.name for f in dataclasses.fields(TrainConfig)}}
    )
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    row = next((r for r in rows if r["epoch"] == ck["epoch"] + 1), None)
    if row is None:
        raise ValueError(f"{out / 'log.jsonl'} has no row for epoch {ck['epoch'] + 1}, the epoch in last.pt")
    spec = get_spec(cfg.model)
    model = spec.build()
    model.load_state_dict(ck["model"])
    prior = runs_of(read_metadata(cfg.init)) if cfg.init else []
    path = out / "last.safetensors"
    save_kept(model, spec, path, cfg, prior, row, kept="last")
    return path


@dataclass
class Instead:
    """What the command line asked for instead of training (both empty: train)."""

    export_last: str = ""  # write this run folder's final epoch as last.safetensors
    validate: list[str] = dataclasses.field(default_factory=list)  # score these weights on the val sets


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, Instead]:
    """The run's config, and what was asked instead of training (:class:`Instead`)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        default = getattr(d, f.name)
        if isinstance(default, bool):
            p.add_argument(f"--{f.name.replace('_', '-')}", action=argparse.BooleanOptionalAction, default=default)
        elif f.name == "model":
            p.add_argument("--model", choices=list_models(), default=default)
        elif f.name == "val_size":
            p.add_argument("--val-size", choices=list(VAL_SIZES), default=default)
        else:
            p.add_argument(f"--{f.name.replace('_', '-')}", type=type(default), default=default)
    p.add_argument(
        "--export-last",
        metavar="OUT",
        default="",
        help="do not train: write OUT/last.safetensors from the final epoch in OUT/last.pt (to ship it)",
    )
    p.add_argument(
        "--validate",
        metavar="WEIGHTS",
        nargs="+",
        default=[],
        help="do not train: score these weights on the validation sets as an epoch is scored (and by --select)",
    )
    args = vars(p.parse_args(argv))
    instead = Instead(args.pop("export_last"), args.pop("validate"))
    for share in ("reframe", "video"):
        if not 0.0 <= args[share] <= 1.0:
            p.error(f"--{share} {args[share]}: give a share of the draws between 0 and 1, e.g. 0.3")
    if args["freeze_bn"] and not args["init"]:
        p.error("--freeze-bn keeps the batch-norm statistics of the weights a run starts from: give --init W too")
    if args["average_last"] < 0 or (args["average_last"] and args["tune_from"]):
        p.error("--average-last K: give a number of final epochs >= 0 (not with --tune-from, whose runs keep one)")
    if args["distill_agree"] and not args["teacher"]:
        p.error("--distill-agree matches a teacher only where it is right: give the teacher too, e.g. --teacher W")
    try:  # a view that does not exist fails now, not after the first epoch
        with_views({}, args["val_views"])
    except ValueError as exc:
        p.error(str(exc))
    return TrainConfig(**args), instead


def val_table(columns: list[tuple[str, dict[str, dict[str, Any]], float]], select: str = "") -> str:
    """A markdown table of validation results, one column per ``(title, results, selection score)``: each val
    set's accuracy and recall of worn incorrectly and of no mask (false alarms on bare faces show there), each
    with k/n and a 95 % Wilson interval, then the score."""
    recalls = {"worn incorrectly": LABELS.index("incorrectly_masked"), "no mask": LABELS.index("not_masked")}
    lines = ["| val set | " + " | ".join(t for t, _, _ in columns) + " |", "|---|" + "---|" * len(columns)]
    for name in columns[0][1]:
        cells = []
        by_class: dict[str, list[str]] = {title: [] for title in recalls}
        for _, res, _ in columns:
            cm = res[name]["confusion"]
            cells.append(format_interval(interval(sum(cm[i][i] for i in range(len(cm))), res[name]["n"])))
            for title, c in recalls.items():
                by_class[title].append(format_interval(interval(cm[c][c], sum(cm[c]))) if sum(cm[c]) else "-")
        lines.append(f"| {name}: accuracy | " + " | ".join(cells) + " |")
        for title, row in by_class.items():
            if any(c != "-" for c in row):
                lines.append(f"| {name}: {title} recall | " + " | ".join(row) + " |")
    lines.append(f"| score (--select {select or 'all'}) | " + " | ".join(f"{s:.3f}" for _, _, s in columns) + " |")
    return "\n".join(lines)


def validate_weights(cfg: TrainConfig, weights: list[str]) -> list[dict[str, Any]]:
    """Score each weights file on the validation sets of ``cfg`` (its data, landmarks and ``--holdout``) as a
    training epoch is scored; print a table (:func:`val_table`: accuracy and recalls, each with k/n and a 95 %
    Wilson interval) and each file's selection score under ``cfg.select``. Returns one row per file."""
    spec = get_spec(cfg.model)
    models = [load_model(cfg.model, w) for w in weights]  # a bad file fails here, before the val sets are built
    val = fixed_eval_set(
        Path(cfg.data), Path(cfg.landmarks), "val", holdout=cfg.holdout, views=cfg.val_views, size=cfg.val_size
    )
    out: list[dict[str, Any]] = []
    for w, lm in zip(weights, models):
        res = validate(lm.model, spec, val)
        out.append({"weights": w, "score": selection_score(res, cfg.select), "sets": res})
    print(val_table([(Path(r["weights"]).name, r["sets"], r["score"]) for r in out], cfg.select))
    return out


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg, instead = parse_args(argv)
    if instead.export_last:
        print(f"last epoch's weights: {export_last(instead.export_last)}")
        return
    if instead.validate:
        try:
            validate_weights(cfg, instead.validate)
        except (ValueError, FileNotFoundError) as exc:  # a missing or foreign weights file: say which, no traceback
            raise SystemExit(f"error: --validate: {exc}") from None
        return
    print(f"best weights: {train(cfg)}")


if __name__ == "__main__":
    main()
