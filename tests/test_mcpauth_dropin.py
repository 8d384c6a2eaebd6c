"""What code written for mcpauth 0.1.1 does with mcpauth-fast, beyond the names and the claims.

``test_mcpauth_compat.py`` checks that every name exists with a compatible signature and
``test_mcpauth_differential.py`` that requests get the same answers; this module checks what
those names do when used as mcpauth's users use them: ``create_verify_jwt`` (with a JWKS URI,
a ``PyJWKClient`` and a ``PyJWK``, in the middleware and called directly),
``create_bearer_auth`` and ``get_bearer_token_from_headers``, the issuer URL check, the
configuration warnings, and values that compare like mcpauth's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextvars import ContextVar
from typing import Any

import jwt
import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from support.app_factory import server_config
from support.jwks_server import JwksServer
from support.tokens import AUDIENCE, ISSUER, claims, signing_key

from mcpauth_fast import BearerAuthConfig, MCPAuth
from mcpauth_fast.exceptions import (
    MCPAuthBearerAuthException,
    MCPAuthBearerAuthExceptionDetails,
    MCPAuthTokenVerificationException,
)
from mcpauth_fast.middleware.create_bearer_auth import (
    create_bearer_auth,
    get_bearer_token_from_headers,
)
from mcpauth_fast.types import AuthInfo
from mcpauth_fast.utils import create_verify_jwt

KEY = signing_key("RS256")


def token(**overrides: Any) -> str:
    return KEY.mint(claims(time.time(), **overrides))


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def subject_app(middleware: Any) -> Starlette:
    async def route(request: Request) -> JSONResponse:
        info = request.scope["auth"]
        return JSONResponse({"subject": info.subject, "scopes": info.scopes})

    return Starlette(routes=[Route("/", route)], middleware=[Middleware(middleware)])


@pytest.fixture
def jwks_url(jwks_server: JwksServer) -> str:
    jwks_server.document = {"keys": [KEY.jwk(), signing_key("RS384").jwk()]}
    return jwks_server.url


# ---------------------------------------------------------------- create_verify_jwt


def test_create_verify_jwt_from_a_uri_in_the_middleware(
        jwks_url: str, jwks_server: JwksServer) -> None:
    verify = create_verify_jwt(jwks_url, leeway=10)
    mcp_auth = MCPAuth(server=server_config(jwks_url))
    middleware = mcp_auth.bearer_auth_middleware(verify, audience=AUDIENCE)
    same = token()
    with TestClient(subject_app(middleware)) as client:
        for _ in range(3):
            response = client.get("/", headers=bearer(same))
            assert response.status_code == 200, response.text
            assert response.json() == {"subject": "alice", "scopes": ["read", "write"]}
        refused = client.get("/", headers=bearer(token(aud="https://other.example/mcp")))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_audience"
    # One key set fetch for all of it, and the repeated token verified once.
    assert jwks_server.fetches == 1
    assert verify.verifier.cache.info()["size"] == 2


def test_create_verify_jwt_called_directly_blocks_for_the_keys(jwks_url: str) -> None:
    verify = create_verify_jwt(jwks_url)
    info = verify(token())
    assert isinstance(info, AuthInfo) and info.subject == "alice" and info.issuer == ISSUER
    with pytest.raises(MCPAuthTokenVerificationException) as refused:
        verify(token(exp=int(time.time()) - 3600))
    assert refused.value.cause == "token has expired"


async def test_create_verify_jwt_called_directly_inside_a_coroutine(jwks_url: str) -> None:
    # As mcpauth's function, it blocks the loop that calls it; it must still answer.
    info = create_verify_jwt(jwks_url)(token(sub="bob"))
    assert info.subject == "bob"


def test_create_verify_jwt_keeps_mcpauths_default_algorithms(jwks_url: str) -> None:
    rs384 = signing_key("RS384").mint(claims(time.time()))
    with pytest.raises(MCPAuthTokenVerificationException):
        create_verify_jwt(jwks_url)(rs384)
    assert create_verify_jwt(jwks_url, algorithms=["RS384"])(rs384).subject == "alice"


def test_create_verify_jwt_from_a_pyjwkclient(jwks_url: str) -> None:
    client = jwt.PyJWKClient(jwks_url)
    assert create_verify_jwt(client)(token()).subject == "alice"


def test_create_verify_jwt_from_a_pyjwk_uses_that_key_whatever_the_kid() -> None:
    verify = create_verify_jwt(jwt.PyJWK(KEY.jwk()))
    assert verify(token()).subject == "alice"
    # mcpauth hands the PyJWK's key to PyJWT whatever kid the token names.
    other_kid = KEY.mint(claims(time.time()), kid="another-kid")
    assert verify(other_kid).subject == "alice"
    impostor = signing_key("RS256", kid=KEY.kid, variant=9).mint(claims(time.time()))
    with pytest.raises(MCPAuthTokenVerificationException):
        verify(impostor)


def test_create_verify_jwt_refuses_what_is_not_a_key_source() -> None:
    with pytest.raises(TypeError):
        create_verify_jwt(42)


# ---------------------------------------------------------------- create_bearer_auth


def test_create_bearer_auth_with_mcpauths_config(jwks_url: str) -> None:
    context_var: ContextVar[AuthInfo | None] = ContextVar("auth", default=None)
    config = BearerAuthConfig(issuer=ISSUER, audience=AUDIENCE, required_scopes=["read"])
    middleware = create_bearer_auth(create_verify_jwt(jwks_url), config, context_var)
    with TestClient(subject_app(middleware)) as client:
        assert client.get("/", headers=bearer(token())).json()["subject"] == "alice"
        missing = client.get("/", headers=bearer(token(scope="write")))
        assert missing.status_code == 403
        assert missing.json()["missing_scopes"] == ["read"]
        assert client.get("/").json()["error"] == "missing_auth_header"
    assert context_var.get() is None


def test_get_bearer_token_from_headers() -> None:
    assert get_bearer_token_from_headers(Headers({"authorization": "Bearer abc.def"})) == "abc.def"
    with pytest.raises(MCPAuthBearerAuthException) as refused:
        get_bearer_token_from_headers(Headers({}))
    assert refused.value.error_code == "missing_auth_header"
    with pytest.raises(MCPAuthBearerAuthException) as refused:
        get_bearer_token_from_headers(Headers({"authorization": "Basic abc"}))
    assert refused.value.error_code == "invalid_auth_header_format"


@pytest.mark.parametrize("issuer", ["not a url", "issuer.example.com", "https://", ""])
def test_an_issuer_that_is_not_a_url_fails_when_the_middleware_is_made(
        jwks_url: str, issuer: str) -> None:
    mcp_auth = MCPAuth(server=server_config(jwks_url, issuer=issuer))
    for mode in ("jwt", lambda value: None):
        with pytest.raises(TypeError, match="`issuer` must be a valid URL."):
            mcp_auth.bearer_auth_middleware(mode)
    with pytest.raises(TypeError, match="`issuer` must be a valid URL."):
        create_bearer_auth(lambda value: None, BearerAuthConfig(issuer=issuer),
                           ContextVar("auth", default=None))


# ---------------------------------------------------------------- configuration warnings


def test_mcpauth_warns_once_about_a_server_without_registration(
        jwks_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    config = server_config(jwks_url)
    config.metadata.registration_endpoint = None
    mcp_auth = MCPAuth(server=config)
    mcp_auth.bearer_auth_middleware("jwt")
    mcp_auth.bearer_auth_middleware("jwt", required_scopes=["read"])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"authorization server {ISSUER!r}: Dynamic Client Registration (RFC 7591) is not "
        "supported by the server."]


# ---------------------------------------------------------------- values like mcpauth's


def test_auth_info_of_a_custom_verifier_compares_like_mcpauths() -> None:
    info = AuthInfo(token="t", issuer=ISSUER, subject="alice", claims={"roles": ["a"]},
                    scopes=("read", "write"), audience=["a", "b"])
    assert info.scopes == ["read", "write"] and info.audience == ["a", "b"]
    assert info.claims == {"roles": ["a"]}
    with pytest.raises(TypeError):
        info.scopes.append("admin")
    assert info.model_dump()["scopes"] == ["read", "write"]


def test_bearer_details_dump_like_mcpauths_model() -> None:
    details = MCPAuthBearerAuthExceptionDetails(missing_scopes=["read"])
    assert details.model_dump(exclude_none=True) == {"missing_scopes": ["read"]}
    assert details.model_dump() == {"cause": None, "uri": None, "missing_scopes": ["read"],
                                    "expected": None, "actual": None}


def test_a_crashing_async_verifier_is_a_500_too(jwks_url: str) -> None:
    async def verify(value: str) -> AuthInfo:
        await asyncio.sleep(0)
        raise KeyError(value)

    mcp_auth = MCPAuth(server=server_config(jwks_url))
    with TestClient(subject_app(mcp_auth.bearer_auth_middleware(verify))) as client:
        response = client.get("/", headers=bearer(token()))
    assert response.status_code == 500 and response.json()["error"] == "server_error"
