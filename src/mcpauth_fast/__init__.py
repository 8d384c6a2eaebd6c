"""mcpauth-fast: fast, strict OAuth 2.0 Bearer-token auth for MCP servers and ASGI apps.

A drop-in for ``mcpauth``: ``from mcpauth_fast import MCPAuth``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .auth import MCPAuth
    from .types import AuthInfo, VerifyAccessTokenFunction

__all__ = ["MCPAuth", "AuthInfo", "VerifyAccessTokenFunction", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing the hot path (or the CLI) does not load Starlette and pydantic.
    if name == "MCPAuth":
        from .auth import MCPAuth

        return MCPAuth
    if name in ("AuthInfo", "VerifyAccessTokenFunction"):
        from . import types

        return getattr(types, name)
    raise AttributeError(f"module 'mcpauth_fast' has no attribute {name!r}")
