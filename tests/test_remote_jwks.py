"""The key lifecycle against a real JWKS server on 127.0.0.1 that rotates, fails and counts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from support.app_factory import auth_server_mode, whoami_app
from support.jwks_server import JwksServer
from support.tokens import claims, signing_key

from mcpauth_fast.exceptions import (
    MCPAuthKeysUnavailableException,
    MCPAuthTokenVerificationException,
)
from mcpauth_fast.jwks import RemoteJwks, max_age_of
from mcpauth_fast.verifier import JwtVerifier


class Clock:
    """Monotonic time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(server: JwksServer, clock: Clock | None = None, **options: Any) -> RemoteJwks:
    options.setdefault("timeout", 1.0)
    return RemoteJwks(server.url, clock=clock or Clock(), **options)


def mint(alg: str = "ES256", variant: int = 0, kid: str | None = None, **overrides: Any) -> str:
    return signing_key(alg, kid=kid, variant=variant).mint(claims(time.time(), **overrides))


async def settle(source: RemoteJwks) -> None:
    """Wait for a background refresh in flight (a real HTTP request to the local server)."""
    await asyncio.sleep(0)
    task = source._inflight
    if task is not None:
        await asyncio.wait([task], timeout=5)


def test_fetches_once_and_keeps_the_set(jwks_server: JwksServer) -> None:
    key = signing_key("RS256")
    jwks_server.document = {"keys": [key.jwk()]}

    async def main() -> None:
        source = make(jwks_server)
        verifier = JwtVerifier(source, cache_size=0)
        for i in range(5):
            assert (await verifier.verify(mint("RS256", jti=f"j{i}"))).subject == "alice"
        assert jwks_server.fetches == 1
        assert source.stats()["fetch_count"] == 1 and source.stats()["key_count"] == 1
        assert source.stats()["last_success"] is not None
        await source.aclose()

    asyncio.run(main())


def test_a_thousand_concurrent_unknown_kids_make_one_fetch_per_cooldown(
        jwks_server: JwksServer) -> None:
    key = signing_key("ES256")
    jwks_server.document = {"keys": [key.jwk()]}
    clock = Clock()
    unknown = mint(kid="rotated-in-later")

    async def main() -> None:
        source = make(jwks_server, clock, cooldown=30)
        verifier = JwtVerifier(source, cache_size=0)
        await verifier.verify(mint())
        assert jwks_server.fetches == 1
        clock.now += 31
        results = await asyncio.gather(*(verifier.verify(unknown) for _ in range(1000)),
                                       return_exceptions=True)
        assert all(isinstance(r, MCPAuthTokenVerificationException) for r in results)
        assert jwks_server.fetches == 2          # one fetch for the thousand
        clock.now += 10
        results = await asyncio.gather(*(verifier.verify(unknown) for _ in range(1000)),
                                       return_exceptions=True)
        assert all(isinstance(r, MCPAuthTokenVerificationException) for r in results)
        assert jwks_server.fetches == 2          # inside the cooldown: refused at once
        clock.now += 21
        await asyncio.gather(*(verifier.verify(unknown) for _ in range(1000)),
                             return_exceptions=True)
        assert jwks_server.fetches == 3
        await source.aclose()

    asyncio.run(main())


def test_a_hanging_provider_never_blocks_requests_with_known_keys(
        jwks_server: JwksServer) -> None:
    key = signing_key("ES256")
    jwks_server.document = {"keys": [key.jwk()]}
    jwks_server.hang_seconds = 5.0
    clock = Clock()

    async def main() -> None:
        source = make(jwks_server, clock, ttl=60, timeout=4.5)
        verifier = JwtVerifier(source, cache_size=0)
        await verifier.verify(mint())
        jwks_server.mode = "hang"
        clock.now += 3600                       # far past the max age: a refresh is due
        lags: list[float] = []
        stop = asyncio.Event()

        async def lag_probe() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - before - 0.005)

        probe = asyncio.create_task(lag_probe())
        started = time.perf_counter()
        for i in range(50):
            info = await verifier.verify(mint(jti=f"during-hang-{i}"))
            assert info.subject == "alice"
            await asyncio.sleep(0.01)           # let the probe and the refresh run
        elapsed = time.perf_counter() - started
        stop.set()
        await probe
        # Fifty signature checks while a refresh hangs for 5 s: none of them waited for it,
        # and the loop never stalled (the refresh runs in the background).
        assert elapsed < 3.0, elapsed
        assert max(lags) < 1.0, max(lags)
        assert jwks_server.fetches == 2
        await source.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("mode", ["500", "garbage", "huge", "hang", "empty"])
