"""Opaque tokens of the development issuer, for an MCP server at :data:`AUDIENCE`."""

from __future__ import annotations

from typing import Any

from mcpauth_fast.dev.issuer import DevIssuer
from support import tokens

AUDIENCE = "http://127.0.0.1:9/mcp"


def opaque(issuer: DevIssuer, **options: Any) -> str:
    """An opaque token for :data:`AUDIENCE` (``options`` go to ``issuer.mint_opaque``)."""
    token = issuer.mint_opaque(**{"aud": AUDIENCE, **options})
    tokens.MINTED.append(token)  # no log may contain it
    return token
