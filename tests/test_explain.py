import json

import numpy as np
import pytest
import torch

from maskxai.explain import (
    BASELINES,
    METHODS,
    ExplainSettings,
    PixelModel,
    grad_cam,
    grad_cam_and_gradients,
    input_gradients,
    integrated_gradients,
    list_methods,
    make_baseline,
    run_method,
)
from maskxai.explain.integrated_gradients import _auto

MODELS = ["resnet50", "inception_resnet_v1"]


def _pm(untrained, name):
    lm = untrained[name]
    return PixelModel(lm.model, lm.spec)


def _x(spec, seed=0, size=None):
    """A random image at the model's input size (or ``size``: the models are fully convolutional)."""
    g = torch.Generator().manual_seed(seed)
    size = size or spec.input_size
    return torch.rand(1, 3, size, size, generator=g)


def _all_hooks(model):
    n = 0
    for m in model.modules():
        n += len(m._forward_hooks) + len(m._backward_hooks) + len(getattr(m, "_forward_pre_hooks", {}))
    return n


CALLS = {
    "gradcam": lambda pm, x, t: grad_cam(pm, x, t),
    "gradients": lambda pm, x, t: input_gradients(pm, x, t),
    "ig": lambda pm, x, t: integrated_gradients(pm, x, t, steps=8),
}


@pytest.mark.parametrize("method", list(CALLS))
@pytest.mark.parametrize("name", MODELS)
def test_map_shape_finite_and_input_untouched(untrained, name, method):
    pm = _pm(untrained, name)
    x = _x(pm.spec)
    before = x.clone()
    e = CALLS[method](pm, x, None)
    assert e.attribution.shape == (pm.spec.input_size,) * 2
    assert e.attribution.dtype == np.float32 and np.isfinite(e.attribution).all()
    assert e.attribution.std() > 0  # not a blank map on a random image
    assert torch.equal(x, before) and not x.requires_grad
    assert e.target in (0, 1, 2) and e.seconds > 0
    if method == "gradcam":
        assert not e.signed and e.attribution.min() >= 0 and e.attribution.max() == pytest.approx(1.0)
    else:
        assert e.signed and (e.attribution < 0).any() and (e.attribution > 0).any()  # sign kept


@pytest.mark.parametrize("method", list(CALLS))
@pytest.mark.parametrize("name", MODELS)
def test_hooks_released_even_when_the_call_fails(untrained, name, method):
    pm = _pm(untrained, name)
    n0 = _all_hooks(pm)
    with pytest.raises(ValueError, match="out of range"):
        CALLS[method](pm, _x(pm.spec), 7)
    assert _all_hooks(pm) == n0 == 0


def test_fused_pass_equals_captum_saliency(untrained):
    pm = _pm(untrained, "resnet50")
    x = _x(pm.spec, 3)
    cam, grads, probs = grad_cam_and_gradients(pm, x, target=1)
    ref = input_gradients(pm, x, target=1)
    assert np.allclose(grads.attribution, ref.attribution, atol=1e-6, rtol=1e-4)
    assert probs.shape == (3,) and float(probs.sum()) == pytest.approx(1.0, abs=1e-5)


def test_explains_the_predicted_class_by_default(untrained):
    pm = _pm(untrained, "resnet50")
    x = _x(pm.spec, 5)
    with torch.inference_mode():
        pred = int(pm(x).argmax())
    assert grad_cam(pm, x).target == pred == integrated_gradients(pm, x, steps=8).target


def test_cam_layer_choice_changes_the_grid(untrained):
    pm = _pm(untrained, "inception_resnet_v1")
    x = _x(pm.spec)
    assert grad_cam(pm, x, layer="repeat_2").grid == (8, 8)
    assert grad_cam(pm, x, layer="block8").grid_text == "3x3"


@pytest.mark.parametrize("name", MODELS)
def test_ig_convergence_delta_shrinks_with_steps(untrained, name):
    pm = _pm(untrained, name)
    # the same question at a fraction of the cost (at 96 px InceptionResnetV1's delta is already at float noise)
    x = _x(pm.spec, 1, size={"resnet50": 96, "inception_resnet_v1": 128}[name])
    d = [integrated_gradients(pm, x, 0, steps=s, method="riemann_trapezoid").delta for s in (8, 32, 128)]
    assert d[2] < d[1] < d[0], d


def test_ig_completeness_in_pixel_space(untrained):
    """Attributions add up to f(x) - f(baseline), with the baseline a real black image."""
    pm = _pm(untrained, "resnet50")
    x = _x(pm.spec, 2, size=96)
    e = integrated_gradients(pm, x, 0, steps=128, baseline="black")
    with torch.inference_mode():
        gap = float(pm(x)[0, 0] - pm(torch.zeros_like(x))[0, 0])
    assert e.logit_gap == pytest.approx(gap, rel=1e-4)
    assert float(e.attribution.sum()) == pytest.approx(gap, rel=0.05)


def test_ig_rejects_bad_steps_and_baselines(untrained):
    pm = _pm(untrained, "resnet50")
    x = _x(pm.spec)
    for steps in (0, 7, 257, 3.5):
        with pytest.raises(ValueError, match="from 8 to 256 or 'auto'"):
            integrated_gradients(pm, x, steps=steps)
    with pytest.raises(ValueError, match="choose one of"):
        integrated_gradients(pm, x, steps=8, baseline="grey")


def test_ig_reports_progress(untrained):
    pm = _pm(untrained, "resnet50")
    seen = []
    integrated_gradients(pm, _x(pm.spec), steps=16, internal_batch_size=4, progress=seen.append)
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)


