"""Live mode: each webcam frame, every face classified with its Grad-CAM, labels smoothed over frames.

Per frame: MTCNN at a reduced size (:data:`DETECT_SIDE`, boxes mapped back) on every :data:`DETECT_EVERY`-th
frame, the last frame's boxes in between; then one batch of every face through the classifier that also gives
each face's Grad-CAM at the model's default layer (:func:`~maskxai.explain.gradcam.grad_cam_batch`: after that
layer come pooling and an affine map, so no backward pass is needed; on the CPU that batch runs on ONNX Runtime
once :mod:`maskxai.onnxcam` has exported the model, on PyTorch until then), then boxes, labels and the maps drawn on
the frame. Labels are the mean of each face's last :data:`WINDOW` probabilities (faces are followed from frame to
frame by box overlap), so a label does not flicker on one bad frame. :class:`LiveSession` holds that state for
one visitor; :func:`process_frame` is pure apart from it."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from .device import device
from .explain.base import Explanation, PixelModel
from .explain.gradcam import grad_cam_batch
from .faces import DetectSettings, crop_box, crop_face, detect_faces
from .onnxcam import cam_runner
from .pipeline import classify
from .preprocess import pixels
from .registry import DISPLAY_NAMES
from .render import CLASS_COLOURS, _font, _font_bold, overlay
from .weights import LoadedModel

DETECT_SIDE = 256
"""Longest side the frame is detected at: a 150 px face in a 640x480 frame is still 60 px for MTCNN."""
WINDOW = 5
"""Frames a face's label is averaged over."""
MIN_IOU = 0.3
"""Box overlap above which a face in this frame is taken to be the same face as in the last one."""
MAX_AGE = 5
"""Frames a face may go unseen before it is forgotten."""
DETECT_EVERY = 2
"""Faces are searched for on every this-many-th frame; in between, the faces of the last frame keep their boxes
(a face moves little in a fraction of a second) and are classified again. Detection is a third of a frame's time."""


def label_size(box: tuple[float, ...], frame_width: int) -> int:
    """Font size of a face's label: a seventh of the face's width, at least 14 px and at most a 24th of the frame's
    width, so that a face near the camera gets a label a class can read on a projector and small faces side by side
    keep labels that do not cover each other."""
    return int(min(max(14.0, (box[2] - box[0]) / 7), max(14.0, frame_width / 24)))


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    """One face followed across frames."""

    ident: int
    box: tuple[float, float, float, float]
    probs: deque[np.ndarray]
    last_frame: int

    @property
    def smoothed(self) -> np.ndarray:
        return np.mean(np.stack(list(self.probs)), axis=0)


@dataclass
class LiveSession:
    """One visitor's live state: the faces followed, frame count and timing (fps as a moving average)."""

    window: int = WINDOW
    tracks: list[Track] = field(default_factory=list)
    frame: int = 0
    next_id: int = 1
    fps: float = 0.0
    last_time: float | None = None
    last_done: float | None = None
    skipped: int = 0
    last_frame: np.ndarray | None = None

    def update(self, boxes: list[tuple[float, float, float, float]], probs: np.ndarray) -> list[Track]:
        """Match this frame's faces to the followed ones (greedy by overlap), add their probabilities and return
        each face's track, in the order of ``boxes``."""
        self.frame += 1
        free = list(self.tracks)
        out: list[Track] = []
        for box, p in zip(boxes, probs):
            best = max(free, key=lambda t: iou(t.box, box), default=None)
            if best is not None and iou(best.box, box) >= MIN_IOU:
                free.remove(best)
                best.box, best.last_frame = box, self.frame
                best.probs.append(np.asarray(p, dtype=np.float32))
                out.append(best)
            else:
                t = Track(self.next_id, box, deque([np.asarray(p, dtype=np.float32)], maxlen=self.window), self.frame)
                self.next_id += 1
                self.tracks.append(t)
                out.append(t)
        self.tracks = [t for t in self.tracks if self.frame - t.last_frame <= MAX_AGE]
        return out

    def tick(self, now: float | None = None) -> float:
        """Frames per second, end to end (time between answers), as a moving average."""
        now = time.perf_counter() if now is None else now
        if self.last_time is not None:
            dt = max(1e-6, now - self.last_time)
            self.fps = 1 / dt if self.fps == 0 else 0.7 * self.fps + 0.3 / dt
        self.last_time = now
        return self.fps


@dataclass
class FrameResult:
    """What one frame gave: the drawn frame, the faces' smoothed labels and where the time went (seconds)."""

    image: np.ndarray
    labels: list[tuple[int, str, float]]
    seconds: dict[str, float]
    runtime: str = "torch"
    """What ran the classifier: ``"onnxruntime"`` or ``"torch"``."""


