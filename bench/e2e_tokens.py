"""The tokens of the end-to-end runs: a dev issuer on 127.0.0.1, distinct tokens minted on
every core into a file (one a line), and the hostile kinds the locustfile sends."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from e2e_server import AUDIENCE, SCOPE, log


@contextlib.contextmanager
def issuer_running(workdir: Path) -> Iterator[Any]:
    """A ``DevIssuer`` serving its metadata and JWKS on 127.0.0.1, its keys in ``workdir``."""
    from mcpauth_fast.dev.issuer import DevIssuer

    with DevIssuer(state_dir=workdir / "issuer") as issuer:
        _ = issuer.keys  # create the keys before the minting processes load them
        yield issuer


_minter: Any = None


def _init_minter(state_dir: str, issuer: str) -> None:
    global _minter
    from mcpauth_fast.dev.issuer import DevIssuer

    _minter = DevIssuer(state_dir=state_dir, issuer=issuer)


def _mint_chunk(job: tuple[int, int, str, float, str]) -> list[str]:
    start, count, alg, ttl, scope = job
    return [_minter.mint(sub=f"user-{i % 97}", scope=scope, aud=AUDIENCE, ttl=ttl, alg=alg)
            for i in range(start, start + count)]


def mint_to_file(issuer: Any, path: Path, count: int, alg: str, ttl: float = 3 * 3600,
                 scope: str = SCOPE) -> Path:
    """``count`` distinct tokens (distinct ``jti``), one a line, minted on every core."""
    started = time.perf_counter()
    chunk = 2000
    jobs = [(s, min(chunk, count - s), alg, ttl, scope) for s in range(0, count, chunk)]
    context = multiprocessing.get_context("spawn")  # the issuer's server thread is running
    with context.Pool(os.cpu_count() or 1, _init_minter,
                      (str(issuer.state_dir), issuer.issuer)) as pool, path.open("w") as out:
        for tokens in pool.imap(_mint_chunk, jobs):
            out.write("\n".join(tokens) + "\n")
    log(f"minted {count} {alg} tokens in {time.perf_counter() - started:.1f} s")
    return path


def hostile_tokens(issuer: Any, good: list[str]) -> dict[str, list[str]]:
    """Tokens a hostile or broken client sends, by kind (the locustfile's expectations)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from mcpauth_fast.dev.signing import b64url, encode_jws

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = issuer.keys.kids["RS256"]
    now = int(time.time())
    claims = {"iss": issuer.issuer, "sub": "mallory", "aud": AUDIENCE, "scope": SCOPE,
              "iat": now, "exp": now + 3600, "jti": "forged"}
    header = {"alg": "RS256", "kid": kid, "typ": "at+jwt"}
    unsigned = (b64url(json.dumps({"alg": "none", "typ": "at+jwt"}).encode()) + "."
                + b64url(json.dumps(claims).encode()) + ".")
    return {
        "good": good,
        "expired": [issuer.mint(aud=AUDIENCE, scope=SCOPE, ttl=-3600, jti=f"e{n}")
                    for n in range(8)],
        "forged": [encode_jws(header, {**claims, "jti": f"f{n}"}, other) for n in range(8)],
        "unknown_kid": [encode_jws({**header, "kid": f"rotated-{n}"}, claims, other)
                        for n in range(4)],
        "alg_none": [unsigned],
        "wrong_audience": [issuer.mint(aud="https://elsewhere.example", scope=SCOPE)],
        "missing_scope": [issuer.mint(aud=AUDIENCE, scope="write")],
        "garbage": ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA", good[0][:-8]],
        "oversized": [good[0] + "A" * 9000],
    }
