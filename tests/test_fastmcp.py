"""``MCPAuth.fastmcp_verifier``: fastmcp's ``auth=``, verifying with mcpauth-fast (issue 17).

A fastmcp server (the release pinned by the ``fastmcp`` extra) on 127.0.0.1 with a per-tool
``auth=require_scopes("admin")`` check, driven by fastmcp's own client and raw HTTP: once with
fastmcp's documented ``JWTVerifier``, once with ours, changing only the ``auth=`` line. Both
serve the same tool calls, hide and refuse the admin tool the same way, and answer 401 the
same way. One difference, on purpose: a token without a route scope (the provider's
``required_scopes``) gets fastmcp's 403 ``insufficient_scope`` with ours, where fastmcp's
``JWTVerifier`` refuses the token itself (401).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

fastmcp = pytest.importorskip("fastmcp")
# tests/conftest.py: fastmcp's camelCase aliases on the SDK's types stay off for the session.
assert fastmcp.settings.mcp_camelcase_compat is False

from fastmcp import Client, FastMCP  # noqa: E402
from fastmcp.exceptions import ToolError  # noqa: E402
from fastmcp.server.auth import AccessToken, require_scopes  # noqa: E402
from fastmcp.server.auth import TokenVerifier as FastMCPTokenVerifier  # noqa: E402
from fastmcp.server.auth.providers.jwt import JWTVerifier  # noqa: E402
from fastmcp.server.dependencies import get_access_token  # noqa: E402
from support.app_factory import auth_server_mode  # noqa: E402
from support.jwks_server import JwksServer  # noqa: E402
from support.mcp import serve  # noqa: E402
from support.tokens import AUDIENCE, ISSUER, claims, signing_key  # noqa: E402

from mcpauth_fast import MCPAuth  # noqa: E402

INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "raw", "version": "1"}},
}
HEADERS = {"accept": "application/json, text/event-stream",
           "content-type": "application/json"}
INVALID_TOKEN_DESCRIPTION = (
    "Authentication failed. The provided bearer token is invalid, expired, or no longer "
    "recognized by the server. To resolve: clear authentication tokens in your MCP client and "
    "reconnect. Your client should automatically re-register and obtain new tokens.")


def token(scope: str = "read write", **overrides: Any) -> str:
    return signing_key("ES256").mint(claims(time.time(), scope=scope, **overrides))


def fastmcp_server(auth: Any) -> Any:
    """A fastmcp server as its documentation writes one; only ``auth=`` differs."""
    mcp = FastMCP("files", auth=auth)

    @mcp.tool
    def whoami() -> dict[str, Any]:
        access = get_access_token()
        assert access is not None
        return {"subject": access.subject, "client_id": access.client_id,
                "scopes": list(access.scopes), "jti": access.claims.get("jti"),
                "iss": access.claims.get("iss"), "fastmcp_token": isinstance(access, AccessToken)}

    @mcp.tool(auth=require_scopes("admin"))
    def admin_only() -> str:
        return "the admin's answer"

    return mcp.http_app(path="/mcp")


def auth_of(kind: str, jwks_server: JwksServer) -> tuple[Any, MCPAuth | None]:
    mcp_auth = auth_server_mode(jwks_server)     # publishes the keys
    if kind == "fastmcp-jwt":
        return JWTVerifier(jwks_uri=jwks_server.url, issuer=ISSUER, audience=AUDIENCE,
                           algorithm="ES256", required_scopes=["read"]), None
    return mcp_auth.fastmcp_verifier("jwt", audience=AUDIENCE, required_scopes=["read"]), mcp_auth


async def observe(base: str) -> dict[str, Any]:
    url = base + "/mcp"
    seen: dict[str, Any] = {}
    async with Client(url, auth=token()) as client:
        seen["tools"] = sorted(tool.name for tool in await client.list_tools())
        seen["whoami"] = json.loads((await client.call_tool("whoami", {})).content[0].text)
        with pytest.raises(ToolError) as refused:
            await client.call_tool("admin_only", {})
        seen["admin_refused"] = str(refused.value)
    async with Client(url, auth=token("read admin")) as client:
        seen["admin_tools"] = sorted(tool.name for tool in await client.list_tools())
        seen["admin"] = (await client.call_tool("admin_only", {})).content[0].text
    now = int(time.time())
    raw = {"no_token": None, "garbage": "not-a-jwt", "bad_signature": token()[:-4] + "AAAA",
           "expired": token(exp=now - 3600, iat=now - 7200, nbf=now - 7200),
           "other_audience": token(aud="https://other.example.com/mcp"),
           "no_read_scope": token("write")}
    async with httpx.AsyncClient(timeout=10) as client:
        for name, value in raw.items():
            headers = dict(HEADERS)
            if value is not None:
                headers["authorization"] = f"Bearer {value}"
            response = await client.post(url, headers=headers, json=INITIALIZE)
            seen[name] = {"status": response.status_code, "body": response.text,
                          "www-authenticate": response.headers.get("www-authenticate")}
    return seen


def invalid_token(scope: str = "read") -> dict[str, Any]:
    return {"status": 401,
            "body": json.dumps({"error": "invalid_token",
                                "error_description": INVALID_TOKEN_DESCRIPTION}),
            "www-authenticate": f'Bearer error="invalid_token", error_description='
                                f'"{INVALID_TOKEN_DESCRIPTION}", scope="{scope}"'}


async def test_a_fastmcp_server_switches_verifiers_by_one_line(jwks_server: JwksServer) -> None:
    results = {}
    for kind in ("fastmcp-jwt", "mcpauth-fast"):
        auth, mcp_auth = auth_of(kind, jwks_server)
        with serve(fastmcp_server(auth)) as base:
            results[kind] = await observe(base)
        if mcp_auth is not None:
            await mcp_auth.aclose()
    for kind, seen in results.items():
        assert seen["tools"] == ["whoami"], kind                # the admin tool is hidden
        assert seen["whoami"] == {"subject": "alice", "client_id": "client-1",
                                  "scopes": ["read", "write"], "jti": "j-1", "iss": ISSUER,
                                  "fastmcp_token": True}, kind
        assert seen["admin_refused"] == "Unknown tool: 'admin_only'", kind
        assert seen["admin_tools"] == ["admin_only", "whoami"], kind
        assert seen["admin"] == "the admin's answer", kind
        assert seen["no_token"] == {"status": 401, "body": "",
                                    "www-authenticate": 'Bearer scope="read"'}, kind
        for name in ("garbage", "bad_signature", "expired", "other_audience"):
            assert seen[name] == invalid_token(), (kind, name)
    # The one difference: a token without the route's scope.
    assert results["fastmcp-jwt"].pop("no_read_scope") == invalid_token()
    assert results["mcpauth-fast"].pop("no_read_scope") == {
        "status": 403,
        "body": json.dumps({"error": "insufficient_scope",
                            "error_description": "Required scope: read"}),
        "www-authenticate": 'Bearer error="insufficient_scope", error_description='
                            '"Required scope: read", scope="read"'}
    assert results["fastmcp-jwt"] == results["mcpauth-fast"]


async def test_it_is_fastmcps_token_verifier(jwks_server: JwksServer) -> None:
    mcp_auth = auth_server_mode(jwks_server)
    verifier = mcp_auth.fastmcp_verifier(
        "jwt", audience=AUDIENCE, required_scopes=["read"],
        base_url="https://mcp.example.com", resource_base_url="https://public.example.com")
    assert isinstance(verifier, FastMCPTokenVerifier)
    assert verifier.required_scopes == ["read"]
    assert str(verifier.base_url) == "https://mcp.example.com/"
    assert str(verifier.resource_base_url) == "https://public.example.com/"
    middleware = mcp_auth.bearer_auth_middleware("jwt", audience=AUDIENCE)
    assert verifier.core.verifier is middleware.config.verifier  # one cache, one key set
    value = token(jti="cached")
    first = await verifier.verify_token(value)
    assert isinstance(first, AccessToken) and first.claims["jti"] == "cached"
    assert await verifier.verify_token(value) is first          # built once, a cache hit
    assert jwks_server.fetches == 1
    assert await verifier.verify_token("not-a-jwt") is None
    await mcp_auth.revoke(token=value)
    assert await verifier.verify_token(value) is None
    await mcp_auth.aclose()


async def test_a_revoked_token_loses_the_tool(jwks_server: JwksServer) -> None:
    mcp_auth = auth_server_mode(jwks_server)
    app = fastmcp_server(mcp_auth.fastmcp_verifier("jwt", audience=AUDIENCE,
                                                   required_scopes=["read"]))
    value = token("read admin", jti="admin-1")
    with serve(app) as base:
        async with Client(base + "/mcp", auth=value) as client:
            assert (await client.call_tool("admin_only", {})).content[0].text == (
                "the admin's answer")
        await mcp_auth.revoke(jti="admin-1", issuer=ISSUER)
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(base + "/mcp", json=INITIALIZE, headers={
                **HEADERS, "authorization": f"Bearer {value}"})
    assert response.status_code == 401 and json.loads(response.text)["error"] == "invalid_token"
    await mcp_auth.aclose()
