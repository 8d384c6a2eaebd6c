"""The README's Python code blocks, run as tests on MCP SDK 1.x and 2.x.

README.md is parsed when the tests are collected: every fenced block whose info string is
``python`` (or ``py``) is a test case, so a block added later is covered without editing this
file. A block is executed as written (top-level ``await`` allowed), with these changes only:

- MCP SDK 2.x: ``from mcp.server.fastmcp import FastMCP`` becomes
  ``from mcp.server.mcpserver import MCPServer as FastMCP`` (``for_sdk``, shared with the seed
  examples); on 1.x nothing changes.
- Placeholder URLs (``PLACEHOLDERS``) become local servers on 127.0.0.1:
  ``https://idp.example.com``, and any URL under it, is the local identity provider
  (``LocalIdp``: RFC 8414 / OIDC discovery metadata naming it as the issuer, its JWKS at
  ``/jwks`` and ``/.well-known/jwks.json``); ``https://api.example.com/mcp``, the protected
  resource (the tokens' audience), is the URL the block's app is served at. A URL on a loopback
  host stays as it is. Any other URL fails the test before the block runs, so a new block
  cannot do network I/O unnoticed; and while blocks run and are served, a guard refuses every
  connection and name lookup that is not to a loopback address (``loopback_only``).
- A name a block leaves to its reader (``SUPPLIED``) is given a value: ``token``, the access
  token a block verifies (a valid one, or a forged one to see it refused).

Which blocks run together, decided by content: a block that reads a global name it neither
defines nor imports (and that is no builtin and not in ``SUPPLIED``) is a fragment continuing
the block before it, and runs after that block (and its own predecessors, by the same rule) in
one namespace. A fragment whose names that chain does not define fails.

How a block is checked, by what it builds:

- it (with its chain) defines ``app``: the app is served by uvicorn on 127.0.0.1, and every
  endpoint found in its routes is exercised. Tokens are minted with the local identity
  provider's keys for the policy of the bearer middleware in front of the endpoint (issuer,
  audience, required scopes). An MCP endpoint (SSE or streamable HTTP, made by the SDK) is
  driven by the SDK's own client: its tools are listed and each is called with valid tokens of
  two subjects, and must return what ``TOOLS`` says that tool returns for the subject it saw (a
  tool the harness does not know fails the test); a plain route gets a plain HTTP GET. A
  request without a token (plain HTTP, and the SDK's client) is refused with 401
  ``missing_auth_header`` (a plain route without a bearer middleware is public); a forged
  token, a token for another audience, a token without the required scopes are refused as
  mcpauth does.
- it reads ``token``: run with a valid token, it must leave an ``AuthInfo`` of that token's
  subject in its namespace; with a forged or empty token it must raise
  ``MCPAuthTokenVerificationException``.
- any other block is run, and must not raise.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import inspect
import ipaddress
import json
import re
import socket
import symtable
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.routing import Mount, Route
from support.app_factory import KEY_ALGS
from support.local_server import Reply
from support.mcp import (
    MCP_MAJOR,
    NO_TOKEN_BODY,
    SSE,
    STATEFUL,
    TIMEOUT,
    Bearer,
    for_sdk,
    http_lib,
    leaves,
    mcp_session,
    seconds,
    serve,
)
from support.metadata_server import MetadataServer
from support.tokens import claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.exceptions import MCPAuthTokenVerificationException
from mcpauth_fast.jwks import RemoteJwks
from mcpauth_fast.middleware import BearerAuthMiddleware, MiddlewareConfig
from mcpauth_fast.types import AuthInfo
from mcpauth_fast.verifier import JwtVerifier

README = Path(__file__).resolve().parent.parent / "README.md"

#: Placeholder URL (and every URL under it) -> the name of the local server standing in for it.
PLACEHOLDERS = {
    "https://idp.example.com": "idp",
    "https://api.example.com/mcp": "resource",
}
LOOPBACK_NAMES = {"localhost"}

#: Names a block may leave to its reader; the harness gives them a value.
SUPPLIED = frozenset({"token"})

#: What each MCP tool of the README returns, given the subject of the token of its call.
TOOLS: dict[str, Callable[[str], Any]] = {
    "whoami": lambda subject: {"subject": subject},
}

OTHER_AUDIENCE = "https://another-resource.example/mcp"


# --- the README's blocks, and which run together ---------------------------------------------

@dataclass(frozen=True)
class Block:
    line: int          # of the opening fence
    source: str

    @property
    def name(self) -> str:
        return f"README.md:{self.line}"


def python_blocks(text: str) -> list[Block]:
    """Every fenced ``python`` / ``py`` block of the Markdown ``text``, in order."""
    blocks: list[Block] = []
    fence: tuple[int, str, str] | None = None     # opening line, fence marker, language
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        marker = stripped[:3]
        if fence is None:
            if marker in ("```", "~~~"):
                info = stripped.lstrip(marker[0]).strip()
                fence, body = (number, marker, info.split()[0].lower() if info else ""), []
        elif stripped.startswith(fence[1]) and not stripped.lstrip(fence[1][0]).strip():
            if fence[2] in ("python", "py"):
                blocks.append(Block(fence[0], textwrap.dedent("\n".join(body)) + "\n"))
            fence = None
        else:
            body.append(line)
    return blocks


def defined_names(source: str) -> set[str]:
    """The global names ``source`` binds: assigned, imported, or defined by def/class."""
    table = symtable.symtable(source, "<block>", "exec")
    return {s.get_name() for s in table.get_symbols()
            if s.is_assigned() or s.is_imported() or s.is_namespace()}


def free_names(source: str) -> set[str]:
    """The global names ``source`` reads (at top level or in its functions) but does not bind,
    builtins aside."""
    table = symtable.symtable(source, "<block>", "exec")
    read = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    tables = list(table.get_children())
    while tables:
        child = tables.pop()
        read |= {s.get_name() for s in child.get_symbols() if s.is_referenced() and s.is_global()}
        tables.extend(child.get_children())
    return read - defined_names(source) - set(dir(builtins))


class Unrunnable(AssertionError):
    """A block reads a name that neither it nor the blocks it continues define."""


def chain_of(blocks: list[Block], index: int) -> list[Block]:
    """The blocks to run, in order, to run ``blocks[index]``: the block itself, after the
    block before it when it is a fragment (recursively)."""
    block = blocks[index]
    needed = free_names(block.source) - SUPPLIED
    if not needed:
        return [block]
    if index == 0:
        raise Unrunnable(f"{block.name} reads {sorted(needed)}, which it does not define, and "
                         "no block comes before it")
    chain = chain_of(blocks, index - 1) + [block]
    defined = set().union(*(defined_names(b.source) for b in chain[:-1]))
    if needed - defined:
        raise Unrunnable(f"{block.name} reads {sorted(needed - defined)}, which neither it nor "
                         f"the blocks it continues ({', '.join(b.name for b in chain[:-1])}) "
                         "define")
    return chain


@dataclass(frozen=True)
class Case:
    """A README block and how it is run and checked (decided by its content alone)."""

    blocks: tuple[Block, ...]
    index: int

    @property
    def block(self) -> Block:
        return self.blocks[self.index]

    def chain(self) -> list[Block]:
        return chain_of(list(self.blocks), self.index)

    def _names(self, of: Callable[[str], set[str]]) -> set[str]:
        try:
            return set().union(*(of(b.source) for b in self.chain()))
        except (SyntaxError, Unrunnable):  # test_block_runs says why
            return set()

    @property
    def builds_an_app(self) -> bool:
        return "app" in self._names(defined_names)

    @property
    def reads_a_token(self) -> bool:
        return "token" in self._names(free_names)


def readme_cases() -> list[Case]:
    blocks = tuple(python_blocks(README.read_text(encoding="utf-8")))
    return [Case(blocks, index) for index in range(len(blocks))]


CASES = readme_cases()


def cases(kind: Callable[[Case], bool] = lambda case: True) -> Any:
    return pytest.mark.parametrize("case", [
        pytest.param(case, id=case.block.name) for case in CASES if kind(case)])


# --- the substitutions -----------------------------------------------------------------------

URL = re.compile(r"""https?://[^\s'"`<>()\[\]{}\\]+""")


