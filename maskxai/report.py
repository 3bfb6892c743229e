"""Reports to keep: one self-contained HTML page (and a PNG of the maps) per explained face.

    python -m maskxai.report PHOTO_OR_FOLDER... --out DIR [--model M] [--methods layercam,gradcam,...]

writes, for every face judged in every photo, ``<photo>_face<k>.html`` (photo with boxes, prediction and
probabilities, every map with its colour scale and region bars, the parameters and the scores) and
``<photo>_face<k>.png`` (the maps side by side), plus ``faces.csv`` (one row per face, or per photo that
could not be read, with the reason) and ``index.html`` linking them all. A bad file is reported and skipped;
the run goes on. The page's "Download report" button writes the same HTML and PNG for the explained face.
"""

from __future__ import annotations

import argparse
import base64
import csv
import functools
import hashlib
import html
import io
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from .registry import DISPLAY_NAMES

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class MapScores:
    """What the page shows about one map, as numbers."""

    method: str
    parameters: str
    lower_share: float | None = None
    lower_ratio: float | None = None
    deletion_auc: float | None = None
    insertion_auc: float | None = None
    random_deletion_auc: float | None = None
    random_insertion_auc: float | None = None


@dataclass
class FaceReport:
    """Everything a report of one explained face holds.

    Attributes:
        source: The photo's name.
        face: The face's number on the photo (1 = the largest).
        photo: The photo with the numbered, coloured boxes.
        label: The predicted class (a key of ``DISPLAY_NAMES``).
        probabilities: Class -> probability.
        explained: The class the maps explain.
        panels: (method title, rendered panel with its colour scale and region bars).
        parameters: Model, weights, settings, as shown.
        scores: One row per map.
    """

    source: str
    face: int
    photo: Image.Image
    label: str
    probabilities: dict[str, float]
    explained: str
    panels: list[tuple[str, Image.Image]]
    parameters: dict[str, str]
    scores: list[MapScores] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return f"{Path(self.source).stem}_face{self.face}"


def maps_png(panels: Sequence[tuple[str, Image.Image]], columns: int = 2) -> Image.Image:
    """The panels in a grid (``columns`` a row), on white: the PNG that goes with the report."""
    if not panels:
        raise ValueError("no maps to put in the picture: explain at least one map")
    w = max(p.width for _, p in panels)
    rows = [panels[i : i + columns] for i in range(0, len(panels), columns)]
    heights = [max(p.height for _, p in row) for row in rows]
    out = Image.new("RGB", (w * min(columns, len(panels)), sum(heights)), "white")
    y = 0
    for row, h in zip(rows, heights):
        for i, (_, p) in enumerate(row):
            out.paste(p.convert("RGB"), (i * w, y))
        y += h
    return out


def _data_uri(img: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    mime = "jpeg" if fmt == "JPEG" else "png"
    return f"data:image/{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def _num(v: float | None, fmt: str = "{:.3f}") -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def to_html(r: FaceReport) -> str:
    """The report as one HTML page with its images inside (no other file needed to open it)."""
    e = html.escape
    photo = r.photo.copy()
    photo.thumbnail((1200, 1200))
    probs = "".join(
        f"<tr><td>{e(DISPLAY_NAMES.get(k, k))}</td><td>{100 * v:.1f} %</td></tr>"
        for k, v in sorted(r.probabilities.items(), key=lambda kv: -kv[1])
    )
    params = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in r.parameters.items())
    scores = "".join(
        "<tr>"
        + "".join(
            f"<td>{c}</td>"
            for c in (
                e(s.method),
                e(s.parameters),
                _num(s.lower_share, "{:.0%}"),
                _num(s.lower_ratio, "{:.2f}x"),
                _num(s.deletion_auc),
                _num(s.random_deletion_auc),
                _num(s.insertion_auc),
                _num(s.random_insertion_auc),
            )
        )
        + "</tr>"
        for s in r.scores
    )
    panels = "".join(
        f'<figure><img src="{_data_uri(p)}" alt="{e(t)}"><figcaption>{e(t)}</figcaption></figure>' for t, p in r.panels
    )
    label = DISPLAY_NAMES.get(r.label, r.label)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>maskxai: {e(r.source)}, face {r.face}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; }}
