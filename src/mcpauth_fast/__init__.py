"""mcpauth-fast: fast, strict OAuth 2.0 Bearer-token auth for MCP servers and ASGI apps."""

from __future__ import annotations

__version__ = "0.1.0"
