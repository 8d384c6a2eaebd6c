"""The interleaved rounds: requests/s, latency and RSS of each contender / the no-auth app's.

Every contender (:data:`e2e_apps.CONTENDERS`) is served by its own process for the whole run;
wrk measures them in turn, in order in odd rounds and backwards in even ones, and each figure
is divided by the no-auth app's of the same round (``bench/e2e.py`` says why).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from e2e_apps import CONTENDERS
from e2e_server import Server, get, log
from e2e_wrk import run_wrk


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
