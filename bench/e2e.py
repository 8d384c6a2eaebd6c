"""End-to-end benchmark: the same Starlette app without auth, with mcpauth-fast and with mcpauth.

Every figure is a ratio measured side by side in one run: each app (``bench/e2e_apps.py``) runs
in its own uvicorn process (uvloop, httptools, one worker) pinned to the first core, wrk runs
pinned to the second, and the contenders take turns within each round::

    noauth, fast-same, floor-distinct, fast-distinct, mcpauth-same, mcpauth-distinct  (x rounds)

in this order in odd rounds and in the reverse order in even ones (a shared machine drifts
within a round: each contender is measured as often early as late relative to the no-auth app),
so that each one's requests/s, p50/p99 latency and RSS are divided by those of the no-auth app
of the same round; the medians of those ratios across rounds are the results. Every request
is ``GET /whoami`` with ``Authorization: Bearer <RS256 token>`` (the no-auth app gets the same
header). ``same`` sends one token; ``distinct`` cycles over more tokens than the default cache
holds (LRU: every lookup misses, every request pays a full verification); the fast app's cache
counters, read after each run, show it. ``floor-distinct`` is the no-auth app plus a bare
RS256 signature check of each token (no JWT parsing, no claims): the best any verifier could do
with distinct tokens on this machine. The keys and the JWKS come from a ``DevIssuer`` served
on 127.0.0.1; both auth apps fetch the JWKS from it over HTTP.

RSS: a fresh no-auth app and a fresh fast app each receive the same stream of ``--rss-tokens``
distinct ES256 tokens, each token once (ES256 because minting RS256 costs ~1.5 ms a token here
and ES256 ~0.1 ms; an entry differs by algorithm only in the token's length). RSS is sampled
during the run; ``growth_second_half_mib`` (cache long full) shows whether it has stopped
growing. The bound the default cache size implies is ``DEFAULT_CACHE_SIZE x bytes per entry``,
the entry measured with tracemalloc in this process for RS256 and for the run's ES256 tokens
(token string, ``AuthInfo``, the MCP SDK user object, the LRU node); fresh
interpreters give the RSS of the imports alone, the part that is not the cache.

Then locust (``bench/locustfile.py``) runs headless for ``--locust-time`` seconds against a
fast app with good and hostile tokens; any wrong decision counts as a failure.

Every load run is bounded in time (wrk ``-d``, locust ``-t``) and in count (the RSS stream ends
with its token file). ``python bench/e2e.py --help`` lists the options; ``bench/run_e2e.sh``
is what ``make bench`` calls. Writes ``bench/results/e2e.json``; ``bench/chart.py`` draws it.
``python bench/e2e.py --serve fast`` only serves the issuer and one app and writes a token file
for a locust run of your own (it prints the command).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import json
import multiprocessing
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
APPS_PY = BENCH / "e2e_apps.py"
LOCUSTFILE = BENCH / "locustfile.py"
DEFAULT_OUT = BENCH / "results" / "e2e.json"
AUDIENCE = "https://mcp.example.com/mcp"
SCOPE = "read write"
MIB = 1024 * 1024
#: (name, app, tokens): the order of odd rounds (even rounds run it backwards).
CONTENDERS = (
    ("noauth", "noauth", "same"),
    ("fast-same", "fast", "same"),
    ("floor-distinct", "floor", "distinct"),
    ("fast-distinct", "fast", "distinct"),
    ("mcpauth-same", "mcpauth", "same"),
    ("mcpauth-distinct", "mcpauth", "distinct"),
)
#: The issue's targets: fast / noauth rps of the same round, fast / mcpauth rps, RSS over noauth.
TARGETS = {"fast-same": 0.90, "fast-distinct": 0.60, "vs_mcpauth": 7.0, "rss_over_noauth_mib": 32}
#: RSS is not the traced bytes: pymalloc keeps partly used pools and arenas (1 MiB each), glibc
#: its heaps, and the server's own buffers grow a little under load (the no-auth app: +0.2 MiB).
ALLOCATOR_HEADROOM = 0.25
ALLOCATOR_SLACK_MIB = 1.0
#: Once the cache is full, RSS must stop growing (a leak per request would show here).
PLATEAU_MIB = 1.0

# Requests are built once in init() ("cycle": round-robin over the token file, from the index
# the harness gives, where the previous run of the same contender stopped) or read from the
# file as they go ("stream": each token once; at the end the thread stops, prints E2E-EOF, and
# the harness interrupts wrk, which then reports). done() prints one line of JSON.
WRK_LUA = r"""
local reqs, n, i, file, last, eof = {}, 0, 0, nil, nil, false
local function req(token)
  return wrk.format("GET", "/whoami", {["Authorization"] = "Bearer " .. token})
