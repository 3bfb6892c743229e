import numpy as np
import pytest
from PIL import Image

from maskxai.realmasks import PLACEMENTS, load_templates, pad_face, real_mask_coverage, render_real_mask

# A frontal face 200 px wide: eyes, nose tip, mouth corners (as in test_masks), on a 260 x 300 canvas
# so that masks pulled onto the chin or hanging from an ear stay in the picture.
LM = np.array([[100, 100], [160, 100], [130, 135], [108, 160], [152, 160]], dtype=np.float64)
NOSE_BRIDGE = (130, 112)
NOSE_TIP = (130, 132)
MOUTH = (130, 160)
CHIN = (130, 195)
EYE = (100, 100)
SIZE = (260, 300)
TEMPLATES = [t.name for t in load_templates() if t.view == "front"]

EXPECT = {  # point -> covered?
    "correct": {NOSE_TIP: True, MOUTH: True, CHIN: True, EYE: False},
    "below_nose": {NOSE_TIP: False, NOSE_BRIDGE: False, MOUTH: True, CHIN: True, EYE: False},
    "chin": {NOSE_TIP: False, MOUTH: False, CHIN: True, EYE: False},
    "nose_mouth": {NOSE_TIP: True, MOUTH: True, EYE: False},
    "hanging": {NOSE_TIP: False, MOUTH: False, EYE: False},
}


def test_every_placement_is_tested_and_labelled():
    assert set(EXPECT) == set(PLACEMENTS)
    assert PLACEMENTS["correct"] == "correctly_masked"
    assert {PLACEMENTS[p] for p in PLACEMENTS if p != "correct"} == {"incorrectly_masked"}


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("placement", list(EXPECT))
def test_each_placement_covers_what_it_should(placement, template):
    for seed in range(4):
        cov = real_mask_coverage(SIZE, LM, placement, template=template, rng=np.random.default_rng(seed))
        assert cov.shape == (SIZE[1], SIZE[0]) and cov.min() >= 0 and cov.max() <= 1
        for (x, y), covered in EXPECT[placement].items():
            v = cov[y, x]
            assert (v > 0.9) if covered else (v < 0.1), (placement, template, seed, (x, y), v)


def test_nose_mouth_leaves_the_chin_out_and_hanging_shows_a_mask():
    for seed in range(4):
        nose_mouth = real_mask_coverage(SIZE, LM, "nose_mouth", template="surgical", rng=np.random.default_rng(seed))
        assert nose_mouth[205, 130] < 0.1
        hanging = real_mask_coverage(SIZE, LM, "hanging", template="surgical", rng=np.random.default_rng(seed))
        assert hanging.sum() > 0.03 * hanging.size  # a visible mask beside the face


def test_render_is_seeded_keeps_input_and_changes_the_mask_area():
    face = Image.new("RGB", SIZE, (200, 160, 140))
    before = face.tobytes()
    a = render_real_mask(face, LM, "below_nose", rng=np.random.default_rng(1))
    b = render_real_mask(face, LM, "below_nose", rng=np.random.default_rng(1))
    assert face.tobytes() == before and a.tobytes() == b.tobytes() and a.mode == "RGB"
    diff = np.abs(np.asarray(a, dtype=int) - np.asarray(face, dtype=int)).max(axis=2)
    assert diff[MOUTH[1], MOUTH[0]] > 20 and diff[EYE[1], EYE[0]] <= 2


def test_head_turn_picks_a_side_view():
    turned = LM.copy()
    turned[2, 0] -= 20  # nose tip towards the image's left
    from maskxai.masks import FaceFrame
    from maskxai.realmasks import _pick

    views = {_pick(FaceFrame.from_landmarks(turned), None, np.random.default_rng(s)).view for s in range(10)}
    assert views == {"left"}


def test_pad_face_moves_landmarks_with_the_face():
    face = Image.new("RGB", (100, 120), (10, 20, 30))
    face.putpixel((50, 60), (255, 255, 255))
    out, lm = pad_face(face, np.tile([[50.0, 60.0]], (5, 1)), margin=0.2)
    assert out.size == (140, 168)
    x, y = lm[0].round().astype(int)
    assert out.getpixel((int(x), int(y))) == (255, 255, 255)


def test_pad_face_fills_its_margin_as_asked():
    a = np.zeros((120, 100, 3), dtype=np.uint8)
    a[:, :50] = (200, 0, 0)  # left half red, right half black: the edges differ from the mean
    face, lm = Image.fromarray(a), np.tile([[50.0, 60.0]], (5, 1))
    edge, mirror, mean = (np.asarray(pad_face(face, lm, fill=f)[0]) for f in ("edge", "symmetric", "mean"))
    assert (edge == np.asarray(pad_face(face, lm)[0])).all()  # stretched edges: the default, as ever
    corner = (2, 2)  # top left of the margin: red when stretched or mirrored, the mean (100, 0, 0) when flat
    assert edge[corner][0] > 180 and mirror[corner][0] > 180 and 80 < mean[corner][0] < 120
    assert (mean[18 + 45 : 18 + 75, 15 + 45 : 15 + 75] == a[45:75, 45:75]).all()  # the face untouched (offset 18, 15)
    with pytest.raises(ValueError, match="unknown fill"):
        pad_face(face, lm, fill="reflect")


