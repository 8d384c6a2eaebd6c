"""DPoP (RFC 9449): sender-constrained access tokens.

So far only the verification of one proof; the middleware does not use it yet.
"""

from __future__ import annotations

from .proof import (
    DEFAULT_DPOP_ALGORITHMS,
    DEFAULT_IAT_WINDOW,
    DPoPProofError,
    DPoPProofVerifier,
    jwk_thumbprint,
)
from .replay import ReplayCache, ReplayGuard

__all__ = [
    "DEFAULT_DPOP_ALGORITHMS",
    "DEFAULT_IAT_WINDOW",
    "DPoPProofError",
    "DPoPProofVerifier",
    "ReplayCache",
    "ReplayGuard",
    "jwk_thumbprint",
]
