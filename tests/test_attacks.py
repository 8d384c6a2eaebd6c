"""The attack catalogue, through a real ASGI app (run once per implementation).

Every case sends a token to a real Starlette app behind the middleware built by
``MCPAuth.bearer_auth_middleware("jwt", ...)``, whose JWKS is served by a real HTTP server on
127.0.0.1, and asserts the exact status, the JSON ``error``, the RFC 6750 ``error`` of the
``WWW-Authenticate`` challenge and, since the app shows error details, the ``cause``: the
defence that refused it. Forged tokens are otherwise perfect (really signed, valid claims),
so removing the defence under test turns the refusal into a 200 or changes the cause.

Run the file twice: as is (compiled hot path) and with ``MCPAUTH_FAST_NO_EXTENSIONS=1``.

Decisions documented here (see the tests' docstrings):

- ``alg`` ``none`` can never be configured, and is refused in every spelling.
- A token without ``kid`` (or with ``"kid": null``) is accepted only when exactly one key of
  the set can verify its ``alg``.
- ``jku``, ``x5u``, ``jwk``, ``x5c`` are ignored: no request leaves, the key comes from the JWKS.
- High-S ECDSA signatures are accepted (JWS does not require low-S); r or s of 0 or >= n are not.
- Duplicate JSON members: the last one wins (orjson, like PyJWT's ``json``), for the header
  and the payload; the verifier and the app see the same single parse.
- A very large ``exp`` (even beyond 64 bits, which orjson reads as a float) is the issuer's
  choice and accepted; beyond the double range (``1e400``) it is not JSON and refused.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from starlette.testclient import TestClient
from support.app_factory import server_config, whoami_app
from support.jwks_server import JwksServer
from support.local_server import LocalServer, Reply
from support.tokens import (
    ASYMMETRIC_ALGORITHMS,
    AUDIENCE,
    ISSUER,
    SigningKey,
    b64url,
    b64url_json,
    claims,
    signing_key,
)

from mcpauth_fast import MCPAuth

ALGORITHMS = (*ASYMMETRIC_ALGORITHMS, "HS256")
LEEWAY = 30
REQUIRED_SCOPES = ["read"]

# Causes (show_error_details=True): the defence that answered.
NO_KEY = "no key with the token's kid and alg"
NO_UNIQUE_KEY = "token has no kid and no single key matches its alg"
BAD_SIGNATURE = "signature verification failed"
ALG_NOT_ALLOWED = "header: alg is not allowed"
ALG_MISSING = "header: alg is missing or not a string"
SIGNATURE_EMPTY = "signature is empty"
KID_NOT_STRING = "header: kid is not a string"
KID_TOO_LONG = "header: kid is too long"
CRIT = "header: unsupported critical header parameter"
EXPIRED = "token has expired"
NOT_YET_VALID = "token is not yet valid (nbf)"
ISSUED_IN_FUTURE = "token is issued in the future (iat)"
INVALID_JSON = "payload: invalid JSON"
TOO_LARGE = "token is larger than 8192 bytes"
ISS_NOT_STRING = "claim iss is missing or not a string"
AUD_NOT_STRINGS = "claim aud is not a non-empty string or a list of them"
SCOPE_NOT_STRINGS = "scope claim is not a string or a list of strings"

# The order of the P-256 group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

RS = signing_key("RS256")          # kid rs256-0
ES = signing_key("ES256")          # kid es256-0
ED = signing_key("EdDSA")          # kid eddsa-0
RS_OTHER = signing_key("RS256", variant=1)                   # kid rs256-1
RS_PINNED = signing_key("RS256", kid="rs-pinned")            # published with "alg": "RS256"
OCT = signing_key("HS256")                                   # published as an oct JWK
ATTACKER = signing_key("RS256", kid="attacker", variant=7)   # never published


def published_keys() -> list[dict[str, Any]]:
    """The IdP's JWKS: one key per type, two more RSA keys (one pinned to RS256), an oct key."""
    return [RS.jwk(), ES.jwk(), ED.jwk(), RS_OTHER.jwk(), RS_PINNED.jwk(alg="RS256"),
            {**OCT.jwk(), "kid": "oct-0", "alg": "HS256"}]


