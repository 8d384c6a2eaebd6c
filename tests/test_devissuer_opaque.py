"""The development issuer's opaque tokens over real HTTP on 127.0.0.1: minting (API and CLI),
``/introspect`` with client authentication, ``/revoke`` (RFC 7009), and an opaque token end to
end: the MCP SDK's own client calls a tool behind the middleware in "introspection" mode."""

from __future__ import annotations

import base64
import contextlib
import json
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp
from support import tokens
from support.mcp import (
    STATEFUL,
    TIMEOUT,
    Bearer,
    mcp_session,
    new_server,
    seconds,
    serve,
    transport_app,
)
from support.opaque_tokens import AUDIENCE, opaque

from mcpauth_fast import MCPAuth
from mcpauth_fast.config import AuthServerDiscoveryConfig, AuthServerType
from mcpauth_fast.dev.issuer import DevIssuer
from mcpauth_fast.dev.keystore import DEV_CLIENT_ID, STATE_DIR_ENV
from mcpauth_fast.dev.opaque import CLIENT_FILE, DEV_INTROSPECTION_CLIENT_ID, OPAQUE_DIR


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "dev-issuer"
    monkeypatch.setenv(STATE_DIR_ENV, str(directory))
    return directory


@pytest.fixture
def issuer(state_dir: Path) -> Iterator[DevIssuer]:
    with DevIssuer() as running:
        yield running


def introspect(issuer: DevIssuer, token: str, method: str = "basic",
               secret: str | None = None) -> httpx.Response:
    client_id, real = issuer.client_credentials
    secret = real if secret is None else secret
    form = {"token": token}
    headers = {}
    if method == "basic":
        pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        headers["authorization"] = f"Basic {pair}"
    elif method == "post":
        form.update(client_id=client_id, client_secret=secret)
    return httpx.post(issuer.introspection_endpoint, data=form, headers=headers, timeout=5)


def test_the_metadata_names_introspection_and_revocation(issuer: DevIssuer) -> None:
    metadata = httpx.get(f"{issuer.issuer}/.well-known/oauth-authorization-server").json()
    assert metadata["introspection_endpoint"] == f"{issuer.issuer}/introspect"
    assert metadata["revocation_endpoint"] == f"{issuer.issuer}/revoke"
    assert metadata["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post"]


@pytest.mark.parametrize("method", ["basic", "post"])
def test_an_opaque_token_is_active_with_its_claims(issuer: DevIssuer, method: str) -> None:
    token = opaque(issuer, sub="bob", scope="read")
    answer = introspect(issuer, token, method)
    assert answer.status_code == 200
    body = answer.json()
    assert body["active"] is True and body["token_type"] == "Bearer"
    assert (body["sub"], body["scope"], body["aud"], body["iss"]) == (
        "bob", "read", AUDIENCE, issuer.issuer)
    assert body["client_id"] == DEV_CLIENT_ID and body["exp"] > body["iat"]
    assert answer.headers["cache-control"] == "no-store"


def test_unknown_and_expired_tokens_are_inactive(issuer: DevIssuer) -> None:
    assert introspect(issuer, "mcpo_unknown").json() == {"active": False}
    expired = opaque(issuer, ttl=-10)
    assert introspect(issuer, expired).json() == {"active": False}


def test_client_authentication_is_required(issuer: DevIssuer) -> None:
    token = opaque(issuer)
    for method, secret in (("none", None), ("basic", "wrong"), ("post", "wrong")):
        refused = introspect(issuer, token, method, secret)
        assert refused.status_code == 401, method
        assert refused.json()["error"] == "invalid_client"
        assert "active" not in refused.json()
    client_id, secret = issuer.client_credentials
    both = httpx.post(issuer.introspection_endpoint, timeout=5,
                      data={"token": token, "client_id": client_id, "client_secret": secret},
                      auth=(client_id, secret))
    assert both.status_code == 400
    no_token = httpx.post(issuer.introspection_endpoint, auth=(client_id, secret), timeout=5)
    assert no_token.status_code == 400


