"""An authorization server: its type, its metadata (RFC 8414), its configuration, the MCP checks.

The models that both :mod:`mcpauth_fast.config` and :mod:`mcpauth_fast.discovery` need: discovery
builds an ``AuthServerConfig`` from a fetched document and checks it with
``check_server_config``; config's resource-server models name it. :mod:`mcpauth_fast.config`
re-exports every name here (the names of ``mcpauth.config``); import them from there.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from .exceptions import AuthServerExceptionCode, MCPAuthAuthServerException

__all__ = [
    "AuthServerConfig", "AuthServerConfigError", "AuthServerConfigErrorCode",
    "AuthServerConfigValidationResult", "AuthServerConfigWarning", "AuthServerConfigWarningCode",
    "AuthServerType", "AuthorizationServerMetadata", "AuthorizationServerMetadataDefaults",
    "auth_server_config_error_description", "auth_server_config_warning_description",
    "check_server_config", "validate_server_config",
]

# The logger of mcpauth_fast.config, where these checks are documented and users look for them.
logger = logging.getLogger("mcpauth_fast.config")


class AuthServerType(str, Enum):
    """Whether the authorization server is a plain OAuth 2.0 server or an OpenID provider."""

    OAUTH = "oauth"
    OIDC = "oidc"


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
