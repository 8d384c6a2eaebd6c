"""The embedded development issuer: signing keys, discovery metadata, a JWKS endpoint, minting.

For local development and the demo, so that no external identity provider is needed. It holds
one key per algorithm (RS256 on RSA 2048, ES256 on P-256, EdDSA on Ed25519), created on first
use in a state directory (``$MCPAUTH_FAST_DEV_DIR``, else ``~/.cache/mcpauth-fast/dev-issuer``):

- ``keys.json`` (mode 0600): the private keys as PKCS#8 PEM, so that another process (the
  ``mcpauth-fast token`` command) signs with the keys the running issuer publishes;
- ``issuer.json``: the URL of the running issuer, written by :meth:`DevIssuer.start`.

Each key's ``kid`` is its RFC 7638 thumbprint, so it is stable for as long as the key is.
The issuer binds to the loopback interface only: it signs whatever it is asked to.

:func:`export_jwk`, :func:`jwk_thumbprint`, :func:`sign` and :func:`encode_jws` are the
project's one JWS signing implementation; the test helpers build their tokens on them too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

__all__ = [
    "DEFAULT_ISSUER", "DEFAULT_PORT", "DEFAULT_SCOPES", "DEV_ALGORITHMS", "DEV_CLIENT_ID",
    "STATE_DIR_ENV", "DevIssuer", "DevKeys", "default_state_dir", "encode_jws", "export_jwk",
    "jwk_thumbprint", "mint_token", "recorded_issuer", "sign",
]

PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
)
PublicKey: TypeAlias = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

#: The algorithms of the development keys, one key each.
DEV_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
#: The ``client_id`` claim of every minted token.
DEV_CLIENT_ID = "mcpauth-fast-dev"
DEFAULT_PORT = 8765
#: The issuer a token names when none is given and no running issuer recorded its URL.
DEFAULT_ISSUER = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_SCOPES: tuple[str, ...] = ("read", "write")
STATE_DIR_ENV = "MCPAUTH_FAST_DEV_DIR"
KEYS_FILE = "keys.json"
ISSUER_FILE = "issuer.json"
JWKS_MAX_AGE = 300

# Hash objects hold no state: one of each serves every signature.
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()
}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}


# --- JOSE: JWK export, thumbprints, signatures -----------------------------------------------


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_int(value: int, length: int | None = None) -> str:
    return b64url(value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big"))


def _b64url_json(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def export_jwk(key: PrivateKey | PublicKey | bytes) -> dict[str, Any]:
    """The JWK of ``key``, without ``kid``, ``alg`` or ``use``.

    :param key: an RSA, EC (P-256/384/521) or Ed25519/Ed448 key, private or public; or an
        HMAC secret as bytes.
    :returns: the public members only for an asymmetric key (never ``d`` or the CRT values);
        the ``oct`` JWK, which is the secret itself, for bytes.
    :raises TypeError: the key is of another type. :raises ValueError: an unsupported curve.
    """
    if isinstance(key, (bytes, bytearray)):
        return {"kty": "oct", "k": b64url(bytes(key))}
    public: PublicKey = (
        key.public_key()
        if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey,
                            ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
        else key
    )
    if isinstance(public, rsa.RSAPublicKey):
        rsa_numbers = public.public_numbers()
        return {"kty": "RSA", "n": _b64url_int(rsa_numbers.n), "e": _b64url_int(rsa_numbers.e)}
    if isinstance(public, ec.EllipticCurvePublicKey):
        crv = _CURVE_NAMES.get(public.curve.name)
        if crv is None:
            raise ValueError(f"unsupported EC curve {public.curve.name}")
        size = (public.curve.key_size + 7) // 8
        ec_numbers = public.public_numbers()
        return {"kty": "EC", "crv": crv, "x": _b64url_int(ec_numbers.x, size),
                "y": _b64url_int(ec_numbers.y, size)}
    if isinstance(public, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        crv = "Ed25519" if isinstance(public, ed25519.Ed25519PublicKey) else "Ed448"
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": crv, "x": b64url(raw)}
    raise TypeError(f"cannot export a {type(key).__name__} as a JWK")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a JWK, base64url-encoded.

    :raises ValueError: the ``kty`` is not RSA, EC, OKP or oct. :raises KeyError: a required
        member is missing.
    """
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None:
        raise ValueError("cannot compute the thumbprint of a JWK of this kty")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def sign(key: PrivateKey | bytes, alg: str, signing_input: bytes) -> bytes:
    """The JWS signature of ``signing_input`` (RFC 7518).

    RS* and PS* take an RSA key, ES* an EC key (the hash comes from ``alg``, the curve from
    the key; the signature is raw ``r || s``), EdDSA an Ed25519 or Ed448 key, HS* a secret.

    :raises ValueError: ``alg`` is not one of these, or does not fit the key.
    """
    hash_ = _HASHES.get(alg[2:])
    if isinstance(key, (bytes, bytearray)):
        if alg[:2] == "HS" and hash_ is not None:
            return hmac.digest(bytes(key), signing_input, f"sha{alg[2:]}")
    elif isinstance(key, rsa.RSAPrivateKey) and hash_ is not None:
        if alg[:2] == "RS":
            return key.sign(signing_input, padding.PKCS1v15(), hash_)
        if alg[:2] == "PS":
            pss = padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
            return key.sign(signing_input, pss, hash_)
    elif isinstance(key, ec.EllipticCurvePrivateKey) and hash_ is not None:
        if alg[:2] == "ES":
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hash_)))
            size = (key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    elif isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) and alg == "EdDSA":
        return key.sign(signing_input)
    raise ValueError(f"algorithm {alg!r} does not fit a {type(key).__name__}")


