"""Issue 16's two bars on real components: two uvicorn workers (``bench/shared_bars_app.py``,
"auto" mode: JWTs and opaque tokens) behind one ``redis-server``, and the dev issuer.

- **Bar R, revocation delay:** ``--revocations`` times (JWT and opaque tokens alternately; by
  token, by ``jti`` and by subject in turn), a token is cached on both workers (200 on each),
  revoked through worker 1's ``POST /revoke`` (once: when Redis is not reached, the worker
  shares it after reconnecting), and both workers are polled every millisecond
  (one keep-alive client each) until they answer 401. The delay runs from just before the
  revocation is sent. Bar: p99 of worker 2's delay < 1 s; a bystander JWT and opaque token
  still get 200 on both after every revocation.
- **Bar K, Redis killed under load:** a headless locust run (``bench/shared_locustfile.py``,
  ``--users`` users split over both workers, ``--time`` seconds) of good JWTs (a pool larger
  than a worker's cache: they keep asking Redis), good opaque tokens, bar R's revoked tokens
  (401), expired and garbage ones (401) and tokens without the ``read`` scope (403). Redis is
  SIGKILLed at a third of the run and started again, empty, on the same port at two thirds.
  Bar: no 5xx, no wrong decision, no request error; both workers report ``listening`` again
  without being restarted; the revoked tokens still get 401 on both after the run.

  A worker started *after* the restart (Redis came back empty; the running workers store
  their revocations again) must refuse every revoked token too.

Prints a report and writes ``bench/results/shared-bars.json``; exit 1 when a bar fails.

    make bench-shared          # or: .venv/bin/python bench/shared_bars.py --time 30
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from e2e_locust import locust_path
from e2e_server import BENCH, log
from e2e_tokens import issuer_running

sys.path.insert(0, str(BENCH.parent / "tests"))
from support.redis_server import RedisServer, redis_binary  # noqa: E402
from support.uvicorn_worker import UvicornWorker  # noqa: E402

AUDIENCE = "https://mcp.example.com/mcp"
LOCUSTFILE = BENCH / "shared_locustfile.py"
DEFAULT_OUT = BENCH / "results" / "shared-bars.json"
#: FastHttpUser's failure message: "wrong decision: <kind> token got <status>, expected <n>".
DECISION = re.compile(r"got (\d+), expected (\d+)")


def start_worker(env: dict[str, str], log_path: Path) -> UvicornWorker:
    """One uvicorn process serving ``shared_bars_app``."""
    return UvicornWorker("shared_bars_app:app", env, log_path, app_dir=BENCH)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: of 100 values, p99 is the second largest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values) * 1000, 2),
            "p99_ms": round(percentile(values, 99) * 1000, 2),
            "max_ms": round(max(values) * 1000, 2)}


# -- bar R: revocation delay ------------------------------------------------------------------


def mint(issuer: Any, kind: str, **claims: Any) -> str:
    if kind == "jwt":
        return str(issuer.mint(aud=AUDIENCE, alg="ES256", **claims))
    return str(issuer.mint_opaque(aud=AUDIENCE, **claims))


def time_to_refusal(worker: UvicornWorker, client: httpx.Client, token: str, go: threading.Event,
                    start: list[float], result: dict[str, float | None], key: str,
                    timeout: float) -> None:
    """Poll ``worker`` every millisecond from ``go`` on; the seconds until its first 401."""
    result[key] = None
    go.wait(timeout)
    while time.perf_counter() - start[0] < timeout:
        if worker.status(token, client) == 401:
            result[key] = time.perf_counter() - start[0]
            return
        time.sleep(0.001)


def revoke(worker: UvicornWorker, body: dict[str, str]) -> bool:
    """``POST /revoke`` once; whether Redis was reached at once (else the worker shares the
    revocation when it reconnects)."""
    return worker.http.post("/revoke", json=body).json().get("shared") is True


def bar_r(issuer: Any, one: UvicornWorker, two: UvicornWorker, count: int) -> dict[str, Any]:
    bystanders = [mint(issuer, "jwt", sub="bystander"), mint(issuer, "opaque", sub="bystander")]
    pollers = [httpx.Client(base_url=w.url, timeout=5) for w in (one, two)]
    rows: list[dict[str, Any]] = []
    revoked: dict[str, list[str]] = {}
    bystander_refusals = 0
    try:
        for n in range(count):
            kind, how = ("jwt", "opaque")[n % 2], ("token", "jti", "subject")[n % 3]
            subject, jti = f"revoked-{n}", f"bar-r-{n}"
            token = mint(issuer, kind, sub=subject, jti=jti)
            cached = [one.status(token), two.status(token)]
            if cached != [200, 200]:
                raise RuntimeError(f"revocation {n}: not accepted before: {cached}")
            body = {"token": {"token": token}, "jti": {"jti": jti, "issuer": issuer.issuer},
                    "subject": {"subject": subject, "issuer": issuer.issuer}}[how]
            go, start, result = threading.Event(), [0.0], {}
            threads = [threading.Thread(target=time_to_refusal, daemon=True, args=(
                w, c, token, go, start, result, key, 5.0)) for w, c, key in (
                (one, pollers[0], "worker1_s"), (two, pollers[1], "worker2_s"))]
            for thread in threads:
                thread.start()
            start[0] = time.perf_counter()
            go.set()
            shared = revoke(one, body)
            ack = time.perf_counter() - start[0]
            for thread in threads:
                thread.join(10)
            bystander_refusals += sum(w.status(b) != 200 for w in (one, two) for b in bystanders)
            revoked.setdefault(f"{kind}/{how}", []).append(token)
            rows.append({"n": n, "token": kind, "by": how, "shared": shared, "ack_s": ack,
                         **result})
    finally:
        for client in pollers:
            client.close()
    arrived = [r for r in rows if r["worker1_s"] is not None and r["worker2_s"] is not None]
    delays2 = [r["worker2_s"] for r in arrived]
    report = {
        "revocations": count, "arrived_on_both": len(arrived),
        "not_shared_at_once": sum(r["shared"] is not True for r in rows),
        "worker2": summary_ms(delays2) if delays2 else None,
        "worker1": summary_ms([r["worker1_s"] for r in arrived]) if arrived else None,
        "ack": summary_ms([r["ack_s"] for r in rows]),
        "by_kind": {f"{t}/{b}": summary_ms([r["worker2_s"] for r in arrived
                                            if (r["token"], r["by"]) == (t, b)])
                    for t in ("jwt", "opaque") for b in ("token", "jti", "subject")},
        "bystander_refusals": bystander_refusals, "rows": rows,
    }
    report["passed"] = (len(arrived) == count and bystander_refusals == 0 and bool(delays2)
                        and percentile(delays2, 99) < 1.0)
    return {**report, "_revoked": revoked, "_bystanders": bystanders}


# -- bar K: Redis killed under a locust run ---------------------------------------------------


def token_mix(issuer: Any, revoked: dict[str, list[str]], jwts: int, opaques: int
              ) -> dict[str, dict[str, Any]]:
    """Per kind: its expected status, its weight in the mix, its tokens."""
    started = time.perf_counter()
    good_jwt = [mint(issuer, "jwt", sub=f"user-{n % 97}") for n in range(jwts)]
    good_opaque = [mint(issuer, "opaque", sub=f"user-{n % 97}") for n in range(opaques)]
    log(f"minted {len(good_jwt) + len(good_opaque)} good tokens in "
        f"{time.perf_counter() - started:.1f} s")
    return {
        "good_jwt": {"expected": 200, "weight": 30, "tokens": good_jwt},
        "good_opaque": {"expected": 200, "weight": 25, "tokens": good_opaque},
        # Bar R's, by kind ("revoked jwt/subject", ...): a wrong answer names the path.
        **{f"revoked {kind}": {"expected": 401, "weight": 3, "tokens": tokens}
           for kind, tokens in revoked.items()},
        "expired": {"expected": 401, "weight": 10, "tokens": [
            mint(issuer, kind, ttl=-3600) for kind in ("jwt", "opaque") for _ in range(4)]},
        "garbage": {"expected": 401, "weight": 10, "tokens": [
            "not-a-token", "a.b.c", good_jwt[0][:-8] + "AAAAAAAA", secrets.token_urlsafe(32)]},
        "missing_scope": {"expected": 403, "weight": 10, "tokens": [
            mint(issuer, kind, scope="write") for kind in ("jwt", "opaque") for _ in range(4)]},
    }


def history(prefix: Path) -> dict[str, list[tuple[int, int, int]]]:
    """Per request name: (unix second, total requests, total failures), from locust's
    ``--csv-full-history`` rows (one per name a second, cumulative)."""
    rows: dict[str, list[tuple[int, int, int]]] = {}
    with Path(f"{prefix}_stats_history.csv").open() as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["Name"], []).append(
                (int(row["Timestamp"]), int(row["Total Request Count"]),
                 int(row["Total Failure Count"])))
    return rows


def at(rows: list[tuple[int, int, int]], moment: float) -> tuple[int, int]:
    """The cumulative (requests, failures) of the last row at or before ``moment``."""
    found = (0, 0)
    for second, requests, failures in rows:
        if second > moment:
            break
        found = (requests, failures)
    return found


def phases(rows: dict[str, list[tuple[int, int, int]]], bounds: list[tuple[str, float, float]]
           ) -> dict[str, Any]:
    """Requests, requests/s and failures (per request name) in each phase."""
    result = {}
    for phase, begin, end in bounds:
        (r0, _), (r1, _) = at(rows["Aggregated"], begin), at(rows["Aggregated"], end)
        failures = {}
        for name, series in rows.items():
            (_, f0), (_, f1) = at(series, begin), at(series, end)
            if f1 - f0 and name != "Aggregated":
                failures[name] = f1 - f0
        result[phase] = {"seconds": round(end - begin, 1), "requests": r1 - r0,
                         "rps": round((r1 - r0) / (end - begin), 1), "failures": failures}
    return result


def failures(prefix: Path) -> dict[str, Any]:
    """5xx, wrong decisions (by name and status) and request errors, from locust's CSVs."""
    wrong: Counter[str] = Counter()
    messages: Counter[str] = Counter()  # with the response's body: why
    five_xx = errors = 0
    path = Path(f"{prefix}_failures.csv")
    for row in csv.DictReader(path.open()) if path.exists() else ():
        count, found = int(row["Occurrences"]), DECISION.search(row["Error"])
        status = int(found.group(1)) if found else 0
        if status == 0:  # no response: a connection error, or another failure
            errors += count
            continue
        five_xx += count if status >= 500 else 0
        wrong[f"{row['Name']} -> {status}"] += count
        messages[f"{row['Name']}: {row['Error']}"] += count
    path = Path(f"{prefix}_exceptions.csv")
    exceptions = sum(int(r["Count"]) for r in csv.DictReader(path.open())) if path.exists() else 0
    return {"5xx": five_xx, "wrong_decisions": sum(wrong.values()), "wrong": dict(wrong),
            "wrong_messages": dict(messages), "request_errors": errors + exceptions}


