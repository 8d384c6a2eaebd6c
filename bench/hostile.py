"""Hostile load run: locust's ``Hostile`` mix against the fast app under uvicorn, bounded in time.

The issue's hardening requirement: valid, expired, forged, unknown-``kid``, ``alg: none``,
wrong-audience, missing-scope, garbage and oversized tokens mixed (``bench/locustfile.py``,
class ``Hostile``, its ``HOSTILE_MIX`` and ``EXPECTED``), against uvicorn on 127.0.0.1; zero
5xx, zero wrong decisions (each kind of token gets exactly its expected status: good 200,
missing scope 403, every other kind 401), memory flat at the end.

What it does, with the end-to-end harness (``bench/e2e_*.py``): starts the dev issuer and the
fast app (``bench/e2e_apps.py``: uvicorn, uvloop, httptools, one worker) pinned to the first
core, mints the good tokens, writes the token file, sends one token of every kind (the
pre-flight: the JWKS is fetched and every kind answered as expected before the load), then runs
locust headless with only ``Hostile`` (``--users`` users, ``--time`` seconds) pinned to the
second core, sampling the server's VmRSS (``/proc/PID/status``) every second.

The good tokens alternate between ``--hot-tokens`` tokens that stay cached (cache hits) and
``--good-tokens`` distinct ones, more than the verifier's cache holds, cycled in order (so each
comes round again only after the LRU has evicted it: every one is a full verification); the
cache fills in the first seconds and then replaces entries for the rest of the run, so RSS over
the second half shows a leak, not the cache filling up.

At the end it prints a summary and writes ``bench/results/hostile.json`` (and the server's log,
``hostile-server.log``). It exits 1 when any check fails:

- no 5xx and no wrong decision (a response whose status is not the kind's expected one; a 5xx
  counts in both), no request error (connection errors, locust exceptions), locust exit 0;
- every kind of token was sent, the pre-flight answered as expected;
- RSS grew at most ``--rss-bound-mib`` (default 5 MiB) over the second half of the run;
- the server's log (uvicorn's stdout and stderr) holds no traceback and no token of the file.

::

    make bench-hostile HOSTILE_SECONDS=300
    .venv/bin/python bench/hostile.py --time 20     # the same, without make
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import itertools
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from e2e_locust import LOCUSTFILE, locust_path, run_locust_on
from e2e_report import cpu_model
from e2e_rss import RssSampler
from e2e_server import BENCH, MIB, ROOT, Server, app_versions, choose_cores, get, log
from e2e_tokens import hostile_tokens, issuer_running, mint_to_file

DEFAULT_OUT = BENCH / "results" / "hostile.json"
#: RSS may grow at most this much over the second half of the run (cache long full).
RSS_BOUND_MIB = 5.0
TRACEBACK = "Traceback (most recent call last)"
#: The locustfile's failure message: "wrong decision: <kind> token got <status>, expected <n>"
#: (status 0: no response, a connection error).
DECISION = re.compile(r"got (\d+), expected (\d+)")


def expected_statuses() -> dict[str, int]:
    """The locustfile's ``EXPECTED`` map, read without importing it: importing locust patches
    the standard library with gevent, and this process runs threads and subprocesses."""
    for node in ast.parse(LOCUSTFILE.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "EXPECTED"
                for target in node.targets):
            expected: dict[str, int] = ast.literal_eval(node.value)
            return expected
    raise RuntimeError(f"no EXPECTED in {LOCUSTFILE}")


def good_tokens(issuer: Any, workdir: Path, distinct: int, hot: int) -> list[str]:
    """``distinct`` tokens cycled (each a cache miss) alternating with ``hot`` repeated ones."""
    minted = mint_to_file(issuer, workdir / "good.txt", distinct + hot, "RS256")
    tokens = minted.read_text().split()
    hot_tokens, cold_tokens = tokens[:hot], tokens[hot:]
    if not hot_tokens:
        return cold_tokens
    return [t for pair in zip(cold_tokens, itertools.cycle(hot_tokens)) for t in pair]


def preflight(server: Server, tokens: dict[str, list[str]],
              expected: dict[str, int]) -> dict[str, dict[str, int]]:
    """One request per kind of token before the load (a good one first: the JWKS fetch)."""
    answers = {}
    for kind in sorted(expected, key=lambda k: k != "good"):
        status, _ = get(server.port, "/whoami", tokens[kind][0])
        answers[kind] = {"status": status, "expected": expected[kind]}
    return answers


def decisions(run: dict[str, Any], expected: dict[str, int]) -> dict[str, Any]:
    """Per kind requests and statuses; 5xx, wrong decisions and errors from locust's CSVs."""
    per_kind = {kind: {**run["stats"].get(kind, {"requests": 0, "failures": 0}),
                       "expected": status} for kind, status in expected.items()}
    wrong: dict[str, dict[str, int]] = {}
    five_xx = wrong_total = connection_errors = other_failures = 0
    for row in csv.DictReader(io.StringIO(run["failures"])):
        count = int(row["Occurrences"])
        found = DECISION.search(row["Error"])
        if found is None:
            other_failures += count
            continue
        status = int(found.group(1))
        if status == 0:
            connection_errors += count
            continue
        wrong_total += count
        five_xx += count if 500 <= status <= 599 else 0
        by_status = wrong.setdefault(row["Name"], {})
        by_status[str(status)] = by_status.get(str(status), 0) + count
    exceptions = sum(int(row["Count"]) for row in csv.DictReader(io.StringIO(run["exceptions"])))
    total = run["stats"].get("Aggregated", {"requests": 0, "failures": 0})
    return {
        "requests": total["requests"], "failures": total["failures"], "per_kind": per_kind,
        "5xx": five_xx, "wrong_decisions": wrong_total, "wrong_by_kind_and_status": wrong,
        "connection_errors": connection_errors, "other_failures": other_failures,
        "locust_exceptions": exceptions,
        "request_errors": connection_errors + other_failures + exceptions,
    }


