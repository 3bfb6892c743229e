"""Knowledge distillation: a trained model of ours teaches another one while it trains.

The teacher sees the very same augmented batch as the student (consistent views,
as in Beyer et al., 2022, "Knowledge distillation: A good teacher is patient and
consistent"); only the normalisation is converted when the two models normalise
differently. The loss mixes the usual cross-entropy on the labels with the KL
divergence to the teacher's softened probabilities (Hinton et al., 2015).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .registry import ModelSpec, get_spec, normalize
from .weights import load_model, read_metadata


def renormalize(x: torch.Tensor, src: ModelSpec, dst: ModelSpec) -> torch.Tensor:
    """``x`` normalised for ``src``, normalised for ``dst`` instead (same pixels)."""
    if (src.mean, src.std) == (dst.mean, dst.std):
        return x
    mean = torch.tensor(src.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(src.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return normalize(x * std + mean, dst)


class Teacher(nn.Module):
    """A frozen trained model that returns its logits for a batch normalised for the student."""

    def __init__(self, model: nn.Module, spec: ModelSpec, student: ModelSpec, bf16: bool = True):
        super().__init__()
        if tuple(spec.labels) != tuple(student.labels):
            raise ValueError(
                f"the teacher ({spec.name}) predicts {list(spec.labels)} but the student ({student.name}) predicts "
                f"{list(student.labels)}; pick a teacher trained for the same labels"
            )
        if spec.input_size != student.input_size:
            raise ValueError(
                f"the teacher ({spec.name}) takes {spec.input_size} px and the student ({student.name}) "
                f"{student.input_size} px; both must see the same batch, so pick models of one input size"
            )
        self.model, self.spec, self.student, self.bf16 = model.eval(), spec, student, bf16
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.eval()

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.model(renormalize(x, self.student, self.spec)).float()

    def train(self, mode: bool = True) -> Teacher:  # always in eval mode: BatchNorm statistics stay fixed
        return super().train(False)


def load_teacher(path: str | Path, student: ModelSpec, bf16: bool = True) -> Teacher:
    """The teacher in the weights file ``path`` (one of ours: its metadata names the architecture)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"teacher weights {path} not found; pass a .safetensors written by maskxai.train")
    arch = read_metadata(path).get("architecture")
    if not arch:
        raise ValueError(f"{path} does not say which architecture it holds; pass weights written by maskxai.train")
    loaded = load_model(arch, path)
    model = loaded.model.to(memory_format=torch.channels_last)
    return Teacher(model, get_spec(arch), student, bf16=bf16)


def soft_kl(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(teacher_T || student_T)``, a batch mean: the soft term of Hinton et al. (2015)."""
    t = temperature
    kl = F.kl_div(
        F.log_softmax(logits / t, dim=1),
        F.log_softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return t * t * kl


class DistillLoss(nn.Module):
    """``(1 - weight) * CE(student, labels) + weight * T^2 * KL(teacher_T || student_T)``.

    ``T`` (``temperature``) softens both distributions; the ``T^2`` factor keeps the
    gradient scale of the soft term independent of ``T`` (Hinton et al., 2015).

    With ``agree_only`` the teacher speaks only on the images it labels right (its top class is the
    label); on the others the loss is the plain cross-entropy. A fine-tune that distils from the weights
    it starts from then keeps what they already knew and learns the rest from the labels alone
    (the teacher's wrong answers are exactly what the fine-tune is for).
    """

    def __init__(
        self, weight: float = 0.5, temperature: float = 2.0, label_smoothing: float = 0.0, agree_only: bool = False
    ):
        super().__init__()
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"distillation weight must be in [0, 1], got {weight}")
        if temperature <= 0:
            raise ValueError(f"distillation temperature must be > 0, got {temperature}")
        self.weight, self.temperature, self.agree_only = weight, temperature, agree_only
        self.ce = nn.CrossEntropyLoss(label_smoothing=label_smoothing, reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        student, teacher = F.log_softmax(logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1)
        kl = t * t * F.kl_div(student, teacher, reduction="none", log_target=True).sum(1)  # per image, as soft_kl
        w = torch.full_like(kl, self.weight)
        if self.agree_only:
            w = w * (teacher_logits.argmax(1) == target).to(w.dtype)
        return ((1 - w) * self.ce(logits, target) + w * kl).mean()
