"""REFERENCE sections 1 and 3 through a real ASGI app (run once per implementation)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect
from support.app_factory import RESOURCE, auth_server_mode, resource_mode, whoami_app
from support.jwks_server import JwksServer
from support.tokens import ISSUER, claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.exceptions import (
    AuthServerExceptionCode,
    MCPAuthAuthServerException,
    MCPAuthConfigException,
    MCPAuthJwtVerificationException,
    MCPAuthJwtVerificationExceptionCode,
)
from mcpauth_fast.types import AuthInfo

INVALID_TOKEN = {"error": "invalid_token",
                 "error_description": "The provided token is invalid or malformed."}


def token(**overrides: Any) -> str:
    alg = overrides.pop("alg", "ES256")
    return signing_key(alg).mint(claims(time.time(), **overrides))


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


@pytest.fixture
def mcp_auth(jwks_server: JwksServer) -> MCPAuth:
    return auth_server_mode(jwks_server)


def client_for(mcp_auth: MCPAuth, **options: Any) -> TestClient:
    return TestClient(whoami_app(mcp_auth, mcp_auth.bearer_auth_middleware("jwt", **options)))


def test_valid_token_reaches_the_route_with_its_auth_info(mcp_auth: MCPAuth) -> None:
    with client_for(mcp_auth, required_scopes=["read"]) as client:
        for alg in ("RS256", "ES256", "EdDSA"):
            response = client.get("/whoami", headers=bearer(token(alg=alg, jti=alg)))
            assert response.status_code == 200
            assert response.json() == {"subject": "alice", "jti": alg,
                                       "scopes": ["read", "write"], "same_as_context": True}
    assert mcp_auth.auth_info is None            # nothing leaks out of the request


@pytest.mark.parametrize("headers,error,description", [
    ({}, "missing_auth_header",
     "Missing `Authorization` header. Please provide a valid bearer token."),
    ({"authorization": "Basic dXNlcjpwYXNz"}, "invalid_auth_header_format",
     'Invalid `Authorization` header format. Expected "Bearer <token>".'),
])
def test_no_credentials_get_401_without_error_code(mcp_auth: MCPAuth, headers: dict,
                                                   error: str, description: str) -> None:
    with client_for(mcp_auth, required_scopes=["read", "write"]) as client:
        response = client.get("/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": error, "error_description": description}
    assert response.headers["www-authenticate"] == 'Bearer scope="read write"'


def test_token_in_query_string_is_not_accepted(mcp_auth: MCPAuth) -> None:
    with client_for(mcp_auth) as client:
        response = client.get(f"/whoami?access_token={token()}")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_auth_header"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("make_token", [
    lambda: "not-a-jwt",
    lambda: token()[:-4] + "AAAA",
    lambda: token(exp=int(time.time()) - 3600),
    lambda: token(sub=None),
    lambda: signing_key("ES256").mint(claims(time.time()), kid="unknown"),
    lambda: signing_key("ES256", kid=signing_key("ES256").kid, variant=9).mint(
        claims(time.time())),
])
def test_invalid_tokens_get_401_invalid_token(mcp_auth: MCPAuth, make_token: Any) -> None:
    with client_for(mcp_auth) as client:
        response = client.get("/whoami", headers=bearer(make_token()))
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert response.headers["www-authenticate"] == (
        'Bearer error="invalid_token", '
        'error_description="The provided token is invalid or malformed."')


def test_malformed_bearer_credential_is_invalid_request_in_the_challenge(
        mcp_auth: MCPAuth) -> None:
    # tests/test_challenges.py has every malformed shape; this one checks the escaping.
    with client_for(mcp_auth) as client:
        response = client.get("/whoami", headers={"authorization": "Bearer a b"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_auth_header_format"
    # The quotes of the message are not in RFC 6750's error_description set: they become '.
    assert response.headers["www-authenticate"] == (
        'Bearer error="invalid_request", error_description="Invalid `Authorization` header '
        "format. Expected 'Bearer <token>'.\"")


def test_issuer_and_audience_failures(mcp_auth: MCPAuth) -> None:
    with client_for(mcp_auth, audience="https://mcp.example.com/mcp",
                    show_error_details=True) as client:
        # A trusted key, but another issuer in the token: the policy refuses it.
        response = client.get("/whoami", headers=bearer(token(iss="https://evil.example")))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_issuer"
        response = client.get("/whoami", headers=bearer(token(aud="https://other.example")))
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_audience",
            "error_description": "The token audience does not match the expected audience.",
            "cause": {"expected": "https://mcp.example.com/mcp",
                      "actual": "https://other.example"},
        }
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        assert client.get("/whoami", headers=bearer(token())).status_code == 200


def test_audience_list_is_accepted(mcp_auth: MCPAuth) -> None:
    with client_for(mcp_auth, audience=["https://a.example", "https://mcp.example.com/mcp"]
                    ) as client:
        assert client.get("/whoami", headers=bearer(token())).status_code == 200
        assert client.get("/whoami", headers=bearer(token(aud="https://b.example"))
                          ).status_code == 401


def test_missing_scopes_get_403_naming_all_of_them(mcp_auth: MCPAuth) -> None:
    with client_for(mcp_auth, required_scopes=["read", "admin", "write", "audit"]) as client:
        response = client.get("/whoami", headers=bearer(token(scope="read")))
    assert response.status_code == 403
    assert response.json() == {
        "error": "missing_required_scopes",
        "error_description": "The token does not contain the necessary scopes for this request.",
        "missing_scopes": ["admin", "write", "audit"],
    }
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", error_description="The token does not contain the '
        'necessary scopes for this request.", scope="read admin write audit"')


def test_a_repeated_token_gets_the_same_answer_from_the_cache(mcp_auth: MCPAuth) -> None:
    bearer_auth = mcp_auth.bearer_auth_middleware(
        "jwt", audience="https://mcp.example.com/mcp", required_scopes=["read"],
        show_error_details=True)
    cache = bearer_auth.config.verifier.cache
    tokens = [token(jti="ok"), token(jti="no-read", scope="write"),
              token(jti="evil", iss="https://evil.example"),
              token(jti="aud", aud="https://other.example")]
    with TestClient(whoami_app(mcp_auth, bearer_auth)) as client:
        first = [client.get("/whoami", headers=bearer(t)) for t in tokens]
        assert [r.status_code for r in first] == [200, 403, 401, 401]
        # The same tokens again, the scheme in other cases and with more spaces: the same
        # decision each time, challenge and all, now from the cache.
        for scheme in ("Bearer ", "bearer   ", "BEARER "):
            again = [client.get("/whoami", headers={"authorization": scheme + t})
                     for t in tokens]
            assert [(r.status_code, r.json(), r.headers.get("www-authenticate"))
                    for r in again] == [(r.status_code, r.json(),
                                         r.headers.get("www-authenticate")) for r in first]
    # A token of an untrusted issuer finds no key source, so it is never verified nor cached:
    # each of its 4 requests misses; the other 3 tokens miss once and then hit 3 times each.
    assert (cache.info()["misses"], cache.info()["hits"]) == (3 + 4, 3 * 3)


def test_a_verifier_with_its_own_clock_decides_cache_hits_by_it() -> None:
    # Only a verifier that reads the wall clock has its hits answered from the header's bytes;
    # one with a clock of its own (tests, replays) is asked through cached() every time.
    from contextvars import ContextVar

    from mcpauth_fast.challenge import Challenge
    from mcpauth_fast.jwks import StaticKeys
    from mcpauth_fast.middleware import BearerAuthMiddleware, MiddlewareConfig
    from mcpauth_fast.verifier import JwtVerifier

    now = [time.time()]
    verifier = JwtVerifier(StaticKeys({"keys": [signing_key("ES256").jwk()]}),
                           clock=lambda: now[0], leeway=0)
    config = MiddlewareConfig(verifier=verifier, issuers=frozenset({ISSUER}), audiences=None,
                              required_scopes=(), challenge=Challenge(),
                              context_var=ContextVar("auth_info", default=None))
    seen = token(jti="clocked", exp=int(now[0]) + 60)

    async def ok(request: Any) -> PlainTextResponse:
        return PlainTextResponse(request.scope["auth"].subject)

    app = Starlette(routes=[Route("/", ok)], middleware=[Middleware(BearerAuthMiddleware,
                                                                   config=config)])
    with TestClient(app) as client:
        assert client.get("/", headers=bearer(seen)).text == "alice"
        assert client.get("/", headers=bearer(seen)).text == "alice"  # a hit
        now[0] += 3600  # past exp by the verifier's clock, not by the wall clock
        response = client.get("/", headers=bearer(seen))
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert verifier.cache.info()["hits"] == 1


def test_bad_token_gets_401_before_any_403(mcp_auth: MCPAuth) -> None:
    with client_for(mcp_auth, required_scopes=["admin"]) as client:
        response = client.get("/whoami", headers=bearer(token(scope="read", exp=1)))
    assert response.status_code == 401


def test_cause_only_with_details(mcp_auth: MCPAuth) -> None:
    expired = token(exp=int(time.time()) - 3600)
    with client_for(mcp_auth) as client:
        assert "cause" not in client.get("/whoami", headers=bearer(expired)).json()
    with client_for(mcp_auth, show_error_details=True) as client:
        assert client.get("/whoami", headers=bearer(expired)).json()["cause"] == (
            "token has expired")


def test_two_authorization_headers_get_400(mcp_auth: MCPAuth) -> None:
    good = token()
    with client_for(mcp_auth) as client:
        response = client.get("/whoami", headers=[("authorization", f"Bearer {good}"),
                                                  ("authorization", f"Bearer {good}")])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_request"')


def test_resource_mode_challenge_and_default_audience(jwks_server: JwksServer) -> None:
    mcp_auth = resource_mode(jwks_server)
    middleware = mcp_auth.bearer_auth_middleware("jwt", resource=RESOURCE,
                                                 required_scopes=["read", "admin"])
    metadata = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    with TestClient(whoami_app(mcp_auth, middleware)) as client:
        response = client.get("/whoami")
        assert response.headers["www-authenticate"] == (
            f'Bearer scope="read admin", resource_metadata="{metadata}"')
        response = client.get("/whoami", headers=bearer(token(aud="https://other.example")))
        assert response.status_code == 401 and response.json()["error"] == "invalid_audience"
        assert response.headers["www-authenticate"].endswith(f'resource_metadata="{metadata}"')
        response = client.get("/whoami", headers=bearer(token(aud=RESOURCE)))
        assert response.status_code == 403
        assert response.headers["www-authenticate"].endswith(
            f'scope="read admin", resource_metadata="{metadata}"')


@pytest.mark.parametrize("bad", ['we"ird', "back\\slash", "two words", "", "caf\u00e9", "tab\t"])
def test_a_required_scope_that_is_no_scope_token_fails_construction(
        mcp_auth: MCPAuth, bad: str) -> None:
    # RFC 6749 section 3.3: so a challenge never carries a value that needs escaping.
    with pytest.raises(MCPAuthConfigException, match="not a valid scope"):
        mcp_auth.bearer_auth_middleware("jwt", required_scopes=["read", bad])
    with pytest.raises(MCPAuthConfigException, match="not a string"):
        mcp_auth.bearer_auth_middleware("jwt", required_scopes="read write")  # type: ignore


def test_keys_unavailable_is_503_with_retry_after(jwks_server: JwksServer) -> None:
    mcp_auth = auth_server_mode(jwks_server)
    jwks_server.mode = "500"
    middleware = mcp_auth.bearer_auth_middleware("jwt", remote_jwks={"cooldown": 7})
    with TestClient(whoami_app(mcp_auth, middleware)) as client:
        response = client.get("/whoami", headers=bearer(token()))
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"] == "temporarily_unavailable"


def test_custom_verifiers_sync_and_async(mcp_auth: MCPAuth) -> None:
    def info(subject: str, issuer: str = ISSUER, scopes: tuple = ("read",)) -> AuthInfo:
        return AuthInfo(token="t", issuer=issuer, subject=subject, claims={"jti": subject},
                        scopes=scopes)

    def sync_verify(value: str) -> AuthInfo:
        if value == "good":
            return info("sync")
        if value == "other-issuer":
            return info("x", issuer="https://evil.example")
        if value == "crash":
            raise RuntimeError("boom: " + value)
        raise MCPAuthJwtVerificationException(
            MCPAuthJwtVerificationExceptionCode.JWT_VERIFICATION_FAILED)

    async def async_verify(value: str) -> AuthInfo:
        return sync_verify(value)

    for verify in (sync_verify, async_verify):
        middleware = mcp_auth.bearer_auth_middleware(verify, required_scopes=["read"])
        with TestClient(whoami_app(mcp_auth, middleware)) as client:
            assert client.get("/whoami", headers=bearer("good")).json()["subject"] == "sync"
            response = client.get("/whoami", headers=bearer("bad"))
            assert response.status_code == 401
            assert response.json() == {
                "error": "token_verification_failed",
                "error_description": "The token verification failed due to an error in the "
                                     "verification process."}
            # A verifier that crashes is the server's fault, not the token's (as in mcpauth).
            response = client.get("/whoami", headers=bearer("crash"))
            assert response.status_code == 500
            assert response.json() == {
                "error": "server_error",
                "error_description": "An error occurred with the authorization server."}
            response = client.get("/whoami", headers=bearer("other-issuer"))
            assert response.json()["error"] == "invalid_issuer"


def test_server_error_is_500(mcp_auth: MCPAuth) -> None:
    def verify(value: str) -> AuthInfo:
        raise MCPAuthAuthServerException(AuthServerExceptionCode.INVALID_SERVER_METADATA)

    middleware = mcp_auth.bearer_auth_middleware(verify)
    with TestClient(whoami_app(mcp_auth, middleware)) as client:
        response = client.get("/whoami", headers=bearer("x"))
    assert response.status_code == 500
    assert response.json() == {"error": "server_error",
                               "error_description": "An error occurred with the authorization "
                                                    "server."}


def test_downstream_exceptions_are_the_apps(mcp_auth: MCPAuth,
                                            caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: Any) -> Any:
        raise KeyError("the app's own bug")

    app = Starlette(routes=[Route("/broken", broken)],
                    middleware=[Middleware(mcp_auth.bearer_auth_middleware("jwt"))])
    with caplog.at_level(logging.DEBUG, logger="mcpauth_fast"):
        with TestClient(app) as client, pytest.raises(KeyError):
            client.get("/broken", headers=bearer(token()))
    assert not [r for r in caplog.records if r.name.startswith("mcpauth_fast")
                and r.levelno >= logging.WARNING]


def test_expected_failures_are_not_errors_in_the_log(mcp_auth: MCPAuth,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    bad = token(exp=1)
    with caplog.at_level(logging.DEBUG), client_for(mcp_auth) as client:
        client.get("/whoami")
        client.get("/whoami", headers=bearer(bad))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert all(bad not in r.getMessage() for r in caplog.records)


def test_streaming_responses_pass_untouched(mcp_auth: MCPAuth) -> None:
    async def stream(request: Any) -> StreamingResponse:
        async def chunks() -> Any:
            for i in range(3):
                yield f"chunk{i}\n"
        return StreamingResponse(chunks(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/stream", stream)],
                    middleware=[Middleware(mcp_auth.bearer_auth_middleware("jwt"))])
    with TestClient(app) as client:
        response = client.get("/stream", headers=bearer(token()))
    assert response.status_code == 200
    assert response.text == "chunk0\nchunk1\nchunk2\n"
    assert response.headers["content-type"].startswith("text/event-stream")


def test_mount_add_middleware_and_lifespan(mcp_auth: MCPAuth) -> None:
    started = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        started.append(True)
        yield

    bearer_auth = mcp_auth.bearer_auth_middleware("jwt")
    inner = Starlette(routes=[Route("/x", lambda r: PlainTextResponse(r.scope["auth"].subject))])
    app = Starlette(routes=[Mount("/api", app=inner, middleware=[Middleware(bearer_auth)]),
                            Route("/open", lambda r: PlainTextResponse("open"))],
                    lifespan=lifespan)
    with TestClient(app) as client:
        assert started == [True]
        assert client.get("/open").text == "open"
        assert client.get("/api/x").status_code == 401
        assert client.get("/api/x", headers=bearer(token())).text == "alice"
    other = Starlette(routes=[Route("/x", lambda r: PlainTextResponse("ok"))])
    other.add_middleware(bearer_auth)
    with TestClient(other) as client:
        assert client.get("/x").status_code == 401
        assert client.get("/x", headers=bearer(token())).text == "ok"


def test_websockets_are_authenticated(mcp_auth: MCPAuth) -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.scope["auth"].subject)
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", echo)],
                    middleware=[Middleware(mcp_auth.bearer_auth_middleware("jwt"))])
    with TestClient(app) as client:
        with client.websocket_connect("/ws", headers=bearer(token())) as ws:
            assert ws.receive_text() == "alice"
        with pytest.raises(WebSocketDisconnect) as info:
            with client.websocket_connect("/ws") as ws:
                ws.receive_text()
        assert info.value.code == 1008


def test_handler_mutation_does_not_reach_the_next_request(mcp_auth: MCPAuth) -> None:
    seen = []

    async def meddle(request: Any) -> PlainTextResponse:
        auth = request.scope["auth"]
        seen.append((auth.subject, auth.claims["sub"], auth.scopes))
        try:
            auth.claims["sub"] = "mallory"
        except TypeError:
            pass
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/m", meddle)],
                    middleware=[Middleware(mcp_auth.bearer_auth_middleware("jwt"))])
    same = token()
    with TestClient(app) as client:
        client.get("/m", headers=bearer(same))
        client.get("/m", headers=bearer(same))
    assert seen == [("alice", "alice", ["read", "write"])] * 2


def test_configuration_errors_raise_at_construction(jwks_server: JwksServer) -> None:
    from support.app_factory import server_config

    from mcpauth_fast.exceptions import MCPAuthException

    with pytest.raises(MCPAuthException):
        MCPAuth()
    with pytest.raises(MCPAuthException):
        MCPAuth(server=server_config(jwks_server.url),
                protected_resources=resource_mode(jwks_server).resources)
    no_jwks = server_config(jwks_server.url)
    no_jwks.metadata.jwks_uri = None
    with pytest.raises(MCPAuthAuthServerException) as info:
        MCPAuth(server=no_jwks).bearer_auth_middleware("jwt")
    assert info.value.code is AuthServerExceptionCode.MISSING_JWKS_URI
    with pytest.raises(MCPAuthException):
        resource_mode(jwks_server).bearer_auth_middleware("jwt")          # no resource
    with pytest.raises(MCPAuthException):
        resource_mode(jwks_server).bearer_auth_middleware("jwt", resource="https://nope")
    with pytest.raises(MCPAuthException):
        auth_server_mode(jwks_server).bearer_auth_middleware("jwt", jwt_verify={"bogus": 1})
    with pytest.raises(ValueError):
        auth_server_mode(jwks_server).bearer_auth_middleware("magic")  # type: ignore[arg-type]


def test_a_plain_app_does_not_load_the_mcp_sdk() -> None:
    import subprocess
    import sys

    program = (
        "import sys\n"
        "from starlette.applications import Starlette\n"
        "from starlette.middleware import Middleware\n"
        "from mcpauth_fast import MCPAuth\n"
        "from mcpauth_fast.middleware import BearerAuthMiddleware\n"
        "from mcpauth_fast.types import AuthInfo\n"
        "from support.app_factory import server_config\n"
        "auth = MCPAuth(server=server_config('http://127.0.0.1:9/j'))\n"
        "from starlette.responses import PlainTextResponse\n"
        "from starlette.routing import Route\n"
        "from starlette.testclient import TestClient\n"
        "issuer = auth.server.metadata.issuer\n"
        "def verify(token): return AuthInfo(token=token, issuer=issuer, subject='s', claims={})\n"
        "middleware = auth.bearer_auth_middleware(verify)\n"
        "async def whoami(request): return PlainTextResponse(auth.auth_info.subject)\n"
        "app = Starlette(routes=[Route('/', whoami)], middleware=[Middleware(middleware)])\n"
        "seen = TestClient(app).get('/', headers={'authorization': 'Bearer t'}).text\n"
        "print(seen, any(m == 'mcp' or m.startswith('mcp.') for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60, cwd=str(__import__("pathlib").Path(__file__).parent))
    assert done.returncode == 0, done.stderr
    # Serving a request and reading MCPAuth.auth_info in the handler load nothing of the SDK.
    assert done.stdout.strip() == "s False"