def self_signed_certificate(key: SigningKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer.example.com")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public).serial_number(1).not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36500))
        .sign(key.private, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


ATTACKER_CERT = self_signed_certificate(ATTACKER)


class AttackerServer(LocalServer):
    """The attacker's host: serves the attacker's JWKS (or certificate) at any path, counts hits.

    Were any ``jku``/``x5u`` followed, the attacker's key would verify the forged tokens.
    """

    def respond(self, path: str) -> Reply:
        if path.endswith(".pem"):
            pem = base64.encodebytes(ATTACKER_CERT).decode()
            body = f"-----BEGIN CERTIFICATE-----\n{pem}-----END CERTIFICATE-----\n"
            return 200, {"content-type": "application/pem-certificate-chain"}, body.encode()
        document = {"keys": [ATTACKER.jwk(), SigningKey("RS256", RS.kid, ATTACKER.private).jwk()]}
        return 200, {"content-type": "application/json"}, json.dumps(document).encode()


# --- the app -----------------------------------------------------------------------------


def middleware_for(mcp_auth: MCPAuth, **options: Any) -> Any:
    options.setdefault("audience", AUDIENCE)
    options.setdefault("required_scopes", REQUIRED_SCOPES)
    options.setdefault("algorithms", ALGORITHMS)
    options.setdefault("leeway", LEEWAY)
    options.setdefault("show_error_details", True)
    options.setdefault("remote_jwks", {"cooldown": 3600})
    return mcp_auth.bearer_auth_middleware("jwt", **options)


def idp_server() -> JwksServer:
    server = JwksServer()
    server.document = {"keys": published_keys()}
    return server


@pytest.fixture(scope="module")
def idp() -> Iterator[JwksServer]:
    server = idp_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def attacker() -> Iterator[AttackerServer]:
    server = AttackerServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def client(idp: JwksServer) -> Iterator[TestClient]:
    """The catalogue's app: every asymmetric alg plus HS256, ``aud``, scope ``read``, leeway 30."""
    mcp_auth = MCPAuth(server=server_config(idp.url))
    with TestClient(whoami_app(mcp_auth, middleware_for(mcp_auth))) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def only_the_configured_jwks_is_fetched(idp: JwksServer,
                                        attacker: AttackerServer) -> Iterator[None]:
    """Whatever a token says, the only outbound requests are GETs of the configured JWKS."""
    yield
    assert set(idp.hits) <= {"/jwks"}
    assert attacker.total == 0


def get(client: TestClient, token: str) -> Any:
    return client.get("/whoami", headers={"authorization": f"Bearer {token}"})


def challenge_error(response: Any) -> str | None:
    match = re.match(r'Bearer error="([a-z_]+)"', response.headers["www-authenticate"])
    return match.group(1) if match else None


def refused(response: Any, cause: Any, error: str = "invalid_token", status: int = 401) -> None:
    """Exactly this refusal: status, JSON ``error``, challenge ``error`` and ``cause``."""
    body = response.json()
    assert (response.status_code, body["error"]) == (status, error), body
    assert challenge_error(response) == ("insufficient_scope" if status == 403
                                         else "invalid_token")
    assert response.headers["www-authenticate"].endswith('scope="read"')
    assert body.get("cause") == cause, body


def accepted(response: Any, subject: str = "alice") -> None:
    assert response.status_code == 200, response.text
    assert response.json()["subject"] == subject


def good_claims(**overrides: Any) -> dict[str, Any]:
    return claims(time.time(), **overrides)


def mint(key: SigningKey = ES, header: dict[str, Any] | None = None, **overrides: Any) -> str:
    return key.mint(good_claims(**overrides), header=header)


def sign_segments(key: SigningKey, header_segment: str, payload_segment: str,
                  alg: str | None = None) -> str:
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii'), alg))}"


def sign_raw(key: SigningKey, header: bytes, payload: bytes) -> str:
    """A token whose header and payload are these exact JSON bytes, really signed."""
    return sign_segments(key, b64url(header), b64url(payload))


def payload_with(**literals: str) -> bytes:
    """The JSON bytes of valid claims with some values replaced by raw JSON text."""
    values = {name: f"@{name}@" for name in literals}
    text = json.dumps(good_claims(**values), separators=(",", ":"))
    for name, literal in literals.items():
        text = text.replace(f'"@{name}@"', literal)
    return text.encode()


def es_header(**extra: Any) -> bytes:
    return json.dumps({"alg": "ES256", "typ": "at+jwt", "kid": ES.kid, **extra}).encode()


def split(token: str) -> tuple[str, str, bytes]:
    header, payload, signature = token.split(".")
    return header, payload, base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))