def totals(prefix: Path) -> dict[str, int]:
    with Path(f"{prefix}_stats.csv").open() as f:
        return {row["Name"]: int(row["Request Count"]) for row in csv.DictReader(f)}


def bar_k(redis: RedisServer, workers: list[UvicornWorker], mix: dict[str, dict[str, Any]],
          workdir: Path, seconds: int, users: int) -> dict[str, Any]:
    locust = locust_path()
    if locust is None:
        raise SystemExit("locust is not installed (make bench-shared installs the bench extra)")
    preflight = {kind: [w.status(spec["tokens"][0]) for w in workers]
                 for kind, spec in mix.items()}
    # A wrong answer here is reported (and fails the bar), not raised: it is a finding.
    wrong_before = {k: v for k, v in preflight.items() if v != [mix[k]["expected"]] * 2}
    token_file = workdir / "tokens.json"
    token_file.write_text(json.dumps({"kinds": mix, "hosts": [w.url for w in workers]}))
    prefix = workdir / "locust"
    cmd = [locust, "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r", str(users),
           "-t", f"{seconds}s", "--csv", str(prefix), "--csv-full-history", "--only-summary",
           "--stop-timeout", "5"]
    log(f"locust: {shlex.join(cmd)}")
    listening_after: list[float | None] = []
    with (workdir / "locust.log").open("w") as output:
        started = time.time()
        process = subprocess.Popen(cmd, env={**os.environ, "SHARED_BARS_TOKENS": str(token_file)},
                                   stdout=output, stderr=subprocess.STDOUT)
        try:
            time.sleep(1 + seconds / 3)  # locust takes about a second to start its users
            killed = time.time()
            redis.kill()
            log("redis-server SIGKILLed")
            time.sleep(seconds / 3)
            redis.start()
            restarted = time.time()
            log("redis-server started again, empty, on the same port")
            listening_after = [w.seconds_to_listen(10.0) for w in workers]
            exit_code = process.wait(seconds + 60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        ended = time.time()
    rows = history(prefix)
    # The load runs from the first second with a request to the last row (locust starts
    # its users after a second or so, and takes a while to stop).
    load = [second for second, requests, _ in rows["Aggregated"] if requests]
    begin, end = (load[0] - 1, load[-1]) if load else (started, ended)
    bounds = [("before", begin, killed), ("outage", killed, restarted),
              ("after", restarted, end)]
    counted = totals(prefix)
    revoked = [t for kind, spec in mix.items() if kind.startswith("revoked")
               for t in spec["tokens"]]
    accepted_after = {f"w{n}": sum(w.status(t) != 401 for t in revoked)
                      for n, w in enumerate(workers, 1)}
    report = {
        "seconds": seconds, "users": users, "locust_exit_code": exit_code,
        "preflight_wrong": wrong_before,
        "requests": counted.get("Aggregated", 0),
        "requests_by_name": {k: v for k, v in counted.items() if k != "Aggregated"},
        **failures(prefix), "phases": phases(rows, bounds),
        "listening_again_s": listening_after,
        "revoked_accepted_after_restart": accepted_after,
        "worker_stats": {f"w{n}": w.stats() for n, w in enumerate(workers, 1)},
        "locust_output_tail": (workdir / "locust.log").read_text()[-1500:],
    }
    report["passed"] = (not wrong_before and report["5xx"] == 0
                        and report["wrong_decisions"] == 0
                        and report["request_errors"] == 0 and report["requests"] > 0
                        and None not in listening_after
                        and not any(accepted_after.values()))
    return report


def late_worker(env: dict[str, str], workdir: Path, revoked: list[str],
                bystanders: list[str]) -> dict[str, Any]:
    """A worker started after Redis came back empty: does it know the revocations?"""
    worker = start_worker(env, workdir / "worker-3.log")
    try:
        if worker.seconds_to_listen(20.0) is None:
            return {"started": False}
        accepted = sum(worker.status(t) == 200 for t in revoked)
        return {"started": True, "revoked_tokens": len(revoked), "revoked_accepted": accepted,
                "bystanders_accepted": sum(worker.status(b) == 200 for b in bystanders),
                "revocations_known": worker.stats()["revocations"]}
    finally:
        worker.stop()


# -- the report -------------------------------------------------------------------------------


def format_report(report: dict[str, Any]) -> str:
    r, k, late = report["bar_r"], report["bar_k"], report["late_worker"]
    lines = [f"shared-tier bars: {report['command']} ({report['code']})"]
    lines.append(f"Bar R, revocation delay: {r['revocations']} revocations (JWT/opaque x "
                 f"token/jti/subject) on worker 1, {r['arrived_on_both']} refused on both")
    for name in ("worker2", "worker1", "ack"):
        s = r[name]
        label = {"worker2": "worker 2 refuses", "worker1": "worker 1 refuses",
                 "ack": "POST /revoke answered"}[name]
        if s:
            lines.append(f"  {label:22} p50 {s['p50_ms']:7.2f} ms  p99 {s['p99_ms']:7.2f} ms  "
                         f"max {s['max_ms']:7.2f} ms")
    lines.append("  worker 2 p50/max by kind: " + ", ".join(
        f"{kind} {s['p50_ms']:.1f}/{s['max_ms']:.1f}" for kind, s in r["by_kind"].items()))
    for row in r["rows"]:
        if row["worker1_s"] is None or row["worker2_s"] is None or not row["shared"]:
            lines.append(f"  revocation {row['n']} ({row['token']}/{row['by']}): "
                         f"shared at once {row['shared']}, refused on worker 1 "
                         f"after {row['worker1_s']} s, on worker 2 after {row['worker2_s']} s")
    lines.append(f"  revoke() answered False (Redis not reached at once): "
                 f"{r['not_shared_at_once']} of {r['revocations']}; bystander tokens refused: "
                 f"{r['bystander_refusals']}")
    lines.append(f"{'PASS' if r['passed'] else 'FAIL'} bar R: p99 on worker 2 < 1 s, every "
                 "revocation on both, bystanders still 200")
    lines.append(f"Bar K, Redis SIGKILLed under locust: {k['users']} users over 2 workers, "
                 f"{k['seconds']} s; {k['requests']} requests; 5xx {k['5xx']}; wrong decisions "
                 f"{k['wrong_decisions']} {k['wrong'] or ''}; request errors "
                 f"{k['request_errors']}; locust exit {k['locust_exit_code']}")
    for message, count in k["wrong_messages"].items():
        name, _, error = message.partition(": ")
        decision, cause = DECISION.search(error), re.search(r'"cause":"([^"]*)"', error)
        lines.append(f"  wrong: {name} x{count}: {decision.group(0) if decision else error}"
                     + (f", cause {cause.group(1)}" if cause else ""))
    if k["preflight_wrong"]:
        lines.append("  WRONG before the load (kind: [worker 1, worker 2]): "
                     f"{k['preflight_wrong']}")
    for phase, p in k["phases"].items():
        lines.append(f"  {phase:7} {p['seconds']:5.1f} s  {p['requests']:7d} requests  "
                     f"{p['rps']:7.1f} req/s  failures {p['failures'] or 0}")
    lines.append("  per kind: " + ", ".join(f"{n} {c}" for n, c in
                                            sorted(k["requests_by_name"].items())))
    listening = ", ".join("never" if s is None else f"{s:.2f} s" for s in k["listening_again_s"])
    lines.append(f"  listening again after the restart (worker 1, worker 2): {listening}")
    lines.append("  outages seen: " + ", ".join(
        f"{w} {s['redis']['outages']}" for w, s in k["worker_stats"].items())
        + f"; revoked tokens accepted after the restart: {k['revoked_accepted_after_restart']}")
    lines.append(f"{'PASS' if k['passed'] else 'FAIL'} bar K: no 5xx, no wrong decision, both "
                 "workers listening again, revoked tokens still refused")
    if late.get("started"):
        verdict = ("FAIL: the revocations were lost with Redis's data"
                   if late["revoked_accepted"] else "PASS: the revocations survived")
        lines.append(f"A worker started after the restart: {late['revoked_accepted']} of "
                     f"{late['revoked_tokens']} revoked tokens accepted ({verdict}); it "
                     f"knows {late['revocations_known']} revocations")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revocations", type=int, default=100)
    parser.add_argument("--time", type=int, default=30, help="seconds of locust load")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--jwt-pool", type=int, default=20000,
                        help="distinct good JWTs cycled: most requests are a worker's first "
                        "sight of theirs (a Redis lookup, or a verification)")
    parser.add_argument("--opaque-pool", type=int, default=200,
                        help="distinct good opaque tokens cycled (the dev issuer mints them "
                        "slowly)")
    parser.add_argument("--retry-max", type=float, default=1.0,
                        help="the workers' longest Redis back-off (shared_cache retry_max)")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    binary = redis_binary()
    if binary is None:
        parser.error("redis-server is not on PATH (make install)")
    workdir = Path(tempfile.mkdtemp(prefix="mcpauth-shared-bars-"))
    out = Path(args.out)
    out_dir = out.parent
    code = subprocess.run(["git", "-C", str(BENCH), "describe", "--always", "--dirty"],
                          capture_output=True, text=True, timeout=10).stdout.strip()
    report: dict[str, Any] = {
        "benchmark": "shared-bars", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": shlex.join(getattr(sys, "orig_argv", sys.argv)), "code": code,
        "config": {**vars(args), "cpus": os.cpu_count(),
                   "app": "bench/shared_bars_app.py: auto mode, share_jwt, uvicorn 1 worker each"},
    }
    started = time.time()
    redis = RedisServer(binary, workdir)
    workers: list[UvicornWorker] = []
    try:
        redis.start()
        with issuer_running(workdir) as issuer:
            client_id, client_secret = issuer.client_credentials
            env = {**os.environ, "ISSUER_URL": issuer.issuer, "CLIENT_ID": client_id,
                   "CLIENT_SECRET": client_secret, "AUDIENCE": AUDIENCE,
                   "REDIS_URL": redis.url, "SHARED_KEY": secrets.token_hex(32),
                   "RETRY_MAX": str(args.retry_max)}
            for n in (1, 2):  # appended one by one: the finally block stops each started
                workers.append(start_worker(env, workdir / f"worker-{n}.log"))
            for worker in workers:
                if worker.seconds_to_listen(30.0) is None:
                    raise RuntimeError("a worker did not start listening")
            log(f"redis {redis.url}, workers {[w.url for w in workers]}; bar R")
            r = bar_r(issuer, workers[0], workers[1], args.revocations)
            revoked, bystanders = r.pop("_revoked"), r.pop("_bystanders")
            report["bar_r"] = r
            log("bar K")
            mix = token_mix(issuer, revoked, args.jwt_pool, args.opaque_pool)
            report["bar_k"] = bar_k(redis, workers, mix, workdir, args.time, args.users)
            report["late_worker"] = late_worker(
                env, workdir, [t for tokens in revoked.values() for t in tokens], bystanders)
    finally:
        for worker in workers:
            worker.stop()
        redis.stop()
        logs = ""
        for path in sorted(workdir.glob("worker-*.log")):
            logs += path.read_text(errors="replace")
            out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out_dir / f"shared-bars-{path.name}")
        shutil.rmtree(workdir, ignore_errors=True)
    report["tracebacks_in_worker_logs"] = logs.count("Traceback")
    first = logs.find("Traceback")
    report["first_traceback"] = logs[first:first + 8000] if first >= 0 else ""
    late = report["late_worker"]
    report["passed"] = (report["bar_r"]["passed"] and report["bar_k"]["passed"]
                        and report["tracebacks_in_worker_logs"] == 0
                        and late.get("started") is True and late["revoked_accepted"] == 0)
    report["elapsed_s"] = round(time.time() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(format_report(report))
    print(f"tracebacks in the worker logs: {report['tracebacks_in_worker_logs']}"
          + (f"\n{report['first_traceback']}" if report["first_traceback"] else ""))
    print(f"\n{'PASSED' if report['passed'] else 'FAILED'}; wrote {out} (and the workers' "
          f"logs, shared-bars-worker-N.log) in {report['elapsed_s']} s")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
