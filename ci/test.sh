#!/usr/bin/env bash
# The whole suite twice: with the compiled extension (which must load), then with the
# pure-Python twin forced by MCPAUTH_FAST_NO_EXTENSIONS=1; then the MCP tests on MCP SDK 1.x.
set -euo pipefail
py=${1:-.venv/bin/python}
shift || true
cd "$(dirname "$0")/.."

py1=.venv-mcp1/bin/python

# Everything this script uses was installed by the install step (ci/install.sh, make install).
"$py" -c "import pytest, atheris" && "$py1" -c "import pytest, mcp" \
  || { echo "ci/test.sh: a tool is missing: run the install step first (make install)" >&2; exit 1; }

# The shared tier's tests start a real redis-server: fail here, saying how to get one.
if ! command -v redis-server >/dev/null && ! command -v valkey-server >/dev/null; then
  echo "ci/test.sh: redis-server is missing: run \`make install\` as root (it uses apt-get)," \
    "or install it: sudo apt-get install redis-server (Debian/Ubuntu), brew install redis" \
    "(macOS), or put a redis-server/valkey-server on PATH" >&2
  exit 1
fi

impl=$(env -u MCPAUTH_FAST_NO_EXTENSIONS "$py" -c "import mcpauth_fast._accel as a; print(a.IMPLEMENTATION)")
if [ "$impl" != "c" ]; then
  echo "ci/test.sh: the compiled extension did not load (IMPLEMENTATION=$impl)" >&2
  exit 1
fi

echo "== test suite, compiled extension =="
env -u MCPAUTH_FAST_NO_EXTENSIONS MCPAUTH_FAST_REQUIRE_EXTENSIONS=1 "$py" -m pytest -q -p no:cacheprovider "$@"
echo "== test suite, pure Python (MCPAUTH_FAST_NO_EXTENSIONS=1) =="
MCPAUTH_FAST_NO_EXTENSIONS=1 "$py" -m pytest -q -p no:cacheprovider "$@"

# A short fuzz run of the compiled hot path against its twin (`make fuzz` runs it longer).
echo "== fuzz: compiled hot path vs twin, 30 s =="
"$py" ci/fuzz_speedups.py -max_total_time=30 -timeout=10 -rss_limit_mb=2048 2>&1 | tail -n 15

# The MCP integration and seed-example tests once more against the latest MCP SDK 1.x
# (FastMCP, httpx), in the second environment ci/install.sh made next to .venv from the same
# interpreter, with the compiled extension. The arguments above are not passed on: they may
# name other tests.
impl1=$(env -u MCPAUTH_FAST_NO_EXTENSIONS "$py1" -c "import mcpauth_fast._accel as a; print(a.IMPLEMENTATION)")
if [ "$impl1" != "c" ]; then
  echo "ci/test.sh: the compiled extension did not load in .venv-mcp1 (IMPLEMENTATION=$impl1)" >&2
  exit 1
fi
mcp1=$("$py1" -c "from importlib.metadata import version; print(version('mcp'))")
echo "== MCP SDK $mcp1: MCP integration, seed examples, operation scopes, SDK token verifier," \
  "compiled extension =="
env -u MCPAUTH_FAST_NO_EXTENSIONS MCPAUTH_FAST_REQUIRE_EXTENSIONS=1 "$py1" -m pytest -q \
  -p no:cacheprovider tests/test_mcp_integration.py tests/test_seed_examples.py \
  tests/test_readme_examples.py tests/test_mcp_operation_scopes.py \
  tests/test_sdk_token_verifier.py
