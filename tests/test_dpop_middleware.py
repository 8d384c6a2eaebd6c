"""DPoP at the protected resource (RFC 9449 section 7): ``bearer_auth_middleware(dpop=...)``.

A real Starlette app behind the middleware, its JWKS (and introspection endpoint) served on
127.0.0.1; tokens signed with the test keys and bound (``cnf.jkt``) to joserfc keys, and every
proof made by joserfc. Each case asserts the status, the JSON ``error``, the challenges and
what the route saw.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwk
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from support.app_factory import RESOURCE, resource_mode
from support.dpop_proofs import proof as make_proof
from support.introspection_server import (  # noqa: F401 - the fixture
    IntrospectionServer,
    introspection_server_fixture,
    opaque_token,
)
from support.jwks_server import JwksServer
from support.metadata_server import static_config
from support.tokens import AUDIENCE, ISSUER, claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.dpop import DPoPNonces, DPoPProofVerifier
from mcpauth_fast.exceptions import MCPAuthConfigException

PUBLIC = "https://mcp.example.com"  # the origin of RESOURCE: what proofs' htu name
HTU = f"{PUBLIC}/whoami"
ES = signing_key("ES256")
EC_KEY = jwk.ECKey.generate_key("P-256")
OKP_KEY = jwk.OKPKey.generate_key("Ed25519")
OTHER_KEY = jwk.ECKey.generate_key("P-256")
ALGS = 'algs="ES256 EdDSA"'
METADATA = 'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'


def proof(token: str | None, key: Any = EC_KEY, *, method: str = "GET", htu: str = HTU,
          header: dict[str, Any] | None = None, **claims_: Any) -> str:
    return make_proof(key, token, htu, method, header=header, **claims_)


def bound_token(key: Any = EC_KEY, **overrides: Any) -> str:
    """A JWT of the test issuer bound to ``key`` (``cnf.jkt``)."""
    overrides.setdefault("cnf", {"jkt": key.thumbprint()})
    return ES.mint(claims(time.time(), **overrides))


def bearer_token(**overrides: Any) -> str:
    return ES.mint(claims(time.time(), **overrides))


async def whoami(request: Request) -> JSONResponse:
    info = request.scope["auth"]
    return JSONResponse({"subject": info.subject, "jkt": info.claims.get("cnf", {}).get("jkt")})


def app_of(middleware: Any) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/whoami", whoami, methods=["GET", "POST"])],
                    middleware=[Middleware(middleware)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver")


@pytest.fixture
def mcp_auth(jwks_server: JwksServer) -> MCPAuth:
    return resource_mode(jwks_server)


def client_for(mcp_auth: MCPAuth, dpop: Any = True, **options: Any) -> httpx.AsyncClient:
    options.setdefault("required_scopes", ["read"])
    return app_of(mcp_auth.bearer_auth_middleware(
        "jwt", resource=RESOURCE, show_error_details=True, dpop=dpop, **options))


@pytest.fixture
async def client(mcp_auth: MCPAuth) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(mcp_auth) as http:
        yield http


async def dpop_get(http: httpx.AsyncClient, token: str, proofs: Any = (), *,
                   path: str = "/whoami", method: str = "GET") -> httpx.Response:
    headers = [("authorization", f"DPoP {token}")]
    headers += [("dpop", value) for value in ([proofs] if isinstance(proofs, str) else proofs)]
    return await http.request(method, path, headers=headers)


def challenges(response: httpx.Response) -> list[str]:
    return response.headers.get_list("www-authenticate")


def refused(response: httpx.Response, error: str, description: str | None = None,
            scheme: str = "DPoP", status: int = 401) -> None:
    """Exactly this refusal: status, body ``error``, and the error in ``scheme``'s challenge."""
    body = response.json()
    assert (response.status_code, body["error"]) == (status, error), body
    if description is not None:
        assert body["error_description"] == description
    with_error = [c for c in challenges(response) if "error=" in c]
    assert len(with_error) == 1 and with_error[0].startswith(f'{scheme} error="{error}"'), \
        challenges(response)


# --- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [EC_KEY, OKP_KEY], ids=["ES256", "EdDSA"])
async def test_a_bound_token_with_its_proof_is_let_in(client: httpx.AsyncClient,
                                                      key: Any) -> None:
    token = bound_token(key)
    for _ in range(3):  # the first verifies the token, the others find it in the cache
        response = await dpop_get(client, token, proof(token, key))
        assert response.status_code == 200, response.text
        assert response.json() == {"subject": "alice", "jkt": key.thumbprint()}


