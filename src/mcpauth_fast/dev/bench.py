"""``mcpauth-fast bench``: how fast this machine verifies tokens, as ratios to the floors.

It needs nothing beyond the package's own dependencies (no pytest, no peers). It generates
real keys (RSA-2048, P-256, Ed25519, an HMAC secret) and distinct tokens, then times, in
interleaved rounds until the time is up:

- cold: ``JwtVerifier.verify_sync`` on a different token every call (the cache is smaller than
  the token cycle, so every call misses) against the floor, the bare ``cryptography`` verify
  of the same signatures with precomputed arguments (for HS256, ``hmac.digest`` and
  ``hmac.compare_digest``);
- warm: ``cached(token)`` and ``verify_sync(token)`` on a verified token against the floor,
  ``dict.get(token)``.

Each figure is the ratio of per-call times, fastest batch to fastest batch (noise on a shared
machine only ever adds time), with the median ratio beside it. Every contender runs once per
round, in a rotating order, so a busy moment slows all of them alike. It measures the hot path
the dispatcher picked (``IMPLEMENTATION``); run it again with ``MCPAUTH_FAST_NO_EXTENSIONS=1``
for the pure-Python twin.
"""

from __future__ import annotations

import collections
import hmac
import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .. import __version__
from .._accel import IMPLEMENTATION
from ..keys import hmac_key
from ..keysets import StaticKeys
from ..verifier import JwtVerifier
from .signing import b64url, b64url_json, export_jwk, sign

__all__ = ["ALGORITHMS", "format_report", "run_inprocess_bench"]

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA", "HS256")
#: The targets of the compiled hot path: cold verify / raw verify, warm verify / dict.get
#: (issue 14's bars: what a core with two copies of each step and no JSON parser of its own
#: is held to). bench/test_bench_verify.py reads them from here.
COLD_TARGETS = {"RS256": 1.15, "ES256": 1.15, "EdDSA": 1.15}
WARM_TARGET = 4.0
_ISSUER = "https://issuer.example.com"
_BATCH_SECONDS = 0.002  # one timed batch: long against the clock's resolution, short against noise
_TEN_YEARS = 10 * 365 * 24 * 3600

_Run = Callable[[int], None]  # run(n): n calls of the contender


class _Contender:
    __slots__ = ("row", "name", "role", "target", "run", "batch", "times")

    def __init__(self, row: str, name: str, role: str, target: float | None, run: _Run) -> None:
        self.row, self.name, self.role, self.target, self.run = row, name, role, target, run
        self.batch = 1
        self.times: list[float] = []  # seconds per call, one per round


def _drain(function: Callable[..., Any], inputs: Iterable[Any], star: bool = False) -> None:
    # The loop runs in C, so the driver costs every contender and floor the same few ns.
    collections.deque((itertools.starmap if star else map)(function, inputs), 0)


def _cycling(function: Callable[..., Any], items: Sequence[Any], star: bool = False) -> _Run:
    endless = itertools.cycle(items)
    return lambda n: _drain(function, itertools.islice(endless, n), star)


def _repeating(function: Callable[..., Any], item: Any) -> _Run:
    return lambda n: _drain(function, itertools.repeat(item, n))


def private_key(alg: str) -> Any:
    """A new key for one of :data:`ALGORITHMS` (the HMAC secret is 32 random bytes)."""
    if alg in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "HS256":
        return os.urandom(32)
    raise ValueError(alg)


def _floor(alg: str, private: Any) -> Callable[[bytes, bytes], None]:
    """The bare primitive with precomputed arguments (ES256 takes the DER signature)."""
    if alg == "HS256":
        digest, compare = hmac.digest, hmac.compare_digest

        def hs256(sig: bytes, data: bytes) -> None:
            if not compare(digest(private, data, "sha256"), sig):
                raise ValueError("bad HMAC")

        return hs256
    verify = private.public_key().verify
    if alg == "EdDSA":
        return verify  # type: ignore[no-any-return]
    extra: tuple[Any, ...]
    if alg == "ES256":
        extra = (ec.ECDSA(hashes.SHA256()),)
    elif alg == "PS256":
        sha = hashes.SHA256()
        extra = (padding.PSS(mgf=padding.MGF1(sha), salt_length=sha.digest_size), sha)
    else:
        extra = (padding.PKCS1v15(), hashes.SHA256())

    def asymmetric(sig: bytes, data: bytes) -> None:
        verify(sig, data, *extra)

    return asymmetric


