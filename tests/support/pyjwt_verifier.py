"""A ``TokenVerifier`` written the way the MCP SDK's documentation shows one: PyJWT decodes and
verifies every token, with the keys of a ``PyJWKClient``, and builds the SDK's ``AccessToken``.
The peer of ``MCPAuth.token_verifier`` in the "one line" test and the bench."""

from __future__ import annotations

from typing import Any

import jwt
from mcp.server.auth.provider import AccessToken


class PyJwtTokenVerifier:
    """``verify_token``: the token's ``AccessToken`` when PyJWT accepts it (signature, ``exp``,
    ``iss``, ``aud``), else None."""

    def __init__(self, jwks_uri: str, issuer: str, audience: str,
                 algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")) -> None:
        self.jwks = jwt.PyJWKClient(jwks_uri)
        self.issuer = issuer
        self.audience = audience
        self.algorithms = list(algorithms)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=self.algorithms, audience=self.audience,
                issuer=self.issuer, options={"require": ["exp", "iss", "sub"]})
        except jwt.PyJWTError:
            return None
        audience = claims.get("aud")
        return AccessToken(
            token=token,
            client_id=claims.get("client_id") or claims.get("azp") or "",
            scopes=str(claims.get("scope", "")).split(),
            expires_at=claims.get("exp"),
            resource=audience if isinstance(audience, str) else self.audience,
            subject=claims.get("sub"),
            claims=claims,
        )
