"""Saving and finding model weights: safetensors with metadata.

Resolution order for :func:`resolve_weights`:

1. an explicit path, if given;
2. the repository's ``checkpoints/`` folder (or ``MASKXAI_CHECKPOINTS``);
3. the Hugging Face Hub: ``MASKXAI_HUB_REPO`` (default: the spec's repo) at
   ``MASKXAI_HUB_REVISION`` (default: the spec's pinned revision), through
   ``hf_hub_download`` so ``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` and the Hub
   cache are honoured. ``MASKXAI_NO_HUB=1`` skips this step.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from .registry import ModelSpec, get_spec

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
FORMAT_VERSION = "1"


class WeightsNotFoundError(FileNotFoundError):
    """No weights file was found anywhere; the message lists where we looked."""


class WeightsMismatchError(ValueError):
    """A weights file does not fit the architecture it claims to be."""


@dataclass
class LoadedModel:
    """A model ready for inference and where its weights came from."""

    spec: ModelSpec
    model: nn.Module
    source: str
    trained: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def checkpoints_dir() -> Path:
    """The local checkpoints folder (``MASKXAI_CHECKPOINTS`` overrides the repository's)."""
    return Path(os.environ.get("MASKXAI_CHECKPOINTS", REPO_ROOT / "checkpoints"))


def hub_location(spec: ModelSpec) -> tuple[str, str]:
    """The Hub repo id and revision to use for ``spec``, after environment overrides."""
    return (
        os.environ.get("MASKXAI_HUB_REPO", spec.hub_repo),
        os.environ.get("MASKXAI_HUB_REVISION", spec.hub_revision),
    )


def save_weights(
    model: nn.Module, spec: ModelSpec, path: str | Path, *, half: bool = True, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s state dict as safetensors with the metadata needed to rebuild it.

    Args:
        model: The trained model.
        spec: Its registry entry (architecture, labels, input size, normalisation).
        path: Destination file.
        half: Store floating-point tensors as fp16 (half the size; loaded back as fp32).
        extra: More metadata (e.g. metrics), stored as JSON.
    """
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        tensors[k] = v
    meta = {
        "format_version": FORMAT_VERSION,
        "architecture": spec.name,
        "labels": json.dumps(list(spec.labels)),
        "input_size": str(spec.input_size),
        "mean": json.dumps(list(spec.mean)),
        "std": json.dumps(list(spec.std)),
        "extra": json.dumps(extra or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a weights file written by :func:`save_weights`, JSON fields decoded."""
    with safe_open(str(path), framework="pt") as f:
        raw = f.metadata() or {}
    meta: dict[str, Any] = dict(raw)
    for key in ("labels", "mean", "std", "extra"):
        if key in meta:
            meta[key] = json.loads(meta[key])
    if "input_size" in meta:
        meta["input_size"] = int(meta["input_size"])
    return meta


def resolve_weights(spec: ModelSpec, path: str | Path | None = None) -> tuple[Path, str]:
    """Find the weights file for ``spec``; return its path and a description of the source.

    Raises:
        WeightsNotFoundError: Nothing found; the message lists every place tried and how to fix it.
    """
    if path is not None:
        p = Path(path)
        if p.is_file():
            return p, f"file {p}"
        raise WeightsNotFoundError(
            f"The weights file {p} does not exist. Check the path, or leave it out to use the defaults."
        )
    tried: list[str] = []
    local = checkpoints_dir() / spec.weights_file
    if local.is_file():
        return local, f"local {local}"
    tried.append(f"{local} (no such file)")
    if os.environ.get("MASKXAI_NO_HUB") == "1":
        tried.append("Hugging Face Hub (skipped: MASKXAI_NO_HUB=1)")
    else:
        repo, revision = hub_location(spec)
        try:
            got = _hub_download(repo, spec.weights_file, revision)
            return got, f"hub {repo}@{revision}"
        except Exception as exc:  # noqa: BLE001 - every Hub failure becomes the message below, chained
            tried.append(f"Hugging Face Hub {repo}@{revision}/{spec.weights_file} ({_hub_reason(exc)})")
            cause: Exception | None = exc
        else:  # pragma: no cover
            cause = None
        raise WeightsNotFoundError(_not_found_message(spec, tried)) from cause
    raise WeightsNotFoundError(_not_found_message(spec, tried))


def _not_found_message(spec: ModelSpec, tried: list[str]) -> str:
    return (
        f"No weights found for {spec.name}. Looked in: " + "; ".join(tried) + ". "
        f"Fix: train them (python -m maskxai.train --model {spec.name}), put {spec.weights_file} in "
        f"{checkpoints_dir()}, or point MASKXAI_HUB_REPO / MASKXAI_HUB_REVISION at a Hub repo that has it."
    )


def _hub_download(repo: str, filename: str, revision: str) -> Path:
    # Imported here: huggingface_hub reads HF_ENDPOINT / HF_HUB_OFFLINE at import time.
    from huggingface_hub import constants, hf_hub_download

    # The client retries a dead endpoint for ~25 s; probe it once and fall back to the cache at once.
    cache_only = constants.HF_HUB_OFFLINE or not _reachable(constants.ENDPOINT)
    return Path(
        hf_hub_download(repo_id=repo, filename=filename, revision=revision, etag_timeout=5, local_files_only=cache_only)
    )


def _reachable(url: str, timeout: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    u = urlparse(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        with socket.create_connection((u.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        log.info("Hub endpoint %s is unreachable; using the Hub cache only", url)
        return False


def _hub_reason(exc: Exception) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "LocalEntryNotFound" in name or "Offline" in name:
        return "Hub unreachable or offline, and not in the Hub cache"
    if "EntryNotFound" in name:
        return "the repo has no such file"
    if "RepositoryNotFound" in name:
        return "no such repo, or it is private"
    if "RevisionNotFound" in name:
        return "no such revision"
    return f"{name}: {text[:200]}"


def load_state(model: nn.Module, path: Path, spec: ModelSpec) -> dict[str, Any]:
    """Load ``path`` into ``model`` strictly; return the file's metadata.

    Raises:
        WeightsMismatchError: Architecture, labels or tensors do not match.
    """
    meta = read_metadata(path)
    arch = meta.get("architecture")
    if arch is not None and arch != spec.name:
        raise WeightsMismatchError(f"{path} holds weights for {arch!r}, not {spec.name!r}. Pick the matching model.")
    labels = meta.get("labels")
    if labels is not None and tuple(labels) != tuple(spec.labels):
        raise WeightsMismatchError(f"{path} was trained for labels {labels}, but {spec.name} uses {list(spec.labels)}.")
    state: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt", device="cpu") as f:
        for k in f.keys():  # noqa: SIM118 - safe_open has no __iter__
            state[k] = f.get_tensor(k).float() if f.get_tensor(k).is_floating_point() else f.get_tensor(k)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsMismatchError(f"{path} does not fit the {spec.name} architecture: {str(exc)[:500]}") from exc
    return meta


def load_model(name: str, weights: str | Path | None = None, *, allow_untrained: bool = False) -> LoadedModel:
    """Build model ``name`` and load its weights (see :func:`resolve_weights` for where from).

    Args:
        name: A registered model name.
        weights: Explicit weights file; default: checkpoints/, then the Hub.
        allow_untrained: If no weights are found, return randomly initialised
            weights (``trained=False``) instead of raising.

    Raises:
        ValueError: Unknown model name.
        WeightsNotFoundError: No weights, and ``allow_untrained`` is false.
        WeightsMismatchError: The file does not fit the architecture.
    """
    spec = get_spec(name)
    model = spec.build()
    try:
        path, source = resolve_weights(spec, weights)
    except WeightsNotFoundError as exc:
        if not allow_untrained or weights is not None:
            raise
        log.warning("%s", exc)
        torch.manual_seed(0)
        model = spec.build()
        return LoadedModel(spec, _freeze(model), source=f"untrained ({exc})", trained=False)
    meta = load_state(model, path, spec)
    log.info("loaded %s from %s", name, source)
    return LoadedModel(spec, _freeze(model), source=source, trained=True, metadata=meta)


def _freeze(model: nn.Module) -> nn.Module:
    # Explanations need input gradients only: parameter gradients would double the backward cost.
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
