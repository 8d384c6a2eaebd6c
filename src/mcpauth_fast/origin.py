"""Origin validation: the MCP streamable HTTP transport's MUST against DNS rebinding.

A web page of another site, whose host name an attacker has pointed at a local MCP server,
can make the browser send requests to it; the browser then names the page's origin in
``Origin``. A request with an ``Origin`` is let through only when that origin is the request's
own (the scheme of the connection and the ``Host`` header), the origin of the protected
resource URL, or one of ``allowed_origins``; anything else, a malformed value, ``null`` (unless
listed) or two ``Origin`` headers get 403 ``invalid_origin``, before any token work. A request
without ``Origin`` (every non-browser MCP client) passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import Scope

from .exceptions import MCPAuthConfigException, MCPAuthRequestException
from .urls import DEFAULT_PORTS, split_authority, url_origin

Origin = tuple[str, str, "int | None"]

#: RFC 6454 section 6.2 serialisation: ``scheme "://" host [ ":" port ]``, nothing else.
_SERIALISED = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#@\s]+")
#: The web origin of a connection of each scheme (a websocket's page is http(s)).
_WEB_SCHEME = {"ws": "http", "wss": "https"}

FORBIDDEN = "The request's `Origin` is not allowed to use this server."


def parse_origin(value: str) -> Origin | None:
    """``(scheme, host, port)`` of a serialised origin, folded, default port filled in; None
    for ``null`` or anything that is not a serialised origin."""
    if _SERIALISED.fullmatch(value) is None:
        return None
    return url_origin(value)


def _forbidden(reason: str) -> MCPAuthRequestException:
    return MCPAuthRequestException(403, "invalid_origin", FORBIDDEN, reason)


class OriginPolicy:
    """Which ``Origin`` values a middleware accepts, validated at construction.

    :param allowed_origins: origins allowed besides the request's own, e.g.
        ``["https://app.example.com", "http://localhost:6274"]``; ``"null"`` allows the
        opaque origin (sandboxed frames, ``file:`` pages).
    :param resource: the protected resource URL; its origin is allowed too.
    :raises MCPAuthConfigException: a value that is not an origin (a path, a wildcard, ...).
    """

    def __init__(self, allowed_origins: Iterable[str] = (), resource: str | None = None) -> None:
        if isinstance(allowed_origins, (str, bytes)):
            raise MCPAuthConfigException(
                "invalid_option", "`allowed_origins` must be a sequence of origins, not one "
                                  "string.")
        allowed: set[Origin] = set()
        self.null_allowed = False
        for value in allowed_origins:
            if value == "null":
                self.null_allowed = True
                continue
            origin = parse_origin(value) if isinstance(value, str) else None
            if origin is None:
                raise MCPAuthConfigException(
                    "invalid_option",
                    f"`allowed_origins` entry {value!r} is not an origin: give "
                    "scheme://host[:port] (no path, no wildcard) or 'null'.")
            allowed.add(origin)
        if resource is not None:
            resource_origin = url_origin(resource)
            if resource_origin is not None:
                allowed.add(resource_origin)
        self.allowed = frozenset(allowed)

    def check(self, scope: Scope) -> None:
        """Pass a request whose ``Origin`` is allowed (or absent); else raise.

        :raises MCPAuthRequestException: 403 ``invalid_origin``.
        """
        values = [value for name, value in scope["headers"] if bytes(name).lower() == b"origin"]
        if not values:
            return
        if len(values) > 1:
            raise _forbidden("more than one Origin header")
        raw = bytes(values[0])
        if raw == b"null":
            if self.null_allowed:
                return
            raise _forbidden("the null origin is not allowed")
        origin = parse_origin(raw.decode("latin-1"))
        if origin is None:
            raise _forbidden("the Origin header is not a serialised origin")
        if origin in self.allowed or origin == request_origin(scope):
            return
        raise _forbidden("the origin is not the request's own nor an allowed one")


def request_origin(scope: Scope) -> Origin | None:
    """The origin the request was sent to: the scope's scheme with the ``Host`` header (else
    the scope's ``server``); None when it cannot be told."""
    scheme = str(scope.get("scheme") or ("ws" if scope["type"] == "websocket" else "http"))
    scheme = _WEB_SCHEME.get(scheme.lower(), scheme.lower())
    hosts = [value for name, value in scope["headers"] if bytes(name).lower() == b"host"]
    if len(hosts) == 1:
        parts = split_authority(bytes(hosts[0]).decode("latin-1"))
    elif not hosts and scope.get("server"):
        host, port = scope["server"][0], scope["server"][1]
        parts = split_authority(f"[{host}]" if ":" in str(host) else str(host))
        parts = (parts[0], port) if parts is not None else None
    else:
        return None
    if parts is None:
        return None
    host, port = parts
    return scheme, host, port if port is not None else DEFAULT_PORTS.get(scheme)
