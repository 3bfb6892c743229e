"""The app: bad input in-process, and the real server through gradio_client."""

from pathlib import Path

import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

import app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _run(**kw):
    args = dict(
        model_name="resnet50",
        image=None,
        steps=8,
        baseline="black",
        layer=None,
        face_choice=None,
        whole_image=False,
        opacity=0.6,
        progress=lambda *a, **k: None,
    )
    args.update(kw)
    return list(app.run_explain(**args))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"image": None}, "No image was given"),
        ({"steps": 300}, "IG steps must be a whole number from 8 to 256"),
        ({"steps": 4}, "IG steps must be a whole number from 8 to 256"),
        ({"steps": 12.5}, "IG steps must be a whole number"),
        ({"baseline": "purple"}, "Unknown IG baseline"),
        ({"model_name": "vgg"}, "unknown model"),
    ],
)
def test_bad_input_is_a_gradio_error(kw, message, tmp_path):
    if "image" not in kw:
        kw["image"] = str(_photo(tmp_path))
    with pytest.raises(gr.Error, match=message):
        _run(**kw)


def _photo(tmp_path, size=(120, 120)):
    p = tmp_path / "p.png"
    Image.new("RGB", size, (90, 120, 150)).save(p)
    return p


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_text("hello"), "not an image"),
        (lambda p: Image.new("RGB", (16, 16)).save(p, format="PNG"), "too small"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40), "damaged|not an image"),
    ],
    ids=["text", "tiny", "corrupt"],
)
def test_bad_files_are_gradio_errors(write, message, tmp_path):
    p = tmp_path / "upload.png"
    write(p)
    with pytest.raises(gr.Error, match=message):
        _run(image=str(p))


def test_no_face_says_so_and_offers_whole_image(tmp_path):
    out = _run(image=str(_photo(tmp_path)))
    assert len(out) == 1
    status = out[0][7]
    assert "No face was found" in status and "whole image" in status
    whole = _run(image=str(_photo(tmp_path)), whole_image=True)
    final = whole[-1]
    assert set(final[1]) == {"Mask worn correctly", "Mask worn incorrectly", "No mask"}
    assert all(isinstance(final[i], Image.Image) for i in (0, 2, 3, 4, 5))
    assert len(whole) == 2 and whole[0][4] is None  # Grad-CAM and gradients first, IG after
    assert "grayscale" not in final[7]  # a coloured photo: no note


def test_a_grayscale_face_gets_a_note_on_colour(tmp_path):
    p = tmp_path / "gray.jpg"
    Image.new("RGB", (120, 120), (110, 110, 110)).save(p)  # a JPEG of a grey image: channels almost equal
    status = _run(image=str(p), whole_image=True)[-1][7]
    assert app.GRAYSCALE_NOTE in status


def test_untrained_models_say_so(monkeypatch, tmp_path):
    from maskxai.pipeline import get_model

    with monkeypatch.context() as m:
        m.setenv("MASKXAI_CHECKPOINTS", str(tmp_path))  # no weights here, and no Hub
        m.setenv("MASKXAI_NO_HUB", "1")
        get_model.cache_clear()
        try:
            assert not get_model("resnet50").trained
            assert "untrained" in app.model_status("resnet50")
        finally:
            get_model.cache_clear()  # the other tests get the shipped weights back
    assert get_model("resnet50").trained and "untrained" not in app.model_status("resnet50")


def test_demo_builds_with_named_endpoints():
    demo = app.build_demo()
    names = {d.api_name for d in demo.fns.values()}
    assert {"explain", "model_info", "reset_face"} <= names


@pytest.fixture(scope="module")
def server(app_server):
    return app_server


@pytest.mark.parametrize("model", ["resnet50", "inception_resnet_v1"])
def test_explain_through_gradio_client(server, model):
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    example = app.EXAMPLES[0] if app.EXAMPLES else None
    assert example, "examples/ is empty: run python -m maskxai.examples"
    out = client.predict(
        model, handle_file(example), 8, "blurred input", None, None, False, 0.6, 0.9, 20, api_name="/explain"
    )
    faces_img, label, cam, grads, ig, on_photo, faces, status, _ = out
    assert set(c["label"] for c in label["confidences"]) == {"Mask worn correctly", "Mask worn incorrectly", "No mask"}
    for path in (faces_img, cam, grads, ig, on_photo):
        with Image.open(path) as im:
            assert im.format == "PNG" and min(im.size) > 100
    assert (
        len(faces) == 1
        and len(faces[0]["box"]) == 4
        and faces[0]["label"] in ("correctly_masked", "incorrectly_masked", "not_masked")
    )
    assert "convergence delta" in status


