"""Tests of mcpauth_fast.keys: JWK import, the algorithm registry and signature verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpauth_fast.exceptions import (
    MCPAuthTokenVerificationException,
    MCPAuthTokenVerificationExceptionCode,
)
from mcpauth_fast.keys import (
    DEFAULT_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    UnsupportedKeyError,
    VerificationKey,
    hmac_key,
    key_from_jwk,
    keys_from_jwks,
)

RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
EC_CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
EC_SIZES = {"P-256": 32, "P-384": 48, "P-521": 66}
HMAC_ALGS = {"HS256": 32, "HS384": 48, "HS512": 64}
NONE_SPELLINGS = ("none", "None", "NONE", "nOnE", "")

WYCHEPROOF = Path(__file__).resolve().parent / "vectors" / "wycheproof"


# -- helpers -----------------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


ALL_ALGS = sorted(SUPPORTED_ALGORITHMS)


# -- registry ----------------------------------------------------------------------------------


def test_registry() -> None:
    assert SUPPORTED_ALGORITHMS == {
        *RSA_ALGS,
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
        "HS256",
        "HS384",
        "HS512",
    }
    assert set(DEFAULT_ALGORITHMS) == SUPPORTED_ALGORITHMS - set(HMAC_ALGS)
    assert len(DEFAULT_ALGORITHMS) == len(set(DEFAULT_ALGORITHMS))
    assert not any(alg.lower() == "none" for alg in SUPPORTED_ALGORITHMS)


# -- every algorithm verifies what it signed ---------------------------------------------------


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_valid_signature(keys: Keys, alg: str) -> None:
    signing_input, signature = sign(alg, keys.private_for(alg))
    key = keys.verification_for(alg)
    assert alg in key.algorithms
    key.verify(alg, signing_input, signature)


def test_ed448(keys: Keys) -> None:
    key = key_from_jwk(okp_jwk(keys.ed448.public_key(), "Ed448"))
    assert key.algorithms == {"EdDSA"}
    signing_input, signature = sign("EdDSA", keys.ed448)
    assert len(signature) == 114
    key.verify("EdDSA", signing_input, signature)
    rejects(key, "EdDSA", signing_input, signature[:-1] + bytes([signature[-1] ^ 1]))
    # An Ed25519 signature never verifies against an Ed448 key.
    rejects(key, "EdDSA", *sign("EdDSA", keys.ed25519))


@pytest.mark.parametrize("alg", RSA_ALGS)
def test_signature_made_with_cryptography(keys: Keys, alg: str) -> None:
    hash_ = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    pad = (
        padding.PKCS1v15()
        if alg.startswith("RS")
        else padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
    )
    data = b"header.payload"
    keys.verification_for(alg).verify(alg, data, keys.rsa.sign(data, pad, hash_))


# -- wrong signatures --------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_bit_flip_rejected(keys: Keys, alg: str) -> None:
    signing_input, signature = sign(alg, keys.private_for(alg))
    key = keys.verification_for(alg)
    for index in (0, len(signature) // 2, len(signature) - 1):
        flipped = bytearray(signature)
        flipped[index] ^= 0x01
        reason = rejects(key, alg, signing_input, bytes(flipped))
        assert reason == "signature verification failed"
    # The same signature over another signing input.
    rejects(key, alg, signing_input + b"x", signature)


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_truncated_and_extended_rejected(keys: Keys, alg: str) -> None:
    signing_input, signature = sign(alg, keys.private_for(alg))
    key = keys.verification_for(alg)
    for bad in (signature[:-1], signature[1:], signature + b"\x00", b"\x00" + signature, b""):
        rejects(key, alg, signing_input, bad)


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_other_key_rejected(keys: Keys, alg: str) -> None:
    signing_input, signature = sign(alg, keys.private_for(alg, other=True))
    rejects(keys.verification_for(alg), alg, signing_input, signature)


# -- algorithm / key type ----------------------------------------------------------------------


def test_key_algorithms(keys: Keys) -> None:
    assert keys.verification_for("RS256").algorithms == set(RSA_ALGS)
    for crv, alg in EC_ALGS.items():
        assert keys.verification_for(alg).algorithms == {alg}, crv
    assert keys.verification_for("EdDSA").algorithms == {"EdDSA"}
    for alg in HMAC_ALGS:
        assert keys.verification_for(alg).algorithms == {alg}


@pytest.mark.parametrize("key_alg", ["RS256", "ES256", "ES384", "ES512", "EdDSA", "HS256"])
@pytest.mark.parametrize("alg", ALL_ALGS)
def test_alg_must_match_key_type(keys: Keys, key_alg: str, alg: str) -> None:
    key = keys.verification_for(key_alg)
    if alg in key.algorithms:
        return
    # A genuine signature of alg (made with a key of alg's type) still fails on this key.
    signing_input, signature = sign(alg, keys.private_for(alg))
    assert rejects(key, alg, signing_input, signature) == f"algorithm {alg} does not match the key"


def test_p256_key_never_verifies_es384(keys: Keys) -> None:
    private = keys.ec["P-256"]
    key = keys.verification_for("ES256")
    data = b"header.payload"
    # A valid P-256 signature made over SHA-384: correct for the key, wrong for the alg.
    r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA384())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    private.public_key().verify(
        private.sign(data, ec.ECDSA(hashes.SHA384())), data, ec.ECDSA(hashes.SHA384())
    )
    assert "does not match" in rejects(key, "ES384", data, raw)
    assert "does not match" in rejects(key, "ES512", data, raw)
    rejects(keys.verification_for("ES384"), "ES256", *sign("ES256", private))


def test_asymmetric_keys_never_verify_hmac(keys: Keys) -> None:
    for alg in ("RS256", "ES256", "EdDSA"):
        key = keys.verification_for(alg)
        assert not key.algorithms & set(HMAC_ALGS)
        for hs in HMAC_ALGS:
            rejects(key, hs, *sign(hs, keys.secret[hs]))


def test_hmac_key_never_verifies_asymmetric(keys: Keys) -> None:
    key = hmac_key(bytes(64))
    assert key.algorithms == set(HMAC_ALGS)
    for alg in DEFAULT_ALGORITHMS:
        rejects(key, alg, *sign(alg, keys.private_for(alg)))


def test_rsa_public_key_as_hmac_secret_attack(keys: Keys) -> None:
    """The classic confusion: HS256 "signed" with the RSA public key's PEM bytes."""
    public = keys.rsa.public_key()
    key = keys.verification_for("RS256")
    for fmt in (serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1):
        pem = public.public_bytes(serialization.Encoding.PEM, fmt)
        header = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        signing_input = f"{header}.{b64u(b'{}')}".encode()
        forged = hmac.new(pem, signing_input, hashlib.sha256).digest()
        rejects(key, "HS256", signing_input, forged)
        # And the JWK serialisation as the secret, for good measure.
        jwk_bytes = json.dumps(rsa_jwk(public)).encode()
        rejects(key, "HS256", signing_input, hmac.new(jwk_bytes, signing_input, "sha256").digest())


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_none_never_accepted(keys: Keys, alg: str) -> None:
    signing_input = b"eyJhbGciOiJub25lIn0.e30"
    for key_alg in ("RS256", "ES256", "EdDSA", "HS256"):
        key = keys.verification_for(key_alg)
        assert alg not in key.algorithms
        rejects(key, alg, signing_input, b"")
    refuses(rsa_jwk(keys.rsa.public_key(), alg=alg), "alg")
    with pytest.raises(UnsupportedKeyError):
        hmac_key(bytes(64), alg=alg)


