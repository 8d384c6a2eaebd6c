"""Revocations: what one worker knows is revoked, and the local caches it must reach.

Three kinds, each named by a keyed hash (``Sealing``), never by the token itself:
``"t"`` a token, ``"j"`` an issuer's ``jti``, ``"s"`` every token of an issuer's subject
issued before a time. Each is kept until ``until``, when every token it can match has expired.
A new revocation drops the matching entries of every watched cache at once, so the request
path, which reads those caches first, needs no check of its own: only a token verified (or
read from the shared tier) after a miss is checked, by ``is_revoked``.

Dropping costs one pass over each cache, some 2 us per entry (three keyed hashes), so a batch
of revocations (those stored in Redis, loaded after a reconnection) is applied in one pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..types import AuthInfo
from .sealing import Sealing

#: How often expired revocations are dropped (seconds).
_PRUNE_EVERY = 60.0
KINDS = ("t", "j", "s")


class EvictableCache(Protocol):
    def evict_where(self, predicate: Callable[[Any], object]) -> int: ...


class Revocations:
    """The revocations known to this worker.

    :param sealing: names tokens, ``jti`` values and subjects.
    :param clock: seconds since the epoch.
    """

    def __init__(self, sealing: Sealing, clock: Callable[[], float] = time.time) -> None:
        self._sealing = sealing
        self._clock = clock
        self._tokens: dict[str, float] = {}  # token id -> until
        self._jtis: dict[str, float] = {}  # name id -> until
        self._subjects: dict[str, tuple[float, float]] = {}  # name id -> (before, until)
        self._caches: list[EvictableCache] = []
        self._next_prune = 0.0
        self.evicted = 0

    def __bool__(self) -> bool:
        return bool(self._tokens or self._jtis or self._subjects)

    def __len__(self) -> int:
        return len(self._tokens) + len(self._jtis) + len(self._subjects)

    def watch(self, cache: EvictableCache) -> None:
        """Drop matching entries from ``cache`` on each new revocation (from now on)."""
        if all(cache is not known for known in self._caches):
            self._caches.append(cache)
            if self:
                self._evict([cache], self._tokens, self._jtis, self._subjects)

    def add(self, kind: str, name: str, until: float, before: float = 0.0) -> bool:
        """Record a revocation; True when it is new (or extends a known one), and then the
        watched caches have dropped what it matches."""
        return self.add_all([(kind, name, until, before)]) == 1

    def add_all(self, records: Iterable[tuple[str, str, float, float]]) -> int:
        """Record revocations ``(kind, name, until, before)``; return how many are new (or
        extend a known one). The watched caches drop what they match, in one pass."""
        now = self._clock()
        tokens: dict[str, float] = {}
        jtis: dict[str, float] = {}
        subjects: dict[str, tuple[float, float]] = {}
        for kind, name, until, before in records:
            if until <= now:
                continue
            if kind == "s":
                known = self._subjects.get(name)
                if known is not None and known[0] >= before and known[1] >= until:
                    continue
                if known is not None:
                    before, until = max(before, known[0]), max(until, known[1])
                self._subjects[name] = subjects[name] = (before, until)
            else:
                table = self._tokens if kind == "t" else self._jtis
                if table.get(name, 0.0) >= until:
                    continue
                table[name] = until
                (tokens if kind == "t" else jtis)[name] = until
        if tokens or jtis or subjects:
            self._evict(self._caches, tokens, jtis, subjects)
        return len(tokens) + len(jtis) + len(subjects)

    def token_revoked(self, token: str) -> bool:
        """The token itself is revoked (its claims not looked at)."""
        return bool(self._tokens) and self._sealing.token_id(token) in self._tokens

    def is_revoked(self, info: AuthInfo) -> bool:
        """``info``'s token is revoked by token, by ``jti`` or by subject."""
        now = self._clock()
        if now >= self._next_prune:
            self._prune(now)
        return self._matches(info, self._tokens, self._jtis, self._subjects)

    def _matches(self, info: AuthInfo, tokens: dict[str, float], jtis: dict[str, float],
                 subjects: dict[str, tuple[float, float]]) -> bool:
        sealing = self._sealing
        if tokens and sealing.token_id(info.token) in tokens:
            return True
        claims: dict[str, Any] | None = None
        if subjects:
            revoked = subjects.get(sealing.name_id("s", info.issuer, info.subject))
            if revoked is not None:
                claims = info.mutable_claims()
                iat = claims.get("iat")
                # No iat: when it was issued is unknown, so it is refused (fail closed).
                if not isinstance(iat, (int, float)) or iat < revoked[0]:
                    return True
        if jtis:
            if claims is None:
                claims = info.mutable_claims()
            jti = claims.get("jti")
            if isinstance(jti, str) and sealing.name_id("j", info.issuer, jti) in jtis:
                return True
        return False

    def _evict(self, caches: list[EvictableCache], tokens: dict[str, float],
               jtis: dict[str, float], subjects: dict[str, tuple[float, float]]) -> None:
        def revoked(value: Any) -> bool:
            return isinstance(value, AuthInfo) and self._matches(value, tokens, jtis, subjects)

        for cache in caches:
            self.evicted += cache.evict_where(revoked)

    def _prune(self, now: float) -> None:
        self._next_prune = now + _PRUNE_EVERY
        for table in (self._tokens, self._jtis):
            for name in [n for n, until in table.items() if until <= now]:
                del table[name]
        for name in [n for n, (_, until) in self._subjects.items() if until <= now]:
            del self._subjects[name]

    def records(self) -> list[tuple[str, str, float, float]]:
        """Every known revocation as ``(kind, name, until, before)``."""
        return ([("t", n, u, 0.0) for n, u in self._tokens.items()]
                + [("j", n, u, 0.0) for n, u in self._jtis.items()]
                + [("s", n, u, b) for n, (b, u) in self._subjects.items()])
