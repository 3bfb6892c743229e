"""Live mode for many frames in one process, as the app runs it: resident memory as it goes.

    PYTHONPATH=. python scripts/live_soak.py --frames 3000

Both models, as the app loads them (allocator tuned, BatchNorm folded) with their ONNX Runtime copies
(:mod:`maskxai.onnxcam`, waited for); streams of 50 frames with 1, 4 and 2 faces in turn, the model switched every
300 frames; prints ``VmRSS`` every 300 frames.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=3000)
    a = p.parse_args()
    from maskxai.memory import tune_allocator

    tune_allocator()  # as app.py does, before the models
    from maskxai.bench import live_frames
    from maskxai.live import LiveSession, process_frame
    from maskxai.onnxcam import cam_runner
    from maskxai.pipeline import get_model

    models = [get_model("inception_resnet_v1"), get_model("resnet50")]
    print(f"models loaded: {rss_mb():.0f} MB", flush=True)
    for lm in models:
        cam_runner(lm, wait=True)
    print(f"with their ONNX Runtime sessions: {rss_mb():.0f} MB", flush=True)
    clips = {n: live_frames(n) for n in (1, 2, 4)}
    t0, done = time.perf_counter(), 0
    while done < a.frames:
        for n in (1, 4, 2):
            lm, session = models[(done // 300) % 2], LiveSession()
            for j in range(50):
                r = process_frame(clips[n][j % len(clips[n])], lm, session)
                done += 1
        if done % 300 == 0:
            print(f"{done} frames, {time.perf_counter() - t0:.0f} s: {rss_mb():.0f} MB ({r.runtime})", flush=True)


if __name__ == "__main__":
    main()
