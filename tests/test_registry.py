import pytest
import torch

from maskxai.registry import DISPLAY_NAMES, LABELS, get_spec, list_models


def test_both_models_registered_with_their_facts():
    assert list_models()[:2] == ["resnet50", "inception_resnet_v1"]
    for name in ("resnet50", "inception_resnet_v1"):
        spec = get_spec(name)
        assert spec.labels == LABELS == ("correctly_masked", "incorrectly_masked", "not_masked")
        assert spec.weights_file.endswith(".safetensors") and spec.hub_repo and spec.hub_revision
        assert len(spec.mean) == len(spec.std) == 3 and spec.cam_layers
    assert set(DISPLAY_NAMES.values()) == {"Mask worn correctly", "Mask worn incorrectly", "No mask"}


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="resnet50.*inception_resnet_v1"):
        get_spec("vgg16")


@pytest.mark.parametrize("name", ["resnet50", "inception_resnet_v1"])
def test_builds_three_class_model_and_resolves_cam_layers(untrained, name):
    lm = untrained[name]
    x = torch.rand(2, 3, lm.spec.input_size, lm.spec.input_size)
    with torch.inference_mode():
        assert lm.model(x).shape == (2, 3)
    for path in lm.spec.cam_layers:
        assert isinstance(lm.spec.cam_layer(lm.model, path), torch.nn.Module)
    with pytest.raises(ValueError, match="does not exist"):
        lm.spec.cam_layer(lm.model, "no_such_layer")


def test_inception_uses_facenet_normalisation():
    spec = get_spec("inception_resnet_v1")
    from maskxai.registry import normalize

    x = torch.full((1, 3, 4, 4), 127.5 / 255)
    assert torch.allclose(normalize(x, spec), torch.zeros_like(x), atol=1e-6)
