"""Same requests, same answers: mcpauth 0.1.1's bearer middleware against ours.

Users moving from mcpauth rename an import; the requests their server accepts and refuses
must not change where they can tell. Each case here sends one request to two small Starlette
apps, one behind ``mcpauth.MCPAuth(...).bearer_auth_middleware("jwt", ...)`` and one behind
``mcpauth_fast.MCPAuth(...)`` configured the same way, both verifying real tokens with the
keys of a real JWKS server on 127.0.0.1. The route answers the auth info as JSON, so an
accepted request compares what the route sees (issuer, subject, client, audience, scopes,
claims) and a refused one compares status and JSON body. ``WWW-Authenticate`` is not
compared: mcpauth sends none, we send the RFC 6750 challenge.

Each case also pins what mcpauth answers, so a broken harness (say, keys that never load,
making both refuse everything alike) cannot pass. Differences are allowed only where one of
three lists names them, each with its reason (the README's migration section lists the same):
``DELIBERATE``, where mcpauth accepts and we refuse; ``WE_ACCEPT``, where a standard allows
what mcpauth refuses by accident of its implementation; ``OTHER_BODY``, where both decide
alike but the body differs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx
import mcpauth
import mcpauth.config
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from support.app_factory import server_config
from support.jwks_server import JwksServer
from support.tokens import AUDIENCE, claims, signing_key

import mcpauth_fast

#: Case name -> why we refuse a request that mcpauth accepts.
DELIBERATE: dict[str, str] = {
    "exp missing": "RFC 9068 section 2.2.1 requires exp; a token without it never expires",
    "exp a numeric string": "a NumericDate is a JSON number (RFC 7519); PyJWT takes int('...')",
}

#: Case name -> why we accept a request that mcpauth refuses (a standard allows it).
WE_ACCEPT: dict[str, str] = {
    "two spaces after Bearer": "RFC 7235: the scheme and the credentials are separated by 1*SP",
    "scp instead of scope": "scp is the scope claim of Entra ID and Okta; mcpauth ignores it",
    "RS384 token": "every asymmetric JWS algorithm is allowed by default; mcpauth's list is "
                   "RS256, PS256, ES256, ES384, ES512 (create_verify_jwt keeps that list)",
}

#: Case name -> why the same decision comes with another body.
OTHER_BODY: dict[str, str] = {
    "scope with two spaces": "scopes are split on runs of whitespace, without empty scopes",
}

#: The two configurations every case runs against.
CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "audience+scopes": {"audience": AUDIENCE, "required_scopes": ["read"]},
    # Empty values check nothing in mcpauth ("if config.audience:"); they must not refuse all.
    "empty audience and scopes": {"audience": "", "required_scopes": []},
}

SERVER_ERROR = {"error": "server_error",
                "error_description": "An error occurred with the authorization server."}

KEY = signing_key("RS256")  # an algorithm both accept by default
RS384 = signing_key("RS384")  # one only we accept by default


# ---------------------------------------------------------------- fixtures and apps


@pytest.fixture
def jwks_url(jwks_server: JwksServer) -> str:
    jwks_server.document = {"keys": [KEY.jwk(), RS384.jwk()]}
    return jwks_server.url


@pytest.fixture
def theirs(jwks_url: str) -> mcpauth.MCPAuth:
    metadata = server_config(jwks_url).metadata.model_dump(exclude_none=True)
    return mcpauth.MCPAuth(
        server=mcpauth.config.AuthServerConfig(
            metadata=mcpauth.config.AuthorizationServerMetadata(**metadata),
            type=mcpauth.config.AuthServerType.OIDC),
        # mcpauth's default ContextVar is one object shared by every instance.
        context_var=ContextVar("theirs", default=None))


@pytest.fixture
async def ours(jwks_url: str) -> AsyncIterator[mcpauth_fast.MCPAuth]:
    auth = mcpauth_fast.MCPAuth(server=server_config(jwks_url))
    yield auth
    await auth.aclose()  # no lifespan runs under httpx's ASGI transport


def auth_info_app(auth: Any, middleware: Any) -> Starlette:
    """``GET /`` answers the auth info the route sees (``auth.auth_info``, either library)."""

    async def route(request: Request) -> JSONResponse:
        info = auth.auth_info
        return JSONResponse({
            "issuer": info.issuer, "subject": info.subject, "client_id": info.client_id,
            "audience": info.audience, "scopes": list(info.scopes), "claims": dict(info.claims),
        })

    return Starlette(routes=[Route("/", route)], middleware=[Middleware(middleware)])


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def error(self) -> str | None:
        """The ``error`` code of a refusal, None for 200."""
        if self.status == 200:
            return None
        return self.body.get("error") if isinstance(self.body, dict) else f"HTTP {self.status}"


async def ask(app: Starlette, headers: dict[str, str], **transport: Any) -> Answer:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app, **transport),
                                 base_url="http://mcp.test") as client:
        response = await client.get("/", headers=headers)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Answer(response.status_code, body)


# ---------------------------------------------------------------- the cases


def bearer_token(**overrides: Any) -> dict[str, str]:
    """``Authorization: Bearer`` with a token of the valid claims, ``overrides`` applied."""
    return {"authorization": f"Bearer {KEY.mint(claims(time.time(), **overrides))}"}


def with_raw_claims(**overrides: Any) -> Callable[[], dict[str, str]]:
    """Like ``bearer_token``, but a ``None`` override is kept as JSON null."""

    def headers() -> dict[str, str]:
        payload = claims(time.time())
        payload.update(overrides)
        return {"authorization": f"Bearer {KEY.mint(payload)}"}

    return headers


def bad_signature() -> dict[str, str]:
    impostor = signing_key("RS256", kid=KEY.kid, variant=9)  # same kid, another key
    return {"authorization": f"Bearer {impostor.mint(claims(time.time()))}"}


@dataclass(frozen=True)
class Case:
    headers: Callable[[], dict[str, str]]
    #: What mcpauth answers, per configuration: the ``error`` code, or None for 200.
    plain: str | None
    strict: str | None


INVALID = "invalid_token"

CASES: dict[str, Case] = {
    "valid": Case(lambda: bearer_token(), None, None),
    "missing header": Case(lambda: {}, "missing_auth_header", "missing_auth_header"),
    "other scheme": Case(lambda: {"authorization": "Basic dXNlcjpwYXNz"},
                         "invalid_auth_header_format", "invalid_auth_header_format"),
    "lowercase scheme": Case(
        lambda: {"authorization": bearer_token()["authorization"].replace("Bearer", "bearer")},
        None, None),
    "Bearer alone": Case(lambda: {"authorization": "Bearer"},
                         "invalid_auth_header_format", "invalid_auth_header_format"),
    "Bearer with empty token": Case(lambda: {"authorization": "Bearer "},
                                    "missing_bearer_token", "missing_bearer_token"),
    "not a JWT": Case(lambda: {"authorization": "Bearer not-a-jwt"}, INVALID, INVALID),
    "expired": Case(lambda: bearer_token(exp=int(time.time()) - 3600), INVALID, INVALID),
    "bad signature": Case(bad_signature, INVALID, INVALID),
    "wrong issuer": Case(lambda: bearer_token(iss="https://other.example.com"),
                         "invalid_issuer", "invalid_issuer"),
    "wrong audience": Case(lambda: bearer_token(aud="https://other.example.com/mcp"),
                           None, "invalid_audience"),
    "audience list with ours": Case(lambda: bearer_token(aud=["https://a.example", AUDIENCE]),
                                    None, None),
    "no audience": Case(lambda: bearer_token(aud=None), None, "invalid_audience"),
    "missing required scope": Case(lambda: bearer_token(scope="write"),
                                   None, "missing_required_scopes"),
    "scopes claim instead of scope": Case(lambda: bearer_token(scope=None, scopes=["read"]),
                                          None, None),
    "exp missing": Case(lambda: bearer_token(exp=None), None, None),
    "exp a numeric string": Case(lambda: bearer_token(exp=str(int(time.time()) + 3600)),
                                 None, None),
    # Claim shapes mcpauth's JwtPayload model refuses (or, for null client_id, accepts).
    "client_id number": Case(lambda: bearer_token(client_id=12345), INVALID, INVALID),
    "azp number, no client_id": Case(lambda: bearer_token(client_id=None, azp=12345),
                                     INVALID, INVALID),
    "azp number next to client_id": Case(lambda: bearer_token(azp=12345), INVALID, INVALID),
    "iss empty": Case(lambda: bearer_token(iss=""), INVALID, INVALID),
    "sub empty": Case(lambda: bearer_token(sub=""), INVALID, INVALID),
    "sub missing": Case(lambda: bearer_token(sub=None), INVALID, INVALID),
    "aud empty": Case(lambda: bearer_token(aud=""), INVALID, INVALID),
    "aud list with an empty string": Case(lambda: bearer_token(aud=["", AUDIENCE]),
                                          INVALID, INVALID),
    "aud number": Case(lambda: bearer_token(aud=5), INVALID, INVALID),
    "scope number": Case(lambda: bearer_token(scope=5), INVALID, INVALID),
    "scope list with a number": Case(lambda: bearer_token(scope=["read", 5]), INVALID, INVALID),
    "scopes number next to scope": Case(lambda: bearer_token(scopes=5), INVALID, INVALID),
    "client_id null": Case(with_raw_claims(client_id=None), None, None),
    "exp with a fraction": Case(lambda: bearer_token(exp=int(time.time()) + 3600.5),
                                INVALID, INVALID),
    "exp a whole float": Case(lambda: bearer_token(exp=int(time.time()) + 3600.0), None, None),
    # WE_ACCEPT and OTHER_BODY.
    "two spaces after Bearer": Case(
        lambda: {"authorization": bearer_token()["authorization"].replace(" ", "  ", 1)},
        "invalid_auth_header_format", "invalid_auth_header_format"),
    "scp instead of scope": Case(lambda: bearer_token(scope=None, scp=["read"]),
                                 None, "missing_required_scopes"),
    "RS384 token": Case(lambda: {"authorization": f"Bearer {RS384.mint(claims(time.time()))}"},
                        INVALID, INVALID),
    "token outside b64token": Case(lambda: {"authorization": "Bearer abc!def"}, INVALID, INVALID),
    "scope with two spaces": Case(lambda: bearer_token(scope="read  write"), None, None),
}


def _case_params() -> list[Any]:
    return [pytest.param(name, config, id=f"{name} [{config}]")
            for name in CASES for config in CONFIGS]


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("name,config", _case_params())
async def test_same_answer_as_mcpauth(name: str, config: str, theirs: mcpauth.MCPAuth,
                                      ours: mcpauth_fast.MCPAuth) -> None:
    case = CASES[name]
    options = CONFIGS[config]
    headers = case.headers()
    their_answer = await ask(
        auth_info_app(theirs, theirs.bearer_auth_middleware("jwt", **options)), headers)
    our_answer = await ask(
        auth_info_app(ours, ours.bearer_auth_middleware("jwt", **options)), headers)

    expected = case.strict if config == "audience+scopes" else case.plain
    assert their_answer.error == expected, f"mcpauth answered {their_answer}"
    if name in DELIBERATE:
        assert their_answer.status == 200
        assert our_answer.status == 401 and our_answer.error == INVALID, DELIBERATE[name]
    elif name in WE_ACCEPT and their_answer.status != 200:
        assert our_answer.status == 200, WE_ACCEPT[name]
    elif name in WE_ACCEPT or name in OTHER_BODY:
        assert our_answer.status == their_answer.status
        assert our_answer.body != their_answer.body, "no longer a difference: update the lists"
    else:
        assert our_answer == their_answer


def test_deliberate_differences_name_known_cases() -> None:
    named = [*DELIBERATE, *WE_ACCEPT, *OTHER_BODY]
    assert len(named) == len(set(named)) and set(named) <= set(CASES)
    assert all(reason.strip() for reason in [*DELIBERATE.values(), *WE_ACCEPT.values(),
                                             *OTHER_BODY.values()])


# ---------------------------------------------------------------- a custom verifier that fails


async def test_mcpauth_answers_500_when_a_custom_verifier_raises(
        theirs: mcpauth.MCPAuth) -> None:
    def verify(token: str) -> Any:
        raise RuntimeError("the token service is down")

    app = auth_info_app(theirs, theirs.bearer_auth_middleware(verify))
    # mcpauth re-raises; Starlette's ServerErrorMiddleware answers 500 and raises it on.
    answer = await ask(app, bearer_token(), raise_app_exceptions=False)
    assert answer.status == 500


def _failing_verifier(token: str) -> Any:
    # The token in the message: whatever the verifier says must not carry it into the log.
    raise RuntimeError(f"the token service is down, cannot check {token}")


async def test_we_answer_500_server_error_when_a_custom_verifier_raises(
        ours: mcpauth_fast.MCPAuth) -> None:
    app = auth_info_app(ours, ours.bearer_auth_middleware(_failing_verifier))
    answer = await ask(app, bearer_token())
    assert answer == Answer(500, SERVER_ERROR)


async def test_the_log_names_the_verifiers_exception_but_not_the_token(
        ours: mcpauth_fast.MCPAuth, caplog: pytest.LogCaptureFixture) -> None:
    app = auth_info_app(ours, ours.bearer_auth_middleware(_failing_verifier))
    headers = bearer_token()
    token = headers["authorization"].removeprefix("Bearer ")
    with caplog.at_level(logging.DEBUG):
        await ask(app, headers)
    ours_records = [r for r in caplog.records if r.name.startswith("mcpauth_fast")]
    assert any("RuntimeError" in r.getMessage() for r in ours_records), caplog.text
    assert token not in caplog.text
    assert token.rpartition(".")[2] not in caplog.text