#: The reason class (``mcpauth_fast.decisions.REASONS``) each kind of bad token is counted in.
REASON_OF_KIND = {"expired": "expired", "forged": "bad_signature",
                  "unknown_kid": "unknown_key", "alg_none": "malformed",
                  "wrong_audience": "wrong_audience", "missing_scope": "insufficient_scope",
                  "garbage": "malformed", "oversized": "malformed"}


def counted(scrape: str, sent_by_kind: dict[str, int], expected: dict[str, int], own: int
            ) -> dict[str, Any]:
    """What the server's Prometheus scrape counted against what was sent: each kind of token
    (locust's requests, counted when it quit, and the pre-flight's one) in its reason class,
    the good ones and the bench's ``own`` requests let in, and the server's start-up probe
    (no token)."""
    from prometheus_client.parser import text_string_to_metric_families

    seen: dict[str, float] = {}
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            if sample.name == "mcpauth_requests_accepted_total":
                seen["accepted"] = sample.value
            elif sample.name == "mcpauth_requests_refused_total":
                key = f"{sample.labels['status']} {sample.labels['reason']}"
                seen[key] = sample.value
    sent: dict[str, float] = {"accepted": sent_by_kind["good"] + 1 + own, "401 missing": 1}
    for kind, reason in REASON_OF_KIND.items():
        key = f"{expected[kind]} {reason}"
        sent[key] = sent.get(key, 0) + sent_by_kind[kind] + 1
    return {"scraped": bool(scrape), "sent_by_kind": sent_by_kind, "counted": seen,
            "sent": sent, "agree": seen == sent}


def log_findings(text: str, tokens: dict[str, list[str]]) -> dict[str, Any]:
    """Tracebacks in the server's log, and tokens of the file that appear in it (in full or
    by their signature, the part no two tokens share)."""
    leaked: dict[str, int] = {}
    for kind, values in tokens.items():
        for token in set(values):
            signature = token.rpartition(".")[2]
            if token in text or (len(signature) >= 16 and signature in text):
                leaked[kind] = leaked.get(kind, 0) + 1
    first = text.find(TRACEBACK)
    return {"bytes": len(text), "lines": text.count("\n"), "tracebacks": text.count(TRACEBACK),
            "first_traceback": text[first:first + 4000] if first >= 0 else "",
            "tokens_in_log": sum(leaked.values()), "tokens_in_log_by_kind": leaked}


def checks(report: dict[str, Any], bound: float) -> list[dict[str, Any]]:
    d, rss, srv = report["decisions"], report["rss"], report["server_log"]
    unanswered = [k for k, v in report["preflight"].items() if v["status"] != v["expected"]]
    unsent = [k for k, v in d["per_kind"].items() if not v["requests"]]
    growth = rss["growth_second_half_mib"]
    found = [
        ("no 5xx", d["5xx"] == 0, d["5xx"]),
        ("no wrong decision (status != the kind's expected one)", d["wrong_decisions"] == 0,
         d["wrong_decisions"]),
        ("no request error (connection errors, other failures, locust exceptions)",
         d["request_errors"] == 0, d["request_errors"]),
        ("locust exit code 0", report["locust"]["exit_code"] == 0,
         report["locust"]["exit_code"]),
        ("every kind of token sent", not unsent, ", ".join(unsent) or "all"),
        ("pre-flight: one token of each kind answered as expected", not unanswered,
         ", ".join(unanswered) or "all"),
        (f"RSS growth over the second half <= {bound} MiB",
         growth is not None and growth <= bound, growth),
        ("no traceback in the server log", srv["tracebacks"] == 0, srv["tracebacks"]),
        ("no token of the token file in the server log", srv["tokens_in_log"] == 0,
         srv["tokens_in_log"]),
        ("the server's counters (Prometheus scrape) agree exactly with the requests sent",
         report["metrics"]["agree"], report["metrics"]["counted"]),
    ]
    return [{"check": name, "passed": bool(ok), "value": value} for name, ok, value in found]


