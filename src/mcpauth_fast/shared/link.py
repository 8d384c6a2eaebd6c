"""RedisLink: one worker's connection to Redis (or a Redis Cluster), which may fail at any time.

Every command has a short timeout and never raises: a failure answers None (or False) and
starts an outage. During an outage, commands are not even tried until a back-off has passed
(doubling from ``retry_min`` to ``retry_max``), so a Redis that is down or hung costs requests
nothing, and one command per back-off finds out when it is back. The outage is logged once,
as a WARNING, and its end once, as INFO. The pub/sub listener (``listen``) reconnects by
itself on the same back-off.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .config import SharedCacheConfig

logger = logging.getLogger("mcpauth_fast.shared")

#: What a command to Redis may raise, and is then an outage, never an error of the request:
#: besides its own errors and the socket's, redis-py raises RuntimeError or AttributeError
#: when a connection is closed under a command (seen under load with uvloop).
FAILURES = (Exception,)

def _redis() -> Any:
    try:
        import redis.asyncio as redis_asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as error:  # pragma: no cover - the extra is installed in the tests
        from ..exceptions import MCPAuthConfigException

        raise MCPAuthConfigException(
            "missing_dependency",
            "shared_cache needs redis-py: pip install 'mcpauth-fast[redis]'.") from error
    return redis_asyncio, Retry, NoBackoff


class RedisLink:
    """Commands to one Redis (or one Redis Cluster) for one worker, answered None instead of
    raising.

    :param config: the shared tier's options (url, timeout, back-off).
    :param clock: monotonic seconds, for the back-off.
    """

    def __init__(self, config: SharedCacheConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._redis, self._retry, self._no_backoff = _redis()
        self.config = config
        self._clock = clock
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry_at = 0.0
        self._backoff = config.retry_min
        self.down = False
        self.failures = 0
        self.outages = 0
        # Where the listeners of the workers start, spread over a cluster's masters.
        self._turn = random.randrange(1 << 16)

    def client(self, *, listening: bool = False) -> Any:
        """A redis-py client of the running loop (a client serves one loop only)."""
        loop = asyncio.get_running_loop()
        if listening:
            return self._new_client(None)
        if self._client is None or self._loop is not loop:
            self._client = self._new_client(self.config.timeout)
            self._loop = loop
        return self._client

    def _new_client(self, read_timeout: float | None) -> Any:
        # No retries inside redis-py: a failure is answered at once and the back-off here
        # decides when to try again.
        options = {"socket_timeout": read_timeout,
                   "socket_connect_timeout": self.config.timeout,
                   "retry": self._retry(self._no_backoff(), 0),
                   "health_check_interval": 0, "decode_responses": False}
        if self.config.cluster:
            return self._redis.RedisCluster.from_url(self.config.url, **options)
        return self._redis.Redis.from_url(self.config.url, retry_on_timeout=False, **options)

    async def pubsub(self, client: Any) -> Any:
        """A pub/sub of ``client`` (a ``client(listening=True)``). In a cluster, on one
        master, the next in turn at each call: a PUBLISH reaches every node, and after a
        failure the listener moves on rather than wait for the same node to come back."""
        if not self.config.cluster:
            return client.pubsub()
        await client.initialize()
        nodes = sorted(client.get_primaries(), key=lambda node: node.name)
        self._turn += 1
        return client.pubsub(node=nodes[self._turn % len(nodes)])

    @property
    def available(self) -> bool:
        """False while backing off after a failure."""
        return not self.down or self._clock() >= self._retry_at

    async def run(self, command: Callable[[Any], Awaitable[Any]]) -> Any:
        """``await command(client)``, or None when Redis is backed off or fails now."""
        if self.down and self._clock() < self._retry_at:
            return None
        try:
            result = await asyncio.wait_for(command(self.client()), self.config.timeout * 4)
        except FAILURES as error:
            self.failed(error)
            # The pool's idle connections may lead to a server that is gone: close them, so
            # that the first command after the outage does not fail on one.
            await self.drop_idle()
            return None
        self.succeeded()
        return result

    async def drop_idle(self) -> None:
        """Close the idle connections, which may lead to a server that is gone (not the
        ones in use: closing one under another request's command makes it fail too)."""
        client = self._client
        if client is None:
            return
        if self.config.cluster:
            # A new client, which finds the nodes again, rather than this one's repairs.
            self._client = None
            await self.close(client)
            return
        try:
            await client.connection_pool.disconnect(inuse_connections=False)
        except FAILURES:
            pass

    def failed(self, error: BaseException) -> None:
        """Count a failure; the first of an outage is logged (its type, never a value)."""
        self.failures += 1
        if not self.down:
            self.down = True
            self.outages += 1
            self._backoff = self.config.retry_min
            logger.warning(
                "shared cache: Redis at %s failed (%s); going on without it and retrying "
                "with back-off", _host_of(self.config.url), type(error).__name__)
        else:
            self._backoff = min(self._backoff * 2, self.config.retry_max)
        self._retry_at = self._clock() + self._backoff

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            self._backoff = self.config.retry_min
            logger.info("shared cache: Redis at %s is back", _host_of(self.config.url))

    async def pause(self) -> None:
        """Sleep until the next try is due (the listener's back-off)."""
        await asyncio.sleep(max(0.0, self._retry_at - self._clock()))

    async def close(self, client: Any) -> None:
        """Close ``client`` and its connections, quietly."""
        try:
            if self.config.cluster:
                # After a failure, redis-py marks a cluster client to find its nodes again,
                # and its aclose() then leaves their connections open: closed here.
                manager = client.nodes_manager
                await manager.aclose("nodes_cache")
                await manager.aclose("startup_nodes")
            await client.aclose()
        except FAILURES:
            pass

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self.close(client)


def _host_of(url: str) -> str:
    rest = url.partition("://")[2]
    return rest.rpartition("@")[2].partition("/")[0]
