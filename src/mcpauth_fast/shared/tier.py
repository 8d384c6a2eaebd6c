"""SharedTier: the shared cache behind each worker's local one, and revocations for all.

A verifier's request path is unchanged: its local cache answers first. After a local miss,
``verify_jwt`` (or an introspection mode, through ``get``/``put``/``admit``) asks Redis, then
verifies and writes back, with a TTL that ends at the token's ``exp`` and at most
``max_ttl``. Without Redis the tier still holds revocations for this process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from ..exceptions import MCPAuthTokenVerificationException, MCPAuthTokenVerificationExceptionCode
from ..types import AuthInfo
from .config import SharedCacheConfig
from .link import FAILURES, RedisLink
from .revocation import KINDS, EvictableCache, Revocations
from .sealing import Sealing, info_of, record_of

if TYPE_CHECKING:
    from .._accel import Unverified
    from ..verifier import JwtVerifier

logger = logging.getLogger("mcpauth_fast.shared")

#: Keys asked for at once while loading the stored revocations.
_BATCH = 1000

# Keep the later ``before`` (and expiry) of a subject's revocation: two admins may race.
_MAX_BEFORE = """
local known = redis.call('GET', KEYS[1])
if (not known) or tonumber(known) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
  return 1
end
return 0
"""

# Publish ARGV[2..] on the channel ARGV[1]: one command for many messages (a cluster
# pipeline refuses PUBLISH). Without a key it runs on any master of a cluster, which relays
# it to every node; a plain PUBLISH would go to the master of the channel's slot only.
_PUBLISH_ALL = """
for i = 2, #ARGV do
  redis.call('PUBLISH', ARGV[1], ARGV[i])
