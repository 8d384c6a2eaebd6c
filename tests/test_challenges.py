"""Issue 15 item 6: malformed Bearer credentials, a token sent two ways, an unknown kid while
the key set cannot be fetched, URL audiences, and the warning for an http:// resource.

Runs once per implementation (the suite runs a second time with the twin). Every refusal is
asserted whole: status, JSON body and headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from support.app_factory import (
    RESOURCE,
    publish_keys,
    resource_mode,
    server_config,
    whoami_app,
)
from support.jwks_server import JwksServer
from support.local_server import LocalServer, Reply
from support.metadata_server import server_metadata
from support.raw_asgi import request
from support.tokens import ISSUER, claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.config import (
    AuthServerDiscoveryConfig,
    AuthServerType,
    ResourceServerConfig,
    ResourceServerMetadata,
    ServerMetadataPaths,
)
from mcpauth_fast.exceptions import MCPAuthBearerAuthException
from mcpauth_fast.urls import Audiences, fold_url, is_loopback

FORMAT = {"error": "invalid_auth_header_format",
          "error_description": 'Invalid `Authorization` header format. Expected "Bearer <token>".'}
FORMAT_DESCRIPTION = "Invalid `Authorization` header format. Expected 'Bearer <token>'."
MISSING_TOKEN = {"error": "missing_bearer_token",
                 "error_description": "Missing bearer token in `Authorization` header. "
                                      "Please provide a valid token."}
INVALID_TOKEN = {"error": "invalid_token",
                 "error_description": "The provided token is invalid or malformed."}
TAIL = ('scope="read", resource_metadata='
        '"https://mcp.example.com/.well-known/oauth-protected-resource/mcp"')


def token(**overrides: Any) -> str:
    return signing_key("ES256").mint(claims(time.time(), **overrides))


@pytest.fixture
def mcp_auth(jwks_server: JwksServer) -> MCPAuth:
    return resource_mode(jwks_server)


@pytest.fixture
def app(mcp_auth: MCPAuth) -> Any:
    return whoami_app(mcp_auth, mcp_auth.bearer_auth_middleware(
        "jwt", resource=RESOURCE, required_scopes=["read"]))


def refused(answer: Any, status: int, body: dict[str, Any], challenge: str | None) -> None:
    """``answer`` is exactly this refusal: status, JSON body, every header."""
    assert (answer.status, answer.json()) == (status, body)
    headers = {"content-type": "application/json", "cache-control": "no-store",
               "content-length": str(len(answer.body))}
    if challenge is not None:
        headers["www-authenticate"] = challenge
    assert answer.headers == headers


# ---------------------------------------------------------------- malformed Authorization


@pytest.mark.parametrize("value,body", [
    (b"Bearer", FORMAT),                 # the scheme alone
    (b"bearer", FORMAT),
    (b"Bearer ", MISSING_TOKEN),         # the scheme and a space, no token
    (b"Bearer    ", MISSING_TOKEN),
    (b"Bearer\tabc", FORMAT),            # a separator other than SP
    (b"Bearer:abc", FORMAT),
    (b"Bearer,abc", FORMAT),
    (b"Bearer\t", FORMAT),
    (b"Bearer a b", FORMAT),             # two parts after the scheme
    (b"Bearer abc ", FORMAT),
    (b"  Bearer", FORMAT),               # leading whitespace is not part of the scheme
])
async def test_malformed_bearer_credentials_are_invalid_request_in_the_challenge(
        app: Any, value: bytes, body: dict[str, str]) -> None:
    answer = await request(app, [(b"authorization", value)])
    description = FORMAT_DESCRIPTION if body is FORMAT else body["error_description"]
    refused(answer, 401, body,
            f'Bearer error="invalid_request", error_description="{description}", {TAIL}')


@pytest.mark.parametrize("value", [
    b"Basic dXNlcjpwYXNz", b"Bearerabc", b"Bearer-x abc", b"Token abc", b"Bear abc", b"DPoP abc",
])
async def test_another_scheme_is_no_credentials(app: Any, value: bytes) -> None:
    answer = await request(app, [(b"authorization", value)])
    refused(answer, 401, FORMAT, f"Bearer {TAIL}")


@pytest.mark.parametrize("value", [
    b"Bearer abc!def", b"Bearer ab,c", b"Bearer a=b", b"Bearer ==", b"Bearer \xc3\xa9t\xc3\xa9",
])
async def test_a_token_outside_b64token_is_invalid_token(app: Any, value: bytes) -> None:
    answer = await request(app, [(b"authorization", value)])
    refused(answer, 401, INVALID_TOKEN,
            'Bearer error="invalid_token", error_description="The provided token is invalid '
            f'or malformed.", {TAIL}')


async def test_empty_and_absent_headers_are_no_credentials(app: Any) -> None:
    for headers in ([], [(b"authorization", b"")]):
        answer = await request(app, headers)
        refused(answer, 401, {
            "error": "missing_auth_header",
            "error_description": "Missing `Authorization` header. Please provide a valid "
                                 "bearer token."}, f"Bearer {TAIL}")


async def test_a_good_token_still_passes(app: Any) -> None:
    answer = await request(app, [(b"authorization", f"Bearer {token()}".encode())])
    assert answer.status == 200, answer.body


# ---------------------------------------------------------------- unknown kid, keys unavailable


UNAVAILABLE = {"error": "temporarily_unavailable",
               "error_description": "The signing keys of the authorization server cannot be "
                                    "fetched right now. Please retry later."}


class DiscoveryServer(LocalServer):
    """RFC 8414 metadata of its own base URL, whose ``jwks_uri`` is the test's JWKS server."""

    def __init__(self, jwks_uri: str) -> None:
        self.jwks_uri = jwks_uri
        super().__init__()

    def respond(self, path: str) -> Reply:
        if path != ServerMetadataPaths.OAUTH.value:
            return 404, {"content-type": "application/json"}, b"{}"
        data = server_metadata(self.base, jwks_uri=self.jwks_uri)
        return 200, {"content-type": "application/json"}, json.dumps(data).encode()


