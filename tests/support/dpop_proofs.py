"""DPoP proofs (RFC 9449 section 4.2) made by an independent library, joserfc, signed as
tests/test_dpop_proof.py's ``make_proof`` signs them: with joserfc's algorithm objects over
a signing input built here, so a test controls every member."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

from joserfc import jwk
from joserfc.jws import JWSRegistry

from support.tokens import MINTED

__all__ = ["PUBLIC_URL", "WHOAMI", "ath_of", "b64url", "new_key", "proof"]

#: The public origin of the resource of support/dpop_app.py (``dpop={"public_url": ...}``),
#: which proofs' ``htu`` names, whatever 127.0.0.1 port a worker listens on.
PUBLIC_URL = "https://mcp.example.com"
WHOAMI = f"{PUBLIC_URL}/whoami"

_ALGS = {"EC": "ES256", "OKP": "EdDSA"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def ath_of(token: str) -> str:
    """The ``ath`` of a proof sent with ``token``: base64url(sha256(token))."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def new_key() -> jwk.ECKey:
    """A fresh P-256 key of a client; ``key.thumbprint()`` is its RFC 7638 thumbprint."""
    key: jwk.ECKey = jwk.ECKey.generate_key("P-256")
    return key


def _segment(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def proof(key: Any, token: str | None, htu: str, htm: str = "GET", *,
          header: dict[str, Any] | None = None, **claims: Any) -> str:
    """A compact proof for ``htm htu`` with ``token`` (None: no ``ath``), a fresh random
    ``jti``, ``iat`` now; ``header`` and ``claims`` override, a claim of None is left out."""
    alg = _ALGS[key.key_type]
    full_header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False),
                   **(header or {})}
    body: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu,
                            "iat": int(time.time())}
    if token is not None:
        body["ath"] = ath_of(token)
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    signing_input = f"{_segment(full_header)}.{_segment(body)}"
    signature = JWSRegistry.algorithms[alg].sign(signing_input.encode(), key)
    made = f"{signing_input}.{b64url(signature)}"
    MINTED.append(made)  # no log line may quote it (tests/conftest.py)
    return made
