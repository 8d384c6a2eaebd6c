"""The package's declared shape: uvicorn only in an extra, tools pinned, bench's list in step.

Read from the installed distribution's metadata, so the checks hold for an editable install,
a wheel and an sdist install alike (``make dist-check`` runs them against the built wheels).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

BENCH_REQUIREMENTS = Path(__file__).resolve().parent.parent / "bench" / "requirements.txt"

# Extras of tools: each requirement there is pinned (==), except the code they test with.
TOOL_EXTRAS = ("test-tools", "test", "lint", "fuzz", "dist", "bench")
NOT_TOOLS = {"mcpauth-fast", "mcp", "uvicorn"}


def requirements() -> list[Requirement]:
    return [Requirement(line) for line in metadata("mcpauth-fast").get_all("Requires-Dist") or []]


def in_extra(req: Requirement, extra: str) -> bool:
    """``req`` is declared in ``extra`` itself (not through another extra) for this platform."""
    return req.marker is not None and req.marker.evaluate({"extra": extra})


def in_extras(extra: str) -> list[Requirement]:
    """What ``pip install mcpauth-fast[extra]`` adds, following self-references."""
    found: list[Requirement] = []
    todo, seen = [extra], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in requirements():
            if in_extra(req, name):
                if req.name == "mcpauth-fast":
                    todo.extend(req.extras)
                else:
                    found.append(req)
    return found


def test_extras_are_declared() -> None:
    provided = set(metadata("mcpauth-fast").get_all("Provides-Extra") or [])
    assert {"dev", "demo", "test", "lint", "bench", "fuzz", "dist"} <= provided


def test_uvicorn_is_only_in_extras() -> None:
    uvicorn = [req for req in requirements() if req.name == "uvicorn"]
    assert uvicorn and all(req.marker is not None and "extra" in str(req.marker) for req in uvicorn)
    for extra in ("dev", "demo", "test", "test-tools"):
        assert "uvicorn" in {req.name for req in in_extras(extra)}, extra


@pytest.mark.parametrize("extra", TOOL_EXTRAS)
def test_tools_are_pinned(extra: str) -> None:
    loose = [str(req) for req in requirements()
             if in_extra(req, extra) and req.name not in NOT_TOOLS
             and not (len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==")]
    assert loose == [], f"[{extra}] tools must be pinned with =="


@pytest.mark.skipif(not BENCH_REQUIREMENTS.exists(), reason="no bench/ beside tests/")
def test_bench_extra_pins_bench_requirements() -> None:
    pins = {req.name: req for req in in_extras("bench")}
    for line in BENCH_REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        wanted = Requirement(line)
        assert wanted.name in pins, f"bench/requirements.txt's {wanted.name} is not in [bench]"
        pinned = [spec.version for spec in pins[wanted.name].specifier if spec.operator == "=="]
        if pinned:  # a peer the test extra takes as a range (none today) is not checked here
            assert wanted.specifier.contains(pinned[0]), f"[bench] {pins[wanted.name]} vs {line}"


def test_nothing_outside_the_dev_tools_needs_uvicorn(tmp_path: Path) -> None:
    """Every module imports without uvicorn; serving the issuer or the demo says what to install."""
    script = textwrap.dedent("""
        import pkgutil, sys
        sys.modules["uvicorn"] = None  # import uvicorn now raises ImportError
        import mcpauth_fast
        for module in pkgutil.walk_packages(mcpauth_fast.__path__, "mcpauth_fast."):
            if module.name != "mcpauth_fast.__main__":
                __import__(module.name)
        from mcpauth_fast.dev.issuer import DevIssuer
        try:
            DevIssuer().start()
        except RuntimeError as exc:
            print(exc)
        from mcpauth_fast.dev.cli import main
        sys.exit(main(["demo", "--port", "0", "--issuer-port", "0"]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "MCPAUTH_FAST_DEV_DIR": str(tmp_path)})
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "pip install 'mcpauth-fast[dev]'" in result.stdout
    assert "pip install 'mcpauth-fast[demo]'" in result.stderr
