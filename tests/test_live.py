"""Live mode: faces followed across frames, labels smoothed, every face drawn with its Grad-CAM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maskxai.live import MAX_AGE, LiveSession, iou, process_frame

ROOT = Path(__file__).resolve().parent.parent


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)


def test_faces_are_followed_and_their_labels_do_not_flicker():
    s = LiveSession(window=5)
    steady, flicker = np.array([0.8, 0.1, 0.1]), np.array([0.3, 0.6, 0.1])
    ids, labels = [], []
    for k in range(8):  # one face drifting right; every third frame the classifier is wrong once
        (t,) = s.update([(100 + 2 * k, 100, 250 + 2 * k, 250)], np.array([flicker if k % 3 == 2 else steady]))
        ids.append(t.ident)
        labels.append(int(t.smoothed.argmax()))
    assert set(ids) == {1} and set(labels) == {0}  # one face all along, its label never flips
    # a second face far away is a new one; the first, unseen for longer than MAX_AGE frames, is forgotten
    (t2,) = s.update([(400, 100, 500, 200)], np.array([steady]))
    assert t2.ident == 2
    for _ in range(MAX_AGE + 1):
        s.update([(400, 100, 500, 200)], np.array([steady]))
    assert [t.ident for t in s.tracks] == [2]


def test_fps_is_a_moving_average_of_the_time_between_frames():
    s = LiveSession()
    for k in range(20):
        s.tick(now=k * 0.25)
    assert s.fps == pytest.approx(4.0, rel=1e-3)


def _frame(names: list[str], size=(640, 480), face_px=150) -> Image.Image:
    frame = Image.new("RGB", size, (60, 60, 60))
    for i, name in enumerate(names):
        photo = Image.open(ROOT / "examples" / f"{name}.jpg").convert("RGB")
        photo.thumbnail((round(face_px * 2.2), round(face_px * 2.2)))  # the face is about half the photo
        frame.paste(photo, (i * size[0] // len(names), (size[1] - photo.height) // 2))
    return frame


@pytest.mark.parametrize(
    ("names", "want"),
    [(["hopper_none"], ["not_masked"]), (["hopper_chin", "hopper_none"], ["incorrectly_masked", "not_masked"])],
)
def test_a_frame_gets_each_face_labelled_with_its_map(names, want):
    from maskxai.pipeline import get_model

    lm = get_model("inception_resnet_v1")
    s = LiveSession()
    frame = _frame(names)
    r = process_frame(np.asarray(frame), lm, s)
    assert sorted(name for _, name, _ in r.labels) == sorted(want), r.labels
    assert r.image.shape == (480, 640, 3) and not np.array_equal(r.image, np.asarray(frame))
    assert set(r.seconds) == {"detect", "classify_cam", "overlay", "draw", "total"}
    assert r.seconds["total"] >= r.seconds["detect"] > 0
    plain = process_frame(np.asarray(frame), lm, LiveSession(), with_cam=False)
    # the maps change the faces' pixels, not the background
    diff = np.abs(r.image.astype(int) - plain.image.astype(int)).sum(-1) > 0
    assert diff[100:].any() and not diff[-20:, :].any()


def test_frames_on_onnx_runtime_match_pytorch():
    """Once the shipped model is exported (maskxai.onnxcam), a frame's faces are classified on ONNX Runtime with
    PyTorch's labels, probabilities and maps."""
    from maskxai.onnxcam import cam_runner
    from maskxai.pipeline import get_model

    lm = get_model("inception_resnet_v1")
    assert cam_runner(lm, wait=True) is not None
    frame = np.asarray(_frame(["hopper_chin", "hopper_none"]))
    fast = process_frame(frame, lm, LiveSession(), use_onnx=True)
    slow = process_frame(frame, lm, LiveSession(), use_onnx=False)
    assert (fast.runtime, slow.runtime) == ("onnxruntime", "torch")
    assert [n for _, n, _ in fast.labels] == [n for _, n, _ in slow.labels]
    np.testing.assert_allclose([p for *_, p in fast.labels], [p for *_, p in slow.labels], atol=1e-4)
    diff = np.abs(fast.image[:400].astype(int) - slow.image[:400].astype(int))  # above the fps line
    assert diff.max() <= 2 and diff.mean() < 0.01


