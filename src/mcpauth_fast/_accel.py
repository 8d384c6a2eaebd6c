"""The one place that picks the compiled hot path or its pure-Python twin.

Order: ``MCPAUTH_FAST_NO_EXTENSIONS`` set to a non-empty value forces the twin; so does
an interpreter other than CPython; otherwise the compiled module, falling back to the
twin when it was not built. Everything else imports the hot path from here.

As in yarl's ``_quoting.py``, type checkers take the twin's branch (the compiled one is
unreachable to them): they see its real types, and there is no stub to keep in step.
"""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING

NO_EXTENSIONS = bool(os.environ.get("MCPAUTH_FAST_NO_EXTENSIONS")) or (
    platform.python_implementation() != "CPython"
)

if TYPE_CHECKING or NO_EXTENSIONS:
    from . import _speedups_py as _impl

    IMPLEMENTATION = "py"
else:
    try:
        from . import _speedups as _impl

        IMPLEMENTATION = "c"
    except ImportError:
        from . import _speedups_py as _impl

        IMPLEMENTATION = "py"

# The limits and the record are the twin's in both cases (the compiled module uses them).
from ._speedups_py import (  # noqa: E402
    DEFAULT_MAX_TOKEN_BYTES,
    HEADER_MEMO_SIZE,
    MAX_HEADER_SEGMENT,
    MAX_KID_LENGTH,
    MAX_SIGNATURE_SEGMENT,
    Unverified,
)

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
    "Unverified",
    "extract_scopes",
    "auth_info_from_claims",
    "check_policy",
    "TokenCache",
    "VerifySteps",
    "BearerLookup",
]
