"""The shared tier on a real Redis Cluster (three masters, tests/support/redis_cluster.py):
an introspected token and a JWT result shared between two workers, revocations reaching the
other worker through pub/sub from whichever node they were published on, a worker started
later loading the revocations stored on every master, and a master killed under requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.app_factory import auth_server_mode, whoami_app
from support.introspection_worker import IntrospectionWorker, eventually, listening_workers
from support.jwks_server import JwksServer
from support.opaque_tokens import opaque
from support.redis_cluster import RedisCluster
from support.tokens import claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.dev.issuer import DevIssuer
from mcpauth_fast.dev.keystore import STATE_DIR_ENV
from mcpauth_fast.exceptions import MCPAuthConfigException, MCPAuthTokenVerificationException

SECRET = b"a shared secret of the tests, 32+ bytes long"
CHANNEL = b"mcpauth-fast:revoked"


@pytest.fixture
def issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevIssuer]:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "dev-issuer"))
    with DevIssuer() as running:
        yield running


def shared(url: str, **options: Any) -> dict[str, Any]:
    # A second per command, not 50 ms: on a loaded machine a command (or the client's first
    # look at the cluster's slots) can wait that long for the CPU, and a worker that gives up
    # on Redis goes on alone by design, which is not what these tests look at.
    return {"url": url, "key": SECRET, "cluster": True, "timeout": 1.0, "retry_min": 0.05,
            "retry_max": 0.2, **options}


async def workers(issuer: DevIssuer, cluster: RedisCluster, count: int = 2
                  ) -> list[IntrospectionWorker]:
    # Each worker is given another node of the cluster: any one lets it find the others.
    nodes = cluster.nodes
    return await listening_workers(issuer, [shared(nodes[i % len(nodes)].url)
                                            for i in range(count)])


def subscribers(cluster: RedisCluster) -> dict[int, int]:
    """The listeners connected to each running master, by port."""
    counts = {}
    for node in cluster.nodes:
        if node.process is not None:
            reply = node.command("PUBSUB", "NUMSUB", CHANNEL).split(b"\r\n")
            counts[node.port] = int(reply[-2].lstrip(b":"))
    return counts


def publishes(cluster: RedisCluster) -> dict[int, int]:
    """How many PUBLISH each master has run (its own, not those relayed to it)."""
    counts = {}
    for node in cluster.nodes:
        stats = node.command("INFO", "commandstats").decode()
        line = [part for part in stats.split("\r\n") if part.startswith("cmdstat_publish:")]
        counts[node.port] = int(line[0].split("calls=")[1].split(",")[0]) if line else 0
    return counts


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    ({"url": "unix:///tmp/redis.sock"}, "redis://"),
    ({"url": "redis://h:7000/2"}, "database 0"),
    ({"url": "redis://h:7000/0", "prefix": "app{x}"}, "prefix"),
    ({"url": "redis://h:7000/0", "cluster": "yes"}, "True or False"),
])
def test_invalid_cluster_options_are_refused(
        jwks_server: JwksServer, options: dict[str, Any], message: str) -> None:
    with pytest.raises(MCPAuthConfigException, match=message):
        MCPAuth(server=auth_server_mode(jwks_server).server,
                shared_cache={"key": SECRET, "cluster": True, **options})


# -- sharing --------------------------------------------------------------------------------------


async def test_an_introspected_token_is_shared_through_the_cluster_with_one_call(
        issuer: DevIssuer, empty_redis_cluster: RedisCluster) -> None:
    one, two = await workers(issuer, empty_redis_cluster)
    try:
        token = opaque(issuer, sub="ann")
        assert await one.status(token) == 200
        assert await two.status(token) == 200
        assert (one.calls, two.calls) == (1, 0)
        assert two.auth.shared_cache_info()["hits"] == 1
        # Twenty requests at once on both workers for a new token: one introspection, the
        # lock and the entry found through the cluster.
        fresh = opaque(issuer, sub="bea")
        answers = await asyncio.gather(*(worker.status(fresh) for worker in (one, two)
                                         for _ in range(10)))
        assert answers == [200] * 20
        assert one.calls + two.calls == 2
        # Entries are spread over the masters; an entry and its lock share a hash tag.
        entries = [key for keys in empty_redis_cluster.keys("mcpauth-fast:v:*").values()
                   for key in keys]
        assert len(entries) == 2 and all(b":v:{" in key for key in entries)
        assert token.encode() not in b"".join(entries)
    finally:
        await one.aclose()
        await two.aclose()


async def test_jwt_results_are_shared_through_the_cluster(
        jwks_server: JwksServer, empty_redis_cluster: RedisCluster) -> None:
    server = auth_server_mode(jwks_server).server
    one, two = (MCPAuth(server=server, shared_cache=shared(node.url, share_jwt=True))
                for node in empty_redis_cluster.nodes[:2])
    apps = [whoami_app(auth, auth.bearer_auth_middleware("jwt")) for auth in (one, two)]
    minted = [signing_key("ES256").mint(claims(time.time(), jti=f"c{i}")) for i in range(6)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]),
                                 base_url="http://test") as http_one, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]),
                              base_url="http://test") as http_two:
        for value in minted:
            response = await http_one.get("/whoami", headers={"authorization": f"Bearer {value}"})
            assert response.status_code == 200
        for value in minted:
            response = await http_two.get("/whoami", headers={"authorization": f"Bearer {value}"})
            assert response.status_code == 200 and response.json()["jti"] in response.text
    assert one.shared_cache_info()["writes"] == 6
    # The first token also fetched two's key set; every other one is a hit.
    assert two.shared_cache_info()["hits"] >= 5
    stored = empty_redis_cluster.keys("mcpauth-fast:v:*")
    assert sum(len(keys) for keys in stored.values()) == 6
    assert sum(1 for keys in stored.values() if keys) >= 2
    await one.aclose()
    await two.aclose()


# -- revocation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["token", "jti", "subject"])
async def test_a_revocation_reaches_a_worker_listening_on_another_node(
        issuer: DevIssuer, empty_redis_cluster: RedisCluster, how: str) -> None:
    (two,) = await workers(issuer, empty_redis_cluster, 1)
    (listens,) = [port for port, count in subscribers(empty_redis_cluster).items() if count]
    (one,) = await workers(issuer, empty_redis_cluster, 1)
    try:
        assert sum(subscribers(empty_redis_cluster).values()) == 2
        # Revoke until one PUBLISH was run on a node where worker two does not listen (a
        # cluster routes a PUBLISH to any master); each revocation must reach worker two.
        published_elsewhere = False
        for attempt in range(40):
            token = opaque(issuer, sub=f"bob{attempt}")
            assert await two.status(token) == 200
            info = two.verifier.cached(token)
            assert info is not None
            before = publishes(empty_redis_cluster)
            if how == "token":
                assert await one.auth.revoke(token=token)
            elif how == "jti":
                assert await one.auth.revoke(jti=info.claims["jti"], issuer=info.issuer)
            else:
                assert await one.auth.revoke(subject=f"bob{attempt}", issuer=info.issuer)
            after = publishes(empty_redis_cluster)
            (node,) = [port for port in after if after[port] != before[port]]
            await eventually(lambda token=token: two.verifier.cached(token) is None)
            assert await two.status(token) == 401
            if node != listens:
                published_elsewhere = True
                break
        assert published_elsewhere
        assert await two.status(opaque(issuer, sub="carl")) == 200
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_worker_started_later_loads_revocations_from_every_master(
        issuer: DevIssuer, empty_redis_cluster: RedisCluster) -> None:
    (one,) = await workers(issuer, empty_redis_cluster, 1)
    revoked = [opaque(issuer, sub=f"dan{i}") for i in range(12)]
    by_subject = opaque(issuer, sub="eli")
    try:
        for token in revoked:
            assert await one.auth.revoke(token=token)
        assert await one.status(by_subject) == 200
        info = one.verifier.cached(by_subject)
        assert info is not None
        assert await one.auth.revoke(subject="eli", issuer=info.issuer)
        stored = empty_redis_cluster.keys("mcpauth-fast:r:*")
        assert sum(len(keys) for keys in stored.values()) == 13
        assert sum(1 for keys in stored.values() if keys) >= 2  # on several masters
        # Before its listener has loaded them, a worker asks Redis for the revocations of
        # each token it verifies: by token, jti and subject, keys on different masters.
        starting = IntrospectionWorker(issuer, shared(empty_redis_cluster.nodes[1].url))
        try:
            with pytest.raises(MCPAuthTokenVerificationException):
                await starting.auth._tier.check(info)
            counts = starting.auth._tier.info()
            assert counts["revoked"] == 1 and not counts["redis"]["failures"]
        finally:
            await starting.aclose()
        (later,) = await workers(issuer, empty_redis_cluster, 1)
        try:
            assert later.auth.shared_cache_info()["revocations"] == 13
            for token in [*revoked, by_subject]:
                assert await later.status(token) == 401
            assert later.calls == 0                     # the subject's token: from Redis
            assert await later.status(opaque(issuer, sub="fay")) == 200
        finally:
            await later.aclose()
    finally:
        await one.aclose()


# -- a master killed ------------------------------------------------------------------------------


async def test_a_killed_master_changes_no_decision(
        issuer: DevIssuer, redis_cluster: RedisCluster,
        caplog: pytest.LogCaptureFixture) -> None:
    escaped: list[Any] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: escaped.append(context))
    one, two = await workers(issuer, redis_cluster)
    try:
        known = [opaque(issuer, sub=f"gus{i}") for i in range(6)]
        revoked = opaque(issuer, sub="hal")
        for token in [*known, revoked]:
            assert await one.status(token) == 200
        assert await one.auth.revoke(token=revoked)
        await eventually(lambda: two.auth._tier.revocations.token_revoked(revoked))
        # The master that stores the revocation dies.
        (victim,) = [node for node in redis_cluster.nodes if node.keys("mcpauth-fast:r:*")]
        victim.kill()
        fresh = [opaque(issuer, sub=f"ivy{i}") for i in range(4)]
        for _ in range(3):
            for worker in (one, two):
                for token in [*known, *fresh]:
                    assert await worker.status(token) == 200
                assert await worker.status(revoked) == 401
                assert await worker.status("garbage-token-value") == 401
        # A revocation now holds in its worker at once, whatever Redis answers.
        await one.auth.revoke(token=fresh[0])
        assert await one.status(fresh[0]) == 401
        assert any(worker.auth.shared_cache_info()["redis"]["failures"]
                   for worker in (one, two))
        # The master comes back empty (no persistence): the workers store the revocations
        # again, and a worker started then refuses both tokens.
        victim.start()
        await eventually(redis_cluster.ready, timeout=10)
        more = [opaque(issuer, sub=f"jo{i}") for i in range(20)]

        async def requests_find_redis_back() -> None:
            # A worker learns that Redis is back from its requests' commands.
            for token in more:
                for worker in (one, two):
                    assert await worker.status(token) == 200
                await asyncio.sleep(0.05)

        await requests_find_redis_back()
        await eventually(lambda: sum(map(len, redis_cluster.keys("mcpauth-fast:r:*").values()))
                         == 2, timeout=10)
        assert victim.keys("mcpauth-fast:r:*")
        assert sum(worker.auth.shared_cache_info()["revocations_restored"]
                   for worker in (one, two)) >= 1
        (later,) = await workers(issuer, redis_cluster, 1)
        try:
            assert await later.status(revoked) == 401
            assert await later.status(fresh[0]) == 401
            assert await later.status(known[0]) == 200
        finally:
            await later.aclose()
    finally:
        await one.aclose()
        await two.aclose()
    assert escaped == []
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
