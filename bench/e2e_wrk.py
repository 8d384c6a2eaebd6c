"""The wrk load generator: one bounded run against a server, its figures as a dict.

A Lua script (:data:`WRK_LUA`) sends ``GET /whoami`` with the tokens of a file and prints one
line of JSON at the end; :func:`run_wrk` adds what wrk does not see (the server's CPU and RSS,
the stolen time of its core, wrk's own CPU).
"""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from e2e_server import MIB, Server, core_times, pinned

# Requests are built once in init() ("cycle": round-robin over the token file, from the index
# the harness gives, where the previous run of the same contender stopped) or read from the
# file as they go ("stream": each token once; at the end the thread stops, prints E2E-EOF, and
# the harness interrupts wrk, which then reports). done() prints one line of JSON.
WRK_LUA = r"""
local reqs, n, i, file, last, eof = {}, 0, 0, nil, nil, false
local function req(token)
  return wrk.format("GET", "/whoami", {["Authorization"] = "Bearer " .. token})
end
function init(args)
  if args[2] == "stream" then
    file = assert(io.open(args[1], "r"))
  else
    for line in io.lines(args[1]) do n = n + 1; reqs[n] = req(line) end
    i = tonumber(args[3] or "0") % n
  end
end
function request()
  if file then
    local line = file:read("*l")
    if line == nil then
      if not eof then eof = true; io.write("E2E-EOF\n"); io.flush() end
      wrk.thread:stop()
      return last
    end
    last = req(line)
    return last
  end
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('E2E-RESULT {"requests": %d, "duration_us": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "mean_us": %.1f, "max_us": %d}\n', summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


def run_wrk(server: Server, script: Path, tokens: Path, mode: str, duration: float,
            connections: int, core: int | None, start: int = 0) -> dict[str, Any]:
    """One bounded wrk run; returns its figures (rps, latencies, errors, server CPU, RSS).

    ``start``: the token index a "cycle" run begins at.
    """
    cmd = pinned(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
                  "--timeout", "10s", "--latency", "-s", str(script), server.url, "--",
                  str(tokens), mode, str(start)], core)
    cpu0 = server.cpu_seconds()
    steal0, total0 = core_times(server.core)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("E2E-EOF"):
                proc.send_signal(signal.SIGINT)  # every token sent: wrk reports now

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    proc.wait()
    thread.join(10)
    cpu = server.cpu_seconds() - cpu0
    steal1, total1 = core_times(server.core)
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, reaped by wait()
    client = (children1.ru_utime + children1.ru_stime
              - children0.ru_utime - children0.ru_stime)
    result = next((json.loads(line.split(" ", 1)[1]) for line in lines
                   if line.startswith("E2E-RESULT ")), None)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {''.join(lines)}"
                           f"{proc.stderr.read() if proc.stderr else ''}")
    text_rps = re.search(r"Requests/sec:\s+([\d.]+)", "".join(lines))
    seconds = result["duration_us"] / 1e6
    memory = server.status()
    return {
        "requests": result["requests"], "seconds": round(seconds, 3),
        "rps": result["requests"] / seconds,
        "wrk_rps": float(text_rps.group(1)) if text_rps else None,
        "p50_ms": result["p50_us"] / 1e3, "p90_ms": result["p90_us"] / 1e3,
        "p99_ms": result["p99_us"] / 1e3, "mean_ms": result["mean_us"] / 1e3,
        "max_ms": result["max_us"] / 1e3,
        "errors": {k: result[k] for k in ("connect", "read", "write", "status", "timeout")},
        # Of one core, over wrk's measured time (the server is idle while wrk starts).
        "server_cpu": round(cpu / seconds, 3),
        "client_cpu": round(client / seconds, 3),
        "server_core_steal": round((steal1 - steal0) / max(1, total1 - total0), 3),
        "rss_mib": memory["VmRSS"] / MIB, "hwm_mib": memory["VmHWM"] / MIB,
    }
