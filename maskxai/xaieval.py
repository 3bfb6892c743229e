"""Faithfulness, sanity and region tables of the explanation methods over a set of faces.

    python -m maskxai.xaieval --model inception_resnet_v1 --data ../shared/data/face-mask-detection --split val --n 60

For each face (cropped like ``maskxai.evaluate``; landmarks from MTCNN run on
the whole photo, matched to the face's box, else the template) and each method
(``--methods``; ``gradcam@repeat_1`` runs a CAM at another layer), it measures:

- **faithfulness** (:mod:`maskxai.faithfulness`): deletion and insertion AUC of
  the map's patch order and of random orders (``--patch`` px patches, ``--fill``);
- **regions** (:mod:`maskxai.regions`): the share of positive attribution on
  nose, mouth and chin against their share of the area, and per region;
- **sanity** (:mod:`maskxai.sanity`, on the first ``--sanity-n`` faces):
  Spearman and SSIM with the trained map under cascading randomisation.

Writes ``xaieval.md`` (the tables) and ``xaieval.json`` (every number, per face
too) to ``--out`` and prints the tables. The class explained is the predicted one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .data import Sample
from .evaluate import _iou, add_data_arguments, load_data_and_model
from .explain import ExplainSettings, PixelModel, get_method
from .explain.base import Context, check_steps
from .faces import DetectSettings, crop_box, crop_face, detect_faces, whole_crop_box, whole_face
from .faithfulness import faithfulness, random_curves
from .fuse import fold_batchnorm
from .preprocess import pixels
from .regions import REGIONS, face_regions
from .sanity import barely_changes, cascading_randomisation
from .weights import LoadedModel


@dataclasses.dataclass(frozen=True)
class Entry:
    """One row of the tables: a method, at a layer for CAMs (``"gradcam@repeat_1"``)."""

    method: str
    layer: str | None = None

    @property
    def name(self) -> str:
        return self.method if self.layer is None else f"{self.method}@{self.layer}"

    @classmethod
    def parse(cls, text: str) -> Entry:
        method, _, layer = text.strip().partition("@")
        get_method(method)
        return cls(method, layer or None)


def face_and_landmarks(
    sample: Sample, size: int, settings: DetectSettings
) -> tuple[Image.Image, np.ndarray | None, tuple[float, float, float, float]]:
    """The face crop, its five landmarks and its box in the coordinates of a ``size`` px crop (``None``: not found).

    The crop is ``maskxai.evaluate``'s: the annotated box (30 % margin) or the whole image padded to a square.
    Landmarks come from MTCNN on the whole photo, from the detected face that overlaps the annotated box most
    (IoU > 0.3).
    """
    with Image.open(sample.path) as im:
        img = im.convert("RGB")
    box = sample.box
    crop_xy = crop_box(box) if box is not None else whole_crop_box(img)
    face = crop_face(img, box) if box is not None else whole_face(img)
    faces = detect_faces(img, settings)
    if box is not None:
        faces = sorted((f for f in faces if _iou(f.box, box) > 0.3), key=lambda f: -_iou(f.box, box))  # type: ignore[arg-type]
    x0, y0, x1, y1 = crop_xy
    scale = size / max(1, x1 - x0)
    ref = box if box is not None else (float(x0), float(y0), float(x1), float(y1))
    box_px = ((ref[0] - x0) * scale, (ref[1] - y0) * scale, (ref[2] - x0) * scale, (ref[3] - y0) * scale)
    if not faces or faces[0].landmarks is None:
        return face, None, box_px
    lm = (np.asarray(faces[0].landmarks, dtype=np.float64) - [x0, y0]) * scale
    return face, lm.astype(np.float32), box_px


def evaluate_face(
    lm: LoadedModel,
    face: Image.Image,
    landmarks: np.ndarray | None,
    box: tuple[float, float, float, float] | None,
    entries: list[Entry],
    settings: ExplainSettings,
    patch: int,
    fill: str,
    orders: int,
    seed: int,
    points: int = 21,
) -> dict[str, Any]:
    """Per entry: faithfulness, regions, blank, seconds; and the face's random-order AUCs."""
    pm = PixelModel(lm.model, lm.spec)
    x = pixels(face, lm.spec)
    with torch.inference_mode():
        probs = pm(x).softmax(1)[0]
    k = int(probs.argmax())
    cache: dict[Any, Any] = {}
    rnd = random_curves(pm, x, k, patch, fill, orders=orders, points=points, seed=seed)
    out: dict[str, Any] = {
        "target": lm.spec.labels[k],
        "probability": round(float(probs[k]), 4),
        "random_deletion_auc": rnd.deletion_auc,
        "random_insertion_auc": rnd.insertion_auc,
        "landmarks": "template" if landmarks is None else "detected",
        "methods": {},
    }
    for e in entries:
        s = settings if e.layer is None else dataclasses.replace(settings, layer=e.layer)
        ctx = Context(pm, x, k, s, cache=cache)
        t0 = time.perf_counter()
        ex = get_method(e.method).fn(ctx)
        seconds = time.perf_counter() - t0
        f = faithfulness(pm, x, k, ex.attribution, patch=patch, fill=fill, points=points, random=rnd, seed=seed)
        r = face_regions(ex.attribution, landmarks, box)
        out["methods"][e.name] = {
            "deletion_auc": f.map.deletion_auc,
            "insertion_auc": f.map.insertion_auc,
            "blank": bool(r.blank),
            "lower_share": r.lower_share,
            "lower_area": r.lower_area,
            "share": r.share,
            "area": r.area,
            "seconds": seconds,
            "steps": ex.steps,
            "delta_ok": None if ex.relative_delta is None else bool(ex.relative_delta <= settings.auto_tolerance),
        }
    return out


