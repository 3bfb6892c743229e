"""Cascading randomisation: maps that depend on the model must change; ones that do not are flagged."""

import numpy as np
import pytest
import torch

from maskxai.explain import METHODS, Explanation, Method, PixelModel
from maskxai.explain.base import Context
from maskxai.sanity import (
    barely_changes,
    cascading_randomisation,
    similarity,
    spearman_text,
    top_blocks,
    verdicts,
)


def _brightness(ctx: Context) -> Explanation:
    """A "method" that ignores the model: the image's brightness."""
    a = ctx.pixels[0].mean(0).numpy().astype(np.float32)
    return Explanation("Brightness", a, False, ctx.target, 0.0, key="brightness")


@pytest.fixture
def pm(untrained):
    lm = untrained["resnet50"]
    return PixelModel(lm.model, lm.spec)


def test_randomisation_changes_gradient_maps_and_flags_a_model_blind_map(pm, monkeypatch):
    monkeypatch.setitem(METHODS, "brightness", Method("brightness", "Brightness", _brightness))
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in pm.state_dict().items()}
    seen = []
    steps = list(
        cascading_randomisation(pm, x, ["gradients", "brightness"], target=0, progress=lambda f, t: seen.append(f))
    )
    assert [s.block for s in steps] == ["", "fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"]
    assert steps[0].spearman["gradients"] == 1.0
    rho = [s.spearman["gradients"] for s in steps[1:]]
    assert max(rho[2:]) < 0.3, rho  # with layer3 and above random, the gradient map has little left in common
    assert steps[-1].ssim["gradients"] < 0.5
    assert all(s.spearman["brightness"] == pytest.approx(1.0) for s in steps)
    flags = barely_changes(steps)
    assert flags == {"gradients": False, "brightness": True}
    text = " ".join(verdicts(steps, {"brightness": "Brightness", "gradients": "Gradients"}))
    assert "Brightness barely changes" in text and "Gradients** changes" in text
    assert seen == sorted(seen) and len(seen) == len(steps)
    after = pm.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the trained model is untouched


def test_top_blocks_output_side_first(untrained):
    names = [n for n, _ in top_blocks(untrained["inception_resnet_v1"].model)]
    assert names[0] == "logits" and names.index("block8") < names.index("repeat_3") < names.index("mixed_6a")
    assert names[-1] == "conv2d_1a"


def test_similarity_of_constant_and_equal_maps():
    a = np.random.default_rng(0).random((16, 16))
    assert similarity(a, a) == pytest.approx((1.0, 1.0))
    assert similarity(a, np.zeros_like(a))[0] == 0.0
    assert similarity(a, -a)[0] == pytest.approx(1.0)  # |map|: the sign does not count


def test_spearman_text_never_rounds_across_the_flag_line():
    assert spearman_text(0.31) == "0.31" and spearman_text(0.52) == "0.52"
    assert spearman_text(0.497) == "0.497, under the 0.5 flag line"  # not flagged, though "0.50" would read as flagged
    assert spearman_text(0.4951) == "0.495, under the 0.5 flag line"
    assert spearman_text(0.5) == "0.50"  # flagged, and reads so
    assert spearman_text(0.7, threshold=0.705) == "0.70"  # under, and reads so
    assert spearman_text(0.704, threshold=0.703) == "0.704, at or over the 0.703 flag line"  # "0.70" would read under
