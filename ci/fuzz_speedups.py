"""Fuzz the compiled hot path with atheris: it must never crash, hang or leak, and must agree
with its pure-Python twin (same value, or the same error with the same code and reason).

    python ci/fuzz_speedups.py -max_total_time=600 -rss_limit_mb=2048

Every entry point of ``mcpauth_fast._speedups`` is fed attacker-shaped input built from the
fuzzer's bytes: raw header lists, Authorization values, base64url segments, compact JWS
tokens, JOSE headers and claim sets (JSON-shaped values drawn from the bytes, with the names
the checks look at), TokenChecks over token sequences, and TokenCache operation sequences with BearerLookup among them.
The only exceptions allowed are the package's own errors and ``ValueError`` from
``b64url_decode`` and ``ecdsa_der``; anything else, or a disagreement, is a finding.
RSS is sampled as it runs: growth past ``LEAK_LIMIT_MB`` after the warm-up is a finding too.

With ``MCPAUTH_FUZZ_EXT_DIR`` set, the compiled module is loaded from that directory instead
of the package (the ASan + SanitizerCoverage build of ``ci/fuzz_native.sh``, which also
preloads atheris's ``asan_with_fuzzer.so``), so libFuzzer is guided by the C code's own
coverage. Only the imports below are instrumented for Python coverage (the twin's branches
complement the C counters); ``atheris.instrument_all()`` would add the whole standard
library's bytecode, slowing every run for no signal about the code under test.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys
import sysconfig
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import atheris

EXT_DIR = os.environ.get("MCPAUTH_FUZZ_EXT_DIR")


def load_extension(directory: str) -> ModuleType:
    """Load ``_speedups<EXT_SUFFIX>`` from ``directory`` as ``mcpauth_fast._speedups``."""
    import mcpauth_fast

    name = "mcpauth_fast._speedups"
    if name in sys.modules:
        raise RuntimeError(f"{name} is already loaded from {sys.modules[name].__file__}")
    path = os.path.join(directory, "_speedups" + sysconfig.get_config_var("EXT_SUFFIX"))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        raise ImportError(f"no compiled module at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    mcpauth_fast._speedups = module  # type: ignore[attr-defined]
    return module


with atheris.instrument_imports():
    from mcpauth_fast import _speedups_py as twin
    from mcpauth_fast.exceptions import MCPAuthException

    if EXT_DIR:
        compiled = load_extension(EXT_DIR)
    else:
        from mcpauth_fast import _speedups as compiled

LEAK_LIMIT_MB = float(os.environ.get("MCPAUTH_FAST_FUZZ_LEAK_MB", "64"))
_state = {"runs": 0, "baseline_rss": 0.0}
ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA", "PS384"})


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def outcome(function: Callable[..., Any], *args: Any) -> Any:
    try:
        value = function(*args)
    except MCPAuthException as exc:
        return ("error", type(exc).__name__, exc.error_code, str(exc.cause))
    except ValueError as exc:
        if function.__name__ not in ("b64url_decode", "ecdsa_der"):
            raise
        return ("ValueError", str(exc))
    return ("value", type(value).__name__, repr(value))


def agree(name: str, *args: Any) -> None:
    expected = outcome(getattr(twin, name), *args)
    actual = outcome(getattr(compiled, name), *args)
    if actual != expected:
        raise AssertionError(f"{name} disagrees: compiled {actual!r} != twin {expected!r}")


#: Names the checks look at, so generated objects hit them, and one they ignore.
NAMES = ["alg", "kid", "typ", "crit", "exp", "nbf", "iat", "iss", "sub", "aud", "scope",
         "scopes", "scp", "client_id", "azp", "jti", "x"]
#: TokenCache keys: short ones, and long ones of one length sharing their last 16 characters.
CACHE_TOKENS = ["a", "b", "c", "d", "e", "f", "g", "h1.-the.same.tail16", "h2.-the.same.tail16",
                "h1..-the.same.tail16", "\u00e9.-the.same.tail16"]
#: Each cache token's value: an AuthInfo, so that BearerLookup can check its policy.
CACHE_VALUES: dict[str, Any] = {}
#: BearerLookup's trusted issuers and audiences, when it checks them.
ISSUERS = frozenset({"https://issuer.example", "https://mcp.example/mcp"})
STRINGS = ["RS256", "ES256", "EdDSA", "none", "HS256", "at+jwt", "application/AT+JWT", "JWT",
           "read write", " read  read\twrite ", "k1", "", "https://issuer.example",
           "https://issuer.example/", "https://mcp.example/mcp"]


def cache_value(token: str) -> Any:
    value = CACHE_VALUES.get(token)
    if value is None:
        from mcpauth_fast.types import AuthInfo

        value = CACHE_VALUES[token] = AuthInfo(
            token=token, issuer="https://issuer.example", subject=token, claims={},
            scopes=("read",) if len(token) % 2 else ("write",),
            audience="https://mcp.example/mcp" if len(token) > 3 else "x")
    return value


def json_value(fdp: Any, depth: int = 0) -> Any:
    """A JSON-shaped value drawn from the fuzzer's bytes (lists and objects nest 3 deep)."""
    kind = fdp.ConsumeIntInRange(0, 9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 20))  # up to 160-bit ints
    if kind == 3:
        return fdp.ConsumeFloat()  # NaN and infinities included
    if kind == 4:
        return fdp.PickValueInList(STRINGS)
    if kind == 5:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 24))
    if kind == 6:
        return fdp.ConsumeIntInRange(1_600_000_000, 2_000_000_000)
    if kind == 7:
        return [json_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if kind == 8:
        return json_object(fdp, depth + 1)
    return [fdp.PickValueInList(STRINGS) for _ in range(fdp.ConsumeIntInRange(0, 4))]


def json_object(fdp: Any, depth: int = 0) -> dict[str, Any]:
    return {fdp.PickValueInList(NAMES): json_value(fdp, depth)
            for _ in range(fdp.ConsumeIntInRange(0, 8))}


def segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token_from(fdp: Any, headers: list[dict[str, Any]]) -> str:
    """A compact JWS of a (repeated) header and a fuzzed payload, sometimes damaged."""
    header = fdp.PickValueInList(headers)
    payload = json.dumps(json_object(fdp)).encode()  # NaN, Infinity and huge ints stay
    token = f"{segment(json.dumps(header).encode())}.{segment(payload)}." + segment(
        fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 70)))
    if fdp.ConsumeIntInRange(0, 4) == 0 and token:
        at = fdp.ConsumeIntInRange(0, len(token) - 1)
        token = token[:at] + fdp.ConsumeUnicodeNoSurrogates(2) + token[at + 1:]
    return token


