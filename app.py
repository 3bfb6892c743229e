"""maskxai: is the mask worn correctly, and what did the model look at?

Run ``python app.py`` (``--help`` for host, port and share). The page wiring
is here; everything it computes lives in the ``maskxai`` package.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import logging
import math
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from gradio import route_utils as gr_route_utils
from PIL import Image, UnidentifiedImageError

from maskxai.device import gpu_call
from maskxai.explain import (
    BASELINES,
    MAX_STEPS,
    METHODS,
    MIN_STEPS,
    ExplainSettings,
    Explanation,
    PixelModel,
    default_methods,
)
from maskxai.explain.base import FILLS, Steps
from maskxai.explain.methods import fast_first
from maskxai.faces import DetectSettings
from maskxai.faithfulness import Faithfulness, faithfulness, random_curves
from maskxai.images import ImageError, is_grayscale, load_image, open_image
from maskxai.live import LiveSession, process_frame
from maskxai.memory import releasing_memory, tune_allocator
from maskxai.onnxcam import cam_runner
from maskxai.pipeline import (
    FaceResult,
    classify,
    explain,
    face_context,
    face_crop,
    face_geometry,
    find_faces,
    get_model,
    run,
)
from maskxai.preprocess import pixels
from maskxai.regions import RegionShares, face_regions
from maskxai.registry import DISPLAY_NAMES, LABELS, ModelSpec, get_spec, list_models
from maskxai.render import draw_faces, faces_legend_html, faithfulness_plot, map_strip, panel, paste_map, sanity_plot
from maskxai.report import FaceReport, scores_from, weights_version, write
from maskxai.sanity import FLAG_SPEARMAN, SanityStep, barely_changes, cascading_randomisation, verdicts
from maskxai.weights import LoadedModel
from maskxai.whatif import WHATIF, redraw

log = logging.getLogger("maskxai.app")
HERE = Path(__file__).resolve().parent
EXAMPLES = sorted(str(p) for p in (HERE / "examples").glob("*.jpg"))
DEFAULT_MODEL = os.environ.get("MASKXAI_MODEL", "inception_resnet_v1")  # the more accurate one
QUEUE_SIZE = 16
"""Requests waiting at most; beyond it a visitor is told the app is busy. At 3-5 s per explanation on 2 cores,
16 waiting is about a minute's wait."""
CONCURRENCY = 1
"""Explanations computed at once. One uses every core; two at once are each about half as fast and hold two
sets of IG activations in memory."""
CACHE_MAX_AGE_S = int(os.environ.get("MASKXAI_CACHE_MAX_AGE", "600"))
"""Uploads and served images are deleted from Gradio's cache this long after they were written."""
MAX_UPLOAD = "20mb"


def _clean_cache_safely(clean: Callable[[Any, int | None], None]) -> Callable[[Any, int | None], None]:
    """Gradio's scheduled cache cleaning (``route_utils.delete_files_created_by_app``) reads its live sets of
    temporary files while requests add to them; the ``RuntimeError`` ("Set changed size during iteration") ended
    its cleaning task for good, and the cache then grew for as long as the server ran. Wrapped, such a pass is
    skipped and the next one, ``delete_cache``'s frequency later, cleans."""

    def clean_or_skip(blocks: Any, age: int | None) -> None:
        try:
            clean(blocks, age)
        except RuntimeError as exc:
            log.info("cache cleaning skipped this pass (%s); the next one cleans", exc)

    return clean_or_skip


if not getattr(gr_route_utils.delete_files_created_by_app, "maskxai_wrapped", False):  # once per process
    _wrapped = _clean_cache_safely(gr_route_utils.delete_files_created_by_app)
    _wrapped.maskxai_wrapped = True  # type: ignore[attr-defined]
    setattr(gr_route_utils, "delete_files_created_by_app", _wrapped)  # noqa: B010 - typed as Gradio's function

HOW_TO_READ = """
**How to read these maps.** Every map explains one class of the chosen face: the predicted one, or the class
picked under **Explain the class** (another class answers "why not that one?"). Red raises the class score,
blue lowers it (signed maps, scaled by their 99th percentile of |value|); CAMs are relative (1 = the strongest
region in this image), coarse, and blank when no region speaks for the class. A model that judges masks well
should look at the **nose, mouth and chin**: a mask below the nose is only visible there.
"""
MIN_PANEL_PX = 440
"""Narrowest a map panel gets: two panels a row on a 1500 px page, one on a 1024 px page."""
SANITY_RULE = (
    f"A map whose mean Spearman correlation with the trained map stays at or above {FLAG_SPEARMAN} "
    "is flagged: it barely depends on what the model learned."
)
FAITH_HELP = """
**Which map to believe?** Each map ranks the face's square patches, most important first. *Deletion* greys
them out in that order and follows the probability of the class: a faithful map makes it **fall fast (low
area under the curve)**. *Insertion* starts from a grey face and puts patches back: a faithful map makes it
**rise fast (high AUC)**. The dashed grey curves are random orders: a map is only useful where it beats them.
The table ranks the shown maps for this face by insertion AUC minus deletion AUC (computed once per
Explain; changing the shown maps re-ranks without recomputing). Patch size and fill are under **More settings**.
"""
SANITY_HELP = f"""
**Would the map look the same for a model that learned nothing?** (Adebayo et al., 2018.) The check copies the
model and re-initialises its blocks one by one, from the output down, recomputing the shown maps after each
step. Maps that explain the model must drift away from the trained map (Spearman rank correlation of |map|
and SSIM falling towards 0). {SANITY_RULE} IG runs 32 steps here when set to auto. It takes a while: follow
the progress bar, or press **Stop**.
"""


def how_to_read() -> str:
    """The page's reading guide, one line per registered method (a new method documents itself)."""
    lines = [HOW_TO_READ]
    for m in METHODS.values():
        paper = f" ({m.paper})" if m.paper else ""
        lines.append(f"- **{m.title}**{paper}: {m.summary}")
    lines.append(
        "- **Where the model looks**: under each map, the share of its positive weight on forehead, eyes, nose, "
        "mouth and chin (regions from the detector's five landmarks) beside each region's share of the face: "
        "a flat map scores its area, so a share well above the area means the map favours that region."
    )
    return "\n".join(lines) + "\n"


class PhotoInput(gr.Image):
    """``gr.Image`` whose upload errors reach the user as a sentence, not a traceback.

    The upload's header is read first (no pixels), so a file that is not an image of an accepted format,
    or that declares more than ``maskxai.images.MAX_MEGAPIXELS``, is refused before Gradio opens it.
    """

    is_template = True  # same front-end component as gr.Image

    def preprocess(self, payload: Any) -> Any:
        try:
            path, url = getattr(payload, "path", None), getattr(payload, "url", None) or ""
            if path:
                open_image(path).close()
            elif url.startswith("data:"):  # a base64 snapshot, which Gradio would decode in full
                open_image(base64.b64decode(url.partition(",")[2])).close()
            return super().preprocess(payload)
        except ImageError as exc:
            raise gr.Error(str(exc)) from exc
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
            raise gr.Error(
                "This file is not an image we can read. Upload a photo (JPEG, PNG, WebP, BMP, GIF or TIFF)."
            ) from exc


class NumberSlider(gr.Slider):
    """``gr.Slider`` that answers a value that is not a number in its range with a sentence naming the setting.

    (``gr.Slider`` compares the raw value with its bounds, so ``'abc'`` through the API was a TypeError.)
    """

    is_template = True  # same front-end component as gr.Slider

    def preprocess(self, payload: Any) -> Any:
        try:
            value = float(payload)
        except (TypeError, ValueError, OverflowError):
            value = math.nan
        if isinstance(payload, bool) or not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            raise gr.Error(
                f"{self.label} must be a number from {self.minimum:g} to {self.maximum:g} (got {payload!r})."
            )
        return super().preprocess(value)


