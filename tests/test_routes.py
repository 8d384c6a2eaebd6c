"""RFC 9728 and RFC 8414 metadata routes, served through real Starlette apps."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from support.metadata_server import (
    MetadataServer,
    metadata_server_fixture,  # noqa: F401 - the metadata_server fixture
    server_metadata,
    static_config,
)

from mcpauth_fast.config import (
    AuthServerDiscoveryConfig,
    AuthServerType,
    ResourceServerConfig,
    ResourceServerMetadata,
)
from mcpauth_fast.exceptions import AuthServerExceptionCode, MCPAuthAuthServerException
from mcpauth_fast.routes import (
    metadata_endpoint,
    metadata_route,
    protected_resource_document,
    resource_metadata_router,
    resource_metadata_url,
)

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, OPTIONS",
    "access-control-allow-headers": "*",
}
WELL_KNOWN = "/.well-known/oauth-protected-resource"


def resource(uri: str, *servers: Any, **fields: Any) -> ResourceServerConfig:
    return ResourceServerConfig(
        metadata=ResourceServerMetadata(
            resource=uri, authorization_servers=list(servers) or None, **fields
        )
    )


def assert_cors(headers: Any) -> None:
    for name, value in CORS.items():
        assert headers[name] == value


# ---------------------------------------------------------------- URL and document


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        ("https://api.example.com/mcp", f"https://api.example.com{WELL_KNOWN}/mcp"),
        ("https://api.example.com", f"https://api.example.com{WELL_KNOWN}"),
        ("https://api.example.com/", f"https://api.example.com{WELL_KNOWN}"),
        ("https://api.example.com/mcp/", f"https://api.example.com{WELL_KNOWN}/mcp/"),
        ("https://API.example.com:443/a/b", f"https://API.example.com:443{WELL_KNOWN}/a/b"),
        # RFC 9728 section 3.1 keeps the query; a fragment is not part of an identifier.
        ("https://api.example.com/mcp?t=1", f"https://api.example.com{WELL_KNOWN}/mcp?t=1"),
        ("https://api.example.com/?t=1", f"https://api.example.com{WELL_KNOWN}?t=1"),
        ("https://api.example.com/mcp#x", f"https://api.example.com{WELL_KNOWN}/mcp"),
        ("http://127.0.0.1:8000/mcp", f"http://127.0.0.1:8000{WELL_KNOWN}/mcp"),
    ],
)
def test_resource_metadata_url(uri: str, url: str) -> None:
    assert resource_metadata_url(uri) == url


@pytest.mark.parametrize("uri", ["/mcp", "api.example.com/mcp", ""])
def test_resource_metadata_url_needs_an_absolute_url(uri: str) -> None:
    with pytest.raises(ValueError):
        resource_metadata_url(uri)


def test_document(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mcpauth_fast.routes")
    config = resource(
        "https://API.example.com:443/mcp/",
        static_config("https://a.example"),
        AuthServerDiscoveryConfig(issuer="https://b.example/t", type=AuthServerType.OAUTH),
        scopes_supported=["read", "offline_access", "write"],
        resource_name="Demo",
        x_custom=[1, 2],
    )
    assert protected_resource_document(config) == {
        "resource": "https://API.example.com:443/mcp/",
        "authorization_servers": ["https://a.example", "https://b.example/t"],
        "scopes_supported": ["read", "write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Demo",
        "x_custom": [1, 2],
    }
    records = [r for r in caplog.records if r.name == "mcpauth_fast.routes"]
    assert len(records) == 1 and "offline_access" in records[0].getMessage()


def test_document_minimal_and_explicit_bearer_methods() -> None:
    assert protected_resource_document(resource("https://api.example/")) == {
        "resource": "https://api.example/",
        "bearer_methods_supported": ["header"],
    }
    only_offline = resource(
        "https://api.example/",
        scopes_supported=["offline_access"],
        bearer_methods_supported=["header", "body"],
    )
    assert protected_resource_document(only_offline) == {
        "resource": "https://api.example/",
        "bearer_methods_supported": ["header", "body"],
    }


# ---------------------------------------------------------------- the RFC 9728 router


def test_router_one_resource_with_path(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mcpauth_fast.routes")
    uri = "https://API.example.com:443/mcp/"
    config = resource(uri, static_config(), scopes_supported=["read", "offline_access"])
    router = resource_metadata_router([config])
    with TestClient(router) as client:
        for path in (f"{WELL_KNOWN}/mcp/", WELL_KNOWN):
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            assert response.headers["cache-control"] == "public, max-age=3600"
            assert_cors(response.headers)
            # byte for byte: no case, port or slash normalisation
            assert f'"resource":"{uri}"'.encode() in response.content
            assert response.json() == {
                "resource": uri,
                "authorization_servers": ["https://idp.example"],
                "scopes_supported": ["read"],
                "bearer_methods_supported": ["header"],
            }
            options = client.options(path)
            assert options.status_code == 204
            assert options.content == b""
            assert_cors(options.headers)
            head = client.head(path)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == response.headers["content-length"]
        assert client.post(WELL_KNOWN).status_code == 405
        assert client.get(f"{WELL_KNOWN}/other").status_code == 404
    # one warning, at construction, not per request
    assert len([r for r in caplog.records if r.name == "mcpauth_fast.routes"]) == 1


def test_router_root_resource() -> None:
    router = resource_metadata_router([resource("https://api.example.com/", static_config())])
    assert [route.path for route in router.routes] == [WELL_KNOWN]  # type: ignore[attr-defined]
    with TestClient(router) as client:
        assert client.get(WELL_KNOWN).json()["resource"] == "https://api.example.com/"


def test_router_several_resources_have_no_root_route() -> None:
    router = resource_metadata_router(
        [
            resource("https://api.example.com/a", static_config("https://a.example")),
            resource("https://api.example.com/b", static_config("https://b.example")),
            resource(
                "https://api.example.com/c%20d",
                AuthServerDiscoveryConfig(issuer="https://c.example", type=AuthServerType.OIDC),
            ),
            resource("https://api.example.com/{weird}:x"),
        ]
    )
    with TestClient(router) as client:
        a = client.get(f"{WELL_KNOWN}/a").json()
        b = client.get(f"{WELL_KNOWN}/b").json()
        assert (a["resource"], a["authorization_servers"]) == (
            "https://api.example.com/a",
            ["https://a.example"],
        )
        assert (b["resource"], b["authorization_servers"]) == (
            "https://api.example.com/b",
            ["https://b.example"],
        )
        c = client.get(f"{WELL_KNOWN}/c%20d").json()
        assert c["resource"] == "https://api.example.com/c%20d"
        assert c["authorization_servers"] == ["https://c.example"]  # no fetch needed
        weird = client.get(f"{WELL_KNOWN}/%7Bweird%7D:x").json()
        assert weird["resource"] == "https://api.example.com/{weird}:x"
        assert client.get(WELL_KNOWN).status_code == 404


def test_router_inside_an_app() -> None:
    async def mcp(request: Request) -> PlainTextResponse:
        return PlainTextResponse("mcp")

    router = resource_metadata_router([resource("https://api.example.com/mcp")])
    app = Starlette(routes=[Route("/mcp", mcp), Mount("/", app=router)])
    app2 = Starlette(routes=[*router.routes, Route("/mcp", mcp)])
    for application in (app, app2):
        with TestClient(application) as client:
            assert client.get(f"{WELL_KNOWN}/mcp").json()["resource"] == (
                "https://api.example.com/mcp"
            )
            assert client.get(WELL_KNOWN).status_code == 200
            assert client.get("/mcp").text == "mcp"


def test_router_serialises_once() -> None:
    config = resource("https://api.example.com/mcp", scopes_supported=["read"])
    router = resource_metadata_router([config])
    config.metadata.scopes_supported = ["changed"]
    with TestClient(router) as client:
        first = client.get(f"{WELL_KNOWN}/mcp").content
        assert orjson.loads(first)["scopes_supported"] == ["read"]
        assert client.get(f"{WELL_KNOWN}/mcp").content == first


@pytest.mark.parametrize(
    "configs",
    [
        [resource("https://a.example/mcp"), resource("https://b.example/mcp")],
        [resource("https://a.example/"), resource("https://a.example")],
        [resource("/mcp")],
    ],
)
def test_router_refuses_colliding_or_relative_resources(
    configs: list[ResourceServerConfig],
) -> None:
    with pytest.raises(MCPAuthAuthServerException) as info:
        resource_metadata_router(configs)
    assert info.value.code is AuthServerExceptionCode.INVALID_SERVER_CONFIG


# ---------------------------------------------------------------- the RFC 8414 route


def test_metadata_route_static() -> None:
    config = static_config("https://idp.example")
    app = Starlette(routes=[metadata_route(config)])
    with TestClient(app) as client:
        response = client.get("/.well-known/oauth-authorization-server")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert_cors(response.headers)
        assert response.json() == config.metadata.model_dump(exclude_none=True)
        assert response.json()["x_vendor_extension"] == {"kept": True}
        options = client.options("/.well-known/oauth-authorization-server")
        assert options.status_code == 204
        assert_cors(options.headers)


def test_metadata_endpoint_in_a_custom_route() -> None:
    config = static_config("https://idp.example")
    app = Starlette(routes=[Route("/meta", metadata_endpoint(config), methods=["GET", "OPTIONS"])])
    with TestClient(app) as client:
        assert client.get("/meta").json()["issuer"] == "https://idp.example"


def test_metadata_route_discovery(metadata_server: MetadataServer) -> None:
    discovery = AuthServerDiscoveryConfig(issuer=metadata_server.tenant, type=AuthServerType.OIDC)
    app = Starlette(routes=[metadata_route(discovery)])
    assert metadata_server.total == 0  # nothing is fetched before the first request
    metadata_server.mode = "500"
    with TestClient(app) as client:
        options = client.options("/.well-known/oauth-authorization-server")
        assert options.status_code == 204 and metadata_server.total == 0

        failed = client.get("/.well-known/oauth-authorization-server")
        assert failed.status_code == 502
        assert failed.json() == {
            "error": "server_error",
            "error_description": "An error occurred with the authorization server.",
        }
        assert_cors(failed.headers)
        assert metadata_server.total == 1

        metadata_server.mode = "ok"
        for _ in range(3):
            response = client.get("/.well-known/oauth-authorization-server")
            assert response.status_code == 200
            assert response.json() == server_metadata(metadata_server.tenant)
            assert_cors(response.headers)
        assert metadata_server.total == 2  # the failure was retried, the success kept
    assert discovery.resolved() is not None
