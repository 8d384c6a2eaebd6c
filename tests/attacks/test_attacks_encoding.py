"""Attacks through the encoding, through a real ASGI app (both implementations): signature
tampering, ECDSA DER and r/s out of range (high-S is accepted: JWS does not require low-S),
spliced and non-canonical tokens, duplicate JSON members (the last one wins, as orjson and
PyJWT's ``json``), and oversized or deeply nested input. The catalogue's app, keys and
assertions: ``support.attacks``.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from starlette.testclient import TestClient
from support.app_factory import server_config, whoami_app
from support.attacks import (
    ALG_NOT_ALLOWED,
    BAD_SIGNATURE,
    CRIT,
    ED,
    ES,
    EXPIRED,
    INVALID_JSON,
    MISSING_READ,
    NO_KEY,
    P256_N,
    RS,
    SIGNATURE_EMPTY,
    TOO_LARGE,
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
    signed_as,
    split,
    with_signature,
)
from support.jwks_server import JwksServer
from support.tokens import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    b64url,
    b64url_json,
    signing_key,
)

from mcpauth_fast import MCPAuth

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
    refused(get(client, signed_as(forger, alg, trusted.kid)), BAD_SIGNATURE)


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
        # "=" only ends an RFC 6750 b64token: inside the credential it is a malformed token.
        refused(get(client, f"{header}.{padded_payload}.{signature}"),
                "token is not an RFC 6750 b64token")
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
    body = payload_with(exp=f"{floor_now() + 3600},\"exp\":{floor_now() - 3600}")
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
