"""JwtVerifier end to end with real keys of every algorithm."""

from __future__ import annotations

import asyncio
import copy
import gc
import time
import weakref
from typing import Any

import pytest
from support.tokens import (
    ALL_ALGORITHMS,
    ASYMMETRIC_ALGORITHMS,
    AUDIENCE,
    ISSUER,
    b64url_json,
    claims,
    signing_key,
)

from mcpauth_fast.exceptions import (
    MCPAuthBearerAuthException,
    MCPAuthTokenVerificationException,
)
from mcpauth_fast.jwks import IssuerKeys, StaticKeys
from mcpauth_fast.keys import hmac_key
from mcpauth_fast.types import AuthInfo, FrozenList
from mcpauth_fast.verifier import JwtVerifier

NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def verifier_for(alg: str, clock: Clock | None = None, **options: Any) -> JwtVerifier:
    key = signing_key(alg)
    if alg.startswith("HS"):
        source = StaticKeys([hmac_key(key.private, kid=key.kid, alg=alg)])
        options.setdefault("algorithms", [alg])
    else:
        source = StaticKeys({"keys": [key.jwk()]})
    return JwtVerifier(source, clock=clock or Clock(), **options)


def rejects(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(MCPAuthTokenVerificationException) as info:
        asyncio.run(verifier.verify(token))
    assert info.value.error_code == "invalid_token" and info.value.status_code == 401
    return str(info.value.cause)


@pytest.mark.parametrize("alg", ALL_ALGORITHMS)
def test_every_algorithm_verifies(alg: str) -> None:
    token = signing_key(alg).mint(claims(NOW, scope="read write read", aud=[AUDIENCE, "x"]))
    info = asyncio.run(verifier_for(alg).verify(token))
    assert isinstance(info, AuthInfo)
    assert (info.token, info.issuer, info.subject, info.client_id) == (
        token, ISSUER, "alice", "client-1")
    # Equal to mcpauth's plain lists (and read-only: test_a_handler_cannot_change_...).
    assert info.scopes == ["read", "write"]
    assert info.audience == [AUDIENCE, "x"]
    assert info.expires_at == NOW + 3600
    assert info.claims["jti"] == "j-1"


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGORITHMS)
def test_signature_by_another_key_of_the_same_kid_fails(alg: str) -> None:
    forged = signing_key(alg, kid=signing_key(alg).kid, variant=1)
    assert rejects(verifier_for(alg), forged.mint(claims(NOW))) == "signature verification failed"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA", "HS256"])
def test_tampered_payload_or_signature_fails(alg: str) -> None:
    token = signing_key(alg).mint(claims(NOW))
    header, payload, sig = token.split(".")
    other = b64url_json(claims(NOW, sub="mallory"))
    assert rejects(verifier_for(alg), f"{header}.{other}.{sig}") == "signature verification failed"
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    assert rejects(verifier_for(alg), f"{header}.{payload}.{flipped}")


def test_algorithm_not_in_allow_list_is_refused_before_any_key() -> None:
    token = signing_key("RS256").mint(claims(NOW))
    verifier = verifier_for("RS256", algorithms=["ES256"])
    assert rejects(verifier, token) == "header: alg is not allowed"


def test_none_and_hmac_with_public_key_are_refused() -> None:
    rsa = signing_key("RS256")
    none_token = f"{b64url_json({'alg': 'none', 'kid': rsa.kid})}.{b64url_json(claims(NOW))}."
    assert rejects(verifier_for("RS256"), none_token) == "signature is empty"
    from cryptography.hazmat.primitives import serialization

    pem = rsa.public.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    from support.tokens import SigningKey

    attacker = SigningKey("HS256", rsa.kid, pem)
    forged = attacker.mint(claims(NOW))
    everything = verifier_for("RS256", algorithms=ALL_ALGORITHMS)
    assert rejects(everything, forged) == "no key with the token's kid and alg"


@pytest.mark.parametrize("overrides,cause", [
    ({"exp": None}, "claim exp is required"),
    ({"exp": int(NOW) - 61}, "token has expired"),
    ({"exp": str(int(NOW) + 100)}, "claim exp is not a number"),
    ({"nbf": int(NOW) + 61}, "token is not yet valid (nbf)"),
    ({"iat": int(NOW) + 61}, "token is issued in the future (iat)"),
    ({"iss": None}, "claim iss is missing or not a string"),
    ({"iss": ""}, "claim iss is missing or not a string"),
    ({"iss": ["https://issuer.example.com"]}, "claim iss is missing or not a string"),
    ({"sub": None}, "claim sub is missing or not a string"),
    ({"sub": 42}, "claim sub is missing or not a string"),
    ({"aud": 42}, "claim aud is not a non-empty string or a list of them"),
    ({"aud": ["a", 1]}, "claim aud is not a non-empty string or a list of them"),
    ({"aud": ""}, "claim aud is not a non-empty string or a list of them"),
    ({"aud": ["a", ""]}, "claim aud is not a non-empty string or a list of them"),
    ({"client_id": 12345}, "claim client_id is not a string"),
    ({"azp": 12345, "client_id": None}, "claim azp is not a string"),
    ({"scope": {"read": True}}, "scope claim is not a string or a list of strings"),
])
def test_claim_failures(overrides: dict, cause: str) -> None:
    token = signing_key("ES256").mint(claims(NOW, **overrides))
    assert rejects(verifier_for("ES256"), token) == cause


