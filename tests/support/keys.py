"""Keys and JWKs for the tests of ``mcpauth_fast.keys``: real key pairs of every type, their
public JWKs, signing with PyJWT (an independent JWS implementation), and assertions."""

from __future__ import annotations

import base64
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from mcpauth_fast.exceptions import (
    MCPAuthTokenVerificationException,
    MCPAuthTokenVerificationExceptionCode,
)
from mcpauth_fast.keys import (
    UnsupportedKeyError,
    VerificationKey,
    hmac_key,
    key_from_jwk,
)

RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
EC_CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
EC_SIZES = {"P-256": 32, "P-384": 48, "P-521": 66}
HMAC_ALGS = {"HS256": 32, "HS384": 48, "HS512": 64}
NONE_SPELLINGS = ("none", "None", "NONE", "nOnE", "")

def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def int_b64u(value: int, size: int | None = None) -> str:
    return b64u(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


def rsa_jwk(public: rsa.RSAPublicKey, **extra: Any) -> dict[str, Any]:
    numbers = public.public_numbers()
    return {"kty": "RSA", "n": int_b64u(numbers.n), "e": int_b64u(numbers.e), **extra}


def ec_jwk(public: ec.EllipticCurvePublicKey, crv: str, **extra: Any) -> dict[str, Any]:
    numbers = public.public_numbers()
    size = EC_SIZES[crv]
    return {
        "kty": "EC",
        "crv": crv,
        "x": int_b64u(numbers.x, size),
        "y": int_b64u(numbers.y, size),
        **extra,
    }


def okp_jwk(
    public: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey, crv: str, **extra: Any
) -> dict[str, Any]:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": crv, "x": b64u(raw), **extra}


def split(token: str) -> tuple[bytes, bytes]:
    """(signing input, decoded signature) of a compact JWS."""
    head, payload, signature = token.split(".")
    return f"{head}.{payload}".encode("ascii"), base64.urlsafe_b64decode(
        signature + "=" * (-len(signature) % 4)
    )


def sign(alg: str, private: Any, claims: dict[str, Any] | None = None) -> tuple[bytes, bytes]:
    """Sign with PyJWT (an independent JWS implementation) and split the token."""
    return split(jwt.encode(claims or {"sub": "alice"}, private, algorithm=alg))


def rejects(key: VerificationKey, alg: Any, signing_input: bytes, signature: bytes) -> str:
    """Assert the signature is rejected with invalid_token; return the reason."""
    with pytest.raises(MCPAuthTokenVerificationException) as info:
        key.verify(alg, signing_input, signature)
    assert info.value.code is MCPAuthTokenVerificationExceptionCode.INVALID_TOKEN
    assert info.value.status_code == 401
    assert isinstance(info.value.cause, str)
    return info.value.cause


def refuses(jwk: Any, *fragments: str) -> str:
    """Assert key_from_jwk refuses the JWK; return the message."""
    with pytest.raises(UnsupportedKeyError) as info:
        key_from_jwk(jwk)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    return message


class Keys:
    """Real key pairs, generated once for the module."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(65537, 2048)
        self.rsa_other = rsa.generate_private_key(65537, 2048)
        self.rsa_1024 = rsa.generate_private_key(65537, 1024)
        self.ec = {crv: ec.generate_private_key(curve) for crv, curve in EC_CURVES.items()}
        self.ec_other = {crv: ec.generate_private_key(curve) for crv, curve in EC_CURVES.items()}
        self.ed25519 = ed25519.Ed25519PrivateKey.generate()
        self.ed448 = ed448.Ed448PrivateKey.generate()
        self.ed25519_other = ed25519.Ed25519PrivateKey.generate()
        self.secret = {alg: bytes(range(1, size + 1)) for alg, size in HMAC_ALGS.items()}

    def private_for(self, alg: str, other: bool = False) -> Any:
        """The signing key of alg (another one of the same type when other is set)."""
        if alg in RSA_ALGS:
            return self.rsa_other if other else self.rsa
        if alg.startswith("ES"):
            crv = {v: k for k, v in EC_ALGS.items()}[alg]
            return (self.ec_other if other else self.ec)[crv]
        if alg == "EdDSA":
            return self.ed25519_other if other else self.ed25519
        secret = self.secret[alg]
        return secret[::-1] if other else secret

    def verification_for(self, alg: str) -> VerificationKey:
        """The verification key of alg's signing key."""
        if alg in RSA_ALGS:
            return key_from_jwk(rsa_jwk(self.rsa.public_key(), kid="rsa"))
        if alg.startswith("ES"):
            crv = {v: k for k, v in EC_ALGS.items()}[alg]
            return key_from_jwk(ec_jwk(self.ec[crv].public_key(), crv, kid=crv))
        if alg == "EdDSA":
            return key_from_jwk(okp_jwk(self.ed25519.public_key(), "Ed25519", kid="ed"))
        return hmac_key(self.secret[alg], kid="h", alg=alg)
