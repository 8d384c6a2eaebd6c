"""The attack catalogue's fixtures: the identity provider's JWKS server, an attacker's server
that must never be asked, and the catalogue's app (``support.attacks`` builds them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from support.app_factory import server_config, whoami_app
from support.attacks import AttackerServer, idp_server, middleware_for
from support.jwks_server import JwksServer

from mcpauth_fast import MCPAuth


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
