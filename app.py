"""maskxai: is the mask worn correctly, and what did the model look at?

Run ``python app.py`` (``--help`` for host, port and share). The page wiring
is here; everything it computes lives in the ``maskxai`` package.
"""

from __future__ import annotations

import argparse
import base64
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import torch
from PIL import Image, UnidentifiedImageError

from maskxai.explain import BASELINES, MAX_STEPS, MIN_STEPS
from maskxai.faces import DetectSettings
from maskxai.images import ImageError, load_image, open_image
from maskxai.memory import releasing_memory, tune_allocator
from maskxai.pipeline import FaceResult, explain, face_crop, find_faces, get_model
from maskxai.registry import DISPLAY_NAMES, get_spec, list_models
from maskxai.render import draw_faces, figure, paste_map

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
DEFAULT_STEPS = 50

HOW_TO_READ = """
**How to read these maps** (all explain the class the model predicted for the chosen face)

- **Grad-CAM** (Selvaraju et al., 2017): where, in the last convolutional layers, the evidence for the class lies.
  It is coarse (a 5x5 grid for ResNet50's `layer4`, 8x8 for InceptionResnetV1's `mixed_6a`) and **relative**:
  1 is the strongest region *in this image*, so two images cannot be compared by colour.
- **Gradients** (Simonyan et al., 2013): how the class score changes if one pixel gets brighter.
  **Red** pixels push towards the class, **blue** against it. Noisy by nature.
- **Integrated Gradients** (Sundararajan et al., 2017): adds up gradients along a path from a *baseline* image
  (black, white, blurred, noise or mean) to the photo. Red for, blue against; the values add up to the score
  difference between photo and baseline. The *convergence delta* says how far the sum is off: if it is large,
  raise the steps.
- A model that judges masks well should light up the **nose, mouth and chin**: a mask below the nose is only
  visible there. Signed maps are scaled by their 99th percentile of |value|; values beyond are clipped.
"""


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
    steps: float,
    baseline: str,
    layer: str | None,
    face_choice: str | None,
    whole_image: bool,
    opacity: float,
    min_confidence: float = 0.9,
    max_faces: float = 20,
    progress: gr.Progress = gr.Progress(),
) -> Iterator[tuple[Any, ...]]:
    """Detect faces, classify them, and explain the chosen one (streamed: Grad-CAM first, IG last)."""
    try:
        spec = get_spec(model_name)
    except ValueError as exc:
        raise gr.Error(str(exc)) from exc
    if steps is None or not float(steps).is_integer() or not MIN_STEPS <= int(steps) <= MAX_STEPS:
        raise gr.Error(f"IG steps must be a whole number from {MIN_STEPS} to {MAX_STEPS} (got {steps}).")
    if baseline not in BASELINES:
        raise gr.Error(f"Unknown IG baseline {baseline!r}. Choose one of: {', '.join(BASELINES)}.")
    if layer and layer not in spec.cam_layers:
        raise gr.Error(
            f"{spec.title} has no Grad-CAM layer {layer!r}. Choose one of: {', '.join(spec.cam_layers)} "
            "(or leave it empty for the default)."
        )
    try:
        photo = load_image(image)
    except ImageError as exc:
        raise gr.Error(str(exc)) from exc
    lm = get_model(model_name)
    t0 = time.perf_counter()
    settings = DetectSettings(min_confidence=float(min_confidence), max_faces=max(1, int(max_faces)))
    faces = find_faces(photo, lm, settings, whole_image=bool(whole_image))
    boxes = [f.box for f in faces]
    annotated = draw_faces(photo, boxes, [f.tag() for f in faces], [f.label or "too_small" for f in faces])
    records = [f.to_dict() for f in faces]
    judged = [f for f in faces if not f.too_small]
    choices = _face_choices(faces)
    if not judged:
        msg = (
            "No face was found in this photo. Tick **Treat the whole image as one face** to classify it anyway."
            if not faces
            else "The faces in this photo are too small to judge (under 40 pixels). Use a closer photo."
        )
        yield (
            annotated,
            None,
            None,
            None,
            None,
            None,
            records,
            f"{model_status(model_name)}\n\n{msg}",
            gr.update(choices=[], value=None),
        )
        return
    chosen = choose_face(faces, face_choice)
    label = {DISPLAY_NAMES[k]: v for k, v in (chosen.probabilities or {}).items()}
    crop = face_crop(photo, chosen)
    opacity = float(opacity)
    status = [model_status(model_name), f"{len(faces)} face(s) found; explaining face {chosen.index}."]
    gen = explain(
        lm,
        crop,
        steps=int(steps),
        baseline=baseline,
        layer=layer or None,
        progress=lambda f, title: progress(f, desc=f"{title} ({int(steps)} steps)"),
    )
    cam = next(gen)
    grads = next(gen)
    cam_img = figure(
        crop, cam, opacity, f"Grad-CAM · {cam.seconds:.2f} s\nlayer {cam.layer} ({cam.grid_text} grid)"
    )
    grad_img = figure(crop, grads, opacity, f"Gradients · {grads.seconds:.2f} s\n(same pass as Grad-CAM)")
    on_photo = paste_map(photo, cam, chosen.crop, opacity)
    if cam.blank:
        status.append(blank_cam_message(cam.layer or "", spec.cam_layers))
    dropdown = gr.update(choices=choices, value=str(chosen.index))
    yield annotated, label, cam_img, grad_img, None, on_photo, records, "\n\n".join(status), dropdown
    progress(0, desc="Integrated Gradients")
    ig = next(gen)
    ig_img = figure(
        crop, ig, opacity, f"Integrated Gradients · {ig.seconds:.2f} s\n{ig.steps} steps, {baseline} baseline"
    )
    status.append(
        f"IG convergence delta {ig.delta:.3g} ({100 * (ig.relative_delta or 0):.1f}% of the score gap"
        f"{'; raise the steps' if (ig.relative_delta or 0) > 0.05 else ''}). Total {time.perf_counter() - t0:.1f} s."
    )
    yield annotated, label, cam_img, grad_img, ig_img, on_photo, records, "\n\n".join(status), dropdown


