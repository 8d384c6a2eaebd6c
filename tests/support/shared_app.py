"""The app one uvicorn worker serves in tests/test_shared_workers.py, configured by the
environment: the JWKS (``JWKS_URL``), the Redis (``REDIS_URL``), the secret (``SHARED_KEY``).

``GET /whoami`` is behind the bearer middleware; ``GET /stats`` (the shared tier's counters)
and ``POST /revoke`` (a JSON ``{"token": ...}`` or ``{"subject": ...}``) are not: they stand in
for an admin interface.
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
from support.app_factory import server_config

auth = MCPAuth(
    server=server_config(os.environ["JWKS_URL"]),
    # A second per command: a loaded machine must not pass for a slow Redis here.
    shared_cache={"url": os.environ["REDIS_URL"], "key": bytes.fromhex(os.environ["SHARED_KEY"]),
                  "share_jwt": True, "timeout": 1.0, "retry_min": 0.05, "retry_max": 0.25},
)
bearer = auth.bearer_auth_middleware("jwt")


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"subject": request.scope["auth"].subject, "pid": os.getpid()})


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(auth.shared_cache_info())


async def revoke(request: Request) -> JSONResponse:
    body = await request.json()
    issuer = body.pop("issuer", None)
    if "subject" in body:
        shared = await auth.revoke(subject=body["subject"], issuer=issuer)
    else:
        shared = await auth.revoke(token=body["token"])
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
