"""The Python examples of the seed documentation page, run as written (shared/seed/000_*.txt).

Each example is kept as the page's text with only ``mcpauth`` renamed ``mcpauth_fast``, and
executed as is. Two things the page leaves to the reader are supplied, and nothing else:

- ``MCPAuth(...)``: the page elides its argument with a comment; the comment line gets a real
  config in front of it, pointing at the local JWKS server (``SERVER_CONFIG``);
- ``verify_token``: the custom verification example calls it without defining it.

The page's text lost its indentation when it was extracted; the function bodies below have it
back. Its ``leeway=10`` example lacks a comma (a SyntaxError): only that comma is added, and a
test pins that this is the only change.

The apps are served by uvicorn on 127.0.0.1 and exercised over SSE with the MCP SDK's client,
on MCP SDK 1.x (the ``mcp<2`` environment of ``ci/test.sh``) and 2.x. ``mcp.server.fastmcp``
exists only in 1.x: 2.x renamed ``FastMCP`` to ``mcp.server.mcpserver.MCPServer``, with the
same constructor, ``tool()`` decorator and ``sse_app()``. So on 2.x, and only there, the one
line ``from mcp.server.fastmcp import FastMCP`` becomes
``from mcp.server.mcpserver import MCPServer as FastMCP`` (``for_sdk``); a test pins that this
is the only change.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from support.app_factory import publish_keys, server_config
from support.jwks_server import JwksServer
from support.mcp import (
    TIMEOUT,
    Bearer,
    for_sdk,
    http_lib,
    leaves,
    mcp_session,
    seconds,
    serve,
)
from support.tokens import ISSUER, claims, signing_key

from mcpauth_fast.types import AuthInfo

# --- the page's examples ---------------------------------------------------------------------

# "Validación de alcance (Scope)"
SCOPE_EXAMPLE = '''\
from mcpauth_fast import MCPAuth
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from mcp.server.fastmcp import FastMCP
mcp = FastMCP("MyMCPServer")
mcp_auth = MCPAuth(
# Initialize with your auth server config
)
bearer_auth = mcp_auth.bearer_auth_middleware("jwt", required_scopes=["read", "write"])
app = Starlette(
routes=[Mount('/', app=mcp.sse_app(), middleware=[Middleware(bearer_auth)])]
)
'''

# "Validación del indicador de recurso (RFC 8707)"
AUDIENCE_EXAMPLE = '''\
bearer_auth = mcp_auth.bearer_auth_middleware(
"jwt",
audience="https://api.example.com/mcp", # La audiencia esperada para el JWT
required_scopes=["read", "write"]
)
'''

# "Proporciona opciones personalizadas a la verificación JWT", exactly as published.
LEEWAY_EXAMPLE_AS_PUBLISHED = '''\
bearer_auth = mcp_auth.bearer_auth_middleware(
"jwt",
audience="https://api.example.com/mcp",
required_scopes=["read", "write"]
leeway=10, # Reduce la diferencia de reloj permitiendo 10 segundos de tolerancia
)
'''
LEEWAY_EXAMPLE = LEEWAY_EXAMPLE_AS_PUBLISHED.replace(
    'required_scopes=["read", "write"]\nleeway', 'required_scopes=["read", "write"],\nleeway')

# "Configura la autenticación Bearer con verificación personalizada"
CUSTOM_VERIFICATION_EXAMPLE = '''\
from mcpauth_fast.exceptions import MCPAuthJwtVerificationException, MCPAuthJwtVerificationExceptionCode
from mcpauth_fast.types import AuthInfo
async def custom_verification(token: str) -> AuthInfo:
    # Implementa aquí tu lógica personalizada de verificación
    info = await verify_token(token)
    if not info:
        raise MCPAuthJwtVerificationException(
            MCPAuthJwtVerificationExceptionCode.JWT_VERIFICATION_FAILED
        )
    return info # Devuelve el objeto de información de autenticación
bearer_auth = mcp_auth.bearer_auth_middleware(
custom_verification,
required_scopes=["read", "write"]
)
'''  # noqa: E501 - the page's import line, verbatim

# "Aplica la autenticación Bearer en tu servidor MCP"
APPLY_BEARER = '''\
bearer_auth = mcp_auth.bearer_auth_middleware("jwt", required_scopes=["read", "write"])
'''
APPLY_MOUNT = '''\
app = Starlette(
routes=[Mount('/', app=mcp.sse_app(), middleware=[Middleware(bearer_auth)])]
)
'''

# "Luego puedes acceder a la información en tu implementación del servidor MCP"
WHOAMI_EXAMPLE = '''\
@mcp.tool()
async def whoami() -> dict:
    # `mcp_auth.auth_info` es el objeto de contexto para la solicitud actual
    auth_info = mcp_auth.auth_info
    print(f"Usuario autenticado: {auth_info.subject}")
    return {"subject": auth_info.subject}
'''

ELIDED_CONFIG = "# Initialize with your auth server config\n"
API_AUDIENCE = "https://api.example.com/mcp"


def run(source: str, namespace: dict[str, Any], name: str) -> dict[str, Any]:
    """Execute one example in ``namespace`` (as a module would, without our __future__)."""
    exec(compile(source, f"<seed: {name}>", "exec", dont_inherit=True), namespace)
    return namespace


def scope_example(jwks_server: JwksServer) -> dict[str, Any]:
    """The first example, its ``MCPAuth(...)`` given a config for the local JWKS server."""
    publish_keys(jwks_server)
    assert SCOPE_EXAMPLE.count(ELIDED_CONFIG) == 1
    source = SCOPE_EXAMPLE.replace(ELIDED_CONFIG, "server=SERVER_CONFIG,  " + ELIDED_CONFIG)
    return run(for_sdk(source), {"SERVER_CONFIG": server_config(jwks_server.url)}, "scope example")


# --- how the apps are exercised --------------------------------------------------------------

def jwt(subject: str = "alice", scope: str = "read write", **overrides: Any) -> str:
    return signing_key("ES256").mint(claims(time.time(), sub=subject, scope=scope, **overrides))


async def call_whoami(base: str, bearer_token: str) -> dict[str, Any]:
    """``whoami`` called over SSE by the MCP SDK's client, with ``bearer_token``."""
    async with mcp_session(base + "/sse", "sse", Bearer(bearer_token)) as session:
        result = await session.call_tool("whoami", {}, seconds(TIMEOUT))
    assert not getattr(result, "is_error", getattr(result, "isError", False)), result
    data: dict[str, Any] = json.loads(result.content[0].text)
    return data


