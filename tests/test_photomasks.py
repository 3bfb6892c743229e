"""Masks cut out of photos (maskxai.photomasks): the cut, its anchors, its placements, and the training pool."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

import maskxai.trainset as ts
from maskxai.photomasks import cut_mask
from maskxai.realmasks import real_mask_coverage, render_real_mask

# As in test_realmasks: a frontal face 200 px wide on a 260 x 300 canvas.
LM = np.array([[100, 100], [160, 100], [130, 135], [108, 160], [152, 160]], dtype=np.float64)
SIZE = (260, 300)
NOSE_TIP, MOUTH, CHIN, EYE = (130, 132), (130, 160), (130, 195), (100, 100)


def _face(seed: int = 0) -> Image.Image:
    """A skin-toned, slightly noisy face with dark eyes and lips and hair above (no mask)."""
    rng = np.random.default_rng(seed)
    a = np.clip(np.array([205, 165, 140]) + rng.normal(0, 6, (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(a)
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, SIZE[0], 60], fill=(60, 40, 30))
    for x, y in LM[:2]:
        d.ellipse([x - 9, y - 5, x + 9, y + 5], fill=(40, 30, 30))
    d.line([tuple(LM[3]), tuple(LM[4])], fill=(150, 70, 70), width=5)
    return img


def _masked(seed: int = 0) -> tuple[Image.Image, np.ndarray]:
    """The face wearing a blue surgical template correctly, and where that mask is (alpha)."""
    face = _face(seed)
    img = render_real_mask(face, LM, "correct", template="surgical_blue", rng=np.random.default_rng(seed))
    cov = real_mask_coverage(SIZE, LM, "correct", template="surgical_blue", rng=np.random.default_rng(seed))
    return img, cov


@pytest.fixture(scope="module")
def cut():
    img, _ = _masked(0)
    t = cut_mask(img, LM, name="photo_test")
    assert t is not None
    return t


def test_the_cut_is_the_worn_mask_with_its_anchors_in_order(cut):
    _, cov = _masked(0)
    ys, xs = np.nonzero(cov > 0.5)
    h, w = cut.rgba.shape[:2]
    # The cut is the mask's size (its lower corners may be rounded), and blue, not skin.
    assert abs(w - (xs.max() - xs.min() + 1)) <= 0.15 * w and abs(h - (ys.max() - ys.min() + 1)) <= 0.15 * h
    solid = cut.rgba[..., 3] > 0.5
    r, g, b = cut.rgba[..., :3][solid].mean(axis=0)
    assert b > r + 0.05, (r, g, b)
    assert solid.mean() > 0.5 and cut.view == "front" and not cut.recolourable
    a, top, c, d, bottom, f = cut.anchors
    assert a[0] < top[0] < c[0] and d[0] < bottom[0] < f[0]
    assert top[1] < a[1] < d[1] < bottom[1] and top[1] < c[1] < f[1] < bottom[1]


def test_no_cut_without_a_mask_or_with_landmarks_off_the_image():
    flat = Image.new("RGB", SIZE, (200, 160, 140))
    assert cut_mask(flat, LM) is None
    assert cut_mask(_face(1), LM) is None  # a bare face: the lower face is the skin above it
    img, _ = _masked(0)
    assert cut_mask(img, LM + (0, 200)) is None


@pytest.mark.parametrize(
    "placement, expect",
    [
        ("correct", {NOSE_TIP: True, MOUTH: True, EYE: False}),
        ("below_nose", {NOSE_TIP: False, MOUTH: True, EYE: False}),
        ("chin", {NOSE_TIP: False, MOUTH: False, CHIN: True, EYE: False}),
        ("hanging", {NOSE_TIP: False, MOUTH: False, EYE: False}),
    ],
)
def test_a_cut_is_placed_like_a_template(cut, placement, expect):
    for seed in range(4):
        cov = real_mask_coverage(SIZE, LM, placement, rng=np.random.default_rng(seed), photo_masks=[cut], photo_share=1)
        for (x, y), covered in expect.items():
            v = cov[y, x]
            assert (v > 0.9) if covered else (v < 0.1), (placement, seed, (x, y), v)


def test_no_pool_or_share_zero_draws_nothing_and_bad_shares_are_refused(cut):
    face = _face(2)
    plain = render_real_mask(face, LM, "below_nose", rng=np.random.default_rng(7)).tobytes()
    for pool, share in (([], 1.0), ([cut], 0.0)):
        out = render_real_mask(
            face, LM, "below_nose", rng=np.random.default_rng(7), photo_masks=pool, photo_share=share
        )
        assert out.tobytes() == plain
    used = render_real_mask(face, LM, "below_nose", rng=np.random.default_rng(7), photo_masks=[cut], photo_share=1)
    assert used.tobytes() != plain
    with pytest.raises(ValueError, match=r"photo_share must be a share in \[0, 1\]"):
        render_real_mask(face, LM, "chin", photo_masks=[cut], photo_share=-0.1)


def test_training_cuts_come_from_masked_photos_with_landmarks_and_reach_the_synthetic_source(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f"masked{i}.png"
        _masked(i)[0].save(p)
        paths.append(p)
    masked = [ts.Sample(path=p, label="correctly_masked") for p in paths]
    bare = [ts.Sample(path=tmp_path / "bare.png", label="not_masked")]
    synth = ts.Source("synthetic", bare, 1.0, synthetic={})
    sources = [synth, ts.Source("face-mask-12k", masked, 1.0)]
    lms = {str(p): LM.tolist() for p in paths[:2]}  # the third has no landmarks: not cut
    assert ts.with_photo_masks(sources, 0.0, lms) is sources
    out = ts.with_photo_masks(sources, 0.3, lms)
    assert len(out[0].photo_masks) == 2 and out[0].photo_share == 0.3 and out[1].photo_masks == ()
    assert {t.name for t in out[0].photo_masks} == {"photo_masked0", "photo_masked1"}
    with pytest.raises(ValueError, match=r"--photo-masks takes a share in \[0, 1\]"):
        ts.with_photo_masks(sources, 1.5, lms)
    with pytest.raises(ValueError, match="none gave a cut"):
        ts.with_photo_masks(sources, 0.5, {})


def test_card_says_which_runs_drew_cut_masks_and_lookalikes():
    from maskxai.modelcard import _hands_limit, training_runs

    plain = {"config": {"model": "resnet50", "epochs": 2, "mix": "face-mask-detection=0", "select": "synthetic"}}
    cut = {
        "config": {
            **plain["config"],
            "init": "w.safetensors",
            "photo_masks": 0.5,
            "placements": "correct=0.5,none=0.4,lookalike_hand=0.1",
        }
    }
    text = training_runs({"extra": {"runs": [plain, cut]}})
    first, second = text.split("\n")[:2]
    assert "cut out of Face Mask 12K" not in first and "lookalike" not in first
    assert "A share 0.5 of the photographed masks were masks cut out of Face Mask 12K" in second
    assert "`lookalike_*` placements" in second
    assert "were only drawn" in _hands_limit({"extra": {"runs": [plain, cut]}})
    assert (
        _hands_limit({"extra": {"runs": [plain]}}) == "A hand or a scarf over the mouth was not in the training data."
    )


def test_large_val_draws_masks_cut_out_of_its_own_split_on_its_bare_faces(tmp_path, monkeypatch):
    """``synthetic-cut`` (large val only): each bare val face once more, with a mask cut out of one of the split's
    own photos of masks worn correctly, placed as :data:`maskxai.trainset.CUT` says; seeded, so the same each time.
    The landmarks of those photos are read from the masked-photo cache next to the landmarks file."""
    from tinyfaces import LM as TINY_LM
    from tinyfaces import faces

    paths = []
    for i in range(3):
        p = tmp_path / f"masked{i}.png"
        _masked(i)[0].save(p)
        paths.append(p)
    bare = faces(tmp_path, 10)
    sources = [
        ts.Source("synthetic", bare, 1.0, synthetic={str(s.path): TINY_LM for s in bare}),
        ts.Source("face-mask-12k", [ts.Sample(path=p, label="correctly_masked") for p in paths], 1.0),
    ]
    asked: list[str] = []

    def cache(ps, file):
        asked.append(file.name)
        return {str(p): LM.tolist() for p in ps}

    monkeypatch.setattr(ts, "standard_sources", lambda *a, **k: sources)
    monkeypatch.setattr(ts, "landmarks_cache", cache)
    std = ts.fixed_eval_set(tmp_path, tmp_path / "lm.json", "val", n_synth=10)
    assert "synthetic-cut" not in std and not asked  # the standard val has no such set and cuts nothing
    big = ts.fixed_eval_set(tmp_path, tmp_path / "lm.json", "val", size="large")
    assert asked == ["lm_masked.json"]
    cut = big["synthetic-cut"]
    labels = [t for _, t in cut]
    assert len(cut) == 10 and set(labels) <= {ts.LABELS.index(k) for k in ("correctly_masked", "incorrectly_masked")}
    assert len(set(labels)) == 2, labels
    # every face wears one of the cuts (blue surgical masks): where it differs from the bare face, it is blue
    for (img, _), face in zip(cut, bare):
        a = np.asarray(img, dtype=np.int16)
        plain = ts.synth_sample(Image.open(face.path), TINY_LM, np.random.default_rng(0), {"real_none": 1.0})[0]
        changed = np.abs(a - np.asarray(plain, dtype=np.int16)).max(axis=2) > 30
        assert changed.mean() > 0.03
        r, _, b = a[changed].mean(axis=0)
        assert b > r + 20, (r, b)
    again = ts.fixed_eval_set(tmp_path, tmp_path / "lm.json", "val", size="large")["synthetic-cut"]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for (a, _), (b, _) in zip(cut, again))


def test_a_photo_gives_the_same_cut_whatever_was_cut_before():
    """GrabCut seeds its colour models from OpenCV's global random state; the cut must not depend on it."""
    img, _ = _masked(0)
    first = cut_mask(img, LM)
    cut_mask(_masked(1)[0], LM)
    again = cut_mask(img, LM)
    assert first is not None and again is not None
    assert np.array_equal(first.rgba, again.rgba) and np.array_equal(first.anchors, again.anchors)
