"""Discovery tolerates a trailing-slash difference between the issuer asked for and the
metadata's ``issuer`` (Auth0 publishes ``https://tenant.example/``); tokens must then carry the
metadata's exact value. Against real local metadata and JWKS servers, eager and lazy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from support.app_factory import publish_keys, whoami_app
from support.jwks_server import JwksServer
from support.local_server import LocalServer, Reply
from support.metadata_server import server_metadata
from support.tokens import signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.config import (
    AuthServerConfig,
    AuthServerDiscoveryConfig,
    AuthServerType,
    ResourceServerConfig,
    ResourceServerMetadata,
    ServerMetadataPaths,
    fetch_server_config,
    fetch_server_config_async,
    fetch_server_config_by_well_known_url,
    issuer_variants,
    trusted_issuers,
)
from mcpauth_fast.exceptions import AuthServerExceptionCode, MCPAuthAuthServerException

RESOURCE = "https://mcp.example.com/mcp"


class IssuerServer(LocalServer):
    """Serves, at every well-known path of ``base`` and ``base/tenant``, MCP-conformant
    metadata whose ``issuer`` is ``published`` (set by the test) and ``jwks_uri`` is
    ``jwks_uri``."""

    def __init__(self) -> None:
        self.published = ""
        self.jwks_uri = "http://127.0.0.1:9/jwks"
        super().__init__()
        self.tenant = f"{self.base}/tenant"

    def respond(self, path: str) -> Reply:
        known = (ServerMetadataPaths.OAUTH.value, ServerMetadataPaths.OIDC.value)
        if not any(part in path for part in known):
            return 404, {"content-type": "application/json"}, b"{}"
        data = server_metadata(self.published, jwks_uri=self.jwks_uri)
        return 200, {"content-type": "application/json"}, json.dumps(data).encode()


@pytest.fixture
def idp() -> Iterator[IssuerServer]:
    server = IssuerServer()
    try:
        yield server
    finally:
        server.close()


async def fetch(how: str, issuer: str, type_: AuthServerType) -> AuthServerConfig:
    if how == "sync":
        return fetch_server_config(issuer, type_)
    if how == "async":
        return await fetch_server_config_async(issuer, type_)
    return await AuthServerDiscoveryConfig(issuer=issuer, type=type_).resolve()


HOW = ["sync", "async", "lazy"]

# ---------------------------------------------------------------- the rule


def test_issuer_variants() -> None:
    assert issuer_variants("https://t.example") == ("https://t.example", "https://t.example/")
    assert issuer_variants("https://t.example/") == ("https://t.example/", "https://t.example")
    assert issuer_variants("https://t.example/a/") == ("https://t.example/a/", "https://t.example/a")
    assert issuer_variants("https://t.example//") == ("https://t.example//",)


def test_trusted_issuers_without_a_fetch() -> None:
    lazy = AuthServerDiscoveryConfig(issuer="https://t.example", type=AuthServerType.OIDC)
    assert trusted_issuers(lazy) == ("https://t.example", "https://t.example/")
    static = AuthServerConfig.model_validate(
        {"metadata": server_metadata("https://t.example/"), "type": "oidc"})
    assert trusted_issuers(static) == ("https://t.example/",)


# ---------------------------------------------------------------- fetching


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("type_", list(AuthServerType))
@pytest.mark.parametrize("tenant", [False, True])
@pytest.mark.parametrize("slash", ["added", "removed"])
async def test_a_trailing_slash_difference_is_tolerated(
    idp: IssuerServer, how: str, type_: AuthServerType, tenant: bool, slash: str
) -> None:
    issuer = idp.tenant if tenant else idp.base
    requested, idp.published = (
        (issuer, issuer + "/") if slash == "added" else (issuer + "/", issuer)
    )
    config = await fetch(how, requested, type_)
    assert config.metadata.issuer == idp.published  # the metadata's exact value is kept
    assert config.type is type_
    assert idp.total == 1


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(
    ("requested", "published"),
    [
        ("{base}", "{base}//"),
        ("{base}/", "{base}//"),
        ("{base}//", "{base}/"),
        ("{base}", "{base}/tenant"),
        ("{base}/tenant", "{base}"),
        ("{base}/tenant", "{base}/"),
        ("{base}/tenant/", "{base}/tenant//"),
        ("{base}", "{base}/ "),
        ("{base}", "http://127.0.0.2:{port}"),
        ("{base}", "http://127.0.0.2:{port}/"),
        ("{base}", "https://127.0.0.1:{port}/"),
        ("{base}", "https://evil.example/"),
    ],
)
async def test_any_other_mismatch_still_fails(
    idp: IssuerServer, how: str, requested: str, published: str
) -> None:
    port = idp.httpd.server_address[1]
    requested = requested.format(base=idp.base, port=port)
    idp.published = published.format(base=idp.base, port=port)
    with pytest.raises(MCPAuthAuthServerException) as info:
        await fetch(how, requested, AuthServerType.OIDC)
    assert info.value.code is AuthServerExceptionCode.INVALID_SERVER_METADATA
    assert repr(idp.published) in info.value.cause["error_description"]
    assert idp.total == 1


def test_by_well_known_url_still_checks_no_issuer(idp: IssuerServer) -> None:
    idp.published = "https://evil.example/"
    url = idp.base + ServerMetadataPaths.OIDC.value
    assert fetch_server_config_by_well_known_url(url, AuthServerType.OIDC).metadata.issuer == (
        "https://evil.example/")


# ---------------------------------------------------------------- tokens, end to end


def mint(issuer: str, jti: str = "j-1") -> str:
    now = time.time()
    return signing_key("ES256").mint({
        "iss": issuer, "sub": "alice", "aud": RESOURCE, "iat": int(now), "exp": int(now) + 600,
        "scope": "read", "jti": jti,
    })


def protect(
    server: AuthServerConfig | AuthServerDiscoveryConfig, mode: str
) -> tuple[MCPAuth, Any]:
    if mode == "server":
        auth = MCPAuth(server=server)
        return auth, auth.bearer_auth_middleware("jwt", show_error_details=True)
    auth = MCPAuth(protected_resources=ResourceServerConfig(metadata=ResourceServerMetadata(
        resource=RESOURCE, authorization_servers=[server])))
    return auth, auth.bearer_auth_middleware("jwt", resource=RESOURCE, show_error_details=True)


def get(client: TestClient, token: str) -> Any:
    return client.get("/whoami", headers={"authorization": f"Bearer {token}"})


def assert_refused(response: Any, expected: str, actual: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "invalid_issuer"
    assert body["cause"] == {"expected": expected, "actual": actual}


@pytest.fixture
def keyed_idp(idp: IssuerServer, jwks_server: JwksServer) -> IssuerServer:
    publish_keys(jwks_server)
    idp.jwks_uri = jwks_server.url
    return idp


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("mode", ["server", "resource"])
@pytest.mark.parametrize("slash", ["added", "removed", "same"])
@pytest.mark.parametrize("bad_first", [False, True])
def test_tokens_must_carry_the_metadata_issuer(
    keyed_idp: IssuerServer, lazy: bool, mode: str, slash: str, bad_first: bool
) -> None:
    base = keyed_idp.base
    requested = base + "/" if slash == "removed" else base
    keyed_idp.published = base + "/" if slash == "added" else base
    other = issuer_variants(keyed_idp.published)[1]  # the variant the metadata does not name
    server: AuthServerConfig | AuthServerDiscoveryConfig = (
        AuthServerDiscoveryConfig(issuer=requested, type=AuthServerType.OIDC) if lazy
        else fetch_server_config(requested, AuthServerType.OIDC)
    )
    auth, middleware = protect(server, mode)
    good, bad = mint(keyed_idp.published, "good"), mint(other, "bad")
    with TestClient(whoami_app(auth, middleware)) as client:
        if bad_first:  # refused before and after the metadata is known
            assert_refused(get(client, bad), keyed_idp.published, other)
        for _ in range(3):  # the repeats are answered from the cache
            response = get(client, good)
            assert response.status_code == 200, response.text
            assert response.json()["jti"] == "good"
        for _ in range(2):  # never cached: refused again, also after a cache hit of `good`
            assert_refused(get(client, bad), keyed_idp.published, other)
            assert get(client, good).status_code == 200
        assert_refused(get(client, mint("https://evil.example", "evil")),
                       keyed_idp.published if not lazy else sorted(issuer_variants(requested)),
                       "https://evil.example")
    assert len(middleware.config.verifier.cache) == 1  # `good` only


def test_a_key_leaving_the_set_evicts_tokens_of_the_metadata_issuer(
    keyed_idp: IssuerServer,
) -> None:
    keyed_idp.published = keyed_idp.base + "/"
    server = AuthServerDiscoveryConfig(issuer=keyed_idp.base, type=AuthServerType.OIDC)
    auth, middleware = protect(server, "server")
    with TestClient(whoami_app(auth, middleware)) as client:
        assert get(client, mint(keyed_idp.published)).status_code == 200
        verifier = middleware.config.verifier
        assert len(verifier.cache) == 1
        (source,) = auth._key_sources.values()
        for listener in source._remote._listeners:  # as a refresh without the key reports it
            listener(None, frozenset({signing_key("ES256").kid}))
        assert len(verifier.cache) == 0