class UnknownUrl(AssertionError):
    """A block names a URL that is neither on a loopback host nor a known placeholder."""


def is_loopback(host: str | None) -> bool:
    if host is None or host.lower() in LOOPBACK_NAMES:
        return host is not None
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def substitute_urls(source: str, local: Mapping[str, str]) -> str:
    """``source`` with each placeholder URL (and URL under it) moved to its local server:
    ``local`` maps the names of ``PLACEHOLDERS`` to base URLs. Loopback URLs stay; any other
    URL raises ``UnknownUrl``."""
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        if is_loopback(urlsplit(url).hostname):
            return url
        for placeholder in sorted(PLACEHOLDERS, key=len, reverse=True):
            rest = url[len(placeholder):]
            if url.startswith(placeholder) and rest[:1] in ("", "/", "?"):
                return local[PLACEHOLDERS[placeholder]] + rest
        unknown.append(url)
        return url

    substituted = URL.sub(replace, source)
    if unknown:
        raise UnknownUrl(f"a README block names {unknown}: neither loopback nor one of the "
                         f"placeholders the harness serves locally ({sorted(PLACEHOLDERS)})")
    return substituted


class LocalIdp(MetadataServer):
    """The identity provider on 127.0.0.1: OAuth and OIDC discovery metadata (issuer: its base
    URL, ``jwks_uri``: ``/jwks``) and the test keys' JWKS."""

    JWKS_PATHS = ("/jwks", "/.well-known/jwks.json")

    def respond(self, path: str) -> Reply:
        if path in self.JWKS_PATHS:
            keys = {"keys": [signing_key(alg).jwk() for alg in KEY_ALGS]}
            return 200, {"content-type": "application/json"}, json.dumps(keys).encode()
        return super().respond(path)


