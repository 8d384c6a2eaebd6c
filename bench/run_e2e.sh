#!/usr/bin/env bash
# The end-to-end part of `make bench`: wrk against uvicorn on 127.0.0.1 (bench/e2e.py), then the
# chart (bench/chart.py). Writes bench/results/e2e.json and bench/results/chart.png.
#
#   bench/run_e2e.sh [PYTHON]            # default .venv/bin/python; about 3 minutes
#   bench/run_e2e.sh PYTHON instructions # server instructions per request (valgrind), ~3 min
#   E2E_RSS_TOKENS=1000000 bench/run_e2e.sh   # the issue's 1,000,000-token RSS run (~15 min)
#
# E2E_ROUNDS, E2E_DURATION (seconds per contender per round), E2E_RSS_TOKENS and
# E2E_LOCUST_TIME (0 skips locust) change the defaults; E2E_ARGS passes further options.
set -euo pipefail
py=${1:-.venv/bin/python}
part=${2:-rps}  # rps: bench/e2e.py and the chart; instructions: bench/e2e_instructions.py
cd "$(dirname "$0")/.."

# wrk drives the rps part; valgrind counts the instructions part.
tool=wrk
[ "$part" = instructions ] && tool=valgrind
if ! command -v "$tool" >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y "$tool" >/dev/null \
      || { apt-get update >/dev/null && apt-get install -y "$tool" >/dev/null; }
  else
    echo "bench/run_e2e.sh: $tool is needed (Debian/Ubuntu: sudo apt-get install $tool)" >&2
    exit 1
  fi
fi
# The servers, the peer and the chart; not dependencies of mcpauth-fast.
"$py" -c "import uvicorn, uvloop, httptools, starlette, matplotlib, locust, mcpauth" 2>/dev/null \
  || "$py" -m pip install --quiet uvicorn uvloop httptools matplotlib locust "mcpauth==0.1.1"

if [ "$part" = instructions ]; then
  # shellcheck disable=SC2086 # E2E_ARGS is a list of options
  "$py" bench/e2e_instructions.py ${E2E_ARGS:-}
  "$py" bench/chart.py
  exit
fi
# shellcheck disable=SC2086 # E2E_ARGS is a list of options
"$py" bench/e2e.py ${E2E_ARGS:-}
"$py" bench/chart.py