def test_errors_name_the_choices():
    face = Image.new("RGB", SIZE)
    with pytest.raises(ValueError, match="unknown placement"):
        render_real_mask(face, LM, "forehead")
    with pytest.raises(ValueError, match="unknown template"):
        render_real_mask(face, LM, "correct", template="velvet")
    with pytest.raises(ValueError, match="face order"):
        render_real_mask(face, LM[[3, 4, 2, 0, 1]], "correct")


def test_training_draws_real_placements_with_their_labels():
    from maskxai.trainset import synth_sample

    face = Image.new("RGB", (200, 220), (200, 160, 140))
    lm = LM - (30, 20)
    labels = {
        synth_sample(face, lm.tolist(), np.random.default_rng(s), {"real_chin": 1.0, "real_none": 1.0})[1]
        for s in range(12)
    }
    assert labels == {"incorrectly_masked", "not_masked"}
    img, lab = synth_sample(face, lm.tolist(), np.random.default_rng(0), {"real_none": 1.0})
    assert lab == "not_masked" and img.size == (260, 286)  # padded like the app's crop margin


def test_a_correct_mask_covers_the_chin_of_real_portraits(portraits, chin_data):
    """On both example portraits, every front template worn correctly covers the chin a tenth of an eye distance
    above its lowest point as a face mesh finds it (docs/chin_landmarks.json): the astronaut's used to show."""
    from maskxai.examples import landmarks
    from maskxai.masks import FaceFrame

    for name, chin in chin_data["portraits"].items():
        img = portraits[name]
        lm = landmarks(img)
        f = FaceFrame.from_landmarks(lm)
        x, y = np.round(np.array(chin) - f.ey * 0.1 * f.d).astype(int)
        for template in TEMPLATES:
            for seed in range(4):
                cov = real_mask_coverage(img.size, lm, "correct", template=template, rng=np.random.default_rng(seed))
                assert cov[y, x] > 0.9, (name, template, seed, cov[y, x])


def test_placements_on_measured_faces(chin_data):
    """Each placement against a face mesh's points on 120 real faces (docs/chin_landmarks.json: Face Mask 12K val
    faces, their MTCNN points and the mesh's chin): rates, since five points cannot place every mask right."""
    from maskxai.masks import FaceFrame

    faces = [r for r in chin_data["faces"] if r["split"] == "val"][:120]
    hits: dict[tuple[str, str], list[bool]] = {}
    for i, r in enumerate(faces):
        lm = np.array(r["lm5"])
        try:
            f = FaceFrame.from_landmarks(lm)
        except ValueError:
            continue
        pad = int(2 * f.d)  # room for masks pulled below the chin
        lm = lm + pad
        size = (r["size"][0] + 2 * pad, r["size"][1] + 2 * pad)
        points = {"nose": lm[2], "mouth": (lm[3] + lm[4]) / 2, "chin": np.array(r["chin"]) + pad}
        for placement in PLACEMENTS:
            cov = real_mask_coverage(size, lm, placement, rng=np.random.default_rng(i))
            for name, (x, y) in points.items():
                hits.setdefault((placement, name), []).append(bool(cov[round(y), round(x)] > 0.5))
    rate = {k: float(np.mean(v)) for k, v in hits.items()}
    assert len(hits["correct", "chin"]) > 100
    assert min(rate["correct", p] for p in ("nose", "mouth", "chin")) >= 0.95, rate
    assert rate["below_nose", "nose"] <= 0.02 and rate["below_nose", "mouth"] >= 0.98, rate
    assert rate["chin", "nose"] <= 0.02 and rate["chin", "mouth"] <= 0.02 and rate["chin", "chin"] >= 0.8, rate
    assert min(rate["nose_mouth", "nose"], rate["nose_mouth", "mouth"]) >= 0.98, rate
    assert rate["nose_mouth", "chin"] <= 0.25, rate  # chin out: 13-15 % of these masks still reach it (README)
    assert max(rate["hanging", p] for p in ("nose", "mouth")) <= 0.02, rate


