"""The error response of a refused request: status, JSON body and ``WWW-Authenticate``.

RFC 6750 section 3 with the MCP authorization spec: no ``error`` when no credentials were
sent, the RFC 6750 code otherwise; ``scope`` naming every scope the resource needs;
``resource_metadata`` (RFC 9728) on 401 and 403 when a resource is configured. Every value is
a quoted-string that can never break out of the header or carry a newline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from .exceptions import (
    BearerAuthExceptionCode,
    DPoPNonceError,
    DPoPProofError,
    MCPAuthAuthServerException,
    MCPAuthBearerAuthException,
    MCPAuthConfigException,
    MCPAuthException,
    MCPAuthKeysUnavailableException,
    MCPAuthRequestException,
)

Headers = list[tuple[bytes, bytes]]

_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
_SERVER_ERROR = {
    "error": "server_error",
    "error_description": "An error occurred with the authorization server.",
}


def quoted(value: str) -> str:
    """``value`` as an RFC 7230 quoted-string; control characters are dropped."""
    cleaned = "".join(c for c in value if " " <= c <= "~" or c == "\t")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def description(value: str) -> str:
    """``value`` within the RFC 6750 ``error_description`` characters (no ``"`` or ``\\``)."""
    return "".join(
        ("'" if c == '"' else c) for c in value if " " <= c <= "~" and c != "\\"
    )


#: RFC 9110 ``tchar``: a byte that would continue the scheme name (``Bearerx`` is another scheme).
_TCHAR = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_MALFORMED_BEARER = (
    BearerAuthExceptionCode.INVALID_AUTH_HEADER_FORMAT,
    BearerAuthExceptionCode.MISSING_BEARER_TOKEN,
)


def malformed_bearer(error: MCPAuthException, authorization: bytes | None) -> bool:
    """Whether ``error`` refuses a ``Bearer`` credential of bad syntax (``Bearer`` alone,
    ``Bearer `` with no token, ``Bearer<TAB>token``, ``Bearer:token``, ``Bearer a b``).

    Such a request carries credentials, so RFC 6750 section 3.1 wants an error code in its
    challenge: ``invalid_request`` (malformed request). Another scheme (``Basic ...``) is no
    credentials: no error code.
    """
    if (
        not isinstance(error, MCPAuthBearerAuthException)
        or error.code not in _MALFORMED_BEARER
        or authorization is None
    ):
        return False
    value = authorization.lstrip(b" \t")
    return value[:6].lower() == b"bearer" and (len(value) == 6 or value[6] not in _TCHAR)


def uses_dpop(authorization: bytes | None) -> bool:
    """Whether the Authorization header value is of the ``DPoP`` scheme (RFC 9449)."""
    if authorization is None:
        return False
    value = authorization.lstrip(b" \t")
    return value[:4].lower() == b"dpop" and (len(value) == 4 or value[4] not in _TCHAR)


class Challenge:
    """Builds the responses of one middleware; its fixed parts are computed once.

    :param required_scopes: the scopes the protected resource needs (sent in ``scope``).
    :param resource_metadata_url: the RFC 9728 metadata URL of the resource, if any.
    :param show_error_details: put ``cause`` in the JSON body.
    :param dpop_algs: the accepted DPoP proof algorithms, space-separated, when the resource
        accepts DPoP (RFC 9449 section 7.1): a ``DPoP`` challenge joins the ``Bearer`` one.
    :param dpop_required: only DPoP is accepted: the ``DPoP`` challenge alone.
    """

    def __init__(
        self,
        required_scopes: Sequence[str] = (),
        resource_metadata_url: str | None = None,
        show_error_details: bool = False,
        dpop_algs: str | None = None,
        dpop_required: bool = False,
    ) -> None:
        tail = []
        if required_scopes:
            tail.append(f"scope={quoted(' '.join(required_scopes))}")
        if resource_metadata_url:
            tail.append(f"resource_metadata={quoted(resource_metadata_url)}")
        self._tail = tail
        self._resource_metadata_url = resource_metadata_url
        self.show_error_details = show_error_details
        self._dpop_algs = dpop_algs
        self._dpop_required = dpop_algs is not None and dpop_required
        self.no_credentials = self.header(None, None)

    def with_scopes(self, required_scopes: Sequence[str]) -> Challenge:
        """The same challenge naming ``required_scopes`` (an operation's, say)."""
        return Challenge(required_scopes, self._resource_metadata_url, self.show_error_details,
                         self._dpop_algs, self._dpop_required)

    def header(self, error: str | None, message: str | None, scheme: str = "Bearer") -> bytes:
        """The ``WWW-Authenticate`` value for an RFC 6750 ``error`` (None: no credentials).

        :param scheme: ``"Bearer"``, or ``"DPoP"`` (which adds ``algs``).
        """
        params = []
        if error is not None:
            params.append(f"error={quoted(error)}")
            if message:
                params.append(f"error_description={quoted(description(message))}")
        if scheme == "DPoP":
            params.append(f"algs={quoted(self._dpop_algs or '')}")
        params.extend(self._tail)
        return (f"{scheme} " + ", ".join(params) if params else scheme).encode("latin-1")

    def _challenges(self, error: MCPAuthException, oauth_error: str | None,
                    authorization: bytes | None) -> Headers:
        # RFC 9449 section 7.1: the error goes with the scheme the request used (a proof's
        # always with DPoP); the other accepted scheme is offered without one.
        if self._dpop_algs is None:
            return [(b"www-authenticate", self.header(oauth_error, error.message))]
        to_dpop = (self._dpop_required or isinstance(error, DPoPProofError)
                   or uses_dpop(authorization))
        dpop_error = oauth_error if to_dpop else None
        headers: Headers = []
        if not self._dpop_required:
            bearer_error = None if to_dpop else oauth_error
            headers.append((b"www-authenticate", self.header(bearer_error, error.message)))
        headers.append((b"www-authenticate", self.header(dpop_error, error.message, "DPoP")))
        if isinstance(error, DPoPNonceError) and error.nonce:
            headers.append((b"dpop-nonce", error.nonce.encode("ascii")))
        return headers

    def response(
        self, error: MCPAuthException, authorization: bytes | None = None
    ) -> tuple[int, Headers, bytes]:
        """``(status, headers, body)`` answering ``error``.

        :param authorization: the raw Authorization header value, to tell a malformed Bearer
            credential (``invalid_request``) from another scheme (no credentials, no error
            code).
        """
        if isinstance(error, MCPAuthKeysUnavailableException):
            body = error.to_json(self.show_error_details)
            headers = [_JSON, _NO_STORE, (b"retry-after", str(error.retry_after).encode())]
            return 503, headers, orjson.dumps(body)
        if isinstance(error, MCPAuthRequestException):  # not about credentials: no challenge
            body = error.to_json(self.show_error_details)
            return error.status_code, [_JSON, _NO_STORE], orjson.dumps(body)
        if isinstance(error, (MCPAuthAuthServerException, MCPAuthConfigException)):
            server_body: dict[str, Any] = dict(_SERVER_ERROR)
            if self.show_error_details:
                server_body["cause"] = error.to_json()
            return 500, [_JSON, _NO_STORE], orjson.dumps(server_body)
        status = error.status_code
        oauth_error = error.oauth_error
        if oauth_error is None and malformed_bearer(error, authorization):
            oauth_error = "invalid_request"
        if oauth_error is None and self._dpop_algs is None:
            challenges = [(b"www-authenticate", self.no_credentials)]
        else:
            challenges = self._challenges(error, oauth_error, authorization)
        headers = [_JSON, _NO_STORE, *challenges]
        return status, headers, orjson.dumps(error.to_json(self.show_error_details))
