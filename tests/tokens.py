"""Real keys of every algorithm, their public JWKs, and a minter for well-formed and odd tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ASYMMETRIC_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
ALL_ALGORITHMS = ASYMMETRIC_ALGORITHMS + HMAC_ALGORITHMS

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
_CURVES = {"ES256": (ec.SECP256R1, "P-256", 32), "ES384": (ec.SECP384R1, "P-384", 48),
           "ES512": (ec.SECP521R1, "P-521", 66)}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def _int_bytes(value: int, length: int | None = None) -> bytes:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


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
        jwk: dict[str, Any]
        if self.alg.startswith("HS"):
            jwk = {"kty": "oct", "k": b64url(self.private)}
        elif self.alg.startswith(("RS", "PS")):
            numbers = self.public.public_numbers()
            jwk = {"kty": "RSA", "n": b64url(_int_bytes(numbers.n)),
                   "e": b64url(_int_bytes(numbers.e))}
        elif self.alg.startswith("ES"):
            _, crv, size = _CURVES[self.alg]
            numbers = self.public.public_numbers()
            jwk = {"kty": "EC", "crv": crv, "x": b64url(_int_bytes(numbers.x, size)),
                   "y": b64url(_int_bytes(numbers.y, size))}
        else:
            from cryptography.hazmat.primitives import serialization

            raw = self.public.public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
            crv = "Ed25519" if isinstance(self.private, ed25519.Ed25519PrivateKey) else "Ed448"
            jwk = {"kty": "OKP", "crv": crv, "x": b64url(raw)}
        jwk["kid"] = self.kid
        jwk.update(extra)
        return jwk

    def sign(self, signing_input: bytes, alg: str | None = None) -> bytes:
        alg = alg or self.alg
        if alg.startswith("HS"):
            return hmac.new(self.private, signing_input, _HMAC_HASHES[alg]).digest()
        if alg.startswith("RS"):
            return self.private.sign(signing_input, padding.PKCS1v15(), _HASHES[alg[2:]]())
        if alg.startswith("PS"):
            h = _HASHES[alg[2:]]()
            return self.private.sign(
                signing_input, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h
            )
        if alg.startswith("ES"):
            der = self.private.sign(signing_input, ec.ECDSA(_HASHES[alg[2:]]()))
            r, s = decode_dss_signature(der)
            size = _CURVES[alg][2]
            return _int_bytes(r, size) + _int_bytes(s, size)
        return bytes(self.private.sign(signing_input))

    def mint(self, claims: dict[str, Any], header: dict[str, Any] | None = None,
             **header_extra: Any) -> str:
        """A compact JWS of ``claims``; ``header`` replaces the default header entirely."""
        if header is None:
            header = {"alg": self.alg, "typ": "at+jwt", "kid": self.kid}
            header.update(header_extra)
        signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
        # Always signed with the key's own algorithm, whatever the header claims.
        signature = self.sign(signing_input.encode())
        return f"{signing_input}.{b64url(signature)}"


@cache
def signing_key(alg: str, kid: str | None = None, variant: int = 0) -> SigningKey:
    """One real key per (alg, kid, variant), generated once per test session."""
    kid = kid or f"{alg.lower()}-{variant}"
    private: Any
    if alg.startswith(("RS", "PS")):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg.startswith("ES"):
        private = ec.generate_private_key(_CURVES[alg][0]())
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
