"""Server and resource configuration, with the names of ``mcpauth.config`` (0.1.1 and 0.2.0b1).

Authorization server metadata (RFC 8414), protected resource metadata (RFC 9728), the MCP
checks of ``validate_server_config``, metadata discovery (``fetch_server_config`` and its async
twin) and lazy discovery (``AuthServerDiscoveryConfig``, resolved on first use).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse, urlsplit, urlunparse

import httpx
import orjson
import pydantic
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .exceptions import AuthServerExceptionCode, MCPAuthAuthServerException, MCPAuthConfigException

logger = logging.getLogger("mcpauth_fast.config")

Record = dict[str, Any]
TranspileData = Callable[[Record], Record]

#: Seconds allowed for one metadata fetch (mcpauth uses 10 s).
FETCH_TIMEOUT = 10.0
#: Largest metadata document accepted; real ones are a few KiB.
MAX_METADATA_BYTES = 1 << 20


class AuthorizationServerMetadata(BaseModel):
    """OAuth 2.0 Authorization Server Metadata (RFC 8414). Unknown fields are kept."""

    model_config = ConfigDict(extra="allow")

    issuer: str
    """The issuer identifier: an https URL without query or fragment."""
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str | None = None
    registration_endpoint: str | None = None
    """RFC 7591 Dynamic Client Registration endpoint."""
    scopes_supported: list[str] | None = None
    scope_supported: list[str] | None = None
    """The (misspelt) name mcpauth 0.1.1 used; kept so its users' code still runs."""
    response_types_supported: list[str]
    response_modes_supported: list[str] | None = None
    """Default when omitted: ``["query", "fragment"]``."""
    grant_types_supported: list[str] | None = None
    """Default when omitted: ``["authorization_code", "implicit"]``."""
    token_endpoint_auth_methods_supported: list[str] | None = None
    token_endpoint_auth_signing_alg_values_supported: list[str] | None = None
    service_documentation: str | None = None
    ui_locales_supported: list[str] | None = None
    op_policy_uri: str | None = None
    op_tos_uri: str | None = None
    revocation_endpoint: str | None = None
    revocation_endpoint_auth_methods_supported: list[str] | None = None
    revocation_endpoint_auth_signing_alg_values_supported: list[str] | None = None
    introspection_endpoint: str | None = None
    introspection_endpoint_auth_methods_supported: list[str] | None = None
    introspection_endpoint_auth_signing_alg_values_supported: list[str] | None = None
    code_challenge_methods_supported: list[str] | None = None
    """PKCE (RFC 7636) methods; MCP requires ``S256``."""
    userinfo_endpoint: str | None = None


class AuthServerType(str, Enum):
    """Whether the authorization server is a plain OAuth 2.0 server or an OpenID provider."""

    OAUTH = "oauth"
    OIDC = "oidc"


class AuthorizationServerMetadataDefaults(Enum):
    """RFC 8414 defaults of the optional metadata lists."""

    grant_types_supported = ["authorization_code", "implicit"]
    response_modes_supported = ["query", "fragment"]


class AuthServerConfig(BaseModel):
    """A remote authorization server: its metadata and its type."""

    metadata: AuthorizationServerMetadata
    type: AuthServerType


class ServerMetadataPaths(str, Enum):
    """The well-known paths of OAuth (RFC 8414) and OIDC discovery documents."""

    OAUTH = "/.well-known/oauth-authorization-server"
    OIDC = "/.well-known/openid-configuration"


# ---------------------------------------------------------------- validation (MCP rules)


class AuthServerConfigErrorCode(str, Enum):
    """Why an authorization server does not meet the MCP specification."""

    INVALID_SERVER_METADATA = "invalid_server_metadata"
    CODE_RESPONSE_TYPE_NOT_SUPPORTED = "code_response_type_not_supported"
    AUTHORIZATION_CODE_GRANT_NOT_SUPPORTED = "authorization_code_grant_not_supported"
    PKCE_NOT_SUPPORTED = "pkce_not_supported"
    S256_CODE_CHALLENGE_METHOD_NOT_SUPPORTED = "s256_code_challenge_method_not_supported"


