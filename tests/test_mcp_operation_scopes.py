"""Per-operation authorization (issue 15) with the real MCP SDK server and client over HTTP.

A files server (tools, an exact resource, a resource template, a prompt) sits behind the bearer
middleware; uvicorn serves it on 127.0.0.1 and the SDK's own client talks to it over streamable
HTTP (stateful and stateless) and SSE, with tokens minted by the development issuer (also on
127.0.0.1). Every server function records what it saw of the request (subject, scopes, jti),
so a test asserts both the wire (status, JSON body, ``WWW-Authenticate``) and whether anything
ran. The client's HTTP auth records every response (``Recorder``): the 2.x streamable HTTP
client turns an HTTP error into a JSON-RPC error, and the SSE client only logs it, so the
status is asserted on the wire.

Runs on MCP SDK 2.x (``MCPServer``, httpx2) and 1.x (``FastMCP``, httpx).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from support.app_factory import RESOURCE
from support.mcp import (
    MCP_MAJOR,
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

from mcpauth_fast import MCPAuth
from mcpauth_fast.config import AuthServerType, ResourceServerConfig, ResourceServerMetadata
from mcpauth_fast.dev.issuer import DevIssuer
from mcpauth_fast.discovery import fetch_server_config
from mcpauth_fast.routes import resource_metadata_url
from mcpauth_fast.scopes import ScopeHierarchy

SHORT = 1.5             # a call that is expected never to be answered (SSE after a refused POST)
ROUTE = ["mcp"]         # the route-level scope every request needs
HIERARCHY = {"admin": ["files:write"], "files:write": ["files:read"]}
#: What each operation needs: given to the decorator or, as configuration, to the middleware.
RULES: dict[str, dict[str, list[str]]] = {
    "tools": {"delete_file": ["files:write"], "read_file": ["files:read"]},
    "resources": {"config://app": ["config:read"], "file:///{path}": ["files:read"],
                  "notes://{name}.txt": ["notes:read"]},
    "prompts": {"review": ["prompts:use"]},
}
MAX_BODY = 4096
DESCRIPTION = "The token does not contain the necessary scopes for this request."
ACCEPT = "application/json, text/event-stream"


def challenge(scopes: str, metadata: str | None = None) -> str:
    value = (f'Bearer error="insufficient_scope", error_description="{DESCRIPTION}", '
             f'scope="{scopes}"')
    return value if metadata is None else f'{value}, resource_metadata="{metadata}"'


def refusal(*missing: str) -> dict[str, Any]:
    return {"error": "missing_required_scopes", "error_description": DESCRIPTION,
            "missing_scopes": list(missing)}


def rpc_error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def jti_of(token: str) -> str:
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return str(claims["jti"])


# --- what the server functions saw ---------------------------------------------------------

@dataclass(frozen=True)
class Call:
    operation: str
    argument: str | None
    subject: str | None
    scopes: tuple[str, ...] | None
    jti: str | None


def files_server(mcp_auth: MCPAuth, transport: str, calls: list[Call], decorate: bool) -> Any:
    """Tools, resources and a prompt; with ``decorate``, each marked with its ``RULES``."""
    server = new_server(transport)

    def rule(kind: str, name: str) -> Callable[[Any], Any]:
        if not decorate or name not in RULES[kind]:
            return lambda fn: fn
        return mcp_auth.requires_scopes(*RULES[kind][name])

    def seen(operation: str, argument: str | None) -> str:
        info = mcp_auth.auth_info
        call = Call(operation, argument, info.subject if info else None,
                    tuple(info.scopes) if info else None,
                    info.claims.get("jti") if info else None)
        calls.append(call)
        return json.dumps({"operation": operation, "argument": argument,
                           "subject": call.subject, "jti": call.jti,
                           "scopes": list(call.scopes) if call.scopes is not None else None})

    @server.tool()
    @rule("tools", "delete_file")
    def delete_file(path: str) -> str:
        return seen("delete_file", path)

    @server.tool()
    @rule("tools", "read_file")
    async def read_file(path: str) -> str:
        return seen("read_file", path)

    @server.tool()
    def list_files() -> str:
        return seen("list_files", None)

    @server.resource("config://app")
    @rule("resources", "config://app")
    def app_config() -> str:
        return seen("config://app", None)

    @server.resource("file:///{path}")
    @rule("resources", "file:///{path}")
    def file_contents(path: str) -> str:
        return seen("file:///{path}", path)

    @server.resource("notes://{name}.txt")
    @rule("resources", "notes://{name}.txt")
    def note(name: str) -> str:
        return seen("notes://{name}.txt", name)

    @server.prompt()
    @rule("prompts", "review")
    def review(code: str) -> str:
        return seen("review", code)

    return server


# --- the app: the files server behind the middleware, served by uvicorn on loopback --------

@dataclass
class Files:
    base: str
    url: str                        # the MCP client's entry point
    transport: str
    issuer: DevIssuer
    resource: str | None            # resource-server mode: the protected resource
    calls: list[Call] = field(default_factory=list)
    server: Any = None
    mcp_auth: MCPAuth | None = None

    def mint(self, scope: str, sub: str = "alice") -> str:
        return self.issuer.mint(sub=sub, scope=scope, aud=self.resource)

    @property
    def metadata(self) -> str | None:
        return None if self.resource is None else resource_metadata_url(self.resource)

    @property
    def post_path(self) -> str:
        """Where the client POSTs its messages."""
        return "/messages/" if self.transport == SSE else "/mcp"


Launch = Callable[..., Files]


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevIssuer]:
    with DevIssuer(state_dir=tmp_path_factory.mktemp("dev-issuer")) as running:
        yield running


@pytest.fixture
def launch(issuer: DevIssuer) -> Iterator[Launch]:
    """Starts a files app; every app started is stopped at the end of the test.

    :param middleware: ``"decorator"`` (rules read from the server, ``mcp_server=``),
        ``"config"`` (``operation_scopes=RULES``), ``"route"`` (route scopes only) or None
        (no middleware at all).
    :param decorate: mark the server's functions with ``requires_scopes``.
    :param mode: ``"auth-server"`` or ``"resource"`` (RFC 9728 resource-server mode).
    """
    with contextlib.ExitStack() as stack:
        def start(transport: str = STATELESS, *, middleware: str | None = "decorator",
                  decorate: bool = True, mode: str = "auth-server",
                  hierarchy: Any = HIERARCHY) -> Files:
            server_config = fetch_server_config(issuer.issuer, AuthServerType.OAUTH)
            resource = RESOURCE if mode == "resource" else None
            if resource is None:
                mcp_auth = MCPAuth(server=server_config, scope_hierarchy=hierarchy)
            else:
                mcp_auth = MCPAuth(protected_resources=ResourceServerConfig(
                    metadata=ResourceServerMetadata(
                        resource=resource, authorization_servers=[server_config],
                        scopes_supported=["mcp", "files:read", "files:write"])),
                    scope_hierarchy=hierarchy)
            calls: list[Call] = []
            server = files_server(mcp_auth, transport, calls, decorate)
            inner, session_manager, path = transport_app(server, transport)
            wrap = []
            if middleware is not None:
                options: dict[str, Any] = {
                    "decorator": {"mcp_server": server},
                    "config": {"operation_scopes": RULES},
                    "route": {},
                }[middleware]
                wrap = [Middleware(mcp_auth.bearer_auth_middleware(
                    "jwt", required_scopes=ROUTE, resource=resource, max_body_bytes=MAX_BODY,
                    **options))]

            @contextlib.asynccontextmanager
            async def lifespan(app: Starlette) -> AsyncIterator[None]:
                try:
                    if session_manager is not None:
                        async with session_manager.run():
                            yield
                    else:
                        yield
                finally:
                    await mcp_auth.aclose()

            app = Starlette(routes=[Mount("/", app=inner, middleware=wrap)], lifespan=lifespan)
            base = stack.enter_context(serve(app))
            return Files(base, base + path, transport, issuer, resource, calls, server, mcp_auth)

        yield start


# --- the client: the SDK's, with an HTTP auth that records every exchange ------------------

@dataclass
class Exchange:
    method: str
    path: str
    rpc: Any                        # the JSON-RPC body of a POST
    status: int
    content_type: str | None
    challenge: str | None
    body: bytes | None              # the body of an error response


class Recorder(http_lib.Auth):  # type: ignore[misc,name-defined]
    """Sends ``token`` (None: no Authorization header) and records every response."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.exchanges: list[Exchange] = []

    async def async_auth_flow(self, request: Any) -> Any:
        if self.token is not None:
            request.headers["Authorization"] = f"Bearer {self.token}"
        rpc = json.loads(await request.aread()) if request.method == "POST" else None
        response = yield request
        body = await response.aread() if response.status_code >= 400 else None
        self.exchanges.append(Exchange(
            request.method, request.url.path, rpc, response.status_code,
            response.headers.get("content-type"), response.headers.get("www-authenticate"),
            body))

    def carrying(self, method: str, name: str | None = None) -> list[Exchange]:
        """The POSTs that carried ``method`` (on ``name``, a tool's/prompt's name or a URI)."""
        def names(rpc: Any) -> bool:
            params = rpc.get("params") or {}
            return name is None or name in (params.get("name"), params.get("uri"))
        return [e for e in self.exchanges
                if isinstance(e.rpc, dict) and e.rpc.get("method") == method and names(e.rpc)]


