"""valgrind's callgrind driven from outside: zero and dump a running process's counters, and
read a dump's instruction total (bench/e2e_instructions.py, bench/operations_instructions.py)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


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


def counted_session(workdir: Path, slug: str, script: Path, child_args: list[str],
                    batches: Any) -> list[int]:
    """One child process (``script --child *child_args``) under callgrind: for each command of
    ``batches(ready_line)`` (sent on its stdin), the instructions between
    ``callgrind_control -z`` before it and ``-d`` after. The child prints ``ready`` once warm,
    then ``done <bad responses>`` after each command; ``quit`` ends it."""
    out = workdir / f"callgrind-{slug}.out"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, str(script), "--child", *child_args]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    stderr = open(workdir / f"{slug}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=stderr, text=True, env=env, cwd=script.resolve().parent.parent)
    assert proc.stdin is not None and proc.stdout is not None

    def expect(prefix: str) -> str:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith(prefix):
            proc.kill()
            proc.wait()
            stderr.flush()
            tail = (workdir / f"{slug}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{slug}: expected {prefix!r}, got {line!r}; the end of its "
                               f"log:\n{tail}")
        return line

    totals = []
    try:
        ready = expect("ready")
        for dump, batch in enumerate(batches(ready), start=1):
            callgrind_control(proc.pid, "-z")
            proc.stdin.write(f"{batch}\n")
            proc.stdin.flush()
            bad = int(expect("done").split()[1])
            callgrind_control(proc.pid, "-d")
            if bad:
                raise RuntimeError(f"{slug}: {bad} responses were not 200")
            totals.append(dumped_total(out, dump))
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()
    return totals


async def serve_batches(one: Callable[[], Awaitable[Any]], warmup: int) -> None:
    """The counted child's side of ``counted_session``: ``warmup`` more requests, then, for
    each line of stdin, that many requests (``done <failures>``), until ``quit``."""
    for _ in range(warmup):
        if (await one()).status != 200:
            raise RuntimeError("warm-up: a status other than 200")
    gc.collect()
    gc.freeze()
    print("ready", flush=True)
    for line in sys.stdin:  # blocks the loop between batches: no timer runs meanwhile
        command = line.strip()
        if command == "quit":
            return
        bad = 0
        for _ in range(int(command)):
            if (await one()).status != 200:
                bad += 1
        print(f"done {bad}", flush=True)


async def serve_parts(sync_parts: dict[str, Callable[[], Any]],
                      async_parts: dict[str, Callable[[], Awaitable[Any]]]) -> None:
    """The counted child's side for steps alone (after its own warm-up): ``ready`` and the
    names, then for each line of stdin (``<part> <n>``) that many calls, ``done 0``, until
    ``quit``. Sync parts are called, async ones awaited, each in a loop of its own."""
    gc.collect()
    gc.freeze()
    print("ready " + json.dumps([*sync_parts, *async_parts]), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            return
        name, _, count = line.rstrip("\n").rpartition(" ")
        if name in sync_parts:
            fn = sync_parts[name]
            for _ in range(int(count)):
                fn()
        else:
            afn = async_parts[name]
            for _ in range(int(count)):
                await afn()
        print("done 0", flush=True)

