"""Introspection mode (RFC 7662) end to end: the middleware, a real introspection endpoint on
127.0.0.1 (``support.introspection_server``) that answers, fails or hangs on demand.

Every validation rule refused, every client authentication method as the server sees it, the
cache (active until exp capped, refused briefly, errors never), single flight, the concurrency
bound, the 503s, and "auto" mode.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from support.introspection_server import (  # noqa: F401 - the fixture
    IntrospectionServer,
    introspection_server_fixture,
    opaque_token,
)
from support.jwks_server import JwksServer
from support.metadata_server import static_config
from support.tokens import AUDIENCE, ISSUER, claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.exceptions import (
    MCPAuthAuthServerException,
    MCPAuthConfigException,
    MCPAuthIntrospectionUnavailableException,
    MCPAuthTokenVerificationException,
)
from mcpauth_fast.introspection import ClientAuth, IntrospectionVerifier
from mcpauth_fast.jwks import StaticKeys
from mcpauth_fast.jws_sign import b64url_json
from mcpauth_fast.verifier import JwtVerifier

CLIENT_ID = "rs client"          # a space and a colon-free id: form-encoded in Basic
SECRET = "s3cr:et/+%"           # characters that RFC 6749's form-encoding changes


def active(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    answer: dict[str, Any] = {
        "active": True, "iss": ISSUER, "sub": "alice", "aud": AUDIENCE, "scope": "read write",
        "client_id": "client-1", "exp": now + 3600, "iat": now, "nbf": now,
        "token_type": "Bearer",
    }
    for name, value in overrides.items():
        if value is None:
            answer.pop(name, None)
        else:
            answer[name] = value
    return answer


def auth_for(server: IntrospectionServer, jwks_uri: str | None = None) -> MCPAuth:
    return MCPAuth(server=static_config(
        ISSUER, introspection_endpoint=server.url,
        jwks_uri=jwks_uri or f"{ISSUER}/jwks"))


async def whoami(request: Request) -> JSONResponse:
    info = request.scope["auth"]
    return JSONResponse({"sub": info.subject, "iss": info.issuer, "scopes": list(info.scopes),
                         "client_id": info.client_id, "aud": info.audience,
                         "exp": info.expires_at, "username": info.claims.get("username")})


def client_of(mcp_auth: MCPAuth, mode: str = "introspection", **options: Any
              ) -> httpx.AsyncClient:
    introspection = {"client_id": CLIENT_ID, "client_secret": SECRET, **options}
    bearer = mcp_auth.bearer_auth_middleware(
        mode, audience=AUDIENCE, required_scopes=["read"], introspection=introspection)
    app = Starlette(routes=[Route("/", whoami)], middleware=[Middleware(bearer)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver")


@pytest.fixture
async def client(introspection_server: IntrospectionServer) -> AsyncIterator[httpx.AsyncClient]:
    mcp_auth = auth_for(introspection_server)
    async with client_of(mcp_auth, timeout=0.5) as http:
        yield http
    await mcp_auth.aclose()


async def get(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get("/", headers={"authorization": f"Bearer {token}"})


# --- an active token ------------------------------------------------------------------------

async def test_an_active_token_becomes_the_same_auth_info(
        client: httpx.AsyncClient, introspection_server: IntrospectionServer) -> None:
    token = opaque_token()
    answer = active(username="alice@example.com")
    introspection_server.answers[token] = answer
    response = await get(client, token)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "sub": "alice", "iss": ISSUER, "scopes": ["read", "write"], "client_id": "client-1",
        "aud": AUDIENCE, "exp": answer["exp"], "username": "alice@example.com"}
    form = introspection_server.seen[0].form
    assert form["token"] == token and form["token_type_hint"] == "access_token"


# --- every rule, refused --------------------------------------------------------------------

REFUSED = {
    "inactive": {"active": False},
    "active is the string true": active(active="true"),
    "active is 1": active(active=1),
    "active missing": active(active=None),
    "expired": active(exp=int(time.time()) - 3600),
    "not valid yet": active(nbf=int(time.time()) + 3600),
    "exp not a number": active(exp="tomorrow"),
    "untrusted issuer": active(iss="https://evil.example"),
    "refresh token": active(token_type="refresh_token"),
    "DPoP-bound token": active(token_type="DPoP"),
    "id token": active(token_type="id_token"),
    "no subject": active(sub=None),
    "scope as a list": active(scope=["read"]),
    "scope with a quote": active(scope='read "write'),
    "client_id a number": active(client_id=7),
    "aud a number": active(aud=5),
}


@pytest.mark.parametrize("answer", REFUSED.values(), ids=REFUSED.keys())
async def test_every_rule_is_refused_with_401(
        client: httpx.AsyncClient, introspection_server: IntrospectionServer,
        answer: dict[str, Any]) -> None:
    token = opaque_token()
    introspection_server.answers[token] = answer
    response = await get(client, token)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_another_audience_and_missing_scopes_follow_the_route_policy(
        client: httpx.AsyncClient, introspection_server: IntrospectionServer) -> None:
    other, none, no_aud = opaque_token(), opaque_token(), opaque_token()
    introspection_server.answers[other] = active(aud="https://other.example/mcp")
    introspection_server.answers[none] = active(scope="write")
    introspection_server.answers[no_aud] = active(aud=None)
    assert (await get(client, other)).json()["error"] == "invalid_audience"
    assert (await get(client, no_aud)).json()["error"] == "invalid_audience"
    refused = await get(client, none)
    assert refused.status_code == 403
    assert refused.json()["missing_scopes"] == ["read"]


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "access_token",
                                        "urn:ietf:params:oauth:token-type:access_token"])
async def test_bearer_access_token_types_are_accepted(
        client: httpx.AsyncClient, introspection_server: IntrospectionServer,
        token_type: str) -> None:
    token = opaque_token()
    introspection_server.answers[token] = active(token_type=token_type)
    assert (await get(client, token)).status_code == 200


async def test_no_iss_in_the_answer_is_the_servers_own(
        client: httpx.AsyncClient, introspection_server: IntrospectionServer) -> None:
    token = opaque_token()
    introspection_server.answers[token] = active(iss=None, exp=None, token_type=None)
    response = await get(client, token)
    assert response.status_code == 200
    assert response.json()["iss"] == ISSUER and response.json()["exp"] is None


# --- the provider fails: 503 with Retry-After, never cached ---------------------------------

@pytest.mark.parametrize("mode", ["500", "garbage", "not_object", "hang"])
async def test_a_failing_provider_is_503_and_never_cached(
        client: httpx.AsyncClient, introspection_server: IntrospectionServer,
        mode: str) -> None:
    token = opaque_token()
    introspection_server.answers[token] = active()
    introspection_server.mode = mode
    introspection_server.hang_seconds = 1.5
    started = time.monotonic()
    response = await get(client, token)
    assert time.monotonic() - started < 1.4  # the timeout (0.5 s), not the hang
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "temporarily_unavailable"
    introspection_server.mode = "ok"
    assert (await get(client, token)).status_code == 200  # asked again: nothing was kept
    assert introspection_server.calls[token] == 2


async def test_an_unreachable_provider_is_503() -> None:
    verifier = IntrospectionVerifier(
        "http://127.0.0.1:9/introspect", ClientAuth("c", client_secret="s"),
        issuers=frozenset({ISSUER}), default_issuer=ISSUER, timeout=2)
    with pytest.raises(MCPAuthIntrospectionUnavailableException) as raised:
        await verifier.verify(opaque_token())
    assert raised.value.status_code == 503 and raised.value.retry_after == 1
    with pytest.raises(MCPAuthIntrospectionUnavailableException) as again:
        await verifier.verify(opaque_token())
    assert again.value.retry_after == 2  # grows while the outage lasts
    await verifier.aclose()


# --- client authentication, as the server sees it -------------------------------------------

async def test_client_secret_basic_is_the_form_encoded_pair(
        client: httpx.AsyncClient, introspection_server: IntrospectionServer) -> None:
    await get(client, opaque_token())
    seen = introspection_server.seen[0]
    pair = f"{quote_plus(CLIENT_ID)}:{quote_plus(SECRET)}".encode()
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(pair).decode()
    assert "client_secret" not in seen.form and "client_id" not in seen.form
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"


async def test_client_secret_post_sends_form_fields_only(
        introspection_server: IntrospectionServer) -> None:
    mcp_auth = auth_for(introspection_server)
    async with client_of(mcp_auth, auth_method="client_secret_post") as http:
        await get(http, opaque_token())
    seen = introspection_server.seen[0]
    assert "authorization" not in seen.headers
    assert seen.form["client_id"] == CLIENT_ID and seen.form["client_secret"] == SECRET
    await mcp_auth.aclose()


async def test_private_key_jwt_sends_a_verifiable_client_assertion(
        introspection_server: IntrospectionServer) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    mcp_auth = auth_for(introspection_server)
    bearer = mcp_auth.bearer_auth_middleware(
        "introspection", audience=AUDIENCE, introspection={
            "client_id": CLIENT_ID, "private_key": key, "key_id": "rs-key"})
    app = Starlette(routes=[Route("/", whoami)], middleware=[Middleware(bearer)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://testserver") as http:
        await get(http, opaque_token())
        await get(http, opaque_token())
    first, second = (seen.form for seen in introspection_server.seen)
    assert "authorization" not in introspection_server.seen[0].headers
    assert first["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    assert first["client_id"] == CLIENT_ID
    public = {"keys": [{**_ec_jwk(key), "kid": "rs-key", "alg": "ES256"}]}
    info = JwtVerifier(StaticKeys(public), leeway=0).verify_sync(first["client_assertion"])
    assert info.issuer == info.subject == CLIENT_ID
    assert info.audience == introspection_server.url
    assert info.expires_at is not None and info.expires_at - time.time() <= 60
    again = JwtVerifier(StaticKeys(public)).verify_sync(second["client_assertion"])
    assert again.claims["jti"] != info.claims["jti"]  # a new assertion every call
    await mcp_auth.aclose()


def _ec_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    from mcpauth_fast.dev.signing import export_jwk

    return export_jwk(key)


# --- caching --------------------------------------------------------------------------------

async def test_an_active_answer_is_cached(
        client: httpx.AsyncClient, introspection_server: IntrospectionServer) -> None:
    token = opaque_token()
    introspection_server.answers[token] = active()
    for _ in range(5):
        assert (await get(client, token)).status_code == 200
    assert introspection_server.calls[token] == 1


async def test_an_inactive_answer_is_cached_briefly(
        introspection_server: IntrospectionServer) -> None:
    mcp_auth = auth_for(introspection_server)
    token = opaque_token()
    async with client_of(mcp_auth, inactive_cache_seconds=0.3) as http:
        assert (await get(http, token)).status_code == 401
        assert (await get(http, token)).status_code == 401
        assert introspection_server.calls[token] == 1
        await asyncio.sleep(0.35)
        introspection_server.answers[token] = active()
        assert (await get(http, token)).status_code == 200
    assert introspection_server.calls[token] == 2
    await mcp_auth.aclose()


def verifier_at(server: IntrospectionServer, clock: Callable[[], float],
                **options: Any) -> IntrospectionVerifier:
    return IntrospectionVerifier(
        server.url, ClientAuth(CLIENT_ID, client_secret=SECRET), issuers=frozenset({ISSUER}),
        default_issuer=ISSUER, clock=clock, **options)


async def test_an_entry_lives_until_exp_capped_by_max_cache_seconds(
        introspection_server: IntrospectionServer) -> None:
    now = [time.time()]
    verifier = verifier_at(introspection_server, lambda: now[0], max_cache_seconds=60, leeway=0)
    short, long = opaque_token(), opaque_token()
    introspection_server.answers[short] = active(exp=int(now[0]) + 20)
    introspection_server.answers[long] = active(exp=int(now[0]) + 3600)
    await verifier.verify(short)
    await verifier.verify(long)
    now[0] += 19
    await verifier.verify(short)
    await verifier.verify(long)
    assert introspection_server.total == 2
    now[0] += 2  # short's exp has passed: asked again (and its answer is now refused)
    with pytest.raises(MCPAuthTokenVerificationException):
        await verifier.verify(short)
    await verifier.verify(long)
    assert introspection_server.calls[short] == 2 and introspection_server.calls[long] == 1
    now[0] += 40  # 61 s after the first answer: the cap
    await verifier.verify(long)
    assert introspection_server.calls[long] == 2
    info = verifier.cache_info()
    assert info["active"]["maxsize"] == 4096 and info["calls"] == 4
    await verifier.aclose()


async def test_forget_drops_a_token_and_the_cache_is_bounded(
        introspection_server: IntrospectionServer) -> None:
    verifier = verifier_at(introspection_server, time.time, cache_size=2)
    tokens = [opaque_token() for _ in range(3)]
    for token in tokens:
        introspection_server.answers[token] = active()
        await verifier.verify(token)
    assert verifier.cache_info()["active"]["size"] == 2
    await verifier.verify(tokens[2])
    verifier.forget(tokens[2])
    await verifier.verify(tokens[2])
    assert introspection_server.calls[tokens[2]] == 2
    verifier.cache_clear()
    assert verifier.cache_info()["active"]["size"] == 0
    await verifier.aclose()


# --- single flight, and the bound on concurrent calls ---------------------------------------

async def test_concurrent_requests_for_one_token_make_one_call(
        client: httpx.AsyncClient, introspection_server: IntrospectionServer) -> None:
    token = opaque_token()
    introspection_server.answers[token] = active()
    introspection_server.delay = 0.2
    responses = await asyncio.gather(*(get(client, token) for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert introspection_server.calls[token] == 1


async def test_concurrent_failures_are_shared_too(
        client: httpx.AsyncClient, introspection_server: IntrospectionServer) -> None:
    token = opaque_token()
    introspection_server.mode = "500"
    introspection_server.delay = 0.2
    responses = await asyncio.gather(*(get(client, token) for _ in range(10)))
    assert {r.status_code for r in responses} == {503}
    assert introspection_server.calls[token] == 1


async def test_the_number_of_calls_in_flight_is_bounded(
        introspection_server: IntrospectionServer) -> None:
    verifier = verifier_at(introspection_server, time.time, max_concurrency=2, timeout=5)
    tokens = [opaque_token() for _ in range(8)]
    for token in tokens:
        introspection_server.answers[token] = active()
    introspection_server.delay = 0.1
    infos = await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert [i.token for i in infos] == tokens
    assert introspection_server.max_in_flight == 2
    await verifier.aclose()


async def test_a_full_queue_is_503_within_the_timeout(
        introspection_server: IntrospectionServer) -> None:
    verifier = verifier_at(introspection_server, time.time, max_concurrency=1, timeout=0.5)
    introspection_server.mode = "hang"
    introspection_server.hang_seconds = 1.0
    started = time.monotonic()
    results = await asyncio.gather(*(verifier.verify(opaque_token()) for _ in range(4)),
                                   return_exceptions=True)
    assert all(isinstance(r, MCPAuthIntrospectionUnavailableException) for r in results)
    assert time.monotonic() - started < 0.9
    assert introspection_server.max_in_flight == 1
    await verifier.aclose()


# --- "auto" mode ----------------------------------------------------------------------------

async def test_auto_verifies_a_trusted_jws_locally_and_introspects_the_rest(
        introspection_server: IntrospectionServer, jwks_server: JwksServer) -> None:
    key = signing_key("ES256")
    jwks_server.document = {"keys": [key.jwk()]}
    mcp_auth = auth_for(introspection_server, jwks_uri=jwks_server.url)
    jws = key.mint(claims(time.time(), aud=AUDIENCE))
    forged = key.mint(claims(time.time(), aud=AUDIENCE, sub="mallory"))
    forged = forged.rpartition(".")[0] + "." + jws.rpartition(".")[2]
    untrusted = key.mint(claims(time.time(), iss="https://elsewhere.example", aud=AUDIENCE))
    opaque = opaque_token()
    introspection_server.answers[opaque] = active(sub="bob")
    async with client_of(mcp_auth, "auto") as http:
        assert (await get(http, jws)).json()["sub"] == "alice"
        assert (await get(http, jws)).status_code == 200
        assert (await get(http, forged)).status_code == 401
        assert (await get(http, opaque)).json()["sub"] == "bob"
        assert (await get(http, opaque)).status_code == 200
        assert (await get(http, untrusted)).status_code == 401
    assert introspection_server.calls == {opaque: 1, untrusted: 1}
    await mcp_auth.aclose()


# --- bad input, configuration ---------------------------------------------------------------

@pytest.mark.parametrize("token", ["a" * 20000, "x.y.z", b64url_json({"iss": ISSUER}) + ".."])
async def test_odd_tokens_are_4xx(client: httpx.AsyncClient, token: str) -> None:
    response = await get(client, token)
    assert 400 <= response.status_code < 500


def test_configuration_errors(introspection_server: IntrospectionServer) -> None:
    mcp_auth = auth_for(introspection_server)
    with pytest.raises(MCPAuthConfigException, match="needs `introspection`"):
        mcp_auth.bearer_auth_middleware("introspection")
    with pytest.raises(MCPAuthConfigException, match="client_id"):
        mcp_auth.bearer_auth_middleware("introspection", introspection={"client_secret": "s"})
    with pytest.raises(MCPAuthConfigException, match="client_secret"):
        mcp_auth.bearer_auth_middleware("introspection", introspection={"client_id": "c"})
    with pytest.raises(MCPAuthConfigException, match="Unknown introspection"):
        mcp_auth.bearer_auth_middleware("introspection", introspection={"colour": "red"})
    with pytest.raises(MCPAuthConfigException, match="'introspection' and 'auto'"):
        mcp_auth.bearer_auth_middleware("jwt", introspection={"client_id": "c"})
    with pytest.raises(MCPAuthConfigException, match="auth_method"):
        mcp_auth.bearer_auth_middleware("introspection", introspection={
            "client_id": "c", "client_secret": "s", "auth_method": "none"})
    with pytest.raises(MCPAuthConfigException, match="private key"):
        mcp_auth.bearer_auth_middleware("introspection", introspection={
            "client_id": "c", "private_key": "not a key"})
    without = MCPAuth(server=static_config(ISSUER))
    with pytest.raises(MCPAuthAuthServerException) as missing:
        without.bearer_auth_middleware("introspection", introspection={
            "client_id": "c", "client_secret": "s"})
    assert missing.value.error_code == "missing_introspection_endpoint"
    # An endpoint in configuration needs none in the metadata.
    without.bearer_auth_middleware("introspection", introspection={
        "client_id": "c", "client_secret": "s", "endpoint": introspection_server.url})
    assert "s3cr" not in repr(ClientAuth(CLIENT_ID, client_secret=SECRET))
