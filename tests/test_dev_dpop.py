"""The client side of DPoP in the development tools: proofs that the package's own verifier
accepts, the persisted key, ``mcpauth-fast token --dpop`` (JWT and opaque), the httpx auth
against a server on 127.0.0.1 that asks for a nonce, and ``mcpauth-fast call --dpop`` through
the MCP SDK's client."""

from __future__ import annotations

import base64
import contextlib
import json
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from support.mcp import MCP_MAJOR, STATEFUL, new_server, serve, transport_app

from mcpauth_fast import MCPAuth
from mcpauth_fast.config import AuthServerType, fetch_server_config
from mcpauth_fast.dev.cli import main
from mcpauth_fast.dev.dpop_client import DPOP_KEY_FILE, DPoPKey, dpop_auth
from mcpauth_fast.dev.issuer import DevIssuer
from mcpauth_fast.dev.keystore import STATE_DIR_ENV
from mcpauth_fast.dev.opaque import OpaqueTokens
from mcpauth_fast.dpop import DPoPBindingError, DPoPProofError, DPoPProofVerifier, jwk_thumbprint

URI = "http://127.0.0.1:8000/mcp"
TOKEN = "an-access-token"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "dev-issuer"
    monkeypatch.setenv(STATE_DIR_ENV, str(directory))
    return directory


def payload(jws: str) -> dict[str, Any]:
    part = jws.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def verify(proof: str, *, method: str = "POST", uri: str = URI, access_token: str = TOKEN,
           jkt: str | None = None) -> str:
    return DPoPProofVerifier().verify([proof], method=method, uri=uri,
                                      access_token=access_token, jkt=jkt).jkt


# --- proofs ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_a_proof_passes_the_verifier(alg: str) -> None:
    key = DPoPKey.generate(alg)
    assert key.alg == alg and key.thumbprint == jwk_thumbprint(key.jwk)
    assert "d" not in key.jwk
    proof = key.proof("POST", URI + "?session=1#top", access_token=TOKEN)
    assert verify(proof, jkt=key.thumbprint) == key.thumbprint
    claims = payload(proof)
    assert claims["htu"] == URI and "nonce" not in claims


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
@pytest.mark.parametrize(("check", "reason"), [
    ({"method": "GET"}, "htm does not match the request method"),
    ({"uri": "http://127.0.0.1:8000/other"}, "htu does not match the request URI"),
    ({"access_token": "another-token"}, "ath does not match the access token"),
])
def test_a_proof_fails_the_verifier_for_another_request(alg: str, check: dict[str, str],
                                                        reason: str) -> None:
    key = DPoPKey.generate(alg)
    arguments: dict[str, Any] = {"jkt": key.thumbprint, **check}
    with pytest.raises(DPoPProofError) as refused:
        verify(key.proof("POST", URI, access_token=TOKEN), **arguments)
    assert refused.value.reason == reason


def test_a_proof_by_another_key_than_the_tokens_is_refused() -> None:
    key = DPoPKey.generate()
    with pytest.raises(DPoPBindingError):
        verify(key.proof("POST", URI, access_token=TOKEN), jkt=DPoPKey.generate().thumbprint)


def test_a_proof_without_a_token_has_no_ath_and_carries_the_nonce() -> None:
    key = DPoPKey.generate()
    claims = payload(key.proof("GET", URI, nonce="n1", iat=1_700_000_000, jti="j1"))
    assert claims == {"jti": "j1", "htm": "GET", "htu": URI, "iat": 1_700_000_000,
                      "nonce": "n1"}
    with pytest.raises(DPoPProofError, match="ath is missing"):
        verify(key.proof("POST", URI))


def test_each_proof_has_a_new_jti() -> None:
    key = DPoPKey.generate()
    assert payload(key.proof("POST", URI))["jti"] != payload(key.proof("POST", URI))["jti"]


# --- keys --------------------------------------------------------------------------------


def test_the_persisted_key_is_stable_and_private(state_dir: Path) -> None:
    first = DPoPKey.load_or_create()
    path = state_dir / DPOP_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert DPoPKey.load_or_create(state_dir).thumbprint == first.thumbprint
    assert DPoPKey.load(path).thumbprint == first.thumbprint
    assert first.alg == "ES256"


def test_a_pem_key_file_is_loaded(tmp_path: Path) -> None:
    key = DPoPKey.generate("EdDSA")
    path = tmp_path / "key.pem"
    path.write_bytes(key.private_pem())
    assert DPoPKey.load(path).thumbprint == key.thumbprint