def test_baselines_live_in_pixel_space(untrained):
    spec = untrained["inception_resnet_v1"].spec
    x = _x(spec)
    assert set(BASELINES) >= {"black", "white", "blurred input", "uniform noise", "dataset mean"}
    for name in BASELINES:
        b = make_baseline(name, x, spec, seed=1)
        assert b.shape == x.shape and float(b.min()) >= 0 and float(b.max()) <= 1
    assert float(make_baseline("black", x, spec).abs().max()) == 0
    assert torch.equal(make_baseline("uniform noise", x, spec, 4), make_baseline("uniform noise", x, spec, 4))
    blur = make_baseline("blurred input", x, spec)
    assert blur.std() < x.std() / 3 and abs(float(blur.mean() - x.mean())) < 0.02
    assert torch.allclose(make_baseline("dataset mean", x, spec), torch.full_like(x, 127.5 / 255))


def test_bad_input_shape(untrained):
    pm = _pm(untrained, "resnet50")
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        grad_cam(pm, torch.rand(3, 160, 160))


# --- the method table: every registered method, one shape -------------------------------------------------


FAST = ExplainSettings(steps=8, samples=2, smooth_ig_steps=8, patch=48, internal_batch_size=8)


@pytest.mark.parametrize("method", list_methods())
@pytest.mark.parametrize("name", MODELS)
def test_every_method_gives_a_finite_map_of_the_asked_class(untrained, name, method):
    pm = _pm(untrained, name)
    # 128 px: small, yet InceptionResnetV1's default CAM layer (block8) is still a grid (2x2), not one cell
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(4))
    before = x.clone()
    e = run_method(method, pm, x, target=2, settings=FAST)
    assert e.key == method and e.method == METHODS[method].title
    assert e.attribution.shape == (128, 128) and e.attribution.dtype == np.float32
    assert np.isfinite(e.attribution).all() and e.attribution.std() > 0
    assert e.target == 2 and e.seconds >= 0
    assert torch.equal(x, before) and not x.requires_grad
    if not e.signed:
        assert e.attribution.min() >= 0 and e.attribution.max() == pytest.approx(1.0) and e.layer and e.grid
    json.dumps(e.to_record())  # the API record is plain JSON
    assert _all_hooks(pm) == 0


@pytest.mark.parametrize("method", list_methods())
def test_another_target_class_changes_the_map(untrained, method):
    pm = _pm(untrained, "resnet50")
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    a, b = (run_method(method, pm, x, target=t, settings=FAST).attribution for t in (0, 1))
    assert not np.allclose(a, b, rtol=1e-3, atol=1e-6 * float(np.abs(a).max() + 1e-12))


def test_unknown_method_lists_the_choices(untrained):
    pm = _pm(untrained, "resnet50")
    with pytest.raises(ValueError, match="choose from .*gradcam"):
        run_method("guided_backprop", pm, _x(pm.spec))


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"steps": 300}, "IG steps"),
        ({"steps": "fast"}, "IG steps"),
        ({"samples": 0}, "samples"),
        ({"noise": 2.0}, "noise"),
        ({"patch": 1}, "patch"),
        ({"smooth_ig_steps": "auto"}, "fixed number"),
    ],
)
def test_bad_settings_are_clear_errors(kw, message):
    with pytest.raises(ValueError, match=message):
        ExplainSettings(**kw)


def test_cams_and_gradients_share_one_pass(untrained):
    from maskxai.explain.base import Context
    from maskxai.explain.methods import get_method

    pm = _pm(untrained, "resnet50")
    x = _x(pm.spec, 2)
    ctx = Context(pm, x, 1, FAST)
    maps = {n: get_method(n).fn(ctx) for n in ("gradcam", "gradcampp", "layercam", "gradients")}
    assert sum(k[0] == "layer_pass" for k in ctx.cache) == 1
    assert maps["gradients"].shared_pass_with
    ref = input_gradients(pm, x, target=1)
    assert np.allclose(maps["gradients"].attribution, ref.attribution, atol=1e-6, rtol=1e-4)


def _tiny_pm(tiny_spec):
    torch.manual_seed(3)
    return PixelModel(tiny_spec.build(), tiny_spec)


def test_ig_auto_reuses_its_points_and_matches_the_trapezoid_rule(tiny_spec):
    """With a tolerance never met, "auto" runs every level to 256 intervals: the nested sums must equal
    the trapezoid rule on 257 points computed at once (captum's, whose weights are 1/257 instead of 1/256)."""
    from captum.attr import IntegratedGradients

    pm = _tiny_pm(tiny_spec)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    base = torch.zeros_like(x)
    seen = []
    with torch.inference_mode():
        gap = float(pm(x)[0, 0] - pm(base)[0, 0])
    attr, n, ok = _auto(pm, x, base, 0, gap, 64, 0.0, seen.append)
    assert n == 256 and not ok and seen[-1] == 1.0 and seen == sorted(seen)
    ref = IntegratedGradients(pm).attribute(x, baselines=base, target=0, n_steps=257, method="riemann_trapezoid")
    assert torch.allclose(attr, ref * 257 / 256, rtol=1e-4, atol=1e-8)


def test_ig_auto_stops_once_the_delta_is_under_5_percent(untrained):
    pm = _pm(untrained, "resnet50")
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    e = integrated_gradients(pm, x, 0, steps="auto", baseline="blurred input")
    assert e.steps in (16, 32, 64, 128, 256)
    assert e.converged == (e.relative_delta <= 0.05)
    assert e.converged or e.steps == 256
    assert abs(float(e.attribution.sum()) - e.logit_gap) == pytest.approx(e.delta, rel=1e-3, abs=1e-6)
