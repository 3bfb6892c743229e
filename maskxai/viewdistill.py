"""Cross-view distillation: a model teaches itself to read its inputs as another camera shows them.

The shipped models find a mask worn below the nose far less often in grayscale video frames than in colour photos
(docs/experiments.md, "Video frames"), and training on labelled video frames moved them little on this project's
CPU. Here
the frozen teacher (the weights the student starts from, unless ``--init`` names others) sees each augmented
training draw as it is, and the student sees the same draw through a view (:data:`maskxai.augment.TRAIN_VIEWS`;
``video``: grayscale at 48-80 px). The student is trained to match, on the viewed draw, the teacher's softened
probabilities (KL at temperature ``T``) and its pooled features (``ModelSpec.pool``, MSE relative to their mean
square): a dense target for every face, labelled or not, rather than one of three labels (cross-modal distillation:
Gupta, Hoffman and Malik, "Cross Modal Distillation for Supervision Transfer", CVPR 2016). A small label term is
kept, and the first ``plain`` draws of each batch are also shown to the student unchanged and matched the same way,
so that it keeps what it does on colour photos. BatchNorm statistics stay frozen: re-estimated on grayscale draws
they were far worse on every validation row.

    python -m maskxai.viewdistill --model inception_resnet_v1 --out runs/viewdistill --steps 700

writes ``<out>/best.safetensors`` (its metadata continues the chain of runs of the weights it started from, so
:mod:`maskxai.soup` can average it with the teacher and the model card lists the step; ``--init`` continues an
earlier run's student with the same teacher); ``<out>/last.pt``
(every ``--checkpoint-every`` steps) lets a stopped run resume where it was. Measured runs:
docs/experiments.md, "Teaching the model to read video frames by itself"; ``scripts/device_viewdistill.sh`` is the
one-call GPU run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm import tqdm

from .augment import TRAIN_VIEWS
from .device import device
from .distill import soft_kl
from .preprocess import to_input
from .registry import LABELS, ModelSpec, get_spec, list_models
from .train import REPO_ROOT, TrainConfig, device_label, runs_of, train_mode, with_mix
from .trainset import Mixture, standard_sources
from .weights import load_model, read_metadata, resolve_weights, save_weights


@dataclass
class ViewDistillConfig:
    model: str = "inception_resnet_v1"
    teacher: str = ""  # the teacher's weights (default: the shipped file)
    init: str = ""  # the student's start (default: the teacher), e.g. an earlier run's best.safetensors
    out: str = ""  # default: runs/<model>_viewdistill
    view: str = "video"  # the view the student learns to read (augment.TRAIN_VIEWS)
    steps: int = 700
    batch_size: int = 32
    plain: int = 8  # the first draws of each batch also shown to the student unchanged
    lr: float = 1e-4
    warmup_steps: int = 20
    weight_decay: float = 0.05
    temperature: float = 2.0
    label_weight: float = 0.2  # cross-entropy on the viewed draws' labels
    plain_weight: float = 0.5  # matching on the unchanged draws
    mix: str = "synthetic=0.3,face-mask-12k=0.08,maskedface-net=0.22,face-mask-detection=0.4"
    placements: str = (
        "correct=0.08,none=0.08,below_nose=0.04,chin=0.02,nose_mouth=0.02,real_correct=0.25,real_none=0.25,"
        "real_below_nose=0.12,real_chin=0.06,real_nose_mouth=0.04,real_hanging=0.04"
    )
    seed: int = 11
    threads: int = 2
    workers: int = 1
    checkpoint_every: int = 100
    time_budget_min: float = 0.0  # stop (and save) once a run has trained this long; 0: no limit
    data: str = TrainConfig.data
    landmarks: str = TrainConfig.landmarks


def command_of(cfg: dict[str, Any]) -> str:
    """The ``python -m maskxai.viewdistill`` command line of a run's config (options at their default omitted;
    paths inside this repository relative to it, an ``--out`` folder as ``runs/<name>``)."""
    defaults = dataclasses.asdict(ViewDistillConfig())
    parts = ["python -m maskxai.viewdistill", f"--model {cfg['model']}"]
    for name, value in cfg.items():
        if name in ("model", "data", "landmarks") or name not in defaults or value == defaults[name]:
            continue
        text = str(value)
        if name in ("teacher", "init") and Path(text).is_absolute() and Path(text).is_relative_to(REPO_ROOT):
            text = str(Path(text).relative_to(REPO_ROOT))
        if name == "out" and Path(text).is_absolute():
            text = str(Path("runs") / Path(text).name)
        flag = f"--{name.replace('_', '-')}"
        parts.append(f'{flag} "{text}"' if "," in text or " " in text else f"{flag} {text}")
    return " ".join(parts)


class ViewPairs(torch.utils.data.Dataset):
    """Each draw of ``mixture`` as it is and seen through ``view``, both as model inputs, with its label."""

    def __init__(self, mixture: Mixture, view: str):
        if view not in TRAIN_VIEWS:
            raise ValueError(f"view {view!r} does not exist; there are: {', '.join(TRAIN_VIEWS)}")
        self.mixture, self.view = mixture, TRAIN_VIEWS[view]

    def __len__(self) -> int:
        return len(self.mixture)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        img, label, rng = self.mixture.draw(i)
        seen: Image.Image = self.view(img, rng)
        spec = self.mixture.spec
        return to_input(img, spec)[0], to_input(seen, spec)[0], LABELS.index(label)


def match_loss(
    student_logits: torch.Tensor,
    student_feats: torch.Tensor,
    teacher_logits: torch.Tensor,
    teacher_feats: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """``T^2 * KL(teacher_T || student_T) + MSE(features) / mean(teacher features^2)``, batch means."""
    feat = F.mse_loss(student_feats, teacher_feats) / teacher_feats.pow(2).mean().clamp_min(1e-8)
    return soft_kl(student_logits, teacher_logits, temperature) + feat


def lr_at(step: int, cfg: ViewDistillConfig, minutes: float = 0.0) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine to 0 at ``steps``, or with a time budget at whichever of
    ``steps`` and ``time_budget_min`` (``minutes`` trained so far) comes first."""
    warm = min(1.0, (step + 1) / max(cfg.warmup_steps, 1))
    progress = step / cfg.steps
    if cfg.time_budget_min:
        progress = max(progress, minutes / cfg.time_budget_min)
    return cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