def test_val_has_half_its_synthetic_faces_with_a_mask_hanging_from_one_ear(tmp_path, monkeypatch):
    """``synthetic-hanging``: the first half of the synthetic val faces, each with a photographed mask hanging
    beside the face (worn incorrectly), the same draws every time."""
    from tinyfaces import LM as TINY_LM
    from tinyfaces import faces

    import maskxai.trainset as ts

    items = faces(tmp_path, 6)
    src = ts.Source("synthetic", items, 1.0, synthetic={str(s.path): TINY_LM for s in items})
    monkeypatch.setattr(ts, "standard_sources", lambda *a, **k: [src])
    val = ts.fixed_eval_set(tmp_path, tmp_path / "lm.json", "val", n_synth=6)
    hanging = val["synthetic-hanging"]
    assert len(hanging) == 3 and {t for _, t in hanging} == {ts.LABELS.index("incorrectly_masked")}
    again = ts.fixed_eval_set(tmp_path, tmp_path / "lm.json", "val", n_synth=6)["synthetic-hanging"]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for (a, _), (b, _) in zip(hanging, again))
    # the mask is beside the face: the padded face's centre (nose, mouth) is as with no mask at all
    bare = ts.synth_sample(Image.open(items[0].path), TINY_LM, np.random.default_rng(0), {"real_none": 1.0})[0]
    h = np.asarray(hanging[0][0], dtype=np.int16)
    assert h.shape == np.asarray(bare).shape
    cy, cx = h.shape[0] // 2, h.shape[1] // 2
    assert (
        np.abs(
            h[cy - 10 : cy + 10, cx - 10 : cx + 10]
            - np.asarray(bare, dtype=np.int16)[cy - 10 : cy + 10, cx - 10 : cx + 10]
        ).max()
        < 40
    )
    assert np.abs(h - np.asarray(bare, dtype=np.int16)).max() > 60  # and a mask is drawn somewhere


def test_photo_fabric_is_the_lower_middle_of_a_masked_face():
    from maskxai.realmasks import FABRIC_BOX, FABRIC_SIDE, photo_fabric

    w, h = 160, 200
    a = np.zeros((h, w, 3), dtype=np.uint8)
    a[...] = (0, 0, 255)  # face and background: blue
    x0, y0, x1, y1 = FABRIC_BOX
    a[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)] = (255, 0, 0)  # the mask's middle: red
    patch = photo_fabric(Image.fromarray(a))
    assert patch.shape == (FABRIC_SIDE, FABRIC_SIDE, 3) and patch.dtype == np.float32
    inner = patch[2:-2, 2:-2]
    assert inner[..., 0].min() > 0.9 and inner[..., 2].max() < 0.1


def test_a_photographed_fabric_colours_the_mask_and_nothing_else():
    face = Image.new("RGB", SIZE, (200, 160, 140))
    green = np.zeros((48, 48, 3), dtype=np.float32)
    green[..., 1] = 0.9
    for seed in range(3):
        out = render_real_mask(
            face,
            LM,
            "below_nose",
            template="surgical",
            rng=np.random.default_rng(seed),
            fabrics=[green],
            fabric_share=1,
        )
        cov = real_mask_coverage(SIZE, LM, "below_nose", template="surgical", rng=np.random.default_rng(seed))
        o = np.asarray(out, dtype=int)
        solid = cov > 0.95
        assert solid.sum() > 500
        r, g, b = (o[..., c][solid].mean() for c in range(3))
        assert g > r + 60 and g > b + 60, (seed, r, g, b)  # the fabric's colour, under the face's light
        x, y = NOSE_TIP
        assert np.abs(o[y, x] - np.asarray(face)[y, x]).max() <= 2  # the nose stays bare


def test_no_fabric_pool_draws_nothing_and_bad_shares_are_refused():
    """Without a pool (or at share 0) the seeded images are those of earlier runs and val sets."""
    face = Image.new("RGB", SIZE, (200, 160, 140))
    plain = render_real_mask(face, LM, "chin", rng=np.random.default_rng(7)).tobytes()
    pool = [np.full((48, 48, 3), 0.5, dtype=np.float32)]
    assert render_real_mask(face, LM, "chin", rng=np.random.default_rng(7), fabrics=[]).tobytes() == plain
    assert (
        render_real_mask(face, LM, "chin", rng=np.random.default_rng(7), fabrics=pool, fabric_share=0).tobytes()
        == plain
    )
    assert (
        render_real_mask(face, LM, "chin", rng=np.random.default_rng(7), fabrics=pool, fabric_share=1).tobytes()
        != plain
    )
    with pytest.raises(ValueError, match=r"fabric_share must be a share in \[0, 1\]"):
        render_real_mask(face, LM, "chin", fabrics=pool, fabric_share=1.5)