Step = Callable[[ClientSession], Awaitable[Any]]


async def run(files: Files, auth: Recorder, *steps: Step) -> tuple[list[Any], list[BaseException]]:
    """The steps in one session, until one fails: (their results, the errors seen)."""
    results: list[Any] = []
    errors: list[BaseException] = []
    try:
        async with mcp_session(files.url, files.transport, auth) as session:
            for step in steps:
                try:
                    results.append(await step(session))
                except Exception as error:  # noqa: BLE001 - asserted by the caller
                    errors.append(error)
                    break
    except Exception as error:  # noqa: BLE001 - SDK 1.x: the HTTP error ends the session
        errors.extend(leaves(error))
    return results, errors


def tool(name: str, timeout: float = TIMEOUT, **arguments: Any) -> Step:
    return lambda session: session.call_tool(name, arguments, seconds(timeout))


def resource(uri: str, timeout: float = TIMEOUT) -> Step:
    async def read(session: ClientSession) -> Any:
        with anyio.fail_after(timeout):
            return await session.read_resource(uri)  # type: ignore[arg-type,unused-ignore]
    return read


def prompt(name: str, timeout: float = TIMEOUT, **arguments: str) -> Step:
    async def get(session: ClientSession) -> Any:
        with anyio.fail_after(timeout):
            return await session.get_prompt(name, arguments)
    return get


