import numpy as np
import pytest
from PIL import Image

from maskxai.masks import PLACEMENT_LABEL, STYLES, mask_shape, render_mask

# A frontal face 200 px wide: eyes, nose tip, mouth corners.
LM = np.array([[70, 80], [130, 80], [100, 115], [78, 140], [122, 140]], dtype=np.float64)
NOSE_BRIDGE = (100, 92)
NOSE_TIP = (100, 112)
MOUTH = (100, 140)
CHIN = (100, 175)
EYE = (70, 80)


def coverage(placement, seed, style):
    alpha, *_ = mask_shape((200, 220), LM, placement, style=style, rng=np.random.default_rng(seed))
    return lambda p: alpha[p[1], p[0]]


EXPECT = {  # point -> covered?
    "correct": {NOSE_TIP: True, MOUTH: True, CHIN: True, EYE: False},
    "below_nose": {NOSE_TIP: False, NOSE_BRIDGE: False, MOUTH: True, CHIN: True},
    "chin": {NOSE_TIP: False, MOUTH: False, CHIN: True},
    "nose_mouth": {NOSE_TIP: True, MOUTH: True, EYE: False},
}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("placement", list(EXPECT))
def test_each_placement_covers_what_it_should(placement, style):
    for seed in range(5):
        cov = coverage(placement, seed, style)
        for point, covered in EXPECT[placement].items():
            assert (cov(point) > 0.9) if covered else (cov(point) < 0.1), (placement, style, seed, point)


def test_nose_mouth_leaves_the_chin_lower_than_correct():
    low = [coverage("nose_mouth", s, "surgical")((100, 185)) for s in range(5)]
    assert max(low) < 0.1


def test_render_changes_only_the_masked_area_and_keeps_input():
    face = Image.new("RGB", (200, 220), (200, 160, 140))
    before = face.copy()
    out = render_mask(face, LM, "below_nose", style="surgical", rng=np.random.default_rng(0))
    assert face.tobytes() == before.tobytes()
    a, b = np.asarray(out, dtype=int), np.asarray(face, dtype=int)
    assert np.abs(a - b)[EYE[1], EYE[0]].max() <= 2
    assert np.abs(a - b)[MOUTH[1], MOUTH[0]].max() > 20
    assert render_mask(face, LM, "none").tobytes() == face.tobytes()


def test_seeded_renders_repeat():
    face = Image.new("RGB", (200, 220), (200, 160, 140))
    r = lambda: render_mask(face, LM, "correct", rng=np.random.default_rng(3)).tobytes()  # noqa: E731
    assert r() == r()


def test_labels_and_errors():
    assert set(PLACEMENT_LABEL.values()) == {"correctly_masked", "incorrectly_masked", "not_masked"}
    face = Image.new("RGB", (200, 220))
    with pytest.raises(ValueError, match="unknown placement"):
        render_mask(face, LM, "forehead")
    with pytest.raises(ValueError, match="unknown style"):
        render_mask(face, LM, "correct", style="velvet")
    with pytest.raises(ValueError, match="face order"):
        render_mask(face, LM[[3, 4, 2, 0, 1]], "correct")


def test_renders_on_a_real_portrait(portraits):
    from maskxai.examples import landmarks

    img = portraits["astronaut"]
    out = render_mask(img, landmarks(img), "correct", rng=np.random.default_rng(0))
    assert out.size == img.size and out.tobytes() != img.tobytes()


def test_chin_rule_is_the_fit_to_the_measured_chins(chin_data):
    """CHIN_FIT is the least-squares fit of the face mesh's chins on the train faces (scripts/chin_fit.py)."""
    from maskxai.masks import CHIN_FIT, FaceFrame

    rows = []
    for r in chin_data["faces"]:
        if r["split"] != "train":
            continue
        try:
            f = FaceFrame.from_landmarks(np.array(r["lm5"]))
        except ValueError:  # landmarks out of face order: the renderer refuses them, the fit leaves them out
            continue
        rows.append((1.0, f.nose, f.mouth, f.to_frame(np.array(r["chin"]))[0, 1]))
    a = np.array(rows)
    coef, *_ = np.linalg.lstsq(a[:, :3], a[:, 3], rcond=None)
    assert len(a) > 1000 and np.allclose(coef, CHIN_FIT, atol=0.001), coef


def test_the_chin_of_a_smiling_face_is_not_lifted_with_her_mouth(portraits, chin_data):
    """The astronaut smiles: her mouth corners sit high. The chin estimate stays within 0.3 eye distances of the
    face mesh's chin (the old rule put it 0.38 above), and so does Grace Hopper's."""
    from maskxai.examples import landmarks
    from maskxai.masks import FaceFrame

    for name, chin in chin_data["portraits"].items():
        f = FaceFrame.from_landmarks(landmarks(portraits[name]))
        mesh_v = f.to_frame(np.array(chin))[0, 1]
        assert abs(f.chin - mesh_v) < 0.3, (name, f.chin, mesh_v)


def test_face_frame_maps_pixels_there_and_back():
    from maskxai.masks import FaceFrame

    f = FaceFrame.from_landmarks(LM)
    uv = np.array([[0.0, 0.0], [0.5, 1.2], [-0.3, 1.6]])
    assert np.allclose(f.to_frame(f.to_image(uv)), uv)
    assert np.allclose(f.to_frame(LM[:2]), [[-0.5, 0.0], [0.5, 0.0]])  # the eyes
