"""The development issuer's HTTP endpoints, as a Starlette app.

- ``/.well-known/openid-configuration``, ``/.well-known/oauth-authorization-server``: the
  metadata; ``/jwks``: the public keys (public documents, with CORS for browser clients);
- ``/introspect`` (RFC 7662): ``{"active": true, ...claims, "token_type": "Bearer"}`` (``DPoP``
  for a token with ``cnf``, RFC 9449 section 6.2) for an
  opaque token it minted that has neither expired nor been revoked, ``{"active": false}`` for
  anything else;
- ``/revoke`` (RFC 7009): forgets an opaque token; 200 whether it was known or not.

Both POST endpoints take a form body and authenticate the development client with
``client_secret_basic`` or ``client_secret_post`` (not both at once, RFC 6749 section 2.3):
401 ``invalid_client`` otherwise. Imported only when the app is built, so that minting a token
(the CLI) does not pay for Starlette.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from .opaque import OpaqueTokens

__all__ = ["build_app"]

#: The largest form body read (a token and client credentials fit easily).
MAX_FORM_BYTES = 16 << 10
_NO_STORE = {"cache-control": "no-store"}


def _error(status: int, error: str, description: str,
           headers: Mapping[str, str] | None = None) -> Response:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status, headers={**_NO_STORE, **(headers or {})})


def _basic_credentials(value: str) -> tuple[str, str] | None:
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 section 2.3.1: both are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


async def _authenticated_form(request: Request, client: tuple[str, str]
                              ) -> dict[str, str] | Response:
    """The request's form fields once the client is authenticated, or the error response."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return _error(413, "invalid_request", "the request body is too large")
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return _error(400, "invalid_request", "the body is not a form")
    if any(len(values) > 1 for values in fields.values()):
        return _error(400, "invalid_request", "a parameter is repeated")
    form = {name: values[0] for name, values in fields.items()}
    authorization = request.headers.get("authorization")
    posted = "client_secret" in form
    if authorization is not None and posted:
        return _error(400, "invalid_request", "more than one client authentication method")
    if authorization is not None:
        given = _basic_credentials(authorization)
    elif posted:
        given = (form.get("client_id", ""), form.get("client_secret", ""))
    else:
        given = None
    challenge = {"www-authenticate": 'Basic realm="mcpauth-fast dev issuer"'}
    if given is None:
        return _error(401, "invalid_client", "client authentication is required", challenge)
    id_ok = hmac.compare_digest(given[0].encode(), client[0].encode())
    secret_ok = hmac.compare_digest(given[1].encode(), client[1].encode())
    if not (id_ok and secret_ok):
        return _error(401, "invalid_client", "client authentication failed", challenge)
    if not form.get("token"):
        return _error(400, "invalid_request", "the token parameter is missing")
    return form


def build_app(metadata: Mapping[str, Any], jwks: Mapping[str, Any], opaque: OpaqueTokens,
              client: tuple[str, str], jwks_max_age: int) -> ASGIApp:
    """The issuer's app (see the module docstring); the JWKS is served with ``max-age``
    ``jwks_max_age``."""
    metadata_body = json.dumps(metadata).encode()
    jwks_body = json.dumps(jwks).encode()
    # Public documents; CORS lets browser-based MCP clients (the inspector) read them.
    cors = {"access-control-allow-origin": "*"}

    async def serve_metadata(request: Request) -> Response:
        return Response(metadata_body, media_type="application/json", headers=cors)

    async def serve_jwks(request: Request) -> Response:
        headers = {**cors, "cache-control": f"max-age={jwks_max_age}"}
        return Response(jwks_body, media_type="application/json", headers=headers)

    async def introspect(request: Request) -> Response:
        form = await _authenticated_form(request, client)
        if isinstance(form, Response):
            return form
        claims = opaque.claims(form["token"])
        if claims is None:
            return JSONResponse({"active": False}, headers=_NO_STORE)
        token_type = "DPoP" if "cnf" in claims else "Bearer"  # RFC 9449 section 6.2
        return JSONResponse({"active": True, **claims, "token_type": token_type},
                            headers=_NO_STORE)

    async def revoke(request: Request) -> Response:
        form = await _authenticated_form(request, client)
        if isinstance(form, Response):
            return form
        opaque.revoke(form["token"])
        return Response(b"", 200, headers=_NO_STORE)

    return Starlette(routes=[
        Route("/.well-known/openid-configuration", serve_metadata, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", serve_metadata, methods=["GET"]),
        Route("/jwks", serve_jwks, methods=["GET"]),
        Route("/introspect", introspect, methods=["POST"]),
        Route("/revoke", revoke, methods=["POST"]),
    ])
