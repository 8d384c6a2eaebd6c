"""Metadata endpoints: RFC 9728 protected resource metadata and RFC 8414 server metadata.

Documents of static configurations are serialised once, when the routes are built; a
request only sends prepared bytes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from .config import (
    AuthServerConfig,
    AuthServerDiscoveryConfig,
    ResourceServerConfig,
    ServerMetadataPaths,
    issuer_of,
)
from .exceptions import AuthServerExceptionCode, MCPAuthAuthServerException
from .scopes import challenged

logger = logging.getLogger("mcpauth_fast.routes")

#: The RFC 9728 well-known path of protected resource metadata.
RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource"

CORS_HEADERS: dict[str, str] = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Allow-Headers": "*",
}
_CACHE_CONTROL = "public, max-age=3600"
_SERVER_ERROR = orjson.dumps(
    {
        "error": "server_error",
        "error_description": "An error occurred with the authorization server.",
    }
)


def resource_metadata_url(resource: str) -> str:
    """The URL of the metadata of ``resource`` (RFC 9728 section 3.1).

    The well-known path is inserted between the host and the path, a terminating ``/`` after
    the host is dropped, and the query (if any) is kept, as section 3.1 says; a fragment is
    dropped. Scheme, host and path are kept byte for byte (no case or port normalisation).

    ``https://api.example.com/mcp`` -> ``https://api.example.com/.well-known/oauth-protected-resource/mcp``;
    ``https://api.example.com/`` -> ``https://api.example.com/.well-known/oauth-protected-resource``.

    :raises ValueError: ``resource`` is not an absolute URL.
    """
    parts = urlsplit(resource)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {resource!r}")
    path = (
        RESOURCE_METADATA_PATH if parts.path in ("", "/") else RESOURCE_METADATA_PATH + parts.path
    )
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{path}{query}"


def _route_path(resource: str) -> str:
    # Starlette matches the percent-decoded path (scope["path"]).
    return unquote(urlsplit(resource_metadata_url(resource)).path)


def protected_resource_document(config: ResourceServerConfig) -> dict[str, Any]:
    """The RFC 9728 metadata document of one protected resource, as served.

    ``resource`` is the configured string unchanged; ``authorization_servers`` lists issuers
    (a discovery config is not fetched for this); ``offline_access`` is never advertised in
    ``scopes_supported`` (one warning is logged when it is dropped, and the list is omitted
    when nothing is left); ``bearer_methods_supported`` defaults to ``["header"]``. Every
    other field that is set (unknown ones too) is copied; unset fields are omitted.
    """
    metadata = config.metadata
    rest = metadata.model_dump(
        exclude={"resource", "authorization_servers", "scopes_supported"}, exclude_none=True
    )
    document: dict[str, Any] = {"resource": metadata.resource}
    if metadata.authorization_servers:
        document["authorization_servers"] = [issuer_of(s) for s in metadata.authorization_servers]
    if metadata.scopes_supported is not None:
        scopes = challenged(metadata.scopes_supported)
        if len(scopes) != len(metadata.scopes_supported):
            # A refresh token is the client's business with the authorization server; MCP
            # clients that see it here ask for it and some servers then refuse the request.
            logger.warning(
                "resource %r: offline_access removed from scopes_supported", metadata.resource
            )
        if scopes:
            document["scopes_supported"] = scopes
    document["bearer_methods_supported"] = rest.pop("bearer_methods_supported", ["header"])
    document.update(rest)
    return document


class _StaticJSON:
    """An ASGI app that answers GET/HEAD with prepared JSON bytes and OPTIONS with 204."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._get_headers = _raw_headers(
            {
                "content-type": "application/json",
                "content-length": str(len(body)),
                "cache-control": _CACHE_CONTROL,
                **CORS_HEADERS,
            }
        )
        self._options_headers = _raw_headers(CORS_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "OPTIONS":
            await send(
                {"type": "http.response.start", "status": 204, "headers": self._options_headers}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": self._get_headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else self.body})


def _raw_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class _LiteralRoute(Route):
    """A Route whose path is matched literally: a resource path may contain ``{`` or ``:``."""

    def __init__(self, path: str, app: _StaticJSON) -> None:
        super().__init__("/", app, methods=["GET", "OPTIONS"], name="oauth_protected_resource")
        self.path = self.path_format = path
        self.path_regex = re.compile("^" + re.escape(path) + "$")
        self.param_convertors = {}


def resource_metadata_router(resources: Sequence[ResourceServerConfig]) -> Router:
    """A Router serving the RFC 9728 metadata of every protected resource.

    Each resource's document is served at the path of ``resource_metadata_url(resource)``;
    with exactly one resource, ``/.well-known/oauth-protected-resource`` serves it too. GET
    answers JSON with CORS and ``Cache-Control: public, max-age=3600``; OPTIONS answers 204
    with the CORS headers. Bodies are serialised here, once.

    :raises MCPAuthAuthServerException: ``INVALID_SERVER_CONFIG`` when a resource is not an
        absolute URL or two resources share a metadata path (e.g. the same path on two hosts).
    """
    apps: dict[str, _StaticJSON] = {}
    for config in resources:
        resource = config.metadata.resource
        try:
            path = _route_path(resource)
        except ValueError as exc:
            raise _config_error(
                f"The resource identifier ('{resource}') is not an absolute URL."
            ) from exc
        if path in apps:
            raise _config_error(
                f"The metadata of resource '{resource}' would be served at {path!r}, "
                "like that of another resource."
            )
        apps[path] = _StaticJSON(orjson.dumps(protected_resource_document(config)))
    if len(apps) == 1 and RESOURCE_METADATA_PATH not in apps:
        apps[RESOURCE_METADATA_PATH] = next(iter(apps.values()))
    return Router(routes=[_LiteralRoute(path, app) for path, app in apps.items()])


def _config_error(description: str) -> MCPAuthAuthServerException:
    return MCPAuthAuthServerException(
        AuthServerExceptionCode.INVALID_SERVER_CONFIG, cause={"error_description": description}
    )


def _json(body: bytes, status: int, extra: dict[str, str] | None = None) -> Response:
    headers = {**CORS_HEADERS, **(extra or {})}
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def metadata_endpoint(
    server: AuthServerConfig | AuthServerDiscoveryConfig,
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint serving RFC 8414 metadata of ``server`` with CORS, as mcpauth does.

    GET answers ``metadata.model_dump(exclude_none=True)`` as JSON; OPTIONS answers 204. A
    discovery config is resolved on the first GET; while that fails, GET answers 502
    ``server_error`` (and the next GET tries again).
    """
    body: bytes | None = None
    if isinstance(server, AuthServerConfig):
        body = orjson.dumps(server.metadata.model_dump(exclude_none=True))

    async def endpoint(request: Request) -> Response:
        nonlocal body
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=CORS_HEADERS)
        if body is None:
            assert isinstance(server, AuthServerDiscoveryConfig)
            try:
                resolved = await server.resolve()
            except Exception as exc:  # noqa: BLE001 - any failure is the server's, answered 502
                logger.warning("metadata of %s unavailable: %s", server.issuer, exc)
                return _json(_SERVER_ERROR, 502, {"Cache-Control": "no-store"})
            body = orjson.dumps(resolved.metadata.model_dump(exclude_none=True))
        return _json(body, 200)

    return endpoint


def metadata_route(server: AuthServerConfig | AuthServerDiscoveryConfig) -> Route:
    """A Route at ``/.well-known/oauth-authorization-server`` serving ``metadata_endpoint``."""
    return Route(
        ServerMetadataPaths.OAUTH.value, metadata_endpoint(server), methods=["GET", "OPTIONS"]
    )