@dataclass
class Local:
    """The servers standing in for the placeholders, for one test."""

    idp: LocalIdp
    listener: socket.socket     # bound, not yet listening: the app is served on it

    @property
    def resource(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/mcp"

    def urls(self) -> dict[str, str]:
        return {"idp": self.idp.base, "resource": self.resource}


@pytest.fixture
def local() -> Iterator[Local]:
    idp = LocalIdp()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        yield Local(idp, listener)
    finally:
        listener.close()
        idp.close()


class NonLoopbackConnection(OSError):
    """Raised by the guard instead of any connection or lookup off the loopback interface."""


def _check_address(address: Any) -> None:
    if isinstance(address, tuple) and not is_loopback(str(address[0])):
        raise NonLoopbackConnection(f"test guard: no connection to {address[0]!r}")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket connects, and no name is resolved, off the loopback interface (every thread;
    the app is served on asyncio, not uvloop, so its own fetches go through here too)."""
    connect, connect_ex, getaddrinfo = (
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _check_address(address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not is_loopback(name):
            raise NonLoopbackConnection(f"test guard: no lookup of {name!r}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


# --- running a block ---------------------------------------------------------------------------

async def run_case(case: Case, local: Local, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run ``case``'s chain of blocks in ``namespace`` (which holds the supplied names), and
    return it."""
    namespace.setdefault("__name__", "readme_example")
    for block in case.chain():
        source = substitute_urls(for_sdk(block.source), local.urls())
        code = compile(source, f"<{block.name}>", "exec",
                       flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        result = eval(code, namespace)  # noqa: S307 - the README's own code
        if inspect.iscoroutine(result):
            await result
    return namespace


async def close_all(namespace: Mapping[str, Any]) -> None:
    """Close what a block opened on this event loop (key sources and their HTTP clients)."""
    for value in namespace.values():
        if isinstance(value, JwtVerifier):
            value = value.keys
        if isinstance(value, MCPAuth | RemoteJwks):
            await value.aclose()


# --- an app's endpoints, and the policy in front of each -------------------------------------

ROUTE = "route"


@dataclass(frozen=True)
class Endpoint:
    path: str
    kind: str                                   # SSE, STATEFUL (streamable HTTP) or ROUTE
    policies: tuple[MiddlewareConfig, ...]      # of the bearer middlewares on the way to it

    @property
    def policy(self) -> MiddlewareConfig | None:
        assert len(self.policies) <= 1, f"{self.path}: several bearer middlewares in front"
        return self.policies[0] if self.policies else None


def _bearer_policies(app: Any, base: Any = None) -> tuple[MiddlewareConfig, ...]:
    """The bearer middlewares of a Starlette app's middleware list, and those wrapped around
    ``base`` (a Mount's app) down to it."""
    found = [m.cls.config for m in getattr(app, "user_middleware", ())
             if isinstance(m.cls, type) and issubclass(m.cls, BearerAuthMiddleware)]
    while base is not None and app is not base:
        if isinstance(app, BearerAuthMiddleware):
            found.append(app.config)
        app = getattr(app, "app", None)
        if app is None:
            break
    return tuple(found)


def _from_the_sdk(endpoint: Any) -> bool:
    module = getattr(endpoint, "__module__", None) or type(endpoint).__module__
    return module.split(".")[0] == "mcp"


def endpoints(app: Any, prefix: str = "",
              policies: tuple[MiddlewareConfig, ...] = ()) -> list[Endpoint]:
    """Every endpoint of ``app``'s routes (recursing into mounts), with the bearer middleware
    configs in front of it. A route the harness does not know fails."""
    policies += _bearer_policies(app)
    found: list[Endpoint] = []
    for route in getattr(app, "routes", ()):
        path = prefix + route.path
        if isinstance(route, Mount):
            base = getattr(route, "_base_app", route.app)
            inner = policies + _bearer_policies(route.app, base)
            if getattr(base, "routes", None) is not None:
                found += endpoints(base, path, inner)
            elif not _from_the_sdk(base):   # the SDK's SSE message endpoint is used by the client
                raise AssertionError(f"the harness does not know how to exercise {path}")
        elif isinstance(route, Route) and _from_the_sdk(route.endpoint):
            if type(route.endpoint).__name__ == "StreamableHTTPASGIApp":
                found.append(Endpoint(path, STATEFUL, policies))
            elif "GET" in (route.methods or ()):
                found.append(Endpoint(path, SSE, policies))
            else:
                raise AssertionError(f"the harness does not know the MCP endpoint {path}")
        elif isinstance(route, Route) and "{" not in path and "GET" in (route.methods or ()):
            found.append(Endpoint(path, ROUTE, policies))
        else:
            raise AssertionError(f"the harness does not know how to exercise {path} ({route})")
    return found


def token_claims(policy: MiddlewareConfig | None, subject: str,
                 **overrides: Any) -> dict[str, Any]:
    """Valid claims for ``policy`` (its first issuer and audience, all its required scopes)
    unless ``overrides`` say otherwise."""
    fields: dict[str, Any] = {"sub": subject}
    if policy is not None:
        if policy.issuers:
            fields["iss"] = sorted(policy.issuers)[0]
        if policy.audiences:
            fields["aud"] = sorted(policy.audiences)[0]
        if policy.required_scopes:
            fields["scope"] = " ".join(policy.required_scopes)
    return claims(time.time(), **{**fields, **overrides})


def mint(policy: MiddlewareConfig | None, subject: str, **overrides: Any) -> str:
    """A token of ``token_claims``, signed by a key the local identity provider publishes."""
    return signing_key("ES256").mint(token_claims(policy, subject, **overrides))


def forged(policy: MiddlewareConfig | None, subject: str, **overrides: Any) -> str:
    """Like ``mint``, but signed by another key, under the published key's ``kid``."""
    impostor = signing_key("ES256", kid=signing_key("ES256").kid, variant=1)
    return impostor.mint(token_claims(policy, subject, **overrides))


async def first_response(base: str, endpoint: Endpoint,
                         bearer_token: str | None) -> tuple[int, Any]:
    """Status and JSON body (None when 2xx) of the request a client opens ``endpoint`` with,
    sent with plain HTTP. A 2xx body is not read (an SSE stream does not end)."""
    headers = {} if bearer_token is None else {"authorization": f"Bearer {bearer_token}"}
    request: dict[str, Any] = {"method": "GET", "url": base + endpoint.path, "headers": headers}
    if endpoint.kind == STATEFUL:
        request.update(method="POST", json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "readme-test", "version": "0"}}})
        headers["accept"] = "application/json, text/event-stream"
    async with http_lib.AsyncClient(timeout=TIMEOUT) as http:
        async with http.stream(**request) as response:
            if response.status_code < 300:
                return response.status_code, None
            await response.aread()
            return response.status_code, response.json()


