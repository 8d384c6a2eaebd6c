"""The shared tier on a real Redis: shared entries, their authentication, revocation through
pub/sub between two MCPAuth instances (two workers in one process), and revocation without
Redis. The two-process test is tests/test_shared_workers.py; faults are test_shared_faults.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from support.app_factory import auth_server_mode, whoami_app
from support.jwks_server import JwksServer
from support.redis_server import RedisServer
from support.tokens import ISSUER, claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.exceptions import MCPAuthConfigException
from mcpauth_fast.shared.revocation import Revocations
from mcpauth_fast.shared.sealing import Sealing, info_of
from mcpauth_fast.types import AuthInfo

SECRET = b"a shared secret of the tests, 32+ bytes long"


def token(**overrides: Any) -> str:
    alg = overrides.pop("alg", "ES256")
    return signing_key(alg).mint(claims(time.time(), **overrides))


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def worker(jwks: JwksServer, redis: RedisServer | None, **options: Any) -> MCPAuth:
    auth = auth_server_mode(jwks)
    if redis is None:
        return auth
    # A second per command: a loaded machine must not pass for a slow Redis here.
    shared = {"url": redis.url, "key": SECRET, "timeout": 1.0, "retry_min": 0.05,
              "retry_max": 0.2, **options}
    return MCPAuth(server=auth.server, shared_cache=shared)


def client(auth: MCPAuth) -> httpx.AsyncClient:
    app = whoami_app(auth, auth.bearer_auth_middleware("jwt"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def status(http: httpx.AsyncClient, value: str) -> int:
    return (await http.get("/whoami", headers=bearer(value))).status_code


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    ({"key": SECRET}, "url"),
    ({"url": "http://x", "key": SECRET}, "url"),
    ({"url": "redis://x", "key": b"short"}, "32 bytes"),
    ({"url": "redis://x", "key": SECRET, "timeout": 0}, "timeout"),
    ({"url": "redis://x", "key": SECRET, "colour": 1}, "colour"),
])
def test_invalid_shared_cache_options_are_refused(
        jwks_server: JwksServer, options: dict[str, Any], message: str) -> None:
    server = auth_server_mode(jwks_server).server
    with pytest.raises(MCPAuthConfigException, match=message):
        MCPAuth(server=server, shared_cache=options)


def test_the_config_repr_shows_neither_key_nor_password(jwks_server: JwksServer) -> None:
    auth = MCPAuth(server=auth_server_mode(jwks_server).server,
                   shared_cache={"url": "redis://user:pw@h:1/0", "key": SECRET})
    text = repr(auth._tier.config)
    assert "pw" not in text and "secret" not in text and "h:1" in text


# -- sealing --------------------------------------------------------------------------------


def test_a_value_opens_only_under_its_key_with_the_right_secret() -> None:
    sealing = Sealing(SECRET)
    sealed = sealing.seal("k1", {"a": 1})
    assert sealing.open("k1", sealed) == {"a": 1}
    assert sealing.open("k2", sealed) is None                      # moved to another token
    assert Sealing(SECRET + b"!").open("k1", sealed) is None       # another secret
    assert sealing.open("k1", sealed[:-1] + b"2") is None          # changed
    assert sealing.open("k1", b"2" + sealed[1:]) is None           # another version
    assert sealing.open("k1", b"") is None
    assert sealing.open("k1", sealing.seal("k1", [1]))is None      # not an object
    assert sealing.token_id("t") != Sealing(SECRET + b"!").token_id("t")
    assert "t" not in sealing.token_id("t") or len(sealing.token_id("t")) == 64


@pytest.mark.parametrize("record", [
    {}, {"iss": 1, "sub": "s", "scp": []}, {"iss": "i", "sub": "s", "scp": "read"},
    {"iss": "i", "sub": "s", "scp": [], "aud": 3}, {"iss": "i", "sub": "s", "scp": [], "exp": "1"},
    {"iss": "i", "sub": "s", "scp": [], "claims": []},
])
def test_a_record_of_the_wrong_shape_gives_no_auth_info(record: dict[str, Any]) -> None:
    assert info_of("a.b.c", record) is None


def test_an_opaque_tokens_record_keeps_its_claims() -> None:
    record = {"iss": "i", "sub": "s", "cid": "c", "scp": ["read"], "aud": ["a"], "exp": 5,
              "claims": {"active": True, "sub": "s"}}
    info = info_of("opaque", record)
    assert isinstance(info, AuthInfo)
    assert (info.token, info.scopes, info.audience, info.claims["active"]) == (
        "opaque", ["read"], ["a"], True)
    assert info_of("opaque", {**record, "claims": None}) is None  # no claims: a JWS only


# -- revocation without Redis --------------------------------------------------------------


async def test_revocation_in_process_by_token_jti_and_subject(jwks_server: JwksServer) -> None:
    auth = worker(jwks_server, None)
    first, other = token(jti="j1"), token(jti="j2", sub="bob")
    async with client(auth) as http:
        assert await status(http, first) == 200 and await status(http, other) == 200
        assert await auth.revoke(token=first) is True
        response = await http.get("/whoami", headers=bearer(first))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert await status(http, other) == 200
        await auth.revoke(jti="j2", issuer=ISSUER)
        assert await status(http, other) == 401
        old = token(jti="j3", sub="carol", iat=int(time.time()) - 100)
        assert await status(http, old) == 200
        await auth.revoke(subject="carol", issuer=ISSUER, before=time.time() - 10)
        assert await status(http, old) == 401
        assert await status(http, token(jti="j4", sub="carol")) == 200  # issued after
        assert await status(http, token(jti="j5", sub="carol", iat=None)) == 401  # unknown
    assert auth.shared_cache_info()["revoked"] >= 4


async def test_revoke_needs_one_target_and_an_issuer(jwks_server: JwksServer) -> None:
    auth = worker(jwks_server, None)
    with pytest.raises(ValueError):
        await auth.revoke()
    with pytest.raises(ValueError):
        await auth.revoke(token="a", jti="b", issuer=ISSUER)
    with pytest.raises(ValueError):
        await auth.revoke(jti="b")


def test_a_revoked_token_is_refused_by_verify_sync_too(jwks_server: JwksServer) -> None:
    auth = worker(jwks_server, None)
    auth.bearer_auth_middleware("jwt")
    verifier = next(iter(auth._verifiers.values()))
    value = token(jti="sync")
    asyncio.run(verifier.verify(value))  # fetches the keys
    asyncio.run(auth.revoke(token=value))
    with pytest.raises(Exception, match="invalid"):
        verifier.verify_sync(value)
    assert verifier.cached(value) is None


class CountingCache:
    """A cache of AuthInfo values that counts its passes (``evict_where`` calls)."""

    def __init__(self, infos: list[AuthInfo]) -> None:
        self.entries = {info.token: info for info in infos}
        self.passes = 0

    def evict_where(self, predicate: Any) -> int:
        self.passes += 1
        gone = [token for token, info in self.entries.items() if predicate(info)]
        for token in gone:
            del self.entries[token]
        return len(gone)


def test_a_batch_of_revocations_is_one_pass_over_each_cache() -> None:
    # A pass costs some 2 us per cached entry: one per revocation made a worker that loaded
    # 10,000 stored revocations with a full cache block its loop for over a minute.
    now = time.time()
    sealing = Sealing(SECRET)
    infos = [AuthInfo(token=f"t{n}", issuer=ISSUER, subject=f"s{n}",
                      claims={"jti": f"j{n}", "iat": now - 10}) for n in range(300)]
    cache = CountingCache(infos)
    revocations = Revocations(sealing)
    revocations.watch(cache)
    records = ([("t", sealing.token_id(f"t{n}"), now + 60, 0.0) for n in range(0, 300, 3)]
               + [("j", sealing.name_id("j", ISSUER, f"j{n}"), now + 60, 0.0)
                  for n in range(1, 300, 3)]
               + [("s", sealing.name_id("s", ISSUER, f"s{n}"), now + 60, now)
                  for n in range(2, 300, 3)][:99])
    assert revocations.add_all(records) == 299
    assert cache.passes == 1 and list(cache.entries) == ["t299"]
    assert revocations.add_all(records) == 0 and cache.passes == 1   # nothing new: no pass
    late = CountingCache(infos)
    revocations.watch(late)                                           # all known, one pass
    assert late.passes == 1 and list(late.entries) == ["t299"]


# -- a custom verifier's results ------------------------------------------------------------

#: An app's own session store: what its custom verifier knows of each token.
ISSUED = int(time.time()) - 100
SESSIONS = {
    "session-ann": {"sub": "ann", "jti": "s-1", "iat": ISSUED},
    "session-bob": {"sub": "bob", "jti": "s-2", "iat": ISSUED},
    "session-cy": {"sub": "cy", "jti": "s-3", "iat": ISSUED},
    "session-cy-new": {"sub": "cy", "jti": "s-4"},  # issued at each request: after
}


def session_verifier(asynchronous: bool) -> Any:
    def verify(value: str) -> AuthInfo:
        claims = SESSIONS[value]
        claims = {**claims, "iat": claims.get("iat", int(time.time()))}
        return AuthInfo(token=value, issuer=ISSUER, subject=claims["sub"], claims=claims)

    async def verify_async(value: str) -> AuthInfo:
        return verify(value)

    return verify_async if asynchronous else verify


def custom_client(auth: MCPAuth, asynchronous: bool) -> httpx.AsyncClient:
    middleware = auth.bearer_auth_middleware(session_verifier(asynchronous))
    app = whoami_app(auth, middleware)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_custom_verifiers_results_are_revoked_too(
        jwks_server: JwksServer, asynchronous: bool) -> None:
    auth = worker(jwks_server, None)
    async with custom_client(auth, asynchronous) as http:
        assert all([await status(http, value) == 200 for value in SESSIONS])
        await auth.revoke(token="session-ann")
        await auth.revoke(jti="s-2", issuer=ISSUER)
        await auth.revoke(subject="cy", issuer=ISSUER, before=ISSUED + 10)
        response = await http.get("/whoami", headers=bearer("session-ann"))
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"
        assert [await status(http, value) for value in SESSIONS] == [401, 401, 401, 200]


async def test_a_custom_verifiers_revocation_reaches_the_other_worker(
        jwks_server: JwksServer, redis_server: RedisServer) -> None:
    one, two = worker(jwks_server, redis_server), worker(jwks_server, redis_server)
    async with custom_client(one, False) as http_one, custom_client(two, True) as http_two:
        assert await two._tier.listening()
        assert await status(http_two, "session-bob") == 200
        assert await one.revoke(jti="s-2", issuer=ISSUER) is True
        deadline = time.monotonic() + 2
        while await status(http_two, "session-bob") == 200:
            assert time.monotonic() < deadline, "the revocation did not reach worker two"
            await asyncio.sleep(0.01)
        assert await status(http_one, "session-bob") == 401
        assert await status(http_two, "session-ann") == 200
    await one.aclose()
    await two.aclose()


# -- with Redis: two workers in one process -------------------------------------------------


async def test_a_revocation_reaches_the_other_workers_cache(
        jwks_server: JwksServer, redis_server: RedisServer) -> None:
    one, two = worker(jwks_server, redis_server), worker(jwks_server, redis_server)
    value = token(jti="shared-1")
    async with client(one) as http_one, client(two) as http_two:
        assert await status(http_one, value) == 200 and await status(http_two, value) == 200
        assert await two._tier.listening()
        assert await one.revoke(token=value) is True
        assert await status(http_one, value) == 401
        deadline = time.monotonic() + 2
        while await status(http_two, value) == 200:
            assert time.monotonic() < deadline, "the revocation did not reach worker two"
            await asyncio.sleep(0.01)
        # A worker that starts later finds the revocation in Redis.
        three = worker(jwks_server, redis_server)
        async with client(three) as http_three:
            assert await three._tier.listening()
            assert await status(http_three, value) == 401
    stored = redis_server.command("KEYS", "mcpauth-fast:r:*")
    assert value.encode() not in stored and b"mcpauth-fast:r:t:" in stored
    ttl = int(redis_server.command("TTL", stored.split(b"\r\n")[2]).strip(b":\r\n"))
    assert 3600 <= ttl <= 3600 + 61  # until the token's exp (+ skew), no longer
    for auth in (one, two, three):
        await auth.aclose()


async def test_subject_and_jti_revocations_reach_the_other_worker(
        jwks_server: JwksServer, redis_server: RedisServer) -> None:
    one, two = worker(jwks_server, redis_server), worker(jwks_server, redis_server)
    by_jti, by_subject = token(jti="jx"), token(jti="jy", sub="dave", iat=int(time.time()) - 5)
    async with client(two) as http_two:
        assert await status(http_two, by_jti) == 200 and await status(http_two, by_subject) == 200
        assert await two._tier.listening()
        await one.revoke(jti="jx", issuer=ISSUER)
        await one.revoke(subject="dave", issuer=ISSUER)
        deadline = time.monotonic() + 2
        while await status(http_two, by_jti) == 200 or await status(http_two, by_subject) == 200:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    await one.aclose()
    await two.aclose()


async def test_shared_jwt_results_are_read_by_the_other_worker(
        jwks_server: JwksServer, redis_server: RedisServer) -> None:
    one = worker(jwks_server, redis_server, share_jwt=True)
    two = worker(jwks_server, redis_server, share_jwt=True)
    value = token(jti="s1", scope="read")
    async with client(one) as http_one, client(two) as http_two:
        assert await status(http_one, value) == 200
        assert one.shared_cache_info()["writes"] == 1
        # A shared entry is used only while its key is in the worker's key set (fetched here).
        assert await status(http_two, token(jti="s0")) == 200
        response = await http_two.get("/whoami", headers=bearer(value))
        assert response.json() == {"subject": "alice", "jti": "s1", "scopes": ["read"],
                                   "same_as_context": True}
        assert two.shared_cache_info()["hits"] == 1
        assert two.shared_cache_info()["writes"] == 1  # s0's, not s1's
    keys = redis_server.command("KEYS", "*")
    assert value.encode() not in keys and value.rpartition(".")[2].encode() not in keys
    dumped = redis_server.command("GET", keys.split(b"\r\n")[2].decode())
    assert value.rpartition(".")[2].encode() not in dumped
    await one.aclose()
    await two.aclose()
