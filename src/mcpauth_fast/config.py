"""Server and resource configuration, with the names of ``mcpauth.config`` (0.1.1 and 0.2.0b1).

Protected resource metadata (RFC 9728), resource-server configuration and the checks of
``validate_resource_configs`` live here. Every other name of ``mcpauth.config`` is re-exported,
so all of them are importable from this module: an authorization server's type, metadata
(RFC 8414), configuration and ``validate_server_config`` from :mod:`mcpauth_fast.authserver`;
finding and fetching metadata (``fetch_server_config`` and its twins,
``AuthServerDiscoveryConfig``) from :mod:`mcpauth_fast.discovery`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from .authserver import (
    AuthorizationServerMetadata,
    AuthorizationServerMetadataDefaults,
    AuthServerConfig,
    AuthServerConfigError,
    AuthServerConfigErrorCode,
    AuthServerConfigValidationResult,
    AuthServerConfigWarning,
    AuthServerConfigWarningCode,
    AuthServerType,
    auth_server_config_error_description,
    auth_server_config_warning_description,
    check_server_config,
    validate_server_config,
)
from .discovery import (
    FETCH_TIMEOUT,
    MAX_METADATA_BYTES,
    AuthServerDiscoveryConfig,
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
