"""Each limit of the hot path, defined once in ``_limits``, at ``(limit, limit + 1)`` on both
implementations."""

from __future__ import annotations

from types import ModuleType

import pytest
from support.tokens import b64url, b64url_json

from mcpauth_fast import _limits, _speedups_py
from mcpauth_fast.exceptions import MCPAuthTokenVerificationException

HEADER = b64url_json({"alg": "RS256"})
PAYLOAD = b64url_json({"iss": "https://issuer.example", "sub": "alice", "exp": 4102444800})
SIG = b64url(bytes(256))
NOW = 1_700_000_000.0


def cause(fn, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(MCPAuthTokenVerificationException) as info:
        fn(*args)
    return str(info.value.cause)


def test_both_implementations_take_the_limits_from_one_place(speedups: ModuleType) -> None:
    for name in ("DEFAULT_MAX_TOKEN_BYTES", "MAX_HEADER_SEGMENT", "MAX_SIGNATURE_SEGMENT",
                 "MAX_KID_LENGTH", "HEADER_MEMO_SIZE"):
        assert getattr(speedups, name) is getattr(_limits, name), name


def token_of_length(length: int) -> str:
    """A well-formed token of exactly ``length`` characters (a padded claim, a signature of
    the right size)."""
    for pad in range(length):
        payload = b64url_json({"iss": "https://issuer.example", "sub": "alice", "p": "a" * pad})
        for size in range(250, 260):
            token = f"{HEADER}.{payload}.{b64url(bytes(size))}"
            if len(token) == length:
                return token
    raise AssertionError(length)


def test_default_max_token_bytes(speedups: ModuleType) -> None:
    limit = _limits.DEFAULT_MAX_TOKEN_BYTES
    assert speedups.parse_bearer(b"Bearer " + b"a" * limit) == "a" * limit
    assert cause(speedups.parse_bearer, b"Bearer " + b"a" * (limit + 1)) == (
        f"token is larger than {limit} bytes")
    token = token_of_length(limit)
    assert speedups.decode_jws(token)[1]["sub"] == "alice"
    assert cause(speedups.decode_jws, token + "A") == f"token is larger than {limit} bytes"


def test_max_header_segment(speedups: ModuleType) -> None:
    limit = _limits.MAX_HEADER_SEGMENT
    # At the limit the segment is decoded (and is no JSON); one more is refused unread.
    assert cause(speedups.decode_jws, f"{'e' * limit}.{PAYLOAD}.{SIG}") == "header: invalid JSON"
    assert cause(speedups.decode_jws, f"{'e' * (limit + 1)}.{PAYLOAD}.{SIG}") == (
        "header segment is too large")


def test_max_signature_segment(speedups: ModuleType) -> None:
    limit = _limits.MAX_SIGNATURE_SEGMENT
    assert speedups.decode_jws(f"{HEADER}.{PAYLOAD}.{'A' * limit}")[3] == bytes(limit * 3 // 4)
    assert cause(speedups.decode_jws, f"{HEADER}.{PAYLOAD}.{'A' * (limit + 1)}") == (
        "signature segment is too large")


def test_max_kid_length(speedups: ModuleType) -> None:
    limit = _limits.MAX_KID_LENGTH
    checks = speedups.TokenChecks(frozenset({"RS256"}))
    for kid, ok in (("k" * limit, True), ("k" * (limit + 1), False)):
        token = f"{b64url_json({'alg': 'RS256', 'kid': kid})}.{PAYLOAD}.{SIG}"
        if ok:
            assert speedups.check_header({"alg": "RS256", "kid": kid}, checks.algorithms)[1] == kid
            assert checks.check(token, NOW).kid == kid
        else:
            assert cause(speedups.check_header, {"alg": "RS256", "kid": kid},
                         checks.algorithms) == "header: kid is too long"
            assert cause(checks.check, token, NOW) == "header: kid is too long"


def test_header_memo_size(speedups: ModuleType) -> None:
    limit = _limits.HEADER_MEMO_SIZE
    checks = speedups.TokenChecks(frozenset({"RS256"}))
    for i in range(limit):
        checks.check(f"{b64url_json({'alg': 'RS256', 'kid': str(i)})}.{PAYLOAD}.{SIG}", NOW)
    assert checks.remembered_headers == limit
    checks.check(f"{b64url_json({'alg': 'RS256', 'kid': 'one more'})}.{PAYLOAD}.{SIG}", NOW)
    assert checks.remembered_headers == 1  # full: the memory started over


def test_scope_memo_max_chars(speedups: ModuleType) -> None:
    limit = _limits.SCOPE_MEMO_MAX_CHARS
    for length, remembered in ((limit, True), (limit + 1, False)):
        scope = ("s " * length)[:length]
        first = speedups.extract_scopes({"scope": scope})
        again = speedups.extract_scopes({"scope": scope})
        assert first == ["s"] and (first is again) == remembered
        info = speedups.auth_info_from_claims("t", "i", {"sub": "alice", "scope": scope})
        assert info.scopes == ["s"] and (info.scopes is first) == remembered


def test_scope_memo_size(speedups: ModuleType) -> None:
    limit = _limits.SCOPE_MEMO_SIZE
    memo = _speedups_py._scope_memo  # one memory, shared by both implementations
    memo.clear()
    for i in range(limit):
        speedups.extract_scopes({"scope": f"scope-{i}"})
    assert len(memo) == limit
    speedups.extract_scopes({"scope": "one more"})
    assert len(memo) == 1  # full: the memory started over


@pytest.mark.parametrize("extra", [0, 1])
def test_max_json_depth(speedups: ModuleType, extra: int) -> None:
    depth = _limits.MAX_JSON_DEPTH + extra
    raw = b'{"sub":"alice","v":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    token = f"{HEADER}.{b64url(raw)}.{SIG}"
    if extra:
        assert cause(speedups.decode_jws, token) == "payload: invalid JSON"
    else:
        assert speedups.decode_jws(token)[1]["sub"] == "alice"
