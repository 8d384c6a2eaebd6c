"""The development issuer's opaque tokens and its introspection client, kept in the state dir.

- ``opaque/<sha256 of the token>.json`` (mode 0600): the claims of one opaque access token.
  One file per token, written atomically: ``mcpauth-fast token --opaque`` (another process)
  mints while the issuer serves, with no lock and no lost update. The file is named by the
  token's hash, so a directory listing shows no token. Revoking a token deletes its file;
  expired files are swept when a token is minted.
- ``client.json`` (mode 0600): the introspection client of the resource server,
  :data:`DEV_INTROSPECTION_CLIENT_ID` with a random secret created on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .keystore import _access_token_claims, _state_dir, _write_file

__all__ = [
    "CLIENT_AUTH_METHODS", "CLIENT_FILE", "DEV_INTROSPECTION_CLIENT_ID", "OPAQUE_DIR",
    "OPAQUE_PREFIX", "OpaqueTokens", "dev_client_credentials",
]

#: How the development issuer's ``/introspect`` and ``/revoke`` authenticate clients.
CLIENT_AUTH_METHODS: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
OPAQUE_DIR = "opaque"
CLIENT_FILE = "client.json"
#: The client id the resource server introspects with at the development issuer.
DEV_INTROSPECTION_CLIENT_ID = "mcpauth-fast-dev-resource"
#: Opaque tokens start with this, so a reader of a log or a config knows what they are.
OPAQUE_PREFIX = "mcpo_"


def dev_client_credentials(state_dir: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """``(client_id, client_secret)`` of the introspection client, created on first use."""
    directory = _state_dir(state_dir)
    path = directory / CLIENT_FILE
    if not path.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        record = {"client_id": DEV_INTROSPECTION_CLIENT_ID,
                  "client_secret": secrets.token_urlsafe(24)}
        _write_file(path, json.dumps(record).encode(), replace=False)  # the first one wins
    try:
        record = json.loads(path.read_bytes())
        client_id, secret = record["client_id"], record["client_secret"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"unusable {path} ({type(exc).__name__}); delete it to start over"
                         ) from None
    if not (isinstance(client_id, str) and isinstance(secret, str) and client_id and secret):
        raise ValueError(f"unusable {path}; delete it to start over")
    return client_id, secret


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class OpaqueTokens:
    """The opaque tokens of one state directory (see the module docstring).

    :param state_dir: default :func:`.keystore.default_state_dir`.
    """

    def __init__(self, state_dir: str | os.PathLike[str] | None = None) -> None:
        self.directory: Path = _state_dir(state_dir) / OPAQUE_DIR

    def mint(self, issuer: str, sub: str = "alice",
             scope: str | Iterable[str] | None = "read write",
             aud: str | list[str] | None = None, ttl: float = 3600, **claims: Any) -> str:
        """A new random token whose introspection answers these claims until ``exp``.

        Parameters as ``DevIssuer.mint``; the claims are the same as a JWT's would be.
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sweep()
        token = OPAQUE_PREFIX + secrets.token_urlsafe(32)
        record = _access_token_claims(issuer, sub, scope, aud, ttl, claims)
        _write_file(self.directory / f"{_digest(token)}.json", json.dumps(record).encode(),
                    replace=False)
        return token

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a known, unexpired, unrevoked ``token``, else None."""
        if not token or len(token) > 4096:
            return None
        try:
            record = json.loads((self.directory / f"{_digest(token)}.json").read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        exp = record.get("exp")
        if isinstance(exp, (int, float)) and exp <= time.time():
            return None
        return record

    def revoke(self, token: str) -> bool:
        """Forget ``token``: its introspection answers ``active: false`` from now on.

        :returns: whether it was known.
        """
        try:
            (self.directory / f"{_digest(token)}.json").unlink()
        except FileNotFoundError:
            return False
        return True

    def sweep(self) -> int:
        """Delete the files of expired tokens; return how many."""
        now, swept = time.time(), 0
        for path in self.directory.glob("*.json"):
            try:
                exp = json.loads(path.read_bytes()).get("exp")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(exp, (int, float)) and exp <= now:
                path.unlink(missing_ok=True)
                swept += 1
        return swept