def _tokens(alg: str, private: Any, count: int) -> tuple[list[str], list[tuple[bytes, bytes]]]:
    kid = f"bench-{alg.lower()}"
    now = int(time.time())
    tokens: list[str] = []
    signed: list[tuple[bytes, bytes]] = []
    for index in range(count):
        claims = {
            "iss": _ISSUER, "sub": f"user-{index}", "aud": "https://mcp.example.com/mcp",
            "exp": now + _TEN_YEARS, "iat": now, "scope": "mcp:tools read write",
            "client_id": "bench-client", "jti": f"bench-{index:08x}",
        }
        header = {"alg": alg, "typ": "at+jwt", "kid": kid}
        signing_input = f"{b64url_json(header)}.{b64url_json(claims)}".encode("ascii")
        signature = sign(private, alg, signing_input)
        tokens.append(f"{signing_input.decode('ascii')}.{b64url(signature)}")
        if alg == "ES256":
            signature = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
        signed.append((signature, signing_input))
    return tokens, signed


def _verifier(alg: str, private: Any, cache_size: int) -> JwtVerifier:
    kid = f"bench-{alg.lower()}"
    if alg == "HS256":
        keys = StaticKeys([hmac_key(private, kid=kid, alg="HS256")])
    else:
        jwk = {**export_jwk(private), "kid": kid, "alg": alg, "use": "sig"}
        keys = StaticKeys({"keys": [jwk]})
    return JwtVerifier(keys, algorithms=[alg], cache_size=cache_size)


