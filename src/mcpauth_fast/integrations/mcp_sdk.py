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
from collections.abc import Callable
from typing import Any

from .._accel import check_policy, parse_bearer
from ..exceptions import (
    MCPAuthAuthServerException,
    MCPAuthConfigException,
    MCPAuthException,
    MCPAuthKeysUnavailableException,
)
from ..mcp_compat import sdk_user
from ..middleware import _TOKEN_VERIFIERS, CustomVerifier, TokenVerifier
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
    ) -> None:
        if isinstance(verifier, VerifyJwt):
            verifier = verifier.verifier
        self.verifier = verifier
        self._issuers = issuers
        self._audiences = audiences
        self._max_token_bytes = max_token_bytes
        self._revoked = revoked
        self._start = start
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
            logger.debug("token refused: %s", error.error_code)
            return None
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
        try:
            # The SDK hands over what follows "Bearer ": the middleware's header rules apply
            # (RFC 6750 b64token, one token, the size limit) before any verification.
            token = parse_bearer(b"Bearer " + token.encode("latin-1"), self._max_token_bytes)
            mode = self._mode
            if mode is not None:
                info = mode.cached(token)
                return info if info is not None else await mode.verify_uncached(token)
            return await self._verify_custom(token)
        except _SERVER_ERRORS:
            raise
        except MCPAuthException as error:
            logger.debug("token refused: %s", error.error_code)
        except UnicodeEncodeError:
            logger.debug("token refused: not ASCII")
        except Exception as exc:  # noqa: BLE001 - a bug must not become a 500 for bad input
            logger.warning("token verification raised %s", type(exc).__name__)
        return None

    async def _verify_custom(self, token: str) -> AuthInfo:
        verify: Any = self.verifier
        try:
            result = verify(token)
            if self._custom_is_async or inspect.isawaitable(result):
                result = await result
        except MCPAuthException:
            raise
        except Exception as exc:  # noqa: BLE001 - only the type: the message may quote it
            logger.error("custom token verifier raised %s", type(exc).__name__)
            raise MCPAuthConfigException(
                "token_verifier_error",
                f"The custom token verifier raised {type(exc).__name__}.") from None
        if not isinstance(result, AuthInfo):
            logger.error("custom token verifier returned %s", type(result).__name__)
            raise MCPAuthConfigException(
                "token_verifier_error",
                f"The custom token verifier returned {type(result).__name__}, not an AuthInfo.")
        if self._revoked is not None:
            self._revoked(token, result)
        return result


def _never_cached(token: str) -> None:
    return None

