"""A real HTTP server on 127.0.0.1, in a thread, for the tests' identity providers."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, str], bytes]


class LocalServer:
    """Answers each GET with ``respond(path)`` and each POST with ``respond_post(path,
    headers, body)`` (header names lowercased), counts requests per path in ``hits``.

    A reply without ``content-length`` in its headers is streamed and the connection closed.

    :param keep_alive: answer in HTTP/1.1, keeping connections open between requests.
    """

    def __init__(self, keep_alive: bool = False) -> None:
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self._count()
                self._reply(server.respond(self.path))

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self._count()
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._reply(server.respond_post(self.path, headers, body))

            def _count(self) -> None:  # on arrival: a test may count a request still answering
                with server._lock:
                    server.hits[self.path] += 1

            def _reply(self, reply: Reply) -> None:
                status, headers, body = reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "content-length" not in headers and "connection" not in headers:
                    self.send_header("content-length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def respond(self, path: str) -> Reply:
        return 405, {}, b""

    def respond_post(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        return 405, {}, b""

    @property
    def total(self) -> int:
        return sum(self.hits.values())

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
