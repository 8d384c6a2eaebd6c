"""DPoP at the protected resource: the ``dpop=`` option of ``bearer_auth_middleware``.

RFC 9449 section 7: a request with ``Authorization: DPoP <token>`` carries a proof in a
``DPoP`` header. The token is verified (and cached) as a Bearer token is; its ``cnf.jkt``
must name the proof's key, and the proof is checked on every request, cache hit or not.
A DPoP-bound token sent as a Bearer token is refused (section 7.2), and with
``required`` so is every Bearer token. Used proofs are remembered in this process and, with
the shared tier, in Redis, so a proof replayed to another worker is refused too.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._accel import parse_bearer
from ..exceptions import (
    BearerAuthExceptionCode,
    DPoPBindingError,
    DPoPProofError,
    MCPAuthBearerAuthException,
    MCPAuthConfigException,
    invalid_request,
)
from ..types import AuthInfo
from ..urls import url_origin
from .nonce import DEFAULT_NONCE_LIFETIME, DPoPNonces
from .proof import DEFAULT_DPOP_ALGORITHMS, DEFAULT_IAT_WINDOW, DPoPProofVerifier, VerifiedProof
from .replay import DEFAULT_MAX_JTIS, ReplayCache

if TYPE_CHECKING:
    from ..shared.tier import SharedTier

__all__ = ["DPoPOptions", "DPoPResource", "bound_key"]

_DPOP = b"dpop"
_SCHEME_LENGTH = 4


@dataclass(frozen=True)
class DPoPOptions:
    """The ``dpop={...}`` options of a protected resource.

    :param required: refuse Bearer tokens: every request needs a DPoP-bound token and its
        proof. Otherwise both schemes are accepted, and only a DPoP-bound token sent as a
        Bearer token is refused.
    :param algorithms: the accepted proof algorithms (``algs`` of the challenge).
    :param iat_window: seconds a proof's ``iat`` may be before or after the server's clock.
    :param nonce: require a server nonce in every proof (``use_dpop_nonce``).
    :param nonce_secret: the secret of the nonces, at least 32 bytes, the same on every
        worker. Default: derived from the shared cache's ``key`` when there is one, else a
        random one of this process (a nonce then works only with the worker that made it).
    :param nonce_lifetime: seconds of one nonce window (a nonce lives one to two of them).
    :param public_url: the resource's public URL (its scheme, host and port are what proofs'
        ``htu`` must name, whatever the proxy in front says); default the ``resource``,
        else the request's own scheme and ``Host``.
    :param max_replay_entries: proof ``jti`` values this process remembers.
    """

    required: bool = False
    algorithms: tuple[str, ...] = DEFAULT_DPOP_ALGORITHMS
    iat_window: float = DEFAULT_IAT_WINDOW
    nonce: bool = False
    nonce_secret: bytes | None = None
    nonce_lifetime: float = DEFAULT_NONCE_LIFETIME
    public_url: str | None = None
    max_replay_entries: int = DEFAULT_MAX_JTIS

    @classmethod
    def from_option(cls, option: bool | Mapping[str, Any]) -> DPoPOptions:
        """The options of ``dpop=True`` or ``dpop={...}``.

        :raises MCPAuthConfigException: an unknown option or a value of the wrong type.
        """
        if option is True:
            return cls()
        if not isinstance(option, Mapping):
            raise _invalid("`dpop` must be True or a dict of options.")
        known = cls.__dataclass_fields__
        unknown = sorted(set(option) - set(known))
        if unknown:
            raise _invalid(f"Unknown dpop option(s): {', '.join(unknown)}.")
        values = dict(option)
        if "algorithms" in values:
            if isinstance(values["algorithms"], str):
                raise _invalid("dpop `algorithms` must be a list of algorithm names.")
            values["algorithms"] = tuple(values["algorithms"])
        secret = values.get("nonce_secret")
        if isinstance(secret, str):
            values["nonce_secret"] = secret.encode()
        elif secret is not None and not isinstance(secret, bytes):
            raise _invalid("dpop `nonce_secret` must be bytes or a string.")
        public_url = values.get("public_url")
        if public_url is not None and (not isinstance(public_url, str)
                                       or url_origin(public_url) is None):
            raise _invalid("dpop `public_url` must be an absolute http(s) URL.")
        for name in ("required", "nonce"):
            if name in values and not isinstance(values[name], bool):
                raise _invalid(f"dpop `{name}` must be true or false.")
        for name in ("iat_window", "nonce_lifetime"):
            value = values.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not math.isfinite(value) or value <= 0):
                raise _invalid(f"dpop `{name}` must be a positive number of seconds.")
        return cls(**values)


def _invalid(message: str) -> MCPAuthConfigException:
    return MCPAuthConfigException("invalid_option", message)


def bound_key(info: AuthInfo) -> str | None:
    """The ``cnf.jkt`` a token is bound to (RFC 9449 section 6), or None."""
    cnf = info.claims.get("cnf")
    if not isinstance(cnf, Mapping):
        return None
    jkt = cnf.get("jkt")
    return jkt if type(jkt) is str else None


def dpop_token(authorization: bytes, max_token_bytes: int) -> str | None:
    """The token of an ``Authorization: DPoP <token>`` value; None for another scheme.

    :raises MCPAuthBearerAuthException: ``invalid_request`` for a DPoP credential of bad
        syntax; ``invalid_token`` for a token too long or of other characters than token68.
    """
    if authorization[:_SCHEME_LENGTH].lower() != _DPOP:
        return None
    rest = authorization[_SCHEME_LENGTH:]
    if rest and rest[0] != 0x20:
        return None  # "DPoPx ..." is another scheme
    try:
        # The token68 of RFC 9449 is the b64token of RFC 6750: the same parse, under its name.
        return parse_bearer(b"Bearer" + rest, max_token_bytes)
    except MCPAuthBearerAuthException as error:
        if error.code == BearerAuthExceptionCode.INVALID_TOKEN:
            raise
        raise invalid_request('Invalid `Authorization` header format. Expected '
                              '"DPoP <token>" and a DPoP proof header.') from None


class DPoPResource:
    """The DPoP checks of one middleware.

    :param options: its ``dpop`` options.
    :param resource: the protected resource's URL, if any (the default public URL).
    :param tier: the shared tier, whose Redis (when configured) remembers used proofs for
        every worker, and whose key the nonces' secret is derived from.
    """

    def __init__(self, options: DPoPOptions, resource: str | None = None,
                 tier: SharedTier | None = None) -> None:
        self.required = options.required
        try:
            self.verifier = DPoPProofVerifier(
                algorithms=options.algorithms, iat_window=options.iat_window,
                replay=ReplayCache(options.max_replay_entries))
        except ValueError as error:
            raise _invalid(f"Invalid dpop option: {error}") from None
        self.algorithms = " ".join(dict.fromkeys(options.algorithms))
        shared = tier.config if tier is not None else None
        self.nonces: DPoPNonces | None = None
        if options.nonce:
            secret = options.nonce_secret
            if secret is None:
                secret = (hmac.digest(shared.key, b"mcpauth-fast dpop nonces", "sha256")
                          if shared is not None else secrets.token_bytes(32))
            try:
                self.nonces = DPoPNonces(secret, options.nonce_lifetime)
            except ValueError as error:
                raise _invalid(f"Invalid dpop option: {error}") from None
        public = options.public_url or resource
        self._origin = None
        if public is not None:
            origin = url_origin(public)
            if origin is not None:
                scheme, host, port = origin
                self._origin = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
        self._tier = tier if tier is not None and tier.link is not None else None
        self._replays = tier.namespace("dpop", "jti") if tier is not None else ""

    def uri(self, scope: Mapping[str, Any]) -> str:
        """The public URI of the request (the ``htu`` its proof must name)."""
        origin = self._origin
        if origin is None:
            host = next((value for name, value in scope["headers"]
                         if name.lower() == b"host"), b"")
            origin = f"{scope.get('scheme', 'http')}://{host.decode('latin-1')}"
        path: str = scope["path"]
        return origin + path

    async def check(self, scope: Mapping[str, Any], token: str, info: AuthInfo
                    ) -> VerifiedProof:
        """Check the proof of a request that sent ``token`` with the DPoP scheme.

        :raises DPoPBindingError: the token is not bound to a key, or to another one.
        :raises DPoPProofError: the proof is missing, wrong, replayed, or lacks the nonce.
        """
        jkt = bound_key(info)
        if jkt is None:
            raise DPoPBindingError("The token is not bound to a DPoP key.")
        proofs = [value for name, value in scope["headers"]
                  if len(name) == _SCHEME_LENGTH and name.lower() == _DPOP]
        proof = self.verifier.verify(proofs, method=scope.get("method", "GET"),
                                     uri=self.uri(scope), access_token=token, jkt=jkt,
                                     nonces=self.nonces)
        tier = self._tier
        if tier is not None:
            # Redis unavailable (None): this process's memory is all there is, as for tokens.
            first = await tier.claim(self._replays, f"{proof.jkt}\0{proof.jti}",
                                     proof.until - time.time())
            if first is False:
                raise DPoPProofError("jti was already used")
        return proof

    def check_bearer(self, info: AuthInfo) -> None:
        """Refuse a Bearer token where DPoP is required, or one bound to a DPoP key."""
        if self.required:
            raise DPoPBindingError("This resource requires DPoP: send the token as "
                                   "`Authorization: DPoP <token>` with a DPoP proof.")
        if bound_key(info) is not None:
            raise DPoPBindingError("The token is bound to a DPoP key: send it as "
                                   "`Authorization: DPoP <token>` with a DPoP proof.")

    def fresh_nonce(self, proof: VerifiedProof) -> str | None:
        """The nonce to send with the response, when the proof's is not the current one."""
        nonces = self.nonces
        if nonces is None:
            return None
        current = nonces.current()
        return None if proof.nonce == current else current
