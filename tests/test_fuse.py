import pytest
import torch

from maskxai.explain import PixelModel, grad_cam_and_gradients
from maskxai.fuse import fold_batchnorm


@pytest.mark.parametrize(("name", "expected"), [("resnet50", 53), ("inception_resnet_v1", 111)])
def test_folding_keeps_the_function_and_its_gradients(untrained, name, expected):
    lm = untrained[name]
    # Non-trivial BatchNorm statistics, as trained weights have.
    g = torch.Generator().manual_seed(0)
    model = lm.spec.build()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.uniform_(-0.2, 0.2, generator=g)
    model.eval()
    folded, n = fold_batchnorm(model)
    assert n == expected
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x = torch.rand(1, 3, lm.spec.input_size, lm.spec.input_size, generator=g)
    with torch.inference_mode():
        a, b = model(x), folded(x)
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(a.abs().max()))
    # Gradients in float64, where rounding cannot hide a wrong fold (float32 differs by ~0.4% on
    # ResNet50 with these random statistics, from rounding alone).
    model, x = model.double(), x.double()
    folded, _ = fold_batchnorm(model)
    for p in model.parameters():
        p.requires_grad_(False)
    cam_a, grad_a, _ = grad_cam_and_gradients(PixelModel(model, lm.spec), x, target=0)
    cam_b, grad_b, _ = grad_cam_and_gradients(PixelModel(folded, lm.spec), x, target=0)
    assert torch.allclose(torch.from_numpy(cam_a.attribution), torch.from_numpy(cam_b.attribution), atol=1e-5)
    import numpy as np

    rel = np.linalg.norm(grad_a.attribution - grad_b.attribution) / np.linalg.norm(grad_a.attribution)
    assert rel < 1e-6, rel
