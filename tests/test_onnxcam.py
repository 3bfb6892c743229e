"""Live mode's ONNX Runtime copy of a model: the same classes and Grad-CAMs as PyTorch, cached, and switchable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskxai import onnxcam
from maskxai.explain.base import PixelModel
from maskxai.explain.gradcam import grad_cam_batch


@pytest.fixture(scope="module")
def head_spec(tiny_spec):
    """The tiny CNN with its last ReLU as the CAM layer: then come pooling and a linear layer only, as in both
    models, so its Grad-CAM needs no backward pass."""
    import dataclasses

    from maskxai.registry import get_spec, register

    try:
        return get_spec("tiny_head_cnn")
    except ValueError:
        return register(dataclasses.replace(tiny_spec, name="tiny_head_cnn", cam_layers=("5",), weights_file=""))


def _loaded(spec, seed: int = 0):
    from maskxai.weights import LoadedModel, _freeze

    torch.manual_seed(seed)
    return LoadedModel(spec, _freeze(spec.build()), source="untrained (test)", trained=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory, head_spec):
    """A cache holding one export (seed 0's weights): each export is a child process (about 10 s)."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASKXAI_CACHE", str(path))
        onnxcam.build(_loaded(head_spec))
    return path


def test_onnx_runtime_gives_pytorchs_classes_and_maps(head_spec, cache, monkeypatch):
    monkeypatch.setenv("MASKXAI_CACHE", str(cache))
    lm = _loaded(head_spec)
    runner = onnxcam.build(lm)
    pm = PixelModel(lm.model, lm.spec)
    for n in (1, 5, onnxcam.MAX_BATCH + 2):  # any batch size; above the exported bound it is split
        x = torch.rand(n, 3, 32, 32)
        p_torch, maps_torch = grad_cam_batch(pm, x)
        p_onnx, maps_onnx = grad_cam_batch(pm, x, forward=runner)
        torch.testing.assert_close(p_onnx, p_torch, atol=1e-5, rtol=1e-4)
        assert [m.target for m in maps_onnx] == [m.target for m in maps_torch]
        for a, b in zip(maps_onnx, maps_torch):
            np.testing.assert_allclose(a.attribution, b.attribution, atol=1e-4)
            assert a.blank == b.blank and a.grid == b.grid == (8, 8)
    # the model was exported from a copy: the served one is untouched (no hook left on it)
    assert all(not m._forward_hooks for m in lm.model.modules())


def test_the_export_is_cached_by_weights(head_spec, cache, monkeypatch):
    monkeypatch.setenv("MASKXAI_CACHE", str(cache))
    files = sorted((cache / "onnx").glob("*.onnx"))
    assert len(files) == 1 and not list((cache / "onnx").glob("*.tmp"))

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnxcam, "export", no_export)
    assert onnxcam.build(_loaded(head_spec)).path == files[0]  # same weights: the file, no export
    with pytest.raises(AssertionError, match="exported again"):
        onnxcam.build(_loaded(head_spec, seed=1))  # other weights: another file


def test_a_damaged_cache_file_is_exported_again(head_spec, tmp_path, monkeypatch, cache):
    import shutil

    monkeypatch.setenv("MASKXAI_CACHE", str(tmp_path))
    (tmp_path / "onnx").mkdir()
    (good,) = (cache / "onnx").glob("*.onnx")
    (tmp_path / "onnx" / good.name).write_bytes(b"not an ONNX file")  # same name: same weights
    exported = []
    monkeypatch.setattr(onnxcam, "export", lambda pm, layer, path: exported.append(path) or shutil.copy(good, path))
    runner = onnxcam.build(_loaded(head_spec))
    assert exported == [tmp_path / "onnx" / good.name] and runner.path.read_bytes() == good.read_bytes()


def test_live_runtime_can_be_turned_off_and_bad_values_say_what_to_use(head_spec, monkeypatch):
    monkeypatch.setenv("MASKXAI_LIVE_RUNTIME", "torch")
    assert onnxcam.available() == "MASKXAI_LIVE_RUNTIME=torch"
    assert onnxcam.cam_runner(_loaded(head_spec)) is None
    monkeypatch.setenv("MASKXAI_LIVE_RUNTIME", "tensorrt")
    with pytest.raises(ValueError, match="use one of onnx, torch"):
        onnxcam.available()
    monkeypatch.delenv("MASKXAI_LIVE_RUNTIME")
    assert onnxcam.available() == ""  # the CPU, onnxruntime installed: the tested default


def test_cam_runner_builds_in_the_background_once(head_spec, cache, monkeypatch):
    monkeypatch.setenv("MASKXAI_CACHE", str(cache))
    lm = _loaded(head_spec)
    first = onnxcam.cam_runner(lm, wait=True)
    assert isinstance(first, onnxcam.OnnxCam)
    assert onnxcam.cam_runner(lm) is first  # built once per model and layer


def test_a_failed_export_says_why(head_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("MASKXAI_CACHE", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", "")
    monkeypatch.setattr(onnxcam.sys, "executable", "/bin/false")  # a child that fails at once
    with pytest.raises(RuntimeError, match="ONNX export of tiny_head_cnn failed"):
        onnxcam.build(_loaded(head_spec, seed=3))
    assert not list((tmp_path / "onnx").iterdir())  # no half-written file left
    with pytest.raises(ValueError, match="use one of"):
        onnxcam.export(PixelModel(_loaded(head_spec).model, head_spec), "0", tmp_path / "x.onnx")
