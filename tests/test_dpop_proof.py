"""DPoP proof verification (RFC 9449 section 4.3), with proofs made by joserfc.

Every test runs on both implementations of the compact-JWS decoder the verifier uses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from joserfc import jwk, jwt
from joserfc.errors import SecurityWarning
from joserfc.jws import JWSRegistry

from mcpauth_fast.dpop import (
    DPoPBindingError,
    DPoPProofError,
    DPoPProofVerifier,
    ReplayCache,
    jwk_thumbprint,
)
from mcpauth_fast.dpop import proof as proof_module

NOW = 1_800_000_000
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
URI = "https://api.example.com/mcp"
DROP = object()  # a header member or claim to leave out

EC_KEY = jwk.ECKey.generate_key("P-256")
OKP_KEY = jwk.OKPKey.generate_key("Ed25519")
RSA_KEY = jwk.RSAKey.generate_key(2048)
OTHER_EC_KEY = jwk.ECKey.generate_key("P-256")

# RFC 7638 section 3.1.
RFC7638_KEY = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
         "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR"
         "0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bF"
         "TWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

_ALGS = {"EC": "ES256", "OKP": "EdDSA", "RSA": "RS256"}
_counter = iter(range(1_000_000))


@pytest.fixture(autouse=True)
def implementation(speedups: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(proof_module, "decode_jws", speedups.decode_jws)
    yield


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def ath_of(token: str) -> str:
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def make_proof(key: Any = EC_KEY, alg: str | None = None, *, sign_with: Any = None,
               header: dict[str, Any] | None = None, **claims: Any) -> str:
    """A proof for ``GET URI`` with ``TOKEN`` at ``NOW``; ``header``/``claims`` override
    (``DROP`` leaves a member out)."""
    alg = alg or _ALGS[key.key_type]
    full_header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    full_claims = {"jti": f"jti-{next(_counter)}", "htm": "GET", "htu": URI, "iat": NOW,
                   "ath": ath_of(TOKEN)}
    full_header.update(header or {})
    full_claims.update(claims)
    full_header = {k: v for k, v in full_header.items() if v is not DROP}
    full_claims = {k: v for k, v in full_claims.items() if v is not DROP}
    signing_input = f"{segment(full_header)}.{segment(full_claims)}"
    # joserfc's algorithm objects sign what jwt.encode would refuse to build (a bad header).
    signature = JWSRegistry.algorithms[alg].sign(signing_input.encode(), sign_with or key)
    return f"{signing_input}.{b64url(signature)}"


def segment(value: Any) -> str:
    return b64url(json.dumps(value).encode())


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"sig") -> str:
    return f"{segment(header)}.{segment(claims)}.{b64url(signature)}"


def check(proof: str | bytes, verifier: DPoPProofVerifier | None = None, *,
          uri: str = URI, method: str = "GET", token: str = TOKEN,
          jkt: str | None = None, now: float = NOW) -> str:
    verifier = verifier or DPoPProofVerifier(algorithms=("ES256", "EdDSA", "RS256"))
    return verifier.verify([proof], method=method, uri=uri, access_token=token, jkt=jkt,
                           now=now).jkt


def refused(proof: str | bytes, reason: str, **kwargs: Any) -> None:
    with pytest.raises(DPoPProofError) as info:
        check(proof, **kwargs)
    assert info.value.reason == reason
    assert str(info.value) == reason
    assert info.value.oauth_error == "invalid_dpop_proof" and info.value.status_code == 401


# -- accepted proofs ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", [EC_KEY, OKP_KEY], ids=["ES256", "EdDSA"])
def test_default_algorithms_accept_es256_and_eddsa(key: Any) -> None:
    thumbprint = DPoPProofVerifier().verify(
        [make_proof(key)], method="GET", uri=URI, access_token=TOKEN, now=NOW).jkt
    assert thumbprint == key.thumbprint()


@pytest.mark.parametrize("key", [EC_KEY, OKP_KEY, RSA_KEY], ids=["ES256", "EdDSA", "RS256"])
def test_proof_made_by_jwt_encode(key: Any) -> None:
    alg = _ALGS[key.key_type]
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    claims = {"jti": "by-jwt-encode", "htm": "POST", "htu": URI, "iat": NOW,
              "ath": ath_of(TOKEN)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # joserfc: "EdDSA" is deprecated
        proof = jwt.encode(header, claims, key, algorithms=[alg])
    assert check(proof, method="POST", jkt=key.thumbprint()) == key.thumbprint()


def test_rs256_when_allowed() -> None:
    assert check(make_proof(RSA_KEY)) == RSA_KEY.thumbprint()
    with pytest.raises(DPoPProofError, match="^alg is not allowed$"):
        DPoPProofVerifier().verify([make_proof(RSA_KEY)], method="GET", uri=URI,
                                   access_token=TOKEN, now=NOW)


def test_matching_jkt_and_bytes_header_value() -> None:
    proof = make_proof()
    assert check(proof.encode("ascii"), jkt=EC_KEY.thumbprint()) == EC_KEY.thumbprint()


def test_thumbprint_is_rfc7638() -> None:
    assert jwk_thumbprint(RFC7638_KEY) == RFC7638_THUMBPRINT
    for key in (EC_KEY, OKP_KEY, RSA_KEY):
        assert jwk_thumbprint(key.as_dict(private=False)) == key.thumbprint()
    with pytest.raises(ValueError):
        jwk_thumbprint({"kty": "oct", "k": "c2VjcmV0"})
    with pytest.raises(ValueError):
        jwk_thumbprint({"kty": "EC", "crv": "P-256", "x": "AA"})


# -- refused proofs ----------------------------------------------------------------------------

def test_exactly_one_header() -> None:
    verifier = DPoPProofVerifier()
    proof = make_proof()
    for values, reason in (([], "DPoP proof is missing"),
                           ([proof, proof], "more than one DPoP proof")):
        with pytest.raises(DPoPProofError) as info:
            verifier.verify(values, method="GET", uri=URI, access_token=TOKEN, now=NOW)
        assert info.value.reason == reason


@pytest.mark.parametrize("proof", [
    "", "abc", "a.b", "a.b.c.d", "e30.e30.", "e30.e30.c2ln=", "W10.e30.c2ln", "é.é.é",
    b"\xff.\xff.\xff", "x" * 9000,
])
def test_malformed_jws(proof: str | bytes) -> None:
    refused(proof, "DPoP proof is not a compact JWS")


@pytest.mark.parametrize("typ", ["JWT", "DPoP+JWT", "application/dpop+jwt", 1, DROP])
def test_wrong_typ(typ: Any) -> None:
    refused(make_proof(header={"typ": typ}), "typ is not dpop+jwt")


def test_alg_none_hs256_and_not_allowed() -> None:
    claims = {"jti": "j", "htm": "GET", "htu": URI, "iat": NOW, "ath": ath_of(TOKEN)}
    public = EC_KEY.as_dict(private=False)
    for alg in ("none", "HS256", "RS512", "ES384", None):
        refused(unsigned({"typ": "dpop+jwt", "alg": alg, "jwk": public}, claims),
                "alg is not allowed")
    secret = jwk.OctKey.generate_key(256)
    refused(jwt.encode({"typ": "dpop+jwt", "alg": "HS256", "jwk": public}, claims, secret,
                       algorithms=["HS256"]), "alg is not allowed")
    for algorithms in (["HS256"], ["none"], ["ES256", "HS512"], []):
        with pytest.raises(ValueError):
            DPoPProofVerifier(algorithms=algorithms)


def test_crit_refused() -> None:
    refused(make_proof(header={"crit": ["exp"]}), "crit is not supported")


@pytest.mark.parametrize("value", [DROP, "a key", ["kty"], None])
def test_jwk_missing(value: Any) -> None:
    refused(make_proof(header={"jwk": value}), "jwk is missing")


@pytest.mark.parametrize("key", [EC_KEY, OKP_KEY, RSA_KEY], ids=["EC", "OKP", "RSA"])
def test_private_jwk(key: Any) -> None:
    public = key.as_dict(private=False)
    # (a whole private RSA JWK exceeds the header's size cap: "d" alone is enough)
    refused(make_proof(key, header={"jwk": {**public, "d": key.as_dict(private=True)["d"]}}),
            "jwk is not a public key")
    # one private member is enough (an RSA prime without "d")
    refused(make_proof(key, header={"jwk": {**public, "p": "AQAB"}}), "jwk is not a public key")


def test_symmetric_jwk() -> None:
    secret = {"kty": "oct", "k": b64url(b"0" * 32)}
    refused(make_proof(header={"jwk": secret}), "jwk is not a public key")
    refused(make_proof(header={"jwk": {"kty": "oct"}}), "jwk is not a public key")


@pytest.mark.parametrize("bad", [
    {"kty": "EC", "crv": "P-256"},
    {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
    {"kty": "XYZ"},
    {"kty": "RSA", "n": "AQAB", "e": "AQAB"},  # far below 2048 bits
])
def test_unusable_jwk(bad: dict[str, Any]) -> None:
    refused(make_proof(header={"jwk": bad}), "jwk is not usable")


def test_alg_of_another_key_type() -> None:
    refused(make_proof(OKP_KEY, header={"jwk": EC_KEY.as_dict(private=False)}),
            "alg does not match the jwk")


def test_bad_signature() -> None:
    refused(make_proof(EC_KEY, sign_with=OTHER_EC_KEY), "signature is invalid")
    header, payload, _ = make_proof().split(".")
    _, _, other_signature = make_proof().split(".")  # same key, other claims (jti)
    refused(f"{header}.{payload}.{other_signature}", "signature is invalid")


@pytest.mark.parametrize("jti", [DROP, 1, None, "", ["a"], "j" * 257])
def test_bad_jti(jti: Any) -> None:
    reason = "jti is too long" if jti == "j" * 257 else "jti is missing or not a string"
    refused(make_proof(jti=jti), reason)


@pytest.mark.parametrize("htm", ["POST", "get", DROP, None])
def test_wrong_htm(htm: Any) -> None:
    refused(make_proof(htm=htm), "htm does not match the request method")


@pytest.mark.parametrize("htu", [
    "https://other.example.com/mcp",
    "https://api.example.com/mcp/",
    "https://api.example.com/MCP",
    "https://api.example.com/other",
    "http://api.example.com/mcp",
    "https://api.example.com:8443/mcp",
    "https://user@api.example.com/mcp",
    "/mcp",
    "api.example.com/mcp",
    1,
    DROP,
])
def test_wrong_htu(htu: Any) -> None:
    refused(make_proof(htu=htu), "htu does not match the request URI")


@pytest.mark.parametrize(("htu", "uri"), [
    ("https://API.Example.COM/mcp", URI),
    ("HTTPS://api.example.com/mcp", URI),
    ("https://api.example.com:443/mcp", URI),
    (URI, "https://api.example.com:443/mcp"),
    ("http://localhost:80/mcp", "http://localhost/mcp"),
    ("https://api.example.com", "https://api.example.com/"),
    # RFC 9449 section 4.3: the query and fragment of both are ignored
    (URI, URI + "?session=1"),
    (URI + "?x=1", URI + "?y=2"),
    (URI + "#frag", URI),
])
def test_htu_normalised(htu: str, uri: str) -> None:
    assert check(make_proof(htu=htu), uri=uri) == EC_KEY.thumbprint()


def test_query_does_not_hide_another_path() -> None:
    refused(make_proof(htu=URI), "htu does not match the request URI",
            uri="https://api.example.com/other?/mcp")
    refused(make_proof(htu=URI + "x?"), "htu does not match the request URI")


@pytest.mark.parametrize(("iat", "reason"), [
    (NOW - 301, "iat is too old"),
    (NOW + 301, "iat is in the future"),
    (NOW - 10_000.5, "iat is too old"),
    (10**29, "iat is in the future"),
    (str(NOW), "iat is missing or not a number"),
    (True, "iat is missing or not a number"),
    (None, "iat is missing or not a number"),
    (DROP, "iat is missing or not a number"),
])
def test_bad_iat(iat: Any, reason: str) -> None:
    refused(make_proof(iat=iat), reason)


def test_iat_window_edges_and_setting() -> None:
    assert check(make_proof(iat=NOW - 300))
    assert check(make_proof(iat=NOW + 300))
    narrow = DPoPProofVerifier(iat_window=5)
    with pytest.raises(DPoPProofError, match="^iat is too old$"):
        narrow.verify([make_proof(iat=NOW - 6)], method="GET", uri=URI, access_token=TOKEN,
                      now=NOW)
    for window in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            DPoPProofVerifier(iat_window=window)


@pytest.mark.parametrize(("ath", "reason"), [
    (DROP, "ath is missing"),
    (ath_of("another-token"), "ath does not match the access token"),
    (ath_of(TOKEN) + "=", "ath does not match the access token"),
    (b64url(hashlib.sha256(TOKEN.encode()).hexdigest().encode()),
     "ath does not match the access token"),
    (1, "ath does not match the access token"),
])
def test_bad_ath(ath: Any, reason: str) -> None:
    refused(make_proof(ath=ath), reason)


@pytest.mark.parametrize("jkt", [OKP_KEY.thumbprint(), RFC7638_THUMBPRINT])
def test_wrong_jkt(jkt: str) -> None:
    with pytest.raises(DPoPBindingError) as info:
        check(make_proof(), jkt=jkt)
    assert info.value.oauth_error == "invalid_token" and info.value.status_code == 401


def test_replayed_jti() -> None:
    verifier = DPoPProofVerifier()
    proof = make_proof()
    assert check(proof, verifier)
    refused_again = pytest.raises(DPoPProofError, match="^jti was already used$")
    with refused_again:
        check(proof, verifier)
    # a new proof reusing the jti (another request) is a replay too
    with pytest.raises(DPoPProofError, match="^jti was already used$"):
        check(make_proof(jti=json.loads(base64.urlsafe_b64decode(
            proof.split(".")[1] + "==").decode())["jti"], htm="POST"), verifier, method="POST")
    assert check(make_proof(), verifier)


def test_a_known_header_still_needs_its_signature() -> None:
    # The verifier keeps the key of a header it has checked: a proof that reuses the header
    # of an accepted one, signed by another key or with other claims, is still refused.
    verifier = DPoPProofVerifier()
    assert check(make_proof(), verifier) == EC_KEY.thumbprint()
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": EC_KEY.as_dict(private=False)}
    forged = make_proof(header=header, sign_with=OTHER_EC_KEY)
    with pytest.raises(DPoPProofError, match="^signature is invalid$"):
        check(forged, verifier)
    with pytest.raises(DPoPProofError, match=r"^typ is not dpop\+jwt$"):
        check(make_proof(header={"typ": "JWT"}), verifier)
    assert check(make_proof(), verifier) == EC_KEY.thumbprint()


def test_refused_proof_does_not_use_up_its_jti() -> None:
    verifier = DPoPProofVerifier()
    refused_proof = make_proof(jti="once", htm="POST")
    with pytest.raises(DPoPProofError):
        check(refused_proof, verifier)
    assert check(make_proof(jti="once"), verifier)


def test_reasons_never_quote_the_proof() -> None:
    proof = make_proof(htu="https://evil.example/" + "A" * 40)
    with pytest.raises(DPoPProofError) as info:
        check(proof)
    for part in proof.split("."):
        assert part not in str(info.value)
    assert "evil" not in str(info.value)


# -- the replay cache --------------------------------------------------------------------------

def test_replay_cache_remembers_until_expiry() -> None:
    cache = ReplayCache()
    assert cache.seen("a", until=100, now=50) is False
    assert cache.seen("a", until=100, now=60) is True
    assert cache.seen("a", until=200, now=101) is False  # expired: forgotten
    assert cache.seen("a", until=200, now=150) is True


def test_replay_cache_is_bounded() -> None:
    cache = ReplayCache(maxsize=3)
    for jti in "abcd":
        assert cache.seen(jti, until=100, now=0) is False
    assert len(cache) == 3
    assert cache.seen("a", until=100, now=0) is False  # the oldest was forgotten
    assert cache.seen("d", until=100, now=0) is True
    with pytest.raises(ValueError):
        ReplayCache(maxsize=0)


def test_replay_cache_drops_expired_entries() -> None:
    cache = ReplayCache()
    for i in range(10):
        cache.seen(str(i), until=10, now=0)
    cache.seen("late", until=100, now=50)
    assert len(cache) == 1
