"""A real HTTP server on 127.0.0.1 that serves authorization server metadata (or misbehaves on
demand) and counts requests; with the metadata documents and static configs the tests build."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mcpauth_fast.config import (
    AuthorizationServerMetadata,
    AuthServerConfig,
    AuthServerType,
    ServerMetadataPaths,
)

SECRET_BODY = "SECRET-BODY-MARKER"


def server_metadata(issuer: str, **overrides: Any) -> dict[str, Any]:
    """MCP-conformant RFC 8414 metadata for ``issuer``, with one non-standard field."""
    data: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "registration_endpoint": f"{issuer}/register",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "x_vendor_extension": {"kept": True},
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


class MetadataServer:
    """Serves OAuth and OIDC metadata for ``base`` and ``base/tenant`` at their well-known
    paths, counts requests per path, and misbehaves on demand through ``mode``: "ok", "500",
    "garbage", "huge" (with Content-Length), "huge_stream" (without), "wrong_issuer",
    "not_object", "invalid" (no token_endpoint), "no_pkce", "slow" (sleep ``delay`` first).
    ``delay`` also applies in every other mode."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 0.0
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                path = self.path
                with server._lock:
                    server.hits[path] += 1
                if server.delay:
                    time.sleep(server.delay)
                if path == "/redirect":
                    self.send_response(302)
                    self.send_header("location", server.base + ServerMetadataPaths.OAUTH.value)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                issuer = server.routes().get(path)
                if issuer is None:
                    self._send(404, b'{"error":"not_found"}')
                    return
                self._answer(issuer)

            def _answer(self, issuer: str) -> None:
                mode = server.mode
                if mode == "500":
                    self._send(500, f'{{"error":"{SECRET_BODY}"}}'.encode())
                elif mode == "garbage":
                    self._send(200, f"<html>{SECRET_BODY}".encode())
                elif mode == "huge":
                    self._send(200, b"{" + b" " * (2 << 20) + b"}")
                elif mode == "huge_stream":
                    self._send(200, b"{" + b" " * (2 << 20) + b"}", length=False)
                elif mode == "not_object":
                    self._send(200, b"[1, 2]")
                else:
                    data = server_metadata(issuer)
                    if mode == "wrong_issuer":
                        data["issuer"] = "https://evil.example"
                    elif mode == "invalid":
                        data["token_endpoint"] = None
                        data = {k: v for k, v in data.items() if v is not None}
                        data["secret"] = SECRET_BODY
                    elif mode == "no_pkce":
                        del data["code_challenge_methods_supported"]
                    self._send(200, json.dumps(data).encode())

            def _send(self, status: int, body: bytes, length: bool = True) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                if length:
                    self.send_header("content-length", str(len(body)))
                else:
                    self.send_header("connection", "close")
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
        self.tenant = f"{self.base}/tenant"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def routes(self) -> dict[str, str]:
        """Request path -> the issuer whose metadata it serves."""
        return {
            "/.well-known/oauth-authorization-server": self.base,
            "/.well-known/oauth-authorization-server/tenant": self.tenant,
            "/.well-known/openid-configuration": self.base,
            "/tenant/.well-known/openid-configuration": self.tenant,
        }

    @property
    def total(self) -> int:
        return sum(self.hits.values())

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# Named apart from the fixture so that a test module importing it may take ``metadata_server``
# as a parameter without shadowing an import.
@pytest.fixture(name="metadata_server")
def metadata_server_fixture() -> Iterator[MetadataServer]:
    server = MetadataServer()
    try:
        yield server
    finally:
        server.close()


def static_config(issuer: str = "https://idp.example", **overrides: Any) -> AuthServerConfig:
    return AuthServerConfig(
        metadata=AuthorizationServerMetadata(**server_metadata(issuer, **overrides)),
        type=AuthServerType.OIDC,
    )