def _contenders(algorithms: Sequence[str], token_count: int) -> list[_Contender]:
    contenders: list[_Contender] = []
    first_token = first_alg = ""
    first_private: Any = None
    for alg in algorithms:
        private = private_key(alg)
        tokens, signed = _tokens(alg, private, token_count)
        row = f"cold {alg}"
        contenders.append(_Contender(
            row, "cryptography verify", "floor", None, _cycling(_floor(alg, private), signed, True)
        ))
        cold = _verifier(alg, private, cache_size=max(1, token_count // 4))
        contenders.append(_Contender(
            row, f"verify_sync [{IMPLEMENTATION}]", "ours",
            COLD_TARGETS.get(alg) if IMPLEMENTATION == "c" else None,
            _cycling(cold.verify_sync, tokens),
        ))
        if not first_token:
            first_token, first_alg, first_private = tokens[0], alg, private
    if first_token:
        # A cache hit does not depend on the algorithm: one warm row, on the first one's token.
        warm = _verifier(first_alg, first_private, cache_size=4096)
        info = warm.verify_sync(first_token)
        table = {first_token: info}
        target = WARM_TARGET if IMPLEMENTATION == "c" else None
        for name, role, function in (
            ("dict.get", "floor", table.get),
            (f"cached [{IMPLEMENTATION}]", "ours", warm.cached),
            (f"verify_sync [{IMPLEMENTATION}]", "ours", warm.verify_sync),
        ):
            if function(first_token) is not info:
                raise RuntimeError(f"warm {name} did not hit the cache")
            contenders.append(_Contender(
                "warm (cache hit)", name, role, None if role == "floor" else target,
                _repeating(function, first_token),
            ))
    return contenders


def _calibrate(contender: _Contender) -> None:
    """The batch size that makes one timed batch last about _BATCH_SECONDS."""
    n = 1
    while True:
        start = time.perf_counter()
        contender.run(n)
        elapsed = time.perf_counter() - start
        if elapsed >= _BATCH_SECONDS / 4 or n >= 1 << 20:
            contender.batch = max(1, int(n * _BATCH_SECONDS / max(elapsed, 1e-9)))
            return
        n *= 4


def _versions() -> dict[str, str]:
    from cryptography.hazmat.backends.openssl.backend import backend

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "mcpauth-fast": __version__,
        "IMPLEMENTATION": IMPLEMENTATION,
        "cryptography": f"{version('cryptography')} ({backend.openssl_version_text()})",
        "orjson": version("orjson"),
    }


def run_inprocess_bench(
    seconds: float = 10.0,
    *,
    algorithms: Sequence[str] = ALGORITHMS,
    tokens: int = 64,
    out: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Time cold and warm verification against their floors, interleaved, for ``seconds``.

    :param seconds: the time spent measuring, after key generation and calibration.
    :param algorithms: a subset of :data:`ALGORITHMS`.
    :param tokens: distinct tokens per algorithm for the cold rows (at least 8).
    :param out: where the table goes line by line (None: nowhere).
    :returns: ``{"versions", "statistic", "seconds", "rounds", "results"}``; each result has
        row, contender, role, target, ``min_s``/``median_s`` per call, the floor's and
        ``ratio_min``/``ratio_median``, and ``ok`` where there is a target.
    :raises ValueError: an unknown algorithm, ``seconds <= 0`` or fewer than 8 tokens.
    """
    unknown = sorted(set(algorithms) - set(ALGORITHMS))
    if unknown:
        raise ValueError(f"unknown algorithms: {unknown}; choose from {list(ALGORITHMS)}")
    if seconds <= 0 or tokens < 8:
        raise ValueError("seconds must be > 0 and tokens >= 8")
    contenders = _contenders(algorithms, tokens)
    for contender in contenders:
        _calibrate(contender)
    rounds = 0
    deadline = time.perf_counter() + seconds
    timer = time.perf_counter
    while rounds < 3 or timer() < deadline:
        # Rotate the order every round: no contender always follows the same neighbour.
        shift = rounds % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            n = contender.batch
            start = timer()
            contender.run(n)
            contender.times.append((timer() - start) / n)
        rounds += 1
    result = {
        "versions": _versions(),
        "statistic": "min",
        "seconds": seconds,
        "rounds": rounds,
        "results": _results(contenders),
    }
    if out is not None:
        for line in format_report(result).splitlines():
            out(line)
    return result


def _results(contenders: Sequence[_Contender]) -> list[dict[str, Any]]:
    floors: dict[str, _Contender] = {c.row: c for c in contenders if c.role == "floor"}
    results: list[dict[str, Any]] = []
    for c in contenders:
        floor = floors[c.row]
        low, mid = min(c.times), statistics.median(c.times)
        floor_low, floor_mid = min(floor.times), statistics.median(floor.times)
        entry: dict[str, Any] = {
            "row": c.row, "contender": c.name, "role": c.role, "target": c.target,
            "batch": c.batch, "min_s": low, "median_s": mid,
            "floor_min_s": floor_low, "floor_median_s": floor_mid,
            "ratio_min": low / floor_low, "ratio_median": mid / floor_mid,
        }
        if c.target is not None:
            entry["ok"] = entry["ratio_min"] <= c.target
        results.append(entry)
    return results


def _time(seconds: float) -> str:
    for unit, scale in (("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def format_report(result: dict[str, Any]) -> str:
    """The result of :func:`run_inprocess_bench` as a plain-text table."""
    lines = [f"mcpauth-fast bench: {result['rounds']} interleaved rounds in "
             f"{result['seconds']:g} s; ratio = fastest/fastest per call (median/median)"]
    lines += [f"  {name:<14} {value}" for name, value in result["versions"].items()]
    row = None
    for r in result["results"]:
        if r["row"] != row:
            row = r["row"]
            lines.append(f"{row}")
        target = ""
        if r["target"] is not None:
            target = f"{'ok' if r['ok'] else 'MISS'} (target {r['target']:g}x)"
        lines.append(
            f"  {r['contender']:<22} {r['ratio_min']:6.2f}x ({r['ratio_median']:5.2f}x)"
            f"  {_time(r['min_s']):>9}  {target}"
        )
    return "\n".join(lines)