def test_training_fabrics_come_from_masked_photos_and_reach_the_synthetic_source(tmp_path):
    from tinyfaces import LM as TINY_LM
    from tinyfaces import faces

    import maskxai.trainset as ts

    items = faces(tmp_path, 4)
    masked = [ts.Sample(path=s.path, label="correctly_masked") for s in items]
    synth = ts.Source("synthetic", items, 1.0, synthetic={str(s.path): TINY_LM for s in items})
    sources = [synth, ts.Source("face-mask-12k", masked, 1.0)]
    assert ts.with_fabrics(sources, 0.0) is sources
    out = ts.with_fabrics(sources, 0.4, limit=3)
    assert len(out[0].fabrics) == 3 and out[0].fabric_share == 0.4 and out[1].fabrics == ()
    with pytest.raises(ValueError, match=r"--fabrics takes a share in \[0, 1\]"):
        ts.with_fabrics(sources, 2.0)
    with pytest.raises(ValueError, match="Face Mask 12K"):
        ts.with_fabrics([synth], 0.5)


def test_synth_draw_boxes_the_mask_a_crop_must_keep():
    """``keep``: a masked draw's box holds every pixel its mask changed; a bare draw gets the box a stand-in mask
    of the same family would have had (in the lower face); without ``keep`` the draw is :func:`synth_sample`'s."""
    from maskxai.trainset import changed_box, synth_draw, synth_sample

    face = Image.new("RGB", (200, 220), (200, 160, 140))
    lm = (LM - (30, 20)).tolist()
    for seed in range(6):
        for shares in ({"real_hanging": 1.0}, {"real_chin": 1.0}, {"chin": 1.0}):
            img, lab, box = synth_draw(face, lm, np.random.default_rng(seed), shares, keep=True)
            ref, ref_lab = synth_sample(face, lm, np.random.default_rng(seed), shares)
            assert img.tobytes() == ref.tobytes() and lab == ref_lab == "incorrectly_masked"
            base = np.asarray(face if "chin" in shares else pad_face(face, np.asarray(lm))[0], dtype=np.int16)
            changed = np.abs(np.asarray(img, dtype=np.int16) - base).max(axis=2) > 24
            ys, xs = np.nonzero(changed)
            assert box is not None
            assert box[0] <= xs.min() and box[2] > xs.max() and box[1] <= ys.min() and box[3] > ys.max()
        for shares in ({"real_none": 1.0, "real_hanging": 0.0}, {"none": 1.0}):
            img, lab, box = synth_draw(face, lm, np.random.default_rng(seed), shares, keep=True)
            assert lab == "not_masked" and box is not None
            assert box[3] > img.size[1] * 0.6  # a stand-in mask lies over the lower face
            assert img.tobytes() == synth_sample(face, lm, np.random.default_rng(seed), shares)[0].tobytes()
    assert synth_draw(face, lm, np.random.default_rng(0), {"real_chin": 1.0})[2] is None
    assert changed_box(face, face) is None


def test_large_val_holds_the_standard_one_and_draws_every_face_more_often(tmp_path, monkeypatch):
    """``size="large"`` (``--val-size large``): every face, two photographed-mask draws each, a hanging mask
    on each and a beard or hand on half; its sets begin with the standard sets' draws (same faces, same seeds),
    so scores on the two agree where they overlap. An unknown size says which exist."""
    from tinyfaces import LM as TINY_LM
    from tinyfaces import faces

    import maskxai.trainset as ts

    items = faces(tmp_path, 8)
    src = ts.Source("synthetic", items, 1.0, synthetic={str(s.path): TINY_LM for s in items})
    monkeypatch.setattr(ts, "standard_sources", lambda *a, **k: [src])
    monkeypatch.setitem(ts.VAL_SIZES, "standard", ts.ValSize(4, 1, 0.5))  # the real one's 300 faces, scaled down
    std = ts.fixed_eval_set(tmp_path, tmp_path / "lm.json", "val")
    big = ts.fixed_eval_set(tmp_path, tmp_path / "lm.json", "val", size="large")
    sizes = {k: (len(std[k]), len(big[k])) for k in std}
    assert sizes == {"synthetic": (4, 8), "synthetic-real": (4, 16), "synthetic-hanging": (2, 8)}, sizes
    # only the large one has lookalikes: half its faces with a beard or a hand over the mouth, none masked
    assert [t for _, t in big["synthetic-lookalike"]] == [ts.LABELS.index("not_masked")] * 4
    for k in std:
        for (a, ta), (b, tb) in zip(std[k], big[k]):
            assert ta == tb and np.array_equal(np.asarray(a), np.asarray(b)), k
    # the second draw of a face is another draw, not the first again
    real = big["synthetic-real"]
    assert any(not np.array_equal(np.asarray(real[i][0]), np.asarray(real[8 + i][0])) for i in range(8))
    with pytest.raises(ValueError, match="standard, large"):
        ts.fixed_eval_set(tmp_path, tmp_path / "lm.json", "val", size="huge")
