"""One request straight into an ASGI app, with exactly the raw headers and body chunks given.

HTTP clients normalise what they send (they strip a trailing space, refuse a tab, merge
repeated headers); the header shapes of RFC 6750 section 3.1 need the bytes as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    #: The websocket close code, when the app closed a websocket instead of answering.
    close_code: int | None = None
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def json(self) -> Any:
        return orjson.loads(self.body)


async def request(
    app: Any,
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    method: str = "GET",
    path: str = "/whoami",
    query_string: bytes = b"",
    chunks: Sequence[bytes] = (),
    scheme: str = "http",
    kind: str = "http",
    server: tuple[str, int] | None = ("testserver", 80),
) -> Answer:
    """Send one request (``chunks``: the body, as separate ``http.request`` messages)."""
    scope: dict[str, Any] = {
        "type": kind, "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": scheme, "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query_string, "headers": [(n, v) for n, v in headers],
        "client": ("127.0.0.1", 50000), "server": server,
    }
    if kind == "websocket":
        scope.pop("method")
        incoming: list[dict[str, Any]] = [{"type": "websocket.connect"}]
    else:
        parts = list(chunks) or [b""]
        incoming = [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
                    for i, part in enumerate(parts)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        return {"type": "http.disconnect" if kind == "http" else "websocket.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    for message in sent:
        if message["type"] == "websocket.close":
            return Answer(403, {}, b"", close_code=message.get("code", 1000))
        if message["type"] == "websocket.accept":
            return Answer(101, {}, b"")
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    raw = [(bytes(n), bytes(v)) for n, v in start.get("headers", [])]
    return Answer(start["status"], {n.decode("latin-1"): v.decode("latin-1") for n, v in raw},
                  body, raw_headers=raw)
