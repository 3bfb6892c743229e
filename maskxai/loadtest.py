"""Load test of the real app: many ``/explain`` requests from several clients at once.

``python -m maskxai.loadtest --requests 500 --clients 4`` starts ``python app.py`` (or uses ``--url``), sends
requests that mix the photos in ``examples/``, both models and IG step counts, and reports latency (p50/p95),
throughput, the app process's memory (``VmRSS`` at start, after the warm-up requests and at the end; peak
``VmHWM``) and the files in Gradio's cache before and after. Memory is read from ``/proc`` (Linux), so it needs
the app on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
BUSY = ("busy", "queue is full")


@dataclass
class Report:
    """What one load test measured (sizes in GB and MB, times in seconds)."""

    requests: int
    clients: int
    ok: int = 0
    busy: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    throughput_per_min: float = 0.0
    p50_s: float = 0.0
    p95_s: float = 0.0
    max_s: float = 0.0
    rss_start_gb: float | None = None
    rss_after_warmup_gb: float | None = None
    rss_end_gb: float | None = None
    rss_growth_pct: float | None = None
    peak_gb: float | None = None
    temp_files_before: int | None = None
    temp_files_after: int | None = None
    temp_mb_before: float | None = None
    temp_mb_after: float | None = None
    rss_trace: list[tuple[int, float]] = field(default_factory=list)


def proc_memory_gb(pid: int) -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` (peak) of process ``pid`` in GB, from ``/proc/<pid>/status``."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(line.split()[1]) / 2**20
    return out


def cache_usage(folder: Path | None) -> tuple[int, float]:
    """Number of files under ``folder`` and their size in MB (0, 0 if there is none)."""
    if folder is None or not folder.is_dir():
        return 0, 0.0
    n, size = 0, 0
    for p in folder.rglob("*"):
        try:  # the app's cache cleaner may delete a file between the listing and this look
            if p.is_file():
                size += p.stat().st_size
                n += 1
        except FileNotFoundError:
            continue
    return n, size / 2**20


def plan(n: int, photos: list[str], models: list[str], steps: list[int]) -> list[tuple[str, str, int]]:
    """``n`` requests (model, photo, steps) that cycle through every combination in a fixed, mixed order."""
    return [
        (models[i % len(models)], photos[(i // len(models)) % len(photos)], steps[(i * 7 + i // 5) % len(steps)])
        for i in range(n)
    ]


def run(
    url: str,
    requests: int,
    clients: int,
    *,
    photos: list[str],
    models: list[str],
    steps: list[int],
    pid: int | None = None,
    cache_dir: Path | None = None,
    warmup: int = 50,
    timeout: float | None = None,
    progress: bool = True,
) -> Report:
    """Send ``requests`` ``/explain`` calls from ``clients`` threads and measure the app while they run.

    Args:
        url: The app's address.
        requests: How many calls in all.
        clients: How many run at once (each its own ``gradio_client.Client``, so its own session).
        photos, models, steps: What the calls mix.
        pid: The app's process id, to read its memory; ``None`` skips memory.
        cache_dir: Gradio's cache folder (``GRADIO_TEMP_DIR``), to count its files.
        warmup: The first this many calls are a phase of their own: the RSS when they are all answered (no call
            in flight) is the reference for growth; the end RSS is read the same way.
        timeout: Stop sending new calls after this many seconds.
        progress: Show a progress bar.
    """
    from gradio_client import Client, handle_file

    rep = Report(requests, clients)
    rep.temp_files_before, rep.temp_mb_before = cache_usage(cache_dir)
    if pid:
        rep.rss_start_gb = proc_memory_gb(pid)["VmRSS"]
    jobs = plan(requests, photos, models, steps)
    lock = threading.Lock()
    latencies: list[float] = []
    done = 0
    t_start = time.perf_counter()
    bar = tqdm(total=requests, disable=not progress, desc="explain", unit="req")

    def worker(k: int, first: int, last: int) -> None:
        nonlocal done
        client = Client(url, verbose=False, download_files=False)
        for i in range(first + k, last, clients):
            if timeout is not None and time.perf_counter() - t_start > timeout:
                return
            model, photo, n_steps = jobs[i]
            t0 = time.perf_counter()
            try:
                client.predict(
                    model, handle_file(photo), n_steps, "black", None, None, False, 0.6, 0.9, 20, api_name="/explain"
                )
                outcome = "ok"
            except Exception as exc:  # noqa: BLE001 - every failure is counted by its message
                msg = str(exc)
                outcome = "busy" if any(b in msg.lower() for b in BUSY) else msg[:200]
            dt = time.perf_counter() - t0
            with lock:
                done += 1
                if outcome == "ok":
                    rep.ok += 1
                    latencies.append(dt)
                elif outcome == "busy":
                    rep.busy += 1
                else:
                    rep.errors[outcome] = rep.errors.get(outcome, 0) + 1
                if pid:
                    rep.rss_trace.append((done, round(proc_memory_gb(pid)["VmRSS"], 3)))  # other calls in flight
                bar.update(1)

    def phase(first: int, last: int) -> None:
        threads = [threading.Thread(target=worker, args=(k, first, last), daemon=True) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    phase(0, min(warmup, requests))
    if pid:
        rep.rss_after_warmup_gb = proc_memory_gb(pid)["VmRSS"]  # at rest: every warm-up call answered
    phase(min(warmup, requests), requests)
    bar.close()
    rep.seconds = time.perf_counter() - t_start
    rep.throughput_per_min = 60 * rep.ok / rep.seconds if rep.seconds else 0.0
    if latencies:
        q = statistics.quantiles(latencies, n=20, method="inclusive") if len(latencies) > 1 else latencies * 19
        rep.p50_s, rep.p95_s, rep.max_s = statistics.median(latencies), q[18], max(latencies)
    if pid:
        mem = proc_memory_gb(pid)
        rep.rss_end_gb, rep.peak_gb = mem["VmRSS"], mem["VmHWM"]
        if rep.rss_after_warmup_gb:
            rep.rss_growth_pct = 100 * (rep.rss_end_gb / rep.rss_after_warmup_gb - 1)
    rep.temp_files_after, rep.temp_mb_after = cache_usage(cache_dir)
    return rep


def format_report(rep: Report) -> str:
    def gb(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} GB"

    lines = [
        f"requests {rep.requests} from {rep.clients} clients in {rep.seconds:.0f} s: {rep.ok} answered, "
        f"{rep.busy} busy, {sum(rep.errors.values())} errors",
        f"latency p50 {rep.p50_s:.1f} s, p95 {rep.p95_s:.1f} s, max {rep.max_s:.1f} s; "
        f"throughput {rep.throughput_per_min:.1f} answers/min",
        f"app RSS: start {gb(rep.rss_start_gb)}, after warm-up {gb(rep.rss_after_warmup_gb)}, "
        f"end {gb(rep.rss_end_gb)}"
        + ("" if rep.rss_growth_pct is None else f" ({rep.rss_growth_pct:+.1f} % since warm-up)")
        + f"; peak {gb(rep.peak_gb)}",
        f"Gradio cache: {rep.temp_files_before} files ({rep.temp_mb_before:.1f} MB) before, "
        f"{rep.temp_files_after} files ({rep.temp_mb_after:.1f} MB) after",
    ]
    lines += [f"error x{n}: {msg}" for msg, n in rep.errors.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--warmup", type=int, default=50, help="RSS after this many answers is the growth reference")
    p.add_argument("--steps", default="16,32,64,128,256", help="IG step counts to mix")
    p.add_argument("--models", default="resnet50,inception_resnet_v1")
    p.add_argument("--url", help="an app already running (memory is then not measured unless --pid)")
    p.add_argument("--pid", type=int, help="the process id of the app at --url")
    p.add_argument("--timeout", type=float, help="stop sending after this many seconds")
    p.add_argument("--app-args", default="", help="extra arguments for python app.py, e.g. '--concurrency 2'")
    p.add_argument("--json", action="store_true", help="end with the report as one JSON object")
    args = p.parse_args(argv)
    photos = sorted(str(x) for x in (ROOT / "examples").glob("*.jpg"))
    if not photos:
        sys.exit("examples/ is empty: run python -m maskxai.examples")
    kw: dict[str, Any] = dict(
        photos=photos,
        models=args.models.split(","),
        steps=[int(s) for s in args.steps.split(",")],
        warmup=args.warmup,
        timeout=args.timeout,
    )
    if args.url:
        rep = run(args.url, args.requests, args.clients, pid=args.pid, **kw)
    else:
        from ._appserver import AppServer

        with tempfile.TemporaryDirectory(prefix="maskxai_gradio_") as cache:
            env = {"GRADIO_TEMP_DIR": cache}
            with AppServer(*args.app_args.split(), env=env) as app:
                print(f"app at {app.url} (pid {app.proc.pid}), ready", file=sys.stderr)
                rep = run(app.url, args.requests, args.clients, pid=app.proc.pid, cache_dir=Path(cache), **kw)
    print(format_report(rep))
    if args.json:
        print(json.dumps(asdict(rep)))
    return 0 if rep.ok + rep.busy == rep.requests or args.timeout else 1


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    sys.exit(main())