def agree_token_checks(fdp: Any) -> None:
    """One TokenChecks per implementation over the same token sequence: the header memory
    may change the work, never an outcome."""
    options = (ALGORITHMS, fdp.PickValueInList([None, "at+jwt"]),
               fdp.PickValueInList([8192, 200]), fdp.PickValueInList([0.0, 60.0]),
               fdp.ConsumeBool(), fdp.PickValueInList([None, 0.0, 3600.0]))
    pair = (compiled.TokenChecks(*options), twin.TokenChecks(*options))
    headers = [json_object(fdp) for _ in range(fdp.ConsumeIntInRange(1, 3))]
    headers.append({"alg": fdp.PickValueInList(["RS256", "ES256", "none"]), "kid": "k1",
                    "typ": "at+jwt"})
    now = fdp.ConsumeFloatInRange(1_600_000_000, 2_000_000_000)
    for _ in range(fdp.ConsumeIntInRange(1, 6)):
        token = token_from(fdp, headers)
        actual, expected = (outcome(checks.check, token, now) for checks in pair)
        if actual != expected:
            raise AssertionError(f"TokenChecks disagrees: compiled {actual!r} != "
                                 f"twin {expected!r}")


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    choice = fdp.ConsumeIntInRange(0, 9)
    if choice == 0:
        agree("parse_bearer", fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200)),
              fdp.ConsumeIntInRange(0, 300))
    elif choice == 1:
        headers = []
        for _ in range(fdp.ConsumeIntInRange(0, 4)):
            name = fdp.PickValueInList([b"authorization", b"Authorization", b"host", b"x"])
            headers.append((name, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 80))))
        agree("find_authorization", headers)
        agree("bearer_token", headers)
    elif choice == 2:
        agree("b64url_decode", fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 120)))
        size = fdp.PickValueInList([32, 48, 66, 1, 67])
        agree("ecdsa_der", fdp.ConsumeBytes(fdp.PickValueInList([2 * size, 2 * size - 1,
                                                                  fdp.ConsumeIntInRange(0, 140)])),
              size)
    elif choice == 3:
        token = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 600))
        agree("decode_jws", token, fdp.ConsumeIntInRange(0, 1000))
    elif choice == 4:
        agree("check_header", json_object(fdp), ALGORITHMS,
              fdp.PickValueInList([None, "at+jwt", "JWT"]))
    elif choice == 5:
        claims = json_object(fdp)
        agree("check_time_claims", claims, fdp.ConsumeFloatInRange(0, 4e9),
              fdp.ConsumeFloatInRange(0, 120), fdp.ConsumeBool(),
              fdp.PickValueInList([None, 0.0, 60.0, 1e12]))
        agree("extract_scopes", claims)
        exp = claims.get("exp")  # float(exp) of a claim check_time_claims would refuse raises
        if exp is None or (type(exp) in (int, float) and not abs(exp) > 1e300):
            token = f"{segment(b'{}')}.{segment(json.dumps(claims).encode())}.{segment(b's')}"
            agree("auth_info_from_claims", token, "https://issuer.example", claims,
                  tuple(fdp.PickValueInList(NAMES) for _ in range(fdp.ConsumeIntInRange(0, 2))))
    elif choice == 6:
        issuers = frozenset(fdp.PickValueInList(STRINGS) for _ in range(2)) or None
        scopes = tuple(tuple(fdp.PickValueInList(STRINGS) for _ in range(fdp.ConsumeIntInRange(1, 2)))
                       for _ in range(fdp.ConsumeIntInRange(0, 3)))
        agree("check_policy", json_value(fdp), json_value(fdp),
              tuple(fdp.PickValueInList(STRINGS) for _ in range(3)),
              fdp.PickValueInList([None, issuers]), fdp.PickValueInList([None, issuers]),
              scopes)
    elif choice == 7:
        a, b = compiled.TokenCache(fdp.ConsumeIntInRange(0, 6)), None
        b = twin.TokenCache(a.maxsize)
        policy = (fdp.ConsumeIntInRange(0, 300), fdp.PickValueInList([None, ISSUERS]),
                  fdp.PickValueInList([None, ISSUERS]),
                  fdp.PickValueInList([(), (("read",),), (("read", "admin"), ("admin",))]))
        lookups = (compiled.BearerLookup(a, *policy).lookup, twin.BearerLookup(b, *policy).lookup)
        for _ in range(fdp.ConsumeIntInRange(0, 30)):
            op = fdp.ConsumeIntInRange(0, 4)
            # A new str each time, as a request's; the long ones share a compiled front slot.
            token = fdp.PickValueInList(CACHE_TOKENS).encode().decode()
            when = fdp.ConsumeFloatInRange(0, 100)
            kid = fdp.PickValueInList([None, "k1", ("iss", "k2")])
            header = (fdp.PickValueInList([b"Bearer ", b"bearer  ", b"Bearer", b"Basic ", b""])
                      + token.encode() + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 2)))
            # Long past or an hour ahead of the wall clock, which BearerLookup reads: never so
            # close to it that the clock moving between the two lookups changes the answer.
            until = when if fdp.ConsumeBool() else time.time() + 3600 + when
            results = []
            for cache, lookup in zip((a, b), lookups, strict=True):
                if op == 0:
                    results.append(cache.get(token, when))
                elif op == 1:
                    results.append(cache.put(token, cache_value(token), until, kid))
                elif op == 4:
                    results.append(outcome(lookup, [(b"authorization", header)]))
                elif op == 2:
                    results.append(cache.evict_kid(kid))
                else:
                    results.append(cache.clear())
                results.append((cache.info(), len(cache)))
            if results[:2] != results[2:]:
                raise AssertionError(f"TokenCache disagrees: {results!r}")
    elif choice == 8:
        # A well-formed token around fuzzed bytes, so the decoder gets past the splitting.
        header = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 100))
        if fdp.ConsumeBool():
            payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300))
        else:  # JSON text with a few bytes changed: the parser's edge cases, not just noise
            text = bytearray(json.dumps(json_object(fdp), ensure_ascii=fdp.ConsumeBool()).encode(
                "utf-8", "surrogatepass"))
            for _ in range(fdp.ConsumeIntInRange(0, 3)):
                text[fdp.ConsumeIntInRange(0, len(text) - 1)] = fdp.ConsumeInt(1) & 0xFF
            payload = bytes(text)
        agree("decode_jws", f"{segment(header)}.{segment(payload)}.{segment(b'sig')}")
    else:
        agree_token_checks(fdp)
    runs = _state["runs"] = _state["runs"] + 1
    if runs == 20_000:
        _state["baseline_rss"] = rss_mb()
    elif runs % 50_000 == 0 and _state["baseline_rss"]:
        growth = rss_mb() - _state["baseline_rss"]
        if growth > LEAK_LIMIT_MB:
            raise AssertionError(f"RSS grew {growth:.0f} MiB after {runs} runs: a leak")


def main() -> None:
    if EXT_DIR:
        print(f"INFO: compiled module under test: {compiled.__file__}", file=sys.stderr, flush=True)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