def test_unknown_alg_not_echoed(keys: Keys) -> None:
    key = keys.verification_for("RS256")
    signing_input, signature = sign("RS256", keys.rsa)
    assert rejects(key, "RS256<script>", signing_input, signature) == "algorithm is not supported"
    assert rejects(key, "Ed25519", signing_input, signature) == "algorithm is not supported"
    for odd in (None, 256, ["RS256"], b"RS256"):
        rejects(key, odd, signing_input, signature)


def test_ed25519_is_not_an_alg(keys: Keys) -> None:
    key = keys.verification_for("EdDSA")
    rejects(key, "Ed25519", *sign("EdDSA", keys.ed25519))
    refuses(okp_jwk(keys.ed25519.public_key(), "Ed25519", alg="Ed25519"), "alg")


# -- ECDSA signature encoding ------------------------------------------------------------------


def ec_raw(crv: str, r: int, s: int) -> bytes:
    size = EC_SIZES[crv]
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def ec_sign(keys: Keys, crv: str, data: bytes) -> tuple[int, int]:
    hash_ = {"P-256": hashes.SHA256(), "P-384": hashes.SHA384(), "P-521": hashes.SHA512()}[crv]
    r, s = decode_dss_signature(keys.ec[crv].sign(data, ec.ECDSA(hash_)))
    return r, s


