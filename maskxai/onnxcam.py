"""Live mode's classifier on ONNX Runtime: each face's logits and its CAM layer's activations from one run.

On the CPU, ONNX Runtime runs these two networks' forward pass about 1.4-2x faster than PyTorch eager (measured
with ``python -m maskxai.bench``; see the README's live-mode table), with the same outputs up to float rounding.
Live mode needs only that pass: Grad-CAM at the default layer needs no backward pass (see
:func:`maskxai.explain.gradcam.linear_head_weights`), so the maps are the same as PyTorch's.

The model (as loaded, BatchNorm folded) is exported once with ``torch.onnx.export`` (15-30 s on 2 cores), by a
child process at low priority started from a background thread, so the live view runs on PyTorch until it is
ready (and the server's own frames never meet the exporter's tracer); the file is
kept in ``MASKXAI_CACHE`` (default ``~/.cache/maskxai``), named by a hash of the weights, the layer and the
library versions, so a later start loads it at once. Only on the CPU (a GPU runs PyTorch), only when
``onnxruntime`` is installed, and ``MASKXAI_LIVE_RUNTIME=torch`` turns it off.

    runner = cam_runner(lm)            # None until the export is done (it starts it)
    logits, acts = runner(pixels)      # (N, classes), (N, channels, h, w)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import logging
import os
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .device import device
from .explain.base import PixelModel
from .fuse import fold_batchnorm
from .registry import ModelSpec
from .weights import LoadedModel

log = logging.getLogger(__name__)

RUNTIMES = ("onnx", "torch")


def runtime_wanted() -> str:
    """``MASKXAI_LIVE_RUNTIME``: ``onnx`` (default: ONNX Runtime where it can run) or ``torch``.

    Raises:
        ValueError: Another value.
    """
    name = os.environ.get("MASKXAI_LIVE_RUNTIME", "onnx").strip().lower() or "onnx"
    if name not in RUNTIMES:
        raise ValueError(f"MASKXAI_LIVE_RUNTIME={name!r}: use one of {', '.join(RUNTIMES)}.")
    return name


def available() -> str:
    """``""`` if live mode can run on ONNX Runtime here, else why not (in words)."""
    if runtime_wanted() == "torch":
        return "MASKXAI_LIVE_RUNTIME=torch"
    if device().type != "cpu":
        return f"the models run on {device().type}"
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as exc:
        return f"{exc.name} is not installed"
    return ""


class _LayerOut(nn.Module):
    """``pixels -> (logits, the layer's output)``, normalisation included: what is exported. Self-contained (no
    :class:`~maskxai.registry.ModelSpec`), so that it can be pickled to the exporting process."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: nn.Module, layer: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.model = model
        self.layer = layer
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kept: dict[str, torch.Tensor] = {}
        handle = self.layer.register_forward_hook(lambda mod, inputs, output: kept.update(a=output))
        try:
            logits = self.model((pixels - self.mean) / self.std)  # maskxai.registry.normalize
        finally:
            handle.remove()
        return logits, kept["a"]


def weights_digest(model: nn.Module) -> str:
    """A short hash of every parameter and buffer (names, shapes and values)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    return Path(os.environ.get("MASKXAI_CACHE") or Path.home() / ".cache" / "maskxai") / "onnx"


MAX_BATCH = 16
"""Most images one run takes (the exported batch axis is bounded); :class:`OnnxCam` splits larger batches."""


def _twin(model: nn.Module, spec: ModelSpec) -> nn.Module:
    """A new model of ``spec`` holding ``model``'s weights, built from its state (only read): the served model
    itself may carry another thread's passing hooks, so it is neither pickled nor copied."""
    state = model.state_dict()
    twin = spec.build().eval()
    try:
        twin.load_state_dict(state)
    except RuntimeError:  # the served model has its BatchNorm folded (maskxai.pipeline.get_model)
        twin, _ = fold_batchnorm(twin)
        twin.load_state_dict(state)
    return twin


def export(pm: PixelModel, layer: str, path: Path, max_batch: int = MAX_BATCH) -> Path:
    """Write ``pm`` as ONNX with two outputs, ``logits`` and ``acts`` (``layer``'s output), batch size 1 to
    ``max_batch``.

    The export runs in a child process at low priority (``python -m maskxai.onnxcam``): torch's tracer patches
    ``nn.Module.__call__`` for the whole process, which would break the frames this one serves meanwhile.

    Raises:
        ValueError: ``layer`` is not one of the model's CAM layers.
        RuntimeError: The export failed (the end of its error output is in the message).
    """
    if layer not in pm.spec.cam_layers:
        raise ValueError(f"{layer!r} is not a CAM layer of {pm.spec.name}: use one of {pm.spec.cam_layers}.")
    twin = _twin(pm.model, pm.spec)
    wrapper = _LayerOut(twin, pm.spec.cam_layer(twin, layer), pm.spec.mean, pm.spec.std)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    with tempfile.TemporaryDirectory() as d:
        module = Path(d) / "module.pt"
        torch.save(wrapper, module)
        cmd = [sys.executable, "-m", "maskxai.onnxcam", str(module), str(tmp), "--side", str(pm.spec.input_size)]
        done = subprocess.run([*cmd, "--max-batch", str(max_batch)], env=env, capture_output=True, text=True)
    if done.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"the ONNX export of {pm.spec.name} failed (exit {done.returncode}): {tail}")
    tmp.replace(path)  # atomic: a reader never sees half a file
    return path


