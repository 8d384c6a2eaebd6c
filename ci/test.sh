#!/usr/bin/env bash
# The whole suite twice: with the compiled extension (which must load), then with the
# pure-Python twin forced by MCPAUTH_FAST_NO_EXTENSIONS=1; then the MCP tests on MCP SDK 1.x.
set -euo pipefail
py=${1:-.venv/bin/python}
shift || true
cd "$(dirname "$0")/.."

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
"$py" -m pip install --quiet atheris
"$py" ci/fuzz_speedups.py -max_total_time=30 -timeout=10 -rss_limit_mb=2048 2>&1 | tail -n 15

# The MCP integration and seed-example tests once more against the latest MCP SDK 1.x
# (FastMCP, httpx), in a second venv next to .venv made from the same interpreter, with the
# compiled extension. The arguments above are not passed on: they may name other tests.
venv1=.venv-mcp1
py1=$venv1/bin/python
stamp1=$venv1/.installed
same_python='import sys; print(sys.implementation.cache_tag, sys.base_prefix)'
if [ ! -x "$py1" ] || [ "$("$py1" -c "$same_python")" != "$("$py" -c "$same_python")" ]; then
  "$py" -m venv --clear "$venv1"
  "$py1" -m pip install --quiet --upgrade pip
fi
if [ ! -f "$stamp1" ] || [ pyproject.toml -nt "$stamp1" ] || [ setup.py -nt "$stamp1" ] \
   || [ ext/_speedups.pyx -nt "$stamp1" ]; then
  "$py1" -m pip install --quiet -e ".[test-tools]" "mcp<2"
  touch "$stamp1"
fi
impl1=$(env -u MCPAUTH_FAST_NO_EXTENSIONS "$py1" -c "import mcpauth_fast._accel as a; print(a.IMPLEMENTATION)")
if [ "$impl1" != "c" ]; then
  echo "ci/test.sh: the compiled extension did not load in $venv1 (IMPLEMENTATION=$impl1)" >&2
  exit 1
fi
mcp1=$("$py1" -c "from importlib.metadata import version; print(version('mcp'))")
echo "== MCP SDK $mcp1: MCP integration and seed examples, compiled extension =="
env -u MCPAUTH_FAST_NO_EXTENSIONS MCPAUTH_FAST_REQUIRE_EXTENSIONS=1 "$py1" -m pytest -q \
  -p no:cacheprovider tests/test_mcp_integration.py tests/test_seed_examples.py tests/test_readme_examples.py