def test_revocation_makes_introspection_inactive(issuer: DevIssuer) -> None:
    token, other = opaque(issuer), opaque(issuer)
    client_id, secret = issuer.client_credentials
    assert httpx.post(issuer.revocation_endpoint, data={"token": token},
                      timeout=5).status_code == 401
    revoked = httpx.post(issuer.revocation_endpoint, data={"token": token},
                         auth=(client_id, secret), timeout=5)
    assert revoked.status_code == 200
    assert introspect(issuer, token).json() == {"active": False}
    assert introspect(issuer, other).json()["active"] is True
    # RFC 7009 section 2.2: an unknown token is answered 200 too.
    assert httpx.post(issuer.revocation_endpoint, data={"token": "nothing"},
                      auth=(client_id, secret), timeout=5).status_code == 200


def test_the_state_dir_holds_no_raw_token_and_a_private_secret(
        issuer: DevIssuer, state_dir: Path) -> None:
    token = opaque(issuer)
    files = list((state_dir / OPAQUE_DIR).iterdir())
    assert len(files) == 1 and token not in files[0].name
    assert token not in files[0].read_text()
    client = state_dir / CLIENT_FILE
    assert stat.S_IMODE(client.stat().st_mode) == 0o600
    assert json.loads(client.read_text())["client_id"] == DEV_INTROSPECTION_CLIENT_ID


def test_the_cli_prints_an_opaque_token_the_running_issuer_answers_for(
        issuer: DevIssuer, state_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mcpauth_fast", "token", "--opaque", "--sub", "carol",
         "--aud", AUDIENCE, "--scope", "read", "--claim", "tier=3"],
        capture_output=True, text=True, timeout=60, check=True)
    token = result.stdout.strip()
    tokens.MINTED.append(token)
    assert token.startswith("mcpo_") and "." not in token
    body = introspect(issuer, token).json()
    assert (body["active"], body["sub"], body["iss"], body["tier"]) == (
        True, "carol", issuer.issuer, 3)


# --- an opaque token end to end, through the real MCP SDK client ---------------------------

def protected_app(mcp_auth: MCPAuth, introspection: dict[str, Any]) -> ASGIApp:
    server = new_server(STATEFUL)

    @server.tool()
    async def whoami() -> dict[str, Any]:
        """What the tool sees of the token of this call."""
        info = mcp_auth.auth_info
        assert info is not None
        return {"subject": info.subject, "client_id": info.client_id,
                "scopes": list(info.scopes), "issuer": info.issuer,
                "jti": info.claims.get("jti")}

    inner, session_manager, _ = transport_app(server, STATEFUL)
    bearer_auth = mcp_auth.bearer_auth_middleware(
        "introspection", audience=AUDIENCE, required_scopes=["read"],
        introspection=introspection)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with session_manager.run():
                yield
        finally:
            await mcp_auth.aclose()

    return Starlette(routes=[Mount("/", app=inner, middleware=[Middleware(bearer_auth)])],
                     lifespan=lifespan)


async def call_whoami(url: str, token: str) -> dict[str, Any]:
    async with mcp_session(url, STATEFUL, Bearer(token)) as session:
        result = await session.call_tool("whoami", {}, seconds(TIMEOUT))
    assert not getattr(result, "is_error", getattr(result, "isError", False)), result
    data: dict[str, Any] = json.loads(result.content[0].text)
    return data


async def test_an_opaque_token_reaches_the_tool_and_stops_at_its_revocation(
        issuer: DevIssuer) -> None:
    client_id, secret = issuer.client_credentials
    mcp_auth = MCPAuth(server=AuthServerDiscoveryConfig(issuer=issuer.issuer,
                                                        type=AuthServerType.OIDC))
    # max_cache_seconds 0: every request asks, so the revocation shows at once.
    app = protected_app(mcp_auth, {"client_id": client_id, "client_secret": secret,
                                   "max_cache_seconds": 0})
    token = opaque(issuer, sub="dana", scope="read write")
    with serve(app) as base:
        seen = await call_whoami(f"{base}/mcp", token)
        assert seen["subject"] == "dana" and seen["scopes"] == ["read", "write"]
        assert seen["client_id"] == DEV_CLIENT_ID and seen["issuer"] == issuer.issuer
        assert seen["jti"]
        issuer.revoke(token)
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            refused = await http.post(f"{base}/mcp", json={}, headers={
                "authorization": f"Bearer {token}", "accept": "application/json"})
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