@contextlib.asynccontextmanager
async def served(case: Case, local: Local) -> AsyncIterator[tuple[str, list[Endpoint]]]:
    """The case's app, served on 127.0.0.1: its base URL and endpoints."""
    namespace: dict[str, Any] = {}
    try:
        app = (await run_case(case, local, namespace))["app"]
        found = endpoints(app)
        assert found, f"{case.block.name}: the app has no endpoint the harness can exercise"
        # asyncio, so that ``loopback_only`` sees the app's own connections.
        with serve(app, local.listener, loop="asyncio") as base:
            yield base, found
    finally:
        await close_all(namespace)


async def tool_results(url: str, transport: str, bearer_token: str) -> dict[str, Any]:
    """Tool name -> what it returned, for every tool the MCP server lists, called with no
    arguments by the SDK's client with ``bearer_token``."""
    results: dict[str, Any] = {}
    async with mcp_session(url, transport, Bearer(bearer_token)) as session:
        for tool in (await session.list_tools()).tools:
            assert tool.name in TOOLS, f"the harness does not know what {tool.name} returns"
            result = await session.call_tool(tool.name, {}, seconds(TIMEOUT))
            assert not getattr(result, "is_error", getattr(result, "isError", False)), result
            results[tool.name] = json.loads(result.content[0].text)
    assert results, f"{url}: the MCP server has no tool"
    return results