ORDERS = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "P-384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77A"
        "ECEC196ACCC52973",
        16,
    ),
    # 2^521 - ...: "1", 65 "F"s, then the low 260 bits.
    "P-521": int(
        "1" + "F" * 65 + "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}


def test_curve_orders() -> None:
    assert [ORDERS[crv].bit_length() for crv in ("P-256", "P-384", "P-521")] == [256, 384, 521]


@pytest.mark.parametrize("crv", sorted(EC_ALGS))
def test_ecdsa_raw_signature_round_trip(keys: Keys, crv: str) -> None:
    data = b"header.payload"
    r, s = ec_sign(keys, crv, data)
    key = keys.verification_for(EC_ALGS[crv])
    key.verify(EC_ALGS[crv], data, ec_raw(crv, r, s))
    # High-S is accepted: JWS does not require low-S (see the module docstring).
    key.verify(EC_ALGS[crv], data, ec_raw(crv, r, ORDERS[crv] - s))


@pytest.mark.parametrize("crv", sorted(EC_ALGS))
def test_ecdsa_der_signature_rejected(keys: Keys, crv: str) -> None:
    data = b"header.payload"
    hash_ = {"P-256": hashes.SHA256(), "P-384": hashes.SHA384(), "P-521": hashes.SHA512()}[crv]
    der = keys.ec[crv].sign(data, ec.ECDSA(hash_))
    keys.ec[crv].public_key().verify(der, data, ec.ECDSA(hash_))
    rejects(keys.verification_for(EC_ALGS[crv]), EC_ALGS[crv], data, der)
    # A DER signature padded to the raw length is still not r || s.
    padded = der.ljust(2 * EC_SIZES[crv], b"\x00")[: 2 * EC_SIZES[crv]]
    rejects(keys.verification_for(EC_ALGS[crv]), EC_ALGS[crv], data, padded)


@pytest.mark.parametrize("crv", sorted(EC_ALGS))
def test_ecdsa_wrong_length_rejected(keys: Keys, crv: str) -> None:
    data = b"header.payload"
    r, s = ec_sign(keys, crv, data)
    size = EC_SIZES[crv]
    key = keys.verification_for(EC_ALGS[crv])
    # Minimal-length big-endian r || s (what some libraries emit) is not the JWS form.
    short = r.to_bytes((r.bit_length() + 7) // 8, "big") + s.to_bytes(size, "big")
    for bad in (
        # Parsers that read s from "whatever follows r" accept this one.
        r.to_bytes(size, "big") + s.to_bytes(size + 1, "big"),
        ec_raw(crv, r, s)[:-1],
        b"\x00" + ec_raw(crv, r, s),
        r.to_bytes(size + 1, "big") + s.to_bytes(size + 1, "big"),
        short if len(short) != 2 * size else short[1:],
    ):
        assert rejects(key, EC_ALGS[crv], data, bad) == "signature verification failed"


@pytest.mark.parametrize("crv", sorted(EC_ALGS))
def test_ecdsa_out_of_range_r_s_rejected(keys: Keys, crv: str) -> None:
    data = b"header.payload"
    r, s = ec_sign(keys, crv, data)
    n = ORDERS[crv]
    size = EC_SIZES[crv]
    key = keys.verification_for(EC_ALGS[crv])
    top = 256**size - 1
    for bad_r, bad_s in ((0, s), (r, 0), (0, 0), (n, s), (r, n), (top, s), (r, top)):
        rejects(key, EC_ALGS[crv], data, ec_raw(crv, bad_r, bad_s))
    # r + n and s + n are congruent to a valid signature: range checks must reject them.
    if r + n <= top:
        rejects(key, EC_ALGS[crv], data, ec_raw(crv, r + n, s))
    if s + n <= top:
        rejects(key, EC_ALGS[crv], data, ec_raw(crv, r, s + n))


def test_ecdsa_r_plus_n_fits_on_p521(keys: Keys) -> None:
    # On P-521 the 66-byte field leaves room for r + n, so the range check is really exercised.
    data = b"header.payload"
    r, s = ec_sign(keys, "P-521", data)
    assert r + ORDERS["P-521"] < 256**66
    rejects(keys.verification_for("ES512"), "ES512", data, ec_raw("P-521", r + ORDERS["P-521"], s))


# -- RSA specifics -----------------------------------------------------------------------------


@pytest.mark.parametrize("salt", [0, 20, padding.PSS.MAX_LENGTH])
def test_pss_salt_must_equal_digest_size(keys: Keys, salt: Any) -> None:
    data = b"header.payload"
    signature = keys.rsa.sign(
        data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt), hashes.SHA256()
    )
    rejects(keys.verification_for("PS256"), "PS256", data, signature)


def test_pss_mgf_hash_must_match(keys: Keys) -> None:
    data = b"header.payload"
    signature = keys.rsa.sign(
        data, padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=32), hashes.SHA256()
    )
    rejects(keys.verification_for("PS256"), "PS256", data, signature)


def test_pkcs1_and_pss_not_interchangeable(keys: Keys) -> None:
    key = keys.verification_for("RS256")
    rejects(key, "PS256", *sign("RS256", keys.rsa))
    rejects(key, "RS256", *sign("PS256", keys.rsa))
    rejects(key, "RS384", *sign("RS256", keys.rsa))


def test_rsa_1024_refused(keys: Keys) -> None:
    jwk = rsa_jwk(keys.rsa_1024.public_key(), kid="weak")
    message = refuses(jwk, "1024 bits", "2048", "kid='weak'", "kty='RSA'")
    assert jwk["n"] not in message


def test_rsa_modulus_just_under_2048_bits_refused() -> None:
    n = (1 << 2046) | 1
    refuses({"kty": "RSA", "n": int_b64u(n), "e": "AQAB"}, "2047 bits")


def test_rsa_modulus_too_large_refused() -> None:
    refuses({"kty": "RSA", "n": int_b64u((1 << 16384) | 1), "e": "AQAB"}, "at most")


def test_rsa_leading_zero_modulus_accepted(keys: Keys) -> None:
    numbers = keys.rsa.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64u(b"\x00" + numbers.n.to_bytes(256, "big")), "e": "AQAB"}
    key_from_jwk(jwk).verify("RS256", *sign("RS256", keys.rsa))


@pytest.mark.parametrize(
    ("e", "fragment"),
    [(1, "invalid RSA"), (2, "invalid RSA"), (65536, "invalid RSA"), ((1 << 64) + 1, "exponent")],
)
def test_rsa_bad_exponent_refused(keys: Keys, e: int, fragment: str) -> None:
    jwk = rsa_jwk(keys.rsa.public_key())
    jwk["e"] = int_b64u(e)
    refuses(jwk, fragment)