def with_signature(token: str, signature: bytes) -> str:
    header, payload, _ = token.split(".")
    return f"{header}.{payload}.{b64url(signature)}"


def test_a_good_token_of_every_published_type_is_accepted(client: TestClient) -> None:
    """The baseline every refusal below is measured against."""
    for key in (RS, ES, ED, RS_OTHER, RS_PINNED):
        accepted(get(client, mint(key)))
    for alg in ("RS384", "RS512", "PS256", "PS384", "PS512"):
        accepted(get(client, _signed_as(RS, alg, RS.kid)))


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


def _signed_as(key: SigningKey, alg: str, kid: str | None, sign_alg: str | None = None) -> str:
    header = {"alg": alg, "typ": "at+jwt", **({"kid": kid} if kid else {})}
    return sign_segments(key, b64url_json(header), b64url_json(good_claims()), sign_alg or alg)


MISMATCHES: dict[str, tuple[Callable[[], str], str]] = {
    # The kid names a key of another type: that key cannot verify the token's alg.
    "ES256-token-RSA-kid": (lambda: _signed_as(ES, "ES256", RS.kid), NO_KEY),
    "RS256-token-EC-kid": (lambda: _signed_as(RS, "RS256", ES.kid), NO_KEY),
    "EdDSA-token-RSA-kid": (lambda: _signed_as(ED, "EdDSA", RS.kid), NO_KEY),
    "PS256-token-OKP-kid": (lambda: _signed_as(RS, "PS256", ED.kid), NO_KEY),
    # One curve, one algorithm: a P-256 key signing with SHA-384/512 is not ES384/ES512.
    "ES384-on-P256-key": (lambda: _signed_as(ES, "ES384", ES.kid), NO_KEY),
    "ES512-on-P256-key": (lambda: _signed_as(ES, "ES512", ES.kid), NO_KEY),
    # Same RSA key, another padding or hash than the header names.
    "PS256-header-RS256-signature": (lambda: _signed_as(RS, "PS256", RS.kid, "RS256"),
                                     BAD_SIGNATURE),
    "RS256-header-PS256-signature": (lambda: _signed_as(RS, "RS256", RS.kid, "PS256"),
                                     BAD_SIGNATURE),
    "RS384-header-RS256-signature": (lambda: _signed_as(RS, "RS384", RS.kid, "RS256"),
                                     BAD_SIGNATURE),
    "PS512-header-PS256-signature": (lambda: _signed_as(RS, "PS512", RS.kid, "PS256"),
                                     BAD_SIGNATURE),
    # The JWK's own alg narrows what the key verifies.
    "PS256-with-a-key-pinned-to-RS256": (lambda: _signed_as(RS_PINNED, "PS256", RS_PINNED.kid),
                                         NO_KEY),
    "RS512-with-a-key-pinned-to-RS256": (lambda: _signed_as(RS_PINNED, "RS512", RS_PINNED.kid),
                                         NO_KEY),
    # Ed448 under the Ed25519 key's kid.
    "Ed448-signature-Ed25519-kid": (lambda: _signed_as(signing_key("Ed448", kid="x"), "EdDSA",
                                                       ED.kid), BAD_SIGNATURE),
    # Algorithm names are case-sensitive.
    "rs256-lowercase": (lambda: _signed_as(RS, "rs256", RS.kid, "RS256"), ALG_NOT_ALLOWED),
    "Es256-mixed-case": (lambda: _signed_as(ES, "Es256", ES.kid, "ES256"), ALG_NOT_ALLOWED),
    "ES256K-unknown": (lambda: _signed_as(ES, "ES256K", ES.kid, "ES256"), ALG_NOT_ALLOWED),
    "Ed25519-as-alg": (lambda: _signed_as(ED, "Ed25519", ED.kid, "EdDSA"), ALG_NOT_ALLOWED),
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
        refused(get(only_es256, _signed_as(RS, "PS256", RS.kid)), ALG_NOT_ALLOWED)


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
        refused(get(client, _signed_as(RS, "PS256", None)), NO_UNIQUE_KEY)


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


# --- exp / nbf / iat -----------------------------------------------------------------------
# The clock moves forward only: a token whose limit is floor(now) at minting is already at or
# past it when checked (deterministic); a token meant to pass keeps 3 s of margin.


def _floor_now() -> int:
    return math.floor(time.time())


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
    token = mint(ES, **make(_floor_now()))
    if cause is None:
        accepted(get(client, token))
    else:
        refused(get(client, token), cause)


def test_leeway_is_what_lets_a_just_expired_token_in(idp: JwksServer) -> None:
    mcp_auth = MCPAuth(server=server_config(idp.url))
    just_expired = mint(ES, exp=_floor_now() - 3)
    early = mint(ES, nbf=_floor_now() + 10)
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

MISSING_READ = {"missing_scopes": ["read"]}


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
    ({"scope": "write\tread"}, "ok"),
    ({"scope": ["read write"]}, "ok"),
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
    ("expired", lambda: mint(ES, scope="write", exp=_floor_now() - 3600), "invalid_token",
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
    ("not yet valid", lambda: mint(ES, scope="readonly", nbf=_floor_now() + 3600),
     "invalid_token", NOT_YET_VALID),
])
def test_a_bad_token_lacking_the_scope_gets_401_not_403(client: TestClient, case: str,
                                                        make: Callable[[], str], error: str,
                                                        cause: Any) -> None:
    refused(get(client, make()), cause, error=error)


