"""Start the real app (``python app.py``) on 127.0.0.1 for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        full.update(env or {})
        self.log = open(ROOT / ".pytest_app.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(self.port), *args],
            cwd=ROOT,
            env=full,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited: {self.output()}")
            if "maskxai ready" in self.output():
                return
            time.sleep(0.5)
        self.close()
        raise TimeoutError(f"app did not start in {timeout} s: {self.output()}")

    def output(self) -> str:
        return (ROOT / ".pytest_app.log").read_text()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
