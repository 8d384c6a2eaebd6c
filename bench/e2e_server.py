"""The server side of the end-to-end runs: one app in its own uvicorn process, and the
helpers every run shares (the log, the cores, a plain GET, the versions the apps serve with).

Each app (``bench/e2e_apps.py``) runs as ``python bench/e2e_apps.py APP --port ...``: uvicorn,
uvloop, httptools, one worker, no access log, pinned to a core with ``taskset`` when there is
one, optionally under a wrapper command (valgrind). It is configured for :data:`AUDIENCE`, its
keys fetched over HTTP from the dev issuer's ``jwks_uri``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
APPS_PY = BENCH / "e2e_apps.py"
#: The audience every app checks and every good token carries, and the good tokens' scope.
AUDIENCE = "https://mcp.example.com/mcp"
SCOPE = "read write"
MIB = 1024 * 1024


def log(message: str) -> None:
    """A timestamped line on stderr (stdout carries the report)."""
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def choose_cores() -> tuple[int | None, int | None]:
    """(the server's core, the load generator's core); ``None`` on a single core."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cmd: list[str], core: int | None) -> list[str]:
    if core is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", str(core), *cmd]


def get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """One app in its own uvicorn process, pinned to ``core``."""

    def __init__(self, app: str, issuer: Any, core: int | None, workdir: Path,
                 label: str, wrapper: tuple[str, ...] = (), start_timeout: float = 30,
                 env: dict[str, str] | None = None) -> None:
        """``wrapper``: a command the server runs under (valgrind, say)."""
        self.app, self.port, self.label, self.core = app, free_port(), label, core
        self.log_path = workdir / f"server-{label}.log"
        cmd = [*wrapper, sys.executable, str(APPS_PY), app, "--port", str(self.port),
               "--issuer", issuer.issuer, "--jwks-uri", issuer.jwks_uri, "--audience", AUDIENCE]
        with self.log_path.open("w") as log_file:
            self.proc = subprocess.Popen(pinned(cmd, core), stdout=log_file, stderr=log_file,
                                         cwd=ROOT, env=env)
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                get(self.port, "/whoami")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{label} did not start:\n{self.log_path.read_text()}") from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/whoami"

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM in bytes, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024
        return fields

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")

    def cache_info(self, token: str) -> dict[str, int] | None:
        """The fast app's cache counters (the request itself is one more hit)."""
        if self.app != "fast":
            return None
        status, body = get(self.port, "/_bench/cache", token)
        return json.loads(body) if status == 200 else None

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def core_times(core: int | None) -> tuple[int, int]:
    """(steal, total) jiffies of ``core`` from /proc/stat: a VM's stolen time shows here."""
    line = next((row for row in Path("/proc/stat").read_text().splitlines()
                 if row.startswith(f"cpu{'' if core is None else core} ")), None)
    if line is None:
        return 0, 0
    values = [int(v) for v in line.split()[1:9]]
    return values[7], sum(values)

def app_versions() -> dict[str, str]:
    """The versions the apps serve with (``e2e_apps.py --info``), and the commit."""
    out = subprocess.run([sys.executable, str(APPS_PY), "--info"], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    info: dict[str, str] = json.loads(out)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    info["mcpauth-fast"] = f"{info['mcpauth-fast']} @ {commit or 'unknown'}"
    return info
