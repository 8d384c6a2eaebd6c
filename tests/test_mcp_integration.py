"""The bearer middleware in front of a real MCP server, driven by a real MCP client (DESIGN 7).

uvicorn serves the Starlette app on 127.0.0.1 (a free port) in a background thread; the MCP
SDK's own client talks to it over streamable HTTP (stateful and stateless) and SSE. The client's
HTTP auth mints a new token (new ``jti``) for every HTTP request, so each tool result can be
matched with the token of the one request that carried that call.

Runs with the MCP SDK 2.x (``MCPServer``, httpx2) and 1.x (``FastMCP``, httpx): the API is
picked from the installed major version by the small adapters below.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.server.auth.middleware.auth_context import get_access_token
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp
from support.app_factory import auth_server_mode
from support.jwks_server import JwksServer
from support.mcp import (
    MCP_MAJOR,
    NO_TOKEN_BODY,
    SSE,
    STATEFUL,
    STATELESS,
    TIMEOUT,
    TRANSPORTS,
    ClientError,
    http_lib,
    leaves,
    mcp_session,
    new_server,
    seconds,
    serve,
    transport_app,
)
from support.tokens import claims, signing_key

from mcpauth_fast import MCPAuth

SHORT = 1.5             # a call that is expected never to be answered
REQUIRED = ["read"]

NO_TOKEN_CHALLENGE = 'Bearer scope="read"'
NO_SCOPE_BODY = {
    "error": "missing_required_scopes",
    "error_description": "The token does not contain the necessary scopes for this request.",
    "missing_scopes": ["read"],
}
NO_SCOPE_CHALLENGE = ('Bearer error="insufficient_scope", error_description="The token does not '
                      'contain the necessary scopes for this request.", scope="read"')


# --- the client's auth: a new token on every HTTP request, and a record of each ------------

@dataclass
class Sent:
    """One HTTP request the MCP client made: what it carried and how it was answered."""

    method: str
    path: str
    rpc: dict[str, Any] | None       # the JSON-RPC message of a POST
    jti: str | None                  # the jti of the token sent (None: no token)
    session: str | None              # Mcp-Session-Id header or SSE session_id
    status: int


def token(subject: str = "alice", jti: str = "j", scope: str = "read write") -> str:
    return signing_key("ES256").mint(claims(time.time(), sub=subject, jti=jti, scope=scope))


class TokenPerRequest(http_lib.Auth):  # type: ignore[misc,name-defined]
    """Sends a freshly minted token (new ``jti``) of ``subject`` with every request.

    ``subject = None`` sends no Authorization header. Same client_id for every subject.
    """

    requires_request_body = True

    def __init__(self, subject: str | None = "alice", scope: str = "read write") -> None:
        self.subject = subject
        self.scope = scope
        self.sent: list[Sent] = []
        self._serial = itertools.count(1)

    def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        jti = None
        if self.subject is not None:
            jti = f"{self.subject}-{next(self._serial)}"
            request.headers["Authorization"] = "Bearer " + token(self.subject, jti, self.scope)
        rpc = json.loads(request.content) if request.method == "POST" else None
        session = request.headers.get("mcp-session-id") or request.url.params.get("session_id")
        response = yield request
        self.sent.append(Sent(request.method, request.url.path, rpc, jti, session,
                              response.status_code))

    def carrier(self, tag: str) -> Sent:
        """The request that carried the ``whoami`` call tagged ``tag``."""
        found = [s for s in self.sent if s.rpc and s.rpc.get("method") == "tools/call"
                 and s.rpc["params"]["arguments"].get("tag") == tag]
        assert len(found) == 1, (tag, self.sent)
        return found[0]


async def whoami(session: ClientSession, tag: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    result = await session.call_tool("whoami", {"tag": tag}, seconds(timeout))
    assert not getattr(result, "is_error", getattr(result, "isError", False)), result
    data: dict[str, Any] = json.loads(result.content[0].text)
    assert data["tag"] == tag
    return data


# --- the server: MCP app behind the bearer middleware, served by uvicorn on loopback -------

@dataclass
class Served:
    base: str
    url: str            # the MCP client's entry point
    transport: str


def protected_app(mcp_auth: MCPAuth, transport: str) -> ASGIApp:
    server = new_server(transport)

    @server.tool()
    async def whoami(tag: str = "") -> dict[str, Any]:
        """What the tool sees of the request that carried this call."""
        info = mcp_auth.auth_info
        access = get_access_token()          # the SDK's own view of the same request
        return {
            "tag": tag,
            "subject": info.subject if info else None,
            "jti": info.claims.get("jti") if info else None,
            "scopes": list(info.scopes) if info else None,
            "sdk": None if access is None else {
                "subject": access.subject,
                "client_id": access.client_id,
                "scopes": list(access.scopes),
                "jti": (access.claims or {}).get("jti"),
            },
        }

    inner, session_manager, _ = transport_app(server, transport)
    bearer_auth = mcp_auth.bearer_auth_middleware("jwt", required_scopes=REQUIRED)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A mounted app's lifespan does not run: start the SDK's session manager here, and
        # close the JWKS client on the server's own event loop.
        try:
            if session_manager is not None:
                async with session_manager.run():
                    yield
            else:
                yield
        finally:
            await mcp_auth.aclose()

    return Starlette(routes=[Mount("/", app=inner, middleware=[Middleware(bearer_auth)])],
                     lifespan=lifespan)


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served(transport: str, jwks_server: JwksServer) -> Iterator[Served]:
    app = protected_app(auth_server_mode(jwks_server), transport)
    with serve(app) as base:
        path = "/sse" if transport == SSE else "/mcp"
        yield Served(base, base + path, transport)


# --- the tests -----------------------------------------------------------------------------

async def test_each_call_is_served_with_the_token_it_carried(served: Served) -> None:
    auth = TokenPerRequest()
    async with mcp_session(served.url, served.transport, auth) as session:
        results = [await whoami(session, f"call-{n}") for n in range(3)]

    jtis = [sent.jti for sent in auth.sent]
    assert len(set(jtis)) == len(jtis) > len(results)      # a new token on every request
    for n, result in enumerate(results):
        carrier = auth.carrier(f"call-{n}")
        assert carrier.status in (200, 202)
        assert result["jti"] == carrier.jti                # the token of THIS call ...
        assert result["subject"] == "alice"
        assert result["scopes"] == ["read", "write"]
    assert len({result["jti"] for result in results}) == len(results)   # ... never a stale one
    if served.transport != STATELESS:                     # all on one session
        sessions = {auth.carrier(f"call-{n}").session for n in range(3)}
        assert len(sessions) == 1 and None not in sessions


async def test_sdk_get_access_token_sees_the_same_principal(served: Served) -> None:
    auth = TokenPerRequest()
    async with mcp_session(served.url, served.transport, auth) as session:
        results = [await whoami(session, f"call-{n}") for n in range(2)]

    for n, result in enumerate(results):
        if MCP_MAJOR >= 2 or served.transport == STATELESS:
            expected_jti = auth.carrier(f"call-{n}").jti
        else:
            # SDK 1.x runs a session's tools in the task of the request that opened it, so its
            # context variable holds that request's token (same principal: the session is
            # bound to it). mcp_auth.auth_info has no such lag (previous test).
            expected_jti = auth.sent[0].jti
        assert result["sdk"] == {"subject": "alice", "client_id": "client-1",
                                 "scopes": ["read", "write"], "jti": expected_jti}


async def raw_post(served: Served, session: str, bearer_token: str) -> tuple[int, str]:
    """A JSON-RPC ping on ``session``, sent with plain HTTP and ``bearer_token``."""
    ping = {"jsonrpc": "2.0", "id": "raw-1", "method": "ping"}
    headers = {"authorization": f"Bearer {bearer_token}",
               "accept": "application/json, text/event-stream"}
    url = served.url
    if served.transport == SSE:
        url = f"{served.base}/messages/?session_id={session}"
    else:
        headers["mcp-session-id"] = session
    async with http_lib.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.post(url, json=ping, headers=headers)
    return response.status_code, response.text


@pytest.mark.parametrize("transport", [STATEFUL, SSE], indirect=True)
async def test_another_users_token_is_refused_on_the_session(served: Served) -> None:
    auth = TokenPerRequest()
    async with mcp_session(served.url, served.transport, auth) as session:
        assert (await whoami(session, "alice-1"))["subject"] == "alice"
        session_id = auth.carrier("alice-1").session
        assert session_id

        # Mallory (same client_id, another subject) on Alice's session: answered exactly as
        # an unknown session, with a 404.
        intruder = await raw_post(served, session_id, token("mallory", "mallory-raw"))
        unknown = await raw_post(served, "0" * 32, token("alice", "alice-raw"))
        assert intruder[0] == 404
        assert intruder == unknown
        # ... and the session is still Alice's, with yet another fresh token.
        second = await whoami(session, "alice-2")
        assert second["subject"] == "alice"
        assert second["jti"] == auth.carrier("alice-2").jti

        # The MCP client itself switches to Mallory's token on that session.
        auth.subject = "mallory"
        with pytest.raises(ClientError) as refused:
            await whoami(session, "mallory-1", timeout=SHORT)
        carrier = auth.carrier("mallory-1")
        assert (carrier.status, carrier.session) == (404, session_id)
        message = refused.value.error.message
        if served.transport == SSE:
            # The SSE client posts the message, gets the 404, and never hears back.
            assert "timed out" in message.lower()
        elif MCP_MAJOR >= 2:
            assert message == "Session not found"
        else:
            assert message == "Session terminated"


@pytest.mark.parametrize("transport", [STATELESS], indirect=True)
async def test_stateless_requests_each_stand_on_their_own_token(served: Served) -> None:
    # No session to bind: every request is authenticated, and served, as its own principal.
    auth = TokenPerRequest()
    async with mcp_session(served.url, served.transport, auth) as session:
        alice = await whoami(session, "alice-1")
        auth.subject = "mallory"
        mallory = await whoami(session, "mallory-1")
    assert (alice["subject"], alice["jti"]) == ("alice", auth.carrier("alice-1").jti)
    assert (mallory["subject"], mallory["jti"]) == ("mallory", auth.carrier("mallory-1").jti)


async def first_request(served: Served, headers: dict[str, str]) -> Any:
    """The request an MCP client opens with, sent with plain HTTP."""
    async with http_lib.AsyncClient(timeout=TIMEOUT) as http:
        if served.transport == SSE:
            return await http.get(served.url, headers=headers)
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}
        return await http.post(served.url, json=initialize, headers={
            "accept": "application/json, text/event-stream", **headers})


@pytest.mark.parametrize("scope,status,body,challenge", [
    (None, 401, NO_TOKEN_BODY, NO_TOKEN_CHALLENGE),
    ("write", 403, NO_SCOPE_BODY, NO_SCOPE_CHALLENGE),
], ids=["no-token", "no-read-scope"])
async def test_no_token_is_401_and_a_missing_scope_403(
        served: Served, scope: str | None, status: int, body: dict[str, Any],
        challenge: str) -> None:
    headers = {} if scope is None else {"authorization": f"Bearer {token(scope=scope)}"}
    response = await first_request(served, headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == body
    assert response.headers["www-authenticate"] == challenge

    # What the SDK's client makes of it.
    auth = TokenPerRequest(subject=None if scope is None else "alice", scope=scope or "")
    with pytest.raises(Exception) as failed:
        async with mcp_session(served.url, served.transport, auth):
            pass
    assert auth.sent[0].status == status
    errors = leaves(failed.value)
    http_errors = [e for e in errors if isinstance(e, http_lib.HTTPStatusError)]
    if MCP_MAJOR >= 2 and served.transport != SSE:
        # The 2.x streamable HTTP client turns a non-JSON-RPC error response into a JSON-RPC
        # internal error: the status is only seen on the wire (auth.sent above).
        assert [(e.error.code, e.error.message) for e in errors] == [
            (-32603, "Server returned an error response")]
    else:
        assert [e.response.status_code for e in http_errors] == [status], errors
        assert http_errors[0].response.headers["www-authenticate"] == challenge