def is_error(result: Any) -> bool:
    return bool(getattr(result, "is_error", getattr(result, "isError", None)))


def seen_by(result: Any) -> dict[str, Any]:
    """What the server function reported, from a tool, resource or prompt result."""
    if hasattr(result, "messages"):
        text = result.messages[0].content.text
    elif hasattr(result, "contents"):
        text = result.contents[0].text
    else:
        assert not is_error(result), result
        text = result.content[0].text
    seen: dict[str, Any] = json.loads(text)
    return seen


def assert_refused_over_http(errors: list[BaseException], transport: str) -> None:
    """How the SDK client reports an HTTP 403 to a POST: never as a result."""
    assert len(errors) == 1, errors
    error = errors[0]
    if transport == SSE:
        # The SSE client posts the message, gets the 403 (logged), and never hears back.
        assert isinstance(error, (ClientError, TimeoutError)), errors
        if isinstance(error, ClientError):
            assert "timed out" in error.error.message.lower()
    elif MCP_MAJOR >= 2:
        # The 2.x streamable HTTP client turns a non-JSON-RPC error response into a JSON-RPC
        # internal error: the status is only seen on the wire.
        assert isinstance(error, ClientError), errors
        assert (error.error.code, error.error.message) == (-32603,
                                                           "Server returned an error response")
    else:
        # The 1.x streamable HTTP client raises the HTTP error out of the session.
        assert isinstance(error, http_lib.HTTPStatusError), errors
        assert error.response.status_code == 403


def assert_one_refusal(auth: Recorder, files: Files, method: str, name: str, scopes: str,
                       *missing: str) -> None:
    """The one POST that carried the operation was answered 403 with the exact challenge,
    as a JSON document (no event stream started)."""
    [sent] = auth.carrying(method, name)
    assert (sent.path, sent.status) == (files.post_path, 403)
    assert sent.content_type == "application/json"
    assert sent.challenge == challenge(scopes, files.metadata)
    assert sent.body is not None and json.loads(sent.body) == refusal(*missing)


def scope_of(challenge_value: str) -> str:
    found = re.search(r'(?:^Bearer |, )scope="([^"]*)"', challenge_value)
    assert found is not None, challenge_value
    return found.group(1)


# --- 1, 2: the refusal a client can act on, and step-up -------------------------------------

