"""Locust users a deployer of an mcpauth-fast protected server would run against it.

- ``OneTokenPerUser``: each simulated client holds one token for its whole session (the
  cache's best case: after the first request every one is a hit);
- ``NewTokenPerRequest``: every request carries a token the server has not seen lately
  (clients that mint a short-lived token per call; every request is a full verification);
- ``Hostile``: a mix where a share of the traffic is expired, forged (right ``kid``, wrong
  key), unknown-``kid``, ``alg: none``, wrong-audience, missing-scope, garbage or oversized
  tokens. Good tokens must get 200, a missing scope 403 and everything else 401; any other
  answer is a *wrong decision* and is reported as a locust failure.

Every request is ``GET /whoami`` (``bench/e2e_apps.py``), named after its kind of token so the
statistics are per kind. Tokens come from a JSON file (``{"good": [...], "expired": [...],
...}``) named by ``E2E_LOCUST_TOKENS``; ``python bench/e2e.py --serve fast`` starts a dev issuer
and the fast app on 127.0.0.1, writes that file and prints the command. Headless and bounded::

    E2E_LOCUST_TOKENS=/tmp/mcpauth-e2e-locust-tokens.json locust -f bench/locustfile.py \\
        --headless -u 50 -r 50 -t 20s --host http://127.0.0.1:PORT

(``bench/e2e.py --locust-time 10`` runs exactly this against a fresh fast app, pinned to the
load generator's core, and records the per-kind counts.) Name one class after the options to
run only it, e.g. ``... --host ... Hostile``.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from typing import Any

from locust import FastHttpUser, constant, events, task

TOKENS_ENV = "E2E_LOCUST_TOKENS"
#: Where to write the requests sent per kind when locust quits (optional).
COUNTS_ENV = "E2E_LOCUST_COUNTS"
#: The answer each kind of token must get; anything else is a wrong decision.
EXPECTED = {
    "good": 200,
    "expired": 401,
    "forged": 401,
    "unknown_kid": 401,
    "alg_none": 401,
    "wrong_audience": 401,
    "missing_scope": 403,
    "garbage": 401,
    "oversized": 401,
}
#: The share of each kind in the hostile mix (half the traffic stays good).
HOSTILE_MIX = {"good": 50, "expired": 10, "forged": 10, "unknown_kid": 3, "alg_none": 5,
               "wrong_audience": 5, "missing_scope": 5, "garbage": 10, "oversized": 2}


def _load() -> dict[str, list[str]]:
    path = os.environ.get(TOKENS_ENV)
    if not path:
        raise SystemExit(f"set {TOKENS_ENV} to a token file: python bench/e2e.py --serve fast "
                         "writes one and prints the locust command")
    with open(path) as f:
        tokens: dict[str, list[str]] = json.load(f)
    missing = sorted(set(EXPECTED) - set(tokens))
    if missing or not tokens["good"]:
        raise SystemExit(f"{path}: no tokens of kind {', '.join(missing) or 'good'}")
    return tokens


TOKENS = _load()
_next_good = itertools.cycle(TOKENS["good"]).__next__
_kinds, _weights = zip(*HOSTILE_MIX.items(), strict=True)


class _Whoami(FastHttpUser):
    abstract = True
    wait_time = constant(0)

    def whoami(self, kind: str, token: str) -> None:
        expected = EXPECTED[kind]
        with self.client.get("/whoami", headers={"Authorization": f"Bearer {token}"},
                             name=kind, catch_response=True) as response:
            if response.status_code != expected:
                response.failure(f"wrong decision: {kind} token got {response.status_code}, "
                                 f"expected {expected}")
            else:
                response.success()  # a refusal that was expected is a right decision


class OneTokenPerUser(_Whoami):
    """One client, one token for the whole session."""

    weight = 2

    def on_start(self) -> None:
        self.token = _next_good()

    @task
    def call(self) -> None:
        self.whoami("good", self.token)


class NewTokenPerRequest(_Whoami):
    """A token the server has not seen lately on every request."""

    weight = 1

    @task
    def call(self) -> None:
        self.whoami("good", _next_good())


class Hostile(_Whoami):
    """Half good tokens, half expired, forged, malformed or oversized ones."""

    weight = 1

    @task
    def call(self) -> None:
        kind = random.choices(_kinds, _weights)[0]
        token = _next_good() if kind == "good" else random.choice(TOKENS[kind])
        self.whoami(kind, token)


@events.quitting.add_listener  # type: ignore[untyped-decorator,unused-ignore]
def _exit_code(environment: Any, **kwargs: Any) -> None:
    # Wrong decisions fail the run (locust's default already does; say why).
    if environment.stats.total.num_failures:
        environment.process_exit_code = 1
    # Every request sent, per kind, once all users stopped (the CSV files are written
    # earlier, and miss the last moments of the run): bench/hostile.py checks the server's
    # counters against these.
    counts = os.environ.get(COUNTS_ENV)
    if counts:
        with open(counts, "w") as f:
            json.dump({name: entry.num_requests
                       for (name, _), entry in environment.stats.entries.items()}, f)
