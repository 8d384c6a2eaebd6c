"""A real Starlette app behind the bearer middleware, with its JWKS on a real local server."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcpauth_fast import MCPAuth
from mcpauth_fast.config import (
    AuthorizationServerMetadata,
    AuthServerConfig,
    AuthServerType,
    ResourceServerConfig,
    ResourceServerMetadata,
)
from support.jwks_server import JwksServer
from support.tokens import ISSUER, signing_key

RESOURCE = "https://mcp.example.com/mcp"
KEY_ALGS = ("RS256", "ES256", "EdDSA")


def server_config(jwks_uri: str, issuer: str = ISSUER) -> AuthServerConfig:
    return AuthServerConfig(
        metadata=AuthorizationServerMetadata(
            issuer=issuer,
            authorization_endpoint=f"{issuer}/authorize",
            token_endpoint=f"{issuer}/token",
            registration_endpoint=f"{issuer}/register",
            response_types_supported=["code"],
            grant_types_supported=["authorization_code"],
            code_challenge_methods_supported=["S256"],
            jwks_uri=jwks_uri,
        ),
        type=AuthServerType.OIDC,
    )


def publish_keys(server: JwksServer) -> None:
    server.document = {"keys": [signing_key(alg).jwk() for alg in KEY_ALGS]}


def auth_server_mode(server: JwksServer) -> MCPAuth:
    publish_keys(server)
    return MCPAuth(server=server_config(server.url))


def resource_mode(server: JwksServer, resource: str = RESOURCE) -> MCPAuth:
    publish_keys(server)
    return MCPAuth(protected_resources=ResourceServerConfig(metadata=ResourceServerMetadata(
        resource=resource, authorization_servers=[server_config(server.url)],
        scopes_supported=["read", "write"])))


def whoami_app(mcp_auth: MCPAuth, middleware: Any, **starlette: Any) -> Starlette:
    """``GET /whoami`` answers what the route sees of the request's auth."""

    async def whoami(request: Request) -> JSONResponse:
        scope_auth = request.scope["auth"]
        current = mcp_auth.auth_info
        return JSONResponse({
            "subject": scope_auth.subject,
            "jti": scope_auth.claims.get("jti"),
            "scopes": list(scope_auth.scopes),
            "same_as_context": current is scope_auth,
        })

    return Starlette(routes=[Route("/whoami", whoami)], middleware=[Middleware(middleware)],
                     **starlette)