# -- JWK members -------------------------------------------------------------------------------


def test_jwk_alg_narrows(keys: Keys) -> None:
    key = key_from_jwk(rsa_jwk(keys.rsa.public_key(), alg="RS256"))
    assert key.alg == "RS256"
    assert key.algorithms == {"RS256"}
    key.verify("RS256", *sign("RS256", keys.rsa))
    assert "does not match" in rejects(key, "PS256", *sign("PS256", keys.rsa))
    assert "does not match" in rejects(key, "RS512", *sign("RS512", keys.rsa))
    ps = key_from_jwk(rsa_jwk(keys.rsa.public_key(), alg="PS384"))
    assert ps.algorithms == {"PS384"}
    ps.verify("PS384", *sign("PS384", keys.rsa))
    rejects(ps, "RS256", *sign("RS256", keys.rsa))
    assert key_from_jwk(rsa_jwk(keys.rsa.public_key())).alg is None


@pytest.mark.parametrize(
    ("kind", "alg"),
    [
        ("rsa", "ES256"),
        ("rsa", "HS256"),
        ("rsa", "EdDSA"),
        ("rsa", "RSA-OAEP"),
        ("P-256", "ES384"),
        ("P-256", "ES512"),
        ("P-384", "ES256"),
        ("P-256", "RS256"),
        ("P-256", "HS256"),
        ("ed", "ES256"),
        ("ed", "HS256"),
        ("ed", "Ed25519"),
        ("rsa", "rs256"),
        ("rsa", 256),
    ],
)
def test_jwk_alg_incompatible_refused(keys: Keys, kind: str, alg: Any) -> None:
    if kind == "rsa":
        jwk = rsa_jwk(keys.rsa.public_key(), alg=alg)
    elif kind == "ed":
        jwk = okp_jwk(keys.ed25519.public_key(), "Ed25519", alg=alg)
    else:
        jwk = ec_jwk(keys.ec[kind].public_key(), kind, alg=alg)
    refuses(jwk, "alg")


def test_use_and_key_ops(keys: Keys) -> None:
    public = keys.rsa.public_key()
    assert key_from_jwk(rsa_jwk(public, use="sig")).algorithms == set(RSA_ALGS)
    assert key_from_jwk(rsa_jwk(public, key_ops=["verify"])).algorithms == set(RSA_ALGS)
    assert key_from_jwk(rsa_jwk(public, key_ops=["sign", "verify"])).kty == "RSA"
    refuses(rsa_jwk(public, use="enc"), "use")
    refuses(rsa_jwk(public, use="SIG"), "use")
    refuses(rsa_jwk(public, use=None, key_ops=["encrypt"]), "key_ops")
    refuses(rsa_jwk(public, key_ops=["encrypt", "wrapKey"]), "key_ops")
    refuses(rsa_jwk(public, key_ops=[]), "key_ops")
    refuses(rsa_jwk(public, key_ops="verify"), "key_ops")


def test_kid(keys: Keys) -> None:
    public = keys.rsa.public_key()
    assert key_from_jwk(rsa_jwk(public, kid="k1")).kid == "k1"
    assert key_from_jwk(rsa_jwk(public)).kid is None
    for kid in (1, ["k1"], {"k": 1}):
        refuses(rsa_jwk(public, kid=kid), "kid is not a string")


def test_private_jwk_refused(keys: Keys) -> None:
    numbers = keys.rsa.private_numbers()
    jwk = rsa_jwk(keys.rsa.public_key(), kid="leaked", d=int_b64u(numbers.d))
    message = refuses(jwk, "private")
    assert jwk["d"] not in message
    ec_private = keys.ec["P-256"].private_numbers().private_value
    refuses(ec_jwk(keys.ec["P-256"].public_key(), "P-256", d=int_b64u(ec_private, 32)), "private")


def test_oct_jwk_refused(keys: Keys) -> None:
    jwk = {"kty": "oct", "k": b64u(bytes(64)), "kid": "sym", "alg": "HS256"}
    message = refuses(jwk, "symmetric", "kid='sym'")
    assert jwk["k"] not in message
    keys_, problems = keys_from_jwks({"keys": [jwk]})
    assert keys_ == []
    assert len(problems) == 1


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"},
        {"kty": "EC", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "X25519", "x": b64u(bytes(32))},
        {"kty": "OKP", "crv": "Ed25519"},
        {"kty": "RSA", "e": "AQAB"},
        {"kty": "RSA", "n": 12345, "e": "AQAB"},
        {"kty": "DSA"},
        {"kty": "rsa"},
        {"kty": 1},
        {},
    ],
)
def test_unsupported_jwks_refused(jwk: dict[str, Any]) -> None:
    refuses(jwk)


def test_non_mapping_jwk_refused() -> None:
    for jwk in (None, "RSA", ["kty", "RSA"], 3):
        refuses(jwk, "not a JSON object")


# -- strict base64url --------------------------------------------------------------------------