def test_an_outage_after_a_good_fetch_rejects_no_good_token(
        jwks_server: JwksServer, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    key = signing_key("ES256")
    jwks_server.document = {"keys": [key.jwk()]}
    jwks_server.hang_seconds = 1.0
    clock = Clock()

    async def main() -> None:
        source = make(jwks_server, clock, ttl=60, timeout=0.3, max_bytes=1 << 20)
        verifier = JwtVerifier(source, cache_size=0)
        await verifier.verify(mint())
        if mode == "empty":
            jwks_server.document = {"keys": []}
        else:
            jwks_server.mode = mode
        for step in range(6):
            clock.now += 400                     # past the max age and any backoff
            info = await verifier.verify(mint(jti=f"j{step}"))
            assert info.subject == "alice"
            await settle(source)
        assert source.stats()["last_error"] is not None
        assert source.stats()["fetch_count"] >= 4
        await source.aclose()

    with caplog.at_level(logging.DEBUG, logger="mcpauth_fast"):
        asyncio.run(main())
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING
                and "JWKS fetch" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # once per episode


@pytest.mark.parametrize("mode", ["500", "garbage", "huge", "hang"])
def test_no_key_ever_fetched_is_503_then_recovers(jwks_server: JwksServer, mode: str) -> None:
    key = signing_key("EdDSA")
    jwks_server.document = {"keys": [key.jwk()]}
    jwks_server.mode = mode
    jwks_server.hang_seconds = 1.0
    clock = Clock()
    token = mint("EdDSA")

    async def main() -> None:
        source = make(jwks_server, clock, timeout=0.3)
        verifier = JwtVerifier(source, cache_size=0)
        with pytest.raises(MCPAuthKeysUnavailableException) as info:
            await verifier.verify(token)
        assert info.value.status_code == 503 and info.value.retry_after >= 1
        fetches = jwks_server.fetches
        with pytest.raises(MCPAuthKeysUnavailableException):
            await verifier.verify(token)        # inside the backoff: no new fetch
        assert jwks_server.fetches == fetches
        jwks_server.mode = "ok"
        clock.now += info.value.retry_after
        assert (await verifier.verify(token)).subject == "alice"
        assert source.stats()["last_error"] is None
        await source.aclose()

    asyncio.run(main())


def test_rotation_with_overlap_and_eviction_of_cached_tokens(jwks_server: JwksServer) -> None:
    old, new = signing_key("ES256", kid="old"), signing_key("ES256", kid="new", variant=5)
    jwks_server.document = {"keys": [old.jwk()]}
    clock = Clock()

    async def main() -> None:
        source = make(jwks_server, clock, ttl=60, cooldown=30)
        verifier = JwtVerifier(source)
        old_token = old.mint(claims(time.time()))
        await verifier.verify(old_token)
        assert verifier.cached(old_token) is not None
        jwks_server.document = {"keys": [old.jwk(), new.jwk()]}      # overlap
        clock.now += 31
        new_token = new.mint(claims(time.time()))
        assert (await verifier.verify(new_token)).subject == "alice"  # unknown kid: refetch
        assert verifier.cached(old_token) is not None
        jwks_server.document = {"keys": [new.jwk()]}                 # old key retired
        clock.now += 60
        assert verifier.cached(old_token) is not None     # until the refresh lands ...
        await verifier.verify(new.mint(claims(time.time(), jti="x")))  # ... which this starts
        await settle(source)
        assert verifier.cached(old_token) is None         # evicted
        with pytest.raises(MCPAuthTokenVerificationException):
            await verifier.verify(old_token)
        assert verifier.cached(new_token) is not None
        await source.aclose()

    asyncio.run(main())


def test_rotation_without_overlap(jwks_server: JwksServer) -> None:
    old, new = signing_key("RS256", kid="a"), signing_key("RS256", kid="b", variant=6)
    jwks_server.document = {"keys": [old.jwk()]}
    clock = Clock()

    async def main() -> None:
        source = make(jwks_server, clock, cooldown=30)
        verifier = JwtVerifier(source)
        old_token = old.mint(claims(time.time()))
        await verifier.verify(old_token)
        jwks_server.document = {"keys": [new.jwk()]}
        clock.now += 31
        assert (await verifier.verify(new.mint(claims(time.time())))).subject == "alice"
        assert verifier.cached(old_token) is None
        with pytest.raises(MCPAuthTokenVerificationException):
            await verifier.verify(old_token)
        await source.aclose()

    asyncio.run(main())


def test_mixed_key_set_and_problems_reported_once(jwks_server: JwksServer,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    key = signing_key("RS256")
    jwks_server.document = {"keys": [
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
        {"kty": "XYZ", "kid": "odd"},
        key.jwk(),
    ]}
    clock = Clock()

    async def main() -> None:
        source = make(jwks_server, clock, cooldown=1)
        verifier = JwtVerifier(source, cache_size=0)
        assert (await verifier.verify(mint("RS256"))).subject == "alice"
        for _ in range(3):
            clock.now += 2
            with pytest.raises(MCPAuthTokenVerificationException):
                await verifier.verify(mint("RS256", kid="sym"))
        assert jwks_server.fetches == 4
        await source.aclose()

    with caplog.at_level(logging.WARNING, logger="mcpauth_fast"):
        asyncio.run(main())
    skipped = [r.getMessage() for r in caplog.records if "skipped a key" in r.getMessage()]
    assert len(skipped) == 3


def test_max_age_comes_from_cache_control(jwks_server: JwksServer) -> None:
    assert max_age_of("public, max-age=120", 600, 30, 86400) == 120
    assert max_age_of("max-age=5", 600, 30, 86400) == 30
    assert max_age_of("max-age=999999", 600, 30, 86400) == 86400
    assert max_age_of("no-store", 600, 30, 86400) == 30
    assert max_age_of(None, 600, 30, 86400) == 600
    key = signing_key("ES256")
    jwks_server.document = {"keys": [key.jwk()]}
    jwks_server.cache_control = "public, max-age=100"
    clock = Clock()

    async def main() -> None:
        source = make(jwks_server, clock)
        verifier = JwtVerifier(source, cache_size=0)
        await verifier.verify(mint())
        clock.now += 79                      # before 80 % of the max age: no refresh
        await verifier.verify(mint(jti="b"))
        await settle(source)
        assert jwks_server.fetches == 1
        clock.now += 2                       # past it: a background refresh, once
        await verifier.verify(mint(jti="c"))
        await verifier.verify(mint(jti="d"))
        await settle(source)
        assert jwks_server.fetches == 2
        await source.aclose()

    asyncio.run(main())


def test_startup_prefetches_keys_and_never_fails_when_the_provider_is_down(
        jwks_server: JwksServer) -> None:
    mcp_auth = auth_server_mode(jwks_server)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield

    def app_with(middleware: Any) -> Starlette:
        return Starlette(routes=[Route("/x", lambda r: PlainTextResponse("ok"))],
                         middleware=[Middleware(middleware)], lifespan=lifespan)

    app = app_with(mcp_auth.bearer_auth_middleware("jwt"))

    def key_count() -> int:
        return int(mcp_auth.jwks_stats()["https://issuer.example.com"]["key_count"])

    with TestClient(app):
        deadline = time.monotonic() + 5
        while key_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert key_count() == 3              # fetched at startup, before any request
        assert jwks_server.fetches == 1

    down = auth_server_mode(jwks_server)
    jwks_server.mode = "500"
    with TestClient(app_with(down.bearer_auth_middleware("jwt"))) as client:
        assert client.get("/x").status_code == 401          # the app is up
        response = client.get("/x", headers={"authorization": f"Bearer {mint()}"})
        assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
        jwks_server.mode = "ok"
        deadline = time.monotonic() + 10
        while response.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
            response = client.get("/x", headers={"authorization": f"Bearer {mint()}"})
        assert response.status_code == 200                 # recovered without a restart


def test_one_http_client_per_mcp_auth(jwks_server: JwksServer) -> None:
    mcp_auth = auth_server_mode(jwks_server)
    first = mcp_auth.bearer_auth_middleware("jwt", required_scopes=["read"])
    second = mcp_auth.bearer_auth_middleware("jwt", audience="https://mcp.example.com/mcp")
    with TestClient(whoami_app(mcp_auth, first)) as a:
        assert a.get("/whoami", headers={"authorization": f"Bearer {mint()}"}
                     ).status_code == 200
    with TestClient(whoami_app(mcp_auth, second)) as b:
        assert b.get("/whoami", headers={"authorization": f"Bearer {mint(jti='z')}"}
                     ).status_code == 200
    assert jwks_server.fetches == 1          # one key set for both middlewares
