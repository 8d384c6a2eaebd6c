"""Issue 15 item 7: Origin validation (the streamable HTTP transport's MUST, DNS rebinding).

Runs once per implementation (the suite runs a second time with the twin). Every refusal is
asserted whole: status, JSON body and headers.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from support.app_factory import RESOURCE, resource_mode, whoami_app
from support.jwks_server import JwksServer
from support.raw_asgi import request
from support.tokens import claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.exceptions import MCPAuthConfigException
from mcpauth_fast.origin import OriginPolicy, parse_origin

FORBIDDEN = {"error": "invalid_origin",
             "error_description": "The request's `Origin` is not allowed to use this server."}


def token() -> bytes:
    return f"Bearer {signing_key('ES256').mint(claims(time.time()))}".encode()


@pytest.fixture
def mcp_auth(jwks_server: JwksServer) -> MCPAuth:
    return resource_mode(jwks_server)


def app_for(mcp_auth: MCPAuth, **options: Any) -> Any:
    return whoami_app(mcp_auth, mcp_auth.bearer_auth_middleware(
        "jwt", resource=RESOURCE, **options))


def forbidden(answer: Any, cause: str | None = None) -> None:
    body = dict(FORBIDDEN, cause=cause) if cause else FORBIDDEN
    assert (answer.status, answer.json()) == (403, body)
    assert answer.headers == {"content-type": "application/json", "cache-control": "no-store",
                              "content-length": str(len(answer.body))}


def headers(*origins: bytes, host: bytes = b"testserver") -> list[tuple[bytes, bytes]]:
    return [(b"host", host), (b"authorization", token()),
            *((b"origin", origin) for origin in origins)]


async def test_no_origin_passes(mcp_auth: MCPAuth) -> None:
    assert (await request(app_for(mcp_auth), headers())).status == 200


@pytest.mark.parametrize("origin,host,scheme", [
    (b"http://testserver", b"testserver", "http"),
    (b"http://testserver:80", b"testserver", "http"),       # default ports normalised
    (b"http://testserver", b"testserver:80", "http"),
    (b"HTTP://TestServer", b"testserver", "http"),           # scheme and host fold
    (b"http://127.0.0.1:8000", b"127.0.0.1:8000", "http"),
    (b"http://[::1]:8000", b"[::1]:8000", "http"),
    (b"https://mcp.local", b"mcp.local:443", "https"),
    (b"https://mcp.local", b"mcp.local", "wss"),             # a websocket's page is https
    (b"https://mcp.example.com", b"proxy.internal:8080", "http"),  # the resource's origin
    (b"https://mcp.example.com:443", b"testserver", "http"),
])
async def test_same_origin_and_the_resource_origin_pass(
        mcp_auth: MCPAuth, origin: bytes, host: bytes, scheme: str) -> None:
    answer = await request(app_for(mcp_auth), headers(origin, host=host),
                           scheme=scheme if scheme != "wss" else "https")
    assert answer.status == 200, answer.body


async def test_the_host_falls_back_to_the_scope_server(mcp_auth: MCPAuth) -> None:
    answer = await request(app_for(mcp_auth),
                           [(b"authorization", token()), (b"origin", b"http://10.1.2.3:9000")],
                           server=("10.1.2.3", 9000))
    assert answer.status == 200, answer.body


@pytest.mark.parametrize("origin", [
    b"http://evil.example", b"https://testserver",        # another scheme is another origin
    b"http://testserver:8080", b"http://testserver.evil.example", b"http://mcp.example.com",
    b"null", b"", b"garbage", b"http://testserver/", b"http://testserver/path",
    b"http://user@testserver", b"http://testserver:", b"http://testserver:99999",
    b"http://test server", b"\xff\xfe", b"*", b"http://testserver?x", b"//testserver",
])
async def test_any_other_origin_is_403_before_any_token_work(
        mcp_auth: MCPAuth, jwks_server: JwksServer, origin: bytes) -> None:
    forbidden(await request(app_for(mcp_auth), headers(origin)))
    assert jwks_server.fetches == 0  # a good token, but not even its keys were fetched


async def test_two_origin_headers_are_403(mcp_auth: MCPAuth) -> None:
    app = app_for(mcp_auth, show_error_details=True)
    forbidden(await request(app, headers(b"http://testserver", b"http://testserver")),
              "more than one Origin header")


async def test_the_cause_says_why_with_details_on(mcp_auth: MCPAuth) -> None:
    app = app_for(mcp_auth, show_error_details=True)
    forbidden(await request(app, headers(b"null")), "the null origin is not allowed")
    forbidden(await request(app, headers(b"http://a/b")),
              "the Origin header is not a serialised origin")
    forbidden(await request(app, headers(b"http://evil.example")),
              "the origin is not the request's own nor an allowed one")


async def test_allowed_origins_widen_the_rule(mcp_auth: MCPAuth) -> None:
    app = app_for(mcp_auth, allowed_origins=["https://app.example.com", "http://localhost:6274",
                                             "null"])
    for origin in (b"https://app.example.com", b"HTTPS://APP.example.com:443",
                   b"http://localhost:6274", b"null", b"http://testserver"):
        assert (await request(app, headers(origin))).status == 200, origin
    for origin in (b"https://app.example.com:8443", b"http://app.example.com",
                   b"http://localhost:6275", b"https://evil.example"):
        forbidden(await request(app, headers(origin)))


async def test_a_refused_origin_without_a_token_is_still_403(mcp_auth: MCPAuth) -> None:
    forbidden(await request(app_for(mcp_auth), [(b"origin", b"http://evil.example")]))


async def test_without_a_token_an_allowed_origin_gets_the_usual_401(mcp_auth: MCPAuth) -> None:
    answer = await request(app_for(mcp_auth), [(b"host", b"testserver"),
                                               (b"origin", b"http://testserver")])
    assert answer.status == 401 and answer.json()["error"] == "missing_auth_header"


async def ws_app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})


async def test_websockets_are_checked_too(mcp_auth: MCPAuth) -> None:
    middleware = mcp_auth.bearer_auth_middleware("jwt", resource=RESOURCE)
    app = middleware(ws_app)
    accepted = await request(app, headers(b"https://testserver"), kind="websocket",
                             scheme="wss")
    assert (accepted.status, accepted.close_code) == (101, None)
    refused = await request(app, headers(b"https://evil.example"), kind="websocket",
                            scheme="wss")
    assert refused.close_code == 1008


@pytest.mark.parametrize("allowed", [
    "https://app.example.com", ["https://app.example.com/"], ["https://app.example.com/x"],
    ["*"], ["https://*.example.com"], ["app.example.com"], [""], [5], ["https://u@a.example"],
    [b"https://app.example.com"], ["https://a.example:port"],
])
def test_allowed_origins_are_validated_at_construction(mcp_auth: MCPAuth, allowed: Any) -> None:
    with pytest.raises(MCPAuthConfigException) as info:
        mcp_auth.bearer_auth_middleware("jwt", resource=RESOURCE, allowed_origins=allowed)
    assert info.value.error_code == "invalid_option"


def test_parse_origin() -> None:
    assert parse_origin("https://A.Example:443") == ("https", "a.example", 443)
    assert parse_origin("http://a.example") == ("http", "a.example", 80)
    assert parse_origin("chrome-extension://abcdef") == ("chrome-extension", "abcdef", None)
    assert parse_origin("http://[::1]:3000") == ("http", "[::1]", 3000)
    for bad in ("null", "", "a.example", "https://a.example/", "https://", "http://[::1"):
        assert parse_origin(bad) is None, bad
    assert OriginPolicy(["https://a.example"], "https://mcp.example/x").allowed == {
        ("https", "a.example", 443), ("https", "mcp.example", 443)}
