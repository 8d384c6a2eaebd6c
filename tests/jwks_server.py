"""A real HTTP server on 127.0.0.1 that serves a JWKS (or fails on demand) and counts fetches."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class JwksServer:
    """Serves ``document`` at ``/jwks``; ``mode`` makes it fail: "ok", "500", "garbage",
    "hang" (sleep ``hang_seconds`` first), "huge" (a body of ``huge_bytes``)."""

    def __init__(self) -> None:
        self.document: Any = {"keys": []}
        self.mode = "ok"
        self.hang_seconds = 3.0
        self.huge_bytes = 2 << 20
        self.cache_control: str | None = None
        self.fetches = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                with server._lock:
                    server.fetches += 1
                mode = server.mode
                if mode == "hang":
                    time.sleep(server.hang_seconds)
                if mode == "500":
                    self._send(500, b"oops")
                elif mode == "garbage":
                    self._send(200, b"<html>not json")
                elif mode == "huge":
                    self._send(200, b"[" + b" " * server.huge_bytes + b"]")
                else:
                    self._send(200, json.dumps(server.document).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                if server.cache_control:
                    self.send_header("cache-control", server.cache_control)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    try:
        yield server
    finally:
        server.close()
