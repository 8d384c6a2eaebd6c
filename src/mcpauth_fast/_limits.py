"""The hot path's limits, each defined once: the twin and the compiled module import them here.

Every one is tested at ``(limit, limit + 1)`` on both implementations (tests/test_limits.py).
"""

from __future__ import annotations

#: Tokens longer than this (in bytes, after ``Bearer``) are refused before anything is decoded.
DEFAULT_MAX_TOKEN_BYTES = 8192
#: A JOSE header of an access token is a few dozen bytes; anything near this is an attack.
MAX_HEADER_SEGMENT = 2048
#: base64url length of a 1024-byte signature (RSA-8192), the largest we accept.
MAX_SIGNATURE_SEGMENT = 1366
#: The longest ``kid`` header accepted.
MAX_KID_LENGTH = 512
#: Distinct JOSE headers a TokenChecks remembers as checked. An issuer signs with a handful
#: of keys, so its tokens carry a handful of distinct headers; the bound is for attackers.
HEADER_MEMO_SIZE = 16
#: Scope strings remembered with their parsed scopes (a client's tokens repeat the same
#: string), and the longest string remembered; when full, the memory starts over.
SCOPE_MEMO_SIZE = 1024
SCOPE_MEMO_MAX_CHARS = 256
#: Nested JSON containers a token's header or payload may hold. This is orjson's own limit
#: (not configurable): it is stated here so that the tests hold orjson to it.
MAX_JSON_DEPTH = 1024
#: The largest ``application/x-www-form-urlencoded`` body read to find an ``access_token``
#: sent next to the Authorization header (RFC 6750 section 2); a larger one gets 413.
MAX_FORM_BODY_BYTES = 1 << 20

__all__ = [
    "DEFAULT_MAX_TOKEN_BYTES",
    "HEADER_MEMO_SIZE",
    "MAX_HEADER_SEGMENT",
    "MAX_FORM_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_KID_LENGTH",
    "MAX_SIGNATURE_SEGMENT",
    "SCOPE_MEMO_MAX_CHARS",
    "SCOPE_MEMO_SIZE",
]
