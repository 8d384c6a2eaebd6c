"""Verification of one DPoP proof (RFC 9449 section 4.3).

The proof is decoded by the package's strict compact-JWS decoder and its signature checked
by :mod:`mcpauth_fast.keys` (``cryptography``); this module adds the DPoP rules. Every
refusal raises :class:`DPoPProofError`, whose message is a short, fixed reason that never
quotes the proof, the token or a key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import unquote

import orjson

from .._accel import decode_jws
from ..exceptions import (
    DPoPBindingError,
    DPoPNonceError,
    DPoPProofError,
    MCPAuthTokenVerificationException,
)
from ..keys import DEFAULT_ALGORITHMS, UnsupportedKeyError, VerificationKey, key_from_jwk
from ..urls import DEFAULT_PORTS, split_authority
from .nonce import DPoPNonces
from .replay import ReplayCache, ReplayGuard

__all__ = [
    "DEFAULT_DPOP_ALGORITHMS",
    "DEFAULT_IAT_WINDOW",
    "DPoPProofError",
    "DPoPProofVerifier",
    "VerifiedProof",
    "jwk_thumbprint",
]

#: The proof algorithms accepted when the caller names none.
DEFAULT_DPOP_ALGORITHMS: tuple[str, ...] = ("ES256", "EdDSA")
#: Seconds a proof's ``iat`` may lie in the past or the future.
DEFAULT_IAT_WINDOW = 300.0
#: The longest ``jti`` accepted: the replay cache holds each one.
MAX_JTI_LENGTH = 256
#: The longest proof accepted (an RSA-4096 key in the header is about 1 kB of it).
MAX_PROOF_BYTES = 8192
#: Proof headers (one per client key) whose key is kept; all are forgotten past this.
_MAX_KNOWN_HEADERS = 1024

_TYP = "dpop+jwt"
# RFC 7517/7518 private members: a proof's jwk that carries one leaks its key, and an "oct"
# jwk is a shared secret, which can prove nothing about who holds it.
_PRIVATE_MEMBERS = frozenset(("d", "p", "q", "dp", "dq", "qi", "oth", "k"))
# RFC 7638 section 3.2: the members of each key type that a thumbprint hashes.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"),
                       "OKP": ("crv", "kty", "x")}
_AUTHORITY_URI = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)")


class VerifiedProof(NamedTuple):
    """What a proof that passed every check tells."""

    #: The RFC 7638 thumbprint of the proof's key.
    jkt: str
    #: The proof's ``jti``.
    jti: str
    #: When the proof stops being acceptable (its ``iat`` plus the window).
    until: float
    #: The proof's ``nonce`` claim, or None.
    nonce: str | None


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public RSA, EC or OKP JWK, base64url unpadded.

    :raises ValueError: another key type, or a required member missing or not a string.
    """
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if type(kty) is str else None
    if members is None:
        raise ValueError("unsupported key type")
    required = {name: jwk.get(name) for name in members}
    if not all(type(value) is str for value in required.values()):
        raise ValueError("a required member is missing or not a string")
    # orjson writes no whitespace, and the members are already in lexicographic order.
    digest = hashlib.sha256(orjson.dumps(required)).digest()
    return _b64url(digest)


