"""Attacks on the choice of key and algorithm, through a real ASGI app (both implementations):
``alg: none`` in every spelling, HMAC keyed with a public key, algorithm/key-type mismatches,
hostile ``kid`` values, key-bearing headers (``jku``, ``x5u``, ``jwk``, ``x5c``: ignored, no
request leaves) and ``crit``. The catalogue's app, keys and assertions: ``support.attacks``.

A token without ``kid`` (or with ``"kid": null``) is accepted only when exactly one key of the
set can verify its ``alg``; ``none`` can never be configured.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient
from support.app_factory import server_config, whoami_app
from support.attacks import (
    ALG_MISSING,
    ALG_NOT_ALLOWED,
    ATTACKER,
    ATTACKER_CERT,
    BAD_SIGNATURE,
    CRIT,
    ED,
    ES,
    KID_NOT_STRING,
    KID_TOO_LONG,
    NO_KEY,
    NO_UNIQUE_KEY,
    OCT,
    RS,
    RS_OTHER,
    RS_PINNED,
    SIGNATURE_EMPTY,
    AttackerServer,
    accepted,
    get,
    good_claims,
    middleware_for,
    mint,
    published_keys,
    refused,
    signed_as,
)
from support.jwks_server import JwksServer
from support.tokens import (
    ISSUER,
    SigningKey,
    b64url,
    b64url_json,
    signing_key,
)

from mcpauth_fast import MCPAuth


def test_a_good_token_of_every_published_type_is_accepted(client: TestClient) -> None:
    """The baseline every refusal below is measured against."""
    for key in (RS, ES, ED, RS_OTHER, RS_PINNED):
        accepted(get(client, mint(key)))
    for alg in ("RS384", "RS512", "PS256", "PS384", "PS512"):
        accepted(get(client, signed_as(RS, alg, RS.kid)))


# --- alg none ----------------------------------------------------------------------------

NONE_SPELLINGS = ["none", "None", "NONE", "nOnE", "NoNe", " none", "none ", "none\u0000",
                  "non\u0435", "ｎｏｎｅ", "none\t", ""]


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
@pytest.mark.parametrize("signature", ["empty", "garbage", "real"])
def test_alg_none_in_every_spelling_is_refused(client: TestClient, alg: str,
                                               signature: str) -> None:
    """``none`` is in no allow-list; an empty signature is refused before the header is read."""
    header = b64url_json({"alg": alg, "kid": ES.kid, "typ": "JWT"})
    payload = b64url_json(good_claims())
    if signature == "empty":
        refused(get(client, f"{header}.{payload}."), SIGNATURE_EMPTY)
        return
    tail = (b64url(b"\x00" * 64) if signature == "garbage"
            else b64url(ES.sign(f"{header}.{payload}".encode())))
    refused(get(client, f"{header}.{payload}.{tail}"), ALG_NOT_ALLOWED)


@pytest.mark.parametrize("header", [
    {"kid": "es256-0"}, {"alg": None, "kid": "es256-0"}, {"alg": ["none"], "kid": "es256-0"},
    {"alg": ["ES256"], "kid": "es256-0"}, {"alg": False, "kid": "es256-0"},
    {"alg": 0, "kid": "es256-0"}, {"alg": {"name": "ES256"}, "kid": "es256-0"},
])
def test_alg_missing_or_not_a_string_is_refused(client: TestClient, header: dict[str, Any]) -> None:
    refused(get(client, mint(ES, header)), ALG_MISSING)


@pytest.mark.parametrize("algorithms", [["none"], ["ES256", "none"], ["NONE"], ["HS256", "None"]])
def test_none_can_never_be_configured(idp: JwksServer, algorithms: list[str]) -> None:
    mcp_auth = MCPAuth(server=server_config(idp.url))
    with pytest.raises(ValueError, match="unsupported algorithms"):
        mcp_auth.bearer_auth_middleware("jwt", algorithms=algorithms)


# --- HMAC with the public key as the secret ----------------------------------------------


def _pem(key: SigningKey, fmt: Any = serialization.PublicFormat.SubjectPublicKeyInfo) -> bytes:
    return bytes(key.public.public_bytes(serialization.Encoding.PEM, fmt))


def _der(key: SigningKey, fmt: Any = serialization.PublicFormat.SubjectPublicKeyInfo) -> bytes:
    return bytes(key.public.public_bytes(serialization.Encoding.DER, fmt))


PUBLIC_KEY_SECRETS: dict[str, tuple[SigningKey, Callable[[], bytes]]] = {
    "rsa-pem": (RS, lambda: _pem(RS)),
    "rsa-pem-no-newline": (RS, lambda: _pem(RS).rstrip(b"\n")),
    "rsa-pem-pkcs1": (RS, lambda: _pem(RS, serialization.PublicFormat.PKCS1)),
    "rsa-der": (RS, lambda: _der(RS)),
    "rsa-der-pkcs1": (RS, lambda: _der(RS, serialization.PublicFormat.PKCS1)),
    "rsa-openssh": (RS, lambda: RS.public.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)),
    "rsa-jwk-as-served": (RS, lambda: json.dumps(RS.jwk()).encode()),
    "rsa-jwk-compact": (RS, lambda: json.dumps(RS.jwk(), separators=(",", ":")).encode()),
    "rsa-jwk-sorted": (RS, lambda: json.dumps(RS.jwk(), sort_keys=True).encode()),
    "rsa-modulus": (RS, lambda: base64.urlsafe_b64decode(RS.jwk()["n"] + "==")),
    "rsa-n-text": (RS, lambda: RS.jwk()["n"].encode()),
    "ec-pem": (ES, lambda: _pem(ES)),
    "ec-der": (ES, lambda: _der(ES)),
    "ec-point": (ES, lambda: ES.public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)),
    "ec-jwk-as-served": (ES, lambda: json.dumps(ES.jwk()).encode()),
    "ed25519-pem": (ED, lambda: _pem(ED)),
    "ed25519-der": (ED, lambda: _der(ED)),
    "ed25519-raw": (ED, lambda: ED.public.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)),
    "ed25519-jwk-as-served": (ED, lambda: json.dumps(ED.jwk()).encode()),
}


@pytest.mark.parametrize("form", sorted(PUBLIC_KEY_SECRETS))
@pytest.mark.parametrize("with_kid", [True, False])
def test_hmac_with_a_public_key_as_secret_is_refused(client: TestClient, form: str,
                                                     with_kid: bool) -> None:
    """HS256 is allowed, yet no public key (in any serialization) is ever an HMAC secret."""
    key, secret = PUBLIC_KEY_SECRETS[form]
    forger = SigningKey("HS256", key.kid, secret())
    header = {"alg": "HS256", "typ": "at+jwt", **({"kid": key.kid} if with_kid else {})}
    refused(get(client, mint(forger, header)), NO_KEY if with_kid else NO_UNIQUE_KEY)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_hmac_outside_the_allow_list_is_refused_before_any_key(client: TestClient,
                                                               alg: str) -> None:
    forger = SigningKey(alg, RS.kid, _pem(RS))
    refused(get(client, mint(forger, {"alg": alg, "kid": RS.kid})), ALG_NOT_ALLOWED)


def test_an_oct_key_published_in_the_jwks_is_never_used(client: TestClient) -> None:
    """A JWKS is public: an ``oct`` JWK in it is skipped, so its secret signs nothing."""
    forger = SigningKey("HS256", "oct-0", OCT.private)
    refused(get(client, mint(forger, {"alg": "HS256", "kid": "oct-0"})), NO_KEY)
    refused(get(client, mint(forger, {"alg": "HS256"})), NO_UNIQUE_KEY)


def test_hmac_with_a_jwk_header_carrying_the_secret_is_refused(client: TestClient) -> None:
    forger = SigningKey("HS256", "mine", b"k" * 32)
    header = {"alg": "HS256", "kid": "mine", "jwk": {"kty": "oct", "k": b64url(b"k" * 32)}}
    refused(get(client, mint(forger, header)), NO_KEY)


# --- algorithm or key-type mismatch ------------------------------------------------------


MISMATCHES: dict[str, tuple[Callable[[], str], str]] = {
    # The kid names a key of another type: that key cannot verify the token's alg.
    "ES256-token-RSA-kid": (lambda: signed_as(ES, "ES256", RS.kid), NO_KEY),
    "RS256-token-EC-kid": (lambda: signed_as(RS, "RS256", ES.kid), NO_KEY),
    "EdDSA-token-RSA-kid": (lambda: signed_as(ED, "EdDSA", RS.kid), NO_KEY),
    "PS256-token-OKP-kid": (lambda: signed_as(RS, "PS256", ED.kid), NO_KEY),
    # One curve, one algorithm: a P-256 key signing with SHA-384/512 is not ES384/ES512.
    "ES384-on-P256-key": (lambda: signed_as(ES, "ES384", ES.kid), NO_KEY),
    "ES512-on-P256-key": (lambda: signed_as(ES, "ES512", ES.kid), NO_KEY),
    # Same RSA key, another padding or hash than the header names.
    "PS256-header-RS256-signature": (lambda: signed_as(RS, "PS256", RS.kid, "RS256"),
                                     BAD_SIGNATURE),
    "RS256-header-PS256-signature": (lambda: signed_as(RS, "RS256", RS.kid, "PS256"),
                                     BAD_SIGNATURE),
    "RS384-header-RS256-signature": (lambda: signed_as(RS, "RS384", RS.kid, "RS256"),
                                     BAD_SIGNATURE),
    "PS512-header-PS256-signature": (lambda: signed_as(RS, "PS512", RS.kid, "PS256"),
                                     BAD_SIGNATURE),
    # The JWK's own alg narrows what the key verifies.
    "PS256-with-a-key-pinned-to-RS256": (lambda: signed_as(RS_PINNED, "PS256", RS_PINNED.kid),
                                         NO_KEY),
    "RS512-with-a-key-pinned-to-RS256": (lambda: signed_as(RS_PINNED, "RS512", RS_PINNED.kid),
                                         NO_KEY),
    # Ed448 under the Ed25519 key's kid.
    "Ed448-signature-Ed25519-kid": (lambda: signed_as(signing_key("Ed448", kid="x"), "EdDSA",
                                                       ED.kid), BAD_SIGNATURE),
    # Algorithm names are case-sensitive.
    "rs256-lowercase": (lambda: signed_as(RS, "rs256", RS.kid, "RS256"), ALG_NOT_ALLOWED),
    "Es256-mixed-case": (lambda: signed_as(ES, "Es256", ES.kid, "ES256"), ALG_NOT_ALLOWED),
    "ES256K-unknown": (lambda: signed_as(ES, "ES256K", ES.kid, "ES256"), ALG_NOT_ALLOWED),
    "Ed25519-as-alg": (lambda: signed_as(ED, "Ed25519", ED.kid, "EdDSA"), ALG_NOT_ALLOWED),
}


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_algorithm_or_key_type_mismatch_is_refused(client: TestClient, case: str) -> None:
    make, cause = MISMATCHES[case]
    refused(get(client, make()), cause)


def test_an_alg_outside_the_allow_list_is_refused_even_with_its_key(idp: JwksServer) -> None:
    mcp_auth = MCPAuth(server=server_config(idp.url))
    middleware = middleware_for(mcp_auth, algorithms=["ES256"])
    with TestClient(whoami_app(mcp_auth, middleware)) as only_es256:
        accepted(get(only_es256, mint(ES)))
        for key in (RS, ED):
            refused(get(only_es256, mint(key)), ALG_NOT_ALLOWED)
        refused(get(only_es256, signed_as(RS, "PS256", RS.kid)), ALG_NOT_ALLOWED)


# --- kid ---------------------------------------------------------------------------------


def test_a_token_without_kid_is_accepted_only_with_a_single_candidate_key(
        client: TestClient) -> None:
    """No key trial: without ``kid`` (or with ``"kid": null``, the same), a token is matched
    only when exactly one published key verifies its alg (one EC, one OKP, three RSA keys)."""
    for kid in ({}, {"kid": None}):
        accepted(get(client, mint(ES, {"alg": "ES256", **kid})))
        accepted(get(client, mint(ED, {"alg": "EdDSA", **kid})))
        for key in (RS, RS_OTHER, RS_PINNED):
            refused(get(client, mint(key, {"alg": "RS256", **kid})), NO_UNIQUE_KEY)
        refused(get(client, signed_as(RS, "PS256", None)), NO_UNIQUE_KEY)


@pytest.mark.parametrize("kid", [1, 0, 1.5, True, False, ["es256-0"], {"kid": "es256-0"}, []])
def test_kid_that_is_not_a_string_is_refused(client: TestClient, kid: Any) -> None:
    refused(get(client, mint(ES, {"alg": "ES256", "kid": kid})), KID_NOT_STRING)


@pytest.mark.parametrize("length,cause", [(512, NO_KEY), (513, KID_TOO_LONG),
                                          (1400, KID_TOO_LONG)])
def test_huge_kid_is_refused(client: TestClient, length: int, cause: str) -> None:
    kid = ("es256-0/" * 200)[:length]
    refused(get(client, mint(ES, {"alg": "ES256", "kid": kid})), cause)


PATH_LIKE_KIDS = [
    "../../../../etc/passwd", "/etc/passwd", "file:///etc/passwd", "..\\..\\windows\\win.ini",
    "es256-0/../es256-0", "./es256-0", "es256-0/", "/jwks", "jwks#es256-0", "es256-0%00",
    "es256-0\u0000", "es256-0\n", " es256-0", "es256-0 ", "ES256-0", "es256\u20100",
    "еs256-0", "' OR '1'='1", "*", "", "https://issuer.example.com/jwks#es256-0",
    "http://169.254.169.254/latest/meta-data/",
]


@pytest.mark.parametrize("kid", PATH_LIKE_KIDS)
def test_path_like_kid_is_only_a_lookup_key(client: TestClient, kid: str) -> None:
    """The kid is compared exactly, never used as a path, URL or pattern, nor normalized (the
    token is really signed by es256-0, so only the kid stands between it and a 200)."""
    refused(get(client, mint(ES, {"alg": "ES256", "kid": kid})), NO_KEY)


def test_path_like_kid_pointing_at_another_host_fetches_nothing(
        client: TestClient, attacker: AttackerServer) -> None:
    for kid in (f"{attacker.base}/jwks.json", f"{attacker.base}/../jwks", attacker.base):
        refused(get(client, mint(ES, {"alg": "ES256", "kid": kid})), NO_KEY)
    assert attacker.total == 0


# --- jku / x5u / jwk / x5c ---------------------------------------------------------------


def key_headers(attacker: AttackerServer) -> dict[str, dict[str, Any]]:
    x5c = [base64.b64encode(ATTACKER_CERT).decode()]
    return {
        "jku": {"jku": f"{attacker.base}/jwks.json"},
        "x5u": {"x5u": f"{attacker.base}/cert.pem"},
        "jwk": {"jwk": ATTACKER.jwk()},
        "x5c": {"x5c": x5c},
        "x5t": {"x5t#S256": b64url(ATTACKER_CERT[:32]), "x5t": b64url(ATTACKER_CERT[:20])},
        "all": {"jku": f"{attacker.base}/jwks.json", "x5u": f"{attacker.base}/cert.pem",
                "jwk": ATTACKER.jwk(), "x5c": x5c},
    }


@pytest.mark.parametrize("injected", ["jku", "x5u", "jwk", "x5c", "x5t", "all"])
@pytest.mark.parametrize("kid,cause", [("rs256-0", BAD_SIGNATURE), ("attacker", NO_KEY),
                                       (None, NO_UNIQUE_KEY)])
def test_key_bearing_headers_are_ignored(client: TestClient, attacker: AttackerServer,
                                         injected: str, kid: str | None, cause: str) -> None:
    """A token signed by the attacker's key, naming that key in every possible header: the key
    comes from the configured JWKS only, and nothing is fetched from the attacker's host."""
    header = {"alg": "RS256", "typ": "at+jwt", **({"kid": kid} if kid else {}),
              **key_headers(attacker)[injected]}
    refused(get(client, mint(SigningKey("RS256", kid or "", ATTACKER.private), header)), cause)
    assert attacker.total == 0