def model_status(name: str) -> str:
    lm = get_model(name)
    if lm.trained:
        return f"Model **{lm.spec.title}**, weights from {lm.source.split(' ')[0]}."
    return (
        f"⚠️ **{lm.spec.title} is untrained**: no weights were found, so its predictions and maps are random. "
        "Train it (`python -m maskxai.train`) or set `MASKXAI_HUB_REPO`."
    )


GRAYSCALE_NOTE = (
    "This face is in **grayscale**. Both models miss more masks worn incorrectly without colour (measured on "
    "validation: many masks pulled below the nose are called worn correctly), so read this prediction with care "
    "(docs/experiments.md, *Video frames*)."
)


def blank_cam_message(layer: str, layers: tuple[str, ...]) -> str:
    """What to tell people when Grad-CAM found no positive evidence at ``layer``."""
    others = ", ".join(f"`{name}`" for name in layers if name != layer)
    hint = f" Try another layer under **More settings** ({others})." if others else ""
    return f"Grad-CAM is blank at `{layer}`: no region of this layer speaks for the predicted class.{hint}"


def _face_choices(faces: list[FaceResult]) -> list[tuple[str, str]]:
    return [(f.tag(), str(f.index)) for f in faces if not f.too_small]


def choose_face(faces: list[FaceResult], face_choice: str | float | None) -> FaceResult:
    """The face numbered ``face_choice`` (default: the largest judged one); an error listing the faces otherwise."""
    judged = [f for f in faces if not f.too_small]
    if face_choice is None or str(face_choice).strip() == "":
        return judged[0]
    text = str(face_choice).strip()
    try:
        number = float(text)
        text = str(int(number)) if number.is_integer() else text
    except (ValueError, OverflowError):
        pass
    found = next((f for f in faces if str(f.index) == text), None)
    listed = ", ".join(f"{f.index} ({f.tag().split(' ', 1)[1]})" for f in judged)
    if found is not None and found.too_small:
        raise gr.Error(f"Face {text} is too small to judge (under 40 pixels). Choose one of the faces: {listed}.")
    if found is None:
        raise gr.Error(
            f"There is no face {face_choice!r} in this photo. Choose one of the faces by its number: {listed} "
            "(or leave the face empty for the largest)."
        )
    return found


def run_explain(
    model_name: str,
    image: str | None,
    steps: float | str,
    baseline: str,
    layer: str | None,
    face_choice: str | None,
    whole_image: bool,
    opacity: float,
    min_confidence: float = 0.9,
    max_faces: float = 20,
    progress: gr.Progress = gr.Progress(),
) -> Iterator[tuple[Any, ...]]:
    """The first API, ``/explain``, unchanged for today's clients: the predicted class, Grad-CAM and gradients
    first, then IG, as the 9-tuple ``(faces, label, grad_cam, gradients, ig, on_photo, faces_json, status,
    face)``. It runs :func:`explain_stream` without the faithfulness step."""
    kept: dict[str, Any] = {}
    for upd in explain_stream(
        model_name,
        image,
        face_choice,
        whole_image,
        "predicted",
        LEGACY_METHODS,
        steps,
        baseline,
        layer,
        opacity,
        min_confidence,
        max_faces,
        progress=progress,
        with_faithfulness=False,
        with_report=False,
    ):
        kept.update(upd)
        if upd.get("stage") in ("fast", "done"):
            yield tuple(kept.get(k) for k in LEGACY_SLOTS)


STEP_CHOICES: list[str | int] = ["auto", 16, 32, 64, 128, 256]
LEGACY_METHODS = ("gradcam", "gradients", "ig")
"""What ``/explain`` (the first API) shows: Grad-CAM, gradients, IG."""
LEGACY_SLOTS = (
    "faces_img",
    "label",
    "panel:gradcam",
    "panel:gradients",
    "panel:ig",
    "on_photo",
    "faces_json",
    "status",
    "face",
)
FAITH_COLUMNS = [
    "#",
    "map",
    "deletion AUC (lower: better)",
    "random order",
    "insertion AUC (higher: better)",
    "random order ",
    "insertion - deletion",
]


@dataclass
class FaceState:
    """What the page keeps about the explained face, so re-ranking, the sanity check and the comparison reuse it."""

    model_name: str
    crop: Image.Image
    target: int
    target_choice: str
    settings: ExplainSettings
    opacity: float
    landmarks: Any
    box: tuple[float, float, float, float]
    maps: dict[str, Explanation] = field(default_factory=dict)
    regions: dict[str, RegionShares] = field(default_factory=dict)
    faith: dict[str, Faithfulness] = field(default_factory=dict)
    photo: Image.Image | None = None  # the photo with the boxes, for the report
    source: str = "photo"
    face_index: int = 1
    probabilities: dict[str, float] = field(default_factory=dict)


def parse_steps(steps: Any) -> Steps:
    """``"auto"`` or a whole number of IG steps in range; a sentence otherwise."""
    if isinstance(steps, str) and steps.strip().lower() == "auto":
        return "auto"
    try:
        value = float(steps)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(steps, bool) or not math.isfinite(value) or not value.is_integer():
        raise gr.Error(f"IG steps must be a whole number from {MIN_STEPS} to {MAX_STEPS}, or auto (got {steps}).")
    if not MIN_STEPS <= int(value) <= MAX_STEPS:
        raise gr.Error(f"IG steps must be a whole number from {MIN_STEPS} to {MAX_STEPS}, or auto (got {steps}).")
    return int(value)


def parse_target(target: str | None, labels: tuple[str, ...]) -> int | None:
    """The class index to explain (``None``: the predicted one) from a label, its display name, or "predicted"."""
    if target is None or str(target).strip().lower() in ("", "predicted", "predicted class"):
        return None
    text = str(target).strip()
    names = {lab: i for i, lab in enumerate(labels)} | {DISPLAY_NAMES.get(lab, lab): i for i, lab in enumerate(labels)}
    if text not in names:
        choices = ", ".join(["predicted", *labels])
        raise gr.Error(f"Unknown class {text!r} to explain. Choose one of: {choices}.")
    return names[text]


def parse_methods(methods: Any) -> list[str]:
    """Registered method names, in the table's order; a sentence listing the choices otherwise."""
    chosen = [methods] if isinstance(methods, str) else list(methods or [])
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise gr.Error(f"Unknown map(s) {', '.join(map(str, unknown))}. Choose from: {', '.join(METHODS)}.")
    if not chosen:
        raise gr.Error("Pick at least one map to show (under **Maps to show**).")
    return [m for m in METHODS if m in chosen]


def _number(value: Any, name: str, lo: float, hi: float, whole: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v) or not lo <= v <= hi or (whole and not v.is_integer()):
        kind = "a whole number" if whole else "a number"
        raise gr.Error(f"{name} must be {kind} from {lo:g} to {hi:g} (got {value!r}).")
    return v


def _panel_image(state: FaceState, e: Explanation, spec_labels: tuple[str, ...]) -> Image.Image:
    why = DISPLAY_NAMES.get(spec_labels[e.target], spec_labels[e.target])
    sub = e.caption()
    if e.relative_delta is not None:
        sub += f"; delta {100 * e.relative_delta:.1f}% of the gap"
    if e.blank:
        sub += "; blank: no positive evidence at this layer"
    return panel(state.crop, e, state.opacity, f"{e.method} · {e.seconds:.2f} s · {why}", sub, state.regions.get(e.key))


