"""The shipped examples teach the right thing: each face gets its class from both shipped models, and the
default model's default Grad-CAM is not blank on any of them (a class's first click)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from maskxai.faces import DetectSettings, crop_face, detect_faces
from maskxai.preprocess import to_input
from maskxai.registry import LABELS
from maskxai.weights import load_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Faces from left to right, as `python -m maskxai.examples` draws them.
EXPECTED = {
    "astronaut_correct.jpg": ["correctly_masked"],
    "hopper_none.jpg": ["not_masked"],
    "hopper_below_nose.jpg": ["incorrectly_masked"],
    "hopper_chin.jpg": ["incorrectly_masked"],
    "group_photo.jpg": ["correctly_masked", "incorrectly_masked", "not_masked", "incorrectly_masked"],
}


def faces_of(name: str) -> list[Image.Image]:
    img = Image.open(EXAMPLES / name).convert("RGB")
    faces = sorted(detect_faces(img, DetectSettings()), key=lambda f: f.box[0])
    return [crop_face(img, f.box) for f in faces]


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.jpg")) == sorted(EXPECTED)
    assert {c for v in EXPECTED.values() for c in v} == set(LABELS)  # all three classes are shown


@pytest.mark.parametrize("model", ["inception_resnet_v1", "resnet50"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_models_get_each_example_right(model, name):
    lm = load_model(model, allow_untrained=False)
    crops = faces_of(name)
    assert len(crops) == len(EXPECTED[name])
    with torch.no_grad():
        probs = torch.softmax(lm.model(torch.cat([to_input(c, lm.spec) for c in crops])), 1)
    got = [LABELS[int(i)] for i in probs.argmax(1)]
    assert got == EXPECTED[name], (model, name, probs.numpy().round(2))


def test_default_grad_cam_is_not_blank_on_the_examples():
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    lm = load_model("inception_resnet_v1", allow_untrained=False)  # the page's default model
    model = lm.model
    for p in model.parameters():
        p.requires_grad_(True)
    layer = lm.spec.cam_layer(model)
    for name, labels in EXPECTED.items():
        for crop, label in zip(faces_of(name), labels):
            with GradCAM(model=model, target_layers=[layer]) as cam:
                grads = cam(to_input(crop, lm.spec), targets=[ClassifierOutputTarget(LABELS.index(label))])
            assert np.nanmax(grads) > 0, (name, label)
