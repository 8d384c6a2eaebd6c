"""The embedded development issuer: discovery metadata, a JWKS, introspection, revocation.

For local development and the demo, so that no external identity provider is needed. The
issuer serves the development keys of :mod:`mcpauth_fast.dev.keystore` (persisted in a state
directory, one key per algorithm), which signs with :mod:`mcpauth_fast.dev.signing`. It also
mints opaque tokens (:mod:`mcpauth_fast.dev.opaque`) and answers for them at ``/introspect``
(RFC 7662) until they expire or are revoked at ``/revoke`` (RFC 7009); both endpoints take
the development client's ``client_secret_basic`` or ``client_secret_post``. It binds to the
loopback interface only: it signs whatever it is asked to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .keystore import (
    DEV_ALGORITHMS,
    ISSUER_FILE,
    DevKeys,
    _access_token_claims,
    _state_dir,
    _write_file,
    recorded_issuer,
)
from .opaque import CLIENT_AUTH_METHODS, OpaqueTokens, dev_client_credentials

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

__all__ = ["DEFAULT_SCOPES", "DevIssuer"]

DEFAULT_SCOPES: tuple[str, ...] = ("read", "write")
JWKS_MAX_AGE = 300


# --- The issuer: discovery metadata and JWKS over HTTP ---------------------------------------


def _loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the development issuer binds to 127.0.0.1 only, not {host!r}")
    return host


class DevIssuer:
    """The development issuer: discovery metadata and a JWKS, served on 127.0.0.1.

    ``start()`` serves it with uvicorn in a background thread; or mount :meth:`asgi_app` in an
    app of your own (then give ``issuer``: the URL where it is mounted). Usable as a context
    manager and an async context manager (start on entry, stop on exit).

    :param host: a loopback IPv4 address or ``"localhost"``.
    :param port: the port to bind; 0 picks a free one.
    :param state_dir: where the keys live; default :func:`.keystore.default_state_dir`.
    :param issuer: the issuer URL; default ``http://HOST:PORT`` once started.
    :param scopes: the ``scopes_supported`` of the metadata.
    :raises ValueError: ``host`` is not a loopback address, or ``port`` is out of range.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0,
        state_dir: str | os.PathLike[str] | None = None, issuer: str | None = None,
        *, scopes: Iterable[str] = DEFAULT_SCOPES,
    ) -> None:
        self.host = _loopback(host)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 to 65535, not {port}")
        self.port = port
        self.state_dir = _state_dir(state_dir)
        self.scopes = tuple(scopes)
        self._given_issuer = issuer
        self._issuer = issuer
        self._keys: DevKeys | None = None
        self._keys_lock = threading.Lock()
        self._app: ASGIApp | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def keys(self) -> DevKeys:
        """The signing keys, loaded from (or created in) ``state_dir`` on first use."""
        with self._keys_lock:
            if self._keys is None:
                self._keys = DevKeys.load_or_create(self.state_dir)
            return self._keys

    @property
    def issuer(self) -> str:
        """The issuer URL. :raises RuntimeError: not started and no ``issuer`` given."""
        if self._issuer is None:
            raise RuntimeError("the issuer URL is known once start() has bound a port")
        return self._issuer

    @property
    def opaque(self) -> OpaqueTokens:
        """The opaque tokens of ``state_dir``."""
        return OpaqueTokens(self.state_dir)

    @property
    def client_credentials(self) -> tuple[str, str]:
        """``(client_id, client_secret)`` for ``/introspect`` and ``/revoke``, created in
        ``state_dir/client.json`` on first use."""
        return dev_client_credentials(self.state_dir)

    @property
    def introspection_endpoint(self) -> str:
        """The URL of ``/introspect``. :raises RuntimeError: as :attr:`issuer`."""
        return f"{self.issuer.rstrip('/')}/introspect"

    @property
    def revocation_endpoint(self) -> str:
        """The URL of ``/revoke``. :raises RuntimeError: as :attr:`issuer`."""
        return f"{self.issuer.rstrip('/')}/revoke"

    @property
    def jwks_uri(self) -> str:
        """The URL of the JWKS. :raises RuntimeError: as :attr:`issuer`."""
        return f"{self.issuer.rstrip('/')}/jwks"

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set this issuer serves."""
        return self.keys.jwks()

    def metadata(self) -> dict[str, Any]:
        """The RFC 8414 / OpenID discovery document. :raises RuntimeError: as :attr:`issuer`."""
        base = self.issuer.rstrip("/")
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(self.scopes),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(DEV_ALGORITHMS),
            "introspection_endpoint": self.introspection_endpoint,
            "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "revocation_endpoint": self.revocation_endpoint,
            "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        }

    def asgi_app(self) -> ASGIApp:
        """The Starlette app serving the two discovery documents, ``/jwks``, ``/introspect``
        and ``/revoke``.

        :raises RuntimeError: as :attr:`issuer`.
        """
        if self._app is None:
            from .endpoints import build_app

            self._app = build_app(self.metadata(), self.jwks(), self.opaque,
                                  self.client_credentials, JWKS_MAX_AGE)
        return self._app

    def mint(
        self, sub: str = "alice", scope: str | Iterable[str] | None = "read write",
        aud: str | list[str] | None = None, ttl: float = 3600, alg: str = "RS256",
        **claims: Any,
    ) -> str:
        """Mint an access token (RFC 9068 shape) signed with this issuer's key for ``alg``.

        :param sub: the subject. :param scope: a space-separated string or the scopes; None
            leaves the claim out. :param aud: the audience, if any. :param ttl: seconds until
            ``exp``. :param alg: ``"RS256"``, ``"ES256"`` or ``"EdDSA"``.
        :param claims: extra claims; they override the defaults (``iss``, ``exp``, ...).
        :returns: the compact JWS, with ``iss, sub, aud, scope, iat, nbf, exp, jti, client_id``.
        :raises ValueError: an unknown ``alg``. :raises RuntimeError: as :attr:`issuer`.
        """
        return self.keys.sign_token(
            _access_token_claims(self.issuer, sub, scope, aud, ttl, claims), alg
        )

    def mint_opaque(
        self, sub: str = "alice", scope: str | Iterable[str] | None = "read write",
        aud: str | list[str] | None = None, ttl: float = 3600, **claims: Any,
    ) -> str:
        """Mint an opaque access token: random, its claims kept in ``state_dir``, answered
        for at ``/introspect`` until ``exp`` or a revocation. Parameters as :meth:`mint`.

        :raises RuntimeError: as :attr:`issuer`.
        """
        return self.opaque.mint(self.issuer, sub, scope, aud, ttl, **claims)

    def revoke(self, token: str) -> bool:
        """Revoke an opaque token (as ``/revoke`` does); return whether it was known."""
        return self.opaque.revoke(token)

    def start(self) -> None:
        """Serve in a background thread; return once connections are accepted.

        Records the issuer URL in ``state_dir/issuer.json`` for ``mcpauth-fast token``.

        :raises RuntimeError: already started, uvicorn is missing, or the server did not start.
        :raises OSError: the port cannot be bound.
        """
        if self._thread is not None:
            raise RuntimeError("the development issuer is already started")
        try:
            import uvicorn
        except ImportError:
            raise RuntimeError("serving the development issuer needs uvicorn, which is not a "
                               "dependency: pip install 'mcpauth-fast[dev]'") from None
        # Binding here, not in uvicorn, makes the port (and so the issuer URL) known up front.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server: uvicorn.Server | None = None
        thread: threading.Thread | None = None
        try:
            if os.name != "nt":  # on Windows SO_REUSEADDR would let two servers share a port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            if self._given_issuer is None:
                self._issuer, self._app = f"http://{self.host}:{sock.getsockname()[1]}", None
            # log_config/log_level None: uvicorn leaves the host process's logging alone.
            server = uvicorn.Server(uvicorn.Config(
                self.asgi_app(), lifespan="off", ws="none", log_config=None, log_level=None,
                timeout_graceful_shutdown=2))
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                      name="mcpauth-fast-dev-issuer", daemon=True)
            thread.start()
            deadline = time.monotonic() + 10
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the development issuer did not start")
                time.sleep(0.005)
            record = {"issuer": self.issuer, "jwks_uri": self.jwks_uri, "pid": os.getpid()}
            _write_file(self.state_dir / ISSUER_FILE, json.dumps(record).encode(), replace=True)
        except BaseException:
            self._shut_down(server, thread)
            sock.close()
            raise
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving and forget the recorded issuer URL; does nothing if not started."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        # Another issuer on the same state_dir may have recorded itself since: keep its record.
        if recorded_issuer(self.state_dir) == self._issuer:
            (self.state_dir / ISSUER_FILE).unlink(missing_ok=True)
        self._shut_down(server, thread)

    def _shut_down(self, server: uvicorn.Server | None, thread: threading.Thread | None) -> None:
        if server is not None and thread is not None and thread.is_alive():
            server.should_exit = True
            thread.join(10)
            if thread.is_alive():
                server.force_exit = True
                thread.join(5)
        if self._given_issuer is None:  # the next start() may bind another port
            self._issuer = self._app = None

    def __enter__(self) -> DevIssuer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> DevIssuer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

