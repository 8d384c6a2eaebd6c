"""Strict base64url, compact JWS splitting, size caps and header policy, on both implementations."""

from __future__ import annotations

import base64
from types import ModuleType

import pytest
from support.tokens import b64url, b64url_json

from mcpauth_fast.exceptions import MCPAuthTokenVerificationException

HEADER = b64url_json({"alg": "RS256", "kid": "k1"})
PAYLOAD = b64url_json({"sub": "alice", "exp": 2000000000})
SIG = b64url(b"\x01" * 256)
NAN_PAYLOAD = b64url(b'{"exp": NaN}')


def invalid(fn, *args):  # type: ignore[no-untyped-def]
    with pytest.raises(MCPAuthTokenVerificationException) as info:
        fn(*args)
    assert info.value.error_code == "invalid_token"
    assert info.value.status_code == 401
    return info.value.cause


@pytest.mark.parametrize("data", [b"", b"a", b"ab", b"abc", b"abcd", bytes(range(256)), b"\xff"])
def test_b64url_round_trip(speedups: ModuleType, data: bytes) -> None:
    assert speedups.b64url_decode(b64url(data)) == data


@pytest.mark.parametrize("segment,message", [
    ("YQ==", "invalid base64url character"),   # padding
    ("YQ=", "invalid base64url character"),
    ("a+bc", "invalid base64url character"),   # standard alphabet
    ("a/bc", "invalid base64url character"),
    ("ab c", "invalid base64url character"),
    ("abé", "invalid base64url character"),
    ("ab\n", "invalid base64url character"),
    ("a", "invalid base64url length"),
    ("abcde", "invalid base64url length"),
    ("YR", "non-canonical base64url"),         # 'a' is YQ; R sets unused bits
    ("YWJ", "non-canonical base64url"),        # 'ab' is YWI
])
def test_b64url_is_strict(speedups: ModuleType, segment: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        speedups.b64url_decode(segment)
    assert str(info.value) == message


def test_decode_jws_returns_parts(speedups: ModuleType) -> None:
    header, payload, signing_input, signature = speedups.decode_jws(f"{HEADER}.{PAYLOAD}.{SIG}")
    assert header == {"alg": "RS256", "kid": "k1"}
    assert payload == {"sub": "alice", "exp": 2000000000}
    assert signing_input == f"{HEADER}.{PAYLOAD}".encode()
    assert signature == b"\x01" * 256


@pytest.mark.parametrize("token,cause", [
    (f"{HEADER}.{PAYLOAD}", "token is not a compact JWS (three segments)"),
    (f"{HEADER}.{PAYLOAD}.{SIG}.x.y", "token is not a compact JWS (three segments)"),
    ("abc", "token is not a compact JWS (three segments)"),
    (f"{HEADER}.{PAYLOAD}.", "signature is empty"),
    (f"{HEADER}.{PAYLOAD}.{SIG}=", "signature: invalid base64url character"),
    (f"{HEADER}=.{PAYLOAD}.{SIG}", "header: invalid base64url character"),
    (f"{HEADER}.abcde.{SIG}", "payload: invalid base64url length"),
    (f"{b64url(b'not json')}.{PAYLOAD}.{SIG}", "header: invalid JSON"),
    (f"{b64url_json([1, 2])}.{PAYLOAD}.{SIG}", "header: not a JSON object"),
    (f"{HEADER}.{b64url_json('str')}.{SIG}", "payload: not a JSON object"),
    (f"{HEADER}.{NAN_PAYLOAD}.{SIG}", "payload: invalid JSON"),
    (f"{HEADER}.{b64url(b'[' * 2000 + b']' * 2000)}.{SIG}", "payload: invalid JSON"),
    (f".{PAYLOAD}.{SIG}", "header: invalid JSON"),
])
def test_decode_jws_rejects(speedups: ModuleType, token: str, cause: str) -> None:
    assert invalid(speedups.decode_jws, token) == cause


def test_size_caps_are_checked_before_decoding(speedups: ModuleType) -> None:
    token = f"{HEADER}.{PAYLOAD}.{SIG}"
    assert speedups.decode_jws(token, len(token))
    assert invalid(speedups.decode_jws, token, len(token) - 1) == (
        f"token is larger than {len(token) - 1} bytes")
    assert invalid(speedups.decode_jws, "a" * 9000) == "token is larger than 8192 bytes"
    big_header = "e" * (speedups.MAX_HEADER_SEGMENT + 4)
    assert invalid(speedups.decode_jws, f"{big_header}.{PAYLOAD}.{SIG}") == (
        "header segment is too large")
    big_sig = "A" * (speedups.MAX_SIGNATURE_SEGMENT + 2)
    assert invalid(speedups.decode_jws, f"{HEADER}.{PAYLOAD}.{big_sig}") == (
        "signature segment is too large")
    # A 1024-byte signature (RSA-8192) is the largest that fits.
    assert speedups.decode_jws(f"{HEADER}.{PAYLOAD}.{b64url(bytes(1024))}")[3] == bytes(1024)


def test_duplicate_json_keys_take_the_last_value_like_pyjwt(speedups: ModuleType) -> None:
    payload = b64url(b'{"sub":"alice","sub":"mallory"}')
    assert speedups.decode_jws(f"{HEADER}.{payload}.{SIG}")[1] == {"sub": "mallory"}


ALGS = frozenset({"RS256", "ES256"})


def test_check_header_returns_alg_and_kid(speedups: ModuleType) -> None:
    assert speedups.check_header({"alg": "RS256", "kid": "k"}, ALGS) == ("RS256", "k")
    assert speedups.check_header({"alg": "ES256"}, ALGS) == ("ES256", None)
    assert speedups.check_header({"alg": "ES256", "typ": "at+jwt"}, ALGS, "at+jwt") == (
        "ES256", None)
    assert speedups.check_header({"alg": "ES256", "typ": "application/AT+JWT"}, ALGS,
                                 "at+jwt") == ("ES256", None)


@pytest.mark.parametrize("header,typ,cause", [
    ({}, None, "header: alg is missing or not a string"),
    ({"alg": None}, None, "header: alg is missing or not a string"),
    ({"alg": ["RS256"]}, None, "header: alg is missing or not a string"),
    ({"alg": "none"}, None, "header: alg is not allowed"),
    ({"alg": "None"}, None, "header: alg is not allowed"),
    ({"alg": "NONE"}, None, "header: alg is not allowed"),
    ({"alg": "HS256"}, None, "header: alg is not allowed"),
    ({"alg": "rs256"}, None, "header: alg is not allowed"),
    ({"alg": "RS256", "kid": 1}, None, "header: kid is not a string"),
    ({"alg": "RS256", "kid": ["a"]}, None, "header: kid is not a string"),
    ({"alg": "RS256", "kid": "k" * 513}, None, "header: kid is too long"),
    ({"alg": "RS256", "crit": ["exp"]}, None, "header: unsupported critical header parameter"),
    ({"alg": "RS256", "crit": []}, None, "header: unsupported critical header parameter"),
    ({"alg": "RS256", "typ": "JWT"}, "at+jwt", "header: typ does not match"),
    ({"alg": "RS256"}, "at+jwt", "header: typ does not match"),
    ({"alg": "RS256", "typ": 1}, "at+jwt", "header: typ does not match"),
])
def test_check_header_rejects(speedups: ModuleType, header: dict, typ: str | None,
                              cause: str) -> None:
    assert invalid(speedups.check_header, header, ALGS, typ) == cause


def test_b64url_agrees_with_the_standard_library_on_canonical_input(speedups: ModuleType) -> None:
    for n in range(64):
        data = bytes((i * 37 + n) % 256 for i in range(n))
        encoded = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        assert speedups.b64url_decode(encoded) == data


# --- TokenChecks: decode, header, time claims and iss in one call, with a header memory.

NOW = 1_800_000_000.0
GOOD_PAYLOAD = {"iss": "https://issuer.example", "sub": "alice", "exp": NOW + 600}


def token_of(header: dict, payload: dict, sig: bytes = b"\x01" * 64) -> str:
    return f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(sig)}"


