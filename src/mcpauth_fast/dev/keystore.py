"""The development issuer's persisted state: its signing keys, its recorded URL, minting.

One key per algorithm (RS256 on RSA 2048, ES256 on P-256, EdDSA on Ed25519), created on first
use in a state directory (``$MCPAUTH_FAST_DEV_DIR``, else ``~/.cache/mcpauth-fast/dev-issuer``):

- ``keys.json`` (mode 0600): the private keys as PKCS#8 PEM, so that another process (the
  ``mcpauth-fast token`` command) signs with the keys the running issuer publishes;
- ``issuer.json``: the URL of the running issuer, written by ``DevIssuer.start()``.

Each key's ``kid`` is its RFC 7638 thumbprint, so it is stable for as long as the key is.
:func:`mint_token` signs with these keys without a server (the CLI); the server itself is in
:mod:`mcpauth_fast.dev.issuer`.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .signing import PrivateKey, encode_jws, export_jwk, jwk_thumbprint

__all__ = [
    "DEFAULT_ISSUER", "DEFAULT_PORT", "DEV_ALGORITHMS", "DEV_CLIENT_ID", "ISSUER_FILE",
    "KEYS_FILE", "STATE_DIR_ENV", "DevKeys", "default_state_dir", "mint_token",
    "recorded_issuer",
]

#: The algorithms of the development keys, one key each.
DEV_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
#: The ``client_id`` claim of every minted token.
DEV_CLIENT_ID = "mcpauth-fast-dev"
DEFAULT_PORT = 8765
#: The issuer a token names when none is given and no running issuer recorded its URL.
DEFAULT_ISSUER = f"http://127.0.0.1:{DEFAULT_PORT}"
STATE_DIR_ENV = "MCPAUTH_FAST_DEV_DIR"
KEYS_FILE = "keys.json"
ISSUER_FILE = "issuer.json"


# --- The state directory ---------------------------------------------------------------------


def default_state_dir() -> Path:
    """``$MCPAUTH_FAST_DEV_DIR`` if set, else ``~/.cache/mcpauth-fast/dev-issuer``."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "mcpauth-fast" / "dev-issuer"


def _state_dir(state_dir: str | os.PathLike[str] | None) -> Path:
    return Path(state_dir) if state_dir is not None else default_state_dir()


def _write_file(path: Path, data: bytes, *, replace: bool) -> bool:
    """Write ``data`` to ``path`` atomically, mode 0600: readers never see half a file.

    With ``replace=False`` an existing file is kept and False returned: when two processes
    create the keys at once, one set wins and both use it.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


def recorded_issuer(state_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The issuer URL a running ``DevIssuer`` recorded in ``state_dir``, or None."""
    try:
        value = json.loads((_state_dir(state_dir) / ISSUER_FILE).read_bytes()).get("issuer")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


# --- The development keys --------------------------------------------------------------------


def _generate(alg: str) -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _checked(alg: str, key: object) -> PrivateKey | None:
    if alg == "RS256" and isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    if alg == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey):
        return key if isinstance(key.curve, ec.SECP256R1) else None
    if alg == "EdDSA" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    return None


class DevKeys:
    """The development issuer's signing keys, one per algorithm of :data:`DEV_ALGORITHMS`.

    :ivar kids: the ``kid`` (RFC 7638 thumbprint) of each algorithm's key.
    """

    def __init__(self, keys: Mapping[str, PrivateKey]) -> None:
        self._keys = dict(keys)
        self.kids = {alg: jwk_thumbprint(export_jwk(key)) for alg, key in self._keys.items()}

    @classmethod
    def load_or_create(cls, state_dir: str | os.PathLike[str] | None = None) -> DevKeys:
        """The keys persisted in ``state_dir``, created there (mode 0600) if there are none.

        :param state_dir: default :func:`default_state_dir`.
        :raises ValueError: the key file exists but cannot be used (delete it to start over).
        :raises OSError: the directory or file cannot be created.
        """
        directory = _state_dir(state_dir)
        path = directory / KEYS_FILE
        if not path.exists():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            keys = {alg: _generate(alg) for alg in DEV_ALGORITHMS}
            if _write_file(path, cls._dump(keys), replace=False):
                return cls(keys)
        return cls(cls._load(path))

    @staticmethod
    def _dump(keys: Mapping[str, PrivateKey]) -> bytes:
        entries = [
            {"alg": alg, "kid": jwk_thumbprint(export_jwk(key)), "pem": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode("ascii")}
            for alg, key in keys.items()
        ]
        return json.dumps({"keys": entries}, indent=1).encode()

    @staticmethod
    def _load(path: Path) -> dict[str, PrivateKey]:
        keys: dict[str, PrivateKey] = {}
        try:
            pems = {entry["alg"]: entry["pem"] for entry in json.loads(path.read_bytes())["keys"]}
            for alg in DEV_ALGORITHMS:
                key = _checked(alg, serialization.load_pem_private_key(
                    pems[alg].encode("ascii"), password=None))
                if key is None:
                    raise ValueError(f"the {alg} key is of the wrong type")
                keys[alg] = key
        except (ValueError, KeyError, TypeError, AttributeError, UnsupportedAlgorithm) as exc:
            # The message names the problem only: never key material.
            raise ValueError(
                f"unusable development keys in {path} ({type(exc).__name__}: {exc}); "
                "delete the file to create new ones"
            ) from None
        return keys

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set: ``kid``, ``alg`` and ``use`` on each key, no private member."""
        return {"keys": [
            {**export_jwk(key), "kid": self.kids[alg], "alg": alg, "use": "sig"}
            for alg, key in self._keys.items()
        ]}

    def sign_token(self, claims: Mapping[str, Any], alg: str = "RS256") -> str:
        """A compact JWS of ``claims``, header ``{"alg", "kid", "typ": "at+jwt"}``.

        :raises ValueError: ``alg`` is not one of :data:`DEV_ALGORITHMS`.
        """
        key = self._keys.get(alg)
        if key is None:
            raise ValueError(f"alg must be one of {', '.join(self._keys)}, not {alg!r}")
        return encode_jws({"alg": alg, "kid": self.kids[alg], "typ": "at+jwt"}, claims, key)


# --- Minting ---------------------------------------------------------------------------------


def _access_token_claims(
    issuer: str, sub: str, scope: str | Iterable[str] | None, aud: str | list[str] | None,
    ttl: float, extra: Mapping[str, Any],
) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer, "sub": sub}
    if aud is not None:
        claims["aud"] = aud
    if scope is not None:
        claims["scope"] = scope if isinstance(scope, str) else " ".join(scope)
    claims.update(iat=now, nbf=now, exp=now + int(ttl), jti=secrets.token_urlsafe(16),
                  client_id=DEV_CLIENT_ID)
    claims.update(extra)
    return claims


def mint_token(
    state_dir: str | os.PathLike[str] | None = None, issuer: str | None = None, *,
    sub: str = "alice", scope: str | Iterable[str] | None = "read write",
    aud: str | list[str] | None = None, ttl: float = 3600, alg: str = "RS256", **claims: Any,
) -> str:
    """Mint an access token with the persisted development keys, without a server.

    :param issuer: the ``iss`` claim; default the URL the running issuer recorded in
        ``state_dir``, else :data:`DEFAULT_ISSUER`.
    Other parameters as ``DevIssuer.mint``. The keys are created if there are none yet.
    """
    if issuer is None:
        issuer = recorded_issuer(state_dir) or DEFAULT_ISSUER
    keys = DevKeys.load_or_create(state_dir)
    return keys.sign_token(_access_token_claims(issuer, sub, scope, aud, ttl, claims), alg)