def _record(state: FaceState, name: str) -> dict[str, Any]:
    e = state.maps[name]
    rec = e.to_record()
    rec["class"] = get_spec(state.model_name).labels[e.target]
    if name in state.regions:
        rec["regions"] = state.regions[name].to_record()
    if name in state.faith:
        rec["faithfulness"] = state.faith[name].to_record()
    return rec


def _ranking(state: FaceState, shown: list[str]) -> tuple[Any, Any]:
    """The faithfulness plot and table of the computed maps among ``shown``, best first."""
    import pandas as pd

    names = [n for n in shown if n in state.faith]
    if not names:
        return None, pd.DataFrame(columns=FAITH_COLUMNS)
    names.sort(key=lambda n: -state.faith[n].score)
    titles = {n: METHODS[n].title for n in names}
    plot = faithfulness_plot({n: state.faith[n] for n in names}, titles)
    rows = []
    for i, n in enumerate(names, 1):
        f = state.faith[n]
        rows.append(
            [
                i,
                titles[n],
                round(f.map.deletion_auc, 3),
                round(f.random.deletion_auc, 3),
                round(f.map.insertion_auc, 3),
                round(f.random.insertion_auc, 3),
                round(f.score, 3),
            ]
        )
    return plot, pd.DataFrame(rows, columns=FAITH_COLUMNS)


def parse_request(
    model_name: str,
    target: str | None,
    methods: Any,
    steps: Any,
    baseline: str,
    layer: str | None,
    samples: float,
    noise: float,
    patch: float,
) -> tuple[ModelSpec, list[str], ExplainSettings, int | None]:
    """The model, methods, settings and class (``None``: predicted) a request names; a sentence if one is wrong."""
    try:
        spec = get_spec(model_name)
    except ValueError as exc:
        raise gr.Error(str(exc)) from exc
    names = parse_methods(methods if methods is not None else default_methods())
    ig_steps = parse_steps(steps)
    if baseline not in BASELINES:
        raise gr.Error(f"Unknown IG baseline {baseline!r}. Choose one of: {', '.join(BASELINES)}.")
    if layer and layer not in spec.cam_layers:
        raise gr.Error(
            f"{spec.title} has no Grad-CAM layer {layer!r}. Choose one of: {', '.join(spec.cam_layers)} "
            "(or leave it empty for the default)."
        )
    settings = ExplainSettings(
        steps=ig_steps,
        baseline=baseline,
        layer=layer or None,
        samples=int(_number(samples, "SmoothGrad samples", 1, 128, whole=True)),
        noise=_number(noise, "SmoothGrad noise", 0, 1),
        patch=int(_number(patch, "Occlusion patch", 2, 64, whole=True)),
    )
    return spec, names, settings, parse_target(target, spec.labels)


def detect(
    model_name: str, image: str | None, whole_image: bool, min_confidence: float, max_faces: float
) -> tuple[LoadedModel, Image.Image, list[FaceResult]]:
    """The model, the photo and its faces (classified)."""
    try:
        photo = load_image(image)
    except ImageError as exc:
        raise gr.Error(str(exc)) from exc
    lm = get_model(model_name)
    det = DetectSettings(min_confidence=float(min_confidence), max_faces=max(1, int(max_faces)))
    return lm, photo, find_faces(photo, lm, det, whole_image=bool(whole_image))


def face_state(
    model_name: str,
    image: str | None,
    face_choice: str | float | None = None,
    whole_image: bool = False,
    target: str | None = "predicted",
    methods: Any = None,
    steps: Any = "auto",
    baseline: str = "black",
    layer: str | None = None,
    opacity: float = 0.6,
    min_confidence: float = 0.9,
    max_faces: float = 20,
    samples: float = 16,
    noise: float = 0.15,
    patch: float = 16,
    *ignored: Any,
) -> FaceState:
    """The chosen face of a request, ready to explain (what the API's sanity check and comparison start from)."""
    spec, _names, settings, k_target = parse_request(
        model_name, target, methods, steps, baseline, layer, samples, noise, patch
    )
    _lm, photo, faces = detect(model_name, image, whole_image, min_confidence, max_faces)
    if not any(not f.too_small for f in faces):
        raise gr.Error("No face to judge was found in this photo. Tick **Treat the whole image as one face**.")
    chosen = choose_face(faces, face_choice)
    probs = chosen.probabilities or {}
    k = k_target if k_target is not None else spec.labels.index(max(probs, key=probs.__getitem__))
    landmarks, box = face_geometry(chosen, spec.input_size)
    return FaceState(
        model_name,
        face_crop(photo, chosen),
        k,
        str(target or "predicted"),
        settings,
        _number(opacity, "Overlay opacity", 0.0, 1.0),
        landmarks,
        box,
    )


