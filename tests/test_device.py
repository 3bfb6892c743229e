"""Device selection: the CPU when forced or when there is no GPU; a sentence for a device that is not there."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from maskxai.device import gpu_call, select_device

NO_CUDA = not torch.cuda.is_available()


def test_cpu_forced_by_argument_and_by_variable(monkeypatch):
    assert select_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("MASKXAI_DEVICE", " CPU ")
    assert select_device() == torch.device("cpu")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU")
def test_auto_is_the_cpu_without_a_gpu_and_cuda_asked_for_is_a_sentence(monkeypatch):
    monkeypatch.delenv("MASKXAI_DEVICE", raising=False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device() == torch.device("cpu") and select_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="sees no CUDA GPU here: use cpu or auto"):
        select_device("cuda")


def test_a_name_that_is_not_a_device_is_a_sentence():
    with pytest.raises(ValueError, match="is not a device: use cpu, cuda, cuda:N, mps or auto"):
        select_device("gpu please")


def test_gpu_call_wraps_in_spaces_gpu_only_on_a_space(monkeypatch):
    def work(x):
        return x + 1

    monkeypatch.delenv("SPACE_ID", raising=False)
    assert gpu_call(work) is work
    fake = types.ModuleType("spaces")
    fake.GPU = lambda fn: lambda *a: ("on the GPU", fn(*a))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "spaces", fake)
    assert gpu_call(work) is work  # not on a Space: no wrapping even with the package
    monkeypatch.setenv("SPACE_ID", "someone/maskxai")
    assert gpu_call(work)(1) == ("on the GPU", 2)


@pytest.mark.skipif(NO_CUDA, reason="no CUDA GPU here (the CPU is the tested default)")
def test_models_and_maps_run_on_cuda(untrained):
    import copy

    from maskxai.pipeline import face_context, run

    lm = copy.deepcopy(untrained["resnet50"])  # the session's CPU models stay where they are
    lm.model.to("cuda")
    from PIL import Image

    face = Image.fromarray(np.random.default_rng(0).integers(0, 255, (160, 160, 3), dtype=np.uint8))
    ctx = face_context(lm, face)
    assert ctx.pixels.device.type == "cuda"
    for name in ("gradcam", "gradients", "ig"):
        e = run(ctx, name)
        assert np.isfinite(e.attribution).all()
