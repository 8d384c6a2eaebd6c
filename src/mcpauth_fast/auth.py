"""MCPAuth: the documented entry point (configuration, bearer middleware, metadata routes)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from starlette.routing import Route, Router

from ._accel import DEFAULT_MAX_TOKEN_BYTES
from .challenge import Challenge
from .config import (
    AuthServerConfig,
    AuthServerDiscoveryConfig,
    ResourceServerConfig,
    check_server_config,
    issuer_of,
    trusted_issuers,
    validate_resource_configs,
)
from .decisions import Decisions
from .dpop.resource import DPoPOptions, DPoPResource
from .exceptions import (
    AuthServerExceptionCode,
    MCPAuthAuthServerException,
    MCPAuthConfigException,
)
from .integrations.fastmcp import fastmcp_token_verifier
from .integrations.mcp_sdk import SdkTokenVerifier, require_sdk
from .introspection import AutoVerifier, ClientAuth, IntrospectionVerifier
from .jsonrpc import DEFAULT_MAX_BODY_BYTES
from .jwks import DiscoveredJwks, RemoteJwks, SharedHttpClient
from .keysets import IssuerKeys, KeySource
from .mcp_compat import auth_info_of_current_mcp_request
from .metrics import families
from .middleware import BearerAuthMiddleware, CustomVerifier, MiddlewareConfig, TokenVerifier
from .middleware.create_bearer_auth import validate_issuer_url
from .operations import OperationRules, requires_scopes, rules_of_server
from .origin import OriginPolicy
from .routes import (
    metadata_endpoint,
    metadata_route,
    resource_metadata_router,
    resource_metadata_url,
)
from .scopes import FLAT, ScopeHierarchy, challenged, scope_tokens
from .shared import SharedCacheConfig, SharedTier
from .shared.api import revoke
from .shared.introspection import IntrospectionShare
from .types import AuthInfo
from .urls import Audiences, warn_if_insecure
from .verifier import DEFAULT_CACHE_SIZE, JwtVerifier

logger = logging.getLogger("mcpauth_fast")

AnyServerConfig = AuthServerConfig | AuthServerDiscoveryConfig
F = TypeVar("F", bound=Callable[..., Any])

# jwt_verify= keys (the names of jose's jwtVerify options where they exist) -> JwtVerifier args.
_JWT_VERIFY_OPTIONS = {
    "clock_tolerance": "leeway",
    "typ": "typ",
    "required_claims": "required_claims",
    "max_token_age": "max_token_age",
    "require_exp": "require_exp",
    "max_token_bytes": "max_token_bytes",
}
# remote_jwks= keys -> RemoteJwks args.
_REMOTE_JWKS_OPTIONS = {
    "timeout": "timeout",
    "cache_max_age": "ttl",
    "cooldown": "cooldown",
    "max_bytes": "max_bytes",
    "max_size": "max_bytes",
}

# introspection= keys -> ClientAuth args (the first group) and IntrospectionVerifier args.
_CLIENT_AUTH_OPTIONS = {
    "client_id": "client_id",
    "client_secret": "client_secret",
    "private_key": "private_key",
    "auth_method": "method",
    "signing_alg": "signing_alg",
    "key_id": "key_id",
    "assertion_audience": "assertion_audience",
}
_INTROSPECTION_OPTIONS = {
    **_CLIENT_AUTH_OPTIONS,
    "endpoint": "endpoint",
    "timeout": "timeout",
    "max_cache_seconds": "max_cache_seconds",
    "inactive_cache_seconds": "inactive_cache_seconds",
    "max_concurrency": "max_concurrency",
    "max_bytes": "max_bytes",
}
_MODES = ("jwt", "introspection", "auto")


@dataclass(frozen=True)
class _Verification:
    """A verifier and the policy every result of it is checked against."""

    verifier: TokenVerifier | CustomVerifier
    issuers: frozenset[str]
    audiences: frozenset[str] | None
    max_token_bytes: int
    is_custom: bool


def _config_error(message: str) -> MCPAuthAuthServerException:
    return MCPAuthAuthServerException(
        AuthServerExceptionCode.INVALID_SERVER_CONFIG, cause={"error_description": message}
    )


def _translate(options: dict[str, Any] | None, names: dict[str, str], what: str
               ) -> dict[str, Any]:
    if not options:
        return {}
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise MCPAuthConfigException(
            "invalid_option", f"Unknown {what} option(s): {', '.join(unknown)}."
        )
    return {names[key]: value for key, value in options.items()}


class MCPAuth:
    """Protects MCP servers with OAuth 2.0 bearer tokens.

    :param server: the authorization server (``AuthServerConfig``, or an
        ``AuthServerDiscoveryConfig`` resolved on first use): authorization-server mode.
    :param protected_resources: one or several ``ResourceServerConfig``: RFC 9728
        resource-server mode, each resource with its own trusted issuers.
    :param context_var: where ``auth_info`` is kept for the current request.
    :param scope_hierarchy: which scopes imply which (``{"files:write": ["files:read"]}``, or
        a ``ScopeHierarchy`` with a separator rule), for route and operation rules alike.
    :param shared_cache: a Redis shared by every worker and host: ``{"url": ..., "key":
        <a secret of 32+ bytes>}`` and the other options of ``SharedCacheConfig``. Verified
        results are shared behind each worker's own cache, and ``revoke`` reaches them all.
    :raises MCPAuthAuthServerException: neither or both modes, duplicates, invalid metadata.
    :raises MCPAuthConfigException: a cycle or an invalid scope in ``scope_hierarchy``, an
        invalid ``shared_cache`` option, redis-py missing for ``shared_cache``.
    """

    def __init__(
        self,
        server: AnyServerConfig | None = None,
        context_var: ContextVar[AuthInfo | None] | None = None,
        *,
        protected_resources: ResourceServerConfig | Sequence[ResourceServerConfig] | None = None,
        scope_hierarchy: ScopeHierarchy | Mapping[str, Iterable[str]] | None = None,
        shared_cache: Mapping[str, Any] | None = None,
    ) -> None:
        if server is not None and protected_resources is not None:
            raise _config_error(
                "Either `server` or `protected_resources` must be provided, but not both.")
        if server is None and protected_resources is None:
            raise _config_error("Either `server` or `protected_resources` must be provided.")
        self.server = server
        self.resources: list[ResourceServerConfig] = []
        if server is not None:
            if isinstance(server, AuthServerConfig):
                check_server_config(server, f"authorization server {issuer_of(server)!r}")
            elif not isinstance(server, AuthServerDiscoveryConfig):
                raise _config_error("`server` must be an AuthServerConfig.")
        else:
            if isinstance(protected_resources, ResourceServerConfig):
                self.resources = [protected_resources]
            else:
                self.resources = list(protected_resources or ())
            if not self.resources:
                raise _config_error("`protected_resources` must not be empty.")
            validate_resource_configs(self.resources)
            for config in self.resources:
                warn_if_insecure(config.metadata.resource)
        self._context_var: ContextVar[AuthInfo | None] = context_var or ContextVar(
            "mcp_auth_context", default=None)
        self.scope_hierarchy = (
            scope_hierarchy if isinstance(scope_hierarchy, ScopeHierarchy)
            else ScopeHierarchy(scope_hierarchy) if scope_hierarchy else FLAT)
        self._http = SharedHttpClient()
        self._decisions = Decisions()
        self._key_sources: dict[tuple[Any, ...], KeySource] = {}
        self._verifiers: dict[tuple[Any, ...], JwtVerifier] = {}
        self._introspectors: dict[tuple[Any, ...], IntrospectionVerifier] = {}
        self._tier = SharedTier(
            SharedCacheConfig.from_options(shared_cache) if shared_cache is not None else None)

    @property
    def auth_info(self) -> AuthInfo | None:
        """The ``AuthInfo`` of the request being handled (inside tools and routes), or None."""
        info = auth_info_of_current_mcp_request()
        return info if info is not None else self._context_var.get()

    def requires_scopes(self, *scopes: str) -> Callable[[F], F]:
        """A decorator, written under ``@mcp.tool()``, ``@mcp.resource(...)`` or
        ``@mcp.prompt()``: the operation needs ``scopes`` (with the scope hierarchy).

        A middleware made with ``mcp_server=`` refuses a call without them with 403 before the
        app runs, naming every scope needed; the function itself also refuses to run without
        them (``MCPAuthBearerAuthException``), so it is safe with no middleware in front.
        """
        return requires_scopes(scopes, self.scope_hierarchy, lambda: self.auth_info)

    def _servers_for(self, resource: str | None) -> list[AnyServerConfig]:
        if self.server is not None:
            return [self.server]
        if resource is None:
            raise _config_error(
                "A `resource` must be specified in the `bearer_auth_middleware` configuration "
                "when using a `protected_resources` configuration.")
        for config in self.resources:
            if config.metadata.resource == resource:
                return list(config.metadata.authorization_servers or [])
        raise _config_error(f"No protected resource is configured for `{resource}`.")

    def _key_source(self, server: AnyServerConfig, remote: dict[str, Any]) -> KeySource:
        issuer = issuer_of(server)
        cache_key = (issuer, tuple(sorted(remote.items())))
        source = self._key_sources.get(cache_key)
        if source is not None:
            return source
        if isinstance(server, AuthServerDiscoveryConfig):
            discovery = server

            async def discovered() -> tuple[str, str]:
                resolved = await discovery.resolve()
                if not resolved.metadata.jwks_uri:
                    raise MCPAuthAuthServerException(AuthServerExceptionCode.MISSING_JWKS_URI)
                return resolved.metadata.jwks_uri, resolved.metadata.issuer

            source = DiscoveredJwks(discovered, client=self._http, **remote)
        else:
            if not server.metadata.jwks_uri:
                raise MCPAuthAuthServerException(AuthServerExceptionCode.MISSING_JWKS_URI)
            source = RemoteJwks(server.metadata.jwks_uri, client=self._http, **remote)
        self._key_sources[cache_key] = source
        return source

    def _jwt_verifier(self, servers: list[AnyServerConfig], leeway: float,
                      algorithms: Sequence[str] | None, jwt_verify: dict[str, Any],
                      remote: dict[str, Any], cache_size: int) -> JwtVerifier:
        options = {"leeway": leeway, **jwt_verify, "cache_size": cache_size}
        if algorithms is not None:
            options["algorithms"] = tuple(algorithms)
        key = (tuple(issuer_of(s) for s in servers), tuple(sorted(remote.items())),
               tuple(sorted((k, repr(v)) for k, v in options.items())))
        verifier = self._verifiers.get(key)
        if verifier is None:
            sources = {issuer_of(s): self._key_source(s, remote) for s in servers}
            for s in servers:
                for issuer in trusted_issuers(s):
                    sources.setdefault(issuer, sources[issuer_of(s)])
            verifier = JwtVerifier(IssuerKeys(sources), **options)
            self._verifiers[key] = verifier
            if self._tier.active:
                verifier.attach(self._tier)
        return verifier

    def _introspection_verifier(self, servers: list[AnyServerConfig], leeway: float,
                                options: dict[str, Any], cache_size: int,
                                max_token_bytes: int) -> IntrospectionVerifier:
        options = dict(options)
        auth_options = {name: options.pop(name) for name in list(options)
                        if name in _CLIENT_AUTH_OPTIONS.values()}
        endpoint: str | None = options.pop("endpoint", None)
        issuers = frozenset(issuer for s in servers for issuer in trusted_issuers(s))
        key = (tuple(issuer_of(s) for s in servers), endpoint, leeway, cache_size,
               max_token_bytes, tuple(sorted((k, repr(v)) for k, v in options.items())),
               tuple(sorted((k, repr(v)) for k, v in auth_options.items())))
        verifier = self._introspectors.get(key)
        if verifier is not None:
            return verifier
        if endpoint is not None and not isinstance(endpoint, str):
            raise MCPAuthConfigException("invalid_option",
                                         "introspection endpoint must be a URL string.")
        auth = ClientAuth(auth_options.pop("client_id", ""), **auth_options)
        default_issuer = issuer_of(servers[0]) if len(servers) == 1 else None
        target: str | Callable[[], Any]
        if endpoint is not None:
            target = endpoint
        elif len(servers) > 1:
            raise MCPAuthConfigException(
                "invalid_option", "With several authorization servers, introspection needs "
                "its `endpoint` in configuration.")
        elif isinstance(servers[0], AuthServerDiscoveryConfig):
            discovery = servers[0]

            async def discovered() -> tuple[str, str]:
                resolved = await discovery.resolve()
                found = resolved.metadata.introspection_endpoint
                if not found:
                    raise MCPAuthAuthServerException(
                        AuthServerExceptionCode.MISSING_INTROSPECTION_ENDPOINT)
                return found, resolved.metadata.issuer

            target = discovered
        else:
            found = servers[0].metadata.introspection_endpoint
            if not found:
                raise MCPAuthAuthServerException(
                    AuthServerExceptionCode.MISSING_INTROSPECTION_ENDPOINT)
            target = found
        if isinstance(target, str):
            warn_if_insecure(target)
        # Revocations reach opaque tokens too, and with Redis the answers are shared.
        try:
            share = IntrospectionShare(self._tier, auth.client_id,
                                       wait=float(options.get("timeout", 5.0)))
            verifier = IntrospectionVerifier(
                target, auth, issuers=issuers, default_issuer=default_issuer, leeway=leeway,
                cache_size=cache_size, max_token_bytes=max_token_bytes, client=self._http,
                shared=share if self._tier.link is not None else None, admission=share,
                **options)
        except (TypeError, ValueError) as exc:
            raise MCPAuthConfigException("invalid_option",
                                         f"Invalid introspection option: {exc}") from None
        self._tier.watch(verifier.cache)
        self._introspectors[key] = verifier
        return verifier

    def _verification(
        self,
        mode_or_verify: Literal["jwt", "introspection", "auto"] | CustomVerifier,
        audience: str | Sequence[str] | None,
        leeway: float,
        resource: str | None,
        algorithms: Sequence[str] | None,
        jwt_verify: dict[str, Any] | None,
        remote_jwks: dict[str, Any] | None,
        introspection: dict[str, Any] | None,
        cache_size: int,
    ) -> _Verification:
        """The verifier of a mode (shared, per issuer and policy) or the custom one, with the
        issuers and audiences to check on its results: what ``bearer_auth_middleware`` and
        ``token_verifier`` both use."""
        servers = self._servers_for(resource)
        if resource is not None:
            warn_if_insecure(resource)
        if not servers:
            raise _config_error(f"The resource `{resource}` has no authorization server.")
        for server in servers:
            validate_issuer_url(issuer_of(server))
        jwt_options = _translate(jwt_verify, _JWT_VERIFY_OPTIONS, "jwt_verify")
        remote_options = _translate(remote_jwks, _REMOTE_JWKS_OPTIONS, "remote_jwks")
        introspection_options = _translate(introspection, _INTROSPECTION_OPTIONS,
                                           "introspection")
        is_mode = isinstance(mode_or_verify, str) and mode_or_verify in _MODES
        if introspection_options and not (is_mode and mode_or_verify != "jwt"):
            raise MCPAuthConfigException(
                "invalid_option", "`introspection` options are for the 'introspection' and "
                "'auto' modes.")
        verifier: TokenVerifier | CustomVerifier
        if is_mode and mode_or_verify != "jwt":
            if not introspection_options:
                raise MCPAuthConfigException(
                    "invalid_option", f"The '{mode_or_verify}' mode needs `introspection` "
                    "options (client_id and client_secret or private_key).")
            token_leeway = jwt_options.get("leeway", leeway)
            introspector = self._introspection_verifier(
                servers, token_leeway, introspection_options, cache_size,
                jwt_options.get("max_token_bytes", DEFAULT_MAX_TOKEN_BYTES))
            verifier = introspector
            if mode_or_verify == "auto":
                jwt_verifier = self._jwt_verifier(
                    servers, jwt_options.pop("leeway", leeway), algorithms, jwt_options,
                    remote_options, cache_size)
                verifier = AutoVerifier(jwt_verifier, introspector, frozenset(
                    issuer for s in servers for issuer in trusted_issuers(s)))
            max_token_bytes = verifier.max_token_bytes
        elif mode_or_verify == "jwt":
            jwt_verifier = self._jwt_verifier(
                servers, jwt_options.pop("leeway", leeway), algorithms, jwt_options,
                remote_options, cache_size)
            verifier = jwt_verifier
            max_token_bytes = jwt_verifier.max_token_bytes
        elif callable(mode_or_verify):
            verifier = mode_or_verify
            max_token_bytes = jwt_options.get("max_token_bytes", DEFAULT_MAX_TOKEN_BYTES)
        else:
            raise ValueError("mode_or_verify must be 'jwt', 'introspection', 'auto' or a "
                             "callable function that verifies tokens.")
        # An empty audience (or list) checks nothing, as mcpauth's ``if config.audience``.
        if isinstance(audience, str) and audience:
            audiences: frozenset[str] | None = Audiences([audience])
        elif audience and not isinstance(audience, str):
            audiences = Audiences(audience)
        elif resource is not None:
            audiences = Audiences([resource])
            logger.info("bearer auth for %s: no audience given, the resource is the audience",
                        resource)
        else:
            audiences = None
        return _Verification(
            verifier=verifier,
            # "jwt" mode: a discovered issuer's key source refuses all but the metadata's
            # exact value; a custom verifier has no such source, so it gets the exact config.
            issuers=frozenset(
                issuer for s in servers
                for issuer in (trusted_issuers(s) if is_mode else [issuer_of(s)])
            ),
            audiences=audiences,
            max_token_bytes=max_token_bytes,
            is_custom=not is_mode,
        )

    def bearer_auth_middleware(
        self,
        mode_or_verify: Literal["jwt", "introspection", "auto"] | CustomVerifier,
        audience: str | Sequence[str] | None = None,
        required_scopes: Sequence[str] | None = None,
        show_error_details: bool = False,
        leeway: float = 60,
        resource: str | None = None,
        *,
        algorithms: Sequence[str] | None = None,
        jwt_verify: dict[str, Any] | None = None,
        remote_jwks: dict[str, Any] | None = None,
        introspection: dict[str, Any] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        operation_scopes: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
        mcp_server: Any = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        allowed_origins: Sequence[str] = (),
        dpop: bool | Mapping[str, Any] | None = None,
    ) -> type[BearerAuthMiddleware]:
        """A pure ASGI middleware class that requires a valid bearer token.

        :param mode_or_verify: ``"jwt"`` (verify JWTs with the issuers' JWKS),
            ``"introspection"`` (ask the authorization server, RFC 7662), ``"auto"`` (a JWS of
            a trusted issuer as in "jwt", any other token introspected) or a sync or async
            ``token -> AuthInfo`` callable; issuer, audience and scopes are checked on its
            result too.
        :param audience: accepted ``aud`` value(s) (RFC 8707). In resource-server mode the
            resource itself is the default.
        :param required_scopes: scopes every request needs (403 names all that are missing).
        :param show_error_details: add ``cause`` to error bodies.
        :param leeway: seconds of clock skew for ``exp``/``nbf``/``iat``.
        :param resource: the protected resource this middleware guards (resource mode).
        :param algorithms: the JWS algorithm allow-list (default: every asymmetric one).
        :param jwt_verify: ``clock_tolerance``, ``typ``, ``required_claims``,
            ``max_token_age``, ``require_exp``, ``max_token_bytes``.
        :param remote_jwks: ``timeout``, ``cache_max_age``, ``cooldown``, ``max_bytes``.
        :param introspection: for "introspection" and "auto": ``client_id`` and
            ``client_secret`` or ``private_key`` (required); ``auth_method``
            (``client_secret_basic``, ``client_secret_post``, ``private_key_jwt``),
            ``signing_alg``, ``key_id``, ``assertion_audience``; ``endpoint`` (default the
            metadata's ``introspection_endpoint``), ``timeout`` (5 s),
            ``max_cache_seconds`` (60 s: the revocation delay accepted),
            ``inactive_cache_seconds`` (10 s), ``max_concurrency`` (16), ``max_bytes``.
        :param cache_size: verified tokens kept in memory (0 disables the cache).
        :param operation_scopes: scopes per MCP operation, beyond ``required_scopes``:
            ``{"tools": {name: scopes}, "resources": {uri, template or prefix*: scopes},
            "prompts": {name: scopes}}``.
        :param mcp_server: an MCP SDK server (``MCPServer`` or ``FastMCP``) whose
            ``requires_scopes`` tools, resources and prompts add their rules.
        :param max_body_bytes: while any operation rule exists, a POSTed body is read (up to
            this, 413 beyond) and refused with 400 unless it is a JSON-RPC message.
        :param allowed_origins: browser origins allowed besides the request's own and the
            resource's (``"https://app.example.com"``, ``"null"``); any other ``Origin``
            gets 403 before any token work (DNS rebinding).
        :param dpop: accept DPoP-bound tokens (RFC 9449): ``True``, or options
            ``required`` (refuse Bearer tokens), ``algorithms`` (proofs; default ES256 and
            EdDSA), ``iat_window`` (300 s), ``nonce`` (require server nonces),
            ``nonce_secret``, ``nonce_lifetime`` (300 s), ``public_url`` (default the
            resource: what proofs' ``htu`` names behind a proxy), ``max_replay_entries``.
            A DPoP-bound token sent as a Bearer token is then refused.
        :raises MCPAuthAuthServerException: unknown resource, missing ``jwks_uri`` or
            ``introspection_endpoint``.
        :raises MCPAuthConfigException: unknown options, an invalid scope, an allowed origin
            that is not one.
        """
        origins = OriginPolicy(allowed_origins, resource)
        dpop_resource = (DPoPResource(DPoPOptions.from_option(dpop), resource, self._tier)
                         if dpop is not None and dpop is not False else None)
        verification = self._verification(
            mode_or_verify, audience, leeway, resource, algorithms, jwt_verify, remote_jwks,
            introspection, cache_size)
        verifier, audiences = verification.verifier, verification.audiences
        metadata_url = resource_metadata_url(resource) if resource is not None else None
        scopes = scope_tokens(required_scopes, "required_scopes")
        # Invalid rules, or a server that is not one, fail here rather than at the first POST.
        rules = OperationRules.from_config(operation_scopes)
        if mcp_server is not None:
            rules_of_server(mcp_server, rules)
        config = MiddlewareConfig(
            verifier=verifier,
            issuers=verification.issuers,
            audiences=audiences,
            required_scopes=scopes,
            challenge=Challenge(
                challenged(scopes), metadata_url, show_error_details,
                dpop_algs=dpop_resource.algorithms if dpop_resource is not None else None,
                dpop_required=dpop_resource is not None and dpop_resource.required),
            context_var=self._context_var,
            max_token_bytes=verification.max_token_bytes,
            hierarchy=self.scope_hierarchy,
            operation_scopes=operation_scopes,
            mcp_server=mcp_server,
            max_body_bytes=max_body_bytes,
            revoked=self._tier.check_custom if callable(mode_or_verify) else None,
            decisions=self._decisions,
            # The listener of revocations starts with the app when they come through Redis.
            on_startup=self.prefetch if mode_or_verify in ("jwt", "auto") or (
                self._tier.link is not None) else None,
            on_shutdown=self.aclose,
            origins=origins,
            dpop=dpop_resource,
        )
        return type("BearerAuthMiddleware", (BearerAuthMiddleware,), {"config": config})

    def token_verifier(
        self,
        mode_or_verify: Literal["jwt", "introspection", "auto"] | CustomVerifier,
        audience: str | Sequence[str] | None = None,
        *,
        required_scopes: Sequence[str] | None = None,
        leeway: float = 60,
        resource: str | None = None,
        algorithms: Sequence[str] | None = None,
        jwt_verify: dict[str, Any] | None = None,
        remote_jwks: dict[str, Any] | None = None,
        introspection: dict[str, Any] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> SdkTokenVerifier:
        """A ``TokenVerifier`` for the MCP SDK's own auth (1.x ``FastMCP``, 2.x
        ``MCPServer``): ``MCPServer(..., token_verifier=mcp_auth.token_verifier("jwt",
        audience=...), auth=AuthSettings(...))``.

        Takes ``bearer_auth_middleware``'s arguments (all but ``audience`` as keywords) and
        shares its verifiers (cache, key sets, introspection, shared tier, revocations).
        ``verify_token`` answers the SDK's ``AccessToken`` (token, client_id, the token's
        scopes, expires_at, resource, subject, claims) for a valid token of a trusted issuer
        for an accepted audience, else None: the SDK answers 401. Scopes are the SDK's:
        ``AuthSettings.required_scopes`` (its 403, without this instance's scope hierarchy).

        :raises MCPAuthConfigException: the MCP SDK is not installed, ``required_scopes``
            given (they go in ``AuthSettings``), and as ``bearer_auth_middleware``.
        """
        require_sdk()
        if required_scopes:
            raise MCPAuthConfigException(
                "invalid_option", "With the MCP SDK's auth, required scopes go in "
                "AuthSettings(required_scopes=...), where the SDK answers 403 without them.")
        return self._sdk_token_verifier(
            mode_or_verify, audience, leeway, resource, algorithms, jwt_verify, remote_jwks,
            introspection, cache_size)

    def _sdk_token_verifier(self, mode_or_verify: Any, audience: Any, leeway: float,
                            resource: str | None, algorithms: Sequence[str] | None,
                            jwt_verify: dict[str, Any] | None,
                            remote_jwks: dict[str, Any] | None,
                            introspection: dict[str, Any] | None,
                            cache_size: int) -> SdkTokenVerifier:
        verification = self._verification(
            mode_or_verify, audience, leeway, resource, algorithms, jwt_verify, remote_jwks,
            introspection, cache_size)
        tier = self._tier
        return SdkTokenVerifier(
            verification.verifier, verification.issuers, verification.audiences,
            verification.max_token_bytes,
            revoked=tier.check_custom if verification.is_custom else None,
            # Revocations through Redis: the listener starts on the server's loop, at the
            # first token to verify (no lifespan hook here).
            start=tier.start if tier.link is not None else None,
            decisions=self._decisions)

    def fastmcp_verifier(
        self,
        mode_or_verify: Literal["jwt", "introspection", "auto"] | CustomVerifier,
        audience: str | Sequence[str] | None = None,
        *,
        required_scopes: Sequence[str] | None = None,
        leeway: float = 60,
        resource: str | None = None,
        base_url: str | None = None,
        resource_base_url: str | None = None,
        algorithms: Sequence[str] | None = None,
        jwt_verify: dict[str, Any] | None = None,
        remote_jwks: dict[str, Any] | None = None,
        introspection: dict[str, Any] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> Any:
        """fastmcp's ``auth=``: ``FastMCP(..., auth=mcp_auth.fastmcp_verifier("jwt",
        audience=...))``, a subclass of ``fastmcp.server.auth.TokenVerifier``.

        ``token_verifier``'s verification, answering fastmcp's ``AccessToken``.
        ``required_scopes``, ``base_url`` and ``resource_base_url`` are fastmcp's
        ``TokenVerifier``'s: fastmcp answers 403 to a token without ``required_scopes``;
        per-component ``auth=`` checks (``require_scopes`` ...) read the token's scopes.

        :raises MCPAuthConfigException: fastmcp is not installed (``mcpauth-fast[fastmcp]``),
            and as ``bearer_auth_middleware``.
        """
        require_sdk("fastmcp_verifier")
        scopes = list(scope_tokens(required_scopes, "required_scopes")) or None
        core = self._sdk_token_verifier(
            mode_or_verify, audience, leeway, resource, algorithms, jwt_verify, remote_jwks,
            introspection, cache_size)
        return fastmcp_token_verifier(core, base_url=base_url, required_scopes=scopes,
                                      resource_base_url=resource_base_url)

    def metadata_endpoint(self) -> Any:
        """A Starlette endpoint serving the RFC 8414 metadata (authorization-server mode)."""
        if self.server is None:
            raise _config_error("`metadata_endpoint` is not available in resource server mode. "
                                "Use `resource_metadata_router()` instead.")
        return metadata_endpoint(self.server)

    def metadata_route(self) -> Route:
        """The route of ``/.well-known/oauth-authorization-server`` (authorization-server mode)."""
        if self.server is None:
            raise _config_error("`metadata_route` is not available in resource server mode. "
                                "Use `resource_metadata_router()` instead.")
        return metadata_route(self.server)

    def resource_metadata_router(self) -> Router:
        """The RFC 9728 protected resource metadata routes of every configured resource."""
        if not self.resources:
            raise _config_error("`resource_metadata_router` is not available in "
                                "authorization server mode.")
        return resource_metadata_router(self.resources)

    def jwks_stats(self) -> dict[str, dict[str, Any]]:
        """Per key source: fetch count, last success, last error, key count."""
        stats = {}
        for (issuer, _), source in self._key_sources.items():
            remote = getattr(source, "_remote", source)
            if isinstance(remote, RemoteJwks):
                stats[issuer] = remote.stats()
        return stats

    async def revoke(
        self,
        *,
        token: str | None = None,
        jti: str | None = None,
        subject: str | None = None,
        issuer: str | None = None,
        before: float | None = None,
        expires_at: float | None = None,
    ) -> bool:
        """Revoke a token, an issuer's ``jti``, or every token of an issuer's ``subject``
        issued before ``before`` (default: now). From then on the token gets 401
        ``invalid_token`` here at once, and, with ``shared_cache``, on every worker that
        shares the Redis (through pub/sub, and stored there until the tokens expire).

        :param token: the token itself (a JWT's ``exp`` bounds how long this is kept).
        :param jti: with ``issuer``: the token of this ``jti``.
        :param subject: with ``issuer``: every token of this ``sub`` with ``iat`` before
            ``before`` (a token without ``iat`` too).
        :param expires_at: when the affected tokens expire, if known (else
            ``max_token_lifetime`` from now, or from ``before``).
        :returns: False when Redis is configured but could not be reached: the revocation
            holds in this process at once, and reaches Redis and the other workers when this
            worker reconnects (each worker stores again, after a reconnection, what it knows
            and Redis has lost).
        :raises ValueError: not exactly one of ``token``, ``jti``, ``subject``; no issuer.
        """
        if not self._tier.active:
            for verifier in self._verifiers.values():
                verifier.attach(self._tier)
        return await revoke(self._tier, token=token, jti=jti, subject=subject, issuer=issuer,
                            before=before, expires_at=expires_at)

    def metrics(self) -> dict[str, list[tuple[dict[str, str], Any]]]:
        """Every counter and gauge, read now: ``{family: [(labels, value), ...]}``.

        Requests let in and refused (by status and reason class), verifications and their
        time, the token caches, the key sets, introspection calls and the shared tier
        (``mcpauth_fast.metrics``; ``metrics.prometheus`` and ``metrics.otel`` expose them).
        """
        return {family.name: family.samples for family in families(self)}

    def shared_cache_info(self) -> dict[str, Any]:
        """The shared tier's counters: ``hits``, ``misses``, ``writes``, ``rejected`` (values
        that failed authentication or had the wrong shape), ``revoked`` (refusals),
        ``revocations`` known, and Redis's state."""
        return self._tier.info()

    async def prefetch(self) -> None:
        """Fetch every key set now; failures are logged and never raised (startup goes on)."""
        self._tier.start()
        for source in list(self._key_sources.values()):
            prefetch = getattr(source, "prefetch", None)
            if prefetch is not None:
                await prefetch()

    async def aclose(self) -> None:
        """Stop background refreshes and close the shared HTTP client."""
        await self._tier.aclose()
        for source in list(self._key_sources.values()):
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()
        await self._http.aclose()
