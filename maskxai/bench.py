"""Benchmark the explanation panel: naive library use vs. the app's pipeline, in one run.

    python -m maskxai.bench [--repeats 5] [--json]

(a) naive: the model as a user would load it (fp32, parameters requiring
grad, default memory format), captum IntegratedGradients with default
batching (all steps in one batch), captum Saliency and pytorch-grad-cam's
GradCAM, each called on its own; (b) ours: :func:`maskxai.pipeline.explain`
(one shared pass for Grad-CAM and gradients, IG in cache-sized chunks,
BatchNorm folded into the convolutions, channels_last, frozen parameters). Medians over repeats after a warm-up
(other step counts: one run each, warm), on
the same face crops. ``ig_rel_error`` is the relative L2 error of our IG-50
map against an fp32, 512-step reference on the same inputs.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from .device import device
from .explain import PixelModel, integrated_gradients
from .pipeline import explain, get_model
from .preprocess import pixels
from .registry import list_models
from .weights import LoadedModel, load_model


def bench_faces(n: int) -> list[Image.Image]:
    """Face crops made from package portraits (no dataset needed)."""
    from .examples import package_faces
    from .faces import crop_face, detect_faces

    out = []
    for img in package_faces().values():
        f = detect_faces(img)
        out.append(crop_face(img, f[0].box) if f else img)
    return [out[i % len(out)] for i in range(n)]


def device_name() -> str:
    """Where the models run, for people: ``cpu``, or ``cuda (NVIDIA H200)``."""
    dev = device()
    return f"{dev} ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else str(dev)


def _sync() -> None:
    """Wait for the GPU's queued work (timings on CUDA count it), a no-op on the CPU."""
    if torch.cuda.is_available() and device().type == "cuda":
        torch.cuda.synchronize()