class _Pooled:
    """The output of ``spec.pool`` of a model at its last forward pass, flattened."""

    def __init__(self, model: nn.Module, spec: ModelSpec):
        self.value: torch.Tensor | None = None
        model.get_submodule(spec.pool).register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self.value = output.flatten(1)


def run(cfg: ViewDistillConfig) -> Path:
    """Train the student (resuming ``<out>/last.pt`` if there is one); return ``<out>/best.safetensors``."""
    spec = get_spec(cfg.model)
    if not 0 <= cfg.plain <= cfg.batch_size:
        raise ValueError(f"--plain must be between 0 and --batch-size ({cfg.batch_size}), got {cfg.plain}")
    if cfg.view not in TRAIN_VIEWS:
        raise ValueError(f"--view {cfg.view!r} does not exist; there are: {', '.join(TRAIN_VIEWS)}")
    teacher_path, _ = resolve_weights(spec, cfg.teacher or None)
    cfg = dataclasses.replace(cfg, teacher=cfg.teacher or str(teacher_path))
    out = Path(cfg.out or REPO_ROOT / "runs" / f"{cfg.model}_viewdistill")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)

    dev = device()  # MASKXAI_DEVICE, else CUDA if there is one, else the CPU
    teacher = load_model(cfg.model, teacher_path).model.eval().to(dev)
    init_path = Path(cfg.init) if cfg.init else teacher_path
    if not init_path.is_file():
        raise FileNotFoundError(f"--init {cfg.init}: no such weights file; pass a best.safetensors of an earlier run")
    student = load_model(cfg.model, init_path).model.to(dev)
    for p in student.parameters():
        p.requires_grad_(True)
    t_feats, s_feats = _Pooled(teacher, spec), _Pooled(student, spec)
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, elapsed = 0, 0.0
    if (out / "last.pt").is_file():
        ck = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        if ck["config"] != dataclasses.asdict(cfg):
            raise ValueError(f"{out / 'last.pt'} was written by another configuration; pass another --out")
        student.load_state_dict(ck["student"])
        opt.load_state_dict(ck["opt"])
        start, elapsed = ck["step"], ck["elapsed"]
        print(f"resuming at step {start} of {cfg.steps}")

    sources = with_mix(standard_sources(Path(cfg.data), Path(cfg.landmarks), "train"), cfg.mix, cfg.placements)
    pairs = ViewPairs(Mixture(sources, spec, cfg.steps * cfg.batch_size, seed=cfg.seed), cfg.view)
    order = range(start * cfg.batch_size, cfg.steps * cfg.batch_size)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(pairs, order), batch_size=cfg.batch_size, num_workers=cfg.workers, drop_last=True
    )
    train_mode(student, freeze_bn=True)
    log = (out / "log.jsonl").open("a")
    t0, step = time.time(), start
    bar = tqdm(loader, desc=f"{cfg.view} distillation", unit="batch", initial=start, total=cfg.steps)
    for plain, seen, y in bar:
        if _out_of_time(cfg, elapsed / 60):
            break  # resumed after its budget ran out: nothing left to train
        plain, seen, y = plain.to(dev), seen.to(dev), y.to(dev)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg, (elapsed + time.time() - t0) / 60)
        with torch.no_grad():
            t_logits = teacher(plain)
        t_f = t_feats.value
        assert t_f is not None
        logits = student(torch.cat([seen, plain[: cfg.plain]]))
        feats = s_feats.value
        assert feats is not None
        b = seen.shape[0]
        loss_seen = match_loss(logits[:b], feats[:b], t_logits, t_f, cfg.temperature)
        loss = loss_seen + cfg.label_weight * F.cross_entropy(logits[:b], y, label_smoothing=0.1)
        if cfg.plain:
            loss = loss + cfg.plain_weight * match_loss(
                logits[b:], feats[b:], t_logits[: cfg.plain], t_f[: cfg.plain], cfg.temperature
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(student.parameters(), 2.0)
        opt.step()
        step += 1
        bar.set_postfix(loss=f"{loss.item():.3f}", match=f"{loss_seen.item():.3f}")
        if step % 20 == 0 or step == cfg.steps:
            minutes = (elapsed + time.time() - t0) / 60
            log.write(
                json.dumps({"step": step, "loss": loss.item(), "match": loss_seen.item(), "minutes": minutes}) + "\n"
            )
            log.flush()
        over = _out_of_time(cfg, (elapsed + time.time() - t0) / 60)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or over:
            _checkpoint(out / "last.pt", student, opt, step, elapsed + time.time() - t0, cfg)
        if over:
            print(f"time budget of {cfg.time_budget_min} min reached after step {step} of {cfg.steps}")
            break
    log.close()
    student.eval()
    minutes = (elapsed + time.time() - t0) / 60
    return save_student(student, spec, out / "best.safetensors", cfg, init_path, minutes, device_label(dev), step)


def _out_of_time(cfg: ViewDistillConfig, minutes: float) -> bool:
    """Whether a run that has trained ``minutes`` has used up its time budget (never, without one)."""
    return bool(cfg.time_budget_min) and minutes >= cfg.time_budget_min


def _checkpoint(
    path: Path, student: nn.Module, opt: torch.optim.Optimizer, step: int, elapsed: float, cfg: ViewDistillConfig
) -> None:
    tmp = path.with_suffix(".tmp")
    ck = {
        "student": student.state_dict(),
        "opt": opt.state_dict(),
        "step": step,
        "elapsed": elapsed,
        "config": dataclasses.asdict(cfg),
    }
    torch.save(ck, tmp)
    tmp.replace(path)


def save_student(
    student: nn.Module,
    spec: ModelSpec,
    path: Path,
    cfg: ViewDistillConfig,
    start: Path,
    minutes: float,
    where: str,
    steps_done: int,
) -> Path:
    """The student's weights; their chain of runs is that of the weights it started from (``start``: the teacher,
    or ``--init``) plus this step (``steps_done``: fewer than ``cfg.steps`` when the time budget stopped it)."""
    meta = read_metadata(start)
    step = {"config": dataclasses.asdict(cfg), "minutes": minutes, "device": where, "steps_done": steps_done}
    extra = {k: v for k, v in meta.get("extra", {}).items() if k not in ("epoch", "val", "calibration", "average")}
    extra["runs"] = [*runs_of(meta), {"viewdistill": step}]
    return save_weights(student, spec, path, extra=extra)


def main(argv: list[str] | None = None) -> None:
    d = ViewDistillConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list_models(), default=d.model)
    for f in dataclasses.fields(ViewDistillConfig):
        if f.name == "model":
            continue
        default = getattr(d, f.name)
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(default), default=default)
    cfg = ViewDistillConfig(**vars(p.parse_args(argv)))
    try:
        print(f"student weights: {run(cfg)}")
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
