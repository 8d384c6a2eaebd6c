"""Issue 15 item 6: malformed Bearer credentials, a token sent two ways, an unknown kid while
the key set cannot be fetched, URL audiences, and the warning for an http:// resource.

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
