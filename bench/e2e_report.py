"""The end-to-end report: the machine, the issue's targets met or not, the text table, and
the JSON file (``bench/results/e2e.json``; ``bench/chart.py`` draws it)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

#: The issue's targets: fast / noauth rps of the same round, fast / mcpauth rps, RSS over noauth.
TARGETS = {"fast-same": 0.90, "fast-distinct": 0.60, "vs_mcpauth": 7.0, "rss_over_noauth_mib": 32}
#: RSS is not the traced bytes: pymalloc keeps partly used pools and arenas (1 MiB each), glibc
#: its heaps, and the server's own buffers grow a little under load (the no-auth app: +0.2 MiB).
ALLOCATOR_HEADROOM = 0.25
ALLOCATOR_SLACK_MIB = 1.0
#: Once the cache is full, RSS must stop growing (a leak per request would show here).
PLATEAU_MIB = 1.0


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo."""
    return next((line.split(":", 1)[1].strip() for line in
                 Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), platform.processor())


def machine(cores: tuple[int | None, int | None]) -> dict[str, Any]:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return {"platform": f"{platform.system()} {platform.release()} {platform.machine()}",
            "cpu": cpu_model(), "cpus": os.cpu_count(), "server_core": cores[0],
            "client_core": cores[1], "wrk": (wrk.stdout + wrk.stderr).split("\n")[0].strip()}


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