# --- the tests: the harness itself -----------------------------------------------------------

def test_the_readme_has_python_blocks() -> None:
    assert CASES
    assert any(case.builds_an_app for case in CASES)


def test_a_fragment_runs_after_the_block_before_it() -> None:
    blocks = python_blocks("```python\nx = 1\n```\ntext\n```python\nasync def f():\n"
                           "    return x\n```\n```python\nprint(f)\n```\n")
    assert chain_of(blocks, 1) == blocks[:2]
    assert chain_of(blocks, 2) == blocks


def test_a_block_that_reads_only_supplied_names_runs_alone() -> None:
    blocks = python_blocks("```python\ntoken = 1\n```\n```python\nx = await f(token)\n"
                           "async def f(t):\n    return t\n```\n")
    assert chain_of(blocks, 1) == blocks[1:]


def test_a_name_no_block_defines_is_refused() -> None:
    blocks = python_blocks("```python\nx = 1\n```\n```python\nprint(x, y)\n```\n")
    with pytest.raises(Unrunnable, match=r"\['y'\]"):
        chain_of(blocks, 1)


def test_an_unknown_url_is_refused() -> None:
    urls = {"idp": "http://127.0.0.1:1", "resource": "http://127.0.0.1:2/mcp"}
    assert substitute_urls('u = "https://idp.example.com/x/y"', urls) == (
        'u = "http://127.0.0.1:1/x/y"')
    assert substitute_urls("http://localhost:8000/mcp", urls) == "http://localhost:8000/mcp"
    for source in ('"https://idp.example.community"', '"https://api.example.com/other"',
                   "fetch('http://192.0.2.1/jwks')"):
        with pytest.raises(UnknownUrl):
            substitute_urls(source, urls)


def test_the_guard_refuses_a_connection_off_loopback() -> None:
    with pytest.raises(NonLoopbackConnection):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with pytest.raises(NonLoopbackConnection):
        socket.getaddrinfo("idp.example.com", 443)


# --- the tests: every block ------------------------------------------------------------------

@cases()
def test_block_names_only_loopback_or_placeholder_urls(case: Case, local: Local) -> None:
    for block in case.chain():
        substitute_urls(block.source, local.urls())


@cases()
async def test_block_runs(case: Case, local: Local) -> None:
    namespace = {"token": mint(None, "readme-reader", iss=local.idp.base)}
    try:
        await run_case(case, local, namespace)
    finally:
        await close_all(namespace)


# --- the tests: the blocks that build an app -------------------------------------------------

@cases(lambda case: case.builds_an_app)
async def test_app_serves_each_token_to_its_tools_and_routes(case: Case, local: Local) -> None:
    async with served(case, local) as (base, found):
        for endpoint in found:
            for subject in ("readme-alice", "readme-bob"):
                bearer_token = mint(endpoint.policy, subject)
                if endpoint.kind == ROUTE:
                    assert (await first_response(base, endpoint, bearer_token))[0] < 300
                    continue
                results = await tool_results(base + endpoint.path, endpoint.kind, bearer_token)
                assert results == {name: TOOLS[name](subject) for name in results}