# --- signature tampering -------------------------------------------------------------------


@pytest.mark.parametrize("key", [RS, ES, ED], ids=["RS256", "ES256", "EdDSA"])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("bit", [0, 7])
def test_a_flipped_signature_bit_is_refused(client: TestClient, key: SigningKey, where: str,
                                            bit: int) -> None:
    token = mint(key)
    signature = bytearray(split(token)[2])
    index = {"first": 0, "middle": len(signature) // 2, "last": len(signature) - 1}[where]
    signature[index] ^= 1 << bit
    refused(get(client, with_signature(token, bytes(signature))), BAD_SIGNATURE)


@pytest.mark.parametrize("key", [RS, ES, ED], ids=["RS256", "ES256", "EdDSA"])
def test_a_flipped_payload_or_header_bit_is_refused(client: TestClient, key: SigningKey) -> None:
    """One bit of the signed bytes (``alice`` -> ``Alice``, ``at+jwt`` -> ``at+jWt``) changes the
    meaning a little and the signature not at all: refused."""
    token = mint(key)
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[raw.index(b"alice")] ^= 0x20
    refused(get(client, f"{header}.{b64url(bytes(raw))}.{signature}"), BAD_SIGNATURE)
    raw = bytearray(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    raw[raw.index(b"jwt") + 1] ^= 0x20
    refused(get(client, f"{b64url(bytes(raw))}.{payload}.{signature}"), BAD_SIGNATURE)


@pytest.mark.parametrize("key", [RS, ES, ED], ids=["RS256", "ES256", "EdDSA"])
def test_truncated_or_extended_signatures_are_refused(client: TestClient,
                                                      key: SigningKey) -> None:
    token = mint(key)
    header, payload, text = token.split(".")
    signature = split(token)[2]
    for changed in (signature[:-1], signature[: len(signature) // 2], signature[:1],
                    signature + b"\x00", b"\x00" + signature, signature * 2):
        refused(get(client, with_signature(token, changed)), BAD_SIGNATURE)
    refused(get(client, f"{header}.{payload}.{text[:-1]}"),
            "signature: invalid base64url length")
    refused(get(client, f"{header}.{payload}."), SIGNATURE_EMPTY)
    refused(get(client, f"{header}.{payload}"), "token is not a compact JWS (three segments)")


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_a_signature_by_another_key_under_a_trusted_kid_is_refused(client: TestClient,
                                                                   alg: str) -> None:
    trusted = {"RS256": RS, "PS256": RS, "ES256": ES, "EdDSA": ED}[alg]
    forger = SigningKey(alg, trusted.kid, signing_key(alg.replace("PS", "RS"), variant=9).private)
    refused(get(client, _signed_as(forger, alg, trusted.kid)), BAD_SIGNATURE)


def test_ecdsa_der_signature_is_refused(client: TestClient) -> None:
    """RFC 7518 3.4: ES256 signatures are raw r || s. The DER form of a correct signature,
    which OpenSSL itself would accept, is refused."""
    header = b64url_json({"alg": "ES256", "kid": ES.kid})
    payload = b64url_json(good_claims())
    der = ES.private.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    refused(get(client, f"{header}.{payload}.{b64url(der)}"), BAD_SIGNATURE)
    # The same signature, raw, is good: only the encoding was wrong.
    r, s = decode_dss_signature(der)
    accepted(get(client, f"{header}.{payload}.{b64url(_raw(r, s))}"))


def _ecdsa_parts(token: str) -> tuple[int, int]:
    signature = split(token)[2]
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def _raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize("case", ["r=0", "s=0", "r=s=0", "r=n", "s=n", "s=n+1", "r=2^256-1",
                                  "s=2^256-1", "r=s=n", "swapped", "r+n", "s+n"])
def test_ecdsa_r_or_s_zero_or_not_below_n_is_refused(client: TestClient, case: str) -> None:
    token = mint(ES)
    r, s = _ecdsa_parts(token)
    top = 2**256 - 1
    values = {
        "r=0": (0, s), "s=0": (r, 0), "r=s=0": (0, 0), "r=n": (P256_N, s), "s=n": (r, P256_N),
        "s=n+1": (r, P256_N + 1), "r=2^256-1": (top, s), "s=2^256-1": (r, top),
        "r=s=n": (P256_N, P256_N), "swapped": (s, r),
        # r + n or s + n names the same value mod n: refused when it fits in 32 bytes, and
        # when it does not, reduced to 32 bytes it is just another wrong value.
        "r+n": ((r + P256_N) % 2**256, s), "s+n": (r, (s + P256_N) % 2**256),
    }
    refused(get(client, with_signature(token, _raw(*values[case]))), BAD_SIGNATURE)


def test_ecdsa_high_s_is_accepted_as_documented(client: TestClient) -> None:
    """JWS does not require low-S (keys.py): (r, n - s) verifies like (r, s). Only the signer
    can produce either form, and the cache keys on the whole token, so both are accepted as
    two separate tokens naming the same claims."""
    token = mint(ES, jti="high-s")
    r, s = _ecdsa_parts(token)
    other = with_signature(token, _raw(r, P256_N - s))
    assert other != token
    assert max(s, P256_N - s) > P256_N // 2        # one of the two is high-S
    accepted(get(client, token))
    accepted(get(client, other))


def test_spliced_tokens_are_refused(client: TestClient) -> None:
    """Header, payload and signature of different tokens never add up, even once one of the
    tokens is cached (the cache key is the whole token)."""
    alice = mint(ES, jti="a")
    mallory = mint(ES, sub="mallory", jti="m", scope="read admin")
    accepted(get(client, alice))                         # now cached
    a_header, a_payload, a_signature = alice.split(".")
    m_header, m_payload, m_signature = mallory.split(".")
    refused(get(client, f"{a_header}.{m_payload}.{a_signature}"), BAD_SIGNATURE)
    refused(get(client, f"{m_header}.{a_payload}.{m_signature}"), BAD_SIGNATURE)
    other_header = b64url_json({"alg": "ES256", "kid": ES.kid})       # same key, no typ
    refused(get(client, f"{other_header}.{a_payload}.{a_signature}"), BAD_SIGNATURE)
    rsa = mint(RS, jti="r")
    r_header, r_payload, r_signature = rsa.split(".")
    refused(get(client, f"{r_header}.{a_payload}.{a_signature}"), BAD_SIGNATURE)
    refused(get(client, f"{a_header}.{r_payload}.{r_signature}"), BAD_SIGNATURE)
    refused(get(client, f"{alice}.{m_signature}"), "token is not a compact JWS (three segments)")


@pytest.mark.parametrize("key", [RS, ES, ED], ids=["RS256", "ES256", "EdDSA"])
def test_non_canonical_encodings_of_a_good_token_are_refused(client: TestClient,
                                                             key: SigningKey) -> None:
    """Other spellings of the same bytes (unused low bits set, padding, standard alphabet)
    would give one signature several tokens (and cache keys): strict base64url refuses them."""
    token = mint(key)
    accepted(get(client, token))
    header, payload, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(signature) % 4 == 2                   # the last character has 4 unused bits
    sloppy = signature[:-1] + alphabet[alphabet.index(signature[-1]) | 1]
    assert sloppy != signature
    refused(get(client, f"{header}.{payload}.{sloppy}"), "signature: non-canonical base64url")
    refused(get(client, f"{token}=="), "signature: invalid base64url character")
    padded_payload = payload + "=" * (-len(payload) % 4)
    if padded_payload != payload:
        # "=" only ends an RFC 6750 b64token: inside the credential it is not a Bearer token.
        refused(get(client, f"{header}.{padded_payload}.{signature}"), None,
                error="invalid_auth_header_format")
    standard = signature.replace("-", "+").replace("_", "/")
    if standard != signature:
        refused(get(client, f"{header}.{payload}.{standard}"),
                "signature: invalid base64url character")


# --- duplicate JSON members ----------------------------------------------------------------


def test_duplicate_claims_take_the_last_value(client: TestClient) -> None:
    """Decision: a JSON member given twice takes its LAST value (orjson, like PyJWT's json).
    It is safe because there is one parse: the verifier checks, and the app sees, the very
    same dict. ``{"sub":"alice","sub":"mallory"}`` signed by the IdP is mallory's token."""
    body = payload_with(sub='"alice","sub":"mallory"')
    accepted(get(client, sign_raw(ES, es_header(), body)), subject="mallory")
    body = payload_with(aud=f'"{AUDIENCE}","aud":"https://other.example"')
    refused(get(client, sign_raw(ES, es_header(), body)),
            {"expected": AUDIENCE, "actual": "https://other.example"}, error="invalid_audience")
    body = payload_with(iss=f'"https://evil.example","iss":"{ISSUER}"')
    accepted(get(client, sign_raw(ES, es_header(), body)))
    body = payload_with(exp=f"{_floor_now() + 3600},\"exp\":{_floor_now() - 3600}")
    refused(get(client, sign_raw(ES, es_header(), body)), EXPIRED)
    body = payload_with(scope='"read","scope":"write"')
    refused(get(client, sign_raw(ES, es_header(), body)), MISSING_READ,
            error="missing_required_scopes", status=403)


@pytest.mark.parametrize("header,cause", [
    (b'{"alg":"HS256","kid":"es256-0","alg":"ES256"}', None),
    (b'{"alg":"none","kid":"es256-0","alg":"ES256"}', None),
    (b'{"alg":"ES256","kid":"es256-0","alg":"none"}', ALG_NOT_ALLOWED),
    (b'{"alg":"ES256","kid":"es256-0","alg":"HS256"}', NO_KEY),
    (b'{"alg":"ES256","kid":"es256-0","alg":"RS256"}', NO_KEY),
    (b'{"alg":"ES256","kid":"rs256-0","kid":"es256-0"}', None),
    (b'{"alg":"ES256","kid":"es256-0","kid":"rs256-0"}', NO_KEY),
    (b'{"alg":"ES256","kid":"es256-0","crit":["exp"],"crit":null}', CRIT),
])
def test_duplicate_header_members_take_the_last_value(client: TestClient, header: bytes,
                                                      cause: str | None) -> None:
    """The last ``alg`` is the one checked against the allow-list and used to verify; the
    token is signed with ES256, so it passes only when the last ``alg`` is ES256."""
    token = sign_raw(ES, header, json.dumps(good_claims()).encode())
    if cause is None:
        accepted(get(client, token))
    else:
        refused(get(client, token), cause)


# --- oversized input -----------------------------------------------------------------------


def test_a_100_kb_authorization_header_is_a_401(client: TestClient) -> None:
    refused(get(client, "a" * 100_000), TOO_LARGE)
    good = mint(ES)
    refused(get(client, good + "A" * 100_000), TOO_LARGE)
    response = client.get("/whoami", headers={"authorization": "Basic " + "a" * 100_000})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_auth_header_format"


def test_a_9_kb_token_is_a_401_even_when_well_signed(client: TestClient) -> None:
    token = mint(ES, pad="x" * 6600)
    assert 9000 <= len(token) <= 9300
    refused(get(client, token), TOO_LARGE)


def test_segments_over_their_caps_are_a_401(client: TestClient) -> None:
    token = mint(ES, {"alg": "ES256", "kid": ES.kid, "pad": "x" * 1600})
    assert 2048 < token.index(".") and len(token) < 8192
    refused(get(client, token), "header segment is too large")
    # A header with 10,000 members, well within nothing: refused on size before parsing.
    many = {"alg": "ES256", "kid": ES.kid, **{f"h{i}": 0 for i in range(10_000)}}
    refused(get(client, mint(ES, many)), TOO_LARGE)
    header, payload, _ = mint(ES).split(".")
    refused(get(client, f"{header}.{payload}.{'A' * 1400}"), "signature segment is too large")


def test_ten_thousand_claims_are_a_401(client: TestClient) -> None:
    token = ES.mint(good_claims(**{f"c{i}": i for i in range(10_000)}))
    refused(get(client, token), TOO_LARGE)


def test_deeply_nested_json_is_a_401(idp: JwksServer, client: TestClient) -> None:
    nested = "[" * 5000 + "]" * 5000
    token = sign_raw(ES, es_header(), payload_with(deep=nested))
    refused(get(client, token), TOO_LARGE)
    # With the size cap raised to 1 MB the parser's own depth limit refuses it.
    mcp_auth = MCPAuth(server=server_config(idp.url))
    middleware = middleware_for(mcp_auth, jwt_verify={"max_token_bytes": 1 << 20})
    with TestClient(whoami_app(mcp_auth, middleware)) as roomy:
        refused(get(roomy, token), INVALID_JSON)
        objects = '{"a":' * 5000 + "1" + "}" * 5000
        refused(get(roomy, sign_raw(ES, es_header(), payload_with(deep=objects))), INVALID_JSON)
        refused(get(roomy, sign_raw(ES, es_header(), payload_with(deep="[" * 100_000))),
                INVALID_JSON)
        accepted(get(roomy, sign_raw(ES, es_header(), payload_with(deep="[" * 100 + "]" * 100))))