def test_explain_face_api_returns_one_record_per_method_for_any_class(server):
    """The README's /explain_face example: records by method name, with regions and faithfulness, for the class
    asked (a "why not?" view), and the report files."""
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    out = client.predict(
        "inception_resnet_v1",
        handle_file(str(ROOT / "examples" / "hopper_chin.jpg")),
        methods=["layercam", "gradcam", "ig"],
        steps=16,
        faith_patch=32,
        target="correctly_masked",
        api_name="/explain_face",
    )
    records = next(o for o in out if isinstance(o, dict) and "gradcam" in o)
    assert set(records) == {"layercam", "gradcam", "ig"}
    for rec in records.values():
        assert rec["target"] == 0  # correctly_masked, although the face is predicted "worn incorrectly"
        assert 0 <= rec["regions"]["nose_mouth_chin"]["share"] <= 1 and "deletion_auc" in rec["faithfulness"]
    assert records["ig"]["steps"] == 16 and records["gradcam"]["layer"] == "block8"
    # the download buttons come back as updates: {"interactive": True, "value": <file>}
    files = [o["value"] for o in out if isinstance(o, dict) and str(o.get("value", "")).endswith((".html", ".png"))]
    assert [Path(f).suffix for f in files] == [".html", ".png"]
    assert "hopper_chin.jpg: face 1" in Path(files[0]).read_text(encoding="utf-8")


def test_what_if_api_redraws_the_face_named_by_its_inputs(server):
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    # a mask worn correctly, and a lookalike that draws no mask: ResNet50 calls the hand over hopper's mouth
    # bare (84 %, measured)
    for placement, drawn, label in [
        ("correct", "Mask worn correctly** (drawn as *Mask worn correctly*)", "Mask worn correctly"),
        ("hand", "a hand over the mouth** (drawn as *No mask*)", "No mask"),
    ]:
        out = client.predict(
            placement,
            "resnet50",
            handle_file(str(ROOT / "examples" / "hopper_none.jpg")),
            methods=["gradcam"],
            api_name="/what_if",
        )
        sentence = next(o for o in out if isinstance(o, str) and o.startswith("Redrawn"))
        assert drawn in sentence and sentence.endswith("as drawn."), sentence
        labels = [o for o in out if isinstance(o, dict) and "label" in o]
        assert [lab["label"] for lab in labels] == ["No mask", label]


def test_compare_models_api_labels_the_face_named_by_its_inputs(server):
    """/compare_models with no page state: every model's label for the face the inputs name."""
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    out = client.predict(
        "resnet50",
        handle_file(str(ROOT / "examples" / "hopper_none.jpg")),
        methods=["gradcam"],
        api_name="/compare_models",
    )
    labels = [o for o in out if isinstance(o, dict) and "label" in o]
    assert len(labels) == len(app.list_models())
    assert all({c["label"] for c in lab["confidences"]} == set(app.DISPLAY_NAMES.values()) for lab in labels)


def test_sanity_check_api_needs_a_face():
    """Through the API with no state and no image the sanity check says what to do first."""
    with pytest.raises(gr.Error, match="Explain a face first"):
        next(app.sanity_stream(None, ["gradcam"], "resnet50", None))


def test_api_rejects_a_non_image(server, tmp_path):
    from gradio_client import Client, handle_file

    p = tmp_path / "notes.png"
    p.write_text("not a photo")
    client = Client(server.url, verbose=False)
    with pytest.raises(Exception, match="not an image we can read"):
        client.predict(
            "resnet50", handle_file(str(p)), 8, "black", None, None, False, 0.6, 0.9, 20, api_name="/explain"
        )


def test_share_failure_keeps_serving_locally():
    import urllib.request

    from maskxai._appserver import AppServer

    s = AppServer("--share")
    try:
        assert "could not create a public share link" in s.output()
        with urllib.request.urlopen(s.url, timeout=10) as r:
            assert r.status == 200
    finally:
        s.close()


def test_blank_grad_cam_message_names_the_other_layers():
    msg = app.blank_cam_message("repeat_2", ("mixed_6a", "block8", "repeat_2"))
    assert "`repeat_2`" in msg and "`mixed_6a`, `block8`" in msg and "More settings" in msg
    assert "Try another layer" not in app.blank_cam_message("layer4", ("layer4",))
