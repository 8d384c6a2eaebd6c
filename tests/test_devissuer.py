"""The development issuer over real HTTP on 127.0.0.1: discovery, JWKS, minting, the CLI."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.tokens import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, signing_key

import mcpauth_fast
from mcpauth_fast.dev.cli import main
from mcpauth_fast.dev.issuer import DevIssuer
from mcpauth_fast.dev.keystore import (
    DEFAULT_ISSUER,
    DEV_ALGORITHMS,
    DEV_CLIENT_ID,
    ISSUER_FILE,
    KEYS_FILE,
    STATE_DIR_ENV,
    DevKeys,
    mint_token,
    recorded_issuer,
)
from mcpauth_fast.dev.signing import encode_jws, export_jwk, jwk_thumbprint
from mcpauth_fast.jwks import RemoteJwks, StaticKeys
from mcpauth_fast.keys import hmac_key, key_from_jwk
from mcpauth_fast.types import AuthInfo
from mcpauth_fast.verifier import JwtVerifier

AUDIENCE = "http://127.0.0.1:9/mcp"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
SRC = str(Path(mcpauth_fast.__file__).resolve().parent.parent)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test's default state dir is a tmp dir: the real home is never touched."""
    directory = tmp_path / "dev-issuer"
    monkeypatch.setenv(STATE_DIR_ENV, str(directory))
    return directory


@pytest.fixture
def issuer(state_dir: Path) -> Iterator[DevIssuer]:
    with DevIssuer() as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture
async def remote_verifier(issuer: DevIssuer) -> AsyncIterator[JwtVerifier]:
    keys = RemoteJwks(issuer.jwks_uri)
    try:
        yield JwtVerifier(keys, typ="at+jwt", leeway=0)
    finally:
        await keys.aclose()