class DPoPProofVerifier:
    """Checks DPoP proofs as RFC 9449 section 4.3 requires; configured once, reused.

    :param algorithms: the accepted proof algorithms, asymmetric only (no ``none``, no HS*).
    :param iat_window: seconds the proof's ``iat`` may be before or after ``now``.
    :param replay: the memory of used ``jti`` values; a new :class:`ReplayCache` if None.
    """

    __slots__ = ("_keys", "algorithms", "iat_window", "replay")

    def __init__(
        self,
        *,
        algorithms: Iterable[str] = DEFAULT_DPOP_ALGORITHMS,
        iat_window: float = DEFAULT_IAT_WINDOW,
        replay: ReplayGuard | None = None,
    ) -> None:
        allowed = frozenset(algorithms)
        if not allowed:
            raise ValueError("algorithms must name at least one algorithm")
        unsupported = allowed - frozenset(DEFAULT_ALGORITHMS)
        if unsupported:
            raise ValueError(f"not asymmetric JWS algorithms: {sorted(unsupported)}")
        if not (math.isfinite(iat_window) and iat_window > 0):
            raise ValueError("iat_window must be a positive number of seconds")
        self.algorithms = allowed
        self.iat_window = float(iat_window)
        self.replay: ReplayGuard = replay if replay is not None else ReplayCache()
        # A client signs every proof with one key under one header: the header segment's
        # checks, its key object and thumbprint are computed once (bench/dpop_instructions.py).
        self._keys: dict[bytes, tuple[str, VerificationKey, str]] = {}

    def verify(
        self,
        values: Sequence[str | bytes],
        *,
        method: str,
        uri: str,
        access_token: str,
        jkt: str | None = None,
        nonces: DPoPNonces | None = None,
        now: float | None = None,
    ) -> VerifiedProof:
        """Check the request's DPoP proof; return its key's thumbprint, ``jti`` and end.

        :param values: every ``DPoP`` header value of the request (exactly one is allowed).
        :param method: the request's HTTP method (``htm``).
        :param uri: the request's public URI (``htu``); its query and fragment are ignored.
        :param access_token: the access token sent with the proof (``ath``).
        :param jkt: the token's ``cnf.jkt``; the proof's key must have this thumbprint.
        :param nonces: the server's nonces, when proofs must carry one (section 9).
        :param now: the current time (seconds since the epoch); ``time.time()`` if None.
        :raises DPoPProofError: the proof is missing, malformed, or fails a check
            (``DPoPNonceError``: its nonce is missing or stale).
        :raises DPoPBindingError: the proof's key is not the one ``jkt`` names.
        """
        if now is None:
            now = time.time()
        header, claims, signing_input, signature = _decode(values)
        segment = signing_input[:signing_input.index(b".")]
        known = self._keys.get(segment)
        if known is None:
            known = self._header_key(header)
            if len(self._keys) >= _MAX_KNOWN_HEADERS:
                self._keys.clear()
            self._keys[segment] = known
        alg, key, thumbprint = known
        try:
            key.verify(alg, signing_input, signature)
        except MCPAuthTokenVerificationException:
            raise DPoPProofError("signature is invalid") from None

        jti = claims.get("jti")
        if type(jti) is not str or not jti:
            raise DPoPProofError("jti is missing or not a string")
        if len(jti) > MAX_JTI_LENGTH:
            raise DPoPProofError("jti is too long")
        if claims.get("htm") != method:
            raise DPoPProofError("htm does not match the request method")
        htu = claims.get("htu")
        expected_uri = _normalised_uri(uri)
        if type(htu) is not str or expected_uri is None or _normalised_uri(htu) != expected_uri:
            raise DPoPProofError("htu does not match the request URI")
        iat = claims.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not math.isfinite(iat):
            raise DPoPProofError("iat is missing or not a number")
        if iat < now - self.iat_window:
            raise DPoPProofError("iat is too old")
        if iat > now + self.iat_window:
            raise DPoPProofError("iat is in the future")
        ath = claims.get("ath")
        if ath is None:
            raise DPoPProofError("ath is missing")
        if ath != _b64url(hashlib.sha256(access_token.encode()).digest()):
            raise DPoPProofError("ath does not match the access token")
        if jkt is not None and thumbprint != jkt:
            raise DPoPBindingError("The DPoP proof is signed by another key than the one "
                                   "the token is bound to.")
        nonce = claims.get("nonce")
        if nonces is not None and not nonces.accepts(nonce):
            raise DPoPNonceError("nonce is missing or stale", nonces.current())

        # Last, so that only proofs that passed every other check take room in the cache.
        until = iat + self.iat_window
        if self.replay.seen(jti, until, now):
            raise DPoPProofError("jti was already used")
        return VerifiedProof(thumbprint, jti, until, nonce if type(nonce) is str else None)


    def _header_key(self, header: dict[str, Any]) -> tuple[str, VerificationKey, str]:
        """The checked ``alg``, the key and its thumbprint of a proof's header."""
        if header.get("typ") != _TYP:
            raise DPoPProofError("typ is not dpop+jwt")
        alg = header.get("alg")
        if type(alg) is not str or alg not in self.algorithms:
            raise DPoPProofError("alg is not allowed")
        if "crit" in header:
            raise DPoPProofError("crit is not supported")
        jwk = header.get("jwk")
        if type(jwk) is not dict:
            raise DPoPProofError("jwk is missing")
        if jwk.get("kty") == "oct" or not _PRIVATE_MEMBERS.isdisjoint(jwk):
            raise DPoPProofError("jwk is not a public key")
        try:
            key = key_from_jwk(jwk)
            thumbprint = jwk_thumbprint(jwk)
        except (UnsupportedKeyError, ValueError):
            raise DPoPProofError("jwk is not usable") from None
        if alg not in key.algorithms:
            raise DPoPProofError("alg does not match the jwk")
        return alg, key, thumbprint


def _decode(values: Sequence[str | bytes]) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    if not values:
        raise DPoPProofError("DPoP proof is missing")
    if len(values) > 1:
        raise DPoPProofError("more than one DPoP proof")
    value = values[0]
    try:
        proof = value.decode("ascii") if isinstance(value, bytes) else value
        return decode_jws(proof, MAX_PROOF_BYTES)
    except (MCPAuthTokenVerificationException, ValueError, TypeError):
        raise DPoPProofError("DPoP proof is not a compact JWS") from None


@functools.lru_cache(maxsize=256)  # a client names the same few URIs on every request
def _normalised_uri(uri: str) -> tuple[str, str, int | None, str] | None:
    """``(scheme, host, port, path)`` of an absolute URI: scheme and host case-folded, the
    scheme's default port filled in, the path percent-decoded (as ASGI's ``path`` is) and an
    empty one as ``/`` (RFC 3986 section 6.2), the query and fragment dropped; None when it
    has no ``scheme://host`` or has userinfo."""
    match = _AUTHORITY_URI.match(uri)
    if match is None or "@" in match.group(2):
        return None
    parts = split_authority(match.group(2))
    if parts is None:
        return None
    scheme = match.group(1).lower()
    host, port = parts
    rest = uri[match.end():]
    end = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    return scheme, host, port, unquote(rest[:end]) or "/"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
