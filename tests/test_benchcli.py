"""``mcpauth-fast bench``: what a user reads and gets back, not how fast it is.

Timings are never asserted here (the machine is shared): only that every row is measured
against its own floor, that the ratios are what the times say, that targets are judged where
there are targets, and that bad arguments get a clear error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcpauth_fast._accel import IMPLEMENTATION
from mcpauth_fast.dev.bench import COLD_TARGETS, WARM_TARGET, run_inprocess_bench
from mcpauth_fast.dev.cli import main


@pytest.fixture(scope="module")
def result() -> tuple[dict, list[str]]:
    lines: list[str] = []
    return run_inprocess_bench(0.05, algorithms=["ES256", "HS256"], tokens=8,
                               out=lines.append), lines


def test_every_row_is_measured_against_its_floor(result: tuple[dict, list[str]]) -> None:
    report, _ = result
    rows: dict[str, list[dict]] = {}
    for entry in report["results"]:
        rows.setdefault(entry["row"], []).append(entry)
    assert list(rows) == ["cold ES256", "cold HS256", "warm (cache hit)"]
    assert report["rounds"] >= 3
    for row, entries in rows.items():
        floors = [e for e in entries if e["role"] == "floor"]
        assert len(floors) == 1, row
        floor = floors[0]
        for e in entries:
            assert e["floor_min_s"] == floor["min_s"]
            assert e["ratio_min"] == pytest.approx(e["min_s"] / floor["min_s"])
            assert e["ratio_median"] == pytest.approx(e["median_s"] / floor["median_s"])
            assert 0 < e["min_s"] <= e["median_s"]
        assert floor["ratio_min"] == 1.0
    names = {e["row"]: [x["contender"] for x in rows[e["row"]]] for e in report["results"]}
    assert names["cold ES256"] == ["cryptography verify", f"verify_sync [{IMPLEMENTATION}]"]
    assert names["warm (cache hit)"] == [
        "dict.get", f"cached [{IMPLEMENTATION}]", f"verify_sync [{IMPLEMENTATION}]"]


def test_targets_are_judged_on_the_compiled_hot_path_only(
        result: tuple[dict, list[str]]) -> None:
    report, _ = result
    compiled = IMPLEMENTATION == "c"
    for e in report["results"]:
        if e["role"] == "floor" or not compiled:
            expected = None
        elif e["row"].startswith("cold "):
            expected = COLD_TARGETS.get(e["row"].split()[1])
        else:
            expected = WARM_TARGET
        assert e["target"] == expected, e
        if expected is None:
            assert "ok" not in e
        else:
            assert e["ok"] is (e["ratio_min"] <= expected)
    assert report["versions"]["IMPLEMENTATION"] == IMPLEMENTATION


def test_the_table_shows_every_contender_and_verdict(result: tuple[dict, list[str]]) -> None:
    report, lines = result
    text = "\n".join(lines)
    assert f"IMPLEMENTATION {IMPLEMENTATION}" in " ".join(text.split())
    for e in report["results"]:
        line = next(x for x in lines if x.strip().startswith(e["contender"])
                    and f"{e['ratio_min']:6.2f}x" in x)
        if "ok" in e:
            verdict = "ok" if e["ok"] else "MISS"
            assert f"{verdict} (target {e['target']:g}x)" in line


@pytest.mark.parametrize("kwargs", [
    {"algorithms": ["RS257"]}, {"seconds": 0}, {"tokens": 7},
])
def test_bad_arguments_are_refused(kwargs: dict) -> None:
    args = {"seconds": 0.01, "algorithms": ["HS256"], "tokens": 8, "out": None, **kwargs}
    with pytest.raises(ValueError):
        run_inprocess_bench(**args)


def test_cli_prints_the_table_and_writes_json(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "--seconds", "0.05", "--algorithms", "EdDSA",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cold EdDSA" in printed and "warm (cache hit)" in printed
    written = json.loads(out.read_text())
    assert {e["row"] for e in written["results"]} == {"cold EdDSA", "warm (cache hit)"}


def test_cli_names_an_unknown_algorithm(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--seconds", "0.05", "--algorithms", "ES256,none"]) == 1
    err = capsys.readouterr().err
    assert "unknown algorithms: ['none']" in err and "Traceback" not in err