@pytest.fixture(params=["static", "discovery"])
def source(request: pytest.FixtureRequest,
           jwks_server: JwksServer) -> Iterator[tuple[MCPAuth, str]]:
    """An ``MCPAuth`` whose keys come from ``jwks_server`` (its metadata given, or discovered),
    and the issuer its tokens carry."""
    publish_keys(jwks_server)
    if request.param == "static":
        yield MCPAuth(server=server_config(jwks_server.url)), ISSUER
        return
    discovery = DiscoveryServer(jwks_server.url)
    try:
        yield MCPAuth(server=AuthServerDiscoveryConfig(
            issuer=discovery.base, type=AuthServerType.OAUTH)), discovery.base
    finally:
        discovery.close()


def kid_token(issuer: str, kid: str | None = None) -> bytes:
    key = signing_key("ES256", kid=kid, variant=7 if kid else 0)
    return f"Bearer {key.mint(claims(time.time(), iss=issuer))}".encode()


def unavailable(answer: Any, retry_after: str) -> None:
    assert (answer.status, answer.json()) == (503, UNAVAILABLE)
    assert answer.headers == {"content-type": "application/json", "cache-control": "no-store",
                              "retry-after": retry_after, "content-length": str(len(answer.body))}


UNKNOWN_KID = ('Bearer error="invalid_token", '
               'error_description="The provided token is invalid or malformed."')