def _export_main(argv: list[str] | None = None) -> None:
    """The child of :func:`export`: a pickled :class:`_LayerOut` in, an ONNX file out."""
    p = argparse.ArgumentParser(prog="python -m maskxai.onnxcam", description="internal: see maskxai.onnxcam.export")
    p.add_argument("module", help="a torch.save'd _LayerOut written by maskxai.onnxcam.export")
    p.add_argument("out", help="the ONNX file to write")
    p.add_argument("--side", type=int, required=True)
    p.add_argument("--max-batch", type=int, default=MAX_BATCH)
    a = p.parse_args(argv)
    if hasattr(os, "nice"):
        os.nice(10)  # the server's frames first
    torch.set_num_threads(1)
    for name in ("onnxscript", "onnx_ir"):  # their INFO lines are the exporter's own passes
        logging.getLogger(name).setLevel(logging.WARNING)
    wrapper = torch.load(a.module, weights_only=False).eval()  # our own file, written by our parent
    wrapper.model.to(memory_format=torch.contiguous_format)
    x = torch.rand(2, 3, a.side, a.side)
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its steps
        torch.onnx.export(
            wrapper,
            (x,),
            a.out,
            input_names=["pixels"],
            output_names=["logits", "acts"],
            dynamic_shapes=({0: torch.export.Dim("faces", min=1, max=a.max_batch)},),
            dynamo=True,
            external_data=False,
        )


class OnnxCam:
    """An ONNX Runtime session of :func:`export`'s model: ``runner(pixels) -> (logits, acts)`` as tensors."""

    def __init__(self, path: Path, layer: str, threads: int | None = None):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or torch.get_num_threads()
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy wait between frames
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.layer = layer
        self.path = path

    def __call__(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = np.ascontiguousarray(pixels.detach().float().cpu().numpy())
        parts = [self.session.run(None, {"pixels": x[i : i + MAX_BATCH]}) for i in range(0, len(x), MAX_BATCH)]
        logits, acts = (np.concatenate(p) for p in zip(*parts))
        return torch.from_numpy(logits), torch.from_numpy(acts)


def build(lm: LoadedModel, layer: str | None = None, threads: int | None = None) -> OnnxCam:
    """:class:`OnnxCam` of ``lm`` at ``layer`` (default the first CAM layer), running on ``threads`` threads
    (default PyTorch's): from the cache, else exported."""
    name = layer or lm.spec.cam_layers[0]
    import onnxruntime as ort

    key = f"{weights_digest(lm.model)}-{name}-torch{torch.__version__}-ort{ort.__version__}"
    path = cache_dir() / f"{lm.spec.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"
    if path.is_file():
        try:
            return OnnxCam(path, name, threads)
        except Exception as exc:  # a damaged file (ONNX Runtime's own error types): made again below
            log.warning("live mode: %s cannot be loaded (%s); exporting again", path, exc)
            path.unlink(missing_ok=True)
    log.info("live mode: exporting %s to ONNX (%s) ...", lm.spec.name, path)
    try:
        export(PixelModel(lm.model, lm.spec), name, path)
    except OSError:  # the cache cannot be written: a temporary folder, for this process
        path = export(PixelModel(lm.model, lm.spec), name, Path(tempfile.mkdtemp()) / path.name)
    return OnnxCam(path, name, threads)


_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-export")
_BUILDS: dict[tuple[int, str], Future[OnnxCam]] = {}
_LOCK = threading.Lock()


def cam_runner(lm: LoadedModel, layer: str | None = None, wait: bool = False) -> OnnxCam | None:
    """The ONNX Runtime runner of ``lm`` if it is ready (its export is started on the first call, in the
    background), else ``None``: the caller runs PyTorch meanwhile. ``None`` also where it cannot run
    (:func:`available`) or the export failed (logged once). ``wait`` blocks until it is built."""
    if available():
        return None
    key = (id(lm.model), layer or lm.spec.cam_layers[0])
    with _LOCK:
        fut = _BUILDS.get(key)
        if fut is None:
            fut = _BUILDS[key] = _POOL.submit(build, lm, layer, torch.get_num_threads())  # the caller's threads
            fut.add_done_callback(_log_failure)
    if not (wait or fut.done()):
        return None
    try:
        return fut.result()
    except Exception:  # logged by _log_failure; live mode stays on PyTorch
        return None


def _log_failure(fut: Future[Any]) -> None:
    exc = fut.exception()
    if exc is not None:
        log.warning("live mode stays on PyTorch: the ONNX export failed (%s: %s)", type(exc).__name__, exc)


if __name__ == "__main__":
    _export_main()