def sanity_face(
    lm: LoadedModel, face: Image.Image, entries: list[Entry], settings: ExplainSettings, seed: int
) -> dict[str, Any]:
    """Spearman/SSIM per randomised block for the plain entries (CAMs at their ``settings.layer``)."""
    pm = PixelModel(lm.model, lm.spec)
    x = pixels(face, lm.spec)
    names = [e.method for e in entries if e.layer is None]
    steps = list(cascading_randomisation(pm, x, names, None, settings, seed=seed))
    flags = barely_changes(steps)
    return {
        "blocks": [s.block for s in steps[1:]],
        "spearman": {n: [s.spearman[n] for s in steps[1:]] for n in names},
        "ssim": {n: [s.ssim[n] for s in steps[1:]] for n in names},
        "flagged": flags,
    }


def summarize(faces: list[dict[str, Any]], sanity: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over faces: the three tables as data."""
    names = list(faces[0]["methods"]) if faces else []
    rnd_del = float(np.mean([f["random_deletion_auc"] for f in faces])) if faces else float("nan")
    rnd_ins = float(np.mean([f["random_insertion_auc"] for f in faces])) if faces else float("nan")
    faith, regions = {}, {}
    for n in names:
        rows = [f["methods"][n] for f in faces]
        share = float(np.mean([r["lower_share"] for r in rows]))
        area = float(np.mean([r["lower_area"] for r in rows]))
        faith[n] = {
            "deletion_auc": float(np.mean([r["deletion_auc"] for r in rows])),
            "insertion_auc": float(np.mean([r["insertion_auc"] for r in rows])),
            "random_deletion_auc": rnd_del,
            "random_insertion_auc": rnd_ins,
            "beats_random_deletion": float(
                np.mean([r["deletion_auc"] < f["random_deletion_auc"] for r, f in zip(rows, faces)])
            ),
            "blank": float(np.mean([r["blank"] for r in rows])),
            "seconds": float(np.median([r["seconds"] for r in rows])),
        }
        if rows and rows[0].get("steps") is not None:  # IG: steps used, and how often the delta met the rule
            faith[n]["median_steps"] = float(np.median([r["steps"] for r in rows]))
            faith[n]["max_steps"] = int(max(r["steps"] for r in rows))
            faith[n]["delta_ok"] = float(np.mean([bool(r["delta_ok"]) for r in rows]))
        regions[n] = {
            "lower_share": share,
            "lower_area": area,
            "lower_ratio": share / area if area else float("nan"),
            "ratio": {
                g: float(np.mean([r["share"][g] for r in rows]))
                / max(1e-9, float(np.mean([r["area"][g] for r in rows])))
                for g in REGIONS
            },
        }
    sane: dict[str, Any] = {}
    if sanity:
        for n in sanity[0]["spearman"]:
            sane[n] = {
                "mean_spearman": float(np.mean([np.mean(s["spearman"][n]) for s in sanity])),
                "last_spearman": float(np.mean([s["spearman"][n][-1] for s in sanity])),
                "mean_ssim": float(np.mean([np.mean(s["ssim"][n]) for s in sanity])),
                "flagged": float(np.mean([s["flagged"][n] for s in sanity])),
                "n": len(sanity),
            }
    return {"faithfulness": faith, "regions": regions, "sanity": sane, "n": len(faces)}


def markdown(summary: dict[str, Any], header: str) -> str:
    """The tables as markdown."""
    out = [header, ""]
    f = summary["faithfulness"]
    if f:
        any_row = next(iter(f.values()))
        out += [
            f"**Faithfulness** (mean over {summary['n']} faces; random order: deletion "
            f"{any_row['random_deletion_auc']:.3f}, insertion {any_row['random_insertion_auc']:.3f})",
            "",
            "| method | deletion AUC (lower is better) | vs random | insertion AUC (higher is better) | vs random "
            "| faces beating random on deletion | blank | median s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for n, r in f.items():
            out.append(
                f"| {n} | {r['deletion_auc']:.3f} | {r['deletion_auc'] - r['random_deletion_auc']:+.3f} "
                f"| {r['insertion_auc']:.3f} | {r['insertion_auc'] - r['random_insertion_auc']:+.3f} "
                f"| {100 * r['beats_random_deletion']:.0f}% | {100 * r['blank']:.0f}% | {r['seconds']:.2f} |"
            )
        out.append("")
        for n, r in f.items():
            if "median_steps" in r:
                out.append(
                    f"{n}: median {r['median_steps']:.0f} steps (at most {r['max_steps']}); convergence delta under "
                    f"5 % of the score gap on {100 * r['delta_ok']:.0f}% of the faces."
                )
        out.append("")
    g = summary["regions"]
    if g:
        out += [
            "**Where the maps look** (share of positive attribution / share of the area; 1x = a flat map)",
            "",
            "| method | nose+mouth+chin share | its area | ratio | " + " | ".join(REGIONS) + " |",
            "|---|---|---|---|" + "---|" * len(REGIONS),
        ]
        for n, r in g.items():
            out.append(
                f"| {n} | {100 * r['lower_share']:.1f}% | {100 * r['lower_area']:.1f}% | {r['lower_ratio']:.2f}x | "
                + " | ".join(f"{r['ratio'][k]:.2f}x" for k in REGIONS)
                + " |"
            )
        out.append("")
    s = summary["sanity"]
    if s:
        n = next(iter(s.values()))["n"]
        out += [
            f"**Sanity check** (cascading randomisation, {n} faces; similarity of |map| to the trained one)",
            "",
            "| method | mean Spearman | Spearman, all blocks random | mean SSIM | flagged as barely changing |",
            "|---|---|---|---|---|",
        ]
        for m, r in s.items():
            out.append(
                f"| {m} | {r['mean_spearman']:.2f} | {r['last_spearman']:.2f} | {r['mean_ssim']:.2f} "
                f"| {100 * r['flagged']:.0f}% |"
            )
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p, min_size=40.0)
    p.add_argument("--n", type=int, default=60, help="faces to sample (seeded); 0 for all")
    p.add_argument("--methods", default="gradcam,gradients,ig", help="comma-separated; method@layer for CAM layers")
    p.add_argument("--steps", default="32", help="IG steps (8..256) or auto")
    p.add_argument("--baseline", default="black", help="IG baseline")
    p.add_argument("--patch", type=int, default=8, help="deletion/insertion patch side in pixels")
    p.add_argument("--fill", choices=["grey", "blur"], default="grey")
    p.add_argument("--orders", type=int, default=3, help="random orders averaged per face")
    p.add_argument("--points", type=int, default=21, help="samples per deletion/insertion curve (21: every 5 %%)")
    p.add_argument("--sanity-n", type=int, default=10, help="faces for the sanity check (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="folder for xaieval.md and xaieval.json")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default; 1 on a busy CPU)")
    a = p.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    try:
        entries = [Entry.parse(t) for t in a.methods.split(",") if t.strip()]
        steps = a.steps if a.steps == "auto" else int(a.steps)
        settings = ExplainSettings(steps=check_steps(steps), baseline=a.baseline)
    except ValueError as exc:
        p.exit(2, f"error: {exc}\n")
    samples, lm = load_data_and_model(p, a)
    lm.model, _ = fold_batchnorm(lm.model)  # the app's model: the same function, faster passes
    lm.model.to(memory_format=torch.channels_last)
    if 0 < a.n < len(samples):
        samples = random.Random(a.seed).sample(samples, a.n)
    det = DetectSettings(min_face_px=0, min_confidence=0.8)
    faces, sanity = [], []
    for i, s in enumerate(tqdm(samples, desc="xaieval", unit="face", file=sys.stderr)):
        face, landmarks, box = face_and_landmarks(s, lm.spec.input_size, det)
        faces.append(
            {
                "path": str(s.path),
                **evaluate_face(
                    lm, face, landmarks, box, entries, settings, a.patch, a.fill, a.orders, a.seed, a.points
                ),
            }
        )
        if i < a.sanity_n:
            sanity.append(sanity_face(lm, face, entries, settings, a.seed))
    summary = summarize(faces, sanity)
    layers = ", ".join(f"{e.name}" for e in entries)
    header = (
        f"### {lm.spec.title} on {len(faces)} faces of {a.data.name}{' (' + a.split + ' split)' if a.split else ''}\n\n"
        f"Methods {layers}; IG {a.steps} steps, {a.baseline} baseline; {a.patch} px patches, {a.fill} fill, "
        f"{a.orders} random orders, {a.points} points a curve; the predicted class; "
        f"{sum(f['landmarks'] == 'detected' for f in faces)} of {len(faces)} faces with detected landmarks.\n\n"
        f"`python -m maskxai.xaieval {' '.join(argv if argv is not None else sys.argv[1:])}`"
    )
    md = markdown(summary, header)
    print(md)
    out = a.out or Path("runs") / "xaieval" / f"{a.model}_{a.data.name}_{a.split or 'all'}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "xaieval.md").write_text(md + "\n")
    (out / "xaieval.json").write_text(json.dumps({"summary": summary, "faces": faces, "sanity": sanity}, default=float))
    print(f"\nwritten to {out}/xaieval.md and xaieval.json", file=sys.stderr)


if __name__ == "__main__":
    main()
