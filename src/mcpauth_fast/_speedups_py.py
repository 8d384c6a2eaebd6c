"""Pure-Python twin of ``ext/_speedups.pyx``: the per-request hot path.

Same names, signatures, results, exceptions and messages as the compiled module, which
takes this module's docstrings, and calls its functions for every refusal and every odd
input: each rule is written here, and again in C only where the common case pays for it.
This module is the contract both satisfy (type checkers read it through ``_accel``, which
picks one of the two).
"""

from __future__ import annotations

import binascii
import math
import operator
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import orjson
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ._limits import (
    DEFAULT_MAX_TOKEN_BYTES,
    HEADER_MEMO_SIZE,
    MAX_HEADER_SEGMENT,
    MAX_KID_LENGTH,
    MAX_SIGNATURE_SEGMENT,
    SCOPE_MEMO_MAX_CHARS,
    SCOPE_MEMO_SIZE,
)
from .exceptions import (
    BearerAuthExceptionCode,
    MCPAuthBearerAuthException,
    MCPAuthBearerAuthExceptionDetails,
    invalid_token,
)
from .types import AuthInfo, FrozenList
from .urls import folded_audience_matches

__all__ = [
    "BearerLookup",
    "DEFAULT_MAX_TOKEN_BYTES",
    "HEADER_MEMO_SIZE",
    "MAX_HEADER_SEGMENT",
    "MAX_KID_LENGTH",
    "MAX_SIGNATURE_SEGMENT",
    "TokenCache",
    "TokenChecks",
    "Unverified",
    "VerifySteps",
    "auth_info_from_claims",
    "b64url_decode",
    "bearer_token",
    "check_header",
    "check_policy",
    "check_time_claims",
    "decode_jws",
    "ecdsa_der",
    "extract_scopes",
    "find_authorization",
    "parse_bearer",
]

_AUTHORIZATION = b"authorization"
# Character classes as regular expressions: one scan in C, where a loop over a 700-character
# token in Python costs tens of microseconds.
_B64TOKEN = re.compile(rb"[A-Za-z0-9\-._~+/]*")
_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE = {c: i for i, c in enumerate(_B64URL_ALPHABET)}
_B64URL_CHARS = frozenset(_B64URL_ALPHABET)
_B64URL = re.compile("[A-Za-z0-9_-]*")
_TO_STD_ALPHABET = bytes.maketrans(b"-_", b"+/")
_TYP_PREFIX = "application/"


def find_authorization(headers: Iterable[Any]) -> bytes | None:
    """The value of the one ``authorization`` header in raw ASGI ``scope["headers"]``.

    Returns None when absent. Raises ``MCPAuthBearerAuthException`` (``invalid_request``)
    when present more than once. Names are compared case-insensitively.
    """
    found: bytes | None = None
    for name, value in headers:
        if len(name) == 13 and name.lower() == _AUTHORIZATION:
            if found is not None:
                raise MCPAuthBearerAuthException(BearerAuthExceptionCode.INVALID_REQUEST)
            found = bytes(value)
    return found


