"""valgrind's callgrind driven from outside: zero and dump a running process's counters, and
read a dump's instruction total (bench/e2e_instructions.py, bench/operations_instructions.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def callgrind_control(pid: int, command: str, timeout: float = 300) -> None:
    """``callgrind_control -z`` (zero the counters) or ``-d`` (dump them) of process ``pid``."""
    subprocess.run(["callgrind_control", command, str(pid)], check=True, timeout=timeout,
                   capture_output=True)


def dumped_total(out: Path, dump: int) -> int:
    """The instruction total (``summary:``) of callgrind's ``dump``-th dump file of ``out``."""
    path = out.with_name(f"{out.name}.{dump}")
    for line in path.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary in {path}")
