"""``make bench-check``: compare the RATIOS of a new run with a saved baseline, never times.

    python bench/check.py --baseline bench/baseline/summary.json --new N.json [N2.json ...]
                          [--threshold 0.25] [--stat min] [--targets] [--strict]

The baseline is the committed summary (``bench/summary.py``: per figure its ratios, best of
the runs ``make bench-baseline`` made). Each new file is a pytest-benchmark JSON file
(``--benchmark-json``) of the bench/ suite; either side may also be a ratio report written by
``bench/conftest.py`` (``micro.json``) or a summary. For each of our figures
(role ``ours``) the ratio to its row's floor is computed in each file, from that file's own
floor. Several runs on one side count as one, each figure taken from the run where its ratio
was lowest (best of N: noise only ever adds time; on a shared 2-vCPU machine a sub-200 ns
piece can read 2x slow in one run out of three). The check fails (exit 1) when a ratio grew
by more than the threshold: 25% for whole verifications (new > baseline * 1.25), 100% for
the single pieces of the "hot path" row, which are 40 to 1000 ns long and, measured alone on
a shared VM, land in one of two modes about 2x apart from one process to the next
(``--hotpath-threshold``).

A regression measured under load (its paired floor ``drift`` above report.NOISY) is listed
as NOISY and does not fail the check unless ``--strict``: re-run to confirm it. The peers'
and references' ratios are printed, never checked: they are not our code. ``--targets`` also
fails any figure above the issue's target (cold 1.10x, warm 3x, compiled hot path only).
Figures present in only one file are listed, not failed.

Absolute times differ between machines and minutes; a ratio of two things measured side by
side in the same run mostly does not. It still moves with the CPU (a C/Python speed-up is not
the same on every core) and with the load: re-run before believing a single failure, and
make the baseline on the kind of machine that runs the check.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import NOISY, best_of, format_versions  # noqa: E402
from summary import load  # noqa: E402

DEFAULT_THRESHOLD = float(os.environ.get("BENCH_CHECK_THRESHOLD", "0.25"))
DEFAULT_HOTPATH_THRESHOLD = float(os.environ.get("BENCH_CHECK_HOTPATH_THRESHOLD", "1.0"))
HOTPATH_ROW = "hot path (per request)"


def compare(
    baseline: Mapping[str, Any], new: Mapping[str, Any], threshold: float, stat: str = "min",
    targets: bool = False, strict: bool = False,
    hotpath_threshold: float = DEFAULT_HOTPATH_THRESHOLD,
) -> tuple[list[dict[str, Any]], list[str]]:
    """One line per figure of ``new`` (with the baseline's where it has one), and the failures."""
    old = {r["key"]: r for r in baseline["results"]}
    lines: list[dict[str, Any]] = []
    failures: list[str] = []
    seen = set()
    for r in new["results"]:
        if r["role"] == "floor":
            continue
        key = r["key"]
        seen.add(key)
        ratio = r[f"ratio_{stat}"]
        base = old.get(key)
        line = {"key": key, "role": r["role"], "new": ratio, "base": None, "change": None,
                "status": ""}
        if base is not None:
            line["base"] = base[f"ratio_{stat}"]
            line["change"] = ratio / line["base"] - 1.0
            allowed = hotpath_threshold if r["row"] == HOTPATH_ROW else threshold
            if r["role"] == "ours" and line["change"] > allowed:
                drift = r.get("floor_drift") or 1.0
                what = f"{key}: {line['base']:.2f}x -> {ratio:.2f}x ({line['change']:+.0%})"
                if drift > NOISY and not strict:
                    line["status"] = f"NOISY (drift {drift:.2f}: re-run)"
                else:
                    line["status"] = "REGRESSED"
                    failures.append(what)
        else:
            line["status"] = "new"
        target = r.get("target")
        if targets and target and r["role"] == "ours" and ratio > target:
            line["status"] = (line["status"] + " " if line["status"] else "") + "OVER-TARGET"
            failures.append(f"{key}: {ratio:.2f}x is above the target {target:g}x")
        elif target:
            line["status"] = (line["status"] + " " if line["status"] else "") + (
                f"target {target:g}: {'ok' if ratio <= target else 'miss'}"
            )
        lines.append(line)
    for key in old:
        if key not in seen and old[key]["role"] != "floor":
            lines.append({"key": key, "role": old[key]["role"], "new": None,
                          "base": old[key][f"ratio_{stat}"], "change": None,
                          "status": "missing in the new run"})
    return lines, failures


def format_lines(
    lines: Sequence[Mapping[str, Any]], threshold: float, stat: str, hotpath_threshold: float
) -> str:
    out = [f"ratio to the row's floor ({stat}/{stat}); fail when an 'ours' ratio grows by more "
           f"than {threshold:.0%} ({hotpath_threshold:.0%} in the hot path row)",
           f"  {'figure':<56} {'role':<9} {'baseline':>9} {'new':>9} {'change':>8}  status"]
    for line in lines:
        base = f"{line['base']:.2f}x" if line["base"] is not None else "-"
        new = f"{line['new']:.2f}x" if line["new"] is not None else "-"
        change = f"{line['change']:+.0%}" if line["change"] is not None else ""
        out.append(f"  {line['key']:<56} {line['role']:<9} {base:>9} {new:>9} {change:>8}  "
                   f"{line['status']}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", nargs="+", required=True,
                        help="the saved summary, or run(s) (best of N per figure)")
    parser.add_argument("--new", nargs="+", required=True,
                        help="the new run(s) (best of N per figure)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="allowed relative growth of a ratio (default 0.25, or "
                             "$BENCH_CHECK_THRESHOLD)")
    parser.add_argument("--hotpath-threshold", type=float, default=DEFAULT_HOTPATH_THRESHOLD,
                        help="the same for the hot path row's single pieces (default 1.0, or "
                             "$BENCH_CHECK_HOTPATH_THRESHOLD)")
    parser.add_argument("--stat", choices=("min", "median"), default="min")
    parser.add_argument("--targets", action="store_true",
                        help="also fail figures above the issue's targets")
    parser.add_argument("--strict", action="store_true",
                        help="also fail regressions measured under load (NOISY)")
    args = parser.parse_args(argv)
    baseline = best_of([load(path) for path in args.baseline], args.stat)
    new = best_of([load(path) for path in args.new], args.stat)
    print(f"baseline: {' '.join(args.baseline)}\n"
          f"{format_versions(baseline.get('versions', {}))}")
    print(f"new run:  {' '.join(args.new)}\n{format_versions(new.get('versions', {}))}\n")
    lines, failures = compare(
        baseline, new, args.threshold, args.stat, args.targets, args.strict,
        args.hotpath_threshold,
    )
    print(format_lines(lines, args.threshold, args.stat, args.hotpath_threshold))
    if failures:
        print(f"\nbench-check FAILED: {len(failures)} figure(s)")
        for failure in failures:
            print(f"  {failure}")
        return 1
    print("\nbench-check passed: no ratio regressed beyond the threshold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
