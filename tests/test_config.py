"""Configuration models, validation and metadata discovery against a real local HTTP server."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections import Counter
from typing import Any

import httpx
import pytest
from support.metadata_server import (
    SECRET_BODY,
    MetadataServer,
    metadata_server_fixture,  # noqa: F401 - the metadata_server fixture
    server_metadata,
    static_config,
)

from mcpauth_fast.config import (
    AuthorizationServerMetadataDefaults,
    AuthServerConfig,
    AuthServerConfigErrorCode,
    AuthServerConfigWarningCode,
    AuthServerDiscoveryConfig,
    AuthServerType,
    ProtectedResourceMetadata,
    ResourceServerConfig,
    ResourceServerMetadata,
    ServerMetadataPaths,
    fetch_server_config,
    fetch_server_config_async,
    fetch_server_config_by_well_known_url,
    fetch_server_config_by_well_known_url_async,
    get_oauth_well_known_url,
    get_oidc_well_known_url,
    issuer_of,
    validate_resource_configs,
    validate_server_config,
)
from mcpauth_fast.exceptions import (
    AuthServerExceptionCode,
    MCPAuthAuthServerException,
    MCPAuthConfigException,
)

# ---------------------------------------------------------------- well-known URLs


@pytest.mark.parametrize(
    ("issuer", "oauth", "oidc"),
    [
        (
            "https://a.example",
            "https://a.example/.well-known/oauth-authorization-server",
            "https://a.example/.well-known/openid-configuration",
        ),
        (
            "https://a.example/",
            "https://a.example/.well-known/oauth-authorization-server",
            "https://a.example/.well-known/openid-configuration",
        ),
        (
            "https://a.example/tenant",
            "https://a.example/.well-known/oauth-authorization-server/tenant",
            "https://a.example/tenant/.well-known/openid-configuration",
        ),
        (
            "https://a.example/tenant/",
            "https://a.example/.well-known/oauth-authorization-server/tenant",
            "https://a.example/tenant/.well-known/openid-configuration",
        ),
        (
            "https://a.example:8443/a/b",
            "https://a.example:8443/.well-known/oauth-authorization-server/a/b",
            "https://a.example:8443/a/b/.well-known/openid-configuration",
        ),
        (  # mcpauth's join collapses "//" and "/./" and keeps a query
            "https://a.example/a//b/./c?x=1",
            "https://a.example/.well-known/oauth-authorization-server/a/b/c?x=1",
            "https://a.example/a/b/c/.well-known/openid-configuration?x=1",
        ),
    ],
)
def test_well_known_urls(issuer: str, oauth: str, oidc: str) -> None:
    assert get_oauth_well_known_url(issuer) == oauth
    assert get_oidc_well_known_url(issuer) == oidc


# ---------------------------------------------------------------- fetching


@pytest.mark.parametrize("type_", [AuthServerType.OAUTH, AuthServerType.OIDC])
@pytest.mark.parametrize("tenant", [False, True])
def test_fetch_sync(metadata_server: MetadataServer, type_: AuthServerType, tenant: bool) -> None:
    issuer = metadata_server.tenant if tenant else metadata_server.base
    config = fetch_server_config(issuer, type_)
    assert config.type is type_
    assert config.metadata.issuer == issuer
    assert config.metadata.jwks_uri == f"{issuer}/jwks"
    # unknown fields are kept and served back
    assert config.metadata.model_dump(exclude_none=True)["x_vendor_extension"] == {"kept": True}
    expected_url = (
        get_oauth_well_known_url(issuer)
        if type_ is AuthServerType.OAUTH
        else get_oidc_well_known_url(issuer)
    )
    path = expected_url[len(metadata_server.base) :]
    assert metadata_server.hits == Counter({path: 1})


@pytest.mark.parametrize("type_", [AuthServerType.OAUTH, AuthServerType.OIDC])
@pytest.mark.parametrize("tenant", [False, True])
async def test_fetch_async(
    metadata_server: MetadataServer, type_: AuthServerType, tenant: bool
) -> None:
    issuer = metadata_server.tenant if tenant else metadata_server.base
    config = await fetch_server_config_async(issuer, type_)
    assert config.metadata.issuer == issuer
    assert config == fetch_server_config(issuer, type_)
    assert metadata_server.total == 2


async def test_fetch_by_well_known_url(metadata_server: MetadataServer) -> None:
    url = metadata_server.base + "/tenant/.well-known/openid-configuration"
    sync = fetch_server_config_by_well_known_url(url, AuthServerType.OIDC)
    asynchronous = await fetch_server_config_by_well_known_url_async(url, AuthServerType.OIDC)
    assert sync == asynchronous
    assert sync.metadata.issuer == metadata_server.tenant


def test_redirects_are_followed(metadata_server: MetadataServer) -> None:
    config = fetch_server_config_by_well_known_url(
        metadata_server.base + "/redirect", AuthServerType.OAUTH
    )
    assert config.metadata.issuer == metadata_server.base


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_issuer_mismatch_is_refused(
    metadata_server: MetadataServer, asynchronous: bool
) -> None:
    metadata_server.mode = "wrong_issuer"
    with pytest.raises(MCPAuthAuthServerException) as info:
        if asynchronous:
            await fetch_server_config_async(metadata_server.base, AuthServerType.OAUTH)
        else:
            fetch_server_config(metadata_server.base, AuthServerType.OAUTH)
    assert info.value.code is AuthServerExceptionCode.INVALID_SERVER_METADATA
    assert "evil.example" in info.value.cause["error_description"]


def test_issuer_must_match_but_for_one_trailing_slash(metadata_server: MetadataServer) -> None:
    # The tenant document says ".../tenant"; ".../tenant/" is tolerated (test_discovery_issuer.py
    # has the cases), ".../tenant//" is not.
    config = fetch_server_config(metadata_server.tenant + "/", AuthServerType.OIDC)
    assert config.metadata.issuer == metadata_server.tenant
    with pytest.raises(MCPAuthAuthServerException):
        fetch_server_config(metadata_server.tenant + "//", AuthServerType.OIDC)


def test_by_well_known_url_does_not_check_issuer(metadata_server: MetadataServer) -> None:
    metadata_server.mode = "wrong_issuer"
    url = metadata_server.base + ServerMetadataPaths.OAUTH.value
    config = fetch_server_config_by_well_known_url(url, AuthServerType.OAUTH)
    assert config.metadata.issuer == "https://evil.example"


@pytest.mark.parametrize(
    ("mode", "cause_type", "message_part"),
    [
        ("500", httpx.HTTPStatusError, "500"),
        ("garbage", ValueError, "Failed to fetch server config from"),
        ("huge", ValueError, "larger than 1048576 bytes"),
        ("huge_stream", ValueError, "larger than 1048576 bytes"),
    ],
)
@pytest.mark.parametrize("asynchronous", [False, True])
async def test_fetch_errors_are_config_errors(
    metadata_server: MetadataServer,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    cause_type: type[Exception],
    message_part: str,
    asynchronous: bool,
) -> None:
    metadata_server.mode = mode
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MCPAuthConfigException) as info:
        if asynchronous:
            await fetch_server_config_async(metadata_server.base, AuthServerType.OIDC)
        else:
            fetch_server_config(metadata_server.base, AuthServerType.OIDC)
    assert info.value.code == "fetch_server_config_error"
    assert isinstance(info.value.cause, cause_type)
    assert info.value.__cause__ is info.value.cause
    assert message_part in info.value.message
    assert metadata_server.base in info.value.message
    # The response body is never in the message nor in any log line.
    assert SECRET_BODY not in info.value.message
    assert SECRET_BODY not in caplog.text


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_timeout_and_refused_connection(
    metadata_server: MetadataServer, asynchronous: bool
) -> None:
    metadata_server.delay = 1.0
    with pytest.raises(MCPAuthConfigException) as info:
        if asynchronous:
            await fetch_server_config_async(metadata_server.base, AuthServerType.OIDC, timeout=0.2)
        else:
            fetch_server_config(metadata_server.base, AuthServerType.OIDC, timeout=0.2)
    assert isinstance(info.value.cause, httpx.TimeoutException)

    closed = MetadataServer()
    closed.close()
    with pytest.raises(MCPAuthConfigException) as info:
        if asynchronous:
            await fetch_server_config_async(closed.base, AuthServerType.OIDC)
        else:
            fetch_server_config(closed.base, AuthServerType.OIDC)
    assert isinstance(info.value.cause, httpx.ConnectError)


@pytest.mark.parametrize("mode", ["invalid", "not_object"])
@pytest.mark.parametrize("asynchronous", [False, True])
async def test_invalid_metadata(
    metadata_server: MetadataServer, mode: str, asynchronous: bool
) -> None:
    metadata_server.mode = mode
    with pytest.raises(MCPAuthAuthServerException) as info:
        if asynchronous:
            await fetch_server_config_async(metadata_server.base, AuthServerType.OAUTH)
        else:
            fetch_server_config(metadata_server.base, AuthServerType.OAUTH)
    assert info.value.code is AuthServerExceptionCode.INVALID_SERVER_METADATA
    assert info.value.to_json() == {
        "error": "invalid_server_metadata",
        "error_description": "The server metadata is invalid or malformed.",
    }
    assert SECRET_BODY not in str(info.value)


def test_transpile_data(metadata_server: MetadataServer) -> None:
    metadata_server.mode = "invalid"
    seen: list[dict[str, Any]] = []

    def transpile(data: dict[str, Any]) -> dict[str, Any]:
        seen.append(dict(data))
        return {**data, "token_endpoint": data["issuer"] + "/oauth/token"}

    config = fetch_server_config(metadata_server.base, AuthServerType.OAUTH, transpile)
    assert config.metadata.token_endpoint == metadata_server.base + "/oauth/token"
    assert seen[0]["issuer"] == metadata_server.base

    def broken(data: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("nope")

    with pytest.raises(MCPAuthConfigException) as info:
        fetch_server_config(metadata_server.base, AuthServerType.OAUTH, transpile_data=broken)
    assert isinstance(info.value.cause, KeyError)


async def test_transpile_data_runs_before_the_issuer_check(
    metadata_server: MetadataServer,
) -> None:
    metadata_server.mode = "wrong_issuer"
    config = await fetch_server_config_async(
        metadata_server.base,
        AuthServerType.OAUTH,
        lambda data: {**data, "issuer": metadata_server.base},
    )
    assert config.metadata.issuer == metadata_server.base


# ---------------------------------------------------------------- validate_server_config


def test_valid_config_without_warnings() -> None:
    result = validate_server_config(static_config())
    assert result.is_valid and result.errors == [] and result.warnings == []


def test_validation_errors_and_warnings() -> None:
    config = static_config(
        response_types_supported=["token", "id_token token"],
        grant_types_supported=["client_credentials"],
        code_challenge_methods_supported=None,
        registration_endpoint=None,
    )
    result = validate_server_config(config)
    assert not result.is_valid
    assert [e.code for e in result.errors] == [
        AuthServerConfigErrorCode.CODE_RESPONSE_TYPE_NOT_SUPPORTED,
        AuthServerConfigErrorCode.AUTHORIZATION_CODE_GRANT_NOT_SUPPORTED,
        AuthServerConfigErrorCode.PKCE_NOT_SUPPORTED,
    ]
    assert all(e.description for e in result.errors)
    assert [w.code for w in result.warnings] == [
        AuthServerConfigWarningCode.DYNAMIC_REGISTRATION_NOT_SUPPORTED
    ]


def test_validation_rules_in_detail() -> None:
    # "code" inside a space-separated response type counts; omitted grants default to
    # ["authorization_code", "implicit"]; PKCE without S256 is its own error.
    config = static_config(
        response_types_supported=["code id_token"],
        grant_types_supported=None,
        code_challenge_methods_supported=["plain"],
    )
    result = validate_server_config(config)
    assert [e.code for e in result.errors] == [
        AuthServerConfigErrorCode.S256_CODE_CHALLENGE_METHOD_NOT_SUPPORTED
    ]
    assert "authorization_code" in AuthorizationServerMetadataDefaults.grant_types_supported.value
    assert (
        validate_server_config(static_config(code_challenge_methods_supported=[])).errors[0].code
        is AuthServerConfigErrorCode.PKCE_NOT_SUPPORTED
    )


# ---------------------------------------------------------------- resource configuration


def resource(uri: str, *servers: Any, **fields: Any) -> ResourceServerConfig:
    return ResourceServerConfig(
        metadata=ResourceServerMetadata(resource=uri, authorization_servers=list(servers), **fields)
    )


def test_resource_is_kept_byte_for_byte() -> None:
    uri = "https://API.example.com:443/mcp/"
    config = resource(uri, static_config())
    assert config.metadata.resource == uri
    assert ProtectedResourceMetadata(resource=uri).resource == uri


def test_authorization_servers_accept_static_and_discovery_configs() -> None:
    discovery = AuthServerDiscoveryConfig(issuer="https://b.example", type=AuthServerType.OAUTH)
    config = resource(
        "https://api.example/mcp",
        static_config("https://a.example"),
        discovery,
        {"issuer": "https://c.example", "type": "oidc"},
        server_metadata_dict("https://d.example"),
    )
    servers = config.metadata.authorization_servers
    assert servers is not None
    assert servers[1] is discovery  # the same object, so its resolved state is shared
    assert isinstance(servers[2], AuthServerDiscoveryConfig)
    assert isinstance(servers[3], AuthServerConfig)
    assert [issuer_of(s) for s in servers] == [
        "https://a.example",
        "https://b.example",
        "https://c.example",
        "https://d.example",
    ]
    validate_resource_configs([config])


def server_metadata_dict(issuer: str) -> dict[str, Any]:
    return {"metadata": server_metadata(issuer), "type": "oauth"}


@pytest.mark.parametrize(
    ("configs", "fragment"),
    [
        (
            [resource("https://api.example/mcp"), resource("https://api.example/mcp")],
            "is duplicated",
        ),
        (
            [resource("https://api.example/mcp", static_config(), static_config())],
            "('https://idp.example') for resource 'https://api.example/mcp' is duplicated",
        ),
        (
            [
                resource(
                    "https://api.example/mcp",
                    static_config(),
                    AuthServerDiscoveryConfig(
                        issuer="https://idp.example", type=AuthServerType.OIDC
                    ),
                )
            ],
            "is duplicated",
        ),
        ([resource("/mcp")], "absolute http(s) URL"),
        ([resource("ftp://api.example/mcp")], "absolute http(s) URL"),
        ([resource("https:///mcp")], "absolute http(s) URL"),
        ([resource("https://api.example/mcp#frag")], "has a fragment"),
        ([resource("https://api.example/m cp")], "whitespace"),
        ([resource("https://api.example:99999999/")], "not a valid URL"),
        (
            [
                resource(
                    "https://api.example/mcp", static_config(code_challenge_methods_supported=None)
                )
            ],
            "pkce_not_supported",
        ),
    ],
)
def test_validate_resource_configs_refuses(
    configs: list[ResourceServerConfig], fragment: str
) -> None:
    with pytest.raises(MCPAuthAuthServerException) as info:
        validate_resource_configs(configs)
    assert info.value.code is AuthServerExceptionCode.INVALID_SERVER_CONFIG
    # What show_error_details would put in a body: the description, or the validation result.
    assert fragment in json.dumps(info.value.to_json(show_cause=True))


def test_validate_resource_configs_accepts_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mcpauth_fast.config")
    validate_resource_configs(
        [
            resource("https://api.example/mcp", static_config(registration_endpoint=None)),
            resource("HTTP://api.example:8080/other?x=1", static_config()),
            resource("https://api.example/", static_config()),
        ]
    )
    warnings = [r for r in caplog.records if r.name == "mcpauth_fast.config"]
    assert len(warnings) == 1
    assert "Dynamic Client Registration" in warnings[0].getMessage()


# ---------------------------------------------------------------- lazy discovery


async def test_discovery_single_flight(metadata_server: MetadataServer) -> None:
    metadata_server.delay = 0.2  # keep the first fetch in flight while the others arrive
    discovery = AuthServerDiscoveryConfig(issuer=metadata_server.tenant, type=AuthServerType.OIDC)
    assert discovery.resolved() is None
    results = await asyncio.gather(*(discovery.resolve() for _ in range(50)))
    assert metadata_server.total == 1
    assert all(r is results[0] for r in results)
    assert discovery.resolved() is results[0]
    assert results[0].metadata.issuer == metadata_server.tenant
    assert await discovery.resolve() is results[0]
    assert metadata_server.total == 1


async def test_discovery_failure_is_not_cached(metadata_server: MetadataServer) -> None:
    metadata_server.mode = "500"
    metadata_server.delay = 0.1
    discovery = AuthServerDiscoveryConfig(issuer=metadata_server.base, type=AuthServerType.OAUTH)
    outcomes = await asyncio.gather(
        *(discovery.resolve() for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(o, MCPAuthConfigException) for o in outcomes)
    assert metadata_server.total == 1  # concurrent failures share one fetch too
    assert discovery.resolved() is None

    metadata_server.mode = "ok"
    config = await discovery.resolve()
    assert config.metadata.issuer == metadata_server.base
    assert metadata_server.total == 2
    await discovery.resolve()
    assert metadata_server.total == 2


async def test_discovery_refuses_a_config_that_fails_mcp_checks(
    metadata_server: MetadataServer,
) -> None:
    metadata_server.mode = "no_pkce"
    discovery = AuthServerDiscoveryConfig(issuer=metadata_server.base, type=AuthServerType.OIDC)
    with pytest.raises(MCPAuthAuthServerException) as info:
        await discovery.resolve()
    assert info.value.code is AuthServerExceptionCode.INVALID_SERVER_CONFIG
    assert [error.code for error in info.value.cause.errors] == ["pkce_not_supported"]
    metadata_server.mode = "wrong_issuer"
    with pytest.raises(MCPAuthAuthServerException) as info:
        await discovery.resolve()
    assert info.value.code is AuthServerExceptionCode.INVALID_SERVER_METADATA
    assert discovery.resolved() is None
    assert metadata_server.total == 2


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(
    metadata_server: MetadataServer,
) -> None:
    metadata_server.delay = 0.3
    discovery = AuthServerDiscoveryConfig(issuer=metadata_server.base, type=AuthServerType.OIDC)
    first = asyncio.ensure_future(discovery.resolve())
    second = asyncio.ensure_future(discovery.resolve())
    await asyncio.sleep(0.05)
    first.cancel()
    config = await second
    assert first.cancelled()
    assert config.metadata.issuer == metadata_server.base
    assert metadata_server.total == 1


async def test_discovery_uses_transpile_data(metadata_server: MetadataServer) -> None:
    metadata_server.mode = "invalid"
    discovery = AuthServerDiscoveryConfig(
        issuer=metadata_server.base,
        type=AuthServerType.OAUTH,
        transpile_data=lambda data: {**data, "token_endpoint": "https://t.example/token"},
    )
    config = await discovery.resolve()
    assert config.metadata.token_endpoint == "https://t.example/token"
    assert "transpile_data" not in discovery.model_dump()


def test_discovery_config_is_plain_data() -> None:
    discovery = AuthServerDiscoveryConfig(issuer="https://a.example", type="oidc")  # type: ignore[arg-type]
    assert discovery.type is AuthServerType.OIDC
    assert discovery.model_dump() == {"issuer": "https://a.example", "type": AuthServerType.OIDC}
    assert copy.deepcopy(discovery) == discovery
    with pytest.raises(ValueError):
        AuthServerDiscoveryConfig(issuer="https://a.example", type="saml")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AuthServerDiscoveryConfig.model_validate(
            {"issuer": "https://a.example", "type": "oidc", "metadata": {}}
        )


def test_discovery_across_event_loops(metadata_server: MetadataServer) -> None:
    # Servers built with TestClient or asyncio.run resolve on different loops over time.
    metadata_server.mode = "500"
    discovery = AuthServerDiscoveryConfig(issuer=metadata_server.base, type=AuthServerType.OIDC)
    with pytest.raises(MCPAuthConfigException):
        asyncio.run(discovery.resolve())
    metadata_server.mode = "ok"
    config = asyncio.run(discovery.resolve())
    assert asyncio.run(discovery.resolve()) is config
    assert metadata_server.total == 2
