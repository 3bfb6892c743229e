"""Screenshots for the README's classroom walk-through: one face, every view of the page.

    python docs/make_walkthrough.py [--out docs/walkthrough]

Starts the real app, drives it in Debian's Chromium (Playwright) at 1500 px and saves one JPEG per view:
the maps, the faithfulness tab, a finished sanity check, the model comparison and the "why not?" maps.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def save(png: bytes, path: Path, width: int = 1100) -> None:
    im = Image.open(io.BytesIO(png)).convert("RGB")
    if im.width > width:
        im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
    im.save(path, quality=82, optimize=True)
    print(f"{path} {im.width}x{im.height} {path.stat().st_size // 1024} KB")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "walkthrough")
    p.add_argument("--photo", type=Path, default=ROOT / "examples" / "hopper_below_nose.jpg")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--skip", nargs="*", default=[], choices=["sanity", "compare"], help="views not to remake")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    from maskxai._appserver import AppServer

    with AppServer() as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=a.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1200})
        page.goto(server.url)
        page.get_by_role("button", name="Explain", exact=True).wait_for(timeout=60_000)
        page.set_input_files("input[type=file]", str(a.photo))
        page.wait_for_timeout(1500)
        page.get_by_role("button", name="Explain", exact=True).click()
        page.get_by_text(re.compile(r"Total \d+(\.\d+)? s")).wait_for(timeout=600_000)
        page.wait_for_timeout(1500)
        save(page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": 1500, "height": 1500}),
             a.out / "1_page.jpg")  # fmt: skip
        save(page.locator("#maps").screenshot(), a.out / "2_maps.jpg")

        page.get_by_role("tab", name="Faithfulness").click()
        page.wait_for_timeout(1500)
        save(page.locator("#faithfulness").screenshot(), a.out / "3_faithfulness.jpg")

        if "sanity" not in a.skip:
            page.get_by_role("tab", name="Sanity check").click()
            page.get_by_role("button", name="Run the sanity check on this face").click()
            page.get_by_text("Done.").first.wait_for(timeout=1_200_000)
            page.wait_for_timeout(1500)
            save(page.locator("#sanity").screenshot(), a.out / "4_sanity.jpg")

        if "compare" not in a.skip:
            page.get_by_role("tab", name="Compare").click()
            page.get_by_role("button", name="Compare the models on this face").click()
            page.wait_for_function("document.querySelectorAll('#compare img[src*=\"/file=\"]').length >= 8",
                                   timeout=600_000)  # fmt: skip
            page.wait_for_timeout(1500)
            save(page.locator("#compare").screenshot(), a.out / "5_compare.jpg")

        # "Why not worn correctly?": the same face, the maps of another class
        page.get_by_role("tab", name="Maps").click()
        page.get_by_label("Explain the class").click()
        page.get_by_role("option", name="Mask worn correctly").click()
        page.get_by_role("button", name="Explain", exact=True).click()
        page.get_by_text("a why not? view").wait_for(timeout=120_000)  # the new status (the old one had a Total)
        page.get_by_text(re.compile(r"Total \d+(\.\d+)? s")).wait_for(timeout=600_000)
        page.wait_for_timeout(1500)
        save(page.locator("#maps").screenshot(), a.out / "6_why_not.jpg")
        browser.close()


if __name__ == "__main__":
    main()
