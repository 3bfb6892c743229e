"""Dataset loaders: ``<label>/`` folders, ``manifest.csv`` folders and PASCAL VOC boxes.

Every loader returns a list of :class:`Sample`; labels are mapped to the
package's three labels, and anything unknown, unreadable or empty is a clear
``ValueError``.
"""

from __future__ import annotations

import csv
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .registry import LABELS

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}

LABEL_ALIASES: dict[str, str] = {
    "correctly_masked": "correctly_masked",
    "with_mask": "correctly_masked",
    "mask": "correctly_masked",
    "incorrectly_masked": "incorrectly_masked",
    "mask_weared_incorrect": "incorrectly_masked",
    "mask_worn_incorrectly": "incorrectly_masked",
    "incorrect_mask": "incorrectly_masked",
    "not_masked": "not_masked",
    "without_mask": "not_masked",
    "no_mask": "not_masked",
}


@dataclass(frozen=True)
class Sample:
    """One labelled face image; ``box`` (x0, y0, x1, y1) is the face in the image, if known."""

    path: Path
    label: str
    box: tuple[float, float, float, float] | None = None
    split: str | None = None
    group: str | None = None  # image or identity, for splitting without leaks
    kind: str | None = None  # a finer class where the data has one, e.g. MaskedFace-Net's incorrect_kind

    @property
    def target(self) -> int:
        return LABELS.index(self.label)


def canonical_label(name: str, where: str = "") -> str:
    """Map a dataset's label name to one of :data:`LABELS`.

    Raises:
        ValueError: Unknown label; the message lists the accepted names.
    """
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in LABEL_ALIASES:
        raise ValueError(
            f"Unknown label {name!r}{' in ' + where if where else ''}. Use one of {sorted(set(LABEL_ALIASES))}."
        )
    return LABEL_ALIASES[key]


def load_folder(root: str | Path) -> list[Sample]:
    """Images in ``root/<label>/`` subfolders (any depth below the label folder)."""
    root = Path(root)
    _require_dir(root)
    samples = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        label = canonical_label(sub.name, where=str(sub))
        samples += [Sample(p, label, group=p.stem) for p in sorted(sub.rglob("*")) if p.suffix.lower() in IMAGE_EXTS]
    return _nonempty(samples, root, "no <label>/ subfolders with images")


