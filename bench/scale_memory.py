"""Memory per million cached tokens, measured on this machine: the figures of docs/scale.md.

1. A worker's local caches, per entry: the JWT cache (``JwtVerifier.verify_sync`` of distinct
   dev-issuer JWTs) and the introspection local tier (``IntrospectionVerifier``'s answer path:
   a parsed dev-issuer introspection answer in, its ``AuthInfo`` cached), each on the compiled
   hot path and on the pure twin (``MCPAUTH_FAST_NO_EXTENSIONS=1``), each in a fresh process:
   RSS growth over the first N/2 entries and over all N (the two should agree: linear), the
   token string, the ``AuthInfo`` and its claims included. Also a worker's revocations (the
   ``Revocations`` tables) per record.
2. Redis, per entry: ``used_memory`` growth over N entries of each kind, and ``MEMORY USAGE``
   of one key: JWT results (``SharedTier.put``), introspection answers
   (``IntrospectionShare.put``), revocations of tokens, ``jti`` values and subjects
   (``SharedTier.revoke``). The first ``--through-tier`` entries of a kind go through that
   code (one round trip each); the rest are the same key and value bytes, made with the
   tier's own functions, sent in pipelines (the first entry's bytes are checked against
   what the tier wrote). A real redis-server on 127.0.0.1, no persistence, flushed before
   each kind.
3. Bytes on the wire per entry: its key and value, and the RESP frames of its write (SET ... PX,
   or what ``revoke`` sends) and of a read (GET and its reply).

Prints a table, writes ``bench/results/scale-memory.json``. About two minutes, the minting of
the RS256 tokens most of it. Needs redis-server on PATH (ci/install.sh installs it).

    python bench/scale_memory.py [--tokens 100000] [--jwt-tokens 50000] [--revocations 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import math
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

from e2e_server import AUDIENCE, MIB, SCOPE, log  # noqa: E402
from e2e_tokens import mint_to_file  # noqa: E402
from support.redis_server import RedisServer, redis_binary  # noqa: E402

from mcpauth_fast.shared.tier import _MAX_BEFORE as MAX_BEFORE  # noqa: E402

ISSUER = "https://auth.example.com"
ENDPOINT = f"{ISSUER}/introspect"
TTL = 3 * 3600
DEFAULT_OUT = BENCH / "results" / "scale-memory.json"
MILLION = 1_000_000


def rss() -> int:
    """This process's resident set, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def opaque_answers(count: int) -> list[tuple[str, bytes]]:
    """Distinct opaque tokens and the dev issuer's ``/introspect`` answer for each (as
    ``OpaqueTokens.mint`` and the endpoint make them, without a file per token)."""
    from mcpauth_fast.dev.keystore import _access_token_claims
    from mcpauth_fast.dev.opaque import OPAQUE_PREFIX

    return [(OPAQUE_PREFIX + secrets.token_urlsafe(32),
             orjson.dumps({"active": True, **_access_token_claims(
                 ISSUER, f"user-{n % 97}", SCOPE, AUDIENCE, TTL, {}), "token_type": "Bearer"}))
            for n in range(count)]


# -- 1. a worker's local caches (run in a subprocess per kind and implementation) ---------------


def fill(put: Callable[[Any], object], items: Iterator[Any], count: int) -> dict[str, float]:
    """RSS growth per item over the first half of ``count`` items and over all of them."""
    half = count // 2
    gc.collect()
    base = rss()
    for item in islice(items, half):
        put(item)
    gc.collect()
    middle = rss()
    for item in items:
        put(item)
    gc.collect()
    end = rss()
    return {"entries": count, "bytes_per_entry_half": (middle - base) / half,
            "bytes_per_entry": (end - base) / count, "growth_mib": (end - base) / MIB}


def lines(path: Path) -> Iterator[bytes]:
    """The lines of ``path``, read as the fill goes: no input read ahead and freed before the
    fill, whose memory the entries would reuse (RSS growth would understate them)."""
    with path.open("rb") as file:
        for line in file:
            yield line.rstrip(b"\n")


