"""The page in a real headless Chromium: upload a photo, press Explain, see the maps and every view."""

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MASKXAI_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)
ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def page_url(app_server):
    return app_server.url


@contextmanager
def explained(url: str, height: int = 1300) -> Iterator[Any]:
    """A Chromium page on the app, loaded and ready (closed afterwards)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": height})
            page.goto(url)
            page.get_by_role("button", name="Explain", exact=True).wait_for(timeout=60_000)
            yield page
        finally:
            browser.close()


def _upload_and_explain(page: Any, photo: Path) -> None:
    page.set_input_files("input[type=file]", str(photo))
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Explain", exact=True).click()


def _shots(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("MASKXAI_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def test_no_face_photo_says_so_on_the_page(page_url, tmp_path):
    import skimage.data
    from PIL import Image

    shots = _shots(tmp_path)
    photo = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(photo)
    with explained(page_url, height=1100) as page:
        _upload_and_explain(page, photo)
        page.get_by_text("No face was found").wait_for(timeout=120_000)
        page.screenshot(path=str(shots / "after_no_face.png"), full_page=True)
        assert "Treat the whole image as one face" in page.inner_text("body")


def _map_widths(page: Any) -> list[float]:
    maps = page.locator("#maps .map-panel img")
    return [b["width"] for b in (maps.nth(i).bounding_box() for i in range(maps.count())) if b]


def test_every_view_open_maps_wide_enough(page_url, tmp_path):
    """Explain, then open every tab (faithfulness, sanity check with Stop, compare, what if, API records) at 1500 px: no
    traceback, maps at least 400 px wide; then the same views at 1024 px (nothing recomputed): nothing wider than
    the window. Screenshots of each view at both widths."""
    shots = _shots(tmp_path)
    from playwright.sync_api import sync_playwright

    tabs = ("Faithfulness", "Sanity check", "Compare", "What if", "Live", "API")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            page.goto(page_url)
            page.get_by_role("button", name="Explain", exact=True).wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "before.png"), full_page=True)
            page.get_by_label("LayerCAM").check()
            # 16 IG steps: the views' layout is the point here, and auto steps would multiply the time
            page.get_by_label("IG steps").click()
            page.get_by_role("option", name="16", exact=True).click()
            _upload_and_explain(page, ROOT / "examples" / "group_photo.jpg")
            page.get_by_text(re.compile(r"Total \d+(\.\d+)? s")).wait_for(timeout=600_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "views_1500_maps.png"), full_page=True)
            page.screenshot(path=str(shots / "after_group_photo.png"), full_page=True)  # the README's screenshot
            body = page.inner_text("body")
            assert "4 face(s) found" in body and "16 steps" in body and "Traceback" not in body
            assert any(k in body for k in ("Mask worn correctly", "Mask worn incorrectly", "No mask"))
            widths = _map_widths(page)
            assert len(widths) == 4, widths  # Grad-CAM, gradients, IG, LayerCAM
            # each panel draws its map on 400 of its 500 px: the panel must get at least 500
            assert min(widths) >= 500, widths
            for tab in tabs:
                page.get_by_role("tab", name=tab).click()
                page.wait_for_timeout(500)
                if tab == "Sanity check":
                    page.get_by_role("button", name="Run the sanity check on this face").click()
                    page.get_by_text("block(s) random so far").wait_for(timeout=300_000)
                    page.get_by_role("button", name="Stop", exact=True).click()
                if tab == "Compare":
                    page.get_by_role("button", name="Compare the models on this face").click()
                    # both models' four maps have arrived (hidden slots of unchosen methods hold no image)
                    page.wait_for_function(
                        "document.querySelectorAll('#compare img[src*=\"/file=\"]').length >= 8", timeout=300_000
                    )
                if tab == "What if":
                    page.get_by_role("button", name="Redraw the face and explain").click()
                    page.wait_for_function(
                        "document.querySelectorAll('#whatif img[src*=\"/file=\"]').length >= 8", timeout=300_000
                    )
                    assert "Redrawn: Mask under the nose" in page.inner_text("#whatif")
                page.wait_for_timeout(1000)
                page.screenshot(path=str(shots / f"views_1500_{tab.split()[0].lower()}.png"), full_page=True)
                assert "Traceback" not in page.inner_text("body")
            body = page.inner_text("body")
            assert "Most faithful map here" in body and "deletion" in body.lower()

            page.set_viewport_size({"width": 1024, "height": 1200})
            page.wait_for_timeout(1000)
            for tab in ("Maps", *tabs):
                page.get_by_role("tab", name=tab).click()
                page.wait_for_timeout(700)
                page.screenshot(path=str(shots / f"views_1024_{tab.split()[0].lower()}.png"), full_page=True)
                scroll_w = page.evaluate("document.documentElement.scrollWidth")
                assert scroll_w <= 1024, f"{tab}: the page is {scroll_w} px wide in a 1024 px window"
                if tab == "Maps":
                    widths = _map_widths(page)
                    assert len(widths) == 4 and min(widths) >= 400, widths
                    # the face legend beside the photo: every face, text at least 12 px at this width too
                    chips = page.locator("#faces-legend span")
                    assert chips.count() == 4 and "4 " in chips.nth(3).inner_text()
                    sizes = chips.evaluate_all("cs => cs.map(c => parseFloat(getComputedStyle(c).fontSize))")
                    assert min(sizes) >= 12, sizes
        finally:
            browser.close()


def test_a_bomb_upload_gets_a_sentence_on_the_page(page_url, tmp_path):
    """A small PNG that declares 30000x30000 pixels: refused from its header, with a sentence, not a traceback."""
    import struct
    import zlib

    from PIL import Image

    p = tmp_path / "bomb.png"
    Image.new("RGB", (64, 48), (90, 120, 150)).save(p)
    data = bytearray(p.read_bytes())
    struct.pack_into(">II", data, 16, 30000, 30000)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    p.write_bytes(bytes(data))
    with explained(page_url, height=1100) as page:
        _upload_and_explain(page, p)
        page.get_by_text(re.compile("This image is too large .* up to 50 megapixels")).first.wait_for(timeout=60_000)
        page.screenshot(path=str(_shots(tmp_path) / "after_bomb.png"), full_page=True)
        assert "upstream Gradio app" not in page.inner_text("body")