end
function init(args)
  if args[2] == "stream" then
    file = assert(io.open(args[1], "r"))
  else
    for line in io.lines(args[1]) do n = n + 1; reqs[n] = req(line) end
    i = tonumber(args[3] or "0") % n
  end
end
function request()
  if file then
    local line = file:read("*l")
    if line == nil then
      if not eof then eof = true; io.write("E2E-EOF\n"); io.flush() end
      wrk.thread:stop()
      return last
    end
    last = req(line)
    return last
  end
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('E2E-RESULT {"requests": %d, "duration_us": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "mean_us": %.1f, "max_us": %d}\n', summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


def log(message: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Tokens --------------------------------------------------------------------------------

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


# --- Servers and load ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cmd: list[str], core: int | None) -> list[str]:
    if core is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", str(core), *cmd]


def get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """One app in its own uvicorn process, pinned to ``core``."""

    def __init__(self, app: str, issuer: Any, core: int | None, workdir: Path,
                 label: str, wrapper: tuple[str, ...] = (), start_timeout: float = 30,
                 env: dict[str, str] | None = None) -> None:
        """``wrapper``: a command the server runs under (valgrind, say)."""
        self.app, self.port, self.label, self.core = app, free_port(), label, core
        self.log_path = workdir / f"server-{label}.log"
        cmd = [*wrapper, sys.executable, str(APPS_PY), app, "--port", str(self.port),
               "--issuer", issuer.issuer, "--jwks-uri", issuer.jwks_uri, "--audience", AUDIENCE]
        with self.log_path.open("w") as log_file:
            self.proc = subprocess.Popen(pinned(cmd, core), stdout=log_file, stderr=log_file,
                                         cwd=ROOT, env=env)
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                get(self.port, "/whoami")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{label} did not start:\n{self.log_path.read_text()}") from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/whoami"

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM in bytes, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024
        return fields

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")

    def cache_info(self, token: str) -> dict[str, int] | None:
        """The fast app's cache counters (the request itself is one more hit)."""
        if self.app != "fast":
            return None
        status, body = get(self.port, "/_bench/cache", token)
        return json.loads(body) if status == 200 else None

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def core_times(core: int | None) -> tuple[int, int]:
    """(steal, total) jiffies of ``core`` from /proc/stat: a VM's stolen time shows here."""
    line = next((row for row in Path("/proc/stat").read_text().splitlines()
                 if row.startswith(f"cpu{'' if core is None else core} ")), None)
    if line is None:
        return 0, 0
    values = [int(v) for v in line.split()[1:9]]
    return values[7], sum(values)


def run_wrk(server: Server, script: Path, tokens: Path, mode: str, duration: float,
            connections: int, core: int | None, start: int = 0,
            on_tick: Any = None) -> dict[str, Any]:
    """One bounded wrk run; returns its figures (rps, latencies, errors, server CPU, RSS).

    ``start``: the token index a "cycle" run begins at.
    """
    cmd = pinned(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
                  "--timeout", "10s", "--latency", "-s", str(script), server.url, "--",
                  str(tokens), mode, str(start)], core)
    cpu0, wall0 = server.cpu_seconds(), time.perf_counter()
    steal0, total0 = core_times(server.core)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("E2E-EOF"):
                proc.send_signal(signal.SIGINT)  # every token sent: wrk reports now

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    while proc.poll() is None:
        if on_tick is not None:
            on_tick(time.perf_counter() - wall0)
        time.sleep(0.5)
    thread.join(10)
    cpu = server.cpu_seconds() - cpu0
    steal1, total1 = core_times(server.core)
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, reaped by poll()
    client = (children1.ru_utime + children1.ru_stime
              - children0.ru_utime - children0.ru_stime)
    result = next((json.loads(line.split(" ", 1)[1]) for line in lines
                   if line.startswith("E2E-RESULT ")), None)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {''.join(lines)}"
                           f"{proc.stderr.read() if proc.stderr else ''}")
    text_rps = re.search(r"Requests/sec:\s+([\d.]+)", "".join(lines))
    seconds = result["duration_us"] / 1e6
    memory = server.status()
    return {
        "requests": result["requests"], "seconds": round(seconds, 3),
        "rps": result["requests"] / seconds,
        "wrk_rps": float(text_rps.group(1)) if text_rps else None,
        "p50_ms": result["p50_us"] / 1e3, "p90_ms": result["p90_us"] / 1e3,
        "p99_ms": result["p99_us"] / 1e3, "mean_ms": result["mean_us"] / 1e3,
        "max_ms": result["max_us"] / 1e3,
        "errors": {k: result[k] for k in ("connect", "read", "write", "status", "timeout")},
        # Of one core, over wrk's measured time (the server is idle while wrk starts).
        "server_cpu": round(cpu / seconds, 3),
        "client_cpu": round(client / seconds, 3),
        "server_core_steal": round((steal1 - steal0) / max(1, total1 - total0), 3),
        "rss_mib": memory["VmRSS"] / MIB, "hwm_mib": memory["VmHWM"] / MIB,
    }


