"""The app one uvicorn worker serves in tests/test_dpop_workers.py: a resource that accepts
DPoP-bound JWTs (``dpop=``), configured by the environment: the JWKS (``JWKS_URL``), the
Redis (``REDIS_URL``; empty: no shared tier, each worker remembers used proofs alone), the
secret (``SHARED_KEY``).

``GET /whoami`` is behind the bearer middleware, its proofs' ``htu`` is ``WHOAMI`` (of
support/dpop_proofs.py); ``GET /stats`` (the shared tier's counters, and
the implementation of the hot path the worker runs) is not.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from mcpauth_fast import MCPAuth, _accel
from support.app_factory import server_config
from support.dpop_proofs import PUBLIC_URL
from support.tokens import AUDIENCE

_REDIS_URL = os.environ.get("REDIS_URL", "")
auth = MCPAuth(
    server=server_config(os.environ["JWKS_URL"]),
    # A second per command: a loaded machine must not pass for a slow Redis here.
    shared_cache={"url": _REDIS_URL, "key": bytes.fromhex(os.environ["SHARED_KEY"]),
                  "timeout": 1.0, "retry_min": 0.05, "retry_max": 0.25}
    if _REDIS_URL else None,
)
bearer = auth.bearer_auth_middleware("jwt", audience=AUDIENCE,
                                     dpop={"public_url": PUBLIC_URL})


async def whoami(request: Request) -> JSONResponse:
    info = request.scope["auth"]
    return JSONResponse({"subject": info.subject, "jkt": info.claims["cnf"]["jkt"],
                         "pid": os.getpid()})


async def stats(request: Request) -> JSONResponse:
    info: dict[str, Any] = auth.shared_cache_info()
    if info["redis"] is None:
        # No shared tier: nothing to subscribe to, the worker is ready as soon as it answers
        # (support.uvicorn_worker waits for ``redis.listening``).
        info["redis"] = {"listening": True, "down": False, "configured": False}
    info["implementation"] = _accel.IMPLEMENTATION  # "c" (compiled) or "py"
    return JSONResponse(info)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # The bearer middleware is mounted, where no lifespan event reaches it: start here.
    await auth.prefetch()
    yield
    await auth.aclose()


app = Starlette(lifespan=lifespan, routes=[
    Route("/stats", stats),
    Mount("/", routes=[Route("/whoami", whoami)], middleware=[Middleware(bearer)]),
])
