"""JWS signing: JWK export, RFC 7638 thumbprints, signatures and compact serialization.

:func:`export_jwk`, :func:`jwk_thumbprint`, :func:`sign` and :func:`encode_jws` are the
project's one JWS signing implementation: the development issuer mints its tokens with them and
the test helpers build their tokens on them too. Verification lives in ``mcpauth_fast.keys`` and
``mcpauth_fast.verifier``; nothing here is on the hot path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, TypeAlias

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = [
    "PrivateKey", "PublicKey", "b64url", "b64url_json", "encode_jws", "export_jwk",
    "jwk_thumbprint", "sign",
]

PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
)
PublicKey: TypeAlias = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

# Hash objects hold no state: one of each serves every signature.
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()
}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    """The compact JSON of ``value`` (no spaces), base64url-encoded: a JWS header or payload."""
    return b64url(json.dumps(value, separators=(",", ":")).encode())


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