auth_server_config_error_description: dict[AuthServerConfigErrorCode, str] = {
    AuthServerConfigErrorCode.INVALID_SERVER_METADATA: (
        "The server metadata is not a valid object or does not conform to the expected schema."
    ),
    AuthServerConfigErrorCode.CODE_RESPONSE_TYPE_NOT_SUPPORTED: (
        'The server does not support the "code" response type or the "code" response type is '
        "not included in one of the supported response types."
    ),
    AuthServerConfigErrorCode.AUTHORIZATION_CODE_GRANT_NOT_SUPPORTED: (
        'The server does not support the "authorization_code" grant type.'
    ),
    AuthServerConfigErrorCode.PKCE_NOT_SUPPORTED: (
        "The server does not support Proof Key for Code Exchange (PKCE)."
    ),
    AuthServerConfigErrorCode.S256_CODE_CHALLENGE_METHOD_NOT_SUPPORTED: (
        'The server does not support the "S256" code challenge method for Proof Key for Code '
        "Exchange (PKCE)."
    ),
}


class AuthServerConfigError(BaseModel):
    """One reason an authorization server configuration is invalid."""

    code: AuthServerConfigErrorCode
    description: str
    cause: Any = None


class AuthServerConfigWarningCode(str, Enum):
    """Something an MCP client may miss, without making the configuration invalid."""

    DYNAMIC_REGISTRATION_NOT_SUPPORTED = "dynamic_registration_not_supported"


auth_server_config_warning_description: dict[AuthServerConfigWarningCode, str] = {
    AuthServerConfigWarningCode.DYNAMIC_REGISTRATION_NOT_SUPPORTED: (
        "Dynamic Client Registration (RFC 7591) is not supported by the server."
    ),
}


class AuthServerConfigWarning(BaseModel):
    """One warning about an authorization server configuration."""

    code: AuthServerConfigWarningCode
    description: str


class AuthServerConfigValidationResult(BaseModel):
    """The outcome of ``validate_server_config``."""

    is_valid: bool
    errors: list[AuthServerConfigError]
    warnings: list[AuthServerConfigWarning]


def validate_server_config(config: AuthServerConfig) -> AuthServerConfigValidationResult:
    """Check an authorization server against the MCP specification, as mcpauth does.

    Errors: no ``code`` response type, no ``authorization_code`` grant (defaults apply when the
    list is omitted), no PKCE, or PKCE without ``S256``. Warning: no registration endpoint.

    :param config: the configuration to check.
    :return: ``is_valid`` with the errors and warnings found.
    """
    metadata = config.metadata
    errors: list[AuthServerConfigError] = []
    warnings: list[AuthServerConfigWarning] = []

    def error(code: AuthServerConfigErrorCode) -> None:
        errors.append(
            AuthServerConfigError(code=code, description=auth_server_config_error_description[code])
        )

    if not any("code" in rt.split(" ") for rt in metadata.response_types_supported):
        error(AuthServerConfigErrorCode.CODE_RESPONSE_TYPE_NOT_SUPPORTED)
    grants = metadata.grant_types_supported
    if grants is None:
        grants = AuthorizationServerMetadataDefaults.grant_types_supported.value
    if "authorization_code" not in grants:
        error(AuthServerConfigErrorCode.AUTHORIZATION_CODE_GRANT_NOT_SUPPORTED)
    if not metadata.code_challenge_methods_supported:
        error(AuthServerConfigErrorCode.PKCE_NOT_SUPPORTED)
    elif "S256" not in metadata.code_challenge_methods_supported:
        error(AuthServerConfigErrorCode.S256_CODE_CHALLENGE_METHOD_NOT_SUPPORTED)
    if not metadata.registration_endpoint:
        code = AuthServerConfigWarningCode.DYNAMIC_REGISTRATION_NOT_SUPPORTED
        warnings.append(
            AuthServerConfigWarning(
                code=code, description=auth_server_config_warning_description[code]
            )
        )
    return AuthServerConfigValidationResult(is_valid=not errors, errors=errors, warnings=warnings)


# ---------------------------------------------------------------- discovery


def _smart_join(*parts: str) -> str:
    # mcpauth's join: strip slashes, join, and let a POSIX path collapse "//" and "/./".
    return PurePosixPath("/".join(part.strip("/") for part in parts)).as_posix()


def get_oauth_well_known_url(issuer: str) -> str:
    """RFC 8414 section 3.1: the well-known path goes *before* the issuer's path.

    ``https://a.example/tenant`` -> ``https://a.example/.well-known/oauth-authorization-server/tenant``.
    """
    parsed = urlparse(issuer)
    return urlunparse(
        parsed._replace(path=_smart_join(ServerMetadataPaths.OAUTH.value, parsed.path))
    )


