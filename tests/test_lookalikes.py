"""Hard negatives: a beard or a hand over a bare face's mouth, labelled ``not_masked``."""

import numpy as np
import pytest
from PIL import Image

from maskxai.lookalikes import LOOKALIKES, render_lookalike

# The frontal face of test_realmasks: eyes, nose tip, mouth corners on a 260 x 300 canvas.
LM = np.array([[100, 100], [160, 100], [130, 135], [108, 160], [152, 160]], dtype=np.float64)
EYES = [(100, 100), (160, 100)]
MOUTH = (130, 161)
SIZE = (260, 300)
SKIN = (200, 160, 140)


def _diff(a: Image.Image, b: Image.Image) -> np.ndarray:
    return np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max(axis=2)


@pytest.mark.parametrize("kind", LOOKALIKES)
def test_drawn_on_the_lower_face_seeded_and_input_kept(kind):
    face = Image.new("RGB", SIZE, SKIN)
    before = face.tobytes()
    lower = 0
    for seed in range(12):
        a = render_lookalike(face, LM, kind, rng=np.random.default_rng(seed))
        b = render_lookalike(face, LM, kind, rng=np.random.default_rng(seed))
        assert a.tobytes() == b.tobytes() and a.mode == "RGB" and a.size == SIZE
        d = _diff(a, face)
        for x, y in EYES:  # the eyes stay bare
            assert d[y - 6 : y + 7, x - 6 : x + 7].max() <= 3, (kind, seed)
        ys, xs = np.nonzero(d > 4)  # a hand is the face's own colour: only its shading shows
        assert len(ys) > 0.02 * d.size, (kind, seed)  # something visible was drawn
        lower += ys.mean() > LM[2, 1]  # mostly below the nose tip
    assert face.tobytes() == before
    assert lower >= 11, lower


def test_a_beard_leaves_the_lips_and_a_hand_takes_the_face_colour():
    face = Image.new("RGB", SIZE, SKIN)
    for seed in range(8):
        beard = render_lookalike(face, LM, "beard", rng=np.random.default_rng(seed))
        assert _diff(beard, face)[MOUTH[1], MOUTH[0]] <= 30, seed
        hand = np.asarray(render_lookalike(face, LM, "hand", rng=np.random.default_rng(seed)), dtype=float)
        drawn = _diff(Image.fromarray(hand.astype(np.uint8)), face) > 4
        mean = hand[drawn].mean(axis=0)
        # the face's own skin, lit and shaded: warmer channels stay in the face's order, brightness near it
        assert mean[0] > mean[1] > mean[2] and abs(mean.mean() - np.mean(SKIN)) < 50, (seed, mean)
    # on a darker face the hand is darker: the colour is taken from the cheeks, not fixed
    dark = Image.new("RGB", SIZE, (90, 60, 45))
    light_hand = np.asarray(render_lookalike(face, LM, "hand", rng=np.random.default_rng(0)), dtype=float)
    dark_hand = np.asarray(render_lookalike(dark, LM, "hand", rng=np.random.default_rng(0)), dtype=float)
    m = _diff(Image.fromarray(light_hand.astype(np.uint8)), face) > 4
    assert dark_hand[m].mean() < light_hand[m].mean() - 50


def test_unknown_kind_names_the_choices():
    with pytest.raises(ValueError, match="beard"):
        render_lookalike(Image.new("RGB", SIZE), LM, "scarf")


def test_training_draws_lookalikes_as_no_mask_and_zero_shares_change_nothing():
    import maskxai.trainset as ts

    face = Image.new("RGB", (200, 220), SKIN)
    lm = (LM - (30, 20)).tolist()
    for s in range(6):
        img, lab, box = ts.synth_draw(face, lm, np.random.default_rng(s), ts.LOOKALIKE, keep=True)
        assert lab == "not_masked" and img.size == (260, 286)  # padded like the real_* placements
        assert box is not None and box[1] > 100  # the box a crop must keep: what was drawn, on the lower face
    # The lookalike placements' zero default shares leave every earlier draw as it was.
    without = {k: v for k, v in ts.PLACEMENT_P.items() if not k.startswith("lookalike_")}
    assert len(without) < len(ts.PLACEMENT_P)
    for s in range(20):
        a, la = ts.synth_sample(face, lm, np.random.default_rng(s))
        b, lb = ts.synth_sample(face, lm, np.random.default_rng(s), without)
        assert la == lb and a.tobytes() == b.tobytes()