async def test_scheme_name_is_case_insensitive(client: httpx.AsyncClient) -> None:
    token = bound_token()
    response = await client.get("/whoami", headers={"authorization": f"dpop {token}",
                                                    "dpop": proof(token)})
    assert response.status_code == 200, response.text


async def test_an_unbound_bearer_token_still_works_where_dpop_is_optional(
        client: httpx.AsyncClient) -> None:
    token = bearer_token()
    response = await client.get("/whoami", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "alice", "jkt": None}


# --- a cached token never skips its proof ---------------------------------------------------


async def test_every_request_needs_its_own_proof_even_when_the_token_is_cached(
        client: httpx.AsyncClient) -> None:
    token = bound_token()
    first = proof(token)
    assert (await dpop_get(client, token, first)).status_code == 200
    refused(await dpop_get(client, token), "invalid_dpop_proof", "DPoP proof is missing")
    refused(await dpop_get(client, token, first), "invalid_dpop_proof", "jti was already used")
    refused(await dpop_get(client, token, proof(bearer_token())), "invalid_dpop_proof",
            "ath does not match the access token")
    refused(await dpop_get(client, token, proof(token, OTHER_KEY)), "invalid_token",
            "The DPoP proof is signed by another key than the one the token is bound to.")
    assert (await dpop_get(client, token, proof(token))).status_code == 200


# --- each check of RFC 9449 section 4.3, through the middleware -----------------------------

REFUSED_PROOFS = {
    "two proofs": (lambda t: [proof(t), proof(t)], "more than one DPoP proof"),
    "not a JWS": (lambda t: "not.a-jws", "DPoP proof is not a compact JWS"),
    "typ": (lambda t: proof(t, header={"typ": "JWT"}), "typ is not dpop+jwt"),
    "alg none": (lambda t: proof(t, header={"alg": "none"}), "alg is not allowed"),
    "private jwk": (lambda t: proof(t, header={"jwk": EC_KEY.as_dict(private=True)}),
                    "jwk is not a public key"),
    "signature": (lambda t: proof(t)[:-8] + "AAAAAAAA", "signature is invalid"),
    "htm": (lambda t: proof(t, method="POST"), "htm does not match the request method"),
    "htu path": (lambda t: proof(t, htu=f"{PUBLIC}/other"), "htu does not match the request URI"),
    "htu host": (lambda t: proof(t, htu="http://testserver/whoami"),
                 "htu does not match the request URI"),
    "iat old": (lambda t: proof(t, iat=int(time.time()) - 301), "iat is too old"),
    # Well past the window: the request may reach the check seconds after the proof is made.
    "iat future": (lambda t: proof(t, iat=int(time.time()) + 360), "iat is in the future"),
    "no jti": (lambda t: proof(t, jti=None), "jti is missing or not a string"),
    "no ath": (lambda t: proof(None), "ath is missing"),
    "no htm": (lambda t: proof(t, method=None), "htm does not match the request method"),
    "no htu": (lambda t: proof(t, htu=None), "htu does not match the request URI"),
    "no iat": (lambda t: proof(t, iat=None), "iat is missing or not a number"),
    "no jwk": (lambda t: proof(t, header={"jwk": None}), "jwk is missing"),
    "HS256": (lambda t: proof(t, header={"alg": "HS256"}), "alg is not allowed"),
    "wrong ath": (lambda t: proof(t, ath="not-the-right-hash"),
                  "ath does not match the access token"),
}


@pytest.mark.parametrize("case", REFUSED_PROOFS)
async def test_each_proof_check_refuses_with_invalid_dpop_proof(
        client: httpx.AsyncClient, case: str) -> None:
    token = bound_token()
    make, reason = REFUSED_PROOFS[case]
    response = await dpop_get(client, token, make(token))
    refused(response, "invalid_dpop_proof", reason)
    # The DPoP challenge carries the error; the Bearer one is offered without.
    assert challenges(response) == [
        f'Bearer scope="read", {METADATA}',
        f'DPoP error="invalid_dpop_proof", error_description="{reason}", {ALGS}, '
        f'scope="read", {METADATA}',
    ]


