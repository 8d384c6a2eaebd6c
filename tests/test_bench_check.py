"""``make bench-check`` (bench/check.py): it judges ratios, never absolute times.

Each case edits a copy of a real saved run (``bench/baseline/run-1.json``, pytest-benchmark
JSON) the way a machine or a change would, and runs the check as ``make bench-check`` does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
BASELINE = BENCH / "baseline" / "run-1.json"
sys.path.insert(0, str(BENCH))

import check  # noqa: E402  (bench/ is not a package)

Check = Callable[..., tuple[int, str]]
OURS_COLD = "cold RS256 | verify_sync [c]"
PEER_COLD = "cold RS256 | pyjwt"


def _scale_stats(bench: dict[str, Any], factor: float) -> None:
    for stat in ("min", "max", "mean", "median", "q1", "q3"):
        bench["stats"][stat] *= factor


def _bench(document: dict[str, Any], key: str) -> dict[str, Any]:
    row, contender = key.split(" | ")
    return next(b for b in document["benchmarks"]
                if b["extra_info"]["row"] == row and b["extra_info"]["contender"] == contender)


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Check:
    """Run the check against an edited copy of the baseline: (exit status, what it printed)."""

    def run_check(edit: Callable[[dict[str, Any]], None], *options: str) -> tuple[int, str]:
        document = json.loads(BASELINE.read_text())
        edit(document)
        new = tmp_path / "new.json"
        new.write_text(json.dumps(document))
        capsys.readouterr()
        status = check.main(["--baseline", str(BASELINE), "--new", str(new), *options])
        return status, capsys.readouterr().out

    return run_check


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
