"""The app one uvicorn worker serves in tests/test_shared_introspection.py: "introspection"
mode against the development issuer (``ISSUER_URL``, ``CLIENT_ID``, ``CLIENT_SECRET``) behind
one Redis (``REDIS_URL``, ``SHARED_KEY``).

``GET /whoami`` is behind the bearer middleware; ``GET /stats`` (the shared tier's counters
and ``calls``, the introspection calls this worker made) is not.
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

auth = MCPAuth(
    server=AuthServerDiscoveryConfig(issuer=os.environ["ISSUER_URL"], type=AuthServerType.OIDC),
    shared_cache={"url": os.environ["REDIS_URL"], "key": bytes.fromhex(os.environ["SHARED_KEY"]),
                  "retry_min": 0.05, "retry_max": 0.25},
)
bearer = auth.bearer_auth_middleware(
    "introspection", audience=os.environ["AUDIENCE"],
    introspection={"client_id": os.environ["CLIENT_ID"],
                   "client_secret": os.environ["CLIENT_SECRET"]})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"subject": request.scope["auth"].subject, "pid": os.getpid()})


async def stats(request: Request) -> JSONResponse:
    calls = sum(v.call_count for v in auth._introspectors.values())
    return JSONResponse({**auth.shared_cache_info(), "calls": calls})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await auth.prefetch()
    yield
    await auth.aclose()


app = Starlette(lifespan=lifespan, routes=[
    Route("/stats", stats),
    Mount("/", routes=[Route("/whoami", whoami)], middleware=[Middleware(bearer)]),
])
