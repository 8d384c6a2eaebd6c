"""A real HTTP server on 127.0.0.1 that serves a JWKS (or fails on demand) and counts fetches."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support.local_server import LocalServer, Reply

_JSON = {"content-type": "application/json"}


class JwksServer(LocalServer):
    """Serves ``document`` at ``/jwks``; ``mode`` makes it fail: "ok", "500", "garbage",
    "hang" (sleep ``hang_seconds`` first), "huge" (a body of ``huge_bytes``)."""

    def __init__(self) -> None:
        self.document: Any = {"keys": []}
        self.mode = "ok"
        self.hang_seconds = 3.0
        self.huge_bytes = 2 << 20
        self.cache_control: str | None = None
        super().__init__()
        self.url = f"{self.base}/jwks"

    @property
    def fetches(self) -> int:
        return self.total

    def respond(self, path: str) -> Reply:
        mode = self.mode
        if mode == "hang":
            time.sleep(self.hang_seconds)
        headers = dict(_JSON)
        if self.cache_control:
            headers["cache-control"] = self.cache_control
        if mode == "500":
            return 500, headers, b"oops"
        if mode == "garbage":
            return 200, headers, b"<html>not json"
        if mode == "huge":
            return 200, headers, b"[" + b" " * self.huge_bytes + b"]"
        return 200, headers, json.dumps(self.document).encode()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    try:
        yield server
    finally:
        server.close()
