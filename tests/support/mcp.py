"""The MCP SDK as the tests use it, on SDK 2.x (``MCPServer``, httpx2) and 1.x (``FastMCP``,
httpx): the adapters that know which one is installed, an initialized client session, uvicorn
serving an app on 127.0.0.1, and documentation examples rewritten for the installed SDK."""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator
from datetime import timedelta
from importlib.metadata import version
from typing import Any

import anyio
import uvicorn
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import ASGIApp

__all__ = [
    "Bearer",
    "ClientError",
    "FASTMCP_IMPORT",
    "MCPSERVER_IMPORT",
    "MCP_MAJOR",
    "NO_TOKEN_BODY",
    "SSE",
    "STATEFUL",
    "STATELESS",
    "ServerClass",
    "TIMEOUT",
    "TRANSPORTS",
    "for_sdk",
    "http_lib",
    "leaves",
    "mcp_session",
    "new_server",
    "seconds",
    "serve",
    "transport_app",
]

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

MCP_MAJOR = int(version("mcp").split(".")[0])

if MCP_MAJOR >= 2:
    import httpx2 as http_lib  # the 2.x client transports take httpx2 clients and auths
    from mcp.server.mcpserver import MCPServer as ServerClass
    from mcp.shared.exceptions import MCPError as ClientError
else:
    import httpx as http_lib
    from mcp.server.fastmcp import FastMCP as ServerClass
    from mcp.shared.exceptions import McpError as ClientError

STATEFUL, STATELESS, SSE = "streamable-http", "streamable-http-stateless", "sse"
TRANSPORTS = (STATEFUL, STATELESS, SSE)
TIMEOUT = 10.0          # any one client operation

NO_TOKEN_BODY = {
    "error": "missing_auth_header",
    "error_description": "Missing `Authorization` header. Please provide a valid bearer token.",
}


# --- adapters: the only places that know which SDK is installed ---------------------------

def new_server(transport: str) -> Any:
    """An MCP server (2.x ``MCPServer``, 1.x ``FastMCP``; 1.x sets statelessness here)."""
    if MCP_MAJOR >= 2:
        return ServerClass("whoami-server")
    return ServerClass("whoami-server", stateless_http=transport == STATELESS)


def transport_app(server: Any, transport: str) -> tuple[ASGIApp, Any, str]:
    """(the SDK's ASGI app, its session manager or None, the client's endpoint path)."""
    if transport == SSE:
        return server.sse_app(), None, "/sse"
    if MCP_MAJOR >= 2:
        app = server.streamable_http_app(stateless_http=transport == STATELESS)
    else:
        app = server.streamable_http_app()
    return app, server.session_manager, "/mcp"


def seconds(value: float) -> Any:
    """A read timeout as ``ClientSession`` takes it (2.x: float, 1.x: timedelta)."""
    return value if MCP_MAJOR >= 2 else timedelta(seconds=value)


@contextlib.asynccontextmanager
async def mcp_session(url: str, transport: str, auth: Any) -> AsyncIterator[ClientSession]:
    """An initialized SDK client session whose HTTP requests all go through ``auth``."""
    with anyio.fail_after(TIMEOUT):
        async with contextlib.AsyncExitStack() as stack:
            if transport == SSE:
                streams = await stack.enter_async_context(
                    sse_client(url, auth=auth, timeout=TIMEOUT, sse_read_timeout=TIMEOUT))
            else:
                http = await stack.enter_async_context(
                    http_lib.AsyncClient(auth=auth, timeout=TIMEOUT))
                streams = await stack.enter_async_context(
                    streamable_http_client(url, http_client=http))
            session = await stack.enter_async_context(
                ClientSession(streams[0], streams[1], read_timeout_seconds=seconds(TIMEOUT)))
            await session.initialize()
            yield session


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


@contextlib.contextmanager
def serve(app: ASGIApp, listener: socket.socket | None = None,
          loop: str = "auto") -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread; yield its base URL.

    :param listener: an already bound socket to serve on (default: a free port).
    :param loop: uvicorn's event loop (``"asyncio"`` to patch the loop's own connections).
    """
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", ws="none", loop=loop,
                            log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    sockets = {"sockets": [listener]} if listener is not None else {}
    thread = threading.Thread(target=server.run, kwargs=sockets, name="uvicorn-mcp-test",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "uvicorn did not stop"


class Bearer(http_lib.Auth):  # type: ignore[misc,name-defined]
    """One fixed Authorization header on every request of the MCP client."""

    def __init__(self, value: str) -> None:
        self.value = value

    def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        request.headers["Authorization"] = f"Bearer {self.value}"
        yield request


FASTMCP_IMPORT = re.compile(r"^from mcp\.server\.fastmcp import FastMCP\b", re.MULTILINE)
MCPSERVER_IMPORT = "from mcp.server.mcpserver import MCPServer as FastMCP"


def for_sdk(source: str, major: int = MCP_MAJOR) -> str:
    """``source`` as it runs on MCP SDK ``major``: on 2.x, a line that imports ``FastMCP`` from
    ``mcp.server.fastmcp`` imports ``MCPServer as FastMCP`` from ``mcp.server.mcpserver``
    instead (the rest of the line stays); nothing else changes."""
    return source if major < 2 else FASTMCP_IMPORT.sub(MCPSERVER_IMPORT, source)
