"""An introspection response (RFC 7662 section 2.2) checked, and made the token's ``AuthInfo``.

The rules, strict by default:

- ``active`` must be exactly JSON ``true``; anything else (absent, ``"true"``, ``1``) is an
  inactive token.
- ``exp`` / ``nbf``, when present, are numbers; the token is refused from ``exp - leeway`` on
  and until ``nbf - leeway`` (the same leeway as for JWTs). ``exp`` is optional (RFC 7662);
  without it the cache keeps the answer ``max_cache_seconds`` at most.
- ``iss``, when present, must be a trusted issuer; when absent, the answer speaks for the
  authorization server whose endpoint was asked (``default_issuer``), and with several
  servers and an explicit endpoint it is required.
- ``sub`` is required, a non-empty string, as in "jwt" mode: an ``AuthInfo`` has a subject.
- ``aud`` is a string or a list of strings; the middleware checks it against the audience
  (or resource) as for JWTs, so an answer without ``aud`` is refused where one is configured.
- ``scope`` is a string of space-separated scope tokens (RFC 6749 section 3.3); a list or a
  token with characters outside ``%x21 / %x23-5B / %x5D-7E`` is refused.
- ``client_id`` and ``username`` are strings when present.
- ``token_type``, when present, must name an access token usable as a bearer token:
  ``Bearer`` (any case, RFC 6750), ``access_token`` or
  ``urn:ietf:params:oauth:token-type:access_token`` (RFC 8693's names, which some providers
  answer). ``refresh_token``, ``id_token``, ``DPoP`` (a sender-constrained token, whose proof
  this middleware does not check) and anything else are refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..exceptions import invalid_token
from ..types import AuthInfo, FrozenList

__all__ = ["ACCEPTED_TOKEN_TYPES", "auth_info_of_response"]

ACCEPTED_TOKEN_TYPES = frozenset({
    "bearer", "access_token", "urn:ietf:params:oauth:token-type:access_token",
})
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def _number(response: Mapping[str, Any], name: str) -> float | None:
    value = response.get(name)
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise invalid_token(f"introspection member {name} is not a number")
    return float(value)


def _string(response: Mapping[str, Any], name: str) -> str | None:
    value = response.get(name)
    if value is None:
        return None
    if type(value) is not str or not value:
        raise invalid_token(f"introspection member {name} is not a non-empty string")
    return value


def _scopes(value: Any) -> FrozenList:
    if value is None:
        return FrozenList()
    if type(value) is not str:
        raise invalid_token("introspection member scope is not a string")
    scopes = [s for s in value.split(" ") if s]
    if not all(_SCOPE_TOKEN.fullmatch(s) for s in scopes):
        raise invalid_token("introspection member scope has an invalid scope token")
    return FrozenList(dict.fromkeys(scopes))


def auth_info_of_response(
    token: str, response: Mapping[str, Any], *, issuers: frozenset[str],
    default_issuer: str | None, leeway: float, now: float,
) -> AuthInfo:
    """The ``AuthInfo`` of ``token`` from its introspection ``response`` (a JSON object).

    :param issuers: the trusted issuers; a present ``iss`` must be one.
    :param default_issuer: the issuer of an answer without ``iss`` (None: ``iss`` required).
    :raises MCPAuthTokenVerificationException: ``invalid_token``, with a reason that never
        quotes the token: inactive, expired, not yet valid, or a member of the wrong shape.
    """
    if response.get("active") is not True:
        raise invalid_token("the token is not active")
    token_type = _string(response, "token_type")
    if token_type is not None and token_type.lower() not in ACCEPTED_TOKEN_TYPES:
        # RFC 9449 section 6.2: a DPoP-bound token's type is DPoP, and its key is in cnf;
        # the middleware checks that binding. One without a key would pass as a bearer token.
        cnf = response.get("cnf")
        if token_type.lower() != "dpop" or not (
                isinstance(cnf, dict) and isinstance(cnf.get("jkt"), str)):
            raise invalid_token("the token is not a bearer access token")
    exp = _number(response, "exp")
    if exp is not None and now - leeway >= exp:
        raise invalid_token("the token has expired")
    nbf = _number(response, "nbf")
    if nbf is not None and now + leeway < nbf:
        raise invalid_token("the token is not valid yet")
    issuer = _string(response, "iss")
    if issuer is None:
        if default_issuer is None:
            raise invalid_token("introspection member iss is missing")
        issuer = default_issuer
    elif issuer not in issuers:
        raise invalid_token("the token's issuer is not trusted")
    subject = _string(response, "sub")
    if subject is None:
        raise invalid_token("introspection member sub is missing")
    audience = response.get("aud")
    if audience is not None and (type(audience) is not str or not audience) and (
            type(audience) is not list
            or any(type(a) is not str or not a for a in audience)):
        raise invalid_token("introspection member aud is not a string or a list of them")
    client_id = _string(response, "client_id")
    _string(response, "username")
    return AuthInfo(
        token=token, issuer=issuer, subject=subject, claims=dict(response),
        client_id=client_id, scopes=_scopes(response.get("scope")), audience=audience,
        expires_at=exp,
    )