async def test_htu_is_compared_after_normalisation(client: httpx.AsyncClient) -> None:
    token = bound_token()
    for htu in ("HTTPS://MCP.Example.COM:443/whoami", "https://mcp.example.com/whoami?x=1#f",
                "https://mcp.example.com/%77hoami"):
        response = await dpop_get(client, token, proof(token, htu=htu))
        assert response.status_code == 200, (htu, response.text)


async def test_htu_is_the_public_url_whatever_host_the_proxy_sends(mcp_auth: MCPAuth) -> None:
    async with client_for(mcp_auth, dpop={"public_url": "https://public.example:8443/"}) as http:
        token = bound_token()
        ok = await dpop_get(http, token, proof(token, htu="https://public.example:8443/whoami"))
        assert ok.status_code == 200, ok.text
        internal = proof(token, htu="http://testserver/whoami")
        refused(await dpop_get(http, token, internal), "invalid_dpop_proof",
                "htu does not match the request URI")


async def test_without_a_resource_htu_is_the_request_own_url(jwks_server: JwksServer) -> None:
    from support.app_factory import auth_server_mode

    mcp_auth = auth_server_mode(jwks_server)
    async with app_of(mcp_auth.bearer_auth_middleware("jwt", audience=AUDIENCE,
                                                      dpop=True)) as http:
        token = bound_token()
        ok = await dpop_get(http, token, proof(token, htu="http://testserver/whoami"))
        assert ok.status_code == 200, ok.text
        refused(await dpop_get(http, token, proof(token)), "invalid_dpop_proof")


async def test_method_is_the_request_method(client: httpx.AsyncClient) -> None:
    token = bound_token()
    ok = await dpop_get(client, token, proof(token, method="POST"), method="POST")
    assert ok.status_code == 200, ok.text


# --- the binding (RFC 9449 sections 6 and 7.2) -----------------------------------------------


async def test_a_bound_token_sent_as_bearer_is_refused(client: httpx.AsyncClient) -> None:
    token = bound_token()
    response = await client.get("/whoami", headers={"authorization": f"Bearer {token}",
                                                    "dpop": proof(token)})
    refused(response, "invalid_token", "The token is bound to a DPoP key: send it as "
            "`Authorization: DPoP <token>` with a DPoP proof.", scheme="Bearer")
    assert challenges(response)[1] == f"DPoP {ALGS}, scope=\"read\", {METADATA}"
    # ... also once its verification is cached
    assert (await dpop_get(client, token, proof(token))).status_code == 200
    again = await client.get("/whoami", headers={"authorization": f"Bearer {token}"})
    refused(again, "invalid_token", scheme="Bearer")


async def test_an_unbound_token_sent_with_dpop_is_refused(client: httpx.AsyncClient) -> None:
    token = bearer_token()
    refused(await dpop_get(client, token, proof(token)), "invalid_token",
            "The token is not bound to a DPoP key.")
    token = bound_token(cnf={"jkt": 7})
    refused(await dpop_get(client, token, proof(token)), "invalid_token")


async def test_no_credentials_get_both_challenges(client: httpx.AsyncClient) -> None:
    response = await client.get("/whoami")
    assert response.status_code == 401
    assert challenges(response) == [f'Bearer scope="read", {METADATA}',
                                    f'DPoP {ALGS}, scope="read", {METADATA}']


async def test_malformed_dpop_credentials_are_invalid_request(
        client: httpx.AsyncClient) -> None:
    for value in ("DPoP", "DPoP ", "DPoP a b"):
        response = await client.get("/whoami", headers={"authorization": value})
        refused(response, "invalid_request", status=400)


async def test_required_dpop_refuses_bearer_tokens(mcp_auth: MCPAuth) -> None:
    async with client_for(mcp_auth, dpop={"required": True}) as http:
        none = await http.get("/whoami")
        assert none.status_code == 401
        assert challenges(none) == [f'DPoP {ALGS}, scope="read", {METADATA}']
        bearer = await http.get("/whoami",
                                headers={"authorization": f"Bearer {bearer_token()}"})
        refused(bearer, "invalid_token", "This resource requires DPoP: send the token as "
                "`Authorization: DPoP <token>` with a DPoP proof.")
        assert len(challenges(bearer)) == 1
        token = bound_token()
        assert (await dpop_get(http, token, proof(token))).status_code == 200


async def test_another_audience_is_refused_in_the_dpop_challenge(
        client: httpx.AsyncClient) -> None:
    token = bound_token(aud="https://not-this-server.example.com/mcp")
    response = await dpop_get(client, token, proof(token))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_audience")
    assert challenges(response)[1].startswith('DPoP error="invalid_token"')