def get_oidc_well_known_url(issuer: str) -> str:
    """OpenID Connect Discovery: the well-known path is *appended* to the issuer.

    ``https://a.example/tenant`` -> ``https://a.example/tenant/.well-known/openid-configuration``.
    """
    parsed = urlparse(issuer)
    return urlunparse(
        parsed._replace(path=_smart_join(parsed.path, ServerMetadataPaths.OIDC.value))
    )


def _well_known_url(issuer: str, type: AuthServerType) -> str:
    if type == AuthServerType.OAUTH:
        return get_oauth_well_known_url(issuer)
    return get_oidc_well_known_url(issuer)


def _check_response(response: httpx.Response) -> None:
    response.raise_for_status()
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_METADATA_BYTES:
        raise ValueError(f"response is larger than {MAX_METADATA_BYTES} bytes")


def _grow(body: bytearray, chunk: bytes) -> None:
    body += chunk
    if len(body) > MAX_METADATA_BYTES:
        raise ValueError(f"response is larger than {MAX_METADATA_BYTES} bytes")


@contextmanager
def _fetch_errors(url: str) -> Iterator[None]:
    try:
        yield
    except MCPAuthAuthServerException:
        raise
    except Exception as exc:
        # str(exc) of httpx/orjson errors names the URL or a position, never the response body.
        raise MCPAuthConfigException(
            "fetch_server_config_error",
            f"Failed to fetch server config from {url}: {exc}",
            cause=exc,
        ) from exc


def _build(
    url: str,
    body: bytes,
    type: AuthServerType,
    transpile_data: TranspileData | None,
    issuer: str | None,
) -> AuthServerConfig:
    data = orjson.loads(body)
    if transpile_data is not None:
        data = transpile_data(data)
    try:
        metadata = AuthorizationServerMetadata.model_validate(data)
    except pydantic.ValidationError as exc:
        raise MCPAuthAuthServerException(
            AuthServerExceptionCode.INVALID_SERVER_METADATA, cause=exc
        ) from exc
    # RFC 8414 section 3.3: otherwise one server could speak for another issuer.
    if issuer is not None and metadata.issuer != issuer:
        raise MCPAuthAuthServerException(
            AuthServerExceptionCode.INVALID_SERVER_METADATA,
            cause={
                "error_description": f"The metadata at {url} is for issuer "
                f"{metadata.issuer!r}, not the requested {issuer!r}."
            },
        )
    return AuthServerConfig(metadata=metadata, type=type)


_ACCEPT_JSON = {"accept": "application/json"}


def _fetch_sync(
    url: str,
    type: AuthServerType,
    transpile: TranspileData | None,
    issuer: str | None,
    timeout: float,
) -> AuthServerConfig:
    body = bytearray()
    with _fetch_errors(url):
        # Redirects are followed, as mcpauth (requests) does; the issuer check still applies.
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            with client.stream("GET", url, headers=_ACCEPT_JSON) as response:
                _check_response(response)
                for chunk in response.iter_bytes():
                    _grow(body, chunk)
        return _build(url, bytes(body), type, transpile, issuer)


async def _fetch_async(
    url: str,
    type: AuthServerType,
    transpile: TranspileData | None,
    issuer: str | None,
    timeout: float,
) -> AuthServerConfig:
    body = bytearray()
    with _fetch_errors(url):
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            async with client.stream("GET", url, headers=_ACCEPT_JSON) as response:
                _check_response(response)
                async for chunk in response.aiter_bytes():
                    _grow(body, chunk)
        return _build(url, bytes(body), type, transpile, issuer)


def fetch_server_config_by_well_known_url(
    well_known_url: str,
    type: AuthServerType,
    transpile_data: TranspileData | None = None,
    *,
    timeout: float = FETCH_TIMEOUT,
) -> AuthServerConfig:
    """Fetch (blocking) the metadata document at ``well_known_url``.

    :param well_known_url: the URL of the metadata document.
    :param type: the type of the authorization server.
    :param transpile_data: turns the fetched JSON into RFC 8414 metadata, for servers that
        almost conform.
    :param timeout: seconds allowed for the whole request.
    :raises MCPAuthConfigException: ``fetch_server_config_error`` on a network, HTTP, size or
        JSON error, or when ``transpile_data`` fails.
    :raises MCPAuthAuthServerException: ``INVALID_SERVER_METADATA`` when the metadata is invalid.
    """
    return _fetch_sync(well_known_url, type, transpile_data, None, timeout)


