"""RemoteJwks against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from jwks_server import JwksServer
from tokens import claims, signing_key

from mcpauth_fast.exceptions import (
    MCPAuthKeysUnavailableException,
    MCPAuthTokenVerificationException,
)
from mcpauth_fast.jwks import RemoteJwks
from mcpauth_fast.verifier import JwtVerifier


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(server: JwksServer, clock: Clock | None = None, **options: Any) -> RemoteJwks:
    options.setdefault("timeout", 1.0)
    return RemoteJwks(server.url, clock=clock or Clock(), **options)


async def verify(source: RemoteJwks, token: str) -> Any:
    return await JwtVerifier(source, cache_size=0).verify(token)


def test_fetches_once_and_verifies(jwks_server: JwksServer) -> None:
    key = signing_key("RS256")
    jwks_server.document = {"keys": [key.jwk()]}

    async def main() -> None:
        source = make(jwks_server)
        for _ in range(5):
            info = await verify(source, key.mint(claims(time.time())))
            assert info.subject == "alice"
        assert jwks_server.fetches == 1 and source.fetch_count == 1
        await source.aclose()

    asyncio.run(main())


def test_unknown_kid_refetches_at_most_once_per_cooldown(jwks_server: JwksServer) -> None:
    key = signing_key("ES256")
    jwks_server.document = {"keys": [key.jwk()]}
    unknown = key.mint(claims(time.time()), kid="rotated-in-later")
    clock = Clock()

    async def main() -> None:
        source = make(jwks_server, clock, cooldown=30)
        await verify(source, key.mint(claims(time.time())))
        clock.now += 31
        results = await asyncio.gather(*(verify(source, unknown) for _ in range(200)),
                                       return_exceptions=True)
        assert all(isinstance(r, MCPAuthTokenVerificationException) for r in results)
        assert jwks_server.fetches == 2      # one for the first token, one for 200 unknowns
        clock.now += 10
        with pytest.raises(MCPAuthTokenVerificationException):
            await verify(source, unknown)
        assert jwks_server.fetches == 2      # inside the cooldown: refused at once
        new_key = signing_key("ES256", kid="rotated-in-later", variant=3)
        jwks_server.document = {"keys": [key.jwk(), new_key.jwk()]}
        clock.now += 21
        rotated = new_key.mint(claims(time.time()))
        assert (await verify(source, rotated)).subject == "alice"
        assert jwks_server.fetches == 3
        await source.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("mode", ["500", "garbage", "huge", "hang"])
def test_no_key_ever_fetched_is_503_then_recovers(jwks_server: JwksServer, mode: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    key = signing_key("EdDSA")
    jwks_server.document = {"keys": [key.jwk()]}
    jwks_server.mode = mode
    jwks_server.hang_seconds = 2.0
    clock = Clock()
    token = key.mint(claims(time.time()))

    async def main() -> None:
        source = make(jwks_server, clock, timeout=0.5, max_bytes=1 << 20, cooldown=5)
        with pytest.raises(MCPAuthKeysUnavailableException) as info:
            await verify(source, token)
        assert info.value.status_code == 503 and info.value.retry_after == 5
        assert source.last_error
        jwks_server.mode = "ok"
        clock.now += 6
        assert (await verify(source, token)).subject == "alice"
        assert source.last_error is None
        await source.aclose()

    with caplog.at_level(logging.DEBUG, logger="mcpauth_fast"):
        asyncio.run(main())
    assert any("JWKS fetch" in r.getMessage() for r in caplog.records)


def test_outage_after_a_good_fetch_keeps_accepting_good_tokens(jwks_server: JwksServer) -> None:
    key = signing_key("ES256")
    jwks_server.document = {"keys": [key.jwk()]}
    clock = Clock()

    async def main() -> None:
        source = make(jwks_server, clock, ttl=60, cooldown=5)
        await verify(source, key.mint(claims(time.time())))
        jwks_server.mode = "500"
        for step in range(5):
            clock.now += 100         # past the TTL every time
            info = await verify(source, key.mint(claims(time.time(), jti=f"j{step}")))
            assert info.subject == "alice"
            await asyncio.sleep(0.05)  # let the background refresh run and fail
        assert source.last_error is not None
        await source.aclose()

    asyncio.run(main())


def test_a_bad_key_does_not_poison_the_set(jwks_server: JwksServer) -> None:
    key = signing_key("RS256")
    jwks_server.document = {"keys": [
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
        {"kty": "XYZ", "kid": "odd"},
        key.jwk(),
    ]}

    async def main() -> None:
        source = make(jwks_server)
        assert (await verify(source, key.mint(claims(time.time())))).subject == "alice"
        await source.aclose()

    asyncio.run(main())
