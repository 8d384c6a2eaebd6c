"""Fuzz the compiled hot path with atheris: it must never crash, hang or leak, and must agree
with its pure-Python twin (same value, or the same error with the same code and reason).

    python ci/fuzz_speedups.py -max_total_time=600 -rss_limit_mb=2048

Every entry point of ``mcpauth_fast._speedups`` is fed attacker-shaped input built from the
fuzzer's bytes: raw header lists, Authorization values, base64url segments, compact JWS
tokens, JOSE headers and claim sets (parsed from the bytes as JSON when they are JSON), and
TokenCache operation sequences. The only exceptions allowed are the package's own errors
and ``ValueError`` from ``b64url_decode``; anything else, or a disagreement, is a finding.
RSS is sampled as it runs: growth past ``LEAK_LIMIT_MB`` after the warm-up is a finding too.

With ``MCPAUTH_FUZZ_EXT_DIR`` set, the compiled module is loaded from that directory instead
of the package (the ASan + SanitizerCoverage build of ``ci/fuzz_native.sh``, which also
preloads atheris's ``asan_with_fuzzer.so``), so libFuzzer is guided by the C code's own
coverage. Only the imports below are instrumented for Python coverage (the twin's branches
complement the C counters); ``atheris.instrument_all()`` would add the whole standard
library's bytecode, slowing every run for no signal about the code under test.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
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
    import orjson

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
        if function.__name__ != "b64url_decode":
            raise
        return ("ValueError", str(exc))
    return ("value", type(value).__name__, repr(value))


def agree(name: str, *args: Any) -> None:
    expected = outcome(getattr(twin, name), *args)
    actual = outcome(getattr(compiled, name), *args)
    if actual != expected:
        raise AssertionError(f"{name} disagrees: compiled {actual!r} != twin {expected!r}")


def json_or_text(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace")


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    choice = fdp.ConsumeIntInRange(0, 8)
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
    elif choice == 3:
        token = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 600))
        agree("decode_jws", token, fdp.ConsumeIntInRange(0, 1000))
    elif choice == 4:
        header = json_or_text(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200)))
        if isinstance(header, dict):
            agree("check_header", header, ALGORITHMS,
                  fdp.PickValueInList([None, "at+jwt", "JWT"]))
    elif choice == 5:
        claims = json_or_text(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300)))
        if isinstance(claims, dict):
            agree("check_time_claims", claims, fdp.ConsumeFloatInRange(0, 4e9),
                  fdp.ConsumeFloatInRange(0, 120), fdp.ConsumeBool(),
                  fdp.PickValueInList([None, 0.0, 60.0, 1e12]))
            agree("extract_scopes", claims)
    elif choice == 6:
        values = json_or_text(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300)))
        if isinstance(values, list) and len(values) >= 3:
            issuers = frozenset(v for v in values[3:6] if isinstance(v, str)) or None
            agree("check_policy", values[0], values[1], values[2], issuers, issuers,
                  tuple(v for v in values[6:9] if isinstance(v, str)))
    elif choice == 7:
        a, b = compiled.TokenCache(fdp.ConsumeIntInRange(0, 6)), None
        b = twin.TokenCache(a.maxsize)
        for _ in range(fdp.ConsumeIntInRange(0, 30)):
            op = fdp.ConsumeIntInRange(0, 3)
            token = fdp.PickValueInList(["a", "b", "c", "d", "e", "f", "g"])
            when = fdp.ConsumeFloatInRange(0, 100)
            kid = fdp.PickValueInList([None, "k1", ("iss", "k2")])
            results = []
            for cache in (a, b):
                if op == 0:
                    results.append(cache.get(token, when))
                elif op == 1:
                    results.append(cache.put(token, token + "!", when, kid))
                elif op == 2:
                    results.append(cache.evict_kid(kid))
                else:
                    results.append(cache.clear())
                results.append((cache.info(), len(cache)))
            if results[:2] != results[2:]:
                raise AssertionError(f"TokenCache disagrees: {results!r}")
    else:
        # A well-formed token around fuzzed JSON, so the decoder gets past the splitting.
        header = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 100))
        payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300))
        import base64

        def seg(raw: bytes) -> str:
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        agree("decode_jws", f"{seg(header)}.{seg(payload)}.{seg(b'sig')}")
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
