#!/usr/bin/env bash
# The install step: everything `make test`, `make lint`, `make fuzz` and `make dist-check` use,
# so that nothing is installed in the middle of a run.
#
#   ci/install.sh [python] [extras]     # defaults: .venv/bin/python test,lint,fuzz,dist,demo
#
# 1. mcpauth-fast, editable, with the compiled extension (MCPAUTH_FAST_REQUIRE_EXTENSIONS=1: a
#    compiler failure is an error here, not the pure-Python fallback a user would get) and the
#    extras' pinned tools (pyproject.toml), into the interpreter's environment.
# 2. The second environment of ci/test.sh, .venv-mcp1 beside it (same interpreter): the test
#    tools with the latest MCP SDK 1.x.
# 3. A real redis-server for the shared tier's tests (Debian's package, with apt-get, when it
#    is missing and this runs as root; otherwise it says how to get one).
set -euo pipefail
py=${1:-.venv/bin/python}
extras=${2:-test,lint,fuzz,dist,demo}
cd "$(dirname "$0")/.."
export MCPAUTH_FAST_REQUIRE_EXTENSIONS=1
unset MCPAUTH_FAST_NO_EXTENSIONS

"$py" -m pip install --quiet -e ".[$extras]"
"$py" -c "import mcpauth_fast._speedups" \
  || { echo "ci/install.sh: the compiled extension mcpauth_fast._speedups did not build" >&2; exit 1; }

venv1=.venv-mcp1
py1=$venv1/bin/python
same_python='import sys; print(sys.implementation.cache_tag, sys.base_prefix)'
if [ ! -x "$py1" ] || [ "$("$py1" -c "$same_python")" != "$("$py" -c "$same_python")" ]; then
  "$py" -m venv --clear "$venv1"
  "$py1" -m pip install --quiet --upgrade pip
fi
"$py1" -m pip install --quiet -e ".[test-tools]" "mcp<2"
"$py1" -c "import mcpauth_fast._speedups" \
  || { echo "ci/install.sh: the compiled extension did not build in $venv1" >&2; exit 1; }

if ! command -v redis-server >/dev/null && ! command -v valkey-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ci/install.sh: installing redis-server (apt-get) for the shared tier's tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server
    # The package may start a system-wide server; the tests start their own on free ports.
  else
    echo "ci/install.sh: redis-server is missing and is not installed here (not root, or no" \
      "apt-get). The shared tier's tests need it: sudo apt-get install redis-server" \
      "(Debian/Ubuntu), brew install redis (macOS), or any redis-server/valkey-server on PATH." >&2
  fi
fi