async def test_scopes_are_checked_after_the_proof(client: httpx.AsyncClient) -> None:
    token = bound_token(scope="write")
    refused(await dpop_get(client, token), "invalid_dpop_proof")
    response = await dpop_get(client, token, proof(token))
    assert response.status_code == 403
    assert response.json()["error"] == "missing_required_scopes"
    assert challenges(response)[1].startswith('DPoP error="insufficient_scope"')


async def test_the_algorithms_are_configurable(mcp_auth: MCPAuth) -> None:
    async with client_for(mcp_auth, dpop={"algorithms": ["EdDSA"]}) as http:
        token = bound_token()
        refused(await dpop_get(http, token, proof(token)), "invalid_dpop_proof",
                "alg is not allowed")
        assert 'algs="EdDSA"' in challenges(await http.get("/whoami"))[1]
        token = bound_token(OKP_KEY)
        assert (await dpop_get(http, token, proof(token, OKP_KEY))).status_code == 200


async def test_iat_window_is_configurable(mcp_auth: MCPAuth) -> None:
    async with client_for(mcp_auth, dpop={"iat_window": 10}) as http:
        token = bound_token()
        refused(await dpop_get(http, token, proof(token, iat=int(time.time()) - 30)),
                "invalid_dpop_proof", "iat is too old")


# --- opaque tokens: cnf.jkt from the introspection response ---------------------------------


async def test_introspected_tokens_are_bound_by_their_cnf(
        introspection_server: IntrospectionServer) -> None:
    mcp_auth = MCPAuth(server=static_config(ISSUER, introspection_endpoint=introspection_server.url,
                                            jwks_uri=f"{ISSUER}/jwks"))
    now = int(time.time())
    answer = {"active": True, "iss": ISSUER, "sub": "bob", "aud": AUDIENCE, "scope": "read",
              "exp": now + 600, "token_type": "DPoP", "cnf": {"jkt": EC_KEY.thumbprint()}}
    bound, unbound = opaque_token("bound"), opaque_token("unbound")
    introspection_server.answers[bound] = answer
    introspection_server.answers[unbound] = {**answer, "token_type": "Bearer", "cnf": None}
    middleware = mcp_auth.bearer_auth_middleware(
        "introspection", audience=AUDIENCE, dpop=True,
        introspection={"client_id": "rs", "client_secret": "secret"})
    try:
        async with app_of(middleware) as http:
            for _ in range(2):
                ok = await dpop_get(http, bound, proof(bound, htu="http://testserver/whoami"))
                assert ok.status_code == 200, ok.text
                assert ok.json() == {"subject": "bob", "jkt": EC_KEY.thumbprint()}
            as_bearer = await http.get("/whoami", headers={"authorization": f"Bearer {bound}"})
            refused(as_bearer, "invalid_token", scheme="Bearer")
            other_key = proof(bound, OTHER_KEY, htu="http://testserver/whoami")
            refused(await dpop_get(http, bound, other_key), "invalid_token")
            no_key = await dpop_get(http, unbound, proof(unbound, htu="http://testserver/whoami"))
            refused(no_key, "invalid_token", "The token is not bound to a DPoP key.")
    finally:
        await mcp_auth.aclose()


# --- server nonces (RFC 9449 section 9) ------------------------------------------------------

SECRET = b"n" * 32


async def test_a_proof_without_the_nonce_gets_one(mcp_auth: MCPAuth) -> None:
    async with client_for(mcp_auth, dpop={"nonce": True, "nonce_secret": SECRET}) as http:
        token = bound_token()
        first = await dpop_get(http, token, proof(token))
        refused(first, "use_dpop_nonce", "nonce is missing or stale")
        nonce = first.headers["dpop-nonce"]
        assert nonce == DPoPNonces(SECRET).current()
        retried = await dpop_get(http, token, proof(token, nonce=nonce))
        assert retried.status_code == 200, retried.text
        assert "dpop-nonce" not in retried.headers  # still the current one
        wrong = await dpop_get(http, token, proof(token, nonce="x" * 32))
        refused(wrong, "use_dpop_nonce")


