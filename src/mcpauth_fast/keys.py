"""JWK -> ``cryptography`` public key, the JWS algorithm registry, and signature verification.

A :class:`VerificationKey` is built once per JWK and reused for every token: the padding,
hash and curve objects are created at import time, so :meth:`VerificationKey.verify` is a
dict lookup, the ``cryptography`` call and the mapping of its failure to ``invalid_token``.

Rules (RFC 7517, RFC 7518, RFC 8037):

- A key verifies only the algorithms of its type, narrowed to one by the JWK's ``alg``
  member: RSA -> RS256..PS512, EC P-256/P-384/P-521 -> ES256/ES384/ES512 (one curve, one
  algorithm), OKP Ed25519/Ed448 -> EdDSA. ``none`` is never an algorithm of any key.
- HMAC keys come only from :func:`hmac_key`, an explicitly configured secret. An ``oct``
  JWK is never used: symmetric keys are never taken from a key set, and no public key is
  ever usable as an HMAC secret.
- RSA moduli are 2048 to 16384 bits (16384 is OpenSSL's own ceiling); the public exponent
  is odd, at least 3 and at most 64 bits (larger ones only make verification slower).
  PSS uses MGF1 with the same hash and a salt as long as the digest (RFC 7518 section 3.5).
  An RSA signature is exactly the modulus' length (RFC 8017 sections 8.1.2 and 8.2.2).
- RS256/384/512 (RSASSA-PKCS1-v1_5) are checked as RFC 8017 section 8.2.2 says: the signature
  is exactly the modulus' length, ``cryptography`` recovers the encoded message from it
  (OpenSSL checks the ``00 01 FF.. 00`` padding), and the DigestInfo it holds must equal,
  byte for byte, the one expected for the data (SHA-2 with NULL parameters). That is the
  check ``verify()`` makes too, without OpenSSL 3's per-call digest fetches: an RSA-2048
  verification costs 8-14% less (bench/README.md). No DigestInfo is parsed, so no
  lenient-parsing forgery (Bleichenbacher 2006) can slip through, and a DigestInfo without
  the NULL is refused.
- ECDSA signatures are raw ``r || s`` (RFC 7518 section 3.4) of exactly twice the coordinate
  size; a DER signature is rejected. High-S signatures are accepted: JWS, unlike some
  blockchain protocols, does not require low-S, and the signer alone can produce either form.
- A JWK that carries private key material (``d``) is refused: a published private key can
  sign anything, so trusting it would accept forged tokens.
- Messages name the key (``kid``, ``kty``) and the reason, never key material or tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, NoReturn, final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from ._accel import ecdsa_der
from .exceptions import invalid_token

__all__ = [
    "DEFAULT_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "UnsupportedKeyError",
    "VerificationKey",
    "hmac_key",
    "key_from_jwk",
    "keys_from_jwks",
]

_RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALGORITHMS = ("ES256", "ES384", "ES512")
_HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")

#: Every JWS algorithm a key of this module can verify.
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(
    (*_RSA_ALGORITHMS, *_EC_ALGORITHMS, "EdDSA", *_HMAC_ALGORITHMS)
)
#: The asymmetric algorithms, the allow-list used when the caller gives none (no HMAC).
DEFAULT_ALGORITHMS: tuple[str, ...] = (*_RSA_ALGORITHMS, *_EC_ALGORITHMS, "EdDSA")

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}
_PKCS1V15 = padding.PKCS1v15()
# Padding and hash objects are shared by every RSA key: they hold no key state.
_PSS_PADDINGS: dict[str, tuple[padding.AsymmetricPadding, hashes.HashAlgorithm]] = {
    alg: (padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size), hash_)
    for alg in _RSA_ALGORITHMS
    if alg.startswith("PS")
    for hash_ in (_HASHES[alg[2:]],)
}
# crv -> (curve, coordinate size in bytes, the one JWS algorithm, its signature algorithm)
_EC_CURVES: dict[str, tuple[ec.EllipticCurve, int, str, ec.ECDSA]] = {
    "P-256": (ec.SECP256R1(), 32, "ES256", ec.ECDSA(hashes.SHA256())),
    "P-384": (ec.SECP384R1(), 48, "ES384", ec.ECDSA(hashes.SHA384())),
    "P-521": (ec.SECP521R1(), 66, "ES512", ec.ECDSA(hashes.SHA512())),
}
_OKP_SIZES = {"Ed25519": 32, "Ed448": 57}
# hashlib names and minimum secret sizes (RFC 7518 section 3.2: at least the hash size).
_HMAC_DIGESTS = {"HS256": ("sha256", 32), "HS384": ("sha384", 48), "HS512": ("sha512", 64)}

_RSA_MIN_BITS = 2048
_RSA_MAX_BITS = 16384
_RSA_MAX_EXPONENT_BITS = 64
# Longest base64url text a JWK member may have (a 16384-bit modulus is 2731 characters);
# checked before decoding so a huge member costs nothing.
_MAX_MEMBER_CHARS = 4096
_B64URL = re.compile(r"[A-Za-z0-9_-]*")

_Verifier = Callable[[bytes, bytes], None]  # (signature, signing_input) -> None or raises


class UnsupportedKeyError(ValueError):
    """A JWK that cannot or will not be used.

    The message names the key's ``kid`` and ``kty`` and the reason, never key material.
    """


@final
class VerificationKey:
    """One public key (or configured HMAC secret) and the JWS algorithms it verifies.

    Immutable and built once per JWK by :func:`key_from_jwk`, :func:`keys_from_jwks` or
    :func:`hmac_key`; the constructor is internal.

    :ivar kid: the key id, or None.
    :ivar kty: ``"RSA"``, ``"EC"``, ``"OKP"`` or ``"oct"``.
    :ivar alg: the JWK's ``alg`` member (or the ``alg`` given to :func:`hmac_key`), or None.
    :ivar algorithms: the JWS algorithms this key can verify.
    """

    __slots__ = ("_verifiers", "alg", "algorithms", "kid", "kty")

    kid: str | None
    kty: str
    alg: str | None
    algorithms: frozenset[str]
    _verifiers: dict[str, _Verifier]

    def __init__(
        self, kid: str | None, kty: str, alg: str | None, verifiers: Mapping[str, _Verifier]
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "kid", kid)
        setattr_(self, "kty", kty)
        setattr_(self, "alg", alg)
        setattr_(self, "algorithms", frozenset(verifiers))
        setattr_(self, "_verifiers", dict(verifiers))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"VerificationKey is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"VerificationKey is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return (
            f"VerificationKey(kid={self.kid!r}, kty={self.kty!r}, "
            f"algorithms={sorted(self.algorithms)!r})"
        )

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> None:
        """Check a JWS signature made with this key.

        :param alg: the token's ``alg`` header, already checked against the allow-list.
        :param signing_input: ``BASE64URL(header) || "." || BASE64URL(payload)`` as bytes.
        :param signature: the decoded signature (raw ``r || s`` for ECDSA).
        :raises MCPAuthTokenVerificationException: ``invalid_token`` when ``alg`` is not one
            this key verifies, or the signature is wrong.
        """
        try:
            verifier = self._verifiers[alg]
        except (KeyError, TypeError):
            # Only a known algorithm name is echoed: the header value is attacker-chosen.
            if isinstance(alg, str) and alg in SUPPORTED_ALGORITHMS:
                raise invalid_token(f"algorithm {alg} does not match the key") from None
            raise invalid_token("algorithm is not supported") from None
        try:
            verifier(signature, signing_input)
        except (InvalidSignature, ValueError):
            raise invalid_token("signature verification failed") from None


def key_from_jwk(jwk: Mapping[str, Any]) -> VerificationKey:
    """Build the verification key of one public JWK (RSA, EC or OKP).

    :param jwk: a parsed JWK.
    :returns: the key, verifying every algorithm of its type, or only the JWK's ``alg``.
    :raises UnsupportedKeyError: the JWK is malformed, of an unsupported type or curve,
        too weak, not for signatures (``use``/``key_ops``), symmetric (``oct``: use
        :func:`hmac_key`), carries a private key, or has an ``alg`` that does not fit.
    """
    if not isinstance(jwk, Mapping):
        raise UnsupportedKeyError("JWK is not a JSON object")
    kid = jwk.get("kid")
    kty = jwk.get("kty")
    where = _describe(kid, kty)
    if kid is not None and not isinstance(kid, str):
        _refuse(where, "kid is not a string")
    if not isinstance(kty, str):
        _refuse(where, "kty is missing or not a string")
    use = jwk.get("use")
    if use is not None and use != "sig":
        _refuse(where, "use is not 'sig'")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        _refuse(where, "key_ops does not contain 'verify'")
    if kty == "oct":
        _refuse(where, "symmetric keys are never taken from a key set (use hmac_key)")
    if "d" in jwk:
        _refuse(where, "the JWK contains private key material")
    if kty == "RSA":
        verifiers = _rsa_verifiers(jwk, where)
    elif kty == "EC":
        verifiers = _ec_verifiers(jwk, where)
    elif kty == "OKP":
        verifiers = _okp_verifiers(jwk, where)
    else:
        _refuse(where, "unsupported key type")
    alg = jwk.get("alg")
    if alg is not None:
        if not isinstance(alg, str) or alg not in SUPPORTED_ALGORITHMS:
            _refuse(where, "alg is not a supported algorithm")
        if alg not in verifiers:
            _refuse(where, f"alg {alg} does not match the key type")
        verifiers = {alg: verifiers[alg]}
    return VerificationKey(kid, kty, alg, verifiers)


def keys_from_jwks(document: Mapping[str, Any]) -> tuple[list[VerificationKey], list[str]]:
    """Build the usable keys of a JWK Set, skipping the ones that cannot be used.

    :param document: a parsed JWKS, ``{"keys": [...]}``.
    :returns: the usable keys in document order, and one message per skipped key.
    :raises UnsupportedKeyError: the document is not an object with a ``keys`` list.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise UnsupportedKeyError("JWKS is not a JSON object with a 'keys' list")
    keys: list[VerificationKey] = []
    problems: list[str] = []
    for index, jwk in enumerate(document["keys"]):
        try:
            keys.append(key_from_jwk(jwk))
        except UnsupportedKeyError as exc:
            problems.append(f"keys[{index}]: {exc}")
    return keys, problems


