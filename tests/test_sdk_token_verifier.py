"""``MCPAuth.token_verifier``: the MCP SDK's own auth, verifying with mcpauth-fast (issue 17).

The "one line" test serves one unchanged SDK server (1.x ``FastMCP``, 2.x ``MCPServer``) with
``token_verifier=`` a PyJWT-based verifier written as the SDK's documentation shows
(``support.pyjwt_verifier``), then with ``mcp_auth.token_verifier("jwt", audience=...)``: the
same client calls get the same answers (the tool's ``get_access_token()``, the SDK's own 401
and 403 on the wire). The rest checks what ours adds: one verifier with the middleware (its
cache, revocations, introspection), and what it refuses.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time
from typing import Any

import httpx
import pytest
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from starlette.types import ASGIApp, Receive, Scope, Send
from support.app_factory import auth_server_mode, server_config
from support.introspection_server import (  # noqa: F401 - the fixture
    IntrospectionServer,
    introspection_server_fixture,
    opaque_token,
)
from support.jwks_server import JwksServer
from support.mcp import (
    MCP_MAJOR,
    SSE,
    STATELESS,
    TRANSPORTS,
    Bearer,
    ServerClass,
    mcp_session,
    serve,
    transport_app,
)
from support.metadata_server import static_config
from support.pyjwt_verifier import PyJwtTokenVerifier
from support.tokens import AUDIENCE, ISSUER, claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.exceptions import MCPAuthConfigException, MCPAuthKeysUnavailableException
from mcpauth_fast.integrations.mcp_sdk import SdkTokenVerifier
from mcpauth_fast.types import AuthInfo

REQUIRED = ["read"]
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "raw", "version": "1"}},
}
HEADERS = {"accept": "application/json, text/event-stream",
           "content-type": "application/json"}
METADATA_URL = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"


def token(scope: str = "read write", **overrides: Any) -> str:
    return signing_key("ES256").mint(claims(time.time(), scope=scope, **overrides))


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


# --- the SDK's server, as its documentation writes it: only token_verifier= differs --------

def sdk_server(token_verifier: Any, transport: str) -> tuple[ASGIApp, str]:
    """An MCP SDK server with its own auth (``AuthSettings``, the route's scopes there)."""
    server = ServerClass(
        "whoami-server",
        token_verifier=token_verifier,          # <- the one line
        auth=AuthSettings(issuer_url=ISSUER, resource_server_url=AUDIENCE,
                          required_scopes=REQUIRED, validate_token_resource=True),
        **({} if MCP_MAJOR >= 2 else {"stateless_http": transport == STATELESS}),
    )

    @server.tool()
    async def whoami(tag: str = "") -> dict[str, Any]:
        """What the tool sees of the request's token (the SDK's get_access_token())."""
        access = get_access_token()
        if access is None:
            return {"tag": tag, "access": None}
        return {"tag": tag, "access": {
            "token": digest(access.token), "client_id": access.client_id,
            "scopes": list(access.scopes), "expires_at": access.expires_at,
            "resource": access.resource, "subject": access.subject,
            "jti": (access.claims or {}).get("jti"), "iss": (access.claims or {}).get("iss"),
        }}

    app, _, path = transport_app(server, transport)
    return app, path


def closing(app: ASGIApp, mcp_auth: MCPAuth | None) -> ASGIApp:
    """``app`` with ``mcp_auth`` closed at the server's shutdown, on its own loop."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and mcp_auth is not None:
            async def watched() -> Any:
                message = await receive()
                if message["type"] == "lifespan.shutdown":
                    await mcp_auth.aclose()
                return message

            await app(scope, watched, send)
            return
        await app(scope, receive, send)

    return wrapped


def verifier_of(kind: str, jwks_server: JwksServer) -> tuple[Any, MCPAuth | None]:
    if kind == "pyjwt":
        auth_server_mode(jwks_server)  # publishes the keys
        return PyJwtTokenVerifier(jwks_server.url, ISSUER, AUDIENCE), None
    mcp_auth = auth_server_mode(jwks_server)
    return mcp_auth.token_verifier("jwt", audience=AUDIENCE), mcp_auth


async def observe(base: str, path: str, transport: str) -> dict[str, Any]:
    """The same client calls against either server: what each answers."""
    good = token(jti="good-1")
    seen: dict[str, Any] = {}
    async with mcp_session(base + path, transport, Bearer(good)) as session:
        result = await session.call_tool("whoami", {"tag": "t1"})
        seen["tool"] = json.loads(result.content[0].text)
        again = await session.call_tool("whoami", {"tag": "t2"})
        seen["tool_again"] = json.loads(again.content[0].text)
    assert seen["tool"]["access"]["token"] == digest(good)
    url = base + path
    refusals = {
        "no_token": None,
        "bad_signature": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "garbage": "not-a-jwt",
        "expired": token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200,
                         nbf=int(time.time()) - 7200),
        "other_audience": token(aud="https://other.example.com/mcp"),
        "other_issuer": token(iss="https://evil.example.com"),
        "no_read_scope": token(scope="write"),
    }
    async with httpx.AsyncClient(timeout=10) as client:
        for name, value in refusals.items():
            headers = dict(HEADERS)
            if value is not None:
                headers["authorization"] = f"Bearer {value}"
            if transport == SSE:
                response = await client.get(url, headers=headers)
            else:
                response = await client.post(url, headers=headers, json=INITIALIZE)
            seen[name] = {"status": response.status_code, "body": response.json(),
                          "www-authenticate": response.headers.get("www-authenticate")}
    return seen


def expected(transport: str) -> dict[str, Any]:
    access = {
        "token": None, "client_id": "client-1", "scopes": ["read", "write"],
        "resource": AUDIENCE, "subject": "alice", "jti": "good-1", "iss": ISSUER,
    }
    unauthorized = {
        "status": 401,
        "body": {"error": "invalid_token", "error_description": "Authentication required"},
        "www-authenticate": 'Bearer error="invalid_token", error_description='
                            f'"Authentication required", resource_metadata="{METADATA_URL}"',
    }
    return {
        "access": access,
        **{name: unauthorized for name in ("no_token", "bad_signature", "garbage", "expired",
                                           "other_audience", "other_issuer")},
        "no_read_scope": {
            "status": 403,
            "body": {"error": "insufficient_scope", "error_description": "Required scope: read"},
            "www-authenticate": 'Bearer error="insufficient_scope", error_description='
                                f'"Required scope: read", resource_metadata="{METADATA_URL}"',
        },
    }


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_an_sdk_server_switches_verifiers_by_one_line(
        transport: str, jwks_server: JwksServer) -> None:
    results = {}
    for kind in ("pyjwt", "mcpauth-fast"):
        verifier, mcp_auth = verifier_of(kind, jwks_server)
        app, path = sdk_server(verifier, transport)
        with serve(closing(app, mcp_auth)) as base:
            results[kind] = await observe(base, path, transport)
    want = expected(transport)
    for kind, seen in results.items():
        access = dict(seen["tool"]["access"])
        assert isinstance(access.pop("expires_at"), int), kind
        access.pop("token")
        assert access == {k: v for k, v in want["access"].items() if k != "token"}, kind
        assert seen["tool_again"]["access"] == seen["tool"]["access"], kind
        for name in ("no_token", "bad_signature", "garbage", "expired", "other_audience",
                     "other_issuer", "no_read_scope"):
            assert seen[name] == want[name], (kind, name)
    # Same answers, field for field (the token minted at another second aside).
    for seen in results.values():
        for name in ("tool", "tool_again"):
            seen[name]["access"].pop("expires_at")
            seen[name]["access"].pop("token")
    assert results["pyjwt"] == results["mcpauth-fast"]


# --- what ours adds: one verifier with the middleware -----------------------------------

@pytest.fixture
def mcp_auth(jwks_server: JwksServer) -> MCPAuth:
    return auth_server_mode(jwks_server)


async def test_a_repeated_token_is_a_cache_hit_answering_one_access_token(
        mcp_auth: MCPAuth, jwks_server: JwksServer) -> None:
    verifier = mcp_auth.token_verifier("jwt", audience=AUDIENCE)
    middleware = mcp_auth.bearer_auth_middleware("jwt", audience=AUDIENCE)
    assert verifier.verifier is middleware.config.verifier     # the same JwtVerifier
    value = token()
    first = await verifier.verify_token(value)
    cache = verifier.verifier.cache                            # type: ignore[union-attr]
    before = cache.info()
    second = await verifier.verify_token(value)
    after = cache.info()
    assert first is not None and second is first               # nothing built on a hit
    assert after["hits"] == before["hits"] + 1 and after["misses"] == before["misses"]
    assert jwks_server.fetches == 1
    info = cache.get(value)
    assert isinstance(info, AuthInfo)
    assert info._sdk_user.access_token is first                # the middleware's user's own
    assert (first.token, first.client_id, first.scopes, first.subject, first.resource) == (
        value, "client-1", ["read", "write"], "alice", AUDIENCE)
    assert first.expires_at == int(info.expires_at)            # type: ignore[arg-type]
    assert first.claims["jti"] == "j-1" and first.claims["iss"] == ISSUER
    await mcp_auth.aclose()


async def test_revocations_apply(mcp_auth: MCPAuth) -> None:
    verifier = mcp_auth.token_verifier("jwt", audience=AUDIENCE)
    value, other = token(jti="revoked"), token(jti="kept")
    assert await verifier.verify_token(value) is not None
    assert await verifier.verify_token(other) is not None
    await mcp_auth.revoke(token=value)
    assert await verifier.verify_token(value) is None
    assert await verifier.verify_token(other) is not None
    await mcp_auth.revoke(jti="kept", issuer=ISSUER)
    assert await verifier.verify_token(other) is None
    await mcp_auth.aclose()


async def test_what_it_refuses(mcp_auth: MCPAuth) -> None:
    verifier = mcp_auth.token_verifier("jwt", audience=AUDIENCE)
    now = int(time.time())
    refused = [
        "", "a b", "Bearer", "not-a-jwt", "é" + token(), token() + " x", "x" * 9000,
        token(exp=now - 3600, iat=now - 7200, nbf=now - 7200),
        token(aud="https://other.example.com/mcp"), token(iss="https://evil.example.com"),
        signing_key("ES256", kid="unknown").mint(claims(now)),
        token()[:-4] + "AAAA",
    ]
    for value in refused:
        assert await verifier.verify_token(value) is None, value[:40]
    # Several spaces after "Bearer" (RFC 7235): the SDK hands over " <token>".
    good = token()
    assert (await verifier.verify_token(" " + good)).token == good  # type: ignore[union-attr]
    # Counted as the middleware counts them: each refusal (the SDK's 401) by reason class.
    metrics = mcp_auth.metrics()
    assert metrics["mcpauth_requests_accepted"] == [({}, 1)]
    assert {labels["reason"]: n for labels, n in metrics["mcpauth_requests_refused"]} == {
        "missing": 1, "malformed": 6, "expired": 1, "wrong_audience": 1, "wrong_issuer": 1,
        "unknown_key": 1, "bad_signature": 1}
    await mcp_auth.aclose()


async def test_a_token_for_several_audiences_names_this_resource(mcp_auth: MCPAuth) -> None:
    verifier = mcp_auth.token_verifier("jwt", audience=AUDIENCE)
    access = await verifier.verify_token(token(aud=["https://other.example/mcp", AUDIENCE]))
    assert access is not None and access.resource == AUDIENCE
    await mcp_auth.aclose()


async def test_resource_mode_checks_the_resource_as_audience(jwks_server: JwksServer) -> None:
    from support.app_factory import resource_mode

    mcp_auth = resource_mode(jwks_server)
    verifier = mcp_auth.token_verifier("jwt", resource=AUDIENCE)
    assert (await verifier.verify_token(token())) is not None
    assert await verifier.verify_token(token(aud="https://other.example.com/mcp")) is None
    await mcp_auth.aclose()


async def test_a_provider_outage_is_the_servers_error_not_the_tokens(
        mcp_auth: MCPAuth, jwks_server: JwksServer) -> None:
    jwks_server.mode = "500"
    verifier = mcp_auth.token_verifier("jwt", audience=AUDIENCE)
    with pytest.raises(MCPAuthKeysUnavailableException):
        await verifier.verify_token(token())
    await mcp_auth.aclose()


async def test_introspection_mode(introspection_server: IntrospectionServer) -> None:
    mcp_auth = MCPAuth(server=static_config(ISSUER, introspection_endpoint=introspection_server.url,
                                            jwks_uri=f"{ISSUER}/jwks"))
    verifier = mcp_auth.token_verifier(
        "introspection", audience=AUDIENCE,
        introspection={"client_id": "rs", "client_secret": "secret"})
    value, inactive = opaque_token("active"), opaque_token("inactive")
    now = int(time.time())
    introspection_server.answers[value] = {
        "active": True, "iss": ISSUER, "sub": "bob", "aud": AUDIENCE, "scope": "read",
        "client_id": "client-2", "exp": now + 600, "iat": now}
    first = await verifier.verify_token(value)
    assert first is not None
    assert (first.subject, first.client_id, first.scopes, first.expires_at) == (
        "bob", "client-2", ["read"], now + 600)
    assert await verifier.verify_token(value) is first
    assert introspection_server.calls[value] == 1              # answered from the cache
    assert await verifier.verify_token(inactive) is None
    await mcp_auth.revoke(token=value)
    assert await verifier.verify_token(value) is None
    await mcp_auth.aclose()


async def test_a_custom_verifier_with_policy_and_revocations(jwks_server: JwksServer) -> None:
    mcp_auth = MCPAuth(server=server_config(jwks_server.url))
    calls: list[str] = []

    async def verify(value: str) -> AuthInfo:
        calls.append(value)
        if value == "boom":
            raise RuntimeError(value)
        return AuthInfo(token=value, issuer=ISSUER, subject=value, claims={"sub": value},
                        client_id="c", scopes=["read"], audience=AUDIENCE)

    verifier = mcp_auth.token_verifier(verify, audience=AUDIENCE)
    access = await verifier.verify_token("carol")
    assert access is not None and access.subject == "carol" and access.scopes == ["read"]
    await mcp_auth.revoke(subject="carol", issuer=ISSUER)
    assert await verifier.verify_token("carol") is None
    with pytest.raises(MCPAuthConfigException):               # a broken verifier: 500
        await verifier.verify_token("boom")
    assert calls == ["carol", "carol", "boom"]
    await mcp_auth.aclose()


def test_route_scopes_belong_to_the_sdk(mcp_auth: MCPAuth) -> None:
    with pytest.raises(MCPAuthConfigException, match="AuthSettings"):
        mcp_auth.token_verifier("jwt", audience=AUDIENCE, required_scopes=["read"])
    assert isinstance(mcp_auth.token_verifier("jwt", audience=AUDIENCE), SdkTokenVerifier)


async def test_a_revoked_token_is_refused_on_the_wire(jwks_server: JwksServer) -> None:
    mcp_auth = auth_server_mode(jwks_server)
    app, path = sdk_server(mcp_auth.token_verifier("jwt", audience=AUDIENCE), STATELESS)
    value = token(jti="wire")
    headers = {**HEADERS, "authorization": f"Bearer {value}"}
    with serve(closing(app, mcp_auth)) as base:
        async with httpx.AsyncClient(timeout=10) as client:
            ok = await client.post(base + path, headers=headers, json=INITIALIZE)
            assert ok.status_code == 200, ok.text
            await mcp_auth.revoke(token=value)
            refused = await client.post(base + path, headers=headers, json=INITIALIZE)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"


@pytest.mark.parametrize(("blocked", "said"), [
    (["mcp", "fastmcp"], ["token_verifier needs the MCP SDK: pip install mcp",
                          "fastmcp_verifier needs the MCP SDK: pip install mcp"]),
    (["fastmcp"], ["fastmcp_verifier needs fastmcp: pip install 'mcpauth-fast[fastmcp]'"]),
])
def test_the_frameworks_stay_optional(blocked: list[str], said: list[str]) -> None:
    """Without the MCP SDK (or fastmcp), the package and its integrations import, and asking
    for their verifiers says what to install."""
    code = f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
    code += textwrap.dedent("""
        import mcpauth_fast.integrations.fastmcp, mcpauth_fast.integrations.mcp_sdk
        from mcpauth_fast import MCPAuth
        from mcpauth_fast.config import (
            AuthorizationServerMetadata, AuthServerConfig, AuthServerType)
        from mcpauth_fast.exceptions import MCPAuthConfigException
        auth = MCPAuth(server=AuthServerConfig(type=AuthServerType.OAUTH,
            metadata=AuthorizationServerMetadata(
                issuer="https://issuer.example.com", jwks_uri="https://issuer.example.com/j",
                authorization_endpoint="https://issuer.example.com/a",
                token_endpoint="https://issuer.example.com/t",
                registration_endpoint="https://issuer.example.com/r",
                response_types_supported=["code"], code_challenge_methods_supported=["S256"])))
        for make in (auth.token_verifier, auth.fastmcp_verifier):
            try:
                make("jwt", audience="https://api.example.com")
            except MCPAuthConfigException as error:
                print(error.message)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == said
