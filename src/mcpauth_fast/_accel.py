"""The one place that picks the compiled hot path or its pure-Python twin.

Order: ``MCPAUTH_FAST_NO_EXTENSIONS`` set to a non-empty value forces the twin; so does
an interpreter other than CPython; otherwise the compiled module, falling back to the
twin when it was not built. Everything else imports the hot path from here.

As in yarl's ``_quoting.py``, type checkers read the twin's imports (the compiled branch is
unreachable to them): they see its real types, and there is no stub to keep in step.
"""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING

NO_EXTENSIONS = bool(os.environ.get("MCPAUTH_FAST_NO_EXTENSIONS")) or (
    platform.python_implementation() != "CPython"
)

from ._speedups_py import (  # noqa: E402  (after NO_EXTENSIONS, as the docstring says)
    DEFAULT_MAX_TOKEN_BYTES,
    HEADER_MEMO_SIZE,
    MAX_HEADER_SEGMENT,
    MAX_KID_LENGTH,
    MAX_SIGNATURE_SEGMENT,
    BearerLookup,
    TokenCache,
    TokenChecks,
    Unverified,
    VerifySteps,
    auth_info_from_claims,
    b64url_decode,
    bearer_token,
    check_header,
    check_policy,
    check_time_claims,
    decode_jws,
    ecdsa_der,
    extract_scopes,
    find_authorization,
    parse_bearer,
)

IMPLEMENTATION = "py"
if not TYPE_CHECKING and not NO_EXTENSIONS:
    try:
        from ._speedups import (  # the limits and Unverified are the twin's own
            BearerLookup,
            TokenCache,
            TokenChecks,
            VerifySteps,
            auth_info_from_claims,
            b64url_decode,
            bearer_token,
            check_header,
            check_policy,
            check_time_claims,
            decode_jws,
            ecdsa_der,
            extract_scopes,
            find_authorization,
            parse_bearer,
        )

        IMPLEMENTATION = "c"
    except ImportError:
        pass

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
