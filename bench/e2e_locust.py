"""The locust load generator: one headless run of ``bench/locustfile.py`` against a server,
its per-name stats and failures read back from locust's CSV files."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from e2e_server import BENCH, Server, log, pinned

LOCUSTFILE = BENCH / "locustfile.py"


def locust_path() -> str | None:
    """The locust next to this interpreter, else on PATH (None: not installed)."""
    return shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which(
        "locust")


def run_locust_on(server: Server, locust: str, token_path: Path, seconds: int, users: int,
                  core: int | None, prefix: Path, classes: tuple[str, ...] = ()
                  ) -> dict[str, Any]:
    """One headless locust run of ``seconds`` against ``server``, pinned to ``core``.

    ``classes``: the locustfile's user classes to run (default: all of them). Returns the
    command, locust's exit code, per-name stats and the failures and exceptions CSVs.
    """
    cmd = pinned([locust, "-f", str(LOCUSTFILE), "--headless", "-u", str(users),
                  "-r", str(users), "-t", f"{seconds}s",
                  "--host", f"http://127.0.0.1:{server.port}", "--only-summary",
                  "--csv", str(prefix), "--stop-timeout", "5", *classes], core)
    log(f"locust: {' '.join(cmd)}")
    env = {**os.environ, "E2E_LOCUST_TOKENS": str(token_path)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    rows = {}
    stats = Path(f"{prefix}_stats.csv")
    if stats.exists():
        import csv

        with stats.open() as f:
            for row in csv.DictReader(f):
                rows[row["Name"]] = {"requests": int(row["Request Count"]),
                                     "failures": int(row["Failure Count"]),
                                     "rps": float(row["Requests/s"]),
                                     "p50_ms": float(row["50%"] or 0),
                                     "p99_ms": float(row["99%"] or 0)}
    failures, exceptions = Path(f"{prefix}_failures.csv"), Path(f"{prefix}_exceptions.csv")
    return {"command": " ".join(cmd), "exit_code": done.returncode, "stats": rows,
            "failures": failures.read_text() if failures.exists() else "",
            "exceptions": exceptions.read_text() if exceptions.exists() else "",
            "output_tail": (done.stdout + done.stderr)[-1500:]}


def run_locust(issuer: Any, workdir: Path, token_path: Path, args: argparse.Namespace,
               cores: tuple[int | None, int | None]) -> dict[str, Any]:
    server_core, client_core = cores
    locust = locust_path()
    if locust is None:
        return {"skipped": "locust is not installed"}
    server = Server("fast", issuer, server_core, workdir, "locust-fast")
    try:
        return run_locust_on(server, locust, token_path, args.locust_time, args.locust_users,
                             client_core, workdir / "locust")
    finally:
        server.stop()
