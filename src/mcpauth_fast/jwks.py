"""Where verification keys come from: a static key set, a remote JWKS, one set per issuer.

A key source answers two questions for the verifier: ``find`` (is the key at hand right
now? no I/O, the hot path) and ``fetch`` (get it, possibly over the network; only for a
``kid`` not yet known). Both return a ``VerificationKey`` that can verify ``alg``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import httpx
import orjson

from .exceptions import (
    BearerAuthExceptionCode,
    MCPAuthAuthServerException,
    MCPAuthBearerAuthException,
    MCPAuthBearerAuthExceptionDetails,
    MCPAuthKeysUnavailableException,
    invalid_token,
)
from .keys import VerificationKey, keys_from_jwks

logger = logging.getLogger("mcpauth_fast.jwks")


class KeySource(Protocol):
    """What the verifier needs from a source of keys."""

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


def _no_key(kid: str | None) -> Exception:
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

    async def fetch(self, issuer: str, kid: str | None, alg: str) -> VerificationKey:
        key = self.key_set.select(kid, alg)
        if key is None:
            raise _no_key(kid)
        return key


class RemoteJwks:
    """A JWKS fetched over HTTP(S) with httpx: kept for ``ttl`` seconds, refetched on an
    unknown ``kid`` at most once per ``cooldown``, one fetch at a time (single flight).

    A failed fetch keeps the last good set. With no good set at all the token gets
    ``MCPAuthKeysUnavailableException`` (503), never a 401.

    :param url: the ``jwks_uri``.
    :param ttl: seconds a fetched set is fresh.
    :param cooldown: minimum seconds between two fetches caused by unknown ``kid`` values.
    :param timeout: seconds for one fetch.
    :param max_bytes: largest accepted response body.
    :param client: an ``httpx.AsyncClient`` to share; one is created (and owned) otherwise.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 600.0,
        cooldown: float = 30.0,
        timeout: float = 5.0,
        max_bytes: int = 1 << 20,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.cooldown = cooldown
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._key_set: KeySet | None = None
        self._fetched_at = -float("inf")
        self._attempted_at = -float("inf")
        self._lock: asyncio.Lock | None = None
        self._background: asyncio.Task[None] | None = None
        self.fetch_count = 0
        self.last_error: str | None = None

    def find(self, issuer: str, kid: str | None, alg: str) -> VerificationKey | None:
        key_set = self._key_set
        if key_set is None:
            return None
        now = self._clock()
        if (
            now - self._fetched_at >= self.ttl
            and now - self._attempted_at >= self.cooldown
            and self._background is None
        ):
            # Past its TTL the set keeps serving (stale-if-error) while one task refreshes it.
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                self._background = loop.create_task(self._refresh_in_background())
        return key_set.select(kid, alg)

    async def fetch(self, issuer: str, kid: str | None, alg: str) -> VerificationKey:
        async with self._get_lock():
            # Another request may have fetched while this one waited for the lock.
            key = self._select_or_none(kid, alg)
            if key is not None:
                return key
            if self._clock() - self._attempted_at >= self.cooldown:
                await self._refresh()
        key = self._select_or_none(kid, alg)
        if key is not None:
            return key
        if self._key_set is None:
            raise MCPAuthKeysUnavailableException(
                retry_after=max(1, int(self.cooldown)), cause=self.last_error
            )
        raise _no_key(kid)

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _refresh_in_background(self) -> None:
        try:
            async with self._get_lock():
                if self._clock() - self._attempted_at >= self.cooldown:
                    await self._refresh()
        finally:
            self._background = None

    def _select_or_none(self, kid: str | None, alg: str) -> VerificationKey | None:
        return self._key_set.select(kid, alg) if self._key_set is not None else None

    async def _refresh(self) -> None:
        self._attempted_at = self._clock()
        self.fetch_count += 1
        try:
            document = await self._download()
            key_set = KeySet.from_jwks(document)
            if not key_set.keys:
                raise ValueError("the key set has no usable key")
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last good set
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("JWKS fetch from %s failed: %s", self.url, self.last_error)
            return
        for problem in key_set.problems:
            logger.warning("skipped a key of %s: %s", self.url, problem)
        self._key_set = key_set
        self._fetched_at = self._clock()
        self.last_error = None

    async def _download(self) -> Any:
        if self._client is None:
            self._client = httpx.AsyncClient()
        async with self._client.stream(
            "GET", self.url, timeout=self.timeout, headers={"accept": "application/json"}
        ) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise ValueError(f"response is larger than {self.max_bytes} bytes")
        return orjson.loads(body)

    async def aclose(self) -> None:
        """Close the HTTP client if this source created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


class IssuerKeys:
    """One key source per trusted issuer; the token's ``iss`` picks the source.

    A token from any other issuer is refused before any key is looked up.
    """

    def __init__(self, sources: Mapping[str, KeySource]) -> None:
        self.sources = dict(sources)

    def _source(self, issuer: str) -> KeySource:
        source = self.sources.get(issuer)
        if source is None:
            expected = next(iter(self.sources)) if len(self.sources) == 1 else sorted(self.sources)
            raise MCPAuthBearerAuthException(
                BearerAuthExceptionCode.INVALID_ISSUER,
                MCPAuthBearerAuthExceptionDetails(expected=expected, actual=issuer),
            )
        return source

    def find(self, issuer: str, kid: str | None, alg: str) -> VerificationKey | None:
        return self._source(issuer).find(issuer, kid, alg)

    async def fetch(self, issuer: str, kid: str | None, alg: str) -> VerificationKey:
        return await self._source(issuer).fetch(issuer, kid, alg)


class DiscoveredJwks:
    """A ``RemoteJwks`` whose URL is known only once the issuer's metadata is discovered.

    ``resolve_jwks_uri`` is awaited on the first key fetch; a failure is not kept (the next
    fetch tries again) and answers 503, since no key can be had.
    """

    def __init__(self, resolve_jwks_uri: Callable[[], Any], **remote_options: Any) -> None:
        self._resolve = resolve_jwks_uri
        self._options = remote_options
        self._remote: RemoteJwks | None = None

    def find(self, issuer: str, kid: str | None, alg: str) -> VerificationKey | None:
        remote = self._remote
        return remote.find(issuer, kid, alg) if remote is not None else None

    async def fetch(self, issuer: str, kid: str | None, alg: str) -> VerificationKey:
        if self._remote is None:
            try:
                url = await self._resolve()
            except (MCPAuthBearerAuthException, MCPAuthAuthServerException):
                raise
            except Exception as exc:  # noqa: BLE001 - the provider is unreachable or broken
                logger.warning("discovery of %s failed: %s", issuer, type(exc).__name__)
                raise MCPAuthKeysUnavailableException(
                    retry_after=max(1, int(self._options.get("cooldown", 30.0))),
                    cause=type(exc).__name__,
                ) from None
            if self._remote is None:
                self._remote = RemoteJwks(url, **self._options)
        return await self._remote.fetch(issuer, kid, alg)

    async def aclose(self) -> None:
        if self._remote is not None:
            await self._remote.aclose()
