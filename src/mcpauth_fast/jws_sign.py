"""JWS signing: signatures and compact serialization (RFC 7515, RFC 7518).

The project's one JWS signer. The development issuer (through :mod:`mcpauth_fast.dev.signing`)
mints its tokens with it, and introspection signs its ``private_key_jwt`` client assertions
(RFC 7523) with it, so it lives outside the dev package: the request path may use it.
Verification lives in ``mcpauth_fast.keys`` and ``mcpauth_fast.verifier``.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Mapping
from typing import Any, TypeAlias

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["PrivateKey", "b64url", "b64url_json", "encode_jws", "sign"]

PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
)

# Hash objects hold no state: one of each serves every signature.
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()
}


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    """The compact JSON of ``value`` (no spaces), base64url-encoded: a JWS header or payload."""
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def sign(key: PrivateKey | bytes, alg: str, signing_input: bytes) -> bytes:
    """The JWS signature of ``signing_input`` (RFC 7518).

    RS* and PS* take an RSA key, ES* an EC key (the hash comes from ``alg``, the curve from
    the key; the signature is raw ``r || s``), EdDSA an Ed25519 or Ed448 key, HS* a secret.

    :raises ValueError: ``alg`` is not one of these, or does not fit the key.
    """
    hash_ = _HASHES.get(alg[2:])
    if isinstance(key, (bytes, bytearray)):
        if alg[:2] == "HS" and hash_ is not None:
            return hmac.digest(bytes(key), signing_input, f"sha{alg[2:]}")
    elif isinstance(key, rsa.RSAPrivateKey) and hash_ is not None:
        if alg[:2] == "RS":
            return key.sign(signing_input, padding.PKCS1v15(), hash_)
        if alg[:2] == "PS":
            pss = padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
            return key.sign(signing_input, pss, hash_)
    elif isinstance(key, ec.EllipticCurvePrivateKey) and hash_ is not None:
        if alg[:2] == "ES":
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hash_)))
            size = (key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    elif isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) and alg == "EdDSA":
        return key.sign(signing_input)
    raise ValueError(f"algorithm {alg!r} does not fit a {type(key).__name__}")


def encode_jws(
    header: Mapping[str, Any], claims: Mapping[str, Any], key: PrivateKey | bytes,
    alg: str | None = None,
) -> str:
    """A compact JWS of ``claims`` under ``header``, signed with ``key``.

    :param alg: the signing algorithm; default the header's ``alg``. Given separately so a
        test can sign with one algorithm under a header that names another.
    :raises ValueError: as :func:`sign`.
    """
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = sign(key, alg or header["alg"], signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"