def process_frame(
    frame: np.ndarray | Image.Image,
    lm: LoadedModel,
    session: LiveSession,
    *,
    detect_side: int = DETECT_SIDE,
    detect_every: int = DETECT_EVERY,
    with_cam: bool = True,
    opacity: float = 0.5,
    use_onnx: bool = True,
) -> FrameResult:
    """Detect, classify and Grad-CAM every face of ``frame`` and draw the result (see the module's docstring)."""
    t0 = time.perf_counter()
    img = frame if isinstance(frame, Image.Image) else Image.fromarray(np.asarray(frame)[..., :3].astype(np.uint8))
    img = img.convert("RGB")
    seen = [t.box for t in session.tracks if t.last_frame == session.frame]  # the faces of the last frame
    if session.frame % max(1, detect_every) == 0 or not seen:
        settings = DetectSettings(detect_max_side=detect_side, max_faces=8)
        boxes = [f.box for f in detect_faces(img, settings) if not f.too_small]
    else:
        boxes = seen
    t1 = time.perf_counter()
    crops = [crop_face(img, b) for b in boxes]
    cams: list[Explanation] = []
    runtime = "torch"
    if crops and with_cam:  # classes and maps from one batch: about one forward pass
        batch = (
            torch.cat([pixels(c, lm.spec) for c in crops]).to(device()).contiguous(memory_format=torch.channels_last)
        )
        runner = cam_runner(lm) if use_onnx else None  # ONNX Runtime once its export is done, PyTorch till then
        runtime = "onnxruntime" if runner is not None else "torch"
        p_t, cams = grad_cam_batch(PixelModel(lm.model, lm.spec), batch, forward=runner)
        probs = p_t.float().cpu().numpy()
    else:
        probs = classify(lm, crops) if crops else np.zeros((0, len(lm.spec.labels)), dtype=np.float32)
    tracks = session.update(boxes, probs)
    t2 = time.perf_counter()
    out = img.copy()
    if with_cam:
        for crop, box, e in zip(crops, boxes, cams):
            x0, y0, x1, y1 = crop_box(box)
            h, w = e.attribution.shape
            ov = Image.fromarray(overlay(np.asarray(crop.resize((w, h), Image.Resampling.BILINEAR)), e, opacity))
            out.paste(ov.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR), (x0, y0))
    t3 = time.perf_counter()
    draw = ImageDraw.Draw(out)
    font = _font(max(14, round(img.width / 40)))
    lw = max(2, round(img.width / 250))
    labels = []
    for box, t in zip(boxes, tracks):
        p = t.smoothed
        k = int(p.argmax())
        name = lm.spec.labels[k]
        colour = CLASS_COLOURS.get(name, (255, 255, 255))
        draw.rectangle(box, outline=colour, width=lw)
        text = f"{t.ident} {DISPLAY_NAMES.get(name, name)} {100 * float(p[k]):.0f}%"
        label_font = _font_bold(label_size(box, img.width))
        tb = draw.textbbox((0, 0), text, font=label_font)
        width = tb[2] - tb[0] + 2 * lw
        x = max(0.0, min(box[0], out.width - width))  # the whole label inside the frame
        y = max(0.0, box[1] - (tb[3] - tb[1]) - 2 * lw)
        draw.rectangle((x, y, x + width, y + tb[3] - tb[1] + 2 * lw), fill=colour)
        draw.text((x + lw - tb[0], y + lw - tb[1]), text, fill=(255, 255, 255), font=label_font)
        labels.append((t.ident, name, float(p[k])))
    fps = session.tick()
    status = f"{fps:.1f} frames/s · {len(boxes)} face(s) · labels averaged over the last {session.window} frames"
    tb = draw.textbbox((0, 0), status, font=font)
    y = out.height - (tb[3] - tb[1]) - 2 * lw  # bottom left: the page puts the image's label over the top left
    draw.rectangle((0, y, tb[2] - tb[0] + 2 * lw, out.height), fill=(0, 0, 0))
    draw.text((lw - tb[0], y + lw - tb[1]), status, fill=(255, 255, 255), font=font)
    t4 = time.perf_counter()
    seconds = {"detect": t1 - t0, "classify_cam": t2 - t1, "overlay": t3 - t2, "draw": t4 - t3, "total": t4 - t0}
    return FrameResult(np.asarray(out), labels, seconds, runtime)


def to_record(r: FrameResult) -> dict[str, Any]:
    return {
        "faces": [{"face": i, "label": name, "probability": round(p, 4)} for i, name, p in r.labels],
        "seconds": {k: round(v, 4) for k, v in r.seconds.items()},
        "runtime": r.runtime,
    }