# --- The measurements ----------------------------------------------------------------------


def ratio_stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure_rps(issuer: Any, workdir: Path, script: Path, token_files: dict[str, Path],
                args: argparse.Namespace, cores: tuple[int | None, int | None]
                ) -> dict[str, Any]:
    server_core, client_core = cores
    servers = {name: Server(app, issuer, server_core, workdir, name)
               for name, app, _ in CONTENDERS}
    try:
        garbage = "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"
        same = token_files["same"].read_text().split()[0]
        for name, server in servers.items():  # auth is on, the JWKS fetched, tokens good
            status, body = get(server.port, "/whoami", same)
            refused, _ = get(server.port, "/whoami", garbage)
            ok = status == 200 and (server.app in ("noauth", "floor") or b'"alice"' in body)
            if not ok or (name != "noauth" and refused != 401):
                raise RuntimeError(f"{name}: good token {status} {body!r}, garbage {refused}")
        # Each contender goes on cycling where its previous run stopped (plus the requests
        # that were in flight): with more distinct tokens than the cache holds, none is
        # still cached when it comes round again.
        cursor = dict.fromkeys(servers, 0)
        for name, _, tokens in CONTENDERS:
            log(f"warm-up {name} {args.warmup} s")
            run = run_wrk(servers[name], script, token_files[tokens], "cycle", args.warmup,
                          args.connections, client_core)
            cursor[name] += run["requests"] + args.connections
        runs = []
        for round_no in range(1, args.rounds + 1):
            for name, _, tokens in CONTENDERS if round_no % 2 else CONTENDERS[::-1]:
                server = servers[name]
                before = server.cache_info(same)
                run = run_wrk(server, script, token_files[tokens], "cycle", args.duration,
                              args.connections, client_core, cursor[name])
                cursor[name] += run["requests"] + args.connections
                after = server.cache_info(same)
                if before is not None and after is not None:
                    run["cache"] = {"hits": after["hits"] - before["hits"],
                                    "misses": after["misses"] - before["misses"],
                                    "size": after["size"], "maxsize": after["maxsize"]}
                run.update(contender=name, round=round_no)
                runs.append(run)
                log(f"round {round_no} {name:17s} {run['rps']:8.0f} rps  p50 "
                    f"{run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:6.2f} ms  cpu "
                    f"{run['server_cpu']:.2f} (wrk {run['client_cpu']:.2f}, steal "
                    f"{run['server_core_steal']:.2f})  rss {run['rss_mib']:.1f} MiB"
                    + (f"  errors {run['errors']}" if any(run["errors"].values()) else ""))
    finally:
        for server in servers.values():
            server.stop()
    return summarize(runs, args.rounds)


