"""Authorization header scanning and Bearer parsing (REFERENCE section 1), both implementations."""

from __future__ import annotations

from types import ModuleType

import pytest

from mcpauth_fast.exceptions import (
    BearerAuthExceptionCode as Code,
)
from mcpauth_fast.exceptions import (
    MCPAuthBearerAuthException,
    MCPAuthTokenVerificationException,
)

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"


def bearer_code(speedups: ModuleType, value: bytes | None) -> Code:
    with pytest.raises(MCPAuthBearerAuthException) as info:
        speedups.parse_bearer(value)
    assert info.value.status_code == 401
    return info.value.code


@pytest.mark.parametrize("value", [
    b"Bearer " + TOKEN.encode(), b"bearer " + TOKEN.encode(), b"BEARER " + TOKEN.encode(),
    b"bEaReR " + TOKEN.encode(), b"Bearer   " + TOKEN.encode(),
])
def test_valid_bearer_values(speedups: ModuleType, value: bytes) -> None:
    assert speedups.parse_bearer(value) == TOKEN


@pytest.mark.parametrize("token", ["abc", "a-b.c_d~e+f/g", "abc==", "x=", "A" * 100])
def test_rfc6750_token_characters_are_accepted(speedups: ModuleType, token: str) -> None:
    assert speedups.parse_bearer(b"Bearer " + token.encode()) == token


@pytest.mark.parametrize("value", [None, b""])
def test_absent_header_is_missing_auth_header(speedups: ModuleType, value: bytes | None) -> None:
    assert bearer_code(speedups, value) is Code.MISSING_AUTH_HEADER


@pytest.mark.parametrize("value", [
    b"Basic dXNlcjpwYXNz", b"Bearer", b"Bearertoken", b"Token abc", b"Bearer a b",
    b"Bearer abc ", b"Bearer\tabc", b"Bear abc", b" Bearer abc", b"Bearer:abc",
])
def test_malformed_header_is_invalid_format(speedups: ModuleType, value: bytes) -> None:
    assert bearer_code(speedups, value) is Code.INVALID_AUTH_HEADER_FORMAT


@pytest.mark.parametrize("value", [
    b"Bearer ab,c", b"Bearer ab\"c", b"Bearer a=b", b"Bearer ==", b"Bearer \xc3\xa9t\xc3\xa9",
    b"Bearer abc\x00", b"Bearer abc\r\n",
])
def test_token_outside_b64token_is_invalid_token(speedups: ModuleType, value: bytes) -> None:
    # One credential of the wrong characters is a malformed token, as mcpauth answers it
    # (its JWT decoder refuses it): invalid_token in the body and in the challenge.
    with pytest.raises(MCPAuthTokenVerificationException) as info:
        speedups.parse_bearer(value)
    assert info.value.to_json(True) == {
        "error": "invalid_token",
        "error_description": "The provided token is invalid or malformed.",
        "cause": "token is not an RFC 6750 b64token",
    }


@pytest.mark.parametrize("value", [b"Bearer ", b"bearer    "])
def test_empty_token_is_missing_bearer_token(speedups: ModuleType, value: bytes) -> None:
    assert bearer_code(speedups, value) is Code.MISSING_BEARER_TOKEN


def test_messages_match_mcpauth(speedups: ModuleType) -> None:
    with pytest.raises(MCPAuthBearerAuthException) as info:
        speedups.parse_bearer(b"Basic x")
    assert info.value.to_json() == {
        "error": "invalid_auth_header_format",
        "error_description": 'Invalid `Authorization` header format. Expected "Bearer <token>".',
    }


def test_oversized_token_is_refused_before_scanning(speedups: ModuleType) -> None:
    ok = b"Bearer " + b"a" * 100
    assert speedups.parse_bearer(ok, 100) == "a" * 100
    with pytest.raises(MCPAuthTokenVerificationException) as info:
        speedups.parse_bearer(b"Bearer " + b"a" * 101, 100)
    assert info.value.cause == "token is larger than 100 bytes"
    with pytest.raises(MCPAuthTokenVerificationException):
        speedups.parse_bearer(b"Bearer " + b"a" * (speedups.DEFAULT_MAX_TOKEN_BYTES + 1))


def test_find_authorization_absent_once_twice(speedups: ModuleType) -> None:
    headers = [(b"host", b"x"), (b"content-type", b"application/json")]
    assert speedups.find_authorization(headers) is None
    assert speedups.find_authorization([]) is None
    once = headers + [(b"authorization", b"Bearer abc")]
    assert speedups.find_authorization(once) == b"Bearer abc"
    assert speedups.find_authorization([[b"authorization", b"Bearer abc"]]) == b"Bearer abc"
    twice = once + [(b"authorization", b"Bearer def")]
    with pytest.raises(MCPAuthBearerAuthException) as info:
        speedups.find_authorization(twice)
    assert info.value.code is Code.INVALID_REQUEST
    assert info.value.status_code == 400
    assert info.value.oauth_error == "invalid_request"


def test_find_authorization_ignores_case_of_name_and_similar_names(speedups: ModuleType) -> None:
    assert speedups.find_authorization([(b"Authorization", b"Bearer x")]) == b"Bearer x"
    assert speedups.find_authorization([(b"AUTHORIZATION", b"Bearer x")]) == b"Bearer x"
    assert speedups.find_authorization([(b"proxy-authorization", b"Bearer x"),
                                        (b"authorizations", b"y"),
                                        (b"authorizatio", b"z")]) is None


def test_bearer_token_combines_both(speedups: ModuleType) -> None:
    assert speedups.bearer_token([(b"authorization", b"Bearer abc")]) == "abc"
    with pytest.raises(MCPAuthBearerAuthException) as info:
        speedups.bearer_token([(b"host", b"h")])
    assert info.value.code is Code.MISSING_AUTH_HEADER


B64TOKEN_BYTES = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
)


@pytest.mark.parametrize("position", [0, 1, 7, 15, 16, 17, 31, 32, 47, 48, 63, 64, 65, 71])
def test_every_byte_is_classified_at_every_place(speedups: ModuleType, position: int) -> None:
    # The compiled scan checks 16 bytes at a time and the rest one by one: each of the 256
    # byte values, at each place of a block and after the last whole one, is accepted exactly
    # when RFC 6750's b64token allows it.
    for byte in range(256):
        token = bytearray(b"a" * 72)
        token[position] = byte
        value = b"Bearer " + bytes(token)
        if byte == 0x20 and position == 0:  # one more space between scheme and token
            assert speedups.parse_bearer(value) == token[1:].decode()
        elif byte in B64TOKEN_BYTES or (byte == 0x3D and position == 71):  # "=" only at the end
            assert speedups.parse_bearer(value) == token.decode()
        elif byte == 0x20:  # two parts after the scheme
            assert bearer_code(speedups, value) is Code.INVALID_AUTH_HEADER_FORMAT, byte
        else:
            with pytest.raises(MCPAuthTokenVerificationException, match="invalid or malformed"):
                speedups.parse_bearer(value)
