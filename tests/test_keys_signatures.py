"""Signature verification by ``mcpauth_fast.keys``: every algorithm, wrong signatures, the
algorithm/key-type rules, ECDSA and RSA specifics, property tests and the Wycheproof vectors."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.keys import (
    EC_ALGS,
    EC_SIZES,
    HMAC_ALGS,
    NONE_SPELLINGS,
    RSA_ALGS,
    Keys,
    b64u,
    int_b64u,
    okp_jwk,
    refuses,
    rejects,
    rsa_jwk,
    sign,
)

from mcpauth_fast.exceptions import (
    MCPAuthTokenVerificationException,
)
from mcpauth_fast.keys import (
    DEFAULT_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    UnsupportedKeyError,
    hmac_key,
    key_from_jwk,
)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


ALL_ALGS = sorted(SUPPORTED_ALGORITHMS)
WYCHEPROOF = Path(__file__).resolve().parent / "vectors" / "wycheproof"


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
