"""Server-provided DPoP nonces (RFC 9449 section 9) with no state shared between workers.

A nonce names a time window and carries an HMAC of it under a secret every worker holds, so
any worker checks a nonce another one handed out. It is accepted during its own window and
the next one: a nonce lives between ``lifetime`` and twice that, which bounds how long a
proof made in advance (by a client whose key was stolen for a moment, say) stays usable.
"""

from __future__ import annotations

import base64
import hmac
import math
import time
from collections.abc import Callable

__all__ = ["DEFAULT_NONCE_LIFETIME", "DPoPNonces"]

#: Seconds of one nonce window.
DEFAULT_NONCE_LIFETIME = 300.0
_LABEL = b"mcpauth-fast dpop nonce\0"
_WINDOW_BYTES = 8
_MAC_BYTES = 16
_NONCE_LENGTH = 32  # base64url of 24 bytes, no padding


class DPoPNonces:
    """Makes and checks the nonces of one deployment.

    :param secret: at least 32 bytes, the same on every worker that must accept the others'
        nonces.
    :param lifetime: seconds of one window.
    :param clock: seconds since the epoch.
    """

    __slots__ = ("_clock", "_current", "_key", "lifetime")

    def __init__(self, secret: bytes, lifetime: float = DEFAULT_NONCE_LIFETIME,
                 clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 32:
            raise ValueError("the nonce secret must be at least 32 bytes")
        if not (math.isfinite(lifetime) and lifetime >= 1):
            raise ValueError("the nonce lifetime must be at least one second")
        self._key = hmac.digest(secret, _LABEL, "sha256")
        self.lifetime = float(lifetime)
        self._clock = clock
        self._current: tuple[int, str] = (-1, "")

    def _window(self) -> int:
        return int(self._clock() // self.lifetime)

    def _nonce(self, window: int) -> str:
        raw = window.to_bytes(_WINDOW_BYTES, "big")
        mac = hmac.digest(self._key, raw, "sha256")[:_MAC_BYTES]
        return base64.urlsafe_b64encode(raw + mac).decode("ascii")

    def current(self) -> str:
        """The nonce to hand out now."""
        window = self._window()
        made, nonce = self._current
        if made != window:
            nonce = self._nonce(window)
            self._current = (window, nonce)
        return nonce

    def accepts(self, nonce: object) -> bool:
        """Whether ``nonce`` is this window's or the previous one's."""
        if type(nonce) is not str or len(nonce) != _NONCE_LENGTH:
            return False
        if nonce == self.current():
            return True
        try:
            raw = base64.urlsafe_b64decode(nonce)
        except ValueError:
            return False
        window = int.from_bytes(raw[:_WINDOW_BYTES], "big")
        return window == self._window() - 1 and hmac.compare_digest(nonce, self._nonce(window))