@pytest.mark.parametrize("mode", ["auth-server", "resource"])
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_missing_operation_scope_is_a_403_before_any_stream(
        launch: Launch, transport: str, mode: str) -> None:
    files = launch(transport, mode=mode)
    auth = Recorder(files.mint("mcp files:read"))
    results, errors = await run(files, auth, tool("list_files"),
                                tool("delete_file", SHORT, path="a.txt"))

    assert len(results) == 1 and seen_by(results[0])["operation"] == "list_files"
    assert_refused_over_http(errors, transport)
    assert_one_refusal(auth, files, "tools/call", "delete_file", "mcp files:write", "files:write")
    # The tool never ran; the route-scoped one did, with the token the client sent.
    assert files.calls == [Call("list_files", None, "alice", ("mcp", "files:read"),
                                jti_of(auth.token or ""))]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_step_up_to_the_challenged_scopes_succeeds(launch: Launch, transport: str) -> None:
    files = launch(transport)
    first = Recorder(files.mint("mcp files:read"))
    _, errors = await run(files, first, tool("delete_file", SHORT, path="a.txt"))
    assert_refused_over_http(errors, transport)
    [refused] = first.carrying("tools/call", "delete_file")
    assert refused.status == 403 and refused.challenge is not None
    wanted = scope_of(refused.challenge)
    assert wanted == "mcp files:write"

    stepped_up = files.mint(wanted, sub="alice")
    second = Recorder(stepped_up)
    results, errors = await run(files, second, tool("delete_file", path="a.txt"))
    assert errors == []
    assert not is_error(results[0])
    assert seen_by(results[0]) == {"operation": "delete_file", "argument": "a.txt",
                                   "subject": "alice", "jti": jti_of(stepped_up),
                                   "scopes": ["mcp", "files:write"]}
    assert [sent.status for sent in second.carrying("tools/call", "delete_file")] == [
        202 if transport == SSE else 200]
    assert files.calls == [Call("delete_file", "a.txt", "alice", ("mcp", "files:write"),
                                jti_of(stepped_up))]


# --- 3: scope hierarchies --------------------------------------------------------------------

@pytest.mark.parametrize("hierarchy,scope,name", [
    (HIERARCHY, "mcp files:write", "read_file"),                  # declared implication
    (HIERARCHY, "mcp admin", "read_file"),                        # ... transitive
    (HIERARCHY, "mcp admin", "delete_file"),
    (ScopeHierarchy(separator=":"), "mcp files", "read_file"),    # the separator rule
    (ScopeHierarchy(separator=":"), "mcp files", "delete_file"),
], ids=["write-grants-read", "admin-grants-read", "admin-grants-write", "files-grants-read",
        "files-grants-write"])
@pytest.mark.parametrize("transport", [STATEFUL, STATELESS])
async def test_a_broader_scope_grants_the_operation(
        launch: Launch, transport: str, hierarchy: Any, scope: str, name: str) -> None:
    files = launch(transport, hierarchy=hierarchy)
    token = files.mint(scope)
    auth = Recorder(token)
    results, errors = await run(files, auth, tool(name, path="a.txt"))
    assert errors == []
    assert seen_by(results[0])["scopes"] == scope.split()
    assert [sent.status for sent in auth.carrying("tools/call", name)] == [200]
    assert files.calls == [Call(name, "a.txt", "alice", tuple(scope.split()), jti_of(token))]


@pytest.mark.parametrize("hierarchy,scope,name,needed", [
    (HIERARCHY, "mcp files:read", "delete_file", "files:write"),   # narrower never grants
    (ScopeHierarchy(separator=":"), "mcp files:read", "delete_file", "files:write"),
    (ScopeHierarchy(separator=":"), "mcp file", "read_file", "files:read"),  # not a prefix
    (None, "mcp files:write", "read_file", "files:read"),          # no hierarchy: exact
], ids=["read-not-write", "sibling", "not-a-separator-prefix", "flat"])
async def test_a_scope_that_does_not_imply_the_rule_is_refused(
        launch: Launch, hierarchy: Any, scope: str, name: str, needed: str) -> None:
    files = launch(STATELESS, hierarchy=hierarchy)
    auth = Recorder(files.mint(scope))
    _, errors = await run(files, auth, tool(name, path="a.txt"))
    assert_refused_over_http(errors, STATELESS)
    assert_one_refusal(auth, files, "tools/call", name, f"mcp {needed}", needed)
    assert files.calls == []


# --- 4: the body and the Mcp-Method / Mcp-Name headers, with raw POSTs ------------------------

def call_body(name: str, request_id: Any = 7, **arguments: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}