def load_manifest(root: str | Path, split: str | None = None) -> list[Sample]:
    """Images listed in ``root/manifest.csv`` (columns ``path,label[,split,identity,incorrect_kind,...]``).

    ``split`` keeps one split; ``identity`` becomes the sample's group, ``incorrect_kind`` its kind.
    """
    root = Path(root)
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise ValueError(f"{manifest} does not exist.")
    samples: list[Sample] = []
    seen: set[str] = set()
    with manifest.open(newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise ValueError(
                f"{manifest} needs the columns path,label (and optionally split); it has {reader.fieldnames}."
            )
        for i, row in enumerate(reader, start=2):
            if split is not None and row.get("split") != split:
                continue
            if row["path"] in seen:  # some public manifests list a file twice
                continue
            seen.add(row["path"])
            label = canonical_label(row["label"], where=f"{manifest} line {i}")
            samples.append(
                Sample(
                    root / row["path"],
                    label,
                    split=row.get("split") or None,
                    group=row.get("identity") or row["path"],
                    kind=row.get("incorrect_kind") or None,
                )
            )
    what = f"no rows with split {split!r}" if split else "no rows"
    return _nonempty(samples, root, what)


def load_voc(root: str | Path, min_size: float = 0.0) -> list[Sample]:
    """Faces from PASCAL VOC: ``root/images/*`` with ``root/annotations/*.xml`` boxes.

    Boxes are rescaled when the image was resized after annotation. Each box
    becomes one sample whose ``group`` is its image (split by image, not by box).

    Args:
        root: Folder with ``images/`` and ``annotations/``.
        min_size: Drop boxes whose shorter side (in image pixels) is smaller.
    """
    root = Path(root)
    ann_dir, img_dir = root / "annotations", root / "images"
    _require_dir(ann_dir)
    _require_dir(img_dir)
    samples = []
    for xml in sorted(ann_dir.glob("*.xml")):
        try:
            tree = ET.parse(xml).getroot()
        except ET.ParseError as exc:
            raise ValueError(f"{xml} is not valid XML: {exc}") from exc
        fname = tree.findtext("filename") or xml.stem + ".jpg"
        img_path = img_dir / fname
        if not img_path.is_file():
            raise ValueError(f"{xml} refers to {img_path}, which does not exist.")
        aw = float(tree.findtext("size/width") or 0)
        ah = float(tree.findtext("size/height") or 0)
        with Image.open(img_path) as im:
            w, h = im.size
        sx, sy = (w / aw if aw else 1.0), (h / ah if ah else 1.0)
        for obj in tree.iter("object"):
            label = canonical_label(obj.findtext("name") or "", where=str(xml))
            bb = obj.find("bndbox")
            if bb is None:
                raise ValueError(f"{xml} has an object without <bndbox>.")
            x0, y0, x1, y1 = (float(bb.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax"))
            box = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
            if min(box[2] - box[0], box[3] - box[1]) < min_size:
                continue
            samples.append(Sample(img_path, label, box=box, group=img_path.name))
    return _nonempty(samples, root, "no annotated faces")


def load_dataset(root: str | Path, split: str | None = None, min_size: float = 0.0) -> list[Sample]:
    """Load any supported layout: manifest.csv, VOC (annotations/ + images/) or ``<label>/`` folders."""
    root = Path(root)
    _require_dir(root)
    if (root / "manifest.csv").is_file():
        return load_manifest(root, split)
    if (root / "annotations").is_dir() and (root / "images").is_dir():
        samples = load_voc(root, min_size=min_size)
        return [s for s in samples if split is None or split_of(s.group or "") == split]
    return load_folder(root)


def split_of(group: str, test_fraction: float = 0.2, val_fraction: float = 0.1) -> str:
    """Deterministic split of a group (e.g. an image name) into train / val / test by hash."""
    import hashlib

    u = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def fold_of(group: str, k: int) -> int:
    """Fold ``0..k-1`` of a group (e.g. an image name) by hash, for k-fold evaluation (independent of
    :func:`split_of`)."""
    import hashlib

    return int(hashlib.sha1(f"fold:{group}".encode()).hexdigest()[:8], 16) % k


def parse_holdout(text: str) -> tuple[int, int]:
    """``"FOLD/K"`` (e.g. ``"2/5"``) to ``(2, 5)``; raises ``ValueError`` with the expected form."""
    fold, sep, k = text.partition("/")
    try:
        f, n = int(fold), int(k)
    except ValueError:
        f, n = -1, 0
    if not sep or n < 3 or not 0 <= f < n:
        raise ValueError(f"--holdout {text!r}: give FOLD/K with K >= 3 and 0 <= FOLD < K, e.g. 2/5")
    return f, n


def check_readable(samples: Iterable[Sample]) -> None:
    """Open every image header; raise ``ValueError`` naming the first unreadable one."""
    for s in samples:
        try:
            with Image.open(s.path) as im:
                im.verify()
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for bad files
            raise ValueError(f"Cannot read image {s.path}: {exc}") from exc


def landmarks_cache(
    paths: Sequence[Path], cache_file: Path, batch: int = 32, min_face_px: int = 40
) -> dict[str, list[list[float]]]:
    """Five MTCNN landmarks of the largest face (probability >= 0.8) in each image, cached as JSON (resumable).

    Images of one size are detected in batches, and faces under ``min_face_px`` are not searched for
    (these are face crops: the face fills the image), which makes a first pass over Face Mask 12K's
    5,400 unmasked crops take minutes instead of half an hour on 2 cores.
    """
    from facenet_pytorch import MTCNN
    from tqdm import tqdm

    cache: dict[str, list[list[float]]] = {}
    if cache_file.is_file():
        cache = json.loads(cache_file.read_text())
    todo = [p for p in paths if str(p) not in cache]
    mtcnn = MTCNN(keep_all=True, min_face_size=min_face_px, post_process=False, device="cpu")
    by_size: dict[tuple[int, int], list[tuple[Path, Image.Image]]] = {}
    bar = tqdm(total=len(todo), desc="landmarks", unit="img")

    def flush(group: list[tuple[Path, Image.Image]]) -> None:
        try:
            boxes, probs, lms = mtcnn.detect([im for _, im in group], landmarks=True)
        except ValueError:  # facenet-pytorch 2.5.3 fails on a batch in which no stage finds any face
            found = [_detect_one(mtcnn, im) for _, im in group]
            boxes, probs, lms = ([f[k] for f in found] for k in range(3))
        for (p, _), b, pr, lm in zip(group, boxes, probs, lms):
            best: list[list[float]] = []
            if b is not None:
                keep = [i for i in range(len(b)) if pr[i] is not None and pr[i] >= 0.8]
                if keep:
                    i = max(keep, key=lambda k: (b[k][2] - b[k][0]) * (b[k][3] - b[k][1]))
                    best = np.asarray(lm[i], dtype=float).tolist()
            cache[str(p)] = best
        bar.update(len(group))
        group.clear()

    for i, p in enumerate(todo):
        with Image.open(p) as im:
            img = im.convert("RGB")
        group = by_size.setdefault(img.size, [])
        group.append((p, img))
        if len(group) >= batch:
            flush(group)
        if i % 500 == 499:
            _write_json(cache_file, cache)
    for group in by_size.values():
        if group:
            flush(group)
    bar.close()
    _write_json(cache_file, cache)
    return cache


def _detect_one(mtcnn, img: Image.Image) -> tuple:  # type: ignore[no-untyped-def]
    """MTCNN's ``detect`` on one image, with (None, None, None) where it finds nothing at some stage."""
    try:
        return mtcnn.detect(img, landmarks=True)
    except ValueError:
        return None, None, None


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj))
    tmp.replace(path)


def _require_dir(p: Path) -> None:
    if not p.is_dir():
        raise ValueError(f"{p} is not a folder.")


def _nonempty(samples: list[Sample], root: Path, what: str) -> list[Sample]:
    if not samples:
        raise ValueError(f"{root} has {what}: nothing to load.")
    return samples
