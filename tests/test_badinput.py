"""Bad input gets a sentence, in-process and through the API, never Gradio's generic error.

Property tests (hypothesis) drive the image loader and the handler's parameters with arbitrary values.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

gr = pytest.importorskip("gradio")

import app  # noqa: E402
from maskxai.images import MAX_SIDE, MIN_SIDE, ImageError, load_image  # noqa: E402
from maskxai.pipeline import FaceResult  # noqa: E402

GENERIC = "upstream Gradio app has raised an exception"
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def png_declaring(width: int, height: int) -> bytes:
    """A 64x48 PNG whose header declares ``width x height`` (CRC fixed, so only the size is a lie)."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# --- the components' preprocess: values that never reach the handler ---


def _slider(**kw):
    return app.NumberSlider(app.MIN_STEPS, app.MAX_STEPS, value=50, step=1, label="IG steps", **kw)


@pytest.mark.parametrize("value", ["abc", None, True, float("nan"), "inf", 300, 4, "", [8]])
def test_slider_values_that_are_not_numbers_in_range_are_a_sentence(value):
    with pytest.raises(gr.Error, match=r"IG steps must be a number from 8 to 256 \(got "):
        _slider().preprocess(value)


def test_slider_accepts_numbers_given_as_text():
    assert _slider().preprocess("64") == 64 and _slider().preprocess(12.0) == 12


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12)))
@PROPS
def test_slider_preprocess_property(value):
    slider = _slider()
    try:
        out = slider.preprocess(value)
    except gr.Error as exc:
        assert "IG steps must be a number from 8 to 256" in str(exc)
    else:
        assert app.MIN_STEPS <= out <= app.MAX_STEPS


def _photo_payload(path: Path):
    from gradio.data_classes import ImageData

    return ImageData(path=str(path), orig_name=path.name)


def test_photo_input_refuses_a_bomb_before_gradio_opens_it(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(png_declaring(30000, 30000))
    comp = app.PhotoInput(type="filepath", image_mode=None)
    with pytest.raises(gr.Error, match="too large .* up to 50 megapixels"):
        comp.preprocess(_photo_payload(p))


def test_photo_input_refuses_a_bad_base64_snapshot():
    from gradio.data_classes import ImageData

    comp = app.PhotoInput(type="filepath", image_mode=None)
    with pytest.raises(gr.Error, match="not an image we can read"):
        comp.preprocess(ImageData(url="data:image/png;base64,bm90IGFuIGltYWdl"))


# --- the handler's own checks ---


def _faces() -> list[FaceResult]:
    probs = {"correctly_masked": 0.9, "incorrectly_masked": 0.06, "not_masked": 0.04}
    return [
        FaceResult(1, (0, 0, 90, 90), (0, 0, 90, 90), 0.99, False, dict(probs)),
        FaceResult(2, (100, 0, 160, 60), (100, 0, 160, 60), 0.98, False, {**probs, "not_masked": 0.95}),
        FaceResult(3, (200, 0, 220, 20), (200, 0, 220, 20), 0.95, True),
    ]


@pytest.mark.parametrize("choice", ["99", "abc", 0, -1, "2.5", "1; DROP"])
def test_a_face_that_does_not_exist_is_an_error_listing_the_faces(choice):
    with pytest.raises(gr.Error, match=r"There is no face .* by its number: 1 \(Mask worn correctly 90%\), 2 \(No"):
        app.choose_face(_faces(), choice)


def test_a_face_too_small_to_judge_says_so():
    with pytest.raises(gr.Error, match="Face 3 is too small to judge"):
        app.choose_face(_faces(), "3")


@pytest.mark.parametrize(("choice", "index"), [(None, 1), ("", 1), ("2", 2), (2, 2), (2.0, 2), (" 1 ", 1)])
def test_valid_face_choices(choice, index):
    assert app.choose_face(_faces(), choice).index == index


@given(st.one_of(st.none(), st.integers(-5, 200), st.floats(), st.text(max_size=8)))
@PROPS
def test_choose_face_property(choice):
    try:
        face = app.choose_face(_faces(), choice)
    except gr.Error as exc:
        assert "face" in str(exc).lower() and "1 (Mask worn correctly 90%)" in str(exc)
    else:
        assert face.index in (1, 2) and not face.too_small


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


@pytest.mark.parametrize(("model", "layer"), [("resnet50", "mixed_6a"), ("inception_resnet_v1", "layer4")])
def test_a_layer_of_another_model_is_an_error_listing_this_models_layers(model, layer, tmp_path):
    from maskxai.registry import get_spec

    p = tmp_path / "p.png"
    Image.new("RGB", (120, 120)).save(p)
    with pytest.raises(
        gr.Error, match="has no Grad-CAM layer .*Choose one of: " + ", ".join(get_spec(model).cam_layers)
    ):
        _run(model_name=model, layer=layer, image=str(p))


# --- the image loader under arbitrary input ---

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"]
FORMATS = {"PNG": MODES[:8], "JPEG": ["L", "RGB", "CMYK"], "GIF": ["L", "P"], "BMP": ["1", "L", "P", "RGB"]}
FORMATS |= {"TIFF": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "F", "CMYK"], "WEBP": ["RGB", "RGBA"]}