@pytest.mark.parametrize("mode", ["500", "hang", "garbage"])
async def test_an_unknown_kid_while_the_key_set_cannot_be_fetched_is_503(
        source: tuple[MCPAuth, str], jwks_server: JwksServer, mode: str) -> None:
    auth, issuer = source
    jwks_server.hang_seconds = 1.0
    app = whoami_app(auth, auth.bearer_auth_middleware(
        "jwt", remote_jwks={"timeout": 0.3, "cooldown": 30}))
    try:
        assert (await request(app, [(b"authorization", kid_token(issuer))])).status == 200
        fetches = jwks_server.fetches
        jwks_server.mode = mode
        unknown = [(b"authorization", kid_token(issuer, "rotated-in"))]
        # The key may well exist: the server cannot tell, so not 401 but 503 until the next
        # fetch may start (the kid cooldown).
        unavailable(await request(app, unknown), "30")
        assert jwks_server.fetches == fetches + 1
        # In the cooldown after the failed fetch: 503 again, without a fetch.
        unavailable(await request(app, unknown), "30")
        assert jwks_server.fetches == fetches + 1
        # A known kid is still served from the last good set.
        assert (await request(app, [(b"authorization", kid_token(issuer))])).status == 200
    finally:
        await auth.aclose()


async def test_the_provider_recovers_and_an_unknown_kid_is_401_again(
        source: tuple[MCPAuth, str], jwks_server: JwksServer) -> None:
    auth, issuer = source
    app = whoami_app(auth, auth.bearer_auth_middleware(
        "jwt", remote_jwks={"timeout": 0.3, "cooldown": 1}))
    unknown = [(b"authorization", kid_token(issuer, "never-published"))]
    try:
        assert (await request(app, [(b"authorization", kid_token(issuer))])).status == 200
        # A kid missing from a set just fetched (successfully) is an invalid token ...
        refused(await request(app, unknown), 401, INVALID_TOKEN, UNKNOWN_KID)
        fetches = jwks_server.fetches
        # ... and stays one in the cooldown after that fetch (no new fetch).
        refused(await request(app, unknown), 401, INVALID_TOKEN, UNKNOWN_KID)
        assert jwks_server.fetches == fetches
        await asyncio.sleep(1.05)
        jwks_server.mode = "500"
        unavailable(await request(app, unknown), "1")
        await asyncio.sleep(1.05)                 # past the cooldown and the backoff
        jwks_server.mode = "ok"
        refused(await request(app, unknown), 401, INVALID_TOKEN, UNKNOWN_KID)
        assert jwks_server.fetches == fetches + 2
    finally:
        await auth.aclose()


# ---------------------------------------------------------------- URL audiences


@pytest.mark.parametrize("audience,accepted", [
    ("https://mcp.example.com/mcp", True),
    ("HTTPS://MCP.Example.com/mcp", True),
    ("https://MCP.EXAMPLE.COM/mcp", True),
    (["https://other.example", "Https://mcp.example.COM/mcp"], True),
    ("https://mcp.example.com/MCP", False),      # the path stays case-sensitive
    ("https://mcp.example.com/mcp/", False),
    ("https://mcp.example.com:443/mcp", False),  # only case is folded, not default ports
    ("https://user@mcp.example.com/mcp", False),
])
@pytest.mark.parametrize("configured", ["https://mcp.example.com/mcp",
                                        "https://MCP.example.com/mcp"])
async def test_url_audiences_compare_scheme_and_host_case_insensitively(
        mcp_auth: MCPAuth, audience: Any, accepted: bool, configured: str) -> None:
    app = whoami_app(mcp_auth, mcp_auth.bearer_auth_middleware(
        "jwt", resource=RESOURCE, audience=configured, show_error_details=True))
    headers = [(b"authorization", f"Bearer {token(aud=audience)}".encode())]
    for _ in range(2):  # verified, then answered from the cache: the same decision
        answer = await request(app, headers)
        if accepted:
            assert answer.status == 200, answer.body
        else:
            assert (answer.status, answer.json()) == (401, {
                "error": "invalid_audience",
                "error_description": "The token audience does not match the expected audience.",
                "cause": {"expected": configured, "actual": audience}})


