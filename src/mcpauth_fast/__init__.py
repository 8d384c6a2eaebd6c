"""mcpauth-fast: fast, strict OAuth 2.0 Bearer-token auth for MCP servers and ASGI apps.

A drop-in for ``mcpauth``: ``from mcpauth_fast import MCPAuth``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .auth import MCPAuth
    from .config import AuthServerConfig, ServerMetadataPaths, validate_server_config
    from .exceptions import AuthServerExceptionCode, MCPAuthAuthServerException
    from .middleware.create_bearer_auth import BearerAuthConfig
    from .scopes import ScopeHierarchy
    from .types import AuthInfo, VerifyAccessTokenFunction

# Every name ``mcpauth`` exports at the top (and ours), and the module it lives in here.
_EXPORTS = {
    "MCPAuth": ".auth",
    "AuthInfo": ".types",
    "VerifyAccessTokenFunction": ".types",
    "AuthServerConfig": ".config",
    "ServerMetadataPaths": ".config",
    "validate_server_config": ".config",
    "AuthServerExceptionCode": ".exceptions",
    "MCPAuthAuthServerException": ".exceptions",
    "BearerAuthConfig": ".middleware.create_bearer_auth",
    # mcpauth-fast's own.
    "ScopeHierarchy": ".scopes",
}

__all__ = [
    "AuthInfo", "AuthServerConfig", "AuthServerExceptionCode", "BearerAuthConfig", "MCPAuth",
    "MCPAuthAuthServerException", "ScopeHierarchy", "ServerMetadataPaths",
    "VerifyAccessTokenFunction",
    "__version__", "validate_server_config",
]


def __getattr__(name: str) -> Any:
    # Lazy, so importing the hot path (or the CLI) does not load Starlette and pydantic.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mcpauth_fast' has no attribute {name!r}")
    return getattr(import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