def encode_jws(
    header: Mapping[str, Any], claims: Mapping[str, Any], key: PrivateKey | bytes,
    alg: str | None = None,
) -> str:
    """A compact JWS of ``claims`` under ``header``, signed with ``key``.

    :param alg: the signing algorithm; default the header's ``alg``. Given separately so a
        test can sign with one algorithm under a header that names another.
    :raises ValueError: as :func:`sign`.
    """
    signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
    signature = sign(key, alg or header["alg"], signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


# --- The development keys and the state directory --------------------------------------------


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
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
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


def recorded_issuer(state_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The issuer URL a running :class:`DevIssuer` recorded in ``state_dir``, or None."""
    try:
        value = json.loads((_state_dir(state_dir) / ISSUER_FILE).read_bytes()).get("issuer")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


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
    Other parameters as :meth:`DevIssuer.mint`. The keys are created if there are none yet.
    """
    if issuer is None:
        issuer = recorded_issuer(state_dir) or DEFAULT_ISSUER
    keys = DevKeys.load_or_create(state_dir)
    return keys.sign_token(_access_token_claims(issuer, sub, scope, aud, ttl, claims), alg)


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
    :param state_dir: where the keys live; default :func:`default_state_dir`.
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
        }

    def asgi_app(self) -> ASGIApp:
        """The Starlette app serving the two discovery documents and ``/jwks``.

        :raises RuntimeError: as :attr:`issuer`.
        """
        if self._app is None:
            self._app = _build_app(self.metadata(), self.jwks())
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
            raise RuntimeError("serving the development issuer needs uvicorn") from None
        # Binding here, not in uvicorn, makes the port (and so the issuer URL) known up front.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if os.name != "nt":  # on Windows SO_REUSEADDR would let two servers share a port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            if self._given_issuer is None:
                self._issuer = f"http://{self.host}:{sock.getsockname()[1]}"
                self._app = None
            config = uvicorn.Config(self.asgi_app(), lifespan="off", ws="none", log_config=None,
                                    log_level=None, timeout_graceful_shutdown=2)
        except BaseException:
            sock.close()
            raise
        # log_config/log_level None: uvicorn leaves the host process's logging alone.
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                  name="mcpauth-fast-dev-issuer", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(5)
                sock.close()
                raise RuntimeError("the development issuer did not start")
            time.sleep(0.005)
        self._server, self._thread = server, thread
        record = {"issuer": self.issuer, "jwks_uri": self.jwks_uri, "pid": os.getpid()}
        _write_file(self.state_dir / ISSUER_FILE, json.dumps(record).encode(), replace=True)

    def stop(self) -> None:
        """Stop serving and forget the recorded issuer URL; does nothing if not started."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.should_exit = True
        thread.join(10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        # Another issuer on the same state_dir may have recorded itself since: keep its record.
        if recorded_issuer(self.state_dir) == self._issuer:
            (self.state_dir / ISSUER_FILE).unlink(missing_ok=True)
        if self._given_issuer is None:
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


def _build_app(metadata: Mapping[str, Any], jwks: Mapping[str, Any]) -> ASGIApp:
    # Imported here so that minting a token (the CLI) does not pay for Starlette.
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    metadata_body = json.dumps(metadata).encode()
    jwks_body = json.dumps(jwks).encode()
    # Public documents; CORS lets browser-based MCP clients (the inspector) read them.
    cors = {"access-control-allow-origin": "*"}

    async def serve_metadata(request: Request) -> Response:
        return Response(metadata_body, media_type="application/json", headers=cors)

    async def serve_jwks(request: Request) -> Response:
        headers = {**cors, "cache-control": f"max-age={JWKS_MAX_AGE}"}
        return Response(jwks_body, media_type="application/json", headers=headers)

    return Starlette(routes=[
        Route("/.well-known/openid-configuration", serve_metadata, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", serve_metadata, methods=["GET"]),
        Route("/jwks", serve_jwks, methods=["GET"]),
    ])
