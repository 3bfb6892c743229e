"""The method table: a method registered anywhere shows up in the pipeline, the page and the API records."""

import numpy as np
import pytest
from PIL import Image

from maskxai.explain import METHODS, Explanation, Method, default_methods, list_methods
from maskxai.explain.base import Context
from maskxai.pipeline import explain


def _brightness(ctx: Context) -> Explanation:
    a = ctx.pixels[0].mean(0).numpy().astype(np.float32)
    return Explanation("Brightness map", a / a.max(), False, ctx.target, 0.0, key="brightness")


@pytest.fixture
def brightness(monkeypatch):
    m = Method("brightness", "Brightness map", _brightness, paper="a test", summary="how bright each pixel is.")
    monkeypatch.setitem(METHODS, "brightness", m)
    return m


def test_page_defaults_lead_with_the_most_faithful_cam():
    assert default_methods() == ["layercam", "gradcam", "gradients", "ig"]
    assert {"gradcampp", "layercam", "smoothgrad", "smoothgrad_ig", "occlusion"} <= set(list_methods())


def test_a_registered_method_runs_in_the_pipeline(brightness, untrained):
    face = Image.new("RGB", (160, 160), (120, 90, 60))
    out = list(explain(untrained["resnet50"], face, methods=["ig", "brightness", "gradcam"], steps=8))
    assert [e.key for e in out] == ["brightness", "gradcam", "ig"]  # one-pass methods first
    assert len({e.target for e in out}) == 1


def test_a_registered_method_gets_a_panel_and_a_record_on_the_page(brightness, tmp_path):
    gr = pytest.importorskip("gradio")
    import app

    demo = app.build_demo()
    config = demo.get_config_file()
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert "Brightness map" in labels  # its panel
    boxes = [c for c in config["components"] if c.get("type") == "checkboxgroup"]
    assert any(["Brightness map", "brightness"] in [list(ch) for ch in c["props"]["choices"]] for c in boxes)
    assert "Brightness map" in app.how_to_read()
    photo = tmp_path / "p.png"
    Image.new("RGB", (200, 200), (150, 120, 100)).save(photo)
    merged: dict = {}
    for upd in app.explain_stream(
        "resnet50", str(photo), whole_image=True, methods=["brightness"], faith_patch=40, progress=None
    ):
        merged.update(upd)
    assert isinstance(merged["panel:brightness"], Image.Image) and merged["panel:gradcam"] is None
    assert merged["show:brightness"]["visible"] is True and merged["show:gradcam"]["visible"] is False
    rec = merged["methods_json"]["brightness"]
    assert rec["method"] == "Brightness map" and rec["class"] in (
        "correctly_masked",
        "incorrectly_masked",
        "not_masked",
    )
    assert {"deletion_auc", "insertion_auc", "random_deletion_auc"} <= set(rec["faithfulness"])
    assert rec["regions"]["landmarks"] == "template"  # the whole image: no detected landmarks
    assert gr is not None
