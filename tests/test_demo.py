"""``mcpauth-fast demo`` as a user runs it: the printed command returns the subject."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mcp.server.mcpserver", reason="the demo runs on the MCP SDK 2.x")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("options", [[], ["--opaque"]], ids=["jwt", "opaque"])
def test_demo_prints_a_command_that_returns_the_subject(tmp_path: Path,
                                                        options: list[str]) -> None:
    env = {**os.environ, "MCPAUTH_FAST_DEV_DIR": str(tmp_path)}
    port, issuer_port = free_port(), free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "mcpauth_fast", "demo", "--port", str(port),
         "--issuer-port", str(issuer_port), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        commands = []
        deadline = time.monotonic() + 30
        lines = []
        while len(commands) < 2 and time.monotonic() < deadline:
            line = demo.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if line.strip().startswith(("mcpauth-fast call", "/")) and " call " in line:
                commands.append(shlex.split(line.strip()))
        assert len(commands) == 2, "".join(lines)
        command, dpop_command = commands
        assert command[1:3] == ["call", f"http://127.0.0.1:{port}/mcp"]
        token = command[command.index("--token") + 1]
        assert token.startswith("mcpo_") == bool(options)
        # The printed program is the console script; run the same thing through this Python.
        result = subprocess.run([sys.executable, "-m", "mcpauth_fast", *command[1:]],
                                capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "alice"
        # The same call without the right token is refused.
        bad = [*command[1:]]
        bad[bad.index("--token") + 1] = "not-a-token"
        refused = subprocess.run([sys.executable, "-m", "mcpauth_fast", *bad],
                                 capture_output=True, text=True, timeout=60, env=env)
        assert refused.returncode != 0
        # The DPoP command sends its bound token with proofs; the token alone is refused.
        assert "--dpop" in dpop_command
        dpop = subprocess.run([sys.executable, "-m", "mcpauth_fast", *dpop_command[1:]],
                              capture_output=True, text=True, timeout=60, env=env)
        assert dpop.returncode == 0, dpop.stderr
        assert dpop.stdout.strip() == "alice"
        without_proof = [arg for arg in dpop_command[1:] if arg != "--dpop"]
        stolen = subprocess.run([sys.executable, "-m", "mcpauth_fast", *without_proof],
                                capture_output=True, text=True, timeout=60, env=env)
        assert stolen.returncode != 0
        assert 'Bearer error="invalid_token"' in stolen.stderr, stolen.stderr
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=15)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        demo.stdout.close()  # type: ignore[union-attr]
        demo.stderr.close()  # type: ignore[union-attr]
    assert demo.returncode == 0
