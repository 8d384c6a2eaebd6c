"""The shared tier behind "introspection" mode, on a real Redis and the development issuer:
an opaque token introspected by one worker is served by another without a call, a
revocation made on one refuses it on every one, and Redis down changes no decision.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support.introspection_worker import IntrospectionWorker, eventually, listening_workers
from support.opaque_tokens import AUDIENCE, opaque
from support.redis_server import RedisServer
from support.uvicorn_worker import UvicornWorker, uvicorn_workers

from mcpauth_fast.dev.issuer import DevIssuer
from mcpauth_fast.dev.keystore import STATE_DIR_ENV

SECRET = b"a shared secret of the tests, 32+ bytes long"


@pytest.fixture
def issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevIssuer]:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "dev-issuer"))
    with DevIssuer() as running:
        yield running


def shared(redis: RedisServer | None) -> dict[str, Any] | None:
    # A second per command: a loaded machine must not pass for a slow Redis here.
    return None if redis is None else {
        "url": redis.url, "key": SECRET, "timeout": 1.0, "retry_min": 0.05, "retry_max": 0.2}


async def workers(issuer: DevIssuer, redis: RedisServer | None, count: int = 2
                  ) -> list[IntrospectionWorker]:
    return await listening_workers(issuer, [shared(redis)] * count)


async def test_a_token_introspected_by_one_worker_is_served_to_another_without_a_call(
        issuer: DevIssuer, redis_server: RedisServer) -> None:
    one, two = await workers(issuer, redis_server)
    try:
        token = opaque(issuer, sub="ann")
        assert await one.status(token) == 200
        assert (one.calls, two.calls) == (1, 0)
        assert await two.status(token) == 200
        assert await two.status(token) == 200
        assert (one.calls, two.calls) == (1, 0)
        assert two.auth.shared_cache_info()["hits"] == 1
        # An inactive answer is shared too (for its short time).
        unknown = "not-a-token-" + "x" * 20
        assert await one.status(unknown) == 401
        assert await two.status(unknown) == 401
        assert (one.calls, two.calls) == (2, 0)
    finally:
        await one.aclose()
        await two.aclose()


async def test_an_answer_passed_on_lives_no_longer_than_where_it_came_from(
        issuer: DevIssuer, redis_server: RedisServer) -> None:
    # max_cache_seconds is the revocation delay accepted: a worker that reads an answer from
    # Redis keeps it until the asking worker's entry ends, not for a time of its own.
    one, two = (IntrospectionWorker(issuer, shared(redis_server), max_cache_seconds=1.0)
                for _ in range(2))
    try:
        token = opaque(issuer, sub="ann")
        assert await one.status(token) == 200
        answered = time.time()                                       # one's entry ends by +1
        await asyncio.sleep(0.5)
        assert await two.status(token) == 200 and two.calls == 0     # from Redis
        assert issuer.revoke(token)                                  # at the provider only
        # Two's own second would end at +1.5 at the earliest.
        await asyncio.sleep(max(0.0, answered + 1.1 - time.time()))
        assert await two.status(token) == 401
        assert await one.status(token) == 401
    finally:
        await one.aclose()
        await two.aclose()


async def test_no_raw_token_reaches_redis(issuer: DevIssuer,
                                          redis_server: RedisServer) -> None:
    (one,) = await workers(issuer, redis_server, 1)
    try:
        token = opaque(issuer, sub="ann")
        assert await one.status(token) == 200
        keys = redis_server.command("KEYS", "*")
        assert b":v:" in keys and token.encode() not in keys
        for key in keys.split(b"\r\n"):
            if b":v:" in key:
                value = redis_server.command("GET", key)
                assert token.encode() not in value and b'"sub":"ann"' in value
    finally:
        await one.aclose()


async def test_a_poisoned_entry_is_not_trusted(issuer: DevIssuer,
                                               redis_server: RedisServer) -> None:
    one, two = await workers(issuer, redis_server)
    try:
        token = opaque(issuer, sub="ann")
        assert await one.status(token) == 200
        (key,) = [k for k in redis_server.command("KEYS", "*").split(b"\r\n") if b":v:" in k]
        redis_server.command("SET", key, b"1" + b"\0" * 32 + b'{"r":{"active":true}}')
        assert await two.status(token) == 200          # asked the provider instead
        assert two.calls == 1 and two.auth.shared_cache_info()["rejected"] >= 1
    finally:
        await one.aclose()
        await two.aclose()


@pytest.mark.parametrize("how", ["token", "jti", "subject"])
async def test_a_revocation_on_one_worker_refuses_the_token_on_every_one(
        issuer: DevIssuer, redis_server: RedisServer, how: str) -> None:
    one, two, three = await workers(issuer, redis_server, 3)
    try:
        token = opaque(issuer, sub="bob")
        other = opaque(issuer, sub="carl")
        for worker in (one, two):                       # cached locally on both
            assert await worker.status(token) == 200
            assert await worker.status(other) == 200
        info = one.verifier.cached(token)
        assert info is not None
        if how == "token":
            assert await one.auth.revoke(token=token)
        elif how == "jti":
            assert await one.auth.revoke(jti=info.claims["jti"], issuer=info.issuer)
        else:
            assert await one.auth.revoke(subject="bob", issuer=info.issuer)
        await eventually(lambda: two.verifier.cached(token) is None)
        calls = one.calls + two.calls + three.calls
        for worker in (one, two, three):                # three: only in Redis, never local
            assert await worker.status(token) == 401
            assert await worker.status(token) == 401
            assert await worker.status(other) == 200
        if how == "token":                              # refused before any lookup
            assert one.calls + two.calls + three.calls == calls
        # A worker started after the revocation refuses it too.
        (four,) = await workers(issuer, redis_server, 1)
        try:
            assert await four.status(token) == 401
            assert await four.status(other) == 200
        finally:
            await four.aclose()
    finally:
        for worker in (one, two, three):
            await worker.aclose()


async def test_a_revocation_without_redis_holds_in_the_process(issuer: DevIssuer) -> None:
    (one,) = await workers(issuer, None, 1)
    try:
        token = opaque(issuer, sub="dora")
        assert await one.status(token) == 200
        assert await one.auth.revoke(token=token)
        assert one.verifier.cached(token) is None
        assert await one.status(token) == 401
    finally:
        await one.aclose()


async def test_redis_down_serves_from_local_and_provider(
        issuer: DevIssuer, redis_server: RedisServer) -> None:
    one, two = await workers(issuer, redis_server)
    try:
        known = opaque(issuer, sub="eve")
        assert await one.status(known) == 200
        redis_server.kill()
        fresh = opaque(issuer, sub="fay")
        for _ in range(3):
            assert await one.status(known) == 200       # local
            assert await two.status(known) == 200       # the provider, once
            assert await one.status(fresh) == 200
            assert await two.status(fresh) == 200
            assert await two.status("garbage-token-value") == 401
        assert (one.calls, two.calls) == (2, 3)
        # A revocation while Redis is down holds in its process.
        assert not await one.auth.revoke(token=fresh)
        assert await one.status(fresh) == 401
    finally:
        await one.aclose()
        await two.aclose()


# -- two uvicorn workers (processes) behind one Redis -----------------------------------------


@pytest.fixture
def processes(issuer: DevIssuer, redis_server: RedisServer, tmp_path: Path
              ) -> Iterator[list[UvicornWorker]]:
    client_id, secret = issuer.client_credentials
    settings = {"ISSUER_URL": issuer.issuer, "CLIENT_ID": client_id, "CLIENT_SECRET": secret,
                "AUDIENCE": AUDIENCE, "REDIS_URL": redis_server.url,
                "SHARED_KEY": secrets.token_hex(32)}
    with uvicorn_workers("support.shared_introspection_app:app", settings, tmp_path) as started:
        yield started


def test_two_workers_make_one_introspection_call_per_token(
        issuer: DevIssuer, processes: list[UvicornWorker]) -> None:
    values = [opaque(issuer, sub=f"user-{n}") for n in range(1000)]
    requests = [(n % 2, value) for value in values for n in range(20)]
    random.Random(16).shuffle(requests)

    def send(request: tuple[int, str]) -> tuple[int, str]:
        worker, value = request
        response = processes[worker].http.get(
            "/whoami", headers={"authorization": f"Bearer {value}"})
        if response.status_code == 200:
            return 200, ""
        return response.status_code, (f"worker {worker}: {response.text} "
                                      f"{response.headers.get('www-authenticate')}")

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, requests))
    statuses = Counter(status for status, _ in answers)
    assert statuses == Counter({200: 20000}), (statuses, [why for _, why in answers if why])
    calls = [process.stats()["calls"] for process in processes]
    print(f"introspection calls per worker: {calls}")
    assert sum(calls) == len(values), [process.stats()["redis"] for process in processes]
    assert all(calls), calls  # both workers introspected some: the work was shared
