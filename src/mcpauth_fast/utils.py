"""The names ``mcpauth.utils`` exports, so moving from mcpauth stays an import rename."""

from __future__ import annotations

from typing import Any

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
from .jwks import RemoteJwks
from .keys import hmac_key, key_from_jwk
from .keysets import KeySource, SingleKey
from .verifier import JwtVerifier, VerifyJwt

__all__ = [
    "AuthServerConfigError",
    "AuthServerConfigErrorCode",
    "AuthServerConfigValidationResult",
    "AuthServerConfigWarning",
    "AuthServerConfigWarningCode",
    "create_verify_jwt",
    "fetch_server_config",
    "fetch_server_config_async",
    "fetch_server_config_by_well_known_url",
    "fetch_server_config_by_well_known_url_async",
    "get_oauth_well_known_url",
    "get_oidc_well_known_url",
    "validate_server_config",
]

#: mcpauth's default allow-list for ``create_verify_jwt``.
_MCPAUTH_ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "ES512"]


def create_verify_jwt(
    input: Any,
    algorithms: list[str] = _MCPAUTH_ALGORITHMS,  # noqa: B006 - mcpauth's signature; never mutated
    leeway: float = 60,
) -> VerifyJwt:
    """A ``token -> AuthInfo`` function verifying JWTs, to pass to ``bearer_auth_middleware``.

    mcpauth's function of the same name, backed by ``JwtVerifier``: its checks, its cache of
    verified tokens, and (for a URI) the JWKS lifecycle of ``RemoteJwks``.

    :param input: a JWKS URI, a ``jwt.PyJWKClient`` (its ``uri`` is used) or a ``jwt.PyJWK``
        (that one key verifies every token, whatever its ``kid``, as in mcpauth).
    :param algorithms: the JWS algorithms accepted.
    :param leeway: seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    :raises TypeError: ``input`` is none of those.
    """
    return VerifyJwt(JwtVerifier(_key_source(input), algorithms=algorithms, leeway=leeway))


def _key_source(input: Any) -> KeySource:
    if isinstance(input, str):
        return RemoteJwks(input)
    import jwt  # only a caller that passes PyJWT's objects has PyJWT

    if isinstance(input, jwt.PyJWKClient):
        return RemoteJwks(input.uri)
    if isinstance(input, jwt.PyJWK):
        if input.key_type == "oct":
            return SingleKey(hmac_key(input.key, kid=input.key_id))
        jwk = input.Algorithm.to_jwk(input.key, as_dict=True)
        return SingleKey(key_from_jwk({**jwk, "kid": input.key_id} if input.key_id else jwk))
    raise TypeError("create_verify_jwt takes a JWKS URI, a jwt.PyJWKClient or a jwt.PyJWK")
