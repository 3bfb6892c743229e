"""A stand-in for the Hugging Face Hub's file endpoints, on 127.0.0.1 (tests only).

Serves ``<root>/<org>/<repo>/<revision>/<file>`` at
``/<org>/<repo>/resolve/<revision>/<file>`` with the headers
``hf_hub_download`` reads (commit, ETag, size), and the Hub's error codes.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


class HubStandIn:
    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _serve(self, body: bool) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                parts = unquote(urlparse(self.path).path).strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._error(404, "RepositoryNotFound", "Repository not found")
                org, repo, _, rev, *rest = parts
                repo_dir = hub.root / org / repo
                if not repo_dir.is_dir():
                    return self._error(404, "RepositoryNotFound", "Repository not found")
                if not (repo_dir / rev).is_dir():
                    return self._error(404, "RevisionNotFound", "Revision not found")
                f = repo_dir / rev / "/".join(rest)
                if not f.is_file():
                    return self._error(404, "EntryNotFound", "Entry not found")
                data = f.read_bytes()
                self.send_response(200)
                self.send_header("X-Repo-Commit", hashlib.sha1(rev.encode()).hexdigest())
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _error(self, code: int, kind: str, msg: str) -> None:
                self.send_response(code)
                self.send_header("X-Error-Code", kind)
                self.send_header("X-Error-Message", msg)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(body=True)

        return Handler
