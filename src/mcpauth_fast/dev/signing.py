"""JWS signing: JWK export, RFC 7638 thumbprints, signatures and compact serialization.

:func:`export_jwk` and :func:`jwk_thumbprint` live here; :func:`sign` and :func:`encode_jws`
are :mod:`mcpauth_fast.jws_sign`'s, re-exported: together the project's one JWS signing
implementation. The development issuer mints its tokens with them and the test helpers build
their tokens on them too. Verification lives in ``mcpauth_fast.keys`` and
``mcpauth_fast.verifier``; nothing here is on the hot path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from ..jws_sign import PrivateKey, b64url, b64url_json, encode_jws, sign

__all__ = [
    "PrivateKey", "PublicKey", "b64url", "b64url_json", "encode_jws", "export_jwk",
    "jwk_thumbprint", "sign",
]

PublicKey: TypeAlias = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}


def _b64url_int(value: int, length: int | None = None) -> str:
    return b64url(value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big"))


def export_jwk(key: PrivateKey | PublicKey | bytes) -> dict[str, Any]:
    """The JWK of ``key``, without ``kid``, ``alg`` or ``use``.

    :param key: an RSA, EC (P-256/384/521) or Ed25519/Ed448 key, private or public; or an
        HMAC secret as bytes.
    :returns: the public members only for an asymmetric key (never ``d`` or the CRT values);
        the ``oct`` JWK, which is the secret itself, for bytes.
    :raises TypeError: the key is of another type. :raises ValueError: an unsupported curve.
    """
    if isinstance(key, (bytes, bytearray)):
        return {"kty": "oct", "k": b64url(bytes(key))}
    public: PublicKey = (
        key.public_key()
        if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey,
                            ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
        else key
    )
    if isinstance(public, rsa.RSAPublicKey):
        rsa_numbers = public.public_numbers()
        return {"kty": "RSA", "n": _b64url_int(rsa_numbers.n), "e": _b64url_int(rsa_numbers.e)}
    if isinstance(public, ec.EllipticCurvePublicKey):
        crv = _CURVE_NAMES.get(public.curve.name)
        if crv is None:
            raise ValueError(f"unsupported EC curve {public.curve.name}")
        size = (public.curve.key_size + 7) // 8
        ec_numbers = public.public_numbers()
        return {"kty": "EC", "crv": crv, "x": _b64url_int(ec_numbers.x, size),
                "y": _b64url_int(ec_numbers.y, size)}
    if isinstance(public, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        crv = "Ed25519" if isinstance(public, ed25519.Ed25519PublicKey) else "Ed448"
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": crv, "x": b64url(raw)}
    raise TypeError(f"cannot export a {type(key).__name__} as a JWK")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a JWK, base64url-encoded.

    :raises ValueError: the ``kty`` is not RSA, EC, OKP or oct. :raises KeyError: a required
        member is missing.
    """
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError("cannot compute the thumbprint of a JWK of this kty")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())