def src_state() -> str:
    """The commit, and whether src/ or ext/ had uncommitted changes when the server started."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "src", "ext")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes in src/ext"
                                                  if dirty else "")


def format_summary(report: dict[str, Any]) -> str:
    d, rss, srv, cfg = (report["decisions"], report["rss"], report["server_log"],
                        report["config"])
    kinds = ", ".join(f"{kind} {v['requests']} ({v['expected']})"
                      for kind, v in d["per_kind"].items())
    cache = report.get("cache") or {}
    lines = [
        f"hostile load run: {report['command']}",
        f"  code: {report['code']}; {report['machine']['cpu']}, server core "
        f"{report['machine']['server_core']}, locust core {report['machine']['client_core']}, "
        f"load average before/after {report['machine']['loadavg_before'][0]:.2f}/"
        f"{report['machine']['loadavg_after'][0]:.2f}",
        f"  locust Hostile, {cfg['users']} users, {cfg['seconds']} s (wall "
        f"{report['locust']['wall_s']:.1f} s); good tokens: {cfg['distinct_good_tokens']} "
        f"distinct (each a full verification) alternating with {cfg['hot_tokens']} cached",
        f"  requests: {d['requests']} ({d['requests'] / cfg['seconds']:.0f}/s); per kind "
        f"(expected status): {kinds}",
        f"  5xx: {d['5xx']}; wrong decisions: {d['wrong_decisions']}"
        + (f" {d['wrong_by_kind_and_status']}" if d["wrong_decisions"] else "")
        + f"; connection errors: {d['connection_errors']}; other failures: "
        f"{d['other_failures']}; locust exceptions: {d['locust_exceptions']}; "
        f"locust exit code {report['locust']['exit_code']}",
        f"  cache during the load: hits {cache.get('hits', '?')}, misses "
        f"{cache.get('misses', '?')}, size at half {cache.get('size_at_half', '?')}, at the end "
        f"{cache.get('size', '?')}/{cache.get('maxsize', '?')}; CPU (of one core): server "
        f"{report['cpu']['server']:.2f}, locust {report['cpu']['locust']:.2f}",
        f"  RSS MiB: start of load {rss['start_mib']:.1f}, after 25% {rss['quarter_mib']:.1f}, "
        f"at half {rss['half_mib']:.1f}, end {rss['end_mib']:.1f} (peak {rss['hwm_mib']:.1f}); "
        f"growth over the second half {rss['growth_second_half_mib']:+.2f}, whole run "
        f"{rss['growth_mib']:+.2f}",
        "  sent, counted when locust quit: " + ", ".join(
            f"{kind} {n}" for kind, n in report["metrics"]["sent_by_kind"].items()),
        f"  server log: {srv['lines']} lines, {srv['tracebacks']} tracebacks, "
        f"{srv['tokens_in_log']} tokens of the token file",
    ]
    if srv["first_traceback"]:
        lines.append("  first traceback:\n" + srv["first_traceback"])
    lines += [f"{'PASS' if c['passed'] else 'FAIL'} {c['check']}: {c['value']}"
              for c in report["checks"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time", type=int, default=int(os.environ.get("HOSTILE_SECONDS", "120")),
                        help="seconds of locust load (default 120)")
    parser.add_argument("--users", type=int, default=50, help="locust users")
    parser.add_argument("--good-tokens", type=int, default=6144,
                        help="distinct good tokens cycled, more than the cache's 4096 entries")
    parser.add_argument("--hot-tokens", type=int, default=64,
                        help="good tokens repeated between the distinct ones (cache hits)")
    parser.add_argument("--rss-bound-mib", type=float, default=RSS_BOUND_MIB)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    if args.time < 4:
        parser.error("--time: at least 4 seconds")
    locust = locust_path()
    if locust is None:
        parser.error("locust is not installed (pip install -r bench/requirements.txt)")
    expected = expected_statuses()
    cores = choose_cores()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    report: dict[str, Any] = {
        "benchmark": "hostile", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command, "code": src_state(), "versions": app_versions(),
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "server_core": cores[0],
                    "client_core": cores[1], "loadavg_before": os.getloadavg()},
        "config": {"seconds": args.time, "users": args.users, "user_class": "Hostile",
                   "distinct_good_tokens": args.good_tokens, "hot_tokens": args.hot_tokens,
                   "rss_bound_mib": args.rss_bound_mib, "alg": "RS256",
                   "server": "fast app, uvicorn on 127.0.0.1, uvloop, httptools, 1 worker"},
    }
    workdir = Path(tempfile.mkdtemp(prefix="mcpauth-hostile-"))
    started = time.time()
    try:
        with issuer_running(workdir) as issuer:
            good = good_tokens(issuer, workdir, args.good_tokens, args.hot_tokens)
            tokens = hostile_tokens(issuer, good)
            token_path = workdir / "hostile-tokens.json"
            token_path.write_text(json.dumps(tokens))
            if cores[1] is not None:  # the harness, the issuer thread and locust share core 1
                os.sched_setaffinity(0, {cores[1]})
            server = Server("fast", issuer, cores[0], workdir, "hostile")
            try:
                report["preflight"] = preflight(server, tokens, expected)
                probe = good[1] if args.hot_tokens else good[0]  # a cached token
                cache0 = server.cache_info(probe)
                start = server.status()["VmRSS"] / MIB
                log(f"hostile load: {args.time} s, {args.users} users, server "
                    f"http://127.0.0.1:{server.port}, RSS {start:.1f} MiB")
                cpu0 = server.cpu_seconds()
                children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                half_cache: dict[str, int] = {}
                # The cache's size half-way: full means the second half's RSS is not it filling.
                timer = threading.Timer(args.time / 2, lambda: half_cache.update(
                    server.cache_info(probe) or {}))
                counts_path = workdir / "locust-counts.json"
                os.environ["E2E_LOCUST_COUNTS"] = str(counts_path)  # bench/locustfile.py
                with RssSampler(server) as sampler:
                    timer.start()
                    run = run_locust_on(server, locust, token_path, args.time, args.users,
                                        cores[1], workdir / "locust", ("Hostile",))
                    wall = time.perf_counter() - sampler.started
                timer.cancel()
                children1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # locust
                cpu = {"server": (server.cpu_seconds() - cpu0) / wall,
                       "locust": (children1.ru_utime + children1.ru_stime
                                  - children0.ru_utime - children0.ru_stime) / wall}
                if server.proc.poll() is not None:
                    raise RuntimeError(f"the server exited during the run (code "
                                       f"{server.proc.returncode}):\n"
                                       f"{server.log_path.read_text()[-4000:]}")
                memory = server.status()
                cache1 = server.cache_info(probe)
                # The bench's own requests with a good token: the cache probes and this scrape.
                own = 2 + bool(half_cache) + 1
                status, scrape = get(server.port, "/_bench/metrics", probe)
            finally:
                server.stop()
        end = memory["VmRSS"] / MIB
        half = sampler.at(args.time / 2)
        report["locust"] = {**run, "wall_s": round(wall, 2)}
        # Of one core each, over locust's wall time: which side was the bottleneck.
        report["cpu"] = {k: round(v, 3) for k, v in cpu.items()}
        report["decisions"] = decisions(run, expected)
        report["metrics"] = counted(scrape.decode() if status == 200 else "",
                                    json.loads(counts_path.read_text()), expected, own)
        if cache0 is not None and cache1 is not None:
            report["cache"] = {"hits": cache1["hits"] - cache0["hits"] - 1,
                               "misses": cache1["misses"] - cache0["misses"],
                               "size": cache1["size"], "maxsize": cache1["maxsize"],
                               "size_at_half": half_cache.get("size")}
        report["rss"] = {
            "start_mib": start, "quarter_mib": sampler.at(args.time / 4) or end,
            "half_mib": half or end, "end_mib": end, "hwm_mib": memory["VmHWM"] / MIB,
            "growth_mib": end - start,
            "growth_second_half_mib": end - half if half is not None else None,
            "samples": [list(s) for s in sampler.samples],
        }
        out.with_name("hostile-metrics.txt").write_bytes(scrape)
        text = server.log_path.read_text(errors="replace")
        shutil.copyfile(server.log_path, out.with_name("hostile-server.log"))
        report["server_log"] = log_findings(text, tokens)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["machine"]["loadavg_after"] = os.getloadavg()  # other work on the machine
    report["checks"] = checks(report, args.rss_bound_mib)
    report["passed"] = all(c["passed"] for c in report["checks"])
    report["elapsed_s"] = round(time.time() - started, 1)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(format_summary(report))
    print(f"\n{'PASSED' if report['passed'] else 'FAILED'}; wrote {out} (and "
          f"{out.with_name('hostile-server.log').name}, the server's Prometheus scrape "
          f"{out.with_name('hostile-metrics.txt').name}) in {report['elapsed_s']} s")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