def header(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(b64decode(token.split(".")[0]))
    return decoded


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def assert_claims(info: AuthInfo, issuer: str, sub: str, scopes: tuple[str, ...],
                  aud: Any, ttl: int) -> None:
    assert info.issuer == issuer
    assert info.subject == sub
    assert tuple(info.scopes) == scopes
    assert info.audience == aud
    assert info.client_id == DEV_CLIENT_ID
    assert info.expires_at is not None and abs(info.expires_at - (time.time() + ttl)) < 30
    assert info.claims["iat"] == info.claims["nbf"] == info.claims["exp"] - ttl
    assert isinstance(info.claims["jti"], str) and len(info.claims["jti"]) >= 16


# --- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["openid-configuration", "oauth-authorization-server"])
def test_discovery_document(issuer: DevIssuer, http: httpx.Client, path: str) -> None:
    response = http.get(f"{issuer.issuer}/.well-known/{path}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    metadata = response.json()
    assert issuer.issuer.startswith("http://127.0.0.1:")
    assert metadata["issuer"] == issuer.issuer
    assert metadata["jwks_uri"] == issuer.jwks_uri == f"{issuer.issuer}/jwks"
    assert metadata["authorization_endpoint"] == f"{issuer.issuer}/authorize"
    assert metadata["token_endpoint"] == f"{issuer.issuer}/token"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["scopes_supported"] == ["read", "write"]


def test_jwks_has_the_three_public_keys_only(issuer: DevIssuer, http: httpx.Client) -> None:
    response = http.get(issuer.jwks_uri)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "max-age=300"
    document = response.json()
    assert [jwk["alg"] for jwk in document["keys"]] == list(DEV_ALGORITHMS)
    assert [(jwk["kty"], jwk.get("crv")) for jwk in document["keys"]] == [
        ("RSA", None), ("EC", "P-256"), ("OKP", "Ed25519")
    ]
    for jwk in document["keys"]:
        assert not PRIVATE_MEMBERS & set(jwk), jwk
        assert jwk["use"] == "sig"
        assert jwk["kid"] == jwk_thumbprint(jwk)
        assert key_from_jwk(jwk).algorithms == {jwk["alg"]}
    assert document == issuer.keys.jwks()


def test_unknown_paths_and_methods(issuer: DevIssuer, http: httpx.Client) -> None:
    assert http.get(f"{issuer.issuer}/nothing").status_code == 404
    assert http.post(issuer.jwks_uri).status_code == 405


# --- Minting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", DEV_ALGORITHMS)
async def test_minted_token_verifies_against_the_served_jwks(
    issuer: DevIssuer, remote_verifier: JwtVerifier, alg: str
) -> None:
    token = issuer.mint(sub="bob", scope="read admin", aud=AUDIENCE, ttl=600, alg=alg,
                        tenant="acme")
    assert header(token) == {"alg": alg, "kid": issuer.keys.kids[alg], "typ": "at+jwt"}
    info = await remote_verifier.verify(token)
    assert_claims(info, issuer.issuer, "bob", ("read", "admin"), AUDIENCE, 600)
    assert info.claims["tenant"] == "acme"


async def test_mint_defaults_and_overrides(
    issuer: DevIssuer, remote_verifier: JwtVerifier
) -> None:
    info = await remote_verifier.verify(issuer.mint())
    assert_claims(info, issuer.issuer, "alice", ("read", "write"), None, 3600)
    assert "aud" not in info.claims
    info = await remote_verifier.verify(
        issuer.mint(scope=["a", "b"], aud=[AUDIENCE, "other"], client_id="someone-else")
    )
    assert info.scopes == ["a", "b"] and info.audience == [AUDIENCE, "other"]
    assert info.client_id == "someone-else"
    assert "scope" not in (await remote_verifier.verify(issuer.mint(scope=None))).claims


def test_mint_refuses_an_unknown_alg(issuer: DevIssuer) -> None:
    with pytest.raises(ValueError, match="alg must be one of"):
        issuer.mint(alg="HS256")


def test_issuer_url_is_unknown_before_start(state_dir: Path) -> None:
    dev = DevIssuer()
    with pytest.raises(RuntimeError):
        dev.mint()
    with pytest.raises(RuntimeError):
        dev.asgi_app()
    dev.stop()  # not started: nothing to do


# --- The CLI -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", DEV_ALGORITHMS)
async def test_cli_token_verifies(
    issuer: DevIssuer, remote_verifier: JwtVerifier, capsys: pytest.CaptureFixture[str], alg: str
) -> None:
    status = main(["token", "--sub", "carol", "--scope", "read", "--aud", AUDIENCE,
                   "--ttl", "120", "--alg", alg, "--claim", "level=3", "--claim", "team=blue"])
    out, err = capsys.readouterr()
    assert status == 0 and err == ""
    assert out.endswith("\n") and out.count("\n") == 1
    token = out.strip()
    assert header(token)["alg"] == alg
    # The issuer URL comes from the running issuer's record in the state dir.
    info = await remote_verifier.verify(token)
    assert_claims(info, issuer.issuer, "carol", ("read",), AUDIENCE, 120)
    assert info.claims["level"] == 3 and info.claims["team"] == "blue"


async def test_cli_token_as_a_subprocess(
    issuer: DevIssuer, remote_verifier: JwtVerifier, state_dir: Path
) -> None:
    env = {**os.environ, STATE_DIR_ENV: str(state_dir), "PYTHONPATH": SRC}
    result = subprocess.run(
        [sys.executable, "-m", "mcpauth_fast", "token", "--aud", AUDIENCE, "--aud", "other",
         "--alg", "ES256"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    info = await remote_verifier.verify(lines[0])
    assert_claims(info, issuer.issuer, "alice", ("read", "write"), [AUDIENCE, "other"], 3600)


def test_cli_token_without_a_running_issuer(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token"]) == 0
    token = capsys.readouterr().out.strip()
    info = JwtVerifier(StaticKeys(DevKeys.load_or_create().jwks())).verify_sync(token)
    assert info.issuer == DEFAULT_ISSUER
    assert main(["token", "--issuer", "https://dev.example", "--state-dir", str(state_dir)]) == 0
    payload = json.loads(b64decode(capsys.readouterr().out.split(".")[1]))
    assert payload["iss"] == "https://dev.example"


@pytest.mark.parametrize("claim", ["sub=x", "alg=none", "noequals", "=x"])
def test_cli_refuses_bad_claims(claim: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["token", "--claim", claim])
    assert exit_info.value.code == 2
    assert capsys.readouterr().out == ""


def test_cli_reports_unusable_keys(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state_dir.mkdir(parents=True)
    (state_dir / KEYS_FILE).write_text("{not json")
    assert main(["token"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "delete the file" in err


def test_cli_issuer_runs_until_ctrl_c(state_dir: Path, http: httpx.Client) -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    process = subprocess.Popen(
        [sys.executable, "-m", "mcpauth_fast", "issuer", "--port", "0",
         "--state-dir", str(state_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # As from a terminal: a test run started in the background by a shell without job
        # control inherits SIGINT ignored, and an ignored SIGINT stays ignored in the child.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    try:
        assert process.stdout is not None
        issuer_url = process.stdout.readline().split()[-1]
        jwks_uri = process.stdout.readline().split()[-1]
        assert issuer_url.startswith("http://127.0.0.1:") and jwks_uri == f"{issuer_url}/jwks"
        assert recorded_issuer(state_dir) == issuer_url
        assert len(http.get(jwks_uri).json()["keys"]) == 3
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert recorded_issuer(state_dir) is None


# --- Keys and state ------------------------------------------------------------------------


def test_keys_are_persisted_and_reused(tmp_path: Path, http: httpx.Client) -> None:
    directory = tmp_path / "shared"
    with DevIssuer(state_dir=directory) as first:
        first_jwks = http.get(first.jwks_uri).json()
        token = first.mint(aud=AUDIENCE)
    with DevIssuer(state_dir=directory) as second:
        assert http.get(second.jwks_uri).json() == first_jwks
        assert second.keys.kids == first.keys.kids
    # A token minted by one instance verifies with the keys another one loads.
    assert JwtVerifier(StaticKeys(first_jwks)).verify_sync(token).audience == AUDIENCE
    via_function = mint_token(directory, "https://x.example", sub="dave", alg="EdDSA")
    assert JwtVerifier(StaticKeys(first_jwks)).verify_sync(via_function).subject == "dave"


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_key_file_is_private(state_dir: Path) -> None:
    DevKeys.load_or_create()
    assert stat.S_IMODE((state_dir / KEYS_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert sorted(path.name for path in state_dir.iterdir()) == [KEYS_FILE]


def test_issuer_records_its_url_while_running(state_dir: Path) -> None:
    with DevIssuer() as dev:
        assert recorded_issuer() == dev.issuer
        assert json.loads((state_dir / ISSUER_FILE).read_text())["jwks_uri"] == dev.jwks_uri
        url = dev.issuer
    assert recorded_issuer() is None
    with pytest.raises(RuntimeError):
        dev.issuer  # noqa: B018 - forgotten once stopped
    # A restarted instance gets a fresh URL; a second start is refused.
    with dev:
        assert dev.issuer.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError, match="already started"):
            dev.start()
    assert url.startswith("http://127.0.0.1:")


def test_start_failures_release_the_port(state_dir: Path) -> None:
    with DevIssuer() as running:
        taken = int(running.issuer.rsplit(":", 1)[1])
        second = DevIssuer(port=taken)
        with pytest.raises(OSError):
            second.start()
        with pytest.raises(RuntimeError):
            second.issuer  # noqa: B018 - no URL when it did not start
    broken = DevIssuer(state_dir=state_dir.parent / "broken")
    broken.state_dir.mkdir()
    (broken.state_dir / KEYS_FILE).write_text('{"keys": []}')
    with pytest.raises(ValueError, match="delete the file"):
        broken.start()
    assert not (broken.state_dir / ISSUER_FILE).exists()
    with pytest.raises(RuntimeError):
        broken.issuer  # noqa: B018


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "::1", "example.com", ""])
def test_non_loopback_bind_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        DevIssuer(host=host)


def test_localhost_binds_to_127_0_0_1(http: httpx.Client) -> None:
    with DevIssuer(host="localhost") as dev:
        assert dev.issuer.startswith("http://127.0.0.1:")
        assert http.get(dev.jwks_uri).status_code == 200


async def test_async_context_manager() -> None:
    async with DevIssuer() as dev, httpx.AsyncClient() as client:
        metadata = (await client.get(f"{dev.issuer}/.well-known/openid-configuration")).json()
        assert metadata["issuer"] == dev.issuer


async def test_asgi_app_mounted_with_a_given_issuer() -> None:
    dev = DevIssuer(issuer="http://testserver/dev")
    transport = httpx.ASGITransport(app=dev.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
        jwks = (await client.get("/jwks")).json()
    assert metadata["issuer"] == "http://testserver/dev"
    assert metadata["jwks_uri"] == "http://testserver/dev/jwks"
    token = dev.mint(aud=AUDIENCE, alg="ES256")
    assert JwtVerifier(StaticKeys(jwks)).verify_sync(token).issuer == "http://testserver/dev"


# --- The JOSE helpers (the one signing implementation) ----------------------------------------


def test_thumbprint_of_the_rfc_7638_example() -> None:
    jwk = {
        "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L"
             "6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ"
             "5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD"
             "08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEg"
             "U8awapJzKnqDKgw",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("alg", [*ASYMMETRIC_ALGORITHMS, "Ed448"])
def test_export_and_sign_agree_with_keys_py(alg: str) -> None:
    key = signing_key(alg)
    jwk = export_jwk(key.private)
    assert jwk == export_jwk(key.public)
    assert not PRIVATE_MEMBERS & set(jwk)
    token = encode_jws({"alg": key.alg, "kid": "k"}, {"sub": "alice"}, key.private)
    head, payload, signature = token.split(".")
    key_from_jwk({**jwk, "kid": "k"}).verify(
        key.alg, f"{head}.{payload}".encode(), b64decode(signature)
    )


@pytest.mark.parametrize("alg", HMAC_ALGORITHMS)
def test_hmac_signatures_agree_with_keys_py(alg: str) -> None:
    secret = signing_key(alg).private
    assert export_jwk(secret)["kty"] == "oct"
    head, payload, signature = encode_jws({"alg": alg}, {"sub": "a"}, secret).split(".")
    hmac_key(secret, alg=alg).verify(alg, f"{head}.{payload}".encode(), b64decode(signature))


@pytest.mark.parametrize(("alg", "key_alg"), [("ES256", "RS256"), ("RS256", "EdDSA"),
                                              ("EdDSA", "ES256"), ("HS256", "RS256"),
                                              ("none", "RS256"), ("RS999", "RS256")])
def test_sign_refuses_an_algorithm_that_does_not_fit(alg: str, key_alg: str) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_jws({"alg": alg}, {}, signing_key(key_alg).private)