def test_faces_are_searched_for_every_other_frame_and_kept_in_between(monkeypatch):
    """With ``detect_every=2`` the detector runs on frames 1, 3, 5...; the frames in between classify the faces at
    the boxes of the frame before. A frame without a face is searched again at once."""
    import maskxai.live as live
    from maskxai.pipeline import get_model

    calls: list[int] = []
    detect = live.detect_faces
    monkeypatch.setattr(live, "detect_faces", lambda img, settings: calls.append(1) or detect(img, settings))
    lm = get_model("inception_resnet_v1")
    s = LiveSession()
    frame = np.asarray(_frame(["hopper_none"]))
    results = [process_frame(frame, lm, s, detect_every=2, with_cam=False) for _ in range(4)]
    assert len(calls) == 2 and [len(r.labels) for r in results] == [1, 1, 1, 1]
    assert [t.ident for t in s.tracks] == [1]  # one face, followed through the frames without a search
    assert results[1].seconds["detect"] < results[0].seconds["detect"] / 10
    empty = np.full_like(frame, 60)
    for _ in range(2):
        process_frame(empty, lm, s, detect_every=2, with_cam=False)
    assert len(calls) == 4  # nothing to follow: searched on both frames


def test_live_handler_skips_a_frame_that_arrives_right_after_the_last(monkeypatch):
    import app

    frame = np.asarray(_frame(["hopper_none"]))
    img, session, info = app.live_frame(frame, "inception_resnet_v1", None)
    assert isinstance(img, np.ndarray) and "frames/s" in info and "No mask" in info
    img2, session, _ = app.live_frame(frame, "inception_resnet_v1", session)  # reaches us at once: stale
    assert session.skipped == 1 and not isinstance(img2, np.ndarray)
    assert Path(app.freeze_frame(session)).exists()
    with pytest.raises(Exception, match="Start the live view first"):
        app.freeze_frame(None)


@pytest.mark.parametrize("name", ["resnet50", "inception_resnet_v1"])
def test_batched_grad_cam_is_each_faces_own_grad_cam(name):
    """Live mode's one-batch pass (backward stopped at the CAM layer) gives each face the map and class that a
    pass of its own gives (the page's Grad-CAM), and the same probabilities as the classifier."""
    import torch

    from maskxai.explain.base import PixelModel
    from maskxai.explain.gradcam import grad_cam, grad_cam_batch
    from maskxai.registry import get_spec
    from maskxai.weights import _freeze

    torch.manual_seed(0)
    spec = get_spec(name)
    pm = PixelModel(_freeze(spec.build()), spec)
    x = torch.rand(3, 3, 128, 128)
    probs, cams = grad_cam_batch(pm, x)
    with torch.no_grad():
        torch.testing.assert_close(probs, pm(x).softmax(1), atol=1e-5, rtol=1e-4)
    assert any(not c.blank for c in cams)
    for i, c in enumerate(cams):
        own = grad_cam(pm, x[i : i + 1])
        assert c.target == own.target == int(probs[i].argmax()) and c.layer == own.layer == spec.cam_layers[0]
        np.testing.assert_allclose(c.attribution, own.attribution, atol=1e-4)
    with pytest.raises(ValueError, match="batch"):
        grad_cam_batch(pm, x[0])


@pytest.mark.parametrize("name", ["resnet50", "inception_resnet_v1"])
def test_batched_grad_cam_skips_the_backward_pass_only_after_the_last_block(name):
    """After the default layer (``layer4`` / ``block8``) come pooling and an affine map, so the gradients are the
    same for every image and live mode needs no backward pass; a deeper layer is followed by more blocks, so it
    takes the backward pass, and both give each face its own Grad-CAM."""
    import torch

    from maskxai.explain.base import PixelModel
    from maskxai.explain.gradcam import grad_cam, grad_cam_batch, linear_head_weights
    from maskxai.registry import get_spec
    from maskxai.weights import _freeze

    torch.manual_seed(1)
    spec = get_spec(name)
    pm = PixelModel(_freeze(spec.build()), spec)
    head = linear_head_weights(pm)
    assert head is not None and head.shape[0] == len(spec.labels)
    deeper = spec.cam_layers[1]
    assert linear_head_weights(pm, deeper) is None
    x = torch.rand(2, 3, spec.input_size, spec.input_size)
    for layer in (spec.cam_layers[0], deeper):
        _, cams = grad_cam_batch(pm, x, layer)
        for i, c in enumerate(cams):
            np.testing.assert_allclose(c.attribution, grad_cam(pm, x[i : i + 1], layer=layer).attribution, atol=1e-4)


def test_label_size_follows_the_face_within_bounds():
    from maskxai.live import label_size

    assert label_size((0, 0, 75, 90), 640) == 14  # small faces side by side: the smallest size
    assert label_size((0, 0, 175, 200), 640) == 25  # a face near the camera: a seventh of its width
    assert label_size((0, 0, 600, 600), 640) == 26  # at most a 24th of the frame's width
    assert label_size((0, 0, 600, 600), 200) == 14  # and never below 14 px
