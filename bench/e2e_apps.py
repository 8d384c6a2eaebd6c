"""The apps of the end-to-end benchmark: one tiny Starlette JSON route, three ways of guarding it.

- ``noauth``: the route alone, the reference of every ratio;
- ``floor``: the route plus the one thing no verifier can skip, a bare RS256 signature check of
  the bearer token (split at the last dot, base64url-decode, ``public_key.verify``) with the
  key fetched once at startup: no JWT parsing, no claims, no cache. The ceiling of the
  distinct-token runs on this machine;
- ``fast``: mcpauth-fast, ``MCPAuth(server=AuthServerConfig(...))`` and
  ``bearer_auth_middleware("jwt", audience=..., required_scopes=["read"])``, its key set fetched
  over HTTP from the ``jwks_uri`` of the metadata (the harness serves it on 127.0.0.1);
- ``mcpauth``: the same configuration with ``mcpauth`` 0.1.1 (same metadata, same JWKS, same
  audience and scope), the library mcpauth-fast replaces.

Each route answers ``GET /whoami`` with ``{"subject": ...}`` (``"anonymous"`` without auth), the
subject read through ``MCPAuth.auth_info`` as an MCP tool would (the fast app also answers
``GET /_bench/cache``, behind the same middleware, with its token cache's counters). One app
per process, served by uvicorn with uvloop and httptools, one worker, no access log (the same
for every app)::

    python bench/e2e_apps.py fast --port 8000 --issuer http://127.0.0.1:8765 \\
        --jwks-uri http://127.0.0.1:8765/jwks \\
        --audience https://mcp.example.com/mcp

Arguments fall back to ``E2E_APP``, ``E2E_PORT``, ``E2E_ISSUER``, ``E2E_JWKS_URI`` and
``E2E_AUDIENCE``. ``python bench/e2e_apps.py --info`` prints the versions this process serves
with (the harness records them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

APPS = ("noauth", "floor", "fast", "mcpauth", "fast-opaque", "fast-metrics")
#: The contenders of both end-to-end runs, (name, app, tokens): an app and the tokens it is
#: sent, one repeated ("same") or more than the cache holds ("distinct"). The order of odd
#: rounds (even rounds run it backwards).
CONTENDERS = (
    ("noauth", "noauth", "same"),
    ("fast-same", "fast", "same"),
    ("floor-distinct", "floor", "distinct"),
    ("fast-distinct", "fast", "distinct"),
    ("mcpauth-same", "mcpauth", "same"),
    ("mcpauth-distinct", "mcpauth", "distinct"),
)
#: The scope every request needs; the harness's good tokens carry it.
REQUIRED_SCOPES = ["read"]


def _metadata(issuer: str, jwks_uri: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": jwks_uri,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
    }


def noauth_app() -> ASGIApp:
    """The reference: the route with nothing in front of it."""

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"subject": "anonymous"})

    return Starlette(routes=[Route("/whoami", whoami, methods=["GET"])])


def floor_app(jwks_uri: str) -> ASGIApp:
    """The route plus a bare RS256 signature check of the bearer token (401 when it fails)."""
    import base64
    import urllib.request

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    def number(value: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")

    with urllib.request.urlopen(jwks_uri, timeout=10) as response:  # loopback, at startup
        jwks = json.load(response)
    jwk = next(k for k in jwks["keys"] if k.get("alg") == "RS256")
    public = rsa.RSAPublicNumbers(number(jwk["e"]), number(jwk["n"])).public_key()
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    async def whoami(request: Request) -> JSONResponse:
        token = request.headers.get("authorization", "")[7:]
        signing_input, _, signature = token.rpartition(".")
        try:
            public.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
                          signing_input.encode("ascii"), pkcs1, sha256)
        except (InvalidSignature, ValueError):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"subject": "anonymous"})

    return Starlette(routes=[Route("/whoami", whoami, methods=["GET"])])


def _guarded(mcp_auth_class: Any, config: Any, issuer: str, jwks_uri: str,
             audience: str, dpop: Any = None) -> tuple[Any, Any]:
    """``(MCPAuth, its JWT middleware)`` of either library (the same names in both);
    ``dpop``, when given, is mcpauth-fast's ``dpop=`` option."""
    mcp_auth = mcp_auth_class(server=config.AuthServerConfig(
        type=config.AuthServerType.OAUTH,
        metadata=config.AuthorizationServerMetadata(**_metadata(issuer, jwks_uri))))
    options = {} if dpop is None else {"dpop": dpop}
    bearer_auth = mcp_auth.bearer_auth_middleware(
        "jwt", audience=audience, required_scopes=REQUIRED_SCOPES, **options)
    return mcp_auth, bearer_auth


def _whoami_app(mcp_auth: Any, bearer_auth: Any, *routes: Route) -> ASGIApp:
    """The route behind ``bearer_auth``, the subject read through ``mcp_auth.auth_info``."""

    async def whoami(request: Request) -> JSONResponse:
        info = mcp_auth.auth_info
        assert info is not None
        return JSONResponse({"subject": info.subject})

    return Starlette(routes=[Route("/whoami", whoami, methods=["GET"]), *routes],
                     middleware=[Middleware(bearer_auth)])


