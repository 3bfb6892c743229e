"""Reports to keep: the HTML holds every map and parameter; the batch CLI reports a bad file and does the rest."""

from __future__ import annotations

import base64
import csv
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

from maskxai.report import FaceReport, MapScores, main, maps_png, to_html, weights_version, write

ROOT = Path(__file__).resolve().parent.parent


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def _report() -> FaceReport:
    colours = [("Grad-CAM", (200, 40, 40)), ("Integrated Gradients", (40, 40, 200))]
    panels = [(t, Image.new("RGB", (120, 150), c)) for t, c in colours]
    return FaceReport(
        source="class photo.jpg",
        face=2,
        photo=Image.new("RGB", (300, 200), (90, 90, 90)),
        label="incorrectly_masked",
        probabilities={"correctly_masked": 0.1, "incorrectly_masked": 0.85, "not_masked": 0.05},
        explained="incorrectly_masked",
        panels=panels,
        parameters={"model": "InceptionResnetV1", "IG steps": "auto (used 32)", "IG baseline": "black"},
        scores=[MapScores("Grad-CAM", "layer block8 (3x3 grid)", 0.28, 1.5, 0.24, 0.58, 0.56, 0.46)],
    )


def test_html_report_holds_every_map_parameter_and_score_and_opens_alone(tmp_path):
    r = _report()
    page = to_html(r)
    for text in ("class photo.jpg", "face 2", "Mask worn incorrectly", "85.0 %", "InceptionResnetV1", "auto (used 32)",
                 "black", "layer block8 (3x3 grid)", "1.50x", "0.240", "Grad-CAM", "Integrated Gradients"):  # fmt: skip
        assert text in page, text
    parser = _Images()
    parser.feed(page)
    assert len(parser.srcs) == 1 + len(r.panels)  # the photo and every map, inside the page
    for src in parser.srcs:
        assert src.startswith("data:image/")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    html_path, png_path = write(r, tmp_path)
    assert html_path.read_text(encoding="utf-8") and html_path.name == "class photo_face2.html"
    png = Image.open(png_path)
    assert png.size == (240, 150)  # two panels in a row
    assert np.asarray(png)[75, 60].tolist() == [200, 40, 40] and np.asarray(png)[75, 180].tolist() == [40, 40, 200]


def test_maps_png_needs_a_map():
    import pytest

    with pytest.raises(ValueError, match="explain at least one map"):
        maps_png([])


def test_weights_version_names_the_file_and_its_hash_not_the_path(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"weights")
    v = weights_version(f"local {f}")
    assert v.startswith("local model.safetensors (sha256 ") and str(tmp_path) not in v
    assert weights_version("hub someone/maskxai@main") == "hub someone/maskxai@main"


def test_batch_cli_reports_a_bad_file_and_explains_the_others(tmp_path, capsys):
    photos = tmp_path / "in"
    photos.mkdir()
    shutil.copy(ROOT / "examples" / "hopper_none.jpg", photos / "hopper.jpg")
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    main([str(photos), str(tmp_path / "missing.png"), "--out", str(out), "--model", "resnet50",
          "--methods", "gradcam,gradients", "--no-faithfulness"])  # fmt: skip
    with open(out / "faces.csv") as fh:
        rows = list(csv.DictReader(fh))
    by_photo = {Path(r["photo"]).name: r for r in rows}
    assert set(by_photo) == {"hopper.jpg", "broken.jpg", "missing.png"}
    assert "not an image" in by_photo["broken.jpg"]["error"] and "not found" in by_photo["missing.png"]["error"]
    face = by_photo["hopper.jpg"]
    assert face["error"] == "" and face["label"] == "not_masked" and face["face"] == "1"
    assert float(face["p_not_masked"]) > 0.5 and face["maps"] == "gradcam gradients"
    report = (out / face["report"]).read_text(encoding="utf-8")
    assert "Grad-CAM" in report and "Gradients" in report and "not computed (--no-faithfulness)" in report
    assert (out / "hopper_face1.png").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="hopper_face1.html"' in index and "1 face(s) explained, 2 photo(s) not" in index
    assert "1 face report(s), 2 photo(s) skipped" in capsys.readouterr().out


def test_the_page_offers_the_report_of_the_explained_face(tmp_path):
    import app

    photo = tmp_path / "hopper.jpg"
    shutil.copy(ROOT / "examples" / "hopper_chin.jpg", photo)
    # without the faithfulness curves (their scores in the report are tested above): 20 s less
    stream = app.explain_stream("resnet50", str(photo), methods=["gradcam", "ig"], steps=16, with_faithfulness=False)
    updates = list(stream)
    done = updates[-1]
    page = Path(done["report_html"]["value"])
    png = Path(done["report_png"]["value"])
    text = page.read_text(encoding="utf-8")
    assert "hopper.jpg: face 1" in text and "ResNet50" in text and "16 steps" in text
    assert re.search(r"resnet50\.safetensors \(sha256 [0-9a-f]{12}\)", text)
    assert "Grad-CAM" in text and "Integrated Gradients" in text and "not computed" in text
    assert Image.open(png).width >= 2 * 400  # two maps side by side
    assert updates[0]["report_html"]["interactive"] is False  # no stale report while a new face is explained


def test_old_reports_are_removed_and_a_later_report_still_comes(tmp_path, monkeypatch):
    """Reports are folders: the clean-up once tried to unlink them, so once the first report was older than the
    cache age (10 min of uptime) every explanation on the page failed."""
    import os
    import time

    import app

    monkeypatch.setattr(app, "REPORT_DIR", tmp_path / "reports")
    old_folder, old_frame, new_file = tmp_path / "reports" / "old", tmp_path / "reports" / "frame.png", None
    old_folder.mkdir(parents=True)
    (old_folder / "report.html").write_text("x")
    old_frame.write_bytes(b"x")
    long_ago = time.time() - app.CACHE_MAX_AGE_S - 60
    for p in (old_folder, old_frame):
        os.utime(p, (long_ago, long_ago))
    new_file = tmp_path / "reports" / "new.png"
    new_file.write_bytes(b"x")
    stream = app.explain_stream("resnet50", str(ROOT / "examples" / "hopper_chin.jpg"), methods=["gradcam"])
    done = list(stream)[-1]
    assert Path(done["report_html"]["value"]).is_file() and done["report_html"]["interactive"]
    assert not old_folder.exists() and not old_frame.exists() and new_file.exists()
