"""What a shared JWT entry saves: a local signature check against a Redis round trip.

After a local miss, a worker either verifies the JWT itself (the key is at hand: a signature
check and the claims) or asks the shared tier (a Redis GET over loopback, the HMAC check, the
AuthInfo built). Both are timed here in one process, on one event loop, for distinct tokens
of RS256, ES256 and EdDSA; median microseconds per token over --tokens tokens. Needs
redis-server on PATH (ci/install.sh installs it).

    python bench/shared_tier.py [--tokens 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

from support.redis_server import RedisServer, redis_binary  # noqa: E402
from support.tokens import claims, signing_key  # noqa: E402

from mcpauth_fast.keysets import StaticKeys  # noqa: E402
from mcpauth_fast.shared import SharedCacheConfig, SharedTier  # noqa: E402
from mcpauth_fast.verifier import JwtVerifier  # noqa: E402


async def measure(alg: str, count: int, url: str) -> tuple[float, float]:
    key = signing_key(alg)
    verifier = JwtVerifier(StaticKeys([key.jwk()]), algorithms=[alg], cache_size=0)
    tier = SharedTier(SharedCacheConfig.from_options(
        {"url": url, "key": b"k" * 32, "share_jwt": True}))
    now = time.time()
    tokens = [key.mint(claims(now, jti=f"{alg}-{n}")) for n in range(count)]
    namespace = tier.namespace("jwt", "bench", verifier.policy_id)
    local, shared = [], []
    for value in tokens:
        start = time.perf_counter()
        info = await verifier.verify_uncached(value)
        local.append(time.perf_counter() - start)
        await tier.put(namespace, value, info, jws=True, extra={"kid": key.kid})
    for value in tokens:
        start = time.perf_counter()
        found = await tier.get(namespace, value)
        shared.append(time.perf_counter() - start)
        assert found is not None
    await tier.aclose()
    return statistics.median(local) * 1e6, statistics.median(shared) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=2000)
    args = parser.parse_args()
    binary = redis_binary()
    if binary is None:
        sys.exit("redis-server is not on PATH (make install)")
    server = RedisServer(binary, Path(tempfile.mkdtemp()))
    server.start()
    try:
        print(f"{'alg':8} {'local verify us':>16} {'Redis hit us':>14}")
        for alg in ("RS256", "ES256", "EdDSA"):
            local, shared = asyncio.run(measure(alg, args.tokens, server.url))
            print(f"{alg:8} {local:16.1f} {shared:14.1f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
