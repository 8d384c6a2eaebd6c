"""A worker of the shared tier's tests, in this process: an MCPAuth in "introspection" mode
against the development issuer, with its app and an ASGI client."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from mcpauth_fast import MCPAuth
from mcpauth_fast.config import AuthServerDiscoveryConfig, AuthServerType
from mcpauth_fast.dev.issuer import DevIssuer
from mcpauth_fast.introspection import IntrospectionVerifier
from support.app_factory import whoami_app
from support.opaque_tokens import AUDIENCE


class IntrospectionWorker:
    """One MCPAuth (a worker) with its app and client; ``shared_cache`` as MCPAuth takes it."""

    def __init__(self, issuer: DevIssuer, shared_cache: dict[str, Any] | None,
                 **introspection: Any) -> None:
        self.auth = MCPAuth(server=AuthServerDiscoveryConfig(issuer=issuer.issuer,
                                                             type=AuthServerType.OIDC),
                            shared_cache=shared_cache)
        client_id, secret = issuer.client_credentials
        middleware = self.auth.bearer_auth_middleware(
            "introspection", audience=AUDIENCE,
            introspection={"client_id": client_id, "client_secret": secret, **introspection})
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=whoami_app(self.auth, middleware)),
            base_url="http://test")

    @property
    def verifier(self) -> IntrospectionVerifier:
        (verifier,) = self.auth._introspectors.values()
        return verifier

    @property
    def calls(self) -> int:
        return self.verifier.call_count

    async def status(self, token: str) -> int:
        response = await self.http.get("/whoami", headers={"authorization": f"Bearer {token}"})
        return response.status_code

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.auth.aclose()


async def listening_workers(issuer: DevIssuer, shared_caches: list[dict[str, Any] | None]
                            ) -> list[IntrospectionWorker]:
    """A worker for each ``shared_cache``; those with one have their Redis listener subscribed."""
    made = [IntrospectionWorker(issuer, options) for options in shared_caches]
    for worker, options in zip(made, shared_caches, strict=True):
        if options is not None:
            assert await worker.auth._tier.listening()
    return made


async def eventually(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.01)
