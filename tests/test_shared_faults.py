"""Faults of the shared tier in one process: poisoned Redis entries (a wrong MAC, a wrong
shape, an entry moved to another token's key), Redis down, hung (SIGSTOP) and back. In each
case: no 5xx, the right decision, the outage logged once, no token in a log (conftest.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest
from support.app_factory import auth_server_mode, whoami_app
from support.jwks_server import JwksServer
from support.redis_server import RedisServer
from support.tokens import ISSUER, claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.shared.config import SharedCacheConfig
from mcpauth_fast.shared.link import RedisLink

SECRET = b"another secret of the tests, 32+ bytes"


def token(**overrides: Any) -> str:
    return signing_key("ES256").mint(claims(time.time(), **overrides))


def worker(jwks: JwksServer, redis: RedisServer) -> MCPAuth:
    return MCPAuth(server=auth_server_mode(jwks).server, shared_cache={
        "url": redis.url, "key": SECRET, "share_jwt": True, "retry_min": 0.05,
        "retry_max": 0.1})


def client(auth: MCPAuth) -> httpx.AsyncClient:
    app = whoami_app(auth, auth.bearer_auth_middleware("jwt", required_scopes=["read"]))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def get(http: httpx.AsyncClient, value: str) -> httpx.Response:
    return await http.get("/whoami", headers={"authorization": f"Bearer {value}"})


def shared_key(auth: MCPAuth, value: str) -> str:
    tier = auth._tier
    verifier = next(iter(auth._verifiers.values()))
    namespace = tier.namespace("jwt", "https://issuer.example.com", verifier.policy_id)
    return tier._key(namespace, value)


async def test_poisoned_entries_are_ignored_and_counted(
        jwks_server: JwksServer, redis_server: RedisServer) -> None:
    writer, reader = worker(jwks_server, redis_server), worker(jwks_server, redis_server)
    granted = token(jti="p-granted", scope="read")
    refused = token(jti="p-refused", scope="write")  # lacks "read": 403 whatever Redis says
    async with client(writer) as http_w, client(reader) as http_r:
        assert (await get(http_w, granted)).status_code == 200
        assert (await get(http_r, token(jti="p-keys", scope="read"))).status_code == 200
        good_value = redis_server.command("GET", shared_key(writer, granted))
        poisons = [
            b"not sealed at all",
            # A well-formed value under another secret: a forged entry granting "read".
            _sealed_by(MCPAuth(server=writer.server, shared_cache={
                "url": redis_server.url, "key": b"x" * 32}), refused, scopes=["read"]),
            # The granted token's genuine value, moved to the refused token's key.
            _raw_value(good_value),
        ]
        for poison in poisons:
            reader.bearer_auth_middleware("jwt", required_scopes=["read"])
            next(iter(reader._verifiers.values())).cache.clear()
            redis_server.command("SET", shared_key(reader, refused), poison, "PX", "60000")
            response = await get(http_r, refused)
            assert response.status_code == 403, response.text
        assert reader.shared_cache_info()["rejected"] == len(poisons)
        # A well-authenticated record of the wrong shape: ignored and counted too.
        sealing = reader._tier.sealing
        key = shared_key(reader, refused)
        redis_server.command("SET", key, sealing.seal(key, {"iss": 1}), "PX", "60000")
        next(iter(reader._verifiers.values())).cache.clear()
        assert (await get(http_r, refused)).status_code == 403
        assert reader.shared_cache_info()["rejected"] == len(poisons) + 1
    await writer.aclose()
    await reader.aclose()


def _sealed_by(auth: MCPAuth, value: str, scopes: list[str]) -> bytes:
    key = shared_key_for(auth, value)
    record = {"iss": "https://issuer.example.com", "sub": "alice", "cid": "client-1",
              "scp": scopes, "aud": "https://mcp.example.com/mcp", "exp": time.time() + 600,
              "kid": "es256-0"}
    return auth._tier.sealing.seal(key, record)


def shared_key_for(auth: MCPAuth, value: str) -> str:
    auth.bearer_auth_middleware("jwt", required_scopes=["read"])
    return shared_key(auth, value)


def _raw_value(reply: bytes) -> bytes:
    # A RESP bulk string: $<n>\r\n<bytes>\r\n
    header, _, rest = reply.partition(b"\r\n")
    return rest[: int(header[1:])]


async def test_redis_down_hung_and_back(jwks_server: JwksServer, redis_server: RedisServer,
                                        caplog: pytest.LogCaptureFixture) -> None:
    auth = worker(jwks_server, redis_server)
    async with client(auth) as http:
        assert (await get(http, token(jti="d-0", scope="read"))).status_code == 200
        assert await auth._tier.listening()
        redis_server.kill()
        started = time.monotonic()
        for n in range(30):
            assert (await get(http, token(jti=f"d-{n + 1}", scope="read"))).status_code == 200
        assert time.monotonic() - started < 5
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                    and r.name == "mcpauth_fast.shared"]
        # Once per outage, never per request (on a loaded machine a slow command may have
        # started an outage of its own before the kill).
        outages = auth.shared_cache_info()["redis"]["outages"]
        assert len(warnings) == outages >= 1, [r.getMessage() for r in warnings]
        # Revoking while Redis is down: refused here at once, reported as not shared.
        revoked = token(jti="d-revoked", scope="read")
        assert await auth.revoke(token=revoked) is False
        assert (await get(http, revoked)).status_code == 401
        redis_server.start()
        assert await auth._tier.listening(timeout=5)
        # Hung: every command times out quickly, requests go on.
        redis_server.pause()
        try:
            started = time.monotonic()
            for n in range(20):
                response = await get(http, token(jti=f"h-{n}", scope="read"))
                assert response.status_code == 200
            assert time.monotonic() - started < 5
        finally:
            redis_server.resume()
        await asyncio.sleep(0.3)
        assert (await get(http, token(jti="back", scope="read"))).status_code == 200
        assert auth.shared_cache_info()["redis"]["down"] is False
    await auth.aclose()



async def test_a_failing_command_fails_alone(redis_server: RedisServer) -> None:
    # Seen under load: a failed command closed every connection of the pool, and redis-py then
    # raised RuntimeError (uvloop) or AttributeError in other requests' commands, which the
    # middleware turned into 401s. Any exception of a command is now an outage, and only idle
    # connections are closed.
    link = RedisLink(SharedCacheConfig(url=redis_server.url, key=SECRET, timeout=2.0,
                                       retry_min=0.01, retry_max=0.01))

    async def broken(client: Any) -> None:
        await asyncio.sleep(0.05)  # while the other command waits on its connection
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")

    try:
        waiting = asyncio.ensure_future(link.run(lambda client: client.blpop("f-list", 1)))
        assert await link.run(broken) is None
        assert link.down and link.failures == 1
        await asyncio.sleep(0.02)  # the back-off
        assert await link.run(lambda client: client.rpush("f-list", b"v")) == 1
        assert await waiting == (b"f-list", b"v")
        assert not link.down
    finally:
        await link.aclose()


async def test_an_outage_only_the_listener_saw_leaves_no_dead_connection(
        jwks_server: JwksServer, redis_server: RedisServer) -> None:
    # With no command during the outage, only the listener noticed it. The commands' idle
    # connection led to the server that was gone, and the first command once it was back
    # failed on it: a second outage, and meanwhile nothing shared or claimed.
    auth = worker(jwks_server, redis_server)
    tier, link = auth._tier, auth._tier.link
    assert link is not None
    namespace = tier.namespace("test", "claims")
    try:
        assert await tier.listening()
        assert await tier.claim(namespace, "before", 60) is True  # a pooled connection
        redis_server.kill()
        deadline = time.monotonic() + 5
        while not link.down:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        redis_server.start()
        assert await tier.listening(timeout=5)
        assert await tier.claim(namespace, "after", 60) is True
        assert link.outages == 1 and not link.down
    finally:
        await auth.aclose()


async def test_revocations_outlive_a_redis_that_comes_back_empty(
        jwks_server: JwksServer, redis_server: RedisServer) -> None:
    # Redis without persistence loses every stored revocation when it restarts, and one made
    # during the outage never reached it: the workers that remember them store them again.
    one, two = worker(jwks_server, redis_server), worker(jwks_server, redis_server)
    before, during = token(jti="r-before", scope="read"), token(jti="r-during", scope="read")
    bystander = token(jti="r-bystander", scope="read")
    async with client(one) as http_one, client(two) as http_two:
        assert await one._tier.listening() and await two._tier.listening()
        assert await one.revoke(token=before) is True
        redis_server.kill()
        assert await one.revoke(jti="r-during", issuer=ISSUER) is False
        assert (await get(http_one, during)).status_code == 401   # here at once
        assert (await get(http_two, during)).status_code == 200   # not yet there
        redis_server.start()
        assert await one._tier.listening(timeout=5) and await two._tier.listening(timeout=5)
        deadline = time.monotonic() + 5
        while (await get(http_two, during)).status_code == 200:
            assert time.monotonic() < deadline, "the revocation made while down never arrived"
            await asyncio.sleep(0.02)
        later = worker(jwks_server, redis_server)                 # started after the restart
        async with client(later) as http_later:
            assert await later._tier.listening()
            for http in (http_one, http_two, http_later):
                assert (await get(http, before)).status_code == 401
                assert (await get(http, during)).status_code == 401
                assert (await get(http, bystander)).status_code == 200
        assert later.shared_cache_info()["revocations"] == 2
        assert one.shared_cache_info()["revocations_restored"] >= 1
    for auth in (one, two, later):
        await auth.aclose()


async def test_a_revoked_token_does_not_wait_in_the_cache_while_redis_is_asked(
        jwks_server: JwksServer, redis_server: RedisServer) -> None:
    # Until its listener has (re)loaded the stored revocations, a worker asks Redis about each
    # token it verifies. The token must not sit in the cache during that wait: another request
    # would find it there (seen once under locust, just after Redis came back).
    auth = MCPAuth(server=auth_server_mode(jwks_server).server, shared_cache={
        "url": redis_server.url, "key": SECRET, "timeout": 0.3, "retry_min": 0.05,
        "retry_max": 0.1})
    revoked = token(jti="w-1", sub="gus", iat=int(time.time()) - 10, scope="read")
    async with client(auth) as http:
        assert await auth._tier.listening()
        assert await auth.revoke(subject="gus", issuer=ISSUER) is True
        auth._tier._listening.clear()           # as just after a reconnection
        redis_server.pause()                    # and Redis slow to answer
        try:
            first = asyncio.ensure_future(get(http, revoked))
            await asyncio.sleep(0.1)            # its verification is waiting for Redis
            second = await get(http, revoked)
            answers = [await first, second]
        finally:
            redis_server.resume()
        assert [answer.status_code for answer in answers] == [401, 401]
    await auth.aclose()
