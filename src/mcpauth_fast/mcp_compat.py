"""The bridge to the MCP Python SDK, when it is installed (1.x ``FastMCP`` or 2.x ``MCPServer``).

- ``sdk_user``: the SDK's own authenticated-user object for ``scope["user"]``, so the SDK binds
  each MCP session to its principal (client_id, issuer, subject). Built once per verified
  token and kept on its ``AuthInfo``.
- ``sdk_auth_context_var``: the context variable the SDK's ``get_access_token()`` reads (its
  own ``AuthContextMiddleware`` sets it; ours does the same).
- ``auth_info_of_current_mcp_request``: SDK 1.x runs tools in the session's task, whose context
  variables are those of the request that opened the session; the HTTP request that carried
  the current message is in the SDK's request context instead. (SDK 2.x runs each message in
  its sender's context, so the middleware's context variable is right there.)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from .types import AuthInfo

_NOT_LOADED: Any = object()
_user_factory: Any = _NOT_LOADED
_request_ctx: Any = _NOT_LOADED


def _load_user_factory(token_class: Any = None) -> Callable[[AuthInfo], Any] | None:
    try:
        from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
        from mcp.server.auth.provider import AccessToken
    except ImportError:
        return None
    # fastmcp's AccessToken is a subclass of the SDK's: either class serves the SDK.
    token_type: Any = AccessToken if token_class is None else token_class

    def build(info: AuthInfo) -> Any:
        audience = info.audience
        return AuthenticatedUser(
            token_type(
                token=info.token,
                client_id=info.client_id or "",
                scopes=list(info.scopes),
                expires_at=int(info.expires_at) if info.expires_at is not None else None,
                resource=audience if isinstance(audience, str) else None,
                subject=info.subject,
                claims=info.mutable_claims(),
            )
        )

    return build


def use_access_token_class(token_class: Any) -> None:
    """Build the ``AccessToken`` of every user object from now on as ``token_class``, a
    subclass of the SDK's (fastmcp's, which its checks and ``get_access_token`` expect)."""
    global _user_factory
    _user_factory = _load_user_factory(token_class)


def sdk_user(info: AuthInfo) -> Any:
    """The SDK's ``AuthenticatedUser`` for ``info``, or None when the SDK is not installed."""
    global _user_factory
    if _user_factory is _NOT_LOADED:
        _user_factory = _load_user_factory()
    if _user_factory is None:
        return None
    return info._sdk_user_of(_user_factory)


def _app_serves_mcp() -> bool:
    # An app that serves MCP has imported the SDK's server by the time it handles requests;
    # loading the SDK for any other app would cost it ~18 MiB and a second.
    return "mcp.server" in sys.modules


def sdk_auth_context_var() -> ContextVar[Any] | None:
    """The SDK's ``auth_context_var``, or None when the app does not use the SDK.

    An app that serves MCP has imported the SDK's server before its middleware is built; a
    plain ASGI app has not, and must not pay for loading it (~17 MiB, and a user object per
    verified token).
    """
    if not _app_serves_mcp():
        return None
    try:
        from mcp.server.auth.middleware.auth_context import auth_context_var
    except ImportError:
        return None
    return auth_context_var


def _load_request_ctx() -> ContextVar[Any] | None:
    try:
        from mcp.server.lowlevel.server import (  # type: ignore[attr-defined,unused-ignore]
            request_ctx,  # SDK 1.x only
        )
    except ImportError:
        return None
    return request_ctx  # type: ignore[no-any-return]


def auth_info_of_current_mcp_request() -> AuthInfo | None:
    """The ``AuthInfo`` of the HTTP request carrying the current MCP message (SDK 1.x), or None."""
    global _request_ctx
    if _request_ctx is _NOT_LOADED:
        if not _app_serves_mcp():  # not yet: it may load the SDK later
            return None
        _request_ctx = _load_request_ctx()
    if _request_ctx is None:
        return None
    context = _request_ctx.get(None)
    request = getattr(context, "request", None)
    scope = getattr(request, "scope", None)
    info = scope.get("auth") if isinstance(scope, dict) else None
    return info if isinstance(info, AuthInfo) else None
