"""The value types of mcpauth-fast, with the names of ``mcpauth.types``."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

Record = dict[str, Any]


class FrozenDict(dict[str, Any]):
    """A dict that refuses to change.

    Verified tokens are cached and the same ``AuthInfo`` is handed to every request that
    carries the token, so nothing a handler does to it may reach the next request. It
    stays a real ``dict`` subclass so ``json``/``orjson``/pydantic serialise it as usual.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("token claims are read-only")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> Any:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: Any) -> FrozenDict:
        return self

    def copy(self) -> dict[str, Any]:
        """A plain, mutable copy (one level deep)."""
        return dict(self)


class FrozenList(list[Any]):
    """A list that refuses to change.

    Like ``FrozenDict``, for the lists of a cached ``AuthInfo`` (``scopes``, a list
    ``audience``, lists inside ``claims``). A list subclass rather than a tuple, so it compares
    equal to the lists mcpauth returns (``auth_info.scopes == ["read", "write"]``) and
    serialises as a JSON array.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("this list is read-only")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))

    def __reduce__(self) -> Any:
        return (FrozenList, (list(self),))

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: Any) -> FrozenList:
        return self

    def copy(self) -> list[Any]:
        """A plain, mutable copy (one level deep)."""
        return list(self)


def freeze(value: Any) -> Any:
    """Deeply immutable copy of a JSON value: dicts become FrozenDict, lists FrozenList."""
    # The containment test inline: most claims are scalars, and a call per value costs.
    if isinstance(value, dict):
        return FrozenDict(
            {k: freeze(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
        )
    if isinstance(value, (list, tuple)):
        return FrozenList([freeze(v) if isinstance(v, (dict, list)) else v for v in value])
    return value


def thaw(value: Any) -> Any:
    """Plain, mutable copy of a frozen JSON value."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


#: The public fields of AuthInfo, in mcpauth's order.
_FIELDS = ("token", "issuer", "client_id", "scopes", "subject", "audience", "claims", "expires_at")


class _AuthInfoFields:
    """AuthInfo's storage. ``claims`` is a property over ``_claims`` (see there); every
    other field is a slot."""

    __slots__ = (
        *(f for f in _FIELDS if f != "claims"), "_claims", "_sdk_user", "__weakref__"
    )

    token: str
    issuer: str
    client_id: str | None
    scopes: FrozenList
    subject: str
    audience: str | FrozenList | None
    expires_at: float | None
    # None for a verified compact JWS until ``claims`` is first read: they are decoded again
    # from the token's payload then. Most requests never read them, and a verified token stays
    # cached with its AuthInfo: keeping the decoded claims too would cost ~0.6 KB an entry.
    _claims: FrozenDict | None
    _sdk_user: Any  # the MCP SDK's user object, built once (see sdk_user)


class _NewAuthInfo(_AuthInfoFields):
    """An AuthInfo being built: the same layout, writable. Its constructors fill one in with
    plain attribute stores, then make it an AuthInfo (``__class__`` assignment between
    classes of one layout): a third of the cost of writing through the slots' descriptors,
    on the path of every distinct token."""

    __slots__ = ()


