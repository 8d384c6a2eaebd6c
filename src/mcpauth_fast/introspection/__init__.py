"""Opaque access tokens: RFC 7662 token introspection as a verification mode.

``MCPAuth.bearer_auth_middleware("introspection", introspection={...})`` asks the
authorization server about each token (cached, single flight, bounded); ``"auto"`` verifies
a JWS of a trusted issuer locally and introspects anything else. The pieces:

- :class:`IntrospectionVerifier` (:mod:`.verifier`): the calls, the cache, the 503s;
- :func:`auth_info_of_response` (:mod:`.response`): the checks of an answer;
- :class:`ClientAuth` (:mod:`.client_auth`): the three client authentication methods;
- :class:`LocalTier` and :class:`SharedTier` (:mod:`.cache`): where answers are kept;
- :class:`AutoVerifier` (:mod:`.auto`): "auto" mode.
"""

from __future__ import annotations

from .auto import AutoVerifier
from .cache import LocalTier, SharedTier
from .client_auth import AUTH_METHODS, ClientAuth
from .response import ACCEPTED_TOKEN_TYPES, auth_info_of_response
from .verifier import (
    DEFAULT_INACTIVE_CACHE_SECONDS,
    DEFAULT_MAX_CACHE_SECONDS,
    DEFAULT_MAX_CONCURRENCY,
    IntrospectionVerifier,
)

__all__ = [
    "ACCEPTED_TOKEN_TYPES", "AUTH_METHODS", "DEFAULT_INACTIVE_CACHE_SECONDS",
    "DEFAULT_MAX_CACHE_SECONDS", "DEFAULT_MAX_CONCURRENCY", "AutoVerifier", "ClientAuth",
    "IntrospectionVerifier", "LocalTier", "SharedTier", "auth_info_of_response",
]
