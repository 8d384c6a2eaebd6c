"""What the middleware decided: requests let in, and refusals by status and reason class.

The counters are plain integers, counted where the decision is made and read at scrape time
(``MCPAuth.metrics``). A refusal's reason class comes from the error alone, after the answer
is built (the refusal path, never the path of a request let in), and is one of ``REASONS``:
a bounded set that never names a token, a subject or a client.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from .challenge import malformed_bearer
from .exceptions import (
    BearerAuthExceptionCode,
    DPoPBindingError,
    DPoPNonceError,
    DPoPProofError,
    MCPAuthBearerAuthException,
    MCPAuthException,
    MCPAuthKeysUnavailableException,
    MCPAuthRequestException,
    MCPAuthTokenVerificationException,
    MCPAuthTokenVerificationExceptionCode,
)

__all__ = ["REASONS", "Decisions", "reason_of"]

#: Every reason class, in the order a report lists them.
REASONS = (
    "missing", "malformed", "expired", "not_yet_valid", "bad_signature", "unknown_key",
    "wrong_issuer", "wrong_audience", "insufficient_scope", "revoked", "inactive",
    "unavailable", "invalid_origin", "invalid_request", "verifier_error",
    "invalid_dpop_proof", "use_dpop_nonce", "dpop_binding",
)

_BEARER: dict[str, str] = {
    BearerAuthExceptionCode.MISSING_AUTH_HEADER: "missing",
    BearerAuthExceptionCode.MISSING_BEARER_TOKEN: "missing",
    BearerAuthExceptionCode.INVALID_AUTH_HEADER_FORMAT: "malformed",
    BearerAuthExceptionCode.INVALID_TOKEN: "malformed",
    BearerAuthExceptionCode.INVALID_ISSUER: "wrong_issuer",
    BearerAuthExceptionCode.INVALID_AUDIENCE: "wrong_audience",
    BearerAuthExceptionCode.MISSING_REQUIRED_SCOPES: "insufficient_scope",
    BearerAuthExceptionCode.INVALID_REQUEST: "invalid_request",
}

# The causes the verifiers give (verifier.py, keysets.py, keys.py, introspection/response.py,
# shared/): the first fragment found names the class; any other invalid token is malformed.
_CAUSES = (
    ("has expired", "expired"),
    ("not yet valid", "not_yet_valid"),
    ("not valid yet", "not_yet_valid"),
    ("issued in the future", "not_yet_valid"),
    ("signature verification failed", "bad_signature"),
    ("does not match the key", "bad_signature"),
    ("the key cannot verify", "bad_signature"),
    ("no key with the token's kid", "unknown_key"),
    ("no single key matches", "unknown_key"),
    ("is revoked", "revoked"),
    ("not active", "inactive"),
    ("issuer is not trusted", "wrong_issuer"),
)


def reason_of(error: MCPAuthException, authorization: bytes | None = None) -> str:
    """The reason class of a refusal (one of ``REASONS``); ``authorization``, the raw header,
    tells a malformed ``Bearer`` credential from another scheme (no bearer credentials)."""
    if isinstance(error, MCPAuthKeysUnavailableException):
        return "unavailable"
    if isinstance(error, DPoPProofError):
        return "use_dpop_nonce" if isinstance(error, DPoPNonceError) else "invalid_dpop_proof"
    if isinstance(error, DPoPBindingError):
        return "dpop_binding"
    if isinstance(error, MCPAuthBearerAuthException):
        if (error.code == BearerAuthExceptionCode.INVALID_AUTH_HEADER_FORMAT
                and not malformed_bearer(error, authorization)):
            return "missing"
        return _BEARER.get(error.error_code, "malformed")
    if isinstance(error, MCPAuthTokenVerificationException):
        if error.code == MCPAuthTokenVerificationExceptionCode.TOKEN_VERIFICATION_FAILED:
            return "verifier_error"
        cause = str(error.cause)
        for fragment, reason in _CAUSES:
            if fragment in cause:
                return reason
        return "malformed"
    if isinstance(error, MCPAuthRequestException):
        return "invalid_origin" if error.error_code == "invalid_origin" else "invalid_request"
    return "verifier_error"  # a broken custom verifier or server configuration: 500


class Decisions:
    """The counters of one ``MCPAuth``, shared by its middlewares.

    ``accepted`` is counted as a request is passed on to the app; ``refused`` by ``(status,
    reason)``; ``verifications`` and ``verification_seconds`` over every verification that
    missed the cache (the time a new token costs, sum and count).
    """

    __slots__ = ("accepted", "refused", "span", "verification_seconds", "verifications")

    def __init__(self) -> None:
        #: ``(outcome, reason, status)`` for each decision, or None (``metrics.otel``).
        self.span: Callable[..., None] | None = None
        self.accepted = 0
        self.refused: Counter[tuple[int, str]] = Counter()
        self.verifications = 0
        self.verification_seconds = 0.0

    def refuse(self, status: int, error: MCPAuthException,
               authorization: bytes | None = None) -> str:
        """Count one refusal (``reason_of``); return its reason class."""
        reason = reason_of(error, authorization)
        self.refused[status, reason] += 1
        if self.span is not None:
            self.span("refused", reason, status)
        return reason

    def verified(self, started: float) -> None:
        """Count one verification that began at ``time.perf_counter()`` ``started``."""
        self.verifications += 1
        self.verification_seconds += time.perf_counter() - started