def test_whole_float_exp_is_valid_and_exp_can_be_optional() -> None:
    key = signing_key("ES256")
    info = asyncio.run(verifier_for("ES256").verify(key.mint(claims(NOW, exp=NOW + 10.0))))
    assert info.expires_at == NOW + 10
    # A fraction is refused, as mcpauth 0.1.1 refuses it (its model reads exp as an int).
    fraction = key.mint(claims(NOW, exp=NOW + 10.5))
    assert rejects(verifier_for("ES256"), fraction) == "claim exp is not a whole number of seconds"
    no_exp = key.mint(claims(NOW, exp=None))
    info = asyncio.run(verifier_for("ES256", require_exp=False).verify(no_exp))
    assert info.expires_at is None


def test_typ_max_age_and_required_claims() -> None:
    key = signing_key("ES256")
    plain_jwt = key.mint(claims(NOW), typ="JWT")
    asyncio.run(verifier_for("ES256").verify(plain_jwt))
    assert rejects(verifier_for("ES256", typ="at+jwt"), plain_jwt) == "header: typ does not match"
    asyncio.run(verifier_for("ES256", typ="at+jwt").verify(key.mint(claims(NOW))))
    old = key.mint(claims(NOW, iat=int(NOW) - 3600))
    assert rejects(verifier_for("ES256", max_token_age=600, leeway=0), old) == (
        "token is too old (iat)")
    assert rejects(verifier_for("ES256", required_claims=["tenant"]), key.mint(claims(NOW))) == (
        "claim tenant is required")


def test_crit_and_jku_headers() -> None:
    key = signing_key("RS256")
    assert rejects(verifier_for("RS256"), key.mint(claims(NOW), crit=["exp"])) == (
        "header: unsupported critical header parameter")
    # jku/x5u/jwk/x5c are ignored: the key still comes from the configured set.
    token = key.mint(claims(NOW), jku="http://127.0.0.1:9/evil.json",
                     jwk=signing_key("RS256", variant=7).jwk())
    assert asyncio.run(verifier_for("RS256").verify(token)).subject == "alice"


def test_unknown_or_missing_kid() -> None:
    key = signing_key("RS256")
    assert rejects(verifier_for("RS256"), key.mint(claims(NOW), kid="other")) == (
        "no key with the token's kid and alg")
    header = {"alg": "RS256"}
    assert asyncio.run(verifier_for("RS256").verify(key.mint(claims(NOW), header=header)))
    two = StaticKeys({"keys": [key.jwk(), signing_key("RS256", variant=2).jwk()]})
    assert rejects(JwtVerifier(two, clock=Clock()), key.mint(claims(NOW), header=header)) == (
        "token has no kid and no single key matches its alg")


def test_oversized_token_is_refused() -> None:
    key = signing_key("ES256")
    big = key.mint(claims(NOW, pad="x" * 9000))
    assert rejects(verifier_for("ES256"), big) == "token is larger than 8192 bytes"
    asyncio.run(verifier_for("ES256", max_token_bytes=16384).verify(big))


def test_cache_hit_skips_the_signature_but_not_expiry() -> None:
    clock = Clock()
    verifier = verifier_for("ES256", clock=clock, leeway=0)
    token = signing_key("ES256").mint(claims(NOW, exp=int(NOW) + 100))
    first = asyncio.run(verifier.verify(token))
    assert verifier.cached(token) is first
    assert asyncio.run(verifier.verify(token)) is first
    assert verifier.cache.info()["hits"] == 2
    clock.now = NOW + 100
    assert verifier.cached(token) is None
    assert rejects(verifier, token) == "token has expired"


def test_same_signature_with_another_payload_is_not_a_hit() -> None:
    verifier = verifier_for("ES256")
    token = signing_key("ES256").mint(claims(NOW))
    asyncio.run(verifier.verify(token))
    header, _, sig = token.split(".")
    spliced = f"{header}.{b64url_json(claims(NOW, sub='mallory'))}.{sig}"
    assert verifier.cached(spliced) is None
    assert rejects(verifier, spliced) == "signature verification failed"


