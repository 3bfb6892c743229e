"""Where the chin is, from MTCNN's five points: measured against a 468-point face mesh, and fitted.

The mask renderers (:mod:`maskxai.masks`, :mod:`maskxai.realmasks`) place every mask in a face frame built from
MTCNN's five landmarks (eyes, nose tip, mouth corners), which has no chin point: the chin is estimated
(:meth:`maskxai.masks.FaceFrame.from_landmarks`). A smile lifts the mouth corners, and a rule that hangs the chin
below the mouth corners lifts it too: the example astronaut's correctly worn mask stopped above her chin.

mediapipe 0.10.14's wheel ships its face mesh (``mediapipe/modules/face_landmark/face_landmark.tflite``), so it runs
offline; it is not a dependency of the project (it pins ``numpy<2`` and pulls jax and OpenCV), only this
measurement's. Two steps:

    python3 -m venv /tmp/mp && /tmp/mp/bin/pip install "numpy<2" mediapipe==0.10.14 pillow scikit-image
    /tmp/mp/bin/python scripts/chin_fit.py measure     # mesh chin (point 152) of Face Mask 12K's bare faces
    python scripts/chin_fit.py fit                     # the project's venv: fit on train, score on val

``measure`` writes ``docs/chin_landmarks.json`` (numbers only: each face's five MTCNN points, from the landmark
cache ``.cache/landmarks_12k.json``, and the mesh's chin and lower lip, in the image's pixels; no image), and the
chins of the two portraits the examples are made from (skimage's astronaut, matplotlib's Grace Hopper). ``fit`` fits
``chin_v = a + b * nose_v + c * mouth_v`` (face-frame units: distance below the eye line over the eye distance) on
the train faces and prints, on the val faces, how far each rule's chin is from the mesh's, and how often a
correctly worn mask's bottom edge (each rule with its margin below the chin) covers the mesh's chin.
``tests/test_realmasks.py`` checks every placement against these faces' mesh points.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "chin_landmarks.json"
MENTON = 152  # the face mesh's lowest chin point
LOWER_LIP = 17  # the lower lip's lowest point


def measure(cache: Path, data: Path, per_split: int, seed: int) -> None:
    import mediapipe as mp  # a separate venv (see the docstring)
    from PIL import Image

    lms = json.loads(cache.read_text())
    rng = np.random.default_rng(seed)
    rows = []
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1)
    by_rel = {k.split("face-mask-12k/", 1)[1]: v for k, v in lms.items() if "face-mask-12k/" in k and v}
    for split in ("train", "val"):
        keys = sorted(k for k in by_rel if k.startswith(f"{split}/without_mask/"))
        for rel in rng.permutation(keys)[:per_split]:
            with Image.open(data / "face-mask-12k" / rel) as im:
                a = np.asarray(im.convert("RGB"))
            found = mesh.process(a).multi_face_landmarks
            if not found:
                continue
            h, w = a.shape[:2]
            pt, lip = found[0].landmark[MENTON], found[0].landmark[LOWER_LIP]
            rows.append(
                {
                    "path": rel,
                    "split": split,
                    "size": [w, h],
                    "lm5": by_rel[rel],
                    "chin": [pt.x * w, pt.y * h],
                    "lip": [lip.x * w, lip.y * h],
                }
            )
    portraits = {}  # the example portraits' chins, for tests/test_masks.py
    import matplotlib.cbook
    import skimage.data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    for name, a in (("astronaut", skimage.data.astronaut()), ("hopper", hopper)):
        pt = mesh.process(a).multi_face_landmarks[0].landmark[MENTON]
        portraits[name] = [round(pt.x * a.shape[1], 1), round(pt.y * a.shape[0], 1)]
    head = {"source": "Face Mask 12K without_mask; mediapipe 0.10.14 face mesh: 152 chin, 17 lower lip"}
    write(head | {"portraits": portraits}, rows)
    print(f"{len(rows)} faces -> {OUT}")


def write(head: dict, rows: list[dict]) -> None:
    """``docs/chin_landmarks.json``: the header's keys, then ``faces``, one face a line (a readable diff)."""
    body = ",\n".join(json.dumps(r) for r in rows)
    OUT.write_text(json.dumps(head)[:-1] + f', "faces": [\n{body}\n]}}\n')


def fit() -> None:
    sys.path.insert(0, str(ROOT))
    from maskxai.masks import CORRECT_BELOW_CHIN, FaceFrame

    coords: dict[str, list[tuple[float, float, float, float]]] = {"train": [], "val": []}
    for r in json.loads(OUT.read_text())["faces"]:
        try:
            f = FaceFrame.from_landmarks(np.array(r["lm5"]))
        except ValueError:  # landmarks out of face order: the renderer refuses them, the fit leaves them out
            continue
        coords[r["split"]].append((f.nose, f.mouth, float(f.to_frame(np.array(r["chin"]))[0, 1]), f.chin))
    tr, va = np.array(coords["train"]), np.array(coords["val"])
    a = np.column_stack([np.ones(len(tr)), tr[:, 0], tr[:, 1]])
    coef, *_ = np.linalg.lstsq(a, tr[:, 2], rcond=None)
    fitted = f"{coef[0]:.3f} + {coef[1]:.3f} nose_v + {coef[2]:.3f} mouth_v"
    print(f"faces: train {len(tr)}, val {len(va)}; fitted chin_v = {fitted}")

    def old(n: float, m: float) -> float:
        return m + max(0.45, 1.35 * (m - n))

    # each rule's chin on the val faces, and where a correctly worn mask's bottom edge went with it: (margin, jitter)
    rules = {
        "old rule, mouth + max(0.45, 1.35 (mouth - nose))": ([old(n, m) for n, m, *_ in va], 0.12, 0.06),
        "fitted on train": ([float(coef @ [1, n, m]) for n, m, *_ in va], CORRECT_BELOW_CHIN, 0.05),
        "FaceFrame now (CHIN_FIT, floor mouth + 0.3)": (va[:, 3], CORRECT_BELOW_CHIN, 0.05),
    }
    print(
        f"train: mesh chin - mouth: min {np.min(tr[:, 2] - tr[:, 1]):.2f}, 1st percentile "
        f"{np.quantile(tr[:, 2] - tr[:, 1], 0.01):.2f}"
    )
    for name, (est, margin, jitter) in rules.items():
        err = np.asarray(est) - va[:, 2]
        print(
            f"{name}: val mean error {err.mean():+.3f}, mean |error| {np.abs(err).mean():.3f}, 90th percentile "
            f"|error| {np.quantile(np.abs(err), 0.9):.3f}; a correct mask (chin + {margin} +- {jitter}) covers the "
            f"mesh chin on {np.mean(err + margin >= 0):.1%} of {len(va)} faces at the mean, "
            f"{np.mean(err + margin - jitter >= 0):.1%} at the highest draw"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=("measure", "fit"))
    p.add_argument("--cache", type=Path, default=ROOT / ".cache" / "landmarks_12k.json")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--per-split", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    measure(a.cache, a.data, a.per_split, a.seed) if a.step == "measure" else fit()


if __name__ == "__main__":
    main()