@pytest.mark.parametrize("build", [frozenset, Audiences])
def test_check_policy_folds_url_audiences_on_a_miss(speedups: ModuleType, build: Any) -> None:
    audiences = build(["https://mcp.example.com/mcp", "urn:Example:API"])
    for audience in ("https://mcp.example.com/mcp", "HTTPS://Mcp.Example.Com/mcp",
                     ["x", "hTTps://MCP.example.com/mcp"], "urn:Example:API"):
        speedups.check_policy("i", audience, (), None, audiences, ())
    for audience in ("https://mcp.example.com/Mcp", "urn:example:api", "URN:Example:API", None,
                     5, ["https://mcp.example.com/MCP"], "HTTPS://mcp.example.com", ""):
        with pytest.raises(MCPAuthBearerAuthException) as info:
            speedups.check_policy("i", audience, (), None, audiences, ())
        assert info.value.error_code == "invalid_audience"


def test_fold_url() -> None:
    assert fold_url("HTTPS://MCP.Example.com:8443/A/B?Q=C#D") == (
        "https://mcp.example.com:8443/A/B?Q=C#D")
    assert fold_url("https://User:Pw@HOST/x") == "https://User:Pw@host/x"
    assert fold_url("HTTP://[::ABC]:80/p") == "http://[::abc]:80/p"
    for unchanged in ("urn:Foo:Bar", "my-API", "", "https:/x/Y", "://X"):
        assert fold_url(unchanged) == unchanged
    assert fold_url("HTTPS://É.EXAMPLE/") == "https://É.example/"  # ASCII letters only
    assert Audiences(["HTTPS://A.example/X"]).folded == {"https://a.example/X"}


# ---------------------------------------------------------------- a resource over plain http


def _insecure_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "mcpauth_fast" and r.levelno == logging.WARNING and "plain http" in
            r.getMessage()]


def resource_auth(jwks_server: JwksServer, resource: str) -> MCPAuth:
    return MCPAuth(protected_resources=ResourceServerConfig(metadata=ResourceServerMetadata(
        resource=resource, authorization_servers=[server_config(jwks_server.url)])))


def test_an_http_resource_on_a_public_host_warns_once(
        jwks_server: JwksServer, caplog: pytest.LogCaptureFixture) -> None:
    resource = "http://mcp.warn-once.example/mcp"
    auth = resource_auth(jwks_server, resource)
    auth.bearer_auth_middleware("jwt", resource=resource)
    resource_auth(jwks_server, resource).bearer_auth_middleware("jwt", resource=resource)
    assert _insecure_warnings(caplog) == [
        f"the protected resource {resource} is served over plain http: bearer tokens sent to "
        "it can be read and replayed by anyone on the way; use https (http is fine on "
        "loopback only)"]


@pytest.mark.parametrize("resource", [
    "https://mcp.example.com/mcp", "http://127.0.0.1:8000/mcp", "http://127.8.9.10/mcp",
    "http://localhost:8000/mcp", "http://LOCALHOST/mcp", "http://[::1]:8000/mcp",
    "http://app.localhost/mcp",
])
def test_https_and_loopback_resources_do_not_warn(
        jwks_server: JwksServer, caplog: pytest.LogCaptureFixture, resource: str) -> None:
    resource_auth(jwks_server, resource).bearer_auth_middleware("jwt", resource=resource)
    assert _insecure_warnings(caplog) == []


@pytest.mark.parametrize("host", ["10.0.0.5", "mcp.lan", "128.0.0.1", "[::2]", "localhost.evil"])
def test_other_http_hosts_warn(jwks_server: JwksServer, caplog: pytest.LogCaptureFixture,
                               host: str) -> None:
    resource = f"http://{host}:9{len(host)}/mcp-{host.strip('[]')}"
    resource_auth(jwks_server, resource)
    assert len(_insecure_warnings(caplog)) == 1


def test_is_loopback() -> None:
    for host in ("localhost", "127.0.0.1", "127.255.0.1", "::1", "[::1]", "a.localhost",
                 "localhost."):
        assert is_loopback(host), host
    for host in ("mcp.example.com", "128.0.0.1", "::2", "localhost.example", "0.0.0.0", ""):
        assert not is_loopback(host), host
