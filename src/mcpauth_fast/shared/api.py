"""``MCPAuth.revoke``'s arguments turned into one revocation of the tier."""

from __future__ import annotations

import base64
import binascii
import time

import orjson

from .tier import SharedTier

#: Tolerated clock skew: a revocation outlives its tokens' ``exp`` by this much.
SKEW = 60.0


def _exp_of(token: str) -> float | None:
    # Only the revocation's lifetime comes from here (a JWT's exp, read without verifying):
    # the worst a wrong value does is keep the revocation for too short or too long a time.
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, (int, float)) else None


async def revoke(
    tier: SharedTier,
    *,
    token: str | None = None,
    jti: str | None = None,
    subject: str | None = None,
    issuer: str | None = None,
    before: float | None = None,
    expires_at: float | None = None,
) -> bool:
    """See ``MCPAuth.revoke``."""
    if sum(x is not None for x in (token, jti, subject)) != 1:
        raise ValueError("revoke needs exactly one of token=, jti= or subject=")
    now = time.time()
    lifetime = tier.config.max_token_lifetime if tier.config is not None else 86400.0
    sealing = tier.sealing
    if token is not None:
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty string")
        exp = expires_at if expires_at is not None else _exp_of(token)
        until = exp + SKEW if exp is not None else now + lifetime
        return await tier.revoke("t", sealing.token_id(token), until)
    if not isinstance(issuer, str) or not issuer:
        raise ValueError("revoking by jti or subject needs the issuer")
    if jti is not None:
        until = expires_at + SKEW if expires_at is not None else now + lifetime
        return await tier.revoke("j", sealing.name_id("j", issuer, jti), until)
    assert subject is not None
    before = now if before is None else float(before)
    # Tokens issued before ``before`` have all expired by ``before`` + their lifetime.
    until = expires_at + SKEW if expires_at is not None else before + lifetime + SKEW
    return await tier.revoke("s", sealing.name_id("s", issuer, subject), until, before)
