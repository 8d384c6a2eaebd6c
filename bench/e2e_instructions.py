"""End to end, counted: the instructions the server process executes per request.

The same apps as ``bench/e2e.py`` (``bench/e2e_apps.py``: uvicorn, uvloop, httptools, one
worker), the same issuer, tokens and requests over real sockets on 127.0.0.1, but each server
runs under valgrind's callgrind, which counts the instructions it executes in user space.
Requests per second on a shared machine swing by 2-3x within seconds (other tenants); an
instruction count does not: it is the same for the same binary and the same requests, whatever
the machine is doing. This makes the end-to-end comparison repeatable, including the server's
own work (sockets, HTTP parsing, the event loop) that in-process benchmarks leave out.

Each contender is served by one fresh process: a warm-up (for ``fast-distinct``, more tokens
than the cache holds, so that every measured request also evicts), then ``--repeats`` batches
of ``--requests`` requests, each between ``callgrind_control -z`` (counters to zero) and
``callgrind_control -d`` (dump them): the dump over the batch's size is the cost of one
request, without start-up, warm-up and shutdown. Requests go over ``--connections``
keep-alive connections at once; every response must be 200. ``PYTHONHASHSEED=0`` in the
servers: the same hashes each run.

What the figures are: the no-auth app's instructions per request divided by a contender's
("x noauth", as requests/s would be if every instruction took the same time). Instructions
are not time: the kernel's share of a request (the same for every app) is not counted, which
makes the ratios lower than requests/s would be, and the RSA arithmetic of a signature check
runs several instructions per cycle where the interpreter runs about one, which makes the
distinct-token rows much lower than requests/s. So compare rows of the same kind: the same
token against no auth, ``fast-distinct`` against ``floor-distinct`` (the bare signature check),
fast against mcpauth. uvicorn's 0.1 s timer (its ``Date`` header) runs ~50x more often per
request under valgrind than natively: a few hundred instructions per request, in every app.

    python bench/e2e_instructions.py               # a few minutes on 2 cores
    python bench/e2e_instructions.py --only noauth fast-same

Writes ``bench/results/e2e-instructions.json``. Needs valgrind (Debian: ``apt-get install
valgrind``); uses both cores (counts do not depend on what else runs).
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from callgrind import callgrind_control, dumped_total  # noqa: E402
from e2e_apps import CONTENDERS  # noqa: E402  (bench/ is not a package)
from e2e_report import write_report  # noqa: E402
from e2e_server import AUDIENCE, SCOPE, Server, app_versions, log  # noqa: E402
from e2e_tokens import issuer_running, mint_to_file  # noqa: E402

from mcpauth_fast.verifier import DEFAULT_CACHE_SIZE  # noqa: E402

DEFAULT_OUT = BENCH / "results" / "e2e-instructions.json"
#: The warm-up of fast-distinct: more tokens than its cache holds, so that the measured
#: requests evict.
FILL_CACHE = DEFAULT_CACHE_SIZE + 256


def send_requests(port: int, tokens: list[str], connections: int) -> None:
    """GET /whoami with each token once, over ``connections`` keep-alive connections."""

    def one_connection(share: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for token in share:
                conn.request("GET", "/whoami", headers={"Authorization": f"Bearer {token}"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}: {body[:200]!r}")
        finally:
            conn.close()

    shares = [tokens[i::connections] for i in range(connections)]
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(one_connection, [s for s in shares if s]))






def count(issuer: Any, workdir: Path, name: str, app: str, tokens: list[str], warmup: int,
          args: argparse.Namespace) -> list[float]:
    """Instructions per request of ``args.repeats`` batches of ``args.requests``, one process.

    Between the warm-up and each batch the counters are zeroed; after it they are dumped.
    """
    out = workdir / f"callgrind-{name}.out"
    wrapper = ("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}")
    env = {**os.environ, "PYTHONHASHSEED": "0", "E2E_DEV_STATE": str(workdir / "issuer")}
    server = Server(app, issuer, None, workdir, name, wrapper=wrapper, start_timeout=300,
                    env=env)
    per_request = []
    try:
        send_requests(server.port, tokens[:warmup], args.connections)
        for batch in range(args.repeats):
            start = warmup + batch * args.requests
            callgrind_control(server.proc.pid, "-z")
            send_requests(server.port, tokens[start:start + args.requests], args.connections)
            callgrind_control(server.proc.pid, "-d")
            per_request.append(dumped_total(out, batch + 1) / args.requests)
    finally:
        server.stop(timeout=300)
    return per_request


def measure(issuer: Any, workdir: Path, name: str, app: str, tokens: list[str],
            args: argparse.Namespace) -> dict[str, Any]:
    warmup = FILL_CACHE if name == "fast-distinct" else args.warmup
    need = warmup + args.repeats * args.requests
    if len(tokens) < need:
        raise RuntimeError(f"{name}: {need} tokens needed, {len(tokens)} given")
    batches = count(issuer, workdir, name, app, tokens, warmup, args)
    per_request = statistics.mean(batches)
    log(f"{name:17s} {per_request:10.0f} instructions per request (batches: "
        f"{', '.join(f'{b:.0f}' for b in batches)})")
    return {"instructions_per_request": per_request, "batches": batches, "warmup": warmup}


def summarize(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    base = results.get("noauth", {}).get("instructions_per_request")
    ratios: dict[str, float] = {}
    if base:
        for name, r in results.items():
            ratios[f"{name} x noauth"] = base / r["instructions_per_request"]

    def pair(a: str, b: str) -> None:
        if a in results and b in results:
            ratios[f"{a} x {b}"] = (results[b]["instructions_per_request"]
                                    / results[a]["instructions_per_request"])

    pair("fast-distinct", "floor-distinct")
    pair("fast-same", "mcpauth-same")
    pair("fast-same", "fast-opaque")
    pair("fast-same", "fast-metrics")
    pair("fast-distinct", "mcpauth-distinct")
    return ratios


def format_report(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = ["versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
             f"server instructions per request (callgrind; mean of {cfg['repeats']} batches of "
             f"{cfg['requests']} requests over {cfg['connections']} connections, RS256)"]
    base = report["results"].get("noauth", {}).get("instructions_per_request")
    for name, r in report["results"].items():
        ratio = f"  x noauth {base / r['instructions_per_request']:.3f}" if base else ""
        lines.append(f"  {name:17s} {r['instructions_per_request']:10.0f}{ratio}")
    lines += [f"{k}: {v:.3f}" for k, v in report["ratios"].items() if "x noauth" not in k]
    return "\n".join(lines)


#: Those of bench/e2e.py, an opaque token (RFC 7662) repeated (served from the local tier),
#: and the fast app with every metric on.
INSTRUCTION_CONTENDERS = (*CONTENDERS, ("fast-opaque", "fast-opaque", "opaque"),
                          ("fast-metrics", "fast-metrics", "same"))


def make_tokens(issuer: Any, workdir: Path, kinds: set[str], count: int
                ) -> dict[str, list[str]]:
    """``count`` requests' tokens of each kind: one token repeated (a JWS, or an opaque
    token), or distinct tokens."""
    tokens: dict[str, list[str]] = {}
    if "opaque" in kinds:
        tokens["opaque"] = [issuer.mint_opaque(sub="alice", scope=SCOPE, aud=AUDIENCE,
                                               ttl=3 * 3600)] * count
    if "same" in kinds:
        tokens["same"] = [issuer.mint(sub="alice", scope=SCOPE, aud=AUDIENCE, ttl=3 * 3600)
                          ] * count
    if "distinct" in kinds:
        path = mint_to_file(issuer, workdir / "distinct.txt", count, "RS256")
        tokens["distinct"] = path.read_text().split()
    return tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    names = [c[0] for c in INSTRUCTION_CONTENDERS]
    parser.add_argument("--only", nargs="+", choices=names, default=names,
                        help="contenders to count (noauth is always counted)")
    parser.add_argument("--requests", type=int, default=500, help="requests per batch")
    parser.add_argument("--repeats", type=int, default=2, help="batches per contender")
    parser.add_argument("--warmup", type=int, default=100,
                        help=f"requests before the measured ones (fast-distinct: {FILL_CACHE})")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    if args.requests < 1 or args.repeats < 1:
        parser.error("--requests and --repeats must be at least 1")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install -y valgrind)")
    chosen = [c for c in INSTRUCTION_CONTENDERS if c[0] == "noauth" or c[0] in args.only]
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="mcpauth-e2e-instr-"))
    report: dict[str, Any] = {
        "benchmark": "e2e-instructions", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": app_versions(),
        "config": {"requests": args.requests, "repeats": args.repeats, "warmup": args.warmup,
                   "fill_cache": FILL_CACHE, "connections": args.connections, "alg": "RS256",
                   "server": "uvicorn, uvloop, httptools, 1 worker, no access log, "
                             "under valgrind --tool=callgrind"},
    }
    try:
        with issuer_running(workdir) as issuer:
            tokens = make_tokens(issuer, workdir, {c[2] for c in chosen},
                                 FILL_CACHE + args.repeats * args.requests)
            # Two servers at a time, one per core: counts do not depend on timing.
            with ThreadPoolExecutor(2) as pool:
                done = pool.map(lambda c: measure(issuer, workdir, c[0], c[1], tokens[c[2]],
                                                  args), chosen)
                report["results"] = {c[0]: result for c, result in zip(chosen, done, strict=True)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["ratios"] = summarize(report["results"])
    write_report(report, Path(args.out), format_report(report), started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
