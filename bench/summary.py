"""The committed baseline: per figure the ratios ``check.py`` judges, not the raw runs.

``make bench-baseline`` runs the micro suite into ``bench/results/baseline/`` (pytest-benchmark
JSON, a few thousand lines a run, not committed) and writes their summary here::

    python bench/summary.py RUN.json [RUN2.json ...] -o bench/baseline/summary.json
    python bench/summary.py bench/baseline/summary.json     # the saved baseline's ratios

The summary is what a regression check needs and nothing else: the versions it was measured
with, the number of runs, and per row its floors (names, and the floor's time per call for
orientation) and per figure its role, implementation, target and ratios to the floor (min/min
and median/median), each best of the runs; ``under_load`` marks a figure whose ratio was taken
to its paired floor (report.NOISY). One figure a line, so a diff shows which figures moved.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import best_of, build_report, format_table  # noqa: E402

#: Significant digits kept: the check's thresholds are 25% and more.
DIGITS = 4


def _round(value: float, digits: int = DIGITS) -> float:
    return float(f"{value:.{digits}g}")


def summarize(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The summary of ratio reports (``report.build_report`` of each run), best of them.

    Each ratio is the lowest of the runs on its own statistic (as ``check.py --stat`` reads
    it), so ``ratio_min`` and ``ratio_median`` of a figure may come from different runs.
    """
    report = best_of(reports, "min")
    medians = {r["key"]: r["ratio_median"] for r in best_of(reports, "median")["results"]}
    rows: dict[str, dict[str, Any]] = {}
    for r in report["results"]:
        row = rows.setdefault(r["row"], {"floors": [], "floor_min_s": None, "figures": {}})
        if r["role"] == "floor":
            row["floors"].append(r["contender"])
            continue
        if r.get("floor_source") == "row" and r.get("floor_min_s"):
            floor = r["floor_min_s"]
            row["floor_min_s"] = min(floor, row["floor_min_s"] or floor)
        figure = {"role": r["role"], "impl": r.get("impl"), "target": r.get("target"),
                  "ratio_min": _round(r["ratio_min"]), "ratio_median": _round(medians[r["key"]])}
        if r.get("floor_source") == "paired":
            figure["under_load"] = True
        row["figures"][r["contender"]] = {k: v for k, v in figure.items() if v is not None}
    for row in rows.values():
        if row["floor_min_s"] is not None:
            row["floor_min_s"] = _round(row["floor_min_s"], 3)
    return {"statistic": "min", "runs": sum(r.get("runs", 1) for r in reports),
            "versions": dict(report.get("versions", {})), "rows": rows}


def to_report(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary as a ratio report (``results``: one dict a figure), as ``check.py`` reads.

    Each row's floors come first, at ratio 1; every result carries the row's floor time.
    """
    results = []
    for row, entry in summary["rows"].items():
        floor = {"floor_min_s": entry["floor_min_s"]} if entry.get("floor_min_s") else {}
        for name in entry["floors"]:
            results.append({"key": f"{row} | {name}", "row": row, "contender": name,
                            "role": "floor", "ratio_min": 1.0, "ratio_median": 1.0,
                            "floor_source": "row", **floor})
        for name, figure in entry["figures"].items():
            results.append({"key": f"{row} | {name}", "row": row, "contender": name, **figure,
                            "floor_source": "paired" if figure.get("under_load") else "row",
                            **floor})
    return {"versions": dict(summary.get("versions", {})),
            "statistic": summary.get("statistic", "min"), "runs": summary.get("runs", 1),
            "results": results}


def load(path: str | Path) -> dict[str, Any]:
    """A ratio report from ``path``: a summary, a pytest-benchmark JSON file or a ratio report.

    :raises ValueError: ``path`` holds none of the three.
    """
    document = json.loads(Path(path).read_text())
    if "rows" in document:
        return to_report(document)
    if "benchmarks" in document:
        found = document.get("machine_info", {}).get("mcpauth_bench", {})
        return build_report(document["benchmarks"], found)
    if "results" in document:
        return dict(document)
    raise ValueError(f"{path}: neither a summary, a pytest-benchmark JSON file nor a ratio report")


def dumps(summary: Mapping[str, Any]) -> str:
    """JSON with each innermost object or list on one line: one figure a line."""
    text = json.dumps(summary, indent=2)
    flat = re.compile(r"([{\[])\n\s*([^{}\[\]]*?)\n\s*([}\]])")
    return flat.sub(lambda m: m[1] + re.sub(r"\n\s*", " ", m[2]) + m[3], text) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table of the files (each figure best of them); with ``-o``, write their
    summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="pytest-benchmark runs, ratio reports or summaries")
    parser.add_argument("-o", "--out", help="write the summary here")
    args = parser.parse_args(argv)
    reports = [load(path) for path in args.files]
    print(format_table(best_of(reports)))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(dumps(summarize(reports)))
        print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
