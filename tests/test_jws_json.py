"""The JSON inside a token: both implementations decode it with orjson, and agree with each
other on every document, type for type (1 is not 1.0, -0.0 is not 0.0); the strictness rules
hold on each of them."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.implementations import compiled_module
from support.tokens import b64url

from mcpauth_fast import _speedups_py as py
from mcpauth_fast.exceptions import MCPAuthException

c = compiled_module()
needs_c = pytest.mark.skipif(c is None, reason="the compiled extension is not in use")
HEADER = b64url(b'{"alg":"RS256"}')


def payload_outcome(module: Any, raw: bytes) -> str:
    """The payload ``module.decode_jws`` decodes from ``raw``, or its error, as a repr (exact
    types and signs)."""
    try:
        decoded = module.decode_jws(f"{HEADER}.{b64url(raw)}.AAAA", 1 << 20)[1]
    except MCPAuthException as exc:
        return f"error {exc.error_code} {exc.cause}"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))  # repr of the deepest accepted documents
    try:
        return repr(decoded)
    finally:
        sys.setrecursionlimit(limit)


def assert_same(raw: bytes) -> str:
    """Both implementations on ``raw`` as a payload, and wrapped as a claim's value."""
    ours = payload_outcome(c, raw)
    assert ours == payload_outcome(py, raw)
    wrapped = b'{"v":' + raw + b"}"
    assert payload_outcome(c, wrapped) == payload_outcome(py, wrapped)
    return ours


EDGES = [
    # numbers: int64/uint64 stay ints, beyond them the rounded double; no infinity
    b"18446744073709551615", b"18446744073709551616", b"-9223372036854775808",
    b"-9223372036854775809", b"123456789012345678901234567890", b"-0", b"-0.0", b"0e99999",
    b"1e400", b"-1e400", b"1e-400", b"-1e-400", b"1.7976931348623157e308",
    b"1.7976931348623159e308", b"4.9e-324", b"2.4703282292062327e-324", b"9007199254740993",
    b"0.30000000000000004", b"1E5", b"2.5E-3", b"-0e+00", b"1" * 5000, b"0." + b"0" * 400 + b"1",
    b"01", b"-01", b"00", b"1.", b".5", b"1e", b"1e+", b"+1", b"-", b"[-]", b"[--1]",
    # strings: escapes, surrogate pairs only as pairs, strict UTF-8, no raw control character
    b'"\\/\\b\\f\\n\\r\\t\\"\\\\"', b'"\\u00e9"', b'"\\u0000"', b'"\\ud83d\\ude00"', b'"\\ud800"',
    b'"\\udc00"', b'"\\ud83dx"', b'"\\ud83d\\u0041"', b'"\\ud83d\\"', b'"\\u12"', b'"\\u12g4"',
    b'"\\x"', b'"\\U0041"', b'"\\', b'"abc', b'"\x01"', b'"a\tb"', b'"\x7f"', b'"\xc3\xa9"',
    b'"\xc3"', b'"\xc3\\u00a9"', b'"\xed\xa0\x80"', b'"\xc0\x80"', b'"\xf4\x90\x80\x80"',
    b'"\xf0\x9f\x98\x80"', b'"\xff"', b'"\xe2\x82"', b'{"\xc3\xa9":1}', b'{"a\\u0000b":1}',
    # structure: duplicate keys (the last wins, in the first one's place), commas, literals
    b'{"a":1,"b":2,"a":3}', b"[1,]", b'{"a":1,}', b"[1 2]", b'{"a" 1}', b'{"a":}', b"{,}",
    b"[,]", b"{1:2}", b"true", b"false", b"null", b"nul", b"tru", b"truee", b"NaN",
    b"Infinity", b"[]", b"{}", b"[[]]", b'{"":""}',
    # keys spelled as the claim names the parser knows, and near them: escaped, longer,
    # shorter, with a control character, unterminated, the longest known one and one more
    b'{"iss":1,"sub":2,"aud":3,"exp":4,"scope":5,"client_id":6,"jti":7,"iss":8}',
    b'{"i\\u0073s":1}', b'{"issx":1}', b'{"is":1}', b'{"iss\x01":1}', b'{"\x01ss":1}',
    b'{"iss', b'{"iss\\"', b'{"entitlements":1}', b'{"entitlementsx":1}', b'{"isS":1}',
    b'{"kid":{"kid":"kid"}}', b'{"scp":[{"scopes":null}]}', b'{"\xc3\xa9ss":1}',
    # around the document: JSON whitespace only, nothing after it, no BOM
    b" \t\n\r{} \t\n\r", b"\x0c{}", b"{}x", b"{}\x00", b"", b" ", b"\xef\xbb\xbf{}",
    # nesting: 1024 containers, not 1025
    b"[" * 1024 + b"]" * 1024, b"[" * 1025 + b"]" * 1025,
    b'{"a":' * 1024 + b"1" + b"}" * 1024, b'{"a":' * 1025 + b"1" + b"}" * 1025,
]


@needs_c
@pytest.mark.parametrize("raw", EDGES, ids=lambda raw: repr(raw[:24]))
def test_edge_documents_agree(raw: bytes) -> None:
    assert_same(raw)


