"""``make bench-check`` (bench/check.py): it judges ratios, never absolute times.

The baseline is the committed summary (``bench/baseline/summary.json``, ratios only). Each case
edits a pytest-benchmark run rebuilt from that summary (every figure at its saved ratio to its
row's floor) the way a machine or a change would, and runs the check as ``make bench-check``
does. The summary itself is checked to be what ``make bench-baseline`` writes from such runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
BASELINE = BENCH / "baseline" / "summary.json"
sys.path.insert(0, str(BENCH))

import check  # noqa: E402  (bench/ is not a package)
import summary  # noqa: E402

Check = Callable[..., tuple[int, str]]
OURS_COLD = "cold RS256 | verify_sync [c]"
PEER_COLD = "cold RS256 | pyjwt"
#: The rebuilt run's floor per call where the summary has none (any time: only ratios count).
FLOOR_S = 1e-6


def _stats(per_call: float, median: float) -> dict[str, Any]:
    return {"min": per_call, "median": median, "max": median * 2, "mean": median,
            "q1": per_call, "q3": median, "rounds": 100}


def run_from_summary(saved: dict[str, Any]) -> dict[str, Any]:
    """A pytest-benchmark run in which every figure has the summary's ratios to its floor."""
    benchmarks = []
    for row, entry in saved["rows"].items():
        floor = entry.get("floor_min_s") or FLOOR_S
        paired = {"min": floor, "median": floor, "rounds": 100}
        for name in entry["floors"]:
            benchmarks.append({"stats": _stats(floor, floor), "extra_info": {
                "row": row, "contender": name, "role": "floor"}})
        for name, figure in entry["figures"].items():
            extra = {"row": row, "contender": name, "role": figure["role"],
                     "impl": figure.get("impl"), "target": figure.get("target"),
                     "paired_floor": dict(paired)}
            benchmarks.append({"stats": _stats(figure["ratio_min"] * floor,
                                               figure["ratio_median"] * floor),
                               "extra_info": extra})
    return {"machine_info": {"mcpauth_bench": saved["versions"]}, "benchmarks": benchmarks}


@pytest.fixture(scope="module")
def saved() -> dict[str, Any]:
    return dict(json.loads(BASELINE.read_text()))


def _scale_stats(bench: dict[str, Any], factor: float) -> None:
    for stat in ("min", "max", "mean", "median", "q1", "q3"):
        bench["stats"][stat] *= factor


def _bench(document: dict[str, Any], key: str) -> dict[str, Any]:
    row, contender = key.split(" | ")
    return next(b for b in document["benchmarks"]
                if b["extra_info"]["row"] == row and b["extra_info"]["contender"] == contender)