def parse_bearer(value: bytes | None, max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value.

    The scheme is case-insensitive and separated from the token by one or more spaces
    (RFC 7235); the token is an RFC 6750 ``b64token``. Raises ``MCPAuthBearerAuthException``
    with ``missing_auth_header`` (None or empty), ``invalid_auth_header_format`` (another
    scheme, no separator, extra parts) or ``missing_bearer_token`` (nothing after the
    scheme), and ``invalid_token`` when the token is longer than ``max_token_bytes`` or has
    characters outside b64token (a malformed token, as mcpauth answers it).
    """
    if not value:
        raise MCPAuthBearerAuthException(BearerAuthExceptionCode.MISSING_AUTH_HEADER)
    n = len(value)
    if n < 6 or value[:6].lower() != b"bearer" or (n > 6 and value[6] != 0x20):
        raise MCPAuthBearerAuthException(BearerAuthExceptionCode.INVALID_AUTH_HEADER_FORMAT)
    if n == 6:
        raise MCPAuthBearerAuthException(BearerAuthExceptionCode.INVALID_AUTH_HEADER_FORMAT)
    start = 7
    while start < n and value[start] == 0x20:
        start += 1
    if start == n:
        raise MCPAuthBearerAuthException(BearerAuthExceptionCode.MISSING_BEARER_TOKEN)
    if n - start > max_token_bytes:
        raise invalid_token(f"token is larger than {max_token_bytes} bytes")
    if value.find(b" ", start) >= 0:  # more than one part after the scheme
        raise MCPAuthBearerAuthException(BearerAuthExceptionCode.INVALID_AUTH_HEADER_FORMAT)
    end = n
    while end > start and value[end - 1] == 0x3D:  # trailing "=" padding is part of b64token
        end -= 1
    if end == start or _B64TOKEN.fullmatch(value, start, end) is None:
        raise invalid_token("token is not an RFC 6750 b64token")
    return value[start:].decode("ascii")


def bearer_token(headers: Iterable[Any], max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> str:
    """``parse_bearer(find_authorization(headers))``: the token of an ASGI request."""
    return parse_bearer(find_authorization(headers), max_token_bytes)


def b64url_decode(segment: str) -> bytes:
    """Strict base64url (RFC 7515 section 2): url alphabet, no padding, canonical last bits.

    Raises ``ValueError`` on anything else.
    """
    n = len(segment)
    if n % 4 == 1:
        raise ValueError("invalid base64url length")
    if isinstance(segment, str):
        if _B64URL.fullmatch(segment) is None:
            raise ValueError("invalid base64url character")
    elif not all(c in _B64URL_CHARS for c in segment):
        raise ValueError("invalid base64url character")
    if n % 4:
        last = _B64URL_VALUE[segment[-1]]
        if last & (0x0F if n % 4 == 2 else 0x03):
            raise ValueError("non-canonical base64url")
    padded = segment.encode("ascii").translate(_TO_STD_ALPHABET) + b"=" * (-n % 4)
    return binascii.a2b_base64(padded)


def _decode_json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = b64url_decode(segment)
    except ValueError as exc:
        raise invalid_token(f"{what}: {exc}") from None
    return _json_object(raw, what)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    """The JSON object of a decoded segment. orjson is strict already: RFC 8259 only (no NaN or
    Infinity), UTF-8 without lone surrogates, the last of repeated keys, ``MAX_JSON_DEPTH``
    nested containers; the size was capped before decoding."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_token(f"{what}: invalid JSON") from None
    if type(value) is not dict:
        raise invalid_token(f"{what}: not a JSON object")
    return value


def decode_jws(
    token: str, max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES
) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Split and decode a compact JWS: ``(header, payload, signing_input, signature)``.

    Sizes are checked before anything is decoded. Raises ``MCPAuthTokenVerificationException``
    (``invalid_token``) for a token that is not exactly three strict base64url segments whose
    first two are JSON objects, or that exceeds a size cap.
    """
    first, second = _split_jws(token, max_token_bytes)
    header = _decode_json_object(token[:first], "header")
    payload, signing_input, signature = _decode_rest(token, first, second)
    return header, payload, signing_input, signature


def _split_jws(token: str, max_token_bytes: int) -> tuple[int, int]:
    """The positions of the two dots of a compact JWS, after the size caps."""
    n = len(token)
    if n > max_token_bytes:
        raise invalid_token(f"token is larger than {max_token_bytes} bytes")
    first = token.find(".")
    second = token.find(".", first + 1) if first >= 0 else -1
    if second < 0 or token.find(".", second + 1) >= 0:
        raise invalid_token("token is not a compact JWS (three segments)")
    if first > MAX_HEADER_SEGMENT:
        raise invalid_token("header segment is too large")
    if n - second - 1 > MAX_SIGNATURE_SEGMENT:
        raise invalid_token("signature segment is too large")
    if second + 1 == n:
        raise invalid_token("signature is empty")
    return first, second


def _decode_rest(token: str, first: int, second: int) -> tuple[dict[str, Any], bytes, bytes]:
    """``(payload, signing_input, signature)`` of a split compact JWS."""
    payload = _decode_json_object(token[first + 1 : second], "payload")
    try:
        signature = b64url_decode(token[second + 1 :])
    except ValueError as exc:
        raise invalid_token(f"signature: {exc}") from None
    return payload, token[:second].encode("ascii"), signature


def ecdsa_der(signature: bytes, size: int) -> bytes:
    """The DER ``SEQUENCE { INTEGER r, INTEGER s }`` that OpenSSL verifies, of a JWS ECDSA
    signature ``r || s`` (RFC 7518 section 3.4) whose halves are ``size`` bytes each.

    Raises ``ValueError`` for a signature of another length (a DER or truncated one).
    """
    if len(signature) != 2 * size:
        raise ValueError("ECDSA signature is not r || s of the curve's size")
    return encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )


def check_header(
    header: dict[str, Any], algorithms: frozenset[str], typ: str | None = None
) -> tuple[str, str | None]:
    """Check a JOSE header against the caller's policy; return ``(alg, kid)``.

    ``alg`` must be a string in ``algorithms`` (the caller's allow-list, never the token's
    choice); ``kid``, when present, a string of at most 512 characters; ``crit`` is rejected
    (no extension is understood); with ``typ``, the header's ``typ`` must equal it
    case-insensitively, with or without the ``application/`` prefix (RFC 7515 4.1.9).
    Raises ``MCPAuthTokenVerificationException`` (``invalid_token``).
    """
    alg = header.get("alg")
    if type(alg) is not str:
        raise invalid_token("header: alg is missing or not a string")
    if alg not in algorithms:
        raise invalid_token("header: alg is not allowed")
    kid = header.get("kid")
    if kid is not None:
        if type(kid) is not str:
            raise invalid_token("header: kid is not a string")
        if len(kid) > MAX_KID_LENGTH:
            raise invalid_token("header: kid is too long")
    if "crit" in header:
        raise invalid_token("header: unsupported critical header parameter")
    if typ is not None:
        actual = header.get("typ")
        if type(actual) is not str or not _typ_matches(actual, typ):
            raise invalid_token("header: typ does not match")
    return alg, kid


def _typ_matches(actual: str, expected: str) -> bool:
    actual = actual.lower()
    expected = expected.lower()
    if actual.startswith(_TYP_PREFIX):
        actual = actual[len(_TYP_PREFIX) :]
    if expected.startswith(_TYP_PREFIX):
        expected = expected[len(_TYP_PREFIX) :]
    return actual == expected


def _numeric_claim(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        if name in claims:
            raise invalid_token(f"claim {name} is not a number")
        return None
    if type(value) is not int and type(value) is not float:
        raise invalid_token(f"claim {name} is not a number")
    try:
        number = float(value)
    except OverflowError:  # an int beyond the range of a double
        raise invalid_token(f"claim {name} is not a number") from None
    if not math.isfinite(number):
        raise invalid_token(f"claim {name} is not a number")
    return number


def check_time_claims(
    claims: dict[str, Any],
    now: float,
    leeway: float = 0.0,
    require_exp: bool = True,
    max_age: float | None = None,
) -> float:
    """Check ``exp``, ``nbf`` and ``iat`` at time ``now`` (seconds since the epoch).

    Each present claim must be a finite JSON number that fits a double (int or float; not a
    string, bool, null, NaN or infinity).
    ``exp`` is required unless ``require_exp`` is false; the token is expired when
    ``floor(exp) <= now - leeway`` (PyJWT's rule). ``nbf`` and ``iat`` may not be later than
    ``now + leeway``. With ``max_age``, ``iat`` is required and ``now - iat`` may not exceed
    ``max_age + leeway``. Returns the time until which a cached verification stays valid
    (``inf`` when the token never expires). Raises ``MCPAuthTokenVerificationException``.
    """
    exp = _numeric_claim(claims, "exp")
    nbf = _numeric_claim(claims, "nbf")
    iat = _numeric_claim(claims, "iat")
    valid_until = math.inf
    if exp is None:
        if require_exp:
            raise invalid_token("claim exp is required")
    else:
        valid_until = float(math.floor(exp)) + leeway
        if valid_until <= now:
            raise invalid_token("token has expired")
    if nbf is not None and nbf > now + leeway:
        raise invalid_token("token is not yet valid (nbf)")
    if iat is not None and iat > now + leeway:
        raise invalid_token("token is issued in the future (iat)")
    if max_age is not None:
        if iat is None:
            raise invalid_token("claim iat is required")
        too_old_at = iat + max_age + leeway
        if too_old_at < now:
            raise invalid_token("token is too old (iat)")
        if too_old_at < valid_until:
            valid_until = too_old_at
    return valid_until


class Unverified(NamedTuple):
    """A token that passed every check that costs no signature: what ``TokenChecks.check``
    returns and ``VerifySteps.finish`` takes."""

    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes
    alg: str
    kid: str | None
    issuer: str
    valid_until: float


class TokenChecks:
    """Everything about a token that costs no signature, under one verifier's policy.

    ``check(token, now)`` is ``decode_jws``, ``check_header``, ``check_time_claims`` and the
    ``iss`` claim's type check in one call, with the same errors in the same order, and
    returns them as an ``Unverified`` record.

    A header segment that passed ``check_header`` is remembered (at most
    ``HEADER_MEMO_SIZE``; when full, the memory starts over): the tokens of one issuer share
    a few headers byte for byte, and a remembered one is neither decoded nor checked again.

    :param algorithms: the allow-list of JWS algorithms.
    :param typ: the required ``typ`` header, or None.
    :param max_token_bytes: tokens longer than this are refused before decoding.
    :param leeway: see ``check_time_claims``; so are ``require_exp`` and ``max_age``.
    """

    __slots__ = ("_headers", "algorithms", "leeway", "max_age", "max_token_bytes",
                 "require_exp", "typ")

    def __init__(
        self,
        algorithms: frozenset[str],
        typ: str | None = None,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        leeway: float = 0.0,
        require_exp: bool = True,
        max_age: float | None = None,
    ) -> None:
        self.algorithms = frozenset(algorithms)
        self.typ = typ
        self.max_token_bytes = max_token_bytes
        self.leeway = leeway
        self.require_exp = require_exp
        self.max_age = max_age
        self._headers: dict[str, tuple[str, str | None]] = {}

    @property
    def remembered_headers(self) -> int:
        """How many checked header segments are remembered now."""
        return len(self._headers)

    def check(self, token: str, now: float) -> Unverified:
        """Raises ``MCPAuthTokenVerificationException`` (``invalid_token``)."""
        first, second = _split_jws(token, self.max_token_bytes)
        segment = token[:first]
        checked = self._headers.get(segment)
        if checked is None:
            header = _decode_json_object(segment, "header")
            payload, signing_input, signature = _decode_rest(token, first, second)
            checked = check_header(header, self.algorithms, self.typ)
            if len(self._headers) >= HEADER_MEMO_SIZE:
                self._headers.clear()
            self._headers[segment] = checked
        else:
            payload, signing_input, signature = _decode_rest(token, first, second)
        valid_until = check_time_claims(
            payload, now, self.leeway, self.require_exp, self.max_age
        )
        return Unverified(payload, signing_input, signature, checked[0], checked[1],
                          _issuer_of(payload), valid_until)


def _issuer_of(payload: dict[str, Any]) -> str:
    issuer = payload.get("iss")
    if type(issuer) is not str or not issuer:
        raise invalid_token("claim iss is missing or not a string")
    return issuer


def _split_scopes(value: Any) -> list[str]:
    # RFC 6749 section 3.3: a string is split on spaces only (a tab or a newline stays inside
    # its scope, which then matches no valid one); each element of a list is one scope.
    if type(value) is str:
        scopes = value.split(" ")
    elif type(value) is list:
        scopes = value
        for item in scopes:
            if type(item) is not str:
                raise invalid_token("scope claim is not a string or a list of strings")
    else:
        raise invalid_token("scope claim is not a string or a list of strings")
    return [scope for scope in dict.fromkeys(scopes) if scope]


def extract_scopes(claims: dict[str, Any]) -> FrozenList:
    """The scopes of a token: ``scope``, or ``scopes`` when that is empty (mcpauth's
    ``scope or scopes``); ``scp`` only when both are absent or null.

    A claim is a space-separated string (split on spaces only) or a list of strings (one
    scope each, never split); empties dropped, order kept, duplicates removed. ``scope`` and
    ``scopes`` are both checked when present, as mcpauth checks both. Raises
    ``MCPAuthTokenVerificationException`` for a claim of any other type.
    """
    found = None
    for name in ("scope", "scopes"):
        value = claims.get(name)
        if value is not None:
            scopes = _scopes_of(value)
            if not found:
                found = scopes
    if found is None:
        value = claims.get("scp")
        found = _scopes_of(value) if value is not None else _NO_SCOPES
    return found


# The scope strings seen lately and their scopes: a client's tokens carry the same string, and
# each verified token keeps its scopes in the cache; shared, they cost one list, not one each.
_scope_memo: dict[str, FrozenList] = {}
_NO_SCOPES = FrozenList()


def _scopes_of(value: Any) -> FrozenList:
    memoized = type(value) is str and len(value) <= SCOPE_MEMO_MAX_CHARS
    if memoized:
        scopes = _scope_memo.get(value)
        if scopes is not None:
            return scopes
    scopes = FrozenList(_split_scopes(value))
    if memoized:
        if len(_scope_memo) >= SCOPE_MEMO_SIZE:
            _scope_memo.clear()
        _scope_memo[value] = scopes
    return scopes


def _string_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and type(value) is not str:
        raise invalid_token(f"claim {name} is not a string")
    return value


def auth_info_from_claims(
    token: str, issuer: str, claims: dict[str, Any], required_claims: tuple[str, ...] = ()
) -> AuthInfo:
    """Build the ``AuthInfo`` of ``claims``, the payload of ``token``, a verified compact JWS;
    refuse claims of the wrong shape (``invalid_token``): at least every shape mcpauth 0.1.1
    refuses. The AuthInfo keeps the fields, not the dict: its ``claims`` are decoded again from
    ``token`` when first read."""
    subject = claims.get("sub")
    if type(subject) is not str or not subject:
        raise invalid_token("claim sub is missing or not a string")
    for name in required_claims:
        if claims.get(name) is None:
            raise invalid_token(f"claim {name} is required")
    if "jti" in claims and type(claims["jti"]) is not str:
        raise invalid_token("claim jti is not a string")
    audience = claims.get("aud")
    if audience is not None and (type(audience) is not str or not audience):
        if type(audience) is not list or any(type(a) is not str or not a for a in audience):
            raise invalid_token("claim aud is not a non-empty string or a list of them")
        audience = FrozenList(audience)
    client_id = _string_claim(claims, "client_id")
    azp = _string_claim(claims, "azp")
    exp = claims.get("exp")
    if exp is not None:
        exp = float(exp)
        if not exp.is_integer():
            raise invalid_token("claim exp is not a whole number of seconds")
    return AuthInfo._of_verified_jws(
        token,
        issuer,
        subject,
        client_id if client_id is not None else azp,
        extract_scopes(claims),
        audience,
        exp,
    )


def check_policy(
    issuer: Any,
    audience: Any,
    scopes: Any,
    trusted_issuers: frozenset[str] | None,
    audiences: frozenset[str] | None,
    required_scopes: tuple[tuple[str, ...], ...],
) -> None:
    """The per-request policy: trusted issuer, accepted audience, required scopes.

    ``trusted_issuers`` / ``audiences`` of None skip that check. The issuer must equal one
    trusted issuer exactly; the token's audience (a string or a list of strings) must
    contain one accepted value. Each of ``required_scopes`` is a ``scopes.Requirement``: the
    required scope, then the scopes that imply it; one of them must be in ``scopes``, and
    every required scope that is not granted is reported. Raises
    ``MCPAuthBearerAuthException`` with ``invalid_issuer``, ``invalid_audience`` or
    ``missing_required_scopes``.
    """
    if trusted_issuers is not None and (type(issuer) is not str or issuer not in trusted_issuers):
        raise MCPAuthBearerAuthException(
            BearerAuthExceptionCode.INVALID_ISSUER,
            MCPAuthBearerAuthExceptionDetails(
                expected=_expected(trusted_issuers), actual=issuer
            ),
        )
    if audiences is not None and not _audience_matches(audience, audiences):
        raise MCPAuthBearerAuthException(
            BearerAuthExceptionCode.INVALID_AUDIENCE,
            MCPAuthBearerAuthExceptionDetails(
                expected=_expected(audiences),
                actual=list(audience) if type(audience) is FrozenList else audience,
            ),
        )
    if required_scopes:
        for requirement in required_scopes:
            if type(requirement) is not tuple:  # a str would be read letter by letter
                raise TypeError("a required scope is a tuple: the scope, then its implying ones")
        missing = [r[0] for r in required_scopes if not any(s in scopes for s in r)]
        if missing:
            raise MCPAuthBearerAuthException(
                BearerAuthExceptionCode.MISSING_REQUIRED_SCOPES,
                MCPAuthBearerAuthExceptionDetails(missing_scopes=missing),
            )


def _expected(values: frozenset[str]) -> Any:
    if len(values) == 1:
        return next(iter(values))
    return sorted(values)


def _audience_matches(audience: Any, audiences: frozenset[str]) -> bool:
    if type(audience) is str:
        if audience in audiences:
            return True
    elif type(audience) is FrozenList or type(audience) is list:
        for item in audience:
            if type(item) is str and item in audiences:
                return True
    else:
        return False
    # A miss (rare: the compiled check hands only its misses here): URL audiences compare
    # their scheme and host case-insensitively (the MCP spec's SHOULD).
    return folded_audience_matches(audience, audiences)


class TokenCache:
    """A bounded LRU of verified tokens, keyed by the whole token string.

    ``get`` treats an entry whose ``valid_until`` has passed as a miss and drops it.
    ``kid`` is any hashable naming the key that verified the token (the verifier uses
    ``(issuer, kid)``), so ``evict_kid`` can drop every token of a key that left its set.
    A ``maxsize`` of 0 disables the cache. Not thread-safe in this pure implementation;
    the compiled one holds a critical section on free-threaded builds.
    """

    __slots__ = ("_entries", "_maxsize", "_hits", "_misses", "_evictions")

    def __init__(self, maxsize: int = 4096) -> None:
        maxsize = operator.index(maxsize)
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        self._entries: OrderedDict[str, tuple[Any, float, Any]] = OrderedDict()
        self._maxsize = maxsize
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float | None = None) -> Any:
        """The value stored for ``token`` if still valid at ``now``, else None (a miss).

        ``now`` defaults to the wall clock, ``time.time()`` (read in C by the compiled cache).
        """
        entry = self._entries.get(token)
        if entry is None:
            self._misses += 1
            return None
        if entry[1] <= (time.time() if now is None else now):
            del self._entries[token]
            self._misses += 1
            return None
        self._entries.move_to_end(token)
        self._hits += 1
        return entry[0]

    def put(self, token: str, value: Any, valid_until: float, kid: Any = None) -> None:
        """Store ``value`` for ``token`` until ``valid_until``, evicting the least recently used."""
        if self._maxsize == 0:
            return
        entries = self._entries
        entries[token] = (value, valid_until, kid)
        entries.move_to_end(token)
        while len(entries) > self._maxsize:
            entries.popitem(last=False)
            self._evictions += 1

    def evict_kid(self, kid: Any) -> int:
        """Drop every entry stored with ``kid``; return how many were dropped."""
        stale = [token for token, entry in self._entries.items() if entry[2] == kid]
        for token in stale:
            del self._entries[token]
        return len(stale)

    def evict_where(self, predicate: Callable[[Any], object]) -> int:
        """Drop every entry whose value ``predicate(value)`` is true; return how many were
        dropped (a revocation's way into the cache: not on the request path)."""
        stale = [token for token, entry in list(self._entries.items()) if predicate(entry[0])]
        for token in stale:
            self._entries.pop(token, None)
        return len(stale)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        self._entries.clear()
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def info(self) -> dict[str, int]:
        """``{"hits", "misses", "evictions", "size", "maxsize"}`` (evictions: entries dropped
        to make room)."""
        return {
            "hits": self._hits,
            "misses": self._misses,
            "evictions": self._evictions,
            "size": len(self._entries),
            "maxsize": self._maxsize,
        }


class BearerLookup:
    """A request's way to the ``AuthInfo`` its verifier has cached, in one call.

    ``lookup(headers)``: the token of the ASGI ``headers`` (``bearer_token`` with
    ``max_token_bytes``; its errors are raised), then ``cache.get(token)`` at the wall clock.
    On a hit, the cached ``AuthInfo`` once it passes ``check_policy`` with
    ``trusted_issuers``, ``audiences`` and ``required_scopes`` (its errors are raised); on a
    miss, the token itself (a ``str``), for the caller to verify.
    """

    __slots__ = ("_audiences", "_cache", "_issuers", "_max_token_bytes", "_required")

    def __init__(
        self,
        cache: TokenCache,
        max_token_bytes: int,
        trusted_issuers: frozenset[str] | None,
        audiences: frozenset[str] | None,
        required_scopes: tuple[tuple[str, ...], ...],
    ) -> None:
        self._cache = cache
        self._max_token_bytes = max_token_bytes
        self._issuers = trusted_issuers
        self._audiences = audiences
        self._required = required_scopes

    def lookup(self, headers: Iterable[Any]) -> Any:
        """The cached ``AuthInfo`` that passes the policy, or the token to verify."""
        token = bearer_token(headers, self._max_token_bytes)
        info = self._cache.get(token)
        if info is None:
            return token
        check_policy(info.issuer, info.audience, info.scopes, self._issuers, self._audiences,
                     self._required)
        return info


class VerifySteps:
    """One verifier's way from a token to its ``AuthInfo``, every step in one call.

    ``verify(token, now)``: ``checks.check(token, now)`` (everything that costs no
    signature), the key from ``find(issuer, kid, alg)`` (``missing_key(kid)`` is raised when
    it returns None), then ``finish``. ``finish(token, unverified, key)``: the signature
    (``key.verify``), the ``AuthInfo`` (``auth_info_from_claims`` with ``required_claims``),
    stored in ``cache`` until the token's ``valid_until`` under ``(issuer, key.kid)``, and
    the issuer added to ``issuers_seen``. ``verify_sync(token)``: the cache's value for
    ``token`` at the wall clock, else ``verify(token, time.time())``.
    """

    __slots__ = ("_cache", "_checks", "_find", "_issuers_seen", "_missing_key",
                 "_required_claims")

    def __init__(
        self,
        cache: TokenCache,
        checks: TokenChecks,
        find: Callable[[str, str | None, str], Any],
        missing_key: Callable[[str | None], BaseException],
        required_claims: Iterable[str],
        issuers_seen: set[str],
    ) -> None:
        self._cache = cache
        self._checks = checks
        self._find = find
        self._missing_key = missing_key
        self._required_claims = tuple(required_claims)
        self._issuers_seen = issuers_seen

    def verify_sync(self, token: str) -> AuthInfo:
        """The cached ``AuthInfo`` of ``token``, else ``verify(token, time.time())``."""
        value: AuthInfo | None = self._cache.get(token)
        if value is None:
            return self.verify(token, time.time())
        return value

    def verify(self, token: str, now: float) -> AuthInfo:
        """Raises ``MCPAuthTokenVerificationException`` (``invalid_token``)."""
        unverified = self._checks.check(token, now)
        key = self._find(unverified.issuer, unverified.kid, unverified.alg)
        if key is None:
            raise self._missing_key(unverified.kid)
        return self.finish(token, unverified, key)

    def finish(self, token: str, unverified: Unverified, key: Any) -> AuthInfo:
        """The steps after the key is found; ``unverified`` is what ``check`` returned."""
        key.verify(unverified.alg, unverified.signing_input, unverified.signature)
        issuer = unverified.issuer
        info = auth_info_from_claims(token, issuer, unverified.payload, self._required_claims)
        self._cache.put(token, info, unverified.valid_until, (issuer, key.kid))
        self._issuers_seen.add(issuer)
        return info
