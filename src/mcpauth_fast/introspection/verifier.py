"""IntrospectionVerifier: a token in, its ``AuthInfo`` out, by asking the provider (RFC 7662).

local tier -> (shared tier) -> one introspection call per token, shared by every waiter
(single flight) and bounded in number (a semaphore) -> the answer checked -> stored.

- An active token is kept until its ``exp``, capped by ``max_cache_seconds``: the delay with
  which a revocation at the provider is seen here. The default, 60 s, is the JWT world's
  usual leeway: a token is never honoured longer after its revocation than a JWT after its
  expiry, and a busy token costs the provider one call a minute per worker.
- A refused token (inactive, or an answer that fails the checks) is kept
  ``inactive_cache_seconds`` (10 s): a client retrying a dead token, or a flood of garbage,
  does not become a flood at the provider; a token that becomes valid waits 10 s at most.
- A timeout, a connection error, a status other than 200, a body that is not a JSON object
  is never kept: 503 with ``Retry-After`` (``MCPAuthIntrospectionUnavailableException``),
  never 401. The Retry-After grows 1, 2, 4 ... up to 30 s while the failures go on; every
  request still asks (an answer for its token may come back), bounded by the semaphore.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import orjson

from .._accel import DEFAULT_MAX_TOKEN_BYTES
from ..exceptions import (
    MCPAuthAuthServerException,
    MCPAuthBearerAuthException,
    MCPAuthIntrospectionUnavailableException,
    MCPAuthTokenVerificationException,
    invalid_token,
)
from ..jwks import SharedHttpClient
from ..types import AuthInfo
from .cache import Admission, LocalTier, SharedAnswer, SharedTier, SingleFlight
from .client_auth import ClientAuth
from .response import auth_info_of_response

__all__ = [
    "DEFAULT_INACTIVE_CACHE_SECONDS", "DEFAULT_MAX_CACHE_SECONDS", "DEFAULT_MAX_CONCURRENCY",
    "IntrospectionVerifier",
]

logger = logging.getLogger("mcpauth_fast.introspection")

DEFAULT_MAX_CACHE_SECONDS = 60.0
DEFAULT_INACTIVE_CACHE_SECONDS = 10.0
DEFAULT_MAX_CONCURRENCY = 16
MAX_RETRY_AFTER = 30
#: Resolves the endpoint lazily (a discovered server): ``(endpoint, issuer)``.
EndpointResolver = Callable[[], Awaitable[tuple[str, str]]]


class _Unavailable(Exception):
    """The provider gave no usable answer; the message is safe to log (no token, no body)."""


class IntrospectionVerifier:
    """Verifies tokens at an RFC 7662 introspection endpoint.

    :param endpoint: the endpoint URL, or an async resolver of ``(endpoint, issuer)`` called
        on first use (a discovered server; a failure answers 503 and is tried again). Once
        resolved, that issuer is the only trusted one, and the default one.
    :param auth: how to authenticate to the endpoint.
    :param issuers: the trusted issuers; an answer's ``iss`` must be one.
    :param default_issuer: the issuer of an answer without ``iss`` (None: ``iss`` required).
    :param leeway: seconds of clock skew tolerated on ``exp`` and ``nbf``.
    :param timeout: seconds for one introspection, waiting for a free slot included.
    :param max_cache_seconds: the longest an active answer is kept (the revocation delay).
    :param inactive_cache_seconds: how long a refused token is kept.
    :param max_concurrency: introspection calls in flight at once, at most.
    :param max_bytes: the largest response body accepted.
    :param cache_size: active tokens kept (0 disables caching; refused ones: as many).
    :param max_token_bytes: longer tokens are refused before any call.
    :param client: a ``SharedHttpClient`` (or ``httpx.AsyncClient``); else its own.
    :param shared: a shared tier behind the local one (see ``SharedTier``).
    :param admission: revocations applied to every answer before it is kept (``Admission``).
    :param clock: seconds since the epoch, injectable for tests.
    :raises ValueError: a negative or zero limit.
    """

    def __init__(
        self, endpoint: str | EndpointResolver, auth: ClientAuth, *,
        issuers: frozenset[str], default_issuer: str | None = None, leeway: float = 60.0,
        timeout: float = 5.0, max_cache_seconds: float = DEFAULT_MAX_CACHE_SECONDS,
        inactive_cache_seconds: float = DEFAULT_INACTIVE_CACHE_SECONDS,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY, max_bytes: int = 1 << 16,
        cache_size: int = 4096, max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        client: SharedHttpClient | httpx.AsyncClient | None = None,
        shared: SharedTier | None = None, admission: Admission | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if min(timeout, max_concurrency, max_bytes, max_token_bytes) <= 0 or min(
                leeway, max_cache_seconds, inactive_cache_seconds, cache_size) < 0:
            raise ValueError("introspection limits must be positive")
        self._endpoint = endpoint if isinstance(endpoint, str) else None
        self._resolve = None if isinstance(endpoint, str) else endpoint
        self.auth = auth
        self.issuers = issuers
        self.default_issuer = default_issuer
        self.leeway = float(leeway)
        self.timeout = float(timeout)
        self.max_cache_seconds = float(max_cache_seconds)
        self.inactive_cache_seconds = float(inactive_cache_seconds)
        self.max_concurrency = int(max_concurrency)
        self.max_bytes = int(max_bytes)
        self.max_token_bytes = int(max_token_bytes)
        self.shared = shared
        self.admission = admission
        self.clock = clock
        self._owns_client = client is None
        self._client = client if client is not None else SharedHttpClient()
        self.local = LocalTier(cache_size, cache_size)
        #: The cache the middleware reads first (with the wall clock, in one compiled call).
        self.cache = self.local.active
        self.cached: Callable[[str], AuthInfo | None] = (
            self.cache.get if clock is time.time else self._cached_at_clock)
        self._inflight: dict[str, asyncio.Task[AuthInfo]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._failures = 0
        #: Calls made to the endpoint (each token's first request, and after expiry).
        self.call_count = 0
        self.failure_count = 0
        self.last_error: str | None = None

    @property
    def endpoint(self) -> str | None:
        """The endpoint URL (None until a discovered server's is resolved)."""
        return self._endpoint

    def _cached_at_clock(self, token: str) -> AuthInfo | None:
        result: AuthInfo | None = self.cache.get(token, self.clock())
        return result

    # --- the request path -----------------------------------------------------------------

    async def verify(self, token: str) -> AuthInfo:
        """The ``AuthInfo`` of ``token``, from the cache or the provider.

        :raises MCPAuthTokenVerificationException: inactive, or an answer that fails the
            checks (``invalid_token``).
        :raises MCPAuthIntrospectionUnavailableException: the provider cannot answer now.
        """
        info = self.cached(token)
        if info is not None:
            return info
        return await self.verify_uncached(token)

    async def verify_uncached(self, token: str) -> AuthInfo:
        """``verify`` for a token the caller has just missed in the cache."""
        reason = self.local.refused(token, self.clock())
        if reason is not None:
            raise invalid_token(reason)
        loop = asyncio.get_running_loop()
        task = self._inflight.get(token)
        if task is None or task.get_loop() is not loop:
            # No await between the caller's cache miss and here: a waiter either finds the
            # answer cached or this task, never neither.
            task = loop.create_task(self._introspect(token))
            self._inflight[token] = task
            task.add_done_callback(lambda done: self._done(token, done))
        # Shielded: a waiter that gives up does not cancel the call the others wait for.
        return await asyncio.shield(task)

    def _done(self, token: str, task: asyncio.Task[AuthInfo]) -> None:
        if self._inflight.get(token) is task:
            del self._inflight[token]
        if not task.cancelled():
            task.exception()  # retrieved: a failure nobody awaited is not reported as lost

    def forget(self, token: str) -> None:
        """Drop what this process knows of ``token`` (a revocation hook)."""
        self.local.forget(token)

    def cache_info(self) -> dict[str, Any]:
        """The tiers' counters, and ``calls``, ``failure_count`` (all time), ``failures`` (in a
        row) and ``last_error``."""
        return {**self.local.info(), "calls": self.call_count,
                "failure_count": self.failure_count, "failures": self._failures,
                "last_error": self.last_error}

    def cache_clear(self) -> None:
        self.local.clear()

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier owns it."""
        if self._owns_client:
            await self._client.aclose()

    # --- one token --------------------------------------------------------------------------

    async def _introspect(self, token: str) -> AuthInfo:
        admission = self.admission
        if admission is not None:
            reason = admission.refused(token)
            if reason is not None:
                self.local.put_refused(token, reason, self.clock() + self.inactive_cache_seconds)
                raise invalid_token(reason)
        endpoint, default_issuer = await self._endpoint_and_issuer()
        shared: SharedAnswer | None = None
        flight = self.shared if isinstance(self.shared, SingleFlight) else None
        claimed = False
        if self.shared is not None:
            shared = await self.shared.get(endpoint, token)
            if shared is None and flight is not None:
                shared, claimed = await flight.follow(endpoint, token)
        try:
            return await self._answer(token, endpoint, default_issuer, shared)
        finally:
            if claimed and flight is not None:
                await flight.release(endpoint, token)

    async def _answer(self, token: str, endpoint: str, default_issuer: str | None,
                      shared: SharedAnswer | None) -> AuthInfo:
        admission = self.admission
        from_provider = shared is None
        if shared is None:
            response: Mapping[str, Any] = await self._call(endpoint, token)
        else:
            response = shared[0]
        now = self.clock()
        try:
            info = auth_info_of_response(
                token, response, issuers=self.issuers, default_issuer=default_issuer,
                leeway=self.leeway, now=now)
        except MCPAuthTokenVerificationException as error:
            self.local.put_refused(token, str(error.cause), now + self.inactive_cache_seconds)
            if from_provider and self.shared is not None:
                await self.shared.put(endpoint, token, {"active": False},
                                      now + self.inactive_cache_seconds)
            raise
        if admission is not None:
            try:
                await admission.admit(info)
            except MCPAuthTokenVerificationException as error:
                self.local.put_refused(token, str(error.cause),
                                       self.clock() + self.inactive_cache_seconds)
                raise
            # No await from here to put_active: a revocation received now finds it cached.
        until = now + self.max_cache_seconds
        if info.expires_at is not None:
            until = min(until, info.expires_at)
        if shared is not None:
            until = min(until, shared[1])
        self.local.put_active(token, info, until)
        if from_provider and self.shared is not None:
            await self.shared.put(endpoint, token, response, until)
        return info

    async def _endpoint_and_issuer(self) -> tuple[str, str | None]:
        if self._endpoint is not None:
            return self._endpoint, self.default_issuer
        assert self._resolve is not None
        try:
            endpoint, issuer = await self._resolve()
        except (MCPAuthBearerAuthException, MCPAuthAuthServerException):
            raise  # the metadata is wrong or lacks the endpoint: a server problem, not an outage
        except Exception as exc:  # noqa: BLE001 - discovery failed: the provider is down
            raise self._unavailable(f"discovery failed: {type(exc).__name__}") from None
        # A discovered server may be trusted under both slash variants of the issuer asked
        # for; only its metadata's own value is right (as for its JWKS).
        self._endpoint, self.default_issuer = endpoint, issuer
        self.issuers = frozenset({issuer})
        return endpoint, issuer

    async def _call(self, endpoint: str, token: str) -> dict[str, Any]:
        try:
            # One deadline for the wait for a slot and the call: a client waits `timeout`
            # at most, whatever the queue.
            response = await asyncio.wait_for(self._bounded_call(endpoint, token), self.timeout)
        except asyncio.TimeoutError:
            raise self._unavailable(f"no answer within {self.timeout:g} s") from None
        except _Unavailable as exc:
            raise self._unavailable(str(exc)) from None
        except httpx.HTTPError as exc:
            raise self._unavailable(type(exc).__name__) from None
        if self._failures:
            logger.info("introspection at %s recovered after %d failure(s)",
                        endpoint, self._failures)
        self._failures = 0
        self.last_error = None
        return response

    def _slots_of_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = asyncio.Semaphore(self.max_concurrency), loop
        return self._slots

    async def _bounded_call(self, endpoint: str, token: str) -> dict[str, Any]:
        async with self._slots_of_loop():
            self.call_count += 1
            form = {"token": token, "token_type_hint": "access_token"}
            headers = {"accept": "application/json"}
            self.auth.apply(endpoint, form, headers)
            client = (self._client.get() if isinstance(self._client, SharedHttpClient)
                      else self._client)
            async with client.stream("POST", endpoint, data=form, headers=headers,
                                     timeout=self.timeout) as response:
                if response.status_code != 200:
                    raise _Unavailable(f"HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                    raise _Unavailable(f"a response over {self.max_bytes} bytes")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise _Unavailable(f"a response over {self.max_bytes} bytes")
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _Unavailable("a response that is not JSON") from None
        if not isinstance(document, dict):
            raise _Unavailable("a response that is not a JSON object")
        return document

    def _unavailable(self, error: str) -> MCPAuthIntrospectionUnavailableException:
        self._failures += 1
        self.failure_count += 1
        self.last_error = error
        # One warning per episode; the failures of an ongoing outage stay at DEBUG. Never the
        # token, never the body (it may quote the token).
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        logger.log(level, "introspection at %s failed (%d in a row): %s",
                   self._endpoint or "(not discovered)", self._failures, error)
        retry_after = min(2 ** min(self._failures - 1, 5), MAX_RETRY_AFTER)
        return MCPAuthIntrospectionUnavailableException(retry_after=retry_after, cause=error)