@pytest.fixture
def run(saved: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Check:
    """Run the check against an edited run rebuilt from the baseline: (exit status, output)."""

    def run_check(edit: Callable[[dict[str, Any]], None], *options: str) -> tuple[int, str]:
        document = run_from_summary(saved)
        edit(document)
        new = tmp_path / "new.json"
        new.write_text(json.dumps(document))
        capsys.readouterr()
        status = check.main(["--baseline", str(BASELINE), "--new", str(new), *options])
        return status, capsys.readouterr().out

    return run_check


def test_the_baseline_is_a_summary_of_ratios(saved: dict[str, Any]) -> None:
    figures = [f for entry in saved["rows"].values() for f in entry["figures"].values()]
    assert figures and all({"role", "ratio_min", "ratio_median"} <= f.keys() for f in figures)
    assert not any("min_s" in f or "stats" in f for f in figures)  # no raw times or rounds
    assert sorted(p.name for p in BASELINE.parent.iterdir()) == ["summary.json"]
    loaded = summary.load(BASELINE)["results"]
    assert len([r for r in loaded if r["role"] != "floor"]) == len(figures)


def test_bench_baseline_writes_this_summary_from_runs(saved: dict[str, Any],
                                                      tmp_path: Path) -> None:
    runs = []
    for i, factor in enumerate((1.0, 1.3)):  # best of 2: the slower run changes nothing
        document = run_from_summary(saved)
        for bench in document["benchmarks"]:
            _scale_stats(bench, factor if bench["extra_info"]["role"] != "floor" else 1.0)
        runs.append(tmp_path / f"run-{i}.json")
        runs[-1].write_text(json.dumps(document))
    out = tmp_path / "summary.json"
    assert summary.main([*map(str, runs), "-o", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["runs"] == 2 and written["versions"] == saved["versions"]
    for row, entry in saved["rows"].items():
        assert written["rows"][row]["floors"] == entry["floors"]
        for name, figure in entry["figures"].items():
            got = written["rows"][row]["figures"][name]
            assert got["role"] == figure["role"] and got.get("target") == figure.get("target")
            for stat in ("ratio_min", "ratio_median"):
                assert got[stat] == pytest.approx(figure[stat], rel=2e-3), (row, name, stat)
    lines = out.read_text().splitlines()  # one figure a line: a diff shows what moved
    assert all(any(f'"{name}": {{"role"' in line for line in lines)
               for entry in written["rows"].values() for name in entry["figures"])


def test_the_same_run_passes(run: Check) -> None:
    status, out = run(lambda d: None)
    assert status == 0 and "bench-check passed" in out


def test_a_slower_machine_is_not_a_regression(run: Check) -> None:
    def slower(document: dict[str, Any]) -> None:
        for bench in document["benchmarks"]:
            _scale_stats(bench, 3.0)
            paired = bench["extra_info"].get("paired_floor")
            if paired:
                paired["min"] *= 3.0
                paired["median"] *= 3.0

    status, out = run(slower)
    assert status == 0, out


def test_our_verification_slower_against_the_same_floor_fails(run: Check) -> None:
    status, out = run(lambda d: _scale_stats(_bench(d, OURS_COLD), 1.5))
    assert status == 1
    assert "REGRESSED" in out and f"{OURS_COLD}:" in out and "(+50%)" in out


def test_growth_within_the_threshold_passes_unless_above_the_target(run: Check) -> None:
    saved = next(r for r in check.load(str(BASELINE))["results"] if r["key"] == OURS_COLD)
    factor = saved["target"] * 1.05 / saved["ratio_min"]  # 5% above the target...
    assert 1 < factor < 1.25  # ...and less than the 25% a regression needs
    status, out = run(lambda d: _scale_stats(_bench(d, OURS_COLD), factor))
    assert status == 0, out
    status, out = run(lambda d: _scale_stats(_bench(d, OURS_COLD), factor), "--targets")
    assert status == 1 and f"above the target {saved['target']:g}x" in out


def test_a_slower_peer_is_reported_not_failed(run: Check) -> None:
    status, out = run(lambda d: _scale_stats(_bench(d, PEER_COLD), 3.0))
    assert status == 0, out
    assert any(line.strip().startswith(PEER_COLD) and "+200%" in line
               for line in out.splitlines())


def test_a_regression_measured_under_load_is_noisy_unless_strict(run: Check) -> None:
    def loaded(document: dict[str, Any]) -> None:
        bench = _bench(document, OURS_COLD)
        _scale_stats(bench, 2.5)
        bench["extra_info"]["paired_floor"]["min"] *= 1.4  # drift above report.NOISY
        bench["extra_info"]["paired_floor"]["median"] *= 1.4

    status, out = run(loaded)
    assert status == 0 and "NOISY" in out
    status, out = run(loaded, "--strict")
    assert status == 1 and "REGRESSED" in out


@pytest.mark.parametrize(("factor", "status"), [(1.6, 0), (2.5, 1)])
def test_hot_path_pieces_have_their_own_threshold(run: Check, factor: float,
                                                  status: int) -> None:
    key = "hot path (per request) | bearer_token [c]"
    got, out = run(lambda d: _scale_stats(_bench(d, key), factor))
    assert got == status, out


def test_a_figure_missing_from_the_new_run_is_listed_not_failed(run: Check) -> None:
    def drop(document: dict[str, Any]) -> None:
        document["benchmarks"].remove(_bench(document, OURS_COLD))

    status, out = run(drop)
    assert status == 0 and "missing in the new run" in out
