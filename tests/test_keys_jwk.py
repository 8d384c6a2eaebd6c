"""Keys from JWKs and JWKS documents (``key_from_jwk``, ``keys_from_jwks``, ``hmac_key``): the
members, strict base64url, curve points and sizes, HMAC secrets, the ``VerificationKey``."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from support.keys import (
    EC_ALGS,
    EC_SIZES,
    HMAC_ALGS,
    RSA_ALGS,
    Keys,
    b64u,
    ec_jwk,
    int_b64u,
    okp_jwk,
    refuses,
    rejects,
    rsa_jwk,
    sign,
)

from mcpauth_fast.keys import (
    SUPPORTED_ALGORITHMS,
    UnsupportedKeyError,
    hmac_key,
    key_from_jwk,
    keys_from_jwks,
)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


ALL_ALGS = sorted(SUPPORTED_ALGORITHMS)


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