def explain_stream(
    model_name: str,
    image: str | None,
    face_choice: str | float | None = None,
    whole_image: bool = False,
    target: str | None = "predicted",
    methods: Any = None,
    steps: Any = "auto",
    baseline: str = "black",
    layer: str | None = None,
    opacity: float = 0.6,
    min_confidence: float = 0.9,
    max_faces: float = 20,
    samples: float = 16,
    noise: float = 0.15,
    patch: float = 16,
    faith_patch: float = 8,
    faith_fill: str = "grey",
    *,
    progress: Any = None,
    with_faithfulness: bool = True,
    with_report: bool = True,
) -> Iterator[dict[str, Any]]:
    """Detect, classify and explain the chosen face, streamed as updates keyed by slot name.

    Slots: ``faces_img`` (boxes and legend; ``faces_page_img``: boxes only; ``faces_legend``: HTML), ``label``,
    ``faces_json``, ``status``, ``face``, ``panel:<method>`` and ``show:<method>`` (its panel's visibility),
    ``on_photo``, ``methods_json``, ``faith_plot``, ``faith_table``, ``state``; ``stage`` says which step
    ended: ``faces``, ``fast`` (the one-pass maps), ``slow`` (one more slow map) or ``done``. Maps come fast
    ones first; faithfulness comes last.
    """
    progress = progress or (lambda *a, **k: None)
    spec, names, settings, k_target = parse_request(
        model_name, target, methods, steps, baseline, layer, samples, noise, patch
    )
    if faith_fill not in FILLS:
        raise gr.Error(f"Unknown fill {faith_fill!r}. Choose one of: {', '.join(FILLS)}.")
    f_patch = int(_number(faith_patch, "Faithfulness patch", 2, 64, whole=True))
    opacity = _number(opacity, "Overlay opacity", 0.0, 1.0)
    t0 = time.perf_counter()
    lm, photo, faces = detect(model_name, image, whole_image, min_confidence, max_faces)
    boxes, tags, kinds = [f.box for f in faces], [f.tag() for f in faces], [f.label or "too_small" for f in faces]
    annotated = draw_faces(photo, boxes, tags, kinds)  # with its legend: for the report and API clients
    update: dict[str, Any] = {
        "faces_img": annotated,
        "faces_page_img": draw_faces(photo, boxes, tags, kinds, legend=False),
        "faces_legend": faces_legend_html(tags, kinds),
        "faces_json": [f.to_dict() for f in faces],
    }
    update |= {f"panel:{n}": None for n in METHODS} | {f"show:{n}": gr.update(visible=n in names) for n in METHODS}
    update |= {"on_photo": None, "methods_json": {}, "faith_plot": None, "faith_table": None, "state": None}
    update |= {k: gr.update(value=None, interactive=False) for k in ("report_html", "report_png")}
    if not any(not f.too_small for f in faces):
        msg = (
            "No face was found in this photo. Tick **Treat the whole image as one face** to classify it anyway."
            if not faces
            else "The faces in this photo are too small to judge (under 40 pixels). Use a closer photo."
        )
        yield update | {
            "label": None,
            "status": f"{model_status(model_name)}\n\n{msg}",
            "stage": "done",
            "face": gr.update(choices=[], value=None),
        }
        return
    chosen = choose_face(faces, face_choice)
    probs = chosen.probabilities or {}
    crop = face_crop(photo, chosen)
    # The detector's pass already gave the predicted class: no extra forward pass before the first maps.
    ctx = face_context(
        lm,
        crop,
        spec.labels.index(max(probs, key=probs.__getitem__)) if k_target is None and probs else k_target,
        settings,
    )
    landmarks, box = face_geometry(chosen, spec.input_size)
    state = FaceState(model_name, crop, ctx.target, str(target or "predicted"), settings, opacity, landmarks, box)
    state.photo, state.source, state.face_index, state.probabilities = (
        annotated,
        _photo_name(image),
        chosen.index,
        probs,
    )
    why = DISPLAY_NAMES.get(spec.labels[ctx.target], spec.labels[ctx.target])
    predicted = max(probs, key=probs.__getitem__) if probs else spec.labels[ctx.target]
    asked = ""
    if k_target is not None and spec.labels[k_target] != predicted:
        asked = f" (not the predicted {DISPLAY_NAMES.get(predicted, predicted)}: a *why not?* view)"
    elif k_target is not None:
        asked = " (the predicted class)"
    status = [
        model_status(model_name),
        f"{len(faces)} face(s) found; explaining face {chosen.index}, class **{why}**{asked}.",
    ]
    if is_grayscale(crop):
        status.append(GRAYSCALE_NOTE)
    update |= {
        "label": {DISPLAY_NAMES[k]: v for k, v in probs.items()},
        "face": gr.update(choices=_face_choices(faces), value=str(chosen.index)),
        "status": "\n\n".join(status),
        "stage": "faces",
    }
    yield update
    fast = [n for n in names if not METHODS[n].slow]
    slow = [n for n in names if METHODS[n].slow]

    def show(ns: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n in ns:
            e = state.maps[n]
            state.regions[n] = face_regions(e.attribution, landmarks, box)
            out[f"panel:{n}"] = _panel_image(state, e, spec.labels)
            if e.blank and e.layer:
                status.append(blank_cam_message(e.layer, spec.cam_layers).replace("Grad-CAM", e.method))
            if e.relative_delta is not None and e.key == "ig":
                status.append(_ig_note(e))
        first = next((n for n in names if n in state.maps), None)
        if first is not None and first in ns:
            out["on_photo"] = paste_map(photo, state.maps[first], chosen.crop, opacity)
        out["methods_json"] = {m: _record(state, m) for m in names if m in state.maps}
        out["status"] = "\n\n".join(status)
        return out

    for n in fast:
        state.maps[n] = run(ctx, n)
    if fast:
        yield show(fast) | {"stage": "fast"}
    for n in slow:
        progress(0, desc=METHODS[n].title)
        state.maps[n] = run(ctx, n, lambda f, title: progress(f, desc=title))
        yield show([n]) | {"stage": "slow"}
    if with_faithfulness:
        progress(0, desc="Faithfulness: random patch orders")
        rnd = random_curves(ctx.pm, ctx.pixels, ctx.target, f_patch, faith_fill)
        for i, n in enumerate(names):
            progress((i + 1) / (len(names) + 1), desc=f"Faithfulness: {METHODS[n].title}")
            state.faith[n] = faithfulness(
                ctx.pm, ctx.pixels, ctx.target, state.maps[n].attribution, patch=f_patch, fill=faith_fill, random=rnd
            )
        plot, table = _ranking(state, names)
        best = table.iloc[0]["map"] if len(table) else None
        status.append(
            f"Most faithful map here: **{best}** (deletion and insertion, {f_patch} px patches, "
            f"{faith_fill} fill; see **Faithfulness**)."
        )
        update = {"faith_plot": plot, "faith_table": table}
    else:
        update = {}
    status.append(f"Total {time.perf_counter() - t0:.1f} s.")
    if with_report:
        page, png = write_report(state, names)
        update |= {
            "report_html": gr.update(value=str(page), interactive=True),
            "report_png": gr.update(value=str(png), interactive=True),
        }
    yield update | {
        "methods_json": {m: _record(state, m) for m in names},
        "status": "\n\n".join(status),
        "state": state,
        "stage": "done",
    }


REPORT_DIR = Path(tempfile.gettempdir()) / f"maskxai_reports_{os.getpid()}"
"""Where the page writes the report of each explained face; files older than the cache age are deleted."""


def _photo_name(image: Any) -> str:
    name = Path(str(image)).name if isinstance(image, (str, Path)) else "photo"
    return name if len(name) <= 80 else name[-80:]


def remove_old_reports(folder: Path, cutoff: float) -> None:
    """Delete what ``folder`` holds from before ``cutoff`` (a Unix time): each report is a folder, a frozen frame a
    file. Never raises: a file that another request removes first, or one that cannot go, is left to the next
    call (a failed clean-up must not fail the explanation, as it once did for every request after 10 minutes)."""
    for old in folder.iterdir():
        try:
            if old.stat().st_mtime >= cutoff:
                continue
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
        except OSError:
            continue


def write_report(state: FaceState, names: list[str]) -> tuple[Path, Path]:
    """The explained face's report (self-contained HTML) and maps (PNG), written under :data:`REPORT_DIR`."""
    lm = get_model(state.model_name)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    remove_old_reports(REPORT_DIR, time.time() - CACHE_MAX_AGE_S)
    panels = [(METHODS[n].title, _panel_image(state, state.maps[n], lm.spec.labels)) for n in names if n in state.maps]
    settings = state.settings
    faith = next(iter(state.faith.values()), None)
    parameters = {
        "model": lm.spec.title,
        "weights": weights_version(lm.source),
        "maps": ", ".join(t for t, _ in panels),
        "IG steps": str(settings.steps)
        + "".join(f" (used {state.maps[n].steps})" for n in names if n == "ig" and n in state.maps),
        "IG baseline": settings.baseline,
        "CAM layer": settings.layer or f"the model's default ({lm.spec.cam_layers[0]})",
        "SmoothGrad": f"{settings.samples} samples, noise {settings.noise}",
        "occlusion patch": f"{settings.patch} px",
        "faithfulness": f"{faith.patch} px patches, {faith.fill} fill" if faith else "not computed",
        "face box (px, in the map)": ", ".join(f"{v:.0f}" for v in state.box),
    }
    report = FaceReport(
        state.source,
        state.face_index,
        state.photo if state.photo is not None else state.crop,
        max(state.probabilities, key=state.probabilities.__getitem__) if state.probabilities else "",
        state.probabilities,
        lm.spec.labels[state.target],
        panels,
        parameters,
        [scores_from(state.maps[n], state.regions.get(n), state.faith.get(n)) for n in names if n in state.maps],
    )
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    folder = REPORT_DIR / stamp
    page, png = write(report, folder)
    return page, png


def _ig_note(e: Explanation) -> str:
    rel = e.relative_delta or 0.0
    text = f"IG convergence delta {e.delta:.3g} ({100 * rel:.1f}% of the score gap, {e.steps} steps)"
    if e.converged is False:
        return text + f": not under 5 % within {MAX_STEPS} steps (the cap); read the IG map as approximate."
    if e.converged is None and rel > 0.05:
        return text + "; raise the steps or choose auto."
    return text + "."


def _progress_desc(progress: Any, prefix: str) -> Callable[[float, str], None]:
    return lambda f, text: progress(f, desc=f"{prefix}: {text}")


def rerank(state: FaceState | None, methods: Any) -> dict[str, Any]:
    """Show the chosen panels and rank the computed ones among them, without computing anything."""
    chosen = [m for m in METHODS if m in (methods or [])]
    out: dict[str, Any] = {f"show:{n}": gr.update(visible=n in chosen) for n in METHODS}
    if state is not None and state.faith:
        out["faith_plot"], out["faith_table"] = _ranking(state, chosen)
    return out


def sanity_stream(
    state: FaceState | None, methods: Any, *request: Any, progress: Any = None
) -> Iterator[dict[str, Any]]:
    """The sanity check on the explained face (or, without ``state``, on the face the ``request`` arguments of
    :func:`face_state` name): maps after each randomised block, similarity plot and records, verdicts."""
    progress = progress or (lambda *a, **k: None)
    if state is None:
        if not request or request[1] is None:
            raise gr.Error("Explain a face first: the sanity check reruns its maps on randomised copies of the model.")
        state = face_state(*request)
    names = parse_methods(methods)
    lm = get_model(state.model_name)
    pm = PixelModel(lm.model, lm.spec)
    x = pixels(state.crop, lm.spec).contiguous(memory_format=torch.channels_last)
    titles = {n: METHODS[n].title for n in names}
    steps: list[SanityStep] = []
    gen = cascading_randomisation(
        pm, x, names, state.target, state.settings, progress=lambda f, text: progress(f, desc=f"Sanity check: {text}")
    )
    for step in gen:
        steps.append(step)
        text = "Randomising the model block by block, from the output down"
        if len(steps) > 1:
            text += f": {len(steps) - 1} block(s) random so far (last: `{step.block}`)."
        yield {
            "sanity_text": text,
            "sanity_plot": sanity_plot(steps, titles),
            "sanity_strip": map_strip(state.crop, steps, titles, state.opacity),
            "sanity_json": [s.to_record() for s in steps],
        }
    lines = verdicts(steps, titles)
    flags = barely_changes(steps)
    yield {
        "sanity_text": "\n\n".join(["**Done.** " + SANITY_RULE, *lines]),
        "sanity_json": {"steps": [s.to_record() for s in steps], "barely_changes": flags},
        "stage": "done",
    }


def compare_stream(
    state: FaceState | None, methods: Any, *request: Any, progress: Any = None
) -> Iterator[dict[str, Any]]:
    """Every registered model on the explained face (or the face the ``request`` arguments of :func:`face_state`
    name): its prediction and the chosen maps, model by model."""
    progress = progress or (lambda *a, **k: None)
    if state is None:
        if not request or request[1] is None:
            raise gr.Error("Explain a face first: the comparison runs every model on that face.")
        state = face_state(*request)
    names = parse_methods(methods)
    out: dict[str, Any] = {f"cmp_show:{m}:{n}": gr.update(visible=n in names) for m in list_models() for n in METHODS}
    yield out
    for model_name in list_models():
        lm = get_model(model_name)
        probs = classify(lm, [state.crop])[0]
        out = {f"cmp_label:{model_name}": {DISPLAY_NAMES[k]: float(v) for k, v in zip(lm.spec.labels, probs)}}
        target = None if state.target_choice in ("predicted", "", "None") else state.target
        layer = state.settings.layer if state.settings.layer in lm.spec.cam_layers else None
        ctx = face_context(lm, state.crop, target, dataclasses.replace(state.settings, layer=layer))
        other = FaceState(
            model_name,
            state.crop,
            ctx.target,
            state.target_choice,
            ctx.settings,
            state.opacity,
            state.landmarks,
            state.box,
        )
        report = _progress_desc(progress, lm.spec.title)
        for n in fast_first(names):
            other.maps[n] = e = run(ctx, n, report)
            other.regions[n] = face_regions(e.attribution, state.landmarks, state.box)
            out[f"cmp:{model_name}:{n}"] = _panel_image(other, e, lm.spec.labels)
            yield out
            out = {}
    yield {"stage": "done"}


WHATIF_HELP = (
    "**What if the mask were worn differently?** The explained face is redrawn with a photographed surgical mask "
    "placed from the detector's five landmarks (the same renderer that drew the examples), then classified and "
    "explained with the same model, class and maps. Left: the face as it is; right: the redrawn face. On a face "
    "that already wears a mask the new one is drawn over it, so both show: start from a face without one. The last "
    "two draw no mask but a lookalike (a beard, a hand over the mouth), to see whether the model takes one for a mask."
)


def whatif_stream(
    state: FaceState | None, methods: Any, placement: str, *request: Any, progress: Any = None
) -> Iterator[dict[str, Any]]:
    """The explained face (or the face the ``request`` arguments of :func:`face_state` name) redrawn with a mask
    at ``placement``: both faces' predictions and the chosen maps, the original's reused when already computed."""
    progress = progress or (lambda *a, **k: None)
    if placement not in WHATIF:
        raise gr.Error(f"Unknown what-if {placement!r}. Choose one of: {', '.join(WHATIF)}.")
    if state is None:
        if not request or request[1] is None:
            raise gr.Error("Explain a face first: the what-if redraws that face.")
        state = face_state(*request)
    names = parse_methods(methods)
    lm = get_model(state.model_name)
    try:
        drawn = redraw(state.crop, state.landmarks, lm.spec.input_size, placement)
    except ValueError as exc:
        raise gr.Error(str(exc)) from exc
    out: dict[str, Any] = {
        f"wi_show:{side}:{n}": gr.update(visible=n in names) for side in ("orig", "new") for n in METHODS
    }
    title, drawn_class = WHATIF[placement]
    for side, face in (("orig", state.crop), ("new", drawn)):
        probs = classify(lm, [face])[0]
        out[f"wi_label:{side}"] = {DISPLAY_NAMES[k]: float(v) for k, v in zip(lm.spec.labels, probs)}
        if side == "new":
            said = lm.spec.labels[int(probs.argmax())]
            verdict = "as drawn" if said == drawn_class else f"not {DISPLAY_NAMES[drawn_class].lower()}, as drawn"
            out["wi_text"] = (
                f"Redrawn: **{title}** (drawn as *{DISPLAY_NAMES[drawn_class]}*). {lm.spec.title} says "
                f"**{DISPLAY_NAMES[said]}** ({100 * float(probs.max()):.0f} %): {verdict}."
            )
    yield out
    target = None if state.target_choice in ("predicted", "", "None") else state.target
    for side, face in (("orig", state.crop), ("new", drawn)):
        ctx = face_context(lm, face, target, state.settings)
        view = FaceState(
            state.model_name, face, ctx.target, state.target_choice, ctx.settings, state.opacity, state.landmarks,
            state.box,
        )  # fmt: skip
        report = _progress_desc(progress, "as it is" if side == "orig" else title)
        for n in fast_first(names):
            reuse = side == "orig" and n in state.maps and state.maps[n].target == ctx.target
            view.maps[n] = e = state.maps[n] if reuse else run(ctx, n, report)
            view.regions[n] = face_regions(e.attribution, state.landmarks, state.box)
            yield {f"wi:{side}:{n}": _panel_image(view, e, lm.spec.labels)}
    yield {"stage": "done"}


LIVE_EVERY_S = 0.1
"""The browser's webcam sends a frame this often, and only once the answer to the last one is back (Gradio's
webcam does not send while its event is pending), so frames do not pile up behind a slow server."""
LIVE_STALE_S = 0.01
"""A frame that reaches the handler less than this after the last answer was queued while that one was processed
(a client that does not wait for answers): it is skipped. Measured with the page's webcam (Chromium, 30 frames of
the live browser test): fresh frames arrive 13-152 ms after the last answer (median 61 ms); the half interval
(50 ms) used before skipped 14 of those 30 fresh frames."""
LIVE_TIME_LIMIT_S = 120
"""One visitor's live stream is stopped after this many seconds of processing, so nobody holds the queue."""
LIVE_CONCURRENCY = 2
"""Live streams processed at once."""
LIVE_HELP = (
    "**Live**: press record on the webcam. Faces are searched for (at 256 px) on every second frame and keep "
    "their boxes on the frame between; every frame, every face is classified and its Grad-CAM drawn (Grad-CAM "
    "only, from the same batch: one forward pass for all faces, on ONNX Runtime on a CPU once the model is "
    "exported: the status line says which), with the frames per second. **Labels are "
    "averaged over "
    "each face's last 5 frames**, so they do not flicker on one bad frame; faces are followed by their boxes' "
    "overlap. The webcam sends the next frame only once the last answer is back, so the picture never lags behind. "
    "**Freeze** sends the last frame to the full explanation (the Maps tab). A stream stops after "
    f"{LIVE_TIME_LIMIT_S} s of processing; press record again to go on."
)


def live_frame(frame: Any, model_name: str, session: LiveSession | None) -> tuple[Any, LiveSession | None, str]:
    """One streamed webcam frame: the drawn frame, the visitor's session and a status line.

    A frame that reaches the handler right after the last one was finished (:data:`LIVE_STALE_S`) was queued
    while that one was processed: it is skipped (the last drawn frame stays), so a client that sends without
    waiting for answers does not make the server fall behind the camera."""
    if frame is None:
        return gr.skip(), session, ""
    session = session or LiveSession()
    if session.last_done is not None and time.perf_counter() - session.last_done < LIVE_STALE_S:
        # sent while the last frame was being processed (it reached us at once after it): stale, skip it
        session.skipped += 1
        return gr.skip(), session, gr.skip()
    result = process_frame(frame, get_model(model_name), session)
    session.last_frame = np.asarray(frame)[..., :3].copy()
    session.last_done = time.perf_counter()
    s = result.seconds
    split = ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in s.items() if k != "total")
    faces = "; ".join(f"face {i}: {DISPLAY_NAMES.get(n, n)} {100 * p:.0f}%" for i, n, p in result.labels) or "no face"
    runtime = "ONNX Runtime" if result.runtime == "onnxruntime" else "PyTorch"
    info = (
        f"**{session.fps:.1f} frames/s**, {1000 * s['total']:.0f} ms a frame ({split}; classifier on {runtime}); "
        f"{session.skipped} stale frame(s) skipped so far. {faces}."
    )
    return result.image, session, info


