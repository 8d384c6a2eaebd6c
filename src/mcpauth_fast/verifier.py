"""JwtVerifier: a token string in, an ``AuthInfo`` out, or an error.

cache -> split and decode -> header policy -> time claims -> key -> signature -> AuthInfo
-> cache. A cache hit costs one lookup: the entry expires with the token (the cache drops it
at ``exp`` + leeway), and the issuer/audience/scope policy is the caller's, checked on every
request whether the token came from the cache or not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ._accel import DEFAULT_MAX_TOKEN_BYTES, TokenCache, TokenChecks, VerifySteps
from .keys import DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS
from .keysets import KeySource, no_key
from .types import AuthInfo

if TYPE_CHECKING:
    from ._accel import Unverified
    from .shared.tier import SharedTier

DEFAULT_CACHE_SIZE = 4096


class JwtVerifier:
    """Verifies compact-JWS access tokens against a key source.

    :param keys: where keys come from (``StaticKeys``, ``RemoteJwks``, ``IssuerKeys``).
    :param algorithms: the allow-list of JWS algorithms; the token never chooses outside it.
        HMAC algorithms are allowed only when named here (and need an ``hmac_key``).
    :param leeway: seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    :param require_exp: refuse tokens without ``exp`` (RFC 9068 requires it).
    :param typ: when set (e.g. ``"at+jwt"``), the JOSE ``typ`` header must match.
    :param max_token_age: when set, ``iat`` is required and may be at most this old (seconds).
    :param required_claims: claim names that must be present, beyond ``iss``, ``sub`` (and ``exp``).
    :param max_token_bytes: tokens longer than this are refused before decoding.
    :param cache_size: verified tokens kept in the LRU (0 disables the cache).
    :param clock: the time source (seconds since the epoch), injectable for tests.
    :raises ValueError: for an unknown algorithm or a negative size.
    """

    #: The shared tier and revocations behind the local cache (``MCPAuth`` attaches it when
    #: Redis is configured or a token is revoked), else None: nothing more on any path.
    tier: SharedTier | None = None

    def __init__(
        self,
        keys: KeySource,
        *,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        leeway: float = 60.0,
        require_exp: bool = True,
        typ: str | None = None,
        max_token_age: float | None = None,
        required_claims: Iterable[str] = (),
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        cache_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        allowed = frozenset(algorithms)
        unknown = allowed - SUPPORTED_ALGORITHMS
        if unknown:
            raise ValueError(f"unsupported algorithms: {sorted(unknown)}")
        if not allowed:
            raise ValueError("algorithms must name at least one algorithm")
        if leeway < 0 or max_token_bytes <= 0:
            raise ValueError("leeway must be >= 0 and max_token_bytes > 0")
        self._keys = keys
        self._required_claims = tuple(required_claims)
        self.cache = TokenCache(cache_size)
        # The policy of the checks that cost no signature lives there, and only there.
        self._checks = TokenChecks(
            allowed, typ, max_token_bytes, float(leeway), require_exp, max_token_age
        )
        self._issuers_seen: set[str] = set()
        # Every step after the cache, in one compiled call (no Python frame between them).
        self._steps = VerifySteps(
            self.cache, self._checks, keys.find, no_key, self._required_claims,
            self._issuers_seen,
        )
        self.clock = clock
        #: The ``AuthInfo`` of an already verified, still valid token, else None. With the
        #: wall clock this is the cache's own ``get`` (it reads the clock in C): the whole
        #: cost of a repeated token.
        self.cached: Callable[[str], AuthInfo | None] = (
            self.cache.get if clock is time.time else self._cached_at_clock
        )
        if clock is time.time and type(self).verify_sync is JwtVerifier.verify_sync:
            # This instance's verify_sync: the same steps, a cache hit or miss answered in one
            # call instead of through this class's Python method (2.5x dict.get, not 6x).
            self.verify_sync = self._steps.verify_sync  # type: ignore[method-assign]
        add_listener = getattr(keys, "add_removal_listener", None)
        if add_listener is not None:
            add_listener(self._evict)

    @property
    def keys(self) -> KeySource:
        """Where keys come from; fixed at construction (the verification steps hold its
        ``find``)."""
        return self._keys

    @property
    def required_claims(self) -> tuple[str, ...]:
        """Fixed at construction, like the rest of the policy."""
        return self._required_claims

    @property
    def algorithms(self) -> frozenset[str]:
        return self._checks.algorithms

    @property
    def leeway(self) -> float:
        return self._checks.leeway

    @property
    def require_exp(self) -> bool:
        return self._checks.require_exp

    @property
    def typ(self) -> str | None:
        return self._checks.typ

    @property
    def max_token_age(self) -> float | None:
        return self._checks.max_age

    @property
    def max_token_bytes(self) -> int:
        return self._checks.max_token_bytes

    @property
    def policy_id(self) -> str:
        """The policy of the checks, as text: verifiers with the same one accept the same
        tokens (the shared tier keeps their results apart from others')."""
        checks = self._checks
        return repr((sorted(checks.algorithms), checks.typ, checks.leeway, checks.require_exp,
                     checks.max_age, checks.max_token_bytes, self._required_claims))

    def _evict(self, issuer: str | None, kids: frozenset[str | None]) -> None:
        # Tokens verified with a key that left its set are not served from the cache again.
        issuers = [issuer] if issuer is not None else list(self._issuers_seen)
        for name in issuers:
            for kid in kids:
                self.cache.evict_kid((name, kid))

    def _cached_at_clock(self, token: str) -> AuthInfo | None:
        result: AuthInfo | None = self.cache.get(token, self.clock())
        return result

    async def verify(self, token: str) -> AuthInfo:
        """Verify ``token``, fetching its key if it is not at hand.

        :raises MCPAuthTokenVerificationException: the token is invalid (``invalid_token``).
        :raises MCPAuthBearerAuthException: the issuer has no key source (``invalid_issuer``).
        :raises MCPAuthKeysUnavailableException: no key set can be had right now.
        """
        info = self.cached(token)
        if info is not None:
            return info
        return await self.verify_uncached(token)

    async def verify_uncached(self, token: str) -> AuthInfo:
        """``verify`` for a token the caller already missed in the cache (one lookup, not two)."""
        # Every check that costs no signature first, so garbage is refused before any key work.
        unverified = self._checks.check(token, self.clock())
        tier = self.tier
        if tier is not None:
            return await tier.verify_jwt(self, token, unverified)
        return await self.finish(token, unverified)

    async def finish(self, token: str, unverified: Unverified) -> AuthInfo:
        """The key (fetched when not at hand), the signature, the claims, the cache."""
        keys = self._keys
        key = keys.find(unverified.issuer, unverified.kid, unverified.alg)
        if key is None:
            key = await keys.fetch(unverified.issuer, unverified.kid, unverified.alg)
        return self._steps.finish(token, unverified, key)

    def verify_sync(self, token: str) -> AuthInfo:
        """Verify ``token`` with the keys at hand, without I/O (a key not at hand is invalid)."""
        info = self.cached(token)
        if info is not None:
            return info
        info = self._steps.verify(token, self.clock())
        if self.tier is not None:
            self.tier.admit(info, self.cache)
        return info

    def attach(self, tier: SharedTier) -> None:
        """Put ``tier`` behind the local cache (revocations, the shared cache)."""
        # The compiled verify_sync would skip the revocation check of a fresh verification.
        self.__dict__.pop("verify_sync", None)
        tier.attach(self)


class VerifyJwt:
    """A ``JwtVerifier`` called as a plain ``token -> AuthInfo`` function: what mcpauth's
    ``create_verify_jwt`` returns, so code written for it runs unchanged.

    Handed to ``bearer_auth_middleware``, the middleware uses the verifier itself (its cache,
    its async key fetches). Called directly, it verifies at once and blocks while a key set is
    fetched, as mcpauth's function does.
    """

    def __init__(self, verifier: JwtVerifier) -> None:
        self.verifier = verifier

    def __call__(self, token: str) -> AuthInfo:
        info = self.verifier.cached(token)
        if info is not None:
            return info
        verify = self.verifier.verify_uncached(token)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(verify)
        # Called from a coroutine: the key fetch runs on a loop of its own, in another thread.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, verify).result()