end
return #ARGV - 1
"""


#: The most revocation messages applied together.
_BURST = 1000


def revoked_error() -> MCPAuthTokenVerificationException:
    return MCPAuthTokenVerificationException(
        MCPAuthTokenVerificationExceptionCode.INVALID_TOKEN, "the token is revoked")


class SharedTier:
    """The shared cache (with Redis) and the revocations of one ``MCPAuth``.

    :param config: the Redis options, or None for revocations in this process only.
    :param clock: seconds since the epoch.
    """

    def __init__(self, config: SharedCacheConfig | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.sealing = Sealing(config.key if config is not None else secrets.token_bytes(32))
        self.revocations = Revocations(self.sealing, clock)
        self.link = RedisLink(config) if config is not None else None
        self._prefix = config.prefix if config is not None else ""
        # In a cluster, a token's entry and its lock share a hash tag (one node, one slot);
        # single-instance key names are unchanged.
        self._tagged = config is not None and config.cluster
        self._channel = f"{self._prefix}:revoked"
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._closing = False
        self.counts = {"hits": 0, "misses": 0, "writes": 0, "rejected": 0, "revoked": 0,
                       "revocations_received": 0, "revocations_restored": 0}

    @property
    def active(self) -> bool:
        """A verifier needs the tier: Redis is configured or something was revoked."""
        return self.link is not None or bool(self.revocations)

    def attach(self, verifier: JwtVerifier) -> None:
        """Put the tier behind ``verifier``'s local cache."""
        verifier.tier = self
        self.revocations.watch(verifier.cache)

    def watch(self, cache: EvictableCache) -> None:
        """A local cache (of any verification mode) that revocations must reach."""
        self.revocations.watch(cache)

    # -- the shared cache, for any verification mode ------------------------------------

    def namespace(self, *parts: str) -> str:
        """A namespace of cache keys: the mode, then its issuer or endpoint and its policy."""
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]

    def _key(self, namespace: str, token: str) -> str:
        return f"{self._prefix}:v:{self._token_part(namespace, token)}"

    def _token_part(self, namespace: str, token: str) -> str:
        part = f"{namespace}:{self.sealing.token_id(token)}"
        return f"{{{part}}}" if self._tagged else part

    async def get(self, namespace: str, token: str) -> tuple[AuthInfo, dict[str, Any]] | None:
        """The shared ``AuthInfo`` of ``token`` (and its record), or None: not there, Redis
        unavailable, or a value that fails authentication or has the wrong shape (counted
        in ``rejected``, never trusted)."""
        record = await self._read(namespace, token)
        if record is None:
            return None
        info = info_of(token, record)
        if info is None:
            self._rejected()
            return None
        expires_at = info.expires_at
        if expires_at is not None and expires_at <= self._clock():
            self.counts["misses"] += 1
            return None
        self.counts["hits"] += 1
        return info, record

    async def put(self, namespace: str, token: str, info: AuthInfo, *, jws: bool = False,
                  extra: dict[str, Any] | None = None) -> None:
        """Share ``info`` until its ``expires_at`` (at most ``max_ttl``); ``jws``: the token
        is a compact JWS whose claims need not be stored."""
        if self.config is None:
            return
        ttl = self.config.max_ttl
        if info.expires_at is not None:
            ttl = min(ttl, info.expires_at - self._clock())
        await self.put_record(namespace, token, record_of(info, jws=jws, extra=extra or {}),
                              ttl)

    async def get_record(self, namespace: str, token: str) -> dict[str, Any] | None:
        """The record shared for ``token`` (authenticated, not interpreted), or None: not
        there, Redis unavailable, or a value that fails authentication (``rejected``)."""
        record = await self._read(namespace, token)
        if record is not None:
            self.counts["hits"] += 1
        return record

    async def _read(self, namespace: str, token: str) -> dict[str, Any] | None:
        # The authenticated record, or None (a miss, Redis unavailable, or rejected).
        link = self.link
        if link is None:
            return None
        self.start()
        key = self._key(namespace, token)
        raw = await link.run(lambda client: client.get(key))
        if raw is None:
            self.counts["misses"] += 1
            return None
        record = self.sealing.open(key, raw)
        if record is None:
            self._rejected()
        return record

    def _rejected(self) -> None:
        self.counts["rejected"] += 1
        logger.debug("shared cache: ignored a value that is not a valid entry")

    async def put_record(self, namespace: str, token: str, record: dict[str, Any],
                         ttl: float) -> None:
        """Share ``record`` (sealed, under the token's keyed hash) for ``ttl`` seconds, at
        most ``max_ttl``."""
        link, config = self.link, self.config
        if link is None or config is None:
            return
        milliseconds = math.floor(min(ttl, config.max_ttl) * 1000)
        if milliseconds <= 0:
            return
        key = self._key(namespace, token)
        value = self.sealing.seal(key, record)
        if await link.run(lambda client: client.set(key, value, px=milliseconds)) is not None:
            self.counts["writes"] += 1

    def _lock(self, namespace: str, token: str) -> str:
        return f"{self._prefix}:l:{self._token_part(namespace, token)}"

    async def claim(self, namespace: str, token: str, ttl: float) -> bool | None:
        """Take the right to compute ``token``'s entry for ``ttl`` seconds at most (``SET NX
        PX``): True taken, False held by another worker, None Redis unavailable."""
        link = self.link
        if link is None:
            return None
        key = self._lock(namespace, token)
        milliseconds = max(1, math.floor(ttl * 1000))

        async def take(client: Any) -> bool:
            return bool(await client.set(key, b"1", nx=True, px=milliseconds))

        result: bool | None = await link.run(take)
        return result

    async def release(self, namespace: str, token: str) -> None:
        """Give the right back (the entry is shared, or there is none to wait for)."""
        link = self.link
        if link is not None:
            key = self._lock(namespace, token)
            await link.run(lambda client: client.delete(key))

    async def peek(self, namespace: str, token: str) -> tuple[dict[str, Any] | None, bool]:
        """``token``'s record (as ``get_record``) and whether its lock is still held; the
        lock counts as gone when Redis does not answer."""
        link = self.link
        if link is None:
            return None, False
        key, lock = self._key(namespace, token), self._lock(namespace, token)

        async def both(client: Any) -> Any:
            async with client.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.exists(lock)
                return await pipe.execute()

        found = await link.run(both)
        if found is None:
            return None, False
        raw, locked = found
        if raw is None:
            return None, bool(locked)
        record = self.sealing.open(key, raw)
        if record is None:
            self._rejected()
            return None, bool(locked)
        self.counts["hits"] += 1
        return record, bool(locked)

    async def check(self, info: AuthInfo) -> None:
        """``admit`` for a token verified just now (asking Redis for its revocations while
        the listener has not loaded them all)."""
        if self.link is not None and not self._listening.is_set():
            await self._ask_redis(info.token, info.issuer, info.subject,
                                  info.mutable_claims().get("jti"))
        self.admit(info)

    def admit(self, info: AuthInfo, cache: EvictableCache | None = None) -> None:
        """Raise ``invalid_token`` when ``info``'s token is revoked (after dropping it from
        ``cache``, where the verification may just have put it)."""
        if self.revocations and self.revocations.is_revoked(info):
            self.counts["revoked"] += 1
            if cache is not None:
                cache.evict_where(lambda value: value is info)
            raise revoked_error()

    def check_custom(self, token: str, info: AuthInfo) -> None:
        """Raise ``invalid_token`` when a custom verifier's ``info`` for ``token`` is revoked
        (by the token it was given, its ``jti`` or its subject)."""
        revocations = self.revocations
        if revocations and (revocations.token_revoked(token) or revocations.is_revoked(info)):
            self.counts["revoked"] += 1
            raise revoked_error()

    # -- JWT mode --------------------------------------------------------------------------

    async def verify_jwt(self, verifier: JwtVerifier, token: str,
                         unverified: Unverified) -> AuthInfo:
        """``verifier.finish`` behind the shared tier and the revocations."""
        if self.revocations.token_revoked(token):
            self.counts["revoked"] += 1
            raise revoked_error()
        self.start()
        config = self.config
        share = config is not None and config.share_jwt
        issuer, kid = unverified.issuer, unverified.kid
        if self.link is not None and not self._listening.is_set():
            # Before the token can enter the cache: a request for it must not find it there
            # while Redis is asked. A token whose signature fails was asked about for nothing.
            payload = unverified.payload
            await self._ask_redis(token, issuer, payload.get("sub"), payload.get("jti"))
        namespace = ""
        if share:
            namespace = self.namespace("jwt", issuer, verifier.policy_id)
            # A key that left its set verifies nothing, not even through the shared tier.
            if verifier.keys.find(issuer, kid, unverified.alg) is not None:
                found = await self.get(namespace, token)
                if found is not None and found[0].issuer == issuer and found[1].get("kid") == kid:
                    info = found[0]
                    verifier.cache.put(token, info, unverified.valid_until, (issuer, kid))
                    self.admit(info, verifier.cache)
                    return info
        info = await verifier.finish(token, unverified)
        self.admit(info, verifier.cache)  # no await since the cache took it
        if share:
            await self.put(namespace, token, info, jws=True, extra={"kid": kid})
        return info

    async def _ask_redis(self, token: str, issuer: str, subject: Any, jti: Any) -> None:
        # Until the listener has loaded every stored revocation (a worker just started, or
        # Redis just came back), a fresh verification asks Redis for its own.
        link = self.link
        if link is None:
            return
        sealing = self.sealing
        names = [("t", sealing.token_id(token))]
        if isinstance(subject, str):
            names.append(("s", sealing.name_id("s", issuer, subject)))
        if isinstance(jti, str):
            names.append(("j", sealing.name_id("j", issuer, jti)))
        keys = [f"{self._prefix}:r:{kind}:{name}" for kind, name in names]

        async def each(client: Any) -> Any:
            # Not MGET: in a cluster the keys are on different slots.
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                return await pipe.execute()

        values = await link.run(each)
        for (kind, name), value in zip(names, values or (), strict=False):
            if value is not None:
                try:
                    before = float(value) if kind == "s" else 0.0
                except ValueError:
                    continue
                # Kept for the longest a revocation can be needed; the listener's load, or
                # the pruning, settles it.
                lifetime = self.config.max_token_lifetime if self.config else 86400.0
                self.revocations.add(kind, name, self._clock() + lifetime, before)

    # -- revocation ------------------------------------------------------------------------

    async def revoke(self, kind: str, name: str, until: float, before: float = 0.0) -> bool:
        """Revoke here at once, then store and publish it for every worker; False when
        Redis was not reachable (only this process knows)."""
        self.revocations.add(kind, name, until, before)
        link = self.link
        if link is None:
            return True
        self.start()

        async def store(client: Any) -> Any:
            # Stored, then published (not in one transaction: a cluster has none across
            # slots). A message lost in between reaches the others when they next load.
            await self._store(client, kind, name, until, before)
            return await self._publish(client, [_message(kind, name, until, before)])

        if await link.run(store) is None:
            logger.warning("revocation kept in this process until Redis is back: Redis is "
                           "unavailable")
            return False
        return True

    def _store(self, target: Any, kind: str, name: str, until: float, before: float) -> Any:
        # The command that stores one revocation, sent by a client or queued in a pipeline
        # (its answer: 1 stored, else 0 or None).
        key, at = f"{self._prefix}:r:{kind}:{name}", math.ceil(until * 1000)
        if kind == "s":
            return target.eval(_MAX_BEFORE, 1, key, repr(before), str(at))
        return target.set(key, b"1", pxat=at, nx=True)

    async def _restore(self, client: Any) -> None:
        # After loading what Redis holds: what this worker knows and Redis does not (a
        # revocation made while Redis was unreachable, or a Redis that came back empty) is
        # stored and published again, so no revocation is lost while one worker remembers it.
        records = self.revocations.records()
        if not records:
            return
        async with client.pipeline(transaction=False) as pipe:
            for kind, name, until, before in records:
                self._store(pipe, kind, name, until, before)
            stored = await pipe.execute()
        restored = [record for record, done in zip(records, stored, strict=True) if done]
        if restored:
            await self._publish(client, [_message(*record) for record in restored])
            self.counts["revocations_restored"] += len(restored)

    async def _publish(self, client: Any, messages: list[bytes]) -> Any:
        return await client.eval(_PUBLISH_ALL, 0, self._channel, *messages)

    def _received(self, messages: list[Any]) -> None:
        records = []
        for data in messages:
            try:
                message = orjson.loads(data)
                kind, name = message["k"], message["n"]
                until, before = float(message["u"]), float(message["b"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                self.counts["rejected"] += 1
                continue
            if kind in KINDS and isinstance(name, str) and math.isfinite(until + before):
                self.counts["revocations_received"] += 1
                records.append((kind, name, until, before))
        self.revocations.add_all(records)

    async def _load(self, client: Any) -> None:
        # Every stored revocation, after subscribing: none is missed between the two. SCAN
        # goes over every master of a cluster; one round trip per batch of keys, not per key,
        # and one pass over the caches for them all.
        now, batch = self._clock(), []
        records: list[tuple[str, str, float, float]] = []
        async for key in client.scan_iter(match=f"{self._prefix}:r:*", count=_BATCH):
            batch.append(key)
            if len(batch) == _BATCH:
                records += await self._load_batch(client, batch, now)
                batch = []
        records += await self._load_batch(client, batch, now)
        self.revocations.add_all(records)

    async def _load_batch(self, client: Any, keys: list[bytes], now: float
                          ) -> list[tuple[str, str, float, float]]:
        if not keys:
            return []
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
                pipe.pttl(key)
            answers = await pipe.execute()
        found = (_stored(key, value, ttl, now)
                 for key, value, ttl in zip(keys, answers[::2], answers[1::2], strict=True))
        return [record for record in found if record is not None]

    # -- the listener ------------------------------------------------------------------------

    def start(self) -> None:
        """Start listening for revocations on the running loop (once per loop)."""
        listener = self._listener
        if self.link is None or (listener is not None and not listener.done()
                                 and listener.get_loop() is asyncio.get_running_loop()):
            return
        self._listening = asyncio.Event()
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def listening(self, timeout: float = 5.0) -> bool:
        """Wait until the listener is subscribed (tests, start-up); False on timeout."""
        self.start()
        try:
            await asyncio.wait_for(self._listening.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def _listen(self) -> None:
        link = self.link
        assert link is not None and self.config is not None
        deadline = self.config.timeout * 4
        while not self._closing:
            await link.pause()
            client = link.client(listening=True)
            pubsub = None
            try:
                pubsub = await asyncio.wait_for(link.pubsub(client), deadline)
                await asyncio.wait_for(pubsub.subscribe(self._channel), deadline)
                synced = await self._sync(client)
                link.succeeded()
                self._listening.set()
                while not self._closing:
                    # redis-py may swallow a cancellation while it waits here: the flag ends
                    # the loop within the timeout all the same.
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=0.25)
                    # A burst (an admin revoking many) is applied in one pass over the caches.
                    burst: list[Any] = []
                    while message is not None:
                        if message.get("type") == "message":
                            burst.append(message["data"])
                        if len(burst) >= _BURST:
                            break
                        message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                           timeout=0.0)
                    if burst:
                        self._received(burst)
                    if link.outages != synced and not link.down:
                        # Commands failed, then worked again, while this subscription held:
                        # a master of a cluster (where this listener is not) may be back
                        # empty. Store again what it lacks.
                        synced = await self._sync(client)
            except FAILURES as error:
                self._listening.clear()
                link.failed(error)
                if not self.config.cluster:
                    # The commands' idle connections lead to the same server: without this,
                    # the first command after it is back fails on one, a second outage. (A
                    # cluster client finds its nodes again itself, and replacing it here
                    # would close connections that other requests are using.)
                    await link.drop_idle()
            finally:
                if pubsub is not None:
                    await _quietly(pubsub.aclose())
                await link.close(client)

    async def _sync(self, client: Any) -> int:
        # Load what Redis holds, then restore what it lacks; the outages counted so far.
        outages = self.link.outages if self.link is not None else 0
        limit = max(self.config.timeout * 4 if self.config else 0.0, 10.0)
        await asyncio.wait_for(self._load(client), limit)
        await asyncio.wait_for(self._restore(client), limit)
        return outages

    def info(self) -> dict[str, Any]:
        """Counters of the shared tier and the revocations, readable in-process."""
        link = self.link
        return {
            **self.counts,
            "revocations": len(self.revocations),
            "evicted": self.revocations.evicted,
            "redis": None if link is None else {
                "down": link.down, "failures": link.failures, "outages": link.outages,
                "listening": self._listening.is_set()},
        }

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        self._closing = True
        while listener is not None and not listener.done():
            listener.cancel()
            await asyncio.wait({listener}, timeout=0.5)
        if self.link is not None:
            await self.link.aclose()


def _stored(key: bytes, value: bytes | None, ttl: int | None, now: float
            ) -> tuple[str, str, float, float] | None:
    # A stored revocation as ``(kind, name, until, before)``, or None for anything else.
    parts = key.decode(errors="replace").rsplit(":", 2)
    if len(parts) != 3 or parts[1] not in KINDS or ttl is None or ttl <= 0:
        return None
    try:
        before = float(value) if parts[1] == "s" else 0.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return parts[1], parts[2], now + ttl / 1000, before


def _message(kind: str, name: str, until: float, before: float) -> bytes:
    return orjson.dumps({"k": kind, "n": name, "u": until, "b": before})


async def _quietly(closing: Any) -> None:
    try:
        await closing
    except FAILURES:
        pass
