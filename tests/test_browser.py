"""The page in a real headless Chromium: upload a photo, press Explain, see three maps."""

import os
import re
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MASKXAI_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)
ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def page_url():
    from appserver import AppServer

    s = AppServer()
    yield s.url
    s.close()


@pytest.mark.parametrize("example", ["group_photo.jpg", "hopper_below_nose.jpg"])
def test_upload_explain_and_see_maps(page_url, example, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("MASKXAI_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    stem = Path(example).stem
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            page.goto(page_url)
            page.get_by_role("button", name="Explain").wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "before.png"), full_page=True)
            page.set_input_files("input[type=file]", str(ROOT / "examples" / example))
            page.wait_for_timeout(1500)
            page.get_by_role("button", name="Explain").click()
            page.get_by_text(re.compile(r"Total \d+(\.\d+)? s")).wait_for(timeout=240_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / f"after_{stem}.png"), full_page=True)
            body = page.inner_text("body")
            assert "face(s) found" in body
            assert any(k in body for k in ("Mask worn correctly", "Mask worn incorrectly", "No mask"))
            assert "Traceback" not in body
            # faces, three maps and the map on the photo: all rendered images, none still empty
            imgs = page.locator("img[src*='/file=']")
            assert imgs.count() >= 5
        finally:
            browser.close()


def test_no_face_photo_says_so_on_the_page(page_url, tmp_path):
    import skimage.data
    from PIL import Image
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("MASKXAI_SCREENSHOTS", tmp_path))
    photo = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(photo)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(page_url)
            page.get_by_role("button", name="Explain").wait_for(timeout=60_000)
            page.set_input_files("input[type=file]", str(photo))
            page.wait_for_timeout(1500)
            page.get_by_role("button", name="Explain").click()
            page.get_by_text("No face was found").wait_for(timeout=120_000)
            page.screenshot(path=str(shots / "after_no_face.png"), full_page=True)
            assert "Treat the whole image as one face" in page.inner_text("body")
        finally:
            browser.close()
