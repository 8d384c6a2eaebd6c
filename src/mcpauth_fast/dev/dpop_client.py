"""The client side of DPoP (RFC 9449) for the development tools: a proof key and an httpx auth.

- :class:`DPoPKey`: a private key (ES256 on P-256, or EdDSA on Ed25519) that makes DPoP
  proofs; generated, loaded from a PEM file, or the development key persisted in the state
  directory as ``dpop-key.pem`` (mode 0600, created on first use);
- :func:`dpop_auth`: an ``Auth`` for httpx (or httpx2, which the MCP SDK 2.x client uses)
  that sends ``Authorization: DPoP <token>`` with a fresh proof on every request, and
  follows the resource server's nonces (RFC 9449 section 9).

A token bound to the key carries ``cnf: {"jkt": key.thumbprint}`` (``mcpauth-fast token
--dpop``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import time
from collections.abc import Generator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .keystore import _state_dir, _write_file
from .signing import b64url, encode_jws, export_jwk, jwk_thumbprint

__all__ = ["DPOP_ALGORITHMS", "DPOP_KEY_FILE", "DPoPAuth", "DPoPFlow", "DPoPKey", "dpop_auth"]

#: The proof algorithms a :class:`DPoPKey` signs with: the verifier's defaults.
DPOP_ALGORITHMS: tuple[str, ...] = ("ES256", "EdDSA")
DPOP_KEY_FILE = "dpop-key.pem"

_DPoPPrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _algorithm_of(key: object) -> str | None:
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    return None


class DPoPKey:
    """A DPoP proof key: a P-256 key signs ES256 proofs, an Ed25519 key EdDSA ones.

    :ivar alg: the proofs' algorithm. :ivar jwk: the public JWK (no private member).
    :ivar thumbprint: the JWK's RFC 7638 thumbprint, a bound token's ``cnf.jkt``.
    :raises ValueError: the key is of another type.
    """

    def __init__(self, private_key: _DPoPPrivateKey) -> None:
        alg = _algorithm_of(private_key)
        if alg is None:
            raise ValueError("a DPoP key must be an EC P-256 or an Ed25519 private key")
        self._key = private_key
        self.alg: str = alg
        self.jwk: dict[str, Any] = export_jwk(private_key)
        self.thumbprint: str = jwk_thumbprint(self.jwk)

    @classmethod
    def generate(cls, alg: str = "ES256") -> DPoPKey:
        """A new random key for ``alg`` (one of :data:`DPOP_ALGORITHMS`)."""
        if alg == "ES256":
            return cls(ec.generate_private_key(ec.SECP256R1()))
        if alg == "EdDSA":
            return cls(ed25519.Ed25519PrivateKey.generate())
        raise ValueError(f"alg must be one of {', '.join(DPOP_ALGORITHMS)}, not {alg!r}")

    @classmethod
    def from_pem(cls, data: bytes) -> DPoPKey:
        """The key of an unencrypted PEM private key (PKCS#8 or the traditional format).

        :raises ValueError: not such a key, or of another type.
        """
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # The message names the problem only: never key material.
            raise ValueError(f"not an unencrypted PEM private key ({type(exc).__name__})"
                             ) from None
        if not isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
            raise ValueError("a DPoP key must be an EC P-256 or an Ed25519 private key")
        return cls(key)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DPoPKey:
        """The key in the PEM file at ``path``.

        :raises OSError: the file cannot be read. :raises ValueError: as :meth:`from_pem`.
        """
        try:
            return cls.from_pem(Path(path).read_bytes())
        except ValueError as exc:
            raise ValueError(f"unusable DPoP key in {path}: {exc}") from None

    @classmethod
    def load_or_create(cls, state_dir: str | os.PathLike[str] | None = None) -> DPoPKey:
        """The development DPoP key (ES256) in ``state_dir``, created there on first use.

        :param state_dir: default :func:`.keystore.default_state_dir`.
        :raises ValueError: the file exists but is unusable (delete it to start over).
        """
        directory = _state_dir(state_dir)
        path = directory / DPOP_KEY_FILE
        if not path.exists():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = cls.generate()
            if _write_file(path, key.private_pem(), replace=False):
                return key
        # Another process created it first (or earlier): its key is the one.
        try:
            return cls.load(path)
        except ValueError as exc:
            raise ValueError(f"{exc}; delete the file to create a new one") from None

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self._key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    def proof(self, method: str, url: str, *, access_token: str | None = None,
              nonce: str | None = None, iat: int | None = None, jti: str | None = None) -> str:
        """A DPoP proof (RFC 9449 section 4.2) for one request.

        :param method: the request's method (``htm``). :param url: its URL; ``htu`` is the URL
            without query and fragment.
        :param access_token: the token sent with the proof: its hash is ``ath``.
        :param nonce: the server's latest ``DPoP-Nonce``.
        :param iat: default now. :param jti: default a new random value.
        """
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        claims: dict[str, Any] = {
            "jti": jti if jti is not None else secrets.token_urlsafe(16),
            "htm": method,
            "htu": urlunsplit(urlsplit(url)._replace(query="", fragment="")),
            "iat": iat if iat is not None else int(time.time()),
        }
        if access_token is not None:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        if nonce is not None:
            claims["nonce"] = nonce
        return encode_jws(header, claims, self._key)


class DPoPFlow:
    """The auth flow of :func:`dpop_auth`, whatever the HTTP library (duck-typed requests).

    Each request gets ``Authorization: DPoP <token>`` and a new proof for its method and URL,
    carrying the latest ``DPoP-Nonce`` the server sent (:attr:`nonce`). A 401 whose
    ``WWW-Authenticate`` says ``use_dpop_nonce`` and which brings a nonce is retried once with
    a proof carrying that nonce.
    """

    def __init__(self, key: DPoPKey, access_token: str) -> None:
        self.key = key
        self.access_token = access_token
        self.nonce: str | None = None

    def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        response = yield self._with_proof(request)
        challenge = response.headers.get("www-authenticate", "")
        if (response.status_code == 401 and "use_dpop_nonce" in challenge
                and self._remember_nonce(response)):
            response = yield self._with_proof(request)
        self._remember_nonce(response)

    def _with_proof(self, request: Any) -> Any:
        request.headers["Authorization"] = f"DPoP {self.access_token}"
        request.headers["DPoP"] = self.key.proof(
            request.method, str(request.url), access_token=self.access_token, nonce=self.nonce)
        return request

    def _remember_nonce(self, response: Any) -> bool:
        nonce = response.headers.get("dpop-nonce")
        if nonce:
            self.nonce = nonce
        return bool(nonce)


class DPoPAuth(DPoPFlow, httpx.Auth):
    """:class:`DPoPFlow` as an ``httpx.Auth``; :func:`dpop_auth` makes one for httpx2."""


@functools.cache
def _auth_class(http: ModuleType) -> type[DPoPFlow]:
    if http is httpx:
        return DPoPAuth
    # httpx2's clients accept only its own Auth subclasses.
    return type("DPoPAuth", (DPoPFlow, http.Auth), {"__doc__": DPoPAuth.__doc__})


def dpop_auth(key: DPoPKey, access_token: str, http: ModuleType = httpx) -> Any:
    """An ``Auth`` for the clients of ``http`` (httpx, or httpx2 for the MCP SDK 2.x) that
    sends ``access_token`` DPoP-bound to ``key``: a :class:`DPoPFlow` and an ``http.Auth``
    (typed ``Any``, as the two libraries' ``Auth`` classes are unrelated)."""
    return _auth_class(http)(key, access_token)
