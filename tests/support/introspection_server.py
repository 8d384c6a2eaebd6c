"""A real RFC 7662 introspection endpoint on 127.0.0.1 that misbehaves on demand.

It records every request (headers and form fields), counts the calls per token and the most
calls in flight at once, and answers ``answers[token]`` (a JSON object; unknown tokens are
inactive) unless ``mode`` says otherwise: "ok", "500", "garbage" (not JSON), "not_object"
(a JSON array), "hang" (sleeps ``hang_seconds`` first). ``delay`` holds every answer that long.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import pytest

from support import tokens
from support.local_server import LocalServer, Reply

_JSON = "application/json"


@dataclass
class Seen:
    """One request the endpoint received."""

    headers: dict[str, str]
    form: dict[str, str]


class IntrospectionServer(LocalServer):
    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.mode = "ok"
        self.delay = 0.0
        self.hang_seconds = 3.0
        self.seen: list[Seen] = []
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        super().__init__(keep_alive=True)
        self.url = f"{self.base}/introspect"

    def respond_post(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        raw = body.decode()
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        status, answer = self._answer(headers, form)
        return status, {"content-type": _JSON}, answer

    def _answer(self, headers: dict[str, str], form: dict[str, str]) -> tuple[int, bytes]:
        with self._lock:
            self.seen.append(Seen(headers, form))
            self.calls[form.get("token", "")] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            mode = self.mode
            if mode == "hang":
                time.sleep(self.hang_seconds)
            if mode == "500":
                return 500, b'{"error":"server_error"}'
            if mode == "garbage":
                return 200, b"<html>not json"
            if mode == "not_object":
                return 200, b"[true]"
            answer = self.answers.get(form.get("token", ""), {"active": False})
            return 200, json.dumps(answer).encode()
        finally:
            with self._lock:
                self.in_flight -= 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def opaque_token(label: str = "t") -> str:
    """A new random opaque token, registered so that no log may contain it."""
    import secrets

    token = f"opq-{label}-{secrets.token_urlsafe(24)}"
    tokens.MINTED.append(token)
    return token


@pytest.fixture(name="introspection_server")
def introspection_server_fixture() -> Iterator[IntrospectionServer]:
    server = IntrospectionServer()
    try:
        yield server
    finally:
        server.close()
