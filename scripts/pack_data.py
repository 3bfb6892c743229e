"""Pack ../shared/data for a call on the lent GPU machine (scripts/device_kfold.sh), which carries 64 MiB at most.

Images are re-encoded as WebP (quality 75, MaskedFace-Net 80) at their own pixel size and under their own names
(Pillow reads them by content), so boxes and landmarks still fit; MaskedFace-Net's test split stays behind.
Writes ``.gpupack/data.tgz`` (git-ignored; one archive, since the limit counts the disk blocks of every file
carried) and ``.gpupack/landmarks_src.json`` (the landmark cache and the data root its keys start with). About
49 MB; under a minute on 2 cores.

    python scripts/pack_data.py [--data ../shared/data] [--landmarks .cache/landmarks_12k.json]

With a weights file travelling too (``scripts/pack_weights.py``, 24 MB) the data must shrink to about 33 MB:
``--keep face-mask-12k=0.4`` keeps 40 % of Face Mask 12K's train rows (each label alike, chosen by a hash of the
path, so the same rows every time; val whole) and ``--quality face-mask-12k=65,maskedface-net=70`` lowers WebP
quality; the manifest keeps only the rows sent.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
QUALITY = {"face-mask-12k": 75, "face-mask-detection": 75, "maskedface-net": 80}


def _one(job: tuple[Path, Path, int]) -> None:
    src, dst, q = job
    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im.convert("RGB").save(dst, "WEBP", quality=q, method=4)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--landmarks", type=Path, default=ROOT / ".cache" / "landmarks_12k.json")
    p.add_argument("--out", type=Path, default=ROOT / ".gpupack")
    p.add_argument("--keep", default="", help="NAME=FRACTION,...: share of a manifest set's train rows sent")
    p.add_argument("--quality", default="", help=f"NAME=Q,...: WebP quality per set (default: {QUALITY})")
    a = p.parse_args()
    quality = {**QUALITY, **{k: int(v) for k, v in _pairs(a.quality).items()}}
    keep = _pairs(a.keep)
    data = a.data.resolve()
    a.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    dst = tmp / "data"
    jobs = []
    for name, q in quality.items():
        dropped = _dropped(data / name, keep.get(name, 1.0))
        for f in sorted((data / name).rglob("*")):
            if not f.is_file() or (name == "maskedface-net" and "test" in f.relative_to(data / name).parts):
                continue
            if f.relative_to(data / name).as_posix() in dropped:
                continue
            out = dst / f.relative_to(data)
            if f.name == "manifest.csv" and dropped:
                _write_manifest(f, out, dropped)
            elif f.suffix.lower() in (".jpg", ".jpeg", ".png"):
                jobs.append((f, out, q))
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, out)
    with ProcessPoolExecutor(2) as ex:
        list(ex.map(_one, jobs, chunksize=64))
    with tarfile.open(a.out / "data.tgz", "w:gz") as tar:
        tar.add(dst, arcname="data")
    shutil.rmtree(tmp)
    lms = json.loads(a.landmarks.read_text())
    (a.out / "landmarks_src.json").write_text(json.dumps({"root": str(data), "landmarks": lms}))
    size = sum((a.out / f).stat().st_size for f in ("data.tgz", "landmarks_src.json"))
    print(f"{len(jobs)} images re-encoded; {a.out}: {size / 1e6:.1f} MB")


def _pairs(text: str) -> dict[str, float]:
    return {k.strip(): float(v) for k, _, v in (t.partition("=") for t in text.split(",") if t.strip())}


def _dropped(root: Path, fraction: float) -> set[str]:
    """Manifest paths of train rows left behind so that ``fraction`` of them travel (by a hash of the path)."""
    if fraction >= 1.0 or not (root / "manifest.csv").is_file():
        return set()
    with open(root / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))

    def u(path: str) -> float:
        return int(hashlib.sha1(f"keep:{path}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    return {r["path"] for r in rows if r["split"] == "train" and u(r["path"]) >= fraction}


def _write_manifest(src: Path, dst: Path, dropped: set[str]) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, newline="") as fh:
        rows = list(csv.DictReader(fh))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(r for r in rows if r["path"] not in dropped)
    dst.write_text(buf.getvalue())


if __name__ == "__main__":
    main()
