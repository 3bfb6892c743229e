"""Evaluate a classifier on any supported dataset layout.

    python -m maskxai.evaluate --model resnet50 --data ../shared/data/maskedface-net --split test --json

Prints accuracy, per-class recall (the papers' Table II), macro recall and the
confusion matrix (rows: true label). With ``--json`` the last line is one JSON
object with ``accuracy``, ``macro_recall``, ``per_class``, ``confusion``, ``n``.
``--detect-faces`` runs the app's own detection and crop on each image first
(for VOC boxes: the detected face that overlaps the annotated box most).
Without it, an image with no box is taken whole, as its centred square, like
the app's "treat the whole image as one face".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from .data import Sample, load_dataset
from .faces import DetectSettings, center_square, crop_face, detect_faces
from .metrics import summarize
from .pipeline import classify
from .registry import DISPLAY_NAMES, LABELS, list_models
from .weights import LoadedModel, load_model


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def face_for(sample: Sample, detect: bool, settings: DetectSettings) -> tuple[Image.Image, bool]:
    """The crop to classify, and whether the detector found the face."""
    with Image.open(sample.path) as im:
        img = im.convert("RGB")
    if not detect:
        return (crop_face(img, sample.box) if sample.box is not None else img.crop(center_square(img))), True
    faces = detect_faces(img, settings)
    if sample.box is not None:
        faces = [f for f in faces if _iou(f.box, sample.box) > 0.3]
        faces.sort(key=lambda f: _iou(f.box, sample.box), reverse=True)  # type: ignore[arg-type]
    if faces:
        return crop_face(img, faces[0].box), True
    # Not found: fall back to what the app offers, the whole image (or the annotated box) as one face.
    return (crop_face(img, sample.box) if sample.box is not None else img.crop(center_square(img))), False


def evaluate(
    lm: LoadedModel, samples: list[Sample], detect: bool = False, batch: int = 32, progress: bool = True
) -> dict[str, Any]:
    """Metrics of ``lm`` on ``samples``, through the app's preprocessing."""
    settings = DetectSettings(min_face_px=0, min_confidence=0.8)
    y, p, missed = [], [], 0
    for i in tqdm(
        range(0, len(samples), batch), desc="evaluating", unit="batch", disable=not progress, file=sys.stderr
    ):
        chunk = samples[i : i + batch]
        crops = []
        for s in chunk:
            face, found = face_for(s, detect, settings)
            missed += not found
            crops.append(face)
        p += classify(lm, crops).argmax(1).tolist()
        y += [s.target for s in chunk]
    out = summarize(y, p)
    if detect:
        out["faces_not_detected"] = missed
    kinds = per_kind(samples, p)
    if kinds:
        out["per_kind"] = kinds
    return out


def per_kind(samples: list[Sample], pred: list[int]) -> dict[str, dict[str, Any]]:
    """Recall within each finer kind the data names (e.g. MaskedFace-Net's incorrect_kind): ``{kind: {n, recall}}``."""
    hits: dict[str, list[bool]] = {}
    for s, q in zip(samples, pred):
        if s.kind is not None:
            hits.setdefault(s.kind, []).append(q == s.target)
    return {k: {"n": len(v), "recall": sum(v) / len(v)} for k, v in sorted(hits.items())}


def table(res: dict[str, Any]) -> str:
    """A plain-text table like the papers' Table II, then the confusion matrix."""
    rows = [f"{'class':<24}{'n':>6}{'recall':>9}"]
    for lab in LABELS:
        r = res["per_class"][lab]
        rows.append(f"{DISPLAY_NAMES[lab]:<24}{res['support'][lab]:>6}{'-' if r is None else f'{100 * r:.1f}%':>9}")
    rows.append(f"{'accuracy':<24}{res['n']:>6}{100 * res['accuracy']:>8.1f}%")
    rows.append(f"{'macro recall':<24}{'':>6}{100 * res['macro_recall']:>8.1f}%")
    rows.append("\nconfusion (rows: true, columns: predicted)")
    rows.append(" " * 24 + "".join(f"{lab[:12]:>14}" for lab in LABELS))
    for lab, row in zip(LABELS, res["confusion"]):
        rows.append(f"{lab:<24}" + "".join(f"{v:>14}" for v in row))
    if res.get("per_kind"):
        rows.append("\nby kind (the manifest's incorrect_kind column)")
        for kind, r in res["per_kind"].items():
            rows.append(f"{kind:<24}{r['n']:>6}{100 * r['recall']:>8.1f}%")
    return "\n".join(rows)


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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p)
    p.add_argument("--detect-faces", action="store_true", help="detect and crop faces like the app first")
    p.add_argument("--plot", type=Path, default=None, help="write the confusion matrix as a PNG here")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    a = p.parse_args(argv)
    samples, lm = load_data_and_model(p, a)
    res = evaluate(lm, samples, detect=a.detect_faces)
    print(
        f"{a.model} on {a.data}{' split ' + a.split if a.split else ''}{' (detected faces)' if a.detect_faces else ''}"
    )
    print(table(res))
    if a.plot:
        plot_confusion(res, a.plot, f"{a.model} · {a.data.name} {a.split or ''}")
        print(f"confusion matrix written to {a.plot}")
    if a.json:
        keys = ("accuracy", "macro_recall", "per_class", "confusion", "n", "support", "per_kind")
        print(json.dumps({k: res[k] for k in keys if k in res}))


if __name__ == "__main__":
    main()
