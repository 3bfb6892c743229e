"""What if: the explained face redrawn with the project's mask renderer, classified as drawn on a fixed example."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maskxai.pipeline import classify, face_crop, face_geometry, find_faces, get_model
from maskxai.whatif import WHATIF, redraw

ROOT = Path(__file__).resolve().parent.parent
# The placements both shipped models read as drawn on hopper_none (measured; "chin out" and "hanging from one ear"
# are drawn too, but the models still miss them: the weakness issue #13 is about, shown on the page as it is).
RELIABLE = ("correct", "below_nose")


@pytest.fixture(scope="module")
def hopper():
    photo = Image.open(ROOT / "examples" / "hopper_none.jpg").convert("RGB")
    return photo


@pytest.mark.parametrize("model", ["inception_resnet_v1", "resnet50"])
@pytest.mark.parametrize("placement", RELIABLE)
def test_redrawn_face_is_classified_as_drawn(hopper, model, placement):
    lm = get_model(model)
    face = find_faces(hopper, lm)[0]
    assert face.label == "not_masked"  # the fixed example starts without a mask
    crop = face_crop(hopper, face)
    marks, _box = face_geometry(face, lm.spec.input_size)
    drawn = redraw(crop, marks, lm.spec.input_size, placement)
    probs = classify(lm, [drawn])[0]
    assert lm.spec.labels[int(probs.argmax())] == WHATIF[placement][1], probs


def test_redraw_is_seeded_changes_only_the_lower_face_and_explains_bad_calls(hopper):
    lm = get_model("inception_resnet_v1")
    face = find_faces(hopper, lm)[0]
    crop = face_crop(hopper, face)
    marks, _box = face_geometry(face, 160)
    eyes_y = int(marks[:2, 1].mean() * crop.height / 160)
    for placement in ("correct", "beard", "hand"):  # a mask, and the two lookalikes that draw no mask
        a, b = redraw(crop, marks, 160, placement), redraw(crop, marks, 160, placement)
        assert np.array_equal(np.asarray(a), np.asarray(b)) and a.size == crop.size
        diff = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(crop.convert("RGB"), dtype=np.int16)).sum(2) > 30
        below, above = diff[eyes_y + 5 :].mean(), diff[: max(1, eyes_y - 25)].mean()
        assert below > 0.05 and above < 0.01, (placement, below, above)  # drawn below the eyes only
    with pytest.raises(ValueError, match="Choose one of: correct, below_nose"):
        redraw(crop, marks, 160, "forehead")
    with pytest.raises(ValueError, match="no landmarks"):
        redraw(crop, None, 160, "correct")


def test_whatif_stream_on_the_page_shows_both_faces(hopper, tmp_path):
    import app

    photo = tmp_path / "hopper.png"
    hopper.save(photo)
    request = ("inception_resnet_v1", str(photo), None, False, "predicted", ["gradcam", "gradients"], 16, "black")
    updates = list(app.whatif_stream(None, ["gradcam", "gradients"], "below_nose", *request))
    first = updates[0]
    assert first["wi_label:orig"]["No mask"] > 0.5 and first["wi_label:new"]["Mask worn incorrectly"] > 0.5
    assert "Mask under the nose" in first["wi_text"] and "as drawn" in first["wi_text"]
    panels = {k for u in updates for k in u if k.startswith("wi:")}
    assert panels == {f"wi:{s}:{m}" for s in ("orig", "new") for m in ("gradcam", "gradients")}
    assert updates[-1] == {"stage": "done"}
    with pytest.raises(Exception, match="Explain a face first"):
        list(app.whatif_stream(None, ["gradcam"], "correct"))