def hmac_key(
    secret: bytes | str, *, kid: str | None = None, alg: str | None = None
) -> VerificationKey:
    """Build an HMAC key from an explicitly configured shared secret.

    The only way to obtain a key that verifies HS256/HS384/HS512.

    :param secret: the shared secret (a ``str`` is encoded as UTF-8).
    :param kid: the key id tokens name, or None.
    :param alg: ``"HS256"``, ``"HS384"`` or ``"HS512"`` to allow only that one; None allows
        every HMAC algorithm whose hash is no longer than the secret (RFC 7518 section 3.2).
    :raises UnsupportedKeyError: ``alg`` is not an HMAC algorithm, ``kid`` is not a string,
        or the secret is shorter than the hash of ``alg`` (32 bytes when ``alg`` is None).
    """
    where = _describe(kid, "oct")
    if kid is not None and not isinstance(kid, str):
        _refuse(where, "kid is not a string")
    if isinstance(secret, str):
        secret = secret.encode()
    elif isinstance(secret, (bytes, bytearray)):
        secret = bytes(secret)
    else:
        _refuse(where, "the secret is not bytes or str")
    if alg is not None and alg not in _HMAC_DIGESTS:
        _refuse(where, "alg is not an HMAC algorithm")
    candidates = (alg,) if alg is not None else _HMAC_ALGORITHMS
    verifiers = {
        name: _hmac_verifier(secret, _HMAC_DIGESTS[name][0])
        for name in candidates
        if len(secret) >= _HMAC_DIGESTS[name][1]
    }
    if not verifiers:
        needed = _HMAC_DIGESTS[alg or "HS256"][1]
        _refuse(where, f"the secret is shorter than {needed} bytes")
    return VerificationKey(kid, "oct", alg, verifiers)