def test_token_checks_returns_what_the_verifier_needs(speedups: ModuleType) -> None:
    checks = speedups.TokenChecks(frozenset({"ES256"}), None, 8192, 60.0)
    token = token_of({"alg": "ES256", "kid": "k1"}, GOOD_PAYLOAD)
    payload, signing_input, signature, alg, kid, issuer, valid_until = checks.check(token, NOW)
    assert payload == GOOD_PAYLOAD and signature == b"\x01" * 64
    assert signing_input == token.rsplit(".", 1)[0].encode()
    assert (alg, kid, issuer, valid_until) == ("ES256", "k1", GOOD_PAYLOAD["iss"], NOW + 660)


def test_a_remembered_header_does_not_let_a_bad_token_through(speedups: ModuleType) -> None:
    checks = speedups.TokenChecks(frozenset({"ES256"}), "at+jwt")
    header = {"alg": "ES256", "kid": "k1", "typ": "at+jwt"}
    for _ in range(2):  # the second time the header comes from the memory
        assert checks.check(token_of(header, GOOD_PAYLOAD), NOW)[3] == "ES256"
        assert "expired" in invalid(checks.check, token_of(header, {**GOOD_PAYLOAD,
                                                                    "exp": NOW - 3600}), NOW)
        assert "iss" in invalid(checks.check, token_of(header, {"sub": "a", "exp": NOW + 9}), NOW)
        assert "signature" in invalid(checks.check, token_of(header, GOOD_PAYLOAD) + "!", NOW)
        assert "payload" in invalid(checks.check, b64url_json(header) + ".e30x." + SIG, NOW)
    # A header refused once is refused every time, and each instance has its own policy.
    for _ in range(2):
        assert "typ" in invalid(checks.check, token_of({"alg": "ES256"}, GOOD_PAYLOAD), NOW)
        assert "alg" in invalid(checks.check, token_of({**header, "alg": "RS256"},
                                                       GOOD_PAYLOAD), NOW)
    other = speedups.TokenChecks(frozenset({"RS256"}))
    assert "alg" in invalid(other.check, token_of(header, GOOD_PAYLOAD), NOW)
    # Remembered means this exact segment: one that only starts the same is checked afresh.
    extended = token_of({**header, "crit": ["exp"]}, GOOD_PAYLOAD)
    assert extended.startswith(token_of(header, GOOD_PAYLOAD).split(".")[0][:40])
    assert "critical" in invalid(checks.check, extended, NOW)
    shorter = token_of({"alg": "ES256", "kid": "k1"}, GOOD_PAYLOAD)
    assert "typ" in invalid(checks.check, shorter, NOW)
    # A new policy forgets every header checked under the old one, the last one included.
    assert checks.check(token_of(header, GOOD_PAYLOAD), NOW)[3] == "ES256"
    checks.__init__(frozenset({"RS256"}), "at+jwt")
    assert "alg" in invalid(checks.check, token_of(header, GOOD_PAYLOAD), NOW)