def bad_b64u_variants(good: str) -> list[str]:
    raw = base64.urlsafe_b64decode(good + "=" * (-len(good) % 4))
    std = base64.b64encode(raw).decode()
    variants = [
        good + "=" * (-len(good) % 4) if len(good) % 4 else good + "==",  # padding
        good[:-1] + "+",  # standard alphabet
        good[:-1] + "/",
        good[:4] + " " + good[4:],  # whitespace
        good[:4] + "." + good[4:],
        good + "A" * ((1 - len(good)) % 4 or 4),  # a length of 1 mod 4 is never base64
        good[:-1] + "é",
    ]
    if std.rstrip("=") != good:
        variants.append(std.rstrip("="))
    return [v for v in variants if v != good]


def noncanonical(good: str) -> str | None:
    """The same bytes spelt with non-zero unused trailing bits, when the length allows it."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if len(good) % 4 == 0:
        return None
    last = alphabet.index(good[-1])
    unused = 4 if len(good) % 4 == 2 else 2
    return (
        good[:-1] + alphabet[last | ((1 << unused) - 1)]
        if last & ((1 << unused) - 1) == 0
        else None
    )


def test_bad_base64url_in_rsa_n(keys: Keys) -> None:
    good = rsa_jwk(keys.rsa.public_key())
    for variant in bad_b64u_variants(good["n"]):
        refuses({**good, "n": variant}, "n is not valid base64url")
    refuses({**good, "e": "AQAB="}, "e is not valid base64url")
    refuses({**good, "e": "AQA+"}, "e is not valid base64url")
    refuses({**good, "n": "A" * 5000}, "n is not")


def test_bad_base64url_in_ec_and_okp(keys: Keys) -> None:
    good = ec_jwk(keys.ec["P-256"].public_key(), "P-256")
    for name in ("x", "y"):
        for variant in bad_b64u_variants(good[name]):
            refuses({**good, name: variant}, f"{name} is not valid base64url")
    okp = okp_jwk(keys.ed25519.public_key(), "Ed25519")
    for variant in bad_b64u_variants(okp["x"]):
        refuses({**okp, "x": variant}, "x is not valid base64url")


def test_noncanonical_base64url_refused() -> None:
    # 32 bytes -> 43 characters, 2 unused bits in the last one; 'A' has them clear, 'D' set.
    x = b64u(bytes(31) + b"\x10")
    assert len(x) == 43
    bad = noncanonical(x)
    assert bad is not None and bad != x
    assert base64.urlsafe_b64decode(bad + "=") == base64.urlsafe_b64decode(x + "=")
    refuses({"kty": "OKP", "crv": "Ed25519", "x": bad}, "canonical")


# -- curve points and sizes --------------------------------------------------------------------


@pytest.mark.parametrize("crv", sorted(EC_ALGS))
def test_point_not_on_curve_refused(keys: Keys, crv: str) -> None:
    good = ec_jwk(keys.ec[crv].public_key(), crv)
    y = keys.ec[crv].public_key().public_numbers().y
    refuses({**good, "y": int_b64u(y ^ 1, EC_SIZES[crv])}, "not on the curve")
    refuses({**good, "x": int_b64u(0, EC_SIZES[crv]), "y": int_b64u(0, EC_SIZES[crv])})


@pytest.mark.parametrize("crv", sorted(EC_ALGS))
def test_ec_coordinate_length(keys: Keys, crv: str) -> None:
    good = ec_jwk(keys.ec[crv].public_key(), crv)
    numbers = keys.ec[crv].public_key().public_numbers()
    size = EC_SIZES[crv]
    refuses({**good, "x": int_b64u(numbers.x, size + 1)}, f"{size} bytes")
    refuses({**good, "y": int_b64u(numbers.y, size + 1)}, f"{size} bytes")
    if numbers.x.bit_length() <= 8 * (size - 1):
        refuses({**good, "x": int_b64u(numbers.x, size - 1)}, f"{size} bytes")
    refuses({**good, "x": b64u(b"\x00" * (size - 1))}, f"{size} bytes")
    # A P-256 point declared as P-384 (or any other curve) does not fit.
    other = "P-384" if crv == "P-256" else "P-256"
    refuses({**good, "crv": other})


def test_okp_key_length(keys: Keys) -> None:
    raw = keys.ed25519.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    refuses({"kty": "OKP", "crv": "Ed25519", "x": b64u(raw[:-1])}, "32 bytes")
    refuses({"kty": "OKP", "crv": "Ed25519", "x": b64u(raw + b"\x00")}, "32 bytes")
    refuses({"kty": "OKP", "crv": "Ed448", "x": b64u(raw)}, "57 bytes")
    ed448_raw = keys.ed448.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    refuses({"kty": "OKP", "crv": "Ed25519", "x": b64u(ed448_raw)}, "32 bytes")


# -- JWKS documents ----------------------------------------------------------------------------


def test_mixed_jwks(keys: Keys) -> None:
    good = [
        rsa_jwk(keys.rsa.public_key(), kid="rsa", use="sig"),
        ec_jwk(keys.ec["P-256"].public_key(), "P-256", kid="p256", alg="ES256"),
        okp_jwk(keys.ed25519.public_key(), "Ed25519", kid="ed"),
        ec_jwk(keys.ec["P-521"].public_key(), "P-521", kid="p521", key_ops=["verify"]),
    ]
    bad = [
        {"kty": "oct", "k": b64u(bytes(32)), "kid": "sym"},
        rsa_jwk(keys.rsa_other.public_key(), kid="enc", use="enc"),
        rsa_jwk(keys.rsa_1024.public_key(), kid="weak"),
        ec_jwk(keys.ec["P-384"].public_key(), "P-384", kid="wrap", key_ops=["wrapKey"]),
        "not a key",
        None,
        ["kty", "RSA"],
        {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA", "kid": "k1"},
        {"kty": "RSA", "n": "!!", "e": "AQAB", "kid": "garbled"},
        rsa_jwk(keys.rsa.public_key(), kid="confused", alg="ES256"),
    ]
    document = {"keys": [bad[0], good[0], *bad[1:4], good[1], *bad[4:8], good[2], *bad[8:]]}
    document["keys"].append(good[3])
    usable, problems = keys_from_jwks(document)
    assert [key.kid for key in usable] == ["rsa", "p256", "ed", "p521"]
    assert len(problems) == len(bad)
    bad_indices = [i for i, jwk in enumerate(document["keys"]) if not any(jwk is g for g in good)]
    for index, problem in zip(bad_indices, problems, strict=True):
        assert problem.startswith(f"keys[{index}]: ")
    # No key material in any message.
    text = "\n".join(problems)
    for jwk in document["keys"]:
        if isinstance(jwk, dict):
            for member in ("n", "x", "y", "k"):
                value = jwk.get(member)
                if isinstance(value, str) and len(value) > 8:
                    assert value not in text
    # The usable keys work.
    usable[0].verify("RS256", *sign("RS256", keys.rsa))
    usable[1].verify("ES256", *sign("ES256", keys.ec["P-256"]))
    usable[2].verify("EdDSA", *sign("EdDSA", keys.ed25519))
    usable[3].verify("ES512", *sign("ES512", keys.ec["P-521"]))


def test_empty_jwks() -> None:
    assert keys_from_jwks({"keys": []}) == ([], [])


@pytest.mark.parametrize(
    "document", [None, [], "keys", {}, {"keys": None}, {"keys": {}}, {"keys": "x"}, {"key": []}]
)
def test_bad_jwks_document(document: Any) -> None:
    with pytest.raises(UnsupportedKeyError):
        keys_from_jwks(document)


# -- HMAC --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "size"), sorted(HMAC_ALGS.items()))
def test_hmac_secret_length(alg: str, size: int) -> None:
    with pytest.raises(UnsupportedKeyError, match=f"shorter than {size} bytes"):
        hmac_key(bytes(size - 1), alg=alg)
    assert hmac_key(bytes(size), alg=alg).algorithms == {alg}


def test_hmac_without_alg() -> None:
    with pytest.raises(UnsupportedKeyError, match="shorter than 32 bytes"):
        hmac_key(b"x" * 31)
    with pytest.raises(UnsupportedKeyError):
        hmac_key("")
    assert hmac_key(b"x" * 32).algorithms == {"HS256"}
    assert hmac_key(b"x" * 48).algorithms == {"HS256", "HS384"}
    assert hmac_key(b"x" * 64).algorithms == set(HMAC_ALGS)
    key = hmac_key(b"x" * 64, kid="shared")
    assert (key.kid, key.kty, key.alg) == ("shared", "oct", None)


def test_hmac_str_secret() -> None:
    secret = "s" * 40
    key = hmac_key(secret, alg="HS256")
    key.verify("HS256", *sign("HS256", secret.encode()))
    rejects(key, "HS256", *sign("HS256", ("t" * 40).encode()))


def test_hmac_bad_arguments() -> None:
    for alg in ("RS256", "ES256", "EdDSA", "hs256", "HS1"):
        with pytest.raises(UnsupportedKeyError, match="not an HMAC algorithm"):
            hmac_key(bytes(64), alg=alg)
    with pytest.raises(UnsupportedKeyError, match="kid"):
        hmac_key(bytes(64), kid=7)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedKeyError):
        hmac_key(12345)  # type: ignore[arg-type]


def test_hmac_narrowed_key_rejects_other_hmac(keys: Keys) -> None:
    key = hmac_key(keys.secret["HS512"], alg="HS256")
    assert "does not match" in rejects(key, "HS512", *sign("HS512", keys.secret["HS512"]))


# -- the VerificationKey object ----------------------------------------------------------------


def test_verification_key_is_immutable(keys: Keys) -> None:
    key = keys.verification_for("RS256")
    for name, value in (("kid", "x"), ("algorithms", frozenset({"HS256"})), ("_verifiers", {})):
        with pytest.raises(AttributeError):
            setattr(key, name, value)
    with pytest.raises(AttributeError):
        del key.kid
    with pytest.raises(AttributeError):
        key.extra = 1
    assert isinstance(key.algorithms, frozenset)


def test_repr_has_no_key_material(keys: Keys) -> None:
    jwk = rsa_jwk(keys.rsa.public_key(), kid="r")
    text = repr(key_from_jwk(jwk))
    assert "kid='r'" in text and jwk["n"][:16] not in text
    secret = b"super-secret-value-" * 3
    assert "super-secret" not in repr(hmac_key(secret))


# -- property tests ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
member_values = st.one_of(
    json_values,
    st.binary(max_size=70).map(b64u),
    st.sampled_from(["P-256", "P-384", "P-521", "Ed25519", "Ed448", "sig", "enc", "verify"]),
)
jwk_like = st.fixed_dictionaries(
    {"kty": st.sampled_from(["RSA", "EC", "OKP", "oct", "x"]) | json_values},
    optional={
        name: member_values
        for name in ("kid", "alg", "use", "key_ops", "crv", "x", "y", "n", "e", "d", "k")
    },
)


@settings(max_examples=300, deadline=None)
@given(jwk_like)
def test_key_from_jwk_only_raises_unsupported_key_error(jwk: dict[str, Any]) -> None:
    try:
        key = key_from_jwk(jwk)
    except UnsupportedKeyError:
        return
    assert key.algorithms <= SUPPORTED_ALGORITHMS - set(HMAC_ALGS)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    alg=st.sampled_from([*ALL_ALGS, "none", "x"]),
    signature=st.binary(max_size=300),
    signing_input=st.binary(max_size=64),
)
def test_garbage_signatures_only_raise_invalid_token(
    keys: Keys, alg: str, signature: bytes, signing_input: bytes
) -> None:
    for key_alg in ("RS256", "ES256", "ES512", "EdDSA", "HS256"):
        with pytest.raises(MCPAuthTokenVerificationException):
            keys.verification_for(key_alg).verify(alg, signing_input, signature)


# -- Wycheproof --------------------------------------------------------------------------------


def _wycheproof_ecdsa_jwk(group: dict[str, Any]) -> dict[str, Any]:
    if "publicKeyJwk" in group:
        return dict(group["publicKeyJwk"])
    point = group["publicKey"]
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": int_b64u(int(point["wx"], 16), 32),
        "y": int_b64u(int(point["wy"], 16), 32),
    }


WYCHEPROOF_FILES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]], int]] = {
    # file: (JWS alg, group -> JWK, groups our import rules are expected to refuse)
    "ecdsa_secp256r1_sha256_p1363_test.json": ("ES256", _wycheproof_ecdsa_jwk, 0),
    "ed25519_test.json": ("EdDSA", lambda group: dict(group["publicKeyJwk"]), 0),
    "rsa_signature_2048_sha256_test.json": ("RS256", lambda group: dict(group["keyJwk"]), 0),
}


@pytest.mark.parametrize("name", sorted(WYCHEPROOF_FILES))
def test_wycheproof(name: str) -> None:
    path = WYCHEPROOF / name
    alg, to_jwk, expected_refused = WYCHEPROOF_FILES[name]
    data = json.loads(path.read_text())
    refused = accepted = rejected = 0
    failures: list[str] = []
    for group in data["testGroups"]:
        try:
            key = key_from_jwk(to_jwk(group))
        except UnsupportedKeyError:
            refused += 1
            continue
        for test in group["tests"]:
            message = bytes.fromhex(test["msg"])
            signature = bytes.fromhex(test["sig"])
            try:
                key.verify(alg, message, signature)
                ok = True
            except MCPAuthTokenVerificationException:
                ok = False
            if test["result"] == "valid" and not ok:
                failures.append(f"tcId {test['tcId']} valid but rejected ({test['comment']})")
            elif test["result"] == "invalid" and ok:
                failures.append(f"tcId {test['tcId']} invalid but accepted ({test['comment']})")
            accepted += ok
            rejected += not ok
    assert failures == []
    assert refused == expected_refused
    assert accepted + rejected == data["numberOfTests"]
    assert rejected >= sum(t["result"] == "invalid" for g in data["testGroups"] for t in g["tests"])


# -- RSASSA-PKCS1-v1_5 by encoding and comparing ---------------------------------------------

DIGEST_INFO = {
    "RS256": (bytes.fromhex("3031300d060960864801650304020105000420"), hashlib.sha256),
    "RS384": (bytes.fromhex("3041300d060960864801650304020205000430"), hashlib.sha384),
    "RS512": (bytes.fromhex("3051300d060960864801650304020305000440"), hashlib.sha512),
}
PKCS1_ALGS = tuple(DIGEST_INFO)


def raw_rsa_sign(private: rsa.RSAPrivateKey, encoded_message: bytes) -> bytes:
    """``EM^d mod n``: a signature of any block, well formed or not."""
    numbers = private.private_numbers()
    n = numbers.public_numbers.n
    size = (n.bit_length() + 7) // 8
    return pow(int.from_bytes(encoded_message, "big"), numbers.d, n).to_bytes(size, "big")


def pkcs1_block(size: int, digest_info: bytes, *, block_type: int = 1, fill: int = 0xFF,
                trailer: bytes = b"") -> bytes:
    body = digest_info + trailer
    return bytes([0, block_type]) + bytes([fill]) * (size - len(body) - 3) + b"\x00" + body


def keys_hash(alg: str) -> hashes.HashAlgorithm:
    return {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}[alg]


def cryptography_accepts(public: rsa.RSAPublicKey, alg: str, data: bytes, sig: bytes) -> bool:
    try:
        public.verify(sig, data, padding.PKCS1v15(), keys_hash(alg))
    except Exception:  # noqa: BLE001 - any refusal
        return False
    return True


@pytest.mark.parametrize("alg", PKCS1_ALGS)
def test_pkcs1v15_decides_as_cryptography_verify_does(keys: Keys, alg: str) -> None:
    private = keys.rsa
    public = private.public_key()
    key = keys.verification_for(alg)
    n = public.public_numbers().n
    size = (n.bit_length() + 7) // 8
    prefix, digest = DIGEST_INFO[alg]
    data = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9"
    good = raw_rsa_sign(private, pkcs1_block(size, prefix + digest(data).digest()))
    assert good == private.sign(data, padding.PKCS1v15(), keys_hash(alg))  # the crafting is right
    key.verify(alg, data, good)
    other_alg = "RS512" if alg != "RS512" else "RS256"
    other_prefix, other_digest = DIGEST_INFO[other_alg]
    bad = {
        "other data": raw_rsa_sign(private, pkcs1_block(size, prefix + digest(b"x").digest())),
        "another hash's DigestInfo": raw_rsa_sign(
            private, pkcs1_block(size, other_prefix + other_digest(data).digest())),
        "bytes after the DigestInfo": raw_rsa_sign(
            private, pkcs1_block(size, prefix + digest(data).digest(), trailer=b"\x00" * 4)),
        "a non-FF padding byte": raw_rsa_sign(
            private, pkcs1_block(size, prefix + digest(data).digest(), fill=0xFE)),
        "block type 2": raw_rsa_sign(
            private, pkcs1_block(size, prefix + digest(data).digest(), block_type=2)),
        "one byte short": good[1:],
        "one byte long": b"\x00" + good,
        "empty": b"",
        "s = n": n.to_bytes(size, "big"),
        "s = 0": bytes(size),
        "s = 1": (1).to_bytes(size, "big"),
        "s = n - 1": (n - 1).to_bytes(size, "big"),
        "a bit flipped": bytes([good[0] ^ 1]) + good[1:],
    }
    # A signature whose first byte is 0 without that byte: the same number, the wrong length.
    for i in range(4096):
        leading_zero = private.sign(b"%d" % i, padding.PKCS1v15(), keys_hash(alg))
        if leading_zero[0] == 0:
            key.verify(alg, b"%d" % i, leading_zero)
            assert rejects(key, alg, b"%d" % i, leading_zero[1:]) == (
                "signature verification failed")
            break
    else:
        pytest.fail("no signature with a leading zero byte in 4096 tries")
    for what, signature in bad.items():
        assert not cryptography_accepts(public, alg, data, signature), what
        assert rejects(key, alg, data, signature) == "signature verification failed", what


@pytest.mark.parametrize("alg", PKCS1_ALGS)
def test_pkcs1v15_refuses_a_digest_info_without_null_parameters(keys: Keys, alg: str) -> None:
    # RFC 8017 9.2 note 2 allows verifiers to accept the absent-NULL encoding; we do not:
    # one spelling of a signed message only.
    private = keys.rsa
    size = (private.public_key().public_numbers().n.bit_length() + 7) // 8
    prefix, digest = DIGEST_INFO[alg]
    data = b"header.payload"
    # SEQUENCE { SEQUENCE { OID }, OCTET STRING }: both lengths 2 shorter, "05 00" dropped.
    without_null = bytes([0x30, prefix[1] - 2, 0x30, prefix[3] - 2]) + prefix[4:15] + prefix[17:]
    assert without_null[-2] == 0x04 and len(without_null) == len(prefix) - 2
    signature = raw_rsa_sign(private, pkcs1_block(size, without_null + digest(data).digest()))
    assert rejects(keys.verification_for(alg), alg, data, signature) == (
        "signature verification failed")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.sampled_from(PKCS1_ALGS), st.binary(max_size=300), st.data())
def test_pkcs1v15_agrees_with_verify_on_damaged_signatures(
    keys: Keys, alg: str, data: bytes, draw: st.DataObject
) -> None:
    public = keys.rsa.public_key()
    signature = bytearray(keys.rsa.sign(data, padding.PKCS1v15(), keys_hash(alg)))
    for _ in range(draw.draw(st.integers(0, 3))):
        signature[draw.draw(st.integers(0, len(signature) - 1))] ^= draw.draw(st.integers(1, 255))
    key = keys.verification_for(alg)
    if cryptography_accepts(public, alg, data, bytes(signature)):
        key.verify(alg, data, bytes(signature))
    else:
        rejects(key, alg, data, bytes(signature))


@pytest.mark.parametrize("alg", ["PS256", "PS384", "PS512"])
def test_pss_signature_without_its_leading_zero_byte_is_refused(keys: Keys, alg: str) -> None:
    # RFC 8017 8.1.2 step 1: a signature is exactly k octets. OpenSSL would take one whose
    # leading zero byte was dropped (the same number), so the length is checked first.
    hash_ = keys_hash("RS" + alg[2:])
    pss = padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
    key = keys.verification_for(alg)
    for _ in range(4096):  # PSS signatures are randomised: about 1 in 256 starts with 0
        signature = keys.rsa.sign(b"header.payload", pss, hash_)
        if signature[0] == 0:
            break
    else:
        pytest.fail("no signature with a leading zero byte in 4096 tries")
    key.verify(alg, b"header.payload", signature)
    assert rejects(key, alg, b"header.payload", signature[1:]) == (
        "signature verification failed")
