"""Two uvicorn workers (separate processes) in front of one real Redis: a revocation made on
one reaches the other, a JWT verified by one is a shared hit on the other, and Redis killed in
the middle of a load and started again causes no 5xx and no wrong decision; both workers
reconnect by themselves.
"""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.app_factory import publish_keys
from support.jwks_server import JwksServer
from support.redis_server import RedisServer
from support.tokens import ISSUER, claims, signing_key
from support.uvicorn_worker import UvicornWorker, uvicorn_workers


@pytest.fixture
def workers(jwks_server: JwksServer, redis_server: RedisServer, tmp_path: Path
            ) -> Iterator[list[UvicornWorker]]:
    publish_keys(jwks_server)
    settings = {"JWKS_URL": jwks_server.url, "REDIS_URL": redis_server.url,
                "SHARED_KEY": secrets.token_hex(32)}
    with uvicorn_workers("support.shared_app:app", settings, tmp_path) as started:
        yield started


def token(**overrides: Any) -> str:
    return signing_key("ES256").mint(claims(time.time(), **overrides))


def wait_refused(worker: UvicornWorker, value: str, timeout: float = 5.0) -> float:
    start = time.monotonic()
    while worker.status(value) != 401:
        assert time.monotonic() - start < timeout, "the revocation did not arrive"
        time.sleep(0.002)
    return time.monotonic() - start


def test_two_workers_share_results_and_revocations(workers: list[UvicornWorker]) -> None:
    one, two = workers
    value = token(jti="w-1")
    assert one.status(value) == 200
    assert two.status(token(jti="w-0")) == 200  # worker two has its keys
    assert two.status(value) == 200
    assert two.http.get("/stats").json()["hits"] >= 1  # value: verified by one, shared
    delays = []
    for n in range(20):
        fresh = token(jti=f"w-r{n}")
        assert one.status(fresh) == 200 and two.status(fresh) == 200
        assert one.http.post("/revoke", json={"token": fresh}).json() == {"shared": True}
        assert one.status(fresh) == 401
        delays.append(wait_refused(two, fresh))
    assert max(delays) < 1.0, delays
    print(f"revocation delay, worker two: median {statistics.median(delays) * 1000:.1f} ms, "
          f"max {max(delays) * 1000:.1f} ms")
    for worker in workers:
        assert worker.log.read_text().count(value) == 0


def test_redis_killed_under_load_and_restarted(workers: list[UvicornWorker],
                                               redis_server: RedisServer) -> None:
    one, two = workers
    good = [token(jti=f"k-{n}", sub=f"user-{n}") for n in range(10)]
    revoked = token(jti="k-revoked", sub="mallory")
    assert one.http.post("/revoke", json={"token": revoked}).json() == {"shared": True}
    for worker in workers:
        wait_refused(worker, revoked)
    outcomes: Counter[str] = Counter()
    stop = threading.Event()

    def load(worker: UvicornWorker, seed: int) -> None:
        n = seed
        while not stop.is_set():
            n += 1
            if n % 5 == 0:
                fresh = token(jti=f"k-fresh-{seed}-{n}")  # a miss: Redis is asked
                expected, value = 200, fresh
            elif n % 7 == 0:
                expected, value = 401, revoked
            else:
                expected, value = 200, good[n % len(good)]
            got = worker.status(value)
            outcomes["5xx" if got >= 500 else "right" if got == expected else "wrong"] += 1

    threads = [threading.Thread(target=load, args=(w, i * 1000)) for i, w in enumerate(workers)
               for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        redis_server.kill()
        time.sleep(1.5)
        redis_server.start()
        for worker in workers:
            worker.wait_listening(timeout=10)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert outcomes["5xx"] == 0 and outcomes["wrong"] == 0, outcomes
    assert outcomes["right"] > 100, outcomes
    # After the restart (an empty Redis), a new revocation reaches both workers again.
    again = token(jti="k-after")
    assert one.status(again) == 200 and two.status(again) == 200
    assert two.http.post("/revoke", json={"subject": "user-3", "issuer": ISSUER}).json() == {
        "shared": True}
    assert wait_refused(one, good[3]) < 1.0
    assert one.status(good[4]) == 200
    for worker in workers:
        stats = worker.http.get("/stats").json()
        assert stats["redis"]["outages"] >= 1 and not stats["redis"]["down"], stats
        log = worker.log.read_text()
        # The outage is logged once per worker (WARNING), never with a token.
        assert log.count("shared cache: Redis at") <= 1, log
        assert all(t not in log for t in good + [revoked])
