"""The MCP SDK's own auth, verifying with mcpauth-fast: ``MCPAuth.token_verifier(...)``.

The SDK (1.x ``FastMCP``, 2.x ``MCPServer``) takes a ``token_verifier`` with an
``async verify_token(token) -> AccessToken | None``; its ``BearerAuthBackend`` calls it on every
request, answers 401 when it gets None and 403 when the ``AccessToken`` lacks a scope of
``AuthSettings.required_scopes``, and puts the token where ``get_access_token()`` finds it.

``SdkTokenVerifier`` is that object, backed by the verifier ``bearer_auth_middleware`` would use
(``MCPAuth`` keeps one per issuer and policy): the same cache, key sets, introspection, shared
tier and revocations. A repeated token costs a cache lookup and the issuer/audience check, and
answers the ``AccessToken`` built once for its cached ``AuthInfo`` (the one the middleware puts
in ``scope["user"]`` too): nothing is built on a hit.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from .._accel import check_policy, parse_bearer
from ..decisions import Decisions
from ..exceptions import (
    MCPAuthAuthServerException,
    MCPAuthConfigException,
    MCPAuthException,
    MCPAuthKeysUnavailableException,
    MCPAuthTokenVerificationException,
    MCPAuthTokenVerificationExceptionCode,
    invalid_token,
)
from ..mcp_compat import sdk_user
from ..middleware import _TOKEN_VERIFIERS, CustomVerifier, TokenVerifier, verify_custom
from ..types import AuthInfo, FrozenList
from ..verifier import VerifyJwt

logger = logging.getLogger("mcpauth_fast.integrations")

#: A server's problem, not the token's: raised through, so the SDK answers 500 rather than
#: 401 (a client must not throw a good token away because the provider is down).
_SERVER_ERRORS = (MCPAuthKeysUnavailableException, MCPAuthAuthServerException,
                  MCPAuthConfigException)


def require_sdk(what: str = "token_verifier") -> None:
    """Raise a configuration error unless the MCP SDK is installed."""
    try:
        import mcp.server.auth.provider  # noqa: F401
    except ImportError:
        raise MCPAuthConfigException(
            "missing_dependency", f"{what} needs the MCP SDK: pip install mcp") from None


class SdkTokenVerifier:
    """The MCP SDK's ``TokenVerifier`` protocol over an mcpauth-fast verifier.

    Made by ``MCPAuth.token_verifier``; ``verify_token`` answers the ``AccessToken`` of a valid
    token of a trusted issuer for an accepted audience, else None (the SDK answers 401).
    Scopes are the SDK's business (``AuthSettings.required_scopes``: its 403).
    """

    def __init__(
        self,
        verifier: TokenVerifier | CustomVerifier,
        issuers: frozenset[str] | None,
        audiences: frozenset[str] | None,
        max_token_bytes: int,
        revoked: Callable[[str, AuthInfo], None] | None = None,
        start: Callable[[], None] | None = None,
        decisions: Decisions | None = None,
    ) -> None:
        if isinstance(verifier, VerifyJwt):
            verifier = verifier.verifier
        self.verifier = verifier
        self._issuers = issuers
        self._audiences = audiences
        self._max_token_bytes = max_token_bytes
        self._revoked = revoked
        self._start = start
        self._decisions = decisions if decisions is not None else Decisions()
        self._mode: TokenVerifier | None = (
            verifier if isinstance(verifier, _TOKEN_VERIFIERS) else None)
        #: The cache's own lookup (a ``TokenCache.get`` at the wall clock for "jwt"), or a
        #: custom verifier's stand-in that never hits.
        self._cached: Callable[[str], AuthInfo | None] = (
            self._mode.cached if self._mode is not None else _never_cached)
        self._custom_is_async = self._mode is None and inspect.iscoroutinefunction(verifier)

    async def verify_token(self, token: str) -> Any:
        """The SDK's ``AccessToken`` for ``token``, or None when it is refused.

        :raises MCPAuthKeysUnavailableException: no key (or introspection answer) can be had
            now: the SDK answers 500, not 401.
        """
        info = self._cached(token)
        if info is None:
            info = await self._verify(token)
            if info is None:
                return None
        try:
            check_policy(info.issuer, info.audience, info.scopes, self._issuers,
                         self._audiences, ())
        except MCPAuthException as error:
            self._refused(error)
            return None
        self._decisions.accepted += 1
        user = info._sdk_user
        access = (user if user is not None else sdk_user(info)).access_token
        if type(info.audience) is FrozenList and self._audiences is not None:
            return self._for_this_resource(access, info.audience)
        return access

    def _for_this_resource(self, access: Any, audience: FrozenList) -> Any:
        # A token for several audiences: ``resource`` is the one this server accepts (the
        # SDK's validate_token_resource compares it with resource_server_url).
        audiences = self._audiences
        assert audiences is not None
        resource = next((a for a in audience if a in audiences), None)
        if resource is None or access.resource == resource:
            return access
        return access.model_copy(update={"resource": resource})

    async def _verify(self, token: str) -> AuthInfo | None:
        """A token missed in the cache: its syntax, then the verifier; None when refused."""
        if self._start is not None:
            self._start()
        # The SDK hands over what follows "Bearer ": the middleware's header rules apply
        # (RFC 6750 b64token, one token, the size limit) before any verification.
        try:
            header = b"Bearer " + token.encode("latin-1")
        except UnicodeEncodeError:
            self._refused(invalid_token("token is not an RFC 6750 b64token"))
            return None
        try:
            token = parse_bearer(header, self._max_token_bytes)
        except MCPAuthException as error:
            self._refused(error, header)
            return None
        started = time.perf_counter()
        try:
            mode = self._mode
            if mode is not None:
                info = mode.cached(token)
                return info if info is not None else await mode.verify_uncached(token)
            custom: Any = self.verifier
            return await verify_custom(custom, token, self._custom_is_async, self._revoked)
        except _SERVER_ERRORS as error:
            self._decisions.refuse(500, error)  # what the SDK answers to it
            raise
        except MCPAuthException as error:
            self._refused(error)
        except Exception as exc:  # noqa: BLE001 - a bug must not become a 500 for bad input
            logger.warning("token verification raised %s", type(exc).__name__)
            self._refused(MCPAuthTokenVerificationException(
                MCPAuthTokenVerificationExceptionCode.TOKEN_VERIFICATION_FAILED,
                type(exc).__name__))
        finally:
            self._decisions.verified(started)
        return None

    def _refused(self, error: MCPAuthException, header: bytes | None = None) -> None:
        # The SDK answers 401 to None; counted here with its reason class (a 403 for the
        # route's scopes is the SDK's, after a token counted as let in).
        reason = self._decisions.refuse(401, error, header)
        logger.debug("token refused: 401 %s (%s)", reason, error.error_code)


def _never_cached(token: str) -> None:
    return None

