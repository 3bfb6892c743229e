"""Start the real app (``python app.py``) on 127.0.0.1 and wait until it serves: for tests and the bench."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppServer:
    """``python app.py --port <free port> *args``, its output in ``log_file``; a context manager.

    Without ``log_file`` the output goes to a temporary file, which :meth:`close` removes.
    """

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300, log_file: Path | None = None
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        full.update(env or {})
        self._own_log = log_file is None  # a temporary log is removed by close()
        self.log_file = log_file or Path(tempfile.mkstemp(prefix="maskxai_app_", suffix=".log")[1])
        self.log = open(self.log_file, "w")  # noqa: SIM115 - closed in close()
        # Read through a handle of our own: the output stays readable if something cleans /tmp meanwhile.
        self._reader = open(self.log_file)  # noqa: SIM115 - closed in close()
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
                out = self.output()
                self.close()
                raise RuntimeError(f"app exited: {out}")
            if "maskxai ready" in self.output():
                return
            time.sleep(0.2)
        out = self.output()  # before close(), which removes a temporary log
        self.close()
        raise TimeoutError(f"app did not start in {timeout} s: {out}")

    def output(self) -> str:
        self._reader.seek(0)
        return self._reader.read()

    def peak_memory_gb(self) -> float:
        """The app process's peak resident memory so far (``VmHWM``; Linux only)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
        raise RuntimeError("VmHWM not found in /proc/<pid>/status")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        self._reader.close()
        if self._own_log:
            self.log_file.unlink(missing_ok=True)

    def __enter__(self) -> AppServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
