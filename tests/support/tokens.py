"""Real keys of every algorithm, their public JWKs, and a minter for well-formed and odd tokens.

The JWKs and signatures come from :mod:`mcpauth_fast.dev.signing`, the project's one JWS signer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from mcpauth_fast.dev import signing
from mcpauth_fast.dev.signing import b64url, b64url_json

__all__ = [
    "ALL_ALGORITHMS", "ASYMMETRIC_ALGORITHMS", "AUDIENCE", "HMAC_ALGORITHMS", "ISSUER",
    "SigningKey", "b64url", "b64url_json", "claims", "signing_key",
]

ASYMMETRIC_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
ALL_ALGORITHMS = ASYMMETRIC_ALGORITHMS + HMAC_ALGORITHMS

_CURVES: dict[str, ec.EllipticCurve] = {
    "ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()
}


@dataclass(frozen=True)
class SigningKey:
    """A private key (or HMAC secret) and what a JWKS would publish for it."""

    alg: str
    kid: str
    private: Any

    @property
    def public(self) -> Any:
        return self.private.public_key()

    def jwk(self, **extra: Any) -> dict[str, Any]:
        """The public JWK (for HMAC keys, the oct JWK with the secret)."""
        return {**signing.export_jwk(self.private), "kid": self.kid, **extra}

    def sign(self, signing_input: bytes, alg: str | None = None) -> bytes:
        return signing.sign(self.private, alg or self.alg, signing_input)

    def mint(self, claims: dict[str, Any], header: dict[str, Any] | None = None,
             **header_extra: Any) -> str:
        """A compact JWS of ``claims``; ``header`` replaces the default header entirely."""
        if header is None:
            header = {"alg": self.alg, "typ": "at+jwt", "kid": self.kid}
            header.update(header_extra)
        # Always signed with the key's own algorithm, whatever the header claims.
        token = signing.encode_jws(header, claims, self.private, self.alg)
        MINTED.append(token)
        return token


#: Every token minted in this session, and the key material of every key: no log line may
#: contain any of them (tests/conftest.py checks every test's log records).
MINTED: list[str] = []
KEY_MATERIAL: list[str] = []


def signing_key(alg: str, kid: str | None = None, variant: int = 0) -> SigningKey:
    """One real key per (alg, kid, variant), generated once per test session."""
    key = _signing_key(alg, kid or f"{alg.lower()}-{variant}", variant)
    if not KEY_MATERIAL or key.kid not in _REGISTERED:
        _REGISTERED.add(key.kid)
        jwk = key.jwk()
        KEY_MATERIAL.extend(str(jwk[m]) for m in ("n", "x", "y", "k") if m in jwk)
    return key


_REGISTERED: set[str] = set()


@cache
def _signing_key(alg: str, kid: str, variant: int) -> SigningKey:
    private: Any
    if alg.startswith(("RS", "PS")):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg.startswith("ES"):
        private = ec.generate_private_key(_CURVES[alg])
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif alg == "Ed448":
        return SigningKey("EdDSA", kid, ed448.Ed448PrivateKey.generate())
    elif alg.startswith("HS"):
        private = hashlib.sha512(f"secret-{alg}-{variant}".encode()).digest()[
            : {"HS256": 32, "HS384": 48, "HS512": 64}[alg]]
    else:
        raise ValueError(alg)
    return SigningKey(alg, kid, private)


ISSUER = "https://issuer.example.com"
AUDIENCE = "https://mcp.example.com/mcp"


def claims(now: float, **overrides: Any) -> dict[str, Any]:
    """A valid claim set at time ``now``; ``None`` in overrides removes a claim."""
    base: dict[str, Any] = {
        "iss": ISSUER, "sub": "alice", "aud": AUDIENCE, "iat": int(now), "nbf": int(now),
        "exp": int(now) + 3600, "scope": "read write", "client_id": "client-1", "jti": "j-1",
    }
    for name, value in overrides.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base