@pytest.mark.parametrize("private", [
    lambda: ec.generate_private_key(ec.SECP384R1()),
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
], ids=["P-384", "RSA"])
def test_other_keys_are_refused(tmp_path: Path, private: Any) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(private().private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    with pytest.raises(ValueError, match="P-256 or an Ed25519"):
        DPoPKey.load(path)
    path.write_bytes(b"not a key")
    with pytest.raises(ValueError, match="not an unencrypted PEM private key"):
        DPoPKey.load(path)


# --- mcpauth-fast token --dpop -----------------------------------------------------------


def test_token_dpop_binds_a_jwt_to_the_persisted_key(
        state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--dpop", "--state-dir", str(state_dir)]) == 0
    token = capsys.readouterr().out.strip()
    thumbprint = DPoPKey.load_or_create(state_dir).thumbprint
    assert payload(token)["cnf"] == {"jkt": thumbprint}
    assert main(["token", "--state-dir", str(state_dir)]) == 0
    assert "cnf" not in payload(capsys.readouterr().out.strip())


def test_token_dpop_key_binds_to_the_given_key(
        tmp_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = DPoPKey.generate("EdDSA")
    path = tmp_path / "mine.pem"
    path.write_bytes(key.private_pem())
    assert main(["token", "--dpop-key", str(path), "--state-dir", str(state_dir)]) == 0
    assert payload(capsys.readouterr().out.strip())["cnf"] == {"jkt": key.thumbprint}
    assert not (state_dir / DPOP_KEY_FILE).exists()


def test_token_dpop_refuses_a_second_cnf(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--dpop", "--claim", 'cnf={"jkt":"x"}']) == 1
    out, err = capsys.readouterr()
    assert out == "" and "cnf" in err


def test_token_dpop_opaque_is_introspected_with_cnf(
        state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--opaque", "--dpop", "--state-dir", str(state_dir)]) == 0
    token = capsys.readouterr().out.strip()
    thumbprint = DPoPKey.load_or_create(state_dir).thumbprint
    claims = OpaqueTokens(state_dir).claims(token)
    assert claims is not None and claims["cnf"] == {"jkt": thumbprint}
    with DevIssuer(port=0, state_dir=state_dir) as issuer:
        answer = httpx.post(issuer.introspection_endpoint, data={"token": token},
                            auth=issuer.client_credentials, timeout=5)
    assert answer.status_code == 200
    body = answer.json()
    assert body["active"] is True and body["cnf"] == {"jkt": thumbprint}


# --- the httpx auth ----------------------------------------------------------------------


class NonceServer:
    """Answers 401 ``use_dpop_nonce`` with ``DPoP-Nonce: n1`` to a proof without a nonce;
    checks every other request's proof (its nonce the latest one handed out) and answers 200
    with the next nonce."""

    def __init__(self, key: DPoPKey) -> None:
        self.key = key
        #: Hand out a new nonce with every challenge: the retry's nonce is stale already.
        self.rotate = False
        self.verifier = DPoPProofVerifier()
        self.requests: list[dict[str, Any]] = []
        self.nonces = [f"n{i}" for i in range(1, 10)]
        self.app = Starlette(routes=[Route("/mcp", self.endpoint, methods=["GET", "POST"])])

    async def endpoint(self, request: Request) -> Response:
        proof = request.headers.getlist("dpop")
        claims = payload(proof[0]) if proof else {}
        self.requests.append({"authorization": request.headers.get("authorization"),
                              "nonce": claims.get("nonce"), "body": await request.body()})
        if claims.get("nonce") != self.nonces[0]:
            nonce = self.nonces.pop(0) if self.rotate else self.nonces[0]
            return Response(status_code=401, headers={
                "www-authenticate": 'DPoP error="use_dpop_nonce", '
                                    'error_description="Resource server requires nonce"',
                "dpop-nonce": nonce})
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        try:
            self.verifier.verify(proof, method=request.method, uri=str(request.url),
                                 access_token=token, jkt=self.key.thumbprint)
        except DPoPProofError as exc:
            return JSONResponse({"refused": exc.reason}, 400)
        if scheme != "DPoP":
            return JSONResponse({"refused": scheme}, 400)
        self.nonces.pop(0)
        return JSONResponse({"ok": True}, headers={"dpop-nonce": self.nonces[0]})


@pytest.fixture
def nonce_server() -> Iterator[tuple[NonceServer, str]]:
    server = NonceServer(DPoPKey.generate())
    with serve(server.app) as base:
        yield server, f"{base}/mcp"


def test_the_auth_retries_once_with_the_servers_nonce(
        nonce_server: tuple[NonceServer, str]) -> None:
    server, url = nonce_server
    with httpx.Client(auth=dpop_auth(server.key, TOKEN), timeout=5) as client:
        response = client.post(url, json={"hello": 1})
        assert response.status_code == 200, response.text
        assert len(server.requests) == 2
        assert [r["nonce"] for r in server.requests] == [None, "n1"]
        assert {r["authorization"] for r in server.requests} == {f"DPoP {TOKEN}"}
        # The body is sent again with the retry.
        assert server.requests[1]["body"] == server.requests[0]["body"] == b'{"hello":1}'
        # The nonce of the 200 goes into the next proof: no challenge this time.
        assert client.get(url).status_code == 200
        assert [r["nonce"] for r in server.requests] == [None, "n1", "n2"]


async def test_the_auth_works_with_httpx2(nonce_server: tuple[NonceServer, str]) -> None:
    httpx2 = pytest.importorskip("httpx2")
    server, url = nonce_server
    async with httpx2.AsyncClient(auth=dpop_auth(server.key, TOKEN, httpx2), timeout=5) as client:
        response = await client.post(url, json={"hello": 1})
    assert response.status_code == 200, response.text
    assert [r["nonce"] for r in server.requests] == [None, "n1"]


def test_a_second_nonce_challenge_is_not_retried(nonce_server: tuple[NonceServer, str]) -> None:
    server, url = nonce_server
    server.rotate = True
    with httpx.Client(auth=dpop_auth(server.key, TOKEN), timeout=5) as client:
        response = client.post(url)
    assert response.status_code == 401
    assert [r["nonce"] for r in server.requests] == [None, "n1"]


# --- mcpauth-fast call --dpop ------------------------------------------------------------


@pytest.fixture
def dpop_mcp_server(state_dir: Path) -> Iterator[tuple[MCPAuth, str]]:
    """An MCP server behind the real middleware, accepting DPoP with server nonces, that
    trusts the dev issuer running in ``state_dir`` (whose URL ``token`` then uses)."""
    if MCP_MAJOR < 2:
        pytest.skip("mcpauth-fast call runs on the MCP SDK 2.x")
    server = new_server(STATEFUL)

    @server.tool()
    async def hello() -> dict[str, Any]:
        """A tool with a structured result."""
        return {"greeting": "hello"}

    inner, session_manager, _ = transport_app(server, STATEFUL)

    with DevIssuer(port=0, state_dir=state_dir) as issuer:
        mcp_auth = MCPAuth(server=fetch_server_config(issuer.issuer, AuthServerType.OIDC))

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with session_manager.run():
                try:
                    yield
                finally:
                    await mcp_auth.aclose()  # its key fetches ran on this loop

        bearer = mcp_auth.bearer_auth_middleware("jwt", dpop={"nonce": True})
        app = Starlette(routes=[Mount("/", app=inner, middleware=[Middleware(bearer)])],
                        lifespan=lifespan)
        with serve(app) as base:
            yield mcp_auth, f"{base}/mcp"


def refusals(mcp_auth: MCPAuth) -> dict[str, int]:
    return {labels["reason"]: value
            for labels, value in mcp_auth.metrics()["mcpauth_requests_refused"]}


def test_call_dpop_reaches_the_tool(dpop_mcp_server: tuple[MCPAuth, str], state_dir: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    mcp_auth, url = dpop_mcp_server
    assert main(["token", "--dpop", "--state-dir", str(state_dir)]) == 0
    token = capsys.readouterr().out.strip()
    status = main(["call", url, "hello", "--token", token, "--dpop", "--get", "greeting",
                   "--state-dir", str(state_dir)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.strip() == "hello"
    # One nonce challenge, on the first request; every later proof carries the nonce.
    assert refusals(mcp_auth) == {"use_dpop_nonce": 1}
    assert dict(mcp_auth.metrics()["mcpauth_requests_accepted"][0][0]) == {}
    assert mcp_auth.metrics()["mcpauth_requests_accepted"][0][1] >= 2


def test_call_dpop_with_another_key_is_refused_in_one_line(
        dpop_mcp_server: tuple[MCPAuth, str], state_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    mcp_auth, url = dpop_mcp_server
    assert main(["token", "--dpop", "--state-dir", str(state_dir)]) == 0
    token = capsys.readouterr().out.strip()
    other = tmp_path / "other.pem"
    other.write_bytes(DPoPKey.generate().private_pem())
    assert main(["call", url, "hello", "--token", token, "--dpop-key", str(other)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith('mcpauth-fast: error: the server refused the call: HTTP 401 '
                          'Bearer, DPoP error="invalid_token", error_description="The DPoP '
                          'proof is signed by another key'), err
    assert err.count("\n") == 1
    assert refusals(mcp_auth) == {"dpop_binding": 1}  # checked before the nonce
