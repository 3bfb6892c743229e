"""Deletion/insertion curves on a fixed small model whose true patch importance we can compute."""

import numpy as np
import pytest
import torch
from torch import nn

from maskxai.explain import PixelModel
from maskxai.faithfulness import curves, faithfulness, fill_image, patch_ranks, random_curves

PATCH = 4


class Fixed(nn.Module):
    """A seeded conv layer whose evidence only counts in a "mouth" window of the 32 px face."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)
        with torch.no_grad():
            for p in (*self.conv.parameters(), *self.head.parameters()):
                p.copy_(torch.randn(p.shape, generator=g))
        w = torch.zeros(1, 1, 32, 32)
        w[..., 18:30, 6:26] = 1.0
        self.register_buffer("window", w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.relu(self.conv(x)) * self.window
        return 3 * self.head(f.mean(dim=(2, 3)))


@pytest.fixture
def setup(tiny_spec):
    pm = PixelModel(Fixed().eval(), tiny_spec)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        target = int(pm(x).argmax())
    return pm, x, target


def _occlusion_importance(pm, x, target):
    """Drop in the class probability when each patch alone is greyed out: the ground truth."""
    grey = torch.full_like(x, 0.5)
    out = np.zeros((32, 32), dtype=np.float32)
    with torch.inference_mode():
        p0 = float(pm(x).softmax(1)[0, target])
        for y in range(0, 32, PATCH):
            for x0 in range(0, 32, PATCH):
                z = x.clone()
                z[..., y : y + PATCH, x0 : x0 + PATCH] = grey[..., y : y + PATCH, x0 : x0 + PATCH]
                out[y : y + PATCH, x0 : x0 + PATCH] = p0 - float(pm(z).softmax(1)[0, target])
    return out


def test_true_occlusion_importance_beats_random_orders_and_a_random_map(setup):
    pm, x, target = setup
    truth = _occlusion_importance(pm, x, target)
    f = faithfulness(pm, x, target, truth, patch=PATCH, fill="grey", points=17)
    assert f.map.insertion_auc > f.random.insertion_auc + 0.1, f.to_record()
    assert f.map.deletion_auc < f.random.deletion_auc - 0.1, f.to_record()
    noise = np.random.default_rng(5).standard_normal((32, 32)).astype(np.float32)
    g = faithfulness(pm, x, target, noise, patch=PATCH, fill="grey", points=17, random=f.random)
    assert f.score > g.score + 0.2
    assert f.insertion_gain > 0.1 and f.deletion_gain > 0.1


def test_curves_start_and_end_at_the_face_and_the_fill(setup):
    pm, x, target = setup
    with torch.inference_mode():
        p_x = float(pm(x).softmax(1)[0, target])
        p_f = float(pm(torch.full_like(x, 0.5)).softmax(1)[0, target])
    c = curves(pm, x, target, patch_ranks(np.ones((32, 32)), PATCH), fill_image(x, "grey"), points=5)
    assert list(c.fractions) == [0, 0.25, 0.5, 0.75, 1]
    assert c.deletion[0] == pytest.approx(p_x) and c.deletion[-1] == pytest.approx(p_f)
    assert c.insertion[0] == pytest.approx(p_f) and c.insertion[-1] == pytest.approx(p_x)
    assert 0 <= c.deletion_auc <= 1 and 0 <= c.insertion_auc <= 1


def test_patch_ranks_most_important_first_ties_at_random():
    a = np.zeros((8, 8))
    a[4:, 4:] = 2.0
    a[:4, :4] = 1.0
    r = patch_ranks(a, patch=4)
    assert (r[4:, 4:] == 0).all() and (r[:4, :4] == 1).all()
    flat = [patch_ranks(np.zeros((16, 16)), 4, seed=s) for s in (0, 1)]
    assert not np.array_equal(flat[0], flat[1])  # a blank map has no order of its own
    assert sorted(np.unique(flat[0])) == list(range(16))


def test_blur_fill_and_bad_fill(setup):
    pm, x, _ = setup
    b = fill_image(x, "blur", pm)
    assert b.shape == x.shape and b.std() < x.std()
    with pytest.raises(ValueError, match="choose one of"):
        fill_image(x, "black")
    with pytest.raises(ValueError, match="the map is"):
        faithfulness(pm, x, 0, np.zeros((8, 8)))


def test_random_curves_are_seeded(setup):
    pm, x, target = setup
    a, b = (random_curves(pm, x, target, PATCH, "grey", orders=2, points=5, seed=3) for _ in range(2))
    assert np.array_equal(a.deletion, b.deletion)
