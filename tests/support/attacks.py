"""The attack catalogue's app, keys and assertions (tests/test_attacks_*.py).

Every case sends a token to a real Starlette app behind the middleware built by
``MCPAuth.bearer_auth_middleware("jwt", ...)``, whose JWKS is served by a real HTTP server on
127.0.0.1, and asserts the exact status, the JSON ``error``, the RFC 6750 ``error`` of the
``WWW-Authenticate`` challenge and, since the app shows error details, the ``cause``: the
defence that refused it. Forged tokens are otherwise perfect (really signed, valid claims),
so removing the defence under test turns the refusal into a 200 or changes the cause. The
fixtures (``idp``, ``attacker``, ``client`` and the autouse check that only the configured
JWKS is fetched) are in ``tests/attacks/conftest.py``.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import re
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from starlette.testclient import TestClient

from mcpauth_fast import MCPAuth
from support.jwks_server import JwksServer
from support.local_server import LocalServer, Reply
from support.tokens import (
    ASYMMETRIC_ALGORITHMS,
    AUDIENCE,
    SigningKey,
    b64url,
    b64url_json,
    claims,
    signing_key,
)

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


def signed_as(key: SigningKey, alg: str, kid: str | None, sign_alg: str | None = None) -> str:
    header = {"alg": alg, "typ": "at+jwt", **({"kid": kid} if kid else {})}
    return sign_segments(key, b64url_json(header), b64url_json(good_claims()), sign_alg or alg)


def floor_now() -> int:
    return math.floor(time.time())


MISSING_READ = {"missing_scopes": ["read"]}
