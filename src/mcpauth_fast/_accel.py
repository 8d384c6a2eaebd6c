"""The one place that picks the compiled hot path or its pure-Python twin.

Order: ``MCPAUTH_FAST_NO_EXTENSIONS`` set to a non-empty value forces the twin; so does
an interpreter other than CPython; otherwise the compiled module, falling back to the
twin when it was not built. Everything else imports the hot path from here.
"""

from __future__ import annotations

import os
import platform
from types import ModuleType

NO_EXTENSIONS = bool(os.environ.get("MCPAUTH_FAST_NO_EXTENSIONS")) or (
    platform.python_implementation() != "CPython"
)



def _load() -> tuple[ModuleType, str]:
    if not NO_EXTENSIONS:
        try:
            from . import _speedups

            return _speedups, "c"
        except ImportError:
            pass
    from . import _speedups_py

    return _speedups_py, "py"


_impl, IMPLEMENTATION = _load()

DEFAULT_MAX_TOKEN_BYTES: int = _impl.DEFAULT_MAX_TOKEN_BYTES
MAX_HEADER_SEGMENT: int = _impl.MAX_HEADER_SEGMENT
MAX_SIGNATURE_SEGMENT: int = _impl.MAX_SIGNATURE_SEGMENT
MAX_KID_LENGTH: int = _impl.MAX_KID_LENGTH
HEADER_MEMO_SIZE: int = _impl.HEADER_MEMO_SIZE
find_authorization = _impl.find_authorization
parse_bearer = _impl.parse_bearer
bearer_token = _impl.bearer_token
b64url_decode = _impl.b64url_decode
decode_jws = _impl.decode_jws
ecdsa_der = _impl.ecdsa_der
check_header = _impl.check_header
check_time_claims = _impl.check_time_claims
TokenChecks = _impl.TokenChecks
extract_scopes = _impl.extract_scopes
auth_info_from_claims = _impl.auth_info_from_claims
check_policy = _impl.check_policy
TokenCache = _impl.TokenCache
VerifySteps = _impl.VerifySteps
BearerLookup = _impl.BearerLookup

__all__ = [
    "IMPLEMENTATION",
    "DEFAULT_MAX_TOKEN_BYTES",
    "MAX_HEADER_SEGMENT",
    "MAX_SIGNATURE_SEGMENT",
    "MAX_KID_LENGTH",
    "HEADER_MEMO_SIZE",
    "find_authorization",
    "parse_bearer",
    "bearer_token",
    "b64url_decode",
    "decode_jws",
    "ecdsa_der",
    "check_header",
    "check_time_claims",
    "TokenChecks",
    "extract_scopes",
    "auth_info_from_claims",
    "check_policy",
    "TokenCache",
    "VerifySteps",
    "BearerLookup",
]
