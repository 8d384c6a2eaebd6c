"""A uvicorn process serving a shared-tier app on a free 127.0.0.1 port: a worker of a
deployment, for the tests and bench/shared_bars.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from support.redis_server import free_port

TESTS = Path(__file__).resolve().parents[1]


class UvicornWorker:
    """One uvicorn process serving ``app`` (``module:attribute``, found in ``app_dir``)."""

    def __init__(self, app: str, env: dict[str, str], log: Path, app_dir: Path = TESTS
                 ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", app, "--app-dir", str(app_dir),
                 "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
                 "--no-access-log"],
                cwd=app_dir, env=env, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def status(self, token: str, client: httpx.Client | None = None) -> int:
        response = (client or self.http).get(
            "/whoami", headers={"authorization": f"Bearer {token}"})
        return response.status_code

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.http.get("/stats").json()
        return stats

    def seconds_to_listen(self, timeout: float) -> float | None:
        """Seconds until the worker's Redis listener is subscribed; None on timeout."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if self.stats()["redis"]["listening"]:
                    return time.monotonic() - start
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.02)
        return None

    def wait_listening(self, timeout: float = 20.0) -> None:
        assert self.seconds_to_listen(timeout) is not None, "the worker did not start listening"

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@contextmanager
def uvicorn_workers(app: str, settings: dict[str, str], logs: Path, count: int = 2
                    ) -> Iterator[list[UvicornWorker]]:
    """``count`` workers of ``app`` (a module under tests/) with ``settings`` in their
    environment, listening; stopped after, and none may have logged a traceback."""
    pythonpath = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, **settings, "PYTHONPATH": pythonpath}
    started = [UvicornWorker(app, env, logs / f"worker-{n}.log") for n in range(1, count + 1)]
    try:
        for worker in started:
            worker.wait_listening()
        yield started
    finally:
        for worker in started:
            worker.stop()
    text = "\n".join(worker.log.read_text(errors="replace") for worker in started)
    assert "Traceback" not in text, text[-6000:]