async def fetch_server_config_by_well_known_url_async(
    well_known_url: str,
    type: AuthServerType,
    transpile_data: TranspileData | None = None,
    *,
    timeout: float = FETCH_TIMEOUT,
) -> AuthServerConfig:
    """The async twin of ``fetch_server_config_by_well_known_url`` (same errors)."""
    return await _fetch_async(well_known_url, type, transpile_data, None, timeout)


def fetch_server_config(
    issuer: str,
    type: AuthServerType,
    transpile_data: TranspileData | None = None,
    *,
    timeout: float = FETCH_TIMEOUT,
) -> AuthServerConfig:
    """Fetch (blocking, for import time) the metadata of ``issuer`` from its well-known URL.

    OAuth servers are asked at ``get_oauth_well_known_url(issuer)``, OIDC providers at
    ``get_oidc_well_known_url(issuer)``. The document's ``issuer`` must equal ``issuer``
    exactly (RFC 8414 section 3.3).

    :raises MCPAuthConfigException: ``fetch_server_config_error`` on a network, HTTP, size or
        JSON error, or when ``transpile_data`` fails.
    :raises MCPAuthAuthServerException: ``INVALID_SERVER_METADATA`` when the metadata is invalid
        or names another issuer.
    """
    return _fetch_sync(_well_known_url(issuer, type), type, transpile_data, issuer, timeout)


async def fetch_server_config_async(
    issuer: str,
    type: AuthServerType,
    transpile_data: TranspileData | None = None,
    *,
    timeout: float = FETCH_TIMEOUT,
) -> AuthServerConfig:
    """The async twin of ``fetch_server_config`` (same URL rules, checks and errors)."""
    return await _fetch_async(_well_known_url(issuer, type), type, transpile_data, issuer, timeout)


class AuthServerDiscoveryConfig(BaseModel):
    """An authorization server known only by issuer and type; its metadata is fetched lazily.

    Accepted wherever an ``AuthServerConfig`` is. The first ``resolve()`` fetches the metadata;
    concurrent first callers share that one fetch; a success is kept for the life of the
    object, a failure is not (the next call fetches again). The fetched configuration must
    pass ``validate_server_config``.
    """

    model_config = ConfigDict(extra="forbid")

    issuer: str
    type: AuthServerType
    transpile_data: TranspileData | None = Field(default=None, exclude=True, repr=False)

    _config: AuthServerConfig | None = PrivateAttr(default=None)
    _task: asyncio.Task[AuthServerConfig] | None = PrivateAttr(default=None)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> AuthServerDiscoveryConfig:
        # An in-flight asyncio.Task cannot be deep-copied; the copy starts its own fetch.
        clone = self.model_copy()
        clone._task = None
        return clone

    def resolved(self) -> AuthServerConfig | None:
        """The fetched configuration, or None while it has not been fetched successfully."""
        return self._config

    async def resolve(self) -> AuthServerConfig:
        """The configuration, fetched on the first call (one fetch for all concurrent callers).

        :raises MCPAuthConfigException: the fetch failed (network, HTTP, size, JSON).
        :raises MCPAuthAuthServerException: ``INVALID_SERVER_METADATA`` (bad metadata, other
            issuer) or ``INVALID_SERVER_CONFIG`` (fails the MCP checks).
        """
        if self._config is not None:
            return self._config
        loop = asyncio.get_running_loop()
        task = self._task
        # A fetch started on another (perhaps closed) event loop cannot be awaited here.
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self._fetch())
            task.add_done_callback(_consume_exception)
            self._task = task
        # shield: a cancelled caller must not cancel the fetch the other callers wait for.
        return await asyncio.shield(task)

    async def _fetch(self) -> AuthServerConfig:
        try:
            config = await fetch_server_config_async(self.issuer, self.type, self.transpile_data)
            _check_server_config(config, f"authorization server {self.issuer!r}")
        except BaseException:
            if self._task is asyncio.current_task():
                self._task = None
            raise
        self._config = config
        self._task = None
        return config


def _consume_exception(task: asyncio.Task[AuthServerConfig]) -> None:
    # Every caller may have been cancelled; do not let asyncio log "never retrieved".
    if not task.cancelled():
        task.exception()


