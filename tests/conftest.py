"""Shared fixtures. Tests are offline: the Hub is only reached through a local stand-in."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["HF_HUB_OFFLINE"] = "1"  # read at import by huggingface_hub: set before anything imports it
os.environ.setdefault("MPLBACKEND", "Agg")
# live mode's ONNX exports (maskxai.onnxcam) go next to the test cache, not into the user's ~/.cache
os.environ.setdefault(
    "MASKXAI_CACHE",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache", "maskxai"),
)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def untrained():
    """Untrained, frozen models of every registered architecture, built once."""
    from maskxai.registry import get_spec, list_models
    from maskxai.weights import LoadedModel, _freeze

    out = {}
    for name in list_models():
        torch.manual_seed(0)
        spec = get_spec(name)
        out[name] = LoadedModel(spec, _freeze(spec.build()), source="untrained (test)", trained=False)
    return out


@pytest.fixture(scope="session")
def portraits() -> dict[str, Image.Image]:
    from maskxai.examples import package_faces

    return package_faces()


@pytest.fixture(scope="session")
def tiny_spec():
    """A small CNN registered like any model: for tests where training must actually move."""
    from torch import nn

    from maskxai.registry import ModelSpec, get_spec, register

    def build(n: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, n),
        )

    try:
        return get_spec("tiny_test_cnn")
    except ValueError:
        return register(
            ModelSpec(
                "tiny_test_cnn",
                "Tiny CNN",
                build,
                32,
                (0.5,) * 3,
                (0.25,) * 3,
                cam_layers=("3",),
                weights_file="tiny_test_cnn.safetensors",
                pool="6",
            )
        )


@pytest.fixture
def tiny_run(tmp_path, tiny_spec) -> dict:
    """``TrainConfig`` fields of a one-epoch, 16-draw, fp32 run of the tiny CNN in ``tmp_path``."""
    lm = tmp_path / "lm.json"
    lm.write_text("{}")
    return dict(
        model=tiny_spec.name,
        data=str(tmp_path),
        landmarks=str(lm),
        epochs=1,
        samples_per_epoch=16,
        batch_size=8,
        warmup_steps=1,
        bf16=False,
        threads=1,
    )


@pytest.fixture(scope="session")
def app_server():
    """One real app (``python app.py``) for every test that only asks it things: starting one costs ~20 s."""
    from maskxai._appserver import AppServer

    with AppServer() as s:
        yield s


@pytest.fixture(scope="session")
def chin_data() -> dict:
    """Face-mesh chins measured by ``scripts/chin_fit.py`` (``docs/chin_landmarks.json``: numbers, no images)."""
    import json
    from pathlib import Path

    return json.loads((Path(__file__).resolve().parent.parent / "docs" / "chin_landmarks.json").read_text())