def count_lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(1 for _ in file)


def user_of(mcp: bool) -> Callable[[Any], object]:
    """With ``mcp``, what the middleware adds in an app that serves MCP: the SDK's user
    object, built once per token and kept on its ``AuthInfo`` (so in the cache)."""
    if not mcp:
        return lambda info: info
    import mcp.server.auth.middleware.auth_context  # noqa: F401 - the app has loaded it

    from mcpauth_fast.mcp_compat import sdk_user

    return sdk_user


def worker_jwt(path: Path, variant: str) -> dict[str, Any]:
    from mcpauth_fast.keysets import StaticKeys
    from mcpauth_fast.verifier import JwtVerifier

    jwks = json.loads((path.parent / "jwks.json").read_text())
    count = count_lines(path)
    verifier = JwtVerifier(StaticKeys(jwks), cache_size=count)
    attach = user_of(variant == "mcp")

    def put(line: bytes) -> None:
        # A new str per token, as the HTTP parser makes: the cache keeps it alive.
        attach(verifier.verify_sync(line.decode()))

    # First-use costs (the key, the memos, the SDK's user class): not an entry.
    first = next(lines(path))
    put(first)
    verifier.cache.clear()
    result = fill(put, lines(path), count)
    assert len(verifier.cache) == count, len(verifier.cache)
    return {**result, "token_chars": len(first)}


def worker_introspection(path: Path, variant: str) -> dict[str, Any]:
    """``variant`` ``"mcp"``: with the SDK's user objects; ``"refused"``: each token answered
    ``{"active": false}``, kept in the refused tier (its SHA-256 and the reason)."""
    from mcpauth_fast.exceptions import MCPAuthTokenVerificationException
    from mcpauth_fast.introspection import ClientAuth, IntrospectionVerifier

    count = count_lines(path)
    verifier = IntrospectionVerifier(
        ENDPOINT, ClientAuth("bench", client_secret="s"), issuers=frozenset({ISSUER}),
        cache_size=count)
    loop = asyncio.new_event_loop()
    attach = user_of(variant == "mcp")
    refused = variant == "refused"
    cache = verifier.local._refused if refused else verifier.cache

    def put(line: bytes) -> None:
        # The path of an answer read from the provider (or the shared tier): a fresh JSON
        # object checked, its AuthInfo put in the local tier.
        token, body = line.split(b"\t", 1)
        answer = verifier._answer(token.decode(), ENDPOINT, ISSUER,
                                  {"active": False} if refused else orjson.loads(body))
        try:
            attach(loop.run_until_complete(answer))
        except MCPAuthTokenVerificationException:
            assert refused

    first = next(lines(path))
    put(first)
    verifier.cache_clear()
    try:
        result = fill(put, lines(path), count)
    finally:
        loop.close()
    assert len(cache) == count, len(cache)
    token, body = first.split(b"\t", 1)
    return {**result, "token_chars": len(token), "answer_bytes": len(body)}


def worker_revocations(path: Path, kind: str) -> dict[str, Any]:
    """A worker's ``Revocations`` of one ``kind``: one record per line of ``path``."""
    from mcpauth_fast.shared.revocation import Revocations
    from mcpauth_fast.shared.sealing import Sealing

    count = count_lines(path)
    sealing = Sealing(b"k" * 32)
    revocations = Revocations(sealing)
    until = time.time() + 86400

    def revoke(n: int) -> None:
        name = (sealing.token_id(secrets.token_urlsafe(32)) if kind == "t"
                else sealing.name_id(kind, ISSUER, f"{kind}-{n}"))
        revocations.add(kind, name, until, time.time() if kind == "s" else 0.0)

    return fill(revoke, iter(range(count)), count)


WORKERS: dict[str, Callable[[Path, str], dict[str, Any]]] = {
    "jwt": worker_jwt, "introspection": worker_introspection,
    "revocations": worker_revocations}