def _median_time(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> float:
    if warmup:
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def naive_model(name: str) -> PixelModel:
    """The weights as loaded, used as the libraries' docs show: parameters requiring grad, default layout."""
    lm = load_model(name, allow_untrained=True)
    for p in lm.model.parameters():
        p.requires_grad_(True)
    return PixelModel(lm.model.to(device()).eval(), lm.spec)  # on the GPU where there is one, as the app


def naive_panel(pm: PixelModel, x: torch.Tensor, steps: int) -> dict[str, float]:
    from captum.attr import IntegratedGradients, Saliency
    from pytorch_grad_cam import GradCAM

    t = {}
    x = x.to(device())
    t0 = time.perf_counter()
    with GradCAM(pm, target_layers=[pm.spec.cam_layer(pm.model)]) as cam:
        cam(x, targets=None)
    _sync()
    t["gradcam"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    target = int(pm(x).argmax())
    Saliency(pm).attribute(x.clone().requires_grad_(True), target=target)
    _sync()
    t["gradients"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    IntegratedGradients(pm).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=steps)
    _sync()
    t["ig"] = time.perf_counter() - t0
    return t


def live_frames(n_faces: int, size: tuple[int, int] = (640, 480), face_px: int = 150) -> list[Image.Image]:
    """Webcam-like frames made from the examples: ``n_faces`` photos side by side (2x2 for four), each face about
    ``face_px`` wide (smaller where four must fit), drifting a few pixels from frame to frame (8 frames)."""
    from pathlib import Path

    # the portrait examples (the astronaut's face is too small in her photo to stand beside them at 640x480)
    examples = sorted((Path(__file__).resolve().parent.parent / "examples").glob("hopper_*.jpg"))
    cols = 1 if n_faces == 1 else 2
    rows = (n_faces + cols - 1) // cols
    cell = (size[0] // cols, size[1] // rows)
    side = min(round(face_px * 2.2), cell[0], cell[1])  # the examples' face is about half the photo
    photos = []
    for i in range(n_faces):
        ph = Image.open(examples[i % len(examples)]).convert("RGB")
        ph.thumbnail((side, side))
        photos.append(ph)
    frames = []
    for k in range(8):
        frame = Image.new("RGB", size, (60, 60, 60))
        for i, ph in enumerate(photos):
            x = (i % cols) * cell[0] + (cell[0] - ph.width) // 2 + k % 3
            y = (i // cols) * cell[1] + (cell[1] - ph.height) // 2
            frame.paste(ph, (x, y))
        frames.append(frame)
    return frames


def naive_live_frame(pm: PixelModel, mtcnn: Any, frame: Image.Image) -> int:
    """The same frame written naively: MTCNN on the full frame, and per face a crop, a forward pass for the
    class and pytorch-grad-cam's GradCAM (built per face, as its README shows), then the overlay pasted back."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.image import show_cam_on_image

    from .faces import crop_box, crop_face

    boxes, probs = mtcnn.detect(frame)
    out = frame.copy()
    n = 0
    for box, p in zip(boxes if boxes is not None else [], probs if probs is not None else []):
        if p < 0.9:
            continue
        b = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        crop = crop_face(frame, b)
        x = pixels(crop, pm.spec).to(device())
        target = int(pm(x).argmax())
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        with GradCAM(pm, target_layers=[pm.spec.cam_layer(pm.model)]) as cam:
            g = cam(x, targets=[ClassifierOutputTarget(target)])[0]
        rgb = np.asarray(crop.resize(g.shape[::-1]), dtype=np.float32) / 255
        vis = Image.fromarray(show_cam_on_image(rgb, g, use_rgb=True))
        x0, y0, x1, y1 = crop_box(b)
        out.paste(vis.resize((x1 - x0, y1 - y0)), (x0, y0))
        n += 1
    return n


def _live_run(clip: list[Image.Image], lm: LoadedModel, frames: int, use_onnx: bool) -> dict[str, Any]:
    """Frames per second of :func:`maskxai.live.process_frame` over ``frames`` frames of ``clip`` (after one
    warm-up frame), faces found, the runtime that classified and the mean ms per stage."""
    from .live import LiveSession, process_frame

    session = LiveSession()
    process_frame(clip[0], lm, session, use_onnx=use_onnx)  # warm-up
    splits: dict[str, list[float]] = {}
    found, runtimes = [], set()
    t0 = time.perf_counter()
    for k in range(frames):
        r = process_frame(clip[k % len(clip)], lm, session, use_onnx=use_onnx)
        found.append(len(r.labels))
        runtimes.add(r.runtime)
        for key, v in r.seconds.items():
            splits.setdefault(key, []).append(v)
    return {
        "fps": frames / (time.perf_counter() - t0),
        "faces_found": statistics.median(found),
        "runtime": "+".join(sorted(runtimes)),
        "ms": {k: 1000 * statistics.mean(v) for k, v in splits.items()},  # a mean: detection skips frames
    }


def live_bench(name: str, faces: tuple[int, ...] = (1, 4), frames: int = 16) -> dict[str, Any]:
    """Frames per second of live mode (:func:`maskxai.live.process_frame`: detection at 256 px on every second
    frame, one batch, Grad-CAM per face, drawing; the batch on ONNX Runtime where :mod:`maskxai.onnxcam` can run,
    waited for before timing) against :func:`naive_live_frame`, on frames made from the examples; and where the
    time goes (mean ms per stage a frame). ``torch_fps``: the same with the batch on PyTorch, in the same run.
    The server's transport (JPEG encoding, websocket) is not in these figures."""
    from facenet_pytorch import MTCNN

    from .faces import detector_device
    from .onnxcam import cam_runner

    lm = get_model(name)
    cam_runner(lm, wait=True)  # the export (or the cached file) before any timing
    npm = naive_model(name)
    mtcnn = MTCNN(keep_all=True, post_process=False, device=detector_device())  # where the app's runs
    out: dict[str, Any] = {}
    for n in faces:
        clip = live_frames(n)
        ours = _live_run(clip, lm, frames, use_onnx=True)
        on_torch = _live_run(clip, lm, frames, use_onnx=False)
        naive_live_frame(npm, mtcnn, clip[0])  # warm-up
        t0 = time.perf_counter()
        naive_found = [naive_live_frame(npm, mtcnn, clip[k % len(clip)]) for k in range(frames)]
        naive = frames / (time.perf_counter() - t0)
        out[f"faces{n}"] = {
            **ours,
            "naive_fps": naive,
            "speedup": ours["fps"] / naive,
            "naive_faces_found": statistics.median(naive_found),
            "torch_fps": on_torch["fps"],
            "torch_ms": on_torch["ms"],
        }
    return out


def our_panel(name: str, face: Image.Image, steps: int) -> dict[str, float]:
    lm = get_model(name)
    t0 = time.perf_counter()
    gen = explain(lm, face, steps=steps)
    next(gen)
    t = {"first_output": time.perf_counter() - t0}
    next(gen)
    t["gradcam+gradients"] = time.perf_counter() - t0
    next(gen)
    t["panel"] = time.perf_counter() - t0
    return t


def ig_errors(
    name: str, faces: list[Image.Image], steps: int = 50, ref_steps: int = 512, bf16: bool = True
) -> dict[str, float]:
    """Median relative L2 error of the app's IG map against the fp32 ``ref_steps``-step reference.

    With ``bf16``, also times and checks the same IG under bf16 autocast (``bf16_*``), the option the app
    leaves off (slow on a CPU without native bf16, where it is emulated).
    """
    lm = get_model(name)
    pm = PixelModel(lm.model, lm.spec)
    errs: dict[str, list[float]] = {"fp32": [], "bf16": []}
    bf16_s = []
    if bf16:
        warm = pixels(faces[0], lm.spec).to(device()).contiguous(memory_format=torch.channels_last)
        integrated_gradients(pm, warm, steps=18, bf16=True)  # bf16 kernels are built on first use: not timed
    for face in faces:
        ours = list(explain(lm, face, steps=steps))[-1]
        x = pixels(face, lm.spec).to(device())
        ref = _ig_reference(pm, x, ours.target, ref_steps)
        runs = [("fp32", ours)]
        if bf16:
            b = integrated_gradients(pm, x.contiguous(memory_format=torch.channels_last), ours.target, steps=steps,
                                     bf16=True)  # fmt: skip
            bf16_s.append(b.seconds)
            runs.append(("bf16", b))
        for key, e in runs:
            errs[key].append(float(np.linalg.norm(e.attribution - ref) / np.linalg.norm(ref)))
    out = {"ig_rel_error": statistics.median(errs["fp32"])}
    if bf16:
        out.update(bf16_ig_rel_error=statistics.median(errs["bf16"]), bf16_ig_s=statistics.median(bf16_s))
    return out


def _ig_reference(pm: PixelModel, x: torch.Tensor, target: int, steps: int = 512) -> np.ndarray:
    from captum.attr import IntegratedGradients

    attr = IntegratedGradients(pm).attribute(
        x, baselines=torch.zeros_like(x), target=target, n_steps=steps, internal_batch_size=64
    )
    return attr.detach().sum(1)[0].cpu().numpy()


def ig_step_gflop(pm: PixelModel, x: torch.Tensor) -> float:
    """GFLOP of one IG step: a forward pass and the backward pass to the input (no parameter gradients)."""
    from torch.utils.flop_counter import FlopCounterMode

    frozen = [p for p in pm.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        xi = x.detach().clone().requires_grad_(True)
        with FlopCounterMode(display=False) as fc:
            out = pm(xi)
            out[0, 0].backward()  # only the input needs a gradient: the parameters are frozen here
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return fc.get_total_flops() / 1e9


def gemm_gflops(dtype: torch.dtype = torch.float32, n: int = 2048, seconds: float = 1.0) -> float:
    """The device's rate on a large matrix product (best of repeated runs): a practical ceiling for convolutions."""
    dev = device()
    a, b = torch.randn(n, n).to(dev, dtype), torch.randn(n, n).to(dev, dtype)
    a @ b  # noqa: B018  (warm-up)
    best, t_end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        a @ b  # noqa: B018
        _sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def roofline(name: str, steps: int, naive_panel_s: float, gemm: dict[str, float]) -> dict[str, float]:
    """How close IG is to the device's compute ceiling, and the best panel speed-up that ceiling allows.

    ``panel_s_bound`` is IG's FLOPs alone at the GEMM rate (Grad-CAM and gradients are left out, so it is
    a lower bound on the panel time); ``speedup_bound`` is ``naive_panel_s`` over it.
    """
    lm = get_model(name)
    gflop = steps * ig_step_gflop(PixelModel(lm.model, lm.spec), pixels(bench_faces(1)[0], lm.spec).to(device()))
    out = {"ig_gflop": gflop, **{f"gemm_gflops_{k}": v for k, v in gemm.items()}}
    for key in gemm:
        out[f"panel_s_bound_{key}"] = gflop / gemm[key]
        out[f"speedup_bound_{key}"] = naive_panel_s / out[f"panel_s_bound_{key}"]
    return out


def app_process(memory_steps: int = 256) -> dict[str, float]:
    """The real app (``python app.py``) asked through ``gradio_client``, as a user's client would.

    Returns seconds from launch until it serves (models loaded and warm) and until the first ``/explain``
    answer, and the app process's peak resident memory (``VmHWM``) after IG at ``memory_steps`` on every model.
    """
    import tempfile

    from gradio_client import Client, handle_file

    from ._appserver import AppServer

    with tempfile.TemporaryDirectory() as tmp:
        photo = f"{tmp}/face.png"
        bench_faces(1)[0].save(photo)

        def ask(client: Client, model: str, steps: int) -> None:
            client.predict(model, handle_file(photo), steps, "black", None, None, False, 0.6, 0.9, 20,
                           api_name="/explain")  # fmt: skip

        t0 = time.perf_counter()
        with AppServer() as app:
            ready = time.perf_counter() - t0
            client = Client(app.url, verbose=False)
            ask(client, list_models()[0], 50)
            first = time.perf_counter() - t0
            for name in list_models():
                ask(client, name, memory_steps)
            peak = app.peak_memory_gb()
    return {"models_loaded_s": ready, "start_to_first_answer_s": first, "peak_rss_gb": peak}


def run(
    models: list[str],
    repeats: int,
    n_faces: int,
    steps_list: list[int],
    memory_steps: int = 256,
    ref_steps: int = 512,
    bf16: bool = True,
    app: bool = True,
    live: bool = True,
    live_frames_n: int = 16,
    panel: bool = True,
) -> dict[str, Any]:
    faces = bench_faces(n_faces)
    out: dict[str, Any] = {"device": device_name()}
    gemm = {"fp32": gemm_gflops(torch.float32)}
    if bf16:
        gemm["bf16"] = gemm_gflops(torch.bfloat16)
    for name in models if panel else []:
        lm = get_model(name)
        npm = naive_model(name)
        res: dict[str, Any] = {"input_size": lm.spec.input_size, "trained": lm.trained}
        for i, steps in enumerate(steps_list):
            # The first step count sets panel_s: warm-up and all repeats. The others reuse the warm state
            # and run once, which keeps the whole bench within a few minutes.
            reps, warm = (repeats, True) if i == 0 else (1, False)
            naive_t, ours_t = [], []
            for face in faces:
                x = pixels(face, lm.spec)
                naive_t.append(_median_time(functools.partial(naive_panel, npm, x, steps), reps, warm))
                ours_t.append(_median_time(functools.partial(our_panel, name, face, steps), reps, warm))
            res[f"naive_panel_s_ig{steps}"] = statistics.median(naive_t)
            res[f"panel_s_ig{steps}"] = statistics.median(ours_t)
        timed = [our_panel(name, f, steps_list[0]) for f in faces for _ in range(repeats)]
        res["first_output_s"] = statistics.median(t["first_output"] for t in timed)
        res["fp32_ig_s"] = statistics.median(t["panel"] - t["gradcam+gradients"] for t in timed)
        res["panel_s"] = res[f"panel_s_ig{steps_list[0]}"]
        res["naive_panel_s"] = res[f"naive_panel_s_ig{steps_list[0]}"]
        res["speedup"] = res["naive_panel_s"] / res["panel_s"]
        res.update(ig_errors(name, bench_faces(2), steps_list[0], ref_steps, bf16))
        res.update(roofline(name, steps_list[0], res["naive_panel_s"], gemm))
        res["ig_gflops_achieved"] = res["ig_gflop"] / res["fp32_ig_s"]
        out[name] = res
    if live:
        out["live"] = {name: live_bench(name, frames=live_frames_n) for name in models}
    if app:
        out["app"] = app_process(memory_steps)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list_models(), choices=list_models())
    p.add_argument("--repeats", type=int, default=3, help="timed repeats after one warm-up (first --steps value)")
    p.add_argument("--faces", type=int, default=1, help="face crops to time (the IG error always uses two)")
    p.add_argument("--steps", type=int, nargs="+", default=[50, 128], help="IG steps; the first sets panel_s")
    p.add_argument("--ref-steps", type=int, default=512, help="IG steps of the fp32 reference for ig_rel_error")
    p.add_argument("--memory-steps", type=int, default=256, help="IG steps for the peak-memory run")
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time IG under bf16 autocast (--no-bf16 skips it: emulated, so very slow, without native bf16)",
    )
    p.add_argument(
        "--app",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also start the real app and time its start, first answer and peak memory (--no-app skips it)",
    )
    p.add_argument(
        "--live", action=argparse.BooleanOptionalAction, default=True, help="time live mode against a naive loop"
    )
    p.add_argument("--live-frames", type=int, default=16, help="frames timed per live case")
    p.add_argument(
        "--panel",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time the explanation panel (IG) against the naive one (--no-panel: live mode and/or the app only)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    a = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, runs on {device_name()}")
    res = run(
        a.models,
        a.repeats,
        a.faces,
        a.steps,
        a.memory_steps,
        a.ref_steps,
        a.bf16,
        a.app,
        a.live,
        a.live_frames,
        a.panel,
    )
    for name, r in res.items():
        if name == "device":
            continue
        if name == "live":
            for model, cases in r.items():
                for case, c in cases.items():
                    split = ", ".join(f"{k} {v:.0f}" for k, v in c["ms"].items())
                    print(
                        f"live {model}, {case[5:]} face(s): {c['fps']:.1f} frames/s on {c['runtime']} (naive loop "
                        f"{c['naive_fps']:.1f}, {c['speedup']:.1f}x; the batch on torch: {c['torch_fps']:.1f}); "
                        f"ms a frame: {split}"
                    )
            continue
        if name == "app":
            print(
                f"app process: models loaded {r['models_loaded_s']:.1f} s, "
                f"first answer {r['start_to_first_answer_s']:.1f} s after start, "
                f"peak memory {r['peak_rss_gb']:.2f} GB (both models, IG-{a.memory_steps})"
            )
            continue
        print(f"{name} ({r['input_size']} px, {'trained' if r['trained'] else 'untrained'} weights)")
        for steps in a.steps:
            n, o = r[f"naive_panel_s_ig{steps}"], r[f"panel_s_ig{steps}"]
            print(f"  panel with IG-{steps}: naive {n:.2f} s, ours {o:.2f} s, speed-up {n / o:.1f}x")
        print(
            f"  first map after {r['first_output_s'] * 1000:.0f} ms; "
            f"IG-{a.steps[0]} relative error {100 * r['ig_rel_error']:.2f}%"
        )
        if a.bf16:
            print(
                f"  IG-{a.steps[0]} under bf16 autocast (off in the app): {r['bf16_ig_s']:.2f} s vs fp32 "
                f"{r['fp32_ig_s']:.2f} s, relative error {100 * r['bf16_ig_rel_error']:.2f}%"
            )
        bf16_rate = f", bf16 {r['gemm_gflops_bf16']:.0f}" if a.bf16 else ""
        bf16_bound = f", {r['speedup_bound_bf16']:.1f}x in bf16" if a.bf16 else ""
        print(
            f"  ceiling: IG-{a.steps[0]} is {r['ig_gflop']:.0f} GFLOP, run at {r['ig_gflops_achieved']:.0f} GFLOP/s "
            f"(the device's fp32 matrix product: {r['gemm_gflops_fp32']:.0f} GFLOP/s{bf16_rate}); "
            f"panel speed-up possible at most {r['speedup_bound_fp32']:.1f}x in fp32{bf16_bound}"
        )
    if a.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
