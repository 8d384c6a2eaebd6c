"""The names ``mcpauth.utils`` exports, so moving from mcpauth stays an import rename."""

from __future__ import annotations

from .config import (
    AuthServerConfigError,
    AuthServerConfigErrorCode,
    AuthServerConfigValidationResult,
    AuthServerConfigWarning,
    AuthServerConfigWarningCode,
    fetch_server_config,
    fetch_server_config_async,
    fetch_server_config_by_well_known_url,
    fetch_server_config_by_well_known_url_async,
    get_oauth_well_known_url,
    get_oidc_well_known_url,
    validate_server_config,
)

__all__ = [
    "AuthServerConfigError",
    "AuthServerConfigErrorCode",
    "AuthServerConfigValidationResult",
    "AuthServerConfigWarning",
    "AuthServerConfigWarningCode",
    "fetch_server_config",
    "fetch_server_config_async",
    "fetch_server_config_by_well_known_url",
    "fetch_server_config_by_well_known_url_async",
    "get_oauth_well_known_url",
    "get_oidc_well_known_url",
    "validate_server_config",
]