def freeze_frame(session: LiveSession | None) -> str:
    """The last live frame as a photo for the full explanation."""
    if session is None or session.last_frame is None:
        raise gr.Error("Start the live view first (press record on the webcam), then Freeze.")
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / f"frame-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.png"
    Image.fromarray(session.last_frame).save(path)
    return str(path)


def whole_at_the_end(stream: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``stream``'s updates as they come, but the one with ``stage == "done"`` carries every slot's last value:
    an API client, which keeps only the last update, gets the whole result."""
    everything: dict[str, Any] = {}
    for upd in stream:
        everything.update(upd)
        yield everything if upd.get("stage") == "done" else upd


def layers_for(model_name: str) -> tuple[Any, str]:
    spec = get_spec(model_name)
    return gr.update(choices=list(spec.cam_layers), value=None), model_status(model_name)


def build_demo() -> gr.Blocks:
    """The page; nothing is served until ``launch()``."""
    spec = get_spec(DEFAULT_MODEL)
    with gr.Blocks(
        title="maskxai: explainable face-mask classifier",
        delete_cache=(min(60, CACHE_MAX_AGE_S), CACHE_MAX_AGE_S),  # checked every minute; the cache stays bounded
        fill_width=True,  # the whole window: two 500 px map panels side by side on a 1500 px page
    ) as demo:
        gr.Markdown(
            "# maskxai: is the mask worn correctly?\n"
            "Pick a classifier, upload a photo or take a webcam snapshot, and see the prediction for each face "
            "with its explanations side by side; the tabs measure the maps, compare the models, redraw the mask "
            "and run live on the webcam."
        )
        with gr.Row():
            with gr.Column(scale=1):
                model = gr.Dropdown(
                    [(get_spec(n).title, n) for n in list_models()], value=DEFAULT_MODEL, label="Classifier"
                )
                image = PhotoInput(
                    sources=["upload", "webcam", "clipboard"],
                    type="filepath",
                    image_mode=None,
                    label="Photo",
                    elem_id="photo",
                    webcam_options=gr.WebcamOptions(mirror=True),
                    height=320,
                )
                with gr.Row():
                    steps = gr.Dropdown(
                        STEP_CHOICES,
                        value="auto",
                        label="IG steps",
                        allow_custom_value=True,
                        info="auto: until the sums add up (delta < 5 %)",
                    )
                    baseline = gr.Dropdown(list(BASELINES), value="black", label="IG baseline")
                face = gr.Dropdown(
                    [],
                    value=None,
                    label="Face to explain (default: the largest; listed after Explain)",
                    allow_custom_value=True,
                )
                whole = gr.Checkbox(False, label="Treat the whole image as one face (skip face detection)")
                target = gr.Dropdown(
                    [("Predicted class", "predicted")] + [(DISPLAY_NAMES[k], k) for k in LABELS],
                    value="predicted",
                    label="Explain the class",
                    info="another class: why not that one?",
                )
                methods = gr.CheckboxGroup(
                    [(m.title, m.name) for m in METHODS.values()], value=default_methods(), label="Maps to show"
                )
                with gr.Accordion("More settings", open=False):
                    layer = gr.Dropdown(  # any model's layers through the API: explain_stream checks them
                        list(spec.cam_layers),
                        value=None,  # the model's default (its first layer), for the page and API clients alike
                        allow_custom_value=True,
                        label="CAM layer (Grad-CAM, Grad-CAM++, LayerCAM; empty: the model's default)",
                    )
                    opacity = NumberSlider(0.1, 1.0, value=0.6, step=0.05, label="Overlay opacity")
                    min_conf = NumberSlider(0.5, 0.99, value=0.9, step=0.01, label="Face detection confidence")
                    max_faces = NumberSlider(1, 50, value=20, step=1, label="Maximum faces")
                    samples = NumberSlider(1, 64, value=16, step=1, label="SmoothGrad samples")
                    noise = NumberSlider(0.0, 0.5, value=0.15, step=0.01, label="SmoothGrad noise (share of 0..1)")
                    patch = NumberSlider(4, 48, value=16, step=2, label="Occlusion patch (px)")
                    faith_patch = NumberSlider(4, 32, value=8, step=2, label="Faithfulness patch (px)")
                    faith_fill = gr.Radio(list(FILLS), value="grey", label="Faithfulness fill (removed patches)")
                with gr.Row():
                    button = gr.Button("Explain", variant="primary", scale=3)
                    explain_stop = gr.Button("Stop explaining", variant="stop", scale=1, min_width=120)
                if EXAMPLES:
                    gr.Examples(EXAMPLES, inputs=[image], label="Examples (made by maskxai's mask renderer)")
            with gr.Column(scale=3):  # 3:1 gives each of two map panels 500+ px on a 1500 px page
                status = gr.Markdown(model_status(DEFAULT_MODEL))
                with gr.Row():
                    with gr.Column():
                        faces_img = gr.Image(label="Faces found", format="png", interactive=False, height=320)
                        faces_legend = gr.HTML("", elem_id="faces-legend")  # readable at any width
                    label = gr.Label(num_top_classes=3, label="Prediction for the chosen face")
                slots: dict[str, Any] = {
                    "faces_page_img": faces_img,
                    "faces_legend": faces_legend,
                    "label": label,
                    "status": status,
                }
                with gr.Tabs():
                    with gr.Tab("Maps", id="maps", elem_id="maps"):
                        with gr.Row(equal_height=False):  # panels wrap: two a row on a wide page, one on a narrow
                            for m in METHODS.values():
                                with gr.Column(min_width=MIN_PANEL_PX, visible=m.default) as col:
                                    slots[f"panel:{m.name}"] = gr.Image(
                                        label=m.title,
                                        format="png",
                                        interactive=False,
                                        show_label=False,
                                        buttons=["download", "fullscreen"],
                                        elem_classes=["map-panel"],
                                    )
                                slots[f"show:{m.name}"] = col
                        slots["on_photo"] = gr.Image(
                            label="The first shown map on the whole photo", format="png", interactive=False, height=320
                        )
                        with gr.Row():
                            slots["report_html"] = gr.DownloadButton(
                                "Download the report (HTML: photo, prediction, every map, parameters, scores)",
                                interactive=False,
                            )
                            slots["report_png"] = gr.DownloadButton("Download the maps (PNG)", interactive=False)
                    with gr.Tab("Faithfulness", id="faithfulness", elem_id="faithfulness"):
                        gr.Markdown(FAITH_HELP)
                        slots["faith_plot"] = gr.Image(
                            label="Deletion and insertion curves", format="png", interactive=False, show_label=False
                        )
                        slots["faith_table"] = gr.Dataframe(
                            headers=FAITH_COLUMNS, label="Maps ranked for this face", interactive=False, wrap=True
                        )
                    with gr.Tab("Sanity check", id="sanity", elem_id="sanity"):
                        gr.Markdown(SANITY_HELP)
                        with gr.Row():
                            sanity_button = gr.Button("Run the sanity check on this face", variant="primary")
                            sanity_stop = gr.Button("Stop", variant="stop")
                        sanity_slots = {
                            "sanity_text": gr.Markdown(),
                            "sanity_plot": gr.Image(
                                label="Similarity to the trained map", format="png", interactive=False, show_label=False
                            ),
                            "sanity_strip": gr.Image(
                                label="Maps as the model is randomised",
                                format="png",
                                interactive=False,
                                show_label=False,
                            ),
                        }
                        with gr.Accordion("Sanity check records (as the API returns them)", open=False):
                            sanity_slots["sanity_json"] = gr.JSON(label="Spearman and SSIM per randomised block")
                    with gr.Tab("Compare", id="compare", elem_id="compare"):
                        gr.Markdown("Every classifier on the explained face, with the chosen maps and class.")
                        with gr.Row():
                            compare_button = gr.Button("Compare the models on this face", variant="primary")
                            compare_stop = gr.Button("Stop comparing", variant="stop")
                        compare_slots: dict[str, Any] = {}
                        with gr.Row(equal_height=False):
                            for n in list_models():
                                with gr.Column(min_width=MIN_PANEL_PX):
                                    compare_slots[f"cmp_label:{n}"] = gr.Label(
                                        num_top_classes=3, label=get_spec(n).title
                                    )
                                    for m in METHODS.values():
                                        compare_slots[f"cmp:{n}:{m.name}"] = img = gr.Image(
                                            label=f"{get_spec(n).title}: {m.title}",
                                            format="png",
                                            interactive=False,
                                            show_label=False,
                                            visible=m.default,
                                        )
                                        compare_slots[f"cmp_show:{n}:{m.name}"] = img
                    with gr.Tab("What if", id="whatif", elem_id="whatif"):
                        gr.Markdown(WHATIF_HELP)
                        with gr.Row():
                            whatif_choice = gr.Radio(
                                [(title, key) for key, (title, _cls) in WHATIF.items()],
                                value="below_nose",
                                label="Redraw the face with",
                                scale=3,
                            )
                            with gr.Column(scale=1, min_width=200):
                                whatif_button = gr.Button("Redraw the face and explain", variant="primary")
                                whatif_stop = gr.Button("Stop redrawing", variant="stop")
                        whatif_slots: dict[str, Any] = {"wi_text": gr.Markdown()}
                        with gr.Row(equal_height=False):
                            for side, side_title in (("orig", "As it is"), ("new", "Redrawn")):
                                with gr.Column(min_width=MIN_PANEL_PX):
                                    whatif_slots[f"wi_label:{side}"] = gr.Label(num_top_classes=3, label=side_title)
                                    for m in METHODS.values():
                                        whatif_slots[f"wi:{side}:{m.name}"] = img = gr.Image(
                                            label=f"{side_title}: {m.title}",
                                            format="png",
                                            interactive=False,
                                            show_label=False,
                                            visible=m.default,
                                        )
                                        whatif_slots[f"wi_show:{side}:{m.name}"] = img
                    with gr.Tab("Live", id="live", elem_id="live"):
                        gr.Markdown(LIVE_HELP)
                        with gr.Row(equal_height=False):
                            live_in = gr.Image(
                                sources=["webcam"],
                                streaming=True,
                                label="Webcam (press record to start)",
                                webcam_options=gr.WebcamOptions(mirror=True),
                                type="numpy",
                            )
                            live_out = gr.Image(label="Live: faces, labels and Grad-CAM", format="jpeg")
                        with gr.Row():
                            live_info = gr.Markdown()
                            freeze = gr.Button("Freeze: explain this frame in full", variant="secondary")
                        live_state = gr.State(None, time_to_live=LIVE_TIME_LIMIT_S * 5)  # one frame a visitor
                    with gr.Tab("API", id="api", elem_id="api"):
                        slots["methods_json"] = gr.JSON(label="One record per map, by method name")
                        slots["faces_json"] = gr.JSON(label="Per-face results")
                gr.Markdown(how_to_read())
        slots["face"] = face
        slots["state"] = state = gr.State(None)
        outputs = list(dict.fromkeys(slots.values()))
        page_inputs = [
            model,
            image,
            face,
            whole,
            target,
            methods,
            steps,
            baseline,
            layer,
            opacity,
            min_conf,
            max_faces,
            samples,
            noise,
            patch,
            faith_patch,
            faith_fill,
        ]

        def explain_face(
            model_name: str,
            image: str | None,
            face_choice: str | None = None,
            whole_image: bool = False,
            target: str | None = "predicted",
            methods: list[str] | None = None,
            steps: str | int = "auto",
            baseline: str = "black",
            layer: str | None = None,
            opacity: float = 0.6,
            min_confidence: float = 0.9,
            max_faces: float = 20,
            samples: float = 16,
            noise: float = 0.15,
            patch: float = 16,
            faith_patch: float = 8,
            faith_fill: str = "grey",
            progress: gr.Progress = gr.Progress(),
        ) -> Iterator[dict[Any, Any]]:
            """Explain the chosen face with the chosen maps (default: Grad-CAM, gradients, IG); outputs by
            component. Through the API every parameter but the model and the image may be left out."""
            args = (
                model_name,
                image,
                face_choice,
                whole_image,
                target,
                methods,
                steps,
                baseline,
                layer,
                opacity,
                min_confidence,
                max_faces,
                samples,
                noise,
                patch,
                faith_patch,
                faith_fill,
            )
            for upd in whole_at_the_end(explain_stream(*args, progress=progress)):
                yield {slots[k]: v for k, v in upd.items() if k in slots}

        def rank_shown(state: FaceState | None, methods: list[str]) -> dict[Any, Any]:
            return {slots[k]: v for k, v in rerank(state, methods).items()}

        def face_tool(
            stream_of: Callable[..., Iterator[dict[str, Any]]], shown: dict[str, Any], doc: str
        ) -> Callable[..., Iterator[dict[Any, Any]]]:
            """A handler that runs ``stream_of`` on the explained face (through the API, with no state: on the face its
            inputs name) and shows its updates in ``shown``. One signature for both tools, which the API page lists."""

            def handler(
                state: FaceState | None,
                model_name: str,
                image: str | None,
                face_choice: str | None = None,
                whole_image: bool = False,
                target: str | None = "predicted",
                methods: list[str] | None = None,
                steps: str | int = "auto",
                baseline: str = "black",
                layer: str | None = None,
                opacity: float = 0.6,
                min_confidence: float = 0.9,
                max_faces: float = 20,
                samples: float = 16,
                noise: float = 0.15,
                patch: float = 16,
                progress: gr.Progress = gr.Progress(),
            ) -> Iterator[dict[Any, Any]]:
                request = (
                    model_name,
                    image,
                    face_choice,
                    whole_image,
                    target,
                    methods,
                    steps,
                    baseline,
                    layer,
                    opacity,
                    min_confidence,
                    max_faces,
                    samples,
                    noise,
                    patch,
                )
                stream = stream_of(state, methods or default_methods(), *request, progress=progress)
                for upd in whole_at_the_end(stream):
                    yield {shown[k]: v for k, v in upd.items() if k in shown}

            handler.__doc__ = doc
            return handler

        check_face = face_tool(sanity_stream, sanity_slots, "The sanity check on the explained face.")
        check_face.__name__ = "check_face"
        compare_face = face_tool(compare_stream, compare_slots, "Every model on the explained face.")
        compare_face.__name__ = "compare_face"

        # releasing_memory: freed heap pages go back to the system after each request (see maskxai.memory)
        explain_event = button.click(
            gpu_call(releasing_memory(explain_face)), page_inputs, outputs, api_name="explain_face"
        )
        # Stop: the stream ends at the next map (the maps already shown stay); cancels a long SmoothGrad or occlusion
        explain_stop.click(None, None, None, cancels=[explain_event])
        methods.change(
            rank_shown,
            [state, methods],
            [slots[k] for k in slots if k.startswith("show:")] + [slots["faith_plot"], slots["faith_table"]],
            api_visibility="private",
        )
        sanity_event = sanity_button.click(
            gpu_call(releasing_memory(check_face)),
            [state, *page_inputs[:15]],
            list(sanity_slots.values()),
            api_name="sanity_check",
        )
        sanity_stop.click(None, None, None, cancels=[sanity_event])
        compare_event = compare_button.click(
            gpu_call(releasing_memory(compare_face)),
            [state, *page_inputs[:15]],
            list(dict.fromkeys(compare_slots.values())),
            api_name="compare_models",
        )
        compare_stop.click(None, None, None, cancels=[compare_event])

        def whatif_face(
            state: FaceState | None,
            placement: str,
            model_name: str,
            image: str | None,
            face_choice: str | None = None,
            whole_image: bool = False,
            target: str | None = "predicted",
            methods: list[str] | None = None,
            steps: str | int = "auto",
            baseline: str = "black",
            layer: str | None = None,
            opacity: float = 0.6,
            min_confidence: float = 0.9,
            max_faces: float = 20,
            samples: float = 16,
            noise: float = 0.15,
            patch: float = 16,
            progress: gr.Progress = gr.Progress(),
        ) -> Iterator[dict[Any, Any]]:
            """The explained face redrawn with a mask at ``placement`` (correct, below_nose, chin, nose_mouth,
            hanging) or a lookalike (beard, hand); through the API (no state), the face its inputs name."""
            request = (
                model_name,
                image,
                face_choice,
                whole_image,
                target,
                methods,
                steps,
                baseline,
                layer,
                opacity,
                min_confidence,
                max_faces,
                samples,
                noise,
                patch,
            )
            stream = whatif_stream(state, methods or default_methods(), placement, *request, progress=progress)
            for upd in whole_at_the_end(stream):
                yield {whatif_slots[k]: v for k, v in upd.items() if k in whatif_slots}

        whatif_event = whatif_button.click(
            gpu_call(releasing_memory(whatif_face)),
            [state, whatif_choice, *page_inputs[:15]],
            list(dict.fromkeys(whatif_slots.values())),
            api_name="what_if",
        )
        whatif_stop.click(None, None, None, cancels=[whatif_event])
        live_in.stream(
            live_frame,
            [live_in, model, live_state],
            [live_out, live_state, live_info],
            stream_every=LIVE_EVERY_S,
            time_limit=LIVE_TIME_LIMIT_S,
            concurrency_limit=LIVE_CONCURRENCY,
            api_visibility="private",
        )
        freeze.click(freeze_frame, [live_state], [image]).then(
            gpu_call(releasing_memory(explain_face)), page_inputs, outputs
        )
        # The first API, kept for today's clients: 10 inputs, 9 outputs (Grad-CAM, gradients, IG), no page button.
        legacy = gr.Button("Explain (API v1)", visible=False)
        legacy_inputs = [model, image, steps, baseline, layer, face, whole, opacity, min_conf, max_faces]
        legacy_outputs = [faces_img if k == "faces_img" else slots[k] for k in LEGACY_SLOTS]  # photo with its legend
        legacy.click(gpu_call(releasing_memory(run_explain)), legacy_inputs, legacy_outputs, api_name="explain")
        model.change(layers_for, [model], [layer, status], api_name="model_info")
        image.change(lambda: gr.update(choices=[], value=None), None, [face], api_name="reset_face")
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Serve the maskxai demo.")
    env = os.environ.get  # Spaces sets GRADIO_SERVER_NAME=0.0.0.0: honour it
    p.add_argument(
        "--host",
        default=env("MASKXAI_HOST", env("GRADIO_SERVER_NAME", "127.0.0.1")),
        help="interface to serve on (0.0.0.0 for all); default 127.0.0.1",
    )
    p.add_argument("--port", type=int, default=int(env("MASKXAI_PORT", env("GRADIO_SERVER_PORT", "7860"))))
    p.add_argument(
        "--share",
        action="store_true",
        default=os.environ.get("MASKXAI_SHARE") == "1",
        help="also make a public gradio.live link (needs the internet)",
    )
    p.add_argument(
        "--queue-size",
        type=int,
        default=int(env("MASKXAI_QUEUE_SIZE", str(QUEUE_SIZE))),
        help=f"requests that may wait; more are told the app is busy (default {QUEUE_SIZE})",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=int(env("MASKXAI_CONCURRENCY", str(CONCURRENCY))),
        help=f"explanations computed at once, sharing the CPU cores (default {CONCURRENCY})",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    t0 = time.perf_counter()
    tune_allocator()  # before the models and the first tensors: see maskxai.memory
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, cores // max(1, args.concurrency)))  # concurrent requests share the cores
    for name in list_models():  # load and warm up once, before the first visitor
        lm = get_model(name)
        blank = Image.new("RGB", (lm.spec.input_size,) * 2, (128, 128, 128))
        find_faces(blank, lm, whole_image=True)
        next(explain(lm, blank))  # first Grad-CAM pass: allocator and oneDNN kernels ready
    # live mode's ONNX Runtime copy of the model selected on load: made in the background (a child process the
    # first time, then read from the disk cache; see maskxai.onnxcam); the other model's on its first live frame
    cam_runner(get_model(DEFAULT_MODEL))
    demo = build_demo()
    demo.queue(max_size=max(1, args.queue_size), default_concurrency_limit=max(1, args.concurrency))
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        prevent_thread_lock=True,
        max_file_size=MAX_UPLOAD,
    )
    print(
        f"maskxai ready in {time.perf_counter() - t0:.1f} s at {demo.local_url} (queue of {args.queue_size}, "
        f"{args.concurrency} explanation(s) at once, {torch.get_num_threads()} threads each)",
        flush=True,
    )
    if args.share and not demo.share_url:
        print(
            "maskxai: could not create a public share link (it needs the internet and gradio's share server). "
            f"The app keeps serving locally at {demo.local_url}",
            flush=True,
        )
    demo.block_thread()


if __name__ == "__main__":
    main()
