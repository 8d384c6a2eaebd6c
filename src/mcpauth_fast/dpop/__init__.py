"""DPoP (RFC 9449): sender-constrained access tokens.

``bearer_auth_middleware(..., dpop=True | {...})`` checks them (:mod:`.resource`); the
proof verifier, the replay memory and the nonces are usable on their own.
"""

from __future__ import annotations

from ..exceptions import DPoPBindingError, DPoPNonceError, DPoPProofError
from .nonce import DPoPNonces
from .proof import (
    DEFAULT_DPOP_ALGORITHMS,
    DEFAULT_IAT_WINDOW,
    DPoPProofVerifier,
    VerifiedProof,
    jwk_thumbprint,
)
from .replay import ReplayCache, ReplayGuard
from .resource import DPoPOptions, DPoPResource, bound_key

__all__ = [
    "DEFAULT_DPOP_ALGORITHMS",
    "DEFAULT_IAT_WINDOW",
    "DPoPBindingError",
    "DPoPNonceError",
    "DPoPNonces",
    "DPoPOptions",
    "DPoPProofError",
    "DPoPProofVerifier",
    "DPoPResource",
    "ReplayCache",
    "ReplayGuard",
    "VerifiedProof",
    "bound_key",
    "jwk_thumbprint",
]
