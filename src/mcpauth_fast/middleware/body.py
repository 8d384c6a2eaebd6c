"""A request body read before the app runs, then handed to the app message for message.

The middleware reads a body only when it must decide on it (an MCP operation with a rule of its
own, a form body that may carry a second token); the app then reads the very same messages.
"""

from __future__ import annotations

from collections import deque

from starlette.types import Message, Receive


class BodyTooLarge(Exception):
    """The body is longer than the ``limit`` its reader was given."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


async def read_body(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The request's messages up to the end of the body, and the body; the body is None when
    the client went away first (the messages end with its ``http.disconnect``).

    :raises BodyTooLarge: once the body is longer than ``limit`` bytes.
    """
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out ``messages`` first, then reads on from ``receive``."""
    pending = deque(messages)

    async def replayed() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replayed
