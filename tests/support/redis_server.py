"""A real ``redis-server`` on a free 127.0.0.1 port, with no persistence, for the tests.

It can be killed and started again on the same port in the middle of a test (fault tests).
A missing ``redis-server`` fails the test, never skips it: ``make install`` (ci/install.sh)
installs it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HOW_TO_GET_IT = (
    "redis-server is not installed: `make install` installs it (apt-get, as root); else "
    "install it yourself (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew "
    "install redis) or put a redis-server or valkey-server on PATH"
)


def redis_binary() -> str | None:
    return shutil.which("redis-server") or shutil.which("valkey-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process: ``start``, ``kill`` (SIGKILL), ``pause``/``resume``
    (SIGSTOP/SIGCONT: a hung server), ``stop``."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def arguments(self) -> list[str]:
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.directory),
                "--logfile", str(self.directory / "redis.log")]

    def start(self, timeout: float = 10.0) -> None:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            self.arguments(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer PING")
            time.sleep(0.01)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str | bytes) -> bytes:
        """One command in RESP; the raw reply (for tests that poison or inspect Redis)."""
        parts = [a if isinstance(a, bytes) else a.encode() for a in args]
        request = b"*%d\r\n" % len(parts) + b"".join(
            b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(request)
            return sock.recv(1 << 20)

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown, every connection reset."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
            process.kill()
            process.wait(10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = redis_binary()
    if binary is None:
        pytest.fail(HOW_TO_GET_IT)
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
