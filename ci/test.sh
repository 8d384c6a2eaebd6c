#!/usr/bin/env bash
# The whole suite twice: with the compiled extension (which must load), then with the
# pure-Python twin forced by MCPAUTH_FAST_NO_EXTENSIONS=1.
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
