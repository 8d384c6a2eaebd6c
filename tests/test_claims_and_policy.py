"""Time claims with an injected clock, scope extraction and the per-request policy, on both
implementations."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import pytest

from mcpauth_fast.exceptions import (
    BearerAuthExceptionCode as Code,
)
from mcpauth_fast.exceptions import (
    MCPAuthBearerAuthException,
    MCPAuthTokenVerificationException,
)
from mcpauth_fast.types import FrozenList

NOW = 1_800_000_000.0


def reason(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(MCPAuthTokenVerificationException) as info:
        fn(*args, **kwargs)
    assert info.value.error_code == "invalid_token"
    return str(info.value.cause)


def test_valid_until_is_exp_plus_leeway(speedups: ModuleType) -> None:
    result = speedups.check_time_claims({"exp": NOW + 100}, NOW, 10)
    assert result == NOW + 110 and type(result) is float
    assert speedups.check_time_claims({"exp": NOW + 100}, NOW) == NOW + 100


@pytest.mark.parametrize("exp,leeway,valid", [
    (NOW + 1, 0, True), (NOW, 0, False), (NOW - 1, 0, False),
    (NOW - 59, 60, True), (NOW - 60, 60, False),          # leeway boundary: exp <= now - leeway
    (NOW + 0.5, 0, False),                                 # floor(exp) like PyJWT's int(exp)
    (NOW + 1.5, 0, True), (int(NOW) + 10, 0, True),
])
def test_exp_boundaries(speedups: ModuleType, exp: float, leeway: float, valid: bool) -> None:
    if valid:
        assert speedups.check_time_claims({"exp": exp}, NOW, leeway) == math.floor(exp) + leeway
    else:
        assert reason(speedups.check_time_claims, {"exp": exp}, NOW, leeway) == "token has expired"


def test_exp_is_required_unless_switched_off(speedups: ModuleType) -> None:
    assert reason(speedups.check_time_claims, {}, NOW) == "claim exp is required"
    assert speedups.check_time_claims({}, NOW, 0, False) == math.inf


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["1900000000", True, False, None, [1], {"t": 1},
                                   math.nan, math.inf, -math.inf, 10**400, -(10**400)])
def test_time_claims_must_be_numbers(speedups: ModuleType, name: str, value: Any) -> None:
    claims = {"exp": NOW + 100, name: value}
    assert reason(speedups.check_time_claims, claims, NOW) == f"claim {name} is not a number"


def test_float_and_huge_time_claims(speedups: ModuleType) -> None:
    assert speedups.check_time_claims({"exp": 1.0e300}, NOW) == 1.0e300
    assert speedups.check_time_claims({"exp": 2**63 - 1}, NOW) == float(2**63 - 1)
    assert reason(speedups.check_time_claims, {"exp": -(2**63)}, NOW) == "token has expired"
    assert reason(speedups.check_time_claims, {"exp": NOW + 10, "nbf": 1.0e300}, NOW) == (
        "token is not yet valid (nbf)")


@pytest.mark.parametrize("nbf,leeway,valid", [
    (NOW, 0, True), (NOW + 1, 0, False), (NOW + 60, 60, True), (NOW + 60.5, 60, False),
])
def test_nbf_boundaries(speedups: ModuleType, nbf: float, leeway: float, valid: bool) -> None:
    claims = {"exp": NOW + 1000, "nbf": nbf}
    if valid:
        speedups.check_time_claims(claims, NOW, leeway)
    else:
        assert reason(speedups.check_time_claims, claims, NOW, leeway) == (
            "token is not yet valid (nbf)")


def test_iat_in_the_future_beyond_leeway(speedups: ModuleType) -> None:
    speedups.check_time_claims({"exp": NOW + 1000, "iat": NOW + 60}, NOW, 60)
    assert reason(speedups.check_time_claims, {"exp": NOW + 1000, "iat": NOW + 61}, NOW, 60) == (
        "token is issued in the future (iat)")


def test_max_age(speedups: ModuleType) -> None:
    claims = {"exp": NOW + 1000, "iat": NOW - 100}
    assert speedups.check_time_claims(claims, NOW, 0, True, 100) == NOW
    assert reason(speedups.check_time_claims, claims, NOW, 0, True, 99) == "token is too old (iat)"
    assert reason(speedups.check_time_claims, {"exp": NOW + 1000}, NOW, 0, True, 10) == (
        "claim iat is required")


@pytest.mark.parametrize("claims,scopes", [
    ({"scope": "read write"}, ["read", "write"]),
    ({"scope": "  read  write read  "}, ["read", "write"]),
    # RFC 6749 section 3.3: spaces only; a tab stays inside its (never valid) scope.
    ({"scope": "read\twrite\nadmin read"}, ["read\twrite\nadmin", "read"]),
    ({"scope": ["read", "write", "read"]}, ["read", "write"]),
    # Each element of a list is one scope, never split.
    ({"scope": ["read write", "admin"]}, ["read write", "admin"]),
    ({"scope": ""}, []),
    ({"scope": []}, []),
    ({"scopes": "a b"}, ["a", "b"]),
    ({"scp": ["x"]}, ["x"]),
    ({"scp": "x y"}, ["x", "y"]),
    ({"scope": "a", "scopes": "b", "scp": "c"}, ["a"]),
    ({"scope": None, "scopes": "b"}, ["b"]),
    ({"scope": "READ read"}, ["READ", "read"]),
    ({"scope": "read,write"}, ["read,write"]),
    ({"scope": "", "scopes": "b"}, ["b"]),  # mcpauth: ``scope or scopes``
    ({"scope": [], "scopes": [], "scp": "c"}, []),  # scp only when both are absent
    ({"scope": "", "scp": "c"}, []),
    ({}, []),
])
def test_extract_scopes(speedups: ModuleType, claims: dict, scopes: list) -> None:
    assert speedups.extract_scopes(claims) == scopes


@pytest.mark.parametrize("claims", [
    {"scope": 5},
    {"scope": ["a", 5]},
    {"scope": "a", "scopes": 5},  # mcpauth checks the type of both, whichever is used
    {"scope": "a", "scopes": ["b", None]},
    {"scp": {"a": 1}},
])
def test_scope_claims_of_the_wrong_type_are_refused(speedups: ModuleType, claims: dict) -> None:
    with pytest.raises(MCPAuthTokenVerificationException) as info:
        speedups.extract_scopes(claims)
    assert info.value.cause == "scope claim is not a string or a list of strings"


def test_repeated_scope_strings_share_one_list_and_stay_right(speedups: ModuleType) -> None:
    # Cached tokens of one client keep one scopes list between them, not one each.
    first = speedups.extract_scopes({"scope": "mcp:tools read write"})
    again = speedups.extract_scopes({"scope": "".join(["mcp:tools", " read", " write"])})
    assert again == ["mcp:tools", "read", "write"] and again is first
    assert type(again) is FrozenList
    # Many distinct strings (past the memory's bound), long ones, and repeats: always the split.
    for i in range(3000):
        text = f"s{i} shared  s{i} x{i % 7}"
        assert speedups.extract_scopes({"scope": text}) == [f"s{i}", "shared", f"x{i % 7}"]
    long = " ".join(f"scope-{i}" for i in range(200))
    for _ in range(2):
        assert speedups.extract_scopes({"scp": long}) == long.split()
    assert speedups.extract_scopes({"scope": "mcp:tools read write"}) == first


@pytest.mark.parametrize("value", [1, True, {"read": True}, ["read", 1], ["a", ["b"]], 1.5])
def test_extract_scopes_rejects_other_types(speedups: ModuleType, value: Any) -> None:
    assert reason(speedups.extract_scopes, {"scope": value}) == (
        "scope claim is not a string or a list of strings")


ISS = frozenset({"https://issuer.example.com"})
AUD = frozenset({"https://mcp.example.com"})


def policy_error(speedups: ModuleType, *args: Any) -> MCPAuthBearerAuthException:
    with pytest.raises(MCPAuthBearerAuthException) as info:
        speedups.check_policy(*args)
    return info.value


def test_policy_passes(speedups: ModuleType) -> None:
    speedups.check_policy("https://issuer.example.com", "https://mcp.example.com",
                          ("read", "write"), ISS, AUD, (("read",),))
    speedups.check_policy("https://issuer.example.com", ["x", "https://mcp.example.com"],
                          ("read",), ISS, AUD, ())
    speedups.check_policy("anything", None, (), None, None, ())


@pytest.mark.parametrize("issuer", [
    "https://issuer.example.com/", "HTTPS://issuer.example.com", "https://issuer.example.com.evil",
    "https://user@issuer.example.com", ["https://issuer.example.com"], None, "",
])
def test_issuer_must_match_exactly(speedups: ModuleType, issuer: Any) -> None:
    error = policy_error(speedups, issuer, "https://mcp.example.com", (), ISS, AUD, ())
    assert error.code is Code.INVALID_ISSUER and error.status_code == 401
    assert error.cause.expected == "https://issuer.example.com"
    assert error.cause.actual == issuer


def test_several_trusted_issuers(speedups: ModuleType) -> None:
    trusted = frozenset({"https://a.example", "https://b.example"})
    speedups.check_policy("https://b.example", None, (), trusted, None, ())
    error = policy_error(speedups, "https://c.example", None, (), trusted, None, ())
    assert error.cause.expected == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize("audience", [
    None, "https://mcp.example.com/", "https://other.example", [], ["https://other.example"],
    {"aud": "https://mcp.example.com"}, [["https://mcp.example.com"]],
])
def test_audience_mismatch(speedups: ModuleType, audience: Any) -> None:
    error = policy_error(speedups, "https://issuer.example.com", audience, (), ISS, AUD, ())
    assert error.code is Code.INVALID_AUDIENCE


def test_audience_from_auth_info_is_reported_as_a_plain_list(speedups: ModuleType) -> None:
    error = policy_error(speedups, "https://issuer.example.com", FrozenList(["a", "b"]), (), ISS,
                         AUD, ())
    assert error.cause.actual == ["a", "b"] and type(error.cause.actual) is list


def test_every_missing_scope_is_reported_in_order(speedups: ModuleType) -> None:
    error = policy_error(speedups, "https://issuer.example.com", "https://mcp.example.com",
                         ("write",), ISS, AUD, (("read",), ("write",), ("admin",)))
    assert error.code is Code.MISSING_REQUIRED_SCOPES
    assert error.status_code == 403 and error.oauth_error == "insufficient_scope"
    assert error.to_json() == {
        "error": "missing_required_scopes",
        "error_description": "The token does not contain the necessary scopes for this request.",
        "missing_scopes": ["read", "admin"],
    }


def test_scope_is_not_a_substring_or_case_match(speedups: ModuleType) -> None:
    for scopes in [("readonly",), ("READ",), ("rea",), ("read,write",)]:
        error = policy_error(speedups, "i", None, scopes, None, None, (("read",),))
        assert error.cause.missing_scopes == ["read"]


def test_a_required_scope_is_granted_by_any_scope_that_implies_it(speedups: ModuleType) -> None:
    read = ("files:read", "files:write", "admin")  # scopes.ScopeHierarchy.requirement's shape
    for held in [("files:read",), ("files:write",), ("other", "admin")]:
        speedups.check_policy("i", None, held, None, None, (read,))
    error = policy_error(speedups, "i", None, ("files",), None, None, (read, ("b", "a")))
    assert error.cause.missing_scopes == ["files:read", "b"]


def test_a_required_scope_given_as_a_string_is_a_type_error(speedups: ModuleType) -> None:
    # Iterated, "read" would be the letters r, e, a, d: a token with scope "r" must not pass.
    with pytest.raises(TypeError):
        speedups.check_policy("i", None, ("r",), None, None, ("read",))


def test_issuer_is_checked_before_audience_and_scopes(speedups: ModuleType) -> None:
    error = policy_error(speedups, "bad", "bad", (), ISS, AUD, (("read",),))
    assert error.code is Code.INVALID_ISSUER
    error = policy_error(speedups, "https://issuer.example.com", "bad", (), ISS, AUD, (("read",),))
    assert error.code is Code.INVALID_AUDIENCE


@pytest.mark.parametrize("jti,accepted", [
    ("absent", True), ("a1b2", True), ("", True), (None, False), (7, False), ([], False),
])
def test_jti_is_a_string_when_present(speedups: ModuleType, jti: Any, accepted: bool) -> None:
    claims: dict[str, Any] = {"sub": "alice", "exp": NOW + 60}
    if jti != "absent":
        claims["jti"] = jti
    build = speedups.auth_info_from_claims
    if accepted:
        assert build("t.t.t", "https://issuer.example.com", claims).subject == "alice"
    else:
        assert reason(build, "t.t.t", "https://issuer.example.com", claims) == (
            "claim jti is not a string")