AnyAuthServerConfig = AuthServerConfig | AuthServerDiscoveryConfig


def issuer_of(config: AuthServerConfig | AuthServerDiscoveryConfig) -> str:
    """The issuer of a static or a lazily discovered authorization server (no fetch)."""
    if isinstance(config, AuthServerDiscoveryConfig):
        return config.issuer
    return config.metadata.issuer


def _check_server_config(config: AuthServerConfig, where: str) -> None:
    result = validate_server_config(config)
    for warning in result.warnings:
        logger.warning("%s: %s", where, warning.description)
    if not result.is_valid:
        codes = ", ".join(error.code.value for error in result.errors)
        raise MCPAuthAuthServerException(
            AuthServerExceptionCode.INVALID_SERVER_CONFIG,
            cause={
                "error_description": f"The {where} does not meet the MCP specification: {codes}.",
                "errors": [error.code.value for error in result.errors],
            },
        )


# ---------------------------------------------------------------- protected resources (RFC 9728)


class ProtectedResourceMetadataBase(BaseModel):
    """OAuth 2.0 Protected Resource Metadata (RFC 9728) without ``authorization_servers``.

    ``resource`` is a plain string, served byte for byte: clients compare it exactly.
    Unknown fields are kept and served.
    """

    model_config = ConfigDict(extra="allow")

    resource: str
    jwks_uri: str | None = None
    scopes_supported: list[str] | None = None
    bearer_methods_supported: list[str] | None = None
    resource_signing_alg_values_supported: list[str] | None = None
    resource_name: str | None = None
    resource_documentation: str | None = None
    resource_policy_uri: str | None = None
    resource_tos_uri: str | None = None
    tls_client_certificate_bound_access_tokens: bool | None = None
    authorization_details_types_supported: list[str] | None = None
    dpop_signing_alg_values_supported: list[str] | None = None
    dpop_bound_access_tokens_required: bool | None = None
    signed_metadata: str | None = None


class ProtectedResourceMetadata(ProtectedResourceMetadataBase):
    """The metadata document as served: authorization servers as issuer strings."""

    authorization_servers: list[str] | None = None


class ResourceServerMetadata(ProtectedResourceMetadataBase):
    """The metadata of a protected resource with its full authorization server configs."""

    authorization_servers: list[AuthServerConfig | AuthServerDiscoveryConfig] | None = None


class ResourceServerConfig(BaseModel):
    """One protected resource (RFC 9728 resource-server mode)."""

    metadata: ResourceServerMetadata


def _resource_problem(resource: str) -> str | None:
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" for ch in resource):
        return "contains whitespace or control characters"
    try:
        parts = urlsplit(resource)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "is not an absolute http(s) URL"
    if "#" in resource:
        return "has a fragment"
    return None


def validate_resource_configs(resources: Sequence[ResourceServerConfig]) -> None:
    """Check the protected resources given to ``MCPAuth`` (at construction).

    Static authorization servers are checked with ``validate_server_config`` now (warnings are
    logged); discovery configs are checked when they are resolved.

    :raises MCPAuthAuthServerException: ``INVALID_SERVER_CONFIG`` for a duplicated resource,
        a resource that is not an absolute http(s) URL without fragment, an issuer listed
        twice for one resource, or an authorization server that fails the MCP checks.
    """

    def fail(description: str) -> MCPAuthAuthServerException:
        return MCPAuthAuthServerException(
            AuthServerExceptionCode.INVALID_SERVER_CONFIG, cause={"error_description": description}
        )

    seen: set[str] = set()
    for config in resources:
        resource = config.metadata.resource
        if resource in seen:
            raise fail(f"The resource metadata ('{resource}') is duplicated.")
        seen.add(resource)
        problem = _resource_problem(resource)
        if problem is not None:
            raise fail(f"The resource identifier ('{resource}') {problem}.")
        issuers: set[str] = set()
        for server in config.metadata.authorization_servers or []:
            issuer = issuer_of(server)
            if issuer in issuers:
                raise fail(
                    f"The authorization server ('{issuer}') for resource '{resource}' "
                    "is duplicated."
                )
            issuers.add(issuer)
            if isinstance(server, AuthServerConfig):
                _check_server_config(
                    server, f"authorization server {issuer!r} of resource {resource!r}"
                )
        if not issuers:
            logger.warning("resource %r has no authorization servers", resource)