async def client_refusals(url: str, transport: str) -> list[int]:
    """The HTTP statuses in the error the SDK's client raises when it connects without a
    token."""
    with pytest.raises(Exception) as failed:
        async with mcp_session(url, transport, None):
            pass
    return [e.response.status_code for e in leaves(failed.value)
            if isinstance(e, http_lib.HTTPStatusError)]


@cases(lambda case: case.builds_an_app)
async def test_app_refuses_a_request_without_a_token(case: Case, local: Local) -> None:
    async with served(case, local) as (base, found):
        for endpoint in found:
            if endpoint.kind == ROUTE and endpoint.policy is None:
                continue            # a public route (metadata): served to anyone
            assert endpoint.policy is not None, f"{endpoint.path} is not protected"
            assert await first_response(base, endpoint, None) == (401, NO_TOKEN_BODY)
            if endpoint.kind == ROUTE:
                continue
            statuses = await client_refusals(base + endpoint.path, endpoint.kind)
            if MCP_MAJOR >= 2 and endpoint.kind == STATEFUL:
                # The 2.x streamable HTTP client reports a JSON-RPC error, not the status.
                assert statuses in ([], [401])
            else:
                assert statuses == [401]


REFUSALS: dict[str, tuple[Callable[[MiddlewareConfig], bool],
                          Callable[[MiddlewareConfig], str], int, dict[str, Any]]] = {
    "forged": (lambda policy: True, lambda policy: forged(policy, "readme-mallory"), 401,
               {"error": "invalid_token"}),
    "other-audience": (
        lambda policy: bool(policy.audiences),
        lambda policy: mint(policy, "readme-alice", aud=OTHER_AUDIENCE), 401,
        {"error": "invalid_audience",
         "error_description": "The token audience does not match the expected audience."}),
    "no-scope": (
        lambda policy: bool(policy.required_scopes),
        lambda policy: mint(policy, "readme-alice", scope=""), 403,
        {"error": "missing_required_scopes",
         "error_description": "The token does not contain the necessary scopes for this "
                              "request."}),
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
@cases(lambda case: case.builds_an_app)
async def test_app_refuses_a_token_its_policy_does_not_accept(case: Case, local: Local,
                                                              refusal: str) -> None:
    applies, make, status, body = REFUSALS[refusal]
    async with served(case, local) as (base, found):
        checked = 0
        for endpoint in found:
            policy = endpoint.policy
            if policy is None or not applies(policy):
                continue
            checked += 1
            got_status, got_body = await first_response(base, endpoint, make(policy))
            assert got_status == status
            assert {key: got_body[key] for key in body} == body
            if refusal == "no-scope":
                assert got_body["missing_scopes"] == list(policy.required_scopes)
    if not checked:
        pytest.skip(f"no endpoint of this app has a policy that {refusal} violates")


# --- the tests: the blocks that verify a token -----------------------------------------------

@cases(lambda case: case.reads_a_token)
async def test_verification_gives_the_auth_info_of_a_valid_token(case: Case,
                                                                 local: Local) -> None:
    bearer_token = mint(None, "readme-carol", iss=local.idp.base)
    namespace: dict[str, Any] = {"token": bearer_token}
    try:
        await run_case(case, local, namespace)
    finally:
        await close_all(namespace)
    infos = [v for v in namespace.values() if isinstance(v, AuthInfo)]
    assert [(info.token, info.subject, info.issuer) for info in infos] == [
        (bearer_token, "readme-carol", local.idp.base)]


@pytest.mark.parametrize("bad", ["forged", "empty"])
@cases(lambda case: case.reads_a_token)
async def test_verification_refuses_a_bad_token(case: Case, local: Local, bad: str) -> None:
    bearer_token = forged(None, "readme-mallory", iss=local.idp.base) if bad == "forged" else ""
    namespace: dict[str, Any] = {"token": bearer_token}
    try:
        with pytest.raises(MCPAuthTokenVerificationException):
            await run_case(case, local, namespace)
    finally:
        await close_all(namespace)
