"""The app each uvicorn worker of ``bench/shared_bars.py`` serves: "auto" mode (a JWS of the
dev issuer verified locally, any other token introspected at it) behind one Redis, configured
by the environment: ``ISSUER_URL``, ``CLIENT_ID``, ``CLIENT_SECRET``, ``AUDIENCE``,
``REDIS_URL``, ``SHARED_KEY`` (hex), ``RETRY_MAX`` (the longest Redis back-off, seconds).

``GET /whoami`` is behind the bearer middleware and needs the ``read`` scope; ``GET /stats``
(the shared tier's counters) and ``POST /revoke`` (JSON ``{"token"}``, ``{"jti", "issuer"}``
or ``{"subject", "issuer"}``) are not: they stand in for an admin interface.

    cd bench && ISSUER_URL=... uvicorn shared_bars_app:app --port 8001
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from mcpauth_fast import MCPAuth
from mcpauth_fast.config import AuthServerDiscoveryConfig, AuthServerType

retry_max = float(os.environ.get("RETRY_MAX", "1.0"))
auth = MCPAuth(
    server=AuthServerDiscoveryConfig(issuer=os.environ["ISSUER_URL"], type=AuthServerType.OIDC),
    shared_cache={"url": os.environ["REDIS_URL"], "key": bytes.fromhex(os.environ["SHARED_KEY"]),
                  "share_jwt": True, "retry_min": min(0.1, retry_max), "retry_max": retry_max},
)
bearer = auth.bearer_auth_middleware(
    "auto", audience=os.environ["AUDIENCE"], required_scopes=["read"], show_error_details=True,
    introspection={"client_id": os.environ["CLIENT_ID"],
                   "client_secret": os.environ["CLIENT_SECRET"]})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"subject": request.scope["auth"].subject, "pid": os.getpid()})


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(auth.shared_cache_info())


async def revoke(request: Request) -> JSONResponse:
    body = await request.json()
    shared = await auth.revoke(token=body.get("token"), jti=body.get("jti"),
                               subject=body.get("subject"), issuer=body.get("issuer"))
    return JSONResponse({"shared": shared})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # The bearer middleware is mounted, where no lifespan event reaches it: start here.
    await auth.prefetch()
    yield
    await auth.aclose()


app = Starlette(lifespan=lifespan, routes=[
    Route("/stats", stats),
    Route("/revoke", revoke, methods=["POST"]),
    Mount("/", routes=[Route("/whoami", whoami)], middleware=[Middleware(bearer)]),
])