def b64_header(value: str) -> str:
    return "=?base64?" + base64.b64encode(value.encode()).decode() + "?="


async def raw_post(files: Files, token: str, body: bytes | Any,
                   headers: dict[str, str] | None = None) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with http_lib.AsyncClient(timeout=TIMEOUT) as http:
        return await http.post(files.url, content=content, headers={
            "authorization": f"Bearer {token}", "accept": ACCEPT,
            "content-type": "application/json", **(headers or {})})


def sse_result(response: Any) -> dict[str, Any]:
    """The one JSON-RPC message of a ``text/event-stream`` answer."""
    assert response.headers["content-type"].startswith("text/event-stream")
    data = [line[len("data: "):] for line in response.text.splitlines()
            if line.startswith("data: ")]
    assert len(data) == 1, response.text
    message: dict[str, Any] = json.loads(data[0])
    return message


@pytest.mark.parametrize("headers", [
    {},
    {"Mcp-Method": "tools/call", "Mcp-Name": "read_file"},
    {"Mcp-Method": "tools/call", "Mcp-Name": b64_header("read_file")},
    {"Mcp-Name": b64_header("read_file")},
], ids=["no-headers", "method-and-name", "base64-name", "base64-name-only"])
async def test_headers_that_name_the_body_operation_pass(
        launch: Launch, headers: dict[str, str]) -> None:
    files = launch(STATELESS)
    token = files.mint("mcp files:read")
    response = await raw_post(files, token, call_body("read_file", path="a.txt"), headers)
    assert response.status_code == 200
    message = sse_result(response)
    assert message["id"] == 7 and message["result"]["isError"] is False
    assert json.loads(message["result"]["content"][0]["text"])["operation"] == "read_file"
    assert files.calls == [Call("read_file", "a.txt", "alice", ("mcp", "files:read"),
                                jti_of(token))]


METHOD_MISMATCH = "The Mcp-Method header does not match the request body's method."
NAME_MISMATCH = "The Mcp-Name header does not match the request body's name."
REPEATED = "The request body repeats method, params, name or uri in an object."
NOT_JSON = "The request body is not JSON."


