"""Evaluate a classifier on any supported dataset layout.

    python -m maskxai.evaluate --model resnet50 --data ../shared/data/maskedface-net --split test --json

Prints accuracy and per-class recall (the papers' Table II), each with its
count and 95 % Wilson interval, macro recall and the confusion matrix (rows:
true label). With ``--json`` the last line is one JSON object with
``accuracy``, ``macro_recall``, ``per_class``, ``confusion``, ``n``,
``support`` and ``intervals`` (``{"per_class": {label: [k, n, low, high]},
"accuracy": [k, n, low, high]}``; ``null`` for a class with no faces).
``--errors DIR`` writes contact sheets of the misclassified faces, most
confident mistake first (``DIR/errors_001.png``, ...; 48 faces each, captioned
with the true label, the predicted one and its probability) and
``DIR/errors.csv`` with every mistake's file, box and probabilities.
``--detect-faces`` runs the app's own detection and crop on each image first
(for VOC boxes: the detected face that overlaps the annotated box most).
``--tight`` cuts each annotated box alone (no margin) and takes it whole, as a
folder of face crops made by another tool would reach this command.
``--view video`` sees every face as a grayscale 64 px video frame
(``maskxai.augment.VIEWS``).
Without it, an image with no box is taken whole as one face, like the app's
"treat the whole image as one face": a non-square image is padded to a square
(edge pixels repeated), never cut, so a tall face crop keeps its chin.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps
from tqdm import tqdm

from .augment import VIEWS
from .data import Sample, load_dataset
from .faces import DetectSettings, crop_face, detect_faces, tight_face, whole_face
from .metrics import Interval, interval, summarize
from .pipeline import classify
from .registry import DISPLAY_NAMES, LABELS, list_models
from .weights import LoadedModel, load_model


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def face_for(sample: Sample, detect: bool, settings: DetectSettings, tight: bool = False) -> tuple[Image.Image, bool]:
    """The crop to classify, and whether the detector found the face (``tight``: the box alone, taken whole)."""
    with Image.open(sample.path) as im:
        img = im.convert("RGB")
    if tight and sample.box is not None:
        return tight_face(img, sample.box), True
    if not detect:
        return (crop_face(img, sample.box) if sample.box is not None else whole_face(img)), True
    faces = detect_faces(img, settings)
    if sample.box is not None:
        faces = [f for f in faces if _iou(f.box, sample.box) > 0.3]
        faces.sort(key=lambda f: _iou(f.box, sample.box), reverse=True)  # type: ignore[arg-type]
    if faces:
        return crop_face(img, faces[0].box), True
    # Not found: fall back to what the app offers, the whole image (or the annotated box) as one face.
    return (crop_face(img, sample.box) if sample.box is not None else whole_face(img)), False


THUMB = 112  # side of a face on a contact sheet, pixels


@dataclass(frozen=True, eq=False)
class Mistake:
    """A face the model got wrong: the sample, the model's probabilities and what it saw (``THUMB`` px)."""

    sample: Sample
    probs: tuple[float, ...]
    thumb: Image.Image
    found: bool = True  # with --detect-faces: whether the detector found the face

    @property
    def pred(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def confidence(self) -> float:
        """Probability of the (wrong) predicted label."""
        return self.probs[self.pred]


@dataclass
class Predictions:
    """What :func:`predict` saw: probabilities ``(N, n_classes)`` in sample order, and the mistakes if kept."""

    probs: np.ndarray
    found: list[bool]
    detect: bool = False
    mistakes: list[Mistake] = field(default_factory=list)


def predict(
    lm: LoadedModel,
    samples: list[Sample],
    detect: bool = False,
    batch: int = 32,
    progress: bool = True,
    keep_mistakes: bool = False,
    tight: bool = False,
    view: str = "",
) -> Predictions:
    """Class probabilities of ``lm`` for ``samples``, through the app's preprocessing.

    Args:
        lm: The model.
        samples: Faces to classify (see :func:`face_for` for how each is cropped).
        detect: Detect and crop faces like the app first.
        batch: Faces per forward pass.
        progress: Show a progress bar on stderr.
        keep_mistakes: Keep a thumbnail of each misclassified face (for :func:`write_errors`).
        tight: Cut each annotated box alone (no margin) and take it whole (:func:`maskxai.faces.tight_face`).
        view: See each face as another camera shows it, e.g. ``"video"`` (:data:`maskxai.augment.VIEWS`);
            ``""``: as it is.

    Returns:
        The probabilities, whether each face was found (always with ``detect`` off) and the mistakes.

    Raises:
        ValueError: If ``view`` names a view that does not exist (the message lists those there are).
    """
    if view and view not in VIEWS:
        raise ValueError(f"no view {view!r}; there are: {', '.join(VIEWS)} (or '' for the faces as they are)")
    settings = DetectSettings(min_face_px=0, min_confidence=0.8)
    probs, found, mistakes = [], [], []
    with tqdm(total=len(samples), desc="evaluating", unit="face", disable=not progress, file=sys.stderr) as bar:
        for i in range(0, len(samples), batch):
            chunk = samples[i : i + batch]
            crops = []
            for s in chunk:
                face, ok = face_for(s, detect, settings, tight)
                face = VIEWS[view](face) if view else face
                found.append(ok)
                crops.append(face)
            pr = classify(lm, crops)
            probs.append(pr)
            if keep_mistakes:
                mistakes += [
                    Mistake(s, tuple(float(v) for v in q), ImageOps.fit(face, (THUMB, THUMB)), ok)
                    for s, q, face, ok in zip(chunk, pr, crops, found[i:])
                    if int(q.argmax()) != s.target
                ]
            bar.update(len(chunk))
    all_probs = np.concatenate(probs) if probs else np.zeros((0, len(lm.spec.labels)), dtype=np.float32)
    return Predictions(all_probs, found, detect, mistakes)


def metrics_of(samples: list[Sample], preds: Predictions) -> dict[str, Any]:
    """:func:`~maskxai.metrics.summarize` of ``preds``; ``faces_not_detected`` and ``per_kind`` where they apply."""
    p = preds.probs.argmax(1).tolist()
    out = summarize([s.target for s in samples], p)
    if preds.detect:
        out["faces_not_detected"] = preds.found.count(False)
    kinds = per_kind(samples, p)
    if kinds:
        out["per_kind"] = kinds
    return out


def evaluate(
    lm: LoadedModel, samples: list[Sample], detect: bool = False, batch: int = 32, progress: bool = True
) -> dict[str, Any]:
    """Metrics of ``lm`` on ``samples``, through the app's preprocessing (see :func:`metrics_of`)."""
    return metrics_of(samples, predict(lm, samples, detect, batch, progress))


def per_kind(samples: list[Sample], pred: list[int]) -> dict[str, dict[str, Any]]:
    """Recall within each finer kind the data names (e.g. MaskedFace-Net's incorrect_kind).

    Returns:
        ``{kind: {"n", "recall", "interval"}}``, the interval an :class:`~maskxai.metrics.Interval`.
    """
    hits: dict[str, list[bool]] = {}
    for s, q in zip(samples, pred):
        if s.kind is not None:
            hits.setdefault(s.kind, []).append(q == s.target)
    return {
        k: {"n": len(v), "recall": sum(v) / len(v), "interval": interval(sum(v), len(v))}
        for k, v in sorted(hits.items())
    }


def _recall_line(name: str, iv: Interval | None) -> str:
    if iv is None:
        return f"{name:<24}{'-':>6}    (no faces)"
    k, n, low, high = iv
    return f"{name:<24}{100 * k / n:>6.1f} %  ({k}/{n}, 95 % CI {100 * low:.1f}-{100 * high:.1f})"


def table(res: dict[str, Any]) -> str:
    """A plain-text table like the papers' Table II (each recall with k/n and its 95 % Wilson interval),
    then the confusion matrix."""
    ivs = res["intervals"]
    rows = [f"{'recall':<24}{'':>6}    (recognised/faces, 95 % Wilson interval)"]
    rows += [_recall_line(DISPLAY_NAMES[lab], ivs["per_class"][lab]) for lab in LABELS]
    rows.append(_recall_line("accuracy", ivs["accuracy"]))
    rows.append(f"{'macro recall':<24}{100 * res['macro_recall']:>6.1f} %")
    rows.append("\nconfusion (rows: true, columns: predicted)")
    rows.append(" " * 24 + "".join(f"{lab[:12]:>14}" for lab in LABELS))
    for lab, row in zip(LABELS, res["confusion"]):
        rows.append(f"{lab:<24}" + "".join(f"{v:>14}" for v in row))
    if res.get("per_kind"):
        rows.append("\nby kind (the manifest's incorrect_kind column)")
        rows += [_recall_line(kind, r["interval"]) for kind, r in res["per_kind"].items()]
    return "\n".join(rows)


SHORT_NAMES = {"correctly_masked": "correct", "incorrectly_masked": "incorrect", "not_masked": "no mask"}
SHEET_COLS = 8


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """``text``, cut at the end with an ellipsis until it fits in ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def contact_sheet(mistakes: list[Mistake], labels: tuple[str, ...], first: int = 1, total: int = 0) -> Image.Image:
    """One grid of ``mistakes`` (``SHEET_COLS`` wide), each face captioned: its number, true and predicted label
    with the predicted label's probability, and the file name.

    Args:
        mistakes: The faces, in the order shown.
        labels: The model's labels in logit order.
        first: Number of the first face (the sheet's faces are numbered on from it, as in ``errors.csv``).
        total: Mistakes in all, for the title (default: ``len(mistakes)``).
    """
    cap, pad, head = 40, 4, 22
    cols = min(SHEET_COLS, max(1, len(mistakes)))
    rows = max(1, -(-len(mistakes) // cols))
    cw, ch = THUMB + pad, THUMB + cap + pad
    sheet = Image.new("RGB", (cols * cw + pad, head + rows * ch + pad), "white")
    draw = ImageDraw.Draw(sheet)
    small, tiny = _font(11), _font(9)
    last = first + len(mistakes) - 1
    title = f"mistakes {first}-{last} of {total or len(mistakes)}, most confident first: true / predicted, probability"
    draw.text((pad, 5), _fit(draw, title, small, sheet.width - 2 * pad), fill="black", font=small)
    for j, m in enumerate(mistakes):
        x, y = pad + (j % cols) * cw, head + (j // cols) * ch
        sheet.paste(m.thumb, (x, y))
        tag = str(first + j)
        box = draw.textbbox((x + 2, y + 1), tag, font=tiny)
        draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill="black")
        draw.text((x + 2, y + 1), tag, fill="white", font=tiny)
        true, pred = labels[m.sample.target], labels[m.pred]
        draw.text((x, y + THUMB + 1), f"true {SHORT_NAMES.get(true, true)}", fill="black", font=small)
        said = f"pred {SHORT_NAMES.get(pred, pred)} {100 * m.confidence:.0f} %"
        draw.text((x, y + THUMB + 13), said, fill=(190, 0, 0), font=small)
        where = m.sample.path.name if m.found else f"no face found: {m.sample.path.name}"
        draw.text((x, y + THUMB + 26), _fit(draw, where, tiny, THUMB), fill=(90, 90, 90), font=tiny)
    return sheet


def sorted_mistakes(mistakes: list[Mistake]) -> list[Mistake]:
    """Most confident mistake first (ties by file and box, so the order is stable)."""
    return sorted(mistakes, key=lambda m: (-m.confidence, str(m.sample.path), m.sample.box or ()))


def write_errors(mistakes: list[Mistake], labels: tuple[str, ...], out: Path, per_sheet: int = 48) -> list[Path]:
    """Contact sheets ``out/errors_001.png``, ... and ``out/errors.csv`` of ``mistakes``, most confident first.

    Sheets left in ``out`` by an earlier run (``errors_NNN.png``) are removed first, so the folder shows
    this run only. ``errors.csv`` has one row per mistake: ``number`` (as on the sheet), ``sheet``, ``path``,
    ``box`` (``x0 y0 x1 y1`` in the image, empty for whole images), ``true``, ``predicted``, ``probability``
    (of the predicted label), ``p_<label>`` for each label and ``face_found``.

    Returns:
        The files written: the sheets, then the CSV.

    Raises:
        OSError: If ``out`` cannot be written.
    """
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("errors_[0-9][0-9][0-9].png"):
        old.unlink()
    ordered = sorted_mistakes(mistakes)
    written = []
    rows = []
    for s, start in enumerate(range(0, len(ordered), per_sheet), 1):
        chunk = ordered[start : start + per_sheet]
        path = out / f"errors_{s:03d}.png"
        contact_sheet(chunk, labels, first=start + 1, total=len(ordered)).save(path)
        written.append(path)
        for j, m in enumerate(chunk, start + 1):
            rows.append(
                {
                    "number": j,
                    "sheet": path.name,
                    "path": str(m.sample.path),
                    "box": " ".join(f"{v:g}" for v in m.sample.box) if m.sample.box else "",
                    "true": labels[m.sample.target],
                    "predicted": labels[m.pred],
                    "probability": f"{m.confidence:.4f}",
                    **{f"p_{lab}": f"{v:.4f}" for lab, v in zip(labels, m.probs)},
                    "face_found": m.found,
                }
            )
    fields = ["number", "sheet", "path", "box", "true", "predicted", "probability"]
    fields += [f"p_{lab}" for lab in labels] + ["face_found"]
    with (out / "errors.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return [*written, out / "errors.csv"]


def writable_dir(path: Path) -> str:
    """``""`` if ``path`` is (or can be made) a folder this process can write to, else why not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def plot_confusion(res: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.array(res["confusion"])
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.imshow(m, cmap="Blues")
    names = [DISPLAY_NAMES[k] for k in LABELS]
    ax.set_xticks(range(3), names, rotation=20)
    ax.set_yticks(range(3), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(3):
        for j in range(3):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="white" if m[i, j] > m.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_data_arguments(p: argparse.ArgumentParser, min_size: float = 0.0) -> None:
    """The options of every command that runs a model on a dataset: model, data, split, weights, min size."""
    p.add_argument("--model", choices=list_models(), required=True)
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder: manifest.csv, VOC (images/ + annotations/) or <label>/ subfolders",
    )
    p.add_argument(
        "--split", default=None, help="keep one split (manifest's split column; for VOC, the by-image hash split)"
    )
    p.add_argument("--weights", type=Path, default=None, help="weights file (default: checkpoints/, then the Hub)")
    p.add_argument("--min-size", type=float, default=min_size, help="VOC: skip boxes smaller than this many pixels")


def load_data_and_model(p: argparse.ArgumentParser, a: argparse.Namespace) -> tuple[list[Sample], LoadedModel]:
    """The samples and model that :func:`add_data_arguments`' options name; exits with a clear error if not."""
    try:
        return load_dataset(a.data, split=a.split, min_size=a.min_size), load_model(a.model, a.weights)
    except (ValueError, FileNotFoundError) as exc:
        p.exit(2, f"error: {exc}\n")


# The --json object: summarize()'s keys, then those that apply to some data only.
JSON_KEYS = (
    "accuracy",
    "macro_recall",
    "per_class",
    "confusion",
    "n",
    "support",
    "intervals",
    "per_kind",
    "faces_not_detected",
)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p)
    crop = p.add_mutually_exclusive_group()
    crop.add_argument("--detect-faces", action="store_true", help="detect and crop faces like the app first")
    crop.add_argument(
        "--tight", action="store_true", help="annotated boxes: cut each box alone (no margin) and take it whole"
    )
    p.add_argument(
        "--view",
        choices=sorted(VIEWS),
        default="",
        help="see every face as another camera shows it: video = grayscale at 64 px, as small video frames",
    )
    p.add_argument("--plot", type=Path, default=None, help="write the confusion matrix as a PNG here")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument(
        "--errors",
        type=Path,
        default=None,
        metavar="DIR",
        help="write contact sheets of the misclassified faces (DIR/errors_001.png, ...) and DIR/errors.csv",
    )
    a = p.parse_args(argv)
    if a.errors is not None and (why := writable_dir(a.errors)):
        p.exit(2, f"error: --errors {a.errors} cannot be written ({why}); pass a folder you can write to\n")
    samples, lm = load_data_and_model(p, a)
    preds = predict(lm, samples, detect=a.detect_faces, keep_mistakes=a.errors is not None, tight=a.tight, view=a.view)
    res = metrics_of(samples, preds)
    how = " (detected faces)" if a.detect_faces else " (tight crops taken whole)" if a.tight else ""
    how += f" (seen as: {a.view})" if a.view else ""
    print(f"{a.model} on {a.data}{' split ' + a.split if a.split else ''}{how}")
    print(table(res))
    if a.plot:
        plot_confusion(res, a.plot, f"{a.model} · {a.data.name} {a.split or ''}")
        print(f"confusion matrix written to {a.plot}")
    if a.errors is not None:
        files = write_errors(preds.mistakes, lm.spec.labels, a.errors)
        print(f"{len(preds.mistakes)} mistakes: {len(files) - 1} contact sheet(s) and {files[-1]}")
    if a.json:
        print(json.dumps({k: res[k] for k in JSON_KEYS if k in res}))


if __name__ == "__main__":
    main()
