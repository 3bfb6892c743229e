import numpy as np
from PIL import Image

from maskxai.render import CLASS_COLOURS, draw_faces, place_tags


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_tags_of_faces_side_by_side_do_not_overlap_and_stay_in_the_photo():
    # Four faces in a row, closer together than a tag is wide: tags above each box would collide.
    boxes = [(40 + 70 * i, 100 + 5 * i, 100 + 70 * i, 170 + 5 * i) for i in range(4)]
    rects = place_tags(boxes, [(150, 24)] * 4, 400, 300)
    assert len(rects) == 4
    for i, r in enumerate(rects):
        assert r[2] - r[0] == 150 and r[3] - r[1] == 24
        assert r[0] >= 0 and r[2] <= 400 and r[1] >= 0 and r[3] <= 300
        assert not any(_overlap(r, q) for q in rects[:i])


def test_a_lone_tag_sits_just_above_its_box_and_below_it_at_the_top_edge():
    (r,) = place_tags([(50, 80, 120, 150)], [(90, 20)], 300, 300)
    assert r == (50, 60, 140, 80)
    (r,) = place_tags([(50, 5, 120, 75)], [(90, 20)], 300, 300)
    assert r == (50, 75, 140, 95)  # no room above: right below the box


def test_draw_faces_paints_each_tag_in_its_class_colour():
    photo = Image.new("RGB", (400, 300), (0, 0, 0))
    boxes = [(40 + 70 * i, 100, 100 + 70 * i, 170) for i in range(4)]
    kinds = ["correctly_masked", "incorrectly_masked", "not_masked", "correctly_masked"]
    out = np.asarray(draw_faces(photo, boxes, [f"{i + 1} Mask worn 99%" for i in range(4)], kinds))
    assert out.shape == (300, 400, 3)
    for kind in set(kinds):  # a filled tag of this colour: far more pixels than its box outlines
        assert (out == CLASS_COLOURS[kind]).all(axis=-1).sum() > 1500 * kinds.count(kind)
    assert np.asarray(photo).sum() == 0  # the input is untouched


def _expl(signed=True):
    from maskxai.explain import Explanation

    a = np.random.default_rng(0).standard_normal((160, 160)).astype(np.float32)
    return Explanation("Integrated Gradients", a if signed else np.abs(a) / np.abs(a).max(), signed, 1, 1.5, key="ig")


def test_panel_map_is_400_px_with_a_free_top_right_corner_and_region_bars():
    from maskxai.regions import face_regions
    from maskxai.render import ICON_GUARD, MAP_SIDE, PANEL_WIDTH, panel

    face = Image.new("RGB", (160, 160), (200, 180, 160))
    e = _expl()
    plain = panel(face, e, title="A very long title that would run under the download and fullscreen icons " * 2)
    with_regions = panel(face, e, regions=face_regions(e.attribution, None))
    assert plain.width == PANEL_WIDTH and MAP_SIDE >= 400
    a = np.asarray(plain)
    assert (a[:40, -ICON_GUARD:] == 255).all()  # nothing drawn where Gradio puts its icons
    assert with_regions.height > panel(face, e).height + 100


def test_plots_render():
    from maskxai.faithfulness import Curves, Faithfulness
    from maskxai.render import faithfulness_plot, map_strip, sanity_plot
    from maskxai.sanity import SanityStep

    fr = np.linspace(0, 1, 5)
    f = Faithfulness(Curves(fr, 1 - fr, fr), Curves(fr, 1 - fr / 2, fr / 2), 8, "grey")
    assert faithfulness_plot({"ig": f}, {"ig": "IG"}).width >= 900
    m = _expl().attribution
    steps = [
        SanityStep("", [], {"ig": m}, {"ig": 1.0}, {"ig": 1.0}),
        SanityStep("fc", ["fc"], {"ig": -m}, {"ig": 0.2}, {"ig": 0.1}),
    ]
    assert sanity_plot(steps, {"ig": "IG"}).width >= 900
    strip = map_strip(Image.new("RGB", (160, 160)), steps, {"ig": "IG"})
    assert strip.height >= 120 and strip.width > 2 * 120