async def refusal(base: str, bearer_token: str | None) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of the SSE connection request, sent with plain HTTP."""
    headers = {} if bearer_token is None else {"authorization": f"Bearer {bearer_token}"}
    async with http_lib.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.get(base + "/sse", headers=headers)
    assert response.status_code != 200
    return response.status_code, response.json()


async def client_refused_with(base: str, bearer_token: str) -> int:
    """The HTTP status in the error the MCP client raises when it may not connect."""
    with pytest.raises(Exception) as failed:
        await call_whoami(base, bearer_token)
    statuses = [e.response.status_code for e in leaves(failed.value)
                if isinstance(e, http_lib.HTTPStatusError)]
    assert len(statuses) == 1, failed.value
    return statuses[0]


INVALID_TOKEN = {"error": "invalid_token",
                 "error_description": "The provided token is invalid or malformed."}


def missing(*scopes: str) -> dict[str, Any]:
    return {"error": "missing_required_scopes",
            "error_description": "The token does not contain the necessary scopes for this "
                                 "request.",
            "missing_scopes": list(scopes)}


# --- the tests -------------------------------------------------------------------------------

@pytest.mark.parametrize("major", [1, 2])
def test_on_sdk_2_only_the_mcp_import_line_changes(major: int) -> None:
    examples = [SCOPE_EXAMPLE, AUDIENCE_EXAMPLE, LEEWAY_EXAMPLE, CUSTOM_VERIFICATION_EXAMPLE,
                APPLY_BEARER, APPLY_MOUNT, WHOAMI_EXAMPLE]
    changed = [(before, after) for example in examples
               for before, after in zip(example.splitlines(), for_sdk(example, major).splitlines(),
                                        strict=True) if before != after]
    if major < 2:
        assert changed == []
    else:
        assert changed == [("from mcp.server.fastmcp import FastMCP",
                            "from mcp.server.mcpserver import MCPServer as FastMCP")]


def test_the_published_leeway_example_lacks_only_a_comma() -> None:
    with pytest.raises(SyntaxError):
        compile(LEEWAY_EXAMPLE_AS_PUBLISHED, "<seed: leeway, as published>", "exec")
    assert LEEWAY_EXAMPLE != LEEWAY_EXAMPLE_AS_PUBLISHED
    assert LEEWAY_EXAMPLE.replace(",\nleeway", "\nleeway") == LEEWAY_EXAMPLE_AS_PUBLISHED
    compile(LEEWAY_EXAMPLE, "<seed: leeway>", "exec")


async def test_scope_example_and_whoami_over_sse(jwks_server: JwksServer,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    namespace = scope_example(jwks_server)
    run(APPLY_BEARER + APPLY_MOUNT, namespace, "apply bearer auth")
    run(WHOAMI_EXAMPLE, namespace, "whoami")
    with serve(namespace["app"]) as base:
        assert await call_whoami(base, jwt("user-123")) == {"subject": "user-123"}
        assert await call_whoami(base, jwt("user-456", "write read admin")) == {
            "subject": "user-456"}
        assert await refusal(base, None) == (401, {
            "error": "missing_auth_header",
            "error_description": "Missing `Authorization` header. Please provide a valid "
                                 "bearer token."})
        assert await refusal(base, jwt(scope="read")) == (403, missing("write"))
        assert await refusal(base, jwt(scope="profile")) == (403, missing("read", "write"))
        assert await client_refused_with(base, jwt(scope="read")) == 403
        assert await client_refused_with(base, "not-a-jwt") == 401
    printed = capsys.readouterr().out
    assert "Usuario autenticado: user-123" in printed
    assert "Usuario autenticado: user-456" in printed


async def test_audience_example(jwks_server: JwksServer) -> None:
    namespace = scope_example(jwks_server)
    run(AUDIENCE_EXAMPLE, namespace, "audience")
    run(APPLY_MOUNT, namespace, "mount")
    run(WHOAMI_EXAMPLE, namespace, "whoami")
    with serve(namespace["app"]) as base:
        assert await call_whoami(base, jwt("api-user", aud=API_AUDIENCE)) == {
            "subject": "api-user"}
        assert await call_whoami(base, jwt("api-user", aud=["other", API_AUDIENCE])) == {
            "subject": "api-user"}
        # tokens.claims() issues for https://mcp.example.com/mcp: another resource.
        assert await refusal(base, jwt()) == (401, {
            "error": "invalid_audience",
            "error_description": "The token audience does not match the expected audience."})
        assert await refusal(base, jwt(aud=None)) == (401, {
            "error": "invalid_audience",
            "error_description": "The token audience does not match the expected audience."})
        assert await refusal(base, jwt(scope="read", aud=API_AUDIENCE)) == (403, missing("write"))
        assert await client_refused_with(base, jwt()) == 401


async def test_leeway_example(jwks_server: JwksServer) -> None:
    namespace = scope_example(jwks_server)
    run(LEEWAY_EXAMPLE, namespace, "leeway")
    run(APPLY_MOUNT, namespace, "mount")
    run(WHOAMI_EXAMPLE, namespace, "whoami")
    now = int(time.time())
    with serve(namespace["app"]) as base:
        # Expired 3 s ago: within the 10 s of leeway.
        assert await call_whoami(base, jwt("late", aud=API_AUDIENCE, exp=now - 3)) == {
            "subject": "late"}
        # Expired 30 s ago: beyond 10 s (the default of 60 s would have let it in).
        assert await refusal(base, jwt("later", aud=API_AUDIENCE, exp=now - 30)) == (
            401, INVALID_TOKEN)
        assert await refusal(base, jwt("early", aud=API_AUDIENCE, nbf=now + 30)) == (
            401, INVALID_TOKEN)
        assert await refusal(base, jwt()) == (401, {
            "error": "invalid_audience",
            "error_description": "The token audience does not match the expected audience."})


def opaque_tokens() -> dict[str, AuthInfo]:
    def info(subject: str, scopes: list[str]) -> AuthInfo:
        return AuthInfo(token=f"opaque-{subject}", issuer=ISSUER, subject=subject,
                        client_id="client-1", scopes=scopes,
                        claims={"iss": ISSUER, "sub": subject, "scope": " ".join(scopes)})

    return {"opaque-alice": info("alice", ["read", "write"]),
            "opaque-reader": info("reader", ["read"])}


async def test_custom_verification_example(jwks_server: JwksServer) -> None:
    namespace = scope_example(jwks_server)
    known = opaque_tokens()
    seen: list[str] = []

    async def verify_token(token: str) -> AuthInfo | None:
        # The page's stand-in for "your own verification": a lookup of opaque tokens.
        seen.append(token)
        return known.get(token)

    namespace["verify_token"] = verify_token
    run(CUSTOM_VERIFICATION_EXAMPLE, namespace, "custom verification")
    run(APPLY_MOUNT, namespace, "mount")
    run(WHOAMI_EXAMPLE, namespace, "whoami")
    with serve(namespace["app"]) as base:
        assert await call_whoami(base, "opaque-alice") == {"subject": "alice"}
        assert await refusal(base, "opaque-unknown") == (401, {
            "error": "token_verification_failed",
            "error_description": "The token verification failed due to an error in the "
                                 "verification process."})
        assert await refusal(base, "opaque-reader") == (403, missing("write"))
        # A perfectly good JWT means nothing to this verifier.
        assert (await refusal(base, jwt()))[0] == 401
        assert await client_refused_with(base, "opaque-unknown") == 401
    assert {"opaque-alice", "opaque-unknown", "opaque-reader"} <= set(seen)
