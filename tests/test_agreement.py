"""The compiled hot path and its pure twin agree on arbitrary input: same value, or the same
error with the same code and reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.implementations import compiled_module
from support.tokens import b64url, b64url_json

from mcpauth_fast import _speedups_py as py
from mcpauth_fast.exceptions import MCPAuthException

c = compiled_module()
pytestmark = pytest.mark.skipif(c is None, reason="the compiled extension is not in use")
SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        result = fn(*args)
        return ("value", type(result).__name__, result)
    except MCPAuthException as exc:
        return ("error", type(exc).__name__, exc.error_code, str(exc.cause), exc.status_code)
    except ValueError as exc:
        # The one documented ValueError; from any other entry point it is a bug.
        if fn.__name__ != "b64url_decode":
            raise
        return ("ValueError", str(exc))


def same(name: str, *args: Any) -> None:
    assert c is not None
    assert outcome(getattr(c, name), *args) == outcome(getattr(py, name), *args)


header_values = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda scheme, sep, tok: scheme + sep + tok,
              st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"Basic", b"Bear", b""]),
              st.sampled_from([b" ", b"  ", b"\t", b"", b"\x00"]),
              st.binary(max_size=40) | st.text("ABCabc012-._~+/= ,\"", max_size=40).map(
                  str.encode)),
)


@SETTINGS
@given(header_values, st.integers(min_value=0, max_value=64))
def test_parse_bearer(value: bytes, cap: int) -> None:
    same("parse_bearer", value, cap)


@SETTINGS
@given(st.lists(st.tuples(
    st.sampled_from([b"authorization", b"Authorization", b"host", b"authorizatio", b"x"]),
    header_values), max_size=5))
def test_find_authorization_and_bearer_token(headers: list[tuple[bytes, bytes]]) -> None:
    same("find_authorization", headers)
    same("bearer_token", headers)


@SETTINGS
@given(st.text(alphabet=st.characters(max_codepoint=300), max_size=40)
       | st.binary(max_size=40).map(b64url))
def test_b64url_decode(segment: str) -> None:
    same("b64url_decode", segment)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
claim_names = st.sampled_from(["exp", "nbf", "iat", "scope", "scopes", "scp", "alg", "kid",
                               "typ", "crit", "iss", "sub", "aud"])
claim_sets = st.dictionaries(claim_names, json_values | st.integers(1_700_000_000, 1_900_000_000),
                             max_size=6)


def _mutate(token: str, data: st.DataObject) -> str:
    i = data.draw(st.integers(min_value=0, max_value=max(0, len(token) - 1)))
    op = data.draw(st.sampled_from(["flip", "cut", "insert", "none"]))
    if op == "flip" and token:
        return token[:i] + data.draw(st.sampled_from("A_-.=+/é\x00")) + token[i + 1:]
    if op == "cut":
        return token[:i]
    if op == "insert":
        return token[:i] + data.draw(st.text(max_size=3)) + token[i:]
    return token


@SETTINGS
@given(claim_sets, claim_sets, st.binary(max_size=80), st.data())
def test_decode_jws(header: dict, payload: dict, sig: bytes, data: st.DataObject) -> None:
    token = f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(sig)}"
    same("decode_jws", token)
    same("decode_jws", _mutate(token, data))
    same("decode_jws", token, data.draw(st.integers(min_value=0, max_value=400)))


def checks_outcome(module: Any, tokens: list[str], options: tuple[Any, ...]) -> list[Any]:
    # One TokenChecks per implementation sees the whole sequence: its header memory may
    # change how much work a token costs, never the outcome.
    checks = module.TokenChecks(*options)
    return [outcome(checks.check, token, now) for token, now in tokens]


# Headers that pass (or nearly pass) the policy, from a small set so that they repeat.
checkable_headers = st.fixed_dictionaries(
    {"alg": st.sampled_from(["RS256", "ES256", "none", "HS256"])},
    optional={"kid": st.sampled_from(["k1", "k2", "", "x" * 600]),
              "typ": st.sampled_from(["at+jwt", "application/AT+JWT", "JWT"]),
              "crit": st.just(["exp"])},
)


@SETTINGS
@given(st.lists(st.tuples(claim_sets | checkable_headers, claim_sets, st.binary(max_size=80),
                          st.booleans()),
                min_size=1, max_size=24),
       st.sampled_from([None, "at+jwt"]), st.sampled_from([0, 60]), st.booleans(),
       st.none() | st.floats(0, 1e6), st.floats(1_600_000_000, 2_000_000_000), st.data())
def test_token_checks_sequences(parts: list[tuple[dict, dict, bytes, bool]], typ: str | None,
                                leeway: float, require_exp: bool, max_age: float | None,
                                now: float, data: st.DataObject) -> None:
    assert c is not None
    tokens = []
    for header, payload, sig, mutate in parts:
        token = f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(sig)}"
        tokens.append((_mutate(token, data) if mutate else token, now))
    options = (frozenset({"RS256", "ES256", "EdDSA"}), typ,
               data.draw(st.sampled_from([8192, 300])), leeway, require_exp, max_age)
    assert checks_outcome(c, tokens, options) == checks_outcome(py, tokens, options)


@SETTINGS
@given(claim_sets, st.sampled_from([None, "at+jwt", "JWT"]))
def test_check_header(header: dict, typ: str | None) -> None:
    same("check_header", header, frozenset({"RS256", "ES256", "EdDSA"}), typ)


@SETTINGS
@given(claim_sets, st.floats(1_600_000_000, 2_000_000_000), st.sampled_from([0, 0.5, 60]),
       st.booleans(), st.none() | st.floats(0, 1e6))
def test_check_time_claims(claims: dict, now: float, leeway: float, require_exp: bool,
                           max_age: float | None) -> None:
    same("check_time_claims", claims, now, leeway, require_exp, max_age)


@SETTINGS
@given(claim_sets)
def test_extract_scopes(claims: dict) -> None:
    same("extract_scopes", claims)


@SETTINGS
@given(json_values, json_values, st.lists(st.text(max_size=3), max_size=3).map(tuple),
       st.none() | st.frozensets(st.text(max_size=3), max_size=3),
       st.none() | st.frozensets(st.text(max_size=3), max_size=3),
       st.lists(st.lists(st.text(max_size=3), min_size=1, max_size=3).map(tuple),
                max_size=3).map(tuple))
def test_check_policy(issuer: Any, audience: Any, scopes: tuple, issuers: Any, audiences: Any,
                      required: tuple) -> None:
    assert c is not None
    def run(mod: Any) -> Any:
        try:
            mod.check_policy(issuer, audience, scopes, issuers, audiences, required)
            return None
        except MCPAuthException as exc:
            return (exc.error_code, exc.to_json(True))
    assert run(c) == run(py)


# Tokens of the same length and the same last 16 characters share a front slot of the
# compiled cache; a non-ASCII one never has one.
_TAIL = "-the.same.tail16"
_CACHE_TOKENS = ["a", "b", "c", "d", "e", "h1." + _TAIL, "h2." + _TAIL, "h1.." + _TAIL,
                 "\u00e9." + _TAIL]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["get", "put", "evict", "clear"]),
                          st.sampled_from(_CACHE_TOKENS),
                          st.floats(0, 100), st.sampled_from(["k1", "k2", None])), max_size=40),
       st.integers(0, 4))
def test_token_cache_sequences(ops: list[tuple[str, str, float, Any]], maxsize: int) -> None:
    assert c is not None
    caches = [c.TokenCache(maxsize), py.TokenCache(maxsize)]
    for op, name, t, kid in ops:
        token = name.encode().decode()  # a new str each time, as each request's token is
        results = []
        for cache in caches:
            if op == "get":
                results.append(cache.get(token, t))
            elif op == "put":
                results.append(cache.put(token, token + "!", t, kid))
            elif op == "evict":
                results.append(cache.evict_kid(kid))
            else:
                results.append(cache.clear())
            results.append((cache.info(), len(cache)))
        assert results[:2] == results[2:]


AUTH_INFO_FIELDS = ("token", "issuer", "client_id", "scopes", "subject", "audience", "claims",
                    "expires_at")


def auth_info_outcome(module: Any, token: str, claims: dict, required: tuple[str, ...]) -> Any:
    try:
        info = module.auth_info_from_claims(token, "https://issuer.example", claims, required)
    except MCPAuthException as exc:
        return ("error", exc.error_code, str(exc.cause))
    except (TypeError, ValueError, OverflowError) as exc:  # float(exp) of a claim never checked
        return ("raised", type(exc).__name__, str(exc))
    # Every field, type for type (1 == 1.0 and ("a",) == ["a"] would hide a difference).
    return [(f, type(getattr(info, f)).__name__, getattr(info, f)) for f in AUTH_INFO_FIELDS]


@SETTINGS
@given(claim_sets, st.dictionaries(st.sampled_from(["sub", "aud", "jti", "client_id", "azp"]),
                                   json_values, max_size=5),
       st.lists(claim_names, max_size=2).map(tuple))
def test_auth_info_from_claims(claims: dict, identity: dict, required: tuple[str, ...]) -> None:
    assert c is not None
    claims = {**claims, **identity}
    token = f"{b64url_json({'alg': 'RS256'})}.{b64url_json(claims)}.{b64url(b'sig')}"
    assert auth_info_outcome(c, token, claims, required) == auth_info_outcome(
        py, token, claims, required)


ecdsa_halves = st.one_of(
    st.binary(min_size=1, max_size=66),
    st.builds(lambda zeros, rest: b"\x00" * zeros + rest, st.integers(0, 66),
              st.binary(max_size=66)),
    st.sampled_from([b"\x00", b"\x80", b"\xff", b"\x00\x80", b"\x00\x00\x01", b"\x7f"]),
)


@SETTINGS
@given(st.sampled_from([32, 48, 66, 1, 63, 64, 65, 67, 100]), ecdsa_halves, ecdsa_halves,
       st.sampled_from(["exact", "short", "long"]))
def test_ecdsa_der(size: int, r: bytes, s: bytes, shape: str) -> None:
    # Each half brought to `size` bytes, then the whole sometimes of the wrong length.
    r, s = r[-size:].rjust(size, b"\x00"), s[-size:].rjust(size, b"\x00")
    signature = {"exact": r + s, "short": (r + s)[1:], "long": r + s + b"\x00"}[shape]
    expected = ecdsa_outcome(py.ecdsa_der, signature, size)
    assert ecdsa_outcome(c.ecdsa_der, signature, size) == expected
    if shape == "exact":
        assert expected[0] == "value"


def ecdsa_outcome(fn: Callable[..., Any], signature: bytes, size: int) -> Any:
    try:
        return ("value", fn(signature, size))
    except ValueError as exc:
        return ("ValueError", str(exc))


# BearerLookup: the compiled one answers a hit from the header's bytes (no str, no b64token
# scan); keys that parse_bearer would never return ("abc def", "a,b", "==") must not be
# served that way, nor tokens longer than max_token_bytes.
_LOOKUP_TOKENS = ["abc", "abc==", "a.b.c", "h1." + _TAIL, "h2." + _TAIL, "abc def", "a,b",
                  "==", "\u00e9." + _TAIL]
_LOOKUP_HEADERS: dict[str, Callable[[bytes], list[tuple[bytes, bytes]]]] = {
    "plain": lambda t: [(b"authorization", b"Bearer " + t)],
    "spaces": lambda t: [(b"Authorization", b"bearer   " + t)],
    "tab": lambda t: [(b"authorization", b"Bearer\t" + t)],
    "basic": lambda t: [(b"authorization", b"Basic " + t)],
    "twice": lambda t: [(b"authorization", b"Bearer " + t), (b"authorization", b"Bearer " + t)],
    "none": lambda t: [(b"host", b"example.com")],
    "bytearray": lambda t: [(b"authorization", bytearray(b"Bearer " + t))],
}
_ISS, _AUD = "https://issuer.example", "https://mcp.example/mcp"


def _lookup_infos() -> dict[str, Any]:
    from mcpauth_fast.types import AuthInfo

    def info(**changes: Any) -> AuthInfo:
        fields = {"token": "t", "issuer": _ISS, "subject": "alice", "claims": {},
                  "scopes": ("read", "write"), "audience": _AUD, **changes}
        return AuthInfo(**fields)

    return {"good": info(), "evil": info(issuer="https://evil.example"),
            "write-only": info(scopes=("write",)), "aud-list": info(audience=["x", _AUD]),
            "other-aud": info(audience="https://other.example")}


_INFOS = _lookup_infos()


def _put_then(token: str, info: str, ttl: float, form: str) -> list[tuple[str, ...]]:
    return [("put", token, info, ttl, form), ("lookup", token, info, ttl, form)]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["put", "lookup", "lookup", "clear"]),
                          st.sampled_from(_LOOKUP_TOKENS), st.sampled_from(sorted(_INFOS)),
                          st.sampled_from([1000.0, -1.0]),
                          st.sampled_from(sorted(_LOOKUP_HEADERS))), max_size=30),
       st.integers(0, 4), st.sampled_from([8192, 4]), st.booleans(), st.booleans())
# Each way a hit from the header's bytes could differ from parse_bearer + get, spelled out.
@example(_put_then("abc", "good", -1.0, "plain"), 4, 8192, True, True)  # expired
@example(_put_then("abc def", "good", 1000.0, "plain"), 4, 8192, True, True)  # not b64token
@example(_put_then("==", "good", 1000.0, "plain"), 4, 8192, True, True)  # padding alone
@example(_put_then("a.b.c", "good", 1000.0, "spaces"), 4, 4, True, True)  # too long
@example(_put_then("h1." + _TAIL, "write-only", 1000.0, "plain"), 4, 8192, True, True)
@example(_put_then("h1." + _TAIL, "evil", 1000.0, "spaces"), 4, 8192, True, False)
def test_bearer_lookup_sequences(ops: list[tuple[str, str, str, float, str]], maxsize: int,
                                 max_bytes: int, policy: bool, required: bool) -> None:
    import time

    assert c is not None
    issuers = frozenset({_ISS}) if policy else None
    audiences = frozenset({_AUD}) if policy else None
    scopes = (("read", "admin"),) if required else ()
    caches = [c.TokenCache(maxsize), py.TokenCache(maxsize)]
    lookups = [mod.BearerLookup(cache, max_bytes, issuers, audiences, scopes).lookup
               for mod, cache in zip((c, py), caches, strict=True)]
    names = {id(v): k for k, v in _INFOS.items()}
    for op, name, info, ttl, form in ops:
        token = name.encode().decode()  # a new str each time, as each request's token is
        until = time.time() + ttl
        results = []
        for cache, lookup in zip(caches, lookups, strict=True):
            if op == "put":
                results.append(cache.put(token, _INFOS[info], until, None))
            elif op == "clear":
                results.append(cache.clear())
            else:
                got = outcome(lookup, _LOOKUP_HEADERS[form](token.encode()))
                if got[0] == "value" and got[1] == "AuthInfo":
                    got = ("info", names[id(got[2])])
                results.append(got)
            results.append((cache.info(), len(cache)))
        assert results[:2] == results[2:]
