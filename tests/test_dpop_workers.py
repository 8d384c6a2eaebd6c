"""DPoP proofs replayed across uvicorn workers (separate processes) of one resource.

Each worker remembers the ``jti`` of the proofs it accepted; with the shared tier it also
claims each one in Redis (``SET NX PX``), so a proof replayed to *another* worker is refused
too. Without the shared tier, or while Redis is down, only the worker that saw a proof
refuses its replay, and good proofs are still accepted (never a 5xx).

Proofs are made by joserfc (support/dpop_proofs.py), tokens signed by the test keys and
served by a real JWKS server; every request is real HTTP over 127.0.0.1.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.app_factory import publish_keys
from support.dpop_proofs import WHOAMI, new_key, proof
from support.implementations import compiled_module
from support.jwks_server import JwksServer
from support.redis_server import RedisServer
from support.tokens import claims, signing_key
from support.uvicorn_worker import UvicornWorker, uvicorn_workers

APP = "support.dpop_app:app"
#: The challenge of a replayed proof, but for the order of ``algs`` (a set: RFC 9449 7.1).
REPLAYED = 'DPoP error="invalid_dpop_proof", error_description="jti was already used", algs="'
ALGS = {"EdDSA", "ES256"}

#: Seconds for any one request: a Redis that is down must not make a worker hang.
TIMEOUT = httpx.Timeout(10.0)


@contextmanager
def dpop_workers(jwks: JwksServer, logs: Path, redis_url: str) -> Iterator[list[UvicornWorker]]:
    publish_keys(jwks)
    settings = {"JWKS_URL": jwks.url, "REDIS_URL": redis_url,
                "SHARED_KEY": secrets.token_hex(32)}
    with uvicorn_workers(APP, settings, logs) as started:
        # The workers run the implementation this run is about (MCPAUTH_FAST_NO_EXTENSIONS).
        expected = "py" if compiled_module() is None else "c"
        assert [w.stats()["implementation"] for w in started] == [expected] * len(started)
        yield started


@pytest.fixture
def shared_workers(jwks_server: JwksServer, redis_server: RedisServer, tmp_path: Path
                   ) -> Iterator[list[UvicornWorker]]:
    """Two workers behind one Redis."""
    with dpop_workers(jwks_server, tmp_path, redis_server.url) as started:
        yield started


@pytest.fixture
def local_workers(jwks_server: JwksServer, tmp_path: Path) -> Iterator[list[UvicornWorker]]:
    """Two workers without the shared tier."""
    with dpop_workers(jwks_server, tmp_path, "") as started:
        yield started


class Client:
    """A DPoP client: one key, one token bound to it (``cnf.jkt``), a proof per request."""

    def __init__(self, subject: str = "alice") -> None:
        self.subject = subject
        self.key = new_key()
        self.jkt = self.key.thumbprint()
        self.token = signing_key("ES256").mint(claims(
            time.time(), sub=subject, jti=f"t-{secrets.token_hex(8)}",
            cnf={"jkt": self.jkt}))

    def proof(self) -> str:
        return proof(self.key, self.token, WHOAMI)

    def send(self, worker: UvicornWorker, dpop: str) -> httpx.Response:
        return worker.http.get("/whoami", timeout=TIMEOUT, headers={
            "authorization": f"DPoP {self.token}", "dpop": dpop})


def accepted(client: Client, response: httpx.Response, worker: UvicornWorker) -> None:
    assert response.status_code == 200, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert body == {"subject": client.subject, "jkt": client.jkt,
                    "pid": worker.process.pid}


def refused_as_replay(response: httpx.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == "invalid_dpop_proof", body
    assert "jti was already used" in body["error_description"], body
    challenges = response.headers.get_list("www-authenticate")
    # The error goes with the DPoP challenge; Bearer is offered alongside, with no error.
    assert len(challenges) == 2 and challenges[0] == "Bearer", challenges
    dpop = challenges[1]
    assert dpop.startswith(REPLAYED) and dpop.endswith('"'), challenges
    assert set(dpop[len(REPLAYED):-1].split(" ")) == ALGS, challenges


def no_token_logged(workers: list[UvicornWorker], clients: list[Client]) -> None:
    for worker in workers:
        log = worker.log.read_text(errors="replace")
        assert all(client.token not in log for client in clients), log[-3000:]


def test_a_proof_replayed_to_the_other_worker_is_refused(
        shared_workers: list[UvicornWorker]) -> None:
    one, two = shared_workers
    client = Client("alice")
    used = client.proof()
    accepted(client, client.send(one, used), one)
    refused_as_replay(client.send(two, used))
    refused_as_replay(client.send(one, used))
    refused_as_replay(client.send(two, used))  # now in worker two's memory too
    # The token itself is fine: a fresh proof for it is accepted by either worker.
    accepted(client, client.send(two, client.proof()), two)
    accepted(client, client.send(one, client.proof()), one)
    no_token_logged(shared_workers, [client])


def test_many_proofs_each_replayed_to_the_other_worker(
        shared_workers: list[UvicornWorker]) -> None:
    one, two = shared_workers
    chooser = random.Random(9449)
    clients = [Client(f"user-{n}") for n in range(5)]
    # The first use on worker two, the replay on worker one, then the rest at random.
    order = [(two, one)] + [
        (one, two) if chooser.random() < 0.5 else (two, one) for _ in range(49)]
    firsts, replays = [], []
    for n, (first, other) in enumerate(order):
        client = clients[n % len(clients)]
        used = client.proof()
        firsts.append(client.send(first, used))
        accepted(client, firsts[-1], first)
        replays.append(client.send(other, used))
        refused_as_replay(replays[-1])
    assert [r.status_code for r in firsts] == [200] * 50
    assert [r.status_code for r in replays] == [401] * 50
    assert {one, two} == {first for first, _ in order}  # both workers served first uses
    no_token_logged(shared_workers, clients)


def test_without_the_shared_tier_only_the_same_worker_refuses_a_replay(
        local_workers: list[UvicornWorker]) -> None:
    one, two = local_workers
    for worker in local_workers:
        assert worker.stats()["redis"]["configured"] is False
    client = Client("carol")
    used = client.proof()
    accepted(client, client.send(one, used), one)
    # Why the shared tier matters: worker two never saw this proof, and accepts its replay.
    accepted(client, client.send(two, used), two)
    # Each worker refuses what it saw itself.
    refused_as_replay(client.send(one, used))
    refused_as_replay(client.send(two, used))
    again = client.proof()
    accepted(client, client.send(two, again), two)
    refused_as_replay(client.send(two, again))
    accepted(client, client.send(one, again), one)
    refused_as_replay(client.send(one, again))
    no_token_logged(local_workers, [client])


def wait_redis(worker: UvicornWorker, down: bool, timeout: float = 10.0) -> None:
    """Until the worker counts Redis as down (or up): its listener notices by itself."""
    deadline = time.monotonic() + timeout
    while worker.stats()["redis"]["down"] is not down:
        assert time.monotonic() < deadline, f"Redis never counted as down={down}"
        time.sleep(0.02)


def test_redis_down_good_proofs_accepted_replays_refused_locally(
        shared_workers: list[UvicornWorker], redis_server: RedisServer) -> None:
    one, two = shared_workers
    client = Client("dave")
    before = client.proof()
    accepted(client, client.send(one, before), one)
    redis_server.kill()
    statuses: list[int] = []
    slowest = 0.0
    for n in range(20):
        first, other = (one, two) if n % 2 == 0 else (two, one)
        used = client.proof()
        started = time.monotonic()
        response = client.send(first, used)
        slowest = max(slowest, time.monotonic() - started)
        statuses.append(response.status_code)
        accepted(client, response, first)
        # The same worker still refuses the replay, from its own memory.
        replay = client.send(first, used)
        statuses.append(replay.status_code)
        refused_as_replay(replay)
        if n == 0:
            # The proof accepted before the outage is still refused by the worker that saw it.
            refused_as_replay(client.send(one, before))
        if n == 19:
            # What is lost while Redis is down: the other worker accepts the replay.
            other_replay = client.send(other, used)
            statuses.append(other_replay.status_code)
            accepted(client, other_replay, other)
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(200) == 21 and statuses.count(401) == 20, statuses
    # The outage costs at most the shared tier's command timeout (1 s) per request.
    assert slowest < 3.0, slowest
    for worker in shared_workers:
        wait_redis(worker, down=True)
    no_token_logged(shared_workers, [client])


def restart_redis(workers: list[UvicornWorker], redis_server: RedisServer) -> None:
    """Redis killed, noticed by every worker, started again (empty) and listened to."""
    redis_server.kill()
    for worker in workers:
        wait_redis(worker, down=True)
    redis_server.start()
    for worker in workers:
        worker.wait_listening(timeout=10)
        wait_redis(worker, down=False)


def test_after_redis_restarts_replays_to_the_other_worker_are_refused_again(
        shared_workers: list[UvicornWorker], redis_server: RedisServer) -> None:
    one, two = shared_workers
    client = Client("erin")
    for worker in shared_workers:
        accepted(client, client.send(worker, client.proof()), worker)
    restart_redis(shared_workers, redis_server)
    # Within a few seconds, a proof used on worker two is refused by worker one again; until
    # then, nothing worse than the outage: first uses accepted, no 5xx.
    deadline = time.monotonic() + 5.0
    tries = 0
    while True:
        tries += 1
        used = client.proof()
        accepted(client, client.send(two, used), two)
        replay = client.send(one, used)
        assert replay.status_code in (200, 401), (replay.status_code, replay.text)
        if replay.status_code == 401:
            refused_as_replay(replay)
            break
        assert time.monotonic() < deadline, f"still accepted after {tries} tries"
        time.sleep(0.05)
    for n in range(10):  # and from then on, every time, both ways
        used = client.proof()
        first, other = (one, two) if n % 2 == 0 else (two, one)
        accepted(client, client.send(first, used), first)
        refused_as_replay(client.send(other, used))
    no_token_logged(shared_workers, [client])


def test_the_first_proof_after_redis_restarts_is_claimed_in_redis(
        shared_workers: list[UvicornWorker], redis_server: RedisServer) -> None:
    one, two = shared_workers
    client = Client("frank")
    for worker in shared_workers:  # each worker's command client has a pooled connection
        accepted(client, client.send(worker, client.proof()), worker)
    restart_redis(shared_workers, redis_server)
    used = client.proof()
    accepted(client, client.send(two, used), two)
    refused_as_replay(client.send(one, used))
