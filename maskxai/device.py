"""Where the models run: a GPU when there is one (CUDA, then Apple's MPS), else the CPU.

``MASKXAI_DEVICE`` overrides (``cpu``, ``cuda``, ``cuda:1``, ``mps``). The CPU is the tested default: the test
machine has no GPU, so the CUDA path is exercised only where one is present. On a Hugging Face ZeroGPU Space the
GPU is lent per call: :func:`gpu_call` wraps the work in ``spaces.GPU`` when the ``spaces`` package is installed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])


def select_device(requested: str | None = None) -> torch.device:
    """``requested`` (default: ``MASKXAI_DEVICE``), else CUDA, then MPS, if available, else the CPU.

    Raises:
        ValueError: The requested device is not a torch device name, or is not available here.
    """
    name = (requested if requested is not None else os.environ.get("MASKXAI_DEVICE", "")).strip().lower()
    if not name or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"MASKXAI_DEVICE={name!r} is not a device: use cpu, cuda, cuda:N, mps or auto.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"MASKXAI_DEVICE={name!r}, but torch sees no CUDA GPU here: use cpu or auto.")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"MASKXAI_DEVICE={name!r}, but this machine has no Apple MPS: use cpu or auto.")
    return device


@functools.lru_cache(maxsize=1)
def device() -> torch.device:
    """The process's device, chosen once (see :func:`select_device`)."""
    return select_device()


def gpu_call(fn: F) -> F:
    """``fn`` wrapped in ``spaces.GPU`` on a Hugging Face ZeroGPU Space (``spaces`` installed and ``SPACE_ID``
    set); ``fn`` itself everywhere else."""
    if not os.environ.get("SPACE_ID"):
        return fn
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return fn
    return spaces.GPU(fn)  # type: ignore[no-any-return]
