"""Attacks through the claims, through a real ASGI app (both implementations): time claims
at and around the leeway, of the wrong type or beyond the double range, issuer, audience and
scope tricks. The catalogue's app, keys and assertions: ``support.attacks``.

A very large ``exp`` (even beyond 64 bits, which orjson reads as a float) is the issuer's
choice and accepted; beyond the double range (``1e400``) it is not JSON and refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient
from support.app_factory import server_config, whoami_app
from support.attacks import (
    AUD_NOT_STRINGS,
    BAD_SIGNATURE,
    ES,
    EXPIRED,
    INVALID_JSON,
    ISS_NOT_STRING,
    ISSUED_IN_FUTURE,
    LEEWAY,
    MISSING_READ,
    NO_KEY,
    NOT_YET_VALID,
    SCOPE_NOT_STRINGS,
    accepted,
    es_header,
    floor_now,
    get,
    good_claims,
    middleware_for,
    mint,
    payload_with,
    refused,
    sign_raw,
)
from support.jwks_server import JwksServer
from support.tokens import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    signing_key,
)

from mcpauth_fast import MCPAuth

# --- exp / nbf / iat -----------------------------------------------------------------------
# The clock moves forward only: a token whose limit is floor(now) at minting is already at or
# past it when checked (deterministic); a token meant to pass keeps 3 s of margin.


@pytest.mark.parametrize("case,make,cause", [
    ("exp at now - leeway (the boundary)", lambda t: {"exp": t - LEEWAY}, EXPIRED),
    ("exp 1 s past the boundary", lambda t: {"exp": t - LEEWAY - 1}, EXPIRED),
    ("exp a fraction past the boundary is floored",
     lambda t: {"exp": t - LEEWAY + 0.999}, EXPIRED),
    ("exp 3 s inside the leeway", lambda t: {"exp": t - LEEWAY + 3}, None),
    ("exp passed 3 s ago, within leeway", lambda t: {"exp": t - 3}, None),
    ("nbf at now + leeway (the boundary)", lambda t: {"nbf": t + LEEWAY}, None),
    ("nbf 3 s beyond the boundary", lambda t: {"nbf": t + LEEWAY + 4}, NOT_YET_VALID),
    ("nbf float 3.5 s beyond", lambda t: {"nbf": t + LEEWAY + 4.5}, NOT_YET_VALID),
    ("iat at now + leeway (the boundary)", lambda t: {"iat": t + LEEWAY}, None),
    ("iat 3 s beyond the boundary", lambda t: {"iat": t + LEEWAY + 4}, ISSUED_IN_FUTURE),
    ("exp float far ahead, whole", lambda t: {"exp": t + 100.0}, None),
    # mcpauth 0.1.1 refuses a fraction (its pydantic model reads exp as an int): so do we.
    ("exp float far ahead, with a fraction", lambda t: {"exp": t + 100.5},
     "claim exp is not a whole number of seconds"),
    ("exp zero", lambda t: {"exp": 0}, EXPIRED),
    ("exp negative", lambda t: {"exp": -1}, EXPIRED),
    ("exp tiny float", lambda t: {"exp": 1e-300}, EXPIRED),
])
def test_time_claims_at_the_leeway_boundaries(client: TestClient, case: str,
                                              make: Callable[[int], dict[str, Any]],
                                              cause: str | None) -> None:
    token = mint(ES, **make(floor_now()))
    if cause is None:
        accepted(get(client, token))
    else:
        refused(get(client, token), cause)


def test_leeway_is_what_lets_a_just_expired_token_in(idp: JwksServer) -> None:
    mcp_auth = MCPAuth(server=server_config(idp.url))
    just_expired = mint(ES, exp=floor_now() - 3)
    early = mint(ES, nbf=floor_now() + 10)
    with TestClient(whoami_app(mcp_auth, middleware_for(mcp_auth, leeway=0))) as strict:
        refused(get(strict, just_expired), EXPIRED)
        refused(get(strict, early), NOT_YET_VALID)
    with TestClient(whoami_app(mcp_auth, middleware_for(mcp_auth, leeway=LEEWAY))) as lenient:
        accepted(get(lenient, just_expired))
        accepted(get(lenient, early))


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["1900000000", "1e9", "", True, False, None, [1], {"t": 1},
                                   "NaN"])
def test_time_claims_of_the_wrong_type_are_refused(client: TestClient, name: str,
                                                   value: Any) -> None:
    """Strings, booleans (``true`` is not 1), null, lists and objects are not NumericDates."""
    payload = payload_with(**{name: json.dumps(value)})
    refused(get(client, sign_raw(ES, es_header(), payload)), f"claim {name} is not a number")


def test_missing_exp_is_refused(client: TestClient) -> None:
    refused(get(client, mint(ES, exp=None)), "claim exp is required")


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("literal", ["NaN", "-NaN", "Infinity", "-Infinity", "inf", "1e400",
                                     "-1e400", "1" * 400, "-" + "9" * 400, "0x7fffffff",
                                     "1_000", "+1", "01", ".5", "1."])
def test_nan_like_numbers_are_not_json(client: TestClient, name: str, literal: str) -> None:
    """JSON has no NaN or infinity: written literally (really signed), the payload is refused."""
    payload = payload_with(**{name: literal})
    refused(get(client, sign_raw(ES, es_header(), payload)), INVALID_JSON)


@pytest.mark.parametrize("claim,value,cause", [
    ("exp", 2**64, None),            # beyond 64 bits: read as a float, ~5.8e11 years ahead
    ("exp", 10**300, None),
    ("exp", 1.7976931348623157e308, None),
    ("exp", -(2**64), EXPIRED),
    ("exp", -(10**300), EXPIRED),
    ("nbf", 2**64, NOT_YET_VALID),
    ("nbf", 2**63, NOT_YET_VALID),
    ("iat", 2**64, ISSUED_IN_FUTURE),
    ("iat", 10**300, ISSUED_IN_FUTURE),
    ("nbf", -(2**64), None),
])
def test_huge_time_claims(client: TestClient, claim: str, value: int, cause: str | None) -> None:
    """A huge ``exp`` signed by the issuer is the issuer's choice (PyJWT accepts it too); a huge
    ``nbf``/``iat`` is in the future. The integer is written as such in the payload."""
    token = sign_raw(ES, es_header(), payload_with(**{claim: str(value)}))
    if cause is None:
        accepted(get(client, token))
    else:
        refused(get(client, token), cause)


# --- issuer --------------------------------------------------------------------------------


@pytest.mark.parametrize("issuer", [
    "https://issuer.example.com.evil.com", "https://issuer.example.com/", "https://issuer.example.com//",
    "https://issuer.example.com/.", "https://ISSUER.EXAMPLE.COM", "HTTPS://issuer.example.com",
    "https://Issuer.example.com", "https://issuer.example.com@evil.com",
    "https://evil.com@issuer.example.com", "https://user@issuer.example.com",
    "https://issuer.example.com:443", "http://issuer.example.com", "https://issuer.example.co",
    "https://evil.example.com", " https://issuer.example.com", "https://issuer.example.com ",
    "https://issuer.example.com\u0000", "https://issuer.example.com\n", "https://іssuer.example.com",
    "https://issuer.example.com#", "https://issuer.example.com?", "https://issuer%2eexample.com",
    "https://issuer.example.com/.well-known/openid-configuration", "issuer.example.com",
    "https://issuer.example.com https://evil.com",
])
def test_issuer_tricks_are_untrusted(client: TestClient, issuer: str) -> None:
    """The issuer must equal the configured one byte for byte (no normalization of any kind)."""
    refused(get(client, mint(ES, iss=issuer)), {"expected": ISSUER, "actual": issuer},
            error="invalid_issuer")


@pytest.mark.parametrize("issuer", ["https://issuer.example.com/", "https://ISSUER.EXAMPLE.COM",
                                    "https://issuer.example.com@evil.com"])
def test_an_untrusted_issuer_is_refused_before_any_key_lookup(client: TestClient,
                                                              issuer: str) -> None:
    """The issuer picks the key source, so an untrusted one is refused first: an unknown kid
    and a forged signature do not even come into play (and nothing is fetched)."""
    forger = SigningKey("ES256", "nope", signing_key("ES256", variant=9).private)
    token = mint(forger, {"alg": "ES256", "kid": "unknown-kid"}, iss=issuer)
    refused(get(client, token), {"expected": ISSUER, "actual": issuer}, error="invalid_issuer")


@pytest.mark.parametrize("issuer", [[ISSUER], [ISSUER, "https://evil.com"], {"iss": ISSUER}, 1,
                                    True, ""])
def test_issuer_that_is_not_a_string_is_refused(client: TestClient, issuer: Any) -> None:
    refused(get(client, mint(ES, iss=issuer)), ISS_NOT_STRING)


def test_missing_issuer_is_refused(client: TestClient) -> None:
    refused(get(client, mint(ES, iss=None)), ISS_NOT_STRING)


# --- audience ------------------------------------------------------------------------------


@pytest.mark.parametrize("audience", [
    "https://mcp.example.com/mcp/", "https://mcp.example.com/mcp/evil", "https://mcp.example.com/mc",
    "https://mcp.example.com", "https://mcp.example.com/MCP", "HTTPS://MCP.EXAMPLE.COM/MCP",
    "https://mcp.example.com/mcp@evil.com", "https://evil.com/https://mcp.example.com/mcp",
    "https://mcp.example.com/mcp.evil.com", "https://mcp.example.com/mcp?x=1",
    "https://mcp.example.com/mcp ", "https://mcp.example.com/mcp https://other",
    "https://mcp.example.com:443/mcp", "https://mcp.example.com/./mcp",
    ["https://a.example", "https://b.example"], [], ["https://mcp.example.com/mcp/"],
    ["https://mcp.example.com/mcp https://a.example"],
])
def test_audience_tricks_are_refused(client: TestClient, audience: Any) -> None:
    refused(get(client, mint(ES, aud=audience)), {"expected": AUDIENCE, "actual": audience},
            error="invalid_audience")


def test_missing_audience_is_refused(client: TestClient) -> None:
    refused(get(client, mint(ES, aud=None)), {"expected": AUDIENCE}, error="invalid_audience")


@pytest.mark.parametrize("audience", [
    {AUDIENCE: True}, [[AUDIENCE]], [AUDIENCE, 1], [AUDIENCE, None], 1, True, [{"aud": AUDIENCE}],
    "", [AUDIENCE, ""],
])
def test_audience_of_the_wrong_type_is_refused(client: TestClient, audience: Any) -> None:
    """A list is accepted only when every member is a non-empty string, even if one of them
    matches (mcpauth 0.1.1 refuses an empty one too)."""
    refused(get(client, mint(ES, aud=audience)), AUD_NOT_STRINGS)


# --- scopes --------------------------------------------------------------------------------



@pytest.mark.parametrize("claim_set,outcome", [
    ({"scope": "readonly"}, MISSING_READ),
    ({"scope": "READ"}, MISSING_READ),
    ({"scope": "Read write"}, MISSING_READ),
    ({"scope": "read,write"}, MISSING_READ),
    ({"scope": "read;write"}, MISSING_READ),
    ({"scope": "rea d"}, MISSING_READ),
    ({"scope": "re"}, MISSING_READ),
    ({"scope": "write:read"}, MISSING_READ),
    ({"scope": ""}, MISSING_READ),
    ({"scope": None}, MISSING_READ),
    ({"scope": []}, MISSING_READ),
    ({"scope": ["readonly", "READ"]}, MISSING_READ),
    ({"scope": "", "scp": "read"}, MISSING_READ),            # the first present claim wins
    ({"scope": "write", "scopes": "read"}, MISSING_READ),
    ({"scope": {"read": True}}, SCOPE_NOT_STRINGS),
    ({"scope": ["read", 1]}, SCOPE_NOT_STRINGS),
    ({"scope": [["read"]]}, SCOPE_NOT_STRINGS),
    ({"scope": 1}, SCOPE_NOT_STRINGS),
    ({"scope": True}, SCOPE_NOT_STRINGS),
    ({"scope": " read  "}, "ok"),
    # RFC 6749 section 3.3: split on spaces only, a list element is one scope (never split).
    ({"scope": "write\tread"}, MISSING_READ),
    ({"scope": ["read write"]}, MISSING_READ),
    ({"scope": ["write", "read"]}, "ok"),
    ({"scope": None, "scp": "read"}, "ok"),                  # null falls through
    ({"scope": None, "scp": ["read"]}, "ok"),
])
def test_scope_tricks(client: TestClient, claim_set: dict[str, Any], outcome: Any) -> None:
    """``read`` must be a whole scope token: no substring, case or separator games; a claim
    of the wrong type makes the token invalid (401), not merely short of scopes (403)."""
    token = ES.mint({**good_claims(scope=None), **claim_set})      # None here is JSON null
    response = get(client, token)
    if outcome == "ok":
        accepted(response)
    elif outcome is MISSING_READ:
        refused(response, MISSING_READ, error="missing_required_scopes", status=403)
        assert response.json()["missing_scopes"] == ["read"]
        assert 'scope="read"' in response.headers["www-authenticate"]
    else:
        refused(response, outcome)


@pytest.mark.parametrize("case,make,error,cause", [
    ("expired", lambda: mint(ES, scope="write", exp=floor_now() - 3600), "invalid_token",
     EXPIRED),
    ("bad signature", lambda: mint(SigningKey("ES256", ES.kid, signing_key("ES256", variant=9)
                                              .private), scope="write"),
     "invalid_token", BAD_SIGNATURE),
    ("unknown kid", lambda: mint(ES, {"alg": "ES256", "kid": "nope"}, scope="write"),
     "invalid_token", NO_KEY),
    ("untrusted issuer", lambda: mint(ES, scope="", iss="https://evil.example"),
     "invalid_issuer", {"expected": ISSUER, "actual": "https://evil.example"}),
    ("wrong audience", lambda: mint(ES, scope=None, aud="https://other.example"),
     "invalid_audience", {"expected": AUDIENCE, "actual": "https://other.example"}),
    ("not yet valid", lambda: mint(ES, scope="readonly", nbf=floor_now() + 3600),
     "invalid_token", NOT_YET_VALID),
])
def test_a_bad_token_lacking_the_scope_gets_401_not_403(client: TestClient, case: str,
                                                        make: Callable[[], str], error: str,
                                                        cause: Any) -> None:
    refused(get(client, make()), cause, error=error)
