"""What goes into Redis: keyed hashes instead of tokens, and authenticated values.

Two keys are derived from the configured secret (HMAC-SHA256 with a fixed label each): one
names things (a token, an issuer's ``jti`` or subject) by their HMAC, so no raw token ever
reaches Redis and a name cannot be computed without the secret; the other authenticates each
cached value together with the Redis key it is stored under, so a value can be neither forged
nor moved to another token's key.
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson

from ..types import AuthInfo, FrozenList

_VERSION = b"1"
_MAC_BYTES = 32


def _derive(secret: bytes, label: bytes) -> bytes:
    return hmac.digest(secret, b"mcpauth-fast shared tier v1: " + label, "sha256")


class Sealing:
    """The two derived keys, and everything computed with them."""

    __slots__ = ("_mac_key", "_name_key")

    def __init__(self, secret: bytes) -> None:
        self._name_key = _derive(secret, b"names")
        self._mac_key = _derive(secret, b"values")

    def token_id(self, token: str) -> str:
        """The token's name in Redis and in revocation messages."""
        return hmac.digest(self._name_key, b"token\0" + token.encode(), "sha256").hex()

    def name_id(self, kind: str, issuer: str, value: str) -> str:
        """The name of an issuer's ``jti`` (kind ``"j"``) or subject (kind ``"s"``)."""
        data = "\0".join((kind, issuer, value)).encode()
        return hmac.digest(self._name_key, data, "sha256").hex()

    def seal(self, redis_key: str, record: dict[str, Any]) -> bytes:
        """``record`` as stored under ``redis_key``: version, MAC, JSON."""
        body = orjson.dumps(record)
        return _VERSION + self._mac(redis_key, body) + body

    def open(self, redis_key: str, value: bytes) -> dict[str, Any] | None:
        """The record sealed under ``redis_key``, or None when the value is not one."""
        if (not isinstance(value, bytes) or len(value) <= 1 + _MAC_BYTES
                or value[:1] != _VERSION):
            return None
        mac, body = value[1:1 + _MAC_BYTES], value[1 + _MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(redis_key, body)):
            return None
        try:
            record = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return record if isinstance(record, dict) else None

    def _mac(self, redis_key: str, body: bytes) -> bytes:
        return hmac.digest(self._mac_key, redis_key.encode() + b"\0" + body, "sha256")


def record_of(info: AuthInfo, *, jws: bool, extra: dict[str, Any]) -> dict[str, Any]:
    """What is shared of a verified ``info``: every field but the token. The claims of a
    compact JWS are left out (they are decoded again from the token itself)."""
    record: dict[str, Any] = {
        "iss": info.issuer, "sub": info.subject, "cid": info.client_id,
        "scp": list(info.scopes), "aud": info.audience, "exp": info.expires_at, **extra,
    }
    if not jws:
        record["claims"] = info.mutable_claims()
    return record


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def info_of(token: str, record: dict[str, Any]) -> AuthInfo | None:
    """The ``AuthInfo`` of ``token`` from its shared ``record``, or None when the record has
    not the expected shape (another version wrote it, or it is damaged)."""
    issuer, subject, client_id = record.get("iss"), record.get("sub"), record.get("cid")
    scopes, audience, expires_at = record.get("scp"), record.get("aud"), record.get("exp")
    claims = record.get("claims")
    if (not isinstance(issuer, str) or not isinstance(subject, str)
            or not (client_id is None or isinstance(client_id, str))
            or not _str_list(scopes)
            or not (audience is None or isinstance(audience, str) or _str_list(audience))
            or not (expires_at is None or type(expires_at) in (int, float))
            or not (claims is None or isinstance(claims, dict))):
        return None
    if claims is None:
        if token.count(".") != 2:  # a record without claims is a compact JWS's
            return None
        return AuthInfo._of_verified_jws(
            token, issuer, subject, client_id, FrozenList(scopes or ()),
            FrozenList(audience) if isinstance(audience, list) else audience,
            None if expires_at is None else float(expires_at))
    return AuthInfo(token=token, issuer=issuer, subject=subject, claims=claims,
                    client_id=client_id, scopes=scopes, audience=audience,
                    expires_at=None if expires_at is None else float(expires_at))