class AuthInfo(_AuthInfoFields):
    """Authentication information extracted from a verified access token.

    Immutable: verified tokens are cached, and one instance serves every request that
    carries the same token. ``scopes`` (and a list ``audience``) are read-only lists, equal to
    mcpauth's plain lists, and ``claims`` is a read-only dict.

    :param token: the raw access token.
    :param issuer: the ``iss`` claim.
    :param subject: the ``sub`` claim.
    :param claims: every claim of the token.
    :param client_id: ``client_id`` (RFC 9068), else ``azp``.
    :param scopes: the granted scopes, in token order, without duplicates.
    :param audience: the ``aud`` claim (a string or a list of strings).
    :param expires_at: the ``exp`` claim, or None when the token has none.
    """

    __slots__ = ()

    def __new__(
        cls,
        *,
        token: str,
        issuer: str,
        subject: str,
        claims: Record,
        client_id: str | None = None,
        scopes: Any = (),
        audience: Any = None,
        expires_at: float | None = None,
    ) -> AuthInfo:
        info = cls._of_verified_jws(
            token, issuer, subject, client_id,
            scopes if type(scopes) is FrozenList else FrozenList(scopes or ()),
            FrozenList(audience) if isinstance(audience, (list, tuple)) else audience,
            expires_at,
        )
        object.__setattr__(
            info, "_claims", claims if isinstance(claims, FrozenDict) else freeze(claims)
        )
        return info

    @classmethod
    def _of_verified_jws(
        cls,
        token: str,
        issuer: str,
        subject: str,
        client_id: str | None,
        scopes: FrozenList,
        audience: str | FrozenList | None,
        expires_at: float | None,
    ) -> AuthInfo:
        """The verifier's constructor: ``token`` is a verified compact JWS whose payload holds
        the claims (decoded again when ``claims`` is first read)."""
        info = _new(_NewAuthInfo)
        info.token = token
        info.issuer = issuer
        info.subject = subject
        info._claims = None
        info.client_id = client_id
        info.scopes = scopes
        info.audience = audience
        info.expires_at = expires_at
        info._sdk_user = None
        info.__class__ = cls  # type: ignore[assignment]
        return info  # type: ignore[return-value]

    @property
    def claims(self) -> FrozenDict:
        """Every claim of the token, read-only (nested objects and lists too)."""
        claims = self._claims
        if claims is None:
            # Two threads may both decode; they build equal values, and either may stay.
            claims = freeze(_decoded_claims(self.token))
            object.__setattr__(self, "_claims", claims)
        return claims

    def _sdk_user_of(self, build: Callable[[AuthInfo], Any]) -> Any:
        """The MCP SDK's user object for this AuthInfo: ``build(self)``, built once and kept."""
        user = self._sdk_user
        if user is None:
            user = build(self)
            # Set once, here: the field is private, and read-only to handlers.
            object.__setattr__(self, "_sdk_user", user)
        return user

    def mutable_claims(self) -> Record:
        """A plain, mutable copy of the claims (nested objects and lists too), the caller's own.

        For a verified token whose ``claims`` were not read yet, they are decoded afresh and
        not kept: what the MCP SDK's user object is built with costs no frozen copy.
        """
        claims = self._claims
        return thaw(claims) if claims is not None else _decoded_claims(self.token)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("AuthInfo is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("AuthInfo is read-only")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AuthInfo):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)

    def __hash__(self) -> int:
        return hash((self.token, self.issuer, self.subject))

    def __repr__(self) -> str:
        # The token is a bearer credential: never put it in a repr that may reach a log.
        return (
            f"AuthInfo(issuer={self.issuer!r}, subject={self.subject!r}, "
            f"client_id={self.client_id!r}, scopes={self.scopes!r}, "
            f"audience={self.audience!r}, expires_at={self.expires_at!r})"
        )

    def __reduce__(self) -> Any:
        return (_rebuild_auth_info, (self.model_dump(),))

    def model_dump(self, exclude_none: bool = False) -> Record:
        """A plain, mutable dict of the fields (the pydantic spelling mcpauth users know)."""
        data = {f: thaw(getattr(self, f)) for f in _FIELDS}
        if exclude_none:
            data = {k: v for k, v in data.items() if v is not None}
        return data

    def model_copy(self, *, update: Record | None = None) -> AuthInfo:
        """A new AuthInfo with some fields replaced."""
        data = {f: getattr(self, f) for f in _FIELDS}
        data.update(update or {})
        return AuthInfo(**data)


_new = object.__new__


def _decoded_claims(token: str) -> Record:
    # The payload of a token the strict decoder has already accepted (only the verifier
    # builds an AuthInfo without claims), read again by the same JSON parser: the same
    # claims, in new objects. Done here, so that this module needs no hot-path import.
    segment = token.split(".")[1]
    claims: Record = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return claims


def _rebuild_auth_info(data: Record) -> AuthInfo:
    return AuthInfo(**data)


class VerifyAccessTokenFunction(Protocol):
    """A custom verifier: ``token -> AuthInfo``, sync or async.

    It raises ``MCPAuthTokenVerificationException`` when the token is invalid. The
    middleware checks issuer, audience and scopes on what it returns.
    """

    def __call__(self, token: str) -> AuthInfo | Awaitable[AuthInfo]: ...


def __getattr__(name: str) -> Any:
    # mcpauth's pydantic models named from ``mcpauth.types`` (0.2 adds the resource-server
    # ones), loaded lazily so the hot path does not import pydantic.
    if name in ("ResourceServerConfig", "ResourceServerMetadata"):
        from . import config

        return getattr(config, name)
    if name in ("JwtPayload", "NonEmptyString"):
        from . import payload

        return getattr(payload, name)
    raise AttributeError(f"module 'mcpauth_fast.types' has no attribute {name!r}")
