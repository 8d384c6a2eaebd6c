#!/usr/bin/env bash
# Install mcpauth-fast (editable, with the compiled extension) and its test extras into the
# interpreter's environment, then prove the extension imports.
set -euo pipefail
py=${1:-.venv/bin/python}
cd "$(dirname "$0")/.."
"$py" -m pip install --quiet -e ".[test,demo]"
"$py" -c "import mcpauth_fast._speedups" \
  || { echo "ci/install.sh: the compiled extension mcpauth_fast._speedups did not build" >&2; exit 1; }
