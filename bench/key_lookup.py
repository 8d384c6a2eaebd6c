"""Does the JWKS cache cost anything on a request? Interleaved timeit, ratios to dict.get.

    cd bench && ../.venv/bin/python key_lookup.py

A cached hit never touches the key source, so it costs the same with a RemoteJwks as with
static keys; on a miss, ``RemoteJwks.find`` (the freshness check and the set lookup) is
compared with ``StaticKeys.find``.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
import timeit

from corpus import ISSUER, corpus

from mcpauth_fast import _accel
from mcpauth_fast.jwks import KeySet, RemoteJwks
from mcpauth_fast.keysets import StaticKeys
from mcpauth_fast.verifier import JwtVerifier


def main() -> None:
    es256 = corpus(8)["ES256"]
    jwk = es256.jwk
    static = StaticKeys([jwk])
    remote = RemoteJwks("http://127.0.0.1:9/never-fetched")
    remote._key_set = KeySet.from_jwks({"keys": [jwk]})  # a fetched, fresh set
    remote._refresh_at = math.inf
    token = es256.tokens[0]
    by_static, by_remote = JwtVerifier(static), JwtVerifier(remote)
    asyncio.run(by_static.verify(token))
    asyncio.run(by_remote.verify(token))
    kid = jwk["kid"]
    table = {token: object()}
    cases = {
        "dict.get (floor)": lambda: table.get(token),
        "cached hit, StaticKeys": lambda: by_static.cached(token),
        "cached hit, RemoteJwks": lambda: by_remote.cached(token),
        "key find, StaticKeys": lambda: static.find(ISSUER, kid, "ES256"),
        "key find, RemoteJwks": lambda: remote.find(ISSUER, kid, "ES256"),
    }
    number, best = 200_000, {name: math.inf for name in cases}
    for _ in range(7):
        for name, case in cases.items():
            best[name] = min(best[name], timeit.timeit(case, number=number) / number)
    floor = best["dict.get (floor)"]
    print(f"python {sys.version.split()[0]}, IMPLEMENTATION {_accel.IMPLEMENTATION}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    for name, seconds in best.items():
        print(f"  {name:24s} {seconds * 1e9:7.1f} ns   {seconds / floor:5.2f}x dict.get")


if __name__ == "__main__":
    main()