def layers_for(model_name: str) -> tuple[Any, str]:
    spec = get_spec(model_name)
    return gr.update(choices=list(spec.cam_layers), value=spec.cam_layers[0]), model_status(model_name)


def build_demo() -> gr.Blocks:
    """The page; nothing is served until ``launch()``."""
    spec = get_spec(DEFAULT_MODEL)
    with gr.Blocks(
        title="maskxai: explainable face-mask classifier",
        delete_cache=(min(60, CACHE_MAX_AGE_S), CACHE_MAX_AGE_S),  # checked every minute; the cache stays bounded
    ) as demo:
        gr.Markdown(
            "# maskxai: is the mask worn correctly?\n"
            "Pick a classifier, upload a photo or take a webcam snapshot, and see the prediction for each face "
            "with three explanations side by side."
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
                    webcam_options=gr.WebcamOptions(mirror=True),
                    height=320,
                )
                with gr.Row():
                    steps = NumberSlider(MIN_STEPS, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="IG steps")
                    baseline = gr.Dropdown(list(BASELINES), value="black", label="IG baseline")
                face = gr.Dropdown(
                    [],
                    value=None,
                    label="Face to explain (default: the largest; listed after Explain)",
                    allow_custom_value=True,
                )
                whole = gr.Checkbox(False, label="Treat the whole image as one face (skip face detection)")
                with gr.Accordion("More settings", open=False):
                    layer = gr.Dropdown(  # any model's layers through the API: run_explain checks them
                        list(spec.cam_layers), value=spec.cam_layers[0], label="Grad-CAM layer", allow_custom_value=True
                    )
                    opacity = NumberSlider(0.1, 1.0, value=0.6, step=0.05, label="Overlay opacity")
                    min_conf = NumberSlider(0.5, 0.99, value=0.9, step=0.01, label="Face detection confidence")
                    max_faces = NumberSlider(1, 50, value=20, step=1, label="Maximum faces")
                button = gr.Button("Explain", variant="primary")
                if EXAMPLES:
                    gr.Examples(EXAMPLES, inputs=[image], label="Examples (made by maskxai's mask renderer)")
            with gr.Column(scale=2):
                status = gr.Markdown(model_status(DEFAULT_MODEL))
                with gr.Row():
                    faces_img = gr.Image(label="Faces found", format="png", interactive=False, height=320)
                    label = gr.Label(num_top_classes=3, label="Prediction for the chosen face")
                with gr.Row():
                    cam = gr.Image(label="Grad-CAM", format="png", interactive=False, show_label=False)
                    grads = gr.Image(label="Gradients", format="png", interactive=False, show_label=False)
                    ig = gr.Image(label="Integrated Gradients", format="png", interactive=False, show_label=False)
                on_photo = gr.Image(label="Grad-CAM on the whole photo", format="png", interactive=False, height=320)
                with gr.Accordion("Per-face results (as the API returns them)", open=False):
                    faces_json = gr.JSON(label="Per-face results")
                gr.Markdown(HOW_TO_READ)
        inputs = [model, image, steps, baseline, layer, face, whole, opacity, min_conf, max_faces]
        outputs = [faces_img, label, cam, grads, ig, on_photo, faces_json, status, face]
        # releasing_memory: freed heap pages go back to the system after each request (see maskxai.memory)
        button.click(releasing_memory(run_explain), inputs, outputs, api_name="explain")
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
