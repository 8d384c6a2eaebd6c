"""BearerAuthMiddleware: a pure ASGI middleware that lets through only requests with a good token.

Per request: find the one Authorization header in the raw ASGI headers, parse the Bearer
token, look it up in the verifier's cache (or verify it), check the issuer/audience/scope
policy, then call the app with ``scope["auth"]`` (and, with the MCP SDK, ``scope["user"]``)
set and the context variable bound for the duration of the call. The body is read only when an
MCP operation has a rule of its own (``operations``); responses pass through untouched. Any
refusal is one JSON response with a challenge.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._accel import (
    DEFAULT_MAX_TOKEN_BYTES,
    BearerLookup,
    bearer_token,
    check_policy,
    find_authorization,
)
from ..challenge import Challenge
from ..decisions import Decisions
from ..dpop.resource import DPoPResource, dpop_token
from ..exceptions import (
    BearerAuthExceptionCode,
    DPoPProofError,
    MCPAuthBearerAuthException,
    MCPAuthBearerAuthExceptionDetails,
    MCPAuthConfigException,
    MCPAuthException,
    MCPAuthTokenVerificationException,
    MCPAuthTokenVerificationExceptionCode,
)
from ..introspection import AutoVerifier, IntrospectionVerifier
from ..jsonrpc import DEFAULT_MAX_BODY_BYTES, INVALID_REQUEST, Refusal, check_headers, operations_of
from ..mcp_compat import sdk_auth_context_var, sdk_user
from ..operations import OperationRules, marked_functions, rules_of_server
from ..origin import OriginPolicy
from ..scopes import FLAT, ScopeHierarchy, challenged, requirements
from ..types import AuthInfo
from ..verifier import JwtVerifier, VerifyJwt
from .body import BodyTooLarge, read_body, replay
from .request_flags import FORM_BODY, ORIGIN_HEADER, request_flags
from .token_methods import check_one_method

logger = logging.getLogger("mcpauth_fast.middleware")

CustomVerifier = Callable[[str], AuthInfo | Awaitable[AuthInfo]]
#: The verifiers of the built-in modes ("jwt", "introspection", "auto"): each has a ``cache``
#: (a ``TokenCache``), ``cached(token)`` and ``verify_uncached(token)``.
TokenVerifier = JwtVerifier | IntrospectionVerifier | AutoVerifier
_TOKEN_VERIFIERS = (JwtVerifier, IntrospectionVerifier, AutoVerifier)


@dataclass(frozen=True)
class MiddlewareConfig:
    """Everything one middleware needs, validated before any request arrives.

    :param verifier: a ``JwtVerifier`` ("jwt" mode), an ``IntrospectionVerifier``
        ("introspection"), an ``AutoVerifier`` ("auto") or a sync/async ``token -> AuthInfo``.
    :param issuers: trusted issuers (None: no issuer check).
    :param audiences: accepted audiences (None: no audience check).
    :param required_scopes: scopes every request needs.
    :param challenge: builds the refusal responses.
    :param hierarchy: which scopes imply which, for route and operation rules.
    :param operation_scopes: rules per tool, resource and prompt (``OperationRules``'s).
    :param mcp_server: an MCP server whose ``requires_scopes`` functions add rules.
    :param max_body_bytes: the longest body read while operation rules exist (413 beyond).
    :param context_var: where ``MCPAuth.auth_info`` finds the current ``AuthInfo``.
    :param max_token_bytes: longer tokens are refused before decoding.
    :param origins: the ``Origin`` values accepted (None: the request's own only).
    :param decisions: where requests let in and refusals are counted (``MCPAuth.metrics``).
    :param revoked: ``(token, info)`` raises ``invalid_token`` when a custom verifier's result
        is revoked (``MCPAuth.revoke``); the modes check revocations themselves.
    :param dpop: the DPoP checks (RFC 9449), when the resource accepts DPoP-bound tokens.
    """

    verifier: TokenVerifier | CustomVerifier
    issuers: frozenset[str] | None
    audiences: frozenset[str] | None
    required_scopes: tuple[str, ...]
    challenge: Challenge
    context_var: ContextVar[AuthInfo | None]
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES
    hierarchy: ScopeHierarchy = FLAT
    operation_scopes: Any = None
    mcp_server: Any = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    revoked: Callable[[str, AuthInfo], None] | None = None
    decisions: Decisions = field(default_factory=Decisions)
    on_startup: Callable[[], Coroutine[Any, Any, None]] | None = None
    on_shutdown: Callable[[], Coroutine[Any, Any, None]] | None = None
    origins: OriginPolicy | None = None
    dpop: DPoPResource | None = None


def _verification_failed(cause: str) -> MCPAuthTokenVerificationException:
    return MCPAuthTokenVerificationException(
        MCPAuthTokenVerificationExceptionCode.TOKEN_VERIFICATION_FAILED, cause
    )


def _verifier_broke(what: str) -> MCPAuthConfigException:
    # A custom verifier that crashes is a broken server, not a bad token: 500, as in mcpauth
    # (where the error reaches the app). Only the exception's type is logged and shown: its
    # message may quote the token.
    logger.error("custom token verifier %s", what)
    return MCPAuthConfigException("token_verifier_error", f"The custom token verifier {what}.")


async def verify_custom(verify: CustomVerifier, token: str, is_async: bool,
                        revoked: Callable[[str, AuthInfo], None] | None) -> AuthInfo:
    """A custom verifier's ``AuthInfo`` for ``token`` (revocations applied); one that raises
    or returns anything else is a broken server (``token_verifier_error``, a 500)."""
    try:
        result: Any = verify(token)
        if is_async or inspect.isawaitable(result):
            result = await result
    except MCPAuthException:
        raise
    except Exception as exc:  # noqa: BLE001 - answered 500, never passed on as a crash
        raise _verifier_broke(f"raised {type(exc).__name__}") from None
    if not isinstance(result, AuthInfo):
        raise _verifier_broke(f"returned {type(result).__name__}, not an AuthInfo")
    if revoked is not None:
        revoked(token, result)
    return result


class BearerAuthMiddleware:
    """Pure ASGI bearer-token middleware (``cls(app, config)``).

    ``MCPAuth.bearer_auth_middleware`` returns a subclass bound to its config, so it is used
    as ``Middleware(bearer_auth)``, in ``Mount(..., middleware=[...])`` or with
    ``app.add_middleware(bearer_auth)``. ``lifespan`` and other non-HTTP scopes pass through;
    websockets are authenticated like HTTP requests and closed with 1008 when refused.
    """

    config: MiddlewareConfig

    def __init__(self, app: ASGIApp, config: MiddlewareConfig | None = None) -> None:
        self.app = app
        if config is not None:
            self.config = config
        config = self.config
        verifier = config.verifier
        if isinstance(verifier, VerifyJwt):  # create_verify_jwt's function: its async path
            verifier = verifier.verifier
        self._jwt = verifier if isinstance(verifier, _TOKEN_VERIFIERS) else None
        self._custom: CustomVerifier | None = (
            None if isinstance(verifier, _TOKEN_VERIFIERS) else verifier
        )
        self._custom_is_async = self._custom is not None and inspect.iscoroutinefunction(
            self._custom
        )
        self._issuers = config.issuers
        self._audiences = config.audiences
        self._required = requirements(config.required_scopes, config.hierarchy)
        #: Rules per operation (None: no rules and no server, the body is never read). A
        #: server's are read at a POST after functions were marked since the last reading:
        #: tools are usually registered after the middleware is made, some at run time.
        self._operations: OperationRules | None = OperationRules.from_config(
            config.operation_scopes)
        self._server = config.mcp_server
        self._marks_read = -1
        if not self._operations and self._server is None:
            self._operations = None
        self._operation_challenges: dict[tuple[str, ...], Challenge] = {}
        self._max_token_bytes = config.max_token_bytes
        self._revoked = config.revoked
        self._decisions = config.decisions
        #: A repeated token's whole way (header, cache, policy) in one call, when the verifier
        #: answers from its cache at the wall clock (not with a clock or ``cached`` of its own).
        self._lookup = (
            BearerLookup(self._jwt.cache, self._max_token_bytes, self._issuers,
                         self._audiences, self._required).lookup
            if self._jwt is not None and self._jwt.cached == self._jwt.cache.get else None
        )
        self._context_var = config.context_var
        self._challenge = config.challenge
        self._sdk_context_var = sdk_auth_context_var()
        self._origins = config.origins if config.origins is not None else OriginPolicy()
        self._dpop = config.dpop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            if kind == "lifespan":
                receive = self._watch_lifespan(receive)
            await self.app(scope, receive, send)
            return
        flags = request_flags(scope["headers"])  # 0 unless an Origin header or a form body
        nonce = None
        try:
            if flags & ORIGIN_HEADER:  # a browser's request: DNS rebinding, before any token
                self._origins.check(scope)
            lookup = self._lookup
            if self._dpop is not None:
                info, nonce = await self._authenticate_dpop(scope)
            elif lookup is not None:
                found = lookup(scope["headers"])  # the cached AuthInfo, policy checked
                if type(found) is str:  # a miss: the token
                    info = await self._verify_miss(found)
                else:
                    info = found
            else:
                info = await self._bearer_info(scope)
            if flags & FORM_BODY or scope.get("query_string"):  # a token sent twice?
                receive = await check_one_method(scope, receive, bool(flags & FORM_BODY))
        except MCPAuthException as error:
            await self._refuse(error, scope, send)
            return
        if self._operations is not None and kind == "http" and scope["method"] == "POST":
            replayed = await self._authorize_operation(info, scope, receive, send)
            if replayed is None:
                return
            receive = replayed
        if nonce is not None:  # the proof's nonce is about to expire: hand out the next one
            send = _with_header(send, b"dpop-nonce", nonce.encode("ascii"))
        scope["auth"] = info
        decisions = self._decisions
        decisions.accepted += 1
        if decisions.span is not None:
            decisions.span("accepted")
        bound = self._context_var.set(info)
        sdk_var = self._sdk_context_var
        if sdk_var is None:
            try:
                await self.app(scope, receive, send)
            finally:
                self._context_var.reset(bound)
            return
        user = sdk_user(info)
        scope["user"] = user
        sdk_bound = sdk_var.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            sdk_var.reset(sdk_bound)
            self._context_var.reset(bound)

    async def _verify_miss(self, token: str) -> AuthInfo:
        """A token the lookup did not find in the cache, verified, its policy checked."""
        info = await self._verify_jwt(self._jwt, token)  # type: ignore[arg-type]
        self._check_policy(info)
        return info

    async def _bearer_info(self, scope: Scope) -> AuthInfo:
        """The ``AuthInfo`` of the request's Bearer token, its policy checked."""
        lookup = self._lookup
        if lookup is not None:
            found = lookup(scope["headers"])
            return await self._verify_miss(found) if type(found) is str else found
        info = await self._token_info(bearer_token(scope["headers"], self._max_token_bytes))
        self._check_policy(info)
        return info

    async def _token_info(self, token: str) -> AuthInfo:
        """The verified ``AuthInfo`` of ``token``, from the cache when it is there."""
        jwt = self._jwt
        if jwt is not None:
            hit = jwt.cached(token)
            return hit if hit is not None else await self._verify_jwt(jwt, token)
        return await self._verify_custom(token)

    async def _authenticate_dpop(self, scope: Scope) -> tuple[AuthInfo, str | None]:
        """The request's ``AuthInfo`` where DPoP is accepted, and the nonce to hand out."""
        dpop = self._dpop
        assert dpop is not None
        authorization = find_authorization(scope["headers"])
        token = dpop_token(authorization, self._max_token_bytes) if authorization else None
        if token is None:  # a Bearer token, or no credentials
            info = await self._bearer_info(scope)
            dpop.check_bearer(info)
            return info, None
        # The token first, then its proof (on every request: the cache keeps only the
        # token's own verification), then what it may do.
        info = await self._token_info(token)
        try:
            proof = await dpop.check(scope, token, info)
        except MCPAuthException:
            raise
        except Exception as exc:  # noqa: BLE001 - as for tokens: a bug is no 500 for bad input
            logger.warning("DPoP proof check raised %s", type(exc).__name__)
            raise DPoPProofError("DPoP proof could not be checked") from None
        self._check_policy(info)
        return info, dpop.fresh_nonce(proof)

    def _watch_lifespan(self, receive: Receive) -> Receive:
        config = self.config
        if config.on_startup is None and config.on_shutdown is None:
            return receive
        tasks: set[asyncio.Task[None]] = set()

        async def watched() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and config.on_startup is not None:
                # In the background: a provider that is down must not delay or fail startup.
                task = asyncio.get_running_loop().create_task(config.on_startup())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif message["type"] == "lifespan.shutdown" and config.on_shutdown is not None:
                for task in tasks:
                    task.cancel()
                await config.on_shutdown()
            return message

        return watched

    def _check_policy(self, info: AuthInfo) -> None:
        check_policy(
            info.issuer, info.audience, info.scopes, self._issuers, self._audiences,
            self._required,
        )

    async def _authorize_operation(self, info: AuthInfo, scope: Scope, receive: Receive,
                                   send: Send) -> Receive | None:
        """The POSTed JSON-RPC body's operations checked against their rules; a ``receive``
        that replays the same bytes, or None once a refusal is sent (or the client left)."""
        if self._server is not None and self._marks_read != marked_functions():
            self._marks_read = marked_functions()
            read = OperationRules.from_config(self.config.operation_scopes)
            rules_of_server(self._server, read)
            self._operations = read
        rules = self._operations
        assert rules is not None
        if not rules:
            return receive
        try:
            try:
                messages, body = await read_body(receive, self.config.max_body_bytes)
            except BodyTooLarge as error:
                raise Refusal(413, INVALID_REQUEST,
                              f"The request body is over {error.limit} bytes.") from None
            if body is None:  # the client went away
                return None
            operations, request_id = operations_of(body)
            check_headers(scope["headers"], operations, request_id)
        except Refusal as refusal:
            logger.debug("refused %s: JSON-RPC %s", scope.get("path"), refusal.code)
            status, headers, payload = refusal.response()
            self._decisions.refused[status, "invalid_request"] += 1
            if self._decisions.span is not None:
                self._decisions.span("refused", "invalid_request", status)
            await self._send(send, status, headers, payload)
            return None
        needed = rules.scopes_for(operations)
        if needed:
            missing = self.config.hierarchy.missing(info.scopes, needed)
            if missing:
                await self._refuse_operation(needed, missing, scope, send)
                return None
        return replay(messages, receive)

    async def _refuse_operation(self, needed: tuple[str, ...], missing: list[str],
                                scope: Scope, send: Send) -> None:
        # The challenge names every scope the operation needs, the route's included, so the
        # client can ask for all of them at once (MCP: step-up authorization).
        key = tuple(dict.fromkeys(self.config.required_scopes + needed))
        challenge = self._operation_challenges.get(key)
        if challenge is None:
            if len(self._operation_challenges) >= 1024:  # batches can combine rules freely
                self._operation_challenges.clear()
            challenge = self._challenge.with_scopes(challenged(key))
            self._operation_challenges[key] = challenge
        error = MCPAuthBearerAuthException(
            BearerAuthExceptionCode.MISSING_REQUIRED_SCOPES,
            MCPAuthBearerAuthExceptionDetails(missing_scopes=missing))
        await self._refuse(error, scope, send, challenge)

    async def _verify_jwt(self, jwt: TokenVerifier, token: str) -> AuthInfo:
        started = time.perf_counter()
        try:
            return await jwt.verify_uncached(token)  # the caller has just missed the cache
        except MCPAuthException:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must not become a 500 for bad input
            logger.warning("token verification raised %s", type(exc).__name__)
            raise _verification_failed(type(exc).__name__) from None
        finally:
            self._decisions.verified(started)

    async def _verify_custom(self, token: str) -> AuthInfo:
        custom = self._custom
        assert custom is not None
        started = time.perf_counter()
        try:
            return await verify_custom(custom, token, self._custom_is_async, self._revoked)
        finally:
            self._decisions.verified(started)

    async def _refuse(self, error: MCPAuthException, scope: Scope, send: Send,
                      challenge: Challenge | None = None) -> None:
        try:
            authorization = find_authorization(scope["headers"])
        except MCPAuthException:
            authorization = None
        status, headers, body = (challenge or self._challenge).response(error, authorization)
        reason = self._decisions.refuse(status, error, authorization)
        # Refusals are the expected outcome of bad input: DEBUG, never the token.
        logger.debug("refused %s %s: %d %s (%s)", scope["type"], scope.get("path"), status,
                     reason, error.error_code)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": error.error_code})
            return
        await self._send(send, status, headers, body)

    @staticmethod
    async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
                    ) -> None:
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _with_header(send: Send, name: bytes, value: bytes) -> Send:
    """``send`` adding one header to the response's start."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), (name, value)]}
        await send(message)

    return sending