# In this order: the parser keeps the last value of names like iss and reuses it for the
# same text, so each document here follows one whose value is close to its own.
REPEATED_VALUES = [
    b'{"iss":"abc"}', b'{"iss":"abc"}', b'{"iss":"abcd"}', b'{"iss":"abc"}', b'{"iss":"ab"}',
    b'{"iss":"ab\\u0063"}', b'{"iss":"ab"}', b'{"iss":"ab\\"c"}', b'{"iss":"ab"c"}',
    b'{"iss":"ab\\\\"}', b'{"iss":"ab\\"}', b'{"iss":"ab"}', b'{"iss":"ab', b'{"iss":"ab"',
    b'{"iss":"ab",}', b'{"iss": \t"ab" }',
    b'{"iss":"ab\x01"}', b'{"iss":"ab\x00"}', b'{"iss":1}', b'{"iss":["ab"]}', b'{"iss":null}',
    b'{"iss":"ab"}', b'{"iss":"\xc3\xa9"}', b'{"iss":"\xc3\xa9"}', b'{"iss":"\xc3"}',
    b'{"iss":"' + b"x" * 256 + b'"}', b'{"iss":"' + b"x" * 256 + b'"}',
    b'{"iss":"' + b"x" * 257 + b'"}', b'{"iss":"' + b"x" * 257 + b'"}', b'{"iss":""}',
    b'{"iss":""}', b'{"iss":"\\u0000"}', b'{"iss":""', b'{"act":{"iss":""},"iss":"a"}',
    b'{"scope":"a b","aud":["a","b"],"client_id":"c","typ":"at+jwt"}',
    b'{"scope":"a b","aud":"a","client_id":"c\\u0000","typ":"at+jwt"}',
    b'{"scope":"a b","aud":"a","client_id":"c","scp":"x"}',
]


@needs_c
def test_repeated_values_agree() -> None:
    for raw in REPEATED_VALUES:
        assert_same(raw)


@needs_c
@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"n":18446744073709551615,"m":18446744073709551616,"z":-0,"f":-0.0}',
     "{'n': 18446744073709551615, 'm': 1.8446744073709552e+19, 'z': 0, 'f': -0.0}"),
    (b'{"a":1,"b":2,"a":3}', "{'a': 3, 'b': 2}"),
    (b'{"s":"\\ud83d\\ude00\xc3\xa9\\n"}', repr({"s": "\U0001F600\u00e9\n"})),
    (b'{"exp":1e400}', "error invalid_token payload: invalid JSON"),
    (b'{"s":"\\ud800"}', "error invalid_token payload: invalid JSON"),
    (b'{"s":"\xed\xa0\x80"}', "error invalid_token payload: invalid JSON"),
    (b"[" * 1025 + b"]" * 1025, "error invalid_token payload: invalid JSON"),
    (b"[1]", "error invalid_token payload: not a JSON object"),
])
def test_what_a_payload_decodes_to(raw: bytes, expected: str) -> None:
    assert payload_outcome(c, raw) == expected


json_documents = st.recursive(
    st.none() | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
JSON_BYTES = b'{}[]:,"\\ -+.eE0123456789tfnrulasu\x00\x1f\x7f\x80\xc3\xa9\xed\xa0\xff\t\n'


@needs_c
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_documents, st.booleans(), st.sampled_from([None, 1]),
       st.lists(st.tuples(st.sampled_from(["insert", "delete", "replace"]),
                          st.integers(min_value=0), st.sampled_from(JSON_BYTES)), max_size=3))
def test_documents_and_their_mutations_agree(
    value: Any, ascii_only: bool, indent: int | None, edits: list[tuple[str, int, int]]
) -> None:
    text = bytearray(json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode())
    assert_same(bytes(text))
    for op, where, byte in edits:
        at = where % (len(text) + 1)
        if op == "insert":
            text.insert(at, byte)
        elif text:
            at = min(at, len(text) - 1)
            if op == "delete":
                del text[at]
            else:
                text[at] = byte
    assert_same(bytes(text))


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"exp":NaN}', "error invalid_token payload: invalid JSON"),
    (b'{"exp":Infinity}', "error invalid_token payload: invalid JSON"),
    (b'{"exp":-Infinity}', "error invalid_token payload: invalid JSON"),
    (b'{"s":"\\ud800"}', "error invalid_token payload: invalid JSON"),  # a lone high surrogate
    (b'{"s":"\\udc00"}', "error invalid_token payload: invalid JSON"),  # a lone low surrogate
    (b'{"s":"\xed\xa0\x80"}', "error invalid_token payload: invalid JSON"),  # one in UTF-8
    (b'{"s":"\\ud83d\\ude00"}', repr({"s": "\U0001F600"})),  # a pair is one character
    (b'{"a":1,"b":2,"a":3}', "{'a': 3, 'b': 2}"),  # the last duplicate key wins
    (b'{"s":"\xff"}', "error invalid_token payload: invalid JSON"),  # not UTF-8
    (b"{} x", "error invalid_token payload: invalid JSON"),  # nothing after the document
])
def test_the_strictness_rules_hold_on_each_implementation(
    speedups: Any, raw: bytes, expected: str
) -> None:
    # Depth and sizes: tests/test_limits.py, at each limit and one past it.
    assert payload_outcome(speedups, raw) == expected
