"""Model registry: every per-model fact lives in one :class:`ModelSpec` entry.

Adding a model means adding one ``register(ModelSpec(...))`` call; nothing else
in the package switches on model names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

LABELS: tuple[str, ...] = ("correctly_masked", "incorrectly_masked", "not_masked")
DISPLAY_NAMES: dict[str, str] = {
    "correctly_masked": "Mask worn correctly",
    "incorrectly_masked": "Mask worn incorrectly",
    "not_masked": "No mask",
}


# The Hub tag the app pins by default and ``maskxai.publish`` writes: a new tag whenever the shipped weights change
# (v1: the weights until 2026-11-26; v2: the averages of 2026-11-27; v3: InceptionResnetV1 step 8, taught to read
# video frames, 2026-11-27; v4: InceptionResnetV1 step 10, more masks hanging from one ear, 2026-11-28; v5:
# InceptionResnetV1 step 12 and ResNet50 step 7, masks cut out of real photos, 2026-12-07; v6: InceptionResnetV1
# step 14, more cut masks, 2026-12-07), so a pinned app never gets other weights.
HUB_REVISION = "v6"


@dataclass(frozen=True)
class TrainRecipe:
    """How ``python -m maskxai.train`` trains a model when its options are left at their defaults.

    The input size is the spec's ``input_size``: a model is trained at the size it is run at.

    Attributes:
        epochs: Epochs of a run.
        samples_per_epoch: Draws from the training mixture per epoch.
        threads: CPU threads (0: torch's default).
        lr: Peak learning rate of AdamW (after warm-up, before the cosine decay).
        pretrained: Builds the architecture from public pretrained weights with a ``num_classes``-way
            head (downloads them; ``--pretrained``); ``None`` if there is no such start.
        pretrained_name: What ``pretrained`` starts from, for people (e.g. the model card).
    """

    epochs: int = 10
    samples_per_epoch: int = 12_000
    threads: int = 0
    lr: float = 2e-3
    pretrained: Callable[[int], nn.Module] | None = None
    pretrained_name: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """Everything the package needs to know about one classifier.

    Attributes:
        name: Registry key, e.g. ``"resnet50"``.
        title: Name shown to people.
        builder: Builds the untrained architecture for ``num_classes`` classes.
        input_size: Side of the square input in pixels.
        mean: Per-channel mean in [0, 1] pixel units, subtracted before the model.
        std: Per-channel std in [0, 1] pixel units.
        labels: Class names in logit order.
        cam_layers: Grad-CAM target layers offered, as dotted module paths;
            the first is the default.
        weights_file: File name of the safetensors weights (in ``checkpoints/`` or on the Hub).
        hub_repo: Default Hugging Face Hub repository of the weights.
        hub_revision: Pinned default revision on the Hub.
        license: License of the weights.
        recipe: How to train it (:class:`TrainRecipe`).
        head: Dotted path of the final ``nn.Linear`` (its bias carries the class offsets of
            :mod:`maskxai.calibrate`).
        pool: Dotted path of the module whose output is the pooled features the head reads (matched by
            :mod:`maskxai.viewdistill`).
    """

    name: str
    title: str
    builder: Callable[[int], nn.Module]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    labels: tuple[str, ...] = LABELS
    cam_layers: tuple[str, ...] = ()
    weights_file: str = ""
    hub_repo: str = "maskxai/maskxai-classifiers"
    hub_revision: str = HUB_REVISION
    license: str = "cc-by-nc-sa-4.0"
    notes: dict[str, str] = field(default_factory=dict)
    recipe: TrainRecipe = field(default_factory=TrainRecipe)
    head: str = "fc"
    pool: str = "avgpool"

    def build(self) -> nn.Module:
        """Return the untrained architecture with a ``len(labels)``-way head, in eval mode."""
        return self.builder(len(self.labels)).eval()

    def cam_layer(self, model: nn.Module, path: str | None = None) -> nn.Module:
        """Resolve a Grad-CAM target layer of ``model`` by dotted path (default: the first).

        Raises:
            ValueError: If the path does not name a module of ``model``.
        """
        path = path or self.cam_layers[0]
        module: nn.Module = model
        for part in path.split("."):
            if part.lstrip("-").isdigit() and isinstance(module, nn.Sequential):
                module = module[int(part)]
            elif hasattr(module, part):
                module = getattr(module, part)
            else:
                raise ValueError(
                    f"Grad-CAM layer {path!r} does not exist in {self.name}; choose one of {list(self.cam_layers)}."
                )
        return module


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (its name must be new) and return it."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """Names of all registered models, in registration order."""
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """Return the spec registered under ``name``.

    Raises:
        ValueError: If no model has that name; the message lists the valid names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {list_models()}") from None


def _resnet50(num_classes: int) -> nn.Module:
    from torchvision.models import resnet50

    return resnet50(weights=None, num_classes=num_classes)


def _inception_resnet_v1(num_classes: int) -> nn.Module:
    from facenet_pytorch import InceptionResnetV1

    # pretrained=None: VGGFace2 weights would need the internet; ours come from checkpoints/.
    return InceptionResnetV1(pretrained=None, classify=True, num_classes=num_classes)


def _resnet50_imagenet(num_classes: int) -> nn.Module:
    from torchvision.models import ResNet50_Weights, resnet50

    m = resnet50(weights=ResNet50_Weights.IMAGENET1K_V2)
    m.fc = nn.Linear(m.fc.in_features, num_classes)
    return m


def _inception_resnet_v1_vggface2(num_classes: int) -> nn.Module:
    from facenet_pytorch import InceptionResnetV1

    return InceptionResnetV1(pretrained="vggface2", classify=True, num_classes=num_classes)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# facenet-pytorch's fixed_image_standardization: (x*255 - 127.5) / 128.
FACENET_MEAN = (127.5 / 255, 127.5 / 255, 127.5 / 255)
FACENET_STD = (128 / 255, 128 / 255, 128 / 255)

register(
    ModelSpec(
        name="resnet50",
        title="ResNet50",
        builder=_resnet50,
        input_size=160,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        # layer4 (5x5) first: Grad-CAM's most faithful layer on validation faces; layer2 (20x20), the finest,
        # is LayerCAM's default and its most faithful (docs/xai_measured.md).
        cam_layers=("layer4", "layer3", "layer2"),
        weights_file="resnet50.safetensors",
        # The shipped weights' schedule: both runs fit ~90 min side by side on 2 cores.
        recipe=TrainRecipe(
            epochs=6,
            samples_per_epoch=10_000,
            threads=1,
            lr=2e-3,
            pretrained=_resnet50_imagenet,
            pretrained_name="ImageNet-1k (torchvision IMAGENET1K_V2)",
        ),
    )
)
register(
    ModelSpec(
        name="inception_resnet_v1",
        title="InceptionResnetV1",
        builder=_inception_resnet_v1,
        input_size=160,
        mean=FACENET_MEAN,
        std=FACENET_STD,
        # block8 first: only 3x3 at 160 px, but never blank on 100 held-out real faces nor on the shipped
        # examples; mixed_6a (8x8) is blank on 4 % of real faces and on 4 of the 8 example faces (all four
        # masks worn incorrectly), repeat_2 on 37 % (`python -m maskxai.camlayers`, tests/test_examples.py).
        # repeat_1 (17x17), the finest, is LayerCAM's default: deletion AUC 0.14 below a random order and
        # 1.6x its area on nose, mouth and chin on validation faces (docs/xai_measured.md).
        cam_layers=("block8", "mixed_6a", "repeat_2", "repeat_1"),
        weights_file="inception_resnet_v1.safetensors",
        head="logits",
        pool="avgpool_1a",
        recipe=TrainRecipe(
            epochs=8,
            samples_per_epoch=12_000,
            threads=1,
            lr=2e-3,
            pretrained=_inception_resnet_v1_vggface2,
            pretrained_name="VGGFace2 (facenet-pytorch)",
        ),
    )
)


def normalize(x: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """Normalise a batch of [0, 1] RGB images ``(N, 3, H, W)`` for ``spec``'s model."""
    mean = torch.tensor(spec.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
