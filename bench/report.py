"""Ratios to the floor, from pytest-benchmark results: the table, the JSON and the versions.

Every figure is ``contender / floor`` of the same row (``extra_info["row"]``), both measured in
the same run; absolute times are printed for orientation only. Two statistics are given:

- ``min`` (the one the targets and ``check.py`` use): on a shared, noisy machine noise only
  ever adds time (preemption, another process on the core, a cache flushed), so the fastest
  round is the best estimate of what the code itself costs, and it is stable across runs
  where a median moves with the load of the moment. Floor and contender are ratioed
  min to min.
- ``median``: what a typical round cost in this run; when it is far above the min ratio the
  run was noisy (or the contender allocates enough for the garbage collector to show).

A row may have several floors (the hot path measures ``dict.get`` first and last); the lowest
is used.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_REPORT", "best_of", "build_report", "format_table", "format_versions",
    "load_benchmarks", "versions", "write_report",
]

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_REPORT = BENCH_DIR / "results" / "micro.json"
STATS = ("min", "median")
#: A floor more than this above its row's best ran under load: its figure is less certain.
NOISY = 1.25


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _build_info() -> dict[str, Any]:
    """The Cython that generated the C, and whether the .so is older than the .pyx beside it."""
    info: dict[str, Any] = {}
    generated = ROOT / "ext" / "_speedups.c"
    if generated.exists():
        with generated.open() as f:
            first = f.readline().strip()
        info["generated_by"] = first.removeprefix("/* ").removesuffix(" */")
    try:
        from mcpauth_fast import _speedups
    except ImportError:
        info["extension"] = "not built"
        return info
    so = Path(_speedups.__file__)
    info["extension"] = so.name
    pyx = ROOT / "ext" / "_speedups.pyx"
    if pyx.exists() and pyx.stat().st_mtime > so.stat().st_mtime:
        info["stale"] = "ext/_speedups.pyx is newer than the built extension: rebuild to measure it"
    return info


def _git() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev}{' (modified)' if dirty else ''}"


def versions() -> dict[str, Any]:
    """Everything a figure depends on: interpreter, libraries, OpenSSL, the hot path in use."""
    from cryptography.hazmat.backends.openssl.backend import backend

    from mcpauth_fast import __version__
    from mcpauth_fast._accel import IMPLEMENTATION

    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "mcpauth-fast": f"{__version__} @ {_git()}",
        "IMPLEMENTATION": IMPLEMENTATION,
        "cryptography": f"{_version('cryptography')} ({backend.openssl_version_text()})",
        "PyJWT": _version("PyJWT"),
        "joserfc": _version("joserfc"),
        "mcpauth": _version("mcpauth"),
        "orjson": _version("orjson"),
        "Cython": _version("Cython"),
        "pytest-benchmark": _version("pytest-benchmark"),
        "build": _build_info(),
    }


def load_benchmarks(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The benchmarks and versions of a pytest-benchmark JSON file (``--benchmark-json``)."""
    with open(path) as f:
        document = json.load(f)
    found = document.get("machine_info", {}).get("mcpauth_bench", {})
    return list(document["benchmarks"]), found


def _per_call(bench: Mapping[str, Any], stat: str) -> float:
    # A round is a batch of calls (extra_info["batch"]); every figure here is per call.
    return float(bench["stats"][stat]) / int(bench["extra_info"].get("batch", 1))