@pytest.mark.parametrize("body,headers,status,expected", [
    (call_body("read_file", path="a"), {"Mcp-Method": "tools/list"},
     400, rpc_error(7, -32020, METHOD_MISMATCH)),
    (call_body("read_file", "req-1", path="a"), {"Mcp-Method": "tools/list"},
     400, rpc_error("req-1", -32020, METHOD_MISMATCH)),
    # A proxy that trusts the header would see read_file; the body calls delete_file.
    (call_body("delete_file", path="a"), {"Mcp-Method": "tools/call", "Mcp-Name": "read_file"},
     400, rpc_error(7, -32020, NAME_MISMATCH)),
    (call_body("read_file", path="a"), {"Mcp-Method": "tools/call", "Mcp-Name": "list_files"},
     400, rpc_error(7, -32020, NAME_MISMATCH)),
    (call_body("read_file", path="a"), {"Mcp-Method": "tools/call", "Mcp-Name": "=?base64?%%?="},
     400, rpc_error(7, -32020, NAME_MISMATCH)),
    (call_body("read_file", path="a"),
     {"Mcp-Method": "tools/call", "Mcp-Name": b64_header("delete_file")},
     400, rpc_error(7, -32020, NAME_MISMATCH)),
    (call_body("read_file", path="a"), {"Mcp-Method": "tools/call", "Mcp-Name": ""},
     400, rpc_error(7, -32020, NAME_MISMATCH)),
    ({"jsonrpc": "2.0", "id": 7, "method": "resources/read", "params": {"uri": "config://app"}},
     {"Mcp-Method": "resources/read", "Mcp-Name": "file:///x"},
     400, rpc_error(7, -32020, "The Mcp-Name header does not match the request body's uri.")),
    # As the SDK: a named operation's Mcp-Method needs its Mcp-Name.
    (call_body("read_file", path="a"), {"Mcp-Method": "tools/call"},
     400, rpc_error(7, -32020, NAME_MISMATCH)),
    # Bodies the middleware cannot classify are refused, never passed on.
    (b'{"jsonrpc":"2.0","id":7,"method":"tools/call",'
     b'"params":{"name":"read_file","name":"delete_file","arguments":{"path":"a"}}}', {},
     400, rpc_error(None, -32600, REPEATED)),
    (b'{"jsonrpc":"2.0","id":7,"method":"tools/list","method":"tools/call",'
     b'"params":{"name":"delete_file","arguments":{"path":"a"}}}', {},
     400, rpc_error(None, -32600, REPEATED)),
    (b'{"jsonrpc":"2.0","id":7,"method":"tools/call",'
     b'"params":{"name":"read_file","arguments":{"path":"a","uri":"b","uri":"c"}}}', {},
     400, rpc_error(None, -32600, REPEATED)),
    (b"this is not JSON", {},
     400, rpc_error(None, -32700, NOT_JSON)),
    (b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_file",'
     b'"arguments":{"path":NaN}}}', {},
     400, rpc_error(None, -32700, NOT_JSON)),
    ({"jsonrpc": "2.0", "id": 7, "method": 5, "params": {"name": "read_file"}}, {},
     400, rpc_error(7, -32600, "The JSON-RPC method is not a string.")),
    ({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": 5}}, {},
     400, rpc_error(7, -32600, "tools/call needs a string params.name.")),
    ({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": ["read_file"]}, {},
     400, rpc_error(7, -32600, "tools/call needs a string params.name.")),
    ([], {}, 400, rpc_error(None, -32600, "The JSON-RPC batch is empty.")),
    ("tools/call", {}, 400, rpc_error(None, -32600, "A JSON-RPC message is not an object.")),
    (call_body("read_file", path="a" * MAX_BODY), {},
     413, rpc_error(None, -32600, f"The request body is over {MAX_BODY} bytes.")),
    (call_body("read_file", path="a" * (1 << 20)), {},
     413, rpc_error(None, -32600, f"The request body is over {MAX_BODY} bytes.")),
], ids=["method-mismatch", "method-mismatch-string-id", "name-of-another-tool",
        "name-of-an-unruled-tool", "name-bad-base64", "base64-name-of-another-tool",
        "empty-name", "uri-of-another-resource", "method-without-name", "repeated-name",
        "repeated-method", "repeated-argument", "not-json",
        "nan", "method-not-a-string", "name-not-a-string", "params-not-an-object",
        "empty-batch", "not-an-object", "over-the-cap", "far-over-the-cap"])
async def test_a_body_or_header_the_middleware_cannot_trust_is_refused(
        launch: Launch, body: Any, headers: dict[str, str], status: int,
        expected: dict[str, Any]) -> None:
    files = launch(STATELESS)
    # The token has every scope: these refusals are about the message, not the token.
    response = await raw_post(files, files.mint("mcp admin"), body, headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert "www-authenticate" not in response.headers
    assert response.json() == expected
    assert files.calls == []


@pytest.mark.parametrize("elements,scope,challenged,missing", [
    (["read_file", "delete_file"], "mcp files:read", "mcp files:read files:write",
     ["files:write"]),
    (["list_files", "delete_file"], "mcp files:read", "mcp files:write", ["files:write"]),
    (["read_file", "list_files"], "mcp", "mcp files:read", ["files:read"]),
], ids=["read-and-delete", "unruled-and-delete", "read-and-unruled"])
async def test_a_batch_needs_what_all_its_elements_need(
        launch: Launch, elements: list[str], scope: str, challenged: str,
        missing: list[str]) -> None:
    files = launch(STATELESS)
    batch = [call_body(name, n, path="a") for n, name in enumerate(elements, 1)]
    response = await raw_post(files, files.mint(scope), batch)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == challenge(challenged)
    assert response.json() == refusal(*missing)
    assert files.calls == []


async def test_a_batch_with_every_scope_reaches_the_sdk(launch: Launch) -> None:
    files = launch(STATELESS)
    batch = [call_body("read_file", 1, path="a"), call_body("delete_file", 2, path="b")]
    response = await raw_post(files, files.mint("mcp files:write"), batch)
    # Both SDK majors refuse JSON-RPC batches themselves (a validation error): what matters
    # here is that the middleware let the batch through to them.
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32602
    assert "missing_scopes" not in response.json()
    assert files.calls == []


# --- 5: resources and prompts, from the decorator or from configuration ------------------------

@pytest.mark.parametrize("rules", ["decorator", "config"])
@pytest.mark.parametrize("transport", [STATEFUL, STATELESS])
async def test_resources_and_prompts_need_their_scopes(
        launch: Launch, transport: str, rules: str) -> None:
    # With "config" the functions are not decorated: the middleware alone protects them.
    files = launch(transport, middleware=rules, decorate=rules == "decorator")
    token = files.mint("mcp files:read")
    refused = [
        (resource("config://app"), "resources/read", "config://app", "config:read"),
        (prompt("review", code="x"), "prompts/get", "review", "prompts:use"),
        (resource("notes://a.txt"), "resources/read", "notes://a.txt", "notes:read"),
        (tool("delete_file", path="a"), "tools/call", "delete_file", "files:write"),
    ]
    for step, method, name, needed in refused:
        auth = Recorder(token)
        _, errors = await run(files, auth, step)
        assert_refused_over_http(errors, transport)
        assert_one_refusal(auth, files, method, name, f"mcp {needed}", needed)
    assert files.calls == []

    # The template's rule covers its URIs; the files:read token reads them.
    auth = Recorder(token)
    results, errors = await run(files, auth, resource("file:///notes.txt"),
                                resource("file:///a%20b"))
    assert errors == []
    assert [seen_by(r)["argument"] for r in results] == [
        "notes.txt", "a b" if MCP_MAJOR >= 2 else "a%20b"]
    assert [c.operation for c in files.calls] == ["file:///{path}"] * 2
    files.calls.clear()

    # A token with every scope gets every one of them.
    everything = files.mint("mcp files:write config:read prompts:use notes:read")
    auth = Recorder(everything)
    results, errors = await run(files, auth, resource("config://app"), prompt("review", code="x"),
                                resource("notes://a.txt"), tool("delete_file", path="a"))
    assert errors == []
    assert [seen_by(r)["operation"] for r in results] == [
        "config://app", "review", "notes://{name}.txt", "delete_file"]
    assert {(c.subject, c.jti) for c in files.calls} == {("alice", jti_of(everything))}


async def test_a_template_rule_covers_its_uris(launch: Launch) -> None:
    # Rules from configuration, undecorated functions: only the middleware protects them.
    files = launch(STATELESS, middleware="config", decorate=False)
    request = {"jsonrpc": "2.0", "id": 3, "method": "resources/read",
               "params": {"uri": "notes://secret.txt"}}
    response = await raw_post(files, files.mint("mcp files:read"), request)
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == challenge("mcp notes:read")
    assert response.json() == refusal("notes:read")
    assert files.calls == []


async def test_a_template_rule_covers_every_uri_the_sdk_maps_to_it(launch: Launch) -> None:
    files = launch(STATELESS, middleware="config", decorate=False)
    request = {"jsonrpc": "2.0", "id": 3, "method": "resources/read",
               "params": {"uri": "notes://secretXtxt"}}
    response = await raw_post(files, files.mint("mcp files:read"), request)
    # SDK 2.x matches the literal ".txt" literally: no template serves this URI, so the
    # middleware may pass it on; what must hold everywhere is that nothing is served.
    assert files.calls == []
    if response.status_code == 200:
        assert "result" not in sse_result(response)
    else:
        assert response.status_code == 403
        assert response.json() == refusal("notes:read")


@pytest.mark.parametrize("uri", [
    "config://app", "CONFIG://app", "Config://app", "config://APP", "config://app/",
    "config://app#x", "config://app?x", "config://%61pp", "config://./app",
    "file:///x", "FILE:///x", "File:///x", "file:///a%2Fb", "file:///a/../x", "file://localhost/x",
    "file:///x#y", "notes://a.txt", "NOTES://a.txt", "notes://A.txt", "notes://a.txt?v",
    "notes://a/../b.txt", "notes://a%2Etxt",
])
async def test_no_spelling_of_a_protected_uri_is_served_without_its_scope(
        launch: Launch, uri: str) -> None:
    # Rules from configuration, undecorated functions: only the middleware protects them. A
    # URI either gets the 403 or is one the SDK serves from nothing protected.
    files = launch(STATELESS, middleware="config", decorate=False)
    request = {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": uri}}
    response = await raw_post(files, files.mint("mcp"), request)
    assert files.calls == [], response.text
    if response.status_code != 403:
        assert "result" not in sse_result(response), response.text


# --- 6: the decorator inside the function, whatever is in front ---------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_decorator_alone_refuses_to_run_without_a_token(
        launch: Launch, transport: str) -> None:
    files = launch(transport, middleware=None)
    auth = Recorder(None)
    results, errors = await run(files, auth, tool("delete_file", path="a"), tool("list_files"))
    assert errors == []
    refused, listed = results
    # The SDK answers the refusal inside the 200: a tool error, which is all it can do.
    assert is_error(refused)
    assert refused.content[0].text.startswith("Error executing tool delete_file")
    assert seen_by(listed)["subject"] is None
    assert [c.operation for c in files.calls] == ["list_files"]

    for step in (resource("config://app"), resource("file:///a"), prompt("review", code="x")):
        _, errors = await run(files, Recorder(None), step)
        assert [type(e) for e in errors] == [ClientError], errors
    assert [c.operation for c in files.calls] == ["list_files"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_decorator_checks_the_token_of_each_request(
        launch: Launch, transport: str) -> None:
    # A middleware with route scopes only: the decorator is the only operation check.
    files = launch(transport, middleware="route")
    writer = files.mint("mcp files:write")
    reader = files.mint("mcp files:read")
    auth = Recorder(writer)

    async def with_reader_token(session: ClientSession) -> Any:
        auth.token = reader      # same subject and client: the same session accepts it
        return await session.call_tool("delete_file", {"path": "b"}, seconds(TIMEOUT))

    results, errors = await run(files, auth, tool("delete_file", path="a"), with_reader_token,
                                resource("config://app"))
    assert len(results) == 2, (results, errors)
    allowed, refused = results
    assert seen_by(allowed)["jti"] == jti_of(writer)
    assert is_error(refused)
    assert refused.content[0].text.startswith("Error executing tool delete_file")
    assert [type(e) for e in errors] == [ClientError], errors    # config://app: no config:read
    # Both refusals were inside a 200: the middleware has no operation rule here.
    assert [s.status for s in auth.carrying("tools/call", "delete_file")] == [
        202 if transport == SSE else 200] * 2
    assert files.calls == [Call("delete_file", "a", "alice", ("mcp", "files:write"),
                                jti_of(writer))]


async def test_a_tool_registered_after_the_first_request_is_refused_with_a_403(
        launch: Launch) -> None:
    files = launch(STATELESS)
    token = files.mint("mcp")
    first = await raw_post(files, token, call_body("list_files"))
    assert first.status_code == 200
    assert files.mcp_auth is not None
    late_calls: list[str] = []

    @files.server.tool()
    @files.mcp_auth.requires_scopes("files:write")
    def truncate_file(path: str) -> str:
        late_calls.append(path)
        return path

    response = await raw_post(files, token, call_body("truncate_file", path="a"))
    assert late_calls == []
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == challenge("mcp files:write")
    assert response.json() == refusal("files:write")


# --- 7: operations without a rule need only the route's scopes ----------------------------------

@pytest.mark.parametrize("rules", ["decorator", "config"])
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_operations_without_a_rule_need_only_the_route_scopes(
        launch: Launch, transport: str, rules: str) -> None:
    files = launch(transport, middleware=rules, decorate=rules == "decorator")
    token = files.mint("mcp")
    auth = Recorder(token)

    async def listings(session: ClientSession) -> Any:
        tools = await session.list_tools()
        resources = await session.list_resources()
        templates = await session.list_resource_templates()
        prompts = await session.list_prompts()
        listed = getattr(templates, "resource_templates", None)
        if listed is None:
            listed = templates.resourceTemplates  # SDK 1.x
        return ({t.name for t in tools.tools}, {str(r.uri) for r in resources.resources},
                {getattr(t, "uri_template", None) or t.uriTemplate for t in listed},
                {p.name for p in prompts.prompts})

    results, errors = await run(files, auth, listings, tool("list_files"))
    assert errors == []
    names, uris, templates, prompts = results[0]
    assert names == {"delete_file", "read_file", "list_files"}
    assert uris == {"config://app"}
    assert templates == {"file:///{path}", "notes://{name}.txt"}
    assert prompts == {"review"}
    assert seen_by(results[1])["scopes"] == ["mcp"]
    assert files.calls == [Call("list_files", None, "alice", ("mcp",), jti_of(token))]
    assert {s.status for s in auth.exchanges if s.method == "POST"} <= {200, 202}


async def test_without_the_route_scope_nothing_is_read(launch: Launch) -> None:
    files = launch(STATELESS)
    # Route scopes are checked before the body is read: even an unclassifiable body gets the
    # route's 403, which names the route's scopes only.
    for body in (call_body("list_files"), b"not JSON"):
        response = await raw_post(files, files.mint("files:write"), body)
        assert response.status_code == 403
        assert response.headers["www-authenticate"] == challenge("mcp")
        assert response.json() == refusal("mcp")
    assert files.calls == []