async def test_nonces_of_one_worker_work_at_another_with_the_same_secret(
        mcp_auth: MCPAuth, jwks_server: JwksServer) -> None:
    options = {"nonce": True, "nonce_secret": SECRET}
    other = resource_mode(jwks_server)
    async with client_for(mcp_auth, dpop=options) as one, \
            client_for(other, dpop=options) as two, \
            client_for(other, dpop={"nonce": True, "nonce_secret": b"m" * 32}) as three:
        token = bound_token()
        nonce = (await dpop_get(one, token, proof(token))).headers["dpop-nonce"]
        assert (await dpop_get(two, token, proof(token, nonce=nonce))).status_code == 200
        refused(await dpop_get(three, token, proof(token, nonce=nonce)), "use_dpop_nonce")


def test_a_nonce_lives_its_window_and_the_next() -> None:
    now = [1_000_000.0]
    nonces = DPoPNonces(SECRET, lifetime=60, clock=lambda: now[0])
    nonce = nonces.current()
    assert nonces.accepts(nonce)
    now[0] += 60
    assert nonces.current() != nonce and nonces.accepts(nonce)  # the previous window's
    now[0] += 60
    assert not nonces.accepts(nonce)
    forged = nonce[:-4] + ("AAAA" if nonce[-4:] != "AAAA" else "BBBB")
    assert not DPoPNonces(SECRET, lifetime=60, clock=lambda: now[0] - 120).accepts(forged)
    for bad in (None, 7, "", "short", "!" * 32):
        assert not nonces.accepts(bad)


async def test_a_nonce_about_to_expire_is_answered_with_the_next(mcp_auth: MCPAuth) -> None:
    lifetime = 3  # seconds of margin for a loaded machine, after the window turns
    async with client_for(mcp_auth, dpop={"nonce": True, "nonce_secret": SECRET,
                                          "nonce_lifetime": lifetime}) as http:
        token = bound_token()
        nonces = DPoPNonces(SECRET, lifetime=lifetime)
        old = nonces.current()
        while nonces.current() == old:  # wait for the next window
            time.sleep(0.05)
        response = await dpop_get(http, token, proof(token, nonce=old))
        assert response.status_code == 200, response.text
        assert response.headers["dpop-nonce"] == nonces.current()


# --- configuration, metrics, logs ------------------------------------------------------------


@pytest.mark.parametrize("dpop", [
    {"bogus": 1}, "yes", {"algorithms": "ES256"}, {"algorithms": ["HS256"]},
    {"algorithms": []}, {"nonce": True, "nonce_secret": b"short"}, {"iat_window": 0},
    {"required": "yes"}, {"public_url": "not a url"},
])
def test_bad_options_fail_when_the_middleware_is_made(mcp_auth: MCPAuth, dpop: Any) -> None:
    with pytest.raises(MCPAuthConfigException):
        mcp_auth.bearer_auth_middleware("jwt", resource=RESOURCE, dpop=dpop)


async def test_refusals_are_counted_by_class(mcp_auth: MCPAuth) -> None:
    async with client_for(mcp_auth, dpop={"nonce": True, "nonce_secret": SECRET}) as http:
        token = bound_token()
        nonce = DPoPNonces(SECRET).current()
        await dpop_get(http, token, proof(token))  # no nonce
        await dpop_get(http, token, proof(token, nonce=nonce, method="PUT"))
        await http.get("/whoami", headers={"authorization": f"Bearer {token}"})
        await dpop_get(http, token, proof(token, nonce=nonce))
    refused_ = {labels["reason"]: value for labels, value in mcp_auth.metrics()[
        "mcpauth_requests_refused"]}
    assert refused_ == {"use_dpop_nonce": 1, "invalid_dpop_proof": 1, "dpop_binding": 1}


async def test_a_crash_in_the_proof_check_is_a_401_not_a_500(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(DPoPProofVerifier, "verify", broken)
    token = bound_token()
    refused(await dpop_get(client, token, proof(token)), "invalid_dpop_proof",
            "DPoP proof could not be checked")
    assert "DPoP proof check raised KeyError" in caplog.text


async def test_no_log_line_quotes_a_token_or_proof(client: httpx.AsyncClient,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mcpauth_fast")
    token = bound_token()
    await dpop_get(client, token, proof(token, htu="https://evil.example/"))
    await dpop_get(client, token, proof(token, OTHER_KEY))
    assert any(re.search(r"refused .* 401", r.getMessage()) for r in caplog.records)
    for record in caplog.records:
        assert token not in record.getMessage()