def test_a_good_token_carrying_key_headers_is_verified_with_the_jwks_key(
        client: TestClient, attacker: AttackerServer) -> None:
    header = {"alg": "RS256", "kid": RS.kid, **key_headers(attacker)["all"]}
    accepted(get(client, mint(RS, header)))
    assert attacker.total == 0


def test_hostile_headers_cause_no_outbound_request(jwks_server: JwksServer,
                                                   attacker: AttackerServer) -> None:
    """Exact accounting of outbound requests: the attacker's host gets none; the IdP gets the
    startup fetch, then exactly one more, caused by the first unknown kid (the cooldown keeps
    every later unknown kid from fetching); a kid at hand, a bad header or an untrusted issuer
    causes none."""
    jwks_server.document = {"keys": published_keys()}
    mcp_auth = MCPAuth(server=server_config(jwks_server.url))
    with TestClient(whoami_app(mcp_auth, middleware_for(mcp_auth))) as fresh:
        accepted(get(fresh, mint(ES)))
        assert jwks_server.hits == Counter({"/jwks": 1})
        forged_under = SigningKey("RS256", RS.kid, ATTACKER.private)
        for injected in key_headers(attacker).values():
            header = {"alg": "RS256", "kid": RS.kid, **injected}
            refused(get(fresh, mint(forged_under, header)), BAD_SIGNATURE)
        refused(get(fresh, mint(ES, {"alg": "ES256", "kid": 7})), KID_NOT_STRING)
        refused(get(fresh, mint(ES, {"alg": "ES256", "kid": "x" * 600})), KID_TOO_LONG)
        response = get(fresh, mint(ATTACKER, {"alg": "RS256", "kid": "attacker"},
                                   iss=f"{attacker.base}/"))
        refused(response, {"expected": ISSUER, "actual": f"{attacker.base}/"},
                error="invalid_issuer")
        assert jwks_server.hits == Counter({"/jwks": 1})
        for injected in key_headers(attacker).values():
            header = {"alg": "RS256", "kid": "attacker", **injected}
            refused(get(fresh, mint(ATTACKER, header)), NO_KEY)
        for kid in [*PATH_LIKE_KIDS, f"{attacker.base}/jwks.json"]:
            refused(get(fresh, mint(ES, {"alg": "ES256", "kid": kid})), NO_KEY)
        assert jwks_server.hits == Counter({"/jwks": 2})
    assert attacker.total == 0


# --- crit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [
    {"crit": ["exp"]}, {"crit": ["b64"], "b64": False}, {"crit": ["b64"], "b64": True},
    {"crit": []}, {"crit": "exp"}, {"crit": ["kid"]}, {"crit": ["http://example.com/x"],
                                                      "http://example.com/x": 1},
    {"crit": None}, {"crit": ["exp", "exp"]},
])
def test_crit_is_refused(client: TestClient, extra: dict[str, Any]) -> None:
    """No extension is understood, so any ``crit`` (even empty or null) is refused."""
    refused(get(client, mint(ES, {"alg": "ES256", "kid": ES.kid, **extra})), CRIT)
