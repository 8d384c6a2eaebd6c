"""A real HTTP server on 127.0.0.1 that serves authorization server metadata (or misbehaves on
demand) and counts requests; with the metadata documents and static configs the tests build."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mcpauth_fast.config import (
    AuthorizationServerMetadata,
    AuthServerConfig,
    AuthServerType,
    ServerMetadataPaths,
)
from support.local_server import LocalServer, Reply

SECRET_BODY = "SECRET-BODY-MARKER"
_JSON = {"content-type": "application/json"}


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


class MetadataServer(LocalServer):
    """Serves OAuth and OIDC metadata for ``base`` and ``base/tenant`` at their well-known
    paths, counts requests per path, and misbehaves on demand through ``mode``: "ok", "500",
    "garbage", "huge" (with Content-Length), "huge_stream" (without), "wrong_issuer",
    "not_object", "invalid" (no token_endpoint), "no_pkce", "slow" (sleep ``delay`` first).
    ``delay`` also applies in every other mode."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 0.0
        super().__init__()
        self.tenant = f"{self.base}/tenant"

    def respond(self, path: str) -> Reply:
        if self.delay:
            time.sleep(self.delay)
        if path == "/redirect":
            return 302, {"location": self.base + ServerMetadataPaths.OAUTH.value,
                         "content-length": "0"}, b""
        issuer = self.routes().get(path)
        if issuer is None:
            return 404, _JSON, b'{"error":"not_found"}'
        mode = self.mode
        if mode == "500":
            return 500, _JSON, f'{{"error":"{SECRET_BODY}"}}'.encode()
        if mode == "garbage":
            return 200, _JSON, f"<html>{SECRET_BODY}".encode()
        if mode == "huge":
            return 200, _JSON, b"{" + b" " * (2 << 20) + b"}"
        if mode == "huge_stream":
            return 200, {**_JSON, "connection": "close"}, b"{" + b" " * (2 << 20) + b"}"
        if mode == "not_object":
            return 200, _JSON, b"[1, 2]"
        data = server_metadata(issuer)
        if mode == "wrong_issuer":
            data["issuer"] = "https://evil.example"
        elif mode == "invalid":
            del data["token_endpoint"]
            data["secret"] = SECRET_BODY
        elif mode == "no_pkce":
            del data["code_challenge_methods_supported"]
        return 200, _JSON, json.dumps(data).encode()

    def routes(self) -> dict[str, str]:
        """Request path -> the issuer whose metadata it serves."""
        return {
            "/.well-known/oauth-authorization-server": self.base,
            "/.well-known/oauth-authorization-server/tenant": self.tenant,
            "/.well-known/openid-configuration": self.base,
            "/tenant/.well-known/openid-configuration": self.tenant,
        }



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
