"""The names of ``mcpauth.middleware.create_bearer_auth``: a bearer middleware for a verify
function and an mcpauth ``BearerAuthConfig``, without ``MCPAuth``.

``MCPAuth.bearer_auth_middleware`` is the documented way; this module keeps code that called
mcpauth's lower-level functions running after the import rename.
"""

from __future__ import annotations

from contextvars import ContextVar
from urllib.parse import urlparse

from pydantic import BaseModel
from starlette.datastructures import Headers

from .._accel import bearer_token
from ..challenge import Challenge
from ..exceptions import (  # noqa: F401 - names mcpauth's module exports
    BearerAuthExceptionCode,
    MCPAuthAuthServerException,
    MCPAuthBearerAuthException,
    MCPAuthBearerAuthExceptionDetails,
    MCPAuthConfigException,
    MCPAuthTokenVerificationException,
)
from ..types import AuthInfo, Record, VerifyAccessTokenFunction  # noqa: F401 - as above
from ..urls import Audiences
from . import BearerAuthMiddleware, CustomVerifier, MiddlewareConfig

__all__ = [
    "BearerAuthConfig", "BearerAuthExceptionCode", "MCPAuthAuthServerException",
    "MCPAuthBearerAuthException", "MCPAuthBearerAuthExceptionDetails", "MCPAuthConfigException",
    "MCPAuthTokenVerificationException", "Record", "VerifyAccessTokenFunction",
    "create_bearer_auth", "get_bearer_token_from_headers", "validate_issuer_url",
]


class BearerAuthConfig(BaseModel):
    """What ``create_bearer_auth`` checks on every verified token."""

    issuer: str
    """The issuer tokens must carry, exactly: a URL."""
    audience: str | None = None
    """The audience tokens must name; None: no audience check."""
    required_scopes: list[str] | None = None
    """Scopes every request needs (a 403 names all that are missing)."""
    show_error_details: bool = False
    """Add ``cause`` to error bodies."""


def get_bearer_token_from_headers(headers: Headers) -> str:
    """The token of the request's ``Authorization: Bearer <token>`` header.

    :raises MCPAuthBearerAuthException: the header is missing, repeated or malformed.
    """
    token: str = bearer_token(headers.raw)
    return token


def validate_issuer_url(issuer: str) -> None:
    """Refuse an issuer that is not an absolute URL, as mcpauth does, when a middleware is made.

    :raises TypeError: ``issuer`` has no scheme or no host.
    """
    try:
        parts = urlparse(issuer)
        valid = bool(parts.scheme and parts.netloc)
    except (TypeError, ValueError, AttributeError):
        valid = False
    if not valid:
        raise TypeError("`issuer` must be a valid URL.")


def create_bearer_auth(
    verify_access_token: CustomVerifier,
    config: BearerAuthConfig,
    context_var: ContextVar[AuthInfo | None],
) -> type[BearerAuthMiddleware]:
    """A pure ASGI middleware class admitting requests whose token ``verify_access_token``
    accepts and whose issuer, audience and scopes fit ``config``.

    :param verify_access_token: a sync or async ``token -> AuthInfo`` (or the function of
        ``create_verify_jwt``).
    :param context_var: where ``auth_info`` is kept while the request is handled.
    :raises TypeError: ``verify_access_token`` is not callable, or the issuer is not a URL.
    """
    if not callable(verify_access_token):
        raise TypeError(
            "`verify_access_token` must be a function that takes a token and returns an "
            "`AuthInfo` object."
        )
    validate_issuer_url(config.issuer)
    scopes = tuple(config.required_scopes or ())
    bound = MiddlewareConfig(
        verifier=verify_access_token,
        issuers=frozenset([config.issuer]),
        audiences=Audiences([config.audience]) if config.audience else None,
        required_scopes=scopes,
        challenge=Challenge(scopes, None, config.show_error_details),
        context_var=context_var,
    )
    return type("BearerAuthMiddleware", (BearerAuthMiddleware,), {"config": bound})
