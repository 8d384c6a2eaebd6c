"""A bounded, process-local memory of the DPoP proof ``jti`` values already accepted."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

__all__ = ["DEFAULT_MAX_JTIS", "ReplayCache", "ReplayGuard"]

#: jti values a ReplayCache holds; it should exceed the proofs one process accepts in the
#: lifetime of a proof (twice the iat window), or the oldest ones can be replayed.
DEFAULT_MAX_JTIS = 65536


class ReplayGuard(Protocol):
    """What the proof verifier asks: has this ``jti`` been seen, recording it if not."""

    def seen(self, jti: str, until: float, now: float | None = None) -> bool: ...


class ReplayCache:
    """The ``jti`` values of accepted proofs, each until the time its proof expires.

    ``seen(jti, until)`` records ``jti`` and returns False the first time, True afterwards
    while ``until`` has not passed. At most ``maxsize`` values are kept: past that, the
    oldest are forgotten, because refusing every new proof instead would let one client lock
    out all the others. Not shared between processes.
    """

    __slots__ = ("_entries", "_maxsize")

    def __init__(self, maxsize: int = DEFAULT_MAX_JTIS) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._maxsize = maxsize
        self._entries: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def seen(self, jti: str, until: float, now: float | None = None) -> bool:
        if now is None:
            now = time.time()
        entries = self._entries
        # Entries are in insertion order, which is nearly expiry order: dropping the expired
        # ones at the front keeps the purge O(1) per call on average.
        while entries:
            first = next(iter(entries.values()))
            if first >= now:
                break
            entries.popitem(last=False)
        previous = entries.get(jti)
        if previous is not None and previous >= now:
            return True
        entries[jti] = until
        entries.move_to_end(jti)
        while len(entries) > self._maxsize:
            entries.popitem(last=False)
        return False