def fast_app(issuer: str, jwks_uri: str, audience: str, dpop: Any = None) -> ASGIApp:
    """mcpauth-fast in JWT mode (default algorithm allow-list, default cache size); with
    ``dpop`` (``True`` or a dict), its ``dpop=`` option (bench/dpop_instructions.py)."""
    from mcpauth_fast import MCPAuth, config
    from mcpauth_fast.verifier import JwtVerifier

    mcp_auth, bearer_auth = _guarded(MCPAuth, config, issuer, jwks_uri, audience, dpop)
    verifier = bearer_auth.config.verifier
    assert isinstance(verifier, JwtVerifier)

    async def cache_info(request: Request) -> JSONResponse:
        # For the harness (with a good token, like any route here): the cache's counters
        # show that the "distinct" runs miss and the "same" runs hit.
        return JSONResponse(verifier.cache.info())

    routes = [Route("/_bench/cache", cache_info, methods=["GET"])]
    try:  # an mcpauth-fast from before its metrics (a side-by-side run of two versions)
        from mcpauth_fast.metrics.prometheus import register
    except ImportError:
        return _whoami_app(mcp_auth, bearer_auth, *routes)
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    register(mcp_auth, registry)

    async def metrics(request: Request) -> Response:
        # A Prometheus scrape of the decisions (bench/hostile.py checks them against what it
        # sent); behind the middleware too, so the scrape counts itself as let in.
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes.append(Route("/_bench/metrics", metrics, methods=["GET"]))
    return _whoami_app(mcp_auth, bearer_auth, *routes)


def fast_metrics_app(issuer: str, jwks_uri: str, audience: str) -> ASGIApp:
    """The fast app with every metric on: a Prometheus collector, OpenTelemetry instruments
    and the outcome on each request's span (none is recording here: what the marking costs
    when no tracer samples the request)."""
    from mcpauth_fast import MCPAuth, config
    from mcpauth_fast.metrics.otel import instrument
    from mcpauth_fast.metrics.prometheus import register

    mcp_auth, bearer_auth = _guarded(MCPAuth, config, issuer, jwks_uri, audience)
    register(mcp_auth)
    instrument(mcp_auth, span_attributes=True)
    return _whoami_app(mcp_auth, bearer_auth)


def fast_opaque_app(issuer: str, jwks_uri: str, audience: str) -> ASGIApp:
    """mcpauth-fast in introspection mode (RFC 7662) against the dev issuer's ``/introspect``,
    with the dev client's credentials from the issuer's state directory (``E2E_DEV_STATE``);
    answers are kept for an hour, so a repeated token is served from the local tier."""
    from mcpauth_fast import MCPAuth, config
    from mcpauth_fast.dev.opaque import dev_client_credentials

    client_id, client_secret = dev_client_credentials(os.environ["E2E_DEV_STATE"])
    metadata = {**_metadata(issuer, jwks_uri), "introspection_endpoint": f"{issuer}/introspect"}
    mcp_auth = MCPAuth(server=config.AuthServerConfig(
        type=config.AuthServerType.OAUTH,
        metadata=config.AuthorizationServerMetadata(**metadata)))
    bearer_auth = mcp_auth.bearer_auth_middleware(
        "introspection", audience=audience, required_scopes=REQUIRED_SCOPES,
        introspection={"client_id": client_id, "client_secret": client_secret,
                       "max_cache_seconds": 3600})
    return _whoami_app(mcp_auth, bearer_auth)


def mcpauth_app(issuer: str, jwks_uri: str, audience: str) -> ASGIApp:
    """mcpauth 0.1.1, configured as the mcpauth-fast app is."""
    from mcpauth import MCPAuth, config

    return _whoami_app(*_guarded(MCPAuth, config, issuer, jwks_uri, audience))


def build_app(name: str, issuer: str = "", jwks_uri: str = "", audience: str = "") -> ASGIApp:
    """The app called ``name`` (one of :data:`APPS`).

    :raises ValueError: an unknown name, or an auth app without issuer, JWKS URI or audience.
    """
    if name == "noauth":
        return noauth_app()
    if name not in APPS:
        raise ValueError(f"unknown app {name!r}: one of {', '.join(APPS)}")
    if not (issuer and jwks_uri and audience):
        raise ValueError(f"the {name} app needs an issuer, a JWKS URI and an audience")
    if name == "floor":
        return floor_app(jwks_uri)
    if name == "fast":
        return fast_app(issuer, jwks_uri, audience)
    if name == "fast-opaque":
        return fast_opaque_app(issuer, jwks_uri, audience)
    if name == "fast-metrics":
        return fast_metrics_app(issuer, jwks_uri, audience)
    return mcpauth_app(issuer, jwks_uri, audience)


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """What the served apps run on, as this interpreter would load it."""
    from mcpauth_fast._accel import IMPLEMENTATION

    info = {"python": f"{platform.python_implementation()} {platform.python_version()}"}
    for dist in ("uvicorn", "uvloop", "httptools", "starlette", "cryptography", "mcpauth-fast",
                 "mcpauth", "pyjwt", "pydantic", "mcp"):
        info[dist] = _version(dist)
    info["mcpauth-fast IMPLEMENTATION"] = IMPLEMENTATION
    return info


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", nargs="?", default=env("E2E_APP"), choices=APPS)
    parser.add_argument("--port", type=int, default=int(env("E2E_PORT", "8000")))
    parser.add_argument("--issuer", default=env("E2E_ISSUER", ""))
    parser.add_argument("--jwks-uri", default=env("E2E_JWKS_URI", ""))
    parser.add_argument("--audience", default=env("E2E_AUDIENCE", ""))
    parser.add_argument("--info", action="store_true", help="print the versions as JSON, exit")
    args = parser.parse_args(argv)
    if args.info:
        print(json.dumps(versions()))
        return 0
    if args.app is None:
        parser.error("name an app (or set E2E_APP)")
    import uvicorn

    app = build_app(args.app, args.issuer, args.jwks_uri, args.audience)
    # One worker, uvloop and httptools, no access log: the same server for every app.
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                lifespan="on", access_log=False, log_level="warning", ws="none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