@st.composite
def encoded_images(draw):
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    w, h = draw(st.integers(1, 90)), draw(st.integers(1, 90))
    seed = draw(st.integers(0, 2**16))
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    img = img.convert(mode) if mode not in ("I;16", "I", "F") else img.convert("L").convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    data = bytearray(buf.getvalue())
    damage = draw(st.sampled_from(["none", "truncate", "flip"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= draw(st.integers(1, 255))
    return bytes(data)


def _check_loaded(src) -> None:
    try:
        img = load_image(src)
    except ImageError as exc:
        assert str(exc)[:1].isupper() and str(exc).endswith(".")  # a sentence
    else:
        assert img.mode == "RGB" and min(img.size) >= MIN_SIDE and max(img.size) <= MAX_SIDE


@given(encoded_images())
@PROPS
def test_load_image_property_encoded_files(data):
    _check_loaded(data)


@given(st.binary(max_size=300))
@PROPS
def test_load_image_property_random_bytes(data):
    _check_loaded(data)


@given(st.integers(1, 70000), st.integers(1, 70000))
@PROPS
def test_load_image_property_declared_sizes(width, height):
    """A 64x48 PNG whose header declares any size: over 50 MP always refused as too large, before decoding."""
    data = png_declaring(width, height)
    try:
        img = load_image(data)
    except ImageError as exc:
        if width * height > 50e6:
            assert "too large" in str(exc)
        else:  # the 64x48 pixel data cannot fill the declared size, or it is under 32 px
            assert "damaged" in str(exc) or "too small" in str(exc)
    else:  # decoded (PIL may fill a declared size the data cannot, as it reads rows lazily): never a bomb
        assert width * height <= 50e6 and img.mode == "RGB" and max(img.size) <= MAX_SIDE


# --- through the API: the real server and gradio_client ---


@pytest.fixture(scope="module")
def client(app_server):
    from gradio_client import Client

    return Client(app_server.url, verbose=False)


def _predict(client, model="resnet50", image=None, steps=8, layer=None, face=None, **kw):
    from gradio_client import handle_file

    image = image or str(Path(app.EXAMPLES[0]))
    args = [model, handle_file(image), steps, "black", layer, face, False, 0.6, 0.9, 20]
    return client.predict(*args, api_name="/explain", **kw)


def _api_error(client, **kw) -> str:
    with pytest.raises(Exception) as info:  # noqa: PT011 - gradio_client raises AppError; we check its text
        _predict(client, **kw)
    msg = str(info.value)
    assert GENERIC not in msg, msg
    return msg


def test_api_bomb_png_is_a_sentence(client, tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(png_declaring(30000, 30000))
    assert "too large (900 megapixels)" in _api_error(client, image=str(p))


@pytest.mark.parametrize("steps", ["abc", None, 1e9])
def test_api_bad_steps_is_a_sentence(client, steps):
    assert "IG steps must be a whole number from 8 to 256, or auto" in _api_error(client, steps=steps)


@pytest.mark.parametrize("face", ["99", "abc"])
def test_api_missing_face_lists_the_faces(client, face):
    msg = _api_error(client, face=face)
    assert f"There is no face {face!r}" in msg and "1 (" in msg


@pytest.mark.parametrize(
    ("model", "layer"), [("resnet50", "layer3"), ("resnet50", "layer4"), ("inception_resnet_v1", "block8")]
)
def test_api_each_models_grad_cam_layers_are_accepted(client, model, layer):
    """No dropdown refuses another model's layer before the handler runs (the handler checks it)."""
    out = _predict(client, model=model, layer=layer)
    images = [v for v in out if isinstance(v, str) and v.endswith(".png")]
    assert images and all(Path(v).is_file() for v in images)


def test_api_wrong_layer_lists_the_right_ones(client):
    assert "Choose one of: layer4, layer3" in _api_error(client, layer="block8")
