#!/usr/bin/env bash
# Run the micro benchmarks N times: OUTDIR/run-1.json .. run-N.json (pytest-benchmark JSON),
# OUTDIR/micro-I.json (each run's ratio report). Old run files in OUTDIR are removed first.
# Usage: bench/run.sh [PYTHON] [N] [OUTDIR] [extra pytest args...]
set -euo pipefail
py=${1:-.venv/bin/python}
runs=${2:-1}
out=${3:-bench/results}
shift 3 2>/dev/null || shift $#
cd "$(dirname "$0")/.."
# A short round (~100 us) and many of them: the fastest rounds are the undisturbed ones.
flags=(--benchmark-only --benchmark-min-rounds=10 --benchmark-max-time=0.5
       --benchmark-columns=min,median,rounds)
mkdir -p "$out"
rm -f "$out"/run-*.json "$out"/micro-*.json
for i in $(seq "$runs"); do
  echo "== micro benchmarks, run $i of $runs =="
  "$py" -m pytest bench -q -p no:cacheprovider "${flags[@]}" \
    --benchmark-json="$out/run-$i.json" --bench-report="$out/micro-$i.json" "$@"
done
