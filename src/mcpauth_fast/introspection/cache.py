"""Where introspection answers are kept: the local tier, and the interface of a shared one.

The local tier is two bounded LRUs with expiry (``TokenCache``, the compiled one when built):

- active tokens: ``token -> AuthInfo`` until the token's ``exp``, capped by
  ``max_cache_seconds``. Keyed by the token itself, as the JWT cache is: the ``AuthInfo`` holds
  the token anyway (``auth_info.token``), so a hash would protect nothing in this process and
  would cost a SHA-256 on every request. It is the same cache type as "jwt" mode's, so the
  middleware answers a repeated opaque token in one compiled call (``BearerLookup``).
- refused tokens (inactive, or active with a member that fails the checks): the SHA-256 of
  the token -> the reason, for ``inactive_cache_seconds``. Nothing else holds these tokens:
  they are not kept.

Errors (timeouts, 5xx, garbage) are never stored. A shared tier (Redis, later) sits behind the
local one through :class:`SharedTier`; revocation reaches the local tier through
:meth:`LocalTier.forget`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from .._accel import TokenCache
from ..types import AuthInfo

__all__ = ["Admission", "LocalTier", "SharedAnswer", "SharedTier", "SingleFlight"]

#: A shared response and until when it may be used (seconds since the epoch): a worker that
#: reads it keeps it no longer than the worker that asked the provider, so the revocation
#: delay stays ``max_cache_seconds`` however many workers pass it on.
SharedAnswer = tuple[Mapping[str, Any], float]


class SharedTier(Protocol):
    """A cache shared by every worker, consulted after a local miss and before the provider.

    It stores introspection responses (the JSON object), not ``AuthInfo``: whatever comes
    back from it is checked again like a fresh answer. Its methods never raise: a tier that
    is down answers None and stores nothing (the provider is asked instead).

    ``namespace`` names the endpoint (and so the issuer) the answer came from; a tier keys its
    entries by a keyed hash of ``namespace`` and ``token``, never by the raw token.
    """

    async def get(self, namespace: str, token: str) -> SharedAnswer | None:
        """The stored response for ``token`` and its ``until``, or None."""
        ...

    async def put(self, namespace: str, token: str, response: Mapping[str, Any],
                  until: float) -> None:
        """Store ``response`` until ``until`` (an inactive answer too, for its short time)."""
        ...


@runtime_checkable
class SingleFlight(Protocol):
    """A shared tier that also lets one worker of all introspect a token at a time."""

    async def follow(self, namespace: str, token: str
                     ) -> tuple[SharedAnswer | None, bool]:
        """After a miss: ``(answer, False)`` another worker's answer; ``(None, True)`` this
        worker is to introspect ``token`` and then ``release``; ``(None, False)``: introspect
        without having to release."""
        ...

    async def release(self, namespace: str, token: str) -> None:
        """Let the workers waiting for ``token`` go (its answer is shared, or none came)."""
        ...


class Admission(Protocol):
    """Revocations, applied to introspected tokens (``MCPAuth.revoke``).

    ``refused`` is asked before any lookup; ``admit`` after an answer is checked, before it is
    kept: it raises ``invalid_token`` for a revoked token. The verifier watches nothing
    itself: whoever revokes must also evict the local tier (``LocalTier.active``).
    """

    def refused(self, token: str) -> str | None:
        """Why ``token`` is refused without asking anyone (revoked itself), or None."""
        ...

    async def admit(self, info: AuthInfo) -> None:
        """Raise ``MCPAuthTokenVerificationException`` when ``info``'s token is revoked."""
        ...


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class LocalTier:
    """The in-process tier (see the module docstring).

    :param maxsize: active tokens kept (0 disables the tier).
    :param refused_maxsize: refused tokens kept.
    """

    def __init__(self, maxsize: int, refused_maxsize: int) -> None:
        self.active = TokenCache(maxsize)
        self._refused = TokenCache(refused_maxsize)

    def refused(self, token: str, now: float) -> str | None:
        """Why ``token`` was refused lately, or None."""
        reason: str | None = self._refused.get(_digest(token), now)
        return reason

    def put_active(self, token: str, info: AuthInfo, until: float) -> None:
        # The token is its own kid: forget() drops it with evict_kid.
        self.active.put(token, info, until, token)

    def put_refused(self, token: str, reason: str, until: float) -> None:
        digest = _digest(token)
        self._refused.put(digest, reason, until, digest)

    def forget(self, token: str) -> None:
        """Drop what is known of ``token`` (a revocation): the next request introspects it.

        A scan of the tier (``evict_kid``): revocations are rare, lookups are not.
        """
        self.active.evict_kid(token)
        self._refused.evict_kid(_digest(token))

    def clear(self) -> None:
        self.active.clear()
        self._refused.clear()

    def info(self) -> dict[str, dict[str, int]]:
        """``{"active": {...}, "refused": {...}}``, each ``hits, misses, size, maxsize``."""
        return {"active": self.active.info(), "refused": self._refused.info()}
