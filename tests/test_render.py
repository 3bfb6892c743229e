import numpy as np
from PIL import Image

from maskxai.render import CLASS_COLOURS, draw_faces


def test_numbers_in_the_boxes_and_every_tag_in_a_legend_below_the_photo():
    """Faces closer together than a tag is wide (the group photo): each number sits inside its own box, and the
    tags (number, class, probability) go in a legend under the photo, where they cannot sit on another face."""
    photo = Image.new("RGB", (400, 300), (0, 0, 0))
    boxes = [(40 + 70 * i, 100, 100 + 70 * i, 170) for i in range(4)]
    kinds = ["correctly_masked", "incorrectly_masked", "not_masked", "correctly_masked"]
    out = draw_faces(photo, boxes, [f"{i + 1} Mask worn incorrectly 99%" for i in range(4)], kinds)
    a = np.asarray(out)
    assert out.width == 400 and out.height > 300  # the legend is below the photo
    legend, top = a[300:], a[:300]
    for kind in set(kinds):  # each class's chips in the legend: far more pixels than its box outlines
        assert (legend == CLASS_COLOURS[kind]).all(axis=-1).sum() > 1000 * kinds.count(kind)
    assert (legend == CLASS_COLOURS["correctly_masked"]).all(axis=-1).any(axis=1).sum() > 10
    # on the photo, the only class colour outside the boxes is nowhere: every tag is inside its box
    coloured = np.zeros((300, 400), dtype=bool)
    for c in CLASS_COLOURS.values():
        coloured |= (top == c).all(axis=-1)
    inside = np.zeros((300, 400), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        inside[y0 : y1 + 1, x0 : x1 + 1] = True
    assert coloured.sum() > 0 and not (coloured & ~inside).any()
    assert np.asarray(photo).sum() == 0  # the input is untouched


def test_a_long_legend_wraps_and_stays_inside_the_image():
    photo = Image.new("RGB", (300, 200), (0, 0, 0))
    boxes = [(10 + 20 * i, 50, 28 + 20 * i, 70) for i in range(12)]
    out = draw_faces(photo, boxes, [f"{i + 1} too small" for i in range(12)], ["too_small"] * 12)
    assert out.width == 300 and out.height > 200 + 3 * 20  # several rows of chips
    assert (np.asarray(out)[200:, -3:] == 255).all()  # nothing drawn past the right margin


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


def test_page_photo_has_boxes_only_and_the_legend_as_html():
    """On the page the legend is HTML at 15 px (an image legend shrinks with a wide photo); the photo keeps its size."""
    from maskxai.render import faces_legend_html

    photo = Image.new("RGB", (1500, 400), (90, 90, 90))
    out = draw_faces(photo, [(10, 10, 110, 110)], ["1 No mask 97%"], ["not_masked"], legend=False)
    assert out.size == photo.size
    html = faces_legend_html(["1 No mask 97%", "2 <b>"], ["not_masked", "too_small"])
    assert "font-size:15px" in html and "rgb(215,40,40)" in html and "No mask 97%" in html
    assert "2</b> &lt;b&gt;" in html  # tags are escaped
    assert faces_legend_html([], []) == ""
