"""Server and resource configuration, with the names of ``mcpauth.config`` (0.1.1 and 0.2.0b1).

Authorization server metadata (RFC 8414), protected resource metadata (RFC 9728) and the MCP
checks of ``validate_server_config`` and ``validate_resource_configs``. Finding and fetching
metadata (``fetch_server_config`` and its twins, ``AuthServerDiscoveryConfig``) lives in
:mod:`mcpauth_fast.discovery`; its names are re-exported here, so every name of
``mcpauth.config`` is importable from this module.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from .discovery import (
    FETCH_TIMEOUT,
    MAX_METADATA_BYTES,
    AuthServerDiscoveryConfig,
    AuthServerType,
    Record,
    ServerMetadataPaths,
    TranspileData,
    fetch_server_config,
    fetch_server_config_async,
    fetch_server_config_by_well_known_url,
    fetch_server_config_by_well_known_url_async,
    get_oauth_well_known_url,
    get_oidc_well_known_url,
    issuer_variants,
)
from .exceptions import AuthServerExceptionCode, MCPAuthAuthServerException

__all__ = [
    "FETCH_TIMEOUT", "MAX_METADATA_BYTES", "AnyAuthServerConfig", "AuthServerConfig",
    "AuthServerConfigError", "AuthServerConfigErrorCode", "AuthServerConfigValidationResult",
    "AuthServerConfigWarning", "AuthServerConfigWarningCode", "AuthServerDiscoveryConfig",
    "AuthServerType", "AuthorizationServerMetadata", "AuthorizationServerMetadataDefaults",
    "ProtectedResourceMetadata", "ProtectedResourceMetadataBase", "Record",
    "ResourceServerConfig", "ResourceServerMetadata", "ServerMetadataPaths", "TranspileData",
    "auth_server_config_error_description", "auth_server_config_warning_description",
    "check_server_config",
    "fetch_server_config", "fetch_server_config_async", "fetch_server_config_by_well_known_url",
    "fetch_server_config_by_well_known_url_async", "get_oauth_well_known_url",
    "get_oidc_well_known_url", "issuer_of", "issuer_variants", "trusted_issuers",
    "validate_resource_configs", "validate_server_config",
]

logger = logging.getLogger("mcpauth_fast.config")


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


class AuthorizationServerMetadataDefaults(Enum):
    """RFC 8414 defaults of the optional metadata lists."""

    grant_types_supported = ["authorization_code", "implicit"]
    response_modes_supported = ["query", "fragment"]


class AuthServerConfig(BaseModel):
    """A remote authorization server: its metadata and its type."""

    metadata: AuthorizationServerMetadata
    type: AuthServerType


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


def check_server_config(config: AuthServerConfig, where: str) -> None:
    """``validate_server_config``, acted on as mcpauth does when it is given a server: each
    warning logged (once: this runs once per configuration given), errors raised.

    :param where: names the server in the log, e.g. ``"authorization server 'https://...'"``.
    :raises MCPAuthAuthServerException: ``INVALID_SERVER_CONFIG``, whose ``cause`` is the
        validation result.
    """
    result = validate_server_config(config)
    for warning in result.warnings:
        logger.warning("%s: %s", where, warning.description)
    if not result.is_valid:
        codes = ", ".join(error.code.value for error in result.errors)
        logger.error("%s does not meet the MCP specification: %s", where, codes)
        raise MCPAuthAuthServerException(
            AuthServerExceptionCode.INVALID_SERVER_CONFIG, cause=result
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


AnyAuthServerConfig = AuthServerConfig | AuthServerDiscoveryConfig


def issuer_of(config: AuthServerConfig | AuthServerDiscoveryConfig) -> str:
    """The issuer of a static or a lazily discovered authorization server (no fetch).

    For a discovery config, the one requested: its metadata may still add or drop a trailing
    slash (see ``trusted_issuers``).
    """
    if isinstance(config, AuthServerDiscoveryConfig):
        return config.issuer
    return config.metadata.issuer


def trusted_issuers(config: AuthServerConfig | AuthServerDiscoveryConfig) -> tuple[str, ...]:
    """The ``iss`` values a token of this server may carry, as known without a fetch.

    A static config's issuer; for a discovery config, both ``issuer_variants`` of the requested
    issuer, since its metadata's exact value is known only once fetched. The key source of a
    discovery config then refuses every value but the metadata's exact one.
    """
    if isinstance(config, AuthServerDiscoveryConfig):
        return issuer_variants(config.issuer)
    return (config.metadata.issuer,)


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
                check_server_config(
                    server, f"authorization server {issuer!r} of resource {resource!r}"
                )
        if not issuers:
            logger.warning("resource %r has no authorization servers", resource)
