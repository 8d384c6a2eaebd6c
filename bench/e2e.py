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

This file is the command line; the parts, by role: ``e2e_apps.py`` (the apps and the
contenders), ``e2e_server.py`` (one app in its own uvicorn process), ``e2e_tokens.py`` (issuer,
minting, hostile tokens), ``e2e_wrk.py`` and ``e2e_locust.py`` (the load generators),
``e2e_rps.py`` (the interleaved rounds), ``e2e_rss.py`` (RSS sampling and the RSS run) and
``e2e_report.py`` (targets, text, JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from e2e_apps import CONTENDERS
from e2e_locust import LOCUSTFILE, run_locust
from e2e_report import format_report, machine, targets, write_report
from e2e_rps import measure_rps
from e2e_rss import cache_entry_bytes, measure_rss
from e2e_server import AUDIENCE, BENCH, SCOPE, Server, app_versions, choose_cores, log
from e2e_tokens import hostile_tokens, issuer_running, mint_to_file
from e2e_wrk import WRK_LUA

DEFAULT_OUT = BENCH / "results" / "e2e.json"


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
