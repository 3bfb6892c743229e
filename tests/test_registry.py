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


def test_both_models_carry_their_training_recipe():
    for name, epochs, draws in (("resnet50", 6, 10_000), ("inception_resnet_v1", 8, 12_000)):
        r = get_spec(name).recipe
        assert (r.epochs, r.samples_per_epoch, r.threads, r.lr) == (epochs, draws, 1, 2e-3)
        assert callable(r.pretrained) and r.pretrained_name


def test_the_recipe_is_read_from_the_spec(tiny_spec, monkeypatch):
    """A model registered with its own recipe gets it from with_recipe and --pretrained, with no code for it."""
    import dataclasses

    from torch import nn

    from maskxai import registry
    from maskxai.train import TrainConfig, build, command_of, with_recipe

    started = []

    def pretrained(num_classes: int) -> nn.Module:
        started.append(num_classes)
        return nn.Linear(4, num_classes)

    recipe = registry.TrainRecipe(epochs=3, samples_per_epoch=48, threads=2, lr=5e-4, pretrained=pretrained)
    spec = dataclasses.replace(tiny_spec, name="tiny_recipe_cnn", recipe=recipe)
    monkeypatch.setitem(registry._REGISTRY, spec.name, spec)  # registered for this test only

    cfg = with_recipe(TrainConfig(model=spec.name))
    assert (cfg.epochs, cfg.samples_per_epoch, cfg.threads, cfg.lr) == (3, 48, 2, 5e-4)
    assert with_recipe(TrainConfig(model=spec.name, epochs=5, lr=1e-2)).epochs == 5  # given options win
    assert with_recipe(TrainConfig(model=spec.name, epochs=5, lr=1e-2)).lr == 1e-2
    # the recipe is what a bare command means; another model's recipe is not
    assert command_of(dataclasses.asdict(cfg)) == "python -m maskxai.train --model tiny_recipe_cnn"
    other = dataclasses.asdict(with_recipe(TrainConfig(model="resnet50")))
    assert command_of({**other, "model": spec.name}) == (
        "python -m maskxai.train --model tiny_recipe_cnn --epochs 6 --samples-per-epoch 10000 --lr 0.002 --threads 1"
    )
    assert isinstance(build(spec, pretrained=True), nn.Linear) and started == [3]
    assert not isinstance(build(spec, pretrained=False), nn.Linear)
    with pytest.raises(ValueError, match="no pretrained start is known for tiny_test_cnn.*without --pretrained"):
        build(tiny_spec, pretrained=True)


def test_each_models_pool_is_the_layer_its_head_reads(untrained):
    """``ModelSpec.pool`` (matched by maskxai.viewdistill) names a module whose flattened output has as many
    features as the first linear layer after it takes."""
    for name, loaded in untrained.items():
        spec, model = loaded.spec, loaded.model
        seen: dict[str, torch.Tensor] = {}
        hook = model.get_submodule(spec.pool).register_forward_hook(lambda m, i, o, seen=seen: seen.update(x=o))
        try:
            with torch.no_grad():
                model(torch.zeros(1, 3, spec.input_size, spec.input_size))
        finally:
            hook.remove()  # the models are shared by the session's tests
        seen["x"] = seen["x"].flatten(1)
        first_linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        assert seen["x"].shape[1] == first_linear.in_features, name
