"""Key sources: where the verifier gets the key of a token.

A key source answers two questions: ``find`` (is the key at hand right now? no I/O: the hot
path) and ``fetch`` (get it, possibly over the network; only for a ``kid`` not yet known).
Both return a ``VerificationKey`` that can verify ``alg``. Here: the protocol, an immutable
``KeySet``, ``StaticKeys`` (keys given up front) and ``IssuerKeys`` (one source per trusted
issuer). The remote JWKS with its lifecycle is ``jwks.RemoteJwks``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from .exceptions import (
    BearerAuthExceptionCode,
    MCPAuthBearerAuthException,
    MCPAuthBearerAuthExceptionDetails,
    invalid_token,
)
from .keys import VerificationKey, keys_from_jwks

logger = logging.getLogger("mcpauth_fast.jwks")

#: Told ``(issuer, kids)`` when kids leave a key set; issuer is None for a source that serves
#: whatever issuer asks (a plain ``RemoteJwks``).
RemovalListener = Callable[["str | None", frozenset["str | None"]], None]


class KeySource(Protocol):
    """What the verifier needs from a source of keys."""

    def add_removal_listener(self, listener: RemovalListener) -> None:
        """Call ``listener`` when keys leave the set (their cached tokens must go too)."""

    def find(self, issuer: str, kid: str | None, alg: str) -> VerificationKey | None:
        """The key for ``kid`` if it is at hand (no I/O), else None."""

    async def fetch(self, issuer: str, kid: str | None, alg: str) -> VerificationKey:
        """The key for ``kid``, fetching the key set if needed.

        Raises ``MCPAuthTokenVerificationException`` when the key does not exist and
        ``MCPAuthKeysUnavailableException`` when no key set can be had at all.
        """


class KeySet:
    """An immutable set of keys indexed by ``kid`` (built once per fetched JWKS)."""

    __slots__ = ("_by_kid", "keys", "problems")

    def __init__(self, keys: Iterable[VerificationKey], problems: Iterable[str] = ()) -> None:
        self.keys: tuple[VerificationKey, ...] = tuple(keys)
        self.problems: tuple[str, ...] = tuple(problems)
        self._by_kid: dict[str | None, VerificationKey] = {}
        for key in self.keys:
            # The first key wins a duplicated kid: a later one cannot shadow it.
            self._by_kid.setdefault(key.kid, key)

    @classmethod
    def from_jwks(cls, document: Mapping[str, Any]) -> KeySet:
        """Parse a JWKS document; unusable keys are skipped and listed in ``problems``."""
        keys, problems = keys_from_jwks(document)
        return cls(keys, problems)

    @property
    def kids(self) -> frozenset[str | None]:
        return frozenset(self._by_kid)

    def select(self, kid: str | None, alg: str) -> VerificationKey | None:
        """The key named ``kid`` that can verify ``alg``.

        A token without ``kid`` is matched only when exactly one key of the set can verify
        ``alg``: trying every key would let one token cost many signature checks.
        """
        if kid is not None:
            key = self._by_kid.get(kid)
            return key if key is not None and alg in key.algorithms else None
        candidates = [key for key in self.keys if alg in key.algorithms]
        return candidates[0] if len(candidates) == 1 else None


def wrong_issuer(expected: str | list[str], actual: str) -> MCPAuthBearerAuthException:
    return MCPAuthBearerAuthException(
        BearerAuthExceptionCode.INVALID_ISSUER,
        MCPAuthBearerAuthExceptionDetails(expected=expected, actual=actual),
    )


def no_key(kid: str | None) -> Exception:
    if kid is None:
        return invalid_token("token has no kid and no single key matches its alg")
    return invalid_token("no key with the token's kid and alg")


class StaticKeys:
    """Keys given up front: a JWKS document, JWK dicts or ready ``VerificationKey`` objects.

    The same keys serve every issuer; the issuer itself is checked by the policy.
    """

    def __init__(
        self, keys: Mapping[str, Any] | Iterable[VerificationKey | Mapping[str, Any]]
    ) -> None:
        if isinstance(keys, Mapping):
            key_set = KeySet.from_jwks(keys)
        else:
            items = list(keys)
            ready = [k for k in items if isinstance(k, VerificationKey)]
            jwks = [k for k in items if not isinstance(k, VerificationKey)]
            parsed, problems = keys_from_jwks({"keys": jwks}) if jwks else ([], [])
            key_set = KeySet(ready + parsed, problems)
        for problem in key_set.problems:
            logger.warning("skipped a key: %s", problem)
        self.key_set = key_set

    def find(self, issuer: str, kid: str | None, alg: str) -> VerificationKey | None:
        return self.key_set.select(kid, alg)

    def add_removal_listener(self, listener: RemovalListener) -> None:
        """Static keys never leave."""

    async def fetch(self, issuer: str, kid: str | None, alg: str) -> VerificationKey:
        key = self.key_set.select(kid, alg)
        if key is None:
            raise no_key(kid)
        return key


class IssuerKeys:
    """One key source per trusted issuer; the token's ``iss`` picks the source.

    A token from any other issuer is refused before any key is looked up. Several issuers
    may share a source that decides itself (``jwks.DiscoveredJwks``).
    """

    def __init__(self, sources: Mapping[str, KeySource]) -> None:
        self.sources = dict(sources)

    def _source(self, issuer: str) -> KeySource:
        source = self.sources.get(issuer)
        if source is None:
            expected = next(iter(self.sources)) if len(self.sources) == 1 else sorted(self.sources)
            raise wrong_issuer(expected, issuer)
        return source

    def find(self, issuer: str, kid: str | None, alg: str) -> VerificationKey | None:
        return self._source(issuer).find(issuer, kid, alg)

    async def fetch(self, issuer: str, kid: str | None, alg: str) -> VerificationKey:
        return await self._source(issuer).fetch(issuer, kid, alg)

    def add_removal_listener(self, listener: RemovalListener) -> None:
        for issuer, source in self.sources.items():
            source.add_removal_listener(
                lambda _, kids, issuer=issuer: listener(issuer, kids)  # type: ignore[misc]
            )


class SingleKey:
    """One key for every token, whatever its ``kid``: mcpauth's ``create_verify_jwt(PyJWK)``,
    where the caller names the key and the token does not choose it."""

    def __init__(self, key: VerificationKey) -> None:
        self.key = key

    def find(self, issuer: str, kid: str | None, alg: str) -> VerificationKey | None:
        return self.key if alg in self.key.algorithms else None

    async def fetch(self, issuer: str, kid: str | None, alg: str) -> VerificationKey:
        key = self.find(issuer, kid, alg)
        if key is None:
            raise invalid_token("the key cannot verify the token's alg")
        return key

    def add_removal_listener(self, listener: RemovalListener) -> None:
        """The key never leaves."""
