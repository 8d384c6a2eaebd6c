"""Errors of mcpauth-fast, with the names and codes of ``mcpauth`` 0.1.1.

Errors are data: each one knows its HTTP status, its JSON body and the RFC 6750
error code of its ``WWW-Authenticate`` challenge, so one place (the middleware)
turns any of them into a response.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

Record = dict[str, Any]
#: What an error's ``cause`` may be: a Record, an exception or a pydantic model (mcpauth's name).
ExceptionCause = Any


class MCPAuthException(Exception):
    """Base class of every mcpauth-fast error.

    :param code: a snake_case code that names the failure (an enum member or a string).
    :param message: a human-readable description, safe to show to clients.
    :param cause: what caused it; shown to clients only with ``show_error_details``.
    """

    #: HTTP status used when this error ends a request.
    status_code: int = 500
    #: RFC 6750 ``error`` parameter of the challenge, or None for none.
    oauth_error: str | None = None

    def __init__(self, code: str | Enum, message: str, cause: Any = None) -> None:
        self.code = code
        self.message = message
        self.cause = cause
        super().__init__(message)

    @property
    def error_code(self) -> str:
        """The code as a plain string, as it appears in the JSON body."""
        return self.code.value if isinstance(self.code, Enum) else str(self.code)

    def _cause_json(self) -> Any:
        cause = self.cause
        if cause is None:
            return None
        if isinstance(cause, MCPAuthBearerAuthExceptionDetails):
            return cause.to_dict()
        if isinstance(cause, MCPAuthException):
            return cause.to_json()
        if hasattr(cause, "model_dump"):  # a pydantic model, e.g. a validation result
            return cause.model_dump(mode="json", exclude_none=True)
        return str(cause)

    def to_json(self, show_cause: bool = False) -> Record:
        """The HTTP response body: ``error``, ``error_description`` and, if asked, ``cause``."""
        data: Record = {"error": self.error_code, "error_description": self.message}
        if show_cause:
            cause = self._cause_json()
            if cause is not None:
                data["cause"] = cause
        return data


class MCPAuthConfigException(MCPAuthException):
    """A configuration problem of mcpauth-fast itself (raised at construction)."""


class AuthServerExceptionCode(str, Enum):
    INVALID_SERVER_METADATA = "invalid_server_metadata"
    INVALID_SERVER_CONFIG = "invalid_server_config"
    MISSING_JWKS_URI = "missing_jwks_uri"
    MISSING_INTROSPECTION_ENDPOINT = "missing_introspection_endpoint"


auth_server_exception_description: dict[AuthServerExceptionCode, str] = {
    AuthServerExceptionCode.INVALID_SERVER_METADATA: "The server metadata is invalid or malformed.",
    AuthServerExceptionCode.INVALID_SERVER_CONFIG: (
        "The server configuration does not match the MCP specification."
    ),
    AuthServerExceptionCode.MISSING_JWKS_URI: (
        "The server metadata does not contain a JWKS URI, which is required for JWT verification."
    ),
    AuthServerExceptionCode.MISSING_INTROSPECTION_ENDPOINT: (
        "The server metadata does not contain an introspection endpoint, and none is configured."
    ),
}


class MCPAuthAuthServerException(MCPAuthException):
    """A problem with the remote authorization server (metadata, discovery)."""

    def __init__(self, code: AuthServerExceptionCode, cause: Any = None) -> None:
        super().__init__(
            code,
            auth_server_exception_description.get(
                code, "An exception occurred with the authorization server."
            ),
            cause,
        )


class BearerAuthExceptionCode(str, Enum):
    MISSING_AUTH_HEADER = "missing_auth_header"
    INVALID_AUTH_HEADER_FORMAT = "invalid_auth_header_format"
    MISSING_BEARER_TOKEN = "missing_bearer_token"
    INVALID_ISSUER = "invalid_issuer"
    INVALID_AUDIENCE = "invalid_audience"
    MISSING_REQUIRED_SCOPES = "missing_required_scopes"
    INVALID_TOKEN = "invalid_token"
    # Not in mcpauth: RFC 6750 section 3.1 for a malformed request (two Authorization headers).
    INVALID_REQUEST = "invalid_request"


bearer_auth_exception_description: dict[BearerAuthExceptionCode, str] = {
    BearerAuthExceptionCode.MISSING_AUTH_HEADER: (
        "Missing `Authorization` header. Please provide a valid bearer token."
    ),
    BearerAuthExceptionCode.INVALID_AUTH_HEADER_FORMAT: (
        'Invalid `Authorization` header format. Expected "Bearer <token>".'
    ),
    BearerAuthExceptionCode.MISSING_BEARER_TOKEN: (
        "Missing bearer token in `Authorization` header. Please provide a valid token."
    ),
    BearerAuthExceptionCode.INVALID_ISSUER: "The token issuer does not match the expected issuer.",
    BearerAuthExceptionCode.INVALID_AUDIENCE: (
        "The token audience does not match the expected audience."
    ),
    BearerAuthExceptionCode.MISSING_REQUIRED_SCOPES: (
        "The token does not contain the necessary scopes for this request."
    ),
    BearerAuthExceptionCode.INVALID_TOKEN: "The provided token is not valid or has expired.",
    BearerAuthExceptionCode.INVALID_REQUEST: (
        "The request carries more than one `Authorization` header. Please send exactly one."
    ),
}

_BEARER_STATUS = {
    BearerAuthExceptionCode.MISSING_REQUIRED_SCOPES: 403,
    BearerAuthExceptionCode.INVALID_REQUEST: 400,
}

_BEARER_OAUTH_ERROR = {
    BearerAuthExceptionCode.MISSING_AUTH_HEADER: None,
    BearerAuthExceptionCode.INVALID_AUTH_HEADER_FORMAT: None,
    BearerAuthExceptionCode.MISSING_BEARER_TOKEN: None,
    BearerAuthExceptionCode.MISSING_REQUIRED_SCOPES: "insufficient_scope",
    BearerAuthExceptionCode.INVALID_REQUEST: "invalid_request",
}


@dataclass(frozen=True)
class MCPAuthBearerAuthExceptionDetails:
    """Details of a bearer failure: what was expected, what the token had, what is missing."""

    cause: Any = None
    uri: str | None = None
    missing_scopes: list[str] | None = None
    expected: Any = None
    actual: Any = None

    def to_dict(self) -> Record:
        """The set fields, as ``model_dump(exclude_none=True)`` gives them in mcpauth."""
        return self.model_dump(exclude_none=True)

    def model_dump(self, exclude_none: bool = False) -> Record:
        """The fields as a dict (mcpauth's model is pydantic; code may call this)."""
        fields = {
            "cause": self.cause,
            "uri": self.uri,
            "missing_scopes": self.missing_scopes,
            "expected": self.expected,
            "actual": self.actual,
        }
        return {k: v for k, v in fields.items() if not (exclude_none and v is None)}


class MCPAuthBearerAuthException(MCPAuthException):
    """A request that fails bearer authentication: header, issuer, audience or scopes."""

    cause: MCPAuthBearerAuthExceptionDetails | None

    def __init__(
        self,
        code: BearerAuthExceptionCode,
        cause: MCPAuthBearerAuthExceptionDetails | None = None,
    ) -> None:
        super().__init__(
            code,
            bearer_auth_exception_description.get(
                code, "An exception occurred with the Bearer auth."
            ),
            cause,
        )
        self.status_code = _BEARER_STATUS.get(code, 401)
        self.oauth_error = _BEARER_OAUTH_ERROR.get(code, "invalid_token")

    def to_json(self, show_cause: bool = False) -> Record:
        data = super().to_json(show_cause)
        if self.cause is not None:
            if self.cause.uri is not None:
                data["error_uri"] = self.cause.uri
            if self.cause.missing_scopes is not None:
                data["missing_scopes"] = list(self.cause.missing_scopes)
        return data


class MCPAuthTokenVerificationExceptionCode(str, Enum):
    INVALID_TOKEN = "invalid_token"
    TOKEN_VERIFICATION_FAILED = "token_verification_failed"


token_verification_exception_description: dict[str, str] = {
    MCPAuthTokenVerificationExceptionCode.INVALID_TOKEN: (
        "The provided token is invalid or malformed."
    ),
    MCPAuthTokenVerificationExceptionCode.TOKEN_VERIFICATION_FAILED: (
        "The token verification failed due to an error in the verification process."
    ),
}


class MCPAuthTokenVerificationException(MCPAuthException):
    """A token that cannot be verified: malformed, bad signature, unknown key, expired.

    ``cause`` is a short reason (a string) that never contains the token or key material.
    """

    status_code = 401
    oauth_error = "invalid_token"

    def __init__(self, code: MCPAuthTokenVerificationExceptionCode, cause: Any = None) -> None:
        super().__init__(
            code,
            token_verification_exception_description.get(
                code, "An exception occurred while verifying the token."
            ),
            cause,
        )


class MCPAuthKeysUnavailableException(MCPAuthException):
    """No key for the token's issuer can be had right now (the identity provider is unreachable).

    Answered with 503 and ``Retry-After``, never 401: an outage must not make clients drop
    good tokens.
    """

    status_code = 503

    def __init__(self, retry_after: int = 30, cause: Any = None) -> None:
        super().__init__(
            "temporarily_unavailable",
            "The signing keys of the authorization server cannot be fetched right now. "
            "Please retry later.",
            cause,
        )
        self.retry_after = retry_after


class MCPAuthIntrospectionUnavailableException(MCPAuthKeysUnavailableException):
    """The introspection endpoint cannot answer right now (timeout, connection error, 5xx,
    a body that is not a JSON object, a refusal of our client credentials), and no answer
    for the token is cached.

    A ``MCPAuthKeysUnavailableException``: answered the same way, 503 with ``Retry-After``,
    never 401.
    """

    def __init__(self, retry_after: int = 1, cause: Any = None) -> None:
        super().__init__(retry_after, cause)
        self.message = ("The authorization server cannot be asked about the token right now. "
                        "Please retry later.")
        self.args = (self.message,)


class MCPAuthRequestException(MCPAuthException):
    """A request refused for what it is, not for its credentials: an ``Origin`` that is not
    allowed (403 ``invalid_origin``), a form body too large to check (413
    ``request_too_large``). Answered with ``status_code`` and the JSON body, without a
    ``WWW-Authenticate`` challenge (a token would not help).
    """

    def __init__(self, status_code: int, code: str, message: str, cause: Any = None) -> None:
        super().__init__(code, message, cause)
        self.status_code = status_code


class DPoPProofError(MCPAuthException):
    """A DPoP proof that is refused (RFC 9449 section 4.3); ``reason`` (also the message) is a
    short, fixed text that never quotes the proof, the token or a key.

    Answered 401 with ``WWW-Authenticate: DPoP error="invalid_dpop_proof"`` (section 7.1).
    """

    status_code = 401
    oauth_error = "invalid_dpop_proof"

    def __init__(self, reason: str) -> None:
        super().__init__(self.oauth_error, reason)
        self.reason = reason


class DPoPNonceError(DPoPProofError):
    """The proof lacks the server's current nonce (RFC 9449 section 9): 401 with
    ``error="use_dpop_nonce"`` and the nonce to use in a ``DPoP-Nonce`` header."""

    oauth_error = "use_dpop_nonce"

    def __init__(self, reason: str, nonce: str = "") -> None:
        super().__init__(reason)
        self.nonce = nonce


class DPoPBindingError(MCPAuthException):
    """A token used with the wrong key or scheme: a DPoP-bound token sent as a Bearer token
    (RFC 9449 section 7.2), a token without ``cnf.jkt`` sent with a proof, a proof by another
    key, or a Bearer token where DPoP is required. 401 ``invalid_token``."""

    status_code = 401
    oauth_error = "invalid_token"

    def __init__(self, message: str) -> None:
        super().__init__("invalid_token", message)


def invalid_request(message: str) -> MCPAuthBearerAuthException:
    """A 400 ``invalid_request`` (RFC 6750 section 3.1) that says what is wrong: ``message``."""
    error = MCPAuthBearerAuthException(BearerAuthExceptionCode.INVALID_REQUEST)
    error.message = message
    error.args = (message,)
    return error


# The names the MCP Auth documentation uses for the same errors.
MCPAuthJwtVerificationException = MCPAuthTokenVerificationException


class MCPAuthJwtVerificationExceptionCode(str, Enum):
    INVALID_JWT = "invalid_token"
    JWT_VERIFICATION_FAILED = "token_verification_failed"


# Members compare equal to the token-verification codes, so either enum can be passed.
token_verification_exception_description.update(
    {
        MCPAuthJwtVerificationExceptionCode.INVALID_JWT: token_verification_exception_description[
            MCPAuthTokenVerificationExceptionCode.INVALID_TOKEN
        ],
        MCPAuthJwtVerificationExceptionCode.JWT_VERIFICATION_FAILED: (
            token_verification_exception_description[
                MCPAuthTokenVerificationExceptionCode.TOKEN_VERIFICATION_FAILED
            ]
        ),
    }
)


def invalid_token(reason: str) -> MCPAuthTokenVerificationException:
    """An ``invalid_token`` error whose cause is ``reason`` (never the token itself)."""
    return MCPAuthTokenVerificationException(
        MCPAuthTokenVerificationExceptionCode.INVALID_TOKEN, reason
    )
