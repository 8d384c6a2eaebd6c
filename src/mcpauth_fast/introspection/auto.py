""""auto" mode: a JWS of a trusted issuer is verified locally, anything else is introspected.

The choice is made on the token's shape and its unverified ``iss`` alone: three base64url
segments whose payload is a JSON object with an ``iss`` among the trusted issuers go to the
``JwtVerifier`` (and are never introspected, whatever becomes of them there: a bad signature
is a 401, not a reason to ask the provider); every other token goes to the
``IntrospectionVerifier``. The unverified ``iss`` decides only who verifies, never whether the
token is good.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from .._accel import TokenCache, b64url_decode
from ..types import AuthInfo
from ..verifier import JwtVerifier
from .verifier import IntrospectionVerifier

__all__ = ["AutoVerifier"]


class AutoVerifier:
    """Routes each token to local JWT verification or to introspection (see the module).

    :param jwt: verifies the JWS of ``issuers``.
    :param introspection: asks the provider about every other token.
    :param issuers: the issuers whose JWS are verified locally.
    """

    def __init__(self, jwt: JwtVerifier, introspection: IntrospectionVerifier,
                 issuers: frozenset[str]) -> None:
        self.jwt = jwt
        self.introspection = introspection
        self.issuers = issuers
        #: The introspection tier; the middleware reads both tiers through ``cached``.
        self.cache: TokenCache = introspection.cache
        self.max_token_bytes = jwt.max_token_bytes
        jwt_cached, introspected = jwt.cached, introspection.cached

        def cached(token: str) -> AuthInfo | None:
            info = jwt_cached(token)
            return info if info is not None else introspected(token)

        self.cached: Callable[[str], AuthInfo | None] = cached

    def is_local(self, token: str) -> bool:
        """Whether ``token`` looks like a JWS of a trusted issuer (verified locally)."""
        parts = token.split(".")
        if len(parts) != 3:
            return False
        try:
            claims = orjson.loads(b64url_decode(parts[1]))
        except (ValueError, orjson.JSONDecodeError):
            return False
        return isinstance(claims, dict) and claims.get("iss") in self.issuers

    async def verify(self, token: str) -> AuthInfo:
        """The ``AuthInfo`` of ``token``; raises as the verifier it goes to."""
        info = self.cached(token)
        if info is not None:
            return info
        return await self.verify_uncached(token)

    async def verify_uncached(self, token: str) -> AuthInfo:
        if self.is_local(token):
            return await self.jwt.verify_uncached(token)
        return await self.introspection.verify_uncached(token)
