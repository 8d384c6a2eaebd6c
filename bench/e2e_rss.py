"""Memory of the end-to-end runs: RSS sampled while a server works, what one cache entry
costs (tracemalloc), the RSS of the imports alone, and the RSS run itself (a stream of
distinct tokens, each once, through a fresh no-auth app and a fresh fast app)."""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from e2e_server import MIB, ROOT, Server, get, log
from e2e_wrk import run_wrk


class RssSampler:
    """VmRSS of ``server`` every ``interval`` seconds, in a thread: ``(seconds, MiB)``."""

    def __init__(self, server: Server, interval: float = 1.0) -> None:
        self.server, self.interval = server, interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.perf_counter()

    def _run(self) -> None:
        while True:
            elapsed = time.perf_counter() - self.started
            try:
                self.samples.append((round(elapsed, 2),
                                     self.server.status()["VmRSS"] / MIB))
            except (OSError, KeyError):  # the server is gone: the run reports it
                return
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def at(self, seconds: float) -> float | None:
        """The first sample taken at or after ``seconds``."""
        return next((rss for t, rss in self.samples if t >= seconds), None)


def cache_entry_bytes(tokens: list[str], jwks: dict[str, Any], sdk_users: bool = False
                      ) -> dict[str, Any]:
    """Bytes a full default-size cache keeps per entry, measured with tracemalloc.

    The verifier the fast app builds, fed fresh copies of the tokens (the server's tokens are
    fresh strings from the HTTP parser, kept alive by the cache). With ``sdk_users``, also the
    MCP SDK user object the middleware attaches to each ``AuthInfo`` in an app that serves MCP
    (the benchmark's plain Starlette app does not load the SDK, so its entries have none).
    """
    from mcpauth_fast.keysets import StaticKeys
    from mcpauth_fast.mcp_compat import sdk_user
    from mcpauth_fast.verifier import DEFAULT_CACHE_SIZE, JwtVerifier

    size = DEFAULT_CACHE_SIZE
    if len(tokens) < size + size // 4 + 1:
        raise ValueError(f"need at least {size + size // 4 + 1} distinct tokens")
    verifier = JwtVerifier(StaticKeys(jwks))
    assert verifier.cache.maxsize == size
    attach = sdk_user if sdk_users else (lambda info: info)
    attach(verifier.verify_sync(tokens[-1]))  # the SDK's import and the keys: not an entry
    verifier.cache.clear()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        figures = []
        # Fill, then replace entries (the steady state: each put evicts the oldest entry).
        for batch in (tokens[:size], tokens[size:2 * size - 1]):
            for token in batch:
                attach(verifier.verify_sync((token + " ")[:-1]))
            gc.collect()
            figures.append((tracemalloc.get_traced_memory()[0] - base) / size)
    finally:
        tracemalloc.stop()
    return {"cache_size": size, "token_chars": len(tokens[0]), "sdk_users": sdk_users,
            "bytes_per_entry_fill":
            round(figures[0]), "bytes_per_entry_steady": round(figures[1]),
            "bound_mib": size * max(figures) / MIB}


_IMPORTS = {
    "the no-auth app (uvicorn, uvloop, httptools, starlette)": [],
    "+ mcpauth_fast (cryptography, pydantic, httpx, its modules)": ["mcpauth_fast.auth"],
    "+ the MCP SDK (loaded by an app that serves MCP, not by this plain app)": [
        "mcpauth_fast.auth", "mcp.server.auth.middleware.auth_context"],
    "mcpauth 0.1.1 instead (pyjwt, pydantic, ...)": ["mcpauth"],
}
_RSS_AFTER = (
    "import importlib, sys, uvicorn, uvloop, httptools, starlette.applications, "
    "starlette.middleware, starlette.routing, starlette.responses\n"
    "for name in sys.argv[1:]: importlib.import_module(name)\n"
    "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])")


def import_rss() -> dict[str, float]:
    """RSS (MiB) of a fresh interpreter after each set of imports: what is not the cache."""
    result = {}
    for label, modules in _IMPORTS.items():
        out = subprocess.run([sys.executable, "-c", _RSS_AFTER, *modules], capture_output=True,
                             text=True, check=True, cwd=ROOT).stdout
        result[label] = int(out) / 1024
    return result


def measure_rss(issuer: Any, workdir: Path, script: Path, tokens: Path, count: int,
                entry: dict[str, Any], args: argparse.Namespace,
                cores: tuple[int | None, int | None]) -> dict[str, Any]:
    server_core, client_core = cores
    same = (workdir / "same.txt").read_text().split()[0]
    result: dict[str, Any] = {"tokens": count, "alg": "ES256", "bound": entry["RS256"],
                              "bound_run": entry.get("ES256", entry["RS256"]),
                              "bound_mcp_app": entry["RS256, MCP app"],
                              "imports_mib": import_rss()}
    for name, app in (("noauth", "noauth"), ("fast", "fast")):
        server = Server(app, issuer, server_core, workdir, f"rss-{name}")
        try:
            status, _ = get(server.port, "/whoami", same)
            assert status == 200, status
            start = server.status()["VmRSS"] / MIB
            log(f"RSS run: {count} distinct tokens through {name} "
                f"(at most {args.rss_timeout:.0f} s)")
            with RssSampler(server, interval=0.5) as sampler:
                run = run_wrk(server, script, tokens, "stream", args.rss_timeout,
                              args.connections, client_core)
            run.pop("wrk_rps", None)
            cache = server.cache_info(same)
            mid = sampler.at(run["seconds"] / 2)
            samples = sampler.samples
            result[name] = {"rss_start_mib": start, "rss_end_mib": run["rss_mib"],
                            "hwm_mib": run["hwm_mib"], "growth_mib": run["rss_mib"] - start,
                            "growth_second_half_mib":
                            run["rss_mib"] - mid if mid is not None else None,
                            "requests": run["requests"], "rps": run["rps"],
                            "bad_responses": run["errors"]["status"], "cache": cache,
                            "samples": samples[::max(1, len(samples) // 60)]}
            log(f"RSS {name}: {start:.1f} -> {run['rss_mib']:.1f} MiB after "
                f"{run['requests']} requests ({run['rps']:.0f} rps)")
        finally:
            server.stop()
    result["fast_over_noauth_mib"] = result["fast"]["rss_end_mib"] - result["noauth"]["rss_end_mib"]
    imports = list(result["imports_mib"].values())
    result["mcp_sdk_import_mib"] = imports[2] - imports[1]
    result["complete"] = all(result[n]["requests"] >= count - args.connections
                             for n in ("noauth", "fast"))
    return result