def test_failures_are_not_cached_and_cache_can_be_disabled() -> None:
    verifier = verifier_for("ES256", cache_size=0)
    token = signing_key("ES256").mint(claims(NOW))
    asyncio.run(verifier.verify(token))
    assert verifier.cached(token) is None
    cached = verifier_for("ES256")
    bad = signing_key("ES256").mint(claims(NOW, exp=int(NOW) - 1000))
    rejects(cached, bad)
    assert cached.cache.info()["size"] == 0


def test_cache_entries_carry_issuer_and_kid_for_eviction() -> None:
    verifier = verifier_for("ES256")
    key = signing_key("ES256")
    token = key.mint(claims(NOW))
    asyncio.run(verifier.verify(token))
    assert verifier.cache.evict_kid((ISSUER, key.kid)) == 1
    assert verifier.cached(token) is None


def test_a_handler_cannot_change_what_the_next_request_sees() -> None:
    verifier = verifier_for("ES256")
    token = signing_key("ES256").mint(
        claims(NOW, roles=["user"], ext={"tier": "free"}, aud=[AUDIENCE, "x"]))
    info = asyncio.run(verifier.verify(token))
    assert type(info.audience) is FrozenList and type(info.scopes) is FrozenList
    # A mutable copy, before and after the claims were first read, is the caller's own.
    for _ in range(2):
        mine = info.mutable_claims()
        assert mine["roles"] == ["user"] and mine["ext"] == {"tier": "free"}
        mine["roles"].append("admin")
        mine["ext"]["tier"] = "pro"
        assert info.claims["roles"] == ["user"] and info.claims["ext"] == {"tier": "free"}
    for mutate in (
        lambda: info.claims.__setitem__("sub", "mallory"),
        lambda: info.claims.update(sub="mallory"),
        lambda: info.claims["ext"].__setitem__("tier", "pro"),
        lambda: info.claims["roles"].append("admin"),
        lambda: info.scopes.append("admin"),
        lambda: info.scopes.__setitem__(0, "admin"),
        lambda: info.scopes.__iadd__(["admin"]),
        lambda: info.audience.extend(["admin"]),
        lambda: setattr(info, "subject", "mallory"),
        lambda: setattr(info, "scopes", ("admin",)),
        lambda: setattr(info, "claims", {"sub": "mallory"}),
    ):
        with pytest.raises((TypeError, AttributeError)):
            mutate()
    plain = info.model_dump()
    plain["claims"]["roles"].append("admin")
    copy.deepcopy(info.claims)
    again = asyncio.run(verifier.verify(token))
    # The claims are frozen once, on first read (the verifier builds AuthInfo without them).
    assert again is info and again.claims is info.claims
    assert again.subject == "alice" and again.claims["roles"] == ["user"]
    assert again.scopes == ["read", "write"] and again.claims["ext"] == {"tier": "free"}


def test_client_id_falls_back_to_azp() -> None:
    key = signing_key("ES256")
    info = asyncio.run(verifier_for("ES256").verify(
        key.mint(claims(NOW, client_id=None, azp="app-7"))))
    assert info.client_id == "app-7"
    info = asyncio.run(verifier_for("ES256").verify(key.mint(claims(NOW, client_id=None))))
    assert info.client_id is None


def test_issuer_keys_route_by_issuer() -> None:
    a, b = signing_key("ES256", kid="a"), signing_key("RS256", kid="b")
    source = IssuerKeys({"https://a.example": StaticKeys([a.jwk()]),
                         "https://b.example": StaticKeys([b.jwk()])})
    verifier = JwtVerifier(source, clock=Clock())
    assert asyncio.run(verifier.verify(a.mint(claims(NOW, iss="https://a.example")))).issuer == (
        "https://a.example")
    assert asyncio.run(verifier.verify(b.mint(claims(NOW, iss="https://b.example")))).issuer == (
        "https://b.example")
    # A key of issuer a does not verify a token that claims issuer b.
    with pytest.raises(MCPAuthTokenVerificationException):
        asyncio.run(verifier.verify(a.mint(claims(NOW, iss="https://b.example"), kid="b")))
    with pytest.raises(MCPAuthBearerAuthException) as info:
        asyncio.run(verifier.verify(a.mint(claims(NOW, iss="https://c.example"))))
    assert info.value.error_code == "invalid_issuer"


def test_verify_sync_uses_keys_at_hand() -> None:
    verifier = verifier_for("EdDSA")
    token = signing_key("EdDSA").mint(claims(NOW))
    assert verifier.verify_sync(token).subject == "alice"


def test_configuration_errors() -> None:
    source = StaticKeys([signing_key("ES256").jwk()])
    with pytest.raises(ValueError):
        JwtVerifier(source, algorithms=["none"])
    with pytest.raises(ValueError):
        JwtVerifier(source, algorithms=[])
    with pytest.raises(ValueError):
        JwtVerifier(source, leeway=-1)