def summarize(runs: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    by = {(r["contender"], r["round"]): r for r in runs}
    summary: dict[str, Any] = {}
    for name, _, _ in CONTENDERS:
        mine = [by[(name, n)] for n in range(1, rounds + 1)]
        base = [by[("noauth", n)] for n in range(1, rounds + 1)]
        pairs = list(zip(mine, base, strict=True))
        entry: dict[str, Any] = {
            "rps": ratio_stats([r["rps"] for r in mine]),
            "p50_ms": ratio_stats([r["p50_ms"] for r in mine]),
            "p99_ms": ratio_stats([r["p99_ms"] for r in mine]),
            "rss_mib": ratio_stats([r["rss_mib"] for r in mine]),
            "rps_ratio": ratio_stats([r["rps"] / b["rps"] for r, b in pairs]),
            "p50_ratio": ratio_stats([r["p50_ms"] / b["p50_ms"] for r, b in pairs]),
            "p99_ratio": ratio_stats([r["p99_ms"] / b["p99_ms"] for r, b in pairs]),
            "rss_ratio": ratio_stats([r["rss_mib"] / b["rss_mib"] for r, b in pairs]),
            "rss_over_noauth_mib": ratio_stats([r["rss_mib"] - b["rss_mib"] for r, b in pairs]),
            "server_cpu": statistics.median(r["server_cpu"] for r in mine),
            "client_cpu": statistics.median(r["client_cpu"] for r in mine),
            "server_core_steal": statistics.median(r["server_core_steal"] for r in mine),
            "bad_responses": sum(r["errors"]["status"] for r in mine),
        }
        caches = [r["cache"] for r in mine if "cache" in r]
        if caches:
            requests = sum(r["requests"] for r in mine)
            entry["cache_hit_rate"] = sum(c["hits"] for c in caches) / max(1, requests)
        summary[name] = entry
    versus = {}
    for kind in ("same", "distinct"):
        values = [by[(f"fast-{kind}", n)]["rps"] / by[(f"mcpauth-{kind}", n)]["rps"]
                  for n in range(1, rounds + 1)]
        versus[kind] = ratio_stats(values)
    floor = ratio_stats([by[("fast-distinct", n)]["rps"] / by[("floor-distinct", n)]["rps"]
                         for n in range(1, rounds + 1)])
    return {"runs": runs, "summary": summary, "versus_mcpauth": versus, "versus_floor": floor}


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
            samples: list[tuple[float, float]] = []

            def tick(elapsed: float, server: Server = server,
                     samples: list[tuple[float, float]] = samples) -> None:
                samples.append((round(elapsed, 1), server.status()["VmRSS"] / MIB))

            log(f"RSS run: {count} distinct tokens through {name} "
                f"(at most {args.rss_timeout:.0f} s)")
            run = run_wrk(server, script, tokens, "stream", args.rss_timeout,
                          args.connections, client_core, on_tick=tick)
            run.pop("wrk_rps", None)
            cache = server.cache_info(same)
            mid = [rss for t, rss in samples if t >= run["seconds"] / 2]
            result[name] = {"rss_start_mib": start, "rss_end_mib": run["rss_mib"],
                            "hwm_mib": run["hwm_mib"], "growth_mib": run["rss_mib"] - start,
                            "growth_second_half_mib": run["rss_mib"] - mid[0] if mid else None,
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


def locust_path() -> str | None:
    """The locust next to this interpreter, else on PATH (None: not installed)."""
    return shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which(
        "locust")


def run_locust_on(server: Server, locust: str, token_path: Path, seconds: int, users: int,
                  core: int | None, prefix: Path, classes: tuple[str, ...] = ()
                  ) -> dict[str, Any]:
    """One headless locust run of ``seconds`` against ``server``, pinned to ``core``.

    ``classes``: the locustfile's user classes to run (default: all of them). Returns the
    command, locust's exit code, per-name stats and the failures and exceptions CSVs.
    """
    cmd = pinned([locust, "-f", str(LOCUSTFILE), "--headless", "-u", str(users),
                  "-r", str(users), "-t", f"{seconds}s",
                  "--host", f"http://127.0.0.1:{server.port}", "--only-summary",
                  "--csv", str(prefix), "--stop-timeout", "5", *classes], core)
    log(f"locust: {' '.join(cmd)}")
    env = {**os.environ, "E2E_LOCUST_TOKENS": str(token_path)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    rows = {}
    stats = Path(f"{prefix}_stats.csv")
    if stats.exists():
        import csv

        with stats.open() as f:
            for row in csv.DictReader(f):
                rows[row["Name"]] = {"requests": int(row["Request Count"]),
                                     "failures": int(row["Failure Count"]),
                                     "rps": float(row["Requests/s"]),
                                     "p50_ms": float(row["50%"] or 0),
                                     "p99_ms": float(row["99%"] or 0)}
    failures, exceptions = Path(f"{prefix}_failures.csv"), Path(f"{prefix}_exceptions.csv")
    return {"command": " ".join(cmd), "exit_code": done.returncode, "stats": rows,
            "failures": failures.read_text() if failures.exists() else "",
            "exceptions": exceptions.read_text() if exceptions.exists() else "",
            "output_tail": (done.stdout + done.stderr)[-1500:]}


def run_locust(issuer: Any, workdir: Path, token_path: Path, args: argparse.Namespace,
               cores: tuple[int | None, int | None]) -> dict[str, Any]:
    server_core, client_core = cores
    locust = locust_path()
    if locust is None:
        return {"skipped": "locust is not installed"}
    server = Server("fast", issuer, server_core, workdir, "locust-fast")
    try:
        return run_locust_on(server, locust, token_path, args.locust_time, args.locust_users,
                             client_core, workdir / "locust")
    finally:
        server.stop()


# --- Report --------------------------------------------------------------------------------


def machine(cores: tuple[int | None, int | None]) -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return {"platform": f"{platform.system()} {platform.release()} {platform.machine()}",
            "cpu": model, "cpus": os.cpu_count(), "server_core": cores[0],
            "client_core": cores[1], "wrk": (wrk.stdout + wrk.stderr).split("\n")[0].strip()}


def app_versions() -> dict[str, str]:
    out = subprocess.run([sys.executable, str(APPS_PY), "--info"], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    info: dict[str, str] = json.loads(out)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    info["mcpauth-fast"] = f"{info['mcpauth-fast']} @ {commit or 'unknown'}"
    return info


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    rps = report.get("rps")
    if rps:
        for name in ("fast-same", "fast-distinct"):
            value = rps["summary"][name]["rps_ratio"]["median"]
            found.append({"target": f"{name} rps / noauth rps >= {TARGETS[name]}",
                          "value": value, "met": value >= TARGETS[name]})
        for kind, value in rps["versus_mcpauth"].items():
            found.append({"target": f"fast-{kind} rps / mcpauth-{kind} rps >= "
                          f"{TARGETS['vs_mcpauth']}", "value": value["median"],
                          "met": value["median"] >= TARGETS["vs_mcpauth"]})
    rss = report.get("rss")
    if rss:
        limit = TARGETS["rss_over_noauth_mib"]
        found.append({"target": f"RSS after {rss['tokens']} distinct tokens - noauth RSS <= "
                      f"{limit} MiB", "value": rss["fast_over_noauth_mib"],
                      "met": rss["complete"] and rss["fast_over_noauth_mib"] <= limit})
        growth, bound = rss["fast"]["growth_mib"], rss["bound_run"]["bound_mib"]
        found.append({"target": f"RSS growth of the fast app <= the run's cache bound "
                      f"{bound:.1f} MiB + {ALLOCATOR_HEADROOM:.0%} + {ALLOCATOR_SLACK_MIB} MiB "
                      "for the allocator", "value": growth,
                      "met": growth <= bound * (1 + ALLOCATOR_HEADROOM) + ALLOCATOR_SLACK_MIB})
        plateau = rss["fast"]["growth_second_half_mib"]
        if plateau is not None and rss["tokens"] >= 4 * rss["bound"]["cache_size"]:
            found.append({"target": "RSS growth of the fast app in the second half of the run "
                          f"(cache full) <= {PLATEAU_MIB} MiB", "value": plateau,
                          "met": plateau <= PLATEAU_MIB})
    return found


def format_report(report: dict[str, Any]) -> str:
    lines = ["versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
             "machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()), ""]
    rps = report.get("rps")
    if rps:
        cfg = report["config"]
        lines.append(f"requests/s, latency and RSS, each / the no-auth app of the same round "
                     f"(median of {cfg['rounds']} rounds of {cfg['duration']} s, "
                     f"{cfg['connections']} connections, RS256)")
        lines.append(f"{'contender':17s} {'rps':>7s} {'x noauth':>9s} {'p50 ms':>7s} "
                     f"{'x':>5s} {'p99 ms':>7s} {'x':>5s} {'RSS MiB':>8s} {'+MiB':>6s} "
                     f"{'cpu':>5s} {'hits':>5s}  rps per round")
        for name, s in rps["summary"].items():
            per_round = " ".join(f"{r['rps']:.0f}" for r in rps["runs"]
                                 if r["contender"] == name)
            hits = f"{s['cache_hit_rate']:.2f}" if "cache_hit_rate" in s else "-"
            lines.append(
                f"{name:17s} {s['rps']['median']:7.0f} {s['rps_ratio']['median']:9.3f} "
                f"{s['p50_ms']['median']:7.2f} {s['p50_ratio']['median']:5.2f} "
                f"{s['p99_ms']['median']:7.2f} {s['p99_ratio']['median']:5.2f} "
                f"{s['rss_mib']['median']:8.1f} {s['rss_over_noauth_mib']['median']:6.1f} "
                f"{s['server_cpu']:5.2f} {hits:>5s}  {per_round}")
        for kind, v in rps["versus_mcpauth"].items():
            lines.append(f"fast-{kind} / mcpauth-{kind} rps: median {v['median']:.2f} "
                         f"(rounds {v['min']:.2f}..{v['max']:.2f})")
        for name, s in rps["summary"].items():
            if s["bad_responses"]:
                lines.append(f"WARNING: {name} got {s['bad_responses']} responses >= 400: "
                             "its figures are not those of good requests")
        v = rps["versus_floor"]
        lines.append(f"fast-distinct / floor-distinct rps: median {v['median']:.2f} "
                     f"(rounds {v['min']:.2f}..{v['max']:.2f})")
        lines.append("")
    rss = report.get("rss")
    if rss:
        lines.append(f"RSS: {rss['tokens']} distinct {rss['alg']} tokens through each app"
                     + ("" if rss["complete"] else " (INCOMPLETE: the time bound hit first)"))
        for label, b in (("RS256", rss["bound"]), (rss["alg"], rss["bound_run"]),
                         ("RS256, in an app serving MCP", rss.get("bound_mcp_app"))):
            if b is None:
                continue
            lines.append(f"  cache bound ({label} tokens of {b['token_chars']} chars): "
                         f"{b['cache_size']} entries x {b['bytes_per_entry_steady']} B "
                         f"(tracemalloc) = {b['bound_mib']:.1f} MiB")
        for name in ("noauth", "fast"):
            r = rss[name]
            lines.append(f"  {name:6s}: {r['rss_start_mib']:.1f} -> {r['rss_end_mib']:.1f} MiB "
                         f"(growth {r['growth_mib']:+.1f}, second half "
                         f"{r['growth_second_half_mib'] or 0:+.1f}) after {r['requests']} "
                         f"requests at {r['rps']:.0f} rps; cache {r['cache']}")
        lines.append(f"  fast - noauth after the run: {rss['fast_over_noauth_mib']:.1f} MiB (an "
                     f"app serving MCP adds the SDK's import, {rss['mcp_sdk_import_mib']:.1f} MiB,"
                     " whatever its auth)")
        lines.append("  RSS of a fresh interpreter after the imports alone (MiB): " + "; ".join(
            f"{k} {v:.1f}" for k, v in rss["imports_mib"].items()))
        lines.append("")
    loc = report.get("locust")
    if loc and "stats" in loc:
        lines.append(f"locust (exit code {loc['exit_code']}): " + ", ".join(
            f"{k} {v['requests']} req {v['failures']} wrong" for k, v in loc["stats"].items()))
        lines.append("")
    for t in report.get("targets", []):
        lines.append(f"{'MET    ' if t['met'] else 'NOT MET'} {t['target']}: {t['value']:.3f}")
    return "\n".join(lines)


def write_report(report: dict[str, Any], out: Path, text: str, started: float) -> None:
    """Write ``report`` as JSON to ``out`` with its elapsed time, and print ``text``."""
    report["elapsed_s"] = round(time.time() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(text)
    print(f"\nwrote {out} in {report['elapsed_s']} s")


# --- Main ----------------------------------------------------------------------------------


def choose_cores() -> tuple[int | None, int | None]:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return available[0], available[1]


@contextlib.contextmanager
def issuer_running(workdir: Path) -> Iterator[Any]:
    from mcpauth_fast.dev.issuer import DevIssuer

    with DevIssuer(state_dir=workdir / "issuer") as issuer:
        _ = issuer.keys  # create the keys before the minting processes load them
        yield issuer


def serve(args: argparse.Namespace) -> int:
    """Issuer + one app + a locust token file, until Ctrl-C or --serve-time."""
    workdir = Path(tempfile.mkdtemp(prefix="mcpauth-e2e-"))
    with issuer_running(workdir) as issuer:
        good = mint_to_file(issuer, workdir / "good.txt", args.distinct, "RS256")
        path = Path(args.tokens_out)
        path.write_text(json.dumps(hostile_tokens(issuer, good.read_text().split())))
        server = Server(args.serve, issuer, None, workdir, args.serve)
        try:
            print(f"{args.serve} app: http://127.0.0.1:{server.port}/whoami; tokens: {path}\n"
                  f"E2E_LOCUST_TOKENS={path} {Path(sys.executable).parent}/locust -f "
                  f"{LOCUSTFILE} --headless -u 50 -r 50 -t 20s "
                  f"--host http://127.0.0.1:{server.port}", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(args.serve_time)
        finally:
            server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=int(env("E2E_ROUNDS", "5")))
    parser.add_argument("--duration", type=float, default=float(env("E2E_DURATION", "3")),
                        help="seconds per contender per round")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--distinct", type=int, default=6144,
                        help="RS256 tokens cycled in the distinct runs (> the cache size)")
    parser.add_argument("--rss-tokens", type=int, default=int(env("E2E_RSS_TOKENS", "50000")),
                        help="distinct ES256 tokens of the RSS run (0: no RSS run)")
    parser.add_argument("--rss-timeout", type=float, default=0,
                        help="time bound of each RSS run (default: tokens / 400 + 30 s)")
    parser.add_argument("--locust-time", type=int, default=int(env("E2E_LOCUST_TIME", "10")),
                        help="seconds of the locust run (0: none)")
    parser.add_argument("--locust-users", type=int, default=50)
    parser.add_argument("--no-rps", action="store_true", help="skip the interleaved rounds")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--serve", choices=("noauth", "fast", "mcpauth"),
                        help="only serve an app and write locust tokens (see --tokens-out)")
    parser.add_argument("--tokens-out", default="/tmp/mcpauth-e2e-locust-tokens.json")
    parser.add_argument("--serve-time", type=float, default=600)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install -y wrk)")
    args.rss_timeout = args.rss_timeout or args.rss_tokens / 400 + 30
    cores = choose_cores()
    workdir = Path(tempfile.mkdtemp(prefix="mcpauth-e2e-"))
    started = time.time()
    report: dict[str, Any] = {
        "benchmark": "e2e", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": app_versions(), "machine": machine(cores),
        "config": {"rounds": args.rounds, "duration": args.duration, "warmup": args.warmup,
                   "connections": args.connections, "distinct_tokens": args.distinct,
                   "alg": "RS256", "order": [c[0] for c in CONTENDERS],
                   "server": "uvicorn, uvloop, httptools, 1 worker, no access log"},
    }
    try:
        with issuer_running(workdir) as issuer:
            script = workdir / "e2e.lua"
            script.write_text(WRK_LUA)
            (workdir / "same.txt").write_text(
                issuer.mint(sub="alice", scope=SCOPE, aud=AUDIENCE, ttl=3 * 3600) + "\n")
            distinct = mint_to_file(issuer, workdir / "distinct.txt", args.distinct, "RS256")
            rss_tokens = (mint_to_file(issuer, workdir / "rss.txt", args.rss_tokens, "ES256")
                          if args.rss_tokens else None)
            good = distinct.read_text().split()
            locust_tokens = workdir / "locust-tokens.json"
            locust_tokens.write_text(json.dumps(hostile_tokens(issuer, good[:1024])))
            entry = {"RS256": cache_entry_bytes(good, issuer.jwks()),
                     "RS256, MCP app": cache_entry_bytes(good, issuer.jwks(), sdk_users=True)}
            if rss_tokens is not None and args.rss_tokens >= 8192:
                with rss_tokens.open() as f:
                    sample = [next(f).strip() for _ in range(8192)]
                entry["ES256"] = cache_entry_bytes(sample, issuer.jwks())
            log(f"cache entry: {entry}")
            if cores[1] is not None:  # the harness, the issuer thread and wrk share core 1
                os.sched_setaffinity(0, {cores[1]})
            token_files = {"same": workdir / "same.txt", "distinct": distinct}
            if not args.no_rps:
                report["rps"] = measure_rps(issuer, workdir, script, token_files, args, cores)
            if rss_tokens is not None:
                report["rss"] = measure_rss(issuer, workdir, script, rss_tokens,
                                            args.rss_tokens, entry, args, cores)
            if args.locust_time:
                report["locust"] = run_locust(issuer, workdir, locust_tokens, args, cores)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["targets"] = targets(report)
    write_report(report, Path(args.out), format_report(report), started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