def _describe(kid: Any, kty: Any) -> str:
    # kid and kty are public identifiers, but bounded: they come from a remote document.
    parts = [
        f"{name}={value[:64]!r}"
        for name, value in (("kid", kid), ("kty", kty))
        if isinstance(value, str)
    ]
    return f"JWK ({', '.join(parts)})" if parts else "JWK"


def _refuse(where: str, reason: str) -> NoReturn:
    raise UnsupportedKeyError(f"{where}: {reason}")


def _member(jwk: Mapping[str, Any], name: str, where: str) -> bytes:
    """The strict base64url-decoded value of a required JWK member."""
    value = jwk.get(name)
    if not isinstance(value, str):
        _refuse(where, f"{name} is missing or not a string")
    if len(value) > _MAX_MEMBER_CHARS or len(value) % 4 == 1 or _B64URL.fullmatch(value) is None:
        _refuse(where, f"{name} is not valid base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        _refuse(where, f"{name} is not valid base64url")
    # Non-zero unused trailing bits would give one value several spellings.
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != value.encode("ascii"):
        _refuse(where, f"{name} is not canonical base64url")
    return raw


def _rsa_verifiers(jwk: Mapping[str, Any], where: str) -> dict[str, _Verifier]:
    n = int.from_bytes(_member(jwk, "n", where), "big")
    e = int.from_bytes(_member(jwk, "e", where), "big")
    bits = n.bit_length()
    if bits < _RSA_MIN_BITS:
        _refuse(where, f"RSA modulus is {bits} bits, at least {_RSA_MIN_BITS} required")
    if bits > _RSA_MAX_BITS:
        _refuse(where, f"RSA modulus is {bits} bits, at most {_RSA_MAX_BITS} allowed")
    if e.bit_length() > _RSA_MAX_EXPONENT_BITS:
        _refuse(where, "RSA public exponent is too large")
    try:
        public_key = rsa.RSAPublicNumbers(e, n).public_key()
    except (ValueError, UnsupportedAlgorithm):
        _refuse(where, "invalid RSA public key")
    size = (bits + 7) // 8
    verifiers = {
        alg: _pkcs1v15_verifier(public_key, size, alg[2:])
        for alg in _RSA_ALGORITHMS
        if alg.startswith("RS")
    }
    for alg, (pss, hash_) in _PSS_PADDINGS.items():
        verifiers[alg] = _pss_verifier(public_key, size, pss, hash_)
    return verifiers


def _pss_verifier(
    public_key: rsa.RSAPublicKey,
    size: int,
    pss: padding.AsymmetricPadding,
    hash_: hashes.HashAlgorithm,
) -> _Verifier:
    """RSASSA-PSS through ``cryptography``, after RFC 8017 section 8.1.2's length check, which
    OpenSSL skips: it takes a signature one byte short, the same number without its leading
    zero byte, as valid."""
    verify = public_key.verify

    def verify_pss(signature: bytes, data: bytes) -> None:
        if len(signature) != size:
            raise InvalidSignature
        verify(signature, data, pss, hash_)

    return verify_pss


#: The DER DigestInfo before the digest, per SHA-2 size (RFC 8017 section 9.2, note 1).
_DIGEST_INFO_PREFIXES = {
    "256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_DIGESTS = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def _pkcs1v15_verifier(public_key: rsa.RSAPublicKey, size: int, bits: str) -> _Verifier:
    """RSASSA-PKCS1-v1_5 verification by encoding and comparing (see the module's rules)."""
    recover = public_key.recover_data_from_signature
    prefix, digest = _DIGEST_INFO_PREFIXES[bits], _DIGESTS[bits]

    def verify(signature: bytes, data: bytes) -> None:
        if len(signature) != size or recover(signature, _PKCS1V15, None) != (
            prefix + digest(data).digest()
        ):
            raise InvalidSignature

    return verify


def _ec_verifiers(jwk: Mapping[str, Any], where: str) -> dict[str, _Verifier]:
    crv = jwk.get("crv")
    spec = _EC_CURVES.get(crv) if isinstance(crv, str) else None
    if spec is None:
        _refuse(where, "unsupported or missing EC curve")
    curve, size, alg, ecdsa = spec
    x = _member(jwk, "x", where)
    y = _member(jwk, "y", where)
    if len(x) != size or len(y) != size:
        _refuse(where, f"EC coordinates must be {size} bytes for {crv}")
    try:
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + x + y)
    except (ValueError, UnsupportedAlgorithm):
        _refuse(where, "the EC point is not on the curve")
    return {alg: partial(_call_ecdsa, public_key.verify, ecdsa, size)}


def _call_ecdsa(
    verify: Callable[[bytes, bytes, ec.EllipticCurveSignatureAlgorithm], None],
    ecdsa: ec.ECDSA,
    size: int,
    signature: bytes,
    data: bytes,
) -> None:
    # JWS carries fixed-size r || s; OpenSSL wants DER. A DER or truncated signature has
    # the wrong length and is refused by ecdsa_der (ValueError); r or s of 0 or >= n is
    # rejected by OpenSSL.
    verify(ecdsa_der(signature, size), data, ecdsa)


def _okp_verifiers(jwk: Mapping[str, Any], where: str) -> dict[str, _Verifier]:
    crv = jwk.get("crv")
    size = _OKP_SIZES.get(crv) if isinstance(crv, str) else None
    if size is None:
        _refuse(where, "unsupported or missing OKP curve")
    x = _member(jwk, "x", where)
    if len(x) != size:
        _refuse(where, f"OKP public key must be {size} bytes for {crv}")
    public_key: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
    try:
        if crv == "Ed25519":
            public_key = ed25519.Ed25519PublicKey.from_public_bytes(x)
        else:
            public_key = ed448.Ed448PublicKey.from_public_bytes(x)
    except (ValueError, UnsupportedAlgorithm):
        _refuse(where, f"invalid or unsupported {crv} public key")
    # EdDSA needs no padding or hash object: the bound method is the whole verifier.
    return {"EdDSA": public_key.verify}


def _hmac_verifier(secret: bytes, digest: str) -> _Verifier:
    # hmac.digest is OpenSSL's one-shot HMAC; compare_digest keeps the comparison constant-time.
    def verify(signature: bytes, data: bytes) -> None:
        if not hmac.compare_digest(hmac.digest(secret, data, digest), signature):
            raise InvalidSignature

    return verify
