"""Whatever PyJWT rejects, mcpauth-fast rejects: same keys, same tokens, same leeway.

Deliberate differences, all in the stricter direction (PyJWT accepts, we reject):
- ``exp`` is required (RFC 9068), and so are ``iss`` and ``sub`` (an AuthInfo needs them);
- ``exp``/``nbf``/``iat`` must be JSON numbers: PyJWT takes ``"123"`` and ``true`` via ``int()``;
- ``nbf``/``iat`` are compared as given, not truncated to an integer first;
- base64url is strict (no padding, no standard alphabet, canonical trailing bits);
- any ``crit`` header is refused; ``kid`` may be at most 512 characters;
- ``scope``/``scopes``/``scp`` and ``aud`` must be strings or lists of strings;
- numbers outside the 64-bit integer range are invalid JSON for orjson;
- a token without ``kid`` is matched only when one key of the set fits its ``alg``.
The audience is the middleware's policy, so PyJWT runs with ``verify_aud`` off, as mcpauth does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.tokens import ALL_ALGORITHMS, b64url_json, claims, signing_key

from mcpauth_fast.exceptions import MCPAuthException
from mcpauth_fast.jwks import StaticKeys
from mcpauth_fast.keys import hmac_key
from mcpauth_fast.verifier import JwtVerifier

LEEWAY = 30


def pyjwt_accepts(token: str, alg: str) -> bool:
    key = signing_key(alg)
    verification_key = key.private if alg.startswith("HS") else key.public
    try:
        jwt.decode(token, verification_key, algorithms=[alg], leeway=LEEWAY,
                   options={"verify_aud": False, "require": ["exp"]})
    except jwt.PyJWTError:
        return False
    return True


def ours_accepts(token: str, alg: str) -> bool:
    key = signing_key(alg)
    source = StaticKeys([hmac_key(key.private, kid=key.kid)] if alg.startswith("HS")
                        else [key.jwk()])
    verifier = JwtVerifier(source, algorithms=[alg], leeway=LEEWAY, cache_size=0)
    try:
        asyncio.run(verifier.verify(token))
    except MCPAuthException:
        return False
    return True


def assert_no_laxer(token: str, alg: str) -> None:
    if not pyjwt_accepts(token, alg):
        assert not ours_accepts(token, alg), "PyJWT rejects a token that mcpauth-fast accepts"


@pytest.mark.parametrize("alg", ALL_ALGORITHMS)
def test_valid_tokens_are_accepted_by_both(alg: str) -> None:
    token = signing_key(alg).mint(claims(time.time()))
    assert pyjwt_accepts(token, alg) and ours_accepts(token, alg)


claim_values = st.one_of(
    st.none(), st.booleans(), st.text(max_size=6), st.integers(-10, 10),
    st.sampled_from(["123", "1e12", 1.5, [], {}, ["a"], 2**62, -(2**62), 1e308]),
    st.floats(-200, 200).map(lambda d: time.time() + d),
)
claim_overrides = st.dictionaries(
    st.sampled_from(["exp", "nbf", "iat", "iss", "sub", "aud", "jti", "scope", "azp"]),
    claim_values, max_size=4)
header_overrides = st.dictionaries(
    st.sampled_from(["alg", "kid", "typ", "crit", "jku", "b64"]),
    st.one_of(st.none(), st.text(max_size=6), st.integers(), st.sampled_from(
        ["none", "HS256", "RS256", "ES256", ["exp"], True])), max_size=2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["RS256", "ES256", "EdDSA", "HS256", "PS384"]), claim_overrides,
       header_overrides, st.data())
def test_never_laxer_than_pyjwt(alg: str, overrides: dict[str, Any], header_extra: dict[str, Any],
                                data: st.DataObject) -> None:
    now = time.time()
    key = signing_key(alg)
    body = claims(now)
    for name, value in overrides.items():
        # Keep the times away from the boundaries: PyJWT reads its own clock a moment later.
        if isinstance(value, float) and abs(value - now - LEEWAY) < 2:
            value += 5
        body[name] = value
    header: dict[str, Any] = {"alg": alg, "kid": key.kid, **header_extra}
    token = key.mint(body, header={k: v for k, v in header.items() if v is not None})
    assert_no_laxer(token, alg)
    parts = token.split(".")
    which = data.draw(st.integers(0, 2))
    mutation = data.draw(st.sampled_from(["pad", "std-alphabet", "drop-char", "swap-header"]))
    if mutation == "pad":
        parts[which] += "="
    elif mutation == "std-alphabet":
        parts[which] = parts[which].replace("-", "+").replace("_", "/")
    elif mutation == "drop-char":
        parts[which] = parts[which][:-1]
    else:
        parts[0] = b64url_json({"alg": "none"})
    assert_no_laxer(".".join(parts), alg)


@pytest.mark.parametrize("overrides", [
    {"exp": None}, {"exp": "2000000000"}, {"nbf": True}, {"iat": [1]}, {"sub": 5},
    {"jti": 5}, {"exp": 1}, {"nbf": 4_000_000_000}, {"iat": 4_000_000_000},
])
def test_claim_cases_pyjwt_rejects(overrides: dict[str, Any]) -> None:
    token = signing_key("ES256").mint(claims(time.time(), **overrides))
    if not pyjwt_accepts(token, "ES256"):
        assert not ours_accepts(token, "ES256")
