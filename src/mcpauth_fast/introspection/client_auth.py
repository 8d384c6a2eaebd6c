"""How the resource server authenticates to an introspection endpoint (RFC 7662 section 2.1).

- ``client_secret_basic`` (RFC 6749 section 2.3.1): ``Authorization: Basic`` of the client id
  and secret, each form-urlencoded first, as the RFC requires (a secret with ``:`` or ``%``
  survives the trip);
- ``client_secret_post``: ``client_id`` and ``client_secret`` as form fields of the request;
- ``private_key_jwt`` (RFC 7523 section 2.2, OpenID Connect Core section 9): a JWT signed with
  the configured private key, ``iss`` = ``sub`` = the client id, ``aud`` = the endpoint (or a
  configured audience, e.g. the issuer), a fresh ``jti``, ``iat`` and an ``exp`` one minute
  later; sent as ``client_assertion`` with its ``client_assertion_type``.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from ..exceptions import MCPAuthConfigException
from ..jws_sign import PrivateKey, encode_jws

__all__ = ["ASSERTION_LIFETIME", "ASSERTION_TYPE", "AUTH_METHODS", "ClientAuth"]

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Seconds a client assertion is valid: long enough for clock skew, short enough to be useless
#: if it leaks (each one also carries a new ``jti``).
ASSERTION_LIFETIME = 60
_ALGORITHMS = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
}
_CURVE_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


def _invalid(message: str) -> MCPAuthConfigException:
    return MCPAuthConfigException("invalid_option", message)


def _load_key(key: Any) -> PrivateKey:
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey,
                        ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return key
    if isinstance(key, str):
        key = key.encode()
    if isinstance(key, bytes):
        try:
            loaded = serialization.load_pem_private_key(key, password=None)
        except (ValueError, TypeError):
            loaded = None  # never quote the key material in the error
        if isinstance(loaded, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey,
                               ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
            return loaded
    raise _invalid("introspection private_key must be an RSA, EC or EdDSA private key "
                   "(a cryptography key object, or unencrypted PEM).")


def _default_alg(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = _CURVE_ALG.get(key.curve.name)
        if alg is None:
            raise _invalid(f"introspection private_key: unsupported curve {key.curve.name}.")
        return alg
    return "EdDSA"


class ClientAuth:
    """The credentials of the resource server at the introspection endpoint.

    :param client_id: the resource server's client id at the authorization server.
    :param client_secret: its secret (``client_secret_basic`` / ``client_secret_post``).
    :param private_key: its private key (``private_key_jwt``): a ``cryptography`` private key
        or an unencrypted PEM.
    :param method: one of :data:`AUTH_METHODS`; default ``private_key_jwt`` when a key is
        given, else ``client_secret_basic`` (the method RFC 6749 requires servers to support).
    :param signing_alg: the assertion's JWS algorithm; default from the key (RS256, ES256 on
        P-256, EdDSA).
    :param key_id: the ``kid`` of the assertion's header, if the server needs one.
    :param assertion_audience: the assertion's ``aud``; default the endpoint URL.
    :param clock: seconds since the epoch, injectable for tests.
    :raises MCPAuthConfigException: a missing or unusable credential, an unknown method.
    """

    def __init__(
        self, client_id: str, *, client_secret: str | None = None, private_key: Any = None,
        method: str | None = None, signing_alg: str | None = None, key_id: str | None = None,
        assertion_audience: str | None = None, clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(client_id, str) or not client_id:
            raise _invalid("introspection needs a client_id (RFC 7662 section 2.1).")
        if method is None:
            method = "private_key_jwt" if private_key is not None else "client_secret_basic"
        if method not in AUTH_METHODS:
            raise _invalid(f"introspection auth_method must be one of {', '.join(AUTH_METHODS)}.")
        self.client_id = client_id
        self.method = method
        self._secret: str | None = None
        self._key: PrivateKey | None = None
        self.signing_alg: str | None = None
        self.key_id = key_id
        self.assertion_audience = assertion_audience
        self._clock = clock
        if method == "private_key_jwt":
            if private_key is None:
                raise _invalid("introspection auth_method private_key_jwt needs a private_key.")
            self._key = _load_key(private_key)
            self.signing_alg = signing_alg or _default_alg(self._key)
            if self.signing_alg not in _ALGORITHMS:
                raise _invalid(f"introspection signing_alg {self.signing_alg!r} is not supported.")
        else:
            if not isinstance(client_secret, str) or not client_secret:
                raise _invalid(f"introspection auth_method {method} needs a client_secret.")
            self._secret = client_secret

    def apply(self, endpoint: str, form: dict[str, str], headers: dict[str, str]) -> None:
        """Add this client's authentication to a request to ``endpoint``."""
        if self.method == "client_secret_basic":
            assert self._secret is not None
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}"
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        elif self.method == "client_secret_post":
            assert self._secret is not None
            form["client_id"] = self.client_id
            form["client_secret"] = self._secret
        else:
            form["client_id"] = self.client_id
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = self.assertion(endpoint)

    def assertion(self, endpoint: str) -> str:
        """A new ``private_key_jwt`` client assertion for ``endpoint`` (RFC 7523)."""
        assert self._key is not None and self.signing_alg is not None
        now = int(self._clock())
        header: dict[str, Any] = {"alg": self.signing_alg, "typ": "JWT"}
        if self.key_id is not None:
            header["kid"] = self.key_id
        claims = {
            "iss": self.client_id, "sub": self.client_id,
            "aud": self.assertion_audience or endpoint,
            "jti": secrets.token_urlsafe(16), "iat": now, "exp": now + ASSERTION_LIFETIME,
        }
        return encode_jws(header, claims, self._key)

    def __repr__(self) -> str:
        # Never the secret or the key.
        return f"ClientAuth(client_id={self.client_id!r}, method={self.method!r})"
