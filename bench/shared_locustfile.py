"""Locust users for ``bench/shared_bars.py``'s bar K: the same token mix against each of two
workers that share one Redis.

The token file (JSON, named by ``SHARED_BARS_TOKENS``) maps each kind of token to its
expected status, its weight in the mix and its tokens: ``{"kinds": {"good_jwt": {"expected":
200, "weight": 30, "tokens": [...]}, ...}, "hosts": ["http://127.0.0.1:P1", ...]}``. Every
request is ``GET /whoami``, named ``w<N> <kind>``; a status other than the kind's expected one
is a *wrong decision*, reported as a locust failure ("got <status>, expected <n>"; status 0:
no response). ``WorkerOne`` and ``WorkerTwo`` send to the first and the second host.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from typing import Any

from locust import FastHttpUser, constant, events, task

with open(os.environ["SHARED_BARS_TOKENS"]) as f:
    _FILE: dict[str, Any] = json.load(f)
KINDS: dict[str, dict[str, Any]] = _FILE["kinds"]
HOSTS: list[str] = _FILE["hosts"]
# Each kind cycles through its tokens in order, so a pool bigger than a worker's cache keeps
# missing it (and asking Redis).
_next = {kind: itertools.cycle(spec["tokens"]).__next__ for kind, spec in KINDS.items()}
_names, _weights = zip(*((kind, spec["weight"]) for kind, spec in KINDS.items()), strict=True)


class _Whoami(FastHttpUser):
    abstract = True
    wait_time = constant(0)
    worker = ""

    @task
    def call(self) -> None:
        kind = random.choices(_names, _weights)[0]
        expected = KINDS[kind]["expected"]
        with self.client.get("/whoami", headers={"Authorization": f"Bearer {_next[kind]()}"},
                             name=f"{self.worker} {kind}", catch_response=True) as response:
            if response.status_code != expected:
                # The challenge says why (the app shows error details): one row per cause.
                why = (response.text or "")[:300]
                response.failure(f"wrong decision: {kind} token got {response.status_code}, "
                                 f"expected {expected}; {why}")
            else:
                response.success()  # a refusal that was expected is a right decision


class WorkerOne(_Whoami):
    host = HOSTS[0]
    worker = "w1"


class WorkerTwo(_Whoami):
    host = HOSTS[1]
    worker = "w2"


@events.quitting.add_listener  # type: ignore[untyped-decorator,unused-ignore]
def _exit_code(environment: Any, **kwargs: Any) -> None:
    if environment.stats.total.num_failures:
        environment.process_exit_code = 1