th {{ text-align: left; background: #f4f4f4; }} figure {{ display: inline-block; margin: 0 8px 8px 0; }}
figcaption {{ font-size: 13px; color: #555; }} .photo {{ max-width: 100%; }}
</style></head><body>
<h1>{e(r.source)}: face {r.face} is <em>{e(label)}</em></h1>
<img class="photo" src="{_data_uri(photo, "JPEG")}" alt="the photo with the faces found">
<h2>Prediction</h2><table>{probs}</table>
<p>The maps explain the class <strong>{e(DISPLAY_NAMES.get(r.explained, r.explained))}</strong>.
CAMs (Grad-CAM, Grad-CAM++, LayerCAM) are relative: 1 = the strongest region in this image.
Gradients, IG, SmoothGrad and occlusion are signed: red for the class, blue against it.
The bars under each map: the share of its positive weight on each region of the face, the tick the region's area.</p>
<h2>Maps</h2>{panels}
<h2>Scores</h2>
<table><tr><th>map</th><th>parameters</th><th>nose+mouth+chin share</th><th>share / area</th>
<th>deletion AUC (lower is better)</th><th>random</th><th>insertion AUC (higher is better)</th><th>random</th></tr>
{scores}</table>
<h2>Parameters</h2><table>{params}</table>
<p>Made by maskxai on {time.strftime("%Y-%m-%d %H:%M")}.</p>
</body></html>
"""


def write(r: FaceReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<stem>.html`` and ``<stem>.png`` into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page, png = out_dir / f"{r.stem}.html", out_dir / f"{r.stem}.png"
    page.write_text(to_html(r), encoding="utf-8")
    maps_png(r.panels).save(png)
    return page, png


@functools.lru_cache(maxsize=8)
def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_version(source: str) -> str:
    """``source`` (``"local <path>"``, ``"hub ..."``, ``"untrained ..."``) with a local file named by its file name
    and the first 12 hex digits of its SHA-256 (no server paths in a report that is shared)."""
    kind, _, rest = source.partition(" ")
    path = Path(rest.split(" ")[0]) if rest else None
    if path is not None and path.is_file():
        return f"{kind} {path.name} (sha256 {_sha256(str(path))[:12]})"
    return source


def scores_from(e: Any, regions: Any = None, faith: Any = None) -> MapScores:
    """A :class:`MapScores` from an explanation, its region shares and its faithfulness (either may be None)."""
    return MapScores(
        method=e.method,
        parameters=e.caption(),
        lower_share=None if regions is None else regions.lower_share,
        lower_ratio=None if regions is None else regions.lower_ratio,
        deletion_auc=None if faith is None else faith.map.deletion_auc,
        insertion_auc=None if faith is None else faith.map.insertion_auc,
        random_deletion_auc=None if faith is None else faith.random.deletion_auc,
        random_insertion_auc=None if faith is None else faith.random.insertion_auc,
    )


# --- many photos from the command line ---

CSV_FIELDS = (
    "photo",
    "face",
    "box",
    "label",
    "p_correctly_masked",
    "p_incorrectly_masked",
    "p_not_masked",
    "explained",
    "maps",
    "nose_mouth_chin_ratio",
    "report",
    "error",
)


def photos_in(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, and the images inside folders given (sorted); a path that does not exist is kept, so that
    it is reported like any other bad input."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(p)
    return out


def report_photo(
    path: Path, model_name: str, methods: list[str], out_dir: Path, settings: Any, faithful: bool, patch: int
) -> list[dict[str, Any]]:
    """Reports for every judged face of one photo, and its CSV rows (one row with ``error`` if it fails)."""
    from .explain import METHODS
    from .faithfulness import faithfulness, random_curves
    from .images import load_image
    from .pipeline import face_context, face_crop, face_geometry, find_faces, get_model, run
    from .regions import face_regions
    from .render import draw_faces, panel

    lm = get_model(model_name)
    photo = load_image(path)
    faces = find_faces(photo, lm)
    judged = [f for f in faces if not f.too_small]
    if not judged:
        why = "no face found" if not faces else "every face is under 40 px"
        return [{"photo": str(path), "error": f"{why}: nothing to explain"}]
    annotated = draw_faces(
        photo, [f.box for f in faces], [f.tag() for f in faces], [f.label or "too_small" for f in faces]
    )
    rows = []
    for f in judged:
        crop = face_crop(photo, f)
        probs = f.probabilities or {}
        ctx = face_context(lm, crop, lm.spec.labels.index(max(probs, key=probs.__getitem__)), settings)
        landmarks, box = face_geometry(f, lm.spec.input_size)
        rnd = random_curves(ctx.pm, ctx.pixels, ctx.target, patch, "grey") if faithful else None
        panels, scores = [], []
        for n in methods:
            e = run(ctx, n)
            reg = face_regions(e.attribution, landmarks, box)
            fa = None
            if faithful:
                fa = faithfulness(ctx.pm, ctx.pixels, ctx.target, e.attribution, patch=patch, fill="grey", random=rnd)
            label = DISPLAY_NAMES[lm.spec.labels[e.target]]
            panels.append((METHODS[n].title, panel(crop, e, 0.6, f"{e.method} · {label}", e.caption(), reg)))
            scores.append(scores_from(e, reg, fa))
        parameters = {
            "model": lm.spec.title,
            "weights": weights_version(lm.source),
            "maps": ", ".join(METHODS[n].title for n in methods),
            "IG steps": str(settings.steps),
            "IG baseline": settings.baseline,
            "CAM layer": settings.layer or f"the model's default ({lm.spec.cam_layers[0]})",
            "faithfulness": f"{patch} px patches, grey fill" if faithful else "not computed (--no-faithfulness)",
            "face box (px)": ", ".join(f"{v:.0f}" for v in f.box),
        }
        r = FaceReport(
            path.name, f.index, annotated, f.label or "", probs, lm.spec.labels[ctx.target], panels, parameters, scores
        )
        page, _png = write(r, out_dir)
        rows.append(
            {
                "photo": str(path),
                "face": f.index,
                "box": " ".join(f"{v:.0f}" for v in f.box),
                "label": f.label,
                **{f"p_{k}": f"{v:.4f}" for k, v in probs.items()},
                "explained": lm.spec.labels[ctx.target],
                "maps": " ".join(methods),
                "nose_mouth_chin_ratio": " ".join(f"{s.lower_ratio:.2f}" for s in scores if s.lower_ratio is not None),
                "report": page.name,
            }
        )
    return rows


def index_html(rows: list[dict[str, Any]]) -> str:
    e = html.escape
    body = []
    for r in rows:
        if r.get("error"):
            body.append(f"<tr><td>{e(r['photo'])}</td><td></td><td colspan=2 class=err>{e(r['error'])}</td></tr>")
        else:
            link = f'<a href="{e(r["report"])}">{e(DISPLAY_NAMES.get(r["label"], r["label"]))}</a>'
            p = max(float(r[f"p_{r['label']}"]), 0.0)
            body.append(f"<tr><td>{e(r['photo'])}</td><td>{r['face']}</td><td>{link}</td><td>{100 * p:.0f} %</td></tr>")
    n_err = sum(1 for r in rows if r.get("error"))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>maskxai reports</title><style>"
        "body{font:15px system-ui,sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:3px 8px}"
        "table{border-collapse:collapse}.err{color:#b00}</style></head><body>"
        f"<h1>maskxai reports</h1><p>{len(rows) - n_err} face(s) explained, {n_err} photo(s) not.</p>"
        "<table><tr><th>photo</th><th>face</th><th>prediction (report)</th><th>probability</th></tr>"
        + "".join(body)
        + "</table></body></html>\n"
    )


def main(argv: list[str] | None = None) -> int:
    from .explain import METHODS, ExplainSettings, default_methods
    from .registry import list_models

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", help="photos and/or folders of photos")
    p.add_argument("--out", type=Path, required=True, help="folder for the reports, faces.csv and index.html")
    p.add_argument("--model", default="inception_resnet_v1", choices=list_models())
    p.add_argument("--methods", default=",".join(default_methods()), help=f"comma-separated: {', '.join(METHODS)}")
    p.add_argument("--steps", default="auto", help="IG steps: auto or 8..256")
    p.add_argument("--baseline", default="black")
    p.add_argument("--faithfulness", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--patch", type=int, default=8, help="faithfulness patch (px)")
    a = p.parse_args(argv)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        p.error(f"unknown map(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(METHODS)}")
    steps: Any = a.steps if a.steps == "auto" else int(a.steps)
    try:
        settings = ExplainSettings(steps=steps, baseline=a.baseline)
    except ValueError as exc:
        p.error(str(exc))
    photos = photos_in(a.paths)
    rows: list[dict[str, Any]] = []
    for path in tqdm(photos, desc="report", unit="photo"):
        try:
            rows += report_photo(path, a.model, methods, a.out, settings, a.faithfulness, a.patch)
        except Exception as exc:  # noqa: BLE001 - one bad file is reported and the run goes on
            rows.append({"photo": str(path), "error": f"{type(exc).__name__}: {exc}"})
            tqdm.write(f"skipped {path}: {exc}")
    a.out.mkdir(parents=True, exist_ok=True)
    with open(a.out / "faces.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (a.out / "index.html").write_text(index_html(rows), encoding="utf-8")
    bad = sum(1 for r in rows if r.get("error"))
    print(f"{len(rows) - bad} face report(s), {bad} photo(s) skipped: {a.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
