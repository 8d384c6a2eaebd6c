"""The benchmark session: versions into the pytest-benchmark JSON, the ratio table at the end.

Run (bench/ is outside the suite's testpaths, so name it):

    .venv/bin/python -m pytest bench -p no:cacheprovider --benchmark-only \
        --benchmark-max-time=0.5 --benchmark-json=bench/results/run-1.json

(``bench/run.sh`` and ``make bench`` do this).

At the end of the session the table of ratios (``report.py``) is printed and written as JSON
to ``--bench-report PATH``, else ``$MCPAUTH_BENCH_REPORT``, else ``bench/results/micro.json``.

The ``measure`` fixture times a contender with pytest-benchmark and, before each of its rounds
(in pedantic mode's untimed setup), one round of its row's floor. On a shared machine the
load comes and goes in bursts longer than a benchmark, so a floor measured half a minute
earlier can be off by 1.5x; the paired floor says how loaded the machine was while this
figure ran (``drift``), and under load it becomes the figure's denominator (report.py).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from contenders import Measure
from report import DEFAULT_REPORT, build_report, format_table, versions, write_report


@pytest.fixture
def measure(benchmark: Any, request: pytest.FixtureRequest) -> Measure:
    """``measure(run, floor=None, floor_batch=1)``: time ``run()`` rounds, paired with ``floor()``.

    The number of rounds follows ``--benchmark-max-time`` and ``--benchmark-min-rounds``
    (pedantic mode does not calibrate by itself); the first rounds warm up. The paired
    floor's per-call min and median land in ``extra_info["paired_floor"]``.
    """
    config = request.config
    max_time = float(config.getoption("benchmark_max_time"))
    min_rounds = int(config.getoption("benchmark_min_rounds"))
    timer = time.perf_counter

    def run_measure(
        run: Callable[[], None], floor: Callable[[], None] | None = None, floor_batch: int = 1
    ) -> None:
        run()
        start = timer()
        run()
        once = max(timer() - start, 1e-7)
        rounds = max(min_rounds, min(200_000, int(max_time / once)))
        warmup = min(5, rounds)
        floor_times: list[float] = []
        setup = None
        if floor is not None:
            floor()

            def setup() -> None:
                began = timer()
                floor()
                floor_times.append(timer() - began)

        benchmark.pedantic(run, setup=setup, rounds=rounds, warmup_rounds=warmup)
        if floor_times:
            measured = floor_times[warmup:] or floor_times
            benchmark.extra_info["paired_floor"] = {
                "min": min(measured) / floor_batch,
                "median": statistics.median(measured) / floor_batch,
                "rounds": len(measured),
            }

    return run_measure


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bench-report", metavar="PATH", default=None,
        help="where to write the ratio report (default: $MCPAUTH_BENCH_REPORT or "
             "bench/results/micro.json)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # pytest-benchmark writes --benchmark-json into an existing directory only.
    target = config.getoption("benchmark_json", None)
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]
) -> None:
    # Every round's timing would make the file megabytes; the ratios need only the stats.
    for bench in output_json.get("benchmarks", []):
        bench.get("stats", {}).pop("data", None)


def pytest_benchmark_update_machine_info(
    config: pytest.Config, machine_info: dict[str, Any]
) -> None:
    machine_info["mcpauth_bench"] = versions()


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return
    benchmarks = [b.as_dict(include_data=False) for b in session.benchmarks if b]
    if not benchmarks:
        return
    report = build_report(benchmarks, versions())
    if not report["results"]:
        return
    path = (config.getoption("--bench-report") or os.environ.get("MCPAUTH_BENCH_REPORT")
            or DEFAULT_REPORT)
    written = write_report(report, path)
    terminalreporter.write_line("")
    for line in format_table(report).splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"ratio report written to {written}")
