"""RemoteJwks: an issuer's key set fetched over HTTP, kept fresh without ever blocking a request.

- Fresh for the ``Cache-Control`` max-age of the response (clamped to ``[min_ttl, max_ttl]``,
  ``ttl`` when absent), and refreshed in the background ahead of expiry: no request waits
  for a routine refresh.
- An unknown ``kid`` triggers at most one fetch per ``cooldown``, shared by every request that
  waits for it (single flight); inside the cooldown it fails at once.
- Stale-if-error: a failed refresh (timeout, 5xx, garbage, oversized, empty set) keeps the last
  good set, retries with exponential backoff, and is logged once per episode.
- No key at all and the provider unreachable: ``MCPAuthKeysUnavailableException`` (503 with
  ``Retry-After``), never a 401; the next attempt after the backoff recovers without a restart.
  So is an unknown ``kid`` while the last fetch failed (and in the cooldown after it): the
  key may exist. An unknown ``kid`` after a successful fetch is an invalid token.
- Rotation: a new key is usable as soon as it is fetched; keys that leave the set are reported
  to removal listeners (the verifier evicts the tokens they verified).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson

from .exceptions import (
    MCPAuthAuthServerException,
    MCPAuthBearerAuthException,
    MCPAuthKeysUnavailableException,
)
from .keys import VerificationKey
from .keysets import (
    IssuerKeys,
    KeySet,
    KeySource,
    RemovalListener,
    StaticKeys,
    no_key,
    wrong_issuer,
)

__all__ = [
    "DiscoveredJwks",
    "IssuerKeys",
    "KeySet",
    "KeySource",
    "RemoteJwks",
    "SharedHttpClient",
    "StaticKeys",
]

logger = logging.getLogger("mcpauth_fast.jwks")

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\b", re.IGNORECASE)
#: A refresh starts when this share of the max age has passed.
REFRESH_AHEAD = 0.8
#: Backoff after consecutive failures: 1 s, 2 s, 4 s, ... up to this.
MAX_BACKOFF = 300.0


class SharedHttpClient:
    """One ``httpx.AsyncClient`` per event loop, shared by the key sources of an ``MCPAuth``.

    A client is bound to the loop it first ran on; a new loop (a test client, a restarted
    server) gets a new one.
    """

    def __init__(self, **client_options: Any) -> None:
        self._options = client_options
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            self._client = httpx.AsyncClient(**self._options)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()


def max_age_of(cache_control: str | None, default: float, low: float, high: float) -> float:
    """Seconds a response may be used, from its ``Cache-Control``, clamped to ``[low, high]``."""
    if cache_control:
        if _NO_CACHE.search(cache_control):
            return low
        match = _MAX_AGE.search(cache_control)
        if match:
            return min(max(float(match.group(1)), low), high)
    return min(max(default, low), high)


class RemoteJwks:
    """The key set at ``url``, with the lifecycle described in this module's docstring.

    :param url: the ``jwks_uri``.
    :param ttl: max age when the response has no ``Cache-Control`` (seconds).
    :param min_ttl: / :param max_ttl: the clamp of any max age.
    :param cooldown: minimum seconds between two fetches caused by unknown ``kid`` values.
    :param timeout: seconds for one fetch.
    :param max_bytes: largest accepted response body.
    :param client: a ``SharedHttpClient`` (or ``httpx.AsyncClient``) to use; else its own.
    :param clock: monotonic seconds, injectable for tests.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 600.0,
        min_ttl: float = 30.0,
        max_ttl: float = 86400.0,
        cooldown: float = 30.0,
        timeout: float = 5.0,
        max_bytes: int = 1 << 20,
        client: SharedHttpClient | httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.ttl, self.min_ttl, self.max_ttl = ttl, min_ttl, max_ttl
        self.cooldown = cooldown
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._owns_client = client is None
        self._client = client if client is not None else SharedHttpClient()
        self._clock = clock
        self._key_set: KeySet | None = None
        self._refresh_at = -math.inf
        self._next_attempt = -math.inf
        self._last_kid_fetch = -math.inf
        self._failures = 0
        self._inflight: asyncio.Task[None] | None = None
        self._listeners: list[RemovalListener] = []
        self._reported: set[str] = set()
        self.fetch_count = 0
        self.failure_count = 0
        self.last_success: float | None = None
        self.last_error: str | None = None

    # --- the request path ---------------------------------------------------------------

    def find(self, issuer: str, kid: str | None, alg: str) -> VerificationKey | None:
        key_set = self._key_set
        if key_set is None:
            return None
        now = self._clock()
        if now >= self._refresh_at and now >= self._next_attempt and self._idle():
            # Refreshes run in the background: the request goes on with the set at hand.
            self._start_refresh()
        return key_set.select(kid, alg)

    async def fetch(self, issuer: str, kid: str | None, alg: str) -> VerificationKey:
        key = self._select(kid, alg)
        if key is not None:
            return key
        now = self._clock()
        if not self._idle():
            await self._join()
        elif self._key_set is None:
            if now >= self._next_attempt:
                await self._join(self._start_refresh())
        elif now - self._last_kid_fetch >= self.cooldown and now >= self._next_attempt:
            self._last_kid_fetch = now
            await self._join(self._start_refresh())
        key = self._select(kid, alg)
        if key is not None:
            return key
        if self._key_set is None or self._failures:
            # The set cannot be fetched right now (or, in the cooldown, the last fetch
            # failed): the key may exist, so this token cannot be judged. Only a kid missing
            # from a set just fetched is an invalid token.
            raise self._unavailable(kid_fetch=self._key_set is not None)
        raise no_key(kid)

    def add_removal_listener(self, listener: RemovalListener) -> None:
        self._listeners.append(listener)

    async def prefetch(self) -> None:
        """Fetch the set now if none is held (at startup); never raises."""
        if self._key_set is None:
            await self._join(self._start_refresh() if self._idle() else None)

    def stats(self) -> dict[str, Any]:
        """``fetch_count``, ``failure_count`` (all time), ``last_success`` (epoch seconds),
        ``last_error``, ``key_count``, ``failures`` (in a row)."""
        return {
            "url": self.url,
            "fetch_count": self.fetch_count,
            "failure_count": self.failure_count,
            "last_success": self.last_success,
            "last_error": self.last_error,
            "key_count": len(self._key_set.keys) if self._key_set is not None else 0,
            "failures": self._failures,
        }

    async def aclose(self) -> None:
        """Stop a refresh in flight and close the HTTP client if this source owns it."""
        task, self._inflight = self._inflight, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
        if self._owns_client:
            await self._client.aclose()

    # --- single flight ------------------------------------------------------------------

    def _select(self, kid: str | None, alg: str) -> VerificationKey | None:
        key_set = self._key_set
        return key_set.select(kid, alg) if key_set is not None else None

    def _idle(self) -> bool:
        task = self._inflight
        if task is None or task.done():
            return True
        try:
            return task.get_loop() is not asyncio.get_running_loop()
        except RuntimeError:
            return True

    def _start_refresh(self) -> asyncio.Task[None] | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        self._inflight = loop.create_task(self._refresh())
        return self._inflight

    async def _join(self, task: asyncio.Task[None] | None = None) -> None:
        task = task or self._inflight
        if task is not None:
            # Shielded: a waiter that gives up does not cancel the fetch the others wait for.
            await asyncio.shield(task)

    def _unavailable(self, kid_fetch: bool = False) -> MCPAuthKeysUnavailableException:
        # When the next fetch for an unknown kid can start (after the backoff and, with a set
        # at hand, the kid cooldown): the Retry-After.
        at = max(self._next_attempt, self._last_kid_fetch + self.cooldown if kid_fetch
                 else -math.inf)
        wait = at - self._clock()
        return MCPAuthKeysUnavailableException(
            retry_after=max(1, math.ceil(wait)) if math.isfinite(wait) else 1,
            cause=self.last_error,
        )

    # --- one fetch ----------------------------------------------------------------------

    async def _refresh(self) -> None:
        self.fetch_count += 1
        try:
            document, cache_control = await self._download()
            key_set = KeySet.from_jwks(document)
            if not key_set.keys:
                raise ValueError("the key set has no usable key")
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last good set
            self._failed(f"{type(exc).__name__}: {exc}")
            return
        now = self._clock()
        max_age = max_age_of(cache_control, self.ttl, self.min_ttl, self.max_ttl)
        old, self._key_set = self._key_set, key_set
        self._refresh_at = now + max_age * REFRESH_AHEAD
        self._next_attempt = -math.inf
        if self._failures:
            logger.info("JWKS fetch from %s recovered after %d failure(s)",
                        self.url, self._failures)
        self._failures = 0
        self.last_error = None
        self.last_success = time.time()
        for problem in key_set.problems:
            if problem not in self._reported:
                self._reported.add(problem)
                logger.warning("skipped a key of %s: %s", self.url, problem)
        if old is not None:
            removed = old.kids - key_set.kids
            if removed:
                for listener in self._listeners:
                    listener(None, frozenset(removed))

    def _failed(self, error: str) -> None:
        self._failures += 1
        self.failure_count += 1
        self.last_error = error
        self._next_attempt = self._clock() + min(2.0 ** (self._failures - 1), MAX_BACKOFF)
        # One warning per episode; the retries of an ongoing outage stay at DEBUG.
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        logger.log(level, "JWKS fetch from %s failed (%d in a row, keeping %s): %s",
                   self.url, self._failures,
                   "the last good set" if self._key_set is not None else "no key", error)

    async def _download(self) -> tuple[Any, str | None]:
        client = self._client.get() if isinstance(self._client, SharedHttpClient) else self._client
        async with client.stream(
            "GET", self.url, timeout=self.timeout,
            headers={"accept": "application/jwk-set+json, application/json"},
        ) as response:
            response.raise_for_status()
            content_type = response.headers.get("content-type", "")
            if content_type and "json" not in content_type.lower():
                raise ValueError(f"unexpected content type {content_type[:60]!r}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                raise ValueError(f"response is larger than {self.max_bytes} bytes")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise ValueError(f"response is larger than {self.max_bytes} bytes")
            cache_control = response.headers.get("cache-control")
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise ValueError("the response is not a JSON object")
        return document, cache_control


class DiscoveredJwks:
    """A ``RemoteJwks`` whose URL is known only once the issuer's metadata is discovered.

    ``resolve`` is awaited on the first key fetch and returns the ``jwks_uri`` and the
    metadata's exact ``issuer``; a failure is not kept (the next fetch tries again) and
    answers 503, since no key can be had. Once resolved, a token of any other issuer is
    refused (``invalid_issuer``): a discovered server may be trusted under both slash variants
    of the issuer asked for, and only its metadata's own value is right.
    """

    def __init__(self, resolve: Callable[[], Awaitable[tuple[str, str]]],
                 **remote_options: Any) -> None:
        self._resolve = resolve
        self._options = remote_options
        self._issuer = ""  # the metadata's exact issuer, known with _remote
        self._remote: RemoteJwks | None = None
        self._listeners: list[RemovalListener] = []

    def find(self, issuer: str, kid: str | None, alg: str) -> VerificationKey | None:
        remote = self._remote
        if remote is None:
            return None
        if issuer != self._issuer:
            raise wrong_issuer(self._issuer, issuer)
        return remote.find(issuer, kid, alg)

    async def fetch(self, issuer: str, kid: str | None, alg: str) -> VerificationKey:
        remote = await self._remote_jwks(issuer)
        if issuer != self._issuer:
            raise wrong_issuer(self._issuer, issuer)
        return await remote.fetch(issuer, kid, alg)

    async def _remote_jwks(self, issuer: str) -> RemoteJwks:
        if self._remote is None:
            try:
                url, discovered_issuer = await self._resolve()
            except (MCPAuthBearerAuthException, MCPAuthAuthServerException):
                raise
            except Exception as exc:  # noqa: BLE001 - the provider is unreachable or broken
                logger.warning("discovery of %s failed: %s", issuer, type(exc).__name__)
                raise MCPAuthKeysUnavailableException(
                    retry_after=max(1, int(self._options.get("cooldown", 30.0))),
                    cause=type(exc).__name__,
                ) from None
            if self._remote is None:
                # Set before the remote: find() never sees a remote without its issuer.
                self._issuer = discovered_issuer
                self._remote = RemoteJwks(url, **self._options)
                for listener in self._listeners:
                    self._remote.add_removal_listener(listener)
        return self._remote

    def stats(self) -> dict[str, Any] | None:
        """``RemoteJwks.stats`` of the discovered key set, or None before discovery."""
        return self._remote.stats() if self._remote is not None else None

    def add_removal_listener(self, listener: RemovalListener) -> None:
        self._listeners.append(listener)
        if self._remote is not None:
            self._remote.add_removal_listener(listener)

    async def prefetch(self) -> None:
        try:
            remote = await self._remote_jwks("(discovery)")
        except Exception:  # noqa: BLE001 - startup never fails because the provider is down
            return
        await remote.prefetch()

    async def aclose(self) -> None:
        if self._remote is not None:
            await self._remote.aclose()