def test_the_header_memory_is_bounded(speedups: ModuleType) -> None:
    checks = speedups.TokenChecks(frozenset({"ES256"}))
    size = speedups.HEADER_MEMO_SIZE
    seen = []
    for i in range(10 * size):
        kid = f"attacker-chosen-{i}"
        assert checks.check(token_of({"alg": "ES256", "kid": kid}, GOOD_PAYLOAD), NOW)[4] == kid
        seen.append(checks.remembered_headers)
    assert max(seen) == size and seen[-1] <= size
    refused = token_of({"alg": "none"}, GOOD_PAYLOAD)
    before = checks.remembered_headers
    invalid(checks.check, refused, NOW)
    assert checks.remembered_headers == before  # only headers that passed are remembered


def test_a_decoded_token_is_a_bearer_token_as_it_stands(speedups: ModuleType) -> None:
    # The compiled cache relies on this: a token that decode_jws accepts (so every token the
    # verifier caches) is base64url characters and dots only, what parse_bearer returns
    # unchanged from "Bearer <token>", so a hit may be served from the header's bytes.
    token = f"{HEADER}.{PAYLOAD}.{SIG}"
    speedups.decode_jws(token)
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    ends = (len(HEADER) - 1, len(HEADER) + len(PAYLOAD), len(token) - 1)  # in each segment
    for where in ends:
        for code in [*range(1, 128), 0xE9, 0x3000]:
            if chr(code) in alphabet:
                continue
            invalid(speedups.decode_jws, token[:where] + chr(code) + token[where + 1:])
        invalid(speedups.decode_jws, token[:where] + "=" + token[where:])  # padding added
    assert speedups.parse_bearer(b"Bearer " + token.encode()) == token