def build_report(
    benchmarks: Iterable[Mapping[str, Any]], versions: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``{"versions", "statistic", "results": [...]}`` from pytest-benchmark benchmark dicts.

    Each result: row, contender, role (ours / peer / reference / floor), impl, target, the
    times per call in seconds (min, median), the floor's, the ratios, and for ours on the
    compiled hot path the speed-up over the twin (``py_over_c``, min to min).

    The floor of a row is the lowest floor measured in it: the floor benchmarks (first and
    last in the row) and the floor rounds run in alternation with each contender
    (``extra_info["paired_floor"]``, see conftest's ``measure``). ``floor_drift`` = paired
    floor / row floor says how much slower the floor ran while this figure was measured.

    - drift <= NOISY: the row floor is the denominator (``floor_source: "row"``). A paired
      floor is not, then: it inherits CPU state from the contender's round just before it
      (caches; on AVX-512 Xeons the lower clock orjson's SIMD leaves for a few ms, about
      +15%), which would flatter a contender that slows the CPU down.
    - drift > NOISY: the machine was loaded while this figure ran (on 2 vCPUs that are often
      SMT siblings, a busy neighbour slows every round, so no round is undisturbed); the
      paired floor, slowed alike, is the better denominator (``floor_source: "paired"``).
    """
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for bench in benchmarks:
        extra = bench.get("extra_info") or {}
        if "row" in extra and bench.get("stats"):
            rows.setdefault(extra["row"], []).append(bench)
    results: list[dict[str, Any]] = []
    for row, members in rows.items():
        floors = [b for b in members if b["extra_info"].get("role") == "floor"]
        if not floors:
            continue
        floor = {stat: min(_per_call(b, stat) for b in floors) for stat in STATS}
        for bench in members:
            paired = bench["extra_info"].get("paired_floor")
            if paired:
                for stat in STATS:
                    floor[stat] = min(floor[stat], float(paired[stat]))
        by_name: dict[str, dict[str, Any]] = {}
        for bench in members:
            extra = bench["extra_info"]
            result = {
                "key": f"{row} | {extra['contender']}",
                "row": row,
                "contender": extra["contender"],
                "role": extra.get("role", "ours"),
                "impl": extra.get("impl"),
                "target": extra.get("target"),
                "rounds": bench["stats"].get("rounds"),
            }
            paired = extra.get("paired_floor")
            base = floor
            result["floor_source"] = "row"
            if paired:
                result["floor_drift"] = float(paired["min"]) / floor["min"]
                if result["floor_drift"] > NOISY:
                    base = {stat: float(paired[stat]) for stat in STATS}
                    result["floor_source"] = "paired"
            elif extra.get("role") == "floor":
                result["floor_drift"] = _per_call(bench, "min") / floor["min"]
            for stat in STATS:
                value = _per_call(bench, stat)
                result[f"{stat}_s"] = value
                result[f"floor_{stat}_s"] = base[stat]
                result[f"ratio_{stat}"] = value / base[stat]
            by_name[result["contender"]] = result
            results.append(result)
        for result in by_name.values():
            if result["impl"] == "c":
                twin = by_name.get(result["contender"].replace("[c]", "[py]"))
                if twin is not None:
                    result["py_over_c"] = twin["min_s"] / result["min_s"]
    return {"versions": dict(versions or {}), "statistic": "min", "results": results}


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _times(result: Mapping[str, Any], field: str) -> str:
    # A summary (summary.py) keeps ratios only: no times to print.
    return _time(result[field]) if field in result else ""


def _drift(value: float | None) -> str:
    # The floor run beside this figure against the row's best; above NOISY: under load.
    if value is None:
        return ""
    return f"{value:.2f}" + ("!" if value > NOISY else "")


def format_versions(found: Mapping[str, Any]) -> str:
    lines = []
    for name, value in found.items():
        if isinstance(value, Mapping):
            value = "; ".join(f"{k}: {v}" for k, v in value.items())
        lines.append(f"  {name:<17} {value}")
    return "\n".join(lines)


def format_table(report: Mapping[str, Any]) -> str:
    """The report as a plain-text table: one block per row, the floor first."""
    out = ["mcpauth-fast micro benchmarks: each figure is a ratio to its floor, measured in "
           "the same run; ratio = min/min per call (median/median beside it). The floor is the "
           "row's lowest; drift = the floor run in alternation with this figure / the row's "
           f"floor; above {NOISY} ('!') the machine was loaded and the ratio is taken to that "
           "paired floor instead: re-run to trust it.",
           format_versions(report["versions"]), ""]
    header = (f"  {'contender':<34} {'ratio':>7} {'(median)':>9} {'target':>10} "
              f"{'py/c':>6} {'min':>9} {'floor':>9} {'drift':>6}")
    current = None
    for r in report["results"]:
        if r["row"] != current:
            current = r["row"]
            out.append(current)
            out.append(header)
        target = ""
        if r.get("target"):
            target = f"{'ok' if r['ratio_min'] <= r['target'] else 'MISS'} {r['target']:g}"
        speedup = f"{r['py_over_c']:.2f}" if "py_over_c" in r else ""
        out.append(
            f"  {r['contender']:<34} {r['ratio_min']:>6.2f}x {r['ratio_median']:>8.2f}x "
            f"{target:>10} {speedup:>6} {_times(r, 'min_s'):>9} {_times(r, 'floor_min_s'):>9} "
            f"{_drift(r.get('floor_drift')):>6}"
        )
    return "\n".join(out)


def write_report(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    """``python bench/report.py RUN.json [RUN2.json ...] [-o REPORT.json]``: the table of saved
    runs (pytest-benchmark JSON), each figure from the run where its ratio was lowest."""
    args = list(sys.argv[1:] if argv is None else argv)
    out = None
    if "-o" in args:
        at = args.index("-o")
        out = args[at + 1]
        del args[at : at + 2]
    if not args:
        print("usage: report.py RUN.json [RUN2.json ...] [-o REPORT.json]", file=sys.stderr)
        return 2
    reports = []
    for path in args:
        benchmarks, found = load_benchmarks(path)
        reports.append(build_report(benchmarks, found))
    report = best_of(reports)
    report["runs"] = len(reports)
    print(format_table(report))
    if out:
        write_report(report, out)
    return 0


def best_of(reports: Sequence[Mapping[str, Any]], stat: str = "min") -> dict[str, Any]:
    """One report of several runs: each figure from the run where its ratio was lowest.

    Noise only ever adds time, so the lowest ratio of N runs is the best estimate of each.
    """
    best: dict[str, Mapping[str, Any]] = {}
    order: list[str] = []

    def rank(r: Mapping[str, Any]) -> float:
        return float(r[f"ratio_{stat}"])

    for report in reports:
        for r in report["results"]:
            kept = best.get(r["key"])
            if kept is None:
                order.append(r["key"])
            if kept is None or rank(r) < rank(kept):
                best[r["key"]] = r
    return {
        "versions": dict(reports[0].get("versions", {})) if reports else {},
        "statistic": stat,
        "results": [dict(best[key]) for key in order],
    }


if __name__ == "__main__":
    raise SystemExit(main())