def run_worker(kind: str, path: Path, pure: bool) -> dict[str, Any]:
    """``kind`` in a fresh interpreter: ``jwt``, ``introspection`` (``+mcp``: with the SDK's
    user objects; ``+refused``), ``revocations+t`` (``+j``, ``+s``)."""
    env = {**os.environ, "MCPAUTH_FAST_NO_EXTENSIONS": "1" if pure else ""}
    out = subprocess.run([sys.executable, __file__, "--worker", kind, str(path)], env=env,
                         capture_output=True, text=True, check=True, timeout=300).stdout
    return dict(json.loads(out))


# -- 2 and 3. Redis ---------------------------------------------------------------------------


def resp(*parts: str | bytes) -> int:
    """Bytes of one RESP array of bulk strings (a command, as redis-py sends it)."""
    encoded = [p.encode() if isinstance(p, str) else p for p in parts]
    return len(b"*%d\r\n" % len(encoded)) + sum(len(b"$%d\r\n\r\n" % len(p)) + len(p)
                                                for p in encoded)


def bulk_reply(value: bytes) -> int:
    return len(b"$%d\r\n\r\n" % len(value)) + len(value)


class RedisMeter:
    """``used_memory`` growth of one kind of entry, from an empty database.

    The first ``real`` entries go through the tier's own async path (one round trip each);
    the rest are the same key and value bytes, made by the tier's own functions, sent in
    pipelines (checked: the first entry's value in Redis equals the bytes made here).
    """

    def __init__(self, url: str, real: int) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.real = real

    def used(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    async def measure(self, items: list[Any], write: Callable[[Any], Awaitable[object]],
                      entry: Callable[[Any], tuple[str, bytes]], px: int | None = None,
                      pxat: int | None = None) -> dict[str, Any]:
        """``write`` sends one item through the tier; ``entry`` is its ``(key, value)``."""
        client = self.client
        client.flushall()
        base = self.used()
        started = time.perf_counter()
        for item in items[:self.real]:
            await write(item)
        seconds = time.perf_counter() - started
        key, value = entry(items[0])
        assert client.get(key) == value, "the tier wrote other bytes than entry() makes"
        pipe = client.pipeline(transaction=False)
        for n, item in enumerate(items[self.real:], 1):
            key, value = entry(item)
            pipe.set(key, value, px=px, pxat=pxat)
            if n % 1000 == 0:
                pipe.execute()
        pipe.execute()
        keys = client.dbsize()
        assert keys == len(items), f"{keys} keys for {len(items)} entries (a write timed out?)"
        growth = self.used() - base
        return {"entries": keys, "bytes_per_entry": growth / keys,
                "memory_usage_sample": client.memory_usage(key, samples=0),
                "growth_mib": growth / MIB,
                "tier_writes_per_second": min(self.real, len(items)) / seconds}


async def redis_figures(url: str, tokens: list[str], answers: list[tuple[str, bytes]],
                        jwks: dict[str, Any], revocations: int, real: int) -> dict[str, Any]:
    from mcpauth_fast.keysets import StaticKeys
    from mcpauth_fast.shared import SharedCacheConfig, SharedTier
    from mcpauth_fast.shared.introspection import IntrospectionShare
    from mcpauth_fast.shared.sealing import record_of
    from mcpauth_fast.verifier import JwtVerifier

    # A generous timeout: a write that times out is dropped, and the count would be off.
    config = SharedCacheConfig.from_options(
        {"url": url, "key": secrets.token_bytes(32), "share_jwt": True, "timeout": 5.0})
    tier = SharedTier(config)
    meter = RedisMeter(url, real)
    prefix, sealing = config.prefix, tier.sealing
    result: dict[str, Any] = {"prefix": prefix, "max_ttl": config.max_ttl,
                              "through_the_tier": real}
    try:
        # JWT results, as verify_jwt shares them after a local verification.
        verifier = JwtVerifier(StaticKeys(jwks), cache_size=0)
        namespace = tier.namespace("jwt", ISSUER, verifier.policy_id)
        (kid,) = [key["kid"] for key in jwks["keys"]]
        px = int(config.max_ttl * 1000)  # the tokens live longer than max_ttl

        async def share_jwt(token: str) -> None:
            info = verifier.verify_sync(token)
            await tier.put(namespace, token, info, jws=True, extra={"kid": kid})

        def jwt_entry(token: str) -> tuple[str, bytes]:
            key = tier._key(namespace, token)
            info = verifier.verify_sync(token)
            return key, sealing.seal(key, record_of(info, jws=True, extra={"kid": kid}))

        log(f"Redis: {len(tokens)} JWT results (SharedTier.put)")
        jwt = await meter.measure(tokens, share_jwt, jwt_entry, px=px)
        key, value = jwt_entry(tokens[0])
        jwt.update(wire(key, value, str(px)), record=orjson.loads(value[33:]))
        result["jwt"] = jwt

        # Introspection answers, as the verifier shares them (IntrospectionShare.put).
        share = IntrospectionShare(tier, "bench")
        ttl = 60.0  # the verifier's default max_cache_seconds
        introspection_ns = share._namespace(ENDPOINT)

        async def share_answer(item: tuple[str, bytes]) -> None:
            token, body = item
            await share.put(ENDPOINT, token, orjson.loads(body), ttl)

        def answer_entry(item: tuple[str, bytes]) -> tuple[str, bytes]:
            token, body = item  # no member of the dev issuer's answer is the token
            key = tier._key(introspection_ns, token)
            return key, sealing.seal(key, {"r": orjson.loads(body)})

        log(f"Redis: {len(answers)} introspection answers (IntrospectionShare.put)")
        introspection = await meter.measure(answers, share_answer, answer_entry,
                                            px=int(ttl * 1000))
        introspection.update(wire(*answer_entry(answers[0]), str(int(ttl * 1000))))
        result["introspection"] = introspection

        # Revocations of a token, a jti, a subject: SharedTier.revoke stores a key (the
        # subject's holds its "before") and publishes a message.
        until = time.time() + config.max_token_lifetime
        at = math.ceil(until * 1000)
        before = time.time()
        # The listener's connection (the first revoke starts it) is no record's cost.
        assert await tier.revoke("t", sealing.token_id("warm-up"), until)
        await asyncio.sleep(0.2)
        for kind in ("t", "j", "s"):
            names = ([sealing.token_id(secrets.token_urlsafe(32)) for _ in range(revocations)]
                     if kind == "t" else
                     [sealing.name_id(kind, ISSUER, f"{kind}-{n}") for n in range(revocations)])
            stored = repr(before).encode() if kind == "s" else b"1"

            async def revoke(name: str, kind: str = kind) -> None:
                assert await tier.revoke(kind, name, until, before if kind == "s" else 0.0)

            def revocation_entry(name: str, kind: str = kind,
                                 stored: bytes = stored) -> tuple[str, bytes]:
                return f"{prefix}:r:{kind}:{name}", stored

            log(f"Redis: {revocations} revocations of kind {kind!r} (SharedTier.revoke)")
            figures = await meter.measure(names, revoke, revocation_entry, pxat=at)
            key = revocation_entry(names[0])[0]
            message = orjson.dumps({"k": kind, "n": names[0], "u": until,
                                    "b": before if kind == "s" else 0.0})
            write = (resp("EVAL", MAX_BEFORE, "1", key, repr(before), str(at)) if kind == "s"
                     else resp("SET", key, stored, "PXAT", str(at)))
            figures.update(key_bytes=len(key), value_bytes=len(stored),
                           message_bytes=len(message),
                           write_wire_bytes=resp("MULTI") + write
                           + resp("PUBLISH", f"{prefix}:revoked", message) + resp("EXEC"),
                           read_wire_bytes=resp("GET", key) + bulk_reply(stored))
            result[f"revocation_{kind}"] = figures
    finally:
        await tier.aclose()
        meter.client.close()
    return result


def wire(key: str, value: bytes, milliseconds: str) -> dict[str, int]:
    """Bytes of one entry on the wire: its SET (with PX), its GET and the GET's reply."""
    return {"key_bytes": len(key.encode()), "value_bytes": len(value),
            "write_wire_bytes": resp("SET", key, value, "PX", milliseconds),
            "read_wire_bytes": resp("GET", key) + bulk_reply(value)}


# -- the report -----------------------------------------------------------------------------


def per_million(bytes_per_entry: float) -> float:
    return bytes_per_entry * MILLION / MIB


def report(result: dict[str, Any]) -> None:
    worker, redis_result = result["worker"], result["redis"]
    print("\nWorker memory per cached entry (RSS growth over N distinct entries; linearity: "
          "the first N/2 alone)")
    size = result["defaults"]["mcpauth_cache_size"]
    print(f"{'cache':32} {'impl':5} {'N':>7} {'B/entry':>8} {'1st half':>9} {'MiB/1M':>8} "
          f"{'MiB@' + str(size):>9} {'token chars':>11}")
    for name, row in worker.items():
        kind, impl = name.rsplit("/", 1)
        full = "" if kind.startswith("revocations") else (
            f"{row['bytes_per_entry'] * size / MIB:.1f}")
        label = kind.replace("+mcp", " + MCP SDK user").replace("+refused", ": refused")
        print(f"{label:32} {impl:5} {row['entries']:7} "
              f"{row['bytes_per_entry']:8.0f} {row['bytes_per_entry_half']:9.0f} "
              f"{per_million(row['bytes_per_entry']):8.0f} {full:>9} "
              f"{row.get('token_chars', ''):>11}")
    print(f"Default sizes: JwtVerifier cache_size={result['defaults']['jwt_cache_size']}, "
          f"IntrospectionVerifier cache_size={result['defaults']['introspection_cache_size']} "
          f"(and as many refused tokens), MCPAuth.bearer_auth_middleware(cache_size="
          f"{result['defaults']['mcpauth_cache_size']}, for either mode); "
          f"introspection max_cache_seconds="
          f"{result['defaults']['introspection_max_cache_seconds']:g}")
    print("An entry holds the token string, its AuthInfo and the cache's record; a JWT's "
          "AuthInfo keeps no decoded claims (read from the token again when asked), an "
          "introspected one a read-only copy of the answer. An app that serves MCP also keeps "
          "the SDK's user object on each AuthInfo (the + MCP SDK user rows).")
    print(f"\nRedis memory per shared entry (used_memory growth; MEMORY USAGE of one key; "
          f"{redis_result['server']})")
    print(f"{'entry':22} {'count':>7} {'B/entry':>8} {'MEMORY USAGE':>12} {'MiB/1M':>8} "
          f"{'tier w/s':>9}")
    kinds = [k for k in redis_result if isinstance(redis_result[k], dict)]
    for kind in kinds:
        row = redis_result[kind]
        print(f"{kind:22} {row['entries']:7} {row['bytes_per_entry']:8.0f} "
              f"{row['memory_usage_sample']:12} {per_million(row['bytes_per_entry']):8.0f} "
              f"{row['tier_writes_per_second']:9.0f}")
    print("\nBytes on the wire per entry (RESP frames: what redis-py sends and receives)")
    print(f"{'entry':22} {'key':>5} {'value':>6} {'write':>7} {'read':>7}  write is")
    for kind in kinds:
        row = redis_result[kind]
        how = ("SET key value PX" if not kind.startswith("revocation")
               else "MULTI, EVAL (max before), PUBLISH, EXEC" if kind.endswith("_s")
               else "MULTI, SET key 1 PXAT, PUBLISH, EXEC")
        print(f"{kind:22} {row['key_bytes']:5} {row['value_bytes']:6} "
              f"{row['write_wire_bytes']:7} {row['read_wire_bytes']:7}  {how}")
    print("read: GET key and its reply (a revocation is read as one key of the MGET a fresh "
          "verification sends until the listener has loaded them all, then by pub/sub)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=100_000,
                        help="entries per introspection cache, per shared kind")
    parser.add_argument("--jwt-tokens", type=int, default=50_000,
                        help="distinct JWTs (RS256 minting, ~1 ms a token a core, is most "
                        "of the run)")
    parser.add_argument("--revocations", type=int, default=100_000,
                        help="revocation records per kind in Redis")
    parser.add_argument("--through-tier", type=int, default=2000,
                        help="entries per kind written through the tier's async path (one "
                        "round trip each); the rest, the same bytes, in pipelines")
    parser.add_argument("--alg", default="RS256", help="the JWTs' algorithm (dev default)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, path = args.worker
        name, _, variant = kind.partition("+")
        print(json.dumps(WORKERS[name](Path(path), variant)))
        return
    binary = redis_binary()
    if binary is None:
        sys.exit("redis-server is not on PATH (make install)")

    from mcpauth_fast import _accel
    from mcpauth_fast.auth import MCPAuth
    from mcpauth_fast.dev.issuer import DevIssuer
    from mcpauth_fast.introspection.verifier import (
        DEFAULT_MAX_CACHE_SECONDS,
        IntrospectionVerifier,
    )
    from mcpauth_fast.verifier import DEFAULT_CACHE_SIZE

    if _accel.IMPLEMENTATION != "c":
        sys.exit("the compiled extension is not built (make install)")
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="scale-memory-"))
    server = RedisServer(binary, workdir)
    try:
        issuer = DevIssuer(state_dir=workdir / "issuer", issuer=ISSUER)
        jwks = issuer.keys.jwks()
        jwks = {"keys": [k for k in jwks["keys"] if k["alg"] == args.alg]}
        (workdir / "jwks.json").write_text(json.dumps(jwks))
        jwt_file = mint_to_file(issuer, workdir / "jwt.txt", args.jwt_tokens, args.alg,
                                ttl=TTL)
        answers = opaque_answers(args.tokens)
        opaque_file = workdir / "opaque.txt"
        opaque_file.write_text("".join(f"{t}\t{b.decode()}\n" for t, b in answers))

        worker: dict[str, Any] = {}
        for kind, path in (("jwt", jwt_file), ("introspection", opaque_file)):
            variants = [(kind, "c"), (kind, "py"), (f"{kind}+mcp", "c")]
            if kind == "introspection":
                variants.append((f"{kind}+refused", "c"))
            for variant, impl in variants:
                log(f"worker: {variant} entries, {impl}")
                worker[f"{variant}/{impl}"] = run_worker(variant, path, pure=impl == "py")
        for kind in ("t", "j", "s"):  # pure Python on either path
            log(f"worker: revocations of kind {kind!r}")
            worker[f"revocations {kind!r}/any"] = run_worker(f"revocations+{kind}", opaque_file,
                                                             pure=False)

        server.start()
        tokens = jwt_file.read_text().split()
        redis_result = asyncio.run(redis_figures(server.url, tokens, answers, jwks,
                                                 args.revocations, args.through_tier))
        info = server.command("INFO", "server").decode(errors="replace")
        version = next(line.split(":", 1)[1].strip() for line in info.splitlines()
                       if line.startswith("redis_version:"))
        allocator = server.command("INFO", "memory").decode(errors="replace")
        mem_allocator = next(line.split(":", 1)[1].strip() for line in allocator.splitlines()
                             if line.startswith("mem_allocator:"))
        redis_result["server"] = f"redis {version}, {mem_allocator}"
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    result = {
        "tokens": args.tokens, "jwt_tokens": args.jwt_tokens, "alg": args.alg,
        "issuer": ISSUER, "audience": AUDIENCE,
        "python": platform.python_version(), "machine": platform.machine(),
        "defaults": {
            "jwt_cache_size": DEFAULT_CACHE_SIZE,
            "introspection_cache_size":
                inspect.signature(IntrospectionVerifier).parameters["cache_size"].default,
            "mcpauth_cache_size":
                inspect.signature(MCPAuth.bearer_auth_middleware).parameters["cache_size"].default,
            "introspection_max_cache_seconds": DEFAULT_MAX_CACHE_SECONDS,
        },
        "worker": worker, "redis": redis_result,
        "seconds": round(time.perf_counter() - started, 1),
    }
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{result['seconds']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
