"""``mcpauth-fast demo``: an MCP server behind bearer auth, with the embedded dev issuer.

The MCP server (SDK 2.x ``MCPServer``, streamable HTTP) has one tool, ``whoami``, that answers
with what ``mcp_auth.auth_info`` says about the caller. It runs in resource-server mode
(RFC 9728): the resource is the server's URL and the token's audience; its one trusted issuer
is the dev issuer, discovered lazily through its OIDC metadata. It accepts DPoP-bound tokens
too (RFC 9449): the demo prints a second token, bound to the development DPoP key, and the
``call --dpop`` command that sends it with a proof per request. With ``--opaque`` the server
runs in "auto" mode, introspecting (RFC 7662) the opaque token it prints at the dev issuer
with the development client's credentials; JWTs are still verified locally.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from ..auth import MCPAuth
from ..config import (
    AuthServerDiscoveryConfig,
    AuthServerType,
    ResourceServerConfig,
    ResourceServerMetadata,
)
from .dpop_client import DPoPKey, dpop_auth

DEMO_SCOPES = ("read", "write")


def build_app(resource: str, issuer: str,
              introspection: dict[str, Any] | None = None) -> Starlette:
    """The demo ASGI app: RFC 9728 metadata routes, and ``/mcp`` behind the bearer middleware.

    :param introspection: ``introspection=`` options: "auto" mode instead of "jwt".
    """
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer("mcpauth-fast demo")
    mcp_auth = MCPAuth(protected_resources=ResourceServerConfig(metadata=ResourceServerMetadata(
        resource=resource,
        authorization_servers=[AuthServerDiscoveryConfig(issuer=issuer, type=AuthServerType.OIDC)],
        scopes_supported=list(DEMO_SCOPES),
    )))

    @mcp.tool()
    async def whoami() -> dict[str, Any]:
        """Who the bearer token of this call belongs to."""
        info = mcp_auth.auth_info
        assert info is not None  # the middleware lets no call through without one
        cnf = info.claims.get("cnf")
        return {"subject": info.subject, "client_id": info.client_id,
                "scopes": list(info.scopes), "jti": info.claims.get("jti"),
                "dpop_jkt": cnf.get("jkt") if isinstance(cnf, dict) else None}

    mcp_app = mcp.streamable_http_app()
    if introspection is None:
        bearer_auth = mcp_auth.bearer_auth_middleware("jwt", resource=resource,
                                                      required_scopes=["read"], dpop=True)
    else:
        bearer_auth = mcp_auth.bearer_auth_middleware(
            "auto", resource=resource, required_scopes=["read"], introspection=introspection,
            dpop=True)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A mounted app's lifespan does not run by itself: the MCP session manager needs it.
        async with mcp_app.router.lifespan_context(mcp_app):
            try:
                yield
            finally:
                await mcp_auth.aclose()

    return Starlette(
        routes=[*mcp_auth.resource_metadata_router().routes,
                Mount("/", app=mcp_app, middleware=[Middleware(bearer_auth)])],
        lifespan=lifespan,
    )


def run(port: int, issuer_port: int, state_dir: str | None, opaque: bool = False) -> int:
    """Start the dev issuer and the MCP server; print a token and a command; serve until Ctrl-C.

    :param opaque: print an opaque token (introspected) instead of a JWT.

    :raises RuntimeError: uvicorn or the MCP SDK 2.x is not installed (the ``demo`` extra).
    """
    try:
        import uvicorn
        from mcp.server.mcpserver import MCPServer  # noqa: F401  (build_app's, checked here)
    except ImportError as exc:
        raise RuntimeError(f"the demo needs uvicorn and the MCP SDK 2.x ({exc}): "
                           "pip install 'mcpauth-fast[demo]'") from None

    from .issuer import DevIssuer

    resource = f"http://127.0.0.1:{port}/mcp"
    dpop_key = DPoPKey.load_or_create(state_dir)
    with DevIssuer(port=issuer_port, state_dir=state_dir) as issuer:
        introspection = None
        mint = issuer.mint_opaque if opaque else issuer.mint
        claims: dict[str, Any] = {"sub": "alice", "scope": " ".join(DEMO_SCOPES),
                                  "aud": resource, "ttl": 3600}
        token = mint(**claims)
        bound = mint(**claims, cnf={"jkt": dpop_key.thumbprint})
        if opaque:
            client_id, secret = issuer.client_credentials
            introspection = {"client_id": client_id, "client_secret": secret}
        app = build_app(resource, issuer.issuer, introspection)
        program = sys.argv[0] if sys.argv[0].endswith("mcpauth-fast") else "mcpauth-fast"
        print(f"dev issuer:  {issuer.issuer}  (JWKS {issuer.jwks_uri})")
        print(f"MCP server:  {resource}  (tool: whoami; needs scope 'read'; Bearer or DPoP)")
        kind = "opaque token (introspected)" if opaque else "token"
        print(f"{kind} for alice, scopes {' '.join(DEMO_SCOPES)}, valid 1 hour:\n{token}\n")
        print("call whoami with it (prints the subject):")
        print("  " + shlex.join([program, "call", resource, "whoami", "--token", token,
                                 "--get", "subject"]))
        print("\nthe same with a DPoP-bound token (RFC 9449: a fresh proof signed by the dev "
              "DPoP key on every request; the token alone is refused):")
        print("  " + shlex.join([program, "call", resource, "whoami", "--token", bound,
                                 "--dpop", "--get", "subject"]), flush=True)
        print("\nCtrl-C stops the demo.", flush=True)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="on")
        try:
            uvicorn.Server(config).run()
        except KeyboardInterrupt:
            pass
    return 0


async def call_tool(url: str, tool: str, token: str, arguments: dict[str, Any],
                    timeout: float = 30.0, dpop_key: DPoPKey | None = None) -> Any:
    """Call ``tool`` on the MCP server at ``url`` with ``token``; return its structured result.

    :param dpop_key: send the token DPoP-bound to this key (``Authorization: DPoP`` and a
        proof on every request) instead of as a bearer token.
    """
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    refusals: list[str] = []

    async def note_refusal(response: Any) -> None:
        if response.is_success:
            # A refusal that a retry overcame (a DPoP nonce challenge) is not the failure.
            refusals.clear()
        elif response.status_code in (400, 401, 403, 503):
            challenge = response.headers.get("www-authenticate", "")
            refusals.append(f"HTTP {response.status_code} {challenge}".strip())

    if dpop_key is None:
        headers, auth = {"authorization": f"Bearer {token}"}, None
    else:
        headers, auth = {}, dpop_auth(dpop_key, token, httpx2)
    try:
        async with httpx2.AsyncClient(headers=headers, auth=auth, timeout=timeout,
                                      event_hooks={"response": [note_refusal]}) as http:
            async with streamable_http_client(url, http_client=http) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                result = await session.call_tool(tool, arguments)
    except Exception as exc:  # noqa: BLE001 - one readable line instead of a task-group trace
        if refusals:
            raise RuntimeError(f"the server refused the call: {refusals[-1]}") from None
        raise RuntimeError(f"the call failed: {type(exc).__name__}") from None
    if result.is_error:
        raise RuntimeError(f"the tool {tool} failed: {result.content}")
    return result.structured_content