def test_a_miss_is_counted_once_through_the_middleware_path() -> None:
    verifier = verifier_for("ES256")
    token = signing_key("ES256").mint(claims(NOW, jti="once"))
    assert verifier.cached(token) is None
    asyncio.run(verifier.verify_uncached(token))
    assert verifier.cache.info()["misses"] == 1
    assert verifier.cached(token) is not None


def wall_clock_verifier(alg: str = "ES256", **options: Any) -> JwtVerifier:
    # The default clock, time.time: the verifier answers verify_sync's cache hits in one call.
    return JwtVerifier(StaticKeys({"keys": [signing_key(alg).jwk()]}), **options)


def test_verify_sync_at_the_wall_clock_serves_hits_from_the_cache() -> None:
    verifier = wall_clock_verifier()
    now = time.time()
    token = signing_key("ES256").mint(claims(now))
    first = verifier.verify_sync(token)
    assert first.subject == "alice" and verifier.cache.info()["misses"] == 1
    assert verifier.verify_sync(token) is first
    assert verifier.cache.info()["hits"] == 1
    header, payload, signature = token.split(".")
    for bad, cause in [
        (f"{header}.{payload}.{signature[:-4]}AAAA", "signature verification failed"),
        (signing_key("ES256").mint(claims(now, exp=int(now) - 1000)), "token has expired"),
    ]:
        with pytest.raises(MCPAuthTokenVerificationException) as info:
            verifier.verify_sync(bad)
        assert str(info.value.cause) == cause
    assert verifier.cache.info()["size"] == 1


class LeavingKeys(StaticKeys):
    """Static keys whose kids can be made to leave, as a rotating JWKS makes them."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__(jwks)
        self.listeners: list[Any] = []

    def add_removal_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def remove(self, issuer: str | None, kid: str) -> None:
        for listener in self.listeners:
            listener(issuer, frozenset({kid}))


@pytest.mark.parametrize("at_wall_clock", [True, False])
def test_verify_sync_refuses_a_key_not_at_hand_and_files_what_it_verified(
    at_wall_clock: bool,
) -> None:
    key = signing_key("ES256")
    keys = LeavingKeys({"keys": [key.jwk()]})
    # Another clock object, even one reading the same time: verify_sync is the class's method.
    verifier = JwtVerifier(keys) if at_wall_clock else JwtVerifier(keys, clock=lambda: time.time())
    now = time.time()
    with pytest.raises(MCPAuthTokenVerificationException) as info:
        verifier.verify_sync(key.mint(claims(now), kid="other"))
    assert str(info.value.cause) == "no key with the token's kid and alg"
    two = LeavingKeys({"keys": [key.jwk(), signing_key("ES256", variant=2).jwk()]})
    with pytest.raises(MCPAuthTokenVerificationException) as info:
        JwtVerifier(two).verify_sync(key.mint(claims(now), header={"alg": "ES256"}))
    assert str(info.value.cause) == "token has no kid and no single key matches its alg"
    # What verify_sync verified is filed under its issuer and kid: when the kid leaves the
    # set (told with or without the issuer), the token is no longer served from the cache.
    for told in (ISSUER, None):
        token = key.mint(claims(now))
        assert verifier.verify_sync(token).issuer == ISSUER
        assert verifier.cached(token) is not None
        keys.remove(told, key.kid)
        assert verifier.cached(token) is None


def test_a_subclass_override_of_verify_sync_is_what_runs() -> None:
    seen: list[str] = []

    class Recording(JwtVerifier):
        def verify_sync(self, token: str) -> AuthInfo:
            seen.append(token)
            return super().verify_sync(token)

    verifier = Recording(StaticKeys({"keys": [signing_key("ES256").jwk()]}))
    token = signing_key("ES256").mint(claims(time.time()))
    assert verifier.verify_sync(token) is verifier.verify_sync(token)
    assert seen == [token, token]


def test_a_verifier_is_freed_when_no_longer_used() -> None:
    # Its verify_sync is its steps' method, and its key source holds its eviction listener.
    verifier = wall_clock_verifier()
    verifier.verify_sync(signing_key("ES256").mint(claims(time.time())))
    ref = weakref.ref(verifier)
    del verifier
    gc.collect()
    assert ref() is None


def test_the_policy_is_fixed_at_construction() -> None:
    # The verification steps hold the key source's find and the required claims: neither can
    # be swapped afterwards for a verifier that would then disagree with itself.
    verifier = verifier_for("ES256", required_claims=["tenant"])
    assert verifier.required_claims == ("tenant",)
    for name in ("keys", "required_claims"):
        with pytest.raises(AttributeError):
            setattr(verifier, name, None)
